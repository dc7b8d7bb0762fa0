//! The proxy's answers to a client's own SaslHandshake and SaslAuthenticate while it logs in to
//! brokers itself (`--sasl-enable` without `--auth-local-enable`): PLAIN and OAUTHBEARER are
//! accepted unchecked and never forwarded, other mechanisms are refused.

use super::upstream::{ILLEGAL_SASL_STATE, UNSUPPORTED_SASL_MECHANISM};
use crate::codec::api::ApiKey;
use crate::codec::header;
use crate::codec::sasl::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::codec::CodecError;

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
