//! Frames of the SmartOS metadata protocol, V2 and V1: encoding and
//! decoding only, no I/O (the client in `client.rs` moves the bytes).
//!
//! V2: `V2 <body length> <crc32 of body, 8 hex> <body>\n`, body
//! `<8-hex request id> <CODE>[ <base64 payload>]`.
//! V1: `GET key\n` answered by `SUCCESS\n`, dot-stuffed lines, `.\n`; or
//! `NOTFOUND\n`.

use std::fmt;

/// What the client sends first; `V2_OK` back means V2, anything else V1.
pub const NEGOTIATE: &[u8] = b"NEGOTIATE V2\n";
pub const V2_OK: &[u8] = b"V2_OK";
/// The service's answer to an empty line (the serial port handshake) and
/// to anything it does not understand.
pub const INVALID: &[u8] = b"invalid command";

/// CRC-32 as zlib computes it (reflected, polynomial 0xEDB88320). Bit by
/// bit: frames are small and a table would cost 1 KiB of binary.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding.
pub fn b64_encode(data: &[u8], out: &mut Vec<u8>) {
    for chunk in data.chunks(3) {
        let b = [0, 1, 2].map(|i| chunk.get(i).copied().unwrap_or(0));
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.extend(B64.get((n >> (18 - 6 * i) & 63) as usize));
            } else {
                out.push(b'=');
            }
        }
    }
}

fn b64_value(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Standard base64; padding optional (a length of 4n+1 is never valid).
pub fn b64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let s = match s {
        [rest @ .., b'=', b'='] => rest,
        [rest @ .., b'='] => rest,
        _ => s,
    };
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 2);
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= b64_value(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(bytes.get(1..chunk.len()).unwrap_or_default());
    }
    Some(out)
}

/// One V2 request line: `op` with `arg` (base64-encoded here) or none.
pub fn request(id: u32, op: &str, arg: Option<&[u8]>) -> Vec<u8> {
    let mut body = format!("{:08x} {}", id, op).into_bytes();
    if let Some(arg) = arg {
        body.push(b' ');
        b64_encode(arg, &mut body);
    }
    let mut line = format!("V2 {} {:08x} ", body.len(), crc32(&body)).into_bytes();
    line.extend_from_slice(&body);
    line.push(b'\n');
    line
}

/// PUT's argument: the key and the value, each base64-encoded, joined by
/// a space (and the whole base64-encoded again by `request`).
pub fn put_arg(key: &str, value: &[u8]) -> Vec<u8> {
    let mut arg = Vec::new();
    b64_encode(key.as_bytes(), &mut arg);
    arg.push(b' ');
    b64_encode(value, &mut arg);
    arg
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Success,
    NotFound,
    Failure,
    /// A well-formed frame with a code this client does not know.
    Other,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub id: u32,
    pub code: Code,
    /// The decoded payload, when the frame has one.
    pub payload: Option<Vec<u8>>,
}

/// Why a line is not a usable V2 reply. All of these are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Garbled {
    NotV2,
    Length,
    Crc,
    RequestId,
    Base64,
}

impl fmt::Display for Garbled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Garbled::NotV2 => "a reply that is not a V2 frame",
            Garbled::Length => "a V2 frame whose length does not match its body",
            Garbled::Crc => "a V2 frame whose CRC32 does not match its body",
            Garbled::RequestId => "a V2 frame with another request's id",
            Garbled::Base64 => "a V2 frame whose payload is not base64",
        })
    }
}

fn hex(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 8 || !s.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok()
}

fn split_space(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&c| c == b' ') {
        Some(i) => (s.get(..i).unwrap_or_default(), s.get(i + 1..)),
        None => (s, None),
    }
}

/// Parse one reply line (without its `\n`) as a V2 frame, and check it
/// answers request `id`.
pub fn reply(line: &[u8], id: u32) -> Result<Reply, Garbled> {
    let rest = line.strip_prefix(b"V2 ").ok_or(Garbled::NotV2)?;
    let (len, rest) = split_space(rest);
    let (crc, body) = split_space(rest.ok_or(Garbled::NotV2)?);
    let body = body.ok_or(Garbled::NotV2)?;
    let len = std::str::from_utf8(len)
        .ok()
        .filter(|l| !l.is_empty() && l.len() <= 10 && l.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|l| l.parse::<usize>().ok())
        .ok_or(Garbled::NotV2)?;
    let crc = hex(crc).ok_or(Garbled::NotV2)?;
    if len != body.len() {
        return Err(Garbled::Length);
    }
    if crc != crc32(body) {
        return Err(Garbled::Crc);
    }
    let (rid, rest) = split_space(body);
    let rid = hex(rid).filter(|_| rid.len() == 8).ok_or(Garbled::NotV2)?;
    let (code, payload) = split_space(rest.ok_or(Garbled::NotV2)?);
    if rid != id {
        return Err(Garbled::RequestId);
    }
    let code = match code {
        b"SUCCESS" => Code::Success,
        b"NOTFOUND" => Code::NotFound,
        b"FAILURE" => Code::Failure,
        _ => Code::Other,
    };
    let payload = match payload {
        Some(p) => Some(b64_decode(p).ok_or(Garbled::Base64)?),
        None => None,
    };
    Ok(Reply { id, code, payload })
}

/// One V1 request line. V1 has no escaping: a key with a space or a line
/// break cannot be asked for.
pub fn v1_request(op: &str, key: Option<&str>) -> Option<Vec<u8>> {
    let mut line = op.as_bytes().to_vec();
    if let Some(k) = key {
        if k.bytes().any(|c| c == b'\n' || c == b' ') {
            return None;
        }
        line.push(b' ');
        line.extend_from_slice(k.as_bytes());
    }
    line.push(b'\n');
    Some(line)
}

