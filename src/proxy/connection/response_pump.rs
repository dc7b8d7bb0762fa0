//! The response pump: reads broker frames, pairs each with the oldest request in flight,
//! rewrites the broker addresses a response carries, and forwards the rest as bytes.

use super::coalesce::Coalescer;
use super::frame_io::{
    copy_frame, flush, is_timeout, read_exact, read_prefix, shrink, write_all, Route,
};
use super::parking::{Ending, Parked};
use super::{Limits, MIN_RESPONSE_SIZE};
use crate::codec::api::ApiKey;
use crate::codec::rewrite::{needs_rewrite, rewrite_response_tail};
use crate::codec::{header, sasl};
use crate::net::frame::{check_size, ConnError, Side};
use crate::net::stream::ReadHalf;
use crate::proxy::in_flight::{InFlight, InFlightQueue};
use crate::proxy::registry::ConnectionEntry;
use crate::proxy::{Proxy, ProxyMapper};
use std::io::{self, BufRead, BufReader};
use std::sync::{mpsc, Arc};
use std::time::Instant;

pub(super) struct ResponsePump {
    pub(super) proxy: Arc<Proxy>,
    /// Without a buffer while parked.
    pub(super) broker: BufReader<ReadHalf>,
    /// `--proxy-response-buffer-size`, the broker read buffer while running.
    pub(super) buffer_size: usize,
    /// Responses wait here until the pump would read the broker socket again (see `coalesce`).
    pub(super) client: Coalescer,
    /// Responses written into `client` and not yet counted down in the queue: they count as
    /// in flight until they are out, so a drain or a SASL exchange that waits for nothing in
    /// flight never goes ahead of them.
    pub(super) undelivered: usize,
    pub(super) in_flight: Arc<InFlightQueue>,
    pub(super) sasl_verdict: mpsc::Sender<bool>,
    /// Where the answers to the proxy's own requests go (`--sasl-enable`).
    pub(super) reauth_replies: Option<mpsc::Sender<Vec<u8>>>,
    pub(super) limits: Limits,
    /// A whole response that must be decoded; reused, so it grows to the largest such response.
    pub(super) frame: Vec<u8>,
    /// The rewritten part of a response.
    pub(super) rewritten: Vec<u8>,
    /// Broker to client, when both are plaintext: large bodies are spliced.
    pub(super) route: Option<Route>,
    pub(super) conn: Arc<ConnectionEntry>,
    pub(super) ending: Arc<Ending>,
    /// Whether a response was delivered yet (the first gets extra checks, see `check_size`).
    pub(super) answered_any: bool,
    /// Whether to count responses for the metrics.
    pub(super) counting: bool,
    /// A client of the SNI listener: brokers are advertised by their SNI names.
    pub(super) via_sni: bool,
}

/// What the response pump found when it waited for the broker.
enum Ready {
    /// Bytes of a response.
    Bytes,
    /// Nothing in flight for a while, and the queue marked the pump parked.
    Parked,
}

/// What a response pump waiting for the broker expected, for the timeout's message.
fn awaited(entry: InFlight) -> &'static str {
    match entry {
        InFlight::Request { .. } => "waiting for a response",
        InFlight::SaslToken => "waiting for a SASL token",
        InFlight::Reauth { .. } => "waiting for a SASL re-authentication response",
    }
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
pub(super) fn set_buffer(reader: &mut BufReader<ReadHalf>, capacity: usize) {
    debug_assert!(reader.buffer().is_empty());
    let placeholder = BufReader::with_capacity(0, Box::new(io::empty()) as ReadHalf);
    let old = std::mem::replace(reader, placeholder);
    *reader = BufReader::with_capacity(capacity, old.into_inner());
}

