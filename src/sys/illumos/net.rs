//! Interfaces, addresses and routes on illumos: socket ioctls on `struct
//! lifreq` (SIOCGLIFFLAGS/SIOCSLIFFLAGS, SIOCSLIFADDR, SIOCSLIFNETMASK,
//! SIOCSLIFMTU, SIOCLIFADDIF for a second address) and RTM_ADD messages on
//! a PF_ROUTE socket. Layouts and numbers: illumos_abi.
//!
//! An interface not yet known to IP is plumbed first with the system's
//! `ifconfig NAME plumb` (in a SmartOS zone the platform makes the VNIC;
//! plumbing it is the zone's own job, done by its network service or its
//! docker init the same way). Finding a NIC by MAC is not offered: a
//! zone's metadata names its interfaces.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::plan::Cidr;
use crate::sys::illumos_abi as abi;
use crate::sys::{Link, NetError, RouteSpec};

/// The loopback interface's name.
pub const LOOPBACK: &str = "lo0";

/// What the stage opens, for its error line.
pub const SOCKET: &str = "socket for interface ioctls";

/// The system's ifconfig, which plumbs an interface (STREAMS modules and
/// ipmgmtd's records: not redone here).
const IFCONFIG: &str = "/sbin/ifconfig";

/// How long to wait for the routing socket's answer to a request.
const ROUTE_REPLY: Duration = Duration::from_secs(2);

/// One datagram socket per family for the ioctls; the routing socket when
/// a route is first added.
pub struct Net {
    v4: OwnedFd,
    v6: Option<OwnedFd>,
    route: Option<OwnedFd>,
    seq: i32,
}

