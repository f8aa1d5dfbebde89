//! A small program the integration tests run under pidone. Each subcommand
//! makes one behaviour observable:
//!
//!   testkit orphans N [EXIT]     a middle process forks N children that exit
//!                                at once and leaves without waiting, so N
//!                                zombies go to the reaper. Without EXIT:
//!                                wait until every one of them is gone and
//!                                print `reaped K of N` and `zombies Z`.
//!                                With EXIT: exit EXIT at once (the command's
//!                                status must not be lost among the orphans')
//!   testkit status               `pid P pgid G sid S tpgid T` and the
//!                                SigBlk/SigIgn lines of /proc/self/status
//!                                (SigIgn includes PIPE: Rust's start-up)
//!   testkit catch READY LOG UNTIL [CHILDREN]
//!                                block every signal (1-64), fork CHILDREN
//!                                (same process group), create READY, then
//!                                append `<role> <signo>` to LOG for each
//!                                signal a process sent (kill) (role p, c1, c2, ...); a
//!                                process exits 0 when it takes UNTIL
//!   testkit daemon trap|ignore READY OUT [EXIT]
//!                                fork a background process, wait until it
//!                                is ready (its pid in READY), exit EXIT.
//!                                trap: on SIGTERM, clean up for 300 ms,
//!                                write `cleaned up` to OUT, exit 0.
//!                                ignore: write `TERM ignored` to OUT on
//!                                each SIGTERM and carry on
//!   testkit with-mask BLOCK IGNORE PROG [ARGS...]
//!                                exec PROG with exactly the signals BLOCK
//!                                blocked and IGNORE ignored (comma lists of
//!                                numbers, `-` for none); all else default
//!   testkit argv ARGS...         print each argument as `[arg]`
//!   testkit fds                  print `fd target` for each open descriptor
//!   testkit orphan-check         make an orphaned grandchild, print
//!                                `adopted-by PPID` (its new parent) and
//!                                `reaped yes|no` (did its zombie go away)
//!   testkit tcflow off|on        stop or restart the output of the terminal
//!                                on stdin (`tcflow(TCOOFF)`/`TCOON`)
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

type SigSet = u64;

fn sigprocmask(how: i32, set: SigSet) {
    // SAFETY: raw syscall with the kernel's 8-byte sigset (glibc would
    // silently refuse to block 32 and 33).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            &set as *const SigSet,
            std::ptr::null_mut::<SigSet>(),
            8usize,
        );
    }
}

/// The next signal and whether a process sent it (kill, sigqueue) rather
/// than the kernel (e.g. SIGCHLD when a child stops or continues).
fn sigwait_all() -> (i32, bool) {
    let set: SigSet = !0;
    loop {
        // SAFETY: plain data filled by the kernel.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers, no timeout.
        let r = unsafe {
            libc::syscall(
                libc::SYS_rt_sigtimedwait,
                &set as *const SigSet,
                &mut info as *mut libc::siginfo_t,
                std::ptr::null::<libc::timespec>(),
                8usize,
            )
        };
        if r > 0 {
            return (r as i32, info.si_code <= 0);
        }
    }
}

#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: SigSet,
}

fn set_disposition(sig: i32, handler: usize) {
    let act = KernelSigaction {
        handler,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: kernel sigaction layout for x86_64/aarch64.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &act as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        );
    }
}

fn append(path: &str, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log");
    // One write per line: several processes append to the same file.
    f.write_all(format!("{}\n", line).as_bytes())
        .expect("write log");
}

fn fork() -> i32 {
    // SAFETY: testkit is single-threaded where it forks.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    pid
}

fn exit(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    // SAFETY: leaving without running the parent's atexit handlers twice.
    unsafe { libc::_exit(code) }
}

