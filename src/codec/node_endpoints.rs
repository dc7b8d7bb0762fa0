//! NodeEndpoints (KIP-951): the leader addresses a broker attaches to Produce, Fetch, ShareFetch
//! and ShareAcknowledge responses so a client can reach a new leader without a Metadata round
//! trip.
//!
//! In Produce v10+ and Fetch v16+ the list is tag 0 of the **top-level** TAG_BUFFER, the last
//! bytes of the body; partitions carry their own tag 0 (CurrentLeader or DivergingEpoch), which
//! is no address. Reaching the top level means walking every topic, partition and record blob,
//! which is done without allocating: a Fetch response can be megabytes, and most carry no
//! NodeEndpoints, in which case the rewrite returns early. Other top-level tags are kept byte
//! for byte in the order received; only the size of tag 0 is recomputed.
//!
//! In ShareFetch and ShareAcknowledge v1-2 NodeEndpoints is an ordinary last field. Their
//! early-access v0 (Kafka 4.0) is not in the 4.3 definitions and is rejected.

use super::api::ApiKey;
use super::rewrite::{AddressMapper, BrokerList, BrokerMut, RewriteError};
use super::{check_version, remap_broker, table, CodecError, Reader, Result, TaggedField, Writer};
use std::borrow::Cow;
use std::ops::RangeInclusive;

/// Produce versions whose response may carry NodeEndpoints, from [`table::DECODED`].
pub const PRODUCE_VERSIONS: RangeInclusive<i16> = table::versions(ApiKey::PRODUCE);
/// Fetch versions whose response may carry NodeEndpoints, from [`table::DECODED`].
pub const FETCH_VERSIONS: RangeInclusive<i16> = table::versions(ApiKey::FETCH);
/// ShareFetch versions decoded, from [`table::DECODED`].
pub const SHARE_FETCH_VERSIONS: RangeInclusive<i16> = table::versions(ApiKey::SHARE_FETCH);
/// ShareAcknowledge versions decoded, from [`table::DECODED`].
pub const SHARE_ACKNOWLEDGE_VERSIONS: RangeInclusive<i16> =
    table::versions(ApiKey::SHARE_ACKNOWLEDGE);

/// The top-level tag of NodeEndpoints in Produce and Fetch responses.
pub const NODE_ENDPOINTS_TAG: u32 = 0;

/// NodeId, Host, Port, Rack, tags: the smallest encoded NodeEndpoint.
const NODE_ENDPOINT_MIN: usize = 4 + 1 + 4 + 1 + 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEndpoint<'a> {
    pub node_id: i32,
    pub host: Cow<'a, str>,
    pub port: i32,
    pub rack: Option<&'a str>,
    /// The element's raw TAG_BUFFER.
    pub tagged: &'a [u8],
}

/// Reads a (non-null) COMPACT_ARRAY of NodeEndpoint.
fn decode_node_endpoints<'a>(r: &mut Reader<'a>) -> Result<Vec<NodeEndpoint<'a>>> {
    let count = r.array_len_nonnull(true, NODE_ENDPOINT_MIN, "NodeEndpoints")?;
    let mut endpoints = Vec::with_capacity(count);
    for _ in 0..count {
        let node_id = r.i32("NodeEndpoints.NodeId")?;
        let host = r.compact_string("NodeEndpoints.Host")?;
        let port = r.i32("NodeEndpoints.Port")?;
        let rack = r.compact_nullable_string("NodeEndpoints.Rack")?;
        let tagged = r.skip_tagged_fields("NodeEndpoints tags")?;
        endpoints.push(NodeEndpoint {
            node_id,
            host: Cow::Borrowed(host),
            port,
            rack,
            tagged,
        });
    }
    Ok(endpoints)
}

