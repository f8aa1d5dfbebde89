//! Network stage: loopback, interfaces, addresses and routes through the
//! OS's interface (sys::net: rtnetlink on Linux, socket ioctls and a
//! routing socket on illumos), DHCP where a NIC asks for it.
//!
//! Order: `lo`; then each NIC (found by MAC or name; MTU; addresses, IPv6
//! without DAD; up; DHCP); then routes: on-link ones, the default route(s)
//! via the primary NIC's gateways, the rest. "Already exists" counts as
//! done, so re-running the same plan succeeds. A NIC that cannot be set up
//! stops the start (exit 125); a route that cannot be added is a warning.

use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::dhcp::{self, Lease};
use crate::error::{Error, Result, Stage};
use crate::plan::{Cidr, Network, Nic, Route};
use crate::sys::net::{self, Net};
use crate::sys::{Link, NetError, RouteSpec};

use super::hostname::{self, RESOLV_CONF};

/// A NIC once configured: what the routes need.
struct Configured {
    label: String,
    index: u32,
    addrs: Vec<Cidr>,
    gateways: Vec<IpAddr>,
    primary: bool,
    /// Routes the DHCP lease gave (option 121).
    routes: Vec<Route>,
}

pub fn apply(net: &Network) -> Result<()> {
    if !net.loopback && net.nics.is_empty() && net.routes.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let mut nl = Net::open()
        .map_err(|e| Error::new(Stage::Net, format!("cannot open a {}: {}", net::SOCKET, e)))?;
    if net.loopback || !net.nics.is_empty() {
        loopback(&mut nl);
    }
    let mut links = None;
    let mut up = Vec::with_capacity(net.nics.len());
    let mut leases = Vec::new();
    for (i, nic) in net.nics.iter().enumerate() {
        let (c, lease) = configure(&mut nl, nic, i, net, &mut links)?;
        leases.extend(lease.map(|l| (c.label.clone(), l)));
        up.push(c);
    }
    let mut all = net.routes.clone();
    for c in &up {
        all.extend(c.routes.iter().cloned());
    }
    routes(&mut nl, &all, &up);
    if !leases.is_empty() {
        resolv_conf(net, &leases);
    }
    log::info!(
        "network: {} NICs and {} routes done in {} us",
        net.nics.len(),
        net.routes.len(),
        started.elapsed().as_micros()
    );
    Ok(())
}

/// An interface's plan and the kernel's view, in log and error lines.
fn label(nic: &Nic, i: usize) -> String {
    match (&nic.interface, &nic.mac) {
        (Some(n), _) => n.clone(),
        (None, Some(m)) => mac_text(m),
        (None, None) => format!("#{}", i),
    }
}

fn mac_text(m: &[u8; 6]) -> String {
    let hex: Vec<String> = m.iter().map(|b| format!("{:02x}", b)).collect();
    hex.join(":")
}

fn cidr_text(c: &Cidr) -> String {
    format!("{}/{}", c.addr, c.prefix)
}

/// `lo` up with 127.0.0.1/8 and ::1; failures are only warnings (a kernel
/// without IPv6 still gets its IPv4 loopback).
fn loopback(nl: &mut Net) {
    if let Err(e) = nl.attach(net::LOOPBACK) {
        return log::warn!("loopback: cannot attach {}: {}", net::LOOPBACK, e);
    }
    let index = match index_of(net::LOOPBACK) {
        Ok(i) => i,
        Err(e) => return log::warn!("loopback: {}", e),
    };
    if let Err(e) = nl.set_link(index, true, None) {
        return log::warn!("loopback: cannot bring {} up: {}", net::LOOPBACK, e);
    }
    for c in [
        Cidr {
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prefix: 8,
        },
        Cidr {
            addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
            prefix: 128,
        },
    ] {
        match add_address(nl, index, &c) {
            Ok(_) => {}
            Err(e) => log::warn!("loopback: cannot add {}: {}", cidr_text(&c), e),
        }
    }
    log::info!("loopback: {} up with 127.0.0.1/8 and ::1", net::LOOPBACK);
}

