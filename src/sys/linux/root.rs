//! Root stage (machines only): mount the real root file system, move the
//! early mounts into it and make it `/`, as an initramfs's switch_root
//! does. Everything after this stage (hostname files, user lookup, the
//! command) sees the new root.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::mount::{mount, MsFlags};

use super::mounts::TOP_LEVEL;
use crate::error::{Context, Error, Result, Stage};
use crate::plan::{MountFlags, RootSwitch};

const NEW_ROOT: &str = "/.pidone-root";

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
    let opts = &root.options;
    mount(
        Some(&root.device),
        new,
        Some(root.fstype.as_str()),
        ms_flags(opts.flags),
        Some(opts.data.as_str()),
    )
    .stage(Stage::Root, || {
        format!(
            "cannot mount {} ({}, {:?}) as the root",
            root.device.display(),
            root.fstype,
            root.options.text
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

/// The plan's flags as mount(2) takes them.
fn ms_flags(f: MountFlags) -> MsFlags {
    [
        (MountFlags::RDONLY, MsFlags::MS_RDONLY),
        (MountFlags::NOSUID, MsFlags::MS_NOSUID),
        (MountFlags::NODEV, MsFlags::MS_NODEV),
        (MountFlags::NOEXEC, MsFlags::MS_NOEXEC),
        (MountFlags::NOATIME, MsFlags::MS_NOATIME),
        (MountFlags::RELATIME, MsFlags::MS_RELATIME),
        (MountFlags::SYNCHRONOUS, MsFlags::MS_SYNCHRONOUS),
    ]
    .into_iter()
    .filter(|&(bit, _)| f.has(bit))
    .fold(MsFlags::empty(), |all, (_, ms)| all | ms)
}
