//! Modules stage (machines only): load the kernel modules the plan names,
//! each after what it depends on, as `modprobe` would, from
//! `/lib/modules/$(uname -r)/modules.dep`, with `finit_module`. A stock
//! distribution kernel builds virtio-net and friends as modules, so a VM's
//! init must do this before the network stage.

use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Error, Result, Stage};

/// The largest modules.dep or modules.builtin read.
const MODULE_LIST_MAX: usize = 16 << 20;

/// Ask the kernel to decompress the module itself (Linux 6.4 and later).
const MODULE_INIT_COMPRESSED_FILE: libc::c_uint = 4;

/// `virtio-net` and `virtio_net` are one module.
fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// Module name of a path in modules.dep: `kernel/x/virtio_net.ko.xz` ->
/// `virtio_net`.
fn name_of(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.split(".ko").next().unwrap_or(base);
    normalize(stem)
}

/// Does the module file `path` have the (normalized) `name`? Compared
/// byte by byte: modules.dep has thousands of lines, scanned per lookup.
fn is(path: &str, name: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.split(".ko").next().unwrap_or(base);
    stem.len() == name.len()
        && stem
            .bytes()
            .zip(name.bytes())
            .all(|(a, b)| a == b || (a == b'-' && b == b'_'))
}

/// One line of modules.dep: the module's file and its dependencies' files.
#[derive(Debug, PartialEq, Eq)]
struct Entry<'a> {
    file: &'a str,
    deps: Vec<&'a str>,
}

/// Find a module's entry by name.
fn lookup<'a>(dep: &'a str, name: &str) -> Option<Entry<'a>> {
    dep.lines().find_map(|line| {
        let (file, deps) = line.split_once(':')?;
        is(file, name).then(|| Entry {
            file: file.trim(),
            deps: deps.split_whitespace().collect(),
        })
    })
}

/// The files to load for `wanted`, dependencies first, each once. A name
/// missing from modules.dep is returned in the error side.
fn order<'a>(dep: &'a str, wanted: &[String]) -> std::result::Result<Vec<&'a str>, String> {
    fn visit<'a>(
        dep: &'a str,
        file: &'a str,
        seen: &mut Vec<&'a str>,
        out: &mut Vec<&'a str>,
        depth: u32,
    ) {
        if seen.contains(&file) || depth > 64 {
            return;
        }
        seen.push(file);
        let line = dep
            .lines()
            .find_map(|l| l.strip_prefix(file)?.strip_prefix(':'));
        if let Some(deps) = line {
            for d in deps.split_whitespace() {
                visit(dep, d, seen, out, depth + 1);
            }
        }
        out.push(file);
    }
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for w in wanted {
        let e = lookup(dep, &normalize(w)).ok_or_else(|| w.clone())?;
        visit(dep, e.file, &mut seen, &mut out, 0);
    }
    Ok(out)
}

/// Is `name` listed in modules.builtin (compiled into the kernel)?
fn builtin(list: &str, name: &str) -> bool {
    list.lines().any(|l| is(l.trim(), name))
}

