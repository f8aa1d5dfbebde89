//! A client of the zone's metadata service, over its unix socket or a
//! serial port: blocking I/O bounded by `poll` deadlines, one request at a
//! time, no threads. It moves bytes; what they mean is the parser's.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::frame::{self, Code, V1Reader, V1Reply};

/// Time the service has for the serial handshake and for `NEGOTIATE V2`
/// (mdata-client waits 6 s before V2 is agreed).
pub const OPEN_DEADLINE: Duration = Duration::from_secs(6);
/// Time one request has, its retries included (mdata-client waits 45 s;
/// an init that hangs that long looks dead, so less).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(15);
/// Garbled replies to one request before it fails.
pub const ATTEMPTS: usize = 3;
/// Longest reply line: a 1 MiB value in base64 and its header.
const MAX_LINE: usize = 2 << 20;
/// How long to wait for `invalid command` before sending `\n` again.
const HANDSHAKE_RETRY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Socket(PathBuf),
    Serial(PathBuf),
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Socket(p) => write!(f, "socket {}", p.display()),
            Transport::Serial(p) => write!(f, "serial port {}", p.display()),
        }
    }
}

pub struct Client {
    fd: OwnedFd,
    /// Bytes read past the last line.
    buf: Vec<u8>,
    /// send(MSG_NOSIGNAL) rather than write: a closed socket must be an
    /// error, not a SIGPIPE.
    socket: bool,
    v2: bool,
    state: u32,
    request_deadline: Duration,
}

/// `6 s` or `500 ms`, without linking float formatting.
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

