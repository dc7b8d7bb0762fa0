//! Authentication: local SASL (the proxy authenticates clients with a password plugin), the
//! gateway handshake between two proxies, and upstream SASL (the proxy logs in to brokers:
//! PLAIN, SCRAM-SHA-256/512, KIP-368 re-authentication) with the SCRAM client it uses.

pub mod gateway;
pub mod local;
pub mod plugins;
pub mod scram;
pub mod upstream;
