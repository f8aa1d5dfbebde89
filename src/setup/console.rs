//! Console stage: the command's stdio on the console device.
//!
//! tty mode: stdin, stdout and stderr on the console and, in the child, a
//! new session with the console as controlling terminal (job control).
//! Otherwise stdout/stderr on the console and stdin /dev/null unless
//! `open_stdin`. The device is opened O_NONBLOCK (a console whose line is
//! not ready must not hang PID 1) then set blocking again; a console that
//! cannot be opened is a warning and the inherited stdio stays.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::RawFd;

use crate::error::Result;
use crate::launch::Stdio;
use crate::plan::Console;

pub fn open(console: Option<&Console>) -> Result<Option<Stdio>> {
    let Some(c) = console else { return Ok(None) };
    if c.path.is_dir() {
        return Ok(zfd(c));
    }
    let fd = match open_device(c.path.as_os_str().as_bytes(), libc::O_RDWR) {
        Ok(fd) => fd,
        Err(e) => {
            log::warn!(
                "stage=console: cannot open {}: {}; keeping the inherited stdio",
                c.path.display(),
                e
            );
            return Ok(None);
        }
    };
    // SAFETY: isatty on a descriptor we own.
    let is_tty = unsafe { libc::isatty(fd) } == 1;
    if c.tty && is_tty {
        log::info!(
            "console {} (tty: new session, controlling terminal)",
            c.path.display()
        );
        return Ok(Some(Stdio {
            stdin: fd,
            stdout: fd,
            stderr: fd,
            controlling_tty: true,
        }));
    }
    if c.tty {
        log::warn!(
            "stage=console: {} is not a terminal; no controlling terminal",
            c.path.display()
        );
    }
    let stdin = if c.open_stdin {
        fd
    } else {
        match open_device(b"/dev/null", libc::O_RDONLY) {
            Ok(n) => n,
            Err(e) => {
                log::warn!(
                    "stage=console: cannot open /dev/null: {}; stdin is the console",
                    e
                );
                fd
            }
        }
    };
    log::info!(
        "console {} (stdout, stderr{})",
        c.path.display(),
        if stdin == fd {
            ", stdin"
        } else {
            "; stdin /dev/null"
        }
    );
    Ok(Some(Stdio {
        stdin,
        stdout: fd,
        stderr: fd,
        controlling_tty: false,
    }))
}

/// A SmartOS zone's console devices, a directory (`/dev/zfd`): `0` is the
/// terminal (tty mode: all three) or stdin, `1` stdout, `2` stderr.
fn zfd(c: &Console) -> Option<Stdio> {
    let dev = |n: &str, mode| {
        let p = c.path.join(n);
        open_device(p.as_os_str().as_bytes(), mode).map_err(|e| {
            log::warn!(
                "stage=console: cannot open {}: {}; keeping the inherited stdio",
                p.display(),
                e
            )
        })
    };
    if c.tty {
        let fd = dev("0", libc::O_RDWR).ok()?;
        log::info!(
            "console {}/0 (tty: new session, controlling terminal)",
            c.path.display()
        );
        return Some(Stdio {
            stdin: fd,
            stdout: fd,
            stderr: fd,
            controlling_tty: true,
        });
    }
    let stdout = dev("1", libc::O_WRONLY).ok()?;
    let stderr = dev("2", libc::O_WRONLY).ok()?;
    let stdin = if c.open_stdin {
        dev("0", libc::O_RDWR).ok()?
    } else {
        open_device(b"/dev/null", libc::O_RDONLY).ok()?
    };
    log::info!(
        "console {}/1 and /2 (stdout, stderr); stdin {}",
        c.path.display(),
        if c.open_stdin { "0" } else { "/dev/null" }
    );
    Some(Stdio {
        stdin,
        stdout,
        stderr,
        controlling_tty: false,
    })
}

/// Open close-on-exec, never becoming pidone's own controlling terminal and
/// never blocking in the open; the descriptor is then made blocking.
fn open_device(path: &[u8], mode: i32) -> std::io::Result<RawFd> {
    let p = CString::new(path).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let flags = mode | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: a valid C string; plain flags.
    let fd = unsafe { libc::open(p.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fcntl on the descriptor just opened.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 {
            libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
    }
    Ok(fd)
}

/// The kernel opens /dev/console as init's stdio only when the rootfs has
/// that node (Debian's kernel puts one in its built-in initramfs; a kernel
/// built with its own initramfs list may not); without it pidone and the
/// command would be silent. Once devtmpfs is mounted, open the console on
/// whichever of 0, 1, 2 is closed.
pub fn machine_stdio() {
    for fd in 0..3 {
        // SAFETY: fcntl on a plain descriptor number.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            continue;
        }
        // SAFETY: a NUL-terminated path; the new descriptor is the lowest
        // free one, i.e. `fd` itself, since lower ones are open by now.
        let c = unsafe { libc::open(c"/dev/console".as_ptr(), libc::O_RDWR | libc::O_NOCTTY) };
        if c >= 0 && c != fd {
            // SAFETY: both descriptors are valid.
            unsafe {
                libc::dup2(c, fd);
                libc::close(c);
            }
        }
    }
}
