//! pidone as a zone's init, reading its metadata from the zone's metadata
//! service (SmartOS metadata protocol V2/V1): the test service
//! (`tests/mdata_service.py`) checked first against an independent client
//! (Debian's cloud-init, unpacked into .cache by `make test`), then pidone
//! as PID 1 of runc containers with the service's socket bound where a
//! SmartOS zone has it, and every way the service can go wrong.
mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The test metadata service on a unix socket, killed on drop.
pub struct Service {
    child: Child,
    pub socket: PathBuf,
    pub log: PathBuf,
    _dir: Scratch,
}

impl Service {
    pub fn start(name: &str, data: &str, mode: &str, key: Option<&str>) -> Service {
        require("python3", "python3");
        let dir = Scratch::new(&format!("mdsvc-{}", name));
        let socket = dir.path("metadata.sock");
        let log = dir.path("requests.log");
        std::fs::write(dir.path("data.json"), data).unwrap();
        let mut c = Command::new("python3");
        c.arg(repo().join("tests/mdata_service.py"))
            .arg("--socket")
            .arg(&socket)
            .arg("--data")
            .arg(dir.path("data.json"))
            .arg("--log")
            .arg(&log)
            .args(["--mode", mode])
            .stdin(Stdio::null());
        if let Some(k) = key {
            c.args(["--key", k]);
        }
        let child = c.spawn().expect("python3 tests/mdata_service.py");
        wait_for_file(&socket, Duration::from_secs(10));
        Service {
            child,
            socket,
            log,
            _dir: dir,
        }
    }

    /// The requests it got, as (op, key) pairs.
    pub fn requests(&self) -> Vec<(String, Option<String>)> {
        lines(&self.log)
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["op"].as_str().unwrap().to_string(),
                    v["key"].as_str().map(String::from),
                )
            })
            .collect()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
