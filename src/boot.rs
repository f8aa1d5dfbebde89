//! main's plumbing: the inputs read before anything is parsed (argv, the
//! environment, /.dockerenv, the metadata document) and
//! the standard descriptors made safe. Parsers then get bytes and text,
//! never paths.
#![cfg_attr(test, allow(dead_code))]

use std::ffi::{CStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::cli::{self, dockerinit::DockerEnv, Source};
use crate::error::{Error, Result, Stage};
use crate::mdata::{client::Transport, source, zone::Session};
use crate::sys::files;
use crate::{metadata, plan};

/// argv as the C runtime gave it.
///
/// # Safety
/// `argv` must hold `argc` pointers to C strings (or NULL).
pub unsafe fn args(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
    ARGV.store(argv.cast_mut(), Ordering::Relaxed);
    ARGC.store(argc.max(0) as usize, Ordering::Relaxed);
    (0..argc.max(0) as usize)
        .filter_map(|i| {
            // SAFETY: the C runtime hands us argc valid C strings.
            let p = unsafe { *argv.add(i) };
            (!p.is_null())
                .then(|| OsString::from_vec(unsafe { CStr::from_ptr(p) }.to_bytes().to_vec()))
        })
        .collect()
}

/// The C runtime's argv, kept for `scrub_args`.
static ARGV: AtomicPtr<*const libc::c_char> = AtomicPtr::new(std::ptr::null_mut());
static ARGC: AtomicUsize = AtomicUsize::new(0);

/// Overwrite the secrets the parser found in pidone's own argv
/// (`Plan::secret_args`) with `*`, in place: /proc/1/cmdline shows that
/// memory to every uid in the container. The parsed copies are unchanged.
pub fn scrub_args(secrets: &[(usize, usize)]) {
    let argv = ARGV.load(Ordering::Relaxed);
    let argc = ARGC.load(Ordering::Relaxed);
    for &(i, from) in secrets.iter().filter(|(i, _)| *i < argc) {
        if argv.is_null() {
            return;
        }
        // SAFETY: argv holds argc pointers to C strings in the process's
        // writable argument area (or NULL); each byte written is one
        // before that string's terminating NUL.
        unsafe {
            let p = (*argv.add(i)).cast_mut().cast::<u8>();
            if p.is_null() {
                continue;
            }
            let len = libc::strlen(p.cast());
            for j in from..len {
                *p.add(j) = b'*';
            }
        }
    }
}

/// The environment, read from `environ` into a vector of the right size:
/// std's `vars_os` grows its own vector one push at a time and is then
/// copied again, and with musl's allocator every size passed through costs
/// an mmap and a munmap.
pub fn environment() -> cli::Environ {
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

/// Input step of the classic `/.dockerinit` personality: the environment
/// file the daemon wrote, read here because parsers make no system calls.
pub fn read_dockerenv(args: &[OsString]) -> cli::dockerinit::DockerEnv {
    use cli::dockerinit::DOCKERENV;
    if !args
        .first()
        .is_some_and(|a| cli::personality_of(a) == plan::Personality::DockerInit)
    {
        return DockerEnv::Missing;
    }
    // Written by the engine: no link expected; bounded, never a FIFO.
    match files::read_input(std::path::Path::new(DOCKERENV), files::MAX_INPUT, false) {
        Ok(bytes) => DockerEnv::Contents(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerEnv::Missing,
        Err(e) => DockerEnv::Unreadable(e.to_string()),
    }
}

/// Read the metadata document (an input step, before any parsing): at
/// most one byte more than the parser accepts, so it can say "too large".
pub fn read_metadata(source: &Source) -> Result<Vec<u8>> {
    use std::io::Read;
    let limit = metadata::MAX_SIZE + 1;
    let r = match source {
        Source::Stdin => {
            let mut buf = Vec::new();
            std::io::stdin()
                .take(limit as u64)
                .read_to_end(&mut buf)
                .map(|_| buf)
        }
        Source::File(p) => files::read_bounded(p, limit),
        // (A metadata service is asked key by key: load_metadata.)
        _ => Err(std::io::ErrorKind::Unsupported.into()),
    };
    r.map_err(|e| {
        Error::new(
            Stage::Metadata,
            format!("cannot read {}: {}", source.describe(), e),
        )
    })
}

/// Make sure descriptors 0, 1 and 2 are open, so nothing pidone opens
/// lands on them by accident.
pub fn sanitize_stdio() {
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

/// The input step of the metadata flow: the document, where it came from
/// (for the log), the open service (for the zone's handshakes), and what
/// the search looked at.
pub struct Loaded {
    pub doc: Doc,
    /// The source chosen.
    pub source: Source,
    pub from: String,
    pub session: Option<Session>,
    pub tried: Vec<String>,
}

/// A document's bytes, or the keys the service gave (kept as a map: a
/// round trip through JSON text would link serde_json's serializer).
pub enum Doc {
    Bytes(Vec<u8>),
    Keys(serde_json::Map<String, serde_json::Value>),
}

/// Find the source (unless named), then read the file or ask the service.
pub fn load_metadata(source: &Source, machine: bool) -> Result<Loaded> {
    use std::os::unix::fs::FileTypeExt;
    use std::path::Path;
    let (source, tried) = match source {
        Source::Search => {
            let product = machine.then(crate::sys::boot::machine_product);
            let socket =
                |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket());
            let file = |p: &Path| p.exists();
            let facts = source::Facts {
                socket: &socket,
                file: &file,
                machine: product.as_deref(),
            };
            source::search(&facts, Path::new(cli::DEFAULT_METADATA))
                .map_err(|e| Error::new(Stage::Metadata, e))?
        }
        s => (s.clone(), Vec::new()),
    };
    let transport = match &source {
        Source::Socket(p) => Transport::Socket(p.clone()),
        Source::Serial(p) => Transport::Serial(p.clone()),
        _ => {
            return Ok(Loaded {
                doc: Doc::Bytes(read_metadata(&source)?),
                from: source.describe(),
                source,
                session: None,
                tried,
            })
        }
    };
    let started = std::time::Instant::now();
    let mut session = Session::open(&transport)?;
    let keys = session.fetch()?;
    // The service's cost, for the log (and bench/mdata.sh).
    let from = format!(
        "{}: {} of {} keys in {} us",
        session.describe(),
        keys.len(),
        metadata::SERVICE_KEYS.len(),
        started.elapsed().as_micros()
    );
    Ok(Loaded {
        doc: Doc::Keys(keys),
        source,
        from,
        session: Some(session),
        tried,
    })
}
