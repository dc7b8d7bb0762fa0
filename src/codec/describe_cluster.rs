//! DescribeClusterResponse (key 60), versions 0-2 (all flexible): the `Brokers` array is
//! decoded for rewriting. With EndpointType 2 (v1+, answered only by controllers) the entries
//! are controller endpoints; they are offered to the mapper like any other node.

use super::api::ApiKey;
use super::rewrite::{BrokerList, BrokerMut};
use super::{check_version, table, Reader, Result, Writer};
use std::borrow::Cow;
use std::ops::RangeInclusive;

/// The DescribeClusterResponse versions this module decodes, from [`table::DECODED`].
pub const VERSIONS: RangeInclusive<i16> = table::versions(ApiKey::DESCRIBE_CLUSTER);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeClusterBroker<'a> {
    pub broker_id: i32,
    pub host: Cow<'a, str>,
    pub port: i32,
    pub rack: Option<&'a str>,
    /// v2+ (`false` before).
    pub is_fenced: bool,
    /// The element's raw TAG_BUFFER.
    pub tagged: &'a [u8],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeClusterResponse<'a> {
    pub throttle_time_ms: i32,
    pub error_code: i16,
    pub error_message: Option<&'a str>,
    /// v1+: 1 = brokers, 2 = controllers. `None` at v0.
    pub endpoint_type: Option<i8>,
    pub cluster_id: &'a str,
    pub controller_id: i32,
    pub brokers: Vec<DescribeClusterBroker<'a>>,
    pub cluster_authorized_operations: i32,
    /// The body's raw TAG_BUFFER.
    pub tagged: &'a [u8],
}

impl<'a> DescribeClusterResponse<'a> {
    pub fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(version, VERSIONS, "DescribeCluster response version")?;
        let mut r = Reader::new(body);
        let throttle_time_ms = r.i32("ThrottleTimeMs")?;
        let error_code = r.i16("ErrorCode")?;
        let error_message = r.compact_nullable_string("ErrorMessage")?;
        let endpoint_type = if version >= 1 {
            Some(r.i8("EndpointType")?)
        } else {
            None
        };
        let cluster_id = r.compact_string("ClusterId")?;
        let controller_id = r.i32("ControllerId")?;
        // BrokerId, Host, Port, Rack, IsFenced (v2+), tags.
        let min = 4 + 1 + 4 + 1 + usize::from(version >= 2) + 1;
        let count = r.array_len_nonnull(true, min, "Brokers")?;
        let mut brokers = Vec::with_capacity(count);
        for _ in 0..count {
            let broker_id = r.i32("Brokers.BrokerId")?;
            let host = r.compact_string("Brokers.Host")?;
            let port = r.i32("Brokers.Port")?;
            let rack = r.compact_nullable_string("Brokers.Rack")?;
            let is_fenced = if version >= 2 {
                r.bool("Brokers.IsFenced")?
            } else {
                false
            };
            let tagged = r.skip_tagged_fields("Brokers tags")?;
            brokers.push(DescribeClusterBroker {
                broker_id,
                host: Cow::Borrowed(host),
                port,
                rack,
                is_fenced,
                tagged,
            });
        }
        let cluster_authorized_operations = r.i32("ClusterAuthorizedOperations")?;
        let tagged = r.skip_tagged_fields("DescribeCluster response tags")?;
        r.expect_end("DescribeCluster response")?;
        Ok(DescribeClusterResponse {
            throttle_time_ms,
            error_code,
            error_message,
            endpoint_type,
            cluster_id,
            controller_id,
            brokers,
            cluster_authorized_operations,
            tagged,
        })
    }

    pub fn encode(&self, version: i16, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.i32(self.throttle_time_ms);
        w.i16(self.error_code);
        w.nullable_string_flex(true, self.error_message);
        if version >= 1 {
            w.i8(self.endpoint_type.unwrap_or(1));
        }
        w.string_flex(true, self.cluster_id);
        w.i32(self.controller_id);
        w.array_len(true, self.brokers.len());
        for b in &self.brokers {
            w.i32(b.broker_id);
            w.string_flex(true, &b.host);
            w.i32(b.port);
            w.nullable_string_flex(true, b.rack);
            if version >= 2 {
                w.bool(b.is_fenced);
            }
            w.raw_tagged_fields(b.tagged);
        }
        w.i32(self.cluster_authorized_operations);
        w.raw_tagged_fields(self.tagged);
    }
}

