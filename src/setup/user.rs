//! User stage: resolve `docker:user`-style specs (`name`, `uid`,
//! `name:group`, `uid:gid`, `name:gid`, `uid:group`) by reading the root's
//! /etc/passwd and /etc/group directly: a static binary has no NSS.
//! The spec comes parsed (`values::user_spec`); an unknown name is fatal,
//! and nothing falls back to root.

use std::path::Path;

use crate::error::{Error, Result, Stage};
use crate::launch::Cred;
use crate::plan::{Id, UserSpec};
use crate::sys::files;
use crate::values::id_number;

pub const PASSWD: &str = "/etc/passwd";
pub const GROUP: &str = "/etc/group";

pub fn resolve(spec: Option<&UserSpec>) -> Result<Option<Cred>> {
    let Some(spec) = spec else { return Ok(None) };
    // Read only what the spec needs: a numeric uid:gid works in a root
    // with no /etc/passwd at all.
    // Bounded and never a FIFO; a link is followed (images do link them).
    let passwd = files::read_text(Path::new(PASSWD), files::MAX_INPUT, true);
    let group = files::read_text(Path::new(GROUP), files::MAX_INPUT, true);
    let cred = resolve_spec(spec, &passwd, &group)?;
    log::info!(
        "user {} uid {} gid {} groups {} home {}",
        cred.name.as_deref().unwrap_or("-"),
        cred.uid,
        cred.gid,
        cred.groups
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        cred.home
            .as_ref()
            .map_or_else(|| "/".into(), |h| h.to_string_lossy())
    );
    Ok(Some(cred))
}

type Read = std::io::Result<String>;

fn fatal(msg: String) -> Error {
    Error::new(Stage::User, msg)
}

struct PwEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GrEntry<'a> {
    name: &'a str,
    gid: u32,
    members: &'a str,
}

/// The `:`-separated fields of each entry of a passwd or group file;
/// comments, NIS `+`/`-` lines and lines without a name are skipped.
fn records(text: &str) -> impl Iterator<Item = std::str::Split<'_, char>> {
    text.lines().filter_map(|l| {
        let name = l.split(':').next()?;
        (!name.is_empty() && !name.starts_with(['#', '+', '-'])).then(|| l.split(':'))
    })
}

