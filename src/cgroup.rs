//! The container's cgroup: what pidone found at start-up (the discovery
//! stage, setup/cgroup.rs, fills a `Cgroup`), the pure parsers of the
//! kernel's texts, and what the supervisor does with it while the command
//! runs: OOM kills counted as they happen, and the final kill through
//! `cgroup.kill`. Reads go through `files`; nothing here blocks or polls:
//! the OOM count is watched with one descriptor (inotify on cgroup v2's
//! `memory.events`, an eventfd on v1's `memory.oom_control`) in the
//! supervisor's one wait.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::sys::cgroupfs;
use crate::sys::files;

// ---- what discovery found --------------------------------------------------

/// Where the OOM-kill count is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Memory {
    /// cgroup v2: `memory.events` (and `memory.max`) in this directory.
    V2(PathBuf),
    /// cgroup v1: `memory.oom_control` (and `memory.limit_in_bytes`).
    V1(PathBuf),
}

/// The container's cgroup as pidone found it before the command started.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cgroup {
    /// The cgroup v2 directory of the container (with `--cgroup-nest`, the
    /// parent of pidone's own leaf).
    pub unified: Option<PathBuf>,
    pub memory: Option<Memory>,
    /// The unified directory may be written (a read-write mount, and
    /// `cgroup.kill` there), and it was pidone's alone when pidone started:
    /// it is the container's, not a cgroup pidone shares with a shell or
    /// a session, so everything in it may be killed at the end.
    pub own: bool,
    /// `--cgroup-nest`: pidone's leaf and the command's.
    pub nest: Option<Nest>,
}

/// The two leaves of `--cgroup-nest`, under `Cgroup::unified`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nest {
    pub init: PathBuf,
    pub command: PathBuf,
}

/// pidone's own leaf and the command's, under the container's cgroup.
pub const INIT_LEAF: &str = "init";
pub const COMMAND_LEAF: &str = "command";
/// Where the end gathers the rest before `cgroup.kill` when pidone shares
/// the cgroup with them.
pub const KILL_LEAF: &str = "pidone-kill";

// ---- parsers (pure) ---------------------------------------------------------

/// pidone's cgroups from `/proc/self/cgroup`: the v2 path (`0::/path`) and
/// the v1 memory controller's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Membership {
    pub unified: Option<String>,
    pub memory: Option<String>,
}

pub fn membership(text: &str) -> Membership {
    let mut m = Membership::default();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if !path.starts_with('/') {
            continue;
        }
        if id == "0" && ctrls.is_empty() {
            m.unified = Some(path.to_string());
        } else if ctrls.split(',').any(|c| c == "memory") {
            m.memory = Some(path.to_string());
        }
    }
    m
}

/// One cgroup file system mount from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The cgroup the mount shows at its mount point.
    pub root: String,
    pub point: String,
    pub read_only: bool,
}

/// `\040` and the other octal escapes of mountinfo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|d| (b'0'..=b'7').contains(d)));
        match (c, oct) {
            (b'\\', Some(o)) => {
                let v = o.iter().fold(0u32, |a, d| a * 8 + u32::from(d - b'0'));
                out.push(v as u8);
                i += 4;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount of the cgroup `path` lives in: `cgroup2` when `memory` is
/// false, else a v1 `cgroup` mount with the memory controller. The last
/// one whose root holds `path` wins (a later mount hides an earlier one).
pub fn mount_of(mountinfo: &str, path: &str, memory: bool) -> Option<Mount> {
    // No allocation per line: this runs at every start.
    let mut found = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut l = left.split(' ').skip(3);
        let (Some(root), Some(point), Some(opts)) = (l.next(), l.next(), l.next()) else {
            continue;
        };
        let mut r = right.split(' ');
        let (Some(fstype), Some(sopts)) = (r.next(), r.nth(1)) else {
            continue;
        };
        let wanted = if memory {
            fstype == "cgroup" && sopts.split(',').any(|o| o == "memory")
        } else {
            fstype == "cgroup2"
        };
        // (A root with an escape is compared once unescaped, below.)
        if wanted && (root.contains('\\') || under(path, root).is_some()) {
            found = Some((root, point, opts));
        }
    }
    let (root, point, opts) = found?;
    let root = unescape(root);
    under(path, &root)?;
    Some(Mount {
        root,
        point: unescape(point),
        read_only: opts.split(',').any(|o| o == "ro"),
    })
}

/// `path` relative to `root` ("" for the root itself), when it is inside.
fn under<'a>(path: &'a str, root: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(root.trim_end_matches('/'))?;
    if rest.is_empty() {
        return Some("");
    }
    rest.strip_prefix('/')
}

