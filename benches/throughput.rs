//! Throughput and latency: directly against a fast scripted broker and through the real
//! kafka-proxy binary, measured alternately in one run and printed as ratios.
//!
//! `cargo bench --bench throughput` (options after `--`: `--seconds N`, `--connections N`,
//! `--depth N`, `--rounds N`). The broker answers from pre-encoded responses so it is never the
//! bottleneck; every figure is a ratio against the direct path measured in the same run.

use kafka_proxy::codec::Writer;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const PRODUCE_BATCH: usize = 64 * 1024;
const FETCH_RESPONSE: usize = 1024 * 1024;

struct Options {
    seconds: f64,
    connections: usize,
    depth: usize,
    rounds: usize,
    latency_samples: usize,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 3.0,
        connections: 8,
        depth: 4,
        rounds: 2,
        latency_samples: 20_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --all-targets` runs this binary without `--bench`: a quick smoke run then, so
    // the harness is exercised by the tests without spending their time.
    if !args.iter().any(|a| a == "--bench") {
        o.seconds = 0.2;
        o.rounds = 1;
        o.latency_samples = 200;
    }
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--seconds" => o.seconds = value.parse().expect("--seconds"),
            "--connections" => o.connections = value.parse().expect("--connections"),
            "--depth" => o.depth = value.parse().expect("--depth"),
            "--rounds" => o.rounds = value.parse().expect("--rounds"),
            "--latency-samples" => o.latency_samples = value.parse().expect("--latency-samples"),
            _ => {
                i += 1; // cargo passes --bench; ignore what is not ours
                continue;
            }
        }
        i += 2;
    }
    o
}

// ---------------------------------------------------------------------------------------------
// Pre-encoded frames

fn frame(body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    body(&mut Writer::new(&mut out));
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    out
}

fn request_header(w: &mut Writer, api_key: i16, version: i16) {
    w.i16(api_key);
    w.i16(version);
    w.i32(0); // correlation id, patched per request
    w.nullable_string_flex(false, Some("bench"));
}

/// Produce v8, acks=1, one partition carrying a 64 KiB batch.
fn produce_request() -> Vec<u8> {
    produce_request_of(PRODUCE_BATCH)
}

/// A Produce v8 request carrying one batch of `batch` bytes.
fn produce_request_of(batch: usize) -> Vec<u8> {
    frame(|w| {
        request_header(w, 0, 8);
        w.i16(-1); // transactional id
        w.i16(1); // acks
        w.i32(30_000);
        w.i32(1);
        w.string_flex(false, "bench");
        w.i32(1);
        w.i32(0);
        w.i32(batch as i32);
        w.bytes(&vec![0x5a; batch]);
    })
}

fn produce_response() -> Vec<u8> {
    frame(|w| {
        w.i32(0);
        w.i32(1);
        w.string_flex(false, "bench");
        w.i32(1);
        w.i32(0); // partition
        w.i16(0); // error
        w.i64(42); // base offset
        w.i64(-1); // log append time
        w.i64(0); // log start offset
        w.i32(0); // record errors
        w.i16(-1); // error message
        w.i32(0); // throttle
    })
}

/// Fetch v11 request (the broker ignores the body).
fn fetch_request() -> Vec<u8> {
    frame(|w| {
        request_header(w, 1, 11);
        w.i32(-1); // replica
        w.i32(500);
        w.i32(1);
        w.i32(FETCH_RESPONSE as i32);
        w.i8(0);
        w.i32(0);
        w.i32(-1);
        w.i32(0); // topics
        w.i32(0); // forgotten
        w.string_flex(false, "");
    })
}

/// Fetch v11 response with one partition carrying 1 MiB of records.
fn fetch_response() -> Vec<u8> {
    frame(|w| {
        w.i32(0);
        w.i32(0); // throttle
        w.i16(0);
        w.i32(0); // session
        w.i32(1);
        w.string_flex(false, "bench");
        w.i32(1);
        w.i32(0); // partition
        w.i16(0);
        w.i64(1000);
        w.i64(1000);
        w.i64(0);
        w.i32(-1); // aborted transactions: null
        w.i32(-1); // preferred read replica
        w.i32(FETCH_RESPONSE as i32);
        w.bytes(&vec![0xa5; FETCH_RESPONSE]);
    })
}

fn api_versions_request() -> Vec<u8> {
    frame(|w| request_header(w, 18, 0))
}

/// ApiVersions v0 response: the proxy decodes and caps these, so this is its rewrite path.
fn api_versions_response() -> Vec<u8> {
    frame(|w| {
        w.i32(0);
        w.i16(0);
        let keys: [(i16, i16, i16); 4] = [(0, 0, 11), (1, 0, 17), (3, 0, 12), (18, 0, 4)];
        w.i32(keys.len() as i32);
        for (k, min, max) in keys {
            w.i16(k);
            w.i16(min);
            w.i16(max);
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The fast scripted broker

struct FakeBroker {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FakeBroker {
    fn start() -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let responses = Arc::new([
            produce_response(),
            fetch_response(),
            api_versions_response(),
        ]);
        let thread = thread::spawn(move || {
            let mut conns = Vec::new();
            while !flag.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let responses = Arc::clone(&responses);
                        conns.push(thread::spawn(move || broker_conn(s, &responses)));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
            drop(listener);
            for c in conns {
                let _ = c.join();
            }
        });
        FakeBroker {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn broker_conn(mut s: TcpStream, responses: &[Vec<u8>; 3]) {
    s.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut out: Vec<u8> = Vec::with_capacity(2 * FETCH_RESPONSE);
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, s.try_clone().unwrap());
    loop {
        let mut prefix = [0u8; 4];
        if reader.read_exact(&mut prefix).is_err() {
            return;
        }
        let size = i32::from_be_bytes(prefix) as usize;
        if buf.len() < size {
            buf.resize(size, 0);
        }
        if reader.read_exact(&mut buf[..size]).is_err() {
            return;
        }
        let api_key = i16::from_be_bytes([buf[0], buf[1]]);
        let response = match api_key {
            0 => &responses[0],
            1 => &responses[1],
            _ => &responses[2],
        };
        out.clear();
        out.extend_from_slice(response);
        out[4..8].copy_from_slice(&buf[4..8]); // correlation id
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Load generator

/// Pipelined requests on `connections` connections for `seconds`; returns (requests, bytes of
/// payload moved: request bytes for produce, response bytes for fetch).
fn load(
    addr: SocketAddr,
    tls: bool,
    request: &[u8],
    payload_in_response: bool,
    o: &Options,
) -> (u64, u64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..o.connections)
        .map(|_| {
            let request = request.to_vec();
            let stop = Arc::clone(&stop);
            let depth = o.depth;
            thread::spawn(move || {
                let mut reader = std::io::BufReader::with_capacity(256 * 1024, connect(addr, tls));
                let mut request = request;
                let mut body = vec![0u8; 2 * FETCH_RESPONSE];
                let (mut sent, mut received, mut bytes) = (0u64, 0u64, 0u64);
                let mut correlation = 0i32;
                loop {
                    while sent - received < depth as u64 && !stop.load(Ordering::Relaxed) {
                        correlation = correlation.wrapping_add(1);
                        request[8..12].copy_from_slice(&correlation.to_be_bytes());
                        reader.get_mut().write_all(&request).unwrap();
                        sent += 1;
                    }
                    if sent == received {
                        break;
                    }
                    let mut prefix = [0u8; 4];
                    reader.read_exact(&mut prefix).unwrap();
                    let size = i32::from_be_bytes(prefix) as usize;
                    reader.read_exact(&mut body[..size]).unwrap();
                    received += 1;
                    bytes += if payload_in_response {
                        size as u64 + 4
                    } else {
                        request.len() as u64
                    };
                }
                (received, bytes)
            })
        })
        .collect();
    thread::sleep(Duration::from_secs_f64(o.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut total = (0, 0);
    for t in threads {
        let (r, b) = t.join().unwrap();
        total.0 += r;
        total.1 += b;
    }
    (total.0, total.1, start.elapsed().as_secs_f64())
}

trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

/// A client connection: plain TCP, or TLS (rustls, trusting the test CA of
/// `src/net/tls/testdata`) for the proxy's TLS listener.
fn connect(addr: SocketAddr, tls: bool) -> Box<dyn Conn> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    if !tls {
        return Box::new(s);
    }
    use rustls::pki_types::pem::PemObject;
    let ca = rustls::pki_types::CertificateDer::from_pem_file(testdata("ca.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    Box::new(rustls::StreamOwned::new(conn, s))
}

fn testdata(name: &str) -> String {
    format!("{}/src/net/tls/testdata/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// One request in flight, `samples` round trips; returns sorted latencies in microseconds.
fn latency(addr: SocketAddr, samples: usize) -> Vec<f64> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut request = api_versions_request();
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::with_capacity(samples);
    let warmup = samples.min(200);
    for i in 0..samples + warmup {
        request[8..12].copy_from_slice(&(i as i32).to_be_bytes());
        let t = Instant::now();
        s.write_all(&request).unwrap();
        let mut prefix = [0u8; 4];
        s.read_exact(&mut prefix).unwrap();
        let size = i32::from_be_bytes(prefix) as usize;
        s.read_exact(&mut buf[..size]).unwrap();
        if i >= warmup {
            out.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

// ---------------------------------------------------------------------------------------------
// The proxy under test

struct ProxyProcess {
    child: Child,
    addr: SocketAddr,
}

impl ProxyProcess {
    fn start(broker: SocketAddr, extra: &[&str]) -> ProxyProcess {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mapping = format!("{broker},127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_kafka-proxy"))
            .args([
                "server",
                "--bootstrap-server-mapping",
                &mapping,
                "--log-level",
                "warn",
                // Several proxies run at once: let each HTTP listener take a free port.
                "--http-listen-address",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .expect("start kafka-proxy");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "kafka-proxy did not start listening"
            );
            thread::sleep(Duration::from_millis(20));
        }
        ProxyProcess { child, addr }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    let o = options();
    let broker = FakeBroker::start();
    let default_proxy = ProxyProcess::start(broker.addr, &[]);
    let tuned_proxy = ProxyProcess::start(
        broker.addr,
        &[
            "--proxy-request-buffer-size",
            "65536",
            "--proxy-response-buffer-size",
            "65536",
        ],
    );
    let (cert, key) = (testdata("server.pem"), testdata("server.key"));
    let tls_proxy = ProxyProcess::start(
        broker.addr,
        &[
            "--proxy-request-buffer-size",
            "65536",
            "--proxy-response-buffer-size",
            "65536",
            "--proxy-listener-tls-enable",
            "--proxy-listener-cert-file",
            &cert,
            "--proxy-listener-key-file",
            &key,
        ],
    );
    // The default proxy counts for /metrics; with --http-disable (and no debug listener) nothing
    // can read the counts, so the pumps skip counting: the pair measures what counting costs.
    let uncounted_proxy = ProxyProcess::start(broker.addr, &["--http-disable"]);
    // (label, address, TLS client)
    let paths: [(&str, SocketAddr, bool); 5] = [
        ("direct", broker.addr, false),
        ("proxy (4 KiB buffers, default)", default_proxy.addr, false),
        ("proxy (64 KiB buffers)", tuned_proxy.addr, false),
        ("proxy, TLS listener (64 KiB)", tls_proxy.addr, true),
        ("proxy (default, metrics off)", uncounted_proxy.addr, false),
    ];
    println!(
        "kafka-proxy throughput benchmark: {} connections, {} requests in flight each, {} s per measurement, {} rounds",
        o.connections, o.depth, o.seconds, o.rounds
    );

    let workloads: [(&str, Vec<u8>, bool); 3] = [
        ("Produce v8, 64 KiB batches", produce_request(), false),
        ("Fetch v11, 1 MiB responses", fetch_request(), true),
        // Small frames: the per-request costs (metrics counting among them) dominate.
        (
            "Produce v8, 100-byte batches",
            produce_request_of(100),
            false,
        ),
    ];
    for (name, request, in_response) in &workloads {
        let mut mbps = vec![Vec::new(); paths.len()];
        let mut rps = vec![Vec::new(); paths.len()];
        for _ in 0..o.rounds {
            for (i, (_, addr, tls)) in paths.iter().enumerate() {
                let (requests, bytes, secs) = load(*addr, *tls, request, *in_response, &o);
                mbps[i].push(bytes as f64 / secs / 1e6);
                rps[i].push(requests as f64 / secs);
            }
        }
        println!("\n{name}");
        let direct = median(&mbps[0]);
        for (i, (label, _, _)) in paths.iter().enumerate() {
            let m = median(&mbps[i]);
            println!(
                "  {label:<32} {m:>9.1} MB/s {:>9.0} req/s   ratio to direct {:.3}",
                median(&rps[i]),
                m / direct
            );
        }
        println!(
            "  TLS listener / plaintext proxy (both 64 KiB buffers): ratio {:.3}",
            median(&mbps[3]) / median(&mbps[2])
        );
        println!(
            "  metrics on / metrics off (default buffers): ratio {:.3} (MB/s), {:.3} (req/s)",
            median(&mbps[1]) / median(&mbps[4]),
            median(&rps[1]) / median(&rps[4])
        );
    }

    println!(
        "\nApiVersions round trip, one request in flight ({} samples)",
        o.latency_samples
    );
    let mut direct_p50 = 0.0;
    // The latency probe speaks plain TCP: the TLS path is measured for throughput only.
    for (i, (label, addr, _)) in paths.iter().enumerate().filter(|(_, p)| !p.2) {
        let l = latency(*addr, o.latency_samples);
        let p50 = percentile(&l, 0.5);
        if i == 0 {
            direct_p50 = p50;
        }
        println!(
            "  {label:<32} p50 {p50:>7.1} µs  p99 {:>7.1} µs  p99.9 {:>7.1} µs   p50 ratio to direct {:.2}",
            percentile(&l, 0.99),
            percentile(&l, 0.999),
            p50 / direct_p50
        );
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
