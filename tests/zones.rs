//! pidone as a zone's init, reading its metadata from the zone's metadata
//! service (SmartOS metadata protocol V2/V1): the test service
//! (`tests/mdata_service.py`) checked first against an independent client
//! (Debian's cloud-init, unpacked into .cache by `make test`), then pidone
//! as PID 1 of runc containers with the service's socket bound where a
//! SmartOS zone has it, and every way the service can go wrong.
mod common;
use common::mdata::Service;
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Debian's cloud-init, unpacked by `make test` (scripts/deps.sh).
fn cloud_init_path() -> String {
    let base = repo().join(".cache/cloud-init/usr/lib/python3/dist-packages");
    assert!(
        base.join("cloudinit/sources/DataSourceSmartOS.py").exists(),
        "{} is missing: run `sh scripts/deps.sh test` (or `make test`), which unpacks Debian's cloud-init, python3-serial and python3-configobj there",
        base.display()
    );
    base.display().to_string()
}

const CLOUD_INIT_CLIENT: &str = r#"
import json, sys
from cloudinit.sources.DataSourceSmartOS import JoyentMetadataSocketClient
c = JoyentMetadataSocketClient(sys.argv[1])
c.open_transport()
out = {
    "cmd": c.get("docker:cmd"),
    "hostname": c.get("sdc:hostname"),
    "missing": c.get("no:such:key"),
    "keys": sorted(c.list()),
    "nics": c.get_json("sdc:nics"),
}
c.put("pidone:written", "two\nlines .\n.")
out["written"] = c.get("pidone:written")
c.close_transport()
print(json.dumps(out))
"#;

#[test]
fn the_service_speaks_v2_as_cloud_init_expects() {
    let path = cloud_init_path();
    let svc = Service::start(
        "cloudinit",
        r#"{"docker:cmd": "[\"/bin/sh\", \"-c\", \"echo é\"]", "sdc:hostname": "web1",
            "sdc:nics": [{"interface": "net0", "ip": "10.0.0.2", "netmask": "255.255.255.0", "primary": true}],
            "docker:env": "[]"}"#,
        "v2",
        None,
    );
    let mut c = Command::new("python3");
    c.env("PYTHONPATH", &path)
        .args(["-c", CLOUD_INIT_CLIENT])
        .arg(&svc.socket);
    let o = run(c, DEADLINE);
    assert!(o.status.success(), "cloud-init client: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["cmd"], r#"["/bin/sh", "-c", "echo é"]"#);
    assert_eq!(v["hostname"], "web1");
    assert!(v["missing"].is_null());
    // KEYS leaves out sdc:* keys, as the real service does.
    assert_eq!(v["keys"], serde_json::json!(["docker:cmd", "docker:env"]));
    assert_eq!(v["nics"][0]["interface"], "net0");
    assert_eq!(v["written"], "two\nlines .\n.");
    let ops: Vec<String> = svc.requests().into_iter().map(|(op, _)| op).collect();
    assert_eq!(
        ops,
        [
            "NEGOTIATE",
            "GET",
            "GET",
            "GET",
            "KEYS",
            "GET",
            "PUT",
            "GET"
        ]
    );
}

// ------------------------------------------------------------ runc zones

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").args(["-c", cmd]).output().expect("sh")
}

/// Enough to set the hostname, change user and create the workdir.
const ZONE_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_SYS_ADMIN",
    "CAP_AUDIT_WRITE",
];

/// A runc container laid out like a SmartOS docker zone: busybox,
/// passwd/group, `/var/svc/provisioning`, no metadata file, pidone as
/// `/sbin/init` with no arguments, and the service's socket bound at
/// `socket_at` (None: no service at all).
struct Zone {
    dir: Scratch,
    id: String,
    socket_at: Option<String>,
}

