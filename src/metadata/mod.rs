//! Metadata documents (SmartOS zone metadata, OCI image config) into a plan.

pub mod machine;
pub mod net;

use crate::cli::Source;
use crate::error::{Error, Result, Stage};
use crate::plan::Plan;

/// Largest document accepted.
pub const MAX_SIZE: usize = 1 << 20;

/// Read the document (an input step, before any parsing).
pub fn read(source: &Source) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    let r = match source {
        Source::Stdin => std::io::stdin().take(MAX_SIZE as u64 + 1).read_to_end(&mut buf),
        Source::File(p) => std::fs::File::open(p).and_then(|f| f.take(MAX_SIZE as u64 + 1).read_to_end(&mut buf)),
    };
    r.map_err(|e| Error::new(Stage::Metadata, format!("cannot read {:?}: {}", source, e)))?;
    Ok(buf)
}

pub fn parse(doc: &[u8], mut base: Plan) -> Result<Plan> {
    if let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice(doc) {
        machine::apply(&obj, &mut base)?;
    }
    Err(Error::new(Stage::Metadata, "metadata documents are not supported yet"))
}
