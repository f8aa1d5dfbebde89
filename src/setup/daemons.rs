//! Helper daemons (the plan's `helpers`) started before the network and optionally killed after it
//! (`docker:noipmgmtd`: SmartOS's ipmgmtd is the model).
//!
//! A helper is started like the command (same spawn, exec errors reported
//! the same way) in a session of its own, stdin /dev/null, stdout/stderr
//! appended to the log file. One that forks into the background is found
//! through its pidfile, or else as the processes re-parented to pidone.
//! Waiting uses `signals::wait` on SIGCHLD alone, so any other signal sent
//! to pidone meanwhile stays pending for the supervisor.

use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::io::RawFd;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, Result, Stage};
use crate::launch::{cstring, Launch, Stdio};
use crate::plan::{Helper, Helpers, DEFAULT_PATH};
use crate::sys::procfs;
use crate::sys::signals::{self, Inherited};

/// How long a helper with a pidfile gets to write it.
const PIDFILE_WAIT: Duration = Duration::from_secs(5);
/// More than any pid with a newline.
const PIDFILE_MAX: usize = 64;
/// A helper without a pidfile still running after this is taken to run in
/// the foreground; one that exits 0 before it has gone to the background.
const FOREGROUND_WAIT: Duration = Duration::from_secs(1);
/// Between SIGTERM and SIGKILL, and after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(2);
/// Re-check for processes that are not pidone's children (a pidfile may
/// name one): their end sends no SIGCHLD.
const TICK: Duration = Duration::from_millis(20);

/// Start the helpers in order; returns their pids.
pub fn start(helpers: &Helpers, log_file: Option<&Path>) -> Result<Vec<i32>> {
    let mut pids = Vec::new();
    let mut sigchld = false;
    for h in &helpers.daemons {
        let found = start_one(h, log_file, &pids, &mut sigchld);
        match found {
            Ok(new) => pids.extend(new),
            Err(e) => {
                requeue_sigchld(sigchld);
                return Err(e);
            }
        }
    }
    requeue_sigchld(sigchld);
    Ok(pids)
}

fn name(h: &Helper) -> String {
    h.argv
        .first()
        .map_or_else(String::new, |a| a.to_string_lossy().into_owned())
}

fn start_one(
    h: &Helper,
    log_file: Option<&Path>,
    known: &[i32],
    sigchld: &mut bool,
) -> Result<Vec<i32>> {
    let argv = h
        .argv
        .iter()
        .map(|a| cstring(a.clone().into_vec(), Stage::Helpers, "a helper argument"))
        .collect::<Result<Vec<_>>>()?;
    let null = open(b"/dev/null", libc::O_RDWR);
    // The log file as the logger opens it: never through a link, never a
    // FIFO (a refused one was already a warning of the logger's).
    let out = log_file
        .and_then(|p| crate::sys::files::open_append(p, 0o600).ok())
        .map(std::os::fd::IntoRawFd::into_raw_fd)
        .or(null);
    let launch = Launch {
        argv,
        env: CString::new(format!("PATH={}", DEFAULT_PATH))
            .into_iter()
            .collect(),
        path: DEFAULT_PATH.as_bytes().to_vec(),
        cred: None,
        cwd: CString::new("/").ok(),
        stdio: null.zip(out).map(|(n, o)| Stdio {
            stdin: n,
            stdout: o,
            stderr: o,
            controlling_tty: false,
        }),
        new_session: true,
        keep_group: false,
        drop_caps: None,
        close_fds: true,
        no_new_privs: false,
        cgroup: None,
    };
    // Helpers start with every signal unblocked, whatever pidone got.
    let clean = Inherited {
        mask: signals::NONE,
        sigchld_ignored: false,
    };
    // A pidfile older than this start is stale (left by an earlier one).
    let started = crate::sys::coarse_now();
    let spawned = crate::spawn::spawn(&launch, &clean);
    let extra = out.filter(|o| Some(*o) != null);
    for fd in [null, extra].into_iter().flatten() {
        // SAFETY: closing descriptors opened above, each once.
        unsafe {
            libc::close(fd);
        }
    }
    let pid =
        spawned.map_err(|f| Error::new(Stage::Helpers, format!("helper: {}", f.error.message)))?;

    let pids = match &h.pidfile {
        Some(pf) => by_pidfile(pid, pf, started, sigchld).unwrap_or_else(|| {
            log::warn!(
                "stage=helpers: no live pid in {} after {} s; looking for re-parented processes",
                pf.display(),
                PIDFILE_WAIT.as_secs()
            );
            reparented(pid, known)
        }),
        None => match wait_exit(pid, FOREGROUND_WAIT, sigchld) {
            None => vec![pid],
            Some(0) => reparented(pid, known),
            Some(status) => {
                log::warn!(
                    "stage=helpers: helper {} (pid {}) {}",
                    name(h),
                    pid,
                    describe(status)
                );
                Vec::new()
            }
        },
    };
    let list = pids
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    log::info!(
        "helper {} started: pid {}",
        name(h),
        if list.is_empty() { "none left" } else { &list }
    );
    Ok(pids)
}

