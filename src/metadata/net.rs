//! `sdc:nics` and `sdc:routes` values into the plan's network.
//!
//! SmartOS fields (`interface`, `ip`, `netmask`, `primary`, `gateway`;
//! `dst`, `gateway`, `linklocal`) plus those SmartOS left out: `ips` (CIDR
//! list, IPv4 and IPv6), `gateways`, `mtu`, `mac`. Unknown fields (nic_tag,
//! vlan_id, ...) are ignored. A malformed value is one error line naming the
//! NIC or route and the field.

use std::net::IpAddr;

use serde_json::Value;

use crate::error::{Error, Result, Stage};
use crate::plan::{Cidr, Nic, Route};
use crate::values::{self, mac, netmask};

fn cidr(s: &str, host: bool) -> std::result::Result<Cidr, String> {
    values::cidr(s, host).map_err(|e| e.to_string())
}

fn bad(what: &str, field: &str, why: String) -> Error {
    Error::new(
        Stage::Metadata,
        format!("{}: field \"{}\": {}", what, field, why),
    )
}

/// Values may arrive as JSON text inside a string (metadata services store
/// strings); decode once more in that case.
fn decoded(value: &Value, key: &str) -> Result<Value> {
    values::json_in_string(value)
        .map_err(|e| Error::new(Stage::Metadata, format!("{}: not valid JSON: {}", key, e)))
}

fn array(value: &Value, key: &str) -> Result<Vec<Value>> {
    match decoded(value, key)? {
        Value::Array(a) => Ok(a),
        Value::Null => Ok(Vec::new()),
        _ => Err(Error::new(
            Stage::Metadata,
            format!("{}: expected a JSON array", key),
        )),
    }
}

fn string<'a>(obj: &'a Value, field: &str, what: &str) -> Result<Option<&'a str>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(v) => Err(bad(what, field, format!("expected a string, got {}", v))),
    }
}

fn boolean(obj: &Value, field: &str, what: &str) -> Result<bool> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" || s.is_empty() => Ok(false),
        Some(v) => Err(bad(
            what,
            field,
            format!("expected true or false, got {}", v),
        )),
    }
}

fn ip(s: &str, what: &str, field: &str) -> Result<IpAddr> {
    s.parse()
        .map_err(|_| bad(what, field, format!("\"{}\" is not an IP address", s)))
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// One `sdc:nics` element: how to find the link, then its addresses,
/// gateways and MTU.
fn nic(obj: &Value, i: usize) -> Result<Nic> {
    if !obj.is_object() {
        return Err(Error::new(
            Stage::Metadata,
            format!("sdc:nics[{}]: expected an object", i),
        ));
    }
    let interface =
        string(obj, "interface", &format!("sdc:nics[{}]", i))?.filter(|s| !s.is_empty());
    let what = match interface {
        Some(name) => format!("nic {}", name),
        None => format!("nic #{}", i),
    };
    let what = what.as_str();
    let mut n = Nic {
        interface: interface.map(str::to_string),
        primary: boolean(obj, "primary", what)?,
        ..Nic::default()
    };
    if let Some(m) = string(obj, "mac", what)? {
        n.mac = Some(
            mac(m).ok_or_else(|| bad(what, "mac", format!("\"{}\" is not a MAC address", m)))?,
        );
    }
    if n.interface.is_none() && n.mac.is_none() {
        return Err(Error::new(
            Stage::Metadata,
            format!("{}: needs \"interface\" or \"mac\" to find its link", what),
        ));
    }
    addresses(obj, what, &mut n)?;
    gateways(obj, what, &mut n)?;
    n.mtu = mtu(obj, what)?;
    Ok(n)
}

/// `ip` (with `netmask`, or `dhcp`) and `ips`.
fn addresses(obj: &Value, what: &str, n: &mut Nic) -> Result<()> {
    match string(obj, "ip", what)? {
        None | Some("") => {}
        Some("dhcp") => n.dhcp = true,
        Some(a) => {
            let c = if a.contains('/') {
                cidr(a, false).map_err(|e| bad(what, "ip", e))?
            } else {
                let addr = ip(a, what, "ip")?;
                let prefix = match (string(obj, "netmask", what)?, addr) {
                    (Some(m), IpAddr::V4(_)) => netmask(m).map_err(|e| bad(what, "netmask", e))?,
                    (None, IpAddr::V4(_)) => {
                        return Err(bad(
                            what,
                            "netmask",
                            format!("missing (needed with \"ip\" {})", a),
                        ));
                    }
                    // An IPv6 "ip" without a length: the usual /64.
                    (_, IpAddr::V6(_)) => 64,
                };
                Cidr { addr, prefix }
            };
            n.addrs.push(c);
        }
    }
    match obj.get("ips") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for v in list {
                let s = v
                    .as_str()
                    .ok_or_else(|| bad(what, "ips", format!("expected strings, got {}", v)))?
                    .trim();
                match s {
                    "dhcp" => n.dhcp = true,
                    // IPv6 autoconfiguration is the kernel's own once the link
                    // is up (accept_ra); nothing to add.
                    "addrconf" => {}
                    _ => push_unique(
                        &mut n.addrs,
                        cidr(s, false).map_err(|e| bad(what, "ips", e))?,
                    ),
                }
            }
        }
        Some(v) => return Err(bad(what, "ips", format!("expected an array, got {}", v))),
    }
    Ok(())
}