impl ResponsePump {
    /// The body of the response pump's thread: runs until the connection ends, or until
    /// nothing has been in flight for `PARK_AFTER`; then its buffers are released and it returns
    /// itself, to be started again.
    pub(super) fn run_until_parked(mut self: Box<Self>) -> Parked {
        set_buffer(&mut self.broker, self.buffer_size);
        let result = self.run();
        if result.is_err() {
            // The responses delivered before the failure still reach the client, as when each
            // was written on its own; the connection ends either way.
            let _ = self.client.flush();
        }
        match result {
            Ok(Stop::Parked) => {
                set_buffer(&mut self.broker, 0);
                self.client.release();
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

    /// Delivers responses until the connection ends, a drain is done, or nothing has been in
    /// flight for a while.
    fn run(&mut self) -> Result<Stop, ConnError> {
        loop {
            if let Ready::Parked = self.wait_for_response()? {
                return Ok(Stop::Parked);
            }
            let prefix = read_prefix(
                &mut self.broker,
                &mut self.client,
                Side::Broker,
                self.limits.read_timeout,
            )?;
            let taken = self.in_flight.take_oldest();
            let Some(entry) = taken.map_err(|_| ConnError::Closed(Side::Client))? else {
                return Err(ConnError::UnexpectedResponse);
            };
            self.deliver(prefix, entry)?;
            self.answered_any = true;
            self.undelivered += 1;
            // Out before the next read of the broker socket, or at once when no other
            // response is awaited (the reader then holds no further frame).
            if self.broker.buffer().is_empty() || self.in_flight.unanswered() == self.undelivered {
                if let Some(stop) = self.send_delivered()? {
                    return Ok(stop);
                }
            }
        }
    }

    /// Writes out the responses held and counts them down. Returns `Stop::Done` when a drain
    /// stopped the requests and these were the last responses in flight.
    fn send_delivered(&mut self) -> Result<Option<Stop>, ConnError> {
        flush(&mut self.client, Side::Client)?;
        if self.undelivered == 0 {
            return Ok(None);
        }
        let left = self
            .in_flight
            .delivered(std::mem::take(&mut self.undelivered));
        Ok(self.conn.drained_after(left).then_some(Stop::Done))
    }

    /// Waits until the broker has sent bytes, or the pump may park. Waits on the broker
    /// socket, not on the in-flight queue: the request pump records each entry before
    /// forwarding its request, so the entry is there when the response arrives, and adding one
    /// needs no wake-up. Waiting on the socket also notices at once a broker that closes the
    /// connection.
    fn wait_for_response(&mut self) -> Result<Ready, ConnError> {
        let mut stalled_since: Option<Instant> = None;
        // The run loop sends what it delivered whenever the reader's buffer runs empty.
        debug_assert!(
            !self.broker.buffer().is_empty() || (self.undelivered == 0 && self.client.is_empty())
        );
        loop {
            match self.broker.fill_buf() {
                Ok([]) => {
                    return Err(match self.oldest()? {
                        Some(entry) => ConnError::BrokerClosedAwaiting(entry.request()),
                        None => ConnError::Closed(Side::Broker),
                    })
                }
                Ok(_) => return Ok(Ready::Bytes),
                Err(e) if is_timeout(&e) => {
                    let Some(entry) = self.oldest()? else {
                        if self.in_flight.park_if_idle() {
                            return Ok(Ready::Parked);
                        }
                        stalled_since = None;
                        continue;
                    };
                    let since = *stalled_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.limits.read_timeout {
                        return Err(ConnError::Timeout(Side::Broker, awaited(entry)));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ConnError::io(Side::Broker, e, "waiting for a response")),
            }
        }
    }

    /// Handles the broker frame whose size prefix was read, as the entry it answers says.
    fn deliver(&mut self, prefix: [u8; 4], entry: InFlight) -> Result<(), ConnError> {
        match entry {
            InFlight::SaslToken => self.sasl_token(prefix),
            InFlight::Request {
                correlation_id,
                api_key,
                api_version,
                sent_at,
            } => {
                let first = !self.answered_any;
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
                self.response(prefix, size, correlation_id, api_key, api_version)
            }
            InFlight::Reauth {
                correlation_id,
                api_key,
                api_version,
            } => self.reauth_response(prefix, correlation_id, api_key, api_version),
        }
    }

    /// A raw SASL token of the legacy flow, copied through as it is.
    fn sasl_token(&mut self, prefix: [u8; 4]) -> Result<(), ConnError> {
        let size = check_size(Side::Broker, prefix, 0, self.limits.max_frame, false)?;
        if self.counting {
            self.conn.stats.count_response_bytes(size + 4);
        }
        copy_frame(
            &mut self.broker,
            &mut self.client,
            &prefix,
            size,
            Side::Broker,
            self.limits.read_timeout,
            self.route.as_ref(),
        )
    }

    /// The oldest request still waiting for its response. `Err` when the request pump is gone
    /// and nothing is in flight: the connection is ending.
    fn oldest(&self) -> Result<Option<InFlight>, ConnError> {
        self.in_flight
            .oldest()
            .map_err(|_| ConnError::Closed(Side::Client))
    }

    /// A response to a client's request: copied through as bytes unless it carries broker
    /// addresses (rewritten) or answers a legacy SaslHandshake (whose verdict the request pump
    /// waits for).
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
            return self.pass_through(prefix, size, expected, api_key);
        }
        // The size prefix stays in front of the frame, so an unchanged frame leaves in one write.
        self.frame.clear();
        self.frame.extend_from_slice(&prefix);
        self.frame.resize(4 + size, 0);
        read_exact(
            &mut self.broker,
            &mut self.client,
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
            // The client sends its token once it has this response; out with it at once.
            flush(&mut self.client, Side::Client)?;
            // The request pump may have gone already; then nobody needs the verdict.
            let _ = self.sasl_verdict.send(error_code == 0);
            return Ok(());
        }

        let mut mapper = ProxyMapper {
            proxy: &self.proxy,
            via_sni: self.via_sni,
        };
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
            Some(kept) => self.write_rewritten(api_key, body_offset, kept)?,
        }
        // A buffer grown for one huge response is not kept (see KEEP_BUFFER).
        shrink(&mut self.frame);
        shrink(&mut self.rewritten);
        Ok(())
    }

    /// A response that needs no decoding: its correlation id is checked, and the rest is copied
    /// through without holding the frame whole.
    fn pass_through(
        &mut self,
        prefix: [u8; 4],
        size: usize,
        expected: i32,
        api_key: ApiKey,
    ) -> Result<(), ConnError> {
        let mut staged = [0u8; 8];
        staged[..4].copy_from_slice(&prefix);
        read_exact(
            &mut self.broker,
            &mut self.client,
            &mut staged[4..],
            Side::Broker,
            self.limits.read_timeout,
        )?;
        let correlation = i32::from_be_bytes([staged[4], staged[5], staged[6], staged[7]]);
        check_correlation(expected, correlation, api_key)?;
        copy_frame(
            &mut self.broker,
            &mut self.client,
            &staged,
            size - 4,
            Side::Broker,
            self.limits.read_timeout,
            self.route.as_ref(),
        )
    }

    /// Writes the rewritten response: its new size, the header, the body's first `kept` bytes
    /// as they came (in `frame`), then the rewritten rest (in `rewritten`).
    fn write_rewritten(
        &mut self,
        api_key: ApiKey,
        body_offset: usize,
        kept: usize,
    ) -> Result<(), ConnError> {
        self.proxy.metrics.count_rewrite(api_key.0);
        let new_size = body_offset + kept + self.rewritten.len();
        let new_size = i32::try_from(new_size)
            .map_err(|_| ConnError::FrameTooLarge(Side::Broker, new_size, i32::MAX as usize))?;
        self.frame[..4].copy_from_slice(&new_size.to_be_bytes());
        // Both parts go into the coalescer, so a small rewritten frame still leaves in one
        // write (with the frames around it); a large part bypasses it without a copy.
        let head = &self.frame[..4 + body_offset + kept];
        write_all(&mut self.client, head, Side::Client)?;
        write_all(&mut self.client, &self.rewritten, Side::Client)
    }
}

pub(super) fn check_correlation(expected: i32, got: i32, api_key: ApiKey) -> Result<(), ConnError> {
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
