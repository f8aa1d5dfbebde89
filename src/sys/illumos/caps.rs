//! Linux capabilities have no illumos counterpart pidone maps them to
//! (illumos has privilege sets): a plan that drops some fails in the
//! child with ENOTSUP, so the start stops with `stage=caps`.

pub fn drop_bounding(_caps: &[u32]) -> Result<(), i32> {
    Err(libc::ENOTSUP)
}

pub fn drop_sets(_caps: &[u32]) -> Result<(), i32> {
    Err(libc::ENOTSUP)
}

pub fn warn_kept(_caps: &[u32], _names: &[&str]) {}
