//! Writing and reading files inside the root: the one place that does it
//! (log file, exit record, /etc/hosts, /etc/resolv.conf, helper output,
//! the workdir, passwd and group, pidfiles, /.dockerenv, the metadata
//! document). The image and the command's user are untrusted, so any path
//! here may hold a planted link, a FIFO, a device or something huge:
//!
//! - a write resolves its path without following a link at any component
//!   (`openat2` with `RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH` where the
//!   kernel has it, else a walk of `O_NOFOLLOW` opens, one per component);
//! - files are created `O_EXCL | O_NOFOLLOW` under unpredictable names and
//!   renamed into place, or appended to only when they are regular files
//!   with one link;
//! - directories are made with `mkdirat` and owned with `fchown` on their
//!   own descriptor;
//! - a read opens `O_NONBLOCK` (a FIFO cannot block it), `O_NOFOLLOW`
//!   where no link is expected, is refused unless the file is regular, and
//!   stops at a stated limit.
//!
//! Nothing here panics; every failure is an `io::Error` whose message says
//! what was refused.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

/// The largest input file pidone reads: /.dockerenv, /etc/passwd,
/// /etc/group (the metadata document has the same limit, checked by its
/// parser).
pub const MAX_INPUT: usize = 1 << 20;

const OPEN_BASE: libc::c_int = libc::O_CLOEXEC | libc::O_NOCTTY;

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_string())
}

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| invalid("the path holds a NUL byte"))
}

fn owned(r: libc::c_int) -> io::Result<OwnedFd> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: a descriptor the kernel just returned, owned by nobody.
        Ok(unsafe { OwnedFd::from_raw_fd(r) })
    }
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A clearer error for a refused link than ELOOP's "too many levels".
fn link_refused() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "a symbolic link in the path (pidone follows none there)",
    )
}

fn explain(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        link_refused()
    } else {
        e
    }
}

/// A path split into where its walk starts (`/` or the working
/// directory), its directory components and its last name. `..` is
/// refused: nothing pidone writes needs it, and it would let a walk leave
/// a directory it checked.
struct Split<'a> {
    absolute: bool,
    dirs: Vec<&'a OsStr>,
    name: &'a OsStr,
}

fn split(path: &Path) -> io::Result<Split<'_>> {
    let (absolute, mut parts) = components(path)?;
    let name = parts.pop().ok_or_else(|| invalid("no file name"))?;
    Ok(Split {
        absolute,
        dirs: parts,
        name,
    })
}

/// The path's names in order and whether it is absolute; `..` is refused,
/// since resolving it would need the very lookup these walks avoid.
fn components(path: &Path) -> io::Result<(bool, Vec<&OsStr>)> {
    let mut absolute = false;
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir => absolute = true,
            Component::CurDir => {}
            Component::Normal(p) => parts.push(p),
            Component::ParentDir => return Err(invalid("a `..` in the path")),
            Component::Prefix(_) => return Err(invalid("a path prefix")),
        }
    }
    Ok((absolute, parts))
}

fn start_dir(absolute: bool) -> io::Result<OwnedFd> {
    let p: &CStr = if absolute { c"/" } else { c"." };
    // SAFETY: a valid C string.
    owned(unsafe {
        libc::openat(
            libc::AT_FDCWD,
            p.as_ptr(),
            super::walk::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })
}

/// One component, without following a link: `O_DIRECTORY | O_NOFOLLOW`
/// fails on a link (ENOTDIR), which is told apart from a plain file.
fn open_dir_at(dir: RawFd, name: &OsStr) -> io::Result<OwnedFd> {
    let c = cstring(name.as_bytes())?;
    let flags = super::walk::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid C string.
    owned(unsafe { libc::openat(dir, c.as_ptr(), flags) }).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOTDIR) && is_link_at(dir, &c) {
            link_refused()
        } else {
            e
        }
    })
}

