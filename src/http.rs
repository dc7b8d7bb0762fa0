//! The HTTP endpoints: `--http-health-path` (200 while serving, 503 while draining) and
//! `--http-metrics-path` (Prometheus text) on `--http-listen-address`, and, with
//! `--debug-enable`, a JSON view of the live listeners, connections and build on
//! `--debug-listen-address`.
//!
//! A small HTTP/1.x server of its own rather than tiny_http: tiny_http reads a request line or
//! header of any length into memory (a 200 MB header line took 200 MB of RSS when we tried),
//! sets no read timeout on its sockets and starts a thread for every connection it is given.
//! These endpoints need none of its features (only GET and HEAD, no bodies, no keep-alive), so
//! a bounded reader is less code to trust: a request head is at most [`MAX_HEAD`] bytes read
//! within [`HEAD_DEADLINE`], at most [`MAX_CONNECTIONS`] are served at once (others get a 503),
//! every answer closes its connection, and nothing a client sends can panic the server.

use crate::config::HostPort;
use crate::metrics::{Gauges, ProcessStats};
use crate::proxy::address_map::BrokerKey;
use crate::proxy::limits::{held_back_note, LogThrottle, LOG_INTERVAL};
use crate::proxy::Proxy;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// The largest request head (request line and headers) read; larger ones get a 431.
pub const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// Connections served at once per listener; a probe or a scrape takes milliseconds.
pub const MAX_CONNECTIONS: usize = 32;
/// Granularity of a single socket read while waiting for the head.
const READ_SLICE: Duration = Duration::from_millis(250);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the accept loop looks for a stop while idle.
const ACCEPT_POLL: Duration = Duration::from_millis(50);
const THREAD_STACK_SIZE: usize = 256 * 1024;

/// Binds `address` for the flag `flag`; the error names both.
pub fn bind(address: &HostPort, flag: &str) -> io::Result<TcpListener> {
    TcpListener::bind((address.host.as_str(), address.port)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {address} (--{flag}): {e}"),
        )
    })
}

/// A request as far as the routes care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// The target without its query string.
    pub path: String,
}

/// An answer: status, content type, body. Every answer closes the connection.
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
}

/// Parses a complete request head (up to and including the empty line). The error is the
/// status to answer with.
pub fn parse_head(head: &[u8]) -> Result<Head, u16> {
    let line_end = head.iter().position(|&b| b == b'\n').ok_or(400u16)?;
    let line = head[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&head[..line_end]);
    let line = std::str::from_utf8(line).map_err(|_| 400u16)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let is_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !is_token(method) || target.is_empty() {
        return Err(400);
    }
    if !version.starts_with("HTTP/1.") {
        return Err(if version.starts_with("HTTP/") {
            505
        } else {
            400
        });
    }
    let path = target.split('?').next().unwrap_or(target);
    Ok(Head {
        method: method.to_string(),
        path: path.to_string(),
    })
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

    /// Stops accepting and waits for the requests being served.
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

fn accept_loop(listener: TcpListener, routes: Arc<dyn Routes>, stop: &AtomicBool) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    // Out of descriptors, accept fails on every try while the client waits in the backlog.
    let accept_errors_log = LogThrottle::new(LOG_INTERVAL);
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, peer)) => {
                connections.retain(|c| !c.is_finished());
                if connections.len() >= MAX_CONNECTIONS {
                    log::warn!(
                        "HTTP: {MAX_CONNECTIONS} requests already being served; answering 503 to {peer}"
                    );
                    let busy = Response::text(503, "busy\n");
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                    let _ = (&stream).write_all(&busy.encode(false));
                    continue;
                }
                let routes = Arc::clone(&routes);
                let spawned = thread::Builder::new()
                    .name("http-conn".into())
                    .stack_size(THREAD_STACK_SIZE)
                    .spawn(move || serve_connection(stream, peer, routes.as_ref()));
                match spawned {
                    Ok(handle) => connections.push(handle),
                    Err(e) => log::error!("HTTP: cannot start a thread for {peer}: {e}"),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                connections.retain(|c| !c.is_finished());
                thread::sleep(ACCEPT_POLL);
            }
            Err(e) => {
                if let Some(held_back) = accept_errors_log.allow() {
                    log::error!("HTTP: accept failed: {e}{}", held_back_note(held_back));
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    for connection in connections {
        let _ = connection.join();
    }
}

/// Reads one request head, answers, closes.
fn serve_connection(mut stream: TcpStream, peer: SocketAddr, routes: &dyn Routes) {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(READ_SLICE)))
        .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)));
    if let Err(e) = setup {
        log::debug!("HTTP: {peer}: {e}");
        return;
    }
    let (response, head_only) = match read_head(&mut stream) {
        Ok(head) => match parse_head(&head) {
            Ok(head) => (respond(routes, &head), head.method == "HEAD"),
            Err(status) => (Response::text(status, "bad request\n"), false),
        },
        Err(ReadHeadError::TooLarge) => (Response::text(431, "request head too large\n"), false),
        Err(ReadHeadError::Timeout) => (Response::text(408, "request timeout\n"), false),
        Err(ReadHeadError::Closed) => return,
    };
    if response.status >= 400 {
        log::debug!("HTTP: {peer}: answered {}", response.status);
    }
    if stream.write_all(&response.encode(head_only)).is_err() {
        return;
    }
    // Close gently: unread request bytes (a body we ignore) would make the close a reset, which
    // can destroy the answer before the client reads it.
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut drained = 0;
    while Instant::now() < deadline && drained < 64 * 1024 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum ReadHeadError {
    TooLarge,
    Timeout,
    Closed,
}

