//! One client connection: dial the broker, then two pumps. The request pump (this thread) reads
//! client frames, checks them, records what each expects back, and forwards them; the response
//! pump (a thread it owns) reads broker frames, pairs each with the oldest request in flight,
//! rewrites broker addresses where a response carries them, and forwards the rest as bytes.

use super::frame::{check_size, ConnError, Side};
use super::in_flight::{Added, InFlight, InFlightQueue};
use super::limits::AddressSlot;
use super::registry::ConnectionEntry;
use super::{Proxy, ProxyMapper, THREAD_STACK_SIZE};
use crate::auth::local::Probe;
use crate::auth::upstream::{self, BrokerExchange, ClientSaslAnswer, LoginError, Session};
use crate::codec::api::ApiKey;
use crate::codec::header;
use crate::codec::rewrite::{needs_rewrite, rewrite_response_tail};
use crate::codec::sasl;
use crate::config::HostPort;
use crate::metrics::ConnectionStats;
use crate::net::stream::{ReadHalf, Socket, Stream, WriteHalf};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// The smallest request: api key, version and correlation id.
const MIN_REQUEST_SIZE: usize = 8;
/// The smallest response: a correlation id.
const MIN_RESPONSE_SIZE: usize = 4;
/// Enough for any request header plus a Produce transactional id (two strings of at most
/// 32 KiB each), which is all the request pump ever needs to look at.
const MAX_REQUEST_PREFIX: usize = 70 * 1024;

/// The pump settings, copied out of the configuration once per connection.
#[derive(Clone, Copy)]
struct Limits {
    max_frame: usize,
    read_timeout: Duration,
    /// `--client-idle-timeout`; zero = never.
    client_idle: Duration,
}

/// Serves one client connection. `pending` is its slot among the connections from its address
/// that have not authenticated yet, freed once it has.
pub fn serve(
    proxy: &Arc<Proxy>,
    client: TcpStream,
    peer: SocketAddr,
    broker: &HostPort,
    pending: Option<AddressSlot>,
) {
    match run(proxy, client, peer, broker, pending) {
        Ok(()) => log::debug!("client {peer} disconnected from broker {broker}"),
        Err(e) if e.is_normal_close() => {
            log::debug!("client {peer} via broker {broker}: {e}")
        }
        // Reclaiming a connection its client forgot is routine, not a fault.
        Err(e @ ConnError::ClientIdle(_)) => {
            proxy.metrics.record_error(e.cause());
            log::info!("client {peer} via broker {broker}: {e}")
        }
        Err(e) => {
            proxy.metrics.record_error(e.cause());
            log::warn!("client {peer} via broker {broker}: {e}")
        }
    }
}

pub(crate) fn run(
    proxy: &Arc<Proxy>,
    client: TcpStream,
    peer: SocketAddr,
    broker: &HostPort,
    pending: Option<AddressSlot>,
) -> Result<(), ConnError> {
    let config = &proxy.config;
    let stats = ConnectionStats::new(proxy.metrics.broker(&broker.to_string()));
    let client = Socket::from(client);
    let registration = proxy.registry.register(&client, peer, broker, stats);
    let mut client = open_client(proxy, client)?;
    authenticate_client(proxy, &mut client, peer, broker)?;
    drop(pending);
    let mut upstream = open_broker(proxy, broker, config.kafka.dial_timeout)?;
    let session = login_to_broker(proxy, &mut upstream, broker)?;
    log::debug!(
        "client {peer} ({}) connected to broker {broker} ({})",
        client.describe(),
        upstream.describe()
    );

    // Socket timeouts are set once (no syscalls per frame). Frame reads carry their own deadline
    // on top; an idle client wakes once per read timeout only to notice a stop; the broker side
    // wakes four times per read timeout, so a missing response is noticed close to its deadline,
    // and at least every `PARK_AFTER`, so an idle response pump parks soon.
    let setup = |s: &TcpStream, read: Duration, side| {
        s.set_write_timeout(Some(config.kafka.write_timeout))
            .and_then(|()| s.set_read_timeout(Some(read.max(Duration::from_millis(1)))))
            .map_err(|e| ConnError::Io(side, e))
    };
    let client_wake = idle_wake_interval(
        client_wake_interval(config.kafka.read_timeout, session.as_ref()),
        config.limits.client_idle_timeout,
    );
    setup(client.socket(), client_wake, Side::Client)?;
    setup(
        upstream.socket(),
        (config.kafka.read_timeout / 4).min(PARK_AFTER),
        Side::Broker,
    )?;
    pump(proxy, &registration.entry, client, upstream, session)
}

/// The client side, ready for Kafka requests. Later stages (TLS termination, the gateway server
/// handshake, local SASL authentication) run here, in that order, before any broker is dialed,
/// so an unauthenticated client never costs a broker connection.
fn open_client(proxy: &Arc<Proxy>, client: Socket) -> Result<Stream, ConnError> {
    client
        .set_nonblocking(false)
        .and_then(|()| proxy.client_socket.apply(&client))
        .map_err(|e| ConnError::Io(Side::Client, e))?;
    // TLS termination wraps the socket after the options above, so keep-alive and buffer
    // sizes apply to TLS clients too.
    if proxy.config.listener_tls.is_none() {
        return Ok(Box::new(client));
    }
    proxy
        .tls()
        .and_then(|tls| tls.accept(client))
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotConnected => ConnError::Closed(Side::Client),
            _ => ConnError::Io(Side::Client, e),
        })
}

/// The broker side, ready for the client's requests: dialed within `dial_timeout` (through the
/// dial mapping; a forward proxy hooks in here), then TLS, the gateway client handshake and SASL
/// login.
fn open_broker(
    proxy: &Arc<Proxy>,
    broker: &HostPort,
    dial_timeout: Duration,
) -> Result<Stream, ConnError> {
    let config = &proxy.config;
    let dial_addr = proxy.addresses.dial_address(broker);
    // Direct, or through --forward-proxy (its whole negotiation within the dial timeout).
    let upstream =
        crate::net::forward::connect(config.forward_proxy.as_ref(), &dial_addr, dial_timeout)
            .map_err(|e| ConnError::Io(Side::Broker, e))?;
    proxy
        .broker_socket
        .apply(upstream.socket())
        .map_err(|e| ConnError::Io(Side::Broker, e))?;
    // TLS to the broker, with the broker's own host name (not the dial address) as SNI and as
    // the name its certificate must carry.
    let mut upstream: Stream = match upstream {
        crate::net::forward::Tunnel::Tcp(socket) if config.tls.is_some() => proxy
            .tls()
            .and_then(|tls| tls.connect(socket, &broker.host))
            .map_err(|e| ConnError::Io(Side::Broker, e))?,
        crate::net::forward::Tunnel::Tls(_) if config.tls.is_some() => {
            return Err(ConnError::Io(
                Side::Broker,
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    "--tls-enable through an https:// --forward-proxy (TLS inside TLS) is not \
                     supported; use a socks5:// or http:// forward proxy",
                ),
            ))
        }
        tunnel => tunnel.into_stream(),
    };
    // The gateway handshake comes after TLS and before upstream SASL.
    if let Some(gateway) = &proxy.auth.gateway_client {
        gateway.connect(&mut upstream, broker)?;
    }
    Ok(upstream)
}

