//! Helper daemons started before the network and optionally killed after it.

use crate::error::{Error, Result, Stage};
use crate::plan::Helpers;

/// Start the helpers in order; returns their pids.
pub fn start(helpers: &Helpers) -> Result<Vec<i32>> {
    if helpers.daemons.is_empty() {
        return Ok(Vec::new());
    }
    Err(Error::new(Stage::Helpers, "helper daemons are not supported yet"))
}

/// SIGTERM, wait up to 2 s, SIGKILL, reap.
pub fn kill(pids: &mut Vec<i32>) {
    pids.clear();
}
