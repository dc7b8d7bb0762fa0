use super::write as w;
use super::*;

#[test]
fn fields_round_trip_and_skip_unknown_ones() {
    let bytes = w::sequence(&[
        w::field(0, integer(-5)),
        w::field(1, w::string("skipped")),
        w::field(3, w::octets(b"abc")),
        w::field(4, w::time(1_796_244_012)),
        w::field(5, w::principal(1, &["kafka", "host"])),
    ]);
    let mut f = Fields::sequence(&bytes, "test").unwrap();
    assert_eq!(int(&mut f.required(0, "a").unwrap(), "a").unwrap(), -5);
    assert!(
        f.optional(2).unwrap().is_none(),
        "field 1 skipped, 2 absent"
    );
    assert_eq!(
        octets(&mut f.required(3, "c").unwrap(), "c").unwrap(),
        b"abc"
    );
    assert_eq!(
        time(&mut f.required(4, "t").unwrap(), "t").unwrap(),
        1_796_244_012
    );
    let (kind, parts) = principal(&mut f.required(5, "p").unwrap(), "p").unwrap();
    assert_eq!((kind, parts), (1, vec!["kafka".into(), "host".into()]));
    assert!(f.optional(6).unwrap().is_none());
    assert!(f.required(7, "missing").is_err());
}

#[test]
fn times_and_flags_encode_as_kerberos_wants() {
    assert_eq!(&w::time(0)[2..], b"19700101000000Z");
    assert_eq!(w::flags(1 << 29), [0x03, 0x05, 0, 0x20, 0, 0, 0]);
    assert_eq!(integer(0x80), [0x02, 0x02, 0x00, 0x80]);
    let long = w::octets(&[7; 300]);
    assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
}

#[test]
fn malformed_input_is_an_error() {
    let good = w::sequence(&[w::field(0, integer(5)), w::field(1, w::string("x"))]);
    for len in 0..good.len() {
        assert!(Fields::sequence(&good[..len], "t").is_err(), "prefix {len}");
    }
    // Trailing bytes after the message, a field without a context tag, a wrong type.
    assert!(Fields::sequence(&[&good[..], &[0][..]].concat(), "t").is_err());
    let untagged = w::sequence(&[integer(5)]);
    assert!(Fields::sequence(&untagged, "t")
        .unwrap()
        .optional(0)
        .is_err());
    let mut f = Fields::sequence(&good, "t").unwrap();
    assert!(string(&mut f.required(0, "t").unwrap(), "t").is_err());
    // Integers over 8 bytes, empty integers, too many name components.
    assert!(int(&mut Der::new(&[2, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]), "i").is_err());
    assert!(int(&mut Der::new(&[2, 0]), "i").is_err());
    let many: Vec<&str> = vec!["a"; 9];
    assert!(principal(&mut Der::new(&w::principal(1, &many)), "p").is_err());
    assert!(Fields::application(&good, 10, "app").is_err());
    let app = w::application(10, good.clone());
    assert!(Fields::application(&app, 10, "app").is_ok());
    assert!(Fields::application(&app, 11, "app").is_err());
}
