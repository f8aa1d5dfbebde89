//! Signal names, and the one process-wide signal set-up of pidone.
//!
//! pidone blocks every signal and takes them one at a time with
//! `sigtimedwait`. A blocked signal is queued even when its disposition is
//! SIG_IGN, so pidone leaves the dispositions it inherited alone (the child
//! inherits them unchanged through exec) — all but SIGCHLD, whose SIG_IGN
//! would make the kernel discard exit statuses.
//!
//! Raw syscalls are used for the mask and the wait because libc hides
//! signals 32-34 (musl and glibc reserve them for threads, which pidone
//! has none of); a real-time signal sent there must be forwarded too.

use std::os::fd::RawFd;
use std::time::Duration;

/// Kernel sigset: one bit per signal 1..=64.
pub type SigSet = u64;

pub const ALL: SigSet = !0;
/// The empty set (a helper daemon starts with nothing blocked).
pub const NONE: SigSet = 0;

pub fn bit(sig: i32) -> SigSet {
    if (1..=64).contains(&sig) {
        1u64 << (sig - 1)
    } else {
        0
    }
}

/// What pidone inherited, to be handed on to the command unchanged.
#[derive(Debug, Clone, Copy)]
pub struct Inherited {
    pub mask: SigSet,
    /// SIGCHLD was ignored; pidone resets it for itself and the child gets
    /// SIG_IGN back before the exec.
    pub sigchld_ignored: bool,
}

fn sigprocmask(how: i32, set: Option<&SigSet>) -> SigSet {
    let mut old: SigSet = 0;
    let set_ptr = set.map_or(std::ptr::null(), |s| s as *const SigSet);
    // SAFETY: both pointers are valid for 8 bytes, the kernel's sigset size.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            set_ptr,
            &mut old as *mut SigSet,
            8usize,
        );
    }
    old
}

// The kernel's sigset is `unsigned long[64 / BITS_PER_LONG]`: on a
// little-endian 32-bit machine its two words read as one u64, as on every
// 64-bit one; on a big-endian 32-bit machine they would not.
#[cfg(all(target_pointer_width = "32", target_endian = "big"))]
compile_error!("SigSet as one u64 is wrong for 32-bit big-endian kernels");

/// The kernel's `struct sigaction` (linux/signal_types.h), not libc's:
/// `sa_flags` is an `unsigned long` (32 bits on armv7 and i686), the
/// restorer is there only where the architecture has SA_RESTORER (riscv
/// has none), and the mask is `unsigned long`s, so on 32-bit machines it
/// follows the restorer at offset 12 (a u64 there would start at 16 on
/// armv7, which aligns u64 to 8).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    #[cfg(not(target_arch = "riscv64"))]
    restorer: usize,
    mask: [libc::c_ulong; MASK_WORDS],
}

const MASK_WORDS: usize = 64 / libc::c_ulong::BITS as usize;

impl KernelSigaction {
    fn new(handler: usize) -> KernelSigaction {
        KernelSigaction {
            handler,
            flags: 0,
            #[cfg(not(target_arch = "riscv64"))]
            restorer: 0,
            mask: [0; MASK_WORDS],
        }
    }
}

/// Where the kernel reads the mask and how much it reads, per
/// architecture (arch/*/include/asm/signal.h): checked by every build, so
/// a cross build for a new target fails here rather than at run time.
const SIGACTION_MASK_AT: usize = if cfg!(target_arch = "riscv64") {
    16
} else if cfg!(target_pointer_width = "64") {
    24
} else {
    12
};
const _: () = assert!(std::mem::offset_of!(KernelSigaction, mask) == SIGACTION_MASK_AT);
const _: () = assert!(std::mem::size_of::<KernelSigaction>() == SIGACTION_MASK_AT + 8);

fn sigaction(sig: i32, new: Option<&KernelSigaction>, old: Option<&mut KernelSigaction>) -> i32 {
    let n = new.map_or(std::ptr::null(), |a| a as *const KernelSigaction);
    let o = old.map_or(std::ptr::null_mut(), |a| a as *mut KernelSigaction);
    // SAFETY: the kernel's sigaction layout for this architecture (checked
    // above), or null; 8 is the kernel's sigset size on every Linux target.
    unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, n, o, 8usize) as i32 }
}