fn encode_node_endpoints(endpoints: &[NodeEndpoint<'_>], w: &mut Writer<'_>) {
    w.array_len(true, endpoints.len());
    for e in endpoints {
        w.i32(e.node_id);
        w.string_flex(true, &e.host);
        w.i32(e.port);
        w.nullable_string_flex(true, e.rack);
        w.raw_tagged_fields(e.tagged);
    }
}

fn remap_endpoints(
    endpoints: &mut [NodeEndpoint<'_>],
    mapper: &mut dyn AddressMapper,
) -> std::result::Result<bool, RewriteError> {
    let mut changed = false;
    for e in endpoints {
        changed |= remap_broker(mapper, e.node_id, &mut e.host, &mut e.port)?;
    }
    Ok(changed)
}

/// One field of the top-level TAG_BUFFER of a Produce or Fetch response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopLevelField<'a> {
    /// Tag 0, decoded.
    NodeEndpoints(Vec<NodeEndpoint<'a>>),
    /// Any other tag, kept raw.
    Other(TaggedField<'a>),
}

fn decode_top_level<'a>(tags: &'a [u8]) -> Result<Vec<TopLevelField<'a>>> {
    let mut r = Reader::new(tags);
    let raw = r.tagged_fields("response tags")?;
    r.expect_end("response tags")?;
    raw.into_iter()
        .map(|field| {
            if field.tag != NODE_ENDPOINTS_TAG {
                return Ok(TopLevelField::Other(field));
            }
            let mut value = Reader::new(field.data);
            let endpoints = decode_node_endpoints(&mut value)?;
            value.expect_end("NodeEndpoints")?;
            Ok(TopLevelField::NodeEndpoints(endpoints))
        })
        .collect()
}

fn encode_top_level(fields: &[TopLevelField<'_>], out: &mut Vec<u8>) {
    let mut value = Vec::new();
    let mut w = Writer::new(out);
    w.uvarint(fields.len() as u32);
    for field in fields {
        match field {
            TopLevelField::Other(raw) => {
                w.uvarint(raw.tag);
                w.uvarint(raw.data.len() as u32);
                w.bytes(raw.data);
            }
            TopLevelField::NodeEndpoints(endpoints) => {
                value.clear();
                encode_node_endpoints(endpoints, &mut Writer::new(&mut value));
                w.uvarint(NODE_ENDPOINTS_TAG);
                w.uvarint(value.len() as u32);
                w.bytes(&value);
            }
        }
    }
}

/// Whether a TAG_BUFFER, which must be exactly `tags`, holds `tag`. Checks its structure
/// without allocating.
fn has_tag(tags: &[u8], tag: u32) -> Result<bool> {
    let mut r = Reader::new(tags);
    let count = r.uvarint("response tags")?;
    let mut found = false;
    for _ in 0..count {
        found |= r.uvarint("response tags")? == tag;
        let size = r.uvarint("response tags")? as usize;
        r.take(size, "response tags")?;
    }
    r.expect_end("response tags")?;
    Ok(found)
}

/// Splits `body` at `at`, the offset of its top-level TAG_BUFFER.
fn split_tags(body: &[u8], at: usize) -> Result<(&[u8], &[u8])> {
    body.split_at_checked(at)
        .ok_or(CodecError::Truncated("response tags"))
}

/// The rewrite of the top-level TAG_BUFFER alone: on a change, appends the new tagged fields to
/// `out` and returns `Some(tags_at)`: the new body is `body[..tags_at]` and then `out`. The
/// records before the tags (most of a Fetch response) are not copied.
fn rewrite_top_level_tail(
    body: &[u8],
    tags_at: usize,
    mapper: &mut dyn AddressMapper,
    out: &mut Vec<u8>,
) -> std::result::Result<Option<usize>, RewriteError> {
    let (_, tags) = split_tags(body, tags_at)?;
    if !has_tag(tags, NODE_ENDPOINTS_TAG)? {
        return Ok(None);
    }
    let mut fields = decode_top_level(tags)?;
    let mut changed = false;
    for field in &mut fields {
        if let TopLevelField::NodeEndpoints(endpoints) = field {
            changed |= remap_endpoints(endpoints, mapper)?;
        }
    }
    if !changed {
        return Ok(None);
    }
    encode_top_level(&fields, out);
    Ok(Some(tags_at))
}

/// Walks a Produce v10-13 response body up to its top-level TAG_BUFFER; returns its offset.
fn produce_tags_offset(version: i16, body: &[u8]) -> Result<usize> {
    let mut r = Reader::new(body);
    let min_topic = if version >= 13 { 16 + 1 + 1 } else { 1 + 1 + 1 };
    // Index, ErrorCode, BaseOffset, LogAppendTimeMs, LogStartOffset, RecordErrors,
    // ErrorMessage, tags.
    let min_partition = 4 + 2 + 8 + 8 + 8 + 1 + 1 + 1;
    let topics = r.array_len_nonnull(true, min_topic, "Responses")?;
    for _ in 0..topics {
        if version >= 13 {
            r.take(16, "Responses.TopicId")?;
        } else {
            r.skip_string_flex(true, "Responses.Name")?;
        }
        let partitions = r.array_len_nonnull(true, min_partition, "PartitionResponses")?;
        for _ in 0..partitions {
            r.take(4 + 2 + 8 + 8 + 8, "PartitionResponses")?;
            let errors = r.array_len_nonnull(true, 4 + 1 + 1, "RecordErrors")?;
            for _ in 0..errors {
                r.take(4, "RecordErrors.BatchIndex")?;
                r.skip_nullable_string_flex(true, "RecordErrors.BatchIndexErrorMessage")?;
                r.skip_tagged_fields("RecordErrors tags")?;
            }
            r.skip_nullable_string_flex(true, "PartitionResponses.ErrorMessage")?;
            r.skip_tagged_fields("PartitionResponses tags")?;
        }
        r.skip_tagged_fields("Responses tags")?;
    }
    r.take(4, "ThrottleTimeMs")?;
    Ok(r.position())
}

/// Walks a Fetch v16-18 response body up to its top-level TAG_BUFFER; returns its offset.
fn fetch_tags_offset(body: &[u8]) -> Result<usize> {
    let mut r = Reader::new(body);
    r.take(4 + 2 + 4, "ThrottleTimeMs/ErrorCode/SessionId")?;
    // PartitionIndex, ErrorCode, HighWatermark, LastStableOffset, LogStartOffset,
    // AbortedTransactions, PreferredReadReplica, Records, tags.
    let min_partition = 4 + 2 + 8 + 8 + 8 + 1 + 4 + 1 + 1;
    let topics = r.array_len_nonnull(true, 16 + 1 + 1, "Responses")?;
    for _ in 0..topics {
        r.take(16, "Responses.TopicId")?;
        let partitions = r.array_len_nonnull(true, min_partition, "Partitions")?;
        for _ in 0..partitions {
            r.take(4 + 2 + 8 + 8 + 8, "Partitions")?;
            if let Some(aborted) = r.array_len(true, 8 + 8 + 1, "AbortedTransactions")? {
                for _ in 0..aborted {
                    r.take(8 + 8, "AbortedTransactions")?;
                    r.skip_tagged_fields("AbortedTransactions tags")?;
                }
            }
            r.take(4, "Partitions.PreferredReadReplica")?;
            r.nullable_bytes_flex(true, "Partitions.Records")?;
            r.skip_tagged_fields("Partitions tags")?;
        }
        r.skip_tagged_fields("Responses tags")?;
    }
    Ok(r.position())
}

/// Walks a ShareFetch v1-2 response body up to NodeEndpoints; returns its offset.
fn share_fetch_endpoints_offset(body: &[u8]) -> Result<usize> {
    let mut r = Reader::new(body);
    r.take(4 + 2, "ThrottleTimeMs/ErrorCode")?;
    r.skip_nullable_string_flex(true, "ErrorMessage")?;
    r.take(4, "AcquisitionLockTimeoutMs")?;
    // PartitionIndex, ErrorCode, ErrorMessage, AcknowledgeErrorCode, AcknowledgeErrorMessage,
    // CurrentLeader, Records, AcquiredRecords, tags.
    let min_partition = 4 + 2 + 1 + 2 + 1 + 9 + 1 + 1 + 1;
    let topics = r.array_len_nonnull(true, 16 + 1 + 1, "Responses")?;
    for _ in 0..topics {
        r.take(16, "Responses.TopicId")?;
        let partitions = r.array_len_nonnull(true, min_partition, "Partitions")?;
        for _ in 0..partitions {
            r.take(4 + 2, "Partitions.PartitionIndex/ErrorCode")?;
            r.skip_nullable_string_flex(true, "Partitions.ErrorMessage")?;
            r.take(2, "Partitions.AcknowledgeErrorCode")?;
            r.skip_nullable_string_flex(true, "Partitions.AcknowledgeErrorMessage")?;
            r.take(4 + 4, "Partitions.CurrentLeader")?;
            r.skip_tagged_fields("CurrentLeader tags")?;
            r.bytes_flex(true, "Partitions.Records")?;
            let acquired = r.array_len_nonnull(true, 8 + 8 + 2 + 1, "AcquiredRecords")?;
            for _ in 0..acquired {
                r.take(8 + 8 + 2, "AcquiredRecords")?;
                r.skip_tagged_fields("AcquiredRecords tags")?;
            }
            r.skip_tagged_fields("Partitions tags")?;
        }
        r.skip_tagged_fields("Responses tags")?;
    }
    Ok(r.position())
}

/// Walks a ShareAcknowledge v1-2 response body up to NodeEndpoints; returns its offset.
fn share_acknowledge_endpoints_offset(version: i16, body: &[u8]) -> Result<usize> {
    let mut r = Reader::new(body);
    r.take(4 + 2, "ThrottleTimeMs/ErrorCode")?;
    r.skip_nullable_string_flex(true, "ErrorMessage")?;
    if version >= 2 {
        r.take(4, "AcquisitionLockTimeoutMs")?;
    }
    // PartitionIndex, ErrorCode, ErrorMessage, CurrentLeader, tags.
    let min_partition = 4 + 2 + 1 + 9 + 1;
    let topics = r.array_len_nonnull(true, 16 + 1 + 1, "Responses")?;
    for _ in 0..topics {
        r.take(16, "Responses.TopicId")?;
        let partitions = r.array_len_nonnull(true, min_partition, "Partitions")?;
        for _ in 0..partitions {
            r.take(4 + 2, "Partitions.PartitionIndex/ErrorCode")?;
            r.skip_nullable_string_flex(true, "Partitions.ErrorMessage")?;
            r.take(4 + 4, "Partitions.CurrentLeader")?;
            r.skip_tagged_fields("CurrentLeader tags")?;
            r.skip_tagged_fields("Partitions tags")?;
        }
        r.skip_tagged_fields("Responses tags")?;
    }
    Ok(r.position())
}

/// A Produce v10-13 response: everything before the top-level TAG_BUFFER kept as received
/// (after checking it), and the top-level tagged fields in the order received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceResponse<'a> {
    pub head: &'a [u8],
    pub tagged_fields: Vec<TopLevelField<'a>>,
}

impl<'a> ProduceResponse<'a> {
    pub fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(version, PRODUCE_VERSIONS, "Produce response version")?;
        let (head, tags) = split_tags(body, produce_tags_offset(version, body)?)?;
        Ok(ProduceResponse {
            head,
            tagged_fields: decode_top_level(tags)?,
        })
    }

    pub fn encode(&self, _version: i16, out: &mut Vec<u8>) {
        out.extend_from_slice(self.head);
        encode_top_level(&self.tagged_fields, out);
    }

    /// The NodeEndpoints (tag 0), if present.
    pub fn node_endpoints(&self) -> Option<&[NodeEndpoint<'a>]> {
        find_endpoints(&self.tagged_fields)
    }
}

