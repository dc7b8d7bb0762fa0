//! Entry points for the fuzz targets in `fuzz/`, also run on mutated samples by the unit tests.
//! Each takes arbitrary bytes, must not panic on any of them, and asserts (panics on) a broken
//! codec invariant.

use crate::codec::api::ApiKey;
use crate::codec::api_versions::{cap_versions, ApiVersionsResponse};
use crate::codec::describe_cluster::DescribeClusterResponse;
use crate::codec::find_coordinator::FindCoordinatorResponse;
use crate::codec::header::{
    encode_request_header, parse_request_header, produce_acks, request_prefix, response_body_offset,
};
use crate::codec::metadata::MetadataResponse;
use crate::codec::node_endpoints::{FetchResponse, ProduceResponse, ShareResponse, TopLevelField};
use crate::codec::rewrite::{
    rewrite_response, rewrite_response_tail, AddressMapper, Advertised, BrokerAddress,
    KeepAddresses, MapError, RewriteError,
};
use crate::codec::sasl::{
    handshake_request_mechanism, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::codec::table::DECODED;
use crate::net::frame::{check_size, Side};

/// The API of [`DECODED`]'s row `pick` (modulo its length): what an input's first byte selects.
fn decoded_api(pick: u8) -> ApiKey {
    DECODED[usize::from(pick) % DECODED.len()].api_key
}

const PROXY_HOST: &str = "proxy-host";
const PROXY_PORT: i32 = 1;

/// Advertises every broker as `proxy-host:1`.
struct ProxyHost;

impl AddressMapper for ProxyHost {
    fn advertise(&mut self, _: BrokerAddress<'_>) -> Result<Option<Advertised>, MapError> {
        Ok(Some(Advertised {
            host: PROXY_HOST.to_string(),
            port: PROXY_PORT,
        }))
    }
}

fn assert_proxy(host: &str, port: i32) {
    assert_eq!(
        (host, port),
        (PROXY_HOST, PROXY_PORT),
        "address not rewritten"
    );
}

/// [`rewrite_response_tail`] as the proxy runs it, with the new body put together whole:
/// `Ok(None)` when unchanged.
fn rewrite_whole(
    api_key: ApiKey,
    version: i16,
    body: &[u8],
    mapper: &mut dyn AddressMapper,
) -> Result<Option<Vec<u8>>, RewriteError> {
    let mut tail = Vec::new();
    let Some(kept) = rewrite_response_tail(api_key, version, body, mapper, &mut tail)? else {
        return Ok(None);
    };
    assert!(
        kept <= body.len(),
        "kept {kept} of a {}-byte body",
        body.len()
    );
    Ok(Some([&body[..kept], &tail].concat()))
}

/// `data[0]` picks a row of [`DECODED`], `data[1]` the version (0-23, past every decoded range),
/// the rest is the response body. A rewritten body must decode with every address replaced,
/// and rewriting it again must change nothing.
pub fn response_rewrite(data: &[u8]) {
    let [key, version, body @ ..] = data else {
        return;
    };
    let api_key = decoded_api(*key);
    let version = i16::from(*version % 24);
    let kept = rewrite_whole(api_key, version, body, &mut KeepAddresses);
    if api_key != ApiKey::API_VERSIONS {
        assert!(
            matches!(kept, Ok(None) | Err(_)),
            "KeepAddresses changed a body"
        );
    }
    let rewritten = rewrite_whole(api_key, version, body, &mut ProxyHost);
    assert_eq!(
        kept.is_err(),
        rewritten.is_err(),
        "decoding depends on the mapper"
    );
    let Ok(Some(out)) = rewritten else {
        return;
    };
    // The whole-body form puts the head back in front of the tail itself.
    let mut whole = Vec::new();
    assert_eq!(
        rewrite_response(api_key, version, body, &mut ProxyHost, &mut whole),
        Ok(true)
    );
    assert!(
        whole == out,
        "rewrite_response differs from the tail rewrite"
    );
    check_rewritten(api_key, version, &out);
    assert_eq!(
        rewrite_whole(api_key, version, &out, &mut ProxyHost),
        Ok(None),
        "rewriting is not idempotent"
    );
}

fn check_rewritten(api_key: ApiKey, version: i16, out: &[u8]) {
    match api_key {
        ApiKey::METADATA => {
            let msg = MetadataResponse::decode(version, out).expect("rewritten Metadata decodes");
            msg.brokers
                .iter()
                .for_each(|b| assert_proxy(&b.host, b.port));
        }
        ApiKey::FIND_COORDINATOR => {
            let msg = FindCoordinatorResponse::decode(version, out)
                .expect("rewritten FindCoordinator decodes");
            for c in msg.coordinators.iter().filter(|c| !c.is_placeholder()) {
                assert_proxy(&c.host, c.port);
            }
        }
        ApiKey::DESCRIBE_CLUSTER => {
            let msg = DescribeClusterResponse::decode(version, out)
                .expect("rewritten DescribeCluster decodes");
            msg.brokers
                .iter()
                .for_each(|b| assert_proxy(&b.host, b.port));
        }
        ApiKey::PRODUCE | ApiKey::FETCH => {
            let fields = if api_key == ApiKey::PRODUCE {
                ProduceResponse::decode(version, out).map(|m| m.tagged_fields)
            } else {
                FetchResponse::decode(version, out).map(|m| m.tagged_fields)
            }
            .expect("rewritten Produce/Fetch decodes");
            for field in &fields {
                if let TopLevelField::NodeEndpoints(endpoints) = field {
                    endpoints.iter().for_each(|e| assert_proxy(&e.host, e.port));
                }
            }
        }
        ApiKey::SHARE_FETCH | ApiKey::SHARE_ACKNOWLEDGE => {
            let msg = if api_key == ApiKey::SHARE_FETCH {
                ShareResponse::decode_share_fetch(version, out)
            } else {
                ShareResponse::decode_share_acknowledge(version, out)
            }
            .expect("rewritten share response decodes");
            msg.node_endpoints
                .iter()
                .for_each(|e| assert_proxy(&e.host, e.port));
        }
        ApiKey::API_VERSIONS => {
            let msg =
                ApiVersionsResponse::decode(version, out).expect("capped ApiVersions decodes");
            for e in &msg.api_keys {
                if let Some(cap) = ApiKey(e.api_key).max_decoded_version() {
                    assert!(
                        e.max_version <= cap || e.min_version > cap,
                        "not capped: {e:?}"
                    );
                }
            }
            assert_eq!(cap_versions(version, &mut out.to_vec()), Ok(false));
        }
        // SaslHandshake and SaslAuthenticate are decoded only: never rewritten.
        _ => panic!("{api_key} rewritten"),
    }
}

/// `data[0]` picks the version, the rest is a Metadata response body. What decodes must encode
/// to something that decodes to the same value and encodes to the same bytes again; canonical
/// input comes back byte for byte, other input (overlong varints, lengths below -1) no longer.
pub fn metadata_roundtrip(data: &[u8]) {
    let [version, body @ ..] = data else {
        return;
    };
    let version = i16::from(*version % 16);
    let Ok(msg) = MetadataResponse::decode(version, body) else {
        return;
    };
    let mut out = Vec::new();
    msg.encode(version, &mut out);
    assert!(out.len() <= body.len(), "re-encoding grew the body");
    let again = MetadataResponse::decode(version, &out).expect("re-encoded Metadata decodes");
    assert_eq!(again, msg);
    let mut twice = Vec::new();
    again.encode(version, &mut twice);
    assert_eq!(twice, out);
}

/// `data` is a request after its size. A parsed header must agree with the prefix and survive
/// re-encoding; reading the body's first fields must not panic.
pub fn request_header(data: &[u8]) {
    let Ok((header, offset)) = parse_request_header(data) else {
        return;
    };
    assert_eq!(
        request_prefix(data),
        Ok((header.api_key, header.api_version, header.correlation_id))
    );
    let _ = response_body_offset(header.api_key, header.api_version, data);
    let Some(offset) = offset else {
        return;
    };
    let body = data.get(offset..).expect("body offset within the frame");
    let _ = produce_acks(header.api_version, body);
    let _ = handshake_request_mechanism(body);
    let _ = SaslAuthenticateRequest::decode(header.api_version, body);
    let mut out = Vec::new();
    encode_request_header(&header, &mut out);
    let (again, again_offset) = parse_request_header(&out).expect("encoded header parses");
    assert_eq!(again, header);
    assert_eq!(again_offset, Some(out.len()));
}

/// Decode, encode, decode again: the value survives and the encoding is canonical (encoding it
/// again gives the same bytes), so input that was canonical comes back byte for byte. Other
/// input (overlong varints, lengths below -1 read as null) can only shrink.
macro_rules! check_roundtrip {
    ($what:literal, $version:expr, $body:expr, $decode:path) => {{
        if let Ok(msg) = $decode($version, $body) {
            let mut out = Vec::new();
            msg.encode($version, &mut out);
            assert!(
                out.len() <= $body.len(),
                concat!("re-encoding grew ", $what)
            );
            let again = $decode($version, &out).expect(concat!("re-encoded ", $what, " decodes"));
            assert_eq!(again, msg);
            let mut twice = Vec::new();
            again.encode($version, &mut twice);
            assert_eq!(twice, out, concat!($what, " encoding is not canonical"));
        }
    }};
}

/// `data[0]` picks the version, the rest is a FindCoordinator response body.
pub fn find_coordinator_roundtrip(data: &[u8]) {
    let [version, body @ ..] = data else {
        return;
    };
    let version = i16::from(*version % 8);
    check_roundtrip!(
        "FindCoordinator",
        version,
        body,
        FindCoordinatorResponse::decode
    );
}

/// `data[0]` picks the version, the rest is a DescribeCluster response body.
pub fn describe_cluster_roundtrip(data: &[u8]) {
    let [version, body @ ..] = data else {
        return;
    };
    let version = i16::from(*version % 4);
    check_roundtrip!(
        "DescribeCluster",
        version,
        body,
        DescribeClusterResponse::decode
    );
}

/// `data[0]` picks Produce, Fetch, ShareFetch or ShareAcknowledge, `data[1]` the version, the
/// rest is the response body whose NodeEndpoints (KIP-951) the proxy walks.
pub fn node_endpoints_roundtrip(data: &[u8]) {
    let [api, version, body @ ..] = data else {
        return;
    };
    let version = i16::from(*version % 20);
    match api % 4 {
        0 => check_roundtrip!("Produce", version, body, ProduceResponse::decode),
        1 => check_roundtrip!("Fetch", version, body, FetchResponse::decode),
        2 => check_roundtrip!(
            "ShareFetch",
            version,
            body,
            ShareResponse::decode_share_fetch
        ),
        _ => check_roundtrip!(
            "ShareAcknowledge",
            version,
            body,
            ShareResponse::decode_share_acknowledge
        ),
    }
}

/// `data[0]` picks the version (the high bit: request or response), the rest is an ApiVersions
/// request or response body. Both round-trip; capping a response changes only max versions,
/// and capping twice changes nothing.
pub fn api_versions_roundtrip(data: &[u8]) {
    use crate::codec::api_versions::ApiVersionsRequest;
    let [pick, body @ ..] = data else {
        return;
    };
    let version = i16::from(*pick & 0x7f) % 6;
    if pick & 0x80 != 0 {
        check_roundtrip!(
            "ApiVersions request",
            version,
            body,
            ApiVersionsRequest::decode
        );
        return;
    }
    let Ok(msg) = ApiVersionsResponse::decode(version, body) else {
        return;
    };
    let mut out = Vec::new();
    if msg.encode(version, &mut out).is_err() {
        return;
    }
    let again = ApiVersionsResponse::decode(version, &out).expect("re-encoded ApiVersions decodes");
    assert_eq!(again, msg);
    let mut twice = Vec::new();
    again
        .encode(version, &mut twice)
        .expect("a decoded ApiVersions encodes");
    assert_eq!(twice, out, "ApiVersions encoding is not canonical");

    let mut capped = body.to_vec();
    if cap_versions(version, &mut capped).is_err() {
        return;
    }
    let after = ApiVersionsResponse::decode(version, &capped).expect("capped ApiVersions decodes");
    assert_eq!(after.api_keys.len(), msg.api_keys.len());
    for (before, after) in msg.api_keys.iter().zip(&after.api_keys) {
        assert_eq!(
            (before.api_key, before.min_version),
            (after.api_key, after.min_version)
        );
        assert!(
            after.max_version <= before.max_version,
            "capping raised a version"
        );
    }
    assert_eq!(
        cap_versions(version, &mut capped),
        Ok(false),
        "capping twice"
    );
}

/// `data[0]` picks SaslHandshake or SaslAuthenticate, request or response, `data[1]` the
/// version; the rest is the body. Each round-trips. The whole input is also a response frame
/// as the broker login reads it.
pub fn sasl_codec(data: &[u8]) {
    let [pick, version, body @ ..] = data else {
        return;
    };
    let version = i16::from(*version % 4);
    match pick % 4 {
        0 => check_roundtrip!(
            "SaslHandshake request",
            version,
            body,
            SaslHandshakeRequest::decode
        ),
        1 => check_roundtrip!(
            "SaslHandshake response",
            version,
            body,
            SaslHandshakeResponse::decode
        ),
        2 => check_roundtrip!(
            "SaslAuthenticate request",
            version,
            body,
            SaslAuthenticateRequest::decode
        ),
        _ => check_roundtrip!(
            "SaslAuthenticate response",
            version,
            body,
            SaslAuthenticateResponse::decode
        ),
    }
    let api_key = if pick & 1 == 0 {
        ApiKey::SASL_HANDSHAKE
    } else {
        ApiKey::SASL_AUTHENTICATE
    };
    if let Ok(rest) = crate::auth::upstream::response_body(api_key, version, 7, body.to_vec()) {
        assert!(rest.len() + 4 <= body.len());
        assert!(body.ends_with(&rest));
    }
}

/// `data[0]` picks the side and `--max-frame-size`, the rest is a byte stream split into frames
/// as the pumps split it: size prefix checked (the first frame also for TLS and HTTP), then the
/// request prefix and header, or the response header. The frames taken end to end are the
/// bytes consumed.
pub fn frame_stream(data: &[u8]) {
    let [pick, stream @ ..] = data else {
        return;
    };
    let side = if pick & 0x80 == 0 {
        Side::Client
    } else {
        Side::Broker
    };
    let (min, max) = match side {
        Side::Client => (8, 16usize << (pick % 24)),
        Side::Broker => (4, 16usize << (pick % 24)),
    };
    let mut rest = stream;
    let mut first = true;
    let mut rebuilt = Vec::new();
    while let Some((prefix, after)) = rest.split_first_chunk::<4>() {
        let Ok(size) = check_size(side, *prefix, min, max, first) else {
            break;
        };
        assert!((min..=max).contains(&size), "size {size} passed the check");
        let Some(frame) = after.get(..size) else {
            break;
        };
        match side {
            Side::Client => request_header(frame),
            Side::Broker => {
                let api_key = decoded_api(frame[0]);
                if let Ok(offset) = response_body_offset(api_key, i16::from(frame[1] % 24), frame) {
                    assert!((4..=frame.len()).contains(&offset));
                }
            }
        }
        rebuilt.extend_from_slice(prefix);
        rebuilt.extend_from_slice(frame);
        rest = &after[size..];
        first = false;
    }
    assert_eq!(rebuilt, &stream[..stream.len() - rest.len()]);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::api_versions::encode_response;

    /// Valid samples as `[api index, version, body...]`.
    pub(crate) fn samples() -> Vec<Vec<u8>> {
        let node_endpoints_tail = [
            0x01, 0x00, 0x0E, 0x02, 0x00, 0x00, 0x00, 0x01, 0x03, 0x62, 0x31, 0x00, 0x00, 0x23,
            0x84, 0x00, 0x00,
        ];
        let mut api_versions = vec![7, 3];
        encode_response(
            3,
            0,
            &[(0, 0, 14), (3, 0, 13), (18, 0, 5)],
            0,
            &mut api_versions,
        )
        .unwrap();
        vec![
            // Produce v10, no topics.
            [&[0, 10, 1, 0, 0, 0, 0][..], &node_endpoints_tail].concat(),
            // Fetch v16, no topics.
            [
                &[1, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1][..],
                &node_endpoints_tail,
            ]
            .concat(),
            // Metadata v3: one broker, null cluster id, controller 1, no topics.
            vec![
                2, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 2, b'b', b'1', 0, 0, 0x23, 0x84, 0xff,
                0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 0,
            ],
            // Metadata v12: the same, compact.
            vec![
                2, 12, 0, 0, 0, 0, 2, 0, 0, 0, 1, 3, b'b', b'1', 0, 0, 0x23, 0x84, 0, 0, 0, 0, 0,
                0, 1, 1, 0,
            ],
            // FindCoordinator v4: one coordinator, one placeholder.
            vec![
                3, 4, 0, 0, 0, 0, 3, 2, b'g', 0, 0, 0, 1, 3, b'b', b'1', 0, 0, 0x23, 0x84, 0, 0, 0,
                0, 2, b'h', 0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff, 0, 15, 0, 0, 0,
            ],
            // FindCoordinator v1.
            vec![
                3, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1, 0, 2, b'b', b'1', 0, 0, 0x23, 0x84,
            ],
            // DescribeCluster v2.
            vec![
                4, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2, b'c', 0, 0, 0, 1, 2, 0, 0, 0, 1, 3, b'b', b'1', 0,
                0, 0x23, 0x84, 0, 0, 0, 0x80, 0, 0, 0, 0,
            ],
            // ShareAcknowledge v1, no topics.
            [
                &[6, 1, 0, 0, 0, 0, 0, 0, 0, 1][..],
                &node_endpoints_tail[3..],
                &[0],
            ]
            .concat(),
            api_versions,
        ]
    }

    /// A small xorshift generator: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn samples_rewrite() {
        for sample in samples() {
            let api_key = DECODED[usize::from(sample[0])].api_key;
            let version = i16::from(sample[1]);
            let changed = rewrite_whole(api_key, version, &sample[2..], &mut ProxyHost);
            assert!(matches!(changed, Ok(Some(_))), "{api_key} v{version}");
            response_rewrite(&sample);
        }
    }

    #[test]
    fn mutated_samples_do_not_panic() {
        let samples = samples();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..30_000 {
            let mut data = samples[rng.below(samples.len())].clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(data.len());
                match rng.below(5) {
                    0 => data[at] ^= 1 << rng.below(8),
                    1 => data[at] = [0, 0x7f, 0x80, 0xff][rng.below(4)],
                    2 => data.insert(at, rng.next() as u8),
                    3 if data.len() > 3 => {
                        data.remove(at);
                    }
                    _ => data.truncate(at.max(2)),
                }
            }
            response_rewrite(&data);
            metadata_roundtrip(&data[1..]);
            request_header(&data);
            request_header(&data[2..]);
        }
    }

    #[test]
    fn request_header_samples() {
        request_header(&[
            0, 3, 0, 12, 0, 0, 1, 0, 0xff, 0xff, 1, 3, 2, 0xaa, 0xbb, 0x01,
        ]);
        request_header(&[0, 0, 0, 9, 0, 0, 0, 1, 0, 1, b'c', 0, 0, 0xff, 0xff]);
        request_header(&[0x03, 0xe7, 0, 0, 0, 0, 0, 1]);
        request_header(&[]);
    }
}
