//! SASL GSSAPI (RFC 4752) over the Kerberos V5 GSS-API mechanism (RFC 4121), as Kafka's
//! brokers (the JDK's GSS acceptor) speak it:
//!
//! 1. the client sends the initial context token: `[APPLICATION 0]` with the mechanism OID,
//!    TOK_ID 01 00 and an AP-REQ whose authenticator carries the GSS checksum (type 0x8003:
//!    no channel bindings; mutual, replay, sequence, confidentiality and integrity asked,
//!    as the JDK's initiator does) and the initiator's sequence number;
//! 2. the broker answers with an AP-REP (TOK_ID 02 00), checked here (mutual
//!    authentication: it must decrypt under the session key and echo the authenticator's
//!    time); its subkey, when it sends one, protects what follows; the client answers with
//!    an empty token;
//! 3. the broker sends an RFC 4121 Wrap token with its security-layer offer (4 bytes);
//! 4. the client answers with a Wrap token choosing "no security layer" and the
//!    authorization id (the client principal); the broker then completes the login.

use super::client::{self, Credential};
use super::crypto::Key;
use super::cts;
use super::der::{tlv, Der, DerError};
use super::errors::{self, Context};
use super::messages::{self as m, Authenticator, EncApRepPart, KrbError};
use crate::config::gssapi::GssapiConfig;
use crate::net::deadline::Deadline;

/// 1.2.840.113554.1.2.2, the Kerberos V5 GSS-API mechanism.
const KRB5_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
const TOK_AP_REQ: [u8; 2] = [0x01, 0x00];
const TOK_AP_REP: [u8; 2] = [0x02, 0x00];
const TOK_ERROR: [u8; 2] = [0x03, 0x00];
const TOK_WRAP: [u8; 2] = [0x05, 0x04];
/// The GSS checksum type of RFC 4121 section 4.1.1.
const GSS_CHECKSUM: i32 = 0x8003;
/// Mutual, replay, sequence, confidentiality, integrity.
const GSS_FLAGS: u32 = 0x02 | 0x04 | 0x08 | 0x10 | 0x20;
/// Wrap token flags.
const SENT_BY_ACCEPTOR: u8 = 0x01;
const SEALED: u8 = 0x02;
const ACCEPTOR_SUBKEY: u8 = 0x04;
/// Key usages of RFC 4121 section 2.
const ACCEPTOR_SEAL: u32 = 22;
const INITIATOR_SEAL: u32 = 24;
const HEADER: usize = 16;
const MAC: usize = 12;
/// RFC 4752's security-layer bit for "no security layer".
const NO_SECURITY_LAYER: u8 = 0x01;

enum State {
    Start,
    /// The AP-REQ is out: what the AP-REP must echo.
    SentApReq {
        ticket_key: Key,
        ctime: i64,
        cusec: u32,
    },
    /// Mutual authentication done; the key for Wrap tokens.
    Established {
        key: Key,
        acceptor_subkey: bool,
    },
    SentLayer,
    /// The broker completed the login.
    Done,
}

/// One SASL GSSAPI login to one broker.
pub struct GssapiClient {
    config: GssapiConfig,
    /// `service/host` of the broker dialled.
    spn: String,
    broker: String,
    deadline: Deadline,
    seq: u32,
    state: State,
}

impl GssapiClient {
    /// A login to the broker at `host` (the SPN's host unless --gssapi-spn-host-mapping
    /// says otherwise); KDC exchanges end by `deadline`.
    pub fn new(config: &GssapiConfig, host: &str, deadline: Deadline) -> Self {
        GssapiClient {
            config: config.clone(),
            spn: config.spn(host),
            broker: host.to_string(),
            deadline,
            seq: 0,
            state: State::Start,
        }
    }

    /// The initial context token (the KDC exchanges run here, or the cache answers).
    pub fn first_token(&mut self) -> Result<Vec<u8>, String> {
        let credential = client::service_ticket(&self.config, &self.spn, &self.deadline)?;
        self.seq = client::random_u31()?;
        let (ctime, cusec) = client::now();
        let token = initial_token(&self.config, &credential, ctime, cusec, self.seq)?;
        self.state = State::SentApReq {
            ticket_key: credential.key,
            ctime,
            cusec,
        };
        Ok(token)
    }

