//! Local SASL: the proxy itself completes a client's SASL/PLAIN exchange and checks the
//! credentials with a password plugin (`--auth-local-*`), before any broker is dialed.
//!
//! What a client may send before it is authenticated, and what it gets back:
//! - ApiVersions (any number, any version): answered by the proxy. The versions are the
//!   broker's, capped to what the proxy decodes: the client keeps using them on this connection
//!   once it is relayed to the broker, so advertising anything the broker lacks would break it
//!   later. The broker's list is learned with one ApiVersions request of the proxy's own (never
//!   the client's bytes) on a separate connection, and cached for [`VERSIONS_TTL`], so
//!   unauthenticated clients do not cost a broker connection each (see [`VersionsCache`]).
//! - SaslHandshake v0 (kafka-python 2.0.x): then one raw size-prefixed PLAIN token; success is
//!   answered with an empty token (four zero bytes), failure by closing, as a broker does.
//! - SaslHandshake v1, then SaslAuthenticate v0-v2 (librdkafka, Java, kafka-python 3): failure
//!   gets error 58 (SASL_AUTHENTICATION_FAILED) with a message, then the connection closes.
//!
//! Anything else, a mechanism other than `--auth-local-mechanism`, a malformed token, or a
//! plugin that fails in any way refuses the client and closes the connection. Nothing the client
//! sent before success is forwarded. A password the plugin refuses delays the next check from the
//! client's address (`--auth-failure-delay`, see [`crate::auth::throttle`]).

use crate::auth::throttle::{FailureDelay, Throttled};
use crate::codec::api::ApiKey;
use crate::codec::api_versions::{self, ApiVersionsResponse, UNSUPPORTED_VERSION};
use crate::codec::header;
use crate::codec::sasl::{self, SaslAuthenticateRequest, SaslAuthenticateResponse};
use crate::config::{HostPort, PluginAuthConfig};
use crate::net::deadline::{
    self, read_exact_until, write_all_until, Armed, Deadline, FrameError, ReadError,
};
use crate::net::frame::{check_size, ConnError, Side};
use crate::net::source_of;
use crate::net::stream::Stream;
use crate::plugin::{Plugin, PluginSpec, Reply, Request};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Local authentications that succeeded, for the metrics endpoint.
pub static LOCAL_AUTH_SUCCEEDED: AtomicU64 = AtomicU64::new(0);
/// Local authentications that failed (bad credentials, bad token, plugin failure, protocol
/// violation), for the metrics endpoint.
pub static LOCAL_AUTH_FAILED: AtomicU64 = AtomicU64::new(0);

/// The largest frame an unauthenticated client may send: ApiVersions and SASL requests are
/// small, and a peer that has proven nothing must not make the proxy allocate much.
pub const MAX_UNAUTHENTICATED_FRAME: usize = 64 * 1024;
/// RFC 4616 leaves lengths open; these bound what reaches a plugin and the logs.
pub const MAX_USERNAME: usize = 255;
pub const MAX_PASSWORD: usize = 1024;
/// How long a broker's ApiVersions list is reused.
pub const VERSIONS_TTL: Duration = Duration::from_secs(300);
/// Largest ApiVersions response accepted from a broker.
const MAX_VERSIONS_RESPONSE: usize = 1 << 20;
/// The ApiVersions versions the proxy answers itself (layouts 0, 1 and 3 of the codec).
const MAX_API_VERSIONS_VERSION: i16 = 4;
/// Kafka's SASL_AUTHENTICATION_FAILED and UNSUPPORTED_SASL_MECHANISM error codes.
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// What a client is told when its credentials are refused (Kafka's own wording).
const BAD_CREDENTIALS: &str = "Authentication failed: Invalid username or password";
/// What a client is told when the plugin could not give an answer.
const PLUGIN_DOWN: &str = "Authentication failed: the proxy could not check the credentials";
/// What a client is told when failures from its address put its check past its deadline.
const THROTTLED: &str =
    "Authentication failed: too many failed attempts from this address; try again later";

/// `(api_key, min_version, max_version)` for each API.
type ApiEntries = Vec<(i16, i16, i16)>;

/// The settings and the password plugin of `--auth-local-*`.
pub struct LocalAuth {
    plugin: Plugin,
    mechanism: String,
    versions: VersionsCache,
}