/// The directory of cgroup `path` under `mount`.
pub fn locate(mount: &Mount, path: &str) -> Option<PathBuf> {
    let rel = under(path, &mount.root)?;
    // A path leaving the namespace's root (`/..`) names nothing here.
    if rel.split('/').any(|c| c == "..") {
        return None;
    }
    let mut p = PathBuf::from(&mount.point);
    if !rel.is_empty() {
        p.push(rel);
    }
    Some(p)
}

/// The value of `key` in a flat-keyed file (`memory.events`,
/// `memory.oom_control`): `oom_kill 3`.
pub fn count(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The OOM counts of a `memory.events` (v2) or `memory.oom_control` (v1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Processes the OOM killer killed.
    pub kills: u64,
    /// Group kills (v2 `memory.oom.group`): every process at once.
    pub group: u64,
}

pub fn counts(text: &str) -> Counts {
    Counts {
        kills: count(text, "oom_kill").unwrap_or(0),
        group: count(text, "oom_group_kill").unwrap_or(0),
    }
}

/// `cgroup.subtree_control` text enabling every controller named in a
/// `cgroup.controllers` text: `+cpu +memory +pids`.
pub fn enable_all(controllers: &str) -> String {
    controllers
        .split_whitespace()
        .map(|c| format!("+{}", c))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The pids of a `cgroup.procs` text.
pub fn pids(text: &str) -> Vec<i32> {
    text.split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A memory limit for log lines: `32 MiB`, `max`, or as written.
pub fn limit(text: &str) -> String {
    let t = text.trim();
    match t.parse::<u64>() {
        // v1's "no limit" is a page-rounded i64::MAX.
        Ok(n) if n >= 1 << 62 => "max".into(),
        Ok(n) if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        Ok(n) => format!("{} bytes", n),
        Err(_) => t.to_string(),
    }
}

// ---- small file operations ------------------------------------------------

fn cpath(p: &Path) -> Option<CString> {
    CString::new(p.as_os_str().as_bytes()).ok()
}

/// A small cgroup file (bounded, regular, no link at the last name).
pub fn read_small(p: &Path, buf: &mut [u8]) -> Option<usize> {
    files::read_into(&cpath(p)?, buf)
}

fn read_counts(file: &files::Held) -> Option<Counts> {
    let mut buf = [0u8; 512];
    let n = file.reread(&mut buf)?;
    Some(counts(std::str::from_utf8(buf.get(..n)?).ok()?))
}

/// Write `data` to an existing cgroup file.
pub fn write(p: &Path, data: &str) -> std::io::Result<()> {
    files::write_existing(p, data.as_bytes())
}

// ---- the OOM watch ----------------------------------------------------------

/// OOM kills to report: a rise of the count, with the victim's pid when
/// pidone reaped a SIGKILLed process at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kills: u64,
    pub victim: Option<i32>,
    /// A `memory.oom.group` kill: every process of the cgroup at once.
    pub group: bool,
    /// `memory.max 32 MiB` (v1: `memory.limit_in_bytes ...`).
    pub limit: String,
}

/// How the count is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// inotify on `memory.events` (kernfs reports each change).
    Inotify,
    /// An eventfd registered on `memory.oom_control`; the kernel signals
    /// it before the kill, so a look that finds no rise looks again.
    EventFd,
    /// Nothing to wait on (v1, read-only): the count is read when pidone
    /// reaps a process, and at the end of each run.
    Reaps,
}

pub struct Watch {
    file: PathBuf,
    limit_file: PathBuf,
    /// Both held open from the start (`files::Held` says why): nothing
    /// pidone does when a kill is seen may charge the full cgroup.
    counts: files::Held,
    limit: Option<files::Held>,
    fd: Option<OwnedFd>,
    how: How,
    last: Counts,
    /// Kills seen and not yet reported, waiting a moment for their victim
    /// to be reaped so the line can name it.
    pending: u64,
    pending_group: bool,
    report_by: Option<Instant>,
    /// v1: after an event, look again then (its kill may not be counted yet).
    recheck: Option<Instant>,
    rechecks: u8,
}

/// How long a kill waits for its victim to be reaped before it is
/// reported without a pid.
const ATTRIBUTE: Duration = Duration::from_millis(100);
/// How soon and how often a v1 event with no rise yet is looked at again.
const RECHECK: Duration = Duration::from_millis(50);
const RECHECKS: u8 = 20;

impl Watch {
    /// Start watching; None when the count cannot be read at all.
    pub fn start(mem: &Memory) -> Option<Watch> {
        let (file, limit_file) = match mem {
            Memory::V2(d) => (d.join("memory.events"), d.join("memory.max")),
            Memory::V1(d) => (
                d.join("memory.oom_control"),
                d.join("memory.limit_in_bytes"),
            ),
        };
        let counts = files::Held::open(&cpath(&file)?)?;
        let last = read_counts(&counts)?;
        let limit = cpath(&limit_file).and_then(|p| files::Held::open(&p));
        // The first read gives the file its buffer, now, while there is room.
        if let Some(l) = &limit {
            l.reread(&mut [0u8; 64]);
        }
        let fd = match mem {
            Memory::V2(_) => cgroupfs::watch_changes(&file),
            Memory::V1(d) => cgroupfs::oom_eventfd(&file, &d.join("cgroup.event_control")),
        };
        let how = match (mem, &fd) {
            (_, None) => How::Reaps,
            (Memory::V2(_), _) => How::Inotify,
            (Memory::V1(_), _) => How::EventFd,
        };
        Some(Watch {
            file,
            limit_file,
            counts,
            limit,
            fd,
            how,
            last,
            pending: 0,
            pending_group: false,
            report_by: None,
            recheck: None,
            rechecks: 0,
        })
    }

    /// The descriptor for the supervisor's wait, if any.
    pub fn fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// The file watched and how, for the start-up line.
    pub fn describe(&self) -> String {
        let how = match self.how {
            How::Inotify => "inotify",
            How::EventFd => "eventfd",
            How::Reaps => "read when a process is reaped: the cgroup is read-only",
        };
        format!("{} ({})", self.file.display(), how)
    }

    /// The descriptor is readable: drain it and look at the count.
    pub fn ready(&mut self) {
        if let Some(fd) = &self.fd {
            drain(fd.as_raw_fd());
        }
        let rose = self.look();
        if self.how == How::EventFd {
            // v1 signals before it counts its kill, so the rise a look finds
            // may be an earlier event's: look again in any case (once, if
            // this look found one), or the last kill of a run can go
            // uncounted (seen: 99 of 100).
            self.recheck = Some(Instant::now() + RECHECK);
            self.rechecks = if rose { 1 } else { RECHECKS };
        }
    }

    /// pidone reaped `pid`; `sigkilled` when SIGKILL ended it. A kill seen
    /// now (or a moment ago) is its.
    pub fn reaped(&mut self, pid: i32, sigkilled: bool) -> Option<Report> {
        if sigkilled || self.how == How::Reaps {
            self.look();
        }
        if !sigkilled || self.pending == 0 {
            return None;
        }
        self.pending -= 1;
        let group = std::mem::take(&mut self.pending_group);
        if self.pending == 0 {
            self.report_by = None;
        }
        Some(self.report(1, Some(pid), group))
    }

    /// How long the wait may sleep: forever, unless a kill waits for its
    /// victim or a v1 event for its kill to be counted.
    pub fn timeout(&self) -> Option<Duration> {
        let due = match (self.report_by, self.recheck) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        due.map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// The wait timed out (or a run ended: `now`): look again where a look
    /// is due, and report the kills whose victims were not reaped.
    pub fn tick(&mut self, now: bool) -> Option<Report> {
        let t = Instant::now();
        // At a run's end a look is needed only where nothing notifies
        // (read-only v1), a v1 event still waits for its count, or a
        // notification is still unread: a read costs ~20 us here, on
        // every container's way out; a poll far less.
        let end_look = now && (self.how == How::Reaps || self.recheck.is_some() || self.notified());
        if end_look || self.recheck.is_some_and(|r| r <= t) {
            let rose = self.look();
            self.rechecks = self.rechecks.saturating_sub(1);
            self.recheck = (!rose && self.rechecks > 0 && !now).then(|| t + RECHECK);
        }
        if self.pending == 0 || !(now || self.report_by.is_some_and(|r| r <= t)) {
            return None;
        }
        let n = std::mem::take(&mut self.pending);
        let group = std::mem::take(&mut self.pending_group);
        self.report_by = None;
        Some(self.report(n, None, group))
    }

    /// The descriptor has a notification not yet read.
    fn notified(&self) -> bool {
        let Some(fd) = self.fd() else { return false };
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) > 0 }
    }

    /// Read the count; a rise joins the pending kills. True on a rise.
    fn look(&mut self) -> bool {
        let Some(now) = read_counts(&self.counts) else {
            return false;
        };
        let rise = now.kills.saturating_sub(self.last.kills);
        let group = now.group > self.last.group;
        self.last = now;
        if rise == 0 && !group {
            return false;
        }
        self.pending += rise.max(1);
        self.pending_group |= group;
        self.recheck = None;
        if self.report_by.is_none() {
            self.report_by = Some(Instant::now() + ATTRIBUTE);
        }
        true
    }

    fn report(&self, kills: u64, victim: Option<i32>, group: bool) -> Report {
        let mut buf = [0u8; 64];
        let value = self
            .limit
            .as_ref()
            .and_then(|l| l.reread(&mut buf))
            .and_then(|n| buf.get(..n))
            .and_then(|b| std::str::from_utf8(b).ok())
            .map_or_else(|| "unknown".into(), limit);
        let name = self
            .limit_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Report {
            kills,
            victim,
            group,
            limit: format!("{} {}", name, value),
        }
    }
}

