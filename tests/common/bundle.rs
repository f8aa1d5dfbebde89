//! Real runc bundles on a scratch tmpfs, for the hostile-image tests
//! (tests/hostile.rs, tests/hostile3.rs): a busybox root, pidone
//! bind-mounted read-only, Docker's default capabilities, a 64 MiB memory
//! limit. Resources are named with the `pdh` prefix and the test's pid.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::*;

/// Long enough for any start; a hang shows as this deadline passing.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Docker's default capability set.
pub const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

pub const VICTIM: &str = "root-only secret\n";

pub fn sh(cmd: &str) -> Output {
    Command::new("sh").args(["-c", cmd]).output().expect("sh")
}

pub fn must(cmd: &str) {
    let o = sh(cmd);
    assert!(o.status.success(), "`{}` failed: {}", cmd, stderr(&o));
}

/// A tmpfs mounted on a scratch directory, unmounted on drop.
pub struct Tmpfs {
    pub scratch: Scratch,
}

impl Tmpfs {
    pub fn new(name: &str) -> Tmpfs {
        require_root();
        let scratch = Scratch::new(&format!("pdh-{}", name));
        must(&format!(
            "mount -t tmpfs -o size=256m,mode=0755 pdh-scratch {}",
            scratch.0.display()
        ));
        Tmpfs { scratch }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = sh(&format!("umount -l {}", self.scratch.0.display()));
    }
}

/// An OCI bundle on a tmpfs: a busybox root, pidone bind-mounted
/// read-only at /sbin/pidone and /.dockerinit, Docker's default
/// capabilities, a 64 MiB memory limit.
pub struct Bundle {
    // Dropped after the container is deleted (fields drop in order).
    pub id: String,
    pub dir: PathBuf,
    pub config: serde_json::Value,
    pub preserve_fds: u32,
    _fs: Tmpfs,
}

impl Bundle {
    pub fn new(name: &str, args: &[&str]) -> Bundle {
        require("runc", "runc");
        require("busybox", "busybox-static");
        let fs = Tmpfs::new(name);
        let dir = fs.scratch.0.clone();
        let root = dir.join("rootfs");
        for d in [
            "bin",
            "etc",
            "proc",
            "sys",
            "dev",
            "tmp",
            "run",
            "var/log",
            "srv",
            "sbin",
            "home/app",
            "etc/pidone",
        ] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod tmp");
        let busybox = String::from_utf8(sh("command -v busybox").stdout).expect("utf8");
        let busybox = busybox.trim();
        std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
        let list = Command::new(busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in stdout(&list)
            .lines()
            .filter(|a| !a.is_empty() && *a != "busybox")
        {
            let _ = symlink("busybox", root.join("bin").join(applet));
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\n").expect("group");
        for f in [".dockerinit", "sbin/pidone"] {
            std::fs::write(root.join(f), "").expect("mount point");
        }
        must(&format!(
            "chown 1000:1000 {}",
            root.join("home/app").display()
        ));
        must(&format!("cd {} && runc spec", dir.display()));
        let text = std::fs::read_to_string(dir.join("config.json")).expect("config.json");
        let mut c: serde_json::Value = serde_json::from_str(&text).expect("json");
        c["root"] = serde_json::json!({"path": "rootfs", "readonly": false});
        c["hostname"] = serde_json::json!("pdh");
        let p = &mut c["process"];
        p["terminal"] = serde_json::json!(false);
        p["args"] = serde_json::json!(args);
        p["env"] = serde_json::json!(["PATH=/bin", "container=lxc"]);
        p.as_object_mut().expect("process").remove("rlimits");
        for set in ["bounding", "effective", "permitted"] {
            p["capabilities"][set] = serde_json::json!(DOCKER_CAPS);
        }
        c["linux"]["resources"]["memory"] = serde_json::json!({"limit": 64u64 << 20});
        for dest in ["/.dockerinit", "/sbin/pidone"] {
            c["mounts"]
                .as_array_mut()
                .expect("mounts")
                .push(serde_json::json!({
                    "destination": dest,
                    "type": "bind",
                    "source": pidone(),
                    "options": ["bind", "ro"],
                }));
        }
        Bundle {
            id: format!("pdh-{}-{}", name, std::process::id()),
            dir,
            config: c,
            preserve_fds: 0,
            _fs: fs,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join("rootfs").join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).expect("write into the root");
    }

    pub fn read(&self, rel: &str) -> String {
        String::from_utf8_lossy(&std::fs::read(self.path(rel)).unwrap_or_default()).into_owned()
    }

    /// A root-only file, the target of every planted link.
    pub fn victim(&self, rel: &str) {
        self.write(rel, VICTIM);
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(0o600))
            .expect("chmod victim");
    }

    pub fn assert_victim(&self, rel: &str) {
        assert_eq!(self.read(rel), VICTIM, "{} was written through a link", rel);
    }

    pub fn link(&self, rel: &str, target: &str) {
        let _ = std::fs::remove_file(self.path(rel));
        symlink(target, self.path(rel)).expect("plant link");
    }

    pub fn fifo(&self, rel: &str) {
        let _ = std::fs::remove_file(self.path(rel));
        must(&format!("mkfifo {}", self.path(rel).display()));
    }

    /// A sparse file far over any input limit and the memory limit.
    pub fn huge(&self, rel: &str) {
        let f = std::fs::File::create(self.path(rel)).expect("create");
        f.set_len(1 << 30).expect("truncate");
    }

    pub fn metadata(&self, doc: serde_json::Value) {
        self.write("etc/pidone/metadata.json", &doc.to_string());
    }

    pub fn command(&mut self) -> Command {
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&self.config).expect("json"),
        )
        .expect("write config");
        let mut cmd = Command::new("runc");
        cmd.arg("--root").arg(self.dir.join("runc-state"));
        cmd.args(["run", "--bundle"]).arg(&self.dir);
        if self.preserve_fds > 0 {
            cmd.arg(format!("--preserve-fds={}", self.preserve_fds));
        }
        cmd.arg(&self.id);
        cmd
    }

    pub fn run(&mut self) -> Output {
        run(self.command(), DEADLINE)
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(self.dir.join("runc-state"))
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
    }
}

pub fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    )
}

/// The metadata flow: `pidone --metadata /etc/pidone/metadata.json`.
pub fn metadata_bundle(name: &str, doc: serde_json::Value) -> Bundle {
    let b = Bundle::new(
        name,
        &["/sbin/pidone", "--metadata", "/etc/pidone/metadata.json"],
    );
    b.metadata(doc);
    b
}

pub fn dockerinit_bundle(name: &str, flags: &[&str], script: &str) -> Bundle {
    let mut args = vec!["/.dockerinit"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    Bundle::new(name, &args)
}
