//! A zone's side of the metadata service: fetch the keys pidone reads
//! into one SmartOS-shape document (for `metadata::parse`, which gives
//! them meaning), and the handshakes of a SmartOS zone's init: the attach
//! wait and the provisioning marker.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::client::{Client, Transport, OPEN_DEADLINE, REQUEST_DEADLINE};
use crate::error::{Error, Result, Stage};
use crate::metadata::SERVICE_KEYS;

pub const ATTACH_KEY: &str = "docker:wait_for_attach";
/// What the zone init PUTs while it waits, and DELETEs after.
pub const ATTACH_MARKER: &str = "__dockerinit_waiting_for_attach";
/// How often the attach key is asked for again (as the zone init does).
pub const ATTACH_POLL: Duration = Duration::from_millis(200);

/// A SmartOS zone's console devices (0: terminal or stdin, 1, 2).
pub const ZFD: &str = "/dev/zfd";

/// What a zone's platform provides: with the metadata from the zone's
/// socket, /etc/hosts and /etc/resolv.conf are the platform's when it wrote
/// them; and the zone's own console devices where the platform made them,
/// unless `pidone:console` chose another.
pub fn for_zone(plan: &mut crate::plan::Plan, zone_socket: bool) {
    plan.network.keep_platform_etc = zone_socket;
    if let Some(c) = plan.console.as_mut() {
        if c.path.as_os_str() == crate::metadata::DEFAULT_CONSOLE
            && std::path::Path::new(ZFD).is_dir()
        {
            c.path = ZFD.into();
        }
    }
}

pub const PROVISIONING: &str = "/var/svc/provisioning";
pub const PROVISION_SUCCESS: &str = "/var/svc/provision_success";

/// An open connection to the service, kept for the handshakes.
pub struct Session {
    client: Client,
    transport: Transport,
}

fn fail(msg: String) -> Error {
    Error::new(Stage::Metadata, msg)
}

impl Session {
    pub fn open(t: &Transport) -> Result<Session> {
        let client = Client::open(t, OPEN_DEADLINE, REQUEST_DEADLINE)
            .map_err(|e| fail(format!("metadata service on {}: {}", t, e)))?;
        Ok(Session {
            client,
            transport: t.clone(),
        })
    }

    /// `the metadata service on socket X (protocol V2)`, for the log.
    pub fn describe(&self) -> String {
        format!(
            "the metadata service on {} (protocol V{})",
            self.transport,
            self.client.version()
        )
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        self.client.get(key).map_err(|e| {
            fail(format!(
                "{}: {} (metadata service on {})",
                key, e, self.transport
            ))
        })
    }

    /// Every key pidone reads, as one JSON object of strings: exactly a
    /// SmartOS zone's metadata. Absent keys are left out.
    pub fn fetch(&mut self) -> Result<Map<String, Value>> {
        let mut doc = Map::new();
        for &key in SERVICE_KEYS {
            if let Some(v) = self.get(key)? {
                let s = String::from_utf8(v).map_err(|_| {
                    fail(format!(
                        "{}: the value is not UTF-8 text (metadata service on {})",
                        key, self.transport
                    ))
                })?;
                doc.insert(key.to_string(), Value::String(s));
            }
        }
        Ok(doc)
    }

    /// `docker:wait_for_attach`: while the key is there, PUT the marker
    /// (once), and wait until it is gone (the user attached) or its time
    /// (milliseconds since the epoch) has passed; then DELETE the marker.
    pub fn wait_for_attach(&mut self) -> Result<()> {
        let mut put = false;
        let mut said = false;
        while let Some(v) = self.get(ATTACH_KEY)? {
            let until = attach_deadline(&v)?;
            if !put {
                let t = self.transport.clone();
                self.client.put(ATTACH_MARKER, &v).map_err(|e| {
                    fail(format!("{}: {} (metadata service on {})", ATTACH_KEY, e, t))
                })?;
                put = true;
            }
            let now = now_ms();
            if !said {
                log::info!("waiting for an attach until {} ms (now {} ms)", until, now);
                said = true;
            }
            if until < now {
                return Err(fail(format!(
                    "{}: timed out waiting for an attach",
                    ATTACH_KEY
                )));
            }
            std::thread::sleep(ATTACH_POLL);
        }
        if put {
            let t = self.transport.clone();
            self.client.delete(ATTACH_MARKER).map_err(|e| {
                fail(format!(
                    "{}: {} (metadata service on {})",
                    ATTACH_MARKER, e, t
                ))
            })?;
            log::info!("attached");
        }
        Ok(())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The attach key's value: a time in milliseconds since the epoch (the
/// zone init reads its leading digits; so does this).
pub fn attach_deadline(v: &[u8]) -> Result<u64> {
    let digits = v.iter().take_while(|c| c.is_ascii_digit()).count();
    std::str::from_utf8(v.get(..digits).unwrap_or_default())
        .ok()
        .and_then(|d| d.parse::<u64>().ok())
        .filter(|&t| t > 0)
        .ok_or_else(|| {
            fail(format!(
                "{}: not a time; expected milliseconds since the epoch",
                ATTACH_KEY
            ))
        })
}

/// Tell the platform the zone came up (vmadm waits for this rename): after
/// setup succeeded, just before the command starts. On a failed setup the
/// file stays, as the SmartOS zone init leaves it. Absent: nothing to do.
pub fn mark_provisioned() -> Result<()> {
    match std::fs::rename(PROVISIONING, PROVISION_SUCCESS) {
        Ok(()) => {
            log::info!("renamed {} to {}", PROVISIONING, PROVISION_SUCCESS);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail(format!(
            "cannot rename {} to {}: {}",
            PROVISIONING, PROVISION_SUCCESS, e
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_times() {
        assert_eq!(
            attach_deadline(b"1764620000000").unwrap(),
            1_764_620_000_000
        );
        assert_eq!(
            attach_deadline(b"1764620000000 ms").unwrap(),
            1_764_620_000_000
        );
        for bad in [&b""[..], b"0", b"-5", b"soon", b"99999999999999999999999"] {
            assert!(attach_deadline(bad).is_err(), "{:?}", bad);
        }
    }

    #[test]
    fn the_parser_knows_every_fetched_key() {
        use crate::plan::{Personality, Plan};
        for k in SERVICE_KEYS {
            let mut doc = Map::new();
            doc.insert("docker:cmd".into(), Value::String("[\"x\"]".into()));
            doc.insert(k.to_string(), Value::String(String::new()));
            let doc = serde_json::to_vec(&Value::Object(doc)).unwrap();
            // A bad value is an error about the key: it is known. An
            // unknown key would be a warning.
            if let Ok(p) = crate::metadata::parse(&doc, Plan::new(Personality::Tini)) {
                assert!(
                    !p.warnings.iter().any(|w| w.contains("unknown")),
                    "{}: {:?}",
                    k,
                    p.warnings
                );
            }
        }
    }
}
