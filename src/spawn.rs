//! Start the command as pidone's child.
//!
//! Everything that can be prepared is prepared before the clone (argv,
//! envp, the candidate paths), so the child only makes system calls.
//!
//! The child is started by `sys::process::spawn`: on Linux vfork-style
//! (it shares pidone's memory, and pidone is suspended until it has
//! exec'd or exited), on illumos by fork. Either way a child that cannot
//! exec returns what failed, and pidone reads it when the child is gone.

use std::ffi::CString;

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

/// Start the command. Returns its pid.
pub fn spawn(launch: &Launch, inherited: &Inherited) -> Result<i32, SpawnFailure> {
    if launch.new_session && launch.stdio.is_none() {
        release_tty();
    }
    let mut prepared = prepare(launch);
    // Runs in the child; returns only when it could not exec.
    let mut run = || {
        let (step, e) = child(launch, &mut prepared, inherited);
        let code = if step == Step::Exec && e == libc::ENOENT {
            EXIT_NOT_FOUND
        } else {
            EXIT_CANNOT_EXEC
        };
        ((step, e), code)
    };
    let (pid, failed) = process::spawn(&mut run).map_err(|e| SpawnFailure {
        error: Error::new(
            Stage::Exec,
            format!("{}: {}", process::SPAWN_CALL, describe(e)),
        ),
    })?;
    let Some((step, e)) = failed else {
        return Ok(pid);
    };
    // The child has left: reap it here, so it is neither signalled by the
    // shutdown nor reported as a stray zombie.
    let mut status = 0;
    // SAFETY: waiting for our own child; status is a valid out-pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && errno() == libc::EINTR {}
    Err(SpawnFailure {
        error: failure(launch, step, e),
    })
}

fn failure(launch: &Launch, step: Step, e: i32) -> Error {
    let cmd = launch.argv.first().map_or_else(String::new, |a| {
        String::from_utf8_lossy(a.as_bytes()).into_owned()
    });
    let (stage, what) = match step {
        Step::Session => (Stage::Console, "cannot set up the session".to_string()),
        Step::Stdio => (Stage::Console, "cannot attach stdio".to_string()),
        Step::Caps => (Stage::Caps, "cannot drop capabilities".to_string()),
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

/// In the child: set up, then exec. Returns only on failure. It runs in
/// pidone's memory, so it changes nothing but `p` and allocates nothing,
/// except in the close-fds fallback for old kernels (see there).
fn child(launch: &Launch, p: &mut Prepared, inherited: &Inherited) -> (Step, i32) {
    // SAFETY: plain system calls on our own process.
    unsafe {
        if launch.new_session {
            if libc::setsid() < 0 {
                return (Step::Session, errno());
            }
        } else if !launch.keep_group {
            libc::setpgid(0, 0);
        }
        if let Some(io) = &launch.stdio {
            for (from, to) in [(io.stdin, 0), (io.stdout, 1), (io.stderr, 2)] {
                // dup2 clears close-on-exec on the copy.
                if from != to && libc::dup2(from, to) < 0 {
                    return (Step::Stdio, errno());
                }
            }
            if io.controlling_tty && libc::ioctl(0, libc::TIOCSCTTY, 1) < 0 {
                return (Step::Stdio, errno());
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
        if let Some(caps) = &launch.drop_caps {
            if let Err(e) = crate::sys::caps::drop_bounding(caps) {
                return (Step::Caps, e);
            }
        }
        if let Some(c) = &launch.cred {
            let e = process::set_ids(&p.groups, c.uid, c.gid);
            if e != 0 {
                return (Step::User, e);
            }
        }
        if let Some(caps) = &launch.drop_caps {
            if let Err(e) = crate::sys::caps::drop_sets(caps) {
                return (Step::Caps, e);
            }
        }
        if let Some(dir) = &launch.cwd {
            if libc::chdir(dir.as_ptr()) != 0 {
                return (Step::Workdir, errno());
            }
        }
        if launch.no_new_privs {
            let e = process::no_new_privs();
            if e != 0 {
                return (Step::Caps, e);
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
        (Step::Exec, err)
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
