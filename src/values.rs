//! Value parsers shared by every dialect (the tini-style command line,
//! `.dockerinit` flags, the kernel command line, metadata documents), so a
//! CIDR, a signal name or a number of seconds means the same everywhere.
//! Text in, typed value out; no system calls. Each dialect words its own
//! error line around the `None`/`Err` these return.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::Value;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::error::{Error, Stage};
use crate::sys::signals::{NAMES, RTMAX, RTMIN};

use crate::plan::{
    Cidr, EnvVar, Helper, Id, MountFlags, MountOptions, OnChange, PowerAction, Restart, UserSpec,
};

// ---- signals -------------------------------------------------------------

/// Parse `TERM`, `SIGTERM`, `15`, `RTMIN+3`, `SIGRTMAX-1` (any case).
/// `0` is accepted (it means "drop" in rewrites).
pub fn signal(text: &str) -> Option<i32> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return (0..=RTMAX).contains(&n).then_some(n);
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return offset(rest, RTMIN, 1).filter(|n| *n <= RTMAX);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return offset(rest, RTMAX, -1).filter(|n| *n >= RTMIN);
    }
    NAMES.iter().find(|(n, _)| *n == name).map(|&(_, s)| s)
}

fn offset(rest: &str, base: i32, sign: i32) -> Option<i32> {
    if rest.is_empty() {
        return Some(base);
    }
    let digits = if sign > 0 {
        rest.strip_prefix('+')?
    } else {
        rest.strip_prefix('-')?
    };
    let n: i32 = digits.parse().ok()?;
    (0..=30).contains(&n).then_some(base + sign * n)
}

// ---- durations -----------------------------------------------------------

/// The longest duration any option takes: a day.
const MAX_SECONDS: f64 = 86_400.0;

/// A number of seconds, fractions allowed, from 0 to 86400: `10`, `0.25`,
/// `.5`, `+3.`. Parsed as a decimal (to the nanosecond, further digits
/// dropped) rather than through `f64`: exact, and std's float parser and
/// its tables are 12.6 KB of the binary (docs/platforms.md).
pub fn seconds(text: &str) -> Option<Duration> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + frac.len() == 0 || !digits(whole) || !digits(frac) {
        return None;
    }
    let secs = whole.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })?;
    let mut nanos = 0u32;
    for b in frac.bytes().chain(std::iter::repeat(b'0')).take(9) {
        nanos = nanos * 10 + u32::from(b - b'0');
    }
    let d = Duration::new(secs, nanos);
    (d <= Duration::from_secs(MAX_SECONDS as u64)).then_some(d)
}

/// As `seconds`, for a number that is already one (a JSON number).
pub fn seconds_f64(s: f64) -> Option<Duration> {
    (s.is_finite() && (0.0..=MAX_SECONDS).contains(&s)).then(|| Duration::from_secs_f64(s))
}

// ---- numbers -------------------------------------------------------------

/// A log level: 0 (warnings) and up.
pub fn verbosity(text: &str) -> Option<u8> {
    text.trim().parse::<u8>().ok()
}

/// An interface MTU, 68 (IPv4's minimum) to 65535.
pub fn mtu(text: &str) -> Option<u32> {
    mtu_number(text.trim().parse::<u64>().ok()?)
}

/// As `mtu`, for a number that is already one (a JSON number).
pub fn mtu_number(n: u64) -> Option<u32> {
    (68..=65535).contains(&n).then_some(n as u32)
}

// ---- addresses -----------------------------------------------------------

/// Why a CIDR was refused; `Display` gives the metadata dialect's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    /// No `/N`, and a bare address is not allowed here.
    NoPrefix(String),
    /// The part before the `/` (here) is not an IP address.
    Address(String),
    /// The prefix length is not a number up to `max`.
    Prefix { text: String, max: u8 },
}

impl std::fmt::Display for CidrError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            CidrError::NoPrefix(s) => write!(f, "\"{}\" is not address/prefix", s),
            CidrError::Address(a) => write!(f, "\"{}\" is not an IP address", a),
            CidrError::Prefix { text, max } => {
                write!(f, "\"{}\" has a bad prefix length (0-{})", text, max)
            }
        }
    }
}

