//! Network stage: pidone as PID 1 of new pid + net namespaces configures
//! veth links from `sdc:nics` / `sdc:routes`; a second namespace plays the
//! host (addresses, listener, ping, DHCP server). Everything created here
//! is named `pdn...` and removed by a guard, even when a test fails.
mod common;
use common::*;

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

/// Two namespaces (container side, host side) and what runs in them;
/// dropped = killed and deleted.
struct Net {
    c: String,
    h: String,
    children: Vec<Child>,
    scratch: Scratch,
    /// How pidone is run: target/pidone, or a cross binary under qemu-user.
    exe: String,
}

fn sh(cmd: &str) -> Output {
    let o = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    assert!(
        o.status.success(),
        "`{}` failed: {}",
        cmd,
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

impl Net {
    fn new(tag: &str) -> Net {
        require_root();
        require("ip", "iproute2");
        require("unshare", "util-linux");
        static N: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}{}-{}",
            tag,
            N.fetch_add(1, Ordering::SeqCst),
            std::process::id()
        );
        let net = Net {
            c: format!("pdn-{}-c", id),
            h: format!("pdn-{}-h", id),
            children: Vec::new(),
            scratch: Scratch::new(&format!("net-{}", id)),
            exe: pidone().display().to_string(),
        };
        // Leftovers of a killed earlier run with the same pid: gone first.
        let _ = Command::new("ip")
            .args(["netns", "del", &net.c])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &net.h])
            .stderr(Stdio::null())
            .status();
        sh(&format!("ip netns add {} && ip netns add {}", net.c, net.h));
        net
    }

    /// pidone-ARCH of `make cross` under its emulator (None: target/pidone).
    fn on(mut self, arch: Option<&str>) -> Net {
        if let Some(a) = arch {
            self.exe = cross_launcher(a).join(" ");
        }
        self
    }

    /// A veth pair: `inside` in the container namespace (down, no
    /// address), `outside` in the host namespace, up with `addrs`.
    fn veth(&self, inside: &str, outside: &str, mac: Option<&str>, addrs: &[&str]) {
        let mac = mac.map_or(String::new(), |m| format!("address {}", m));
        sh(&format!(
            "ip link add {} netns {} {} type veth peer name {} netns {}",
            inside, self.c, mac, outside, self.h
        ));
        for a in addrs {
            let nodad = if a.contains(':') { "nodad" } else { "" };
            sh(&format!(
                "ip -n {} addr add {} dev {} {}",
                self.h, a, outside, nodad
            ));
        }
        sh(&format!("ip -n {} link set {} up", self.h, outside));
    }

    fn in_host(&self, cmd: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.h, "sh", "-c", cmd]);
        c
    }

    fn in_container(&self, cmd: &str) -> Output {
        let o = Command::new("ip")
            .args(["netns", "exec", &self.c, "sh", "-c", cmd])
            .output()
            .expect("ip netns exec");
        assert!(
            o.status.success(),
            "`{}` in the container namespace failed: {}",
            cmd,
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    /// A metadata document: the command (a shell script) and the network.
    fn metadata(&self, script: &str, nics: &str, routes: &str) -> String {
        let cmd = serde_json::to_string(&["sh", "-c", script]).unwrap();
        let doc = serde_json::json!({
            "docker:cmd": cmd,
            "sdc:nics": nics,
            "sdc:routes": routes,
            // Keep the inherited stdio (not /dev/console): the test reads it.
            "pidone:console": "",
        });
        let path = self.scratch.path(&format!(
            "metadata-{}.json",
            N_DOC.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, doc.to_string()).unwrap();
        path.display().to_string()
    }

    /// pidone as PID 1 of a new pid namespace inside the container's net
    /// namespace; /etc and /var/log are scratch directories of its own
    /// (resolv.conf, the log and the status file never land in the host's).
    fn pidone(&self, metadata: &str) -> Command {
        let etc = self.scratch.path("etc");
        let log = self.scratch.path("log");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(&log).unwrap();
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &self.c,
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            "sh",
            "-c",
        ]);
        c.arg(format!(
            "mount --bind {} /etc && mount --bind {} /var/log && exec {} -v --metadata {}",
            etc.display(),
            log.display(),
            self.exe,
            metadata
        ));
        c
    }
}

