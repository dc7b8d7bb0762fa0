//! End-to-end tests against Apache Kafka 4.x, the reference broker: real KRaft brokers (one
//! node, or a 3-node cluster) started from the jars scripts/test.sh resolves from Maven Central,
//! the real kafka-proxy binary, and real clients: the Java client, franz-go, confluent-kafka
//! (librdkafka), kafka-python 3, KafkaJS 2 and Debian's kafka-python 2.0.2. Each scenario runs
//! directly against the brokers and through the proxy, and the results must match. The brokers
//! advertise `broker-<id>.invalid` names to the proxy, so an address it fails to rewrite makes
//! the client fail instead of silently bypassing it.
//!
//! Run with `scripts/test.sh` (or `cargo test --test kafka` once it has installed the tools).

#[allow(dead_code)]
#[path = "../e2e/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../e2e/json.rs"]
mod json;

mod certs;
mod cluster;
mod drivers;
mod kdc;
mod kproxy;
mod tools;

mod connect;
mod gssapi;
mod identity;
mod leadership;
mod legacy;
mod local_oauth;
mod metadata;
mod oauth;
mod oauth_idp;
mod security;
mod share;
mod sni;
mod traffic;
mod transactions;
mod upgrade;
