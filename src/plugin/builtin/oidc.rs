//! `oidc-provider`: answers `get-token` with an access token from an OAuth 2 token endpoint, by
//! the client-credentials grant (RFC 6749 section 4.4), for upstream OAUTHBEARER
//! (`--sasl-plugin-command oidc-provider`). Its flags are grepplabs' (`--credentials-file`,
//! `--target-audience`, `--timeout`, `--credentials-watch`), and so is the credentials file: JSON
//! with `client_id`, `client_secret`, `token_url` and `scopes` (a list). The secret is in the
//! file, never on the command line. The client authenticates with HTTP Basic (the id and secret
//! form-urlencoded first, RFC 6749 section 2.3.1); `--target-audience`, when given, is sent as
//! the `audience` parameter. `expires_in` of the answer gives `expires_at`. The file is read
//! again for each token while `--credentials-watch` is on (the default), so a rotated secret is
//! picked up; the proxy caches tokens, so that is at most a few reads a lifetime.
//!
//! Errors say which: the endpoint cannot be reached, answered an HTTP error (with its OAuth
//! `error` and `error_description`), or answered something that is not a token response. The
//! secret and the tokens are never written to standard error.

use super::{PluginExit, PluginFlags, OIDC_PROVIDER};
use crate::config::plugin_flags::OIDC_PROVIDER_PLUGIN;
use crate::plugin::{serve, Reply, Request};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest token endpoint answer read: a token response is a few KiB.
pub const MAX_BODY: usize = 64 * 1024;
/// What an error shows of a field of the endpoint's answer.
const MAX_SHOWN: usize = 200;

/// The credentials file (grepplabs' format).
#[derive(Deserialize)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
    pub token_url: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub grant_type: Option<String>,
}

impl std::fmt::Debug for Credentials {
    /// Never shows the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("token_url", &self.token_url)
            .field("scopes", &self.scopes)
            .finish()
    }
}

pub fn read_credentials(path: &str) -> Result<Credentials, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let c: Credentials = serde_json::from_str(&text).map_err(|e| {
        format!("{path}: not a credentials file (client_id, client_secret, token_url, scopes): {e}")
    })?;
    if let Some(grant) = c
        .grant_type
        .as_deref()
        .filter(|g| *g != "client_credentials")
    {
        return Err(format!(
            "{path}: grant_type {grant:?} is not supported; only client_credentials is"
        ));
    }
    if c.client_id.is_empty() || c.token_url.is_empty() {
        return Err(format!("{path}: client_id and token_url must not be empty"));
    }
    Ok(c)
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `Authorization` header value of the client.
pub fn basic_auth(c: &Credentials) -> String {
    let pair = format!(
        "{}:{}",
        form_encode(&c.client_id),
        form_encode(&c.client_secret)
    );
    format!("Basic {}", STANDARD.encode(pair))
}

/// The form parameters of the token request.
pub fn token_form(c: &Credentials, audience: Option<&str>) -> Vec<(&'static str, String)> {
    let mut form = vec![("grant_type", "client_credentials".to_string())];
    if !c.scopes.is_empty() {
        form.push(("scope", c.scopes.join(" ")));
    }
    if let Some(audience) = audience.filter(|a| !a.is_empty()) {
        form.push(("audience", audience.to_string()));
    }
    form
}

fn shown(text: &str) -> String {
    let cut: String = text.chars().take(MAX_SHOWN).collect();
    crate::logging::peer_text(&cut)
}

/// Reads a token endpoint's answer: the access token and its `expires_in`, or why not.
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<(String, Option<i64>), String> {
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let field = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(|v| v.as_str())
            .map(shown)
    };
    if !(200..300).contains(&status) {
        let mut why = format!("HTTP {status}");
        match (field("error"), field("error_description")) {
            (Some(e), Some(d)) => why.push_str(&format!(": {e} ({d})")),
            (Some(e), None) => why.push_str(&format!(": {e}")),
            _ => why.push_str(&format!(
                ": \"{}\"",
                crate::logging::peer_bytes(&body[..body.len().min(MAX_SHOWN)])
            )),
        }
        return Err(why);
    }
    let Some(json) = json.as_ref().filter(|j| j.is_object()) else {
        return Err("the answer is not a JSON object".into());
    };
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or("the answer has no access_token")?;
    if let Some(kind) = json.get("token_type").and_then(|v| v.as_str()) {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(format!("token_type is {:?}, not Bearer", shown(kind)));
        }
    }
    let expires_in = match json.get("expires_in") {
        None | Some(serde_json::Value::Null) => None,
        // Some servers send the number as a string.
        Some(serde_json::Value::String(s)) => Some(s.parse::<i64>().map_err(|_| "bad expires_in")?),
        Some(v) => Some(v.as_i64().ok_or("bad expires_in")?),
    };
    if expires_in.is_some_and(|e| e <= 0) {
        return Err("expires_in is not positive".into());
    }
    Ok((token.to_string(), expires_in))
}

