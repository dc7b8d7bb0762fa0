//! The Kafka wire codec: a checked cursor over borrowed bytes, a writer that appends to a `Vec`,
//! the protocol's primitive types, and one module per message the proxy must understand.
//!
//! Every read is checked and returns a `Result`; nothing here indexes on a length a peer
//! controls. Messages are decoded only as far as needed to find and replace broker addresses:
//! everything else is kept as borrowed raw slices and written back unchanged, so decoding and
//! re-encoding an unmodified message gives the same bytes.

pub mod api;
pub mod api_versions;
pub mod describe_cluster;
pub mod find_coordinator;
#[doc(hidden)]
pub mod header;
pub mod metadata;
pub mod node_endpoints;
pub mod rewrite;
pub mod sasl;
pub mod table;

pub use header::produce_acks;

use rewrite::{AddressMapper, BrokerAddress, RewriteError};
use std::borrow::Cow;
use std::fmt;
use std::ops::RangeInclusive;

/// Longest string the protocol allows: Kafka rejects strings over `i16::MAX` bytes.
pub const MAX_STRING_LEN: usize = i16::MAX as usize;

/// A decoding failure. `Copy`, with static context, so it costs nothing to return and carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// The input ended before the named field was complete.
    Truncated(&'static str),
    /// A length prefix was negative where null is not allowed, or larger than the protocol allows.
    InvalidLength(&'static str),
    /// A varint ran past its maximum encoded size.
    VarintTooLong(&'static str),
    /// A string was not UTF-8.
    InvalidUtf8(&'static str),
    /// Bytes were left over after the message ended.
    TrailingBytes(&'static str),
    /// A value is outside what the field allows (a port outside 0..=65535, a version not handled).
    InvalidValue(&'static str),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Truncated(what) => write!(f, "truncated at {what}"),
            CodecError::InvalidLength(what) => write!(f, "invalid length for {what}"),
            CodecError::VarintTooLong(what) => write!(f, "varint too long in {what}"),
            CodecError::InvalidUtf8(what) => write!(f, "{what} is not valid UTF-8"),
            CodecError::TrailingBytes(what) => write!(f, "unexpected bytes after {what}"),
            CodecError::InvalidValue(what) => write!(f, "invalid value for {what}"),
        }
    }
}

impl std::error::Error for CodecError {}

pub type Result<T> = std::result::Result<T, CodecError>;

/// A checked cursor over a borrowed byte slice.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes not read yet, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// The bytes between an earlier `position()` and now.
    pub fn since(&self, start: usize) -> &'a [u8] {
        &self.buf[start.min(self.pos)..self.pos]
    }

    /// Fails unless every byte was consumed.
    pub fn expect_end(&self, what: &'static str) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(CodecError::TrailingBytes(what))
        }
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        match rest.split_at_checked(n) {
            Some((head, _)) => {
                self.pos += n;
                Ok(head)
            }
            None => Err(CodecError::Truncated(what)),
        }
    }

    /// Takes the rest of the input.
    pub fn take_rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn i8(&mut self, what: &'static str) -> Result<i8> {
        Ok(i8::from_be_bytes(self.array(what)?))
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool> {
        Ok(self.i8(what)? != 0)
    }

    pub fn i16(&mut self, what: &'static str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    pub fn uuid(&mut self, what: &'static str) -> Result<[u8; 16]> {
        self.array(what)
    }

    /// UNSIGNED_VARINT: LEB128, at most 5 bytes for 32 bits.
    pub fn uvarint(&mut self, what: &'static str) -> Result<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let byte = self.array::<1>(what)?[0];
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                if i == 4 && byte > 0x0f {
                    return Err(CodecError::VarintTooLong(what));
                }
                return Ok(value);
            }
        }
        Err(CodecError::VarintTooLong(what))
    }

    /// VARINT: zig-zag encoded signed 32-bit.
    pub fn varint(&mut self, what: &'static str) -> Result<i32> {
        let u = self.uvarint(what)?;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// A classic INT16-length STRING (non-null).
    pub fn string(&mut self, what: &'static str) -> Result<&'a str> {
        match self.nullable_string(what)? {
            Some(s) => Ok(s),
            None => Err(CodecError::InvalidLength(what)),
        }
    }

    /// A classic NULLABLE_STRING: INT16 length, negative = null.
    pub fn nullable_string(&mut self, what: &'static str) -> Result<Option<&'a str>> {
        let len = self.i16(what)?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize, what)?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| CodecError::InvalidUtf8(what))
    }

    /// A COMPACT_STRING: UNSIGNED_VARINT N+1 (non-null).
    pub fn compact_string(&mut self, what: &'static str) -> Result<&'a str> {
        match self.compact_nullable_string(what)? {
            Some(s) => Ok(s),
            None => Err(CodecError::InvalidLength(what)),
        }
    }

    /// A COMPACT_NULLABLE_STRING: UNSIGNED_VARINT N+1, 0 = null.
    pub fn compact_nullable_string(&mut self, what: &'static str) -> Result<Option<&'a str>> {
        let n = self.uvarint(what)?;
        if n == 0 {
            return Ok(None);
        }
        let len = (n - 1) as usize;
        if len > MAX_STRING_LEN {
            return Err(CodecError::InvalidLength(what));
        }
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| CodecError::InvalidUtf8(what))
    }

    /// A string in the encoding the message version uses.
    pub fn string_flex(&mut self, flexible: bool, what: &'static str) -> Result<&'a str> {
        if flexible {
            self.compact_string(what)
        } else {
            self.string(what)
        }
    }

    /// A nullable string in the encoding the message version uses.
    pub fn nullable_string_flex(
        &mut self,
        flexible: bool,
        what: &'static str,
    ) -> Result<Option<&'a str>> {
        if flexible {
            self.compact_nullable_string(what)
        } else {
            self.nullable_string(what)
        }
    }

    /// The element count of an ARRAY (INT32) or COMPACT_ARRAY (UNSIGNED_VARINT N+1).
    /// `None` is a null array. The count is checked against the bytes left, given the smallest
    /// encoded size of one element, so a peer cannot make us allocate for elements it never sent.
    pub fn array_len(
        &mut self,
        flexible: bool,
        min_element_size: usize,
        what: &'static str,
    ) -> Result<Option<usize>> {
        let count = if flexible {
            match self.uvarint(what)? {
                0 => return Ok(None),
                n => (n - 1) as usize,
            }
        } else {
            match self.i32(what)? {
                n if n < 0 => return Ok(None),
                n => n as usize,
            }
        };
        if count.saturating_mul(min_element_size.max(1)) > self.remaining() {
            return Err(CodecError::InvalidLength(what));
        }
        Ok(Some(count))
    }

    /// Like [`Reader::array_len`] for a field where null is not allowed.
    pub fn array_len_nonnull(
        &mut self,
        flexible: bool,
        min_element_size: usize,
        what: &'static str,
    ) -> Result<usize> {
        self.array_len(flexible, min_element_size, what)?
            .ok_or(CodecError::InvalidLength(what))
    }

    /// BYTES/RECORDS (INT32 length) or COMPACT_BYTES/RECORDS (UNSIGNED_VARINT N+1); `None` is null.
    pub fn nullable_bytes_flex(
        &mut self,
        flexible: bool,
        what: &'static str,
    ) -> Result<Option<&'a [u8]>> {
        let len = if flexible {
            match self.uvarint(what)? {
                0 => return Ok(None),
                n => (n - 1) as usize,
            }
        } else {
            match self.i32(what)? {
                n if n < 0 => return Ok(None),
                n => n as usize,
            }
        };
        self.take(len, what).map(Some)
    }

    /// BYTES/RECORDS or COMPACT_BYTES/RECORDS where null is not allowed.
    pub fn bytes_flex(&mut self, flexible: bool, what: &'static str) -> Result<&'a [u8]> {
        self.nullable_bytes_flex(flexible, what)?
            .ok_or(CodecError::InvalidLength(what))
    }

    /// The length prefix of a (nullable) string in the encoding the message version uses;
    /// `None` is null.
    fn string_len(&mut self, flexible: bool, what: &'static str) -> Result<Option<usize>> {
        if flexible {
            match self.uvarint(what)? {
                0 => Ok(None),
                n if (n - 1) as usize > MAX_STRING_LEN => Err(CodecError::InvalidLength(what)),
                n => Ok(Some((n - 1) as usize)),
            }
        } else {
            match self.i16(what)? {
                n if n < 0 => Ok(None),
                n => Ok(Some(n as usize)),
            }
        }
    }

    /// Skips a nullable string, checking its length but not its UTF-8: for walking past fields
    /// the proxy never looks at.
    pub fn skip_nullable_string_flex(&mut self, flexible: bool, what: &'static str) -> Result<()> {
        if let Some(len) = self.string_len(flexible, what)? {
            self.take(len, what)?;
        }
        Ok(())
    }

    /// Skips a non-null string, like [`Reader::skip_nullable_string_flex`].
    pub fn skip_string_flex(&mut self, flexible: bool, what: &'static str) -> Result<()> {
        match self.string_len(flexible, what)? {
            Some(len) => self.take(len, what).map(|_| ()),
            None => Err(CodecError::InvalidLength(what)),
        }
    }

    /// Skips a non-null array whose elements all take `element_size` bytes (INT32 node ids,
    /// for instance). Returns the element count.
    pub fn skip_fixed_array(
        &mut self,
        flexible: bool,
        element_size: usize,
        what: &'static str,
    ) -> Result<usize> {
        let n = self.array_len_nonnull(flexible, element_size, what)?;
        self.take(n * element_size, what)?;
        Ok(n)
    }

    /// Skips a TAG_BUFFER, checking its structure. Returns the raw bytes it occupied.
    pub fn skip_tagged_fields(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let start = self.pos;
        let count = self.uvarint(what)?;
        for _ in 0..count {
            self.uvarint(what)?;
            let size = self.uvarint(what)? as usize;
            self.take(size, what)?;
        }
        Ok(&self.buf[start..self.pos])
    }

    /// Reads a TAG_BUFFER into its fields, each as `(tag, raw value bytes)`.
    pub fn tagged_fields(&mut self, what: &'static str) -> Result<Vec<TaggedField<'a>>> {
        let count = self.uvarint(what)? as usize;
        // Each field takes at least two bytes (tag and size), which bounds the allocation.
        if count.saturating_mul(2) > self.remaining() {
            return Err(CodecError::InvalidLength(what));
        }
        let mut fields = Vec::with_capacity(count);
        for _ in 0..count {
            let tag = self.uvarint(what)?;
            let size = self.uvarint(what)? as usize;
            let data = self.take(size, what)?;
            fields.push(TaggedField { tag, data });
        }
        Ok(fields)
    }

    /// A nested reader over the next `n` bytes, which are consumed from this one.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>> {
        Ok(Reader::new(self.take(n, what)?))
    }
}

/// One entry of a TAG_BUFFER, its value kept as raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedField<'a> {
    pub tag: u32,
    pub data: &'a [u8],
}