/// The client's proofs, before any broker is dialed for it: the gateway-server handshake
/// (`--auth-gateway-server-*`), then local SASL (`--auth-local-*`). Nothing the client sends
/// before both succeed is forwarded.
fn authenticate_client(
    proxy: &Arc<Proxy>,
    client: &mut Stream,
    peer: SocketAddr,
    broker: &HostPort,
) -> Result<(), ConnError> {
    if let Some(gateway) = &proxy.auth.gateway_server {
        gateway.accept(client, peer, &proxy.auth_failures)?;
    }
    if let Some(local) = &proxy.auth.local {
        let config = &proxy.config;
        let dial = |left: Duration| open_broker(proxy, broker, config.kafka.dial_timeout.min(left));
        let probe = Probe {
            dial: &dial,
            read_timeout: config.kafka.read_timeout,
        };
        local.authenticate(
            client,
            peer,
            broker,
            config.limits.handshake_timeout,
            &probe,
            &proxy.auth_failures,
        )?;
    }
    Ok(())
}

/// Runs the two pumps until either side ends the connection. The response pump runs only
/// while the connection is busy: it parks after `PARK_AFTER` with nothing in flight, and the
/// request pump starts it again with the next request (see [`ResponseSide`]).
fn pump(
    proxy: &Arc<Proxy>,
    conn: &Arc<ConnectionEntry>,
    client: Stream,
    upstream: Stream,
    session: Option<Session>,
) -> Result<(), ConnError> {
    let config = &proxy.config;
    let limits = Limits {
        max_frame: config.max_frame_size,
        read_timeout: config.kafka.read_timeout,
        client_idle: config.limits.client_idle_timeout,
    };
    let broker_socket = upstream.socket().clone();
    conn.set_broker_socket(broker_socket.clone());
    let ending = Arc::new(Ending {
        first: AtomicBool::new(false),
        conn: Arc::clone(conn),
    });
    // Each pump counts into the connection's own stats (see metrics: one writer per counter).
    let counting = proxy.metrics.enabled();
    let _open = counting.then(|| conn.stats.broker().open_connection());
    // Waiting on the socket itself (without a read buffer) only works where the socket holds
    // every unread byte.
    let client_socket = (!client.buffers_reads()).then(|| client.socket().clone());
    let (client_read, client_write) = client.split().map_err(|e| ConnError::Io(Side::Client, e))?;
    let (broker_read, broker_write) = upstream
        .split()
        .map_err(|e| ConnError::Io(Side::Broker, e))?;
    let (client_write, request_sasl, reauth_replies) =
        PumpSasl::new(session, client_write, conn, limits.read_timeout);

    let queue = Arc::new(InFlightQueue::new(config.kafka.max_open_requests));
    let (sasl_tx, sasl_rx) = mpsc::channel();
    let response_pump = ResponsePump {
        proxy: Arc::clone(proxy),
        broker: BufReader::with_capacity(0, broker_read),
        buffer_size: config.listener.response_buffer_size.max(MIN_REQUEST_SIZE),
        client: client_write,
        in_flight: Arc::clone(&queue),
        sasl_verdict: sasl_tx,
        reauth_replies,
        limits,
        frame: Vec::new(),
        rewritten: Vec::new(),
        conn: Arc::clone(conn),
        ending: Arc::clone(&ending),
        answered_any: false,
        counting,
    };
    let mut request_pump = RequestPump {
        proxy,
        client: BufReader::with_capacity(0, client_read),
        client_socket,
        buffer_size: config.listener.request_buffer_size.max(MIN_REQUEST_SIZE),
        broker: broker_write,
        responses: ResponseSide {
            proxy: Arc::clone(proxy),
            queue,
            pump: Responder::Parked(Box::new(response_pump)),
            handback: Arc::default(),
            broker_socket,
        },
        sasl_verdict: sasl_rx,
        sasl: request_sasl,
        limits,
        head: Vec::new(),
        conn,
        counting,
    };
    let request_result = request_pump.run();
    // `Ok` is a drain that stopped reading at a frame boundary: the sockets stay open until the
    // response pump has delivered every response still in flight, and it ends the connection
    // after the last one (at once here when nothing is in flight).
    let request_first = match request_result {
        Ok(()) if !conn.stop_reading() => false,
        _ => ending.end(),
    };
    let response_result = request_pump.responses.finish();
    // Report the cause, not the consequence: when one pump stops, the other sees its sockets
    // shut down.
    if request_first {
        request_result
    } else {
        response_result
    }
}

/// How long a response pump with nothing in flight keeps its thread. An idle connection then
/// holds one thread (the request pump's, blocked on the client socket) and no read buffer on
/// the broker side; the next request starts the response pump again, which costs a thread start
/// (tens of microseconds) once per idle period.
const PARK_AFTER: Duration = Duration::from_secs(1);

/// The response pump as the request pump sees it.
enum Responder {
    /// No thread.
    Parked(Box<ResponsePump>),
    /// On its thread, which reports through the handback when it parks or ends.
    Running,
    /// Ended, or failed to start.
    Gone,
}

/// How a response pump's run ended: parked (the pump comes back, to be started again), or the
/// connection's end with the pump's result.
enum Parked {
    Yes(Box<ResponsePump>),
    Ended(Result<(), ConnError>),
}

/// Where a response pump's thread leaves its report. The thread itself is joined by the
/// proxy's reaper: the request pump, blocked on the client socket, could not join it when it
/// parks, and an unjoined thread keeps its stack.
#[derive(Default)]
struct Handback {
    report: Mutex<Option<Parked>>,
    reported: std::sync::Condvar,
}

impl Handback {
    fn put(&self, report: Parked) {
        *self.report.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
        self.reported.notify_one();
    }

