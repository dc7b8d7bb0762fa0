//! The frames the load generator sends and the scripted broker answers with, built once with
//! the library's `Writer`. Requests carry a correlation id at bytes 8..12 of the frame and
//! responses at bytes 4..8, which the sender patches per request.

use kafka_proxy::codec::node_endpoints::{FetchResponse, ProduceResponse};
use kafka_proxy::codec::{TaggedField, Writer};
use std::net::SocketAddr;

/// Produce batches of the large workloads.
pub const PRODUCE_BATCH: usize = 64 * 1024;
/// Bytes of records in a Fetch response: 16 partitions of 64 KiB (a response spread over
/// partitions, so the walk of Fetch v16 has something to walk).
pub const FETCH_PARTITIONS: usize = 16;
pub const FETCH_RECORDS: usize = 1024 * 1024;
/// The topic id of the flexible workloads.
const TOPIC_ID: [u8; 16] = *b"kafka-proxy-perf";

/// Where a response's correlation id sits in the frame.
pub const RESPONSE_CORRELATION: std::ops::Range<usize> = 4..8;
/// Where a request's correlation id sits in the frame.
pub const REQUEST_CORRELATION: std::ops::Range<usize> = 8..12;

/// What the load generator counts as the payload of a workload.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// The request carries the data (Produce): request bytes count.
    InRequest,
    /// The response carries it (Fetch): response bytes count.
    InResponse,
}

/// A request the load generator repeats and the response the broker answers it with.
pub struct Workload {
    /// Short name for the command line (`--workloads`).
    pub key: &'static str,
    /// What the tables show.
    pub title: &'static str,
    /// Whether kafka-proxy forwards the response as bytes (`Pass`) or reads it whole and walks
    /// it for NodeEndpoints (`Walk`).
    pub path: ProxyPath,
    pub request: Vec<u8>,
    pub response: Vec<u8>,
    pub payload: Payload,
    /// Requests in flight per connection, when the workload fixes it (otherwise `--depth`).
    pub depth: Option<usize>,
    /// Whether the load generator writes every request that is ready in one `write`, as
    /// librdkafka does, rather than each on its own (see `load::pipeline`).
    pub batched: bool,
    /// The connection counts it runs at, when it has its own (otherwise `--connections`).
    pub connections: Option<&'static [usize]>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProxyPath {
    Pass,
    Walk,
}

/// Every throughput workload. `broker` is the scripted broker's address: the NodeEndpoints
/// the walk workloads carry name it, so kafka-proxy really rewrites them (to its listener).
pub fn workloads(broker: SocketAddr) -> Vec<Workload> {
    vec![
        Workload {
            key: "produce8",
            title: "Produce v8, 64 KiB batches",
            path: ProxyPath::Pass,
            request: produce_v8_request("produce8", PRODUCE_BATCH),
            response: produce_v8_response(),
            payload: Payload::InRequest,
            depth: None,
            batched: false,
            connections: None,
        },
        Workload {
            key: "produce8-1m",
            title: "Produce v8, 1 MiB batches",
            path: ProxyPath::Pass,
            request: produce_v8_request("produce8-1m", 1024 * 1024),
            response: produce_v8_response(),
            payload: Payload::InRequest,
            depth: None,
            batched: false,
            connections: None,
        },
        Workload {
            key: "fetch11",
            title: "Fetch v11, 1 MiB responses",
            path: ProxyPath::Pass,
            request: fetch_v11_request("fetch11"),
            response: fetch_v11_response(),
            payload: Payload::InResponse,
            depth: None,
            batched: false,
            connections: None,
        },
        Workload {
            key: "produce11",
            title: "Produce v11, 64 KiB batches, NodeEndpoints rewritten",
            path: ProxyPath::Walk,
            request: produce_v11_request("produce11", PRODUCE_BATCH),
            response: produce_v11_response(Some(broker)),
            payload: Payload::InRequest,
            depth: None,
            batched: false,
            connections: None,
        },
        Workload {
            key: "fetch16",
            title: "Fetch v16, 1 MiB responses, walked (no NodeEndpoints)",
            path: ProxyPath::Walk,
            request: fetch_v16_request("fetch16"),
            response: fetch_v16_response(None),
            payload: Payload::InResponse,
            depth: None,
            batched: false,
            connections: None,
        },
        Workload {
            key: "fetch16-endpoints",
            title: "Fetch v16, 1 MiB responses, NodeEndpoints rewritten",
            path: ProxyPath::Walk,
            request: fetch_v16_request("fetch16-endpoints"),
            response: fetch_v16_response(Some(broker)),
            payload: Payload::InResponse,
            depth: None,
            batched: false,
            connections: None,
        },
        Workload {
            key: "produce8-small",
            title: "Produce v8, 100-byte batches",
            path: ProxyPath::Pass,
            request: produce_v8_request("produce8-small", 100),
            response: produce_v8_response(),
            payload: Payload::InRequest,
            depth: None,
            batched: false,
            connections: None,
        },
        // Issue 17: small requests, several in flight, written together when ready, as
        // librdkafka writes them. A hop that writes each frame on its own makes a system call
        // per request in each direction where HAProxy makes one per read.
        Workload {
            key: "produce8-1k-batched",
            title: "Produce v8, 1 KiB batches, 8 in flight, written together",
            path: ProxyPath::Pass,
            request: produce_v8_request("produce8-1k-batched", 1024),
            response: produce_v8_response(),
            payload: Payload::InRequest,
            depth: Some(8),
            batched: true,
            connections: Some(&[2, 8, 32]),
        },
    ]
}

