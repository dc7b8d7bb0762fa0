//! The forward proxies' wire formats: SOCKS5 (RFC 1928, RFC 1929) and HTTP CONNECT (RFC 9110
//! §9.3.6) requests the proxy writes, and parsers for the replies, which a proxy (or whoever
//! answers on its port) controls: every length is checked, and text is made safe for a log line.

use super::*;

/// The largest HTTP CONNECT response head (status line and headers) accepted. Limits what a
/// proxy can make us buffer; real answers are a few hundred bytes.
pub const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// SOCKS5 method codes (RFC 1928 §3).
pub const METHOD_NO_AUTH: u8 = 0x00;
pub const METHOD_USERNAME_PASSWORD: u8 = 0x02;
pub const METHOD_NONE_ACCEPTABLE: u8 = 0xff;

/// SOCKS5 address types (RFC 1928 §5).
pub(super) const ATYP_IPV4: u8 = 0x01;
pub(super) const ATYP_DOMAIN: u8 = 0x03;
pub(super) const ATYP_IPV6: u8 = 0x04;

/// The meaning of a SOCKS5 reply code (RFC 1928 §6).
pub fn socks5_reply_text(code: u8) -> &'static str {
    match code {
        0x00 => "succeeded",
        0x01 => "general SOCKS server failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => "unassigned reply code",
    }
}

/// A reply that does not follow the proxy protocol. `Copy`, with static context, so the
/// parsers stay allocation-free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// A SOCKS5 reply did not start with version 5; the byte seen.
    Socks5Version(u8),
    /// The SOCKS5 proxy selected a method the client did not offer.
    UnofferedMethod(u8),
    /// The RFC 1929 reply did not start with version 1; the byte seen.
    AuthVersion(u8),
    /// The SOCKS5 reply's reserved byte was not 0.
    Reserved(u8),
    /// The SOCKS5 reply's address type is none of 1, 3, 4.
    AddressType(u8),
    /// An HTTP proxy answer that does not start with `HTTP/`.
    NotHttp { looks_like_socks5: bool },
    /// The HTTP status line is not `HTTP/x.y NNN reason`.
    StatusLine,
    /// The HTTP answer's head is longer than [`MAX_CONNECT_RESPONSE`].
    TooLong(usize),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Socks5Version(b'H') => write!(
                f,
                "answered in HTTP, not SOCKS5: is it an HTTP proxy (use http://)?"
            ),
            ReplyError::Socks5Version(v) => {
                write!(
                    f,
                    "sent a malformed SOCKS5 reply: version {v:#04x}, expected 0x05"
                )
            }
            ReplyError::UnofferedMethod(m) => write!(
                f,
                "sent a malformed SOCKS5 reply: selected method {m:#04x}, which was not offered"
            ),
            ReplyError::AuthVersion(v) => write!(
                f,
                "sent a malformed SOCKS5 authentication reply: version {v:#04x}, expected 0x01"
            ),
            ReplyError::Reserved(b) => write!(
                f,
                "sent a malformed SOCKS5 reply: reserved byte {b:#04x}, expected 0x00"
            ),
            ReplyError::AddressType(t) => write!(
                f,
                "sent a malformed SOCKS5 reply: address type {t:#04x}, expected 1, 3 or 4"
            ),
            ReplyError::NotHttp {
                looks_like_socks5: true,
            } => write!(
                f,
                "answered in SOCKS5, not HTTP: is it a SOCKS5 proxy (use socks5://)?"
            ),
            ReplyError::NotHttp {
                looks_like_socks5: false,
            } => write!(f, "sent a malformed reply: not an HTTP response"),
            ReplyError::StatusLine => write!(
                f,
                "sent a malformed HTTP status line (expected HTTP/1.x NNN reason)"
            ),
            ReplyError::TooLong(max) => write!(
                f,
                "sent an HTTP response head longer than {max} bytes without its end"
            ),
        }
    }
}

impl std::error::Error for ReplyError {}

/// A parser's answer for the bytes seen so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress<T> {
    Done(T),
    /// At least this many bytes in total are needed to go on; always more than were given.
    Need(usize),
}

/// Checks the SOCKS5 method-selection reply (`VER METHOD`) against the methods offered.
pub fn parse_method_selection(reply: [u8; 2], offered: &[u8]) -> Result<u8, ReplyError> {
    if reply[0] != 5 {
        return Err(ReplyError::Socks5Version(reply[0]));
    }
    let method = reply[1];
    if method == METHOD_NONE_ACCEPTABLE || offered.contains(&method) {
        Ok(method)
    } else {
        Err(ReplyError::UnofferedMethod(method))
    }
}

