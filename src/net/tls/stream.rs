//! TLS over a blocking TCP socket, usable from two threads at once (design.md §2).
//!
//! A rustls `Connection` is one state machine for both directions, so it sits behind a mutex
//! that is never held during blocking socket I/O: the reader reads raw bytes from the socket,
//! then locks to feed them in and take plaintext out; the writer locks to encrypt into a
//! buffer, unlocks, then writes the buffer. Only the writer ever writes to the socket after the
//! handshake, so records leave in the order they were encrypted (a TLS 1.3 KeyUpdate reply
//! queued by the reader leaves with the next write).
//!
//! Memory per connection: rustls' own buffers, one raw read buffer of one TLS record, and an
//! output buffer of at most one write chunk.

use crate::net::stream::{ReadHalf, Socket, Transport, WriteHalf};
use rustls::{AlertDescription, CertificateError, Connection};
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Raw bytes read from the socket at once: one maximal TLS record (16 KiB of payload plus
/// header and AEAD overhead), so the plaintext of one read always fits rustls' receive buffer.
pub(super) const RAW_READ: usize = 16 * 1024 + 5 + 256;
/// Plaintext encrypted per write call, so the output buffer stays small even when a pump
/// writes a whole large response at once.
const WRITE_CHUNK: usize = 16 * 1024;

/// Which side of the TLS connection the proxy is, naming the peer in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The proxy terminates TLS from a Kafka client.
    Server,
    /// The proxy originates TLS to a broker.
    Client,
}

impl Role {
    fn peer(self) -> &'static str {
        match self {
            Role::Server => "client",
            Role::Client => "broker",
        }
    }
}

type Shared = Arc<Mutex<Connection>>;

fn lock(conn: &Shared) -> MutexGuard<'_, Connection> {
    // A panic elsewhere cannot leave rustls' state half-updated in a way that matters more
    // than the connection failing on its next record.
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The read half: raw socket reads outside the lock.
pub struct TlsReader {
    conn: Shared,
    socket: Socket,
    role: Role,
    raw: RawBuffer,
    eof: bool,
}

/// Raw bytes read from the socket; `bytes[start..end]` not yet handed to rustls.
struct RawBuffer {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl RawBuffer {
    fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Hands buffered raw bytes to rustls and processes them. Stops early when rustls'
    /// plaintext buffer is full: the caller drains it, then feeds the rest.
    fn feed(&mut self, conn: &mut Connection, role: Role) -> io::Result<()> {
        while self.start < self.end {
            let mut slice = &self.bytes[self.start..self.end];
            let before = slice.len();
            match conn.read_tls(&mut slice) {
                Ok(_) => {}
                // "received plaintext buffer full".
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => return Err(e),
            }
            let used = before - slice.len();
            self.start += used;
            conn.process_new_packets()
                .map_err(|e| tls_error(&e, role, None, false))?;
            if used == 0 {
                break;
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(())
    }
}

impl Read for TlsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            {
                let mut conn = lock(&self.conn);
                loop {
                    match conn.reader().read(buf) {
                        // Ok(0) is the peer's close_notify: a clean end.
                        Ok(n) => return Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        // TCP closed without close_notify. Kafka framing already tells a
                        // cut-off frame from a close between frames, so this is an ordinary end.
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                        Err(e) => return Err(e),
                    }
                    let pending = self.raw.pending();
                    if pending == 0 {
                        break;
                    }
                    self.raw.feed(&mut conn, self.role)?;
                    if self.raw.pending() == pending {
                        return Err(io::Error::other("TLS reader made no progress"));
                    }
                }
                if self.eof {
                    return Ok(0);
                }
            }
            // No plaintext and no raw bytes left: wait on the socket, without the lock.
            if self.raw.bytes.len() < RAW_READ {
                self.raw.bytes.resize(RAW_READ, 0);
            }
            let n = self.socket.read(&mut self.raw.bytes)?;
            if n == 0 {
                self.eof = true;
                // Tell rustls the transport ended, so it can report a missing close_notify.
                let _ = lock(&self.conn).read_tls(&mut &[][..]);
                continue;
            }
            self.raw.start = 0;
            self.raw.end = n;
        }
    }
}

