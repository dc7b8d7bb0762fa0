//! Stub: replaced by the real decoder.
use super::rewrite::{AddressMapper, RewriteError};

pub fn rewrite_produce(_: i16, _: &[u8], _: &mut dyn AddressMapper, _: &mut Vec<u8>) -> Result<bool, RewriteError> { Ok(false) }
pub fn rewrite_fetch(_: i16, _: &[u8], _: &mut dyn AddressMapper, _: &mut Vec<u8>) -> Result<bool, RewriteError> { Ok(false) }
pub fn rewrite_share_fetch(_: i16, _: &[u8], _: &mut dyn AddressMapper, _: &mut Vec<u8>) -> Result<bool, RewriteError> { Ok(false) }
pub fn rewrite_share_acknowledge(_: i16, _: &[u8], _: &mut dyn AddressMapper, _: &mut Vec<u8>) -> Result<bool, RewriteError> { Ok(false) }
