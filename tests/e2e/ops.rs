//! Operations: the HTTP health and metrics endpoints (checked with `promtool check metrics`),
//! the debug endpoint, the graceful drain on SIGTERM (no acknowledged message lost, no response
//! dropped, exit 0), a second signal, sd_notify, JSON logs, bad HTTP input, and idle HTTP
//! connections, which must not starve `/health`.

use crate::clients;
use crate::fake_broker::{request, FakeBroker, RawClient, Reply};
use crate::harness::{self, free_port, http_get, http_raw, metric, Broker, Proxy, TempDir};
use crate::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `promtool` (Debian package `prometheus`, installed by scripts/test.sh), or `None` after
/// printing `skipping: ...`; a failure under CI.
pub(crate) fn promtool(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let why = "promtool not found (apt-get install prometheus, or run scripts/test.sh)";
        if in_ci() {
            panic!("{test}: CI is set, so a missing tool is a failure: {why}");
        }
        eprintln!("skipping: {test}: {why}");
    }
    found
}

fn check_with_promtool(promtool: &PathBuf, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}\n--- metrics ---\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A ListOffsets v0 request (passed through as bytes, whatever its body).
pub(crate) fn list_offsets(correlation_id: i32) -> Vec<u8> {
    request(2, 0, correlation_id, false, &[0, 0, 0, 0])
}

/// A fake broker answering ListOffsets after `delay` with the correlation id and `payload`.
pub(crate) fn slow_broker(delay: Duration, payload: &'static [u8]) -> FakeBroker {
    FakeBroker::start(move |r| {
        if r.api_key != 2 {
            return Reply::Close;
        }
        std::thread::sleep(delay);
        let mut frame = r.correlation_id.to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        Reply::Frame(frame)
    })
}

pub(crate) fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn metrics_pass_promtool_and_move_with_traffic() {
    let Some(promtool) = promtool("metrics_pass_promtool_and_move_with_traffic") else {
        return;
    };
    let broker = slow_broker(Duration::ZERO, b"answer");
    let mut proxy = Proxy::start_for_port(broker.port(), &[]);
    let broker_label = format!("broker=\"127.0.0.1:{}\"", broker.port());
    // The harness's readiness probe is a connection too: let it come and go first.
    let mut before = String::new();
    wait_until(
        "the probe connection to end",
        Duration::from_secs(10),
        || {
            let (status, text) = http_get(proxy.http_port, "/metrics");
            assert_eq!(status, 200);
            before = text;
            metric(&before, "proxy_connections_total", &[&broker_label]) == 1.0
                && metric(&before, "proxy_opened_connections", &[&broker_label]) == 0.0
        },
    );
    check_with_promtool(&promtool, &before);
    assert_eq!(metric(&before, "proxy_build_info", &[]), 1.0);
    assert!(metric(&before, "process_resident_memory_bytes", &[]) > 0.0);

    let mut client = RawClient::connect(proxy.addr());
    for correlation_id in 1..=5 {
        client.send(&list_offsets(correlation_id)).unwrap();
        let answer = client.recv().expect("a response");
        assert_eq!(&answer[..4], &correlation_id.to_be_bytes());
    }
    // Counts of a live connection show at once (no flush interval to wait for).
    let (_, during) = http_get(proxy.http_port, "/metrics");
    check_with_promtool(&promtool, &during);
    let requests = |text: &str| {
        metric(
            text,
            "proxy_requests_total",
            &[&broker_label, "api_key=\"2\"", "api_version=\"0\""],
        )
    };
    assert_eq!(requests(&before), 0.0);
    assert_eq!(requests(&during), 5.0, "{during}");
    assert_eq!(
        metric(&during, "proxy_opened_connections", &[&broker_label]),
        1.0
    );
    let connections_before = metric(&before, "proxy_connections_total", &[&broker_label]);
    assert_eq!(
        metric(&during, "proxy_connections_total", &[&broker_label]),
        connections_before + 1.0
    );
    // 5 requests and 5 responses (4 + 10 bytes each), size prefixes included.
    let request_bytes = (list_offsets(1).len() + 4) as f64;
    assert_eq!(
        metric(&during, "proxy_requests_bytes", &[&broker_label]),
        5.0 * request_bytes
    );
    assert_eq!(
        metric(&during, "proxy_responses_bytes", &[&broker_label]),
        5.0 * 14.0
    );
    assert_eq!(
        metric(
            &during,
            "proxy_request_duration_seconds_count",
            &[&broker_label, "api_key=\"2\""]
        ),
        5.0
    );
    assert_eq!(
        metric(
            &during,
            "proxy_request_duration_seconds_bucket",
            &[&broker_label, "api_key=\"2\"", "le=\"+Inf\""]
        ),
        5.0
    );

    // The connection ends: its counts stay, the gauge goes down; a broken one counts an error.
    drop(client);
    let mut bad = RawClient::connect(proxy.addr());
    // A frame of 20 bytes of which 2 arrive, then EOF.
    bad.stream.write_all(&[0, 0, 0, 20, 0, 2]).unwrap();
    drop(bad);
    let mut after = String::new();
    wait_until("the connections to end", Duration::from_secs(10), || {
        after = http_get(proxy.http_port, "/metrics").1;
        metric(&after, "proxy_opened_connections", &[&broker_label]) == 0.0
            && metric(&after, "proxy_errors_total", &[]) >= 1.0
    });
    check_with_promtool(&promtool, &after);
    assert_eq!(requests(&after), 5.0);
    assert_eq!(
        metric(&after, "proxy_connections_total", &[&broker_label]),
        connections_before + 2.0
    );
    assert_eq!(
        metric(
            &after,
            "proxy_errors_total",
            &["cause=\"client_closed_mid_frame\""]
        ),
        1.0,
        "{after}"
    );
    proxy.assert_healthy();
}

