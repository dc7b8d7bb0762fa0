//! Robustness of the real proxy binary: every fault of a broker or a client ends only the
//! affected connection, with a log line naming it, while a second client keeps working on its
//! own connection throughout, and no thread or descriptor is left behind (counted in /proc
//! before and after). Connection storms past --max-client-connections and past the open-files
//! limit, slowloris and idle clients, and a rolling restart of a real broker under an acks=all
//! produce load.

use crate::clients;
use crate::fake_broker::{
    metadata_request, metadata_v1_response, node, request, FakeBroker, RawClient, Received, Reply,
};
use crate::harness::{self, api_versions_ok, free_port, unique, Proxy, TempDir};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The proxy's threads and open descriptors, from /proc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resources {
    threads: usize,
    fds: usize,
}

fn resources(pid: u32) -> Resources {
    let count = |what: &str| {
        fs::read_dir(format!("/proc/{pid}/{what}"))
            .unwrap_or_else(|e| panic!("/proc/{pid}/{what}: {e}"))
            .count()
    };
    Resources {
        threads: count("task"),
        fds: count("fd"),
    }
}

/// Where the proxy's descriptors point, for a failure message.
fn describe_fds(pid: u32) -> String {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return String::new();
    };
    let mut targets: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| fs::read_link(e.path()).ok())
        .map(|p| p.display().to_string())
        .collect();
    targets.sort();
    targets.join(" ")
}

/// Waits until the proxy is back to `baseline` threads and descriptors (a connection's threads
/// end a moment after its sockets close); panics with what is left over after 10 s.
fn assert_back_to(proxy: &Proxy, baseline: Resources, after: &str) {
    let pid = proxy.pid();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = resources(pid);
        if now == baseline {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "after {after}: the proxy holds {now:?}, {baseline:?} before: leaked threads or \
                 descriptors\nfds: {}\n--- proxy log ---\n{}",
                describe_fds(pid),
                proxy.log()
            );
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// The proxy's resources once they stop changing (startup threads settle).
fn steady_resources(pid: u32) -> Resources {
    let mut last = resources(pid);
    let mut same_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(10);
    while same_since.elapsed() < Duration::from_millis(300) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(25));
        let now = resources(pid);
        if now != last {
            last = now;
            same_since = Instant::now();
        }
    }
    last
}

