//! Signal names, and the one process-wide signal set-up, on illumos: the
//! same design as Linux's (every signal blocked, taken one at a time with
//! `sigtimedwait`, the dispositions handed on untouched but SIGCHLD's
//! SIG_IGN), through libc, which hides no signal here.

use std::os::fd::RawFd;
use std::time::Duration;

/// illumos' sigset_t: four 32-bit words, signal n at bit n-1.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigSet([u32; 4]);

pub const ALL: SigSet = SigSet([!0; 4]);
/// The empty set (a helper daemon starts with nothing blocked).
pub const NONE: SigSet = SigSet([0; 4]);

pub fn bit(sig: i32) -> SigSet {
    let mut s = NONE;
    if (1..=128).contains(&sig) {
        let n = (sig - 1) as usize;
        if let Some(w) = s.0.get_mut(n / 32) {
            *w = 1 << (n % 32);
        }
    }
    s
}

impl SigSet {
    fn as_ptr(&self) -> *const libc::sigset_t {
        (self as *const SigSet).cast()
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

fn sigprocmask(how: i32, set: &SigSet) -> SigSet {
    let mut old = NONE;
    // SAFETY: both point at 16-byte sigset_t's.
    unsafe { libc::sigprocmask(how, set.as_ptr(), (&mut old as *mut SigSet).cast()) };
    old
}

fn set_disposition(sig: i32, handler: libc::sighandler_t) {
    // SAFETY: a zeroed sigaction is a valid start (empty mask, no flags).
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler;
    // SAFETY: a valid sigaction.
    unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) };
}

/// Block every signal and make sure SIGCHLD statuses are kept.
#[cfg_attr(test, allow(dead_code))]
pub fn take_over() -> Inherited {
    let mask = sigprocmask(libc::SIG_BLOCK, &ALL);
    // SAFETY: zeroed is a valid out-buffer.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    let mut sigchld_ignored = false;
    // SAFETY: a valid out-pointer.
    if unsafe { libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old) } == 0
        && (old.sa_sigaction == libc::SIG_IGN || old.sa_flags & libc::SA_NOCLDWAIT != 0)
    {
        sigchld_ignored = old.sa_sigaction == libc::SIG_IGN;
        set_disposition(libc::SIGCHLD, libc::SIG_DFL);
    }
    Inherited {
        mask,
        sigchld_ignored,
    }
}

/// In the child, before exec: give back exactly what pidone inherited.
pub fn restore_in_child(inherited: &Inherited) {
    if inherited.sigchld_ignored {
        set_disposition(libc::SIGCHLD, libc::SIG_IGN);
    }
    sigprocmask(libc::SIG_SETMASK, &inherited.mask);
}

/// Queue `sig` to pidone itself as a signal from elsewhere (sigqueue's
/// SI_QUEUE, not SI_USER: `self_inflicted` would drop it).
pub fn queue_to_self(sig: i32) {
    // SAFETY: a signal to our own process with a zero value.
    unsafe {
        libc::sigqueue(
            libc::getpid(),
            sig,
            libc::sigval {
                sival_ptr: std::ptr::null_mut(),
            },
        );
    }
}

/// Wait for one of the signals in `set`; None on timeout.
pub fn wait(set: SigSet, timeout: Option<Duration>) -> Option<libc::siginfo_t> {
    loop {
        // SAFETY: siginfo_t is plain data; the kernel fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(i32::MAX as u64) as _,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: pointers valid for the duration of the call.
        let r = unsafe { super::sigtimedwait(set.as_ptr(), &mut info, ts_ptr) };
        if r > 0 {
            return Some(info);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            _ => return None,
        }
    }
}

/// What ended a `wait_or_ready`. (illumos' siginfo_t is 256 bytes; it
/// is returned by value as on Linux, never boxed: no allocation per
/// signal.)
#[allow(clippy::large_enum_variant)]
pub enum Wake {
    Signal(libc::siginfo_t),
    /// A watched descriptor is readable (or hung up).
    Ready(RawFd),
    Timeout,
}

/// `wait`, that also looks at `fds`: the features that watch files are
/// Linux's, so here the fds are looked at after each wake (never lost,
/// only late).
pub fn wait_or_ready(set: SigSet, fds: &[RawFd], timeout: Option<Duration>) -> Wake {
    match wait(set, timeout) {
        Some(info) => Wake::Signal(info),
        None => ready_now(fds).map_or(Wake::Timeout, Wake::Ready),
    }
}

fn ready_now(fds: &[RawFd]) -> Option<RawFd> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    if polled.is_empty() {
        return None;
    }
    // SAFETY: `polled` is valid for its length; zero timeout.
    let r = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, 0) };
    if r <= 0 {
        return None;
    }
    polled.iter().find(|p| p.revents != 0).map(|p| p.fd)
}

/// `SI_USER` (sys/siginfo.h): sent by kill(2).
const SI_USER: i32 = 0;

/// A signal the kernel raised on pidone for something pidone itself did
/// (SIGPIPE, SIGXFSZ): SI_USER from its own pid.
pub fn self_inflicted(info: &libc::siginfo_t) -> bool {
    // SAFETY: si_pid is the sender's pid for SI_USER signals.
    info.si_code == SI_USER && unsafe { info.si_pid() } == std::process::id() as i32
}

/// illumos' signal names and numbers (`values::signal` parses them).
pub const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("EMT", libc::SIGEMT),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("BUS", libc::SIGBUS),
    ("SEGV", libc::SIGSEGV),
    ("SYS", libc::SIGSYS),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("PWR", libc::SIGPWR),
    ("WINCH", libc::SIGWINCH),
    ("URG", libc::SIGURG),
    ("POLL", libc::SIGPOLL),
    ("IO", libc::SIGIO),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("CONT", libc::SIGCONT),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("LOST", 37),
    ("XRES", 38),
    ("INFO", 41),
];

/// Real-time signals (sys/iso/signal_iso.h: _SIGRTMIN, _SIGRTMAX).
pub const RTMIN: i32 = 42;
pub const RTMAX: i32 = 73;

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
