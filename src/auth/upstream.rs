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

use super::oauthbearer::{OAuthBearerClient, Step};
use super::sasl_plugin::SaslTokenProvider;
use super::scram::{ScramClient, ScramError, ScramHash, ServerMessage};
use crate::codec::api::ApiKey;
use crate::codec::api_versions::ApiVersionsResponse;
use crate::codec::header::{self, RequestHeader};
use crate::codec::sasl::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
    AUTHENTICATE_VERSIONS,
};
use crate::codec::CodecError;
use crate::config::{SaslConfig, SaslMethod, SaslPluginMechanism};
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
pub(super) const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
pub(super) const ILLEGAL_SASL_STATE: i16 = 34;
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
    /// AWS_MSK_IAM: no credentials, or the broker's answer is not what MSK sends.
    Aws(String),
    /// `--sasl-plugin-command` gave no usable credentials.
    Plugin(String),
    /// The OAUTHBEARER exchange went wrong (the text says how).
    OAuthBearer(&'static str),
    /// The Kerberos side of a GSSAPI login failed: the KDC's or broker's refusal explained,
    /// or an unreadable keytab or krb5.conf.
    Kerberos(String),
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
            LoginError::Aws(why) => write!(f, "AWS_MSK_IAM: {why}"),
            LoginError::CannotReauthenticate => f.write_str(
                "the session was opened with the legacy SaslHandshake v0 flow, which cannot \
                 re-authenticate",
            ),
            LoginError::Plugin(why) => f.write_str(why),
            LoginError::OAuthBearer(why) => write!(f, "OAUTHBEARER login failed: {why}"),
            LoginError::Kerberos(why) => write!(f, "GSSAPI login failed: {why}"),
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
    if config.method == SaslMethod::AwsMskIam {
        return super::aws::credentials_hint(&config.aws);
    }
    if let Some(principal) = &config.mapped_from {
        return format!(
            "check the upstream credentials of principal \"{}\" (user {:?}) in \
             --sasl-credentials-*",
            crate::logging::peer_text(principal),
            config.username
        );
    }
    if config.method == SaslMethod::Gssapi {
        let g = &config.gssapi;
        return format!(
            "the proxy logged in to the KDC as {} with the {}; check that the broker accepts \
             that principal (its log says why it refused)",
            g.client_principal(),
            g.key_source()
        );
    }
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

    /// When the exchange must be over: what bounds the KDC exchanges of a GSSAPI login.
    fn deadline(&self) -> Deadline {
        Deadline::after(Duration::from_secs(30))
    }
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
    /// AWS_MSK_IAM: one signed payload for the broker host dialled (src/auth/aws).
    AwsMskIam {
        config: crate::config::AwsIamConfig,
        host: String,
    },
    /// A bearer token from `--sasl-plugin-command` (RFC 7628).
    OAuthBearer(OAuthBearerClient),
    /// Kerberos (RFC 4752) with the `--gssapi-*` settings, to the broker host dialled.
    #[cfg(feature = "gssapi")]
    Gssapi(Box<super::kerberos::gss::GssapiClient>),
}

