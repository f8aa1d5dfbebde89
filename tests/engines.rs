//! Real container engines: pidone as the classic `/.dockerinit` under runc
//! (one OCI bundle per flag vector a Docker version passed, and vectors no
//! version passed), and as podman's init in both of podman's forms.
//!
//! Every resource is named with the `pdk` prefix and the test's pid:
//! runc ids, podman names, network namespaces, veth pairs; the subnets are
//! 10.213.K.0/24, K fixed per test.
mod common;
use common::*;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// Every capability runc 1.1 knows (0..=40); the bundles grant them all so
/// that what pidone drops is visible.
const CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// What classic Docker dropped from unprivileged containers (engines.md).
const CLASSIC_DROP: &[&str] = &[
    "SETPCAP",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "NET_ADMIN",
];

fn cap_bit(name: &str) -> u64 {
    1u64 << CAPS
        .iter()
        .position(|c| *c == name)
        .expect("known capability")
}

/// The capabilities a container can be given here: the test's own
/// bounding set (a host may withhold some, e.g. SYS_RESOURCE).
fn host_caps() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    cap_line(&status, "Bnd") & ((1u64 << CAPS.len()) - 1)
}

fn sh(cmd: &str) -> Output {
    Command::new("sh").args(["-c", cmd]).output().expect("sh")
}

fn must(cmd: &str) {
    let o = sh(cmd);
    assert!(o.status.success(), "`{}` failed: {}", cmd, stderr(&o));
}

fn tag(name: &str) -> String {
    format!("pdk-{}-{}", name, std::process::id())
}

/// A busybox root file system in a scratch directory.
struct Rootfs {
    scratch: Scratch,
}

impl Rootfs {
    fn new(name: &str) -> Rootfs {
        require("busybox", "busybox-static");
        let scratch = Scratch::new(&format!("pdk-{}", name));
        let root = scratch.path("rootfs");
        for d in [
            "bin", "etc", "proc", "sys", "dev", "tmp", "run", "var/log", "srv", "root",
        ] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let busybox = String::from_utf8(sh("command -v busybox").stdout).expect("utf8");
        let busybox = busybox.trim();
        require("readelf", "binutils");
        let elf = sh(&format!("readelf -l {}", busybox));
        assert!(
            !stdout(&elf).contains("program interpreter"),
            "{} is dynamically linked; the containers need `apt-get install busybox-static`",
            busybox
        );
        std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
        // The host's copy: executing the fresh one can hit ETXTBSY while
        // another test thread forks with its write descriptor open.
        let list = Command::new(busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in stdout(&list)
            .lines()
            .filter(|a| !a.is_empty() && *a != "busybox")
        {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .expect("passwd");
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n",
        )
        .expect("group");
        std::fs::write(root.join(".dockerinit"), "").expect("mount point");
        std::fs::write(root.join("etc/not-executable"), "#!/bin/sh\n").expect("file");
        Rootfs { scratch }
    }

    fn root(&self) -> PathBuf {
        self.scratch.path("rootfs")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }
}

/// A named network namespace whose `eth0` is one end of a veth pair; the
/// host end has 10.213.K.1/24.
struct Netns {
    name: String,
    host_if: String,
    k: u8,
}

impl Netns {
    fn new(k: u8) -> Netns {
        require("ip", "iproute2");
        let id = std::process::id() % 10000;
        let ns = Netns {
            name: format!("pdk-{}-{}", id, k),
            host_if: format!("pdkh{}x{}", k, id),
            k,
        };
        let peer = format!("pdkc{}x{}", k, id);
        let _ = sh(&format!(
            "ip netns del {0} 2>/dev/null; ip link del {1} 2>/dev/null",
            ns.name, ns.host_if
        ));
        must(&format!("ip netns add {}", ns.name));
        must(&format!(
            "ip link add {} type veth peer name {}",
            ns.host_if, peer
        ));
        must(&format!("ip link set {} netns {}", peer, ns.name));
        must(&format!("ip -n {} link set {} name eth0", ns.name, peer));
        must(&format!(
            "ip addr add {} dev {} && ip link set {} up",
            ns.gateway_cidr(),
            ns.host_if,
            ns.host_if
        ));
        ns
    }

    fn gateway(&self) -> String {
        format!("10.213.{}.1", self.k)
    }

    fn gateway_cidr(&self) -> String {
        format!("10.213.{}.1/24", self.k)
    }

    fn addr(&self) -> String {
        format!("10.213.{}.2", self.k)
    }

    fn cidr(&self) -> String {
        format!("10.213.{}.2/24", self.k)
    }

    /// As LXC did for Docker before 0.7.2: the address already on eth0.
    fn preconfigure(&self) {
        must(&format!(
            "ip -n {0} addr add {1} dev eth0 && ip -n {0} link set eth0 up",
            self.name,
            self.cidr()
        ));
    }

    fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    fn ip(&self, args: &str) -> String {
        stdout(&sh(&format!("ip -n {} {}", self.name, args)))
    }

