//! TLS to an `https://` forward proxy, and the broker's bytes inside it ([`TlsTunnel`]): the
//! trust store, the handshake within the dial's deadline, and a stream both pumps can use.

use super::*;

/// The client configuration for `https://` proxies, built once per process: it depends only
/// on the trust store.
pub(super) fn tls_config() -> Result<Arc<ClientConfig>, Failure> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(build_tls_config)
        .clone()
        .map_err(Failure::TrustStore)
}

pub(super) fn build_tls_config() -> Result<Arc<ClientConfig>, String> {
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

pub(super) fn server_name(address: &HostPort) -> Result<ServerName<'static>, Failure> {
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

pub(super) fn tls_handshake(
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
pub(super) const TLS_READ_CHUNK: usize = 16 * 1024 + 512;
/// Plaintext encrypted per write call, so one call never buffers more than a record or so.
pub(super) const TLS_WRITE_CHUNK: usize = 16 * 1024;

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

pub(super) struct TlsShared {
    conn: Mutex<ClientConnection>,
    send: Mutex<()>,
}

impl TlsTunnel {
    pub(super) fn new(conn: ClientConnection, socket: TcpStream) -> TlsTunnel {
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
