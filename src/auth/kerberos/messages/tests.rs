use super::*;
use crate::auth::kerberos::samples;

fn key(n: i32, byte: u8) -> Key {
    Key::new(n, &vec![byte; if n == 18 { 32 } else { 16 }]).unwrap()
}

#[test]
fn krb_error_with_etype_info2() {
    let bytes = samples::krb_error(25, 1_800_000_000, Some(samples::etype_info2("R.TESTproxy")));
    assert_eq!(message_type(&bytes), Some(KRB_ERROR));
    let e = KrbError::decode(&bytes).unwrap();
    assert_eq!(
        (e.code, e.stime, e.realm.as_str()),
        (25, 1_800_000_000, "R.TEST")
    );
    assert_eq!(e.sname, ["krbtgt", "R.TEST"]);
    let info = e.etype_info2().unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(
        (info[0].etype, info[0].salt.as_deref()),
        (18, Some("R.TESTproxy"))
    );
    assert_eq!(info[0].iterations().unwrap(), 4096);
    let plain = KrbError::decode(&samples::krb_error(6, 0, None)).unwrap();
    assert!(plain.etype_info2().unwrap().is_empty());
}

#[test]
fn kdc_replies_open_under_the_right_key_and_usage_only() {
    let (long_term, session) = (key(18, 1), key(17, 2));
    for (msg_type, usage) in [(AS_REP, USAGE_AS_REP), (TGS_REP, USAGE_TGS_REP)] {
        let bytes = samples::kdc_reply(msg_type, &long_term, usage, &session, 4242);
        let rep = KdcReply::decode(&bytes, msg_type).unwrap();
        assert_eq!(rep.ticket, samples::ticket());
        let plain = rep.enc_part.open(&long_term, usage).unwrap();
        let part = EncKdcPart::decode(&plain).unwrap();
        assert_eq!(
            (part.key, part.nonce, part.endtime),
            (session.clone(), 4242, 1_800_086_400)
        );
        assert!(rep.enc_part.open(&key(18, 9), usage).is_none());
        assert!(rep.enc_part.open(&long_term, usage + 1).is_none());
        assert!(
            rep.enc_part.open(&key(17, 1), usage).is_none(),
            "enctype mismatch"
        );
        let other = if msg_type == AS_REP { TGS_REP } else { AS_REP };
        assert!(KdcReply::decode(&bytes, other).is_err());
    }
}

#[test]
fn ap_rep_and_its_subkey() {
    let (session, subkey) = (key(18, 3), key(18, 4));
    let bytes = samples::ap_rep(&session, 1_800_000_000, 123, Some(&subkey));
    let plain = ap_reply(&bytes)
        .unwrap()
        .open(&session, USAGE_AP_REP)
        .unwrap();
    let part = EncApRepPart::decode(&plain).unwrap();
    assert_eq!((part.ctime, part.cusec), (1_800_000_000, 123));
    assert_eq!((part.subkey, part.seq_number), (Some(subkey), Some(77)));
}

#[test]
fn requests_carry_what_the_kdc_reads() {
    let k = key(18, 5);
    let body = RequestBody {
        cname: Some(&["proxy"]),
        realm: "R.TEST",
        sname: (NT_SRV_INST, &["krbtgt", "R.TEST"]),
        till: 1_800_000_000,
        nonce: 99,
        etypes: &ETYPES,
    }
    .encode();
    let pa = enc_timestamp(&k, 1_800_000_000, 5).unwrap();
    let req = kdc_request(AS_REQ, &[(PA_ENC_TIMESTAMP, pa.clone())], body.clone());
    let mut f = Fields::application(&req, AS_REQ, "AS-REQ").unwrap();
    assert_eq!(
        der::int(&mut f.required(1, "pvno").unwrap(), "pvno").unwrap(),
        5
    );
    assert_eq!(der::int(&mut f.required(2, "t").unwrap(), "t").unwrap(), 10);
    assert!(f.required(3, "padata").is_ok());
    assert_eq!(f.required(4, "body").unwrap().raw().unwrap(), body);
    // The timestamp opens under the client's key with usage 1.
    let mut d = der::Der::new(&pa);
    let sealed = Encrypted::decode(&mut d).unwrap();
    let ts = sealed.open(&k, USAGE_PA_ENC_TIMESTAMP).unwrap();
    let mut ts = Fields::sequence(&ts, "ts").unwrap();
    assert_eq!(
        der::time(&mut ts.required(0, "t").unwrap(), "t").unwrap(),
        1_800_000_000
    );
    // An AP-REQ's authenticator opens under the session key with its usage.
    let auth = Authenticator {
        crealm: "R.TEST",
        cname: &["proxy"],
        checksum: Some((0x8003, vec![1; 24])),
        usec: 7,
        time: 1_800_000_000,
        seq_number: Some(11),
    };
    let ap = ap_request(&samples::ticket(), &k, 11, &auth, true).unwrap();
    let mut f = Fields::application(&ap, AP_REQ, "AP-REQ").unwrap();
    assert_eq!(
        f.required(3, "ticket").unwrap().raw().unwrap(),
        samples::ticket()
    );
    let sealed = Encrypted::decode(&mut f.required(4, "auth").unwrap()).unwrap();
    assert_eq!(sealed.open(&k, 11).unwrap(), auth.encode());
}

#[test]
fn every_truncation_is_an_error() {
    let k = key(18, 1);
    let samples = [
        samples::krb_error(25, 0, Some(samples::etype_info2("salt"))),
        samples::kdc_reply(AS_REP, &k, 3, &k, 1),
        samples::ap_rep(&k, 0, 0, Some(&k)),
    ];
    for bytes in &samples {
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            assert!(KrbError::decode(cut).is_err());
            assert!(KdcReply::decode(cut, AS_REP).is_err());
            assert!(ap_reply(cut).is_err());
        }
    }
}
