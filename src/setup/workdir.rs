//! Workdir stage: `~` is the user's home; created like `mkdir -p` when the
//! plan says so; the child enters it just before the exec.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Cred;
use crate::error::{Context, Result, Stage};
use crate::plan::Plan;

pub fn apply(plan: &Plan, cred: Option<&Cred>) -> Result<Option<CString>> {
    let Some(dir) = &plan.workdir else {
        return Ok(None);
    };
    let dir = expand_home(dir, cred);
    if plan.create_workdir && !dir.is_dir() {
        std::fs::create_dir_all(&dir).stage(Stage::Workdir, || format!("cannot create {}", dir.display()))?;
        if let Some(c) = cred {
            let _ = std::os::unix::fs::chown(&dir, Some(c.uid), Some(c.gid));
        }
        log::info!("workdir {} created", dir.display());
    }
    log::info!("workdir {}", dir.display());
    super::cstring(dir.as_os_str().as_bytes().to_vec(), Stage::Workdir, "the workdir").map(Some)
}

fn expand_home(dir: &Path, cred: Option<&Cred>) -> PathBuf {
    let home = cred.and_then(|c| c.home.clone()).unwrap_or_else(|| "/".into());
    match dir.strip_prefix("~") {
        Ok(rest) => Path::new(&home).join(rest),
        Err(_) => dir.to_path_buf(),
    }
}
