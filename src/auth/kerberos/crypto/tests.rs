use super::*;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// RFC 3961 appendix A.1.
#[test]
fn nfold_vectors() {
    assert_eq!(hex(&nfold(b"012345", 8)), "be072631276b1955");
    assert_eq!(hex(&nfold(b"password", 7)), "78a07b6caf85fa");
    assert_eq!(
        hex(&nfold(b"Rough Consensus, and Running Code", 8)),
        "bb6ed30870b7f0e0"
    );
    assert_eq!(
        hex(&nfold(b"password", 21)),
        "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"
    );
    assert_eq!(hex(&nfold(b"kerberos", 8)), "6b65726265726f73");
    // The 128-fold of "kerberos" (DK's constant in string-to-key) is checked through
    // MIT's keys below.
}

/// Keys MIT Kerberos 1.20 derives (`ktutil addent -password`, `klist -k -K -e`) for
/// proxy@KAFKA-PROXY.TEST with password proxy-secret (salt KAFKA-PROXY.TESTproxy, 4096
/// iterations).
#[test]
fn string_to_key_matches_mit() {
    let salt = b"KAFKA-PROXY.TESTproxy";
    let k128 = string_to_key(
        Enctype::Aes128CtsHmacSha196,
        b"proxy-secret",
        salt,
        DEFAULT_ITERATIONS,
    )
    .unwrap();
    assert_eq!(hex(&k128), "480d4f522b302d8106b60e8b6b13f95a");
    let k256 = string_to_key(
        Enctype::Aes256CtsHmacSha196,
        b"proxy-secret",
        salt,
        DEFAULT_ITERATIONS,
    )
    .unwrap();
    assert_eq!(
        hex(&k256),
        "0842cfeac1e9bf1c727c484cbfbeb349283cd057f410bc8bbdc85b2480c5d777"
    );
}

#[test]
fn string_to_key_bounds_iterations() {
    let e = Enctype::Aes128CtsHmacSha196;
    assert!(string_to_key(e, b"p", b"s", 0).is_err());
    assert!(string_to_key(e, b"p", b"s", MAX_ITERATIONS + 1).is_err());
    assert_eq!(Enctype::from_number(18), Some(Enctype::Aes256CtsHmacSha196));
    assert_eq!(Enctype::from_number(23), None);
}

#[test]
fn usage_keys_differ() {
    let base = [7u8; 16];
    let kc = usage_key(&base, 11, 0x99);
    let ke = usage_key(&base, 11, 0xaa);
    assert_eq!(kc.len(), 16);
    assert_ne!(kc, ke);
}
