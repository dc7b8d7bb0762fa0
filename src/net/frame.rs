//! Kafka framing on a byte stream: the 4-byte size prefix, its checks, and recognising peers that
//! are not speaking Kafka at all (TLS, HTTP), with errors worded for the person reading the log.
//! [`ConnError`], why a connection ended, is shared by the proxy and the authentication code;
//! it lives here, below both, so neither imports the other for it.

use crate::codec::api::ApiKey;
use crate::codec::rewrite::RewriteError;
use crate::codec::CodecError;
use std::fmt;
use std::io;

/// A failed broker login (`auth::upstream::LoginError`), kept whole for its message.
pub type AuthError = Box<dyn std::error::Error + Send + Sync>;

/// Which peer a failure is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Broker,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Broker => "broker",
        })
    }
}

/// Why a proxied connection ended. Each variant reads as a sentence in the log.
#[derive(Debug)]
pub enum ConnError {
    /// The peer closed the connection between frames: the normal end.
    Closed(Side),
    /// The peer closed the connection in the middle of a frame.
    ClosedMidFrame(Side),
    /// A socket operation failed.
    Io(Side, io::Error),
    /// A read or write did not complete in time.
    Timeout(Side, &'static str),
    /// The client had no request in flight for `--client-idle-timeout`.
    ClientIdle(std::time::Duration),
    /// The peer sent a size prefix that is negative or too small for a header.
    BadFrameSize(Side, i32),
    /// The peer sent a frame larger than `--max-frame-size`.
    FrameTooLarge(Side, usize, usize),
    /// The bytes look like a TLS handshake on a plaintext connection.
    TlsOnPlaintext(Side),
    /// The bytes look like HTTP.
    Http(Side),
    /// A response carried a different correlation id than the oldest request in flight.
    CorrelationMismatch {
        expected: i32,
        got: i32,
        api_key: ApiKey,
    },
    /// The broker sent a response although no request was waiting for one.
    UnexpectedResponse,
    /// The broker closed the connection while a request waited for its response.
    /// `None` during the legacy SASL exchange; else the request's API key and version.
    BrokerClosedAwaiting(Option<(ApiKey, i16)>),
    /// A request used an API key listed in `--forbidden-api-keys`.
    Forbidden(ApiKey),
    /// A request or response could not be decoded.
    Malformed(Side, ApiKey, i16, CodecError),
    /// A broker address in a response could not be mapped to a proxy listener.
    Unmapped(String),
    /// The proxy's SASL login to the broker (`--sasl-enable`) failed.
    BrokerLogin(AuthError),
    /// Re-authenticating the broker connection (KIP-368) failed.
    BrokerReauth(AuthError),
    /// The client's own SASL, refused while the proxy logs in to brokers itself.
    ClientSasl(String),
    /// The legacy SASL flow with a mechanism whose token count the proxy cannot know.
    UnsupportedLegacySasl(String),
    /// Authentication (local SASL or the gateway handshake) refused the peer; the message says
    /// who and why, never a password or a token.
    Refused(String),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Closed(side) => write!(f, "{side} closed the connection"),
            ConnError::ClosedMidFrame(side) => {
                write!(f, "{side} closed the connection in the middle of a frame")
            }
            ConnError::Io(side, e) => write!(f, "{side} connection failed: {e}"),
            ConnError::Timeout(side, what) => write!(f, "{side} timed out {what}"),
            ConnError::ClientIdle(idle) => write!(
                f,
                "client sent no request for {idle:?} (--client-idle-timeout); closing the idle \
                 connection"
            ),
            ConnError::BadFrameSize(side, size) => write!(
                f,
                "{side} sent an invalid frame size {size}: this peer is not speaking the Kafka protocol"
            ),
            ConnError::FrameTooLarge(side, size, max) => write!(
                f,
                "{side} sent a frame of {size} bytes, more than --max-frame-size ({max} bytes)"
            ),
            ConnError::TlsOnPlaintext(Side::Client) => write!(
                f,
                "client started a TLS handshake on a plaintext listener: configure the client for \
                 PLAINTEXT, or enable TLS on the proxy listener"
            ),
            ConnError::TlsOnPlaintext(Side::Broker) => write!(
                f,
                "broker answered with TLS on a plaintext connection: the broker listener expects \
                 TLS (enable --tls-enable) or the port is wrong"
            ),
            ConnError::Http(side) => write!(
                f,
                "{side} sent an HTTP request: this port speaks the Kafka protocol"
            ),
            ConnError::CorrelationMismatch {
                expected,
                got,
                api_key,
            } => write!(
                f,
                "broker answered with correlation id {got} while the oldest request in flight \
                 ({api_key}) has correlation id {expected}"
            ),
            ConnError::UnexpectedResponse => {
                write!(f, "broker sent a response while no request was in flight")
            }
            ConnError::BrokerClosedAwaiting(Some((api_key, version))) => {
                write!(
                    f,
                    "broker closed the connection while {api_key} v{version} waited for its \
                     response"
                )?;
                match api_key.kafka4_min_version() {
                    Some(min) if *version < min => write!(
                        f,
                        ": Apache Kafka 4.0 and later accept {api_key} v{min} and later only and \
                         close the connection on older versions (KIP-896), so the client is \
                         probably too old for this broker"
                    ),
                    _ => Ok(()),
                }
            }
            ConnError::BrokerClosedAwaiting(None) => write!(
                f,
                "broker closed the connection during the legacy SASL exchange \
                 (authentication failed?)"
            ),
            ConnError::Forbidden(api_key) => write!(
                f,
                "client sent {api_key}, which is in --forbidden-api-keys; closing the connection"
            ),
            ConnError::Malformed(side, api_key, version, e) => {
                write!(f, "{side} sent a malformed {api_key} v{version}: {e}")
            }
            ConnError::Unmapped(why) => f.write_str(why),
            ConnError::BrokerLogin(e) => write!(f, "SASL login to the broker failed: {e}"),
            ConnError::BrokerReauth(e) => {
                write!(f, "SASL re-authentication with the broker failed: {e}")
            }
            ConnError::ClientSasl(why) => f.write_str(why),
            ConnError::Refused(why) => f.write_str(why),
            ConnError::UnsupportedLegacySasl(mechanism) => write!(
                f,
                "client uses the legacy SaslHandshake v0 flow with mechanism \"{}\", which \
                 the proxy cannot pass through (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and \
                 OAUTHBEARER are supported); use a client with SaslAuthenticate",
                crate::logging::peer_text(mechanism)
            ),
        }
    }
}