/// Wait for the pidfile to name a live process; the started process is
/// reaped if it exits meanwhile (it forked and left) and kept if not.
fn by_pidfile(
    pid: i32,
    pidfile: &Path,
    started: SystemTime,
    sigchld: &mut bool,
) -> Option<Vec<i32>> {
    let deadline = Instant::now() + PIDFILE_WAIT;
    let mut direct_alive = true;
    let mut refused = false;
    loop {
        if direct_alive && reap(pid).is_some() {
            direct_alive = false;
        }
        let named = crate::sys::files::read_newer(pidfile, PIDFILE_MAX, started)
            .ok()
            .flatten()
            .and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse::<i32>().ok())
            .filter(|&p| {
                let ok = may_signal(p);
                if !ok && !refused {
                    refused = true;
                    log::warn!(
                        "stage=helpers: {} names pid {}, which pidone never signals; ignored",
                        pidfile.display(),
                        p
                    );
                }
                ok && alive(p)
            });
        if let Some(p) = named {
            let mut pids = vec![p];
            if direct_alive && p != pid {
                pids.push(pid);
            }
            return Some(pids);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        if signals::wait(signals::bit(libc::SIGCHLD), Some(left.min(TICK))).is_some() {
            *sigchld = true;
        }
    }
}

/// Wait up to `limit` for `pid` to exit; its wait status, or None while
/// it still runs.
fn wait_exit(pid: i32, limit: Duration, sigchld: &mut bool) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = reap(pid) {
            return Some(status);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        if signals::wait(signals::bit(libc::SIGCHLD), Some(left)).is_some() {
            *sigchld = true;
        }
    }
}

/// Reap `pid` if it has exited: its wait status.
fn reap(pid: i32) -> Option<i32> {
    let mut status = 0;
    // SAFETY: a valid out-pointer; only this pid is waited for, so no
    // other process's status is taken from the supervisor.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    (r == pid).then_some(status)
}

/// A pid a helper's pidfile may name: never pidone itself, pid 1 (the
/// namespace's init, pidone or its parent's), or an ancestor of pidone.
fn may_signal(pid: i32) -> bool {
    let me = std::process::id() as i32;
    pid > 1 && pid != me && !procfs::ancestors().contains(&pid)
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// pidone's children other than the ones already known: what a helper
/// that went to the background left behind.
fn reparented(started: i32, known: &[i32]) -> Vec<i32> {
    children_of_self()
        .into_iter()
        .filter(|p| *p != started && !known.contains(p))
        .collect()
}

fn children_of_self() -> Vec<i32> {
    procfs::children_of(std::process::id() as i32)
}

fn describe(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        format!("was killed by {}", signals::name(libc::WTERMSIG(status)))
    } else {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    }
}

fn open(path: &[u8], flags: i32) -> Option<RawFd> {
    let p = CString::new(path).ok()?;
    // SAFETY: a valid C string.
    let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOCTTY, 0o600) };
    (fd >= 0).then_some(fd)
}

/// A SIGCHLD taken here may have been for a process the supervisor must
/// reap: make one pending again so its first wait sees it.
fn requeue_sigchld(taken: bool) {
    if taken {
        // SAFETY: a blocked signal to ourselves stays pending (even as
        // PID 1, blocked signals are queued).
        unsafe {
            libc::kill(libc::getpid(), libc::SIGCHLD);
        }
    }
}

/// SIGTERM, wait up to 2 s, SIGKILL, reap. Every process re-parented to
/// pidone by then is a helper's too (the command has not started).
pub fn kill(pids: &mut Vec<i32>) {
    let mut targets = std::mem::take(pids);
    for c in children_of_self() {
        if !targets.contains(&c) {
            targets.push(c);
        }
    }
    targets.retain(|&p| may_signal(p));
    if targets.is_empty() {
        return;
    }
    let mut sigchld = false;
    for &p in &targets {
        // SAFETY: kill with integers.
        unsafe {
            libc::kill(p, libc::SIGTERM);
        }
        log::info!("helper pid {}: SIGTERM", p);
    }
    let left = wait_gone(targets, KILL_WAIT, &mut sigchld);
    for &p in &left {
        // SAFETY: as above.
        unsafe {
            libc::kill(p, libc::SIGKILL);
        }
        log::warn!(
            "helper pid {} still running after {} s: SIGKILL",
            p,
            KILL_WAIT.as_secs()
        );
    }
    for p in wait_gone(left, KILL_WAIT, &mut sigchld) {
        log::warn!("helper pid {} did not go after SIGKILL", p);
    }
    requeue_sigchld(sigchld);
}

/// Wait until every target is gone (reaping pidone's own children);
/// returns those still there when the time is up.
fn wait_gone(mut targets: Vec<i32>, limit: Duration, sigchld: &mut bool) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    loop {
        targets.retain(|&p| match reap(p) {
            Some(status) => {
                log::info!("helper pid {} {}", p, describe(status));
                false
            }
            None => alive(p) && !is_zombie_of_other(p),
        });
        let left = deadline.saturating_duration_since(Instant::now());
        if targets.is_empty() || left.is_zero() {
            return targets;
        }
        if signals::wait(signals::bit(libc::SIGCHLD), Some(left.min(TICK))).is_some() {
            *sigchld = true;
        }
    }
}

/// A process that is not pidone's child and already a zombie is gone as
/// far as pidone can tell (its own parent reaps it).
fn is_zombie_of_other(pid: i32) -> bool {
    procfs::is_zombie(pid)
}
