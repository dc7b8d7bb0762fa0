//! `--gssapi-*`: the settings of `--sasl-method GSSAPI` (Kerberos login to brokers), as in
//! grepplabs 0.4.3. The values are parsed here; [`check`] runs from `finish` only when
//! `--sasl-enable` and `--sasl-method GSSAPI` are both set.

use std::path::PathBuf;

use super::value::Reason;
use super::Secret;

/// `--gssapi-auth-type`: where the client principal's key comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GssapiAuthType {
    /// `--gssapi-keytab`.
    #[default]
    Keytab,
    /// `--gssapi-password` (the key is derived from it with the KDC's salt).
    User,
}

/// The most entries `--gssapi-spn-host-mapping` takes: a mapping is one entry per broker.
pub const MAX_SPN_MAPPINGS: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GssapiConfig {
    pub auth_type: GssapiAuthType,
    pub keytab: Option<PathBuf>,
    /// `--gssapi-krb5`: the realm's KDCs and the enctypes come from this file.
    pub krb5_conf: PathBuf,
    pub password: Secret,
    pub realm: String,
    pub service_name: String,
    pub username: String,
    /// `--gssapi-spn-host-mapping`: broker address (`host:port` or `host`) to SPN host, in
    /// the order given; a later entry for the same address wins.
    pub spn_host_mapping: Vec<(String, String)>,
    pub disable_pa_fx_fast: bool,
}

impl Default for GssapiConfig {
    /// The flags' defaults.
    fn default() -> Self {
        GssapiConfig {
            auth_type: GssapiAuthType::Keytab,
            keytab: None,
            krb5_conf: PathBuf::from("/etc/krb5.conf"),
            password: Secret::default(),
            realm: String::new(),
            service_name: "kafka".into(),
            username: "kafka".into(),
            spn_host_mapping: Vec::new(),
            disable_pa_fx_fast: false,
        }
    }
}

impl GssapiConfig {
    /// The broker's service principal name, `service/host`: the host is the mapping's for the
    /// broker address (`host:port` first, then the host alone), or else the address's host.
    pub fn spn(&self, broker_addr: &str) -> String {
        let host = split_host(broker_addr);
        let mapped = self
            .spn_host_mapping
            .iter()
            .rev()
            .find(|(k, _)| k == broker_addr)
            .or_else(|| self.spn_host_mapping.iter().rev().find(|(k, _)| k == host))
            .map(|(_, v)| v.as_str());
        format!("{}/{}", self.service_name, mapped.unwrap_or(host))
    }

    /// Where the client principal's key comes from, for messages: `keytab PATH` or the
    /// password flag.
    pub fn key_source(&self) -> String {
        match (&self.auth_type, &self.keytab) {
            (GssapiAuthType::Keytab, Some(path)) => format!("keytab {}", path.display()),
            _ => "--gssapi-password".into(),
        }
    }

    /// The client principal, `username@REALM`.
    pub fn client_principal(&self) -> String {
        format!("{}@{}", self.username, self.realm)
    }
}

/// The host of `host:port`, `[v6]:port` or a bare host.
fn split_host(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => addr,
    }
}

/// `--gssapi-auth-type`: KEYTAB or USER, any case.
pub fn parse_auth_type(s: &str) -> Result<GssapiAuthType, Reason> {
    match s.trim().to_ascii_uppercase().as_str() {
        "KEYTAB" => Ok(GssapiAuthType::Keytab),
        "USER" => Ok(GssapiAuthType::User),
        _ => Err("expected KEYTAB or USER".into()),
    }
}

/// `--gssapi-spn-host-mapping` (pflag's stringToString): `a=b,c=d`, each key non-empty.
pub fn parse_spn_mapping(s: &str) -> Result<Vec<(String, String)>, Reason> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(format!("{item:?} is not ADDRESS=HOST"));
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() || v.contains('/') || v.contains('@') {
            return Err(format!("{item:?} is not ADDRESS=HOST"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    if out.len() > MAX_SPN_MAPPINGS {
        return Err(format!("more than {MAX_SPN_MAPPINGS} entries"));
    }
    Ok(out)
}

/// The cross-flag checks of `--sasl-method GSSAPI`: the flag to blame and why.
pub fn check(c: &GssapiConfig) -> Result<(), (&'static str, String)> {
    if c.realm.trim().is_empty() {
        return Err((
            "gssapi-realm",
            "is required with --sasl-method GSSAPI".into(),
        ));
    }
    if c.username.trim().is_empty() {
        return Err(("gssapi-username", "must not be empty".into()));
    }
    if c.service_name.trim().is_empty() || c.service_name.contains('/') {
        return Err((
            "gssapi-servicename",
            "must be a non-empty name without '/'".into(),
        ));
    }
    match c.auth_type {
        GssapiAuthType::Keytab => {
            let Some(path) = &c.keytab else {
                return Err((
                    "gssapi-keytab",
                    "is required with --gssapi-auth-type KEYTAB".into(),
                ));
            };
            readable("gssapi-keytab", path)?;
        }
        GssapiAuthType::User if c.password.expose().is_empty() => {
            return Err((
                "gssapi-password",
                "is required with --gssapi-auth-type USER".into(),
            ));
        }
        GssapiAuthType::User => {}
    }
    readable("gssapi-krb5", &c.krb5_conf)
}

fn readable(flag: &'static str, path: &std::path::Path) -> Result<(), (&'static str, String)> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| (flag, format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests;
