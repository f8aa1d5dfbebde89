//! pidone: a small, statically linked PID-1 init.
//!
//! The boot script: read the inputs (boot), parse them into a plan (cli/,
//! metadata/), apply it (setup/), run and supervise the command
//! (supervise), and for a machine end it (power). Data flows one way; the
//! module map is in docs/design.md.
//!
//! `no_main`: Rust's own start-up sets SIGPIPE to SIG_IGN, which the
//! command would then inherit; pidone must hand on exactly the signal
//! dispositions it was given, so it takes over from the C `main`.
#![cfg_attr(not(test), no_main)]
// No panic path in production code, checked by the build: a PID 1 that
// dies takes the container with it (tests may unwrap). Nothing prints
// with print!/eprintln! either: a write to stderr that fails is ignored.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

mod boot;
mod cgroup;
mod cli;
mod delay;
mod dhcp;
mod error;
mod features;
mod launch;
mod log;
mod mdata;
mod metadata;
mod notify;
mod plan;
mod probe;
mod say;
mod setup;
mod spawn;
mod status;
mod supervise;
mod sys;
mod values;
mod watch;

use std::ffi::OsString;

use cli::Request;
use error::Error;

/// # Safety
/// Called once by the C runtime with its argc/argv.
#[cfg(not(test))]
#[no_mangle]
pub unsafe extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // First: no signal sent while pidone starts may be lost.
    let inherited = sys::signals::take_over();
    setup::process::note_parent();
    if sys::boot::machine_mode(cli::kernel::machine_flag) {
        machine_main(&inherited);
    }
    boot::sanitize_stdio();
    // SAFETY: the C runtime's own argc and argv.
    let args = unsafe { boot::args(argc, argv) };
    let env = boot::environment();
    let code = run(&args, &env, &inherited);
    // The kernel frees everything at exit; freeing it first would only
    // cost munmap calls (musl returns each emptied page at once).
    std::mem::forget((args, env));
    code
}

/// A container's or a zone's init: the command line (and /.dockerenv or
/// a metadata document) to a plan, then the plan run.
#[cfg_attr(test, allow(dead_code))]
fn run(args: &[OsString], env: &cli::Environ, inherited: &sys::signals::Inherited) -> i32 {
    let dockerenv = boot::read_dockerenv(args);
    let plan = match cli::parse(args, env, &dockerenv) {
        Ok(Request::Print(text)) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(text.as_bytes());
            return 0;
        }
        Ok(Request::Refuse { text, code }) => {
            log::stderr_text(&text);
            return code;
        }
        Ok(Request::Probe(p)) => return probe::run(&p),
        Ok(Request::Run(plan)) => {
            boot::scrub_args(&plan.secret_args);
            plan
        }
        Ok(Request::Metadata { source, base }) => match from_metadata(&source, base) {
            Ok((plan, zone)) => {
                log::init(&plan.log);
                return launch(&plan, inherited, zone);
            }
            Err((e, fallback)) => {
                log::init(&fallback.log);
                return fatal(&e);
            }
        },
        Err(e) if e.code == error::EXIT_USAGE => {
            // A usage error: one line, before any logging is set up.
            log::stderr_line(&e.message);
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
    launch(&plan, inherited, None)
}

#[cfg_attr(test, allow(dead_code))]
/// Read (or fetch from the metadata service) and parse the metadata on
/// top of `base`; the service stays open for the zone's handshakes. On
/// failure, the error and the metadata defaults on `base` (so the error
/// reaches the log file). Shared by both flows and never inlined: it
/// exists once.
#[inline(never)]
fn from_metadata(
    source: &cli::Source,
    base: Box<plan::Plan>,
) -> std::result::Result<(plan::Plan, Option<mdata::zone::Session>), (Error, Box<plan::Plan>)> {
    let machine = base.machine.is_some();
    let loaded = boot::load_metadata(source, machine).and_then(|l| {
        match &l.doc {
            boot::Doc::Bytes(b) => metadata::parse(b, (*base).clone()),
            boot::Doc::Keys(k) => metadata::parse_keys(k, (*base).clone()),
        }
        .map(|p| (p, l))
    });
    match loaded {
        Ok((mut plan, l)) => {
            // One line: what the search passed over, then the choice.
            let mut note = format!("metadata from {}", l.from);
            if !l.tried.is_empty() {
                note.push_str(&format!(" (after: {})", l.tried.join(", ")));
            }
            plan.notes.insert(0, note);
            mdata::zone::for_zone(&mut plan, matches!(l.source, cli::Source::Socket(_)));
            Ok((plan, l.session))
        }
        Err(e) => Err((e, Box::new(metadata::defaults(*base)))),
    }
}

#[cfg_attr(test, allow(dead_code))]
/// From a plan to the command's end: shared by both flows, and never
/// inlined, so the stages and the supervisor exist once in the binary.
#[inline(never)]
fn launch(
    plan: &plan::Plan,
    inherited: &sys::signals::Inherited,
    mut zone: Option<mdata::zone::Session>,
) -> i32 {
    for w in &plan.warnings {
        ::log::warn!("{}", w);
    }
    for n in &plan.notes {
        ::log::info!("{}", n);
    }
    let (launch, daemons) = match setup::prepare(plan) {
        Ok(l) => l,
        Err(e) => return fatal(&e),
    };
    // A zone's handshakes, after setup and before the command, as the
    // SmartOS zone init does them; then the service is closed.
    if let Some(Err(e)) = zone.as_mut().map(|z| z.wait_for_attach()) {
        return fatal(&e);
    }
    drop(zone);
    if plan.personality == plan::Personality::Metadata {
        if let Err(e) = mdata::zone::mark_provisioned() {
            return fatal(&e);
        }
    }
    if plan.machine.is_some() {
        log::mark("pidone: starting the command");
    }
    let code = supervise::run(plan, &launch, &daemons, inherited);
    // As in main: no freeing just before exit.
    std::mem::forget((launch, daemons));
    code
}

#[cfg_attr(test, allow(dead_code))]
/// The machine flow: early mounts, the kernel command line, metadata, then
/// the usual stages and supervision; always ends the machine, never
/// returns (PID 1 exiting panics the kernel).
fn machine_main(inherited: &sys::signals::Inherited) -> ! {
    let mounts = setup::machine_start();
    boot::sanitize_stdio();
    let cmdline = sys::boot::read_cmdline();
    let parsed = match &mounts {
        Ok(_) => cli::kernel::parse(&cmdline),
        Err(e) => Err(e.clone()),
    };
    let (plan, early, zone) = match parsed {
        Ok(Request::Run(plan)) => (*plan, None, None),
        // (The parser keeps `base.machine` and falls back to its command,
        // the words after `--`.)
        Ok(Request::Metadata { source, base }) => match from_metadata(&source, base) {
            Ok((plan, zone)) => (plan, None, zone),
            Err((e, fallback)) => (*fallback, Some(e), None),
        },
        Ok(Request::Print(_) | Request::Refuse { .. } | Request::Probe(_)) => (
            cli::kernel::machine_plan(),
            Some(Error::new(error::Stage::Usage, "nothing to run")),
            None,
        ),
        Err(e) => (cli::kernel::machine_plan(), Some(e), None),
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
        sys::power::end(fatal(&e), power);
    }
    sys::power::end(launch(&plan, inherited, zone), power)
}

#[cfg_attr(test, allow(dead_code))]
/// The one place an error becomes a log line and an exit code.
fn fatal(e: &Error) -> i32 {
    ::log::error!(target: log::FATAL, "{}", e);
    e.code
}
