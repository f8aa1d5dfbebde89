//! Metadata documents (SmartOS zone metadata, OCI image config) into a plan.
//!
//! One JSON object. A document with any `docker:*` or `sdc:*` key is read
//! as SmartOS zone metadata (where JSON-valued keys may hold JSON text in a
//! string, and booleans may be `"true"`); otherwise as an OCI image config
//! (`Entrypoint`, `Cmd`, ... at the top level or under `config`/`Config`).
//! `pidone:*` keys are read in both. Every bad value is one error naming the
//! key and the expected form; unknown keys become one warning.

pub mod machine;
pub mod net;

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::{Error, Result, Stage};
use crate::plan::{
    Console, Helper, Personality, Plan, UserSpec, DEFAULT_LOG_FILE, DEFAULT_STATUS_FILE,
};
use crate::values;

/// Largest document accepted.
pub const MAX_SIZE: usize = 1 << 20;

pub const DEFAULT_CONSOLE: &str = "/dev/console";

/// The metadata personality's defaults on top of what the command line
/// said: also what a bad document is reported with, so that error reaches
/// the log file too.
pub fn defaults(mut base: Plan) -> Plan {
    base.personality = Personality::Metadata;
    if base.log.file.is_none() {
        base.log.file = Some(DEFAULT_LOG_FILE.into());
    }
    base.log.rotate = true;
    base.status_file = Some(DEFAULT_STATUS_FILE.into());
    // Inherited descriptors do not reach the command unless asked for.
    base.close_fds = !base.keep_fds;
    base.env.inherit = false;
    base.env.defaults = true;
    base.workdir = Some("/".into());
    base.create_workdir = true;
    base.console = Some(Console {
        path: DEFAULT_CONSOLE.into(),
        tty: false,
        open_stdin: false,
    });
    base
}

fn bad(key: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(Stage::Metadata, format!("{}: {}", key, msg))
}

/// serde_json's message without its own " at line L column C" tail.
fn json_error(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let msg = full
        .rfind(" at line ")
        .map_or(full.as_str(), |i| &full[..i]);
    format!("line {}, column {}: {}", e.line(), e.column(), msg)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The SmartOS way: a JSON-valued key may hold JSON text in a string.
fn decoded(key: &str, v: &Value, form: &str) -> Result<Value> {
    values::json_in_string(v).map_err(|e| {
        bad(
            key,
            format!(
                "the string is not valid JSON text ({}); expected {}",
                json_error(&e),
                form
            ),
        )
    })
}

const STRINGS: &str = "an array of strings, e.g. [\"/bin/sleep\", \"3600\"]";
const ENV: &str = "an array of \"NAME=value\" strings";

/// An array of strings; null means empty.
fn strings(key: &str, v: &Value, form: &str) -> Result<Vec<String>> {
    match decoded(key, v, form)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                other => Err(bad(
                    key,
                    format!("element {} is {}; expected {}", i, kind(&other), form),
                )),
            })
            .collect(),
        other => Err(bad(key, format!("got {}; expected {}", kind(&other), form))),
    }
}

fn string(key: &str, v: &Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(bad(key, format!("got {}; expected a string", kind(other)))),
    }
}

/// `true`/`false`, or the strings SmartOS stores them as.
fn boolean(key: &str, v: &Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" || s.is_empty() => Ok(false),
        other => Err(bad(
            key,
            format!(
                "got {}; expected true or false (or the string \"true\"/\"false\")",
                kind(other)
            ),
        )),
    }
}

fn os(v: Vec<String>) -> Vec<OsString> {
    v.into_iter().map(OsString::from).collect()
}

/// The command and its surroundings, gathered from either shape.
#[derive(Default)]
struct Found {
    entrypoint: Vec<OsString>,
    cmd: Vec<OsString>,
    /// Where the command came from, for the "no command" message.
    names: (&'static str, &'static str),
}

