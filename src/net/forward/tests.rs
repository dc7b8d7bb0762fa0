//! The reply parsers on byte literals (every prefix of a valid reply asks for more, never
//! errs), the request builders, and whole dials against scripted fake proxies on loopback:
//! success, refusals, malformed and oversize replies, closes mid-handshake, silence and
//! trickles bounded by the dial timeout, and an `https://` tunnel carrying data both ways.

use super::*;
use crate::config::Secret;
use std::net::TcpListener;
use std::thread::{self, JoinHandle};
use std::time::Instant;

const TEST_CA: &str = include_str!("../../../tests/data/forward/ca.pem");
const TEST_CERT: &str = include_str!("../../../tests/data/forward/proxy.pem");
const TEST_KEY: &str = include_str!("../../../tests/data/forward/proxy.key");

fn target() -> HostPort {
    HostPort {
        host: "broker.example".into(),
        port: 9092,
    }
}

fn forward(scheme: ForwardProxyScheme, port: u16, credentials: bool) -> ForwardProxy {
    ForwardProxy {
        scheme,
        address: HostPort {
            host: "127.0.0.1".into(),
            port,
        },
        username: credentials.then(|| "user".to_string()),
        password: credentials.then(|| Secret("s3cret".into())),
    }
}

/// A fake proxy on a free loopback port: accepts one connection and runs `script` on it.
fn fake(script: impl FnOnce(TcpStream) + Send + 'static) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        script(socket);
    });
    (port, handle)
}

fn read_n(s: &mut impl Read, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// Reads an HTTP request head, byte by byte.
fn read_head(s: &mut impl Read) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.extend(read_n(s, 1));
    }
    String::from_utf8(head).unwrap()
}

fn socks5_connect_bytes(host: &str, port: u16) -> Vec<u8> {
    let mut v = vec![5, 1, 0, 3, host.len() as u8];
    v.extend_from_slice(host.as_bytes());
    v.extend_from_slice(&port.to_be_bytes());
    v
}

const SOCKS5_OK_IPV4: [u8; 10] = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];

fn dial_err(proxy: &ForwardProxy, timeout: Duration) -> String {
    match dial(proxy, &target(), timeout) {
        Ok(_) => panic!("dial through {} succeeded", describe(proxy)),
        Err(e) => {
            let text = e.to_string();
            assert!(!text.contains("s3cret"), "password in {text}");
            text
        }
    }
}

/// Pings through the tunnel: the fake proxy answers `pong` to `ping`.
fn ping(stream: &mut Stream) {
    stream
        .socket()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"ping").unwrap();
    let mut pong = [0u8; 4];
    stream.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"pong");
}

fn pong(s: &mut (impl Read + Write)) {
    assert_eq!(read_n(s, 4), b"ping");
    s.write_all(b"pong").unwrap();
}

// --- Parsers -----------------------------------------------------------------------------

#[test]
fn method_selection() {
    let offered = [METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD];
    assert_eq!(parse_method_selection([5, 0], &offered), Ok(0));
    assert_eq!(parse_method_selection([5, 2], &offered), Ok(2));
    assert_eq!(parse_method_selection([5, 0xff], &offered), Ok(0xff));
    assert_eq!(
        parse_method_selection([5, 2], &[METHOD_NO_AUTH]),
        Err(ReplyError::UnofferedMethod(2))
    );
    assert_eq!(
        parse_method_selection([4, 0], &offered),
        Err(ReplyError::Socks5Version(4))
    );
}

#[test]
fn auth_reply() {
    assert_eq!(parse_auth_reply([1, 0]), Ok(0));
    assert_eq!(parse_auth_reply([1, 1]), Ok(1));
    assert_eq!(parse_auth_reply([5, 0]), Err(ReplyError::AuthVersion(5)));
}

