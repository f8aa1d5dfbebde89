//! The process calls that differ by OS, Linux's side: the child
//! subreaper, the parent-death signal, Ctrl-Alt-Del, the vfork-style
//! start of a child, and what the child does before exec.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::raw;
use crate::error::errno;

/// pidone is the init of its pid namespace: orphans come to it, and
/// kill(-1) reaches every other process there.
pub fn is_init() -> bool {
    std::process::id() == 1
}

/// Orphans of descendants come to pidone although it is not PID 1.
pub fn set_child_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `sig` to pidone when its parent dies.
pub fn set_parent_death_signal(sig: i32) -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Turn Ctrl-Alt-Del into SIGINT for pidone (else the kernel reboots at
/// once), so the keyboard shortcut or the VMM's "ctrl-alt-del" shuts down
/// gracefully.
pub fn disable_cad() -> std::io::Result<()> {
    // SAFETY: reboot with a valid command.
    if unsafe { libc::reboot(libc::RB_DISABLE_CAD) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `sig` to every process but pidone: as the namespace's init, kill(-1)
/// spares the caller.
pub fn signal_all(sig: i32) {
    // SAFETY: kill with plain integers.
    unsafe {
        libc::kill(-1, sig);
    }
}

/// The call that starts a child, for the error line.
pub const SPAWN_CALL: &str = "clone";

/// How long pidone waits for a child's exec before it goes on without
/// waiting: far more than an exec takes, short enough that a child held
/// stopped (see `spawn`) costs pidone no more than that.
const EXEC_WAIT: Duration = Duration::from_millis(100);

/// Room for the child's stack until it execs: it only makes system calls
/// (a few hundred bytes of frames), so this is a wide margin.
const CHILD_STACK: usize = 32 * 1024;

/// The child's stack, when no earlier child may still run on it. A static
/// rather than a fresh mapping: no system calls, and only the page or two
/// the child touches are ever resident.
#[repr(C, align(16))]
struct Stack(std::cell::UnsafeCell<[u8; CHILD_STACK]>);

// SAFETY: one child at a time runs on it (STACK_BUSY).
unsafe impl Sync for Stack {}

static STACK: Stack = Stack(std::cell::UnsafeCell::new([0; CHILD_STACK]));
/// A child that may still run on STACK has it.
static STACK_BUSY: AtomicBool = AtomicBool::new(false);

/// The stack a child runs on.
enum ChildStack {
    Static,
    /// A mapping of CHILD_STACK bytes, when STACK was busy.
    Mapped(*mut libc::c_void),
}

impl ChildStack {
    fn take() -> Result<ChildStack, i32> {
        if !STACK_BUSY.swap(true, Ordering::AcqRel) {
            return Ok(ChildStack::Static);
        }
        // SAFETY: a fresh private mapping, no address asked for.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                CHILD_STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(errno());
        }
        Ok(ChildStack::Mapped(p))
    }

    /// The top: stacks grow down.
    fn top(&self) -> *mut libc::c_void {
        let base = match self {
            ChildStack::Static => STACK.0.get().cast::<u8>(),
            ChildStack::Mapped(p) => p.cast::<u8>(),
        };
        // SAFETY: one past the end of CHILD_STACK bytes.
        unsafe { base.add(CHILD_STACK).cast() }
    }

    fn release(self) {
        match self {
            ChildStack::Static => STACK_BUSY.store(false, Ordering::Release),
            // SAFETY: our mapping, which no one runs on any more.
            ChildStack::Mapped(p) => unsafe {
                libc::munmap(p, CHILD_STACK);
            },
        }
    }
}

/// What pidone and its child share. pidone leaves `run` alone until the
/// child is gone from its memory.
struct Shared<'a, R> {
    run: Box<dyn FnMut() -> (R, i32) + 'a>,
    /// Nonzero until the child has left pidone's memory: it is the child's
    /// clear_child_tid (set_tid_address), which the kernel zeroes, with a
    /// futex wake, when the child execs or exits, just where it would wake
    /// a vfork parent.
    present: AtomicU32,
    /// What `run` returned: it could not exec.
    failed: Option<R>,
}

/// A child started by `spawn`, until it is known to have left pidone's
/// memory: then its stack and `run` are let go.
pub struct Child<'a, R> {
    flight: Option<(ChildStack, Box<Shared<'a, R>>)>,
    failed: Option<R>,
}

impl<R> Child<'_, R> {
    /// Without waiting: true while the child has neither exec'd nor
    /// exited.
    pub fn pending(&mut self) -> bool {
        let Some((_, shared)) = &self.flight else {
            return false;
        };
        if shared.present.load(Ordering::Acquire) != 0 {
            return true;
        }
        self.land();
        false
    }

    /// Wait up to `limit` until the child has exec'd or exited (a futex
    /// wait: every signal stays blocked, pending for the supervisor).
    pub fn wait(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.pending() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some((_, shared)) = self.flight.as_ref().filter(|_| !left.is_zero()) else {
                return false;
            };
            // The kernel's two longs, not libc's timespec: on 32-bit
            // machines SYS_futex is the 32-bit-time call.
            let ts = super::signals::KernelTimespec::new(left);
            // SAFETY: a futex word that lives as long as `shared`; the
            // call returns at once if it is no longer 1.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    shared.present.as_ptr(),
                    libc::FUTEX_WAIT,
                    1u32,
                    &ts as *const super::signals::KernelTimespec,
                );
            }
        }
        true
    }

    /// Once the child has been reaped: what `run` returned, if it could
    /// not exec.
    pub fn failure(&mut self) -> Option<R> {
        // Reaped, so surely gone, whatever `present` says (a child killed
        // before it set it up leaves it set).
        self.land();
        self.failed.take()
    }

    fn land(&mut self) {
        if let Some((stack, mut shared)) = self.flight.take() {
            self.failed = shared.failed.take();
            stack.release();
            drop(shared);
        }
    }
}

