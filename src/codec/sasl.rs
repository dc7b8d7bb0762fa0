//! SaslHandshake (key 17, v0-1, never flexible) and SaslAuthenticate (key 36, v0-2, flexible
//! from v2) requests and responses. After a successful SaslHandshake v0 the SASL tokens travel
//! as bare INT32-length-prefixed frames, not as Kafka messages; that framing is the proxy's.

use super::api::ApiKey;
use super::{check_version, table, Reader, Result, Writer};
use std::ops::RangeInclusive;

/// The SaslHandshake versions decoded (requests and responses), from [`table::DECODED`].
pub const HANDSHAKE_VERSIONS: RangeInclusive<i16> = table::versions(ApiKey::SASL_HANDSHAKE);
/// The SaslAuthenticate versions decoded (requests and responses), from [`table::DECODED`].
pub const AUTHENTICATE_VERSIONS: RangeInclusive<i16> = table::versions(ApiKey::SASL_AUTHENTICATE);
const AUTHENTICATE_FIRST_FLEXIBLE: i16 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaslHandshakeRequest<'a> {
    pub mechanism: &'a str,
}

impl<'a> SaslHandshakeRequest<'a> {
    pub fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(version, HANDSHAKE_VERSIONS, "SaslHandshake request version")?;
        let mut r = Reader::new(body);
        let mechanism = r.string("Mechanism")?;
        r.expect_end("SaslHandshake request")?;
        Ok(SaslHandshakeRequest { mechanism })
    }

    pub fn encode(&self, _version: i16, out: &mut Vec<u8>) {
        Writer::new(out).string_flex(false, self.mechanism);
    }
}

/// The mechanism a SaslHandshake request (v0 and v1 share the layout) asks for.
pub fn handshake_request_mechanism(body: &[u8]) -> Result<&str> {
    SaslHandshakeRequest::decode(0, body).map(|req| req.mechanism)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslHandshakeResponse<'a> {
    pub error_code: i16,
    /// The mechanisms the broker enables.
    pub mechanisms: Vec<&'a str>,
}

impl<'a> SaslHandshakeResponse<'a> {
    pub fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(
            version,
            HANDSHAKE_VERSIONS,
            "SaslHandshake response version",
        )?;
        let mut r = Reader::new(body);
        let error_code = r.i16("ErrorCode")?;
        // Each mechanism takes at least its INT16 length: that bounds the allocation.
        let count = r.array_len_nonnull(false, 2, "Mechanisms")?;
        let mut mechanisms = Vec::with_capacity(count);
        for _ in 0..count {
            mechanisms.push(r.string("Mechanisms")?);
        }
        r.expect_end("SaslHandshake response")?;
        Ok(SaslHandshakeResponse {
            error_code,
            mechanisms,
        })
    }

    pub fn encode(&self, _version: i16, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.i16(self.error_code);
        w.array_len(false, self.mechanisms.len());
        for m in &self.mechanisms {
            w.string_flex(false, m);
        }
    }
}

/// The ErrorCode of a SaslHandshake response (v0 and v1 share the layout), after checking the
/// whole body.
pub fn handshake_response_error(body: &[u8]) -> Result<i16> {
    SaslHandshakeResponse::decode(0, body).map(|resp| resp.error_code)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaslAuthenticateRequest<'a> {
    pub auth_bytes: &'a [u8],
    /// The body's raw TAG_BUFFER (v2+); empty before.
    pub tagged: &'a [u8],
}

