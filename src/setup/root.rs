//! Root stage (machines only): mount the real root file system, move the
//! early mounts into it and make it `/`, as an initramfs's switch_root
//! does. Everything after this stage (hostname files, user lookup, the
//! command) sees the new root.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::mount::{mount, MsFlags};

use crate::error::{Context, Error, Result, Stage};
use crate::plan::RootSwitch;
use crate::setup::mounts::TOP_LEVEL;

const NEW_ROOT: &str = "/.pidone-root";

/// Split `options` into mount flags and the file system's own data, as
/// mount(8) does for the common flags.
fn flags_and_data(options: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "defaults" => {}
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// How long to wait for the root device to appear: a driver just loaded
/// may register its disks a moment later.
const DEVICE_WAIT: Duration = Duration::from_secs(10);

fn wait_for(device: &Path) {
    let start = Instant::now();
    while !device.exists() && start.elapsed() < DEVICE_WAIT {
        std::thread::sleep(Duration::from_millis(10));
    }
    if start.elapsed() >= Duration::from_millis(10) {
        log::info!(
            "waited {} ms for {}",
            start.elapsed().as_millis(),
            device.display()
        );
    }
}

pub fn switch(root: &RootSwitch) -> Result<()> {
    let new = Path::new(NEW_ROOT);
    if root.device.starts_with("/dev") {
        wait_for(&root.device);
    }
    std::fs::create_dir_all(new).stage(Stage::Root, || format!("cannot create {}", NEW_ROOT))?;
    let (flags, data) = flags_and_data(&root.options);
    mount(
        Some(&root.device),
        new,
        Some(root.fstype.as_str()),
        flags,
        Some(data.as_str()),
    )
    .stage(Stage::Root, || {
        format!(
            "cannot mount {} ({}, {:?}) as the root",
            root.device.display(),
            root.fstype,
            root.options
        )
    })?;
    log::info!(
        "mounted {} ({}) as the new root",
        root.device.display(),
        root.fstype
    );
    for m in TOP_LEVEL {
        let to = new.join(m.trim_start_matches('/'));
        if !to.is_dir() {
            log::warn!("stage=root: no {} in the new root: {} left behind", m, m);
            continue;
        }
        if let Err(e) = mount(Some(*m), &to, None::<&str>, MsFlags::MS_MOVE, None::<&str>) {
            log::warn!("stage=root: cannot move {}: {}", m, e);
        }
    }
    std::env::set_current_dir(new).stage(Stage::Root, || format!("cannot enter {}", NEW_ROOT))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .stage(Stage::Root, || "cannot move the new root onto /".into())?;
    nix::unistd::chroot(".").stage(Stage::Root, || "chroot".into())?;
    std::env::set_current_dir("/")
        .map_err(|e| Error::new(Stage::Root, format!("chdir /: {}", e)))?;
    log::info!("switched root to {}", root.device.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split() {
        let (f, d) = flags_and_data("ro,noatime,errors=remount-ro,data=ordered");
        assert_eq!(f, MsFlags::MS_RDONLY | MsFlags::MS_NOATIME);
        assert_eq!(d, "errors=remount-ro,data=ordered");
        assert_eq!(flags_and_data(""), (MsFlags::empty(), String::new()));
        assert_eq!(flags_and_data("ro,rw").0, MsFlags::empty());
    }
}
