//! The gateway handshake between two proxies, byte-compatible with grepplabs/kafka-proxy.
//!
//! Before any Kafka bytes, the gateway client (a proxy dialing another proxy) sends
//!
//! ```text
//! magic: u64 big-endian | length: u32 big-endian | method | 0x00 | token
//! ```
//!
//! where `length` counts the bytes after it (method, the NUL and the token). The gateway server
//! checks the magic, the length (at most [`MAX_GATEWAY_PAYLOAD`]), that the payload is exactly
//! `method NUL token` with its own method, and the token with its token-info plugin; then it
//! answers four zero bytes, or closes the connection. Both sides bound the exchange with their
//! `--auth-gateway-*-timeout`. A token the plugin refuses delays the next check from the client's
//! address (`--auth-failure-delay`, see [`crate::auth::throttle`]).
//!
//! The client takes its token from a token-provider plugin (`get-token`) and reuses it until
//! [`REFRESH_BEFORE_EXPIRY`] before the `expires_at` the plugin gave (or for
//! [`TOKEN_TTL_WITHOUT_EXPIRY`] when it gave none). Tokens are never logged; the verified
//! identity is.

use super::local::{read_exact_by, write_all_by};
use super::throttle::{FailureDelay, Throttled};
use crate::config::{GatewayConfig, HostPort};
use crate::net::frame::{ConnError, Side};
use crate::net::stream::Stream;
use crate::plugin::{Plugin, PluginSpec, Request};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The largest `length` a gateway server accepts: a Google ID token is about 1 KiB; this leaves
/// room for any real token while bounding what an unauthenticated peer makes the proxy read.
pub const MAX_GATEWAY_PAYLOAD: usize = 64 * 1024;
/// A cached token is replaced this long before it expires.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(60);
/// How long a token without `expires_at` is reused.
pub const TOKEN_TTL_WITHOUT_EXPIRY: Duration = Duration::from_secs(60);

/// Gateway handshakes accepted and refused by the server side, for the metrics endpoint.
pub static GATEWAY_AUTH_SUCCEEDED: AtomicU64 = AtomicU64::new(0);
pub static GATEWAY_AUTH_FAILED: AtomicU64 = AtomicU64::new(0);

/// The bytes a gateway client sends: magic, length, method, NUL, token.
pub fn encode_handshake(magic: u64, method: &str, token: &str) -> Vec<u8> {
    let length = method.len() + 1 + token.len();
    let mut out = Vec::with_capacity(12 + length);
    out.extend_from_slice(&magic.to_be_bytes());
    // Callers check the length against MAX_GATEWAY_PAYLOAD first; saturate rather than wrap.
    out.extend_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(method.as_bytes());
    out.push(0);
    out.extend_from_slice(token.as_bytes());
    out
}

/// Splits a handshake payload into method and token: exactly one NUL, both sides UTF-8, the
/// token not empty.
pub fn parse_payload(payload: &[u8]) -> Result<(&str, &str), &'static str> {
    let mut parts = payload.split(|&b| b == 0);
    let (Some(method), Some(token), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("the payload is not `method NUL token` (expected exactly one NUL)");
    };
    let method = std::str::from_utf8(method).map_err(|_| "the method is not UTF-8")?;
    let token = std::str::from_utf8(token).map_err(|_| "the token is not UTF-8")?;
    if token.is_empty() {
        return Err("the token is empty");
    }
    Ok((method, token))
}

fn start_plugin(role: &str, config: &GatewayConfig) -> io::Result<Plugin> {
    if config.method.is_empty() || config.method.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--{role}-method must be a non-empty name without NUL"),
        ));
    }
    let spec = PluginSpec::resolve(
        role,
        &config.command,
        &config.params,
        config.log_level,
        config.timeout,
    )?;
    Plugin::start(spec)
}

/// The server side (`--auth-gateway-server-*`): verifies the handshake of each client.
pub struct GatewayServer {
    plugin: Plugin,
    method: String,
    magic: u64,
    timeout: Duration,
}

impl GatewayServer {
    pub fn start(config: &GatewayConfig) -> io::Result<GatewayServer> {
        Ok(GatewayServer {
            plugin: start_plugin("auth-gateway-server", config)?,
            method: config.method.clone(),
            magic: config.magic,
            timeout: config.timeout,
        })
    }

