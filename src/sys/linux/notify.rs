//! The sockets of the readiness relay (notify.rs holds the logic): one
//! with a name the kernel picks in the abstract namespace that receives
//! its senders' credentials, and sends to `/path` or `@name`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `/path` or `@abstract` as a unix socket address.
fn address(spec: &[u8]) -> Option<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: a zeroed sockaddr_un is valid.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    // An abstract name starts with a NUL (in place of the `@`); a path
    // ends with one: either way one byte more than the text.
    let (bytes, start) = match spec.strip_prefix(b"@") {
        Some(name) => (name, 1),
        None if spec.starts_with(b"/") => (spec, 0),
        None => return None,
    };
    if bytes.len() + 1 > a.sun_path.len() || bytes.contains(&0) {
        return None;
    }
    for (slot, &b) in a.sun_path.iter_mut().skip(start).zip(bytes) {
        *slot = b as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Some((a, len as libc::socklen_t))
}

/// Whether `spec` is an address `send` can use.
pub fn valid(spec: &[u8]) -> bool {
    address(spec).is_some()
}

/// A datagram socket with a name the kernel chooses (autobind: only the
/// family given), receiving its senders' credentials; and that name as
/// `@name`.
pub fn bind() -> Option<(OwnedFd, Vec<u8>)> {
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
        && unsafe { libc::getsockname(fd, (&mut a as *mut libc::sockaddr_un).cast(), &mut len) }
            == 0;
    if !named {
        return None;
    }
    // The abstract name: after the family and the leading NUL.
    let n = (len as usize).checked_sub(std::mem::size_of::<libc::sa_family_t>() + 1)?;
    let mut name = b"@".to_vec();
    name.extend(a.sun_path.iter().skip(1).take(n).map(|&c| c as u8));
    Some((sock, name))
}

/// One datagram: its full length (more than `buf` when cut) and the
/// sender's pid (0 when it is not in this pid namespace or not known).
/// None when nothing is waiting. Descriptors sent along do not fit the
/// control buffer and the kernel closes them.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> Option<(usize, i32)> {
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; the pointers set below stay valid
    // for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg describes valid buffers.
    let n = unsafe {
        libc::recvmsg(
            fd,
            &mut msg,
            libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC | libc::MSG_TRUNC,
        )
    };
    if n < 0 {
        return None;
    }
    let mut pid = 0;
    // SAFETY: walking the control messages the kernel wrote into the
    // buffer msg points to.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS {
                pid = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::ucred>()).pid;
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some((n as usize, pid))
}

/// Send `msg` from `fd` to `to` (`/path` or `@name`), never blocking.
pub fn send(fd: RawFd, to: &[u8], msg: &[u8]) -> std::io::Result<()> {
    let (a, len) = address(to).ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: valid buffer and address.
    let r = unsafe {
        libc::sendto(
            fd,
            msg.as_ptr().cast(),
            msg.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            (&a as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let (a, len) = address(b"/run/notify/notify.sock").unwrap();
        assert_eq!(len as usize, 2 + 23 + 1);
        assert_eq!(a.sun_path[0], b'/' as libc::c_char);
        let (a, len) = address(b"@abc").unwrap();
        assert_eq!(len as usize, 2 + 1 + 3);
        assert_eq!((a.sun_path[0], a.sun_path[1]), (0, b'a' as libc::c_char));
        assert!(!valid(b"relative"));
        assert!(!valid(&[b'/'; 200]));
    }
}
