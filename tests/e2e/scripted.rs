//! The real proxy binary in front of scripted fake brokers: dynamic listeners in each port mode,
//! external and disabled mappings, forbidden API keys, acks=0, unknown APIs, legacy SASL, and
//! every kind of bad peer bytes. Each fault must close only the affected connection, with a log
//! line that says what happened, while another client keeps working.

use crate::fake_broker::{
    metadata_request, metadata_v12_response, metadata_v1_response, node, parse_metadata_brokers,
    request, FakeBroker, RawClient, Received, Reply,
};
use crate::harness::{free_port, Proxy};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Answers Metadata with `nodes` and everything else with an empty body echoing the correlation.
fn metadata_script(
    nodes: Vec<crate::fake_broker::Node>,
) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    move |req| match req.api_key {
        3 if req.api_version >= 9 => Reply::Frame(metadata_v12_response(
            req.correlation_id,
            &nodes,
            nodes[0].id,
        )),
        3 => Reply::Frame(metadata_v1_response(
            req.correlation_id,
            &nodes,
            nodes[0].id,
        )),
        _ => Reply::Frame(req.correlation_id.to_be_bytes().to_vec()),
    }
}

fn fetch_metadata(host: &str, port: i32, version: i16) -> Vec<crate::fake_broker::Node> {
    let mut client = RawClient::connect_host(host, port);
    client.send(&metadata_request(version, 7)).unwrap();
    let frame = client.recv().expect("metadata response");
    parse_metadata_brokers(&frame, version)
}