#[test]
fn socks5_replies_and_every_prefix() {
    let mut domain = vec![5, 0, 0, 3, 9];
    domain.extend_from_slice(b"proxy.lan");
    domain.extend_from_slice(&[0x04, 0x38]);
    let mut ipv6 = vec![5, 0, 0, 4];
    ipv6.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    ipv6.extend_from_slice(&[0, 80]);
    for (reply, bound) in [
        (SOCKS5_OK_IPV4.to_vec(), "127.0.0.1:8080"),
        (domain, "proxy.lan:1080"),
        (ipv6, "[::1]:80"),
    ] {
        assert_eq!(
            parse_socks5_reply(&reply),
            Ok(Progress::Done(Socks5Reply::Succeeded {
                bound: bound.into()
            }))
        );
        for len in 0..reply.len() {
            match parse_socks5_reply(&reply[..len]) {
                Ok(Progress::Need(n)) => assert!(n > len && n <= reply.len(), "{len}: {n}"),
                other => panic!("prefix {len} of {reply:?}: {other:?}"),
            }
        }
    }
    assert_eq!(
        parse_socks5_reply(&[5, 5]),
        Ok(Progress::Done(Socks5Reply::Refused(5)))
    );
    assert_eq!(
        parse_socks5_reply(b"HTTP/1.1 400"),
        Err(ReplyError::Socks5Version(b'H'))
    );
    assert_eq!(
        parse_socks5_reply(&[5, 0, 1, 1]),
        Err(ReplyError::Reserved(1))
    );
    assert_eq!(
        parse_socks5_reply(&[5, 0, 0, 2, 0]),
        Err(ReplyError::AddressType(2))
    );
    // A domain reply with control bytes in the name is printed harmlessly.
    let reply = [5, 0, 0, 3, 2, b'\n', 0x1b, 0, 1];
    assert_eq!(
        parse_socks5_reply(&reply),
        Ok(Progress::Done(Socks5Reply::Succeeded {
            bound: "\\n\\u{1b}:1".into()
        }))
    );
}

#[test]
fn connect_responses_and_every_prefix() {
    for (head, status, reason) in [
        (
            &b"HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n"[..],
            200,
            "Connection established",
        ),
        (&b"HTTP/1.1 200 OK\n\n"[..], 200, "OK"),
        (&b"HTTP/1.1 204\r\n\r\n"[..], 204, ""),
        (
            &b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"[..],
            407,
            "Proxy Authentication Required",
        ),
    ] {
        let want = ConnectResponse {
            status,
            reason: reason.into(),
        };
        assert_eq!(parse_connect_response(head), Ok(Progress::Done(want)));
        for len in 0..head.len() {
            match parse_connect_response(&head[..len]) {
                Ok(Progress::Need(n)) => assert_eq!(n, len + 1),
                other => panic!("prefix {len}: {other:?}"),
            }
        }
    }
    assert!(ConnectResponse {
        status: 299,
        reason: String::new()
    }
    .is_success());
    assert!(!ConnectResponse {
        status: 300,
        reason: String::new()
    }
    .is_success());
}