fn frame(body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    body(&mut Writer::new(&mut out));
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    out
}

/// Request header v1 (`flexible` false) or v2; the correlation id is patched per request.
/// The client id names the workload: the scripted broker picks its response by it.
fn request_header(w: &mut Writer, api_key: i16, version: i16, flexible: bool, client: &str) {
    w.i16(api_key);
    w.i16(version);
    w.i32(0);
    w.nullable_string_flex(false, Some(client));
    if flexible {
        w.uvarint(0);
    }
}

/// Response header v0 (`flexible` false) or v1.
fn response_header(w: &mut Writer, flexible: bool) {
    w.i32(0);
    if flexible {
        w.uvarint(0);
    }
}

/// Produce v8, acks=1, one partition carrying one batch of `batch` bytes.
pub fn produce_v8_request(client: &str, batch: usize) -> Vec<u8> {
    frame(|w| {
        request_header(w, 0, 8, false, client);
        w.i16(-1); // transactional id
        w.i16(1); // acks
        w.i32(30_000);
        w.i32(1);
        w.string_flex(false, "perf");
        w.i32(1);
        w.i32(0);
        w.bytes_flex(false, &vec![0x5a; batch]);
    })
}

fn produce_v8_response() -> Vec<u8> {
    frame(|w| {
        response_header(w, false);
        w.i32(1);
        w.string_flex(false, "perf");
        w.i32(1);
        w.i32(0); // partition
        w.i16(0); // error
        w.i64(42); // base offset
        w.i64(-1); // log append time
        w.i64(0); // log start offset
        w.i32(0); // record errors
        w.i16(-1); // error message
        w.i32(0); // throttle
    })
}

/// Produce v11 (flexible), acks=1, one partition carrying one batch of `batch` bytes.
pub fn produce_v11_request(client: &str, batch: usize) -> Vec<u8> {
    frame(|w| {
        request_header(w, 0, 11, true, client);
        w.nullable_string_flex(true, None); // transactional id
        w.i16(1); // acks
        w.i32(30_000);
        w.array_len(true, 1);
        w.string_flex(true, "perf");
        w.array_len(true, 1);
        w.i32(0);
        w.bytes_flex(true, &vec![0x5a; batch]);
        w.uvarint(0); // partition tags
        w.uvarint(0); // topic tags
        w.uvarint(0); // request tags
    })
}

/// The NodeEndpoints value (a COMPACT_ARRAY of one NodeEndpoint) naming `broker` as node 0.
fn node_endpoints(broker: SocketAddr) -> Vec<u8> {
    let mut value = Vec::new();
    let mut w = Writer::new(&mut value);
    w.array_len(true, 1);
    w.i32(0);
    w.string_flex(true, &broker.ip().to_string());
    w.i32(i32::from(broker.port()));
    w.nullable_string_flex(true, None); // rack
    w.uvarint(0);
    value
}

