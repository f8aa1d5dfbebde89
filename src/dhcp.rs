//! A DHCPv4 client for one lease at start-up (RFC 2131, rapid commit RFC
//! 4039): DISCOVER, OFFER, REQUEST, ACK, or DISCOVER then ACK straight away
//! when the server does rapid commit.
//!
//! It speaks through a packet socket (AF_PACKET, SOCK_DGRAM) bound to the
//! interface, building the IPv4 and UDP headers itself: before the lease the
//! interface has no address, and a UDP socket would depend on reverse-path
//! filtering and on the server broadcasting its answers. There is no
//! renewal: the address is added as permanent (pidone has no timer thread),
//! so leases are best long or infinite; this is said in docs/network.md.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const BOOTREQUEST: u8 = 1;
const BOOTREPLY: u8 = 2;
const COOKIE: [u8; 4] = [99, 130, 83, 99];
const CLIENT_PORT: u16 = 68;
const SERVER_PORT: u16 = 67;

pub const DISCOVER: u8 = 1;
pub const OFFER: u8 = 2;
pub const REQUEST: u8 = 3;
pub const ACK: u8 = 5;
pub const NAK: u8 = 6;

const OPT_PAD: u8 = 0;
const OPT_SUBNET: u8 = 1;
const OPT_ROUTER: u8 = 3;
const OPT_DNS: u8 = 6;
const OPT_DOMAIN: u8 = 15;
const OPT_MTU: u8 = 26;
const OPT_REQUESTED_IP: u8 = 50;
const OPT_LEASE: u8 = 51;
const OPT_MSG_TYPE: u8 = 53;
const OPT_SERVER_ID: u8 = 54;
const OPT_PARAMS: u8 = 55;
const OPT_MAX_SIZE: u8 = 57;
const OPT_CLIENT_ID: u8 = 61;
const OPT_RAPID_COMMIT: u8 = 80;
const OPT_CLASSLESS_ROUTES: u8 = 121;
const OPT_END: u8 = 255;

/// What the lease gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub mtu: Option<u16>,
    pub server: Option<Ipv4Addr>,
    /// Seconds; None when the server did not say.
    pub lease_time: Option<u32>,
    /// Classless static routes (option 121): destination, prefix, router
    /// (0.0.0.0 = on the link). When present, RFC 3442 has the client use
    /// them instead of `routers`.
    pub routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
}

/// A server's answer, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: u8,
    pub rapid_commit: bool,
    pub lease: Lease,
}

/// The DHCP message of a client (BOOTP layout, then options).
pub fn build(
    kind: u8,
    xid: u32,
    mac: &[u8; 6],
    requested: Option<(Ipv4Addr, Option<Ipv4Addr>)>,
) -> Vec<u8> {
    let mut m = vec![0u8; 236];
    put(&mut m, 0, &[BOOTREQUEST, 1, 6]); // op, Ethernet, address length
    put(&mut m, 4, &xid.to_be_bytes());
    put(&mut m, 28, mac);
    m.extend_from_slice(&COOKIE);
    let mut opt = |code: u8, data: &[u8]| {
        m.push(code);
        m.push(data.len() as u8);
        m.extend_from_slice(data);
    };
    opt(OPT_MSG_TYPE, &[kind]);
    let mut id = vec![1u8];
    id.extend_from_slice(mac);
    opt(OPT_CLIENT_ID, &id);
    opt(OPT_MAX_SIZE, &1500u16.to_be_bytes());
    opt(
        OPT_PARAMS,
        &[
            OPT_SUBNET,
            OPT_CLASSLESS_ROUTES,
            OPT_ROUTER,
            OPT_DNS,
            OPT_DOMAIN,
            OPT_MTU,
            OPT_LEASE,
        ],
    );
    if kind == DISCOVER {
        opt(OPT_RAPID_COMMIT, &[]);
    }
    if let Some((ip, server)) = requested {
        opt(OPT_REQUESTED_IP, &ip.octets());
        if let Some(s) = server {
            opt(OPT_SERVER_ID, &s.octets());
        }
    }
    m.push(OPT_END);
    // Some old relays drop BOOTP messages shorter than 300 bytes.
    if m.len() < 300 {
        m.resize(300, OPT_PAD);
    }
    m
}

fn ipv4(d: &[u8]) -> Option<Ipv4Addr> {
    let a: [u8; 4] = d.get(..4)?.try_into().ok()?;
    Some(Ipv4Addr::from(a))
}

fn ipv4s(d: &[u8]) -> Vec<Ipv4Addr> {
    d.chunks_exact(4).filter_map(ipv4).collect()
}

use crate::values::mask_prefix;

