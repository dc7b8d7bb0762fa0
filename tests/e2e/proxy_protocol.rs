//! `--proxy-protocol` behind a real HAProxy (`send-proxy`, `send-proxy-v2`): the client is seen
//! by its own address, and bad headers close only their own connection. Needs `haproxy`
//! (installed by scripts/test.sh); a scripted broker stands behind the proxy.

use crate::fake_broker::{request, FakeBroker, RawClient, Reply};
use crate::harness::{self, Proxy, TempDir};
use crate::local_auth::wait_for_log;
use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn haproxy_bin(test: &str) -> Option<PathBuf> {
    let found = [
        "/usr/sbin/haproxy",
        "/usr/bin/haproxy",
        "/usr/local/sbin/haproxy",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file());
    if found.is_none() {
        let why = "haproxy not found (scripts/test.sh installs it)";
        assert!(
            std::env::var("CI").map_or(true, |v| v.is_empty() || v == "0" || v == "false"),
            "{test}: CI is set, so a missing tool is a failure: {why}"
        );
        eprintln!("skipping: {test}: {why}");
    }
    found
}

/// HAProxy in TCP mode on a port of its own, sending `send` (`send-proxy`, `send-proxy-v2`) to
/// the proxy at `backend`.
pub(crate) struct Balancer {
    pub(crate) port: u16,
    child: Child,
    _dir: TempDir,
}

