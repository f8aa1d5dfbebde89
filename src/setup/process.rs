//! Process-wide settings, before anything is started: a subreaper when
//! not PID 1 (so orphans come to pidone even nested; not as dumb-init,
//! which leaves them to whoever reaps for its parent), the parent-death
//! signal, and for a machine Ctrl-Alt-Del as a signal.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::plan::{End, Plan};

/// pidone's parent when it started (`note_parent`).
static PARENT: AtomicI32 = AtomicI32::new(0);

/// Note pidone's parent, first thing: the parent-death signal set later
/// only comes if that parent is still alive then.
#[cfg_attr(test, allow(dead_code))]
pub fn note_parent() {
    // SAFETY: getppid has no preconditions.
    PARENT.store(unsafe { libc::getppid() }, Ordering::Relaxed);
}

pub fn become_reaper(plan: &Plan) {
    let nested = std::process::id() != 1 && plan.end == End::Grace;
    if nested || plan.subreaper {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            log::warn!(
                "cannot become a child subreaper ({}): orphans will not be reaped by pidone",
                std::io::Error::last_os_error()
            );
        }
    }
    if let Some(sig) = plan.pdeathsig {
        // SAFETY: as above.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } != 0 {
            log::warn!(
                "cannot set the parent-death signal: {}",
                std::io::Error::last_os_error()
            );
        } else if parent_gone() {
            // The parent died before the call: the kernel had no one to
            // watch, so the signal will never come. Act as if it had.
            log::warn!(
                "the parent (pid {}) ended before the parent-death signal was set: acting as if {} came",
                PARENT.load(Ordering::Relaxed),
                crate::signals::name(sig)
            );
            crate::signals::queue_to_self(sig);
        }
    }
}

/// Re-parented since start (to a subreaper or the namespace's init). A
/// parent in another pid namespace shows as 0 and cannot be watched so.
fn parent_gone() -> bool {
    let first = PARENT.load(Ordering::Relaxed);
    // SAFETY: getppid has no preconditions.
    first != 0 && unsafe { libc::getppid() } != first
}

/// Turn Ctrl-Alt-Del into SIGINT for pidone (else the kernel reboots at
/// once), so the keyboard shortcut or the VMM's "ctrl-alt-del" shuts down
/// gracefully.
pub fn disable_cad() {
    // SAFETY: reboot with a valid command.
    if unsafe { libc::reboot(libc::RB_DISABLE_CAD) } != 0 {
        log::warn!(
            "cannot make Ctrl-Alt-Del a signal: {}",
            std::io::Error::last_os_error()
        );
    }
}
