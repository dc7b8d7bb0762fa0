//! Bad peer bytes, one connection at a time, in process: each case must end that connection with
//! an error that says what happened, without a panic or a hang. (The same cases run against the
//! real binary, alongside a healthy client, in tests/e2e/scripted.rs.)

use super::connection;
use super::Proxy;
use crate::config::{parse, Config, HostPort, Mode};
use crate::net::frame::ConnError;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

fn config(broker_port: u16, extra: &[&str]) -> Config {
    let mapping = format!("127.0.0.1:{broker_port},127.0.0.1:0,127.0.0.1:1");
    let mut args = vec!["server", "--bootstrap-server-mapping", &mapping];
    args.extend_from_slice(&["--kafka-read-timeout", "1s", "--max-frame-size", "1MiB"]);
    args.extend_from_slice(extra);
    match parse(args, |_| None) {
        Ok(Mode::Server(config)) => *config,
        other => panic!("bad test config: {other:?}"),
    }
}

fn frame(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// An ApiVersions v0 request with correlation id 7.
fn api_versions_request() -> Vec<u8> {
    frame(&[0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff])
}

/// A Metadata v1 request for all topics, correlation id 7.
fn metadata_request() -> Vec<u8> {
    frame(&[0, 3, 0, 1, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
}

/// Runs one proxied connection: the client sends `client_bytes`; the broker, after reading what
/// arrives, answers `broker_bytes` (then closes when `broker_closes`). Returns how the proxy
/// ended the connection and whether the client saw it closed.
fn run_case(client_bytes: &[u8], broker_bytes: Vec<u8>, broker_closes: bool) -> ConnError {
    let broker = TcpListener::bind("127.0.0.1:0").unwrap();
    let broker_port = broker.local_addr().unwrap().port();
    let broker_thread = thread::spawn(move || {
        let Ok((mut stream, _)) = broker.accept() else {
            return;
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut request = [0u8; 256];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(&broker_bytes);
        if !broker_closes {
            // Stay silent until the proxy gives up.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.read(&mut request);
        }
    });

    let proxy = Proxy::new(config(broker_port, &[]));
    let front = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(front.local_addr().unwrap()).unwrap();
    let (accepted, peer) = front.accept().unwrap();
    let proxy_thread = {
        let proxy = Arc::clone(&proxy);
        thread::spawn(move || {
            let broker = HostPort {
                host: "127.0.0.1".into(),
                port: broker_port,
            };
            connection::run(&proxy, accepted, peer, &broker, None, None)
        })
    };
    client.write_all(client_bytes).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = client.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "nothing may reach the client, got {rest:?}"
    );
    let result = proxy_thread.join().expect("no panic");
    broker_thread.join().unwrap();
    result.expect_err("the connection must end with an error")
}

fn assert_says(e: ConnError, expected: &str) {
    let text = e.to_string();
    assert!(text.contains(expected), "expected {expected:?} in {text:?}");
}

#[test]
fn wrong_correlation_id() {
    let e = run_case(
        &api_versions_request(),
        frame(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0]),
        true,
    );
    assert_says(e, "correlation id 8 while the oldest request in flight (ApiVersions (18)) has correlation id 7");
}

#[test]
fn negative_response_size() {
    let e = run_case(&api_versions_request(), vec![0xff, 0xff, 0xff, 0xfe], true);
    assert_says(e, "broker sent an invalid frame size -2");
}

#[test]
fn short_response_size() {
    let e = run_case(&api_versions_request(), vec![0, 0, 0, 2, 0, 7], true);
    assert_says(e, "broker sent an invalid frame size 2");
}

#[test]
fn oversize_response() {
    let e = run_case(&api_versions_request(), vec![0x7f, 0xff, 0xff, 0xff], true);
    assert_says(e, "more than --max-frame-size (1048576 bytes)");
}

#[test]
fn truncated_response() {
    // Size says 20 bytes; the broker sends 6 and closes.
    let e = run_case(
        &api_versions_request(),
        vec![0, 0, 0, 20, 0, 0, 0, 7, 0, 0],
        true,
    );
    assert_says(e, "broker closed the connection in the middle of a frame");
}

#[test]
fn inconsistent_metadata_response() {
    // Claims 5 brokers, carries none.
    let e = run_case(&metadata_request(), frame(&[0, 0, 0, 7, 0, 0, 0, 5]), true);
    assert_says(e, "broker sent a malformed Metadata (3) v1");
}

#[test]
fn broker_answers_with_tls() {
    let e = run_case(
        &api_versions_request(),
        vec![0x15, 0x03, 0x03, 0x00, 0x02, 2, 70],
        true,
    );
    assert_says(e, "broker answered with TLS");
}

#[test]
fn silent_broker() {
    let e = run_case(&api_versions_request(), Vec::new(), false);
    assert_says(e, "broker timed out waiting for a response");
}

#[test]
fn client_speaks_tls() {
    let hello = [
        0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
    ];
    let e = run_case(&hello, Vec::new(), false);
    assert_says(e, "client started a TLS handshake on a plaintext listener");
}

#[test]
fn client_negative_and_short_sizes() {
    assert_says(
        run_case(&[0x80, 0, 0, 0], Vec::new(), false),
        "client sent an invalid frame size -2147483648",
    );
    assert_says(
        run_case(&[0, 0, 0, 5, 0, 18, 0, 0, 0], Vec::new(), false),
        "client sent an invalid frame size 5",
    );
}

#[test]
fn client_oversize_frame() {
    assert_says(
        run_case(&[0, 0x20, 0, 0, 0, 18], Vec::new(), false),
        "client sent a frame of 2097152 bytes, more than --max-frame-size (1048576 bytes)",
    );
}

#[test]
fn client_stops_mid_frame() {
    assert_says(
        run_case(&[0, 0, 0, 50, 0, 18, 0, 0], Vec::new(), false),
        "client timed out in the middle of a frame",
    );
}

/// A broker host that is no host name (here a forged log line) is refused before it is logged,
/// kept in the address table or dialled; the refusal shows it escaped.
#[test]
fn unmapped_broker_host_must_be_a_host_name() {
    use crate::codec::rewrite::BrokerAddress;
    let proxy = Arc::new(Proxy::new(config(1, &[])));
    let e = proxy
        .advertise(
            BrokerAddress {
                node_id: 7,
                host: "b1\n2026-12-02T00:00:00Z INFO  forged",
                port: 9092,
            },
            false,
        )
        .unwrap_err();
    assert!(
        e.0.contains(r#"advertises the host "b1\n2026-12-02T00:00:00Z INFO  forged""#)
            && e.0.contains("not a host name"),
        "{}",
        e.0
    );
    let long = "h".repeat(300);
    let e = proxy
        .advertise(
            BrokerAddress {
                node_id: 7,
                host: &long,
                port: 9092,
            },
            false,
        )
        .unwrap_err();
    assert!(e.0.contains("longer than 253"), "{}", e.0);
}