fn wait_for_log(proxy: &Proxy, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = proxy.log();
        if log.contains(needle) || Instant::now() > deadline {
            return log;
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// Asserts that a log line names the connection from `client` (its local address is the peer
/// the proxy logs) and says `expected`.
fn assert_logged(proxy: &Proxy, client: SocketAddr, expected: &str) {
    let log = wait_for_log(proxy, expected);
    let peer = format!("client {client} ");
    assert!(
        log.lines()
            .any(|l| l.contains(&peer) && l.contains(expected)),
        "expected a line about {peer}saying {expected:?} in:\n{log}"
    );
}

/// A client that sends Metadata and reads the answer every 100 ms on one connection for the
/// whole test: the "second client working throughout".
struct Healthy {
    stop: Arc<AtomicBool>,
    round_trips: Arc<AtomicUsize>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Healthy {
    fn start(addr: SocketAddr) -> Healthy {
        Healthy::start_on(RawClient::connect(addr))
    }

    /// Starts on a connection already past any handshake (local SASL, for example).
    fn start_on(mut client: RawClient) -> Healthy {
        client.send(&metadata_request(1, 0)).unwrap();
        assert!(
            client.recv().is_some(),
            "the healthy client's first request"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let round_trips = Arc::new(AtomicUsize::new(1));
        let thread = {
            let stop = Arc::clone(&stop);
            let round_trips = Arc::clone(&round_trips);
            thread::spawn(move || {
                let mut correlation_id = 1;
                while !stop.load(Ordering::Acquire) {
                    client
                        .send(&metadata_request(1, correlation_id))
                        .map_err(|e| format!("request {correlation_id}: {e}"))?;
                    let frame = client
                        .recv()
                        .ok_or_else(|| format!("no response to request {correlation_id}"))?;
                    if frame[..4] != correlation_id.to_be_bytes() {
                        return Err(format!("wrong response to request {correlation_id}"));
                    }
                    round_trips.fetch_add(1, Ordering::AcqRel);
                    correlation_id += 1;
                    thread::sleep(Duration::from_millis(100));
                }
                Ok(())
            })
        };
        Healthy {
            stop,
            round_trips,
            thread: Some(thread),
        }
    }

    fn round_trips(&self) -> usize {
        self.round_trips.load(Ordering::Acquire)
    }

    /// Waits for one more round trip: the healthy connection still works now.
    fn assert_working(&self, after: &str) {
        let before = self.round_trips();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.round_trips() <= before {
            let finished = self.thread.as_ref().is_some_and(JoinHandle::is_finished);
            assert!(
                !finished && Instant::now() < deadline,
                "after {after}: the healthy client stopped working"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the client; panics if it ever failed.
    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Release);
        let result = self.thread.take().map(|t| t.join());
        match result {
            Some(Ok(Ok(()))) => self.round_trips(),
            Some(Ok(Err(e))) => panic!("the healthy client failed: {e}"),
            _ => panic!("the healthy client panicked"),
        }
    }
}

impl Drop for Healthy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A broker that answers Metadata v1 (the healthy client) well, and the victim's ApiVersions
/// request with the fault its correlation id picks.
fn fault_broker() -> FakeBroker {
    FakeBroker::start(|req: &Received| {
        if req.api_key == 3 {
            return Reply::Frame(metadata_v1_response(
                req.correlation_id,
                &[node(0, "127.0.0.1", 1)],
                0,
            ));
        }
        let c = req.correlation_id;
        let correlation = c.to_be_bytes();
        // An ApiVersions v0 response with no APIs.
        let api_versions = [&correlation[..], &[0, 0, 0, 0, 0, 0]].concat();
        match c {
            100 => Reply::Delayed(Duration::from_millis(1200), api_versions),
            101 => {
                let mut sized = (api_versions.len() as i32).to_be_bytes().to_vec();
                sized.extend_from_slice(&api_versions);
                Reply::Trickle(Duration::from_millis(400), sized)
            }
            102 => Reply::Nothing,
            103 => Reply::Raw(b"this is not a Kafka response".to_vec()),
            104 => Reply::Frame((c + 1).to_be_bytes().to_vec()),
            105 => Reply::RawThenClose([&[0, 0, 0, 100][..], &correlation, &[0, 0]].concat()),
            106 => Reply::Raw(vec![0x80, 0, 0, 0]),
            107 => Reply::Raw(vec![0x7f, 0xff, 0xff, 0xff]),
            108 => Reply::Raw(vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]),
            109 => Reply::Close,
            _ => Reply::Frame(api_versions),
        }
    })
}

#[test]
fn broker_faults_close_only_their_connection_and_leak_nothing() {
    let broker = fault_broker();
    let proxy = Proxy::start_for_port(
        broker.port(),
        &[
            "--log-level",
            "debug",
            "--kafka-read-timeout",
            "2s",
            "--external-server-mapping",
            "127.0.0.1:1,127.0.0.1:2",
        ],
    );
    let healthy = Healthy::start(proxy.addr());
    let baseline = steady_resources(proxy.pid());
    eprintln!("baseline: {baseline:?}");

    // A slow response within --kafka-read-timeout is delivered.
    let mut slow = RawClient::connect(proxy.addr());
    slow.send(&request(18, 0, 100, false, &[])).unwrap();
    let started = Instant::now();
    let answer = slow
        .recv()
        .expect("a slow response within the timeout is delivered");
    assert_eq!(answer[..4], 100i32.to_be_bytes());
    assert!(started.elapsed() >= Duration::from_secs(1));
    slow.stream.shutdown(Shutdown::Both).unwrap();
    drop(slow);
    assert_back_to(&proxy, baseline, "a slow response");

    let faults: [(i32, &str); 9] = [
        (101, "broker timed out in the middle of a frame"),
        (102, "broker timed out waiting for a response"),
        (
            103,
            "broker sent a frame of 1952999795 bytes, more than --max-frame-size",
        ),
        (
            104,
            "broker answered with correlation id 105 while the oldest request in flight \
             (ApiVersions (18)) has correlation id 104",
        ),
        (105, "broker closed the connection in the middle of a frame"),
        (106, "broker sent an invalid frame size -2147483648"),
        (
            107,
            "broker sent a frame of 2147483647 bytes, more than --max-frame-size",
        ),
        (108, "broker answered with TLS on a plaintext connection"),
        (109, "broker closed the connection while ApiVersions (18) v"),
    ];
    for (correlation_id, expected) in faults {
        let mut victim = RawClient::connect(proxy.addr());
        let victim_addr = victim.stream.local_addr().unwrap();
        victim
            .send(&request(18, 0, correlation_id, false, &[]))
            .unwrap();
        assert!(
            victim.recv().is_none(),
            "{expected}: the faulty response must not reach the client"
        );
        assert_logged(&proxy, victim_addr, expected);
        healthy.assert_working(expected);
        drop(victim);
        assert_back_to(&proxy, baseline, expected);
    }
    let round_trips = healthy.finish();
    eprintln!("the healthy client made {round_trips} round trips during the faults");
    let mut proxy = proxy;
    proxy.assert_healthy();
}

#[test]
fn client_faults_slowloris_and_idle_clients_leak_nothing() {
    let broker = fault_broker();
    let proxy = Proxy::start_for_port(
        broker.port(),
        &[
            "--log-level",
            "debug",
            "--max-frame-size",
            "1MiB",
            "--kafka-read-timeout",
            "3s",
            "--client-idle-timeout",
            "4s",
            "--external-server-mapping",
            "127.0.0.1:1,127.0.0.1:2",
        ],
    );
    let healthy = Healthy::start(proxy.addr());
    let baseline = steady_resources(proxy.pid());
    eprintln!("baseline: {baseline:?}");

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
            &[0x80, 0, 0, 0],
            "client sent an invalid frame size -2147483648",
        ),
        (
            &[0x7f, 0xff, 0xff, 0xff],
            "client sent a frame of 2147483647 bytes, more than --max-frame-size (1048576 bytes)",
        ),
        (
            &[0, 0, 0, 100, 0, 3, 0, 1],
            "client closed the connection in the middle of a frame",
        ),
    ];
    for (bytes, expected) in cases {
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        let addr = stream.local_addr().unwrap();
        stream.write_all(bytes).unwrap();
        if expected.contains("closed the connection") {
            stream.shutdown(Shutdown::Write).unwrap();
        }
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut client = RawClient { stream };
        assert!(client.is_closed(), "{expected}: the proxy must close it");
        assert_logged(&proxy, addr, expected);
        healthy.assert_working(expected);
        drop(client);
        assert_back_to(&proxy, baseline, expected);
    }

    // Slowloris: a request trickled one byte a second hits --kafka-read-timeout (3 s); the
    // trickle does not extend it.
    let mut slowloris = TcpStream::connect(proxy.addr()).unwrap();
    let addr = slowloris.local_addr().unwrap();
    let frame = [&10i32.to_be_bytes()[..], &request(18, 0, 1, false, &[])].concat();
    let (sent, took) = trickle(&proxy, &mut slowloris, &frame);
    eprintln!("slowloris: {sent} bytes sent, closed after {took:?}");
    assert!(
        sent < frame.len(),
        "the proxy waited for the whole trickled frame"
    );
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(8),
        "slowloris closed after {took:?}"
    );
    assert_logged(&proxy, addr, "client timed out in the middle of a frame");
    drop(slowloris);
    assert_back_to(&proxy, baseline, "a slowloris client");

    // A client that connects and sends nothing is closed by --client-idle-timeout (4 s), with
    // an info line, while the healthy client (never idle) keeps its connection.
    let mut idle = TcpStream::connect(proxy.addr()).unwrap();
    let addr = idle.local_addr().unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let n = idle.read(&mut [0u8; 16]).unwrap_or(0);
    let took = started.elapsed();
    eprintln!("idle client closed after {took:?}");
    assert_eq!(n, 0, "an idle client gets nothing but the close");
    assert!(
        took >= Duration::from_millis(3900) && took < Duration::from_secs(8),
        "idle client closed after {took:?}"
    );
    assert_logged(
        &proxy,
        addr,
        "client sent no request for 4s (--client-idle-timeout); closing the idle connection",
    );
    drop(idle);
    assert_back_to(&proxy, baseline, "an idle client");

    healthy.finish();
    let mut proxy = proxy;
    proxy.assert_healthy();
}

/// Sends `bytes` one a second until the proxy closes the connection or logs its end; returns
/// how many it sent and how long it took.
fn trickle(proxy: &Proxy, stream: &mut TcpStream, bytes: &[u8]) -> (usize, Duration) {
    let addr = stream.local_addr().unwrap();
    let started = Instant::now();
    let mut sent = 0;
    for byte in bytes {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        sent += 1;
        thread::sleep(Duration::from_secs(1));
        if proxy.log().contains(&format!("client {addr} via broker")) {
            break;
        }
    }
    (sent, started.elapsed())
}

#[test]
fn authentication_slowloris_hits_the_handshake_timeout() {
    use crate::local_auth::{auth_user_flags, plain, sasl_login, PASSWORD, USER};
    let broker = fault_broker();
    let mut args = auth_user_flags();
    args.extend(
        [
            "--handshake-timeout",
            "2s",
            "--external-server-mapping",
            "127.0.0.1:1,127.0.0.1:2",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy = Proxy::start_for_port(broker.port(), &args);
    let authenticated = sasl_login(proxy.addr(), &plain(USER, PASSWORD))
        .unwrap_or_else(|e| panic!("the healthy client's login: {e}\n{}", proxy.log()));
    let healthy = Healthy::start_on(authenticated);
    let baseline = steady_resources(proxy.pid());
    eprintln!("baseline: {baseline:?}");

    // An ApiVersions request trickled a byte a second: --handshake-timeout (2 s) bounds the
    // whole authentication, however the bytes are spread.
    let mut slowloris = TcpStream::connect(proxy.addr()).unwrap();
    let addr = slowloris.local_addr().unwrap();
    let frame = [&10i32.to_be_bytes()[..], &request(18, 0, 1, false, &[])].concat();
    let (sent, took) = trickle(&proxy, &mut slowloris, &frame);
    eprintln!("slowloris: {sent} bytes sent, closed after {took:?}");
    assert!(
        sent < frame.len(),
        "the proxy waited for the whole trickled frame"
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "closed after {took:?}"
    );
    assert_logged(
        &proxy,
        addr,
        "client timed out during the authentication handshake",
    );
    healthy.assert_working("an authentication slowloris");
    drop(slowloris);
    assert_back_to(&proxy, baseline, "an authentication slowloris");
    healthy.finish();
    let mut proxy = proxy;
    proxy.assert_healthy();
}

/// `GET path` on the proxy's HTTP port: the body.
fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// Opens `n` connections as fast as it can and sorts them into those the proxy closed at once
/// and those it kept open.
fn storm(addr: SocketAddr, n: usize) -> (Vec<TcpStream>, usize) {
    let connections: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(addr).expect("connect during the storm"))
        .collect();
    // A refused connection reads EOF (or a reset) at once; a kept one has nothing to read.
    thread::sleep(Duration::from_millis(500));
    let mut open = Vec::new();
    let mut closed = 0;
    for mut c in connections {
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        match c.read(&mut [0u8; 1]) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                open.push(c)
            }
            _ => closed += 1,
        }
    }
    (open, closed)
}

