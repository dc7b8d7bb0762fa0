//! Local SASL: the proxy itself completes a client's SASL/PLAIN or SASL/OAUTHBEARER exchange
//! and checks the credentials with a plugin (`--auth-local-*`: a password plugin for PLAIN, a
//! token-info plugin for OAUTHBEARER), before any broker is dialed.
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
//!   OAUTHBEARER, as Kafka's broker: a token the plugin refuses is answered first with the
//!   error challenge `{"status":"invalid_token"}`, the client acknowledges it with `\x01`, and
//!   then gets error 58. An authorization identity in the client's message must be the
//!   token's principal.
//!
//! The SaslHandshake answer lists the enabled mechanisms. Anything else, a mechanism not in
//! `--auth-local-mechanisms`, a malformed message, or a plugin that fails in any way refuses
//! the client and closes the connection. Nothing the client
//! sent before success is forwarded. A password the plugin refuses delays the next check from the
//! client's address (`--auth-failure-delay`, see [`crate::auth::throttle`]).

use crate::auth::throttle::{FailureDelay, Throttled};
use crate::codec::api::ApiKey;
use crate::codec::api_versions::{self, UNSUPPORTED_VERSION};
use crate::codec::header;
use crate::codec::sasl::{self, SaslAuthenticateRequest, SaslAuthenticateResponse};
use crate::config::{HostPort, PluginAuthConfig};
use crate::net::deadline::{
    self, read_exact_until, write_all_until, Armed, Deadline, FrameError, ReadError,
};
use crate::net::frame::{check_size, ConnError, Side};
use crate::net::source_of;
use crate::net::stream::Stream;
use crate::plugin::{Plugin, PluginSpec, Reply};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod mechanism;
mod versions;
use crate::auth::oauthbearer::server::{ERROR_ACK, INVALID_TOKEN};
pub use mechanism::{LoginCounts, Mechanism, LOGINS};
pub use versions::{probe_versions, VersionsCache};

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
/// What a client is told when its OAUTHBEARER token is refused.
const BAD_TOKEN: &str = "Authentication failed: invalid token";
/// What a client is told when the plugin could not give an answer.
const PLUGIN_DOWN: &str = "Authentication failed: the proxy could not check the credentials";
/// What a client is told when failures from its address put its check past its deadline.
const THROTTLED: &str =
    "Authentication failed: too many failed attempts from this address; try again later";

/// `(api_key, min_version, max_version)` for each API.
type ApiEntries = Vec<(i16, i16, i16)>;

/// The settings and the plugins of `--auth-local-*`.
pub struct LocalAuth {
    plugin: Plugin,
    /// `--auth-local-token-command`: checks OAUTHBEARER tokens instead of `plugin`.
    token_plugin: Option<Plugin>,
    mechanisms: Vec<Mechanism>,
    versions: VersionsCache,
}

/// How local SASL reaches a broker whose API versions are not cached: `dial` opens a connection
/// within the time it is given, `read_timeout` bounds waiting for the answer. Both are cut to
/// what is left of the client's handshake.
pub struct Probe<'a> {
    pub dial: &'a dyn Fn(Duration) -> Result<Stream, ConnError>,
    pub read_timeout: Duration,
    /// Whether a principal the plugin accepted may go on (it has upstream credentials, with
    /// `--sasl-credentials-*`); `Err` says why not, and the client's login fails with it.
    pub admit: &'a dyn Fn(&str) -> Result<(), String>,
}

/// A client the plugin accepted is still refused when its principal may not go on ([`Probe`]'s
/// `admit`): it learns so from its SASL answer rather than from a closed connection.
fn admitted(verdict: Verdict, probe: &Probe<'_>) -> Verdict {
    match verdict {
        Verdict::Accepted(principal) => match (probe.admit)(&principal) {
            Ok(()) => Verdict::Accepted(principal),
            Err(why) => Verdict::Refused(why),
        },
        other => other,
    }
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
    /// The client's message is not what its mechanism prescribes.
    Malformed(String),
    /// The plugin gave no answer (crashed, hung, garbage): fail closed.
    Unavailable(String),
    /// Not checked: failures from the client's address put its turn past its deadline.
    Throttled(String),
}

impl Verdict {
    /// The SaslAuthenticate error code and message for the client.
    fn answer(&self, mechanism: Mechanism) -> (i16, Option<&'static str>) {
        let refused = match mechanism {
            Mechanism::Plain => BAD_CREDENTIALS,
            Mechanism::OAuthBearer => BAD_TOKEN,
        };
        match self {
            Verdict::Accepted(_) => (0, None),
            Verdict::Refused(_) | Verdict::Malformed(_) => {
                (SASL_AUTHENTICATION_FAILED, Some(refused))
            }
            Verdict::Unavailable(_) => (SASL_AUTHENTICATION_FAILED, Some(PLUGIN_DOWN)),
            Verdict::Throttled(_) => (SASL_AUTHENTICATION_FAILED, Some(THROTTLED)),
        }
    }

