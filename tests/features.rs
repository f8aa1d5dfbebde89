//! Issue 19's features, each driven through the real static binary (as
//! PID 1 of a fresh pid namespace where it supervises): a signal held by
//! `--delay`, a ConfigMap-style swap seen by `--on-change`, `pidone probe`
//! against real listeners, a NOTIFY_SOCKET datagram relayed, a `_FILE`
//! secret and an `--env-file`, restart and helpers from options.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const LONG: Duration = Duration::from_secs(60);

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A command that writes `ready`, then on SIGTERM appends the time (ns)
/// to `log` and exits 0.
fn term_recorder(ready: &Path, log: &Path) -> String {
    format!(
        "trap 'date +%s%N >> {log}; exit 0' TERM; touch {ready}; while :; do sleep 0.05; done",
        log = s(log),
        ready = s(ready)
    )
}

#[test]
fn delay_holds_the_signal_that_long_then_forwards_it() {
    let sc = Scratch::new("features-delay");
    let (ready, log) = (sc.path("ready"), sc.path("log"));
    let script = term_recorder(&ready, &log);
    let child = spawn(as_pid1(&[], &["--delay", "TERM:2", "sh", "-c", &script]));
    let pid1 = pid1_of(child.id());
    wait_for_file(&ready, LONG);
    let sent = now_ns();
    kill(pid1, libc::SIGTERM);
    let o = wait_output(child, LONG);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got: Vec<u128> = lines(&log).iter().map(|l| l.parse().unwrap()).collect();
    assert_eq!(got.len(), 1, "{:?}", got);
    let held = Duration::from_nanos((got[0] - sent) as u64);
    assert!(
        held >= Duration::from_millis(1990),
        "arrived after {:?}",
        held
    );
    assert!(held < Duration::from_secs(30), "arrived after {:?}", held);
}

#[test]
fn delay_a_second_signal_of_the_same_kind_goes_at_once() {
    let sc = Scratch::new("features-delay2");
    let (ready, log) = (sc.path("ready"), sc.path("log"));
    let script = term_recorder(&ready, &log);
    // Environment form; a delay far longer than the test may take.
    let mut cmd = as_pid1(&[], &["sh", "-c", &script]);
    cmd.env("PIDONE_DELAY", "TERM:300");
    let child = spawn(cmd);
    let pid1 = pid1_of(child.id());
    wait_for_file(&ready, LONG);
    kill(pid1, libc::SIGTERM);
    std::thread::sleep(Duration::from_secs(1));
    assert!(lines(&log).is_empty(), "the held SIGTERM arrived early");
    kill(pid1, libc::SIGTERM);
    let o = wait_output(child, LONG);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(lines(&log).len(), 1, "{:?}", lines(&log));
}

/// A Kubernetes ConfigMap volume: `..TIMESTAMP/` holds the files,
/// `..data` links to it, each key links through `..data`.
fn configmap(dir: &Path, stamp: &str, value: &str) {
    std::fs::create_dir_all(dir.join(stamp)).unwrap();
    std::fs::write(dir.join(stamp).join("app.conf"), value).unwrap();
}