fn is_link_at(dir: RawFd, name: &CStr) -> bool {
    // SAFETY: a zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-pointer.
    let r = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

/// The directory that holds `path`'s last component, reached without
/// following any link, and that component's name.
pub fn parent(path: &Path) -> io::Result<(OwnedFd, CString)> {
    parent_with(path, true)
}

fn parent_with(path: &Path, try_openat2: bool) -> io::Result<(OwnedFd, CString)> {
    let s = split(path)?;
    let name = cstring(s.name.as_bytes())?;
    let start = start_dir(s.absolute)?;
    if s.dirs.is_empty() {
        return Ok((start, name));
    }
    if try_openat2 {
        let rel = cstring(&join(&s.dirs))?;
        let flags = super::walk::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        if let Some(r) = super::walk::open_beneath(start.as_raw_fd(), &rel, flags, 0) {
            return r.map(|fd| (fd, name)).map_err(explain);
        }
    }
    let mut cur = start;
    for d in &s.dirs {
        cur = open_dir_at(cur.as_raw_fd(), d)?;
    }
    Ok((cur, name))
}

fn join(parts: &[&OsStr]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            v.push(b'/');
        }
        v.extend_from_slice(p.as_bytes());
    }
    v
}

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: a zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out-pointer.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

fn require_regular(fd: RawFd) -> io::Result<libc::stat> {
    let st = fstat(fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(invalid("not a regular file"));
    }
    Ok(st)
}

/// An unpredictable suffix for a temporary name: the kernel's random
/// bytes, else (no getrandom) the clock, pid and a counter mixed, which
/// still is not a name another process can plant in advance with
/// certainty — and `O_EXCL | O_NOFOLLOW` refuses whatever it finds.
fn random_suffix() -> String {
    static COUNTER: AtomicU8 = AtomicU8::new(0);
    let mut b = [0u8; 8];
    // SAFETY: writing into an 8-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), libc::GRND_NONBLOCK) };
    let mut v = u64::from_ne_bytes(b);
    if n != 8 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        v ^= (t.as_nanos() as u64)
            ^ (u64::from(std::process::id()) << 32)
            ^ u64::from(COUNTER.fetch_add(1, Ordering::Relaxed))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    format!("{:016x}", v)
}

/// Write `content` to `path` atomically: a new temporary file beside it
/// (`O_CREAT | O_EXCL | O_NOFOLLOW`, unpredictable name, `mode` less the
/// umask), synced, then renamed over `path`, so a reader sees the old or
/// the new content, never half of one. The directory is reached without following
/// links; a link at `path` itself is replaced, never written through.
pub fn write_atomically(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    let (dir, name) = parent(path)?;
    let d = dir.as_raw_fd();
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..8 {
        let mut tmp = b".".to_vec();
        tmp.extend_from_slice(name.as_bytes());
        tmp.extend_from_slice(b".pidone-");
        tmp.extend_from_slice(random_suffix().as_bytes());
        let tmp = cstring(&tmp)?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | OPEN_BASE;
        // SAFETY: a valid C string.
        let fd = match owned(unsafe { libc::openat(d, tmp.as_ptr(), flags, mode) }) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last = e;
                continue;
            }
            Err(e) => return Err(explain(e)),
        };
        let result = (|| {
            let mut f = File::from(fd);
            f.write_all(content)?;
            f.sync_all()?;
            // SAFETY: valid descriptors and C strings.
            check(unsafe { libc::renameat(d, tmp.as_ptr(), d, name.as_ptr()) })
        })();
        if result.is_err() {
            // SAFETY: removing the temporary file made above.
            unsafe { libc::unlinkat(d, tmp.as_ptr(), 0) };
        }
        return result;
    }
    Err(last)
}

/// As `write_atomically`, falling back to writing in place when `path`
/// is a mount point (an engine's bind-mounted resolv.conf cannot be
/// renamed over): the existing regular file, opened without following a
/// link, truncated and rewritten.
pub fn replace(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    match write_atomically(path, content, mode) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let (dir, name) = parent(path)?;
            let flags = libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | OPEN_BASE;
            // SAFETY: a valid C string.
            let fd = owned(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) })
                .map_err(explain)?;
            require_regular(fd.as_raw_fd())?;
            let mut f = File::from(fd);
            f.set_len(0)?;
            f.write_all(content)
        }
        r => r,
    }
}