#[test]
fn connect_response_errors() {
    assert_eq!(
        parse_connect_response(b"SSH-2.0"),
        Err(ReplyError::NotHttp {
            looks_like_socks5: false
        })
    );
    assert_eq!(
        parse_connect_response(&[5, 0]),
        Err(ReplyError::NotHttp {
            looks_like_socks5: true
        })
    );
    for bad in [
        &b"HTTP/2 200 OK\r\n\r\n"[..],
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.x 200 OK\r\n\r\n",
        b"HTTP/1.1  200 OK\r\n\r\n",
        b"HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(
            parse_connect_response(bad),
            Err(ReplyError::StatusLine),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
    endless.resize(MAX_CONNECT_RESPONSE, b'a');
    assert_eq!(
        parse_connect_response(&endless),
        Err(ReplyError::TooLong(MAX_CONNECT_RESPONSE))
    );
    // The reason phrase is cut and cleaned for the log.
    let mut long = b"HTTP/1.1 502 ".to_vec();
    long.extend(std::iter::repeat(b'x').take(crate::logging::PEER_TEXT_MAX));
    long.extend_from_slice(b"\x07\r\n\r\n");
    match parse_connect_response(&long) {
        Ok(Progress::Done(r)) => {
            assert_eq!(r.reason.chars().count(), crate::logging::PEER_TEXT_MAX + 1);
            assert!(r.reason.ends_with("xx…"), "{}", r.reason);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn fuzz_entry_point_on_samples() {
    let mut samples: Vec<Vec<u8>> = vec![
        SOCKS5_OK_IPV4.to_vec(),
        b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
        vec![5, 0, 0, 3, 255],
        vec![],
        vec![5],
    ];
    let mut state = 0x2545_f491_u32;
    for i in 0..2000 {
        let mut s = samples[i % samples.len()].clone();
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let at = state as usize % (s.len() + 1);
        s.insert(at, (state >> 8) as u8);
        samples.push(s);
    }
    for s in &samples {
        fuzz_replies(s);
    }
}

// --- Request builders --------------------------------------------------------------------

#[test]
fn socks5_requests() {
    assert_eq!(
        socks5_connect_request(&target()).unwrap(),
        socks5_connect_bytes("broker.example", 9092)
    );
    let v4 = HostPort {
        host: "10.1.2.3".into(),
        port: 1,
    };
    assert_eq!(
        socks5_connect_request(&v4).unwrap(),
        vec![5, 1, 0, 1, 10, 1, 2, 3, 0, 1]
    );
    for host in ["::1", "[::1]"] {
        let v6 = HostPort {
            host: host.into(),
            port: 2,
        };
        let req = socks5_connect_request(&v6).unwrap();
        assert_eq!(req[..4], [5, 1, 0, 4]);
        assert_eq!(req.len(), 4 + 16 + 2);
    }
    let long = HostPort {
        host: "a".repeat(256),
        port: 1,
    };
    assert!(matches!(
        socks5_connect_request(&long),
        Err(Failure::Invalid(_))
    ));
    assert!(socks5_connect_request(&HostPort {
        host: "a".repeat(255),
        port: 1
    })
    .is_ok());
    assert_eq!(
        socks5_auth_request("user", "pw").unwrap(),
        b"\x01\x04user\x02pw".to_vec()
    );
    assert!(socks5_auth_request("", "pw").is_err());
    assert!(socks5_auth_request("u", &"p".repeat(256)).is_err());
}

#[test]
fn connect_requests() {
    assert_eq!(
        connect_request(&target(), None).unwrap(),
        "CONNECT broker.example:9092 HTTP/1.1\r\nHost: broker.example:9092\r\n\r\n"
    );
    let req = connect_request(&target(), Some(("Aladdin", "open sesame"))).unwrap();
    assert!(req.contains("\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"));
    let v6 = HostPort {
        host: "::1".into(),
        port: 9092,
    };
    assert!(connect_request(&v6, None)
        .unwrap()
        .starts_with("CONNECT [::1]:9092 HTTP/1.1\r\n"));
    assert!(connect_request(&target(), Some(("a:b", "c"))).is_err());
    // A broker host from a metadata response cannot inject headers.
    for host in ["evil\r\nX-Injected: 1", "a b", "", "user@host", "h/p"] {
        let bad = HostPort {
            host: host.into(),
            port: 1,
        };
        assert!(
            matches!(connect_request(&bad, None), Err(Failure::Invalid(_))),
            "{host:?}"
        );
        assert!(socks5_connect_request(&bad).is_err(), "{host:?}");
    }
}

// --- Dials against fake proxies ------------------------------------------------------------

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn socks5_without_credentials() {
    let (port, proxy) = fake(|mut s| {
        assert_eq!(read_n(&mut s, 3), [5, 1, METHOD_NO_AUTH]);
        s.write_all(&[5, 0]).unwrap();
        let want = socks5_connect_bytes("broker.example", 9092);
        assert_eq!(read_n(&mut s, want.len()), want);
        s.write_all(&SOCKS5_OK_IPV4).unwrap();
        pong(&mut s);
    });
    let mut stream = dial(
        &forward(ForwardProxyScheme::Socks5, port, false),
        &target(),
        TIMEOUT,
    )
    .unwrap()
    .into_stream();
    ping(&mut stream);
    proxy.join().unwrap();
}

#[test]
fn socks5_with_credentials() {
    let (port, proxy) = fake(|mut s| {
        assert_eq!(read_n(&mut s, 4), [5, 2, 0, 2]);
        s.write_all(&[5, 2]).unwrap();
        assert_eq!(read_n(&mut s, 13), b"\x01\x04user\x06s3cret");
        s.write_all(&[1, 0]).unwrap();
        let want = socks5_connect_bytes("broker.example", 9092);
        assert_eq!(read_n(&mut s, want.len()), want);
        // A domain-typed reply, sent in two pieces.
        s.write_all(&[5, 0, 0, 3]).unwrap();
        thread::sleep(Duration::from_millis(20));
        s.write_all(b"\x05proxy\x04\x38").unwrap();
        pong(&mut s);
    });
    let mut stream = dial(
        &forward(ForwardProxyScheme::Socks5, port, true),
        &target(),
        TIMEOUT,
    )
    .unwrap()
    .into_stream();
    ping(&mut stream);
    proxy.join().unwrap();
}

/// Runs a SOCKS5 fake proxy that answers the greeting with `method`, then (for method 2)
/// answers authentication with `auth`, then CONNECT with `reply`, and returns the dial error.
fn socks5_failure(method: u8, auth: &'static [u8], reply: &'static [u8]) -> String {
    let (port, proxy) = fake(move |mut s| {
        let _ = read_n(&mut s, 4);
        s.write_all(&[5, method]).unwrap();
        if method == 2 {
            let _ = read_n(&mut s, 13);
            s.write_all(auth).unwrap();
            if auth != [1, 0] {
                return;
            }
        }
        if method == 0xff {
            return;
        }
        let _ = read_n(&mut s, socks5_connect_bytes("broker.example", 9092).len());
        s.write_all(reply).unwrap();
    });
    let e = dial_err(&forward(ForwardProxyScheme::Socks5, port, true), TIMEOUT);
    proxy.join().unwrap();
    e
}

#[test]
fn socks5_failures_are_named() {
    let e = socks5_failure(2, &[1, 1], &[]);
    assert!(e.starts_with("forward proxy socks5://127.0.0.1:"), "{e}");
    assert!(
        e.ends_with("rejected the username or password (RFC 1929 status 0x01)"),
        "{e}"
    );
    let e = socks5_failure(0xff, &[], &[]);
    assert!(
        e.contains("accepts neither username/password nor no authentication"),
        "{e}"
    );
    let e = socks5_failure(0, &[], &[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert!(
        e.ends_with(
            "refused to connect to broker.example:9092: connection refused (SOCKS5 reply 5)"
        ),
        "{e}"
    );
    let e = socks5_failure(0, &[], &[5, 2]);
    assert!(e.contains("connection not allowed by ruleset"), "{e}");
    let e = socks5_failure(0, &[], &[5, 0, 0, 9]);
    assert!(e.contains("address type 0x09"), "{e}");
    let e = socks5_failure(2, &[5, 0], &[]);
    assert!(e.contains("authentication reply: version 0x05"), "{e}");
    // Closes after half a reply.
    let e = socks5_failure(0, &[], &[5, 0, 0, 1, 127]);
    assert!(
        e.ends_with("closed the connection in reply to SOCKS5 CONNECT"),
        "{e}"
    );
}

#[test]
fn socks5_proxy_requiring_auth_without_credentials() {
    let (port, proxy) = fake(|mut s| {
        assert_eq!(read_n(&mut s, 3), [5, 1, 0]);
        s.write_all(&[5, 0xff]).unwrap();
    });
    let e = dial_err(&forward(ForwardProxyScheme::Socks5, port, false), TIMEOUT);
    assert!(
        e.contains("requires authentication: put user:password@"),
        "{e}"
    );
    proxy.join().unwrap();
}

#[test]
fn socks5_closed_during_greeting() {
    let (port, proxy) = fake(|mut s| {
        let _ = read_n(&mut s, 3);
        s.write_all(&[5]).unwrap();
    });
    let e = dial_err(&forward(ForwardProxyScheme::Socks5, port, false), TIMEOUT);
    assert!(
        e.ends_with("closed the connection during the SOCKS5 greeting"),
        "{e}"
    );
    proxy.join().unwrap();
}

#[test]
fn socks5_url_pointing_at_an_http_proxy() {
    let (port, proxy) = fake(|mut s| {
        let _ = read_n(&mut s, 3);
        s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
    });
    let e = dial_err(&forward(ForwardProxyScheme::Socks5, port, false), TIMEOUT);
    assert!(e.contains("answered in HTTP, not SOCKS5"), "{e}");
    proxy.join().unwrap();
}

#[test]
fn http_connect_with_credentials_reads_no_further_than_the_head() {
    let (port, proxy) = fake(|mut s| {
        let head = read_head(&mut s);
        assert_eq!(
            head,
            "CONNECT broker.example:9092 HTTP/1.1\r\nHost: broker.example:9092\r\n\
             Proxy-Authorization: Basic dXNlcjpzM2NyZXQ=\r\n\r\n"
        );
        // The head and the tunnel's first bytes in one write: the dial must leave "pong".
        s.write_all(b"HTTP/1.0 200 Connection established\r\nProxy-agent: x\r\n\r\npong")
            .unwrap();
        assert_eq!(read_n(&mut s, 4), b"ping");
    });
    let mut stream = dial(
        &forward(ForwardProxyScheme::Http, port, true),
        &target(),
        TIMEOUT,
    )
    .unwrap()
    .into_stream();
    stream.write_all(b"ping").unwrap();
    let mut pong = [0u8; 4];
    stream.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"pong");
    proxy.join().unwrap();
}

fn http_failure(answer: &'static [u8]) -> String {
    let (port, proxy) = fake(move |mut s| {
        let _ = read_head(&mut s);
        let _ = s.write_all(answer);
    });
    let e = dial_err(&forward(ForwardProxyScheme::Http, port, false), TIMEOUT);
    proxy.join().unwrap();
    e
}

#[test]
fn http_failures_are_named() {
    let e = http_failure(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
    assert!(
        e.ends_with(
            "answered CONNECT broker.example:9092 with 407 Proxy Authentication Required (put \
             user:password@ in the --forward-proxy URL, or check them)"
        ),
        "{e}"
    );
    let e = http_failure(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    assert!(e.ends_with("with 403 Forbidden"), "{e}");
    let e = http_failure(b"HTTP/1.1 502 Bad Gateway\r\n");
    assert!(
        e.ends_with("closed the connection in reply to HTTP CONNECT"),
        "{e}"
    );
    let e = http_failure(b"garbage\r\n\r\n");
    assert!(e.ends_with("not an HTTP response"), "{e}");
    let e = http_failure(b"HTTP/1.1 abc\r\n\r\n");
    assert!(e.contains("malformed HTTP status line"), "{e}");
    let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
    big.resize(64 * 1024, b'a');
    let e = http_failure(Box::leak(big.into_boxed_slice()));
    assert!(e.contains("longer than 16384 bytes"), "{e}");
}

#[test]
fn refused_connection_to_the_proxy() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = dial_err(&forward(ForwardProxyScheme::Http, port, false), TIMEOUT);
    assert!(
        e.starts_with(&format!(
            "forward proxy http://127.0.0.1:{port}: cannot connect:"
        )),
        "{e}"
    );
}

#[test]
fn silent_and_trickling_proxies_are_bounded_by_the_dial_timeout() {
    let timeout = Duration::from_millis(400);
    // Silent: never answers the greeting.
    let (port, proxy) = fake(|mut s| {
        let _ = read_n(&mut s, 3);
        thread::sleep(Duration::from_millis(1500));
    });
    let started = Instant::now();
    let e = dial_err(&forward(ForwardProxyScheme::Socks5, port, false), timeout);
    assert!(started.elapsed() < Duration::from_millis(1200), "{e}");
    assert!(
        e.ends_with("no answer during the SOCKS5 greeting within --kafka-dial-timeout (400ms)"),
        "{e}"
    );
    proxy.join().unwrap();

    // Trickling: one byte of an endless header every 50 ms never extends the deadline.
    let (port, proxy) = fake(|mut s| {
        let _ = read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
        for _ in 0..40 {
            if s.write_all(b"a").is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let started = Instant::now();
    let e = dial_err(&forward(ForwardProxyScheme::Http, port, false), timeout);
    assert!(started.elapsed() < Duration::from_millis(1200), "{e}");
    assert!(e.contains("no answer in reply to HTTP CONNECT"), "{e}");
    proxy.join().unwrap();
}

#[test]
fn unsendable_broker_host_fails_before_connecting() {
    // Port 1 on loopback: nothing listens, so reaching it would be a connect error instead.
    let bad = HostPort {
        host: "evil\r\nX: y".into(),
        port: 9092,
    };
    let e = dial(
        &forward(ForwardProxyScheme::Http, 1, false),
        &bad,
        Duration::from_secs(1),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("cannot be sent to a proxy"), "{e}");
}

// --- https:// ------------------------------------------------------------------------------

fn test_client_config() -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(TEST_CA.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn test_server_config() -> Arc<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(TEST_CERT.as_bytes())
        .map(|c| c.unwrap())
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(TEST_KEY.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

/// An https proxy that answers CONNECT with 200, then echoes everything back.
fn fake_https_echo() -> (u16, JoinHandle<()>) {
    fake(|s| {
        let conn = rustls::ServerConnection::new(test_server_config()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, s);
        let head = read_head(&mut tls);
        assert!(head.starts_with("CONNECT broker.example:9092 HTTP/1.1\r\n"));
        assert!(head.contains("\r\nProxy-Authorization: Basic dXNlcjpzM2NyZXQ=\r\n"));
        tls.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        let mut buf = vec![0u8; 8192];
        loop {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => tls.write_all(&buf[..n]).unwrap(),
            }
        }
    })
}

#[test]
fn https_tunnel_carries_data_both_ways_through_split_halves() {
    let (port, proxy) = fake_https_echo();
    let stream = dial_with(
        &forward(ForwardProxyScheme::Https, port, true),
        &target(),
        TIMEOUT,
        Some(test_client_config()),
    )
    .unwrap()
    .into_stream();
    assert!(stream.describe().contains("TLS"));
    stream
        .socket()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let socket = stream.socket().try_clone().unwrap();
    let (mut reader, mut writer) = stream.split().unwrap();
    const LEN: usize = 3 << 20;
    let data: Vec<u8> = (0..LEN).map(|i| (i * 7 + i / 251) as u8).collect();
    let sent = data.clone();
    let writing = thread::spawn(move || {
        for chunk in sent.chunks(50_000) {
            writer.write_all(chunk).unwrap();
        }
        writer
    });
    let mut got = vec![0u8; LEN];
    reader.read_exact(&mut got).unwrap();
    assert!(got == data, "echoed bytes differ");
    drop(writing.join().unwrap());
    socket.shutdown(std::net::Shutdown::Both).unwrap();
    proxy.join().unwrap();
}

#[test]
fn https_proxy_with_an_untrusted_certificate() {
    let (port, proxy) = fake(|s| {
        let conn = rustls::ServerConnection::new(test_server_config()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, s);
        let _ = tls.read(&mut [0u8; 1]);
    });
    // Mozilla's roots only: the test CA is not among them.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
    let e = dial_with(
        &forward(ForwardProxyScheme::Https, port, false),
        &target(),
        TIMEOUT,
        Some(Arc::new(config)),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("TLS handshake failed: invalid peer certificate"),
        "{e}"
    );
    proxy.join().unwrap();
}

#[test]
fn https_proxy_that_does_not_speak_tls() {
    let (port, proxy) = fake(|mut s| {
        let _ = s.read(&mut [0u8; 512]);
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    let e = dial_with(
        &forward(ForwardProxyScheme::Https, port, false),
        &target(),
        TIMEOUT,
        Some(test_client_config()),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("TLS handshake failed"), "{e}");
    proxy.join().unwrap();
}
