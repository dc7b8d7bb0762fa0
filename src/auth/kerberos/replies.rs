//! The replies of RFC 4120 a client decodes: KRB-ERROR (with its ETYPE-INFO2), AS-REP and
//! TGS-REP with their encrypted parts, AP-REP. Every decoder takes a peer's bytes and fails
//! cleanly; lists and strings are capped.

use super::crypto::Key;
use super::der::{self, DerError, Fields, Result};
use super::messages::{message_type, Encrypted, AP_REP, AS_REP, KRB_ERROR, PA_ETYPE_INFO2};

const TICKET: u8 = 1;
const ENC_AS_REP_PART: u8 = 25;
const ENC_TGS_REP_PART: u8 = 26;
const ENC_AP_REP_PART: u8 = 27;

/// `KRB-ERROR`: the fields a message to the operator needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KrbError {
    pub code: i32,
    /// The KDC's time (what clock skew is measured against).
    pub stime: i64,
    pub realm: String,
    pub sname: Vec<String>,
    pub e_text: Option<String>,
    pub e_data: Option<Vec<u8>>,
}

impl KrbError {
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let what = "KRB-ERROR";
        let mut f = Fields::application(bytes, KRB_ERROR, what)?;
        let stime = der::time(&mut f.required(4, what)?, what)?;
        let code = der::int32(&mut f.required(6, what)?, what)?;
        let realm = der::string(&mut f.required(9, what)?, what)?;
        let (_, sname) = der::principal(&mut f.required(10, what)?, what)?;
        let e_text = match f.optional(11)? {
            Some(mut d) => Some(der::string(&mut d, what)?),
            None => None,
        };
        let e_data = match f.optional(12)? {
            Some(mut d) => Some(der::octets(&mut d, what)?.to_vec()),
            None => None,
        };
        Ok(KrbError {
            code,
            stime,
            realm,
            sname,
            e_text,
            e_data,
        })
    }

    /// The ETYPE-INFO2 entries in the e-data (METHOD-DATA) of a PREAUTH_REQUIRED error.
    pub fn etype_info2(&self) -> Result<Vec<EtypeInfo2>> {
        match &self.e_data {
            Some(data) => etype_info2(&padata_list(data)?),
            None => Ok(Vec::new()),
        }
    }
}

/// The ETYPE-INFO2 entries among `padata`.
pub fn etype_info2(padata: &[(i32, Vec<u8>)]) -> Result<Vec<EtypeInfo2>> {
    let mut out = Vec::new();
    for (_, value) in padata.iter().filter(|(kind, _)| *kind == PA_ETYPE_INFO2) {
        out.extend(EtypeInfo2::decode_list(value)?);
    }
    Ok(out)
}

/// `SEQUENCE OF PA-DATA` (at most 32 entries).
fn padata_list(bytes: &[u8]) -> Result<Vec<(i32, Vec<u8>)>> {
    let what = "PA-DATA";
    der::sequence_of(bytes, 32, what, |mut f| {
        let kind = der::int32(&mut f.required(1, what)?, what)?;
        let value = der::octets(&mut f.required(2, what)?, what)?.to_vec();
        Ok((kind, value))
    })
}

/// One ETYPE-INFO2-ENTRY: the enctype, salt and string-to-key parameters the KDC uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtypeInfo2 {
    pub etype: i32,
    pub salt: Option<String>,
    pub s2kparams: Option<Vec<u8>>,
}

impl EtypeInfo2 {
    fn decode_list(bytes: &[u8]) -> Result<Vec<Self>> {
        let what = "ETYPE-INFO2";
        der::sequence_of(bytes, 32, what, |mut f| {
            let etype = der::int32(&mut f.required(0, what)?, what)?;
            let salt = match f.optional(1)? {
                Some(mut d) => Some(der::string(&mut d, what)?),
                None => None,
            };
            let s2kparams = match f.optional(2)? {
                Some(mut d) => Some(der::octets(&mut d, what)?.to_vec()),
                None => None,
            };
            Ok(EtypeInfo2 {
                etype,
                salt,
                s2kparams,
            })
        })
    }

