//! The client side of SASL/OAUTHBEARER (RFC 7628) as Kafka's `OAuthBearerSaslClient` speaks it,
//! for the proxy's upstream login with a token from `--sasl-plugin-command`.
//!
//! The client's first message is `n,,\x01auth=Bearer <token>\x01\x01` (a GS2 header without an
//! authorization id, the `auth` key, no extensions). A broker that accepts the token answers with
//! an empty challenge. One that refuses it answers with a JSON error (`{"status":"invalid_token"}`,
//! maybe `scope` and `openid-configuration`), to which the client must send a single `\x01`;
//! the broker then fails the exchange (SASL_AUTHENTICATION_FAILED). The error JSON is a broker's
//! (a peer's) bytes: it is size-checked, parsed with a fallback, and only its short fields reach
//! the log. The token never does.

use std::fmt;

pub mod server;

/// The longest bearer token sent: Kafka brokers accept SASL messages up to 512 KiB by default
/// (`sasl.server.max.receive.size`); real JWTs are a few KiB.
pub const MAX_TOKEN: usize = 64 * 1024;
/// The most of a broker's error challenge that is looked at.
pub const MAX_ERROR_CHALLENGE: usize = 4096;
/// Each field of the error shown in the log is cut to this many characters.
const MAX_FIELD: usize = 200;

/// The first client message for `token`; `Err` says why the token cannot be sent (never with
/// the token).
pub fn client_first_message(token: &str) -> Result<Vec<u8>, &'static str> {
    if token.is_empty() {
        return Err("the token is empty");
    }
    if token.len() > MAX_TOKEN {
        return Err("the token is longer than 64 KiB");
    }
    // RFC 6750 b64token: what Kafka's broker parses as a bearer token.
    if !server::is_b64token(token) {
        return Err("the token has characters a bearer token cannot have (RFC 6750 b64token)");
    }
    let mut out = Vec::with_capacity(token.len() + 20);
    out.extend_from_slice(b"n,,\x01auth=Bearer ");
    out.extend_from_slice(token.as_bytes());
    out.extend_from_slice(b"\x01\x01");
    Ok(out)
}

/// The broker's OAUTHBEARER error challenge, as far as it could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerError {
    pub status: Option<String>,
    pub scope: Option<String>,
    pub openid_configuration: Option<String>,
    /// The challenge itself, made printable and cut, when it was not the JSON expected.
    pub raw: Option<String>,
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(raw) = &self.raw {
            return write!(f, "error challenge \"{raw}\"");
        }
        write!(f, "status \"{}\"", self.status.as_deref().unwrap_or("?"))?;
        if let Some(scope) = &self.scope {
            write!(f, ", scope \"{scope}\"")?;
        }
        if let Some(config) = &self.openid_configuration {
            write!(f, ", openid-configuration \"{config}\"")?;
        }
        Ok(())
    }
}

fn field(value: &serde_json::Value, key: &str) -> Option<String> {
    let text = match value.get(key)? {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let cut: String = text.chars().take(MAX_FIELD).collect();
    Some(crate::logging::peer_text(&cut))
}

/// Reads a broker's error challenge; never fails (what is not JSON is shown as text).
pub fn parse_broker_error(challenge: &[u8]) -> BrokerError {
    let head = &challenge[..challenge.len().min(MAX_ERROR_CHALLENGE)];
    match serde_json::from_slice::<serde_json::Value>(head) {
        Ok(value) if value.is_object() => BrokerError {
            status: field(&value, "status"),
            scope: field(&value, "scope"),
            openid_configuration: field(&value, "openid-configuration"),
            raw: None,
        },
        _ => BrokerError {
            status: None,
            scope: None,
            openid_configuration: None,
            raw: Some(crate::logging::peer_bytes(
                &head[..head.len().min(MAX_FIELD)],
            )),
        },
    }
}

/// Where the client is in the exchange.
#[derive(Debug)]
pub enum OAuthBearerClient {
    /// Holding the first message, not sent yet.
    Ready(Vec<u8>),
    /// The first message went out; waiting for the broker's answer.
    Sent,
    /// The broker refused the token with this error; the client answered `\x01`.
    Refused(BrokerError),
}

/// What the client does with a broker's challenge.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Logged in.
    Done,
    /// Send these bytes (the `\x01` after an error).
    Send(Vec<u8>),
    /// The broker sent something the mechanism does not allow at this point.
    Unexpected(&'static str),
}

impl OAuthBearerClient {
    pub fn new(token: &str) -> Result<OAuthBearerClient, &'static str> {
        client_first_message(token).map(OAuthBearerClient::Ready)
    }

    pub fn first_message(&mut self) -> Vec<u8> {
        match std::mem::replace(self, OAuthBearerClient::Sent) {
            OAuthBearerClient::Ready(message) => message,
            other => {
                *self = other;
                Vec::new()
            }
        }
    }

    pub fn respond(&mut self, challenge: &[u8]) -> Step {
        match self {
            OAuthBearerClient::Sent if challenge.is_empty() => Step::Done,
            OAuthBearerClient::Sent => {
                *self = OAuthBearerClient::Refused(parse_broker_error(challenge));
                Step::Send(vec![0x01])
            }
            OAuthBearerClient::Refused(_) => {
                Step::Unexpected("the broker accepted the exchange after refusing the token")
            }
            OAuthBearerClient::Ready(_) => Step::Unexpected("a challenge before the first message"),
        }
    }

    /// The broker's error, once it refused the token.
    pub fn broker_error(&self) -> Option<&BrokerError> {
        match self {
            OAuthBearerClient::Refused(e) => Some(e),
            _ => None,
        }
    }
}