/// Read whatever is pending (inotify events, the eventfd's counter).
fn drain(fd: RawFd) {
    let mut buf = [0u8; 1024];
    // SAFETY: reading into a local buffer from a non-blocking descriptor.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// Move pidone into the cgroup `dir` (`--cgroup-nest`: into the command's
/// leaf for the spawn, back into its own after).
pub fn enter(dir: &Path) {
    if let Err(e) = write(&dir.join("cgroup.procs"), "0") {
        log::warn!("cannot enter cgroup {}: {}", dir.display(), e);
    }
}

// ---- the end: cgroup.kill ---------------------------------------------------

/// The pids in `dir`'s `cgroup.procs` (at most what 64 KiB holds).
pub fn procs(dir: &Path) -> Vec<i32> {
    let mut buf = vec![0u8; 64 << 10];
    let n = read_small(&dir.join("cgroup.procs"), &mut buf).unwrap_or(0);
    pids(&String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])))
}

/// SIGKILL, through `cgroup.kill`, to every process of the container's
/// cgroup but pidone: its child cgroups (but pidone's leaf) are killed
/// whole; processes beside pidone are first moved into a leaf of their
/// own (a kill takes the whole subtree, pidone's too). Returns how many
/// cgroups were killed.
pub fn kill_all(cg: &Cgroup) -> usize {
    let Some(dir) = cg.unified.as_deref().filter(|_| cg.own) else {
        return 0;
    };
    let me = std::process::id() as i32;
    let mine = cg.nest.as_ref().map_or(dir, |n| n.init.as_path());
    let mut killed = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let own_leaf = p == mine || e.file_name() == KILL_LEAF;
            if !own_leaf && e.file_type().is_ok_and(|t| t.is_dir()) && kill_one(&p) {
                killed += 1;
            }
        }
    }
    if procs(mine).iter().any(|&p| p != me) && gather_and_kill(mine, me) {
        killed += 1;
    }
    killed
}

