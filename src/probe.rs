//! `pidone probe`: one health check for images without curl, as Docker's
//! `HEALTHCHECK CMD ["pidone", "probe", ...]` or a Kubernetes exec probe.
//! A TCP connect, or a plain HTTP/1.0 GET whose status line is read; no
//! TLS, no redirects followed (a 3xx is healthy). std's `TcpStream` only:
//! the whole check is a few hundred bytes of code. One line on stdout,
//! exit 0 healthy, 1 not.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::plan::{Probe, ProbeTarget};

/// The most of a response read to find its status line.
const STATUS_LINE_MAX: usize = 1024;

pub fn run(p: &Probe) -> i32 {
    let deadline = Instant::now() + p.timeout;
    let (what, result) = match &p.target {
        ProbeTarget::Tcp { host, port } => (
            format!("tcp:{}:{}", bracket(host), port),
            connect(host, *port, deadline).map(|_| "connected".to_string()),
        ),
        ProbeTarget::Http { host, port, path } => (
            format!("http://{}:{}{}", bracket(host), port, path),
            http(host, *port, path, deadline),
        ),
    };
    let (code, line) = match result {
        Ok(how) => (0, format!("healthy: {} {}\n", what, how)),
        Err(why) => (1, format!("unhealthy: {} {}\n", what, why)),
    };
    let _ = std::io::stdout().write_all(line.as_bytes());
    code
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{}]", host)
    } else {
        host.to_string()
    }
}

fn left(deadline: Instant) -> Result<Duration, String> {
    Some(deadline.saturating_duration_since(Instant::now()))
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "timed out".to_string())
}

/// The addresses of `host`: an IP address, or `localhost`. No DNS: a
/// probe checks this container, and the C library's resolver would be a
/// tenth of pidone's size.
fn addresses(host: &str) -> Result<Vec<IpAddr>, String> {
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]);
    }
    host.parse::<IpAddr>()
        .map(|a| vec![a])
        .map_err(|_| "is not an IP address or localhost (no DNS)".to_string())
}

/// The first address that accepts, within the deadline.
fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let addrs = addresses(host)?
        .into_iter()
        .map(|a| SocketAddr::new(a, port));
    let mut last = "no address".to_string();
    for a in addrs {
        match TcpStream::connect_timeout(&a, left(deadline)?) {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

fn http(host: &str, port: u16, path: &str, deadline: Instant) -> Result<String, String> {
    let mut s = connect(host, port, deadline)?;
    let host_header = if port == 80 {
        bracket(host)
    } else {
        format!("{}:{}", bracket(host), port)
    };
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: pidone-probe\r\nConnection: close\r\n\r\n",
        path, host_header
    );
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => "timed out".to_string(),
        _ => e.to_string(),
    };
    s.set_write_timeout(Some(left(deadline)?)).map_err(io)?;
    s.write_all(request.as_bytes()).map_err(io)?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < STATUS_LINE_MAX {
        s.set_read_timeout(Some(left(deadline)?)).map_err(io)?;
        match s.read(&mut chunk).map_err(io)? {
            0 => break,
            n => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
    let status = status(&buf).ok_or_else(|| "no HTTP status line in the reply".to_string())?;
    if (200..400).contains(&status) {
        Ok(format!("status {}", status))
    } else {
        Err(format!("status {}", status))
    }
}

/// The code of `HTTP/1.x NNN ...`.
fn status(reply: &[u8]) -> Option<u16> {
    let line = reply.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    words.next().filter(|v| v.starts_with("HTTP/"))?;
    let code = words.next()?;
    (code.len() == 3).then_some(())?;
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status(b"HTTP/1.1 200 OK\r\nX: y\r\n"), Some(200));
        assert_eq!(status(b"HTTP/1.0 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(status(b"HTTP/1.1 204"), Some(204));
        assert_eq!(status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status(b"HTTP/1.1 2000 x\r\n"), None);
        assert_eq!(status(b""), None);
        assert_eq!(addresses("LOCALHOST").unwrap().len(), 2);
        assert!(addresses("::1").is_ok() && addresses("db.example").is_err());
    }
}
