//! Local OAUTHBEARER (`--auth-local-mechanisms`), byte by byte, with a raw client against a fake
//! broker and a token plugin in Python: the handshake advertises the enabled mechanisms; a
//! token the plugin accepts lets the client through with the plugin's identity; a refused one
//! gets Kafka's `{"status":"invalid_token"}` challenge, then, after the client's `\x01`, error
//! 58 on the acknowledgement's correlation id, and the connection closes; an authorization
//! identity other than the principal, a malformed message, a plugin that names no principal and
//! a client that does not acknowledge the challenge are refused too; none of those clients'
//! requests reaches the broker.

use crate::fake_broker::RawClient;
use crate::harness::{Proxy, TempDir};
use crate::local_auth::{
    api_versions_request, assert_nothing_from_clients, authenticate_request, error_code,
    fake_broker, handshake_request, plain, python_plugin, strs,
};
use std::net::SocketAddr;

/// Accepts `good-token` as bob, `anonymous-token` without naming anyone, nothing else.
const TOKEN_PLUGIN: &str = r#"
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get("method") != "verify-token":
        reply = {"ok": False, "error": "verify-token only"}
    elif r["token"] == "good-token":
        reply = {"ok": True, "identity": "bob"}
    elif r["token"] == "anonymous-token":
        reply = {"ok": True}
    else:
        reply = {"ok": False, "error": "token not known"}
    reply["id"] = r["id"]
    print(json.dumps(reply), flush=True)
"#;

fn first_message(authzid: &str, token: &str) -> Vec<u8> {
    format!("n,{authzid},\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// A SaslAuthenticate v1 response: correlation id, error code, message, auth bytes.
fn authenticate_response(frame: &[u8]) -> (i32, i16, Option<String>, Vec<u8>) {
    let correlation = i32::from_be_bytes(frame[..4].try_into().unwrap());
    let len = i16::from_be_bytes([frame[6], frame[7]]);
    let (message, rest) = if len < 0 {
        (None, &frame[8..])
    } else {
        let len = len as usize;
        let text = String::from_utf8_lossy(&frame[8..8 + len]).into_owned();
        (Some(text), &frame[8 + len..])
    };
    let n = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
    (
        correlation,
        error_code(frame),
        message,
        rest[4..4 + n].to_vec(),
    )
}

/// Connects, asks for OAUTHBEARER and sends `message`; the client and the answer.
fn start_login(
    addr: SocketAddr,
    message: &[u8],
) -> (RawClient, (i32, i16, Option<String>, Vec<u8>)) {
    let mut c = RawClient::connect(addr);
    c.send(&api_versions_request(1)).unwrap();
    c.recv().expect("ApiVersions answered");
    c.send(&handshake_request(1, "OAUTHBEARER", 2)).unwrap();
    let handshake = c.recv().expect("SaslHandshake answered");
    assert_eq!(error_code(&handshake), 0);
    c.send(&authenticate_request(message, 3)).unwrap();
    let answer = authenticate_response(&c.recv().expect("SaslAuthenticate answered"));
    (c, answer)
}

/// A refused token: the challenge, the acknowledgement, error 58 with `message`, closed.
fn assert_challenged_then_refused(addr: SocketAddr, first: &[u8], message: &str) {
    let (mut c, (correlation, code, _, challenge)) = start_login(addr, first);
    assert_eq!((correlation, code), (3, 0));
    assert_eq!(challenge, br#"{"status":"invalid_token"}"#);
    c.send(&authenticate_request(b"\x01", 4)).unwrap();
    let (correlation, code, text, _) = authenticate_response(&c.recv().expect("the failure"));
    assert_eq!((correlation, code), (4, 58));
    assert_eq!(text.as_deref(), Some(message));
    assert!(c.is_closed());
}

#[test]
fn local_oauthbearer_byte_by_byte() {
    let broker = fake_broker();
    let dir = TempDir::new("local-oauth");
    let extra = [
        "--auth-local-mechanisms",
        "OAUTHBEARER",
        "--log-level",
        "debug",
    ];
    let flags = python_plugin(&dir, "token.py", TOKEN_PLUGIN, &extra);
    let mut proxy = Proxy::start_for_port(broker.port(), &strs(&flags));
    let addr = proxy.addr();

    // The handshake names OAUTHBEARER; PLAIN is not enabled.
    let mut c = RawClient::connect(addr);
    c.send(&handshake_request(1, "PLAIN", 1)).unwrap();
    let answer = c.recv().unwrap();
    assert_eq!(error_code(&answer), 33);
    assert!(answer.ends_with(b"OAUTHBEARER"));
    assert!(c.is_closed());

    let invalid = "Authentication failed: invalid token";
    assert_challenged_then_refused(addr, &first_message("", "other-token"), invalid);
    // An authorization identity that is not the principal.
    assert_challenged_then_refused(addr, &first_message("a=mallory", "good-token"), invalid);
    // Not acknowledged: closed without the final answer.
    let (mut c, (_, code, _, challenge)) = start_login(addr, &first_message("", "x-token"));
    assert_eq!(code, 0);
    assert!(!challenge.is_empty());
    c.send(&authenticate_request(&plain("bob", "pw"), 4))
        .unwrap();
    assert!(c.recv().is_none());
    // Malformed: error 58 at once.
    for bad in [
        &b"n,,\x01auth=Bearer \x01\x01"[..],
        b"\0bob\0pw",
        b"p=x,,\x01\x01",
    ] {
        let (mut c, (_, code, text, _)) = start_login(addr, bad);
        assert_eq!(code, 58, "{bad:?}");
        assert_eq!(text.as_deref(), Some(invalid));
        assert!(c.is_closed());
    }
    // Accepted without a principal: the plugin is at fault.
    let (mut c, (_, code, text, _)) = start_login(addr, &first_message("", "anonymous-token"));
    assert_eq!(code, 58);
    assert!(text.unwrap().contains("could not check"));
    assert!(c.is_closed());
    assert_nothing_from_clients(&broker);

    // Accepted, with and without the principal as authorization identity; then relayed.
    for authzid in ["", "a=bob"] {
        let (mut c, (_, code, _, bytes)) = start_login(addr, &first_message(authzid, "good-token"));
        assert_eq!((code, bytes.len()), (0, 0));
        c.send(&crate::fake_broker::metadata_request(1, 5)).unwrap();
        let metadata = c.recv().expect("Metadata relayed");
        assert_eq!(metadata[..4], 5i32.to_be_bytes());
    }
    let log = proxy.log();
    assert!(
        log.contains("authenticated as \"bob\" (OAUTHBEARER)"),
        "{log}"
    );
    assert!(
        log.contains("is not the token's principal \"bob\""),
        "{log}"
    );
    assert!(log.contains("without naming the principal"), "{log}");
    assert!(
        !log.contains("good-token") && !log.contains("other-token"),
        "{log}"
    );
    proxy.assert_healthy();
}
