//! The classic `/.dockerinit` dialect (Docker 0.5 – 1.9, LXC driver).
//!
//! Flags are Go `flag`-style: one or two dashes, `-f v` or `-f=v`, booleans
//! bare or `=true`/`=false`, options ending at `--` or the first word that
//! is not an option. Unlike Go's parser this one never refuses a command
//! line: an engine newer or older than this init may pass flags it does not
//! know (the 0.7.2 upgrade that stopped every container on a host with
//! "flag provided but not defined: -i"). Anything odd becomes a warning
//! naming it, and the command runs.

use std::ffi::OsString;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::{Environ, Request};
use crate::error::{Error, Result, Stage};
use crate::plan::{Cidr, Console, Nic, Personality, Plan, DEFAULT_LOG_FILE};
use crate::values::{self, cap_number, CidrError};

/// Where the classic daemon wrote the container's environment.
pub const DOCKERENV: &str = "/.dockerenv";

/// `/.dockerenv` as boot found it (parsers make no system calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerEnv {
    Missing,
    Contents(Vec<u8>),
    /// It exists but could not be read; the text says why.
    Unreadable(String),
}

pub const HELP: &str = "\
Usage: /.dockerinit [FLAGS] -- COMMAND [ARGS...]

pidone called by a classic Docker daemon (0.5 - 1.9). It sets the container
up as Docker's own dockerinit did, then runs COMMAND as its supervised child
(zombies reaped, signals forwarded) instead of exec'ing over itself.
Unknown flags are warned about and skipped, never fatal.

  -e NAME=VALUE     add to the environment (repeatable)
  -g ADDR           default gateway on eth0
  -i ADDR/PREFIX    address of eth0; eth0 and lo are brought up
  -mtu N            MTU of eth0
  -u USER[:GROUP]   run COMMAND as this user (names or numeric ids)
  -w DIR            working directory, created when missing
  -privileged       keep every capability
  -cap-add A:B      keep these capabilities (ALL keeps every one)
  -cap-drop C:D     drop these capabilities too (ALL drops every one)
  -console PATH     COMMAND's stdio on this terminal
  -driver NAME, -pipe FD, -root DIR   accepted and logged
  -h                this text
  --version         print the version

The environment comes from /.dockerenv (a JSON array of \"NAME=value\"),
keeping container=; without the file the inherited one is kept. Log:
/var/log/pidone.log (PIDONE_LOG_FILE to move it, empty for none).
PIDONE_GRACE: seconds the rest get after SIGTERM once COMMAND ends (3);
PIDONE_VERBOSITY: 1 and up logs every decision on stderr too.
";

/// The capabilities unprivileged classic containers lost (NET_ADMIN from 0.8.1).
const DEFAULT_DROP: &[&str] = &[
    "SETPCAP",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "NET_ADMIN",
];

/// Every capability number a kernel may know (bits 0-63); the caps module
/// skips the ones this kernel does not.
const ALL_CAPS: u64 = u64::MAX;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Value,
    Bool,
    Help,
    Version,
}

fn kind(name: &str) -> Option<Kind> {
    Some(match name {
        "g" | "i" | "u" | "w" | "e" | "mtu" | "driver" | "cap-add" | "cap-drop" | "pipe"
        | "console" | "root" => Kind::Value,
        "privileged" => Kind::Bool,
        "h" | "help" => Kind::Help,
        "version" => Kind::Version,
        _ => return None,
    })
}

/// Go's strconv.ParseBool.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// What the flags said, before it becomes a plan.
#[derive(Default)]
struct Flags {
    single: Vec<(String, OsString)>,
    env: Vec<OsString>,
    cap_add: Vec<String>,
    cap_drop: Vec<String>,
    privileged: bool,
    warnings: Vec<String>,
    /// Where `-e` values sit in argv (see `Plan::secret_args`).
    secrets: Vec<(usize, usize)>,
}

impl Flags {
    fn get(&self, name: &str) -> Option<&OsString> {
        self.single
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    fn set(&mut self, name: &str, value: OsString) {
        match name {
            "e" => self.env.push(value),
            "cap-add" => self.cap_add.push(value.to_string_lossy().into_owned()),
            "cap-drop" => self.cap_drop.push(value.to_string_lossy().into_owned()),
            _ => {
                if self.get(name).is_some() {
                    self.warnings.push(format!(
                        "flag -{} given more than once; using the last value",
                        name
                    ));
                }
                self.single.push((name.to_string(), value));
            }
        }
    }

    /// A single-valued flag as text; empty means unset, like Go's "" default.
    fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    }
}