fn wait_for(path: &str) {
    let start = Instant::now();
    while !Path::new(path).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} never appeared",
            path
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Create `path` with `content` atomically (write elsewhere, rename), so a
/// reader that sees the file sees all of it.
fn publish(path: &str, content: &str) {
    let tmp = format!("{}.tmp{}", path, std::process::id());
    std::fs::write(&tmp, content).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn sig_list(s: &str) -> Vec<i32> {
    if s == "-" {
        return Vec::new();
    }
    s.split(',')
        .map(|n| n.parse().expect("signal number"))
        .collect()
}

fn state_of(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn orphans(args: &[String]) {
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(100);
    let exit_now: Option<i32> = args.get(1).and_then(|s| s.parse().ok());
    let mut fds = [0; 2];
    // SAFETY: valid array of two ints.
    unsafe { libc::pipe(fds.as_mut_ptr()) };
    let middle = fork();
    if middle == 0 {
        // SAFETY: descriptors of our own.
        unsafe { libc::close(fds[0]) };
        for _ in 0..n {
            let pid = fork();
            if pid == 0 {
                // SAFETY: leaving at once.
                unsafe { libc::_exit(0) };
            }
            if exit_now.is_none() {
                // SAFETY: writing 4 bytes from a local.
                unsafe { libc::write(fds[1], &pid as *const i32 as *const libc::c_void, 4) };
            }
        }
        exit(0);
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(fds[1]) };
    let mut st = 0;
    if let Some(code) = exit_now {
        // SAFETY: valid out-pointer.
        unsafe { libc::waitpid(middle, &mut st, 0) };
        exit(code);
    }
    // Read until the middle process is gone (end of file), so it never
    // blocks on a full pipe.
    let mut pids = Vec::with_capacity(n);
    let mut buf = [0u8; 4];
    // SAFETY: reading into a local buffer.
    while unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), 4) } == 4 {
        pids.push(i32::from_ne_bytes(buf));
    }
    // SAFETY: valid out-pointer.
    unsafe { libc::waitpid(middle, &mut st, 0) };
    let start = Instant::now();
    let gone = loop {
        let gone = pids
            .iter()
            .filter(|p| !Path::new(&format!("/proc/{}", p)).exists())
            .count();
        if gone == pids.len() || start.elapsed() > Duration::from_secs(60) {
            break gone;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let zombies = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter(|&p| state_of(p) == Some('Z'))
                .count()
        })
        .unwrap_or(0);
    println!("reaped {} of {}", gone, n);
    println!("zombies {}", zombies);
}

fn catch(args: &[String]) {
    let ready = &args[0];
    let log = &args[1];
    let until: i32 = args[2].parse().expect("UNTIL signal number");
    let children: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    sigprocmask(libc::SIG_SETMASK, !0);
    let mut role = "p".to_string();
    for i in 1..=children {
        if fork() == 0 {
            role = format!("c{}", i);
            break;
        }
    }
    if role == "p" {
        // Every process is set up (the mask is inherited through fork).
        publish(ready, &format!("{}\n", std::process::id()));
    }
    loop {
        let (sig, sent) = sigwait_all();
        if !sent {
            continue;
        }
        append(log, &format!("{} {}", role, sig));
        if sig == until {
            exit(0);
        }
    }
}

fn daemon(args: &[String]) {
    let mode = args[0].clone();
    let ready = args[1].clone();
    let out = args[2].clone();
    let code: i32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    if fork() == 0 {
        // Detach from the command's stdout so the test's pipe closes when
        // pidone exits, whatever this process does.
        // SAFETY: plain descriptor and mask calls.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
        }
        sigprocmask(libc::SIG_SETMASK, 1 << (libc::SIGTERM - 1));
        publish(&ready, &format!("{}\n", std::process::id()));
        loop {
            let (sig, _) = sigwait_all();
            if sig != libc::SIGTERM {
                continue;
            }
            if mode == "trap" {
                std::thread::sleep(Duration::from_millis(300));
                append(&out, "cleaned up");
                exit(0);
            }
            append(&out, "TERM ignored");
        }
    }
    wait_for(&ready);
    exit(code);
}