    fn into_result(self) -> Result<String, ConnError> {
        match self {
            Verdict::Accepted(identity) => Ok(identity),
            Verdict::Refused(why)
            | Verdict::Malformed(why)
            | Verdict::Unavailable(why)
            | Verdict::Throttled(why) => Err(ConnError::Refused(why)),
        }
    }
}

/// `--auth-local-mechanisms` as mechanisms; `Err` names one this build does not serve.
fn mechanisms_of(config: &PluginAuthConfig) -> io::Result<Vec<Mechanism>> {
    config
        .mechanisms
        .iter()
        .map(|name| {
            Mechanism::from_name(name.trim()).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "--auth-local-mechanisms {name:?} is not supported (PLAIN and \
                         OAUTHBEARER are)"
                    ),
                )
            })
        })
        .collect()
}

impl LocalAuth {
    /// Starts the plugins. Fails (a startup error) when a mechanism is not supported or a
    /// plugin cannot be started.
    pub fn start(config: &PluginAuthConfig) -> io::Result<LocalAuth> {
        let mechanisms = mechanisms_of(config)?;
        let start = |role: &str, command: &str, params: &[String]| {
            let spec =
                PluginSpec::resolve(role, command, params, config.log_level, config.timeout)?;
            Plugin::start(spec)
        };
        let token_plugin =
            if mechanisms.contains(&Mechanism::OAuthBearer) && !config.token_command.is_empty() {
                Some(start(
                    "auth-local-token",
                    &config.token_command,
                    &config.token_params,
                )?)
            } else {
                None
            };
        Ok(LocalAuth {
            plugin: start("auth-local", &config.command, &config.params)?,
            token_plugin,
            mechanisms,
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
        let mut chosen = None;
        let result = self.exchange(client, broker, &attempt, probe, &mut chosen);
        match &result {
            Ok(identity) => {
                LOGINS.count(chosen, true);
                log::info!(
                    "client {peer} authenticated as \"{}\" ({})",
                    crate::logging::peer_text(identity),
                    chosen.map_or("?", Mechanism::name)
                );
            }
            // A client that left without trying is not a failed authentication.
            Err(ConnError::Closed(_)) => {}
            Err(_) => LOGINS.count(chosen, false),
        }
        result
    }

    /// The names of the enabled mechanisms, for the handshake and messages.
    fn mechanism_names(&self) -> Vec<&'static str> {
        self.mechanisms.iter().map(|m| m.name()).collect()
    }

    fn exchange(
        &self,
        client: &mut Stream,
        broker: &HostPort,
        attempt: &Attempt<'_>,
        probe: &Probe<'_>,
        chosen: &mut Option<Mechanism>,
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
                    let asked = sasl::handshake_request_mechanism(body).map_err(malformed)?;
                    let mechanism =
                        Mechanism::from_name(asked).filter(|m| self.mechanisms.contains(m));
                    let response = sasl::SaslHandshakeResponse {
                        error_code: if mechanism.is_some() {
                            0
                        } else {
                            UNSUPPORTED_SASL_MECHANISM
                        },
                        mechanisms: self.mechanism_names(),
                    };
                    header::encode_response_header(api_key, version, correlation_id, &mut out);
                    response.encode(version, &mut out);
                    write_frame(client, &out, deadline, Side::Client)?;
                    let Some(mechanism) = mechanism else {
                        return Err(ConnError::Refused(format!(
                            "local authentication refused: the client asked for SASL mechanism \
                             \"{}\"; only {} enabled (--auth-local-mechanisms)",
                            crate::logging::peer_text(asked),
                            self.mechanism_names().join(" and ")
                        )));
                    };
                    *chosen = Some(mechanism);
                    if version == 0 {
                        // Legacy flow: one raw token, answered by an empty token or a close.
                        let token =
                            read_frame(client, deadline, 0, MAX_UNAUTHENTICATED_FRAME, false)?;
                        let verdict = admitted(self.check(mechanism, &token, attempt), probe);
                        if matches!(verdict, Verdict::Accepted(_)) {
                            write_frame(client, &[], deadline, Side::Client)?;
                        }
                        return verdict.into_result();
                    }
                    handshaken_v1 = true;
                }
                ApiKey::SASL_AUTHENTICATE
                    if handshaken_v1 && sasl::AUTHENTICATE_VERSIONS.contains(&version) =>
                {
                    let request =
                        SaslAuthenticateRequest::decode(version, body).map_err(malformed)?;
                    let mechanism = chosen.unwrap_or(Mechanism::Plain);
                    let verdict =
                        admitted(self.check(mechanism, request.auth_bytes, attempt), probe);
                    let mut answer = Answer::to(api_key, version, correlation_id);
                    if mechanism == Mechanism::OAuthBearer && matches!(verdict, Verdict::Refused(_))
                    {
                        let ack = answer.challenge(client, deadline, INVALID_TOKEN)?;
                        if ack != ERROR_ACK {
                            return Err(ConnError::Refused(
                                "local authentication refused: the client did not acknowledge \
                                 the OAUTHBEARER error challenge with \\x01"
                                    .into(),
                            ));
                        }
                    }
                    let (error_code, message) = verdict.answer(mechanism);
                    answer.send(client, deadline, error_code, message, &[])?;
                    return verdict.into_result();
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

    /// Checks a client's SASL message with the plugin, once failures from the client's
    /// address allow it (waiting outside the plugin's queue). A refusal by the plugin counts as
    /// a failure.
    fn check(&self, mechanism: Mechanism, message: &[u8], attempt: &Attempt<'_>) -> Verdict {
        let claim = match mechanism::claim(mechanism, message) {
            Ok(c) => c,
            Err(e) => return Verdict::Malformed(format!("local authentication refused: {e}")),
        };
        let who = &claim.who;
        let peer = attempt.peer.ip();
        match attempt.failures.wait_turn(peer, attempt.deadline) {
            Ok(()) => {}
            Err(Throttled::TooSoon(wait)) => {
                return Verdict::Throttled(format!(
                    "local authentication refused: {who}: after failed \
                     authentications from {}, its next check is {wait:.1?} away, past the \
                     handshake deadline; refused without a check (--auth-failure-delay)",
                    source_of(peer)
                ))
            }
            Err(Throttled::Stopping) => {
                return Verdict::Unavailable(format!(
                    "local authentication refused: {who}: the proxy is shutting down"
                ))
            }
        }
        let (plugin, role) = match (mechanism, &self.token_plugin) {
            (Mechanism::OAuthBearer, Some(token_plugin)) => (token_plugin, "auth-local-token"),
            _ => (&self.plugin, "auth-local"),
        };
        let refused = |why: String| {
            attempt.failures.failed(peer);
            Verdict::Refused(format!("local authentication refused: {who}: {why}"))
        };
        match plugin.call(&claim.request) {
            Ok(Reply {
                ok: true, identity, ..
            }) => match identity.or(claim.identity) {
                None => Verdict::Unavailable(format!(
                    "local authentication refused: {who}: plugin {role} accepted it without \
                     naming the principal (identity)"
                )),
                Some(id) if claim.authzid.as_ref().is_some_and(|a| *a != id) => refused(format!(
                    "the authorization identity \"{}\" is not the token's principal \"{}\"",
                    crate::logging::peer_text(claim.authzid.as_deref().unwrap_or_default()),
                    crate::logging::peer_text(&id)
                )),
                Some(id) => Verdict::Accepted(id),
            },
            Ok(reply) => refused(reply.reason_or("invalid credentials")),
            Err(e) => Verdict::Unavailable(format!(
                "local authentication refused: {who} could not be checked: plugin {role}: {e}"
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

/// The SaslAuthenticate response to one request of the client.
struct Answer {
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
}

impl Answer {
    fn to(api_key: ApiKey, version: i16, correlation_id: i32) -> Answer {
        Answer {
            api_key,
            version,
            correlation_id,
        }
    }

    fn send(
        &self,
        client: &mut Stream,
        deadline: Instant,
        error_code: i16,
        error_message: Option<&str>,
        auth_bytes: &[u8],
    ) -> Result<(), ConnError> {
        let mut out = Vec::new();
        header::encode_response_header(self.api_key, self.version, self.correlation_id, &mut out);
        SaslAuthenticateResponse {
            error_code,
            error_message,
            auth_bytes,
            // No re-authentication: the broker connection outlives this check.
            session_lifetime_ms: 0,
            tagged: &[],
        }
        .encode(self.version, &mut out);
        write_frame(client, &out, deadline, Side::Client)
    }

    /// Sends `challenge` and returns the client's answer: the bytes of its next
    /// SaslAuthenticate request (of the same version), whose response is the caller's.
    fn challenge(
        &mut self,
        client: &mut Stream,
        deadline: Instant,
        challenge: &[u8],
    ) -> Result<Vec<u8>, ConnError> {
        self.send(client, deadline, 0, None, challenge)?;
        let frame = read_frame(client, deadline, 8, MAX_UNAUTHENTICATED_FRAME, false)?;
        let (head, body_offset) = header::parse_request_header(&frame)
            .map_err(|e| ConnError::Malformed(Side::Client, ApiKey(-1), -1, e))?;
        if head.api_key != ApiKey::SASL_AUTHENTICATE || head.api_version != self.version {
            return Err(ConnError::Refused(format!(
                "local authentication refused: the client sent {} v{} after an OAUTHBEARER \
                 error challenge (expected SaslAuthenticate v{})",
                head.api_key, head.api_version, self.version
            )));
        }
        self.correlation_id = head.correlation_id;
        let body = body_offset.and_then(|o| frame.get(o..)).unwrap_or(&[]);
        let request = SaslAuthenticateRequest::decode(self.version, body)
            .map_err(|e| ConnError::Malformed(Side::Client, head.api_key, self.version, e))?;
        Ok(request.auth_bytes.to_vec())
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
