//! inotify, for `--on-change` (watch.rs holds the logic): a descriptor,
//! watches on a directory's entries or on a file itself, the event bits
//! the logic reads.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An entry of the directory created, removed, renamed, written, or with
/// changed attributes.
const DIR_MASK: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_CLOSE_WRITE
    | libc::IN_MODIFY
    | libc::IN_ATTRIB;
/// The file itself written or changed.
const SELF_MASK: u32 = libc::IN_CLOSE_WRITE | libc::IN_MODIFY | libc::IN_ATTRIB;

/// Events were lost: everything may have changed.
pub const OVERFLOW: u32 = libc::IN_Q_OVERFLOW;
/// A watch went (its file is gone).
pub const IGNORED: u32 = libc::IN_IGNORED;

/// A non-blocking, close-on-exec inotify descriptor.
pub fn open() -> std::io::Result<OwnedFd> {
    // SAFETY: plain flags.
    let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor just made, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Watch `path` (links followed): a directory's entries when `entries`,
/// else the file itself. The watch descriptor.
pub fn add(fd: RawFd, path: &Path, entries: bool) -> Option<i32> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mask = if entries { DIR_MASK } else { SELF_MASK };
    // SAFETY: a valid descriptor and C string.
    let wd = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), mask) };
    (wd >= 0).then_some(wd)
}