/// For the fuzz target: the parser of the broker's error challenge, and the client's steps.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_broker_error(data: &[u8]) {
    let error = parse_broker_error(data);
    let _ = error.to_string();
    if let Ok(mut client) = OAuthBearerClient::new("eyJhbGciOiJub25lIn0.e30.") {
        let _ = client.first_message();
        let _ = client.respond(data);
        let _ = client.respond(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_message_is_what_kafka_sends() {
        assert_eq!(
            client_first_message("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.").unwrap(),
            b"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.\x01\x01"
        );
        assert_eq!(
            client_first_message("a-b_c~d+e/f==").unwrap(),
            b"n,,\x01auth=Bearer a-b_c~d+e/f==\x01\x01"
        );
        for bad in ["", "=", "a b", "a\x01b", "tok\u{e9}n", "a=b"] {
            assert!(client_first_message(bad).is_err(), "{bad:?}");
        }
        assert!(client_first_message(&"a".repeat(MAX_TOKEN + 1)).is_err());
        assert!(client_first_message(&"a".repeat(MAX_TOKEN)).is_ok());
    }

    #[test]
    fn exchange_success_and_refusal() {
        let mut ok = OAuthBearerClient::new("abc").unwrap();
        assert_eq!(ok.first_message(), b"n,,\x01auth=Bearer abc\x01\x01");
        assert_eq!(ok.respond(b""), Step::Done);

        let mut refused = OAuthBearerClient::new("abc").unwrap();
        refused.first_message();
        let challenge = br#"{"status":"invalid_token", "scope":"kafka", "openid-configuration":"https://x/.well-known"}"#;
        assert_eq!(refused.respond(challenge), Step::Send(vec![1]));
        let error = refused.broker_error().unwrap();
        assert_eq!(error.status.as_deref(), Some("invalid_token"));
        assert_eq!(
            error.to_string(),
            "status \"invalid_token\", scope \"kafka\", openid-configuration \"https://x/.well-known\""
        );
        assert!(matches!(refused.respond(b""), Step::Unexpected(_)));
    }

    #[test]
    fn broker_errors_that_are_not_the_json_expected() {
        // Kafka does not escape the scope it puts in: a quote breaks the JSON.
        let e = parse_broker_error(br#"{"status":"insufficient_scope", "scope":"a"b"}"#);
        assert!(e.raw.is_some(), "{e:?}");
        assert!(e.to_string().starts_with("error challenge"));
        let e = parse_broker_error(b"\xff\x00garbage");
        assert!(e.raw.is_some());
        let e = parse_broker_error(b"[1,2]");
        assert!(e.raw.is_some());
        let e = parse_broker_error(br#"{"status":7}"#);
        assert_eq!(e.status.as_deref(), Some("7"));
        let long = format!(r#"{{"status":"{}"}}"#, "x".repeat(10_000));
        let e = parse_broker_error(long.as_bytes());
        assert!(e.to_string().len() < 600, "{e}");
        fuzz_broker_error(long.as_bytes());
        fuzz_broker_error(b"");
    }
}
