//! The RFC 4120 messages of a client's AS, TGS and AP exchanges: the requests it writes, the
//! constants both directions share, and `EncryptedData`. The replies a KDC or broker sends
//! are decoded in replies.rs (re-exported here).

use super::crypto::Key;
use super::cts;
use super::der::{self, write as w, Fields, Result};

pub const PVNO: i64 = 5;
pub const AS_REQ: u8 = 10;
pub const AS_REP: u8 = 11;
pub const TGS_REQ: u8 = 12;
pub const TGS_REP: u8 = 13;
pub const AP_REQ: u8 = 14;
pub const AP_REP: u8 = 15;
pub const KRB_ERROR: u8 = 30;
const AUTHENTICATOR: u8 = 2;

/// Pre-authentication data types.
pub const PA_TGS_REQ: i32 = 1;
pub const PA_ENC_TIMESTAMP: i32 = 2;
pub const PA_ETYPE_INFO2: i32 = 19;

/// Name types.
pub const NT_PRINCIPAL: i32 = 1;
pub const NT_SRV_INST: i32 = 2;
pub const NT_SRV_HST: i32 = 3;

/// Key usages (RFC 4120 section 7.5.1).
pub const USAGE_PA_ENC_TIMESTAMP: u32 = 1;
pub const USAGE_AS_REP: u32 = 3;
pub const USAGE_TGS_REQ_CHECKSUM: u32 = 6;
pub const USAGE_TGS_REQ_AUTHENTICATOR: u32 = 7;
pub const USAGE_TGS_REP: u32 = 8;
pub const USAGE_AP_REQ_AUTHENTICATOR: u32 = 11;
pub const USAGE_AP_REP: u32 = 12;

/// The enctypes this client asks for, best first.
pub const ETYPES: [i32; 2] = [18, 17];

/// `EncryptedData`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encrypted {
    pub etype: i32,
    pub kvno: Option<i64>,
    pub cipher: Vec<u8>,
}

impl Encrypted {
    /// Encrypts `plain` under `key` for `usage`.
    pub fn seal(key: &Key, usage: u32, plain: &[u8]) -> std::result::Result<Self, &'static str> {
        let cipher = cts::encrypt(key.bytes(), usage, plain)
            .map_err(|_| "the system's random source failed")?;
        Ok(Encrypted {
            etype: key.number(),
            kvno: None,
            cipher,
        })
    }

    /// The plaintext; `None` when the enctype is not the key's or the checksum fails.
    pub fn open(&self, key: &Key, usage: u32) -> Option<Vec<u8>> {
        if self.etype != key.number() {
            return None;
        }
        cts::decrypt(key.bytes(), usage, &self.cipher).ok()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut parts = vec![w::field(0, der::integer(i64::from(self.etype)))];
        if let Some(kvno) = self.kvno {
            parts.push(w::field(1, der::integer(kvno)));
        }
        parts.push(w::field(2, w::octets(&self.cipher)));
        w::sequence(&parts)
    }

    pub fn decode(der: &mut der::Der<'_>) -> Result<Self> {
        let what = "EncryptedData";
        let mut f = Fields::sequence(der.raw()?, what)?;
        let etype = der::int32(&mut f.required(0, what)?, what)?;
        let kvno = match f.optional(1)? {
            Some(mut d) => Some(der::int(&mut d, what)?),
            None => None,
        };
        let cipher = der::octets(&mut f.required(2, what)?, what)?.to_vec();
        Ok(Encrypted {
            etype,
            kvno,
            cipher,
        })
    }
}

/// `KDC-REQ-BODY` for a client `cname` (AS) or none (TGS), asking for `sname` in `realm`.
pub struct RequestBody<'a> {
    pub cname: Option<&'a [&'a str]>,
    pub realm: &'a str,
    pub sname: (i32, &'a [&'a str]),
    pub till: i64,
    pub nonce: u32,
    /// The enctypes asked for, best first (usually [`ETYPES`]).
    pub etypes: &'a [i32],
}

