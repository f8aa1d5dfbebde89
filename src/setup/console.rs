//! Console stage: the command's stdio on the console device.

use super::Stdio;
use crate::error::{Error, Result, Stage};
use crate::plan::Console;

pub fn open(console: Option<&Console>) -> Result<Option<Stdio>> {
    match console {
        None => Ok(None),
        Some(_) => Err(Error::new(Stage::Console, "console attachment is not supported yet")),
    }
}
