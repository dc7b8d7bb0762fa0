//! FindCoordinatorResponse (key 10), versions 0-6: one coordinator at the top level in v0-3, a
//! `Coordinators` array (KIP-699) in v4-6. Error placeholders (`NodeId -1`, empty host,
//! `Port -1`, what the broker writes when it has no coordinator) are never rewritten.

use super::api::ApiKey;
use super::rewrite::{BrokerList, BrokerMut};
use super::{check_version, table, Reader, Result, Writer};
use std::borrow::Cow;
use std::ops::RangeInclusive;

/// The FindCoordinatorResponse versions this module decodes, from [`table::DECODED`].
pub const VERSIONS: RangeInclusive<i16> = table::versions(ApiKey::FIND_COORDINATOR);
const FIRST_FLEXIBLE: i16 = 3;
const FIRST_BATCHED: i16 = 4;

/// One coordinator: the top-level fields in v0-3, a `Coordinators` element in v4+.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coordinator<'a> {
    /// v4+ (`None` before).
    pub key: Option<&'a str>,
    pub node_id: i32,
    pub host: Cow<'a, str>,
    pub port: i32,
    pub error_code: i16,
    /// v1+; `None` is null (and always `None` at v0).
    pub error_message: Option<&'a str>,
    /// The element's raw TAG_BUFFER (v4+); empty before v4.
    pub tagged: &'a [u8],
}

impl Coordinator<'_> {
    /// Whether this is the broker's "no coordinator" placeholder (`Node.noNode()`), which names
    /// no broker and must be left alone.
    pub fn is_placeholder(&self) -> bool {
        self.node_id < 0 || self.host.is_empty() || self.port < 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindCoordinatorResponse<'a> {
    /// v1+.
    pub throttle_time_ms: Option<i32>,
    /// Exactly one before v4 (encoding writes only the first, or a placeholder if empty).
    pub coordinators: Vec<Coordinator<'a>>,
    /// The body's raw TAG_BUFFER (v3+); empty before v3.
    pub tagged: &'a [u8],
}

impl<'a> FindCoordinatorResponse<'a> {
    pub fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        check_version(version, VERSIONS, "FindCoordinator response version")?;
        let flexible = version >= FIRST_FLEXIBLE;
        let mut r = Reader::new(body);
        let throttle_time_ms = if version >= 1 {
            Some(r.i32("ThrottleTimeMs")?)
        } else {
            None
        };
        let coordinators = if version < FIRST_BATCHED {
            let error_code = r.i16("ErrorCode")?;
            let error_message = if version >= 1 {
                r.nullable_string_flex(flexible, "ErrorMessage")?
            } else {
                None
            };
            let node_id = r.i32("NodeId")?;
            let host = r.string_flex(flexible, "Host")?;
            let port = r.i32("Port")?;
            vec![Coordinator {
                key: None,
                node_id,
                host: Cow::Borrowed(host),
                port,
                error_code,
                error_message,
                tagged: &[],
            }]
        } else {
            // Key, NodeId, Host, Port, ErrorCode, ErrorMessage, tags.
            let min = 1 + 4 + 1 + 4 + 2 + 1 + 1;
            let count = r.array_len_nonnull(true, min, "Coordinators")?;
            let mut coordinators = Vec::with_capacity(count);
            for _ in 0..count {
                let key = r.compact_string("Coordinators.Key")?;
                let node_id = r.i32("Coordinators.NodeId")?;
                let host = r.compact_string("Coordinators.Host")?;
                let port = r.i32("Coordinators.Port")?;
                let error_code = r.i16("Coordinators.ErrorCode")?;
                let error_message = r.compact_nullable_string("Coordinators.ErrorMessage")?;
                let tagged = r.skip_tagged_fields("Coordinators tags")?;
                coordinators.push(Coordinator {
                    key: Some(key),
                    node_id,
                    host: Cow::Borrowed(host),
                    port,
                    error_code,
                    error_message,
                    tagged,
                });
            }
            coordinators
        };
        let tagged = if flexible {
            r.skip_tagged_fields("FindCoordinator response tags")?
        } else {
            &[]
        };
        r.expect_end("FindCoordinator response")?;
        Ok(FindCoordinatorResponse {
            throttle_time_ms,
            coordinators,
            tagged,
        })
    }

    pub fn encode(&self, version: i16, out: &mut Vec<u8>) {
        let flexible = version >= FIRST_FLEXIBLE;
        let mut w = Writer::new(out);
        if version >= 1 {
            w.i32(self.throttle_time_ms.unwrap_or(0));
        }
        if version < FIRST_BATCHED {
            let no_node = Coordinator {
                key: None,
                node_id: -1,
                host: Cow::Borrowed(""),
                port: -1,
                error_code: 0,
                error_message: None,
                tagged: &[],
            };
            let c = self.coordinators.first().unwrap_or(&no_node);
            w.i16(c.error_code);
            if version >= 1 {
                w.nullable_string_flex(flexible, c.error_message);
            }
            w.i32(c.node_id);
            w.string_flex(flexible, &c.host);
            w.i32(c.port);
        } else {
            w.array_len(true, self.coordinators.len());
            for c in &self.coordinators {
                w.string_flex(true, c.key.unwrap_or(""));
                w.i32(c.node_id);
                w.string_flex(true, &c.host);
                w.i32(c.port);
                w.i16(c.error_code);
                w.nullable_string_flex(true, c.error_message);
                w.raw_tagged_fields(c.tagged);
            }
        }
        if flexible {
            w.raw_tagged_fields(self.tagged);
        }
    }
}

