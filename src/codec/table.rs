//! The one table of what the codec decodes: for each API whose responses it reads, the versions
//! it decodes and how those responses are rewritten. Everything else that depends on these facts
//! is derived from it, so they cannot drift apart: which responses the proxy reads whole
//! ([`crate::codec::rewrite::needs_rewrite`]), the dispatch of
//! [`crate::codec::rewrite::rewrite_response`] and
//! [`crate::codec::rewrite::rewrite_response_tail`], the cap on ApiVersions responses
//! ([`ApiKey::max_decoded_version`]), each message module's `VERSIONS`, and the APIs the fuzz
//! harness picks from.

use super::api::ApiKey;
use super::describe_cluster::DescribeClusterResponse;
use super::find_coordinator::FindCoordinatorResponse;
use super::metadata::MetadataResponse;
use super::node_endpoints::{self, ShareAcknowledgeResponse, ShareFetchResponse};
use super::rewrite::{rewrite_brokers, AddressMapper, RewriteError};
use std::ops::RangeInclusive;

/// A rewrite of a whole body: `Ok(true)` with the new body in `out`, `Ok(false)` when the body
/// can be forwarded as it is.
pub type RewriteFn =
    fn(i16, &[u8], &mut dyn AddressMapper, &mut Vec<u8>) -> std::result::Result<bool, RewriteError>;

/// A rewrite of the end of a body only: `Ok(Some(kept))` when the new body is `body[..kept]`
/// followed by `out`, `Ok(None)` when the body can be forwarded as it is.
pub type TailFn = fn(
    i16,
    &[u8],
    &mut dyn AddressMapper,
    &mut Vec<u8>,
) -> std::result::Result<Option<usize>, RewriteError>;

/// How the responses of a decoded API are rewritten.
#[derive(Clone, Copy)]
pub enum Rewrite {
    /// Decoded for the proxy's own use (its SASL exchanges) and never rewritten: the responses
    /// name no broker, so they are forwarded as bytes.
    DecodeOnly,
    /// The message names brokers in a list that is decoded, remapped and encoded again
    /// ([`rewrite_brokers`]).
    Brokers(RewriteFn),
    /// The broker addresses sit in the top-level tags at the end of the body; only that end is
    /// rewritten, so a megabyte of Fetch records is not copied to change its NodeEndpoints.
    TopLevelTags(TailFn),
    /// ApiVersions: the advertised versions are capped, in place, to this table's maxima.
    CapVersions,
}

/// What is done with a response at a version outside the row's range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outside {
    /// The decoder refuses it (a version error). A rewritten API's response is still read, so
    /// the proxy never forwards a message that may name brokers without having read it.
    Refused,
    /// Older versions carry no broker addresses and are forwarded as bytes; newer ones are
    /// refused by the decoder.
    OlderCarryNone,
    /// Newer versions share the newest layout and are read like it. For ApiVersions, whose
    /// version a client picks before it has seen any cap (KIP-511 keeps the layout stable);
    /// older (negative) versions are refused.
    NewerAsNewest,
}

/// One row: an API whose responses the codec decodes.
pub struct Decoded {
    pub api_key: ApiKey,
    /// The response versions decoded. The highest is what ApiVersions responses are capped to,
    /// so a client never negotiates a version the proxy cannot parse.
    pub versions: RangeInclusive<i16>,
    pub rewrite: Rewrite,
    pub outside: Outside,
}

/// [`Rewrite::Brokers`] by [`rewrite_brokers`] for the message type `$message`. A closure, since
/// `rewrite_brokers::<M>` fixes the body's lifetime to the message's and so is no `RewriteFn`.
macro_rules! brokers {
    ($message:ident) => {
        Rewrite::Brokers(|version, body, mapper, out| {
            rewrite_brokers::<$message>(version, body, mapper, out)
        })
    };
}

const fn row(
    api_key: ApiKey,
    versions: RangeInclusive<i16>,
    rewrite: Rewrite,
    outside: Outside,
) -> Decoded {
    Decoded {
        api_key,
        versions,
        rewrite,
        outside,
    }
}