fn wait_for_log(proxy: &Proxy, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = proxy.log();
        if log.contains(needle) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fake broker whose Metadata names itself (node 0) and `others`.
pub(crate) fn broker_naming(others: Vec<crate::fake_broker::Node>) -> FakeBroker {
    let port_cell = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
    let cell = std::sync::Arc::clone(&port_cell);
    let broker = FakeBroker::start(move |req| {
        let mut nodes = vec![node(0, "127.0.0.1", *cell.get().unwrap_or(&0))];
        nodes.extend(others.iter().cloned());
        metadata_script(nodes)(req)
    });
    port_cell.set(broker.port()).unwrap();
    broker
}

/// A broker behind a dynamic listener. Its Metadata names only itself, as node 42.
pub(crate) fn second_broker() -> FakeBroker {
    let port_cell = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
    let cell = std::sync::Arc::clone(&port_cell);
    let broker = FakeBroker::start(move |req| match req.api_key {
        3 => Reply::Frame(metadata_v1_response(
            req.correlation_id,
            &[node(42, "127.0.0.1", *cell.get().unwrap_or(&0))],
            42,
        )),
        _ => Reply::Frame(req.correlation_id.to_be_bytes().to_vec()),
    });
    port_cell.set(broker.port()).unwrap();
    broker
}

#[test]
fn dynamic_listener_random_port() {
    let second = second_broker();
    let first = broker_naming(vec![node(1, "127.0.0.1", second.port())]);
    let proxy = Proxy::start_for_port(first.port(), &[]);
    for version in [1, 12] {
        let nodes = fetch_metadata("127.0.0.1", i32::from(proxy.port), version);
        assert_eq!(nodes.len(), 2, "{nodes:?}");
        assert_eq!(nodes[0], node(0, "127.0.0.1", proxy.port));
        assert_eq!(nodes[1].id, 1);
        assert_ne!(
            nodes[1].port,
            i32::from(second.port()),
            "must not leak the broker port"
        );
        assert_ne!(nodes[1].port, i32::from(proxy.port));
        // The dynamic listener reaches the second broker: its Metadata names node 42, at the
        // address of the dynamic listener the proxy bound for it.
        let behind = fetch_metadata(&nodes[1].host, nodes[1].port, 1);
        assert_eq!(
            behind,
            vec![node(42, "127.0.0.1", 0)]
                .into_iter()
                .map(|mut n| {
                    n.port = nodes[1].port;
                    n
                })
                .collect::<Vec<_>>()
        );
    }
    // The same broker keeps the same listener across responses and versions.
    let a = fetch_metadata("127.0.0.1", i32::from(proxy.port), 1);
    let b = fetch_metadata("127.0.0.1", i32::from(proxy.port), 12);
    assert_eq!(a, b);
    let log = proxy.log();
    assert_eq!(
        log.matches("dynamic listener for broker").count(),
        1,
        "{log}"
    );
}

#[test]
fn dynamic_listener_sequential_ports() {
    let second = second_broker();
    let third = second_broker();
    let first = broker_naming(vec![
        node(1, "127.0.0.1", second.port()),
        node(2, "127.0.0.1", third.port()),
    ]);
    let min = free_port_block(3);
    let proxy = Proxy::start_for_port(
        first.port(),
        &[
            "--dynamic-sequential-min-port",
            &min.to_string(),
            "--dynamic-sequential-max-ports",
            "3",
        ],
    );
    let nodes = fetch_metadata("127.0.0.1", i32::from(proxy.port), 12);
    assert_eq!(nodes[1].port, i32::from(min), "{nodes:?}");
    assert_eq!(nodes[2].port, i32::from(min) + 1, "{nodes:?}");
    assert_eq!(fetch_metadata(&nodes[2].host, nodes[2].port, 1)[0].id, 42);
}

#[test]
fn dynamic_listener_deterministic_ports() {
    let second = second_broker();
    let first = broker_naming(vec![node(5, "127.0.0.1", second.port())]);
    let min = free_port_block(6);
    let proxy = Proxy::start_for_port(
        first.port(),
        &[
            "--deterministic-listeners",
            "--dynamic-sequential-min-port",
            &min.to_string(),
            "--dynamic-advertised-listener",
            "localhost",
        ],
    );
    let nodes = fetch_metadata("127.0.0.1", i32::from(proxy.port), 1);
    assert_eq!(nodes[1], node(5, "localhost", min + 5), "{nodes:?}");
    assert_eq!(fetch_metadata("127.0.0.1", nodes[1].port, 1)[0].id, 42);
}

/// A run of `n` ports that were free a moment ago.
pub(crate) fn free_port_block(n: u16) -> u16 {
    for _ in 0..50 {
        let base = free_port();
        if base > 65000 - n {
            continue;
        }
        let all_free =
            (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no block of {n} free ports");
}

#[test]
fn external_mapping_advertised_without_listener() {
    let first = broker_naming(vec![node(1, "10.1.2.3", 9092)]);
    let proxy = Proxy::start_for_port(
        first.port(),
        &[
            "--external-server-mapping",
            "10.1.2.3:9092,kafka-1.example.com:19092",
        ],
    );
    let nodes = fetch_metadata("127.0.0.1", i32::from(proxy.port), 12);
    assert_eq!(nodes[1], node(1, "kafka-1.example.com", 19092));
    assert!(!proxy.log().contains("dynamic listener"), "{}", proxy.log());
}

#[test]
fn dynamic_listeners_disabled_closes_with_a_clear_log() {
    let first = broker_naming(vec![node(1, "127.0.0.1", 1)]);
    let proxy = Proxy::start_for_port(first.port(), &["--dynamic-listeners-disable"]);
    let mut client = RawClient::connect(proxy.addr());
    client.send(&metadata_request(1, 1)).unwrap();
    assert!(
        client.recv().is_none(),
        "the unmappable response must not reach the client"
    );
    let log = wait_for_log(&proxy, "dynamic listeners are disabled");
    assert!(log.contains("broker 127.0.0.1:1 (node 1)"), "{log}");
}

#[test]
fn dynamic_listeners_disabled_uses_the_dynamic_advertised_listener() {
    let first = broker_naming(vec![node(3, "127.0.0.1", 9093)]);
    let proxy = Proxy::start_for_port(
        first.port(),
        &[
            "--dynamic-listeners-disable",
            "--dynamic-advertised-listener",
            "kafka-{{.brokerId}}.proxy.example",
        ],
    );
    let nodes = fetch_metadata("127.0.0.1", i32::from(proxy.port), 12);
    assert_eq!(nodes[1], node(3, "kafka-3.proxy.example", 9093));
    assert!(
        !proxy.log().contains("dynamic listener for"),
        "{}",
        proxy.log()
    );
}

#[test]
fn forbidden_api_key_never_reaches_the_broker() {
    let broker = broker_naming(vec![]);
    let proxy = Proxy::start_for_port(broker.port(), &["--forbidden-api-keys", "20,19"]);
    let mut client = RawClient::connect(proxy.addr());
    // DeleteTopics v1.
    client
        .send(&request(20, 1, 3, false, &[0, 0, 0, 0, 0, 0, 0, 0]))
        .unwrap();
    assert!(client.is_closed());
    let log = wait_for_log(&proxy, "forbidden");
    assert!(log.contains("DeleteTopics (20)"), "{log}");
    assert!(broker.received().iter().all(|r| r.api_key != 20));
    // Other clients are unaffected.
    assert_eq!(
        fetch_metadata("127.0.0.1", i32::from(proxy.port), 1).len(),
        1
    );
}

#[test]
fn acks_zero_produce_expects_no_response_and_unknown_apis_pass_through() {
    let broker = FakeBroker::start(|req| match req.api_key {
        // acks=0 Produce: nothing comes back.
        0 => Reply::Nothing,
        // An API the proxy does not know: echo arbitrary bytes after the correlation id.
        999 => {
            let mut f = req.correlation_id.to_be_bytes().to_vec();
            f.extend_from_slice(&req.frame[8..]);
            Reply::Frame(f)
        }
        _ => Reply::Frame(req.correlation_id.to_be_bytes().to_vec()),
    });
    let proxy = Proxy::start_for_port(broker.port(), &[]);
    let mut client = RawClient::connect(proxy.addr());
    // Produce v7: transactional id null, acks 0, timeout, no topics.
    let mut body = vec![0xff, 0xff, 0x00, 0x00, 0, 0, 0x75, 0x30];
    body.extend_from_slice(&[0, 0, 0, 0]);
    client.send(&request(0, 7, 10, false, &body)).unwrap();
    let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    let unknown = request(999, 3, 11, false, &payload);
    client.send(&unknown).unwrap();
    let response = client.recv().expect("response to the unknown API");
    assert_eq!(&response[..4], &11i32.to_be_bytes());
    assert_eq!(
        &response[4..],
        &unknown[8..],
        "unknown API bytes must pass unchanged"
    );
    let received = broker.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[1].frame, unknown,
        "request bytes must pass unchanged"
    );
}

#[test]
fn legacy_sasl_v0_tokens_pass_through() {
    let broker = FakeBroker::start(|req| match req.api_key {
        17 => {
            // SaslHandshake response: error 0, mechanisms [PLAIN].
            let mut f = req.correlation_id.to_be_bytes().to_vec();
            f.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 5]);
            f.extend_from_slice(b"PLAIN");
            Reply::Frame(f)
        }
        3 => Reply::Frame(metadata_v1_response(
            req.correlation_id,
            &[node(0, "127.0.0.1", 1)],
            0,
        )),
        _ => Reply::Frame(req.correlation_id.to_be_bytes().to_vec()),
    });
    let mapping_port = broker.port();
    let proxy = Proxy::start_for_port(
        mapping_port,
        &[
            "--dynamic-listeners-disable",
            "--external-server-mapping",
            "127.0.0.1:1,127.0.0.1:2",
        ],
    );
    let mut client = RawClient::connect(proxy.addr());
    let mut body = vec![0, 5];
    body.extend_from_slice(b"PLAIN");
    client.send(&request(17, 0, 1, false, &body)).unwrap();
    let handshake = client.recv().unwrap();
    assert_eq!(&handshake[4..6], &[0, 0]);
    // A raw PLAIN token: no Kafka header. Its first bytes would read as api key 0x0075.
    let token = b"\0user\0secret";
    client.send(token).unwrap();
    let answer = client.recv().expect("raw empty token back");
    assert!(answer.is_empty());
    // Back to Kafka requests.
    client.send(&metadata_request(1, 2)).unwrap();
    let frame = client.recv().unwrap();
    assert_eq!(
        parse_metadata_brokers(&frame, 1),
        vec![node(0, "127.0.0.1", 2)]
    );
    let received = broker.received();
    assert_eq!(
        received[1].frame,
        token.to_vec(),
        "the token must pass unchanged"
    );
}

