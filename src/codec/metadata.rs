//! MetadataResponse (key 3), versions 0-13: the `Brokers` array is decoded so each broker's
//! address can be replaced; the ThrottleTimeMs before it (v3+) and everything after it (cluster
//! id, controller id, topics, top-level tags) are checked by walking them and kept as received.

use super::api::ApiKey;
use super::rewrite::{BrokerList, BrokerMut};
use super::{check_version, table, Reader, Result, Writer};
use std::borrow::Cow;
use std::ops::RangeInclusive;

/// The MetadataResponse versions this module decodes, from [`table::DECODED`].
pub const VERSIONS: RangeInclusive<i16> = table::versions(ApiKey::METADATA);
const FIRST_FLEXIBLE: i16 = 9;

/// One entry of `Brokers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataBroker<'a> {
    pub node_id: i32,
    pub host: Cow<'a, str>,
    pub port: i32,
    /// v1+ (always `None` at v0); `None` is null.
    pub rack: Option<&'a str>,
    /// The element's raw TAG_BUFFER (v9+); empty before v9.
    pub tagged: &'a [u8],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataResponse<'a> {
    /// ThrottleTimeMs (v3+) as received; empty before v3.
    pub throttle: &'a [u8],
    pub brokers: Vec<MetadataBroker<'a>>,
    /// Everything after `Brokers`, checked and kept as received.
    pub rest: &'a [u8],
}

impl<'a> MetadataResponse<'a> {
    pub fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(version, VERSIONS, "Metadata response version")?;
        let flexible = version >= FIRST_FLEXIBLE;
        let mut r = Reader::new(body);
        let throttle = if version >= 3 {
            r.take(4, "ThrottleTimeMs")?
        } else {
            &[]
        };
        // NodeId, Host, Port, then Rack from v1, then the element's tags when flexible.
        let min_broker = match (version, flexible) {
            (0, _) => 4 + 2 + 4,
            (_, false) => 4 + 2 + 4 + 2,
            (_, true) => 4 + 1 + 4 + 1 + 1,
        };
        let count = r.array_len_nonnull(flexible, min_broker, "Brokers")?;
        let mut brokers = Vec::with_capacity(count);
        for _ in 0..count {
            let node_id = r.i32("Brokers.NodeId")?;
            let host = r.string_flex(flexible, "Brokers.Host")?;
            let port = r.i32("Brokers.Port")?;
            let rack = if version >= 1 {
                r.nullable_string_flex(flexible, "Brokers.Rack")?
            } else {
                None
            };
            let tagged = if flexible {
                r.skip_tagged_fields("Brokers tags")?
            } else {
                &[]
            };
            brokers.push(MetadataBroker {
                node_id,
                host: Cow::Borrowed(host),
                port,
                rack,
                tagged,
            });
        }
        let rest_start = r.position();
        skip_rest(version, &mut r)?;
        r.expect_end("Metadata response")?;
        Ok(MetadataResponse {
            throttle,
            brokers,
            rest: r.since(rest_start),
        })
    }

    pub fn encode(&self, version: i16, out: &mut Vec<u8>) {
        let flexible = version >= FIRST_FLEXIBLE;
        let mut w = Writer::new(out);
        w.bytes(self.throttle);
        w.array_len(flexible, self.brokers.len());
        for b in &self.brokers {
            w.i32(b.node_id);
            w.string_flex(flexible, &b.host);
            w.i32(b.port);
            if version >= 1 {
                w.nullable_string_flex(flexible, b.rack);
            }
            if flexible {
                w.raw_tagged_fields(b.tagged);
            }
        }
        w.bytes(self.rest);
    }
}

/// Walks everything after `Brokers` without allocating: ClusterId (v2+), ControllerId (v1+),
/// Topics, ClusterAuthorizedOperations (v8-10), ErrorCode (v13), tags (v9+).
fn skip_rest(version: i16, r: &mut Reader<'_>) -> Result<()> {
    let flexible = version >= FIRST_FLEXIBLE;
    if version >= 2 {
        r.skip_nullable_string_flex(flexible, "ClusterId")?;
    }
    if version >= 1 {
        r.take(4, "ControllerId")?;
    }
    let min_topic = if flexible { 2 + 1 + 1 + 1 } else { 2 + 2 + 4 };
    let topics = r.array_len_nonnull(flexible, min_topic, "Topics")?;
    for _ in 0..topics {
        r.take(2, "Topics.ErrorCode")?;
        if version >= 12 {
            r.skip_nullable_string_flex(flexible, "Topics.Name")?;
        } else {
            r.skip_string_flex(flexible, "Topics.Name")?;
        }
        if version >= 10 {
            r.take(16, "Topics.TopicId")?;
        }
        if version >= 1 {
            r.take(1, "Topics.IsInternal")?;
        }
        let min_partition = if flexible { 10 + 3 + 1 } else { 10 + 8 };
        let partitions = r.array_len_nonnull(flexible, min_partition, "Topics.Partitions")?;
        for _ in 0..partitions {
            r.take(2 + 4 + 4, "Partitions.ErrorCode/PartitionIndex/LeaderId")?;
            if version >= 7 {
                r.take(4, "Partitions.LeaderEpoch")?;
            }
            r.skip_fixed_array(flexible, 4, "Partitions.ReplicaNodes")?;
            r.skip_fixed_array(flexible, 4, "Partitions.IsrNodes")?;
            if version >= 5 {
                r.skip_fixed_array(flexible, 4, "Partitions.OfflineReplicas")?;
            }
            if flexible {
                r.skip_tagged_fields("Partitions tags")?;
            }
        }
        if version >= 8 {
            r.take(4, "Topics.TopicAuthorizedOperations")?;
        }
        if flexible {
            r.skip_tagged_fields("Topics tags")?;
        }
    }
    if (8..=10).contains(&version) {
        r.take(4, "ClusterAuthorizedOperations")?;
    }
    if version >= 13 {
        r.take(2, "ErrorCode")?;
    }
    if flexible {
        r.skip_tagged_fields("Metadata response tags")?;
    }
    Ok(())
}