impl<R> Drop for Child<'_, R> {
    fn drop(&mut self) {
        // A child that may still run on them keeps its stack and `run`.
        if let Some(f) = self.flight.take() {
            std::mem::forget(f);
        }
    }
}

extern "C" fn child_entry<R>(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: arg is the Box<Shared> that pidone keeps, and leaves alone,
    // until this child is gone from its memory.
    let shared = unsafe { &mut *arg.cast::<Shared<R>>() };
    // First: from here on the kernel tells pidone when this child leaves.
    // SAFETY: a word that outlives this child's use of pidone's memory.
    unsafe {
        raw::call3(
            libc::SYS_set_tid_address,
            shared.present.as_ptr() as usize,
            0,
            0,
        );
    }
    let (failed, code) = (shared.run)();
    shared.failed = Some(failed);
    // SAFETY: leave at once, without pidone's exit path.
    unsafe {
        raw::call3(libc::SYS_exit_group, code as usize, 0, 0);
    }
    code
}

/// Start `run` as a child that shares pidone's memory, `clone(CLONE_VM)`
/// on a stack of its own, as musl's and glibc's `posix_spawn` do: no page
/// tables copied, no copy-on-write faults after. `run` returns only when
/// it could not exec, with what to report and the exit code.
///
/// Unlike posix_spawn (`CLONE_VFORK`), pidone is not suspended until the
/// exec: between its switch to the command's user and its exec, any
/// process of that user may stop the child, and a suspended PID 1 would
/// answer no signal for as long as it stays stopped. pidone waits for the
/// exec (a futex wait on `present`) for EXEC_WAIT at most, then goes on
/// and learns from the returned `Child` later. A child held past that may
/// run alongside pidone once continued: the Linux calls it makes here
/// are raw (no errno, no allocation), and its stack and `run` stay
/// allocated until it is gone; only errno, which the generic part of the
/// child reads after its libc calls, is shared, so a report from such a
/// child may name the wrong reason. Err: errno.
pub fn spawn<'a, R>(run: Box<dyn FnMut() -> (R, i32) + 'a>) -> Result<(i32, Child<'a, R>), i32> {
    let stack = ChildStack::take()?;
    let mut shared = Box::new(Shared {
        run,
        present: AtomicU32::new(1),
        failed: None,
    });
    let arg: *mut Shared<R> = &mut *shared;
    // SAFETY: the child's stack grows down from `top`; it and `shared`
    // stay allocated, and pidone leaves them alone, until the child has
    // exec'd or exited (`Child`). SIGCHLD is the exit signal, as for fork.
    let mut pid = unsafe {
        libc::clone(
            child_entry::<R>,
            stack.top(),
            libc::CLONE_VM | libc::SIGCHLD,
            arg.cast(),
        )
    };
    // qemu-user (a foreign-architecture image run through binfmt, e.g.
    // `docker run --platform`) refuses a CLONE_VM child that is not a
    // thread, and runs CLONE_VFORK as a plain fork: then the command still
    // starts, only a failed exec's one-line report is lost (its exit code
    // stays). A kernel never refuses the first form.
    if pid < 0 && errno() == libc::EINVAL {
        // SAFETY: as above.
        pid = unsafe {
            libc::clone(
                child_entry::<R>,
                stack.top(),
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                arg.cast(),
            )
        };
    }
    if pid < 0 {
        let e = errno();
        stack.release();
        return Err(e);
    }
    let mut child = Child {
        flight: Some((stack, shared)),
        failed: None,
    };
    child.wait(EXEC_WAIT);
    Ok((pid, child))
}

