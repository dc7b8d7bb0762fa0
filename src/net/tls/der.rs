//! A minimal DER reader: just enough to walk a certificate to its subject and serial number, to
//! read the PBES2 parameters of an encrypted PKCS#8 key and the Kerberos messages of
//! src/auth/kerberos (which adds its context-tag helpers on top); and the two writers LDAP and
//! Kerberos share. Every read is checked against the
//! enclosing length, so a malformed file (or a peer's certificate) is an error, never a panic.

/// Universal tags used by the callers.
pub const INTEGER: u8 = 0x02;
#[cfg(any(test, feature = "encrypted-keys", feature = "gssapi"))]
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// Why a DER structure could not be read; the static text names what was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DerError(pub &'static str);

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed DER: {}", self.0)
    }
}

pub type Result<T> = std::result::Result<T, DerError>;

/// A cursor over DER bytes.
#[derive(Clone, Copy, Debug)]
pub struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Der { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// What is left unread.
    #[cfg(feature = "gssapi")]
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one element: its tag and contents. Only single-byte tags and definite lengths of at
    /// most four bytes exist in what we read (DER forbids indefinite lengths).
    pub fn any(&mut self) -> Result<(u8, &'a [u8])> {
        let (&tag, rest) = self.rest.split_first().ok_or(DerError("truncated tag"))?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("multi-byte tags are not supported"));
        }
        let (&first, mut rest) = rest.split_first().ok_or(DerError("truncated length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(DerError("unsupported length encoding"));
            }
            if rest.len() < n {
                return Err(DerError("truncated length"));
            }
            let (bytes, after) = rest.split_at(n);
            rest = after;
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if rest.len() < len {
            return Err(DerError("element longer than its container"));
        }
        let (contents, after) = rest.split_at(len);
        self.rest = after;
        Ok((tag, contents))
    }

    /// Reads one element and returns all of it, tag and length included (what a comparison
    /// with another encoder's DER of the same element needs).
    pub fn raw(&mut self) -> Result<&'a [u8]> {
        let start = self.rest;
        self.any()?;
        Ok(&start[..start.len() - self.rest.len()])
    }

    /// Reads one element that must have `tag`.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8]> {
        match self.any()? {
            (t, contents) if t == tag => Ok(contents),
            _ => Err(DerError(what)),
        }
    }

    /// Reads a SEQUENCE and returns a cursor over its contents.
    pub fn sequence(&mut self, what: &'static str) -> Result<Der<'a>> {
        self.expect(SEQUENCE, what).map(Der::new)
    }

    /// Reads a non-negative INTEGER that fits in a u32.
    #[cfg(any(test, feature = "encrypted-keys"))]
    pub fn small_uint(&mut self, what: &'static str) -> Result<u32> {
        let bytes = self.expect(INTEGER, what)?;
        let bytes = match bytes {
            [0, rest @ ..] => rest,
            [b, ..] if b & 0x80 != 0 => return Err(DerError(what)),
            other => other,
        };
        if bytes.len() > 4 {
            return Err(DerError(what));
        }
        Ok(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
    }
}

#[cfg(any(feature = "ldap", feature = "gssapi"))]
/// One DER element: `tag`, the definite length, `value`.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// An INTEGER in its shortest two's-complement form.
#[cfg(any(feature = "ldap", feature = "gssapi"))]
pub fn integer(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    tlv(INTEGER, &bytes[start..])
}

/// Object identifiers the callers compare against, as their DER content bytes. Those of
/// encrypted keys are in builds that read them.
pub mod oid {
    /// 1.2.840.113549.1.5.13
    #[cfg(feature = "encrypted-keys")]
    pub const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
    /// 1.2.840.113549.1.5.12
    #[cfg(feature = "encrypted-keys")]
    pub const PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
    /// 1.2.840.113549.2.7
    #[cfg(feature = "encrypted-keys")]
    pub const HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
    /// 1.2.840.113549.2.9
    #[cfg(feature = "encrypted-keys")]
    pub const HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
    /// 1.2.840.113549.2.10
    #[cfg(feature = "encrypted-keys")]
    pub const HMAC_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0a];
    /// 1.2.840.113549.2.11
    #[cfg(feature = "encrypted-keys")]
    pub const HMAC_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0b];
    /// 2.16.840.1.101.3.4.1.2
    #[cfg(feature = "encrypted-keys")]
    pub const AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
    /// 2.16.840.1.101.3.4.1.22
    #[cfg(feature = "encrypted-keys")]
    pub const AES192_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16];
    /// 2.16.840.1.101.3.4.1.42
    #[cfg(feature = "encrypted-keys")]
    pub const AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
    /// 1.2.840.113549.3.7
    #[cfg(feature = "encrypted-keys")]
    pub const DES_EDE3_CBC: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07];
    /// 2.5.4.3 and friends: the attribute types of a distinguished name share this prefix.
    pub const ATTRIBUTE_PREFIX: &[u8] = &[0x55, 0x04];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_elements() {
        // SEQUENCE { INTEGER 5, OCTET STRING 'ab' }
        let bytes = [0x30, 0x07, 0x02, 0x01, 0x05, 0x04, 0x02, b'a', b'b'];
        let mut der = Der::new(&bytes);
        let mut seq = der.sequence("seq").unwrap();
        assert!(der.is_empty());
        assert_eq!(seq.small_uint("int").unwrap(), 5);
        assert_eq!(seq.expect(OCTET_STRING, "octets").unwrap(), b"ab");
        assert!(seq.is_empty());
    }

    #[test]
    fn long_lengths_and_truncation() {
        let mut bytes = vec![0x04, 0x81, 0x80];
        bytes.extend(std::iter::repeat(7).take(0x80));
        assert_eq!(Der::new(&bytes).any().unwrap().1.len(), 0x80);
        // Every truncated prefix is an error, not a panic.
        for len in 0..bytes.len() {
            assert!(Der::new(&bytes[..len]).any().is_err(), "prefix {len}");
        }
        assert!(Der::new(&[0x04, 0x85, 1, 2, 3, 4, 5]).any().is_err());
        assert!(Der::new(&[0x04, 0x80]).any().is_err());
        assert!(Der::new(&[0x1f, 0x01, 0x00]).any().is_err());
    }

    #[test]
    fn integers() {
        assert_eq!(
            Der::new(&[0x02, 0x03, 0x00, 0x80, 0x00])
                .small_uint("n")
                .unwrap(),
            0x8000
        );
        assert!(Der::new(&[0x02, 0x01, 0x80]).small_uint("n").is_err());
        assert!(Der::new(&[0x02, 0x05, 1, 2, 3, 4, 5])
            .small_uint("n")
            .is_err());
    }
}
