//! The live connections: who is connected to which broker, since when, how many bytes each way
//! and how many requests are waiting for their response. The debug endpoint lists them, and a
//! graceful shutdown drains them ([`Registry::drain`]).
//!
//! The drain protocol, between [`Registry::drain`] (one thread) and each connection's pumps:
//! the proxy is marked stopping first; the request pump stops reading at a frame boundary when
//! it sees that mark, and a connection whose request pump waits between frames is woken by
//! shutting down the read side of its client socket. The response pump keeps delivering until
//! nothing is in flight, then ends the connection. So every response a broker sent for a
//! forwarded request reaches the client, and no request is half-read when reading stops.
//! "Between frames" and "stopping" are both sequentially consistent, so of a pump starting a
//! frame and a drain checking it, at least one sees the other: either the drain leaves the
//! socket alone until the frame is through, or the pump sees the drain and reads no further.
//! Likewise the last response and the stop of reading: the response pump counts the response
//! down and then looks for the mark, the request pump sets the mark and then looks at the
//! count, both sequentially consistent, so at least one of them ends the connection.
//!
//! What is in flight is counted in one place, the connection's [`InFlightQueue`]; the entry
//! holds the queue once the pumps run, and reads the count from it.

use super::in_flight::InFlightQueue;
use crate::config::HostPort;
use crate::metrics::{BrokerMetrics, ConnectionStats};
use crate::net::stream::Socket;
use std::collections::BTreeMap;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// How often a drain looks at the connections it waits for.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Every live client connection of one proxy.
#[derive(Debug, Default)]
pub struct Registry {
    next_id: AtomicU64,
    connections: Mutex<BTreeMap<u64, Arc<ConnectionEntry>>>,
}

/// One live client connection.
#[derive(Debug)]
pub struct ConnectionEntry {
    pub id: u64,
    pub client: SocketAddr,
    pub broker: HostPort,
    pub started: Instant,
    pub started_at: SystemTime,
    /// Bytes each way, published by the pumps when they flush their counts.
    pub stats: Arc<ConnectionStats>,
    /// The pumps' in-flight queue, which counts the requests whose response has not been
    /// delivered yet; unset until the pumps start (nothing is in flight before).
    in_flight: OnceLock<Arc<InFlightQueue>>,
    /// The request pump is inside a frame (false while it waits for the next one).
    in_frame: AtomicBool,
    /// The request pump has stopped reading for a drain.
    reading_stopped: AtomicBool,
    /// The client socket (shared with the pumps), for shutting it down.
    client_socket: Socket,
    /// The broker socket, once dialed.
    broker_socket: OnceLock<Socket>,
    /// Who the client authenticated as (local authentication), once it has.
    principal: OnceLock<String>,
}

