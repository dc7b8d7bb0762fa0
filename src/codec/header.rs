//! Request and response headers, and the one request-body field the proxy reads before
//! forwarding a request: Produce's `Acks` (acks=0 requests get no response).
//!
//! Request header v1 is `ApiKey INT16, ApiVersion INT16, CorrelationId INT32, ClientId
//! NULLABLE_STRING`; v2 (flexible versions) adds a TAG_BUFFER. `ClientId` is a classic INT16
//! string even in v2. v0, without `ClientId`, was used only by ControlledShutdown v0 (removed in
//! Kafka 4.0). Response header v0 is `CorrelationId INT32`; v1 adds a TAG_BUFFER, except that
//! ApiVersions responses always use v0 (KIP-511).

use super::api::ApiKey;
use super::{check_version, CodecError, Reader, Result, Writer};

/// The API key whose v0 request used request header v0.
const CONTROLLED_SHUTDOWN: ApiKey = ApiKey(7);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    /// `None` when null, or absent (request header v0).
    pub client_id: Option<&'a str>,
}

/// The request header version (0, 1 or 2) of a request; `None` when the API key is unknown.
pub fn request_header_version(api_key: ApiKey, api_version: i16) -> Option<i16> {
    if api_key == CONTROLLED_SHUTDOWN && api_version == 0 {
        return Some(0);
    }
    api_key
        .is_flexible(api_version)
        .map(|flexible| if flexible { 2 } else { 1 })
}

/// Reads the 8 bytes every request header starts with: API key, version, correlation id.
/// `frame` is the request after its 4-byte size.
pub fn request_prefix(frame: &[u8]) -> Result<(ApiKey, i16, i32)> {
    let mut r = Reader::new(frame);
    let api_key = ApiKey(r.i16("RequestApiKey")?);
    let api_version = r.i16("RequestApiVersion")?;
    let correlation_id = r.i32("CorrelationId")?;
    Ok((api_key, api_version, correlation_id))
}

/// Parses a request header. `frame` is the request after its 4-byte size. Returns the header
/// and the offset of the body in `frame`. For an unknown API key the header version, and so
/// where the body starts, is unknown: the offset is `None`, and `client_id` is read if it can
/// be (headers v1 and v2 both start with it) and `None` otherwise.
pub fn parse_request_header(frame: &[u8]) -> Result<(RequestHeader<'_>, Option<usize>)> {
    let (api_key, api_version, correlation_id) = request_prefix(frame)?;
    let mut header = RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id: None,
    };
    let mut r = Reader::new(frame);
    r.take(8, "request header")?;
    let Some(header_version) = request_header_version(api_key, api_version) else {
        header.client_id = r.nullable_string("ClientId").ok().flatten();
        return Ok((header, None));
    };
    if header_version >= 1 {
        header.client_id = r.nullable_string("ClientId")?;
    }
    if header_version >= 2 {
        r.skip_tagged_fields("request header tags")?;
    }
    Ok((header, Some(r.position())))
}

/// Writes a request header in the version its API key and version call for (v1 for unknown
/// keys).
pub fn encode_request_header(header: &RequestHeader<'_>, out: &mut Vec<u8>) {
    let header_version = request_header_version(header.api_key, header.api_version).unwrap_or(1);
    let mut w = Writer::new(out);
    w.i16(header.api_key.0);
    w.i16(header.api_version);
    w.i32(header.correlation_id);
    if header_version >= 1 {
        w.nullable_string_flex(false, header.client_id);
    }
    if header_version >= 2 {
        w.uvarint(0);
    }
}

/// The offset of the body in a response (after its 4-byte size): 4 for response header v0,
/// 4 plus the TAG_BUFFER for v1.
pub fn response_body_offset(api_key: ApiKey, api_version: i16, frame: &[u8]) -> Result<usize> {
    let mut r = Reader::new(frame);
    r.i32("CorrelationId")?;
    match api_key.response_header_has_tags(api_version) {
        None => Err(CodecError::InvalidValue("response header version")),
        Some(false) => Ok(r.position()),
        Some(true) => {
            r.skip_tagged_fields("response header tags")?;
            Ok(r.position())
        }
    }
}

