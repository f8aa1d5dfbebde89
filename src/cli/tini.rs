//! The command line engines use with `--init`: the union of tini's and
//! dumb-init's options, same letters, same meaning, each with a long form.
//! Parsing stops at the first non-option and never reorders the command.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::{Environ, Request, Source};
use crate::error::{Error, Result, EXIT_USAGE};
use crate::plan::{Helper, LogStyle, OnChange, Personality, Plan, Restart, Target};
use crate::values;

pub const HELP: &str = "\
Usage: pidone [OPTIONS] [--] COMMAND [ARGS...]
       pidone [--metadata SOURCE]    (no command: take it from the metadata)

Runs COMMAND as its child, reaps every zombie, forwards signals, and when
COMMAND ends gives the remaining processes a grace period to exit (named
dumb-init and not PID 1: one SIGTERM to COMMAND's group, none with -c, and
pidone exits at once, as dumb-init does).

  -s, --subreaper            become a child subreaper (automatic when not PID 1)
  -p, --pdeathsig SIG        parent-death signal for pidone (forwarded like others)
  -v, --verbose              more output; repeat for more
  -w, --warn-reap            warn when reaping a process that is not COMMAND
  -g, --process-group        send signals to COMMAND's whole process group
  -c, --single-child         send signals to COMMAND only (the default)
  -e, --remap-exit CODE      exit 0 when COMMAND exits with CODE (repeatable)
  -r, --rewrite FROM:TO      forward signal FROM as TO; TO=0 drops it (repeatable)
      --grace SECONDS        time the rest get after SIGTERM before SIGKILL (3)
  -P, --pause                no command: reap until SIGTERM or SIGINT
      --delay SIG:SECONDS    hold SIG that long before forwarding it; a second
                             SIG goes at once (repeatable)
      --on-change PATH:SIG   send SIG to COMMAND when the file or directory
                             PATH changes (repeatable)
      --env-file PATH        add NAME=value lines, Docker's --env-file format
      --env-from-files[=NAME,...]  NAME_FILE=/path in the environment becomes
                             NAME with the file's contents (the names given,
                             or every *_FILE)
      --restart POLICY       no, always, on-failure or on-failure:N
      --helper 'CMD ARGS'    start a helper daemon first; a leading word
                             pidfile=PATH names its pidfile (repeatable)
      --log-file PATH        also log every decision to PATH
      --syslog               also log to the syslog socket
      --no-new-privs         the command runs with PR_SET_NO_NEW_PRIVS
      --oom-exit             an OOM kill in the container's cgroup ends it (137)
      --cgroup-nest          pidone and COMMAND in leaves of the (writable, v2)
                             cgroup, controllers enabled for COMMAND's cgroups
      --metadata SOURCE      take everything from metadata: a file (- = stdin),
                             socket:PATH or serial:DEVICE (a metadata service)
  -h, --help                 this text
  -V, --version              print the version

       pidone probe [--timeout SECONDS] tcp:HOST:PORT | http://HOST:PORT/PATH
  exit 0 when the port accepts (or the status is 2xx/3xx), else 1; no TLS.

Environment: TINI_SUBREAPER, TINI_VERBOSITY, TINI_KILL_PROCESS_GROUP,
DUMB_INIT_SETSID=0, DUMB_INIT_DEBUG, and PIDONE_SUBREAPER, PIDONE_PDEATHSIG,
PIDONE_VERBOSITY, PIDONE_WARN_REAP, PIDONE_PROCESS_GROUP, PIDONE_SINGLE_CHILD,
PIDONE_REMAP_EXIT, PIDONE_REWRITE, PIDONE_GRACE, PIDONE_PAUSE,
PIDONE_LOG_FILE, PIDONE_SYSLOG, PIDONE_NO_NEW_PRIVS, PIDONE_METADATA,
PIDONE_OOM_EXIT, PIDONE_CGROUP_NEST,
PIDONE_DELAY, PIDONE_ON_CHANGE, PIDONE_ENV_FILE (lists: comma-separated),
PIDONE_ENV_FROM_FILES, PIDONE_RESTART, PIDONE_HELPERS (;-separated),
PIDONE_NOTIFY=0 (NOTIFY_SOCKET handed on untouched). Options override them.

Exit status: COMMAND's; 128+N when it died of signal N; 126 when it cannot
be executed, 127 when it is not found; 125 when pidone fails to set up;
2 for a bad command line.
";

/// A bad command line; `parse_named` adds where to look (pidone's name)
/// or tini's usage text (tini's names).
fn bad(msg: String) -> Error {
    Error::usage(msg)
}

