//! The supervisor: one loop, in the manner of tini and catatonit. Every
//! signal is blocked; pidone sleeps in one `sigtimedwait` with no timeout
//! (no idle wake-ups), forwards what it is sent, and on SIGCHLD reaps until
//! `waitpid` says nothing more has exited, so coalesced SIGCHLDs never lose
//! the command's status.
//!
//! When the command ends, the rest of the processes get SIGTERM, a grace
//! period while pidone reaps them, then SIGKILL; not PID 1 and called as
//! dumb-init, pidone ends as dumb-init does instead (`End::DumbInit`).

use std::time::{Duration, Instant, SystemTime};

use crate::plan::{End, Plan, Restart, Target};
use crate::setup::Launch;
use crate::signals::{self, Inherited, ALL};
use crate::spawn;
use crate::status;

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, or 128+N for death by signal N.
    pub code: i32,
    pub signal: Option<i32>,
}

impl Exit {
    fn from_status(status: i32) -> Exit {
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

    fn describe(&self) -> String {
        match self.signal {
            Some(s) => format!("was killed by {} (status {})", signals::name(s), self.code),
            None => format!("exited with status {}", self.code),
        }
    }
}

const FIRST_RESTART_DELAY: Duration = Duration::from_millis(100);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);
/// A run that lasted longer than this resets the restart delay.
const STABLE_RUN: Duration = Duration::from_secs(10);
/// How long pidone waits for SIGKILLed processes to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(2);

struct Supervisor<'a> {
    plan: &'a Plan,
    launch: &'a Launch,
    inherited: &'a Inherited,
    pid1: bool,
    /// The command being supervised, while it runs.
    child: Option<i32>,
    /// The last command started, also once it has ended: its process group
    /// is what dumb-init signals at the end.
    last_child: Option<i32>,
    /// SIGTERM or SIGINT came: no more restarts.
    stopping: bool,
}

/// Run the command (with its restart policy) and shut the rest down.
/// Returns pidone's exit code.
pub fn run(plan: &Plan, launch: &Launch, inherited: &Inherited) -> i32 {
    let mut s = Supervisor {
        plan,
        launch,
        inherited,
        pid1: std::process::id() == 1,
        child: None,
        last_child: None,
        stopping: false,
    };
    let code = if plan.pause {
        s.pause()
    } else {
        s.run_with_restarts()
    };
    s.shutdown_rest();
    code
}

fn should_restart(policy: Restart, exit: &Exit, restarts: u32) -> bool {
    match policy {
        Restart::No => false,
        Restart::Always => true,
        Restart::OnFailure { max } => exit.code != 0 && max.is_none_or(|m| restarts < m),
    }
}