fn index_of(name: &str) -> std::result::Result<u32, String> {
    let c =
        CString::new(name).map_err(|_| format!("interface name {:?} contains a NUL byte", name))?;
    // SAFETY: a valid C string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(format!(
            "no interface named {}: {}",
            name,
            std::io::Error::last_os_error()
        ));
    }
    Ok(i)
}

fn dump<'a>(
    nl: &mut Net,
    links: &'a mut Option<Vec<Link>>,
) -> std::result::Result<&'a [Link], String> {
    if links.is_none() {
        *links = Some(
            nl.links()
                .map_err(|e| format!("cannot list interfaces: {}", e))?,
        );
    }
    Ok(links.as_deref().unwrap_or(&[]))
}

/// Add an address; true when added, false when it was already there.
fn add_address(nl: &mut Net, index: u32, c: &Cidr) -> std::result::Result<bool, NetError> {
    match nl.add_addr(index, c) {
        Ok(()) => Ok(true),
        Err(e) if e.exists() => Ok(false),
        Err(e) => Err(e),
    }
}

/// One NIC: find its link, set MTU and addresses, bring it up, then ask
/// DHCP when the plan says so.
fn configure(
    nl: &mut Net,
    nic: &Nic,
    i: usize,
    net: &Network,
    links: &mut Option<Vec<Link>>,
) -> Result<(Configured, Option<Lease>)> {
    let label = label(nic, i);
    let fail =
        |field: &str, e: String| Error::new(Stage::Net, format!("nic {}: {}: {}", label, field, e));
    let index = find_link(nl, nic, &label, links).map_err(|(field, e)| fail(field, e))?;
    static_config(nl, nic, index, &label).map_err(|(field, e)| fail(field, e))?;
    let mut conf = Configured {
        label: label.clone(),
        index,
        addrs: nic.addrs.clone(),
        gateways: nic.gateways.clone(),
        primary: nic.primary,
        routes: Vec::new(),
    };
    if !nic.dhcp {
        return Ok((conf, None));
    }
    let lease = dhcp(nl, nic, net, links, &mut conf).map_err(|e| fail("dhcp", e))?;
    Ok((conf, lease))
}

/// A failure naming the NIC's field it concerns.
type FieldError = (&'static str, String);

/// The link's index: by MAC (from a dump of the links) or by name.
fn find_link(
    nl: &mut Net,
    nic: &Nic,
    label: &str,
    links: &mut Option<Vec<Link>>,
) -> std::result::Result<u32, FieldError> {
    match (&nic.mac, &nic.interface) {
        (Some(mac), _) => dump(nl, links)
            .map_err(|e| ("mac", e))?
            .iter()
            .find(|l| l.mac.as_ref() == Some(mac))
            .map(|l| {
                log::info!(
                    "nic {}: MAC {} is {} (index {})",
                    label,
                    mac_text(mac),
                    l.name,
                    l.index
                );
                l.index
            })
            .ok_or_else(|| ("mac", format!("no interface has MAC {}", mac_text(mac)))),
        (None, Some(name)) => nl
            .attach(name)
            .map_err(|e| e.to_string())
            .and_then(|()| index_of(name))
            .map_err(|e| ("interface", e)),
        (None, None) => Err(("interface", "no interface name or MAC given".into())),
    }
}

/// The plan's MTU and addresses, then the link up.
fn static_config(
    nl: &mut Net,
    nic: &Nic,
    index: u32,
    label: &str,
) -> std::result::Result<(), FieldError> {
    if let Some(mtu) = nic.mtu {
        nl.set_link(index, false, Some(mtu))
            .map_err(|e| ("mtu", format!("cannot set {}: {}", mtu, e)))?;
        log::info!("nic {}: mtu {}", label, mtu);
    }
    for c in &nic.addrs {
        let added = add_address(nl, index, c)
            .map_err(|e| ("address", format!("cannot add {}: {}", cidr_text(c), e)))?;
        log::info!(
            "nic {}: address {} {}",
            label,
            cidr_text(c),
            if added { "added" } else { "already present" }
        );
    }
    nl.set_link(index, true, None)
        .map_err(|e| ("link", format!("cannot bring it up: {}", e)))?;
    log::info!("nic {}: up (index {})", label, index);
    Ok(())
}

/// The smallest MTU a lease may set: IPv4's minimum datagram every host
/// must accept (RFC 791). A server's 68 would break the next start.
const MIN_LEASE_MTU: u16 = 576;

/// The lease's MTU, unless it is below the minimum.
fn usable_mtu(lease: &Lease) -> Option<u16> {
    lease.mtu.filter(|&m| m >= MIN_LEASE_MTU)
}

/// Why a lease cannot be used: it would leave the link without the
/// address pidone is using (none usable, or one that expires at once).
fn unusable(lease: &Lease) -> Option<&'static str> {
    let a = lease.addr;
    if a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback() {
        return Some("its address is not a host address");
    }
    if lease.prefix > 32 {
        return Some("its prefix length is over 32");
    }
    if lease.lease_time == Some(0) {
        return Some("it expires at once");
    }
    None
}