impl Zone {
    fn new(name: &str, svc: Option<&Service>, socket_at: &str) -> Zone {
        require_root();
        require("runc", "runc");
        require("busybox", "busybox-static");
        let dir = Scratch::new(&format!("zone-{}", name));
        let root = dir.path("rootfs");
        for d in [
            "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "var/svc", "var/log", "home/app",
            "srv",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let busybox = String::from_utf8(sh("command -v busybox").stdout).unwrap();
        std::fs::copy(busybox.trim(), root.join("bin/busybox")).unwrap();
        for applet in [
            "sh", "echo", "id", "pwd", "hostname", "cat", "env", "sleep", "printf",
        ] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\napp:x:1000:\nstaff:x:50:app\nwheel:x:10:app\n",
        )
        .unwrap();
        // The command runs as app and writes what it saw there.
        std::fs::set_permissions(root.join("srv"), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(root.join("var/svc/provisioning"), "").unwrap();
        std::fs::write(root.join("sbin/init"), "").unwrap();
        let o = sh(&format!("cd {} && runc spec", dir.0.display()));
        assert!(o.status.success(), "runc spec: {}", stderr(&o));
        let path = dir.path("config.json");
        let mut c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        c["root"] = serde_json::json!({"path": "rootfs", "readonly": false});
        let p = &mut c["process"];
        p["terminal"] = serde_json::json!(false);
        p["args"] = serde_json::json!(["/sbin/init"]);
        p["env"] = serde_json::json!(["PATH=/bin"]);
        p.as_object_mut().unwrap().remove("rlimits");
        for set in ["bounding", "effective", "permitted"] {
            p["capabilities"][set] = serde_json::json!(ZONE_CAPS);
        }
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(serde_json::json!({
            "destination": "/sbin/init", "type": "bind",
            "source": pidone(), "options": ["bind", "ro"],
        }));
        if let Some(svc) = svc {
            mounts.push(serde_json::json!({
                "destination": socket_at, "type": "bind",
                "source": svc.socket, "options": ["bind"],
            }));
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
        Zone {
            dir,
            id: format!("pdz-{}-{}", name, std::process::id()),
            socket_at: svc.map(|_| socket_at.to_string()),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path("rootfs").join(rel)
    }

    /// One more bind mount into the container.
    fn mount(&self, source: &Path, at: &str) {
        let path = self.dir.path("config.json");
        let mut c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": at, "type": "bind", "source": source, "options": ["bind"],
        }));
        std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    }

    /// One more variable in pidone's own environment.
    fn env(&self, entry: &str) {
        let path = self.dir.path("config.json");
        let mut c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(entry));
        std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    }

    fn run(&self) -> std::process::Output {
        let mut cmd = Command::new("runc");
        cmd.arg("--root")
            .arg(self.dir.path("state"))
            .args(["run", "--bundle"])
            .arg(&self.dir.0)
            .arg(&self.id);
        run(cmd, DEADLINE)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("var/log/pidone.log")).unwrap_or_default()
    }
}

impl Drop for Zone {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(self.dir.path("state"))
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
    }
}

const SECRET: &str = "s3cr3t-value-never-logged";

/// A docker zone's internal_metadata, as SmartOS stores it (strings
/// holding JSON text).
fn zone_metadata() -> String {
    let script = r#"{ echo "argv:$0|$1"; echo "id:$(id)"; echo "pwd:$(pwd)"; echo "host:$(hostname)"; tr '\0' '\n' < /proc/$$/environ; } > /srv/out; exit 7"#;
    let text = |v: serde_json::Value| serde_json::Value::String(v.to_string());
    serde_json::json!({
        "docker:entrypoint": text(serde_json::json!(["/bin/sh", "-c"])),
        "docker:cmd": text(serde_json::json!([script, "one two"])),
        "docker:env": text(serde_json::json!(["A=env", format!("TOKEN={}", SECRET), "B=late"])),
        "docker:linkEnv": text(serde_json::json!(["B=link", "L=1"])),
        "docker:user": "app",
        "docker:workdir": "~/work",
        "sdc:hostname": "zone-one",
        "docker:id": "0123456789abcdef",
    })
    .to_string()
}

