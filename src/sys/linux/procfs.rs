//! Readers of /proc for the supervisor, the daemon stage and the
//! machine's end: the process table from `/proc/N/stat`, and the
//! writable mounts from /proc/mounts. The text parsers here are pure.

/// The fields of a `/proc/N/stat` line after the command name. The name
/// is whatever the process made it (any bytes but NUL, up to 15: spaces,
/// parentheses, invalid UTF-8), so the text is bytes and the fields start
/// after the last `)`.
fn after_name(stat: &[u8]) -> Option<&[u8]> {
    let close = stat.iter().rposition(|&c| c == b')')?;
    stat.get(close + 1..)
}

/// The `n`th field after the name (0: the state).
fn field(stat: &[u8], n: usize) -> Option<&[u8]> {
    after_name(stat)?
        .split(|c| c.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .nth(n)
}

/// The parent pid from `/proc/N/stat`.
pub fn parent_of(stat: &[u8]) -> Option<i32> {
    std::str::from_utf8(field(stat, 1)?).ok()?.parse().ok()
}

/// The state letter (`R`, `S`, `Z`, ...) from `/proc/N/stat`.
pub fn state_of(stat: &[u8]) -> Option<char> {
    field(stat, 0)?.first().map(|&c| c as char)
}

fn stat(pid: i32) -> Option<Vec<u8>> {
    // Bounded and non-blocking: without procfs mounted, /proc is the
    // image's own directory.
    let path = format!("/proc/{}/stat", pid);
    crate::sys::files::read_bounded(std::path::Path::new(&path), 4096).ok()
}

/// pidone's ancestors, parent first (none for a PID 1).
pub fn ancestors() -> Vec<i32> {
    let mut out = Vec::new();
    // SAFETY: getppid has no preconditions.
    let mut p = unsafe { libc::getppid() };
    // Bounded: a pid namespace nests at most 32 deep, but the chain
    // within one is not; 4096 is far past any real one.
    while p > 0 && out.len() < 4096 && !out.contains(&p) {
        out.push(p);
        match stat(p).and_then(|s| parent_of(&s)) {
            Some(pp) => p = pp,
            None => break,
        }
    }
    out
}

pub use crate::sys::Proc;

/// The table entry of `pid` from its stat text. A line that makes no
/// sense still names a process: it is kept (parent 0, state `?`), since
/// a pid left out is one the shutdown never signals.
fn entry(pid: i32, stat: Option<&[u8]>) -> Proc {
    Proc {
        pid,
        ppid: stat.and_then(parent_of).unwrap_or(0),
        state: stat.and_then(state_of).unwrap_or('?'),
    }
}

/// Every process with its parent and state. One that ended between the
/// directory listing and the read of its stat is left out; one whose
/// stat could not be parsed is not.
pub fn table() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let name = e.ok()?.file_name();
        let pid: i32 = std::str::from_utf8(name.as_encoded_bytes())
            .ok()?
            .parse()
            .ok()?;
        match stat(pid) {
            Some(text) => Some(entry(pid, Some(&text))),
            // Gone since the listing (or unreadable: kept, to be safe).
            None => std::path::Path::new(&format!("/proc/{}", pid))
                .exists()
                .then(|| entry(pid, None)),
        }
    })
    .collect()
}

/// Every process with its parent: (pid, ppid).
pub fn parents() -> Vec<(i32, i32)> {
    table().into_iter().map(|p| (p.pid, p.ppid)).collect()
}

/// The children of `parent`.
pub fn children_of(parent: i32) -> Vec<i32> {
    parents()
        .into_iter()
        .filter_map(|(pid, ppid)| (ppid == parent).then_some(pid))
        .collect()
}

/// Whether this /proc is the one of pidone's own pid namespace: another's
/// numbers would name other processes here.
pub fn is_own() -> bool {
    std::fs::read_link("/proc/self")
        .ok()
        .is_some_and(|p| p.to_str() == Some(&std::process::id().to_string()))
}

/// A zombie: exited, not yet reaped by its parent.
pub fn is_zombie(pid: i32) -> bool {
    stat(pid).is_some_and(|s| state_of(&s) == Some('Z'))
}

/// Stopped by a signal (`T`; `t` is stopped by a tracer).
pub fn is_stopped(pid: i32) -> bool {
    stat(pid).is_some_and(|s| matches!(state_of(&s), Some('T') | Some('t')))
}

/// The mount table.
pub fn mounts() -> Option<String> {
    let b = crate::sys::files::read_bounded(std::path::Path::new("/proc/mounts"), 16 << 20).ok()?;
    String::from_utf8(b).ok()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_from_stat_with_odd_names() {
        assert_eq!(parent_of(b"12 (a b) c) S 7 12 12 0"), Some(7));
        assert_eq!(parent_of(b"12 (x) R 1 1"), Some(1));
        assert_eq!(parent_of(b"garbage"), None);
        // Not UTF-8, with a `)` and spaces: a name is any bytes.
        assert_eq!(parent_of(b"40 (\xff) \xfe S 1 (x) T 9) S 3 40 40"), Some(3));
        assert_eq!(parent_of(b"41 (\n\t)) R  5 41"), Some(5));
    }

    #[test]
    fn a_stat_line_that_makes_no_sense_still_names_its_pid() {
        assert_eq!(
            entry(7, Some(b"7 (\xff\xfe")),
            Proc {
                pid: 7,
                ppid: 0,
                state: '?'
            }
        );
        assert_eq!(entry(8, Some(b"8 (\xff) T 3")).state, 'T');
        assert_eq!(entry(9, None).state, '?');
    }

    #[test]
    fn state_from_stat() {
        assert_eq!(state_of(b"12 (a) b) Z 7"), Some('Z'));
        assert_eq!(state_of(b"12 (x) T 1 1"), Some('T'));
        assert_eq!(state_of(b"12 (\xc3) t 1 1"), Some('t'));
        assert_eq!(state_of(b"garbage"), None);
    }

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
}