fn with_mask(args: &[String]) {
    let block = sig_list(&args[0]);
    let ignore = sig_list(&args[1]);
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let h = if ignore.contains(&sig) {
            libc::SIG_IGN
        } else {
            libc::SIG_DFL
        };
        set_disposition(sig, h);
    }
    let mask = block.iter().fold(0u64, |m, s| m | 1 << (s - 1));
    sigprocmask(libc::SIG_SETMASK, mask);
    // std's Command would reset SIGPIPE to default: exec directly.
    let argv: Vec<std::ffi::CString> = args[2..]
        .iter()
        .map(|a| std::ffi::CString::new(a.as_str()).expect("arg"))
        .collect();
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: NUL-terminated argv of valid C strings.
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    eprintln!(
        "testkit: exec {}: {}",
        args[2],
        std::io::Error::last_os_error()
    );
    exit(127);
}

fn status() {
    // SAFETY: plain queries.
    unsafe {
        println!(
            "pid {} pgid {} sid {} tpgid {}",
            libc::getpid(),
            libc::getpgrp(),
            libc::getsid(0),
            libc::tcgetpgrp(0)
        );
    }
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for l in s
        .lines()
        .filter(|l| l.starts_with("SigBlk") || l.starts_with("SigIgn"))
    {
        println!("{}", l);
    }
}

fn fds() {
    // Collect first, so the directory's own descriptor is closed before
    // the links are read (it then no longer resolves and is left out).
    let names: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let mut fds: Vec<(i32, String)> = names
        .iter()
        .filter_map(|n| {
            let target = std::fs::read_link(format!("/proc/self/fd/{}", n)).ok()?;
            Some((n.parse().ok()?, target.to_string_lossy().into_owned()))
        })
        .collect();
    fds.sort();
    for (fd, t) in fds {
        println!("{} {}", fd, t);
    }
}

fn orphan_check() {
    let mut fds = [0; 2];
    // SAFETY: valid array.
    unsafe { libc::pipe(fds.as_mut_ptr()) };
    let middle = fork();
    if middle == 0 {
        // SAFETY: plain process calls.
        unsafe {
            let me = libc::getpid();
            if libc::fork() == 0 {
                // The grandchild: wait to be adopted, report, leave.
                while libc::getppid() == me {
                    libc::usleep(1000);
                }
                let msg = [libc::getpid(), libc::getppid()];
                libc::write(fds[1], msg.as_ptr().cast(), 8);
                libc::_exit(0);
            }
            libc::_exit(0);
        }
    }
    // SAFETY: plain process calls on our own descriptors and child.
    let (gc, ppid) = unsafe {
        libc::close(fds[1]);
        let mut st = 0;
        libc::waitpid(middle, &mut st, 0);
        let mut msg = [0i32; 2];
        let n = libc::read(fds[0], msg.as_mut_ptr().cast(), 8);
        assert_eq!(n, 8, "no report from the grandchild");
        (msg[0], msg[1])
    };
    println!("adopted-by {}", ppid);
    let start = Instant::now();
    while state_of(gc).is_some() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "reaped {}",
        if state_of(gc).is_none() { "yes" } else { "no" }
    );
}

fn tcflow(args: &[String]) {
    let action = match args.first().map(String::as_str) {
        Some("off") => libc::TCOOFF,
        Some("on") => libc::TCOON,
        _ => exit(2),
    };
    // SAFETY: an ioctl on stdin; the result is checked.
    if unsafe { libc::tcflow(0, action) } != 0 {
        eprintln!("tcflow: {}", std::io::Error::last_os_error());
        exit(1);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rest = args.get(2..).unwrap_or(&[]);
    match args.get(1).map(String::as_str) {
        Some("orphans") => orphans(rest),
        Some("status") => status(),
        Some("catch") if rest.len() >= 3 => catch(rest),
        Some("daemon") if rest.len() >= 3 => daemon(rest),
        Some("with-mask") if rest.len() >= 3 => with_mask(rest),
        Some("argv") => rest.iter().for_each(|a| println!("[{}]", a)),
        Some("fds") => fds(),
        Some("orphan-check") => orphan_check(),
        Some("tcflow") => tcflow(rest),
        _ => {
            eprintln!("usage: testkit orphans|status|catch|daemon|with-mask|argv|fds|orphan-check ... (see examples/testkit.rs)");
            std::process::exit(2);
        }
    }
}