/// How local SASL reaches a broker whose API versions are not cached: `dial` opens a connection
/// within the time it is given, `read_timeout` bounds waiting for the answer. Both are cut to
/// what is left of the client's handshake.
pub struct Probe<'a> {
    pub dial: &'a dyn Fn(Duration) -> Result<Stream, ConnError>,
    pub read_timeout: Duration,
}

/// PLAIN credentials. `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainCredentials({:?}, ***)", self.username)
    }
}

/// Why a PLAIN token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainError(pub &'static str);

impl fmt::Display for PlainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed PLAIN token: {}", self.0)
    }
}

/// Parses an RFC 4616 PLAIN message, `[authzid] NUL authcid NUL passwd`, strictly: exactly two
/// NULs, UTF-8, a non-empty username and password within the limits, no control characters in
/// the username, and an authorization identity that is empty or the username itself (acting as
/// someone else is not supported).
pub fn parse_plain(token: &[u8]) -> Result<PlainCredentials, PlainError> {
    if token.len() > MAX_USERNAME * 2 + MAX_PASSWORD + 2 {
        return Err(PlainError("too long"));
    }
    let mut parts = token.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PlainError("expected exactly two NUL separators"));
    };
    fn text<'a>(b: &'a [u8], what: &'static str) -> Result<&'a str, PlainError> {
        std::str::from_utf8(b).map_err(|_| PlainError(what))
    }
    let authzid = text(authzid, "authorization identity is not UTF-8")?;
    let username = text(authcid, "username is not UTF-8")?;
    let password = text(password, "password is not UTF-8")?;
    if username.is_empty() {
        return Err(PlainError("empty username"));
    }
    if password.is_empty() {
        return Err(PlainError("empty password"));
    }
    if username.len() > MAX_USERNAME {
        return Err(PlainError("username longer than 255 bytes"));
    }
    if password.len() > MAX_PASSWORD {
        return Err(PlainError("password longer than 1024 bytes"));
    }
    if username.chars().any(char::is_control) {
        return Err(PlainError("control character in the username"));
    }
    if !authzid.is_empty() && authzid != username {
        return Err(PlainError(
            "authorization identity differs from the username",
        ));
    }
    Ok(PlainCredentials {
        username: username.to_string(),
        password: password.to_string(),
    })
}

/// The outcome of checking credentials with the plugin.
enum Verdict {
    Accepted(String),
    Refused(String),
    /// The plugin gave no answer (crashed, hung, garbage): fail closed.
    Unavailable(String),
    /// Not checked: failures from the client's address put its turn past its deadline.
    Throttled(String),
}

