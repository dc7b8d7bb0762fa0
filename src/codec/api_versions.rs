//! ApiVersions (key 18): capping the versions a broker advertises to those the proxy decodes,
//! decoding and building responses, and the request.
//!
//! Response layouts: v0 `ErrorCode, ApiKeys[]`; v1-2 add `ThrottleTimeMs`; v3+ are flexible
//! (compact array, per-entry tags, top-level tags). v5 (KIP-1242, Kafka 4.4) changed only the
//! request, so every version from 3 up is read with the v3 layout; a layout change would show as
//! a decoding error, since the whole body must be consumed. Whatever version was asked for, a
//! response with ErrorCode 35 (UNSUPPORTED_VERSION) is in the v0 layout (KIP-511).

use super::api::ApiKey;
use super::{check_version, table, CodecError, Reader, Result, Writer};
use std::ops::RangeInclusive;

/// ErrorCode UNSUPPORTED_VERSION: the broker then answers in the v0 layout.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// ApiVersions response versions this module reads: from the first in [`table::DECODED`], and
/// every later one, since v3+ share one layout and a client picks its ApiVersions version before
/// it has seen any cap ([`table::Outside::NewerAsNewest`]).
pub const RESPONSE_VERSIONS: RangeInclusive<i16> =
    *table::versions(ApiKey::API_VERSIONS).start()..=i16::MAX;
/// ApiVersions request versions this module reads.
pub const REQUEST_VERSIONS: RangeInclusive<i16> = 0..=5;
const FIRST_FLEXIBLE: i16 = 3;

/// The layout a response is in: 0, 1 (also v2) or 3 (also v4, v5...).
fn response_layout(version: i16, error_code: i16) -> Result<i16> {
    check_version(version, RESPONSE_VERSIONS, "ApiVersions response version")?;
    Ok(match version {
        _ if error_code == UNSUPPORTED_VERSION => 0,
        0 => 0,
        1 | 2 => 1,
        _ => 3,
    })
}

/// One `ApiKeys` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiVersionsEntry<'a> {
    pub api_key: i16,
    pub min_version: i16,
    pub max_version: i16,
    /// The entry's raw TAG_BUFFER (v3+ layout); empty otherwise.
    pub tagged: &'a [u8],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiVersionsResponse<'a> {
    pub error_code: i16,
    pub api_keys: Vec<ApiVersionsEntry<'a>>,
    /// v1+ layouts.
    pub throttle_time_ms: Option<i32>,
    /// The body's raw TAG_BUFFER (supported and finalized features) in the v3+ layout.
    pub tagged: &'a [u8],
}

/// Walks the response, calling `entry` with the byte offset of each entry and its fields.
fn walk_response<'a>(
    version: i16,
    body: &'a [u8],
    mut entry: impl FnMut(usize, ApiVersionsEntry<'a>),
) -> Result<(i16, Option<i32>, &'a [u8])> {
    let mut r = Reader::new(body);
    let error_code = r.i16("ErrorCode")?;
    let layout = response_layout(version, error_code)?;
    let flexible = layout >= FIRST_FLEXIBLE;
    let min = if flexible { 7 } else { 6 };
    let count = r.array_len_nonnull(flexible, min, "ApiKeys")?;
    for _ in 0..count {
        let at = r.position();
        let api_key = r.i16("ApiKeys.ApiKey")?;
        let min_version = r.i16("ApiKeys.MinVersion")?;
        let max_version = r.i16("ApiKeys.MaxVersion")?;
        let tagged = if flexible {
            r.skip_tagged_fields("ApiKeys tags")?
        } else {
            &[]
        };
        entry(
            at,
            ApiVersionsEntry {
                api_key,
                min_version,
                max_version,
                tagged,
            },
        );
    }
    let throttle_time_ms = if layout >= 1 {
        Some(r.i32("ThrottleTimeMs")?)
    } else {
        None
    };
    let tagged = if flexible {
        r.skip_tagged_fields("ApiVersions response tags")?
    } else {
        &[]
    };
    r.expect_end("ApiVersions response")?;
    Ok((error_code, throttle_time_ms, tagged))
}

