//! The supervisor: one loop, in the manner of tini and catatonit. Every
//! signal is blocked; pidone sleeps in one `sigtimedwait` with no timeout
//! (no idle wake-ups), forwards what it is sent, and on SIGCHLD reaps until
//! `waitpid` says nothing more has exited, so coalesced SIGCHLDs never lose
//! the command's status.
//!
//! When the command ends, the rest of the processes get SIGTERM, a grace
//! period while pidone reaps them, then SIGKILL; not PID 1 and called as
//! dumb-init, pidone ends as dumb-init does instead (`End::DumbInit`).

use std::os::fd::RawFd;
use std::time::{Duration, Instant, SystemTime};

use crate::cgroup;
use crate::error::errno;
use crate::features::{Due, Features};
use crate::launch::Launch;
use crate::plan::{End, Plan, Restart, Target};
use crate::say;
use crate::spawn;
use crate::status::{self, Exit};
use crate::sys::signals::{self, Inherited, Wake, ALL};
use crate::sys::{self, process, procfs, resident};

const FIRST_RESTART_DELAY: Duration = Duration::from_millis(100);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);
/// A run that lasted longer than this resets the restart delay.
const STABLE_RUN: Duration = Duration::from_secs(10);
/// How long after the first spawn the container's cgroup is looked for.
const DISCOVER_AFTER: Duration = Duration::from_millis(1);
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
    /// What it has to say: whether it has exec'd yet, or why it could not.
    report: Option<spawn::Started<'a>>,
    /// The last command started, also once it has ended: its process group
    /// is what dumb-init signals at the end.
    last_child: Option<i32>,
    /// SIGTERM or SIGINT came: no more restarts.
    stopping: bool,
    /// The descriptors pidone inherited are closed (see `let_go_of_fds`).
    fds_closed: bool,
    /// Descriptors the one wait also watches (see `signals::wait_or_ready`);
    /// each readable one goes to `ready`. Empty unless a feature asks.
    watched: Vec<RawFd>,
    /// The container's OOM-kill count, watched (cgroup.rs).
    oom: Option<cgroup::Watch>,
    /// This run's OOM kills, for the status file.
    run_oom: status::Oom,
    /// `--oom-exit` and a kill was seen: the run ends with 137.
    oom_exit_due: bool,
    /// The container's cgroup, once found (see `discover`).
    cgroup: Option<cgroup::Cgroup>,
    /// When to look for it: a moment after the first spawn.
    discover_at: Option<Instant>,
    /// Held signals, watched paths, the readiness relay (features.rs).
    features: Features,
}

/// One SIGTERM round of a shutdown: who had the signal, and who has had
/// its SIGCONT since (once each: a process that stops itself again has
/// had its chance, and waking it again and again would keep pidone busy
/// for as long as it likes). Both sorted.
#[derive(Default)]
struct Round {
    termed: Vec<i32>,
    continued: Vec<i32>,
}

impl Round {
    fn new(mut termed: Vec<i32>) -> Round {
        termed.sort_unstable();
        Round {
            termed,
            continued: Vec::new(),
        }
    }

    /// SIGCONT to `pid` if it had the SIGTERM and no SIGCONT yet.
    fn wake(&mut self, pid: i32) {
        if self.termed.binary_search(&pid).is_err() {
            return;
        }
        let Err(at) = self.continued.binary_search(&pid) else {
            return;
        };
        self.continued.insert(at, pid);
        log::debug!("pid {} is stopped: sending SIGCONT", pid);
        // SAFETY: kill with plain integers.
        unsafe {
            libc::kill(pid, libc::SIGCONT);
        }
    }
}

/// Run the command (with its restart policy) and shut the rest down.
/// Returns pidone's exit code.
#[link_section = ".text_hot"]
pub fn run(plan: &Plan, launch: &Launch, daemons: &[i32], inherited: &Inherited) -> i32 {
    let features = Features::start(plan);
    let changed = features.launch(launch);
    let launch = changed.as_ref().unwrap_or(launch);
    let mut s = Supervisor {
        plan,
        launch,
        daemons,
        inherited,
        pid1: process::is_init(),
        child: None,
        report: None,
        last_child: None,
        stopping: false,
        fds_closed: false,
        watched: features.fds(),
        features,
        oom: None,
        run_oom: status::Oom::default(),
        oom_exit_due: false,
        cgroup: None,
        discover_at: None,
    };
    if launch.cgroup.is_some() || plan.pause {
        // --cgroup-nest found it before the spawn; -P has no start to spare.
        s.discover();
    }
    let code = if plan.pause {
        s.pause()
    } else {
        s.run_with_restarts()
    };
    s.shutdown_rest();
    s.kill_cgroup();
    code
}

