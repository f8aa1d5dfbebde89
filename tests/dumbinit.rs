//! Called as `dumb-init`, pidone does what dumb-init documents (its README
//! and man page are the contract): job control that stops pidone itself,
//! the end in setsid and `-c` mode, no subreaper. As PID 1 of a namespace
//! the grace period stays (the one deliberate difference). And, in every
//! personality, the order of pidone's own shutdown signals: SIGTERM first,
//! SIGCONT only to stopped processes, after it.
//!
//! `testkit catch` records every signal a process sent it, in order; the
//! states come from /proc/PID/stat.
mod common;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);
const TSTP: i32 = libc::SIGTSTP;
const TTIN: i32 = libc::SIGTTIN;
const TTOU: i32 = libc::SIGTTOU;
const CONT: i32 = libc::SIGCONT;

fn tk() -> String {
    testkit().display().to_string()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A `dumb-init` symlink to the binary: the name picks the personality.
fn dumb_init(scratch: &Scratch) -> PathBuf {
    let link = scratch.path("dumb-init");
    std::os::unix::fs::symlink(pidone(), &link).expect("symlink");
    link
}

/// Field N (0 = the state) after the command name of /proc/PID/stat.
fn stat_field(pid: i32, n: usize) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(n)?
        .parse()
        .ok()
}

fn stopped(pid: i32) -> bool {
    proc_state(pid) == Some('T')
}

/// Alive: there, and not a zombie.
fn alive(pid: i32) -> bool {
    !matches!(proc_state(pid), None | Some('Z'))
}

fn pid_in(file: &Path) -> i32 {
    lines(file)[0].parse().expect("a pid")
}

/// The lines of a `catch` log for one role (`p`, `c1`), signal numbers in
/// the order they came.
fn got(log: &Path, role: &str) -> Vec<i32> {
    lines(log)
        .iter()
        .filter_map(|l| l.strip_prefix(role)?.strip_prefix(' ')?.parse().ok())
        .collect()
}