/// A Fetch v16-18 response, kept like [`ProduceResponse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResponse<'a> {
    pub head: &'a [u8],
    pub tagged_fields: Vec<TopLevelField<'a>>,
}

impl<'a> FetchResponse<'a> {
    pub fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(version, FETCH_VERSIONS, "Fetch response version")?;
        let (head, tags) = split_tags(body, fetch_tags_offset(body)?)?;
        Ok(FetchResponse {
            head,
            tagged_fields: decode_top_level(tags)?,
        })
    }

    pub fn encode(&self, _version: i16, out: &mut Vec<u8>) {
        out.extend_from_slice(self.head);
        encode_top_level(&self.tagged_fields, out);
    }

    /// The NodeEndpoints (tag 0), if present.
    pub fn node_endpoints(&self) -> Option<&[NodeEndpoint<'a>]> {
        find_endpoints(&self.tagged_fields)
    }
}

fn find_endpoints<'s, 'a>(fields: &'s [TopLevelField<'a>]) -> Option<&'s [NodeEndpoint<'a>]> {
    fields.iter().find_map(|f| match f {
        TopLevelField::NodeEndpoints(e) => Some(e.as_slice()),
        TopLevelField::Other(_) => None,
    })
}

/// A ShareFetch or ShareAcknowledge v1-2 response: everything before NodeEndpoints kept as
/// received (after checking it), NodeEndpoints decoded, then the body's raw TAG_BUFFER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareResponse<'a> {
    pub head: &'a [u8],
    pub node_endpoints: Vec<NodeEndpoint<'a>>,
    pub tagged: &'a [u8],
}

