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
pub mod packet;
pub mod power;
pub mod process;
pub mod procfs;
pub mod resident;
pub mod root;
pub mod signals;
pub mod walk;

use std::io::Write;
use std::time::{Duration, SystemTime};

/// One record for the kernel log (`<6>text`: info level, in `dmesg`).
pub fn kernel_log(record: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        let _ = f.write_all(record.as_bytes());
    }
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
