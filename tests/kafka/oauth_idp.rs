//! Upstream OAUTHBEARER with real JWT validation: a broker listener with Kafka's
//! `OAuthBearerValidatorCallbackHandler` checks RS256 tokens against a JWKS, issuer and audience
//! served by a small identity provider on loopback (this file: a JWKS endpoint and a
//! client-credentials token endpoint signing with a key made by `openssl genpkey` at test time),
//! and the proxy gets its tokens from it with the built-in `oidc-provider`.
//!
//! The identity provider also serves tokens that must be refused, for local OAUTHBEARER
//! (`local_oauth.rs`): `POST /token/<kind>` with a kind of [`Idp::token_url`].

use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client};
use crate::harness::{unique, TempDir};
use crate::kproxy::{KProxy, Listeners};
use crate::tools::KafkaTools;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kafka_proxy::plugin::builtin::google_id::{rsa_key_from_pem, sign_jwt};
use ring::signature::{KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const T: Duration = Duration::from_secs(120);
const P: Protocol = Protocol::SaslPlaintext;
const AUDIENCE: &str = "kafka-test";
const CLIENT_ID: &str = "proxy-client";
const CLIENT_SECRET: &str = "proxy-client-secret";

/// The identity provider: `/jwks` and `/token` on one loopback port.
pub struct Idp {
    pub base: String,
    tokens: Arc<AtomicUsize>,
}

pub const AUDIENCE_OF_TOKENS: &str = AUDIENCE;
/// The client credentials the token endpoint takes (HTTP Basic), and the subject it issues.
pub const CLIENT: (&str, &str) = (CLIENT_ID, CLIENT_SECRET);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn answer(stream: &mut TcpStream, status: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: \
         close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

fn serve(mut stream: TcpStream, key: &RsaKeyPair, jwks: &str, issuer: &str, tokens: &AtomicUsize) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    let mut auth = String::new();
    let mut length = 0usize;
    let mut line = String::new();
    let _ = reader.read_line(&mut first);
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0).min(1 << 16);
        }
        if lower.starts_with("authorization:") {
            auth = line["authorization:".len()..].trim().to_string();
        }
    }
    let mut form = vec![0u8; length];
    let _ = reader.read_exact(&mut form);
    if first.starts_with("GET /jwks") {
        return answer(&mut stream, "200 OK", jwks);
    }
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if !first.starts_with("POST /token") || auth != basic {
        return answer(
            &mut stream,
            "401 Unauthorized",
            r#"{"error":"invalid_client"}"#,
        );
    }
    let kind = first
        .strip_prefix("POST /token")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("");
    let token = issue(key, issuer, kind.trim_start_matches('/'));
    tokens.fetch_add(1, Ordering::Relaxed);
    let body = serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": 8});
    answer(&mut stream, "200 OK", &body.to_string());
}

/// A token of `kind`: "" (8 s, for re-authentication), "ok" (5 minutes), or one that a verifier
/// must refuse: "expired", "wrong-audience", "wrong-issuer", "unsigned" (alg none; a dummy
/// signature, since Kafka's client refuses a token without a third part) or "hmac" (HS256).
fn issue(key: &RsaKeyPair, issuer: &str, kind: &str) -> String {
    let iat = now();
    let mut claims = serde_json::json!({
        "iss": issuer, "aud": AUDIENCE, "sub": CLIENT_ID, "scope": "kafka",
        "iat": iat, "exp": iat + if kind.is_empty() { 8 } else { 300 },
    });
    let unsigned = |alg: &str, claims: &serde_json::Value| {
        let header = serde_json::json!({"alg": alg, "kid": "k1", "typ": "JWT"});
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    };
    match kind {
        "expired" => {
            claims["iat"] = (iat - 600).into();
            claims["exp"] = (iat - 300).into();
        }
        "wrong-audience" => claims["aud"] = "another-service".into(),
        "wrong-issuer" => claims["iss"] = "https://evil.example".into(),
        "unsigned" => return format!("{}.AAAA", unsigned("none", &claims)),
        "hmac" => {
            let input = unsigned("HS256", &claims);
            let secret = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"a shared secret");
            let mac = ring::hmac::sign(&secret, input.as_bytes());
            return format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
        }
        _ => {}
    }
    sign_jwt(key, Some("k1"), &claims).unwrap()
}

