//! Network stage: loopback, interfaces, addresses and routes.

use crate::error::{Error, Result, Stage};
use crate::plan::Network;

pub fn apply(net: &Network) -> Result<()> {
    if !net.loopback && net.nics.is_empty() && net.routes.is_empty() {
        return Ok(());
    }
    Err(Error::new(Stage::Net, "network configuration is not supported yet"))
}
