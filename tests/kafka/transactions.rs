//! Scenario 3: idempotent producers and transactions through the proxy (InitProducerId,
//! AddPartitionsToTxn, EndTxn, the transaction coordinator found with FindCoordinator): a
//! transactional producer commits one transaction and aborts another, and a `read_committed`
//! consumer sees exactly the committed records, the same as directly, with the Java client,
//! franz-go and confluent-kafka.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client};
use crate::harness::unique;
use crate::json::Value;
use crate::kproxy::KProxy;
use crate::tools::KafkaTools;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);
const K: i64 = 500;

fn transactions(tools: &KafkaTools, client: Client, test: &str, bootstrap: &str) -> Option<Value> {
    let topic = unique(&format!("txn-{}", client.name()));
    let k = K.to_string();
    let args = ["transactions", "--topic", &topic, "--count", &k];
    let got = drivers::run(tools, client, test, &args, bootstrap, T)?;
    let what = format!("{} transactions via {bootstrap}", client.name());
    assert_eq!(got.get("committed_seen").as_i64(), Some(K), "{what}: {got}");
    assert_eq!(got.get("aborted_seen").as_i64(), Some(0), "{what}: {got}");
    assert_eq!(
        got.get("uncommitted_seen").as_i64(),
        Some(2 * K),
        "{what}: {got}"
    );
    Some(got)
}

fn idempotent(tools: &KafkaTools, client: Client, test: &str, bootstrap: &str) -> Option<Value> {
    let topic = unique(&format!("idem-{}", client.name()));
    let args = [
        "produce",
        "--topic",
        &topic,
        "--count",
        "5000",
        "--idempotent",
        "--acks",
        "all",
    ];
    let got = drivers::run(tools, client, test, &args, bootstrap, T)?;
    assert_eq!(
        got.get("acked").as_i64(),
        Some(5000),
        "{} idempotent: {got}",
        client.name()
    );
    Some(got)
}

#[test]
fn idempotent_and_transactional_producers() {
    let test = "idempotent_and_transactional_producers";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let cluster = Cluster::start(&tools, Spec::single(&[Protocol::Plaintext]));
    let mut kp = KProxy::mapped(&cluster, Protocol::Plaintext);
    let direct = cluster.direct_bootstrap(Protocol::Plaintext);
    for client in [Client::Java, Client::Franz, Client::Confluent] {
        let Some(a) = idempotent(&tools, client, test, &direct) else {
            continue;
        };
        let b = idempotent(&tools, client, test, &kp.bootstrap).unwrap();
        assert_eq!(a, b, "{} idempotent: direct vs proxied", client.name());
        let a = transactions(&tools, client, test, &direct).unwrap();
        let b = transactions(&tools, client, test, &kp.bootstrap).unwrap();
        assert_eq!(a, b, "{} transactions: direct vs proxied", client.name());
    }
    kp.proxy.assert_healthy();
}
