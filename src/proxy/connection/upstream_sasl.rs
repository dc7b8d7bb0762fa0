//! The pumps' share of upstream SASL (`--sasl-enable`): the login before the first client byte,
//! re-authentication when the broker session is due (KIP-368), and the answers to a client's
//! own SASL requests.

use super::coalesce::Coalescer;
use super::frame_io::{flush, read_exact, read_prefix};
use super::parking::ResponseSide;
use super::request_pump::RequestPump;
use super::response_pump::{check_correlation, ResponsePump};
use super::MIN_RESPONSE_SIZE;
use crate::auth::upstream::{self, BrokerExchange, ClientSaslAnswer, LoginError, Session};
use crate::codec::api::ApiKey;
use crate::codec::header;
use crate::config::{HostPort, SaslConfig};
use crate::net::deadline::Deadline;
use crate::net::frame::{check_size, ConnError, Side};
use crate::net::stream::{Stream, WriteHalf};
use crate::proxy::in_flight::{InFlight, InFlightQueue};
use crate::proxy::registry::ConnectionEntry;
use crate::proxy::Proxy;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// The largest SASL request a client may send when the proxy answers it itself: PLAIN and
/// OAUTHBEARER tokens are far smaller. Limits what the request pump reads for nothing.
const MAX_CLIENT_SASL_FRAME: usize = 64 * 1024;

/// Logs in on the broker connection (`--sasl-enable`), after every `open_broker` stage (TLS,
/// the gateway handshake) and before any client byte is forwarded: as the proxy, or with the
/// client's own credentials `own` ([`own_login`]). The whole login is bounded by
/// `--handshake-timeout`.
pub(crate) fn login_to_broker(
    proxy: &Proxy,
    upstream: &mut Stream,
    broker: &HostPort,
    own: Option<&SaslConfig>,
) -> Result<Option<Session>, ConnError> {
    let config = &proxy.config;
    let Some(sasl) = own.or(config.sasl.as_ref()) else {
        return Ok(None);
    };
    let tokens = own.map_or(proxy.auth.sasl_plugin.as_ref(), |_| None);
    let session = upstream::login_with(
        upstream,
        sasl,
        tokens,
        &config.kafka.client_id,
        login_timeout(proxy),
        config.max_frame_size,
        &broker.host,
    )
    .map_err(|e| ConnError::BrokerLogin(Box::new(e)))?;
    let user = match (tokens, &sasl.mapped_from) {
        (Some(_), _) => "the token provider's user".to_string(),
        (None, Some(principal)) => format!(
            "{:?}, the upstream user of principal \"{}\"",
            sasl.username,
            crate::logging::peer_text(principal)
        ),
        (None, None) if sasl.method == crate::config::SaslMethod::Gssapi => {
            sasl.gssapi.client_principal()
        }
        (None, None) => format!("{:?}", sasl.username),
    };
    let lifetime = describe_lifetime(&session);
    match own {
        Some(_) => log::info!(
            "logged in to broker {broker} as {user} with {}; session lifetime {lifetime}",
            session.mechanism
        ),
        None => log::debug!(
            "logged in to broker {broker} as {user} with {}; session lifetime {lifetime}",
            session.mechanism
        ),
    }
    Ok(Some(session))
}