fn set_disposition(sig: i32, handler: usize) {
    sigaction(sig, Some(&KernelSigaction::new(handler)), None);
}

/// Block every signal and make sure SIGCHLD statuses are kept. Called first
/// thing, so no signal sent to pidone while it starts is lost.
#[cfg_attr(test, allow(dead_code))]
pub fn take_over() -> Inherited {
    let mask = sigprocmask(libc::SIG_BLOCK, Some(&ALL));
    let mut old = KernelSigaction::new(0);
    let mut sigchld_ignored = false;
    if sigaction(libc::SIGCHLD, None, Some(&mut old)) == 0
        && (old.handler == libc::SIG_IGN || old.flags & libc::SA_NOCLDWAIT as libc::c_ulong != 0)
    {
        sigchld_ignored = old.handler == libc::SIG_IGN;
        set_disposition(libc::SIGCHLD, libc::SIG_DFL);
    }
    Inherited {
        mask,
        sigchld_ignored,
    }
}

/// In the child, before exec: give back exactly what pidone inherited.
/// Raw system calls only: the child runs in pidone's memory (process.rs).
pub fn restore_in_child(inherited: &Inherited) {
    if inherited.sigchld_ignored {
        let act = KernelSigaction::new(libc::SIG_IGN);
        // SAFETY: a valid kernel sigaction, no old one asked for.
        unsafe {
            super::raw::call(
                libc::SYS_rt_sigaction,
                [
                    libc::SIGCHLD as usize,
                    &act as *const KernelSigaction as usize,
                    0,
                    8,
                    0,
                    0,
                ],
            );
        }
    }
    // SAFETY: the mask is valid for 8 bytes, the kernel's sigset size.
    unsafe {
        super::raw::call(
            libc::SYS_rt_sigprocmask,
            [
                libc::SIG_SETMASK as usize,
                &inherited.mask as *const SigSet as usize,
                0,
                8,
                0,
                0,
            ],
        );
    }
}

/// Queue `sig` to pidone itself as a signal from elsewhere (SI_QUEUE, not
/// SI_USER: `self_inflicted` would drop it), to be taken and forwarded by
/// the supervisor like one that came.
pub fn queue_to_self(sig: i32) {
    // SAFETY: siginfo_t is plain data.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    info.si_signo = sig;
    info.si_code = libc::SI_QUEUE;
    // SAFETY: a signal to our own process with a valid siginfo.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigqueueinfo,
            libc::getpid(),
            sig,
            &info as *const libc::siginfo_t,
        );
    }
}

/// The timeout as `SYS_rt_sigtimedwait` and `SYS_futex` read it: two `long`s. On 32-bit
/// machines that number is the old 32-bit-time call whatever `time_t`
/// libc was built with (64-bit time has a call of its own); a timeout is
/// short, so 32 bits of seconds are plenty.
#[repr(C)]
pub(super) struct KernelTimespec {
    pub tv_sec: libc::c_long,
    pub tv_nsec: libc::c_long,
}

impl KernelTimespec {
    pub fn new(d: Duration) -> KernelTimespec {
        KernelTimespec {
            tv_sec: d.as_secs().min(i32::MAX as u64) as libc::c_long,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        }
    }
}

/// Wait for one of the signals in `set`; None on timeout. With no timeout
/// pidone sleeps until a signal comes: no periodic wake-ups.
#[link_section = ".text_hot"]
pub fn wait(set: SigSet, timeout: Option<Duration>) -> Option<libc::siginfo_t> {
    loop {
        // SAFETY: siginfo_t is plain data; the kernel fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let ts = timeout.map(KernelTimespec::new);
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const KernelTimespec);
        // SAFETY: pointers valid for the duration of the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_rt_sigtimedwait,
                &set as *const SigSet,
                &mut info as *mut libc::siginfo_t,
                ts_ptr,
                8usize,
            )
        };
        if r > 0 {
            return Some(info);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            _ => return None,
        }
    }
}

