//! Entry points of the fuzz targets in `fuzz/`, for the Kafka codec ([`codec`]) and the parsers
//! outside it: what a client, a broker, a gateway peer, a plugin, an identity
//! provider, an LDAP server or a forward proxy can send, and the key files an operator gives.
//! Each takes arbitrary bytes, must not panic on any of them, and asserts (panics on) a broken
//! invariant: a round trip where the format has an encoder, bounds and refusals elsewhere.
//!
//! [`TARGETS`] names every fuzz target with its entry point; the unit tests in [`seeds`] keep it,
//! `fuzz/Cargo.toml`, `fuzz/fuzz_targets/` and the seed corpora in `fuzz/seeds/` in step, and run
//! every target on its seeds and on mutations of them under plain `cargo test`.

use crate::auth::upstream::{self, BrokerExchange, LoginError, Session};
use crate::codec::api::ApiKey;
use crate::config::{SaslConfig, SaslMethod, Secret};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::path::Path;
use std::time::Instant;

pub mod codec;
#[cfg(test)]
mod seeds;

/// A fuzz target: its name (a `[[bin]]` of `fuzz/Cargo.toml` and a file in
/// `fuzz/fuzz_targets/`) and the function it calls.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    // The Kafka codec: what clients and brokers send.
    ("request_header", codec::request_header),
    ("frame_stream", codec::frame_stream),
    ("response_rewrite", codec::response_rewrite),
    ("metadata_roundtrip", codec::metadata_roundtrip),
    (
        "find_coordinator_roundtrip",
        codec::find_coordinator_roundtrip,
    ),
    (
        "describe_cluster_roundtrip",
        codec::describe_cluster_roundtrip,
    ),
    ("node_endpoints_roundtrip", codec::node_endpoints_roundtrip),
    ("api_versions_roundtrip", codec::api_versions_roundtrip),
    ("sasl_codec", codec::sasl_codec),
    // SASL: SCRAM from brokers, the client's own SASL, the broker login, PLAIN tokens.
    ("sasl_messages", sasl_messages),
    ("broker_login", broker_login),
    ("plain_token", plain_token),
    ("aws_responses", aws_responses),
    (
        "oauthbearer_error",
        crate::auth::oauthbearer::fuzz_broker_error,
    ),
    (
        "oauthbearer_client_first",
        crate::auth::oauthbearer::server::fuzz_client_first,
    ),
    // Proxy to proxy, plugins, identity providers.
    ("gateway_handshake", gateway_handshake),
    ("plugin_reply", plugin_reply),
    ("jwt_jwks", jwt_jwks),
    (
        "oidc_token_response",
        crate::plugin::builtin::oidc::fuzz_token_response,
    ),
    (
        "ldap_replies",
        crate::plugin::builtin::auth_ldap::fuzz_replies,
    ),
    // Forward proxies (their replies) and the proxy tools (their clients' requests).
    ("forward_replies", crate::net::forward::fuzz_replies),
    ("http_connect_request", http_connect_request),
    // What an L4 load balancer sends first (--proxy-protocol).
    (
        "proxy_protocol_header",
        crate::net::proxy_protocol::fuzz_header,
    ),
    // What a client sends first on the SNI listener (--sni-listen-address).
    ("sni_client_hello", crate::proxy::sni::fuzz_client_hello),
    // The HTTP endpoints (/health, /metrics, debug): the request heads clients send.
    ("http_request_head", crate::http::fuzz_head),
    // TLS material: key files (encrypted or not) and client certificates' subjects.
    ("pem_keys", pem_keys),
    ("cert_subject", cert_subject),
    // Kerberos (--sasl-method GSSAPI): encrypted parts from the KDC and brokers.
    ("kerberos_decrypt", crate::auth::kerberos::fuzz_decrypt),
    // ... and the messages a KDC or broker sends, and keytab files.
    ("kerberos_messages", crate::auth::kerberos::fuzz_messages),
];

/// Runs the target `name` of [`TARGETS`] on `data`: each file in `fuzz/fuzz_targets/` is this
/// one call. Panics on an unknown name, which is a mistake in the fuzz project, not input.
pub fn run(name: &str, data: &[u8]) {
    match TARGETS.iter().find(|(n, _)| *n == name) {
        Some((_, target)) => target(data),
        None => panic!("no fuzz target named {name:?} in kafka_proxy::fuzzing::TARGETS"),
    }
}

/// The `sasl_messages` target: SCRAM server-first and server-final messages from a broker, and
/// a client's own SaslHandshake/SaslAuthenticate answered by the proxy.
pub fn sasl_messages(data: &[u8]) {
    crate::auth::scram::fuzz_server_messages(data);
    upstream::fuzz_client_sasl(data);
}

/// The most round trips a login may take: SaslHandshake, then at most a few SaslAuthenticate
/// (SCRAM takes two). More means the login would loop on what the broker says.
const MAX_LOGIN_ROUND_TRIPS: usize = 4;

