//! Stub: replaced by the real decoder.
use super::rewrite::{AddressMapper, RewriteError};

pub fn rewrite(
    _version: i16,
    _body: &[u8],
    _mapper: &mut dyn AddressMapper,
    _out: &mut Vec<u8>,
) -> Result<bool, RewriteError> {
    Ok(false)
}
