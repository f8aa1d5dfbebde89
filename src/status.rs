//! The exit record: after every run, a small JSON file rewritten atomically
//! (like a zone's `lastexited`), for whoever watches from outside.

use std::path::Path;
use std::time::SystemTime;

use crate::log::timestamp;
use crate::sys::files;
use crate::sys::signals;

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, or 128+N for death by signal N.
    pub code: i32,
    pub signal: Option<i32>,
}

impl Exit {
    pub fn from_status(status: i32) -> Exit {
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            Exit {
                code: 128 + sig,
                signal: Some(sig),
            }
        } else {
            Exit {
                code: libc::WEXITSTATUS(status),
                signal: None,
            }
        }
    }

    pub fn describe(&self) -> String {
        match self.signal {
            Some(s) => format!("was killed by {} (status {})", signals::name(s), self.code),
            None => format!("exited with status {}", self.code),
        }
    }
}

/// OOM kills in the container's cgroup during one run (see cgroup.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Oom {
    /// Processes the OOM killer killed, the command included.
    pub kills: u64,
    /// The command was one of them.
    pub command: bool,
}

pub fn record(
    path: &Path,
    exit: &Exit,
    started: SystemTime,
    ended: SystemTime,
    restarts: u32,
    oom: Oom,
) {
    let doc = serde_json::json!({
        "exit_code": exit.code,
        "signal": exit.signal,
        "started": timestamp(started),
        "ended": timestamp(ended),
        "restarts": restarts,
        "oom_kills": oom.kills,
        "oom_killed": oom.command,
        // Lines pidone could not write to its stderr at the time (the
        // terminal or pipe was stopped or full): see log.rs.
        "log_lines_dropped": crate::log::dropped(),
    });
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The log directory may be disabled or elsewhere.
        let _ = files::create_dirs(dir, None);
    }
    if let Err(e) = files::write_atomically(path, format!("{}\n", doc).as_bytes(), 0o666) {
        log::warn!("cannot write {}: {}", path.display(), e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses() {
        assert_eq!(
            Exit::from_status(3 << 8),
            Exit {
                code: 3,
                signal: None
            }
        );
        assert_eq!(
            Exit::from_status(15),
            Exit {
                code: 143,
                signal: Some(15)
            }
        );
    }
}
