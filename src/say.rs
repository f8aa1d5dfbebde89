//! What the supervisor says about each event: pidone's own lines, or,
//! called by one of tini's names, tini's words at tini's levels (people
//! match them in logs and tests: `Reaped zombie process with pid=` for
//! `-w`, the per-SIGCHLD debug and trace lines).

use std::ffi::OsString;

use crate::plan::LogStyle;
use crate::status::Exit;
use crate::sys::signals;

/// The command was started.
pub fn started(style: LogStyle, command: &[OsString], pid: i32) {
    match style {
        LogStyle::Pidone => log::info!("started pid {}", pid),
        LogStyle::Tini => log::info!(
            "Spawned child process '{}' with pid '{}'",
            command
                .first()
                .map(|c| c.to_string_lossy())
                .unwrap_or_default(),
            pid
        ),
    }
}

/// A SIGCHLD came (tini: debug).
#[link_section = ".text_hot"]
pub fn sigchld(style: LogStyle) {
    if style == LogStyle::Tini {
        log::debug!("Received SIGCHLD");
    }
}

/// A child was reaped, whichever (tini: debug, before what it was).
#[link_section = ".text_hot"]
pub fn reaped(style: LogStyle, pid: i32) {
    if style == LogStyle::Tini {
        log::debug!("Reaped child with pid: '{}'", pid);
    }
}

/// A reaping round is over (tini: trace, at every round).
#[link_section = ".text_hot"]
pub fn reaped_all(style: LogStyle, children_left: bool) {
    if style == LogStyle::Tini {
        if children_left {
            log::trace!("No child to reap");
        } else {
            log::trace!("No child to wait");
        }
    }
}

/// The command ended.
pub fn command_ended(style: LogStyle, pid: i32, exit: &Exit) {
    match (style, exit.signal) {
        (LogStyle::Pidone, _) => log::info!("pid {} {}", pid, exit.describe()),
        (LogStyle::Tini, Some(sig)) => log::info!(
            "Main child exited with signal (with signal '{}')",
            description(sig)
        ),
        (LogStyle::Tini, None) => {
            log::info!("Main child exited normally (with status '{}')", exit.code)
        }
    }
}

/// A process other than the command (and the helpers) was reaped; `warn`
/// with `-w`.
#[link_section = ".text_hot"]
pub fn reaped_other(style: LogStyle, warn: bool, pid: i32, exit: &Exit) {
    match (style, warn) {
        (LogStyle::Pidone, true) => log::warn!("reaped zombie pid {} ({})", pid, exit.describe()),
        (LogStyle::Pidone, false) => log::debug!("reaped pid {} ({})", pid, exit.describe()),
        (LogStyle::Tini, true) => log::warn!("Reaped zombie process with pid={}", pid),
        // (tini's debug line for every reaped child is `reaped`.)
        (LogStyle::Tini, false) => {}
    }
}

/// A signal is passed on to the command (`target`: its pid, or minus its
/// process group).
#[link_section = ".text_hot"]
pub fn forwarding(style: LogStyle, sig: i32, target: i32) {
    match style {
        LogStyle::Pidone => log::debug!("forwarding {} to {}", signals::name(sig), target),
        LogStyle::Tini => log::debug!("Passing signal: '{}'", description(sig)),
    }
}

/// The C library's text for a signal ("Terminated"), as tini prints it.
fn description(sig: i32) -> String {
    // SAFETY: strsignal returns a NUL-terminated string the C library
    // owns (static in musl); it is copied at once, and pidone has no
    // threads to race on it.
    unsafe {
        let p = libc::strsignal(sig);
        if p.is_null() {
            return signals::name(sig);
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}