/// Appends Kafka primitives to a `Vec<u8>`.
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Writer { out }
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    pub fn i8(&mut self, v: i8) {
        self.out.push(v as u8);
    }

    pub fn bool(&mut self, v: bool) {
        self.out.push(u8::from(v));
    }

    pub fn i16(&mut self, v: i16) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn i32(&mut self, v: i32) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn i64(&mut self, v: i64) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    pub fn varint(&mut self, v: i32) {
        self.uvarint(((v << 1) ^ (v >> 31)) as u32);
    }

    /// Writes a string in the encoding the message version uses. Strings longer than
    /// [`MAX_STRING_LEN`] cannot be encoded; callers validate them first (addresses come from
    /// configuration and from decoded messages, both already bounded).
    pub fn string_flex(&mut self, flexible: bool, s: &str) {
        self.nullable_string_flex(flexible, Some(s));
    }

    pub fn nullable_string_flex(&mut self, flexible: bool, s: Option<&str>) {
        match (flexible, s) {
            (true, None) => self.uvarint(0),
            (true, Some(s)) => {
                self.uvarint(s.len() as u32 + 1);
                self.bytes(s.as_bytes());
            }
            (false, None) => self.i16(-1),
            (false, Some(s)) => {
                self.i16(s.len().min(MAX_STRING_LEN) as i16);
                self.bytes(&s.as_bytes()[..s.len().min(MAX_STRING_LEN)]);
            }
        }
    }

    /// Writes an array length: INT32 N, or UNSIGNED_VARINT N+1 when flexible.
    pub fn array_len(&mut self, flexible: bool, n: usize) {
        if flexible {
            self.uvarint(n as u32 + 1);
        } else {
            self.i32(n as i32);
        }
    }

    /// Writes BYTES/RECORDS (INT32 length) or COMPACT_BYTES/RECORDS (UNSIGNED_VARINT N+1).
    pub fn bytes_flex(&mut self, flexible: bool, b: &[u8]) {
        self.nullable_bytes_flex(flexible, Some(b));
    }

    /// Like [`Writer::bytes_flex`]; `None` writes null.
    pub fn nullable_bytes_flex(&mut self, flexible: bool, b: Option<&[u8]>) {
        match (flexible, b) {
            (true, None) => self.uvarint(0),
            (true, Some(b)) => {
                self.uvarint(b.len() as u32 + 1);
                self.bytes(b);
            }
            (false, None) => self.i32(-1),
            (false, Some(b)) => {
                self.i32(b.len() as i32);
                self.bytes(b);
            }
        }
    }

    /// Writes a raw TAG_BUFFER kept from a decoded message; an empty slice (a value built by
    /// hand) writes the empty buffer.
    pub fn raw_tagged_fields(&mut self, raw: &[u8]) {
        if raw.is_empty() {
            self.bytes(NO_TAGGED_FIELDS);
        } else {
            self.bytes(raw);
        }
    }

    /// Writes a TAG_BUFFER from fields already in ascending tag order.
    pub fn tagged_fields(&mut self, fields: &[TaggedField<'_>]) {
        self.uvarint(fields.len() as u32);
        for field in fields {
            self.uvarint(field.tag);
            self.uvarint(field.data.len() as u32);
            self.bytes(field.data);
        }
    }
}

