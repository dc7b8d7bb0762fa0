//! The per-process ticket cache: the TGT and one service ticket per broker SPN, each used
//! until shortly before it ends. Bounded: expired entries go first, then the oldest.

use super::client::{now, Credential};
use crate::config::gssapi::GssapiConfig;
use std::sync::Mutex;

/// A cached ticket is used until this many seconds before it ends.
const RENEW_MARGIN_SECS: i64 = 300;
/// Cached tickets: one TGT and one ticket per broker SPN.
const MAX_CACHED: usize = 1024;

static CACHE: Mutex<Vec<(String, Credential)>> = Mutex::new(Vec::new());

/// The ticket of `client` for `service`, unless it ends within the renewal margin.
pub fn cached(client: &str, service: &str) -> Option<Credential> {
    let key = format!("{client} {service}");
    let cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let now = now().0;
    cache
        .iter()
        .find(|(k, c)| *k == key && c.endtime - RENEW_MARGIN_SECS > now)
        .map(|(_, c)| c.clone())
}

/// Drops the cached ticket for `spn`: a login with it failed, and the broker's key may have
/// changed since the KDC issued it (the next login asks the KDC again).
pub fn forget(config: &GssapiConfig, spn: &str) {
    remove(
        &config.client_principal(),
        &format!("{spn}@{}", config.realm),
    );
}

/// Drops the cached ticket of `client` for `service` (a full principal name).
pub fn remove(client: &str, service: &str) {
    let key = format!("{client} {service}");
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(k, _)| *k != key);
}

/// Caches `credential`, a ticket of `client` for `service`.
pub fn store(client: &str, service: &str, credential: &Credential) {
    let key = format!("{client} {service}");
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let now = now().0;
    cache.retain(|(k, c)| *k != key && c.endtime - RENEW_MARGIN_SECS > now);
    if cache.len() >= MAX_CACHED {
        cache.remove(0);
    }
    cache.push((key, credential.clone()));
}
