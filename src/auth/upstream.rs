//! Upstream SASL: the proxy logs in to each broker connection it opens, before any client
//! request is forwarded, and keeps that login alive (KIP-368 re-authentication).
//!
//! The login: ApiVersions v0 (every broker answers it) tells which SaslHandshake and
//! SaslAuthenticate versions the broker has; then SaslHandshake v1 names the mechanism and
//! SaslAuthenticate (the highest version both sides support, at most 2) carries the tokens. A
//! broker without SaslAuthenticate gets the legacy flow: SaslHandshake v0, then bare
//! size-prefixed tokens. Mechanisms: PLAIN (`\0user\0password`) and SCRAM-SHA-256/512
//! ([`super::scram`], server signature verified).
//!
//! Re-authentication runs over a connection the pumps already own, so the exchange is written
//! against [`BrokerExchange`] (one request, its response body): [`login`] implements it on the
//! whole stream, the request pump on its write half with the response pump handing answers
//! back.
//!
//! Also here: the answers the proxy gives a client's own SaslHandshake and SaslAuthenticate
//! while it logs in to brokers itself ([`answer_client_sasl`]).
//!
//! Never logged, at any level: the password, PLAIN tokens, SCRAM proofs.

use super::scram::{ScramClient, ScramError, ScramHash, ServerMessage};
use crate::codec::api::ApiKey;
use crate::codec::api_versions::ApiVersionsResponse;
use crate::codec::header::{self, RequestHeader};
use crate::codec::sasl::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
    AUTHENTICATE_VERSIONS,
};
use crate::codec::CodecError;
use crate::config::{SaslConfig, SaslMethod};
use crate::net::deadline::{
    read_frame, size_within, write_all_until, Armed, Deadline, FrameError, ReadError,
};
use crate::net::stream::Stream;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

/// The largest broker frame accepted during a login: an ApiVersions response is a few KiB, SASL
/// messages far less. Limits the allocation a broker controls before it is authenticated.
pub const MAX_LOGIN_FRAME: usize = 1 << 20;
/// Kafka error codes a login can meet.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;
const UNSUPPORTED_VERSION: i16 = 35;
const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// Re-authenticate once this share of the session lifetime has passed (Java clients pick
/// 85-95%): early enough that a slow exchange still finishes in time.
const REAUTH_AT_PERCENT: u32 = 85;
/// An idle pump wakes this many times per session lifetime, so it re-authenticates between
/// 85% and 90% of the lifetime even when the client sends nothing.
const WAKES_PER_LIFETIME: u32 = 20;
/// Waking more often than this gains nothing.
const MIN_WAKE_INTERVAL: Duration = Duration::from_millis(10);

/// A broker connection's SASL login: what re-authenticating it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub mechanism: &'static str,
    /// The SaslAuthenticate version in use; `None` in the legacy (SaslHandshake v0) flow.
    pub authenticate_version: Option<i16>,
    /// The session lifetime the broker granted (KIP-368); `None` when it does not expire.
    pub lifetime: Option<Duration>,
    /// When the login that granted `lifetime` finished.
    pub authenticated_at: Instant,
}

impl Session {
    /// When to re-authenticate, for a pump that checks at least every `wake`: at 85% of the
    /// lifetime, or earlier when the lifetime is short next to `wake` (a later login may grant
    /// a shorter lifetime than the one `wake` was computed from). `None` when the session does
    /// not expire.
    pub fn reauthenticate_at(&self, wake: Duration) -> Option<Instant> {
        let lifetime = self.lifetime?;
        let after = (lifetime * REAUTH_AT_PERCENT / 100).min(lifetime.saturating_sub(wake * 2));
        Some(self.authenticated_at + after)
    }

    /// How long an idle pump may sleep and still re-authenticate before the session expires
    /// (the first wake after [`Session::reauthenticate_at`] comes before 90% of the lifetime).
    pub fn wake_interval(&self) -> Option<Duration> {
        let lifetime = self.lifetime?;
        Some((lifetime / WAKES_PER_LIFETIME).max(MIN_WAKE_INTERVAL))
    }
}

