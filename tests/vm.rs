//! pidone as /init of a minimal VM: Debian's stock kernel (fetched by
//! scripts/kernel.sh) boots in qemu-system-x86_64 (TCG) an initramfs made
//! here (pidone as /init, static busybox, a few modules, a metadata file).
//! Everything is asserted from the serial console and QEMU's own exit:
//! pidone must power the machine off itself.
//!
//! The `arm64_` tests boot Debian's stock arm64 kernel (scripts/kernel.sh
//! arm64) in qemu-system-aarch64 (virt, cortex-a57, TCG) with `make
//! cross`'s pidone-aarch64 and Debian's arm64 static busybox: the same
//! suite on another architecture, plus what qemu-user cannot show
//! (tests/cross.rs says which).
mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// TCG boots take seconds; four may run at once on two cores.
const DEADLINE: Duration = Duration::from_secs(240);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The guest's architecture.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    /// pidone for the guest: what `make` built, or `make cross`'s.
    fn init(self) -> PathBuf {
        match self {
            Arch::X86_64 => pidone(),
            Arch::Arm64 => cross_binary("aarch64"),
        }
    }

    /// A static busybox for the guest.
    fn busybox(self) -> PathBuf {
        match self {
            Arch::X86_64 => {
                require("busybox", "busybox-static");
                let out = Command::new("sh")
                    .args(["-c", "command -v busybox"])
                    .output()
                    .expect("sh");
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
            Arch::Arm64 => kernel_for(self).dir.join("busybox"),
        }
    }

    /// QEMU for this machine, before the kernel and devices.
    fn qemu(self) -> Command {
        let mut cmd = match self {
            Arch::X86_64 => {
                require("qemu-system-x86_64", "qemu-system-x86");
                Command::new("qemu-system-x86_64")
            }
            Arch::Arm64 => {
                require("qemu-system-aarch64", "qemu-system-arm");
                let mut c = Command::new("qemu-system-aarch64");
                c.args(["-M", "virt", "-cpu", "cortex-a57"]);
                c
            }
        };
        cmd.args([
            "-accel",
            "tcg",
            "-m",
            "256",
            "-smp",
            "1",
            "-nographic",
            "-no-reboot",
        ]);
        cmd
    }

    fn console(self) -> &'static str {
        match self {
            Arch::X86_64 => "ttyS0",
            Arch::Arm64 => "ttyAMA0",
        }
    }
}

/// The kernel cache made by scripts/kernel.sh (run by `make test`).
struct Kernel {
    dir: PathBuf,
    vmlinuz: PathBuf,
    release: String,
    modules: PathBuf,
}

fn kernel() -> Kernel {
    kernel_for(Arch::X86_64)
}

fn kernel_for(arch: Arch) -> Kernel {
    let (dir, how) = match arch {
        Arch::X86_64 => (repo().join(".cache/kernel"), "sh scripts/kernel.sh"),
        Arch::Arm64 => (
            repo().join(".cache/kernel-arm64"),
            "sh scripts/kernel.sh arm64",
        ),
    };
    let release = std::fs::read_to_string(dir.join("release"))
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(
        !release.is_empty() && dir.join("vmlinuz").exists(),
        "no stock kernel in {}: run `{}` (or `make test`)",
        dir.display(),
        how
    );
    Kernel {
        vmlinuz: dir.join("vmlinuz"),
        modules: dir.join("modules/lib/modules").join(&release),
        release,
        dir,
    }
}

/// A cpio "newc" archive, the format the kernel unpacks as initramfs.
/// Written here so device nodes need no root and no cpio tool.
struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn new() -> Cpio {
        Cpio {
            buf: Vec::new(),
            ino: 1,
        }
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        let name = name.trim_start_matches('/');
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.ino += 1;
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{:08x}", f).as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, 0o040755, b"", (0, 0));
        self
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.entry(name, 0o100000 | mode, data, (0, 0));
        self
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, 0o120777, target.as_bytes(), (0, 0));
        self
    }

    fn chardev(&mut self, name: &str, major: u32, minor: u32) -> &mut Self {
        self.entry(name, 0o020600, b"", (major, minor));
        self
    }

    /// A host directory tree, under `prefix` in the archive.
    fn tree(&mut self, host: &Path, prefix: &str) -> &mut Self {
        let mut entries: Vec<_> = std::fs::read_dir(host)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let name = format!(
                "{}/{}",
                prefix,
                p.file_name().expect("name").to_string_lossy()
            );
            if p.is_dir() {
                self.dir(&name);
                self.tree(&p, &name);
            } else {
                self.file(&name, 0o644, &std::fs::read(&p).expect("read"));
            }
        }
        self
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, b"", (0, 0));
        self.buf
    }
}

const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "wget", "hostname", "grep", "ls", "ip", "readlink", "test",
    "true", "false", "mount", "uname", "stat", "lsmod", "head", "tr", "sync", "touch", "sed", "wc",
    "sort", "dd", "cut", "mkdir", "unshare", "setsid",
];

/// The initramfs every boot starts from: pidone as /init, busybox, the
/// kernel's modules; `extra` adds files (scripts, metadata).
fn initramfs(dir: &Path, extra: &[(&str, &str)]) -> PathBuf {
    initramfs_for(Arch::X86_64, dir, extra, &[])
}

