//! The process table from illumos' /proc: one binary `psinfo` file per
//! process (layout in illumos_abi). In a zone, /proc lists the zone's
//! processes only.

use crate::sys::illumos_abi::psinfo;
pub use crate::sys::Proc;

fn info(pid: i32) -> Option<Proc> {
    let path = format!("/proc/{}/psinfo", pid);
    // Bounded and non-blocking, as every read.
    let b = crate::sys::files::read_bounded(std::path::Path::new(&path), 4096).ok()?;
    let (pid, ppid, state) = psinfo(&b)?;
    Some(Proc { pid, ppid, state })
}

/// pidone's ancestors, parent first (none for the zone's init).
pub fn ancestors() -> Vec<i32> {
    let mut out = Vec::new();
    // SAFETY: getppid has no preconditions.
    let mut p = unsafe { libc::getppid() };
    while p > 0 && out.len() < 4096 && !out.contains(&p) {
        out.push(p);
        match info(p) {
            Some(i) => p = i.ppid,
            None => break,
        }
    }
    out
}

/// Every process with its parent and state.
pub fn table() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| info(e.ok()?.file_name().to_str()?.parse().ok()?))
        .collect()
}

/// The children of `parent`.
pub fn children_of(parent: i32) -> Vec<i32> {
    table()
        .into_iter()
        .filter_map(|p| (p.ppid == parent).then_some(p.pid))
        .collect()
}

/// illumos' /proc is always this zone's own.
pub fn is_own() -> bool {
    std::path::Path::new("/proc/self/psinfo").exists()
}

/// A zombie: exited, not yet reaped by its parent.
pub fn is_zombie(pid: i32) -> bool {
    info(pid).is_some_and(|p| p.state == 'Z')
}

/// Stopped by a signal.
pub fn is_stopped(pid: i32) -> bool {
    info(pid).is_some_and(|p| p.state == 'T')
}