impl<'a> SaslAuthenticateRequest<'a> {
    pub fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(
            version,
            AUTHENTICATE_VERSIONS,
            "SaslAuthenticate request version",
        )?;
        let flexible = version >= AUTHENTICATE_FIRST_FLEXIBLE;
        let mut r = Reader::new(body);
        let auth_bytes = r.bytes_flex(flexible, "AuthBytes")?;
        let tagged = if flexible {
            r.skip_tagged_fields("SaslAuthenticate request tags")?
        } else {
            &[]
        };
        r.expect_end("SaslAuthenticate request")?;
        Ok(SaslAuthenticateRequest { auth_bytes, tagged })
    }

    pub fn encode(&self, version: i16, out: &mut Vec<u8>) {
        let flexible = version >= AUTHENTICATE_FIRST_FLEXIBLE;
        let mut w = Writer::new(out);
        w.bytes_flex(flexible, self.auth_bytes);
        if flexible {
            w.raw_tagged_fields(self.tagged);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaslAuthenticateResponse<'a> {
    pub error_code: i16,
    pub error_message: Option<&'a str>,
    pub auth_bytes: &'a [u8],
    /// v1+ (KIP-368 re-authentication); 0 at v0.
    pub session_lifetime_ms: i64,
    /// The body's raw TAG_BUFFER (v2+); empty before.
    pub tagged: &'a [u8],
}

impl<'a> SaslAuthenticateResponse<'a> {
    pub fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(
            version,
            AUTHENTICATE_VERSIONS,
            "SaslAuthenticate response version",
        )?;
        let flexible = version >= AUTHENTICATE_FIRST_FLEXIBLE;
        let mut r = Reader::new(body);
        let error_code = r.i16("ErrorCode")?;
        let error_message = r.nullable_string_flex(flexible, "ErrorMessage")?;
        let auth_bytes = r.bytes_flex(flexible, "AuthBytes")?;
        let session_lifetime_ms = if version >= 1 {
            r.i64("SessionLifetimeMs")?
        } else {
            0
        };
        let tagged = if flexible {
            r.skip_tagged_fields("SaslAuthenticate response tags")?
        } else {
            &[]
        };
        r.expect_end("SaslAuthenticate response")?;
        Ok(SaslAuthenticateResponse {
            error_code,
            error_message,
            auth_bytes,
            session_lifetime_ms,
            tagged,
        })
    }

    pub fn encode(&self, version: i16, out: &mut Vec<u8>) {
        let flexible = version >= AUTHENTICATE_FIRST_FLEXIBLE;
        let mut w = Writer::new(out);
        w.i16(self.error_code);
        w.nullable_string_flex(flexible, self.error_message);
        w.bytes_flex(flexible, self.auth_bytes);
        if version >= 1 {
            w.i64(self.session_lifetime_ms);
        }
        if flexible {
            w.raw_tagged_fields(self.tagged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::assert_prefixes_and_trailing_fail;
    use crate::codec::CodecError;

    #[test]
    fn handshake_request() {
        let body = [0, 5, b'P', b'L', b'A', b'I', b'N'];
        for version in HANDSHAKE_VERSIONS {
            let req = SaslHandshakeRequest::decode(version, &body).unwrap();
            assert_eq!(req.mechanism, "PLAIN");
            let mut out = Vec::new();
            req.encode(version, &mut out);
            assert_eq!(out, body);
            assert_prefixes_and_trailing_fail(&body, |b| {
                SaslHandshakeRequest::decode(version, b).is_ok()
            });
        }
        assert_eq!(handshake_request_mechanism(&body), Ok("PLAIN"));
        assert_eq!(
            handshake_request_mechanism(&body[..4]),
            Err(CodecError::Truncated("Mechanism"))
        );
        assert!(SaslHandshakeRequest::decode(2, &body).is_err());
        assert!(handshake_request_mechanism(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn handshake_response() {
        // UNSUPPORTED_SASL_MECHANISM (33) with PLAIN and SCRAM-SHA-512 enabled.
        let mut body = vec![0, 33, 0, 0, 0, 2, 0, 5];
        body.extend_from_slice(b"PLAIN");
        body.extend_from_slice(&[0, 13]);
        body.extend_from_slice(b"SCRAM-SHA-512");
        for version in HANDSHAKE_VERSIONS {
            let resp = SaslHandshakeResponse::decode(version, &body).unwrap();
            assert_eq!(resp.error_code, 33);
            assert_eq!(resp.mechanisms, ["PLAIN", "SCRAM-SHA-512"]);
            let mut out = Vec::new();
            resp.encode(version, &mut out);
            assert_eq!(out, body);
            assert_prefixes_and_trailing_fail(&body, |b| {
                SaslHandshakeResponse::decode(version, b).is_ok()
            });
        }
        assert_eq!(handshake_response_error(&body), Ok(33));
        assert_eq!(handshake_response_error(&[0, 0, 0, 0, 0, 0]), Ok(0));
        // A count the body cannot hold is refused before allocating.
        assert_eq!(
            SaslHandshakeResponse::decode(1, &[0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0]),
            Err(CodecError::InvalidLength("Mechanisms"))
        );
    }

    #[test]
    fn authenticate_request_every_version() {
        let token = b"\0user\0secret";
        for version in AUTHENTICATE_VERSIONS {
            let mut body = Vec::new();
            if version >= 2 {
                body.push(token.len() as u8 + 1);
                body.extend_from_slice(token);
                body.extend_from_slice(&[1, 5, 1, 0x01]); // unknown tag 5
            } else {
                body.extend_from_slice(&(token.len() as i32).to_be_bytes());
                body.extend_from_slice(token);
            }
            let req = SaslAuthenticateRequest::decode(version, &body).unwrap();
            assert_eq!(req.auth_bytes, token);
            let mut out = Vec::new();
            req.encode(version, &mut out);
            assert_eq!(out, body, "v{version}");
            assert_prefixes_and_trailing_fail(&body, |b| {
                SaslAuthenticateRequest::decode(version, b).is_ok()
            });
        }
        // AuthBytes may not be null.
        assert!(SaslAuthenticateRequest::decode(0, &[0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(SaslAuthenticateRequest::decode(2, &[0, 0]).is_err());
        assert!(SaslAuthenticateRequest::decode(3, &[1, 0]).is_err());
    }

    #[test]
    fn authenticate_response_every_version() {
        for version in AUTHENTICATE_VERSIONS {
            for (error_code, message, token) in [
                (0, None, &b"server-final"[..]),
                (58, Some("Authentication failed"), &b""[..]),
            ] {
                let flex = version >= 2;
                let mut body = Vec::new();
                let mut w = Writer::new(&mut body);
                w.i16(error_code);
                w.nullable_string_flex(flex, message);
                w.nullable_bytes_flex(flex, Some(token));
                if version >= 1 {
                    w.i64(3_600_000);
                }
                if flex {
                    w.uvarint(0);
                }
                let resp = SaslAuthenticateResponse::decode(version, &body).unwrap();
                assert_eq!(resp.error_code, error_code);
                assert_eq!(resp.error_message, message);
                assert_eq!(resp.auth_bytes, token);
                let lifetime = if version >= 1 { 3_600_000 } else { 0 };
                assert_eq!(resp.session_lifetime_ms, lifetime);
                let mut out = Vec::new();
                resp.encode(version, &mut out);
                assert_eq!(out, body, "v{version}");
                assert_prefixes_and_trailing_fail(&body, |b| {
                    SaslAuthenticateResponse::decode(version, b).is_ok()
                });
            }
        }
    }
}
