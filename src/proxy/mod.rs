//! Listeners, the address map, connection threads and the request/response pumps.
//!
//! Threads and their owners: [`Proxy::run`] owns the listener threads; each listener thread owns
//! the connection threads it spawned (reaped as they finish, joined when it stops); each
//! connection thread runs the request pump and owns the response pump, whose thread comes and
//! goes with the connection's traffic; the proxy's [`reaper`] joins those threads.

pub mod address_map;
pub mod connection;
mod in_flight;
pub mod limits;
pub mod prebind;
mod reaper;
pub mod registry;
pub mod sni;
#[cfg(test)]
mod tests;

use crate::codec::rewrite::{AddressMapper, Advertised, BrokerAddress, MapError};
use crate::config::{Config, HostPort};
use crate::net::listen::{listen, stop_listening};
use crate::net::{proxy_protocol, SocketOptions};
use address_map::{AddressMap, BrokerKey, Mapping};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Stack size of connection and pump threads. They keep their buffers on the heap, so a small
/// stack lets thousands of connections fit in little memory.
pub const THREAD_STACK_SIZE: usize = 128 * 1024;

/// The running proxy, shared by every thread.
pub struct Proxy {
    pub config: Config,
    pub addresses: AddressMap,
    /// `--sni-listen-address`'s routing; `None` without it.
    pub sni: Option<sni::Sni>,
    pub client_socket: SocketOptions,
    pub broker_socket: SocketOptions,
    listeners: Mutex<Vec<ListenerHandle>>,
    stopping: AtomicBool,
    /// The live client connections (debug endpoint, drain).
    pub registry: registry::Registry,
    pub metrics: crate::metrics::Metrics,
    /// TLS material for both sides, loaded by [`Proxy::start`] (so a bad certificate or key
    /// is a startup error) before any listener accepts.
    tls: std::sync::OnceLock<crate::net::tls::Tls>,
    /// Local SASL and gateway plugins, started before the listeners.
    pub auth: crate::auth::plugins::AuthPlugins,
    /// One slot per live client connection, over all listeners (`--max-client-connections`).
    pub slots: limits::ConnectionSlots,
    /// One slot per connection still authenticating, per source address
    /// (`--max-unauthenticated-connections-per-address`); `None` when the proxy authenticates
    /// no client or the limit is off.
    pub unauthenticated: Option<limits::AddressSlots>,
    /// Failed authentications per source address, delaying its next check
    /// (`--auth-failure-delay`).
    pub auth_failures: crate::auth::throttle::FailureDelay,
    /// Refused connections and failed thread starts are logged at most once per interval.
    refusals_log: limits::LogThrottle,
    /// Joins the threads of parked response pumps.
    pub(crate) reaper: reaper::Reaper,
}

/// A bound listener and the thread accepting on it.
struct ListenerHandle {
    local: SocketAddr,
    serves: Serves,
    /// A clone of the socket the thread accepts on, for [`Proxy::stop`] to shut it down.
    socket: TcpListener,
    thread: Option<JoinHandle<()>>,
}

/// What the connections a listener accepts are for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serves {
    /// One broker: a bootstrap mapping's or a dynamic listener's.
    Broker(HostPort),
    /// `--sni-listen-address`: the broker each ClientHello's server name leads to.
    Sni,
}

impl std::fmt::Display for Serves {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Serves::Broker(broker) => write!(f, "{broker}"),
            Serves::Sni => f.write_str("SNI names (--sni-listen-address)"),
        }
    }
}

impl Proxy {
    pub fn new(config: Config) -> Arc<Proxy> {
        Proxy::with_auth(config, crate::auth::plugins::AuthPlugins::default())
    }

