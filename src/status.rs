//! The exit record: after every run, a small JSON file rewritten atomically
//! (like a zone's `lastexited`), for whoever watches from outside.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use crate::log::timestamp;
use crate::supervise::Exit;

pub fn record(path: &Path, exit: &Exit, started: SystemTime, ended: SystemTime, restarts: u32) {
    let doc = serde_json::json!({
        "exit_code": exit.code,
        "signal": exit.signal,
        "started": timestamp(started),
        "ended": timestamp(ended),
        "restarts": restarts,
    });
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The log directory may be disabled or elsewhere.
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = write_atomically(path, format!("{}\n", doc).as_bytes()) {
        log::warn!("cannot write {}: {}", path.display(), e);
    }
}

/// Write to a temporary file beside `path`, then rename it over `path`, so
/// a reader sees the old or the new content, never half of one.
pub fn write_atomically(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