    /// Waits for the running pump's report. It always comes: a pump only stops by parking
    /// (nothing in flight, so at once when asked for) or by ending (every end reports).
    fn take(&self) -> Parked {
        let mut report = self.report.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(report) = report.take() {
                return report;
            }
            report = self
                .reported
                .wait(report)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// When a response pump's thread unwinds from a panic before it reported: ends the connection
/// and reports, so the request pump, which waits for the report, never hangs.
struct PanicReport {
    handback: Arc<Handback>,
    ending: Arc<Ending>,
    queue: Arc<InFlightQueue>,
    reported: bool,
}

impl PanicReport {
    fn put(&mut self, parked: Parked) {
        self.handback.put(parked);
        self.reported = true;
    }
}

impl Drop for PanicReport {
    fn drop(&mut self) {
        if self.reported {
            return;
        }
        self.queue.end_responses();
        self.ending.end();
        let panicked = io::Error::other("response pump panicked");
        self.handback
            .put(Parked::Ended(Err(ConnError::Io(Side::Broker, panicked))));
    }
}

/// The request pump's side of the response pump: the in-flight queue they share and the
/// response pump, parked or on its thread.
struct ResponseSide {
    proxy: Arc<Proxy>,
    queue: Arc<InFlightQueue>,
    pump: Responder,
    handback: Arc<Handback>,
    /// Watched by the request pump while the response pump is parked (a broker that closes an
    /// idle connection).
    broker_socket: Socket,
}

impl ResponseSide {
    /// Records a request whose response the response pump must handle, starting the pump when
    /// it is parked. Blocks while --kafka-max-open-requests are in flight: back-pressure on the
    /// client.
    fn add(&mut self, entry: InFlight) -> Result<(), ConnError> {
        match self.queue.add(entry) {
            Ok(Added::Running) => Ok(()),
            Ok(Added::Parked) => self.start(),
            Err(_) => Err(ConnError::Closed(Side::Broker)),
        }
    }

    /// Starts the parked response pump on a new thread (after taking it back from the thread
    /// that parked it, which may still be reporting).
    fn start(&mut self) -> Result<(), ConnError> {
        let pump = match std::mem::replace(&mut self.pump, Responder::Gone) {
            Responder::Parked(pump) => pump,
            Responder::Running => match self.handback.take() {
                Parked::Yes(pump) => pump,
                // It ended the connection while the request was being added.
                Parked::Ended(result) => {
                    return Err(result.err().unwrap_or(ConnError::Closed(Side::Broker)))
                }
            },
            Responder::Gone => return Err(ConnError::Closed(Side::Broker)),
        };
        let mut report = PanicReport {
            handback: Arc::clone(&self.handback),
            ending: Arc::clone(&pump.ending),
            queue: Arc::clone(&self.queue),
            reported: false,
        };
        let thread = thread::Builder::new()
            .name("resp".into())
            .stack_size(THREAD_STACK_SIZE)
            .spawn(move || {
                report.put(pump.run_until_parked());
            })
            .map_err(|e| ConnError::Io(Side::Broker, e))?;
        self.proxy.reaper.adopt(thread);
        self.pump = Responder::Running;
        Ok(())
    }

    /// While the response pump is parked nobody reads the broker socket: a look (without
    /// waiting) tells whether the broker closed the connection, which then ends it; bytes from
    /// the broker start the response pump to read them.
    fn check_broker_while_parked(&mut self) -> Result<(), ConnError> {
        if !self.queue.is_parked() {
            return Ok(());
        }
        let socket = &self.broker_socket;
        let io = |e| ConnError::Io(Side::Broker, e);
        socket.set_nonblocking(true).map_err(io)?;
        let looked = socket.peek(&mut [0u8; 1]);
        socket.set_nonblocking(false).map_err(io)?;
        match looked {
            Ok(0) => Err(ConnError::Closed(Side::Broker)),
            Ok(_) => {
                // Unasked-for bytes: the pump reads them and decides (TLS records, or an error).
                if self.queue.unpark() {
                    self.start()?;
                }
                Ok(())
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(ConnError::Io(Side::Broker, e)),
        }
    }

    /// After the request pump has stopped: lets the response pump finish and returns its
    /// result (`Ok` when it was parked: it had nothing to do).
    fn finish(mut self) -> Result<(), ConnError> {
        self.queue.end_requests();
        match std::mem::replace(&mut self.pump, Responder::Gone) {
            Responder::Running => match self.handback.take() {
                Parked::Yes(_) => Ok(()),
                Parked::Ended(result) => result,
            },
            Responder::Parked(_) | Responder::Gone => Ok(()),
        }
    }
}

/// Shared by both pumps: whichever stops first shuts both sockets down, which wakes the other
/// (blocked on a read, or on the in-flight channel once the request pump drops its sender).
struct Ending {
    first: AtomicBool,
    /// Holds handles of both sockets.
    conn: Arc<ConnectionEntry>,
}

impl Ending {
    /// Returns whether the caller is the first pump to stop.
    fn end(&self) -> bool {
        let first = !self.first.swap(true, Ordering::AcqRel);
        self.conn.close();
        first
    }
}

struct RequestPump<'a> {
    proxy: &'a Arc<Proxy>,
    /// Without a buffer while waiting for a request (see `fill_client_buffer`).
    client: BufReader<ReadHalf>,
    /// The client socket when it can be waited on directly (plaintext).
    client_socket: Option<Socket>,
    /// `--proxy-request-buffer-size`.
    buffer_size: usize,
    broker: WriteHalf,
    responses: ResponseSide,
    sasl_verdict: Receiver<bool>,
    /// Upstream SASL (`--sasl-enable`): re-authentication and the client's own SASL.
    sasl: Option<PumpSasl>,
    limits: Limits,
    /// The size prefix and the first bytes of the current request, written in one call.
    head: Vec<u8>,
    conn: &'a ConnectionEntry,
    /// Whether to count requests for the metrics.
    counting: bool,
}

/// What the request pump found when it waited for the next frame.
enum Next {
    Frame,
    ClientClosed,
    /// The proxy is draining: read no further.
    Drain,
}

impl RequestPump<'_> {
    fn run(&mut self) -> Result<(), ConnError> {
        let mut first = true;
        let mut raw_tokens_left = 0u32;
        loop {
            match self.wait_for_frame()? {
                Next::Frame => {}
                Next::ClientClosed => return Err(ConnError::Closed(Side::Client)),
                Next::Drain => return Ok(()),
            }
            self.reauthenticate_if_due()?;
            let prefix = read_prefix(&mut self.client, Side::Client, self.limits.read_timeout)?;
            if raw_tokens_left > 0 {
                let size = check_size(Side::Client, prefix, 0, self.limits.max_frame, false)?;
                self.conn.request_forwarded();
                self.send_in_flight(InFlight::SaslToken)?;
                self.forward(prefix, size, 0)?;
                raw_tokens_left -= 1;
                continue;
            }
            let size = check_size(
                Side::Client,
                prefix,
                MIN_REQUEST_SIZE,
                self.limits.max_frame,
                first,
            )?;
            first = false;
            raw_tokens_left = self.request(prefix, size)?;
        }
    }

    /// Blocks until the client sends a byte, closes, or the proxy drains. An idle client is not
    /// an error. A drain wakes this wait by shutting the socket's read side (see `registry` for
    /// why marking "between frames" first makes that safe).
    fn wait_for_frame(&mut self) -> Result<Next, ConnError> {
        self.conn.between_frames();
        let mut idle_since = Instant::now();
        loop {
            if self.proxy.is_stopping() {
                return Ok(Next::Drain);
            }
            match self.fill_client_buffer() {
                Ok(false) if self.proxy.is_stopping() => return Ok(Next::Drain),
                Ok(false) => return Ok(Next::ClientClosed),
                Ok(true) => {
                    self.conn.frame_started();
                    // After marking the frame started: a drain that did not see the mark is
                    // seen here, and nothing of this frame is read.
                    if self.proxy.is_stopping() {
                        return Ok(Next::Drain);
                    }
                    return Ok(Next::Frame);
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    self.reauthenticate_if_due()?;
                    self.check_idle(&mut idle_since)?;
                    self.responses.check_broker_while_parked()?;
                    // Idle for a whole wake interval: give back the buffer for large frames.
                    BULK.with(|bulk| *bulk.borrow_mut() = Vec::new());
                }
                Err(_) if self.proxy.is_stopping() => return Ok(Next::Drain),
                Err(e) => return Err(ConnError::Io(Side::Client, e)),
            }
        }
    }

    /// Whether the client has bytes buffered, waiting for some when there are none (false: the
    /// client closed). On a plaintext connection the wait holds no read buffer: it looks at
    /// the socket (`peek`) and takes a buffer only when bytes arrive, so a connection between
    /// requests keeps none (one more system call per request that finds the buffer empty,
    /// against 4 KiB per idle connection).
    fn fill_client_buffer(&mut self) -> io::Result<bool> {
        let Some(socket) = &self.client_socket else {
            if self.client.capacity() == 0 {
                set_buffer(&mut self.client, self.buffer_size);
            }
            return Ok(!self.client.fill_buf()?.is_empty());
        };
        if self.client.buffer().is_empty() {
            if self.client.capacity() > 0 {
                set_buffer(&mut self.client, 0);
            }
            if self.head.capacity() > KEEP_HEAD {
                self.head = Vec::new();
            }
            if socket.peek(&mut [0u8; 1])? == 0 {
                return Ok(false);
            }
            set_buffer(&mut self.client, self.buffer_size);
        }
        Ok(!self.client.fill_buf()?.is_empty())
    }

    /// Ends the connection once the client has had no request in flight for
    /// `--client-idle-timeout`. A client waiting for a slow response is not idle: the clock
    /// starts when its last response has been delivered.
    fn check_idle(&self, idle_since: &mut Instant) -> Result<(), ConnError> {
        if self.limits.client_idle.is_zero() {
            return Ok(());
        }
        if self.conn.in_flight() > 0 {
            *idle_since = Instant::now();
        } else if idle_since.elapsed() >= self.limits.client_idle {
            return Err(ConnError::ClientIdle(self.limits.client_idle));
        }
        Ok(())
    }

    /// Handles one Kafka request whose size prefix was read. Returns how many raw SASL tokens
    /// follow it (non-zero only after a successful legacy SaslHandshake v0).
    fn request(&mut self, prefix: [u8; 4], size: usize) -> Result<u32, ConnError> {
        // Read what is already buffered, at least the 8-byte prefix, without waiting for more.
        let buffered = self.client.buffer().len().max(MIN_REQUEST_SIZE).min(size);
        self.head.clear();
        self.head.extend_from_slice(&prefix);
        self.read_head(buffered)?;
        let (api_key, api_version, correlation_id) =
            header::request_prefix(&self.head[4..]).map_err(|e| malformed_request(e, None))?;
        if self.proxy.config.forbidden_api_keys.contains(&api_key.0) {
            return Err(ConnError::Forbidden(api_key));
        }
        if self.sasl.is_some()
            && (api_key == ApiKey::SASL_HANDSHAKE || api_key == ApiKey::SASL_AUTHENTICATE)
        {
            self.answer_client_sasl(size, api_key, api_version, correlation_id)?;
            return Ok(0);
        }

        let mut expects_response = true;
        let mut legacy_sasl_tokens = 0;
        if api_key == ApiKey::PRODUCE && !self.proxy.config.producer_acks_0_disabled {
            let acks = self.with_body(size, api_key, api_version, header::produce_acks)?;
            expects_response = acks != 0;
        } else if api_key == ApiKey::SASL_HANDSHAKE && api_version == 0 {
            let mechanism = self.with_body(size, api_key, api_version, |_, body| {
                sasl::handshake_request_mechanism(body).map(str::to_owned)
            })?;
            legacy_sasl_tokens = legacy_token_count(&mechanism)
                .ok_or(ConnError::UnsupportedLegacySasl(mechanism))?;
        }

        let sent_at = self.counting.then(|| {
            self.conn
                .stats
                .count_request(api_key.0, api_version, size + 4);
            Instant::now()
        });
        if expects_response {
            self.conn.request_forwarded();
            self.send_in_flight(InFlight::Request {
                correlation_id,
                api_key,
                api_version,
                sent_at,
            })?;
        }
        let head_len = self.head.len() - 4;
        self.forward(prefix, size, head_len)?;

        if legacy_sasl_tokens == 0 {
            return Ok(0);
        }
        // The client waits for the handshake response before sending raw tokens; so do we, to
        // learn whether the next frames are tokens or Kafka requests.
        match self.sasl_verdict.recv_timeout(self.limits.read_timeout) {
            Ok(true) => Ok(legacy_sasl_tokens),
            Ok(false) => Ok(0),
            Err(RecvTimeoutError::Timeout) => Err(ConnError::Timeout(
                Side::Broker,
                "waiting for the SaslHandshake response",
            )),
            Err(RecvTimeoutError::Disconnected) => Err(ConnError::Closed(Side::Broker)),
        }
    }

    /// Makes `head` hold at least `len` bytes of the frame body (plus the 4-byte prefix).
    fn read_head(&mut self, len: usize) -> Result<(), ConnError> {
        let have = self.head.len() - 4;
        if len > have {
            let start = self.head.len();
            self.head.resize(4 + len, 0);
            read_exact(
                &mut self.client,
                &mut self.head[start..],
                Side::Client,
                self.limits.read_timeout,
            )?;
        }
        Ok(())
    }

    /// Runs `parse` on the request body, reading more of the frame into `head` while the body is
    /// truncated, up to what any header needs.
    fn with_body<T>(
        &mut self,
        size: usize,
        api_key: ApiKey,
        api_version: i16,
        parse: impl Fn(i16, &[u8]) -> crate::codec::Result<T>,
    ) -> Result<T, ConnError> {
        loop {
            let frame = &self.head[4..];
            let result = header::parse_request_header(frame).and_then(|(_, body_offset)| {
                let offset = body_offset.ok_or(crate::codec::CodecError::InvalidValue(
                    "request header version",
                ))?;
                parse(api_version, &frame[offset..])
            });
            match result {
                Ok(value) => return Ok(value),
                Err(crate::codec::CodecError::Truncated(_))
                    if frame.len() < size && frame.len() < MAX_REQUEST_PREFIX =>
                {
                    let more = (frame.len() * 2)
                        .max(4096)
                        .min(size)
                        .min(MAX_REQUEST_PREFIX);
                    self.read_head(more)?;
                }
                Err(e) => return Err(ConnError::Malformed(Side::Client, api_key, api_version, e)),
            }
        }
    }

    fn send_in_flight(&mut self, entry: InFlight) -> Result<(), ConnError> {
        self.responses.add(entry)
    }

    /// Writes the frame (prefix, the `head_len` bytes already read, and the rest copied from the
    /// client) to the broker.
    fn forward(&mut self, prefix: [u8; 4], size: usize, head_len: usize) -> Result<(), ConnError> {
        if head_len == 0 {
            self.head.clear();
            self.head.extend_from_slice(&prefix);
        }
        copy_frame(
            &mut self.client,
            &mut self.broker,
            &mut self.head,
            size - head_len,
            Side::Client,
            self.limits.read_timeout,
        )
    }
}

fn malformed_request(e: crate::codec::CodecError, api: Option<(ApiKey, i16)>) -> ConnError {
    let (api_key, version) = api.unwrap_or((ApiKey(-1), -1));
    ConnError::Malformed(Side::Client, api_key, version, e)
}

/// How many client tokens the legacy SASL flow carries for a mechanism: each gets exactly one
/// server token back. `None` for mechanisms whose exchange length the proxy cannot know.
fn legacy_token_count(mechanism: &str) -> Option<u32> {
    match mechanism {
        "PLAIN" | "OAUTHBEARER" => Some(1),
        "SCRAM-SHA-256" | "SCRAM-SHA-512" => Some(2),
        _ => None,
    }
}

struct ResponsePump {
    proxy: Arc<Proxy>,
    /// Without a buffer while parked.
    broker: BufReader<ReadHalf>,
    /// `--proxy-response-buffer-size`, the broker read buffer while running.
    buffer_size: usize,
    client: WriteHalf,
    in_flight: Arc<InFlightQueue>,
    sasl_verdict: mpsc::Sender<bool>,
    /// Where the answers to the proxy's own requests go (`--sasl-enable`).
    reauth_replies: Option<mpsc::Sender<Vec<u8>>>,
    limits: Limits,
    /// A whole response that must be decoded; reused, so it grows to the largest such response.
    frame: Vec<u8>,
    /// The rewritten response, or the staging area for pass-through frames.
    rewritten: Vec<u8>,
    conn: Arc<ConnectionEntry>,
    ending: Arc<Ending>,
    /// Whether a response was delivered yet (the first gets extra checks, see `check_size`).
    answered_any: bool,
    /// Whether to count responses for the metrics.
    counting: bool,
}

/// Why the response pump's loop returned without an error.
enum Stop {
    /// Nothing in flight for a while: the thread may go.
    Parked,
    /// A drain delivered the last response.
    Done,
}

/// Gives `reader` a read buffer of `capacity` bytes (none at 0). Only called with the buffer
/// empty, so no byte is lost.
fn set_buffer(reader: &mut BufReader<ReadHalf>, capacity: usize) {
    debug_assert!(reader.buffer().is_empty());
    let placeholder = BufReader::with_capacity(0, Box::new(io::empty()) as ReadHalf);
    let old = std::mem::replace(reader, placeholder);
    *reader = BufReader::with_capacity(capacity, old.into_inner());
}

impl ResponsePump {
    /// The body of the response pump's thread: runs until the connection ends, or until
    /// nothing has been in flight for `PARK_AFTER`; then its buffers are released and it returns
    /// itself, to be started again.
    fn run_until_parked(mut self: Box<Self>) -> Parked {
        set_buffer(&mut self.broker, self.buffer_size);
        match self.run() {
            Ok(Stop::Parked) => {
                set_buffer(&mut self.broker, 0);
                self.frame = Vec::new();
                self.rewritten = Vec::new();
                Parked::Yes(self)
            }
            result => {
                self.in_flight.end_responses();
                self.ending.end();
                Parked::Ended(result.map(drop))
            }
        }
    }

