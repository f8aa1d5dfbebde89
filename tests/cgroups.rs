//! The container's cgroup (docs/cgroups.md): OOM kills reported, the
//! final `cgroup.kill`, `--cgroup-nest`.
//!
//! cgroup v1 runs here under runc with a memory limit in config.json (this
//! host has v1 controllers). cgroup v2 runs under QEMU with the stock
//! kernel, in tests/vm.rs beside the boot machinery (`cgroup_v2_*`):
//! pidone as `/init` runs a script that makes the container's cgroup and
//! starts a second pidone in it, not PID 1.
mod common;
use common::*;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);
const LIMIT: u64 = 32 << 20;

fn sh(cmd: &str) -> Output {
    Command::new("sh").args(["-c", cmd]).output().expect("sh")
}

/// A runc bundle: a busybox root, pidone at /pidone, a 32 MiB memory limit;
/// the command is pidone in metadata mode (log and status file under
/// /var/log) with `meta` as its document.
struct Bundle {
    dir: Scratch,
    id: String,
}

impl Bundle {
    fn new(name: &str, meta: &serde_json::Value, cgroup_rw: bool) -> Bundle {
        require("runc", "runc");
        require("busybox", "busybox-static");
        require_root();
        let dir = Scratch::new(&format!("cg-{}", name));
        let root = dir.path("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "var/log"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let bb = String::from_utf8(sh("command -v busybox").stdout).expect("utf8");
        std::fs::copy(bb.trim(), root.join("bin/busybox")).expect("busybox");
        for a in ["sh", "dd", "echo", "sleep", "cat", "grep", "true"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).expect("link");
        }
        std::fs::copy(pidone(), root.join("pidone")).expect("pidone");
        std::fs::write(root.join("meta.json"), meta.to_string()).expect("meta");
        let o = sh(&format!("cd {} && runc spec", dir.0.display()));
        assert!(o.status.success(), "runc spec: {}", stderr(&o));
        let path = dir.path("config.json");
        let mut c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("config")).expect("json");
        c["root"] = serde_json::json!({"path": "rootfs", "readonly": false});
        let p = &mut c["process"];
        p["terminal"] = serde_json::json!(false);
        p["args"] = serde_json::json!(["/pidone", "--metadata", "/meta.json"]);
        p["env"] = serde_json::json!(["PATH=/bin"]);
        p.as_object_mut().expect("process").remove("rlimits");
        c["linux"]["resources"]["memory"] = serde_json::json!({"limit": LIMIT, "swap": LIMIT});
        if cgroup_rw {
            for m in c["mounts"].as_array_mut().expect("mounts") {
                if m["type"] == "cgroup" {
                    m["options"] = serde_json::json!(["nosuid", "noexec", "nodev", "relatime"]);
                }
            }
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&c).expect("json")).expect("config");
        Bundle {
            id: format!("pdcg-{}-{}", name, std::process::id()),
            dir,
        }
    }

    fn run(&self) -> Output {
        let mut cmd = Command::new("runc");
        cmd.arg("--root").arg(self.dir.path("state"));
        cmd.args(["run", "--bundle"]).arg(&self.dir.0).arg(&self.id);
        cmd.stdin(Stdio::null());
        run(cmd, DEADLINE)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path("rootfs").join(rel)).unwrap_or_default()
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("var/log/pidone.status")).expect("status file")
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(self.dir.path("state"))
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
    }
}

/// Past the 32 MiB limit: busybox dd fills a 64 MiB buffer.
const HOG: &str = "dd if=/dev/zero of=/dev/null bs=64M count=1";

fn meta(cmd: &[&str], extra: serde_json::Value) -> serde_json::Value {
    let mut m = serde_json::json!({"Cmd": cmd, "pidone:console": "", "Env": ["PATH=/bin"]});
    for (k, v) in extra.as_object().expect("object") {
        m[k] = v.clone();
    }
    m
}

fn lines_with<'a>(log: &'a str, what: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(what)).collect()
}

/// v1 as runc mounts it by default (read-only): a child of the command's
/// shell is killed, the shell reaps it and carries on; pidone cannot
/// register an eventfd there (a write), reads the count when it reaps,
/// and reports the kill; no error or warning about the cgroup itself.
#[test]
fn v1_read_only_child_killed_command_survives() {
    let script = format!("{}; echo \"child: $?\"; echo survived", HOG);
    let b = Bundle::new(
        "v1ro",
        &meta(&["sh", "-c", &script], serde_json::json!({})),
        false,
    );
    let o = b.run();
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("child: 137\nsurvived\n"),
        "{}",
        stdout(&o)
    );
    let log = b.read("var/log/pidone.log");
    let kills = lines_with(&log, "the OOM killer killed");
    assert_eq!(kills.len(), 1, "{}", log);
    assert!(
        kills[0].contains("the OOM killer killed a process (memory.limit_in_bytes 32 MiB)"),
        "{}",
        log
    );
    assert!(
        log.contains("(read when a process is reaped: the cgroup is read-only)"),
        "{}",
        log
    );
    assert!(!log.contains("ERROR") && !log.contains("cannot"), "{}", log);
    let s = b.status();
    assert_eq!(s["exit_code"], 0, "{}", s);
    assert_eq!(s["oom_kills"], 1, "{}", s);
    assert_eq!(s["oom_killed"], false, "{}", s);
}