/// Ask DHCP for a lease on the link and apply its MTU (unless the plan
/// set one) and address; its gateways and routes go into `conf`. A lease
/// that would remove the address in use is ignored (None), saying so.
fn dhcp(
    nl: &mut Net,
    nic: &Nic,
    net: &Network,
    links: &mut Option<Vec<Link>>,
    conf: &mut Configured,
) -> std::result::Result<Option<Lease>, String> {
    if !crate::sys::packet::SUPPORTED {
        return Err("DHCP is not supported on this OS".into());
    }
    let (index, label) = (conf.index, conf.label.clone());
    let mac = dump(nl, links)?
        .iter()
        .find(|l| l.index == index)
        .and_then(|l| l.mac)
        .ok_or_else(|| "the interface has no Ethernet address".to_string())?;
    log::info!(
        "nic {}: dhcp: asking (timeout {:?})",
        label,
        net.dhcp_timeout
    );
    let lease = dhcp::acquire(index, &mac, net.dhcp_timeout)?;
    let addr = Cidr {
        addr: IpAddr::V4(lease.addr),
        prefix: lease.prefix,
    };
    log::info!(
        "nic {}: dhcp: lease {} router {} routes {} dns {} mtu {} for {}",
        label,
        cidr_text(&addr),
        lease
            .routers
            .first()
            .map_or("none".into(), |r| r.to_string()),
        lease.routes.len(),
        lease.dns.len(),
        lease.mtu.map_or("-".into(), |m| m.to_string()),
        lease
            .lease_time
            .map_or("ever".into(), |t| format!("{}s", t)),
    );
    if let Some(why) = unusable(&lease) {
        log::warn!(
            "nic {}: dhcp: ignoring the lease of {}: {}",
            label,
            lease.addr,
            why
        );
        return Ok(None);
    }
    let lease_mtu = usable_mtu(&lease);
    if let (Some(mtu), None) = (lease.mtu, lease_mtu) {
        log::warn!(
            "nic {}: dhcp: ignoring the lease's mtu {} (below {})",
            label,
            mtu,
            MIN_LEASE_MTU
        );
    }
    if let (None, Some(mtu)) = (nic.mtu, lease_mtu) {
        match nl.set_link(index, false, Some(u32::from(mtu))) {
            Ok(()) => log::info!("nic {}: mtu {} (dhcp)", label, mtu),
            Err(e) => log::warn!("nic {}: cannot set the lease's mtu {}: {}", label, mtu, e),
        }
    }
    let added = add_address(nl, index, &addr)
        .map_err(|e| format!("cannot add {}: {}", cidr_text(&addr), e))?;
    log::info!(
        "nic {}: address {} {}",
        label,
        cidr_text(&addr),
        if added { "added" } else { "already present" }
    );
    conf.addrs.push(addr);
    let (gateways, routes) = lease_routes(&lease);
    conf.routes = routes;
    // Configured gateways win over the lease's.
    if conf.gateways.is_empty() {
        conf.gateways = gateways;
    }
    Ok(Some(lease))
}

