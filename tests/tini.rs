//! Called as `tini` or `docker-init` (Docker's name for tini), pidone does
//! what tini documents and what tini's own tests check: TINI_VERBOSITY at
//! tini's levels with its per-SIGCHLD debug and trace lines, `TINI_*` set
//! but empty counting as set, `Reaped zombie process with pid=` for `-w`,
//! exit 1 and the usage text for a bad command line or none, `--version`
//! in the form `docker info` parses, `-l`. Under pidone's own name,
//! pidone's forms. Every test runs under both names; the program is a
//! link named so to the binary, PID 1 of a new pid namespace unless said.
//! Differences that stay are in docs/tini.md.
mod common;
use common::*;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);
const NAMES: [&str; 2] = ["tini", "docker-init"];

/// A link named `name` to the binary, in its own scratch directory.
struct Named {
    link: PathBuf,
    sc: Scratch,
}

/// (`test` keeps the scratch directories of tests running at once apart.)
fn named(test: &str, name: &str) -> Named {
    let sc = Scratch::new(&format!("tini-{}-{}", test, name));
    let link = sc.path(name);
    std::os::unix::fs::symlink(pidone(), &link).expect("symlink");
    Named { link, sc }
}

/// `unshare ... LINK ARGS` with `env` added: the link is PID 1.
fn pid1(n: &Named, env: &[(&str, &str)], args: &[&str]) -> Command {
    require_root();
    require("unshare", "util-linux");
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(&n.link)
        .args(args)
        .envs(env.iter().copied());
    c
}

/// Not PID 1: the link run directly.
fn direct(n: &Named, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut c = Command::new(&n.link);
    c.args(args).envs(env.iter().copied());
    c
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    )
}

/// A command that leaves an orphan (a sleep whose subshell has gone) for
/// PID 1 to reap, then exits 0.
const ORPHAN: &str = "(sleep 0.1 &); sleep 0.4";

// ------------------------------------------------------------ verbosity

#[test]
fn tini_verbosity_levels_are_tinis() {
    for name in NAMES {
        let n = named("verb", name);
        let level = |v: Option<&str>, opts: &[&str]| {
            let env: Vec<(&str, &str)> = v.map(|v| ("TINI_VERBOSITY", v)).into_iter().collect();
            let mut args = opts.to_vec();
            args.extend(["-w", "--", "sh", "-c", ORPHAN]);
            let o = run(pid1(&n, &env, &args), DEADLINE);
            assert_eq!(o.status.code(), Some(0), "{}", show(&o));
            stderr(&o)
        };
        let warn = "[WARN  tini (1)] Reaped zombie process with pid=";
        let info = "[INFO  tini (1)] Spawned child process 'sh' with pid '";
        let exited = "[INFO  tini (1)] Main child exited normally (with status '0')";
        let sigchld = "[DEBUG tini (1)] Received SIGCHLD";
        let reaped = "[DEBUG tini (1)] Reaped child with pid: '";
        let trace = "[TRACE tini (1)] No child to ";
        // (which of each level's lines show, lowest level first)
        let table: [(Option<&str>, &[&str], [bool; 4]); 8] = [
            (Some("0"), &[], [false, false, false, false]),
            (Some(""), &[], [false, false, false, false]),
            (None, &[], [true, false, false, false]),
            (Some("1"), &[], [true, false, false, false]),
            (Some("2"), &[], [true, true, false, false]),
            (None, &["-v"], [true, true, false, false]),
            (Some("3"), &[], [true, true, true, false]),
            (Some("4"), &[], [true, true, true, true]),
        ];
        for (v, opts, want) in table {
            let err = level(v, opts);
            let got = [
                err.contains(warn),
                err.contains(info) && err.contains(exited),
                err.contains(sigchld) && err.contains(reaped),
                err.contains(trace),
            ];
            assert_eq!(
                got, want,
                "{} TINI_VERBOSITY={:?} {:?}:\n{}",
                name, v, opts, err
            );
        }
        // -vvv from the default 1 is 4: trace.
        assert!(level(None, &["-vvv"]).contains(trace));
    }
}

