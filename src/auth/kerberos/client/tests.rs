//! The KDC exchanges against a scripted KDC on loopback (the real one is in tests/kafka):
//! failover to the second KDC of krb5.conf, PA-ENC-TIMESTAMP with the KDC's salt, the TGS
//! exchange, the cache, and replies that are too large or not Kerberos.

use super::*;
use crate::auth::kerberos::der::Fields;
use crate::auth::kerberos::{crypto, der, samples};
use crate::config::gssapi::GssapiAuthType;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

const SALT: &str = "SCRIPT.TESTalice";

fn password_key() -> Key {
    salted_key(SALT)
}

fn salted_key(salt: &str) -> Key {
    let k = crypto::string_to_key(
        crypto::Enctype::Aes256CtsHmacSha196,
        b"pw",
        salt.as_bytes(),
        4096,
    )
    .unwrap();
    Key::new(18, &k).unwrap()
}

/// The request's app tag, whether it has padata, and its nonce.
fn read_request(bytes: &[u8]) -> (u8, Option<Vec<u8>>, u32) {
    let tag = m::message_type(bytes).unwrap();
    let mut f = Fields::application(bytes, tag, "req").unwrap();
    let padata = f
        .optional(3)
        .unwrap()
        .map(|mut d| d.raw().unwrap().to_vec());
    let body = f.required(4, "body").unwrap().raw().unwrap().to_vec();
    let mut body = Fields::sequence(&body, "body").unwrap();
    let nonce = der::int(&mut body.required(7, "nonce").unwrap(), "nonce").unwrap();
    (tag, padata, nonce as u32)
}

/// A KDC that answers `replies` connections: each gets what `answer` makes of its request.
fn scripted_kdc(
    replies: usize,
    answer: impl Fn(&[u8]) -> Vec<u8> + Send + 'static,
) -> (u16, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        for served in 0..replies {
            let Ok((mut s, _)) = listener.accept() else {
                return served;
            };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).is_err() {
                return served;
            }
            let mut req = vec![0u8; u32::from_be_bytes(len) as usize];
            s.read_exact(&mut req).unwrap();
            let reply = answer(&req);
            let _ = s.write_all(&reply);
        }
        replies
    });
    (port, handle)
}

fn framed(bytes: &[u8]) -> Vec<u8> {
    [&(bytes.len() as u32).to_be_bytes()[..], bytes].concat()
}