/// A lease's gateways and routes. With classless routes (option 121) the
/// router option is ignored (RFC 3442); their default entry is the
/// gateway, the rest are routes like sdc:routes ones, a 0.0.0.0 router
/// meaning on this link (the own-address convention).
fn lease_routes(lease: &Lease) -> (Vec<IpAddr>, Vec<Route>) {
    let mut gateways = Vec::new();
    let mut routes = Vec::new();
    if lease.routes.is_empty() {
        gateways.extend(lease.routers.first().map(|&r| IpAddr::V4(r)));
    }
    for &(dst, prefix, router) in &lease.routes {
        if prefix == 0 && !router.is_unspecified() {
            gateways.push(IpAddr::V4(router));
            continue;
        }
        let on_link = router.is_unspecified();
        routes.push(Route {
            dst: Cidr {
                addr: IpAddr::V4(dst),
                prefix,
            },
            gateway: Some(IpAddr::V4(if on_link { lease.addr } else { router })),
            linklocal: on_link,
        });
    }
    (gateways, routes)
}

/// `a` lies inside `c`.
fn covers(c: &Cidr, a: &IpAddr) -> bool {
    match (c.addr, a) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let m = u32::MAX
                .checked_shl(32 - u32::from(c.prefix.min(32)))
                .unwrap_or(0);
            u32::from(n) & m == u32::from(*a) & m
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let m = u128::MAX
                .checked_shl(128 - u32::from(c.prefix.min(128)))
                .unwrap_or(0);
            u128::from(n) & m == u128::from(*a) & m
        }
        _ => false,
    }
}

fn is_link_local(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80)
}

