//! One client connection: dial the broker, then two pumps. The request pump (this thread) reads
//! client frames, checks them, records what each expects back, and forwards them; the response
//! pump (a thread it owns) reads broker frames, pairs each with the oldest request in flight,
//! rewrites broker addresses where a response carries them, and forwards the rest as bytes.

use super::in_flight::InFlightQueue;
use super::limits::AddressSlot;
use super::registry::ConnectionEntry;
use super::{Proxy, THREAD_STACK_SIZE};
use crate::auth::local::Probe;
use crate::auth::upstream::Session;
use crate::config::{Config, HostPort, SaslConfig};
use crate::net::frame::{ConnError, Side};
use crate::net::stream::{Socket, Stream};
use crate::net::tls::hello::Hello;
use std::cell::RefCell;
use std::io::{self, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

mod coalesce;
mod frame_io;
mod parking;
mod request_pump;
mod response_pump;
mod upstream_sasl;

use coalesce::Coalescer;
use frame_io::Route;
use parking::{Ending, Responder, ResponseSide, PARK_AFTER};
use request_pump::RequestPump;
use response_pump::ResponsePump;
pub(crate) use upstream_sasl::login_to_broker;
use upstream_sasl::{client_wake_interval, idle_wake_interval, own_login, PumpSasl};

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

impl Limits {
    fn of(config: &Config) -> Self {
        Limits {
            max_frame: config.max_frame_size,
            read_timeout: config.kafka.read_timeout,
            client_idle: config.limits.client_idle_timeout,
        }
    }
}

/// Serves one client connection. `pending` is its slot among the connections from its address
/// that have not authenticated yet, freed once it has. `hello`: a client of the SNI listener,
/// whose ClientHello was read to pick `broker`.
pub fn serve(
    proxy: &Arc<Proxy>,
    client: TcpStream,
    peer: SocketAddr,
    broker: &HostPort,
    pending: Option<AddressSlot>,
    hello: Option<Hello>,
) {
    match run(proxy, client, peer, broker, pending, hello) {
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
    hello: Option<Hello>,
) -> Result<(), ConnError> {
    let metrics = proxy.metrics.broker(&broker.to_string());
    let client = Socket::from(client);
    let registration = proxy.registry.register(&client, peer, broker, metrics);
    let conn = &registration.entry;
    let via_sni = hello.is_some();
    let ready = apart(|| set_up(proxy, conn, client, peer, broker, pending, hello))?;
    pump(proxy, conn, ready, via_sni)
}

/// A connection ready for its pumps: both sides open, authenticated and logged in.
struct Ready {
    client: Stream,
    upstream: Stream,
    session: Option<Session>,
    /// The principal whose own credentials the broker session uses (`--sasl-credentials-*`).
    principal: Option<String>,
}

/// Runs `f` on a thread of its own and waits for it. Connection setup (TLS handshakes, SASL,
/// plugin calls) goes deeper into the stack than the pumps ever do, and a thread keeps every
/// stack page it has touched: set up on this thread, an idle connection would hold them for
/// its whole life (16 KiB of its 29, issue 17). A setup thread's stack goes when it ends. If
/// no thread can start, `f` runs here. Not inlined: its frame would stay under the pumps'.
#[inline(never)]
pub(crate) fn apart<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let job = Mutex::new(Some(f));
    let run = || {
        job.lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(|f| f())
    };
    thread::scope(|scope| {
        let spawned = thread::Builder::new()
            .name("conn-setup".into())
            .stack_size(THREAD_STACK_SIZE)
            .spawn_scoped(scope, run);
        let done = match spawned {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            Err(e) => {
                log::debug!("no setup thread ({e}); setting up on the connection's own");
                None
            }
        };
        done.or_else(run).expect("the setup job runs once")
    })
}

/// Opens, authenticates and logs in both sides of a connection, on its setup thread.
fn set_up(
    proxy: &Arc<Proxy>,
    conn: &ConnectionEntry,
    client: Socket,
    peer: SocketAddr,
    broker: &HostPort,
    pending: Option<AddressSlot>,
    hello: Option<Hello>,
) -> Result<Ready, ConnError> {
    let config = &proxy.config;
    let mut client = open_client(proxy, client, hello)?;
    let admitted = RefCell::new(None);
    let local_user = authenticate_client(proxy, &mut client, peer, broker, &admitted)?;
    drop(pending);
    // Who the client is: its local SASL user, else its certificate's subject. With
    // --sasl-credentials-* it logs in to the broker as that principal's own upstream user.
    let principal = local_user.or_else(|| client.peer_subject().map(str::to_string));
    if let Some(principal) = &principal {
        conn.set_principal(principal);
    }
    let own = match admitted.into_inner() {
        Some(own) => Some(own),
        None => own_login(proxy, principal.as_deref())?,
    };
    let mut upstream = open_broker(proxy, broker, config.kafka.dial_timeout)?;
    let session = login_to_broker(proxy, &mut upstream, broker, own.as_ref())?;
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
    Ok(Ready {
        client,
        upstream,
        session,
        principal: own.and(principal),
    })
}

/// The client side, ready for Kafka requests. Later stages (TLS termination, the gateway server
/// handshake, local SASL authentication) run here, in that order, before any broker is dialed,
/// so an unauthenticated client never costs a broker connection. With `hello` (the SNI
/// listener) the handshake goes on from the ClientHello already read.
fn open_client(
    proxy: &Arc<Proxy>,
    client: Socket,
    hello: Option<Hello>,
) -> Result<Stream, ConnError> {
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
        .and_then(|tls| match hello {
            None => tls.accept(client),
            Some(hello) => tls.accept_hello(client, hello),
        })
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
    let tunnel = dial_broker(proxy, broker, dial_timeout)?;
    secure_broker(proxy, tunnel, broker)
}

/// Dials `broker` within `dial_timeout`, through its dial mapping and `--forward-proxy` (its
/// whole negotiation within the timeout), and sets the broker socket options.
pub(crate) fn dial_broker(
    proxy: &Proxy,
    broker: &HostPort,
    dial_timeout: Duration,
) -> Result<crate::net::forward::Tunnel, ConnError> {
    let dial_addr = proxy.addresses.dial_address(broker);
    let upstream = crate::net::forward::connect(
        proxy.config.forward_proxy.as_ref(),
        &dial_addr,
        dial_timeout,
    )
    .map_err(|e| ConnError::Io(Side::Broker, e))?;
    proxy
        .broker_socket
        .apply(upstream.socket())
        .map_err(|e| ConnError::Io(Side::Broker, e))?;
    Ok(upstream)
}

/// TLS to the broker (`--tls-enable`), with the broker's own host name (not the dial address)
/// as SNI and as the name its certificate must carry; then the gateway client handshake.
pub(crate) fn secure_broker(
    proxy: &Proxy,
    upstream: crate::net::forward::Tunnel,
    broker: &HostPort,
) -> Result<Stream, ConnError> {
    let tls = proxy.config.tls.is_some();
    let mut upstream: Stream = match upstream {
        crate::net::forward::Tunnel::Tcp(socket) if tls => proxy
            .tls()
            .and_then(|tls| tls.connect(socket, &broker.host))
            .map_err(|e| ConnError::Io(Side::Broker, e))?,
        crate::net::forward::Tunnel::Tls(_) if tls => {
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
/// (`--auth-gateway-server-*`), then local SASL (`--auth-local-*`), whose principal it returns.
/// Nothing the client sends before both succeed is forwarded.
/// With `--sasl-credentials-*` the principal's upstream credentials are looked up before its
/// login is answered, and left in `own`.
fn authenticate_client(
    proxy: &Arc<Proxy>,
    client: &mut Stream,
    peer: SocketAddr,
    broker: &HostPort,
    own: &RefCell<Option<SaslConfig>>,
) -> Result<Option<String>, ConnError> {
    if let Some(gateway) = &proxy.auth.gateway_server {
        gateway.accept(client, peer, &proxy.auth_failures)?;
    }
    if let Some(local) = &proxy.auth.local {
        let config = &proxy.config;
        let dial = |left: Duration| open_broker(proxy, broker, config.kafka.dial_timeout.min(left));
        let admit = |principal: &str| match own_login(proxy, Some(principal)) {
            Ok(found) => {
                *own.borrow_mut() = found;
                Ok(())
            }
            Err(ConnError::Refused(why)) => Err(why),
            Err(e) => Err(e.to_string()),
        };
        let probe = Probe {
            dial: &dial,
            read_timeout: config.kafka.read_timeout,
            admit: &admit,
        };
        let principal = local.authenticate(
            client,
            peer,
            broker,
            config.limits.handshake_timeout,
            &probe,
            &proxy.auth_failures,
        )?;
        return Ok(Some(principal));
    }
    Ok(None)
}

/// Runs the two pumps until either side ends the connection. The response pump runs only
/// while the connection is busy: it parks after `PARK_AFTER` with nothing in flight, and the
/// request pump starts it again with the next request (see [`ResponseSide`]). Not inlined, so
/// its frame (the pumps' state before it is boxed) is not part of its caller's.
#[inline(never)]
fn pump(
    proxy: &Arc<Proxy>,
    conn: &Arc<ConnectionEntry>,
    ready: Ready,
    via_sni: bool,
) -> Result<(), ConnError> {
    let Ready {
        client,
        upstream,
        session,
        principal,
    } = ready;
    let config = &proxy.config;
    let limits = Limits::of(config);
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
    let broker_plain = (!upstream.buffers_reads()).then(|| upstream.socket().clone());
    // Large bodies are spliced between two plaintext sockets; responses only while the pump
    // is the client socket's one writer (with upstream SASL the request pump answers the
    // client's own SASL requests too).
    let threshold = config.listener.splice_threshold;
    let request_route = Route::new(client_socket.clone(), broker_plain.clone(), threshold);
    let response_route = match session {
        None => Route::new(broker_plain, client_socket.clone(), threshold),
        Some(_) => None,
    };
    let (client_read, client_write) = client.split().map_err(|e| ConnError::Io(Side::Client, e))?;
    let (broker_read, broker_write) = upstream
        .split()
        .map_err(|e| ConnError::Io(Side::Broker, e))?;
    let (client_write, request_sasl, reauth_replies) =
        PumpSasl::new(session, client_write, conn, limits.read_timeout, principal);

    let queue = Arc::new(InFlightQueue::new(config.kafka.max_open_requests));
    // The registry reads the count of requests in flight from the queue that keeps it.
    conn.set_in_flight(Arc::clone(&queue));
    let (sasl_tx, sasl_rx) = mpsc::channel();
    let response_buffer_size = config.listener.response_buffer_size.max(MIN_REQUEST_SIZE);
    let request_buffer_size = config.listener.request_buffer_size.max(MIN_REQUEST_SIZE);
    let response_pump = ResponsePump {
        proxy: Arc::clone(proxy),
        broker: BufReader::with_capacity(0, broker_read),
        buffer_size: response_buffer_size,
        client: Coalescer::new(client_write, response_buffer_size),
        undelivered: 0,
        in_flight: Arc::clone(&queue),
        sasl_verdict: sasl_tx,
        reauth_replies,
        limits,
        frame: Vec::new(),
        rewritten: Vec::new(),
        route: response_route,
        conn: Arc::clone(conn),
        ending: Arc::clone(&ending),
        answered_any: false,
        counting,
        via_sni,
    };
    let request_pump = RequestPump {
        proxy,
        client: BufReader::with_capacity(0, client_read),
        client_socket,
        buffer_size: request_buffer_size,
        read_size: request_buffer_size,
        broker: Coalescer::new(broker_write, request_buffer_size),
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
        route: request_route,
        conn,
        counting,
    };
    run_pumps(request_pump, conn, &ending)
}

/// Runs the request pump on this thread, then waits for the response pump, and returns the
/// result of whichever stopped first.
fn run_pumps(
    mut request_pump: RequestPump<'_>,
    conn: &ConnectionEntry,
    ending: &Ending,
) -> Result<(), ConnError> {
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
