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

use std::time::Duration;

/// Kernel sigset: one bit per signal 1..=64.
pub type SigSet = u64;

pub const ALL: SigSet = !0;

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

#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: SigSet,
}

fn sigaction(sig: i32, new: Option<&KernelSigaction>, old: Option<&mut KernelSigaction>) -> i32 {
    let n = new.map_or(std::ptr::null(), |a| a as *const KernelSigaction);
    let o = old.map_or(std::ptr::null_mut(), |a| a as *mut KernelSigaction);
    // SAFETY: valid kernel sigaction layout for x86_64 and aarch64, or null.
    unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, n, o, 8usize) as i32 }
}

fn set_disposition(sig: i32, handler: usize) {
    let act = KernelSigaction {
        handler,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    sigaction(sig, Some(&act), None);
}

/// Block every signal and make sure SIGCHLD statuses are kept. Called first
/// thing, so no signal sent to pidone while it starts is lost.
#[cfg_attr(test, allow(dead_code))]
pub fn take_over() -> Inherited {
    let mask = sigprocmask(libc::SIG_BLOCK, Some(&ALL));
    let mut old = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    let mut sigchld_ignored = false;
    if sigaction(libc::SIGCHLD, None, Some(&mut old)) == 0
        && (old.handler == libc::SIG_IGN || old.flags & libc::SA_NOCLDWAIT as u64 != 0)
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
/// Raw system calls only: the child runs in pidone's memory (spawn.rs).
pub fn restore_in_child(inherited: &Inherited) {
    if inherited.sigchld_ignored {
        let act = KernelSigaction {
            handler: libc::SIG_IGN,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        // SAFETY: a valid kernel sigaction, no old one asked for.
        unsafe {
            crate::raw::call(
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
        crate::raw::call(
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

/// Wait for one of the signals in `set`; None on timeout. With no timeout
/// pidone sleeps until a signal comes: no periodic wake-ups.
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

/// A signal the kernel raised on pidone for something pidone itself did:
/// SIGPIPE for a log line written to a closed pipe, SIGXFSZ past the file
/// size limit. It comes as if pidone had sent it to itself (SI_USER from its
/// own pid), which pidone never does; it is not the command's business.
pub fn self_inflicted(info: &libc::siginfo_t) -> bool {
    // SAFETY: si_pid is the sender's pid for SI_USER signals.
    info.si_code == libc::SI_USER && unsafe { info.si_pid() } == std::process::id() as i32
}

/// `SIGTERM`, `SIGRTMIN+2`, or the number (for log lines).
pub use crate::values::signal_name as name;
