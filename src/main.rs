//! pidone: a small, statically linked PID-1 init.
//!
//! parse (cli/, metadata/) -> plan -> stages (setup/) -> supervise.
//!
//! `no_main`: Rust's own start-up sets SIGPIPE to SIG_IGN, which the
//! command would then inherit; pidone must hand on exactly the signal
//! dispositions it was given, so it takes over from the C `main`.
#![cfg_attr(not(test), no_main)]

use std::ffi::{CStr, OsString};
#[cfg(not(test))]
use std::os::unix::ffi::OsStringExt;

mod caps;
mod cli;
mod dhcp;
mod error;
mod log;
mod machine;
mod metadata;
mod netlink;
mod plan;
// Wired into the stages once the spine's files module lands.
#[allow(dead_code)]
mod safefs;
mod setup;
mod signals;
mod spawn;
mod status;
mod supervise;

use cli::Request;
use error::Error;

/// # Safety
/// Called once by the C runtime with its argc/argv.
#[cfg(not(test))]
#[no_mangle]
pub unsafe extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // First: no signal sent while pidone starts may be lost.
    let inherited = signals::take_over();
    if machine_mode() {
        machine_main(&inherited);
    }
    sanitize_stdio();
    let args = (0..argc.max(0) as usize)
        .filter_map(|i| {
            // SAFETY: the C runtime hands us argc valid C strings.
            let p = unsafe { *argv.add(i) };
            (!p.is_null())
                .then(|| OsString::from_vec(unsafe { CStr::from_ptr(p) }.to_bytes().to_vec()))
        })
        .collect::<Vec<_>>();
    let env = environment();
    let code = run(&args, &env, &inherited);
    // The kernel frees everything at exit; freeing it first would only
    // cost munmap calls (musl returns each emptied page at once).
    std::mem::forget((args, env));
    code
}

/// The environment, read from `environ` into a vector of the right size:
/// std's `vars_os` grows its own vector one push at a time and is then
/// copied again, and with musl's allocator every size passed through costs
/// an mmap and a munmap.
#[cfg(not(test))]
fn environment() -> cli::Environ {
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: the C runtime's NULL-terminated array of C strings, which
    // nothing changes (no threads, no setenv).
    let entries = unsafe {
        let mut n = 0;
        while !environ.is_null() && !(*environ.add(n)).is_null() {
            n += 1;
        }
        (0..n).map(|i| CStr::from_ptr(*environ.add(i)).to_bytes())
    };
    let mut vars = Vec::with_capacity(entries.len());
    for entry in entries {
        // As std does: the name ends at the first '=' after its first
        // byte (a name may start with '='); entries without one are
        // skipped.
        if let Some(eq) = entry.iter().skip(1).position(|&c| c == b'=').map(|i| i + 1) {
            let (k, v) = entry.split_at(eq);
            vars.push((
                OsString::from_vec(k.to_vec()),
                OsString::from_vec(v.get(1..).unwrap_or(&[]).to_vec()),
            ));
        }
    }
    cli::Environ(vars)
}

#[cfg_attr(test, allow(dead_code))]
fn run(args: &[OsString], env: &cli::Environ, inherited: &signals::Inherited) -> i32 {
    let dockerenv = read_dockerenv(args);
    let plan = match cli::parse(args, env, &dockerenv) {
        Ok(Request::Print(text)) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(text.as_bytes());
            return 0;
        }
        Ok(Request::Run(plan)) => plan,
        Ok(Request::Metadata { source, base }) => match from_metadata(&source, base) {
            Ok(plan) => Box::new(plan),
            Err((e, fallback)) => {
                log::init(&fallback.log);
                return fatal(&e);
            }
        },
        Err(e) if e.code == error::EXIT_USAGE => {
            // A usage error: one line, before any logging is set up.
            eprintln!("pidone: {}", e.message);
            return e.code;
        }
        Err(e) => {
            // A bad input document (e.g. /.dockerenv): a setup failure,
            // logged where the dialect logs.
            log::init(&cli::fallback_log(args, env));
            return fatal(&e);
        }
    };

    log::init(&plan.log);
    launch(&plan, inherited)
}

#[cfg_attr(test, allow(dead_code))]
/// Read and parse a metadata document on top of `base`. On failure, the
/// error and the metadata defaults on `base` (so the error reaches the
/// log file). Shared by both flows and never inlined: it exists once.
#[inline(never)]
fn from_metadata(
    source: &cli::Source,
    base: Box<plan::Plan>,
) -> std::result::Result<plan::Plan, (Error, Box<plan::Plan>)> {
    match metadata::read(source).and_then(|doc| metadata::parse(&doc, (*base).clone())) {
        Ok(mut plan) => {
            plan.notes
                .insert(0, format!("metadata from {}", metadata::describe(source)));
            Ok(plan)
        }
        Err(e) => Err((e, Box::new(metadata::defaults(*base)))),
    }
}

#[cfg_attr(test, allow(dead_code))]
/// From a plan to the command's end: shared by both flows, and never
/// inlined, so the stages and the supervisor exist once in the binary.
#[inline(never)]
fn launch(plan: &plan::Plan, inherited: &signals::Inherited) -> i32 {
    for w in &plan.warnings {
        ::log::warn!("{}", w);
    }
    for n in &plan.notes {
        ::log::info!("{}", n);
    }
    setup::become_reaper(plan);
    let launch = match setup::prepare(plan) {
        Ok(l) => l,
        Err(e) => return fatal(&e),
    };
    if plan.machine.is_some() {
        machine::mark("pidone: starting the command");
    }
    let code = supervise::run(plan, &launch, inherited);
    // As in main: no freeing just before exit.
    std::mem::forget(launch);
    code
}

