//! What a KDC and a broker send, built with fixed confounders so that the unit tests and the
//! fuzz seeds are reproducible.

use super::crypto::Key;
use super::cts;
use super::der::{integer, write as w};
use super::messages::{self as m};

const CONFOUNDER: [u8; 16] = [0x5a; 16];

pub fn encrypted(key: &Key, usage: u32, plain: &[u8]) -> Vec<u8> {
    m::Encrypted {
        etype: key.number(),
        kvno: Some(1),
        cipher: cts::encrypt_with(key.bytes(), usage, &CONFOUNDER, plain),
    }
    .encode()
}

fn key_der(key: &Key) -> Vec<u8> {
    w::sequence(&[
        w::field(0, integer(key.number().into())),
        w::field(1, w::octets(key.bytes())),
    ])
}

/// A KRB-ERROR with `code` and `e_data`.
pub fn krb_error(code: i32, stime: i64, e_data: Option<Vec<u8>>) -> Vec<u8> {
    let mut parts = vec![
        w::field(0, integer(m::PVNO)),
        w::field(1, integer(m::KRB_ERROR.into())),
        w::field(4, w::time(stime)),
        w::field(5, integer(0)),
        w::field(6, integer(code.into())),
        w::field(9, w::string("R.TEST")),
        w::field(10, w::principal(m::NT_SRV_INST, &["krbtgt", "R.TEST"])),
        w::field(11, w::string("from the sample KDC")),
    ];
    if let Some(data) = e_data {
        parts.push(w::field(12, w::octets(&data)));
    }
    w::application(m::KRB_ERROR, w::sequence(&parts))
}

/// METHOD-DATA with one ETYPE-INFO2 entry (AES-256, `salt`, 4096 iterations).
pub fn etype_info2(salt: &str) -> Vec<u8> {
    let entry = w::sequence(&[
        w::field(0, integer(18)),
        w::field(1, w::string(salt)),
        w::field(2, w::octets(&4096u32.to_be_bytes())),
    ]);
    w::sequence(&[w::sequence(&[
        w::field(1, integer(m::PA_ETYPE_INFO2.into())),
        w::field(2, w::octets(&w::sequence(&[entry]))),
    ])])
}

/// A ticket (its enc-part is opaque to the client).
pub fn ticket() -> Vec<u8> {
    w::application(
        1,
        w::sequence(&[
            w::field(0, integer(5)),
            w::field(1, w::string("R.TEST")),
            w::field(2, w::principal(m::NT_SRV_HST, &["kafka", "broker"])),
            w::field(
                3,
                m::Encrypted {
                    etype: 18,
                    kvno: Some(2),
                    cipher: vec![0xcc; 40],
                }
                .encode(),
            ),
        ]),
    )
}

/// An AS-REP or TGS-REP (`msg_type`) whose enc-part, under `key` for `usage`, holds
/// `session` and `nonce`.
pub fn kdc_reply(msg_type: u8, key: &Key, usage: u32, session: &Key, nonce: u32) -> Vec<u8> {
    kdc_reply_until(msg_type, key, usage, session, nonce, 1_800_086_400)
}

/// [`kdc_reply`] for a ticket that ends at `endtime`.
pub fn kdc_reply_until(
    msg_type: u8,
    key: &Key,
    usage: u32,
    session: &Key,
    nonce: u32,
    endtime: i64,
) -> Vec<u8> {
    let part = w::application(
        if msg_type == m::AS_REP { 25 } else { 26 },
        w::sequence(&[
            w::field(0, key_der(session)),
            w::field(1, w::sequence(&[])),
            w::field(2, integer(nonce.into())),
            w::field(4, w::flags(0)),
            w::field(5, w::time(1_800_000_000)),
            w::field(7, w::time(endtime)),
            w::field(9, w::string("R.TEST")),
            w::field(10, w::principal(m::NT_SRV_INST, &["krbtgt", "R.TEST"])),
        ]),
    );
    w::application(
        msg_type,
        w::sequence(&[
            w::field(0, integer(m::PVNO)),
            w::field(1, integer(msg_type.into())),
            w::field(3, w::string("R.TEST")),
            w::field(4, w::principal(m::NT_PRINCIPAL, &["proxy"])),
            w::field(5, ticket()),
            w::field(6, encrypted(key, usage, &part)),
        ]),
    )
}

/// An AP-REP echoing `ctime`/`cusec`, with an acceptor `subkey` when given.
pub fn ap_rep(key: &Key, ctime: i64, cusec: u32, subkey: Option<&Key>) -> Vec<u8> {
    let mut parts = vec![
        w::field(0, w::time(ctime)),
        w::field(1, integer(cusec.into())),
    ];
    if let Some(k) = subkey {
        parts.push(w::field(2, key_der(k)));
    }
    parts.push(w::field(3, integer(77)));
    let part = w::application(27, w::sequence(&parts));
    w::application(
        m::AP_REP,
        w::sequence(&[
            w::field(0, integer(m::PVNO)),
            w::field(1, integer(m::AP_REP.into())),
            w::field(2, encrypted(key, m::USAGE_AP_REP, &part)),
        ]),
    )
}
