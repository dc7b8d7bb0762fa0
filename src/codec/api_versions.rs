//! Stub: replaced by the real decoder.
pub fn cap_versions(_version: i16, _body: &mut [u8]) -> super::Result<bool> { Ok(false) }
