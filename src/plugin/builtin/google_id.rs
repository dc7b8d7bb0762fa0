//! `google-id-provider` and `google-id-info`: Google ID tokens for the gateway handshake.
//!
//! The provider (gateway client side, `get-token`) reads a service-account JSON file, signs a
//! JWT assertion with its RSA key (RS256), exchanges it at the token endpoint for an ID token
//! whose audience is `--target-audience`, and reuses that token until
//! [`REFRESH_BEFORE_EXPIRY`] before it expires.
//!
//! The verifier (gateway server side, `verify-token`) accepts only RS256 tokens signed by one of
//! the published keys (a JWKS document at `--certs-url`), whose `aud` is one of `--audience`,
//! `iss` one of `--issuer`, `exp`/`iat` valid within [`CLOCK_SKEW`], and whose `email` fully
//! matches `--email-regex`. Keys are fetched at start, again every `--refresh-interval`, and on
//! a token with an unknown key id (at most once per [`MIN_REFETCH`]); a failed fetch keeps the
//! last good keys. `alg: none`, HS256 and every other algorithm are refused.
//!
//! Both endpoints default to Google's and can point anywhere (tests use a local server). Tokens
//! never reach standard error; the verified email does.

use super::jwt::{self, agent, body_of, now_secs, split_jwt, Parts, PublicKey, MAX_TOKEN};
use super::{PluginExit, PluginFlags, GOOGLE_ID_INFO, GOOGLE_ID_PROVIDER};
use crate::config::plugin_flags::{GOOGLE_ID_INFO_PLUGIN, GOOGLE_ID_PROVIDER_PLUGIN};
use crate::logging::peer_text;
use crate::plugin::{serve, Reply, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaKeyPair, RsaPublicKeyComponents};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

pub use crate::config::plugin_flags::{DEFAULT_CERTS_URL, DEFAULT_ISSUERS, DEFAULT_TOKEN_URL};
/// A cached ID token is replaced this long before it expires.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);
/// Tolerated clock difference for `exp` and `iat`.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// Unknown key ids trigger a refetch at most this often (a flood of made-up kids must not
/// become a flood of requests to the key endpoint).
pub const MIN_REFETCH: Duration = Duration::from_secs(10);
// ---- the provider ----------------------------------------------------------------------------

#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

struct Provider {
    email: String,
    key_id: Option<String>,
    key: RsaKeyPair,
    audience: String,
    token_url: String,
    agent: ureq::Agent,
    cached: Option<(String, i64)>,
}

pub fn run_provider(
    args: Vec<OsString>,
    input: impl Read,
    output: impl Write,
) -> Result<(), PluginExit> {
    let name = GOOGLE_ID_PROVIDER;
    let flags = PluginFlags::parse(&GOOGLE_ID_PROVIDER_PLUGIN, args)?;
    let usage = |m: String| PluginExit::Usage(format!("plugin {name}: {m}"));
    let path = flags.required("credentials-file")?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("--credentials-file {path}: {e}")))?;
    let account: ServiceAccount = serde_json::from_str(&text).map_err(|e| {
        usage(format!(
            "--credentials-file {path}: not a service-account JSON file: {e}"
        ))
    })?;
    let key = rsa_key_from_pem(&account.private_key)
        .map_err(|e| usage(format!("--credentials-file {path}: private_key: {e}")))?;
    let mut provider = Provider {
        email: account.client_email,
        key_id: account.private_key_id,
        key,
        audience: flags.required("target-audience")?.to_string(),
        token_url: flags
            .get("token-url")
            .map(str::to_string)
            .or(account.token_uri)
            .unwrap_or_else(|| DEFAULT_TOKEN_URL.to_string()),
        agent: agent(flags.duration("timeout")?),
        cached: None,
    };
    serve(input, output, |request| match request {
        Request::GetToken {} => match provider.token() {
            Ok((token, expires_at)) => Reply {
                ok: true,
                identity: Some(provider.email.clone()),
                token: Some(token),
                expires_at: Some(expires_at),
                error: None,
                ..Reply::default()
            },
            Err(e) => {
                eprintln!("ERROR {e}");
                Reply::no(e)
            }
        },
        _ => Reply::no(format!("{name} answers get-token only")),
    })
    .map_err(|e| PluginExit::Failed(format!("plugin {name}: {e}")))
}