/// Why a login or re-authentication failed. Each variant reads as a sentence in the log, and
/// none carries a password, token or proof.
#[derive(Debug)]
pub enum LoginError {
    /// A socket operation failed; the text says during what.
    Io(&'static str, io::Error),
    /// The broker did not answer in time.
    Timeout(&'static str),
    /// The broker closed the connection; the text says during what.
    Closed(&'static str),
    /// The broker closed the connection right after the proxy sent its credentials: what
    /// brokers do on a wrong password when they have no error response to send.
    ClosedAfterCredentials {
        mechanism: &'static str,
        hint: String,
    },
    /// The broker sent a frame size that is negative, too small, or above the login cap.
    BadFrameSize(i64),
    /// The broker answered with another correlation id than the request's.
    CorrelationMismatch { expected: i32, got: i32 },
    /// A broker response could not be decoded.
    Malformed(ApiKey, i16, CodecError),
    /// ApiVersions answered with an error code.
    ApiVersions(i16),
    /// The broker's ApiVersions lists no SaslHandshake.
    NoSasl,
    /// The broker's SaslHandshake or SaslAuthenticate versions do not meet the proxy's.
    NoCommonVersion(ApiKey, i16, i16),
    /// The broker closed the connection instead of answering SaslHandshake: what some brokers
    /// (tansu) do for a mechanism they do not know.
    ClosedAtHandshake(&'static str),
    /// The broker does not enable the configured mechanism.
    MechanismNotOffered {
        wanted: &'static str,
        offered: Vec<String>,
    },
    /// SaslHandshake refused a mechanism the same response lists as enabled: what a broker
    /// without KIP-368 re-authentication (tansu 0.6) answers a second SaslHandshake.
    MechanismRefusedThoughOffered(&'static str),
    /// SaslHandshake failed with another error code.
    Handshake(i16),
    /// SaslAuthenticate failed: wrong username or password, most likely.
    Rejected {
        mechanism: &'static str,
        code: i16,
        message: Option<String>,
        hint: String,
    },
    /// The SCRAM exchange failed (malformed server message, wrong server signature, ...).
    Scram(ScramError),
    /// The broker refused the SCRAM proof in its server-final message (`e=...`): a wrong
    /// password, most likely.
    ScramRefused {
        mechanism: &'static str,
        text: String,
        hint: String,
    },
    /// The credentials cannot be sent with this mechanism.
    BadCredentials(&'static str),
    /// The session came from the legacy flow, which cannot re-authenticate.
    CannotReauthenticate,
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::Io(doing, e) => write!(f, "broker connection failed {doing}: {e}"),
            LoginError::Timeout(doing) => write!(
                f,
                "broker timed out {doing} (--handshake-timeout bounds the whole login)"
            ),
            LoginError::Closed(doing) => write!(f, "broker closed the connection {doing}"),
            LoginError::ClosedAfterCredentials { mechanism, hint } => write!(
                f,
                "broker closed the connection after receiving the {mechanism} credentials, as \
                 brokers do when the username or password is wrong: {hint}"
            ),
            LoginError::BadFrameSize(size) => write!(
                f,
                "broker sent a frame of size {size} during the login (at most \
                 {MAX_LOGIN_FRAME} bytes accepted): this peer is not a Kafka broker"
            ),
            LoginError::CorrelationMismatch { expected, got } => write!(
                f,
                "broker answered with correlation id {got} where {expected} was expected"
            ),
            LoginError::Malformed(api_key, version, e) => {
                write!(
                    f,
                    "broker sent a malformed {api_key} v{version} response: {e}"
                )
            }
            LoginError::ApiVersions(code) => write!(
                f,
                "broker answered ApiVersions with error {}",
                error_name(*code)
            ),
            LoginError::NoSasl => f.write_str(
                "broker does not support SASL (its ApiVersions lists no SaslHandshake): it \
                 does not expect --sasl-enable on this listener",
            ),
            LoginError::NoCommonVersion(api_key, min, max) => write!(
                f,
                "broker supports {api_key} versions {min}..={max} only, none of which the \
                 proxy speaks"
            ),
            LoginError::ClosedAtHandshake(mechanism) => write!(
                f,
                "broker closed the connection instead of answering SaslHandshake for \
                 {mechanism}: it probably does not enable that mechanism (--sasl-method)"
            ),
            LoginError::MechanismNotOffered { wanted, offered } => {
                write!(
                    f,
                    "broker does not enable SASL mechanism {wanted} (--sasl-method); "
                )?;
                if offered.is_empty() {
                    f.write_str("it lists no mechanism")
                } else {
                    write!(f, "it offers {}", offered.join(", "))
                }
            }
            LoginError::MechanismRefusedThoughOffered(mechanism) => write!(
                f,
                "broker answered SaslHandshake with {} although it lists {mechanism} as \
                 enabled, as brokers that cannot re-authenticate a session (KIP-368) do",
                error_name(UNSUPPORTED_SASL_MECHANISM)
            ),
            LoginError::Handshake(code) => write!(
                f,
                "broker answered SaslHandshake with error {}",
                error_name(*code)
            ),
            LoginError::Rejected {
                mechanism,
                code,
                message,
                hint,
            } => {
                write!(
                    f,
                    "broker rejected the {mechanism} login with error {}",
                    error_name(*code)
                )?;
                if let Some(message) = message {
                    write!(f, " ({message})")?;
                }
                write!(f, ": {hint}")
            }
            LoginError::Scram(e) => e.fmt(f),
            LoginError::ScramRefused {
                mechanism,
                text,
                hint,
            } => write!(
                f,
                "broker refused the {mechanism} login (its server-final message says \"{text}\"): \
                 {hint}"
            ),
            LoginError::BadCredentials(why) => f.write_str(why),
            LoginError::CannotReauthenticate => f.write_str(
                "the session was opened with the legacy SaslHandshake v0 flow, which cannot \
                 re-authenticate",
            ),
        }
    }
}

impl std::error::Error for LoginError {}

impl From<ScramError> for LoginError {
    fn from(e: ScramError) -> Self {
        LoginError::Scram(e)
    }
}

/// A Kafka error code with its name, for the codes a login meets.
fn error_name(code: i16) -> String {
    let name = match code {
        UNSUPPORTED_SASL_MECHANISM => "UNSUPPORTED_SASL_MECHANISM",
        ILLEGAL_SASL_STATE => "ILLEGAL_SASL_STATE",
        UNSUPPORTED_VERSION => "UNSUPPORTED_VERSION",
        SASL_AUTHENTICATION_FAILED => "SASL_AUTHENTICATION_FAILED",
        _ => return code.to_string(),
    };
    format!("{code} {name}")
}

/// Where the credentials come from, for error messages that tell the operator what to fix.
fn credentials_hint(config: &SaslConfig) -> String {
    match &config.jaas_config_file {
        Some(path) => format!(
            "check the username and password in {} (--sasl-jaas-config-file)",
            path.display()
        ),
        None => format!(
            "check --sasl-username ({:?}) and --sasl-password (or SASL_PASSWORD)",
            config.username
        ),
    }
}

/// One request and its response over a broker connection.
pub trait BrokerExchange {
    /// Sends `body` as a request of `api_key` at `api_version` and returns the body of the
    /// response (after its header, correlation id checked).
    fn round_trip(
        &mut self,
        api_key: ApiKey,
        api_version: i16,
        body: &[u8],
    ) -> Result<Vec<u8>, LoginError>;
}

/// Appends a whole request frame (size prefix, header, body) to `out`.
pub fn encode_request(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    header::encode_request_header(
        &RequestHeader {
            api_key,
            api_version,
            correlation_id,
            client_id: Some(client_id),
        },
        out,
    );
    out.extend_from_slice(body);
    // Login requests are a few hundred bytes: the size always fits.
    let size = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// The client side of one mechanism's token exchange.
enum Mechanism {
    /// `\0user\0password`, sent once; the broker answers with an empty token.
    Plain {
        token: Vec<u8>,
    },
    Scram(Box<ScramClient>),
}

impl Mechanism {
    fn new(config: &SaslConfig) -> Result<Self, LoginError> {
        let username = config.username.as_str();
        let password = config.password.expose();
        Ok(match config.method {
            SaslMethod::Plain => {
                if username.contains('\0') || password.contains('\0') {
                    return Err(LoginError::BadCredentials(
                        "a PLAIN username or password cannot contain a NUL character",
                    ));
                }
                let mut token = Vec::with_capacity(2 + username.len() + password.len());
                token.push(0);
                token.extend_from_slice(username.as_bytes());
                token.push(0);
                token.extend_from_slice(password.as_bytes());
                Mechanism::Plain { token }
            }
            SaslMethod::ScramSha256 => Mechanism::Scram(Box::new(ScramClient::new(
                ScramHash::Sha256,
                username,
                password,
            )?)),
            SaslMethod::ScramSha512 => Mechanism::Scram(Box::new(ScramClient::new(
                ScramHash::Sha512,
                username,
                password,
            )?)),
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Mechanism::Plain { .. } => "PLAIN",
            Mechanism::Scram(scram) => scram.mechanism(),
        }
    }

    fn first_token(&mut self) -> Result<Vec<u8>, LoginError> {
        match self {
            Mechanism::Plain { token } => Ok(std::mem::take(token)),
            Mechanism::Scram(scram) => Ok(scram.client_first()?),
        }
    }

    /// Takes the broker's answer to the last token: the next token, or `None` when the
    /// exchange is complete (for SCRAM: the server signature verified).
    fn next_token(&mut self, server_token: &[u8]) -> Result<Option<Vec<u8>>, LoginError> {
        match self {
            // The broker's answer to PLAIN is empty; success is its error code (or, in the
            // legacy flow, that it answered at all).
            Mechanism::Plain { .. } => Ok(None),
            Mechanism::Scram(scram) => Ok(scram.respond(server_token)?),
        }
    }
}

/// Logs in on a freshly connected broker stream. The whole login must finish within
/// `timeout`; broker frames above `max_frame` (and [`MAX_LOGIN_FRAME`]) are refused.
pub fn login(
    stream: &mut Stream,
    config: &SaslConfig,
    client_id: &str,
    timeout: Duration,
    max_frame: usize,
) -> Result<Session, LoginError> {
    let mut conn = StreamExchange {
        stream,
        deadline: Deadline::after(timeout),
        correlation_id: 0,
        client_id,
        max_frame: max_frame.min(MAX_LOGIN_FRAME),
        out: Vec::new(),
    };
    let body = conn.round_trip(ApiKey::API_VERSIONS, 0, &[])?;
    let versions = ApiVersionsResponse::decode(0, &body)
        .map_err(|e| LoginError::Malformed(ApiKey::API_VERSIONS, 0, e))?;
    if versions.error_code != 0 {
        return Err(LoginError::ApiVersions(versions.error_code));
    }
    let range = |key: ApiKey| {
        versions
            .api_keys
            .iter()
            .find(|e| e.api_key == key.0)
            .map(|e| (e.min_version, e.max_version))
    };
    let handshake = range(ApiKey::SASL_HANDSHAKE).ok_or(LoginError::NoSasl)?;
    let authenticate = range(ApiKey::SASL_AUTHENTICATE);
    let mut mechanism = Mechanism::new(config)?;
    let hint = credentials_hint(config);

    match authenticate {
        Some(range) if handshake.1 >= 1 => {
            let version = pick_version(ApiKey::SASL_AUTHENTICATE, range, AUTHENTICATE_VERSIONS)?;
            pick_version(ApiKey::SASL_HANDSHAKE, handshake, 1..=1)?;
            authenticate_framed(&mut conn, &mut mechanism, version, &hint)
        }
        _ => {
            pick_version(ApiKey::SASL_HANDSHAKE, handshake, 0..=0)?;
            handshake_request(&mut conn, &mechanism, 0)?;
            authenticate_legacy(&mut conn, &mut mechanism, &hint)
        }
    }
}

/// Re-authenticates an established session (KIP-368): SaslHandshake v1 and SaslAuthenticate
/// again, at the version the login used, over `exchange`.
pub fn reauthenticate(
    exchange: &mut impl BrokerExchange,
    config: &SaslConfig,
    session: &Session,
) -> Result<Session, LoginError> {
    let version = session
        .authenticate_version
        .ok_or(LoginError::CannotReauthenticate)?;
    let mut mechanism = Mechanism::new(config)?;
    authenticate_framed(exchange, &mut mechanism, version, &credentials_hint(config))
}

/// The highest version in both the broker's `(min, max)` and `ours`.
fn pick_version(
    api_key: ApiKey,
    (min, max): (i16, i16),
    ours: std::ops::RangeInclusive<i16>,
) -> Result<i16, LoginError> {
    let version = max.min(*ours.end());
    if version < min || version < *ours.start() {
        return Err(LoginError::NoCommonVersion(api_key, min, max));
    }
    Ok(version)
}

fn handshake_request(
    exchange: &mut impl BrokerExchange,
    mechanism: &Mechanism,
    version: i16,
) -> Result<(), LoginError> {
    let mut body = Vec::new();
    SaslHandshakeRequest {
        mechanism: mechanism.name(),
    }
    .encode(version, &mut body);
    let body = match exchange.round_trip(ApiKey::SASL_HANDSHAKE, version, &body) {
        Err(LoginError::Closed(_)) => return Err(LoginError::ClosedAtHandshake(mechanism.name())),
        other => other?,
    };
    let response = SaslHandshakeResponse::decode(version, &body)
        .map_err(|e| LoginError::Malformed(ApiKey::SASL_HANDSHAKE, version, e))?;
    match response.error_code {
        0 => Ok(()),
        UNSUPPORTED_SASL_MECHANISM if response.mechanisms.contains(&mechanism.name()) => {
            Err(LoginError::MechanismRefusedThoughOffered(mechanism.name()))
        }
        UNSUPPORTED_SASL_MECHANISM => Err(LoginError::MechanismNotOffered {
            wanted: mechanism.name(),
            offered: response
                .mechanisms
                .iter()
                .map(|m| crate::logging::peer_text(m))
                .take(32)
                .collect(),
        }),
        code => Err(LoginError::Handshake(code)),
    }
}

/// SaslHandshake v1, then SaslAuthenticate rounds until the mechanism is done.
fn authenticate_framed(
    exchange: &mut impl BrokerExchange,
    mechanism: &mut Mechanism,
    version: i16,
    hint: &str,
) -> Result<Session, LoginError> {
    handshake_request(exchange, mechanism, 1)?;
    let mut token = mechanism.first_token()?;
    let mut body = Vec::new();
    loop {
        body.clear();
        SaslAuthenticateRequest {
            auth_bytes: &token,
            tagged: &[],
        }
        .encode(version, &mut body);
        let reply = match exchange.round_trip(ApiKey::SASL_AUTHENTICATE, version, &body) {
            Err(LoginError::Closed(_)) => {
                return Err(LoginError::ClosedAfterCredentials {
                    mechanism: mechanism.name(),
                    hint: hint.to_string(),
                })
            }
            other => other?,
        };
        let response = SaslAuthenticateResponse::decode(version, &reply)
            .map_err(|e| LoginError::Malformed(ApiKey::SASL_AUTHENTICATE, version, e))?;
        if response.error_code != 0 {
            return Err(LoginError::Rejected {
                mechanism: mechanism.name(),
                code: response.error_code,
                message: response.error_message.map(crate::logging::peer_text),
                hint: hint.to_string(),
            });
        }
        match refused_with_hint(mechanism.next_token(response.auth_bytes), mechanism, hint)? {
            Some(next) => token = next,
            None => {
                let lifetime = u64::try_from(response.session_lifetime_ms)
                    .ok()
                    .filter(|&ms| ms > 0)
                    .map(Duration::from_millis);
                return Ok(Session {
                    mechanism: mechanism.name(),
                    authenticate_version: Some(version),
                    lifetime,
                    authenticated_at: Instant::now(),
                });
            }
        }
    }
}

/// A SCRAM server-final `e=...` is the broker refusing the credentials: say which to check.
fn refused_with_hint(
    step: Result<Option<Vec<u8>>, LoginError>,
    mechanism: &Mechanism,
    hint: &str,
) -> Result<Option<Vec<u8>>, LoginError> {
    step.map_err(|e| match e {
        LoginError::Scram(ScramError::ServerError(ServerMessage::Final, text)) => {
            LoginError::ScramRefused {
                mechanism: mechanism.name(),
                text,
                hint: hint.to_string(),
            }
        }
        other => other,
    })
}

/// After a successful SaslHandshake v0: bare size-prefixed tokens each way.
fn authenticate_legacy(
    conn: &mut StreamExchange<'_>,
    mechanism: &mut Mechanism,
    hint: &str,
) -> Result<Session, LoginError> {
    let mut token = mechanism.first_token()?;
    loop {
        let mut frame = Vec::with_capacity(4 + token.len());
        frame.extend_from_slice(&u32::try_from(token.len()).unwrap_or(u32::MAX).to_be_bytes());
        frame.extend_from_slice(&token);
        conn.write(&frame, "sending a SASL token")?;
        let reply = match conn.read_frame(0, "waiting for the broker's SASL token") {
            Err(LoginError::Closed(_)) => {
                return Err(LoginError::ClosedAfterCredentials {
                    mechanism: mechanism.name(),
                    hint: hint.to_string(),
                })
            }
            other => other?,
        };
        match refused_with_hint(mechanism.next_token(&reply), mechanism, hint)? {
            Some(next) => token = next,
            None => {
                return Ok(Session {
                    mechanism: mechanism.name(),
                    authenticate_version: None,
                    lifetime: None,
                    authenticated_at: Instant::now(),
                })
            }
        }
    }
}

/// [`BrokerExchange`] on a whole stream, before the pumps take it over; every read and write
/// bounded by one deadline.
struct StreamExchange<'a> {
    stream: &'a mut Stream,
    deadline: Deadline,
    correlation_id: i32,
    client_id: &'a str,
    max_frame: usize,
    out: Vec<u8>,
}

impl StreamExchange<'_> {
    fn error(e: ReadError, doing: &'static str) -> LoginError {
        match e {
            ReadError::Closed { .. } => LoginError::Closed(doing),
            ReadError::TimedOut { .. } => LoginError::Timeout(doing),
            ReadError::Io(e) => match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => LoginError::Timeout(doing),
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => LoginError::Closed(doing),
                _ => LoginError::Io(doing, e),
            },
        }
    }

    fn write(&mut self, bytes: &[u8], doing: &'static str) -> Result<(), LoginError> {
        write_all_until(self.stream, bytes, &self.deadline, &Armed)
            .map_err(|e| Self::error(e, doing))
    }

    /// Reads one size-prefixed frame of at least `min` bytes.
    fn read_frame(&mut self, min: usize, doing: &'static str) -> Result<Vec<u8>, LoginError> {
        let size = size_within(min, self.max_frame);
        read_frame(self.stream, &self.deadline, &Armed, size).map_err(|e| match e {
            FrameError::Prefix(e) | FrameError::Body(e) => Self::error(e, doing),
            FrameError::Size(size) => LoginError::BadFrameSize(i64::from(size)),
        })
    }
}

impl BrokerExchange for StreamExchange<'_> {
    fn round_trip(
        &mut self,
        api_key: ApiKey,
        api_version: i16,
        body: &[u8],
    ) -> Result<Vec<u8>, LoginError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        encode_request(
            api_key,
            api_version,
            correlation_id,
            self.client_id,
            body,
            &mut out,
        );
        let (sending, waiting) = doing(api_key);
        let written = self.write(&out, sending);
        self.out = out;
        written?;
        let frame = self.read_frame(4, waiting)?;
        response_body(api_key, api_version, correlation_id, frame)
    }
}

/// What a request's I/O is doing, for errors: sending it, waiting for its response.
fn doing(api_key: ApiKey) -> (&'static str, &'static str) {
    match api_key {
        ApiKey::API_VERSIONS => (
            "sending ApiVersions",
            "waiting for the ApiVersions response",
        ),
        ApiKey::SASL_HANDSHAKE => (
            "sending SaslHandshake",
            "waiting for the SaslHandshake response",
        ),
        _ => (
            "sending SaslAuthenticate",
            "waiting for the SaslAuthenticate response",
        ),
    }
}

/// The body of a response frame (after the size prefix), its correlation id checked.
pub fn response_body(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    mut frame: Vec<u8>,
) -> Result<Vec<u8>, LoginError> {
    let offset = header::response_body_offset(api_key, api_version, &frame)
        .map_err(|e| LoginError::Malformed(api_key, api_version, e))?;
    let got = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    if got != correlation_id {
        return Err(LoginError::CorrelationMismatch {
            expected: correlation_id,
            got,
        });
    }
    frame.drain(..offset);
    Ok(frame)
}

/// What the proxy does with a client's own SaslHandshake or SaslAuthenticate while it logs in to
/// brokers itself (`--sasl-enable`).
#[derive(Debug, PartialEq, Eq)]
pub enum ClientSaslAnswer {
    /// Send this response frame (size prefix included) to the client. `legacy_token` is set
    /// after a successful SaslHandshake v0: one bare token follows, to be answered with an
    /// empty one.
    Accept {
        response: Vec<u8>,
        legacy_token: bool,
        /// The user a SaslAuthenticate claims (PLAIN's authcid, OAUTHBEARER's `a=`), cut and
        /// made printable for a log line; never checked, never forwarded.
        claimed: Option<String>,
    },
    /// Send this response frame, then close the connection with the error.
    Refuse { response: Vec<u8>, reason: String },
}

/// Client mechanisms the proxy can complete on the broker's behalf: one client token, an empty
/// answer. SCRAM cannot be: the client verifies a server signature only the password gives.
pub const CLIENT_MECHANISMS: [&str; 2] = ["PLAIN", "OAUTHBEARER"];

/// Answers a client's SaslHandshake (`api_key` 17) or SaslAuthenticate (36) when the proxy does
/// the broker login itself: the client's credentials are not needed and never forwarded, so
/// PLAIN and OAUTHBEARER are accepted as they are (any credentials: the broker connection is
/// the proxy's, whatever the client presents), and the client proceeds as if authenticated.
/// Other mechanisms are refused with UNSUPPORTED_SASL_MECHANISM. `body` is the request body
/// (after the header); `handshake_done` says whether this connection's SaslHandshake was
/// accepted.
pub fn answer_client_sasl(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    body: &[u8],
    handshake_done: bool,
) -> Result<ClientSaslAnswer, CodecError> {
    let mut response = vec![0; 4];
    header::encode_response_header(api_key, api_version, correlation_id, &mut response);
    if api_key == ApiKey::SASL_HANDSHAKE {
        let request = SaslHandshakeRequest::decode(api_version, body)?;
        let accepted = CLIENT_MECHANISMS.contains(&request.mechanism);
        SaslHandshakeResponse {
            error_code: if accepted {
                0
            } else {
                UNSUPPORTED_SASL_MECHANISM
            },
            mechanisms: CLIENT_MECHANISMS.to_vec(),
        }
        .encode(api_version, &mut response);
        patch_size(&mut response);
        if accepted {
            return Ok(ClientSaslAnswer::Accept {
                response,
                legacy_token: api_version == 0,
                claimed: None,
            });
        }
        let mechanism = crate::logging::peer_text(request.mechanism);
        return Ok(ClientSaslAnswer::Refuse {
            response,
            reason: format!(
                "client asked for SASL mechanism \"{mechanism}\", but with --sasl-enable the \
                 proxy logs in to the broker itself: configure the client without SASL \
                 (PLAINTEXT), or with PLAIN, whose credentials the proxy accepts and ignores"
            ),
        });
    }
    // Decoded to refuse a malformed request and to name the claimed user in the log; the
    // credentials are not checked.
    let request = SaslAuthenticateRequest::decode(api_version, body)?;
    let accepted = handshake_done;
    SaslAuthenticateResponse {
        error_code: if accepted { 0 } else { ILLEGAL_SASL_STATE },
        error_message: if accepted {
            None
        } else {
            Some("SaslAuthenticate without a SaslHandshake")
        },
        auth_bytes: &[],
        // Zero: the client never needs to re-authenticate with the proxy.
        session_lifetime_ms: 0,
        tagged: &[],
    }
    .encode(api_version, &mut response);
    patch_size(&mut response);
    if accepted {
        Ok(ClientSaslAnswer::Accept {
            response,
            legacy_token: false,
            claimed: claimed_user(request.auth_bytes),
        })
    } else {
        Ok(ClientSaslAnswer::Refuse {
            response,
            reason: "client sent SaslAuthenticate without a SaslHandshake first".to_string(),
        })
    }
}

/// The user a client's PLAIN (`authzid NUL authcid NUL password`) or OAUTHBEARER
/// (`n,a=user,...`) token claims, made safe by [`crate::logging::peer_bytes`]; `None` when it names
/// none. The password and the token are never looked at.
pub fn claimed_user(auth_bytes: &[u8]) -> Option<String> {
    let raw: &[u8] = if let Some(rest) = auth_bytes.strip_prefix(b"n,") {
        // OAUTHBEARER's GS2 header: "n,a=user," or "n,,".
        let header = rest.split(|&b| b == b',').next()?;
        header.strip_prefix(b"a=")?
    } else {
        let mut parts = auth_bytes.splitn(3, |&b| b == 0);
        let (_authzid, authcid) = (parts.next()?, parts.next()?);
        parts.next()?; // the password must follow, or this is not PLAIN
        authcid
    };
    let user = crate::logging::peer_bytes(raw);
    (!user.is_empty()).then_some(user)
}

/// Entry point of the `sasl_messages` fuzz target (with [`super::scram::fuzz_server_messages`]):
/// the first byte picks SaslHandshake or SaslAuthenticate and a version (some outside what the
/// codec reads), the second whether a handshake was accepted, the rest is the client's request
/// body. [`answer_client_sasl`] must not panic, and every answer must be a whole frame.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_client_sasl(data: &[u8]) {
    let [pick, handshake_done, body @ ..] = data else {
        return;
    };
    let api_key = if pick & 1 == 0 {
        ApiKey::SASL_HANDSHAKE
    } else {
        ApiKey::SASL_AUTHENTICATE
    };
    let version = i16::from(pick >> 1) % 5 - 1;
    if let Ok(answer) = answer_client_sasl(api_key, version, 7, body, handshake_done & 1 == 1) {
        let (ClientSaslAnswer::Accept { response, .. } | ClientSaslAnswer::Refuse { response, .. }) =
            answer;
        let size = u32::from_be_bytes([response[0], response[1], response[2], response[3]]);
        assert_eq!(size as usize, response.len() - 4);
        assert_eq!(response[4..8], 7i32.to_be_bytes());
    }
}

