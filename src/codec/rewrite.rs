//! The one entry point the proxy calls for responses it must change: which (api key, version)
//! pairs carry broker addresses, and the dispatch to each message's rewriter, both read from
//! [`table::DECODED`]; and the one rewrite of the messages that list brokers
//! ([`rewrite_brokers`]).

use super::api::ApiKey;
use super::api_versions::cap_versions;
use super::table::{self, Rewrite};
use super::{remap_broker, CodecError};
use std::borrow::Cow;
use std::fmt;

/// A broker address as a response names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerAddress<'a> {
    pub node_id: i32,
    pub host: &'a str,
    pub port: i32,
}

/// The address the proxy advertises instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advertised {
    pub host: String,
    pub port: i32,
}

/// Why a broker address could not be mapped (for example: no listener for it and dynamic
/// listeners are disabled, or binding a dynamic listener failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError(pub String);

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decides the advertised address for each broker a response names.
pub trait AddressMapper {
    /// `Ok(None)` keeps the broker's own address.
    fn advertise(
        &mut self,
        broker: BrokerAddress<'_>,
    ) -> std::result::Result<Option<Advertised>, MapError>;
}

/// Maps nothing: decoding alone, for tests and fuzzing.
pub struct KeepAddresses;

impl AddressMapper for KeepAddresses {
    fn advertise(
        &mut self,
        _: BrokerAddress<'_>,
    ) -> std::result::Result<Option<Advertised>, MapError> {
        Ok(None)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RewriteError {
    /// The response could not be decoded.
    Codec(CodecError),
    /// A broker address could not be mapped.
    Map(MapError),
}

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RewriteError::Codec(e) => write!(f, "malformed response: {e}"),
            RewriteError::Map(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RewriteError {}

impl From<CodecError> for RewriteError {
    fn from(e: CodecError) -> Self {
        RewriteError::Codec(e)
    }
}

impl From<MapError> for RewriteError {
    fn from(e: MapError) -> Self {
        RewriteError::Map(e)
    }
}

/// A broker address inside a decoded message, to be remapped in place.
pub struct BrokerMut<'m, 'a> {
    pub node_id: i32,
    pub host: &'m mut Cow<'a, str>,
    pub port: &'m mut i32,
}

/// A response message that names brokers in lists it decodes: what [`rewrite_brokers`] needs to
/// read it, replace its broker addresses and write it again.
pub trait BrokerList<'a>: Sized {
    /// Decodes a whole body; versions outside the message's row of [`table::DECODED`] are
    /// refused with [`CodecError::InvalidValue`].
    fn decode(version: i16, body: &'a [u8]) -> Result<Self, CodecError>;

    /// Writes the message; a decoded message that was not changed gives back the same bytes.
    fn encode(&self, version: i16, out: &mut Vec<u8>);

    /// The addresses the mapper is asked about, in the order the body gives them. Entries that
    /// name no broker (FindCoordinator's error placeholders) are left out.
    fn brokers_mut<'m>(&'m mut self) -> impl Iterator<Item = BrokerMut<'m, 'a>>
    where
        'a: 'm;
}

/// Replaces every broker address the mapper changes. `Ok(true)` with the new body in `out` when
/// any changed; `Ok(false)` when the body can be forwarded unchanged (then nothing is encoded).
pub fn rewrite_brokers<'a, M: BrokerList<'a>>(
    version: i16,
    body: &'a [u8],
    mapper: &mut dyn AddressMapper,
    out: &mut Vec<u8>,
) -> Result<bool, RewriteError> {
    let mut msg = M::decode(version, body)?;
    let mut changed = false;
    for b in msg.brokers_mut() {
        changed |= remap_broker(mapper, b.node_id, b.host, b.port)?;
    }
    if changed {
        msg.encode(version, out);
    }
    Ok(changed)
}

/// Whether responses of this API and version must be read whole and passed through
/// [`rewrite_response_tail`]; all others are copied through as bytes. From [`table::DECODED`].
pub fn needs_rewrite(api_key: ApiKey, version: i16) -> bool {
    table::lookup(api_key).is_some_and(|row| row.needs_rewrite(version))
}

/// Rewrites the broker addresses in a response body (the bytes after the response header),
/// without copying what does not change: `Ok(Some(kept))` means the new body is `body[..kept]`
/// followed by `out`. For Produce v10+ and Fetch v16+, whose addresses sit in the top-level tags
/// at the end of the body, `kept` is where those tags start, so a 1 MiB Fetch response is not
/// copied to rewrite its NodeEndpoints; for the others it is 0 (`out` is the whole new body).
/// `Ok(None)`: the original body can be forwarded as it is (`out` is then unspecified).
pub fn rewrite_response_tail(
    api_key: ApiKey,
    version: i16,
    body: &[u8],
    mapper: &mut dyn AddressMapper,
    out: &mut Vec<u8>,
) -> Result<Option<usize>, RewriteError> {
    out.clear();
    let Some(row) = table::lookup(api_key).filter(|row| row.needs_rewrite(version)) else {
        return Ok(None);
    };
    match row.rewrite {
        Rewrite::DecodeOnly => Ok(None),
        Rewrite::Brokers(rewrite) => Ok(rewrite(version, body, mapper, out)?.then_some(0)),
        Rewrite::TopLevelTags(rewrite_tail) => rewrite_tail(version, body, mapper, out),
        Rewrite::CapVersions => {
            out.extend_from_slice(body);
            Ok(cap_versions(version, out)?.then_some(0))
        }
    }
}

/// [`rewrite_response_tail`] with the new body whole in `out`: `Ok(true)` when anything changed,
/// `Ok(false)` when the original body can be forwarded as it is (`out` is then unspecified).
/// The same rewrite, so the two cannot disagree; the proxy itself uses the tail form.
pub fn rewrite_response(
    api_key: ApiKey,
    version: i16,
    body: &[u8],
    mapper: &mut dyn AddressMapper,
    out: &mut Vec<u8>,
) -> Result<bool, RewriteError> {
    let Some(kept) = rewrite_response_tail(api_key, version, body, mapper, out)? else {
        return Ok(false);
    };
    let head = body
        .get(..kept)
        .ok_or(CodecError::Truncated("response tags"))?;
    out.splice(0..0, head.iter().copied());
    Ok(true)
}
