//! Writing and reading files inside the root: the one place that does it
//! (exit record, /etc/hosts, /etc/resolv.conf, passwd and group, pidfiles,
//! the metadata document), so that hardening it hardens every caller.

use std::ffi::CStr;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Write to a temporary file beside `path` (created with `mode`, less the
/// umask), then rename it over `path`, so a reader sees the old or the new
/// content, never half of one.
pub fn write_atomically(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// As `write_atomically`, falling back to writing in place: a file an
/// engine bind-mounted (resolv.conf) cannot be renamed over.
pub fn replace(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    write_atomically(path, content, mode).or_else(|_| std::fs::write(path, content))
}

/// At most `limit` bytes of a file; a longer one is cut there (callers
/// that must refuse it ask for one byte more and check).
pub fn read_bounded(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(limit as u64)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// As `read_bounded`, as text (invalid UTF-8 is an error).
pub fn read_text(path: &Path, limit: usize) -> std::io::Result<String> {
    // The message std's read_to_string gives; a &str rather than the
    // FromUtf8Error, whose Debug formatting the binary would carry.
    String::from_utf8(read_bounded(path, limit)?).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// Read a small file into `buf` with plain system calls; None when it
/// cannot be opened or read. Longer files are cut at `buf`'s size. For the
/// start-up path, where read_to_string's fstat, mmaps and munmaps count.
pub fn read_into(path: &CStr, buf: &mut [u8]) -> Option<usize> {
    // openat: musl's open adds an fcntl for O_CLOEXEC on old kernels.
    let flags = libc::O_RDONLY | libc::O_CLOEXEC;
    // SAFETY: a valid C string; the descriptor is ours and closed below.
    let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return None;
    }
    let mut n = 0;
    let ok = loop {
        let Some(rest) = buf.get_mut(n..).filter(|r| !r.is_empty()) else {
            break true;
        };
        // SAFETY: reading into the unused end of buf.
        let r = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        match r {
            0 => break true,
            r if r > 0 => n += r as usize,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => break false,
        }
    };
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(fd) };
    ok.then_some(n)
}