/// The number of bytes `v` takes as an UNSIGNED_VARINT.
pub fn uvarint_len(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0x0fff_ffff => 4,
        _ => 5,
    }
}

/// An empty TAG_BUFFER (zero fields): what a struct with no tagged fields set ends with.
pub const NO_TAGGED_FIELDS: &[u8] = &[0];

/// Fails with [`CodecError::InvalidValue`] unless `version` is in `range`.
pub(crate) fn check_version(
    version: i16,
    range: RangeInclusive<i16>,
    what: &'static str,
) -> Result<()> {
    if range.contains(&version) {
        Ok(())
    } else {
        Err(CodecError::InvalidValue(what))
    }
}

/// Asks `mapper` where to advertise one broker and applies the answer to `host` and `port`.
/// Returns whether either actually changed. The advertised address is checked before use: a
/// port must fit the 0..=65535 a client can connect to, a host must fit a Kafka string.
pub(crate) fn remap_broker<'a>(
    mapper: &mut dyn AddressMapper,
    node_id: i32,
    host: &mut Cow<'a, str>,
    port: &mut i32,
) -> std::result::Result<bool, RewriteError> {
    let advertised = mapper.advertise(BrokerAddress {
        node_id,
        host,
        port: *port,
    })?;
    let Some(advertised) = advertised else {
        return Ok(false);
    };
    if !(0..=i32::from(u16::MAX)).contains(&advertised.port) {
        return Err(CodecError::InvalidValue("advertised port").into());
    }
    if advertised.host.len() > MAX_STRING_LEN {
        return Err(CodecError::InvalidValue("advertised host").into());
    }
    if advertised.host == **host && advertised.port == *port {
        return Ok(false);
    }
    *host = Cow::Owned(advertised.host);
    *port = advertised.port;
    Ok(true)
}