#[test]
fn connection_storm_past_the_limit_is_refused_at_once() {
    const LIMIT: usize = 20;
    const STORM: usize = 300;
    let broker = fault_broker();
    let proxy = Proxy::start_for_port(
        broker.port(),
        &[
            "--max-client-connections",
            &LIMIT.to_string(),
            "--external-server-mapping",
            "127.0.0.1:1,127.0.0.1:2",
        ],
    );
    let healthy = Healthy::start(proxy.addr());
    let baseline = steady_resources(proxy.pid());
    eprintln!("baseline: {baseline:?}");

    let (open, closed) = storm(proxy.addr(), STORM);
    // The healthy client holds one slot.
    assert_eq!(open.len(), LIMIT - 1, "connections kept open");
    assert_eq!(closed, STORM - (LIMIT - 1), "connections closed at once");
    let during = resources(proxy.pid());
    eprintln!(
        "during the storm: {during:?}, {} kept open, {closed} closed at once",
        open.len()
    );
    assert!(
        during.threads <= baseline.threads + 2 * (LIMIT - 1),
        "{during:?} during the storm, {baseline:?} before: more threads than the limit allows"
    );
    healthy.assert_working("the storm");

    let log = wait_for_log(&proxy, "--max-client-connections allows");
    let refusals = log
        .lines()
        .filter(|l| l.contains("the most --max-client-connections allows; closed at once"))
        .count();
    assert!(
        (1..=2).contains(&refusals),
        "refusals are logged once per interval, not once each: {refusals} lines in\n{log}"
    );
    let metrics = http_get(proxy.http_port, "/metrics");
    let counted = format!(
        "proxy_errors_total{{cause=\"client_connection_limit\"}} {}",
        STORM - (LIMIT - 1)
    );
    assert!(
        metrics.contains(&counted),
        "expected {counted} in:\n{metrics}"
    );

    // Slots are freed as connections close: a new client is served again.
    drop(open);
    assert_back_to(&proxy, baseline, "the storm");
    let mut after = RawClient::connect(proxy.addr());
    after.send(&metadata_request(1, 5)).unwrap();
    assert!(after.recv().is_some(), "a client after the storm is served");
    drop(after);
    healthy.finish();
    let mut proxy = proxy;
    proxy.assert_healthy();
}