    /// A proxy that authenticates with `auth` (started from the same configuration).
    pub fn with_auth(config: Config, auth: crate::auth::plugins::AuthPlugins) -> Arc<Proxy> {
        let addresses = AddressMap::new(&config);
        let sni = config.sni.as_ref().map(sni::Sni::new);
        // Counting is skipped when nothing could read the counts.
        let metrics =
            crate::metrics::Metrics::new(!config.http.disable || config.http.debug_enable);
        let client_socket = SocketOptions {
            keep_alive: config.listener.keep_alive,
            recv_buffer_size: config.listener.read_buffer_size,
            send_buffer_size: config.listener.write_buffer_size,
        };
        let broker_socket = SocketOptions {
            keep_alive: config.kafka.keep_alive,
            recv_buffer_size: config.kafka.read_buffer_size,
            send_buffer_size: config.kafka.write_buffer_size,
        };
        let slots = limits::ConnectionSlots::new(config.limits.max_client_connections);
        let authenticates = auth.local.is_some() || auth.gateway_server.is_some();
        let per_address = config.limits.max_unauthenticated_per_address;
        let unauthenticated =
            (authenticates && per_address > 0).then(|| limits::AddressSlots::new(per_address));
        let auth_failures =
            crate::auth::throttle::FailureDelay::new(config.limits.auth_failure_delay);
        Arc::new(Proxy {
            slots,
            unauthenticated,
            auth_failures,
            refusals_log: limits::LogThrottle::new(limits::LOG_INTERVAL),
            config,
            addresses,
            sni,
            client_socket,
            broker_socket,
            listeners: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            registry: registry::Registry::new(),
            metrics,
            tls: std::sync::OnceLock::new(),
            auth,
            reaper: reaper::Reaper::default(),
        })
    }

