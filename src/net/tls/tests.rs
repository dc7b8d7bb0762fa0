//! TLS over loopback sockets with the fixtures in `testdata/` (test-only keys, made once with the
//! openssl CLI: an EC CA valid for 100 years, a server certificate for localhost and 127.0.0.1,
//! a client certificate `/O=team/CN=client-1`, and the client key encrypted in each supported
//! format with the password `secret`; an encrypted RSA key too).

use super::build::{client_material, server_config};
use super::keys::{self, Source};
use super::stream::{handshake, Role};
use crate::config::{BrokerTlsConfig, ListenerTlsConfig, Secret};
use crate::net::stream::Transport;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/net/tls/testdata")
        .join(name)
}

fn listener_config(client_ca: bool) -> ListenerTlsConfig {
    ListenerTlsConfig {
        cert_file: data("server.pem"),
        key_file: data("server.key"),
        key_password: None,
        ca_chain_cert_file: client_ca.then(|| data("ca.pem")),
        crl_file: None,
        cipher_suites: Vec::new(),
        curve_preferences: Vec::new(),
        required_client_subjects: Vec::new(),
        refresh: Duration::ZERO,
    }
}

fn broker_config(client_cert: bool) -> BrokerTlsConfig {
    BrokerTlsConfig {
        ca_chain_cert_file: Some(data("ca.pem")),
        system_cert_pool: false,
        client_cert_file: client_cert.then(|| data("client.pem")),
        client_key_file: client_cert.then(|| data(CLIENT_KEY)),
        client_key_password: client_cert.then(|| Secret("secret".into())),
        insecure_skip_verify: false,
        same_client_cert_enable: false,
        refresh: Duration::ZERO,
    }
}

/// The client key the handshake tests use: encrypted where the build can decrypt it (the
/// password is ignored for a plain key).
const CLIENT_KEY: &str = if cfg!(feature = "encrypted-keys") {
    "client-pkcs8-aes256.key"
} else {
    "client.key"
};

