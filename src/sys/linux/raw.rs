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

/// See the x86_64 version. ARM EABI (armv7 in ARM mode, where r7 is free
/// and r11 is the frame pointer).
///
/// # Safety
/// As there.
#[cfg(target_arch = "arm")]
pub unsafe fn call(nr: libc::c_long, args: [usize; 6]) -> isize {
    let [a, b, c, d, e, f] = args;
    let ret: isize;
    // SAFETY: the ARM EABI Linux system call convention.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("r7") nr,
            inlateout("r0") a as isize => ret,
            in("r1") b, in("r2") c, in("r3") d, in("r4") e, in("r5") f,
            options(nostack),
        );
    }
    ret
}

/// See the x86_64 version. i686: `int 0x80` takes the arguments in ebx,
/// ecx, edx, esi, edi and ebp, but LLVM keeps esi (base pointer) and ebp
/// (frame pointer) for itself, so the last three are loaded from memory
/// inside the block and the two registers restored after.
///
/// # Safety
/// As there.
#[cfg(target_arch = "x86")]
pub unsafe fn call(nr: libc::c_long, args: [usize; 6]) -> isize {
    let [a, b, c, d, e, f] = args;
    let rest = [d, e, f];
    let ret: isize;
    // SAFETY: the i386 Linux system call convention; `rest` lives across
    // the block, and esi and ebp are saved on the stack and restored.
    unsafe {
        core::arch::asm!(
            "push ebp",
            "push esi",
            "mov esi, [edi]",
            "mov ebp, [edi + 8]",
            "mov edi, [edi + 4]",
            "int 0x80",
            "pop esi",
            "pop ebp",
            inlateout("eax") nr as isize => ret,
            in("ebx") a, in("ecx") b, in("edx") c,
            inlateout("edi") rest.as_ptr() => _,
        );
    }
    ret
}

/// See the x86_64 version.
///
/// # Safety
/// As there.
#[cfg(target_arch = "riscv64")]
pub unsafe fn call(nr: libc::c_long, args: [usize; 6]) -> isize {
    let [a, b, c, d, e, f] = args;
    let ret: isize;
    // SAFETY: the RISC-V Linux system call convention.
    unsafe {
        core::arch::asm!(
            "ecall",
            in("a7") nr,
            inlateout("a0") a as isize => ret,
            in("a1") b, in("a2") c, in("a3") d, in("a4") e, in("a5") f,
            options(nostack),
        );
    }
    ret
}

/// See the x86_64 version. s390x: `svc 0` with the number in r1.
///
/// # Safety
/// As there.
#[cfg(target_arch = "s390x")]
pub unsafe fn call(nr: libc::c_long, args: [usize; 6]) -> isize {
    let [a, b, c, d, e, f] = args;
    let ret: isize;
    // SAFETY: the s390x Linux system call convention.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("r1") nr,
            inlateout("r2") a as isize => ret,
            in("r3") b, in("r4") c, in("r5") d, in("r6") e, in("r7") f,
            options(nostack),
        );
    }
    ret
}

/// See the x86_64 version. powerpc64: `sc` reports an error in cr0's
/// summary-overflow bit with a positive errno in r3, turned into -errno
/// here as the other architectures return it; r0 and r4-r12, cr0, ctr
/// and xer are the kernel's to clobber.
///
/// # Safety
/// As there.
#[cfg(target_arch = "powerpc64")]
pub unsafe fn call(nr: libc::c_long, args: [usize; 6]) -> isize {
    let [a, b, c, d, e, f] = args;
    let ret: isize;
    // SAFETY: the powerpc64 Linux system call convention.
    unsafe {
        core::arch::asm!(
            "sc",
            "bns+ 1f",
            "neg 3, 3",
            "1:",
            inlateout("r0") nr => _,
            inlateout("r3") a as isize => ret,
            inlateout("r4") b => _, inlateout("r5") c => _,
            inlateout("r6") d => _, inlateout("r7") e => _,
            inlateout("r8") f => _,
            out("r9") _, out("r10") _, out("r11") _, out("r12") _,
            out("cr0") _, out("ctr") _, out("xer") _,
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
