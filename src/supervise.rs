//! The supervisor: one loop, in the manner of tini and catatonit. Every
//! signal is blocked; pidone sleeps in one `sigtimedwait` with no timeout
//! (no idle wake-ups), forwards what it is sent, and on SIGCHLD reaps until
//! `waitpid` says nothing more has exited, so coalesced SIGCHLDs never lose
//! the command's status.
//!
//! When the command ends, the rest of the processes get SIGTERM, a grace
//! period while pidone reaps them, then SIGKILL.

use std::time::{Duration, Instant, SystemTime};

use crate::launch::Launch;
use crate::plan::{Plan, Restart, Target};
use crate::procfs;
use crate::signals::{self, Inherited, ALL};
use crate::spawn;
use crate::status::{self, Exit};

const FIRST_RESTART_DELAY: Duration = Duration::from_millis(100);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);
/// A run that lasted longer than this resets the restart delay.
const STABLE_RUN: Duration = Duration::from_secs(10);
/// How long pidone waits for SIGKILLed processes to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(2);

struct Supervisor<'a> {
    plan: &'a Plan,
    launch: &'a Launch,
    /// Helper daemons still running, to name them when they are reaped.
    daemons: &'a [i32],
    inherited: &'a Inherited,
    pid1: bool,
    /// The command being supervised, while it runs.
    child: Option<i32>,
    /// SIGTERM or SIGINT came: no more restarts.
    stopping: bool,
}

/// Run the command (with its restart policy) and shut the rest down.
/// Returns pidone's exit code.
pub fn run(plan: &Plan, launch: &Launch, daemons: &[i32], inherited: &Inherited) -> i32 {
    let mut s = Supervisor {
        plan,
        launch,
        daemons,
        inherited,
        pid1: std::process::id() == 1,
        child: None,
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
            } else if self.daemons.contains(&pid) {
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
        let Some(to) = self.plan.signals.rewritten(sig) else {
            log::debug!("dropped {}", signals::name(sig));
            return;
        };
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

    /// SIGTERM to everything left, a grace period while reaping, then
    /// SIGKILL. What none of tini, dumb-init and catatonit does.
    fn shutdown_rest(&mut self) {
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
                // A stopped process would sit on the signal until SIGKILL.
                if ![libc::SIGCONT, libc::SIGKILL, libc::SIGSTOP].contains(&sig) {
                    self.signal_rest(libc::SIGCONT);
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
        for pid in procfs::descendants(std::process::id() as i32) {
            // SAFETY: as above.
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }
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
}