/// The same for `arch`; `binaries` adds executables (path in the archive,
/// file on the host).
fn initramfs_for(
    arch: Arch,
    dir: &Path,
    extra: &[(&str, &str)],
    binaries: &[(&str, &Path)],
) -> PathBuf {
    let k = kernel_for(arch);
    let bb = std::fs::read(arch.busybox()).expect("read busybox");
    let mut c = Cpio::new();
    c.dir("dev")
        .chardev("dev/console", 5, 1)
        .chardev("dev/null", 1, 3);
    c.dir("bin").file("bin/busybox", 0o755, &bb);
    for a in APPLETS {
        c.symlink(&format!("bin/{}", a), "busybox");
    }
    c.file(
        "init",
        0o755,
        &std::fs::read(arch.init()).expect("read pidone"),
    );
    // The same binary by its own name, for a pidone the command starts.
    c.symlink("bin/pidone", "/init");
    c.dir("etc")
        .dir("etc/pidone")
        .dir("t")
        .dir("lib")
        .dir("lib/modules");
    let mods = format!("lib/modules/{}", k.release);
    c.dir(&mods).tree(&k.modules, &mods);
    for (name, text) in extra {
        c.file(name, 0o755, text.as_bytes());
    }
    for (name, host) in binaries {
        c.file(name, 0o755, &std::fs::read(host).expect("read binary"));
    }
    let path = dir.join("initrd.cpio");
    std::fs::write(&path, c.finish()).expect("write initramfs");
    path
}

struct Boot {
    console: String,
    status: Option<i32>,
}

/// Boot the stock kernel on `initrd` with `append` after the console
/// settings; the console output and QEMU's exit status.
fn boot(initrd: &Path, append: &str, net: bool) -> Boot {
    boot_on(Arch::X86_64, initrd, append, net)
}

fn boot_on(arch: Arch, initrd: &Path, append: &str, net: bool) -> Boot {
    if net {
        boot_with_on(
            arch,
            initrd,
            append,
            &[
                "-netdev",
                "user,id=vmnet0",
                "-device",
                "virtio-net-pci,netdev=vmnet0,romfile=",
            ],
        )
    } else {
        boot_with_on(arch, initrd, append, &[])
    }
}

/// Boot with extra QEMU arguments (devices).
fn boot_with(initrd: &Path, append: &str, extra: &[&str]) -> Boot {
    boot_with_on(Arch::X86_64, initrd, append, extra)
}

fn boot_with_on(arch: Arch, initrd: &Path, append: &str, extra: &[&str]) -> Boot {
    let k = kernel_for(arch);
    let mut cmd = arch.qemu();
    cmd.arg("-kernel")
        .arg(&k.vmlinuz)
        .arg("-initrd")
        .arg(initrd);
    cmd.arg("-append").arg(format!(
        "console={} quiet panic=-1 {}",
        arch.console(),
        append
    ));
    cmd.args(["-nic", "none"]).args(extra);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn qemu");
    let out = wait_output(child, DEADLINE);
    Boot {
        console: strip_escapes(&String::from_utf8_lossy(&out.stdout)),
        status: out.status.code(),
    }
}

/// The console without the firmware's terminal resets (ESC c, ESC [...x)
/// and carriage returns, so lines compare as printed.
fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '\r' => {}
            '\x1b' => {
                if it.next() == Some('[') {
                    while it.next().is_some_and(|c| !c.is_ascii_alphabetic()) {}
                }
            }
            c => out.push(c),
        }
    }
    // SeaBIOS ends its last line without a newline; the guest's first
    // line would be glued to it.
    if let Some(i) = out.find("Booting from ROM") {
        let dots = out[i + 16..].chars().take_while(|c| *c == '.').count();
        out.insert(i + 16 + dots, '\n');
    }
    out
}

impl Boot {
    /// pidone ended the machine with `code` and QEMU exited by itself.
    fn assert_clean_end(&self, code: i32, how: &str) {
        assert!(
            self.console
                .contains(&format!("pidone: exit status {}\n", code)),
            "no `pidone: exit status {}` on the console:\n{}",
            code,
            self.console
        );
        assert!(
            !self.console.contains("Kernel panic"),
            "kernel panic:\n{}",
            self.console
        );
        assert!(
            self.console.contains(how),
            "no {:?} from the kernel:\n{}",
            how,
            self.console
        );
        assert_eq!(
            self.status,
            Some(0),
            "QEMU did not exit cleanly:\n{}",
            self.console
        );
    }

    fn has(&self, line: &str) -> bool {
        self.console.lines().any(|l| l.trim_end() == line)
    }

    fn assert_line(&self, line: &str) {
        assert!(
            self.has(line),
            "no line {:?} on the console:\n{}",
            line,
            self.console
        );
    }
}

/// First boot: the command comes from the kernel command line after `--`;
/// the mounts, hostname, modules (virtio-net with its dependencies, by
/// name with `-` or `_`), the shutdown of a background process and the
/// command's failing status are all checked in this one boot.
#[test]
fn command_from_kernel_command_line() {
    command_line_boot(Arch::X86_64);
}

#[test]
fn arm64_command_from_kernel_command_line() {
    command_line_boot(Arch::Arm64);
}

