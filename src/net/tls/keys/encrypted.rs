//! Encrypted private keys, with the `encrypted-keys` cargo feature: PKCS#8
//! `ENCRYPTED PRIVATE KEY` (PBES2: PBKDF2 with HMAC-SHA1/SHA-256/384/512, then AES-CBC or
//! DES-EDE3-CBC) and legacy OpenSSL PEM encryption (`Proc-Type: 4,ENCRYPTED` with `DEK-Info:`
//! AES-128/192/256-CBC or DES-EDE3-CBC, key from EVP_BytesToKey with MD5), for RSA and EC keys.
//! Only these blocks, which `rustls-pki-types`' `PemObject` does not decode, are read by the
//! small PEM reader here.

use crate::net::tls::der::{self, oid, Der};
use aes::cipher::{generic_array::GenericArray, BlockDecrypt, KeyInit};
use base64::Engine;
use md5::{Digest, Md5};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use std::num::NonZeroU32;

/// Why an encrypted key could not be decrypted.
#[derive(Debug, PartialEq, Eq)]
pub enum DecryptError {
    WrongPassword,
    Unsupported(String),
    Malformed(&'static str),
}

impl From<der::DerError> for DecryptError {
    fn from(e: der::DerError) -> Self {
        DecryptError::Malformed(e.0)
    }
}

/// One PEM block: its label, RFC 1421 headers and decoded body.
struct PemBlock {
    label: String,
    headers: Vec<(String, String)>,
    der: Vec<u8>,
}

/// Reads the PEM blocks of a text, with their headers (which `PemObject` does not expose).
fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, DecryptError> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            } else {
                body.push_str(line);
            }
        }
        if !closed {
            return Err(DecryptError::Malformed("PEM block without its END line"));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| DecryptError::Malformed("PEM body is not base64"))?;
        blocks.push(PemBlock {
            label: label.to_string(),
            headers,
            der,
        });
    }
    Ok(blocks)
}

/// Decrypts the first encrypted key block of a PEM file.
pub fn decrypt_pem_key(
    bytes: &[u8],
    password: &[u8],
) -> Result<PrivateKeyDer<'static>, DecryptError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DecryptError::Malformed("not UTF-8 text"))?;
    for block in pem_blocks(text)? {
        if block.label == "ENCRYPTED PRIVATE KEY" {
            let plain = decrypt_pkcs8(&block.der, password)?;
            return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain)));
        }
        let header = |name: &str| {
            block
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if header("Proc-Type") == Some("4,ENCRYPTED") {
            let dek_info = header("DEK-Info").ok_or(DecryptError::Malformed(
                "Proc-Type ENCRYPTED without DEK-Info",
            ))?;
            let plain = decrypt_legacy(dek_info, &block.der, password)?;
            return match block.label.as_str() {
                "RSA PRIVATE KEY" => Ok(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(plain))),
                "EC PRIVATE KEY" => Ok(PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(plain))),
                "PRIVATE KEY" => Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain))),
                other => Err(DecryptError::Unsupported(format!(
                    "encrypted PEM block {other:?} is not a private key"
                ))),
            };
        }
    }
    Err(DecryptError::Malformed("no encrypted private key block"))
}

/// The block ciphers (all in CBC mode) an encrypted key may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CbcCipher {
    Aes128,
    Aes192,
    Aes256,
    DesEde3,
}

impl CbcCipher {
    fn key_len(self) -> usize {
        match self {
            CbcCipher::Aes128 => 16,
            CbcCipher::Aes192 | CbcCipher::DesEde3 => 24,
            CbcCipher::Aes256 => 32,
        }
    }

    fn decrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, DecryptError> {
        match self {
            CbcCipher::Aes128 => cbc_decrypt::<aes::Aes128>(key, iv, data),
            CbcCipher::Aes192 => cbc_decrypt::<aes::Aes192>(key, iv, data),
            CbcCipher::Aes256 => cbc_decrypt::<aes::Aes256>(key, iv, data),
            CbcCipher::DesEde3 => cbc_decrypt::<des::TdesEde3>(key, iv, data),
        }
    }
}

/// CBC decryption and PKCS#7 unpadding. A bad padding almost always means a wrong password.
fn cbc_decrypt<C: BlockDecrypt + KeyInit>(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    let cipher =
        C::new_from_slice(key).map_err(|_| DecryptError::Malformed("wrong cipher key length"))?;
    let block_size = C::block_size();
    if iv.len() != block_size {
        return Err(DecryptError::Malformed("wrong IV length"));
    }
    if data.is_empty() || data.len() % block_size != 0 {
        return Err(DecryptError::Malformed(
            "encrypted data is not a whole number of cipher blocks",
        ));
    }
    let mut out = data.to_vec();
    let mut previous = iv.to_vec();
    for (block, ciphertext) in out
        .chunks_exact_mut(block_size)
        .zip(data.chunks_exact(block_size))
    {
        cipher.decrypt_block(GenericArray::from_mut_slice(block));
        for (b, p) in block.iter_mut().zip(&previous) {
            *b ^= p;
        }
        previous.clear();
        previous.extend_from_slice(ciphertext);
    }
    let pad = usize::from(*out.last().unwrap_or(&0));
    if pad == 0
        || pad > block_size
        || !out[out.len() - pad..]
            .iter()
            .all(|&b| usize::from(b) == pad)
    {
        return Err(DecryptError::WrongPassword);
    }
    out.truncate(out.len() - pad);
    check_plain_der(&out)?;
    Ok(out)
}