fn config(dir: &std::path::Path, kdcs: &[u16], realm: &str) -> GssapiConfig {
    let lines: String = kdcs
        .iter()
        .map(|p| format!("  kdc = 127.0.0.1:{p}\n"))
        .collect();
    let conf = dir.join(format!("krb5-{realm}.conf"));
    std::fs::write(&conf, format!("[realms]\n {realm} = {{\n{lines} }}\n")).unwrap();
    GssapiConfig {
        auth_type: GssapiAuthType::User,
        krb5_conf: conf,
        password: crate::config::Secret("pw".into()),
        realm: realm.into(),
        username: "alice".into(),
        ..GssapiConfig::default()
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-proxy-krb-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn password_login_then_service_ticket_then_the_cache() {
    let dir = scratch("flow");
    let tgt_key = Key::new(17, &[0x71; 16]).unwrap();
    let service_key = Key::new(18, &[0x72; 32]).unwrap();
    let end = now().0 + 3600;
    let (tk, sk) = (tgt_key.clone(), service_key.clone());
    let (port, kdc) = scripted_kdc(3, move |req| {
        let (tag, padata, nonce) = read_request(req);
        match (tag, padata) {
            (m::AS_REQ, None) => framed(&samples::krb_error(
                25,
                now().0,
                Some(samples::etype_info2(SALT)),
            )),
            (m::AS_REQ, Some(_)) => framed(&samples::kdc_reply_until(
                m::AS_REP,
                &password_key(),
                m::USAGE_AS_REP,
                &tk,
                nonce,
                end,
            )),
            (m::TGS_REQ, Some(_)) => framed(&samples::kdc_reply_until(
                m::TGS_REP,
                &tk,
                m::USAGE_TGS_REP,
                &sk,
                nonce,
                end,
            )),
            other => panic!("unexpected request {other:?}"),
        }
    });
    // The first KDC listed is down: the second answers.
    let c = config(&dir, &[closed_port(), port], "SCRIPT.TEST");
    let deadline = Deadline::after(Duration::from_secs(10));
    let ticket = service_ticket(&c, "kafka/b1", &deadline).unwrap();
    assert_eq!(
        (ticket.key, ticket.ticket),
        (service_key.clone(), samples::ticket())
    );
    // Served from the cache: the scripted KDC has answered its three requests and is gone.
    assert_eq!(kdc.join().unwrap(), 3);
    let again = service_ticket(&c, "kafka/b1", &deadline).unwrap();
    assert_eq!(again.key, service_key);
    forget(&c, "kafka/b1");
    let e = service_ticket(&c, "kafka/b1", &deadline).unwrap_err();
    assert!(e.contains("no KDC of realm SCRIPT.TEST answered"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kdc_errors_and_bad_replies() {
    let dir = scratch("errors");
    let deadline = || Deadline::after(Duration::from_secs(10));
    let (port, kdc) = scripted_kdc(1, |_| framed(&samples::krb_error(6, now().0, None)));
    let c = config(&dir, &[port], "UNKNOWN.TEST");
    let e = service_ticket(&c, "kafka/b", &deadline()).unwrap_err();
    assert!(
        e.contains("KDC_ERR_C_PRINCIPAL_UNKNOWN")
            && e.contains(&format!("127.0.0.1:{port}"))
            && e.contains("alice@UNKNOWN.TEST"),
        "{e}"
    );
    kdc.join().unwrap();

    // A length prefix past the cap is refused before anything is allocated.
    let (port, kdc) = scripted_kdc(1, |_| (MAX_KDC_REPLY as u32 + 1).to_be_bytes().to_vec());
    let e = service_ticket(&config(&dir, &[port], "BIG.TEST"), "kafka/b", &deadline()).unwrap_err();
    assert!(e.contains("at most 262144 accepted"), "{e}");
    kdc.join().unwrap();

    // Not Kerberos at all.
    let (port, kdc) = scripted_kdc(1, |_| framed(b"HTTP/1.1 400 Bad Request"));
    let e =
        service_ticket(&config(&dir, &[port], "JUNK.TEST"), "kafka/b", &deadline()).unwrap_err();
    assert!(e.contains("malformed DER"), "{e}");
    kdc.join().unwrap();

    // A KDC that never answers: the deadline ends the wait.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let short = Deadline::after(Duration::from_millis(300));
    let e = service_ticket(&config(&dir, &[port], "SLOW.TEST"), "kafka/b", &short).unwrap_err();
    assert!(e.contains("no KDC of realm SLOW.TEST answered"), "{e}");
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unknown_service_is_named_and_the_tgt_is_asked_for_again() {
    let dir = scratch("service");
    let tgt_key = Key::new(17, &[0x73; 16]).unwrap();
    let end = now().0 + 3600;
    // Twice: AS-REQ (no pre-authentication asked), TGS-REQ refused.
    let (port, kdc) = scripted_kdc(4, move |req| {
        let (tag, _, nonce) = read_request(req);
        match tag {
            // No ETYPE-INFO2 without pre-authentication: the default salt, realm and name.
            m::AS_REQ => framed(&samples::kdc_reply_until(
                m::AS_REP,
                &salted_key("SERVICE.TESTalice"),
                m::USAGE_AS_REP,
                &tgt_key,
                nonce,
                end,
            )),
            _ => framed(&samples::krb_error(7, now().0, None)),
        }
    });
    // A realm of its own: the cache is the process's.
    let c = config(&dir, &[port], "SERVICE.TEST");
    let deadline = Deadline::after(Duration::from_secs(10));
    for _ in 0..2 {
        let e = service_ticket(&c, "kafka/nowhere", &deadline).unwrap_err();
        assert!(
            e.contains("KDC_ERR_S_PRINCIPAL_UNKNOWN") && e.contains("kafka/nowhere@SERVICE.TEST"),
            "{e}"
        );
    }
    assert_eq!(kdc.join().unwrap(), 4, "the TGT was asked for twice");
    let _ = std::fs::remove_dir_all(&dir);
}
