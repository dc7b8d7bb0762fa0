//! The table against the code it describes: every row's decoder, rewrite and cap, and every
//! version a row claims or refuses.

use super::*;
use crate::codec::api_versions::{self, cap_versions, encode_response, ApiVersionsResponse};
use crate::codec::header::PRODUCE_REQUEST_VERSIONS;
use crate::codec::node_endpoints::{FetchResponse, ProduceResponse, ShareResponse};
use crate::codec::rewrite::{
    needs_rewrite, rewrite_response, rewrite_response_tail, KeepAddresses,
};
use crate::codec::sasl::{SaslAuthenticateResponse, SaslHandshakeResponse};
use crate::codec::test_support::{FailMapper, RenameMapper};
use crate::codec::{describe_cluster, find_coordinator, metadata, node_endpoints};
use crate::codec::{CodecError, Result};

/// A response of `api_key` at `version` that names brokers (or, for ApiVersions, versions to
/// cap), built with each module's own test builder or encoder.
fn sample(api_key: ApiKey, version: i16) -> Vec<u8> {
    let mut out = Vec::new();
    match api_key {
        ApiKey::PRODUCE | ApiKey::FETCH | ApiKey::SHARE_FETCH | ApiKey::SHARE_ACKNOWLEDGE => {
            return node_endpoints::tests::sample(api_key, version)
        }
        ApiKey::METADATA => return metadata::tests::sample(version),
        ApiKey::FIND_COORDINATOR => return find_coordinator::tests::sample(version),
        ApiKey::DESCRIBE_CLUSTER => return describe_cluster::tests::sample(version),
        ApiKey::API_VERSIONS => return api_versions::tests::sample(version),
        ApiKey::SASL_HANDSHAKE => SaslHandshakeResponse {
            error_code: 0,
            mechanisms: vec!["PLAIN", "SCRAM-SHA-512"],
        }
        .encode(version, &mut out),
        ApiKey::SASL_AUTHENTICATE => SaslAuthenticateResponse {
            error_code: 0,
            error_message: None,
            auth_bytes: b"server-final",
            session_lifetime_ms: if version >= 1 { 3_600_000 } else { 0 },
            tagged: &[],
        }
        .encode(version, &mut out),
        _ => panic!("{api_key} has a row but no sample in this test"),
    }
    out
}

/// Decodes `body` with the row's decoder and encodes it again.
fn round_trip(api_key: ApiKey, version: i16, body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match api_key {
        ApiKey::PRODUCE => ProduceResponse::decode(version, body)?.encode(version, &mut out),
        ApiKey::FETCH => FetchResponse::decode(version, body)?.encode(version, &mut out),
        ApiKey::METADATA => MetadataResponse::decode(version, body)?.encode(version, &mut out),
        ApiKey::FIND_COORDINATOR => {
            FindCoordinatorResponse::decode(version, body)?.encode(version, &mut out)
        }
        ApiKey::DESCRIBE_CLUSTER => {
            DescribeClusterResponse::decode(version, body)?.encode(version, &mut out)
        }
        ApiKey::SHARE_FETCH => {
            ShareResponse::decode_share_fetch(version, body)?.encode(version, &mut out)
        }
        ApiKey::SHARE_ACKNOWLEDGE => {
            ShareResponse::decode_share_acknowledge(version, body)?.encode(version, &mut out)
        }
        ApiKey::API_VERSIONS => {
            ApiVersionsResponse::decode(version, body)?.encode(version, &mut out)?
        }
        ApiKey::SASL_HANDSHAKE => {
            SaslHandshakeResponse::decode(version, body)?.encode(version, &mut out)
        }
        ApiKey::SASL_AUTHENTICATE => {
            SaslAuthenticateResponse::decode(version, body)?.encode(version, &mut out)
        }
        _ => panic!("{api_key} has a row but no decoder in this test"),
    }
    Ok(out)
}

/// Whether `result` is the decoder refusing a version.
fn is_version_error<T>(result: &Result<T>) -> bool {
    matches!(result, Err(CodecError::InvalidValue(what)) if what.ends_with(" version"))
}

#[test]
fn one_row_per_api() {
    for (i, row) in DECODED.iter().enumerate() {
        assert!(
            DECODED[..i]
                .iter()
                .all(|other| other.api_key != row.api_key),
            "{} twice",
            row.api_key
        );
        assert!(!row.versions.is_empty(), "{}", row.api_key);
        assert_eq!(lookup(row.api_key).map(|r| r.api_key), Some(row.api_key));
        assert_eq!(versions(row.api_key), row.versions);
    }
    for key in -1..=200 {
        assert_eq!(
            lookup(ApiKey(key)).is_some(),
            DECODED.iter().any(|row| row.api_key == ApiKey(key))
        );
    }
}

