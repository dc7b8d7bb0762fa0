//! Scenario 1: Metadata, DescribeCluster and FindCoordinator through the proxy name only proxy
//! addresses, on the 3-broker cluster, with every broker mapped and with dynamic listeners in
//! random, sequential and deterministic modes; the Java client and franz-go see the same
//! cluster (ids, cluster id, controller, leaders) as directly.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client};
use crate::harness::{api_versions_ok, unique};
use crate::json::Value;
use crate::kproxy::{KProxy, Listeners};
use crate::tools::KafkaTools;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// `(id, host, port)` of each element of `list` (brokers, leaders, a coordinator).
pub fn nodes(list: &Value, id_key: &str) -> Vec<(i64, String, i64)> {
    list.as_array()
        .iter()
        .map(|b| {
            (
                b.get(id_key).as_i64().unwrap_or(-1),
                b.get("host").as_str().unwrap_or("").to_string(),
                b.get("port").as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// Asserts every node is a live proxy listener on 127.0.0.1 (never a broker's own port nor an
/// `.invalid` name) and returns the port each id was given.
pub fn assert_proxy_addresses(
    cluster: &Cluster,
    found: &[(i64, String, i64)],
    what: &str,
) -> BTreeMap<i64, u16> {
    let broker_ports: Vec<u16> = cluster
        .nodes()
        .iter()
        .flat_map(|n| {
            n.client
                .iter()
                .flat_map(|(_, p, d)| [*p, *d])
                .chain([n.internal])
        })
        .collect();
    assert!(!found.is_empty(), "{what}: no nodes");
    let mut ports = BTreeMap::new();
    for (id, host, port) in found {
        let p = u16::try_from(*port).unwrap_or(0);
        assert!(
            host == "127.0.0.1" && !broker_ports.contains(&p),
            "{what}: node {id} is {host}:{port}, not a proxy listener"
        );
        api_versions_ok(
            SocketAddr::from(([127, 0, 0, 1], p)),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("{what}: node {id} at {host}:{port}: {e}"));
        ports.insert(*id, p);
    }
    ports
}

/// Runs `cluster --topic T` and `coordinator --group G` with the Java client through `kp` and
/// checks them against the direct answers; returns the port of each broker.
fn check_java(
    tools: &KafkaTools,
    cluster: &Cluster,
    kp: &KProxy,
    topic: &str,
    direct: &Value,
    test: &str,
) -> BTreeMap<i64, u16> {
    let via = drivers::run(
        tools,
        Client::Java,
        test,
        &["cluster", "--topic", topic],
        &kp.bootstrap,
        T,
    )
    .unwrap();
    let brokers = nodes(via.get("brokers"), "id");
    let ports = assert_proxy_addresses(cluster, &brokers, "java describeCluster brokers");
    let leaders = nodes(via.get("leaders"), "leader");
    for (leader, _, port) in &leaders {
        assert_eq!(
            ports.get(leader).map(|p| i64::from(*p)),
            Some(*port),
            "leader {leader} at another port"
        );
    }
    assert_proxy_addresses(cluster, &leaders, "java partition leaders");
    assert_eq!(
        direct.get("cluster_id"),
        via.get("cluster_id"),
        "cluster id: direct {direct} vs proxied {via}"
    );
    // KRaft brokers answer a random live broker as the "controller" (the one admin requests go
    // to), so only its being one of the brokers can be compared.
    let controller = via.get("controller_id").as_i64().unwrap_or(-1);
    assert!(
        ports.contains_key(&controller),
        "controller {controller} is not a broker: {via}"
    );
    let ids = |v: &Value| {
        nodes(v.get("brokers"), "id")
            .into_iter()
            .map(|n| n.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(direct), ids(&via), "broker ids");
    let leader_ids = |v: &Value| {
        nodes(v.get("leaders"), "leader")
            .into_iter()
            .map(|n| n.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(leader_ids(direct), leader_ids(&via), "partition leaders");

    let group = unique("meta-group");
    let args = ["coordinator", "--group", group.as_str(), "--topic", topic];
    let coordinator = drivers::run(tools, Client::Java, test, &args, &kp.bootstrap, T).unwrap();
    let c = coordinator.get("coordinator");
    let found = [(
        c.get("id").as_i64().unwrap_or(-1),
        c.get("host").as_str().unwrap_or("").to_string(),
        c.get("port").as_i64().unwrap_or(-1),
    )];
    assert_proxy_addresses(cluster, &found, "group coordinator (FindCoordinator)");
    assert_eq!(
        ports.get(&found[0].0).map(|p| i64::from(*p)),
        Some(found[0].2),
        "coordinator port"
    );
    ports
}

#[test]
fn metadata_describe_cluster_and_coordinators_name_only_the_proxy() {
    let test = "metadata_describe_cluster_and_coordinators_name_only_the_proxy";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let cluster = Cluster::start(&tools, Spec::cluster(3, &[Protocol::Plaintext]));
    let topic = unique("meta");
    let direct_bootstrap = cluster.direct_bootstrap(Protocol::Plaintext);
    let create = [
        "produce",
        "--topic",
        topic.as_str(),
        "--count",
        "30",
        "--partitions",
        "3",
        "--replication",
        "3",
    ];
    drivers::run(&tools, Client::Java, test, &create, &direct_bootstrap, T).unwrap();
    let direct = drivers::run(
        &tools,
        Client::Java,
        test,
        &["cluster", "--topic", &topic],
        &direct_bootstrap,
        T,
    )
    .unwrap();
    assert_eq!(
        nodes(direct.get("brokers"), "id").len(),
        3,
        "direct: {direct}"
    );

    for mode in [
        Listeners::AllMapped,
        Listeners::DynamicRandom,
        Listeners::DynamicSequential,
        Listeners::DynamicDeterministic,
    ] {
        eprintln!("--- listeners: {mode:?}");
        let mut kp = KProxy::start(&cluster, Protocol::Plaintext, mode, &[], &[]);
        let ports = check_java(&tools, &cluster, &kp, &topic, &direct, test);
        let first = kp
            .bootstrap
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap();
        assert_eq!(
            ports.get(&1),
            Some(&first),
            "{mode:?}: broker 1 is the mapped listener"
        );
        match (mode, kp.min_port) {
            (Listeners::DynamicDeterministic, Some(min)) => {
                for (id, port) in &ports {
                    if *id != 1 {
                        assert_eq!(
                            i64::from(*port),
                            i64::from(min) + id,
                            "deterministic port of {id}"
                        );
                    }
                }
            }
            (Listeners::DynamicSequential, Some(min)) => {
                for (id, port) in &ports {
                    if *id != 1 {
                        assert!(
                            (min..min + 2).contains(port),
                            "sequential port {port} of {id} (min {min})"
                        );
                    }
                }
            }
            _ => {}
        }
        if let Some(franz) = drivers::run(
            &tools,
            Client::Franz,
            test,
            &["cluster", "--topic", &topic],
            &kp.bootstrap,
            T,
        ) {
            for key in ["brokers", "described", "leaders"] {
                let found = nodes(
                    franz.get(key),
                    if key == "leaders" { "leader" } else { "id" },
                );
                let got = assert_proxy_addresses(&cluster, &found, &format!("franz-go {key}"));
                for (id, port) in got {
                    assert_eq!(ports.get(&id), Some(&port), "franz-go {key}: node {id}");
                }
            }
        }
        kp.proxy.assert_healthy();
    }
}

/// The Java Admin's calls (CreateTopics with configs, DescribeTopics, DescribeConfigs,
/// IncrementalAlterConfigs, ListTopics, CreatePartitions, DeleteTopics) answer the same through
/// the proxy as directly.
#[test]
fn admin_calls_give_the_same_answers_through_the_proxy() {
    let test = "admin_calls_give_the_same_answers_through_the_proxy";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let cluster = Cluster::start(&tools, Spec::single(&[Protocol::Plaintext]));
    let mut kp = KProxy::mapped(&cluster, Protocol::Plaintext);
    let direct_bootstrap = cluster.direct_bootstrap(Protocol::Plaintext);
    // The steps as text, with the run's own topic name taken out.
    let run = |bootstrap: &str| {
        let topic = unique("admin");
        let args = ["admin", "--topic", topic.as_str()];
        let v = drivers::run(&tools, Client::Java, test, &args, bootstrap, T).unwrap();
        assert!(!v.get("steps").as_array().is_empty(), "{v}");
        v.get("steps").to_string().replace(&topic, "TOPIC")
    };
    let direct = run(&direct_bootstrap);
    let via = run(&kp.bootstrap);
    assert_eq!(direct, via, "admin: direct vs proxied");
    kp.proxy.assert_healthy();
}
