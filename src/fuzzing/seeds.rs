//! Seed corpora for the fuzz targets, built from the unit tests' vectors and the test data
//! files, and the tests that keep the fuzz project in step with [`super::TARGETS`].
//!
//! The seeds are committed under `fuzz/seeds/<target>/` (`fuzz/corpus/` is where libFuzzer
//! keeps what it finds, and is not committed); `scripts/fuzz.sh` copies them into the corpus
//! before a run. After changing a vector here, write them again with
//! `KAFKA_PROXY_WRITE_FUZZ_SEEDS=1 cargo test --lib fuzzing::seeds`.

use super::TARGETS;
use crate::codec::api::ApiKey;
use crate::codec::api_versions::{encode_response, ApiVersionsRequest};
use crate::codec::header::{encode_request_header, RequestHeader};
use crate::codec::sasl::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The seeds of one target: (file name, bytes).
type Seeds = Vec<(String, Vec<u8>)>;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn tls_data(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/net/tls/testdata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A request frame (after the size prefix): header and body.
fn request(api_key: i16, api_version: i16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request_header(
        &RequestHeader {
            api_key: ApiKey(api_key),
            api_version,
            correlation_id: 7,
            client_id: Some("rdkafka"),
        },
        &mut out,
    );
    out.extend_from_slice(body);
    out
}

/// A TLS 1.2 ClientHello record with fixed bytes (no random, no key share): two cipher suites,
/// null compression, two signature algorithms and, given a name, the server_name extension.
fn client_hello(name: Option<&str>) -> Vec<u8> {
    let u16_len = |n: usize| (n as u16).to_be_bytes();
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256.
    let mut extensions = vec![0, 0x0d, 0, 6, 0, 4, 4, 3, 8, 4];
    if let Some(name) = name {
        let mut list = vec![0];
        list.extend_from_slice(&u16_len(name.len()));
        list.extend_from_slice(name.as_bytes());
        extensions.extend_from_slice(&[0, 0]);
        extensions.extend_from_slice(&u16_len(list.len() + 2));
        extensions.extend_from_slice(&u16_len(list.len()));
        extensions.extend_from_slice(&list);
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x5a; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 4, 0xc0, 0x2b, 0xc0, 0x2f, 1, 0]);
    body.extend_from_slice(&u16_len(extensions.len()));
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1, 0];
    handshake.extend_from_slice(&u16_len(body.len()));
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&u16_len(handshake.len()));
    record.extend_from_slice(&handshake);
    record
}

#[test]
fn the_client_hello_seeds_are_read_with_their_names() {
    for name in [Some("broker-2.kafka.test"), None] {
        let mut acceptor = rustls::server::Acceptor::default();
        let (accepted, rest) =
            crate::net::tls::hello::feed(&mut acceptor, &client_hello(name), &mut std::io::sink())
                .unwrap()
                .expect("a whole ClientHello");
        assert!(rest.is_empty());
        assert_eq!(accepted.client_hello().server_name(), name);
    }
}

