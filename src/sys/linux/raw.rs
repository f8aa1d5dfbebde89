//! System calls without libc, for the command's child before its exec.
//!
//! That child shares pidone's memory (`CLONE_VM`, see process.rs) and may
//! run while pidone goes on, so it must not touch anything of pidone's:
//! not errno (a thread-local both would write), not the allocator, not
//! libc's locks. These return the kernel's own result: the value, or
//! -errno.

/// A system call with up to six arguments; the kernel's raw result.
///
/// # Safety
/// The arguments must be what the kernel expects for `nr`: pointers valid
/// for what the call reads or writes.
#[cfg(target_arch = "x86_64")]
pub unsafe fn call(nr: libc::c_long, args: [usize; 6]) -> isize {
    let [a, b, c, d, e, f] = args;
    let ret: isize;
    // SAFETY: the x86_64 Linux system call convention; rcx and r11 are
    // clobbered by the instruction.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a, in("rsi") b, in("rdx") c,
            in("r10") d, in("r8") e, in("r9") f,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// See the x86_64 version.
///
/// # Safety
/// As there.
#[cfg(target_arch = "aarch64")]
pub unsafe fn call(nr: libc::c_long, args: [usize; 6]) -> isize {
    let [a, b, c, d, e, f] = args;
    let ret: isize;
    // SAFETY: the aarch64 Linux system call convention.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a as isize => ret,
            in("x1") b, in("x2") c, in("x3") d, in("x4") e, in("x5") f,
            options(nostack),
        );
    }
    ret
}

/// `call` with fewer arguments, the rest zero.
///
/// # Safety
/// As `call`.
pub unsafe fn call3(nr: libc::c_long, a: usize, b: usize, c: usize) -> isize {
    // SAFETY: passed on.
    unsafe { call(nr, [a, b, c, 0, 0, 0]) }
}

/// The errno of a raw result (0 when it is not an error).
pub fn err(ret: isize) -> i32 {
    if (-4095..0).contains(&ret) {
        -ret as i32
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_calls_return_values_and_errnos() {
        // SAFETY: getpid and close take no pointers.
        unsafe {
            assert_eq!(
                call3(libc::SYS_getpid, 0, 0, 0),
                std::process::id() as isize
            );
            let r = call3(libc::SYS_close, 1 << 30, 0, 0);
            assert_eq!(err(r), libc::EBADF);
        }
        assert_eq!(err(0), 0);
        assert_eq!(err(12), 0);
    }
}