    /// Waits on the broker socket, not on the in-flight queue: the request pump records each
    /// entry before forwarding its request, so the entry is there when the response arrives, and
    /// adding one needs no wake-up. Waiting on the socket also notices at once a broker that
    /// closes the connection.
    fn run(&mut self) -> Result<Stop, ConnError> {
        let mut stalled_since: Option<Instant> = None;
        loop {
            match self.broker.fill_buf() {
                Ok([]) => {
                    return Err(match self.oldest()? {
                        Some(entry) => ConnError::BrokerClosedAwaiting(entry.request()),
                        None => ConnError::Closed(Side::Broker),
                    })
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    let Some(entry) = self.oldest()? else {
                        if self.in_flight.park_if_idle() {
                            return Ok(Stop::Parked);
                        }
                        stalled_since = None;
                        continue;
                    };
                    let since = *stalled_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.limits.read_timeout {
                        return Err(ConnError::Timeout(
                            Side::Broker,
                            match entry {
                                InFlight::Request { .. } => "waiting for a response",
                                InFlight::SaslToken => "waiting for a SASL token",
                                InFlight::Reauth { .. } => {
                                    "waiting for a SASL re-authentication response"
                                }
                            },
                        ));
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ConnError::io(Side::Broker, e, "waiting for a response")),
            }
            stalled_since = None;
            let prefix = read_prefix(&mut self.broker, Side::Broker, self.limits.read_timeout)?;
            let taken = self.in_flight.take_oldest();
            let Some(entry) = taken.map_err(|_| ConnError::Closed(Side::Client))? else {
                return Err(ConnError::UnexpectedResponse);
            };
            let first = !self.answered_any;
            match entry {
                InFlight::SaslToken => {
                    let size = check_size(Side::Broker, prefix, 0, self.limits.max_frame, false)?;
                    if self.counting {
                        self.conn.stats.count_response_bytes(size + 4);
                    }
                    self.rewritten.clear();
                    self.rewritten.extend_from_slice(&prefix);
                    copy_frame(
                        &mut self.broker,
                        &mut self.client,
                        &mut self.rewritten,
                        size,
                        Side::Broker,
                        self.limits.read_timeout,
                    )?;
                }
                InFlight::Request {
                    correlation_id,
                    api_key,
                    api_version,
                    sent_at,
                } => {
                    let size = check_size(
                        Side::Broker,
                        prefix,
                        MIN_RESPONSE_SIZE,
                        self.limits.max_frame,
                        first,
                    )?;
                    if let Some(sent_at) = sent_at {
                        let took = sent_at.elapsed();
                        self.conn.stats.count_response(api_key.0, size + 4, took);
                    }
                    self.response(prefix, size, correlation_id, api_key, api_version)?;
                }
                InFlight::Reauth {
                    correlation_id,
                    api_key,
                    api_version,
                } => self.reauth_response(prefix, correlation_id, api_key, api_version)?,
            }
            self.answered_any = true;
            if self.conn.response_delivered() {
                // A drain stopped the requests and this was the last response in flight.
                return Ok(Stop::Done);
            }
        }
    }

    /// The oldest request still waiting for its response. `Err` when the request pump is gone
    /// and nothing is in flight: the connection is ending.
    fn oldest(&self) -> Result<Option<InFlight>, ConnError> {
        self.in_flight
            .oldest()
            .map_err(|_| ConnError::Closed(Side::Client))
    }

    fn response(
        &mut self,
        prefix: [u8; 4],
        size: usize,
        expected: i32,
        api_key: ApiKey,
        api_version: i16,
    ) -> Result<(), ConnError> {
        let legacy_handshake = api_key == ApiKey::SASL_HANDSHAKE && api_version == 0;
        if !needs_rewrite(api_key, api_version) && !legacy_handshake {
            let mut correlation = [0u8; 4];
            read_exact(
                &mut self.broker,
                &mut correlation,
                Side::Broker,
                self.limits.read_timeout,
            )?;
            check_correlation(expected, i32::from_be_bytes(correlation), api_key)?;
            self.rewritten.clear();
            self.rewritten.extend_from_slice(&prefix);
            self.rewritten.extend_from_slice(&correlation);
            return copy_frame(
                &mut self.broker,
                &mut self.client,
                &mut self.rewritten,
                size - 4,
                Side::Broker,
                self.limits.read_timeout,
            );
        }

        // The size prefix stays in front of the frame, so an unchanged frame leaves in one write.
        self.frame.clear();
        self.frame.extend_from_slice(&prefix);
        self.frame.resize(4 + size, 0);
        read_exact(
            &mut self.broker,
            &mut self.frame[4..],
            Side::Broker,
            self.limits.read_timeout,
        )?;
        let frame = &self.frame[4..];
        let got = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        check_correlation(expected, got, api_key)?;
        let malformed = |e| ConnError::Malformed(Side::Broker, api_key, api_version, e);
        let body_offset =
            header::response_body_offset(api_key, api_version, frame).map_err(malformed)?;

        if legacy_handshake {
            let error_code =
                sasl::handshake_response_error(&frame[body_offset..]).map_err(malformed)?;
            write_all(&mut self.client, &self.frame, Side::Client)?;
            // The request pump may have gone already; then nobody needs the verdict.
            let _ = self.sasl_verdict.send(error_code == 0);
            return Ok(());
        }

        let mut mapper = ProxyMapper(&self.proxy);
        let rewritten = rewrite_response_tail(
            api_key,
            api_version,
            &frame[body_offset..],
            &mut mapper,
            &mut self.rewritten,
        )
        .map_err(|e| ConnError::rewrite(api_key, api_version, e))?;
        match rewritten {
            None => write_all(&mut self.client, &self.frame, Side::Client)?,
            Some(kept) => {
                self.proxy.metrics.count_rewrite(api_key.0);
                // The new frame: size, header, the body's first `kept` bytes as they came, then
                // the rewritten rest.
                let new_size = body_offset + kept + self.rewritten.len();
                let new_size = i32::try_from(new_size).map_err(|_| {
                    ConnError::FrameTooLarge(Side::Broker, new_size, i32::MAX as usize)
                })?;
                self.frame[..4].copy_from_slice(&new_size.to_be_bytes());
                let head = &self.frame[..4 + body_offset + kept];
                if head.len() + self.rewritten.len() <= SMALL_FRAME {
                    // One write: moving a small frame together costs less than a second
                    // system call.
                    self.rewritten.splice(0..0, head.iter().copied());
                    write_all(&mut self.client, &self.rewritten, Side::Client)?;
                } else {
                    write_all(&mut self.client, head, Side::Client)?;
                    write_all(&mut self.client, &self.rewritten, Side::Client)?;
                }
            }
        }
        // A buffer grown for one huge response is not kept (see KEEP_BUFFER).
        shrink(&mut self.frame);
        shrink(&mut self.rewritten);
        Ok(())
    }
}

fn check_correlation(expected: i32, got: i32, api_key: ApiKey) -> Result<(), ConnError> {
    if expected == got {
        Ok(())
    } else {
        Err(ConnError::CorrelationMismatch {
            expected,
            got,
            api_key,
        })
    }
}

/// A running response pump keeps its decode buffers up to this size between responses (the
/// common 1 MiB Fetch response is not allocated and paged in again for each); larger ones are
/// released after use, and all when the pump parks.
const KEEP_BUFFER: usize = 2 * 1024 * 1024;
/// A rewritten response up to this size is put together and leaves in one write.
const SMALL_FRAME: usize = 64 * 1024;
/// The request pump keeps a head buffer up to this size between requests (small requests need
/// no allocation; a Produce head is read again for the next one).
const KEEP_HEAD: usize = 1024;

fn shrink(buf: &mut Vec<u8>) {
    if buf.capacity() > KEEP_BUFFER {
        *buf = Vec::new();
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn read_prefix(
    reader: &mut BufReader<ReadHalf>,
    side: Side,
    timeout: Duration,
) -> Result<[u8; 4], ConnError> {
    let mut prefix = [0u8; 4];
    read_exact(reader, &mut prefix, side, timeout)?;
    Ok(prefix)
}

/// A bound on the total time of one read operation, however many socket reads it takes and
/// however often the socket's own timeout fires (a slow trickle of bytes does not extend it).
struct Deadline {
    at: Instant,
}

/// The slowest transfer of a large frame that is not cut short: a frame of `n` bytes may take
/// the read timeout plus `n` / this rate. Small frames get the read timeout alone, so a client
/// trickling a request a byte a second (slowloris) is closed when it expires; a 100 MiB frame
/// gets almost an hour, so a slow but honest link still delivers it.
const MIN_TRANSFER_RATE: u64 = 32 * 1024;

impl Deadline {
    fn after(timeout: Duration) -> Self {
        Deadline {
            at: Instant::now() + timeout,
        }
    }

    /// For reading a frame body of `bytes`: the read timeout plus time for the bytes at
    /// [`MIN_TRANSFER_RATE`].
    fn for_bytes(timeout: Duration, bytes: usize) -> Self {
        let transfer = Duration::from_millis(bytes as u64 * 1000 / MIN_TRANSFER_RATE);
        Deadline::after(timeout.saturating_add(transfer))
    }

    /// Checked after every socket read, successful or timed out: is there time left?
    fn expired(&self) -> bool {
        Instant::now() >= self.at
    }
}

/// Fills `buf` from `reader` within `timeout`. Large reads bypass the reader's buffer.
fn read_exact(
    reader: &mut BufReader<ReadHalf>,
    buf: &mut [u8],
    side: Side,
    timeout: Duration,
) -> Result<(), ConnError> {
    let deadline = Deadline::for_bytes(timeout, buf.len());
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Err(ConnError::ClosedMidFrame(side)),
            // Each read may return a byte just before the socket times out: the deadline is
            // checked after data too, or a trickle would hold the connection forever.
            Ok(n) if filled + n < buf.len() && deadline.expired() => {
                return Err(ConnError::Timeout(side, "in the middle of a frame"))
            }
            Ok(n) => filled += n,
            Err(e) if is_timeout(&e) && !deadline.expired() => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ConnError::io(side, e, "in the middle of a frame")),
        }
    }
    Ok(())
}

fn write_all(writer: &mut WriteHalf, buf: &[u8], to: Side) -> Result<(), ConnError> {
    writer
        .write_all(buf)
        .map_err(|e| ConnError::io(to, e, "writing a frame"))
}

/// Writes `staged` followed by the next `remaining` bytes of `reader` to `writer`. What is
/// already buffered is appended to `staged` so a small frame leaves in a single write; the rest
/// streams through the reader's buffer without further copies.
fn copy_frame(
    reader: &mut BufReader<ReadHalf>,
    writer: &mut WriteHalf,
    staged: &mut Vec<u8>,
    mut remaining: usize,
    from: Side,
    timeout: Duration,
) -> Result<(), ConnError> {
    let to = match from {
        Side::Client => Side::Broker,
        Side::Broker => Side::Client,
    };
    let available = reader.buffer();
    let take = available.len().min(remaining);
    staged.extend_from_slice(&available[..take]);
    reader.consume(take);
    remaining -= take;
    write_all(writer, staged, to)?;
    let deadline = Deadline::for_bytes(timeout, remaining);
    while remaining > 0 {
        if reader.buffer().is_empty() && remaining > reader.capacity() {
            remaining -= copy_bulk(reader, writer, remaining, from, to, &deadline)?;
            continue;
        }
        let chunk = match reader.fill_buf() {
            Ok([]) => return Err(ConnError::ClosedMidFrame(from)),
            // As in `read_exact`: a trickle of bytes does not extend the deadline.
            Ok(chunk) if chunk.len() < remaining && deadline.expired() => {
                return Err(ConnError::Timeout(from, "in the middle of a frame"))
            }
            Ok(chunk) => chunk,
            Err(e) if is_timeout(&e) && !deadline.expired() => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ConnError::io(from, e, "in the middle of a frame")),
        };
        let take = chunk.len().min(remaining);
        write_all(writer, &chunk[..take], to)?;
        reader.consume(take);
        remaining -= take;
    }
    Ok(())
}