/// A value that can follow an unknown flag: a plain word or a negative number.
fn looks_like_value(a: &[u8]) -> bool {
    match a.first() {
        None => true,
        Some(b'-') => a
            .get(1..)
            .is_some_and(|n| !n.is_empty() && n.iter().all(|c| c.is_ascii_digit() || *c == b'.')),
        Some(_) => true,
    }
}

/// Parse the arguments after the program name. `dockerenv` is what boot
/// read from /.dockerenv.
pub fn parse(args: &[OsString], env: &Environ, dockerenv: &DockerEnv) -> Result<Request> {
    let mut f = Flags::default();
    let (start, ended_by_dashdash) = match scan(&mut f, args) {
        Scan::Print(text) => return Ok(Request::Print(text)),
        Scan::Command { start, dashdash } => (start, dashdash),
    };
    let command: Vec<OsString> = args.get(start..).unwrap_or(&[]).to_vec();
    if command.is_empty() {
        return Err(Error::usage(
            "no command given (usage: /.dockerinit [FLAGS] -- COMMAND [ARGS...])",
        ));
    }
    if !ended_by_dashdash {
        f.warnings.push(format!(
            "no -- before the command; taking {:?} as the command",
            command
                .first()
                .map(|c| c.to_string_lossy())
                .unwrap_or_default()
        ));
    }
    let mut plan = build(f, env, dockerenv)?;
    plan.command = command;
    Ok(Request::Run(Box::new(plan)))
}

/// Where the flags end.
enum Scan {
    /// The command starts at `start`; `dashdash`: after a `--`.
    Command { start: usize, dashdash: bool },
    /// `-h` or `--version`.
    Print(String),
}

/// Read the flags into `f`, up to `--` or the first word that is not one.
fn scan(f: &mut Flags, args: &[OsString]) -> Scan {
    // Where the caller's `--` is, if it gave one: words before it that
    // follow an unknown flag can safely be taken as that flag's value.
    let dashdash = args.iter().position(|a| a == "--");
    let mut i = 0;
    while let Some(arg) = args.get(i).map(|a| a.as_bytes()) {
        if arg == b"--" {
            return Scan::Command {
                start: i + 1,
                dashdash: true,
            };
        }
        if arg.len() < 2 || arg.first() != Some(&b'-') {
            break;
        }
        i += 1;
        let text = String::from_utf8_lossy(arg);
        let body = text
            .strip_prefix("--")
            .or_else(|| text.strip_prefix('-'))
            .unwrap_or("");
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            f.warnings
                .push(format!("skipping malformed flag {:?}", text));
            continue;
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        // Words before the caller's `--` may be taken as values.
        let before_dashdash = |i: usize| dashdash.is_some_and(|d| d > i);
        match kind(name) {
            Some(Kind::Help) => return Scan::Print(HELP.to_string()),
            Some(Kind::Version) => return Scan::Print(super::version_line()),
            Some(Kind::Value) => value_flag(f, name, inline.is_some(), arg, args, &mut i),
            Some(Kind::Bool) => {
                let may_take_next = before_dashdash(i);
                let value = bool_flag(f, name, inline, args, &mut i, may_take_next);
                if f.get("privileged").is_some() {
                    f.warnings.push(format!(
                        "flag -{} given more than once; using the last value",
                        name
                    ));
                }
                f.single.push(("privileged".into(), OsString::new()));
                f.privileged = value;
            }
            None => {
                let takes_next = inline.is_none()
                    && before_dashdash(i)
                    && args.get(i).is_some_and(|a| looks_like_value(a.as_bytes()));
                if takes_next {
                    f.warnings.push(format!(
                        "flag provided but not defined: -{}; skipped with its value",
                        name
                    ));
                    i += 1;
                } else {
                    f.warnings
                        .push(format!("flag provided but not defined: -{}; skipped", name));
                }
            }
        }
    }
    Scan::Command {
        start: i,
        dashdash: false,
    }
}

/// A flag with a value: `-f=v` (raw bytes kept, paths need not be UTF-8)
/// or `-f v`; a missing value is a warning.
fn value_flag(
    f: &mut Flags,
    name: &str,
    inline: bool,
    arg: &[u8],
    args: &[OsString],
    i: &mut usize,
) {
    // Where the value starts: (index in args, byte offset).
    let (value, at) = if inline {
        let eq = arg
            .iter()
            .position(|&c| c == b'=')
            .map_or(arg.len(), |p| p + 1);
        let v = OsString::from(std::ffi::OsStr::from_bytes(arg.get(eq..).unwrap_or(&[])));
        (v, (i.saturating_sub(1), eq))
    } else {
        match args.get(*i) {
            Some(v) if v != "--" => {
                *i += 1;
                (v.clone(), (*i - 1, 0))
            }
            _ => {
                f.warnings
                    .push(format!("flag -{} needs a value; ignoring it", name));
                return;
            }
        }
    };
    if name == "e" {
        // The value after NAME= is the secret; args[0] is argv[1].
        if let Some(eq) = value.as_bytes().iter().position(|&c| c == b'=') {
            f.secrets.push((at.0 + 1, at.1 + eq + 1));
        }
    }
    f.set(name, value);
}