/// Checks the RFC 1929 reply (`VER STATUS`); returns the status (0 = success).
pub fn parse_auth_reply(reply: [u8; 2]) -> Result<u8, ReplyError> {
    if reply[0] != 1 {
        return Err(ReplyError::AuthVersion(reply[0]));
    }
    Ok(reply[1])
}

/// A complete SOCKS5 reply to CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Socks5Reply {
    /// The tunnel is open; the proxy's outgoing address as it reported it (for debug logs).
    Succeeded { bound: String },
    /// The proxy refused; the reply code. The rest of the reply is not needed.
    Refused(u8),
}

/// Parses `VER REP RSV ATYP BND.ADDR BND.PORT` (RFC 1928 §6) from the bytes read so far.
pub fn parse_socks5_reply(buf: &[u8]) -> Result<Progress<Socks5Reply>, ReplyError> {
    if buf.len() < 2 {
        return Ok(Progress::Need(2));
    }
    if buf[0] != 5 {
        return Err(ReplyError::Socks5Version(buf[0]));
    }
    if buf[1] != 0 {
        // A refusal is final whatever follows; some proxies send only these two bytes.
        return Ok(Progress::Done(Socks5Reply::Refused(buf[1])));
    }
    if buf.len() < 4 {
        return Ok(Progress::Need(4));
    }
    if buf[2] != 0 {
        return Err(ReplyError::Reserved(buf[2]));
    }
    let total = match buf[3] {
        ATYP_IPV4 => 4 + 4 + 2,
        ATYP_IPV6 => 4 + 16 + 2,
        ATYP_DOMAIN => match buf.get(4) {
            None => return Ok(Progress::Need(5)),
            Some(&len) => 5 + usize::from(len) + 2,
        },
        other => return Err(ReplyError::AddressType(other)),
    };
    if buf.len() < total {
        return Ok(Progress::Need(total));
    }
    let port = u16::from_be_bytes([buf[total - 2], buf[total - 1]]);
    let bound = match buf[3] {
        ATYP_IPV4 => {
            let octets: [u8; 4] = [buf[4], buf[5], buf[6], buf[7]];
            format!("{}:{port}", std::net::Ipv4Addr::from(octets))
        }
        ATYP_IPV6 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&buf[4..20]);
            format!("[{}]:{port}", std::net::Ipv6Addr::from(octets))
        }
        _ => {
            let name = crate::logging::peer_bytes(&buf[5..total - 2]);
            format!("{name}:{port}")
        }
    };
    Ok(Progress::Done(Socks5Reply::Succeeded { bound }))
}

/// An HTTP proxy's answer to CONNECT: its status and reason phrase (sanitized, for logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectResponse {
    pub status: u16,
    pub reason: String,
}

impl ConnectResponse {
    /// Any 2xx opens the tunnel (RFC 9110 §9.3.6).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Parses the head of an HTTP answer to CONNECT from the bytes read so far: done at the empty
/// line that ends the headers (CRLF, or a bare LF as RFC 9112 §2.2 allows a recipient to
/// accept). The headers themselves are not needed.
pub fn parse_connect_response(buf: &[u8]) -> Result<Progress<ConnectResponse>, ReplyError> {
    const PREFIX: &[u8] = b"HTTP/";
    let seen = buf.len().min(PREFIX.len());
    if buf[..seen] != PREFIX[..seen] {
        return Err(ReplyError::NotHttp {
            looks_like_socks5: buf.first() == Some(&5),
        });
    }
    let Some(end) = head_end(buf) else {
        if buf.len() >= MAX_CONNECT_RESPONSE {
            return Err(ReplyError::TooLong(MAX_CONNECT_RESPONSE));
        }
        return Ok(Progress::Need(buf.len() + 1));
    };
    let head = &buf[..end];
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = head[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&head[..line_end]);
    // HTTP/1.x SP 3DIGIT [SP reason]
    let rest = line
        .strip_prefix(b"HTTP/1.")
        .ok_or(ReplyError::StatusLine)?;
    let (&minor, rest) = rest.split_first().ok_or(ReplyError::StatusLine)?;
    if !minor.is_ascii_digit() {
        return Err(ReplyError::StatusLine);
    }
    let rest = rest.strip_prefix(b" ").ok_or(ReplyError::StatusLine)?;
    if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
        return Err(ReplyError::StatusLine);
    }
    let status = rest[..3]
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    let reason = match &rest[3..] {
        [] => String::new(),
        [b' ', reason @ ..] => crate::logging::peer_bytes(reason),
        _ => return Err(ReplyError::StatusLine),
    };
    Ok(Progress::Done(ConnectResponse { status, reason }))
}