/// Produce v11 response. With `endpoints`, as a broker that lost leadership answers (KIP-951):
/// the partition's CurrentLeader (tag 0) and the top-level NodeEndpoints (tag 0) naming the
/// scripted broker, which kafka-proxy rewrites to its own listener.
fn produce_v11_response(endpoints: Option<SocketAddr>) -> Vec<u8> {
    let response = frame(|w| {
        response_header(w, true);
        w.array_len(true, 1);
        w.string_flex(true, "perf");
        w.array_len(true, 1);
        w.i32(0); // partition
        w.i16(0); // error
        w.i64(42); // base offset
        w.i64(-1); // log append time
        w.i64(0); // log start offset
        w.array_len(true, 0); // record errors
        w.nullable_string_flex(true, None); // error message
        partition_current_leader(w, 0, endpoints.is_some());
        w.uvarint(0); // topic tags
        w.i32(0); // throttle
        top_level_tags(w, endpoints);
    });
    // The broker's answer must be a response the proxy's codec accepts.
    ProduceResponse::decode(11, &response[9..]).expect("a valid Produce v11 response");
    response
}

/// A partition's TAG_BUFFER: CurrentLeader (LeaderId, LeaderEpoch, empty tags) under `tag`, or
/// empty.
fn partition_current_leader(w: &mut Writer, tag: u32, present: bool) {
    if !present {
        w.uvarint(0);
        return;
    }
    let mut leader = Vec::new();
    let mut lw = Writer::new(&mut leader);
    lw.i32(0);
    lw.i32(7);
    lw.uvarint(0);
    w.tagged_fields(&[TaggedField { tag, data: &leader }]);
}

/// The top-level TAG_BUFFER: NodeEndpoints (tag 0) naming `endpoints`, or else a field of a
/// tag the proxy does not know (kept as it is), so the proxy's check of the buffer is real.
fn top_level_tags(w: &mut Writer, endpoints: Option<SocketAddr>) {
    match endpoints {
        Some(broker) => {
            let value = node_endpoints(broker);
            w.tagged_fields(&[TaggedField {
                tag: 0,
                data: &value,
            }]);
        }
        None => w.tagged_fields(&[TaggedField {
            tag: 5,
            data: b"unknown!",
        }]),
    }
}

/// Fetch v11 request (the broker ignores the body; the proxy reads only the header).
fn fetch_v11_request(client: &str) -> Vec<u8> {
    frame(|w| {
        request_header(w, 1, 11, false, client);
        w.i32(-1); // replica
        w.i32(500); // max wait
        w.i32(1); // min bytes
        w.i32(2 * FETCH_RECORDS as i32); // max bytes
        w.i8(0); // isolation level
        w.i32(0); // session id
        w.i32(-1); // session epoch
        w.i32(1);
        w.string_flex(false, "perf");
        w.i32(FETCH_PARTITIONS as i32);
        for partition in 0..FETCH_PARTITIONS as i32 {
            w.i32(partition);
            w.i32(-1); // current leader epoch
            w.i64(0); // fetch offset
            w.i64(-1); // log start offset
            w.i32(FETCH_RECORDS as i32); // partition max bytes
        }
        w.i32(0); // forgotten topics
        w.string_flex(false, ""); // rack
    })
}

/// Fetch v11 response: 16 partitions of 64 KiB of records.
fn fetch_v11_response() -> Vec<u8> {
    let records = vec![0xa5; FETCH_RECORDS / FETCH_PARTITIONS];
    frame(|w| {
        response_header(w, false);
        w.i32(0); // throttle
        w.i16(0); // error
        w.i32(0); // session
        w.i32(1);
        w.string_flex(false, "perf");
        w.i32(FETCH_PARTITIONS as i32);
        for partition in 0..FETCH_PARTITIONS as i32 {
            w.i32(partition);
            w.i16(0);
            w.i64(1000); // high watermark
            w.i64(1000); // last stable offset
            w.i64(0); // log start offset
            w.i32(-1); // aborted transactions: null
            w.i32(-1); // preferred read replica
            w.bytes_flex(false, &records);
        }
    })
}

