//! `unsecured-jwt-provider`: answers `get-token` with a new unsecured JWT (RFC 7519 section 6:
//! header `{"alg":"none"}`, an empty signature) carrying `sub`, `iat`, `exp` and optionally
//! `scope`, the claims Kafka's default OAUTHBEARER validator
//! (`OAuthBearerUnsecuredValidatorCallbackHandler`) reads: it requires `sub` (its principal
//! claim) and `exp`, checks `iat` when present, and compares `scope` with its required scopes.
//! grepplabs ships the same plugin with the same `--claim-sub`; `--lifetime` and `--scope` are
//! ours (grepplabs' tokens live one hour, this default).

use super::{PluginExit, PluginFlags, UNSECURED_JWT_PROVIDER};
use crate::config::plugin_flags::UNSECURED_JWT_PROVIDER_PLUGIN;
use crate::plugin::{serve, Reply, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn run(args: Vec<OsString>, input: impl Read, output: impl Write) -> Result<(), PluginExit> {
    let flags = PluginFlags::parse(&UNSECURED_JWT_PROVIDER_PLUGIN, args)?;
    let usage = |m: &str| PluginExit::Usage(format!("plugin {UNSECURED_JWT_PROVIDER}: {m}"));
    let provider = UnsecuredJwt {
        subject: flags.required("claim-sub")?.to_string(),
        lifetime: flags.duration("lifetime")?,
        scope: flags.get("scope").map(str::to_string),
    };
    if provider.lifetime < Duration::from_secs(1) {
        return Err(usage(
            "--lifetime must be at least 1s (exp is in whole seconds)",
        ));
    }
    serve(input, output, |request| provider.handle(request))
        .map_err(|e| PluginExit::Failed(format!("plugin {UNSECURED_JWT_PROVIDER}: {e}")))
}

/// The claims of the tokens made.
pub struct UnsecuredJwt {
    pub subject: String,
    pub lifetime: Duration,
    pub scope: Option<String>,
}

impl UnsecuredJwt {
    fn handle(&self, request: Request) -> Reply {
        match request {
            Request::GetToken {} => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let (token, expires_at) = self.token_at(now);
                Reply {
                    ok: true,
                    identity: Some(self.subject.clone()),
                    token: Some(token),
                    expires_at: Some(expires_at),
                    error: None,
                    ..Reply::default()
                }
            }
            other => Reply::no(format!(
                "{UNSECURED_JWT_PROVIDER} answers get-token only, not {other:?}"
            )),
        }
    }

    /// The token issued at `now` (seconds since the epoch), and its `exp`.
    pub fn token_at(&self, now: u64) -> (String, i64) {
        let iat = i64::try_from(now).unwrap_or(i64::MAX);
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        let exp = iat.saturating_add(lifetime);
        let mut claims = serde_json::json!({ "sub": self.subject, "iat": iat, "exp": exp });
        if let Some(scope) = &self.scope {
            claims["scope"] = serde_json::Value::String(scope.clone());
        }
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        (format!("{header}.{payload}."), exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn token_contents() {
        let jwt = UnsecuredJwt {
            subject: "alice".into(),
            lifetime: Duration::from_secs(8),
            scope: Some("read write".into()),
        };
        let (token, exp) = jwt.token_at(1_700_000_000);
        assert_eq!(exp, 1_700_000_008);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "{token}");
        assert_eq!(parts[2], "", "an unsecured JWT has an empty signature");
        assert_eq!(decode(parts[0]), serde_json::json!({"alg": "none"}));
        assert_eq!(
            decode(parts[1]),
            serde_json::json!({"sub": "alice", "iat": 1_700_000_000, "exp": 1_700_000_008,
                               "scope": "read write"})
        );
        // Only bearer-token characters (RFC 6750 b64token), as Kafka's client checks.
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
        let no_scope = UnsecuredJwt { scope: None, ..jwt };
        let (token, _) = no_scope.token_at(5);
        let claims = decode(token.split('.').nth(1).unwrap());
        assert!(claims.get("scope").is_none(), "{claims}");
    }

    #[test]
    fn serves_get_token_only() {
        let input = b"{\"id\":1,\"method\":\"get-token\"}\n{\"id\":2,\"method\":\"verify-token\",\"token\":\"x\"}\n";
        let mut out = Vec::new();
        let args = ["--claim-sub", "bob", "--lifetime", "5s"].map(OsString::from);
        run(args.to_vec(), &input[..], &mut out).unwrap();
        let lines: Vec<&[u8]> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let (id, reply) = crate::plugin::parse_reply(lines[0]).unwrap();
        assert_eq!(id, 1);
        assert!(reply.ok);
        assert_eq!(reply.identity.as_deref(), Some("bob"));
        let claims = decode(reply.token.unwrap().split('.').nth(1).unwrap());
        assert_eq!(claims["exp"].as_i64(), reply.expires_at);
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            5
        );
        let (_, reply) = crate::plugin::parse_reply(lines[1]).unwrap();
        assert!(!reply.ok);
        assert!(matches!(
            run(Vec::new(), &b""[..], Vec::new()),
            Err(PluginExit::Usage(m)) if m.contains("--claim-sub")
        ));
    }
}
