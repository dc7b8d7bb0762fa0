//! Authentication: local SASL (the proxy authenticates clients with a password plugin), the
//! gateway handshake between two proxies, and upstream SASL (the proxy logs in to brokers:
//! PLAIN, SCRAM-SHA-256/512, KIP-368 re-authentication) with the SCRAM client it uses, and the
//! delay that failed authentications put on their source address.

pub mod aws;
pub mod client_sasl;
pub mod credentials;
pub mod gateway;
#[cfg(feature = "gssapi")]
pub mod kerberos;
pub mod local;
pub mod oauthbearer;
pub mod plugins;
pub mod sasl_plugin;
pub mod scram;
pub mod throttle;
pub mod upstream;