impl Client {
    /// Connect (socket) or open and hand-shake (serial), then negotiate V2
    /// (falling back to V1). Errors are the cause only; the caller names
    /// the service.
    pub fn open(t: &Transport, open: Duration, request: Duration) -> Result<Client, String> {
        let deadline = Instant::now() + open;
        let fd = match t {
            Transport::Socket(p) => connect(p, deadline)?,
            Transport::Serial(p) => open_serial(p, deadline)?,
        };
        // Non-blocking, so that every wait is poll's, with a deadline.
        // SAFETY: fcntl on our own descriptor.
        unsafe {
            let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        let mut c = Client {
            fd,
            buf: Vec::new(),
            socket: matches!(t, Transport::Socket(_)),
            v2: false,
            state: seed(),
            request_deadline: request,
        };
        let mut stale = 0;
        if matches!(t, Transport::Serial(_)) {
            stale = c.handshake(deadline, open)?;
        }
        c.negotiate(deadline, open, stale)?;
        Ok(c)
    }

    /// 2 or 1.
    pub fn version(&self) -> u8 {
        if self.v2 {
            2
        } else {
            1
        }
    }

    /// Send `\n` until the service answers `invalid command`: the line is
    /// then in a known state. Returns how many answers may still come.
    fn handshake(&mut self, deadline: Instant, open: Duration) -> Result<usize, String> {
        let mut sent = 0;
        loop {
            self.write_all(b"\n", deadline)?;
            sent += 1;
            let retry = (Instant::now() + HANDSHAKE_RETRY).min(deadline);
            loop {
                match self.read_line(retry) {
                    Ok(l) if l == frame::INVALID => return Ok(sent - 1),
                    // Whatever was on the line before: dropped.
                    Ok(_) => continue,
                    Err(Wait::Timeout) if Instant::now() < deadline => break,
                    Err(Wait::Timeout) => {
                        return Err(format!(
                            "no answer to the serial handshake within {}",
                            secs(open)
                        ))
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
    }

    fn negotiate(
        &mut self,
        deadline: Instant,
        open: Duration,
        mut stale: usize,
    ) -> Result<(), String> {
        self.write_all(frame::NEGOTIATE, deadline)?;
        loop {
            match self.read_line(deadline) {
                Ok(l) if stale > 0 && l == frame::INVALID => stale -= 1,
                Ok(l) => {
                    self.v2 = l == frame::V2_OK;
                    return Ok(());
                }
                Err(Wait::Timeout) => {
                    return Err(format!("no answer to NEGOTIATE V2 within {}", secs(open)))
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn next_id(&mut self) -> u32 {
        // xorshift32: ids need only differ, not be secret.
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        x
    }

    fn write_all(&mut self, mut data: &[u8], deadline: Instant) -> Result<(), String> {
        while !data.is_empty() {
            let (fd, p, len) = (self.fd.as_raw_fd(), data.as_ptr().cast(), data.len());
            // SAFETY: writing from a valid slice to our descriptor.
            let n = unsafe {
                if self.socket {
                    libc::send(fd, p, len, libc::MSG_NOSIGNAL)
                } else {
                    libc::write(fd, p, len)
                }
            };
            if n >= 0 {
                data = data.get(n as usize..).unwrap_or_default();
                continue;
            }
            let e = last_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => self
                    .wait(libc::POLLOUT, deadline)
                    .map_err(|_| format!("cannot send within {}", secs(self.request_deadline)))?,
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::BrokenPipe => return Err(Wait::Closed.to_string()),
                _ => return Err(format!("cannot send: {}", e)),
            }
        }
        Ok(())
    }

    fn wait(&self, events: libc::c_short, deadline: Instant) -> Result<(), Wait> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Wait::Timeout);
            }
            let mut p = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events,
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
            // SAFETY: one valid pollfd.
            match unsafe { libc::poll(&mut p, 1, ms) } {
                n if n > 0 => return Ok(()),
                0 => {}
                _ if last_error().kind() == io::ErrorKind::Interrupted => {}
                _ => return Err(Wait::Io(last_error())),
            }
        }
    }

    /// The next line, without its `\n`.
    fn read_line(&mut self, deadline: Instant) -> Result<Vec<u8>, Wait> {
        let mut scanned = 0;
        loop {
            let rest = self.buf.get(scanned..).unwrap_or_default();
            if let Some(i) = rest.iter().position(|&c| c == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=scanned + i).collect();
                line.pop();
                return Ok(line);
            }
            scanned = self.buf.len();
            if scanned > MAX_LINE {
                return Err(Wait::TooLong);
            }
            let mut chunk = [0u8; 4096];
            // SAFETY: reading into a valid stack buffer.
            let n =
                unsafe { libc::read(self.fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            match n {
                0 => return Err(Wait::Closed),
                n if n > 0 => self
                    .buf
                    .extend_from_slice(chunk.get(..n as usize).unwrap_or_default()),
                _ => match last_error().kind() {
                    io::ErrorKind::WouldBlock => self.wait(libc::POLLIN, deadline)?,
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(Wait::Io(last_error())),
                },
            }
        }
    }

    fn wait_error(&self, e: Wait) -> String {
        match e {
            Wait::Timeout => format!("no reply within {}", secs(self.request_deadline)),
            e => e.to_string(),
        }
    }

    /// One V2 request; a garbled reply (or one for another request) is
    /// retried with a new id, up to `ATTEMPTS` times.
    fn v2(&mut self, op: &str, arg: Option<&[u8]>) -> Result<frame::Reply, String> {
        let deadline = Instant::now() + self.request_deadline;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let id = self.next_id();
            self.write_all(&frame::request(id, op, arg), deadline)?;
            let line = self.read_line(deadline).map_err(|e| self.wait_error(e))?;
            match frame::reply(&line, id) {
                Ok(r) => return Ok(r),
                Err(g) => last = Some(g),
            }
        }
        Err(match last {
            Some(g) => format!("{} garbled replies in a row, the last {}", ATTEMPTS, g),
            None => "no attempts".into(),
        })
    }

    fn v1(&mut self, op: &str, key: Option<&str>) -> Result<V1Reply, String> {
        let deadline = Instant::now() + self.request_deadline;
        let line = frame::v1_request(op, key)
            .ok_or("the key cannot be sent over protocol V1 (it has a space or a line break)")?;
        self.write_all(&line, deadline)?;
        let mut r = V1Reader::default();
        let mut total = 0;
        loop {
            let line = self.read_line(deadline).map_err(|e| self.wait_error(e))?;
            total += line.len();
            if total > MAX_LINE {
                return Err(Wait::TooLong.to_string());
            }
            if let Some(reply) = r.feed(&line) {
                return Ok(reply);
            }
        }
    }

    /// A key's value; `None` when the service does not have it.
    pub fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        if !self.v2 {
            return match self.v1("GET", Some(key))? {
                V1Reply::Success(v) => Ok(Some(v)),
                V1Reply::NotFound => Ok(None),
                V1Reply::Refused => Err("the service refused GET (protocol V1)".into()),
            };
        }
        let r = self.v2("GET", Some(key.as_bytes()))?;
        match r.code {
            Code::Success => Ok(Some(r.payload.unwrap_or_default())),
            Code::NotFound => Ok(None),
            _ => Err(refusal(&r)),
        }
    }

    /// The names the service lists (it leaves out `sdc:*` keys).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn keys(&mut self) -> Result<Vec<String>, String> {
        let data = if self.v2 {
            let r = self.v2("KEYS", None)?;
            if r.code != Code::Success {
                return Err(refusal(&r));
            }
            r.payload.unwrap_or_default()
        } else {
            match self.v1("KEYS", None)? {
                V1Reply::Success(v) => v,
                V1Reply::NotFound => Vec::new(),
                V1Reply::Refused => return Err("the service refused KEYS (protocol V1)".into()),
            }
        };
        Ok(String::from_utf8_lossy(&data)
            .split('\n')
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect())
    }

    pub fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        self.write_op("PUT", &frame::put_arg(key, value))
    }

    pub fn delete(&mut self, key: &str) -> Result<(), String> {
        self.write_op("DELETE", key.as_bytes())
    }

    fn write_op(&mut self, op: &str, arg: &[u8]) -> Result<(), String> {
        if !self.v2 {
            return Err(format!(
                "the service speaks only protocol V1, which has no {}",
                op
            ));
        }
        let r = self.v2(op, Some(arg))?;
        match r.code {
            Code::Success => Ok(()),
            _ => Err(refusal(&r)),
        }
    }
}

/// FAILURE (with the service's reason when it gave a printable one) or
/// an unknown code.
fn refusal(r: &frame::Reply) -> String {
    let what = match r.code {
        Code::Failure => "the service answered FAILURE",
        Code::NotFound => "the service answered NOTFOUND",
        _ => "the service answered with an unknown code",
    };
    match r.payload.as_deref() {
        Some(p)
            if !p.is_empty() && p.len() <= 200 && p.iter().all(|c| (b' '..=b'~').contains(c)) =>
        {
            format!("{}: {}", what, String::from_utf8_lossy(p))
        }
        _ => what.into(),
    }
}

#[derive(Debug)]
enum Wait {
    Timeout,
    Closed,
    TooLong,
    Io(io::Error),
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wait::Timeout => f.write_str("timed out"),
            Wait::Closed => f.write_str("the service closed the connection"),
            Wait::TooLong => write!(f, "a reply longer than {} bytes", MAX_LINE),
            Wait::Io(e) => write!(f, "cannot read: {}", e),
        }
    }
}

