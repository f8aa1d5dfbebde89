//! The end of a zone: its init exits and the zone halts (zoneadmd sees
//! the init gone). No machine mode runs here, so this is only reached
//! if one were asked for.

use crate::plan::PowerAction;

pub fn status_line(code: i32) -> String {
    format!("pidone: exit status {}\n", code)
}

pub fn end(code: i32, _power: PowerAction) -> ! {
    use std::io::Write;
    // Never waiting on a stopped terminal (see log.rs).
    if let Some(fd) = super::stderr_own_nonblocking() {
        let _ = std::fs::File::from(fd).write_all(status_line(code).as_bytes());
    }
    std::process::exit(code)
}
