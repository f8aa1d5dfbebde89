//! Dropping capabilities in the child before the exec (classic Docker's
//! unprivileged containers). The child may run in pidone's memory alongside
//! it (process.rs), so these make raw system calls only (raw.rs): no
//! errno, no allocation.
//!
//! Every listed capability must end up out of reach of the command: out
//! of its permitted, effective, inheritable and ambient sets, and out of
//! the bounding set, which is what an exec grants from (to a root command,
//! or to anyone through a setuid-root binary). Dropping from the bounding
//! set takes CAP_SETPCAP. When the engine withheld it, the capability
//! stays in the bounding set and the child sets no_new_privs instead: then
//! no exec grants anything beyond what the process already has, so the
//! bounding set cannot hand it back. Whatever is still reachable after
//! that is an error naming the capability (exit 125), checked in the
//! child just before the exec.

use super::raw;

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
const CAP_SETPCAP: u32 = 8;

/// What went wrong, as the child reports it: an errno and a detail,
/// `why << 8 | the capability`, why being 0 a call failed (the errno says
/// why), 1 still in the bounding set without no_new_privs, 2 permitted,
/// 3 effective, 4 inheritable, 5 ambient, 6 kept in the bounding set and
/// no_new_privs could not be set (spawn.rs words it).
pub type Failure = (i32, i32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// A system call failed (the errno says why).
    Call = 0,
    Bounding = 1,
    Permitted = 2,
    Effective = 3,
    Inheritable = 4,
    Ambient = 5,
    /// Kept in the bounding set, and no_new_privs could not be set.
    NoNewPrivs = 6,
}

fn fail(e: i32, why: Why, cap: u32) -> Failure {
    (e, (why as i32) << 8 | (cap & 0xff) as i32)
}

/// This process's capability sets (both 32-bit halves).
fn capget() -> Result<(CapHeader, [CapData; 2]), i32> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and two data structs, as _LINUX_CAPABILITY_VERSION_3 wants.
    let r = unsafe {
        raw::call3(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader as usize,
            data.as_mut_ptr() as usize,
            0,
        )
    };
    if r != 0 {
        return Err(raw::err(r));
    }
    Ok((hdr, data))
}

/// prctl with integer arguments: the result, or -errno.
fn prctl(op: libc::c_int, a: u32, b: u32) -> isize {
    // SAFETY: no pointers.
    unsafe {
        raw::call(
            libc::SYS_prctl,
            [op as usize, a as usize, b as usize, 0, 0, 0],
        )
    }
}

/// 1 when `cap` is in the bounding set (0 not, -1 unknown to the kernel).
fn in_bounding(cap: u32) -> bool {
    prctl(libc::PR_CAPBSET_READ, cap, 0) == 1
}

/// Remove the capabilities from the ambient set and the bounding set.
/// Needs CAP_SETPCAP for the bounding set, so it runs before the user
/// switch. Returns whether one of them had to stay in the bounding set
/// (the engine withheld CAP_SETPCAP): `drop_sets` then sets no_new_privs.
pub fn drop_bounding(caps: &[u32]) -> Result<bool, Failure> {
    let mut kept = false;
    for &cap in caps {
        // Lowering needs no privilege; EINVAL: a capability the kernel
        // does not know, so in no set.
        prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_LOWER as u32, cap);
        // Only what is there needs dropping: an engine that already took
        // a capability away must not make this fail.
        if !in_bounding(cap) {
            continue;
        }
        let r = prctl(libc::PR_CAPBSET_DROP, cap, 0);
        if r != 0 {
            let e = raw::err(r);
            if e != libc::EPERM {
                return Err(fail(e, Why::Call, cap));
            }
            kept = true;
        }
    }
    Ok(kept)
}

/// Remove the capabilities from the effective, permitted and inheritable
/// sets (lowering needs no privilege); when one stayed in the bounding set,
/// set no_new_privs; then check that none is left within reach.
pub fn drop_sets(caps: &[u32], bounding_kept: bool) -> Result<(), Failure> {
    let first = caps.first().copied().unwrap_or(0);
    let (mut hdr, mut data) = capget().map_err(|e| fail(e, Why::Call, first))?;
    for &cap in caps {
        let (i, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        if let Some(d) = data.get_mut(i) {
            d.effective &= !bit;
            d.permitted &= !bit;
            d.inheritable &= !bit;
        }
    }
    // SAFETY: as in capget.
    let r = unsafe {
        raw::call3(
            libc::SYS_capset,
            &mut hdr as *mut CapHeader as usize,
            data.as_ptr() as usize,
            0,
        )
    };
    if r != 0 {
        return Err(fail(raw::err(r), Why::Call, first));
    }
    if bounding_kept {
        let r = prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0);
        if r != 0 {
            let cap = caps.iter().copied().find(|&c| in_bounding(c)).unwrap_or(0);
            return Err(fail(raw::err(r), Why::NoNewPrivs, cap));
        }
    }
    verify(caps)
}

/// Every listed capability out of reach, or the first that is not.
fn verify(caps: &[u32]) -> Result<(), Failure> {
    let first = caps.first().copied().unwrap_or(0);
    let (_, data) = capget().map_err(|e| fail(e, Why::Call, first))?;
    let nnp = prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0) == 1;
    for &cap in caps {
        let (i, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        let d = data.get(i).copied().unwrap_or_default();
        let why = if d.permitted & bit != 0 {
            Why::Permitted
        } else if d.effective & bit != 0 {
            Why::Effective
        } else if d.inheritable & bit != 0 {
            Why::Inheritable
        } else if prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_IS_SET as u32,
            cap,
        ) == 1
        {
            Why::Ambient
        } else if !nnp && in_bounding(cap) {
            Why::Bounding
        } else {
            continue;
        };
        return Err(fail(0, why, cap));
    }
    Ok(())
}

/// In pidone itself, before the spawn (the child cannot log): say which
/// capabilities will stay in the command's bounding set because pidone
/// lacks CAP_SETPCAP, and what makes them harmless.
pub fn warn_kept(caps: &[u32], names: &[&str], no_new_privs: bool) {
    let Ok((_, data)) = capget() else {
        return;
    };
    if data[0].effective & (1 << CAP_SETPCAP) != 0 {
        return;
    }
    let kept: Vec<String> = caps
        .iter()
        .filter(|&&c| in_bounding(c))
        .map(|&c| {
            names
                .get(c as usize)
                .map_or_else(|| c.to_string(), |n| format!("CAP_{}", n))
        })
        .collect();
    if kept.is_empty() {
        return;
    }
    let nnp = if no_new_privs {
        "no_new_privs (asked for) keeps any exec from granting them"
    } else {
        "no_new_privs is set, so no exec grants them (setuid and file-capability binaries lose their privileges)"
    };
    log::warn!(
        "stage=caps: no CAP_SETPCAP: {} stay in the bounding set; they are removed from the permitted, effective, inheritable and ambient sets and {}",
        kept.join(","),
        nnp
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_encode_the_set_and_the_capability() {
        assert_eq!(fail(1, Why::Call, 12), (1, 12));
        assert_eq!(fail(0, Why::Bounding, 21), (0, 256 + 21));
        assert_eq!(fail(0, Why::Ambient, 40).1 >> 8, 5);
        assert_eq!(fail(22, Why::NoNewPrivs, 12).1 & 0xff, 12);
    }
}