/// `gateway` and `gateways`.
fn gateways(obj: &Value, what: &str, n: &mut Nic) -> Result<()> {
    if let Some(g) = string(obj, "gateway", what)?.filter(|s| !s.is_empty()) {
        n.gateways.push(ip(g, what, "gateway")?);
    }
    match obj.get("gateways") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for v in list {
                let s = v
                    .as_str()
                    .ok_or_else(|| bad(what, "gateways", format!("expected strings, got {}", v)))?;
                push_unique(&mut n.gateways, ip(s.trim(), what, "gateways")?);
            }
        }
        Some(v) => {
            return Err(bad(
                what,
                "gateways",
                format!("expected an array, got {}", v),
            ))
        }
    }
    Ok(())
}

fn mtu(obj: &Value, what: &str) -> Result<Option<u32>> {
    let Some(v) = obj.get("mtu").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let m = match v {
        Value::Number(x) => x.as_u64().and_then(values::mtu_number),
        Value::String(s) => values::mtu(s),
        _ => None,
    };
    m.map(Some)
        .ok_or_else(|| bad(what, "mtu", format!("{} is not an MTU (68-65535)", v)))
}

/// Parse the value of `sdc:nics` (a JSON array, or JSON text of one).
pub fn nics(value: &Value) -> Result<Vec<Nic>> {
    array(value, "sdc:nics")?
        .iter()
        .enumerate()
        .map(|(i, v)| nic(v, i))
        .collect()
}

