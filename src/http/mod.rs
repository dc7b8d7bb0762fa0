//! The HTTP endpoints: `--http-health-path` (200 while serving, 503 while draining) and
//! `--http-metrics-path` (Prometheus text) on `--http-listen-address`, and, with
//! `--debug-enable`, a JSON view of the live listeners, connections and build on
//! `--debug-listen-address`.
//!
//! A small HTTP/1.x server of its own rather than tiny_http: tiny_http reads a request line or
//! header of any length into memory (a 200 MB header line took 200 MB of RSS when we tried),
//! sets no read timeout on its sockets and starts a thread for every connection it is given.
//! These endpoints need none of its features (only GET and HEAD, no bodies, no keep-alive), so
//! a bounded reader is less code to trust, and nothing a client sends can panic the server.
//!
//! A connection holds no thread until its request head has arrived: the accept thread reads
//! the heads of every waiting connection without blocking (at most [`MAX_WAITING`], at most
//! [`MAX_PER_ADDRESS`] from one address; a newcomer closes the oldest), closes a connection
//! that sends no byte within [`FIRST_BYTE_DEADLINE`] or no whole head of at most [`MAX_HEAD`]
//! bytes within [`HEAD_DEADLINE`], answers a probe (`--http-health-path`) itself, and gives
//! other requests a thread each (at most [`MAX_SERVING`], [`MAX_PER_ADDRESS`] from one address;
//! others get a 503) that writes the answer within [`WRITE_DEADLINE`]. So idle or slow clients
//! cannot starve the liveness probe, whose answer needs no thread. Every answer closes its
//! connection.

use crate::config::HostPort;
use crate::metrics::{Gauges, ProcessStats};
use crate::net::deadline::{write_all_until, Armed, Deadline};
use crate::proxy::address_map::BrokerKey;
use crate::proxy::limits::{held_back_note, source_of, LogThrottle, LOG_INTERVAL};
use crate::proxy::Proxy;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, UNIX_EPOCH};

mod head;
#[cfg(any(test, feature = "fuzzing"))]
pub use head::fuzz_head;
pub use head::{parse_head, Head, MAX_HEAD};
use head::{read_head, HeadState};

/// How long a new connection may stay silent before it is closed (408): a probe or a scrape
/// sends its request at once, so an idle connection holds its table entry for a second only.
pub const FIRST_BYTE_DEADLINE: Duration = Duration::from_secs(1);
/// How long a client may take to send its whole request head (408 after).
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// Connections waiting for their request head per listener; a newcomer past it closes (503)
/// the oldest waiting one of the address with the most.
pub const MAX_WAITING: usize = 128;
/// Connections from one address (an IPv4 address, an IPv6 /64) waiting for their head, and
/// apart from those, requests from it being answered. A newcomer past the first closes (503)
/// the address's oldest waiting connection, so a new probe always gets in; a request past the
/// second gets a 503.
pub const MAX_PER_ADDRESS: usize = 8;
/// Requests being answered at once per listener, a thread each; a scrape takes milliseconds.
pub const MAX_SERVING: usize = 32;
/// How long writing an answer may take, all of it (not each write).
pub const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// How long request bytes left unread (a body we ignore) are drained after the answer.
const DRAIN_DEADLINE: Duration = Duration::from_millis(500);
/// The most request bytes drained after the answer.
const MAX_DRAIN: usize = 64 * 1024;
/// How often the accept thread reads the waiting connections.
const WAIT_POLL: Duration = Duration::from_millis(10);
/// How often the accept loop looks for a new connection or a stop while none is waiting.
const ACCEPT_POLL: Duration = Duration::from_millis(50);
/// Connections accepted in a row before the waiting ones are read again.
const ACCEPTS_PER_ROUND: usize = 64;
const THREAD_STACK_SIZE: usize = 256 * 1024;

