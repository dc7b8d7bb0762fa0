//! The load generator (pipelined requests on many connections, each response checked for its
//! correlation id and timed) and the latency probe (one request in flight).

use crate::wire::{self, Payload};
use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// One measurement's figures.
pub struct Measured {
    pub requests: u64,
    /// Payload bytes moved (request bytes for Produce, response bytes for Fetch).
    pub bytes: u64,
    pub seconds: f64,
    /// Round-trip times of every request, in microseconds, sorted.
    pub latencies_us: Vec<f64>,
    /// What `cpu` returned before and after (CPU seconds of the process under test).
    pub cpu_seconds: Option<f64>,
    /// The last response seen, for the smoke run's checks.
    pub last_response: Vec<u8>,
}

pub struct Load<'a> {
    pub addr: SocketAddr,
    pub tls: bool,
    pub request: &'a [u8],
    pub payload: Payload,
    pub connections: usize,
    /// Requests in flight per connection.
    pub depth: usize,
    /// Whether the requests that are ready go out in one write (see `pipeline`).
    pub batched: bool,
    pub seconds: f64,
}

/// Runs `load` and returns what it measured. The clock starts once every connection is open;
/// `cpu` is sampled then and after the last response.
pub fn run(load: &Load, cpu: &dyn Fn() -> Option<f64>) -> Measured {
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(load.connections + 1));
    let threads: Vec<_> = (0..load.connections)
        .map(|_| {
            let (stop, ready) = (Arc::clone(&stop), Arc::clone(&ready));
            let (addr, tls, depth, payload) = (load.addr, load.tls, load.depth, load.payload);
            let batched = load.batched;
            let request = load.request.to_vec();
            thread::spawn(move || {
                let conn = connect(addr, tls);
                ready.wait();
                pipeline(conn, request, depth, batched, payload, &stop)
            })
        })
        .collect();
    ready.wait();
    let start = Instant::now();
    let cpu_before = cpu();
    thread::sleep(Duration::from_secs_f64(load.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut m = Measured {
        requests: 0,
        bytes: 0,
        seconds: 0.0,
        latencies_us: Vec::new(),
        cpu_seconds: None,
        last_response: Vec::new(),
    };
    for t in threads {
        let (requests, bytes, latencies, last) = t.join().expect("a load generator thread failed");
        m.requests += requests;
        m.bytes += bytes;
        m.latencies_us
            .extend(latencies.iter().map(|&l| f64::from(l)));
        m.last_response = last;
    }
    m.seconds = start.elapsed().as_secs_f64();
    m.cpu_seconds = cpu_before.zip(cpu()).map(|(before, after)| after - before);
    m.latencies_us.sort_by(f64::total_cmp);
    m
}

/// One connection: keeps `depth` requests in flight until `stop`, then collects what is still
/// in flight. Returns (responses, payload bytes, latencies in µs, the last response).
///
/// `batched`, as librdkafka: the responses that arrived together are all read before new
/// requests are sent, and the requests that are ready then go out in one write.
fn pipeline(
    conn: Box<dyn Conn>,
    mut request: Vec<u8>,
    depth: usize,
    batched: bool,
    payload: Payload,
    stop: &AtomicBool,
) -> (u64, u64, Vec<u32>, Vec<u8>) {
    let mut reader = BufReader::with_capacity(256 * 1024, conn);
    let mut body = Vec::new();
    let mut sent_at: VecDeque<(i32, Instant)> = VecDeque::with_capacity(depth);
    let mut latencies = Vec::with_capacity(64 * 1024);
    let (mut received, mut bytes) = (0u64, 0u64);
    let mut correlation = 0i32;
    let mut batch = Vec::with_capacity(if batched { depth * request.len() } else { 0 });
    loop {
        // Batched: more responses already buffered are read first.
        let refill = !batched || reader.buffer().is_empty() || sent_at.is_empty();
        while refill && sent_at.len() < depth && !stop.load(Ordering::Relaxed) {
            correlation = correlation.wrapping_add(1);
            request[wire::REQUEST_CORRELATION].copy_from_slice(&correlation.to_be_bytes());
            if batched {
                batch.extend_from_slice(&request);
            } else {
                reader
                    .get_mut()
                    .write_all(&request)
                    .expect("sending a request");
            }
            sent_at.push_back((correlation, Instant::now()));
        }
        if !batch.is_empty() {
            reader
                .get_mut()
                .write_all(&batch)
                .expect("sending requests");
            batch.clear();
        }
        let Some((expected, at)) = sent_at.pop_front() else {
            break;
        };
        let mut prefix = [0u8; 4];
        reader.read_exact(&mut prefix).expect("reading a response");
        let size = i32::from_be_bytes(prefix);
        assert!(
            (4..=64 << 20).contains(&size),
            "response size {size} out of range"
        );
        body.resize(size as usize, 0);
        reader.read_exact(&mut body).expect("reading a response");
        latencies.push(at.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        let got = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        assert_eq!(got, expected, "responses out of order");
        received += 1;
        bytes += match payload {
            Payload::InRequest => request.len() as u64,
            Payload::InResponse => size as u64 + 4,
        };
    }
    let mut last = prefix_of(&body);
    last.extend_from_slice(&body);
    (received, bytes, latencies, last)
}

fn prefix_of(body: &[u8]) -> Vec<u8> {
    (body.len() as i32).to_be_bytes().to_vec()
}

pub trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

/// A client connection: plain TCP, or TLS (rustls, trusting the test CA of
/// `src/net/tls/testdata`) for the proxy's TLS listener.
pub fn connect(addr: SocketAddr, tls: bool) -> Box<dyn Conn> {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.set_nodelay(true).expect("TCP_NODELAY");
    if !tls {
        return Box::new(s);
    }
    use rustls::pki_types::pem::PemObject;
    let ca = rustls::pki_types::CertificateDer::from_pem_file(testdata("ca.pem")).expect("CA");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("CA");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
    Box::new(rustls::StreamOwned::new(conn, s))
}

pub fn testdata(name: &str) -> String {
    format!("{}/src/net/tls/testdata/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A connection for the latency probe: ApiVersions round trips, one in flight.
pub struct Prober {
    stream: TcpStream,
    request: Vec<u8>,
    buf: Vec<u8>,
    next: i32,
}

impl Prober {
    pub fn connect(addr: SocketAddr) -> Prober {
        let stream =
            TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let mut p = Prober {
            stream,
            request: wire::api_versions_request(),
            buf: vec![0u8; 4096],
            next: 0,
        };
        // Warm up: the first round trips pay for connection setup and cold caches.
        p.sample(200);
        p
    }

    /// `n` round trips; returns their latencies in microseconds.
    pub fn sample(&mut self, n: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            self.next = self.next.wrapping_add(1);
            self.request[wire::REQUEST_CORRELATION].copy_from_slice(&self.next.to_be_bytes());
            let t = Instant::now();
            self.stream.write_all(&self.request).expect("ApiVersions");
            let mut prefix = [0u8; 4];
            self.stream.read_exact(&mut prefix).expect("ApiVersions");
            let size = i32::from_be_bytes(prefix) as usize;
            assert!((4..=self.buf.len()).contains(&size), "ApiVersions size");
            self.stream
                .read_exact(&mut self.buf[..size])
                .expect("ApiVersions");
            out.push(t.elapsed().as_secs_f64() * 1e6);
            assert_eq!(self.buf[..4], self.next.to_be_bytes(), "correlation id");
        }
        out
    }
}
