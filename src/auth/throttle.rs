//! Failed authentications slow their source address down (`--auth-failure-delay`).
//!
//! Each failure from an address (a password the local SASL plugin refused, a token the gateway
//! plugin refused) pushes the earliest time that address's next credentials are checked back by
//! the delay. Failures add up, and connections from one address share the one time: reconnecting
//! or opening connections in parallel gains nothing, so guessing runs at about one attempt per
//! delay per address instead of the plugin's speed. An attempt that would have to wait past its
//! handshake deadline is refused at once, without a check (and without adding to the wait), so
//! the wait an address can build up is bounded by the handshake timeout plus one delay per
//! connection it has open.
//!
//! The wait happens on the connection's own thread before the plugin is called, never while
//! holding the plugin (whose calls are serialized), so one address's penalty does not slow
//! another's clients. Addresses are counted as [`source_of`] says (IPv6 per /64); at most
//! [`MAX_TRACKED_ADDRESSES`] are remembered, and when a new one comes the one whose wait ends
//! first is forgotten.

use crate::net::source_of;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Source addresses whose failures are remembered at most, so a peer with many addresses
/// cannot grow the table: about 50 bytes each.
pub const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// The failure table of a proxy, shared by local SASL and the gateway server.
pub struct FailureDelay {
    delay: Duration,
    state: Mutex<State>,
    /// Wakes the waiters when the proxy stops.
    stopped: Condvar,
}

struct State {
    /// Per source: no credentials are checked before this instant.
    not_before: HashMap<IpAddr, Instant>,
    stopping: bool,
}

/// Why an attempt may not have its credentials checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Throttled {
    /// The address's next check is this far away, beyond the attempt's deadline.
    TooSoon(Duration),
    /// The proxy is shutting down.
    Stopping,
}

impl FailureDelay {
    /// `delay` zero: failures are not remembered and nothing waits.
    pub fn new(delay: Duration) -> FailureDelay {
        FailureDelay {
            delay,
            state: Mutex::new(State {
                not_before: HashMap::new(),
                stopping: false,
            }),
            stopped: Condvar::new(),
        }
    }

