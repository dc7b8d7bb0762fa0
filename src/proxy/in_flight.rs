//! The requests a connection has forwarded and not yet answered, shared by its two pumps: the
//! request pump adds an entry before it forwards a request, the response pump takes the oldest
//! when a response arrives. The queue also records whether the response pump is parked: an idle
//! connection gives its response thread back (see `connection`), and the request pump starts
//! it again with the next request.
//!
//! The queue also keeps the connection's count of requests in flight, the one number the
//! registry reports and a drain waits on: an entry counts from when it is added until its
//! response has been delivered ([`InFlightQueue::delivered`]), which is longer than it stays
//! in the queue, so the response being written to the client still counts.
//!
//! A `std::sync::mpsc::sync_channel` preallocates all `--kafka-max-open-requests` slots (about
//! 10 KiB per connection at the default 256); this queue grows with what is in flight and is
//! empty when the connection idles.

use crate::codec::api::ApiKey;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// What the response pump must do with the next frame from the broker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum InFlight {
    /// A Kafka request awaiting its response.
    Request {
        correlation_id: i32,
        api_key: ApiKey,
        api_version: i16,
        /// When forwarding started, for the duration histogram (`None` when metrics are off).
        sent_at: Option<Instant>,
    },
    /// A raw SASL token of the legacy (SaslHandshake v0) flow: the broker answers with a raw
    /// size-prefixed token, no header.
    SaslToken,
    /// A request of the proxy's own (SASL re-authentication): the response goes back to the
    /// request pump, never to the client.
    Reauth {
        correlation_id: i32,
        api_key: ApiKey,
        api_version: i16,
    },
}

impl InFlight {
    /// The API key and version of a Kafka request (the client's or the proxy's own).
    pub(super) fn request(self) -> Option<(ApiKey, i16)> {
        match self {
            InFlight::Request {
                api_key,
                api_version,
                ..
            }
            | InFlight::Reauth {
                api_key,
                api_version,
                ..
            } => Some((api_key, api_version)),
            InFlight::SaslToken => None,
        }
    }
}

/// The other pump has ended: nothing more will be added, or taken.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Ended;

/// After an entry was added: whether the response pump runs, or is parked and must be
/// started by the caller to answer it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Added {
    Running,
    Parked,
}

pub(super) struct InFlightQueue {
    state: Mutex<State>,
    /// Signalled when an entry is taken while the request pump waits for room.
    room: Condvar,
    capacity: usize,
    /// Entries added whose response has not been delivered yet. Outside the lock, and
    /// sequentially consistent, because the drain protocol (see `registry`) pairs it with the
    /// connection's "reading stopped" mark.
    unanswered: AtomicUsize,
}

#[derive(Default)]
struct State {
    entries: VecDeque<InFlight>,
    /// The response pump has no thread.
    parked: bool,
    requests_ended: bool,
    responses_ended: bool,
    /// The request pump waits in `add` for room (so taking an entry must wake it).
    waiting_for_room: bool,
}

/// Shows the count only: a connection's debug output (see `registry`) need not take the lock.
impl std::fmt::Debug for InFlightQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlightQueue")
            .field("unanswered", &self.unanswered())
            .finish_non_exhaustive()
    }
}

