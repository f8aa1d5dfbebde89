//! Where the metadata comes from when the caller named nothing (`--metadata`,
//! `PIDONE_METADATA`, the kernel's `pidone.metadata=` come first):
//!
//! 1. the zone's metadata socket, the first that exists in mdata-client's
//!    order;
//! 2. else `/etc/pidone/metadata.json` when it exists;
//! 3. else, as the init of a machine, the serial port `/dev/ttyS1` when
//!    the DMI product name says Triton (`SmartDC ...`, as cloud-init
//!    checks).
//!
//! The decision is pure: what exists is passed in.

use std::path::Path;

use crate::cli::{Source, SERIAL_DEVICE};

pub const ZONE_SOCKETS: [&str; 3] = [
    "/.zonecontrol/metadata.sock",
    // LX-branded zones see the platform's files under /native.
    "/native/.zonecontrol/metadata.sock",
    // Older platforms.
    "/var/run/smartdc/metadata.sock",
];
/// What a Triton HVM guest's DMI product name starts with.
pub const TRITON_PRODUCT: &str = "SmartDC";

pub struct Facts<'a> {
    /// Is there a unix socket at this path?
    pub socket: &'a dyn Fn(&Path) -> bool,
    /// Is there a file at this path?
    pub file: &'a dyn Fn(&Path) -> bool,
    /// Some(DMI product name, or "" when unreadable) in machine mode.
    pub machine: Option<&'a str>,
}

/// Ok: the choice and what was looked at before it (for the log); Err:
/// the one line listing everything tried.
pub fn search(facts: &Facts, default_file: &Path) -> Result<(Source, Vec<String>), String> {
    let mut tried = Vec::new();
    for s in ZONE_SOCKETS {
        let p = Path::new(s);
        if (facts.socket)(p) {
            return Ok((Source::Socket(p.into()), tried));
        }
        tried.push(format!("no socket {}", s));
    }
    if (facts.file)(default_file) {
        return Ok((Source::File(default_file.into()), tried));
    }
    tried.push(format!("no file {}", default_file.display()));
    match facts.machine {
        Some(product) if product.starts_with(TRITON_PRODUCT) => {
            tried.push(format!("DMI product name {:?}: a Triton guest", product));
            return Ok((Source::Serial(SERIAL_DEVICE.into()), tried));
        }
        Some("") => tried.push("no DMI product name (so no serial metadata)".into()),
        Some(product) => tried.push(format!(
            "DMI product name {:?} is not a Triton guest's (so no serial metadata)",
            product.chars().take(40).collect::<String>()
        )),
        None => {}
    }
    Err(format!(
        "no metadata source: {}; name one with --metadata PATH|socket:PATH|serial:DEVICE, PIDONE_METADATA or pidone.metadata=",
        tried.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::source;

    #[test]
    fn specs() {
        assert_eq!(source("-"), Source::Stdin);
        assert_eq!(source("/m.json"), Source::File("/m.json".into()));
        assert_eq!(source("socket:/s"), Source::Socket("/s".into()));
        assert_eq!(source("serial"), Source::Serial("/dev/ttyS1".into()));
        assert_eq!(
            source("serial:/dev/ttyS2"),
            Source::Serial("/dev/ttyS2".into())
        );
    }

    fn run(sockets: &[&str], file: bool, machine: Option<&str>) -> Result<Source, String> {
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
        assert_eq!(run(&all, true, None), Ok(Source::Socket(all[0].into())));
        assert_eq!(
            run(&all[1..], true, None),
            Ok(Source::Socket(all[1].into()))
        );
        assert_eq!(
            run(&all[2..], true, None),
            Ok(Source::Socket(all[2].into()))
        );
        assert_eq!(
            run(&[], true, Some("SmartDC HVM")),
            Ok(Source::File("/etc/pidone/metadata.json".into()))
        );
        assert_eq!(
            run(&[], false, Some("SmartDC HVM")),
            Ok(Source::Serial("/dev/ttyS1".into()))
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