impl Balancer {
    pub(crate) fn start(bin: &PathBuf, send: &str, backend: SocketAddr) -> Balancer {
        let dir = TempDir::new("kafka-proxy-e2e-pp-haproxy");
        let port = harness::free_port();
        let config = format!(
            "global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 5s\n  \
             timeout client 60s\n  timeout server 60s\nfrontend fe\n  bind 127.0.0.1:{port}\n  \
             default_backend proxy\nbackend proxy\n  server kp {backend} {send}\n"
        );
        let path = dir.path().join("haproxy.cfg");
        fs::write(&path, config).unwrap();
        let child = Command::new(bin)
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "haproxy not accepting on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Balancer {
            port,
            child,
            _dir: dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A broker answering ListOffsets with its correlation id and "ok".
fn echo_broker() -> FakeBroker {
    FakeBroker::start(|r| {
        let mut frame = r.correlation_id.to_be_bytes().to_vec();
        frame.extend_from_slice(b"ok");
        Reply::Frame(frame)
    })
}

fn list_offsets(correlation_id: i32) -> Vec<u8> {
    request(2, 0, correlation_id, false, &[0, 0, 0, 0])
}

/// One round trip: the answer carries the request's correlation id.
fn round_trip(client: &mut RawClient, correlation_id: i32) -> bool {
    client.send(&list_offsets(correlation_id)).is_ok()
        && client
            .recv()
            .is_some_and(|f| f.starts_with(&correlation_id.to_be_bytes()))
}

#[test]
fn behind_haproxy_the_client_is_seen_by_its_own_address() {
    let Some(bin) = haproxy_bin("behind_haproxy_the_client_is_seen_by_its_own_address") else {
        return;
    };
    let broker = echo_broker();
    for (mode, send) in [
        ("v1", "send-proxy"),
        ("v2", "send-proxy-v2"),
        ("any", "send-proxy-v2"),
    ] {
        let debug_port = harness::free_port();
        let debug_address = format!("127.0.0.1:{debug_port}");
        let mut proxy = Proxy::start_for_port(
            broker.port(),
            &[
                "--proxy-protocol",
                mode,
                "--log-level",
                "debug",
                "--debug-enable",
                "--debug-listen-address",
                &debug_address,
            ],
        );
        let balancer = Balancer::start(&bin, send, proxy.addr());
        // From 127.0.0.7: HAProxy's own connection comes from 127.0.0.1.
        let mut client = RawClient::connect_from([127, 0, 0, 7], balancer.addr());
        let local = client.stream.local_addr().unwrap();
        assert!(round_trip(&mut client, 7), "{mode}:\n{}", proxy.log());
        wait_for_log(&proxy, &format!("client {local} reached the listener"));
        let log = proxy.log();
        assert!(log.contains("through 127.0.0.1:"), "{mode}: {log}");
        // The debug endpoint lists the connection under the client's address too.
        let (status, body) = harness::http_get(debug_port, "/");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(&local.to_string()), "{mode}: {body}");
        drop(client);
        proxy.assert_healthy();
    }
}

#[test]
fn bad_headers_close_only_their_own_connection() {
    let Some(bin) = haproxy_bin("bad_headers_close_only_their_own_connection") else {
        return;
    };
    let broker = echo_broker();
    let mut proxy = Proxy::start_for_port(
        broker.port(),
        &["--proxy-protocol", "any", "--handshake-timeout", "1s"],
    );
    let balancer = Balancer::start(&bin, "send-proxy-v2", proxy.addr());
    let mut good = RawClient::connect(balancer.addr());
    assert!(round_trip(&mut good, 1));
    let mut v2_unknown_family = b"\r\n\r\n\0\r\nQUIT\n\x21\x51\x00\x00".to_vec();
    v2_unknown_family.extend_from_slice(&list_offsets(9));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "no header",
            list_offsets(9),
            "does not begin with a PROXY protocol",
        ),
        (
            "truncated",
            b"PROXY TCP4 127.0.0.1".to_vec(),
            "no whole PROXY protocol header",
        ),
        (
            "too long",
            [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat(),
            "longer than 107",
        ),
        (
            "wrong signature",
            b"\r\n\r\n\0\r\nQUIT!\x21\x11\x00\x00".to_vec(),
            "does not begin",
        ),
        (
            "unknown family",
            v2_unknown_family,
            "address family byte 0x51",
        ),
    ];
    // Each refusal is counted; the log gets a line per interval (a storm cannot flood it),
    // and the unit tests check each reason's wording.
    let refused = || {
        let (_, text) = harness::http_get(proxy.http_port, "/metrics");
        harness::metric(
            &text,
            "proxy_errors_total",
            &["cause=\"proxy_protocol_header\""],
        )
    };
    let before = refused();
    for (n, (what, bytes, _reason)) in cases.into_iter().enumerate() {
        let mut bad = RawClient::connect(proxy.addr());
        bad.stream.write_all(&bytes).unwrap();
        assert!(bad.is_closed(), "{what}: not closed");
        let deadline = Instant::now() + Duration::from_secs(5);
        while refused() < before + n as f64 + 1.0 {
            assert!(
                Instant::now() < deadline,
                "{what}: not counted\n{}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            round_trip(&mut good, 10 + n as i32),
            "{what}: the good connection broke"
        );
    }
    wait_for_log(&proxy, "PROXY protocol");
    // A v2 LOCAL header (a balancer's health check) is served with the socket's address.
    let mut local = RawClient::connect(proxy.addr());
    local
        .stream
        .write_all(b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00")
        .unwrap();
    assert!(round_trip(&mut local, 42), "{}", proxy.log());
    proxy.assert_healthy();
}

#[test]
fn only_trusted_peers_may_send_a_header() {
    let broker = echo_broker();
    let proxy = Proxy::start_for_port(
        broker.port(),
        &[
            "--proxy-protocol",
            "v1",
            "--proxy-protocol-trusted-cidr",
            "127.0.0.2/32",
        ],
    );
    let header = b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 9092\r\n";
    let mut untrusted = RawClient::connect_from([127, 0, 0, 1], proxy.addr());
    untrusted.stream.write_all(header).unwrap();
    assert!(untrusted.is_closed());
    wait_for_log(&proxy, "not in --proxy-protocol-trusted-cidr");
    let mut trusted = RawClient::connect_from([127, 0, 0, 2], proxy.addr());
    trusted.stream.write_all(header).unwrap();
    assert!(round_trip(&mut trusted, 3), "{}", proxy.log());
}