pub fn parse(doc: &[u8], base: Plan) -> Result<Plan> {
    if doc.len() > MAX_SIZE {
        return Err(bad(
            "the document",
            format!(
                "larger than {} bytes (1 MiB); expected one JSON object",
                MAX_SIZE
            ),
        ));
    }
    let root: Value = serde_json::from_slice(doc).map_err(|e| {
        bad(
            "the document",
            format!(
                "not valid JSON ({}); expected one JSON object",
                json_error(&e)
            ),
        )
    })?;
    let Value::Object(root) = root else {
        return Err(bad(
            "the document",
            format!("is {}; expected one JSON object", kind(&root)),
        ));
    };
    parse_keys(&root, base)
}

/// The keys of a document already split (what the metadata service gave:
/// key to string, as SmartOS stores them).
pub fn parse_keys(root: &Map<String, Value>, base: Plan) -> Result<Plan> {
    let mut plan = defaults(base);
    let mut unknown = Vec::new();
    let smartos = root
        .keys()
        .any(|k| k.starts_with("docker:") || k.starts_with("sdc:"));
    let found = if smartos {
        plan.notes.push("metadata: SmartOS zone keys".into());
        smartos_keys(root, &mut plan, &mut unknown)?
    } else {
        plan.notes.push("metadata: OCI image config".into());
        oci_keys(root, &mut plan, &mut unknown)?
    };
    for (key, v) in root {
        if key.starts_with("pidone:") {
            pidone_key(key, v, &mut plan, &mut unknown)?;
        }
    }
    if !unknown.is_empty() {
        plan.warnings.push(format!(
            "metadata: ignoring unknown keys: {}",
            unknown.join(", ")
        ));
    }
    let mut command = found.entrypoint;
    command.extend(found.cmd);
    if command.is_empty() {
        // A VM's kernel command line may give it after `--` (as libkrun).
        command = std::mem::take(&mut plan.command);
    }
    if command.is_empty() {
        return Err(bad(
            "no command",
            format!(
                "{} and {} are both missing or empty; expected at least one non-empty array of strings",
                found.names.0, found.names.1
            ),
        ));
    }
    plan.command = command;
    Ok(plan)
}

/// Every key this parser reads, in the order the SmartOS zone init reads
/// them: what a metadata service is asked for (one GET each). A key added
/// to the parser goes here too. (`docker:wait_for_attach` is the zone
/// handshake's own, asked for after setup.)
pub const SERVICE_KEYS: &[&str] = &[
    "docker:entrypoint",
    "docker:cmd",
    "docker:env",
    "docker:linkEnv",
    "docker:user",
    "docker:workdir",
    "docker:tty",
    "docker:open_stdin",
    "docker:noipmgmtd",
    "sdc:hostname",
    "sdc:nics",
    "sdc:routes",
    "sdc:resolvers",
    "docker:dnssearch",
    "docker:extraHosts",
    "docker:linkHosts",
    // pidone's own.
    "pidone:restart",
    "pidone:grace",
    "pidone:delay",
    "pidone:on_change",
    "pidone:env_file",
    "pidone:env_from_files",
    "pidone:helpers",
    "pidone:console",
    "pidone:log",
    "pidone:syslog",
    "pidone:hosts",
    "pidone:keep_fds",
    "pidone:no_new_privileges",
    "pidone:oom_exit",
    "pidone:cgroup_nest",
    "pidone:modules",
    "pidone:root",
    "pidone:poweroff",
];

/// Keys SmartOS puts in every docker zone that pidone has no use for; not
/// worth a warning.
const SMARTOS_IGNORED: &[&str] = &[
    "docker:id",
    "docker:imageid",
    "docker:imageuuid",
    "docker:imagename",
    "docker:logdriver",
    "docker:logconfig",
    "docker:restartpolicy",
    "docker:attach_stdin",
    "docker:attach_stdout",
    "docker:attach_stderr",
    "docker:cmd_override",
    "docker:entrypoint_override",
];