impl<'a> ApiVersionsResponse<'a> {
    /// Decodes a response to a request of `version`.
    pub fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        let mut api_keys = Vec::new();
        let (error_code, throttle_time_ms, tagged) =
            walk_response(version, body, |_, e| api_keys.push(e))?;
        Ok(ApiVersionsResponse {
            error_code,
            api_keys,
            throttle_time_ms,
            tagged,
        })
    }

    pub fn encode(&self, version: i16, out: &mut Vec<u8>) -> Result<()> {
        let layout = response_layout(version, self.error_code)?;
        let flexible = layout >= FIRST_FLEXIBLE;
        let mut w = Writer::new(out);
        w.i16(self.error_code);
        w.array_len(flexible, self.api_keys.len());
        for e in &self.api_keys {
            w.i16(e.api_key);
            w.i16(e.min_version);
            w.i16(e.max_version);
            if flexible {
                w.raw_tagged_fields(e.tagged);
            }
        }
        if layout >= 1 {
            w.i32(self.throttle_time_ms.unwrap_or(0));
        }
        if flexible {
            w.raw_tagged_fields(self.tagged);
        }
        Ok(())
    }
}

/// Builds an ApiVersions response body for a request of `version`: `entries` are
/// `(api_key, min_version, max_version)`, written without tagged fields. With `error_code` 35
/// the v0 layout is used, as a broker does.
pub fn encode_response(
    version: i16,
    error_code: i16,
    entries: &[(i16, i16, i16)],
    throttle_ms: i32,
    out: &mut Vec<u8>,
) -> Result<()> {
    ApiVersionsResponse {
        error_code,
        api_keys: entries
            .iter()
            .map(|&(api_key, min_version, max_version)| ApiVersionsEntry {
                api_key,
                min_version,
                max_version,
                tagged: &[],
            })
            .collect(),
        throttle_time_ms: Some(throttle_ms),
        tagged: &[],
    }
    .encode(version, out)
}

/// Lowers, in place, every advertised `MaxVersion` above what the proxy decodes for that API
/// ([`ApiKey::max_decoded_version`]), so no client negotiates a version the proxy cannot
/// parse. An entry whose `MinVersion` is already above the cap is left as it is: the proxy
/// cannot serve that API anyway, and an inverted range would be worse. Returns whether any
/// byte changed; the body is checked whole before anything is written.
pub fn cap_versions(version: i16, body: &mut [u8]) -> Result<bool> {
    // Offsets of the MaxVersion fields to lower, with the new value; collected first because
    // the reader borrows the body.
    let mut caps: Vec<(usize, i16)> = Vec::new();
    walk_response(version, body, |at, e| {
        if let Some(cap) = ApiKey(e.api_key).max_decoded_version() {
            if e.max_version > cap && e.min_version <= cap {
                caps.push((at + 4, cap));
            }
        }
    })?;
    for &(at, cap) in &caps {
        let field = body
            .get_mut(at..at + 2)
            .ok_or(CodecError::Truncated("ApiKeys.MaxVersion"))?;
        field.copy_from_slice(&cap.to_be_bytes());
    }
    Ok(!caps.is_empty())
}

/// An ApiVersions request body. v0-2 are empty; v3+ name the client software (KIP-511);
/// v5 (KIP-1242) adds the cluster id and node id the client expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiVersionsRequest<'a> {
    /// v3+ (empty before).
    pub client_software_name: &'a str,
    /// v3+ (empty before).
    pub client_software_version: &'a str,
    /// v5+; `None` is null (and always `None` before v5).
    pub cluster_id: Option<&'a str>,
    /// v5+ (-1 before).
    pub node_id: i32,
    /// The body's raw TAG_BUFFER (v3+); empty before.
    pub tagged: &'a [u8],
}

impl<'a> ApiVersionsRequest<'a> {
    /// A request as a client would send it, before v5 or with no cluster or node expected.
    pub fn new(client_software_name: &'a str, client_software_version: &'a str) -> Self {
        ApiVersionsRequest {
            client_software_name,
            client_software_version,
            cluster_id: None,
            node_id: -1,
            tagged: &[],
        }
    }

