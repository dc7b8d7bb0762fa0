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

pub mod client;
pub mod crypto;
pub mod cts;
pub mod der;
pub mod errors;
pub mod gss;
pub mod keytab;
pub mod krb5conf;
pub mod messages;

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