    /// Binds every bootstrap listener. Fails, naming the address, if any cannot be bound.
    pub fn start(self: &Arc<Self>) -> io::Result<()> {
        self.load_tls()?;
        for mapping in &self.config.bootstrap_mappings {
            let listener = listen(&mapping.listen.host, mapping.listen.port).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot listen on {} (--bootstrap-server-mapping for {}): {e}",
                        mapping.listen, mapping.broker
                    ),
                )
            })?;
            self.spawn_listener(listener, Serves::Broker(mapping.broker.clone()))?;
        }
        if let Some(sni) = &self.sni {
            let listen = &sni.config().listen;
            let listener = TcpListener::bind((listen.host.as_str(), listen.port)).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot listen on {listen} (--sni-listen-address): {e}"),
                )
            })?;
            sni.bound(listener.local_addr()?.port());
            self.spawn_listener(listener, Serves::Sni)?;
        }
        Ok(())
    }

    /// Reads the certificates and keys of `--tls-*` and `--proxy-listener-*` (once; [`Proxy::start`]
    /// calls it). [`Proxy::join`] stops their reloaders.
    pub fn load_tls(&self) -> io::Result<()> {
        if self.tls.get().is_none() {
            let _ = self.tls.set(crate::net::tls::Tls::load(&self.config)?);
        }
        Ok(())
    }

    /// Runs until [`Proxy::stop`] is called, then joins every thread.
    pub fn run(self: &Arc<Self>) -> io::Result<()> {
        self.start()?;
        while !self.stopping.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(200));
        }
        self.join();
        Ok(())
    }

    pub fn is_stopping(&self) -> bool {
        // Sequentially consistent: the drain protocol (see `registry`) relies on it.
        self.stopping.load(Ordering::SeqCst)
    }

    /// Stops accepting: every listener is shut down, so new connections go to another process
    /// on the same ports (an upgrade, see [`crate::net::listen`]) or are refused, and each
    /// listener thread returns from `accept` at once.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Clients waiting out an address's failures end now rather than at their deadline.
        self.auth_failures.stop();
        for listener in self.lock_listeners().iter() {
            if let Err(e) = stop_listening(&listener.socket) {
                log::warn!("could not stop the listener on {}: {e}", listener.local);
            }
        }
    }

    /// Joins every listener thread (each joins its connections).
    pub fn join(&self) {
        let handles: Vec<_> = {
            let mut listeners = self.lock_listeners();
            listeners
                .iter_mut()
                .filter_map(|l| l.thread.take())
                .collect()
        };
        for handle in handles {
            let _ = handle.join();
        }
        // Every connection has ended, so every response pump has reported how it ended.
        self.reaper.stop();
        if let Some(tls) = self.tls.get() {
            tls.stop();
        }
    }

    /// The TLS state, loaded by [`Proxy::start`].
    pub fn tls(&self) -> io::Result<&crate::net::tls::Tls> {
        self.tls
            .get()
            .ok_or_else(|| io::Error::other("TLS is not loaded: Proxy::start was not called"))
    }

    /// The addresses every per-broker listener is bound to, with the broker each serves.
    pub fn listeners(&self) -> Vec<(SocketAddr, HostPort)> {
        self.lock_listeners()
            .iter()
            .filter_map(|l| match &l.serves {
                Serves::Broker(broker) => Some((l.local, broker.clone())),
                Serves::Sni => None,
            })
            .collect()
    }

    /// The address the `--sni-listen-address` listener is bound to, once started.
    pub fn sni_listener(&self) -> Option<SocketAddr> {
        self.lock_listeners()
            .iter()
            .find(|l| l.serves == Serves::Sni)
            .map(|l| l.local)
    }

    fn lock_listeners(&self) -> std::sync::MutexGuard<'_, Vec<ListenerHandle>> {
        self.listeners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn spawn_listener(self: &Arc<Self>, listener: TcpListener, serves: Serves) -> io::Result<()> {
        let local = listener.local_addr()?;
        // Accept blocks, so a new client is served at once; `stop` shuts the socket down through
        // this clone, which ends the accept.
        let socket = listener.try_clone()?;
        match &serves {
            Serves::Broker(broker) => log::info!("listening on {local} for broker {broker}"),
            Serves::Sni => log::info!("listening on {local} for every broker, by TLS server name"),
        }
        let proxy = Arc::clone(self);
        let thread_serves = serves.clone();
        let thread = thread::Builder::new()
            .name(format!("listen-{}", local.port()))
            .spawn(move || proxy.accept_loop(listener, thread_serves))?;
        self.lock_listeners().push(ListenerHandle {
            local,
            serves,
            socket,
            thread: Some(thread),
        });
        Ok(())
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener, broker: Serves) {
        let mut connections: Vec<JoinHandle<()>> = Vec::new();
        let mut failures_in_a_row = 0u32;
        // Per listener: a descriptor shortage is logged once per interval by each listener.
        let accept_errors_log = limits::LogThrottle::new(limits::LOG_INTERVAL);
        while !self.is_stopping() {
            match listener.accept() {
                Ok(_) if self.is_stopping() => break,
                Ok((stream, peer)) => {
                    failures_in_a_row = 0;
                    connections.retain(|c| !c.is_finished());
                    // Taken before the thread starts, so a storm cannot start more threads than
                    // the limit allows; the slot is freed when the thread ends or fails to start.
                    let Some(slot) = self.slots.try_take() else {
                        self.refuse(stream, peer, &broker);
                        continue;
                    };
                    let pending = match &self.unauthenticated {
                        // Behind a PROXY protocol balancer the address that counts is the
                        // header's: the connection's thread takes its slot once it has read it.
                        _ if self.config.listener.proxy_protocol != proxy_protocol::Mode::Off => {
                            None
                        }
                        None => None,
                        Some(per_address) => match per_address.try_take(peer.ip()) {
                            Some(pending) => Some(pending),
                            None => {
                                self.refuse_unauthenticated(stream, peer, &broker, per_address);
                                continue;
                            }
                        },
                    };
                    match self.spawn_connection(stream, peer, &broker, slot, pending) {
                        Ok(handle) => connections.push(handle),
                        Err(e) => {
                            // Out of threads or memory: the closure, with the socket and the
                            // slot, is dropped, which closes this client's connection.
                            self.metrics.record_error("thread_spawn_failed");
                            if let Some(held_back) = self.refusals_log.allow() {
                                log::error!(
                                    "cannot start a thread for client {peer} on the listener \
                                     for {broker}, closing its connection: {e}{}",
                                    limits::held_back_note(held_back)
                                );
                            }
                        }
                    }
                }
                Err(_) if self.is_stopping() => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or memory: the client waits in the
                    // backlog while this loop backs off instead of spinning, and the log gets
                    // one line per interval however long the shortage lasts.
                    failures_in_a_row = failures_in_a_row.saturating_add(1);
                    self.metrics.record_error("accept_failed");
                    if let Some(held_back) = accept_errors_log.allow() {
                        log::error!(
                            "accept failed on the listener for {broker}: {e}; retrying with \
                             back-off (raise the open-files limit, ulimit -n, or lower \
                             --max-client-connections){}",
                            limits::held_back_note(held_back)
                        );
                    }
                    connections.retain(|c| !c.is_finished());
                    thread::sleep(limits::accept_backoff(failures_in_a_row));
                }
            }
        }
        // Closed before the drain, not after it: a port shared with a new process must not
        // keep a socket that nobody accepts on.
        drop(listener);
        for connection in connections {
            let _ = connection.join();
        }
    }

    fn spawn_connection(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        serves: &Serves,
        slot: limits::Slot,
        pending: Option<limits::AddressSlot>,
    ) -> io::Result<JoinHandle<()>> {
        let proxy = Arc::clone(self);
        let serves = serves.clone();
        thread::Builder::new()
            .name("conn".into())
            .stack_size(THREAD_STACK_SIZE)
            .spawn(move || {
                let received = if proxy.config.listener.proxy_protocol == proxy_protocol::Mode::Off
                {
                    Some((stream, peer, pending))
                } else {
                    proxy.receive_header(stream, peer, &serves)
                };
                if let Some((stream, client, pending)) = received {
                    proxy.serve(stream, client, &serves, pending);
                }
                drop(slot);
            })
    }

    /// Serves a connection, its PROXY protocol header read: on the SNI listener, once its
    /// ClientHello has named a broker.
    fn serve(
        self: &Arc<Self>,
        stream: TcpStream,
        client: SocketAddr,
        serves: &Serves,
        pending: Option<limits::AddressSlot>,
    ) {
        match (serves, &self.sni) {
            (Serves::Broker(broker), _) => {
                connection::serve(self, stream, client, broker, pending, None)
            }
            (Serves::Sni, Some(sni)) => {
                let routed = connection::apart(|| sni::accept(self, sni, &stream, client));
                if let Some((hello, broker)) = routed {
                    connection::serve(self, stream, client, &broker, pending, Some(hello));
                }
            }
            (Serves::Sni, None) => log::error!("an SNI listener without --sni-listen-address"),
        }
    }

    /// The client's address from the PROXY protocol header `stream` begins with, and its slot
    /// among the connections from that address not authenticated yet. `None`: the connection
    /// is refused (an untrusted peer, no valid header in time, its address at the limit), and
    /// was logged.
    fn receive_header(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        broker: &Serves,
    ) -> Option<(TcpStream, SocketAddr, Option<limits::AddressSlot>)> {
        let listener = &self.config.listener;
        let trusted = &listener.proxy_protocol_trusted;
        if !trusted.is_empty() && !trusted.iter().any(|cidr| cidr.contains(peer.ip())) {
            self.metrics.record_error("proxy_protocol_untrusted");
            if let Some(held_back) = self.refusals_log.allow() {
                log::warn!(
                    "refused connection from {peer} on the listener for {broker}: not in \
                     --proxy-protocol-trusted-cidr, so it may not send a PROXY protocol header; \
                     closed{}",
                    limits::held_back_note(held_back)
                );
            }
            return None;
        }
        let deadline = Instant::now() + self.config.limits.handshake_timeout;
        let header = match proxy_protocol::read(&stream, listener.proxy_protocol, deadline) {
            Ok(header) => header,
            Err(e) => {
                self.metrics.record_error("proxy_protocol_header");
                if let Some(held_back) = self.refusals_log.allow() {
                    log::warn!(
                        "refused connection from {peer} on the listener for {broker}: {e}; \
                         closed{}",
                        limits::held_back_note(held_back)
                    );
                }
                return None;
            }
        };
        let client = header.client(peer);
        log::debug!(
            "client {client} reached the listener for {broker} through {peer} ({header:?})"
        );
        let pending = match &self.unauthenticated {
            None => None,
            Some(per_address) => match per_address.try_take(client.ip()) {
                Some(pending) => Some(pending),
                None => {
                    self.refuse_unauthenticated(stream, client, broker, per_address);
                    return None;
                }
            },
        };
        Some((stream, client, pending))
    }

    /// Closes a connection past `--max-client-connections` at once: accepted (so the client is
    /// not left waiting in the backlog) and dropped before any thread or broker connection is
    /// spent on it.
    fn refuse(&self, stream: TcpStream, peer: SocketAddr, broker: &Serves) {
        // Counted before the close, so whoever sees the close also sees the count.
        self.metrics.record_error("client_connection_limit");
        if let Some(held_back) = self.refusals_log.allow() {
            log::warn!(
                "refused client {peer} on the listener for {broker}: {} client connections are \
                 open, the most --max-client-connections allows; closed at once{}",
                self.slots.max(),
                limits::held_back_note(held_back)
            );
        }
        drop(stream);
    }

    /// Closes a connection past `--max-unauthenticated-connections-per-address` at once, as
    /// [`Proxy::refuse`] does: its address has that many connections still authenticating.
    fn refuse_unauthenticated(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        broker: &Serves,
        per_address: &limits::AddressSlots,
    ) {
        self.metrics
            .record_error("unauthenticated_connection_limit");
        if let Some(held_back) = self.refusals_log.allow() {
            log::warn!(
                "refused client {peer} on the listener for {broker}: {} connections from {} \
                 have not authenticated yet, the most \
                 --max-unauthenticated-connections-per-address allows; closed at once{}",
                per_address.max(),
                limits::source_of(peer.ip()),
                limits::held_back_note(held_back)
            );
        }
        drop(stream);
    }

    /// The advertised address for a broker a response names, binding a dynamic listener for it
    /// when it is not mapped yet. With `--sni-listen-address` every broker named is routable by
    /// its SNI name from then on, and a client of that listener (`via_sni`) is told that name.
    pub fn advertise(
        self: &Arc<Self>,
        broker: BrokerAddress<'_>,
        via_sni: bool,
    ) -> Result<Option<Advertised>, MapError> {
        if let Some(sni) = &self.sni {
            let learned = sni.learn(broker);
            if via_sni {
                learned?;
                return Ok(changed(broker, sni.advertised(broker.node_id)));
            }
            if let Err(e) = learned {
                log::debug!("no SNI route from this response: {e}");
            }
        }
        let key = BrokerKey::new(broker.host, broker.port);
        if let Some(mapping) = self.addresses.lookup(&key) {
            return Ok(changed(broker, mapping.advertised));
        }
        check_advertised_host(broker)?;
        let advertised = if self.config.dynamic_listeners_disable {
            self.advertise_without_listener(broker, key)?
        } else {
            self.advertise_dynamic(broker, key)?
        };
        Ok(changed(broker, advertised))
    }

    /// With dynamic listeners disabled, an unmapped broker is advertised through
    /// `--dynamic-advertised-listener` when one is set, as grepplabs does (something else, e.g.
    /// another proxy, serves that address); otherwise the response is refused.
    fn advertise_without_listener(
        &self,
        broker: BrokerAddress<'_>,
        key: BrokerKey,
    ) -> Result<Advertised, MapError> {
        if self.config.dynamic_advertised_listener.is_none() {
            return Err(MapError(format!(
                "broker {}:{} (node {}) is not in --bootstrap-server-mapping or \
                 --external-server-mapping, dynamic listeners are disabled and no \
                 --dynamic-advertised-listener is set; closing the \
                 connection so the client does not receive an address it cannot reach",
                broker.host, broker.port, broker.node_id
            )));
        }
        let port = u16::try_from(broker.port).unwrap_or(0);
        let advertised = address_map::dynamic_advertised(&self.config, broker.node_id, port);
        self.addresses.insert(
            key,
            Mapping {
                advertised: advertised.clone(),
                local: false,
            },
        );
        Ok(advertised)
    }

    /// Binds and starts a dynamic listener for an unmapped broker and maps the broker to it,
    /// under the dynamic-listener lock so that two connections naming the same new broker bind
    /// one listener.
    fn advertise_dynamic(
        self: &Arc<Self>,
        broker: BrokerAddress<'_>,
        key: BrokerKey,
    ) -> Result<Advertised, MapError> {
        let broker_hp = dynamic_broker(broker)?;
        let mut state = self.addresses.lock_dynamic();
        // Another connection may have bound it while we waited for the lock.
        if let Some(mapping) = self.addresses.lookup(&key) {
            return Ok(mapping.advertised);
        }
        let listener = self.bind_dynamic_listener(&mut state, broker, &broker_hp)?;
        let advertised = self.start_dynamic_listener(listener, broker, broker_hp)?;
        self.addresses.insert(
            key,
            Mapping {
                advertised: advertised.clone(),
                local: true,
            },
        );
        drop(state);
        Ok(advertised)
    }

    /// Binds a listener on the port the configured scheme gives (random, sequential or
    /// deterministic, see [`address_map::dynamic_port`]); a taken sequential port is skipped,
    /// since the next one serves as well.
    fn bind_dynamic_listener(
        &self,
        state: &mut address_map::DynamicState,
        broker: BrokerAddress<'_>,
        broker_hp: &HostPort,
    ) -> Result<TcpListener, MapError> {
        let sequential = matches!(
            self.config.dynamic_ports,
            crate::config::DynamicPorts::Sequential { .. }
        );
        loop {
            let port = address_map::dynamic_port(
                self.config.dynamic_ports,
                broker.node_id,
                state.next_offset,
            )
            .map_err(MapError)?;
            if sequential {
                state.next_offset += 1;
            }
            match listen(&self.config.default_listener_ip, port) {
                Ok(listener) => return Ok(listener),
                // A taken sequential port: try the next one.
                Err(e) if sequential && e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => {
                    return Err(MapError(format!(
                        "cannot bind a dynamic listener on {}:{port} for broker {broker_hp} (node {}): {e}",
                        self.config.default_listener_ip, broker.node_id
                    )))
                }
            }
        }
    }

    /// Starts accepting on a bound dynamic listener and returns the address it is advertised
    /// as.
    fn start_dynamic_listener(
        self: &Arc<Self>,
        listener: TcpListener,
        broker: BrokerAddress<'_>,
        broker_hp: HostPort,
    ) -> Result<Advertised, MapError> {
        let bound_port = listener
            .local_addr()
            .map_err(|e| MapError(format!("dynamic listener has no local address: {e}")))?
            .port();
        let advertised = address_map::dynamic_advertised(&self.config, broker.node_id, bound_port);
        self.spawn_listener(listener, Serves::Broker(broker_hp.clone()))
            .map_err(|e| {
                MapError(format!(
                    "cannot start a dynamic listener for broker {broker_hp}: {e}"
                ))
            })?;
        log::info!(
            "dynamic listener for broker {broker_hp} (node {}) advertised as {}:{}",
            broker.node_id,
            advertised.host,
            advertised.port
        );
        Ok(advertised)
    }
}

