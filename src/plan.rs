//! The plan: one plain value that says everything pidone will do.
//!
//! Every caller's dialect (tini-style options, `.dockerinit` flags, metadata
//! documents, the kernel command line) is parsed into a `Plan`. Parsers never
//! make system calls; the stages in `setup` apply the plan and never parse;
//! `supervise` runs the command. Data flows one way.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which caller dialect produced the plan; it picks defaults, not behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    /// `pidone`, `docker-init`, `tini`, `podman-init`, `catatonit`, `init`.
    Tini,
    /// Called as `dumb-init`: new session, signals to the group.
    DumbInit,
    /// Called as `/.dockerinit` by a classic Docker daemon.
    DockerInit,
    /// No command: everything comes from a metadata document.
    Metadata,
    /// PID 1 of a whole machine (`/init` of an initramfs).
    Machine,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub personality: Personality,
    /// argv of the command; empty only in pause mode.
    pub command: Vec<OsString>,
    /// `-P`: no command, reap until SIGTERM/SIGINT.
    pub pause: bool,
    pub env: Env,
    /// `name`, `uid`, `name:group`, `uid:gid`, ... resolved by the user stage.
    pub user: Option<UserSpec>,
    /// Working directory of the command; a leading `~` is the user's home.
    pub workdir: Option<PathBuf>,
    /// Create the workdir (`mkdir -p`) when it is missing.
    pub create_workdir: bool,
    pub hostname: Option<String>,
    pub network: Network,
    pub console: Option<Console>,
    pub helpers: Helpers,
    pub restart: Restart,
    pub signals: Signals,
    /// `--delay SIG:SECONDS`: signals held that long before they are
    /// forwarded (a second one of the same signal goes at once).
    pub delays: Vec<(i32, Duration)>,
    /// `--on-change PATH:SIG`: paths watched with inotify; a change sends
    /// the signal to the command.
    pub on_change: Vec<OnChange>,
    /// The `NOTIFY_SOCKET` pidone was given: the command's notifications
    /// reach it through pidone, which stays the main pid.
    pub notify_socket: Option<OsString>,
    /// Time the rest of the processes get between SIGTERM and SIGKILL once
    /// the command has ended. Zero exits at once, like tini.
    pub grace: Duration,
    /// How pidone ends when it is not PID 1 of a namespace.
    pub end: End,
    /// `-s`: become a child subreaper even when it is not needed.
    pub subreaper: bool,
    /// `-p SIG`: parent-death signal for pidone itself.
    pub pdeathsig: Option<i32>,
    /// `-w`: warn when reaping a process that is not the command.
    pub warn_reap: bool,
    /// `-e CODE`: exit codes turned into 0.
    pub remap_exit: Vec<i32>,
    pub log: LogPlan,
    /// JSON record of the last run, rewritten after every run.
    pub status_file: Option<PathBuf>,
    /// Capabilities to drop from every set before the exec (classic Docker).
    pub drop_caps: Option<Vec<u32>>,
    /// Close descriptors >= 3 before the exec (classic Docker, the
    /// metadata and machine flows).
    pub close_fds: bool,
    /// Asked to keep them (`pidone:keep_fds`, `pidone.keep_fds=1`: socket
    /// activation), which the metadata defaults respect.
    pub keep_fds: bool,
    /// `PR_SET_NO_NEW_PRIVS` for the command (off by default, as Docker).
    pub no_new_privs: bool,
    /// `--oom-exit`: an OOM kill of any process in the container's cgroup
    /// ends the container as if the command had exited with 137.
    pub oom_exit: bool,
    /// `--cgroup-nest`: pidone and the command each in a leaf of the
    /// container's cgroup v2, its controllers enabled for children.
    pub cgroup_nest: bool,
    /// Present when pidone is the init of a whole machine.
    pub machine: Option<Machine>,
    /// Things the parser noticed and skipped; logged once logging is up.
    pub warnings: Vec<String>,
    /// Decisions the parser made worth a line in the log (info level).
    pub notes: Vec<String>,
    /// Parts of pidone's own argv that hold secrets (`-e NAME=VALUE`
    /// values): (argument index, 0 = the program name; byte offset where
    /// the secret starts). /proc/1/cmdline is readable by every uid, so
    /// boot overwrites them once parsed.
    pub secret_args: Vec<(usize, usize)>,
}