    fn ping(&self) -> bool {
        require("ping", "iputils-ping");
        (0..5).any(|_| {
            sh(&format!("ping -c 1 -W 2 {}", self.addr()))
                .status
                .success()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&format!(
            "ip link del {} 2>/dev/null; ip netns del {}",
            self.host_if, self.name
        ));
    }
}

/// An OCI bundle: the rootfs, pidone bind-mounted read-only at
/// /.dockerinit, every capability granted, and `args` as the process.
struct Bundle {
    rootfs: Rootfs,
    id: String,
    state: PathBuf,
}

impl Bundle {
    fn new(name: &str, args: &[String], netns: Option<&Netns>, all_caps: bool) -> Bundle {
        require("runc", "runc");
        require_root();
        let rootfs = Rootfs::new(name);
        let dir = rootfs.scratch.0.clone();
        must(&format!("cd {} && runc spec", dir.display()));
        let path = dir.join("config.json");
        let mut c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("config.json"))
                .expect("json");
        c["root"] = serde_json::json!({"path": "rootfs", "readonly": false});
        c["hostname"] = serde_json::json!("pdk");
        let p = &mut c["process"];
        p["terminal"] = serde_json::json!(false);
        p["args"] = serde_json::json!(args);
        p["env"] = serde_json::json!(["PATH=/bin", "container=lxc", "HOSTNAME=pdk"]);
        // The machine's hard limits may be below the template's.
        p.as_object_mut().expect("process").remove("rlimits");
        if all_caps {
            let have = host_caps();
            let all: Vec<String> = CAPS
                .iter()
                .enumerate()
                .filter(|(i, _)| have & (1 << i) != 0)
                .map(|(_, c)| format!("CAP_{}", c))
                .collect();
            for set in [
                "bounding",
                "effective",
                "permitted",
                "inheritable",
                "ambient",
            ] {
                p["capabilities"][set] = serde_json::json!(all);
            }
        }
        c["mounts"]
            .as_array_mut()
            .expect("mounts")
            .push(serde_json::json!({
                "destination": "/.dockerinit",
                "type": "bind",
                "source": pidone(),
                "options": ["bind", "ro"],
            }));
        if let Some(ns) = netns {
            for n in c["linux"]["namespaces"].as_array_mut().expect("namespaces") {
                if n["type"] == "network" {
                    n["path"] = serde_json::json!(ns.path());
                }
            }
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&c).expect("json")).expect("write config");
        Bundle {
            id: tag(name),
            state: dir.join("runc-state"),
            rootfs,
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("runc");
        cmd.arg("--root").arg(&self.state);
        cmd.args(["run", "--bundle"])
            .arg(&self.rootfs.scratch.0)
            .arg(&self.id);
        cmd
    }

    fn run(&self) -> Output {
        run(self.command(), DEADLINE)
    }

    fn start(&self) -> Child {
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().expect("runc run")
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&self.state)
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
    }
}

/// `/.dockerinit FLAGS... -- sh -c SCRIPT`.
fn dockerinit_args(flags: &[&str], script: &str) -> Vec<String> {
    let mut v = strs(&["/.dockerinit"]);
    v.extend(strs(flags));
    v.extend(strs(&["--", "sh", "-c", script]));
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A `CapXxx:` line of /proc/self/status as printed by the command.
fn cap_line(out: &str, set: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("Cap{}:", set)))
        .unwrap_or_else(|| panic!("no Cap{} in output:\n{}", set, out));
    u64::from_str_radix(line.split_whitespace().nth(1).expect("value"), 16).expect("hex")
}

const CAPS_SCRIPT: &str = "grep ^Cap /proc/self/status";

fn assert_no_warnings(o: &Output) {
    assert!(
        !stderr(o).contains("WARN"),
        "unexpected warnings:\n{}",
        stderr(o)
    );
}

fn assert_ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Run a bundle whose command waits for the host to ping it, then prints
/// `script`'s output. Returns (output, pinged).
fn run_networked(bundle: &Bundle, ns: &Netns) -> (Output, bool) {
    let child = wait_ready(bundle.start(), &bundle.rootfs.path("tmp/ready"));
    let pinged = ns.ping();
    std::fs::write(bundle.rootfs.path("tmp/done"), "").expect("done");
    (wait_output(child, DEADLINE), pinged)
}

/// Waits for the host, then runs `then`.
fn waiting(then: &str) -> String {
    format!(
        "touch /tmp/ready; while [ ! -e /tmp/done ]; do sleep 0.05; done; {}",
        then
    )
}

// ---------------------------------------------------------------- runc

#[test]
fn runc_0_5_gateway_user_and_env_flags() {
    let ns = Netns::new(5);
    ns.preconfigure();
    let script = "id -u; echo \"A=$A B=$B container=$container\"";
    let args = dockerinit_args(
        &["-g", &ns.gateway(), "-u", "app", "-e", "A=1", "-e", "B=2"],
        script,
    );
    let b = Bundle::new("v05", &args, Some(&ns), true);
    let o = b.run();
    assert_ok(&o);
    assert_no_warnings(&o);
    let out = stdout(&o);
    assert!(out.contains("1000\n"), "runs as app:\n{}", out);
    assert!(out.contains("A=1 B=2 container=lxc"), "{}", out);
    assert!(
        ns.ip("route show default")
            .contains(&format!("via {} dev eth0", ns.gateway())),
        "default route"
    );
}