/// Fetch v16 request (flexible, topic ids).
fn fetch_v16_request(client: &str) -> Vec<u8> {
    frame(|w| {
        request_header(w, 1, 16, true, client);
        w.i32(500); // max wait
        w.i32(1); // min bytes
        w.i32(2 * FETCH_RECORDS as i32); // max bytes
        w.i8(0); // isolation level
        w.i32(0); // session id
        w.i32(-1); // session epoch
        w.array_len(true, 1);
        w.bytes(&TOPIC_ID);
        w.array_len(true, FETCH_PARTITIONS);
        for partition in 0..FETCH_PARTITIONS as i32 {
            w.i32(partition);
            w.i32(-1); // current leader epoch
            w.i64(0); // fetch offset
            w.i32(-1); // last fetched epoch
            w.i64(-1); // log start offset
            w.i32(FETCH_RECORDS as i32); // partition max bytes
            w.uvarint(0);
        }
        w.uvarint(0); // topic tags
        w.array_len(true, 0); // forgotten topics
        w.string_flex(true, ""); // rack
        w.uvarint(0);
    })
}

/// Fetch v16 response: 16 partitions of 64 KiB of records, each with a CurrentLeader (tag 1),
/// and the top-level TAG_BUFFER of [`top_level_tags`].
fn fetch_v16_response(endpoints: Option<SocketAddr>) -> Vec<u8> {
    let records = vec![0xa5; FETCH_RECORDS / FETCH_PARTITIONS];
    let response = frame(|w| {
        response_header(w, true);
        w.i32(0); // throttle
        w.i16(0); // error
        w.i32(0); // session
        w.array_len(true, 1);
        w.bytes(&TOPIC_ID);
        w.array_len(true, FETCH_PARTITIONS);
        for partition in 0..FETCH_PARTITIONS as i32 {
            w.i32(partition);
            w.i16(0);
            w.i64(1000); // high watermark
            w.i64(1000); // last stable offset
            w.i64(0); // log start offset
            w.nullable_bytes_flex(true, None); // aborted transactions: null (same encoding)
            w.i32(-1); // preferred read replica
            w.bytes_flex(true, &records);
            partition_current_leader(w, 1, true);
        }
        w.uvarint(0); // topic tags
        top_level_tags(w, endpoints);
    });
    let decoded = FetchResponse::decode(16, &response[9..]).expect("a valid Fetch v16 response");
    assert_eq!(decoded.node_endpoints().is_some(), endpoints.is_some());
    response
}

/// ApiVersions v0 request.
pub fn api_versions_request() -> Vec<u8> {
    frame(|w| request_header(w, 18, 0, false, "latency"))
}

/// ApiVersions v0 response. kafka-proxy decodes these and caps the versions it cannot
/// rewrite, so this is a (small) rewrite path too.
pub fn api_versions_response() -> Vec<u8> {
    frame(|w| {
        response_header(w, false);
        w.i16(0);
        let keys: [(i16, i16, i16); 4] = [(0, 0, 11), (1, 0, 17), (3, 0, 12), (18, 0, 4)];
        w.i32(keys.len() as i32);
        for (k, min, max) in keys {
            w.i16(k);
            w.i16(min);
            w.i16(max);
        }
    })
}

/// The client id of a request frame (after its size), which names its workload.
pub fn request_client_id(frame: &[u8]) -> &[u8] {
    let Some(len) = frame.get(8..10) else {
        return &[];
    };
    let len = i16::from_be_bytes([len[0], len[1]]).max(0) as usize;
    frame.get(10..10 + len).unwrap_or(&[])
}

/// The NodeEndpoints port of a Fetch v16 or Produce v11 response frame (with its size
/// prefix), for the smoke run's check that kafka-proxy rewrote it.
pub fn node_endpoint_port(api_key: i16, version: i16, frame: &[u8]) -> Option<i32> {
    let body = frame.get(9..)?;
    let port = |e: Option<&[kafka_proxy::codec::node_endpoints::NodeEndpoint]>| {
        e.and_then(|e| e.first()).map(|e| e.port)
    };
    match api_key {
        0 => port(
            ProduceResponse::decode(version, body)
                .ok()?
                .node_endpoints(),
        ),
        1 => port(FetchResponse::decode(version, body).ok()?.node_endpoints()),
        _ => None,
    }
}