/// Reads until the empty line that ends a request head, at most [`MAX_HEAD`] bytes within
/// [`HEAD_DEADLINE`]. Bytes after the head (a body) are left unread.
fn read_head(stream: &mut impl Read) -> Result<Vec<u8>, ReadHeadError> {
    let deadline = Instant::now() + HEAD_DEADLINE;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find_head_end(&head) {
            head.truncate(end);
            return Ok(head);
        }
        if head.len() >= MAX_HEAD {
            return Err(ReadHeadError::TooLarge);
        }
        if Instant::now() >= deadline {
            return Err(ReadHeadError::Timeout);
        }
        let room = (MAX_HEAD + 4 - head.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Err(ReadHeadError::Closed),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return Err(ReadHeadError::Closed),
        }
    }
}

/// The length of the head including its final empty line (`\r\n\r\n`, or `\n\n` from lenient
/// clients), if it is complete.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Health and metrics, on `--http-listen-address`.
pub struct MainRoutes {
    pub proxy: Arc<Proxy>,
    pub health_path: String,
    pub metrics_path: String,
}

impl Routes for MainRoutes {
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
                local_auth: (
                    count(&local::LOCAL_AUTH_SUCCEEDED),
                    count(&local::LOCAL_AUTH_FAILED),
                ),
                gateway_auth: (
                    count(&gateway::GATEWAY_AUTH_SUCCEEDED),
                    count(&gateway::GATEWAY_AUTH_FAILED),
                ),
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
/// broker, age, bytes each way, requests in flight).
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
        "connections": connections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Routes for Fixed {
        fn get(&self, path: &str) -> Option<Response> {
            (path == "/health").then(|| Response::text(200, "ok\n"))
        }
    }

    #[test]
    fn parses_request_lines() {
        let head = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.path, "/metrics");
        assert_eq!(parse_head(b"GET / HTTP/1.0\n\n").unwrap().path, "/");
        assert_eq!(parse_head(b"GET /\r\n\r\n"), Err(400));
        assert_eq!(parse_head(b"GET  / HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(parse_head(b"G\xffT / HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(parse_head(b"GET / HTTP/2.0\r\n\r\n"), Err(505));
        assert_eq!(parse_head(b"GET / SPDY\r\n\r\n"), Err(400));
        assert_eq!(parse_head(b"\r\n\r\n"), Err(400));
        assert_eq!(parse_head(b""), Err(400));
    }

    #[test]
    fn methods_and_paths() {
        let head = |method: &str, path: &str| Head {
            method: method.into(),
            path: path.into(),
        };
        assert_eq!(respond(&Fixed, &head("GET", "/health")).status, 200);
        assert_eq!(respond(&Fixed, &head("HEAD", "/health")).status, 200);
        assert_eq!(respond(&Fixed, &head("POST", "/health")).status, 405);
        assert_eq!(respond(&Fixed, &head("DELETE", "/nope")).status, 404);
        assert_eq!(respond(&Fixed, &head("GET", "/health/")).status, 404);
        let encoded = respond(&Fixed, &head("POST", "/health")).encode(false);
        let text = String::from_utf8(encoded).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(text.contains("Allow: GET, HEAD\r\n"));
        let head_only = Response::text(200, "ok\n").encode(true);
        assert!(String::from_utf8(head_only)
            .unwrap()
            .ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn head_reading_is_bounded() {
        let mut ok: &[u8] = b"GET / HTTP/1.1\r\nA: b\r\n\r\nBODY";
        assert_eq!(
            read_head(&mut ok).unwrap(),
            b"GET / HTTP/1.1\r\nA: b\r\n\r\n"
        );
        let huge = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 1 << 20]].concat();
        assert_eq!(
            read_head(&mut huge.as_slice()),
            Err(ReadHeadError::TooLarge)
        );
        let mut cut: &[u8] = b"GET / HTTP/1.1\r\n";
        assert_eq!(read_head(&mut cut), Err(ReadHeadError::Closed));
    }

    fn get(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn serves_over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut server = HttpServer::spawn(listener, Arc::new(Fixed), "http-test").unwrap();
        let addr = server.local_addr();
        let ok = get(addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nok\n"), "{ok}");
        let post = get(
            addr,
            b"POST /health HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        );
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
        let huge = [b"GET /health HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 100_000]].concat();
        let too_large = get(addr, &huge);
        assert!(too_large.starts_with("HTTP/1.1 431 "), "{too_large}");
        let garbage = get(addr, b"\x16\x03\x01\x00\x05hello\r\n\r\n");
        assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
        // Still serving after all that.
        let again = get(addr, b"GET /health HTTP/1.0\r\n\r\n");
        assert!(again.starts_with("HTTP/1.1 200 OK\r\n"), "{again}");
        server.stop();
        assert!(TcpStream::connect(addr).is_err(), "closed after stop");
    }

    #[test]
    fn bind_error_names_the_flag() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let address = HostPort {
            host: "127.0.0.1".into(),
            port,
        };
        let err = bind(&address, "http-listen-address").unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "cannot listen on 127.0.0.1:{port} (--http-listen-address): "
            )),
            "{err}"
        );
    }
}
