//! illumos' structure layouts, ioctl numbers and routing messages as
//! plain bytes, for x86_64 (LP64, little-endian). Pure functions, so this
//! module is compiled on every OS and its unit tests run on Linux too:
//! what the illumos build does with the kernel is checked by its layouts
//! here, never run. Layouts and numbers are those of illumos' headers
//! (sys/ioccom.h, sys/sockio.h, net/if.h, net/route.h, sys/procfs.h,
//! sys/socket_impl.h, netinet/in.h, net/if_dl.h, sys/zone.h).
// On Linux only the tests use it.
#![cfg_attr(not(target_os = "illumos"), allow(dead_code))]

use std::net::IpAddr;

use crate::plan::Cidr;

// ---- address families (sys/socket_impl.h) -------------------------------

pub const AF_INET: u16 = 2;
pub const AF_LINK: u16 = 25;
pub const AF_INET6: u16 = 26;

// ---- ioctl numbers (sys/ioccom.h, sys/sockio.h) --------------------------

/// Parameters are copied in (`_IOW`) and out (`_IOR`); both for `_IOWR`.
const IOC_OUT: u32 = 0x4000_0000;
const IOC_IN: u32 = 0x8000_0000;
/// Only the low 8 bits of the parameter's size are encoded.
const IOCPARM_MASK: u32 = 0xff;

const fn ioc(dir: u32, group: u8, num: u8, size: usize) -> i32 {
    (dir | ((size as u32 & IOCPARM_MASK) << 16) | ((group as u32) << 8) | num as u32) as i32
}

/// `struct lifreq`: a 32-byte name, two 4-byte words, then a union of
/// 336 bytes (its largest member, `struct lif_nd_req`: a 256-byte
/// sockaddr_storage, 3 bytes and padding, three ints, 64 bytes).
pub const LIFREQ_SIZE: usize = 376;
/// Where `lifr_addr`, `lifr_flags` and `lifr_mtu` begin (8-aligned).
const LIFRU: usize = 40;
pub const LIFNAMSIZ: usize = 32;

pub const SIOCLIFADDIF: i32 = ioc(IOC_IN | IOC_OUT, b'i', 111, LIFREQ_SIZE);
pub const SIOCSLIFADDR: i32 = ioc(IOC_IN, b'i', 112, LIFREQ_SIZE);
pub const SIOCGLIFADDR: i32 = ioc(IOC_IN | IOC_OUT, b'i', 113, LIFREQ_SIZE);
pub const SIOCSLIFFLAGS: i32 = ioc(IOC_IN, b'i', 116, LIFREQ_SIZE);
pub const SIOCGLIFFLAGS: i32 = ioc(IOC_IN | IOC_OUT, b'i', 117, LIFREQ_SIZE);
pub const SIOCSLIFMTU: i32 = ioc(IOC_IN, b'i', 121, LIFREQ_SIZE);
pub const SIOCSLIFNETMASK: i32 = ioc(IOC_IN, b'i', 126, LIFREQ_SIZE);

/// `IFF_UP` of `lifr_flags` (net/if.h).
pub const IFF_UP: u64 = 0x1;

/// A `struct lifreq` naming `name` (at most 31 bytes; the kernel wants
/// the last byte NUL). None for a longer name or one with a NUL.
pub fn lifreq(name: &str) -> Option<[u8; LIFREQ_SIZE]> {
    let b = name.as_bytes();
    if b.len() >= LIFNAMSIZ || b.contains(&0) {
        return None;
    }
    let mut r = [0u8; LIFREQ_SIZE];
    r.get_mut(..b.len())?.copy_from_slice(b);
    Some(r)
}

/// The name the kernel wrote back (SIOCLIFADDIF names the new logical
/// interface, `net0:1`).
pub fn lifreq_name(r: &[u8; LIFREQ_SIZE]) -> String {
    let name = r.get(..LIFNAMSIZ).unwrap_or(&[]);
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    String::from_utf8_lossy(name.get(..end).unwrap_or(&[])).into_owned()
}