/// The command's environment, built in this order: the inherited one (or the
/// metadata defaults), then `set` in order, a later name replacing an earlier
/// one in place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Env {
    /// Start from pidone's own environment.
    pub inherit: bool,
    /// When not inheriting, names of inherited variables to keep anyway
    /// (`container` for classic Docker).
    pub keep: Vec<String>,
    /// Add the metadata defaults: PATH, HOME (the user's), HOSTNAME,
    /// TERM=xterm in tty mode.
    pub defaults: bool,
    /// `NAME=value` entries, applied in order.
    pub set: Vec<EnvVar>,
    /// `--env-file PATH`: Docker's `--env-file` format, read by the env
    /// stage and applied after `set`, in order.
    pub files: Vec<PathBuf>,
    /// `--env-from-files[=NAME,...]`: `NAME_FILE=/path` becomes `NAME` =
    /// the file's contents (values never logged): for the names listed,
    /// or every `*_FILE` when the list is empty; None: off.
    pub from_files: Option<Vec<String>>,
}

/// A user and maybe a group (`docker:user`), each a name or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: Id,
    pub group: Option<Id>,
    /// As written, for log lines and messages.
    pub text: String,
}

/// The spec as written.
impl std::ops::Deref for UserSpec {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// A decimal id (never u32::MAX, which is (uid_t)-1).
    Number(u32),
    Name(String),
}

/// One `NAME=value` entry of the command's environment, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: OsString,
    pub value: OsString,
}

/// Tests compare entries with the text they came from.
#[cfg(test)]
impl PartialEq<&str> for EnvVar {
    fn eq(&self, other: &&str) -> bool {
        let mut t = self.name.clone();
        t.push("=");
        t.push(&self.value);
        t == **other
    }
}

