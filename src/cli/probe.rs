//! `pidone probe [--timeout SECONDS] TARGET`: the health check's command
//! line. TARGET is `tcp:HOST:PORT` or `http://HOST:PORT/PATH` (IPv6
//! addresses in brackets). No TLS: `https://` is refused with a line
//! saying so.

use std::ffi::OsString;

use super::Request;
use crate::error::{Error, Result};
use crate::plan::{Probe, ProbeTarget, DEFAULT_PROBE_TIMEOUT};
use crate::values;

const USAGE: &str = "usage: pidone probe [--timeout SECONDS] tcp:HOST:PORT | http://HOST:PORT/PATH";

fn bad(msg: &str) -> Error {
    Error::usage(format!("probe: {} ({})", msg, USAGE))
}

pub fn parse(args: &[OsString]) -> Result<Request> {
    let mut timeout = DEFAULT_PROBE_TIMEOUT;
    let mut target = None;
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        let value = match a.strip_prefix("--timeout") {
            Some("") => Some(it.next().ok_or_else(|| bad("--timeout needs a value"))?),
            Some(v) => v.strip_prefix('=').map(|v| v.to_string().into()),
            None => None,
        };
        if let Some(v) = value {
            timeout = values::seconds(&v)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| bad(&format!("--timeout: not a number of seconds: '{}'", v)))?;
        } else if a == "-h" || a == "--help" {
            return Ok(Request::Print(format!("{}\n", USAGE)));
        } else if target.is_some() {
            return Err(bad("one target only"));
        } else {
            target = Some(self::target(&a)?);
        }
    }
    let target = target.ok_or_else(|| bad("no target given"))?;
    Ok(Request::Probe(Probe { target, timeout }))
}

fn target(t: &str) -> Result<ProbeTarget> {
    if let Some(rest) = t.strip_prefix("tcp:") {
        let (host, port) = host_port(rest).ok_or_else(|| bad("expected tcp:HOST:PORT"))?;
        return Ok(ProbeTarget::Tcp { host, port });
    }
    if t.starts_with("https://") {
        return Err(bad(
            "https is not supported (no TLS); probe the plain port or use tcp:",
        ));
    }
    let rest = t
        .strip_prefix("http://")
        .ok_or_else(|| bad(&format!("unknown target '{}'", t)))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let (host, port) = match host_port(authority) {
        Some(hp) => hp,
        // No port: HTTP's own.
        None if !authority.is_empty() && !authority.contains(':') => (authority.to_string(), 80),
        None => return Err(bad("expected http://HOST:PORT/PATH")),
    };
    // The request line is built from these: nothing that could end it.
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) || host.bytes().any(|b| b <= b' ') {
        return Err(bad("the target holds spaces or control characters"));
    }
    Ok(ProbeTarget::Http {
        host,
        port,
        path: path.to_string(),
    })
}

/// `HOST:PORT` or `[V6]:PORT`; the host as written, brackets removed.
fn host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let host = match host.strip_prefix('[') {
        Some(h) => h.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    let port = port.parse::<u16>().ok().filter(|&p| p != 0)?;
    (!host.is_empty()).then(|| (host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn probe(args: &[&str]) -> Result<Probe> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match parse(&args)? {
            Request::Probe(p) => Ok(p),
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn targets_and_timeout() {
        let p = probe(&["tcp:127.0.0.1:8080"]).unwrap();
        assert_eq!(
            p.target,
            ProbeTarget::Tcp {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(p.timeout, DEFAULT_PROBE_TIMEOUT);
        let p = probe(&["--timeout", "2.5", "http://[::1]:81/healthz?x=1"]).unwrap();
        assert_eq!(
            p.target,
            ProbeTarget::Http {
                host: "::1".into(),
                port: 81,
                path: "/healthz?x=1".into()
            }
        );
        assert_eq!(p.timeout, Duration::from_millis(2500));
        let p = probe(&["http://localhost", "--timeout=3"]).unwrap();
        assert_eq!(
            p.target,
            ProbeTarget::Http {
                host: "localhost".into(),
                port: 80,
                path: "/".into()
            }
        );
    }

    #[test]
    fn bad_targets_are_usage_errors() {
        for (args, says) in [
            (&[][..], "no target"),
            (&["https://x:1/"], "no TLS"),
            (&["tcp:x"], "tcp:HOST:PORT"),
            (&["tcp:x:0"], "tcp:HOST:PORT"),
            (&["tcp:::1:80"], "tcp:HOST:PORT"),
            (&["http://x:1/a b"], "spaces"),
            (&["udp:x:1"], "unknown target"),
            (&["--timeout", "0", "tcp:x:1"], "--timeout"),
            (&["tcp:x:1", "tcp:y:1"], "one target"),
        ] {
            let e = probe(args).unwrap_err();
            assert_eq!(e.code, 2);
            assert!(e.message.contains(says), "{:?}: {}", args, e.message);
        }
    }
}
