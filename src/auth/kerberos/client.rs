//! The client's KDC exchanges: AS (a ticket-granting ticket, with PA-ENC-TIMESTAMP
//! pre-authentication under the keytab's key or the password's) and TGS (a service ticket for
//! a broker's SPN). Tickets are cached per process (cache.rs) until shortly before they end, so
//! broker connections do not each go to the KDC.
//!
//! The KDC is reached over TCP (RFC 4120 section 7.2.2: a 4-byte length, then the message),
//! each KDC of the realm in krb5.conf's order, everything before the login's deadline.
//! Neither keys nor the password are ever logged.

pub use super::cache::forget;
use super::cache::{cached, remove, store};
use super::crypto::Key;
use super::errors::{self, Context};
use super::keys;
use super::krb5conf::Krb5Conf;
use super::messages::{self as m, Authenticator, EncKdcPart, KdcReply, KrbError, RequestBody};
use crate::config::gssapi::GssapiConfig;
use crate::config::HostPort;
use crate::net::deadline::{read_frame, size_within, write_all_until, Armed, Deadline};
use std::time::{SystemTime, UNIX_EPOCH};

/// A KDC reply larger than this is refused (tickets with a PAC are a few KiB).
const MAX_KDC_REPLY: usize = 256 * 1024;
/// Tickets asked for are valid this long (the KDC may grant less).
const LIFETIME_SECS: i64 = 24 * 3600;

/// A ticket and its session key.
#[derive(Clone, Debug)]
pub struct Credential {
    pub ticket: Vec<u8>,
    pub key: Key,
    pub endtime: i64,
}

/// The client principal's name components and realm.
pub struct Principal<'a> {
    pub parts: Vec<&'a str>,
    pub realm: &'a str,
}

impl<'a> Principal<'a> {
    pub fn client(config: &'a GssapiConfig) -> Self {
        Principal {
            parts: config.username.split('/').collect(),
            realm: &config.realm,
        }
    }
}

/// A ticket for `spn` (`service/host`), from the cache or the KDC.
pub fn service_ticket(
    config: &GssapiConfig,
    spn: &str,
    deadline: &Deadline,
) -> Result<Credential, String> {
    let client = config.client_principal();
    let service = format!("{spn}@{}", config.realm);
    if let Some(c) = cached(&client, &service) {
        return Ok(c);
    }
    let tgs = format!("krbtgt/{0}@{0}", config.realm);
    let tgt = match cached(&client, &tgs) {
        Some(c) => c,
        None => {
            let mut kdc = Kdc::new(config, deadline)?;
            let c = kdc.tgt()?;
            log_issued(&client, &tgs, &kdc.used, &c);
            store(&client, &tgs, &c);
            c
        }
    };
    let mut kdc = Kdc::new(config, deadline)?;
    // A TGT the KDC no longer takes (expired early, a new krbtgt key) must not fail every
    // login until it ends: the next login starts with the AS exchange again.
    let ticket = kdc
        .service(&tgt, spn)
        .inspect_err(|_| remove(&client, &tgs))?;
    log_issued(&client, &service, &kdc.used, &ticket);
    store(&client, &service, &ticket);
    Ok(ticket)
}

fn log_issued(client: &str, service: &str, kdc: &str, c: &Credential) {
    log::info!(
        "Kerberos: KDC {kdc} issued {client} a ticket for {service}, valid until {} (cached)",
        crate::net::tls::crl::format_utc(c.endtime)
    );
}

/// Seconds and microseconds since the epoch.
pub fn now() -> (i64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        d.subsec_micros(),
    )
}

/// A random nonce or sequence number (31 bits: some implementations read them as signed).
pub fn random_u31() -> Result<u32, String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 4];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "the system's random source failed".to_string())?;
    Ok(u32::from_be_bytes(b) & 0x7fff_ffff)
}

/// One conversation with the realm's KDCs.
struct Kdc<'a> {
    config: &'a GssapiConfig,
    kdcs: Vec<HostPort>,
    deadline: &'a Deadline,
    /// The KDC that answered last, for messages.
    used: String,
}