/// Writes a response header (with an empty TAG_BUFFER in v1) for a response to `api_key` at
/// `api_version`; v0 for unknown keys.
pub fn encode_response_header(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    out: &mut Vec<u8>,
) {
    let mut w = Writer::new(out);
    w.i32(correlation_id);
    if api_key.response_header_has_tags(api_version) == Some(true) {
        w.uvarint(0);
    }
}

/// Produce request versions whose `Acks` [`produce_acks`] finds: v0-2 (pre-4.0 brokers) have
/// it first; v3+ after `TransactionalId` (compact from v9). Up to the highest Produce version
/// the proxy lets clients negotiate ([`super::table::DECODED`]): a later request may have moved
/// `Acks`, so it is refused rather than misread.
pub const PRODUCE_REQUEST_VERSIONS: std::ops::RangeInclusive<i16> =
    0..=*super::table::versions(ApiKey::PRODUCE).end();

/// The `Acks` of a Produce request body. Only the start of the body is read, so a truncated
/// body fails with [`CodecError::Truncated`] only when it ends before `Acks`.
pub fn produce_acks(version: i16, body: &[u8]) -> Result<i16> {
    check_version(version, PRODUCE_REQUEST_VERSIONS, "Produce request version")?;
    let mut r = Reader::new(body);
    if version >= 3 {
        r.skip_nullable_string_flex(version >= 9, "TransactionalId")?;
    }
    r.i16("Acks")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_v1_literal() {
        // Metadata v4 from "rdkafka", then a body byte.
        let frame = [
            0, 3, 0, 4, 0, 0, 0, 9, 0, 7, b'r', b'd', b'k', b'a', b'f', b'k', b'a', 0xee,
        ];
        let (h, offset) = parse_request_header(&frame).unwrap();
        assert_eq!(
            h,
            RequestHeader {
                api_key: ApiKey::METADATA,
                api_version: 4,
                correlation_id: 9,
                client_id: Some("rdkafka"),
            }
        );
        assert_eq!(offset, Some(17));
        let mut out = Vec::new();
        encode_request_header(&h, &mut out);
        assert_eq!(out, frame[..17]);
        assert_eq!(request_prefix(&frame), Ok((ApiKey::METADATA, 4, 9)));
    }

    #[test]
    fn header_v2_with_tags_and_null_client_id() {
        // Metadata v12, null ClientId, a TAG_BUFFER holding an unknown tag 3.
        let frame = [
            0, 3, 0, 12, 0, 0, 1, 0, 0xff, 0xff, 1, 3, 2, 0xaa, 0xbb, 0x01,
        ];
        let (h, offset) = parse_request_header(&frame).unwrap();
        assert_eq!(h.client_id, None);
        assert_eq!(offset, Some(15));
        for cut in 0..15 {
            assert!(parse_request_header(&frame[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn header_versions() {
        let cases = [
            (ApiKey::API_VERSIONS, 0, 1),
            (ApiKey::API_VERSIONS, 3, 2),
            (ApiKey::SASL_HANDSHAKE, 1, 1),
            (ApiKey::PRODUCE, 8, 1),
            (ApiKey::PRODUCE, 9, 2),
            (ApiKey::DESCRIBE_CLUSTER, 0, 2),
            (CONTROLLED_SHUTDOWN, 0, 0),
            (CONTROLLED_SHUTDOWN, 1, 1),
        ];
        for (key, version, header_version) in cases {
            assert_eq!(request_header_version(key, version), Some(header_version));
            let h = RequestHeader {
                api_key: key,
                api_version: version,
                correlation_id: -5,
                client_id: Some("c"),
            };
            let mut frame = Vec::new();
            encode_request_header(&h, &mut frame);
            let len = frame.len();
            assert_eq!(len, [8, 11, 12][header_version as usize]);
            frame.extend_from_slice(b"body");
            let (parsed, offset) = parse_request_header(&frame).unwrap();
            assert_eq!(offset, Some(len));
            let expected_client = if header_version == 0 { None } else { Some("c") };
            assert_eq!(parsed.client_id, expected_client);
            assert_eq!(parsed.correlation_id, -5);
            for cut in 0..len {
                assert!(
                    matches!(
                        parse_request_header(&frame[..cut]),
                        Err(CodecError::Truncated(_))
                    ),
                    "{key} v{version} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn unknown_api_key() {
        let frame = [0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0, 1, b'x', 0];
        let (h, offset) = parse_request_header(&frame).unwrap();
        assert_eq!(h.api_key, ApiKey(999));
        assert_eq!(h.client_id, Some("x"));
        assert_eq!(offset, None);
        let (h, offset) = parse_request_header(&frame[..9]).unwrap();
        assert_eq!((h.client_id, offset), (None, None));
        assert!(parse_request_header(&frame[..7]).is_err());
        assert_eq!(request_header_version(ApiKey(999), 0), None);
    }

    #[test]
    fn response_headers() {
        let frame = [0, 0, 0, 7, 1, 3, 1, 0xff, 0x42];
        assert_eq!(response_body_offset(ApiKey::METADATA, 12, &frame), Ok(8));
        assert_eq!(response_body_offset(ApiKey::METADATA, 8, &frame), Ok(4));
        assert_eq!(response_body_offset(ApiKey::API_VERSIONS, 3, &frame), Ok(4));
        assert_eq!(
            response_body_offset(ApiKey(999), 0, &frame),
            Err(CodecError::InvalidValue("response header version"))
        );
        for cut in 0..8 {
            assert!(response_body_offset(ApiKey::METADATA, 12, &frame[..cut]).is_err());
        }
        for (key, version, len) in [
            (ApiKey::METADATA, 12, 5),
            (ApiKey::METADATA, 4, 4),
            (ApiKey::API_VERSIONS, 4, 4),
            (ApiKey::SASL_AUTHENTICATE, 2, 5),
        ] {
            let mut out = Vec::new();
            encode_response_header(key, version, 7, &mut out);
            assert_eq!(out.len(), len);
            assert_eq!(&out[..4], &[0, 0, 0, 7]);
            assert_eq!(response_body_offset(key, version, &out), Ok(len));
        }
    }

    #[test]
    fn produce_acks_every_version() {
        for version in PRODUCE_REQUEST_VERSIONS {
            for txn in [None, Some("txn-1")] {
                let mut body = Vec::new();
                let mut w = Writer::new(&mut body);
                if version >= 3 {
                    w.nullable_string_flex(version >= 9, txn);
                }
                w.i16(-1);
                w.i32(30_000);
                let acks_end = body.len() - 4;
                assert_eq!(produce_acks(version, &body), Ok(-1), "v{version}");
                assert_eq!(produce_acks(version, &body[..acks_end]), Ok(-1));
                for cut in 0..acks_end {
                    assert!(matches!(
                        produce_acks(version, &body[..cut]),
                        Err(CodecError::Truncated(_))
                    ));
                }
            }
        }
        // v3-8: NULLABLE_STRING "t", acks 0; v9+: COMPACT_NULLABLE_STRING "t", acks 0.
        assert_eq!(produce_acks(3, &[0, 1, b't', 0, 0]), Ok(0));
        assert_eq!(produce_acks(9, &[2, b't', 0, 0]), Ok(0));
        assert_eq!(produce_acks(2, &[0, 1]), Ok(1));
        assert_eq!(
            produce_acks(14, &[0, 0]),
            Err(CodecError::InvalidValue("Produce request version"))
        );
    }
}