/// A raw system call in the child (raw.rs): the result, or -errno.
fn sys(nr: libc::c_long, a: usize, b: usize, c: usize) -> isize {
    // SAFETY: every call below passes integers, or pointers to live data
    // of the size the call expects.
    unsafe { raw::call3(nr, a, b, c) }
}

/// In the child: groups, then gid and uid (real, effective and saved).
/// Returns 0 or the errno. Raw calls: libc's would take its locks.
pub fn set_ids(groups: &[libc::gid_t], uid: libc::uid_t, gid: libc::gid_t) -> i32 {
    let calls = [
        (libc::SYS_setgroups, groups.len(), groups.as_ptr() as usize),
        (libc::SYS_setresgid, gid as usize, gid as usize),
        (libc::SYS_setresuid, uid as usize, uid as usize),
    ];
    for (nr, a, b) in calls {
        // setres[ug]id(x, x, x); setgroups(n, list, ignored).
        let r = sys(nr, a, b, b);
        if r < 0 {
            return raw::err(r);
        }
    }
    0
}

/// In the child: no exec may gain privileges. Returns 0 or the errno.
pub fn no_new_privs() -> i32 {
    raw::err(sys(
        libc::SYS_prctl,
        libc::PR_SET_NO_NEW_PRIVS as usize,
        1,
        0,
    ))
}

/// Mark every descriptor >= 3 close-on-exec (in the child: raw calls, no
/// allocation).
pub fn close_fds_on_exec() {
    let cloexec = libc::CLOSE_RANGE_CLOEXEC as usize;
    if sys(libc::SYS_close_range, 3, u32::MAX as usize, cloexec) == 0 {
        return;
    }
    // Older kernels (before 5.11): walk /proc/self/fd, reading the
    // directory entries into a buffer on the stack.
    let flags = (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as usize;
    let path = c"/proc/self/fd";
    // SAFETY: a NUL-terminated path.
    let dir = unsafe {
        raw::call(
            libc::SYS_openat,
            [
                libc::AT_FDCWD as usize,
                path.as_ptr() as usize,
                flags,
                0,
                0,
                0,
            ],
        )
    };
    if dir < 0 {
        return;
    }
    let mut buf = [0u8; 1024];
    loop {
        let n = sys(
            libc::SYS_getdents64,
            dir as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        );
        if n <= 0 {
            break;
        }
        for fd in dirent_numbers(buf.get(..n as usize).unwrap_or(&[])) {
            if fd >= 3 && fd as isize != dir {
                sys(
                    libc::SYS_fcntl,
                    fd as usize,
                    libc::F_SETFD as usize,
                    libc::FD_CLOEXEC as usize,
                );
            }
        }
    }
    sys(libc::SYS_close, dir as usize, 0, 0);
}

/// The names of `linux_dirent64` records that are numbers (u64 inode, i64
/// offset, u16 record length, u8 type, then the NUL-terminated name).
fn dirent_numbers(mut buf: &[u8]) -> impl Iterator<Item = i32> + '_ {
    std::iter::from_fn(move || loop {
        let len = match buf.get(16..18)? {
            &[a, b] => u16::from_ne_bytes([a, b]) as usize,
            _ => return None,
        };
        let name = buf.get(19..len.max(19))?;
        buf = buf.get(len.max(19)..)?;
        let mut n: i64 = 0;
        let mut digits = 0;
        for &c in name.iter().take_while(|&&c| c != 0) {
            if !c.is_ascii_digit() || n > i32::MAX as i64 {
                digits = 0;
                break;
            }
            n = n * 10 + (c - b'0') as i64;
            digits += 1;
        }
        if digits > 0 && n <= i32::MAX as i64 {
            return Some(n as i32);
        }
    })
}