fn sized(frame: &[u8]) -> Vec<u8> {
    let mut out = (frame.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(frame);
    out
}

/// Requests the proxy reads the header of, as clients send them.
fn requests() -> Vec<(&'static str, Vec<u8>)> {
    let mut api_versions_v3 = Vec::new();
    ApiVersionsRequest::new("confluent-kafka-python", "2.16.1").encode(3, &mut api_versions_v3);
    let mut handshake = Vec::new();
    SaslHandshakeRequest { mechanism: "PLAIN" }.encode(1, &mut handshake);
    let mut authenticate = Vec::new();
    SaslAuthenticateRequest {
        auth_bytes: b"\0alice\0alice-secret",
        tagged: &[],
    }
    .encode(2, &mut authenticate);
    vec![
        ("api-versions-v0", request(18, 0, &[])),
        ("api-versions-v3", request(18, 3, &api_versions_v3)),
        // Metadata v1, all topics; v12, all topics with its flags and tags.
        ("metadata-v1", request(3, 1, &[0xff, 0xff, 0xff, 0xff])),
        ("metadata-v12", request(3, 12, &[0, 0, 0, 0])),
        // Produce v7, null transactional id, acks 0, timeout 30 s, no topics.
        (
            "produce-v7-acks0",
            request(0, 7, &[0xff, 0xff, 0, 0, 0, 0, 0x75, 0x30, 0, 0, 0, 0]),
        ),
        // Produce v9 (flexible), transactional id "tx", acks -1.
        (
            "produce-v9-acks-all",
            request(0, 9, &[3, b't', b'x', 0xff, 0xff, 0, 0, 0x75, 0x30, 1, 0]),
        ),
        ("sasl-handshake-v1", request(17, 1, &handshake)),
        ("sasl-authenticate-v2", request(36, 2, &authenticate)),
        // ControlledShutdown v0: request header v0, no client id.
        (
            "controlled-shutdown-v0",
            vec![0, 7, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
        ),
        // An API the proxy does not know.
        ("unknown-api", request(999, 3, &[1, 2, 3])),
    ]
}

fn response_samples() -> Vec<Vec<u8>> {
    super::codec::tests::samples()
}

/// The codec's response samples (`[api index, version, body...]`) of one API index, with the
/// index dropped.
fn samples_of(api_index: u8) -> Vec<Vec<u8>> {
    response_samples()
        .into_iter()
        .filter(|s| s[0] == api_index)
        .map(|s| s[1..].to_vec())
        .collect()
}

fn numbered(prefix: &str, seeds: impl IntoIterator<Item = Vec<u8>>) -> Seeds {
    seeds
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| (format!("{prefix}-{i}"), bytes))
        .collect()
}

fn named(seeds: impl IntoIterator<Item = (&'static str, Vec<u8>)>) -> Seeds {
    seeds
        .into_iter()
        .map(|(name, bytes)| (name.to_string(), bytes))
        .collect()
}

fn sasl_handshake_response(version: i16, mechanisms: Vec<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    SaslHandshakeResponse {
        error_code: 0,
        mechanisms,
    }
    .encode(version, &mut out);
    out
}

fn sasl_authenticate_response(version: i16, error_code: i16, auth_bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    SaslAuthenticateResponse {
        error_code,
        error_message: (error_code != 0).then_some("Authentication failed"),
        auth_bytes,
        session_lifetime_ms: 3_600_000,
        tagged: &[],
    }
    .encode(version, &mut out);
    out
}

/// Length-prefixed broker answers, as the `broker_login` target reads them.
fn answers(pick: u8, bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![pick];
    for body in bodies {
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// Every target's seeds.
fn corpus() -> BTreeMap<&'static str, Seeds> {
    let mut corpus = BTreeMap::new();
    let requests = requests();

    corpus.insert("request_header", named(requests.clone()));
    let client_stream: Vec<u8> = requests.iter().flat_map(|(_, r)| sized(r)).collect();
    let broker_stream: Vec<u8> = [
        sized(&[0, 0, 0, 7]),
        sized(&[0, 0, 0, 8, 0, 0, 0, 0, 0]),
        sized(&[0, 0, 0, 9, 0, 1, 2, 3]),
    ]
    .concat();
    corpus.insert(
        "frame_stream",
        named([
            // 0x10: client side, frames up to 1 MiB; 0x90: broker side.
            ("client-requests", [&[0x10][..], &client_stream].concat()),
            ("broker-responses", [&[0x90][..], &broker_stream].concat()),
            (
                "tls-client-hello",
                vec![0x10, 0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1],
            ),
            ("http-get", b"\x10GET /metrics HTTP/1.1\r\n\r\n".to_vec()),
            (
                "tls-alert",
                vec![0x90, 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46],
            ),
        ]),
    );

    corpus.insert("response_rewrite", numbered("response", response_samples()));
    corpus.insert("metadata_roundtrip", numbered("metadata", samples_of(2)));
    corpus.insert(
        "find_coordinator_roundtrip",
        numbered("find-coordinator", samples_of(3)),
    );
    corpus.insert(
        "describe_cluster_roundtrip",
        numbered("describe-cluster", samples_of(4)),
    );
    let node_endpoints: Vec<Vec<u8>> = response_samples()
        .into_iter()
        .filter_map(|s| match s[0] {
            0 | 1 => Some(s),
            // ShareAcknowledge is the 4th API of the target.
            6 => Some([&[3], &s[1..]].concat()),
            _ => None,
        })
        .collect();
    corpus.insert(
        "node_endpoints_roundtrip",
        numbered("node-endpoints", node_endpoints),
    );
    let mut api_versions = samples_of(7);
    let mut v0 = vec![0];
    encode_response(0, 0, &[(0, 0, 11), (3, 0, 12), (18, 0, 3)], 0, &mut v0)
        .expect("ApiVersions v0 encodes");
    api_versions.push(v0);
    let mut request_v3 = vec![0x83];
    ApiVersionsRequest::new("kafka-python", "3.0.12").encode(3, &mut request_v3);
    api_versions.push(request_v3);
    corpus.insert(
        "api_versions_roundtrip",
        numbered("api-versions", api_versions),
    );

    let mut handshake_request = vec![0, 1];
    SaslHandshakeRequest {
        mechanism: "SCRAM-SHA-512",
    }
    .encode(1, &mut handshake_request);
    let mut authenticate_v0 = vec![2, 0];
    SaslAuthenticateRequest {
        auth_bytes: b"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL",
        tagged: &[],
    }
    .encode(0, &mut authenticate_v0);
    let mut authenticate_v2 = vec![2, 2];
    SaslAuthenticateRequest {
        auth_bytes: b"\0alice\0alice-secret",
        tagged: &[],
    }
    .encode(2, &mut authenticate_v2);
    corpus.insert(
        "sasl_codec",
        named([
            ("handshake-request-v1", handshake_request),
            (
                "handshake-response-v1",
                [
                    &[1, 1][..],
                    &sasl_handshake_response(1, vec!["PLAIN", "SCRAM-SHA-512"]),
                ]
                .concat(),
            ),
            ("authenticate-request-v0", authenticate_v0),
            ("authenticate-request-v2", authenticate_v2),
            (
                "authenticate-response-v1",
                [&[3, 1][..], &sasl_authenticate_response(1, 0, b"v=abc")].concat(),
            ),
            (
                "authenticate-response-v2-failed",
                [&[3, 2][..], &sasl_authenticate_response(2, 58, b"")].concat(),
            ),
        ]),
    );

    let right = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"fuzz server key"),
        b"fuzz auth message",
    );
    let mut client_handshake_v1 = vec![4, 0];
    SaslHandshakeRequest { mechanism: "PLAIN" }.encode(1, &mut client_handshake_v1);
    let mut client_authenticate_v2 = vec![7, 1];
    SaslAuthenticateRequest {
        auth_bytes: b"\0alice\0alice-secret",
        tagged: &[],
    }
    .encode(2, &mut client_authenticate_v2);
    corpus.insert(
        "sasl_messages",
        named([
            // RFC 7677's server-first, with the nonce the target's client sent.
            (
                "server-first",
                b"r=fuzz-nonce%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                    .to_vec(),
            ),
            (
                "server-final",
                format!("v={}", STANDARD.encode(right.as_ref())).into_bytes(),
            ),
            ("server-error", b"e=invalid-proof".to_vec()),
            ("client-handshake-v1", client_handshake_v1),
            ("client-authenticate-v2", client_authenticate_v2),
        ]),
    );

    let handshake_plain = sasl_handshake_response(1, vec!["PLAIN", "SCRAM-SHA-256"]);
    corpus.insert(
        "broker_login",
        named([
            // 3: PLAIN with SaslAuthenticate v1; 7: SCRAM-SHA-256, v2; 2: SCRAM-SHA-512, v0.
            (
                "plain-v1-accepted",
                answers(
                    3,
                    &[
                        handshake_plain.clone(),
                        sasl_authenticate_response(1, 0, b""),
                    ],
                ),
            ),
            (
                "plain-v1-refused",
                answers(
                    3,
                    &[
                        handshake_plain.clone(),
                        sasl_authenticate_response(1, 58, b""),
                    ],
                ),
            ),
            (
                "scram-256-v2",
                answers(
                    7,
                    &[
                        handshake_plain,
                        sasl_authenticate_response(
                            2,
                            0,
                            b"r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                        ),
                    ],
                ),
            ),
            (
                "scram-512-v0-no-mechanism",
                answers(2, &[sasl_handshake_response(1, vec!["PLAIN"])]),
            ),
        ]),
    );

    corpus.insert(
        "plain_token",
        named([
            ("plain", b"\0alice\0alice-secret".to_vec()),
            ("with-authzid", b"alice\0alice\0alice-secret".to_vec()),
            ("other-authzid", b"admin\0alice\0alice-secret".to_vec()),
            ("one-nul", b"alice\0alice-secret".to_vec()),
            (
                "unicode",
                "\0j\u{f6}rg\0p\u{e4}ss\u{2603}".as_bytes().to_vec(),
            ),
        ]),
    );

    corpus.insert(
        "aws_responses",
        named([
            (
                "sts",
                b"\0<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>\
                  <SessionToken>T</SessionToken><Expiration>2026-01-01T00:00:00Z</Expiration>\
                  </Credentials>"
                    .to_vec(),
            ),
            (
                "imds",
                br#"\x01{"AccessKeyId":"A","SecretAccessKey":"S","Token":"T","Expiration":"2026-01-01T00:00:00Z"}"#
                    .to_vec(),
            ),
            ("time", b"\x022026-01-01T00:00:00.5Z".to_vec()),
            ("answer", br#"\x03{"version":"2020_10_22","request-id":"r"}"#.to_vec()),
        ]),
    );
    corpus.insert(
        "oidc_token_response",
        named([
            (
                "ok",
                [
                    &[0, 100][..],
                    br#"{"access_token":"eyJ.e30.sig","token_type":"Bearer","expires_in":300}"#,
                ]
                .concat(),
            ),
            (
                "unauthorized",
                [
                    &[1, 45][..],
                    br#"{"error":"invalid_client","error_description":"bad secret"}"#,
                ]
                .concat(),
            ),
            (
                "html",
                [&[1, 144][..], b"<html>bad gateway</html>"].concat(),
            ),
        ]),
    );
    corpus.insert(
        "oauthbearer_client_first",
        named([
            (
                "kafka",
                b"n,,\x01auth=Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\x01\x01".to_vec(),
            ),
            (
                "authzid-extensions",
                b"n,a=alice,\x01host=kafka\x01port=9092\x01auth=Bearer abc==\x01\x01".to_vec(),
            ),
            (
                "escaped-authzid",
                b"y,a=a=2Cb=3Dc,\x01auth=bearer t\x01\x01".to_vec(),
            ),
            ("no-auth", b"n,,\x01host=h\x01\x01".to_vec()),
        ]),
    );
    corpus.insert(
        "oauthbearer_error",
        named([
            ("invalid-token", br#"{"status":"invalid_token"}"#.to_vec()),
            (
                "scope",
                br#"{"status":"insufficient_scope", "scope":"kafka", "openid-configuration":"https://idp/.well-known/openid-configuration"}"#
                    .to_vec(),
            ),
            // Kafka does not escape what it puts in the JSON.
            ("unescaped", br#"{"status":"insufficient_scope", "scope":"a"b"}"#.to_vec()),
            ("empty", Vec::new()),
        ]),
    );

    use crate::auth::gateway::encode_handshake;
    corpus.insert(
        "gateway_handshake",
        named([
            (
                "google-id",
                encode_handshake(
                    0x4b50_5842_0000_0001,
                    "google-id",
                    "eyJhbGciOiJSUzI1NiJ9.eyJlbWFpbCI6ImEifQ.c2ln",
                ),
            ),
            ("no-token", encode_handshake(1, "google-id", "")),
            ("two-nuls", encode_handshake(1, "a\0b", "token")),
        ]),
    );

    corpus.insert(
        "plugin_reply",
        named([
            ("yes", br#"{"id":1,"ok":true,"identity":"alice"}"#.to_vec()),
            ("no", br#"{"id":2,"ok":false,"error":"bad password"}"#.to_vec()),
            (
                "token",
                br#"{"id":3,"ok":true,"identity":"sa@example.com","token":"eyJ.e30.c2ln","expires_at":1700003600}"#
                    .to_vec(),
            ),
            ("not-json", b"hello from the plugin".to_vec()),
        ]),
    );

    let jwks = serde_json::json!({"keys": [
        {"kty": "RSA", "alg": "RS256", "kid": "k1", "use": "sig",
         "n": URL_SAFE_NO_PAD.encode([0xc3u8; 256]), "e": "AQAB"},
        {"kty": "EC", "kid": "k2", "crv": "P-256", "x": "AA", "y": "AA"},
    ]})
    .to_string();
    let token = |header: serde_json::Value, claims: serde_json::Value| {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode([0x5au8; 256])
        )
        .into_bytes()
    };
    let claims = serde_json::json!({
        "iss": "https://accounts.google.com", "aud": "fuzz-audience",
        "email": "sa@example.com", "email_verified": true,
        "iat": 1_699_999_000, "exp": 1_700_003_600,
    });
    corpus.insert(
        "jwt_jwks",
        named([
            ("jwks", [&[0][..], jwks.as_bytes()].concat()),
            (
                "token-rs256",
                [
                    &[1][..],
                    &token(
                        serde_json::json!({"alg": "RS256", "kid": "fuzz", "typ": "JWT"}),
                        claims.clone(),
                    ),
                ]
                .concat(),
            ),
            (
                "token-alg-none",
                [
                    &[1][..],
                    &token(serde_json::json!({"alg": "none", "kid": "fuzz"}), claims),
                ]
                .concat(),
            ),
            ("jwt-info-jwks", [&[2][..], jwks.as_bytes()].concat()),
            (
                "jwt-info-token-es256",
                [
                    &[3][..],
                    &token(
                        serde_json::json!({"alg": "ES256", "kid": "fuzz"}),
                        serde_json::json!({"iss": "https://issuer.example", "aud": "fuzz-audience",
                                           "sub": "alice", "exp": 1_700_003_600}),
                    ),
                ]
                .concat(),
            ),
            (
                "jwt-info-token-hs256",
                [
                    &[3][..],
                    &token(
                        serde_json::json!({"alg": "HS256", "kid": "fuzz"}),
                        serde_json::json!({"sub": "alice"}),
                    ),
                ]
                .concat(),
            ),
        ]),
    );

    corpus.insert(
        "ldap_replies",
        named([
            // BindResponse success, message id 1.
            (
                "bind-success",
                vec![
                    0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04,
                    0x00,
                ],
            ),
            // BindResponse invalidCredentials (49) with a message, long-form length.
            (
                "bind-invalid-credentials",
                [
                    &[
                        0x30, 0x81, 0x15, 0x02, 0x01, 0x02, 0x61, 0x10, 0x0a, 0x01, 49, 0x04, 0x00,
                    ],
                    &[0x04, 0x09][..],
                    b"bad creds",
                ]
                .concat(),
            ),
            // SearchResultEntry with a DN and no attributes, message id 3.
            (
                "search-entry",
                [
                    &[0x30, 0x1d, 0x02, 0x01, 0x03, 0x64, 0x18, 0x04, 0x14][..],
                    b"uid=alice,dc=example",
                    &[0x30, 0x00],
                ]
                .concat(),
            ),
            // SearchResultDone success; a notice of disconnection (message id 0).
            (
                "search-done",
                vec![
                    0x30, 0x0c, 0x02, 0x01, 0x03, 0x65, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04,
                    0x00,
                ],
            ),
            (
                "notice-of-disconnection",
                vec![
                    0x30, 0x0c, 0x02, 0x01, 0x00, 0x78, 0x07, 0x0a, 0x01, 0x34, 0x04, 0x00, 0x04,
                    0x00,
                ],
            ),
        ]),
    );

    corpus.insert(
        "forward_replies",
        named([
            ("socks5-method-no-auth", vec![5, 0]),
            ("socks5-ipv4", vec![5, 0, 0, 1, 127, 0, 0, 1, 0x23, 0x84]),
            (
                "socks5-domain",
                [&[5, 0, 0, 3, 9][..], b"localhost", &[0x23, 0x84]].concat(),
            ),
            (
                "socks5-ipv6",
                [&[5, 0, 0, 4][..], &[0; 15], &[1, 0x23, 0x84]].concat(),
            ),
            ("socks5-refused", vec![5, 5]),
            (
                "http-200",
                b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec(),
            ),
            (
                "http-407",
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic \
                  realm=\"proxy\"\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
            ),
        ]),
    );

    corpus.insert(
        "http_request_head",
        named([
            (
                "health",
                b"\x05GET /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            ),
            ("metrics-lf", b"\x3fGET /metrics?x=1 HTTP/1.0\n\n".to_vec()),
            ("http2", b"\x01GET / HTTP/2.0\r\n\r\n".to_vec()),
            (
                "body-after",
                b"\x10HEAD /health HTTP/1.1\r\n\r\nmore bytes".to_vec(),
            ),
        ]),
    );

    corpus.insert(
        "http_connect_request",
        named([
            (
                "connect-basic",
                b"CONNECT broker-1:9092 HTTP/1.1\r\nHost: broker-1:9092\r\n\
                  Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n"
                    .to_vec(),
            ),
            (
                "connect-bare-lf",
                b"CONNECT 127.0.0.1:9092 HTTP/1.0\n\n".to_vec(),
            ),
            ("get", b"GET http://example.com/ HTTP/1.1\r\n\r\n".to_vec()),
        ]),
    );

    let mut v2_tcp4 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2_tcp4.extend_from_slice(&[192, 0, 2, 7, 10, 0, 0, 1, 0xc8, 0x22, 0x23, 0x84]);
    let mut v2_tcp6 = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x28".to_vec();
    v2_tcp6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    v2_tcp6.extend_from_slice(&[0; 28]);
    v2_tcp6.extend_from_slice(&[0x12, 0x34, 0x23, 0x84, 0x04, 0x00, 0x00, 0x00]);
    corpus.insert(
        "proxy_protocol_header",
        named([
            (
                "v1-tcp4",
                b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 9092\r\n".to_vec(),
            ),
            (
                "v1-tcp6",
                b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n".to_vec(),
            ),
            ("v1-unknown", b"PROXY UNKNOWN\r\n".to_vec()),
            ("v2-tcp4", v2_tcp4),
            ("v2-tcp6-tlv", v2_tcp6),
            ("v2-local", b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00".to_vec()),
        ]),
    );

    corpus.insert(
        "sni_client_hello",
        named([
            ("broker-name", client_hello(Some("broker-2.kafka.test"))),
            ("bootstrap-name", client_hello(Some("BOOTSTRAP.kafka.test"))),
            (
                "suffix-name",
                client_hello(Some("broker-2.kafka.test.evil")),
            ),
            ("no-name", client_hello(None)),
            ("bare-name", b"broker-7.kafka.test".to_vec()),
        ]),
    );

    let key_files = [
        "client.key",
        "client-pkcs8-aes256.key",
        "client-pkcs8-des3.key",
        "client-legacy-aes128.key",
        "client-legacy-des3.key",
        "rsa-legacy-aes256.key",
        "server.key",
        "client.pem",
    ];
    corpus.insert(
        "pem_keys",
        key_files
            .iter()
            .map(|name| (name.to_string(), tls_data(name)))
            .collect(),
    );

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    corpus.insert(
        "cert_subject",
        ["ca.pem", "client.pem", "server.pem"]
            .iter()
            .map(|name| {
                let der = CertificateDer::pem_slice_iter(&tls_data(name))
                    .next()
                    .expect("a certificate")
                    .expect("a valid PEM certificate");
                (name.replace(".pem", ".der"), der.to_vec())
            })
            .collect(),
    );
    corpus.insert("kerberos_decrypt", kerberos_seeds());
    corpus.insert("kerberos_messages", kerberos_message_seeds());
    corpus
}

/// Encrypted parts under the target's keys: AS-REP's enc-part usage 3, an AP-REP's 12, a
/// broker's wrapped message, and CTS's one-block and partial-block cases.
fn kerberos_seeds() -> Seeds {
    use crate::auth::kerberos::{cts, fuzz_key};
    let mut seeds = Vec::new();
    for (pick, plain) in [
        (6u8, &b""[..]),
        (7, b"x"),
        (24, b"an AP-REP's encrypted part, more than a block"),
        (25, &[1, 0, 0x10, 0][..]),
    ] {
        let (key, usage) = fuzz_key(pick);
        let cipher = cts::encrypt_with(key, usage, &[0x5a; 16], plain);
        seeds.push((
            format!("usage-{usage}-len-{}", plain.len()),
            [&[pick][..], &cipher].concat(),
        ));
    }
    seeds
}

/// One of each message the `kerberos_messages` target picks, encrypted parts under its key.
fn kerberos_message_seeds() -> Seeds {
    use crate::auth::kerberos::{fuzz_message_key, gss, keytab, messages as m, samples};
    let key = fuzz_message_key();
    let session = crate::auth::kerberos::crypto::Key::new(17, &[0x17; 16]).expect("a key");
    let tagged = |pick: u8, bytes: Vec<u8>| [&[pick][..], &bytes].concat();
    vec![
        (
            "krb-error-preauth-required".into(),
            tagged(
                0,
                samples::krb_error(25, 1_800_000_000, Some(samples::etype_info2("R.TESTproxy"))),
            ),
        ),
        (
            "krb-error-skew".into(),
            tagged(0, samples::krb_error(37, 1_800_000_000, None)),
        ),
        (
            "as-rep".into(),
            tagged(
                1,
                samples::kdc_reply(m::AS_REP, &key, m::USAGE_AS_REP, &session, 7),
            ),
        ),
        (
            "tgs-rep".into(),
            tagged(
                2,
                samples::kdc_reply(m::TGS_REP, &key, m::USAGE_TGS_REP, &session, 8),
            ),
        ),
        (
            "ap-rep-subkey".into(),
            tagged(3, samples::ap_rep(&key, 1_800_000_000, 5, Some(&session))),
        ),
        ("gss-framing".into(), tagged(4, gss::frame_for_seed())),
        (
            "wrap-offer".into(),
            tagged(5, gss::acceptor_wrap(&[7, 0, 0x10, 0], &key, 0x04, 1, 12)),
        ),
        (
            "keytab".into(),
            tagged(
                6,
                keytab::build(&[
                    (&["proxy"], "R.TEST", 2, 18, &[1; 32]),
                    (&["proxy"], "R.TEST", 2, 17, &[2; 16]),
                ]),
            ),
        ),
    ]
}

fn committed(target: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = fuzz_dir().join("seeds").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(e.path()).expect("read a seed file");
            (name, bytes)
        })
        .collect()
}

fn write_seeds(target: &str, seeds: &Seeds) {
    let dir = fuzz_dir().join("seeds").join(target);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the seed directory");
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    }
}

#[test]
fn committed_seeds_are_up_to_date() {
    let write = std::env::var_os("KAFKA_PROXY_WRITE_FUZZ_SEEDS").is_some();
    let mut stale = Vec::new();
    for (target, seeds) in corpus() {
        let expected: BTreeMap<String, Vec<u8>> = seeds.iter().cloned().collect();
        if committed(target) != expected {
            if write {
                write_seeds(target, &seeds);
            } else {
                stale.push(target);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "the seeds of {stale:?} in fuzz/seeds/ are not what src/fuzzing/seeds.rs builds; write \
         them with KAFKA_PROXY_WRITE_FUZZ_SEEDS=1 cargo test --lib fuzzing::seeds"
    );
}

/// The `[[bin]]` names of fuzz/Cargo.toml.
fn cargo_toml_targets() -> BTreeSet<String> {
    let text = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let mut names = BTreeSet::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if let Some(name) = line.strip_prefix("name = ").filter(|_| in_bin) {
            names.insert(name.trim_matches('"').to_string());
        }
    }
    names
}

#[test]
fn every_target_is_in_the_fuzz_project_with_seeds() {
    let names: BTreeSet<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(names.len(), TARGETS.len(), "a target is listed twice");
    assert_eq!(cargo_toml_targets(), names, "fuzz/Cargo.toml [[bin]]s");
    let files: BTreeSet<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .expect("fuzz/fuzz_targets")
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".rs")
                .map(str::to_string)
        })
        .collect();
    assert_eq!(files, names, "files in fuzz/fuzz_targets/");
    for name in &names {
        let text =
            std::fs::read_to_string(fuzz_dir().join("fuzz_targets").join(format!("{name}.rs")))
                .expect("a fuzz target file");
        let call = format!("kafka_proxy::fuzzing::run(\"{name}\", data)");
        assert!(text.contains(&call), "{name}.rs must call {call}");
    }
    let corpus = corpus();
    for name in &names {
        assert!(
            corpus.get(name.as_str()).is_some_and(|s| !s.is_empty()),
            "{name} has no seeds"
        );
    }
}

/// A small xorshift generator: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        if data.is_empty() {
            data.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(data.len());
        match rng.below(6) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = [0, 0x7f, 0x80, 0xff][rng.below(4)],
            2 => data.insert(at, rng.next() as u8),
            3 => {
                data.remove(at);
            }
            4 => data.truncate(at),
            _ => {
                let from = rng.below(data.len());
                data[at] = data[from];
            }
        }
    }
    data
}