/// Decode a server's reply to `xid`/`mac`; None when it is not one.
pub fn parse(m: &[u8], xid: u32, mac: &[u8; 6]) -> Option<Reply> {
    if *m.first()? != BOOTREPLY || m.get(4..8)? != xid.to_be_bytes() || m.get(28..34)? != mac {
        return None;
    }
    if m.get(236..240)? != COOKIE {
        return None;
    }
    let mut lease = Lease {
        addr: ipv4(m.get(16..20)?)?,
        prefix: 0,
        routers: Vec::new(),
        dns: Vec::new(),
        domain: None,
        mtu: None,
        server: None,
        lease_time: None,
        routes: Vec::new(),
    };
    let (mut kind, mut rapid, mut mask) = (0, false, None);
    let mut at = 240;
    while let Some(&code) = m.get(at) {
        match code {
            OPT_PAD => {
                at += 1;
                continue;
            }
            OPT_END => break,
            _ => {}
        }
        let len = *m.get(at + 1)? as usize;
        let d = m.get(at + 2..at + 2 + len)?;
        match code {
            OPT_MSG_TYPE => kind = *d.first()?,
            OPT_SUBNET => mask = ipv4(d),
            OPT_ROUTER => lease.routers = ipv4s(d),
            OPT_DNS => lease.dns = ipv4s(d),
            OPT_DOMAIN => {
                let s = String::from_utf8_lossy(d)
                    .trim_end_matches('\0')
                    .to_string();
                // A name that could break resolv.conf's syntax is dropped.
                if !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
                {
                    lease.domain = Some(s);
                }
            }
            OPT_MTU => {
                lease.mtu = d
                    .get(..2)
                    .and_then(|b| b.try_into().ok())
                    .map(u16::from_be_bytes)
                    .filter(|&v| v >= 68)
            }
            OPT_LEASE => {
                lease.lease_time = d
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes)
            }
            OPT_SERVER_ID => lease.server = ipv4(d),
            OPT_RAPID_COMMIT => rapid = true,
            OPT_CLASSLESS_ROUTES => lease.routes = classless_routes(d).unwrap_or_default(),
            _ => {}
        }
        at += 2 + len;
    }
    if kind == 0 {
        return None;
    }
    // Without a (valid) mask, the address's class decides, as RFC 2131
    // leaves to the client.
    lease.prefix = mask
        .and_then(mask_prefix)
        .unwrap_or(match lease.addr.octets()[0] {
            0..=127 => 8,
            128..=191 => 16,
            _ => 24,
        });
    Some(Reply {
        kind,
        rapid_commit: rapid,
        lease,
    })
}

/// Option 121: prefix length, the destination's significant octets, the
/// router. None (all ignored) when malformed, as RFC 3442 asks.
fn classless_routes(mut d: &[u8]) -> Option<Vec<(Ipv4Addr, u8, Ipv4Addr)>> {
    let mut out = Vec::new();
    while let Some((&prefix, rest)) = d.split_first() {
        if prefix > 32 {
            return None;
        }
        let n = usize::from(prefix).div_ceil(8);
        let mut dst = [0u8; 4];
        dst.get_mut(..n)?.copy_from_slice(rest.get(..n)?);
        let router = ipv4(rest.get(n..n + 4)?)?;
        out.push((Ipv4Addr::from(dst), prefix, router));
        d = rest.get(n + 4..)?;
    }
    Some(out)
}

fn checksum(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        let hi = c.first().copied().unwrap_or(0);
        let lo = c.get(1).copied().unwrap_or(0);
        sum += u32::from(u16::from_be_bytes([hi, lo]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// IPv4 + UDP around a client message: 0.0.0.0:68 -> 255.255.255.255:67.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0x10]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]); // id, frag, ttl, UDP, csum
    p.extend_from_slice(&[0, 0, 0, 0, 255, 255, 255, 255]);
    let ip_sum = checksum(&p, 0);
    put(&mut p, 10, &ip_sum.to_be_bytes());
    p.extend_from_slice(&CLIENT_PORT.to_be_bytes());
    p.extend_from_slice(&SERVER_PORT.to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    // Pseudo-header: source, destination, protocol, UDP length.
    let pseudo = 0xffff + 0xffff + 17 + udp_len as u32;
    let mut udp_sum = checksum(p.get(20..).unwrap_or_default(), pseudo);
    if udp_sum == 0 {
        udp_sum = 0xffff;
    }
    put(&mut p, 26, &udp_sum.to_be_bytes());
    p
}

/// Copy `data` into `buf` at `at` (buffers built here are long enough;
/// a short one is left as it is rather than a panic).
fn put(buf: &mut [u8], at: usize, data: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + data.len()) {
        dst.copy_from_slice(data);
    }
}

/// The UDP payload of an IPv4 packet sent to port 68; None otherwise.
pub fn unframe(p: &[u8]) -> Option<&[u8]> {
    let first = *p.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 || *p.get(9)? != 17 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*p.get(2)?, *p.get(3)?]));
    let ip = p.get(..total)?;
    let udp = ip.get(ihl..)?;
    if u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]) != CLIENT_PORT {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    udp.get(8..len)
}

