//! Authentication: local SASL (the proxy authenticates clients with a password plugin), the
//! gateway handshake between two proxies, and upstream SASL (the proxy logs in to brokers).

pub mod gateway;
pub mod local;
pub mod plugins;
