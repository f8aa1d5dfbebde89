//! `--on-change PATH:SIG`: inotify watches whose changes send SIG to the
//! command, once per burst. The descriptor joins the supervisor's one
//! wait, so nothing wakes pidone while nothing changes.
//!
//! A directory is watched itself: any entry created, removed, renamed,
//! written or re-attributed is a change. Entries named `..something`
//! other than `..data` are Kubernetes' staging (the timestamped directory
//! and `..data_tmp` of a ConfigMap or Secret update) and do not count;
//! the atomic rename of the `..data` link does, so an update is one
//! change. A file is watched through its directory (an editor's or
//! Kubernetes' rename over it is seen; events for its name and for
//! `..data` count) and itself, through links, for writes in place; that
//! watch is set again after each change, since a rename leaves it on the
//! old file.
//!
//! Debounce: a change is signalled `QUIET` after the last event of a
//! burst, or `MAX_WAIT` after its first if events keep coming.

#[cfg(test)]
use std::ffi::OsStr;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::plan::OnChange;
use crate::sys::watch as inotify;

const QUIET: Duration = Duration::from_millis(200);
const MAX_WAIT: Duration = Duration::from_secs(2);

struct Rule {
    path: PathBuf,
    signal: i32,
    /// The watch on the directory: the path itself, or a file's parent.
    dir: i32,
    /// A file's name in `dir`; None when the path is a directory.
    name: Option<OsString>,
    /// The watch on the file itself (links followed).
    own: Option<i32>,
    /// The burst being debounced: its first and last event.
    burst: Option<(Instant, Instant)>,
}

pub struct Watcher {
    fd: OwnedFd,
    rules: Vec<Rule>,
}

impl Watcher {
    /// The watches for `rules`; None when there are none (or inotify is
    /// refused: a warning, the command still runs).
    pub fn open(rules: &[OnChange]) -> Option<Watcher> {
        if rules.is_empty() {
            return None;
        }
        let fd = match inotify::open() {
            Ok(fd) => fd,
            Err(e) => {
                log::warn!("on-change: inotify refused ({}); nothing is watched", e);
                return None;
            }
        };
        let mut w = Watcher {
            fd,
            rules: Vec::new(),
        };
        for r in rules {
            match w.watch(r) {
                Some(rule) => {
                    log::info!(
                        "on-change: watching {} ({} on a change)",
                        r.path.display(),
                        crate::sys::signals::name(r.signal)
                    );
                    w.rules.push(rule);
                }
                None => log::warn!(
                    "on-change: cannot watch {} ({}); skipped",
                    r.path.display(),
                    std::io::Error::last_os_error()
                ),
            }
        }
        Some(w)
    }