/// Parse the value of `sdc:routes`.
pub fn routes(value: &Value) -> Result<Vec<Route>> {
    let mut out = Vec::new();
    for (i, obj) in array(value, "sdc:routes")?.iter().enumerate() {
        let label = format!("sdc:routes[{}]", i);
        if !obj.is_object() {
            return Err(Error::new(
                Stage::Metadata,
                format!("{}: expected an object", label),
            ));
        }
        let dst =
            string(obj, "dst", &label)?.ok_or_else(|| bad(&label, "dst", "missing".into()))?;
        let what = format!("route {}", dst);
        let dst = cidr(dst, true).map_err(|e| bad(&what, "dst", e))?;
        let gateway = match string(obj, "gateway", &what)?.filter(|s| !s.is_empty()) {
            Some(g) => Some(ip(g, &what, "gateway")?),
            None => None,
        };
        out.push(Route {
            dst,
            gateway,
            linklocal: boolean(obj, "linklocal", &what)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(s: &str) -> Cidr {
        cidr(s, true).unwrap()
    }

    #[test]
    fn smartos_nic() {
        let v = json!([{"interface": "net0", "ip": "10.88.0.5", "netmask": "255.255.255.0",
                        "primary": true, "gateway": "10.88.0.1", "nic_tag": "external", "vlan_id": 0}]);
        let n = nics(&v).unwrap();
        assert_eq!(
            n,
            vec![Nic {
                interface: Some("net0".into()),
                mac: None,
                addrs: vec![c("10.88.0.5/24")],
                dhcp: false,
                gateways: vec!["10.88.0.1".parse().unwrap()],
                mtu: None,
                primary: true,
            }]
        );
    }

    #[test]
    fn extended_fields_and_string_encoding() {
        let text = r#"[{"mac": "02:AB:cd:00:00:01", "ip": "10.0.0.2", "netmask": "255.255.0.0",
            "ips": ["10.0.0.2/16", "fd00::2/64", "addrconf"], "gateways": ["10.0.0.1", "fd00::1"],
            "mtu": "1400", "primary": "true"}, {"interface": "eth1", "ip": "dhcp", "mtu": 9000}]"#;
        let n = nics(&Value::String(text.into())).unwrap();
        assert_eq!(n[0].mac, Some([2, 0xab, 0xcd, 0, 0, 1]));
        assert_eq!(n[0].addrs, vec![c("10.0.0.2/16"), c("fd00::2/64")]);
        assert_eq!(n[0].gateways.len(), 2);
        assert_eq!(
            (n[0].mtu, n[0].primary, n[0].dhcp),
            (Some(1400), true, false)
        );
        assert!(n[1].dhcp && n[1].addrs.is_empty());
        assert_eq!(n[1].mtu, Some(9000));
    }

    fn err(v: Value) -> String {
        let e = nics(&v).unwrap_err();
        assert_eq!(e.code, 125);
        e.message
    }

    #[test]
    fn malformed_nics_name_nic_and_field() {
        assert_eq!(
            err(json!([{"interface": "eth0", "ips": ["10.0.0.2/33"]}])),
            "nic eth0: field \"ips\": \"10.0.0.2/33\" has a bad prefix length (0-32)"
        );
        assert!(
            err(json!([{"interface": "eth0", "ip": "10.0.0.2", "netmask": "255.0.255.0"}]))
                .starts_with("nic eth0: field \"netmask\"")
        );
        assert!(
            err(json!([{"interface": "eth0", "ip": "10.0.0.2"}])).contains("\"netmask\": missing")
        );
        assert!(
            err(json!([{"interface": "eth0", "ip": "10.0.0.300", "netmask": "255.0.0.0"}]))
                .starts_with("nic eth0: field \"ip\"")
        );
        assert!(
            err(json!([{"interface": "eth0", "ips": ["10.0.0.2"]}])).contains("not address/prefix")
        );
        assert!(err(json!([{"interface": "eth0", "gateway": "x"}]))
            .starts_with("nic eth0: field \"gateway\""));
        assert!(
            err(json!([{"interface": "eth0", "mtu": 10}])).starts_with("nic eth0: field \"mtu\"")
        );
        assert!(err(json!([{"mac": "02:00:00:00:00"}])).starts_with("nic #0: field \"mac\""));
        assert!(err(json!([{"ip": "dhcp"}])).contains("needs \"interface\" or \"mac\""));
        assert!(err(json!({"interface": "eth0"})).contains("expected a JSON array"));
        assert!(err(json!("[not json")).contains("not valid JSON"));
    }

    #[test]
    fn routes_host_and_linklocal() {
        let v = json!([
            {"dst": "10.20.0.0/16", "gateway": "10.0.0.254"},
            {"dst": "192.168.5.7", "gateway": "10.0.0.254"},
            {"dst": "fd01::1", "gateway": "fd00::1"},
            {"dst": "172.16.0.0/12", "gateway": "10.0.0.2", "linklocal": true}
        ]);
        let r = routes(&v).unwrap();
        assert_eq!(r[0].dst, c("10.20.0.0/16"));
        assert_eq!(r[1].dst, c("192.168.5.7/32"));
        assert_eq!(r[2].dst, c("fd01::1/128"));
        assert!(r[3].linklocal && !r[0].linklocal);
        assert_eq!(r[3].gateway, Some("10.0.0.2".parse().unwrap()));
        let e = routes(&json!([{"dst": "10.0.0/8", "gateway": "10.0.0.1"}])).unwrap_err();
        assert_eq!(
            e.message,
            "route 10.0.0/8: field \"dst\": \"10.0.0\" is not an IP address"
        );
        assert!(routes(&json!([{"gateway": "10.0.0.1"}]))
            .unwrap_err()
            .message
            .contains("missing"));
        assert!(routes(&Value::Null).unwrap().is_empty());
    }
}