/// The write half: encrypts under the lock, writes to the socket outside it.
pub struct TlsWriter {
    conn: Shared,
    socket: Socket,
    out: Vec<u8>,
}

impl Write for TlsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let chunk = &buf[..buf.len().min(WRITE_CHUNK)];
        let written = {
            let mut conn = lock(&self.conn);
            let written = conn.writer().write(chunk)?;
            while conn.wants_write() {
                conn.write_tls(&mut self.out)?;
            }
            written
        };
        let result = self.socket.write_all(&self.out);
        self.out.clear();
        if self.out.capacity() > 4 * WRITE_CHUNK {
            self.out = Vec::new();
        }
        result.map(|()| written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A TLS connection over TCP, after its handshake.
pub struct TlsStream {
    reader: TlsReader,
    writer: TlsWriter,
    description: String,
    /// The client certificate's subject, set by the listener once it has checked it.
    peer_subject: Option<String>,
}

impl TlsStream {
    /// The certificates the peer presented, end-entity first.
    pub fn peer_certificates(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        lock(&self.reader.conn)
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default()
    }

    pub fn set_peer_subject(&mut self, subject: String) {
        self.peer_subject = Some(subject);
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl Transport for TlsStream {
    fn socket(&self) -> &Socket {
        &self.reader.socket
    }

    fn split(self: Box<Self>) -> io::Result<(ReadHalf, WriteHalf)> {
        let this = *self;
        Ok((Box::new(this.reader), Box::new(this.writer)))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn peer_subject(&self) -> Option<&str> {
        self.peer_subject.as_deref()
    }
}

/// Runs the TLS handshake on `socket` within `timeout`, then returns the stream. `server_name`
/// (client role) is only used in messages. A client that closes before sending a byte gives
/// `ErrorKind::NotConnected`, so the caller can log it as an ordinary close.
pub fn handshake(
    conn: impl Into<Connection>,
    socket: impl Into<Socket>,
    role: Role,
    timeout: Duration,
    server_name: Option<&str>,
) -> io::Result<TlsStream> {
    let deadline = Instant::now() + timeout;
    handshake_until(conn, socket, role, deadline, timeout, server_name)
}

/// [`handshake`] by `deadline` (`timeout` is how long it was, for messages): for a server
/// connection that began with a ClientHello read on its own (`super::hello`), the deadline set
/// before that read.
pub fn handshake_until(
    conn: impl Into<Connection>,
    socket: impl Into<Socket>,
    role: Role,
    deadline: Instant,
    timeout: Duration,
    server_name: Option<&str>,
) -> io::Result<TlsStream> {
    let mut conn: Connection = conn.into();
    let socket: Socket = socket.into();
    let left = |what: &str| {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "TLS handshake with the {} did not finish within {timeout:?} ({what})",
                    role.peer()
                ),
            ))
        } else {
            Ok(left)
        }
    };
    let mut raw = vec![0u8; RAW_READ];
    // A server connection with its ServerHello already due has read the client's first bytes.
    let mut first_read = !conn.wants_write();
    let mut writer = &*socket;
    let mut reader = &*socket;
    loop {
        while conn.wants_write() {
            socket.set_write_timeout(Some(left("writing")?))?;
            conn.write_tls(&mut writer)
                .map_err(|e| timed(e, role, timeout))?;
        }
        if !conn.is_handshaking() {
            break;
        }
        socket.set_read_timeout(Some(left("waiting for the peer")?))?;
        let n = match reader.read(&mut raw) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(timed(e, role, timeout)),
        };
        if n == 0 && first_read && role == Role::Server {
            // A port probe (load balancer, monitoring) rather than a failed client.
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "client closed the connection before sending anything",
            ));
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                match role {
                    Role::Server => "client closed the connection during the TLS handshake \
                                     (it may not trust the proxy's certificate)"
                        .to_string(),
                    Role::Client => "broker closed the connection during the TLS handshake (is \
                                     the broker port plaintext? then drop --tls-enable; or it \
                                     wants a client certificate: --tls-client-cert-file)"
                        .to_string(),
                },
            ));
        }
        if first_read && role == Role::Server {
            not_tls_greeting(&raw[..n])?;
        }
        first_read = false;
        let mut slice = &raw[..n];
        while !slice.is_empty() {
            conn.read_tls(&mut slice)?;
            if let Err(e) = conn.process_new_packets() {
                // Send our alert so the peer learns why, then report.
                while conn.wants_write() {
                    if conn.write_tls(&mut writer).is_err() {
                        break;
                    }
                }
                return Err(tls_error(&e, role, server_name, true));
            }
        }
    }
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "TLS",
    };
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!(" {:?}", s.suite()))
        .unwrap_or_default();
    let description = format!("{version}{suite}");
    let shared = Arc::new(Mutex::new(conn));
    let write_socket = socket.clone();
    Ok(TlsStream {
        reader: TlsReader {
            conn: Arc::clone(&shared),
            socket,
            role,
            raw: RawBuffer {
                bytes: Vec::new(),
                start: 0,
                end: 0,
            },
            eof: false,
        },
        writer: TlsWriter {
            conn: shared,
            socket: write_socket,
            out: Vec::new(),
        },
        description,
        peer_subject: None,
    })
}