static N_DOC: AtomicU32 = AtomicU32::new(0);

impl Drop for Net {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.c, &self.h] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
}

#[test]
fn static_addresses_mtu_routes_ping_and_tcp() {
    static_addresses(None);
}

/// s390x is big-endian: the netlink headers, attributes and addresses it
/// builds are checked by the kernel (qemu-user converts rtnetlink between
/// the two byte orders, so a message built in the wrong one is refused or
/// misread).
#[test]
fn s390x_static_addresses_routes_ping_and_tcp() {
    static_addresses(Some("s390x"));
}

/// Whether qemu-user carries every attribute pidone sends: qemu 7.2
/// passes IFLA_MTU (converted from qemu 8.0 on) and IFA_FLAGS to the
/// kernel as the emulated program wrote them, so a big-endian pidone's
/// MTU and IPv6 no-DAD flag arrive byte-swapped (EINVAL; a tentative
/// address). The s390x runs ask for neither. They are built by the same
/// code as RTA_OIF, which qemu converts and every route here depends on;
/// docs/platforms.md lists them as not checked big-endian.
fn qemu_carries_all_attributes(arch: Option<&str>) -> bool {
    arch.is_none()
}

fn static_addresses(arch: Option<&str>) {
    require("ping", "iputils-ping");
    require("busybox", "busybox-static");
    let all = qemu_carries_all_attributes(arch);
    let mut net = Net::new("st").on(arch);
    net.veth("pdnst0", "pdnsth0", None, &["10.71.0.1/24", "fd71::1/64"]);
    let ready = net.scratch.path("ready");
    let done = net.scratch.path("done");
    // Without no-DAD (s390x), the ping waits until DAD is over.
    let dad = if all {
        ""
    } else {
        "for i in $(seq 100); do [ -z \"$(ip -6 addr show dev pdnst0 tentative)\" ] && break; sleep 0.1; done; "
    };
    let script = format!(
        "cat /sys/class/net/pdnst0/mtu; ip -o addr show; ip route show; ip -6 route show; \
         for i in $(seq 100); do echo hello-from-pid1 | busybox nc 10.71.0.1 7171 && break; sleep 0.1; done; \
         {}touch {}; while [ ! -e {} ]; do sleep 0.05; done",
        dad,
        ready.display(),
        done.display()
    );
    let mtu = if all { r#", "mtu": 1400"# } else { "" };
    let nics = format!(
        r#"[{{"interface": "pdnst0", "ip": "10.71.0.2", "netmask": "255.255.255.0", "primary": true,
        "gateway": "10.71.0.1", "ips": ["fd71::2/64"], "gateways": ["fd71::1"]{}}}]"#,
        mtu
    );
    let routes = r#"[{"dst": "10.72.0.0/16", "gateway": "10.71.0.1"},
        {"dst": "10.73.0.0/16", "gateway": "10.71.0.2", "linklocal": true},
        {"dst": "10.74.5.6", "gateway": "10.71.0.1"},
        {"dst": "fd75::7", "gateway": "fd71::1"}]"#;
    let md = net.metadata(&script, &nics, routes);
    let listener = net
        // stdin stays open: a listener that closed its side at once could
        // make the client quit before it sent anything.
        .in_host("exec busybox nc -l -p 7171")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut cmd = net.pidone(&md);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    net.children.push(listener);
    wait_for_file(&ready, DEADLINE);
    // The host reaches the container's addresses while the command runs.
    let ping4 = net.in_host("ping -c1 -W5 10.71.0.2").output().unwrap();
    let ping6 = net.in_host("ping -6 -c1 -W5 fd71::2").output().unwrap();
    std::fs::write(&done, "").unwrap();
    let o = wait_output(child, DEADLINE);
    ok(&o);
    assert!(
        ping4.status.success(),
        "ping 10.71.0.2: {}",
        String::from_utf8_lossy(&ping4.stdout)
    );
    assert!(
        ping6.status.success(),
        "ping fd71::2: {}",
        String::from_utf8_lossy(&ping6.stdout)
    );
    let heard = wait_output(net.children.pop().unwrap(), DEADLINE);
    assert_eq!(
        stdout(&heard).trim(),
        "hello-from-pid1",
        "the command did not reach the host's listener:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );

    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], if all { "1400" } else { "1500" }, "{}", out);
    assert!(out.contains("inet 127.0.0.1/8"), "{}", out);
    assert!(out.contains("inet6 ::1/128"), "{}", out);
    assert!(out.contains("pdnst0    inet 10.71.0.2/24"), "{}", out);
    assert!(out.contains("pdnst0    inet6 fd71::2/64"), "{}", out);
    // IPv6 without duplicate address detection: usable at once.
    // (The kernel's own fe80:: address may still be tentative.)
    let v6 = out
        .lines()
        .find(|l| l.contains("fd71::2/64"))
        .unwrap_or_default();
    assert!(!all || !v6.contains("tentative"), "{}", out);
    for r in [
        "default via 10.71.0.1 dev pdnst0",
        "10.72.0.0/16 via 10.71.0.1 dev pdnst0",
        "10.73.0.0/16 dev pdnst0 scope link",
        "10.74.5.6 via 10.71.0.1 dev pdnst0",
        "fd75::7 via fd71::1 dev pdnst0",
        "default via fd71::1 dev pdnst0",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(r)),
            "no route `{}` in:\n{}",
            r,
            out
        );
    }
    // Every address and route is logged, in order: on-link, default, rest.
    let err = stderr(&o);
    assert!(err.contains("address 10.71.0.2/24 added"), "{}", err);
    let at = |s: &str| {
        err.find(s)
            .unwrap_or_else(|| panic!("`{}` not logged:\n{}", s, err))
    };
    assert!(at("route 10.73.0.0/16 dev pdnst0 added") < at("route 0.0.0.0/0 via 10.71.0.1"));
    assert!(at("route ::/0 via fd71::1") < at("route 10.72.0.0/16 via 10.71.0.1 added"));
}

