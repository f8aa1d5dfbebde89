//! The process calls that differ by OS, Linux's side: the child
//! subreaper, the parent-death signal, Ctrl-Alt-Del, the vfork-style
//! start of a child, and what the child does before exec.

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

/// Room for the child's stack until it execs: it only makes system calls
/// (a few hundred bytes of frames), so this is a wide margin.
const CHILD_STACK: usize = 32 * 1024;

/// The child's stack. A static rather than a buffer in pidone's frame:
/// Rust probes every page of a large frame, which made all 32 KiB
/// resident; here only the page or two the child touches are. One child
/// at a time uses it: pidone has no threads, and clone returns only once
/// the previous child has exec'd or exited.
#[repr(C, align(16))]
struct Stack(std::cell::UnsafeCell<[u8; CHILD_STACK]>);

// SAFETY: used by one vfork child at a time, as said above.
unsafe impl Sync for Stack {}

static STACK: Stack = Stack(std::cell::UnsafeCell::new([0; CHILD_STACK]));

/// What the parent shares with its vfork-style child.
struct Call<'a, R> {
    run: &'a mut dyn FnMut() -> (R, i32),
    /// Set by the child when it could not exec.
    failed: Option<R>,
}

extern "C" fn child_entry<R>(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: arg points at the parent's `Call`, which stays alive and
    // untouched while the parent is suspended by CLONE_VFORK.
    let call = unsafe { &mut *arg.cast::<Call<R>>() };
    let (failed, code) = (call.run)();
    call.failed = Some(failed);
    // SAFETY: leaving the child at once, without running anything of
    // pidone's exit path.
    unsafe { libc::_exit(code) }
}

/// Start `run` as a child, vfork-style: `clone(CLONE_VM | CLONE_VFORK)`
/// on a stack of its own, as musl's and glibc's `posix_spawn` do. It
/// shares pidone's memory, so no page tables are copied and no
/// copy-on-write faults follow, and pidone is suspended until the child
/// has exec'd or exited. That suspension is what makes the sharing safe
/// (pidone has no threads and no signal handlers), and it replaces a
/// report pipe: `run` returns only when it could not exec, with what to
/// report and the exit code; that report comes back here. Err: errno.
pub fn spawn<R>(run: &mut dyn FnMut() -> (R, i32)) -> Result<(i32, Option<R>), i32> {
    let mut call = Call { run, failed: None };
    // SAFETY: the child's stack grows down from the end of STACK, which
    // nothing else uses meanwhile; `call` outlives the child's use of it,
    // since clone returns only after the child has exec'd or exited
    // (CLONE_VFORK). SIGCHLD is the exit signal, as for fork.
    let pid = unsafe {
        let top = STACK.0.get().cast::<u8>().add(CHILD_STACK);
        libc::clone(
            child_entry::<R>,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut call as *mut Call<R>).cast(),
        )
    };
    if pid < 0 {
        return Err(errno());
    }
    Ok((pid, call.failed))
}

/// In the child: groups, then gid and uid (real, effective and saved).
/// Returns 0 or the errno.
pub fn set_ids(groups: &[libc::gid_t], uid: libc::uid_t, gid: libc::gid_t) -> i32 {
    // SAFETY: plain system calls with a valid groups array.
    unsafe {
        if libc::setgroups(groups.len(), groups.as_ptr()) != 0
            || libc::setresgid(gid, gid, gid) != 0
            || libc::setresuid(uid, uid, uid) != 0
        {
            return errno();
        }
    }
    0
}

/// In the child: no exec may gain privileges. Returns 0 or the errno.
pub fn no_new_privs() -> i32 {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return errno();
    }
    0
}

/// Mark every descriptor >= 3 close-on-exec.
pub fn close_fds_on_exec() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    // Older kernels (before 5.11): walk the descriptors one by one. This
    // allocates in pidone's heap, which is consistent while pidone is
    // suspended; the few bytes are lost when the exec succeeds.
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