impl Supervisor<'_> {
    fn run_with_restarts(&mut self) -> i32 {
        let mut restarts = 0u32;
        let mut delay = FIRST_RESTART_DELAY;
        loop {
            let started = SystemTime::now();
            let clock = Instant::now();
            let exit = self.run_once();
            let code = if self.plan.remap_exit.contains(&exit.code) {
                0
            } else {
                exit.code
            };
            if let Some(path) = &self.plan.status_file {
                status::record(path, &exit, started, SystemTime::now(), restarts);
            }
            if self.stopping || !should_restart(self.plan.restart, &exit, restarts) {
                return code;
            }
            if clock.elapsed() > STABLE_RUN {
                delay = FIRST_RESTART_DELAY;
            }
            restarts += 1;
            log::info!("restart {} in {} ms", restarts, delay.as_millis());
            if !self.sleep(delay) {
                return code;
            }
            delay = (delay * 2).min(MAX_RESTART_DELAY);
        }
    }

    /// Start the command once and wait for it, forwarding signals.
    fn run_once(&mut self) -> Exit {
        let pid = match spawn::spawn(self.launch, self.inherited) {
            Ok(pid) => pid,
            Err(f) => {
                log::error!("{}", f.error);
                return Exit {
                    code: f.error.code,
                    signal: None,
                };
            }
        };
        self.child = Some(pid);
        self.last_child = Some(pid);
        // Keep no directory busy (the child keeps the cwd it was given).
        let _ = std::env::set_current_dir("/");
        log::info!("started pid {}", pid);
        loop {
            let Some(info) = signals::wait(ALL, None) else {
                continue;
            };
            if info.si_signo == libc::SIGCHLD {
                if let (Some(exit), _) = self.reap() {
                    self.child = None;
                    log::info!("pid {} {}", pid, exit.describe());
                    return exit;
                }
            } else if !signals::self_inflicted(&info) {
                self.forward(info.si_signo);
            }
        }
    }

    /// `-P`: nothing to run; reap until told to stop.
    fn pause(&mut self) -> i32 {
        loop {
            match signals::wait(ALL, None).map(|i| i.si_signo) {
                Some(libc::SIGCHLD) => {
                    self.reap();
                }
                Some(libc::SIGTERM) | Some(libc::SIGINT) => return 0,
                _ => {}
            }
        }
    }

    /// Wait out a restart delay; false when told to stop meanwhile.
    fn sleep(&mut self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            match signals::wait(ALL, Some(left)).map(|i| i.si_signo) {
                None => return true,
                Some(libc::SIGCHLD) => {
                    self.reap();
                }
                Some(libc::SIGTERM) | Some(libc::SIGINT) => {
                    log::info!("told to stop: no more restarts");
                    self.stopping = true;
                    return false;
                }
                Some(_) => {}
            }
        }
    }

    /// Reap every process that has exited. Returns the command's exit if it
    /// was among them, and whether any child is left.
    fn reap(&mut self) -> (Option<Exit>, bool) {
        let mut main = None;
        loop {
            let mut status = 0;
            // SAFETY: status is a valid out-pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                // 0: children remain, none exited; -1: ECHILD, none left.
                return (main, pid == 0);
            }
            let exit = Exit::from_status(status);
            if Some(pid) == self.child {
                main = Some(exit);
            } else if self.launch.helpers.contains(&pid) {
                log::info!("helper pid {} {}", pid, exit.describe());
            } else if self.plan.warn_reap {
                log::warn!("reaped zombie pid {} ({})", pid, exit.describe());
            } else {
                log::debug!("reaped pid {} ({})", pid, exit.describe());
            }
        }
    }

    /// Pass a signal on to the command, after rewrites.
    fn forward(&mut self, sig: i32) {
        if matches!(sig, libc::SIGTERM | libc::SIGINT) && self.plan.restart != Restart::No {
            self.stopping = true;
        }
        let Some(child) = self.child else { return };
        match self.plan.signals.rewritten(sig) {
            None => log::debug!("dropped {}", signals::name(sig)),
            Some(to) => {
                let target = match self.plan.signals.target {
                    Target::Child => child,
                    Target::Group => -child,
                };
                log::debug!("forwarding {} to {}", signals::name(to), target);
                // SAFETY: kill with plain integers; ESRCH (already gone) is fine.
                unsafe {
                    libc::kill(target, to);
                }
            }
        }
        // Whatever the rewrite made of it, dropped included (as dumb-init).
        if self.plan.signals.job_control
            && matches!(sig, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU)
        {
            self.suspend();
        }
    }

    /// dumb-init's job control: pidone stops too, so the shell that started
    /// it sees the job stopped. The SIGCONT that resumes pidone waits,
    /// blocked, and is then forwarded like any other signal.
    fn suspend(&self) {
        if self.pid1 {
            // The kernel ignores SIGSTOP sent to a namespace's PID 1 from
            // inside; only the command is stopped.
            log::debug!("PID 1 of a namespace does not stop itself");
            return;
        }
        log::debug!("stopping pidone too (job control)");
        // SAFETY: kill with plain integers, on ourselves.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGSTOP);
        }
    }

    /// Not PID 1, as dumb-init: one SIGTERM (after rewrites) to the
    /// command's process group in setsid mode, to no one with `-c`; then
    /// exit at once and leave whatever is left running.
    fn end_like_dumb_init(&self) {
        let Some(group) = self.last_child.filter(|_| self.plan.signals.new_session) else {
            log::debug!("single-child mode: the rest is left alone");
            return;
        };
        match self.plan.signals.rewritten(libc::SIGTERM) {
            Some(sig) => {
                log::info!("sending {} to process group {}", signals::name(sig), group);
                // SAFETY: kill with plain integers; ESRCH (nobody left) is fine.
                unsafe {
                    libc::kill(-group, sig);
                }
            }
            None => log::debug!("SIGTERM is dropped: the rest is left alone"),
        }
    }

    /// SIGTERM to everything left, a grace period while reaping, then
    /// SIGKILL. What none of tini, dumb-init and catatonit does.
    fn shutdown_rest(&mut self) {
        if !self.pid1 && self.plan.end == End::DumbInit {
            self.end_like_dumb_init();
            return;
        }
        if !self.reap().1 {
            return;
        }
        if self.plan.grace.is_zero() {
            log::debug!("grace 0: leaving the rest to the kernel");
            return;
        }
        match self.plan.signals.rewritten(libc::SIGTERM) {
            Some(sig) => {
                log::info!(
                    "sending {} to the remaining processes; grace {} ms",
                    signals::name(sig),
                    self.plan.grace.as_millis()
                );
                self.signal_rest(sig);
                if ![libc::SIGCONT, libc::SIGKILL, libc::SIGSTOP].contains(&sig) {
                    self.continue_stopped();
                }
            }
            None => log::info!(
                "SIGTERM is dropped; waiting {} ms",
                self.plan.grace.as_millis()
            ),
        }
        if self.wait_for_rest(self.plan.grace) {
            return;
        }
        log::warn!("processes still running after the grace period; sending SIGKILL");
        self.signal_rest(libc::SIGKILL);
        if !self.wait_for_rest(KILL_WAIT) {
            log::warn!("some processes did not go after SIGKILL");
        }
    }

    /// Reap until no child is left (true) or the time is up (false).
    fn wait_for_rest(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if !self.reap().1 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match signals::wait(ALL, Some(left)) {
                None => return !self.reap().1,
                Some(i) if i.si_signo == libc::SIGCHLD || signals::self_inflicted(&i) => {}
                Some(i) => {
                    let sig = i.si_signo;
                    if let Some(to) = self.plan.signals.rewritten(sig) {
                        self.signal_rest(to);
                    }
                }
            }
        }
    }

    /// Signal every other process: as PID 1 the whole namespace, else every
    /// descendant of pidone.
    fn signal_rest(&self, sig: i32) {
        if self.pid1 {
            // SAFETY: kill(-1) spares the caller.
            unsafe {
                libc::kill(-1, sig);
            }
            return;
        }
        for p in self.rest() {
            // SAFETY: as above.
            unsafe {
                libc::kill(p.pid, sig);
            }
        }
    }

    /// SIGCONT, after their SIGTERM, to those of the rest that are stopped:
    /// they could not act on it before SIGKILL otherwise. The others get
    /// none, so no process sees a SIGCONT before its SIGTERM.
    fn continue_stopped(&self) {
        for p in self.rest().iter().filter(|p| p.state == 'T') {
            log::debug!("pid {} is stopped: sending SIGCONT", p.pid);
            // SAFETY: kill with plain integers.
            unsafe {
                libc::kill(p.pid, libc::SIGCONT);
            }
        }
    }

    /// The other processes, read from /proc now: as PID 1 every one in the
    /// namespace, else pidone's descendants.
    fn rest(&self) -> Vec<Proc> {
        let me = std::process::id() as i32;
        let all = processes();
        if self.pid1 {
            return all.into_iter().filter(|p| p.pid != me).collect();
        }
        descendants(me, all)
    }
}