#[test]
fn several_nics_one_found_by_mac() {
    let net = Net::new("mac");
    net.veth("pdnmac0", "pdnmach0", None, &["10.81.0.1/24"]);
    // The second link's name is not in the metadata; its MAC is.
    net.veth(
        "pdnmacx",
        "pdnmach1",
        Some("02:00:5e:10:20:30"),
        &["10.82.0.1/24"],
    );
    let nics = r#"[{"interface": "pdnmac0", "ip": "10.81.0.2", "netmask": "255.255.255.0", "gateway": "10.81.0.1"},
        {"mac": "02:00:5E:10:20:30", "ips": ["10.82.0.2/24"], "gateway": "10.82.0.1", "primary": true}]"#;
    let md = net.metadata("ip -o -4 addr show; ip route show", nics, "[]");
    let o = run(net.pidone(&md), DEADLINE);
    ok(&o);
    let out = stdout(&o);
    assert!(out.contains("pdnmac0    inet 10.81.0.2/24"), "{}", out);
    assert!(out.contains("pdnmacx    inet 10.82.0.2/24"), "{}", out);
    // The default route goes via the NIC marked primary, and only it.
    assert!(out.contains("default via 10.82.0.1 dev pdnmacx"), "{}", out);
    assert_eq!(out.matches("default").count(), 1, "{}", out);
    assert!(
        stderr(&o).contains("MAC 02:00:5e:10:20:30 is pdnmacx"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_interface_is_125_before_the_command() {
    let net = Net::new("miss");
    let ran = net.scratch.path("ran");
    let md = net.metadata(
        &format!("touch {}", ran.display()),
        r#"[{"interface": "pdnnothere", "ip": "10.0.0.2", "netmask": "255.0.0.0"}]"#,
        "[]",
    );
    let o = run(net.pidone(&md), DEADLINE);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("FATAL stage=net: nic pdnnothere: interface: no interface named pdnnothere"),
        "{}",
        err
    );
    assert!(!ran.exists(), "the command ran");
}

#[test]
fn bad_cidr_is_125_naming_nic_and_field() {
    let net = Net::new("cidr");
    net.veth("pdncidr0", "pdncidrh", None, &[]);
    let md = net.metadata(
        "true",
        r#"[{"interface": "pdncidr0", "ips": ["10.0.0.2/33"]}]"#,
        "[]",
    );
    let o = run(net.pidone(&md), DEADLINE);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("nic pdncidr0: field \"ips\": \"10.0.0.2/33\" has a bad prefix length"),
        "{}",
        err
    );
}

