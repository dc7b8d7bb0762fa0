//! Parking: how the response pump hands the broker connection back when the client goes
//! quiet, and how the two pumps agree on how a connection ended (one report, whoever fails
//! first; a panicking pump still reports).

use super::coalesce::Coalescer;
use super::frame_io::{flush, is_timeout};
use super::response_pump::ResponsePump;
use crate::net::frame::{ConnError, Side};
use crate::net::stream::Socket;
use crate::proxy::in_flight::{Added, InFlight, InFlightQueue};
use crate::proxy::registry::ConnectionEntry;
use crate::proxy::{Proxy, THREAD_STACK_SIZE};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long a response pump with nothing in flight keeps its thread. An idle connection then
/// holds one thread (the request pump's, blocked on the client socket) and no read buffer on
/// the broker side; the next request starts the response pump again, which costs a thread start
/// (tens of microseconds) once per idle period.
pub(super) const PARK_AFTER: Duration = Duration::from_secs(1);

/// The response pump as the request pump sees it.
pub(super) enum Responder {
    /// No thread.
    Parked(Box<ResponsePump>),
    /// On its thread, which reports through the handback when it parks or ends.
    Running,
    /// Ended, or failed to start.
    Gone,
}

/// How a response pump's run ended: parked (the pump comes back, to be started again), or the
/// connection's end with the pump's result.
pub(super) enum Parked {
    Yes(Box<ResponsePump>),
    Ended(Result<(), ConnError>),
}

/// Where a response pump's thread leaves its report. The thread itself is joined by the
/// proxy's reaper: the request pump, blocked on the client socket, could not join it when it
/// parks, and an unjoined thread keeps its stack.
#[derive(Default)]
pub(super) struct Handback {
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
pub(super) struct ResponseSide {
    pub(super) proxy: Arc<Proxy>,
    pub(super) queue: Arc<InFlightQueue>,
    pub(super) pump: Responder,
    pub(super) handback: Arc<Handback>,
    /// Watched by the request pump while the response pump is parked (a broker that closes an
    /// idle connection).
    pub(super) broker_socket: Socket,
}

impl ResponseSide {
    /// Records a request whose response the response pump must handle, starting the pump when
    /// it is parked. Blocks while --kafka-max-open-requests are in flight: back-pressure on the
    /// client. `broker` is the request pump's writer: before waiting for room it is flushed, as
    /// the responses that would make room may answer requests it still holds.
    pub(super) fn add(&mut self, entry: InFlight, broker: &mut Coalescer) -> Result<(), ConnError> {
        if self.queue.may_be_full() {
            flush(broker, Side::Broker)?;
        }
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
    pub(super) fn check_broker_while_parked(&mut self) -> Result<(), ConnError> {
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
    pub(super) fn finish(mut self) -> Result<(), ConnError> {
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
pub(super) struct Ending {
    pub(super) first: AtomicBool,
    /// Holds handles of both sockets.
    pub(super) conn: Arc<ConnectionEntry>,
}

impl Ending {
    /// Returns whether the caller is the first pump to stop.
    pub(super) fn end(&self) -> bool {
        let first = !self.first.swap(true, Ordering::AcqRel);
        self.conn.close();
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostPort;
    use crate::metrics::Metrics;
    use crate::proxy::in_flight::Ended;
    use crate::proxy::registry::Registry;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

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
        let stats = Metrics::new(true).broker("b:1");
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