/// Open `path` for appending, creating it with `mode` if missing. Refused
/// unless it is a regular file with a single link (a hard link planted by
/// the file's owner would point elsewhere); never a link, never a FIFO
/// (the open does not block, and the type is checked).
pub fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let (dir, name) = parent(path)?;
    let flags = libc::O_WRONLY
        | libc::O_APPEND
        | libc::O_CREAT
        | libc::O_NOFOLLOW
        | libc::O_NONBLOCK
        | OPEN_BASE;
    // SAFETY: a valid C string.
    let fd = owned(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) }).map_err(
        |e| match e.raw_os_error() {
            // A FIFO without a reader.
            Some(libc::ENXIO) => invalid("not a regular file"),
            _ => explain(e),
        },
    )?;
    let st = require_regular(fd.as_raw_fd())?;
    if st.st_nlink > 1 {
        return Err(invalid("a file with more than one hard link"));
    }
    // Blocking again: writes to a regular file never wait anyway, and the
    // flag would be inherited by a helper given this descriptor.
    // SAFETY: our descriptor.
    check(unsafe {
        libc::fcntl(
            fd.as_raw_fd(),
            libc::F_SETFL,
            libc::O_WRONLY | libc::O_APPEND,
        )
    })?;
    Ok(File::from(fd))
}

/// Rename `path` to `path` + `suffix` in the same directory when it is a
/// regular file larger than `over` bytes (log rotation). Returns whether
/// it did.
pub fn rotate(path: &Path, suffix: &str, over: u64) -> io::Result<bool> {
    let (dir, name) = parent(path)?;
    // SAFETY: a zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, C string and out-pointer.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG || (st.st_size as u64) <= over {
        return Ok(false);
    }
    let mut to = name.as_bytes().to_vec();
    to.extend_from_slice(suffix.as_bytes());
    let to = cstring(&to)?;
    let d = dir.as_raw_fd();
    // SAFETY: valid descriptors and C strings.
    check(unsafe { libc::renameat(d, name.as_ptr(), d, to.as_ptr()) })?;
    Ok(true)
}

/// `mkdir -p` without following links: each missing directory made with
/// `mkdirat` (mode 0755) and, when `owner` is given, owned with `fchown`
/// on its own descriptor. Returns the directories made, outermost first.
/// A component that exists as a link or a non-directory is an error.
pub fn create_dirs(path: &Path, owner: Option<(u32, u32)>) -> io::Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    let (absolute, parts) = components(path)?;
    let mut cur = start_dir(absolute)?;
    let mut so_far = PathBuf::from(if absolute { "/" } else { "" });
    for p in parts {
        so_far.push(p);
        let c = cstring(p.as_bytes())?;
        // SAFETY: a valid C string.
        let r = unsafe { libc::mkdirat(cur.as_raw_fd(), c.as_ptr(), 0o755) };
        let new = r == 0;
        if !new {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(named(&so_far, e));
            }
        }
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | OPEN_BASE;
        // SAFETY: a valid C string.
        let next =
            owned(unsafe { libc::openat(cur.as_raw_fd(), c.as_ptr(), flags) }).map_err(|e| {
                if is_link_at(cur.as_raw_fd(), &c) {
                    named(&so_far, link_refused())
                } else if e.raw_os_error() == Some(libc::ENOTDIR) {
                    io::Error::new(e.kind(), format!("{} is not a directory", so_far.display()))
                } else {
                    named(&so_far, e)
                }
            })?;
        if new {
            if let Some((uid, gid)) = owner {
                // SAFETY: our descriptor.
                check(unsafe { libc::fchown(next.as_raw_fd(), uid, gid) })
                    .map_err(|e| named(&so_far, e))?;
            }
            made.push(so_far.clone());
        }
        cur = next;
    }
    Ok(made)
}

fn named(p: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {}", p.display(), e))
}

