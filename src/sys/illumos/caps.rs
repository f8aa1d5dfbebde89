//! Linux capabilities have no illumos counterpart pidone maps them to
//! (illumos has privilege sets): a plan that drops some fails in the
//! child with ENOTSUP, so the start stops with `stage=caps`.

/// Errors as Linux's (an errno and `why << 8 | capability`; why 0: a
/// call failed).
pub fn drop_bounding(caps: &[u32]) -> Result<bool, (i32, i32)> {
    Err((libc::ENOTSUP, caps.first().map_or(0, |&c| c as i32 & 0xff)))
}

pub fn drop_sets(caps: &[u32], _bounding_kept: bool) -> Result<(), (i32, i32)> {
    Err((libc::ENOTSUP, caps.first().map_or(0, |&c| c as i32 & 0xff)))
}

pub fn warn_kept(_caps: &[u32], _names: &[&str], _no_new_privs: bool) {}
