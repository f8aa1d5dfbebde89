//! Start the command as pidone's child.
//!
//! Everything that can be prepared is prepared before the clone (argv,
//! envp, the candidate paths), so the child only makes system calls.
//!
//! The child is started posix_spawn-style, `clone(CLONE_VM)` on a stack of
//! its own: it shares pidone's memory, so no page tables are copied and no
//! copy-on-write faults follow (a fork costs about 100 us more per start
//! here). Unlike posix_spawn, pidone does not wait for its exec
//! (`CLONE_VFORK`): once the child has switched to the command's user,
//! any process of that user can stop it before the exec, and a suspended
//! pidone would answer no signal while it stays stopped. So the child and
//! pidone run side by side, and the child touches nothing pidone uses: raw
//! system calls only (raw.rs: no errno, no allocation), on its own stack,
//! reading its own copy of what was prepared; both are let go only once
//! it has left pidone's memory (exec'd or exited).
//!
//! The kernel says when the child has left pidone's memory: the child
//! makes a word of its arguments its clear_child_tid, which the kernel
//! zeroes (and futex-wakes) at its exec or exit, where it would wake a
//! vfork parent. A child that cannot exec writes the step and errno that
//! failed next to it first. The supervisor looks at both without waiting
//! once the child has exited (and to know whether a child held stopped
//! ever started); a helper daemon, whose child stays root, is waited for
//! with a bound.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::{
    describe_errno as describe, errno, Error, Stage, EXIT_CANNOT_EXEC, EXIT_NOT_FOUND,
};
use crate::launch::Launch;
use crate::raw;
use crate::signals::{self, Inherited};

/// What the child reports when it could not exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Session = 1,
    Stdio = 2,
    Caps = 3,
    User = 4,
    Workdir = 5,
    Exec = 6,
}

impl From<i32> for Step {
    fn from(n: i32) -> Step {
        match n {
            1 => Step::Session,
            2 => Step::Stdio,
            3 => Step::Caps,
            4 => Step::User,
            5 => Step::Workdir,
            _ => Step::Exec,
        }
    }
}

/// Prepared before the clone.
struct Prepared {
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    candidates: Vec<CString>,
    /// Index in envp of `LISTEN_PID=<pidone's pid>`, to point at the child.
    listen_pid: Option<usize>,
    groups: Vec<libc::gid_t>,
}

fn prepare(launch: &Launch) -> Prepared {
    // NULL-terminated, each allocated once at its final size.
    let argv = null_terminated(&launch.argv);
    let envp = null_terminated(&launch.env);

    let own = format!("LISTEN_PID={}", std::process::id());
    let listen_pid = launch
        .env
        .iter()
        .position(|e| e.as_bytes() == own.as_bytes());

    let name = launch.argv.first().map_or(&b""[..], |a| a.as_bytes());
    let candidates = if name.contains(&b'/') || name.is_empty() {
        CString::new(name).into_iter().collect()
    } else {
        launch
            .path
            .split(|&c| c == b':')
            .filter_map(|dir| {
                // An empty PATH entry is the current directory.
                let mut p = if dir.is_empty() {
                    b".".to_vec()
                } else {
                    dir.to_vec()
                };
                p.push(b'/');
                p.extend_from_slice(name);
                CString::new(p).ok()
            })
            .collect()
    };
    let groups = launch
        .cred
        .as_ref()
        .map_or_else(Vec::new, |c| c.groups.clone());
    Prepared {
        argv,
        envp,
        candidates,
        listen_pid,
        groups,
    }
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    let mut v = Vec::with_capacity(strings.len() + 1);
    v.extend(strings.iter().map(|s| s.as_ptr()));
    v.push(std::ptr::null());
    v
}

/// The command could not be started.
#[derive(Debug)]
pub struct SpawnFailure {
    pub error: Error,
}

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

/// What the child and pidone share: its arguments, and what it has to
/// say. pidone does not touch the arguments until the child is gone from
/// its memory.
struct ChildArgs<'a> {
    launch: &'a Launch,
    prepared: Prepared,
    inherited: Inherited,
    /// Nonzero until the child has left pidone's memory: it is the child's
    /// clear_child_tid (set_tid_address), which the kernel zeroes, with a
    /// futex wake, when the child execs or exits, just where a vfork
    /// parent would be woken.
    present: AtomicU32,
    /// What failed, written by the child before it exits: the step (0:
    /// none), the errno and a detail.
    step: AtomicI32,
    errno: AtomicI32,
    detail: AtomicI32,
}