fn timed(e: io::Error, role: Role, timeout: Duration) -> io::Error {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "TLS handshake with the {} did not finish within {timeout:?}",
                role.peer()
            ),
        )
    } else {
        e
    }
}

/// The first bytes a client sent to a TLS listener, when they are not a TLS handshake record.
pub(super) fn not_tls_greeting(first: &[u8]) -> io::Result<()> {
    match first {
        [0x16, ..] => Ok(()),
        // A Kafka request: a 4-byte size whose high byte is zero for any sane frame.
        [0x00, ..] => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "client sent plaintext (looks like a Kafka request) to a TLS listener: configure \
             the client for SSL (security.protocol=SSL), or disable \
             --proxy-listener-tls-enable",
        )),
        [b'G' | b'P' | b'H', ..] => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "client sent what looks like HTTP to a TLS listener that speaks Kafka",
        )),
        [b, ..] => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("client did not start a TLS handshake (first byte 0x{b:02x})"),
        )),
        [] => Ok(()),
    }
}

/// A rustls error as a sentence naming the peer and the likely fix.
pub fn tls_error(
    e: &rustls::Error,
    role: Role,
    server_name: Option<&str>,
    during_handshake: bool,
) -> io::Error {
    let peer = role.peer();
    let message = match e {
        rustls::Error::InvalidCertificate(cert) => certificate_error(cert, role, server_name),
        rustls::Error::NoCertificatesPresented => match role {
            Role::Server => "client sent no certificate, but the listener requires one \
                             (--proxy-listener-ca-chain-cert-file)"
                .to_string(),
            Role::Client => "broker sent no certificate".to_string(),
        },
        rustls::Error::AlertReceived(alert) => alert_message(*alert, role),
        rustls::Error::PeerIncompatible(why) => format!(
            "the {peer} has no TLS version, cipher suite or curve in common with the proxy \
             ({why:?})"
        ),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }
            if role == Role::Client =>
        {
            format!(
                "broker did not answer with TLS ({e}): is the broker port plaintext? then drop \
                 --tls-enable"
            )
        }
        other => format!("{other}"),
    };
    let context = if during_handshake {
        format!("TLS handshake with the {peer} failed")
    } else {
        format!("TLS error on the {peer} connection")
    };
    io::Error::new(io::ErrorKind::InvalidData, format!("{context}: {message}"))
}

