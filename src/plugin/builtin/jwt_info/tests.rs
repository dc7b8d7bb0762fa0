use super::*;
use crate::plugin::builtin::jwt::testing::rsa_key;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::json;

const ISSUER: &str = "https://idp.example";
const AUDIENCE: &str = "kafka";
const NOW: i64 = 1_700_000_000;

fn ec_key() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap()
}

fn rsa_jwk(kid: &str, key: &RsaKeyPair) -> Value {
    let c: RsaPublicKeyComponents<Vec<u8>> = key.public_key().into();
    json!({"kty": "RSA", "kid": kid, "use": "sig",
           "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e)})
}

fn ec_jwk(kid: &str, key: &EcdsaKeyPair) -> Value {
    let point = key.public_key().as_ref();
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
           "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])})
}

/// Signs a token with whatever `sign` makes of the signing input.
fn token(header: Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn rsa_sign<'a>(
    key: &'a RsaKeyPair,
    alg: &'static dyn signature::RsaEncoding,
) -> impl Fn(&[u8]) -> Vec<u8> + 'a {
    move |input| {
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(alg, &SystemRandom::new(), input, &mut sig)
            .unwrap();
        sig
    }
}

fn ec_sign(key: &EcdsaKeyPair) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    move |input| {
        key.sign(&SystemRandom::new(), input)
            .unwrap()
            .as_ref()
            .to_vec()
    }
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": NOW - 10, "exp": NOW + 300})
}

fn rules() -> Rules {
    Rules {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        claim: "sub".into(),
        skew: Duration::from_secs(30),
    }
}

fn keys(doc: &Value) -> Vec<Key> {
    jwt::parse_keys(&doc.to_string()).unwrap()
}

#[test]
fn rs256_ps256_and_es256_verify() {
    let (rsa, ec) = (rsa_key(), ec_key());
    let keys = keys(&json!({"keys": [rsa_jwk("r1", &rsa), ec_jwk("e1", &ec)]}));
    assert_eq!(keys.len(), 2);
    let r = rules();
    let rs = token(
        json!({"alg": "RS256", "kid": "r1"}),
        &claims(),
        rsa_sign(&rsa, &signature::RSA_PKCS1_SHA256),
    );
    assert_eq!(r.verify(&keys, &rs, NOW), Ok("alice".into()));
    let ps = token(
        json!({"alg": "PS256", "kid": "r1"}),
        &claims(),
        rsa_sign(&rsa, &signature::RSA_PSS_SHA256),
    );
    assert_eq!(r.verify(&keys, &ps, NOW), Ok("alice".into()));
    let es = token(
        json!({"alg": "ES256", "kid": "e1"}),
        &claims(),
        ec_sign(&ec),
    );
    assert_eq!(r.verify(&keys, &es, NOW), Ok("alice".into()));
    // Another claim as the principal; aud as a list.
    let mut c = claims();
    c["email"] = "alice@example.com".into();
    c["aud"] = json!(["other", AUDIENCE]);
    let t = token(json!({"alg": "ES256", "kid": "e1"}), &c, ec_sign(&ec));
    let by_email = Rules {
        claim: "email".into(),
        ..rules()
    };
    assert_eq!(
        by_email.verify(&keys, &t, NOW),
        Ok("alice@example.com".into())
    );
    // A PKCS#1 signature presented as PS256, an RSA key for ES256, the key's own alg.
    let wrong = token(
        json!({"alg": "PS256", "kid": "r1"}),
        &claims(),
        rsa_sign(&rsa, &signature::RSA_PKCS1_SHA256),
    );
    assert!(r.verify(&keys, &wrong, NOW).is_err());
    let mismatch = token(
        json!({"alg": "ES256", "kid": "r1"}),
        &claims(),
        ec_sign(&ec),
    );
    assert!(
        matches!(r.verify(&keys, &mismatch, NOW), Err(Refused::Invalid(m)) if m.contains("does not fit"))
    );
    let other = token(
        json!({"alg": "RS256", "kid": "e1"}),
        &claims(),
        rsa_sign(&rsa, &signature::RSA_PKCS1_SHA256),
    );
    assert!(
        matches!(r.verify(&keys, &other, NOW), Err(Refused::Invalid(m)) if m.contains("another algorithm"))
    );
}

