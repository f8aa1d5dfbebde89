//! Start the command as pidone's child.
//!
//! Everything that can be prepared is prepared before the fork (argv, envp,
//! the candidate paths), so the child only makes system calls. A failure in
//! the child is reported to the parent through a close-on-exec pipe: the
//! parent reads nothing when the exec succeeded.

use std::ffi::CString;
use std::os::unix::io::RawFd;

use crate::error::{Error, Stage, EXIT_CANNOT_EXEC, EXIT_NOT_FOUND};
use crate::setup::Launch;
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

impl Step {
    fn from(b: u8) -> Step {
        match b {
            1 => Step::Session,
            2 => Step::Stdio,
            3 => Step::Caps,
            4 => Step::User,
            5 => Step::Workdir,
            _ => Step::Exec,
        }
    }
}

/// Prepared before the fork.
struct Prepared {
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    candidates: Vec<CString>,
    /// Index in envp of `LISTEN_PID=<pidone's pid>`, to point at the child.
    listen_pid: Option<usize>,
    groups: Vec<libc::gid_t>,
}

fn prepare(launch: &Launch) -> Prepared {
    let mut argv: Vec<_> = launch.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<_> = launch.env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());

    let own = format!("LISTEN_PID={}", std::process::id());
    let listen_pid = launch.env.iter().position(|e| e.as_bytes() == own.as_bytes());

    let name = launch.argv.first().map_or(&b""[..], |a| a.as_bytes());
    let candidates = if name.contains(&b'/') || name.is_empty() {
        CString::new(name).into_iter().collect()
    } else {
        launch
            .path
            .split(|&c| c == b':')
            .filter_map(|dir| {
                // An empty PATH entry is the current directory.
                let mut p = if dir.is_empty() { b".".to_vec() } else { dir.to_vec() };
                p.push(b'/');
                p.extend_from_slice(name);
                CString::new(p).ok()
            })
            .collect()
    };
    let groups = launch.cred.as_ref().map_or_else(Vec::new, |c| c.groups.clone());
    Prepared {
        argv,
        envp,
        candidates,
        listen_pid,
        groups,
    }
}

/// The command could not be started.
#[derive(Debug)]
pub struct SpawnFailure {
    pub error: Error,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// The system's text for an errno, without Rust's " (os error N)".
pub fn describe(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Start the command. Returns its pid.
pub fn spawn(launch: &Launch, inherited: &Inherited) -> Result<i32, SpawnFailure> {
    let prepared = prepare(launch);
    if launch.new_session && launch.stdio.is_none() {
        release_tty();
    }
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is valid for two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SpawnFailure {
            error: Error::new(Stage::Exec, format!("pipe: {}", describe(errno()))),
        });
    }
    let [rd, wr] = fds;
    // SAFETY: pidone has no threads, so the child may run any code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = errno();
        close(rd);
        close(wr);
        return Err(SpawnFailure {
            error: Error::new(Stage::Exec, format!("fork: {}", describe(e))),
        });
    }
    if pid == 0 {
        close(rd);
        let (step, e) = child(launch, prepared, inherited);
        let msg = [step as u8, e as u8, (e >> 8) as u8, (e >> 16) as u8, (e >> 24) as u8];
        // SAFETY: writing a small buffer to our pipe, then leaving at once.
        unsafe {
            libc::write(wr, msg.as_ptr().cast(), msg.len());
            libc::_exit(if step == Step::Exec && e == libc::ENOENT {
                EXIT_NOT_FOUND
            } else {
                EXIT_CANNOT_EXEC
            });
        }
    }
    close(wr);
    let mut msg = [0u8; 5];
    let n = loop {
        // SAFETY: reading into a local buffer.
        let n = unsafe { libc::read(rd, msg.as_mut_ptr().cast(), msg.len()) };
        if n >= 0 || errno() != libc::EINTR {
            break n;
        }
    };
    close(rd);
    if n < 5 {
        return Ok(pid);
    }
    let step = Step::from(msg[0]);
    let e = i32::from_le_bytes([msg[1], msg[2], msg[3], msg[4]]);
    // The child is leaving: reap it here, so it is neither signalled by the
    // shutdown nor reported as a stray zombie.
    let mut status = 0;
    // SAFETY: waiting for our own child; status is a valid out-pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && errno() == libc::EINTR {}
    Err(SpawnFailure {
        error: failure(launch, step, e),
    })
}

fn failure(launch: &Launch, step: Step, e: i32) -> Error {
    let cmd = launch
        .argv
        .first()
        .map_or_else(String::new, |a| String::from_utf8_lossy(a.as_bytes()).into_owned());
    let (stage, what) = match step {
        Step::Session => (Stage::Console, "cannot set up the session".to_string()),
        Step::Stdio => (Stage::Console, "cannot attach stdio".to_string()),
        Step::Caps => (Stage::Caps, "cannot drop capabilities".to_string()),
        Step::User => (Stage::User, "cannot switch user".to_string()),
        Step::Workdir => {
            let dir = launch.cwd.as_ref().map_or_else(String::new, |d| d.to_string_lossy().into_owned());
            (Stage::Workdir, format!("cannot enter {}", dir))
        }
        Step::Exec => {
            let reason = if e == libc::ENOENT && !cmd.contains('/') {
                "not found in PATH".to_string()
            } else {
                describe(e)
            };
            let code = if e == libc::ENOENT { EXIT_NOT_FOUND } else { EXIT_CANNOT_EXEC };
            return Error::new(Stage::Exec, format!("cannot run {:?}: {}", cmd, reason)).with_code(code);
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

fn close(fd: RawFd) {
    // SAFETY: closing a descriptor we own.
    unsafe {
        libc::close(fd);
    }
}

/// In the child: set up, then exec. Returns only on failure.
fn child(launch: &Launch, mut p: Prepared, inherited: &Inherited) -> (Step, i32) {
    // SAFETY: plain system calls on our own process.
    unsafe {
        if launch.new_session {
            if libc::setsid() < 0 {
                return (Step::Session, errno());
            }
        } else {
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
        if !launch.new_session && libc::isatty(0) == 1 {
            // The command's group becomes the terminal's foreground group;
            // SIGTTOU is still blocked here, so this cannot stop us.
            libc::tcsetpgrp(0, libc::getpid());
        }
        if let Some(caps) = &launch.drop_caps {
            if let Err(e) = crate::caps::drop_bounding(caps) {
                return (Step::Caps, e);
            }
        }
        if let Some(c) = &launch.cred {
            if libc::setgroups(p.groups.len(), p.groups.as_ptr()) != 0
                || libc::setresgid(c.gid, c.gid, c.gid) != 0
                || libc::setresuid(c.uid, c.uid, c.uid) != 0
            {
                return (Step::User, errno());
            }
        }
        if let Some(caps) = &launch.drop_caps {
            if let Err(e) = crate::caps::drop_sets(caps) {
                return (Step::Caps, e);
            }
        }
        if let Some(dir) = &launch.cwd {
            if libc::chdir(dir.as_ptr()) != 0 {
                return (Step::Workdir, errno());
            }
        }
        if launch.close_fds {
            // Close-on-exec rather than close: the report pipe must stay
            // open until the exec.
            close_fds_on_exec();
        }
        if let Some(i) = p.listen_pid {
            let own = CString::new(format!("LISTEN_PID={}", libc::getpid())).unwrap_or_default();
            p.envp[i] = own.as_ptr();
            std::mem::forget(own);
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

/// Mark every descriptor >= 3 close-on-exec.
fn close_fds_on_exec() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if r == 0 {
        return;
    }
    // Older kernels: walk the descriptors one by one.
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
