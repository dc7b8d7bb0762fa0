//! `jwt-info`: verifies signed JWTs for local OAUTHBEARER (`verify-token`), against the keys of
//! a JWKS document (`--jwks-url` or `--jwks-file`), an issuer and an audience; the principal is
//! the `--claim` (default `sub`).
//!
//! A token passes when: it is at most [`MAX_TOKEN`] bytes; its header names one of
//! [`ALGORITHMS`] (never `none` nor an HMAC one: a published key cannot check an HMAC, and a
//! verifier that took the public key for the HMAC secret would accept forgeries), a key id,
//! and no `crit` extension; the key with that id fits the algorithm (and the key's own `alg`,
//! when the document gives one) and verifies the signature; `exp` is there and not past by more
//! than `--skew`, `nbf` and `iat` (when there) not ahead by more than it; `iss` is `--issuer`;
//! `aud` (a string or a list) holds `--audience`; the claim is a non-empty string without
//! control characters, at most [`MAX_PRINCIPAL`] bytes.
//!
//! Keys are read at start, again every `--refresh-interval`, and on a token whose key id is
//! unknown, at most once per [`MIN_REFETCH`] (made-up key ids must not become a flood of
//! requests to the key endpoint); a failed read keeps the last good keys. Tokens never reach
//! standard error; the principal does.

use super::jwt::{self, agent, body_of, now_secs, split_jwt, Key, Parts, ALGORITHMS, MAX_TOKEN};
use super::{PluginExit, PluginFlags, JWT_INFO};
use crate::config::plugin_flags::JWT_INFO_PLUGIN;
use crate::logging::peer_text;
use crate::plugin::{serve, Reply, Request};
use serde_json::Value;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Unknown key ids trigger a read of the keys at most this often.
pub const MIN_REFETCH: Duration = Duration::from_secs(5);
/// The longest principal accepted (what reaches the logs and the upstream mapping).
pub const MAX_PRINCIPAL: usize = 255;

/// What a token must be, besides signed by a known key.
pub struct Rules {
    pub issuer: String,
    pub audience: String,
    pub claim: String,
    pub skew: Duration,
}

/// Why a token was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its key id is not among the keys: the caller may read them again and retry.
    UnknownKey(String),
    Invalid(String),
}

impl Refused {
    fn text(self) -> String {
        match self {
            Refused::UnknownKey(kid) => format!("unknown key id (kid) \"{}\"", peer_text(&kid)),
            Refused::Invalid(why) => why,
        }
    }
}

fn invalid(why: impl Into<String>) -> Refused {
    Refused::Invalid(why.into())
}

/// A numeric claim in whole seconds (JSON numbers may carry a fraction).
fn seconds(claims: &Value, name: &str) -> Result<Option<i64>, Refused> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| invalid(format!("{name} is not a number"))),
    }
}

impl Rules {
    /// Checks `token` at `now` (seconds since the epoch) against `keys`; the principal or why
    /// not.
    pub fn verify(&self, keys: &[Key], token: &str, now: i64) -> Result<String, Refused> {
        if token.len() > MAX_TOKEN {
            return Err(invalid(format!("token longer than {MAX_TOKEN} bytes")));
        }
        let Parts {
            header,
            claims,
            signing_input,
            signature,
        } = split_jwt(token).map_err(invalid)?;
        let alg = match header.get("alg").and_then(Value::as_str) {
            Some(alg) if ALGORITHMS.contains(&alg) => alg,
            Some(other) => {
                return Err(invalid(format!(
                    "algorithm \"{}\" refused ({} only)",
                    peer_text(other),
                    ALGORITHMS.join(", ")
                )))
            }
            None => return Err(invalid("no algorithm (alg) in the header")),
        };
        if header.get("crit").is_some() {
            return Err(invalid(
                "critical header extensions (crit) are not supported",
            ));
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("no key id (kid) in the header"))?;
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| Refused::UnknownKey(kid.to_string()))?;
        if key.alg.as_deref().is_some_and(|a| a != alg) {
            return Err(invalid(format!(
                "key \"{}\" is for another algorithm than {alg}",
                peer_text(kid)
            )));
        }
        jwt::verify_signature(alg, &key.key, signing_input.as_bytes(), &signature)
            .map_err(|why| invalid(format!("{why} (key id \"{}\")", peer_text(kid))))?;
        self.check_claims(&claims, now)
    }

    fn check_claims(&self, claims: &Value, now: i64) -> Result<String, Refused> {
        let skew = i64::try_from(self.skew.as_secs()).unwrap_or(i64::MAX);
        let exp = seconds(claims, "exp")?.ok_or_else(|| invalid("no exp"))?;
        if now > exp.saturating_add(skew) {
            return Err(invalid(format!(
                "expired {} s ago",
                now.saturating_sub(exp)
            )));
        }
        if seconds(claims, "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(skew)) {
            return Err(invalid("not valid yet (nbf)"));
        }
        if seconds(claims, "iat")?.is_some_and(|iat| iat > now.saturating_add(skew)) {
            return Err(invalid("issued in the future (iat)"));
        }
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
        if iss != self.issuer {
            return Err(invalid(format!(
                "issuer \"{}\" is not --issuer",
                peer_text(iss)
            )));
        }
        if !jwt::audience_has(claims, std::slice::from_ref(&self.audience)) {
            return Err(invalid("audience (aud) does not hold --audience"));
        }
        let principal = claims
            .get(&self.claim)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("no string claim \"{}\"", self.claim)))?;
        if principal.is_empty()
            || principal.len() > MAX_PRINCIPAL
            || principal.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "claim \"{}\" is empty, longer than {MAX_PRINCIPAL} bytes or has control \
                 characters",
                self.claim
            )));
        }
        Ok(principal.to_string())
    }
}