impl LocalAuth {
    /// Starts the password plugin. Fails (a startup error) when the mechanism is not PLAIN or
    /// the plugin cannot be started.
    pub fn start(config: &PluginAuthConfig) -> io::Result<LocalAuth> {
        let mechanism = config.mechanism.trim().to_ascii_uppercase();
        if mechanism != "PLAIN" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "--auth-local-mechanism {:?} is not supported (PLAIN is)",
                    config.mechanism
                ),
            ));
        }
        let spec = PluginSpec::resolve(
            "auth-local",
            &config.command,
            &config.params,
            config.log_level,
            config.timeout,
        )?;
        Ok(LocalAuth {
            plugin: Plugin::start(spec)?,
            mechanism,
            versions: VersionsCache::default(),
        })
    }

    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Runs the client's side of SASL on `client` until it is authenticated (returns the
    /// identity) or refused. `timeout` bounds the whole exchange except the plugin call, which
    /// has its own. `probe` reaches the broker, only when the broker's ApiVersions list is not
    /// cached. `failures` delays the check after failures from the client's address.
    pub fn authenticate(
        &self,
        client: &mut Stream,
        peer: SocketAddr,
        broker: &HostPort,
        timeout: Duration,
        probe: &Probe<'_>,
        failures: &FailureDelay,
    ) -> Result<String, ConnError> {
        let deadline = Instant::now() + timeout;
        let attempt = Attempt {
            peer,
            deadline,
            failures,
        };
        let result = self.exchange(client, broker, &attempt, probe);
        match &result {
            Ok(identity) => {
                LOCAL_AUTH_SUCCEEDED.fetch_add(1, Ordering::Relaxed);
                log::info!(
                    "client {peer} authenticated as \"{}\"",
                    crate::logging::peer_text(identity)
                );
            }
            // A client that left without trying is not a failed authentication.
            Err(ConnError::Closed(_)) => {}
            Err(_) => {
                LOCAL_AUTH_FAILED.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    fn exchange(
        &self,
        client: &mut Stream,
        broker: &HostPort,
        attempt: &Attempt<'_>,
        probe: &Probe<'_>,
    ) -> Result<String, ConnError> {
        let deadline = attempt.deadline;
        let mut first = true;
        let mut handshaken_v1 = false;
        loop {
            let frame = read_frame(client, deadline, 8, MAX_UNAUTHENTICATED_FRAME, first)?;
            first = false;
            let (head, body_offset) = header::parse_request_header(&frame)
                .map_err(|e| ConnError::Malformed(Side::Client, ApiKey(-1), -1, e))?;
            let (api_key, version, correlation_id) =
                (head.api_key, head.api_version, head.correlation_id);
            let body = body_offset.and_then(|o| frame.get(o..)).unwrap_or(&[]);
            let malformed = |e| ConnError::Malformed(Side::Client, api_key, version, e);
            let mut out = Vec::new();
            match api_key {
                ApiKey::API_VERSIONS => {
                    let entries = self.broker_versions(broker, probe, deadline)?;
                    let (answer_version, error) = if version > MAX_API_VERSIONS_VERSION {
                        (0, UNSUPPORTED_VERSION)
                    } else {
                        (version.max(0), 0)
                    };
                    header::encode_response_header(api_key, 0, correlation_id, &mut out);
                    api_versions::encode_response(answer_version, error, &entries, 0, &mut out)
                        .map_err(malformed)?;
                    write_frame(client, &out, deadline, Side::Client)?;
                }
                ApiKey::SASL_HANDSHAKE if sasl::HANDSHAKE_VERSIONS.contains(&version) => {
                    let mechanism = sasl::handshake_request_mechanism(body).map_err(malformed)?;
                    let supported = mechanism == self.mechanism;
                    let response = sasl::SaslHandshakeResponse {
                        error_code: if supported {
                            0
                        } else {
                            UNSUPPORTED_SASL_MECHANISM
                        },
                        mechanisms: vec![self.mechanism.as_str()],
                    };
                    header::encode_response_header(api_key, version, correlation_id, &mut out);
                    response.encode(version, &mut out);
                    write_frame(client, &out, deadline, Side::Client)?;
                    if !supported {
                        return Err(ConnError::Refused(format!(
                            "local authentication refused: the client asked for SASL mechanism \
                             \"{}\"; only {} is enabled (--auth-local-mechanism)",
                            crate::logging::peer_text(mechanism),
                            self.mechanism
                        )));
                    }
                    if version == 0 {
                        // Legacy flow: one raw token, answered by an empty token or a close.
                        let token =
                            read_frame(client, deadline, 0, MAX_UNAUTHENTICATED_FRAME, false)?;
                        return match self.check(&token, attempt) {
                            Verdict::Accepted(identity) => {
                                write_frame(client, &[], deadline, Side::Client)?;
                                Ok(identity)
                            }
                            Verdict::Refused(why)
                            | Verdict::Unavailable(why)
                            | Verdict::Throttled(why) => Err(ConnError::Refused(why)),
                        };
                    }
                    handshaken_v1 = true;
                }
                ApiKey::SASL_AUTHENTICATE
                    if handshaken_v1 && sasl::AUTHENTICATE_VERSIONS.contains(&version) =>
                {
                    let request =
                        SaslAuthenticateRequest::decode(version, body).map_err(malformed)?;
                    let verdict = self.check(request.auth_bytes, attempt);
                    let (error_code, message) = match &verdict {
                        Verdict::Accepted(_) => (0, None),
                        Verdict::Refused(_) => (SASL_AUTHENTICATION_FAILED, Some(BAD_CREDENTIALS)),
                        Verdict::Unavailable(_) => (SASL_AUTHENTICATION_FAILED, Some(PLUGIN_DOWN)),
                        Verdict::Throttled(_) => (SASL_AUTHENTICATION_FAILED, Some(THROTTLED)),
                    };
                    header::encode_response_header(api_key, version, correlation_id, &mut out);
                    SaslAuthenticateResponse {
                        error_code,
                        error_message: message,
                        auth_bytes: &[],
                        // No re-authentication: the broker connection outlives this check.
                        session_lifetime_ms: 0,
                        tagged: &[],
                    }
                    .encode(version, &mut out);
                    write_frame(client, &out, deadline, Side::Client)?;
                    return match verdict {
                        Verdict::Accepted(identity) => Ok(identity),
                        Verdict::Refused(why)
                        | Verdict::Unavailable(why)
                        | Verdict::Throttled(why) => Err(ConnError::Refused(why)),
                    };
                }
                _ => {
                    let expected = if handshaken_v1 {
                        "SaslAuthenticate"
                    } else {
                        "ApiVersions or SaslHandshake"
                    };
                    return Err(ConnError::Refused(format!(
                        "local authentication refused: the client sent {api_key} v{version} \
                         before authenticating (expected {expected}); nothing was forwarded"
                    )));
                }
            }
        }
    }

    /// Checks a PLAIN token with the plugin, once failures from the client's address allow it
    /// (waiting outside the plugin's queue). A refusal by the plugin counts as a failure.
    fn check(&self, token: &[u8], attempt: &Attempt<'_>) -> Verdict {
        let credentials = match parse_plain(token) {
            Ok(c) => c,
            Err(e) => {
                let why = format!("local authentication refused: {e}");
                return Verdict::Refused(why);
            }
        };
        let username = credentials.username.clone();
        let peer = attempt.peer.ip();
        match attempt.failures.wait_turn(peer, attempt.deadline) {
            Ok(()) => {}
            Err(Throttled::TooSoon(wait)) => {
                return Verdict::Throttled(format!(
                    "local authentication refused: user {username:?}: after failed \
                     authentications from {}, its next check is {wait:.1?} away, past the \
                     handshake deadline; refused without a check (--auth-failure-delay)",
                    source_of(peer)
                ))
            }
            Err(Throttled::Stopping) => {
                return Verdict::Unavailable(format!(
                    "local authentication refused: user {username:?}: the proxy is shutting down"
                ))
            }
        }
        let request = Request::CheckPassword {
            mechanism: self.mechanism.clone(),
            username: credentials.username,
            password: credentials.password,
        };
        match self.plugin.call(&request) {
            Ok(Reply {
                ok: true, identity, ..
            }) => Verdict::Accepted(identity.unwrap_or(username)),
            Ok(reply) => {
                attempt.failures.failed(peer);
                Verdict::Refused(format!(
                    "local authentication refused: user {username:?}: {}",
                    reply.reason_or("invalid credentials")
                ))
            }
            Err(e) => Verdict::Unavailable(format!(
                "local authentication refused: user {username:?} could not be checked: plugin auth-local: {e}"
            )),
        }
    }

    /// The ApiVersions entries to advertise for `broker`: cached, or learned with `probe`, all
    /// before `deadline` (the client's).
    fn broker_versions(
        &self,
        broker: &HostPort,
        probe: &Probe<'_>,
        deadline: Instant,
    ) -> Result<ApiEntries, ConnError> {
        self.versions.get(&broker.to_string(), deadline, || {
            let mut stream = (probe.dial)(time_left(deadline)?)?;
            let entries =
                probe_versions(&mut stream, probe.read_timeout.min(time_left(deadline)?))?;
            log::debug!(
                "learned the API versions of broker {broker} ({} APIs)",
                entries.len()
            );
            Ok(entries)
        })
    }
}

/// One client's try: where it comes from, when its handshake must be done, and the failures
/// table that may make it wait.
struct Attempt<'a> {
    peer: SocketAddr,
    deadline: Instant,
    failures: &'a FailureDelay,
}

/// What is left before `deadline`; a timeout once nothing is.
fn time_left(deadline: Instant) -> Result<Duration, ConnError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ConnError::Timeout(
            Side::Broker,
            "during the authentication handshake",
        ));
    }
    Ok(left)
}