struct Provider {
    path: String,
    watch: bool,
    credentials: Credentials,
    audience: Option<String>,
    agent: ureq::Agent,
}

impl Provider {
    fn token(&mut self) -> Result<(String, Option<i64>), String> {
        if self.watch {
            self.credentials = read_credentials(&self.path)?;
        }
        let c = &self.credentials;
        let url = c.token_url.as_str();
        let form = token_form(c, self.audience.as_deref());
        let result = self
            .agent
            .post(url)
            .header("Authorization", &basic_auth(c))
            .header("Accept", "application/json")
            .send_form(form.iter().map(|(k, v)| (*k, v.as_str())));
        let mut response = result.map_err(|e| format!("token endpoint {url}: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY as u64)
            .read_to_vec()
            .map_err(|e| format!("token endpoint {url}: reading the answer: {e}"))?;
        parse_token_response(status, &body).map_err(|e| format!("token endpoint {url}: {e}"))
    }
}

fn timeout(flags: &PluginFlags) -> Result<Duration, PluginExit> {
    // grepplabs' --timeout is a number of seconds; a duration (10s) works too.
    match flags.get("timeout").map(|t| t.parse::<u64>()) {
        Some(Ok(secs)) => Ok(Duration::from_secs(secs)),
        _ => flags.duration("timeout"),
    }
}

pub fn run(args: Vec<OsString>, input: impl Read, output: impl Write) -> Result<(), PluginExit> {
    let flags = PluginFlags::parse(&OIDC_PROVIDER_PLUGIN, args)?;
    let usage = |m: String| PluginExit::Usage(format!("plugin {OIDC_PROVIDER}: {m}"));
    let path = flags.required("credentials-file")?.to_string();
    let credentials =
        read_credentials(&path).map_err(|e| usage(format!("--credentials-file {e}")))?;
    let watch = !matches!(flags.get("credentials-watch"), Some("false"));
    let timeout = timeout(&flags)?;
    if timeout.is_zero() {
        return Err(usage("--timeout must be greater than 0".into()));
    }
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut provider = Provider {
        path,
        watch,
        credentials,
        audience: flags.get("target-audience").map(str::to_string),
        agent,
    };
    serve(input, output, |request| match request {
        Request::GetToken {} => match provider.token() {
            Ok((token, expires_in)) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                eprintln!("DEBUG new access token, expires in {expires_in:?} s");
                Reply {
                    ok: true,
                    identity: Some(provider.credentials.client_id.clone()),
                    token: Some(token),
                    expires_at: expires_in.map(|e| now.saturating_add(e)),
                    error: None,
                    ..Reply::default()
                }
            }
            Err(e) => {
                eprintln!("ERROR {e}");
                Reply::no(e)
            }
        },
        other => Reply::no(format!(
            "{OIDC_PROVIDER} answers get-token only, not {other:?}"
        )),
    })
    .map_err(|e| PluginExit::Failed(format!("plugin {OIDC_PROVIDER}: {e}")))
}

/// For the fuzz target: the token endpoint's answer, at a status from the first two bytes.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_token_response(data: &[u8]) {
    let [a, b, body @ ..] = data else {
        return;
    };
    let status = 100 + u16::from_be_bytes([*a, *b]) % 500;
    if let Ok((token, expires_in)) = parse_token_response(status, body) {
        assert!(!token.is_empty());
        assert!(!matches!(expires_in, Some(e) if e <= 0));
    }
}

#[cfg(test)]
mod tests;