/// Every API whose responses the codec decodes. The order is the fuzz harness's: its first input
/// byte picks a row by index, and the committed seeds (`fuzz/seeds/`) name rows that way, so
/// rows are added at the end. Lookups are linear: the table is short.
pub const DECODED: &[Decoded] = &[
    row(
        ApiKey::PRODUCE,
        10..=13,
        Rewrite::TopLevelTags(node_endpoints::rewrite_produce_tail),
        Outside::OlderCarryNone,
    ),
    row(
        ApiKey::FETCH,
        16..=18,
        Rewrite::TopLevelTags(node_endpoints::rewrite_fetch_tail),
        Outside::OlderCarryNone,
    ),
    row(
        ApiKey::METADATA,
        0..=13,
        brokers!(MetadataResponse),
        Outside::Refused,
    ),
    row(
        ApiKey::FIND_COORDINATOR,
        0..=6,
        brokers!(FindCoordinatorResponse),
        Outside::Refused,
    ),
    row(
        ApiKey::DESCRIBE_CLUSTER,
        0..=2,
        brokers!(DescribeClusterResponse),
        Outside::Refused,
    ),
    // v0 was early access (Kafka 4.0), not in the 4.3 definitions: refused.
    row(
        ApiKey::SHARE_FETCH,
        1..=2,
        brokers!(ShareFetchResponse),
        Outside::Refused,
    ),
    row(
        ApiKey::SHARE_ACKNOWLEDGE,
        1..=2,
        brokers!(ShareAcknowledgeResponse),
        Outside::Refused,
    ),
    row(
        ApiKey::API_VERSIONS,
        0..=4,
        Rewrite::CapVersions,
        Outside::NewerAsNewest,
    ),
    row(
        ApiKey::SASL_HANDSHAKE,
        0..=1,
        Rewrite::DecodeOnly,
        Outside::Refused,
    ),
    row(
        ApiKey::SASL_AUTHENTICATE,
        0..=2,
        Rewrite::DecodeOnly,
        Outside::Refused,
    ),
];

/// The API keys whose responses carry broker addresses (the rows rewritten by
/// [`Rewrite::Brokers`] or [`Rewrite::TopLevelTags`]), in the table's order: what the metrics
/// count rewrites under.
pub const ADDRESS_KEYS: [i16; count_address_rows()] = address_keys();

const fn carries_addresses(rewrite: &Rewrite) -> bool {
    matches!(rewrite, Rewrite::Brokers(_) | Rewrite::TopLevelTags(_))
}

const fn count_address_rows() -> usize {
    let (mut i, mut n) = (0, 0);
    while i < DECODED.len() {
        if carries_addresses(&DECODED[i].rewrite) {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn address_keys() -> [i16; count_address_rows()] {
    let mut keys = [0; count_address_rows()];
    let (mut i, mut n) = (0, 0);
    while i < DECODED.len() {
        if carries_addresses(&DECODED[i].rewrite) {
            keys[n] = DECODED[i].api_key.0;
            n += 1;
        }
        i += 1;
    }
    keys
}

/// The row of `api_key`, if its responses are decoded.
pub fn lookup(api_key: ApiKey) -> Option<&'static Decoded> {
    DECODED.iter().find(|row| row.api_key == api_key)
}

/// The versions of `api_key` the codec decodes, for the message modules' `VERSIONS` constants.
/// Evaluated at compile time: a key with no row fails the build.
pub const fn versions(api_key: ApiKey) -> RangeInclusive<i16> {
    let mut i = 0;
    while i < DECODED.len() {
        let row = &DECODED[i];
        if row.api_key.0 == api_key.0 {
            return RangeInclusive::new(*row.versions.start(), *row.versions.end());
        }
        i += 1;
    }
    panic!("the API has no row in codec::table::DECODED")
}

impl Decoded {
    /// Whether a response of this API at `version` must be read whole and passed through the
    /// rewrite; the others are copied through as bytes.
    pub fn needs_rewrite(&self, version: i16) -> bool {
        match (self.rewrite, self.outside) {
            (Rewrite::DecodeOnly, _) => false,
            (_, Outside::OlderCarryNone) => version >= *self.versions.start(),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests;