/// A boolean flag's value: `-f`, `-f=BOOL`, or (before a `--`) `-f BOOL`.
fn bool_flag(
    f: &mut Flags,
    name: &str,
    inline: Option<&str>,
    args: &[OsString],
    i: &mut usize,
    may_take_next: bool,
) -> bool {
    if let Some(v) = inline {
        return go_bool(v).unwrap_or_else(|| {
            f.warnings.push(format!(
                "flag -{}={:?} is not a boolean; taking it as false",
                name, v
            ));
            false
        });
    }
    // `-privileged true -- cmd`: Go would have run "true".
    let next = args.get(*i).and_then(|a| a.to_str()).and_then(go_bool);
    match next {
        Some(b) if may_take_next => {
            f.warnings.push(format!(
                "flag -{} given a separate value {:?}; taking it as -{}={}",
                name,
                args.get(*i)
                    .map(|a| a.to_string_lossy())
                    .unwrap_or_default(),
                name,
                b
            ));
            *i += 1;
            b
        }
        _ => true,
    }
}

/// This personality's log file: /var/log/pidone.log unless
/// PIDONE_LOG_FILE moves it (empty: none).
pub fn log_file(env: &Environ) -> Option<PathBuf> {
    match env.0.iter().rev().find(|(k, _)| k == "PIDONE_LOG_FILE") {
        Some((_, v)) if v.is_empty() => None,
        Some((_, v)) => Some(PathBuf::from(v)),
        None => Some(PathBuf::from(DEFAULT_LOG_FILE)),
    }
}

/// The plan the flags and /.dockerenv describe.
fn build(f: Flags, env: &Environ, dockerenv: &DockerEnv) -> Result<Plan> {
    let mut plan = Plan::new(Personality::DockerInit);
    plan.warnings = f.warnings.clone();
    plan.secret_args = f.secrets.clone();
    plan.notes
        .push("classic /.dockerinit: the command runs as pidone's supervised child".into());
    plan.close_fds = true;
    // Docker owns /etc/hosts and /etc/resolv.conf in these containers.
    plan.network.write_etc = false;

    plan.log.file = log_file(env);
    settings(env, &mut plan);
    environment(&f, dockerenv, &mut plan)?;
    network(&f, &mut plan)?;
    capabilities(&f, &mut plan);
    surroundings(&f, &mut plan)?;
    Ok(plan)
}

/// PIDONE_GRACE and PIDONE_VERBOSITY; a bad value is a warning.
fn settings(env: &Environ, plan: &mut Plan) {
    if let Some(v) = env.get("PIDONE_GRACE") {
        match values::seconds(v) {
            Some(d) => plan.grace = d,
            None => plan.warnings.push(format!(
                "PIDONE_GRACE: not a number of seconds: '{}' (see pidone --help)",
                v
            )),
        }
    }
    if let Some(v) = env.get("PIDONE_VERBOSITY") {
        match values::verbosity(v) {
            Some(n) => plan.log.verbosity = n,
            None => plan
                .warnings
                .push(format!("PIDONE_VERBOSITY: not a level: {:?}", v)),
        }
    }
}

/// /.dockerenv replaces the inherited environment (container= kept), then
/// the -e entries; HOSTNAME among them names the host.
fn environment(f: &Flags, dockerenv: &DockerEnv, plan: &mut Plan) -> Result<()> {
    match dockerenv {
        DockerEnv::Missing => plan.notes.push(format!(
            "no {}: keeping the inherited environment",
            DOCKERENV
        )),
        DockerEnv::Unreadable(why) => {
            return Err(Error::new(
                Stage::Env,
                format!("cannot read {}: {}", DOCKERENV, why),
            ));
        }
        DockerEnv::Contents(bytes) => match dockerenv_entries(bytes)? {
            None => plan.notes.push(format!(
                "{} is empty: keeping the inherited environment",
                DOCKERENV
            )),
            Some(entries) => {
                plan.notes.push(format!(
                    "environment from {} ({} entries), keeping container=",
                    DOCKERENV,
                    entries.len()
                ));
                plan.env.inherit = false;
                plan.env.keep = vec!["container".into()];
                plan.env.set = values::env_vars(entries, DOCKERENV, &mut plan.warnings);
            }
        },
    }
    let flags = values::env_vars(f.env.clone(), "-e", &mut plan.warnings);
    plan.env.set.extend(flags);
    // Only names the caller gave count: the engine already set the UTS name
    // it put in the inherited environment.
    plan.hostname = plan
        .env
        .set
        .iter()
        .rev()
        .find(|e| e.name == "HOSTNAME")
        .and_then(|e| e.value.to_str())
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    if plan
        .hostname
        .as_deref()
        .is_some_and(|h| !values::dns_name(h, values::HOSTNAME_MAX))
    {
        return Err(Error::new(
            Stage::Env,
            format!("HOSTNAME: not {}", values::DNS_NAME_FORM),
        ));
    }
    Ok(())
}

