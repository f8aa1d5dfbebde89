//! pidone as a zone's or platform's init: started with no arguments as
//! PID 1 of a new pid + mount + uts namespace, chrooted into a throwaway
//! busybox root holding /etc/pidone/metadata.json, /etc/passwd and
//! /etc/group. Everything it does is checked from inside (what the command
//! sees in /proc/self) and from outside (log, status file, exit code).
mod common;
use common::*;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
app:x:1000:1000:App:/home/app:/bin/sh\n\
web:x:1001:1001:Web:/srv/web:/bin/sh\n";
const GROUP: &str = "root:x:0:\n\
app:x:1000:\n\
web:x:1001:\n\
staff:x:50:app,web\n\
wheel:x:10:app\n\
audio:x:29:web\n";

/// A throwaway root: busybox, pidone, passwd/group, and a metadata doc.
struct Root {
    scratch: Scratch,
    /// Mount /etc read-only inside the namespace.
    ro_etc: bool,
}

impl Root {
    fn new(name: &str) -> Root {
        require_root();
        require("unshare", "util-linux");
        require("busybox", "busybox-static");
        let scratch = Scratch::new(&format!("meta-{}", name));
        let r = Root {
            scratch,
            ro_etc: false,
        };
        for d in [
            "bin",
            "sbin",
            "etc/pidone",
            "proc",
            "dev/pts",
            "tmp",
            "run",
            "root",
            "home/app",
            "srv",
            "opt",
        ] {
            std::fs::create_dir_all(r.path(d)).unwrap();
        }
        std::fs::set_permissions(r.path("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::os::unix::fs::chown(r.path("home/app"), Some(1000), Some(1000)).unwrap();
        for d in ["null", "zero", "urandom"] {
            std::fs::write(r.path(&format!("dev/{}", d)), "").unwrap();
        }
        let busybox = which("busybox");
        assert!(
            is_static(&busybox),
            "{} is dynamically linked and cannot run in the test root: install busybox-static",
            busybox.display()
        );
        std::fs::copy(&busybox, r.path("bin/busybox")).unwrap();
        let list = Command::new(&busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" && !applet.is_empty() {
                let _ = std::os::unix::fs::symlink("busybox", r.path(&format!("bin/{}", applet)));
            }
        }
        std::fs::copy(pidone(), r.path("sbin/pidone")).unwrap();
        r.write("etc/passwd", PASSWD);
        r.write("etc/group", GROUP);
        r
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.scratch.path(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    fn metadata(&self, json: &str) -> &Root {
        self.write("etc/pidone/metadata.json", json);
        self
    }

    fn log(&self) -> String {
        self.read("var/log/pidone.log")
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("var/log/pidone.status")).expect("status file is JSON")
    }

    /// pidone with no arguments as PID 1, chrooted into the root.
    fn command(&self) -> Command {
        let script = r#"set -e
R=$1
for d in null zero urandom; do mount --bind /dev/$d "$R/dev/$d"; done
mount --rbind /dev/pts "$R/dev/pts"
mount -t proc proc "$R/proc"
if [ "$RO_ETC" = 1 ]; then mount --bind "$R/etc" "$R/etc"; mount -o remount,bind,ro "$R/etc"; fi
exec chroot "$R" /sbin/pidone"#;
        let mut c = Command::new("unshare");
        c.args([
            "--pid",
            "--fork",
            "--mount",
            "--uts",
            "--net",
            "--kill-child",
            "sh",
            "-c",
            script,
            "sh",
        ]);
        c.arg(&self.scratch.0);
        c.env_clear();
        c.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        c.env("RO_ETC", if self.ro_etc { "1" } else { "0" });
        // A session of its own: no controlling terminal inherited from
        // whoever runs the tests.
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        c
    }

    fn run(&self) -> Output {
        run(self.command(), DEADLINE)
    }
}

fn which(tool: &str) -> PathBuf {
    let o = Command::new("sh")
        .args(["-c", &format!("command -v {}", tool)])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}

/// No PT_INTERP program header: the ELF needs no dynamic loader.
fn is_static(path: &std::path::Path) -> bool {
    let b = std::fs::read(path).unwrap_or_default();
    let u16_at = |o: usize| {
        b.get(o..o + 2)
            .map_or(0, |x| u16::from_le_bytes([x[0], x[1]]) as usize)
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map_or(0, |x| u64::from_le_bytes(x.try_into().unwrap()) as usize)
    };
    if b.get(..5) != Some(b"\x7fELF\x02") {
        return false;
    }
    let (phoff, size, n) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..n).all(|i| b.get(phoff + i * size..phoff + i * size + 4) != Some(&3u32.to_le_bytes()[..]))
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// `{"docker:cmd": ["/bin/sh", "-c", SCRIPT], extra...}`.
fn sh(script: &str, extra: &str) -> String {
    let sep = if extra.is_empty() { "" } else { ", " };
    format!(
        r#"{{"docker:cmd": ["/bin/sh", "-c", {}]{}{}}}"#,
        json(script),
        sep,
        extra
    )
}

fn out(o: &Output) -> String {
    stdout(o)
}

fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
}

/// A bad document: exit 125 and one FATAL line naming the stage and the
/// message, on stderr and in the log file.
fn assert_fatal(r: &Root, stage: &str, needle: &str) {
    let o = r.run();
    assert_code(&o, 125);
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.contains("FATAL"))
        .unwrap_or_else(|| panic!("no FATAL line in {:?}", err));
    assert!(
        line.starts_with(&format!("pidone: FATAL stage={}: ", stage)),
        "{}",
        line
    );
    assert!(
        line.contains(needle),
        "{:?} does not contain {:?}",
        line,
        needle
    );
    let log = r.log();
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("FATAL stage={}: ", stage)) && l.contains(needle)),
        "log: {}",
        log
    );
}

