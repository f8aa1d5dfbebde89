//! Is this a machine's init, and its kernel command line: Linux's
//! procfs and pid namespaces tell.
#![cfg_attr(test, allow(dead_code))]

use crate::sys::files;

/// Where a machine's firmware names the product (the SmartOS hypervisor
/// says "SmartDC HVM"), for the metadata source search.
const DMI_PRODUCT: &str = "/sys/class/dmi/id/product_name";

/// The firmware's product name, trimmed ("" when unreadable).
pub fn machine_product() -> String {
    std::fs::read_to_string(DMI_PRODUCT)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The inode number of the initial pid namespace (the kernel's
/// PROC_PID_INIT_INO); every other pid namespace gets a fresh one.
const INIT_PID_NS_INO: u64 = 0xEFFF_FFFC;
/// statfs type of procfs.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// PID 1 of a machine: PID 1 of the *initial* pid namespace (the kernel's
/// own init), and then either nothing had mounted /proc yet (an
/// initramfs's `/init`) or the kernel command line says
/// `pidone.machine=1`. A container's PID 1, with or without /proc, is
/// never one: it runs its argv, and nothing remounts, reboots or reads
/// the host kernel's command line.
///
/// `flag` reads `pidone.machine=` from the command line (the kernel
/// dialect's parser, handed in: the seam parses nothing).
pub fn machine_mode(flag: fn(&str) -> Option<bool>) -> bool {
    if std::process::id() != 1 {
        return false;
    }
    // In the initial namespace pid 2 is kthreadd, always there when init
    // starts; in a container's fresh namespace pidone is alone. Free, and
    // needs no /proc: every container start stops here.
    // SAFETY: signal 0 only checks that the pid exists.
    if unsafe { libc::kill(2, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    {
        return false;
    }
    let mounted_here = match proc_mounted() {
        true => false,
        // A machine needs /proc anyway (the early mounts skip it then);
        // without CAP_SYS_ADMIN this fails and pidone is no machine.
        false if mount_proc() => true,
        false => return false,
    };
    if !initial_pid_ns() {
        if mounted_here {
            // SAFETY: a C string; detaching the mount made just above.
            unsafe { libc::umount2(c"/proc".as_ptr(), libc::MNT_DETACH) };
        }
        return false;
    }
    if mounted_here {
        return true;
    }
    // This runs at every container start (pidone is PID 1 there too), so
    // it stays cheap: a stack buffer instead of read_to_string's (an
    // fstat, two mmaps, two munmaps), and the word-by-word parse only
    // when the flag's name is there at all.
    let mut buf = [0u8; 4096];
    let len = files::read_into(c"/proc/cmdline", &mut buf);
    len.and_then(|n| std::str::from_utf8(buf.get(..n)?).ok())
        .is_some_and(|c| c.contains("pidone.machine=") && flag(c) == Some(true))
}

fn proc_mounted() -> bool {
    // SAFETY: a zeroed statfs is a valid out-buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a C string and a valid out-pointer.
    unsafe { libc::statfs(c"/proc".as_ptr(), &mut st) == 0 && st.f_type as i64 == PROC_SUPER_MAGIC }
}

fn mount_proc() -> bool {
    // SAFETY: C strings; mkdir fails harmlessly when /proc exists.
    unsafe {
        libc::mkdir(c"/proc".as_ptr(), 0o555);
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        libc::mount(
            c"proc".as_ptr(),
            c"/proc".as_ptr(),
            c"proc".as_ptr(),
            flags,
            std::ptr::null(),
        ) == 0
    }
}

/// pidone's pid namespace is the initial one (/proc must be procfs).
fn initial_pid_ns() -> bool {
    // SAFETY: a zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a C string and a valid out-pointer.
    let r = unsafe { libc::stat(c"/proc/self/ns/pid".as_ptr(), &mut st) };
    r == 0 && st.st_ino == INIT_PID_NS_INO
}

/// The kernel command line of a machine, once /proc is mounted.
pub fn read_cmdline() -> String {
    files::read_bounded(std::path::Path::new("/proc/cmdline"), 64 << 10)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