/// Large frame bodies are copied through a per-thread buffer of up to this size. With
/// grepplabs' default 4 KiB copy buffers a 64 KiB batch would otherwise take 16 reads and 16
/// writes. Each read and write of a pass-through body may sleep (and wake) the pump, so fewer,
/// larger ones matter: for 1 MiB Fetch responses on one connection, 256 KiB reached HAProxy's
/// throughput where 64 KiB gave 0.72 of it and 128 KiB 0.89 (benches/perf). The buffer grows
/// to the largest body copied (a 64 KiB batch takes 64 KiB), only on a pump's first large
/// frame, and goes when the response pump parks or the request pump has idled for a wake
/// interval, so idle connections do not pay for it.
const BULK_COPY: usize = 256 * 1024;

thread_local! {
    static BULK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One read of up to [`BULK_COPY`] bytes straight from the socket (the reader's own buffer is
/// empty and bypassed) and its write. Returns the bytes copied; 0 after a socket timeout that
/// left time before the deadline.
fn copy_bulk(
    reader: &mut BufReader<ReadHalf>,
    writer: &mut WriteHalf,
    remaining: usize,
    from: Side,
    to: Side,
    deadline: &Deadline,
) -> Result<usize, ConnError> {
    BULK.with(|bulk| {
        let mut bulk = bulk.borrow_mut();
        let want = remaining.min(BULK_COPY);
        if bulk.len() < want {
            bulk.resize(want, 0);
        }
        match reader.read(&mut bulk[..want]) {
            Ok(0) => Err(ConnError::ClosedMidFrame(from)),
            // As in `read_exact`: a trickle of bytes does not extend the deadline.
            Ok(n) if n < remaining && deadline.expired() => {
                Err(ConnError::Timeout(from, "in the middle of a frame"))
            }
            Ok(n) => write_all(writer, &bulk[..n], to).map(|()| n),
            Err(e) if is_timeout(&e) && !deadline.expired() => Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(ConnError::io(from, e, "in the middle of a frame")),
        }
    })
}

// Upstream SASL (`--sasl-enable`) in the pumps: the login before them, re-authentication
// between requests (KIP-368), and the answers to a client's own SASL requests.

/// The largest SASL request a client may send when the proxy answers it itself: PLAIN and
/// OAUTHBEARER tokens are far smaller. Limits what the request pump reads for nothing.
const MAX_CLIENT_SASL_FRAME: usize = 64 * 1024;

/// Logs in on the broker connection (`--sasl-enable`), after every `open_broker` stage (TLS,
/// the gateway handshake) and before any client byte is forwarded. The whole login is bounded
/// by `--handshake-timeout`.
fn login_to_broker(
    proxy: &Arc<Proxy>,
    upstream: &mut Stream,
    broker: &HostPort,
) -> Result<Option<Session>, ConnError> {
    let config = &proxy.config;
    let Some(sasl) = &config.sasl else {
        return Ok(None);
    };
    let session = upstream::login(
        upstream,
        sasl,
        &config.kafka.client_id,
        login_timeout(proxy),
        config.max_frame_size,
    )
    .map_err(ConnError::BrokerLogin)?;
    log::debug!(
        "logged in to broker {broker} as {:?} with {}; session lifetime {}",
        sasl.username,
        session.mechanism,
        describe_lifetime(&session)
    );
    Ok(Some(session))
}

fn login_timeout(proxy: &Proxy) -> Duration {
    let limits = &proxy.config.limits;
    if limits.handshake_timeout.is_zero() {
        proxy.config.kafka.read_timeout
    } else {
        limits.handshake_timeout
    }
}

fn describe_lifetime(session: &Session) -> String {
    match session.lifetime {
        Some(lifetime) => format!("{lifetime:?}"),
        None => "unlimited".to_string(),
    }
}

/// How often an idle request pump wakes: once per read timeout, or often enough to
/// re-authenticate a broker session before it expires.
fn client_wake_interval(read_timeout: Duration, session: Option<&Session>) -> Duration {
    session
        .and_then(Session::wake_interval)
        .map_or(read_timeout, |wake| wake.min(read_timeout))
}

/// How often an idle request pump wakes with `--client-idle-timeout` set: often enough to close
/// an idle client within a quarter of the timeout after it expires.
fn idle_wake_interval(wake: Duration, client_idle: Duration) -> Duration {
    if client_idle.is_zero() {
        wake
    } else {
        wake.min((client_idle / 4).max(Duration::from_millis(10)))
    }
}

/// The request pump's share of upstream SASL.
struct PumpSasl {
    session: Session,
    /// How often the pump wakes at least (the client socket's read timeout).
    wake: Duration,
    /// When to re-authenticate; `None` when the session does not expire.
    due: Option<Instant>,
    /// The broker's answers to the proxy's own requests, from the response pump.
    replies: Receiver<Vec<u8>>,
    /// The client's write half, shared with the response pump, for the answers to a client's
    /// own SASL requests. Written only when nothing is in flight, so the two never interleave.
    client_writer: Arc<Mutex<WriteHalf>>,
    next_correlation_id: i32,
    /// The broker, for log lines.
    broker: String,
    /// Whether the client's own SaslHandshake was accepted.
    client_handshake_done: bool,
    /// `client ADDR via broker B`, for log lines.
    client: String,
    /// Whether the user the client claims has been logged (once per connection).
    claimed_logged: bool,
}

/// The client write half as both pumps hold it when upstream SASL is on. The lock is never
/// contended in practice: the request pump writes only when nothing is in flight.
struct SharedWriter(Arc<Mutex<WriteHalf>>);

impl SharedWriter {
    fn lock(&self) -> io::Result<MutexGuard<'_, WriteHalf>> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("the other pump panicked while writing to the client"))
    }
}

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.lock()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock()?.flush()
    }
}

