//! A machine's early mounts: Linux's only.

use crate::error::{Result, Stage};

#[derive(Debug, Default)]
pub struct Report {
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn apply() -> Result<Report> {
    Err(super::unsupported(Stage::Mounts, "machine mode"))
}