/// The client's own upstream SASL settings (`--sasl-credentials-*`), looked up for its
/// principal (local SASL user or certificate subject); `None` when the proxy logs in as
/// itself. A client without a principal, or whose principal has no mapping, is refused: it
/// never gets another identity.
pub(super) fn own_login(
    proxy: &Proxy,
    principal: Option<&str>,
) -> Result<Option<SaslConfig>, ConnError> {
    let (Some(store), Some(base)) = (&proxy.auth.credentials, &proxy.config.sasl) else {
        return Ok(None);
    };
    let Some(principal) = principal else {
        return Err(ConnError::Refused(
            "the client has no principal to map to upstream credentials (no local SASL login \
             and no client certificate; --sasl-credentials-*): refused"
                .into(),
        ));
    };
    let credentials = store.lookup(principal).map_err(|e| {
        ConnError::Refused(format!(
            "principal \"{}\": {e} ({}): refused, not logged in as another identity",
            crate::logging::peer_text(principal),
            store.describe()
        ))
    })?;
    Ok(Some(credentials.login_config(base, principal)))
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
pub(super) fn client_wake_interval(read_timeout: Duration, session: Option<&Session>) -> Duration {
    session
        .and_then(Session::wake_interval)
        .map_or(read_timeout, |wake| wake.min(read_timeout))
}

/// How often an idle request pump wakes with `--client-idle-timeout` set: often enough to close
/// an idle client within a quarter of the timeout after it expires.
pub(super) fn idle_wake_interval(wake: Duration, client_idle: Duration) -> Duration {
    if client_idle.is_zero() {
        wake
    } else {
        wake.min((client_idle / 4).max(Duration::from_millis(10)))
    }
}

/// The request pump's share of upstream SASL.
pub(super) struct PumpSasl {
    session: Session,
    /// How often the pump wakes at least (the client socket's read timeout).
    wake: Duration,
    /// When to re-authenticate; `None` when the session does not expire.
    due: Option<Instant>,
    /// The broker's answers to the proxy's own requests, from the response pump.
    replies: Receiver<Vec<u8>>,
    /// The client's write half, shared with the response pump, for the answers to a client's
    /// own SASL requests. Written only when nothing is in flight, so the two never interleave:
    /// the response pump counts its responses down only once they are out of its coalescer.
    client_writer: Arc<Mutex<WriteHalf>>,
    next_correlation_id: i32,
    /// The broker, for log lines.
    broker: String,
    /// The broker's host name, which AWS_MSK_IAM signs.
    broker_host: String,
    /// Whether the client's own SaslHandshake was accepted.
    client_handshake_done: bool,
    /// `client ADDR via broker B`, for log lines.
    client: String,
    /// Whether the user the client claims has been logged (once per connection).
    claimed_logged: bool,
    /// The client's principal, whose own credentials each re-authentication looks up again
    /// (`--sasl-credentials-*`).
    principal: Option<String>,
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
    pub(super) fn new(
        session: Option<Session>,
        client_write: WriteHalf,
        conn: &ConnectionEntry,
        read_timeout: Duration,
        principal: Option<String>,
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
            broker_host: conn.broker.host.clone(),
            client_handshake_done: false,
            claimed_logged: false,
            principal,
        };
        (Box::new(SharedWriter(shared)), Some(sasl), Some(replies_tx))
    }

    /// Writes the proxy's answer to a client's SaslHandshake or SaslAuthenticate: a refusal
    /// ends the connection after it is written; an acceptance logs the user the client claims
    /// (once per connection) and returns whether a legacy token follows.
    fn send_answer(
        &mut self,
        answer: ClientSaslAnswer,
        api_key: ApiKey,
    ) -> Result<bool, ConnError> {
        let (response, legacy_token) = match answer {
            ClientSaslAnswer::Refuse { response, reason } => {
                self.write_to_client(&response)?;
                return Err(ConnError::ClientSasl(reason));
            }
            ClientSaslAnswer::Accept {
                response,
                legacy_token,
                claimed,
            } => {
                if let Some(user) = claimed.filter(|_| !self.claimed_logged) {
                    self.claimed_logged = true;
                    log::info!(
                        "{}: the client logs in as \"{user}\", which the proxy does not check \
                         (--sasl-enable without --auth-local-enable): the broker sees the \
                         proxy's own user",
                        self.client
                    );
                }
                (response, legacy_token)
            }
        };
        self.write_to_client(&response)?;
        if api_key == ApiKey::SASL_HANDSHAKE {
            self.client_handshake_done = true;
            log::debug!(
                "client SASL answered by the proxy, which logs in to broker {} itself \
                 (--sasl-enable); the client's credentials are ignored",
                self.broker
            );
        }
        Ok(legacy_token)
    }

    /// Writes a response of the proxy's own to the client.
    fn write_to_client(&self, response: &[u8]) -> Result<(), ConnError> {
        let mut writer = self.client_writer.lock().map_err(|_| {
            ConnError::Io(
                Side::Client,
                io::Error::other("the response pump panicked while writing to the client"),
            )
        })?;
        writer
            .write_all(response)
            .map_err(|e| ConnError::io(Side::Client, e, "writing a frame"))
    }
}