#[test]
fn bad_tokens_are_refused() {
    let ec = ec_key();
    let keys = keys(&json!({"keys": [ec_jwk("e1", &ec)]}));
    let r = rules();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        token(json!({"alg": "ES256", "kid": "e1"}), &c, ec_sign(&ec))
    };
    let refused = |t: &str, why: &str| match r.verify(&keys, t, NOW) {
        Err(Refused::Invalid(m)) => assert!(m.contains(why), "{m} lacks {why}"),
        other => panic!("{other:?} for {why}"),
    };
    refused(&with(&|c| c["exp"] = (NOW - 31).into()), "expired");
    refused(&with(&|c| c["nbf"] = (NOW + 31).into()), "nbf");
    refused(&with(&|c| c["iat"] = (NOW + 31).into()), "iat");
    refused(&with(&|c| c["aud"] = "other".into()), "audience");
    refused(&with(&|c| c["aud"] = json!(["a", "b"])), "audience");
    refused(
        &with(&|c| c["iss"] = "https://evil.example".into()),
        "issuer",
    );
    refused(
        &with(&|c| {
            c.as_object_mut().unwrap().remove("iss");
        }),
        "issuer",
    );
    refused(
        &with(&|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
        "no exp",
    );
    refused(&with(&|c| c["exp"] = "soon".into()), "not a number");
    refused(
        &with(&|c| {
            c.as_object_mut().unwrap().remove("sub");
        }),
        "claim",
    );
    refused(&with(&|c| c["sub"] = "".into()), "empty");
    refused(&with(&|c| c["sub"] = "a\nb".into()), "control");
    refused(&with(&|c| c["sub"] = "x".repeat(256).into()), "longer");
    // Within the skew: accepted.
    assert!(r
        .verify(&keys, &with(&|c| c["exp"] = (NOW - 29).into()), NOW)
        .is_ok());
    assert!(r
        .verify(&keys, &with(&|c| c["nbf"] = (NOW + 29).into()), NOW)
        .is_ok());

    let good = with(&|_| {});
    let parts: Vec<&str> = good.split('.').collect();
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    // alg none, with and without a signature; HMAC, even keyed with the public key's bytes.
    for alg in ["none", "HS256", "HS512", "RS512", "EdDSA"] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "e1"}).to_string());
        refused(&format!("{header}.{body}."), "refused");
        refused(&format!("{header}.{body}.{}", parts[2]), "refused");
    }
    let hmac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, ec.public_key().as_ref());
    let hs = token(json!({"alg": "HS256", "kid": "e1"}), &claims(), |input| {
        ring::hmac::sign(&hmac_key, input).as_ref().to_vec()
    });
    refused(&hs, "algorithm \"HS256\" refused");
    // A tampered payload, a missing kid, an unknown kid, crit, garbage, a huge token.
    let mut tampered = claims();
    tampered["sub"] = "admin".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(tampered.to_string()),
        parts[2]
    );
    refused(&forged, "bad signature");
    refused(
        &token(json!({"alg": "ES256"}), &claims(), ec_sign(&ec)),
        "no key id",
    );
    assert_eq!(
        r.verify(
            &keys,
            &token(
                json!({"alg": "ES256", "kid": "e2"}),
                &claims(),
                ec_sign(&ec)
            ),
            NOW
        ),
        Err(Refused::UnknownKey("e2".into()))
    );
    refused(
        &token(
            json!({"alg": "ES256", "kid": "e1", "crit": ["exp"]}),
            &claims(),
            ec_sign(&ec),
        ),
        "crit",
    );
    refused("garbage", "three");
    refused("a.b.c", "base64url");
    refused(&"a".repeat(MAX_TOKEN + 1), "longer");
    // Another key under the same kid.
    let other = ec_key();
    refused(
        &token(
            json!({"alg": "ES256", "kid": "e1"}),
            &claims(),
            ec_sign(&other),
        ),
        "bad signature",
    );
}