/// Where the keys come from.
enum Source {
    Url(String, ureq::Agent),
    File(String),
}

impl Source {
    fn read(&self) -> Result<Vec<Key>, String> {
        let (text, place) = match self {
            Source::Url(url, agent) => (body_of(agent.get(url).call(), url)?, url),
            Source::File(path) => (
                std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
                path,
            ),
        };
        let keys = jwt::parse_keys(&text).map_err(|e| format!("{place}: {e}"))?;
        if keys.is_empty() {
            return Err(format!(
                "{place}: no RSA or EC P-256 signing key with a key id"
            ));
        }
        Ok(keys)
    }

    fn place(&self) -> &str {
        match self {
            Source::Url(place, _) | Source::File(place) => place,
        }
    }
}

/// The plugin's state: the rules, the keys and when they were read.
struct Info {
    rules: Rules,
    keys: Vec<Key>,
    source: Source,
    refresh_interval: Duration,
    fetched_at: Option<Instant>,
    tried_at: Option<Instant>,
}

impl Info {
    /// Reads the keys; on failure keeps the last good ones and says why.
    fn refresh(&mut self) -> Result<(), String> {
        self.tried_at = Some(Instant::now());
        let keys = self.source.read()?;
        eprintln!("INFO {} keys from {}", keys.len(), self.source.place());
        self.keys = keys;
        self.fetched_at = Some(Instant::now());
        Ok(())
    }

    fn refresh_or_log(&mut self) {
        if let Err(e) = self.refresh() {
            eprintln!("ERROR cannot read the keys ({} kept): {e}", self.keys.len());
        }
    }

    fn may_refetch(&self) -> bool {
        self.tried_at.map_or(true, |at| at.elapsed() >= MIN_REFETCH)
    }

    fn handle(&mut self, token: &str) -> Reply {
        let due = self
            .fetched_at
            .map_or(true, |at| at.elapsed() >= self.refresh_interval);
        if due && self.may_refetch() {
            self.refresh_or_log();
        }
        let mut result = self.rules.verify(&self.keys, token, now_secs());
        if matches!(result, Err(Refused::UnknownKey(_))) && self.may_refetch() {
            self.refresh_or_log();
            result = self.rules.verify(&self.keys, token, now_secs());
        }
        match result {
            Ok(principal) => {
                eprintln!("INFO token accepted for \"{}\"", peer_text(&principal));
                Reply::yes(principal)
            }
            Err(why) => {
                let why = why.text();
                eprintln!("WARN token refused: {why}");
                Reply::no(why)
            }
        }
    }
}

pub fn run(args: Vec<OsString>, input: impl Read, output: impl Write) -> Result<(), PluginExit> {
    let flags = PluginFlags::parse(&JWT_INFO_PLUGIN, args)?;
    let usage = |m: String| PluginExit::Usage(format!("plugin {JWT_INFO}: {m}"));
    let source = match (flags.get("jwks-url"), flags.get("jwks-file")) {
        (Some(url), None) if !url.is_empty() => {
            Source::Url(url.to_string(), agent(flags.duration("timeout")?))
        }
        (None, Some(path)) if !path.is_empty() => Source::File(path.to_string()),
        (Some(_), Some(_)) => {
            return Err(usage(
                "--jwks-url and --jwks-file exclude each other".into(),
            ))
        }
        _ => return Err(usage("--jwks-url or --jwks-file is required".into())),
    };
    let is_file = matches!(source, Source::File(_));
    let mut info = Info {
        rules: Rules {
            issuer: flags.required("issuer")?.to_string(),
            audience: flags.required("audience")?.to_string(),
            claim: flags.value("claim").unwrap_or("sub").to_string(),
            skew: flags.duration("skew")?,
        },
        keys: Vec::new(),
        source,
        refresh_interval: flags.duration("refresh-interval")?,
        fetched_at: None,
        tried_at: None,
    };
    // A key file the operator gave must be right from the start; a key endpoint may be down
    // for a while (the keys are read again on the first token).
    match info.refresh() {
        Err(e) if is_file => return Err(usage(format!("--jwks-file {e}"))),
        Err(e) => eprintln!("ERROR cannot read the keys: {e}"),
        Ok(()) => {}
    }
    serve(input, output, |request| match request {
        Request::VerifyToken { token } => info.handle(&token),
        _ => Reply::no(format!("{JWT_INFO} answers verify-token only")),
    })
    .map_err(|e| PluginExit::Failed(format!("plugin {JWT_INFO}: {e}")))
}

/// The `jwt_jwks` fuzz target's half for jwt-info: the keys of a JWKS document, and a token
/// checked against a fixed key nobody holds the private half of (so none verifies).
pub fn fuzz_verify(text: &str) {
    for k in jwt::parse_keys(text).unwrap_or_default() {
        if let jwt::PublicKey::P256(point) = &k.key {
            assert_eq!(point.len(), 65, "a P-256 point is 04 || x || y");
        }
    }
    let rules = Rules {
        issuer: "https://issuer.example".into(),
        audience: "fuzz-audience".into(),
        claim: "sub".into(),
        skew: Duration::from_secs(30),
    };
    let fixed = [Key {
        kid: "fuzz".into(),
        alg: None,
        key: jwt::PublicKey::Rsa {
            n: vec![0xff; 256],
            e: vec![1, 0, 1],
        },
    }];
    assert!(
        rules.verify(&fixed, text, 1_700_000_000).is_err(),
        "a token without a valid signature verified"
    );
}

#[cfg(test)]
mod tests;