    /// The broker's token: the next one to send, or `None` when the exchange is complete.
    pub fn respond(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match std::mem::replace(&mut self.state, State::SentLayer) {
            State::Start | State::Done => Err("GSSAPI: a broker token out of turn".into()),
            State::SentApReq {
                ticket_key,
                ctime,
                cusec,
            } => {
                let part = self.ap_reply(server, &ticket_key)?;
                if part.ctime != ctime || part.cusec != i64::from(cusec) {
                    return Err(format!(
                        "GSSAPI: broker {}'s AP-REP does not answer this login's authenticator",
                        self.broker
                    ));
                }
                self.state = match part.subkey {
                    Some(key) => State::Established {
                        key,
                        acceptor_subkey: true,
                    },
                    None => State::Established {
                        key: ticket_key,
                        acceptor_subkey: false,
                    },
                };
                Ok(Some(Vec::new()))
            }
            State::Established {
                key,
                acceptor_subkey,
            } => {
                let offer = unwrap(server, &key, acceptor_subkey).map_err(|e| {
                    format!("GSSAPI: broker {}'s security-layer offer: {e}", self.broker)
                })?;
                if offer.len() != 4 || offer[0] & NO_SECURITY_LAYER == 0 {
                    return Err(format!(
                        "GSSAPI: broker {} requires a SASL security layer (integrity or \
                         confidentiality), which this proxy does not offer",
                        self.broker
                    ));
                }
                let mut answer = vec![NO_SECURITY_LAYER, 0, 0, 0];
                answer.extend_from_slice(self.config.client_principal().as_bytes());
                let flags = if acceptor_subkey { ACCEPTOR_SUBKEY } else { 0 };
                Ok(Some(wrap(&answer, &key, flags, u64::from(self.seq))))
            }
            State::SentLayer => {
                self.state = State::Done;
                Ok(None)
            }
        }
    }

    /// The broker's AP-REP checked under the ticket's session key, or its KRB-ERROR explained.
    fn ap_reply(&self, token: &[u8], key: &Key) -> Result<EncApRepPart, String> {
        let (id, body) = parse_framing(token).map_err(|e| {
            format!(
                "GSSAPI: broker {} sent a malformed context token: {e}",
                self.broker
            )
        })?;
        if id == TOK_ERROR {
            let e = KrbError::decode(body).map_err(|e| format!("GSSAPI: broker: {e}"))?;
            let service = format!("{}@{}", self.spn, self.config.realm);
            let peer = format!("broker {}", self.broker);
            return Err(errors::explain(
                &e,
                &Context {
                    client: &self.config.client_principal(),
                    service: &service,
                    kdc: &peer,
                    key_source: "the service ticket",
                    now: client::now().0,
                },
            ));
        }
        if id != TOK_AP_REP {
            return Err(format!(
                "GSSAPI: broker {} answered with token id {id:02x?}, not an AP-REP",
                self.broker
            ));
        }
        let plain = m::ap_reply(body)
            .map_err(|e| format!("GSSAPI: broker {}: {e}", self.broker))?
            .open(key, m::USAGE_AP_REP)
            .ok_or_else(|| {
                format!(
                    "GSSAPI: broker {}'s AP-REP does not decrypt under the service ticket's \
                     key: it is not the service {} the KDC issued the ticket for",
                    self.broker, self.spn
                )
            })?;
        EncApRepPart::decode(&plain).map_err(|e| format!("GSSAPI: broker {}: {e}", self.broker))
    }
}

impl Drop for GssapiClient {
    /// A login that sent a ticket and did not complete forgets that ticket.
    fn drop(&mut self) {
        if !matches!(self.state, State::Start | State::Done) {
            client::forget(&self.config, &self.spn);
        }
    }
}

/// The GSS checksum (RFC 4121 section 4.1.1): Lgth 16, zero channel bindings, the flags.
fn gss_checksum() -> Vec<u8> {
    let mut sum = 16u32.to_le_bytes().to_vec();
    sum.extend_from_slice(&[0; 16]);
    sum.extend_from_slice(&GSS_FLAGS.to_le_bytes());
    sum
}

/// The initial context token for `credential` (a service ticket).
fn initial_token(
    config: &GssapiConfig,
    credential: &Credential,
    ctime: i64,
    cusec: u32,
    seq: u32,
) -> Result<Vec<u8>, String> {
    let client = client::Principal::client(config);
    let authenticator = Authenticator {
        crealm: client.realm,
        cname: &client.parts,
        checksum: Some((GSS_CHECKSUM, gss_checksum())),
        usec: cusec,
        time: ctime,
        seq_number: Some(seq),
    };
    let ap = m::ap_request(
        &credential.ticket,
        &credential.key,
        m::USAGE_AP_REQ_AUTHENTICATOR,
        &authenticator,
        true,
    )?;
    Ok(frame(TOK_AP_REQ, &ap))
}

/// RFC 2743 section 3.1 framing: `[APPLICATION 0] { OID, TOK_ID, body }`.
fn frame(id: [u8; 2], body: &[u8]) -> Vec<u8> {
    let mut inner = tlv(0x06, KRB5_OID);
    inner.extend_from_slice(&id);
    inner.extend_from_slice(body);
    tlv(0x60, &inner)
}

/// A broker's framed token: its TOK_ID and body.
pub fn parse_framing(token: &[u8]) -> Result<([u8; 2], &[u8]), DerError> {
    let mut outer = Der::new(token);
    let inner = outer.expect(0x60, "GSS-API token framing")?;
    if !outer.is_empty() {
        return Err(DerError("bytes after the GSS-API token"));
    }
    let mut d = Der::new(inner);
    if d.expect(0x06, "mechanism OID")? != KRB5_OID {
        return Err(DerError("not the Kerberos V5 mechanism"));
    }
    let rest = d.rest();
    match rest {
        [a, b, body @ ..] => Ok(([*a, *b], body)),
        _ => Err(DerError("truncated token id")),
    }
}

