//! Request heads on the HTTP endpoints: reading what has arrived of one without blocking, at
//! most [`MAX_HEAD`] bytes, finding its end, and parsing its request line.

use std::io::{self, Read};

/// The largest request head (request line and headers) read; larger ones get a 431.
pub const MAX_HEAD: usize = 16 * 1024;

/// A request as far as the routes care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// The target without its query string.
    pub path: String,
}

/// Parses a complete request head (up to and including the empty line). The error is the
/// status to answer with.
pub fn parse_head(head: &[u8]) -> Result<Head, u16> {
    let line_end = head.iter().position(|&b| b == b'\n').ok_or(400u16)?;
    let line = head[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&head[..line_end]);
    let line = std::str::from_utf8(line).map_err(|_| 400u16)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let is_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !is_token(method) || target.is_empty() {
        return Err(400);
    }
    if !version.starts_with("HTTP/1.") {
        return Err(if version.starts_with("HTTP/") {
            505
        } else {
            400
        });
    }
    let path = target.split('?').next().unwrap_or(target);
    if path.is_empty() {
        // `GET ?x HTTP/1.1`: a query with no path (found by the http_request_head target).
        return Err(400);
    }
    Ok(Head {
        method: method.to_string(),
        path: path.to_string(),
    })
}

/// Where a request head stands after reading what has arrived.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HeadState {
    /// Not all there; more may come.
    Partial,
    /// Complete: the head is the first this many bytes, its final empty line included.
    Complete(usize),
    /// [`MAX_HEAD`] bytes and no end in sight.
    TooLarge,
    /// The client hung up (or the connection failed) before the end of the head.
    Closed,
}

/// Reads into `head` what has arrived (until a read would block), at most [`MAX_HEAD`] bytes
/// and the 4 of a final empty line. Bytes after the head (a body) may be read along with it.
pub(super) fn read_head(stream: &mut impl Read, head: &mut Vec<u8>) -> HeadState {
    let mut chunk = [0u8; 4096];
    let mut searched = head.len();
    loop {
        // Only the new bytes, and the 3 before them, can complete the final empty line.
        if let Some(end) = find_head_end(&head[searched.saturating_sub(3)..]) {
            return HeadState::Complete(searched.saturating_sub(3) + end);
        }
        searched = head.len();
        if head.len() >= MAX_HEAD {
            return HeadState::TooLarge;
        }
        let room = (MAX_HEAD + 4 - head.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return HeadState::Closed,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return HeadState::Partial,
            Err(_) => return HeadState::Closed,
        }
    }
}

/// The length of the head including its final empty line (`\r\n\r\n`, or `\n\n` from lenient
/// clients), if it is complete.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Entry point of the `http_request_head` fuzz target: what a client sends the HTTP endpoints,
/// delivered in pieces (the first byte picks their size, as a slow client would), read as the
/// accept thread reads it and parsed once complete. Never a panic, never more than
/// [`MAX_HEAD`] and the 4 bytes of a final empty line kept.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_head(data: &[u8]) {
    let [step, rest @ ..] = data else {
        return;
    };
    let step = usize::from(*step % 64) + 1;
    struct Trickle<'a>(&'a [u8], usize, bool);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // Every other call would block, as a socket between two packets does.
            self.2 = !self.2;
            if self.2 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut stream = Trickle(rest, step, false);
    let mut head = Vec::new();
    loop {
        match read_head(&mut stream, &mut head) {
            HeadState::Partial => assert!(head.len() <= MAX_HEAD + 4),
            HeadState::Complete(end) => {
                assert!(end <= head.len() && head.len() <= rest.len());
                if let Ok(parsed) = parse_head(&head[..end]) {
                    assert!(!parsed.method.is_empty() && !parsed.path.is_empty());
                }
                return;
            }
            HeadState::TooLarge => return assert!(head.len() >= MAX_HEAD),
            HeadState::Closed => return assert!(head.len() <= MAX_HEAD + 4),
        }
    }
}