/// A decrypted key is one DER SEQUENCE filling the buffer; anything else means the password
/// was wrong (and the padding matched by chance, 1 in 256).
fn check_plain_der(plain: &[u8]) -> Result<(), DecryptError> {
    let mut der = Der::new(plain);
    match der.any() {
        Ok((der::SEQUENCE, _)) if der.is_empty() => Ok(()),
        _ => Err(DecryptError::WrongPassword),
    }
}

/// Legacy OpenSSL encryption: `DEK-Info: AES-256-CBC,<hex IV>`, key = EVP_BytesToKey(MD5,
/// password, salt = first 8 bytes of the IV, one iteration).
fn decrypt_legacy(dek_info: &str, data: &[u8], password: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let (name, iv_hex) = dek_info
        .split_once(',')
        .ok_or(DecryptError::Malformed("DEK-Info is not CIPHER,IV"))?;
    let cipher = match name.trim().to_ascii_uppercase().as_str() {
        "AES-128-CBC" => CbcCipher::Aes128,
        "AES-192-CBC" => CbcCipher::Aes192,
        "AES-256-CBC" => CbcCipher::Aes256,
        "DES-EDE3-CBC" => CbcCipher::DesEde3,
        other => {
            return Err(DecryptError::Unsupported(format!(
                "legacy PEM cipher {other} is not supported (AES-128-CBC, AES-192-CBC, \
                 AES-256-CBC and DES-EDE3-CBC are); convert the key with `openssl pkcs8 -topk8 \
                 -v2 aes-256-cbc`"
            )))
        }
    };
    let iv = hex(iv_hex.trim()).ok_or(DecryptError::Malformed("DEK-Info IV is not hex"))?;
    if iv.len() < 8 {
        return Err(DecryptError::Malformed("DEK-Info IV too short"));
    }
    let key = evp_bytes_to_key(password, &iv[..8], cipher.key_len());
    cipher.decrypt(&key, &iv, data)
}

/// OpenSSL's EVP_BytesToKey with MD5 and one iteration: D_i = MD5(D_{i-1} || password || salt).
fn evp_bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(len + 16);
    let mut previous: Vec<u8> = Vec::new();
    while key.len() < len {
        let mut md5 = Md5::new();
        md5.update(&previous);
        md5.update(password);
        md5.update(salt);
        previous = md5.finalize().to_vec();
        key.extend_from_slice(&previous);
    }
    key.truncate(len);
    key
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Files are not peers, but a corrupt iteration count should not make startup hang for hours.
/// Under cargo-fuzz (`cfg(fuzzing)`) the cap is OpenSSL's default count, that of the test keys
/// the seeds come from, so an input cannot make one run take seconds.
#[allow(unexpected_cfgs)]
const MAX_PBKDF2_ITERATIONS: u32 = if cfg!(fuzzing) { 2048 } else { 10_000_000 };

