//! Bounds the accept loops put on what clients can make the proxy hold: a slot per live client
//! connection (`--max-client-connections`, shared by every listener), a slot per connection
//! still authenticating, per source address
//! (`--max-unauthenticated-connections-per-address`), and log lines about refusals and resource
//! exhaustion that stay few however fast the refusals come.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a repeated refusal or accept failure is logged; the lines between are counted.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The longest pause of an accept loop after a failed `accept` (out of descriptors, out of
/// memory): long enough not to spin, short enough to resume soon after descriptors free up.
pub const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// The first pause after a failed `accept`; doubled on each failure in a row.
pub const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Slots for live client connections, over all listeners.
pub struct ConnectionSlots {
    live: Arc<AtomicUsize>,
    max: usize,
}

/// One taken slot; dropping it (when the connection thread ends, or when it could not be
/// started) frees the slot.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionSlots {
    pub fn new(max: usize) -> ConnectionSlots {
        ConnectionSlots {
            live: Arc::new(AtomicUsize::new(0)),
            max: max.max(1),
        }
    }

    /// A slot, or `None` when `max` connections are live.
    pub fn try_take(&self) -> Option<Slot> {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(&self.live)))
    }

    /// Client connections holding a slot now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

/// Also the address key of the authentication throttle and the HTTP server's caps, so it is
/// defined in `net`, below them all.
pub use crate::net::source_of;

/// Live connections per source address that have not finished authenticating. An address is
/// in the table only while it has such a connection, so the table never holds more entries than
/// there are live connections (`--max-client-connections`).
pub struct AddressSlots {
    max: usize,
    live: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection counted against its address; dropping it (once the client authenticated, or
/// when the connection ends) frees the slot.
#[derive(Debug)]
pub struct AddressSlot {
    live: Arc<Mutex<HashMap<IpAddr, usize>>>,
    source: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut live = lock(&self.live);
        if let Some(n) = live.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.source);
            }
        }
    }
}

impl AddressSlots {
    pub fn new(max: usize) -> AddressSlots {
        AddressSlots {
            max: max.max(1),
            live: Arc::default(),
        }
    }

