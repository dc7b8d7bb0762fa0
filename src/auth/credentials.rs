//! `--sasl-credentials-*`: each authenticated client logs in to the brokers as itself. The
//! client's principal (its local SASL user, or its client certificate's subject) is mapped to
//! upstream credentials by a file ([`file`]) or a plugin (`get-credentials`), looked up for
//! every login and re-authentication on that client's own broker connection. A principal
//! without a mapping is refused: there is no fallback to the proxy's own identity.

pub mod file;

use crate::config::{CredentialsSource, SaslConfig, SaslMethod, Secret};
use crate::plugin::{Plugin, PluginSpec, Request};
use std::fmt;
use std::io;

/// The upstream identity of one principal. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamCredentials {
    /// PLAIN, SCRAM-SHA-256/512 or OAUTHBEARER.
    pub method: SaslMethod,
    /// The upstream user (unused with OAUTHBEARER, whose token names it).
    pub username: String,
    /// The password, or the bearer token.
    pub secret: Secret,
}

impl fmt::Debug for UpstreamCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UpstreamCredentials({:?}, {:?}, ***)",
            self.method, self.username
        )
    }
}

impl UpstreamCredentials {
    /// The proxy's SASL settings with these credentials in place of its own, for `principal`.
    pub fn login_config(&self, base: &SaslConfig, principal: &str) -> SaslConfig {
        SaslConfig {
            method: self.method,
            username: self.username.clone(),
            password: self.secret.clone(),
            jaas_config_file: None,
            mapped_from: Some(principal.to_string()),
            ..base.clone()
        }
    }
}

/// Why a principal has no upstream credentials. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// The source has no mapping for the principal.
    Unmapped,
    /// The mapping exists but its secret cannot be read (a `file:` that is gone, say), or the
    /// plugin failed or said no.
    Failed(String),
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::Unmapped => f.write_str("no upstream credentials are mapped to it"),
            LookupError::Failed(why) => f.write_str(why),
        }
    }
}

/// The running source of `--sasl-credentials-file` or `--sasl-credentials-plugin-command`.
pub enum CredentialStore {
    File(file::CredentialsFile),
    Plugin(Plugin),
}

impl CredentialStore {
    /// Reads the file (it must parse) or starts the plugin.
    pub fn start(source: &CredentialsSource) -> io::Result<CredentialStore> {
        match source {
            CredentialsSource::File(path) => file::CredentialsFile::open(path)
                .map(CredentialStore::File)
                .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why)),
            CredentialsSource::Plugin(config) => {
                let spec = PluginSpec::resolve(
                    "sasl-credentials-plugin",
                    &config.command,
                    &config.params,
                    config.log_level,
                    config.timeout,
                )?;
                Plugin::start(spec).map(CredentialStore::Plugin)
            }
        }
    }

    /// The upstream credentials of `principal`.
    pub fn lookup(&self, principal: &str) -> Result<UpstreamCredentials, LookupError> {
        match self {
            CredentialStore::File(file) => file.lookup(principal),
            CredentialStore::Plugin(plugin) => ask_plugin(plugin, principal),
        }
    }

    /// Where the credentials come from, for log lines.
    pub fn describe(&self) -> String {
        match self {
            CredentialStore::File(file) => {
                format!("--sasl-credentials-file {}", file.path().display())
            }
            CredentialStore::Plugin(plugin) => {
                format!(
                    "--sasl-credentials-plugin-command {}",
                    plugin.spec().program.display()
                )
            }
        }
    }
}

fn ask_plugin(plugin: &Plugin, principal: &str) -> Result<UpstreamCredentials, LookupError> {
    let request = Request::GetCredentials {
        principal: principal.to_string(),
    };
    let reply = plugin
        .call(&request)
        .map_err(|e| LookupError::Failed(format!("the credentials plugin failed: {e}")))?;
    if !reply.ok {
        return match reply.error {
            None => Err(LookupError::Unmapped),
            Some(_) => Err(LookupError::Failed(format!(
                "the credentials plugin said no: {}",
                reply.reason_or("")
            ))),
        };
    }
    let mechanism = reply.mechanism.as_deref().unwrap_or("");
    let method = file::parse_mechanism(mechanism)
        .map_err(|why| LookupError::Failed(format!("the credentials plugin's mechanism: {why}")))?;
    let Some(secret) = reply.token.filter(|t| !t.is_empty()) else {
        return Err(LookupError::Failed(
            "the credentials plugin answered without a token (the password or bearer token)".into(),
        ));
    };
    let username = reply.identity.unwrap_or_default();
    if username.is_empty() && method != SaslMethod::OAuthBearer {
        return Err(LookupError::Failed(
            "the credentials plugin answered without an identity (the upstream user)".into(),
        ));
    }
    Ok(UpstreamCredentials {
        method,
        username,
        secret: Secret(secret),
    })
}
