//! The request pump: reads client frames, checks them, records what each expects back in the
//! in-flight queue, and forwards them to the broker.

use super::coalesce::Coalescer;
use super::frame_io::{
    copy_frame, flush, is_timeout, read_exact, read_prefix, Route, BULK, KEEP_HEAD,
};
use super::parking::ResponseSide;
use super::response_pump::set_buffer;
use super::upstream_sasl::PumpSasl;
use super::{Limits, MAX_REQUEST_PREFIX, MIN_REQUEST_SIZE};
use crate::codec::api::ApiKey;
use crate::codec::{header, sasl};
use crate::net::frame::{check_size, ConnError, Side};
use crate::net::stream::{ReadHalf, Socket};
use crate::proxy::in_flight::InFlight;
use crate::proxy::registry::ConnectionEntry;
use crate::proxy::Proxy;
use std::io::{self, BufRead, BufReader};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Instant;

pub(super) struct RequestPump<'a> {
    pub(super) proxy: &'a Arc<Proxy>,
    /// Without a buffer while waiting for a request (see `fill_client_buffer`).
    pub(super) client: BufReader<ReadHalf>,
    /// The client socket when it can be waited on directly (plaintext).
    pub(super) client_socket: Option<Socket>,
    /// `--proxy-request-buffer-size`.
    pub(super) buffer_size: usize,
    /// The read buffer the next batch takes on a plaintext connection (see `next_read_size`).
    pub(super) read_size: usize,
    /// Requests wait here until the pump would read the client socket again, or wait for
    /// anything (see `coalesce`).
    pub(super) broker: Coalescer,
    pub(super) responses: ResponseSide,
    pub(super) sasl_verdict: Receiver<bool>,
    /// Upstream SASL (`--sasl-enable`): re-authentication and the client's own SASL.
    pub(super) sasl: Option<PumpSasl>,
    pub(super) limits: Limits,
    /// The size prefix and the first bytes of the current request, written in one call.
    pub(super) head: Vec<u8>,
    /// Client to broker, when both are plaintext: large bodies are spliced.
    pub(super) route: Option<Route>,
    pub(super) conn: &'a ConnectionEntry,
    /// Whether to count requests for the metrics.
    pub(super) counting: bool,
}

/// What the request pump found when it waited for the next frame.
enum Next {
    Frame,
    ClientClosed,
    /// The proxy is draining: read no further.
    Drain,
}

/// How much of a request the pump reads into `head` at first, when that much is buffered: any
/// request header without a long client id, and a Produce request's acks behind it. The rest
/// of the frame goes from the reader's buffer into the writer, copied once.
const HEAD_GUESS: usize = 256;