fn command_line_boot(arch: Arch) {
    let scratch = Scratch::new(&format!("vm-cmdline-{:?}", arch));
    let script = r#"
echo "cmd: started"
for m in /proc:proc /sys:sysfs /dev:devtmpfs /dev/pts:devpts /dev/shm:tmpfs /run:tmpfs /tmp:tmpfs /sys/fs/cgroup:cgroup2; do
    grep -q " ${m%%:*} ${m#*:} " /proc/mounts && echo "mount ok ${m%%:*}"
done
grep " /dev/pts devpts " /proc/mounts | cut -d" " -f4 | tr ',' '\n' | grep -E '^(gid=5|mode=620|ptmxmode=666)' | tr '\n' ' '; echo
echo "ptmx -> $(readlink /dev/ptmx)"
echo "fd -> $(readlink /dev/fd) stdin -> $(readlink /dev/stdin)"
echo "hostname: $(hostname)"
echo "modules: $(grep -oE '^(virtio_pci|virtio_net|net_failover|failover) ' /proc/modules | sort | tr -d '\n')"
echo "eth0: $(cat /sys/class/net/eth0/address)"
echo "lo: $(ip -4 addr show lo | grep -o 'inet [0-9./]*')"
echo "env: A=$A PATH=$PATH"
( trap 'echo "background: cleaned up"; exit 0' TERM; echo "background: running"; while :; do sleep 0.2; done ) &
sleep 1
echo "cmd: exiting 7"
exit 7
"#;
    let initrd = initramfs_for(arch, &scratch.0, &[("t/boot1.sh", script)], &[]);
    let b = boot_on(
        arch,
        &initrd,
        "pidone.hostname=vm-one pidone.env=A=b pidone.grace=20 pidone.modules=virtio_net,virtio-pci -- /bin/sh /t/boot1.sh",
        true,
    );
    b.assert_line("cmd: started");
    for m in [
        "/proc",
        "/sys",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/run",
        "/tmp",
        "/sys/fs/cgroup",
    ] {
        b.assert_line(&format!("mount ok {}", m));
    }
    b.assert_line("gid=5 mode=620 ptmxmode=666");
    b.assert_line("ptmx -> pts/ptmx");
    b.assert_line("fd -> /proc/self/fd stdin -> /proc/self/fd/0");
    b.assert_line("hostname: vm-one");
    b.assert_line("modules: failover net_failover virtio_net virtio_pci");
    b.assert_line("eth0: 52:54:00:12:34:56");
    b.assert_line("lo: inet 127.0.0.1/8");
    b.assert_line("env: A=b PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    b.assert_line("background: running");
    b.assert_line("cmd: exiting 7");
    b.assert_line("background: cleaned up");
    let cleaned = b
        .console
        .find("background: cleaned up")
        .expect("cleanup line");
    let status = b
        .console
        .find("pidone: exit status 7")
        .expect("status line");
    assert!(
        cleaned < status,
        "cleanup after the status line:\n{}",
        b.console
    );
    b.assert_clean_end(7, "reboot: Power down");
}

/// Bad metadata: exit 125 on the console, one FATAL line, and still a
/// clean power-off (no kernel panic).
#[test]
fn bad_metadata_powers_off_with_125() {
    let scratch = Scratch::new("vm-badmeta");
    let initrd = initramfs(
        &scratch.0,
        &[(
            "etc/pidone/metadata.json",
            "{\"docker:cmd\": [\"/bin/true\"",
        )],
    );
    let b = boot(&initrd, "", false);
    assert!(
        b.console
            .lines()
            .any(|l| l.contains("pidone: FATAL stage=metadata:") && l.contains("not valid JSON")),
        "no FATAL line:\n{}",
        b.console
    );
    b.assert_clean_end(125, "reboot: Power down");
}

/// A module that does not exist is fatal and named; the reboot action
/// ends QEMU too (-no-reboot).
#[test]
fn missing_module_is_fatal_and_reboot_ends_the_machine() {
    let scratch = Scratch::new("vm-nomod");
    let initrd = initramfs(&scratch.0, &[]);
    let b = boot(
        &initrd,
        "pidone.modules=virtio_net,no_such_mod pidone.poweroff=reboot -- /bin/true",
        false,
    );
    assert!(
        b.console
            .lines()
            .any(|l| l.contains("pidone: FATAL stage=modules: module no_such_mod not found")),
        "no FATAL line naming the module:\n{}",
        b.console
    );
    b.assert_clean_end(125, "reboot: Restarting system");
}

/// A tiny HTTP server on the host loopback; the guest reaches it through
/// QEMU's user networking at 10.0.2.2:PORT. Serves `body` to every GET.
fn http_server(body: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut req = [0u8; 2048];
            let _ = s.read(&mut req);
            let _ = write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                body.len(),
                body
            );
        }
    });
    port
}

/// The guest's side of a network boot: the module, eth0's address, the
/// default route, the host name, then a file fetched from the host.
fn net_script(port: u16) -> String {
    format!(
        r#"
echo "module: $(grep -o '^virtio_net ' /proc/modules)"
ip -4 addr show eth0 | grep -o 'inet [0-9./]*' | sed 's/^/addr: /'
ip -4 route show default | head -n 1 | sed 's/^/route: /'
echo "hostname: $(hostname)"
# (Debian's static busybox wget crashes with -q or -T here.)
wget -O /tmp/fetched http://10.0.2.2:{port}/file 2>/dev/null
echo "fetched: $(cat /tmp/fetched)"
"#
    )
}