impl Idp {
    /// Starts the provider; writes `credentials.json` (oidc-provider's) into `dir`.
    pub fn start(dir: &std::path::Path) -> Idp {
        let pem = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("openssl genpkey");
        let key = rsa_key_from_pem(std::str::from_utf8(&pem.stdout).unwrap()).unwrap();
        let components: RsaPublicKeyComponents<Vec<u8>> = key.public_key().into();
        let jwks = serde_json::json!({"keys": [{
            "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(&components.n),
            "e": URL_SAFE_NO_PAD.encode(&components.e),
        }]})
        .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let tokens = Arc::new(AtomicUsize::new(0));
        let (issuer, count) = (base.clone(), Arc::clone(&tokens));
        // Serves until the test process ends (the listener lives in this thread).
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &key, &jwks, &issuer, &count);
            }
        });
        let credentials = serde_json::json!({
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "token_url": format!("{base}/token"), "scopes": ["kafka"],
        });
        std::fs::write(dir.join("credentials.json"), credentials.to_string()).unwrap();
        Idp { base, tokens }
    }

    /// The token endpoint that issues tokens of `kind` (see [`issue`]).
    pub fn token_url(&self, kind: &str) -> String {
        format!("{}/token/{kind}", self.base)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.base)
    }
}

#[test]
fn upstream_oauthbearer_with_oidc_provider_and_jwks_validation() {
    let test = "upstream_oauthbearer_with_oidc_provider_and_jwks_validation";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let dir = TempDir::new("oauth-idp");
    let idp = Idp::start(dir.path());
    let jwks = format!("{}/jwks", idp.base);
    let handler =
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
    // Only the proxied listener validates JWTs; 8 s tokens expire under the produce below.
    let spec = Spec::single(&[P])
        .prop(
            "listener.name.px_sasl.oauthbearer.sasl.server.callback.handler.class",
            handler,
        )
        .prop("sasl.oauthbearer.jwks.endpoint.url", &jwks)
        .prop("sasl.oauthbearer.expected.audience", AUDIENCE)
        .prop("sasl.oauthbearer.expected.issuer", &idp.base)
        .prop("connections.max.reauth.ms", "600000")
        .jvm_arg(&format!(
            "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={jwks}"
        ));
    let cluster = Cluster::start(&tools, spec);
    let credentials = dir.path().join("credentials.json");
    let flags = [
        "--sasl-enable",
        "--sasl-plugin-enable",
        "--sasl-plugin-command",
        "oidc-provider",
        "--sasl-plugin-param",
        "--credentials-file",
        "--sasl-plugin-param",
        credentials.to_str().unwrap(),
        "--log-level",
        "debug",
    ];
    let mut kp = KProxy::start(&cluster, P, Listeners::AllMapped, &flags, &[]);
    let topic = unique("oidc");
    let produce = drivers::produce_loop(&topic, "3000");
    let sent = drivers::run(&tools, Client::Java, test, &produce, &kp.bootstrap, T).unwrap();
    assert_eq!(sent.get("acked").as_i64(), Some(3000), "{sent}");
    assert!(sent.get("retriable_seen").as_array().is_empty(), "{sent}");
    let consume = ["consume", "--topic", &topic, "--count", "3000"];
    let got = drivers::run(&tools, Client::Java, test, &consume, &kp.bootstrap, T).unwrap();
    assert_eq!(got.get("sha256"), sent.get("sha256"), "{got} vs {sent}");
    let log = kp.proxy.log();
    let reauths = log.matches("re-authenticated to broker").count();
    let tokens = idp.tokens.load(Ordering::Relaxed);
    eprintln!("tokens issued: {tokens}, re-authentications: {reauths}");
    assert!(
        tokens >= 2,
        "the proxy asked the IdP for {tokens} tokens:\n{log}"
    );
    assert!(
        reauths >= 1,
        "no re-authentication in the proxy log:\n{log}"
    );
    assert!(!log.contains(CLIENT_SECRET), "the secret was logged");
    kp.proxy.assert_healthy();
}
