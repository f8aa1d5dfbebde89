//! The `log` facade's one logger: warnings and errors on stderr as
//! `pidone: LEVEL message` (under tini's names `[LEVEL tini (PID)]
//! message`), every decision in a timestamped file, and optionally syslog.
//! Never log environment values, only names.
//!
//! No write of pidone's own to stderr may wait: the command shares that
//! terminal or pipe and can stop it (`tcflow(TCOOFF)`, a pty or pipe
//! nobody reads), and PID 1 stuck in `write` with every signal blocked
//! forwards, reaps and ends nothing. A line that cannot be written at once
//! is dropped and counted; the next line that can be written is preceded
//! by "N log lines dropped", and the exit record carries the count.

use std::fs::File;
use std::io::Write;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::plan::{LogPlan, LogStyle};
use crate::sys::{self, files};

/// Rotate the log file when it is over this size at start.
const ROTATE_AT: u64 = 1 << 20;

/// Target of the one line that says why pidone gave up; printed as FATAL.
pub const FATAL: &str = "fatal";

struct Logger {
    stderr_level: LevelFilter,
    file_level: LevelFilter,
    file: Option<File>,
    syslog: Option<Syslog>,
    style: LogStyle,
    /// For tini's prefix, read once.
    pid: u32,
}

fn level_name(record: &Record) -> &'static str {
    if record.target() == FATAL {
        return "FATAL";
    }
    match record.level() {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}

/// One line as it goes to stderr.
fn stderr_format(style: LogStyle, pid: u32, level: &str, text: &str) -> String {
    match style {
        LogStyle::Pidone => format!("pidone: {} {}\n", level, text),
        LogStyle::Tini => format!("[{:<5} tini ({})] {}\n", level, pid, text),
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.stderr_level || m.level() <= self.file_level
    }

    fn log(&self, record: &Record) {
        let level = record.level();
        // Messages quote arguments, names and documents: a control
        // character there must not start a forged line of its own.
        let raw = record.args().to_string();
        let text = escape(&raw);
        if level <= self.stderr_level {
            // One write per line so lines from pidone and the command do
            // not interleave mid-line.
            let line = stderr_format(self.style, self.pid, level_name(record), &text);
            let report = |n| {
                let what = format!("{} log lines dropped: stderr was not writable", n);
                stderr_format(self.style, self.pid, "WARN", &what)
            };
            write_stderr(line.as_bytes(), report);
        }
        if level <= self.file_level {
            if let Some(mut f) = self.file.as_ref() {
                let line = format!(
                    "{} {} {}\n",
                    timestamp(SystemTime::now()),
                    level_name(record),
                    text
                );
                let _ = f.write_all(line.as_bytes());
            }
            if let Some(s) = &self.syslog {
                s.send(level, &text);
            }
        }
    }

    fn flush(&self) {}
}

/// Control characters (`\n`, `\r`, ESC, ...) written as escapes: `\n`,
/// `\r`, `\t`, else `\u{1b}`. Everything else is kept as it is.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.into()
}

/// One line on stderr, for the usage error before any logging is set up;
/// a write that fails (a full or closed stderr) is ignored.
pub fn stderr_line(text: &str) {
    let line = format!("pidone: {}\n", escape(text));
    write_stderr(line.as_bytes(), |n| {
        format!("pidone: WARN {} log lines dropped\n", n)
    });
}

/// Text on stderr as it is (tini's usage text), never waited for.
pub fn stderr_text(text: &str) {
    write_stderr(text.as_bytes(), |n| {
        format!("pidone: WARN {} log lines dropped\n", n)
    });
}

// ---- stderr that never blocks -------------------------------------------

/// Lines dropped since the last one written (for the next line).
static PENDING: AtomicU64 = AtomicU64::new(0);
/// Lines dropped in all (for the exit record).
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// The last write stopped mid-line: the next starts on a new line.
static TORN: AtomicBool = AtomicBool::new(false);
/// How pidone writes to its stderr, found at the first line.
static SINK: OnceLock<Sink> = OnceLock::new();

/// Log lines dropped so far because stderr could not take them.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// How a write to stderr is made without waiting. `O_NONBLOCK` cannot
/// simply be set on descriptor 2: the command shares that open file and
/// would then get EAGAIN itself.
enum Sink {
    /// A regular file (or a block device): writes never wait on a reader.
    Plain,
    /// Already non-blocking, as given.
    AsGiven,
    /// A socket: `send(MSG_DONTWAIT)` makes one call non-blocking.
    Socket,
    /// A terminal, pipe or other device, opened again through
    /// /proc/self/fd/2: a file of pidone's own, non-blocking.
    Own(OwnedFd),
    /// That failed (no /proc): ask `poll` first. A process could refill
    /// or stop it between the two calls; the best there is without /proc.
    Poll,
}

