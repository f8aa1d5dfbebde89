//! pidone is never a machine's init on illumos: a zone's init runs its
//! command (or the metadata's).

/// No firmware product name is read (no machine mode).
pub fn machine_product() -> String {
    String::new()
}

pub fn machine_mode(_flag: fn(&str) -> Option<bool>) -> bool {
    false
}

pub fn read_cmdline() -> String {
    String::new()
}
