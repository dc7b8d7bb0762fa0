//! TLS on both sides of the proxy, with rustls and the ring provider: terminating client TLS on
//! the listeners (optionally requiring a client certificate, checking its subject) and
//! originating TLS to brokers (trust roots, client certificate, SNI and host name checks).
//!
//! - `build`: rustls configurations from the flags (cipher suites, curves, roots, CRLs).
//! - `keys`: certificates, CRLs and (encrypted) private keys from files.
//! - `subject`: client certificate subjects and the required-subject rules.
//! - `stream`: the handshake and the two-thread TLS stream.
//! - `reload`: the threads that pick up changed files.
//!
//! [`Tls::load`] builds everything once at startup, so a bad file is a startup error naming it.

mod build;
pub(crate) mod crl;
pub(crate) mod der;
pub mod hello;
pub mod keys;
mod reload;
pub mod stream;
pub mod subject;
#[cfg(test)]
mod tests;

use crate::config::Config;
use crate::net::stream::{Socket, Stream};
use build::BrokerMaterial;
use reload::{Reloader, Slot, Snapshot};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConfig, ServerConnection};
use std::io;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use stream::Role;
use subject::SubjectRules;

/// A TLS setting that cannot be used: a file that cannot be read or parsed, a password that
/// does not decrypt, flags that contradict each other. The message names the file and flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(String);

impl TlsError {
    pub fn new(message: impl Into<String>) -> TlsError {
        TlsError(message.into())
    }
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e.0)
    }
}

struct ListenerTls {
    config: Slot<ServerConfig>,
    subjects: SubjectRules,
}

struct BrokerTls {
    material: Slot<BrokerMaterial>,
    same_client_cert: bool,
}

/// The proxy's TLS state: current configurations for both sides and their reloaders.
pub struct Tls {
    listener: Option<ListenerTls>,
    broker: Option<BrokerTls>,
    handshake_timeout: Duration,
    reloaders: Mutex<Vec<Reloader>>,
}

impl Tls {
    /// Reads every file and builds both configurations; starts the reloaders when asked.
    pub fn load(config: &Config) -> Result<Tls, TlsError> {
        let mut reloaders = Vec::new();
        let listener = match &config.listener_tls {
            None => None,
            Some(listener) => {
                if listener.ca_chain_cert_file.is_none()
                    && !listener.required_client_subjects.is_empty()
                {
                    return Err(TlsError::new(
                        "--proxy-listener-tls-required-client-subject needs \
                         --proxy-listener-ca-chain-cert-file (without it clients send no \
                         certificate to check)",
                    ));
                }
                let subjects =
                    SubjectRules::parse(&listener.required_client_subjects).map_err(|e| {
                        TlsError::new(format!("--proxy-listener-tls-required-client-subject: {e}"))
                    })?;
                let files = build::listener_files(listener);
                let seen = Snapshot::take(&files);
                let slot: Slot<ServerConfig> =
                    Arc::new(RwLock::new(Arc::new(build::server_config(listener)?)));
                if !listener.refresh.is_zero() {
                    let reload_config = listener.clone();
                    reloaders.push(
                        Reloader::spawn(
                            "listener",
                            files,
                            listener.refresh,
                            seen,
                            Arc::clone(&slot),
                            move || build::server_config(&reload_config),
                        )
                        .map_err(|e| {
                            TlsError::new(format!("cannot start the TLS reloader: {e}"))
                        })?,
                    );
                }
                Some(ListenerTls {
                    config: slot,
                    subjects,
                })
            }
        };
        let broker = match &config.tls {
            None => None,
            Some(broker) => {
                if broker.insecure_skip_verify {
                    log::warn!(
                        "--tls-insecure-skip-verify: broker certificates are NOT verified; anyone \
                         on the network path can impersonate the brokers and read all traffic. \
                         Use only for testing."
                    );
                }
                if broker.same_client_cert_enable {
                    let mutual = config
                        .listener_tls
                        .as_ref()
                        .is_some_and(|l| l.ca_chain_cert_file.is_some());
                    if !mutual || broker.client_cert_file.is_none() {
                        return Err(TlsError::new(
                            "--tls-same-client-cert-enable compares the client's certificate with \
                             --tls-client-cert-file: it needs --proxy-listener-tls-enable with \
                             --proxy-listener-ca-chain-cert-file, and --tls-client-cert-file",
                        ));
                    }
                }
                let files = build::broker_files(broker);
                let seen = Snapshot::take(&files);
                let slot: Slot<BrokerMaterial> =
                    Arc::new(RwLock::new(Arc::new(build::client_material(broker)?)));
                if !broker.refresh.is_zero() {
                    let reload_config = broker.clone();
                    reloaders.push(
                        Reloader::spawn(
                            "broker",
                            files,
                            broker.refresh,
                            seen,
                            Arc::clone(&slot),
                            move || build::client_material(&reload_config),
                        )
                        .map_err(|e| {
                            TlsError::new(format!("cannot start the TLS reloader: {e}"))
                        })?,
                    );
                }
                Some(BrokerTls {
                    material: slot,
                    same_client_cert: broker.same_client_cert_enable,
                })
            }
        };
        Ok(Tls {
            listener,
            broker,
            handshake_timeout: config.limits.handshake_timeout,
            reloaders: Mutex::new(reloaders),
        })
    }

