//! Just enough BER (definite lengths, single-byte tags) for LDAP.

use std::io::{self, Read};

// The writers are shared with the Kerberos client (src/auth/kerberos).
pub use crate::net::tls::der::{integer, tlv};

/// Reads one whole TLV (an LDAPMessage) of at most `max` bytes.
pub fn read_message(r: &mut impl Read, max: usize) -> io::Result<Vec<u8>> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head)?;
    let mut out = head.to_vec();
    let len = if head[1] & 0x80 == 0 {
        head[1] as usize
    } else {
        let n = (head[1] & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad BER length"));
        }
        let mut bytes = [0u8; 4];
        r.read_exact(&mut bytes[4 - n..])?;
        out.extend_from_slice(&bytes[4 - n..]);
        u32::from_be_bytes(bytes) as usize
    };
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("an LDAP message of {len} bytes (at most {max} accepted)"),
        ));
    }
    let start = out.len();
    out.resize(start + len, 0);
    r.read_exact(&mut out[start..])?;
    Ok(out)
}

pub struct Reader<'a> {
    s: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(s: &'a [u8]) -> Self {
        Reader { s }
    }

    pub fn any(&mut self) -> Result<(u8, &'a [u8]), String> {
        let (&tag, rest) = self.s.split_first().ok_or("truncated BER")?;
        let (&first, rest) = rest.split_first().ok_or("truncated BER")?;
        let (len, rest) = if first & 0x80 == 0 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return Err("bad BER length".into());
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| acc << 8 | b as usize);
            (len, &rest[n..])
        };
        if rest.len() < len {
            return Err("truncated BER value".into());
        }
        let (value, rest) = rest.split_at(len);
        self.s = rest;
        Ok((tag, value))
    }

    pub fn expect(&mut self, tag: u8) -> Result<Reader<'a>, String> {
        Ok(Reader::new(self.octets(tag)?))
    }

    pub fn octets(&mut self, tag: u8) -> Result<&'a [u8], String> {
        let (got, value) = self.any()?;
        if got != tag {
            return Err(format!("expected BER tag {tag:#x}, got {got:#x}"));
        }
        Ok(value)
    }

    pub fn integer(&mut self) -> Result<i64, String> {
        let value = self.octets(0x02)?;
        if value.is_empty() || value.len() > 8 {
            return Err("bad INTEGER".into());
        }
        let init = if value[0] & 0x80 != 0 { -1i64 } else { 0 };
        Ok(value.iter().fold(init, |acc, &b| acc << 8 | b as i64))
    }

    pub fn enumerated(&mut self) -> Result<u32, String> {
        let value = self.octets(0x0a)?;
        if value.is_empty() || value.len() > 4 {
            return Err("bad ENUMERATED".into());
        }
        Ok(value.iter().fold(0u32, |acc, &b| acc << 8 | b as u32))
    }
}