impl<'a> BrokerList<'a> for MetadataResponse<'a> {
    fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        Self::decode(version, body)
    }

    fn encode(&self, version: i16, out: &mut Vec<u8>) {
        self.encode(version, out)
    }

    fn brokers_mut<'m>(&'m mut self) -> impl Iterator<Item = BrokerMut<'m, 'a>>
    where
        'a: 'm,
    {
        self.brokers.iter_mut().map(|b| BrokerMut {
            node_id: b.node_id,
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

    #[derive(Clone, Copy)]
    struct Broker<'a> {
        id: i32,
        host: &'a str,
        port: i32,
        rack: Option<&'a str>,
    }

    const BROKERS: [Broker<'static>; 2] = [
        Broker {
            id: 1,
            host: "b1.internal",
            port: 9092,
            rack: Some("rack-a"),
        },
        Broker {
            id: 2,
            host: "b2.internal",
            port: 9093,
            rack: None,
        },
    ];

    /// Writes a whole response from the wire layouts, field by field, independently of the
    /// decoder. Broker 1 carries an unknown tag 7 and the body an unknown top-level tag 5.
    fn build(version: i16, brokers: &[Broker<'_>]) -> Vec<u8> {
        let flex = version >= 9;
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        if version >= 3 {
            w.i32(77);
        }
        w.array_len(flex, brokers.len());
        for b in brokers {
            w.i32(b.id);
            w.string_flex(flex, b.host);
            w.i32(b.port);
            if version >= 1 {
                w.nullable_string_flex(flex, b.rack);
            }
            if flex && b.id == 1 {
                w.bytes(&[1, 7, 2, 0xab, 0xcd]);
            } else if flex {
                w.uvarint(0);
            }
        }
        if version >= 2 {
            w.nullable_string_flex(flex, Some("cluster-abc"));
        }
        if version >= 1 {
            w.i32(2);
        }
        w.array_len(flex, 1);
        w.i16(0);
        w.nullable_string_flex(flex, Some("orders"));
        if version >= 10 {
            w.bytes(&[0x11; 16]);
        }
        if version >= 1 {
            w.bool(false);
        }
        w.array_len(flex, 2);
        for p in 0..2 {
            w.i16(0);
            w.i32(p);
            w.i32(1 + p);
            if version >= 7 {
                w.i32(5);
            }
            w.array_len(flex, 2);
            w.i32(1);
            w.i32(2);
            w.array_len(flex, 1);
            w.i32(1 + p);
            if version >= 5 {
                w.array_len(flex, 0);
            }
            if flex {
                w.uvarint(0);
            }
        }
        if version >= 8 {
            w.i32(i32::MIN);
        }
        if flex {
            w.uvarint(0);
        }
        if (8..=10).contains(&version) {
            w.i32(i32::MIN);
        }
        if version >= 13 {
            w.i16(0);
        }
        if flex {
            w.bytes(&[1, 5, 1, 0x99]);
        }
        out
    }

    /// A response of `version` naming two brokers, for the table's test.
    pub(crate) fn sample(version: i16) -> Vec<u8> {
        build(version, &BROKERS)
    }

    /// `brokers` with the addresses [`RenameMapper`] gives them; `hosts` owns the new names.
    fn renamed<'h>(brokers: &[Broker<'h>], hosts: &'h [String]) -> Vec<Broker<'h>> {
        brokers
            .iter()
            .zip(hosts)
            .map(|(b, host)| Broker {
                id: b.id,
                host,
                port: RenameMapper::port(b.id),
                rack: b.rack,
            })
            .collect()
    }

    fn renamed_hosts(brokers: &[Broker<'_>]) -> Vec<String> {
        brokers.iter().map(|b| RenameMapper::host(b.id)).collect()
    }

    #[test]
    fn v1_from_byte_literal() {
        let body = [
            0, 0, 0, 1, // one broker
            0, 0, 0, 3, // NodeId 3
            0, 2, b'b', b'3', // Host "b3"
            0, 0, 0x23, 0x84, // Port 9092
            0xff, 0xff, // Rack null
            0, 0, 0, 3, // ControllerId
            0, 0, 0, 0, // no topics
        ];
        let msg = MetadataResponse::decode(1, &body).unwrap();
        assert_eq!(msg.brokers.len(), 1);
        assert_eq!(msg.brokers[0].node_id, 3);
        assert_eq!(msg.brokers[0].host, "b3");
        assert_eq!(msg.brokers[0].port, 9092);
        assert_eq!(msg.brokers[0].rack, None);
        assert_eq!(msg.rest, &body[18..]);
        let mut out = Vec::new();
        msg.encode(1, &mut out);
        assert_eq!(out, body);
    }

    #[test]
    fn round_trip_every_version() {
        for version in VERSIONS {
            let body = build(version, &BROKERS);
            let msg = MetadataResponse::decode(version, &body).unwrap();
            assert_eq!(msg.brokers.len(), 2, "v{version}");
            assert_eq!(msg.brokers[0].host, "b1.internal");
            assert_eq!(msg.brokers[1].port, 9093);
            let rack = if version >= 1 { Some("rack-a") } else { None };
            assert_eq!(msg.brokers[0].rack, rack);
            let mut out = Vec::new();
            msg.encode(version, &mut out);
            assert_eq!(out, body, "v{version}");
        }
    }

    #[test]
    fn rewrite_every_version() {
        for version in VERSIONS {
            let body = build(version, &BROKERS);
            let mut mapper = RenameMapper::default();
            let mut out = Vec::new();
            assert_eq!(
                rewrite_brokers::<MetadataResponse>(version, &body, &mut mapper, &mut out),
                Ok(true)
            );
            assert_eq!(
                mapper.seen,
                vec![
                    (1, "b1.internal".to_string(), 9092),
                    (2, "b2.internal".to_string(), 9093)
                ]
            );
            // The whole expected body, unknown tags included, built independently.
            let hosts = renamed_hosts(&BROKERS);
            assert_eq!(
                out,
                build(version, &renamed(&BROKERS, &hosts)),
                "v{version}"
            );
            let before = MetadataResponse::decode(version, &body).unwrap();
            let after = MetadataResponse::decode(version, &out).unwrap();
            assert_eq!(after.brokers[1].host, "proxy-2.example");
            assert_eq!(after.brokers[1].port, 19002);
            assert_eq!(after.rest, before.rest);
            assert_eq!(after.throttle, before.throttle);
            for (a, b) in after.brokers.iter().zip(&before.brokers) {
                assert_eq!((a.node_id, a.rack, a.tagged), (b.node_id, b.rack, b.tagged));
            }
        }
    }

    #[test]
    fn unchanged_addresses_are_not_reencoded() {
        for version in VERSIONS {
            let body = build(version, &BROKERS);
            let mut out = Vec::new();
            assert_eq!(
                rewrite_brokers::<MetadataResponse>(version, &body, &mut KeepAddresses, &mut out),
                Ok(false)
            );
            assert_eq!(
                rewrite_brokers::<MetadataResponse>(version, &body, &mut SameMapper, &mut out),
                Ok(false)
            );
        }
    }

    #[test]
    fn truncation_and_trailing_bytes_fail() {
        for version in VERSIONS {
            let body = build(version, &BROKERS);
            assert_prefixes_and_trailing_fail(&body, |b| {
                MetadataResponse::decode(version, b).is_ok()
            });
            assert_prefixes_and_trailing_fail(&body, |b| {
                rewrite_brokers::<MetadataResponse>(
                    version,
                    b,
                    &mut RenameMapper::default(),
                    &mut Vec::new(),
                )
                .is_ok()
            });
        }
    }

    #[test]
    fn errors_propagate() {
        let body = build(12, &BROKERS);
        let mut out = Vec::new();
        assert_eq!(
            rewrite_brokers::<MetadataResponse>(12, &body, &mut FailMapper, &mut out),
            Err(RewriteError::Map(MapError(
                "no listener for broker 1".to_string()
            )))
        );
        for port in [-1, 65536] {
            assert_eq!(
                rewrite_brokers::<MetadataResponse>(
                    12,
                    &body,
                    &mut FixedMapper("p", port),
                    &mut out
                ),
                Err(RewriteError::Codec(CodecError::InvalidValue(
                    "advertised port"
                )))
            );
        }
        assert_eq!(
            rewrite_brokers::<MetadataResponse>(12, &body, &mut FixedMapper("p", 65535), &mut out),
            Ok(true)
        );
        for version in [-1, 14] {
            assert_eq!(
                MetadataResponse::decode(version, &body),
                Err(CodecError::InvalidValue("Metadata response version"))
            );
        }
    }

    #[test]
    fn decoded_port_is_whatever_was_sent() {
        let body = build(
            4,
            &[Broker {
                id: 9,
                host: "h",
                port: -7,
                rack: None,
            }],
        );
        let msg = MetadataResponse::decode(4, &body).unwrap();
        assert_eq!(msg.brokers[0].port, -7);
    }

    #[test]
    fn huge_broker_count_is_rejected_before_allocating() {
        let body = [0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0];
        assert_eq!(
            MetadataResponse::decode(3, &body),
            Err(CodecError::InvalidLength("Brokers"))
        );
    }
}