/// The stack a child runs on.
enum ChildStack {
    Static,
    /// A mapping of CHILD_STACK bytes, when STACK was busy.
    Mapped(*mut libc::c_void),
}

impl ChildStack {
    fn take() -> Option<ChildStack> {
        if !STACK_BUSY.swap(true, Ordering::AcqRel) {
            return Some(ChildStack::Static);
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
        (p != libc::MAP_FAILED).then_some(ChildStack::Mapped(p))
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

/// A child on its way to the exec: its stack and arguments.
struct InFlight<'a> {
    stack: ChildStack,
    args: Box<ChildArgs<'a>>,
}

/// What pidone knows of a child it started: whether it has exec'd, and if
/// it could not, why.
pub struct Report<'a> {
    flight: Option<InFlight<'a>>,
    failed: Option<Error>,
}

impl Report<'_> {
    /// Without waiting: true while the child has neither exec'd nor
    /// exited. Once it has, its stack and arguments are let go.
    pub fn pending(&mut self) -> bool {
        let Some(f) = &self.flight else {
            return false;
        };
        if f.args.present.load(Ordering::Acquire) != 0 {
            return true;
        }
        self.land();
        false
    }

    /// Once the child has been reaped: why it could not exec, if it could
    /// not.
    pub fn failure(&mut self) -> Option<Error> {
        // Reaped, so surely gone, whatever `present` says (a child killed
        // before it set it up leaves it set).
        self.land();
        self.failed.take()
    }

    /// The child is gone from pidone's memory: read its report, free what
    /// it ran on.
    fn land(&mut self) {
        let Some(f) = self.flight.take() else {
            return;
        };
        let a = &f.args;
        let step = a.step.load(Ordering::Acquire);
        if step != 0 {
            let (e, detail) = (
                a.errno.load(Ordering::Relaxed),
                a.detail.load(Ordering::Relaxed),
            );
            self.failed = Some(failure(a.launch, Step::from(step), e, detail));
        }
        f.stack.release();
        drop(f.args);
    }

    /// Wait up to `limit` for the child to leave pidone's memory (a futex
    /// wait on `present`; every signal stays blocked, for the supervisor).
    fn wait(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.pending() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let Some(f) = &self.flight else {
                break;
            };
            let ts = libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            };
            // SAFETY: a futex word that lives as long as `f`; it returns at
            // once if the word is no longer 1.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    f.args.present.as_ptr(),
                    libc::FUTEX_WAIT,
                    1u32,
                    &ts as *const libc::timespec,
                );
            }
        }
        true
    }
}

impl Drop for Report<'_> {
    fn drop(&mut self) {
        // A child that may still run on them keeps its stack and arguments.
        if let Some(f) = self.flight.take() {
            std::mem::forget(f);
        }
    }
}

/// A command started: its pid, and what it has to say.
pub struct Started<'a> {
    pub pid: i32,
    pub report: Report<'a>,
}

extern "C" fn child_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: arg is the Box<ChildArgs> that pidone keeps, untouched, until
    // this child is gone from its memory.
    let a = unsafe { &mut *arg.cast::<ChildArgs>() };
    // First: from here on the kernel tells pidone when this child leaves.
    // SAFETY: a word that outlives this child's use of pidone's memory.
    unsafe {
        raw::call3(libc::SYS_set_tid_address, a.present.as_ptr() as usize, 0, 0);
    }
    let (step, e, detail) = child(a.launch, &mut a.prepared, &a.inherited);
    a.errno.store(e, Ordering::Relaxed);
    a.detail.store(detail, Ordering::Relaxed);
    a.step.store(step as i32, Ordering::Release);
    let code = if step == Step::Exec && e == libc::ENOENT {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_EXEC
    };
    // SAFETY: leave at once, without pidone's exit path.
    unsafe {
        raw::call3(libc::SYS_exit_group, code as usize, 0, 0);
    }
    code
}

