//! JSON Web Tokens for the verifying plugins (`google-id-info`, `jwt-info`): the compact form
//! split and decoded, the public keys of a JWKS document (RSA and EC P-256), and the signature
//! check of RS256, PS256 and ES256 with ring. The HTTP fetch both plugins use is here too.
//! What a token must claim is each plugin's own.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest token accepted for verification.
pub const MAX_TOKEN: usize = 16 * 1024;
/// The largest HTTP response body read.
pub const MAX_BODY: u64 = 1 << 20;
/// The signature algorithms verified. `none`, the HMAC ones (`HS*`, whose key is a shared
/// secret, not a published key) and every other name are refused.
pub const ALGORITHMS: &[&str] = &["RS256", "PS256", "ES256"];

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A decoded compact JWT: header, claims, the signing input and the signature.
pub struct Parts<'a> {
    pub header: Value,
    pub claims: Value,
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

/// Splits a compact JWT and decodes its parts.
pub fn split_jwt(token: &str) -> Result<Parts<'_>, String> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT (expected three dot-separated parts)".into());
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| format!("the {what} is not base64url"))
    };
    let header: Value = serde_json::from_slice(&decode(h, "header")?)
        .map_err(|_| "the header is not JSON".to_string())?;
    let claims: Value = serde_json::from_slice(&decode(c, "payload")?)
        .map_err(|_| "the payload is not JSON".to_string())?;
    let signature = decode(s, "signature")?;
    Ok(Parts {
        header,
        claims,
        signing_input: &token[..h.len() + 1 + c.len()],
        signature,
    })
}

/// A public key of a JWKS document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// Modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point, `04 || x || y`.
    P256(Vec<u8>),
}

/// A key with its id and the algorithm the document restricts it to, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub kid: String,
    pub alg: Option<String>,
    pub key: PublicKey,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    usage: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

fn b64(field: Option<String>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(field?).ok()
}

impl Jwk {
    /// The key, when it is a signing key with an id, of a type and curve verified here.
    fn into_key(self) -> Option<Key> {
        if self.usage.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        let key = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => PublicKey::Rsa {
                n: b64(self.n)?,
                e: b64(self.e)?,
            },
            ("EC", Some("P-256")) => {
                let (x, y) = (b64(self.x)?, b64(self.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                PublicKey::P256([&[4u8][..], &x, &y].concat())
            }
            _ => return None,
        };
        Some(Key {
            kid: self.kid?,
            alg: self.alg,
            key,
        })
    }
}

/// The signing keys of a JWKS document that have a key id and a type verified here (RSA, EC
/// P-256); others are skipped. `Err` when it is no JWKS document.
pub fn parse_keys(text: &str) -> Result<Vec<Key>, String> {
    let jwks: Jwks = serde_json::from_str(text).map_err(|e| format!("not a JWKS document: {e}"))?;
    Ok(jwks.keys.into_iter().filter_map(Jwk::into_key).collect())
}

/// Checks `sig` over `input` with `key` for algorithm `alg` (one of [`ALGORITHMS`]).
pub fn verify_signature(
    alg: &str,
    key: &PublicKey,
    input: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    let checked = match (alg, key) {
        ("RS256", PublicKey::Rsa { n, e }) => RsaPublicKeyComponents { n, e }.verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            input,
            sig,
        ),
        ("PS256", PublicKey::Rsa { n, e }) => {
            RsaPublicKeyComponents { n, e }.verify(&signature::RSA_PSS_2048_8192_SHA256, input, sig)
        }
        ("ES256", PublicKey::P256(point)) => {
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(input, sig)
        }
        _ => return Err(format!("the key does not fit algorithm {alg}")),
    };
    checked.map_err(|_| "bad signature".to_string())
}

/// Whether the `aud` claim (a string or a list) holds one of `wanted`.
pub fn audience_has(claims: &Value, wanted: &[String]) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => wanted.contains(a),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| wanted.iter().any(|w| w == a)),
        _ => false,
    }
}

/// An HTTP client for key and token endpoints: one deadline for the whole exchange, no
/// redirects, statuses read rather than turned into errors.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// Reads a response body (at most [`MAX_BODY`]) and fails on a non-2xx status, naming it.
pub fn body_of(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    url: &str,
) -> Result<String, String> {
    let mut response = result.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| format!("{url}: reading the response: {e}"))?;
    if !status.is_success() {
        let snippet: String = body.chars().take(200).collect();
        return Err(format!("{url}: HTTP {status}: {snippet}"));
    }
    Ok(body)
}

/// Test keys for the verifiers' tests.
#[cfg(test)]
pub(crate) mod testing {
    use ring::signature::RsaKeyPair;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::PrivateKeyDer;

    /// A new 2048-bit RSA key, made with `openssl genpkey` (ring does not generate RSA keys).
    pub fn rsa_key() -> RsaKeyPair {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("openssl");
        match PrivateKeyDer::from_pem_slice(&out.stdout).expect("a PEM key") {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap(),
            _ => panic!("openssl genpkey made no PKCS#8 key"),
        }
    }
}
