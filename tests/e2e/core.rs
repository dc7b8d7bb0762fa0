//! Core scenarios: metadata, describe_cluster, produce/consume, consumer groups. Each runs
//! directly against tansu and through the proxy, and the results are compared.

use crate::clients::{self, Outcome};
use crate::harness::{self, unique, Broker, Proxy};
use crate::json::Value;
use std::time::Duration;

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
const ROUNDTRIP_TIMEOUT: Duration = Duration::from_secs(120);
const MESSAGES: usize = 10_000;

/// The `brokers` array of a client's answer as `(id, host, port)`.
fn brokers(o: &Outcome) -> Vec<(i64, String, i64)> {
    o.json
        .get("brokers")
        .as_array()
        .iter()
        .map(|b| {
            (
                b.get("id").as_i64().unwrap_or(-1),
                b.get("host").as_str().unwrap_or("").to_string(),
                b.get("port").as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// Asserts that every advertised broker is `127.0.0.1:port` and that there is at least one.
fn assert_all_at(o: &Outcome, port: u16, what: &str) {
    let b = brokers(o);
    assert!(!b.is_empty(), "{what}: no brokers in {}", o.json);
    for (id, host, p) in &b {
        assert!(
            host == "127.0.0.1" && *p == i64::from(port),
            "{what}: broker {id} advertised as {host}:{p}, expected 127.0.0.1:{port}; answer: {}",
            o.json
        );
    }
}

fn ids(o: &Outcome) -> Vec<i64> {
    brokers(o).into_iter().map(|(id, _, _)| id).collect()
}

/// Asserts two answers agree on the given keys.
pub(crate) fn assert_same(direct: &Value, proxied: &Value, keys: &[&str], what: &str) {
    for k in keys {
        assert_eq!(
            direct.get(k),
            proxied.get(k),
            "{what}: '{k}' differs\n direct: {direct}\n proxied: {proxied}"
        );
    }
}

#[test]
fn metadata_through_proxy_names_only_the_proxy() {
    let Some(tools) = harness::tools("metadata_through_proxy_names_only_the_proxy") else {
        return;
    };
    let broker = Broker::start(&tools);
    let mut proxy = Proxy::start(&broker);

    let direct = clients::run(
        &tools,
        "metadata.py",
        &broker.bootstrap(),
        &[],
        METADATA_TIMEOUT,
    );
    assert_all_at(&direct, broker.port, "direct metadata");

    let via = clients::run(
        &tools,
        "metadata.py",
        &proxy.bootstrap(),
        &[],
        METADATA_TIMEOUT,
    );
    assert_all_at(&via, proxy.port, "metadata through the proxy");
    assert_eq!(ids(&direct), ids(&via), "broker ids differ");
    assert_same(
        &direct.json,
        &via.json,
        &["cluster_id", "controller_id", "topics"],
        "metadata",
    );
    proxy.assert_healthy();
}

#[test]
fn kafka_python_describe_cluster_through_proxy_names_only_the_proxy() {
    let name = "kafka_python_describe_cluster_through_proxy_names_only_the_proxy";
    let Some(tools) = harness::tools(name) else {
        return;
    };
    let broker = Broker::start(&tools);
    let mut proxy = Proxy::start(&broker);

    let script = "kp_describe_cluster.py";
    let direct = clients::run(&tools, script, &broker.bootstrap(), &[], METADATA_TIMEOUT);
    assert_all_at(&direct, broker.port, "direct describe_cluster");

    let via = clients::run(&tools, script, &proxy.bootstrap(), &[], METADATA_TIMEOUT);
    assert_all_at(&via, proxy.port, "describe_cluster through the proxy");
    assert_eq!(ids(&direct), ids(&via), "broker ids differ");
    assert_same(
        &direct.json,
        &via.json,
        &["cluster_id", "controller_id"],
        "describe_cluster",
    );
    proxy.assert_healthy();
}

/// Runs roundtrip.py (or kp_roundtrip.py) and checks the answer is complete and in order.
pub(crate) fn roundtrip(
    tools: &harness::Tools,
    script: &str,
    bootstrap: &str,
    args: &[&str],
) -> Outcome {
    let o = clients::run(tools, script, bootstrap, args, ROUNDTRIP_TIMEOUT);
    let count = args
        .windows(2)
        .find(|w| w[0] == "--count")
        .map(|w| w[1].parse::<i64>().unwrap())
        .unwrap();
    let j = &o.json;
    assert_eq!(j.get("produced").as_i64(), Some(count), "{bootstrap}: {j}");
    assert_eq!(j.get("consumed").as_i64(), Some(count), "{bootstrap}: {j}");
    assert_eq!(j.get("duplicates").as_i64(), Some(0), "{bootstrap}: {j}");
    assert_eq!(j.get("order_ok").as_bool(), Some(true), "{bootstrap}: {j}");
    o
}

#[test]
fn produce_and_consume_10k_messages_same_through_proxy() {
    let Some(tools) = harness::tools("produce_and_consume_10k_messages_same_through_proxy") else {
        return;
    };
    let broker = Broker::start(&tools);
    let mut proxy = Proxy::start(&broker);
    let n = MESSAGES.to_string();

    let (topic, group) = (unique("rt-direct"), unique("g-rt-direct"));
    let args = [
        "--topic",
        &topic,
        "--group",
        &group,
        "--partitions",
        "3",
        "--count",
        &n,
    ];
    let direct = roundtrip(&tools, "roundtrip.py", &broker.bootstrap(), &args);

    let (topic, group) = (unique("rt-proxy"), unique("g-rt-proxy"));
    let args = [
        "--topic",
        &topic,
        "--group",
        &group,
        "--partitions",
        "3",
        "--count",
        &n,
    ];
    let via = roundtrip(&tools, "roundtrip.py", &proxy.bootstrap(), &args);

    assert_same(
        &direct.json,
        &via.json,
        &["digest", "partition_counts", "consumed"],
        "produce/consume",
    );
    proxy.assert_healthy();
}

#[test]
fn consumer_group_commits_same_through_proxy() {
    let Some(tools) = harness::tools("consumer_group_commits_same_through_proxy") else {
        return;
    };
    let broker = Broker::start(&tools);
    let mut proxy = Proxy::start(&broker);

    let run = |bootstrap: &str, tag: &str| {
        let (topic, group) = (unique(&format!("grp-{tag}")), unique(&format!("g-{tag}")));
        let args = [
            "--topic",
            &topic,
            "--group",
            &group,
            "--partitions",
            "3",
            "--count",
            "300",
        ];
        let o = clients::run(&tools, "group.py", bootstrap, &args, ROUNDTRIP_TIMEOUT);
        let j = &o.json;
        assert_eq!(j.get("consumed").as_i64(), Some(300), "{tag}: {j}");
        // Everything consumed was committed: offsets start at 0, so the committed offset of a
        // partition is its message count, asked both ways. (Not the high watermark: tansu 0.6
        // reports the last batch's base offset + 1 there.)
        assert_eq!(j.get("committed"), j.get("partition_counts"), "{tag}: {j}");
        assert_eq!(j.get("committed"), j.get("admin_committed"), "{tag}: {j}");
        o
    };
    let direct = run(&broker.bootstrap(), "direct");
    let via = run(&proxy.bootstrap(), "proxy");
    assert_same(
        &direct.json,
        &via.json,
        &["committed", "admin_committed", "partition_counts"],
        "consumer group",
    );

    // The group coordinator (FindCoordinator) must be the broker directly, the proxy through it.
    let coord = |o: &Outcome| {
        let c = o.json.get("coordinator");
        (
            c.get("host").as_str().map(str::to_string),
            c.get("port").as_i64(),
        )
    };
    let (dh, dp) = coord(&direct);
    if dh.is_none() {
        eprintln!(
            "note: describe_consumer_groups gave no coordinator directly ({}), not checked",
            direct.json.get("group_state")
        );
    } else {
        assert_eq!(
            (dh.as_deref(), dp),
            (Some("127.0.0.1"), Some(i64::from(broker.port))),
            "direct coordinator: {}",
            direct.json
        );
        assert_eq!(
            coord(&via),
            (Some("127.0.0.1".to_string()), Some(i64::from(proxy.port))),
            "coordinator through the proxy: {}",
            via.json
        );
    }
    proxy.assert_healthy();
}

#[test]
fn kafka_python_produce_and_consume_same_through_proxy() {
    let name = "kafka_python_produce_and_consume_same_through_proxy";
    let Some(tools) = harness::tools(name) else {
        return;
    };
    let broker = Broker::start(&tools);
    let mut proxy = Proxy::start(&broker);

    let topic = unique("kp-direct");
    let args = ["--topic", &topic, "--partitions", "2", "--count", "1000"];
    let direct = roundtrip(&tools, "kp_roundtrip.py", &broker.bootstrap(), &args);

    let topic = unique("kp-proxy");
    let args = ["--topic", &topic, "--partitions", "2", "--count", "1000"];
    let via = roundtrip(&tools, "kp_roundtrip.py", &proxy.bootstrap(), &args);

    assert_same(
        &direct.json,
        &via.json,
        &["digest", "partition_counts", "consumed"],
        "kafka-python produce/consume",
    );
    proxy.assert_healthy();
}

#[test]
fn kafka_python_consumer_group_same_through_proxy() {
    let name = "kafka_python_consumer_group_same_through_proxy";
    let Some(tools) = harness::tools(name) else {
        return;
    };
    let broker = Broker::start(&tools);
    let mut proxy = Proxy::start(&broker);

    let run = |bootstrap: &str, tag: &str| {
        let (topic, group) = (
            unique(&format!("kpg-{tag}")),
            unique(&format!("g-kp-{tag}")),
        );
        let args = [
            "--topic",
            &topic,
            "--group",
            &group,
            "--partitions",
            "2",
            "--count",
            "1000",
        ];
        let o = roundtrip(&tools, "kp_roundtrip.py", bootstrap, &args);
        let j = &o.json;
        assert_eq!(j.get("committed"), j.get("partition_counts"), "{tag}: {j}");
        o
    };
    let direct = run(&broker.bootstrap(), "direct");
    let via = run(&proxy.bootstrap(), "proxy");
    assert_same(
        &direct.json,
        &via.json,
        &["digest", "partition_counts", "committed"],
        "kafka-python consumer group",
    );
    proxy.assert_healthy();
}
