//! Early mounts of a machine: what a container engine would have set up,
//! done by pidone itself because nothing ran before it. Each is skipped
//! when something is already mounted there, and EBUSY (mounted meanwhile,
//! or by the kernel) counts as done. Runs before logging is set up, so it
//! returns its notes and warnings to be logged afterwards.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use crate::error::{Error, Result, Stage};

/// One mount: file system type, target, flags, data, whether pidone cannot
/// do without it, and the mode of the directory when pidone creates it.
struct Spec {
    fstype: &'static str,
    target: &'static str,
    flags: MsFlags,
    data: &'static str,
    vital: bool,
    mode: u32,
}

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);
const NOSUID_NODEV: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV);

const SPECS: &[Spec] = &[
    Spec {
        fstype: "proc",
        target: "/proc",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
        vital: true,
        mode: 0o555,
    },
    Spec {
        fstype: "sysfs",
        target: "/sys",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
        vital: false,
        mode: 0o555,
    },
    Spec {
        fstype: "devtmpfs",
        target: "/dev",
        flags: MsFlags::MS_NOSUID,
        data: "mode=0755",
        vital: true,
        mode: 0o755,
    },
    Spec {
        fstype: "devpts",
        target: "/dev/pts",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        data: "newinstance,ptmxmode=0666,mode=0620,gid=5",
        vital: false,
        mode: 0o755,
    },
    Spec {
        fstype: "tmpfs",
        target: "/dev/shm",
        flags: NOSUID_NODEV,
        data: "mode=1777",
        vital: false,
        mode: 0o1777,
    },
    Spec {
        fstype: "tmpfs",
        target: "/run",
        flags: NOSUID_NODEV,
        data: "mode=0755",
        vital: false,
        mode: 0o755,
    },
    Spec {
        fstype: "tmpfs",
        target: "/tmp",
        flags: NOSUID_NODEV,
        data: "mode=1777",
        vital: false,
        mode: 0o1777,
    },
    Spec {
        fstype: "cgroup2",
        target: "/sys/fs/cgroup",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
        vital: false,
        mode: 0o755,
    },
];

/// `/dev` links a shell script expects (bash's `<(...)`, `/dev/stdin`).
const LINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

/// What the mounts did, for the log.
#[derive(Debug, Default)]
pub struct Report {
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// True when `path` is the root of a mount: on another device than its
/// parent. Works before /proc exists (no mountinfo needed).
fn is_mountpoint(path: &Path) -> bool {
    let (Ok(me), Some(Ok(parent))) = (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) else {
        return false;
    };
    me.dev() != parent.dev()
}

/// Mount everything a machine needs, in order (parents first).
pub fn apply() -> Result<Report> {
    let mut r = Report::default();
    for s in SPECS {
        let target = Path::new(s.target);
        if is_mountpoint(target) {
            r.notes.push(format!("{} already mounted", s.target));
            continue;
        }
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(s.mode)
            .create(target)
        {
            let msg = format!("cannot create {}: {}", s.target, e);
            if s.vital {
                return Err(Error::new(Stage::Mounts, msg));
            }
            r.warnings.push(msg);
            continue;
        }
        match mount(
            Some(s.fstype),
            target,
            Some(s.fstype),
            s.flags,
            Some(s.data),
        ) {
            Ok(()) => r
                .notes
                .push(format!("mounted {} on {}", s.fstype, s.target)),
            Err(Errno::EBUSY) => r.notes.push(format!("{} busy: already mounted", s.target)),
            Err(e) => {
                let msg = format!("cannot mount {} on {}: {}", s.fstype, s.target, e);
                if s.vital {
                    return Err(Error::new(Stage::Mounts, msg));
                }
                r.warnings.push(msg);
            }
        }
    }
    ptmx(&mut r);
    for (link, to) in LINKS {
        if std::fs::symlink_metadata(link).is_ok() {
            continue;
        }
        if let Err(e) = std::os::unix::fs::symlink(to, link) {
            r.warnings
                .push(format!("cannot link {} to {}: {}", link, to, e));
        }
    }
    Ok(r)
}

/// `/dev/ptmx` must open the new devpts instance's multiplexer, or ptys
/// come from an instance nobody mounted: make it a link to `pts/ptmx`
/// (devtmpfs creates a device node there).
fn ptmx(r: &mut Report) {
    let link = Path::new("/dev/ptmx");
    if std::fs::read_link(link).is_ok_and(|t| t == Path::new("pts/ptmx")) {
        return;
    }
    if !Path::new("/dev/pts/ptmx").exists() {
        r.warnings
            .push("no /dev/pts/ptmx: leaving /dev/ptmx as it is".into());
        return;
    }
    let _ = std::fs::remove_file(link);
    if let Err(e) = std::os::unix::fs::symlink("pts/ptmx", link) {
        r.warnings
            .push(format!("cannot link /dev/ptmx to pts/ptmx: {}", e));
    }
}

/// The mount points pidone made, for the root switch to move: the
/// top-level ones (the kernel moves what is mounted beneath with them).
pub const TOP_LEVEL: &[&str] = &["/proc", "/sys", "/dev", "/run", "/tmp"];