const BODY: &str = "hello from the host";

fn assert_network(b: &Boot) {
    b.assert_line("module: virtio_net");
    b.assert_line("addr: inet 10.0.2.15/24");
    b.assert_line("route: default via 10.0.2.2 dev eth0");
    b.assert_line("hostname: vm-net");
    b.assert_line(&format!("fetched: {}", BODY));
}

/// virtio-net loaded by pidone from the stock kernel's modules, eth0
/// configured from the kernel command line (`pidone.net=`), then a file
/// fetched from the host through QEMU's user networking.
fn network_boot(arch: Arch, name: &str, net: &str) {
    let scratch = Scratch::new(name);
    let port = http_server(BODY);
    let initrd = initramfs_for(arch, &scratch.0, &[("t/net.sh", &net_script(port))], &[]);
    let b = boot_on(
        arch,
        &initrd,
        &format!("pidone.modules=virtio_pci,virtio_net pidone.hostname=vm-net pidone.net={} -- /bin/sh /t/net.sh", net),
        true,
    );
    assert_network(&b);
    b.assert_clean_end(0, "reboot: Power down");
}

#[test]
fn virtio_net_static_address() {
    network_boot(Arch::X86_64, "vm-static", "eth0,10.0.2.15/24,10.0.2.2");
}

#[test]
fn virtio_net_dhcp() {
    network_boot(Arch::X86_64, "vm-dhcp", "eth0,dhcp");
}

/// The arm64 guest's network: virtio-net from the stock arm64 kernel's
/// modules, a DHCP lease from QEMU, a file fetched from the host.
#[test]
fn arm64_virtio_net_dhcp() {
    network_boot(Arch::Arm64, "vm-dhcp-arm64", "eth0,dhcp");
}

/// On a real arm64 kernel, what qemu-user cannot show (tests/cross.rs):
/// pidone started by the command (not PID 1) becomes a subreaper, adopts
/// and reaps an orphan; forwards real-time signals (32 and 33 included,
/// which the C libraries hide); hands its inherited signal mask and
/// ignored signals on to the command; and reports a command that cannot
/// be run in one line with 127 or 126 (the vfork-style child's report).
/// `testkit` is examples/testkit.rs built for aarch64 by `make test`.
#[test]
fn arm64_what_qemu_user_cannot_show() {
    let testkit = repo().join("target/cross/testkit-aarch64");
    assert!(
        testkit.exists(),
        "{} is missing: run `make test` (it runs TESTKIT=1 scripts/cross.sh aarch64)",
        testkit.display()
    );
    let scratch = Scratch::new("vm-gaps-arm64");
    let script = r#"
/bin/pidone -- /bin/testkit orphan-check >/tmp/oc 2>/tmp/oc.err &
p=$!
wait $p; st=$?
echo "subreaper: pid $p exit $st $(tr '\n' ' ' </tmp/oc)stderr [$(cat /tmp/oc.err)]"

/bin/pidone -- /bin/testkit catch /tmp/ready /tmp/log 64 &
p=$!
i=0; while [ ! -e /tmp/ready ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
for s in 10 32 33 34 40 64; do
    kill -$s $p
    i=0; while ! grep -qx "p $s" /tmp/log 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
done
wait $p; st=$?
echo "rt: exit $st log [$(tr '\n' ' ' </tmp/log)]"

/bin/testkit with-mask 10,12,34 1,13,17,28 /bin/pidone -- grep ^Sig /proc/self/status >/tmp/mask
echo "mask: $(grep -E '^Sig(Blk|Ign)' /tmp/mask | tr -d '\t' | tr '\n' ' ')"

/bin/pidone -- /nonexistent/cmd 2>/tmp/e; st=$?
echo "127: exit $st [$(tr '\n' '|' </tmp/e)]"
/bin/pidone -- /etc 2>/tmp/e; st=$?
echo "126: exit $st [$(tr '\n' '|' </tmp/e)]"
"#;
    let initrd = initramfs_for(
        Arch::Arm64,
        &scratch.0,
        &[("t/gaps.sh", script)],
        &[("bin/testkit", &testkit)],
    );
    let b = boot_on(Arch::Arm64, &initrd, "-- /bin/sh /t/gaps.sh", false);
    let line = |prefix: &str| -> String {
        b.console
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {:?} line:\n{}", prefix, b.console))
            .to_string()
    };
    let sub = line("subreaper: ");
    let pid = sub.split_whitespace().nth(2).unwrap_or_default();
    assert_eq!(
        sub,
        format!(
            "subreaper: pid {} exit 0 adopted-by {} reaped yes stderr []",
            pid, pid
        ),
        "adopted and reaped by the pidone that is not PID 1, no warning"
    );
    b.assert_line("rt: exit 0 log [p 10 p 32 p 33 p 34 p 40 p 64 ]");
    b.assert_line("mask: SigBlk:0000000200000a00 SigIgn:0000000008011001");
    for (code, what, reason) in [
        ("127", "/nonexistent/cmd", "No such file"),
        ("126", "/etc", "ermission denied"),
    ] {
        let l = line(&format!("{}: ", code));
        assert!(
            l.starts_with(&format!("{}: exit {} [", code, code)),
            "{}",
            l
        );
        let err = l.split_once('[').map_or("", |x| x.1);
        assert_eq!(err.matches('|').count(), 1, "one line on stderr: {}", l);
        assert!(
            err.contains(what) && (err.contains(reason) || err.contains("not found")),
            "the line names the command and the reason: {}",
            l
        );
    }
    b.assert_clean_end(0, "reboot: Power down");
}

/// Everything from the metadata document, nothing but the console on the
/// kernel command line: command, host name, `pidone:modules`, `sdc:nics`,
/// `pidone:poweroff` (reboot: QEMU's -no-reboot makes it exit too).
#[test]
fn metadata_drives_the_machine() {
    let scratch = Scratch::new("vm-meta");
    let port = http_server(BODY);
    let meta = r#"{"docker:cmd": ["/bin/sh", "/t/net.sh"], "sdc:hostname": "vm-net",
  "pidone:modules": ["virtio_pci", "virtio_net"], "pidone:poweroff": "reboot",
  "sdc:nics": [{"interface": "eth0", "ip": "10.0.2.15", "netmask": "255.255.255.0",
                "gateways": ["10.0.2.2"], "primary": true}]}"#;
    let initrd = initramfs(
        &scratch.0,
        &[
            ("t/net.sh", &net_script(port)),
            ("etc/pidone/metadata.json", meta),
        ],
    );
    let b = boot(&initrd, "", true);
    assert_network(&b);
    b.assert_clean_end(0, "reboot: Restarting system");
}