/// Removes its connection from the registry when dropped.
pub struct Registration<'a> {
    registry: &'a Registry,
    pub entry: Arc<ConnectionEntry>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        // Under the lock a scrape holds: its counts move to the broker's totals and out of the
        // live set in one step, so a scrape sees them exactly once.
        let mut connections = self.registry.lock();
        self.entry.stats.fold_into_broker();
        connections.remove(&self.entry.id);
    }
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds a client connection. `client` is the accepted socket; the registry shares it with
    /// the pumps, to shut it down. The connection's counts go into stats of its own, folded
    /// into `metrics` (its broker's) when it ends. They are made here, not by the caller: over
    /// a kilobyte that would otherwise stay in the connection thread's stack frame.
    pub fn register(
        &self,
        client: &Socket,
        peer: SocketAddr,
        broker: &HostPort,
        metrics: Arc<BrokerMetrics>,
    ) -> Registration<'_> {
        let entry = Arc::new(ConnectionEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            client: peer,
            broker: broker.clone(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            stats: Arc::new(ConnectionStats::new(metrics)),
            in_flight: OnceLock::new(),
            in_frame: AtomicBool::new(false),
            reading_stopped: AtomicBool::new(false),
            client_socket: client.clone(),
            broker_socket: OnceLock::new(),
            principal: OnceLock::new(),
        });
        self.lock().insert(entry.id, Arc::clone(&entry));
        Registration {
            registry: self,
            entry,
        }
    }

    /// The live connections, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<ConnectionEntry>> {
        self.lock().values().cloned().collect()
    }

    /// Runs `f` on the counts of the live connections while no connection can end, so that
    /// adding them to the totals of ended ones counts every connection exactly once.
    pub fn with_live_stats<R>(&self, f: impl FnOnce(&[Arc<ConnectionStats>]) -> R) -> R {
        let connections = self.lock();
        let live: Vec<Arc<ConnectionStats>> =
            connections.values().map(|c| Arc::clone(&c.stats)).collect();
        f(&live)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until every connection has ended, waking those that wait between frames so they
    /// notice the drain; at `timeout`, closes those still busy. Call after the proxy was marked
    /// stopping. Returns how many connections had to be closed.
    pub fn drain(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let connections = self.snapshot();
            if connections.is_empty() {
                return 0;
            }
            if Instant::now() >= deadline {
                for connection in &connections {
                    connection.close();
                }
                return connections.len();
            }
            for connection in &connections {
                connection.wake_if_between_frames();
            }
            thread::sleep(DRAIN_POLL);
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<ConnectionEntry>>> {
        self.connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ConnectionEntry {
    /// Requests forwarded and not answered yet, as the connection's in-flight queue counts them.
    pub fn in_flight(&self) -> usize {
        self.in_flight.get().map_or(0, |queue| queue.unanswered())
    }

    /// Hands the entry the pumps' in-flight queue, whose count it reports from then on.
    pub(super) fn set_in_flight(&self, queue: Arc<InFlightQueue>) {
        let _ = self.in_flight.set(queue);
    }

    /// Records who the client authenticated as (at most once: a connection authenticates once).
    pub fn set_principal(&self, principal: &str) {
        let _ = self.principal.set(principal.to_string());
    }

    /// Who the client authenticated as, if the proxy authenticated it.
    pub fn principal(&self) -> Option<&str> {
        self.principal.get().map(String::as_str)
    }

    /// Remembers the broker socket so a drain or the end of the connection can shut it down,
    /// and an idle request pump can check it is still open.
    pub fn set_broker_socket(&self, socket: Socket) {
        let _ = self.broker_socket.set(socket);
    }

    /// Shuts both sockets down; the pumps see their reads and writes fail and end.
    pub fn close(&self) {
        let _ = self.client_socket.shutdown(Shutdown::Both);
        if let Some(broker) = self.broker_socket.get() {
            let _ = broker.shutdown(Shutdown::Both);
        }
    }

    /// The request pump waits for the next frame.
    pub fn between_frames(&self) {
        self.in_frame.store(false, Ordering::SeqCst);
    }

    /// The request pump has bytes of a new frame.
    pub fn frame_started(&self) {
        self.in_frame.store(true, Ordering::SeqCst);
    }

    /// Called by the response pump after counting a delivered response down in the queue, with
    /// how many are left. Returns true when it was the last one a drain waited for: the
    /// connection is done.
    pub(super) fn drained_after(&self, unanswered: usize) -> bool {
        unanswered == 0 && self.reading_stopped.load(Ordering::SeqCst)
    }

    /// The request pump stopped reading for a drain. Returns true when nothing is in flight:
    /// the connection can end at once (otherwise the response pump ends it after the last
    /// response).
    pub fn stop_reading(&self) -> bool {
        self.reading_stopped.store(true, Ordering::SeqCst);
        self.in_flight() == 0
    }

    /// During a drain: a request pump waiting for the next frame would sleep until the client
    /// sends one or its read timeout passes; shutting the read side down wakes it at once.
    /// Responses still flow the other way.
    fn wake_if_between_frames(&self) {
        if !self.in_frame.load(Ordering::SeqCst) {
            let _ = self.client_socket.shutdown(Shutdown::Read);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::api::ApiKey;
    use crate::metrics::Metrics;
    use crate::proxy::in_flight::InFlight;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    fn stats() -> Arc<BrokerMetrics> {
        Metrics::new(true).broker("b:1")
    }

    fn pair() -> (TcpStream, Socket) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (b, _) = listener.accept().unwrap();
        (a, Socket::from(b))
    }

    /// A queue handed to `conn`, as the pumps do when they start.
    fn queue_of(conn: &ConnectionEntry) -> Arc<InFlightQueue> {
        let queue = Arc::new(InFlightQueue::new(4));
        conn.set_in_flight(Arc::clone(&queue));
        queue
    }

    fn broker() -> HostPort {
        HostPort {
            host: "b".into(),
            port: 1,
        }
    }

    #[test]
    fn register_and_unregister() {
        let registry = Registry::new();
        let (_client, accepted) = pair();
        let peer = accepted.peer_addr().unwrap();
        let first = registry.register(&accepted, peer, &broker(), stats());
        let second = registry.register(&accepted, peer, &broker(), stats());
        assert_eq!(registry.len(), 2);
        assert_ne!(first.entry.id, second.entry.id);
        drop(first);
        assert_eq!(registry.snapshot()[0].id, second.entry.id);
        drop(second);
        assert!(registry.is_empty());
    }

    #[test]
    fn last_response_of_a_drain_ends_the_connection() {
        let registry = Registry::new();
        let (_client, accepted) = pair();
        let peer = accepted.peer_addr().unwrap();
        let reg = registry.register(&accepted, peer, &broker(), stats());
        let conn = &reg.entry;
        let queue = queue_of(conn);
        queue.add(InFlight::SaslToken).unwrap();
        queue.add(InFlight::SaslToken).unwrap();
        queue.take_oldest().unwrap();
        assert!(!conn.drained_after(queue.delivered(1)));
        assert_eq!(conn.in_flight(), 1);
        assert!(!conn.stop_reading(), "one response still in flight");
        queue.take_oldest().unwrap();
        assert!(
            conn.drained_after(queue.delivered(1)),
            "the last one ends it"
        );
        // Nothing in flight when reading stops: done at once.
        let reg2 = registry.register(&accepted, peer, &broker(), stats());
        assert!(reg2.entry.stop_reading());
    }

    #[test]
    fn the_entry_reports_its_queues_count() {
        let registry = Registry::new();
        let (_client, accepted) = pair();
        let peer = accepted.peer_addr().unwrap();
        let reg = registry.register(&accepted, peer, &broker(), stats());
        assert_eq!(reg.entry.in_flight(), 0, "no queue before the pumps start");
        let queue = queue_of(&reg.entry);
        queue.add(InFlight::SaslToken).unwrap();
        queue
            .add(InFlight::Reauth {
                correlation_id: i32::MIN,
                api_key: ApiKey::SASL_HANDSHAKE,
                api_version: 1,
            })
            .unwrap();
        let seen = |registry: &Registry| registry.snapshot()[0].in_flight();
        assert_eq!(seen(&registry), 2, "the proxy's own request counts too");
        queue.take_oldest().unwrap();
        assert_eq!(seen(&registry), 2, "until its response is delivered");
        queue.delivered(1);
        assert_eq!(seen(&registry), 1);
    }

    #[test]
    fn drain_wakes_idle_readers_and_closes_busy_ones_at_the_deadline() {
        let registry = Arc::new(Registry::new());
        let (_client, accepted) = pair();
        let peer = accepted.peer_addr().unwrap();
        // An idle connection: its reader wakes with end-of-stream when the drain starts.
        let reader = {
            let registry = Arc::clone(&registry);
            let mut socket = accepted.clone();
            thread::spawn(move || {
                let reg = registry.register(&socket, peer, &broker(), stats());
                reg.entry.between_frames();
                let mut buf = [0u8; 8];
                let n = socket.read(&mut buf).unwrap();
                drop(reg);
                n
            })
        };
        while registry.is_empty() {
            thread::sleep(Duration::from_millis(1));
        }
        let started = Instant::now();
        assert_eq!(registry.drain(Duration::from_secs(10)), 0);
        assert_eq!(reader.join().unwrap(), 0);
        assert!(started.elapsed() < Duration::from_secs(5));

        // A busy one (in a frame) stays until the deadline, then is closed.
        let (_client2, accepted2) = pair();
        let reg = registry.register(
            &accepted2,
            accepted2.peer_addr().unwrap(),
            &broker(),
            stats(),
        );
        reg.entry.frame_started();
        let started = Instant::now();
        let registry2 = Arc::clone(&registry);
        let drain = thread::spawn(move || registry2.drain(Duration::from_millis(200)));
        let mut buf = [0u8; 8];
        let mut socket = accepted2;
        assert_eq!(socket.read(&mut buf).unwrap(), 0, "closed at the deadline");
        assert!(started.elapsed() >= Duration::from_millis(150));
        drop(reg);
        assert_eq!(drain.join().unwrap(), 1);
    }
}