/// A broker whose every answer is `reply`; the proxy must close only that client's connection.
fn assert_fault_closes_connection(reply: fn(&Received) -> Reply, expected_log: &str) {
    let broker = FakeBroker::start(move |req| {
        // Metadata v1 from the healthy client gets a good answer.
        if req.api_key == 3 && req.api_version == 1 {
            Reply::Frame(metadata_v1_response(
                req.correlation_id,
                &[node(0, "127.0.0.1", 1)],
                0,
            ))
        } else {
            reply(req)
        }
    });
    let proxy = Proxy::start_for_port(
        broker.port(),
        &[
            "--kafka-read-timeout",
            "2s",
            "--external-server-mapping",
            "127.0.0.1:1,127.0.0.1:2",
        ],
    );
    // A healthy client connected throughout.
    let mut healthy = RawClient::connect(proxy.addr());
    healthy.send(&metadata_request(1, 1)).unwrap();
    assert!(healthy.recv().is_some());

    let mut victim = RawClient::connect(proxy.addr());
    victim.send(&request(18, 0, 5, false, &[])).unwrap(); // ApiVersions v0
    assert!(
        victim.recv().is_none(),
        "the faulty response must not reach the client"
    );
    let log = wait_for_log(&proxy, expected_log);
    assert!(
        log.contains(expected_log),
        "expected {expected_log:?} in:\n{log}"
    );

    healthy.send(&metadata_request(1, 2)).unwrap();
    assert!(
        healthy.recv().is_some(),
        "the other client must keep working"
    );
}