#[test]
fn jwks_documents() {
    let ec = ec_key();
    let doc = json!({"keys": [
        ec_jwk("e1", &ec),
        {"kty": "EC", "crv": "P-384", "kid": "e2", "x": "AA", "y": "AA"},
        {"kty": "EC", "crv": "P-256", "kid": "e3", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "r1", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "oct", "kid": "h1", "k": "c2VjcmV0"},
    ]});
    let keys = keys(&doc);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0].kid, "e1");
    assert!(jwt::parse_keys("garbage").is_err());
    assert_eq!(jwt::parse_keys(r#"{"keys": []}"#), Ok(Vec::new()));
}

fn args(a: &[&str]) -> Vec<OsString> {
    a.iter().map(OsString::from).collect()
}

/// The plugin over its protocol, with a key file: a good token is accepted with its principal,
/// a bad one refused with why; a key added to the file is found on the first token that uses
/// it; bad flags are usage errors.
#[test]
fn serves_verify_token_with_a_key_file() {
    let dir = std::env::temp_dir().join(format!("jwt-info-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwks.json");
    let (one, two) = (ec_key(), ec_key());
    std::fs::write(&file, json!({"keys": [ec_jwk("e1", &one)]}).to_string()).unwrap();
    let path = file.to_str().unwrap();
    let flags = args(&[
        "--jwks-file",
        path,
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
    ]);
    let now = now_secs();
    let mut c = claims();
    c["iat"] = now.into();
    c["exp"] = (now + 60).into();
    let good = token(json!({"alg": "ES256", "kid": "e1"}), &c, ec_sign(&one));
    c["aud"] = "other".into();
    let bad = token(json!({"alg": "ES256", "kid": "e1"}), &c, ec_sign(&one));
    let input = format!(
        "{}\n{}\n{}\n",
        json!({"id": 1, "method": "verify-token", "token": good}),
        json!({"id": 2, "method": "verify-token", "token": bad}),
        json!({"id": 3, "method": "get-token"}),
    );
    let mut out = Vec::new();
    run(flags.clone(), input.as_bytes(), &mut out).unwrap();
    let replies: Vec<Reply> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| crate::plugin::parse_reply(l).unwrap().1)
        .collect();
    assert_eq!(replies[0].identity.as_deref(), Some("alice"));
    assert!(replies[0].ok);
    assert!(!replies[1].ok && replies[1].reason_or("").contains("audience"));
    assert!(!replies[2].ok);

    // Rotation: a key added to the file is read on the first token that names it.
    let mut info = Info {
        rules: rules(),
        keys: Vec::new(),
        source: Source::File(path.to_string()),
        refresh_interval: Duration::from_secs(3600),
        fetched_at: None,
        tried_at: None,
    };
    info.refresh().unwrap();
    std::fs::write(
        &file,
        json!({"keys": [ec_jwk("e1", &one), ec_jwk("e2", &two)]}).to_string(),
    )
    .unwrap();
    c["aud"] = AUDIENCE.into();
    let rotated = token(json!({"alg": "ES256", "kid": "e2"}), &c, ec_sign(&two));
    // Just read: the next read waits MIN_REFETCH, so the new kid is unknown for now.
    assert!(!info.handle(&rotated).ok);
    info.tried_at = Some(Instant::now() - MIN_REFETCH);
    let reply = info.handle(&rotated);
    assert!(reply.ok, "{reply:?}");

    for bad in [
        &["--issuer", ISSUER, "--audience", AUDIENCE][..],
        &[
            "--jwks-file",
            path,
            "--jwks-url",
            "http://x",
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
        ],
        &["--jwks-file", path, "--audience", AUDIENCE],
        &["--jwks-file", path, "--issuer", ISSUER],
        &[
            "--jwks-file",
            "/nonexistent/jwks.json",
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
        ],
    ] {
        assert!(
            matches!(
                run(args(bad), &b""[..], Vec::new()),
                Err(PluginExit::Usage(_))
            ),
            "{bad:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
