//! What stays resident while pidone idles. The kernel maps file pages
//! around every fault (64 KiB windows), so once start-up has run, nearly
//! the whole read-only part of the binary is mapped and an idle init's
//! VmRSS follows the binary's size. Once the command runs, those pages
//! are let go: they are clean copies of the page cache, so the few the
//! loop needs come back as minor faults, and the rest cost nothing.
//!
//! Those few must also sit together: a fault maps the whole 64 KiB window
//! around it, and the idle loop's functions, spread over the binary,
//! touched every window again (404 KiB idle on x86_64). The functions the
//! loop runs between this release and its wait (supervise.rs's loop,
//! features.rs's timers, the signal wait, say.rs's per-event lines) carry
//! `link_section = ".text_hot"`. Not a `.text.*` name, which GNU ld and
//! lld would each place their own way inside `.text`: as a section of its
//! own both linkers put it right after `.text`, next to std's and the C
//! library's code that the loop also runs. Idle VmRSS: x86_64 404 -> 216
//! KiB, i686 (linked by lld) 396 -> 264 KiB. The attribute is the same
//! on every target (illumos too, where it only groups the code), so that
//! no module above the seam chooses by OS.

/// The program header of this machine's ELF class (32-bit on armv7 and
/// i686).
#[cfg(target_pointer_width = "64")]
type Phdr = libc::Elf64_Phdr;
#[cfg(target_pointer_width = "32")]
type Phdr = libc::Elf32_Phdr;

/// `madvise(MADV_DONTNEED)` every loaded segment that is not writable
/// (headers, code, read-only data), found from the program headers the
/// kernel hands over (`AT_PHDR`), so no linker symbol is assumed.
/// Writable segments (data, bss) are never touched: dropping them would
/// lose state. Failure changes nothing but the figure.
#[link_section = ".text_hot"]
pub fn release_read_only() {
    // SAFETY: getauxval only reads the auxiliary vector.
    let (phdr, phnum, page) = unsafe {
        (
            libc::getauxval(libc::AT_PHDR) as *const Phdr,
            libc::getauxval(libc::AT_PHNUM) as usize,
            libc::getauxval(libc::AT_PAGESZ) as u64,
        )
    };
    // The kernel's page size, not 4 KiB: arm64 and ppc64le kernels often
    // use 64 KiB pages, and madvise rounds the length up to whole pages,
    // so a 4 KiB-rounded end could reach into the writable segment.
    if phdr.is_null() || phnum == 0 || !page.is_power_of_two() {
        return;
    }
    // SAFETY: the kernel's program header table of this executable,
    // `phnum` entries, mapped for the process's life.
    let headers = unsafe { std::slice::from_raw_parts(phdr, phnum) };
    // A static non-PIE binary: addresses are absolute (no load bias),
    // which is how pidone is built (Makefile, .cargo/config.toml).
    if headers.iter().any(|h| h.p_type == libc::PT_DYNAMIC) {
        return;
    }
    for h in headers {
        if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_W != 0 {
            continue;
        }
        // u32 on 32-bit machines.
        #[allow(clippy::useless_conversion)]
        let (vaddr, memsz) = (u64::from(h.p_vaddr), u64::from(h.p_memsz));
        let start = vaddr & !(page - 1);
        // Whole pages only: the last page of a read-only segment may be
        // shared with the start of the writable one that follows.
        let end = (vaddr + memsz) & !(page - 1);
        if end > start {
            // SAFETY: a page-aligned range inside this read-only mapping;
            // its pages are clean file pages, refaulted on next use.
            unsafe {
                libc::madvise(
                    start as *mut libc::c_void,
                    (end - start) as usize,
                    libc::MADV_DONTNEED,
                )
            };
        }
    }
}
