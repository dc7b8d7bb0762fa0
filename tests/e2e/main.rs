//! End-to-end tests: a real tansu broker, the real kafka-proxy binary, and real Kafka clients
//! (confluent-kafka / librdkafka and kafka-python, driven by the scripts in `tests/clients/`).
//! Every scenario runs directly against the broker and through the proxy, and the two results
//! must match, except for broker addresses, which through the proxy must name only the proxy.
//!
//! Run with `scripts/test.sh`, which installs tansu and the Python venv and sets `TANSU_BIN` and
//! `KAFKA_PROXY_TEST_PYTHON`. Without them these tests print `skipping: ...` (and fail under CI).

mod aws_iam;
mod clients;
mod core;
mod fake_broker;
mod forward;
mod gateway;
mod harness;
mod json;
mod local_auth;
mod local_oauth;
mod log_safety;
mod monitoring;
mod ops;
mod preflight;
mod proxy_protocol;
mod robustness;
mod sasl;
mod scripted;
mod sni;
mod splice;
mod tls;
mod traffic;
mod upgrade;