fn socket(domain: i32, kind: i32, proto: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket(3SOCKET); the descriptor is owned from here on.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn err() -> NetError {
    NetError::io(std::io::Error::last_os_error())
}

fn name_of(index: u32) -> Result<String, NetError> {
    let mut buf = [0 as libc::c_char; abi::LIFNAMSIZ];
    // SAFETY: a buffer of IF_NAMESIZE (32) bytes.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return Err(err());
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into buf.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

fn lifreq(name: &str) -> Result<[u8; abi::LIFREQ_SIZE], NetError> {
    abi::lifreq(name).ok_or(NetError {
        errno: libc::EINVAL,
        message: Some(format!("interface name {:?} is too long", name)),
    })
}

fn ioctl(fd: &OwnedFd, req: i32, r: &mut [u8; abi::LIFREQ_SIZE]) -> Result<(), NetError> {
    // SAFETY: `r` is a struct lifreq of the size the request encodes.
    if unsafe { libc::ioctl(fd.as_raw_fd(), req, r.as_mut_ptr()) } != 0 {
        return Err(err());
    }
    Ok(())
}

impl Net {
    pub fn open() -> std::io::Result<Net> {
        Ok(Net {
            v4: socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?,
            // A zone without IPv6 still gets its IPv4.
            v6: socket(libc::AF_INET6, libc::SOCK_DGRAM, 0).ok(),
            route: None,
            seq: 0,
        })
    }

    fn family(&self, a: &IpAddr) -> Result<&OwnedFd, NetError> {
        match a {
            IpAddr::V4(_) => Ok(&self.v4),
            IpAddr::V6(_) => self.v6.as_ref().ok_or(NetError {
                errno: libc::EAFNOSUPPORT,
                message: None,
            }),
        }
    }

    /// Plumb `name` for IPv4 unless it is already (its flags can be read).
    pub fn attach(&mut self, name: &str) -> Result<(), NetError> {
        self.plumb(&self.v4, name, false)
    }

    /// Plumb `name` for the family of `fd` (`inet6`: IPv6) unless it is.
    fn plumb(&self, fd: &OwnedFd, name: &str, v6: bool) -> Result<(), NetError> {
        let mut r = lifreq(name)?;
        if ioctl(fd, abi::SIOCGLIFFLAGS, &mut r).is_ok() {
            return Ok(());
        }
        let family: &[&str] = if v6 { &["inet6"] } else { &[] };
        let status = std::process::Command::new(IFCONFIG)
            .arg(name)
            .args(family)
            .arg("plumb")
            .stdin(std::process::Stdio::null())
            .status()
            .map_err(NetError::io)?;
        if !status.success() {
            return Err(NetError {
                errno: libc::ENXIO,
                message: Some(format!("{} {} plumb: {}", IFCONFIG, name, status)),
            });
        }
        log::info!("plumbed {}{}", name, if v6 { " for IPv6" } else { "" });
        Ok(())
    }

    /// `IFF_UP` on (keeping the other flags), on the name's interface.
    fn up(&self, fd: &OwnedFd, name: &str) -> Result<(), NetError> {
        let mut r = lifreq(name)?;
        ioctl(fd, abi::SIOCGLIFFLAGS, &mut r)?;
        let flags = abi::flags(&r);
        if flags & abi::IFF_UP != 0 {
            return Ok(());
        }
        abi::set_flags(&mut r, flags | abi::IFF_UP);
        ioctl(fd, abi::SIOCSLIFFLAGS, &mut r)
    }

    /// Bring the interface up (IPv4, and IPv6 where plumbed) and set its
    /// MTU if given.
    pub fn set_link(&mut self, index: u32, up: bool, mtu: Option<u32>) -> Result<(), NetError> {
        let name = name_of(index)?;
        if let Some(m) = mtu {
            let mut r = lifreq(&name)?;
            abi::set_mtu(&mut r, m);
            ioctl(&self.v4, abi::SIOCSLIFMTU, &mut r)?;
        }
        if up {
            self.up(&self.v4, &name)?;
            if let Some(v6) = &self.v6 {
                // ENXIO: not plumbed for IPv6, which is fine.
                match self.up(v6, &name) {
                    Err(e) if e.errno != libc::ENXIO => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Add an address: on the interface itself while it has none, else
    /// on a new logical interface (`net0:1`); then its netmask and up.
    pub fn add_addr(&mut self, index: u32, c: &Cidr) -> Result<(), NetError> {
        let name = name_of(index)?;
        let fd = self.family(&c.addr)?;
        self.plumb(fd, &name, c.addr.is_ipv6())?;
        let mut r = lifreq(&name)?;
        ioctl(fd, abi::SIOCGLIFADDR, &mut r)?;
        let target = match abi::addr(&r) {
            Some(a) if a == c.addr => {
                return Err(NetError {
                    errno: libc::EEXIST,
                    message: None,
                })
            }
            Some(a) if a.is_unspecified() => name,
            _ => {
                let mut add = lifreq(&name)?;
                abi::set_addr(&mut add, &c.addr);
                ioctl(fd, abi::SIOCLIFADDIF, &mut add)?;
                abi::lifreq_name(&add)
            }
        };
        let mut r = lifreq(&target)?;
        abi::set_addr(&mut r, &c.addr);
        ioctl(fd, abi::SIOCSLIFADDR, &mut r)?;
        let mut m = lifreq(&target)?;
        abi::set_addr(&mut m, &abi::mask(&c.addr, c.prefix));
        ioctl(fd, abi::SIOCSLIFNETMASK, &mut m)?;
        self.up(fd, &target)
    }

    /// The interface's own address of `like`'s family: the gateway of a
    /// route on that interface.
    fn own_address(&self, index: u32, like: &IpAddr) -> Result<IpAddr, NetError> {
        let mut r = lifreq(&name_of(index)?)?;
        ioctl(self.family(like)?, abi::SIOCGLIFADDR, &mut r)?;
        abi::addr(&r)
            .filter(|a| !a.is_unspecified())
            .ok_or(NetError {
                errno: libc::EADDRNOTAVAIL,
                message: Some("the interface has no address".into()),
            })
    }

    /// Add a route. On-link routes go via the interface's own address
    /// (without RTF_GATEWAY); a gateway outside every subnet of the
    /// interface first gets a host route on it.
    pub fn add_route(&mut self, s: &RouteSpec) -> Result<(), NetError> {
        let index = s.oif.and_then(|i| u16::try_from(i).ok());
        match (s.gateway, s.oif) {
            (Some(gw), Some(oif)) if s.onlink => {
                let own = self.own_address(oif, &gw)?;
                let host = Cidr {
                    addr: gw,
                    prefix: if gw.is_ipv4() { 32 } else { 128 },
                };
                match self.route(&host, &own, false, index) {
                    Err(e) if !e.exists() => return Err(e),
                    _ => {}
                }
                self.route(&s.dst, &gw, true, index)
            }
            (Some(gw), _) => self.route(&s.dst, &gw, true, index),
            (None, Some(oif)) => {
                let own = self.own_address(oif, &s.dst.addr)?;
                self.route(&s.dst, &own, false, index)
            }
            (None, None) => Err(NetError {
                errno: libc::EINVAL,
                message: Some("an on-link route needs an interface".into()),
            }),
        }
    }

    /// One RTM_ADD, and the kernel's answer to it (matched by pid and seq).
    fn route(
        &mut self,
        dst: &Cidr,
        gw: &IpAddr,
        via_gateway: bool,
        index: Option<u16>,
    ) -> Result<(), NetError> {
        if self.route.is_none() {
            self.route = Some(socket(libc::PF_ROUTE, libc::SOCK_RAW, 0).map_err(NetError::io)?);
        }
        let Some(fd) = &self.route else {
            return Err(NetError {
                errno: libc::EBADF,
                message: None,
            });
        };
        self.seq = self.seq.wrapping_add(1);
        let pid = std::process::id() as i32;
        let msg = abi::route_add(self.seq, pid, dst, gw, via_gateway, index);
        // SAFETY: a valid buffer of its length.
        let n = unsafe { libc::write(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
        if n < 0 {
            return Err(err());
        }
        let deadline = Instant::now() + ROUTE_REPLY;
        let mut buf = vec![0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // Written without an error: the kernel took it.
                return Ok(());
            }
            let mut p = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut p, 1, ms) } <= 0 {
                continue;
            }
            // SAFETY: reading into our own buffer of its length.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            let reply = usize::try_from(n).ok().and_then(|n| buf.get(..n));
            match reply.and_then(abi::route_reply) {
                Some((abi::RTM_ADD, p, q, e)) if p == pid && q == self.seq => {
                    return match e {
                        0 => Ok(()),
                        errno => Err(NetError {
                            errno,
                            message: None,
                        }),
                    };
                }
                _ => {}
            }
        }
    }

    /// The interfaces by name and index (no hardware addresses here).
    pub fn links(&mut self) -> Result<Vec<Link>, NetError> {
        // SAFETY: if_nameindex returns an array ended by a zero index, or
        // null; it is freed below.
        let list = unsafe { libc::if_nameindex() };
        if list.is_null() {
            return Err(err());
        }
        let mut links = Vec::new();
        let mut p = list;
        // SAFETY: walking the array up to its terminating entry.
        unsafe {
            while (*p).if_index != 0 && !(*p).if_name.is_null() {
                links.push(Link {
                    index: (*p).if_index,
                    name: std::ffi::CStr::from_ptr((*p).if_name)
                        .to_string_lossy()
                        .into_owned(),
                    mac: None,
                });
                p = p.add(1);
            }
            libc::if_freenameindex(list);
        }
        Ok(links)
    }
}

/// The fuzz target's entry (lib.rs only): a routing reply's header.
#[allow(dead_code)]
pub fn decode_reply(data: &[u8]) {
    let _ = abi::route_reply(data);
}