    /// A slot for a connection from `peer`, or `None` when its address has `max` already.
    pub fn try_take(&self, peer: IpAddr) -> Option<AddressSlot> {
        let source = source_of(peer);
        let mut live = lock(&self.live);
        let n = live.entry(source).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            live: Arc::clone(&self.live),
            source,
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Addresses with a connection still authenticating.
    pub fn addresses(&self) -> usize {
        lock(&self.live).len()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lets one log line through per interval and counts the ones held back, so a connection
/// storm or a descriptor shortage writes a line every few seconds, not thousands.
pub struct LogThrottle {
    interval: Duration,
    state: Mutex<ThrottleState>,
}

struct ThrottleState {
    last: Option<Instant>,
    held_back: u64,
}

impl LogThrottle {
    pub fn new(interval: Duration) -> LogThrottle {
        LogThrottle {
            interval,
            state: Mutex::new(ThrottleState {
                last: None,
                held_back: 0,
            }),
        }
    }

    /// `Some(held back since the last line)` when a line may be logged now; `None` when this
    /// one is held back (and counted).
    pub fn allow(&self) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        match state.last {
            Some(last) if now.duration_since(last) < self.interval => {
                state.held_back += 1;
                None
            }
            _ => {
                state.last = Some(now);
                Some(std::mem::take(&mut state.held_back))
            }
        }
    }
}

/// " (N more since the last message)" when lines were held back, for the end of a log line.
pub fn held_back_note(held_back: u64) -> String {
    if held_back == 0 {
        String::new()
    } else {
        format!(" ({held_back} more since the last message)")
    }
}

/// The pause after `failures_in_a_row` failed accepts: doubling from
/// [`MIN_ACCEPT_BACKOFF`] up to [`MAX_ACCEPT_BACKOFF`].
pub fn accept_backoff(failures_in_a_row: u32) -> Duration {
    let doublings = failures_in_a_row.saturating_sub(1).min(16);
    MIN_ACCEPT_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_ACCEPT_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::frame::ConnError;
    use crate::proxy::Proxy;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn slots_are_bounded_and_freed_on_drop() {
        let slots = ConnectionSlots::new(2);
        let a = slots.try_take().expect("first slot");
        let b = slots.try_take().expect("second slot");
        assert!(
            slots.try_take().is_none(),
            "a third connection must be refused"
        );
        assert_eq!(slots.live(), 2);
        drop(a);
        assert_eq!(slots.live(), 1);
        let c = slots.try_take().expect("a freed slot is reused");
        drop((b, c));
        assert_eq!(slots.live(), 0);
    }

    #[test]
    fn slots_under_contention_never_exceed_the_maximum() {
        let slots = Arc::new(ConnectionSlots::new(3));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let slots = Arc::clone(&slots);
                let peak = Arc::clone(&peak);
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        if let Some(slot) = slots.try_take() {
                            peak.fetch_max(slots.live(), Ordering::AcqRel);
                            drop(slot);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(peak.load(Ordering::Acquire) <= 3);
        assert_eq!(slots.live(), 0);
    }

    #[test]
    fn address_slots_are_bounded_per_source_and_freed_on_drop() {
        let slots = AddressSlots::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = slots.try_take(a).expect("first from a");
        let second = slots.try_take(a).expect("second from a");
        assert!(
            slots.try_take(a).is_none(),
            "a third from a must be refused"
        );
        // The same address reaching an IPv6 listener, and one IPv6 /64, count as one source.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(slots.try_take(mapped).is_none());
        let other = slots.try_take(b).expect("another address is not affected");
        assert_eq!(slots.addresses(), 2);
        drop(first);
        let again = slots.try_take(a).expect("a freed slot is reused");
        drop((second, again, other));
        assert_eq!(
            slots.addresses(),
            0,
            "an address without connections is forgotten"
        );
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let _one = slots.try_take(v6("2001:db8::1")).unwrap();
        let _two = slots.try_take(v6("2001:db8::ffff:2")).unwrap();
        assert!(slots.try_take(v6("2001:db8::3")).is_none());
        assert!(slots.try_take(v6("2001:db8:0:1::1")).is_some());
    }

    /// A socket to `addr` from `from` (any 127.0.0.0/8 address works on loopback).
    fn connect_from(from: [u8; 4], addr: std::net::SocketAddr) -> TcpStream {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let local = std::net::SocketAddr::from((from, 0));
        socket.bind(&local.into()).unwrap();
        socket.connect(&addr.into()).unwrap();
        socket.into()
    }

    #[test]
    fn unauthenticated_connections_past_the_per_address_limit_are_refused_and_counted() {
        let (broker_port, broker, stop_broker) = silent_broker();
        let config = test_config(
            broker_port,
            &[
                "--max-unauthenticated-connections-per-address",
                "2",
                "--auth-local-enable",
                "--auth-local-command",
                "/bin/sh",
                "--auth-local-param=-c",
                "--auth-local-param=while read -r line; do :; done",
                "--handshake-timeout",
                "30s",
            ],
        );
        let auth = crate::auth::plugins::AuthPlugins::start(&config).unwrap();
        let proxy = Proxy::with_auth(config, auth);
        proxy.start().unwrap();
        let addr = proxy.listeners()[0].0;
        let per_address = proxy.unauthenticated.as_ref().expect("on with local SASL");
        let first = connect_from([127, 0, 0, 1], addr);
        let _second = connect_from([127, 0, 0, 1], addr);
        wait_until("two connections are authenticating", || {
            proxy.slots.live() == 2
        });
        let mut third = connect_from([127, 0, 0, 1], addr);
        assert!(
            closed_within(&mut third, Duration::from_secs(5)),
            "the third unauthenticated connection from one address must be closed at once"
        );
        assert_eq!(proxy.metrics.errors("unauthenticated_connection_limit"), 1);
        let mut elsewhere = connect_from([127, 0, 0, 2], addr);
        wait_until("the other address has a slot", || proxy.slots.live() == 3);
        assert!(!closed_within(&mut elsewhere, Duration::from_millis(100)));
        assert_eq!(per_address.addresses(), 2);
        // A connection that ends frees its address's slot.
        drop(first.shutdown(std::net::Shutdown::Both));
        wait_until("the first slot is freed", || proxy.slots.live() == 2);
        let mut fourth = connect_from([127, 0, 0, 1], addr);
        wait_until("the fourth has a slot", || proxy.slots.live() == 3);
        assert!(!closed_within(&mut fourth, Duration::from_millis(100)));
        assert_eq!(proxy.metrics.errors("unauthenticated_connection_limit"), 1);
        proxy.stop();
        drop((fourth, elsewhere, _second));
        proxy.join();
        assert_eq!(per_address.addresses(), 0);
        stop_broker.store(1, Ordering::Release);
        broker.join().unwrap();
    }

    #[test]
    fn without_client_authentication_there_is_no_per_address_limit() {
        let proxy = Proxy::new(test_config(1, &[]));
        assert!(proxy.unauthenticated.is_none());
    }

    #[test]
    fn throttle_lets_one_line_through_per_interval_and_counts_the_rest() {
        let throttle = LogThrottle::new(Duration::from_millis(100));
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(throttle.allow(), Some(2));
        assert_eq!(held_back_note(0), "");
        assert_eq!(held_back_note(2), " (2 more since the last message)");
    }

    fn test_config(broker_port: u16, extra: &[&str]) -> crate::config::Config {
        let mapping = format!("127.0.0.1:{broker_port},127.0.0.1:0,127.0.0.1:1");
        let mut args = vec!["server", "--bootstrap-server-mapping", &mapping];
        args.extend_from_slice(&["--kafka-read-timeout", "1s", "--http-disable"]);
        args.extend_from_slice(extra);
        match crate::config::parse(args, |_| None) {
            Ok(crate::config::Mode::Server(config)) => *config,
            other => panic!("bad test config: {other:?}"),
        }
    }

    /// A broker that accepts and holds connections without a word, until the test ends.
    fn silent_broker() -> (u16, std::thread::JoinHandle<()>, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicUsize::new(0));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut held = Vec::new();
                while stop.load(Ordering::Acquire) == 0 {
                    match listener.accept() {
                        Ok((stream, _)) => held.push(stream),
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        (port, thread, stop)
    }

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the proxy closed `client` within `within` (EOF or reset, not a read timeout).
    fn closed_within(client: &mut TcpStream, within: Duration) -> bool {
        client.set_read_timeout(Some(within)).unwrap();
        match client.read(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }

    #[test]
    fn connections_past_the_limit_are_closed_at_once_and_counted() {
        let (broker_port, broker, stop_broker) = silent_broker();
        let proxy = Proxy::new(test_config(broker_port, &["--max-client-connections", "2"]));
        proxy.start().unwrap();
        let addr = proxy.listeners()[0].0;
        let mut first = TcpStream::connect(addr).unwrap();
        let mut second = TcpStream::connect(addr).unwrap();
        wait_until("two slots are taken", || proxy.slots.live() == 2);
        let mut third = TcpStream::connect(addr).unwrap();
        assert!(
            closed_within(&mut third, Duration::from_secs(5)),
            "the connection past the limit must be closed at once"
        );
        assert_eq!(proxy.metrics.errors("client_connection_limit"), 1);
        assert!(!closed_within(&mut second, Duration::from_millis(50)));
        // A closed connection frees its slot for the next client.
        drop(first.shutdown(std::net::Shutdown::Both));
        wait_until("the first slot is freed", || proxy.slots.live() == 1);
        let mut fourth = TcpStream::connect(addr).unwrap();
        wait_until("the fourth client has a slot", || proxy.slots.live() == 2);
        assert!(!closed_within(&mut fourth, Duration::from_millis(100)));
        assert_eq!(proxy.metrics.errors("client_connection_limit"), 1);
        proxy.stop();
        proxy.join();
        assert_eq!(
            proxy.slots.live(),
            0,
            "every slot is freed when the proxy stops"
        );
        stop_broker.store(1, Ordering::Release);
        broker.join().unwrap();
        let _ = first.read(&mut [0u8; 1]);
    }

    #[test]
    fn an_idle_client_is_closed_after_the_idle_timeout() {
        let (broker_port, broker, stop_broker) = silent_broker();
        let proxy = Proxy::new(test_config(
            broker_port,
            &["--client-idle-timeout", "300ms"],
        ));
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(front.local_addr().unwrap()).unwrap();
        let (accepted, peer) = front.accept().unwrap();
        let broker_hp = crate::config::HostPort {
            host: "127.0.0.1".into(),
            port: broker_port,
        };
        let started = Instant::now();
        let result = super::super::connection::run(&proxy, accepted, peer, &broker_hp, None, None);
        let took = started.elapsed();
        let err = result.expect_err("an idle client must be closed");
        assert!(
            matches!(err, ConnError::ClientIdle(_)),
            "unexpected end: {err}"
        );
        assert!(err.to_string().contains("--client-idle-timeout"), "{err}");
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "closed after {took:?}"
        );
        assert!(closed_within(&mut client, Duration::from_secs(2)));
        stop_broker.store(1, Ordering::Release);
        broker.join().unwrap();
    }

    #[test]
    fn accept_backoff_doubles_up_to_the_cap() {
        assert_eq!(accept_backoff(1), MIN_ACCEPT_BACKOFF);
        assert_eq!(accept_backoff(2), MIN_ACCEPT_BACKOFF * 2);
        assert_eq!(accept_backoff(4), MIN_ACCEPT_BACKOFF * 8);
        assert_eq!(accept_backoff(40), MAX_ACCEPT_BACKOFF);
        assert_eq!(accept_backoff(u32::MAX), MAX_ACCEPT_BACKOFF);
    }
}
