use super::*;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const CHICKEN: &[u8] = b"chicken teriyaki";

/// RFC 3962 appendix B: AES-128 CTS with a zero IV.
#[test]
fn cts_vector() {
    let plain = b"I would like the ";
    let c = cts_encrypt(CHICKEN, plain);
    assert_eq!(hex(&c), "c6353568f2bf8cb4d8a580362da7ff7f97");
    assert_eq!(cts_decrypt(CHICKEN, &c), plain);
}

#[test]
fn cts_round_trips_every_length() {
    let data: Vec<u8> = (0..100u8).collect();
    for key in [&[3u8; 16][..], &[9u8; 32][..]] {
        for len in 16..data.len() {
            let c = cts_encrypt(key, &data[..len]);
            assert_eq!(c.len(), len);
            assert_eq!(cts_decrypt(key, &c), &data[..len], "{len}");
        }
    }
}

#[test]
fn encrypt_then_decrypt_checks_key_usage_and_bytes() {
    let key = [5u8; 32];
    for plain in [&b""[..], b"x", b"a ticket's enc-part, longer than a block"] {
        let c = encrypt(&key, 3, plain).unwrap();
        assert_eq!(decrypt(&key, 3, &c).unwrap(), plain);
        assert_eq!(decrypt(&key, 4, &c), Err(CryptoError::Integrity));
        assert_eq!(decrypt(&[6u8; 32], 3, &c), Err(CryptoError::Integrity));
        let mut bad = c.clone();
        bad[0] ^= 1;
        assert_eq!(decrypt(&key, 3, &bad), Err(CryptoError::Integrity));
    }
    assert_eq!(decrypt(&key, 3, &[0; 27]), Err(CryptoError::TooShort));
}

/// RFC 3962 appendix B: the other lengths (a partial last block, whole blocks, three blocks).
#[test]
fn cts_vectors_of_every_shape() {
    for (plain, want) in [
        (
            &b"I would like the General Gau's "[..],
            "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5",
        ),
        (
            b"I would like the General Gau's C",
            "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584",
        ),
        (
            b"I would like the General Gau's Chicken, please,",
            "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5",
        ),
    ] {
        let c = cts_encrypt(CHICKEN, plain);
        assert_eq!(hex(&c), want);
        assert_eq!(cts_decrypt(CHICKEN, &c), plain);
    }
}