#[test]
fn warn_reap_says_tinis_line_only_with_w() {
    // tini's own reaping tests: the line with -w, none without.
    for name in NAMES {
        let n = named("warn", name);
        let o = run(pid1(&n, &[], &["--", "sh", "-c", ORPHAN]), DEADLINE);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        assert!(
            !stderr(&o).contains("Reaped zombie process with pid="),
            "{}",
            show(&o)
        );
        let o = run(pid1(&n, &[], &["-w", "--", "sh", "-c", ORPHAN]), DEADLINE);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        assert!(
            stderr(&o).contains("Reaped zombie process with pid="),
            "{}",
            show(&o)
        );
    }
}

// ------------------------------------------------- TINI_* set but empty

/// `testkit catch` (the command and one child, one process group) sent
/// SIGUSR1 then SIGTERM through pidone: the signals its child got.
fn child_got(n: &Named, env: &[(&str, &str)]) -> Vec<i32> {
    let (ready, log) = (n.sc.path("ready"), n.sc.path("log"));
    let _ = std::fs::remove_file(&ready);
    let _ = std::fs::remove_file(&log);
    let tk = testkit().display().to_string();
    let (r, l) = (ready.display().to_string(), log.display().to_string());
    let c = pid1(n, env, &["--", &tk, "catch", &r, &l, "15", "1"]);
    let child = spawn(c);
    let pidone = pid1_of(child.id());
    wait_for_file(&ready, DEADLINE);
    kill(pidone, libc::SIGUSR1);
    wait_for_line(&log, "p 10", DEADLINE);
    kill(pidone, libc::SIGTERM);
    let o = wait_output(child, DEADLINE);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    lines(&log)
        .iter()
        .filter_map(|l| l.strip_prefix("c1 ")?.parse().ok())
        .collect()
}

#[test]
fn tini_kill_process_group_set_but_empty_signals_the_group() {
    for name in NAMES {
        let n = named("pgrp", name);
        // Set, even empty or "0" (tini tests only that it is there): the
        // child gets USR1 and TERM with its parent.
        for v in ["", "0"] {
            let got = child_got(&n, &[("TINI_KILL_PROCESS_GROUP", v)]);
            assert_eq!(
                got,
                vec![10, 15],
                "{} TINI_KILL_PROCESS_GROUP={:?}",
                name,
                v
            );
        }
        // Unset: only the command gets them; its child gets the SIGTERM
        // of pidone's shutdown.
        assert_eq!(child_got(&n, &[]), vec![15], "{}", name);
    }
}

#[test]
fn not_pid_1_reaps_without_subreaper_flags_or_warning() {
    // tini needs -s or TINI_SUBREAPER (set, even empty) here and warns
    // without; pidone is a subreaper anyway (the deliberate difference),
    // so both run alike and neither warns.
    for name in NAMES {
        let n = named("sub", name);
        let tk = testkit().display().to_string();
        for env in [&[("TINI_SUBREAPER", "")][..], &[]] {
            let child = spawn(direct(&n, env, &["--", &tk, "orphan-check"]));
            let me = child.id();
            let o = wait_output(child, DEADLINE);
            assert_eq!(o.status.code(), Some(0), "{}", show(&o));
            let out = stdout(&o);
            let adopted = format!("adopted-by {}\n", me);
            assert!(out.contains(&adopted), "{} {:?}: {}", name, env, show(&o));
            assert!(
                out.contains("reaped yes"),
                "{} {:?}: {}",
                name,
                env,
                show(&o)
            );
            assert_eq!(stderr(&o), "", "{} {:?}", name, env);
        }
    }
}

// ------------------------------------------- tini's command-line forms

