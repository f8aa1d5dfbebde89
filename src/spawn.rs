//! Start the command as pidone's child.
//!
//! Everything that can be prepared is prepared before the clone (argv,
//! envp, the candidate paths), so the child only makes system calls.
//!
//! The child is started by `sys::process::spawn`: on Linux it shares
//! pidone's memory (`clone(CLONE_VM)`), on illumos it is a fork. Either
//! way pidone does not wait for its exec beyond a short bound: between its
//! switch to the command's user and its exec, any process of that user
//! may stop it, and PID 1 must not wait on something that user can hold.
//! A child that cannot exec returns what failed; the supervisor reads it
//! once the child has exited (and asks whether a child held stopped ever
//! exec'd). A helper daemon, whose child stays root, is waited for with a
//! longer bound.

use std::ffi::CString;
use std::time::Duration;

use crate::error::{
    describe_errno as describe, errno, Error, Stage, EXIT_CANNOT_EXEC, EXIT_NOT_FOUND,
};
use crate::launch::Launch;
use crate::sys::process;
use crate::sys::signals::{self, Inherited};

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

/// What a child that could not exec returns: the step, the errno and a
/// detail (for `Step::Caps`, see `sys::caps::Failure`; -1: the plan's own
/// no_new_privs).
type Report = (Step, i32, i32);

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

/// What pidone knows of a command it started: whether it has exec'd,
/// and if it could not, why.
pub struct Started<'a> {
    pub pid: i32,
    launch: &'a Launch,
    child: process::Child<'a, Report>,
}

impl Started<'_> {
    /// Without waiting: true while the child has neither exec'd nor exited.
    pub fn pending(&mut self) -> bool {
        self.child.pending()
    }

    /// Once the child has been reaped: why it could not exec, if it could
    /// not.
    pub fn failure(&mut self) -> Option<Error> {
        let (step, e, detail) = self.child.failure()?;
        Some(failure(self.launch, step, e, detail))
    }
}

/// Start the command without waiting for its exec (see above). `launch`
/// must outlive what is returned.
pub fn start<'a>(launch: &'a Launch, inherited: &Inherited) -> Result<Started<'a>, SpawnFailure> {
    if launch.new_session && launch.stdio.is_none() {
        release_tty();
    }
    let mut prepared = prepare(launch);
    let inherited = *inherited;
    // Runs in the child; returns only when it could not exec.
    let run = Box::new(move || {
        let (step, e, detail) = child(launch, &mut prepared, &inherited);
        let code = if step == Step::Exec && e == libc::ENOENT {
            EXIT_NOT_FOUND
        } else {
            EXIT_CANNOT_EXEC
        };
        ((step, e, detail), code)
    });
    let (pid, child) = process::spawn(run).map_err(|e| SpawnFailure {
        error: Error::new(
            Stage::Exec,
            format!("{}: {}", process::SPAWN_CALL, describe(e)),
        ),
    })?;
    if !launch.new_session && !launch.keep_group {
        // The child does the same; doing it here too means the group
        // exists before pidone first signals it (EACCES once it has
        // exec'd is fine).
        // SAFETY: setpgid with plain integers, on our own child.
        unsafe {
            libc::setpgid(pid, pid);
        }
    }
    Ok(Started { pid, launch, child })
}

/// How long a helper daemon's start may take before pidone gives up on it.
const HELPER_EXEC_WAIT: Duration = Duration::from_secs(10);