impl<'a> Kdc<'a> {
    fn new(config: &'a GssapiConfig, deadline: &'a Deadline) -> Result<Self, String> {
        let conf = Krb5Conf::read(&config.krb5_conf)?;
        let kdcs = conf.kdcs(&config.realm, &config.krb5_conf)?;
        Ok(Kdc {
            config,
            used: kdcs[0].to_string(),
            kdcs,
            deadline,
        })
    }

    /// Sends `request` to the first KDC that answers; its reply.
    fn send(&mut self, request: &[u8]) -> Result<Vec<u8>, String> {
        let mut failures = Vec::new();
        for kdc in &self.kdcs {
            match exchange(kdc, request, self.deadline) {
                Ok(reply) => {
                    self.used = kdc.to_string();
                    return Ok(reply);
                }
                Err(e) => failures.push(format!("{kdc}: {e}")),
            }
            if self.deadline.expired() {
                break;
            }
        }
        Err(format!(
            "no KDC of realm {} answered ({}; from {})",
            self.config.realm,
            failures.join("; "),
            self.config.krb5_conf.display()
        ))
    }

    fn context<'c>(&'c self, client: &'c str, service: &'c str, source: &'c str) -> Context<'c> {
        Context {
            client,
            service,
            kdc: &self.used,
            key_source: source,
            now: now().0,
        }
    }

    /// The AS exchange: a TGT for the client principal.
    fn tgt(&mut self) -> Result<Credential, String> {
        let client = Principal::client(self.config);
        let client_name = self.config.client_principal();
        let realm = self.config.realm.as_str();
        let tgs_name = format!("krbtgt/{realm}@{realm}");
        let source = self.config.key_source();
        let nonce = random_u31()?;
        let keytab_key = keys::from_keytab(self.config)?;
        // With a keytab, only its key's enctype: the KDC then answers in that one.
        let etypes = keytab_key
            .as_ref()
            .map_or(m::ETYPES.to_vec(), |k| vec![k.number()]);
        let body = RequestBody {
            cname: Some(&client.parts),
            realm,
            sname: (m::NT_SRV_INST, &["krbtgt", realm]),
            till: now().0 + LIFETIME_SECS,
            nonce,
            etypes: &etypes,
        }
        .encode();
        // First without pre-authentication: the KDC answers with the salt and enctype it
        // wants (PREAUTH_REQUIRED with ETYPE-INFO2), or, when it requires none, the AS-REP.
        let first = self.send(&m::kdc_request(m::AS_REQ, &[], body.clone()))?;
        let key_for = |info: &[m::EtypeInfo2], etype: Option<i32>| match &keytab_key {
            Some(k) => Ok(k.clone()),
            None => keys::from_password(self.config, &client, info, etype),
        };
        let (reply, key) = match m::message_type(&first) {
            Some(m::KRB_ERROR) => {
                let e = KrbError::decode(&first).map_err(|e| format!("KDC {}: {e}", self.used))?;
                if e.code != errors::KDC_ERR_PREAUTH_REQUIRED {
                    return Err(errors::explain(
                        &e,
                        &self.context(&client_name, &tgs_name, &source),
                    ));
                }
                let info = e
                    .etype_info2()
                    .map_err(|e| format!("KDC {}: {e}", self.used))?;
                let key = key_for(&info, None)?;
                let (secs, usec) = now();
                let pa = m::enc_timestamp(&key, secs, usec)?;
                let request = m::kdc_request(m::AS_REQ, &[(m::PA_ENC_TIMESTAMP, pa)], body);
                (self.send(&request)?, key)
            }
            _ => {
                let rep = KdcReply::decode(&first, m::AS_REP)
                    .map_err(|e| format!("KDC {}: {e}", self.used))?;
                let info = m::etype_info2(&rep.padata).unwrap_or_default();
                let key = key_for(&info, Some(rep.enc_part.etype))?;
                (first, key)
            }
        };
        self.open_reply(
            &reply,
            m::AS_REP,
            &key,
            m::USAGE_AS_REP,
            nonce,
            (&client_name, &tgs_name, &source),
        )
    }

