//! Dropping capabilities in the child before the exec (classic Docker's
//! unprivileged containers). Async-signal-safe: plain system calls only.

use crate::error::errno;

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

/// This process's capability sets (both 32-bit halves).
fn capget() -> Result<(CapHeader, [CapData; 2]), i32> {
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
    Ok((hdr, data))
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
    let (mut hdr, mut data) = capget()?;
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
/// (the child cannot log). `names`: the capabilities' names by number.
pub fn warn_kept(caps: &[u32], names: &[&str]) {
    const CAP_SETPCAP: u32 = 8;
    let Ok((_, data)) = capget() else {
        return;
    };
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
            names
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
