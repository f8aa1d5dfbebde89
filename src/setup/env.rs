//! Environment stage: the command's environment, built in the plan's order
//! from entries the parsers already split. Only names are logged, never
//! values.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result, Stage};
use crate::launch::Cred;
use crate::plan::{EnvVar, Plan, DEFAULT_PATH};
use crate::sys::files;
use crate::values;

/// The largest `--env-file` read (Docker has no limit; the kernel's
/// argument space is the real one).
const ENV_FILE_MAX: usize = 1 << 20;
/// The largest secret a `NAME_FILE` names.
const SECRET_MAX: usize = 64 << 10;

/// `NAME=value` entries, borrowed; a later name replaces an earlier one
/// in place. The map from name to position keeps the merge O(n log n): the
/// image decides how many entries there are (a search per entry was 18 s
/// of CPU for 95,000 before the command started). A B-tree, not a hash:
/// no random seed to fetch at every start, no hash an image could flood.
struct Entries<'a> {
    list: Vec<(&'a [u8], &'a [u8])>,
    at: BTreeMap<&'a [u8], usize>,
}

impl<'a> Entries<'a> {
    fn with_capacity(n: usize) -> Entries<'a> {
        Entries {
            list: Vec::with_capacity(n),
            at: BTreeMap::new(),
        }
    }

    fn set(&mut self, name: &'a [u8], value: &'a [u8]) {
        match self.at.get(name).and_then(|&i| self.list.get_mut(i)) {
            Some(slot) => slot.1 = value,
            None => {
                self.at.insert(name, self.list.len());
                self.list.push((name, value));
            }
        }
    }
}

/// An environment this large gets a line saying what merging it cost.
const LARGE_ENV: usize = 1000;

pub fn build(plan: &Plan, cred: Option<&Cred>) -> Result<Vec<CString>> {
    let env = build_from(plan, cred, std::env::vars_os())?;
    if let Some(names) = &plan.env.from_files {
        return from_files(env, cred, names);
    }
    Ok(env)
}

fn build_from(
    plan: &Plan,
    cred: Option<&Cred>,
    inherited: impl Iterator<Item = (OsString, OsString)>,
) -> Result<Vec<CString>> {
    let merge = std::time::Instant::now();
    let spec = &plan.env;
    let inherited: Vec<(OsString, OsString)> =
        if spec.inherit || !spec.keep.is_empty() || !spec.files.is_empty() {
            inherited.collect()
        } else {
            Vec::new()
        };
    let from_files = env_files(&spec.files, &inherited)?;
    let home = cred
        .and_then(|c| c.home.clone())
        .unwrap_or_else(|| "/".into());
    // Room for every entry at once: each growth step is a new size class
    // for musl's allocator, often an mmap and a munmap.
    let mut env = Entries::with_capacity(inherited.len() + spec.set.len() + 4);
    for (k, v) in &inherited {
        if spec.inherit || spec.keep.iter().any(|n| n.as_bytes() == k.as_bytes()) {
            env.set(k.as_bytes(), v.as_bytes());
        }
    }
    if spec.defaults {
        env.set(b"PATH", DEFAULT_PATH.as_bytes());
        env.set(b"HOME", home.as_bytes());
        if let Some(h) = &plan.hostname {
            env.set(b"HOSTNAME", h.as_bytes());
        }
        if plan.console.as_ref().is_some_and(|c| c.tty) {
            env.set(b"TERM", b"xterm");
        }
    }
    for var in spec.set.iter().chain(&from_files) {
        env.set(var.name.as_bytes(), var.value.as_bytes());
    }
    let out: Vec<CString> = env
        .list
        .iter()
        .filter_map(|(k, v)| {
            let mut e = Vec::with_capacity(k.len() + v.len() + 2);
            e.extend_from_slice(k);
            e.push(b'=');
            e.extend_from_slice(v);
            CString::new(e).ok()
        })
        .collect();
    // The image decides the entry count; for a large one, what it cost
    // (bench/env.sh reads this line).
    if out.len() >= LARGE_ENV {
        log::info!(
            "env: {} entries merged in {} us",
            out.len(),
            merge.elapsed().as_micros()
        );
    }
    if !spec.inherit {
        for (k, _) in &env.list {
            log::info!("env {}", String::from_utf8_lossy(k));
        }
    }
    Ok(out)
}