/// The proxy binary in front of 127.0.0.1:`broker_port`, with at most `max_fds` descriptors
/// (`ulimit -n`): a process out of descriptors must refuse what it cannot serve and recover.
struct LimitedProxy {
    port: u16,
    child: Child,
    log: std::path::PathBuf,
    _dir: TempDir,
}

impl LimitedProxy {
    fn start(broker_port: u16, max_fds: u32) -> LimitedProxy {
        let dir = TempDir::new("kafka-proxy-e2e-fd-limit");
        let port = free_port();
        let log = dir.path().join("proxy.log");
        let out = File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mapping = format!("127.0.0.1:{broker_port},127.0.0.1:{port}");
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {max_fds} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_kafka-proxy"))
            .args(["server", "--bootstrap-server-mapping", &mapping])
            .args(["--http-disable", "--log-level", "info"])
            .args(["--external-server-mapping", "127.0.0.1:1,127.0.0.1:2"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start kafka-proxy under ulimit -n");
        let proxy = LimitedProxy {
            port,
            child,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while api_versions_ok(proxy.addr(), Duration::from_secs(2)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the proxy never served:\n{}",
                proxy.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LimitedProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("--- kafka-proxy log ---\n{}--- end ---", self.log());
        }
    }
}

#[test]
fn running_out_of_descriptors_refuses_connections_and_recovers() {
    let broker = fault_broker();
    let mut proxy = LimitedProxy::start(broker.port(), 64);
    let (open, closed) = storm(proxy.addr(), 100);
    eprintln!(
        "under ulimit -n 64: {} connections kept (served or in the backlog), {closed} closed",
        open.len()
    );
    // Each served connection takes two descriptors (client and broker sockets): some tens are
    // served, the rest wait in the backlog or are closed; the process lives on.
    assert!(!open.is_empty(), "some connections are served");
    assert!(
        proxy.child.try_wait().unwrap().is_none(),
        "the proxy exited:\n{}",
        proxy.log()
    );
    drop(open);
    // Once descriptors are free again, a new client is served.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut client = RawClient::connect(proxy.addr());
        if client.send(&metadata_request(1, 9)).is_ok() && client.recv().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after the storm:\n{}",
            proxy.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    let log = proxy.log();
    assert!(
        log.contains("Too many open files") || log.contains("os error 24"),
        "the storm never ran the proxy out of descriptors ({closed} closed):\n{log}"
    );
    let accept_lines = log.lines().filter(|l| l.contains("accept failed")).count();
    let emfile_lines = log
        .lines()
        .filter(|l| l.contains("Too many open files"))
        .count();
    eprintln!("log: {accept_lines} accept-failure lines, {emfile_lines} lines naming EMFILE");
    assert!(
        accept_lines <= 3,
        "accept failures are logged once per interval: {accept_lines} lines:\n{log}"
    );
    assert!(!log.contains("panicked at"), "{log}");
    assert!(
        proxy.child.try_wait().unwrap().is_none(),
        "the proxy exited"
    );
}

/// A tansu broker on a fixed port whose storage (sqlite, in its own directory) survives a
/// restart, so it can be stopped and started again behind a running proxy.
struct RestartableBroker {
    port: u16,
    tansu: std::path::PathBuf,
    dir: TempDir,
    child: Option<Child>,
    starts: usize,
}

impl RestartableBroker {
    fn start(tansu: &std::path::Path) -> RestartableBroker {
        let mut broker = RestartableBroker {
            port: free_port(),
            tansu: tansu.to_path_buf(),
            dir: TempDir::new("kafka-proxy-e2e-rolling"),
            child: None,
            starts: 0,
        };
        broker.start_again();
        broker
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn log(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                let path = self.dir.path().join(format!("tansu-{n}.log"));
                format!(
                    "--- start {n} ---\n{}",
                    fs::read_to_string(path).unwrap_or_default()
                )
            })
            .collect()
    }

    fn start_again(&mut self) {
        self.starts += 1;
        let log = File::create(self.dir.path().join(format!("tansu-{}.log", self.starts))).unwrap();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.tansu)
            .env_clear()
            .envs(std::env::vars_os().filter(|(k, _)| k == "PATH" || k == "HOME"))
            .env("RUST_LOG", "warn")
            .args(["broker", "--storage-engine", "sqlite://tansu.db"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.tansu.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = api_versions_ok(self.addr(), Duration::from_secs(2)) {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "tansu did not come up ({e}; exited: {exited:?}):\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the broker the way an orchestrator does: SIGTERM, then SIGKILL after 10 s.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for RestartableBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.log());
        }
    }
}

#[test]
fn rolling_broker_restart_loses_no_acknowledged_message() {
    let Some(tools) = harness::tools("rolling_broker_restart_loses_no_acknowledged_message") else {
        return;
    };
    let mut broker = RestartableBroker::start(&tools.tansu);
    let proxy = Proxy::start_for_port(broker.port, &["--log-level", "info"]);
    let proxy_pid = proxy.pid();
    let markers = TempDir::new("kafka-proxy-e2e-rolling-markers");
    let started_file = markers.path().join("started");
    let restarted_file = markers.path().join("restarted");

    let producer = {
        let tools = tools.clone();
        let bootstrap = proxy.bootstrap();
        let topic = unique("rolling");
        let group = unique("rolling-group");
        let started = started_file.display().to_string();
        let restarted = restarted_file.display().to_string();
        thread::spawn(move || {
            clients::try_run(
                &tools,
                "rolling_produce.py",
                &bootstrap,
                &[
                    "--topic",
                    &topic,
                    "--group",
                    &group,
                    "--seconds",
                    "20",
                    "--rate",
                    "200",
                    "--started-file",
                    &started,
                    "--restarted-file",
                    &restarted,
                ],
                Duration::from_secs(150),
            )
        })
    };

    let deadline = Instant::now() + Duration::from_secs(60);
    while !started_file.exists() {
        assert!(
            Instant::now() < deadline && !producer.is_finished(),
            "the producer never started"
        );
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(Duration::from_secs(5));
    let down = Instant::now();
    broker.stop();
    thread::sleep(Duration::from_secs(1));
    broker.start_again();
    let downtime = down.elapsed();
    File::create(&restarted_file).unwrap();
    eprintln!("broker restarted on the same port; down for {downtime:?}");

    let outcome = producer.join().expect("the producer thread");
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => panic!("{e}\n--- proxy log ---\n{}", proxy.log()),
    };
    let json = &outcome.json;
    let get = |k: &str| json.get(k).as_i64().unwrap_or(-1);
    assert_eq!(
        get("missing"),
        0,
        "acknowledged messages were lost across the restart: {json}"
    );
    assert!(get("acked") > 1000, "too few acknowledged: {json}");
    assert!(
        get("acked_after_restart") > 0,
        "nothing was acknowledged after the restart: {json}"
    );
    let mut proxy = proxy;
    proxy.assert_healthy();
    assert_eq!(proxy.pid(), proxy_pid);
    assert!(
        api_versions_ok(proxy.addr(), Duration::from_secs(5)).is_ok(),
        "the same proxy serves after the restart"
    );
}