/// Broker answers taken from fuzz input: each is a 2-byte length and that many bytes; the
/// input running out is the broker closing the connection.
struct ScriptedBroker<'a> {
    answers: &'a [u8],
    round_trips: usize,
}

impl BrokerExchange for ScriptedBroker<'_> {
    fn round_trip(
        &mut self,
        _api_key: ApiKey,
        _api_version: i16,
        _body: &[u8],
    ) -> Result<Vec<u8>, LoginError> {
        self.round_trips += 1;
        assert!(
            self.round_trips <= MAX_LOGIN_ROUND_TRIPS,
            "the login keeps asking the broker"
        );
        let [high, low, rest @ ..] = self.answers else {
            return Err(LoginError::Closed("at the end of the fuzz input"));
        };
        let len = usize::from(u16::from_be_bytes([*high, *low])).min(rest.len());
        let (answer, rest) = rest.split_at(len);
        self.answers = rest;
        Ok(answer.to_vec())
    }
}

/// The `broker_login` target: the SASL login's SaslHandshake v1 and SaslAuthenticate exchange
/// (as KIP-368 re-authentication runs it) against broker answers from the input. `data[0]`
/// picks the mechanism and the SaslAuthenticate version. It must end within a few round trips,
/// and a session it grants must name the configured mechanism.
pub fn broker_login(data: &[u8]) {
    let [pick, answers @ ..] = data else {
        return;
    };
    let method = match pick % 3 {
        0 => SaslMethod::Plain,
        1 => SaslMethod::ScramSha256,
        _ => SaslMethod::ScramSha512,
    };
    let config = SaslConfig {
        method,
        username: "fuzz-user".into(),
        password: Secret("fuzz-password".into()),
        jaas_config_file: None,
        aws: Default::default(),
        gssapi: Default::default(),
        mapped_from: None,
    };
    let previous = Session {
        mechanism: "fuzz",
        authenticate_version: Some(i16::from(pick / 3 % 3)),
        lifetime: None,
        authenticated_at: Instant::now(),
    };
    let mut broker = ScriptedBroker {
        answers,
        round_trips: 0,
    };
    if let Ok(session) = upstream::reauthenticate(&mut broker, &config, &previous) {
        let expected = crate::config::value::sasl_method_name(method);
        assert_eq!(session.mechanism, expected);
        assert_eq!(session.authenticate_version, previous.authenticate_version);
    }
}

/// The `aws_responses` target: what STS, the instance metadata service and a broker send an
/// AWS_MSK_IAM login (`data[0]` picks which parser). None may panic.
pub fn aws_responses(data: &[u8]) {
    use crate::auth::aws;
    let [pick, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match pick % 4 {
        0 => drop(aws::credentials::parse_sts_credentials(&text, "fuzz")),
        1 => drop(aws::credentials::parse_imds_credentials(&text)),
        2 => drop(aws::time::parse_iso8601(&text)),
        _ => drop(aws::check_answer(rest)),
    }
}

/// The `plain_token` target: a client's SASL/PLAIN token as local authentication parses it.
/// Accepted credentials appear verbatim in the token, and the canonical token built from them
/// (with and without the authorization identity) parses to the same credentials.
pub fn plain_token(data: &[u8]) {
    use crate::auth::local::parse_plain;
    let Ok(credentials) = parse_plain(data) else {
        return;
    };
    let (user, password) = (&credentials.username, &credentials.password);
    assert!(!user.is_empty() && !password.is_empty());
    let without_authzid = format!("\0{user}\0{password}");
    assert!(
        data.ends_with(without_authzid.as_bytes()),
        "credentials not taken from the token"
    );
    assert_eq!(
        parse_plain(without_authzid.as_bytes()),
        Ok(credentials.clone())
    );
    let with_authzid = format!("{user}\0{user}\0{password}");
    assert_eq!(parse_plain(with_authzid.as_bytes()), Ok(credentials));
}

/// The `gateway_handshake` target: `magic | length | method NUL token` as the gateway server
/// reads it. A payload it accepts encodes back to exactly the bytes read.
pub fn gateway_handshake(data: &[u8]) {
    use crate::auth::gateway::{encode_handshake, parse_payload, MAX_GATEWAY_PAYLOAD};
    let Some((head, rest)) = data.split_first_chunk::<12>() else {
        return;
    };
    let magic = u64::from_be_bytes([
        head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7],
    ]);
    let length = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
    if length > MAX_GATEWAY_PAYLOAD {
        return;
    }
    let Some(payload) = rest.get(..length) else {
        return;
    };
    if let Ok((method, token)) = parse_payload(payload) {
        assert!(!token.is_empty());
        assert_eq!(
            encode_handshake(magic, method, token),
            &data[..12 + length],
            "the handshake does not round-trip"
        );
    }
}

/// The `plugin_reply` target: one line a plugin writes. A reply that parses serializes to a
/// line that parses to the same id and reply.
pub fn plugin_reply(data: &[u8]) {
    use crate::plugin::parse_reply;
    let Ok((id, reply)) = parse_reply(data) else {
        return;
    };
    let mut value = serde_json::to_value(&reply).expect("a reply serializes");
    value["id"] = serde_json::Value::from(id);
    let line = serde_json::to_vec(&value).expect("a JSON value serializes");
    assert_eq!(
        parse_reply(&line).expect("a serialized reply parses"),
        (id, reply)
    );
}