    /// Waits until credentials from `peer` may be checked. Returns at once with
    /// [`Throttled::TooSoon`] when that is later than `deadline`, and with
    /// [`Throttled::Stopping`] when the proxy stops while it would wait.
    pub fn wait_turn(&self, peer: IpAddr, deadline: Instant) -> Result<(), Throttled> {
        if self.delay.is_zero() {
            return Ok(());
        }
        let source = source_of(peer);
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let at = match state.not_before.get(&source) {
                Some(&at) if at > now => at,
                _ => return Ok(()),
            };
            if state.stopping {
                return Err(Throttled::Stopping);
            }
            if at > deadline {
                return Err(Throttled::TooSoon(at - now));
            }
            // Looked at again on waking: a failure of a parallel connection may have pushed it.
            state = self
                .stopped
                .wait_timeout(state, at - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Records a refused credential check from `peer`.
    pub fn failed(&self, peer: IpAddr) {
        if self.delay.is_zero() {
            return;
        }
        let source = source_of(peer);
        let now = Instant::now();
        let mut state = self.lock();
        let from = match state.not_before.get(&source) {
            Some(&at) => at.max(now),
            None => {
                make_room(&mut state.not_before, now);
                now
            }
        };
        let at = from.checked_add(self.delay).unwrap_or(from);
        state.not_before.insert(source, at);
    }

    /// Ends every wait (they return [`Throttled::Stopping`]), for a shutdown.
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.stopped.notify_all();
    }

    /// Addresses remembered now.
    pub fn tracked(&self) -> usize {
        self.lock().not_before.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Makes room for one more address: forgets those whose wait is over, and when none is, the one
/// whose wait ends first.
fn make_room(table: &mut HashMap<IpAddr, Instant>, now: Instant) {
    if table.len() < MAX_TRACKED_ADDRESSES {
        return;
    }
    table.retain(|_, at| *at > now);
    if table.len() < MAX_TRACKED_ADDRESSES {
        return;
    }
    if let Some(first) = table.iter().min_by_key(|(_, at)| **at).map(|(ip, _)| *ip) {
        table.remove(&first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    #[test]
    fn the_flag_help_states_the_bound_of_the_table() {
        let flag = crate::config::flags::SERVER_FLAGS
            .iter()
            .find(|f| f.name == "auth-failure-delay")
            .unwrap();
        assert!(flag.help.contains(&MAX_TRACKED_ADDRESSES.to_string()));
    }

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn a_failure_delays_its_address_and_no_other() {
        let delay = Duration::from_millis(300);
        let failures = FailureDelay::new(delay);
        let far = Instant::now() + Duration::from_secs(10);
        failures.failed(v4(1));
        let started = Instant::now();
        failures.wait_turn(v4(2), far).unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "another address waited"
        );
        failures.wait_turn(v4(1), far).unwrap();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
            "the failing address waited {waited:?}"
        );
        // Over once waited out.
        let again = Instant::now();
        failures.wait_turn(v4(1), far).unwrap();
        assert!(again.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn failures_add_up_and_a_wait_past_the_deadline_is_refused_at_once() {
        let failures = FailureDelay::new(Duration::from_secs(1));
        for _ in 0..3 {
            failures.failed(v4(1));
        }
        let started = Instant::now();
        let err = failures
            .wait_turn(v4(1), Instant::now() + Duration::from_millis(2500))
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "it waited first"
        );
        let Throttled::TooSoon(left) = err else {
            panic!("{err:?}")
        };
        assert!(left > Duration::from_millis(2500) && left <= Duration::from_secs(3));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let failures = FailureDelay::new(Duration::from_secs(5));
        let soon = || Instant::now() + Duration::from_millis(50);
        failures.failed("2001:db8:1:2::1".parse().unwrap());
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(failures.wait_turn(same_64, soon()).is_err());
        assert!(failures.wait_turn(other_64, soon()).is_ok());
        failures.failed(v4(7));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert!(failures.wait_turn(mapped, soon()).is_err());
        assert!(failures
            .wait_turn(IpAddr::V6(Ipv6Addr::LOCALHOST), soon())
            .is_ok());
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_wait_that_ends_first() {
        let failures = FailureDelay::new(Duration::from_secs(60));
        let ip = |i: usize| IpAddr::V6(Ipv6Addr::from((i as u128) << 64));
        for i in 0..MAX_TRACKED_ADDRESSES + 50 {
            failures.failed(ip(i));
        }
        assert_eq!(failures.tracked(), MAX_TRACKED_ADDRESSES);
        let soon = Instant::now() + Duration::from_millis(10);
        assert!(
            failures.wait_turn(ip(0), soon).is_ok(),
            "the first is forgotten"
        );
        let last = ip(MAX_TRACKED_ADDRESSES + 49);
        assert!(failures.wait_turn(last, soon).is_err(), "the last is kept");
    }

    #[test]
    fn zero_disables() {
        let failures = FailureDelay::new(Duration::ZERO);
        failures.failed(v4(1));
        assert_eq!(failures.tracked(), 0);
        assert!(failures.wait_turn(v4(1), Instant::now()).is_ok());
    }

    #[test]
    fn stop_ends_the_waits() {
        let failures = Arc::new(FailureDelay::new(Duration::from_secs(5)));
        failures.failed(v4(1));
        let waiter = {
            let failures = Arc::clone(&failures);
            std::thread::spawn(move || {
                let started = Instant::now();
                let result = failures.wait_turn(v4(1), Instant::now() + Duration::from_secs(9));
                (result, started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        failures.stop();
        let (result, took) = waiter.join().unwrap();
        assert_eq!(result, Err(Throttled::Stopping));
        assert!(took < Duration::from_secs(2), "{took:?}");
        // An address with nothing to wait for is not refused.
        assert_eq!(failures.wait_turn(v4(2), Instant::now()), Ok(()));
    }
}