/// Wait until `role` has recorded `n` signals in all.
fn wait_count(log: &Path, role: &str, n: usize) {
    let start = std::time::Instant::now();
    while got(log, role).len() < n {
        assert!(
            start.elapsed() < LONG,
            "{} signals for {} did not come: {:?}",
            n,
            role,
            lines(log)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ------------------------------------------------------- job control

/// dumb-init started from the test (not PID 1) running `catch` with one
/// forked child; returns (pidone, command, the command's child, log).
struct Run {
    child: std::process::Child,
    pidone: i32,
    cmd: i32,
    c1: i32,
    log: PathBuf,
    _sc: Scratch,
}

fn start(opts: &[&str], env: &[(&str, &str)], name: &str, pid1: bool) -> Run {
    let sc = Scratch::new(name);
    let di = dumb_init(&sc);
    let (ready, log) = (sc.path("ready"), sc.path("log"));
    let (r, l, t) = (s(&ready), s(&log), tk());
    let mut args = opts.to_vec();
    args.extend([t.as_str(), "catch", &r, &l, "15", "1"]);
    let mut c = if pid1 {
        // unshare starts the binary by its path: give it the link's.
        require_root();
        let mut c = Command::new("unshare");
        c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg(&di)
            .args(&args);
        c
    } else {
        let mut c = Command::new(&di);
        c.args(&args);
        c
    };
    // Files, not pipes: with -c the command's child outlives pidone and
    // would hold a pipe open.
    let err = std::fs::File::create(sc.path("stderr")).expect("stderr file");
    c.envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err);
    let child = c.spawn().expect("spawn");
    let pidone = if pid1 {
        pid1_of(child.id())
    } else {
        child.id() as i32
    };
    wait_for_file(&ready, LONG);
    // The pids inside a namespace are not ours: find them from the host.
    let cmd = child_of(pidone);
    let c1 = child_of(cmd);
    Run {
        child,
        pidone,
        cmd,
        c1,
        log,
        _sc: sc,
    }
}

/// How pidone ended: its exit code and what it wrote on stderr.
struct Done {
    code: Option<i32>,
    stderr: String,
}

impl Run {
    /// SIGTERM to pidone (forwarded: the command exits), then its status.
    fn finish(&mut self) -> Done {
        kill(self.pidone, libc::SIGTERM);
        let mut status = None;
        wait_until("pidone exits", LONG, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        Done {
            code: status.and_then(|s| s.code()),
            stderr: std::fs::read_to_string(self._sc.path("stderr")).unwrap_or_default(),
        }
    }
}

impl Drop for Run {
    /// A failed test leaves nothing running (a stopped pidone included).
    fn drop(&mut self) {
        for p in [self.pidone, self.cmd, self.c1] {
            if alive(p) {
                kill(p, libc::SIGKILL);
            }
        }
        let _ = self.child.try_wait();
    }
}

#[test]
fn setsid_mode_stops_the_group_and_itself_and_cont_resumes_both() {
    // dumb-init's shell_background test: each of TSTP, TTIN, TTOU stops
    // the command's group (as SIGSTOP) and dumb-init; SIGCONT to dumb-init
    // resumes both and reaches the command.
    let mut r = start(&[], &[], "di-jc-setsid", false);
    for (i, sig) in [TSTP, TTIN, TTOU].into_iter().enumerate() {
        assert!(!stopped(r.pidone) && !stopped(r.cmd) && !stopped(r.c1));
        kill(r.pidone, sig);
        wait_until("pidone and the group stopped", LONG, || {
            stopped(r.pidone) && stopped(r.cmd) && stopped(r.c1)
        });
        kill(r.pidone, CONT);
        wait_count(&r.log, "p", i + 1);
        wait_count(&r.log, "c1", i + 1);
        wait_until("all running again", LONG, || {
            !stopped(r.pidone) && !stopped(r.cmd) && !stopped(r.c1)
        });
    }
    let o = r.finish();
    let log = r.log.clone();
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    // SIGSTOP cannot be caught; what the command saw: CONT, CONT, CONT,
    // then TERM.
    assert_eq!(got(&log, "p"), [CONT, CONT, CONT, 15]);
}

#[test]
fn rewritten_job_control_signals_are_forwarded_and_pidone_still_stops() {
    // dumb-init: "will always suspend itself after receiving the signal,
    // even if you rewrite it to something else" (0, dropped, included).
    for (opts, env, name) in [
        (
            &["-r", "20:10", "-r", "21:12", "-r", "22:0"][..],
            &[][..],
            "di-rw-sid",
        ),
        (
            &["-c", "-r", "20:10", "-r", "21:12", "-r", "22:0"],
            &[],
            "di-rw-c",
        ),
    ] {
        let mut r = start(opts, env, name, false);
        // Signals the command has recorded after each one (TTOU: none).
        for (sig, n) in [(TSTP, 1), (TTIN, 3), (TTOU, 4)] {
            kill(r.pidone, sig);
            wait_until("pidone stopped", LONG, || stopped(r.pidone));
            wait_count(&r.log, "p", n);
            assert!(!stopped(r.cmd), "{:?}: the command was not stopped", opts);
            kill(r.pidone, CONT);
            wait_count(&r.log, "p", n + 1);
            wait_until("pidone running", LONG, || !stopped(r.pidone));
        }
        let c1 = r.c1;
        let o = r.finish();
        let log = r.log.clone();
        if opts.contains(&"-c") {
            // Left running at the end, as dumb-init leaves it.
            kill(c1, libc::SIGKILL);
        }
        assert_eq!(o.code, Some(0), "{}", o.stderr);
        // TSTP as USR1, TTIN as USR2, TTOU dropped; each CONT forwarded.
        assert_eq!(got(&log, "p"), [10, CONT, 12, CONT, CONT, 15], "{:?}", opts);
    }
}

#[test]
fn single_child_mode_forwards_as_received_to_the_command_and_stops_itself() {
    for (opts, env, name) in [
        (&["-c"][..], &[][..], "di-jc-c"),
        (&[], &[("DUMB_INIT_SETSID", "0")], "di-jc-env"),
    ] {
        let mut r = start(opts, env, name, false);
        for (i, sig) in [TSTP, TTIN, TTOU].into_iter().enumerate() {
            kill(r.pidone, sig);
            wait_until("pidone stopped", LONG, || stopped(r.pidone));
            // The command has handlers (it records them): it is not
            // stopped, and its own child got nothing.
            wait_count(&r.log, "p", 2 * i + 1);
            assert!(!stopped(r.cmd));
            kill(r.pidone, CONT);
            wait_count(&r.log, "p", 2 * i + 2);
            wait_until("pidone running", LONG, || !stopped(r.pidone));
        }
        let c1 = r.c1;
        let o = r.finish();
        let log = r.log.clone();
        assert_eq!(o.code, Some(0), "{}", o.stderr);
        assert_eq!(
            got(&log, "p"),
            [TSTP, CONT, TTIN, CONT, TTOU, CONT, 15],
            "{:?} {:?}",
            opts,
            env
        );
        assert!(got(&log, "c1").is_empty(), "{:?}", lines(&log));
        // -c at the end: no one else is signalled, the child's child runs on.
        assert!(alive(c1), "the command's child was left running");
        kill(c1, libc::SIGKILL);
    }
}

#[test]
fn as_pid1_job_control_stops_the_command_but_not_pidone() {
    // PID 1 of a namespace cannot stop itself (the kernel ignores SIGSTOP
    // sent to it from inside): the command is stopped, pidone is not.
    let mut r = start(&[], &[], "di-jc-pid1", true);
    kill(r.pidone, TSTP);
    wait_until("the group stopped", LONG, || {
        stopped(r.cmd) && stopped(r.c1)
    });
    assert!(!stopped(r.pidone), "PID 1 is not stopped");
    kill(r.pidone, CONT);
    wait_count(&r.log, "p", 1);
    wait_until("the group runs", LONG, || !stopped(r.cmd) && !stopped(r.c1));
    let o = r.finish();
    let log = r.log.clone();
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(got(&log, "p"), [CONT, 15]);

    let mut r = start(&["-c"], &[], "di-jc-pid1c", true);
    kill(r.pidone, TSTP);
    wait_count(&r.log, "p", 1);
    assert!(!stopped(r.pidone) && !stopped(r.cmd));
    let o = r.finish();
    let log = r.log.clone();
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(got(&log, "p"), [TSTP, 15]);
}

// ------------------------------------------------------- in a real shell

/// An interactive bash with job control on a pty; the test types into it.
struct Shell {
    child: std::process::Child,
    master: Option<std::fs::File>,
    /// Killed if the test fails half-way.
    started: Vec<i32>,
}

impl Shell {
    fn new() -> Shell {
        require("bash", "bash");
        let mut c = Command::new("bash");
        c.args(["--norc", "--noprofile", "--noediting", "-i"])
            .env("PS1", "$ ")
            .env("HISTFILE", "/dev/null");
        let (child, master) = Pty::new().spawn(c);
        Shell {
            child,
            master: Some(master),
            started: Vec::new(),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn type_in(&mut self, text: &str) {
        let m = self.master.as_mut().expect("the terminal");
        m.write_all(text.as_bytes()).expect("write to pty");
    }

    /// The terminal's foreground process group, as the shell's stat says.
    fn foreground(&self) -> Option<i32> {
        stat_field(self.pid(), 5)
    }

    fn exit(mut self) -> String {
        self.type_in("exit\n");
        let master = self.master.take().expect("the terminal");
        // read_pty takes the child: leave a finished stand-in behind.
        let child = std::mem::replace(
            &mut self.child,
            Command::new("true").spawn().expect("spawn true"),
        );
        let (_, out) = read_pty(child, master, LONG);
        out
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        for &p in &self.started {
            if alive(p) {
                kill(p, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run dumb-init with `opts` in the foreground of an interactive shell;
/// returns the shell, pidone's pid and the command's log.
fn in_shell(sc: &Scratch, opts: &str) -> (Shell, i32, i32, PathBuf) {
    let di = dumb_init(sc);
    let (ready, log) = (sc.path("ready"), sc.path("log"));
    let mut sh = Shell::new();
    sh.type_in(&format!(
        "{} {} {} catch {} {} 15 1\n",
        s(&di),
        opts,
        tk(),
        s(&ready),
        s(&log)
    ));
    wait_for_file(&ready, LONG);
    let pidone = child_of(sh.pid());
    let cmd = pid_in(&ready);
    sh.started.extend([pidone, cmd, child_of(cmd)]);
    wait_until("dumb-init is the foreground job", LONG, || {
        sh.foreground() == Some(pidone)
    });
    (sh, pidone, cmd, log)
}

#[test]
fn in_a_shell_ctrl_z_stops_the_job_and_fg_resumes_both() {
    let sc = Scratch::new("di-shell-sid");
    let (mut sh, pidone, cmd, log) = in_shell(&sc, "");
    let c1 = child_of(cmd);
    sh.type_in("\x1a"); // Ctrl-Z
    wait_until("pidone and the command's group stopped", LONG, || {
        stopped(pidone) && stopped(cmd) && stopped(c1)
    });
    wait_until("the shell has the terminal back", LONG, || {
        sh.foreground() == Some(sh.pid())
    });
    sh.type_in("fg\n");
    wait_count(&log, "p", 1);
    wait_count(&log, "c1", 1);
    wait_until("all running again", LONG, || {
        !stopped(pidone) && !stopped(cmd) && !stopped(c1)
    });
    kill(pidone, libc::SIGTERM);
    wait_until("pidone gone", LONG, || !alive(pidone));
    let out = sh.exit();
    assert!(
        out.contains("Stopped"),
        "the shell saw the job stop: {}",
        out
    );
    assert_eq!(got(&log, "p"), [CONT, 15]);
    assert_eq!(got(&log, "c1"), [CONT, 15]);
}

#[test]
fn in_a_shell_single_child_ctrl_z_and_fg_reach_both_and_the_rest_runs_on() {
    let sc = Scratch::new("di-shell-c");
    let (mut sh, pidone, cmd, log) = in_shell(&sc, "-c");
    let c1 = child_of(cmd);
    // -c: the command is in pidone's group, the terminal's foreground.
    assert_eq!(stat_field(cmd, 2), Some(pidone), "same process group");
    sh.type_in("\x1a");
    wait_until("pidone stopped", LONG, || stopped(pidone));
    wait_until("the shell has the terminal back", LONG, || {
        sh.foreground() == Some(sh.pid())
    });
    sh.type_in("fg\n");
    // The shell's SIGCONT reaches the whole group; pidone forwards its
    // own to the command.
    wait_count(&log, "c1", 1);
    wait_until("the command got SIGCONT", LONG, || {
        got(&log, "p").contains(&CONT)
    });
    wait_until("pidone running", LONG, || !stopped(pidone));
    kill(pidone, libc::SIGTERM);
    wait_until("pidone gone", LONG, || !alive(pidone));
    let c1_alive = alive(c1);
    kill(c1, libc::SIGKILL);
    let out = sh.exit();
    assert!(
        out.contains("Stopped"),
        "the shell saw the job stop: {}",
        out
    );
    // The terminal sends SIGTSTP to the whole group, the shell SIGCONT:
    // what pidone forwards merges into the same signal when that is still
    // pending at the command (and `catch` does not record the terminal's,
    // which the kernel sent).
    let mut p = got(&log, "p");
    p.dedup();
    assert!(
        p == [TSTP, CONT, 15] || p == [CONT, 15],
        "{:?}",
        lines(&log)
    );
    assert_eq!(got(&log, "c1"), [CONT], "only the shell's SIGCONT");
    assert!(c1_alive, "-c: no one else is signalled at the end");
}

// ------------------------------------------------------- the end

/// The command: starts a `catch` that exits on SIGTERM (with a child of
/// its own) and one that records SIGTERM and runs on, then exits 3.
const TWO_CATCHERS: &str = r#"
"$0" catch "$1" "$2" 15 1 >/dev/null 2>&1 &
"$0" catch "$3" "$4" 10 >/dev/null 2>&1 &
while [ ! -e "$1" ] || [ ! -e "$3" ]; do sleep 0.01; done
exit 3"#;

struct Ended {
    out: std::process::Output,
    /// The two catchers (host pids; only when not PID 1).
    pids: Option<(i32, i32)>,
    log1: PathBuf,
    log2: PathBuf,
    _sc: Scratch,
}

fn end_run(opts: &[&str], name: &str, pid1: bool, personality: &str) -> Ended {
    let sc = Scratch::new(name);
    let prog = if personality == "dumb-init" {
        dumb_init(&sc)
    } else {
        pidone()
    };
    let f = |n: &str| sc.path(n);
    let (r1, l1, r2, l2) = (f("ready1"), f("log1"), f("ready2"), f("log2"));
    let t = tk();
    let mut args = opts.to_vec();
    let (a, b, c, d) = (s(&r1), s(&l1), s(&r2), s(&l2));
    args.extend(["sh", "-c", TWO_CATCHERS, &t, &a, &b, &c, &d]);
    let mut cmd = if pid1 {
        require_root();
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
        cmd.arg(&prog);
        cmd
    } else {
        Command::new(&prog)
    };
    cmd.args(&args).stdin(Stdio::null());
    let out = run(cmd, LONG);
    let pids = (!pid1).then(|| (pid_in(&r1), pid_in(&r2)));
    Ended {
        out,
        pids,
        log1: l1,
        log2: l2,
        _sc: sc,
    }
}

#[test]
fn setsid_mode_not_pid1_terms_the_group_once_and_exits_at_once() {
    let e = end_run(&[], "di-end-sid", false, "dumb-init");
    assert_eq!(e.out.status.code(), Some(3), "{}", stderr(&e.out));
    let (_, p2) = e.pids.unwrap();
    // Exit at once: the one that ignores SIGTERM is still running once
    // pidone has gone (no grace, no SIGKILL).
    let p2_alive = alive(p2);
    wait_count(&e.log1, "p", 1);
    wait_count(&e.log1, "c1", 1);
    wait_count(&e.log2, "p", 1);
    kill(p2, libc::SIGKILL);
    assert!(p2_alive, "left running: {}", stderr(&e.out));
    // SIGTERM is the first and only signal each of them saw.
    assert_eq!(got(&e.log1, "p"), [15]);
    assert_eq!(got(&e.log1, "c1"), [15]);
    assert_eq!(got(&e.log2, "p"), [15]);
}

#[test]
fn single_child_mode_not_pid1_signals_no_one_and_exits_at_once() {
    for (opts, name) in [
        (&["-c"][..], "di-end-c"),
        (&["--single-child"], "di-end-c2"),
    ] {
        let e = end_run(opts, name, false, "dumb-init");
        assert_eq!(e.out.status.code(), Some(3), "{}", stderr(&e.out));
        let (p1, p2) = e.pids.unwrap();
        let c1 = children_of(p1).first().copied();
        assert!(c1.is_some_and(|c| c > 0), "the first catcher's child");
        let c1 = c1.unwrap();
        let all_alive = [p1, c1, p2].map(alive);
        for p in [p1, c1, p2] {
            kill(p, libc::SIGKILL);
        }
        assert_eq!(all_alive, [true; 3], "everything left runs on");
        assert!(lines(&e.log1).is_empty(), "{:?}", lines(&e.log1));
        assert!(lines(&e.log2).is_empty(), "{:?}", lines(&e.log2));
    }
}

#[test]
fn dumb_init_is_no_subreaper_when_not_pid1() {
    for env in [&[][..], &[("DUMB_INIT_SETSID", "0")]] {
        let sc = Scratch::new("di-noreaper");
        let mut c = Command::new(dumb_init(&sc));
        c.args([&tk(), "orphan-check"]).envs(env.iter().copied());
        let child = spawn(c);
        let pidone = child.id() as i32;
        let o = wait_output(child, LONG);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let out = stdout(&o);
        let by: i32 = out
            .lines()
            .find_map(|l| l.strip_prefix("adopted-by "))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{}", out));
        assert_ne!(by, pidone, "{:?}: the orphan went past pidone", env);
    }
}

#[test]
fn as_pid1_the_grace_period_stays_in_both_dumb_init_modes() {
    // The one deliberate difference: the kernel kills everything when PID
    // 1 exits, so pidone first gives the rest SIGTERM and the grace.
    for (opts, name) in [
        (&["--grace", "1"][..], "di-end-pid1"),
        (&["--grace", "1", "-c"], "di-end-pid1c"),
    ] {
        let e = end_run(opts, name, true, "dumb-init");
        let err = stderr(&e.out);
        assert_eq!(e.out.status.code(), Some(3), "{}", err);
        assert_eq!(got(&e.log1, "p"), [15], "{:?}", opts);
        assert_eq!(got(&e.log1, "c1"), [15], "{:?}", opts);
        // Not stopped: no SIGCONT; killed at the end of the grace.
        assert_eq!(got(&e.log2, "p"), [15], "{:?}", opts);
        assert!(err.contains("SIGKILL"), "{:?}: {}", opts, err);
    }
}

// ------------------------------------------------------- signal order

/// One `catch` that runs on after SIGTERM, one stopped before the command
/// exits (status 4); the second exits on SIGCONT.
const RUNNING_AND_STOPPED: &str = r#"
"$0" catch "$1" "$2" 10 >/dev/null 2>&1 &
"$0" catch "$3" "$4" 18 >/dev/null 2>&1 &
while [ ! -e "$1" ] || [ ! -e "$3" ]; do sleep 0.01; done
S=$(cat "$3")
kill -STOP "$S"
while ! grep -q '^State:.*T' /proc/"$S"/status; do sleep 0.01; done
exit 4"#;

#[test]
fn shutdown_sends_sigcont_only_to_stopped_processes_after_their_sigterm() {
    for pid1 in [false, true] {
        let sc = Scratch::new(if pid1 { "di-order1" } else { "di-order2" });
        let f = |n: &str| sc.path(n);
        let (r1, l1, r2, l2) = (f("ready1"), f("log1"), f("ready2"), f("log2"));
        let t = tk();
        let (a, b, c, d) = (s(&r1), s(&l1), s(&r2), s(&l2));
        let args = [
            "--grace",
            "1",
            "--",
            "sh",
            "-c",
            RUNNING_AND_STOPPED,
            &t,
            &a,
            &b,
            &c,
            &d,
        ];
        let cmd = if pid1 {
            as_pid1(&[], &args)
        } else {
            let mut c = Command::new(pidone());
            c.args(args);
            c
        };
        let o = run(cmd, LONG);
        assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
        // The running one: SIGTERM and no SIGCONT (then SIGKILL).
        assert_eq!(got(&l1, "p"), [15], "pid1 {}", pid1);
        // The stopped one: SIGTERM, then the SIGCONT that woke it.
        assert_eq!(got(&l2, "p"), [15, CONT], "pid1 {}", pid1);
    }
}