impl RequestPump<'_> {
    /// Forwards requests until the client closes, the proxy drains, or something fails; what
    /// the writer still holds is written out on every way out.
    pub(super) fn run(&mut self) -> Result<(), ConnError> {
        let result = self.forward_requests();
        let flushed = flush(&mut self.broker, Side::Broker);
        result.and(flushed)
    }

    fn forward_requests(&mut self) -> Result<(), ConnError> {
        let mut first = true;
        let mut raw_tokens_left = 0u32;
        loop {
            match self.wait_for_frame()? {
                Next::Frame => {}
                Next::ClientClosed => return Err(ConnError::Closed(Side::Client)),
                Next::Drain => return Ok(()),
            }
            self.reauthenticate_if_due()?;
            let prefix = read_prefix(
                &mut self.client,
                &mut self.broker,
                Side::Client,
                self.limits.read_timeout,
            )?;
            if raw_tokens_left > 0 {
                let size = check_size(Side::Client, prefix, 0, self.limits.max_frame, false)?;
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
            // The requests held in the writer go out before the pump waits for more.
            if self.client.buffer().is_empty() {
                flush(&mut self.broker, Side::Broker)?;
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
                    // Quiet for a wake interval: the next wait looks first, without a buffer.
                    self.read_size = self.buffer_size;
                    self.reauthenticate_if_due()?;
                    self.check_idle(&mut idle_since)?;
                    self.responses.check_broker_while_parked()?;
                    // Idle for a whole wake interval: give back the buffer for large frames,
                    // and the write buffer (a TLS client's is kept between requests until now).
                    BULK.with(|bulk| *bulk.borrow_mut() = Vec::new());
                    crate::net::splice::release();
                    self.broker.release();
                }
                Err(_) if self.proxy.is_stopping() => return Ok(Next::Drain),
                Err(e) => return Err(ConnError::Io(Side::Client, e)),
            }
        }
    }

    /// Whether the client has bytes buffered, waiting for some when there are none (false: the
    /// client closed). On a plaintext connection the wait holds no read buffer: it looks at
    /// the socket (`peek`) and takes a buffer only when bytes arrive, so a connection between
    /// requests keeps none (one more system call per batch that finds the buffer empty,
    /// against 4 KiB per idle connection), except while reads fill it whole (see
    /// `next_read_size`).
    fn fill_client_buffer(&mut self) -> io::Result<bool> {
        let Some(socket) = &self.client_socket else {
            if self.client.capacity() == 0 {
                set_buffer(&mut self.client, self.buffer_size);
            }
            return Ok(!self.client.fill_buf()?.is_empty());
        };
        if self.client.buffer().is_empty() {
            // After a read that filled the buffer whole, more is likely waiting: read again at
            // once (a wake-interval timeout brings the pump back to looking first).
            let busy = self.read_size > self.buffer_size;
            if !busy {
                if self.client.capacity() > 0 {
                    set_buffer(&mut self.client, 0);
                }
                if self.head.capacity() > KEEP_HEAD {
                    self.head = Vec::new();
                }
                // The write buffer lives as long as the read buffer: an idle connection keeps
                // none.
                self.broker.release();
                if socket.peek(&mut [0u8; 1])? == 0 {
                    return Ok(false);
                }
            }
            if self.client.capacity() != self.read_size {
                set_buffer(&mut self.client, self.read_size);
            }
            let filled = self.client.fill_buf()?.len();
            self.read_size = next_read_size(self.buffer_size, self.read_size, filled);
            return Ok(filled > 0);
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
        if self.responses.queue.unanswered() > 0 {
            *idle_since = Instant::now();
        } else if idle_since.elapsed() >= self.limits.client_idle {
            return Err(ConnError::ClientIdle(self.limits.client_idle));
        }
        Ok(())
    }

    /// Handles one Kafka request whose size prefix was read. Returns how many raw SASL tokens
    /// follow it (non-zero only after a successful legacy SaslHandshake v0).
    fn request(&mut self, prefix: [u8; 4], size: usize) -> Result<u32, ConnError> {
        // Read what is already buffered (up to what the header checks need, see HEAD_GUESS), at
        // least the 8-byte prefix, without waiting for more.
        let buffered = self
            .client
            .buffer()
            .len()
            .clamp(MIN_REQUEST_SIZE, HEAD_GUESS)
            .min(size);
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
        // learn whether the next frames are tokens or Kafka requests. The handshake must reach
        // the broker first.
        flush(&mut self.broker, Side::Broker)?;
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
    pub(super) fn read_head(&mut self, len: usize) -> Result<(), ConnError> {
        let have = self.head.len() - 4;
        if len > have {
            let start = self.head.len();
            self.head.resize(4 + len, 0);
            read_exact(
                &mut self.client,
                &mut self.broker,
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
        self.responses.add(entry, &mut self.broker)
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
            &self.head,
            size - head_len,
            Side::Client,
            self.limits.read_timeout,
            self.route.as_ref(),
        )
    }
}

/// The most a plaintext connection's read buffer grows to while its client keeps it full.
const READ_SIZE_MAX: usize = 64 * 1024;

/// The read buffer for a plaintext connection's next batch: twice the last one while a read
/// fills it whole (a client with more requests queued than one read takes, as a pipelining
/// producer has: fewer reads and writes per request, issue 17), up to [`READ_SIZE_MAX`], and
/// back to `--proxy-request-buffer-size` (`base`) after a read that did not. The buffer is
/// released between batches, so a quiet connection holds none of it.
fn next_read_size(base: usize, last: usize, filled: usize) -> usize {
    if filled >= last {
        (last * 2).min(READ_SIZE_MAX.max(base))
    } else {
        base
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_doubles_while_reads_fill_it_and_falls_back_after_one_that_does_not() {
        assert_eq!(next_read_size(4096, 4096, 4096), 8192);
        assert_eq!(next_read_size(4096, 8192, 8192), 16384);
        assert_eq!(next_read_size(4096, 32768, 32768), 65536);
        assert_eq!(next_read_size(4096, 65536, 65536), 65536);
        assert_eq!(next_read_size(4096, 65536, 1000), 4096);
        assert_eq!(next_read_size(4096, 4096, 0), 4096);
        // A flag above the cap is kept as it is.
        assert_eq!(next_read_size(262_144, 262_144, 262_144), 262_144);
    }
}