#[test]
fn runc_0_6_workdir_is_created_and_entered() {
    let ns = Netns::new(6);
    ns.preconfigure();
    let args = dockerinit_args(
        &[
            "-g",
            &ns.gateway(),
            "-u",
            "app",
            "-e",
            "A=1",
            "-w",
            "/srv/app/data",
        ],
        "pwd; id -u",
    );
    let b = Bundle::new("v06", &args, Some(&ns), true);
    let o = b.run();
    assert_ok(&o);
    assert_no_warnings(&o);
    assert_eq!(stdout(&o), "/srv/app/data\n1000\n");
    assert!(b.rootfs.path("srv/app/data").is_dir());
}

#[test]
fn runc_0_7_2_address_on_eth0_and_privileged() {
    let ns = Netns::new(72);
    let args = dockerinit_args(
        &[
            "-g",
            &ns.gateway(),
            "-u",
            "root",
            "-w",
            "/",
            "-i",
            &ns.cidr(),
            "-privileged",
        ],
        &waiting(CAPS_SCRIPT),
    );
    let b = Bundle::new("v072", &args, Some(&ns), true);
    let (o, pinged) = run_networked(&b, &ns);
    assert_ok(&o);
    assert_no_warnings(&o);
    assert!(
        pinged,
        "the host could not ping {}:\n{}",
        ns.addr(),
        stderr(&o)
    );
    assert!(ns
        .ip("route show default")
        .contains(&format!("via {} dev eth0", ns.gateway())));
    assert!(ns.ip("link show lo").contains("UP"), "lo is up");
    let all = host_caps();
    for set in ["Bnd", "Eff", "Prm"] {
        assert_eq!(
            cap_line(&stdout(&o), set) & all,
            all,
            "-privileged keeps every capability in Cap{}",
            set
        );
    }
}

#[test]
fn runc_0_7_3_mtu_and_classic_capability_drop() {
    let ns = Netns::new(73);
    let args = dockerinit_args(
        &[
            "-g",
            &ns.gateway(),
            "-u",
            "root",
            "-w",
            "/",
            "-i",
            &ns.cidr(),
            "-mtu",
            "1400",
        ],
        &waiting(CAPS_SCRIPT),
    );
    let b = Bundle::new("v073", &args, Some(&ns), true);
    let (o, pinged) = run_networked(&b, &ns);
    assert_ok(&o);
    assert_no_warnings(&o);
    assert!(pinged, "ping {}", ns.addr());
    assert!(
        ns.ip("link show eth0").contains("mtu 1400"),
        "{}",
        ns.ip("link show eth0")
    );
    let dropped: u64 = CLASSIC_DROP
        .iter()
        .map(|c| cap_bit(c))
        .fold(0, |a, b| a | b);
    let kept = host_caps() & !dropped;
    let out = stdout(&o);
    for set in ["Bnd", "Eff", "Prm", "Inh", "Amb"] {
        let v = cap_line(&out, set);
        assert_eq!(
            v & dropped,
            0,
            "Cap{} still has classic-dropped capabilities: {:x}",
            set,
            v & dropped
        );
        assert_eq!(
            v & kept,
            kept,
            "Cap{} lost capabilities it should keep: {:x}",
            set,
            kept & !v
        );
    }
}

#[test]
fn runc_0_8_driver_lxc_is_accepted() {
    let ns = Netns::new(80);
    let args = dockerinit_args(
        &[
            "-driver",
            "lxc",
            "-g",
            &ns.gateway(),
            "-u",
            "root",
            "-w",
            "/",
            "-i",
            &ns.cidr(),
            "-mtu",
            "1500",
        ],
        &waiting("echo ran"),
    );
    let b = Bundle::new("v08", &args, Some(&ns), true);
    let (o, pinged) = run_networked(&b, &ns);
    assert_ok(&o);
    assert_no_warnings(&o);
    assert!(pinged);
    assert_eq!(stdout(&o), "ran\n");
    let log = std::fs::read_to_string(b.rootfs.path("var/log/pidone.log"))
        .expect("/var/log/pidone.log written");
    assert!(
        log.contains("-driver lxc"),
        "the driver is logged:\n{}",
        log
    );
}

#[test]
fn runc_1_2_cap_add_and_cap_drop_adjust_the_list() {
    let ns = Netns::new(12);
    let args = dockerinit_args(
        &[
            "-u",
            "root",
            "-g",
            &ns.gateway(),
            "-i",
            &ns.cidr(),
            "-w",
            "/",
            "-privileged=false",
            "-mtu",
            "1500",
            "-cap-add=NET_ADMIN:SYS_TIME",
            "-cap-drop=CHOWN:KILL",
        ],
        &waiting(CAPS_SCRIPT),
    );
    let b = Bundle::new("v12", &args, Some(&ns), true);
    let (o, pinged) = run_networked(&b, &ns);
    assert_ok(&o);
    assert_no_warnings(&o);
    assert!(pinged);
    let out = stdout(&o);
    for set in ["Bnd", "Eff", "Prm"] {
        let v = cap_line(&out, set);
        assert_ne!(
            v & cap_bit("NET_ADMIN"),
            0,
            "NET_ADMIN added back in Cap{}",
            set
        );
        assert_ne!(
            v & cap_bit("SYS_TIME"),
            0,
            "SYS_TIME added back in Cap{}",
            set
        );
        assert_eq!(
            v & (cap_bit("CHOWN") | cap_bit("KILL")),
            0,
            "CHOWN, KILL dropped from Cap{}",
            set
        );
        assert_eq!(
            v & cap_bit("SYS_ADMIN"),
            0,
            "SYS_ADMIN still dropped from Cap{}",
            set
        );
        assert_ne!(v & cap_bit("NET_RAW"), 0, "NET_RAW kept in Cap{}", set);
    }
}