/// Mappers and checks shared by the message tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::rewrite::{AddressMapper, Advertised, BrokerAddress, MapError};

    /// Advertises broker N as `proxy-N.example:(19000 + N)` and records every broker asked about.
    #[derive(Default)]
    pub struct RenameMapper {
        pub seen: Vec<(i32, String, i32)>,
    }

    impl RenameMapper {
        pub fn host(node_id: i32) -> String {
            format!("proxy-{node_id}.example")
        }
        pub fn port(node_id: i32) -> i32 {
            19000 + node_id
        }
    }

    impl AddressMapper for RenameMapper {
        fn advertise(&mut self, b: BrokerAddress<'_>) -> Result<Option<Advertised>, MapError> {
            self.seen.push((b.node_id, b.host.to_string(), b.port));
            Ok(Some(Advertised {
                host: Self::host(b.node_id),
                port: Self::port(b.node_id),
            }))
        }
    }

    /// Answers every broker with the address it already has.
    pub struct SameMapper;

    impl AddressMapper for SameMapper {
        fn advertise(&mut self, b: BrokerAddress<'_>) -> Result<Option<Advertised>, MapError> {
            Ok(Some(Advertised {
                host: b.host.to_string(),
                port: b.port,
            }))
        }
    }

    /// Fails for every broker.
    pub struct FailMapper;

    impl AddressMapper for FailMapper {
        fn advertise(&mut self, b: BrokerAddress<'_>) -> Result<Option<Advertised>, MapError> {
            Err(MapError(format!("no listener for broker {}", b.node_id)))
        }
    }

    /// Advertises a fixed address for every broker.
    pub struct FixedMapper(pub &'static str, pub i32);

    impl AddressMapper for FixedMapper {
        fn advertise(&mut self, _: BrokerAddress<'_>) -> Result<Option<Advertised>, MapError> {
            Ok(Some(Advertised {
                host: self.0.to_string(),
                port: self.1,
            }))
        }
    }

    /// Every strict prefix of `bytes` must fail to decode, and so must `bytes` plus one byte.
    /// `decodes` says whether its input decoded.
    pub fn assert_prefixes_and_trailing_fail(bytes: &[u8], decodes: impl Fn(&[u8]) -> bool) {
        for cut in 0..bytes.len() {
            assert!(
                !decodes(&bytes[..cut]),
                "prefix of {cut}/{} bytes decoded",
                bytes.len()
            );
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(!decodes(&longer), "trailing byte accepted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_round_trip_and_lengths() {
        for v in [
            0u32,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            2_097_151,
            268_435_455,
            u32::MAX,
        ] {
            let mut out = Vec::new();
            Writer::new(&mut out).uvarint(v);
            assert_eq!(out.len(), uvarint_len(v), "length of {v}");
            let mut r = Reader::new(&out);
            assert_eq!(r.uvarint("v").unwrap(), v);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn varint_zigzag() {
        for v in [0i32, -1, 1, -64, 63, i32::MIN, i32::MAX] {
            let mut out = Vec::new();
            Writer::new(&mut out).varint(v);
            assert_eq!(Reader::new(&out).varint("v").unwrap(), v);
        }
    }

    #[test]
    fn uvarint_rejects_overlong() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(
            Reader::new(&bytes).uvarint("v"),
            Err(CodecError::VarintTooLong("v"))
        );
        // Fifth byte carrying more than 4 bits overflows u32.
        let bytes = [0xff, 0xff, 0xff, 0xff, 0x1f];
        assert_eq!(
            Reader::new(&bytes).uvarint("v"),
            Err(CodecError::VarintTooLong("v"))
        );
    }

    #[test]
    fn strings_checked() {
        let mut r = Reader::new(&[0x00, 0x03, b'a', b'b']);
        assert_eq!(r.string("s"), Err(CodecError::Truncated("s")));
        let mut r = Reader::new(&[0xff, 0xff]);
        assert_eq!(r.nullable_string("s"), Ok(None));
        let mut r = Reader::new(&[0xff, 0xff]);
        assert_eq!(r.string("s"), Err(CodecError::InvalidLength("s")));
        let mut r = Reader::new(&[0x03, b'h', b'i']);
        assert_eq!(r.compact_string("s"), Ok("hi"));
        let mut r = Reader::new(&[0x02, 0xff]);
        assert_eq!(r.compact_string("s"), Err(CodecError::InvalidUtf8("s")));
    }

    #[test]
    fn array_len_bounded_by_input() {
        // Claims a billion elements with four bytes left.
        let mut r = Reader::new(&[0x3b, 0x9a, 0xca, 0x00, 0, 0, 0, 0]);
        assert_eq!(
            r.array_len(false, 4, "a"),
            Err(CodecError::InvalidLength("a"))
        );
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.array_len(false, 4, "a"), Ok(None));
        let mut r = Reader::new(&[0x00]);
        assert_eq!(r.array_len(true, 4, "a"), Ok(None));
    }

    #[test]
    fn tagged_fields_round_trip() {
        let bytes = [0x02, 0x00, 0x01, 0xaa, 0x05, 0x02, 0xbb, 0xcc];
        let mut r = Reader::new(&bytes);
        let fields = r.tagged_fields("t").unwrap();
        assert!(r.is_empty());
        assert_eq!(fields.len(), 2);
        let mut out = Vec::new();
        Writer::new(&mut out).tagged_fields(&fields);
        assert_eq!(out, bytes);
        for cut in 0..bytes.len() {
            assert!(Reader::new(&bytes[..cut]).tagged_fields("t").is_err());
            assert!(Reader::new(&bytes[..cut]).skip_tagged_fields("t").is_err());
        }
    }
}