/// pidone as the zone's init: everything from the service, checked from
/// inside (what the command saw) and outside (exit, log, marker).
fn zone_runs(name: &str, socket_at: &str, mode: &str, proto: u8) -> Service {
    let key = (mode == "flaky").then_some("docker:cmd");
    let svc = Service::start(name, &zone_metadata(), mode, key);
    let zone = Zone::new(name, Some(&svc), socket_at);
    let o = zone.run();
    let log = zone.log();
    assert_eq!(
        o.status.code(),
        Some(7),
        "stdout:\n{}\nstderr:\n{}\nlog:\n{}",
        stdout(&o),
        stderr(&o),
        log
    );
    let out = std::fs::read_to_string(zone.path("srv/out")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "argv:one two|");
    assert_eq!(
        lines[1],
        "id:uid=1000(app) gid=1000(app) groups=10(wheel),50(staff),1000(app)"
    );
    assert_eq!(lines[2], "pwd:/home/app/work");
    assert_eq!(lines[3], "host:zone-one");
    // Defaults, then linkEnv, then env; a later name replaces an earlier
    // one in place.
    let want = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        "HOME=/home/app".into(),
        "HOSTNAME=zone-one".into(),
        "B=late".into(),
        "L=1".into(),
        "A=env".into(),
        format!("TOKEN={}", SECRET),
    ];
    assert_eq!(lines[4..], want, "{}", out);
    assert!(!zone.path("var/svc/provisioning").exists());
    assert!(zone.path("var/svc/provision_success").exists());
    assert!(!log.contains(SECRET), "the log shows a value:\n{}", log);
    assert!(
        log.contains(&format!(
            "metadata from the metadata service on socket {} (protocol V{})",
            zone.socket_at.as_deref().unwrap(),
            proto
        )),
        "{}",
        log
    );
    // Only the keys pidone reads, each asked for once; no KEYS.
    let reqs = svc.requests();
    let gets: Vec<&str> = reqs
        .iter()
        .filter(|(op, _)| op == "GET")
        .filter_map(|(_, k)| k.as_deref())
        .collect();
    assert!(gets.contains(&"docker:cmd") && gets.contains(&"sdc:hostname"));
    assert!(!gets.contains(&"docker:id"), "{:?}", gets);
    let mut unique = gets.clone();
    unique.sort();
    unique.dedup();
    // (The flaky service garbles docker:cmd's first reply: asked twice.)
    assert_eq!(
        unique.len() + usize::from(key.is_some()),
        gets.len(),
        "{:?}",
        gets
    );
    assert!(reqs.iter().all(|(op, _)| op == "GET" || op == "NEGOTIATE"));
    drop(zone);
    svc
}

#[test]
fn zone_socket() {
    zone_runs("zonecontrol", "/.zonecontrol/metadata.sock", "v2", 2);
}

#[test]
fn lx_zone_socket_under_native() {
    zone_runs("native", "/native/.zonecontrol/metadata.sock", "v2", 2);
}

#[test]
fn v1_only_service() {
    zone_runs("v1", "/.zonecontrol/metadata.sock", "v1", 1);
}

#[test]
fn a_garbled_frame_is_retried() {
    zone_runs("flaky", "/.zonecontrol/metadata.sock", "flaky", 2);
}

/// A bad service is bad input: 125, one error line naming the key (or
/// the service) and the cause, the provisioning marker left in place.
fn zone_fails(name: &str, data: &str, mode: &str, key: Option<&str>, want: &str) {
    let svc = Service::start(name, data, mode, key);
    let zone = Zone::new(name, Some(&svc), "/.zonecontrol/metadata.sock");
    fails(&zone, want);
}

fn fails(zone: &Zone, want: &str) {
    let o = zone.run();
    let log = zone.log();
    assert_eq!(
        o.status.code(),
        Some(125),
        "stderr:\n{}\nlog:\n{}",
        stderr(&o),
        log
    );
    let err = stderr(&o);
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("FATAL"))
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", errors);
    assert!(errors[0].contains(want), "{:?} lacks {:?}", errors[0], want);
    assert!(log.contains(want), "the log lacks {:?}:\n{}", want, log);
    assert!(zone.path("var/svc/provisioning").exists());
    assert!(!zone.path("var/svc/provision_success").exists());
}

const SOCK: &str = "socket /.zonecontrol/metadata.sock";

#[test]
fn service_never_answers() {
    zone_fails(
        "silent",
        &zone_metadata(),
        "silent",
        None,
        &format!(
            "stage=metadata: metadata service on {}: no answer to NEGOTIATE V2 within 6 s",
            SOCK
        ),
    );
}