    /// Reads and checks the client's handshake, answers four zero bytes, and returns the
    /// verified identity. On `Err` the caller closes the connection without a byte more.
    /// `failures` delays the check after failures from the client's address.
    pub fn accept(
        &self,
        client: &mut Stream,
        peer: SocketAddr,
        failures: &FailureDelay,
    ) -> Result<String, ConnError> {
        let result = self.check(client, peer, failures);
        match &result {
            Ok(identity) => {
                GATEWAY_AUTH_SUCCEEDED.fetch_add(1, Ordering::Relaxed);
                log::info!(
                    "gateway client {peer} authenticated as \"{}\"",
                    crate::logging::peer_text(identity)
                );
            }
            Err(ConnError::Closed(_)) => {}
            Err(_) => {
                GATEWAY_AUTH_FAILED.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    fn check(
        &self,
        client: &mut Stream,
        peer: SocketAddr,
        failures: &FailureDelay,
    ) -> Result<String, ConnError> {
        let deadline = Instant::now() + self.timeout;
        let refused = |why: String| ConnError::Refused(format!("gateway handshake refused: {why}"));
        let mut head = [0u8; 12];
        read_exact_by(client, &mut head, deadline, Side::Client, true).map_err(|e| match e {
            // Nothing sent at all (a port check): an ordinary close, not a refusal.
            ConnError::Closed(side) => ConnError::Closed(side),
            ConnError::ClosedMidFrame(_) => {
                refused("closed the connection before sending a complete handshake".into())
            }
            ConnError::Timeout(..) => refused(format!(
                "no complete handshake within {:?} (--auth-gateway-server-timeout)",
                self.timeout
            )),
            other => other,
        })?;
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&head[..8]);
        let magic = u64::from_be_bytes(magic);
        if magic != self.magic {
            return Err(refused(format!(
                "wrong magic {magic:#x} (--auth-gateway-server-magic is {:#x}); is the peer a \
                 gateway client?",
                self.magic
            )));
        }
        let length = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
        if length > MAX_GATEWAY_PAYLOAD {
            return Err(refused(format!(
                "handshake length {length} is more than the {MAX_GATEWAY_PAYLOAD} bytes accepted"
            )));
        }
        let mut payload = vec![0u8; length];
        read_exact_by(client, &mut payload, deadline, Side::Client, false).map_err(
            |e| match e {
                ConnError::Closed(_) | ConnError::ClosedMidFrame(_) => refused(format!(
                    "closed the connection in the middle of a {length}-byte handshake payload"
                )),
                ConnError::Timeout(..) => refused(format!(
                    "the {length}-byte handshake payload did not arrive within {:?}",
                    self.timeout
                )),
                other => other,
            },
        )?;
        let (method, token) = parse_payload(&payload).map_err(|why| refused(why.into()))?;
        if method != self.method {
            return Err(refused(format!(
                "method \"{}\", expected {:?} (--auth-gateway-server-method)",
                crate::logging::peer_text(method),
                self.method
            )));
        }
        // Outside the plugin's queue: waiting here holds up no other client.
        failures
            .wait_turn(peer.ip(), deadline)
            .map_err(|e| match e {
                Throttled::TooSoon(wait) => refused(format!(
                    "after failed handshakes from {}, its next check is {wait:.1?} away, past \
                     --auth-gateway-server-timeout; refused without a check \
                     (--auth-failure-delay)",
                    crate::net::source_of(peer.ip())
                )),
                Throttled::Stopping => refused("the proxy is shutting down".into()),
            })?;
        let reply = self
            .plugin
            .call(&Request::VerifyToken {
                token: token.to_string(),
            })
            .map_err(|e| refused(format!("the token could not be checked: plugin: {e}")))?;
        if !reply.ok {
            failures.failed(peer.ip());
            return Err(refused(format!(
                "token rejected: {}",
                reply.reason_or("no reason given")
            )));
        }
        let identity = reply.identity.unwrap_or_else(|| "(unnamed)".into());
        write_all_by(client, &[0, 0, 0, 0], deadline, Side::Client)?;
        Ok(identity)
    }
}

struct CachedToken {
    token: String,
    reuse_until: SystemTime,
}

/// The client side (`--auth-gateway-client-*`): proves the proxy's identity to a gateway
/// server on every broker connection.
pub struct GatewayClient {
    plugin: Plugin,
    method: String,
    magic: u64,
    timeout: Duration,
    cached: Mutex<Option<CachedToken>>,
}

impl GatewayClient {
    pub fn start(config: &GatewayConfig) -> io::Result<GatewayClient> {
        Ok(GatewayClient {
            plugin: start_plugin("auth-gateway-client", config)?,
            method: config.method.clone(),
            magic: config.magic,
            timeout: config.timeout,
            cached: Mutex::new(None),
        })
    }

    /// A token: the cached one while it is fresh, else a new one from the plugin.
    pub fn token(&self) -> Result<String, String> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        let now = SystemTime::now();
        if let Some(c) = cached.as_ref() {
            if now < c.reuse_until {
                return Ok(c.token.clone());
            }
        }
        let reply = self
            .plugin
            .call(&Request::GetToken {})
            .map_err(|e| format!("no token from the plugin: {e}"))?;
        if !reply.ok {
            return Err(format!(
                "the plugin gave no token: {}",
                reply.reason_or("no reason given")
            ));
        }
        let token = reply.token.unwrap_or_default();
        if token.is_empty() || token.contains('\0') {
            return Err("the plugin's token is empty or contains NUL".into());
        }
        if self.method.len() + 1 + token.len() > MAX_GATEWAY_PAYLOAD {
            return Err(format!(
                "the plugin's token is longer than a gateway server accepts ({MAX_GATEWAY_PAYLOAD} bytes)"
            ));
        }
        let reuse_until = match reply.expires_at {
            Some(at) => {
                let expiry = UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0));
                expiry
                    .checked_sub(REFRESH_BEFORE_EXPIRY)
                    .unwrap_or(UNIX_EPOCH)
            }
            None => now + TOKEN_TTL_WITHOUT_EXPIRY,
        };
        *cached = Some(CachedToken {
            token: token.clone(),
            reuse_until,
        });
        Ok(token)
    }

    /// Runs the handshake on a fresh connection to `server`; `Ok` once it answered four zero
    /// bytes.
    pub fn connect(&self, upstream: &mut Stream, server: &HostPort) -> Result<(), ConnError> {
        let refused = |why: String| ConnError::Refused(format!("gateway server {server}: {why}"));
        let token = self.token().map_err(&refused)?;
        let deadline = Instant::now() + self.timeout;
        let hello = encode_handshake(self.magic, &self.method, &token);
        write_all_by(upstream, &hello, deadline, Side::Broker)?;
        let mut answer = [0u8; 4];
        read_exact_by(upstream, &mut answer, deadline, Side::Broker, true).map_err(
            |e| match e {
                ConnError::Closed(_) | ConnError::ClosedMidFrame(_) => refused(
                    "refused the handshake (closed the connection; its log says why)".into(),
                ),
                ConnError::Timeout(..) => refused(format!(
                    "no answer to the handshake within {:?} (--auth-gateway-client-timeout)",
                    self.timeout
                )),
                other => other,
            },
        )?;
        if answer != [0, 0, 0, 0] {
            return Err(refused(format!(
                "answered {answer:02x?} instead of four zero bytes: not a gateway server?"
            )));
        }
        log::debug!("gateway handshake with {server} accepted");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_bytes_layout() {
        let bytes = encode_handshake(0x0102_0304_0506_0708, "google-id", "tok");
        let mut want = vec![1, 2, 3, 4, 5, 6, 7, 8];
        want.extend_from_slice(&13u32.to_be_bytes()); // "google-id" (9) + NUL + "tok" (3)
        want.extend_from_slice(b"google-id\0tok");
        assert_eq!(bytes, want);
        assert_eq!(
            bytes,
            [
                0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00, 0x00, 0x0d, b'g', b'o',
                b'o', b'g', b'l', b'e', b'-', b'i', b'd', 0x00, b't', b'o', b'k'
            ]
        );
        assert_eq!(parse_payload(&bytes[12..]), Ok(("google-id", "tok")));
    }

    #[test]
    fn payload_checks() {
        assert!(parse_payload(b"m").is_err());
        assert!(parse_payload(b"m\0").is_err());
        assert!(parse_payload(b"m\0a\0b").is_err());
        assert!(parse_payload(b"m\xff\0a").is_err());
        assert!(parse_payload(b"m\0\xff").is_err());
        assert_eq!(parse_payload(b"\0t"), Ok(("", "t")));
    }
}
