//! Process-wide settings, before anything is started: a subreaper when
//! not the init of its pid space (so orphans come to pidone even nested;
//! not as dumb-init, which leaves them to whoever reaps for its parent),
//! the parent-death signal, and for a machine Ctrl-Alt-Del as a signal.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::plan::{End, Plan};
use crate::sys::process;

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
    let nested = !process::is_init() && plan.end == End::Grace;
    if nested || plan.subreaper {
        if let Err(e) = process::set_child_subreaper() {
            log::warn!(
                "cannot become a child subreaper ({}): orphans will not be reaped by pidone",
                e
            );
        }
    }
    if let Some(sig) = plan.pdeathsig {
        if let Err(e) = process::set_parent_death_signal(sig) {
            log::warn!("cannot set the parent-death signal: {}", e);
        } else if parent_gone() {
            // The parent died before the call: the kernel had no one to
            // watch, so the signal will never come. Act as if it had.
            log::warn!(
                "the parent (pid {}) ended before the parent-death signal was set: acting as if {} came",
                PARENT.load(Ordering::Relaxed),
                crate::sys::signals::name(sig)
            );
            crate::sys::signals::queue_to_self(sig);
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

/// Ctrl-Alt-Del as a signal to pidone rather than an instant reboot, so
/// the keyboard shortcut or the VMM's "ctrl-alt-del" shuts down gracefully.
pub fn disable_cad() {
    if let Err(e) = process::disable_cad() {
        log::warn!("cannot make Ctrl-Alt-Del a signal: {}", e);
    }
}
