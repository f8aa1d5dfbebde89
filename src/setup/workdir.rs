//! Workdir stage: `~` is the user's home; created like `mkdir -p` when the
//! plan says so, each directory pidone made then owned by the user; the
//! child enters it (as the user) just before the exec.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result, Stage};
use crate::launch::{cstring, Cred};
use crate::sys::files;

pub fn apply(plan: &crate::plan::Plan, cred: Option<&Cred>) -> Result<Option<CString>> {
    let Some(dir) = &plan.workdir else {
        return Ok(None);
    };
    let dir = expand_home(dir, cred);
    if plan.create_workdir {
        // No link followed at any component; each new directory owned on
        // its own descriptor. A refused path is fatal, naming it.
        let owner = cred.map(|c| (c.uid, c.gid));
        let made = files::create_dirs(&dir, owner).map_err(|e| {
            Error::new(
                Stage::Workdir,
                format!("cannot create {}: {}", dir.display(), e),
            )
        })?;
        for d in made {
            log::info!("workdir {} created", d.display());
        }
    }
    let meta = std::fs::metadata(&dir)
        .stage(Stage::Workdir, || format!("cannot enter {}", dir.display()))?;
    if !meta.is_dir() {
        return Err(Error::new(
            Stage::Workdir,
            format!("{} is not a directory", dir.display()),
        ));
    }
    log::info!("workdir {}", dir.display());
    cstring(
        dir.as_os_str().as_bytes().to_vec(),
        Stage::Workdir,
        "the workdir",
    )
    .map(Some)
}

/// `~` and `~/x` are the user's home (`/` without one); relative paths are
/// taken from `/`, where the command would otherwise start.
fn expand_home(dir: &Path, cred: Option<&Cred>) -> PathBuf {
    let home = cred
        .and_then(|c| c.home.clone())
        .unwrap_or_else(|| "/".into());
    match dir.strip_prefix("~") {
        Ok(rest) if rest.as_os_str().is_empty() => PathBuf::from(home),
        Ok(rest) => Path::new(&home).join(rest),
        Err(_) => Path::new("/").join(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_expansion() {
        let c = Cred {
            uid: 1,
            gid: 1,
            groups: vec![],
            home: Some("/home/u".into()),
            name: None,
        };
        assert_eq!(
            expand_home(Path::new("~"), Some(&c)),
            PathBuf::from("/home/u")
        );
        assert_eq!(
            expand_home(Path::new("~/w/x"), Some(&c)),
            PathBuf::from("/home/u/w/x")
        );
        assert_eq!(expand_home(Path::new("~/w"), None), PathBuf::from("/w"));
        assert_eq!(
            expand_home(Path::new("/srv"), Some(&c)),
            PathBuf::from("/srv")
        );
        assert_eq!(expand_home(Path::new("rel"), None), PathBuf::from("/rel"));
        assert_eq!(
            expand_home(Path::new("~other"), None),
            PathBuf::from("/~other")
        );
    }
}