    /// The string-to-key iteration count (s2kparams is a 4-byte big-endian count).
    pub fn iterations(&self) -> Result<u32> {
        match self.s2kparams.as_deref() {
            None => Ok(super::crypto::DEFAULT_ITERATIONS),
            Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
            Some(_) => Err(DerError("s2kparams")),
        }
    }
}

/// AS-REP or TGS-REP: the ticket (as DER, passed on unread) and the encrypted part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KdcReply {
    pub padata: Vec<(i32, Vec<u8>)>,
    pub ticket: Vec<u8>,
    pub enc_part: Encrypted,
}

impl KdcReply {
    pub fn decode(bytes: &[u8], msg_type: u8) -> Result<Self> {
        let what = if msg_type == AS_REP {
            "AS-REP"
        } else {
            "TGS-REP"
        };
        let mut f = Fields::application(bytes, msg_type, what)?;
        let padata = match f.optional(2)? {
            Some(mut d) => padata_list(d.raw()?)?,
            None => Vec::new(),
        };
        let ticket = f.required(5, what)?.raw()?.to_vec();
        if message_type(&ticket) != Some(TICKET) {
            return Err(DerError("Ticket"));
        }
        let enc_part = Encrypted::decode(&mut f.required(6, what)?)?;
        Ok(KdcReply {
            padata,
            ticket,
            enc_part,
        })
    }
}

/// `EncKDCRepPart`: the session key and the ticket's times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncKdcPart {
    pub key: Key,
    pub nonce: u32,
    pub endtime: i64,
    pub sname: Vec<String>,
}

impl EncKdcPart {
    /// MIT KDCs tag an AS reply's part as EncTGSRepPart too, so both tags are taken.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let what = "EncKDCRepPart";
        let inner = match message_type(bytes) {
            Some(app @ (ENC_AS_REP_PART | ENC_TGS_REP_PART)) => {
                Fields::application(bytes, app, what)?
            }
            _ => return Err(DerError(what)),
        };
        let mut f = inner;
        let key = encryption_key(&mut f.required(0, what)?)?;
        let nonce = der::int(&mut f.required(2, what)?, what)?;
        let endtime = der::time(&mut f.required(7, what)?, what)?;
        let (_, sname) = der::principal(&mut f.required(10, what)?, what)?;
        Ok(EncKdcPart {
            key,
            nonce: u32::try_from(nonce).map_err(|_| DerError("nonce"))?,
            endtime,
            sname,
        })
    }
}

/// `EncryptionKey`, which must be of a supported enctype.
fn encryption_key(der: &mut der::Der<'_>) -> Result<Key> {
    let what = "EncryptionKey";
    let mut f = Fields::sequence(der.raw()?, what)?;
    let kind = der::int32(&mut f.required(0, what)?, what)?;
    let value = der::octets(&mut f.required(1, what)?, what)?;
    Key::new(kind, value).ok_or(DerError("a key of an unsupported enctype"))
}

/// AP-REP: the encrypted part.
pub fn ap_reply(bytes: &[u8]) -> Result<Encrypted> {
    let what = "AP-REP";
    let mut f = Fields::application(bytes, AP_REP, what)?;
    Encrypted::decode(&mut f.required(2, what)?)
}

/// `EncAPRepPart`: what a mutual authentication answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncApRepPart {
    pub ctime: i64,
    pub cusec: i64,
    pub subkey: Option<Key>,
    pub seq_number: Option<u32>,
}

impl EncApRepPart {
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let what = "EncAPRepPart";
        let mut f = Fields::application(bytes, ENC_AP_REP_PART, what)?;
        let ctime = der::time(&mut f.required(0, what)?, what)?;
        let cusec = der::int(&mut f.required(1, what)?, what)?;
        let subkey = match f.optional(2)? {
            Some(mut d) => Some(encryption_key(&mut d)?),
            None => None,
        };
        let seq_number = match f.optional(3)? {
            Some(mut d) => Some(der::int(&mut d, what)? as u32),
            None => None,
        };
        Ok(EncApRepPart {
            ctime,
            cusec,
            subkey,
            seq_number,
        })
    }
}
