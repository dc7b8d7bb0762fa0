//! RFC 3962 aes*-cts-hmac-sha1-96 encryption: AES in CBC mode with ciphertext stealing (zero
//! IV), a 16-byte random confounder, and HMAC-SHA1 truncated to 12 bytes over the plaintext
//! (RFC 3961's simplified profile). `decrypt` takes what a KDC or broker sent.

use super::crypto::usage_key;
use aes::cipher::{generic_array::GenericArray, BlockDecrypt, BlockEncrypt, KeyInit};
use ring::{hmac, rand::SecureRandom};

const BLOCK: usize = 16;
const MAC: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// Shorter than a confounder and a checksum.
    TooShort,
    /// The checksum does not match: a wrong key (password, keytab) or altered bytes.
    Integrity,
    /// The system's random source failed.
    Random,
}

enum Aes {
    A128(Box<aes::Aes128>),
    A256(Box<aes::Aes256>),
}

impl Aes {
    fn new(key: &[u8]) -> Aes {
        match key.len() {
            16 => Aes::A128(Box::new(aes::Aes128::new(GenericArray::from_slice(key)))),
            32 => Aes::A256(Box::new(aes::Aes256::new(GenericArray::from_slice(key)))),
            n => unreachable!("AES key of {n} bytes"),
        }
    }
    fn enc(&self, b: &mut [u8]) {
        let b = GenericArray::from_mut_slice(b);
        match self {
            Aes::A128(c) => c.encrypt_block(b),
            Aes::A256(c) => c.encrypt_block(b),
        }
    }
    fn dec(&self, b: &mut [u8]) {
        let b = GenericArray::from_mut_slice(b);
        match self {
            Aes::A128(c) => c.decrypt_block(b),
            Aes::A256(c) => c.decrypt_block(b),
        }
    }
}

fn xor(a: &mut [u8], b: &[u8]) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x ^= y);
}

/// CBC-CTS encryption of `data` (at least one block) with a zero IV.
pub fn cts_encrypt(key: &[u8], data: &[u8]) -> Vec<u8> {
    assert!(data.len() >= BLOCK, "CTS needs a whole block");
    let aes = Aes::new(key);
    let mut prev = [0u8; BLOCK];
    let mut blocks: Vec<[u8; BLOCK]> = Vec::new();
    for chunk in data.chunks(BLOCK) {
        let mut b = [0u8; BLOCK];
        b[..chunk.len()].copy_from_slice(chunk);
        xor(&mut b, &prev);
        aes.enc(&mut b);
        prev = b;
        blocks.push(b);
    }
    let n = blocks.len();
    if n > 1 {
        blocks.swap(n - 2, n - 1);
    }
    let mut out: Vec<u8> = blocks.concat();
    out.truncate(data.len());
    out
}

/// The inverse of [`cts_encrypt`]; `data` must be at least one block.
pub fn cts_decrypt(key: &[u8], data: &[u8]) -> Vec<u8> {
    assert!(data.len() >= BLOCK, "CTS needs a whole block");
    let aes = Aes::new(key);
    let n = data.len().div_ceil(BLOCK);
    let mut out = vec![0u8; data.len()];
    if n == 1 {
        out.copy_from_slice(data);
        aes.dec(&mut out);
        return out;
    }
    let cbc_end = (n - 2) * BLOCK;
    let mut prev = [0u8; BLOCK];
    for (i, c) in data[..cbc_end].chunks(BLOCK).enumerate() {
        let mut b: [u8; BLOCK] = c.try_into().expect("block");
        aes.dec(&mut b);
        xor(&mut b, &prev);
        out[i * BLOCK..(i + 1) * BLOCK].copy_from_slice(&b);
        prev = c.try_into().expect("block");
    }
    let full = &data[cbc_end..cbc_end + BLOCK];
    let partial = &data[cbc_end + BLOCK..];
    let d = partial.len();
    let mut dn = [0u8; BLOCK];
    dn.copy_from_slice(full);
    aes.dec(&mut dn);
    let mut x = dn;
    x[..d].copy_from_slice(partial);
    let mut last = dn;
    xor(&mut last[..d], partial);
    aes.dec(&mut x);
    xor(&mut x, &prev);
    out[cbc_end..cbc_end + BLOCK].copy_from_slice(&x);
    out[cbc_end + BLOCK..].copy_from_slice(&last[..d]);
    out
}

fn checksum(base: &[u8], usage: u32, data: &[u8]) -> Vec<u8> {
    hmac_sha1_96(base, usage, 0x55, data)
}

/// The keyed checksum hmac-sha1-96-aes128/aes256 (RFC 3962 types 15 and 16) of `data` for key
/// usage `usage`: HMAC-SHA1 under Kc, truncated to 12 bytes.
pub fn keyed_checksum(base: &[u8], usage: u32, data: &[u8]) -> Vec<u8> {
    hmac_sha1_96(base, usage, 0x99, data)
}

/// Checks a peer's keyed checksum in constant time.
pub fn verify_checksum(base: &[u8], usage: u32, data: &[u8], mac: &[u8]) -> bool {
    let want = keyed_checksum(base, usage, data);
    crate::plugin::builtin::auth_user::equal_in_constant_time(&want, mac)
}

fn hmac_sha1_96(base: &[u8], usage: u32, kind: u8, data: &[u8]) -> Vec<u8> {
    let ki = usage_key(base, usage, kind);
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &ki),
        data,
    );
    tag.as_ref()[..MAC].to_vec()
}

/// Encrypts `plain` under the base key for key usage `usage`.
pub fn encrypt(base: &[u8], usage: u32, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut confounder = [0u8; BLOCK];
    ring::rand::SystemRandom::new()
        .fill(&mut confounder)
        .map_err(|_| CryptoError::Random)?;
    Ok(encrypt_with(base, usage, &confounder, plain))
}

/// [`encrypt`] with a given confounder (fixed ones make the fuzz seeds reproducible).
pub fn encrypt_with(base: &[u8], usage: u32, confounder: &[u8; BLOCK], plain: &[u8]) -> Vec<u8> {
    let data = [&confounder[..], plain].concat();
    let mut out = cts_encrypt(&usage_key(base, usage, 0xaa), &data);
    out.extend_from_slice(&checksum(base, usage, &data));
    out
}

/// Decrypts and checks `cipher` (a peer's bytes) under the base key for `usage`; the
/// plaintext without its confounder.
pub fn decrypt(base: &[u8], usage: u32, cipher: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if cipher.len() < BLOCK + MAC {
        return Err(CryptoError::TooShort);
    }
    let (body, mac) = cipher.split_at(cipher.len() - MAC);
    let data = cts_decrypt(&usage_key(base, usage, 0xaa), body);
    let want = checksum(base, usage, &data);
    // Constant time: the checksum is what stops a forged ticket or reply.
    if !crate::plugin::builtin::auth_user::equal_in_constant_time(&want, mac) {
        return Err(CryptoError::Integrity);
    }
    Ok(data[BLOCK..].to_vec())
}

#[cfg(test)]
mod tests;
