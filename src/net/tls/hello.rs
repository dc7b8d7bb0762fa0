//! The first step of a TLS handshake on its own: read the client's ClientHello (within the
//! handshake deadline) and hand back its server name, so the listener can decide where the
//! connection goes before the handshake goes on ([`super::Tls::accept_hello`]), or refuse it with
//! an `unrecognized_name` alert ([`refuse_unrecognized_name`]).

use super::stream::{not_tls_greeting, tls_error, Role, RAW_READ};
use crate::net::deadline::Deadline;
use rustls::server::{Accepted, Acceptor};
use rustls::{ServerConfig, ServerConnection};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// A ClientHello read, with the deadline the rest of the handshake must meet.
pub struct Hello {
    pub(super) accepted: Accepted,
    /// Bytes the client sent after its ClientHello, read with it.
    pub(super) rest: Vec<u8>,
    pub(super) deadline: Deadline,
    pub(super) timeout: Duration,
}

impl Hello {
    /// The server side of the handshake with `config`, given the bytes read after the
    /// ClientHello. A ClientHello `config` cannot serve gets rustls' alert, written to
    /// `alert_to`.
    pub fn into_connection(
        self,
        config: Arc<ServerConfig>,
        alert_to: &mut dyn Write,
    ) -> io::Result<ServerConnection> {
        let mut conn = self
            .accepted
            .into_connection(config)
            .map_err(|(e, mut alert)| {
                let _ = alert.write_all(alert_to);
                tls_error(&e, Role::Server, None, true)
            })?;
        let mut rest = &self.rest[..];
        while !rest.is_empty() {
            if conn.read_tls(&mut rest)? == 0 {
                return Err(io::Error::other(
                    "TLS handshake with the client made no progress",
                ));
            }
            conn.process_new_packets()
                .map_err(|e| tls_error(&e, Role::Server, None, true))?;
        }
        Ok(conn)
    }

    /// The server name the client asked for (SNI), if it sent one.
    pub fn server_name(&self) -> Option<String> {
        self.accepted
            .client_hello()
            .server_name()
            .map(str::to_owned)
    }
}

/// Reads a ClientHello from `socket` within `timeout`. Bytes read after it (a TLS 1.3 client's
/// ChangeCipherSpec) are kept for the rest of the handshake ([`Hello::into_connection`]). A client that closes before
/// sending a byte gives `ErrorKind::NotConnected`, as [`super::stream::handshake`] does.
pub fn read(socket: &TcpStream, timeout: Duration) -> io::Result<Hello> {
    let deadline = Deadline::after(timeout);
    let mut acceptor = Acceptor::default();
    let mut raw = vec![0u8; RAW_READ];
    let mut first_read = true;
    loop {
        let left = deadline.left().ok_or_else(|| timed_out(timeout))?;
        socket.set_read_timeout(Some(left))?;
        socket.set_write_timeout(Some(left))?;
        let n = match (&*socket).read(&mut raw) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out(timeout))
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Err(if first_read {
                io::Error::new(
                    io::ErrorKind::NotConnected,
                    "client closed the connection before sending anything",
                )
            } else {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "client closed the connection in the middle of its TLS ClientHello",
                )
            });
        }
        if first_read {
            not_tls_greeting(&raw[..n])?;
            first_read = false;
        }
        let mut alert_to = socket;
        if let Some((accepted, rest)) = feed(&mut acceptor, &raw[..n], &mut alert_to)? {
            return Ok(Hello {
                accepted,
                rest,
                deadline,
                timeout,
            });
        }
    }
}

/// Hands `bytes` to `acceptor`. `Some`: the ClientHello is complete, with the bytes after it
/// that the acceptor did not take (the rest of the handshake gets them). A ClientHello rustls
/// refuses gets its alert written to `alert_to`.
pub fn feed(
    acceptor: &mut Acceptor,
    mut bytes: &[u8],
    alert_to: &mut dyn Write,
) -> io::Result<Option<(Accepted, Vec<u8>)>> {
    while !bytes.is_empty() {
        if acceptor.read_tls(&mut bytes)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS handshake with the client failed: its ClientHello is too large",
            ));
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return Ok(Some((accepted, bytes.to_vec()))),
            Ok(None) => {}
            Err((e, mut alert)) => {
                let _ = alert.write_all(alert_to);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS handshake with the client failed: {e}"),
                ));
            }
        }
    }
    Ok(None)
}

/// The fatal `unrecognized_name` alert (RFC 6066 §3: level 2, description 112) as a plaintext
/// record: before the ServerHello no keys exist, so the alert goes out in the clear.
pub const UNRECOGNIZED_NAME_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// Tells the client its server name is not served, then the caller closes the connection.
pub fn refuse_unrecognized_name(socket: &TcpStream, hello: &Hello) {
    let _ = socket.set_write_timeout(hello.deadline.left().or(Some(Duration::from_millis(1))));
    if let Err(e) = (&*socket).write_all(&UNRECOGNIZED_NAME_ALERT) {
        log::debug!("could not send the unrecognized_name alert: {e}");
    }
}

fn timed_out(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("TLS handshake with the client did not finish within {timeout:?} (no ClientHello)"),
    )
}
