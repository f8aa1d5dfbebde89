//! Dropping capabilities in the child before the exec (classic Docker's
//! unprivileged containers). Async-signal-safe: plain system calls only.

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

/// Capability names by number, as in linux/capability.h.
pub const CAP_NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The number of a capability name: any case, with or without `CAP_`.
pub fn cap_number(name: &str) -> Option<u32> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    CAP_NAMES.iter().position(|n| *n == bare).map(|i| i as u32)
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Remove the capabilities from the bounding set and the ambient set.
/// Needs CAP_SETPCAP, so it runs before the user switch.
pub fn drop_bounding(caps: &[u32]) -> Result<(), i32> {
    for &cap in caps {
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_LOWER as libc::c_ulong,
                cap as libc::c_ulong,
                0,
                0,
            );
        }
        // Only what is there needs dropping: an engine that already took a
        // capability away (SETPCAP included) must not make this fail.
        // 0: not in the set; -1 (EINVAL): the kernel does not know it.
        // SAFETY: as above.
        if unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } != 1 {
            continue;
        }
        // SAFETY: as above.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
            // EPERM: the engine withheld CAP_SETPCAP. The capability still
            // leaves the other sets; the parent has warned (`warn_kept`).
            if errno() != libc::EPERM {
                return Err(errno());
            }
        }
    }
    Ok(())
}

/// Remove the capabilities from the effective, permitted and inheritable sets.
pub fn drop_sets(caps: &[u32]) -> Result<(), i32> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and two data structs, as _LINUX_CAPABILITY_VERSION_3 wants.
    if unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    } != 0
    {
        return Err(errno());
    }
    for &cap in caps {
        let (i, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        if let Some(d) = data.get_mut(i) {
            d.effective &= !bit;
            d.permitted &= !bit;
            d.inheritable &= !bit;
        }
    }
    // SAFETY: as above.
    if unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) } != 0 {
        return Err(errno());
    }
    Ok(())
}

/// In pidone itself, before the spawn: warn about capabilities that will
/// stay in the command's bounding set because pidone lacks CAP_SETPCAP
/// (the child cannot log).
pub fn warn_kept(caps: &[u32]) {
    const CAP_SETPCAP: u32 = 8;
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and two data structs, as in drop_sets.
    if unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    } != 0
    {
        return;
    }
    if data[0].effective & (1 << CAP_SETPCAP) != 0 {
        return;
    }
    let kept: Vec<String> = caps
        .iter()
        // SAFETY: prctl with integer arguments.
        .filter(
            |&&c| unsafe { libc::prctl(libc::PR_CAPBSET_READ, c as libc::c_ulong, 0, 0, 0) } == 1,
        )
        .map(|&c| {
            CAP_NAMES
                .get(c as usize)
                .map_or_else(|| c.to_string(), |n| n.to_string())
        })
        .collect();
    if !kept.is_empty() {
        log::warn!(
            "stage=caps: no CAP_SETPCAP: capabilities {} stay in the bounding set (dropped from the others)",
            kept.join(",")
        );
    }
}