impl Mechanism {
    fn new(config: &SaslConfig, host: &str, deadline: Deadline) -> Result<Self, LoginError> {
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
            SaslMethod::AwsMskIam => Mechanism::AwsMskIam {
                config: config.aws.clone(),
                host: host.to_string(),
            },
            // Only a client's own mapped credentials (--sasl-credentials-*) carry a token here.
            SaslMethod::OAuthBearer => Mechanism::OAuthBearer(
                OAuthBearerClient::new(password).map_err(LoginError::BadCredentials)?,
            ),
            #[cfg(feature = "gssapi")]
            SaslMethod::Gssapi => Mechanism::Gssapi(Box::new(
                super::kerberos::gss::GssapiClient::new(&config.gssapi, host, deadline),
            )),
            // Refused by the config checks; kept here so a config built by hand fails cleanly.
            #[cfg(not(feature = "gssapi"))]
            SaslMethod::Gssapi => {
                let _ = deadline;
                return Err(LoginError::BadCredentials(
                    "GSSAPI (Kerberos) login needs a build with the gssapi feature",
                ));
            }
        })
    }

    /// The mechanism for a login: from the token provider when there is one
    /// (`--sasl-plugin-enable`), else from the configured credentials.
    fn for_login(
        config: &SaslConfig,
        tokens: Option<&SaslTokenProvider>,
        host: &str,
        deadline: Deadline,
    ) -> Result<Self, LoginError> {
        let Some(tokens) = tokens else {
            return Mechanism::new(config, host, deadline);
        };
        match tokens.mechanism() {
            SaslPluginMechanism::OAuthBearer => tokens
                .oauthbearer()
                .map(Mechanism::OAuthBearer)
                .map_err(LoginError::Plugin),
            SaslPluginMechanism::Plain => tokens
                .plain_token()
                .map(|token| Mechanism::Plain { token })
                .map_err(LoginError::Plugin),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Mechanism::Plain { .. } => "PLAIN",
            Mechanism::Scram(scram) => scram.mechanism(),
            Mechanism::AwsMskIam { .. } => super::aws::MECHANISM,
            Mechanism::OAuthBearer(_) => "OAUTHBEARER",
            #[cfg(feature = "gssapi")]
            Mechanism::Gssapi(_) => "GSSAPI",
        }
    }

    /// What the broker said about the credentials during the exchange, for an error.
    fn refusal(&self) -> Option<String> {
        match self {
            Mechanism::OAuthBearer(client) => client
                .broker_error()
                .map(|e| format!("the broker's OAUTHBEARER error: {e}")),
            _ => None,
        }
    }

    fn first_token(&mut self) -> Result<Vec<u8>, LoginError> {
        match self {
            Mechanism::Plain { token } => Ok(std::mem::take(token)),
            Mechanism::Scram(scram) => Ok(scram.client_first()?),
            Mechanism::AwsMskIam { config, host } => {
                super::aws::first_token(config, host).map_err(LoginError::Aws)
            }
            Mechanism::OAuthBearer(client) => Ok(client.first_message()),
            #[cfg(feature = "gssapi")]
            Mechanism::Gssapi(client) => client.first_token().map_err(LoginError::Kerberos),
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
            Mechanism::AwsMskIam { .. } => super::aws::check_answer(server_token)
                .map(|()| None)
                .map_err(LoginError::Aws),
            Mechanism::OAuthBearer(client) => match client.respond(server_token) {
                Step::Done => Ok(None),
                Step::Send(bytes) => Ok(Some(bytes)),
                Step::Unexpected(why) => Err(LoginError::OAuthBearer(why)),
            },
            #[cfg(feature = "gssapi")]
            Mechanism::Gssapi(client) => client.respond(server_token).map_err(LoginError::Kerberos),
        }
    }
}

/// The ApiVersions v0 response `body`, refused when it carries an error code.
fn decode_versions(body: &[u8]) -> Result<ApiVersionsResponse<'_>, LoginError> {
    let versions = ApiVersionsResponse::decode(0, body)
        .map_err(|e| LoginError::Malformed(ApiKey::API_VERSIONS, 0, e))?;
    if versions.error_code != 0 {
        return Err(LoginError::ApiVersions(versions.error_code));
    }
    Ok(versions)
}

/// Sends ApiVersions v0 on `stream` (connected, logged in if the broker wants SASL) and returns
/// how many API keys the broker serves, within `timeout` (`server --check`).
pub fn api_versions(
    stream: &mut Stream,
    client_id: &str,
    timeout: Duration,
) -> Result<usize, LoginError> {
    let body = round_trip(stream, ApiKey::API_VERSIONS, 0, &[], client_id, timeout)?;
    Ok(decode_versions(&body)?.api_keys.len())
}