impl PumpSasl {
    /// Splits upstream SASL state between the pumps: the request pump's part, the client write
    /// half for the response pump, and where it sends re-authentication answers. Without a
    /// session (`--sasl-enable` off) the write half is returned as it is and the pumps run
    /// exactly as without this feature.
    fn new(
        session: Option<Session>,
        client_write: WriteHalf,
        conn: &ConnectionEntry,
        read_timeout: Duration,
    ) -> (WriteHalf, Option<PumpSasl>, Option<mpsc::Sender<Vec<u8>>>) {
        let broker = conn.broker.to_string();
        let Some(session) = session else {
            return (client_write, None, None);
        };
        let shared = Arc::new(Mutex::new(client_write));
        let (replies_tx, replies_rx) = mpsc::channel();
        let wake = client_wake_interval(read_timeout, Some(&session));
        let sasl = PumpSasl {
            due: session.reauthenticate_at(wake),
            session,
            wake,
            replies: replies_rx,
            client_writer: Arc::clone(&shared),
            // Far from the small ids clients count up from, so logs tell them apart.
            next_correlation_id: i32::MIN,
            client: format!("client {} via broker {broker}", conn.client),
            broker,
            client_handshake_done: false,
            claimed_logged: false,
        };
        (Box::new(SharedWriter(shared)), Some(sasl), Some(replies_tx))
    }