/// Classic Docker's capability drop list, unless -privileged.
fn capabilities(f: &Flags, plan: &mut Plan) {
    if f.privileged {
        plan.notes
            .push("-privileged: keeping every capability".into());
        if !f.cap_add.is_empty() || !f.cap_drop.is_empty() {
            plan.warnings
                .push("-cap-add/-cap-drop ignored with -privileged".into());
        }
    } else {
        plan.drop_caps = Some(drop_list(&f.cap_add, &f.cap_drop, &mut plan.warnings));
    }
}

/// -console, -w, -u, and the flags only accepted.
fn surroundings(f: &Flags, plan: &mut Plan) -> Result<()> {
    if let Some(path) = f.get("console").filter(|p| !p.is_empty()) {
        // As the native driver's dockerinit did: the console is the
        // command's controlling terminal and all three of its stdio.
        plan.console = Some(Console {
            path: PathBuf::from(path),
            tty: true,
            open_stdin: true,
        });
    }
    if let Some(w) = f.get("w").filter(|w| !w.is_empty()) {
        plan.workdir = Some(PathBuf::from(w));
        plan.create_workdir = true;
    }
    plan.user = f.text("u").map(|u| values::user_spec(&u)).transpose()?;
    for name in ["driver", "pipe", "root"] {
        if let Some(v) = f.text(name) {
            plan.notes
                .push(format!("-{} {}: accepted, not used by pidone", name, v));
        }
    }
    Ok(())
}

/// The `NAME=value` entries of /.dockerenv; None when it says nothing
/// (empty, blank or `null`).
fn dockerenv_entries(bytes: &[u8]) -> Result<Option<Vec<OsString>>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let bad = |why: String| {
        Error::new(
            Stage::Env,
            format!(
                "{}: expected a JSON array of \"NAME=value\" strings: {}",
                DOCKERENV, why
            ),
        )
    };
    // serde_json's syntax errors give positions, never the text.
    let doc: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    match doc {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(n, v)| match v {
                serde_json::Value::String(s) => Ok(OsString::from(s)),
                _ => Err(bad(format!("entry {} is not a string", n))),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        _ => Err(bad("not an array".into())),
    }
}

fn ip_arg(flag: &str, v: &str) -> Result<IpAddr> {
    v.trim()
        .parse()
        .map_err(|_| Error::new(Stage::Net, format!("-{} {:?}: not an IP address", flag, v)))
}

/// `-i`, `-g`, `-mtu` into one NIC, eth0, as the classic init configured it.
fn network(f: &Flags, plan: &mut Plan) -> Result<()> {
    let ip = f.text("i");
    let gw = f.text("g");
    let mtu = f.text("mtu");
    if ip.is_none() && gw.is_none() {
        if let Some(m) = mtu {
            plan.notes.push(format!("-mtu {} ignored: no -i", m));
        }
        return Ok(());
    }
    let mut nic = Nic {
        interface: Some("eth0".into()),
        primary: true,
        ..Nic::default()
    };
    if let Some(ip) = ip {
        let Cidr { addr, prefix } = values::cidr(&ip, true).map_err(|e| match e {
            CidrError::Address(a) => {
                Error::new(Stage::Net, format!("-i {:?}: not an IP address", a))
            }
            _ => Error::new(Stage::Net, format!("-i {:?}: bad prefix length", ip)),
        })?;
        if !ip.contains('/') {
            plan.warnings
                .push(format!("-i {} has no /prefix; using /{}", ip, prefix));
        }
        nic.addrs.push(Cidr { addr, prefix });
        plan.network.loopback = true;
        plan.notes.push(format!("eth0 {}/{}, lo up", addr, prefix));
    }
    if let Some(g) = gw {
        let g = ip_arg("g", &g)?;
        nic.gateways.push(g);
        plan.notes.push(format!("default route via {} on eth0", g));
    }
    if let Some(m) = mtu {
        match values::mtu(&m) {
            Some(n) => nic.mtu = Some(n),
            None => plan.warnings.push(format!(
                "-mtu {:?} is not an MTU (68-65535); leaving eth0's",
                m
            )),
        }
    }
    plan.network.nics.push(nic);
    Ok(())
}