impl std::error::Error for ConnError {}

impl ConnError {
    /// Whether this is an ordinary end of a connection rather than a problem worth a warning.
    ///
    /// A client's reset counts: a client that closes its socket while a response it no longer
    /// wants is still unread (the Java client closing a consumer with a fetch in flight, say)
    /// makes the kernel send RST instead of FIN. That is the client's way of hanging up, not a
    /// fault of the proxy or the broker.
    pub fn is_normal_close(&self) -> bool {
        match self {
            ConnError::Closed(_) => true,
            ConnError::Io(Side::Client, e) => e.kind() == io::ErrorKind::ConnectionReset,
            _ => false,
        }
    }

    /// A short label for the `cause` of `proxy_errors_total`: which peer, what went wrong.
    pub fn cause(&self) -> &'static str {
        let by_side = |side: &Side, client, broker| match side {
            Side::Client => client,
            Side::Broker => broker,
        };
        match self {
            ConnError::Closed(side) => by_side(side, "client_closed", "broker_closed"),
            ConnError::ClosedMidFrame(side) => {
                by_side(side, "client_closed_mid_frame", "broker_closed_mid_frame")
            }
            ConnError::Io(side, _) => by_side(side, "client_io", "broker_io"),
            ConnError::Timeout(side, _) => by_side(side, "client_timeout", "broker_timeout"),
            ConnError::ClientIdle(_) => "client_idle_timeout",
            ConnError::BadFrameSize(side, _) => {
                by_side(side, "client_bad_frame_size", "broker_bad_frame_size")
            }
            ConnError::FrameTooLarge(side, ..) => {
                by_side(side, "client_frame_too_large", "broker_frame_too_large")
            }
            ConnError::TlsOnPlaintext(side) => {
                by_side(side, "client_tls_on_plaintext", "broker_tls_on_plaintext")
            }
            ConnError::Http(side) => by_side(side, "client_http", "broker_http"),
            ConnError::CorrelationMismatch { .. } => "correlation_mismatch",
            ConnError::UnexpectedResponse => "unexpected_response",
            ConnError::BrokerClosedAwaiting(_) => "broker_closed_awaiting_response",
            ConnError::Forbidden(_) => "forbidden_api_key",
            ConnError::Malformed(side, ..) => by_side(side, "client_malformed", "broker_malformed"),
            ConnError::Unmapped(_) => "unmapped_broker",
            ConnError::BrokerLogin(_) => "broker_sasl_login",
            ConnError::BrokerReauth(_) => "broker_sasl_reauthentication",
            ConnError::ClientSasl(_) => "client_sasl_refused",
            ConnError::UnsupportedLegacySasl(_) => "unsupported_legacy_sasl",
            ConnError::Refused(_) => "auth_refused",
        }
    }

    /// From an I/O error on `side`, naming timeouts and resets plainly.
    pub fn io(side: Side, e: io::Error, doing: &'static str) -> ConnError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ConnError::Timeout(side, doing),
            io::ErrorKind::UnexpectedEof => ConnError::ClosedMidFrame(side),
            _ => ConnError::Io(side, e),
        }
    }

    pub fn rewrite(api_key: ApiKey, version: i16, e: RewriteError) -> ConnError {
        match e {
            RewriteError::Codec(e) => ConnError::Malformed(Side::Broker, api_key, version, e),
            RewriteError::Map(e) => ConnError::Unmapped(e.0),
        }
    }
}