impl Sink {
    fn find() -> Sink {
        // SAFETY: a zeroed stat is a valid out-buffer; fstat and fcntl
        // only read descriptor 2.
        let (mode, flags) = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(2, &mut st) != 0 {
                return Sink::Plain;
            }
            (st.st_mode & libc::S_IFMT, libc::fcntl(2, libc::F_GETFL))
        };
        if mode == libc::S_IFREG || mode == libc::S_IFBLK {
            return Sink::Plain;
        }
        if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
            return Sink::AsGiven;
        }
        if mode == libc::S_IFSOCK {
            return Sink::Socket;
        }
        sys::stderr_own_nonblocking().map_or(Sink::Poll, Sink::Own)
    }

    /// One non-blocking write; the count written, 0 when nothing could be.
    fn write_once(&self, buf: &[u8]) -> usize {
        use std::os::fd::AsRawFd;
        let fd: RawFd = match self {
            Sink::Own(fd) => fd.as_raw_fd(),
            _ => 2,
        };
        // SAFETY: a valid buffer and its length; descriptors by number.
        let n = unsafe {
            match self {
                Sink::Socket => libc::send(
                    fd,
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                ),
                Sink::Poll => {
                    let mut p = libc::pollfd {
                        fd,
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    if libc::poll(&mut p, 1, 0) != 1 || p.revents & libc::POLLOUT == 0 {
                        return 0;
                    }
                    libc::write(fd, buf.as_ptr().cast(), buf.len())
                }
                _ => libc::write(fd, buf.as_ptr().cast(), buf.len()),
            }
        };
        usize::try_from(n).unwrap_or(0)
    }

    /// Write what can be written now; true when all of it was.
    fn write_now(&self, buf: &[u8]) -> bool {
        let mut done = 0;
        while let Some(rest) = buf.get(done..).filter(|r| !r.is_empty()) {
            match self.write_once(rest) {
                0 => break,
                n => done += n,
            }
        }
        if done > 0 && done < buf.len() {
            TORN.store(true, Ordering::Relaxed);
        }
        done == buf.len()
    }
}