#[test]
fn drain_answers_in_flight_requests_and_flips_health() {
    let broker = slow_broker(Duration::from_millis(1500), b"late-but-delivered");
    let debug_port = free_port();
    let debug_address = format!("127.0.0.1:{debug_port}");
    let mut proxy = Proxy::start_for_port(
        broker.port(),
        &[
            "--log-level",
            "debug",
            "--graceful-shutdown-timeout",
            "20s",
            "--debug-enable",
            "--debug-listen-address",
            &debug_address,
        ],
    );
    assert_eq!(http_get(proxy.http_port, "/health"), (200, "ok\n".into()));
    let mut idle = RawClient::connect(proxy.addr());
    let mut busy = RawClient::connect(proxy.addr());
    busy.send(&list_offsets(41)).unwrap();
    wait_until(
        "the request to reach the broker",
        Duration::from_secs(10),
        || !broker.received().is_empty(),
    );

    // The debug endpoint lists both connections, one with a request in flight.
    let (status, body) = http_get(debug_port, "/");
    assert_eq!(status, 200);
    let state = json::parse(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(state.get("state").as_str(), Some("serving"));
    assert_eq!(
        state.get("build").get("version").as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let listeners = state.get("listeners").as_array();
    assert_eq!(listeners.len(), 1);
    assert_eq!(
        listeners[0].get("local").as_str(),
        Some(proxy.bootstrap().as_str())
    );
    let connections = state.get("connections").as_array();
    assert_eq!(connections.len(), 2, "{body}");
    let in_flight: Vec<i64> = connections
        .iter()
        .map(|c| c.get("in_flight").as_i64().unwrap())
        .collect();
    assert!(in_flight.contains(&1) && in_flight.contains(&0), "{body}");
    let request_bytes = list_offsets(41).len() as i64 + 4;
    assert!(
        connections
            .iter()
            .any(|c| c.get("bytes_to_broker").as_i64() == Some(request_bytes)),
        "{body}"
    );

    let signalled = Instant::now();
    proxy.signal("TERM");
    wait_until("/health to answer 503", Duration::from_secs(5), || {
        http_get(proxy.http_port, "/health").0 == 503
    });
    assert!(
        signalled.elapsed() < Duration::from_millis(1200),
        "health flipped only after {:?}",
        signalled.elapsed()
    );
    // The idle connection is closed at once; the busy one gets its response, then is closed.
    idle.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(
        idle.is_closed(),
        "the idle connection is closed by the drain"
    );
    let answer = busy.recv().expect("the response in flight is delivered");
    assert_eq!(&answer[..4], &41i32.to_be_bytes());
    assert_eq!(&answer[4..], b"late-but-delivered");
    assert!(busy.is_closed(), "closed after its last response");
    let status = proxy
        .wait_exit(Duration::from_secs(10))
        .expect("the proxy exits after the drain");
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "{:?}",
        signalled.elapsed()
    );
    let log = proxy.log();
    assert!(log.contains("SIGTERM received: draining"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn drain_timeout_closes_busy_connections_and_second_signal_exits_at_once() {
    // A broker that never answers: the request stays in flight.
    let silent = FakeBroker::start(|_| Reply::Nothing);
    let mut proxy = Proxy::start_for_port(
        silent.port(),
        &[
            "--graceful-shutdown-timeout",
            "1s",
            "--kafka-read-timeout",
            "60s",
        ],
    );
    let mut client = RawClient::connect(proxy.addr());
    client.send(&list_offsets(1)).unwrap();
    wait_until(
        "the request to reach the broker",
        Duration::from_secs(10),
        || !silent.received().is_empty(),
    );
    let signalled = Instant::now();
    proxy.signal("TERM");
    let status = proxy
        .wait_exit(Duration::from_secs(10))
        .expect("the proxy exits after the drain timeout");
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(client.is_closed());
    assert!(
        proxy
            .log()
            .contains("closed 1 connections still busy after --graceful-shutdown-timeout"),
        "{}",
        proxy.log()
    );

    // Now with a long drain: the second signal ends the process at once.
    let mut proxy = Proxy::start_for_port(
        silent.port(),
        &[
            "--graceful-shutdown-timeout",
            "60s",
            "--kafka-read-timeout",
            "60s",
        ],
    );
    let mut client = RawClient::connect(proxy.addr());
    client.send(&list_offsets(2)).unwrap();
    wait_until(
        "the request to reach the broker",
        Duration::from_secs(10),
        || silent.received().len() >= 2,
    );
    proxy.signal("INT");
    wait_until("the drain to start", Duration::from_secs(5), || {
        http_get(proxy.http_port, "/health").0 == 503
    });
    assert!(proxy.wait_exit(Duration::from_millis(500)).is_none());
    let second = Instant::now();
    proxy.signal("TERM");
    let status = proxy
        .wait_exit(Duration::from_secs(5))
        .expect("the second signal ends the process");
    assert!(second.elapsed() < Duration::from_secs(2));
    assert_eq!(status.signal(), Some(15), "killed by SIGTERM: {status}");
}

#[test]
fn sigterm_during_produce_load_loses_no_acknowledged_message() {
    let Some(tools) = harness::tools("sigterm_during_produce_load_loses_no_acknowledged_message")
    else {
        return;
    };
    let broker = Broker::start(&tools);
    let mut proxy = Proxy::start_with(
        &broker,
        &["--log-level", "debug", "--graceful-shutdown-timeout", "20s"],
        &[],
    );
    let topic = harness::unique("drain");
    let group = harness::unique("drain-group");
    let load = {
        let tools = tools.clone();
        let bootstrap = proxy.bootstrap();
        let direct = broker.bootstrap();
        std::thread::spawn(move || {
            clients::run(
                &tools,
                "produce_load.py",
                &bootstrap,
                &[
                    "--direct",
                    &direct,
                    "--topic",
                    &topic,
                    "--group",
                    &group,
                    "--seconds",
                    "8",
                    "--rate",
                    "400",
                ],
                Duration::from_secs(90),
            )
        })
    };
    // Signal once the load is steady: a good number of produce requests went through.
    let produces = |proxy: &Proxy| {
        let (_, text) = http_get(proxy.http_port, "/metrics");
        metric(&text, "proxy_requests_total", &["api_key=\"0\""])
    };
    wait_until("a steady produce load", Duration::from_secs(60), || {
        load.is_finished() || produces(&proxy) >= 150.0
    });
    assert!(!load.is_finished(), "the load ended before the signal");
    let before = produces(&proxy);
    let signalled = Instant::now();
    proxy.signal("TERM");
    let status = proxy
        .wait_exit(Duration::from_secs(25))
        .expect("the proxy exits within the graceful shutdown timeout");
    assert!(status.success(), "exit status {status}\n{}", proxy.log());
    eprintln!(
        "proxy drained and exited in {:?} after {before} produce requests",
        signalled.elapsed()
    );
    let outcome = load.join().expect("the load thread");
    let acked = outcome.json.get("acked").as_i64().unwrap();
    let missing = outcome.json.get("missing").as_i64().unwrap();
    assert!(acked >= 50, "{}", outcome.json);
    assert_eq!(
        missing, 0,
        "acknowledged messages missing from the topic: {}",
        outcome.json
    );
    let log = proxy.log();
    assert!(log.contains("SIGTERM received: draining"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn sd_notify_ready_and_stopping() {
    let dir = TempDir::new("kafka-proxy-notify");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let path = socket_path.to_str().unwrap().to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let broker_port = listener.local_addr().unwrap().port();
    let mut proxy = Proxy::start_for_port_with(broker_port, &[], &[("NOTIFY_SOCKET", &path)]);
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY=1 from the proxy");
    assert_eq!(&buf[..n], b"READY=1");
    // READY comes after every listener is bound: the Kafka port accepts now.
    assert!(TcpStream::connect(proxy.addr()).is_ok());
    proxy.signal("TERM");
    let n = socket.recv(&mut buf).expect("STOPPING=1 from the proxy");
    assert_eq!(&buf[..n], b"STOPPING=1");
    let status = proxy.wait_exit(Duration::from_secs(10)).expect("exit");
    assert!(status.success(), "{status}");
}

#[test]
fn json_logs_parse_line_by_line_and_hide_secrets() {
    const PASSWORD: &str = "Sup3r-Secret-Pa55";
    // The broker hangs up on everything, so the SASL login fails and gets logged.
    let broker = FakeBroker::start(|_| Reply::Close);
    let mut proxy = Proxy::start_for_port_with(
        broker.port(),
        &[
            "--log-format",
            "json",
            "--log-level",
            "trace",
            "--sasl-enable",
            "--sasl-username",
            "alice",
        ],
        &[("SASL_PASSWORD", PASSWORD)],
    );
    let mut client = RawClient::connect(proxy.addr());
    let _ = client.send(&list_offsets(1));
    let _ = client.is_closed();
    let _ = http_get(proxy.http_port, "/nope");
    proxy.signal("TERM");
    let status = proxy.wait_exit(Duration::from_secs(10)).expect("exit");
    assert!(status.success(), "{status}");
    let log = proxy.log();
    assert!(
        !log.contains(PASSWORD),
        "the password reached the log:\n{log}"
    );
    let mut lines = 0;
    for line in log.lines() {
        let value = json::parse(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for key in ["@timestamp", "@level", "@message"] {
            assert!(value.get(key).as_str().is_some(), "no {key}: {line}");
        }
        lines += 1;
    }
    assert!(lines >= 4, "{log}");
    assert!(log.contains("draining"), "{log}");
}

#[test]
fn json_log_field_names_from_flags_and_environment() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut proxy = Proxy::start_for_port_with(
        port,
        &[
            "--log-format",
            "json",
            "--log-level-fieldname",
            "severity",
            "--log-time-fieldname",
            "time",
        ],
        &[("LOG_MSG_FIELDNAME", "msg")],
    );
    proxy.signal("TERM");
    let status = proxy.wait_exit(Duration::from_secs(10)).expect("exit");
    assert!(status.success(), "{status}");
    let log = proxy.log();
    let mut lines = 0;
    for line in log.lines() {
        let value = json::parse(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for key in ["time", "severity", "msg"] {
            assert!(value.get(key).as_str().is_some(), "no {key}: {line}");
        }
        assert!(value.get("@message").as_str().is_none(), "{line}");
        lines += 1;
    }
    assert!(lines >= 2, "{log}");
}

#[test]
fn http_bad_input_is_answered_never_crashes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut proxy = Proxy::start_for_port(port, &[]);
    let http = proxy.http_port;
    assert_eq!(http_get(http, "/metrics/").0, 404);
    assert_eq!(http_get(http, "/../../etc/passwd").0, 404);
    assert_eq!(http_get(http, "*").0, 404);
    assert_eq!(http_get(http, "/health?verbose=1").0, 200);
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "TRACE", "BREW"] {
        let raw = format!("{method} /health HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!(http_raw(http, raw.as_bytes()).0, 405, "{method}");
    }
    let huge = format!(
        "GET /health HTTP/1.1\r\nX-Huge: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    assert_eq!(http_raw(http, huge.as_bytes()).0, 431);
    let many: String = (0..5000).map(|i| format!("X-{i}: v\r\n")).collect();
    let raw = format!("GET /health HTTP/1.1\r\n{many}\r\n");
    assert_eq!(http_raw(http, raw.as_bytes()).0, 431);
    assert_eq!(http_raw(http, b"\x00\x01\x02garbage\r\n\r\n").0, 400);
    assert_eq!(http_raw(http, b"GET /health HTTP/2.0\r\n\r\n").0, 505);
    // A client that says nothing and one that hangs up do not hold anything up.
    let _silent = TcpStream::connect(("127.0.0.1", http)).unwrap();
    drop(TcpStream::connect(("127.0.0.1", http)).unwrap());
    assert_eq!(http_get(http, "/health").0, 200);
    proxy.assert_healthy();
}

#[test]
fn held_idle_http_connections_do_not_starve_health_or_metrics() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut proxy = Proxy::start_for_port(port, &[]);
    let http = proxy.http_port;
    let opened = Instant::now();
    let idle: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(("127.0.0.1", http)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let asked = Instant::now();
    assert_eq!(http_get(http, "/health"), (200, "ok\n".into()));
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(http_get(http, "/metrics").0, 200);
    // The idle ones are closed by the first-byte deadline (1 s), not held for the head's 5 s.
    for mut stream in idle {
        let left = (opened + Duration::from_millis(2500)).saturating_duration_since(Instant::now());
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut answer = Vec::new();
        let closed = match stream.read_to_end(&mut answer) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(
            closed,
            "an idle connection still open {:?} after opening",
            opened.elapsed()
        );
    }
    proxy.assert_healthy();
}

#[test]
fn http_address_in_use_or_invalid_is_a_startup_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_address = taken.local_addr().unwrap().to_string();
    let invalid = "no-such-host.invalid:9080".to_string();
    for (flags, flag) in [
        (
            vec!["--http-listen-address", taken_address.as_str()],
            "--http-listen-address",
        ),
        (
            vec!["--http-listen-address", invalid.as_str()],
            "--http-listen-address",
        ),
        (
            vec![
                "--debug-enable",
                "--debug-listen-address",
                taken_address.as_str(),
            ],
            "--debug-listen-address",
        ),
    ] {
        let kafka_port = free_port();
        let out = Command::new(env!("CARGO_BIN_EXE_kafka-proxy"))
            .args([
                "server",
                "--bootstrap-server-mapping",
                &format!("127.0.0.1:1,127.0.0.1:{kafka_port}"),
            ])
            .args(&flags)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {stderr}");
        assert!(stderr.contains(flag), "{flags:?}: {stderr}");
        assert!(stderr.contains("cannot listen on"), "{flags:?}: {stderr}");
        // Nothing was served: the Kafka port was never bound.
        let kafka = SocketAddr::from(([127, 0, 0, 1], kafka_port));
        assert!(TcpStream::connect(kafka).is_err());
    }
}

#[test]
fn signal_during_startup_exits_cleanly() {
    for delay_ms in [0u64, 5, 20] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-proxy"))
            .args([
                "server",
                "--bootstrap-server-mapping",
                &format!("127.0.0.1:1,127.0.0.1:{}", free_port()),
                "--http-listen-address",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", child.id())])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "still running after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
        // Before the handlers are installed (the first microseconds after exec) SIGTERM kills;
        // after, it is a drain of nothing and a clean exit.
        assert!(
            status.success() || status.signal() == Some(15),
            "after {delay_ms} ms: {status}\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The soft and hard open-files limits of a process, from /proc.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_string(), fields[4].to_string())
}

#[test]
fn the_open_files_soft_limit_is_raised_at_startup() {
    let hard = open_files_limits(std::process::id()).1;
    if hard == "unlimited" || hard.parse::<u64>().unwrap() <= 256 {
        return; // nothing to show on this machine
    }
    // Started with a soft limit of 256, as a service manager's default would leave it.
    let dir = TempDir::new("nofile");
    let log = dir.path().join("proxy.log");
    let port = free_port();
    let mapping = format!("127.0.0.1:1,127.0.0.1:{port}");
    let http = format!("127.0.0.1:{}", free_port());
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -Sn 256 && exec \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_kafka-proxy"))
        .args(["server", "--bootstrap-server-mapping", &mapping])
        .args(["--http-listen-address", &http])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let said = format!("raised the open-files limit from 256 to {hard} (the hard limit)");
    while !std::fs::read_to_string(&log).unwrap().contains(&said) {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(open_files_limits(child.id()), (hard.clone(), hard));
    child.kill().unwrap();
    child.wait().unwrap();
}
