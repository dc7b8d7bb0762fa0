//! The memory benchmark: RSS of the process under test before and after N idle client
//! connections are open (each has sent one ApiVersions request and read its response), and a
//! check that all N are still served (one more round trip on every one, all open at once).

use crate::broker::IdleBrokerProcess;
use crate::targets::{self, Haproxy, ProxyProcess};
use crate::wire;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// kafka-proxy with these flags (beside `--max-client-connections`).
    Proxy(&'static [&'static str]),
    /// The static musl build of kafka-proxy with its defaults.
    ProxyMusl,
    Haproxy,
}

/// Descriptors a kafka-proxy process holds besides its connections (standard streams,
/// listeners, the signal pipe, ...): the most connections a limit of `n` allows is
/// `(n - BASE_DESCRIPTORS) / 2`.
pub const BASE_DESCRIPTORS: u64 = 8;

pub struct MemoryResult {
    pub connections: usize,
    /// Connections opened and answered.
    pub held: usize,
    /// Connections answered again while all were open.
    pub served: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub threads: u64,
    /// Open descriptors the target added per connection.
    pub descriptors_per_connection: f64,
}

impl MemoryResult {
    pub fn kib_per_connection(&self) -> f64 {
        (self.rss_after_kib as f64 - self.rss_before_kib as f64) / self.held.max(1) as f64
    }
}

/// Descriptors this process needs for `n` connections (the client end of each; the broker's
/// ends are in its own process).
pub fn descriptors_needed(n: usize) -> u64 {
    n as u64 + 128
}

/// Descriptors a process has open.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Runs the benchmark for `n` connections against a fresh target, or returns why not.
/// What each connection sends before it idles.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum First {
    /// An ApiVersions request, as every client starts.
    ApiVersions,
    /// A Produce v8 request with a 64 KiB batch: a producer that has sent data, so buffers
    /// allocated for large frames show.
    Produce64K,
}

impl First {
    fn request(self) -> Vec<u8> {
        match self {
            First::ApiVersions => wire::api_versions_request(),
            First::Produce64K => wire::produce_v8_request("memory", wire::PRODUCE_BATCH),
        }
    }
}

/// `settle` is how long the connection threads get to settle (stacks touched, buffers
/// allocated) before RSS is read.
pub fn measure(
    target: Target,
    n: usize,
    first: First,
    settle: Duration,
) -> Result<MemoryResult, String> {
    let limit = targets::open_files_limit().unwrap_or(0);
    if limit < descriptors_needed(n) {
        return Err(format!(
            "skipped: {n} connections need {} open files here, the limit is {limit}",
            descriptors_needed(n)
        ));
    }
    let mut broker = IdleBrokerProcess::start();
    let max_conns = (n + 100).max(4096).to_string();
    let (pid, addr, _proxy, _haproxy) = match target {
        Target::Proxy(flags) => {
            let mut args = vec!["--max-client-connections", &max_conns];
            args.extend(flags);
            let p = ProxyProcess::start(broker.addr, &args);
            (p.pid(), p.addr, Some(p), None)
        }
        Target::ProxyMusl => {
            let binary = targets::musl_binary()
                .ok_or_else(|| "skipped: no static musl build (scripts/bench.sh)".to_string())?;
            let args = ["--max-client-connections", &max_conns];
            let p = ProxyProcess::start_binary(&binary, broker.addr, &args);
            (p.pid(), p.addr, Some(p), None)
        }
        Target::Haproxy => {
            let h = Haproxy::start(broker.addr, None, n + 100)
                .ok_or_else(|| "skipped: haproxy not found".to_string())?;
            (h.pid(), h.addr, None, Some(h))
        }
    };
    thread::sleep(settle / 3);
    let rss = || targets::status_field(pid, "VmRSS").unwrap_or(0);
    let rss_before_kib = rss();
    let descriptors_before = descriptors(pid);

    let conns = open_idle(addr, n, first);
    let held = conns.len();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while broker.parked() < held && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(settle);
    let rss_after_kib = rss();
    let threads = targets::status_field(pid, "Threads").unwrap_or(0);
    let descriptors_after = descriptors(pid);

    let served = serve_all(&conns, &mut broker);
    drop(conns);
    broker.close_all();
    Ok(MemoryResult {
        connections: n,
        held,
        served,
        rss_before_kib,
        rss_after_kib,
        threads,
        descriptors_per_connection: (descriptors_after as f64 - descriptors_before as f64)
            / held.max(1) as f64,
    })
}

/// Opens `n` connections, each with one ApiVersions round trip, from a few threads at once.
/// Connections that fail are left out (and reported as not held).
fn open_idle(addr: SocketAddr, n: usize, first: First) -> Vec<TcpStream> {
    const OPENERS: usize = 4;
    let threads: Vec<_> = (0..OPENERS)
        .map(|i| {
            let count = n / OPENERS + usize::from(i < n % OPENERS);
            thread::spawn(move || {
                let mut conns = Vec::with_capacity(count);
                for _ in 0..count {
                    let opened = TcpStream::connect(addr)
                        .and_then(|s| round_trip(&s, &first.request(), 1).map(|()| s));
                    match opened {
                        Ok(s) => conns.push(s),
                        // The target is out of descriptors, threads or slots: it holds no
                        // more, and each further try would wait for the timeout.
                        Err(e) => {
                            eprintln!(
                                "memory benchmark: connection {} to {addr} failed, this opener \
                                 stops: {e}",
                                conns.len() + 1
                            );
                            break;
                        }
                    }
                }
                conns
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("an opener thread failed"))
        .collect()
}

fn round_trip(s: &TcpStream, request: &[u8], correlation: i32) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    send(s, request, correlation)?;
    receive(&mut &*s, correlation)
}

fn send(mut s: &TcpStream, request: &[u8], correlation: i32) -> std::io::Result<()> {
    let mut request = request.to_vec();
    request[wire::REQUEST_CORRELATION].copy_from_slice(&correlation.to_be_bytes());
    s.write_all(&request)
}

fn receive(s: &mut &TcpStream, correlation: i32) -> std::io::Result<()> {
    let mut prefix = [0u8; 4];
    s.read_exact(&mut prefix)?;
    let size = i32::from_be_bytes(prefix);
    if !(4..=4096).contains(&size) {
        return Err(std::io::Error::other(format!("response size {size}")));
    }
    let mut body = vec![0u8; size as usize];
    s.read_exact(&mut body)?;
    if body[..4] != correlation.to_be_bytes() {
        return Err(std::io::Error::other("correlation id mismatch"));
    }
    Ok(())
}

/// Sends a request on every connection, lets the broker answer each, and counts the
/// connections whose answer arrives: all connections open at once, all served.
fn serve_all(conns: &[TcpStream], broker: &mut IdleBrokerProcess) -> usize {
    let request = wire::api_versions_request();
    let sent: Vec<bool> = conns.iter().map(|s| send(s, &request, 2).is_ok()).collect();
    broker.answer_parked();
    conns
        .iter()
        .zip(sent)
        .filter(|(s, sent)| *sent && receive(&mut &**s, 2).is_ok())
        .count()
}
