//! The zone's metadata service (SmartOS metadata protocol V2, V1): frames
//! (pure) and the client (I/O). What the values mean is `metadata::`'s.

pub mod client;
pub mod frame;
pub mod source;
pub mod zone;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::cli::{Source, DEFAULT_METADATA};
use crate::error::{Error, Result, Stage};
use client::Transport;
use zone::Session;

/// The input step of the metadata flow: the document, where it came from
/// (for the log), the open service (for the zone's handshakes), and what
/// the search looked at.
pub struct Loaded {
    pub doc: Doc,
    pub from: String,
    pub session: Option<Session>,
    pub tried: Vec<String>,
}

/// A document's bytes, or the keys the service gave (kept as a map: a
/// round trip through JSON text would link serde_json's serializer).
pub enum Doc {
    Bytes(Vec<u8>),
    Keys(serde_json::Map<String, serde_json::Value>),
}

/// Find the source (unless named), then read the file or ask the service.
pub fn load(source: &Source, machine: bool) -> Result<Loaded> {
    let (source, tried) = match source {
        Source::Search => {
            let product = machine.then(|| {
                std::fs::read_to_string(source::DMI_PRODUCT)
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            });
            let socket =
                |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket());
            let file = |p: &Path| p.exists();
            let facts = source::Facts {
                socket: &socket,
                file: &file,
                machine: product.as_deref(),
            };
            source::search(&facts, Path::new(DEFAULT_METADATA))
                .map_err(|e| Error::new(Stage::Metadata, e))?
        }
        s => (s.clone(), Vec::new()),
    };
    let transport = match &source {
        Source::Socket(p) => Transport::Socket(p.clone()),
        Source::Serial(p) => Transport::Serial(p.clone()),
        _ => {
            return Ok(Loaded {
                doc: Doc::Bytes(crate::metadata::read(&source)?),
                from: crate::metadata::describe(&source),
                session: None,
                tried,
            })
        }
    };
    let mut session = Session::open(&transport)?;
    let doc = Doc::Keys(session.fetch()?);
    Ok(Loaded {
        doc,
        from: session.describe(),
        session: Some(session),
        tried,
    })
}
