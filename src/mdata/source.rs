//! Where the metadata comes from, in one documented order:
//!
//! 1. what the caller named (`--metadata`, `PIDONE_METADATA`, the kernel's
//!    `pidone.metadata=`): a file, `-`, `socket:PATH` or `serial:DEVICE`;
//! 2. else the zone's metadata socket, the first that exists in
//!    mdata-client's order;
//! 3. else `/etc/pidone/metadata.json` when it exists;
//! 4. else, as the init of a machine, the serial port `/dev/ttyS1` when
//!    the DMI product name says Triton (`SmartDC ...`, as cloud-init
//!    checks).
//!
//! The decision is pure: what exists is passed in.

use std::fmt;
use std::path::{Path, PathBuf};

pub const ZONE_SOCKETS: [&str; 3] = [
    "/.zonecontrol/metadata.sock",
    // LX-branded zones see the platform's files under /native.
    "/native/.zonecontrol/metadata.sock",
    // Older platforms.
    "/var/run/smartdc/metadata.sock",
];
pub const SERIAL_DEVICE: &str = "/dev/ttyS1";
pub const DMI_PRODUCT: &str = "/sys/class/dmi/id/product_name";
/// What a Triton HVM guest's DMI product name starts with.
pub const TRITON_PRODUCT: &str = "SmartDC";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Stdin,
    File(PathBuf),
    Socket(PathBuf),
    Serial(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Stdin => f.write_str("standard input"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Socket(p) => write!(f, "the metadata service on socket {}", p.display()),
            Origin::Serial(p) => write!(f, "the metadata service on serial port {}", p.display()),
        }
    }
}

/// `-`, `socket:PATH`, `serial:DEVICE` (`serial` alone: `/dev/ttyS1`), or
/// a file's path.
pub fn parse(spec: &str) -> Origin {
    if spec == "-" {
        Origin::Stdin
    } else if let Some(p) = spec.strip_prefix("socket:") {
        Origin::Socket(p.into())
    } else if spec == "serial" {
        Origin::Serial(SERIAL_DEVICE.into())
    } else if let Some(p) = spec.strip_prefix("serial:") {
        Origin::Serial(p.into())
    } else {
        Origin::File(spec.into())
    }
}

/// What the search looked at, for the log and for the "no source" line.
#[derive(Debug, Default)]
pub struct Probe {
    pub tried: Vec<String>,
}

pub struct Facts<'a> {
    /// Is there a unix socket at this path?
    pub socket: &'a dyn Fn(&Path) -> bool,
    /// Is there a file at this path?
    pub file: &'a dyn Fn(&Path) -> bool,
    /// Some(DMI product name, or "" when unreadable) in machine mode.
    pub machine: Option<&'a str>,
}

/// The search (steps 2-4), given no explicit source. Ok: the choice and
/// what was looked at before it; Err: the one line listing everything.
pub fn search(facts: &Facts, default_file: &Path) -> Result<(Origin, Probe), String> {
    let mut probe = Probe::default();
    for s in ZONE_SOCKETS {
        let p = Path::new(s);
        if (facts.socket)(p) {
            return Ok((Origin::Socket(p.into()), probe));
        }
        probe.tried.push(format!("no socket {}", s));
    }
    if (facts.file)(default_file) {
        return Ok((Origin::File(default_file.into()), probe));
    }
    probe
        .tried
        .push(format!("no file {}", default_file.display()));
    match facts.machine {
        Some(product) if product.starts_with(TRITON_PRODUCT) => {
            return Ok((Origin::Serial(SERIAL_DEVICE.into()), probe))
        }
        Some("") => probe
            .tried
            .push("no DMI product name (so no serial metadata)".into()),
        Some(product) => probe.tried.push(format!(
            "DMI product name {:?} is not a Triton guest's (so no serial metadata)",
            product.chars().take(40).collect::<String>()
        )),
        None => {}
    }
    Err(format!(
        "no metadata source: {}; name one with --metadata PATH|socket:PATH|serial:DEVICE, PIDONE_METADATA or pidone.metadata=",
        probe.tried.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(parse("-"), Origin::Stdin);
        assert_eq!(parse("/m.json"), Origin::File("/m.json".into()));
        assert_eq!(parse("socket:/s"), Origin::Socket("/s".into()));
        assert_eq!(parse("serial"), Origin::Serial("/dev/ttyS1".into()));
        assert_eq!(
            parse("serial:/dev/ttyS2"),
            Origin::Serial("/dev/ttyS2".into())
        );
    }

    fn run(sockets: &[&str], file: bool, machine: Option<&str>) -> Result<Origin, String> {
        let s = |p: &Path| sockets.iter().any(|x| Path::new(x) == p);
        let f = |_: &Path| file;
        let facts = Facts {
            socket: &s,
            file: &f,
            machine,
        };
        search(&facts, Path::new("/etc/pidone/metadata.json")).map(|(o, _)| o)
    }

    #[test]
    fn the_order() {
        let all = ZONE_SOCKETS;
        assert_eq!(run(&all, true, None), Ok(Origin::Socket(all[0].into())));
        assert_eq!(
            run(&all[1..], true, None),
            Ok(Origin::Socket(all[1].into()))
        );
        assert_eq!(
            run(&all[2..], true, None),
            Ok(Origin::Socket(all[2].into()))
        );
        assert_eq!(
            run(&[], true, Some("SmartDC HVM")),
            Ok(Origin::File("/etc/pidone/metadata.json".into()))
        );
        assert_eq!(
            run(&[], false, Some("SmartDC HVM")),
            Ok(Origin::Serial("/dev/ttyS1".into()))
        );
        let e = run(&[], false, None).unwrap_err();
        assert_eq!(
            e,
            "no metadata source: no socket /.zonecontrol/metadata.sock, no socket /native/.zonecontrol/metadata.sock, no socket /var/run/smartdc/metadata.sock, no file /etc/pidone/metadata.json; name one with --metadata PATH|socket:PATH|serial:DEVICE, PIDONE_METADATA or pidone.metadata="
        );
        let e = run(&[], false, Some("Standard PC (i440FX + PIIX, 1996)")).unwrap_err();
        assert!(e.contains("DMI product name \"Standard PC"), "{}", e);
        assert!(run(&[], false, Some(""))
            .unwrap_err()
            .contains("no DMI product name"));
    }
}