/// `addr/N`, or a bare address as a host (/32, /128) when `host` allows it.
pub fn cidr(s: &str, host: bool) -> Result<Cidr, CidrError> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None if host => (s, None),
        None => return Err(CidrError::NoPrefix(s.to_string())),
    };
    let addr: IpAddr = a.parse().map_err(|_| CidrError::Address(a.to_string()))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        None => max,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|&n| n <= max)
            .ok_or_else(|| CidrError::Prefix {
                text: s.to_string(),
                max,
            })?,
    };
    Ok(Cidr { addr, prefix })
}

/// Prefix length of a netmask; None when the mask is not contiguous.
pub fn mask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let p = m.leading_ones();
    (m.checked_shl(p).unwrap_or(0) == 0).then_some(p as u8)
}

/// A dotted IPv4 netmask's prefix length (`255.255.255.0` -> 24).
pub fn netmask(s: &str) -> Result<u8, String> {
    let m: Ipv4Addr = s
        .parse()
        .map_err(|_| format!("\"{}\" is not a netmask", s))?;
    mask_prefix(m).ok_or_else(|| format!("\"{}\" is not a contiguous netmask", s))
}

/// `aa:bb:cc:dd:ee:ff` (or with `-`), any case.
pub fn mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

// ---- capabilities --------------------------------------------------------

/// Capability names by number, as in linux/capability.h.
pub const CAP_NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The number of a capability name: any case, with or without `CAP_`.
pub fn cap_number(name: &str) -> Option<u32> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    CAP_NAMES.iter().position(|n| *n == bare).map(|i| i as u32)
}

// ---- machines ------------------------------------------------------------

/// `poweroff` (also `power-off`, `off`), `reboot` (`reset`) or `halt`.
pub fn power_action(v: &str) -> Option<PowerAction> {
    match v {
        "poweroff" | "power-off" | "off" => Some(PowerAction::PowerOff),
        "reboot" | "reset" => Some(PowerAction::Reboot),
        "halt" => Some(PowerAction::Halt),
        _ => None,
    }
}

// ---- users ---------------------------------------------------------------

/// A decimal id; u32::MAX is (uid_t)-1, "no change", never a real id.
pub fn id_number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|&n| n != u32::MAX)
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `name`, `uid`, `name:group`, `uid:gid`, `name:gid` or `uid:group`. An
/// empty part, a third part or an id out of range is an error of the
/// user stage (exit 125), whichever dialect gave it.
pub fn user_spec(spec: &str) -> Result<UserSpec, Error> {
    let fatal = |msg: String| Error::new(Stage::User, msg);
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let form = "expected name, uid, name:group, uid:gid, name:gid or uid:group";
    if user.is_empty() || grp == Some("") {
        return Err(fatal(format!(
            "user {:?} has an empty part; {}",
            spec, form
        )));
    }
    if grp.is_some_and(|g| g.contains(':')) {
        return Err(fatal(format!(
            "user {:?} has too many parts; {}",
            spec, form
        )));
    }
    let id = |s: &str, what: &str| -> Result<Id, Error> {
        if is_numeric(s) {
            id_number(s)
                .map(Id::Number)
                .ok_or_else(|| fatal(format!("{} {:?} is out of range", what, s)))
        } else {
            Ok(Id::Name(s.to_string()))
        }
    };
    Ok(UserSpec {
        user: id(user, "uid")?,
        group: grp.map(|g| id(g, "gid")).transpose()?,
        text: spec.to_string(),
    })
}

// ---- environment ---------------------------------------------------------

/// Split `NAME=value`; None for an entry with no `=` or an empty name.
pub fn env_var(entry: &OsStr) -> Option<EnvVar> {
    let b = entry.as_bytes();
    let eq = b.iter().position(|&c| c == b'=')?;
    let (name, value) = (b.get(..eq)?, b.get(eq + 1..)?);
    (eq > 0).then(|| EnvVar {
        name: OsStr::from_bytes(name).to_owned(),
        value: OsStr::from_bytes(value).to_owned(),
    })
}