    fn watch(&self, r: &OnChange) -> Option<Rule> {
        let fd = self.fd.as_raw_fd();
        let is_dir = std::fs::metadata(&r.path).is_ok_and(|m| m.is_dir());
        let (dir, name) = if is_dir {
            (r.path.clone(), None)
        } else {
            (
                r.path.parent()?.to_path_buf(),
                Some(r.path.file_name()?.to_os_string()),
            )
        };
        Some(Rule {
            path: r.path.clone(),
            signal: r.signal,
            dir: inotify::add(fd, &dir, true)?,
            own: name.as_ref().and_then(|_| inotify::add(fd, &r.path, false)),
            name,
            burst: None,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Take every queued event (the descriptor is readable).
    pub fn read(&mut self, now: Instant) {
        // Aligned for the event headers.
        let mut buf = [0u64; 512];
        loop {
            // SAFETY: reading into a buffer of the given size.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    std::mem::size_of_val(&buf),
                )
            };
            if n <= 0 {
                return;
            }
            // SAFETY: the kernel wrote n bytes into buf.
            let bytes =
                unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
            for (wd, mask, name) in events(bytes) {
                self.event(wd, mask, name, now);
            }
        }
    }

    fn event(&mut self, wd: i32, mask: u32, name: &[u8], now: Instant) {
        let overflow = mask & inotify::OVERFLOW != 0;
        for r in &mut self.rules {
            if mask & inotify::IGNORED != 0 && r.own == Some(wd) {
                r.own = None;
            }
            if !overflow && !counts(r, wd, mask, name) {
                continue;
            }
            r.burst = Some(match r.burst {
                Some((first, _)) => (first, now),
                None => {
                    log::debug!("on-change: {} changed", r.path.display());
                    (now, now)
                }
            });
        }
    }

    /// The signals whose burst is over, each once; the own watches of
    /// those files set again.
    pub fn due(&mut self, now: Instant) -> Vec<i32> {
        let fd = self.fd.as_raw_fd();
        let mut out = Vec::new();
        for r in &mut self.rules {
            let Some((first, last)) = r.burst else {
                continue;
            };
            if last + QUIET > now && first + MAX_WAIT > now {
                continue;
            }
            r.burst = None;
            if r.name.is_some() {
                r.own = inotify::add(fd, &r.path, false);
            }
            log::info!(
                "on-change: {} changed; sending {}",
                r.path.display(),
                crate::sys::signals::name(r.signal)
            );
            if !out.contains(&r.signal) {
                out.push(r.signal);
            }
        }
        out
    }

    pub fn next(&self) -> Option<Instant> {
        self.rules
            .iter()
            .filter_map(|r| r.burst)
            .map(|(first, last)| (last + QUIET).min(first + MAX_WAIT))
            .min()
    }
}

/// Whether an event is a change of `r`'s path.
fn counts(r: &Rule, wd: i32, mask: u32, name: &[u8]) -> bool {
    if mask & inotify::IGNORED != 0 {
        return false;
    }
    if r.own == Some(wd) {
        return true;
    }
    if r.dir != wd {
        return false;
    }
    match &r.name {
        Some(n) => name == n.as_bytes() || name == b"..data",
        None => !name.starts_with(b"..") || name == b"..data",
    }
}

/// `events` and the rule test on arbitrary bytes, for the fuzz target
/// (lib.rs's; the binary has no use for it).
#[allow(dead_code)]
pub fn fuzz_events(data: &[u8]) {
    let r = Rule {
        path: "/x/y".into(),
        signal: 1,
        dir: 1,
        name: Some("y".into()),
        own: Some(2),
        burst: None,
    };
    for (wd, mask, name) in events(data) {
        let _ = counts(&r, wd, mask, name);
    }
}

/// The events in what one read returned: (wd, mask, name without its
/// NUL padding).
fn events(mut b: &[u8]) -> Vec<(i32, u32, &[u8])> {
    let mut out = Vec::new();
    let word = |b: &[u8], at: usize| -> Option<[u8; 4]> { b.get(at..at + 4)?.try_into().ok() };
    while let (Some(wd), Some(mask), Some(len)) = (word(b, 0), word(b, 4), word(b, 12)) {
        let len = u32::from_ne_bytes(len) as usize;
        let Some(name) = b.get(16..16 + len) else {
            break;
        };
        let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        out.push((
            i32::from_ne_bytes(wd),
            u32::from_ne_bytes(mask),
            name.get(..end).unwrap_or_default(),
        ));
        b = b.get(16 + len..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    // inotify's event bits, as the kernel numbers them.
    const IN_CREATE: u32 = 0x100;
    const IN_MOVED_TO: u32 = 0x80;
    const IN_MODIFY: u32 = 0x2;
    const IN_IGNORED: u32 = 0x8000;

    fn shown(name: &[u8]) -> std::borrow::Cow<'_, str> {
        OsStr::from_bytes(name).to_string_lossy()
    }

    fn event(wd: i32, mask: u32, name: &str) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&wd.to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        let padded = if name.is_empty() {
            0
        } else {
            (name.len() + 16) & !15
        };
        v.extend_from_slice(&(padded as u32).to_ne_bytes());
        let mut n = name.as_bytes().to_vec();
        n.resize(padded, 0);
        v.extend_from_slice(&n);
        v
    }

    #[test]
    fn decodes_events_and_filters_kubernetes_staging() {
        let mut b = event(1, IN_CREATE, "..2026_12_02_14_00_00.1");
        b.extend(event(1, IN_MOVED_TO, "..data"));
        b.extend(event(2, IN_MODIFY, ""));
        b.extend(&[1, 2, 3]);
        let ev = events(&b);
        assert_eq!(ev.len(), 3);
        assert_eq!(shown(ev[0].2), "..2026_12_02_14_00_00.1");
        let dir = Rule {
            path: "/etc/config".into(),
            signal: 1,
            dir: 1,
            name: None,
            own: None,
            burst: None,
        };
        let count: Vec<bool> = ev.iter().map(|e| counts(&dir, e.0, e.1, e.2)).collect();
        assert_eq!(count, [false, true, false]);
        let file = Rule {
            name: Some("app.conf".into()),
            own: Some(2),
            ..dir
        };
        assert!(counts(&file, 1, IN_MOVED_TO, b"app.conf"));
        assert!(counts(&file, 1, IN_MOVED_TO, b"..data"));
        assert!(!counts(&file, 1, IN_CREATE, b"other"));
        assert!(counts(&file, 2, IN_MODIFY, b""));
        assert!(!counts(&file, 2, IN_IGNORED, b""));
    }
}
