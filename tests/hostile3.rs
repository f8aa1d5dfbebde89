//! Hostile images, round 3 (issue 16): the command's unprivileged user, or
//! an image that planned for it, against PID 1 itself. Each test is the
//! exploit it stops; the containers are real runc bundles on a scratch
//! tmpfs (tests/common/bundle.rs), or `unshare -pf` where runc adds
//! nothing.
mod common;
use common::bundle::*;
use common::*;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, Stdio};

/// The host pid of a running container's PID 1.
fn container_pid1(b: &Bundle) -> i32 {
    let mut pid = 0;
    wait_until("the container's PID 1", DEADLINE, || {
        let o = Command::new("runc")
            .arg("--root")
            .arg(b.dir.join("runc-state"))
            .args(["state", &b.id])
            .output()
            .expect("runc state");
        pid = serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .ok()
            .and_then(|v| v["pid"].as_i64())
            .unwrap_or(0) as i32;
        pid > 0
    });
    pid
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{}/comm", pid))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn spawn_piped(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn")
}

// ------------------------------- 1. a child held stopped before its exec

/// A PATH of 30,000 directories that do not exist before /bin: the
/// command's child tries each before it finds `sleep`, after it has become
/// the command's user, so a process of that user has tens of milliseconds
/// to stop it before its exec. The image chooses PATH.
fn long_path() -> String {
    let mut p = "/x:".repeat(30_000);
    p.push_str("/bin");
    p
}

#[test]
fn a_child_held_stopped_before_its_exec_does_not_freeze_pid_1() {
    // A process of the command's user is already there (a shared pid
    // namespace, or a run before a restart) and stops every process it
    // may: the command's child is caught between its switch to `app` and
    // its exec. A PID 1 waiting for that exec would wait for ever, deaf
    // to the engine's SIGTERM.
    let path_env = format!("PATH={}", long_path());
    let script = format!(
        "su app -c 'while :; do kill -STOP -1 2>/dev/null; done' & exec /.dockerinit -u app -e {} -- sleep 1000",
        path_env
    );
    let mut b = Bundle::new("held", &["/bin/sh", "-c", &script]);
    let child = spawn_piped(b.command());
    let pid1 = container_pid1(&b);
    // The command's child, stopped while it is still pidone (not yet
    // `sleep`): the attack worked.
    let mut held = 0;
    wait_until(
        "the command's child held stopped before its exec",
        DEADLINE,
        || {
            held = children_of(pid1)
                .into_iter()
                .find(|&p| proc_state(p) == Some('T') && comm(p) == ".dockerinit")
                .unwrap_or(0);
            held != 0
        },
    );
    // The attacker goes; the child stays stopped. The engine asks the
    // container to stop.
    for p in children_of(pid1) {
        if comm(p) == "sh" {
            kill(p, libc::SIGKILL);
        }
    }
    let o = Command::new("runc")
        .arg("--root")
        .arg(b.dir.join("runc-state"))
        .args(["kill", &b.id, "TERM"])
        .output()
        .expect("runc kill");
    assert!(o.status.success(), "runc kill: {}", stderr(&o));
    let o = wait_output(child, DEADLINE);
    assert_eq!(code(&o), Some(137), "{}", show(&o));
    assert!(
        stderr(&o).contains("held stopped before it could exec"),
        "{}",
        show(&o)
    );
}

#[test]
fn nothing_of_one_run_survives_into_the_next() {
    // Run 1 leaves a process that ignores SIGTERM and exits 3; the
    // restart policy starts run 2, which looks for it.
    let script = "if [ -e /tmp/ran ]; then \
            if kill -0 $(cat /tmp/left) 2>/dev/null; then echo SURVIVED; else echo GONE; fi; exit 0; \
        fi; touch /tmp/ran; \
        sh -c 'trap \"\" TERM; kill -STOP $$; exec sleep 1000' & echo $! > /tmp/left; exit 3";
    let mut b = metadata_bundle(
        "leftover",
        serde_json::json!({"Cmd": ["sh", "-c", script],
            "pidone:restart": "on-failure:1", "pidone:grace": 0.5}),
    );
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert_eq!(stdout(&o), "GONE\n", "{}", show(&o));
}

// ------------------------------------- 2. a grace that always ends

#[test]
fn self_stopping_children_that_ignore_sigterm_cannot_hold_the_grace() {
    // 300 processes that ignore SIGTERM and stop themselves again as soon
    // as they are woken: the shutdown must still SIGKILL them after its
    // grace, and exit.
    let mut b = dockerinit_bundle(
        "selfstop",
        &[],
        "i=0; while [ $i -lt 300 ]; do /bin/selfstop & i=$((i+1)); done; sleep 0.5; echo started",
    );
    b.write(
        "bin/selfstop",
        "#!/bin/sh\ntrap '' TERM\nwhile :; do kill -STOP $$; done\n",
    );
    must(&format!("chmod 755 {}", b.path("bin/selfstop").display()));
    b.config["linux"]["resources"]["memory"] = serde_json::json!({"limit": 512u64 << 20});
    b.config["process"]["env"]
        .as_array_mut()
        .expect("env")
        .push("PIDONE_GRACE=1".into());
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert_eq!(stdout(&o), "started\n", "{}", show(&o));
    assert!(
        stderr(&o).contains("sending SIGKILL"),
        "the grace ended in SIGKILL:\n{}",
        show(&o)
    );
}

// ------------------------------ 4. a process name that is not UTF-8