/// Request ids start somewhere different at each boot.
fn seed() -> u32 {
    let mut b = [0u8; 4];
    // SAFETY: filling a valid 4-byte buffer; GRND_NONBLOCK so an early
    // boot with an empty pool does not wait.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 4, libc::GRND_NONBLOCK) };
    let mut s = u32::from_ne_bytes(b);
    if n != 4 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        s = t.subsec_nanos() ^ std::process::id().rotate_left(16);
    }
    s | 1
}

/// Connect without blocking: a service whose listen queue is full makes a
/// blocking connect wait for as long as it likes.
fn connect(path: &std::path::Path, deadline: Instant) -> Result<OwnedFd, String> {
    // SAFETY: sockaddr_un is plain data; zero is a valid start.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err("cannot connect: the path is too long for a socket".into());
    }
    for (d, &s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = s as libc::c_char;
    }
    let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: plain arguments.
    let fd = unsafe { libc::socket(libc::AF_UNIX, ty, 0) };
    if fd < 0 {
        return Err(format!("cannot connect: {}", last_error()));
    }
    // SAFETY: a descriptor just made, owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    loop {
        // SAFETY: a valid sockaddr_un of `len` bytes.
        let r = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        if r == 0 {
            return Ok(fd);
        }
        let e = last_error();
        match e.raw_os_error() {
            // The listen queue is full (a unix socket says EAGAIN).
            Some(libc::EAGAIN) | Some(libc::EINTR) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Some(libc::EAGAIN) => {
                return Err("cannot connect: the service's queue stayed full".into())
            }
            _ => return Err(format!("cannot connect: {}", e)),
        }
    }
}