/// The `--env-file`s, in order. A line that is only `NAME` takes pidone's
/// own value, as Docker takes the client's.
fn env_files(paths: &[std::path::PathBuf], own: &[(OsString, OsString)]) -> Result<Vec<EnvVar>> {
    let mut out = Vec::new();
    for p in paths {
        let fail =
            |msg: String| Error::new(Stage::Env, format!("env file {}: {}", p.display(), msg));
        // The caller named it: links are followed; still never a FIFO or
        // something huge.
        let text = files::read_input(p, ENV_FILE_MAX, true).map_err(|e| fail(e.to_string()))?;
        let lookup = |n: &OsStr| {
            own.iter()
                .rev()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        let vars = values::env_file(&text, lookup).map_err(fail)?;
        log::info!("env file {}: {} entries", p.display(), vars.len());
        out.extend(vars);
    }
    Ok(out)
}

/// `--env-from-files`: `NAME_FILE=/path` becomes `NAME` = the file's
/// contents (trailing newlines dropped), in its place, for the names in
/// `only` (a failure is exit 125) or, with none given, every `*_FILE` whose
/// file can be read (the others stay, a warning); `NAME_FILE` goes,
/// as the official images' `file_env` does. With `NAME` set too, both
/// stay as they are (a warning). The names may come from the image, so the file must be one the
/// command's user could read itself; values are never logged.
fn from_files(env: Vec<CString>, cred: Option<&Cred>, only: &[String]) -> Result<Vec<CString>> {
    // Whether NAME is set too: a scan per `*_FILE` entry, which are few
    // (no second hash table type in the binary for them).
    let is_set = |name: &[u8]| {
        env.iter().any(|e| {
            e.as_bytes()
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(b"="))
        })
    };
    env.iter()
        .map(|e| {
            let e = e.clone();
            let bytes = e.as_bytes();
            let Some((name, path)) = bytes
                .iter()
                .position(|&b| b == b'=')
                .and_then(|i| Some((bytes.get(..i)?, bytes.get(i + 1..)?)))
            else {
                return Ok(e);
            };
            let Some(target) = name.strip_suffix(b"_FILE").filter(|t| !t.is_empty()) else {
                return Ok(e);
            };
            // Every `*_FILE` (best effort: any such variable may be one the
            // image sets for another reason), or the names asked for.
            let all = only.is_empty();
            if !all && !only.iter().any(|n| n.as_bytes() == target) {
                return Ok(e);
            }
            // Not a path (cargo's CARGO_PKG_LICENSE_FILE is often ""): not
            // a secret's reference.
            if !path.starts_with(b"/") {
                return Ok(e);
            }
            let shown = String::from_utf8_lossy(name);
            let fail = |msg: String| Error::new(Stage::Env, format!("{}: {}", shown, msg));
            if is_set(target) {
                log::warn!(
                    "stage=env: {} left as it is: {} is set too",
                    shown,
                    String::from_utf8_lossy(target)
                );
                return Ok(e);
            }
            let value = match secret(Path::new(OsStr::from_bytes(path)), cred) {
                Ok(v) => v,
                Err(why) if all => {
                    log::warn!("stage=env: {} left as it is: {}", shown, why);
                    return Ok(e);
                }
                Err(why) => return Err(fail(why)),
            };
            let mut entry = target.to_vec();
            entry.push(b'=');
            entry.extend_from_slice(&value);
            log::info!(
                "env {} from {}",
                String::from_utf8_lossy(target),
                Path::new(OsStr::from_bytes(path)).display()
            );
            CString::new(entry).map_err(|_| fail("the file holds a NUL byte".into()))
        })
        .collect()
}

/// A secret file's contents, bounded, links followed (Kubernetes' secrets
/// are links into `..data`), refused unless the command's user could read
/// it by its mode; trailing newlines dropped.
fn secret(path: &Path, cred: Option<&Cred>) -> std::result::Result<Vec<u8>, String> {
    let (mut value, st) = files::read_with_stat(path, SECRET_MAX)
        .map_err(|e| format!("{}: {}", path.display(), e))?;
    if let Some(c) = cred.filter(|c| c.uid != 0) {
        let mode = st.st_mode;
        let readable = if st.st_uid == c.uid {
            mode & 0o400 != 0
        } else if c.groups.contains(&st.st_gid) || st.st_gid == c.gid {
            mode & 0o040 != 0
        } else {
            mode & 0o004 != 0
        };
        if !readable {
            return Err(format!("{}: uid {} may not read it", path.display(), c.uid));
        }
    }
    while value.last() == Some(&b'\n') {
        value.pop();
        if value.last() == Some(&b'\r') {
            value.pop();
        }
    }
    Ok(value)
}