/// A root switch (`pidone.root`, as `pidone:root` in metadata): the
/// stock kernel's virtio-blk and ext4 modules, a disk made with
/// `mkfs.ext4 -d`, the early mounts moved into it, the command run from
/// it; at the end the disk is synced and remounted read-only, so the host
/// finds the file the guest wrote and a clean file system.
#[test]
fn root_switch_to_a_virtio_disk() {
    require("mkfs.ext4", "e2fsprogs");
    require("debugfs", "e2fsprogs");
    require("e2fsck", "e2fsprogs");
    let scratch = Scratch::new("vm-root");
    let tree = scratch.path("disk");
    for d in ["bin", "proc", "sys", "dev", "run", "tmp", "t", "etc"] {
        std::fs::create_dir_all(tree.join(d)).expect("mkdir");
    }
    let busybox = std::process::Command::new("sh")
        .args(["-c", "command -v busybox"])
        .output()
        .expect("sh");
    std::fs::copy(
        String::from_utf8_lossy(&busybox.stdout).trim(),
        tree.join("bin/busybox"),
    )
    .expect("busybox");
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", tree.join("bin").join(a)).expect("symlink");
    }
    std::fs::write(tree.join("on-disk"), "yes, the disk\n").expect("write");
    std::fs::write(
        tree.join("t/root.sh"),
        r#"
echo "marker: $(cat /on-disk)"
grep -q '^/dev/vda / ext4 rw' /proc/mounts && echo "root: ext4 rw"
test -e /init || echo "initramfs: gone"
grep -q ' /dev devtmpfs ' /proc/mounts && grep -q ' /dev/pts devpts ' /proc/mounts && grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts && echo "moved: ok"
echo "written by the guest" > /from-guest
"#,
    )
    .expect("script");
    let img = scratch.path("disk.img");
    let mk = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "vmroot", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg("32M")
        .output()
        .expect("mkfs.ext4");
    assert!(
        mk.status.success(),
        "mkfs.ext4: {}",
        String::from_utf8_lossy(&mk.stderr)
    );

    let initrd = initramfs(&scratch.0, &[]);
    let drive = format!("file={},format=raw,if=virtio", img.display());
    let b = boot_with(
        &initrd,
        "pidone.modules=virtio_pci,virtio_blk,crc32c_generic,ext4 pidone.root=/dev/vda pidone.rootflags=noatime -- /bin/sh /t/root.sh",
        &["-drive", &drive],
    );
    b.assert_line("marker: yes, the disk");
    b.assert_line("root: ext4 rw");
    b.assert_line("initramfs: gone");
    b.assert_line("moved: ok");
    b.assert_clean_end(0, "reboot: Power down");

    let cat = std::process::Command::new("debugfs")
        .args(["-R", "cat /from-guest"])
        .arg(&img)
        .output()
        .expect("debugfs");
    assert_eq!(
        String::from_utf8_lossy(&cat.stdout),
        "written by the guest\n",
        "file lost: not synced"
    );
    let fsck = std::process::Command::new("e2fsck")
        .arg("-fn")
        .arg(&img)
        .output()
        .expect("e2fsck");
    assert!(
        fsck.status.success(),
        "file system not clean after power-off:\n{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
}