fn release() -> String {
    // SAFETY: uname fills the zeroed struct; fields are NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        std::ffi::CStr::from_ptr(u.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

/// Loaded already (as a module or built in with a /sys/module entry)?
fn loaded(name: &str) -> bool {
    Path::new("/sys/module")
        .join(name)
        .join("initstate")
        .exists()
        || Path::new("/sys/module").join(name).join("refcnt").exists()
}

/// Load every module the plan names, dependencies first.
pub fn load(wanted: &[String]) -> Result<()> {
    if wanted.is_empty() {
        return Ok(());
    }
    let start = Instant::now();
    let dir = PathBuf::from("/lib/modules").join(release());
    let dep_path = dir.join("modules.dep");
    // Bounded and never a FIFO, as every input (a distribution's
    // modules.dep is well under 1 MiB).
    let dep = crate::sys::files::read_text(&dep_path, MODULE_LIST_MAX, true).map_err(|e| {
        Error::new(
            Stage::Modules,
            format!("cannot read {}: {}", dep_path.display(), e),
        )
    })?;
    let builtins =
        crate::sys::files::read_text(&dir.join("modules.builtin"), MODULE_LIST_MAX, true)
            .unwrap_or_default();

    let mut modular = Vec::new();
    for w in wanted {
        if builtin(&builtins, &normalize(w)) {
            log::info!("module {} is built into the kernel", w);
        } else {
            modular.push(w.clone());
        }
    }
    let files = order(&dep, &modular).map_err(|missing| {
        Error::new(
            Stage::Modules,
            format!("module {} not found in {}", missing, dep_path.display()),
        )
    })?;
    let mut count = 0;
    for f in files {
        let name = name_of(f);
        if loaded(&name) {
            log::info!("module {} already loaded", name);
            continue;
        }
        if insert(&dir.join(f), &name)? {
            count += 1;
        }
    }
    let line = format!(
        "modules: {} loaded in {} us",
        count,
        start.elapsed().as_micros()
    );
    super::kernel_log(&format!("<6>pidone: {}", line));
    log::info!("{}", line);
    Ok(())
}

/// finit_module one file; Ok(false) when the kernel already had it.
fn insert(path: &Path, name: &str) -> Result<bool> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::new(
            Stage::Modules,
            format!("module {}: cannot open {}: {}", name, path.display(), e),
        )
    })?;
    let compressed = path
        .extension()
        .is_some_and(|x| x == "xz" || x == "zst" || x == "gz");
    let flags = if compressed {
        MODULE_INIT_COMPRESSED_FILE
    } else {
        0
    };
    // SAFETY: finit_module with an open descriptor, an empty NUL-terminated
    // parameter string and integer flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        log::info!("module {} loaded", name);
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EEXIST) => {
            log::info!("module {} already loaded", name);
            Ok(false)
        }
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) if compressed => Err(Error::new(
            Stage::Modules,
            format!(
                "module {}: {} is compressed and this kernel cannot decompress modules ({})",
                name,
                path.display(),
                err
            ),
        )),
        _ => Err(Error::new(
            Stage::Modules,
            format!("module {}: finit_module {}: {}", name, path.display(), err),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz
kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz
kernel/net/core/failover.ko.xz:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/gpu/drm/virtio/virtio-gpu.ko:
";

    #[test]
    fn names() {
        assert_eq!(name_of("kernel/drivers/net/virtio_net.ko.xz"), "virtio_net");
        assert_eq!(
            name_of("kernel/drivers/gpu/drm/virtio/virtio-gpu.ko"),
            "virtio_gpu"
        );
        assert_eq!(name_of("a.ko"), "a");
    }

    #[test]
    fn dependencies_first_each_once() {
        let o = order(
            DEP,
            &[
                "virtio-net".into(),
                "virtio_pci".into(),
                "net_failover".into(),
            ],
        )
        .expect("order");
        assert_eq!(
            o,
            vec![
                "kernel/net/core/failover.ko.xz",
                "kernel/drivers/net/net_failover.ko.xz",
                "kernel/drivers/net/virtio_net.ko.xz",
                "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
                "kernel/drivers/virtio/virtio_pci.ko",
            ]
        );
        assert_eq!(
            order(DEP, &["virtio_gpu".into()]).expect("gpu"),
            vec!["kernel/drivers/gpu/drm/virtio/virtio-gpu.ko"]
        );
    }

    #[test]
    fn missing_is_named() {
        assert_eq!(
            order(DEP, &["virtio_net".into(), "nosuch".into()]),
            Err("nosuch".to_string())
        );
        assert_eq!(order("", &["x".into()]), Err("x".to_string()));
    }

    #[test]
    fn builtins() {
        assert!(builtin(
            "kernel/drivers/virtio/virtio.ko\nkernel/fs/ext4/ext4.ko\n",
            "ext4"
        ));
        assert!(!builtin("kernel/fs/ext4/ext4.ko\n", "ext"));
    }

    #[test]
    fn cyclic_dep_file_terminates() {
        let dep = "a.ko: b.ko\nb.ko: a.ko\n";
        assert_eq!(
            order(dep, &["a".into()]).expect("order"),
            vec!["b.ko", "a.ko"]
        );
    }
}