/// One line of the process table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Proc {
    pid: i32,
    ppid: i32,
    /// The state letter: `T` is stopped by a signal.
    state: char,
}

/// Every process /proc shows, or none when that /proc belongs to another
/// pid namespace (its numbers would name other processes here).
fn processes() -> Vec<Proc> {
    let own = std::fs::read_link("/proc/self").ok();
    if own.as_deref().and_then(|p| p.to_str()) != Some(&std::process::id().to_string()) {
        log::debug!("/proc is not this pid namespace's: no process list");
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
        let (state, ppid) = parse_stat(&stat)?;
        Some(Proc { pid, ppid, state })
    })
    .collect()
}

/// Every descendant of `root` among `all`, from the parent links.
fn descendants(root: i32, all: Vec<Proc>) -> Vec<Proc> {
    let mut found: Vec<Proc> = Vec::new();
    let mut parents = vec![root];
    let mut i = 0;
    while i < parents.len() {
        let p = parents[i];
        for c in all.iter().filter(|c| c.ppid == p) {
            parents.push(c.pid);
            found.push(*c);
        }
        i += 1;
    }
    found
}

/// The state and the parent pid from `/proc/N/stat` (after the command
/// name, which may itself hold spaces and parentheses).
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((state, rest.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        let ok = Exit {
            code: 0,
            signal: None,
        };
        let bad = Exit {
            code: 3,
            signal: None,
        };
        assert!(!should_restart(Restart::No, &bad, 0));
        assert!(should_restart(Restart::Always, &ok, 100));
        assert!(!should_restart(Restart::OnFailure { max: None }, &ok, 0));
        assert!(should_restart(Restart::OnFailure { max: None }, &bad, 50));
        assert!(should_restart(Restart::OnFailure { max: Some(2) }, &bad, 1));
        assert!(!should_restart(
            Restart::OnFailure { max: Some(2) },
            &bad,
            2
        ));
    }

    #[test]
    fn state_and_parent_from_stat_with_odd_names() {
        assert_eq!(parse_stat("12 (a b) c) S 7 12 12 0"), Some(('S', 7)));
        assert_eq!(parse_stat("12 (x) T 1 1"), Some(('T', 1)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("12 (x) R"), None);
    }

    #[test]
    fn descendants_follow_parent_links() {
        let p = |pid, ppid| Proc {
            pid,
            ppid,
            state: 'S',
        };
        let all = vec![p(1, 0), p(5, 2), p(2, 1), p(3, 2), p(4, 9), p(6, 3)];
        let d: Vec<i32> = descendants(2, all).iter().map(|p| p.pid).collect();
        assert_eq!(d, [5, 3, 6]);
    }

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
