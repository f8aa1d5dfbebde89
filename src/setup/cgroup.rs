//! The cgroup stage: find the container's cgroup (v2 from `0::/path` and
//! the unified mount, v1's memory controller directory), read-only; with
//! `--cgroup-nest`, move pidone into a leaf of its own and enable the
//! available controllers for the command's cgroups. The texts are parsed
//! by `crate::cgroup`; this stage only reads and writes.
//!
//! Without `--cgroup-nest` nothing happens here before the command: the
//! supervisor calls `find` a moment after the spawn (see
//! `supervise::discover`), off the start-up path.

use std::ffi::CStr;
use std::path::Path;

use crate::cgroup::{self, Cgroup, Memory, Nest};
use crate::error::{Error, Result, Stage};
use crate::plan::Plan;
use crate::sys::{self, cgroupfs, files};

/// What discovery reads is small; a mount table larger than this (a host
/// with thousands of mounts) is read again with the general reader.
const MOUNTINFO_FAST: usize = 16 << 10;
const MOUNTINFO_MAX: usize = 4 << 20;

fn read_proc(path: &CStr, buf: &mut [u8]) -> Option<usize> {
    files::read_into(path, buf)
}

fn exists(p: &Path, mode: i32) -> bool {
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: a valid C string.
    unsafe { libc::access(c.as_ptr(), mode) == 0 }
}

/// `--cgroup-nest`: find the container's cgroup and nest. Nothing (None)
/// without it.
pub fn apply(plan: &Plan) -> Result<Option<Cgroup>> {
    if !plan.cgroup_nest {
        return Ok(None);
    }
    let mut cg = find().unwrap_or_default();
    let dir = cg
        .unified
        .clone()
        .filter(|_| cg.own)
        .ok_or_else(|| {
            Error::new(
                Stage::Cgroup,
                "--cgroup-nest needs a writable cgroup v2 that is the container's own (privileged, or a delegated cgroup)",
            )
        })?;
    cg.nest = Some(nest(&dir)?);
    Ok(Some(cg))
}

/// The container's cgroup; None (and one info line) when there is no
/// cgroup file system to use.
pub fn find() -> Option<Cgroup> {
    let found = look();
    if found.is_none() {
        log::info!("no cgroup file system found: OOM reporting and cgroup.kill are off");
    }
    found
}

/// Whether every process in cgroup `dir` is pidone or one of its
/// descendants: the cgroup is the container's own, not one pidone shares
/// with a shell or a session.
fn only_ours(dir: &Path) -> bool {
    let me = std::process::id() as i32;
    let procs = cgroup::procs(dir);
    if procs == [me] {
        return true;
    }
    // The table is read after cgroup.procs: a pid listed there but gone
    // from the table has exited in between (a short-lived child of the
    // command, such as a shell loop's `sleep`), not a stranger. Counting
    // it as one turned cgroup.kill off for the whole run.
    let table = sys::procfs::table();
    // Without a table (no /proc) nothing can be told apart: not ours.
    if !table.iter().any(|t| t.pid == me) {
        return false;
    }
    let ours = sys::descendants(me, &table);
    let gone = |p: i32| !table.iter().any(|t| t.pid == p);
    // 0 is how cgroup.procs shows a process outside pidone's pid
    // namespace: a stranger, never one that is gone.
    procs
        .iter()
        .all(|&p| p > 0 && (p == me || ours.iter().any(|d| d.pid == p) || gone(p)))
}

fn look() -> Option<Cgroup> {
    let mut buf = [0u8; 4096];
    let n = read_proc(cgroupfs::SELF_CGROUP, &mut buf)?;
    let text = std::str::from_utf8(buf.get(..n)?).ok()?;
    let member = cgroup::membership(text);
    if member.unified.is_none() && member.memory.is_none() {
        return None;
    }
    let mut mi = vec![0u8; MOUNTINFO_FAST];
    let n = read_proc(cgroupfs::SELF_MOUNTINFO, &mut mi)?;
    if n == MOUNTINFO_FAST {
        mi = files::read_bounded(
            Path::new(cgroupfs::SELF_MOUNTINFO.to_str().ok()?),
            MOUNTINFO_MAX,
        )
        .ok()?;
    } else {
        mi.truncate(n);
    }
    let mi = std::str::from_utf8(&mi).ok()?;
    let mut cg = Cgroup::default();
    if let Some(path) = &member.unified {
        if let Some(m) = cgroup::mount_of(mi, path, false) {
            let dir = cgroup::locate(&m, path);
            if let Some(d) = dir.as_deref() {
                if exists(&d.join("memory.events"), libc::F_OK) {
                    cg.memory = Some(Memory::V2(d.to_path_buf()));
                }
                // The root cgroup has no cgroup.kill; a read-only one
                // cannot be written; a shared one is not the container's.
                cg.own = !m.read_only && exists(&d.join("cgroup.kill"), libc::W_OK) && only_ours(d);
            }
            cg.unified = dir;
        }
    }
    if let (None, Some(path)) = (&cg.memory, &member.memory) {
        let dir = cgroup::mount_of(mi, path, true).and_then(|m| cgroup::locate(&m, path));
        cg.memory = dir
            .filter(|d| exists(&d.join("memory.oom_control"), libc::F_OK))
            .map(Memory::V1);
    }
    (cg.unified.is_some() || cg.memory.is_some()).then_some(cg)
}

fn fail(what: String, e: std::io::Error) -> Error {
    Error::new(Stage::Cgroup, format!("{}: {}", what, e))
}

/// pidone (and whatever else is there) into `dir/init`, the command's leaf
/// made, every available controller enabled in `dir`.
fn nest(dir: &Path) -> Result<Nest> {
    let init = dir.join(cgroup::INIT_LEAF);
    let command = dir.join(cgroup::COMMAND_LEAF);
    for leaf in [&init, &command] {
        mkdir(leaf)?;
    }
    let procs = init.join("cgroup.procs");
    cgroup::write(&procs, "0").map_err(|e| fail(format!("{}", procs.display()), e))?;
    // Anything else already there moves too: no process may stay in a
    // cgroup whose controllers are enabled for its children.
    for p in cgroup::procs(dir) {
        let _ = cgroup::write(&procs, &p.to_string());
    }
    let mut buf = [0u8; 512];
    let n = cgroup::read_small(&dir.join("cgroup.controllers"), &mut buf).unwrap_or(0);
    let available = String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned();
    let control = dir.join("cgroup.subtree_control");
    let mut enabled = Vec::new();
    if cgroup::write(&control, &cgroup::enable_all(&available)).is_ok() {
        enabled = available.split_whitespace().collect();
    } else {
        // One refused controller refuses the whole line: one at a time.
        for c in available.split_whitespace() {
            match cgroup::write(&control, &format!("+{}", c)) {
                Ok(()) => enabled.push(c),
                Err(e) => log::warn!("stage=cgroup: cannot enable {} for the command: {}", c, e),
            }
        }
    }
    log::info!(
        "cgroup: pidone in {}, the command in {}; enabled: {}",
        init.display(),
        command.display(),
        if enabled.is_empty() {
            "none".to_string()
        } else {
            enabled.join(" ")
        }
    );
    Ok(Nest { init, command })
}

fn mkdir(p: &Path) -> Result<()> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::new(Stage::Cgroup, "a NUL byte in the cgroup path"))?;
    // SAFETY: a valid C string.
    if unsafe { libc::mkdir(c.as_ptr(), 0o755) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(fail(format!("mkdir {}", p.display()), e));
        }
    }
    Ok(())
}
