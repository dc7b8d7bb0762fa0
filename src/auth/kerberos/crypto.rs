//! RFC 3961 (simplified profile) and RFC 3962 key derivation for aes128-cts-hmac-sha1-96 (17)
//! and aes256-cts-hmac-sha1-96 (18).

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use std::num::NonZeroU32;

/// The two enctypes this client supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enctype {
    Aes128CtsHmacSha196 = 17,
    Aes256CtsHmacSha196 = 18,
}

impl Enctype {
    pub fn from_number(n: i32) -> Option<Enctype> {
        match n {
            17 => Some(Enctype::Aes128CtsHmacSha196),
            18 => Some(Enctype::Aes256CtsHmacSha196),
            _ => None,
        }
    }

    pub fn key_len(self) -> usize {
        match self {
            Enctype::Aes128CtsHmacSha196 => 16,
            Enctype::Aes256CtsHmacSha196 => 32,
        }
    }
}

/// A key of one of the two enctypes; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub enctype: Enctype,
    bytes: Vec<u8>,
}

impl Key {
    /// A key of `enctype` (number) from a peer or a file: `None` for another enctype or length.
    pub fn new(enctype: i32, bytes: &[u8]) -> Option<Key> {
        let enctype = Enctype::from_number(enctype)?;
        (bytes.len() == enctype.key_len()).then(|| Key {
            enctype,
            bytes: bytes.to_vec(),
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn number(&self) -> i32 {
        self.enctype as i32
    }

    /// The keyed checksum type that goes with the enctype (RFC 3962: 15 and 16).
    pub fn checksum_type(&self) -> i32 {
        match self.enctype {
            Enctype::Aes128CtsHmacSha196 => 15,
            Enctype::Aes256CtsHmacSha196 => 16,
        }
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({:?}, <redacted>)", self.enctype)
    }
}

/// RFC 3962's default string-to-key iteration count.
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// A KDC may ask for more (s2kparams); more than this is refused as a denial of service.
pub const MAX_ITERATIONS: u32 = 1 << 20;

/// RFC 3961 section 5.1 n-fold: `input` (non-empty) stretched or folded to `n` bytes.
pub fn nfold(input: &[u8], n: usize) -> Vec<u8> {
    let k = input.len();
    assert!(k > 0 && n > 0, "n-fold of nothing");
    let lcm = k / gcd(k, n) * n;
    let bits = k * 8;
    let mut out = vec![0u8; n];
    let mut carry: u32 = 0;
    for i in (0..lcm).rev() {
        let msbit = ((bits - 1) + (bits + 13) * (i / k) + (k - i % k) * 8) % bits;
        let hi = u32::from(input[(k - 1 - msbit / 8) % k]);
        let lo = u32::from(input[(k - msbit / 8) % k]);
        carry += (((hi << 8) | lo) >> ((msbit & 7) + 1)) & 0xff;
        carry += u32::from(out[i % n]);
        out[i % n] = (carry & 0xff) as u8;
        carry >>= 8;
    }
    if carry != 0 {
        for b in out.iter_mut().rev() {
            carry += u32::from(*b);
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
    }
    out
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// One AES block encryption under `key` (16 or 32 bytes).
fn encrypt_block(key: &[u8], block: &mut [u8; 16]) {
    let b = GenericArray::from_mut_slice(block);
    match key.len() {
        16 => aes::Aes128::new(GenericArray::from_slice(key)).encrypt_block(b),
        32 => aes::Aes256::new(GenericArray::from_slice(key)).encrypt_block(b),
        n => unreachable!("AES key of {n} bytes"),
    }
}

/// RFC 3961 DK(key, constant) for AES: DR's blocks (each the encryption of the one before,
/// starting from the n-fold of `constant`) up to the key length; random-to-key is identity.
pub fn derive_key(key: &[u8], constant: &[u8]) -> Vec<u8> {
    let mut block: [u8; 16] = nfold(constant, 16).try_into().expect("16 bytes");
    let mut out = Vec::with_capacity(key.len());
    while out.len() < key.len() {
        encrypt_block(key, &mut block);
        out.extend_from_slice(&block);
    }
    out.truncate(key.len());
    out
}

/// RFC 3962 string-to-key: DK(PBKDF2-HMAC-SHA1(password, salt, iterations), "kerberos").
/// The salt is the realm followed by the principal's name components, unless the KDC sends
/// another (PA-ETYPE-INFO2).
pub fn string_to_key(
    enctype: Enctype,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<Vec<u8>, &'static str> {
    if iterations > MAX_ITERATIONS {
        return Err("the KDC asks for too many string-to-key iterations");
    }
    let iterations = NonZeroU32::new(iterations).ok_or("zero string-to-key iterations")?;
    let mut tkey = vec![0u8; enctype.key_len()];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA1,
        iterations,
        salt,
        password,
        &mut tkey,
    );
    Ok(derive_key(&tkey, b"kerberos"))
}

/// The usage constants of RFC 3961 section 5.3: Kc (checksum), Ke (encryption), Ki (integrity).
pub fn usage_key(base: &[u8], usage: u32, kind: u8) -> Vec<u8> {
    let mut constant = usage.to_be_bytes().to_vec();
    constant.push(kind);
    derive_key(base, &constant)
}

#[cfg(test)]
mod tests;