impl<'a> BrokerList<'a> for FindCoordinatorResponse<'a> {
    fn decode(version: i16, body: &'a [u8]) -> Result<Self> {
        Self::decode(version, body)
    }

    fn encode(&self, version: i16, out: &mut Vec<u8>) {
        self.encode(version, out)
    }

    /// Every coordinator but the error placeholders, which name no broker.
    fn brokers_mut<'m>(&'m mut self) -> impl Iterator<Item = BrokerMut<'m, 'a>>
    where
        'a: 'm,
    {
        self.coordinators
            .iter_mut()
            .filter(|c| !c.is_placeholder())
            .map(|c| BrokerMut {
                node_id: c.node_id,
                host: &mut c.host,
                port: &mut c.port,
            })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::rewrite::{rewrite_brokers, KeepAddresses, MapError, RewriteError};
    use crate::codec::test_support::*;
    use crate::codec::CodecError;

    struct Coord<'a> {
        key: &'a str,
        node_id: i32,
        host: &'a str,
        port: i32,
        error_code: i16,
        error_message: Option<&'a str>,
    }

    fn good(key: &'static str, node_id: i32, host: &'static str) -> Coord<'static> {
        Coord {
            key,
            node_id,
            host,
            port: 9092,
            error_code: 0,
            error_message: None,
        }
    }

    fn placeholder(key: &'static str) -> Coord<'static> {
        Coord {
            key,
            node_id: -1,
            host: "",
            port: -1,
            error_code: 15,
            error_message: Some("The coordinator is not available."),
        }
    }

    /// Writes a response from the wire layouts, independently of the decoder. In v4+ the first
    /// element carries an unknown tag 7; in v3+ the body carries an unknown tag 4.
    fn build(version: i16, coords: &[Coord<'_>]) -> Vec<u8> {
        let flex = version >= 3;
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        if version >= 1 {
            w.i32(12);
        }
        if version < 4 {
            let c = &coords[0];
            w.i16(c.error_code);
            if version >= 1 {
                w.nullable_string_flex(flex, c.error_message);
            }
            w.i32(c.node_id);
            w.string_flex(flex, c.host);
            w.i32(c.port);
        } else {
            w.uvarint(coords.len() as u32 + 1);
            for (i, c) in coords.iter().enumerate() {
                w.string_flex(true, c.key);
                w.i32(c.node_id);
                w.string_flex(true, c.host);
                w.i32(c.port);
                w.i16(c.error_code);
                w.nullable_string_flex(true, c.error_message);
                if i == 0 {
                    w.bytes(&[1, 7, 3, 1, 2, 3]);
                } else {
                    w.uvarint(0);
                }
            }
        }
        if flex {
            w.bytes(&[1, 4, 0]);
        }
        out
    }

    /// A response of `version` naming a coordinator (and in v4+ a placeholder), for the table's
    /// test.
    pub(crate) fn sample(version: i16) -> Vec<u8> {
        if version >= 4 {
            build(version, &[good("g1", 1, "b1"), placeholder("g2")])
        } else {
            build(version, &[good("", 1, "b1")])
        }
    }

    #[test]
    fn v0_from_byte_literal() {
        let body = [
            0, 0, // ErrorCode
            0, 0, 0, 2, // NodeId
            0, 2, b'b', b'2', // Host
            0, 0, 0x23, 0x84, // Port 9092
        ];
        let msg = FindCoordinatorResponse::decode(0, &body).unwrap();
        assert_eq!(msg.coordinators[0].host, "b2");
        assert_eq!(msg.coordinators[0].port, 9092);
        let mut out = Vec::new();
        assert_eq!(
            rewrite_brokers::<FindCoordinatorResponse>(
                0,
                &body,
                &mut RenameMapper::default(),
                &mut out
            ),
            Ok(true)
        );
        let mut expected = vec![0, 0, 0, 0, 0, 2, 0, 15];
        expected.extend_from_slice(b"proxy-2.example");
        expected.extend_from_slice(&19002i32.to_be_bytes());
        assert_eq!(out, expected);
    }

    #[test]
    fn round_trip_rewrite_every_version() {
        for version in VERSIONS {
            let coords = if version >= 4 {
                vec![good("g1", 1, "b1"), placeholder("g2"), good("t3", 3, "b3")]
            } else {
                vec![good("", 1, "b1")]
            };
            let body = build(version, &coords);
            let msg = FindCoordinatorResponse::decode(version, &body).unwrap();
            let mut out = Vec::new();
            msg.encode(version, &mut out);
            assert_eq!(out, body, "v{version}");

            let mut mapper = RenameMapper::default();
            out.clear();
            assert_eq!(
                rewrite_brokers::<FindCoordinatorResponse>(version, &body, &mut mapper, &mut out),
                Ok(true)
            );
            let asked: Vec<i32> = mapper.seen.iter().map(|s| s.0).collect();
            let want: Vec<i32> = if version >= 4 { vec![1, 3] } else { vec![1] };
            assert_eq!(asked, want, "placeholders are not asked about");
            let (h1, h3) = (RenameMapper::host(1), RenameMapper::host(3));
            let expected: Vec<Coord> = coords
                .iter()
                .map(|c| match c.node_id {
                    1 | 3 => Coord {
                        host: if c.node_id == 1 { &h1 } else { &h3 },
                        port: RenameMapper::port(c.node_id),
                        ..*c
                    },
                    _ => Coord { ..*c },
                })
                .collect();
            assert_eq!(out, build(version, &expected), "v{version}");
            let after = FindCoordinatorResponse::decode(version, &out).unwrap();
            assert_eq!(after.tagged, msg.tagged);
            for (a, b) in after.coordinators.iter().zip(&msg.coordinators) {
                assert_eq!(
                    (a.key, a.node_id, a.error_code, a.error_message, a.tagged),
                    (b.key, b.node_id, b.error_code, b.error_message, b.tagged)
                );
            }

            assert_eq!(
                rewrite_brokers::<FindCoordinatorResponse>(
                    version,
                    &body,
                    &mut KeepAddresses,
                    &mut out
                ),
                Ok(false)
            );
            assert_eq!(
                rewrite_brokers::<FindCoordinatorResponse>(
                    version,
                    &body,
                    &mut SameMapper,
                    &mut out
                ),
                Ok(false)
            );
            assert_prefixes_and_trailing_fail(&body, |b| {
                FindCoordinatorResponse::decode(version, b).is_ok()
            });
        }
    }

    #[test]
    fn placeholders_alone_are_left_alone() {
        for version in VERSIONS {
            let body = build(version, &[placeholder("g")]);
            let mut out = Vec::new();
            // FailMapper proves the mapper is never asked.
            assert_eq!(
                rewrite_brokers::<FindCoordinatorResponse>(
                    version,
                    &body,
                    &mut FailMapper,
                    &mut out
                ),
                Ok(false)
            );
        }
        let body = build(4, &[]);
        assert_eq!(
            rewrite_brokers::<FindCoordinatorResponse>(4, &body, &mut FailMapper, &mut Vec::new()),
            Ok(false)
        );
    }

    #[test]
    fn errors_propagate() {
        let body = build(2, &[good("", 5, "b5")]);
        assert_eq!(
            rewrite_brokers::<FindCoordinatorResponse>(2, &body, &mut FailMapper, &mut Vec::new()),
            Err(RewriteError::Map(MapError(
                "no listener for broker 5".to_string()
            )))
        );
        assert_eq!(
            FindCoordinatorResponse::decode(7, &body),
            Err(CodecError::InvalidValue("FindCoordinator response version"))
        );
    }

    #[test]
    fn crafted_coordinator_count_is_rejected() {
        // Claims 2^28 coordinators in a 10-byte body.
        let body = [0, 0, 0, 0, 0x81, 0x80, 0x80, 0x80, 0x01, 0];
        assert_eq!(
            FindCoordinatorResponse::decode(4, &body),
            Err(CodecError::InvalidLength("Coordinators"))
        );
    }
}