/// PKCS#8 EncryptedPrivateKeyInfo with PBES2 (RFC 8018).
fn decrypt_pkcs8(der_bytes: &[u8], password: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let mut info = Der::new(der_bytes).sequence("EncryptedPrivateKeyInfo")?;
    let mut algorithm = info.sequence("encryptionAlgorithm")?;
    let encrypted = info.expect(der::OCTET_STRING, "encryptedData")?;
    if algorithm.expect(der::OID, "algorithm OID")? != oid::PBES2 {
        return Err(DecryptError::Unsupported(
            "only PBES2 encryption is supported (PKCS#5 v1.5/PKCS#12 schemes are not); \
             re-encrypt with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
                .into(),
        ));
    }
    let mut params = algorithm.sequence("PBES2 parameters")?;
    let mut kdf = params.sequence("keyDerivationFunc")?;
    let mut scheme = params.sequence("encryptionScheme")?;
    if kdf.expect(der::OID, "KDF OID")? != oid::PBKDF2 {
        return Err(DecryptError::Unsupported(
            "only PBKDF2 key derivation is supported (not scrypt)".into(),
        ));
    }
    let mut kdf_params = kdf.sequence("PBKDF2 parameters")?;
    let salt = kdf_params.expect(der::OCTET_STRING, "PBKDF2 salt")?;
    let iterations = kdf_params.small_uint("PBKDF2 iteration count")?;
    let mut key_length = None;
    if kdf_params.peek_tag() == Some(der::INTEGER) {
        key_length = Some(kdf_params.small_uint("PBKDF2 key length")?);
    }
    let prf = if kdf_params.is_empty() {
        ring::pbkdf2::PBKDF2_HMAC_SHA1
    } else {
        let mut prf = kdf_params.sequence("PBKDF2 prf")?;
        match prf.expect(der::OID, "prf OID")? {
            o if o == oid::HMAC_SHA1 => ring::pbkdf2::PBKDF2_HMAC_SHA1,
            o if o == oid::HMAC_SHA256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
            o if o == oid::HMAC_SHA384 => ring::pbkdf2::PBKDF2_HMAC_SHA384,
            o if o == oid::HMAC_SHA512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
            _ => {
                return Err(DecryptError::Unsupported(
                    "PBKDF2 pseudo-random function is not HMAC-SHA1/256/384/512".into(),
                ))
            }
        }
    };
    let cipher = match scheme.expect(der::OID, "cipher OID")? {
        o if o == oid::AES128_CBC => CbcCipher::Aes128,
        o if o == oid::AES192_CBC => CbcCipher::Aes192,
        o if o == oid::AES256_CBC => CbcCipher::Aes256,
        o if o == oid::DES_EDE3_CBC => CbcCipher::DesEde3,
        _ => {
            return Err(DecryptError::Unsupported(
                "PBES2 cipher is not AES-128/192/256-CBC or DES-EDE3-CBC".into(),
            ))
        }
    };
    let iv = scheme.expect(der::OCTET_STRING, "cipher IV")?;
    if key_length.is_some_and(|n| n as usize != cipher.key_len()) {
        return Err(DecryptError::Malformed(
            "PBKDF2 key length does not fit the cipher",
        ));
    }
    let iterations = NonZeroU32::new(iterations)
        .filter(|n| n.get() <= MAX_PBKDF2_ITERATIONS)
        .ok_or(DecryptError::Malformed(
            "PBKDF2 iteration count out of range",
        ))?;
    let mut key = vec![0u8; cipher.key_len()];
    ring::pbkdf2::derive(prf, iterations, salt, password, &mut key);
    cipher.decrypt(&key, iv, encrypted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evp_bytes_to_key_matches_openssl() {
        // `openssl enc -aes-128-cbc -k password -S 0102030405060708 -P -md md5`
        let key = evp_bytes_to_key(b"password", &[1, 2, 3, 4, 5, 6, 7, 8], 16);
        assert_eq!(hex_string(&key), "e7b0971e52ca5cc8d0539fb3412f6316");
        // Longer keys chain the digests.
        assert_eq!(evp_bytes_to_key(b"password", &[1; 8], 32).len(), 32);
    }

    fn hex_string(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn cbc_round_trip_and_bad_padding() {
        use aes::cipher::BlockEncrypt;
        let key = [7u8; 16];
        let iv = [9u8; 16];
        // A DER SEQUENCE of 20 bytes, padded to 32 bytes with twelve 0x0c.
        let mut plain = vec![0x30, 18];
        plain.extend([0x42; 18]);
        let mut padded = plain.clone();
        padded.extend([12u8; 12]);
        let cipher = aes::Aes128::new_from_slice(&key).unwrap();
        let mut previous = iv.to_vec();
        let mut encrypted = Vec::new();
        for block in padded.chunks(16) {
            let mut b: Vec<u8> = block.iter().zip(&previous).map(|(x, p)| x ^ p).collect();
            cipher.encrypt_block(GenericArray::from_mut_slice(&mut b));
            previous = b.clone();
            encrypted.extend(b);
        }
        assert_eq!(
            cbc_decrypt::<aes::Aes128>(&key, &iv, &encrypted).unwrap(),
            plain
        );
        assert_eq!(
            cbc_decrypt::<aes::Aes128>(&[8u8; 16], &iv, &encrypted),
            Err(DecryptError::WrongPassword)
        );
        assert!(matches!(
            cbc_decrypt::<aes::Aes128>(&key, &iv, &encrypted[..31]),
            Err(DecryptError::Malformed(_))
        ));
    }

    #[test]
    fn pem_blocks_with_headers() {
        let text = "junk\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                    DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAEC\n\
                    -----END RSA PRIVATE KEY-----\n";
        let blocks = pem_blocks(text).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "RSA PRIVATE KEY");
        assert_eq!(
            blocks[0].headers[0],
            ("Proc-Type".into(), "4,ENCRYPTED".into())
        );
        assert_eq!(blocks[0].der, vec![0, 1, 2]);
        assert!(pem_blocks("-----BEGIN X-----\nAAAA\n").is_err());
    }

    #[test]
    fn unsupported_legacy_cipher_is_named() {
        let err = decrypt_legacy("DES-CBC,0011223344556677", &[0; 8], b"pw").unwrap_err();
        assert!(matches!(err, DecryptError::Unsupported(ref s) if s.contains("DES-CBC")));
    }

    #[test]
    fn garbage_encrypted_pkcs8_is_an_error() {
        for bytes in [&[][..], &[0x30, 0x00], &[0x30, 0x03, 0x30, 0x01, 0x06]] {
            assert!(decrypt_pkcs8(bytes, b"pw").is_err());
        }
    }
}
