//! Linux: raw system calls where libc hides what pidone needs (signals
//! 32-34, the kernel sigaction), rtnetlink, procfs, capabilities, and a
//! machine's mounts, modules, root switch and power-off.

pub mod boot;
pub mod caps;
pub mod cgroupfs;
pub mod modules;
pub mod mounts;
pub mod net;
pub mod netlink;
pub mod notify;
pub mod packet;
pub mod power;
pub mod process;
pub mod procfs;
pub mod raw;
pub mod resident;
pub mod root;
pub mod signals;
pub mod walk;
pub mod watch;

use std::io::Write;
use std::time::{Duration, SystemTime};

/// One record for the kernel log (`<6>text`: info level, in `dmesg`).
pub fn kernel_log(record: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        let _ = f.write_all(record.as_bytes());
    }
}

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

/// The clock file timestamps are taken from (the coarse one): a file
/// written after this has an mtime not before it.
pub fn coarse_now() -> SystemTime {
    // SAFETY: a zeroed timespec is a valid out-buffer.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } != 0 {
        return SystemTime::now();
    }
    std::time::UNIX_EPOCH
        + Duration::new(
            u64::try_from(ts.tv_sec).unwrap_or(0),
            u32::try_from(ts.tv_nsec).unwrap_or(0),
        )
}
