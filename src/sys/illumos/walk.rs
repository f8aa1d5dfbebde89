//! The path walk's help on illumos: directories are opened for search
//! only (O_SEARCH); there is no openat2, so the walk does every step.

use std::ffi::CStr;
use std::io;
use std::os::fd::{OwnedFd, RawFd};

/// Directories are opened only to walk through them.
pub const O_PATH: libc::c_int = libc::O_SEARCH;

/// No one-call link-refusing open here: the caller walks the path.
pub fn open_beneath(
    _dir: RawFd,
    _rel: &CStr,
    _flags: libc::c_int,
    _mode: u32,
) -> Option<io::Result<OwnedFd>> {
    None
}