/// Binds `address` for the flag `flag`; the error names both.
pub fn bind(address: &HostPort, flag: &str) -> io::Result<TcpListener> {
    crate::net::listen::listen(&address.host, address.port).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {address} (--{flag}): {e}"),
        )
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            505 => "HTTP Version Not Supported",
            _ => "",
        }
    }

    /// The bytes on the wire; a HEAD request gets the headers only.
    pub fn encode(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.reason(),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if self.status == 405 {
            out.extend_from_slice(b"Allow: GET, HEAD\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// What answers requests on one listener.
pub trait Routes: Send + Sync + 'static {
    /// The answer to a GET (or HEAD) of `path`, or `None` when nothing is there (404).
    fn get(&self, path: &str) -> Option<Response>;

    /// Whether `path` is a liveness probe, whose answer is a few bytes made at once: the
    /// accept thread answers it itself, so a probe never waits for a thread, however many
    /// requests are being answered (default: no path is).
    fn is_probe(&self, _path: &str) -> bool {
        false
    }
}

/// The answer to a parsed request: GET and HEAD only, 404 for unknown paths.
pub fn respond(routes: &dyn Routes, head: &Head) -> Response {
    let found = routes.get(&head.path);
    match (head.method.as_str(), found) {
        (_, None) => Response::text(404, "not found\n"),
        ("GET" | "HEAD", Some(response)) => response,
        (_, Some(_)) => Response::text(405, "only GET and HEAD\n"),
    }
}

/// A running HTTP listener; stops and joins its threads when dropped.
pub struct HttpServer {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Serves `routes` on `listener` from a thread of its own (named `name`).
    pub fn spawn(listener: TcpListener, routes: Arc<dyn Routes>, name: &str) -> io::Result<Self> {
        let local = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(name.to_string())
            .spawn(move || accept_loop(listener, routes, &thread_stop))?;
        Ok(HttpServer {
            local,
            stop,
            thread: Some(thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stops accepting, closes the connections still sending their request, and waits for the
    /// requests being answered (each within [`WRITE_DEADLINE`] and the drain after it).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts new connections and reads the waiting ones' heads by turns, never blocking.
fn accept_loop(listener: TcpListener, routes: Arc<dyn Routes>, stop: &AtomicBool) {
    let mut connections = Connections::new(routes);
    // Out of descriptors, accept fails on every try while the client waits in the backlog.
    let accept_errors_log = LogThrottle::new(LOG_INTERVAL);
    while !stop.load(Ordering::Acquire) {
        let mut accepted = 0;
        while accepted < ACCEPTS_PER_ROUND {
            match listener.accept() {
                Ok((stream, peer)) => {
                    connections.admit(stream, peer);
                    accepted += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    if let Some(held_back) = accept_errors_log.allow() {
                        log::error!("HTTP: accept failed: {e}{}", held_back_note(held_back));
                    }
                    thread::sleep(Duration::from_millis(100));
                    break;
                }
            }
        }
        connections.poll_waiting();
        if accepted < ACCEPTS_PER_ROUND {
            thread::sleep(if connections.waiting.is_empty() {
                ACCEPT_POLL
            } else {
                WAIT_POLL
            });
        }
    }
    connections.close();
}

/// The connections of one listener, owned by its accept thread: those waiting for their
/// request head (no thread; the accept thread reads them) and the requests being answered (a
/// thread each).
struct Connections {
    routes: Arc<dyn Routes>,
    /// Oldest first.
    waiting: Vec<Waiting>,
    serving: Vec<Serving>,
    /// Waiting connections closed for a newer one, requests refused for want of a thread.
    replaced_log: LogThrottle,
    busy_log: LogThrottle,
}

/// A connection whose request head has not all arrived.
struct Waiting {
    stream: TcpStream,
    peer: SocketAddr,
    /// What the per-address cap counts by: [`source_of`] the peer (IPv4, or an IPv6 /64).
    key: IpAddr,
    since: Instant,
    head: Vec<u8>,
}

/// A request being answered on a thread of its own.
struct Serving {
    thread: JoinHandle<()>,
    key: IpAddr,
}

/// What became of a waiting connection.
enum Outcome {
    /// The head arrived (or is too large: the status to answer); `extra` when bytes follow it.
    Request {
        request: Result<Head, u16>,
        extra: bool,
    },
    /// No byte within [`FIRST_BYTE_DEADLINE`], or no whole head within [`HEAD_DEADLINE`].
    TimedOut,
    /// The client hung up first.
    Closed,
}

impl Waiting {
    /// Reads what has arrived; `None` while the head is incomplete and in time.
    fn poll(&mut self, now: Instant) -> Option<Outcome> {
        match read_head(&mut self.stream, &mut self.head) {
            HeadState::Complete(end) => Some(Outcome::Request {
                request: parse_head(&self.head[..end]),
                extra: self.head.len() > end,
            }),
            HeadState::TooLarge => Some(Outcome::Request {
                request: Err(431),
                extra: true,
            }),
            HeadState::Closed => Some(Outcome::Closed),
            HeadState::Partial if now >= self.deadline() => Some(Outcome::TimedOut),
            HeadState::Partial => None,
        }
    }

    fn deadline(&self) -> Instant {
        self.since
            + if self.head.is_empty() {
                FIRST_BYTE_DEADLINE
            } else {
                HEAD_DEADLINE
            }
    }
}

impl Connections {
    fn new(routes: Arc<dyn Routes>) -> Connections {
        Connections {
            routes,
            waiting: Vec::new(),
            serving: Vec::new(),
            replaced_log: LogThrottle::new(LOG_INTERVAL),
            busy_log: LogThrottle::new(LOG_INTERVAL),
        }
    }

    /// Takes a new connection: reads what it has sent (a probe's request is often there
    /// already), and makes it wait, closing another to make room if need be.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        if let Err(e) = stream.set_nonblocking(true) {
            log::debug!("HTTP: {peer}: {e}");
            return;
        }
        let now = Instant::now();
        let mut waiting = Waiting {
            stream,
            peer,
            key: source_of(peer.ip()),
            since: now,
            head: Vec::new(),
        };
        match waiting.poll(now) {
            Some(outcome) => self.finish(waiting, outcome),
            None => {
                self.make_room(waiting.key, peer);
                self.waiting.push(waiting);
            }
        }
    }

    /// Closes (503) the waiting connection a newcomer from `key` replaces, if one must go: the
    /// oldest of its own address when that has [`MAX_PER_ADDRESS`] waiting, else, when
    /// [`MAX_WAITING`] are waiting, the oldest of the address with the most.
    fn make_room(&mut self, key: IpAddr, newcomer: SocketAddr) {
        let same = self.waiting.iter().filter(|w| w.key == key).count();
        let victim = if same >= MAX_PER_ADDRESS {
            Some(key)
        } else if self.waiting.len() >= MAX_WAITING {
            self.busiest_address()
        } else {
            None
        };
        let Some(i) = victim.and_then(|v| self.waiting.iter().position(|w| w.key == v)) else {
            return;
        };
        let replaced = self.waiting.remove(i);
        if let Some(held_back) = self.replaced_log.allow() {
            log::warn!(
                "HTTP: closed {} (no request head yet) to make room for {newcomer}: at most \
                 {MAX_PER_ADDRESS} wait per address, {MAX_WAITING} in all{}",
                replaced.peer,
                held_back_note(held_back)
            );
        }
        answer_now(&replaced.stream, &Response::text(503, "busy\n"), false);
    }

    /// The address with the most waiting connections; of those, the one waiting longest.
    fn busiest_address(&self) -> Option<IpAddr> {
        let mut counts: HashMap<IpAddr, usize> = HashMap::new();
        for w in &self.waiting {
            *counts.entry(w.key).or_default() += 1;
        }
        let most = counts.values().copied().max()?;
        self.waiting
            .iter()
            .find(|w| counts[&w.key] == most)
            .map(|w| w.key)
    }

    /// Reads every waiting connection once, in order, and finishes those done waiting.
    fn poll_waiting(&mut self) {
        self.serving.retain(|s| !s.thread.is_finished());
        let now = Instant::now();
        for mut waiting in std::mem::take(&mut self.waiting) {
            match waiting.poll(now) {
                Some(outcome) => self.finish(waiting, outcome),
                None => self.waiting.push(waiting),
            }
        }
    }

    fn finish(&mut self, waiting: Waiting, outcome: Outcome) {
        match outcome {
            Outcome::Closed => {}
            Outcome::TimedOut => {
                log::debug!("HTTP: {}: answered 408", waiting.peer);
                answer_now(
                    &waiting.stream,
                    &Response::text(408, "request timeout\n"),
                    false,
                );
            }
            Outcome::Request {
                request: Ok(head),
                extra: false,
            } if self.routes.is_probe(&head.path) && nothing_more(&waiting.stream) => {
                let response = respond(self.routes.as_ref(), &head);
                answer_now(&waiting.stream, &response, head.method == "HEAD");
            }
            Outcome::Request { request, .. } => self.serve(waiting, request),
        }
    }

    /// Answers `request` on a thread of its own, or 503 when [`MAX_SERVING`] requests, or
    /// [`MAX_PER_ADDRESS`] from the same address, are being answered.
    fn serve(&mut self, waiting: Waiting, request: Result<Head, u16>) {
        self.serving.retain(|s| !s.thread.is_finished());
        let Waiting {
            stream, peer, key, ..
        } = waiting;
        let same = self.serving.iter().filter(|s| s.key == key).count();
        if self.serving.len() >= MAX_SERVING || same >= MAX_PER_ADDRESS {
            if let Some(held_back) = self.busy_log.allow() {
                log::warn!(
                    "HTTP: {} requests being answered ({same} from {peer}'s address); \
                     answering 503 to {peer}: at most {MAX_SERVING}, {MAX_PER_ADDRESS} per \
                     address{}",
                    self.serving.len(),
                    held_back_note(held_back)
                );
            }
            answer_now(&stream, &Response::text(503, "busy\n"), false);
            return;
        }
        let routes = Arc::clone(&self.routes);
        let spawned = thread::Builder::new()
            .name("http-conn".into())
            .stack_size(THREAD_STACK_SIZE)
            .spawn(move || serve_request(stream, peer, request, routes.as_ref()));
        match spawned {
            Ok(thread) => self.serving.push(Serving { thread, key }),
            Err(e) => log::error!("HTTP: cannot start a thread for {peer}: {e}"),
        }
    }

    /// Closes the waiting connections and waits for the requests being answered.
    fn close(self) {
        drop(self.waiting);
        for serving in self.serving {
            let _ = serving.thread.join();
        }
    }
}

/// Whether nothing the client sent after its head is waiting to be read (it sent nothing more,
/// or only its end): closing at once then ends the connection with a FIN, where unread bytes
/// would make it a reset that can destroy the answer.
fn nothing_more(stream: &TcpStream) -> bool {
    match stream.peek(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    }
}

/// Writes a short answer from the accept thread, never waiting: the socket is non-blocking and
/// its send buffer, empty on a connection that has been sent nothing, holds a short answer
/// whole. Dropping the stream then closes the connection.
fn answer_now(mut stream: &TcpStream, response: &Response, head_only: bool) {
    let _ = stream.write(&response.encode(head_only));
}

/// The answer to a request, and whether it is the headers only (HEAD).
fn answer(routes: &dyn Routes, request: &Result<Head, u16>) -> (Response, bool) {
    match request {
        Ok(head) => (respond(routes, head), head.method == "HEAD"),
        Err(431) => (Response::text(431, "request head too large\n"), false),
        Err(status) => (Response::text(*status, "bad request\n"), false),
    }
}

/// Answers one request whose head has arrived, on its own thread, and closes.
fn serve_request(
    stream: TcpStream,
    peer: SocketAddr,
    request: Result<Head, u16>,
    routes: &dyn Routes,
) {
    let (response, head_only) = answer(routes, &request);
    if response.status >= 400 {
        log::debug!("HTTP: {peer}: answered {}", response.status);
    }
    let written = stream.set_nonblocking(false).and_then(|()| {
        write_all_by(
            &stream,
            &response.encode(head_only),
            Instant::now() + WRITE_DEADLINE,
        )
    });
    if let Err(e) = written {
        log::debug!("HTTP: {peer}: {e}");
        return;
    }
    close_gently(&stream);
}

/// Writes all of `bytes` by `deadline`: a client reading a byte now and then cannot stretch
/// the write, as a timeout on each write would let it.
fn write_all_by(mut stream: &TcpStream, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    Ok(write_all_until(
        &mut stream,
        bytes,
        &Deadline::at(deadline),
        &Armed,
    )?)
}

/// Ends the connection after the answer: unread request bytes (a body we ignore) would make
/// the close a reset, which can destroy the answer before the client reads it, so they are
/// drained first, at most [`MAX_DRAIN`] bytes within [`DRAIN_DEADLINE`].
fn close_gently(mut stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 4096];
    let deadline = Instant::now() + DRAIN_DEADLINE;
    let mut drained = 0;
    while drained < MAX_DRAIN {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Health and metrics, on `--http-listen-address`.
pub struct MainRoutes {
    pub proxy: Arc<Proxy>,
    pub health_path: String,
    pub metrics_path: String,
}

impl Routes for MainRoutes {
    fn is_probe(&self, path: &str) -> bool {
        path == self.health_path
    }

    fn get(&self, path: &str) -> Option<Response> {
        if path == self.health_path {
            return Some(if self.proxy.is_stopping() {
                Response::text(503, "draining\n")
            } else {
                Response::text(200, "ok\n")
            });
        }
        if path == self.metrics_path {
            use crate::auth::{gateway, local};
            let count = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
            let gauges = Gauges {
                dynamic_listeners: dynamic_listeners(&self.proxy),
                local_auth: local::LOGINS.snapshot(),
                gateway_auth: (
                    count(&gateway::GATEWAY_AUTH_SUCCEEDED),
                    count(&gateway::GATEWAY_AUTH_FAILED),
                ),
                max_client_connections: self.proxy.config.limits.max_client_connections,
            };
            let metrics = &self.proxy.metrics;
            let totals = self
                .proxy
                .registry
                .with_live_stats(|live| metrics.totals(live));
            let text = metrics.render(&totals, &gauges, &ProcessStats::read());
            return Some(Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: text.into_bytes(),
            });
        }
        None
    }
}

fn dynamic_listeners(proxy: &Proxy) -> usize {
    proxy
        .listeners()
        .len()
        .saturating_sub(proxy.config.bootstrap_mappings.len())
}

/// The debug view, on `--debug-listen-address`: `/` answers the JSON of [`debug_state`].
pub struct DebugRoutes {
    pub proxy: Arc<Proxy>,
}

impl Routes for DebugRoutes {
    fn get(&self, path: &str) -> Option<Response> {
        if path != "/" {
            return None;
        }
        let mut body = serde_json::to_vec_pretty(&debug_state(&self.proxy)).unwrap_or_default();
        body.push(b'\n');
        Some(Response {
            status: 200,
            content_type: "application/json",
            body,
        })
    }
}

/// Build, listeners (broker, local address, advertised address) and open connections (client,
/// broker, age, bytes each way, requests in flight, and the principal local authentication
/// gave the client, else null).
pub fn debug_state(proxy: &Proxy) -> serde_json::Value {
    use serde_json::json;
    let mapped = |broker: &HostPort| {
        proxy
            .addresses
            .lookup(&BrokerKey::from_host_port(broker))
            .map(|m| format!("{}:{}", m.advertised.host, m.advertised.port))
    };
    let bootstrap_count = proxy.config.bootstrap_mappings.len();
    let mut listeners: Vec<_> = proxy
        .listeners()
        .iter()
        .enumerate()
        .map(|(i, (local, broker))| {
            json!({
                "broker": broker.to_string(),
                "local": local.to_string(),
                "advertised": mapped(broker),
                "dynamic": i >= bootstrap_count,
            })
        })
        .collect();
    for mapping in &proxy.config.external_mappings {
        listeners.push(json!({
            "broker": mapping.broker.to_string(),
            "local": null,
            "advertised": mapping.advertised.to_string(),
            "dynamic": false,
        }));
    }
    let connections: Vec<_> = proxy
        .registry
        .snapshot()
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "client": c.client.to_string(),
                "broker": c.broker.to_string(),
                "age_seconds": c.started.elapsed().as_secs_f64(),
                "started_unix_seconds": c.started_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
                "bytes_to_broker": c.stats.bytes_to_broker.load(Ordering::Relaxed),
                "bytes_to_client": c.stats.bytes_to_client.load(Ordering::Relaxed),
                "in_flight": c.in_flight(),
                "principal": c.principal(),
            })
        })
        .collect();
    json!({
        "build": {
            "name": env!("CARGO_PKG_NAME"),
            "version": env!("CARGO_PKG_VERSION"),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
        },
        "state": if proxy.is_stopping() { "draining" } else { "serving" },
        "listeners": listeners,
        "sni": sni_state(proxy),
        "connections": connections,
    })
}

/// The SNI listener (`--sni-listen-address`) and the node routes it has learned; null without.
fn sni_state(proxy: &Proxy) -> serde_json::Value {
    use serde_json::json;
    let Some(sni) = &proxy.sni else {
        return serde_json::Value::Null;
    };
    let config = sni.config();
    let routes: Vec<_> = sni
        .routes()
        .iter()
        .map(|(node, broker)| {
            json!({
                "node_id": node,
                "name": config.pattern.name(*node),
                "broker": broker.to_string(),
            })
        })
        .collect();
    json!({
        "local": proxy.sni_listener().map(|a| a.to_string()),
        "bootstrap_host": config.bootstrap_host,
        "pattern": config.pattern.to_string(),
        "advertised_port": sni.advertised(0).port,
        "routes": routes,
    })
}

#[cfg(test)]
mod tests;
