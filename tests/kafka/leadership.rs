//! Scenarios 4 and 7: leadership moves under load on the 3-broker cluster.
//!
//! KIP-951: when a partition's leader moves, a Produce (v10+) or Fetch (v16+) sent to the old
//! leader is answered NOT_LEADER_OR_FOLLOWER with the new leader and its NodeEndpoints, and the
//! Java client goes straight to that address (its consumer here in a KIP-848 group; the rolling
//! restart's in a classic one). The brokers advertise `broker-<id>.invalid`, so an
//! endpoint the proxy failed to rewrite would make the client log a failed connection to that
//! name (and lose time or records): the drivers' logs must never name `.invalid`, every record
//! must arrive once, and the proxy's metrics must show Produce v10+ and Fetch v16+ went through.
//!
//! Rolling restart: every broker is stopped and started again in turn under an acks=all load;
//! the producer sees only retriable errors and no acknowledged record is lost.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client, Running};
use crate::harness::{http_get, metric, unique};
use crate::json::Value;
use crate::kproxy::{assert_no_broker_address, KProxy, Listeners};
use crate::metadata::nodes;
use crate::tools::KafkaTools;
use std::time::Duration;

const T: Duration = Duration::from_secs(240);

/// Starts `produce-loop` and a consumer of the same topic through the proxy, in a group of
/// `group_protocol` (`classic` or KIP-848's `consumer`).
fn load(
    tools: &KafkaTools,
    test: &str,
    bootstrap: &str,
    topic: &str,
    count: usize,
    group_protocol: &str,
) -> (Running, Running) {
    let n = count.to_string();
    let produce = [
        "produce-loop",
        "--topic",
        topic,
        "--count",
        &n,
        "--interval-ms",
        "4",
    ];
    let mut producer = drivers::spawn(tools, Client::Java, test, &produce, bootstrap, T).unwrap();
    // The producer creates the topic (3 partitions, 3 replicas, min.insync.replicas=2).
    assert!(
        producer.wait_stderr("progress acked=100", Duration::from_secs(90)),
        "the producer never got going: {}",
        producer.stderr()
    );
    let group = unique("lead-group");
    let consume = [
        "consume",
        "--topic",
        topic,
        "--count",
        &n,
        "--group",
        &group,
        "--group-protocol",
        group_protocol,
    ];
    let consumer = drivers::spawn(tools, Client::Java, test, &consume, bootstrap, T).unwrap();
    (producer, consumer)
}

/// Checks what the producer and the consumer of [`load`] report.
pub(crate) fn check_load(producer: Running, consumer: Running, count: usize) -> (Value, Value) {
    let (sent, p_log) = producer.finish_with_log();
    let (got, c_log) = consumer.finish_with_log();
    let sent = sent.unwrap_or_else(|e| panic!("{e}"));
    let got = got.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sent.get("acked").as_i64(),
        Some(count as i64),
        "acked: {sent}"
    );
    assert!(
        sent.get("errors").as_array().is_empty(),
        "failed sends: {sent}"
    );
    assert_eq!(got.get("count").as_i64(), Some(count as i64), "read: {got}");
    assert_eq!(got.get("duplicates").as_i64(), Some(0), "read: {got}");
    assert_eq!(
        got.get("sha256"),
        sent.get("sha256"),
        "read {got}, acknowledged {sent}"
    );
    assert_no_broker_address("producer", &p_log);
    assert_no_broker_address("consumer", &c_log);
    (sent, got)
}