#[test]
fn service_stops_answering() {
    zone_fails(
        "mute",
        &zone_metadata(),
        "mute",
        Some("docker:cmd"),
        &format!(
            "stage=metadata: docker:cmd: no reply within 15 s (metadata service on {})",
            SOCK
        ),
    );
}

#[test]
fn service_answers_garbage() {
    zone_fails(
        "garbage",
        &zone_metadata(),
        "garbage",
        Some("docker:cmd"),
        &format!("stage=metadata: docker:cmd: 3 garbled replies in a row, the last a reply that is not a V2 frame (metadata service on {})", SOCK),
    );
}

#[test]
fn service_sends_a_wrong_crc() {
    zone_fails(
        "badcrc",
        &zone_metadata(),
        "badcrc",
        Some("docker:env"),
        "stage=metadata: docker:env: 3 garbled replies in a row, the last a V2 frame whose CRC32 does not match its body",
    );
}

#[test]
fn service_sends_a_wrong_request_id() {
    zone_fails(
        "badid",
        &zone_metadata(),
        "badid",
        Some("sdc:hostname"),
        "stage=metadata: sdc:hostname: 3 garbled replies in a row, the last a V2 frame with another request's id",
    );
}

#[test]
fn service_answers_failure() {
    zone_fails(
        "failure",
        &zone_metadata(),
        "failure",
        Some("docker:user"),
        &format!(
            "stage=metadata: docker:user: the service answered FAILURE (metadata service on {})",
            SOCK
        ),
    );
}

#[test]
fn a_value_that_is_not_the_json_its_key_needs() {
    zone_fails(
        "badjson",
        r#"{"docker:cmd": "[\"/bin/true\"", "docker:env": "[]"}"#,
        "v2",
        None,
        "stage=metadata: docker:cmd: the string is not valid JSON text (line 1, column 12",
    );
}

#[test]
fn no_source_at_all() {
    let zone = Zone::new("nosource", None, "");
    fails(
        &zone,
        "stage=metadata: no metadata source: no socket /.zonecontrol/metadata.sock, no socket /native/.zonecontrol/metadata.sock, no socket /var/run/smartdc/metadata.sock, no file /etc/pidone/metadata.json",
    );
}

#[test]
fn wait_for_attach_puts_the_marker_waits_and_deletes_it() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let mut data: serde_json::Value = serde_json::from_str(&zone_metadata()).unwrap();
    data["docker:wait_for_attach"] = serde_json::json!((now + 60_000).to_string());
    let svc = Service::start("attach", &data.to_string(), "v2", None);
    let zone = Zone::new("attach", Some(&svc), "/.zonecontrol/metadata.sock");
    let o = zone.run();
    assert_eq!(o.status.code(), Some(7), "{}\n{}", stderr(&o), zone.log());
    // The service deletes the wait key when the marker appears (the user
    // attached): GET (there), PUT marker, GET (gone), DELETE marker.
    let tail: Vec<(String, Option<String>)> = svc
        .requests()
        .into_iter()
        .skip_while(|(_, k)| k.as_deref() != Some("docker:wait_for_attach"))
        .collect();
    let want: Vec<(String, Option<String>)> = [
        ("GET", "docker:wait_for_attach"),
        ("PUT", "__dockerinit_waiting_for_attach"),
        ("GET", "docker:wait_for_attach"),
        ("DELETE", "__dockerinit_waiting_for_attach"),
    ]
    .iter()
    .map(|(o, k)| (o.to_string(), Some(k.to_string())))
    .collect();
    assert_eq!(tail, want);
    assert!(zone.path("var/svc/provision_success").exists());
}

#[test]
fn wait_for_attach_times_out() {
    let mut data: serde_json::Value = serde_json::from_str(&zone_metadata()).unwrap();
    // A time already past: the zone init gives up at once.
    data["docker:wait_for_attach"] = serde_json::json!("1000");
    let svc = Service::start("attach-late", &data.to_string(), "v2", None);
    let zone = Zone::new("attach-late", Some(&svc), "/.zonecontrol/metadata.sock");
    fails(
        &zone,
        "stage=metadata: docker:wait_for_attach: timed out waiting for an attach",
    );
}

