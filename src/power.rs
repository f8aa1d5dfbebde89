//! The end of a machine. When PID 1 of a machine exits the kernel panics,
//! so pidone ends the machine itself: sync, make writable file systems
//! read-only, say the exit status on the console, then power off, reboot
//! or halt. It never returns, also after a fatal error, so bad input gives
//! a clean power-off with status 125 rather than a kernel panic.

use std::io::Write;

use crate::plan::PowerAction;

/// File systems with nothing to lose at power-off (memory-backed or
/// virtual); every other writable mount is remounted read-only.
const VOLATILE: &[&str] = &[
    "rootfs",
    "ramfs",
    "tmpfs",
    "devtmpfs",
    "proc",
    "sysfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "mqueue",
    "securityfs",
    "debugfs",
    "tracefs",
    "pstore",
    "bpf",
    "configfs",
    "hugetlbfs",
    "efivarfs",
    "fusectl",
    "binfmt_misc",
    "autofs",
];

/// Mount points of writable, non-volatile file systems in `/proc/mounts`
/// text, innermost (last mounted) first.
pub fn writable_mounts(mounts: &str) -> Vec<String> {
    let mut out: Vec<String> = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, target, fstype, opts) = (f.next()?, f.next()?, f.next()?, f.next()?);
            let rw = opts.split(',').any(|o| o == "rw");
            (rw && !VOLATILE.contains(&fstype)).then(|| unescape(target))
        })
        .collect();
    out.reverse();
    out
}

/// /proc/mounts writes blanks and backslashes in octal (`\040`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| matches!(d, [b'0'..=b'3', b'0'..=b'7', b'0'..=b'7']));
        match (c, octal) {
            (b'\\', Some(&[x, y, z])) => {
                out.push((x - b'0') * 64 + (y - b'0') * 8 + (z - b'0'));
                i += 4;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The last line on the console.
pub fn status_line(code: i32) -> String {
    format!("pidone: exit status {}\n", code)
}

fn say(text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    // The console itself, so the line shows even if stderr went elsewhere.
    match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/console")
    {
        Ok(mut f) => {
            let _ = f.write_all(text.as_bytes());
        }
        Err(_) => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}

/// Sync, remount read-only, print the status, then end the machine.
pub fn end(code: i32, power: PowerAction) -> ! {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    if let Some(mounts) = crate::procfs::mounts() {
        for target in writable_mounts(&mounts) {
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
    fn writable_real_file_systems_innermost_first() {
        let m = "rootfs / rootfs rw 0 0\n\
                 proc /proc proc rw,nosuid 0 0\n\
                 /dev/vda / ext4 rw,relatime 0 0\n\
                 /dev/vdb /data\\040disk xfs rw 0 0\n\
                 /dev/vdc /ro ext4 ro 0 0\n\
                 tmpfs /tmp tmpfs rw 0 0\n\
                 broken\n";
        assert_eq!(writable_mounts(m), vec!["/data disk", "/"]);
    }

    #[test]
    fn unescape_is_safe() {
        assert_eq!(unescape("a\\040b"), "a b");
        assert_eq!(unescape("a\\04"), "a\\04");
        assert_eq!(unescape("\\"), "\\");
        assert_eq!(unescape("\\999x"), "\\999x");
    }

    #[test]
    fn status() {
        assert_eq!(status_line(125), "pidone: exit status 125\n");
    }
}