    /// Decodes a KDC's answer to an AS-REQ or TGS-REQ: the ticket, or the KRB-ERROR explained.
    fn open_reply(
        &self,
        reply: &[u8],
        msg_type: u8,
        key: &Key,
        usage: u32,
        nonce: u32,
        (client, service, source): (&str, &str, &str),
    ) -> Result<Credential, String> {
        if m::message_type(reply) == Some(m::KRB_ERROR) {
            let e = KrbError::decode(reply).map_err(|e| format!("KDC {}: {e}", self.used))?;
            return Err(errors::explain(&e, &self.context(client, service, source)));
        }
        let rep =
            KdcReply::decode(reply, msg_type).map_err(|e| format!("KDC {}: {e}", self.used))?;
        let plain = rep.enc_part.open(key, usage).ok_or_else(|| {
            format!(
                "the reply of Kerberos KDC {} (enctype {}) does not decrypt: {}",
                self.used,
                rep.enc_part.etype,
                errors::wrong_key(client, source)
            )
        })?;
        let part = EncKdcPart::decode(&plain).map_err(|e| format!("KDC {}: {e}", self.used))?;
        if part.nonce != nonce {
            return Err(format!(
                "KDC {} answered with another request's nonce",
                self.used
            ));
        }
        Ok(Credential {
            ticket: rep.ticket,
            key: part.key,
            endtime: part.endtime,
        })
    }

    /// The TGS exchange: a ticket for `spn` with the TGT.
    fn service(&mut self, tgt: &Credential, spn: &str) -> Result<Credential, String> {
        let client = Principal::client(self.config);
        let client_name = self.config.client_principal();
        let realm = self.config.realm.as_str();
        let service_name = format!("{spn}@{realm}");
        let sname: Vec<&str> = spn.split('/').collect();
        let nonce = random_u31()?;
        let body = RequestBody {
            cname: None,
            realm,
            sname: (m::NT_SRV_HST, &sname),
            till: now().0 + LIFETIME_SECS,
            nonce,
            etypes: &m::ETYPES,
        }
        .encode();
        let checksum =
            super::cts::keyed_checksum(tgt.key.bytes(), m::USAGE_TGS_REQ_CHECKSUM, &body);
        let (secs, usec) = now();
        let authenticator = Authenticator {
            crealm: realm,
            cname: &client.parts,
            checksum: Some((tgt.key.checksum_type(), checksum)),
            usec,
            time: secs,
            seq_number: None,
        };
        let ap = m::ap_request(
            &tgt.ticket,
            &tgt.key,
            m::USAGE_TGS_REQ_AUTHENTICATOR,
            &authenticator,
            false,
        )?;
        let reply = self.send(&m::kdc_request(m::TGS_REQ, &[(m::PA_TGS_REQ, ap)], body))?;
        self.open_reply(
            &reply,
            m::TGS_REP,
            &tgt.key,
            m::USAGE_TGS_REP,
            nonce,
            (
                &client_name,
                &service_name,
                "the cached ticket-granting ticket",
            ),
        )
    }
}

/// One request and its reply over TCP, before `deadline`.
fn exchange(kdc: &HostPort, request: &[u8], deadline: &Deadline) -> Result<Vec<u8>, String> {
    let left = deadline.left().ok_or("the login timed out")?;
    let mut stream = crate::net::dial(kdc, left).map_err(|e| e.to_string())?;
    let mut frame = u32::try_from(request.len())
        .map_err(|_| "request too large")?
        .to_be_bytes()
        .to_vec();
    frame.extend_from_slice(request);
    write_all_until(&mut stream, &frame, deadline, &Armed)
        .map_err(|e| format!("sending: {}", std::io::Error::from(e)))?;
    read_frame(&mut stream, deadline, &Armed, size_within(1, MAX_KDC_REPLY)).map_err(|e| match e {
        crate::net::deadline::FrameError::Size(size) => {
            format!("a reply of {size} bytes (at most {MAX_KDC_REPLY} accepted)")
        }
        crate::net::deadline::FrameError::Prefix(e) | crate::net::deadline::FrameError::Body(e) => {
            format!("reading the reply: {}", std::io::Error::from(e))
        }
    })
}

#[cfg(test)]
mod tests;