#[test]
fn every_claimed_version_decodes_round_trips_and_rewrites() {
    for row in DECODED {
        let key = row.api_key;
        for version in row.versions.clone() {
            let body = sample(key, version);
            assert_eq!(
                round_trip(key, version, &body),
                Ok(body.clone()),
                "{key} v{version}"
            );
            let rewrites = !matches!(row.rewrite, Rewrite::DecodeOnly);
            assert_eq!(needs_rewrite(key, version), rewrites, "{key} v{version}");
            let mut out = Vec::new();
            let renamed =
                rewrite_response(key, version, &body, &mut RenameMapper::default(), &mut out);
            assert_eq!(renamed, Ok(rewrites), "{key} v{version}");
            if rewrites {
                assert!(
                    round_trip(key, version, &out).is_ok(),
                    "{key} v{version} rewritten"
                );
            }
            let kept = rewrite_response(key, version, &body, &mut KeepAddresses, &mut out);
            // Capping does not depend on the mapper; everything else keeps its addresses.
            let capped = matches!(row.rewrite, Rewrite::CapVersions);
            assert_eq!(kept, Ok(capped), "{key} v{version}");
        }
    }
}

#[test]
fn versions_outside_a_row() {
    for row in DECODED {
        let key = row.api_key;
        let (first, last) = (*row.versions.start(), *row.versions.end());
        let body = sample(key, last);
        let rewrites = !matches!(row.rewrite, Rewrite::DecodeOnly);
        let older = first.checked_sub(1).map(|v| (v, sample(key, first)));
        let newer = last.checked_add(1).map(|v| (v, body.clone()));
        if let Some((version, body)) = &older {
            let decoded = round_trip(key, *version, body);
            assert!(is_version_error(&decoded), "{key} v{version}: {decoded:?}");
            let carry_none = row.outside == Outside::OlderCarryNone;
            assert_eq!(needs_rewrite(key, *version), rewrites && !carry_none);
            let mut out = Vec::new();
            let rewritten = rewrite_response_tail(key, *version, body, &mut FailMapper, &mut out);
            match (rewrites, carry_none) {
                (true, false) => assert!(rewritten.is_err(), "{key} v{version}"),
                // Forwarded as bytes, and the mapper is never asked.
                _ => assert_eq!(rewritten, Ok(None), "{key} v{version}"),
            }
        }
        if let Some((version, body)) = &newer {
            let decoded = round_trip(key, *version, body);
            if row.outside == Outside::NewerAsNewest {
                assert_eq!(decoded.as_ref(), Ok(body), "{key} v{version}");
            } else {
                assert!(is_version_error(&decoded), "{key} v{version}: {decoded:?}");
            }
            assert_eq!(needs_rewrite(key, *version), rewrites, "{key} v{version}");
        }
    }
}

#[test]
fn api_versions_cap_is_the_table() {
    for row in DECODED {
        let max = *row.versions.end();
        assert_eq!(
            row.api_key.max_decoded_version(),
            Some(max),
            "{}",
            row.api_key
        );
        // What the proxy decodes is one Kafka 4.3.1 brokers serve, and so counted by name.
        assert!(
            row.api_key.name().is_some(),
            "{} not in API_TABLE",
            row.api_key
        );
        assert!(
            row.api_key.is_known_version(max),
            "{} max_known",
            row.api_key
        );
    }
    for key in -1..=200 {
        if lookup(ApiKey(key)).is_none() {
            assert_eq!(ApiKey(key).max_decoded_version(), None, "{key}");
        }
    }
    // A broker offering five versions past every row has each capped to the row's maximum.
    let offered: Vec<(i16, i16, i16)> = DECODED
        .iter()
        .map(|row| (row.api_key.0, 0, row.versions.end() + 5))
        .collect();
    let mut body = Vec::new();
    encode_response(3, 0, &offered, 0, &mut body).unwrap();
    assert_eq!(cap_versions(3, &mut body), Ok(true));
    let capped = ApiVersionsResponse::decode(3, &body).unwrap();
    for (row, entry) in DECODED.iter().zip(&capped.api_keys) {
        assert_eq!(entry.max_version, *row.versions.end(), "{}", row.api_key);
    }
}

#[test]
fn produce_acks_read_up_to_the_cap() {
    assert_eq!(
        PRODUCE_REQUEST_VERSIONS.end(),
        versions(ApiKey::PRODUCE).end()
    );
}

#[test]
fn the_address_keys_are_the_rewritten_rows() {
    let mut keys = super::ADDRESS_KEYS.to_vec();
    keys.sort_unstable();
    // Produce, Fetch (NodeEndpoints), Metadata, FindCoordinator, DescribeCluster, ShareFetch,
    // ShareAcknowledge.
    assert_eq!(keys, [0, 1, 3, 10, 60, 78, 79]);
}