    /// Writes a response of the proxy's own to the client.
    fn write_to_client(&self, response: &[u8]) -> Result<(), ConnError> {
        let mut writer = self.client_writer.lock().map_err(|_| {
            ConnError::Io(
                Side::Client,
                io::Error::other("the response pump panicked while writing to the client"),
            )
        })?;
        write_all(&mut writer, response, Side::Client)
    }
}

/// Waits until every response in flight has been written to the client, within `timeout`.
fn wait_until_idle(conn: &ConnectionEntry, timeout: Duration) -> Result<(), ConnError> {
    let deadline = Deadline::after(timeout);
    let mut pause = Duration::from_millis(1);
    while conn.in_flight() > 0 {
        if deadline.expired() {
            return Err(ConnError::Timeout(
                Side::Broker,
                "waiting for the responses in flight before a SASL exchange",
            ));
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    Ok(())
}

impl RequestPump<'_> {
    /// Re-authenticates the broker connection when its session is due (KIP-368): once nothing
    /// is in flight, the proxy's own SaslHandshake and SaslAuthenticate go to the broker and
    /// their responses come back through the response pump. The client's next request waits
    /// in its socket meanwhile; it sees nothing else.
    fn reauthenticate_if_due(&mut self) -> Result<(), ConnError> {
        let Some(sasl) = &mut self.sasl else {
            return Ok(());
        };
        let (Some(due), Some(config)) = (sasl.due, &self.proxy.config.sasl) else {
            return Ok(());
        };
        if Instant::now() < due {
            return Ok(());
        }
        wait_until_idle(self.conn, self.limits.read_timeout)?;
        let started = Instant::now();
        let mut exchange = PumpExchange {
            broker: &mut self.broker,
            responses: &mut self.responses,
            conn: self.conn,
            replies: &sasl.replies,
            next_correlation_id: &mut sasl.next_correlation_id,
            client_id: &self.proxy.config.kafka.client_id,
            deadline: started + login_timeout(self.proxy),
        };
        let session = upstream::reauthenticate(&mut exchange, config, &sasl.session)
            .map_err(ConnError::BrokerReauth)?;
        log::debug!(
            "re-authenticated to broker {} with {} in {:?}; session lifetime {}",
            sasl.broker,
            session.mechanism,
            started.elapsed(),
            describe_lifetime(&session)
        );
        sasl.due = session.reauthenticate_at(sasl.wake);
        sasl.session = session;
        Ok(())
    }

    /// Answers the client's own SaslHandshake or SaslAuthenticate while the proxy logs in to the
    /// broker itself: PLAIN and OAUTHBEARER succeed without being checked or forwarded, other
    /// mechanisms are refused (see [`upstream::answer_client_sasl`]).
    fn answer_client_sasl(
        &mut self,
        size: usize,
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
    ) -> Result<(), ConnError> {
        if size > MAX_CLIENT_SASL_FRAME {
            return Err(ConnError::FrameTooLarge(
                Side::Client,
                size,
                MAX_CLIENT_SASL_FRAME,
            ));
        }
        self.read_head(size)?;
        let Some(sasl) = &mut self.sasl else {
            return Ok(());
        };
        let malformed = |e| ConnError::Malformed(Side::Client, api_key, api_version, e);
        let frame = &self.head[4..];
        let (_, offset) = header::parse_request_header(frame).map_err(malformed)?;
        let offset = offset.ok_or(malformed(crate::codec::CodecError::InvalidValue(
            "request header version",
        )))?;
        let answer = upstream::answer_client_sasl(
            api_key,
            api_version,
            correlation_id,
            &frame[offset..],
            sasl.client_handshake_done,
        )
        .map_err(malformed)?;
        // Earlier responses first: the client reads its answers in order.
        wait_until_idle(self.conn, self.limits.read_timeout)?;
        let (response, legacy_token) = match answer {
            ClientSaslAnswer::Refuse { response, reason } => {
                sasl.write_to_client(&response)?;
                return Err(ConnError::ClientSasl(reason));
            }
            ClientSaslAnswer::Accept {
                response,
                legacy_token,
                claimed,
            } => {
                if let Some(user) = claimed.filter(|_| !sasl.claimed_logged) {
                    sasl.claimed_logged = true;
                    log::info!(
                        "{}: the client logs in as \"{user}\", which the proxy does not check \
                         (--sasl-enable without --auth-local-enable): the broker sees the \
                         proxy's own user",
                        sasl.client
                    );
                }
                (response, legacy_token)
            }
        };
        sasl.write_to_client(&response)?;
        if api_key == ApiKey::SASL_HANDSHAKE {
            sasl.client_handshake_done = true;
            log::debug!(
                "client SASL answered by the proxy, which logs in to broker {} itself \
                 (--sasl-enable); the client's credentials are ignored",
                sasl.broker
            );
        }
        if !legacy_token {
            return Ok(());
        }
        // SaslHandshake v0: one bare size-prefixed token follows; a broker answers a good one
        // with an empty token.
        let prefix = read_prefix(&mut self.client, Side::Client, self.limits.read_timeout)?;
        let token_size = check_size(Side::Client, prefix, 0, MAX_CLIENT_SASL_FRAME, false)?;
        self.head.clear();
        self.head.resize(token_size, 0);
        read_exact(
            &mut self.client,
            &mut self.head,
            Side::Client,
            self.limits.read_timeout,
        )?;
        sasl.write_to_client(&[0, 0, 0, 0])
    }
}

/// [`BrokerExchange`] over the pumps: the request goes out on the broker write half, recorded
/// in the in-flight queue as the proxy's own; the response pump hands its body back.
struct PumpExchange<'p> {
    broker: &'p mut WriteHalf,
    responses: &'p mut ResponseSide,
    conn: &'p ConnectionEntry,
    replies: &'p Receiver<Vec<u8>>,
    next_correlation_id: &'p mut i32,
    client_id: &'p str,
    deadline: Instant,
}