fn smartos_keys(
    root: &Map<String, Value>,
    plan: &mut Plan,
    unknown: &mut Vec<String>,
) -> Result<Found> {
    let mut f = Found {
        names: ("docker:entrypoint", "docker:cmd"),
        ..Found::default()
    };
    let mut link_env = Vec::new();
    let mut env = Vec::new();
    for (key, v) in root {
        let k = key.as_str();
        match k {
            "docker:entrypoint" => f.entrypoint = os(strings(k, v, STRINGS)?),
            "docker:cmd" => f.cmd = os(strings(k, v, STRINGS)?),
            "docker:env" => env = os(strings(k, v, ENV)?),
            "docker:linkEnv" => link_env = os(strings(k, v, ENV)?),
            "docker:user" => plan.user = user(non_empty(string(k, v)?))?,
            "docker:workdir" => {
                if let Some(w) = non_empty(string(k, v)?) {
                    plan.workdir = Some(PathBuf::from(w));
                }
            }
            "docker:tty" => console(plan).tty = boolean(k, v)?,
            "docker:open_stdin" => console(plan).open_stdin = boolean(k, v)?,
            "docker:noipmgmtd" => plan.helpers.kill_after_network = noipmgmtd(k, v)?,
            "sdc:hostname" => {
                plan.hostname = non_empty(string(k, v)?);
                if let Some(h) = plan.hostname.as_deref() {
                    if !values::dns_name(h, values::HOSTNAME_MAX) {
                        return Err(bad(
                            k,
                            format!("not {}, at most 64 bytes", values::DNS_NAME_FORM),
                        ));
                    }
                }
            }
            "sdc:resolvers" => {
                plan.network.resolvers = strings(k, v, "an array of IP address strings")?
                    .iter()
                    .map(|s| {
                        s.parse::<IpAddr>().map_err(|_| {
                            bad(
                                k,
                                format!(
                            "{:?} is not an IP address; expected an array of IP address strings",
                            s
                        ),
                            )
                        })
                    })
                    .collect::<Result<_>>()?
            }
            "docker:extraHosts" => {
                let form = "an array of \"name:address\" strings";
                plan.network.extra_hosts = strings(k, v, form)?
                    .iter()
                    .map(|e| {
                        e.split_once(':')
                            .and_then(|(n, a)| Some((a.parse().ok()?, n.to_string())))
                            .filter(|(_, n)| !n.is_empty() && !n.contains(char::is_whitespace))
                            .ok_or_else(|| bad(k, format!("{:?}; expected {}", e, form)))
                    })
                    .collect::<Result<_>>()?
            }
            "docker:linkHosts" => plan.network.link_hosts = string(k, v)?,
            "docker:dnssearch" => {
                plan.network.dns_search = strings(k, v, "an array of domain names")?;
                if let Some(i) = plan
                    .network
                    .dns_search
                    .iter()
                    .position(|d| !values::dns_name(d, values::DOMAIN_MAX))
                {
                    return Err(bad(
                        k,
                        format!("element {} is not {}", i + 1, values::DNS_NAME_FORM),
                    ));
                }
            }
            "sdc:nics" => {
                let nics = decoded(k, v, "an array of NIC objects")?;
                plan.network.nics = net::nics(&nics)?;
                // A zone with interfaces gets its loopback up too.
                plan.network.loopback = !plan.network.nics.is_empty();
            }
            "sdc:routes" => {
                let routes = decoded(k, v, "an array of route objects")?;
                plan.network.routes = net::routes(&routes)?;
            }
            _ if k.starts_with("pidone:") => {}
            _ if SMARTOS_IGNORED.contains(&k) || k.starts_with("sdc:") => {}
            _ => unknown.push(key.clone()),
        }
    }
    plan.env.set = values::env_vars(link_env, "docker:linkEnv", &mut plan.warnings);
    let env = values::env_vars(env, "docker:env", &mut plan.warnings);
    plan.env.set.extend(env);
    Ok(f)
}