#[test]
fn refused_address_is_125_with_the_kernels_error() {
    let net = Net::new("ref");
    net.veth("pdnref0", "pdnrefh", None, &[]);
    // IPv6 is off on the link: the kernel refuses the address.
    net.in_container("echo 1 > /proc/sys/net/ipv6/conf/pdnref0/disable_ipv6");
    let md = net.metadata(
        "true",
        r#"[{"interface": "pdnref0", "ips": ["10.0.0.2/8", "fd00::2/64"]}]"#,
        "[]",
    );
    let o = run(net.pidone(&md), DEADLINE);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("nic pdnref0: address: cannot add fd00::2/64: "),
        "{}",
        err
    );
}

#[test]
fn unreachable_route_is_a_warning_and_the_command_runs() {
    let net = Net::new("unr");
    net.veth("pdnunr0", "pdnunrh", None, &["10.91.0.1/24"]);
    let md = net.metadata(
        "echo command-ran",
        r#"[{"interface": "pdnunr0", "ips": ["10.91.0.2/24"]}]"#,
        r#"[{"dst": "10.92.0.0/16", "gateway": "10.99.9.9"}, {"dst": "10.93.0.0/16", "gateway": "10.91.0.1"}]"#,
    );
    let o = run(net.pidone(&md), DEADLINE);
    ok(&o);
    assert_eq!(stdout(&o).trim(), "command-ran");
    let err = stderr(&o);
    assert!(
        err.contains("WARN route 10.92.0.0/16 via 10.99.9.9: cannot add: "),
        "{}",
        err
    );
    // The routes after it are still added.
    assert!(
        err.contains("route 10.93.0.0/16 via 10.91.0.1 added"),
        "{}",
        err
    );
}

#[test]
fn same_configuration_twice_succeeds() {
    let net = Net::new("twice");
    net.veth("pdntw0", "pdntwh", None, &["10.95.0.1/24"]);
    let md = net.metadata(
        "ip -o addr show dev pdntw0 | grep -c -e ' fd95::2/64' -e ' 10.95.0.2/24'",
        r#"[{"interface": "pdntw0", "ips": ["10.95.0.2/24", "fd95::2/64"], "gateways": ["10.95.0.1"], "mtu": 1300}]"#,
        r#"[{"dst": "10.96.0.0/16", "gateway": "10.95.0.1"}, {"dst": "10.97.0.0/16", "linklocal": true}]"#,
    );
    let first = run(net.pidone(&md), DEADLINE);
    ok(&first);
    let second = run(net.pidone(&md), DEADLINE);
    ok(&second);
    assert_eq!(stdout(&second).trim(), "2");
    let err = stderr(&second);
    assert!(
        err.contains("address 10.95.0.2/24 already present"),
        "{}",
        err
    );
    assert!(
        err.contains("route 10.96.0.0/16 via 10.95.0.1 already present"),
        "{}",
        err
    );
    assert!(!err.contains("WARN"), "{}", err);
}