/// An RSA private key from PKCS#8 PEM (what service-account files hold).
pub fn rsa_key_from_pem(pem: &str) -> Result<RsaKeyPair, String> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| e.to_string())?;
    match der {
        PrivateKeyDer::Pkcs8(pkcs8) => RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der())
            .map_err(|e| format!("not an RSA key ring accepts: {e}")),
        _ => Err("expected a PKCS#8 PEM key (BEGIN PRIVATE KEY)".into()),
    }
}

/// Signs `claims` as an RS256 JWT.
pub fn sign_jwt(key: &RsaKeyPair, key_id: Option<&str>, claims: &Value) -> Result<String, String> {
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = Value::String(kid.to_string());
    }
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "RSA signing failed".to_string())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

impl Provider {
    fn token(&mut self) -> Result<(String, i64), String> {
        let now = now_secs();
        if let Some((token, exp)) = &self.cached {
            if now + (REFRESH_BEFORE_EXPIRY.as_secs() as i64) < *exp {
                return Ok((token.clone(), *exp));
            }
        }
        let claims = serde_json::json!({
            "iss": self.email,
            "sub": self.email,
            "aud": self.token_url,
            "target_audience": self.audience,
            "iat": now,
            "exp": now + 3600,
        });
        let assertion = sign_jwt(&self.key, self.key_id.as_deref(), &claims)?;
        let body = body_of(
            self.agent.post(&self.token_url).send_form([
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ]),
            &self.token_url,
        )?;
        let reply: Value = serde_json::from_str(&body)
            .map_err(|e| format!("{}: the answer is not JSON: {e}", self.token_url))?;
        let token = reply
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{}: no id_token in the answer", self.token_url))?
            .to_string();
        // The expiry is read from the token itself (it is Google's to verify, not ours).
        let exp = split_jwt(&token)
            .ok()
            .and_then(|parts| parts.claims.get("exp").and_then(Value::as_i64))
            .unwrap_or(now + 3600);
        eprintln!(
            "INFO new ID token for {} (audience {}), expires at {exp}",
            self.email, self.audience
        );
        self.cached = Some((token.clone(), exp));
        Ok((token, exp))
    }
}

// ---- the verifier ----------------------------------------------------------------------------

/// RSA public keys by key id: modulus and exponent, big-endian.
pub type Keys = HashMap<String, (Vec<u8>, Vec<u8>)>;

/// Parses a JWKS document, keeping the RSA keys usable for RS256.
pub fn parse_jwks(text: &str) -> Result<Keys, String> {
    let mut keys = Keys::new();
    for k in jwt::parse_keys(text)? {
        if let (PublicKey::Rsa { n, e }, None | Some("RS256")) = (k.key, k.alg.as_deref()) {
            keys.insert(k.kid, (n, e));
        }
    }
    if keys.is_empty() {
        return Err("no RS256 RSA key in the JWKS document".into());
    }
    Ok(keys)
}

pub struct Verifier {
    pub audiences: Vec<String>,
    pub issuers: Vec<String>,
    /// `--email-regex`, each anchored (`^(?:...)$`): the email must match one. Never empty.
    pub email: Vec<regex_lite::Regex>,
    pub keys: Keys,
}