#[test]
fn a_process_named_in_bytes_is_not_hidden_from_the_shutdown() {
    // pidone is not PID 1 here (a subreaper): it signals its descendants
    // from /proc. The command leaves one whose name is `x) \xff`: not
    // UTF-8, with a `)` and a space.
    require("unshare", "util-linux");
    let sc = Scratch::new("h3-comm");
    let weird = sc.0.join(std::ffi::OsStr::from_bytes(b"x) \xff"));
    std::os::unix::fs::symlink("/bin/sleep", &weird).expect("symlink");
    let pidfile = sc.path("left");
    let script = "\"$0\" --grace 0.5 -- sh -c '\"$0\" 1000 & echo $! > \"$1\"' \"$1\" \"$2\"; \
        if kill -0 $(cat \"$2\") 2>/dev/null; then echo SURVIVED; else echo GONE; fi";
    let mut c = Command::new("unshare");
    c.args([
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "sh",
        "-c",
        script,
    ])
    .arg(pidone())
    .arg(&weird)
    .arg(&pidfile);
    let o = run(c, DEADLINE);
    assert_eq!(stdout(&o), "GONE\n", "{}", show(&o));
}

// ------------------------------------ 5. capabilities that come back

/// The value of `Cap<set>:` in /proc/self/status text.
fn cap_set(out: &str, set: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("Cap{}:", set)))
        .unwrap_or_else(|| panic!("no Cap{} in:\n{}", set, out));
    u64::from_str_radix(line.split_whitespace().nth(1).expect("value"), 16).expect("hex")
}

#[test]
fn without_setpcap_a_dropped_capability_does_not_come_back_at_exec() {
    // The engine gives NET_ADMIN but withholds SETPCAP, so the classic
    // flow cannot shrink the bounding set. A root command's exec grants
    // it everything in the bounding set: NET_ADMIN would be back.
    const NET_ADMIN: u64 = 1 << 12;
    let mut b = dockerinit_bundle(
        "setpcap",
        &[],
        "grep -E '^(Cap|NoNewPrivs)' /proc/self/status",
    );
    let mut caps: Vec<&str> = DOCKER_CAPS
        .iter()
        .copied()
        .filter(|c| *c != "CAP_SETPCAP")
        .collect();
    caps.push("CAP_NET_ADMIN");
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set] = serde_json::json!(caps);
    }
    // As Docker: no_new_privs only on request (runc's spec sets it).
    b.config["process"]["noNewPrivileges"] = false.into();
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let out = stdout(&o);
    for set in ["Eff", "Prm", "Inh", "Amb"] {
        assert_eq!(
            cap_set(&out, set) & NET_ADMIN,
            0,
            "NET_ADMIN in Cap{}:\n{}",
            set,
            out
        );
    }
    let nnp = out.lines().any(|l| l == "NoNewPrivs:\t1");
    assert!(
        cap_set(&out, "Bnd") & NET_ADMIN == 0 || nnp,
        "NET_ADMIN stays grantable:\n{}",
        out
    );
    // The log says what happened, not that it was dropped.
    let err = stderr(&o);
    assert!(
        err.contains("CAP_NET_ADMIN")
            && err.contains("stay in the bounding set")
            && err.contains("no_new_privs is set"),
        "{}",
        show(&o)
    );
}

// ---------------------------------- 6. descriptors held by PID 1

#[test]
fn an_inherited_pipe_reaches_eof_once_the_command_closes_it() {
    // fd 7 is the write end of a pipe (a FIFO here, so that no process
    // outside the namespace holds it too). The command closes its copy and
    // runs on: the reader must see end-of-file.
    require("unshare", "util-linux");
    let sc = Scratch::new("h3-fd7");
    let fifo = sc.path("fifo");
    let ready = sc.path("ready");
    must(&format!("mkfifo {}", fifo.display()));
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open the fifo");
    let script =
        "exec 7>\"$0\"; exec \"$1\" -- sh -c 'exec 7>&-; touch \"$0\"; exec sleep 1000' \"$2\"";
    let mut c = Command::new("unshare");
    c.args([
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "sh",
        "-c",
        script,
    ])
    .arg(&fifo)
    .arg(pidone())
    .arg(&ready);
    let mut child = spawn_piped(c);
    wait_for_file(&ready, DEADLINE);
    let mut p = libc::pollfd {
        fd: reader.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd. A deadline, not a timing: EOF comes at
    // once or never.
    let n = unsafe { libc::poll(&mut p, 1, DEADLINE.as_millis() as i32) };
    let mut buf = [0u8; 16];
    let eof = n == 1 && reader.read(&mut buf).map(|n| n == 0).unwrap_or(false);
    let _ = child.kill();
    let o = child.wait_with_output().expect("output");
    assert!(eof, "no end-of-file: PID 1 still holds fd 7\n{}", show(&o));
}

// ------------------------------------------- 7. the pdeathsig race

#[test]
fn a_parent_gone_before_pdeathsig_is_set_counts_as_its_death() {
    // pidone -p TERM is started by a parent that dies while pidone still
    // reads its metadata from stdin, before it can set the parent-death
    // signal: that signal would never come. The middle shell waits until
    // pidone is blocked in read(0), then exits; the document is written
    // only once it is gone.
    let script = r#"sh -c '
        P=$$
        { while kill -0 $P 2>/dev/null; do sleep 0.02; done; cat /etc/pidone/doc.json; } |
            /sbin/pidone -p TERM --metadata - &
        C=$!
        until grep -q "^0 0x0 " /proc/$C/syscall 2>/dev/null; do sleep 0.01; done
        exit 0'
    until grep -q exit_code /var/log/pidone.status 2>/dev/null; do sleep 0.05; done
    cat /var/log/pidone.status"#;
    let mut b = Bundle::new("pdeath", &["/bin/sh", "-c", script]);
    b.write("etc/pidone/doc.json", r#"{"Cmd": ["sleep", "1000"]}"#);
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert!(
        stdout(&o).contains("\"exit_code\":143"),
        "the command got the SIGTERM:\n{}",
        show(&o)
    );
}