#[test]
fn bad_or_missing_command_line_is_exit_1_with_tinis_usage() {
    for name in NAMES {
        let n = named("usage", name);
        let usage = format!("Usage: {} [OPTIONS] PROGRAM -- [ARGS] | --version", name);
        for args in [
            &[][..],
            &["-x", "true"],
            &["-p", "NOPE", "true"],
            &["-e", "256", "true"],
            &["-s"],
        ] {
            let o = run(pid1(&n, &[], args), DEADLINE);
            assert_eq!(
                o.status.code(),
                Some(1),
                "{} {:?}: {}",
                name,
                args,
                show(&o)
            );
            assert!(
                stderr(&o).contains(&usage),
                "{} {:?}: {}",
                name,
                args,
                show(&o)
            );
            assert_eq!(stdout(&o), "", "{} {:?}", name, args);
        }
        // -h: the same text on stdout, exit 0.
        let o = run(direct(&n, &[], &["-h"]), DEADLINE);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        assert!(
            stdout(&o).starts_with(&format!("{} (tini version ", name)),
            "{}",
            show(&o)
        );
        assert!(stdout(&o).contains(&usage), "{}", show(&o));
    }
}

/// moby's parseInitVersion, as `docker info` runs it on `docker-init
/// --version`: (version after "tini version ", commit after "git.").
fn moby_parse(v: &str) -> (String, String) {
    let parts: Vec<&str> = v.trim().split(" - ").collect();
    let mut commit = String::new();
    if let Some(git) = parts.get(1) {
        let g: Vec<&str> = git.split('.').collect();
        if g.len() == 2 && g[0] == "git" {
            commit = g[1].to_string();
        }
    }
    let version = parts[0]
        .strip_prefix("tini version ")
        .unwrap_or_default()
        .to_string();
    (version, commit)
}

/// The binary under its own name with `args`.
fn own(args: &[&str]) -> Command {
    let mut c = Command::new(pidone());
    c.args(args);
    c
}

fn own_commit() -> String {
    let o = run(own(&["--version"]), DEADLINE);
    let v = stdout(&o);
    assert!(v.starts_with("pidone version "), "{}", v);
    v.trim()
        .split_once(" - git.")
        .expect("pidone's form")
        .1
        .to_string()
}

#[test]
fn version_and_license_in_tinis_forms_and_pidones_under_its_name() {
    let commit = own_commit();
    for name in NAMES {
        let n = named("ver", name);
        let o = run(direct(&n, &[], &["--version"]), DEADLINE);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        let (version, got) = moby_parse(&stdout(&o));
        assert!(version.starts_with("0.19.0+pidone."), "{}", show(&o));
        assert_eq!(got, commit, "{}", show(&o));
        let o = run(direct(&n, &[], &["-l"]), DEADLINE);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        assert!(stdout(&o).starts_with("MIT License\n"), "{}", show(&o));
        assert!(stdout(&o).contains("WITHOUT WARRANTY"), "{}", show(&o));
    }
    // pidone's own name: pidone's forms (exit 2, one line, `pidone version`).
    let o = run(own(&["-l"]), DEADLINE);
    assert_eq!(stdout(&o), "pidone is released under the MIT license.\n");
    let o = run(own(&["-x", "true"]), DEADLINE);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", show(&o));
    assert!(
        stderr(&o).starts_with("pidone: unknown option '-x'"),
        "{}",
        show(&o)
    );
}

#[test]
fn remap_exit_and_signal_status_as_tinis_tests() {
    for name in NAMES {
        let n = named("remap", name);
        let o = run(
            pid1(&n, &[], &["-e", "3", "--", "sh", "-c", "exit 3"]),
            DEADLINE,
        );
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        let o = run(pid1(&n, &[], &["-e", "4", "sh", "-c", "exit 3"]), DEADLINE);
        assert_eq!(o.status.code(), Some(3), "{}", show(&o));
        // A command killed by a signal: 128+N, and tini's info line.
        let env = [("TINI_VERBOSITY", "2")];
        let o = run(pid1(&n, &env, &["sh", "-c", "kill -USR1 $$"]), DEADLINE);
        assert_eq!(o.status.code(), Some(128 + libc::SIGUSR1), "{}", show(&o));
        assert!(
            stderr(&o)
                .contains("Main child exited with signal (with signal 'User defined signal 1')"),
            "{}",
            show(&o)
        );
    }
}
