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

mod replies;
mod tls_tunnel;

pub use replies::*;
pub use tls_tunnel::*;

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
            Tunnel::Tls(tunnel) => tunnel.socket(),
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

#[cfg(test)]
mod tests;