fn transaction_id() -> u32 {
    let mut b = [0u8; 4];
    // SAFETY: getrandom into a 4-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 4, libc::GRND_NONBLOCK) };
    if n == 4 {
        u32::from_ne_bytes(b)
    } else {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        t.subsec_nanos() ^ std::process::id()
    }
}

/// Get a lease on the link `index` (already up) with hardware address
/// `mac`, within `timeout`. The error says what was (not) heard.
pub fn acquire(index: u32, mac: &[u8; 6], timeout: Duration) -> Result<Lease, String> {
    let sock = crate::sys::packet::Packet::open(index)
        .map_err(|e| format!("cannot open a packet socket: {}", e))?;
    let deadline = Instant::now() + timeout;
    let xid = transaction_id();
    let mut buf = vec![0u8; 2048];
    let mut offered: Option<Lease> = None;
    let mut heard_offer = false;
    let mut wait = Duration::from_millis(500);
    loop {
        // DISCOVER, or REQUEST for the offer in hand; retransmitted with a
        // doubling wait (RFC 2131 4.1), all within the one deadline.
        let msg = match &offered {
            None => build(DISCOVER, xid, mac, None),
            Some(l) => build(REQUEST, xid, mac, Some((l.addr, l.server))),
        };
        sock.send(&frame(&msg))
            .map_err(|e| format!("cannot send: {}", e))?;
        let round = (Instant::now() + wait).min(deadline);
        wait = (wait * 2).min(Duration::from_secs(4));
        loop {
            let n = match sock
                .recv(round, &mut buf)
                .map_err(|e| format!("cannot receive: {}", e))?
            {
                None => break,
                Some(n) => n,
            };
            let Some(reply) = buf
                .get(..n)
                .and_then(unframe)
                .and_then(|m| parse(m, xid, mac))
            else {
                continue;
            };
            match (reply.kind, &offered) {
                (OFFER, None) => {
                    heard_offer = true;
                    log::info!(
                        "dhcp: offer of {} from {}",
                        reply.lease.addr,
                        reply.lease.server.map_or("?".into(), |s| s.to_string())
                    );
                    offered = Some(reply.lease);
                    wait = Duration::from_millis(500);
                    break;
                }
                (ACK, None) if reply.rapid_commit => return Ok(reply.lease),
                (ACK, Some(o)) if reply.lease.addr == o.addr => return Ok(reply.lease),
                (NAK, Some(_)) => {
                    log::warn!("dhcp: request refused (NAK); discovering again");
                    offered = None;
                    break;
                }
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            return Err(if heard_offer {
                format!(
                    "no acknowledgement within {:?} (an offer came, the request was not answered)",
                    timeout
                )
            } else {
                format!("no DHCP server answered within {:?}", timeout)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 9];

    fn reply(kind: u8, xid: u32, opts: &[(u8, &[u8])]) -> Vec<u8> {
        let mut m = vec![0u8; 236];
        m[0] = BOOTREPLY;
        m[4..8].copy_from_slice(&xid.to_be_bytes());
        m[16..20].copy_from_slice(&[10, 9, 0, 50]);
        m[28..34].copy_from_slice(&MAC);
        m.extend_from_slice(&COOKIE);
        m.extend_from_slice(&[OPT_PAD, OPT_MSG_TYPE, 1, kind]);
        for (c, d) in opts {
            m.push(*c);
            m.push(d.len() as u8);
            m.extend_from_slice(d);
        }
        m.push(OPT_END);
        m
    }

    #[test]
    fn discover_asks_for_rapid_commit() {
        let m = build(DISCOVER, 0x01020304, &MAC, None);
        assert_eq!(m.len(), 300);
        assert_eq!(&m[..3], &[BOOTREQUEST, 1, 6]);
        assert_eq!(&m[4..8], &[1, 2, 3, 4]);
        assert_eq!(&m[28..34], &MAC);
        assert_eq!(&m[236..243], &[99, 130, 83, 99, OPT_MSG_TYPE, 1, DISCOVER]);
        assert!(m.windows(2).any(|w| w == [OPT_RAPID_COMMIT, 0]));
    }

    #[test]
    fn request_names_address_and_server() {
        let m = build(
            REQUEST,
            7,
            &MAC,
            Some((
                Ipv4Addr::new(10, 9, 0, 50),
                Some(Ipv4Addr::new(10, 9, 0, 1)),
            )),
        );
        assert!(m
            .windows(6)
            .any(|w| w == [OPT_REQUESTED_IP, 4, 10, 9, 0, 50]));
        assert!(m.windows(6).any(|w| w == [OPT_SERVER_ID, 4, 10, 9, 0, 1]));
        assert!(!m.windows(2).any(|w| w == [OPT_RAPID_COMMIT, 0]));
    }

    #[test]
    fn ack_with_everything() {
        let m = reply(
            ACK,
            7,
            &[
                (OPT_SUBNET, &[255, 255, 255, 0]),
                (OPT_ROUTER, &[10, 9, 0, 1]),
                (OPT_DNS, &[10, 9, 0, 2, 10, 9, 0, 3]),
                (OPT_DOMAIN, b"example.test"),
                (OPT_MTU, &1400u16.to_be_bytes()),
                (OPT_LEASE, &3600u32.to_be_bytes()),
                (OPT_SERVER_ID, &[10, 9, 0, 1]),
                (OPT_RAPID_COMMIT, &[]),
            ],
        );
        let r = parse(&m, 7, &MAC).unwrap();
        assert_eq!(r.kind, ACK);
        assert!(r.rapid_commit);
        let l = r.lease;
        assert_eq!((l.addr, l.prefix), (Ipv4Addr::new(10, 9, 0, 50), 24));
        assert_eq!(l.routers, vec![Ipv4Addr::new(10, 9, 0, 1)]);
        assert_eq!(
            l.dns,
            vec![Ipv4Addr::new(10, 9, 0, 2), Ipv4Addr::new(10, 9, 0, 3)]
        );
        assert_eq!(l.domain.as_deref(), Some("example.test"));
        assert_eq!((l.mtu, l.lease_time), (Some(1400), Some(3600)));
    }

    #[test]
    fn foreign_or_broken_replies_are_ignored() {
        let m = reply(OFFER, 7, &[]);
        assert!(parse(&m, 8, &MAC).is_none());
        assert!(parse(&m, 7, &[0; 6]).is_none());
        // No mask: class A default.
        assert_eq!(parse(&m, 7, &MAC).unwrap().lease.prefix, 8);
        for cut in 0..m.len() {
            let _ = parse(&m[..cut], 7, &MAC);
        }
        let mut bad = reply(OFFER, 7, &[(OPT_ROUTER, &[1, 2])]);
        bad.truncate(bad.len() - 2); // option runs past the end
        assert!(parse(&bad, 7, &MAC).is_none());
        let evil = reply(ACK, 7, &[(OPT_DOMAIN, b"x\nnameserver 6.6.6.6")]);
        assert_eq!(parse(&evil, 7, &MAC).unwrap().lease.domain, None);
    }

    #[test]
    fn classless_static_routes() {
        // 0/0 via 10.9.0.1; 10.20/16 via 10.9.0.254; 192.168.7.0/24 on-link.
        let d = [
            0, 10, 9, 0, 1, 16, 10, 20, 10, 9, 0, 254, 24, 192, 168, 7, 0, 0, 0, 0,
        ];
        let m = reply(ACK, 7, &[(OPT_CLASSLESS_ROUTES, &d)]);
        let r = parse(&m, 7, &MAC).unwrap().lease.routes;
        assert_eq!(
            r,
            vec![
                (Ipv4Addr::UNSPECIFIED, 0, Ipv4Addr::new(10, 9, 0, 1)),
                (
                    Ipv4Addr::new(10, 20, 0, 0),
                    16,
                    Ipv4Addr::new(10, 9, 0, 254)
                ),
                (Ipv4Addr::new(192, 168, 7, 0), 24, Ipv4Addr::UNSPECIFIED),
            ]
        );
        assert_eq!(classless_routes(&[33, 1, 2, 3, 4, 5, 6, 7, 8, 9]), None);
        assert_eq!(classless_routes(&[24, 10, 1]), None);
        assert_eq!(classless_routes(&[]), Some(vec![]));
    }

    #[test]
    fn masks() {
        assert_eq!(mask_prefix(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(mask_prefix(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(mask_prefix(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(mask_prefix(Ipv4Addr::new(255, 0, 255, 0)), None);
    }

    #[test]
    fn frame_round_trip() {
        let payload = build(DISCOVER, 1, &MAC, None);
        let p = frame(&payload);
        assert_eq!(p.len(), 28 + payload.len());
        // A correct IPv4 header sums to zero.
        assert_eq!(checksum(&p[..20], 0), 0);
        // The UDP checksum verifies against the pseudo-header.
        assert_eq!(
            checksum(&p[20..], 0xffff + 0xffff + 17 + (8 + payload.len()) as u32),
            0
        );
        // Our own packet goes to port 67, so it is not taken as a reply.
        assert!(unframe(&p).is_none());
        let mut to_client = p.clone();
        to_client[22..24].copy_from_slice(&CLIENT_PORT.to_be_bytes());
        assert_eq!(unframe(&to_client), Some(&payload[..]));
        for cut in 0..40 {
            assert!(unframe(&to_client[..cut]).is_none());
        }
    }
}