#[test]
fn broker_wrong_correlation_id() {
    assert_fault_closes_connection(
        |req| Reply::Frame((req.correlation_id + 1).to_be_bytes().to_vec()),
        "answered with correlation id 6 while the oldest request in flight (ApiVersions (18)) has correlation id 5",
    );
}

#[test]
fn broker_negative_frame_size() {
    assert_fault_closes_connection(
        |_| Reply::Raw(vec![0xff, 0xff, 0xff, 0xf0, 1, 2, 3, 4]),
        "broker sent an invalid frame size -16",
    );
}

#[test]
fn broker_huge_frame_size() {
    assert_fault_closes_connection(
        |_| Reply::Raw(vec![0x7f, 0xff, 0xff, 0xff]),
        "more than --max-frame-size",
    );
}

#[test]
fn broker_speaks_tls() {
    assert_fault_closes_connection(
        |_| Reply::Raw(vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]),
        "broker answered with TLS",
    );
}

#[test]
fn broker_closes_mid_frame() {
    assert_fault_closes_connection(
        |req| {
            let mut f = vec![0, 0, 0, 100];
            f.extend_from_slice(&req.correlation_id.to_be_bytes());
            f.extend_from_slice(&[0, 0]);
            Reply::RawThenClose(f)
        },
        "broker closed the connection in the middle of a frame",
    );
}

#[test]
fn broker_closes_awaiting_response() {
    assert_fault_closes_connection(
        |_| Reply::Close,
        "broker closed the connection while ApiVersions (18) v",
    );
}

#[test]
fn broker_truncated_metadata() {
    let broker = FakeBroker::start(|req| {
        let mut f = metadata_v1_response(req.correlation_id, &[node(0, "127.0.0.1", 1)], 0);
        f.truncate(f.len() - 3);
        Reply::Frame(f)
    });
    let proxy = Proxy::start_for_port(broker.port(), &[]);
    let mut client = RawClient::connect(proxy.addr());
    client.send(&metadata_request(1, 1)).unwrap();
    assert!(client.recv().is_none());
    let log = wait_for_log(&proxy, "malformed Metadata (3) v1");
    assert!(
        log.contains("broker sent a malformed Metadata (3) v1"),
        "{log}"
    );
}

#[test]
fn broker_silent_times_out() {
    assert_fault_closes_connection(
        |_| Reply::Nothing,
        "broker timed out waiting for a response",
    );
}

#[test]
fn client_faults_close_only_that_connection() {
    let broker = broker_naming(vec![]);
    let proxy = Proxy::start_for_port(
        broker.port(),
        &["--max-frame-size", "1MiB", "--kafka-read-timeout", "2s"],
    );
    let mut healthy = RawClient::connect(proxy.addr());
    healthy.send(&metadata_request(1, 1)).unwrap();
    assert!(healthy.recv().is_some());

    let cases: [(&[u8], &str); 5] = [
        (
            &[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01],
            "client started a TLS handshake on a plaintext listener",
        ),
        (
            b"GET /metrics HTTP/1.1\r\n\r\n",
            "client sent an HTTP request",
        ),
        (
            &[0xff, 0xff, 0xff, 0xff],
            "client sent an invalid frame size -1",
        ),
        (
            &[0x00, 0x00, 0x00, 0x03, 1, 2, 3],
            "client sent an invalid frame size 3",
        ),
        (
            &[0x00, 0x20, 0x00, 0x00],
            "client sent a frame of 2097152 bytes, more than --max-frame-size (1048576 bytes)",
        ),
    ];
    for (bytes, expected) in cases {
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(bytes).unwrap();
        let mut client = RawClient { stream };
        assert!(client.is_closed(), "{expected}");
        let log = wait_for_log(&proxy, expected);
        assert!(log.contains(expected), "expected {expected:?} in:\n{log}");
    }
    // A client that stops in the middle of a frame hits the read timeout.
    let mut stalled = TcpStream::connect(proxy.addr()).unwrap();
    stalled.write_all(&[0, 0, 0, 100, 0, 3]).unwrap();
    let log = wait_for_log(&proxy, "client timed out in the middle of a frame");
    assert!(
        log.contains("client timed out in the middle of a frame"),
        "{log}"
    );

    healthy.send(&metadata_request(1, 2)).unwrap();
    assert!(
        healthy.recv().is_some(),
        "the other client must keep working"
    );
    assert!(broker.received().iter().all(|r| r.api_key == 3));
}
