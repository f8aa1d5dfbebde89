//! Shared test harness: the real static binary, run as PID 1 of fresh
//! namespaces. Tests that need a tool the machine lacks fail and say what
//! to install; they never pass by skipping.
#![allow(dead_code)]

pub mod bundle;
pub mod mdata;

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The built static binary (`make` puts it there; `make test` builds first).
pub fn pidone() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pidone");
    assert!(
        p.exists(),
        "{} is missing: run `make` (or `make test`) first",
        p.display()
    );
    p
}

/// The multi-purpose test program (`examples/testkit.rs`), built by cargo
/// alongside the tests.
pub fn testkit() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>/examples/testkit
    let p = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("examples/testkit"))
        .expect("testkit path");
    build_testkit(&p);
    assert!(
        p.exists(),
        "{} is missing: build with `cargo test` (examples are built with the tests)",
        p.display()
    );
    p
}

/// `cargo test --test NAME` does not build examples: build (or bring up to
/// date) testkit once per test binary, in the same profile.
fn build_testkit(p: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut c = Command::new(cargo);
        c.args(["build", "--example", "testkit"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if p.components().any(|c| c.as_os_str() == "release") {
            c.arg("--release");
        }
        let ok = c.status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "cargo build --example testkit failed");
    });
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
    assert_eq!(
        unsafe { libc::getuid() },
        0,
        "these tests create namespaces and must run as root"
    );
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
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
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
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no child of unshare {}",
            unshare_pid
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Wait until `file` exists (a command inside says it is ready).
pub fn wait_for_file(file: &Path, deadline: Duration) {
    let start = Instant::now();
    while !file.exists() {
        assert!(
            start.elapsed() < deadline,
            "{} did not appear within {:?}",
            file.display(),
            deadline
        );
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

/// Spawn with stdin from /dev/null and stdout/stderr piped (collect them
/// with `wait_output`).
pub fn spawn(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn")
}

/// The lines of a file (empty when it does not exist yet).
pub fn lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Wait until `file` holds the line `line`.
pub fn wait_for_line(file: &Path, line: &str, deadline: Duration) {
    let start = Instant::now();
    while !lines(file).iter().any(|l| l == line) {
        assert!(
            start.elapsed() < deadline,
            "{} did not get the line {:?} within {:?}; it has {:?}",
            file.display(),
            line,
            deadline,
            lines(file)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Wait until `cond` holds, polling; panics with `what` after `deadline`.
pub fn wait_until(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < deadline,
            "{} did not happen within {:?}",
            what,
            deadline
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One field of /proc/PID/status (`voluntary_ctxt_switches`, `SigBlk`, ...).
pub fn proc_status(pid: i32, field: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{}/status", pid)).ok()?;
    s.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')
            .map(|v| v.trim().to_string())
    })
}

/// The state letter of /proc/PID/stat (R, S, T, Z, ...); None when gone.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The children of a process (zombies included, until reaped).
pub fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", pid))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The one child of `pid` (the command pidone started), waiting for it.
pub fn child_of(pid: i32) -> i32 {
    let mut found = 0;
    wait_until(
        &format!("a child of {}", pid),
        Duration::from_secs(10),
        || {
            found = children_of(pid).first().copied().unwrap_or(0);
            found != 0
        },
    );
    found
}

/// The system call a sleeping process is in (first field of
/// /proc/PID/syscall), e.g. 128 = rt_sigtimedwait on x86_64.
pub fn proc_syscall(pid: i32) -> Option<i64> {
    let s = std::fs::read_to_string(format!("/proc/{}/syscall", pid)).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// A pseudo-terminal pair: the test keeps `master`, the program gets the
/// slave as its stdio and controlling terminal.
pub struct Pty {
    pub master: File,
    slave: OwnedFd,
}

impl Pty {
    pub fn new() -> Pty {
        // SAFETY: plain libc calls; every result is checked.
        unsafe {
            let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
            let master = File::from_raw_fd(m);
            assert!(
                libc::grantpt(m) == 0 && libc::unlockpt(m) == 0,
                "grantpt/unlockpt"
            );
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(
                libc::ptsname_r(m, name.as_mut_ptr(), name.len()),
                0,
                "ptsname_r"
            );
            let s = libc::open(
                name.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            assert!(
                s >= 0,
                "open pty slave: {}",
                std::io::Error::last_os_error()
            );
            Pty {
                master,
                slave: OwnedFd::from_raw_fd(s),
            }
        }
    }

    /// Start `cmd` as the leader of a new session whose controlling
    /// terminal is the slave (stdin, stdout and stderr on it), as a
    /// terminal emulator or `docker run -t` does. Returns the child and the
    /// master side.
    pub fn spawn(self, mut cmd: Command) -> (Child, File) {
        cmd.stdin(Stdio::from(self.slave.try_clone().expect("dup")))
            .stdout(Stdio::from(self.slave.try_clone().expect("dup")))
            .stderr(Stdio::from(self.slave.try_clone().expect("dup")));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on a pty");
        // The command (and the Stdio copies it held) is dropped here, so
        // the master reads end-of-file (EIO) once the program side closes.
        drop(cmd);
        drop(self.slave);
        (child, self.master)
    }
}

/// Everything written to the terminal until every program holding the
/// slave side has closed it, and the exit status.
pub fn read_pty(
    mut child: Child,
    master: File,
    deadline: Duration,
) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let start = Instant::now();
    let mut out = Vec::new();
    let mut m = master;
    loop {
        let mut p = libc::pollfd {
            fd: m.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, 100) };
        if r > 0 {
            let mut buf = [0u8; 4096];
            match m.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "pty program did not finish within {:?}; output: {}",
                deadline,
                String::from_utf8_lossy(&out)
            );
        }
    }
    let status = child.wait().expect("wait");
    (status, String::from_utf8_lossy(&out).replace("\r\n", "\n"))
}

/// The recipe named NAME: the fenced block after `<!-- recipe: NAME -->`
/// in README.md or, for the reference's recipes, one of docs/*.md.
pub fn readme_recipe(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    docs.retain(|p| p.extension().is_some_and(|e| e == "md"));
    docs.sort();
    files.extend(docs);
    let marker = format!("<!-- recipe: {} -->", name);
    let after = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .find_map(|text| text.split_once(&marker).map(|(_, after)| after.to_string()))
        .unwrap_or_else(|| panic!("neither README.md nor docs/*.md has {}", marker));
    let block = after.split_once("```").expect("a code block").1;
    let body = block.split_once('\n').expect("fence line").1;
    body.split_once("```").expect("closing fence").0.to_string()
}

/// The seven architectures of `make cross`, by `uname -m`, each with the
/// qemu-user emulator that runs it here (None: this machine's own).
pub const ARCHES: &[(&str, Option<&str>)] = &[
    ("x86_64", None),
    ("aarch64", Some("aarch64")),
    ("armv7l", Some("arm")),
    ("i686", Some("i386")),
    ("riscv64", Some("riscv64")),
    ("ppc64le", Some("ppc64le")),
    ("s390x", Some("s390x")),
];

/// target/cross/pidone-ARCH, as `make cross` leaves it.
pub fn cross_binary(arch: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/cross")
        .join(format!("pidone-{}", arch));
    assert!(
        p.exists(),
        "{} is missing: run `make cross` (or `make test`) first",
        p.display()
    );
    p
}

/// The argv that runs pidone-ARCH here: the binary itself on x86_64, else
/// Debian's static qemu-user emulator and the binary (no binfmt needed;
/// what the emulated pidone execs is an x86_64 program and runs natively).
pub fn cross_launcher(arch: &str) -> Vec<String> {
    let emulator = ARCHES
        .iter()
        .find(|(a, _)| *a == arch)
        .unwrap_or_else(|| panic!("no architecture {}", arch))
        .1;
    let mut argv = Vec::new();
    if let Some(e) = emulator {
        let qemu = format!("qemu-{}-static", e);
        require(&qemu, "qemu-user-static");
        argv.push(qemu);
    }
    argv.push(cross_binary(arch).display().to_string());
    argv
}
