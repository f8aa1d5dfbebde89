//! Interfaces, addresses and routes on Linux: rtnetlink (netlink.rs).

use super::netlink::{self, Socket, IFA_F_NODAD};
use crate::plan::Cidr;
use crate::sys::{Link, NetError, RouteSpec};

/// The loopback interface's name.
pub const LOOPBACK: &str = "lo";

/// What the stage opens, for its error line.
pub const SOCKET: &str = "netlink socket";

/// One rtnetlink socket, one request at a time.
pub struct Net {
    nl: Socket,
}

impl Net {
    pub fn open() -> std::io::Result<Net> {
        Ok(Net {
            nl: Socket::open()?,
        })
    }

    /// Make the interface known to IP: on Linux every link already is.
    pub fn attach(&mut self, _name: &str) -> Result<(), NetError> {
        Ok(())
    }

    /// Bring the link up (or leave its flags) and set its MTU if given.
    pub fn set_link(&mut self, index: u32, up: bool, mtu: Option<u32>) -> Result<(), NetError> {
        self.nl.call(netlink::set_link(index, up, mtu))
    }

    /// Add an address (IPv6 without duplicate address detection).
    pub fn add_addr(&mut self, index: u32, c: &Cidr) -> Result<(), NetError> {
        let flags = if c.addr.is_ipv6() { IFA_F_NODAD } else { 0 };
        self.nl.call(netlink::add_addr(index, c, flags))
    }

    pub fn add_route(&mut self, s: &RouteSpec) -> Result<(), NetError> {
        self.nl.call(netlink::add_route(s))
    }

    /// Every link with its hardware address.
    pub fn links(&mut self) -> Result<Vec<Link>, NetError> {
        self.nl.links()
    }
}

/// The fuzz target's entry (lib.rs only): decode a reply as the socket
/// would.
#[allow(dead_code)]
pub fn decode_reply(data: &[u8]) {
    for m in netlink::messages(data) {
        let _ = netlink::decode_ack(&m);
        let _ = netlink::decode_link(&m);
    }
}
