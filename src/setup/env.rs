//! Environment stage: the command's environment, built in the plan's order
//! from entries the parsers already split. Only names are logged, never
//! values.

use std::collections::HashMap;
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::launch::Cred;
use crate::plan::{Plan, DEFAULT_PATH};

/// `NAME=value` entries, borrowed; a later name replaces an earlier one
/// in place. The map from name to position keeps the merge O(n): the
/// image decides how many entries there are (a search per entry was 18 s
/// of CPU for 95,000 before the command started).
struct Entries<'a> {
    list: Vec<(&'a [u8], &'a [u8])>,
    at: HashMap<&'a [u8], usize>,
}

impl<'a> Entries<'a> {
    fn with_capacity(n: usize) -> Entries<'a> {
        Entries {
            list: Vec::with_capacity(n),
            at: HashMap::with_capacity(n),
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

pub fn build(plan: &Plan, cred: Option<&Cred>) -> Vec<CString> {
    build_from(plan, cred, std::env::vars_os())
}

fn build_from(
    plan: &Plan,
    cred: Option<&Cred>,
    inherited: impl Iterator<Item = (OsString, OsString)>,
) -> Vec<CString> {
    let merge = std::time::Instant::now();
    let spec = &plan.env;
    let inherited: Vec<(OsString, OsString)> = if spec.inherit || !spec.keep.is_empty() {
        inherited.collect()
    } else {
        Vec::new()
    };
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
    for var in &spec.set {
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
    out
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
    fn a_hundred_thousand_entries_replace_in_place() {
        let mut p = Plan::new(Personality::Metadata);
        p.env.inherit = false;
        let mut set: Vec<OsString> = (0..100_000).map(|i| os(&format!("A{}=x", i))).collect();
        set.push(os("A7=last"));
        p.env.set = crate::values::env_vars(set, "test", &mut Vec::new());
        let env = strs(&build_from(&p, None, std::iter::empty()));
        assert_eq!(env.len(), 100_000);
        assert_eq!(env[7], "A7=last");
        assert_eq!(env[99_999], "A99999=x");
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