/// An unmapped host is about to be logged, kept in the table and dialled: it must be a host
/// name.
fn check_advertised_host(broker: BrokerAddress<'_>) -> Result<(), MapError> {
    crate::config::value::check_host(broker.host).map_err(|why| {
        MapError(format!(
            "broker node {} advertises the host \"{}\", which is not a host name ({why}); \
             closing the connection so the client does not receive it",
            broker.node_id,
            crate::logging::peer_text(broker.host)
        ))
    })
}

/// The broker a dynamic listener is for; its port must fit one.
fn dynamic_broker(broker: BrokerAddress<'_>) -> Result<HostPort, MapError> {
    let port = u16::try_from(broker.port).map_err(|_| {
        MapError(format!(
            "broker node {} has an invalid port {}",
            broker.node_id, broker.port
        ))
    })?;
    Ok(HostPort {
        host: broker.host.to_string(),
        port,
    })
}

fn changed(broker: BrokerAddress<'_>, advertised: Advertised) -> Option<Advertised> {
    if advertised.host == broker.host && advertised.port == broker.port {
        None
    } else {
        Some(advertised)
    }
}

/// The [`AddressMapper`] a connection hands the codec: for a client of the SNI listener
/// (`via_sni`), every broker is named by `--sni-broker-host-pattern`.
pub struct ProxyMapper<'a> {
    pub proxy: &'a Arc<Proxy>,
    pub via_sni: bool,
}

impl AddressMapper for ProxyMapper<'_> {
    fn advertise(&mut self, broker: BrokerAddress<'_>) -> Result<Option<Advertised>, MapError> {
        self.proxy.advertise(broker, self.via_sni)
    }
}
