//! The tools served in-process on loopback, driven by the proxy's own forward-proxy client
//! (`net::forward`) and by raw bytes for what that client never sends.

use super::*;
use crate::config::tools::{Credentials, Tool, ToolKind};
use crate::config::{ForwardProxy, ForwardProxyScheme, Secret};
use crate::net::forward;
use std::net::TcpListener;

/// A tool running on a free loopback port; stopped and joined on drop.
struct Running {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn start(kind: ToolKind, credentials: bool) -> Running {
        let tool = Tool {
            kind,
            listen: HostPort {
                host: "127.0.0.1".into(),
                port: 0,
            },
            credentials: credentials.then(|| Credentials {
                username: "user".into(),
                password: Secret("s3cret".into()),
            }),
            verbose: true,
            allow_link_local_targets: false,
        };
        let server = Server::bind(tool).unwrap();
        let addr = server.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || server.run(&flag).unwrap());
        Running {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn forward(&self, scheme: ForwardProxyScheme, user: Option<(&str, &str)>) -> ForwardProxy {
        ForwardProxy {
            scheme,
            address: HostPort {
                host: "127.0.0.1".into(),
                port: self.addr.port(),
            },
            username: user.map(|(u, _)| u.to_string()),
            password: user.map(|(_, p)| Secret(p.to_string())),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An echo server: echoes each connection until it half-closes, then closes.
fn echo_server() -> HostPort {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                let _ = io::copy(&mut r, &mut s);
            });
        }
    });
    HostPort {
        host: "127.0.0.1".into(),
        port,
    }
}