/// The PATH the command is looked up in: its own environment's.
pub fn path_of(env: &[CString]) -> Vec<u8> {
    env.iter()
        .rev()
        .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
        .map_or_else(|| DEFAULT_PATH.as_bytes().to_vec(), <[u8]>::to_vec)
}

/// `OsString` from text, for the tests' `NAME=value` entries.
#[cfg(test)]
fn os(s: &str) -> OsString {
    OsString::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Console, Personality};

    fn strs(v: &[CString]) -> Vec<String> {
        v.iter().map(|c| c.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn defaults_then_entries_replacing_in_place() {
        let mut p = Plan::new(Personality::Metadata);
        p.env.inherit = false;
        p.env.defaults = true;
        p.hostname = Some("box".into());
        p.console = Some(Console {
            path: "/dev/console".into(),
            tty: true,
            open_stdin: false,
        });
        p.env.set = crate::values::env_vars(
            ["A=1", "PATH=/x", "bad", "=v", "A=2", "B=="]
                .iter()
                .map(|s| os(s))
                .collect(),
            "test",
            &mut Vec::new(),
        );
        let cred = Cred {
            uid: 1,
            gid: 1,
            groups: vec![1],
            home: Some("/home/u".into()),
            name: None,
        };
        let env = build_from(
            &p,
            Some(&cred),
            vec![("SECRET".into(), "x".into())].into_iter(),
        )
        .unwrap();
        assert_eq!(
            strs(&env),
            [
                "PATH=/x",
                "HOME=/home/u",
                "HOSTNAME=box",
                "TERM=xterm",
                "A=2",
                "B=="
            ]
        );
        assert_eq!(path_of(&env), b"/x");
    }

    #[test]
    fn a_hundred_thousand_entries_replace_in_place() {
        let mut p = Plan::new(Personality::Metadata);
        p.env.inherit = false;
        let mut set: Vec<OsString> = (0..100_000).map(|i| os(&format!("A{}=x", i))).collect();
        set.push(os("A7=last"));
        p.env.set = crate::values::env_vars(set, "test", &mut Vec::new());
        let env = strs(&build_from(&p, None, std::iter::empty()).unwrap());
        assert_eq!(env.len(), 100_000);
        assert_eq!(env[7], "A7=last");
        assert_eq!(env[99_999], "A99999=x");
    }

    #[test]
    fn file_secrets_only_as_the_command_could_read_them() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("pidone-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, "pw\r\n\n").unwrap();
        let user = Cred {
            uid: 4321,
            gid: 4321,
            groups: vec![4321],
            home: None,
            name: None,
        };
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(secret(&f, None).unwrap(), b"pw");
        assert!(secret(&f, Some(&user))
            .unwrap_err()
            .contains("uid 4321 may not read"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(secret(&f, Some(&user)).unwrap(), b"pw");
        let env = vec![
            CString::new(format!("A_FILE={}", f.display())).unwrap(),
            CString::new("B_FILE=").unwrap(),
            CString::new(format!("C_FILE={}", f.display())).unwrap(),
            CString::new("C=kept").unwrap(),
        ];
        assert_eq!(
            strs(&from_files(env, Some(&user), &[]).unwrap())[..3],
            ["A=pw", "B_FILE=", &format!("C_FILE={}", f.display())]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn inherit_and_keep() {
        let mut p = Plan::new(Personality::DockerInit);
        let inherited =
            || vec![("container".into(), "lxc".into()), ("X".into(), "1".into())].into_iter();
        assert_eq!(
            strs(&build_from(&p, None, inherited()).unwrap()),
            ["container=lxc", "X=1"]
        );
        p.env.inherit = false;
        p.env.keep = vec!["container".into()];
        p.env.set = crate::values::env_vars(vec![os("Y=2")], "test", &mut Vec::new());
        assert_eq!(
            strs(&build_from(&p, None, inherited()).unwrap()),
            ["container=lxc", "Y=2"]
        );
        assert_eq!(path_of(&[]), DEFAULT_PATH.as_bytes());
    }
}
