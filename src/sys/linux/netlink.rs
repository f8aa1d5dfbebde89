//! rtnetlink, hand-written: the few requests pidone needs (link up and MTU,
//! add an address, add a route, list links) over one synchronous socket.
//!
//! Written by hand rather than with a crate because it costs a few KB where
//! the netlink crates cost 176 KB to 800 KB of a 512 KiB budget (figures in
//! docs/design.md). Every request asks for an ACK; the kernel's
//! answer is an errno plus, with extended ACKs, a message of its own.
//!
//! Building and decoding are plain functions over byte buffers, so they are
//! unit-tested without a kernel; `Socket` only sends and receives.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::plan::Cidr;
/// The kernel's refusal (an errno and, when it gave one, its own words),
/// a link from a dump and a route to add: the seam's neutral records.
pub use crate::sys::{Link, NetError as NlError, RouteSpec};

// Message types and flags (linux/netlink.h, linux/rtnetlink.h).
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
/// On an error message: the request's payload was left out.
const NLM_F_CAPPED: u16 = 0x100;
/// On an error message: extended-ACK attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_NEWROUTE: u16 = 24;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
pub const IFA_F_NODAD: u32 = 0x02;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;

const RT_TABLE_MAIN: u8 = 254;
/// Routes pidone adds count as configured at boot, as `ip route` does.
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;
/// The gateway is reachable on the link even outside the link's subnets.
pub const RTNH_F_ONLINK: u32 = 4;

const SOL_NETLINK: i32 = 270;
const NETLINK_CAP_ACK: i32 = 10;
const NETLINK_EXT_ACK: i32 = 11;

const HDR: usize = 16;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

fn family(a: &IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

fn octets(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

/// One request, built in place: header, fixed part, attributes.
#[derive(Debug, Clone)]
pub struct Request {
    buf: Vec<u8>,
}

impl Request {
    fn new(kind: u16, flags: u16, fixed: &[u8]) -> Request {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; 4]); // length, set by `bytes`
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&[0; 8]); // sequence, port id
        let mut r = Request { buf };
        r.put(fixed);
        r
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.buf.resize(align(self.buf.len()), 0);
    }

    fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.put(data);
    }

    /// The finished message with its length and sequence number.
    pub fn bytes(&mut self, seq: u32) -> &[u8] {
        let len = self.buf.len() as u32;
        // The header is written first, so both fields are there.
        if let Some(h) = self.buf.get_mut(0..4) {
            h.copy_from_slice(&len.to_ne_bytes());
        }
        if let Some(h) = self.buf.get_mut(8..12) {
            h.copy_from_slice(&seq.to_ne_bytes());
        }
        &self.buf
    }
}

/// struct ifinfomsg: family, pad, type, index, flags, change.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

/// Set the MTU and/or bring the link up (nothing else changes).
pub fn set_link(index: u32, up: bool, mtu: Option<u32>) -> Request {
    let iff_up = libc::IFF_UP as u32;
    let (flags, change) = if up { (iff_up, iff_up) } else { (0, 0) };
    let mut r = Request::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(index, flags, change));
    if let Some(mtu) = mtu {
        r.attr(IFLA_MTU, &mtu.to_ne_bytes());
    }
    r
}

/// Add `cidr` to the link; `flags` are IFA_F_* (IFA_F_NODAD for IPv6).
pub fn add_addr(index: u32, cidr: &Cidr, flags: u32) -> Request {
    // struct ifaddrmsg: family, prefixlen, flags (8 bits), scope, index.
    let mut m = [family(&cidr.addr), cidr.prefix, 0, 0, 0, 0, 0, 0];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut r = Request::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &m);
    let a = octets(&cidr.addr);
    r.attr(IFA_LOCAL, &a);
    r.attr(IFA_ADDRESS, &a);
    if flags != 0 {
        r.attr(IFA_FLAGS, &flags.to_ne_bytes());
    }
    r
}

pub fn add_route(s: &RouteSpec) -> Request {
    let scope = if s.gateway.is_some() {
        RT_SCOPE_UNIVERSE
    } else {
        RT_SCOPE_LINK
    };
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope,
    // type, flags (32 bits).
    let mut m = [
        family(&s.dst.addr),
        s.dst.prefix,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        scope,
        RTN_UNICAST,
        0,
        0,
        0,
        0,
    ];
    let flags = if s.onlink { RTNH_F_ONLINK } else { 0 };
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    let mut r = Request::new(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &m);
    if s.dst.prefix > 0 {
        r.attr(RTA_DST, &octets(&s.dst.addr));
    }
    if let Some(gw) = &s.gateway {
        r.attr(RTA_GATEWAY, &octets(gw));
    }
    if let Some(oif) = s.oif {
        r.attr(RTA_OIF, &oif.to_ne_bytes());
    }
    r
}

