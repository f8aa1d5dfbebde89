//! Kernel modules: Linux's only (a zone cannot load any).

use crate::error::{Result, Stage};

pub fn load(wanted: &[String]) -> Result<()> {
    if wanted.is_empty() {
        return Ok(());
    }
    Err(super::unsupported(Stage::Modules, "loading kernel modules"))
}