/// The well-formed entries, in order; a warning naming each other one (by
/// what precedes its first `=`, never the value).
/// A bad entry is named by its place in `source` (from 1), never by its
/// text: without an `=` it may well be a value (a secret).
pub fn env_vars(entries: Vec<OsString>, source: &str, warnings: &mut Vec<String>) -> Vec<EnvVar> {
    entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| {
            let var = env_var(entry);
            if var.is_none() {
                warnings.push(format!(
                    "stage=env: skipping {} entry {}: expected NAME=value",
                    source,
                    i + 1
                ));
            }
            var
        })
        .collect()
}

/// Docker's `--env-file` format: one `NAME=value` a line, the value
/// verbatim (no quotes removed); leading white space and blank lines and
/// `#` comments skipped; a line that is only `NAME` takes the value
/// `lookup` gives (pidone's own environment), or is left out. Errors name
/// the line by number, never by its text (it may hold a secret).
pub fn env_file(
    text: &[u8],
    lookup: impl Fn(&OsStr) -> Option<OsString>,
) -> Result<Vec<EnvVar>, String> {
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    let mut out = Vec::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = match line.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(start) => line.get(start..).unwrap_or_default(),
            None => continue,
        };
        if line.starts_with(b"#") {
            continue;
        }
        if std::str::from_utf8(line).is_err() {
            return Err(format!("line {}: not valid UTF-8", i + 1));
        }
        let (name, value) = match line.iter().position(|&b| b == b'=') {
            Some(eq) => (
                line.get(..eq).unwrap_or_default(),
                Some(line.get(eq + 1..).unwrap_or_default()),
            ),
            None => (line, None),
        };
        if name.is_empty() {
            return Err(format!("line {}: no variable name", i + 1));
        }
        if name.iter().any(u8::is_ascii_whitespace) {
            return Err(format!("line {}: the name contains white space", i + 1));
        }
        let name = OsStr::from_bytes(name).to_owned();
        let value = match value {
            Some(v) => OsStr::from_bytes(v).to_owned(),
            None => match lookup(&name) {
                Some(v) => v,
                None => continue,
            },
        };
        out.push(EnvVar { name, value });
    }
    Ok(out)
}

// ---- features --------------------------------------------------------------

/// `SIG:SECONDS` (`TERM:10`, `SIGQUIT:2.5`): a signal held before it is
/// forwarded. SIGKILL and SIGSTOP never reach pidone, SIGCHLD is its own.
pub fn delay(text: &str) -> Option<(i32, Duration)> {
    let (sig, secs) = text.split_once(':')?;
    let sig =
        signal(sig).filter(|&s| ![0, libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD].contains(&s))?;
    Some((sig, seconds(secs)?))
}

/// `PATH:SIG` (`/etc/app:HUP`); the last `:` splits, so a path may hold
/// one. The path must be absolute.
pub fn on_change(text: &str) -> Option<OnChange> {
    let (path, sig) = text.rsplit_once(':')?;
    let signal = signal(sig).filter(|&s| s > 0)?;
    path.starts_with('/').then(|| OnChange {
        path: path.into(),
        signal,
    })
}

/// `no`, `always`, `on-failure` or `on-failure:N`.
pub fn restart(text: &str) -> Option<Restart> {
    match text.trim() {
        "no" => Some(Restart::No),
        "always" => Some(Restart::Always),
        "on-failure" => Some(Restart::OnFailure { max: None }),
        t => t
            .strip_prefix("on-failure:")?
            .parse::<u32>()
            .ok()
            .map(|n| Restart::OnFailure { max: Some(n) }),
    }
}

pub const RESTART_FORM: &str = "no, always, on-failure or on-failure:N";

