//! The start of the proxy's own Kerberos client for `--sasl-method GSSAPI`, written on ring
//! (PBKDF2-HMAC-SHA1, HMAC-SHA1) and RustCrypto's `aes` block cipher so that the static musl
//! build keeps building (no MIT/Heimdal C library). Only the AES-CTS-HMAC-SHA1-96 enctypes
//! 17 and 18 (RFC 3962) are to be supported: what a modern KDC issues and the JDK's default.
//!
//! The parts: the RFC 3961/3962 key schedule (crypto.rs) and AES-CTS with HMAC-SHA1-96
//! (cts.rs); the DER of RFC 4120 (der.rs) and its messages (messages.rs); KRB-ERROR codes as
//! advice (errors.rs); keytab files (keytab.rs) and krb5.conf (krb5conf.rs); the AS and TGS
//! exchanges over TCP with a per-process ticket cache (client.rs); the GSS-API tokens and the
//! RFC 4752 SASL exchange Kafka brokers speak (gss.rs).
//!
//! Not supported: FAST armoring (RFC 6113; `--gssapi-disable-pa-fx-fast` is accepted for
//! grepplabs compatibility, and no request is ever armored), DES/3DES/RC4 and the SHA-2
//! enctypes 19/20, cross-realm referrals, KDC discovery through DNS, and UDP to the KDC.

pub mod cache;
pub mod client;
pub mod crypto;
pub mod cts;
pub mod der;
pub mod errors;
pub mod gss;
pub mod keys;
pub mod keytab;
pub mod krb5conf;
pub mod messages;
pub mod replies;
#[cfg(any(test, feature = "fuzzing"))]
pub mod samples;

/// The `kerberos_decrypt` fuzz target: an encrypted part as a KDC or broker sends it. The
/// first byte picks the key (AES-128 or AES-256, fixed bytes) and the key usage; the rest is
/// decrypted. Whatever decrypts re-encrypts (with the same confounder) to the same bytes.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_decrypt(data: &[u8]) {
    let [pick, cipher @ ..] = data else {
        return;
    };
    let (key, usage) = fuzz_key(*pick);
    if let Ok(plain) = cts::decrypt(key, usage, cipher) {
        let body = cts::cts_decrypt(
            &crypto::usage_key(key, usage, 0xaa),
            &cipher[..cipher.len() - 12],
        );
        let confounder: [u8; 16] = body[..16].try_into().expect("a confounder");
        assert_eq!(cts::encrypt_with(key, usage, &confounder, &plain), cipher);
    }
    if cipher.len() >= 16 {
        let plain = cts::cts_decrypt(key, cipher);
        assert_eq!(cts::cts_encrypt(key, &plain), cipher);
    }
}

/// The fuzz target's key and key usage for its first byte.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_key(pick: u8) -> (&'static [u8], u32) {
    const K128: [u8; 16] = [0x42; 16];
    const K256: [u8; 32] = [0x24; 32];
    let key: &[u8] = if pick & 1 == 0 { &K128 } else { &K256 };
    (key, u32::from(pick >> 1))
}

/// The `kerberos_messages` fuzz target: the first byte picks what a KDC or broker sent (see
/// `pick % 7`: KRB-ERROR, AS-REP, TGS-REP, AP-REP, GSS framing, Wrap token, keytab), the rest is the message. Keys are the fixed ones of [`fuzz_message_key`].
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_messages(data: &[u8]) {
    let [pick, message @ ..] = data else {
        return;
    };
    let key = fuzz_message_key();
    match pick % 7 {
        0 => {
            if let Ok(e) = messages::KrbError::decode(message) {
                let _ = e.etype_info2();
                let c = errors::Context {
                    client: "c@R",
                    service: "s/h@R",
                    kdc: "KDC k:88",
                    key_source: "keytab k",
                    now: 0,
                };
                let _ = errors::explain(&e, &c);
            }
        }
        1 | 2 => {
            let (msg_type, usage) = if pick % 7 == 1 {
                (messages::AS_REP, messages::USAGE_AS_REP)
            } else {
                (messages::TGS_REP, messages::USAGE_TGS_REP)
            };
            if let Ok(rep) = messages::KdcReply::decode(message, msg_type) {
                let _ = messages::etype_info2(&rep.padata);
                if let Some(plain) = rep.enc_part.open(&key, usage) {
                    let _ = messages::EncKdcPart::decode(&plain);
                }
            }
            let _ = messages::EncKdcPart::decode(message);
        }
        3 => {
            if let Ok(Some(plain)) =
                messages::ap_reply(message).map(|e| e.open(&key, messages::USAGE_AP_REP))
            {
                let _ = messages::EncApRepPart::decode(&plain);
            }
            let _ = messages::EncApRepPart::decode(message);
        }
        4 => {
            let _ = gss::parse_framing(message);
        }
        5 => {
            let _ = gss::unwrap(message, &key, true);
            let _ = gss::unwrap(message, &key, false);
        }
        _ => {
            if let Ok(entries) = keytab::parse(message) {
                let _ = keytab::key_for(&entries, "proxy@R.TEST");
            }
        }
    }
}

/// The key every encrypted part of the `kerberos_messages` seeds is under.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_message_key() -> crypto::Key {
    crypto::Key::new(18, &[0x42; 32]).expect("an AES-256 key")
}
