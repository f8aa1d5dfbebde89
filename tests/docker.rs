//! Docker Engine and containerd, for real: one private containerd and one
//! private dockerd (their own sockets, state and data roots under
//! /tmp/pdd-PID, no iptables, no bridge) shared by every test here,
//! started on first use and stopped, with their directories removed, when
//! the test binary exits. The containerd tests live here too: they import
//! what `docker save` exports and use the same containerd (namespace
//! pdd-PID; Docker's is `moby`).
//!
//! No registry is reachable: the images are a busybox-static root
//! (`docker import`) and the README's Dockerfile built on it. The engine
//! recipes are taken from README.md's code blocks (`<!-- recipe: NAME -->`)
//! and run as written, with the host paths and image names localised.
mod common;
use common::*;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(90);

fn pid() -> u32 {
    std::process::id()
}

/// Names of everything host-global: containers, images, tasks.
fn name(what: &str) -> String {
    format!("pdd-{}-{}", pid(), what)
}

/// The daemons' directory: short, because a unix socket path is limited
/// to 108 bytes.
fn dir() -> PathBuf {
    PathBuf::from(format!("/tmp/pdd-{}", pid()))
}

fn sock(which: &str) -> PathBuf {
    dir().join(which)
}

struct Daemons {
    /// The busybox root imported as an image (the recipes' `alpine`).
    bb: String,
    /// The README's Dockerfile built with `docker build`.
    img: String,
}

static DAEMONS: OnceLock<Result<Daemons, String>> = OnceLock::new();

/// The shared daemons, started on first use; a daemon that cannot start
/// fails every test with the reason.
fn daemons() -> &'static Daemons {
    match DAEMONS.get_or_init(start) {
        Ok(d) => d,
        Err(e) => panic!("{}", e),
    }
}

fn log_tail(file: &str) -> String {
    let s = std::fs::read_to_string(dir().join(file)).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn spawn_logged(cmd: &mut Command, log: &str) -> Result<u32, String> {
    let f = std::fs::File::create(dir().join(log)).map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null())
        .stdout(f.try_clone().map_err(|e| e.to_string())?)
        .stderr(f);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {}", cmd.get_program(), e))?;
    Ok(child.id())
}