/// A helper daemon on a command line: its words split on white space (no
/// quoting), the first one `pidfile=PATH` when it writes one; or a JSON
/// array of strings for arguments with spaces (`["/sbin/d", "-f"]`).
pub fn helper(text: &str) -> Option<Helper> {
    let t = text.trim();
    if t.starts_with('[') {
        // As a Value: the parser the metadata uses, no second one.
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(t) else {
            return None;
        };
        let argv = items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Some(OsString::from(s)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        return (!argv.is_empty()).then_some(Helper {
            argv,
            pidfile: None,
        });
    }
    let mut words = t.split_whitespace().peekable();
    let pidfile = words
        .next_if(|w| w.starts_with("pidfile="))
        .and_then(|w| w.strip_prefix("pidfile="))
        .map(std::path::PathBuf::from);
    if pidfile.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        return None;
    }
    let argv: Vec<OsString> = words.map(OsString::from).collect();
    (!argv.is_empty()).then_some(Helper { argv, pidfile })
}

pub const HELPER_FORM: &str = "'[pidfile=PATH] COMMAND ARGS...' or a JSON array of strings";

// ---- names ---------------------------------------------------------------

/// A host name as RFC 1123 has it: dot-separated labels of 1 to 63
/// letters, digits and `-` (not first or last), at most `max` bytes in
/// all. Nothing else can reach /etc/hosts, resolv.conf or the log.
pub fn dns_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The kernel's limit for a host name (HOST_NAME_MAX).
pub const HOSTNAME_MAX: usize = 64;
/// A domain name's limit (RFC 1035), for search domains.
pub const DOMAIN_MAX: usize = 253;

/// What a bad name's error says is expected.
pub const DNS_NAME_FORM: &str =
    "a host name (RFC 1123: letters, digits and '-' in dot-separated labels of 1-63)";

// ---- mounts --------------------------------------------------------------

