//! `--on-change` needs inotify, which pidone uses on Linux only: here the
//! descriptor is refused, which is one warning (nothing is watched).

use std::os::fd::{OwnedFd, RawFd};
use std::path::Path;

pub const OVERFLOW: u32 = 0x4000;
pub const IGNORED: u32 = 0x8000;

pub fn open() -> std::io::Result<OwnedFd> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "not supported on this OS",
    ))
}

pub fn add(_fd: RawFd, _path: &Path, _entries: bool) -> Option<i32> {
    None
}