/// The brokers' ApiVersions lists, per broker, learned by probing and reused for
/// [`VERSIONS_TTL`]. One probe per broker runs at a time, and outside the lock: the clients that
/// need the list meanwhile wait for that probe, each only until its own deadline (then the next
/// one probes), so a broker that drops packets holds no client past its deadline, and no client
/// waits behind another broker's probe. The table has one entry per broker the proxy serves.
#[derive(Default)]
pub struct VersionsCache {
    brokers: Mutex<HashMap<String, Learned>>,
    /// Signalled when a probe ends, well or not.
    probed: Condvar,
}

#[derive(Default)]
struct Learned {
    /// The entries and when they were learned.
    entries: Option<(ApiEntries, Instant)>,
    /// A client is probing the broker now.
    probing: bool,
}

impl VersionsCache {
    /// `broker`'s entries: cached, or learned with `probe` (which is given the turn when no
    /// other client is probing), or a timeout at `deadline`.
    pub fn get(
        &self,
        broker: &str,
        deadline: Instant,
        probe: impl FnOnce() -> Result<ApiEntries, ConnError>,
    ) -> Result<ApiEntries, ConnError> {
        let turn = {
            let mut brokers = self.lock();
            loop {
                let learned = brokers.entry(broker.to_string()).or_default();
                if let Some((entries, at)) = &learned.entries {
                    if at.elapsed() < VERSIONS_TTL {
                        return Ok(entries.clone());
                    }
                }
                if !learned.probing {
                    learned.probing = true;
                    break ProbeTurn {
                        cache: self,
                        broker,
                    };
                }
                let left = time_left(deadline)?;
                brokers = self
                    .probed
                    .wait_timeout(brokers, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        };
        let entries = probe()?;
        turn.learned(&entries);
        Ok(entries)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Learned>> {
        self.brokers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The turn to probe a broker; when it ends (with entries or not), the clients waiting for it
/// are woken.
struct ProbeTurn<'a> {
    cache: &'a VersionsCache,
    broker: &'a str,
}

impl ProbeTurn<'_> {
    fn learned(self, entries: &ApiEntries) {
        if let Some(learned) = self.cache.lock().get_mut(self.broker) {
            learned.entries = Some((entries.clone(), Instant::now()));
        }
    }
}

impl Drop for ProbeTurn<'_> {
    fn drop(&mut self) {
        if let Some(learned) = self.cache.lock().get_mut(self.broker) {
            learned.probing = false;
        }
        self.cache.probed.notify_all();
    }
}

/// Asks the broker on `stream` for its ApiVersions (v0, which every broker answers), and
/// returns them capped to what the proxy decodes, with the SASL APIs set to what the proxy
/// itself serves.
pub fn probe_versions(
    stream: &mut Stream,
    timeout: Duration,
) -> Result<Vec<(i16, i16, i16)>, ConnError> {
    let deadline = Instant::now() + timeout;
    const CORRELATION_ID: i32 = 0x6b70;
    let mut request = Vec::new();
    header::encode_request_header(
        &header::RequestHeader {
            api_key: ApiKey::API_VERSIONS,
            api_version: 0,
            correlation_id: CORRELATION_ID,
            client_id: Some("kafka-proxy"),
        },
        &mut request,
    );
    write_frame(stream, &request, deadline, Side::Broker)?;
    let response = read_frame_from(
        stream,
        deadline,
        4,
        MAX_VERSIONS_RESPONSE,
        true,
        Side::Broker,
    )?;
    let malformed = |e| ConnError::Malformed(Side::Broker, ApiKey::API_VERSIONS, 0, e);
    let (correlation, body) = response.split_at(4);
    if correlation != CORRELATION_ID.to_be_bytes() {
        return Err(ConnError::CorrelationMismatch {
            expected: CORRELATION_ID,
            got: i32::from_be_bytes([
                correlation[0],
                correlation[1],
                correlation[2],
                correlation[3],
            ]),
            api_key: ApiKey::API_VERSIONS,
        });
    }
    let decoded = ApiVersionsResponse::decode(0, body).map_err(malformed)?;
    if decoded.error_code != 0 {
        return Err(ConnError::Refused(format!(
            "broker answered the proxy's ApiVersions request with error {}",
            decoded.error_code
        )));
    }
    let mut entries: Vec<(i16, i16, i16)> = decoded
        .api_keys
        .iter()
        .filter(|e| {
            e.api_key != ApiKey::SASL_HANDSHAKE.0 && e.api_key != ApiKey::SASL_AUTHENTICATE.0
        })
        .map(|e| {
            let cap = ApiKey(e.api_key).max_decoded_version().unwrap_or(i16::MAX);
            let max = if e.min_version <= cap {
                e.max_version.min(cap)
            } else {
                e.max_version
            };
            (e.api_key, e.min_version, max)
        })
        .collect();
    // The proxy answers these itself, in every version its codec has.
    entries.push((ApiKey::SASL_HANDSHAKE.0, 0, *sasl::HANDSHAKE_VERSIONS.end()));
    entries.push((
        ApiKey::SASL_AUTHENTICATE.0,
        0,
        *sasl::AUTHENTICATE_VERSIONS.end(),
    ));
    if let Some(api_versions) = entries.iter_mut().find(|e| e.0 == ApiKey::API_VERSIONS.0) {
        api_versions.2 = api_versions.2.min(MAX_API_VERSIONS_VERSION);
    } else {
        entries.push((ApiKey::API_VERSIONS.0, 0, MAX_API_VERSIONS_VERSION));
    }
    entries.sort_unstable();
    Ok(entries)
}

/// Reads one size-prefixed frame from a client within `deadline`.
pub(crate) fn read_frame(
    stream: &mut Stream,
    deadline: Instant,
    min: usize,
    max: usize,
    first: bool,
) -> Result<Vec<u8>, ConnError> {
    read_frame_from(stream, deadline, min, max, first, Side::Client).map_err(|e| match e {
        ConnError::FrameTooLarge(_, size, max) => ConnError::Refused(format!(
            "authentication refused: the client sent a frame of {size} bytes before \
             authenticating; at most {max} are accepted until then"
        )),
        other => other,
    })
}

fn read_frame_from(
    stream: &mut Stream,
    deadline: Instant,
    min: usize,
    max: usize,
    first: bool,
    side: Side,
) -> Result<Vec<u8>, ConnError> {
    let check = |prefix| check_size(side, prefix, min, max, first);
    deadline::read_frame(stream, &Deadline::at(deadline), &Armed, check).map_err(|e| match e {
        FrameError::Prefix(e) => handshake_read_error(e, side, true),
        FrameError::Size(e) => e,
        FrameError::Body(e) => handshake_read_error(e, side, false),
    })
}

/// Fills `buf` before `deadline`. `at_boundary`: a close before the first byte is a normal
/// close, not one in the middle of a frame.
pub(crate) fn read_exact_by(
    stream: &mut Stream,
    buf: &mut [u8],
    deadline: Instant,
    side: Side,
    at_boundary: bool,
) -> Result<(), ConnError> {
    read_exact_until(stream, buf, &Deadline::at(deadline), &Armed)
        .map_err(|e| handshake_read_error(e, side, at_boundary))
}

fn handshake_read_error(e: ReadError, side: Side, at_boundary: bool) -> ConnError {
    match e {
        ReadError::Closed { got: 0 } if at_boundary => ConnError::Closed(side),
        ReadError::Closed { .. } => ConnError::ClosedMidFrame(side),
        ReadError::TimedOut { .. } => {
            ConnError::Timeout(side, "during the authentication handshake")
        }
        ReadError::Io(e) => ConnError::Io(side, e),
    }
}

/// Writes `body` with its size prefix, in one write, before `deadline`.
pub(crate) fn write_frame(
    stream: &mut Stream,
    body: &[u8],
    deadline: Instant,
    side: Side,
) -> Result<(), ConnError> {
    let size = i32::try_from(body.len())
        .map_err(|_| ConnError::FrameTooLarge(side, body.len(), i32::MAX as usize))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&size.to_be_bytes());
    frame.extend_from_slice(body);
    write_all_by(stream, &frame, deadline, side)
}

/// Writes `bytes` before `deadline` to `side`, the peer on `stream`.
pub(crate) fn write_all_by(
    stream: &mut Stream,
    bytes: &[u8],
    deadline: Instant,
    side: Side,
) -> Result<(), ConnError> {
    write_all_until(stream, bytes, &Deadline::at(deadline), &Armed).map_err(|e| match e {
        ReadError::Closed { .. } => ConnError::ClosedMidFrame(side),
        ReadError::TimedOut { .. } => {
            ConnError::Timeout(side, "during the authentication handshake")
        }
        ReadError::Io(e) => ConnError::io(side, e, "during the authentication handshake"),
    })
}

#[cfg(test)]
mod tests;