/// The header of a Wrap token: TOK_ID, flags, filler, EC, RRC, SND_SEQ.
fn header(flags: u8, ec: u16, rrc: u16, seq: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..2].copy_from_slice(&TOK_WRAP);
    h[2] = flags;
    h[3] = 0xff;
    h[4..6].copy_from_slice(&ec.to_be_bytes());
    h[6..8].copy_from_slice(&rrc.to_be_bytes());
    h[8..].copy_from_slice(&seq.to_be_bytes());
    h
}

/// An initiator's Wrap token with integrity only: `payload`, then the checksum over the
/// payload and the header (EC and RRC zero while checksumming), EC the checksum's length.
pub fn wrap(payload: &[u8], key: &Key, flags: u8, seq: u64) -> Vec<u8> {
    let mut signed = payload.to_vec();
    signed.extend_from_slice(&header(flags, 0, 0, seq));
    let mac = cts::keyed_checksum(key.bytes(), INITIATOR_SEAL, &signed);
    let mut out = header(flags, MAC as u16, 0, seq).to_vec();
    out.extend_from_slice(payload);
    out.extend_from_slice(&mac);
    out
}

/// The payload of an acceptor's Wrap token, sealed or integrity-only, checked under `key`.
pub fn unwrap(token: &[u8], key: &Key, acceptor_subkey: bool) -> Result<Vec<u8>, &'static str> {
    if token.len() < HEADER || token[..2] != TOK_WRAP || token[3] != 0xff {
        return Err("not an RFC 4121 Wrap token");
    }
    let flags = token[2];
    if flags & SENT_BY_ACCEPTOR == 0 {
        return Err("a Wrap token not sent by the acceptor");
    }
    if (flags & ACCEPTOR_SUBKEY != 0) != acceptor_subkey {
        return Err("the Wrap token's AcceptorSubkey flag does not match the context");
    }
    let ec = usize::from(u16::from_be_bytes([token[4], token[5]]));
    let rrc = usize::from(u16::from_be_bytes([token[6], token[7]]));
    let seq = u64::from_be_bytes(token[8..16].try_into().expect("8 bytes"));
    let mut data = token[HEADER..].to_vec();
    if !data.is_empty() {
        let n = rrc % data.len();
        data.rotate_left(n);
    }
    if flags & SEALED != 0 {
        let plain = cts::decrypt(key.bytes(), ACCEPTOR_SEAL, &data)
            .map_err(|_| "the sealed Wrap token does not decrypt")?;
        let keep = plain
            .len()
            .checked_sub(ec + HEADER)
            .ok_or("the sealed Wrap token is too short")?;
        if plain[keep + ec..] != header(flags, ec as u16, 0, seq) {
            return Err("the sealed Wrap token's header copy differs");
        }
        return Ok(plain[..keep].to_vec());
    }
    if ec != MAC || data.len() < MAC {
        return Err("the Wrap token's checksum is not 12 bytes");
    }
    let (payload, mac) = data.split_at(data.len() - MAC);
    let mut signed = payload.to_vec();
    signed.extend_from_slice(&header(flags, 0, 0, seq));
    if !cts::verify_checksum(key.bytes(), ACCEPTOR_SEAL, &signed, mac) {
        return Err("the Wrap token's checksum does not match (a wrong key or altered bytes)");
    }
    Ok(payload.to_vec())
}

/// A framed AP-REP token, for the fuzz seeds.
#[cfg(any(test, feature = "fuzzing"))]
pub fn frame_for_seed() -> Vec<u8> {
    let key = super::fuzz_message_key();
    frame(
        TOK_AP_REP,
        &super::samples::ap_rep(&key, 1_800_000_000, 5, None),
    )
}

/// An acceptor's integrity-only Wrap token, with `rrc` rotation: the tests' and fuzz seeds'.
#[cfg(any(test, feature = "fuzzing"))]
pub fn acceptor_wrap(payload: &[u8], key: &Key, flags: u8, seq: u64, rrc: u16) -> Vec<u8> {
    let flags = flags | SENT_BY_ACCEPTOR;
    let mut signed = payload.to_vec();
    signed.extend_from_slice(&header(flags, 0, 0, seq));
    let mac = cts::keyed_checksum(key.bytes(), ACCEPTOR_SEAL, &signed);
    let mut data = [payload, &mac].concat();
    if !data.is_empty() {
        let n = usize::from(rrc) % data.len();
        data.rotate_right(n);
    }
    let mut out = header(flags, MAC as u16, rrc, seq).to_vec();
    out.extend_from_slice(&data);
    out
}

#[cfg(test)]
mod tests;