/// Write `line` to stderr now or drop it (and count it). `report(n)` is
/// the line that says n lines were dropped, written first when some were.
fn write_stderr(line: &[u8], report: impl FnOnce(u64) -> String) {
    let sink = SINK.get_or_init(Sink::find);
    let pending = PENDING.load(Ordering::Relaxed);
    let mut buf = Vec::with_capacity(line.len() + 64);
    if TORN.load(Ordering::Relaxed) {
        buf.push(b'\n');
    }
    if pending > 0 {
        buf.extend_from_slice(report(pending).as_bytes());
    }
    buf.extend_from_slice(line);
    if sink.write_now(&buf) {
        TORN.store(false, Ordering::Relaxed);
        PENDING.fetch_sub(pending, Ordering::Relaxed);
    } else {
        PENDING.fetch_add(1, Ordering::Relaxed);
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

fn filter(verbosity: u8, quiet: bool) -> LevelFilter {
    match verbosity {
        _ if quiet => LevelFilter::Error,
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Open the log file: its directory created, mode 0600, appended,
/// close-on-exec, rotated once when too big.
fn open_file(path: &Path, rotate: bool) -> std::io::Result<File> {
    // Inside the root: no link followed, never a FIFO (see files).
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            files::create_dirs(dir, None)?;
        }
    }
    if rotate {
        files::rotate(path, ".1", ROTATE_AT)?;
    }
    files::open_append(path, 0o600)
}

/// Install the logger. Failing to open the log file or syslog is a
/// warning, never a reason not to run the command.
pub fn init(plan: &LogPlan) {
    let stderr_level = filter(plan.verbosity, plan.quiet);
    let mut problems = Vec::new();
    let file = plan
        .file
        .as_ref()
        .and_then(|p| match open_file(p, plan.rotate) {
            Ok(f) => Some(f),
            Err(e) => {
                problems.push(format!("cannot open log file {}: {}", p.display(), e));
                None
            }
        });
    let syslog = if plan.syslog {
        match Syslog::connect() {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(format!("cannot reach syslog: {}", e));
                None
            }
        }
    } else {
        None
    };
    let file_level = if file.is_some() || syslog.is_some() {
        stderr_level.max(LevelFilter::Info)
    } else {
        LevelFilter::Off
    };
    let logger = Logger {
        stderr_level,
        file_level,
        file,
        syslog,
        style: plan.style,
        pid: match plan.style {
            LogStyle::Tini => std::process::id(),
            LogStyle::Pidone => 0,
        },
    };
    log::set_max_level(stderr_level.max(file_level));
    if log::set_boxed_logger(Box::new(logger)).is_err() {
        return;
    }
    for p in problems {
        log::warn!("{}", p);
    }
}

/// The local syslog socket, spoken to directly: one datagram per record in
/// the form the C library's `syslog()` sends (`<PRI>Mmm dd hh:mm:ss
/// pidone[PID]: message`). Hand-written rather than the `syslog` crate,
/// for size (docs/design.md, "Size and the standard library").
enum Syslog {
    Datagram(UnixDatagram),
    /// Some syslog daemons listen on a stream socket; records end in '\n'.
    Stream(Mutex<UnixStream>),
}

/// Where local syslog daemons listen, in the usual order.
const SYSLOG_SOCKETS: &[&str] = &["/dev/log", "/var/run/syslog", "/var/run/log"];

/// LOG_DAEMON.
const FACILITY: u8 = 3;

impl Syslog {
    fn connect() -> std::io::Result<Syslog> {
        let mut last = std::io::Error::from(std::io::ErrorKind::NotFound);
        for path in SYSLOG_SOCKETS {
            let dgram = UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s));
            match dgram {
                // Non-blocking: a syslog daemon that stops reading costs
                // records, never a PID 1 stuck in send().
                Ok(s) => return s.set_nonblocking(true).map(|()| Syslog::Datagram(s)),
                Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                    match UnixStream::connect(path) {
                        Ok(s) => {
                            return s
                                .set_nonblocking(true)
                                .map(|()| Syslog::Stream(Mutex::new(s)))
                        }
                        Err(e) => last = e,
                    }
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn send(&self, level: Level, msg: &str) {
        let severity = match level {
            Level::Error => 3,
            Level::Warn => 4,
            Level::Info => 6,
            _ => 7,
        };
        let line = format!(
            "<{}>{} pidone[{}]: {}",
            FACILITY * 8 + severity,
            rfc3164_time(SystemTime::now()),
            std::process::id(),
            msg
        );
        match self {
            Syslog::Datagram(s) => {
                let _ = s.send(line.as_bytes());
            }
            Syslog::Stream(s) => {
                if let Ok(mut s) = s.lock() {
                    let _ = s.write_all(format!("{}\n", line).as_bytes());
                }
            }
        }
    }
}

/// `Mmm dd hh:mm:ss`, the timestamp of RFC 3164 (UTC here).
fn rfc3164_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (_, m, d) = civil_from_days((secs / 86400) as i64);
    let rem = secs % 86400;
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS.get((m as usize).saturating_sub(1)).unwrap_or(&"Jan"),
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86400) as i64);
    let rem = secs % 86400;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        y,
        m,
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (the well-known era-based conversion).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A line in the kernel log at info level (in `dmesg`, timestamped by the
/// kernel, not on a quiet console): milestones to measure pidone's share
/// of the boot against the kernel's own "Run /init" line.
pub fn mark(text: &str) {
    crate::sys::kernel_log(&format!("<6>{}", text));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stderr_lines_in_pidones_and_tinis_forms() {
        assert_eq!(
            stderr_format(
                LogStyle::Tini,
                1,
                "WARN",
                "Reaped zombie process with pid=7"
            ),
            "[WARN  tini (1)] Reaped zombie process with pid=7\n"
        );
        assert_eq!(
            stderr_format(LogStyle::Tini, 42, "DEBUG", "x"),
            "[DEBUG tini (42)] x\n"
        );
        assert_eq!(
            stderr_format(LogStyle::Pidone, 0, "INFO", "y"),
            "pidone: INFO y\n"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain text"), "plain text");
        assert_eq!(
            escape("a\nb\rc\td\u{1b}[2Je\u{7f}"),
            "a\\nb\\rc\\td\\u{1b}[2Je\\u{7f}"
        );
    }

    #[test]
    fn timestamps_are_utc_iso8601_with_millis() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(timestamp(t), "2023-11-14T22:13:20.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3164_time(leap), "Feb 29 00:00:00");
        assert_eq!(rfc3164_time(t), "Nov 14 22:13:20");
    }
}