/// Poll `ready` until it succeeds; Err with the log when `pid` died or
/// the time ran out.
fn wait_daemon(
    what: &str,
    pid: u32,
    log: &str,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if ready() {
            return Ok(());
        }
        // A dead child stays a zombie until reaped: reap it here.
        let mut st = 0;
        // SAFETY: waitpid on our own child, non-blocking.
        let gone = unsafe { libc::waitpid(pid as i32, &mut st, libc::WNOHANG) } == pid as i32;
        if gone || start.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "{} did not start ({}); its log {}:\n{}",
                what,
                if gone {
                    "it exited"
                } else {
                    "no answer in 60 s"
                },
                dir().join(log).display(),
                log_tail(log)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start() -> Result<Daemons, String> {
    require_root();
    require("dockerd", "docker.io");
    require("docker", "docker.io");
    require("containerd", "containerd");
    require("ctr", "containerd");
    require("runc", "runc");
    require("busybox", "busybox-static");
    let _ = Command::new("rm").arg("-rf").arg(dir()).status();
    std::fs::create_dir_all(dir()).map_err(|e| format!("{}: {}", dir().display(), e))?;
    // SAFETY: registering a plain extern "C" fn.
    unsafe { libc::atexit(teardown) };

    // containerd with its own root, state and socket; the CRI plugin (and
    // its streaming server on a TCP port) is not wanted.
    let d = dir();
    std::fs::write(
        d.join("containerd.toml"),
        format!(
            "version = 2\nroot = \"{0}/cd-root\"\nstate = \"{0}/cd-state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{0}/cd.sock\"\n\
             [ttrpc]\n  address = \"{0}/cd.sock.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            d.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let containerd = spawn_logged(
        Command::new("containerd")
            .arg("--config")
            .arg(d.join("containerd.toml")),
        "containerd.log",
    )?;
    record_pid("containerd", containerd);
    wait_daemon("containerd", containerd, "containerd.log", || {
        ctr(&["version"]).status.success()
    })?;

    // The README's daemon.json, written where the private daemon reads it.
    let recipe = readme_recipe("docker-daemon-json");
    let (config, _) = split_daemon_json(&recipe);
    let o = sh(&localize(&config, ""));
    if !o.status.success() {
        return Err(format!("the daemon.json recipe failed: {}", stderr(&o)));
    }
    let dockerd = spawn_logged(
        Command::new("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock("docker.sock").display()))
            .arg("--containerd")
            .arg(sock("cd.sock"))
            // Its containers' cgroups under a name of ours, removed at exit.
            .arg("--cgroup-parent")
            .arg(name("docker"))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"]),
        "dockerd.log",
    )?;
    record_pid("dockerd", dockerd);
    wait_daemon("dockerd", dockerd, "dockerd.log", || {
        docker(&["version"]).status.success()
    })?;

    let bb = name("bb");
    let root = busybox_root(&d.join("bb"))?;
    let o = sh(&format!(
        "tar -C {} -c . | docker import - {}",
        root.display(),
        bb
    ));
    if !o.status.success() {
        return Err(format!("docker import: {}", stderr(&o)));
    }

    // The image recipe: the README's Dockerfile, a context with the
    // root file system and the binary.
    let ctx = d.join("ctx");
    std::fs::create_dir_all(&ctx).map_err(|e| e.to_string())?;
    busybox_root(&ctx.join("rootfs"))?;
    std::fs::copy(pidone(), ctx.join("pidone")).map_err(|e| e.to_string())?;
    std::fs::write(ctx.join("Dockerfile"), readme_recipe("dockerfile"))
        .map_err(|e| e.to_string())?;
    let img = name("img");
    let o = sh(&format!("docker build -q -t {} {}", img, ctx.display()));
    if !o.status.success() {
        return Err(format!("docker build: {}\n{}", stdout(&o), stderr(&o)));
    }
    Ok(Daemons { bb, img })
}

/// Pids to stop at exit even when `start` failed half-way.
static PIDS: std::sync::Mutex<Vec<(&'static str, u32)>> = std::sync::Mutex::new(Vec::new());

fn record_pid(what: &'static str, pid: u32) {
    PIDS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((what, pid));
}

/// At exit: remove the containers and tasks, stop dockerd, then
/// containerd, then any shim they left, unmount what is left under the
/// directory and remove it.
extern "C" fn teardown() {
    let pids = PIDS.lock().map(|v| v.clone()).unwrap_or_default();
    let get = |w: &str| pids.iter().find(|(n, _)| *n == w).map(|(_, p)| *p);
    if let Some(p) = get("dockerd") {
        let _ = sh("docker ps -aq | xargs -r docker rm -f");
        stop_pid(p);
    }
    if let Some(p) = get("containerd") {
        let ns = name("k8s");
        let _ = sh(&format!(
            "for t in $(ctr -n {0} task ls -q); do ctr -n {0} task kill -a -s KILL $t; done; sleep 0.2; \
             for t in $(ctr -n {0} task ls -q); do ctr -n {0} task delete -f $t; done; \
             for c in $(ctr -n {0} container ls -q); do ctr -n {0} container delete $c; done",
            ns
        ));
        stop_pid(p);
    }
    // Shims outlive their daemon by design; these name our socket.
    let needle = sock("cd.sock").display().to_string();
    for p in pids_with_arg(&needle) {
        kill(p, libc::SIGKILL);
    }
    let _ = sh(&format!(
        "grep -o ' {0}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l; rm -rf {0}",
        dir().display()
    ));
    // The cgroups runc made for Docker's and ctr's containers (empty now).
    let _ = sh(&format!(
        "for d in /sys/fs/cgroup/*/{0} /sys/fs/cgroup/*/{1}; do [ -d $d ] && find $d -depth -type d -exec rmdir {{}} +; done",
        name("docker"),
        name("k8s")
    ));
}

fn stop_pid(p: u32) {
    kill(p as i32, libc::SIGTERM);
    let start = Instant::now();
    loop {
        let mut st = 0;
        // SAFETY: waitpid on our own child, non-blocking.
        let r = unsafe { libc::waitpid(p as i32, &mut st, libc::WNOHANG) };
        if r != 0 || start.elapsed() > Duration::from_secs(20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(p as i32, libc::SIGKILL);
    // SAFETY: as above; reap it if it was still there.
    unsafe { libc::waitpid(p as i32, std::ptr::null_mut(), libc::WNOHANG) };
}

/// Processes whose command line has `arg` as one of its words.
fn pids_with_arg(arg: &str) -> Vec<i32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", p)).unwrap_or_default();
        if cmdline.split(|b| *b == 0).any(|w| w == arg.as_bytes()) {
            v.push(p);
        }
    }
    v
}

/// A busybox root: applets, users `root` and `app`, a non-executable file.
fn busybox_root(root: &Path) -> Result<PathBuf, String> {
    let busybox = stdout(&sh("command -v busybox")).trim().to_string();
    let elf = sh(&format!("readelf -l {}", busybox));
    if stdout(&elf).contains("program interpreter") {
        return Err(format!(
            "{} is dynamically linked; the images need `apt-get install busybox-static`",
            busybox
        ));
    }
    for d in ["bin", "etc", "tmp", "srv", "root", "proc", "sys", "dev"] {
        std::fs::create_dir_all(root.join(d)).map_err(|e| e.to_string())?;
    }
    std::fs::copy(&busybox, root.join("bin/busybox")).map_err(|e| e.to_string())?;
    let list = Command::new(&busybox)
        .arg("--list")
        .output()
        .map_err(|e| e.to_string())?;
    for a in stdout(&list)
        .lines()
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(a));
    }
    let files = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/srv:/bin/sh\n",
        ),
        ("etc/group", "root:x:0:\napp:x:1000:\n"),
        ("etc/not-executable", "#!/bin/sh\n"),
    ];
    for (f, text) in files {
        std::fs::write(root.join(f), text).map_err(|e| e.to_string())?;
    }
    Ok(root.to_path_buf())
}