/// Dump every link.
pub fn get_links() -> Request {
    Request::new(RTM_GETLINK, NLM_F_DUMP, &ifinfomsg(0, 0, 0))
}

/// One message of a reply buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_ne_bytes)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_ne_bytes)
}

/// Split a received buffer into messages; stops at the first malformed one.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = u32_at(buf, at)? as usize;
        let m = Message {
            kind: u16_at(buf, at + 4)?,
            flags: u16_at(buf, at + 6)?,
            seq: u32_at(buf, at + 8)?,
            payload: buf.get(at + HDR..at.checked_add(len)?)?,
        };
        if len < HDR {
            return None;
        }
        at += align(len);
        Some(m)
    })
}

/// Attributes (type, data) of a payload from `start` on.
pub fn attrs(payload: &[u8], start: usize) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = start;
    std::iter::from_fn(move || {
        let len = u16_at(payload, at)? as usize;
        let kind = u16_at(payload, at + 2)? & 0x3fff; // without NLA_F_NESTED etc.
        if len < 4 {
            return None;
        }
        let data = payload.get(at + 4..at + len)?;
        at += align(len);
        Some((kind, data))
    })
}

/// Decode an NLMSG_ERROR payload: Ok for an ACK, the error otherwise.
pub fn decode_ack(m: &Message) -> Result<(), NlError> {
    let code = u32_at(m.payload, 0).map_or(-libc::EIO, |c| c as i32);
    if code == 0 {
        return Ok(());
    }
    // errno, then the request's header (and its payload unless capped),
    // then extended-ACK attributes.
    let request_len = u32_at(m.payload, 4).unwrap_or(HDR as u32) as usize;
    let tlv_start = 4 + if m.flags & NLM_F_CAPPED != 0 {
        HDR
    } else {
        align(request_len)
    };
    let message = if m.flags & NLM_F_ACK_TLVS != 0 {
        attrs(m.payload, tlv_start)
            .find(|(k, _)| *k == NLMSGERR_ATTR_MSG)
            .map(|(_, d)| {
                String::from_utf8_lossy(d.split(|&b| b == 0).next().unwrap_or(d)).into_owned()
            })
            .filter(|s| !s.is_empty())
    } else {
        None
    };
    Err(NlError {
        errno: code.checked_neg().unwrap_or(libc::EIO),
        message,
    })
}

/// Decode an RTM_NEWLINK message of a dump.
pub fn decode_link(m: &Message) -> Option<Link> {
    let index = u32_at(m.payload, 4)?;
    let mut link = Link {
        index,
        name: String::new(),
        mac: None,
    };
    for (kind, data) in attrs(m.payload, 16) {
        match kind {
            IFLA_IFNAME => {
                link.name = String::from_utf8_lossy(data.split(|&b| b == 0).next().unwrap_or(data))
                    .into_owned()
            }
            IFLA_ADDRESS => link.mac = data.try_into().ok(),
            _ => {}
        }
    }
    Some(link)
}