/// Start the command without waiting for it: the supervisor learns from
/// `Started::report` whether it exec'd. `launch` must outlive the report.
pub fn start<'a>(launch: &'a Launch, inherited: &Inherited) -> Result<Started<'a>, SpawnFailure> {
    if launch.new_session && launch.stdio.is_none() {
        release_tty();
    }
    let fail = |what: &str| SpawnFailure {
        error: Error::new(Stage::Exec, format!("{}: {}", what, describe(errno()))),
    };
    let stack = ChildStack::take().ok_or_else(|| fail("mmap"))?;
    let mut args = Box::new(ChildArgs {
        launch,
        prepared: prepare(launch),
        inherited: *inherited,
        present: AtomicU32::new(1),
        step: AtomicI32::new(0),
        errno: AtomicI32::new(0),
        detail: AtomicI32::new(0),
    });
    let arg: *mut ChildArgs = &mut *args;
    // SAFETY: the child's stack grows down from `top`; it and `args` stay
    // allocated, and pidone leaves them alone, until the child has exec'd
    // or exited (`Report`). SIGCHLD is the exit signal, as for fork. No
    // CLONE_VFORK: pidone goes on at once.
    let pid = unsafe {
        libc::clone(
            child_entry,
            stack.top(),
            libc::CLONE_VM | libc::SIGCHLD,
            arg.cast(),
        )
    };
    let flight = InFlight { stack, args };
    if pid < 0 {
        let f = fail("clone");
        flight.stack.release();
        return Err(f);
    }
    if !launch.new_session && !launch.keep_group {
        // The child does the same; doing it here too means the group
        // exists before pidone first signals it (EACCES once it has
        // exec'd is fine).
        // SAFETY: setpgid with plain integers, on our own child.
        unsafe {
            libc::setpgid(pid, pid);
        }
    }
    Ok(Started {
        pid,
        report: Report {
            flight: Some(flight),
            failed: None,
        },
    })
}

/// How long a helper daemon's start may take before pidone gives up on it.
const HELPER_EXEC_WAIT: Duration = Duration::from_secs(10);

/// Start a helper daemon and wait until it has exec'd. Unlike the
/// command's, its child never changes user (helpers run as root), so no
/// process of the command's user can hold it; the wait is bounded anyway.
pub fn spawn(launch: &Launch, inherited: &Inherited) -> Result<i32, SpawnFailure> {
    let Started { pid, mut report } = start(launch, inherited)?;
    if !report.wait(HELPER_EXEC_WAIT) {
        // SAFETY: kill and wait for our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        reap(pid);
        report.failure();
        return Err(SpawnFailure {
            error: Error::new(
                Stage::Exec,
                format!("did not exec within {} s", HELPER_EXEC_WAIT.as_secs()),
            ),
        });
    }
    match report.failure() {
        None => Ok(pid),
        Some(error) => {
            // It has left (it reports just before it exits): reap it here,
            // so it is neither signalled by the shutdown nor reported as a
            // stray zombie.
            reap(pid);
            Err(SpawnFailure { error })
        }
    }
}

fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waiting for our own child; status is a valid out-pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && errno() == libc::EINTR {}
}

fn failure(launch: &Launch, step: Step, e: i32, detail: i32) -> Error {
    let cmd = launch.argv.first().map_or_else(String::new, |a| {
        String::from_utf8_lossy(a.as_bytes()).into_owned()
    });
    let (stage, what) = match step {
        Step::Session => (Stage::Console, "cannot set up the session".to_string()),
        Step::Stdio => (Stage::Console, "cannot attach stdio".to_string()),
        Step::Caps => return Error::new(Stage::Caps, crate::caps::describe(e, detail)),
        Step::User => (Stage::User, "cannot switch user".to_string()),
        Step::Workdir => {
            let dir = launch
                .cwd
                .as_ref()
                .map_or_else(String::new, |d| d.to_string_lossy().into_owned());
            (Stage::Workdir, format!("cannot enter {}", dir))
        }
        Step::Exec => {
            let reason = if e == libc::ENOENT && !cmd.contains('/') {
                "not found in PATH".to_string()
            } else {
                describe(e)
            };
            let code = if e == libc::ENOENT {
                EXIT_NOT_FOUND
            } else {
                EXIT_CANNOT_EXEC
            };
            return Error::new(Stage::Exec, format!("cannot run {:?}: {}", cmd, reason))
                .with_code(code);
        }
    };
    Error::new(stage, format!("{}: {}", what, describe(e)))
}