/// In pidone, once the command has started: close every descriptor >= 3
/// it inherited, so that it holds no pipe open and no listener the command
/// has closed (the command has its own copies). pidone opens all of its
/// own close-on-exec (log, syslog, console), so a descriptor without the
/// flag is one that came from whoever started pidone.
///
/// Cheap: one poll() finds the open ones below 64 (the kernel's first
/// descriptor table), and only those are looked at. Each of pidone's own
/// took the lowest free number when it was opened; it never has more than
/// a few open at once, so while at most half of the numbers below 64 were
/// inherited, there was always a free one below 64 and none of pidone's
/// own is 64 or above: everything from 64 up was inherited, one
/// close_range. Otherwise the rest is listed from /proc/self/fd.
pub fn close_inherited() {
    const LOW: i32 = 64;
    let mut fds = [libc::pollfd {
        fd: 0,
        events: 0,
        revents: 0,
    }; (LOW - 3) as usize];
    for (p, fd) in fds.iter_mut().zip(3..) {
        p.fd = fd;
    }
    // SAFETY: a valid array of pollfd; zero timeout.
    unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0);
    }
    let open = fds.iter().filter(|p| p.revents & libc::POLLNVAL == 0);
    let low_inherited = open.filter(|p| close_if_inherited(p.fd)).count();
    // SAFETY: closing descriptors that are all inherited (see above).
    let all_high = low_inherited <= fds.len() / 2
        && unsafe { libc::syscall(libc::SYS_close_range, LOW as u32, u32::MAX, 0u32) } == 0;
    if all_high {
        return;
    }
    let high: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd >= LOW)
            .collect(),
        Err(_) => {
            // No /proc: try every number up to the limit (bounded).
            // SAFETY: a valid out-pointer.
            let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
                lim.rlim_cur.min(1 << 16) as i32
            } else {
                1024
            };
            (LOW..max).collect()
        }
    };
    for fd in high {
        close_if_inherited(fd);
    }
}

/// Close `fd` if it is open without close-on-exec: one pidone inherited.
fn close_if_inherited(fd: i32) -> bool {
    // SAFETY: flags of a descriptor number, and closing it when it is not
    // one of pidone's own.
    unsafe { libc::fcntl(fd, libc::F_GETFD) == 0 && libc::close(fd) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirent_records_give_the_numbered_names() {
        let mut buf = Vec::new();
        for name in [&b"."[..], b"..", b"0", b"17", b"x1", b"2147483648", b"255"] {
            let len = (19 + name.len() + 1 + 7) & !7;
            let mut rec = vec![0u8; len];
            rec[16..18].copy_from_slice(&(len as u16).to_ne_bytes());
            rec[19..19 + name.len()].copy_from_slice(name);
            buf.extend(rec);
        }
        let got: Vec<i32> = dirent_numbers(&buf).collect();
        assert_eq!(got, [0, 17, 255]);
        assert_eq!(dirent_numbers(&buf[..10]).count(), 0, "a cut record");
    }
}