#[cfg_attr(test, allow(dead_code))]
/// Input step of the classic `/.dockerinit` personality: the environment
/// file the daemon wrote, read here because parsers make no system calls.
fn read_dockerenv(args: &[OsString]) -> cli::dockerinit::DockerEnv {
    use cli::dockerinit::{DockerEnv, DOCKERENV};
    if !args
        .first()
        .is_some_and(|a| cli::personality_of(a) == plan::Personality::DockerInit)
    {
        return DockerEnv::Missing;
    }
    match std::fs::read(DOCKERENV) {
        Ok(bytes) => DockerEnv::Contents(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerEnv::Missing,
        Err(e) => DockerEnv::Unreadable(e.to_string()),
    }
}

#[cfg_attr(test, allow(dead_code))]
/// PID 1 of a machine: nothing has mounted /proc yet (an initramfs's
/// `/init`), or the kernel command line says `pidone.machine=1`.
fn machine_mode() -> bool {
    if std::process::id() != 1 {
        return false;
    }
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    // This runs at every container start (pidone is PID 1 there too), so
    // it stays cheap: a stack buffer instead of read_to_string's (an
    // fstat, two mmaps, two munmaps), and the word-by-word parse only
    // when the flag's name is there at all.
    let mut buf = [0u8; 4096];
    let len = read_small(c"/proc/cmdline", &mut buf);
    len.and_then(|n| std::str::from_utf8(buf.get(..n)?).ok())
        .is_some_and(|c| {
            c.contains("pidone.machine=") && cli::kernel::machine_flag(c) == Some(true)
        })
}

#[cfg_attr(test, allow(dead_code))]
/// Read a small file into `buf` with plain system calls; None when it
/// cannot be opened or read. Longer files are cut at `buf`'s size
/// (/proc/cmdline is at most 2048 bytes on x86).
fn read_small(path: &CStr, buf: &mut [u8]) -> Option<usize> {
    // openat: musl's open adds an fcntl for O_CLOEXEC on old kernels.
    let flags = libc::O_RDONLY | libc::O_CLOEXEC;
    // SAFETY: a valid C string; the descriptor is ours and closed below.
    let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return None;
    }
    let mut n = 0;
    let ok = loop {
        let Some(rest) = buf.get_mut(n..).filter(|r| !r.is_empty()) else {
            break true;
        };
        // SAFETY: reading into the unused end of buf.
        let r = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        match r {
            0 => break true,
            r if r > 0 => n += r as usize,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => break false,
        }
    };
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(fd) };
    ok.then_some(n)
}

#[cfg_attr(test, allow(dead_code))]
/// The machine flow: early mounts, the kernel command line, metadata, then
/// the usual stages and supervision; always ends the machine, never
/// returns (PID 1 exiting panics the kernel).
fn machine_main(inherited: &signals::Inherited) -> ! {
    let mounts = setup::mounts::apply();
    machine::mark("pidone: machine mode, early mounts done");
    machine::console_stdio();
    sanitize_stdio();
    let cmdline = std::fs::read("/proc/cmdline")
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let parsed = match &mounts {
        Ok(_) => cli::kernel::parse(&cmdline),
        Err(e) => Err(e.clone()),
    };
    let (plan, early) = match parsed {
        Ok(Request::Run(plan)) => (*plan, None),
        // (The parser keeps `base.machine` and falls back to its command,
        // the words after `--`.)
        Ok(Request::Metadata { source, base }) => match from_metadata(&source, base) {
            Ok(plan) => (plan, None),
            Err((e, fallback)) => (*fallback, Some(e)),
        },
        Ok(Request::Print(_)) => (
            cli::kernel::machine_plan(),
            Some(Error::new(error::Stage::Usage, "nothing to run")),
        ),
        Err(e) => (cli::kernel::machine_plan(), Some(e)),
    };
    let power = plan.machine.as_ref().map(|m| m.power).unwrap_or_default();
    log::init(&plan.log);
    ::log::info!("machine mode");
    if let Ok(r) = &mounts {
        r.notes.iter().for_each(|n| ::log::info!("{}", n));
        r.warnings
            .iter()
            .for_each(|w| ::log::warn!("stage=mounts: {}", w));
    }
    if let Some(e) = early {
        machine::end(fatal(&e), power);
    }
    machine::disable_cad();
    machine::end(launch(&plan, inherited), power)
}

#[cfg_attr(test, allow(dead_code))]
/// The one place an error becomes a log line and an exit code.
fn fatal(e: &Error) -> i32 {
    ::log::error!(target: log::FATAL, "{}", e);
    e.code
}

#[cfg_attr(test, allow(dead_code))]
/// Make sure descriptors 0, 1 and 2 are open, so nothing pidone opens
/// lands on them by accident.
fn sanitize_stdio() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: a valid array of three pollfd; zero timeout.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } <= 0 {
        return;
    }
    for p in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: opening /dev/null onto the lowest free descriptor, which
        // is the closed one.
        unsafe {
            let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if fd >= 0 && fd != p.fd {
                libc::dup2(fd, p.fd);
                libc::close(fd);
            }
        }
    }
}
