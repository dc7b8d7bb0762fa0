//! Reading certificates, CRLs and private keys from files, including encrypted keys (in
//! `keys/encrypted.rs`, with the `encrypted-keys` cargo feature; a build without it refuses
//! them with how to decrypt them). Plain PEM goes through `rustls-pki-types`' `PemObject`.
//! Every error names the file and the flag.

use super::TlsError;
use crate::config::Secret;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use std::path::Path;

#[cfg(feature = "encrypted-keys")]
mod encrypted;
#[cfg(feature = "encrypted-keys")]
pub use encrypted::{decrypt_pem_key, DecryptError};

/// A file given by a flag: what errors name.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub path: &'a Path,
    pub flag: &'static str,
}

impl Source<'_> {
    fn error(&self, what: impl std::fmt::Display) -> TlsError {
        TlsError::new(format!("{} (--{}): {what}", self.path.display(), self.flag))
    }

    pub fn read(&self) -> Result<Vec<u8>, TlsError> {
        std::fs::read(self.path).map_err(|e| self.error(format_args!("cannot read: {e}")))
    }
}

/// Reads every PEM `CERTIFICATE` in a file (a chain: the end-entity certificate first).
pub fn load_certs(source: Source<'_>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certs_from(source, &source.read()?)
}

pub fn certs_from(
    source: Source<'_>,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| source.error(format_args!("not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        let hint = if PrivateKeyDer::from_pem_slice(bytes).is_ok() || is_encrypted_pem(bytes) {
            ": it holds a private key (are the certificate and key files swapped?)"
        } else {
            ""
        };
        return Err(source.error(format_args!("contains no PEM CERTIFICATE block{hint}")));
    }
    Ok(certs)
}

/// Reads every PEM `X509 CRL` in a file.
pub fn load_crls(
    source: Source<'_>,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = source.read()?;
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| source.error(format_args!("not a valid PEM file: {e}")))?;
    if crls.is_empty() {
        return Err(source.error("contains no PEM X509 CRL block"));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    for (i, crl) in crls.iter().enumerate() {
        let next = super::crl::next_update(crl)
            .map_err(|e| source.error(format_args!("CRL {}: {e}", i + 1)))?;
        if let Some(next) = next.filter(|&next| next < now) {
            return Err(source.error(format_args!(
                "CRL {} expired at {} (its nextUpdate): a stale CRL hides every revocation \
                 made since; fetch a current one from the CA",
                i + 1,
                super::crl::format_utc(next)
            )));
        }
    }
    Ok(crls)
}

/// Reads a private key, decrypting it with `password` when it is encrypted.
pub fn load_key(
    source: Source<'_>,
    password: Option<&Secret>,
    password_flag: &'static str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    key_from(source, &source.read()?, password, password_flag)
}

pub fn key_from(
    source: Source<'_>,
    bytes: &[u8],
    password: Option<&Secret>,
    password_flag: &'static str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let key = if is_encrypted_pem(bytes) {
        decrypt_key(source, bytes, password, password_flag)?
    } else {
        PrivateKeyDer::from_pem_slice(bytes).map_err(|e| {
            let found = if CertificateDer::pem_slice_iter(bytes).any(|c| c.is_ok()) {
                "it holds a certificate, not a private key (are the certificate and key files \
                 swapped?)"
                    .to_string()
            } else {
                format!(
                    "contains no PEM private key (PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or \
                     ENCRYPTED PRIVATE KEY): {e}"
                )
            };
            source.error(found)
        })?
    };
    // Parse it now, so a key that decrypted to garbage or uses an unsupported algorithm is a
    // startup error, not a failed handshake later.
    rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| source.error(format_args!("not a usable private key: {e}")))?;
    Ok(key)
}

/// Decrypts an encrypted key file with its password.
#[cfg(feature = "encrypted-keys")]
fn decrypt_key(
    source: Source<'_>,
    bytes: &[u8],
    password: Option<&Secret>,
    password_flag: &'static str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let password = password.filter(|p| !p.expose().is_empty()).ok_or_else(|| {
        source.error(format_args!(
            "the key is encrypted; give its password with --{password_flag} (or its \
             environment variable)"
        ))
    })?;
    decrypt_pem_key(bytes, password.expose().as_bytes()).map_err(|e| match e {
        DecryptError::WrongPassword => source.error(format_args!(
            "cannot decrypt the key: wrong password (--{password_flag})"
        )),
        DecryptError::Unsupported(what) => {
            source.error(format_args!("cannot decrypt the key: {what}"))
        }
        DecryptError::Malformed(what) => {
            source.error(format_args!("malformed encrypted key: {what}"))
        }
    })
}

/// A build without the `encrypted-keys` feature cannot decrypt: it refuses the file at startup,
/// whether or not a password is given, and says how to get a key it can read.
#[cfg(not(feature = "encrypted-keys"))]
fn decrypt_key(
    source: Source<'_>,
    _bytes: &[u8],
    _password: Option<&Secret>,
    _password_flag: &'static str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    Err(source.error(format_args!(
        "the key is encrypted, and this kafka-proxy was built without encrypted-key support \
         (the `encrypted-keys` cargo feature); decrypt it with `openssl pkey -in {} -out \
         plain.pem` (and keep plain.pem readable only by the proxy's user), or use a build \
         with the feature (`cargo build --release --features encrypted-keys`)",
        source.path.display()
    )))
}

fn is_encrypted_pem(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}
