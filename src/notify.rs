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
//! passed on; the kernel closes them.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use crate::launch::Launch;

/// systemd reads at most this much of one notification.
const MESSAGE_MAX: usize = 4096;

pub struct Proxy {
    sock: OwnedFd,
    /// Our own address, as `@name` for the command's NOTIFY_SOCKET.
    name: Vec<u8>,
    upstream: libc::sockaddr_un,
    upstream_len: libc::socklen_t,
}

/// `/path` or `@abstract` as a unix socket address.
fn address(spec: &[u8]) -> Option<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: a zeroed sockaddr_un is valid.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let (bytes, extra) = match spec.strip_prefix(b"@") {
        Some(name) => (name, 1),
        None if spec.starts_with(b"/") => (spec, 1),
        None => return None,
    };
    if bytes.len() + 1 > a.sun_path.len() || bytes.contains(&0) {
        return None;
    }
    // An abstract name starts with a NUL; a path ends with one.
    let start = usize::from(spec.starts_with(b"@"));
    for (slot, &b) in a.sun_path.iter_mut().skip(start).zip(bytes) {
        *slot = b as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + extra;
    Some((a, len as libc::socklen_t))
}

impl Proxy {
    /// The relay to `upstream`; None (a warning: the command then gets
    /// the variable as it was) when it cannot be made.
    pub fn open(upstream: &OsStr) -> Option<Proxy> {
        let Some((upstream, upstream_len)) = address(upstream.as_bytes()) else {
            log::warn!("notify: NOTIFY_SOCKET is neither /path nor @name; handed on as it is");
            return None;
        };
        let made = Self::bind().map(|(sock, name)| Proxy {
            sock,
            name,
            upstream,
            upstream_len,
        });
        if made.is_none() {
            log::warn!(
                "notify: no relay socket ({}); NOTIFY_SOCKET handed on as it is",
                std::io::Error::last_os_error()
            );
        }
        made
    }

    /// A datagram socket with a name the kernel chooses (autobind: only
    /// the family given), that receives its senders' credentials.
    fn bind() -> Option<(OwnedFd, Vec<u8>)> {
        // SAFETY: plain arguments.
        let raw = unsafe {
            libc::socket(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if raw < 0 {
            return None;
        }
        // SAFETY: a descriptor just made.
        let sock = unsafe { OwnedFd::from_raw_fd(raw) };
        let fd = sock.as_raw_fd();
        let family = libc::AF_UNIX as libc::sa_family_t;
        let one: libc::c_int = 1;
        // SAFETY: valid pointers and sizes.
        let ok = unsafe {
            libc::bind(
                fd,
                (&family as *const libc::sa_family_t).cast(),
                std::mem::size_of::<libc::sa_family_t>() as libc::socklen_t,
            ) == 0
                && libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_PASSCRED,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                ) == 0
        };
        // SAFETY: a zeroed sockaddr_un is valid; getsockname fills it.
        let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: valid out-pointers.
        let named = ok
            && unsafe {
                libc::getsockname(fd, (&mut a as *mut libc::sockaddr_un).cast(), &mut len)
            } == 0;
        if !named {
            return None;
        }
        // The abstract name: after the family and the leading NUL.
        let n = (len as usize).checked_sub(std::mem::size_of::<libc::sa_family_t>() + 1)?;
        let mut name = b"@".to_vec();
        name.extend(a.sun_path.iter().skip(1).take(n).map(|&c| c as u8));
        Some((sock, name))
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
        // Room for the credentials only: descriptors sent along do not fit
        // and the kernel closes them.
        let mut control = [0u64; 8];
        loop {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: a zeroed msghdr is valid; the pointers set below
            // stay valid for the call.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control) as _;
            // SAFETY: msg describes valid buffers.
            let n = unsafe {
                libc::recvmsg(
                    self.sock.as_raw_fd(),
                    &mut msg,
                    libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                return;
            }
            let n = n as usize;
            let pid = sender(&msg);
            if n > buf.len() {
                log::warn!(
                    "notify: a message of {} bytes dropped (at most {})",
                    n,
                    buf.len()
                );
                continue;
            }
            // A sender outside pidone's pid namespace shows as pid 0 (or
            // none): not the command's.
            let Some(pid) = pid.filter(|&p| p > 0) else {
                log::warn!("notify: a message from outside this pid namespace dropped");
                continue;
            };
            let message = filtered(buf.get(..n).unwrap_or_default());
            if message.is_empty() {
                continue;
            }
            log::debug!("notify: relaying {} bytes from pid {}", message.len(), pid);
            // SAFETY: valid buffer and address.
            let sent = unsafe {
                libc::sendto(
                    self.sock.as_raw_fd(),
                    message.as_ptr().cast(),
                    message.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    (&self.upstream as *const libc::sockaddr_un).cast(),
                    self.upstream_len,
                )
            };
            if sent < 0 {
                log::warn!(
                    "notify: cannot pass a message on: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

/// The sender's pid from SCM_CREDENTIALS.
fn sender(msg: &libc::msghdr) -> Option<i32> {
    // SAFETY: walking the control messages the kernel wrote into the
    // buffer msg points to.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS {
                let cred = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::ucred>());
                return Some(cred.pid);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
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
    fn mainpid_dropped_and_addresses() {
        assert_eq!(
            filtered(b"READY=1\nMAINPID=7\nSTATUS=up\n"),
            b"READY=1\nSTATUS=up"
        );
        assert!(filtered(b"MAINPID=7").is_empty());
        let (a, len) = address(b"/run/notify/notify.sock").unwrap();
        assert_eq!(len as usize, 2 + 23 + 1);
        assert_eq!(a.sun_path[0], b'/' as libc::c_char);
        let (a, len) = address(b"@abc").unwrap();
        assert_eq!(len as usize, 2 + 1 + 3);
        assert_eq!((a.sun_path[0], a.sun_path[1]), (0, b'a' as libc::c_char));
        assert!(address(b"relative").is_none());
        assert!(address(&[b'/'; 200]).is_none());
    }
}
