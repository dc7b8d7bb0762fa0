use super::*;

const K256: [u8; 32] = [0x11; 32];
const K128: [u8; 16] = [0x22; 16];

#[test]
fn picks_the_highest_kvno_with_a_supported_enctype() {
    let bytes = build(&[
        (&["proxy"], "R.TEST", 1, 18, &K256),
        (&["proxy"], "R.TEST", 2, 17, &K128),
        (&["proxy"], "R.TEST", 3, 23, &[0x33; 16]),
        (&["kafka", "host"], "R.TEST", 9, 18, &K256),
    ]);
    let entries = parse(&bytes).unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[3].principal, "kafka/host@R.TEST");
    let key = key_for(&entries, "proxy@R.TEST").unwrap();
    assert_eq!((key.number(), key.bytes()), (17, &K128[..]));
    let e = key_for(&entries, "nobody@R.TEST").unwrap_err();
    assert!(
        e.contains("no entry for nobody@R.TEST") && e.contains("proxy@R.TEST"),
        "{e}"
    );
    let rc4 = parse(&build(&[(&["old"], "R.TEST", 1, 23, &[0; 16])])).unwrap();
    let e = key_for(&rc4, "old@R.TEST").unwrap_err();
    assert!(e.contains("enctypes 23 only"), "{e}");
}

#[test]
fn holes_and_an_8_bit_kvno() {
    let mut bytes = build(&[(&["a"], "R", 5, 18, &K256)]);
    // A deleted entry (negative size) is skipped.
    bytes.splice(2..2, [0xff, 0xff, 0xff, 0xfc, 0, 0, 0, 0]);
    // Without the trailing 32-bit kvno, the 8-bit one counts.
    let len = bytes.len();
    bytes.truncate(len - 4);
    let size = u32::from_be_bytes(bytes[10..14].try_into().unwrap()) - 4;
    bytes[10..14].copy_from_slice(&size.to_be_bytes());
    let entries = parse(&bytes).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].kvno, 5);
}

#[test]
fn malformed_keytabs_are_errors() {
    assert!(parse(b"").is_err());
    assert!(parse(&[5, 1]).unwrap_err().contains("0x0501"));
    assert!(parse(&[5, 2, 0, 0]).is_err());
    let good = build(&[(&["a"], "R", 1, 18, &K256)]);
    for len in 3..good.len() {
        assert!(parse(&good[..len]).is_err(), "prefix {len}");
    }
    let mut wrong_len = good.clone();
    wrong_len[2..6].copy_from_slice(&1000u32.to_be_bytes());
    assert!(parse(&wrong_len).is_err());
    // A key of the wrong length for its enctype is unusable, not a panic.
    let short = parse(&build(&[(&["a"], "R", 1, 18, &K128)])).unwrap();
    assert!(short[0].key.is_none());
    assert!(parse(&vec![5u8; MAX_KEYTAB + 1]).is_err());
}
