//! The DER of RFC 4120's ASN.1 module, on the shared reader and writers of
//! `crate::net::tls::der`: context-tagged fields (`[n] EXPLICIT`), `[APPLICATION n]` wrappers,
//! Int32, KerberosString (GeneralString), KerberosTime (GeneralizedTime) and 32-bit flags.
//!
//! The reader is a cursor: every element is checked against its container's length, and
//! nothing recurses (each message decoder walks a fixed shape), so a KDC's or broker's bytes
//! bound neither the stack nor an allocation beyond the message already read.

pub use crate::net::tls::der::{integer, tlv, Der, DerError, OCTET_STRING, SEQUENCE};

pub type Result<T> = std::result::Result<T, DerError>;

const GENERAL_STRING: u8 = 0x1b;
const GENERALIZED_TIME: u8 = 0x18;
const BIT_STRING: u8 = 0x03;

/// The fields of a SEQUENCE whose members are `[n] EXPLICIT` (all of RFC 4120's).
pub struct Fields<'a> {
    der: Der<'a>,
}

impl<'a> Fields<'a> {
    /// The fields of `bytes`, which must be exactly one SEQUENCE.
    pub fn sequence(bytes: &'a [u8], what: &'static str) -> Result<Fields<'a>> {
        let mut der = Der::new(bytes);
        let fields = der.sequence(what)?;
        if !der.is_empty() {
            return Err(DerError(what));
        }
        Ok(Fields { der: fields })
    }

    /// The fields of `[APPLICATION app] SEQUENCE { ... }`, which must be all of `bytes`.
    pub fn application(bytes: &'a [u8], app: u8, what: &'static str) -> Result<Fields<'a>> {
        let mut der = Der::new(bytes);
        let inner = der.expect(0x60 | app, what)?;
        if !der.is_empty() {
            return Err(DerError(what));
        }
        Fields::sequence(inner, what)
    }

    /// The element of field `[n]`, if present. Fields with lower numbers that the caller
    /// skipped (ones this client does not use) are passed over.
    pub fn optional(&mut self, n: u8) -> Result<Option<Der<'a>>> {
        while let Some(tag) = self.der.peek_tag() {
            if tag & 0xe0 != 0xa0 {
                return Err(DerError("a field without a context tag"));
            }
            let number = tag & 0x1f;
            if number > n {
                break;
            }
            let (_, inner) = self.der.any()?;
            if number == n {
                return Ok(Some(Der::new(inner)));
            }
        }
        Ok(None)
    }

    /// The element of field `[n]`, which must be present.
    pub fn required(&mut self, n: u8, what: &'static str) -> Result<Der<'a>> {
        self.optional(n)?.ok_or(DerError(what))
    }
}

/// An INTEGER of at most 8 bytes (Int32, UInt32, Microseconds, error codes).
pub fn int(der: &mut Der<'_>, what: &'static str) -> Result<i64> {
    let bytes = der.expect(crate::net::tls::der::INTEGER, what)?;
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(DerError(what));
    }
    let first = if bytes[0] & 0x80 != 0 { -1i64 } else { 0 };
    Ok(bytes.iter().fold(first, |n, &b| (n << 8) | i64::from(b)))
}

/// An Int32 field.
pub fn int32(der: &mut Der<'_>, what: &'static str) -> Result<i32> {
    i32::try_from(int(der, what)?).map_err(|_| DerError(what))
}

/// A KerberosString (GeneralString restricted to IA5 in practice), at most 1 KiB.
pub fn string(der: &mut Der<'_>, what: &'static str) -> Result<String> {
    let bytes = der.expect(GENERAL_STRING, what)?;
    if bytes.len() > 1024 {
        return Err(DerError(what));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| DerError(what))
}

/// An OCTET STRING.
pub fn octets<'a>(der: &mut Der<'a>, what: &'static str) -> Result<&'a [u8]> {
    der.expect(OCTET_STRING, what)
}

/// A KerberosTime, as seconds since the Unix epoch.
pub fn time(der: &mut Der<'_>, what: &'static str) -> Result<i64> {
    if der.peek_tag() != Some(GENERALIZED_TIME) {
        return Err(DerError(what));
    }
    crate::net::tls::crl::time(der).map_err(|_| DerError(what))
}

/// `SEQUENCE OF` (the whole of `bytes`'s first element): each member's fields read by `member`,
/// at most `max` members.
pub fn sequence_of<T>(
    bytes: &[u8],
    max: usize,
    what: &'static str,
    mut member: impl FnMut(Fields<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut list = Der::new(bytes).sequence(what)?;
    let mut out = Vec::new();
    while !list.is_empty() {
        if out.len() == max {
            return Err(DerError(what));
        }
        out.push(member(Fields::sequence(list.raw()?, what)?)?);
    }
    Ok(out)
}

/// A PrincipalName: its name-type and components (at most 8).
pub fn principal(der: &mut Der<'_>, what: &'static str) -> Result<(i32, Vec<String>)> {
    let mut f = Fields {
        der: der.sequence(what)?,
    };
    let kind = int32(&mut f.required(0, what)?, what)?;
    let mut names = f.required(1, what)?.sequence(what)?;
    let mut parts = Vec::new();
    while !names.is_empty() {
        if parts.len() == 8 {
            return Err(DerError(what));
        }
        parts.push(string(&mut names, what)?);
    }
    Ok((kind, parts))
}

/// Writers: each returns the element's whole encoding.
pub mod write {
    use super::*;

    pub fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(SEQUENCE, &parts.concat())
    }

    /// `[n] EXPLICIT inner`.
    pub fn field(n: u8, inner: Vec<u8>) -> Vec<u8> {
        tlv(0xa0 | n, &inner)
    }

    /// `[APPLICATION n] inner`.
    pub fn application(n: u8, inner: Vec<u8>) -> Vec<u8> {
        tlv(0x60 | n, &inner)
    }

    pub fn string(s: &str) -> Vec<u8> {
        tlv(GENERAL_STRING, s.as_bytes())
    }

    pub fn octets(b: &[u8]) -> Vec<u8> {
        tlv(OCTET_STRING, b)
    }

    /// KerberosTime: `YYYYMMDDHHMMSSZ`.
    pub fn time(secs: i64) -> Vec<u8> {
        let mut text: String = crate::net::tls::crl::format_utc(secs)
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        text.push('Z');
        tlv(GENERALIZED_TIME, text.as_bytes())
    }

    /// KerberosFlags (KDCOptions, APOptions): a 32-bit BIT STRING, bit 0 the most significant.
    pub fn flags(bits: u32) -> Vec<u8> {
        let b = bits.to_be_bytes();
        tlv(BIT_STRING, &[0, b[0], b[1], b[2], b[3]])
    }

    /// PrincipalName { name-type, name-string }.
    pub fn principal(kind: i32, parts: &[&str]) -> Vec<u8> {
        let names: Vec<Vec<u8>> = parts.iter().map(|p| string(p)).collect();
        sequence(&[
            field(0, integer(i64::from(kind))),
            field(1, sequence(&names)),
        ])
    }
}

#[cfg(test)]
mod tests;
