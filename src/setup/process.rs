//! Process-wide settings, before anything is started: a subreaper when
//! not PID 1 (so orphans come to pidone even nested; not as dumb-init,
//! which leaves them to whoever reaps for its parent), the parent-death
//! signal, and for a machine Ctrl-Alt-Del as a signal.

use crate::plan::{End, Plan};

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
        }
    }
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