/// A `sockaddr_in` (16 bytes) or `sockaddr_in6` (32 bytes) for `a`.
pub fn sockaddr(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v4) => {
            let mut s = vec![0u8; 16];
            put(&mut s, 0, &AF_INET.to_le_bytes());
            put(&mut s, 4, &v4.octets());
            s
        }
        IpAddr::V6(v6) => {
            let mut s = vec![0u8; 32];
            put(&mut s, 0, &AF_INET6.to_le_bytes());
            put(&mut s, 8, &v6.octets());
            s
        }
    }
}

/// The netmask of a prefix, as an address of `like`'s family.
pub fn mask(like: &IpAddr, prefix: u8) -> IpAddr {
    match like {
        IpAddr::V4(_) => {
            let bits = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(bits.into())
        }
        IpAddr::V6(_) => {
            let bits = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(bits.into())
        }
    }
}

/// `lifr_addr` (also `lifr_netmask`'s place) set to `a`.
pub fn set_addr(r: &mut [u8; LIFREQ_SIZE], a: &IpAddr) {
    put(r, LIFRU, &sockaddr(a));
}

/// `lifr_addr` as the kernel returned it; None for another family.
pub fn addr(r: &[u8; LIFREQ_SIZE]) -> Option<IpAddr> {
    let family = u16::from_le_bytes([*r.get(LIFRU)?, *r.get(LIFRU + 1)?]);
    match family {
        AF_INET => {
            let o: [u8; 4] = r.get(LIFRU + 4..LIFRU + 8)?.try_into().ok()?;
            Some(IpAddr::from(o))
        }
        AF_INET6 => {
            let o: [u8; 16] = r.get(LIFRU + 8..LIFRU + 24)?.try_into().ok()?;
            Some(IpAddr::from(o))
        }
        _ => None,
    }
}