fn signal_arg(opt: &str, v: &str) -> Result<i32> {
    match values::signal(v) {
        Some(s) if s > 0 => Ok(s),
        _ => Err(bad(format!("{}: not a signal: '{}'", opt, v))),
    }
}

fn exit_code_arg(opt: &str, v: &str) -> Result<i32> {
    match v.trim().parse::<i32>() {
        Ok(n) if (0..=255).contains(&n) => Ok(n),
        _ => Err(bad(format!("{}: not an exit code 0-255: '{}'", opt, v))),
    }
}

fn rewrite_arg(opt: &str, v: &str) -> Result<(i32, i32)> {
    let (from, to) = v
        .split_once(':')
        .ok_or_else(|| bad(format!("{}: expected FROM:TO, got '{}'", opt, v)))?;
    let from = signal_arg(opt, from)?;
    let to = values::signal(to).ok_or_else(|| bad(format!("{}: not a signal: '{}'", opt, to)))?;
    Ok((from, to))
}

fn seconds_arg(opt: &str, v: &str) -> Result<Duration> {
    values::seconds(v).ok_or_else(|| bad(format!("{}: not a number of seconds: '{}'", opt, v)))
}

fn delay_arg(opt: &str, v: &str) -> Result<(i32, Duration)> {
    values::delay(v).ok_or_else(|| {
        bad(format!(
            "{}: expected SIG:SECONDS (a signal pidone can hold, 0-86400 s), got '{}'",
            opt, v
        ))
    })
}

fn on_change_arg(opt: &str, v: &str) -> Result<OnChange> {
    values::on_change(v).ok_or_else(|| bad(format!("{}: expected /PATH:SIG, got '{}'", opt, v)))
}

fn restart_arg(opt: &str, v: &str) -> Result<Restart> {
    values::restart(v).ok_or_else(|| {
        bad(format!(
            "{}: expected {}, got '{}'",
            opt,
            values::RESTART_FORM,
            v
        ))
    })
}

fn helper_arg(opt: &str, v: &str) -> Result<Helper> {
    values::helper(v).ok_or_else(|| bad(format!("{}: expected {}", opt, values::HELPER_FORM)))
}

/// `NAME,NAME`; none: every `*_FILE`.
fn names(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.strip_suffix("_FILE").unwrap_or(n).to_string())
        .collect()
}

fn verbosity_arg(opt: &str, v: &str) -> Result<u8> {
    values::verbosity(v).ok_or_else(|| bad(format!("{}: not a verbosity level: '{}'", opt, v)))
}

/// Options that take a value, by short and long name.
const WITH_VALUE: &[(char, &str)] = &[
    ('p', "pdeathsig"),
    ('e', "remap-exit"),
    ('r', "rewrite"),
    ('\0', "grace"),
    ('\0', "log-file"),
    ('\0', "metadata"),
    ('\0', "delay"),
    ('\0', "on-change"),
    ('\0', "env-file"),
    ('\0', "restart"),
    ('\0', "helper"),
];

struct Parsed {
    plan: Plan,
    metadata: Option<Source>,
    print: Option<String>,
    /// Called by one of tini's names (`docker-init`, `tini`): its forms.
    tini: Option<&'static str>,
}

fn apply(p: &mut Parsed, name: &str, value: Option<&str>) -> Result<()> {
    let opt = if name.len() == 1 {
        format!("-{}", name)
    } else {
        format!("--{}", name)
    };
    let v = value.unwrap_or("");
    let plan = &mut p.plan;
    match name {
        "s" | "subreaper" => plan.subreaper = true,
        "p" | "pdeathsig" => plan.pdeathsig = Some(signal_arg(&opt, v)?),
        // One level up from wherever TINI_VERBOSITY put it (0: errors only).
        "v" | "verbose" if plan.log.quiet => plan.log.quiet = false,
        "v" | "verbose" => plan.log.verbosity = plan.log.verbosity.saturating_add(1),
        "w" | "warn-reap" => plan.warn_reap = true,
        "g" | "process-group" => plan.signals.target = Target::Group,
        "c" | "single-child" => {
            plan.signals.target = Target::Child;
            plan.signals.new_session = false;
        }
        "e" | "remap-exit" => plan.remap_exit.push(exit_code_arg(&opt, v)?),
        "r" | "rewrite" => plan.signals.rewrite.push(rewrite_arg(&opt, v)?),
        "grace" => plan.grace = seconds_arg(&opt, v)?,
        "P" | "pause" => plan.pause = true,
        "log-file" => plan.log.file = (!v.is_empty()).then(|| PathBuf::from(v)),
        "syslog" => plan.log.syslog = true,
        "no-new-privs" => plan.no_new_privs = true,
        "oom-exit" => plan.oom_exit = true,
        "cgroup-nest" => plan.cgroup_nest = true,
        "metadata" => p.metadata = Some(super::source(v)),
        "delay" => plan.delays.push(delay_arg(&opt, v)?),
        "on-change" => plan.on_change.push(on_change_arg(&opt, v)?),
        "env-file" => plan.env.files.push(PathBuf::from(v)),
        "env-from-files" => plan.env.from_files = Some(names(value)),
        "restart" => plan.restart = restart_arg(&opt, v)?,
        "helper" => plan.helpers.daemons.push(helper_arg(&opt, v)?),
        "h" | "help" => p.print = Some(p.tini.map_or_else(|| HELP.to_string(), tini_usage)),
        "V" | "version" => {
            p.print = Some(match p.tini {
                Some(_) => format!("{}\n", super::tini_version()),
                None => super::version_line(),
            })
        }
        "l" | "license" => {
            p.print = Some(match p.tini {
                Some(_) => LICENSE.to_string(),
                None => "pidone is released under the MIT license.\n".into(),
            })
        }
        _ => return Err(bad(format!("unknown option '{}'", opt))),
    }
    Ok(())
}

