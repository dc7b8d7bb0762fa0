//! `--sasl-plugin-enable`: the upstream SASL credentials come from a token-provider plugin (the
//! plugin protocol's `get-token`), for OAUTHBEARER (the reply's `token` is the bearer token) or
//! PLAIN (`identity` is the user name, `token` the password).
//!
//! One provider serves every broker connection. Its answer is cached: reused for half the
//! lifetime its `expires_at` gives (counted from when it arrived), or for
//! [`TTL_WITHOUT_EXPIRY`] without one. Half, not "until a minute before": a broker session
//! ends when the token expires (Kafka's session lifetime is the token's remaining lifetime,
//! capped by `connections.max.reauth.ms`), and the proxy re-authenticates at 85% of the
//! session, by which time the cached answer is always stale, so each re-authentication carries
//! a fresh token however short the tokens live. Calls to the plugin are bounded by its timeout
//! (`--sasl-plugin-timeout`); callers waiting on the cache's lock wait at most for one such call.

use super::oauthbearer::OAuthBearerClient;
use crate::config::{SaslPluginConfig, SaslPluginMechanism};
use crate::plugin::{Plugin, PluginSpec, Request};
use std::io;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long an answer without `expires_at` is reused.
pub const TTL_WITHOUT_EXPIRY: Duration = Duration::from_secs(60);

/// The credentials of one login.
#[derive(Clone)]
pub struct PluginCredentials {
    /// The reply's `identity` (PLAIN: the user name).
    pub identity: Option<String>,
    pub token: String,
}

impl std::fmt::Debug for PluginCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PluginCredentials({:?}, ***)", self.identity)
    }
}

struct Cached {
    credentials: PluginCredentials,
    reuse_until: SystemTime,
}

/// The running token provider of `--sasl-plugin-command`.
pub struct SaslTokenProvider {
    plugin: Plugin,
    mechanism: SaslPluginMechanism,
    cached: Mutex<Option<Cached>>,
}

/// When an answer that arrived at `received` stops being reused.
pub fn reuse_until(received: SystemTime, expires_at: Option<i64>) -> SystemTime {
    let Some(at) = expires_at else {
        return received + TTL_WITHOUT_EXPIRY;
    };
    let expiry = UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0));
    match expiry.duration_since(received) {
        Ok(left) => received + left / 2,
        Err(_) => received,
    }
}

impl SaslTokenProvider {
    pub fn start(config: &SaslPluginConfig) -> io::Result<SaslTokenProvider> {
        let spec = PluginSpec::resolve(
            "sasl-plugin",
            &config.command,
            &config.params,
            config.log_level,
            config.timeout,
        )?;
        Ok(SaslTokenProvider {
            plugin: Plugin::start(spec)?,
            mechanism: config.mechanism,
            cached: Mutex::new(None),
        })
    }

    pub fn mechanism(&self) -> SaslPluginMechanism {
        self.mechanism
    }

    /// What a failed login should make the operator check.
    pub fn hint(&self) -> String {
        format!(
            "check the credentials the token provider --sasl-plugin-command ({}) gives",
            self.plugin.spec().program.display()
        )
    }