/// dumb-init's way: a terminal can be the controlling terminal of one
/// session only, so pidone gives its own up, or the command's new session
/// could not take it (TIOCSCTTY fails with EPERM). When the session leader
/// lets go, the kernel sends SIGHUP and SIGCONT to the terminal's
/// foreground group; if that is pidone's, they are pending now (blocked)
/// and are taken here rather than forwarded to the command as if a user
/// had sent them.
fn release_tty() {
    // SAFETY: terminal queries and ioctls on descriptor 0; the waits take
    // only signals already pending (zero timeout).
    unsafe {
        if libc::isatty(0) != 1 {
            return;
        }
        let leader = libc::getsid(0) == libc::getpid();
        let foreground = libc::tcgetpgrp(0) == libc::getpgrp();
        if libc::ioctl(0, libc::TIOCNOTTY) != 0 || !(leader && foreground) {
            return;
        }
    }
    log::debug!("gave up the controlling terminal for the command's session");
    for sig in [libc::SIGHUP, libc::SIGCONT] {
        signals::wait(signals::bit(sig), Some(std::time::Duration::ZERO));
    }
}

/// A raw system call in the child (raw.rs): the result, or -errno.
fn sys(nr: libc::c_long, a: usize, b: usize, c: usize) -> isize {
    // SAFETY: every call below passes integers, or pointers to live data
    // of the size the call expects.
    unsafe { raw::call3(nr, a, b, c) }
}

/// `sys`, failed: its errno.
fn failed(ret: isize) -> Option<i32> {
    (ret < 0).then(|| raw::err(ret))
}

/// Whether descriptor 0 is a terminal (TIOCGWINSZ, as libc's isatty).
fn stdin_is_tty() -> bool {
    // SAFETY: winsize is plain data.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    sys(
        libc::SYS_ioctl,
        0,
        libc::TIOCGWINSZ as usize,
        &mut ws as *mut libc::winsize as usize,
    ) == 0
}

