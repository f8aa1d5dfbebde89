//! The machine keys of a metadata document: `pidone:modules`,
//! `pidone:root` and `pidone:poweroff`. The metadata parser calls `key`
//! for each `pidone:` key that `is_machine_key`.
//!
//! As for every key, a JSON value may also come as JSON text in a string.

use std::path::PathBuf;

use serde_json::Value;

use crate::error::{Error, Result, Stage};
use crate::plan::{Plan, PowerAction, RootSwitch};
use crate::values;

pub const MODULES: &str = "pidone:modules";
pub const ROOT: &str = "pidone:root";
pub const POWEROFF: &str = "pidone:poweroff";

fn bad(key: &str, expected: &str) -> Error {
    Error::new(Stage::Metadata, format!("{}: expected {}", key, expected))
}

/// The value, or the JSON text a string holds; a string that is not JSON
/// is kept as it is (and then refused as the wrong kind).
fn decoded(v: &Value) -> Value {
    values::json_in_string(v).unwrap_or_else(|_| v.clone())
}

fn modules(v: &Value) -> Result<Vec<String>> {
    const FORM: &str = "an array of module names, e.g. [\"virtio_pci\", \"virtio_net\"]";
    match decoded(v) {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) if !s.is_empty() && !s.contains(['/', '\0']) => Ok(s.clone()),
                _ => Err(bad(MODULES, FORM)),
            })
            .collect(),
        _ => Err(bad(MODULES, FORM)),
    }
}

fn root(v: &Value) -> Result<Option<RootSwitch>> {
    const FORM: &str = "{\"device\": PATH, \"fstype\": TYPE, \"options\": OPTIONS} (fstype and options optional) or null";
    let obj = match decoded(v) {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => return Err(bad(ROOT, FORM)),
    };
    let text = |k: &str| -> Result<Option<String>> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(&format!("{}.{}", ROOT, k), "a string")),
        }
    };
    let device = text("device")?
        .filter(|d| !d.is_empty())
        .ok_or_else(|| bad(ROOT, FORM))?;
    Ok(Some(RootSwitch {
        device: PathBuf::from(device),
        fstype: text("fstype")?.unwrap_or_else(|| "ext4".into()),
        options: values::mount_options(&text("options")?.unwrap_or_default()),
    }))
}

fn power(v: &Value) -> Result<PowerAction> {
    v.as_str()
        .and_then(values::power_action)
        .ok_or_else(|| bad(POWEROFF, "\"poweroff\", \"reboot\" or \"halt\""))
}

/// Is `key` one of the machine keys?
pub fn is_machine_key(key: &str) -> bool {
    matches!(key, MODULES | ROOT | POWEROFF)
}

/// Apply one machine key to `plan.machine`. Outside machine mode the keys
/// mean nothing: a warning, not an error. (The metadata parser calls this
/// for each `pidone:` key that `is_machine_key`.)
pub fn key(key: &str, v: &Value, plan: &mut Plan) -> Result<()> {
    let Some(machine) = plan.machine.as_mut() else {
        plan.warnings.push(format!(
            "{} ignored: pidone is not the init of a machine",
            key
        ));
        return Ok(());
    };
    match key {
        // The document's modules come after those of the kernel command line.
        MODULES => {
            for m in modules(v)? {
                if !machine.modules.contains(&m) {
                    machine.modules.push(m);
                }
            }
        }
        ROOT => {
            if let Some(r) = root(v)? {
                machine.root = Some(r);
            }
        }
        POWEROFF => machine.power = power(v)?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Machine, Personality};
    use serde_json::Map;

    /// Every machine key of a whole document, in the document's order.
    fn apply(doc: &Map<String, Value>, plan: &mut Plan) -> Result<()> {
        for (k, v) in doc.iter().filter(|(k, _)| is_machine_key(k)) {
            key(k, v, plan)?;
        }
        Ok(())
    }

    fn obj(text: &str) -> Map<String, Value> {
        match serde_json::from_str(text) {
            Ok(Value::Object(o)) => o,
            other => panic!("{:?}", other),
        }
    }

    fn machine_plan() -> Plan {
        let mut p = Plan::new(Personality::Machine);
        p.machine = Some(Machine {
            mounts: true,
            modules: Vec::new(),
            root: None,
            power: PowerAction::PowerOff,
        });
        p
    }

    #[test]
    fn native_and_string_encoded() {
        for doc in [
            r#"{"pidone:modules": ["virtio_pci", "virtio_net"], "pidone:root": {"device": "/dev/vda", "options": "ro"}, "pidone:poweroff": "reboot"}"#,
            r#"{"pidone:modules": "[\"virtio_pci\", \"virtio_net\"]", "pidone:root": "{\"device\": \"/dev/vda\", \"options\": \"ro\"}", "pidone:poweroff": "reboot"}"#,
        ] {
            let mut p = machine_plan();
            apply(&obj(doc), &mut p).expect(doc);
            let m = p.machine.expect("machine");
            assert_eq!(m.modules, vec!["virtio_pci", "virtio_net"]);
            assert_eq!(m.power, PowerAction::Reboot);
            let r = m.root.expect("root");
            assert_eq!(r.device, PathBuf::from("/dev/vda"));
            assert_eq!(r.fstype, "ext4");
            assert_eq!(r.options, "ro");
        }
    }

    #[test]
    fn bad_values_name_the_key() {
        for (doc, key) in [
            (r#"{"pidone:modules": "virtio_net"}"#, MODULES),
            (r#"{"pidone:modules": [1]}"#, MODULES),
            (r#"{"pidone:modules": ["../x"]}"#, MODULES),
            (r#"{"pidone:root": {"fstype": "ext4"}}"#, ROOT),
            (r#"{"pidone:root": {"device": 3}}"#, "pidone:root.device"),
            (r#"{"pidone:root": 7}"#, ROOT),
            (r#"{"pidone:poweroff": "explode"}"#, POWEROFF),
            (r#"{"pidone:poweroff": true}"#, POWEROFF),
        ] {
            let mut p = machine_plan();
            let e = apply(&obj(doc), &mut p).expect_err(doc);
            assert_eq!(e.code, 125);
            assert!(e.message.starts_with(key), "{}: {}", doc, e.message);
        }
    }

    #[test]
    fn ignored_outside_a_machine() {
        let mut p = Plan::new(Personality::Metadata);
        apply(&obj(r#"{"pidone:poweroff": "halt", "other": 1}"#), &mut p).expect("apply");
        assert!(is_machine_key("pidone:root") && !is_machine_key("pidone:grace"));
        assert!(p.machine.is_none());
        assert_eq!(p.warnings.len(), 1);
        let mut p = Plan::new(Personality::Metadata);
        apply(&obj(r#"{"other": 1}"#), &mut p).expect("apply");
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn modules_merge_with_the_command_line() {
        let mut p = machine_plan();
        if let Some(m) = p.machine.as_mut() {
            m.modules = vec!["virtio_net".into()];
        }
        apply(
            &obj(r#"{"pidone:modules": ["virtio_pci", "virtio_net"], "pidone:root": null}"#),
            &mut p,
        )
        .expect("apply");
        let m = p.machine.expect("machine");
        assert_eq!(m.modules, vec!["virtio_net", "virtio_pci"]);
        assert!(m.root.is_none());
    }
}