/// v1 read-write: the eventfd on memory.oom_control; the command itself
/// is the victim: 137, named on the line, `oom_killed` in the status file.
#[test]
fn v1_command_killed_is_named_and_137() {
    let b = Bundle::new(
        "v1cmd",
        &meta(
            &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
            serde_json::json!({}),
        ),
        true,
    );
    let o = b.run();
    assert_eq!(o.status.code(), Some(137), "{}\n{}", stdout(&o), stderr(&o));
    let log = b.read("var/log/pidone.log");
    assert!(log.contains("memory.oom_control (eventfd)"), "{}", log);
    let kills = lines_with(&log, "the OOM killer killed");
    assert_eq!(kills.len(), 1, "{}", log);
    assert!(
        kills[0].contains("the OOM killer killed the command, pid ")
            && kills[0].ends_with(" (dd) (memory.limit_in_bytes 32 MiB)"),
        "{}",
        log
    );
    let s = b.status();
    assert_eq!(s["exit_code"], 137, "{}", s);
    assert_eq!(s["signal"], 9, "{}", s);
    assert_eq!(s["oom_kills"], 1, "{}", s);
    assert_eq!(s["oom_killed"], true, "{}", s);
}

/// What pidone does when it sees a kill must not charge the cgroup: the
/// victim's memory can still be charged for a moment after it is killed,
/// and a charge then starts a second OOM, which takes the next largest
/// process — the command's shell, or pidone itself. pidone once opened
/// and read the counter file at each kill (a kernfs buffer, charged):
/// about 1 kill in 60 was followed by such a second kill, and this test
/// failed 4 runs in 4. The shell runs its hog 100 times, once pidone
/// watches (a kill in the first milliseconds, before pidone has found its
/// cgroup, is not counted) and 0.1 s apart (back to back, the shell's own
/// fork of the next hog can meet the last one's memory and start the
/// second OOM itself). Every kill is a child's and is counted (v1 signals
/// before it counts: the last kill was once missed), and both survive.
#[test]
fn v1_many_child_kills_never_take_the_shell_or_pidone() {
    let script = format!(
        "while ! grep -q 'watching OOM' /var/log/pidone.log; do sleep 0.05; done
        i=0; k=0
        while [ $i -lt 100 ]; do {} 2>/dev/null; [ $? = 137 ] && k=$((k+1)); i=$((i+1)); sleep 0.1
        done
        echo survived, $k killed",
        HOG
    );
    let b = Bundle::new(
        "v1many",
        &meta(&["sh", "-c", &script], serde_json::json!({})),
        true,
    );
    let o = b.run();
    let log = b.read("var/log/pidone.log");
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), log);
    let out = stdout(&o);
    let killed: u64 = out
        .split("survived, ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count: {}", out));
    // The kernel may now and then fail a hog's allocation without a kill.
    assert!(killed >= 90, "{}", out);
    let s = b.status();
    assert_eq!(s["oom_kills"], killed, "{}\n{}", s, log);
    assert_eq!(s["oom_killed"], false, "{}", s);
}

/// `pidone:oom_exit`: a child's OOM kill ends the container with 137 while
/// the command would have gone on; reported as it happens (the eventfd),
/// not when the command ends.
#[test]
fn v1_oom_exit_ends_the_container() {
    let script = format!("{}; echo \"child: $?\"; sleep 30; echo not-ended", HOG);
    let b = Bundle::new(
        "v1exit",
        &meta(
            &["sh", "-c", &script],
            serde_json::json!({"pidone:oom_exit": true, "pidone:grace": 1}),
        ),
        true,
    );
    let o = b.run();
    assert_eq!(o.status.code(), Some(137), "{}\n{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains("not-ended"), "{}", stdout(&o));
    let log = b.read("var/log/pidone.log");
    assert_eq!(
        lines_with(&log, "the OOM killer killed a process").len(),
        1,
        "{}",
        log
    );
    assert!(
        log.contains("--oom-exit: ending the container with status 137"),
        "{}",
        log
    );
    let s = b.status();
    assert_eq!(s["exit_code"], 137, "{}", s);
    assert_eq!(s["oom_kills"], 1, "{}", s);
    assert_eq!(s["oom_killed"], false, "{}", s);
}
