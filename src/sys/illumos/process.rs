//! The process calls that differ by OS, illumos' side. In a zone, orphans
//! are re-parented to the zone's init (pidone), so no subreaper is
//! needed; nested deeper, pidone cannot become one. A child is started
//! with fork (no CLONE_VFORK here), and what it could not do comes back
//! through a shared page once a close-on-exec pipe says it has exec'd or
//! exited.

use std::time::{Duration, Instant};

use crate::error::errno;
use crate::sys::illumos_abi::ZONE_ATTR_INITPID;

/// pidone is its zone's init (in the global zone: pid 1).
pub fn is_init() -> bool {
    let mut pid: libc::pid_t = 0;
    // SAFETY: a valid out-buffer of its size.
    let r = unsafe {
        super::zone_getattr(
            super::getzoneid(),
            ZONE_ATTR_INITPID,
            (&mut pid as *mut libc::pid_t).cast(),
            std::mem::size_of::<libc::pid_t>(),
        )
    };
    let own = std::process::id() as libc::pid_t;
    if r < 0 {
        return own == 1;
    }
    pid == own
}

fn unsupported() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::ENOTSUP)
}

/// illumos has no child subreaper: only the zone's init gets orphans.
pub fn set_child_subreaper() -> std::io::Result<()> {
    Err(unsupported())
}

/// No parent-death signal on illumos.
pub fn set_parent_death_signal(_sig: i32) -> std::io::Result<()> {
    Err(unsupported())
}

/// A zone has no Ctrl-Alt-Del (and no machine mode runs here).
pub fn disable_cad() -> std::io::Result<()> {
    Ok(())
}

/// `sig` to every other process: illumos' kill(-1) may include the
/// caller, so the zone's process table is walked instead.
pub fn signal_all(sig: i32) {
    let me = std::process::id() as i32;
    for p in super::procfs::table().iter().filter(|p| p.pid != me) {
        // SAFETY: kill with plain integers.
        unsafe {
            libc::kill(p.pid, sig);
        }
    }
}

/// The call that starts a child, for the error line.
pub const SPAWN_CALL: &str = "fork";

/// How long pidone waits for a child's exec before it goes on without
/// waiting (see Linux's process.rs: a child may be held stopped).
const EXEC_WAIT: Duration = Duration::from_millis(100);

/// A child started by `spawn`: the read end of its close-on-exec pipe
/// (end-of-file once it has exec'd or exited) and the shared page its
/// report is written to.
pub struct Child<'a, R> {
    pipe: Option<i32>,
    page: Option<*mut Option<R>>,
    failed: Option<R>,
    _run: std::marker::PhantomData<&'a ()>,
}

impl<R> Child<'_, R> {
    /// Without waiting: true while the child has neither exec'd nor
    /// exited.
    pub fn pending(&mut self) -> bool {
        !self.wait(Duration::ZERO)
    }

    /// Wait up to `limit` for that.
    pub fn wait(&mut self, limit: Duration) -> bool {
        let Some(fd) = self.pipe else {
            return true;
        };
        let deadline = Instant::now() + limit;
        loop {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, ms) };
            if n > 0 {
                self.land();
                return true;
            }
            if n == 0 || errno() != libc::EINTR {
                return false;
            }
        }
    }

    /// Once the child has been reaped: what `run` returned, if it could
    /// not exec.
    pub fn failure(&mut self) -> Option<R> {
        self.land();
        self.failed.take()
    }

    fn land(&mut self) {
        if let Some(fd) = self.pipe.take() {
            // SAFETY: our own descriptor.
            unsafe { libc::close(fd) };
        }
        if let Some(slot) = self.page.take() {
            // SAFETY: the child has exec'd or exited: nothing writes the
            // slot now; then our own mapping goes.
            unsafe {
                self.failed = slot.read();
                libc::munmap(slot.cast(), page_size::<R>());
            }
        }
    }
}

impl<R> Drop for Child<'_, R> {
    fn drop(&mut self) {
        if let Some(fd) = self.pipe.take() {
            // SAFETY: our own descriptor (the page is left to a child
            // that may still write it).
            unsafe { libc::close(fd) };
        }
    }
}

fn page_size<R>() -> usize {
    std::mem::size_of::<Option<R>>().max(1)
}

/// Start `run` in a forked child. It returns only when it could not exec,
/// with what to report and the exit code; the report is written to a
/// shared anonymous page, which pidone reads once the child's end of a
/// close-on-exec pipe is closed (exec or exit). pidone waits for that
/// EXEC_WAIT at most. Err: errno.
pub fn spawn<'a, R>(
    mut run: Box<dyn FnMut() -> (R, i32) + 'a>,
) -> Result<(i32, Child<'a, R>), i32> {
    let size = page_size::<R>();
    // SAFETY: a fresh shared anonymous mapping, checked below.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANON,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        return Err(errno());
    }
    let slot = page.cast::<Option<R>>();
    // SAFETY: the mapping is page-aligned and large enough.
    unsafe { slot.write(None) };
    let mut fds = [0; 2];
    // SAFETY: a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        let e = errno();
        // SAFETY: our own mapping.
        unsafe { libc::munmap(page, size) };
        return Err(e);
    }
    let [r, w] = fds;
    // SAFETY: pidone has no threads; the child only makes system calls
    // until it execs or exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: in the child: close the read end, run, report, leave.
        unsafe {
            libc::close(r);
            let (failed, code) = run();
            slot.write(Some(failed));
            libc::_exit(code)
        }
    }
    let e = errno();
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(w) };
    let mut child = Child {
        pipe: Some(r),
        page: Some(slot),
        failed: None,
        _run: std::marker::PhantomData,
    };
    if pid < 0 {
        child.land();
        return Err(e);
    }
    child.wait(EXEC_WAIT);
    Ok((pid, child))
}

/// In pidone, once the command has started: close every descriptor >= 3
/// it inherited (the ones without close-on-exec: pidone opens all of its
/// own with it), listed from the fd directory.
pub fn close_inherited() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= 3)
        .collect();
    for fd in fds {
        // SAFETY: flags of a descriptor number, and closing it when it is
        // not one of pidone's own.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) == 0 {
                libc::close(fd);
            }
        }
    }
}

/// In the child: groups, then gid and uid. As root, setgid and setuid set
/// the real, effective and saved ids alike. Returns 0 or the errno.
pub fn set_ids(groups: &[libc::gid_t], uid: libc::uid_t, gid: libc::gid_t) -> i32 {
    let n = libc::c_int::try_from(groups.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: plain system calls with a valid groups array.
    unsafe {
        if libc::setgroups(n, groups.as_ptr()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(uid) != 0
        {
            return errno();
        }
    }
    0
}

/// No no_new_privs on illumos (its privilege sets are another model).
pub fn no_new_privs() -> i32 {
    libc::ENOTSUP
}

/// Mark every descriptor >= 3 close-on-exec, from the fd directory (the
/// child is a fork: allocating is fine).
pub fn close_fds_on_exec() {
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        let fds: Vec<i32> = dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd >= 3)
            .collect();
        for fd in fds {
            // SAFETY: setting a flag on a descriptor.
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
    }
}