impl InFlightQueue {
    /// A queue of at most `capacity` entries whose response pump starts parked.
    pub(super) fn new(capacity: usize) -> Self {
        InFlightQueue {
            state: Mutex::new(State {
                parked: true,
                ..State::default()
            }),
            room: Condvar::new(),
            capacity: capacity.max(1),
            unanswered: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few flags and a queue: consistent at every unlock.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an entry, waiting while the queue is full (back-pressure on the client). On
    /// `Added::Parked` the response pump counts as running from now on: the caller starts it.
    pub(super) fn add(&self, entry: InFlight) -> Result<Added, Ended> {
        let mut state = self.lock();
        while state.entries.len() >= self.capacity && !state.responses_ended {
            state.waiting_for_room = true;
            state = self.room.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.waiting_for_room = false;
        if state.responses_ended {
            return Err(Ended);
        }
        // Counted under the lock, before the entry can be taken, so the response pump's
        // `delivered` never counts below zero.
        self.unanswered.fetch_add(1, Ordering::SeqCst);
        state.entries.push_back(entry);
        if state.parked {
            state.parked = false;
            return Ok(Added::Parked);
        }
        Ok(Added::Running)
    }

    /// The oldest entry, left in the queue. `Err` when it is empty and the request pump has
    /// ended: no response is awaited any more.
    pub(super) fn oldest(&self) -> Result<Option<InFlight>, Ended> {
        let state = self.lock();
        match state.entries.front() {
            Some(entry) => Ok(Some(*entry)),
            None if state.requests_ended => Err(Ended),
            None => Ok(None),
        }
    }

    /// Takes the oldest entry, for the response that just arrived.
    pub(super) fn take_oldest(&self) -> Result<Option<InFlight>, Ended> {
        let mut state = self.lock();
        match state.entries.pop_front() {
            Some(entry) => {
                if state.waiting_for_room {
                    self.room.notify_one();
                }
                Ok(Some(entry))
            }
            None if state.requests_ended => Err(Ended),
            None => Ok(None),
        }
    }

    /// The responses to `n` taken entries have been delivered, written to the client's socket
    /// (or, for the proxy's own requests, handed to the request pump). The response pump counts
    /// a batch of responses down once, after the write that took them out. Returns how many are
    /// still unanswered.
    pub(super) fn delivered(&self, n: usize) -> usize {
        self.unanswered.fetch_sub(n, Ordering::SeqCst) - n
    }

    /// Whether `add` might wait for room. Only the request pump adds, so when this is false its
    /// next `add` does not wait; counted without the lock, from the unanswered entries (which
    /// include those taken and still being delivered), so it may say true with room left.
    pub(super) fn may_be_full(&self) -> bool {
        self.unanswered() >= self.capacity
    }

    /// Requests added whose response has not been delivered yet, the one being delivered
    /// included.
    pub(super) fn unanswered(&self) -> usize {
        self.unanswered.load(Ordering::SeqCst)
    }

    /// Called by the response pump with nothing to read: parks it when nothing is in flight
    /// (returns true; its thread may then end), so the next `add` says it must be started.
    pub(super) fn park_if_idle(&self) -> bool {
        let mut state = self.lock();
        if !state.entries.is_empty() || state.requests_ended {
            return false;
        }
        state.parked = true;
        // Room for a deep pipeline is not kept by an idle connection.
        state.entries = VecDeque::new();
        true
    }

    pub(super) fn is_parked(&self) -> bool {
        self.lock().parked
    }

    /// Marks a parked response pump as running, for a caller about to start it without adding
    /// an entry. Returns false when it was not parked.
    pub(super) fn unpark(&self) -> bool {
        std::mem::replace(&mut self.lock().parked, false)
    }

    /// The request pump has ended.
    pub(super) fn end_requests(&self) {
        self.lock().requests_ended = true;
    }

    /// The response pump has ended: a request pump waiting for room wakes and fails.
    pub(super) fn end_responses(&self) {
        self.lock().responses_ended = true;
        self.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    fn token() -> InFlight {
        InFlight::SaslToken
    }

    #[test]
    fn starts_parked_and_reports_the_start_once() {
        let queue = InFlightQueue::new(4);
        assert!(queue.is_parked());
        assert_eq!(queue.add(token()), Ok(Added::Parked));
        assert!(!queue.is_parked());
        assert_eq!(queue.add(token()), Ok(Added::Running));
    }

    #[test]
    fn parks_only_when_nothing_is_in_flight() {
        let queue = InFlightQueue::new(4);
        queue.add(token()).unwrap();
        assert!(!queue.park_if_idle(), "a response is awaited");
        assert!(matches!(queue.take_oldest(), Ok(Some(InFlight::SaslToken))));
        assert!(queue.park_if_idle());
        assert_eq!(queue.add(token()), Ok(Added::Parked));
    }

    #[test]
    fn entries_come_out_oldest_first() {
        let queue = InFlightQueue::new(4);
        for id in 1..=3 {
            queue
                .add(InFlight::Reauth {
                    correlation_id: id,
                    api_key: ApiKey(17),
                    api_version: 1,
                })
                .unwrap();
        }
        for id in 1..=3 {
            assert!(matches!(
                queue.oldest(),
                Ok(Some(InFlight::Reauth { correlation_id, .. })) if correlation_id == id
            ));
            queue.take_oldest().unwrap();
        }
        assert_eq!(queue.oldest(), Ok(None));
    }

    #[test]
    fn an_entry_counts_until_its_response_is_delivered() {
        let queue = InFlightQueue::new(4);
        queue.add(token()).unwrap();
        queue.add(token()).unwrap();
        assert_eq!(queue.unanswered(), 2);
        queue.take_oldest().unwrap();
        assert_eq!(
            queue.unanswered(),
            2,
            "the taken one is still being delivered"
        );
        assert_eq!(queue.delivered(1), 1);
        queue.take_oldest().unwrap();
        assert_eq!(queue.delivered(1), 0);
        assert_eq!(queue.unanswered(), 0);
    }

    #[test]
    fn a_batch_of_responses_is_counted_down_at_once() {
        let queue = InFlightQueue::new(3);
        for _ in 0..3 {
            queue.add(token()).unwrap();
        }
        assert!(queue.may_be_full());
        queue.take_oldest().unwrap();
        queue.take_oldest().unwrap();
        assert!(queue.may_be_full(), "taken but not delivered still counts");
        assert_eq!(queue.delivered(2), 1);
        assert!(!queue.may_be_full());
    }

    #[test]
    fn a_full_queue_waits_for_room() {
        let queue = Arc::new(InFlightQueue::new(1));
        queue.add(token()).unwrap();
        let adder = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || queue.add(token()))
        };
        thread::sleep(Duration::from_millis(50));
        assert!(!adder.is_finished(), "blocked while full");
        queue.take_oldest().unwrap();
        assert_eq!(adder.join().unwrap(), Ok(Added::Running));
    }

    #[test]
    fn either_end_ending_releases_the_other() {
        let queue = Arc::new(InFlightQueue::new(1));
        queue.add(token()).unwrap();
        let adder = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || queue.add(token()))
        };
        thread::sleep(Duration::from_millis(20));
        queue.end_responses();
        assert_eq!(adder.join().unwrap(), Err(Ended));

        let queue = InFlightQueue::new(1);
        queue.add(token()).unwrap();
        queue.end_requests();
        assert!(queue.take_oldest().unwrap().is_some(), "still answered");
        assert_eq!(queue.oldest(), Err(Ended));
        assert!(!queue.park_if_idle());
    }
}
