//! Shared test harness: the real static binary, run as PID 1 of fresh
//! namespaces. Tests that need a tool the machine lacks fail and say what
//! to install; they never pass by skipping.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The built static binary (`make` puts it there; `make test` builds first).
pub fn pidone() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pidone");
    assert!(p.exists(), "{} is missing: run `make` (or `make test`) first", p.display());
    p
}

/// The multi-purpose test program (`examples/testkit.rs`), built by cargo
/// alongside the tests.
pub fn testkit() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>/examples/testkit
    let p = exe.parent().and_then(Path::parent).map(|d| d.join("examples/testkit")).expect("testkit path");
    assert!(p.exists(), "{} is missing: build with `cargo test` (examples are built with the tests)", p.display());
    p
}

/// Fail (never skip) when a tool is missing, saying which package has it.
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {}", tool)])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(found, "`{}` is needed by this test: install it with `apt-get install {}` (or run `make test`, which does)", tool, package);
}

pub fn require_root() {
    // SAFETY: getuid has no preconditions.
    assert_eq!(unsafe { libc::getuid() }, 0, "these tests create namespaces and must run as root");
}

/// `unshare --pid --fork --mount-proc [extra] pidone ARGS...`: pidone is
/// PID 1 of a new pid namespace (with its own /proc).
pub fn as_pid1(extra_unshare: &[&str], args: &[&str]) -> Command {
    require_root();
    require("unshare", "util-linux");
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    c.args(extra_unshare);
    c.arg(pidone());
    c.args(args);
    c
}

/// Run to completion with a deadline; panics if it takes longer.
pub fn run(mut cmd: Command, deadline: Duration) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    wait_output(child, deadline)
}

pub fn wait_output(mut child: Child, deadline: Duration) -> Output {
    let start = Instant::now();
    loop {
        match child.try_wait().expect("try_wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if start.elapsed() > deadline => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "did not finish within {:?}\nstdout: {}\nstderr: {}",
                    deadline,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The host pid of the PID 1 that `unshare --fork` (pid `unshare_pid`)
/// started: its only child.
pub fn pid1_of(unshare_pid: u32) -> i32 {
    let path = format!("/proc/{0}/task/{0}/children", unshare_pid);
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(&path) {
            if let Some(p) = s.split_whitespace().next().and_then(|p| p.parse().ok()) {
                return p;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(5), "no child of unshare {}", unshare_pid);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Wait until `file` exists (a command inside says it is ready).
pub fn wait_for_file(file: &Path, deadline: Duration) {
    let start = Instant::now();
    while !file.exists() {
        assert!(start.elapsed() < deadline, "{} did not appear within {:?}", file.display(), deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A fresh scratch directory under the target dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/test-scratch")
            .join(format!("{}-{}", name, std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn kill(pid: i32, sig: i32) {
    // SAFETY: kill with integers.
    unsafe {
        libc::kill(pid, sig);
    }
}