    pub fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(version, REQUEST_VERSIONS, "ApiVersions request version")?;
        let mut r = Reader::new(body);
        let mut req = ApiVersionsRequest::new("", "");
        if version >= FIRST_FLEXIBLE {
            req.client_software_name = r.compact_string("ClientSoftwareName")?;
            req.client_software_version = r.compact_string("ClientSoftwareVersion")?;
            if version >= 5 {
                req.cluster_id = r.compact_nullable_string("ClusterId")?;
                req.node_id = r.i32("NodeId")?;
            }
            req.tagged = r.skip_tagged_fields("ApiVersions request tags")?;
        }
        r.expect_end("ApiVersions request")?;
        Ok(req)
    }

    pub fn encode(&self, version: i16, out: &mut Vec<u8>) {
        if version < FIRST_FLEXIBLE {
            return;
        }
        let mut w = Writer::new(out);
        w.string_flex(true, self.client_software_name);
        w.string_flex(true, self.client_software_version);
        if version >= 5 {
            w.nullable_string_flex(true, self.cluster_id);
            w.i32(self.node_id);
        }
        w.raw_tagged_fields(self.tagged);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::test_support::assert_prefixes_and_trailing_fail;

    /// A response built by hand from the layouts: entries, throttle 0, and in the v3 layout
    /// per-entry tags (an unknown tag on the first entry) and a top-level FinalizedFeaturesEpoch.
    fn build(layout: i16, error_code: i16, entries: &[(i16, i16, i16)]) -> Vec<u8> {
        let flex = layout >= 3;
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.i16(error_code);
        w.array_len(flex, entries.len());
        for (i, &(k, min, max)) in entries.iter().enumerate() {
            w.i16(k);
            w.i16(min);
            w.i16(max);
            if flex && i == 0 {
                w.bytes(&[1, 9, 1, 0x42]);
            } else if flex {
                w.uvarint(0);
            }
        }
        if layout >= 1 {
            w.i32(0);
        }
        if flex {
            w.bytes(&[1, 1, 8, 0, 0, 0, 0, 0, 0, 0, 7]);
        }
        out
    }

    /// A 4.3-like broker's list: Produce 0-13, Fetch 4-18, Metadata 0-13, ApiVersions 0-5,
    /// SaslHandshake 0-1, an unknown key 1000 0-99, and invented future versions.
    const BROKER: [(i16, i16, i16); 7] = [
        (0, 0, 14),
        (1, 4, 18),
        (3, 0, 13),
        (18, 0, 5),
        (17, 0, 1),
        (1000, 0, 99),
        (60, 3, 4),
    ];
    const CAPPED: [(i16, i16, i16); 7] = [
        (0, 0, 13),
        (1, 4, 18),
        (3, 0, 13),
        (18, 0, 4),
        (17, 0, 1),
        (1000, 0, 99),
        // DescribeCluster 3-4: MinVersion above the cap of 2, left alone.
        (60, 3, 4),
    ];

    /// A 4.3-like broker's answer to a request of `version`, with versions to cap, for the
    /// table's test.
    pub(crate) fn sample(version: i16) -> Vec<u8> {
        build(layout_of(version), 0, &BROKER)
    }

    fn layout_of(version: i16) -> i16 {
        match version {
            0 => 0,
            1 | 2 => 1,
            _ => 3,
        }
    }

    #[test]
    fn caps_in_place_every_version() {
        for version in [0, 1, 2, 3, 4, 5, 6] {
            let layout = layout_of(version);
            let mut body = build(layout, 0, &BROKER);
            assert_eq!(cap_versions(version, &mut body), Ok(true), "v{version}");
            assert_eq!(body, build(layout, 0, &CAPPED), "v{version}");
            // Capping is idempotent.
            assert_eq!(cap_versions(version, &mut body), Ok(false));
        }
    }

    #[test]
    fn nothing_to_cap() {
        for version in [0, 2, 3, 4, 5] {
            let mut body = build(layout_of(version), 0, &CAPPED);
            let before = body.clone();
            assert_eq!(cap_versions(version, &mut body), Ok(false));
            assert_eq!(body, before);
        }
    }

    #[test]
    fn unsupported_version_answer_is_v0_layout() {
        // A 4.3 broker answering an ApiVersions v9 request: error 35, one entry for key 18.
        let literal = [0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4];
        for version in [3, 4, 5, 9] {
            let msg = ApiVersionsResponse::decode(version, &literal).unwrap();
            assert_eq!(msg.error_code, 35);
            assert_eq!(msg.throttle_time_ms, None);
            assert_eq!(msg.api_keys[0].max_version, 4);
            let mut body = literal;
            assert_eq!(cap_versions(version, &mut body), Ok(false));
            let mut out = Vec::new();
            msg.encode(version, &mut out).unwrap();
            assert_eq!(out, literal);
        }
        // A newer broker offering ApiVersions up to 7 gets capped to 4 in the same layout.
        let mut body = [0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 7];
        assert_eq!(cap_versions(9, &mut body), Ok(true));
        assert_eq!(body, literal);
        let mut out = Vec::new();
        encode_response(9, 35, &[(18, 0, 4)], 0, &mut out).unwrap();
        assert_eq!(out, literal);
    }

    #[test]
    fn decode_encode_every_version() {
        for version in 0..=5 {
            let body = build(layout_of(version), 0, &BROKER);
            let msg = ApiVersionsResponse::decode(version, &body).unwrap();
            assert_eq!(msg.api_keys.len(), BROKER.len());
            assert_eq!(msg.api_keys[3].max_version, 5);
            let mut out = Vec::new();
            msg.encode(version, &mut out).unwrap();
            assert_eq!(out, body, "v{version}");
            assert_prefixes_and_trailing_fail(&body, |b| {
                ApiVersionsResponse::decode(version, b).is_ok()
            });
            assert_prefixes_and_trailing_fail(&body, |b| {
                cap_versions(version, &mut b.to_vec()).is_ok()
            });
        }
    }

    #[test]
    fn a_failed_check_writes_nothing() {
        let mut body = build(3, 0, &BROKER);
        body.push(0);
        let before = body.clone();
        assert!(cap_versions(3, &mut body).is_err());
        assert_eq!(body, before);
        assert_eq!(
            cap_versions(-1, &mut build(0, 0, &BROKER)),
            Err(CodecError::InvalidValue("ApiVersions response version"))
        );
    }

    #[test]
    fn encode_response_layouts() {
        let entries = [(0, 0, 13), (18, 0, 4)];
        let mut out = Vec::new();
        encode_response(0, 0, &entries, 5, &mut out).unwrap();
        assert_eq!(
            out,
            [0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 13, 0, 18, 0, 0, 0, 4]
        );
        out.clear();
        encode_response(2, 0, &entries, 5, &mut out).unwrap();
        assert_eq!(&out[out.len() - 4..], [0, 0, 0, 5]);
        out.clear();
        encode_response(4, 0, &entries, 5, &mut out).unwrap();
        assert_eq!(
            out,
            [0, 0, 3, 0, 0, 0, 0, 0, 13, 0, 0, 18, 0, 0, 0, 4, 0, 0, 0, 0, 5, 0]
        );
        assert_eq!(
            ApiVersionsResponse::decode(4, &out).unwrap().api_keys.len(),
            2
        );
    }

    #[test]
    fn request_every_version() {
        let mut req = ApiVersionsRequest::new("apache-kafka-java", "4.3.1");
        for version in REQUEST_VERSIONS {
            if version >= 5 {
                req.cluster_id = Some("cluster-abc");
                req.node_id = 2;
            }
            let mut body = Vec::new();
            req.encode(version, &mut body);
            let mut expected = Vec::new();
            if version >= 3 {
                expected.push(18);
                expected.extend_from_slice(b"apache-kafka-java");
                expected.push(6);
                expected.extend_from_slice(b"4.3.1");
                if version >= 5 {
                    expected.push(12);
                    expected.extend_from_slice(b"cluster-abc");
                    expected.extend_from_slice(&[0, 0, 0, 2]);
                }
                expected.push(0);
            }
            assert_eq!(body, expected, "v{version}");
            let decoded = ApiVersionsRequest::decode(version, &body).unwrap();
            if version >= 3 {
                assert_eq!(decoded.client_software_name, "apache-kafka-java");
                assert_eq!(decoded.cluster_id, req.cluster_id.filter(|_| version >= 5));
            }
            let mut again = Vec::new();
            decoded.encode(version, &mut again);
            assert_eq!(again, body);
            assert_prefixes_and_trailing_fail(&body, |b| {
                ApiVersionsRequest::decode(version, b).is_ok()
            });
        }
        assert!(ApiVersionsRequest::decode(6, &[]).is_err());
    }
}