    pub fn listener_enabled(&self) -> bool {
        self.listener.is_some()
    }

    pub fn broker_enabled(&self) -> bool {
        self.broker.is_some()
    }

    /// Terminates a client's TLS: handshake, then the subject and same-certificate checks.
    /// Without listener TLS the socket is returned as it is.
    pub fn accept(&self, socket: impl Into<Socket>) -> io::Result<Stream> {
        let socket = socket.into();
        let Some(listener) = &self.listener else {
            return Ok(Box::new(socket));
        };
        let config = reload::current(&listener.config);
        let conn = ServerConnection::new(config)
            .map_err(|e| io::Error::other(format!("cannot start a TLS session: {e}")))?;
        let stream = stream::handshake(conn, socket, Role::Server, self.handshake_timeout, None)?;
        self.check_client(listener, stream)
    }

    /// [`Tls::accept`] for a client whose ClientHello was read already ([`hello::read`]), by
    /// the deadline that read began.
    pub fn accept_hello(
        &self,
        socket: impl Into<Socket>,
        hello: hello::Hello,
    ) -> io::Result<Stream> {
        let socket = socket.into();
        let Some(listener) = &self.listener else {
            return Err(io::Error::other(
                "a ClientHello was read, but listener TLS is off",
            ));
        };
        let config = reload::current(&listener.config);
        let _ = socket.set_write_timeout(hello.deadline.left());
        let (deadline, timeout) = (hello.deadline.instant(), hello.timeout);
        let conn = hello.into_connection(config, &mut &*socket)?;
        let stream = stream::handshake_until(conn, socket, Role::Server, deadline, timeout, None)?;
        self.check_client(listener, stream)
    }

    /// The checks on a client after its handshake: the certificate subject rules and
    /// `--tls-same-client-cert-enable`.
    fn check_client(
        &self,
        listener: &ListenerTls,
        mut stream: stream::TlsStream,
    ) -> io::Result<Stream> {
        let peer_certs = stream.peer_certificates();
        if let Some(leaf) = peer_certs.first() {
            let subject = subject::subject_of(leaf).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("cannot read the client certificate's subject: {e}"),
                )
            })?;
            if let Err(why) = listener.subjects.check(&subject) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "client certificate subject {subject} is not allowed by \
                         --proxy-listener-tls-required-client-subject: {why}"
                    ),
                ));
            }
            log::debug!("client certificate subject {subject}");
            stream.set_peer_subject(subject.to_string());
        }
        if let Some(broker) = self.broker.as_ref().filter(|b| b.same_client_cert) {
            let material = reload::current(&broker.material);
            let same = match (peer_certs.first(), &material.client_cert) {
                (Some(got), Some(want)) => got.as_ref() == want.as_ref(),
                _ => false,
            };
            if !same {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "client certificate is not the proxy's broker client certificate \
                     (--tls-same-client-cert-enable requires it to equal --tls-client-cert-file)",
                ));
            }
        }
        Ok(Box::new(stream))
    }

    /// Originates TLS to a broker. `broker_host` is the broker's own host name (from the
    /// mapping, not a `--dial-address-mapping` target): that is the name its certificate
    /// carries, so it is the SNI and the name verified. Without broker TLS the socket is
    /// returned as it is.
    pub fn connect(&self, socket: impl Into<Socket>, broker_host: &str) -> io::Result<Stream> {
        let socket = socket.into();
        let Some(broker) = &self.broker else {
            return Ok(Box::new(socket));
        };
        let material = reload::current(&broker.material);
        let host = broker_host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("broker host {host:?} is not a valid TLS server name: {e}"),
            )
        })?;
        let conn = ClientConnection::new(Arc::clone(&material.client), name)
            .map_err(|e| io::Error::other(format!("cannot start a TLS session: {e}")))?;
        let stream = stream::handshake(
            conn,
            socket,
            Role::Client,
            self.handshake_timeout,
            Some(host),
        )?;
        Ok(Box::new(stream))
    }

    /// Stops and joins the reloader threads.
    pub fn stop(&self) {
        let reloaders =
            std::mem::take(&mut *self.reloaders.lock().unwrap_or_else(|p| p.into_inner()));
        drop(reloaders);
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        self.stop();
    }
}