    /// The cached credentials while fresh, else new ones from the plugin. `Err` says why there
    /// are none (never with a token).
    pub fn credentials(&self) -> Result<PluginCredentials, String> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        let now = SystemTime::now();
        if let Some(c) = cached.as_ref().filter(|c| now < c.reuse_until) {
            return Ok(c.credentials.clone());
        }
        let reply = self
            .plugin
            .call(&Request::GetToken {})
            .map_err(|e| format!("no token from --sasl-plugin-command: {e}"))?;
        if !reply.ok {
            return Err(format!(
                "--sasl-plugin-command gave no token: {}",
                reply.reason_or("no reason given")
            ));
        }
        let received = SystemTime::now();
        if let Some(at) = reply.expires_at {
            let expiry = UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0));
            if expiry <= received {
                return Err(format!(
                    "--sasl-plugin-command gave a token that expired already (expires_at {at})"
                ));
            }
        }
        let credentials = PluginCredentials {
            identity: reply.identity,
            token: reply.token.unwrap_or_default(),
        };
        let until = reuse_until(received, reply.expires_at);
        log::debug!(
            "new SASL credentials from --sasl-plugin-command{}; reused for {:?}",
            credentials
                .identity
                .as_deref()
                .map(|i| format!(" for \"{}\"", crate::logging::peer_text(i)))
                .unwrap_or_default(),
            until.duration_since(received).unwrap_or_default()
        );
        *cached = Some(Cached {
            credentials: credentials.clone(),
            reuse_until: until,
        });
        Ok(credentials)
    }

    /// The OAUTHBEARER client for the next login.
    pub fn oauthbearer(&self) -> Result<OAuthBearerClient, String> {
        let credentials = self.credentials()?;
        OAuthBearerClient::new(&credentials.token)
            .map_err(|why| format!("--sasl-plugin-command's token cannot be sent: {why}"))
    }

    /// The PLAIN token (`\0user\0password`) for the next login.
    pub fn plain_token(&self) -> Result<Vec<u8>, String> {
        let credentials = self.credentials()?;
        let user = credentials.identity.unwrap_or_default();
        let password = credentials.token;
        if user.is_empty() || password.is_empty() {
            return Err(
                "--sasl-plugin-mechanism PLAIN needs the plugin's reply to name the user \
                        (identity) and carry the password (token)"
                    .into(),
            );
        }
        if user.contains('\0') || password.contains('\0') {
            return Err("a PLAIN user name or password cannot contain a NUL character".into());
        }
        let mut token = Vec::with_capacity(2 + user.len() + password.len());
        token.push(0);
        token.extend_from_slice(user.as_bytes());
        token.push(0);
        token.extend_from_slice(password.as_bytes());
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn reuse_for_half_the_lifetime() {
        // An hour-long token: reused for 30 minutes.
        assert_eq!(reuse_until(at(1000), Some(4600)), at(2800));
        // A 6 s token: reused for 3 s, so a re-authentication at 85% of its session gets a
        // new one.
        assert_eq!(reuse_until(at(1000), Some(1006)), at(1003));
        assert_eq!(
            reuse_until(at(1000) + Duration::from_millis(500), Some(1006)),
            at(1003) + Duration::from_millis(250)
        );
        // Expired or negative: not reused.
        assert_eq!(reuse_until(at(1000), Some(999)), at(1000));
        assert_eq!(reuse_until(at(1000), Some(-5)), at(1000));
        assert_eq!(reuse_until(at(1000), None), at(1060));
    }

    /// A re-authentication at 85% of any session that started while the token was reused
    /// comes after the token stopped being reused.
    #[test]
    fn reauthentication_always_finds_the_cache_stale() {
        for lifetime in [2u64, 6, 60, 3600] {
            let received = at(10_000);
            let expiry = at(10_000 + lifetime);
            let until = reuse_until(received, Some(10_000 + lifetime as i64));
            let mut login = received;
            while login < until {
                let session = expiry.duration_since(login).unwrap();
                let reauth = login + session * 85 / 100;
                assert!(reauth >= until, "lifetime {lifetime}: login {login:?}");
                login += Duration::from_millis(100);
            }
        }
    }

    fn script_plugin(dir: &std::path::Path, reply: &str) -> SaslPluginConfig {
        let script = dir.join("plugin.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nn=0\nwhile read -r line; do n=$((n+1)); echo \"call $n\" >> {}/calls; \
                 echo \"{{\\\"id\\\":$n,{reply}}}\"; done\n",
                dir.display()
            ),
        )
        .unwrap();
        std::process::Command::new("chmod")
            .args(["+x", script.to_str().unwrap()])
            .status()
            .unwrap();
        SaslPluginConfig {
            command: script.display().to_string(),
            params: Vec::new(),
            log_level: log::LevelFilter::Off,
            timeout: Duration::from_secs(5),
            mechanism: SaslPluginMechanism::OAuthBearer,
        }
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sasl-plugin-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn credentials_are_cached_and_checked() {
        let dir = temp_dir("cache");
        let far = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let reply = format!(
            "\\\"ok\\\":true,\\\"identity\\\":\\\"svc\\\",\\\"token\\\":\\\"abc.def.\\\",\\\"expires_at\\\":{far}"
        );
        let provider = SaslTokenProvider::start(&script_plugin(&dir, &reply)).unwrap();
        for _ in 0..5 {
            let c = provider.credentials().unwrap();
            assert_eq!(c.token, "abc.def.");
            assert_eq!(c.identity.as_deref(), Some("svc"));
        }
        let calls = std::fs::read_to_string(dir.join("calls")).unwrap();
        assert_eq!(calls.lines().count(), 1, "one plugin call for five logins");
        assert_eq!(provider.plain_token().unwrap(), b"\0svc\0abc.def.");
        assert!(provider.oauthbearer().is_ok());
        assert!(!format!("{:?}", provider.credentials().unwrap()).contains("abc"));

        let dir = temp_dir("expired");
        let reply = "\\\"ok\\\":true,\\\"token\\\":\\\"abc\\\",\\\"expires_at\\\":1000";
        let provider = SaslTokenProvider::start(&script_plugin(&dir, reply)).unwrap();
        let err = provider.credentials().unwrap_err();
        assert!(err.contains("expired already"), "{err}");

        let dir = temp_dir("refused");
        let reply = "\\\"ok\\\":false,\\\"error\\\":\\\"idp down\\\"";
        let provider = SaslTokenProvider::start(&script_plugin(&dir, reply)).unwrap();
        let err = provider.credentials().unwrap_err();
        assert!(err.contains("idp down"), "{err}");

        let dir = temp_dir("noident");
        let reply = "\\\"ok\\\":true,\\\"token\\\":\\\"pw\\\"";
        let provider = SaslTokenProvider::start(&script_plugin(&dir, reply)).unwrap();
        assert!(provider.plain_token().unwrap_err().contains("identity"));
        let dir = temp_dir("badtoken");
        let reply = "\\\"ok\\\":true,\\\"token\\\":\\\"a b\\\"";
        let provider = SaslTokenProvider::start(&script_plugin(&dir, reply)).unwrap();
        assert!(provider.oauthbearer().unwrap_err().contains("b64token"));
    }
}
