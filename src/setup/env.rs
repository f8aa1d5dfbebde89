//! Environment stage: the command's environment, built in the plan's order
//! from entries the parsers already split. Only names are logged, never
//! values.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::launch::Cred;
use crate::plan::{Plan, DEFAULT_PATH};

/// `NAME=value` entries; a later name replaces an earlier one in place.
#[derive(Default)]
struct Entries(Vec<(Vec<u8>, Vec<u8>)>);

impl Entries {
    fn set(&mut self, name: &[u8], value: &[u8]) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_vec(),
            None => self.0.push((name.to_vec(), value.to_vec())),
        }
    }
}

pub fn build(plan: &Plan, cred: Option<&Cred>) -> Vec<CString> {
    build_from(plan, cred, std::env::vars_os())
}

fn build_from(
    plan: &Plan,
    cred: Option<&Cred>,
    inherited: impl Iterator<Item = (OsString, OsString)>,
) -> Vec<CString> {
    // Room for every entry at once: each growth step is a new size class
    // for musl's allocator, often an mmap and a munmap.
    let room = inherited.size_hint().0 + plan.env.set.len() + 4;
    let mut env = Entries(Vec::with_capacity(room));
    let spec = &plan.env;
    if spec.inherit {
        for (k, v) in inherited {
            env.set(k.as_bytes(), v.as_bytes());
        }
    } else if !spec.keep.is_empty() {
        for (k, v) in inherited {
            if spec.keep.iter().any(|n| n.as_bytes() == k.as_bytes()) {
                env.set(k.as_bytes(), v.as_bytes());
            }
        }
    }
    if spec.defaults {
        env.set(b"PATH", DEFAULT_PATH.as_bytes());
        let home = cred
            .and_then(|c| c.home.clone())
            .unwrap_or_else(|| "/".into());
        env.set(b"HOME", home.as_bytes());
        if let Some(h) = &plan.hostname {
            env.set(b"HOSTNAME", h.as_bytes());
        }
        if plan.console.as_ref().is_some_and(|c| c.tty) {
            env.set(b"TERM", b"xterm");
        }
    }
    for var in &spec.set {
        env.set(var.name.as_bytes(), var.value.as_bytes());
    }
    if !spec.inherit {
        for (k, _) in &env.0 {
            log::info!("env {}", String::from_utf8_lossy(k));
        }
    }
    env.0
        .into_iter()
        .filter_map(|(mut k, v)| {
            k.push(b'=');
            k.extend_from_slice(&v);
            CString::new(k).ok()
        })
        .collect()
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
        );
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
    fn inherit_and_keep() {
        let mut p = Plan::new(Personality::DockerInit);
        let inherited =
            || vec![("container".into(), "lxc".into()), ("X".into(), "1".into())].into_iter();
        assert_eq!(
            strs(&build_from(&p, None, inherited())),
            ["container=lxc", "X=1"]
        );
        p.env.inherit = false;
        p.env.keep = vec!["container".into()];
        p.env.set = crate::values::env_vars(vec![os("Y=2")], "test", &mut Vec::new());
        assert_eq!(
            strs(&build_from(&p, None, inherited())),
            ["container=lxc", "Y=2"]
        );
        assert_eq!(path_of(&[]), DEFAULT_PATH.as_bytes());
    }
}