/// Open an input without blocking (a FIFO opens at once and is then
/// refused), refused unless a regular file; a link at the last component
/// is refused too unless `follow`.
fn open_input(path: &Path, follow: bool) -> io::Result<File> {
    let c = cstring(path.as_os_str().as_bytes())?;
    let mut flags = libc::O_RDONLY | libc::O_NONBLOCK | OPEN_BASE;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    // SAFETY: a valid C string.
    let fd = owned(unsafe { libc::openat(libc::AT_FDCWD, c.as_ptr(), flags) }).map_err(explain)?;
    require_regular(fd.as_raw_fd())?;
    Ok(File::from(fd))
}

/// A whole input file of at most `limit` bytes; a larger one is an error
/// saying so, never read whole. Links are followed only if `follow`.
pub fn read_input(path: &Path, limit: usize, follow: bool) -> io::Result<Vec<u8>> {
    read_limited(open_input(path, follow)?, limit)
}

/// As `read_input` with links followed, with the file's `stat` (its
/// owner and mode, for a check against the reader it is meant for).
pub fn read_with_stat(path: &Path, limit: usize) -> io::Result<(Vec<u8>, libc::stat)> {
    let f = open_input(path, true)?;
    let st = fstat(f.as_raw_fd())?;
    Ok((read_limited(f, limit)?, st))
}

/// At most `limit` bytes of a regular file (links followed); a longer one
/// is cut there (callers that must refuse it ask for one byte more and
/// check).
pub fn read_bounded(path: &Path, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    open_input(path, true)?
        .take(limit as u64)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// As `read_input`, as text (invalid UTF-8 is an error).
pub fn read_text(path: &Path, limit: usize, follow: bool) -> io::Result<String> {
    // The message std's read_to_string gives; a &str rather than the
    // FromUtf8Error, whose Debug formatting the binary would carry.
    String::from_utf8(read_input(path, limit, follow)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// As `read_input` (no link followed), but None when the file was last
/// modified before `since`: a pidfile left by an earlier start.
pub fn read_newer(
    path: &Path,
    limit: usize,
    since: std::time::SystemTime,
) -> io::Result<Option<Vec<u8>>> {
    let f = open_input(path, false)?;
    let st = fstat(f.as_raw_fd())?;
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(
            u64::try_from(st.st_mtime).unwrap_or(0),
            u32::try_from(st.st_mtime_nsec).unwrap_or(0),
        );
    if mtime < since {
        return Ok(None);
    }
    read_limited(f, limit).map(Some)
}

/// Read at most `limit` bytes from `r`; more is an error saying so.
pub fn read_limited(r: impl Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(limit as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} bytes", limit),
        ));
    }
    Ok(buf)
}

/// Write `content` to an existing regular file in one `write` (a control
/// file of the kernel, e.g. a cgroup's `cgroup.procs`): no link at the last
/// name, no FIFO, nothing created or truncated.
pub fn write_existing(path: &Path, content: &[u8]) -> io::Result<()> {
    let c = cstring(path.as_os_str().as_bytes())?;
    let flags = libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW | OPEN_BASE;
    // SAFETY: a valid C string.
    let fd = owned(unsafe { libc::openat(libc::AT_FDCWD, c.as_ptr(), flags) }).map_err(explain)?;
    require_regular(fd.as_raw_fd())?;
    // SAFETY: writing from a valid buffer.
    let n = unsafe { libc::write(fd.as_raw_fd(), content.as_ptr().cast(), content.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A kernel file held open to be read again from its start (`reread`):
/// the OOM watch's counters (and, opened for one read, `read_into`'s
/// files): no link at the last name, a regular file. Why held: a kernfs or proc file allocates its read
/// buffer, charged to the reader's memory cgroup, at open and first read;
/// done right after an OOM kill, while the cgroup is still full, that
/// charge starts a second OOM, which kills the next largest process —
/// the command's shell, or pidone itself (seen on this machine's kernel).
/// A held file keeps its buffer, and a read from offset 0 refills it.
pub struct Held(OwnedFd);

impl Held {
    pub fn open(path: &CStr) -> Option<Held> {
        // openat: musl's open adds an fcntl for O_CLOEXEC on old kernels.
        let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOFOLLOW;
        // SAFETY: a valid C string.
        let fd = owned(unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), flags) }).ok()?;
        require_regular(fd.as_raw_fd()).ok()?;
        Some(Held(fd))
    }

    /// The file from its start into `buf` (cut at its size).
    pub fn reread(&self, buf: &mut [u8]) -> Option<usize> {
        let mut n = 0;
        loop {
            let Some(rest) = buf.get_mut(n..).filter(|r| !r.is_empty()) else {
                return Some(n);
            };
            // SAFETY: reading into the unused end of buf, at offset n.
            let r = unsafe {
                libc::pread(
                    self.0.as_raw_fd(),
                    rest.as_mut_ptr().cast(),
                    rest.len(),
                    n as libc::off_t,
                )
            };
            match r {
                0 => return Some(n),
                r if r > 0 => n += r as usize,
                _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                _ => return None,
            }
        }
    }
}