/// Defaults from the environment, before the options override them.
fn apply_env(p: &mut Parsed, env: &Environ) -> Result<()> {
    let plan = &mut p.plan;
    // tini's variables mean what they mean to tini, under every name: set
    // at all (even empty or "0") is on.
    if env.has("TINI_SUBREAPER") || env.flag("PIDONE_SUBREAPER") {
        plan.subreaper = true;
    }
    // tini: 0 = fatal errors only, 1 = warnings (its default), 2 = info,
    // 3 = debug, 4 = trace; pidone counts from 0 = warnings.
    if let Some(v) = env.get("TINI_VERBOSITY") {
        // Set but empty is 0 to tini (atoi), like any set TINI_ variable.
        let level = if v.trim().is_empty() {
            Some(0)
        } else {
            values::verbosity(v)
        };
        match (level, p.tini) {
            (Some(n), _) => {
                plan.log.quiet = n == 0;
                plan.log.verbosity = n.saturating_sub(1);
            }
            // tini reads a bad value as a number (atoi) and starts: a
            // drop-in must start too, and says why the level is unchanged.
            (None, Some(_)) => plan.warnings.push(format!(
                "TINI_VERBOSITY: not a verbosity level: '{}'; ignored",
                v
            )),
            (None, None) => {
                return Err(bad(format!(
                    "TINI_VERBOSITY: not a verbosity level: '{}'",
                    v
                )))
            }
        }
    }
    if let Some(v) = env.get("PIDONE_VERBOSITY") {
        plan.log.verbosity = verbosity_arg("PIDONE_VERBOSITY", v)?;
        plan.log.quiet = false;
    }
    if env.flag("DUMB_INIT_DEBUG") {
        plan.log.verbosity = plan.log.verbosity.max(2);
    }
    if env.has("TINI_KILL_PROCESS_GROUP") || env.flag("PIDONE_PROCESS_GROUP") {
        plan.signals.target = Target::Group;
    }
    if env.get("DUMB_INIT_SETSID") == Some("0") || env.flag("PIDONE_SINGLE_CHILD") {
        plan.signals.target = Target::Child;
        plan.signals.new_session = false;
    }
    if let Some(v) = env.get("PIDONE_PDEATHSIG") {
        plan.pdeathsig = Some(signal_arg("PIDONE_PDEATHSIG", v)?);
    }
    if env.flag("PIDONE_WARN_REAP") {
        plan.warn_reap = true;
    }
    if let Some(v) = env.get("PIDONE_REMAP_EXIT") {
        for c in v.split(',').filter(|c| !c.trim().is_empty()) {
            plan.remap_exit.push(exit_code_arg("PIDONE_REMAP_EXIT", c)?);
        }
    }
    if let Some(v) = env.get("PIDONE_REWRITE") {
        for r in v.split(',').filter(|r| !r.trim().is_empty()) {
            plan.signals.rewrite.push(rewrite_arg("PIDONE_REWRITE", r)?);
        }
    }
    if let Some(v) = env.get("PIDONE_GRACE") {
        plan.grace = seconds_arg("PIDONE_GRACE", v)?;
    }
    if env.flag("PIDONE_PAUSE") {
        plan.pause = true;
    }
    if let Some(v) = env.get("PIDONE_LOG_FILE") {
        plan.log.file = (!v.is_empty()).then(|| PathBuf::from(v));
    }
    if env.flag("PIDONE_SYSLOG") {
        plan.log.syslog = true;
    }
    if env.flag("PIDONE_NO_NEW_PRIVS") {
        plan.no_new_privs = true;
    }
    if env.flag("PIDONE_OOM_EXIT") {
        plan.oom_exit = true;
    }
    if env.flag("PIDONE_CGROUP_NEST") {
        plan.cgroup_nest = true;
    }
    features_env(plan, env)
}