/// `cgroup.kill` of one cgroup that has any process in its subtree.
fn kill_one(dir: &Path) -> bool {
    write(&dir.join("cgroup.kill"), "1").is_ok()
}

/// Move every process of `dir` but `me` into `dir/KILL_LEAF` (again while
/// new ones appear from forks), then kill that leaf.
fn gather_and_kill(dir: &Path, me: i32) -> bool {
    let leaf = dir.join(KILL_LEAF);
    let Some(c) = cpath(&leaf) else { return false };
    // SAFETY: mkdir with a valid path; EEXIST is fine.
    unsafe {
        libc::mkdir(c.as_ptr(), 0o755);
    }
    let target = leaf.join("cgroup.procs");
    for _ in 0..64 {
        let rest: Vec<i32> = procs(dir).into_iter().filter(|&p| p != me).collect();
        if rest.is_empty() {
            break;
        }
        for p in rest {
            // A process that exited meanwhile is ESRCH: fine.
            let _ = write(&target, &p.to_string());
        }
    }
    kill_one(&leaf)
}

/// Remove the kill leaf once it is empty (best effort).
pub fn tidy(cg: &Cgroup) {
    let Some(dir) = cg.unified.as_deref() else {
        return;
    };
    let mine = cg.nest.as_ref().map_or(dir, |n| n.init.as_path());
    if let Some(c) = cpath(&mine.join(KILL_LEAF)) {
        // SAFETY: rmdir with a valid path.
        unsafe {
            libc::rmdir(c.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_of_v1_v2_and_hybrid() {
        let hybrid = "9:name=systemd:/\n4:memory:/process_api/8cce\n1:cpu:/\n0::/\n";
        assert_eq!(
            membership(hybrid),
            Membership {
                unified: Some("/".into()),
                memory: Some("/process_api/8cce".into())
            }
        );
        assert_eq!(
            membership("0::/system.slice/docker-1.scope\n").unified,
            Some("/system.slice/docker-1.scope".into())
        );
        assert_eq!(
            membership("5:cpuacct,memory:/x\n").memory,
            Some("/x".into())
        );
        assert_eq!(membership("garbage\n0::relative\n"), Membership::default());
    }

    const MI: &str = "\
31 23 0:28 / /cg ro,nosuid - tmpfs tmpfs rw,mode=755
35 31 0:32 /pdk-1 /cg/memory ro,relatime - cgroup cgroup rw,memory
36 31 0:33 / /cg/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
41 31 0:38 / /cg/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn mounts_are_found_by_type_controller_and_root() {
        let m = mount_of(MI, "/pdk-1", true).unwrap();
        assert_eq!(
            m,
            Mount {
                root: "/pdk-1".into(),
                point: "/cg/memory".into(),
                read_only: true
            }
        );
        assert_eq!(locate(&m, "/pdk-1"), Some("/cg/memory".into()));
        assert_eq!(mount_of(MI, "/other", true), None);
        let u = mount_of(MI, "/a/b", false).unwrap();
        assert!(!u.read_only);
        assert_eq!(locate(&u, "/a/b"), Some("/cg/unified/a/b".into()));
        assert_eq!(locate(&u, "/"), Some("/cg/unified".into()));
        // A root that is a prefix by name only does not hold the path.
        assert_eq!(mount_of(MI, "/pdk-10", true), None);
        // Outside a cgroup namespace's root.
        assert_eq!(locate(&u, "/../x"), None);
        let spaced = "1 0 0:1 / /mnt/my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(mount_of(spaced, "/", false).unwrap().point, "/mnt/my cg");
        assert_eq!(mount_of("junk\n1 2 3\n", "/", false), None);
    }

    #[test]
    fn counts_from_v2_and_v1_files() {
        let v2 = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 1\n";
        assert_eq!(counts(v2), Counts { kills: 2, group: 1 });
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(counts(v1), Counts { kills: 3, group: 0 });
        assert_eq!(counts(""), Counts::default());
        assert_eq!(count("oom_kill x\n", "oom_kill"), None);
    }

    #[test]
    fn controllers_pids_and_limits() {
        assert_eq!(enable_all("cpu memory pids\n"), "+cpu +memory +pids");
        assert_eq!(enable_all("\n"), "");
        assert_eq!(pids("1\n42\n\nx\n"), vec![1, 42]);
        assert_eq!(limit("33554432\n"), "32 MiB");
        assert_eq!(limit("max\n"), "max");
        assert_eq!(limit("9223372036854771712"), "max");
        assert_eq!(limit("1000"), "1000 bytes");
    }
}