/// In the child: set up, then exec. Returns only on failure: the step,
/// the errno and a detail (see `Step`). It runs in pidone's memory while
/// pidone runs on: it reads `launch`, changes nothing but `p` and its
/// stack, allocates nothing, and makes only raw system calls.
fn child(launch: &Launch, p: &mut Prepared, inherited: &Inherited) -> (Step, i32, i32) {
    if launch.new_session {
        if let Some(e) = failed(sys(libc::SYS_setsid, 0, 0, 0)) {
            return (Step::Session, e, 0);
        }
    } else if !launch.keep_group {
        sys(libc::SYS_setpgid, 0, 0, 0);
    }
    if let Some(io) = &launch.stdio {
        for (from, to) in [(io.stdin, 0), (io.stdout, 1), (io.stderr, 2)] {
            // dup3 (dup2 is not on every architecture) clears
            // close-on-exec on the copy.
            if from != to {
                if let Some(e) = failed(sys(libc::SYS_dup3, from as usize, to as usize, 0)) {
                    return (Step::Stdio, e, 0);
                }
            }
        }
        if io.controlling_tty {
            if let Some(e) = failed(sys(libc::SYS_ioctl, 0, libc::TIOCSCTTY as usize, 1)) {
                return (Step::Stdio, e, 0);
            }
        }
    } else if launch.new_session && stdin_is_tty() {
        // dumb-init's way: take the terminal when there is one.
        sys(libc::SYS_ioctl, 0, libc::TIOCSCTTY as usize, 0);
    }
    if !launch.new_session && !launch.keep_group && stdin_is_tty() {
        // The command's group becomes the terminal's foreground group;
        // SIGTTOU is still blocked here, so this cannot stop us.
        let me = sys(libc::SYS_getpid, 0, 0, 0) as libc::pid_t;
        sys(
            libc::SYS_ioctl,
            0,
            libc::TIOCSPGRP as usize,
            &me as *const libc::pid_t as usize,
        );
    }
    // Bounding and ambient sets first: that takes CAP_SETPCAP, which the
    // user switch clears.
    let mut bounding_kept = false;
    if let Some(caps) = &launch.drop_caps {
        match crate::caps::drop_bounding(caps) {
            Ok(kept) => bounding_kept = kept,
            Err((e, detail)) => return (Step::Caps, e, detail),
        }
    }
    if let Some(c) = &launch.cred {
        let user = [
            (
                libc::SYS_setgroups,
                p.groups.len(),
                p.groups.as_ptr() as usize,
            ),
            (libc::SYS_setresgid, c.gid as usize, c.gid as usize),
            (libc::SYS_setresuid, c.uid as usize, c.uid as usize),
        ];
        for (nr, a, b) in user {
            // setres[ug]id(x, x, x); setgroups(n, list, ignored).
            if let Some(e) = failed(sys(nr, a, b, b)) {
                return (Step::User, e, 0);
            }
        }
    }
    if let Some(caps) = &launch.drop_caps {
        if let Err((e, detail)) = crate::caps::drop_sets(caps, bounding_kept) {
            return (Step::Caps, e, detail);
        }
    }
    if let Some(dir) = &launch.cwd {
        if let Some(e) = failed(sys(libc::SYS_chdir, dir.as_ptr() as usize, 0, 0)) {
            return (Step::Workdir, e, 0);
        }
    }
    if launch.no_new_privs {
        let nnp = libc::PR_SET_NO_NEW_PRIVS as usize;
        if let Some(e) = failed(sys(libc::SYS_prctl, nnp, 1, 0)) {
            return (Step::Caps, e, -1);
        }
    }
    if launch.close_fds {
        close_fds_on_exec();
    }
    // On this stack frame: it lives until the exec.
    let mut listen = [0u8; 32];
    if let Some(i) = p.listen_pid {
        if let Some(slot) = p.envp.get_mut(i) {
            let me = sys(libc::SYS_getpid, 0, 0, 0) as i32;
            *slot = listen_pid_entry(&mut listen, me).cast();
        }
    }
    signals::restore_in_child(inherited);

    let mut err = libc::ENOENT;
    let mut denied = false;
    for path in &p.candidates {
        let r = sys(
            libc::SYS_execve,
            path.as_ptr() as usize,
            p.argv.as_ptr() as usize,
            p.envp.as_ptr() as usize,
        );
        match raw::err(r) {
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ENOTDIR => {}
            e => {
                err = e;
                break;
            }
        }
    }
    if denied && err == libc::ENOENT {
        err = libc::EACCES;
    }
    (Step::Exec, err, 0)
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

/// `LISTEN_PID=<pid>` and a NUL in `buf`, without allocating (11 + at most
/// 10 digits + 1 fits in 32, so no index below can be out of range).
fn listen_pid_entry(buf: &mut [u8; 32], pid: i32) -> *const u8 {
    const NAME: &[u8] = b"LISTEN_PID=";
    let mut digits = [0u8; 12];
    let mut n = pid.unsigned_abs();
    let mut len = 0;
    for d in digits.iter_mut() {
        *d = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut out = buf.iter_mut();
    for (c, o) in NAME
        .iter()
        .chain(digits.iter().take(len).rev())
        .zip(out.by_ref())
    {
        *o = *c;
    }
    if let Some(o) = out.next() {
        *o = 0;
    }
    buf.as_ptr()
}

/// Mark every descriptor >= 3 close-on-exec (in the child: raw calls,
/// no allocation).
fn close_fds_on_exec() {
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

    #[test]
    fn listen_pid_entry_formats_without_allocating() {
        let mut buf = [0xffu8; 32];
        let p = listen_pid_entry(&mut buf, 4242);
        // SAFETY: listen_pid_entry NUL-terminates within buf.
        let s = unsafe { std::ffi::CStr::from_ptr(p.cast()) };
        assert_eq!(s.to_bytes(), b"LISTEN_PID=4242");
        let p = listen_pid_entry(&mut buf, i32::MAX);
        let s = unsafe { std::ffi::CStr::from_ptr(p.cast()) };
        assert_eq!(s.to_bytes(), b"LISTEN_PID=2147483647");
        let p = listen_pid_entry(&mut buf, 1);
        let s = unsafe { std::ffi::CStr::from_ptr(p.cast()) };
        assert_eq!(s.to_bytes(), b"LISTEN_PID=1");
    }
}