impl<'a> ShareResponse<'a> {
    fn decode_from(body: &'a [u8], endpoints_at: usize) -> Result<Self> {
        let (head, tail) = split_tags(body, endpoints_at)?;
        let mut r = Reader::new(tail);
        let node_endpoints = decode_node_endpoints(&mut r)?;
        let tagged = r.skip_tagged_fields("response tags")?;
        r.expect_end("response")?;
        Ok(ShareResponse {
            head,
            node_endpoints,
            tagged,
        })
    }

    pub fn encode(&self, _version: i16, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.bytes(self.head);
        encode_node_endpoints(&self.node_endpoints, &mut w);
        w.raw_tagged_fields(self.tagged);
    }
}

impl<'a> ShareResponse<'a> {
    pub fn decode_share_fetch(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(version, SHARE_FETCH_VERSIONS, "ShareFetch response version")?;
        ShareResponse::decode_from(body, share_fetch_endpoints_offset(body)?)
    }

    pub fn decode_share_acknowledge(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(
            version,
            SHARE_ACKNOWLEDGE_VERSIONS,
            "ShareAcknowledge response version",
        )?;
        let at = share_acknowledge_endpoints_offset(version, body)?;
        ShareResponse::decode_from(body, at)
    }
}

/// A ShareFetch (`FETCH`) or ShareAcknowledge response as [`BrokerList`] reads it: one type
/// per API, since the two differ in what comes before NodeEndpoints, but one layout after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share<'a, const FETCH: bool>(pub ShareResponse<'a>);
/// A ShareFetch v1-2 response.
pub type ShareFetchResponse<'a> = Share<'a, true>;
/// A ShareAcknowledge v1-2 response.
pub type ShareAcknowledgeResponse<'a> = Share<'a, false>;