/// A NETLINK_ROUTE socket, one request at a time.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Socket {
    pub fn open() -> std::io::Result<Socket> {
        // SAFETY: plain socket(2); the descriptor is owned from here on.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // The kernel's own error text, and ACKs without our request echoed.
        // Both are optional (older kernels), so failures are ignored.
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            let one: libc::c_int = 1;
            // SAFETY: setsockopt with a valid int option.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    opt,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        Ok(Socket {
            fd,
            seq: 0,
            buf: vec![0; 32 * 1024],
        })
    }

    fn send(&mut self, req: &mut Request) -> Result<u32, NlError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = req.bytes(seq);
        // SAFETY: sockaddr_nl zeroed is the kernel as destination.
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: valid buffer and address for the call.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    0,
                    (&to as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                return Ok(seq);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(NlError::io(e));
            }
        }
    }

    fn recv(&mut self) -> Result<usize, NlError> {
        loop {
            // SAFETY: reading into our own buffer of its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(NlError::io(e));
            }
        }
    }

    /// Send a request and wait for its ACK or error.
    pub fn call(&mut self, mut req: Request) -> Result<(), NlError> {
        let seq = self.send(&mut req)?;
        loop {
            let n = self.recv()?;
            let buf = self.buf.get(..n).unwrap_or(&[]);
            for m in messages(buf) {
                if m.seq == seq && m.kind == NLMSG_ERROR {
                    return decode_ack(&m);
                }
            }
        }
    }

    /// Every link the kernel knows of.
    pub fn links(&mut self) -> Result<Vec<Link>, NlError> {
        let seq = self.send(&mut get_links())?;
        let mut links = Vec::new();
        loop {
            let n = self.recv()?;
            let buf = self.buf.get(..n).unwrap_or(&[]);
            for m in messages(buf).filter(|m| m.seq == seq) {
                match m.kind {
                    NLMSG_DONE => return Ok(links),
                    NLMSG_ERROR => {
                        decode_ack(&m)?;
                        return Ok(links);
                    }
                    RTM_NEWLINK => links.extend(decode_link(&m)),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn cidr(s: &str, prefix: u8) -> Cidr {
        Cidr {
            addr: s.parse().unwrap(),
            prefix,
        }
    }

    fn header(b: &[u8]) -> (u32, u16, u16, u32) {
        (
            u32_at(b, 0).unwrap(),
            u16_at(b, 4).unwrap(),
            u16_at(b, 6).unwrap(),
            u32_at(b, 8).unwrap(),
        )
    }

    #[test]
    fn link_up_with_mtu() {
        let mut r = set_link(7, true, Some(1400));
        let b = r.bytes(42).to_vec();
        assert_eq!(header(&b), (40, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 42));
        assert_eq!(u32_at(&b, 20), Some(7)); // index
        assert_eq!(u32_at(&b, 24), Some(libc::IFF_UP as u32)); // flags
        assert_eq!(u32_at(&b, 28), Some(libc::IFF_UP as u32)); // change
        assert_eq!(&b[32..36], &[8, 0, IFLA_MTU as u8, 0]);
        assert_eq!(u32_at(&b, 36), Some(1400));
    }

    #[test]
    fn mtu_alone_leaves_flags() {
        let b = set_link(3, false, Some(9000)).bytes(1).to_vec();
        assert_eq!((u32_at(&b, 24), u32_at(&b, 28)), (Some(0), Some(0)));
    }

    #[test]
    fn ipv4_address() {
        let b = add_addr(2, &cidr("10.1.2.3", 24), 0).bytes(5).to_vec();
        assert_eq!(
            header(&b),
            (
                40,
                RTM_NEWADDR,
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                5
            )
        );
        assert_eq!(&b[16..20], &[libc::AF_INET as u8, 24, 0, 0]);
        assert_eq!(u32_at(&b, 20), Some(2));
        assert_eq!(&b[24..32], &[8, 0, IFA_LOCAL as u8, 0, 10, 1, 2, 3]);
        assert_eq!(&b[32..40], &[8, 0, IFA_ADDRESS as u8, 0, 10, 1, 2, 3]);
    }

    #[test]
    fn ipv6_address_without_dad() {
        let b = add_addr(4, &cidr("fd00::2", 64), IFA_F_NODAD)
            .bytes(6)
            .to_vec();
        assert_eq!(b.len(), 16 + 8 + 20 + 20 + 8);
        assert_eq!(&b[16..18], &[libc::AF_INET6 as u8, 64]);
        assert_eq!(&b[24..28], &[20, 0, IFA_LOCAL as u8, 0]);
        assert_eq!(&b[28..44], &"fd00::2".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(&b[64..68], &[8, 0, IFA_FLAGS as u8, 0]);
        assert_eq!(u32_at(&b, 68), Some(IFA_F_NODAD));
    }

    #[test]
    fn default_route_via_gateway() {
        let s = RouteSpec {
            dst: cidr("0.0.0.0", 0),
            gateway: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            oif: Some(3),
            onlink: true,
        };
        let b = add_route(&s).bytes(9).to_vec();
        assert_eq!(header(&b).1, RTM_NEWROUTE);
        assert_eq!(
            &b[16..24],
            &[
                libc::AF_INET as u8,
                0,
                0,
                0,
                RT_TABLE_MAIN,
                RTPROT_BOOT,
                RT_SCOPE_UNIVERSE,
                RTN_UNICAST
            ]
        );
        assert_eq!(u32_at(&b, 24), Some(RTNH_F_ONLINK));
        // No RTA_DST for a default route.
        let a: Vec<_> = attrs(&b, 28).collect();
        assert_eq!(
            a,
            vec![
                (RTA_GATEWAY, &[10u8, 0, 0, 1][..]),
                (RTA_OIF, &3u32.to_ne_bytes()[..])
            ]
        );
        assert_eq!(header(&b).0 as usize, b.len());
    }

    #[test]
    fn on_link_route_has_link_scope() {
        let s = RouteSpec {
            dst: cidr("192.168.7.0", 24),
            gateway: None,
            oif: Some(2),
            onlink: false,
        };
        let b = add_route(&s).bytes(1).to_vec();
        assert_eq!(b[22], RT_SCOPE_LINK);
        let a: Vec<_> = attrs(&b, 28).collect();
        assert_eq!(a[0], (RTA_DST, &[192u8, 168, 7, 0][..]));
        assert_eq!(a.len(), 2);
    }

    fn error_msg(errno: i32, flags: u16, tail: &[u8]) -> Vec<u8> {
        let mut p = (-errno).to_ne_bytes().to_vec();
        let mut req = add_addr(1, &cidr("10.0.0.1", 8), 0);
        p.extend_from_slice(&req.bytes(3)[..HDR]);
        p.extend_from_slice(tail);
        let mut b = ((HDR + p.len()) as u32).to_ne_bytes().to_vec();
        b.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&3u32.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&p);
        b
    }

    #[test]
    fn ack_and_errors() {
        let ack = error_msg(0, NLM_F_CAPPED, &[]);
        let m = messages(&ack).next().unwrap();
        assert_eq!((m.kind, m.seq), (NLMSG_ERROR, 3));
        assert_eq!(decode_ack(&m), Ok(()));

        let exists = error_msg(libc::EEXIST, NLM_F_CAPPED, &[]);
        let e = decode_ack(&messages(&exists).next().unwrap()).unwrap_err();
        assert!(e.exists());
        assert_eq!(e.message, None);

        // Extended ACK: a message attribute after the capped request header.
        let text = b"Nexthop has invalid gateway\0";
        let mut tlv = ((4 + text.len()) as u16).to_ne_bytes().to_vec();
        tlv.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        tlv.extend_from_slice(text);
        tlv.resize(align(tlv.len()), 0);
        let ext = error_msg(libc::ENETUNREACH, NLM_F_CAPPED | NLM_F_ACK_TLVS, &tlv);
        let e = decode_ack(&messages(&ext).next().unwrap()).unwrap_err();
        assert_eq!(e.errno, libc::ENETUNREACH);
        assert_eq!(e.message.as_deref(), Some("Nexthop has invalid gateway"));
        assert!(e.to_string().contains("Nexthop has invalid gateway"));
    }

    #[test]
    fn malformed_replies_do_not_panic() {
        assert_eq!(messages(&[]).count(), 0);
        assert_eq!(messages(&[1, 0, 0, 0, 2, 0]).count(), 0);
        assert_eq!(
            messages(&[8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).count(),
            0
        ); // len < header
        assert_eq!(
            messages(&[255, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).count(),
            0
        ); // len > buffer
        let short = Message {
            kind: NLMSG_ERROR,
            flags: NLM_F_ACK_TLVS,
            seq: 0,
            payload: &[0xf0, 0xff, 0xff, 0xff, 200, 0],
        };
        assert!(decode_ack(&short).is_err());
        assert_eq!(attrs(&[2, 0, 1, 0], 0).count(), 0);
        assert!(decode_link(&Message {
            payload: &[0; 3],
            ..short
        })
        .is_none());
    }

    #[test]
    fn link_from_dump() {
        let mut r = Request::new(RTM_NEWLINK, 0x2, &ifinfomsg(9, 0, 0));
        r.attr(IFLA_IFNAME, b"eth1\0");
        r.attr(IFLA_MTU, &1500u32.to_ne_bytes());
        r.attr(IFLA_ADDRESS, &[2, 0, 0, 0, 0, 0x2a]);
        let mut two = r.bytes(8).to_vec();
        two.extend_from_slice(&two.clone());
        let all: Vec<_> = messages(&two).collect();
        assert_eq!(all.len(), 2);
        let l = decode_link(&all[1]).unwrap();
        assert_eq!(
            l,
            Link {
                index: 9,
                name: "eth1".into(),
                mac: Some([2, 0, 0, 0, 0, 0x2a]),
            }
        );
    }
}
