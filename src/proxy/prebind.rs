//! `--deterministic-listeners`: the dynamic listeners of every broker are bound at startup,
//! before the proxy reports ready, instead of when a client first asks for metadata. A new
//! process of an upgrade (README, "Upgrading without refusing a connection") then listens on
//! every port the old one advertised before the old one stops, so a client that reconnects to a
//! broker's port finds it open. The brokers come from one Metadata request (no topics) to the
//! first bootstrap broker, over a connection set up as a client's is (dial, TLS, gateway, SASL),
//! and the response goes through the same address mapping as a client's, which binds the
//! listeners. Best effort: a broker that cannot be reached is logged, and its listeners are
//! bound when clients ask, as without this.

use super::connection::{dial_broker, login_to_broker, secure_broker};
use super::{Proxy, ProxyMapper};
use crate::codec::api::ApiKey;
use crate::codec::rewrite::rewrite_response;
use crate::config::DynamicPorts;
use std::sync::Arc;

/// Metadata v1 with an empty topic array: the brokers and no topic.
const METADATA_VERSION: i16 = 1;
const NO_TOPICS: [u8; 4] = 0i32.to_be_bytes();

/// Whether the configuration binds the dynamic listeners at startup.
pub fn wanted(proxy: &Proxy) -> bool {
    !proxy.config.dynamic_listeners_disable
        && matches!(
            proxy.config.dynamic_ports,
            DynamicPorts::Deterministic { .. }
        )
}

/// Binds the dynamic listener of every broker the first bootstrap broker's metadata names;
/// returns how many listeners the proxy has beyond its bootstrap ones.
pub fn bind_dynamic_listeners(proxy: &Arc<Proxy>) -> Result<usize, String> {
    let config = &proxy.config;
    let broker = &config
        .bootstrap_mappings
        .first()
        .ok_or("no bootstrap mapping")?
        .broker;
    let failed = |e: &dyn std::fmt::Display| format!("broker {broker}: {e}");
    if proxy.auth.credentials.is_some() {
        return Err(failed(
            &"each client logs in with its own credentials (--sasl-credentials-*), so the proxy \
              has no login of its own to ask for metadata with",
        ));
    }
    let tunnel = dial_broker(proxy, broker, config.kafka.dial_timeout).map_err(|e| failed(&e))?;
    let mut stream = secure_broker(proxy, tunnel, broker).map_err(|e| failed(&e))?;
    login_to_broker(proxy, &mut stream, broker, None).map_err(|e| failed(&e))?;
    let body = crate::auth::upstream::round_trip(
        &mut stream,
        ApiKey::METADATA,
        METADATA_VERSION,
        &NO_TOPICS,
        &config.kafka.client_id,
        config.kafka.read_timeout,
    )
    .map_err(|e| failed(&e))?;
    let mut rewritten = Vec::new();
    rewrite_response(
        ApiKey::METADATA,
        METADATA_VERSION,
        &body,
        &mut ProxyMapper {
            proxy,
            via_sni: false,
        },
        &mut rewritten,
    )
    .map_err(|e| failed(&e))?;
    Ok(proxy
        .listeners()
        .len()
        .saturating_sub(config.bootstrap_mappings.len()))
}