impl Verifier {
    /// Checks `token` at time `now`; `Ok(email)` or why not. `Err(None)` means the key id is
    /// unknown (the caller may refresh the keys and try again).
    pub fn verify(&self, token: &str, now: i64) -> Result<String, Option<String>> {
        if token.len() > MAX_TOKEN {
            return Err(Some(format!("token longer than {MAX_TOKEN} bytes")));
        }
        let Parts {
            header,
            claims,
            signing_input,
            signature: sig,
        } = split_jwt(token).map_err(Some)?;
        match header.get("alg").and_then(Value::as_str) {
            Some("RS256") => {}
            Some(other) => {
                return Err(Some(format!(
                    "algorithm \"{}\" refused (RS256 only)",
                    peer_text(other)
                )))
            }
            None => return Err(Some("no algorithm in the header".into())),
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| Some("no key id (kid) in the header".to_string()))?;
        let Some((n, e)) = self.keys.get(kid) else {
            return Err(None);
        };
        RsaPublicKeyComponents { n, e }
            .verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                signing_input.as_bytes(),
                &sig,
            )
            .map_err(|_| Some(format!("bad signature (key id \"{}\")", peer_text(kid))))?;
        let skew = CLOCK_SKEW.as_secs() as i64;
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| Some("no exp".to_string()))?;
        if now > exp + skew {
            return Err(Some(format!("expired {} s ago", now - exp)));
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or_else(|| Some("no iat".to_string()))?;
        if iat > now + skew {
            return Err(Some("issued in the future (iat)".into()));
        }
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
        if !self.issuers.iter().any(|i| i == iss) {
            return Err(Some(format!(
                "issuer \"{}\" is not one of --issuer",
                peer_text(iss)
            )));
        }
        let aud_ok = jwt::audience_has(&claims, &self.audiences);
        if !aud_ok {
            return Err(Some("audience (aud) is not one of --audience".into()));
        }
        let email = claims
            .get("email")
            .and_then(Value::as_str)
            .ok_or_else(|| Some("no email claim".to_string()))?;
        if claims.get("email_verified").and_then(Value::as_bool) == Some(false) {
            return Err(Some(format!(
                "email \"{}\" is not verified",
                peer_text(email)
            )));
        }
        if !self.email.iter().any(|re| re.is_match(email)) {
            return Err(Some(format!(
                "email \"{}\" does not match --email-regex",
                peer_text(email)
            )));
        }
        Ok(email.to_string())
    }
}

struct Info {
    verifier: Verifier,
    certs_url: String,
    agent: ureq::Agent,
    refresh_interval: Duration,
    fetched_at: Option<Instant>,
    tried_at: Option<Instant>,
}

impl Info {
    /// Fetches the keys; on failure keeps the last good ones and logs why.
    fn refresh(&mut self) {
        self.tried_at = Some(Instant::now());
        let result = body_of(self.agent.get(&self.certs_url).call(), &self.certs_url)
            .and_then(|body| parse_jwks(&body).map_err(|e| format!("{}: {e}", self.certs_url)));
        match result {
            Ok(keys) => {
                eprintln!("INFO {} keys from {}", keys.len(), self.certs_url);
                self.verifier.keys = keys;
                self.fetched_at = Some(Instant::now());
            }
            Err(e) => eprintln!(
                "ERROR cannot refresh the keys ({} kept): {e}",
                self.verifier.keys.len()
            ),
        }
    }

    fn handle(&mut self, token: &str) -> Reply {
        // On schedule; after a failed fetch, retried at the same pace (at most every
        // MIN_REFETCH when the interval is longer).
        let due = self
            .fetched_at
            .map_or(true, |at| at.elapsed() >= self.refresh_interval);
        let retry_after = self.refresh_interval.min(MIN_REFETCH);
        if due && self.tried_at.map_or(true, |at| at.elapsed() >= retry_after) {
            self.refresh();
        }
        let mut result = self.verifier.verify(token, now_secs());
        if matches!(result, Err(None))
            && self.tried_at.map_or(true, |at| at.elapsed() >= MIN_REFETCH)
        {
            self.refresh();
            result = self.verifier.verify(token, now_secs());
        }
        match result {
            Ok(email) => Reply::yes(email),
            Err(why) => {
                let why = why.unwrap_or_else(|| "unknown key id (kid)".into());
                eprintln!("WARN token refused: {why}");
                Reply::no(why)
            }
        }
    }
}