/// Waits until every response in flight has been written to the client, within `timeout`.
fn wait_until_idle(queue: &InFlightQueue, timeout: Duration) -> Result<(), ConnError> {
    let deadline = Deadline::after(timeout);
    let mut pause = Duration::from_millis(1);
    while queue.unanswered() > 0 {
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
    pub(super) fn reauthenticate_if_due(&mut self) -> Result<(), ConnError> {
        let Some(sasl) = &mut self.sasl else {
            return Ok(());
        };
        let (Some(due), Some(config)) = (sasl.due, &self.proxy.config.sasl) else {
            return Ok(());
        };
        if Instant::now() < due {
            return Ok(());
        }
        // The requests held in the writer must reach the broker for their responses to come.
        flush(&mut self.broker, Side::Broker)?;
        wait_until_idle(&self.responses.queue, self.limits.read_timeout)?;
        let started = Instant::now();
        let mut exchange = PumpExchange {
            broker: &mut self.broker,
            responses: &mut self.responses,
            replies: &sasl.replies,
            next_correlation_id: &mut sasl.next_correlation_id,
            client_id: &self.proxy.config.kafka.client_id,
            deadline: started + login_timeout(self.proxy),
        };
        // A client's own credentials are looked up again: a changed mapping (a rotated password,
        // a removed principal) applies from the next re-authentication.
        let own = own_login(self.proxy, sasl.principal.as_deref())?;
        let tokens = own
            .as_ref()
            .map_or(self.proxy.auth.sasl_plugin.as_ref(), |_| None);
        let session = upstream::reauthenticate_with(
            &mut exchange,
            own.as_ref().unwrap_or(config),
            tokens,
            &sasl.session,
            &sasl.broker_host,
        )
        .map_err(|e| ConnError::BrokerReauth(Box::new(e)))?;
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
    pub(super) fn answer_client_sasl(
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
        // Earlier responses first: the client reads its answers in order. The requests held in
        // the writer must reach the broker for theirs to come.
        flush(&mut self.broker, Side::Broker)?;
        wait_until_idle(&self.responses.queue, self.limits.read_timeout)?;
        let legacy_token = sasl.send_answer(answer, api_key)?;
        if !legacy_token {
            return Ok(());
        }
        // SaslHandshake v0: one bare size-prefixed token follows; a broker answers a good one
        // with an empty token.
        let prefix = read_prefix(
            &mut self.client,
            &mut self.broker,
            Side::Client,
            self.limits.read_timeout,
        )?;
        let token_size = check_size(Side::Client, prefix, 0, MAX_CLIENT_SASL_FRAME, false)?;
        self.head.clear();
        self.head.resize(token_size, 0);
        read_exact(
            &mut self.client,
            &mut self.broker,
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
    broker: &'p mut Coalescer,
    responses: &'p mut ResponseSide,
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
        // The queue counts it like a client's request, and the response pump counts it down.
        let entry = InFlight::Reauth {
            correlation_id,
            api_key,
            api_version,
        };
        self.responses
            .add(entry, self.broker)
            .map_err(|_| LoginError::Closed("before re-authenticating"))?;
        // Written out at once: the answer is awaited right here.
        self.broker
            .write_all(&frame)
            .and_then(|()| self.broker.flush())
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
    fn deadline(&self) -> Deadline {
        Deadline::at(self.deadline)
    }
}

impl ResponsePump {
    /// The broker's response to a request of the proxy's own: checked, and its body handed to
    /// the request pump; nothing reaches the client.
    pub(super) fn reauth_response(
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
            &mut self.client,
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