#[test]
fn runc_1_7_user_privileged_workdir() {
    let args = dockerinit_args(
        &["-u", "app:staff", "-privileged", "-w", "/srv"],
        &format!("pwd; id -u; id -g; {}", CAPS_SCRIPT),
    );
    let b = Bundle::new("v17", &args, None, true);
    let o = b.run();
    assert_ok(&o);
    assert_no_warnings(&o);
    let out = stdout(&o);
    assert!(out.starts_with("/srv\n1000\n50\n"), "{}", out);
    let all = host_caps();
    assert_eq!(
        cap_line(&out, "Bnd") & all,
        all,
        "-privileged keeps the bounding set"
    );
    // Not -privileged: the bounding set loses the classic list even though
    // the user switch empties the others anyway.
    let args = dockerinit_args(&["-u", "app", "-w", "/srv"], CAPS_SCRIPT);
    let b = Bundle::new("v17u", &args, None, true);
    let o = b.run();
    assert_ok(&o);
    assert_eq!(cap_line(&stdout(&o), "Bnd") & cap_bit("SYS_ADMIN"), 0);
    assert_eq!(cap_line(&stdout(&o), "Eff"), 0);
}

#[test]
fn runc_flags_no_version_passed_warn_and_the_command_runs() {
    let ns = Netns::new(99);
    let args = dockerinit_args(
        &[
            "-g",
            &ns.gateway(),
            "-newflag",
            "value",
            "-i",
            &ns.cidr(),
            "--another=x",
            "-bare",
            "-u",
            "root",
            "-u",
            "root",
            "-mtu",
            "jumbo",
            "-privileged",
            "true",
            "-w",
            "/",
        ],
        &waiting("echo ran; echo $A"),
    );
    let b = Bundle::new("unk", &args, Some(&ns), true);
    let (o, pinged) = run_networked(&b, &ns);
    assert_ok(&o);
    assert!(pinged, "flags after the unknown ones still applied");
    assert_eq!(stdout(&o), "ran\n\n");
    let err = stderr(&o);
    for flag in [
        "-newflag",
        "-another",
        "-bare",
        "-u given more than once",
        "-mtu",
        "-privileged given a separate value",
    ] {
        assert!(err.contains(flag), "no warning naming {}:\n{}", flag, err);
    }
    assert!(!err.contains("FATAL"), "{}", err);
}