/// What ended a `wait_or_ready`.
pub enum Wake {
    Signal(libc::siginfo_t),
    /// A watched descriptor is readable (or hung up).
    Ready(RawFd),
    Timeout,
}

/// `wait`, that also wakes when one of `fds` becomes readable: the one wait
/// of the supervisor, for features that watch a file (inotify, a cgroup's
/// event file). With no fds it is exactly `wait`, so the common case pays
/// nothing. Otherwise a signalfd for `set` joins the fds in one `ppoll`, and
/// a signal it reports is then taken with a zero-timeout `sigtimedwait`, so
/// callers get the same `siginfo_t` either way. Signals come first.
#[link_section = ".text_hot"]
pub fn wait_or_ready(set: SigSet, fds: &[RawFd], timeout: Option<Duration>) -> Wake {
    if fds.is_empty() {
        return wait(set, timeout).map_or(Wake::Timeout, Wake::Signal);
    }
    let Some(sfd) = signal_fd(set) else {
        // No signalfd (fd limit): still serve signals, and look at the fds
        // after each one; a readable fd is never lost, only late.
        return match wait(set, timeout) {
            Some(info) => Wake::Signal(info),
            None => ready_now(fds).map_or(Wake::Timeout, Wake::Ready),
        };
    };
    let deadline = timeout.map(|d| std::time::Instant::now() + d);
    // On the stack, and ppoll as a raw syscall like the other waits: an
    // idle init that wakes touches no allocator and no more libc pages,
    // each of which would fault a 64 KiB window back in (resident.rs).
    let mut stack = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; STACK_FDS];
    let mut heap = Vec::new();
    loop {
        let all = std::iter::once(sfd).chain(fds.iter().copied());
        let polled: &mut [libc::pollfd] = match stack.get_mut(..fds.len() + 1) {
            Some(s) => s,
            None => {
                heap.resize(fds.len() + 1, stack[0]);
                &mut heap
            }
        };
        for (p, fd) in polled.iter_mut().zip(all) {
            *p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
        }
        let ts = deadline.map(|d| timespec(d.saturating_duration_since(std::time::Instant::now())));
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `polled` is valid for its length; a null sigmask keeps the
        // mask (every signal stays blocked).
        let r = unsafe {
            libc::syscall(
                libc::SYS_ppoll,
                polled.as_mut_ptr(),
                polled.len() as libc::nfds_t,
                ts_ptr,
                std::ptr::null::<SigSet>(),
                8usize,
            )
        };
        if r == 0 {
            return Wake::Timeout;
        }
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return wait(set, timeout).map_or(Wake::Timeout, Wake::Signal);
        }
        if polled.first().is_some_and(|p| p.revents != 0) {
            if let Some(info) = wait(set, Some(Duration::ZERO)) {
                return Wake::Signal(info);
            }
        }
        if let Some(p) = polled.iter().skip(1).find(|p| p.revents != 0) {
            return Wake::Ready(p.fd);
        }
    }
}

/// Descriptors polled without an allocation (the signalfd and 7 watched).
const STACK_FDS: usize = 8;

/// The signalfd for `set`, made on first use and kept (close-on-exec). Raw
/// syscall with the kernel's 8-byte set, as for the mask: libc would drop
/// signals 32-34.
fn signal_fd(set: SigSet) -> Option<RawFd> {
    use std::sync::atomic::{AtomicI32, Ordering};
    static FD: AtomicI32 = AtomicI32::new(-1);
    let fd = FD.load(Ordering::Relaxed);
    // SAFETY: the set pointer is valid for 8 bytes; with fd -1 or our own
    // signalfd the call makes or updates one.
    let r = unsafe {
        libc::syscall(
            libc::SYS_signalfd4,
            fd,
            &set as *const SigSet,
            8usize,
            libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
        )
    } as RawFd;
    if r < 0 {
        return None;
    }
    FD.store(r, Ordering::Relaxed);
    Some(r)
}

/// The first of `fds` readable right now.
fn ready_now(fds: &[RawFd]) -> Option<RawFd> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `polled` is valid for its length; zero timeout.
    let r = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, 0) };
    if r <= 0 {
        return None;
    }
    polled.iter().find(|p| p.revents != 0).map(|p| p.fd)
}

