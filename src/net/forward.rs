//! Dialing a broker through a forward proxy (`--forward-proxy`): SOCKS5 (RFC 1928, with the
//! username/password method of RFC 1929), HTTP CONNECT (RFC 9110 §9.3.6, with
//! `Proxy-Authorization: Basic`), and HTTP CONNECT over TLS to the proxy (`https://`).
//!
//! The broker's host name is sent to the proxy as written, never resolved here: brokers are
//! often resolvable only on the proxy's side of the network. The whole negotiation (TCP connect
//! to the proxy, TLS, the proxy handshake) runs within one deadline, `--kafka-dial-timeout`.
//!
//! Replies are parsed by pure functions ([`parse_method_selection`], [`parse_auth_reply`],
//! [`parse_socks5_reply`], [`parse_connect_response`]) that see only the bytes read so far and
//! say how many more they need, so the handshake never reads past the reply into the tunnel,
//! and the parsers are unit-tested and fuzzed without sockets ([`fuzz_replies`]).
//!
//! For `https://` proxies the tunnel runs inside TLS; [`TlsTunnel`] is the [`Transport`] that
//! carries it (the two-thread design of design.md §2). The proxy's certificate is checked
//! against Mozilla's roots (webpki-roots) plus the system bundle: the file named by
//! `SSL_CERT_FILE`, else `/etc/ssl/certs/ca-certificates.crt` when it exists.

use crate::config::{ForwardProxy, ForwardProxyScheme, HostPort};
use crate::net::deadline::{
    read_exact_until, write_all_until, Arm, Armed, Deadline, ReadError, Timed,
};
use crate::net::stream::{ReadHalf, Socket, Stream, Transport, WriteHalf};
use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The largest HTTP CONNECT response head (status line and headers) accepted. Limits what a
/// proxy can make us buffer; real answers are a few hundred bytes.
pub const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// SOCKS5 method codes (RFC 1928 §3).
pub const METHOD_NO_AUTH: u8 = 0x00;
pub const METHOD_USERNAME_PASSWORD: u8 = 0x02;
pub const METHOD_NONE_ACCEPTABLE: u8 = 0xff;

/// SOCKS5 address types (RFC 1928 §5).
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;

/// The system CA bundle on Debian and its derivatives; other systems set `SSL_CERT_FILE`.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The scheme and address of a forward proxy, for messages: never its credentials.
pub fn describe(proxy: &ForwardProxy) -> String {
    let scheme = match proxy.scheme {
        ForwardProxyScheme::Socks5 => "socks5",
        ForwardProxyScheme::Http => "http",
        ForwardProxyScheme::Https => "https",
    };
    format!("{scheme}://{}", proxy.address)
}

/// Why a dial through a forward proxy failed: the proxy (scheme, host and port, never the
/// credentials) and what went wrong. Reads as one sentence in a log line.
#[derive(Debug)]
pub struct ForwardError {
    pub proxy: String,
    pub failure: Failure,
}