/// busybox udhcpd on the host end of `outside` (10.61.0.1/24), leasing
/// 10.61.0.50-60 with `options` (udhcpd.conf `option` lines).
fn dhcp_server(net: &mut Net, outside: &str, options: &str) {
    require("busybox", "busybox-static");
    let conf = net.scratch.path("udhcpd.conf");
    std::fs::write(
        &conf,
        format!(
            "start 10.61.0.50\nend 10.61.0.60\ninterface {}\nlease_file {}\npidfile {}\n{}",
            outside,
            net.scratch.path("leases").display(),
            net.scratch.path("udhcpd.pid").display(),
            options
        ),
    )
    .unwrap();
    std::fs::write(net.scratch.path("leases"), "").unwrap();
    let server = net
        .in_host(&format!("exec busybox udhcpd -f {}", conf.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    net.children.push(server);
}

#[test]
fn dhcp_lease_gives_address_route_mtu_and_resolv_conf() {
    dhcp_lease(None);
}

/// The DHCP client on a big-endian machine: packets, options and the
/// lease's addresses and times are byte-order sensitive.
#[test]
fn s390x_dhcp_lease_gives_address_route_and_resolv_conf() {
    dhcp_lease(Some("s390x"));
}

fn dhcp_lease(arch: Option<&str>) {
    let all = qemu_carries_all_attributes(arch);
    let mut net = Net::new("dhcp").on(arch);
    net.veth("pdndh0", "pdndhh", None, &["10.61.0.1/24"]);
    dhcp_server(
        &mut net,
        "pdndhh",
        &format!(
            "option subnet 255.255.255.0\noption router 10.61.0.1\noption dns 10.61.0.53 10.61.0.54\n\
             option domain pdn.test\n{}option lease 86400\n",
            if all { "option mtu 1450\n" } else { "" }
        ),
    );
    let md = net.metadata(
        "ip -o -4 addr show dev pdndh0; ip route show; cat /sys/class/net/pdndh0/mtu; cat /etc/resolv.conf",
        r#"[{"interface": "pdndh0", "ip": "dhcp", "primary": true}]"#,
        "[]",
    );
    let o = run(net.pidone(&md), DEADLINE);
    ok(&o);
    let out = stdout(&o);
    // udhcpd picks from its range by a hash of the MAC.
    let leased = out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or_default();
    let host = leased
        .strip_prefix("10.61.0.")
        .and_then(|h| h.strip_suffix("/24"));
    assert!(
        host.and_then(|h| h.parse::<u8>().ok())
            .is_some_and(|h| (50..=60).contains(&h)),
        "{}",
        out
    );
    assert!(out.contains("default via 10.61.0.1 dev pdndh0"), "{}", out);
    let mtu = if all { "1450" } else { "1500" };
    assert!(out.lines().any(|l| l == mtu), "{}", out);
    assert!(
        out.contains("nameserver 10.61.0.53\nnameserver 10.61.0.54\n"),
        "{}",
        out
    );
    assert!(out.contains("search pdn.test"), "{}", out);
}

#[test]
fn dhcp_classless_routes_replace_the_router_option() {
    let mut net = Net::new("dh121");
    net.veth("pdnd1", "pdnd1h", None, &["10.61.0.1/24"]);
    // RFC 3442: with option 121 the router option (10.61.0.2) is ignored.
    dhcp_server(
        &mut net,
        "pdnd1h",
        "option subnet 255.255.255.0\noption router 10.61.0.2\n\
         option staticroutes 10.66.0.0/16 10.61.0.254, 0.0.0.0/0 10.61.0.1\n",
    );
    let md = net.metadata(
        "ip route show",
        r#"[{"interface": "pdnd1", "ip": "dhcp"}]"#,
        "[]",
    );
    let o = run(net.pidone(&md), DEADLINE);
    ok(&o);
    let out = stdout(&o);
    assert!(out.contains("default via 10.61.0.1 dev pdnd1"), "{}", out);
    assert!(
        out.contains("10.66.0.0/16 via 10.61.0.254 dev pdnd1"),
        "{}",
        out
    );
    assert!(!out.contains("via 10.61.0.2 "), "{}", out);
}

#[test]
fn dhcp_without_a_server_is_125_after_the_timeout() {
    let net = Net::new("dhno");
    net.veth("pdndn0", "pdndnh", None, &["10.62.0.1/24"]);
    let ran = net.scratch.path("ran");
    let md = net.metadata(
        &format!("touch {}", ran.display()),
        r#"[{"interface": "pdndn0", "ip": "dhcp"}]"#,
        "[]",
    );
    let o = run(net.pidone(&md), DEADLINE);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("nic pdndn0: dhcp: no DHCP server answered within 5s"),
        "{}",
        err
    );
    assert!(!ran.exists(), "the command ran");
}
