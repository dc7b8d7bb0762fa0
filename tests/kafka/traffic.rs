//! Scenario 2: every client produces and consumes the same records directly and through the
//! proxy, with every compression codec it supports, in consumer groups of the classic protocol
//! and (where the client has it) KIP-848's; the SHA-256 of what was acknowledged equals that of
//! what was read, the committed offsets read back add up to every record, and both paths give
//! the same answers.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client};
use crate::harness::unique;
use crate::json::Value;
use crate::kproxy::KProxy;
use crate::tools::KafkaTools;
use std::time::Duration;

const T: Duration = Duration::from_secs(180);

/// One produce-then-consume run: the topic is new, so the committed offsets must add up to
/// `count`. Returns the two answers without their run-specific parts.
fn roundtrip(
    tools: &KafkaTools,
    client: Client,
    test: &str,
    bootstrap: &str,
    count: usize,
    codec: &str,
    group_protocol: &str,
) -> Option<(Value, Value)> {
    let topic = unique(&format!("rt-{}-{codec}", client.name()));
    let n = count.to_string();
    let produce = [
        "produce",
        "--topic",
        &topic,
        "--count",
        &n,
        "--compression",
        codec,
    ];
    let sent = drivers::run(tools, client, test, &produce, bootstrap, T)?;
    let what = format!("{} {codec} {group_protocol} via {bootstrap}", client.name());
    assert_eq!(
        sent.get("acked").as_i64(),
        Some(count as i64),
        "{what}: acked: {sent}"
    );
    let group = unique("rt-group");
    let consume = [
        "consume",
        "--topic",
        &topic,
        "--count",
        &n,
        "--group",
        &group,
        "--group-protocol",
        group_protocol,
    ];
    let got = drivers::run(tools, client, test, &consume, bootstrap, T)?;
    assert_eq!(
        got.get("count").as_i64(),
        Some(count as i64),
        "{what}: count: {got}"
    );
    assert_eq!(
        got.get("duplicates").as_i64(),
        Some(0),
        "{what}: duplicates: {got}"
    );
    assert_eq!(
        got.get("sha256"),
        sent.get("sha256"),
        "{what}: read {got}, acknowledged {sent}"
    );
    let committed: i64 = match got.get("committed") {
        Value::Obj(map) => map.values().filter_map(Value::as_i64).sum(),
        other => panic!("{what}: committed offsets {other}"),
    };
    assert_eq!(committed, count as i64, "{what}: committed offsets {got}");
    Some((sent, got))
}

/// Runs every codec (and each group protocol) directly and through a proxy in front of a
/// single Kafka broker, and compares the answers.
fn every_codec(test: &str, client: Client, count: usize, codecs: &[&str], protocols: &[&str]) {
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let cluster = Cluster::start(&tools, Spec::single(&[Protocol::Plaintext]));
    let mut kp = KProxy::mapped(&cluster, Protocol::Plaintext);
    let direct = cluster.direct_bootstrap(Protocol::Plaintext);
    let runs = codecs.iter().map(|c| (*c, protocols[0])).chain(
        protocols[1..]
            .iter()
            .map(|p| (codecs[codecs.len() - 1], *p)),
    );
    for (codec, protocol) in runs {
        let Some(a) = roundtrip(&tools, client, test, &direct, count, codec, protocol) else {
            return;
        };
        let Some(b) = roundtrip(&tools, client, test, &kp.bootstrap, count, codec, protocol) else {
            return;
        };
        assert_eq!(
            a,
            b,
            "{} {codec} {protocol}: direct vs proxied",
            client.name()
        );
    }
    kp.proxy.assert_healthy();
}

const ALL_CODECS: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];

#[test]
fn java_client_every_codec_both_group_protocols() {
    let test = "java_client_every_codec_both_group_protocols";
    every_codec(
        test,
        Client::Java,
        100_000,
        ALL_CODECS,
        &["classic", "consumer"],
    );
}

#[test]
fn franz_go_every_codec() {
    let test = "franz_go_every_codec";
    every_codec(test, Client::Franz, 100_000, ALL_CODECS, &["classic"]);
}

#[test]
fn confluent_kafka_every_codec_both_group_protocols() {
    let test = "confluent_kafka_every_codec_both_group_protocols";
    every_codec(
        test,
        Client::Confluent,
        100_000,
        ALL_CODECS,
        &["classic", "consumer"],
    );
}

#[test]
fn kafka_python_3_every_codec() {
    let test = "kafka_python_3_every_codec";
    every_codec(test, Client::KafkaPython, 100_000, ALL_CODECS, &["classic"]);
}

#[test]
fn kafkajs_every_codec() {
    let test = "kafkajs_every_codec";
    // lz4 and zstd need KafkaJS codec packages that do not install here (see driver.js).
    every_codec(
        test,
        Client::KafkaJs,
        100_000,
        &["none", "gzip", "snappy"],
        &["classic"],
    );
}