/// What went wrong while dialing through a forward proxy.
#[derive(Debug)]
pub enum Failure {
    /// The TCP connection to the proxy failed (refused, unresolvable, unreachable).
    Connect(io::Error),
    /// The deadline (`--kafka-dial-timeout`) passed during this stage.
    Timeout(&'static str, Duration),
    /// The proxy closed the connection during this stage.
    Closed(&'static str),
    /// A socket error during this stage.
    Io(&'static str, io::Error),
    /// The TLS handshake with an `https://` proxy failed.
    Tls(io::Error),
    /// The trust store for `https://` proxies could not be loaded.
    TrustStore(String),
    /// The proxy's reply could not be parsed.
    Reply(ReplyError),
    /// The SOCKS5 proxy accepted none of the offered authentication methods.
    NoAcceptableMethod { offered_password: bool },
    /// The SOCKS5 proxy rejected the username and password (RFC 1929 status).
    AuthRejected(u8),
    /// The SOCKS5 proxy refused to connect to the broker (RFC 1928 reply code).
    Refused { target: String, code: u8 },
    /// The HTTP proxy answered CONNECT with a status other than 2xx.
    Status {
        target: String,
        status: u16,
        reason: String,
    },
    /// The broker address or the credentials cannot be expressed in the proxy protocol.
    Invalid(String),
}

impl fmt::Display for ForwardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "forward proxy {}: ", self.proxy)?;
        match &self.failure {
            Failure::Connect(e) => write!(f, "cannot connect: {e}"),
            Failure::Timeout(stage, timeout) => write!(
                f,
                "no answer {stage} within --kafka-dial-timeout ({})",
                crate::config::value::format_duration(*timeout)
            ),
            Failure::Closed(stage) => write!(f, "closed the connection {stage}"),
            Failure::Io(stage, e) => write!(f, "connection failed {stage}: {e}"),
            Failure::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            Failure::TrustStore(why) => write!(f, "{why}"),
            Failure::Reply(e) => write!(f, "{e}"),
            Failure::NoAcceptableMethod {
                offered_password: true,
            } => write!(
                f,
                "accepts neither username/password nor no authentication (SOCKS5 method 0xff)"
            ),
            Failure::NoAcceptableMethod {
                offered_password: false,
            } => write!(
                f,
                "requires authentication: put user:password@ in the --forward-proxy URL \
                 (SOCKS5 method 0xff)"
            ),
            Failure::AuthRejected(status) => write!(
                f,
                "rejected the username or password (RFC 1929 status {status:#04x})"
            ),
            Failure::Refused { target, code } => write!(
                f,
                "refused to connect to {target}: {} (SOCKS5 reply {code})",
                socks5_reply_text(*code)
            ),
            Failure::Status {
                target,
                status,
                reason,
            } => {
                write!(f, "answered CONNECT {target} with {status}")?;
                if !reason.is_empty() {
                    write!(f, " {reason}")?;
                }
                if *status == 407 {
                    write!(
                        f,
                        " (put user:password@ in the --forward-proxy URL, or check them)"
                    )?;
                }
                Ok(())
            }
            Failure::Invalid(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for ForwardError {}

impl From<ForwardError> for io::Error {
    fn from(e: ForwardError) -> io::Error {
        let kind = match &e.failure {
            Failure::Connect(inner) | Failure::Io(_, inner) => inner.kind(),
            Failure::Timeout(..) => io::ErrorKind::TimedOut,
            Failure::Closed(_) => io::ErrorKind::UnexpectedEof,
            Failure::Refused { .. } | Failure::Status { .. } => io::ErrorKind::ConnectionRefused,
            Failure::AuthRejected(_) | Failure::NoAcceptableMethod { .. } => {
                io::ErrorKind::PermissionDenied
            }
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

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
fn head_end(buf: &[u8]) -> Option<usize> {
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
fn target_host(target: &HostPort) -> Result<&str, Failure> {
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

/// The deadline of one dial and the stage it is in, for error messages.
struct Negotiation {
    deadline: Deadline,
    timeout: Duration,
    stage: &'static str,
}

impl Negotiation {
    /// Time left, or the timeout failure of the current stage.
    fn left(&self) -> Result<Duration, Failure> {
        (self.deadline.left()).ok_or(Failure::Timeout(self.stage, self.timeout))
    }

    /// Bounds the next socket operation by the time left.
    fn arm(&self, socket: &TcpStream) -> Result<(), Failure> {
        let left = self.left()?;
        Armed
            .arm(socket, left)
            .map_err(|e| Failure::Io(self.stage, e))
    }

    fn failure(&self, e: ReadError) -> Failure {
        match e {
            ReadError::Closed { .. } => Failure::Closed(self.stage),
            ReadError::TimedOut { .. } => Failure::Timeout(self.stage, self.timeout),
            ReadError::Io(e) => self.io_error(e),
        }
    }

    fn io_error(&self, e: io::Error) -> Failure {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                Failure::Timeout(self.stage, self.timeout)
            }
            io::ErrorKind::UnexpectedEof => Failure::Closed(self.stage),
            _ => Failure::Io(self.stage, e),
        }
    }
}

/// A byte stream under negotiation and the socket whose timeouts bound it.
trait Channel: Read + Write + Timed {}

impl Channel for TcpStream {}

impl Timed for rustls::StreamOwned<ClientConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

impl Channel for rustls::StreamOwned<ClientConnection, TcpStream> {}

fn send(ch: &mut dyn Channel, bytes: &[u8], n: &Negotiation) -> Result<(), Failure> {
    write_all_until(ch, bytes, &n.deadline, &Armed).map_err(|e| n.failure(e))
}

/// Reads until `buf` holds `len` bytes; a close before that is [`Failure::Closed`].
fn receive(
    ch: &mut dyn Channel,
    buf: &mut Vec<u8>,
    len: usize,
    n: &Negotiation,
) -> Result<(), Failure> {
    let have = buf.len();
    buf.resize(len, 0);
    read_exact_until(ch, &mut buf[have..], &n.deadline, &Armed).map_err(|e| n.failure(e))
}

/// A connection to a broker, direct or through a forward proxy.
pub enum Tunnel {
    /// A TCP connection that carries the broker's bytes: to the broker itself, or to a SOCKS5
    /// or HTTP proxy after its handshake. TLS to the broker can run over it.
    Tcp(TcpStream),
    /// The broker's bytes inside TLS to an `https://` proxy.
    Tls(TlsTunnel),
}

impl Tunnel {
    /// The TCP socket underneath, for socket options and timeouts.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Tunnel::Tcp(socket) => socket,
            Tunnel::Tls(tunnel) => &tunnel.socket,
        }
    }

    pub fn into_stream(self) -> Stream {
        match self {
            Tunnel::Tcp(socket) => crate::net::stream::plain(socket),
            Tunnel::Tls(tunnel) => Box::new(tunnel),
        }
    }
}

/// Connects to `target`, through `forward` when set, within `timeout` (the whole proxy
/// negotiation included). Errors name the proxy and the stage that failed.
pub fn connect(
    forward: Option<&ForwardProxy>,
    target: &HostPort,
    timeout: Duration,
) -> io::Result<Tunnel> {
    match forward {
        None => crate::net::dial(target, timeout).map(Tunnel::Tcp),
        Some(forward) => dial(forward, target, timeout).map_err(io::Error::from),
    }
}

/// Connects to `target` through `proxy`, all within `timeout`, and returns the tunnel: a
/// plain TCP stream for `socks5://` and `http://`, a [`TlsTunnel`] for `https://`.
pub fn dial(
    proxy: &ForwardProxy,
    target: &HostPort,
    timeout: Duration,
) -> Result<Tunnel, ForwardError> {
    let tls = match proxy.scheme {
        ForwardProxyScheme::Https => Some(tls_config().map_err(|failure| ForwardError {
            proxy: describe(proxy),
            failure,
        })?),
        ForwardProxyScheme::Socks5 | ForwardProxyScheme::Http => None,
    };
    dial_with(proxy, target, timeout, tls)
}

/// [`dial`] with the TLS configuration for an `https://` proxy given (tests trust their own CA).
fn dial_with(
    proxy: &ForwardProxy,
    target: &HostPort,
    timeout: Duration,
    tls: Option<Arc<ClientConfig>>,
) -> Result<Tunnel, ForwardError> {
    let fail = |failure| ForwardError {
        proxy: describe(proxy),
        failure,
    };
    let mut n = Negotiation {
        deadline: Deadline::after(timeout),
        timeout,
        stage: "while connecting",
    };
    let credentials = match (&proxy.username, &proxy.password) {
        (Some(user), Some(pass)) => Some((user.as_str(), pass.expose())),
        _ => None,
    };
    // Checked before connecting: a broker address that cannot be sent costs no connection.
    target_host(target).map_err(fail)?;
    let socket = crate::net::dial(&proxy.address, timeout).map_err(|e| {
        fail(if e.kind() == io::ErrorKind::TimedOut {
            Failure::Timeout("while connecting", timeout)
        } else {
            Failure::Connect(e)
        })
    })?;
    match proxy.scheme {
        ForwardProxyScheme::Socks5 => {
            let mut socket = socket;
            socks5_handshake(&mut socket, target, credentials, &mut n).map_err(fail)?;
            Ok(Tunnel::Tcp(socket))
        }
        ForwardProxyScheme::Http => {
            let mut socket = socket;
            connect_handshake(&mut socket, target, credentials, &mut n).map_err(fail)?;
            Ok(Tunnel::Tcp(socket))
        }
        ForwardProxyScheme::Https => {
            let Some(config) = tls else {
                return Err(fail(Failure::TrustStore(
                    "no TLS configuration for an https proxy".into(),
                )));
            };
            let mut tls = tls_handshake(config, &proxy.address, socket, &mut n).map_err(fail)?;
            connect_handshake(&mut tls, target, credentials, &mut n).map_err(fail)?;
            Ok(Tunnel::Tls(TlsTunnel::new(tls.conn, tls.sock)))
        }
    }
}

fn socks5_handshake(
    ch: &mut dyn Channel,
    target: &HostPort,
    credentials: Option<(&str, &str)>,
    n: &mut Negotiation,
) -> Result<(), Failure> {
    // Built first, so a target that cannot be sent fails before anything is said.
    let connect = socks5_connect_request(target)?;
    let auth = credentials
        .map(|(user, pass)| socks5_auth_request(user, pass))
        .transpose()?;
    let offered: &[u8] = if auth.is_some() {
        &[METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD]
    } else {
        &[METHOD_NO_AUTH]
    };
    n.stage = "during the SOCKS5 greeting";
    let mut greeting = vec![5, offered.len() as u8];
    greeting.extend_from_slice(offered);
    send(ch, &greeting, n)?;
    let mut buf = Vec::with_capacity(32);
    receive(ch, &mut buf, 2, n)?;
    let method = parse_method_selection([buf[0], buf[1]], offered).map_err(Failure::Reply)?;
    match method {
        METHOD_NONE_ACCEPTABLE => {
            return Err(Failure::NoAcceptableMethod {
                offered_password: auth.is_some(),
            })
        }
        METHOD_USERNAME_PASSWORD => {
            n.stage = "during SOCKS5 authentication";
            // `offered` only lists this method when there are credentials.
            let auth = auth.ok_or(Failure::Reply(ReplyError::UnofferedMethod(method)))?;
            send(ch, &auth, n)?;
            buf.clear();
            receive(ch, &mut buf, 2, n)?;
            let status = parse_auth_reply([buf[0], buf[1]]).map_err(Failure::Reply)?;
            if status != 0 {
                return Err(Failure::AuthRejected(status));
            }
        }
        _ => {}
    }
    n.stage = "in reply to SOCKS5 CONNECT";
    send(ch, &connect, n)?;
    buf.clear();
    loop {
        match parse_socks5_reply(&buf).map_err(Failure::Reply)? {
            Progress::Need(len) => receive(ch, &mut buf, len, n)?,
            Progress::Done(Socks5Reply::Succeeded { bound }) => {
                log::debug!("SOCKS5 tunnel to {target} open (proxy side {bound})");
                return Ok(());
            }
            Progress::Done(Socks5Reply::Refused(code)) => {
                return Err(Failure::Refused {
                    target: target.to_string(),
                    code,
                })
            }
        }
    }
}

fn connect_handshake(
    ch: &mut dyn Channel,
    target: &HostPort,
    credentials: Option<(&str, &str)>,
    n: &mut Negotiation,
) -> Result<(), Failure> {
    let request = connect_request(target, credentials)?;
    n.stage = "in reply to HTTP CONNECT";
    send(ch, request.as_bytes(), n)?;
    // Byte by byte: the head is short, and nothing past its end may be consumed, since the
    // tunnel's first bytes belong to the broker connection.
    let mut buf = Vec::with_capacity(256);
    let response = loop {
        // The whole head is parsed only where it may be decided: its first bytes (is it
        // HTTP?), its end, or its size limit. Parsing after every byte would be quadratic.
        let decidable = buf.len() <= 5
            || buf.ends_with(b"\n\n")
            || buf.ends_with(b"\n\r\n")
            || buf.len() >= MAX_CONNECT_RESPONSE;
        if !decidable {
            let more = buf.len() + 1;
            receive(ch, &mut buf, more, n)?;
            continue;
        }
        match parse_connect_response(&buf).map_err(Failure::Reply)? {
            Progress::Need(len) => receive(ch, &mut buf, len, n)?,
            Progress::Done(response) => break response,
        }
    };
    if response.is_success() {
        log::debug!(
            "HTTP CONNECT tunnel to {target} open ({} {})",
            response.status,
            response.reason
        );
        Ok(())
    } else {
        Err(Failure::Status {
            target: target.to_string(),
            status: response.status,
            reason: response.reason,
        })
    }
}

/// The client configuration for `https://` proxies, built once per process: it depends only
/// on the trust store.
fn tls_config() -> Result<Arc<ClientConfig>, Failure> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(build_tls_config)
        .clone()
        .map_err(Failure::TrustStore)
}

fn build_tls_config() -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let (bundle, named) = match std::env::var_os("SSL_CERT_FILE") {
        Some(path) if !path.is_empty() => (PathBuf::from(path), true),
        _ => (PathBuf::from(SYSTEM_CA_BUNDLE), false),
    };
    let what = || {
        if named {
            format!("SSL_CERT_FILE {}", bundle.display())
        } else {
            bundle.display().to_string()
        }
    };
    match CertificateDer::pem_file_iter(&bundle) {
        Ok(certs) => {
            let certs = certs
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("cannot read the CA bundle {}: {e}", what()))?;
            if named && certs.is_empty() {
                return Err(format!("no certificate in the CA bundle {}", what()));
            }
            roots.add_parsable_certificates(certs);
        }
        // Without a system bundle, Mozilla's roots alone are trusted.
        Err(_) if !named => {}
        Err(e) => return Err(format!("cannot read the CA bundle {}: {e}", what())),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Checks at startup what can be checked before any connection: the trust store of an
/// `https://` proxy, that its host can be a TLS server name, and that TLS to brokers is not
/// asked for inside it.
pub fn check(config: &crate::config::Config) -> Result<(), ForwardError> {
    let Some(proxy) = &config.forward_proxy else {
        return Ok(());
    };
    let fail = |failure| ForwardError {
        proxy: describe(proxy),
        failure,
    };
    if proxy.scheme == ForwardProxyScheme::Https {
        if config.tls.is_some() {
            // The broker TLS stream runs over a TCP socket; TLS inside TLS would need it to
            // run over any stream.
            return Err(fail(Failure::Invalid(
                "TLS to brokers (--tls-enable) through an https:// forward proxy is not \
                 supported; use an http:// or socks5:// forward proxy"
                    .into(),
            )));
        }
        tls_config().map_err(fail)?;
        server_name(&proxy.address).map_err(fail)?;
    }
    Ok(())
}

fn server_name(address: &HostPort) -> Result<ServerName<'static>, Failure> {
    let host = address
        .host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&address.host);
    ServerName::try_from(host.to_string()).map_err(|_| {
        Failure::Invalid(format!(
            "{host:?} cannot be checked against a TLS certificate"
        ))
    })
}

fn tls_handshake(
    config: Arc<ClientConfig>,
    address: &HostPort,
    socket: TcpStream,
    n: &mut Negotiation,
) -> Result<rustls::StreamOwned<ClientConnection, TcpStream>, Failure> {
    n.stage = "during the TLS handshake";
    let conn = ClientConnection::new(config, server_name(address)?)
        .map_err(|e| Failure::Tls(io::Error::other(e)))?;
    let mut tls = rustls::StreamOwned::new(conn, socket);
    while tls.conn.is_handshaking() {
        n.arm(&tls.sock)?;
        match tls.conn.complete_io(&mut tls.sock) {
            Ok((0, 0)) if tls.conn.is_handshaking() => return Err(Failure::Closed(n.stage)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(Failure::Tls(e)),
            Err(e) => return Err(n.io_error(e)),
        }
    }
    Ok(tls)
}

/// Raw TLS bytes read from the socket at a time: one full TLS record.
const TLS_READ_CHUNK: usize = 16 * 1024 + 512;
/// Plaintext encrypted per write call, so one call never buffers more than a record or so.
const TLS_WRITE_CHUNK: usize = 16 * 1024;

/// A tunnel inside TLS to an `https://` proxy, usable whole or split into halves driven by
/// two threads. One rustls state machine serves both directions, so it sits in a mutex that
/// is never held during blocking socket I/O: the reader reads raw bytes, then locks to
/// decrypt; the writer locks to encrypt into a buffer, unlocks, then writes the buffer. A
/// second lock orders socket writes, so TLS records leave in the order they were sealed even
/// when the reader must answer the proxy (a key update, an alert).
pub struct TlsTunnel {
    shared: Arc<TlsShared>,
    socket: Socket,
    /// Raw bytes read from the socket, `incoming[start..end]` not yet given to rustls.
    incoming: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Records sealed by this half, about to be written.
    outgoing: Vec<u8>,
}

struct TlsShared {
    conn: Mutex<ClientConnection>,
    send: Mutex<()>,
}

impl TlsTunnel {
    fn new(conn: ClientConnection, socket: TcpStream) -> TlsTunnel {
        TlsTunnel {
            shared: Arc::new(TlsShared {
                conn: Mutex::new(conn),
                send: Mutex::new(()),
            }),
            socket: Socket::from(socket),
            incoming: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            outgoing: Vec::new(),
        }
    }

    fn conn(shared: &TlsShared) -> io::Result<MutexGuard<'_, ClientConnection>> {
        shared
            .conn
            .lock()
            .map_err(|_| io::Error::other("TLS state poisoned by a panic in the other half"))
    }

    /// Writes out what rustls has sealed, in order with the other half's writes.
    fn flush_sealed(&mut self) -> io::Result<()> {
        let _send = self
            .shared
            .send
            .lock()
            .map_err(|_| io::Error::other("TLS writer poisoned"))?;
        self.outgoing.clear();
        {
            let mut conn = Self::conn(&self.shared)?;
            while conn.wants_write() {
                conn.write_tls(&mut self.outgoing)?;
            }
        }
        if !self.outgoing.is_empty() {
            self.socket.write_all(&self.outgoing)?;
        }
        Ok(())
    }
}

impl Read for TlsTunnel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match Self::conn(&self.shared)?.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.eof {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(e),
            }
            if self.start == self.end {
                if self.incoming.len() < TLS_READ_CHUNK {
                    self.incoming.resize(TLS_READ_CHUNK, 0);
                }
                // Blocking read without the lock; the socket's timeout bounds it.
                let n = self.socket.read(&mut self.incoming)?;
                self.start = 0;
                self.end = n;
                self.eof = n == 0;
            }
            let wants_write = {
                let mut conn = Self::conn(&self.shared)?;
                let mut pending = &self.incoming[self.start..self.end];
                let before = pending.len();
                let taken = conn.read_tls(&mut pending)?;
                if taken == 0 && before > 0 {
                    // close_notify was received: nothing after it counts.
                    self.start = self.end;
                } else {
                    self.start += before - pending.len();
                }
                let processed = conn.process_new_packets();
                let wants_write = conn.wants_write();
                drop(conn);
                if let Err(e) = processed {
                    // Send the alert rustls queued, then report the error.
                    let _ = self.flush_sealed();
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
                wants_write
            };
            if wants_write {
                self.flush_sealed()?;
            }
        }
    }
}