/// The `jwt_jwks` target, for google-id-info and jwt-info: `data[0] % 4` picks what the rest
/// is: 0, a JWKS document for google-id-info (what the key endpoint sends); 1, a token for it
/// (what a gateway client sends); 2 or 3, a JWKS document or a token for jwt-info (what a local
/// OAUTHBEARER client sends). The RSA keys google-id-info finds rebuild into a document with
/// the same keys; no token verifies, since none can carry a valid signature of the fixed key.
pub fn jwt_jwks(data: &[u8]) {
    use crate::plugin::builtin::google_id::{parse_jwks, Keys, Verifier};
    let [pick, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if pick % 4 >= 2 {
        return crate::plugin::builtin::jwt_info::fuzz_verify(text);
    }
    if pick % 2 == 0 {
        let Ok(keys) = parse_jwks(text) else {
            return;
        };
        let rebuilt: Vec<serde_json::Value> = keys
            .iter()
            .map(|(kid, (n, e))| {
                serde_json::json!({
                    "kty": "RSA",
                    "alg": "RS256",
                    "kid": kid,
                    "n": URL_SAFE_NO_PAD.encode(n),
                    "e": URL_SAFE_NO_PAD.encode(e),
                })
            })
            .collect();
        let document = serde_json::json!({ "keys": rebuilt }).to_string();
        assert_eq!(parse_jwks(&document), Ok(keys));
        return;
    }
    // A 2048-bit modulus of all ones: ring accepts it as a public key, and nobody holds a
    // private key for it.
    let mut keys = Keys::new();
    keys.insert("fuzz".into(), (vec![0xff; 256], vec![1, 0, 1]));
    let verifier = Verifier {
        audiences: vec!["fuzz-audience".into()],
        issuers: vec!["https://accounts.google.com".into()],
        // Every email: the target is to reach the signature check with any claims.
        email: vec![regex_lite::Regex::new("^(?:.*)$").expect("a valid pattern")],
        keys,
    };
    let result = verifier.verify(text, 1_700_000_000);
    assert!(
        result.is_err(),
        "a token without a valid signature verified"
    );
}

/// The `http_connect_request` target: the request head a client sends `tools http-proxy`. The
/// end of the head is found within the input, and parsing any prefix is an answer, not a panic.
pub fn http_connect_request(data: &[u8]) {
    use crate::tools::http_proxy::{head_end, parse_request_head};
    if let Some(end) = head_end(data) {
        assert!(end <= data.len());
        if let Ok(head) = parse_request_head(&data[..end]) {
            assert!(!head.method.is_empty() && !head.target.is_empty());
            assert!(head.basic.is_none() || head.authorization_present);
        }
    }
    let _ = parse_request_head(data);
}

/// The `pem_keys` target: a key or certificate file as `--tls-client-key-file` and the like
/// read it, with the password `secret` (that of the test keys the seeds come from). A key that
/// decrypts is one DER structure; certificates found have a subject that can be read or not.
pub fn pem_keys(data: &[u8]) {
    use crate::net::tls::keys::{certs_from, decrypt_pem_key, key_from, Source};
    use rustls::pki_types::PrivateKeyDer;
    let source = Source {
        path: Path::new("fuzz.pem"),
        flag: "fuzz-file",
    };
    let password = Secret("secret".into());
    if let Ok(key) = decrypt_pem_key(data, password.expose().as_bytes()) {
        let der = match &key {
            PrivateKeyDer::Pkcs1(k) => k.secret_pkcs1_der(),
            PrivateKeyDer::Sec1(k) => k.secret_sec1_der(),
            PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der(),
            _ => &[],
        };
        assert_eq!(
            der.first(),
            Some(&0x30),
            "a decrypted key is a DER SEQUENCE"
        );
    }
    let _ = key_from(source, data, Some(&password), "fuzz-password");
    let _ = key_from(source, data, None, "fuzz-password");
    if let Ok(certs) = certs_from(source, data) {
        assert!(!certs.is_empty());
        for cert in &certs {
            cert_subject(cert);
        }
    }
}

/// The `cert_subject` target: the DER certificate a TLS client presents, as
/// `--proxy-listener-tls-required-client-subject` reads its subject after the handshake.
pub fn cert_subject(data: &[u8]) {
    use crate::net::tls::subject::{subject_of, SubjectRules};
    let Ok(subject) = subject_of(data) else {
        return;
    };
    let shown = subject.to_string();
    assert!(!shown.is_empty());
    let rules = SubjectRules::parse(&[
        "s:/CN=[client]/O=[Kafka Proxy]".to_string(),
        "r:/CN=[client-.*]".to_string(),
    ])
    .expect("fixed rules parse");
    let _ = rules.check(&subject);
}