#[test]
fn stdio_on_the_zones_console_devices() {
    let mut data: serde_json::Value = serde_json::from_str(&zone_metadata()).unwrap();
    data["docker:cmd"] = serde_json::json!("[\"echo to-stdout; echo to-stderr >&2\"]");
    let svc = Service::start("zfd", &data.to_string(), "v2", None);
    let zone = Zone::new("zfd", Some(&svc), "/.zonecontrol/metadata.sock");
    // Stand-ins for /dev/zfd/{0,1,2}, bound over runc's /dev.
    let zfd = zone.dir.path("zfd");
    std::fs::create_dir(&zfd).unwrap();
    for n in ["0", "1", "2"] {
        std::fs::write(zfd.join(n), "").unwrap();
    }
    zone.mount(&zfd, "/dev/zfd");
    let o = zone.run();
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), zone.log());
    assert_eq!(
        std::fs::read_to_string(zfd.join("1")).unwrap(),
        "to-stdout\n"
    );
    assert_eq!(
        std::fs::read_to_string(zfd.join("2")).unwrap(),
        "to-stderr\n"
    );
    assert!(!stdout(&o).contains("to-stdout"));
    assert!(
        zone.log().contains("console /dev/zfd/1 and /2"),
        "{}",
        zone.log()
    );
}

#[test]
fn hosts_files_unless_the_platform_wrote_them() {
    let mut data: serde_json::Value = serde_json::from_str(&zone_metadata()).unwrap();
    data["docker:cmd"] = serde_json::json!("[\"true\"]");
    data["docker:extraHosts"] = serde_json::json!("[\"db:10.1.2.3\", \"v6:2001:db8::5\"]");
    data["docker:linkHosts"] = serde_json::json!("172.16.0.5\tngx nginx_custom\n");
    data["sdc:resolvers"] = serde_json::json!("[\"192.0.2.53\"]");
    let svc = Service::start("hosts", &data.to_string(), "v2", None);
    let zone = Zone::new("hosts", Some(&svc), "/.zonecontrol/metadata.sock");
    // vmadm wrote resolv.conf; /etc/hosts it did not.
    std::fs::write(zone.path("etc/resolv.conf"), "nameserver 203.0.113.1\n").unwrap();
    let o = zone.run();
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), zone.log());
    let hosts = std::fs::read_to_string(zone.path("etc/hosts")).unwrap();
    assert_eq!(
        hosts,
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tzone-one\n10.1.2.3\tdb\n2001:db8::5\tv6\n172.16.0.5\tngx nginx_custom\n"
    );
    assert_eq!(
        std::fs::read_to_string(zone.path("etc/resolv.conf")).unwrap(),
        "nameserver 203.0.113.1\n"
    );
    assert!(zone
        .log()
        .contains("/etc/resolv.conf left as the platform wrote it"));
}

#[test]
fn a_named_socket_comes_before_the_search() {
    let mut data: serde_json::Value = serde_json::from_str(&zone_metadata()).unwrap();
    data["docker:cmd"] = serde_json::json!("[\"true\"]");
    let named = Service::start("named", &data.to_string(), "v2", None);
    // A zone socket too, whose service would fail: it must not be asked.
    let zone_svc = Service::start("named-zone", &zone_metadata(), "failure", None);
    let zone = Zone::new("named", Some(&zone_svc), "/.zonecontrol/metadata.sock");
    zone.mount(&named.socket, "/run/md.sock");
    zone.env("PIDONE_METADATA=socket:/run/md.sock");
    let o = zone.run();
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), zone.log());
    assert!(zone
        .log()
        .contains("metadata from the metadata service on socket /run/md.sock (protocol V2)"));
    assert!(zone_svc.requests().is_empty(), "{:?}", zone_svc.requests());
}

#[test]
fn wait_for_attach_needs_protocol_v2() {
    let mut data: serde_json::Value = serde_json::from_str(&zone_metadata()).unwrap();
    data["docker:wait_for_attach"] = serde_json::json!("99999999999999");
    let svc = Service::start("attach-v1", &data.to_string(), "v1", None);
    let zone = Zone::new("attach-v1", Some(&svc), "/.zonecontrol/metadata.sock");
    fails(
        &zone,
        &format!("stage=metadata: docker:wait_for_attach: the service speaks only protocol V1, which has no PUT (metadata service on {})", SOCK),
    );
}
