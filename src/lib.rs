//! kafka-proxy: a Kafka protocol proxy. Synchronous and blocking by design: one thread per
//! connection direction on `std::net` sockets, so the code reads top to bottom, needs no async
//! runtime, and every socket operation carries its own deadline.
#![forbid(unsafe_code)]

pub mod auth;
pub mod codec;
pub mod config;
// The fuzz targets' entry points: for the fuzz crate in fuzz/ (the `fuzzing` feature, which turns
// on every optional part) and for the unit tests that run every target on its seeds, which need
// every target too. Never in a normal build.
#[cfg(any(
    feature = "fuzzing",
    all(
        test,
        feature = "google-id",
        feature = "ldap",
        feature = "encrypted-keys"
    )
))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod plugin;
pub mod preflight;
pub mod proxy;
pub mod systemd;
pub mod tools;
