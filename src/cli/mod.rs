//! Caller dialects. Each parser turns what the caller gave (argv, the
//! environment, documents already read) into a `Plan`; none of them makes
//! a system call.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::error::Result;
use crate::plan::{Personality, Plan};

pub mod dockerinit;
pub mod kernel;
pub mod probe;
pub mod tini;

/// What the caller asked for.
#[derive(Debug)]
pub enum Request {
    /// Run this plan.
    Run(Box<Plan>),
    /// Read a metadata document and build the plan from it; `base` carries
    /// what the command line already said (log file, verbosity, ...).
    Metadata { source: Source, base: Box<Plan> },
    /// Print this text on stdout and exit 0 (`--help`, `--version`).
    Print(String),
    /// Print this text on stderr and exit with this code: a bad command
    /// line under tini's names, answered as tini does (usage text, 1).
    Refuse { text: String, code: i32 },
    /// `pidone probe ...`: one health check.
    Probe(crate::plan::Probe),
}

/// Where a metadata document comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
    /// The zone's metadata service on this unix socket.
    Socket(PathBuf),
    /// The metadata service on this serial port (a Triton HVM guest).
    Serial(PathBuf),
    /// Nothing named: the search of `mdata::source` (zone sockets, the
    /// default file, the serial port of a Triton guest).
    Search,
}

impl Source {
    /// `/etc/pidone/metadata.json` or `standard input`, for log lines.
    pub fn describe(&self) -> String {
        match self {
            Source::Stdin => "standard input".into(),
            Source::File(p) => p.display().to_string(),
            Source::Socket(p) => format!("the metadata service on socket {}", p.display()),
            Source::Serial(p) => format!("the metadata service on serial port {}", p.display()),
            Source::Search => "the first metadata source found".into(),
        }
    }
}

/// `-`, `socket:PATH`, `serial:DEVICE` (`serial` alone: `/dev/ttyS1`), or
/// a file's path.
pub fn source(spec: &str) -> Source {
    if spec == "-" {
        Source::Stdin
    } else if let Some(p) = spec.strip_prefix("socket:") {
        Source::Socket(p.into())
    } else if spec == "serial" {
        Source::Serial(SERIAL_DEVICE.into())
    } else if let Some(p) = spec.strip_prefix("serial:") {
        Source::Serial(p.into())
    } else {
        Source::File(spec.into())
    }
}

pub const SERIAL_DEVICE: &str = "/dev/ttyS1";

pub const DEFAULT_METADATA: &str = "/etc/pidone/metadata.json";

/// The environment as the parsers see it: a plain list, looked up by name.
pub struct Environ(pub Vec<(OsString, OsString)>);

impl Environ {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.to_str())
    }

    /// A flag set in the environment: present and not "", "0", "false", "no".
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no"))
    }

    /// Present at all, whatever the value (tini's `getenv() != NULL`:
    /// `TINI_SUBREAPER=` and even `TINI_SUBREAPER=0` turn it on).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// tini's names: Docker's `docker-init`, `tini`, Debian's `tini-static`.
/// Called so, pidone answers in tini's forms (usage, version, exit 1 for
/// a bad command line, tini's log lines); see docs/tini.md.
pub fn tini_name(argv0: &OsStr) -> Option<&'static str> {
    let name = std::path::Path::new(argv0).file_name().unwrap_or(argv0);
    ["tini", "tini-static", "docker-init"]
        .into_iter()
        .find(|n| name == *n)
}

/// The personality a program name asks for.
pub fn personality_of(argv0: &OsStr) -> Personality {
    let name = std::path::Path::new(argv0)
        .file_name()
        .unwrap_or(argv0)
        .to_string_lossy();
    if name.ends_with("dockerinit") {
        Personality::DockerInit
    } else if name == "dumb-init" {
        Personality::DumbInit
    } else {
        Personality::Tini
    }
}

/// Parse a whole command line: `args[0]` is the program name. `dockerenv`
/// is /.dockerenv as boot read it (only for the DockerInit personality).
pub fn parse(
    args: &[OsString],
    env: &Environ,
    dockerenv: &dockerinit::DockerEnv,
) -> Result<Request> {
    let argv0 = args
        .first()
        .map(OsString::as_os_str)
        .unwrap_or(OsStr::new("pidone"));
    let rest = args.get(1..).unwrap_or(&[]);
    match personality_of(argv0) {
        Personality::DockerInit => dockerinit::parse(rest, env, dockerenv),
        // `pidone probe`: the health check, under the tini-style names
        // (engines put `--` before a command, so none is taken for it).
        Personality::Tini if rest.first().is_some_and(|a| a == "probe") => {
            probe::parse(rest.get(1..).unwrap_or(&[]))
        }
        p => tini::parse_named(p, tini_name(argv0), rest, env),
    }
}

/// The log a dialect would have opened, for an error found while parsing
/// it (a bad /.dockerenv), so that error reaches the same log file.
pub fn fallback_log(args: &[OsString], env: &Environ) -> crate::plan::LogPlan {
    let personality = args
        .first()
        .map_or(Personality::Tini, |a| personality_of(a));
    let mut log = Plan::new(personality).log;
    if personality == Personality::DockerInit {
        log.file = dockerinit::log_file(env);
    }
    log
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT: &str = env!("PIDONE_GIT");

/// `pidone version X.Y.Z - git.<hash>`: the form `docker info` parses.
pub fn version_line() -> String {
    format!("pidone version {} - git.{}\n", VERSION, GIT)
}

/// The tini release whose documented behaviour pidone follows under
/// tini's names.
pub const TINI_VERSION: &str = "0.19.0";

/// Under tini's names: `tini version 0.19.0+pidone.X.Y.Z - git.<hash>`.
/// `docker info` takes the version after "tini version " and the commit
/// after "git."; semver build metadata (`+pidone...`) says which init it
/// is without changing how the version compares.
pub fn tini_version() -> String {
    format!(
        "tini version {}+pidone.{} - git.{}",
        TINI_VERSION, VERSION, GIT
    )
}
