use super::*;
use crate::codec::rewrite::{rewrite_response, rewrite_response_tail, KeepAddresses, MapError};
use crate::codec::table::RewriteFn;
use crate::codec::test_support::*;

/// `(NodeId, Host, Port, Rack)`.
type Ep<'a> = (i32, &'a str, i32, Option<&'a str>);

const EPS: [Ep<'static>; 2] = [(1, "b1", 9092, None), (3, "b3.internal", 9094, Some("r3"))];

/// A NodeEndpoints COMPACT_ARRAY, written by hand.
fn endpoints_value(eps: &[Ep<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.uvarint(eps.len() as u32 + 1);
    for &(id, host, port, rack) in eps {
        w.i32(id);
        w.uvarint(host.len() as u32 + 1);
        w.bytes(host.as_bytes());
        w.i32(port);
        match rack {
            None => w.uvarint(0),
            Some(rack) => {
                w.uvarint(rack.len() as u32 + 1);
                w.bytes(rack.as_bytes());
            }
        }
        w.uvarint(0);
    }
    out
}

fn renamed_value(eps: &[Ep<'_>]) -> Vec<u8> {
    let hosts: Vec<String> = eps.iter().map(|e| RenameMapper::host(e.0)).collect();
    let renamed: Vec<Ep> = eps
        .iter()
        .zip(&hosts)
        .map(|(e, h)| (e.0, h.as_str(), RenameMapper::port(e.0), e.3))
        .collect();
    endpoints_value(&renamed)
}

/// A TAG_BUFFER with the given fields in the given order.
fn tag_buffer(fields: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.uvarint(fields.len() as u32);
    for (tag, data) in fields {
        w.uvarint(*tag);
        w.uvarint(data.len() as u32);
        w.bytes(data);
    }
    out
}

/// The partition-level tag 0 (CurrentLeader in Produce, DivergingEpoch in Fetch): a struct
/// that must not be taken for NodeEndpoints.
fn partition_tag0(len: usize) -> Vec<u8> {
    let mut data = vec![0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05];
    data.resize(len - 1, 0x07);
    data.push(0);
    tag_buffer(&[(0, data)])
}

/// Produce v10-13 fields before the top-level TAG_BUFFER: two topics of two partitions,
/// with record errors, error messages and a partition-level tag 0.
fn produce_head(version: i16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.uvarint(3);
    for t in 0..2u8 {
        if version >= 13 {
            w.bytes(&[t + 1; 16]);
        } else {
            w.string_flex(true, if t == 0 { "orders" } else { "payments" });
        }
        w.uvarint(3);
        for p in 0..2 {
            w.i32(p);
            w.i16(if p == 0 { 6 } else { 0 });
            w.i64(100);
            w.i64(-1);
            w.i64(0);
            if p == 0 {
                w.uvarint(2);
                w.i32(0);
                w.nullable_string_flex(true, Some("bad record"));
                w.uvarint(0);
                w.nullable_string_flex(true, Some("NOT_LEADER_OR_FOLLOWER"));
                w.bytes(&partition_tag0(9));
            } else {
                w.uvarint(1);
                w.uvarint(0);
                w.uvarint(0);
            }
        }
        w.uvarint(0);
    }
    w.i32(0);
    out
}

/// Fetch v16-18 fields before the top-level TAG_BUFFER: two topics of two partitions, with
/// aborted transactions (null and not), record blobs (null, and bytes that look like a
/// TAG_BUFFER holding tag 0) and partition-level tags 0 and 1.
fn fetch_head() -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i32(0);
    w.i16(0);
    w.i32(12345);
    w.uvarint(3);
    for t in 0..2u8 {
        w.bytes(&[t + 7; 16]);
        w.uvarint(3);
        for p in 0..2 {
            w.i32(p);
            w.i16(0);
            w.i64(500);
            w.i64(500);
            w.i64(0);
            if p == 0 {
                w.uvarint(2);
                w.i64(42);
                w.i64(400);
                w.uvarint(0);
            } else {
                w.uvarint(0);
            }
            w.i32(-1);
            if p == 0 {
                let mut records = tag_buffer(&[(0, endpoints_value(&EPS))]);
                records.extend_from_slice(&[0xaa; 64]);
                w.nullable_bytes_flex(true, Some(&records));
                // DivergingEpoch (Epoch, EndOffset, tags) and CurrentLeader.
                let diverging = [0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 1, 0, 0];
                let leader = [0, 0, 0, 2, 0, 0, 0, 8, 0];
                w.bytes(&tag_buffer(&[
                    (0, diverging.to_vec()),
                    (1, leader.to_vec()),
                ]));
            } else {
                w.nullable_bytes_flex(true, None);
                w.uvarint(0);
            }
        }
        w.uvarint(0);
    }
    out
}

/// Top-level tag layouts to try: none, tag 0 alone, tag 0 then an unknown tag 7, and
/// unknown tags before and after tag 0 (out of order, kept as received).
fn top_level_cases(eps: &[Ep<'_>]) -> Vec<Vec<(u32, Vec<u8>)>> {
    vec![
        vec![],
        vec![(9, vec![1, 2, 3])],
        vec![(0, endpoints_value(eps))],
        vec![(0, endpoints_value(eps)), (7, vec![0xfe; 3])],
        vec![(5, vec![0x55]), (0, endpoints_value(eps)), (9, vec![])],
    ]
}

fn renamed_case(case: &[(u32, Vec<u8>)], eps: &[Ep<'_>]) -> Vec<(u32, Vec<u8>)> {
    case.iter()
        .map(|(tag, data)| match tag {
            0 => (0, renamed_value(eps)),
            _ => (*tag, data.clone()),
        })
        .collect()
}

/// The whole-body rewrite of each API's responses, through the table's dispatch as the proxy
/// runs it (the tail rewrite, with the head put back).
const REWRITE_PRODUCE: RewriteFn = |v, b, m, o| rewrite_response(ApiKey::PRODUCE, v, b, m, o);
const REWRITE_FETCH: RewriteFn = |v, b, m, o| rewrite_response(ApiKey::FETCH, v, b, m, o);
const REWRITE_SHARE_FETCH: RewriteFn =
    |v, b, m, o| rewrite_response(ApiKey::SHARE_FETCH, v, b, m, o);
const REWRITE_SHARE_ACKNOWLEDGE: RewriteFn =
    |v, b, m, o| rewrite_response(ApiKey::SHARE_ACKNOWLEDGE, v, b, m, o);

/// A response of `api_key` at `version` naming two brokers in its NodeEndpoints, for the
/// table's test.
pub(crate) fn sample(api_key: ApiKey, version: i16) -> Vec<u8> {
    let endpoints = endpoints_value(&EPS);
    match api_key {
        ApiKey::PRODUCE => [produce_head(version), tag_buffer(&[(0, endpoints)])].concat(),
        ApiKey::FETCH => [fetch_head(), tag_buffer(&[(0, endpoints)])].concat(),
        ApiKey::SHARE_FETCH => [share_fetch_head(), endpoints, vec![0]].concat(),
        ApiKey::SHARE_ACKNOWLEDGE => [share_acknowledge_head(version), endpoints, vec![0]].concat(),
        _ => panic!("{api_key} carries no NodeEndpoints"),
    }
}

/// The checks every Produce/Fetch version gets, for one head and every top-level layout.
fn check_top_level(
    version: i16,
    head: &[u8],
    rewrite: RewriteFn,
    decodes: impl Fn(&[u8]) -> bool,
    round_trip: impl Fn(&[u8]) -> Vec<u8>,
) {
    for case in top_level_cases(&EPS) {
        let mut body = head.to_vec();
        body.extend_from_slice(&tag_buffer(&case));
        assert_eq!(round_trip(&body), body, "v{version} {case:?}");
        let has_endpoints = case.iter().any(|(tag, _)| *tag == 0);
        let mut out = Vec::new();
        if has_endpoints {
            let mut mapper = RenameMapper::default();
            assert_eq!(rewrite(version, &body, &mut mapper, &mut out), Ok(true));
            assert_eq!(mapper.seen.len(), 2);
            let mut expected = head.to_vec();
            expected.extend_from_slice(&tag_buffer(&renamed_case(&case, &EPS)));
            assert_eq!(out, expected, "v{version} {case:?}");
            assert!(decodes(&out));
            assert_eq!(
                rewrite(version, &body, &mut FailMapper, &mut out),
                Err(RewriteError::Map(MapError(
                    "no listener for broker 1".to_string()
                )))
            );
        } else {
            // The fast path never asks the mapper: no NodeEndpoints, nothing to do.
            assert_eq!(
                rewrite(version, &body, &mut FailMapper, &mut out),
                Ok(false)
            );
        }
        assert_eq!(
            rewrite(version, &body, &mut KeepAddresses, &mut out),
            Ok(false)
        );
        assert_eq!(
            rewrite(version, &body, &mut SameMapper, &mut out),
            Ok(false)
        );
        assert_prefixes_and_trailing_fail(&body, &decodes);
        assert_prefixes_and_trailing_fail(&body, |b| {
            rewrite(version, b, &mut RenameMapper::default(), &mut Vec::new()).is_ok()
        });
    }
}

#[test]
fn worked_example_from_protocol_notes() {
    // §3: the tail of a Produce v10+ / Fetch v16+ body, NodeEndpoints = [{1, "b1", 9092, null}].
    let tail = [
        0x01, 0x00, 0x0E, 0x02, 0x00, 0x00, 0x00, 0x01, 0x03, 0x62, 0x31, 0x00, 0x00, 0x23, 0x84,
        0x00, 0x00,
    ];
    // The same after rewriting to proxy-1.example:19001; tag size 14 becomes 27.
    let mut rewritten = vec![0x01, 0x00, 0x1B, 0x02, 0x00, 0x00, 0x00, 0x01, 0x10];
    rewritten.extend_from_slice(b"proxy-1.example");
    rewritten.extend_from_slice(&[0x00, 0x00, 0x4A, 0x39, 0x00, 0x00]);

    let produce_head = [0x01, 0x00, 0x00, 0x00, 0x00]; // no topics, ThrottleTimeMs 0
    let fetch_head = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]; // throttle, error, session, no topics
    type Case<'h> = (&'h [u8], RewriteFn);
    let cases: [Case; 2] = [
        (&produce_head, REWRITE_PRODUCE),
        (&fetch_head, REWRITE_FETCH),
    ];
    for (head, rewrite) in cases {
        let version = if head.len() == 5 { 10 } else { 16 };
        let body = [head, &tail[..]].concat();
        let mut out = Vec::new();
        assert_eq!(
            rewrite(version, &body, &mut RenameMapper::default(), &mut out),
            Ok(true)
        );
        assert_eq!(out, [head, &rewritten[..]].concat());
        // The tail alone: the head is kept as it came.
        let mut tail_out = Vec::new();
        let api_key = if version == 16 {
            ApiKey::FETCH
        } else {
            ApiKey::PRODUCE
        };
        let mut mapper = RenameMapper::default();
        let kept = rewrite_response_tail(api_key, version, &body, &mut mapper, &mut tail_out);
        assert_eq!(kept, Ok(Some(head.len())));
        assert_eq!(tail_out, rewritten);
    }
    let body = [&produce_head[..], &tail[..]].concat();
    let msg = ProduceResponse::decode(10, &body).unwrap();
    let eps = msg.node_endpoints().unwrap();
    assert_eq!(eps.len(), 1);
    assert_eq!(
        (eps[0].node_id, &*eps[0].host, eps[0].port, eps[0].rack),
        (1, "b1", 9092, None)
    );
}

#[test]
fn produce_every_version() {
    for version in PRODUCE_VERSIONS {
        check_top_level(
            version,
            &produce_head(version),
            REWRITE_PRODUCE,
            |b| ProduceResponse::decode(version, b).is_ok(),
            |b| {
                let mut out = Vec::new();
                ProduceResponse::decode(version, b)
                    .unwrap()
                    .encode(version, &mut out);
                out
            },
        );
    }
}

#[test]
fn fetch_every_version() {
    for version in FETCH_VERSIONS {
        check_top_level(
            version,
            &fetch_head(),
            REWRITE_FETCH,
            |b| FetchResponse::decode(version, b).is_ok(),
            |b| {
                let mut out = Vec::new();
                FetchResponse::decode(version, b)
                    .unwrap()
                    .encode(version, &mut out);
                out
            },
        );
    }
}

#[test]
fn decoded_fields_keep_order_and_raw_bytes() {
    let mut body = fetch_head();
    body.extend_from_slice(&tag_buffer(&[
        (5, vec![0x55]),
        (0, endpoints_value(&EPS)),
        (9, vec![]),
    ]));
    let msg = FetchResponse::decode(17, &body).unwrap();
    assert_eq!(msg.head, &fetch_head()[..]);
    assert_eq!(msg.tagged_fields.len(), 3);
    assert_eq!(
        msg.tagged_fields[0],
        TopLevelField::Other(TaggedField {
            tag: 5,
            data: &[0x55]
        })
    );
    let eps = msg.node_endpoints().unwrap();
    assert_eq!(eps[1].host, "b3.internal");
    assert_eq!(eps[1].rack, Some("r3"));
}

#[test]
fn versions_outside_the_range() {
    // Dispatch never sends these, but they are harmless: no NodeEndpoints before v10/v16.
    let mut out = Vec::new();
    for version in [3, 9] {
        assert_eq!(
            REWRITE_PRODUCE(version, b"junk", &mut FailMapper, &mut out),
            Ok(false)
        );
    }
    for version in [4, 15] {
        assert_eq!(
            REWRITE_FETCH(version, b"junk", &mut FailMapper, &mut out),
            Ok(false)
        );
    }
    let invalid = |what| Err(RewriteError::Codec(CodecError::InvalidValue(what)));
    assert_eq!(
        REWRITE_PRODUCE(14, b"", &mut FailMapper, &mut out),
        invalid("Produce response version")
    );
    assert_eq!(
        REWRITE_FETCH(19, b"", &mut FailMapper, &mut out),
        invalid("Fetch response version")
    );
    assert_eq!(
        ProduceResponse::decode(9, b""),
        Err(CodecError::InvalidValue("Produce response version"))
    );
    for version in [0, 3] {
        assert_eq!(
            REWRITE_SHARE_FETCH(version, b"", &mut FailMapper, &mut out),
            invalid("ShareFetch response version")
        );
        assert_eq!(
            REWRITE_SHARE_ACKNOWLEDGE(version, b"", &mut FailMapper, &mut out),
            invalid("ShareAcknowledge response version")
        );
    }
}

#[test]
fn malformed_node_endpoints_value() {
    let head = produce_head(12);
    // Null array, a value longer than its array, and a truncated element.
    let mut long = endpoints_value(&EPS);
    long.push(0);
    let mut short = endpoints_value(&EPS);
    short.pop();
    for value in [vec![0], long, short] {
        let mut body = head.clone();
        body.extend_from_slice(&tag_buffer(&[(0, value)]));
        assert!(ProduceResponse::decode(12, &body).is_err());
        assert!(REWRITE_PRODUCE(12, &body, &mut KeepAddresses, &mut Vec::new()).is_err());
    }
}

#[test]
fn large_fetch_without_endpoints_is_not_copied() {
    // About 1 MiB: 2048 partitions of 512-byte record blobs.
    let mut body = Vec::new();
    let mut w = Writer::new(&mut body);
    w.i32(0);
    w.i16(0);
    w.i32(1);
    w.uvarint(2);
    w.bytes(&[1; 16]);
    w.uvarint(2049);
    for p in 0..2048 {
        w.i32(p);
        w.i16(0);
        w.i64(0);
        w.i64(0);
        w.i64(0);
        w.uvarint(0);
        w.i32(-1);
        w.nullable_bytes_flex(true, Some(&[0x5a; 512]));
        w.uvarint(0);
    }
    w.uvarint(0);
    let head_len = body.len();
    body.push(0);
    let mut out = Vec::new();
    assert_eq!(
        REWRITE_FETCH(18, &body, &mut FailMapper, &mut out),
        Ok(false)
    );
    assert!(out.is_empty());
    body.truncate(head_len);
    body.extend_from_slice(&tag_buffer(&[(0, endpoints_value(&EPS))]));
    assert_eq!(
        REWRITE_FETCH(18, &body, &mut RenameMapper::default(), &mut out),
        Ok(true)
    );
    assert_eq!(&out[..head_len], &body[..head_len]);
    let eps = FetchResponse::decode(18, &out).unwrap();
    assert_eq!(eps.node_endpoints().unwrap()[0].host, "proxy-1.example");
}

/// ShareFetch v1-2 fields before NodeEndpoints, written by hand.
fn share_fetch_head() -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i32(0);
    w.i16(0);
    w.nullable_string_flex(true, None);
    w.i32(30_000);
    w.uvarint(2);
    w.bytes(&[3; 16]);
    w.uvarint(3);
    for p in 0..2 {
        w.i32(p);
        w.i16(if p == 0 { 6 } else { 0 });
        w.nullable_string_flex(true, (p == 0).then_some("not leader"));
        w.i16(0);
        w.nullable_string_flex(true, None);
        w.i32(3);
        w.i32(7);
        w.uvarint(0);
        w.bytes_flex(true, if p == 0 { &[] } else { &[0x01, 0x00, 0x03] });
        w.uvarint(if p == 0 { 1 } else { 2 });
        if p == 1 {
            w.i64(10);
            w.i64(20);
            w.i16(1);
            w.uvarint(0);
        }
        w.uvarint(0);
    }
    w.uvarint(0);
    out
}

/// ShareAcknowledge fields before NodeEndpoints, written by hand.
fn share_acknowledge_head(version: i16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i32(0);
    w.i16(0);
    w.nullable_string_flex(true, Some("partial"));
    if version >= 2 {
        w.i32(30_000);
    }
    w.uvarint(2);
    w.bytes(&[4; 16]);
    w.uvarint(2);
    w.i32(0);
    w.i16(6);
    w.nullable_string_flex(true, None);
    w.i32(3);
    w.i32(7);
    w.bytes(&[1, 0, 1, 0]); // CurrentLeader's tags: an unknown tag 0 of one byte
    w.uvarint(0);
    w.uvarint(0);
    out
}

#[test]
fn share_responses_every_version() {
    type Decode = for<'a> fn(i16, &'a [u8]) -> Result<ShareResponse<'a>>;
    let cases: [(Vec<u8>, i16, RewriteFn, Decode); 4] = [
        (share_fetch_head(), 1, REWRITE_SHARE_FETCH, |v, b| {
            ShareResponse::decode_share_fetch(v, b)
        }),
        (share_fetch_head(), 2, REWRITE_SHARE_FETCH, |v, b| {
            ShareResponse::decode_share_fetch(v, b)
        }),
        (
            share_acknowledge_head(1),
            1,
            REWRITE_SHARE_ACKNOWLEDGE,
            |v, b| ShareResponse::decode_share_acknowledge(v, b),
        ),
        (
            share_acknowledge_head(2),
            2,
            REWRITE_SHARE_ACKNOWLEDGE,
            |v, b| ShareResponse::decode_share_acknowledge(v, b),
        ),
    ];
    for (head, version, rewrite, decode) in cases {
        for (eps, tags) in [(&EPS[..], vec![0u8]), (&[][..], vec![1, 7, 1, 0x77])] {
            let body = [&head[..], &endpoints_value(eps), &tags].concat();
            let msg = decode(version, &body).unwrap();
            assert_eq!(msg.head, &head[..]);
            assert_eq!(msg.node_endpoints.len(), eps.len());
            let mut out = Vec::new();
            msg.encode(version, &mut out);
            assert_eq!(out, body);
            out.clear();
            let mut mapper = RenameMapper::default();
            assert_eq!(
                rewrite(version, &body, &mut mapper, &mut out),
                Ok(!eps.is_empty())
            );
            if !eps.is_empty() {
                assert_eq!(out, [&head[..], &renamed_value(eps), &tags].concat());
                assert_eq!(
                    rewrite(version, &body, &mut FailMapper, &mut out),
                    Err(RewriteError::Map(MapError(
                        "no listener for broker 1".to_string()
                    )))
                );
            }
            assert_eq!(
                rewrite(version, &body, &mut KeepAddresses, &mut out),
                Ok(false)
            );
            assert_eq!(
                rewrite(version, &body, &mut SameMapper, &mut out),
                Ok(false)
            );
            assert_prefixes_and_trailing_fail(&body, |b| decode(version, b).is_ok());
        }
    }
}