/// SmartOS kills ipmgmtd when the value starts with "true".
fn noipmgmtd(key: &str, v: &Value) -> Result<bool> {
    match v {
        Value::String(s) => Ok(s.starts_with("true")),
        other => boolean(key, other),
    }
}

fn user(spec: Option<String>) -> Result<Option<UserSpec>> {
    spec.map(|u| values::user_spec(&u)).transpose()
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn console(plan: &mut Plan) -> &mut Console {
    plan.console.get_or_insert_with(|| Console {
        path: DEFAULT_CONSOLE.into(),
        tty: false,
        open_stdin: false,
    })
}

fn oci_keys(
    root: &Map<String, Value>,
    plan: &mut Plan,
    unknown: &mut Vec<String>,
) -> Result<Found> {
    let mut f = Found {
        names: ("Entrypoint", "Cmd"),
        ..Found::default()
    };
    // `docker inspect` and OCI image configs nest it; libkrun and Fly put it
    // at the top level.
    let nested = ["config", "Config"]
        .iter()
        .find_map(|name| root.get(*name).map(|v| (*name, v)));
    let config = match nested {
        Some((_, Value::Object(m))) => m,
        Some((name, other)) => {
            return Err(bad(
                name,
                format!("got {}; expected an object", kind(other)),
            ))
        }
        None => root,
    };
    for (key, v) in config {
        let k = key.as_str();
        match k {
            "Entrypoint" => f.entrypoint = os(strings(k, v, STRINGS)?),
            "Cmd" => f.cmd = os(strings(k, v, STRINGS)?),
            "Env" => {
                plan.env.set = values::env_vars(os(strings(k, v, ENV)?), "Env", &mut plan.warnings)
            }
            "WorkingDir" => {
                if let Some(w) = opt_string(k, v)? {
                    plan.workdir = Some(PathBuf::from(w));
                }
            }
            "User" => plan.user = user(opt_string(k, v)?)?,
            // The OCI runtime spec's process.noNewPrivileges, by its
            // image-config spelling.
            "NoNewPrivileges" => plan.no_new_privs = boolean(k, v)?,
            _ if k.starts_with("pidone:") => {}
            _ => unknown.push(key.clone()),
        }
    }
    if nested.is_some() {
        for key in root.keys() {
            if !key.starts_with("pidone:") && key != "config" && key != "Config" {
                unknown.push(key.clone());
            }
        }
    }
    Ok(f)
}

/// A string where null and "" mean "not set" (as `docker inspect` shows).
fn opt_string(key: &str, v: &Value) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        other => Ok(non_empty(string(key, other)?)),
    }
}