#[test]
fn smartos_readme_example_runs_sleep_3600() {
    let r = Root::new("readme");
    r.metadata(r#"{"docker:entrypoint": "[\"/bin/sleep\"]", "docker:cmd": "[\"3600\"]"}"#);
    let mut cmd = r.command();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid1 = pid1_of(child.id());
    // The command is pidone's child with exactly that argv.
    let start = Instant::now();
    let argv = loop {
        let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", pid1))
            .unwrap_or_default();
        let found = kids.split_whitespace().find_map(|k| {
            let c = std::fs::read(format!("/proc/{}/cmdline", k)).ok()?;
            (c == b"/bin/sleep\x003600\x00").then_some(c)
        });
        if let Some(a) = found {
            break a;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no /bin/sleep 3600 under pidone"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(argv, b"/bin/sleep\x003600\x00");
    kill(pid1, libc::SIGTERM);
    let o = wait_output(child, DEADLINE);
    assert_code(&o, 143);
    let st = r.status();
    assert_eq!(st["exit_code"], 143);
    assert_eq!(st["signal"], 15);
    let log = r.log();
    assert!(
        log.contains("argv[0] = /bin/sleep") && log.contains("argv[1] = 3600"),
        "{}",
        log
    );
}

/// A metadata dump as a SmartOS docker zone carries it works unchanged.
#[test]
fn smartos_zone_dump_unchanged() {
    let r = Root::new("dump");
    let dump = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/metadata/smartos-zone.json"
    ))
    .unwrap();
    r.metadata(&dump);
    let o = r.run();
    assert_code(&o, 0);
    assert_eq!(
        out(&o),
        "hello from the zone\n1000\n/srv/app\nbär\n3f0c2a9e61b8\n"
    );
    let log = r.log();
    assert!(!log.contains("unknown keys"), "{}", log);
    assert_eq!(
        r.read("etc/resolv.conf"),
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch zone.example\n"
    );
}

#[test]
fn string_encoded_and_native_arrays() {
    let r = Root::new("arrays");
    r.metadata(r#"{"docker:entrypoint": "[\"/bin/echo\", \"caf\\u00e9\"]", "docker:cmd": ["native", "ünï"]}"#);
    let o = r.run();
    assert_code(&o, 0);
    assert_eq!(out(&o), "café native ünï\n");
    r.metadata(
        r#"{"docker:entrypoint": ["/bin/echo"], "docker:cmd": "[\"enc\", \"\\ud83d\\ude00\"]"}"#,
    );
    let o = r.run();
    assert_code(&o, 0);
    assert_eq!(out(&o), "enc 😀\n");
}

#[test]
fn oci_image_config_top_level_and_nested() {
    let r = Root::new("oci");
    r.metadata(r#"{"architecture": "amd64", "config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo $A; id -u; pwd"],
        "Env": ["A=oci"], "WorkingDir": "/opt", "User": "app", "Labels": null}}"#);
    let o = r.run();
    assert_code(&o, 0);
    assert_eq!(out(&o), "oci\n1000\n/opt\n");
    assert!(
        r.log()
            .contains("ignoring unknown keys: Labels, architecture"),
        "{}",
        r.log()
    );
    r.metadata(
        r#"{"Entrypoint": null, "Cmd": ["/bin/echo", "top"], "User": "", "WorkingDir": ""}"#,
    );
    let o = r.run();
    assert_code(&o, 0);
    assert_eq!(out(&o), "top\n");
    r.metadata(r#"{"Config": {"Cmd": ["/bin/echo", "Config"]}}"#);
    assert_eq!(out(&r.run()), "Config\n");
}

#[test]
fn entrypoint_only_cmd_only_and_both_empty() {
    let r = Root::new("argv");
    r.metadata(r#"{"docker:entrypoint": ["/bin/echo", "e"]}"#);
    assert_eq!(out(&r.run()), "e\n");
    r.metadata(r#"{"docker:cmd": "[\"/bin/echo\", \"c\"]"}"#);
    assert_eq!(out(&r.run()), "c\n");
    r.metadata(r#"{"docker:entrypoint": "[]", "docker:cmd": []}"#);
    assert_fatal(
        &r,
        "metadata",
        "no command: docker:entrypoint and docker:cmd are both missing or empty",
    );
    r.metadata(r#"{"docker:env": ["A=1"]}"#);
    assert_fatal(&r, "metadata", "no command");
}

#[test]
fn bad_metadata_is_one_line_and_125() {
    let r = Root::new("bad");
    r.metadata("{\n  \"docker:cmd\": [\"/bin/true\",\n}\n");
    assert_fatal(
        &r,
        "metadata",
        "the document: not valid JSON (line 3, column 1",
    );
    r.metadata("[\"/bin/true\"]");
    assert_fatal(
        &r,
        "metadata",
        "the document: is an array; expected one JSON object",
    );
    r.metadata(r#"{"docker:cmd": 7}"#);
    assert_fatal(
        &r,
        "metadata",
        "docker:cmd: got a number; expected an array of strings",
    );
    r.metadata(r#"{"docker:cmd": ["/bin/echo", 1]}"#);
    assert_fatal(
        &r,
        "metadata",
        "docker:cmd: element 1 is a number; expected an array of strings",
    );
    r.metadata(r#"{"docker:cmd": "[\"/bin/echo\""}"#);
    assert_fatal(
        &r,
        "metadata",
        "docker:cmd: the string is not valid JSON text (line 1, column 12",
    );
    r.metadata(r#"{"docker:cmd": ["/bin/true"], "docker:tty": "yes"}"#);
    assert_fatal(
        &r,
        "metadata",
        "docker:tty: got a string; expected true or false",
    );
    r.metadata(r#"{"docker:cmd": ["/bin/true"], "docker:user": 1000}"#);
    assert_fatal(
        &r,
        "metadata",
        "docker:user: got a number; expected a string",
    );
    r.metadata(r#"{"Cmd": ["/bin/true"], "Env": "A=1"}"#);
    assert_fatal(&r, "metadata", "Env: the string is not valid JSON text");
    r.metadata(r#"{"Cmd": ["/bin/true"], "pidone:restart": "sometimes"}"#);
    assert_fatal(
        &r,
        "metadata",
        "pidone:restart: \"sometimes\"; expected no, always, on-failure or on-failure:N",
    );
    r.metadata(&format!(
        "{{\"Cmd\": [\"/bin/true\"], \"pad\": \"{}\"}}",
        "x".repeat(1 << 20)
    ));
    assert_fatal(&r, "metadata", "larger than 1048576 bytes");
    std::fs::remove_file(r.path("etc/pidone/metadata.json")).unwrap();
    assert_fatal(&r, "metadata", "no metadata source: no socket /.zonecontrol/metadata.sock, no socket /native/.zonecontrol/metadata.sock, no socket /var/run/smartdc/metadata.sock, no file /etc/pidone/metadata.json");
}

#[test]
fn unknown_keys_are_logged_and_ignored() {
    let r = Root::new("unknown");
    r.metadata(r#"{"docker:cmd": ["/bin/true"], "docker:id": "abc", "sdc:uuid": "u", "docker:frobnicate": 1, "pidone:bogus": true}"#);
    let o = r.run();
    assert_code(&o, 0);
    let log = r.log();
    assert!(
        log.contains("WARN metadata: ignoring unknown keys: docker:frobnicate, pidone:bogus"),
        "{}",
        log
    );
    assert!(!log.contains("docker:id"), "{}", log);
}

#[test]
fn env_defaults_order_and_replacement_and_no_values_in_the_log() {
    let r = Root::new("env");
    r.metadata(
        r#"{"docker:cmd": ["/bin/env"], "sdc:hostname": "meta-box",
        "docker:linkEnv": "[\"A=link\", \"B=link\"]",
        "docker:env": ["B=env", "PATH=/bin:/usr/bin", "noequals", "=novalue", "SECRET=hunter2-value", "A=again"]}"#,
    );
    let o = r.run();
    assert_code(&o, 0);
    let text = out(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "PATH=/bin:/usr/bin",
            "HOME=/",
            "HOSTNAME=meta-box",
            "A=again",
            "B=env",
            "SECRET=hunter2-value"
        ],
        "no TERM outside tty mode; later names replace in place"
    );
    let log = r.log();
    for name in ["PATH", "HOME", "HOSTNAME", "A", "B", "SECRET"] {
        assert!(log.contains(&format!("INFO env {}\n", name)), "{}", log);
    }
    assert!(
        log.contains("skipping docker:env entry 3: expected NAME=value")
            && !log.contains("noequals"),
        "{}",
        log
    );
    for value in ["hunter2-value", "again", "link", "/bin:/usr/bin"] {
        assert!(
            !log.contains(value),
            "env value {:?} in the log:\n{}",
            value,
            log
        );
    }
    // The default PATH when the metadata sets none.
    r.metadata(r#"{"docker:cmd": ["/bin/sh", "-c", "echo $PATH"]}"#);
    assert_eq!(
        out(&r.run()),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    );
}

/// Uid, Gid, Groups and HOME as the command sees them.
fn creds(r: &Root, user: &str) -> (String, String, Vec<u32>, String) {
    r.metadata(&sh(
        "grep -E '^(Uid|Gid|Groups):' /proc/self/status; echo HOME=$HOME",
        &format!("\"docker:user\": {}", json(user)),
    ));
    let o = r.run();
    assert_code(&o, 0);
    let text = out(&o);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let mut groups: Vec<u32> = field("Groups:")
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    groups.sort();
    (field("Uid:"), field("Gid:"), groups, field("HOME="))
}

#[test]
fn every_user_form_with_supplementary_groups() {
    let r = Root::new("user");
    let cases: &[(&str, &str, &str, &[u32], &str)] = &[
        ("app", "1000", "1000", &[10, 50, 1000], "/home/app"),
        ("1000", "1000", "1000", &[10, 50, 1000], "/home/app"),
        ("app:staff", "1000", "50", &[10, 50], "/home/app"),
        ("1001:1000", "1001", "1000", &[29, 50, 1000], "/srv/web"),
        ("app:29", "1000", "29", &[10, 29, 50], "/home/app"),
        ("1001:wheel", "1001", "10", &[10, 29, 50], "/srv/web"),
        ("4242", "4242", "0", &[0], "/"),
        ("4242:4343", "4242", "4343", &[4343], "/"),
        ("root", "0", "0", &[0], "/root"),
    ];
    for (spec, uid, gid, groups, home) in cases {
        let (u, g, gs, h) = creds(&r, spec);
        assert_eq!(u, format!("{0} {0} {0} {0}", uid), "uid of {}", spec);
        assert_eq!(g, format!("{0} {0} {0} {0}", gid), "gid of {}", spec);
        assert_eq!(gs, *groups, "groups of {}", spec);
        assert_eq!(h, *home, "home of {}", spec);
    }
    assert!(
        r.log()
            .contains("user app uid 1000 gid 1000 groups 1000,50,10 home /home/app"),
        "{}",
        r.log()
    );
}

#[test]
fn unknown_user_or_group_and_empty_parts_are_fatal() {
    let r = Root::new("baduser");
    for (spec, msg) in [
        ("nobody", "no user \"nobody\" in /etc/passwd"),
        ("app:nogroup", "no group \"nogroup\" in /etc/group"),
        ("app:", "user \"app:\" has an empty part"),
        (":staff", "user \":staff\" has an empty part"),
    ] {
        r.metadata(&sh("id", &format!("\"docker:user\": {}", json(spec))));
        assert_fatal(&r, "user", msg);
    }
}

#[test]
fn workdir_created_owned_and_tilde() {
    let r = Root::new("workdir");
    r.metadata(&sh(
        "pwd; touch mine",
        r#""docker:user": "app", "docker:workdir": "~/new/deeper""#,
    ));
    let o = r.run();
    assert_code(&o, 0);
    assert_eq!(out(&o), "/home/app/new/deeper\n");
    for d in [
        "home/app/new",
        "home/app/new/deeper",
        "home/app/new/deeper/mine",
    ] {
        let m = std::fs::metadata(r.path(d)).unwrap();
        assert_eq!((m.uid(), m.gid()), (1000, 1000), "{}", d);
    }
    assert!(
        r.log().contains("workdir /home/app/new created"),
        "{}",
        r.log()
    );
    // Existing directories keep their owner.
    r.metadata(&sh(
        "pwd",
        r#""docker:user": "app", "docker:workdir": "/srv/data""#,
    ));
    assert_eq!(out(&r.run()), "/srv/data\n");
    assert_eq!(std::fs::metadata(r.path("srv")).unwrap().uid(), 0);
    assert_eq!(std::fs::metadata(r.path("srv/data")).unwrap().uid(), 1000);
    // Not enterable as the user: fatal.
    std::fs::create_dir_all(r.path("root/secret")).unwrap();
    r.metadata(&sh(
        "pwd",
        r#""docker:user": "app", "docker:workdir": "/root/secret""#,
    ));
    std::fs::set_permissions(r.path("root"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = r.run();
    assert_code(&o, 125);
    assert!(
        stderr(&o).contains("stage=workdir: cannot enter /root/secret: Permission denied"),
        "{}",
        stderr(&o)
    );
    r.metadata(&sh("pwd", r#""docker:workdir": "/etc/passwd""#));
    assert_fatal(&r, "workdir", "/etc/passwd is not a directory");
}

#[test]
fn command_lookup_in_the_new_path() {
    let r = Root::new("lookup");
    r.write("opt/tools/hello", "#!/bin/sh\necho hello from $0\n");
    std::fs::set_permissions(
        r.path("opt/tools/hello"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    // A relative PATH entry is taken from the workdir.
    r.metadata(r#"{"docker:cmd": ["hello"], "docker:env": ["PATH=/nowhere:tools"], "docker:workdir": "/opt"}"#);
    let o = r.run();
    assert_code(&o, 0);
    assert_eq!(out(&o), "hello from tools/hello\n");
    r.metadata(r#"{"docker:cmd": ["no-such-tool"]}"#);
    let o = r.run();
    assert_code(&o, 127);
    assert!(
        stderr(&o).contains("cannot run \"no-such-tool\": not found in PATH"),
        "{}",
        stderr(&o)
    );
    r.metadata(r#"{"docker:cmd": ["/opt/tools"]}"#);
    assert_code(&r.run(), 126);
    std::fs::set_permissions(
        r.path("opt/tools/hello"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    r.metadata(r#"{"docker:cmd": ["/opt/tools/hello"]}"#);
    let o = r.run();
    assert_code(&o, 126);
    assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
}

/// A pseudo-terminal pair; the slave stays open here so the master can be
/// read after the command has gone.
struct Pty {
    master: i32,
    slave: i32,
    name: String,
}

impl Pty {
    fn open() -> Pty {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: valid out-pointers; no name/termios/winsize.
        let r = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
        let name = std::fs::read_link(format!("/proc/self/fd/{}", slave))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // SAFETY: flags on our descriptors.
        unsafe {
            libc::fcntl(
                master,
                libc::F_SETFL,
                libc::fcntl(master, libc::F_GETFL) | libc::O_NONBLOCK,
            );
            libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC);
            libc::fcntl(slave, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        Pty {
            master,
            slave,
            name,
        }
    }

    fn read_all(&self) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reading into a local buffer.
            let n = unsafe { libc::read(self.master, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        String::from_utf8_lossy(&out).replace('\r', "")
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // SAFETY: closing our descriptors.
        unsafe {
            libc::close(self.master);
            libc::close(self.slave);
        }
    }
}

/// `pid pgrp session tty_nr tpgid` of a process, from `/proc/N/stat`.
fn stat_fields(line: &str) -> [i64; 5] {
    let rest = &line[line.rfind(')').expect("stat line") + 1..];
    let f: Vec<i64> = rest
        .split_whitespace()
        .skip(1)
        .take(5)
        .map(|x| x.parse().unwrap())
        .collect();
    let pid: i64 = line.split_whitespace().next().unwrap().parse().unwrap();
    [pid, f[1], f[2], f[3], f[4]]
}

#[test]
fn tty_mode_session_leader_with_controlling_tty() {
    let pty = Pty::open();
    let r = Root::new("tty");
    r.metadata(&sh(
        "cat /proc/$$/stat; echo TERM=$TERM; for f in 0 1 2; do readlink /proc/$$/fd/$f; done",
        &format!(
            r#""docker:tty": "true", "pidone:console": {}"#,
            json(&pty.name)
        ),
    ));
    let o = r.run();
    assert_code(&o, 0);
    let text = pty.read_all();
    let stat = text
        .lines()
        .find(|l| l.contains(") "))
        .unwrap_or_else(|| panic!("no stat on the pty: {:?}", text));
    let [pid, pgrp, session, tty_nr, tpgid] = stat_fields(stat);
    assert_eq!(pid, session, "the command leads its own session: {}", stat);
    assert_eq!(pid, pgrp, "{}", stat);
    assert_ne!(
        tty_nr, 0,
        "the command has a controlling terminal: {}",
        stat
    );
    assert_eq!(
        tpgid, pgrp,
        "the command is the terminal's foreground group: {}",
        stat
    );
    assert!(text.contains("TERM=xterm"), "{}", text);
    assert_eq!(
        text.lines().filter(|l| *l == pty.name).count(),
        3,
        "stdin, stdout, stderr on the console: {}",
        text
    );
    assert_eq!(out(&o), "", "nothing on the inherited stdout");
    assert!(
        r.log().contains(&format!("console {} (tty", pty.name)),
        "{}",
        r.log()
    );
}

#[test]
fn non_tty_console_stdio() {
    let pty = Pty::open();
    let r = Root::new("notty");
    r.metadata(&sh(
        "echo out; echo err >&2; cat /proc/$$/stat; echo TERM=$TERM; readlink /proc/$$/fd/0",
        &format!(r#""pidone:console": {}"#, json(&pty.name)),
    ));
    let o = r.run();
    assert_code(&o, 0);
    let text = pty.read_all();
    assert!(text.contains("out\n") && text.contains("err\n"), "{}", text);
    let stat = text.lines().find(|l| l.contains(") ")).unwrap();
    let [pid, _, session, tty_nr, _] = stat_fields(stat);
    assert_ne!(pid, session, "no new session outside tty mode");
    assert_eq!(tty_nr, 0, "no controlling terminal outside tty mode");
    assert!(text.contains("TERM=\n"), "TERM only in tty mode: {}", text);
    assert!(text.contains("/dev/null\n"), "stdin is /dev/null: {}", text);
    // open_stdin: stdin from the console too.
    r.metadata(&sh(
        "readlink /proc/$$/fd/0",
        &format!(
            r#""docker:open_stdin": true, "pidone:console": {}"#,
            json(&pty.name)
        ),
    ));
    assert_code(&r.run(), 0);
    assert!(pty.read_all().contains(&pty.name), "stdin on the console");
    // No console at all: a warning, and the inherited stdio is kept.
    r.metadata(&sh("echo inherited", ""));
    let o = r.run();
    assert_code(&o, 0);
    assert_eq!(out(&o), "inherited\n");
    assert!(
        stderr(&o).contains("WARN stage=console: cannot open /dev/console"),
        "{}",
        stderr(&o)
    );
}

const HELPERS: &str = r#""pidone:helpers": [
    {"argv": ["/bin/sleep", "1001"]},
    {"argv": ["/bin/sh", "-c", "sleep 1002 & echo $! > /run/bg.pid"], "pidfile": "/run/bg.pid"},
    {"argv": ["/bin/sh", "-c", "echo helper-output-in-the-log; sleep 1003 &"]},
    {"argv": ["/bin/sh", "-c", "trap '' TERM; exec sleep 1004"]}]"#;

fn sleepers(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .map(|l| l.trim_start_matches("/bin/"))
        .filter(|l| l.starts_with("sleep 100"))
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// Lists the sleep processes as the command sees them.
const LIST: &str = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done | sed 's/ $//'";

#[test]
fn helpers_started_and_killed_with_noipmgmtd() {
    let r = Root::new("helpkill");
    r.metadata(&sh(
        LIST,
        &format!(r#"{}, "docker:noipmgmtd": "true""#, HELPERS),
    ));
    let o = r.run();
    assert_code(&o, 0);
    assert!(sleepers(&out(&o)).is_empty(), "helpers left: {}", out(&o));
    let log = r.log();
    assert!(log.contains("helper /bin/sleep started: pid"), "{}", log);
    assert!(
        log.contains("\nhelper-output-in-the-log\n"),
        "helper stdout goes to the log: {}",
        log
    );
    assert_eq!(
        log.matches("INFO helper /bin/sh started: pid").count(),
        3,
        "{}",
        log
    );
    assert!(log.contains(": SIGTERM\n"), "{}", log);
    assert!(log.contains("was killed by SIGTERM"), "{}", log);
    assert!(
        log.contains("still running after 2 s: SIGKILL"),
        "the TERM-ignoring helper: {}",
        log
    );
    assert!(log.contains("was killed by SIGKILL"), "{}", log);
}

#[test]
fn helpers_keep_running_without_noipmgmtd() {
    let r = Root::new("helpkeep");
    r.metadata(&sh(
        LIST,
        &format!(
            r#"{}, "docker:noipmgmtd": false, "pidone:grace": 0.5"#,
            HELPERS
        ),
    ));
    let o = r.run();
    assert_code(&o, 0);
    assert_eq!(
        sleepers(&out(&o)),
        ["sleep 1001", "sleep 1002", "sleep 1003", "sleep 1004"]
    );
    let log = r.log();
    assert!(!log.contains(": SIGTERM\n"), "no helper killed: {}", log);
    // A helper that cannot start is fatal.
    r.metadata(&sh(
        "true",
        r#""pidone:helpers": [{"argv": ["no-such-daemon"]}]"#,
    ));
    assert_fatal(
        &r,
        "helpers",
        "helper: cannot run \"no-such-daemon\": not found in PATH",
    );
}

#[test]
fn hostname_hosts_and_resolv_conf() {
    let r = Root::new("hosts");
    let keys = r#""sdc:hostname": "meta-host", "sdc:resolvers": "[\"10.0.0.53\", \"2001:db8::53\"]", "docker:dnssearch": ["a.example", "b.example"]"#;
    r.metadata(&sh("hostname; echo HOSTNAME=$HOSTNAME", keys));
    let o = r.run();
    assert_code(&o, 0);
    assert_eq!(out(&o), "meta-host\nHOSTNAME=meta-host\n");
    let hosts = r.read("etc/hosts");
    assert!(
        hosts.contains("127.0.0.1\tlocalhost\n") && hosts.contains("\tmeta-host\n"),
        "{}",
        hosts
    );
    assert_eq!(
        r.read("etc/resolv.conf"),
        "nameserver 10.0.0.53\nnameserver 2001:db8::53\nsearch a.example b.example\n"
    );
    let log = r.log();
    assert!(
        log.contains("INFO hostname set\n")
            && !log.contains("hostname meta-host")
            && log.contains("INFO wrote /etc/resolv.conf"),
        "{}",
        log
    );
    // pidone:hosts false: left alone.
    r.write("etc/hosts", "keep\n");
    std::fs::remove_file(r.path("etc/resolv.conf")).unwrap();
    r.metadata(&sh(
        "true",
        &format!(r#"{}, "pidone:hosts": "false""#, keys),
    ));
    assert_code(&r.run(), 0);
    assert_eq!(r.read("etc/hosts"), "keep\n");
    assert!(!r.path("etc/resolv.conf").exists());
    // Without the keys nothing is written.
    r.metadata(&sh("true", ""));
    assert_code(&r.run(), 0);
    assert_eq!(r.read("etc/hosts"), "keep\n");
    assert!(!r.path("etc/resolv.conf").exists());
    // A read-only /etc: warnings, the command still runs.
    let mut ro = Root::new("hostsro");
    ro.ro_etc = true;
    ro.metadata(&sh("echo ran", keys));
    let o = ro.run();
    assert_code(&o, 0);
    assert_eq!(out(&o), "ran\n");
    assert!(
        stderr(&o).contains("WARN stage=hostname: cannot write /etc/hosts: Read-only file system"),
        "{}",
        stderr(&o)
    );
}

fn runs(r: &Root) -> usize {
    r.read("tmp/runs").lines().count()
}

#[test]
fn restart_on_failure_with_doubling_delays() {
    let r = Root::new("restart");
    r.metadata(&sh(
        "echo run >> /tmp/runs; exit 3",
        r#""pidone:restart": "on-failure:2""#,
    ));
    let o = r.run();
    assert_code(&o, 3);
    assert_eq!(runs(&r), 3);
    let log = r.log();
    assert!(
        log.contains("INFO restart 1 in 100 ms") && log.contains("INFO restart 2 in 200 ms"),
        "{}",
        log
    );
    assert!(!log.contains("restart 3"), "{}", log);
    assert_eq!(log.matches("exited with status 3").count(), 3, "{}", log);
    let st = r.status();
    assert_eq!(
        (st["exit_code"].as_i64(), st["restarts"].as_i64()),
        (Some(3), Some(2))
    );

    // on-failure does not restart a success; "no" (the default) never.
    std::fs::remove_file(r.path("tmp/runs")).unwrap();
    r.metadata(&sh(
        "echo run >> /tmp/runs; exit 0",
        r#""pidone:restart": "on-failure""#,
    ));
    assert_code(&r.run(), 0);
    assert_eq!(runs(&r), 1);
    std::fs::remove_file(r.path("tmp/runs")).unwrap();
    r.metadata(&sh("echo run >> /tmp/runs; exit 4", ""));
    assert_code(&r.run(), 4);
    assert_eq!(runs(&r), 1);
}

#[test]
fn restart_delay_resets_after_a_long_run() {
    let r = Root::new("reset");
    // Runs 1 and 2 fail at once; run 3 lasts over 10 s, then fails; the
    // delay after it is back to 100 ms.
    r.metadata(&sh(
        "echo run >> /tmp/runs; [ $(wc -l < /tmp/runs) -eq 3 ] && sleep 10.5; exit 1",
        r#""pidone:restart": "on-failure:3""#,
    ));
    let o = r.run();
    assert_code(&o, 1);
    assert_eq!(runs(&r), 4);
    let log = r.log();
    let delays: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("INFO restart ").nth(1))
        .collect();
    assert_eq!(
        delays,
        ["1 in 100 ms", "2 in 200 ms", "3 in 100 ms"],
        "{}",
        log
    );
}

#[test]
fn restart_always_stops_on_sigterm() {
    let r = Root::new("always");
    r.metadata(&sh(
        "echo run >> /tmp/runs; exit 0",
        r#""pidone:restart": "always""#,
    ));
    let mut cmd = r.command();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid1 = pid1_of(child.id());
    let start = Instant::now();
    while runs(&r) < 3 {
        assert!(start.elapsed() < DEADLINE, "always did not restart");
        std::thread::sleep(Duration::from_millis(10));
    }
    kill(pid1, libc::SIGTERM);
    let o = wait_output(child, DEADLINE);
    assert!(
        matches!(o.status.code(), Some(0) | Some(143)),
        "{:?} {}",
        o.status,
        stderr(&o)
    );
    let n = runs(&r);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(runs(&r), n, "no run after pidone stopped");
    assert!(r.log().contains("INFO restart 2 in 200 ms"), "{}", r.log());
}

#[test]
fn status_file_and_log_file() {
    let r = Root::new("status");
    // An old, oversized log is rotated at start.
    r.write("var/log/pidone.log", &"x".repeat((1 << 20) + 10));
    r.metadata(&sh(
        "exit 7",
        r#""sdc:hostname": "meta-st", "docker:user": "app", "docker:env": ["TOKEN=s3cr3t"]"#,
    ));
    let o = r.run();
    assert_code(&o, 7);
    assert_eq!(
        std::fs::metadata(r.path("var/log/pidone.log.1"))
            .unwrap()
            .len(),
        (1 << 20) + 10
    );
    let st = r.status();
    let keys: Vec<&String> = st.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "ended",
            "exit_code",
            "log_lines_dropped",
            "restarts",
            "signal",
            "started"
        ]
    );
    assert_eq!(st["exit_code"], 7);
    assert_eq!(st["log_lines_dropped"], 0);
    assert!(st["signal"].is_null());
    assert_eq!(st["restarts"], 0);
    for k in ["started", "ended"] {
        assert!(is_timestamp(st[k].as_str().unwrap()), "{}", st[k]);
    }
    assert!(st["started"].as_str() <= st["ended"].as_str());

    let log = r.log();
    let meta = std::fs::metadata(r.path("var/log/pidone.log")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let mut levels = BTreeMap::new();
    for l in log.lines() {
        let (ts, rest) = l.split_once(' ').unwrap();
        assert!(is_timestamp(ts), "{}", l);
        *levels
            .entry(rest.split(' ').next().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(levels.contains_key("INFO"), "{}", log);
    for needle in [
        "INFO metadata from /etc/pidone/metadata.json",
        "INFO metadata: SmartOS zone keys",
        "INFO hostname set",
        "INFO user app uid 1000 gid 1000 groups 1000,50,10 home /home/app",
        "INFO workdir /",
        "INFO env TOKEN",
        "INFO argv[0] = /bin/sh",
        "INFO argv[2] = exit 7",
        "INFO started pid",
        "exited with status 7",
    ] {
        assert!(log.contains(needle), "{:?} missing from:\n{}", needle, log);
    }
    assert!(!log.contains("s3cr3t"), "env value in the log:\n{}", log);
}

fn is_timestamp(s: &str) -> bool {
    // YYYY-MM-DDTHH:MM:SS.mmmZ
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn pidone_log_key_moves_or_disables_the_log() {
    let r = Root::new("logkey");
    r.metadata(&sh("true", r#""pidone:log": "/tmp/elsewhere/p.log""#));
    assert_code(&r.run(), 0);
    assert!(r.read("tmp/elsewhere/p.log").contains("INFO started pid"));
    assert!(!r.path("var/log/pidone.log").exists());
    r.metadata(&sh("true", r#""pidone:log": """#));
    assert_code(&r.run(), 0);
    assert!(!r.path("var/log/pidone.log").exists());
    // The status file is still written.
    assert_eq!(r.status()["exit_code"], 0);
}

#[test]
fn syslog_gets_the_records() {
    let r = Root::new("syslog");
    let sock = std::os::unix::net::UnixDatagram::bind(r.path("dev/log")).expect("bind dev/log");
    sock.set_nonblocking(true).unwrap();
    r.metadata(&sh("true", r#""pidone:syslog": "true""#));
    assert_code(&r.run(), 0);
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
        got.push('\n');
    }
    assert!(
        got.contains("pidone[1]") && got.contains("started pid"),
        "{}",
        got
    );
}