/// The sooner of two optional deadlines (None: no deadline).
#[link_section = ".text_hot"]
fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn should_restart(policy: Restart, exit: &Exit, restarts: u32) -> bool {
    match policy {
        Restart::No => false,
        Restart::Always => true,
        Restart::OnFailure { max } => exit.code != 0 && max.is_none_or(|m| restarts < m),
    }
}

impl Supervisor<'_> {
    #[link_section = ".text_hot"]
    fn run_with_restarts(&mut self) -> i32 {
        let mut restarts = 0u32;
        let mut delay = FIRST_RESTART_DELAY;
        loop {
            let started = SystemTime::now();
            let clock = Instant::now();
            self.run_oom = status::Oom::default();
            let exit = self.run_once();
            let code = if self.plan.remap_exit.contains(&exit.code) {
                0
            } else {
                exit.code
            };
            if let Some(path) = &self.plan.status_file {
                status::record(
                    path,
                    &exit,
                    started,
                    SystemTime::now(),
                    restarts,
                    self.run_oom,
                );
            }
            if self.stopping || !should_restart(self.plan.restart, &exit, restarts) {
                return code;
            }
            // Nothing of this run lives on into the next one.
            self.clear_leftovers();
            if self.stopping {
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
    #[link_section = ".text_hot"]
    fn run_once(&mut self) -> Exit {
        let nest = self.launch.cgroup.as_ref().and_then(|c| c.nest.as_ref());
        // With --cgroup-nest the command starts in its own leaf: pidone
        // steps into it for the spawn and back into its own after.
        if let Some(n) = nest {
            cgroup::enter(&n.command);
        }
        let spawned = spawn::start(self.launch, self.inherited);
        if let Some(n) = nest {
            cgroup::enter(&n.init);
        }
        let started = match spawned {
            Ok(s) => s,
            Err(f) => {
                log::error!("{}", f.error);
                return Exit {
                    code: f.error.code,
                    signal: None,
                };
            }
        };
        let pid = started.pid;
        self.child = Some(pid);
        self.last_child = Some(pid);
        if self.cgroup.is_none() && self.discover_at.is_none() {
            self.discover_at = Some(Instant::now() + DISCOVER_AFTER);
        }
        self.report = Some(started);
        self.let_go_of_fds();
        // Keep no directory busy (the child keeps the cwd it was given).
        let _ = std::env::set_current_dir("/");
        say::started(self.plan.log.style, &self.plan.command, pid);
        // Start-up is over: let its pages go (see resident.rs).
        resident::release_read_only();
        loop {
            for due in self.features.due() {
                match due {
                    Due::Forward(sig) => self.deliver(sig),
                    Due::Send(sig) => self.send(sig),
                }
            }
            if self.oom_exit_due {
                return self.oom_exit();
            }
            let timeout = earliest(self.features.timeout(), self.cgroup_timeout());
            let info = match signals::wait_or_ready(ALL, &self.watched, timeout) {
                Wake::Signal(info) => info,
                Wake::Ready(fd) => {
                    self.ready(fd);
                    continue;
                }
                Wake::Timeout => {
                    self.discover_when_due();
                    self.oom_tick(false);
                    continue;
                }
            };
            if info.si_signo == libc::SIGCHLD {
                say::sigchld(self.plan.log.style);
                if let (Some(exit), _) = self.reap() {
                    self.child = None;
                    self.oom_tick(true);
                    self.features.command_ended();
                    let failed = self.report.take().and_then(|mut r| r.failure());
                    if let Some(e) = failed {
                        // It never exec'd: exactly what a failed spawn says.
                        log::error!("{}", e);
                        return Exit {
                            code: e.code,
                            signal: None,
                        };
                    }
                    say::command_ended(self.plan.log.style, pid, &exit);
                    return exit;
                }
            } else if !signals::self_inflicted(&info) {
                self.forward(info.si_signo);
            }
        }
    }

    /// Close the descriptors pidone inherited once the command has its
    /// copies, so a pipe reaches end-of-file and a listener closes when
    /// the command closes its own. Not with a restart policy that hands
    /// them on: every run gets them (socket activation across restarts).
    fn let_go_of_fds(&mut self) {
        let handed_on = !self.launch.close_fds && self.plan.restart != Restart::No;
        if self.fds_closed || (handed_on && !self.plan.pause) {
            return;
        }
        self.fds_closed = true;
        spawn::close_inherited();
    }

    /// `-P`: nothing to run; reap until told to stop.
    fn pause(&mut self) -> i32 {
        self.let_go_of_fds();
        loop {
            let timeout = self.cgroup_timeout();
            match signals::wait_or_ready(ALL, &self.watched, timeout) {
                Wake::Signal(i) if i.si_signo == libc::SIGCHLD => {
                    self.reap();
                }
                Wake::Signal(i) if matches!(i.si_signo, libc::SIGTERM | libc::SIGINT) => return 0,
                Wake::Ready(fd) => self.ready(fd),
                Wake::Timeout => self.oom_tick(false),
                _ => {}
            }
            if self.oom_exit_due {
                return self.oom_exit().code;
            }
        }
    }

    /// A watched descriptor is readable. Each feature that watches one
    /// handles its own here; an fd nobody claims is dropped from the set so
    /// it cannot spin the loop.
    #[link_section = ".text_hot"]
    fn ready(&mut self, fd: RawFd) {
        if let Some(w) = self.oom.as_mut().filter(|w| w.fd() == Some(fd)) {
            w.ready();
            return;
        }
        if !self.features.ready(fd) {
            self.watched.retain(|&w| w != fd);
        }
    }

    /// Find the container's cgroup (setup/cgroup.rs) and watch its OOM
    /// count. Once the command runs rather than before: reading
    /// /proc/self/cgroup and mountinfo costs 50-150 us on a busy VM, which
    /// would delay every start; a command that ends within DISCOVER_AFTER
    /// never pays it (its own OOM kill is still its 137).
    #[link_section = ".text_hot"]
    fn discover(&mut self) {
        self.discover_at = None;
        self.cgroup = match &self.launch.cgroup {
            Some(c) => Some(c.clone()),
            None => crate::setup::cgroup::find(),
        };
        let mem = self.cgroup.as_ref().and_then(|c| c.memory.as_ref());
        if let Some(w) = mem.and_then(cgroup::Watch::start) {
            log::info!("cgroup: watching OOM kills in {}", w.describe());
            self.watched.extend(w.fd());
            self.oom = Some(w);
        }
        // The pages this brought back in go again (see resident.rs).
        resident::release_read_only();
    }

    #[link_section = ".text_hot"]
    fn discover_when_due(&mut self) {
        if self.discover_at.is_some_and(|t| t <= Instant::now()) {
            self.discover();
        }
    }

    /// How long the one wait may sleep: until the discovery is due or the
    /// OOM watch wants to look again; else forever.
    #[link_section = ".text_hot"]
    fn cgroup_timeout(&self) -> Option<Duration> {
        let oom = self.oom.as_ref().and_then(cgroup::Watch::timeout);
        let find = self
            .discover_at
            .map(|t| t.saturating_duration_since(Instant::now()));
        earliest(oom, find)
    }

    /// Look for OOM kills that are due (`now`: the run is ending).
    #[link_section = ".text_hot"]
    fn oom_tick(&mut self, now: bool) {
        if let Some(r) = self.oom.as_mut().and_then(|w| w.tick(now)) {
            self.oom_report(&r);
        }
    }

    /// pidone reaped `pid`: an OOM kill seen now is its.
    #[link_section = ".text_hot"]
    fn oom_reaped(&mut self, pid: i32, exit: &Exit) {
        let sigkilled = exit.signal == Some(libc::SIGKILL);
        if let Some(r) = self.oom.as_mut().and_then(|w| w.reaped(pid, sigkilled)) {
            self.oom_report(&r);
        }
    }

    /// One log line per rise of the count; the status file's figures.
    fn oom_report(&mut self, r: &cgroup::Report) {
        let command = r.victim.is_some() && r.victim == self.child;
        let who = match r.victim {
            Some(p) if command => {
                let name = self.plan.command.first().map(|a| {
                    std::path::Path::new(a)
                        .file_name()
                        .unwrap_or(a)
                        .to_string_lossy()
                        .into_owned()
                });
                format!("the command, pid {} ({})", p, name.unwrap_or_default())
            }
            Some(p) => format!("pid {}", p),
            None if r.kills == 1 => "a process".to_string(),
            None => format!("{} processes", r.kills),
        };
        let group = if r.group { "; memory.oom.group" } else { "" };
        log::warn!("the OOM killer killed {} ({}{})", who, r.limit, group);
        self.run_oom.kills += r.kills;
        self.run_oom.command |= command;
        if self.plan.oom_exit && !self.oom_exit_due {
            self.oom_exit_due = true;
        }
    }

    /// `--oom-exit`: end as if the command had exited with 137; no
    /// restart (the orchestrator's to decide).
    fn oom_exit(&mut self) -> Exit {
        log::warn!("--oom-exit: ending the container with status 137");
        self.stopping = true;
        Exit {
            code: 137,
            signal: None,
        }
    }

    /// The end: SIGKILL through `cgroup.kill` to whatever is left in the
    /// container's own cgroup (a process outside pidone's tree too), when
    /// it is writable v2.
    fn kill_cgroup(&mut self) {
        if (self.plan.end == End::DumbInit && !self.pid1) || self.plan.grace.is_zero() {
            return;
        }
        let Some(cg) = self.cgroup.take().filter(|c| c.own) else {
            return;
        };
        let n = cgroup::kill_all(&cg);
        if n > 0 {
            log::info!("cgroup.kill: {} cgroup(s) killed", n);
            self.wait_for_rest(KILL_WAIT, &mut Round::default());
        }
        cgroup::tidy(&cg);
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
    #[link_section = ".text_hot"]
    fn reap(&mut self) -> (Option<Exit>, bool) {
        self.reap_and_wake(None, None)
    }

    /// `reap`, until `deadline` at the latest; and with a shutdown round,
    /// SIGCONT to its stopped children (`Round::wake`): one caught
    /// stopping just as the SIGTERM went out is still woken, since waitpid
    /// reports each stop once. With a deadline, "children left" is also
    /// the answer when the time is up.
    #[link_section = ".text_hot"]
    fn reap_and_wake(
        &mut self,
        mut round: Option<&mut Round>,
        deadline: Option<Instant>,
    ) -> (Option<Exit>, bool) {
        let flags = if round.is_some() {
            libc::WNOHANG | libc::WUNTRACED
        } else {
            libc::WNOHANG
        };
        let mut main = None;
        loop {
            // Processes that exit (or stop) as fast as they are reaped
            // cannot hold the shutdown past its deadline.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return (main, true);
            }
            let mut status = 0;
            // SAFETY: status is a valid out-pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
            if pid <= 0 {
                // 0: children remain, none exited; -1: ECHILD, none left.
                say::reaped_all(self.plan.log.style, pid == 0);
                return (main, pid == 0);
            }
            if libc::WIFSTOPPED(status) {
                if let Some(r) = round.as_deref_mut() {
                    r.wake(pid);
                }
                continue;
            }
            let exit = Exit::from_status(status);
            say::reaped(self.plan.log.style, pid);
            self.oom_reaped(pid, &exit);
            if Some(pid) == self.child {
                main = Some(exit);
            } else if self.daemons.contains(&pid) {
                log::info!("helper pid {} {}", pid, exit.describe());
            } else {
                say::reaped_other(self.plan.log.style, self.plan.warn_reap, pid, &exit);
            }
        }
    }

    /// Pass a signal on to the command, after rewrites; or hold it first
    /// (`--delay`).
    #[link_section = ".text_hot"]
    fn forward(&mut self, sig: i32) {
        let stop_request = matches!(sig, libc::SIGTERM | libc::SIGINT);
        if stop_request && self.plan.restart != Restart::No {
            self.stopping = true;
        }
        if self.child.is_some() && self.features.hold(sig) {
            return;
        }
        self.deliver(sig);
    }

    /// `forward`, now.
    #[link_section = ".text_hot"]
    fn deliver(&mut self, sig: i32) {
        if self.child.is_none() {
            return;
        }
        match self.plan.signals.rewritten(sig) {
            None => log::debug!("dropped {}", signals::name(sig)),
            Some(to) => {
                self.send(to);
                if matches!(sig, libc::SIGTERM | libc::SIGINT) {
                    if let Some(child) = self.child {
                        self.end_if_held_before_exec(child);
                    }
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

    /// A stop request for a command that never started: its child is
    /// stopped (by a process of the command's user) between the user
    /// switch and the exec, and would never act on the signal. It runs
    /// none of the command's code yet, so SIGKILL loses nothing; the run
    /// then ends as any other, and so does the container.
    fn end_if_held_before_exec(&mut self, child: i32) {
        let Some(report) = self.report.as_mut() else {
            return;
        };
        // Without this namespace's /proc the state cannot be read: a child
        // still before its exec at a stop request goes anyway.
        let stopped = !procfs::is_own() || procfs::is_stopped(child);
        if !report.pending() || !stopped {
            return;
        }
        log::warn!(
            "pid {} is held stopped before it could exec the command; killing it",
            child
        );
        // SAFETY: kill with plain integers, on our own child.
        unsafe {
            libc::kill(child, libc::SIGKILL);
        }
    }

    /// Send `sig` to the command (or its group) as it is.
    #[link_section = ".text_hot"]
    fn send(&self, sig: i32) {
        let Some(child) = self.child else { return };
        let target = match self.plan.signals.target {
            Target::Child => child,
            Target::Group => -child,
        };
        say::forwarding(self.plan.log.style, sig, target);
        // SAFETY: kill with plain integers. ESRCH for the group: the child
        // has not made it yet (it is still on its way to the exec), so the
        // signal goes to the child itself.
        unsafe {
            if libc::kill(target, sig) != 0 && target < 0 && errno() == libc::ESRCH {
                libc::kill(child, sig);
            }
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
            log::debug!("as dumb-init with -c: the rest is left alone");
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
    /// SIGKILL. What none of tini, dumb-init and catatonit does. Every wait
    /// in it has a deadline, whatever the processes do.
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
        let mut round = Round::default();
        match self.plan.signals.rewritten(libc::SIGTERM) {
            Some(sig) => {
                log::info!(
                    "sending {} to the remaining processes; grace {} ms",
                    signals::name(sig),
                    self.plan.grace.as_millis()
                );
                let reached = self.signal_rest(sig);
                if ![libc::SIGCONT, libc::SIGKILL, libc::SIGSTOP].contains(&sig) {
                    round = Round::new(reached);
                    self.continue_stopped(&mut round, &[]);
                }
            }
            None => log::info!(
                "SIGTERM is dropped; waiting {} ms",
                self.plan.grace.as_millis()
            ),
        }
        if self.wait_for_rest(self.plan.grace, &mut round) {
            return;
        }
        log::warn!("processes still running after the grace period; sending SIGKILL");
        self.signal_rest(libc::SIGKILL);
        if !self.wait_for_rest(KILL_WAIT, &mut Round::default()) {
            log::warn!("some processes did not go after SIGKILL");
        }
    }

    /// Reap until no child is left (true) or the time is up (false).
    /// Stopped children of the round are woken as they are found.
    fn wait_for_rest(&mut self, limit: Duration, round: &mut Round) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if !self.reap_and_wake(Some(round), Some(deadline)).1 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match signals::wait(ALL, Some(left)) {
                None => {}
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

    /// Before a restart: the processes the last run left behind get what
    /// the end gives them (SIGTERM, the grace, SIGKILL), so none of them
    /// is there when the next run starts; one left stopped by an earlier
    /// run could hold the next one's child. The helper daemons and their
    /// descendants are not the run's and stay.
    fn clear_leftovers(&mut self) {
        self.reap();
        let left = self.leftovers();
        if left.is_empty() {
            return;
        }
        let grace = self.plan.grace;
        let sig = self.plan.signals.rewritten(libc::SIGTERM);
        if let Some(sig) = sig.filter(|_| !grace.is_zero()) {
            log::info!(
                "{} processes left by the last run: sending {}; grace {} ms",
                left.len(),
                signals::name(sig),
                grace.as_millis()
            );
            for &pid in &left {
                // SAFETY: kill with plain integers.
                unsafe {
                    libc::kill(pid, sig);
                }
            }
            let mut round = Round::default();
            if ![libc::SIGCONT, libc::SIGKILL, libc::SIGSTOP].contains(&sig) {
                round = Round::new(left);
                let spared = self.spared();
                self.continue_stopped(&mut round, &spared);
            }
            if self.wait_for_leftovers(grace, &mut round, false) {
                return;
            }
            log::warn!(
                "processes of the last run still there after the grace period; sending SIGKILL"
            );
        } else {
            log::info!(
                "{} processes left by the last run: sending SIGKILL",
                left.len()
            );
        }
        if !self.wait_for_leftovers(KILL_WAIT, &mut Round::default(), true) {
            log::warn!("some processes of the last run did not go after SIGKILL");
        }
    }

    /// Wait until none of the last run's processes is left (true) or the
    /// time is up (false). `killing`: each look SIGKILLs what it finds, so
    /// one forked meanwhile goes too.
    /// Processes that are not pidone's children end without a SIGCHLD, so
    /// it looks again at least every TICK.
    fn wait_for_leftovers(&mut self, limit: Duration, round: &mut Round, killing: bool) -> bool {
        const TICK: Duration = Duration::from_millis(20);
        let deadline = Instant::now() + limit;
        loop {
            self.reap_and_wake(Some(round), Some(deadline));
            let left = self.leftovers();
            if left.is_empty() {
                return true;
            }
            if killing {
                for &pid in &left {
                    // SAFETY: kill with plain integers.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let wait = (deadline - now).min(TICK);
            if let Some(i) = signals::wait(ALL, Some(wait)) {
                if matches!(i.si_signo, libc::SIGTERM | libc::SIGINT)
                    && !signals::self_inflicted(&i)
                {
                    // Told to stop: the final shutdown takes it from here.
                    log::info!("told to stop: no more restarts");
                    self.stopping = true;
                    return false;
                }
            }
        }
    }

    /// The helper daemons and their descendants, from /proc now.
    fn spared(&self) -> Vec<i32> {
        if self.daemons.is_empty() {
            return Vec::new();
        }
        let all = procfs::table();
        let mut out: Vec<i32> = self.daemons.to_vec();
        for &d in self.daemons {
            out.extend(sys::descendants(d, &all).iter().map(|p| p.pid));
        }
        out.sort_unstable();
        out
    }

    /// What the last run left: every other process that is still alive
    /// (zombies are only waiting to be reaped), but the helper daemons.
    fn leftovers(&self) -> Vec<i32> {
        let spared = self.spared();
        self.rest()
            .into_iter()
            .filter(|p| p.state != 'Z' && spared.binary_search(&p.pid).is_err())
            .map(|p| p.pid)
            .collect()
    }

    /// Signal every other process: as PID 1 the whole namespace, else every
    /// descendant of pidone. Returns the pids it surely reached (as PID 1,
    /// those listed just before).
    fn signal_rest(&self, sig: i32) -> Vec<i32> {
        let rest: Vec<i32> = self.rest().iter().map(|p| p.pid).collect();
        if self.pid1 {
            process::signal_all(sig);
            return rest;
        }
        for &pid in &rest {
            // SAFETY: as above.
            unsafe {
                libc::kill(pid, sig);
            }
        }
        rest
    }

    /// SIGCONT to those of the round (they had their SIGTERM) that are
    /// stopped, but `spared`: they could not act on it before SIGKILL
    /// otherwise. The others get none, so no process sees a SIGCONT before
    /// its SIGTERM.
    fn continue_stopped(&self, round: &mut Round, spared: &[i32]) {
        for p in self.rest() {
            if p.state == 'T' && spared.binary_search(&p.pid).is_err() {
                round.wake(p.pid);
            }
        }
    }

    /// The other processes, read from /proc now: as PID 1 every one in the
    /// namespace, else pidone's descendants.
    fn rest(&self) -> Vec<sys::Proc> {
        if !procfs::is_own() {
            log::debug!("/proc is not this pid namespace's: no process list");
            return Vec::new();
        }
        let me = std::process::id() as i32;
        let all = procfs::table();
        if self.pid1 {
            return all.into_iter().filter(|p| p.pid != me).collect();
        }
        sys::descendants(me, &all)
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