fn pidone_key(key: &str, v: &Value, plan: &mut Plan, unknown: &mut Vec<String>) -> Result<()> {
    match key {
        "pidone:helpers" => {
            let form = "an array of {\"argv\": [strings], \"pidfile\": optional path}";
            let items = match decoded(key, v, form)? {
                Value::Array(items) => items,
                other => return Err(bad(key, format!("got {}; expected {}", kind(&other), form))),
            };
            for (i, item) in items.iter().enumerate() {
                let here = format!("{} element {}", key, i);
                let Value::Object(h) = item else {
                    return Err(bad(&here, format!("is {}; expected {}", kind(item), form)));
                };
                let argv = strings(
                    &format!("{}.argv", here),
                    h.get("argv").unwrap_or(&Value::Null),
                    STRINGS,
                )?;
                if argv.is_empty() {
                    return Err(bad(
                        &here,
                        format!("argv is missing or empty; expected {}", form),
                    ));
                }
                let pidfile = match h.get("pidfile") {
                    None | Some(Value::Null) => None,
                    Some(p) => {
                        non_empty(string(&format!("{}.pidfile", here), p)?).map(PathBuf::from)
                    }
                };
                if let Some(other) = h.keys().find(|k| *k != "argv" && *k != "pidfile") {
                    unknown.push(format!("{}.{}", here, other));
                }
                plan.helpers.daemons.push(Helper {
                    argv: os(argv),
                    pidfile,
                });
            }
        }
        "pidone:restart" => {
            let form = "\"no\", \"always\", \"on-failure\" or \"on-failure:N\"";
            let s = string(key, v)
                .map_err(|_| bad(key, format!("got {}; expected {}", kind(v), form)))?;
            plan.restart = values::restart(&s)
                .ok_or_else(|| bad(key, format!("{:?}; expected {}", s, form)))?;
        }
        "pidone:delay" => {
            for (i, d) in list(key, v)?.iter().enumerate() {
                let form = "\"SIG:SECONDS\" strings (a signal pidone can hold, 0-86400 s)";
                plan.delays.push(
                    values::delay(d)
                        .ok_or_else(|| bad(key, format!("element {}: expected {}", i, form)))?,
                );
            }
        }
        "pidone:on_change" => {
            for (i, w) in list(key, v)?.iter().enumerate() {
                plan.on_change.push(values::on_change(w).ok_or_else(|| {
                    bad(
                        key,
                        format!("element {}: expected \"/PATH:SIG\" strings", i),
                    )
                })?);
            }
        }
        "pidone:env_file" => {
            plan.env.files = list(key, v)?.into_iter().map(PathBuf::from).collect();
        }
        "pidone:env_from_files" => {
            plan.env.from_files = match v {
                Value::Bool(_) => boolean(key, v)?.then(Vec::new),
                other => Some(list(key, other)?),
            }
        }
        "pidone:grace" => {
            let form = "a number of seconds from 0 to 86400";
            let grace = match v {
                Value::Number(n) => n.as_f64().and_then(values::seconds_f64),
                Value::String(s) => values::seconds(s),
                _ => None,
            };
            plan.grace =
                grace.ok_or_else(|| bad(key, format!("got {}; expected {}", short(v), form)))?;
        }
        "pidone:console" => {
            let path = string(key, v)?;
            if path.is_empty() {
                // "" keeps the stdio pidone was given.
                plan.console = None;
            } else {
                console(plan).path = path.into();
            }
        }
        "pidone:log" => {
            plan.log.file = non_empty(string(key, v)?).map(PathBuf::from);
        }
        "pidone:syslog" => plan.log.syslog = boolean(key, v)?,
        "pidone:hosts" => plan.network.write_etc = boolean(key, v)?,
        "pidone:keep_fds" => {
            plan.keep_fds = boolean(key, v)?;
            plan.close_fds = !plan.keep_fds;
        }
        "pidone:no_new_privileges" => plan.no_new_privs = boolean(key, v)?,
        "pidone:oom_exit" => plan.oom_exit = boolean(key, v)?,
        "pidone:cgroup_nest" => plan.cgroup_nest = boolean(key, v)?,
        k if machine::is_machine_key(k) => machine::key(k, v, plan)?,
        _ => unknown.push(key.to_string()),
    }
    Ok(())
}

/// An array of strings, or one plain string as a list of one.
fn list(key: &str, v: &Value) -> Result<Vec<String>> {
    match v {
        Value::String(s) if !s.trim_start().starts_with('[') => Ok(vec![s.clone()]),
        other => strings(key, other, STRINGS),
    }
}