impl Write for TlsTunnel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let _send = self
            .shared
            .send
            .lock()
            .map_err(|_| io::Error::other("TLS writer poisoned"))?;
        self.outgoing.clear();
        let written = {
            let mut conn = Self::conn(&self.shared)?;
            let chunk = &buf[..buf.len().min(TLS_WRITE_CHUNK)];
            let written = conn.writer().write(chunk)?;
            while conn.wants_write() {
                conn.write_tls(&mut self.outgoing)?;
            }
            written
        };
        // Blocking write without the state lock; the socket's timeout bounds it.
        self.socket.write_all(&self.outgoing)?;
        if self.outgoing.capacity() > 4 * TLS_WRITE_CHUNK {
            self.outgoing = Vec::new();
        }
        if written == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "TLS connection to the forward proxy accepts no more data",
            ));
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for TlsTunnel {
    fn socket(&self) -> &Socket {
        &self.socket
    }

    fn split(self: Box<Self>) -> io::Result<(ReadHalf, WriteHalf)> {
        let writer = TlsTunnel {
            shared: Arc::clone(&self.shared),
            socket: self.socket.clone(),
            incoming: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            outgoing: Vec::new(),
        };
        Ok((self, Box::new(writer)))
    }

    fn describe(&self) -> String {
        "plaintext inside TLS to an https forward proxy".to_string()
    }
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
fn check_socks5_progress(data: &[u8]) {
    if let Ok(Progress::Need(n)) = parse_socks5_reply(data) {
        assert!(
            n > data.len() && n <= 4 + 1 + 255 + 2,
            "need {n} of {}",
            data.len()
        );
    }
}

#[cfg(any(test, feature = "fuzzing"))]
fn check_connect_progress(data: &[u8]) {
    if let Ok(Progress::Need(n)) = parse_connect_response(data) {
        assert!(n > data.len() && n <= MAX_CONNECT_RESPONSE, "need {n}");
    }
}

#[cfg(test)]
mod tests;