/// Start a helper daemon and wait until it has exec'd. Unlike the
/// command's, its child never changes user (helpers run as root), so no
/// process of the command's user can hold it; the wait is bounded anyway.
pub fn spawn(launch: &Launch, inherited: &Inherited) -> Result<i32, SpawnFailure> {
    let mut started = start(launch, inherited)?;
    let pid = started.pid;
    if !started.child.wait(HELPER_EXEC_WAIT) {
        // SAFETY: kill our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        reap(pid);
        started.child.failure();
        return Err(SpawnFailure {
            error: Error::new(
                Stage::Exec,
                format!("did not exec within {} s", HELPER_EXEC_WAIT.as_secs()),
            ),
        });
    }
    match started.failure() {
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

/// In pidone, once the command has started: close every descriptor >= 3
/// it inherited (sys::process::close_inherited).
pub fn close_inherited() {
    process::close_inherited();
}

fn failure(launch: &Launch, step: Step, e: i32, detail: i32) -> Error {
    let cmd = launch.argv.first().map_or_else(String::new, |a| {
        String::from_utf8_lossy(a.as_bytes()).into_owned()
    });
    let (stage, what) = match step {
        Step::Session => (Stage::Console, "cannot set up the session".to_string()),
        Step::Stdio => (Stage::Console, "cannot attach stdio".to_string()),
        Step::Caps => return Error::new(Stage::Caps, describe_caps(e, detail)),
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

/// A capability failure the child reported (`sys::caps::Failure`).
fn describe_caps(e: i32, detail: i32) -> String {
    let reason = || describe(e);
    if detail < 0 {
        return format!("cannot set no_new_privs: {}", reason());
    }
    let c = (detail & 0xff) as usize;
    let cap = crate::values::CAP_NAMES
        .get(c)
        .map_or_else(|| c.to_string(), |n| format!("CAP_{}", n));
    let set = match detail >> 8 {
        0 => return format!("cannot drop {}: {}", cap, reason()),
        1 => {
            return format!(
                "{} is still in the bounding set and no_new_privs is off",
                cap
            )
        }
        6 => {
            return format!(
                "cannot drop {} from the bounding set (no CAP_SETPCAP) nor set no_new_privs: {}",
                cap,
                reason()
            )
        }
        2 => "permitted set",
        3 => "effective set",
        4 => "inheritable set",
        _ => "ambient set",
    };
    format!("{} is still in the {} after the drop", cap, set)
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

/// In the child: set up, then exec. Returns only on failure: the step,
/// the errno and a detail. On Linux it runs in pidone's memory, so it
/// changes nothing but `p` and allocates nothing.
fn child(launch: &Launch, p: &mut Prepared, inherited: &Inherited) -> Report {
    // SAFETY: plain system calls on our own process.
    unsafe {
        if launch.new_session {
            if libc::setsid() < 0 {
                return (Step::Session, errno(), 0);
            }
        } else if !launch.keep_group {
            libc::setpgid(0, 0);
        }
        if let Some(io) = &launch.stdio {
            for (from, to) in [(io.stdin, 0), (io.stdout, 1), (io.stderr, 2)] {
                // dup2 clears close-on-exec on the copy.
                if from != to && libc::dup2(from, to) < 0 {
                    return (Step::Stdio, errno(), 0);
                }
            }
            if io.controlling_tty && libc::ioctl(0, libc::TIOCSCTTY, 1) < 0 {
                return (Step::Stdio, errno(), 0);
            }
        } else if launch.new_session {
            // dumb-init's way: take the terminal when there is one.
            if libc::isatty(0) == 1 {
                libc::ioctl(0, libc::TIOCSCTTY, 0);
            }
        }
        if !launch.new_session && !launch.keep_group && libc::isatty(0) == 1 {
            // The command's group becomes the terminal's foreground group;
            // SIGTTOU is still blocked here, so this cannot stop us.
            libc::tcsetpgrp(0, libc::getpid());
        }
        // Bounding and ambient sets first: that takes CAP_SETPCAP, which
        // the user switch clears.
        let mut bounding_kept = false;
        if let Some(caps) = &launch.drop_caps {
            match crate::sys::caps::drop_bounding(caps) {
                Ok(kept) => bounding_kept = kept,
                Err((e, detail)) => return (Step::Caps, e, detail),
            }
        }
        if let Some(c) = &launch.cred {
            let e = process::set_ids(&p.groups, c.uid, c.gid);
            if e != 0 {
                return (Step::User, e, 0);
            }
        }
        if let Some(caps) = &launch.drop_caps {
            if let Err((e, detail)) = crate::sys::caps::drop_sets(caps, bounding_kept) {
                return (Step::Caps, e, detail);
            }
        }
        if let Some(dir) = &launch.cwd {
            if libc::chdir(dir.as_ptr()) != 0 {
                return (Step::Workdir, errno(), 0);
            }
        }
        if launch.no_new_privs {
            let e = process::no_new_privs();
            if e != 0 {
                return (Step::Caps, e, -1);
            }
        }
        if launch.close_fds {
            // Close-on-exec rather than close, so a failed exec can still
            // report on stderr through pidone.
            process::close_fds_on_exec();
        }
        // On this stack frame: it lives until the exec.
        let mut listen = [0u8; 32];
        if let Some(i) = p.listen_pid {
            if let Some(slot) = p.envp.get_mut(i) {
                *slot = listen_pid_entry(&mut listen, libc::getpid()).cast();
            }
        }
        signals::restore_in_child(inherited);

        let mut err = libc::ENOENT;
        let mut denied = false;
        for path in &p.candidates {
            libc::execve(path.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr());
            match errno() {
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

#[cfg(test)]
mod tests {
    use super::*;

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