/// A value for an error message: short, and a string only by its kind
/// (it may be anything the user typed).
fn short(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.len() <= 32 => format!("{:?}", s),
        other => kind(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Restart;
    use std::time::Duration;

    fn base() -> Plan {
        Plan::new(Personality::Tini)
    }

    fn ok(doc: &str) -> Plan {
        match parse(doc.as_bytes(), base()) {
            Ok(p) => p,
            Err(e) => panic!("{}: {}", doc, e),
        }
    }

    fn err(doc: &str) -> String {
        match parse(doc.as_bytes(), base()) {
            Ok(p) => panic!("{} parsed: {:?}", doc, p.command),
            Err(e) => {
                assert_eq!(e.code, 125);
                assert_eq!(e.stage, Stage::Metadata);
                assert!(!e.message.contains('\n'), "{}", e.message);
                e.message
            }
        }
    }

    fn cmd(p: &Plan) -> Vec<&str> {
        p.command.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn cgroup_keys_in_both_forms() {
        let p = ok(r#"{"Cmd": ["x"], "pidone:oom_exit": true, "pidone:cgroup_nest": "true"}"#);
        assert!(p.oom_exit && p.cgroup_nest);
        let p = ok(r#"{"docker:cmd": "[\"x\"]", "pidone:oom_exit": "false"}"#);
        assert!(!p.oom_exit && !p.cgroup_nest);
        assert!(err(r#"{"Cmd": ["x"], "pidone:oom_exit": 3}"#).contains("pidone:oom_exit"));
    }

    #[test]
    fn smartos_readme_example_string_encoded() {
        let p = ok(r#"{"docker:entrypoint": "[\"/bin/sleep\"]", "docker:cmd": "[\"3600\"]"}"#);
        assert_eq!(cmd(&p), ["/bin/sleep", "3600"]);
        assert_eq!(p.personality, Personality::Metadata);
        assert_eq!(
            p.log.file.as_deref(),
            Some(std::path::Path::new(DEFAULT_LOG_FILE))
        );
        assert!(p.log.rotate && !p.env.inherit && p.env.defaults && p.create_workdir);
        assert_eq!(
            p.console.as_ref().unwrap().path,
            PathBuf::from("/dev/console")
        );
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn native_values_and_booleans() {
        let p = ok(
            r#"{"docker:cmd": ["/bin/sh", "-c", "é \u00e9 \ud83d\ude00"], "docker:tty": true,
            "docker:open_stdin": "true", "docker:noipmgmtd": "true", "docker:user": "app:staff",
            "docker:workdir": "~/w", "docker:env": "[\"A=1\"]", "docker:linkEnv": ["L=2"],
            "sdc:hostname": "box", "sdc:resolvers": ["8.8.8.8", "2001:db8::1"], "docker:dnssearch": "[\"example.com\"]",
            "pidone:restart": "on-failure:3", "pidone:grace": "1.5", "pidone:hosts": false, "pidone:syslog": "true",
            "pidone:log": "", "pidone:console": "/dev/tty1", "docker:id": "x", "sdc:uuid": "y"}"#,
        );
        assert_eq!(cmd(&p), ["/bin/sh", "-c", "é é 😀"]);
        let c = p.console.as_ref().unwrap();
        assert!(c.tty && c.open_stdin);
        assert_eq!(c.path, PathBuf::from("/dev/tty1"));
        assert!(p.helpers.kill_after_network);
        assert_eq!(p.user.as_deref(), Some("app:staff"));
        assert_eq!(p.workdir, Some(PathBuf::from("~/w")));
        assert_eq!(
            p.env.set,
            vec![OsString::from("L=2"), OsString::from("A=1")]
        );
        assert_eq!(p.hostname.as_deref(), Some("box"));
        assert_eq!(p.network.resolvers.len(), 2);
        assert_eq!(p.network.dns_search, ["example.com"]);
        assert_eq!(p.restart, Restart::OnFailure { max: Some(3) });
        assert_eq!(p.grace, Duration::from_millis(1500));
        assert!(!p.network.write_etc && p.log.syslog && p.log.file.is_none());
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn oci_shapes() {
        let top = ok(
            r#"{"Entrypoint": ["/e"], "Cmd": ["c"], "Env": ["A=1"], "WorkingDir": "/w", "User": "1:2"}"#,
        );
        assert_eq!(cmd(&top), ["/e", "c"]);
        assert_eq!(top.user.as_deref(), Some("1:2"));
        for k in ["config", "Config"] {
            let doc = format!(
                r#"{{"architecture": "amd64", "{}": {{"Entrypoint": null, "Cmd": ["/bin/true"], "User": "", "WorkingDir": "", "Labels": {{}}}}}}"#,
                k
            );
            let p = ok(&doc);
            assert_eq!(cmd(&p), ["/bin/true"]);
            assert_eq!(p.user, None);
            assert_eq!(p.workdir, Some(PathBuf::from("/")));
            assert_eq!(p.warnings.len(), 1);
            assert!(p.warnings[0].contains("Labels") && p.warnings[0].contains("architecture"));
        }
    }

    #[test]
    fn entrypoint_only_cmd_only_and_none() {
        assert_eq!(
            cmd(&ok(r#"{"docker:entrypoint": ["/bin/true"]}"#)),
            ["/bin/true"]
        );
        assert_eq!(
            cmd(&ok(r#"{"docker:cmd": "[\"/bin/true\"]"}"#)),
            ["/bin/true"]
        );
        assert!(err(r#"{"docker:cmd": "[]", "docker:entrypoint": []}"#).contains("no command"));
        assert!(err(r#"{"Cmd": null}"#).contains("no command: Entrypoint and Cmd"));
    }

    #[test]
    fn bad_input_names_key_and_form() {
        let e = err("{\n  \"docker:cmd\": [\"a\",\n}");
        assert!(
            e.contains("line 3, column 1") && e.contains("not valid JSON"),
            "{}",
            e
        );
        assert!(err("[1]").contains("is an array; expected one JSON object"));
        assert!(err(r#"{"docker:cmd": 5}"#)
            .contains("docker:cmd: got a number; expected an array of strings"));
        assert!(err(r#"{"docker:cmd": ["a", 1]}"#).contains("docker:cmd: element 1 is a number"));
        let e = err(r#"{"docker:cmd": "[\"a\""}"#);
        assert!(
            e.contains("docker:cmd: the string is not valid JSON text (line 1, column 4"),
            "{}",
            e
        );
        assert!(err(r#"{"docker:tty": "yes", "docker:cmd": ["x"]}"#)
            .contains("docker:tty: got a string; expected true or false"));
        assert!(err(r#"{"docker:user": 5, "docker:cmd": ["x"]}"#)
            .contains("docker:user: got a number; expected a string"));
        assert!(err(r#"{"Env": [1], "Cmd": ["x"]}"#).contains("Env: element 0 is a number"));
        assert!(err(r#"{"docker:extraHosts": ["db"], "docker:cmd": ["x"]}"#)
            .contains("docker:extraHosts: \"db\"; expected an array of \"name:address\" strings"));
        assert!(
            err(r#"{"docker:extraHosts": [":1.2.3.4"], "docker:cmd": ["x"]}"#)
                .contains("docker:extraHosts")
        );
        assert!(err(r#"{"sdc:resolvers": ["x"], "docker:cmd": ["x"]}"#)
            .contains("sdc:resolvers: \"x\" is not an IP"));
        assert!(err(r#"{"pidone:restart": "sometimes", "Cmd": ["x"]}"#).contains("on-failure:N"));
        assert!(err(r#"{"pidone:grace": -1, "Cmd": ["x"]}"#).contains("pidone:grace: got -1"));
        assert!(
            err(r#"{"pidone:helpers": [{"pidfile": "/p"}], "Cmd": ["x"]}"#)
                .contains("argv is missing")
        );
        assert!(err(r#"{"pidone:helpers": [{"argv": [1]}], "Cmd": ["x"]}"#)
            .contains("pidone:helpers element 0.argv: element 0"));
        assert!(err(r#"{"config": [], "Cmd": ["x"]}"#).contains("config: got an array"));
        let big = format!(
            "{{\"Cmd\": [\"x\"], \"pad\": \"{}\"}}",
            "a".repeat(MAX_SIZE)
        );
        assert!(err(&big).contains("larger than"));
        assert!(err("\u{feff}{}").contains("not valid JSON"));
        assert!(err("").contains("line 1, column 0"));
    }

    #[test]
    fn pidone_keys_and_unknown() {
        let p = ok(
            r#"{"Cmd": ["x"], "pidone:helpers": "[{\"argv\": [\"/sbin/d\", \"-f\"], \"pidfile\": \"/run/d.pid\"}, {\"argv\": [\"x\"], \"extra\": 1}]",
            "pidone:restart": "always", "pidone:grace": 0, "pidone:bogus": 1, "Hostname": "h"}"#,
        );
        assert_eq!(p.helpers.daemons.len(), 2);
        assert_eq!(
            p.helpers.daemons[0].pidfile,
            Some(PathBuf::from("/run/d.pid"))
        );
        assert_eq!(p.restart, Restart::Always);
        assert_eq!(p.grace, Duration::ZERO);
        assert_eq!(p.warnings.len(), 1);
        for k in ["pidone:bogus", "Hostname", "extra"] {
            assert!(p.warnings[0].contains(k), "{:?}", p.warnings);
        }
        let p = ok(
            r#"{"Cmd": ["x"], "pidone:delay": ["TERM:10", "QUIT:1"], "pidone:on_change": "/etc/app:HUP",
            "pidone:env_file": "[\"/a.env\", \"/b.env\"]", "pidone:env_from_files": ["DB_PASSWORD"]}"#,
        );
        assert_eq!(
            p.delays,
            [(15, Duration::from_secs(10)), (3, Duration::from_secs(1))]
        );
        assert_eq!(p.on_change[0].path, PathBuf::from("/etc/app"));
        assert_eq!(p.env.files.len(), 2);
        assert_eq!(p.env.from_files, Some(vec!["DB_PASSWORD".to_string()]));
        assert!(err(r#"{"Cmd": ["x"], "pidone:delay": ["KILL:1"]}"#).contains("element 0"));
        assert!(err(r#"{"Cmd": ["x"], "pidone:on_change": "etc:HUP"}"#).contains("/PATH:SIG"));
        let p = ok(r#"{"Cmd": ["x"], "pidone:console": ""}"#);
        assert!(p.console.is_none());
        let p =
            ok(r#"{"docker:cmd": ["x"], "docker:restartpolicy": "always", "docker:mystery": 1}"#);
        assert_eq!(
            p.warnings,
            ["metadata: ignoring unknown keys: docker:mystery"]
        );
    }

    #[test]
    fn odd_documents_are_errors_naming_the_key() {
        for (doc, says) in [
            ("", "the document: not valid JSON (line 1, column 0"),
            ("null", "the document: is null; expected one JSON object"),
            ("{", "the document: not valid JSON (line 1, column 1"),
            (
                "{\"docker:cmd\":null}",
                "no command: docker:entrypoint and docker:cmd",
            ),
            (
                "{\"pidone:helpers\":[null]}",
                "pidone:helpers element 0: is null",
            ),
            ("{\"pidone:helpers\":{}}", "pidone:helpers: got an object"),
            (
                "\"\u{0}\"",
                "the document: not valid JSON (line 1, column 2",
            ),
            (
                "{\"sdc:nics\":\"[\"}",
                "sdc:nics: the string is not valid JSON text",
            ),
            ("{\"Config\":null}", "Config: got null; expected an object"),
        ] {
            let e = parse(doc.as_bytes(), base()).expect_err(doc);
            assert_eq!(e.code, 125, "{}", doc);
            assert!(e.message.starts_with(says), "{:?}: {}", doc, e.message);
        }
        let e = parse(&[0xff, 0xfe], base()).expect_err("not UTF-8");
        assert!(
            e.message.starts_with("the document: not valid JSON"),
            "{}",
            e.message
        );
    }
}
