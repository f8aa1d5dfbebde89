//! cgroups' Linux side: where pidone's membership and the mount table are
//! read, and the two descriptors that watch an OOM-kill count (inotify on
//! v2's `memory.events`, v1's eventfd through `cgroup.event_control`).
//! The parsing and the rest are above the seam (src/cgroup.rs).

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// pidone's cgroups, and the mount table.
pub const SELF_CGROUP: &CStr = c"/proc/self/cgroup";
pub const SELF_MOUNTINFO: &CStr = c"/proc/self/mountinfo";

fn cpath(p: &Path) -> Option<std::ffi::CString> {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok()
}

/// An inotify descriptor reporting each change of `file` (kernfs sends
/// a modify event for every new value of a cgroup v2 file).
pub fn watch_changes(file: &Path) -> Option<OwnedFd> {
    let c = cpath(file)?;
    // SAFETY: plain syscalls; the descriptor is owned at once.
    unsafe {
        let fd = libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK);
        if fd < 0 {
            return None;
        }
        let fd = OwnedFd::from_raw_fd(fd);
        (libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) >= 0).then_some(fd)
    }
}

/// cgroup v1: an eventfd the kernel signals on each OOM of the cgroup,
/// registered by writing `<eventfd> <fd of memory.oom_control>` to
/// `cgroup.event_control` (None when that write is refused: read-only).
pub fn oom_eventfd(oom_control: &Path, event_control: &Path) -> Option<OwnedFd> {
    let c = cpath(oom_control)?;
    // SAFETY: plain syscalls; both descriptors are owned at once.
    let (efd, ofd) = unsafe {
        let e = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
        if e < 0 {
            return None;
        }
        let efd = OwnedFd::from_raw_fd(e);
        let o = libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        );
        if o < 0 {
            return None;
        }
        (efd, OwnedFd::from_raw_fd(o))
    };
    let line = format!("{} {}", efd.as_raw_fd(), ofd.as_raw_fd());
    crate::sys::files::write_existing(event_control, line.as_bytes()).ok()?;
    Some(efd)
}
