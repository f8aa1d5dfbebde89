//! The path walk's help from Linux: O_PATH descriptors for directories,
//! and openat2(2), which refuses links in one call.

use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};

/// Directories are opened only to walk through them.
pub const O_PATH: libc::c_int = libc::O_PATH;

/// Whether `openat2` works here: 0 unknown, 1 yes, 2 no (old kernel, or a
/// seccomp profile that refuses it).
static OPENAT2: AtomicU8 = AtomicU8::new(0);

/// `struct open_how` of openat2(2) (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Open `rel` beneath `dir` refusing every link on the way (Linux 5.6);
/// None when the kernel or its seccomp filter does not offer it, and the
/// caller walks the path itself.
pub fn open_beneath(
    dir: RawFd,
    rel: &CStr,
    flags: libc::c_int,
    mode: u32,
) -> Option<io::Result<OwnedFd>> {
    if OPENAT2.load(Ordering::Relaxed) == 2 {
        return None;
    }
    let how = OpenHow {
        flags: flags as u64,
        mode: u64::from(mode),
        resolve: libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_BENEATH,
    };
    // SAFETY: a valid C string and a valid open_how of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            rel.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        // ENOSYS: before Linux 5.6; EPERM: seccomp profiles that predate
        // it. Either way the walk below does the same job.
        if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM))
            && OPENAT2.load(Ordering::Relaxed) != 1
        {
            OPENAT2.store(2, Ordering::Relaxed);
            return None;
        }
        return Some(Err(e));
    }
    OPENAT2.store(1, Ordering::Relaxed);
    // SAFETY: a fresh descriptor nobody else owns.
    Some(Ok(unsafe { OwnedFd::from_raw_fd(r as libc::c_int) }))
}
