//! The one entry point the proxy calls for responses it must change: which (api key, version)
//! pairs carry broker addresses, and the dispatch to each message's rewriter.

use super::api::ApiKey;
use super::CodecError;
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

/// Whether responses of this API and version must be read whole and passed through
/// [`rewrite_response`]; all others are copied through as bytes.
pub fn needs_rewrite(api_key: ApiKey, version: i16) -> bool {
    match api_key {
        ApiKey::METADATA
        | ApiKey::FIND_COORDINATOR
        | ApiKey::DESCRIBE_CLUSTER
        | ApiKey::SHARE_FETCH
        | ApiKey::SHARE_ACKNOWLEDGE
        | ApiKey::API_VERSIONS => true,
        ApiKey::PRODUCE => version >= 10,
        ApiKey::FETCH => version >= 16,
        _ => false,
    }
}

/// Rewrites the broker addresses in a response body (the bytes after the response header).
///
/// Returns `Ok(true)` with the new body in `out` when anything changed, `Ok(false)` when the
/// original body can be forwarded as it is (`out` is then unspecified).
/// [`rewrite_response`] without copying what does not change: for Produce v10+ and Fetch v16+,
/// whose addresses sit in the top-level tags at the end of the body, `Ok(Some(kept))` means the
/// new body is `body[..kept]` followed by `out`; for the others `kept` is 0 (`out` is the whole
/// new body). `Ok(None)`: unchanged. A 1 MiB Fetch response is then not copied to rewrite its
/// NodeEndpoints.
pub fn rewrite_response_tail(
    api_key: ApiKey,
    version: i16,
    body: &[u8],
    mapper: &mut dyn AddressMapper,
    out: &mut Vec<u8>,
) -> std::result::Result<Option<usize>, RewriteError> {
    out.clear();
    match api_key {
        ApiKey::PRODUCE if version >= 10 => {
            super::node_endpoints::rewrite_tail(false, version, body, mapper, out)
        }
        ApiKey::FETCH => super::node_endpoints::rewrite_tail(true, version, body, mapper, out),
        _ => Ok(rewrite_response(api_key, version, body, mapper, out)?.then_some(0)),
    }
}

pub fn rewrite_response(
    api_key: ApiKey,
    version: i16,
    body: &[u8],
    mapper: &mut dyn AddressMapper,
    out: &mut Vec<u8>,
) -> std::result::Result<bool, RewriteError> {
    out.clear();
    match api_key {
        ApiKey::METADATA => super::metadata::rewrite(version, body, mapper, out),
        ApiKey::FIND_COORDINATOR => super::find_coordinator::rewrite(version, body, mapper, out),
        ApiKey::DESCRIBE_CLUSTER => super::describe_cluster::rewrite(version, body, mapper, out),
        ApiKey::PRODUCE if version >= 10 => {
            super::node_endpoints::rewrite_produce(version, body, mapper, out)
        }
        ApiKey::FETCH if version >= 16 => {
            super::node_endpoints::rewrite_fetch(version, body, mapper, out)
        }
        ApiKey::SHARE_FETCH => {
            super::node_endpoints::rewrite_share_fetch(version, body, mapper, out)
        }
        ApiKey::SHARE_ACKNOWLEDGE => {
            super::node_endpoints::rewrite_share_acknowledge(version, body, mapper, out)
        }
        ApiKey::API_VERSIONS => {
            out.extend_from_slice(body);
            Ok(super::api_versions::cap_versions(version, out)?)
        }
        _ => Ok(false),
    }
}