/// What `cargo fuzz` does, in miniature and on the stable toolchain: every target on its seeds
/// and on a few thousand mutations of them. Catches a broken invariant before a fuzzing run.
#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    let corpus = corpus();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (name, target) in TARGETS {
        let seeds = &corpus[name];
        for (_, seed) in seeds {
            target(seed);
        }
        // Each key that parses runs PBKDF2, slow in a debug build.
        let rounds = if *name == "pem_keys" { 300 } else { 3000 };
        for _ in 0..rounds {
            let seed = &seeds[rng.below(seeds.len())].1;
            target(&mutate(&mut rng, seed));
        }
    }
}

/// The seeds start the fuzzer on the deep paths, past the first checks: each must decode (or
/// log in, or verify its format) where the target's round trip or assertions run.
#[test]
fn seeds_reach_the_checked_paths() {
    use crate::codec::describe_cluster::DescribeClusterResponse;
    use crate::codec::find_coordinator::FindCoordinatorResponse;
    use crate::codec::metadata::MetadataResponse;
    let corpus = corpus();
    let seeds = |name: &str| corpus[name].clone();
    let version = |s: &[u8]| i16::from(s[0]);
    for (_, s) in seeds("metadata_roundtrip") {
        MetadataResponse::decode(version(&s), &s[1..]).expect("Metadata seed decodes");
    }
    for (_, s) in seeds("find_coordinator_roundtrip") {
        FindCoordinatorResponse::decode(version(&s), &s[1..]).expect("FindCoordinator seed");
    }
    for (_, s) in seeds("describe_cluster_roundtrip") {
        DescribeClusterResponse::decode(version(&s), &s[1..]).expect("DescribeCluster seed");
    }
    for (name, s) in seeds("api_versions_roundtrip") {
        if s[0] & 0x80 == 0 {
            crate::codec::api_versions::ApiVersionsResponse::decode(version(&s), &s[1..])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    for (name, s) in seeds("request_header") {
        crate::codec::header::parse_request_header(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, s) in &seeds("plain_token")[..3] {
        if name != "other-authzid" {
            crate::auth::local::parse_plain(s).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    for (name, s) in &seeds("oauthbearer_client_first")[..3] {
        crate::auth::oauthbearer::server::parse_client_first(s)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let gateway = &seeds("gateway_handshake")[0].1;
    crate::auth::gateway::parse_payload(&gateway[12..]).expect("gateway seed");
    for (name, s) in &seeds("plugin_reply")[..3] {
        crate::plugin::parse_reply(s).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let jwks = &seeds("jwt_jwks")[0].1;
    crate::plugin::builtin::google_id::parse_jwks(std::str::from_utf8(&jwks[1..]).unwrap())
        .expect("JWKS seed");
    for (name, s) in seeds("cert_subject") {
        crate::net::tls::subject::subject_of(&s).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    for (name, s) in seeds("pem_keys") {
        if name.contains("pkcs8-") || name.contains("legacy") {
            crate::net::tls::keys::decrypt_pem_key(&s, b"secret")
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }
    let connect = &seeds("http_connect_request")[0].1;
    let head = crate::tools::http_proxy::parse_request_head(connect).expect("CONNECT seed");
    assert_eq!(head.basic.as_deref(), Some(&b"alice:secret"[..]));
    // The PLAIN login seed is a whole successful login.
    let login = &seeds("broker_login")[0].1;
    let config = crate::config::SaslConfig {
        method: crate::config::SaslMethod::Plain,
        username: "fuzz-user".into(),
        password: crate::config::Secret("fuzz-password".into()),
        jaas_config_file: None,
        aws: Default::default(),
        gssapi: Default::default(),
        mapped_from: None,
    };
    let previous = crate::auth::upstream::Session {
        mechanism: "PLAIN",
        authenticate_version: Some(1),
        lifetime: None,
        authenticated_at: std::time::Instant::now(),
    };
    let mut broker = super::ScriptedBroker {
        answers: &login[1..],
        round_trips: 0,
    };
    let session = crate::auth::upstream::reauthenticate(&mut broker, &config, &previous)
        .expect("the PLAIN login seed logs in");
    assert_eq!(session.lifetime, Some(std::time::Duration::from_secs(3600)));
}
