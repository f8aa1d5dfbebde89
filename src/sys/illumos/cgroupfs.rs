//! illumos has no cgroups: nothing is found, nothing is watched (zones
//! have their own resource controls, outside pidone's reach).

use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::path::Path;

/// Paths that do not exist here: the look finds nothing.
pub const SELF_CGROUP: &CStr = c"/nonexistent/cgroup";
pub const SELF_MOUNTINFO: &CStr = c"/nonexistent/mountinfo";

pub fn watch_changes(_file: &Path) -> Option<OwnedFd> {
    None
}

pub fn oom_eventfd(_oom_control: &Path, _event_control: &Path) -> Option<OwnedFd> {
    None
}
