use super::*;
use crate::auth::kerberos::der::{self as d, Fields};
use crate::auth::kerberos::samples;

fn key(byte: u8) -> Key {
    Key::new(18, &[byte; 32]).unwrap()
}

#[test]
fn acceptor_wrap_tokens_verify_with_any_rotation() {
    let k = key(1);
    for rrc in [0u16, 5, 12, 16, 28, 1000] {
        let token = acceptor_wrap(&[1, 0, 0x10, 0], &k, ACCEPTOR_SUBKEY, 9, rrc);
        assert_eq!(
            unwrap(&token, &k, true).unwrap(),
            [1, 0, 0x10, 0],
            "rrc {rrc}"
        );
    }
    let token = acceptor_wrap(b"layer", &k, 0, 3, 0);
    assert!(unwrap(&token, &k, true).is_err(), "subkey flag mismatch");
    assert!(unwrap(&token, &key(2), false).is_err(), "wrong key");
    let mut bad = token.clone();
    bad[17] ^= 1;
    assert!(unwrap(&bad, &k, false).is_err(), "altered payload");
    let mut seq = token.clone();
    seq[15] ^= 1;
    assert!(
        unwrap(&seq, &k, false).is_err(),
        "the header is checksummed"
    );
    // Ours (sent by the initiator) is not taken as the acceptor's.
    assert!(unwrap(&wrap(b"x", &k, 0, 1), &k, false).is_err());
    for len in 0..token.len() {
        let _ = unwrap(&token[..len], &k, false);
    }
}

#[test]
fn sealed_acceptor_tokens_decrypt() {
    let k = key(3);
    let flags = SENT_BY_ACCEPTOR | SEALED | ACCEPTOR_SUBKEY;
    let ec = 3u16;
    let mut plain = b"offer".to_vec();
    plain.extend_from_slice(&[0xff; 3]);
    plain.extend_from_slice(&header(flags, ec, 0, 8));
    let cipher = cts::encrypt(k.bytes(), ACCEPTOR_SEAL, &plain).unwrap();
    let mut token = header(flags, ec, 0, 8).to_vec();
    token.extend_from_slice(&cipher);
    assert_eq!(unwrap(&token, &k, true).unwrap(), b"offer");
    token[6..8].copy_from_slice(&0u16.to_be_bytes());
    assert!(unwrap(&token, &key(4), true).is_err());
}

#[test]
fn our_wrap_token_is_integrity_only_under_the_initiator_usage() {
    let k = key(5);
    let token = wrap(b"\x01\0\0\0proxy@R", &k, ACCEPTOR_SUBKEY, 42);
    assert_eq!(&token[..4], &[0x05, 0x04, ACCEPTOR_SUBKEY, 0xff]);
    assert_eq!(&token[4..8], &[0, 12, 0, 0]);
    assert_eq!(u64::from_be_bytes(token[8..16].try_into().unwrap()), 42);
    let (payload, mac) = token[16..].split_at(token.len() - 16 - 12);
    let signed = [payload, &header(ACCEPTOR_SUBKEY, 0, 0, 42)].concat();
    assert!(cts::verify_checksum(
        k.bytes(),
        INITIATOR_SEAL,
        &signed,
        mac
    ));
}

#[test]
fn framing_is_checked() {
    let token = frame(TOK_AP_REP, b"body");
    assert_eq!(parse_framing(&token).unwrap(), (TOK_AP_REP, &b"body"[..]));
    assert!(parse_framing(&[&token[..], &[0][..]].concat()).is_err());
    let mut other_oid = token.clone();
    other_oid[5] ^= 1;
    assert!(parse_framing(&other_oid).is_err());
    for len in 0..token.len() {
        assert!(parse_framing(&token[..len]).is_err() || len >= token.len() - 4);
    }
}

fn config() -> GssapiConfig {
    GssapiConfig {
        realm: "GSS.TEST".into(),
        username: "proxy".into(),
        ..GssapiConfig::default()
    }
}

/// The authenticator inside an initial context token: (ctime, cusec, checksum, seq).
fn authenticator(token: &[u8], k: &Key) -> (i64, u32, Vec<u8>, u32) {
    let (id, ap) = parse_framing(token).unwrap();
    assert_eq!(id, TOK_AP_REQ);
    let mut f = Fields::application(ap, m::AP_REQ, "AP-REQ").unwrap();
    let options = f.required(2, "options").unwrap().any().unwrap().1.to_vec();
    assert_eq!(options, [0, 0x20, 0, 0, 0], "mutual-required");
    let sealed = m::Encrypted {
        etype: 18,
        kvno: None,
        cipher: {
            let mut e = Fields::sequence(f.required(4, "a").unwrap().raw().unwrap(), "e").unwrap();
            d::octets(&mut e.required(2, "c").unwrap(), "c")
                .unwrap()
                .to_vec()
        },
    };
    let plain = sealed.open(k, m::USAGE_AP_REQ_AUTHENTICATOR).unwrap();
    let mut a = Fields::application(&plain, 2, "Authenticator").unwrap();
    let mut sum = Fields::sequence(a.required(3, "ck").unwrap().raw().unwrap(), "ck").unwrap();
    assert_eq!(
        d::int(&mut sum.required(0, "t").unwrap(), "t").unwrap(),
        0x8003
    );
    let sum = d::octets(&mut sum.required(1, "s").unwrap(), "s")
        .unwrap()
        .to_vec();
    let cusec = d::int(&mut a.required(4, "u").unwrap(), "u").unwrap() as u32;
    let ctime = d::time(&mut a.required(5, "t").unwrap(), "t").unwrap();
    let seq = d::int(&mut a.required(7, "s").unwrap(), "s").unwrap() as u32;
    (ctime, cusec, sum, seq)
}