/// The classic default drop list, then `-cap-drop ALL`, `-cap-add ALL`,
/// named additions, named drops (a name in both is dropped). Sets of
/// capability numbers are bit masks: every number is below 64, and the
/// result comes out in order without a sort.
fn drop_list(add: &[String], drop: &[String], warnings: &mut Vec<String>) -> Vec<u32> {
    let mut names = |lists: &[String]| -> (bool, u64) {
        let mut all = false;
        let mut caps = 0u64;
        for name in lists
            .iter()
            .flat_map(|l| l.split([':', ',']))
            .map(str::trim)
        {
            if name.is_empty() {
                continue;
            }
            if name.eq_ignore_ascii_case("all") {
                all = true;
            } else {
                match cap_number(name).filter(|&c| c < 64) {
                    Some(c) => caps |= 1 << c,
                    None => warnings.push(format!("unknown capability {:?}; skipped", name)),
                }
            }
        }
        (all, caps)
    };
    let (add_all, add) = names(add);
    let (drop_all, drop) = names(drop);
    let mut set = if drop_all {
        ALL_CAPS
    } else {
        DEFAULT_DROP
            .iter()
            .filter_map(|n| cap_number(n))
            .fold(0, |m, c| m | 1 << c)
    };
    if add_all {
        set = 0;
    }
    set = (set & !add) | drop;
    (0..64).filter(|c| set & 1 << c != 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Target;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn no_env() -> Environ {
        Environ(Vec::new())
    }

    fn plan_with(args: &[&str], de: &DockerEnv) -> Plan {
        match parse(&os(args), &no_env(), de) {
            Ok(Request::Run(p)) => *p,
            other => panic!("{:?}", other),
        }
    }

    fn plan(args: &[&str]) -> Plan {
        plan_with(args, &DockerEnv::Missing)
    }

    fn warned(p: &Plan, needle: &str) -> bool {
        p.warnings.iter().any(|w| w.contains(needle))
    }

    fn default_drop() -> Vec<u32> {
        let mut v: Vec<u32> = DEFAULT_DROP.iter().filter_map(|n| cap_number(n)).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn every_version_vector_parses_clean() {
        let vectors: &[&[&str]] = &[
            // 0.5, 0.6, 0.6.6, 0.7.2, 0.7.3, 0.8, 0.9, 1.2, 1.7
            &[
                "-g", "10.0.0.1", "-u", "app", "-e", "A=1", "-e", "B=2", "--", "sh",
            ],
            &[
                "-g", "10.0.0.1", "-u", "app", "-e", "A=1", "-w", "/srv", "--", "sh",
            ],
            &["-g", "10.0.0.1", "-u", "app", "-w", "/srv", "--", "sh"],
            &[
                "-g",
                "10.0.0.1",
                "-u",
                "",
                "-w",
                "",
                "-i",
                "10.0.0.2/24",
                "-privileged",
                "--",
                "sh",
            ],
            &[
                "-g",
                "10.0.0.1",
                "-i",
                "10.0.0.2/24",
                "-mtu",
                "1500",
                "--",
                "sh",
            ],
            &[
                "-driver",
                "lxc",
                "-g",
                "10.0.0.1",
                "-i",
                "10.0.0.2/24",
                "-mtu",
                "1500",
                "--",
                "sh",
            ],
            &[
                "-pipe",
                "3",
                "-console",
                "/dev/pts/0",
                "-root",
                "/var/lib/docker/x",
                "-driver",
                "native",
                "--",
                "sh",
            ],
            &[
                "-u",
                "app",
                "-g",
                "10.0.0.1",
                "-i",
                "10.0.0.2/24",
                "-w",
                "/",
                "-privileged=false",
                "-mtu",
                "1500",
                "-cap-add=NET_ADMIN:SYS_TIME",
                "-cap-drop=CHOWN",
                "--",
                "sh",
            ],
            &["-u", "app", "-privileged=true", "-w", "/srv", "--", "sh"],
            &["--u=app", "--privileged", "--w", "/srv", "--", "sh"],
        ];
        for v in vectors {
            let p = plan(v);
            assert!(p.warnings.is_empty(), "{:?}: {:?}", v, p.warnings);
            assert_eq!(p.command, os(&["sh"]));
            assert_eq!(p.personality, Personality::DockerInit);
            assert!(p.close_fds);
        }
    }

    #[test]
    fn maps_flags_to_the_plan() {
        let p = plan(&[
            "-g",
            "10.0.0.1",
            "-i",
            "10.0.0.2/24",
            "-mtu",
            "1400",
            "-u",
            "app:staff",
            "-w",
            "/srv/x",
            "-e",
            "A=1",
            "--",
            "sh",
            "-c",
            "x",
        ]);
        assert_eq!(p.command, os(&["sh", "-c", "x"]));
        assert!(p.network.loopback);
        assert!(!p.network.write_etc);
        let nic = &p.network.nics[0];
        assert_eq!(nic.interface.as_deref(), Some("eth0"));
        assert_eq!(
            nic.addrs,
            vec![Cidr {
                addr: "10.0.0.2".parse().unwrap(),
                prefix: 24
            }]
        );
        assert_eq!(nic.gateways, vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(nic.mtu, Some(1400));
        assert!(nic.primary);
        assert_eq!(p.user.as_deref(), Some("app:staff"));
        assert_eq!(p.workdir, Some(PathBuf::from("/srv/x")));
        assert!(p.create_workdir);
        assert!(p.env.inherit);
        assert_eq!(p.env.set, os(&["A=1"]));
        assert_eq!(p.drop_caps, Some(default_drop()));
        assert!(p.drop_caps.as_ref().unwrap().contains(&12), "NET_ADMIN");
        assert_eq!(p.log.file, Some(PathBuf::from(DEFAULT_LOG_FILE)));
        assert_eq!(p.signals.target, Target::Child);
        assert!(p.console.is_none());
        // -g alone: a route on eth0, no address, lo left alone.
        let p = plan(&["-g", "fe80::1", "--", "sh"]);
        assert!(!p.network.loopback);
        assert!(p.network.nics[0].addrs.is_empty());
        // Nothing networky: no NIC.
        let p = plan(&["-mtu", "1500", "--", "sh"]);
        assert!(p.network.nics.is_empty());
    }

    #[test]
    fn unknown_flags_warn_and_never_stop_the_command() {
        // The 0.7.2 break: -i passed to an init that did not know it.
        let p = plan(&[
            "-g", "10.0.0.1", "-newflag", "v", "-other=x", "-bool", "-u", "app", "--", "sh",
        ]);
        assert_eq!(p.command, os(&["sh"]));
        assert_eq!(p.user.as_deref(), Some("app"));
        assert!(warned(&p, "-newflag; skipped with its value"));
        assert!(warned(&p, "-other; skipped"));
        assert!(warned(&p, "-bool; skipped"));
        assert_eq!(p.warnings.len(), 3);
        // Without a `--`, an unknown flag cannot take the command as its value.
        let p = plan(&["-newflag", "sh", "-c", "x"]);
        assert_eq!(p.command, os(&["sh", "-c", "x"]));
        assert!(warned(&p, "-newflag; skipped"));
        assert!(warned(&p, "no -- before the command"));
        // A negative number is a value; a flag is not.
        let p = plan(&["-n", "-5", "-k", "-u", "x", "--", "sh"]);
        assert_eq!(p.user.as_deref(), Some("x"));
        assert!(warned(&p, "-n; skipped with its value") && warned(&p, "-k; skipped"));
    }

    #[test]
    fn duplicates_booleans_and_missing_values() {
        let p = plan(&["-e", "A=secret", "--e=B=x2", "-e", "NOVALUE", "--", "sh"]);
        // argv[2] from byte 2, argv[3] ("--e=B=x2") from byte 6.
        assert_eq!(p.secret_args, vec![(2, 2), (3, 6)]);
        let p = plan(&["-u", "a", "-u", "b", "-e", "X=1", "-e", "X=2", "--", "sh"]);
        assert_eq!(p.user.as_deref(), Some("b"));
        assert!(warned(&p, "-u given more than once"));
        assert_eq!(p.warnings.len(), 1, "-e repeats freely");
        assert!(plan(&["-privileged", "--", "sh"]).drop_caps.is_none());
        assert!(plan(&["-privileged=true", "--", "sh"]).drop_caps.is_none());
        assert!(plan(&["--privileged=1", "--", "sh"]).drop_caps.is_none());
        assert!(plan(&["-privileged=false", "--", "sh"]).drop_caps.is_some());
        let p = plan(&["-privileged=yes", "--", "sh"]);
        assert!(p.drop_caps.is_some() && warned(&p, "not a boolean"));
        let p = plan(&["-privileged", "true", "--", "sh"]);
        assert!(p.drop_caps.is_none() && warned(&p, "separate value"));
        assert_eq!(p.command, os(&["sh"]));
        // Without `--`, "true" is the command, as Go had it.
        let p = plan(&["-privileged", "true"]);
        assert_eq!(p.command, os(&["true"]));
        let p = plan(&["-privileged", "-privileged=false", "--", "sh"]);
        assert!(p.drop_caps.is_some() && warned(&p, "more than once"));
        let p = plan(&["-w", "--", "sh"]);
        assert!(p.workdir.is_none() && warned(&p, "-w needs a value"));
        assert_eq!(p.command, os(&["sh"]));
        let p = plan(&["-mtu", "huge", "-i", "10.1.1.2/8", "--", "sh"]);
        assert!(p.network.nics[0].mtu.is_none() && warned(&p, "not an MTU"));
        let p = plan(&["-i", "10.1.1.2", "--", "sh"]);
        assert_eq!(p.network.nics[0].addrs[0].prefix, 32);
        let p = plan(&["---x", "-=", "--", "sh"]);
        assert_eq!(p.warnings.len(), 2);
    }

    #[test]
    fn capability_adjustments() {
        let p = plan(&[
            "-cap-add",
            "NET_ADMIN:cap_sys_time",
            "-cap-drop=CHOWN",
            "-cap-add",
            "BOGUS",
            "--",
            "sh",
        ]);
        let d = p.drop_caps.unwrap();
        assert!(
            !d.contains(&12) && !d.contains(&25),
            "NET_ADMIN and SYS_TIME kept"
        );
        assert!(
            d.contains(&0) && d.contains(&21),
            "CHOWN and SYS_ADMIN dropped"
        );
        assert!(warned(
            &Plan {
                warnings: p.warnings,
                ..Plan::new(Personality::DockerInit)
            },
            "BOGUS"
        ));
        let d = plan(&["-cap-drop", "ALL", "-cap-add", "KILL", "--", "sh"])
            .drop_caps
            .unwrap();
        assert!(!d.contains(&5) && d.contains(&0) && d.contains(&40) && d.contains(&63));
        assert_eq!(plan(&["-cap-add=all", "--", "sh"]).drop_caps, Some(vec![]));
        let d = plan(&["-cap-add", "MKNOD", "-cap-drop", "MKNOD", "--", "sh"])
            .drop_caps
            .unwrap();
        assert!(d.contains(&27), "a name in both is dropped");
        let p = plan(&["-privileged", "-cap-drop", "CHOWN", "--", "sh"]);
        assert!(p.drop_caps.is_none() && warned(&p, "ignored with -privileged"));
        assert_eq!(cap_number("cap_checkpoint_restore"), Some(40));
    }

    #[test]
    fn dockerenv_replaces_the_environment() {
        let de = DockerEnv::Contents(br#"["HOME=/","HOSTNAME=web1","PATH=/bin"]"#.to_vec());
        let p = plan_with(&["-e", "X=1", "--", "sh"], &de);
        assert!(!p.env.inherit);
        assert_eq!(p.env.keep, vec!["container".to_string()]);
        assert_eq!(
            p.env.set,
            os(&["HOME=/", "HOSTNAME=web1", "PATH=/bin", "X=1"])
        );
        assert_eq!(p.hostname.as_deref(), Some("web1"));
        let p = plan_with(&["-e", "HOSTNAME=h2", "--", "sh"], &de);
        assert_eq!(p.hostname.as_deref(), Some("h2"));
        for empty in [&b""[..], b" \n", b"null"] {
            let p = plan_with(&["--", "sh"], &DockerEnv::Contents(empty.to_vec()));
            assert!(p.env.inherit && p.env.set.is_empty() && p.hostname.is_none());
        }
        let p = plan_with(&["--", "sh"], &DockerEnv::Contents(b"[]".to_vec()));
        assert!(!p.env.inherit && p.env.set.is_empty());
        // The inherited HOSTNAME is the engine's business, not ours.
        let e = Environ(vec![("HOSTNAME".into(), "x".into())]);
        match parse(&os(&["sh"]), &e, &DockerEnv::Missing) {
            Ok(Request::Run(p)) => assert!(p.hostname.is_none()),
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn bad_dockerenv_is_exit_125_without_values() {
        for bad in [
            &b"[\"A=secret\""[..],
            b"{\"A\":1}",
            b"[1]",
            b"\"A=secret\"",
            b"[\"A=1\"] x",
        ] {
            match parse(
                &os(&["--", "sh"]),
                &no_env(),
                &DockerEnv::Contents(bad.to_vec()),
            ) {
                Err(e) => {
                    assert_eq!(e.code, 125);
                    assert_eq!(e.stage, Stage::Env);
                    assert!(!e.message.contains("secret"), "{}", e.message);
                }
                other => panic!("{:?}", other),
            }
        }
        let e = parse(
            &os(&["--", "sh"]),
            &no_env(),
            &DockerEnv::Unreadable("Permission denied".into()),
        );
        assert!(matches!(e, Err(e) if e.code == 125));
    }

    #[test]
    fn help_version_errors_and_log() {
        let r = parse(&os(&["-h"]), &no_env(), &DockerEnv::Missing);
        assert!(matches!(r, Ok(Request::Print(t)) if t.contains("-cap-add")));
        let r = parse(
            &os(&["--version", "--", "sh"]),
            &no_env(),
            &DockerEnv::Missing,
        );
        assert!(
            matches!(r, Ok(Request::Print(t)) if t.starts_with("pidone version ") && t.contains(" - git."))
        );
        let r = parse(&os(&["-u", "x", "--"]), &no_env(), &DockerEnv::Missing);
        assert!(matches!(r, Err(e) if e.code == 2));
        assert!(
            matches!(parse(&os(&["-i", "nope/24", "--", "sh"]), &no_env(), &DockerEnv::Missing), Err(e) if e.code == 125 && e.stage == Stage::Net)
        );
        assert!(
            matches!(parse(&os(&["-g", "1.2.3", "--", "sh"]), &no_env(), &DockerEnv::Missing), Err(e) if e.code == 125)
        );
        assert!(
            matches!(parse(&os(&["-i", "1.2.3.4/33", "--", "sh"]), &no_env(), &DockerEnv::Missing), Err(e) if e.code == 125)
        );
        let e = Environ(vec![
            ("PIDONE_LOG_FILE".into(), "".into()),
            ("PIDONE_VERBOSITY".into(), "2".into()),
            ("PIDONE_GRACE".into(), "7".into()),
        ]);
        match parse(&os(&["--", "sh"]), &e, &DockerEnv::Missing) {
            Ok(Request::Run(p)) => {
                assert!(p.log.file.is_none());
                assert_eq!(p.log.verbosity, 2);
                assert_eq!(p.grace, std::time::Duration::from_secs(7));
            }
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn console_driver_pipe_root() {
        let p = plan(&[
            "-console",
            "/dev/pts/3",
            "-driver",
            "lxc",
            "-pipe",
            "3",
            "-root",
            "/r",
            "--",
            "sh",
        ]);
        let c = p.console.unwrap();
        assert_eq!(c.path, PathBuf::from("/dev/pts/3"));
        assert!(c.tty && c.open_stdin);
        for n in ["-driver lxc", "-pipe 3", "-root /r"] {
            assert!(p.notes.iter().any(|x| x.contains(n)), "{}", n);
        }
    }

    #[test]
    fn odd_flags_run_or_fail_as_documented() {
        use std::os::unix::ffi::OsStringExt;
        let odd: Vec<Vec<OsString>> = vec![
            os(&["-"]),
            os(&["--"]),
            os(&["-é", "--", "x"]),
            os(&["-i"]),
            os(&["-i="]),
            os(&["-="]),
            os(&["-cap-add", ":::", "--", "x"]),
            os(&["-e", "", "--", "x"]),
            vec![
                OsString::from_vec(vec![b'-', 0xff, b'=', 0xfe]),
                OsString::from("x"),
            ],
            vec![
                OsString::from("-w"),
                OsString::from_vec(vec![0xff]),
                OsString::from("--"),
                OsString::from("x"),
            ],
        ];
        let outcome = |r: Result<Request>| match r {
            Ok(Request::Run(p)) => format!("run {:?}", p.command),
            Ok(_) => "other".to_string(),
            Err(e) => format!("{} {}", e.code, e.message),
        };
        // Without a /.dockerenv: the flags vectors no Docker passed still
        // run the command (a warning each), or are a usage error when
        // there is no command.
        let expected = [
            "run [\"-\"]",
            "2 no command given",
            "run [\"x\"]",
            "2 no command given",
            "2 no command given",
            "2 no command given",
            "run [\"x\"]",
            "run [\"x\"]",
            "run [\"x\"]",
            "run [\"x\"]",
        ];
        assert_eq!(odd.len(), expected.len());
        for (a, want) in odd.iter().zip(expected) {
            let got = outcome(parse(a, &no_env(), &DockerEnv::Missing));
            assert!(got.starts_with(want), "{:?}: {}", a, got);
            // A broken /.dockerenv is 125 whatever the flags, once there
            // is a command.
            let got = outcome(parse(a, &no_env(), &DockerEnv::Contents(vec![0xff, b'['])));
            let want = if want.starts_with("run") {
                "125 /.dockerenv: expected a JSON array"
            } else {
                want
            };
            assert!(got.starts_with(want), "{:?}: {}", a, got);
        }
    }
}
