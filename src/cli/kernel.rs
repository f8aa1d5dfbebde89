//! The kernel command line (`/proc/cmdline`, read by boot) of a machine
//! whose `/init` is pidone. Only `pidone.*` words are pidone's; every other
//! word belongs to the kernel and is ignored. Words after `--` are the
//! command (as libkrun does), used when no metadata document gives one.
//!
//!   pidone.metadata=SOURCE   a metadata document, socket:PATH, serial:DEVICE
//!   pidone.machine=0|1       force machine mode on or off (read by boot)
//!   pidone.verbose=N         log level on the console (0 warnings .. 3)
//!   pidone.grace=SECONDS     grace between SIGTERM and SIGKILL at the end
//!   pidone.poweroff=ACTION   poweroff (default), reboot or halt
//!   pidone.modules=A,B       kernel modules to load before the network
//!   pidone.hostname=NAME
//!   pidone.env=NAME=VALUE    an environment entry (repeatable)
//!   pidone.net=IF,ADDR/N[,GW]  an interface with a static address (repeatable;
//!   pidone.net=IF,dhcp         the first is the primary) or by DHCP
//!   pidone.dns=IP            a resolver (repeatable)
//!   pidone.root=DEVICE       switch to this root file system ...
//!   pidone.rootfstype=TYPE   ... of this type (default ext4) ...
//!   pidone.rootflags=OPTS    ... with these mount options
//!
//! Pure: text in, request out.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use super::{Request, Source};
use crate::error::{Error, Result};
use crate::plan::{Machine, Nic, Personality, Plan, PowerAction, RootSwitch};
use crate::values;