/// `lifr_flags` (a uint64_t in the union).
pub fn flags(r: &[u8; LIFREQ_SIZE]) -> u64 {
    r.get(LIFRU..LIFRU + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

pub fn set_flags(r: &mut [u8; LIFREQ_SIZE], flags: u64) {
    put(r, LIFRU, &flags.to_le_bytes());
}

/// `lifr_mtu` (a uint_t in the union).
pub fn set_mtu(r: &mut [u8; LIFREQ_SIZE], mtu: u32) {
    put(r, LIFRU, &mtu.to_le_bytes());
}

fn put(buf: &mut [u8], at: usize, data: &[u8]) {
    if let Some(d) = buf.get_mut(at..at + data.len()) {
        d.copy_from_slice(data);
    }
}

// ---- routing socket (net/route.h) ----------------------------------------

pub const RTM_VERSION: u8 = 3;
pub const RTM_ADD: u8 = 1;
pub const RTF_UP: i32 = 0x1;
pub const RTF_GATEWAY: i32 = 0x2;
pub const RTF_HOST: i32 = 0x4;
pub const RTF_STATIC: i32 = 0x800;
const RTA_DST: i32 = 0x1;
const RTA_GATEWAY: i32 = 0x2;
const RTA_NETMASK: i32 = 0x4;
const RTA_IFP: i32 = 0x10;
/// `struct rt_msghdr`: 36 bytes of header words, then ten uint32_t
/// metrics.
pub const RT_MSGHDR_SIZE: usize = 76;
/// `struct sockaddr_dl`: family, index, type, three lengths, 12 bytes.
const SOCKADDR_DL_SIZE: usize = 20;

/// An RTM_ADD message: `dst` via `gateway` (with RTF_GATEWAY) or, when
/// `gateway` is one of the interface's own addresses, on that interface
/// (without it, as `route add -interface` does); bound to interface
/// `index` when given. The sockaddrs follow the header packed, each of
/// its family's size, in RTA_* order, as the kernel reads them.
pub fn route_add(
    seq: i32,
    pid: i32,
    dst: &Cidr,
    gateway: &IpAddr,
    via_gateway: bool,
    index: Option<u16>,
) -> Vec<u8> {
    let host = match dst.addr {
        IpAddr::V4(_) => dst.prefix >= 32,
        IpAddr::V6(_) => dst.prefix >= 128,
    };
    let mut flags = RTF_UP | RTF_STATIC;
    if via_gateway {
        flags |= RTF_GATEWAY;
    }
    let mut addrs = RTA_DST | RTA_GATEWAY;
    let mut tail = sockaddr(&dst.addr);
    tail.extend(sockaddr(gateway));
    if host {
        flags |= RTF_HOST;
    } else {
        addrs |= RTA_NETMASK;
        tail.extend(sockaddr(&mask(&dst.addr, dst.prefix)));
    }
    if let Some(i) = index {
        addrs |= RTA_IFP;
        let mut dl = [0u8; SOCKADDR_DL_SIZE];
        put(&mut dl, 0, &AF_LINK.to_le_bytes());
        put(&mut dl, 2, &i.to_le_bytes());
        tail.extend_from_slice(&dl);
    }
    let len = RT_MSGHDR_SIZE + tail.len();
    let mut m = vec![0u8; RT_MSGHDR_SIZE];
    put(&mut m, 0, &(len as u16).to_le_bytes());
    put(&mut m, 2, &[RTM_VERSION, RTM_ADD]);
    put(&mut m, 4, &index.unwrap_or(0).to_le_bytes());
    put(&mut m, 8, &flags.to_le_bytes());
    put(&mut m, 12, &addrs.to_le_bytes());
    put(&mut m, 16, &pid.to_le_bytes());
    put(&mut m, 20, &seq.to_le_bytes());
    m.extend(tail);
    m
}

/// A routing message's type, pid, seq and errno, from the header.
pub fn route_reply(m: &[u8]) -> Option<(u8, i32, i32, i32)> {
    let word = |at: usize| -> Option<i32> {
        Some(i32::from_le_bytes(m.get(at..at + 4)?.try_into().ok()?))
    };
    if m.len() < RT_MSGHDR_SIZE || *m.get(2)? != RTM_VERSION {
        return None;
    }
    Some((*m.get(3)?, word(16)?, word(20)?, word(24)?))
}

// ---- /proc/<pid>/psinfo (sys/procfs.h) -----------------------------------

/// `pr_pid` and `pr_ppid` follow two ints.
const PR_PID: usize = 8;
const PR_PPID: usize = 12;
/// `pr_lwp` (an lwpsinfo_t) starts at 288; its `pr_sname`, the state
/// letter, is 26 bytes in.
const PR_LWP_SNAME: usize = 288 + 26;

/// The pid, parent pid and state letter (`S`, `R`, `Z`, `T`, ...) of a
/// psinfo file.
pub fn psinfo(b: &[u8]) -> Option<(i32, i32, char)> {
    let int = |at: usize| -> Option<i32> {
        Some(i32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let sname = *b.get(PR_LWP_SNAME)?;
    Some((int(PR_PID)?, int(PR_PPID)?, char::from(sname)))
}

// ---- zones (sys/zone.h) --------------------------------------------------

/// `zone_getattr` attribute: the pid of the zone's init.
pub const ZONE_ATTR_INITPID: i32 = 7;

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ioctl_numbers_as_the_headers_make_them() {
        // _IOW('i', 112, struct lifreq): 376 & 0xff = 0x78.
        assert_eq!(SIOCSLIFADDR as u32, 0x8078_6970);
        assert_eq!(SIOCGLIFADDR as u32, 0xc078_6971);
        assert_eq!(SIOCSLIFFLAGS as u32, 0x8078_6974);
        assert_eq!(SIOCGLIFFLAGS as u32, 0xc078_6975);
        assert_eq!(SIOCSLIFNETMASK as u32, 0x8078_697e);
        assert_eq!(SIOCSLIFMTU as u32, 0x8078_6979);
        assert_eq!(SIOCLIFADDIF as u32, 0xc078_696f);
    }

    #[test]
    fn lifreq_name_address_and_flags() {
        assert!(lifreq(&"n".repeat(32)).is_none());
        assert!(lifreq("a\0b").is_none());
        let mut r = lifreq("net0").unwrap();
        assert_eq!(lifreq_name(&r), "net0");
        set_addr(&mut r, &IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(&r[40..48], &[2, 0, 0, 0, 10, 0, 0, 5]);
        assert_eq!(addr(&r), Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5))));
        let v6: Ipv6Addr = "fd00::5".parse().unwrap();
        set_addr(&mut r, &IpAddr::V6(v6));
        assert_eq!(&r[40..42], &[26, 0]);
        assert_eq!(&r[48..64], &v6.octets());
        assert_eq!(addr(&r), Some(IpAddr::V6(v6)));
        set_flags(&mut r, 0x1_0000_0001);
        assert_eq!(flags(&r), 0x1_0000_0001);
    }

    #[test]
    fn masks() {
        let v4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        assert_eq!(mask(&v4, 24), IpAddr::V4(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(mask(&v4, 0), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(mask(&v4, 32), IpAddr::V4(Ipv4Addr::BROADCAST));
        let v6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        assert_eq!(
            mask(&v6, 64),
            "ffff:ffff:ffff:ffff::".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn default_route_message() {
        let dst = Cidr {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            prefix: 0,
        };
        let gw = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let m = route_add(7, 42, &dst, &gw, true, Some(3));
        // Header, dst, gateway, netmask (16 each), sockaddr_dl (20).
        assert_eq!(m.len(), 76 + 16 * 3 + 20);
        assert_eq!(u16::from_le_bytes([m[0], m[1]]) as usize, m.len());
        assert_eq!(&m[2..6], &[RTM_VERSION, RTM_ADD, 3, 0]);
        let flags = i32::from_le_bytes(m[8..12].try_into().unwrap());
        assert_eq!(flags, RTF_UP | RTF_STATIC | RTF_GATEWAY);
        let addrs = i32::from_le_bytes(m[12..16].try_into().unwrap());
        assert_eq!(addrs, 0x1 | 0x2 | 0x4 | 0x10);
        assert_eq!(&m[76 + 16 + 4..76 + 16 + 8], &[10, 0, 0, 1]);
        assert_eq!(&m[76 + 32 + 4..76 + 32 + 8], &[0, 0, 0, 0]);
        assert_eq!(&m[76 + 48..76 + 52], &[25, 0, 3, 0]);
        assert_eq!(route_reply(&m), Some((RTM_ADD, 42, 7, 0)));
    }

    #[test]
    fn host_route_on_the_interface() {
        let dst = Cidr {
            addr: IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)),
            prefix: 32,
        };
        let own = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5));
        let m = route_add(1, 1, &dst, &own, false, None);
        assert_eq!(m.len(), 76 + 32);
        let flags = i32::from_le_bytes(m[8..12].try_into().unwrap());
        assert_eq!(flags, RTF_UP | RTF_STATIC | RTF_HOST);
        let v6 = Cidr {
            addr: "fd00::".parse().unwrap(),
            prefix: 64,
        };
        let m = route_add(1, 1, &v6, &"fd00::1".parse().unwrap(), true, None);
        assert_eq!(m.len(), 76 + 32 * 3);
        assert_eq!(route_reply(&m[..40]), None);
    }

    #[test]
    fn psinfo_fields() {
        let mut b = vec![0u8; 416];
        b[8..12].copy_from_slice(&1234i32.to_le_bytes());
        b[12..16].copy_from_slice(&77i32.to_le_bytes());
        b[314] = b'T';
        assert_eq!(psinfo(&b), Some((1234, 77, 'T')));
        assert_eq!(psinfo(&b[..100]), None);
    }
}
