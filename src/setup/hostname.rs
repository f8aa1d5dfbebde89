//! Hostname stage: `sethostname`, then /etc/hosts (when there is a
//! hostname) and /etc/resolv.conf (when there are resolvers or search
//! domains), each written atomically and only when the plan allows it.
//! None of it is fatal: a read-only root only costs the files.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use crate::error::Result;
use crate::plan::Plan;
use crate::sys::files;

pub const HOSTS: &str = "/etc/hosts";
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

pub fn apply(plan: &Plan) -> Result<()> {
    if let Some(name) = &plan.hostname {
        // Its value is not logged: it may come from the environment. An
        // engine that already set it (Docker's classic form) grants no
        // CAP_SYS_ADMIN, so an equal name is not asked for again: the
        // EPERM would be a warning about nothing.
        let current = nix::unistd::gethostname().ok();
        if current.as_deref() == Some(std::ffi::OsStr::new(name)) {
            log::info!("hostname already set");
        } else {
            match nix::unistd::sethostname(name) {
                Ok(()) => log::info!("hostname set"),
                Err(e) => log::warn!("stage=hostname: cannot set the hostname: {}", e),
            }
        }
    }
    if !plan.network.write_etc {
        if plan.hostname.is_some() || !plan.network.resolvers.is_empty() {
            log::info!(
                "pidone:hosts is false: {} and {} left alone",
                HOSTS,
                RESOLV_CONF
            );
        }
        return Ok(());
    }
    let net = &plan.network;
    if plan.hostname.is_some() || !net.extra_hosts.is_empty() || !net.link_hosts.is_empty() {
        let mut text = hosts(plan.hostname.as_deref(), primary_address(plan));
        for (addr, name) in &net.extra_hosts {
            let _ = writeln!(text, "{}\t{}", addr, name);
        }
        text.push_str(&net.link_hosts);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        write_unless_platforms(plan, Path::new(HOSTS), &text);
    }
    if !net.resolvers.is_empty() || !net.dns_search.is_empty() {
        write_unless_platforms(plan, Path::new(RESOLV_CONF), &resolv_conf(plan));
    }
    Ok(())
}

/// In a zone the platform (vmadm) writes these files before the zone
/// boots: a file with content is then its, and stays.
fn write_unless_platforms(plan: &Plan, path: &Path, text: &str) {
    if plan.network.keep_platform_etc && std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        log::info!("{} left as the platform wrote it", path.display());
        return;
    }
    write(path, text);
}

/// Replace /etc/resolv.conf with `text`; also used by the network stage
/// for what DHCP leases say.
pub fn write_resolv_conf(text: &str) -> std::io::Result<()> {
    // A bind-mounted resolv.conf (as engines provide) cannot be renamed
    // over: `replace` writes it in place then.
    files::replace(Path::new(RESOLV_CONF), text.as_bytes(), 0o666)
}

fn write(path: &Path, text: &str) {
    let r = if path == Path::new(RESOLV_CONF) {
        write_resolv_conf(text)
    } else {
        files::write_atomically(path, text.as_bytes(), 0o666)
    };
    match r {
        Ok(()) => log::info!("wrote {}", path.display()),
        Err(e) => log::warn!("stage=hostname: cannot write {}: {}", path.display(), e),
    }
}

/// The first address of the primary NIC (or of the first NIC).
fn primary_address(plan: &Plan) -> Option<IpAddr> {
    let nics = &plan.network.nics;
    nics.iter()
        .find(|n| n.primary)
        .or_else(|| nics.first())
        .and_then(|n| n.addrs.first())
        .map(|c| c.addr)
}

fn hosts(name: Option<&str>, addr: Option<IpAddr>) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if let Some(name) = name {
        // Without an address of its own the name still resolves, as
        // Debian does it.
        let addr = addr.map_or_else(|| "127.0.1.1".to_string(), |a| a.to_string());
        let _ = writeln!(s, "{}\t{}", addr, name);
    }
    s
}

fn resolv_conf(plan: &Plan) -> String {
    resolv_conf_text(
        String::new(),
        &plan.network.resolvers,
        &plan.network.dns_search,
    )
}

/// resolv.conf's text: `head`, then the servers and the search list.
pub fn resolv_conf_text(head: String, servers: &[IpAddr], search: &[String]) -> String {
    let mut s = head;
    for r in servers {
        let _ = writeln!(s, "nameserver {}", r);
    }
    if !search.is_empty() {
        let _ = writeln!(s, "search {}", search.join(" "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Cidr, Nic, Personality};

    #[test]
    fn hosts_and_resolv_conf_text() {
        let mut p = Plan::new(Personality::Metadata);
        assert!(hosts(Some("box"), None).ends_with("127.0.1.1\tbox\n"));
        p.network.nics = vec![
            Nic {
                addrs: vec![Cidr {
                    addr: "10.0.0.2".parse().unwrap(),
                    prefix: 24,
                }],
                ..Nic::default()
            },
            Nic {
                addrs: vec![Cidr {
                    addr: "10.1.0.2".parse().unwrap(),
                    prefix: 24,
                }],
                primary: true,
                ..Nic::default()
            },
        ];
        assert!(hosts(Some("box"), primary_address(&p)).ends_with("10.1.0.2\tbox\n"));
        p.network.resolvers = vec!["8.8.8.8".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        p.network.dns_search = vec!["a.example".into(), "b.example".into()];
        assert_eq!(
            resolv_conf(&p),
            "nameserver 8.8.8.8\nnameserver 2001:db8::1\nsearch a.example b.example\n"
        );
    }
}