/// Read a small file into `buf` with plain system calls; None when it
/// cannot be opened or read, or is not a regular file. Longer files are
/// cut at `buf`'s size. For the start-up path, where read_to_string's
/// fstat, mmaps and munmaps count.
// Used by the Linux machine check only (illumos has no machine mode).
#[allow(dead_code)]
pub fn read_into(path: &CStr, buf: &mut [u8]) -> Option<usize> {
    Held::open(path)?.reread(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    struct Tmp(PathBuf);
    impl Tmp {
        fn new(name: &str) -> Tmp {
            let p =
                std::env::temp_dir().join(format!("pidone-safefs-{}-{}", name, std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Tmp(p)
        }
        fn p(&self, rel: &str) -> PathBuf {
            self.0.join(rel)
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mkfifo(p: &Path) {
        let c = CString::new(p.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn atomic_write_replaces_a_planted_link_and_leaves_its_target() {
        let t = Tmp::new("aw");
        std::fs::write(t.p("victim"), "secret\n").unwrap();
        symlink(t.p("victim"), t.p("status")).unwrap();
        write_atomically(&t.p("status"), b"new\n", 0o644).unwrap();
        assert_eq!(std::fs::read(t.p("victim")).unwrap(), b"secret\n");
        assert_eq!(std::fs::read(t.p("status")).unwrap(), b"new\n");
        let m = std::fs::symlink_metadata(t.p("status")).unwrap();
        assert!(m.file_type().is_file());
        assert_eq!(m.permissions().mode() & 0o777, 0o644);
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(&t.0).unwrap().count(), 2);
    }

    #[test]
    fn no_link_is_followed_at_any_directory_component() {
        for try2 in [true, false] {
            let t = Tmp::new(if try2 { "dir2" } else { "dirw" });
            std::fs::create_dir(t.p("real")).unwrap();
            symlink(t.p("real"), t.p("link")).unwrap();
            let r = parent_with(&t.p("link/file"), try2);
            let e = r.expect_err("a link component is refused");
            assert!(e.to_string().contains("symbolic link"), "{}", e);
            assert!(parent_with(&t.p("real/file"), try2).is_ok());
            assert!(parent_with(&t.p("real/../real/file"), try2).is_err());
        }
        let t = Tmp::new("dirw2");
        std::fs::create_dir(t.p("real")).unwrap();
        symlink(t.p("real"), t.p("link")).unwrap();
        assert!(write_atomically(&t.p("link/x"), b"x", 0o644).is_err());
        assert!(open_append(&t.p("link/x"), 0o600).is_err());
        assert!(!t.p("real/x").exists());
    }

    #[test]
    fn append_refuses_links_fifos_devices_and_hard_links() {
        let t = Tmp::new("ap");
        std::fs::write(t.p("victim"), "v").unwrap();
        symlink(t.p("victim"), t.p("sym")).unwrap();
        std::fs::hard_link(t.p("victim"), t.p("hard")).unwrap();
        mkfifo(&t.p("fifo"));
        for name in ["sym", "hard", "fifo"] {
            assert!(open_append(&t.p(name), 0o600).is_err(), "{}", name);
        }
        assert!(open_append(Path::new("/dev/null"), 0o600).is_err());
        assert_eq!(std::fs::read(t.p("victim")).unwrap(), b"v");
        let mut f = open_append(&t.p("log"), 0o600).unwrap();
        f.write_all(b"a\n").unwrap();
        drop(f);
        let mut f = open_append(&t.p("log"), 0o600).unwrap();
        f.write_all(b"b\n").unwrap();
        assert_eq!(std::fs::read(t.p("log")).unwrap(), b"a\nb\n");
        assert_eq!(std::fs::metadata(t.p("log")).unwrap().mode() & 0o777, 0o600);
        // Blocking again once opened.
        let fl = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(fl & libc::O_NONBLOCK, 0);
    }

    #[test]
    fn bounded_reads_refuse_fifos_devices_links_and_oversize() {
        let mut buf = [0u8; 3];
        let t = Tmp::new("rd");
        std::fs::write(t.p("ok"), "hello").unwrap();
        symlink(t.p("ok"), t.p("sym")).unwrap();
        mkfifo(&t.p("fifo"));
        assert_eq!(read_input(&t.p("ok"), 5, false).unwrap(), b"hello");
        let e = read_input(&t.p("ok"), 4, false).unwrap_err();
        assert_eq!(e.to_string(), "larger than 4 bytes");
        assert!(read_input(&t.p("sym"), 5, false).is_err());
        assert_eq!(read_input(&t.p("sym"), 5, true).unwrap(), b"hello");
        // Returns at once: the open does not wait for a writer.
        let e = read_input(&t.p("fifo"), 5, false).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file");
        assert!(read_input(Path::new("/dev/zero"), 5, true).is_err());
        assert_eq!(read_bounded(&t.p("ok"), 3).unwrap(), b"hel");
        assert!(read_bounded(&t.p("fifo"), 3).is_err());
        let ok = CString::new(t.p("ok").into_os_string().into_vec()).unwrap();
        assert_eq!(read_into(&ok, &mut buf), Some(3));
        let fifo = CString::new(t.p("fifo").into_os_string().into_vec()).unwrap();
        assert_eq!(read_into(&fifo, &mut buf), None);
        let e = read_input(&t.p("missing"), 5, false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn create_dirs_owns_what_it_made_and_refuses_links() {
        let t = Tmp::new("md");
        std::fs::create_dir(t.p("a")).unwrap();
        let made = create_dirs(&t.p("a/b/c"), Some((1234, 4321))).unwrap();
        assert_eq!(made, vec![t.p("a/b"), t.p("a/b/c")]);
        for d in &made {
            let m = std::fs::metadata(d).unwrap();
            assert_eq!((m.uid(), m.gid()), (1234, 4321));
        }
        assert_eq!(std::fs::metadata(t.p("a")).unwrap().uid(), 0);
        assert!(create_dirs(&t.p("a/b/c"), None).unwrap().is_empty());
        std::fs::create_dir(t.p("victim")).unwrap();
        symlink(t.p("victim"), t.p("a/link")).unwrap();
        let e = create_dirs(&t.p("a/link/x"), Some((1, 1))).unwrap_err();
        assert!(e.to_string().contains("a/link: a symbolic link"), "{}", e);
        assert!(!t.p("victim/x").exists());
        std::fs::write(t.p("a/file"), "").unwrap();
        assert!(create_dirs(&t.p("a/file/x"), None).is_err());
    }

    #[test]
    fn rotation_renames_only_a_large_regular_file() {
        let t = Tmp::new("rot");
        std::fs::write(t.p("log"), "0123456789").unwrap();
        assert!(!rotate(&t.p("log"), ".1", 10).unwrap());
        assert!(rotate(&t.p("log"), ".1", 9).unwrap());
        assert!(t.p("log.1").exists() && !t.p("log").exists());
        std::fs::write(t.p("victim"), "0123456789").unwrap();
        symlink(t.p("victim"), t.p("log")).unwrap();
        assert!(!rotate(&t.p("log"), ".1", 1).unwrap());
    }
}