#[cfg(test)]
impl PartialEq<OsString> for EnvVar {
    fn eq(&self, other: &OsString) -> bool {
        let mut t = self.name.clone();
        t.push("=");
        t.push(&self.value);
        t == *other
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Network {
    /// Bring `lo` up with 127.0.0.1/8 and ::1.
    pub loopback: bool,
    pub nics: Vec<Nic>,
    pub routes: Vec<Route>,
    pub resolvers: Vec<IpAddr>,
    pub dns_search: Vec<String>,
    /// Write /etc/hosts and /etc/resolv.conf (`pidone:hosts`, default true).
    pub write_etc: bool,
    /// Only where missing or empty: a zone's platform writes them first.
    pub keep_platform_etc: bool,
    /// `docker:extraHosts`: more /etc/hosts lines (address, name).
    pub extra_hosts: Vec<(IpAddr, String)>,
    /// `docker:linkHosts`: /etc/hosts lines, as given.
    pub link_hosts: String,
    /// How long the DHCP client tries before giving up.
    pub dhcp_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nic {
    /// Interface name; found by `mac` instead when that is given.
    pub interface: Option<String>,
    pub mac: Option<[u8; 6]>,
    pub addrs: Vec<Cidr>,
    /// `"ip": "dhcp"`.
    pub dhcp: bool,
    pub gateways: Vec<IpAddr>,
    pub mtu: Option<u32>,
    pub primary: bool,
}

/// An address with its prefix length, e.g. 10.0.0.2/24.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: Cidr,
    /// None for an on-link route.
    pub gateway: Option<IpAddr>,
    pub linklocal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Console {
    pub path: PathBuf,
    /// New session with the console as controlling terminal.
    pub tty: bool,
    /// stdin from the console rather than /dev/null.
    pub open_stdin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Helpers {
    pub daemons: Vec<Helper>,
    /// Kill them once the network is configured (`docker:noipmgmtd`).
    pub kill_after_network: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helper {
    pub argv: Vec<OsString>,
    pub pidfile: Option<PathBuf>,
}

/// A path watched for changes and the signal a change sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnChange {
    pub path: PathBuf,
    pub signal: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    #[default]
    No,
    Always,
    /// Restart on a non-zero exit, at most `max` times when given.
    OnFailure {
        max: Option<u32>,
    },
}

/// Where forwarded signals go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Only the command's process.
    Child,
    /// The command's whole process group.
    Group,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signals {
    pub target: Target,
    /// Start the command in a new session (dumb-init); else its own group.
    pub new_session: bool,
    /// `-r FROM:TO`; TO = 0 drops the signal.
    pub rewrite: Vec<(i32, i32)>,
    /// After forwarding SIGTSTP/SIGTTIN/SIGTTOU, stop pidone itself too, so
    /// the shell that started it sees the job stopped (dumb-init). Never as
    /// PID 1 of a namespace, which the kernel does not let stop itself.
    pub job_control: bool,
    /// Leave the command in pidone's own process group: no group of its
    /// own, no terminal hand-over (dumb-init `-c`, "completely transparent").
    pub keep_group: bool,
}

/// What pidone does about the other processes when it is not PID 1 of a
/// namespace. As PID 1 the grace period always applies: the kernel kills
/// whatever is left when PID 1 exits, so a chance to clean up first only
/// helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A subreaper; once the command has ended, every descendant gets
    /// SIGTERM, the grace period, then SIGKILL.
    Grace,
    /// As dumb-init: no subreaper; once the command has ended, one SIGTERM
    /// (after rewrites) to its process group in setsid mode, to no one
    /// with `-c`, and exit at once.
    DumbInit,
}

impl Signals {
    /// The signal to send for `sig` after rewrites; None when dropped.
    pub fn rewritten(&self, sig: i32) -> Option<i32> {
        let to = self
            .rewrite
            .iter()
            .rev()
            .find(|(from, _)| *from == sig)
            .map_or(sig, |&(_, to)| to);
        (to != 0).then_some(to)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPlan {
    /// 0 = warnings and errors on stderr; each -v one level more.
    pub verbosity: u8,
    /// Errors only, not even warnings (`TINI_VERBOSITY=0`).
    pub quiet: bool,
    /// How the lines on stderr look.
    pub style: LogStyle,
    /// Timestamped log file; None for none.
    pub file: Option<PathBuf>,
    /// Rotate the file to `.1` when over 1 MiB at start.
    pub rotate: bool,
    /// Also send records to the syslog socket.
    pub syslog: bool,
}

/// How pidone's lines on stderr look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogStyle {
    /// `pidone: WARN message`.
    #[default]
    Pidone,
    /// Called by one of tini's names: `[WARN  tini (PID)] message`, and
    /// tini's own words for the events people match in logs.
    Tini,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Mount /proc, /sys, /dev, ... (each skipped when already mounted).
    pub mounts: bool,
    /// Kernel modules to load before the network, dependencies first.
    pub modules: Vec<String>,
    pub root: Option<RootSwitch>,
    pub power: PowerAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootSwitch {
    pub device: PathBuf,
    pub fstype: String,
    pub options: MountOptions,
}

/// Mount options (`ro,noatime,errors=remount-ro`), split by the parser
/// into flags and the file system's own data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MountFlags,
    /// What the file system itself takes, comma-separated.
    pub data: String,
    /// As written, for messages.
    pub text: String,
}

/// The common mount flags as options name them, one bit each; the OS's
/// part of the root stage turns them into its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountFlags(pub u32);

impl MountFlags {
    pub const RDONLY: u32 = 1;
    pub const NOSUID: u32 = 2;
    pub const NODEV: u32 = 4;
    pub const NOEXEC: u32 = 8;
    pub const NOATIME: u32 = 16;
    pub const RELATIME: u32 = 32;
    pub const SYNCHRONOUS: u32 = 64;

    pub fn set(&mut self, bit: u32, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }

    // Read by the Linux root stage only (illumos has no machine mode).
    #[allow(dead_code)]
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
}

#[cfg(test)]
impl PartialEq<&str> for MountOptions {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PowerAction {
    #[default]
    PowerOff,
    Reboot,
    Halt,
}

/// `pidone probe`: one health check, then exit 0 (healthy) or 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub target: ProbeTarget,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTarget {
    /// `tcp:HOST:PORT`: healthy when a connection is accepted.
    Tcp { host: String, port: u16 },
    /// `http://HOST:PORT/PATH`: healthy on a 2xx or 3xx status.
    Http {
        host: String,
        port: u16,
        path: String,
    },
}

/// Kubernetes' default probe timeout (`timeoutSeconds: 1`).
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub const DEFAULT_GRACE: Duration = Duration::from_secs(3);
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
pub const DEFAULT_LOG_FILE: &str = "/var/log/pidone.log";
pub const DEFAULT_STATUS_FILE: &str = "/var/log/pidone.status";

impl Plan {
    /// The plan of a bare `pidone CMD`: tini's defaults.
    pub fn new(personality: Personality) -> Plan {
        let dumb = personality == Personality::DumbInit;
        Plan {
            personality,
            command: Vec::new(),
            pause: false,
            env: Env {
                inherit: true,
                ..Env::default()
            },
            user: None,
            workdir: None,
            create_workdir: false,
            hostname: None,
            network: Network {
                write_etc: true,
                dhcp_timeout: Duration::from_secs(5),
                ..Network::default()
            },
            console: None,
            helpers: Helpers::default(),
            restart: Restart::No,
            signals: Signals {
                target: if dumb { Target::Group } else { Target::Child },
                new_session: dumb,
                rewrite: if dumb {
                    vec![
                        (libc::SIGTSTP, libc::SIGSTOP),
                        (libc::SIGTTIN, libc::SIGSTOP),
                        (libc::SIGTTOU, libc::SIGSTOP),
                    ]
                } else {
                    Vec::new()
                },
                job_control: dumb,
                keep_group: false,
            },
            delays: Vec::new(),
            on_change: Vec::new(),
            notify_socket: None,
            grace: DEFAULT_GRACE,
            end: if dumb { End::DumbInit } else { End::Grace },
            subreaper: false,
            pdeathsig: None,
            warn_reap: false,
            remap_exit: Vec::new(),
            log: LogPlan {
                verbosity: 0,
                quiet: false,
                style: LogStyle::Pidone,
                file: None,
                rotate: false,
                syslog: false,
            },
            status_file: None,
            drop_caps: None,
            close_fds: false,
            keep_fds: false,
            no_new_privs: false,
            oom_exit: false,
            cgroup_nest: false,
            machine: None,
            warnings: Vec::new(),
            notes: Vec::new(),
            secret_args: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_last_wins_and_zero_drops() {
        let mut s = Plan::new(Personality::Tini).signals;
        assert_eq!(s.rewritten(15), Some(15));
        s.rewrite = vec![(15, 2), (15, 3), (10, 0)];
        assert_eq!(s.rewritten(15), Some(3));
        assert_eq!(s.rewritten(10), None);
    }

    #[test]
    fn dumb_init_defaults() {
        let p = Plan::new(Personality::DumbInit);
        assert!(p.signals.new_session);
        assert_eq!(p.signals.target, Target::Group);
        assert_eq!(p.signals.rewritten(libc::SIGTTIN), Some(libc::SIGSTOP));
    }
}
