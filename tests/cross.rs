//! Every architecture's static binary (target/cross/pidone-ARCH, made by
//! `make cross`) as PID 1 of a new pid namespace. x86_64 runs natively;
//! the six others run under Debian's qemu-user-static, which emulates
//! pidone itself while the commands it execs (x86_64 programs: sh, testkit)
//! run natively on this kernel. So pidone's own system calls, structures
//! and signal handling are each architecture's, and the kernel is real.
//!
//! What qemu-user (7.2) cannot show is not checked here and not excused:
//! PR_SET_CHILD_SUBREAPER (EINVAL under qemu), real-time signals >= 32 (not
//! delivered to the emulated program), the signal mask across exec (qemu
//! resets it) and the one-line exec errors (CLONE_VFORK becomes a plain
//! fork, so the child's report never reaches pidone): tests/vm.rs checks
//! those on a real arm64 kernel. s390x's network stage and DHCP client
//! (big-endian netlink and packets) run in tests/net.rs.
mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

/// qemu-user is slow to start and runs the orphan storm on two cores.
const LONG: Duration = Duration::from_secs(120);

fn s(p: &std::path::Path) -> String {
    p.display().to_string()
}

fn tk() -> String {
    s(&testkit())
}

/// pidone-ARCH (under its emulator) as PID 1 of a new pid namespace.
fn as_pid1_on(arch: &str, args: &[&str]) -> Command {
    require_root();
    require("unshare", "util-linux");
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    c.args(cross_launcher(arch));
    c.args(args);
    c
}

/// The pid (on this side) of the command that PID 1 `pid1` started, once
/// it runs `comm` (before that, under qemu it is a copy of the emulator).
fn command_of(pid1: i32, comm: &str) -> i32 {
    let mut found = 0;
    wait_until(&format!("{} started by pidone", comm), LONG, || {
        found = children_of(pid1)
            .into_iter()
            .find(|c| {
                std::fs::read_to_string(format!("/proc/{}/comm", c))
                    .is_ok_and(|n| n.trim_end() == comm)
            })
            .unwrap_or(0);
        found != 0
    });
    found
}

fn version(arch: &str) {
    let mut argv = cross_launcher(arch);
    let mut c = Command::new(argv.remove(0));
    c.args(argv).arg("--version");
    let o = run(c, LONG);
    let native = run(
        {
            let mut c = Command::new(pidone());
            c.arg("--version");
            c
        },
        LONG,
    );
    assert_eq!(o.status.code(), Some(0), "{}: {}", arch, stderr(&o));
    assert!(
        stdout(&o).starts_with("pidone version "),
        "{}: {}",
        arch,
        stdout(&o)
    );
    assert_eq!(stdout(&o), stdout(&native), "{}: same version line", arch);
}

/// 0 and 3 from the command, 127 for a command that does not exist, 126
/// for one that cannot be executed.
fn exit_codes(arch: &str) {
    let sc = Scratch::new(&format!("cross-exit-{}", arch));
    let file = sc.path("not-executable");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let missing = sc.path("no-such-command");
    for (args, code) in [
        (vec!["--", "true"], 0),
        (vec!["--", "sh", "-c", "echo out; exit 3"], 3),
        (vec!["--", &s(&missing)], 127),
        (vec!["--", &s(&file)], 126),
    ] {
        let o = run(as_pid1_on(arch, &args), LONG);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{} {:?}: {}",
            arch,
            args,
            stderr(&o)
        );
        if code < 126 {
            assert_eq!(stderr(&o), "", "{}: nothing on stderr", arch);
        }
        if code == 3 {
            assert_eq!(stdout(&o), "out\n", "{}: the command's output", arch);
        }
    }
}