/// The leader of each partition of `topic`, asked on the internal listener.
fn leaders(tools: &KafkaTools, test: &str, cluster: &Cluster, topic: &str) -> Vec<(i64, i64)> {
    let v = drivers::run(
        tools,
        Client::Java,
        test,
        &["cluster", "--topic", topic],
        &cluster.internal_bootstrap(),
        T,
    )
    .unwrap();
    v.get("leaders")
        .as_array()
        .iter()
        .map(|l| {
            (
                l.get("partition").as_i64().unwrap_or(-1),
                l.get("leader").as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// Moves every partition's leader of `topic` to the next broker, `rounds` times, through the
/// internal listener (records keep flowing meanwhile).
pub(crate) fn move_leaders(
    tools: &KafkaTools,
    test: &str,
    cluster: &Cluster,
    topic: &str,
    rounds: usize,
) {
    for round in 0..rounds {
        for (partition, leader) in leaders(tools, test, cluster, topic) {
            let to = (leader % 3 + 1).to_string();
            let p = partition.to_string();
            let args = [
                "move-leader",
                "--topic",
                topic,
                "--partition",
                &p,
                "--to",
                &to,
            ];
            let moved = drivers::run(
                tools,
                Client::Java,
                test,
                &args,
                &cluster.internal_bootstrap(),
                T,
            )
            .unwrap();
            eprintln!("round {round}: partition {partition}: leader {leader} -> {moved}");
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The highest `api_version` of `api_key` in the proxy's request counters.
fn max_version(metrics: &str, api_key: u16) -> i64 {
    let key = format!("api_key=\"{api_key}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("proxy_requests_total{") && l.contains(&key))
        .filter_map(|l| {
            l.split("api_version=\"")
                .nth(1)?
                .split('"')
                .next()?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(-1)
}

#[test]
fn kip951_java_client_follows_moved_leaders_through_proxy_addresses_only() {
    let test = "kip951_java_client_follows_moved_leaders_through_proxy_addresses_only";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let mut cluster = Cluster::start(&tools, Spec::cluster(3, &[Protocol::Plaintext]));
    let mut kp = KProxy::start(
        &cluster,
        Protocol::Plaintext,
        Listeners::DynamicRandom,
        &[],
        &[],
    );
    let topic = unique("kip951");
    let count = 4000;
    let (producer, consumer) = load(&tools, test, &kp.bootstrap, &topic, count, "consumer");
    move_leaders(&tools, test, &cluster, &topic, 2);
    // And a crash: the leader of partition 0 is killed (no controlled shutdown), then started
    // again; the clients learn the new leader from the NodeEndpoints of their next answers.
    let (_, leader) = leaders(&tools, test, &cluster, &topic)[0];
    eprintln!("killing broker {leader}, the leader of partition 0");
    cluster.kill_node(leader as i32);
    std::thread::sleep(Duration::from_secs(5));
    cluster.restart_node(leader as i32);
    cluster.wait_brokers(3);
    check_load(producer, consumer, count);
    let (_, metrics) = http_get(kp.proxy.http_port, "/metrics");
    assert!(
        max_version(&metrics, 0) >= 10,
        "no Produce v10+ went through:\n{metrics}"
    );
    assert!(
        max_version(&metrics, 1) >= 16,
        "no Fetch v16+ went through:\n{metrics}"
    );
    for (key, name) in [(0, "Produce"), (1, "Fetch")] {
        let n = metric(
            &metrics,
            "proxy_addresses_rewritten_total",
            &[&format!("api_key=\"{key}\"")],
        );
        eprintln!("{name} responses with NodeEndpoints rewritten: {n}");
        assert!(
            n > 0.0,
            "no {name} NodeEndpoints were rewritten:\n{metrics}"
        );
    }
    let after = drivers::run(
        &tools,
        Client::Java,
        test,
        &["cluster", "--topic", &topic],
        &kp.bootstrap,
        T,
    )
    .unwrap();
    crate::metadata::assert_proxy_addresses(
        &cluster,
        &nodes(after.get("leaders"), "leader"),
        "leaders after the moves",
    );
    kp.proxy.assert_healthy();
}

#[test]
fn rolling_restart_under_acks_all_load_loses_nothing() {
    let test = "rolling_restart_under_acks_all_load_loses_nothing";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let mut cluster = Cluster::start(&tools, Spec::cluster(3, &[Protocol::Plaintext]));
    let mut kp = KProxy::mapped(&cluster, Protocol::Plaintext);
    let topic = unique("rolling");
    let count = 6000;
    let (producer, consumer) = load(&tools, test, &kp.bootstrap, &topic, count, "classic");
    for id in 1..=3 {
        eprintln!("rolling restart: stopping broker {id}");
        cluster.stop_node(id);
        std::thread::sleep(Duration::from_secs(2));
        cluster.restart_node(id);
        cluster.wait_brokers(3);
        // Let it catch up (rejoin the ISR) before the next one goes down.
        std::thread::sleep(Duration::from_secs(5));
    }
    let (sent, _) = check_load(producer, consumer, count);
    eprintln!(
        "retriable errors the producer saw: {}",
        sent.get("retriable_seen")
    );
    kp.proxy.assert_healthy();
}