/// The environment forms of issue 19's options; lists are comma-separated
/// (helpers `;`-separated: their arguments may hold commas).
fn features_env(plan: &mut Plan, env: &Environ) -> Result<()> {
    let list = |name: &str| {
        env.get(name)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for d in list("PIDONE_DELAY") {
        plan.delays.push(delay_arg("PIDONE_DELAY", &d)?);
    }
    for w in list("PIDONE_ON_CHANGE") {
        plan.on_change.push(on_change_arg("PIDONE_ON_CHANGE", &w)?);
    }
    plan.env
        .files
        .extend(list("PIDONE_ENV_FILE").iter().map(PathBuf::from));
    match env.get("PIDONE_ENV_FROM_FILES") {
        Some("1") | Some("true") | Some("yes") => plan.env.from_files = Some(Vec::new()),
        Some(v) if env.flag("PIDONE_ENV_FROM_FILES") => plan.env.from_files = Some(names(Some(v))),
        _ => {}
    }
    if let Some(v) = env.get("PIDONE_RESTART").filter(|v| !v.is_empty()) {
        plan.restart = restart_arg("PIDONE_RESTART", v)?;
    }
    let helpers = env.get("PIDONE_HELPERS").unwrap_or("");
    for h in helpers.split(';').filter(|h| !h.trim().is_empty()) {
        plan.helpers.daemons.push(helper_arg("PIDONE_HELPERS", h)?);
    }
    // An engine's (or systemd's) notification socket: the command's
    // READY=1 reaches it through pidone (see notify.rs), unless asked not to.
    if env.get("PIDONE_NOTIFY") != Some("0") {
        plan.notify_socket = env
            .get("NOTIFY_SOCKET")
            .filter(|s| !s.is_empty())
            .map(OsString::from);
    }
    Ok(())
}

/// Split `args` (without the program name) into options and the command,
/// under pidone's own name.
#[cfg(test)]
pub fn parse(personality: Personality, args: &[OsString], env: &Environ) -> Result<Request> {
    parse_named(personality, None, args, env)
}

/// As `parse`; `tini` is the name when called by one of tini's (see
/// `super::tini_name`): its usage text, version and license, exit 1 and
/// the usage text for a bad command line or none, its log lines.
pub fn parse_named(
    personality: Personality,
    tini: Option<&'static str>,
    args: &[OsString],
    env: &Environ,
) -> Result<Request> {
    let mut p = Parsed {
        plan: Plan::new(personality),
        metadata: None,
        print: None,
        tini,
    };
    if tini.is_some() {
        p.plan.log.style = LogStyle::Tini;
    }
    let parsed = apply_env(&mut p, env).and_then(|()| options(&mut p, args));
    let request = parsed.and_then(|start| {
        if let Some(text) = p.print.take() {
            return Ok(Request::Print(text));
        }
        if tini.is_some() && args.is_empty() {
            // tini with nothing to run: its usage text, exit 1 (the
            // metadata flow stays for `--metadata` and pidone's name).
            return Err(bad("no command given".into()));
        }
        let command: Vec<OsString> = args.get(start..).unwrap_or(&[]).to_vec();
        request(p.plan, p.metadata, command, args.is_empty(), env)
    });
    match (request, tini) {
        (Err(e), Some(name)) if e.code == EXIT_USAGE => Ok(Request::Refuse {
            text: format!("{}: {}\n\n{}", name, e.message, tini_usage(name)),
            code: TINI_EXIT_USAGE,
        }),
        (Err(mut e), None) if e.code == EXIT_USAGE => {
            e.message.push_str(" (see pidone --help)");
            Err(e)
        }
        (r, _) => r,
    }
}

/// tini's exit code for a bad command line.
const TINI_EXIT_USAGE: i32 = 1;

/// The usage text in tini's form (its first two lines, the option
/// letters and variables it lists), in pidone's words.
fn tini_usage(name: &str) -> String {
    format!(
        "{name} ({version})
Usage: {name} [OPTIONS] PROGRAM -- [ARGS] | --version

Runs PROGRAM as its child: reaps every zombie and passes signals on to it
(pidone, called by tini's name: see docs/tini.md for the differences).

Command line options:

  --version: Print the version and exit.
  -h: Print this text and exit.
  -s: Become a child subreaper (pidone is one anyway when not PID 1).
  -p SIGNAL: The signal pidone gets when its parent dies, such as SIGTERM.
  -v: More output; up to three times.
  -w: A warning for each process reaped other than PROGRAM.
  -g: Signals go to PROGRAM's whole process group.
  -e EXIT_CODE: Exit 0 when PROGRAM exits with EXIT_CODE, 0-255 (repeatable).
  -l: Print the license and exit.

Environment variables:

  TINI_SUBREAPER: Become a child subreaper (any value, even empty).
  TINI_VERBOSITY: The verbosity level, 0 to 4 (default: 1).
  TINI_KILL_PROCESS_GROUP: As -g (any value, even empty).

pidone's own options work under this name too (pidone --help).

",
        name = name,
        version = super::tini_version()
    )
}

/// `-l` under tini's names: the license text, as tini prints its own.
const LICENSE: &str = include_str!("../../LICENSE");

/// Apply the options in front of the command; returns where the command
/// starts. Stops early once an option asks for text to print.
fn options(p: &mut Parsed, args: &[OsString]) -> Result<usize> {
    let mut i = 0;
    while p.print.is_none() {
        let Some(arg) = args.get(i).and_then(|a| a.to_str()) else {
            break;
        };
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        i += 1;
        match arg.strip_prefix("--") {
            Some(long) => long_option(p, long, args, &mut i)?,
            None => short_options(p, &arg[1..], args, &mut i)?,
        }
    }
    Ok(i)
}

/// `--name`, `--name=value` or `--name value` (then `*i` moves past it).
fn long_option(p: &mut Parsed, long: &str, args: &[OsString], i: &mut usize) -> Result<()> {
    let (name, inline) = match long.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (long, None),
    };
    let takes = WITH_VALUE.iter().any(|(_, l)| *l == name);
    let value = if takes {
        match inline {
            Some(v) => Some(v.to_string()),
            None => {
                let v = args
                    .get(*i)
                    .ok_or_else(|| bad(format!("--{} needs a value", name)))?;
                *i += 1;
                Some(v.to_string_lossy().into_owned())
            }
        }
    } else if inline.is_some() && name == "env-from-files" {
        // The one option whose value is optional: only inline.
        inline.map(str::to_string)
    } else if inline.is_some() {
        return Err(bad(format!("--{} takes no value", name)));
    } else {
        None
    };
    apply(p, name, value.as_deref())
}

/// A cluster of short options: -sv, -p15, -e 3.
fn short_options(p: &mut Parsed, cluster: &str, args: &[OsString], i: &mut usize) -> Result<()> {
    for (pos, c) in cluster.char_indices() {
        let takes = c != '\0' && WITH_VALUE.iter().any(|(s, _)| *s == c);
        let name = c.to_string();
        if takes {
            let rest = &cluster[pos + c.len_utf8()..];
            let value = if !rest.is_empty() {
                rest.to_string()
            } else {
                let v = args
                    .get(*i)
                    .ok_or_else(|| bad(format!("-{} needs a value", c)))?;
                *i += 1;
                v.to_string_lossy().into_owned()
            };
            return apply(p, &name, Some(&value));
        }
        apply(p, &name, None)?;
    }
    Ok(())
}

/// What the options and the command (or its absence) ask for.
fn request(
    mut plan: Plan,
    metadata: Option<Source>,
    command: Vec<OsString>,
    no_args: bool,
    env: &Environ,
) -> Result<Request> {
    if no_args || (metadata.is_some() && command.is_empty()) {
        // Started as a zone's or machine's init with nothing to run: the
        // command and everything else come from a metadata document.
        let source = metadata.unwrap_or_else(|| match env.get("PIDONE_METADATA") {
            Some(spec) if !spec.is_empty() => super::source(spec),
            _ => Source::Search,
        });
        plan.personality = Personality::Metadata;
        return Ok(Request::Metadata {
            source,
            base: Box::new(plan),
        });
    }
    if metadata.is_some() {
        return Err(bad("--metadata takes no command".into()));
    }
    if plan.personality == Personality::DumbInit && !plan.signals.new_session {
        // dumb-init rewrites TSTP/TTIN/TTOU to STOP only in setsid mode;
        // its defaults lead the list, so rewrites given with -r stay.
        let defaults = Plan::new(Personality::DumbInit).signals.rewrite;
        if plan.signals.rewrite.starts_with(&defaults) {
            plan.signals.rewrite.drain(..defaults.len());
        }
        // And the command stays in dumb-init's process group, so a
        // shell's job control (Ctrl-Z, fg) reaches both.
        plan.signals.keep_group = true;
    }
    if plan.pause {
        if !command.is_empty() {
            return Err(bad("--pause takes no command".into()));
        }
    } else if command.is_empty() {
        return Err(bad("no command given".into()));
    }
    plan.command = command;
    Ok(Request::Run(Box::new(plan)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn env(v: &[(&str, &str)]) -> Environ {
        Environ(v.iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    fn plan(args: &[&str]) -> Plan {
        plan_env(args, &[])
    }

    fn plan_env(args: &[&str], e: &[(&str, &str)]) -> Plan {
        match parse(Personality::Tini, &os(args), &env(e)) {
            Ok(Request::Run(p)) => *p,
            other => panic!("{:?}", other),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse(Personality::Tini, &os(args), &env(&[])) {
            Err(e) => {
                assert_eq!(e.code, 2);
                e.message
            }
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn cgroup_options_and_their_environment() {
        let p = plan(&["--oom-exit", "--cgroup-nest", "cmd"]);
        assert!(p.oom_exit && p.cgroup_nest);
        let p = plan_env(
            &["cmd"],
            &[("PIDONE_OOM_EXIT", "1"), ("PIDONE_CGROUP_NEST", "0")],
        );
        assert!(p.oom_exit && !p.cgroup_nest);
        let p = plan(&["cmd"]);
        assert!(!p.oom_exit && !p.cgroup_nest);
        assert!(err(&["--oom-exit=1", "cmd"]).contains("--oom-exit takes no value"));
    }

    #[test]
    fn stops_at_first_non_option_without_reordering() {
        let p = plan(&["-s", "ls", "-l", "--", "-v"]);
        assert_eq!(p.command, os(&["ls", "-l", "--", "-v"]));
        assert!(p.subreaper);
        assert_eq!(p.log.verbosity, 0);
        assert_eq!(plan(&["--", "-v"]).command, os(&["-v"]));
        assert_eq!(plan(&["-"]).command, os(&["-"]));
    }

    #[test]
    fn clusters_values_and_long_forms() {
        let p = plan(&[
            "-svvw",
            "-p15",
            "-e",
            "3",
            "--remap-exit=4",
            "-r",
            "TERM:INT",
            "--rewrite",
            "USR1:0",
            "--grace",
            "0.5",
            "cmd",
        ]);
        assert!(p.subreaper && p.warn_reap);
        assert_eq!(p.log.verbosity, 2);
        assert_eq!(p.pdeathsig, Some(15));
        assert_eq!(p.remap_exit, vec![3, 4]);
        assert_eq!(p.signals.rewrite, vec![(15, 2), (10, 0)]);
        assert_eq!(p.grace, Duration::from_millis(500));
        assert_eq!(plan(&["-p", "SIGRTMIN+2", "x"]).pdeathsig, Some(36));
        assert_eq!(plan(&["-g", "x"]).signals.target, Target::Group);
        assert_eq!(plan(&["-g", "-c", "x"]).signals.target, Target::Child);
    }

    #[test]
    fn bad_input_is_one_line_exit_2() {
        assert!(err(&["-x", "cmd"]).contains("unknown option '-x'"));
        assert!(err(&["--bogus", "cmd"]).contains("unknown option '--bogus'"));
        assert!(err(&["-s"]).contains("no command"));
        assert!(err(&["--"]).contains("no command"));
        assert!(err(&["-p"]).contains("-p needs a value"));
        assert!(err(&["-p", "NOPE", "x"]).contains("not a signal"));
        assert!(err(&["-e", "256", "x"]).contains("exit code"));
        assert!(err(&["-r", "TERM", "x"]).contains("FROM:TO"));
        assert!(err(&["--grace", "-1", "x"]).contains("seconds"));
        assert!(err(&["--subreaper=1", "x"]).contains("takes no value"));
        assert!(err(&["-P", "x"]).contains("--pause takes no command"));
        for e in [err(&["-x", "cmd"]), err(&["--"])] {
            assert!(e.contains("--help") && !e.contains('\n'));
        }
    }

    #[test]
    fn help_version_pause_and_metadata() {
        assert!(
            matches!(parse(Personality::Tini, &os(&["-h"]), &env(&[])), Ok(Request::Print(t)) if t.contains("Usage"))
        );
        assert!(
            matches!(parse(Personality::Tini, &os(&["--version"]), &env(&[])), Ok(Request::Print(t)) if t.starts_with("pidone version ") && t.contains(" - git."))
        );
        assert!(plan(&["-P"]).pause);
        match parse(Personality::Tini, &os(&[]), &env(&[])) {
            Ok(Request::Metadata { source, .. }) => {
                assert_eq!(source, Source::Search)
            }
            other => panic!("{:?}", other),
        }
        match parse(
            Personality::Tini,
            &os(&["-v", "--metadata", "-"]),
            &env(&[]),
        ) {
            Ok(Request::Metadata { source, base }) => {
                assert_eq!(source, Source::Stdin);
                assert_eq!(base.log.verbosity, 1);
            }
            other => panic!("{:?}", other),
        }
        match parse(
            Personality::Tini,
            &os(&[]),
            &env(&[("PIDONE_METADATA", "/m.json")]),
        ) {
            Ok(Request::Metadata { source, .. }) => {
                assert_eq!(source, Source::File("/m.json".into()))
            }
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn environment_defaults_and_overrides() {
        let p = plan_env(
            &["x"],
            &[
                ("TINI_SUBREAPER", "1"),
                ("TINI_VERBOSITY", "4"),
                ("TINI_KILL_PROCESS_GROUP", "1"),
                ("PIDONE_GRACE", "7"),
                ("PIDONE_REWRITE", "TERM:QUIT,HUP:0"),
                ("PIDONE_REMAP_EXIT", "1,2"),
            ],
        );
        assert!(p.subreaper);
        assert_eq!(p.log.verbosity, 3);
        assert_eq!(p.signals.target, Target::Group);
        assert_eq!(p.grace, Duration::from_secs(7));
        assert_eq!(p.signals.rewrite, vec![(15, 3), (1, 0)]);
        assert_eq!(p.remap_exit, vec![1, 2]);
        assert_eq!(
            plan_env(&["--grace", "1", "x"], &[("PIDONE_GRACE", "7")]).grace,
            Duration::from_secs(1)
        );
        // tini's variables: set at all is on, "" and "0" included.
        for v in ["", "0", "1"] {
            assert!(plan_env(&["x"], &[("TINI_SUBREAPER", v)]).subreaper);
            let p = plan_env(&["x"], &[("TINI_KILL_PROCESS_GROUP", v)]);
            assert_eq!(p.signals.target, Target::Group);
        }
        assert!(!plan_env(&["x"], &[("PIDONE_SUBREAPER", "")]).subreaper);
        // tini's 1 (warnings, its default) is pidone's 0; 0 is errors only;
        // each -v one level up from there.
        for (v, args, want) in [
            ("0", &["x"][..], (true, 0)),
            ("0", &["-v", "x"], (false, 0)),
            ("1", &["x"], (false, 0)),
            ("2", &["x"], (false, 1)),
            ("3", &["x"], (false, 2)),
            ("4", &["x"], (false, 3)),
            ("2", &["-vv", "x"], (false, 3)),
            ("", &["x"], (true, 0)),
        ] {
            let p = plan_env(args, &[("TINI_VERBOSITY", v)]);
            assert_eq!((p.log.quiet, p.log.verbosity), want, "{} {:?}", v, args);
        }
        assert_eq!(
            plan_env(&["x"], &[("PIDONE_VERBOSITY", "2")]).log.verbosity,
            2
        );
    }

    #[test]
    fn dumb_init_personality() {
        let p = match parse(Personality::DumbInit, &os(&["x"]), &env(&[])) {
            Ok(Request::Run(p)) => p,
            other => panic!("{:?}", other),
        };
        assert!(p.signals.new_session);
        assert_eq!(p.signals.target, Target::Group);
        assert!(p.signals.job_control && !p.signals.keep_group);
        assert_eq!(p.end, crate::plan::End::DumbInit);
        let p = match parse(
            Personality::DumbInit,
            &os(&["x"]),
            &env(&[("DUMB_INIT_SETSID", "0")]),
        ) {
            Ok(Request::Run(p)) => p,
            other => panic!("{:?}", other),
        };
        assert!(!p.signals.new_session);
        assert_eq!(p.signals.target, Target::Child);
        // -c: still job control and dumb-init's end; the command stays in
        // pidone's process group.
        assert!(p.signals.job_control && p.signals.keep_group);
        assert_eq!(p.end, crate::plan::End::DumbInit);
        // No setsid: TSTP/TTIN/TTOU go as they are (dumb-init -c), but a
        // rewrite the caller gave stays.
        assert!(p.signals.rewrite.is_empty());
        let p = match parse(
            Personality::DumbInit,
            &os(&["-c", "-r", "TSTP:USR1", "x"]),
            &env(&[]),
        ) {
            Ok(Request::Run(p)) => p,
            other => panic!("{:?}", other),
        };
        assert_eq!(p.signals.rewritten(libc::SIGTSTP), Some(libc::SIGUSR1));
        assert_eq!(p.signals.rewritten(libc::SIGTTIN), Some(libc::SIGTTIN));
        // Under any other name: none of it.
        let p = plan(&["-c", "x"]);
        assert!(!p.signals.job_control && !p.signals.keep_group);
        assert_eq!(p.end, crate::plan::End::Grace);
    }

    #[test]
    fn odd_command_lines_are_usage_errors_or_run() {
        let outcome = |args: &[&str]| match parse(Personality::Tini, &os(args), &env(&[])) {
            Ok(Request::Run(p)) => format!("run {:?}", p.command),
            Ok(_) => "other".to_string(),
            Err(e) => format!("{} {}", e.code, e.message),
        };
        // A lone "-" is a command name, as getopt has it.
        assert_eq!(outcome(&["-"]), "run [\"-\"]");
        assert_eq!(outcome(&["-vpTERM", "x"]), "run [\"x\"]");
        for (args, says) in [
            (&["--="][..], "2 -- takes no value"),
            (&["-e"], "2 -e needs a value"),
            (&["-é"], "2 unknown option"),
            (
                &["--grace=nan", "x"],
                "2 --grace: not a number of seconds: 'nan'",
            ),
            (&["-r", ":", "x"], "2 -r: not a signal: ''"),
            (&["-p", "RTMIN+99", "x"], "2 -p: not a signal: 'RTMIN+99'"),
            (&["---", "x"], "2 unknown option '--'"),
        ] {
            let got = outcome(args);
            assert!(got.starts_with(says), "{:?}: {}", args, got);
        }
    }

    fn named(name: &'static str, args: &[&str], e: &[(&str, &str)]) -> Result<Request> {
        parse_named(Personality::Tini, Some(name), &os(args), &env(e))
    }

    #[test]
    fn tini_names_answer_in_tinis_forms() {
        for name in ["tini", "docker-init"] {
            let refused = |args: &[&str]| match named(name, args, &[]) {
                Ok(Request::Refuse { text, code }) => {
                    assert_eq!(code, 1, "{:?}", args);
                    text
                }
                other => panic!("{:?}: {:?}", args, other),
            };
            // No command, no arguments, a bad option: usage on stderr, 1.
            for args in [&[][..], &["-s"], &["-x", "cmd"], &["-p", "NOPE", "x"]] {
                let text = refused(args);
                assert!(text.starts_with(&format!("{}: ", name)), "{}", text);
                assert!(
                    text.contains(&format!(
                        "Usage: {} [OPTIONS] PROGRAM -- [ARGS] | --version",
                        name
                    )),
                    "{}",
                    text
                );
            }
            assert!(refused(&["-x", "c"]).contains("unknown option '-x'"));
            let print = |args: &[&str]| match named(name, args, &[]) {
                Ok(Request::Print(t)) => t,
                other => panic!("{:?}", other),
            };
            let v = print(&["--version"]);
            assert!(v.starts_with("tini version 0.19.0+pidone."), "{}", v);
            assert!(v.trim_end().split_once(" - git.").is_some(), "{}", v);
            assert!(print(&["-h"]).starts_with(&format!("{} (tini version ", name)));
            assert!(print(&["-l"]).starts_with("MIT License"));
            match named(name, &["-vw", "x"], &[]) {
                Ok(Request::Run(p)) => {
                    assert_eq!(p.log.style, LogStyle::Tini);
                    assert_eq!(p.log.verbosity, 1);
                    assert!(p.warn_reap);
                }
                other => panic!("{:?}", other),
            }
            // A bad TINI_VERBOSITY does not stop tini: a warning.
            match named(name, &["x"], &[("TINI_VERBOSITY", "loud")]) {
                Ok(Request::Run(p)) => assert!(p.warnings[0].contains("TINI_VERBOSITY")),
                other => panic!("{:?}", other),
            }
        }
        // Under pidone's name: pidone's forms.
        assert!(err(&["-p", "NOPE", "x"]).ends_with("(see pidone --help)"));
        let e = parse(
            Personality::Tini,
            &os(&["x"]),
            &env(&[("TINI_VERBOSITY", "loud")]),
        );
        assert!(matches!(e, Err(e) if e.code == 2));
        assert!(matches!(
            parse(Personality::Tini, &os(&[]), &env(&[])),
            Ok(Request::Metadata { .. })
        ));
    }
}
