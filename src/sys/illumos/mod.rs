//! illumos: what a zone's init needs. Signals are taken with
//! sigtimedwait as on Linux (libc's, which hides none); orphans in a zone
//! come to the zone's init by themselves (no subreaper); interfaces are
//! set with socket ioctls and routes through a PF_ROUTE socket; the zone
//! halts when its init exits. A machine (mounts, kernel modules, a root
//! switch, power-off) is Linux's: those stages fail with one line.
//!
//! Compiled and linted here (`make lint`), not run: see docs/illumos.md.

pub mod boot;
pub mod caps;
pub mod cgroupfs;
pub mod modules;
pub mod mounts;
pub mod net;
pub mod notify;
pub mod packet;
pub mod power;
pub mod process;
pub mod procfs;
pub mod resident;
pub mod root;
pub mod signals;
pub mod walk;
pub mod watch;

use std::time::SystemTime;

use crate::error::{Error, Stage};

/// Descriptor 2 opened again through /proc as a file of pidone's own,
/// non-blocking: O_NONBLOCK on descriptor 2 itself would reach the
/// command, which shares that open file. None without /proc.
pub fn stderr_own_nonblocking() -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let how = libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: a C string; the result is checked.
    let fd = unsafe { libc::open(c"/proc/self/fd/2".as_ptr(), how) };
    // SAFETY: a descriptor just opened, owned by nobody else.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// The clock file timestamps are taken from.
pub fn coarse_now() -> SystemTime {
    SystemTime::now()
}

/// The kernel log's milestones are a machine's (Linux's): none here.
pub fn kernel_log(_record: &str) {}

/// The error of a feature this OS does not have: one line, exit 125.
pub fn unsupported(stage: Stage, what: &str) -> Error {
    Error::new(stage, format!("{} is not supported on this OS", what))
}

extern "C" {
    // libc's; declared here as the libc crate does not list them.
    pub fn getzoneid() -> libc::c_int;
    pub fn zone_getattr(
        zoneid: libc::c_int,
        attr: libc::c_int,
        buf: *mut libc::c_void,
        size: libc::size_t,
    ) -> libc::ssize_t;
    pub fn sigtimedwait(
        set: *const libc::sigset_t,
        info: *mut libc::siginfo_t,
        timeout: *const libc::timespec,
    ) -> libc::c_int;
}
