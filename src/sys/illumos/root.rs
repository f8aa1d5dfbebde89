//! A machine's root switch: Linux's only.

use crate::error::{Result, Stage};
use crate::plan::RootSwitch;

pub fn switch(_root: &RootSwitch) -> Result<()> {
    Err(super::unsupported(Stage::Root, "switching the root"))
}
