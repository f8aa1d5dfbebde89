//! `sdc:nics` and `sdc:routes` values into the plan's network.
//! (Owned by the network work; the metadata parser calls these.)

use crate::error::Result;
use crate::plan::{Nic, Route};

/// Parse the (already JSON-decoded) value of `sdc:nics`.
pub fn nics(_value: &serde_json::Value) -> Result<Vec<Nic>> {
    Ok(Vec::new())
}

/// Parse the (already JSON-decoded) value of `sdc:routes`.
pub fn routes(_value: &serde_json::Value) -> Result<Vec<Route>> {
    Ok(Vec::new())
}