/// The length of the head up to and including the empty line that ends it, if present.
pub(super) fn head_end(buf: &[u8]) -> Option<usize> {
    // Only the last bytes can complete it when called byte by byte, but a whole buffer is
    // scanned so the function does not depend on how it is called.
    buf.windows(2).enumerate().find_map(|(i, w)| match w {
        b"\n\n" => Some(i + 2),
        b"\n\r" if buf.get(i + 2) == Some(&b'\n') => Some(i + 3),
        _ => None,
    })
}

/// The broker's host as a proxy needs it: without IPv6 brackets, checked to be printable
/// ASCII without spaces (it may come from a broker's metadata response, and goes into an
/// HTTP request line or a SOCKS5 length-prefixed field).
pub(super) fn target_host(target: &HostPort) -> Result<&str, Failure> {
    let host = target
        .host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&target.host);
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic()) || host.contains(['/', '@']) {
        return Err(Failure::Invalid(format!(
            "broker host {:?} cannot be sent to a proxy",
            host.chars().take(100).collect::<String>()
        )));
    }
    Ok(host)
}

/// The SOCKS5 CONNECT request for `target`: an IP address as such, anything else as a domain
/// name for the proxy to resolve.
pub fn socks5_connect_request(target: &HostPort) -> Result<Vec<u8>, Failure> {
    let host = target_host(target)?;
    let mut req = vec![5, 1, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            req.push(ATYP_IPV4);
            req.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            req.push(ATYP_IPV6);
            req.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let len = u8::try_from(host.len()).map_err(|_| {
                Failure::Invalid(format!(
                    "broker host name is {} bytes, SOCKS5 allows at most 255",
                    host.len()
                ))
            })?;
            req.push(ATYP_DOMAIN);
            req.push(len);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&target.port.to_be_bytes());
    Ok(req)
}

/// The RFC 1929 username/password request.
pub fn socks5_auth_request(username: &str, password: &str) -> Result<Vec<u8>, Failure> {
    let field = |what: &str, value: &str| {
        u8::try_from(value.len())
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                Failure::Invalid(format!(
                    "the SOCKS5 {what} must be 1 to 255 bytes (RFC 1929), it is {} bytes",
                    value.len()
                ))
            })
    };
    let (ulen, plen) = (field("user name", username)?, field("password", password)?);
    let mut req = Vec::with_capacity(3 + username.len() + password.len());
    req.push(1);
    req.push(ulen);
    req.extend_from_slice(username.as_bytes());
    req.push(plen);
    req.extend_from_slice(password.as_bytes());
    Ok(req)
}

/// The HTTP CONNECT request for `target`, with Basic credentials when given.
pub fn connect_request(
    target: &HostPort,
    credentials: Option<(&str, &str)>,
) -> Result<String, Failure> {
    let host = target_host(target)?;
    let authority = if host.contains(':') {
        format!("[{host}]:{}", target.port)
    } else {
        format!("{host}:{}", target.port)
    };
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some((user, pass)) = credentials {
        if user.contains(':') || user.chars().chain(pass.chars()).any(char::is_control) {
            return Err(Failure::Invalid(
                "for HTTP Basic authentication the user name cannot contain ':' and neither \
                 it nor the password control characters"
                    .into(),
            ));
        }
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        req.push_str("Proxy-Authorization: Basic ");
        req.push_str(&token);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    Ok(req)
}

/// Entry point of the `forward_replies` fuzz target: every reply parser on arbitrary bytes.
/// None may panic; each must ask for more bytes than it was given or decide.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_replies(data: &[u8]) {
    if data.len() >= 2 {
        let _ = parse_method_selection([data[0], data[1]], &[METHOD_NO_AUTH]);
        let _ = parse_auth_reply([data[0], data[1]]);
    }
    for parse in [check_socks5_progress, check_connect_progress] {
        parse(data);
    }
}

#[cfg(any(test, feature = "fuzzing"))]
pub(super) fn check_socks5_progress(data: &[u8]) {
    if let Ok(Progress::Need(n)) = parse_socks5_reply(data) {
        assert!(
            n > data.len() && n <= 4 + 1 + 255 + 2,
            "need {n} of {}",
            data.len()
        );
    }
}

#[cfg(any(test, feature = "fuzzing"))]
pub(super) fn check_connect_progress(data: &[u8]) {
    if let Ok(Progress::Need(n)) = parse_connect_response(data) {
        assert!(n > data.len() && n <= MAX_CONNECT_RESPONSE, "need {n}");
    }
}