fn closed_port() -> HostPort {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    HostPort {
        host: "127.0.0.1".into(),
        port: l.local_addr().unwrap().port(),
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends bytes through a tunnel, half-closes, and reads the echo to its end.
fn echo_through(tunnel: forward::Tunnel) {
    let forward::Tunnel::Tcp(mut s) = tunnel else {
        panic!("expected a TCP tunnel")
    };
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut writer = s.try_clone().unwrap();
    let sent = data.clone();
    let w = thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    w.join().unwrap();
    assert!(
        got == data,
        "echo differs: {} of {} bytes",
        got.len(),
        data.len()
    );
}

fn dial_err(proxy: &ForwardProxy, target: &HostPort) -> String {
    match forward::dial(proxy, target, TIMEOUT) {
        Ok(_) => panic!("dial succeeded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn socks5_relays_with_and_without_credentials() {
    let echo = echo_server();
    let open = Running::start(ToolKind::Socks5Proxy, false);
    let tunnel = forward::dial(
        &open.forward(ForwardProxyScheme::Socks5, None),
        &echo,
        TIMEOUT,
    )
    .unwrap();
    echo_through(tunnel);
    // A host name is resolved by the tool.
    let by_name = HostPort {
        host: "localhost".into(),
        port: echo.port,
    };
    echo_through(
        forward::dial(
            &open.forward(ForwardProxyScheme::Socks5, None),
            &by_name,
            TIMEOUT,
        )
        .unwrap(),
    );

    let closed = Running::start(ToolKind::Socks5Proxy, true);
    let good = closed.forward(ForwardProxyScheme::Socks5, Some(("user", "s3cret")));
    echo_through(forward::dial(&good, &echo, TIMEOUT).unwrap());
    let e = dial_err(
        &closed.forward(ForwardProxyScheme::Socks5, Some(("user", "wrong"))),
        &echo,
    );
    assert!(e.contains("rejected the username or password"), "{e}");
    let e = dial_err(&closed.forward(ForwardProxyScheme::Socks5, None), &echo);
    assert!(e.contains("requires authentication"), "{e}");
}

#[test]
fn socks5_reports_an_unreachable_target() {
    let tool = Running::start(ToolKind::Socks5Proxy, false);
    let e = dial_err(
        &tool.forward(ForwardProxyScheme::Socks5, None),
        &closed_port(),
    );
    assert!(e.contains("connection refused (SOCKS5 reply 5)"), "{e}");
}

#[test]
fn socks5_refuses_other_commands_and_protocols() {
    let tool = Running::start(ToolKind::Socks5Proxy, false);
    let mut s = TcpStream::connect(tool.addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    // BIND (2) to 127.0.0.1:1
    s.write_all(&[5, 1, 0]).unwrap();
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [5, 0]);
    s.write_all(&[5, 2, 0, 1, 127, 0, 0, 1, 0, 1]).unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[..2], [5, 7]);

    // SOCKS4: closed without a reply.
    let mut s = TcpStream::connect(tool.addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(&[4, 1, 0, 80, 127, 0, 0, 1, 0]).unwrap();
    assert_eq!(s.read(&mut [0u8; 8]).unwrap_or(0), 0);
}

#[test]
fn http_connect_relays_with_and_without_credentials() {
    let echo = echo_server();
    let open = Running::start(ToolKind::HttpProxy, false);
    echo_through(
        forward::dial(
            &open.forward(ForwardProxyScheme::Http, None),
            &echo,
            TIMEOUT,
        )
        .unwrap(),
    );
    let closed = Running::start(ToolKind::HttpProxy, true);
    let good = closed.forward(ForwardProxyScheme::Http, Some(("user", "s3cret")));
    echo_through(forward::dial(&good, &echo, TIMEOUT).unwrap());
    for user in [Some(("user", "wrong")), Some(("nobody", "s3cret")), None] {
        let e = dial_err(&closed.forward(ForwardProxyScheme::Http, user), &echo);
        assert!(e.contains("with 407 Proxy Authentication Required"), "{e}");
    }
}

#[test]
fn http_connect_to_an_unreachable_target_is_502() {
    let tool = Running::start(ToolKind::HttpProxy, false);
    let e = dial_err(
        &tool.forward(ForwardProxyScheme::Http, None),
        &closed_port(),
    );
    assert!(e.contains("with 502 Bad Gateway"), "{e}");
}

/// Sends `request` raw and returns the whole answer.
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    // The server may answer and close before it read everything: ignore write errors.
    let _ = s.write_all(request);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn http_proxy_answers_bad_requests() {
    let tool = Running::start(ToolKind::HttpProxy, false);
    let a = raw_exchange(
        tool.addr,
        b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert!(a.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{a}");
    assert!(a.contains("\r\nAllow: CONNECT\r\n"), "{a}");
    let a = raw_exchange(tool.addr, b"CONNECT nowhere HTTP/1.1\r\n\r\n");
    assert!(a.starts_with("HTTP/1.1 400 "), "{a}");
    let a = raw_exchange(tool.addr, b"\x16\x03\x01\x00\x05hello\r\n\r\n");
    assert!(a.starts_with("HTTP/1.1 400 "), "{a}");
    let mut big = b"CONNECT a:1 HTTP/1.1\r\n".to_vec();
    big.resize(MAX_REQUEST_HEAD_FOR_TEST + 100, b'a');
    let a = raw_exchange(tool.addr, &big);
    assert!(a.starts_with("HTTP/1.1 431 "), "{a}");
}

const MAX_REQUEST_HEAD_FOR_TEST: usize = http_proxy::MAX_REQUEST_HEAD;

#[test]
fn http_proxy_relays_bytes_sent_with_the_request() {
    let echo = echo_server();
    let tool = Running::start(ToolKind::HttpProxy, false);
    let mut s = TcpStream::connect(tool.addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let request = format!(
        "CONNECT 127.0.0.1:{} HTTP/1.1\r\nHost: x\r\n\r\nearly bytes",
        echo.port
    );
    s.write_all(request.as_bytes()).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&answer),
        "HTTP/1.1 200 Connection established\r\n\r\nearly bytes"
    );
}

#[test]
fn request_head_parsing() {
    let head = parse_head(
        b"CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\nproxy-authorization:  basic dXNlcjpzM2NyZXQ=\r\n\r\n",
    );
    assert_eq!(head.method, "CONNECT");
    assert_eq!(head.target, "h:1");
    assert_eq!(head.basic.as_deref(), Some(&b"user:s3cret"[..]));
    let head = parse_head(b"CONNECT h:1 HTTP/1.0\nProxy-Authorization: Bearer x\n\n");
    assert!(head.authorization_present && head.basic.is_none());
    for bad in [
        &b"CONNECT h:1\r\n\r\n"[..],
        b"CONNECT h:1 HTTP/2\r\n\r\n",
        b"CONNECT  h:1 HTTP/1.1\r\n\r\n",
        b"CONNECT h:1 HTTP/1.1 x\r\n\r\n",
        b"\xff\xfe\r\n\r\n",
    ] {
        assert!(http_proxy::parse_request_head(bad).is_err(), "{bad:?}");
    }
    assert_eq!(http_proxy::head_end(b"a\r\n\r\nrest"), Some(5));
    assert_eq!(http_proxy::head_end(b"a\n\nrest"), Some(3));
    assert_eq!(http_proxy::head_end(b"a\r\nb"), None);
}

fn parse_head(bytes: &[u8]) -> http_proxy::RequestHead<'_> {
    http_proxy::parse_request_head(bytes).unwrap()
}

#[test]
fn credentials_compare() {
    let c = Credentials {
        username: "user".into(),
        password: Secret("pw".into()),
    };
    assert!(credentials_match(&c, b"user", b"pw"));
    assert!(!credentials_match(&c, b"user", b"pW"));
    assert!(!credentials_match(&c, b"use", b"pw"));
    assert!(!credentials_match(&c, b"user", b"pw "));
    assert!(!credentials_match(&c, b"user", b""));
    assert!(!credentials_match(&c, b"user", &[b'p'; 10_000]));
    // What is compared is always two 32-byte digests, whatever the lengths presented: the
    // time taken cannot tell the password's length (the comparison itself cannot be timed
    // reliably in a test; its inputs can be checked).
    let d = |b: &[u8]| ring::digest::digest(&ring::digest::SHA256, b);
    assert_eq!(d(b"").as_ref().len(), d(&[0; 4096]).as_ref().len());
    assert!(super::digests_equal(d(b"pw").as_ref(), d(b"pw").as_ref()));
    assert!(!super::digests_equal(d(b"pw").as_ref(), d(b"pw ").as_ref()));
}

/// Tunnels to link-local addresses (cloud metadata: 169.254.169.254, fe80::/10, their
/// IPv4-mapped forms) are refused before any connection is tried, unless allowed; other
/// addresses of the same name still go through. (Checked on the resolved addresses, so no
/// packet leaves the machine.)
#[test]
fn link_local_targets_are_refused_unless_allowed() {
    let target = HostPort {
        host: "metadata.example".into(),
        port: 80,
    };
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    for bad in [
        "169.254.169.254:80",
        "[fe80::1]:80",
        "[febf::1]:80",
        "[::ffff:169.254.1.1]:80",
    ] {
        let e = super::allowed_addrs(&target, vec![addr(bad)], false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{bad}");
        let text = e.to_string();
        assert!(
            text.contains("link-local") && text.contains("--allow-link-local-targets"),
            "{text}"
        );
        assert_eq!(
            super::allowed_addrs(&target, vec![addr(bad)], true).unwrap(),
            vec![addr(bad)]
        );
    }
    let mixed = vec![addr("169.254.169.254:80"), addr("127.0.0.1:80")];
    assert_eq!(
        super::allowed_addrs(&target, mixed, false).unwrap(),
        vec![addr("127.0.0.1:80")]
    );
    for good in ["127.0.0.1:80", "[::1]:80", "[fec0::1]:80", "10.0.0.1:80"] {
        assert_eq!(
            super::allowed_addrs(&target, vec![addr(good)], false).unwrap(),
            vec![addr(good)]
        );
    }
}