/// Open a serial port as mdata-client does: exclusive, no controlling
/// terminal, a write lock (so two clients never interleave), raw mode,
/// pending input discarded.
fn open_serial(path: &std::path::Path, deadline: Instant) -> Result<OwnedFd, String> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| "a path with a NUL byte")?;
    let flags = libc::O_RDWR | libc::O_EXCL | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(format!("cannot open: {}", last_error()));
    }
    // SAFETY: a descriptor just opened, owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = fd.as_raw_fd();
    // SAFETY: flock is plain data; zero is a valid start.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // F_SETLK in a loop rather than F_SETLKW: the wait has a deadline.
    // SAFETY: fcntl with a valid flock.
    while unsafe { libc::fcntl(raw, libc::F_SETLK, &lock) } != 0 {
        let e = last_error();
        let busy = matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EAGAIN));
        if !busy {
            return Err(format!("cannot lock: {}", e));
        }
        if Instant::now() >= deadline {
            return Err("another process holds its lock".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: termios is plain data, filled by tcgetattr.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and termios.
    if unsafe { libc::tcgetattr(raw, &mut t) } != 0 {
        return Err(format!("not a terminal: {}", last_error()));
    }
    t.c_iflag &= !(libc::BRKINT | libc::ICRNL | libc::INPCK | libc::ISTRIP | libc::IXON);
    t.c_oflag &= !libc::OPOST;
    t.c_cflag |= libc::CS8;
    t.c_cflag &= !libc::HUPCL;
    t.c_lflag &= !(libc::ECHO | libc::ICANON | libc::IEXTEN | libc::ISIG);
    t.c_cc[libc::VMIN] = 0;
    t.c_cc[libc::VTIME] = 1;
    // SAFETY: valid descriptor and termios.
    if unsafe { libc::tcsetattr(raw, libc::TCSAFLUSH, &t) } != 0 {
        return Err(format!("cannot set raw mode: {}", last_error()));
    }
    // SAFETY: valid descriptor.
    unsafe { libc::tcflush(raw, libc::TCIFLUSH) };
    Ok(fd)
}

#[cfg(test)]
mod tests {
    //! Against a scripted peer on a socketpair (the real service is in
    //! tests/, against the real binary).
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;

    fn client_with(
        deadline: Duration,
        peer: impl FnOnce(BufReader<UnixStream>) + Send + 'static,
    ) -> Result<Client, String> {
        let dir =
            std::env::temp_dir().join(format!("mdata-unit-{}-{}", std::process::id(), seed()));
        let listener = std::os::unix::net::UnixListener::bind(&dir).unwrap();
        std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            peer(BufReader::new(s));
        });
        let c = Client::open(&Transport::Socket(dir.clone()), deadline, deadline);
        let _ = std::fs::remove_file(&dir);
        c
    }

    fn line(r: &mut BufReader<UnixStream>) -> String {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        l
    }

    /// Answer one V2 request with `code` and `payload`, using `id_of` to
    /// pick the id and `crc_of` the checksum.
    fn answer(
        r: &mut BufReader<UnixStream>,
        code: &str,
        payload: Option<&[u8]>,
        bad_crc: bool,
        bad_id: bool,
    ) -> String {
        let req = line(r);
        let body = req.trim_end().splitn(4, ' ').nth(3).unwrap().to_string();
        let mut id = u32::from_str_radix(&body[..8], 16).unwrap();
        if bad_id {
            id ^= 1;
        }
        let mut out = format!("{:08x} {}", id, code);
        if let Some(p) = payload {
            let mut b = Vec::new();
            frame::b64_encode(p, &mut b);
            out.push(' ');
            out.push_str(std::str::from_utf8(&b).unwrap());
        }
        let crc = frame::crc32(out.as_bytes()) ^ u32::from(bad_crc);
        writeln!(r.get_mut(), "V2 {} {:08x} {}", out.len(), crc, out).unwrap();
        body
    }

    #[test]
    fn v2_get_notfound_failure_and_retry() {
        let mut c = client_with(Duration::from_secs(30), |mut r| {
            assert_eq!(line(&mut r), "NEGOTIATE V2\n");
            r.get_mut().write_all(b"V2_OK\n").unwrap();
            let body = answer(&mut r, "SUCCESS", Some(b"[\"/bin/true\"]"), false, false);
            assert!(body.ends_with(" GET ZG9ja2VyOmNtZA=="), "{}", body);
            answer(&mut r, "NOTFOUND", None, false, false);
            answer(&mut r, "FAILURE", Some(b"no such zone"), false, false);
            // One bad CRC, one wrong id, then a good reply.
            answer(&mut r, "SUCCESS", Some(b"x"), true, false);
            answer(&mut r, "SUCCESS", Some(b"x"), false, true);
            answer(&mut r, "SUCCESS", Some(b"ok"), false, false);
            for _ in 0..ATTEMPTS {
                answer(&mut r, "SUCCESS", Some(b"x"), true, false);
            }
            let body = answer(&mut r, "SUCCESS", None, false, false);
            let arg = frame::b64_decode(body.rsplit(' ').next().unwrap().as_bytes()).unwrap();
            assert_eq!(arg, frame::put_arg("k", b"v"));
            answer(&mut r, "SUCCESS", Some(b"a\nb\n"), false, false);
        })
        .unwrap();
        assert_eq!(c.version(), 2);
        assert_eq!(c.get("docker:cmd").unwrap().unwrap(), b"[\"/bin/true\"]");
        assert_eq!(c.get("docker:env").unwrap(), None);
        assert_eq!(
            c.get("x").unwrap_err(),
            "the service answered FAILURE: no such zone"
        );
        assert_eq!(c.get("y").unwrap().unwrap(), b"ok");
        let e = c.get("z").unwrap_err();
        assert!(
            e.starts_with("3 garbled replies in a row, the last a V2 frame whose CRC32"),
            "{}",
            e
        );
        c.put("k", b"v").unwrap();
        assert_eq!(c.keys().unwrap(), ["a", "b"]);
        // The peer is gone.
        assert_eq!(c.get("w").unwrap_err(), "the service closed the connection");
    }

    #[test]
    fn v1_fallback() {
        let mut c = client_with(Duration::from_secs(30), |mut r| {
            line(&mut r);
            r.get_mut().write_all(b"invalid command\n").unwrap();
            assert_eq!(line(&mut r), "GET docker:cmd\n");
            r.get_mut()
                .write_all(b"SUCCESS\n[\"/bin/true\",\n..\"x\"]\n.\n")
                .unwrap();
            assert_eq!(line(&mut r), "GET nope\n");
            r.get_mut().write_all(b"NOTFOUND\n").unwrap();
            // Then never a word: the client gives up.
            while !line(&mut r).is_empty() {}
        })
        .unwrap();
        assert_eq!(c.version(), 1);
        assert_eq!(
            c.get("docker:cmd").unwrap().unwrap(),
            b"[\"/bin/true\",\n.\"x\"]"
        );
        assert_eq!(c.get("nope").unwrap(), None);
        assert!(c.put("a", b"b").unwrap_err().contains("has no PUT"));
        c.request_deadline = Duration::from_millis(300);
        assert_eq!(c.get("late").unwrap_err(), "no reply within 300 ms");
    }

    #[test]
    fn silent_service_times_out() {
        let e = client_with(Duration::from_millis(300), |mut r| {
            // Reads (NEGOTIATE, then the end), answers nothing.
            while !line(&mut r).is_empty() {}
        })
        .err()
        .unwrap();
        assert_eq!(e, "no answer to NEGOTIATE V2 within 300 ms");
        let e = Client::open(
            &Transport::Socket("/nonexistent/metadata.sock".into()),
            OPEN_DEADLINE,
            REQUEST_DEADLINE,
        )
        .err()
        .unwrap();
        assert!(e.starts_with("cannot connect: "), "{}", e);
    }
}