/// Writes the size of the frame that follows the 4-byte prefix into the prefix.
fn patch_size(frame: &mut [u8]) {
    let size = u32::try_from(frame.len() - 4).unwrap_or(u32::MAX);
    frame[..4].copy_from_slice(&size.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::api_versions;
    use crate::codec::sasl::HANDSHAKE_VERSIONS;
    use crate::codec::{Reader, Writer};
    use crate::config::Secret;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use ring::{digest, hmac, pbkdf2};
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::num::NonZeroU32;
    use std::path::PathBuf;
    use std::thread;

    fn config(method: SaslMethod, username: &str, password: &str) -> SaslConfig {
        SaslConfig {
            method,
            username: username.into(),
            password: Secret(password.into()),
            jaas_config_file: None,
        }
    }

    /// What the scripted broker does.
    #[derive(Clone)]
    struct BrokerScript {
        /// `(api_key, min, max)` advertised.
        apis: Vec<(i16, i16, i16)>,
        mechanisms: Vec<&'static str>,
        password: &'static str,
        lifetime_ms: i64,
        /// Mangle the SCRAM server-first or server-final message.
        tamper_first: Option<fn(String) -> String>,
        tamper_final: Option<fn(String) -> String>,
        /// Close the connection instead of answering this request number (1-based).
        close_at: Option<usize>,
        /// Answer a bad password by closing (tansu) rather than with error 58.
        close_on_failure: bool,
        iterations: u32,
    }

    impl Default for BrokerScript {
        fn default() -> Self {
            BrokerScript {
                apis: vec![(18, 0, 4), (17, 0, 1), (36, 0, 2)],
                mechanisms: vec!["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
                password: "secret",
                lifetime_ms: 0,
                tamper_first: None,
                tamper_final: None,
                close_at: None,
                close_on_failure: false,
                iterations: 4096,
            }
        }
    }

    /// The server side of SCRAM, from the RFC 5802 formulas.
    struct ScramServer {
        hash: ScramHash,
        password: String,
        iterations: u32,
        auth_message: String,
        salted: Vec<u8>,
    }

    impl ScramServer {
        fn algorithms(
            &self,
        ) -> (
            hmac::Algorithm,
            pbkdf2::Algorithm,
            &'static digest::Algorithm,
        ) {
            match self.hash {
                ScramHash::Sha256 => (
                    hmac::HMAC_SHA256,
                    pbkdf2::PBKDF2_HMAC_SHA256,
                    &digest::SHA256,
                ),
                _ => (
                    hmac::HMAC_SHA512,
                    pbkdf2::PBKDF2_HMAC_SHA512,
                    &digest::SHA512,
                ),
            }
        }

        fn first(&mut self, client_first: &[u8]) -> String {
            let text = std::str::from_utf8(client_first).unwrap();
            let bare = text.strip_prefix("n,,").unwrap();
            let nonce = bare.split(",r=").nth(1).unwrap();
            let salt = b"salt-of-the-earth";
            let message = format!(
                "r={nonce}srv,s={},i={}",
                STANDARD.encode(salt),
                self.iterations
            );
            let (_, pbkdf, _) = self.algorithms();
            self.salted = vec![0; self.algorithms().2.output_len()];
            pbkdf2::derive(
                pbkdf,
                NonZeroU32::new(self.iterations).unwrap(),
                salt,
                self.password.as_bytes(),
                &mut self.salted,
            );
            self.auth_message = format!("{bare},{message}");
            message
        }

        /// `Ok(server-final)` or `Err(())` when the proof is wrong.
        fn last(&mut self, client_final: &[u8]) -> Result<String, ()> {
            let text = std::str::from_utf8(client_final).unwrap();
            let (without_proof, proof) = text.rsplit_once(",p=").unwrap();
            self.auth_message = format!("{},{without_proof}", self.auth_message);
            let (alg, _, dig) = self.algorithms();
            let salted = hmac::Key::new(alg, &self.salted);
            let client_key = hmac::sign(&salted, b"Client Key");
            let stored = digest::digest(dig, client_key.as_ref());
            let signature = hmac::sign(
                &hmac::Key::new(alg, stored.as_ref()),
                self.auth_message.as_bytes(),
            );
            let proof = STANDARD.decode(proof).unwrap();
            let recovered: Vec<u8> = proof
                .iter()
                .zip(signature.as_ref())
                .map(|(a, b)| a ^ b)
                .collect();
            if digest::digest(dig, &recovered).as_ref() != stored.as_ref() {
                return Err(());
            }
            let server_key = hmac::sign(&salted, b"Server Key");
            let server_signature = hmac::sign(
                &hmac::Key::new(alg, server_key.as_ref()),
                self.auth_message.as_bytes(),
            );
            Ok(format!("v={}", STANDARD.encode(server_signature.as_ref())))
        }
    }

    /// Serves one connection per the script; returns what it saw (api keys, raw tokens as -1).
    fn broker(script: BrokerScript) -> (std::net::SocketAddr, thread::JoinHandle<Vec<i16>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut seen = Vec::new();
            let mut scram: Option<ScramServer> = None;
            let mut legacy = false;
            let mut mechanism = String::new();
            loop {
                let mut prefix = [0u8; 4];
                if s.read_exact(&mut prefix).is_err() {
                    return seen;
                }
                let mut frame = vec![0u8; i32::from_be_bytes(prefix) as usize];
                s.read_exact(&mut frame).unwrap();
                if script.close_at == Some(seen.len() + 1) {
                    return seen;
                }
                if legacy {
                    seen.push(-1);
                    let reply = match sasl_step(&script, &mechanism, &mut scram, &frame) {
                        Ok(token) => token,
                        Err(()) => return seen,
                    };
                    let mut out = (reply.len() as u32).to_be_bytes().to_vec();
                    out.extend_from_slice(&reply);
                    s.write_all(&out).unwrap();
                    continue;
                }
                let (header, offset) = header::parse_request_header(&frame).unwrap();
                let body = &frame[offset.unwrap()..];
                seen.push(header.api_key.0);
                let (key, version) = (header.api_key, header.api_version);
                let mut out = Vec::new();
                header::encode_response_header(key, version, header.correlation_id, &mut out);
                match key.0 {
                    18 => api_versions::encode_response(0, 0, &script.apis, 0, &mut out).unwrap(),
                    17 => {
                        mechanism = SaslHandshakeRequest::decode(version, body)
                            .unwrap()
                            .mechanism
                            .to_string();
                        let ok = script.mechanisms.contains(&mechanism.as_str());
                        SaslHandshakeResponse {
                            error_code: if ok { 0 } else { 33 },
                            mechanisms: script.mechanisms.clone(),
                        }
                        .encode(version, &mut out);
                        legacy = ok && version == 0;
                    }
                    36 => {
                        let request = SaslAuthenticateRequest::decode(version, body).unwrap();
                        let (code, token) =
                            match sasl_step(&script, &mechanism, &mut scram, request.auth_bytes) {
                                Ok(token) => (0, token),
                                Err(()) if script.close_on_failure => return seen,
                                Err(()) => (58, Vec::new()),
                            };
                        SaslAuthenticateResponse {
                            error_code: code,
                            error_message: (code != 0).then_some("Authentication failed"),
                            auth_bytes: &token,
                            session_lifetime_ms: script.lifetime_ms,
                            tagged: &[],
                        }
                        .encode(version, &mut out);
                    }
                    _ => panic!("unexpected request {key}"),
                }
                let mut framed = (out.len() as u32).to_be_bytes().to_vec();
                framed.extend_from_slice(&out);
                s.write_all(&framed).unwrap();
            }
        });
        (addr, handle)
    }

    /// One SASL step on the broker side: the token to answer with, or `Err` on bad credentials.
    fn sasl_step(
        script: &BrokerScript,
        mechanism: &str,
        scram: &mut Option<ScramServer>,
        token: &[u8],
    ) -> Result<Vec<u8>, ()> {
        if mechanism == "PLAIN" {
            let expected = format!("\0alice\0{}", script.password);
            return if token == expected.as_bytes() {
                Ok(Vec::new())
            } else {
                Err(())
            };
        }
        match scram {
            None => {
                let mut server = ScramServer {
                    hash: if mechanism == "SCRAM-SHA-256" {
                        ScramHash::Sha256
                    } else {
                        ScramHash::Sha512
                    },
                    password: script.password.into(),
                    iterations: script.iterations,
                    auth_message: String::new(),
                    salted: Vec::new(),
                };
                let mut first = server.first(token);
                *scram = Some(server);
                if let Some(tamper) = script.tamper_first {
                    first = tamper(first);
                }
                Ok(first.into_bytes())
            }
            Some(server) => {
                let mut last = server.last(token)?;
                if let Some(tamper) = script.tamper_final {
                    last = tamper(last);
                }
                *scram = None;
                Ok(last.into_bytes())
            }
        }
    }

    fn login_to(
        script: BrokerScript,
        config: &SaslConfig,
    ) -> (Result<Session, LoginError>, Vec<i16>) {
        let (addr, broker) = broker(script);
        let mut stream: Stream = crate::net::stream::plain(TcpStream::connect(addr).unwrap());
        let result = login(
            &mut stream,
            config,
            "kafka-proxy",
            Duration::from_secs(10),
            100 << 20,
        );
        drop(stream);
        (result, broker.join().unwrap())
    }

    #[test]
    fn plain_and_scram_logins() {
        for method in [
            SaslMethod::Plain,
            SaslMethod::ScramSha256,
            SaslMethod::ScramSha512,
        ] {
            let (session, seen) = login_to(
                BrokerScript {
                    lifetime_ms: 60_000,
                    ..Default::default()
                },
                &config(method, "alice", "secret"),
            );
            let session = session.unwrap_or_else(|e| panic!("{method:?}: {e}"));
            assert_eq!(session.authenticate_version, Some(2));
            assert_eq!(session.lifetime, Some(Duration::from_secs(60)));
            let rounds = if method == SaslMethod::Plain { 1 } else { 2 };
            let mut expected = vec![18, 17];
            expected.extend(std::iter::repeat(36).take(rounds));
            assert_eq!(seen, expected, "{method:?}");
        }
    }

    #[test]
    fn authenticate_version_is_the_highest_both_support() {
        for (broker_max, expected) in [(1, 1), (0, 0), (5, 2)] {
            let (session, _) = login_to(
                BrokerScript {
                    apis: vec![(18, 0, 4), (17, 0, 1), (36, 0, broker_max)],
                    ..Default::default()
                },
                &config(SaslMethod::ScramSha512, "alice", "secret"),
            );
            assert_eq!(session.unwrap().authenticate_version, Some(expected));
        }
    }

    #[test]
    fn legacy_flow_without_sasl_authenticate() {
        for method in [SaslMethod::Plain, SaslMethod::ScramSha256] {
            let (session, seen) = login_to(
                BrokerScript {
                    apis: vec![(18, 0, 1), (17, 0, 0)],
                    ..Default::default()
                },
                &config(method, "alice", "secret"),
            );
            let session = session.unwrap();
            assert_eq!(session.authenticate_version, None);
            assert_eq!(session.lifetime, None);
            let rounds = if method == SaslMethod::Plain { 1 } else { 2 };
            let mut expected = vec![18, 17];
            expected.extend(std::iter::repeat(-1).take(rounds));
            assert_eq!(seen, expected);
        }
        // A wrong password: the legacy broker just closes.
        let (result, _) = login_to(
            BrokerScript {
                apis: vec![(18, 0, 1), (17, 0, 0)],
                ..Default::default()
            },
            &config(SaslMethod::Plain, "alice", "bad-pw-123"),
        );
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("closed the connection after receiving the PLAIN"),
            "{err}"
        );
        assert!(err.contains("--sasl-username (\"alice\")"), "{err}");
        assert!(!err.contains("bad-pw-123"), "{err}");
    }

    #[test]
    fn wrong_password_is_rejected_clearly() {
        for method in [
            SaslMethod::Plain,
            SaslMethod::ScramSha256,
            SaslMethod::ScramSha512,
        ] {
            let (result, _) = login_to(
                BrokerScript::default(),
                &config(method, "alice", "not-the-password"),
            );
            let err = result.unwrap_err();
            assert!(
                matches!(err, LoginError::Rejected { code: 58, .. }),
                "{err}"
            );
            let text = err.to_string();
            assert!(
                text.contains("58 SASL_AUTHENTICATION_FAILED (Authentication failed)"),
                "{text}"
            );
            assert!(!text.contains("not-the-password"), "{text}");
        }
        // A broker that closes instead (tansu does).
        let (result, _) = login_to(
            BrokerScript {
                close_on_failure: true,
                ..Default::default()
            },
            &config(SaslMethod::ScramSha512, "alice", "nope"),
        );
        assert!(matches!(
            result.unwrap_err(),
            LoginError::ClosedAfterCredentials {
                mechanism: "SCRAM-SHA-512",
                ..
            }
        ));
        // The hint names the JAAS file when the credentials came from one.
        let mut from_file = config(SaslMethod::Plain, "alice", "nope");
        from_file.jaas_config_file = Some(PathBuf::from("/etc/kafka/jaas.conf"));
        let (result, _) = login_to(BrokerScript::default(), &from_file);
        let text = result.unwrap_err().to_string();
        assert!(
            text.contains("/etc/kafka/jaas.conf (--sasl-jaas-config-file)"),
            "{text}"
        );
    }

    #[test]
    fn mechanism_not_offered_lists_the_offer() {
        let (result, seen) = login_to(
            BrokerScript {
                mechanisms: vec!["SCRAM-SHA-512", "OAUTHBEARER"],
                ..Default::default()
            },
            &config(SaslMethod::Plain, "alice", "secret"),
        );
        assert_eq!(
            result.unwrap_err().to_string(),
            "broker does not enable SASL mechanism PLAIN (--sasl-method); it offers \
             SCRAM-SHA-512, OAUTHBEARER"
        );
        assert_eq!(seen, [18, 17]);
    }

    #[test]
    fn broker_without_sasl() {
        let (result, _) = login_to(
            BrokerScript {
                apis: vec![(18, 0, 4), (3, 0, 12)],
                ..Default::default()
            },
            &config(SaslMethod::Plain, "alice", "secret"),
        );
        assert!(matches!(result.unwrap_err(), LoginError::NoSasl));
        let (result, _) = login_to(
            BrokerScript {
                apis: vec![(18, 0, 4), (17, 0, 1), (36, 3, 4)],
                ..Default::default()
            },
            &config(SaslMethod::Plain, "alice", "secret"),
        );
        assert!(matches!(
            result.unwrap_err(),
            LoginError::NoCommonVersion(ApiKey::SASL_AUTHENTICATE, 3, 4)
        ));
    }

    #[test]
    fn broker_closing_mid_exchange() {
        for (at, expected) in [
            (1, "during ApiVersions"),
            (
                2,
                "instead of answering SaslHandshake for SCRAM-SHA-256: it probably does not \
                 enable that mechanism (--sasl-method)",
            ),
            (3, "after receiving the SCRAM-SHA-256 credentials"),
            (4, "after receiving the SCRAM-SHA-256 credentials"),
        ] {
            let (result, _) = login_to(
                BrokerScript {
                    close_at: Some(at),
                    ..Default::default()
                },
                &config(SaslMethod::ScramSha256, "alice", "secret"),
            );
            let text = result.unwrap_err().to_string();
            let expected = if at == 1 {
                "waiting for the ApiVersions response"
            } else {
                expected
            };
            assert!(text.contains(expected), "close at {at}: {text}");
        }
    }

    #[test]
    fn malformed_and_tampered_scram_messages() {
        let tampered_final: fn(String) -> String = |s| {
            // Flip one character of the base64 signature.
            let mut b = s.into_bytes();
            b[3] = if b[3] == b'A' { b'B' } else { b'A' };
            String::from_utf8(b).unwrap()
        };
        let (result, _) = login_to(
            BrokerScript {
                tamper_final: Some(tampered_final),
                ..Default::default()
            },
            &config(SaslMethod::ScramSha512, "alice", "secret"),
        );
        let err = result.unwrap_err();
        assert!(
            matches!(err, LoginError::Scram(ScramError::BadServerSignature)),
            "{err}"
        );
        assert!(err
            .to_string()
            .contains("could not prove it knows the password"));

        // tansu answers a wrong proof with SaslAuthenticate success carrying `e=invalid-proof`.
        let refused: fn(String) -> String = |_| "e=invalid-proof".to_string();
        let (result, _) = login_to(
            BrokerScript {
                tamper_final: Some(refused),
                ..Default::default()
            },
            &config(SaslMethod::ScramSha512, "alice", "secret"),
        );
        assert_eq!(
            result.unwrap_err().to_string(),
            "broker refused the SCRAM-SHA-512 login (its server-final message says \
             \"invalid-proof\"): check --sasl-username (\"alice\") and --sasl-password (or \
             SASL_PASSWORD)"
        );

        let no_salt: fn(String) -> String = |s| s.replace(",s=", ",x=");
        let (result, _) = login_to(
            BrokerScript {
                tamper_first: Some(no_salt),
                ..Default::default()
            },
            &config(SaslMethod::ScramSha256, "alice", "secret"),
        );
        assert_eq!(
            result.unwrap_err().to_string(),
            "the broker sent a malformed SCRAM server-first message: the second attribute is \
             not s= (the salt)"
        );

        let other_nonce: fn(String) -> String = |s| s.replacen("r=", "r=X", 1);
        let (result, _) = login_to(
            BrokerScript {
                tamper_first: Some(other_nonce),
                ..Default::default()
            },
            &config(SaslMethod::ScramSha256, "alice", "secret"),
        );
        assert!(matches!(
            result.unwrap_err(),
            LoginError::Scram(ScramError::NonceMismatch)
        ));

        let (result, _) = login_to(
            BrokerScript {
                iterations: 1000,
                ..Default::default()
            },
            &config(SaslMethod::ScramSha256, "alice", "secret"),
        );
        assert!(matches!(
            result.unwrap_err(),
            LoginError::Scram(ScramError::Iterations(1000))
        ));
    }

    #[test]
    fn login_times_out_on_a_silent_broker() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut stream: Stream =
            crate::net::stream::plain(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
        let started = Instant::now();
        let result = login(
            &mut stream,
            &config(SaslMethod::Plain, "alice", "secret"),
            "kafka-proxy",
            Duration::from_millis(300),
            1 << 20,
        );
        assert!(matches!(result, Err(LoginError::Timeout(_))));
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
    }

    #[test]
    fn oversized_or_garbage_frames_are_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
            // 2 GiB announced.
            s.write_all(&[0x7f, 0xff, 0xff, 0xff]).unwrap();
            thread::sleep(Duration::from_millis(200));
        });
        let mut stream: Stream = crate::net::stream::plain(TcpStream::connect(addr).unwrap());
        let result = login(
            &mut stream,
            &config(SaslMethod::Plain, "alice", "secret"),
            "kafka-proxy",
            Duration::from_secs(5),
            100 << 20,
        );
        assert!(matches!(result, Err(LoginError::BadFrameSize(0x7fff_ffff))));
        server.join().unwrap();
    }

    /// A [`BrokerExchange`] over an in-memory list of scripted answers.
    struct Recorded {
        sent: Vec<(ApiKey, i16, Vec<u8>)>,
        answers: Vec<Vec<u8>>,
    }

    impl BrokerExchange for Recorded {
        fn round_trip(
            &mut self,
            api_key: ApiKey,
            api_version: i16,
            body: &[u8],
        ) -> Result<Vec<u8>, LoginError> {
            self.sent.push((api_key, api_version, body.to_vec()));
            if self.answers.is_empty() {
                return Err(LoginError::Closed("in the test"));
            }
            Ok(self.answers.remove(0))
        }
    }

    #[test]
    fn reauthentication_repeats_handshake_and_authenticate() {
        let mut handshake_ok = Vec::new();
        SaslHandshakeResponse {
            error_code: 0,
            mechanisms: vec!["PLAIN"],
        }
        .encode(1, &mut handshake_ok);
        let mut authenticated = Vec::new();
        SaslAuthenticateResponse {
            error_code: 0,
            error_message: None,
            auth_bytes: &[],
            session_lifetime_ms: 1500,
            tagged: &[],
        }
        .encode(1, &mut authenticated);
        let mut exchange = Recorded {
            sent: Vec::new(),
            answers: vec![handshake_ok, authenticated],
        };
        let old = Session {
            mechanism: "PLAIN",
            authenticate_version: Some(1),
            lifetime: Some(Duration::from_millis(1000)),
            authenticated_at: Instant::now(),
        };
        let config = config(SaslMethod::Plain, "alice", "secret");
        let new = reauthenticate(&mut exchange, &config, &old).unwrap();
        assert_eq!(new.lifetime, Some(Duration::from_millis(1500)));
        assert_eq!(new.authenticate_version, Some(1));
        assert_eq!(exchange.sent.len(), 2);
        assert_eq!(exchange.sent[0].0, ApiKey::SASL_HANDSHAKE);
        assert_eq!(exchange.sent[0].1, 1);
        assert_eq!(exchange.sent[1].0, ApiKey::SASL_AUTHENTICATE);
        let request = SaslAuthenticateRequest::decode(1, &exchange.sent[1].2).unwrap();
        assert_eq!(request.auth_bytes, b"\0alice\0secret");

        // tansu 0.6 answers a second SaslHandshake so.
        let mut refusing = Vec::new();
        SaslHandshakeResponse {
            error_code: UNSUPPORTED_SASL_MECHANISM,
            mechanisms: vec!["PLAIN"],
        }
        .encode(1, &mut refusing);
        exchange.answers = vec![refusing];
        assert_eq!(
            reauthenticate(&mut exchange, &config, &old)
                .unwrap_err()
                .to_string(),
            "broker answered SaslHandshake with 33 UNSUPPORTED_SASL_MECHANISM although it lists \
             PLAIN as enabled, as brokers that cannot re-authenticate a session (KIP-368) do"
        );

        let legacy = Session {
            authenticate_version: None,
            ..old
        };
        assert!(matches!(
            reauthenticate(&mut exchange, &config, &legacy),
            Err(LoginError::CannotReauthenticate)
        ));
    }

    #[test]
    fn reauthentication_schedule() {
        let at = Instant::now();
        let session = Session {
            mechanism: "PLAIN",
            authenticate_version: Some(2),
            lifetime: Some(Duration::from_millis(1500)),
            authenticated_at: at,
        };
        let wake = session.wake_interval().unwrap();
        assert_eq!(wake, Duration::from_millis(75));
        assert_eq!(
            session.reauthenticate_at(wake),
            Some(at + Duration::from_millis(1275))
        );
        // A pump that wakes rarely re-authenticates earlier.
        assert_eq!(
            session.reauthenticate_at(Duration::from_millis(500)),
            Some(at + Duration::from_millis(500))
        );
        let never = Session {
            lifetime: None,
            ..session.clone()
        };
        assert_eq!(never.reauthenticate_at(wake), None);
        assert_eq!(never.wake_interval(), None);
        let tiny = Session {
            lifetime: Some(Duration::from_millis(20)),
            ..session
        };
        assert_eq!(tiny.wake_interval(), Some(MIN_WAKE_INTERVAL));
    }

    #[test]
    fn request_frames() {
        let mut out = Vec::new();
        encode_request(ApiKey::SASL_AUTHENTICATE, 2, 7, "kp", &[1, 2], &mut out);
        // size, key 36, v2, correlation 7, client id "kp", header tags, body.
        assert_eq!(
            out,
            [0, 0, 0, 15, 0, 36, 0, 2, 0, 0, 0, 7, 0, 2, b'k', b'p', 0, 1, 2]
        );
        let mut frame = vec![0, 0, 0, 7, 0, 9, 9];
        assert_eq!(
            response_body(ApiKey::SASL_AUTHENTICATE, 2, 7, frame.clone()).unwrap(),
            [9, 9]
        );
        frame[3] = 8;
        assert!(matches!(
            response_body(ApiKey::SASL_AUTHENTICATE, 2, 7, frame),
            Err(LoginError::CorrelationMismatch {
                expected: 7,
                got: 8
            })
        ));
        assert!(response_body(ApiKey::SASL_AUTHENTICATE, 2, 7, vec![0, 0]).is_err());
    }

    /// Decodes a synthesized response frame: (correlation id, body after the header).
    fn split_response(api_key: ApiKey, version: i16, frame: &[u8]) -> (i32, Vec<u8>) {
        let size = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(size, frame.len() - 4);
        let correlation = Reader::new(&frame[4..]).i32("c").unwrap();
        let offset = header::response_body_offset(api_key, version, &frame[4..]).unwrap();
        (correlation, frame[4 + offset..].to_vec())
    }

    #[test]
    fn client_sasl_plain_is_accepted_without_checking() {
        for version in HANDSHAKE_VERSIONS {
            let mut body = Vec::new();
            Writer::new(&mut body).string_flex(false, "PLAIN");
            let answer =
                answer_client_sasl(ApiKey::SASL_HANDSHAKE, version, 42, &body, false).unwrap();
            let ClientSaslAnswer::Accept {
                response,
                legacy_token,
                claimed,
            } = answer
            else {
                panic!("refused")
            };
            assert_eq!(legacy_token, version == 0);
            assert_eq!(claimed, None);
            let (correlation, body) = split_response(ApiKey::SASL_HANDSHAKE, version, &response);
            assert_eq!(correlation, 42);
            let decoded = SaslHandshakeResponse::decode(version, &body).unwrap();
            assert_eq!(decoded.error_code, 0);
        }
        for version in AUTHENTICATE_VERSIONS {
            let mut body = Vec::new();
            SaslAuthenticateRequest {
                auth_bytes: b"\0anyone\0anything",
                tagged: &[],
            }
            .encode(version, &mut body);
            let answer =
                answer_client_sasl(ApiKey::SASL_AUTHENTICATE, version, 43, &body, true).unwrap();
            let ClientSaslAnswer::Accept {
                response, claimed, ..
            } = answer
            else {
                panic!("refused")
            };
            assert_eq!(claimed.as_deref(), Some("anyone"));
            let (correlation, body) = split_response(ApiKey::SASL_AUTHENTICATE, version, &response);
            assert_eq!(correlation, 43);
            let decoded = SaslAuthenticateResponse::decode(version, &body).unwrap();
            assert_eq!(decoded.error_code, 0);
            assert_eq!(decoded.auth_bytes, b"");
            assert_eq!(decoded.session_lifetime_ms, 0);
        }
    }

    /// The user a client claims is named in the log (cut, control characters replaced); its
    /// password or token never is.
    #[test]
    fn claimed_user_names_the_user_only() {
        assert_eq!(claimed_user(b"\0alice\0secret").as_deref(), Some("alice"));
        assert_eq!(
            claimed_user(b"admin\0alice\0secret").as_deref(),
            Some("alice")
        );
        assert_eq!(
            claimed_user(b"n,a=bob,\x01auth=Bearer eyJ\x01\x01").as_deref(),
            Some("bob")
        );
        assert_eq!(claimed_user(b"n,,\x01auth=Bearer eyJ\x01\x01"), None);
        assert_eq!(claimed_user(b"\0\0secret"), None);
        assert_eq!(claimed_user(b"no separators"), None);
        assert_eq!(claimed_user(b"\0ev\nil\0pw").as_deref(), Some("ev\\nil"));
        let long = [&b"\0"[..], &[b'x'; 1000], b"\0pw"].concat();
        assert_eq!(
            claimed_user(&long).map(|u| u.chars().count()),
            Some(crate::logging::PEER_TEXT_MAX + 1)
        );
        assert!(!claimed_user(b"\0alice\0secret").unwrap().contains("secret"));
    }

    #[test]
    fn fuzz_entry_point_on_samples() {
        let mut handshake = vec![0, 0];
        Writer::new(&mut handshake).string_flex(false, "PLAIN");
        let mut authenticate = vec![5, 1];
        SaslAuthenticateRequest {
            auth_bytes: b"\0u\0p",
            tagged: &[],
        }
        .encode(2, &mut authenticate);
        for sample in [handshake, authenticate, vec![9, 0, 0xff, 0xff], vec![1]] {
            for pick in 0..=u8::MAX {
                let mut data = sample.clone();
                data[0] = pick;
                for cut in 0..=data.len() {
                    fuzz_client_sasl(&data[..cut]);
                }
            }
        }
    }

    #[test]
    fn client_sasl_scram_is_refused_clearly() {
        let mut body = Vec::new();
        Writer::new(&mut body).string_flex(false, "SCRAM-SHA-512");
        let answer = answer_client_sasl(ApiKey::SASL_HANDSHAKE, 1, 5, &body, false).unwrap();
        let ClientSaslAnswer::Refuse { response, reason } = answer else {
            panic!("accepted")
        };
        let (_, body) = split_response(ApiKey::SASL_HANDSHAKE, 1, &response);
        let decoded = SaslHandshakeResponse::decode(1, &body).unwrap();
        assert_eq!(decoded.error_code, UNSUPPORTED_SASL_MECHANISM);
        assert_eq!(decoded.mechanisms, CLIENT_MECHANISMS);
        assert!(reason.contains("\"SCRAM-SHA-512\""), "{reason}");
        assert!(reason.contains("--sasl-enable"), "{reason}");

        // SaslAuthenticate before any handshake.
        let mut body = Vec::new();
        SaslAuthenticateRequest {
            auth_bytes: b"x",
            tagged: &[],
        }
        .encode(2, &mut body);
        let answer = answer_client_sasl(ApiKey::SASL_AUTHENTICATE, 2, 6, &body, false).unwrap();
        assert!(matches!(answer, ClientSaslAnswer::Refuse { .. }));
        // Malformed requests and versions the codec does not know are errors, not panics.
        assert!(answer_client_sasl(ApiKey::SASL_HANDSHAKE, 1, 5, &[0, 9], false).is_err());
        assert!(answer_client_sasl(ApiKey::SASL_AUTHENTICATE, 3, 5, &[1, 0], true).is_err());
    }
}