/// One request of the proxy's own on a broker stream (connected, logged in), before or instead
/// of a client's: `body` sent as `api_key` at `version`, the response body returned, all within
/// `timeout`; a response above [`MAX_LOGIN_FRAME`] is refused.
pub fn round_trip(
    stream: &mut Stream,
    api_key: ApiKey,
    version: i16,
    body: &[u8],
    client_id: &str,
    timeout: Duration,
) -> Result<Vec<u8>, LoginError> {
    StreamExchange::new(stream, client_id, timeout, MAX_LOGIN_FRAME)
        .round_trip(api_key, version, body)
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
    login_with(stream, config, None, client_id, timeout, max_frame, "")
}

/// [`login`], with the credentials from `tokens` when given (`--sasl-plugin-enable`), to the
/// broker host name `host` (what AWS_MSK_IAM signs).
pub fn login_with(
    stream: &mut Stream,
    config: &SaslConfig,
    tokens: Option<&SaslTokenProvider>,
    client_id: &str,
    timeout: Duration,
    max_frame: usize,
    host: &str,
) -> Result<Session, LoginError> {
    let mut conn = StreamExchange::new(stream, client_id, timeout, max_frame);
    let body = conn.round_trip(ApiKey::API_VERSIONS, 0, &[])?;
    let versions = decode_versions(&body)?;
    let range = |key: ApiKey| {
        versions
            .api_keys
            .iter()
            .find(|e| e.api_key == key.0)
            .map(|e| (e.min_version, e.max_version))
    };
    let handshake = range(ApiKey::SASL_HANDSHAKE).ok_or(LoginError::NoSasl)?;
    let authenticate = range(ApiKey::SASL_AUTHENTICATE);
    let mut mechanism = Mechanism::for_login(config, tokens, host, conn.deadline)?;
    let hint = tokens.map_or_else(|| credentials_hint(config), SaslTokenProvider::hint);

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
    reauthenticate_with(exchange, config, None, session, "")
}

/// [`reauthenticate`], with fresh credentials from `tokens` when given, to the broker host name
/// `host` (what AWS_MSK_IAM signs).
pub fn reauthenticate_with(
    exchange: &mut impl BrokerExchange,
    config: &SaslConfig,
    tokens: Option<&SaslTokenProvider>,
    session: &Session,
    host: &str,
) -> Result<Session, LoginError> {
    let version = session
        .authenticate_version
        .ok_or(LoginError::CannotReauthenticate)?;
    let mut mechanism = Mechanism::for_login(config, tokens, host, exchange.deadline())?;
    let hint = tokens.map_or_else(|| credentials_hint(config), SaslTokenProvider::hint);
    authenticate_framed(exchange, &mut mechanism, version, &hint)
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
            let hint = match mechanism.refusal() {
                Some(refusal) => format!("{refusal}; {hint}"),
                None => hint.to_string(),
            };
            return Err(LoginError::Rejected {
                mechanism: mechanism.name(),
                code: response.error_code,
                message: response.error_message.map(crate::logging::peer_text),
                hint,
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

impl<'a> StreamExchange<'a> {
    fn new(
        stream: &'a mut Stream,
        client_id: &'a str,
        timeout: Duration,
        max_frame: usize,
    ) -> Self {
        StreamExchange {
            stream,
            deadline: Deadline::after(timeout),
            correlation_id: 0,
            client_id,
            max_frame: max_frame.min(MAX_LOGIN_FRAME),
            out: Vec::new(),
        }
    }

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

    fn deadline(&self) -> Deadline {
        self.deadline
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

// The proxy's answers to a client's own SASL, in their own file; named here, where callers
// looked for them before.
#[cfg(any(test, feature = "fuzzing"))]
pub use super::client_sasl::fuzz_client_sasl;
pub use super::client_sasl::{
    answer_client_sasl, claimed_user, ClientSaslAnswer, CLIENT_MECHANISMS,
};

#[cfg(test)]
mod tests;