impl RequestBody<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut parts = vec![w::field(0, w::flags(0))];
        if let Some(cname) = self.cname {
            parts.push(w::field(1, w::principal(NT_PRINCIPAL, cname)));
        }
        parts.push(w::field(2, w::string(self.realm)));
        parts.push(w::field(3, w::principal(self.sname.0, self.sname.1)));
        parts.push(w::field(5, w::time(self.till)));
        parts.push(w::field(7, der::integer(i64::from(self.nonce))));
        let etypes: Vec<Vec<u8>> = self
            .etypes
            .iter()
            .map(|&e| der::integer(e.into()))
            .collect();
        parts.push(w::field(8, w::sequence(&etypes)));
        w::sequence(&parts)
    }
}

/// AS-REQ or TGS-REQ (`msg_type`) with `padata` and the encoded `body`.
pub fn kdc_request(msg_type: u8, padata: &[(i32, Vec<u8>)], body: Vec<u8>) -> Vec<u8> {
    let mut parts = vec![
        w::field(1, der::integer(PVNO)),
        w::field(2, der::integer(msg_type.into())),
    ];
    if !padata.is_empty() {
        let pas: Vec<Vec<u8>> = padata
            .iter()
            .map(|(kind, value)| {
                w::sequence(&[
                    w::field(1, der::integer(i64::from(*kind))),
                    w::field(2, w::octets(value)),
                ])
            })
            .collect();
        parts.push(w::field(3, w::sequence(&pas)));
    }
    parts.push(w::field(4, body));
    w::application(msg_type, w::sequence(&parts))
}

/// PA-ENC-TIMESTAMP's value: the client's time encrypted under its long-term key.
pub fn enc_timestamp(key: &Key, now: i64, usec: u32) -> std::result::Result<Vec<u8>, &'static str> {
    let plain = w::sequence(&[
        w::field(0, w::time(now)),
        w::field(1, der::integer(usec.into())),
    ]);
    Ok(Encrypted::seal(key, USAGE_PA_ENC_TIMESTAMP, &plain)?.encode())
}

/// An `Authenticator` (before encryption).
pub struct Authenticator<'a> {
    pub crealm: &'a str,
    pub cname: &'a [&'a str],
    pub checksum: Option<(i32, Vec<u8>)>,
    pub usec: u32,
    pub time: i64,
    pub seq_number: Option<u32>,
}

impl Authenticator<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut parts = vec![
            w::field(0, der::integer(PVNO)),
            w::field(1, w::string(self.crealm)),
            w::field(2, w::principal(NT_PRINCIPAL, self.cname)),
        ];
        if let Some((kind, sum)) = &self.checksum {
            parts.push(w::field(
                3,
                w::sequence(&[
                    w::field(0, der::integer(i64::from(*kind))),
                    w::field(1, w::octets(sum)),
                ]),
            ));
        }
        parts.push(w::field(4, der::integer(self.usec.into())));
        parts.push(w::field(5, w::time(self.time)));
        if let Some(seq) = self.seq_number {
            parts.push(w::field(7, der::integer(seq.into())));
        }
        w::application(AUTHENTICATOR, w::sequence(&parts))
    }
}

/// AP-REQ: `ticket` (its DER as the KDC sent it) and the authenticator sealed for `usage`.
/// `mutual` sets ap-options mutual-required.
pub fn ap_request(
    ticket: &[u8],
    key: &Key,
    usage: u32,
    authenticator: &Authenticator<'_>,
    mutual: bool,
) -> std::result::Result<Vec<u8>, &'static str> {
    let sealed = Encrypted::seal(key, usage, &authenticator.encode())?;
    let options = if mutual { 1 << 29 } else { 0 };
    Ok(w::application(
        AP_REQ,
        w::sequence(&[
            w::field(0, der::integer(PVNO)),
            w::field(1, der::integer(AP_REQ.into())),
            w::field(2, w::flags(options)),
            w::field(3, ticket.to_vec()),
            w::field(4, sealed.encode()),
        ]),
    ))
}

/// A KDC's or broker's answer: its application tag tells which.
pub fn message_type(bytes: &[u8]) -> Option<u8> {
    match bytes.first() {
        Some(&tag) if tag & 0xe0 == 0x60 => Some(tag & 0x1f),
        _ => None,
    }
}

// The decoders of what a KDC or broker sends, in their own file.
pub use super::replies::*;

#[cfg(test)]
mod tests;
