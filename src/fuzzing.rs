//! One entry per fuzz target: what `fuzz/fuzz_targets/NAME.rs` runs and
//! what `tests/fuzz_replay.rs` replays for every fixture. Each feeds
//! arbitrary bytes to one parser; any panic is a crash. Parsers make no
//! system calls, so nothing here touches the machine.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use crate::cli::{self, dockerinit::DockerEnv, Environ};
use crate::plan::{Personality, Plan};

/// Every target, by name.
pub const TARGETS: &[&str] = &[
    "tini_options",
    "dockerinit_flags",
    "dockerenv",
    "metadata_smartos",
    "metadata_oci",
    "kernel_cmdline",
    "passwd_group",
    "dhcp_reply",
    "netlink_reply",
    "mdata_frame",
    "env_file",
    "inotify_events",
];

/// Run target `name` on `data`; false for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "tini_options" => argv(b"pidone", data),
        "dockerinit_flags" => argv(b"/.dockerinit", data),
        "dockerenv" => {
            let args = [OsString::from("/.dockerinit"), "--".into(), "sh".into()];
            let _ = cli::parse(&args, &no_env(), &DockerEnv::Contents(data.to_vec()));
        }
        "metadata_smartos" => metadata(data, true),
        "metadata_oci" => metadata(data, false),
        "kernel_cmdline" => {
            let _ = cli::kernel::parse(&String::from_utf8_lossy(data));
            let _ = cli::kernel::machine_flag(&String::from_utf8_lossy(data));
        }
        "passwd_group" => passwd_group(data),
        "mdata_frame" => mdata_frame(data),
        "dhcp_reply" => {
            let mac = [2, 0, 0, 0, 0, 1];
            let xid = 0x1234_5678;
            let _ = crate::dhcp::parse(data, xid, &mac);
            if let Some(p) = crate::dhcp::unframe(data) {
                let _ = crate::dhcp::parse(p, xid, &mac);
            }
        }
        "env_file" => {
            let _ = crate::values::env_file(data, |_| Some("v".into()));
        }
        "inotify_events" => crate::watch::fuzz_events(data),
        "netlink_reply" => {
            crate::sys::net::decode_reply(data);
        }
        _ => return false,
    }
    true
}

fn no_env() -> Environ {
    Environ(Vec::new())
}

/// NUL-separated words as the arguments after `argv0`; the environment is
/// the words after a first empty word (`NAME=value`).
fn argv(argv0: &[u8], data: &[u8]) {
    let mut words = data.split(|&b| b == 0);
    let mut args = vec![OsString::from_vec(argv0.to_vec())];
    let mut env = Vec::new();
    for w in words.by_ref() {
        if w.is_empty() {
            break;
        }
        args.push(OsString::from_vec(w.to_vec()));
    }
    for w in words {
        if let Some(eq) = w.iter().position(|&b| b == b'=') {
            let (k, v) = w.split_at(eq);
            env.push((
                OsString::from_vec(k.to_vec()),
                OsString::from_vec(v.get(1..).unwrap_or_default().to_vec()),
            ));
        }
    }
    let _ = cli::parse(&args, &Environ(env), &DockerEnv::Missing);
}

/// The document as given, with a SmartOS key added (or every SmartOS key
/// removed) when it is a JSON object, so each shape's parser is reached.
fn metadata(data: &[u8], smartos: bool) {
    let base = || Plan::new(Personality::Metadata);
    let _ = crate::metadata::parse(data, base());
    if let Ok(serde_json::Value::Object(mut m)) = serde_json::from_slice(data) {
        if smartos {
            m.insert("sdc:uuid".into(), "fuzz".into());
        } else {
            m.retain(|k, _| !k.starts_with("docker:") && !k.starts_with("sdc:"));
        }
        let doc = serde_json::Value::Object(m).to_string();
        let _ = crate::metadata::parse(doc.as_bytes(), base());
    }
}

/// A user spec, /etc/passwd and /etc/group, separated by NUL bytes.
fn passwd_group(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 0);
    let text = |p: Option<&[u8]>| String::from_utf8_lossy(p.unwrap_or_default()).into_owned();
    let spec = text(parts.next());
    let passwd = Ok(text(parts.next()));
    let group = Ok(text(parts.next()));
    let _ = crate::setup::user::resolve_in(&spec, &passwd, &group);
}

/// The metadata protocol's frames: any line as a V2 reply and as V1
/// lines, base64 alone, and a round trip (a request built from the bytes
/// must parse back to them).
fn mdata_frame(data: &[u8]) {
    use crate::mdata::frame;
    let _ = frame::reply(data, 0x1234_5678);
    let _ = frame::b64_decode(data);
    let mut v1 = frame::V1Reader::default();
    for line in data.split(|&c| c == b'\n') {
        if v1.feed(line).is_some() {
            v1 = frame::V1Reader::default();
        }
    }
    let mut line = frame::request(0x0bad_cafe, "SUCCESS", Some(data));
    line.pop();
    let back = frame::reply(&line, 0x0bad_cafe)
        .ok()
        .and_then(|r| r.payload);
    assert_eq!(back.as_deref(), Some(data), "a V2 frame did not round-trip");
}