/// The kubelet's atomic update: new timestamped directory, `..data_tmp`
/// link, renamed over `..data`, the old directory removed.
fn swap(dir: &Path, old: &str, new: &str) {
    configmap(dir, new, "v2");
    symlink(new, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(dir.join(old)).unwrap();
}

#[test]
fn configmap_swap_sends_exactly_one_signal_and_idle_watching_never_wakes() {
    let sc = Scratch::new("features-watch");
    let cm = sc.path("config");
    configmap(&cm, "..2026_12_02_00_00_00.1", "v1");
    symlink("..2026_12_02_00_00_00.1", cm.join("..data")).unwrap();
    symlink("..data/app.conf", cm.join("app.conf")).unwrap();
    let (ready, log) = (sc.path("ready"), sc.path("log"));
    let script = format!(
        "trap 'echo hup >> {log}' HUP; trap 'echo usr1 >> {log}' USR1; trap 'exit 0' TERM; \
         touch {ready}; while :; do sleep 0.05; done",
        log = s(&log),
        ready = s(&ready)
    );
    let dir_rule = format!("{}:HUP", s(&cm));
    let file_rule = format!("{}:USR1", s(&cm.join("app.conf")));
    let child = spawn(as_pid1(
        &[],
        &[
            "--on-change",
            &dir_rule,
            "--on-change",
            &file_rule,
            "sh",
            "-c",
            &script,
        ],
    ));
    let pid1 = pid1_of(child.id());
    wait_for_file(&ready, LONG);
    // Nothing changes: no signal, and pidone does not wake.
    let switches = || -> u64 {
        proc_status(pid1, "voluntary_ctxt_switches")
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(500));
    let before = switches();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(switches() - before, 0, "pidone woke while nothing changed");
    assert!(lines(&log).is_empty(), "{:?}", lines(&log));

    swap(&cm, "..2026_12_02_00_00_00.1", "..2026_12_02_00_01_00.2");
    wait_for_line(&log, "hup", LONG);
    wait_for_line(&log, "usr1", LONG);
    // Longer than the debounce's longest wait: nothing more comes.
    std::thread::sleep(Duration::from_secs(3));
    let mut got = lines(&log);
    got.sort();
    assert_eq!(got, ["hup", "usr1"]);

    // A plain edit of a file in a watched directory counts too (once).
    std::fs::write(cm.join("extra.conf"), "x").unwrap();
    wait_until("a second hup", LONG, || {
        lines(&log).iter().filter(|l| *l == "hup").count() == 2
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lines(&log).len(), 3, "{:?}", lines(&log));
    kill(pid1, libc::SIGTERM);
    let o = wait_output(child, LONG);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

fn probe(args: &[&str]) -> (Option<i32>, String) {
    let mut c = Command::new(pidone());
    c.arg("probe").args(args);
    let o = run(c, LONG);
    (o.status.code(), stdout(&o) + &stderr(&o))
}

/// A one-thread HTTP server: `/ok` is 200, anything else 500. Returns the
/// port and the request lines it saw.
fn http_server(requests: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..requests {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let first = req.lines().next().unwrap_or("").to_string();
            let status = if first.starts_with("GET /ok ") {
                "200 OK"
            } else {
                "500 Internal Server Error"
            };
            let _ =
                c.write_all(format!("HTTP/1.1 {}\r\nContent-Length: 0\r\n\r\n", status).as_bytes());
            seen.push(first);
        }
        seen
    });
    (port, h)
}

#[test]
fn probe_exit_codes_against_real_listeners() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (code, out) = probe(&[&format!("tcp:127.0.0.1:{}", port)]);
    assert_eq!(code, Some(0), "{}", out);
    assert_eq!(out.lines().count(), 1, "{}", out);
    drop(l);
    // The same port, closed now.
    let (code, out) = probe(&["--timeout", "2", &format!("tcp:localhost:{}", port)]);
    assert_eq!(code, Some(1), "{}", out);
    assert_eq!(out.lines().count(), 1, "{}", out);

    let (port, server) = http_server(2);
    let (code, out) = probe(&[&format!("http://127.0.0.1:{}/ok", port)]);
    assert_eq!(code, Some(0), "{}", out);
    let (code, out) = probe(&[&format!("http://127.0.0.1:{}/broken", port)]);
    assert_eq!(code, Some(1), "{}", out);
    assert!(out.contains("500") && out.lines().count() == 1, "{}", out);
    assert_eq!(
        server.join().unwrap(),
        ["GET /ok HTTP/1.0", "GET /broken HTTP/1.0"]
    );
    // A listener that never answers: the timeout, then 1.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (code, out) = probe(&["--timeout", "0.5", &format!("http://127.0.0.1:{}/", port)]);
    assert_eq!(code, Some(1), "{}", out);
    assert!(out.contains("timed out"), "{}", out);
    // No TLS, said so; a bad target is a usage error.
    let (code, out) = probe(&["https://127.0.0.1:1/"]);
    assert_eq!(code, Some(2), "{}", out);
    assert!(out.contains("no TLS"), "{}", out);
}