/// SIGUSR1 and SIGTERM sent to pidone reach the command, once each; a
/// command killed by the forwarded SIGTERM makes pidone exit 143.
fn forwarding(arch: &str) {
    let sc = Scratch::new(&format!("cross-fwd-{}", arch));
    let (ready, log) = (sc.path("ready"), sc.path("log"));
    let child = spawn(as_pid1_on(
        arch,
        &["--", &tk(), "catch", &s(&ready), &s(&log), "15"],
    ));
    let pid1 = pid1_of(child.id());
    wait_for_file(&ready, LONG);
    kill(pid1, libc::SIGUSR1);
    wait_for_line(&log, "p 10", LONG);
    kill(pid1, libc::SIGTERM);
    let o = wait_output(child, LONG);
    assert_eq!(o.status.code(), Some(0), "{}: {}", arch, stderr(&o));
    assert_eq!(
        lines(&log),
        ["p 10", "p 15"],
        "{}: each forwarded once",
        arch
    );

    let child = spawn(as_pid1_on(arch, &["--", "sleep", "100"]));
    let pid1 = pid1_of(child.id());
    command_of(pid1, "sleep");
    kill(pid1, libc::SIGTERM);
    let o = wait_output(child, LONG);
    assert_eq!(o.status.code(), Some(143), "{}: {}", arch, stderr(&o));
}

/// 100 orphans come to PID 1 and are reaped: none left a zombie.
fn orphans(arch: &str) {
    let o = run(as_pid1_on(arch, &["--", &tk(), "orphans", "100"]), LONG);
    assert_eq!(o.status.code(), Some(0), "{}: {}", arch, stderr(&o));
    assert_eq!(
        stdout(&o),
        "reaped 100 of 100\nzombies 0\n",
        "{}: {}",
        arch,
        stderr(&o)
    );
}

/// At the end: a background process that traps SIGTERM gets to clean up
/// within the grace; one that ignores it is killed after the grace, and
/// the command's status is pidone's either way.
fn grace(arch: &str) {
    let sc = Scratch::new(&format!("cross-grace-{}", arch));
    let (ready, out) = (sc.path("ready"), sc.path("out"));
    let o = run(
        as_pid1_on(
            arch,
            &[
                "--grace",
                "20",
                "--",
                &tk(),
                "daemon",
                "trap",
                &s(&ready),
                &s(&out),
                "3",
            ],
        ),
        LONG,
    );
    assert_eq!(o.status.code(), Some(3), "{}: {}", arch, stderr(&o));
    assert_eq!(lines(&out), ["cleaned up"], "{}: cleanup ran", arch);

    let (ready, out) = (sc.path("ready2"), sc.path("out2"));
    let o = run(
        as_pid1_on(
            arch,
            &[
                "--grace",
                "1",
                "--",
                &tk(),
                "daemon",
                "ignore",
                &s(&ready),
                &s(&out),
                "7",
            ],
        ),
        LONG,
    );
    assert_eq!(o.status.code(), Some(7), "{}: {}", arch, stderr(&o));
    assert_eq!(lines(&out), ["TERM ignored"], "{}: SIGTERM first", arch);
    assert!(
        stderr(&o).contains("SIGKILL"),
        "{}: SIGKILL after the grace: {}",
        arch,
        stderr(&o)
    );
}

fn smoke(arch: &str) {
    version(arch);
    exit_codes(arch);
    forwarding(arch);
    orphans(arch);
    grace(arch);
}

#[test]
fn smoke_x86_64() {
    smoke("x86_64");
}

#[test]
fn smoke_aarch64() {
    smoke("aarch64");
}

#[test]
fn smoke_armv7l() {
    smoke("armv7l");
}

#[test]
fn smoke_i686() {
    smoke("i686");
}

#[test]
fn smoke_riscv64() {
    smoke("riscv64");
}

#[test]
fn smoke_ppc64le() {
    smoke("ppc64le");
}

#[test]
fn smoke_s390x() {
    smoke("s390x");
}

/// `make cross` checked these when it built them; checked again here so a
/// stale or hand-made file in target/cross fails the suite: static (no
/// dynamic section, no interpreter) and within the size budget.
#[test]
fn every_binary_is_static_and_small() {
    require("readelf", "binutils");
    for (arch, _) in ARCHES {
        let p = cross_binary(arch);
        let size = std::fs::metadata(&p).unwrap().len();
        let limit = 512 * 1024;
        assert!(size <= limit, "{}: {} bytes, over {}", arch, size, limit);
        let o = Command::new("readelf").arg("-dl").arg(&p).output().unwrap();
        let text = stdout(&o);
        assert!(
            text.contains("There is no dynamic section"),
            "{}: {}",
            arch,
            text
        );
        assert!(!text.contains("INTERP"), "{}: {}", arch, text);
    }
}