/// Checks the 4-byte size prefix of a frame. `min` is the smallest size a valid frame has
/// (8 for a request: api key, version and correlation id; 4 for a response: correlation id).
/// The first frame of a connection is also checked for a TLS or HTTP greeting, which would
/// otherwise be reported as an absurd size.
pub fn check_size(
    side: Side,
    prefix: [u8; 4],
    min: usize,
    max: usize,
    first_frame: bool,
) -> Result<usize, ConnError> {
    if first_frame {
        // A TLS record starts with content type 22 (handshake) and major version 3.
        if prefix[0] == 0x16 && prefix[1] == 0x03 {
            return Err(ConnError::TlsOnPlaintext(side));
        }
        // A TLS alert record (21): a TLS server rejecting our plaintext.
        if prefix[0] == 0x15 && prefix[1] == 0x03 {
            return Err(ConnError::TlsOnPlaintext(side));
        }
        if matches!(&prefix, b"GET " | b"POST" | b"PUT " | b"HEAD" | b"HTTP") {
            return Err(ConnError::Http(side));
        }
    }
    let size = i32::from_be_bytes(prefix);
    if size < 0 || (size as usize) < min {
        return Err(ConnError::BadFrameSize(side, size));
    }
    let size = size as usize;
    if size > max {
        return Err(ConnError::FrameTooLarge(side, size, max));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 100 << 20;

    #[test]
    fn a_close_after_a_version_kafka_4_removed_says_so() {
        let old = ConnError::BrokerClosedAwaiting(Some((ApiKey::PRODUCE, 2))).to_string();
        assert!(old.contains("Produce (0) v2 waited"), "{old}");
        assert!(
            old.contains("accept Produce (0) v3 and later only"),
            "{old}"
        );
        assert!(old.contains("KIP-896"), "{old}");
        // A current version: the broker went away, the client is not to blame.
        let current = ConnError::BrokerClosedAwaiting(Some((ApiKey::FETCH, 18))).to_string();
        assert!(
            current.ends_with("Fetch (1) v18 waited for its response"),
            "{current}"
        );
        let unknown = ConnError::BrokerClosedAwaiting(Some((ApiKey(999), 0))).to_string();
        assert!(!unknown.contains("KIP-896"), "{unknown}");
    }

    #[test]
    fn a_client_reset_is_a_normal_close_a_broker_reset_is_not() {
        let reset = || io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(ConnError::io(Side::Client, reset(), "reading").is_normal_close());
        assert!(!ConnError::io(Side::Broker, reset(), "reading").is_normal_close());
        let refused = io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(!ConnError::io(Side::Client, refused, "writing").is_normal_close());
    }

    #[test]
    fn sizes() {
        assert_eq!(
            check_size(Side::Client, [0, 0, 0, 8], 8, MAX, true).unwrap(),
            8
        );
        assert!(matches!(
            check_size(Side::Client, [0, 0, 0, 7], 8, MAX, false),
            Err(ConnError::BadFrameSize(Side::Client, 7))
        ));
        assert!(matches!(
            check_size(Side::Broker, [0xff, 0xff, 0xff, 0xfe], 4, MAX, false),
            Err(ConnError::BadFrameSize(Side::Broker, -2))
        ));
        assert!(matches!(
            check_size(Side::Broker, [0x7f, 0xff, 0xff, 0xff], 4, MAX, false),
            Err(ConnError::FrameTooLarge(Side::Broker, 0x7fff_ffff, MAX))
        ));
    }

    #[test]
    fn recognises_tls_and_http() {
        let err = check_size(Side::Client, [0x16, 0x03, 0x01, 0x02], 8, MAX, true).unwrap_err();
        assert!(err
            .to_string()
            .contains("TLS handshake on a plaintext listener"));
        let err = check_size(Side::Broker, [0x15, 0x03, 0x03, 0x00], 4, MAX, true).unwrap_err();
        assert!(err.to_string().contains("broker answered with TLS"));
        let err = check_size(Side::Client, *b"GET ", 8, MAX, true).unwrap_err();
        assert!(err.to_string().contains("HTTP"));
        // Later frames are plain sizes: 0x1603.... is just too large.
        assert!(matches!(
            check_size(Side::Client, [0x16, 0x03, 0x01, 0x02], 8, MAX, false),
            Err(ConnError::FrameTooLarge(..))
        ));
    }
}
