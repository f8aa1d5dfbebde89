//! Process-wide settings, before anything is started: a subreaper when
//! not the init of its pid space (so orphans come to pidone even nested;
//! not as dumb-init, which leaves them to whoever reaps for its parent),
//! the parent-death signal, and for a machine Ctrl-Alt-Del as a signal.

use crate::plan::{End, Plan};
use crate::sys::process;

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
        }
    }
}

/// Ctrl-Alt-Del as a signal to pidone rather than an instant reboot, so
/// the keyboard shortcut or the VMM's "ctrl-alt-del" shuts down gracefully.
pub fn disable_cad() {
    if let Err(e) = process::disable_cad() {
        log::warn!("cannot make Ctrl-Alt-Del a signal: {}", e);
    }
}
