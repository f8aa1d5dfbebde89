//! The DHCP client's socket on Linux: AF_PACKET datagrams on one link,
//! so it works before the link has an address.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

/// DHCP can be asked for here.
pub const SUPPORTED: bool = true;

/// A packet socket bound to one link, for IPv4 frames.
pub struct Packet {
    fd: OwnedFd,
    index: i32,
}

impl Packet {
    pub fn open(index: u32) -> std::io::Result<Packet> {
        let proto = (libc::ETH_P_IP as u16).to_be();
        // SAFETY: plain socket(2).
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                i32::from(proto),
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let p = Packet {
            fd,
            index: index as i32,
        };
        let addr = p.addr(proto);
        // SAFETY: binding to a valid sockaddr_ll.
        let r = unsafe {
            libc::bind(
                p.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(p)
    }

    fn addr(&self, proto: u16) -> libc::sockaddr_ll {
        // SAFETY: sockaddr_ll is plain data; zero is a valid start.
        let mut a: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        a.sll_family = libc::AF_PACKET as u16;
        a.sll_protocol = proto;
        a.sll_ifindex = self.index;
        a.sll_halen = 6;
        a.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        a
    }

    /// Send one frame (IPv4 header on: `dhcp::frame`) to the broadcast address.
    pub fn send(&self, p: &[u8]) -> std::io::Result<()> {
        let to = self.addr((libc::ETH_P_IP as u16).to_be());
        // SAFETY: valid buffer and address.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                p.as_ptr().cast(),
                p.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Wait until `until` for one packet; None on time-out.
    pub fn recv(&self, until: Instant, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            0 => return Ok(None),
            r if r < 0 => {
                let e = std::io::Error::last_os_error();
                return if e.kind() == std::io::ErrorKind::Interrupted {
                    Ok(Some(0))
                } else {
                    Err(e)
                };
            }
            _ => {}
        }
        // SAFETY: reading into our buffer; non-blocking so a vanished
        // packet cannot hang us.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        Ok(Some(n.max(0) as usize))
    }
}