impl<'a> BrokerList<'a> for DescribeClusterResponse<'a> {
    fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        Self::decode(version, body)
    }

    fn encode(&self, version: i16, out: &mut Vec<u8>) {
        self.encode(version, out)
    }

    /// Every broker, controller endpoints included.
    fn brokers_mut<'m>(&'m mut self) -> impl Iterator<Item = BrokerMut<'m, 'a>>
    where
        'a: 'm,
    {
        self.brokers.iter_mut().map(|b| BrokerMut {
            node_id: b.broker_id,
            host: &mut b.host,
            port: &mut b.port,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::rewrite::{rewrite_brokers, KeepAddresses, MapError, RewriteError};
    use crate::codec::test_support::*;
    use crate::codec::CodecError;

    /// Writes a response from the wire layouts, independently of the decoder: brokers
    /// `(id, host, port)`, the first with rack "r1", fenced and an unknown tag 7; the body with
    /// an unknown tag 3.
    fn build(version: i16, brokers: &[(i32, &str, i32)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.i32(0);
        w.i16(0);
        w.uvarint(0); // ErrorMessage null
        if version >= 1 {
            w.i8(1);
        }
        w.string_flex(true, "cluster-xyz");
        w.i32(2);
        w.uvarint(brokers.len() as u32 + 1);
        for (i, &(id, host, port)) in brokers.iter().enumerate() {
            w.i32(id);
            w.string_flex(true, host);
            w.i32(port);
            w.nullable_string_flex(true, (i == 0).then_some("r1"));
            if version >= 2 {
                w.bool(i == 0);
            }
            if i == 0 {
                w.bytes(&[1, 7, 1, 0xee]);
            } else {
                w.uvarint(0);
            }
        }
        w.i32(-2147483648);
        w.bytes(&[1, 3, 2, 0xde, 0xad]);
        out
    }

    /// A response of `version` naming two brokers, for the table's test.
    pub(crate) fn sample(version: i16) -> Vec<u8> {
        build(
            version,
            &[(1, "b1.internal", 9092), (2, "b2.internal", 9093)],
        )
    }

    #[test]
    fn v0_from_byte_literal() {
        let body = [
            0, 0, 0, 0, // ThrottleTimeMs
            0, 0, // ErrorCode
            0, // ErrorMessage null
            2, b'c', // ClusterId "c"
            0, 0, 0, 1, // ControllerId
            2, // one broker
            0, 0, 0, 1, // BrokerId
            3, b'b', b'1', // Host
            0, 0, 0x23, 0x84, // Port
            0,    // Rack null
            0,    // broker tags
            0x80, 0, 0, 0, // ClusterAuthorizedOperations
            0, // tags
        ];
        let msg = DescribeClusterResponse::decode(0, &body).unwrap();
        assert_eq!(msg.cluster_id, "c");
        assert_eq!(msg.brokers[0].host, "b1");
        let mut out = Vec::new();
        msg.encode(0, &mut out);
        assert_eq!(out, body);
    }

    #[test]
    fn every_version() {
        let brokers = [(1, "b1.internal", 9092), (2, "b2.internal", 9093)];
        for version in VERSIONS {
            let body = build(version, &brokers);
            let msg = DescribeClusterResponse::decode(version, &body).unwrap();
            assert_eq!(msg.brokers.len(), 2);
            assert_eq!(msg.brokers[0].is_fenced, version >= 2);
            assert_eq!(msg.endpoint_type, (version >= 1).then_some(1));
            let mut out = Vec::new();
            msg.encode(version, &mut out);
            assert_eq!(out, body, "v{version}");

            out.clear();
            assert_eq!(
                rewrite_brokers::<DescribeClusterResponse>(
                    version,
                    &body,
                    &mut RenameMapper::default(),
                    &mut out
                ),
                Ok(true)
            );
            let (h1, h2) = (RenameMapper::host(1), RenameMapper::host(2));
            let renamed = [(1, h1.as_str(), 19001), (2, h2.as_str(), 19002)];
            assert_eq!(out, build(version, &renamed), "v{version}");
            let after = DescribeClusterResponse::decode(version, &out).unwrap();
            assert_eq!(after.tagged, msg.tagged);
            assert_eq!(after.cluster_id, msg.cluster_id);
            assert_eq!(after.brokers[0].tagged, msg.brokers[0].tagged);

            assert_eq!(
                rewrite_brokers::<DescribeClusterResponse>(
                    version,
                    &body,
                    &mut KeepAddresses,
                    &mut out
                ),
                Ok(false)
            );
            assert_eq!(
                rewrite_brokers::<DescribeClusterResponse>(
                    version,
                    &body,
                    &mut SameMapper,
                    &mut out
                ),
                Ok(false)
            );
            assert_prefixes_and_trailing_fail(&body, |b| {
                DescribeClusterResponse::decode(version, b).is_ok()
            });
        }
    }

    #[test]
    fn errors() {
        let body = build(1, &[(4, "b4", 1)]);
        assert_eq!(
            rewrite_brokers::<DescribeClusterResponse>(1, &body, &mut FailMapper, &mut Vec::new()),
            Err(RewriteError::Map(MapError(
                "no listener for broker 4".to_string()
            )))
        );
        assert_eq!(
            DescribeClusterResponse::decode(3, &body),
            Err(CodecError::InvalidValue("DescribeCluster response version"))
        );
    }
}