/// `--email-regex` values, anchored. At least one is required: Google signs an ID token for
/// any account that asks, for any audience, so without a rule for the email every Google
/// account would pass (grepplabs refuses to start without it too).
fn email_regexes(patterns: &[&str]) -> Result<Vec<regex_lite::Regex>, String> {
    if patterns.iter().all(|p| p.is_empty()) {
        return Err("--email-regex is required: without it any Google account's ID token would \
                    be accepted (anyone can have Google sign one for any audience); give the \
                    service accounts allowed in, e.g. --email-regex '[a-z-]+@my-project\\.iam\\.gserviceaccount\\.com'"
            .into());
    }
    patterns
        .iter()
        .filter(|p| !p.is_empty())
        .map(|re| {
            regex_lite::Regex::new(&format!("^(?:{re})$"))
                .map_err(|e| format!("--email-regex {re:?}: {e}"))
        })
        .collect()
}

pub fn run_info(
    args: Vec<OsString>,
    input: impl Read,
    output: impl Write,
) -> Result<(), PluginExit> {
    let name = GOOGLE_ID_INFO;
    let flags = PluginFlags::parse(&GOOGLE_ID_INFO_PLUGIN, args)?;
    let usage = |m: String| PluginExit::Usage(format!("plugin {name}: {m}"));
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let email = email_regexes(&flags.get_all("email-regex")).map_err(usage)?;
    let mut info = Info {
        verifier: Verifier {
            audiences: list(flags.required("audience")?),
            issuers: list(flags.value("issuer").unwrap_or_default()),
            email,
            keys: Keys::new(),
        },
        certs_url: flags.value("certs-url").unwrap_or_default().to_string(),
        agent: agent(flags.duration("timeout")?),
        refresh_interval: flags.duration("refresh-interval")?,
        fetched_at: None,
        tried_at: None,
    };
    info.refresh();
    serve(input, output, |request| match request {
        Request::VerifyToken { token } => info.handle(&token),
        _ => Reply::no(format!("{name} answers verify-token only")),
    })
    .map_err(|e| PluginExit::Failed(format!("plugin {name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair;

    /// Without `--email-regex` google-id-info would let every Google account in: it refuses to
    /// start (exit 2), saying why. Given twice, an email matching either pattern passes.
    #[test]
    fn email_regex_is_required_and_repeatable() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let err = run_info(args(&["--audience", "kafka"]), &b""[..], Vec::new()).unwrap_err();
        assert!(matches!(err, PluginExit::Usage(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains("--email-regex is required"), "{text}");
        assert!(text.contains("any Google account"), "{text}");
        let err = run_info(
            args(&["--audience", "kafka", "--email-regex", ""]),
            &b""[..],
            Vec::new(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("--email-regex is required"),
            "{err}"
        );

        let regexes = email_regexes(&["a@x\\.com", "[b-c]@y\\.com"]).unwrap();
        let ok = |email: &str| regexes.iter().any(|re| re.is_match(email));
        assert!(ok("a@x.com") && ok("c@y.com"));
        assert!(!ok("a@x.com.evil") && !ok("d@y.com"));
        assert!(email_regexes(&["("]).unwrap_err().contains("--email-regex"));
    }

    fn test_key() -> RsaKeyPair {
        super::jwt::testing::rsa_key()
    }

    fn jwk_of(key: &RsaKeyPair) -> (Vec<u8>, Vec<u8>) {
        let public = key.public_key();
        let components: RsaPublicKeyComponents<Vec<u8>> = public.into();
        (components.n, components.e)
    }

    fn verifier(key: &RsaKeyPair) -> Verifier {
        let mut keys = Keys::new();
        keys.insert("k1".into(), jwk_of(key));
        Verifier {
            audiences: vec!["my-gateway".into()],
            issuers: list_default(),
            email: vec![regex_lite::Regex::new("^(?:.*@svc\\.example\\.com)$").unwrap()],
            keys,
        }
    }

    fn list_default() -> Vec<String> {
        DEFAULT_ISSUERS.split(',').map(str::to_string).collect()
    }

    fn claims(now: i64) -> Value {
        serde_json::json!({
            "iss": "https://accounts.google.com",
            "aud": "my-gateway",
            "email": "robot@svc.example.com",
            "email_verified": true,
            "iat": now - 10,
            "exp": now + 3600,
        })
    }

    #[test]
    fn verifies_and_refuses() {
        let key = test_key();
        let v = verifier(&key);
        let now = now_secs();
        let good = sign_jwt(&key, Some("k1"), &claims(now)).unwrap();
        assert_eq!(v.verify(&good, now), Ok("robot@svc.example.com".into()));

        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims(now);
            f(&mut c);
            sign_jwt(&key, Some("k1"), &c).unwrap()
        };
        let refused = |token: &str, why: &str| {
            let err = v.verify(token, now).unwrap_err().unwrap_or_default();
            assert!(err.contains(why), "{err} lacks {why}");
        };
        refused(&with(&|c| c["aud"] = "other".into()), "audience");
        refused(&with(&|c| c["iss"] = "evil.example.com".into()), "issuer");
        refused(&with(&|c| c["exp"] = (now - 120).into()), "expired");
        refused(&with(&|c| c["iat"] = (now + 600).into()), "future");
        refused(
            &with(&|c| c["email"] = "robot@evil.com".into()),
            "does not match",
        );
        refused(
            &with(&|c| c["email"] = "x@svc.example.com.evil".into()),
            "does not match",
        );
        refused(
            &with(&|c| c["email_verified"] = false.into()),
            "not verified",
        );
        // Within the skew: accepted.
        assert!(v
            .verify(&with(&|c| c["exp"] = (now - 30).into()), now)
            .is_ok());
        // Audience as a list.
        assert!(v
            .verify(
                &with(&|c| c["aud"] = serde_json::json!(["x", "my-gateway"])),
                now
            )
            .is_ok());
        // Unknown key id: Err(None).
        let other_kid = sign_jwt(&key, Some("k2"), &claims(now)).unwrap();
        assert_eq!(v.verify(&other_kid, now), Err(None));
        // Signed by another key under a known kid.
        let other = test_key();
        refused(
            &sign_jwt(&other, Some("k1"), &claims(now)).unwrap(),
            "bad signature",
        );
        // A tampered payload.
        let parts: Vec<&str> = good.split('.').collect();
        let mut tampered = claims(now);
        tampered["email"] = "boss@svc.example.com".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(tampered.to_string()),
            parts[2]
        );
        refused(&forged, "bad signature");
        // alg none and HS256.
        for alg in ["none", "HS256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"k1"}}"#));
            let body = URL_SAFE_NO_PAD.encode(claims(now).to_string());
            refused(&format!("{header}.{body}."), "refused (RS256 only)");
            refused(
                &format!("{header}.{body}.{}", parts[2]),
                "refused (RS256 only)",
            );
        }
        refused("garbage", "three");
        refused("a.b.c", "base64url");
        refused(&"a".repeat(20_000), "longer");
    }

    #[test]
    fn jwks_parsing() {
        let key = test_key();
        let (n, e) = jwk_of(&key);
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
             "n": URL_SAFE_NO_PAD.encode(&n), "e": URL_SAFE_NO_PAD.encode(&e)},
            {"kty": "EC", "kid": "k2", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "k3", "alg": "RS512", "n": "AA", "e": "AQAB"},
        ]});
        let keys = parse_jwks(&doc.to_string()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys["k1"], (n, e));
        assert!(parse_jwks("garbage").is_err());
        assert!(parse_jwks(r#"{"keys": []}"#).is_err());
    }
}