/// Ctrl-Alt-Del (QEMU's `sendkey ctrl-alt-delete` on the emulated
/// keyboard) reaches pidone as SIGINT instead of rebooting the machine at
/// once; pidone forwards it, the command cleans up, the machine powers off.
#[test]
fn ctrl_alt_del_is_a_graceful_shutdown() {
    use std::os::unix::net::UnixStream;
    use std::sync::{Arc, Mutex};
    require("qemu-system-x86_64", "qemu-system-x86");
    let scratch = Scratch::new("vm-cad");
    let script = r#"
trap 'echo "cmd: got SIGINT, cleaning up"; exit 130' INT
echo "cmd: ready"
while :; do sleep 0.2; done
"#;
    let initrd = initramfs(&scratch.0, &[("t/cad.sh", script)]);
    let monitor = scratch.path("monitor.sock");
    let k = kernel();
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-accel",
        "tcg",
        "-m",
        "256",
        "-smp",
        "1",
        "-nographic",
        "-no-reboot",
        "-nic",
        "none",
    ]);
    cmd.arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", monitor.display()));
    cmd.arg("-kernel")
        .arg(&k.vmlinuz)
        .arg("-initrd")
        .arg(&initrd);
    cmd.arg("-append")
        .arg("console=ttyS0 quiet panic=-1 -- /bin/sh /t/cad.sh");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn qemu");
    let console = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().expect("stdout");
    let sink = console.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("lock")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let start = std::time::Instant::now();
    while !console.lock().expect("lock").contains("cmd: ready") {
        if start.elapsed() > DEADLINE || child.try_wait().expect("try_wait").is_some() {
            let _ = child.kill();
            panic!(
                "the command never got ready:\n{}",
                console.lock().expect("lock")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The shell needs a moment to be in its loop with the trap set.
    std::thread::sleep(Duration::from_millis(500));
    let mut m = UnixStream::connect(&monitor).expect("monitor");
    m.write_all(b"sendkey ctrl-alt-delete\n").expect("sendkey");
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!(
                "QEMU did not exit after Ctrl-Alt-Del:\n{}",
                console.lock().expect("lock")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = reader.join();
    let b = Boot {
        console: strip_escapes(&console.lock().expect("lock")),
        status: status.code(),
    };
    b.assert_line("cmd: got SIGINT, cleaning up");
    b.assert_clean_end(130, "reboot: Power down");
}

/// The same guest, pidone named on the kernel command line
/// (`pidone.metadata=serial`), the service silent: the handshake's deadline,
/// then 125 naming the port, and the machine powers off.
#[test]
fn a_silent_serial_service_powers_off_with_125() {
    let scratch = Scratch::new("vm-serial-silent");
    let svc = common::mdata::Service::start("vm-serial-silent", "{}", "silent", None);
    let initrd = initramfs(&scratch.0, &[]);
    let chardev = format!("socket,id=md,path={}", svc.socket.display());
    let b = boot_with(
        &initrd,
        "pidone.metadata=serial",
        &[
            "-serial",
            "mon:stdio",
            "-chardev",
            &chardev,
            "-serial",
            "chardev:md",
        ],
    );
    b.assert_line("pidone: FATAL stage=metadata: metadata service on serial port /dev/ttyS1: no answer to the serial handshake within 6 s");
    b.assert_clean_end(125, "reboot: Power down");
}

/// A Triton HVM guest: no metadata file and nothing on the kernel command
/// line; the DMI product name says `SmartDC HVM`, so pidone asks the
/// metadata service on the second serial port (QEMU's chardev, a unix
/// socket the test service listens on). Command, NICs, routes and the
/// modules all come over that line.
#[test]
fn metadata_over_the_serial_port_of_a_triton_guest() {
    let scratch = Scratch::new("vm-serial");
    let script = r#"
echo "hostname: $(hostname)"
ip -4 addr show eth0 | grep -o 'inet [0-9./]*' | sed 's/^/addr: /'
ip -4 route show | grep -v '^10.0.2.0/24' | sed 's/^/route: /'
grep -o 'metadata from .*' /var/log/pidone.log | sed 's/^/log: /'
"#;
    let data = serde_json::json!({
        "docker:cmd": "[\"/bin/sh\", \"/t/serial.sh\"]",
        "sdc:hostname": "triton-hvm",
        "pidone:modules": "[\"virtio_pci\", \"virtio_net\"]",
        "sdc:nics": serde_json::json!([{"interface": "eth0", "ip": "10.0.2.15", "netmask": "255.255.255.0",
            "gateway": "10.0.2.2", "primary": true}]).to_string(),
        "sdc:routes": serde_json::json!([{"dst": "10.77.0.0/16", "gateway": "10.0.2.3", "linklocal": false}]).to_string(),
    });
    let svc = common::mdata::Service::start("vm-serial", &data.to_string(), "v2", None);
    let initrd = initramfs(&scratch.0, &[("t/serial.sh", script)]);
    let chardev = format!("socket,id=md,path={}", svc.socket.display());
    let b = boot_with(
        &initrd,
        "",
        &[
            "-serial",
            "mon:stdio",
            "-chardev",
            &chardev,
            "-serial",
            "chardev:md",
            "-smbios",
            "type=1,product=SmartDC HVM",
            "-netdev",
            "user,id=vmnet0",
            "-device",
            "virtio-net-pci,netdev=vmnet0,romfile=",
        ],
    );
    b.assert_line("hostname: triton-hvm");
    b.assert_line("addr: inet 10.0.2.15/24");
    b.assert_line("route: default via 10.0.2.2 dev eth0");
    b.assert_line("route: 10.77.0.0/16 via 10.0.2.3 dev eth0");
    // The search's choice and the fetch's time, from pidone's log.
    let log = b
        .console
        .lines()
        .find(|l| l.starts_with("log: metadata from "))
        .unwrap_or_else(|| panic!("no metadata line:\n{}", b.console));
    // "5 of N keys": N is every key pidone knows, which grows with its
    // features; the 5 are what this guest's service holds.
    let head =
        "log: metadata from the metadata service on serial port /dev/ttyS1 (protocol V2): 5 of ";
    assert!(
        log.starts_with(head)
            && log[head.len()..]
                .split_once(" keys in ")
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok()),
        "{}",
        log
    );
    assert!(
        log.contains("DMI product name \"SmartDC HVM\": a Triton guest"),
        "{}",
        log
    );
    eprintln!("{}", log);
    b.assert_clean_end(0, "reboot: Power down");
    let gets = svc.requests().iter().filter(|(op, _)| op == "GET").count();
    assert!(gets > 10, "{:?}", svc.requests());
}

// ---------------------------------------------------------------- cgroup v2
// (docs/cgroups.md; the v1 side is in tests/cgroups.rs.) pidone as /init
// mounts cgroup2 with the memory and pids controllers; the boot's script
// makes one cgroup per case with a 32 MiB memory.max and runs a second
// pidone in it (not PID 1), in metadata mode with its own log file.

const CG_SETUP: &str = r#"
echo "+memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
# mk NAME: the container's cgroup, 32 MiB.
mk() { mkdir /sys/fs/cgroup/$1 && echo 33554432 > /sys/fs/cgroup/$1/memory.max; }
# report NAME STATUS: the exit status, status file and log, prefixed.
report() {
    echo "$1: exit $2"
    echo "$1: status $(cat /var/log/pidone.status)"
    sed "s/^/$1: log /" /tmp/$1.log
}
"#;

/// Past the 32 MiB limit: busybox dd fills a 64 MiB buffer.
const HOG: &str = "dd if=/dev/zero of=/dev/null bs=64M count=1";

/// The inner pidone's document for case `name`: `cmd`, its log in
/// /tmp/NAME.log, a grace of 1 s, and `extra` keys.
fn cg_meta(name: &str, cmd: &[&str], extra: serde_json::Value) -> (String, String) {
    let mut m = serde_json::json!({"Cmd": cmd, "pidone:console": "",
        "pidone:log": format!("/tmp/{}.log", name), "pidone:grace": 1});
    for (k, v) in extra.as_object().expect("object") {
        m[k] = v.clone();
    }
    (format!("t/{}.json", name), m.to_string())
}

fn cg_boot(name: &str, script: &str, metas: &[(String, String)]) -> Boot {
    let scratch = Scratch::new(name);
    let full = format!("{}\n{}", CG_SETUP, script);
    let mut files: Vec<(&str, &str)> = vec![("t/cg.sh", &full)];
    files.extend(metas.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    let initrd = initramfs(&scratch.0, &files);
    // loglevel=1: the kernel's OOM reports (KERN_ERR) would cut into the
    // script's lines on the console; the power-off line is KERN_EMERG.
    boot(&initrd, "loglevel=1 -- /bin/sh /t/cg.sh", false)
}

impl Boot {
    /// The console lines starting with `prefix`.
    fn lines_of(&self, prefix: &str) -> Vec<&str> {
        self.console
            .lines()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    fn status_of(&self, name: &str) -> serde_json::Value {
        let line = self
            .lines_of(&format!("{}: status ", name))
            .first()
            .copied()
            .unwrap_or_else(|| panic!("no status of {}:\n{}", name, self.console));
        serde_json::from_str(&line[name.len() + 9..]).expect("status JSON")
    }
}

/// OOM kills on cgroup v2, watched with inotify on memory.events: a
/// child's kill is in the log while the command still runs (it waits for
/// the line); the command's own kill is 137 with its name and
/// `oom_killed`; under a read-only /sys/fs/cgroup (Docker's default) the
/// same reporting, and not one warning or error line.
#[test]
fn cgroup_v2_oom_kills_are_reported() {
    let script = r#"
mk child; mk ro; mk cmd
sh -c 'echo $$ > /sys/fs/cgroup/child/cgroup.procs && exec /init --metadata /t/child.json'; report child $?
sh -c 'echo $$ > /sys/fs/cgroup/cmd/cgroup.procs && exec /init --metadata /t/cmd.json'; report cmd $?
sh -c 'echo $$ > /sys/fs/cgroup/ro/cgroup.procs && exec unshare -m sh -c "mount -o remount,ro,bind /sys/fs/cgroup && touch /sys/fs/cgroup/ro/x 2>/dev/null || echo ro: read-only; exec /init --metadata /t/ro.json"'; report ro $?
"#;
    let wait = format!(
        "{}; echo \"$0: dd $?\"; while ! grep -q 'killer kil[l]ed' /tmp/$0.log; do sleep 0.1; done; echo \"$0: reported while running\"",
        HOG
    );
    let none = serde_json::json!({});
    let metas = [
        cg_meta("child", &["sh", "-c", &wait, "child"], none.clone()),
        cg_meta("ro", &["sh", "-c", &wait, "ro"], none.clone()),
        cg_meta("cmd", &HOG.split(' ').collect::<Vec<_>>(), none),
    ];
    let b = cg_boot("vm-cg-oom", script, &metas);
    for n in ["child", "ro"] {
        b.assert_line(&format!("{}: dd 137", n));
        b.assert_line(&format!("{}: reported while running", n));
        b.assert_line(&format!("{}: exit 0", n));
        let s = b.status_of(n);
        assert_eq!(
            (s["oom_kills"].as_u64(), s["oom_killed"].as_bool()),
            (Some(1), Some(false)),
            "{}: {}",
            n,
            s
        );
        let kills = b.lines_of(&format!("{}: log ", n));
        let kills: Vec<_> = kills
            .iter()
            .filter(|l| l.contains("the OOM killer killed"))
            .collect();
        assert_eq!(kills.len(), 1, "{}:\n{}", n, b.console);
        assert!(
            kills[0].ends_with("WARN the OOM killer killed a process (memory.max 32 MiB)"),
            "{}",
            kills[0]
        );
    }
    b.assert_line("ro: read-only");
    let ro_log = b.lines_of("ro: log ");
    assert!(
        ro_log
            .iter()
            .all(|l| !l.contains(" ERROR ") && (!l.contains(" WARN ") || l.contains("OOM killer"))),
        "{:?}",
        ro_log
    );
    assert!(
        ro_log.iter().any(|l| l.contains("memory.events (inotify)")),
        "{:?}",
        ro_log
    );
    b.assert_line("cmd: exit 137");
    let s = b.status_of("cmd");
    assert_eq!(
        (
            s["exit_code"].as_u64(),
            s["oom_kills"].as_u64(),
            s["oom_killed"].as_bool()
        ),
        (Some(137), Some(1), Some(true)),
        "{}",
        s
    );
    assert!(
        b.lines_of("cmd: log ").iter().any(|l| l
            .contains("WARN the OOM killer killed the command, pid ")
            && l.ends_with(" (dd) (memory.max 32 MiB)")),
        "{}",
        b.console
    );
    b.assert_clean_end(0, "reboot: Power down");
}

/// The end and nesting on cgroup v2, pidone not PID 1. A process that
/// joined the container's cgroup from outside (as `docker exec` does) and
/// double-forked is nobody's in pidone's tree; the final kill goes through
/// `cgroup.kill` and takes it too. With `pidone:cgroup_nest`, pidone sits
/// in `init`, the command in `command`, and the command can make a cgroup
/// with memory and pids enabled for its children; without, it cannot.
#[test]
fn cgroup_v2_kill_and_nesting() {
    let script = r#"
mk kill
sh -c 'echo $$ > /sys/fs/cgroup/kill/cgroup.procs && exec /init --metadata /t/kill.json' &
inner=$!
# Once pidone has looked at its cgroup (and found it its own).
while ! grep -q 'watching OOM kills' /tmp/kill.log 2>/dev/null; do sleep 0.1; done
sh -c 'echo $$ > /sys/fs/cgroup/kill/cgroup.procs; setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > /tmp/escaped'
esc=$(cat /tmp/escaped)
echo "kill: escaped $(cat /proc/$esc/cgroup), parent $(cut -d' ' -f4 /proc/$esc/stat)"
touch /tmp/go
wait $inner; st=$?
i=0; while [ -e /proc/$esc ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if [ -e /proc/$esc ]; then echo "kill: escaped still running"; else echo "kill: escaped gone"; fi
report kill $st

mk flat; mk nest
sh -c 'echo $$ > /sys/fs/cgroup/flat/cgroup.procs && exec /init --metadata /t/flat.json'; report flat $?
sh -c 'echo $$ > /sys/fs/cgroup/nest/cgroup.procs && exec /init --metadata /t/nest.json'; report nest $?
"#;
    let sub = r#"echo "$0: command in $(cat /proc/self/cgroup), pidone in $(cat /proc/$PPID/cgroup)"
if mkdir /sys/fs/cgroup/$0/sub && echo "+memory +pids" > /sys/fs/cgroup/$0/sub/cgroup.subtree_control 2>/dev/null
then echo "$0: sub enables $(cat /sys/fs/cgroup/$0/sub/cgroup.subtree_control)"; else echo "$0: refused"; fi"#;
    let metas = [
        cg_meta(
            "kill",
            &[
                "sh",
                "-c",
                "touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.1; done",
            ],
            serde_json::json!({}),
        ),
        cg_meta("flat", &["sh", "-c", sub, "flat"], serde_json::json!({})),
        cg_meta(
            "nest",
            &["sh", "-c", sub, "nest"],
            serde_json::json!({"pidone:cgroup_nest": true}),
        ),
    ];
    let b = cg_boot("vm-cg-end", script, &metas);
    b.assert_line("kill: escaped 0::/kill, parent 1");
    b.assert_line("kill: escaped gone");
    b.assert_line("kill: exit 0");
    assert!(
        b.lines_of("kill: log ")
            .iter()
            .any(|l| l.contains("cgroup.kill: 1 cgroup(s) killed")),
        "{}",
        b.console
    );
    b.assert_line("flat: command in 0::/flat, pidone in 0::/flat");
    b.assert_line("flat: refused");
    b.assert_line("flat: exit 0");
    b.assert_line("nest: command in 0::/nest/command, pidone in 0::/nest/init");
    b.assert_line("nest: sub enables memory pids");
    b.assert_line("nest: exit 0");
    assert!(
        b.lines_of("nest: log ").iter().any(|l| l.contains("cgroup: pidone in /sys/fs/cgroup/nest/init, the command in /sys/fs/cgroup/nest/command; enabled: memory pids")),
        "{}",
        b.console
    );
    b.assert_clean_end(0, "reboot: Power down");
}
