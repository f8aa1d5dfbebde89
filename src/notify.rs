//! Readiness pass-through (`NOTIFY_SOCKET`, systemd's sd_notify protocol,
//! as podman's `--sdnotify=container` and systemd's `Type=notify` give
//! it): the command gets a socket of pidone's own in its `NOTIFY_SOCKET`
//! (an abstract name the kernel picks, so nothing is made in the image's
//! file system), and pidone relays each datagram to the socket it was
//! given, from itself. So the sender the receiver sees is the main pid it
//! started (systemd's default `NotifyAccess=main` takes only that), and
//! `MAINPID=` lines are dropped: a pid of pidone's namespace means nothing
//! to the receiver, and pidone stays the main process (podman sets
//! conmon's pid itself). Descriptors sent along (`FDSTORE=1`) are not
//! passed on; the kernel closes them. The sockets are `sys::notify`'s.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use crate::launch::Launch;
use crate::sys::notify as socket;

/// systemd reads at most this much of one notification.
const MESSAGE_MAX: usize = 4096;

pub struct Proxy {
    sock: OwnedFd,
    /// Our own address, as `@name` for the command's NOTIFY_SOCKET.
    name: Vec<u8>,
    /// Where the notifications go: `/path` or `@name`.
    upstream: Vec<u8>,
}

impl Proxy {
    /// The relay to `upstream`; None (a warning: the command then gets
    /// the variable as it was) when it cannot be made.
    pub fn open(upstream: &OsStr) -> Option<Proxy> {
        let upstream = upstream.as_bytes().to_vec();
        if !socket::valid(&upstream) {
            log::warn!("notify: NOTIFY_SOCKET is neither /path nor @name; handed on as it is");
            return None;
        }
        let Some((sock, name)) = socket::bind() else {
            log::warn!(
                "notify: no relay socket ({}); NOTIFY_SOCKET handed on as it is",
                std::io::Error::last_os_error()
            );
            return None;
        };
        Some(Proxy {
            sock,
            name,
            upstream,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// The command's launch with its NOTIFY_SOCKET set to the relay.
    pub fn launch(&self, launch: &Launch) -> Launch {
        let mut l = launch.clone();
        l.env
            .retain(|e| !e.as_bytes().starts_with(b"NOTIFY_SOCKET="));
        let mut entry = b"NOTIFY_SOCKET=".to_vec();
        entry.extend_from_slice(&self.name);
        if let Ok(c) = std::ffi::CString::new(entry) {
            l.env.push(c);
        }
        l
    }

    /// Relay every datagram waiting.
    pub fn relay(&self) {
        let mut buf = [0u8; MESSAGE_MAX];
        while let Some((n, pid)) = socket::recv(self.sock.as_raw_fd(), &mut buf) {
            if n > buf.len() {
                log::warn!(
                    "notify: a message of {} bytes dropped (at most {})",
                    n,
                    buf.len()
                );
                continue;
            }
            // A sender outside pidone's pid namespace shows as pid 0: not
            // the command's (another container sharing the network
            // namespace can reach an abstract name).
            if pid <= 0 {
                log::warn!("notify: a message from outside this pid namespace dropped");
                continue;
            }
            let message = filtered(buf.get(..n).unwrap_or_default());
            if message.is_empty() {
                continue;
            }
            log::debug!("notify: relaying {} bytes from pid {}", message.len(), pid);
            if let Err(e) = socket::send(self.sock.as_raw_fd(), &self.upstream, &message) {
                log::warn!("notify: cannot pass a message on: {}", e);
            }
        }
    }
}

/// The message without its `MAINPID=` lines.
fn filtered(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len());
    for line in m.split(|&b| b == b'\n') {
        if line.is_empty() || line.starts_with(b"MAINPID=") {
            continue;
        }
        if !out.is_empty() {
            out.push(b'\n');
        }
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainpid_dropped() {
        assert_eq!(
            filtered(b"READY=1\nMAINPID=7\nSTATUS=up\n"),
            b"READY=1\nSTATUS=up"
        );
        assert!(filtered(b"MAINPID=7").is_empty());
    }
}