#[test]
fn notify_socket_datagram_reaches_the_engine_without_mainpid() {
    require("python3", "python3");
    let sc = Scratch::new("features-notify");
    let sock_path = sc.path("notify.sock");
    let engine = UnixDatagram::bind(&sock_path).unwrap();
    engine.set_read_timeout(Some(LONG)).unwrap();
    let py = "import os,socket\n\
              a=os.environ['NOTIFY_SOCKET']\n\
              a='\\0'+a[1:] if a.startswith('@') else a\n\
              s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
              s.sendto(b'READY=1\\nSTATUS=serving\\nMAINPID=4242', a)\n";
    let mut cmd = as_pid1(&[], &["python3", "-c", py]);
    cmd.env("NOTIFY_SOCKET", &sock_path);
    let child = spawn(cmd);
    let mut buf = [0u8; 4096];
    let (n, from) = engine.recv_from(&mut buf).unwrap();
    let o = wait_output(child, LONG);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        "READY=1\nSTATUS=serving",
        "MAINPID must not reach the engine"
    );
    // Relayed by pidone (its own socket), not sent by the command to
    // the engine's path directly.
    use std::os::linux::net::SocketAddrExt;
    assert!(from.as_abstract_name().is_some(), "{:?}", from);
}

#[test]
fn a_file_secret_reaches_the_command_and_not_the_log() {
    let sc = Scratch::new("features-secret");
    let secret = sc.path("db_password");
    std::fs::write(&secret, "s3cr3t-value\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let env_file = sc.path("app.env");
    std::fs::write(&env_file, "# comment\nGREETING=hello world\nEMPTY=\n").unwrap();
    let log = sc.path("pidone.log");
    let mut cmd = as_pid1(
        &[],
        &[
            "-vvv",
            "--env-from-files=DB_PASSWORD",
            "--env-file",
            &s(&env_file),
            "--log-file",
            &s(&log),
            "sh",
            "-c",
            "echo \"[$DB_PASSWORD]\" \"file=${DB_PASSWORD_FILE-unset}\" \"[$GREETING]\" \"empty=${EMPTY-unset}.\"",
        ],
    );
    cmd.env("DB_PASSWORD_FILE", &secret);
    let o = run(cmd, LONG);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        "[s3cr3t-value] file=unset [hello world] empty=."
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("DB_PASSWORD"), "{}", logged);
    for text in [stderr(&o), logged] {
        assert!(!text.contains("s3cr3t"), "the secret was logged: {}", text);
    }
    // A missing secret file: exit 125, naming the variable, not a value.
    let mut cmd = as_pid1(&[], &["true"]);
    cmd.env("PIDONE_ENV_FROM_FILES", "DB_PASSWORD")
        .env("DB_PASSWORD_FILE", sc.path("missing"));
    let o = run(cmd, LONG);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("stage=env: DB_PASSWORD_FILE"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn restart_and_helpers_from_the_command_line() {
    let sc = Scratch::new("features-restart");
    let runs = sc.path("runs");
    let script = format!("echo run >> {}; exit 3", s(&runs));
    let o = run(
        as_pid1(&[], &["--restart", "on-failure:2", "sh", "-c", &script]),
        LONG,
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(lines(&runs).len(), 3, "{:?}", lines(&runs));

    // Environment form of the policy; a helper (JSON form) started first.
    let mark = sc.path("helper-ran");
    let helper = format!(r#"["/bin/sh", "-c", "touch {}; exec sleep 600"]"#, s(&mark));
    let check = format!("test -e {} && echo helper-first", s(&mark));
    let mut cmd = as_pid1(&[], &["--helper", &helper, "sh", "-c", &check]);
    cmd.env("PIDONE_RESTART", "no");
    let o = run(cmd, LONG);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "helper-first");
}

#[test]
fn bad_feature_options_are_one_line_exit_2() {
    for args in [
        &["--delay", "KILL:3", "true"][..],
        &["--on-change", "relative:HUP", "true"],
        &["--restart", "sometimes", "true"],
        &["--helper", "pidfile=/x", "true"],
    ] {
        let mut c = Command::new(pidone());
        c.args(args);
        let o = run(c, LONG);
        assert_eq!(o.status.code(), Some(2), "{:?}: {}", args, stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    }
}