/// The whole RFC 4752 exchange against a scripted acceptor, the ticket from the cache (so no
/// KDC is asked).
#[test]
fn sasl_gssapi_exchange_with_an_acceptor_subkey() {
    let c = config();
    let session = key(7);
    let subkey = key(8);
    crate::auth::kerberos::cache::store(
        &c.client_principal(),
        "kafka/broker1@GSS.TEST",
        &Credential {
            ticket: samples::ticket(),
            key: session.clone(),
            endtime: client::now().0 + 3600,
        },
    );
    let mut gss = GssapiClient::new(&c, "broker1", Deadline::after(std::time::Duration::ZERO));
    let first = gss.first_token().unwrap();
    let (ctime, cusec, sum, seq) = authenticator(&first, &session);
    assert_eq!(&sum[..4], &16u32.to_le_bytes());
    assert_eq!(&sum[20..], &GSS_FLAGS.to_le_bytes());

    // A reply that echoes another time is refused.
    let mut wrong = GssapiClient::new(&c, "broker1", Deadline::after(std::time::Duration::ZERO));
    wrong.first_token().unwrap();
    let stale = frame(
        TOK_AP_REP,
        &samples::ap_rep(&session, ctime - 1, cusec, None),
    );
    assert!(wrong
        .respond(&stale)
        .unwrap_err()
        .contains("does not answer"));

    let ap_rep = frame(
        TOK_AP_REP,
        &samples::ap_rep(&session, ctime, cusec, Some(&subkey)),
    );
    assert_eq!(gss.respond(&ap_rep).unwrap(), Some(Vec::new()));
    let offer = acceptor_wrap(&[0x07, 0, 0x10, 0], &subkey, ACCEPTOR_SUBKEY, 77, 0);
    let answer = gss.respond(&offer).unwrap().unwrap();
    assert_eq!(answer[2], ACCEPTOR_SUBKEY);
    assert_eq!(
        u64::from_be_bytes(answer[8..16].try_into().unwrap()),
        u64::from(seq)
    );
    let payload = &answer[16..answer.len() - 12];
    assert_eq!(payload, b"\x01\0\0\0proxy@GSS.TEST");
    assert_eq!(gss.respond(&[]).unwrap(), None);
}

#[test]
fn broker_errors_and_layers_it_requires() {
    let c = config();
    let session = key(9);
    let start = || {
        crate::auth::kerberos::cache::store(
            &c.client_principal(),
            "kafka/broker2@GSS.TEST",
            &Credential {
                ticket: samples::ticket(),
                key: session.clone(),
                endtime: client::now().0 + 3600,
            },
        );
        let mut g = GssapiClient::new(&c, "broker2", Deadline::after(std::time::Duration::ZERO));
        let t = g.first_token().unwrap();
        let (ctime, cusec, _, _) = authenticator(&t, &session);
        (g, ctime, cusec)
    };
    let (mut g, _, _) = start();
    let error = frame(TOK_ERROR, &samples::krb_error(37, 0, None));
    let e = g.respond(&error).unwrap_err();
    assert!(
        e.contains("KRB_AP_ERR_SKEW") && e.contains("broker broker2"),
        "{e}"
    );

    let (mut g, ctime, cusec) = start();
    let rep = frame(TOK_AP_REP, &samples::ap_rep(&session, ctime, cusec, None));
    g.respond(&rep).unwrap();
    let integrity_only = acceptor_wrap(&[0x02, 0, 0x10, 0], &session, 0, 1, 0);
    assert!(g
        .respond(&integrity_only)
        .unwrap_err()
        .contains("security layer"));

    let (mut g, _, _) = start();
    let e = g.respond(&frame(TOK_AP_REP, &samples::ap_rep(&key(1), 0, 0, None)));
    assert!(e.unwrap_err().contains("does not decrypt"));
    drop(g);
    // The failed login forgot the ticket: the next one goes to the KDC (none here).
    let mut g = GssapiClient::new(&c, "broker2", Deadline::after(std::time::Duration::ZERO));
    assert!(g.first_token().is_err());
}