/// Split the command line as the kernel does: on blanks, double quotes
/// grouping (and removed), so `pidone.env="A=b c"` is one word.
pub fn words(cmdline: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in cmdline.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_ascii_whitespace() && !quoted => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

/// `pidone.machine=` as given: Some(true/false) or None when absent.
pub fn machine_flag(cmdline: &str) -> Option<bool> {
    let words = words(cmdline);
    let before = words.iter().take_while(|w| w.as_str() != "--");
    before
        .filter_map(|w| w.strip_prefix("pidone.machine="))
        .last()
        .map(|v| !matches!(v, "0" | "no" | "false" | "off"))
}

fn bad(key: &str, v: &str, expected: &str) -> Error {
    Error::new(
        crate::error::Stage::Usage,
        format!(
            "kernel command line: {}={:?}: expected {}",
            key, v, expected
        ),
    )
}

/// `IF,ADDR/N[,GW]` or `IF,dhcp`.
fn nic(v: &str, primary: bool) -> Result<Nic> {
    const FORM: &str = "IFACE,ADDRESS/PREFIX[,GATEWAY] or IFACE,dhcp";
    let mut parts = v.split(',');
    let (Some(interface), Some(addr)) = (parts.next().filter(|i| !i.is_empty()), parts.next())
    else {
        return Err(bad("pidone.net", v, FORM));
    };
    let mut nic = Nic {
        interface: Some(interface.to_string()),
        primary,
        ..Nic::default()
    };
    if addr == "dhcp" {
        nic.dhcp = true;
    } else {
        nic.addrs
            .push(values::cidr(addr, false).map_err(|_| bad("pidone.net", v, FORM))?);
    }
    for gw in parts {
        nic.gateways
            .push(gw.parse().map_err(|_| bad("pidone.net", v, FORM))?);
    }
    Ok(nic)
}

/// The plan a machine starts from, before anything is read.
pub fn machine_plan() -> Plan {
    let mut plan = Plan::new(Personality::Machine);
    // The kernel hands init HOME=/, TERM=linux and every unknown `a=b`
    // word as its environment: noise, not the command's environment.
    plan.env.inherit = false;
    plan.env.defaults = true;
    // Nothing else brings `lo` up in a fresh machine.
    plan.network.loopback = true;
    // Whatever the kernel or an initramfs left open is not the command's.
    plan.close_fds = true;
    plan.machine = Some(Machine {
        mounts: true,
        modules: Vec::new(),
        root: None,
        power: PowerAction::PowerOff,
    });
    plan
}

/// Parse `/proc/cmdline` into what the machine should do.
pub fn parse(cmdline: &str) -> Result<Request> {
    let mut plan = machine_plan();
    let mut machine = Machine {
        mounts: true,
        modules: Vec::new(),
        root: None,
        power: PowerAction::PowerOff,
    };
    let mut metadata: Option<Source> = None;
    let mut root_dev: Option<String> = None;
    let mut fstype = String::from("ext4");
    let mut flags = String::new();
    let words = words(cmdline);
    let mut it = words.iter();
    for w in it.by_ref() {
        if w == "--" {
            break;
        }
        let Some(opt) = w.strip_prefix("pidone.") else {
            continue;
        };
        let (key, v) = opt.split_once('=').unwrap_or((opt, ""));
        match key {
            "metadata" if !v.is_empty() => metadata = Some(super::source(v)),
            "machine" => {}
            "verbose" => {
                plan.log.verbosity = values::verbosity(v)
                    .ok_or_else(|| bad("pidone.verbose", v, "a number 0..3"))?
                    .min(3)
            }
            "keep_fds" => {
                plan.keep_fds = match v {
                    "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => return Err(bad("pidone.keep_fds", v, "1 or 0")),
                };
                plan.close_fds = !plan.keep_fds;
            }
            "no_new_privs" => {
                plan.no_new_privs = match v {
                    "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => return Err(bad("pidone.no_new_privs", v, "1 or 0")),
                }
            }
            "oom_exit" | "cgroup_nest" => {
                let on = match v {
                    "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => return Err(bad(&format!("pidone.{}", key), v, "1 or 0")),
                };
                if key == "oom_exit" {
                    plan.oom_exit = on;
                } else {
                    plan.cgroup_nest = on;
                }
            }
            "grace" => {
                plan.grace = values::seconds(v).ok_or_else(|| bad("pidone.grace", v, "seconds"))?
            }
            // Issue 19's settings (helpers need spaces: metadata only).
            "delay" => plan
                .delays
                .push(values::delay(v).ok_or_else(|| bad("pidone.delay", v, "SIG:SECONDS"))?),
            "on_change" => plan
                .on_change
                .push(values::on_change(v).ok_or_else(|| bad("pidone.on_change", v, "/PATH:SIG"))?),
            "restart" => {
                plan.restart = values::restart(v)
                    .ok_or_else(|| bad("pidone.restart", v, values::RESTART_FORM))?
            }
            "env_file" if !v.is_empty() => plan.env.files.push(PathBuf::from(v)),
            "env_from_files" => {
                plan.env.from_files = match v {
                    "" | "1" | "true" | "yes" | "on" => Some(Vec::new()),
                    names => Some(
                        names
                            .split(',')
                            .filter(|n| !n.is_empty())
                            .map(String::from)
                            .collect(),
                    ),
                }
            }
            "poweroff" => {
                machine.power = values::power_action(v)
                    .ok_or_else(|| bad("pidone.poweroff", v, "poweroff, reboot or halt"))?
            }
            "modules" => machine
                .modules
                .extend(v.split(',').filter(|m| !m.is_empty()).map(String::from)),
            "hostname" if !v.is_empty() => {
                if !values::dns_name(v, values::HOSTNAME_MAX) {
                    return Err(bad("pidone.hostname", v, values::DNS_NAME_FORM));
                }
                plan.hostname = Some(v.to_string())
            }
            "env" if values::env_var(OsStr::new(v)).is_some() => {
                plan.env.set.extend(values::env_var(OsStr::new(v)))
            }
            "net" => {
                let nic = nic(v, plan.network.nics.is_empty())?;
                plan.network.nics.push(nic);
            }
            "dns" => plan.network.resolvers.push(
                v.parse()
                    .map_err(|_| bad("pidone.dns", v, "an IP address"))?,
            ),
            "root" if !v.is_empty() => root_dev = Some(v.to_string()),
            "rootfstype" if !v.is_empty() => fstype = v.to_string(),
            "rootflags" => flags = v.to_string(),
            _ => plan
                .warnings
                .push(format!("kernel command line: ignored {:?}", w)),
        }
    }
    machine.root = root_dev.map(|device| RootSwitch {
        device: PathBuf::from(device),
        fstype,
        options: values::mount_options(&flags),
    });
    plan.machine = Some(machine);
    plan.command = it.map(OsString::from).collect();

    if metadata.is_none() && !plan.command.is_empty() {
        plan.notes
            .push("command from the kernel command line".into());
        return Ok(Request::Run(Box::new(plan)));
    }
    Ok(Request::Metadata {
        source: metadata.unwrap_or(Source::Search),
        base: Box::new(plan),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(cmdline: &str) -> Plan {
        match parse(cmdline) {
            Ok(Request::Run(p)) => *p,
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn issue_19_settings() {
        let p = run(
            "pidone.delay=TERM:5 pidone.on_change=/etc/app:HUP pidone.restart=always \
             pidone.env_file=/etc/app.env pidone.env_from_files=DB_PASSWORD -- x",
        );
        assert_eq!(p.delays, [(15, Duration::from_secs(5))]);
        assert_eq!(p.on_change[0].signal, 1);
        assert_eq!(p.restart, crate::plan::Restart::Always);
        assert_eq!(p.env.files, [PathBuf::from("/etc/app.env")]);
        assert_eq!(p.env.from_files, Some(vec!["DB_PASSWORD".to_string()]));
        assert_eq!(
            run("pidone.env_from_files -- x").env.from_files,
            Some(vec![])
        );
    }

    #[test]
    fn words_like_the_kernel() {
        assert_eq!(
            words("  console=ttyS0 pidone.env=\"A=b c\"  -- sh -c \"echo hi\"\n"),
            vec![
                "console=ttyS0",
                "pidone.env=A=b c",
                "--",
                "sh",
                "-c",
                "echo hi"
            ]
        );
        assert!(words("").is_empty());
        assert_eq!(words("a \"\" b"), vec!["a", "", "b"]);
    }

    #[test]
    fn command_after_dashes() {
        let p = run("BOOT_IMAGE=/vmlinuz console=ttyS0 quiet -- /bin/sh -c 'exit 3'");
        assert_eq!(p.personality, Personality::Machine);
        assert_eq!(p.command, vec!["/bin/sh", "-c", "'exit", "3'"]);
        assert!(!p.env.inherit && p.env.defaults);
        assert!(p.network.loopback);
        let m = p.machine.expect("machine");
        assert!(m.mounts);
        assert_eq!(m.power, PowerAction::PowerOff);
    }

    #[test]
    fn cgroup_options() {
        let p = run("pidone.oom_exit=1 pidone.cgroup_nest=yes -- true");
        assert!(p.oom_exit && p.cgroup_nest);
        let p = run("pidone.oom_exit=0 -- true");
        assert!(!p.oom_exit && !p.cgroup_nest);
        assert!(parse("pidone.oom_exit=maybe -- true").is_err());
    }

    #[test]
    fn options() {
        let p = run("pidone.verbose=2 pidone.grace=0.5 pidone.poweroff=reboot pidone.modules=virtio_pci,virtio_net \
             pidone.hostname=vm1 pidone.env=A=1 pidone.env=B=x=y pidone.root=/dev/vda pidone.rootflags=ro \
             pidone.bogus=1 -- true pidone.verbose=3");
        assert_eq!(p.log.verbosity, 2);
        assert_eq!(p.grace, Duration::from_millis(500));
        assert_eq!(p.hostname.as_deref(), Some("vm1"));
        assert_eq!(p.env.set, vec!["A=1", "B=x=y"]);
        assert_eq!(p.command, vec!["true", "pidone.verbose=3"]);
        assert_eq!(p.warnings.len(), 1);
        let m = p.machine.expect("machine");
        assert_eq!(m.power, PowerAction::Reboot);
        assert_eq!(m.modules, vec!["virtio_pci", "virtio_net"]);
        assert_eq!(
            m.root,
            Some(RootSwitch {
                device: "/dev/vda".into(),
                fstype: "ext4".into(),
                options: "ro".into()
            })
        );
    }

    #[test]
    fn network() {
        let p = run(
            "pidone.net=eth0,10.0.2.15/24,10.0.2.2 pidone.net=eth1,dhcp pidone.dns=10.0.2.3 -- x",
        );
        let n = &p.network.nics;
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].interface.as_deref(), Some("eth0"));
        assert!(n[0].primary && !n[0].dhcp);
        assert_eq!(n[0].addrs[0].prefix, 24);
        assert_eq!(
            n[0].gateways,
            vec!["10.0.2.2".parse::<std::net::IpAddr>().expect("ip")]
        );
        assert!(n[1].dhcp && !n[1].primary);
        assert_eq!(p.network.resolvers.len(), 1);
        for bad in [
            "pidone.net=eth0",
            "pidone.net=,dhcp",
            "pidone.net=eth0,10.0.2.15",
            "pidone.net=eth0,dhcp,x",
            "pidone.dns=x",
        ] {
            assert_eq!(parse(bad).expect_err(bad).code, 125, "{}", bad);
        }
    }

    #[test]
    fn metadata_when_asked_or_no_command() {
        match parse("pidone.metadata=/m.json -- echo hi") {
            Ok(Request::Metadata { source, base }) => {
                assert_eq!(source, Source::File("/m.json".into()));
                assert_eq!(base.command, vec!["echo", "hi"]);
                assert!(base.machine.is_some());
            }
            other => panic!("{:?}", other),
        }
        match parse("console=ttyS0") {
            Ok(Request::Metadata { source, .. }) => {
                assert_eq!(source, Source::Search)
            }
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn bad_values_are_errors() {
        for c in [
            "pidone.poweroff=explode",
            "pidone.grace=-1",
            "pidone.delay=KILL:1",
            "pidone.on_change=etc:HUP",
            "pidone.restart=sometimes",
            "pidone.grace=nan",
            "pidone.verbose=x",
        ] {
            let e = parse(c).expect_err(c);
            assert_eq!(e.code, 125, "{}", c);
            assert!(e.message.contains("pidone."), "{}", e.message);
        }
    }

    #[test]
    fn machine_flag_before_dashes_only() {
        assert_eq!(machine_flag("pidone.machine=1"), Some(true));
        assert_eq!(machine_flag("pidone.machine=0 x"), Some(false));
        assert_eq!(machine_flag("-- pidone.machine=1"), None);
        assert_eq!(machine_flag("quiet"), None);
    }
}