fn with_env(c: &mut Command) -> &mut Command {
    c.env(
        "DOCKER_HOST",
        format!("unix://{}", sock("docker.sock").display()),
    )
    .env("CONTAINERD_ADDRESS", sock("cd.sock"))
    .env("CONTAINERD_NAMESPACE", name("k8s"))
    // The classic builder: no buildx plugin is needed.
    .env("DOCKER_BUILDKIT", "0")
}

/// `sh -c SCRIPT` talking to the private daemons.
fn sh(script: &str) -> Output {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    with_env(&mut c);
    run(c, DEADLINE)
}

fn docker_cmd(args: &[&str]) -> Command {
    let mut c = Command::new("docker");
    c.args(args);
    with_env(&mut c);
    c
}

fn docker(args: &[&str]) -> Output {
    run(docker_cmd(args), DEADLINE)
}

fn ctr_cmd(args: &[&str]) -> Command {
    let mut c = Command::new("ctr");
    c.args(args);
    with_env(&mut c);
    c
}

fn ctr(args: &[&str]) -> Output {
    run(ctr_cmd(args), DEADLINE)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{} failed ({:?}):\n{}\n{}",
        what,
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// The recipe with this host's paths: the binary from `make`, the private
/// daemon's config file, and IMAGE for `alpine`.
fn localize(recipe: &str, image: &str) -> String {
    recipe
        .replace("/usr/bin/pidone", &pidone().display().to_string())
        .replace("/usr/local/bin/pidone", &pidone().display().to_string())
        .replace(
            "/etc/docker/daemon.json",
            &dir().join("daemon.json").display().to_string(),
        )
        .replace(" alpine ", &format!(" {} ", image))
}

/// The daemon.json recipe: the lines that write the file, and the rest.
fn split_daemon_json(recipe: &str) -> (String, String) {
    let (config, rest) = recipe
        .split_once("\nJSON\n")
        .expect("the daemon.json recipe ends its file with a JSON line");
    (format!("{}\nJSON\n", config), rest.to_string())
}

/// Wait until `docker logs NAME` shows `line`; fail with the logs when the
/// container stops first.
fn wait_log(container: &str, line: &str) {
    let start = Instant::now();
    loop {
        let o = docker(&["logs", container]);
        if stdout(&o).lines().any(|l| l == line) {
            return;
        }
        let state = stdout(&docker(&["inspect", "-f", "{{.State.Status}}", container]));
        assert!(
            state.trim() == "running" || state.trim() == "created",
            "{} is {} before printing {:?}:\n{}{}",
            container,
            state.trim(),
            line,
            stdout(&o),
            stderr(&o)
        );
        assert!(
            start.elapsed() < DEADLINE,
            "{} never printed {:?}",
            container,
            line
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn inspect(container: &str, format: &str) -> String {
    stdout(&docker(&["inspect", "-f", format, container]))
        .trim()
        .to_string()
}

/// Removes the container at the end of a test, whatever happened.
struct Rm(String);

impl Drop for Rm {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

/// `docker run -d --name N [opts] IMAGE ARGS...`, removed at the end.
fn detached(n: &str, opts: &[&str], image: &str, args: &[&str]) -> Rm {
    let mut v = vec!["run", "-d", "--name", n];
    v.extend_from_slice(opts);
    v.push(image);
    v.extend_from_slice(args);
    ok(&docker(&v), "docker run -d");
    Rm(n.to_string())
}

// ------------------------------------------------------------- docker --init

/// Commands the engine itself maps to 126/127 when there is no init.
const UNRUNNABLE: &[(&str, i32)] = &[
    ("/no/such/command", 127),
    ("no-such-command", 127),
    ("/etc/not-executable", 126),
    ("/etc", 126),
];

#[test]
fn init_exit_codes_pass_through() {
    let d = daemons();
    let cases: &[(&str, i32)] = &[
        ("exit 0", 0),
        ("exit 42", 42),
        ("kill -USR1 $$", 128 + 10),
        ("kill -TERM $$", 128 + 15),
    ];
    for (script, want) in cases {
        let o = docker(&["run", "--rm", "--init", &d.bb, "sh", "-c", script]);
        assert_eq!(code(&o), *want, "{}: {}", script, stderr(&o));
    }
}

#[test]
fn init_126_127_equal_docker_without_an_init() {
    let d = daemons();
    for (cmd, want) in UNRUNNABLE {
        let bare = docker(&["run", "--rm", &d.bb, cmd]);
        let init = docker(&["run", "--rm", "--init", &d.bb, cmd]);
        assert_eq!(
            code(&bare),
            *want,
            "without init, {}: {}",
            cmd,
            stderr(&bare)
        );
        assert_eq!(
            code(&init),
            code(&bare),
            "--init, {}: {}",
            cmd,
            stderr(&init)
        );
        // One line naming the command, from pidone (as docker-init, in
        // tini's form), not from the engine.
        let e = stderr(&init);
        assert!(
            e.lines()
                .any(|l| l.starts_with("[ERROR tini (1)] stage=exec: ") && l.contains(cmd)),
            "{}: {}",
            cmd,
            e
        );
    }
}

#[test]
fn init_is_pid_1_and_is_pidone() {
    let d = daemons();
    let o = docker(&[
        "run",
        "--rm",
        "--init",
        &d.bb,
        "sh",
        "-c",
        "tr '\\0' ' ' </proc/1/cmdline; echo; /sbin/docker-init --version; echo $$",
    ]);
    let out = ok(&o, "docker run --init");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("/sbin/docker-init -- sh -c "),
        "{}",
        out
    );
    // Under Docker's name for tini, tini's form, naming pidone.
    assert!(
        lines[1].starts_with("tini version ") && lines[1].contains("+pidone."),
        "{}",
        out
    );
    assert_ne!(lines[2], "1", "the command is not PID 1: {}", out);
}

#[test]
fn docker_stop_of_a_term_trapping_command_returns_its_status() {
    let d = daemons();
    let n = name("stop-trap");
    let _rm = detached(
        &n,
        &["--init"],
        &d.bb,
        &[
            "sh",
            "-c",
            "trap 'exit 5' TERM; sleep 600 & echo ready; wait",
        ],
    );
    wait_log(&n, "ready");
    // A generous timeout: 5 (not 137) shows the command, not the timeout,
    // ended it.
    ok(&docker(&["stop", "-t", "60", &n]), "docker stop");
    assert_eq!(inspect(&n, "{{.State.ExitCode}}"), "5");
}

#[test]
fn docker_stop_of_a_term_ignoring_command_is_137_after_the_timeout() {
    let d = daemons();
    let n = name("stop-ign");
    let _rm = detached(
        &n,
        &["--init"],
        &d.bb,
        &["sh", "-c", "trap '' TERM; echo ready; exec sleep 600"],
    );
    wait_log(&n, "ready");
    ok(&docker(&["stop", "-t", "1", &n]), "docker stop");
    assert_eq!(inspect(&n, "{{.State.ExitCode}}"), "137");
}

#[test]
fn docker_kill_usr1_reaches_the_command() {
    let d = daemons();
    let n = name("usr1");
    let _rm = detached(
        &n,
        &["--init"],
        &d.bb,
        &[
            "sh",
            "-c",
            "trap 'echo got-usr1; exit 10' USR1; sleep 600 & echo ready; wait",
        ],
    );
    wait_log(&n, "ready");
    ok(&docker(&["kill", "-s", "USR1", &n]), "docker kill");
    assert_eq!(stdout(&docker(&["wait", &n])).trim(), "10");
    assert!(stdout(&docker(&["logs", &n])).contains("got-usr1"));
}

/// Read the pty until `want` appears; the text so far.
fn read_until(master: &mut std::fs::File, got: &mut String, want: &str) {
    let start = Instant::now();
    while !got.contains(want) {
        let mut p = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 100) } > 0 {
            let mut buf = [0u8; 4096];
            match master.read(&mut buf) {
                Ok(0) | Err(_) => panic!("terminal closed before {:?}: {}", want, got),
                Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no {:?} on the terminal: {}",
            want,
            got
        );
    }
}

#[test]
fn docker_run_t_gives_the_command_a_terminal_it_controls() {
    let d = daemons();
    // Foreground group of its terminal, and ^C typed on the client's
    // terminal interrupts it (130), not pidone.
    let script = "awk '{ print ($5 == $8 ? \"fg\" : \"bg\") \"-\" ($7 != 0 ? \"ctty\" : \"noctty\") }' /proc/$$/stat; \
                  echo ready; sleep 600";
    let n = name("tty");
    let _rm = Rm(n.clone());
    let (child, mut master) = Pty::new().spawn(docker_cmd(&[
        "run", "--rm", "-it", "--init", "--name", &n, &d.bb, "sh", "-c", script,
    ]));
    let mut got = String::new();
    read_until(&mut master, &mut got, "ready");
    assert!(got.contains("fg-ctty"), "terminal output: {}", got);
    master.write_all(b"\x03").expect("type ^C");
    let (status, rest) = read_pty(child, master, DEADLINE);
    assert_eq!(status.code(), Some(130), "terminal output: {}{}", got, rest);
}

#[test]
fn restart_on_failure_sees_pidones_status() {
    let d = daemons();
    let n = name("restart");
    let _rm = detached(
        &n,
        &["--init", "--restart", "on-failure:2"],
        &d.bb,
        &["sh", "-c", "echo run; exit 3"],
    );
    wait_until("two restarts, then exited 3", DEADLINE, || {
        inspect(
            &n,
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
        ) == "2 exited 3"
    });
    let runs = stdout(&docker(&["logs", &n]));
    assert_eq!(runs.lines().filter(|l| *l == "run").count(), 3, "{}", runs);
}

#[test]
fn docker_info_shows_pidones_commit_as_the_init_version() {
    daemons();
    let v = Command::new(pidone())
        .arg("--version")
        .output()
        .expect("--version");
    let v = stdout(&v);
    let commit = v
        .trim()
        .split_once(" - git.")
        .expect("pidone version X - git.HASH")
        .1;
    assert_eq!(
        stdout(&docker(&["info", "-f", "{{.InitCommit.ID}}"])).trim(),
        commit
    );
    assert_eq!(
        stdout(&docker(&["info", "-f", "{{.InitBinary}}"])).trim(),
        pidone().display().to_string()
    );
}

// ------------------------------------------------------------ image recipe

/// A command that leaves N orphans (sleeps whose parent subshell has
/// exited), counts those adopted by its own parent (pidone) by parent pid,
/// not by name (one may not have exec'd sleep yet), kills them, waits until
/// each is reaped (a zombie keeps /proc/PID) and exits with EXIT.
fn orphans_script(n: usize, exit: i32) -> String {
    format!(
        "i=0; while [ $i -lt {n} ]; do (sleep 600 &); i=$((i+1)); done; \
         o=$(awk -v pp=$PPID -v me=$$ '$4 == pp && $1 != me {{ print $1 }}' /proc/[0-9]*/stat 2>/dev/null); \
         echo adopted $(echo $o | wc -w); kill $o; \
         for p in $o; do while [ -e /proc/$p ]; do sleep 0.05; done; done; \
         echo reaped; exit {exit}"
    )
}

#[test]
fn image_recipe_reaps_1000_orphans() {
    let d = daemons();
    // 1000 sleeps whose parent subshell is gone: all adopted by PID 1,
    // then killed; none may stay a zombie.
    let script = orphans_script(1000, 42);
    let o = docker(&["run", "--rm", &d.img, "sh", "-c", &script]);
    assert_eq!(code(&o), 42, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("adopted 1000\n"), "{}", out);
    assert!(out.contains("reaped\n"), "{}", out);
}

#[test]
fn image_recipe_signals_status_and_stop() {
    let d = daemons();
    let o = docker(&["run", "--rm", &d.img, "sh", "-c", "exit 42"]);
    assert_eq!(code(&o), 42, "{}", stderr(&o));
    let o = docker(&[
        "run",
        "--rm",
        &d.img,
        "sh",
        "-c",
        "tr '\\0' ' ' </proc/1/cmdline",
    ]);
    assert!(
        stdout(&o).starts_with("/sbin/pidone -- sh -c"),
        "{}",
        stdout(&o)
    );
    let n = name("img-stop");
    let _rm = detached(
        &n,
        &[],
        &d.img,
        &[
            "sh",
            "-c",
            "trap 'echo got-usr1' USR1; trap 'exit 5' TERM; sleep 600 & echo ready; while :; do wait; done",
        ],
    );
    wait_log(&n, "ready");
    ok(&docker(&["kill", "-s", "USR1", &n]), "docker kill");
    wait_log(&n, "got-usr1");
    ok(&docker(&["stop", "-t", "60", &n]), "docker stop");
    assert_eq!(inspect(&n, "{{.State.ExitCode}}"), "5");
}

// ------------------------------------------------------------ classic form

#[test]
fn classic_dockerinit_with_docker_1_7_flags_and_an_old_dockerenv() {
    let d = daemons();
    let s = Scratch::new("pdd-classic");
    // As Docker 0.6.6-1.9 wrote it: a JSON array of the container's env.
    std::fs::write(
        s.path("dockerenv"),
        r#"["HOME=/","PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","HOSTNAME=oldhost","GREETING=hi"]"#,
    )
    .expect("dockerenv");
    let init = format!("{}:/.dockerinit:ro", pidone().display());
    let env = format!("{}:/.dockerenv:ro", s.path("dockerenv").display());
    // Docker 1.7-1.9's vector, unprivileged: -u, -w, then `--`.
    let o = docker(&[
        "run", "--rm", "--hostname", "oldhost", "-v", &init, "-v", &env,
        "--entrypoint", "/.dockerinit", &d.bb,
        "-u", "app", "-w", "/srv", "--",
        "sh", "-c", "id -u; pwd; echo $GREETING; hostname; grep CapBnd /proc/self/status; tr '\\0' ' ' </proc/1/cmdline",
    ]);
    let out = ok(&o, "docker run --entrypoint /.dockerinit");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..4], &["1000", "/srv", "hi", "oldhost"], "{}", out);
    let bnd =
        u64::from_str_radix(lines[4].split_whitespace().nth(1).expect("CapBnd"), 16).expect("hex");
    // Docker's default set has SETPCAP (8), MKNOD (27) and AUDIT_WRITE (29),
    // all on the classic drop list.
    for bit in [8, 27, 29] {
        assert_eq!(bnd & (1 << bit), 0, "capability {} kept: {:x}", bit, bnd);
    }
    assert!(
        lines[5].starts_with("/.dockerinit -u app -w /srv -- sh"),
        "{}",
        out
    );
}

// -------------------------------------------------------------- containerd

fn ctr_image() -> String {
    static IMPORTED: OnceLock<String> = OnceLock::new();
    IMPORTED
        .get_or_init(|| {
            let d = daemons();
            let o = sh(&format!("docker save {} | ctr image import -", d.img));
            ok(&o, "docker save | ctr image import");
            format!("docker.io/library/{}:latest", d.img)
        })
        .clone()
}

/// Deletes the task and container at the end of a test.
struct CtrRm(String);

impl Drop for CtrRm {
    fn drop(&mut self) {
        let _ = ctr(&["task", "kill", "-a", "-s", "KILL", &self.0]);
        let _ = ctr(&["task", "delete", "-f", &self.0]);
        let _ = ctr(&["container", "delete", &self.0]);
    }
}

/// `ctr run --rm` with a host directory at /out, in the background.
fn ctr_run(id: &str, out: &Path, args: &[&str]) -> Child {
    let mount = format!("type=bind,src={},dst=/out,options=rbind:rw", out.display());
    let img = ctr_image();
    let mut v = vec!["run", "--rm", "--mount", &mount, &img, id];
    v.extend_from_slice(args);
    spawn(ctr_cmd(&v))
}

/// The host pids of every process of the task.
fn task_pids(id: &str) -> Vec<i32> {
    stdout(&ctr(&["task", "ps", id]))
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

fn alive(p: i32) -> bool {
    Path::new(&format!("/proc/{}", p)).exists()
}

/// The pod manifest of the README: the container's `command` and the
/// pod's `terminationGracePeriodSeconds`.
fn manifest() -> (Vec<String>, u64) {
    let m = readme_recipe("kubernetes-pod");
    let field = |key: &str| -> String {
        m.lines()
            .find_map(|l| l.split('#').next()?.trim().strip_prefix(key))
            .unwrap_or_else(|| panic!("the manifest has no {}", key))
            .trim()
            .to_string()
    };
    let command: Vec<String> =
        serde_json::from_str(&field("command:")).expect("command is a flow list of strings");
    let grace = field("terminationGracePeriodSeconds:")
        .parse()
        .expect("seconds");
    (command, grace)
}

/// pidone's grace in a command vector: `--grace N`, else the default 3.
fn pidone_grace(command: &[String]) -> f64 {
    command
        .windows(2)
        .find(|w| w[0] == "--grace")
        .map(|w| w[1].parse().expect("grace"))
        .unwrap_or(3.0)
}

/// A Kubernetes stop: SIGTERM to the task; after `grace`, SIGKILL to
/// every process of it. The exit status and whether SIGKILL was needed.
fn kubelet_stop(id: &str, mut child: Child, grace: Duration) -> (Output, bool) {
    ok(
        &ctr(&["task", "kill", "-s", "SIGTERM", id]),
        "ctr task kill TERM",
    );
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() && start.elapsed() < grace {
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = child.try_wait().expect("try_wait").is_none();
    if killed {
        ok(
            &ctr(&["task", "kill", "-a", "-s", "SIGKILL", id]),
            "ctr task kill -a KILL",
        );
    }
    (wait_output(child, DEADLINE), killed)
}

/// The command traps TERM and exits 3, leaving a child that ignores TERM.
const K8S_SCRIPT: &str = "trap 'exit 3' TERM; (trap '' TERM; exec sleep 600) & \
    sleep 600 & echo ready > /out/ready; wait";

#[test]
fn containerd_runs_a_docker_save_import_with_pidone_as_entrypoint() {
    let s = Scratch::new("pdd-ctr-run");
    let id = name("ctr-run");
    let _rm = CtrRm(id.clone());
    let child = ctr_run(
        &id,
        &s.0,
        &[
            "/sbin/pidone",
            "--",
            "sh",
            "-c",
            "tr '\\0' ' ' </proc/1/cmdline; exit 7",
        ],
    );
    let o = wait_output(child, DEADLINE);
    assert_eq!(code(&o), 7, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).starts_with("/sbin/pidone -- sh"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn kubernetes_stop_within_the_pods_grace_gives_the_commands_status() {
    let (command, pod_grace) = manifest();
    let grace = pidone_grace(&command);
    assert!(
        grace < pod_grace as f64,
        "the README's manifest must keep pidone's grace ({}) below terminationGracePeriodSeconds ({})",
        grace,
        pod_grace
    );
    let s = Scratch::new("pdd-k8s-ok");
    let id = name("k8s-ok");
    let _rm = CtrRm(id.clone());
    // What the kubelet starts: the manifest's command, then args.
    let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
    args.extend(["sh", "-c", K8S_SCRIPT]);
    let child = ctr_run(&id, &s.0, &args);
    wait_for_file(&s.path("ready"), DEADLINE);
    let pids = task_pids(&id);
    assert!(pids.len() >= 4, "pidone, sh and two sleeps: {:?}", pids);
    let (o, killed) = kubelet_stop(&id, child, Duration::from_secs(pod_grace));
    assert!(!killed, "pidone did not finish within the pod's grace");
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
    let left: Vec<i32> = pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "left behind: {:?}", left);
}

#[test]
fn kubernetes_stop_with_a_grace_shorter_than_pidones_leaves_nothing() {
    // Misconfigured: the kubelet gives up before pidone's own grace ends,
    // so its SIGKILL to everything ends the pod (137: the rule the README
    // states is there to avoid this).
    let s = Scratch::new("pdd-k8s-short");
    let id = name("k8s-short");
    let _rm = CtrRm(id.clone());
    let child = ctr_run(
        &id,
        &s.0,
        &[
            "/sbin/pidone",
            "--grace",
            "600",
            "--",
            "sh",
            "-c",
            K8S_SCRIPT,
        ],
    );
    wait_for_file(&s.path("ready"), DEADLINE);
    let pids = task_pids(&id);
    let (o, killed) = kubelet_stop(&id, child, Duration::from_secs(1));
    assert!(killed, "pidone exited within 1 s of a 600 s grace");
    assert_eq!(code(&o), 137, "{}{}", stdout(&o), stderr(&o));
    let left: Vec<i32> = pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "left behind: {:?}", left);
}

#[test]
fn share_process_namespace_pidone_not_pid1_reaps_what_its_command_leaves() {
    // The pod's PID 1 is a pause-like process that never reaps (busybox
    // sleep); pidone comes in as a second process (ctr task exec), and the
    // orphans its command leaves must be its own to reap.
    let s = Scratch::new("pdd-share");
    let id = name("share");
    let _rm = CtrRm(id.clone());
    let img = ctr_image();
    ok(
        &ctr(&["run", "-d", &img, &id, "sleep", "600"]),
        "ctr run -d",
    );
    let script = format!("echo pid1 $(cat /proc/1/comm); {}", orphans_script(100, 4));
    let o = ctr(&[
        "task",
        "exec",
        "--exec-id",
        "pidone",
        &id,
        "/sbin/pidone",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    drop(s);
    let out = stdout(&o);
    assert_eq!(code(&o), 4, "{}{}", out, stderr(&o));
    assert!(out.contains("pid1 sleep\n"), "{}", out);
    assert!(out.contains("adopted 100\n"), "{}", out);
    assert!(out.contains("reaped"), "{}", out);
}

// ------------------------------------------------------- README recipes

#[test]
fn readme_docker_daemon_json_recipe_runs_as_written() {
    let d = daemons();
    // The first half configured the daemon these tests share.
    let (_, run_lines) = split_daemon_json(&readme_recipe("docker-daemon-json"));
    let o = sh(&localize(&run_lines, &d.bb));
    ok(&o, &run_lines);
    let conf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("daemon.json")).expect("daemon.json"))
            .expect("daemon.json is JSON");
    assert_eq!(conf["init-path"], pidone().display().to_string());
}

#[test]
fn readme_docker_bind_mount_recipe_runs_as_written() {
    let d = daemons();
    // An image name of its own, to find the container the recipe starts.
    let image = name("bind");
    ok(&docker(&["tag", &d.bb, &image]), "docker tag");
    let recipe = localize(&readme_recipe("docker-bind-mount"), &image);
    let mut c = Command::new("sh");
    c.args(["-c", &recipe]);
    with_env(&mut c);
    let child = spawn(c);
    let mut id = String::new();
    wait_until("the recipe's container running", DEADLINE, || {
        // By the name it was run with: an `ancestor` filter matches every
        // container of the same image id, the other tests' too.
        let ps = docker(&["ps", "--format", "{{.ID}} {{.Image}}"]);
        id = stdout(&ps)
            .lines()
            .find_map(|l| l.strip_suffix(&format!(" {}", image)))
            .unwrap_or_default()
            .to_string();
        !id.is_empty()
    });
    // Ready once pidone has started the command.
    wait_until("the command under pidone", DEADLINE, || {
        stdout(&docker(&["top", &id])).contains("sleep 600")
    });
    let top = stdout(&docker(&["top", &id]));
    assert!(top.contains("/sbin/pidone -- sh -c"), "{}", top);
    ok(&docker(&["stop", "-t", "60", &id]), "docker stop");
    let o = wait_output(child, DEADLINE);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let _ = docker(&["rmi", &image]);
}

#[test]
fn readme_dockerfile_is_what_the_image_tests_build() {
    let d = daemons();
    let dockerfile = readme_recipe("dockerfile");
    assert!(
        dockerfile.contains("COPY pidone /sbin/pidone"),
        "{}",
        dockerfile
    );
    let entry = inspect(&d.img, "{{json .Config.Entrypoint}}");
    assert_eq!(entry, r#"["/sbin/pidone","--"]"#);
}

// ------------------------------------------------- the image to copy from

static PIDONE_IMAGE: OnceLock<()> = OnceLock::new();

/// image/Dockerfile built the way scripts/image.sh does for this machine
/// (the binary at linux/amd64/pidone of the context), tagged `pidone` as
/// the README's recipe names it, once per test binary.
fn pidone_image() -> &'static str {
    daemons();
    PIDONE_IMAGE.get_or_init(|| {
        let ctx = dir().join("image-ctx");
        std::fs::create_dir_all(ctx.join("linux/amd64")).expect("context");
        std::fs::copy(pidone(), ctx.join("linux/amd64/pidone")).expect("copy");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("image/Dockerfile"),
            ctx.join("Dockerfile"),
        )
        .expect("image/Dockerfile");
        let o = sh(&format!(
            "docker build -q --build-arg TARGETPLATFORM=linux/amd64 -t pidone {}",
            ctx.display()
        ));
        ok(&o, "docker build image/Dockerfile");
    });
    "pidone"
}

#[test]
fn the_pidone_image_holds_only_the_binary() {
    let img = pidone_image();
    // Its layers, from `docker save`: one, holding `pidone` alone.
    let out = dir().join("image-save");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("mkdir");
    ok(
        &sh(&format!(
            "docker save {} | tar -C {} -x",
            img,
            out.display()
        )),
        "docker save",
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest.json"))
            .expect("manifest.json is JSON");
    let layers = manifest[0]["Layers"].as_array().expect("Layers");
    assert_eq!(layers.len(), 1, "one layer: {}", manifest);
    let layer = out.join(layers[0].as_str().expect("layer path"));
    let o = sh(&format!("tar -tvf {}", layer.display()));
    let listing = ok(&o, "tar -t of the layer");
    let names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(names, ["pidone"], "{}", listing);
    assert!(listing.starts_with("-rwxr-xr-x"), "{}", listing);
    let o = sh(&format!(
        "tar -xOf {} pidone | cmp - {}",
        layer.display(),
        pidone().display()
    ));
    ok(&o, "the image's /pidone is the built binary");
    assert_eq!(
        inspect(img, "{{json .Config.Entrypoint}}"),
        r#"["/pidone"]"#
    );
}

#[test]
fn readme_copy_from_recipe_runs_as_written() {
    let d = daemons();
    let _ = pidone_image();
    let recipe = readme_recipe("dockerfile-copy-from");
    assert!(
        recipe.contains("COPY --from=pidone /pidone /sbin/pidone"),
        "{}",
        recipe
    );
    // `alpine` is the busybox image here.
    let ctx = dir().join("copy-from-ctx");
    std::fs::create_dir_all(&ctx).expect("context");
    std::fs::write(
        ctx.join("Dockerfile"),
        recipe.replace("FROM alpine", &format!("FROM {}", d.bb)),
    )
    .expect("Dockerfile");
    let img = name("copy-from");
    let o = sh(&format!("docker build -q -t {} {}", img, ctx.display()));
    ok(&o, "docker build of the COPY --from recipe");

    // It runs the recipe's CMD under pidone: output, status, and the
    // background job reaped before the end.
    let o = docker(&["run", "--rm", &img]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "hello from pidone\n", "{}", stderr(&o));
    // PID 1 is the copied pidone.
    let o = docker(&[
        "run",
        "--rm",
        &img,
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert_eq!(
        stdout(&o),
        "/sbin/pidone -- sh -c cat /proc/1/cmdline | tr '\\0' ' ' "
    );
    let o = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "/sbin/pidone",
        &img,
        "--version",
    ]);
    let want = {
        let mut c = Command::new(pidone());
        c.arg("--version");
        stdout(&run(c, DEADLINE))
    };
    assert_eq!(stdout(&o), want);
    let _ = docker(&["rmi", &img]);
}