impl BrokerExchange for PumpExchange<'_> {
    fn round_trip(
        &mut self,
        api_key: ApiKey,
        api_version: i16,
        body: &[u8],
    ) -> Result<Vec<u8>, LoginError> {
        let correlation_id = *self.next_correlation_id;
        *self.next_correlation_id = correlation_id.wrapping_add(1);
        let mut frame = Vec::new();
        upstream::encode_request(
            api_key,
            api_version,
            correlation_id,
            self.client_id,
            body,
            &mut frame,
        );
        // Counted like a client's request: the response pump counts every entry down.
        self.conn.request_forwarded();
        self.responses
            .add(InFlight::Reauth {
                correlation_id,
                api_key,
                api_version,
            })
            .map_err(|_| LoginError::Closed("before re-authenticating"))?;
        self.broker
            .write_all(&frame)
            .map_err(|e| LoginError::Io("sending a re-authentication request", e))?;
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.replies.recv_timeout(left) {
            Ok(body) => Ok(body),
            Err(RecvTimeoutError::Timeout) => Err(LoginError::Timeout(
                "waiting for a re-authentication response",
            )),
            Err(RecvTimeoutError::Disconnected) => Err(LoginError::Closed(
                "while waiting for a re-authentication response",
            )),
        }
    }
}

impl ResponsePump {
    /// The broker's response to a request of the proxy's own: checked, and its body handed to
    /// the request pump; nothing reaches the client.
    fn reauth_response(
        &mut self,
        prefix: [u8; 4],
        correlation_id: i32,
        api_key: ApiKey,
        api_version: i16,
    ) -> Result<(), ConnError> {
        let max = self.limits.max_frame.min(upstream::MAX_LOGIN_FRAME);
        let size = check_size(Side::Broker, prefix, MIN_RESPONSE_SIZE, max, false)?;
        self.frame.clear();
        self.frame.resize(size, 0);
        read_exact(
            &mut self.broker,
            &mut self.frame,
            Side::Broker,
            self.limits.read_timeout,
        )?;
        let got = i32::from_be_bytes([self.frame[0], self.frame[1], self.frame[2], self.frame[3]]);
        check_correlation(correlation_id, got, api_key)?;
        let body_offset = header::response_body_offset(api_key, api_version, &self.frame)
            .map_err(|e| ConnError::Malformed(Side::Broker, api_key, api_version, e))?;
        if let Some(replies) = &self.reauth_replies {
            // The request pump may have gone already; then nobody needs the answer.
            let _ = replies.send(self.frame[body_offset..].to_vec());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::proxy::in_flight::Ended;
    use crate::proxy::registry::Registry;
    use std::net::TcpListener;

    #[test]
    fn a_panicking_response_pump_still_reports_and_ends_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        let registry = Registry::new();
        let broker = HostPort {
            host: "b".into(),
            port: 1,
        };
        let stats = ConnectionStats::new(Metrics::new(true).broker("b:1"));
        let registration = registry.register(&Socket::from(accepted), peer, &broker, stats);
        let handback = Arc::new(Handback::default());
        let queue = Arc::new(InFlightQueue::new(1));
        let report = PanicReport {
            handback: Arc::clone(&handback),
            ending: Arc::new(Ending {
                first: AtomicBool::new(false),
                conn: Arc::clone(&registration.entry),
            }),
            queue: Arc::clone(&queue),
            reported: false,
        };
        let pump = thread::spawn(move || {
            let _report = report;
            panic!("a bug in the response pump (this test's panic)");
        });
        assert!(pump.join().is_err());
        assert!(matches!(
            handback.take(),
            Parked::Ended(Err(ConnError::Io(Side::Broker, _)))
        ));
        assert_eq!(
            queue.add(InFlight::SaslToken),
            Err(Ended),
            "no request waits"
        );
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(
            client.read(&mut [0u8; 1]).unwrap(),
            0,
            "the client is let go"
        );
    }
}