/// Split `options` into mount flags and the file system's own data, as
/// mount(8) does for the common flags.
fn flags_and_data(options: &str) -> (MountFlags, String) {
    let mut flags = MountFlags::default();
    let mut data = Vec::new();
    for o in options.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => flags.set(MountFlags::RDONLY, true),
            "rw" => flags.set(MountFlags::RDONLY, false),
            "nosuid" => flags.set(MountFlags::NOSUID, true),
            "nodev" => flags.set(MountFlags::NODEV, true),
            "noexec" => flags.set(MountFlags::NOEXEC, true),
            "noatime" => flags.set(MountFlags::NOATIME, true),
            "relatime" => flags.set(MountFlags::RELATIME, true),
            "sync" => flags.set(MountFlags::SYNCHRONOUS, true),
            "defaults" => {}
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// Mount options as written, split for mount(2).
pub fn mount_options(text: &str) -> MountOptions {
    let (flags, data) = flags_and_data(text);
    MountOptions {
        flags,
        data,
        text: text.to_string(),
    }
}

impl From<&str> for MountOptions {
    fn from(text: &str) -> MountOptions {
        mount_options(text)
    }
}

// ---- JSON ----------------------------------------------------------------

/// A JSON value that may come as JSON text inside a string (SmartOS and
/// metadata services store every value as a string): the string decoded,
/// or the value itself when it is not a string.
pub fn json_in_string(v: &Value) -> Result<Value, serde_json::Error> {
    match v {
        Value::String(s) => serde_json::from_str(s),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn rfc_1123_names() {
        for ok in [
            "web1",
            "a",
            "a-b.example",
            "1.2.3.example",
            "x".repeat(63).as_str(),
        ] {
            assert!(dns_name(ok, DOMAIN_MAX), "{}", ok);
        }
        for bad in [
            "",
            "web1\n192.0.2.66 evil",
            "a..b",
            "-a",
            "a-",
            "a_b",
            "a b",
            "a.",
            &"x".repeat(64),
        ] {
            assert!(!dns_name(bad, DOMAIN_MAX), "{:?}", bad);
        }
        assert!(!dns_name(
            "a.".repeat(40).trim_end_matches('.'),
            HOSTNAME_MAX
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_numbers_and_realtime() {
        assert_eq!(signal("TERM"), Some(15));
        assert_eq!(signal("sigterm"), Some(15));
        assert_eq!(signal("SIGUSR1"), Some(10));
        assert_eq!(signal("9"), Some(9));
        assert_eq!(signal("0"), Some(0));
        assert_eq!(signal("RTMIN"), Some(34));
        assert_eq!(signal("SIGRTMIN+3"), Some(37));
        assert_eq!(signal("RTMAX-1"), Some(63));
        assert_eq!(signal("RTMIN+31"), None);
        assert_eq!(signal("65"), None);
        assert_eq!(signal("-1"), None);
        assert_eq!(signal("BOGUS"), None);
        assert_eq!(signal(""), None);
    }

    #[test]
    fn feature_values() {
        assert_eq!(delay("TERM:10"), Some((15, Duration::from_secs(10))));
        assert_eq!(delay("sigquit:0.5"), Some((3, Duration::from_millis(500))));
        for bad in ["TERM", "KILL:1", "CHLD:1", "TERM:-1", "0:1", ":1"] {
            assert_eq!(delay(bad), None, "{}", bad);
        }
        let w = on_change("/etc/a:b/c.conf:HUP").unwrap();
        assert_eq!((w.path.to_str(), w.signal), (Some("/etc/a:b/c.conf"), 1));
        assert_eq!(on_change("rel:HUP"), None);
        assert_eq!(on_change("/x:0"), None);
        assert_eq!(
            restart("on-failure:3"),
            Some(Restart::OnFailure { max: Some(3) })
        );
        assert_eq!(restart("always"), Some(Restart::Always));
        assert_eq!(restart("sometimes"), None);
        let h = helper("pidfile=/run/d.pid /sbin/d -f").unwrap();
        assert_eq!(h.argv, [OsString::from("/sbin/d"), OsString::from("-f")]);
        assert_eq!(
            h.pidfile.as_deref(),
            Some(std::path::Path::new("/run/d.pid"))
        );
        let h = helper(r#"["/bin/sh", "-c", "a b"]"#).unwrap();
        assert_eq!(h.argv.len(), 3);
        assert!(h.pidfile.is_none());
        for bad in ["", "  ", "pidfile=/p", "pidfile= x", "[]", "[1]"] {
            assert_eq!(helper(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn docker_env_file_format() {
        let text = b"\xef\xbb\xbf# comment\n\n  A=1\nB=\"quoted\" kept \r\nC==x\nHOME\nMISSING\n\t# indented comment\n";
        let look = |n: &OsStr| (n == "HOME").then(|| OsString::from("/root"));
        let got: Vec<String> = env_file(text, look)
            .unwrap()
            .iter()
            .map(|v| format!("{}={}", v.name.to_string_lossy(), v.value.to_string_lossy()))
            .collect();
        assert_eq!(got, ["A=1", "B=\"quoted\" kept ", "C==x", "HOME=/root"]);
        let e = env_file(b"A=1\n=secret\n", |_| None).unwrap_err();
        assert_eq!(e, "line 2: no variable name");
        let e = env_file(b"A B=secret", |_| None).unwrap_err();
        assert!(e.contains("white space") && !e.contains("secret"));
        assert!(env_file(b"A=\xff", |_| None).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn names_round_trip() {
        for s in 1..=64 {
            assert_eq!(signal(&crate::sys::signals::name(s)), Some(s), "{}", s);
        }
    }

    #[test]
    fn options_split() {
        let (f, d) = flags_and_data("ro,noatime,errors=remount-ro,data=ordered");
        assert_eq!(f, MountFlags(MountFlags::RDONLY | MountFlags::NOATIME));
        assert_eq!(d, "errors=remount-ro,data=ordered");
        assert_eq!(flags_and_data(""), (MountFlags::default(), String::new()));
        assert_eq!(flags_and_data("ro,rw").0, MountFlags::default());
    }

    #[test]
    fn seconds_are_decimals() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("10", ms(10_000)),
            (" 0.25 ", ms(250)),
            (".5", ms(500)),
            ("+3.", ms(3000)),
            ("0", ms(0)),
            ("86400", ms(86_400_000)),
            ("1.0000000019", Duration::new(1, 1)),
        ] {
            assert_eq!(seconds(text), Some(want), "{:?}", text);
        }
        for bad in [
            "",
            ".",
            "-1",
            "1e3",
            "inf",
            "NaN",
            "86400.5",
            "1.2.3",
            "1 s",
            "0x10",
            "99999999999999999999999",
        ] {
            assert_eq!(seconds(bad), None, "{:?}", bad);
        }
    }
}
