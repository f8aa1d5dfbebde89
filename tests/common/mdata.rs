//! The test metadata service (`tests/mdata_service.py`), for the zone and
//! VM tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{lines, require, wait_for_file, Scratch};

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
        c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mdata_service.py"))
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