/// For libc's `ppoll`: libc's own timespec, whatever its `time_t`.
fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i32::MAX as u64) as _,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// A signal the kernel raised on pidone for something pidone itself did:
/// SIGPIPE for a log line written to a closed pipe, SIGXFSZ past the file
/// size limit. It comes as if pidone had sent it to itself (SI_USER from its
/// own pid), which pidone never does; it is not the command's business.
#[link_section = ".text_hot"]
pub fn self_inflicted(info: &libc::siginfo_t) -> bool {
    // SAFETY: si_pid is the sender's pid for SI_USER signals.
    info.si_code == libc::SI_USER && unsafe { info.si_pid() } == std::process::id() as i32
}

/// Linux's signal names and numbers (`values::signal` parses them).
pub const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Real-time signals as the kernel numbers them; libc's SIGRTMIN differs
/// between C libraries, and pidone names them as users see them in
/// `kill -l` (glibc: RTMIN = 34).
pub const RTMIN: i32 = 34;
pub const RTMAX: i32 = 64;

/// `SIGTERM`, `SIGRTMIN+2`, or the number (for log lines).
pub fn name(sig: i32) -> String {
    if let Some((n, _)) = NAMES.iter().find(|(_, s)| *s == sig) {
        return format!("SIG{}", n);
    }
    if (RTMIN..=RTMAX).contains(&sig) {
        return format!("SIGRTMIN+{}", sig - RTMIN);
    }
    sig.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (RawFd, RawFd) {
        let mut fds = [0; 2];
        // SAFETY: fds is valid for two ints.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        (fds[0], fds[1])
    }

    /// What the C library's sigaction set, the raw call reads back in the
    /// same places: handler, flags and mask where the kernel keeps them.
    #[test]
    fn kernel_sigaction_reads_what_libc_set() {
        // SIGURG: ignored by default, used by nothing in the test harness.
        // SAFETY: a zeroed sigaction is valid; the calls get valid pointers.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = libc::SIG_IGN;
            act.sa_flags = libc::SA_NOCLDWAIT | libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaddset(&mut act.sa_mask, libc::SIGUSR2);
            assert_eq!(libc::sigaction(libc::SIGURG, &act, std::ptr::null_mut()), 0);
        }
        let mut old = KernelSigaction::new(0);
        assert_eq!(sigaction(libc::SIGURG, None, Some(&mut old)), 0);
        set_disposition(libc::SIGURG, libc::SIG_DFL);
        assert_eq!(old.handler, libc::SIG_IGN);
        let want = (libc::SA_NOCLDWAIT | libc::SA_RESTART) as libc::c_ulong;
        assert_eq!(old.flags & want, want);
        let usr2 = 1 << (libc::SIGUSR2 - 1);
        assert_eq!(old.mask.first().copied().unwrap_or(0) & usr2, usr2);
    }

    #[test]
    fn wait_or_ready_sees_fds_signals_and_the_deadline() {
        let (r, w) = pipe();
        let short = Some(Duration::from_millis(20));
        // SIGUSR2 blocked in this test thread; raise() queues it on the thread,
        // which the signalfd reports too.
        let usr2 = bit(libc::SIGUSR2);
        sigprocmask(libc::SIG_BLOCK, Some(&usr2));
        assert!(matches!(wait_or_ready(usr2, &[r], short), Wake::Timeout));
        // SAFETY: writing one byte from a valid buffer.
        assert_eq!(unsafe { libc::write(w, b"x".as_ptr().cast(), 1) }, 1);
        assert!(matches!(wait_or_ready(usr2, &[r], short), Wake::Ready(fd) if fd == r));
        // SAFETY: raise with a plain signal number.
        unsafe { libc::raise(libc::SIGUSR2) };
        // Signals come before a readable fd.
        match wait_or_ready(usr2, &[r], short) {
            Wake::Signal(i) => assert_eq!(i.si_signo, libc::SIGUSR2),
            _ => panic!("expected SIGUSR2"),
        }
        // SAFETY: closing the pipe this test made.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
    }
}