#[derive(Debug, PartialEq, Eq)]
pub enum V1Reply {
    Success(Vec<u8>),
    NotFound,
    /// `invalid command`, or any other first line.
    Refused,
}

/// A V1 reply, read line by line.
#[derive(Default)]
pub struct V1Reader {
    in_data: bool,
    data: Vec<u8>,
    lines: usize,
}

impl V1Reader {
    /// Feed one line (without its `\n`); `Some` once the reply is whole.
    pub fn feed(&mut self, line: &[u8]) -> Option<V1Reply> {
        if !self.in_data {
            return match line {
                b"SUCCESS" => {
                    self.in_data = true;
                    None
                }
                b"NOTFOUND" => Some(V1Reply::NotFound),
                _ => Some(V1Reply::Refused),
            };
        }
        if line == b"." {
            return Some(V1Reply::Success(std::mem::take(&mut self.data)));
        }
        if self.lines > 0 {
            self.data.push(b'\n');
        }
        self.lines += 1;
        // Dot-stuffing: a line starting with '.' was sent with one more.
        self.data
            .extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        let mut v = Vec::new();
        b64_encode(s, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn crc_and_the_protocols_test_vector() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b"dc4fae17 SUCCESS W10="), 0x265a_e1d8);
        let r = reply(b"V2 21 265ae1d8 dc4fae17 SUCCESS W10=", 0xdc4f_ae17).unwrap();
        assert_eq!(r.code, Code::Success);
        assert_eq!(r.payload.as_deref(), Some(&b"[]"[..]));
    }

    #[test]
    fn base64_round_trips() {
        for (plain, enc) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
            (b"\xff\x00\xfe", "/wD+"),
        ] {
            assert_eq!(b64(plain), enc);
            assert_eq!(b64_decode(enc.as_bytes()).as_deref(), Some(plain));
        }
        assert_eq!(b64_decode(b"Zg").as_deref(), Some(&b"f"[..]));
        for bad in [&b"Z"[..], b"Zm9v!", b"Zm 9", b"Z===", b"Zm9vY"] {
            assert_eq!(b64_decode(bad), None, "{:?}", bad);
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(b64_decode(b64(&all).as_bytes()).unwrap(), all);
    }

    #[test]
    fn requests() {
        let r = request(0xdc4f_ae17, "GET", Some(b"docker:cmd"));
        let s = String::from_utf8(r).unwrap();
        let body = "dc4fae17 GET ZG9ja2VyOmNtZA==";
        assert_eq!(
            s,
            format!(
                "V2 {} {:08x} {}\n",
                body.len(),
                crc32(body.as_bytes()),
                body
            )
        );
        assert!(request(1, "KEYS", None).ends_with(b" 00000001 KEYS\n"));
        assert_eq!(put_arg("k", b"v"), b"aw== dg==");
        assert_eq!(
            v1_request("GET", Some("sdc:nics")).unwrap(),
            b"GET sdc:nics\n"
        );
        assert_eq!(v1_request("GET", Some("a b")), None);
    }

    fn frame(body: &str) -> Vec<u8> {
        format!("V2 {} {:08x} {}", body.len(), crc32(body.as_bytes()), body).into_bytes()
    }

    #[test]
    fn replies_and_garbage() {
        assert_eq!(
            reply(&frame("0000002a NOTFOUND"), 42),
            Ok(Reply {
                id: 42,
                code: Code::NotFound,
                payload: None
            })
        );
        assert_eq!(
            reply(&frame("0000002a FAILURE"), 42).unwrap().code,
            Code::Failure
        );
        assert_eq!(
            reply(&frame("0000002a WHAT"), 42).unwrap().code,
            Code::Other
        );
        assert_eq!(
            reply(&frame("0000002b SUCCESS"), 42),
            Err(Garbled::RequestId)
        );
        assert_eq!(
            reply(&frame("0000002a SUCCESS !!"), 42),
            Err(Garbled::Base64)
        );
        assert_eq!(
            reply(b"V2 16 00000000 0000002a SUCCESS", 42),
            Err(Garbled::Crc)
        );
        assert_eq!(
            reply(b"V2 3 00000000 0000002a SUCCESS", 42),
            Err(Garbled::Length)
        );
        for bad in [
            &b""[..],
            b"SUCCESS",
            b"V2",
            b"V2 ",
            b"V2 x y z",
            b"V2 17",
            b"V2 17 abc",
            b"V2 99999999999 0 x",
            b"V2 -1 0 x",
            b"V2 1 123456789 x",
        ] {
            assert_eq!(reply(bad, 42), Err(Garbled::NotV2), "{:?}", bad);
        }
        assert_eq!(reply(&frame("2a SUCCESS"), 42), Err(Garbled::NotV2));
        assert_eq!(reply(&frame("0000002a"), 42), Err(Garbled::NotV2));
    }

    #[test]
    fn v1_replies() {
        let mut r = V1Reader::default();
        assert_eq!(r.feed(b"SUCCESS"), None);
        for l in [&b"line one"[..], b"..dotted", b""] {
            assert_eq!(r.feed(l), None);
        }
        assert_eq!(
            r.feed(b"."),
            Some(V1Reply::Success(b"line one\n.dotted\n".to_vec()))
        );
        let mut r = V1Reader::default();
        assert_eq!(r.feed(b"SUCCESS"), None);
        assert_eq!(r.feed(b"."), Some(V1Reply::Success(Vec::new())));
        assert_eq!(
            V1Reader::default().feed(b"NOTFOUND"),
            Some(V1Reply::NotFound)
        );
        assert_eq!(V1Reader::default().feed(INVALID), Some(V1Reply::Refused));
    }
}