#[test]
fn runc_missing_double_dash_and_the_0_7_2_break() {
    // Exactly what killed every container in the seed: -i passed to an
    // init of the previous version. Here pidone is the init, and an
    // unknown flag comes with no `--` at all.
    let b = Bundle::new(
        "nodd",
        &strs(&[
            "/.dockerinit",
            "-u",
            "root",
            "-from-the-future",
            "sh",
            "-c",
            "echo ran; exit 3",
        ]),
        None,
        true,
    );
    let o = b.run();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ran\n");
    assert!(stderr(&o).contains("-from-the-future"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no -- before the command"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn runc_dockerenv_replaces_the_environment_keeping_container() {
    let b = Bundle::new(
        "denv",
        &dockerinit_args(&["-e", "EXTRA=3"], "env | sort; hostname"),
        None,
        true,
    );
    std::fs::write(
        b.rootfs.path(".dockerenv"),
        r#"["PATH=/bin:/usr/bin","HOSTNAME=webhost","A=one two"]"#,
    )
    .expect("dockerenv");
    let o = b.run();
    assert_ok(&o);
    let out = stdout(&o);
    let env: Vec<&str> = out.lines().collect();
    for want in [
        "A=one two",
        "EXTRA=3",
        "HOSTNAME=webhost",
        "PATH=/bin:/usr/bin",
        "container=lxc",
    ] {
        assert!(env.contains(&want), "{} missing:\n{}", want, out);
    }
    assert!(
        out.ends_with("webhost\n"),
        "hostname set from HOSTNAME:\n{}",
        out
    );
    // Bad JSON: exit 125, the command does not run.
    std::fs::write(b.rootfs.path(".dockerenv"), "[\"A=secret\"").expect("dockerenv");
    let o = b.run();
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    assert!(
        stderr(&o).contains("stage=env") && !stderr(&o).contains("secret"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn runc_without_setpcap_the_drop_still_runs_the_command() {
    // runc's default spec: AUDIT_WRITE, KILL, NET_BIND_SERVICE and no
    // SETPCAP, so the bounding set cannot shrink. The command still runs,
    // without AUDIT_WRITE in its working sets, and the log says why the
    // bounding set keeps it.
    let b = Bundle::new("nopcap", &dockerinit_args(&[], CAPS_SCRIPT), None, false);
    let o = b.run();
    assert_ok(&o);
    let out = stdout(&o);
    for set in ["Eff", "Prm", "Inh", "Amb"] {
        assert_eq!(
            cap_line(&out, set) & cap_bit("AUDIT_WRITE"),
            0,
            "AUDIT_WRITE dropped from Cap{}",
            set
        );
    }
    assert_ne!(cap_line(&out, "Eff") & cap_bit("KILL"), 0, "KILL kept");
    assert!(
        stderr(&o).contains("no CAP_SETPCAP") && stderr(&o).contains("AUDIT_WRITE"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn runc_dockerinit_supervises_reaps_and_forwards() {
    // Orphans come to pidone (PID 1) and are reaped; SIGTERM to the
    // container reaches the command, which exits cleanly.
    let script = "for i in 1 2 3 4 5; do (sleep 0.2 &) ; done; \
        n=0; while [ $n -lt 200 ]; do z=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l); \
        s=$(pgrep -x sleep | wc -l); [ $z -eq 0 ] && [ $s -eq 0 ] && break; n=$((n+1)); sleep 0.05; done; \
        echo zombies=$z; echo pid=$$; trap 'echo got TERM; exit 0' TERM; touch /tmp/ready; \
        while :; do sleep 0.05; done";
    let b = Bundle::new(
        "sup",
        &dockerinit_args(&["-privileged"], script),
        None,
        true,
    );
    let child = wait_ready(b.start(), &b.rootfs.path("tmp/ready"));
    let k = Command::new("runc")
        .arg("--root")
        .arg(&b.state)
        .args(["kill", &b.id, "TERM"])
        .status()
        .expect("runc kill");
    assert!(k.success());
    let o = wait_output(child, DEADLINE);
    assert_ok(&o);
    let out = stdout(&o);
    assert!(out.contains("zombies=0\n"), "{}", out);
    assert!(
        !out.contains("pid=1\n"),
        "the command is pidone's child, not PID 1:\n{}",
        out
    );
    assert!(out.contains("got TERM"), "{}", out);
}

// ---------------------------------------------------------------- podman

/// `podman` with private storage, runc, cgroupfs and no rlimits: what this
/// kind of host needs, set up for the test only (CONTAINERS_CONF).
struct Podman {
    /// Short (podman refuses a runroot over 50 characters), under /tmp.
    dir: PathBuf,
}

impl Podman {
    fn new(name: &str) -> Podman {
        require("podman", "podman");
        require("runc", "runc");
        require_root();
        let dir = PathBuf::from(format!("/tmp/pdk-{}-{}", std::process::id(), name));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("podman dir");
        std::fs::write(
            dir.join("containers.conf"),
            "[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
        )
        .expect("containers.conf");
        Podman { dir }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", self.dir.join("containers.conf"));
        c.arg("--root").arg(self.dir.join("s"));
        c.arg("--runroot").arg(self.dir.join("r"));
        c
    }

    /// `podman run --rm` of `rootfs` with `form` (the init options) and
    /// `args` after the rootfs.
    fn run_cmd(&self, name: &str, rootfs: &Rootfs, form: &[String], args: &[&str]) -> Command {
        let mut c = self.cmd();
        c.args([
            "run",
            "--rm",
            "--runtime",
            "runc",
            "--network",
            "none",
            "--name",
            name,
        ]);
        c.args(form);
        c.arg("--rootfs").arg(rootfs.root());
        c.args(args);
        c
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self
            .cmd()
            .args(["rm", "--all", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = sh(&format!(
            "umount -R {0}/s {0}/r 2>/dev/null; rm -rf {0}",
            self.dir.display()
        ));
    }
}

/// Wait for the command inside to say it is ready; fail at once, with its
/// output, when the engine exits first.
fn wait_ready(child: Child, file: &std::path::Path) -> Child {
    let mut child = child;
    let start = Instant::now();
    while !file.exists() {
        if child.try_wait().expect("try_wait").is_some() {
            let o = child.wait_with_output().expect("output");
            panic!(
                "exited before it was ready: {:?}\n{}\n{}",
                o.status,
                stdout(&o),
                stderr(&o)
            );
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{} did not appear",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn init_form() -> Vec<String> {
    vec![
        "--init".into(),
        "--init-path".into(),
        pidone().display().to_string(),
    ]
}

fn bind_form() -> Vec<String> {
    vec![
        "-v".into(),
        format!("{}:/.dockerinit:ro", pidone().display()),
        "--entrypoint".into(),
        "/.dockerinit".into(),
    ]
}

/// Arguments after the rootfs: the init form takes the command; the
/// bind-mount form takes dockerinit flags, `--`, the command.
fn podman_args<'a>(bind: bool, cmd: &[&'a str]) -> Vec<&'a str> {
    let mut v = if bind {
        vec!["-u", "root", "--"]
    } else {
        vec![]
    };
    v.extend_from_slice(cmd);
    v
}

fn podman_exit_codes(bind: bool) {
    let p = Podman::new(if bind { "codes-b" } else { "codes-i" });
    let rootfs = Rootfs::new(if bind { "pcodesb" } else { "pcodesi" });
    let form = if bind { bind_form() } else { init_form() };
    let cases: &[(&[&str], i32)] = &[
        (&["sh", "-c", "exit 42"], 42),
        (&["sh", "-c", "kill -USR1 $$"], 128 + 10),
        (&["/no/such/command"], 127),
        (&["no-such-command"], 127),
        (&["/etc/not-executable"], 126),
        (&["/etc"], 126),
    ];
    for (i, (cmd, want)) in cases.iter().enumerate() {
        let name = tag(&format!("codes{}{}", i, bind as u8));
        let o = run(
            p.run_cmd(&name, &rootfs, &form, &podman_args(bind, cmd)),
            DEADLINE,
        );
        assert_eq!(o.status.code(), Some(*want), "{:?}: {}", cmd, stderr(&o));
    }
}

#[test]
fn podman_init_path_exit_codes() {
    podman_exit_codes(false);
}

#[test]
fn podman_dockerinit_bind_exit_codes() {
    podman_exit_codes(true);
}

fn podman_stop(bind: bool) {
    let p = Podman::new(if bind { "stop-b" } else { "stop-i" });
    let rootfs = Rootfs::new(if bind { "pstopb" } else { "pstopi" });
    let form = if bind { bind_form() } else { init_form() };
    let name = tag(if bind { "stopb" } else { "stopi" });
    let script =
        "trap 'echo got TERM; exit 0' TERM; touch /tmp/ready; while :; do sleep 0.05; done";
    let mut c = p.run_cmd(
        &name,
        &rootfs,
        &form,
        &podman_args(bind, &["sh", "-c", script]),
    );
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = wait_ready(c.spawn().expect("podman run"), &rootfs.path("tmp/ready"));
    let start = Instant::now();
    let stop = run(
        {
            let mut s = p.cmd();
            s.args(["stop", "--time", "60", &name]);
            s
        },
        Duration::from_secs(90),
    );
    assert!(stop.status.success(), "podman stop: {}", stderr(&stop));
    // Generous: a SIGKILL after the stop timeout would take the full 60 s.
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "the stop waited for the timeout"
    );
    let o = wait_output(child, DEADLINE);
    assert_eq!(
        o.status.code(),
        Some(0),
        "exited cleanly on SIGTERM:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(stdout(&o).contains("got TERM"), "{}", stdout(&o));
}

#[test]
fn podman_init_path_stop_delivers_sigterm() {
    podman_stop(false);
}

#[test]
fn podman_dockerinit_bind_stop_delivers_sigterm() {
    podman_stop(true);
}

fn podman_orphans(bind: bool) {
    let p = Podman::new(if bind { "orph-b" } else { "orph-i" });
    let rootfs = Rootfs::new(if bind { "porphb" } else { "porphi" });
    let form = if bind { bind_form() } else { init_form() };
    let script = "for i in $(seq 1 20); do (sleep 0.2 &) ; done; \
        n=0; while [ $n -lt 200 ]; do z=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l); \
        s=$(pgrep -x sleep | wc -l); [ $z -eq 0 ] && [ $s -eq 0 ] && break; n=$((n+1)); sleep 0.05; done; \
        echo zombies=$z sleeping=$s; cat /proc/1/comm";
    let name = tag(if bind { "orphb" } else { "orphi" });
    let o = run(
        p.run_cmd(
            &name,
            &rootfs,
            &form,
            &podman_args(bind, &["sh", "-c", script]),
        ),
        DEADLINE,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("zombies=0 sleeping=0\n"), "{}", out);
    let pid1 = if bind { ".dockerinit" } else { "podman-init" };
    assert!(
        out.ends_with(&format!("{}\n", pid1)),
        "pidone is PID 1:\n{}",
        out
    );
}

#[test]
fn podman_init_path_reaps_orphans() {
    podman_orphans(false);
}

#[test]
fn podman_dockerinit_bind_reaps_orphans() {
    podman_orphans(true);
}

#[test]
fn podman_dockerinit_bind_tolerates_flags_and_drops_caps() {
    let p = Podman::new("flags");
    let rootfs = Rootfs::new("pflags");
    let name = tag("flags");
    let args = [
        "-u",
        "app",
        "-w",
        "/srv/w",
        "-future-flag",
        "on",
        "-e",
        "A=1",
        "--",
        "sh",
        "-c",
        "id -u; pwd; echo A=$A; grep ^CapBnd /proc/self/status",
    ];
    let o = run(p.run_cmd(&name, &rootfs, &bind_form(), &args), DEADLINE);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("1000\n/srv/w\nA=1\n"), "{}", out);
    assert_eq!(
        cap_line(&out, "Bnd") & cap_bit("SETPCAP"),
        0,
        "podman grants SETPCAP; pidone drops it"
    );
    assert_ne!(cap_line(&out, "Bnd") & cap_bit("CHOWN"), 0, "CHOWN kept");
    assert!(stderr(&o).contains("-future-flag"), "{}", stderr(&o));
    // No /.dockerenv under podman: the engine's environment is kept.
    let o = run(
        p.run_cmd(
            &tag("flags2"),
            &rootfs,
            &bind_form(),
            &["--", "sh", "-c", "echo $PATH"],
        ),
        DEADLINE,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("/bin"), "{}", stdout(&o));
}

#[test]
fn podman_dockerinit_bind_closes_inherited_descriptors() {
    // podman --preserve-fds 1 hands fd 3 to the init. The classic
    // personality closes it before the command; tini's form keeps it.
    use std::os::unix::io::AsRawFd;
    use std::os::unix::process::CommandExt;
    let p = Podman::new("fds");
    let rootfs = Rootfs::new("pfds");
    let file = std::fs::File::open("/proc/self/status").expect("a file to pass");
    let fd = file.as_raw_fd();
    let script = "if [ -e /proc/self/fd/3 ]; then echo fd3 open; else echo fd3 closed; fi";
    for (bind, want) in [(true, "fd3 closed\n"), (false, "fd3 open\n")] {
        let form = if bind { bind_form() } else { init_form() };
        let name = tag(if bind { "fdsb" } else { "fdsi" });
        let mut c = p.cmd();
        c.args([
            "run",
            "--rm",
            "--runtime",
            "runc",
            "--network",
            "none",
            "--preserve-fds",
            "1",
            "--name",
            &name,
        ]);
        c.args(&form);
        c.arg("--rootfs").arg(rootfs.root());
        c.args(podman_args(bind, &["sh", "-c", script]));
        // SAFETY: dup2 in the forked child before exec.
        unsafe {
            c.pre_exec(move || {
                // dup2 onto itself would keep close-on-exec.
                let r = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, 3)
                };
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let o = run(c, DEADLINE);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), want, "bind form: {}", bind);
    }
}

/// Receive the pty master runc sends over `--console-socket`.
fn recv_fd(stream: &std::os::unix::net::UnixStream) -> i32 {
    use std::os::unix::io::AsRawFd;
    let mut data = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: a zeroed msghdr pointing at our buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: recvmsg into the buffers above.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, 0) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: walking the control messages the kernel filled in.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        assert!(
            !cmsg.is_null() && (*cmsg).cmsg_type == libc::SCM_RIGHTS,
            "no descriptor from runc"
        );
        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const i32)
    }
}

#[test]
fn runc_console_flag_gives_the_command_a_controlling_terminal() {
    // process.terminal: runc makes a pty, mounts its slave at /dev/console
    // and hands the master to us; `-console /dev/console` must make it the
    // command's stdio and controlling terminal, in a session of its own.
    use std::io::Read;
    use std::os::unix::io::FromRawFd;
    let script = "[ -t 0 ] && [ -t 1 ] && echo stdio-is-tty; \
        awk '{ print ($1 == $6 ? \"session-leader\" : \"not-leader\"), ($7 != 0 ? \"has-ctty\" : \"no-ctty\") }' /proc/$$/stat";
    let b = Bundle::new(
        "cons",
        &dockerinit_args(&["-console", "/dev/console"], script),
        None,
        true,
    );
    let config = b.rootfs.scratch.path("config.json");
    let mut c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("config")).expect("json");
    c["process"]["terminal"] = serde_json::json!(true);
    std::fs::write(&config, serde_json::to_vec(&c).expect("json")).expect("config");
    let sock = b.rootfs.scratch.path("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("console socket");
    listener.set_nonblocking(true).expect("nonblocking");
    // Detached: runc hands the pty master over the socket and returns.
    let mut cmd = Command::new("runc");
    cmd.arg("--root")
        .arg(&b.state)
        .args(["run", "--detach", "--console-socket"])
        .arg(&sock);
    cmd.arg("--bundle").arg(&b.rootfs.scratch.0).arg(&b.id);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("runc run --detach");
    let start = Instant::now();
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) => {
                if child.try_wait().expect("try_wait").is_some() {
                    let o = child.wait_with_output().expect("output");
                    panic!("runc exited without sending a console: {}", stderr(&o));
                }
                assert!(
                    start.elapsed() < DEADLINE,
                    "runc never connected to the console socket"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    stream.set_nonblocking(false).expect("blocking");
    let master = recv_fd(&stream);
    // Read the terminal until the slave side is gone (EIO).
    let reader = std::thread::spawn(move || {
        // SAFETY: the descriptor runc sent us, owned from here on.
        let mut f = unsafe { std::fs::File::from_raw_fd(master) };
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    let o = wait_output(child, DEADLINE);
    assert_ok(&o);
    while !reader.is_finished() {
        assert!(start.elapsed() < DEADLINE, "the container did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let tty = reader.join().expect("reader");
    assert!(tty.contains("stdio-is-tty"), "terminal output:\n{}", tty);
    assert!(
        tty.contains("session-leader has-ctty"),
        "terminal output:\n{}",
        tty
    );
}

// ------------------------------------------------------- README recipes

/// A README recipe with this host's paths: the binary from `make`, `alpine`
/// as the test's root file system, the containers.conf file the test uses.
fn localize(recipe: &str, rootfs: &Rootfs, conf: &std::path::Path) -> String {
    recipe
        .replace("/usr/bin/pidone", &pidone().display().to_string())
        .replace("/usr/local/bin/pidone", &pidone().display().to_string())
        .replace(
            " alpine ",
            &format!(" --rootfs {} ", rootfs.root().display()),
        )
        .replace(
            "/etc/containers/containers.conf",
            &conf.display().to_string(),
        )
}

/// What this host needs under `[containers]` (the README's notes): no
/// rlimits (raising them is not permitted) and no network (none to give).
const HOST_CONTAINERS: &str = "default_ulimits = []\nnetns = \"none\"\n";
const HOST_ENGINE: &str =
    "[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n";

/// `sh -c SCRIPT` with podman configured by environment only (the
/// test's containers.conf and storage), so the recipe's own command line
/// is what runs.
fn podman_sh(p: &Podman, script: &str) -> Output {
    let storage = p.dir.join("storage.conf");
    std::fs::write(
        &storage,
        format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{0}/s\"\nrunroot = \"{0}/r\"\n",
            p.dir.display()
        ),
    )
    .expect("storage.conf");
    let mut c = Command::new("sh");
    c.args(["-c", script])
        .env("CONTAINERS_CONF", p.dir.join("containers.conf"))
        .env("CONTAINERS_STORAGE_CONF", storage);
    run(c, DEADLINE)
}

#[test]
fn readme_podman_init_path_recipe_runs_as_written() {
    let p = Podman::new("rec-i");
    let conf = p.dir.join("containers.conf");
    std::fs::write(
        &conf,
        format!("[containers]\n{}\n{}", HOST_CONTAINERS, HOST_ENGINE),
    )
    .expect("containers.conf");
    let rootfs = Rootfs::new("precipe-i");
    let recipe = localize(&readme_recipe("podman-init-path"), &rootfs, &conf);
    let o = podman_sh(&p, &recipe);
    assert_eq!(stdout(&o), "3\n", "{}\n{}", recipe, stderr(&o));
}

#[test]
fn readme_podman_containers_conf_recipe_runs_as_written() {
    let p = Podman::new("rec-c");
    let conf = p.dir.join("containers.conf");
    std::fs::write(&conf, HOST_ENGINE).expect("containers.conf");
    let rootfs = Rootfs::new("precipe-c");
    let recipe = localize(&readme_recipe("podman-containers-conf"), &rootfs, &conf);
    let (write, run_lines) = recipe
        .split_once("\nTOML\n")
        .expect("the recipe ends its file with a TOML line");
    let o = podman_sh(&p, &format!("{}\nTOML\n", write));
    assert!(o.status.success(), "{}: {}", write, stderr(&o));
    // The host's keys go into the [containers] table the recipe opened.
    let mut text = std::fs::read_to_string(&conf).expect("conf");
    text.push_str(HOST_CONTAINERS);
    std::fs::write(&conf, text).expect("conf");
    let o = podman_sh(&p, run_lines);
    assert_eq!(stdout(&o), "3\n", "{}\n{}", run_lines, stderr(&o));
    // And the init it ran was pidone.
    let o = podman_sh(
        &p,
        &localize(
            "podman run --rm --init alpine /run/podman-init --version",
            &rootfs,
            &conf,
        ),
    );
    assert!(
        stdout(&o).starts_with("pidone version "),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}

#[test]
fn readme_runc_recipe_runs_as_written() {
    require("runc", "runc");
    require("jq", "jq");
    require_root();
    // The recipe's bundle/rootfs, with a root file system unpacked in it.
    let rootfs = Rootfs::new("rrecipe");
    let cwd = Scratch::new("pdk-runc-recipe");
    // Moved, not linked: runc refuses a rootfs path through a symlink.
    std::fs::rename(&rootfs.scratch.0, cwd.path("bundle")).expect("move the bundle");
    let id = tag("demo");
    let recipe = readme_recipe("runc")
        .replace("/usr/bin/pidone", &pidone().display().to_string())
        .replace("/usr/local/bin/pidone", &pidone().display().to_string())
        .replace("pidone-demo", &id);
    let mut c = Command::new("sh");
    c.args(["-c", &recipe]).current_dir(&cwd.0);
    let o = run(c, DEADLINE);
    let _ = sh(&format!("runc delete --force {} 2>/dev/null", id));
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(0), "hello\n"),
        "{}\n{}",
        recipe,
        stderr(&o)
    );
}

#[test]
fn readme_dockerinit_link_recipe_runs_as_written() {
    require_root();
    require("unshare", "util-linux");
    let s = Scratch::new("pdk-link-recipe");
    // The recipe's own /tmp paths first: the checkout (and so pidone's
    // path) may itself be under /tmp.
    let recipe = readme_recipe("dockerinit-link")
        .replace("/tmp/", &format!("{}/", s.0.display()))
        .replace("/usr/bin/pidone", &pidone().display().to_string())
        .replace("/usr/local/bin/pidone", &pidone().display().to_string());
    // From a shell, as written; in pid and UTS namespaces of its own all
    // the same, as pidone is given no container here.
    let mut c = Command::new("unshare");
    c.args([
        "--pid",
        "--fork",
        "--mount-proc",
        "--uts",
        "--kill-child",
        "sh",
        "-c",
        &recipe,
    ]);
    let o = run(c, DEADLINE);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(0), "hi\n"),
        "{}\n{}",
        recipe,
        stderr(&o)
    );
    assert!(stderr(&o).contains("newer-flag"), "{}", stderr(&o));
    let log = std::fs::read_to_string(s.path("pidone.log")).unwrap_or_default();
    assert!(log.contains("newer-flag"), "the log: {}", log);
}