fn load_key(name: &str, password: Option<&str>) -> Result<(), String> {
    let secret = password.map(|p| Secret(p.to_string()));
    keys::load_key(
        Source {
            path: &data(name),
            flag: "tls-client-key-file",
        },
        secret.as_ref(),
        "tls-client-key-password",
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// The encrypted test keys: every supported format.
const ENCRYPTED_KEYS: &[&str] = &[
    "client-pkcs8-aes256.key",
    "client-pkcs8-des3.key",
    "client-legacy-aes128.key",
    "client-legacy-des3.key",
    "rsa-legacy-aes256.key",
];

#[cfg(feature = "encrypted-keys")]
#[test]
fn every_encrypted_key_format_loads() {
    for name in ["client.key"].iter().chain(ENCRYPTED_KEYS) {
        load_key(name, Some("secret")).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // The decrypted EC keys belong to the client certificate.
    for name in ["client-pkcs8-des3.key", "client-legacy-aes128.key"] {
        let mut config = broker_config(true);
        config.client_key_file = Some(data(name));
        client_material(&config).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[cfg(not(feature = "encrypted-keys"))]
#[test]
fn encrypted_keys_are_refused_without_the_feature() {
    for name in ENCRYPTED_KEYS {
        for password in [Some("secret"), None] {
            let err = load_key(name, password).unwrap_err();
            assert!(err.contains(name), "{err}");
            assert!(
                err.contains("built without encrypted-key support")
                    && err.contains("openssl pkey -in ")
                    && err.contains("--features encrypted-keys"),
                "{name}: {err}"
            );
        }
    }
    load_key("client.key", Some("secret")).unwrap();
}

#[test]
fn bad_keys_are_named() {
    #[cfg(feature = "encrypted-keys")]
    for name in [
        "client-pkcs8-aes256.key",
        "client-legacy-aes128.key",
        "rsa-legacy-aes256.key",
    ] {
        let err = load_key(name, Some("wrong")).unwrap_err();
        assert!(
            err.contains("wrong password (--tls-client-key-password)"),
            "{name}: {err}"
        );
        assert!(err.contains(name), "{err}");
        let err = load_key(name, None).unwrap_err();
        assert!(err.contains("the key is encrypted"), "{name}: {err}");
    }
    let err = load_key("client.pem", None).unwrap_err();
    assert!(
        err.contains("holds a certificate, not a private key"),
        "{err}"
    );
    let err = load_key("missing.key", None).unwrap_err();
    assert!(err.contains("cannot read"), "{err}");

    let mut config = listener_config(false);
    config.key_file = data("client.key");
    let err = server_config(&config).unwrap_err().to_string();
    assert!(err.contains("do not match"), "{err}");
    config.key_file = data("server.key");
    config.cert_file = data("server.key");
    let err = server_config(&config).unwrap_err().to_string();
    assert!(err.contains("no PEM CERTIFICATE"), "{err}");
}

/// Runs a server handshake on one side and a client handshake on the other.
fn pair(
    listener: &ListenerTlsConfig,
    broker: &BrokerTlsConfig,
    name: &str,
) -> (
    Result<super::stream::TlsStream, std::io::Error>,
    Result<super::stream::TlsStream, std::io::Error>,
) {
    let server = Arc::new(server_config(listener).unwrap());
    let client = client_material(broker).unwrap().client;
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = tcp.local_addr().unwrap();
    let accept = thread::spawn(move || {
        let (socket, _) = tcp.accept().unwrap();
        let conn = ServerConnection::new(server).unwrap();
        handshake(conn, socket, Role::Server, Duration::from_secs(5), None)
    });
    let socket = TcpStream::connect(addr).unwrap();
    let conn =
        ClientConnection::new(client, ServerName::try_from(name.to_string()).unwrap()).unwrap();
    let client_side = handshake(
        conn,
        socket,
        Role::Client,
        Duration::from_secs(5),
        Some(name),
    );
    if client_side.is_err() {
        // Let the server see the failure too.
        drop(client_side);
        return (
            accept.join().unwrap(),
            Err(std::io::Error::other("client failed")),
        );
    }
    (accept.join().unwrap(), client_side)
}

#[test]
fn mutual_tls_both_directions_at_once() {
    let (server, client) = pair(&listener_config(true), &broker_config(true), "localhost");
    let server = Box::new(server.unwrap());
    let client = Box::new(client.unwrap());
    let leaf = server.peer_certificates();
    let subject = super::subject::subject_of(&leaf[0]).unwrap();
    assert_eq!(subject.to_string(), "/O=team/CN=client-1");
    assert!(
        client.describe().starts_with("TLS 1.3"),
        "{}",
        client.describe()
    );

    // The server echoes; the client writes 4 MiB from one thread while reading from another,
    // so both halves of both connections are busy at once.
    let (mut server_read, mut server_write) = server.split().unwrap();
    let echo = thread::spawn(move || {
        let mut buf = vec![0u8; 7000];
        loop {
            match server_read.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => server_write.write_all(&buf[..n]).unwrap(),
                Err(e) => panic!("server read: {e}"),
            }
        }
    });
    let total = 4 << 20;
    let (mut client_read, mut client_write) = client.split().unwrap();
    let writer = thread::spawn(move || {
        let chunk: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        while sent < total {
            let n = chunk.len().min(total - sent);
            client_write.write_all(&chunk[..n]).unwrap();
            sent += n;
        }
        client_write
    });
    let mut received = 0usize;
    let mut buf = vec![0u8; 65536];
    while received < total {
        let n = client_read.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {received} bytes");
        for (i, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, (((received + i) % 100_000) % 251) as u8);
        }
        received += n;
    }
    let client_write = writer.join().unwrap();
    drop(client_write);
    drop(client_read);
    echo.join().unwrap();
}

#[test]
fn handshake_failures_name_the_cause() {
    // The listener requires a client certificate; the client has none.
    let (server, _) = pair(&listener_config(true), &broker_config(false), "localhost");
    let err = server.err().expect("server must fail").to_string();
    assert!(err.contains("client sent no certificate"), "{err}");

    // The broker's certificate does not name the host the proxy dialed.
    let server = Arc::new(server_config(&listener_config(false)).unwrap());
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = tcp.local_addr().unwrap();
    let accept = thread::spawn(move || {
        let (socket, _) = tcp.accept().unwrap();
        let _ = handshake(
            ServerConnection::new(server).unwrap(),
            socket,
            Role::Server,
            Duration::from_secs(5),
            None,
        );
    });
    let conn = ClientConnection::new(
        client_material(&broker_config(false)).unwrap().client,
        ServerName::try_from("broker.example").unwrap(),
    )
    .unwrap();
    let err = handshake(
        conn,
        TcpStream::connect(addr).unwrap(),
        Role::Client,
        Duration::from_secs(5),
        Some("broker.example"),
    )
    .err()
    .expect("wrong host must fail")
    .to_string();
    assert!(
        err.contains("broker certificate is not valid for the broker host broker.example"),
        "{err}"
    );
    accept.join().unwrap();
}

#[test]
fn plaintext_client_and_silent_client() {
    let server = Arc::new(server_config(&listener_config(false)).unwrap());
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = tcp.local_addr().unwrap();
    let accept_server = Arc::clone(&server);
    let accept = thread::spawn(move || {
        let mut errors = Vec::new();
        for timeout in [Duration::from_secs(5), Duration::from_millis(200)] {
            let (socket, _) = tcp.accept().unwrap();
            let conn = ServerConnection::new(Arc::clone(&accept_server)).unwrap();
            errors.push(
                handshake(conn, socket, Role::Server, timeout, None)
                    .err()
                    .map(|e| e.to_string()),
            );
        }
        errors
    });
    let mut plaintext = TcpStream::connect(addr).unwrap();
    // An ApiVersions v0 request, as a Kafka client without TLS sends it.
    plaintext
        .write_all(&[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff])
        .unwrap();
    let silent = TcpStream::connect(addr).unwrap();
    let errors = accept.join().unwrap();
    let first = errors[0].clone().unwrap();
    assert!(
        first.contains("plaintext (looks like a Kafka request)"),
        "{first}"
    );
    let second = errors[1].clone().unwrap();
    assert!(second.contains("did not finish within"), "{second}");
    drop(silent);
}

/// An X.509 v1 client certificate (`openssl x509 -req -signkey client.key` with no extensions:
/// the common way to make one, accepted by Java, librdkafka and OpenSSL) loads with its key, and
/// a v1 certificate with another key is still refused. webpki, which rustls' own check uses,
/// refuses v1 certificates, so this once failed with "do not match".
#[test]
fn x509_v1_client_certificate_loads() {
    let mut config = broker_config(true);
    config.client_cert_file = Some(data("client-v1.pem"));
    config.client_key_file = Some(data("client.key"));
    config.client_key_password = None;
    client_material(&config).expect("a v1 certificate and its key");

    config.client_key_file = Some(data("server.key"));
    let err = client_material(&config).unwrap_err().to_string();
    assert!(err.contains("do not match"), "{err}");
    assert!(err.contains("another public key"), "{err}");
}

/// At an mTLS listener a client presenting an X.509 v1 certificate is refused (the verifier
/// reads v3 only), with a log line that says so and how to re-issue it.
#[test]
fn x509_v1_client_certificate_at_the_listener_is_named() {
    let mut broker = broker_config(true);
    broker.client_cert_file = Some(data("client-v1.pem"));
    broker.client_key_file = Some(data("client.key"));
    broker.client_key_password = None;
    let (server, _) = pair(&listener_config(true), &broker, "localhost");
    let err = server
        .err()
        .expect("the listener must refuse it")
        .to_string();
    assert!(err.contains("client certificate is X.509 v1"), "{err}");
    assert!(err.contains("re-issue it as v3"), "{err}");
}

/// A client asking for `name`, against a server that reads the ClientHello first
/// (`hello::read`) and goes on with the handshake only when the name is `localhost`, refusing
/// any other with the unrecognized_name alert. Returns the name the server saw and the
/// client's handshake.
fn hello_pair(
    name: &str,
    sni: bool,
) -> (
    Option<String>,
    Result<super::stream::TlsStream, std::io::Error>,
) {
    let server = Arc::new(server_config(&listener_config(false)).unwrap());
    let mut client = (*client_material(&broker_config(false)).unwrap().client).clone();
    client.enable_sni = sni;
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = tcp.local_addr().unwrap();
    let accept = thread::spawn(move || {
        let (socket, _) = tcp.accept().unwrap();
        let hello = super::hello::read(&socket, Duration::from_secs(5)).unwrap();
        let seen = hello.server_name();
        if seen.as_deref() != Some("localhost") {
            super::hello::refuse_unrecognized_name(&socket, &hello);
            return seen;
        }
        let deadline = hello.deadline.instant();
        let conn = hello.into_connection(server, &mut &socket).unwrap();
        let mut tls = super::stream::handshake_until(
            conn,
            socket,
            Role::Server,
            deadline,
            Duration::from_secs(5),
            None,
        )
        .unwrap();
        let mut buf = [0u8; 5];
        tls.read_exact(&mut buf).unwrap();
        tls.write_all(&buf).unwrap();
        seen
    });
    let socket = TcpStream::connect(addr).unwrap();
    let conn = ClientConnection::new(
        Arc::new(client),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap();
    let mut client_side = handshake(
        conn,
        socket,
        Role::Client,
        Duration::from_secs(5),
        Some(name),
    );
    if let Ok(tls) = &mut client_side {
        tls.write_all(b"hello").unwrap();
        let mut buf = [0u8; 5];
        tls.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
    }
    (accept.join().unwrap(), client_side)
}

#[test]
fn the_client_hello_is_read_first_and_the_handshake_goes_on() {
    let (seen, client) = hello_pair("LocalHost", true);
    // rustls hands the name over lowercase.
    assert_eq!(seen.as_deref(), Some("localhost"));
    client.unwrap();
}

#[test]
fn unknown_and_missing_names_get_unrecognized_name() {
    let (seen, client) = hello_pair("other.localhost", true);
    assert_eq!(seen.as_deref(), Some("other.localhost"));
    let err = client.err().expect("the handshake is refused").to_string();
    assert!(err.contains("UnrecognisedName"), "{err}");
    let (seen, client) = hello_pair("localhost", false);
    assert_eq!(seen, None);
    let err = client.err().expect("the handshake is refused").to_string();
    assert!(err.contains("UnrecognisedName"), "{err}");
}
