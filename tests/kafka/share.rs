//! Scenario 5: share groups (KIP-932; on by default in Kafka 4.2+) through the proxy. The Java
//! `KafkaShareConsumer` reads a topic on the 3-broker cluster while its partitions' leaders
//! move, so ShareFetch and ShareAcknowledge answers carry NodeEndpoints that the proxy must
//! rewrite; every record is read and acknowledged once, and no client log names a broker's own
//! (`.invalid`) address.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client};
use crate::harness::{http_get, metric, unique};
use crate::kproxy::{assert_no_broker_address, KProxy};
use crate::tools::KafkaTools;
use std::time::Duration;

const T: Duration = Duration::from_secs(180);

#[test]
fn share_group_consumes_every_record_once_through_the_proxy() {
    let test = "share_group_consumes_every_record_once_through_the_proxy";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let cluster = Cluster::start(&tools, Spec::cluster(3, &[Protocol::Plaintext]));
    let mut kp = KProxy::mapped(&cluster, Protocol::Plaintext);
    let topic = unique("share");
    let count = 3000;
    let n = count.to_string();
    let produce = [
        "produce",
        "--topic",
        &topic,
        "--count",
        &n,
        "--partitions",
        "3",
        "--replication",
        "3",
    ];
    let sent = drivers::run(&tools, Client::Java, test, &produce, &kp.bootstrap, T).unwrap();
    assert_eq!(sent.get("acked").as_i64(), Some(count), "{sent}");

    let group = unique("share-group");
    let args = [
        "share-consume",
        "--topic",
        &topic,
        "--group",
        &group,
        "--count",
        &n,
    ];
    let consumer = drivers::spawn(&tools, Client::Java, test, &args, &kp.bootstrap, T).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    for partition in 0..3 {
        let p = partition.to_string();
        let to = (partition % 3 + 2).min(3).to_string();
        let args = [
            "move-leader",
            "--topic",
            &topic,
            "--partition",
            &p,
            "--to",
            &to,
        ];
        drivers::run(
            &tools,
            Client::Java,
            test,
            &args,
            &cluster.internal_bootstrap(),
            T,
        )
        .unwrap();
    }
    let (got, log) = consumer.finish_with_log();
    let got = got.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.get("count").as_i64(), Some(count), "{got}");
    assert_eq!(got.get("duplicates").as_i64(), Some(0), "{got}");
    assert_eq!(got.get("acknowledged").as_i64(), Some(count), "{got}");
    assert_eq!(
        got.get("sha256"),
        sent.get("sha256"),
        "read {got}, sent {sent}"
    );
    assert_no_broker_address("share consumer", &log);
    let (_, metrics) = http_get(kp.proxy.http_port, "/metrics");
    for (key, name) in [
        (78, "ShareFetch"),
        (79, "ShareAcknowledge"),
        (76, "ShareGroupHeartbeat"),
    ] {
        let n = metric(
            &metrics,
            "proxy_requests_total",
            &[&format!("api_key=\"{key}\"")],
        );
        assert!(n > 0.0, "no {name} went through the proxy:\n{metrics}");
    }
    let n = metric(
        &metrics,
        "proxy_addresses_rewritten_total",
        &["api_key=\"78\""],
    );
    eprintln!("ShareFetch responses with NodeEndpoints rewritten: {n}");
    assert!(
        n > 0.0,
        "no ShareFetch NodeEndpoints were rewritten:\n{metrics}"
    );
    kp.proxy.assert_healthy();
}