/// Well-formed entries of a passwd file (broken lines skipped).
fn passwd_entries(text: &str) -> impl Iterator<Item = PwEntry<'_>> {
    records(text).filter_map(|mut f| {
        let name = f.next()?;
        let _pw = f.next()?;
        let uid = id_number(f.next()?)?;
        let gid = id_number(f.next()?)?;
        let _gecos = f.next()?;
        let home = f.next()?;
        Some(PwEntry {
            name,
            uid,
            gid,
            home,
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GrEntry<'_>> {
    records(text).filter_map(|mut f| {
        let name = f.next()?;
        let _pw = f.next()?;
        let gid = id_number(f.next()?)?;
        let members = f.next().unwrap_or("");
        Some(GrEntry { name, gid, members })
    })
}

fn file<'a>(read: &'a Read, path: &str, what: &str) -> Result<&'a str> {
    read.as_deref()
        .map_err(|e| fatal(format!("cannot look up {} in {}: {}", what, path, e)))
}

/// The spec as text, parsed as the dialects do, then resolved (tests and
/// the fuzz target, through the library; the binary has no use for it).
#[allow(dead_code)]
pub fn resolve_in(spec: &str, passwd: &Read, group: &Read) -> Result<Cred> {
    resolve_spec(&crate::values::user_spec(spec)?, passwd, group)
}

/// The resolution itself, on the files' contents (read errors included).
fn resolve_spec(spec: &UserSpec, passwd: &Read, group: &Read) -> Result<Cred> {
    let (uid, pw) = match &spec.user {
        Id::Number(uid) => {
            // A uid absent from the file (or no file) is used as is.
            let found = passwd
                .as_deref()
                .ok()
                .and_then(|t| passwd_entries(t).find(|e| e.uid == *uid));
            match found {
                Some(e) => (*uid, Some((e.name.to_string(), e.gid, e.home.to_string()))),
                None => (*uid, None),
            }
        }
        Id::Name(user) => {
            let text = file(passwd, PASSWD, &format!("user {:?}", user))?;
            let e = passwd_entries(text)
                .find(|e| e.name == user)
                .ok_or_else(|| fatal(format!("no user {:?} in {}", user, PASSWD)))?;
            (e.uid, Some((e.name.to_string(), e.gid, e.home.to_string())))
        }
    };

    let gid = match &spec.group {
        Some(Id::Number(gid)) => *gid,
        Some(Id::Name(g)) => {
            let text = file(group, GROUP, &format!("group {:?}", g))?;
            group_entries(text)
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| fatal(format!("no group {:?} in {}", g, GROUP)))?
        }
        // Docker's rule for a uid with no passwd entry: group 0.
        None => pw.as_ref().map_or(0, |p| p.1),
    };

    // As initgroups(name, gid): the primary gid, then every group that
    // lists the user's name.
    let mut groups = vec![gid];
    if let (Some((name, _, _)), Ok(text)) = (&pw, group) {
        for e in group_entries(text) {
            if e.members.split(',').any(|m| m.trim() == name) && !groups.contains(&e.gid) {
                groups.push(e.gid);
            }
        }
    }
    let (name, home) = match pw {
        Some((name, _, home)) if !home.is_empty() => (Some(name), Some(home.into())),
        Some((name, _, _)) => (Some(name), Some("/".into())),
        None => (None, Some("/".into())),
    };
    Ok(Cred {
        uid,
        gid,
        groups,
        home,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\n+nis\nbroken\napp:x:1000:1000:App:/home/app:/bin/sh\nweb:x:1001:1001::/srv/web:/bin/sh\nnohome:x:1002:1002:::/bin/sh\n";
    const GR: &str = "root:x:0:\napp:x:1000:\nstaff:x:50:app,web\nwheel:x:10:root, app\nweb:x:1001:\nnoone:x:77\n";

    fn ok(spec: &str) -> Cred {
        resolve_in(spec, &Ok(PW.into()), &Ok(GR.into()))
            .unwrap_or_else(|e| panic!("{}: {}", spec, e))
    }

    fn err(spec: &str) -> String {
        match resolve_in(spec, &Ok(PW.into()), &Ok(GR.into())) {
            Ok(c) => panic!("{} resolved to {:?}", spec, c),
            Err(e) => {
                assert_eq!((e.stage, e.code), (Stage::User, 125));
                e.message
            }
        }
    }

    #[test]
    fn every_form() {
        let c = ok("app");
        assert_eq!(
            (c.uid, c.gid, c.groups.clone()),
            (1000, 1000, vec![1000, 50, 10])
        );
        assert_eq!(c.home.as_deref(), Some(std::ffi::OsStr::new("/home/app")));
        assert_eq!(c.name.as_deref(), Some("app"));
        let c = ok("1000");
        assert_eq!((c.uid, c.gid, c.groups), (1000, 1000, vec![1000, 50, 10]));
        let c = ok("app:staff");
        assert_eq!((c.uid, c.gid, c.groups), (1000, 50, vec![50, 10]));
        let c = ok("1001:1000");
        assert_eq!((c.uid, c.gid, c.groups), (1001, 1000, vec![1000, 50]));
        let c = ok("web:77");
        assert_eq!((c.uid, c.gid), (1001, 77));
        let c = ok("1000:web");
        assert_eq!((c.uid, c.gid), (1000, 1001));
        let c = ok("root");
        assert_eq!((c.uid, c.gid, c.groups), (0, 0, vec![0, 10]));
        assert_eq!(
            ok("nohome").home.as_deref(),
            Some(std::ffi::OsStr::new("/"))
        );
    }

    #[test]
    fn numeric_ids_absent_from_the_files() {
        let c = ok("4242");
        assert_eq!(
            (c.uid, c.gid, c.groups.clone(), c.name.clone()),
            (4242, 0, vec![0], None)
        );
        assert_eq!(c.home.as_deref(), Some(std::ffi::OsStr::new("/")));
        let c = ok("4242:4343");
        assert_eq!((c.uid, c.gid, c.groups), (4242, 4343, vec![4343]));
        let missing: Read = Err(std::io::Error::from_raw_os_error(libc::ENOENT));
        let c = resolve_in("5:6", &missing, &missing).unwrap();
        assert_eq!((c.uid, c.gid, c.groups), (5, 6, vec![6]));
        let e = resolve_in("app", &missing, &missing).unwrap_err().message;
        assert!(
            e.contains("cannot look up user \"app\" in /etc/passwd"),
            "{}",
            e
        );
    }

    #[test]
    fn unknown_names_and_empty_parts_are_fatal() {
        assert_eq!(err("nobody"), "no user \"nobody\" in /etc/passwd");
        assert_eq!(err("app:nogroup"), "no group \"nogroup\" in /etc/group");
        assert!(err("app:").contains("empty part"));
        assert!(err(":app").contains("empty part"));
        assert!(err("").contains("empty part"));
        assert!(err("a:b:c").contains("too many parts"));
        assert!(err("4294967295").contains("out of range"));
        assert!(err("99999999999").contains("out of range"));
        assert!(err("1:4294967295").contains("out of range"));
    }
}
