//! The end of a machine. When PID 1 of a machine exits the kernel panics,
//! so pidone ends the machine itself: sync, make writable file systems
//! read-only, say the exit status on the console, then power off, reboot
//! or halt. It never returns, also after a fatal error, so bad input gives
//! a clean power-off with status 125 rather than a kernel panic.

use std::io::Write;

use super::procfs;
use crate::plan::PowerAction;

/// The last line on the console.
pub fn status_line(code: i32) -> String {
    format!("pidone: exit status {}\n", code)
}

fn say(text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    // The console itself, so the line shows even if stderr went elsewhere;
    // non-blocking, as every write of pidone's (see log.rs): a console
    // whose output a process stopped must not keep the machine from
    // ending. A slow serial console gets a bounded wait: this is the
    // machine's last line and nothing else is left to do.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open("/dev/console")
        .ok()
        // Else stderr, opened again non-blocking.
        .or_else(|| super::stderr_own_nonblocking().map(std::fs::File::from));
    if let Some(f) = file {
        write_within(f, text.as_bytes(), std::time::Duration::from_secs(2));
    }
}

/// Write `buf` to a non-blocking file, waiting for room at most `limit`.
fn write_within(mut f: std::fs::File, mut buf: &[u8], limit: std::time::Duration) {
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + limit;
    while !buf.is_empty() {
        match f.write(buf) {
            Ok(0) => return,
            Ok(n) => buf = buf.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return;
                }
                let mut p = libc::pollfd {
                    fd: f.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut p, 1, left.as_millis().min(2000) as libc::c_int) };
            }
            Err(_) => return,
        }
    }
}

/// Sync, remount read-only, print the status, then end the machine.
pub fn end(code: i32, power: PowerAction) -> ! {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    if let Some(mounts) = procfs::mounts() {
        for target in procfs::writable_mounts(&mounts) {
            let r = nix::mount::mount(
                None::<&str>,
                target.as_str(),
                None::<&str>,
                nix::mount::MsFlags::MS_REMOUNT | nix::mount::MsFlags::MS_RDONLY,
                None::<&str>,
            );
            match r {
                Ok(()) => log::info!("remounted {} read-only", target),
                Err(e) => log::warn!("cannot remount {} read-only: {}", target, e),
            }
        }
    }
    say(&status_line(code));
    let (cmd, what) = match power {
        PowerAction::PowerOff => (libc::RB_POWER_OFF, "power off"),
        PowerAction::Reboot => (libc::RB_AUTOBOOT, "reboot"),
        PowerAction::Halt => (libc::RB_HALT_SYSTEM, "halt"),
    };
    // SAFETY: reboot with a valid command; it returns only on failure.
    unsafe { libc::reboot(cmd) };
    say(&format!(
        "pidone: cannot {}: {}\n",
        what,
        std::io::Error::last_os_error()
    ));
    // Never return from PID 1: exiting would panic the kernel.
    loop {
        // SAFETY: pause has no preconditions.
        unsafe { libc::pause() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status() {
        assert_eq!(status_line(125), "pidone: exit status 125\n");
    }
}