fn certificate_error(e: &CertificateError, role: Role, server_name: Option<&str>) -> String {
    let whose = match role {
        Role::Server => "client certificate",
        Role::Client => "broker certificate",
    };
    let trust = match role {
        Role::Server => "--proxy-listener-ca-chain-cert-file",
        Role::Client => "--tls-ca-chain-cert-file or --tls-system-cert-pool",
    };
    match e {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("{whose} has expired ({e:?})")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("{whose} is not valid yet ({e:?})")
        }
        CertificateError::UnknownIssuer => {
            format!("{whose} is not signed by a trusted CA ({trust})")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "{whose} is not valid for the broker host {} ({e:?})",
                server_name.unwrap_or("?")
            )
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("{whose} is not meant for this use (its extendedKeyUsage): {e:?}")
        }
        CertificateError::Revoked => {
            format!("{whose} is revoked (--proxy-listener-crl-file)")
        }
        // webpki reads X.509 v3 only; its error comes wrapped, so it is recognised by name.
        other if format!("{other:?}").contains("UnsupportedCertVersion") => format!(
            "{whose} is X.509 v1 (made with `openssl x509 -req` and no extensions file), \
             which the proxy's TLS library does not accept: re-issue it as v3 (add \
             `-extfile` with e.g. `basicConstraints=CA:FALSE`)"
        ),
        other => format!("{whose} rejected: {other:?}"),
    }
}

fn alert_message(alert: AlertDescription, role: Role) -> String {
    use AlertDescription as A;
    match (role, alert) {
        (Role::Server, A::BadCertificate | A::UnknownCA | A::CertificateUnknown) => format!(
            "client rejected the proxy's certificate (TLS alert {alert:?}): give the client the \
             CA of --proxy-listener-cert-file"
        ),
        (Role::Client, A::BadCertificate | A::UnknownCA | A::CertificateUnknown) => format!(
            "broker rejected the proxy's client certificate (TLS alert {alert:?}): check \
             --tls-client-cert-file"
        ),
        (Role::Client, A::CertificateRequired | A::HandshakeFailure) => format!(
            "broker refused the handshake (TLS alert {alert:?}): does it require a client \
             certificate (--tls-client-cert-file)?"
        ),
        (_, alert) => format!("the {} sent TLS alert {alert:?}", role.peer()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_plaintext_greetings() {
        assert!(not_tls_greeting(&[0x16, 3, 1]).is_ok());
        let err = not_tls_greeting(&[0, 0, 0, 20, 0, 18]).unwrap_err();
        assert!(
            err.to_string().contains("looks like a Kafka request"),
            "{err}"
        );
        assert!(not_tls_greeting(b"GET / HTTP/1.1")
            .unwrap_err()
            .to_string()
            .contains("HTTP"));
        assert!(not_tls_greeting(&[0x99]).is_err());
    }

    #[test]
    fn errors_name_the_cause() {
        let e = tls_error(
            &rustls::Error::InvalidCertificate(CertificateError::Expired),
            Role::Client,
            Some("b"),
            true,
        );
        assert!(
            e.to_string().contains("broker certificate has expired"),
            "{e}"
        );
        let e = tls_error(
            &rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            Role::Server,
            None,
            true,
        );
        assert!(
            e.to_string()
                .contains("--proxy-listener-ca-chain-cert-file"),
            "{e}"
        );
        let e = tls_error(
            &rustls::Error::NoCertificatesPresented,
            Role::Server,
            None,
            true,
        );
        assert!(e.to_string().contains("client sent no certificate"), "{e}");
        let e = tls_error(
            &rustls::Error::AlertReceived(AlertDescription::UnknownCA),
            Role::Server,
            None,
            true,
        );
        assert!(
            e.to_string()
                .contains("client rejected the proxy's certificate"),
            "{e}"
        );
    }
}
