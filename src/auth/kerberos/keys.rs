//! The client principal's long-term key: from the keytab (KEYTAB) or derived from the
//! password with the KDC's enctype, salt and iteration count (USER).

use super::client::Principal;
use super::crypto::{self, Key};
use super::keytab;
use super::messages as m;
use crate::config::gssapi::{GssapiAuthType, GssapiConfig};

/// The key from `--gssapi-keytab` in KEYTAB mode.
pub fn from_keytab(config: &GssapiConfig) -> Result<Option<Key>, String> {
    let (GssapiAuthType::Keytab, Some(path)) = (&config.auth_type, &config.keytab) else {
        return Ok(None);
    };
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(keytab::MAX_KEYTAB as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| {
            format!(
                "cannot read keytab {} (--gssapi-keytab): {e}",
                path.display()
            )
        })?;
    let entries = keytab::parse(&bytes)
        .map_err(|e| format!("keytab {} (--gssapi-keytab): {e}", path.display()))?;
    keytab::key_for(&entries, &config.client_principal())
        .map(Some)
        .map_err(|e| format!("keytab {} (--gssapi-keytab): {e}", path.display()))
}

/// The password's key for the KDC's enctype and salt (`etype`: the reply's, when the KDC
/// required no pre-authentication).
pub fn from_password(
    config: &GssapiConfig,
    client: &Principal<'_>,
    info: &[m::EtypeInfo2],
    etype: Option<i32>,
) -> Result<Key, String> {
    let entry = info.iter().find(|i| {
        crypto::Enctype::from_number(i.etype).is_some() && etype.map_or(true, |e| e == i.etype)
    });
    let enctype = entry
        .map(|i| i.etype)
        .or(etype)
        .and_then(crypto::Enctype::from_number)
        .ok_or_else(|| {
            format!(
                "the KDC offers {} no AES enctype (this proxy supports aes256-cts-hmac-sha1-96 \
                 and aes128-cts-hmac-sha1-96 only)",
                config.client_principal()
            )
        })?;
    let default_salt = format!("{}{}", client.realm, client.parts.concat());
    let salt = entry.and_then(|i| i.salt.clone()).unwrap_or(default_salt);
    let iterations = entry
        .map(m::EtypeInfo2::iterations)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or(crypto::DEFAULT_ITERATIONS);
    let bytes = crypto::string_to_key(
        enctype,
        config.password.expose().as_bytes(),
        salt.as_bytes(),
        iterations,
    )?;
    Key::new(enctype as i32, &bytes).ok_or_else(|| "string-to-key gave a bad key".to_string())
}