impl<'a, const FETCH: bool> BrokerList<'a> for Share<'a, FETCH> {
    fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        if FETCH {
            ShareResponse::decode_share_fetch(version, body).map(Share)
        } else {
            ShareResponse::decode_share_acknowledge(version, body).map(Share)
        }
    }

    fn encode(&self, version: i16, out: &mut Vec<u8>) {
        self.0.encode(version, out)
    }

    fn brokers_mut<'m>(&'m mut self) -> impl Iterator<Item = BrokerMut<'m, 'a>>
    where
        'a: 'm,
    {
        self.0.node_endpoints.iter_mut().map(|e| BrokerMut {
            node_id: e.node_id,
            host: &mut e.host,
            port: &mut e.port,
        })
    }
}

/// Rewrites the NodeEndpoints of a Produce v10-13 response, writing only the new top-level
/// tags (see [`crate::codec::rewrite::rewrite_response_tail`]). Older versions carry none; the
/// table's dispatch does not send them here, and they are refused like newer ones.
pub fn rewrite_produce_tail(
    version: i16,
    body: &[u8],
    mapper: &mut dyn AddressMapper,
    out: &mut Vec<u8>,
) -> std::result::Result<Option<usize>, RewriteError> {
    check_version(version, PRODUCE_VERSIONS, "Produce response version")?;
    rewrite_top_level_tail(body, produce_tags_offset(version, body)?, mapper, out)
}

/// [`rewrite_produce_tail`] for a Fetch v16-18 response.
pub fn rewrite_fetch_tail(
    version: i16,
    body: &[u8],
    mapper: &mut dyn AddressMapper,
    out: &mut Vec<u8>,
) -> std::result::Result<Option<usize>, RewriteError> {
    check_version(version, FETCH_VERSIONS, "Fetch response version")?;
    rewrite_top_level_tail(body, fetch_tags_offset(body)?, mapper, out)
}

#[cfg(test)]
pub(crate) mod tests;