fn any_addr(like: &IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The routes, in SmartOS's order. Never fatal.
fn routes(nl: &mut Net, routes: &[Route], up: &[Configured]) {
    for s in plan_routes(routes, up) {
        add_route(nl, up, &s);
    }
}

/// What to add, in order: on-link routes, the primary NIC's default
/// routes, the others. Pure, so the order and choices are unit-tested.
fn plan_routes(routes: &[Route], up: &[Configured]) -> Vec<RouteSpec> {
    let mut out = Vec::new();
    let on_link = |r: &&Route| r.linklocal || r.gateway.is_none();
    // The primary NIC; else the first with a gateway (the classic
    // `.dockerinit` and the VM init fill one NIC without marking it).
    let primary = up
        .iter()
        .find(|c| c.primary)
        .or_else(|| up.iter().find(|c| !c.gateways.is_empty()));

    for r in routes.iter().filter(on_link) {
        // SmartOS gives the NIC's own address as the `gateway` of a
        // link-local route: the route goes out of that NIC. Any other
        // gateway is taken as reachable on the link.
        let owner = r
            .gateway
            .and_then(|g| up.iter().find(|c| c.addrs.iter().any(|a| a.addr == g)));
        let dev = owner
            .or_else(|| {
                r.gateway
                    .and_then(|g| up.iter().find(|c| c.addrs.iter().any(|a| covers(a, &g))))
            })
            .or(primary)
            .or(up.first());
        let Some(dev) = dev else {
            log::warn!(
                "route {}: on-link, but no interface is configured: skipped",
                cidr_text(&r.dst)
            );
            continue;
        };
        let gateway = if owner.is_some() { None } else { r.gateway };
        out.push(RouteSpec {
            dst: r.dst,
            gateway,
            oif: Some(dev.index),
            onlink: gateway.is_some(),
        });
    }

    if let Some(p) = primary {
        for gw in &p.gateways {
            // A gateway outside the NIC's subnets (a /32 cloud address) is
            // still on the link: say so rather than fail.
            let onlink = !is_link_local(gw) && !p.addrs.iter().any(|a| covers(a, gw));
            out.push(RouteSpec {
                dst: Cidr {
                    addr: any_addr(gw),
                    prefix: 0,
                },
                gateway: Some(*gw),
                oif: Some(p.index),
                onlink,
            });
        }
    }
    for c in up
        .iter()
        .filter(|c| !c.gateways.is_empty() && Some(c.index) != primary.map(|p| p.index))
    {
        log::info!("nic {}: gateways not used (not the primary NIC)", c.label);
    }

    for r in routes.iter().filter(|r| !on_link(r)) {
        let gateway = r.gateway;
        // A link-local IPv6 gateway needs an interface; take the primary's.
        let oif = gateway
            .filter(is_link_local)
            .and(primary.or(up.first()))
            .map(|c| c.index);
        out.push(RouteSpec {
            dst: r.dst,
            gateway,
            oif,
            onlink: false,
        });
    }
    out
}

fn add_route(nl: &mut Net, up: &[Configured], s: &RouteSpec) {
    let mut text = cidr_text(&s.dst);
    if let Some(g) = s.gateway {
        text += &format!(" via {}", g);
    }
    if let Some(c) = s.oif.and_then(|i| up.iter().find(|c| c.index == i)) {
        text += &format!(" dev {}", c.label);
    }
    if s.onlink {
        text += " onlink";
    }
    match nl.add_route(s) {
        Ok(()) => log::info!("route {} added", text),
        Err(e) if e.exists() => log::info!("route {} already present", text),
        Err(e) => log::warn!("route {}: cannot add: {}", text, e),
    }
}

/// /etc/resolv.conf from the leases (after the plan's own resolvers),
/// unless the plan says not to write /etc.
fn resolv_conf(net: &Network, leases: &[(String, Lease)]) {
    let mut servers: Vec<IpAddr> = net.resolvers.clone();
    let mut search: Vec<String> = net.dns_search.clone();
    for (_, l) in leases {
        for d in &l.dns {
            let d = IpAddr::V4(*d);
            if !servers.contains(&d) {
                servers.push(d);
            }
        }
        if let Some(dom) = &l.domain {
            if !search.contains(dom) {
                search.push(dom.clone());
            }
        }
    }
    if servers.is_empty() {
        return;
    }
    if !net.write_etc {
        log::info!("dhcp: {} not written (pidone:hosts is false)", RESOLV_CONF);
        return;
    }
    let from: Vec<&str> = leases.iter().map(|(n, _)| n.as_str()).collect();
    let head = format!(
        "# written by pidone from the DHCP lease of {}\n",
        from.join(", ")
    );
    let text = hostname::resolv_conf_text(head, &servers, &search);
    match hostname::write_resolv_conf(&text) {
        Ok(()) => log::info!(
            "dhcp: wrote {} ({} nameservers)",
            RESOLV_CONF,
            servers.len()
        ),
        Err(e) => log::warn!("dhcp: cannot write {}: {}", RESOLV_CONF, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_that_would_remove_the_address_are_unusable() {
        let mut l = Lease {
            addr: "10.0.0.2".parse().unwrap(),
            prefix: 24,
            routers: vec![],
            dns: vec![],
            domain: None,
            mtu: None,
            server: None,
            lease_time: None,
            routes: vec![],
        };
        assert_eq!(unusable(&l), None);
        for bad in ["0.0.0.0", "255.255.255.255", "224.0.0.1", "127.0.0.1"] {
            l.addr = bad.parse().unwrap();
            assert!(unusable(&l).is_some(), "{}", bad);
        }
        l.addr = "10.0.0.2".parse().unwrap();
        l.lease_time = Some(0);
        assert_eq!(unusable(&l), Some("it expires at once"));
        for (mtu, usable) in [
            (68, None),
            (575, None),
            (576, Some(576)),
            (1500, Some(1500)),
        ] {
            l.mtu = Some(mtu);
            assert_eq!(usable_mtu(&l), usable, "{}", mtu);
        }
    }

    fn c(s: &str) -> Cidr {
        crate::values::cidr(s, true).unwrap()
    }

    #[test]
    fn covering() {
        assert!(covers(&c("10.0.0.2/24"), &"10.0.0.254".parse().unwrap()));
        assert!(!covers(&c("10.0.0.2/24"), &"10.0.1.1".parse().unwrap()));
        assert!(covers(&c("10.0.0.2/0"), &"1.2.3.4".parse().unwrap()));
        assert!(!covers(&c("10.0.0.2/32"), &"10.0.0.1".parse().unwrap()));
        assert!(covers(&c("fd00::2/64"), &"fd00::1".parse().unwrap()));
        assert!(!covers(&c("fd00::2/64"), &"10.0.0.1".parse().unwrap()));
        assert!(is_link_local(&"fe80::1".parse().unwrap()));
        assert!(!is_link_local(&"fd00::1".parse().unwrap()));
    }

    fn nic(label: &str, index: u32, addrs: &[&str], gws: &[&str], primary: bool) -> Configured {
        Configured {
            label: label.into(),
            index,
            addrs: addrs.iter().map(|a| c(a)).collect(),
            gateways: gws.iter().map(|g| g.parse().unwrap()).collect(),
            primary,
            routes: Vec::new(),
        }
    }

    fn route(dst: &str, gw: Option<&str>, linklocal: bool) -> Route {
        Route {
            dst: c(dst),
            gateway: gw.map(|g| g.parse().unwrap()),
            linklocal,
        }
    }

    fn show(specs: &[RouteSpec]) -> Vec<String> {
        specs
            .iter()
            .map(|s| {
                format!(
                    "{} {:?} {:?} {}",
                    cidr_text(&s.dst),
                    s.gateway,
                    s.oif,
                    // As rtnetlink's RTNH_F_ONLINK, which the expected lines show.
                    if s.onlink { 4 } else { 0 }
                )
            })
            .collect()
    }

    #[test]
    fn route_order_and_devices() {
        let up = [
            nic("net0", 2, &["10.0.0.5/24"], &["10.0.0.9"], false),
            nic(
                "net1",
                3,
                &["192.168.1.5/24", "fd00::5/64"],
                &["192.168.1.1", "fe80::1"],
                true,
            ),
        ];
        let routes = [
            route("10.20.0.0/16", Some("10.0.0.1"), false),
            route("172.16.0.0/12", Some("10.0.0.5"), true),
            route("10.30.0.0/16", None, false),
            route("fd01::/64", Some("fe80::2"), false),
            route("10.40.0.0/16", Some("192.168.1.200"), true),
        ];
        assert_eq!(
            show(&plan_routes(&routes, &up)),
            vec![
                // On-link: own address = out of that NIC, no gateway.
                "172.16.0.0/12 None Some(2) 0",
                // No gateway: the primary NIC.
                "10.30.0.0/16 None Some(3) 0",
                // A real on-link gateway: onlink via the NIC of its subnet.
                "10.40.0.0/16 Some(192.168.1.200) Some(3) 4",
                // Defaults via the primary NIC only.
                "0.0.0.0/0 Some(192.168.1.1) Some(3) 0",
                "::/0 Some(fe80::1) Some(3) 0",
                // The rest; a link-local gateway gets the primary's link.
                "10.20.0.0/16 Some(10.0.0.1) None 0",
                "fd01::/64 Some(fe80::2) Some(3) 0",
            ]
        );
    }

    #[test]
    fn unmarked_nic_with_gateway_is_primary_and_far_gateway_is_onlink() {
        let up = [
            nic("lo-ish", 5, &["10.1.0.2/24"], &[], false),
            nic("eth0", 7, &["203.0.113.7/32"], &["203.0.113.1"], false),
        ];
        assert_eq!(
            show(&plan_routes(&[], &up)),
            vec!["0.0.0.0/0 Some(203.0.113.1) Some(7) 4"]
        );
        assert!(plan_routes(&[route("10.9.0.0/16", None, true)], &[]).is_empty());
    }

    #[test]
    fn labels() {
        let mut n = Nic {
            mac: Some([2, 0, 0, 0, 0, 0xab]),
            ..Nic::default()
        };
        assert_eq!(label(&n, 3), "02:00:00:00:00:ab");
        n.interface = Some("eth1".into());
        assert_eq!(label(&n, 3), "eth1");
    }
}
