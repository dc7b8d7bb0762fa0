//! `--sni-listen-address` against Apache Kafka's 3-broker cluster: one TLS port for the bootstrap
//! and every broker, routed by the ClientHello's server name. The proxy advertises
//! `broker-<id>.kafka.test` on that port; nothing resolves those names but the clients' own
//! tables: the Java client reads a hosts file (`-Djdk.net.hosts.file`), franz-go dials the port
//! for every name (`--connect-to`, keeping the name as its TLS server name), confluent-kafka
//! runs in a private mount namespace with that hosts file over /etc/hosts. The brokers
//! advertise `broker-<id>.invalid`, so a client given an address the proxy did not rewrite
//! logs it, and the test fails.
//!
//! Shown: produce and consume with the three clients; the cluster each client sees names every
//! broker by its SNI name; the Java client follows leaders moved under load through the one port.

use crate::certs::Pki;
use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client, Running};
use crate::harness::{free_port, unique, TempDir};
use crate::json::Value;
use crate::kproxy::{assert_no_broker_address, KProxy, Listeners};
use crate::leadership::{check_load, move_leaders};
use crate::metadata::nodes;
use crate::tools::KafkaTools;
use std::fs;
use std::time::Duration;

const T: Duration = Duration::from_secs(180);
const BOOTSTRAP: &str = "bootstrap.kafka.test";
const PATTERN: &str = "broker-{{.brokerId}}.kafka.test";

/// A proxy with an SNI listener in front of the cluster, and what its clients need.
struct SniProxy {
    kp: KProxy,
    port: u16,
    pki: Pki,
    /// `-Djdk.net.hosts.file=...`: the names, all on 127.0.0.1.
    hosts_option: String,
    /// A python that sees the same names in its /etc/hosts, for confluent-kafka.
    python: std::path::PathBuf,
    _dir: TempDir,
}

impl SniProxy {
    fn start(tools: &KafkaTools, cluster: &Cluster) -> SniProxy {
        let dir = TempDir::new("kafka-proxy-sni");
        let pki = Pki::new(&dir.path().join("pki"), 0);
        // The wildcard covers the bootstrap and every broker name; the per-broker listeners
        // beside the SNI one are reached as 127.0.0.1.
        pki.issue_server("proxy", "DNS:*.kafka.test,IP:127.0.0.1");
        let mut hosts = format!("127.0.0.1 {BOOTSTRAP}\n");
        for node in cluster.nodes() {
            hosts.push_str(&format!("127.0.0.1 broker-{}.kafka.test\n", node.id));
        }
        let hosts_file = dir.path().join("hosts");
        fs::write(&hosts_file, hosts).unwrap();
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let (cert, key) = (pki.p("proxy.pem"), pki.p("proxy.key"));
        let kp = KProxy::start(
            cluster,
            Protocol::Plaintext,
            Listeners::AllMapped,
            &[
                "--log-level",
                "debug",
                "--proxy-listener-tls-enable",
                "--proxy-listener-cert-file",
                &cert,
                "--proxy-listener-key-file",
                &key,
                "--sni-listen-address",
                &listen,
                "--sni-bootstrap-host",
                BOOTSTRAP,
                "--sni-broker-host-pattern",
                PATTERN,
            ],
            &[],
        );
        let python = crate::harness::python_with_hosts(&tools.python, &hosts_file, dir.path());
        SniProxy {
            kp,
            port,
            pki,
            python,
            hosts_option: format!("-Djdk.net.hosts.file={}", hosts_file.display()),
            _dir: dir,
        }
    }

    fn bootstrap(&self) -> String {
        format!("{BOOTSTRAP}:{}", self.port)
    }

    /// The Java client's TLS settings: the test CA, host names verified (Kafka's default).
    fn java_tls(&self) -> Vec<String> {
        [
            "security.protocol=SSL".to_string(),
            "ssl.truststore.type=PEM".into(),
            format!("ssl.truststore.location={}", self.pki.p("ca.pem")),
        ]
        .into_iter()
        .flat_map(|kv| ["-X".to_string(), kv])
        .collect()
    }

    /// confluent-kafka's: the test CA (librdkafka checks the host name by default); the names
    /// come from its python's own /etc/hosts.
    fn confluent_tls(&self) -> Vec<String> {
        vec![
            "-X".into(),
            "security.protocol=SSL".into(),
            "-X".into(),
            format!("ssl.ca.location={}", self.pki.p("ca.pem")),
        ]
    }

    /// franz-go's: the test CA, and every name dialed at the SNI port.
    fn franz_tls(&self) -> Vec<String> {
        vec![
            "-X".into(),
            "security.protocol=SSL".into(),
            "-X".into(),
            format!("ssl.ca.location={}", self.pki.p("ca.pem")),
            "--connect-to".into(),
            format!("127.0.0.1:{}", self.port),
        ]
    }

    fn client_args(&self, client: Client) -> Vec<String> {
        match client {
            Client::Franz => self.franz_tls(),
            Client::Confluent => self.confluent_tls(),
            _ => self.java_tls(),
        }
    }

    /// Runs a driver command through the SNI port with `client`'s settings.
    fn spawn(&self, tools: &KafkaTools, client: Client, test: &str, args: &[&str]) -> Running {
        let extra = self.client_args(client);
        let mut all: Vec<&str> = args.to_vec();
        all.extend(extra.iter().map(String::as_str));
        let bootstrap = self.bootstrap();
        let resolving = KafkaTools {
            python: self.python.clone(),
            ..tools.clone()
        };
        drivers::spawn_jvm(
            &resolving,
            client,
            test,
            &all,
            &bootstrap,
            T,
            &[&self.hosts_option],
        )
        .unwrap_or_else(|| panic!("{test}: the {} driver is not installed", client.name()))
    }

    fn run(&self, tools: &KafkaTools, client: Client, test: &str, args: &[&str]) -> Value {
        let (result, log) = self.spawn(tools, client, test, args).finish_with_log();
        let value = result.unwrap_or_else(|e| panic!("{e}"));
        assert_no_broker_address(client.name(), &log);
        value
    }
}

/// Asserts every node is named `broker-<id>.kafka.test` on the SNI port.
fn assert_sni_names(found: &[(i64, String, i64)], port: u16, what: &str) {
    assert!(!found.is_empty(), "{what}: no nodes");
    for (id, host, p) in found {
        assert_eq!(
            (host.as_str(), *p),
            (format!("broker-{id}.kafka.test").as_str(), i64::from(port)),
            "{what}: node {id}"
        );
    }
}

#[test]
fn sni_java_franz_and_confluent_produce_and_consume_through_one_port() {
    let test = "sni_java_franz_and_confluent_produce_and_consume_through_one_port";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let cluster = Cluster::start(&tools, Spec::cluster(3, &[Protocol::Plaintext]));
    let mut sni = SniProxy::start(&tools, &cluster);
    for client in [Client::Java, Client::Franz, Client::Confluent] {
        let topic = unique("sni");
        let produce = [
            "produce",
            "--topic",
            &topic,
            "--count",
            "600",
            "--partitions",
            "6",
            "--replication",
            "3",
            "--acks",
            "all",
        ];
        let sent = sni.run(&tools, client, test, &produce);
        assert_eq!(sent.get("acked").as_i64(), Some(600), "{sent}");
        let group = unique("sni-group");
        let consume = [
            "consume", "--topic", &topic, "--count", "600", "--group", &group,
        ];
        let got = sni.run(&tools, client, test, &consume);
        assert_eq!(got.get("count").as_i64(), Some(600), "{got}");
        assert_eq!(got.get("duplicates").as_i64(), Some(0), "{got}");
        assert_eq!(
            got.get("sha256"),
            sent.get("sha256"),
            "read {got}, sent {sent}"
        );
        // The cluster as the client sees it: every broker by its SNI name, on the one port.
        let seen = sni.run(&tools, client, test, &["cluster", "--topic", &topic]);
        assert_sni_names(&nodes(seen.get("brokers"), "id"), sni.port, client.name());
        assert_sni_names(
            &nodes(seen.get("leaders"), "leader"),
            sni.port,
            client.name(),
        );
        assert_eq!(nodes(seen.get("brokers"), "id").len(), 3, "{seen}");
    }
    // Every broker was reached by its name through the one port.
    let log = sni.kp.proxy.log();
    for node in cluster.nodes() {
        let needle = format!(
            "asked for broker-{}.kafka.test on the SNI listener",
            node.id
        );
        assert!(log.contains(&needle), "no {needle:?} in the proxy log");
    }
    sni.kp.proxy.assert_healthy();
}

#[test]
fn sni_java_client_follows_moved_leaders_through_one_port() {
    let test = "sni_java_client_follows_moved_leaders_through_one_port";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let cluster = Cluster::start(&tools, Spec::cluster(3, &[Protocol::Plaintext]));
    let mut sni = SniProxy::start(&tools, &cluster);
    let topic = unique("sni-lead");
    let count = 3000;
    let n = count.to_string();
    let produce = [
        "produce-loop",
        "--topic",
        &topic,
        "--count",
        &n,
        "--interval-ms",
        "4",
    ];
    let mut producer = sni.spawn(&tools, Client::Java, test, &produce);
    assert!(
        producer.wait_stderr("progress acked=100", Duration::from_secs(90)),
        "the producer never got going: {}",
        producer.stderr()
    );
    let group = unique("sni-lead-group");
    let consume = [
        "consume",
        "--topic",
        &topic,
        "--count",
        &n,
        "--group",
        &group,
        "--group-protocol",
        "consumer",
    ];
    let consumer = sni.spawn(&tools, Client::Java, test, &consume);
    move_leaders(&tools, test, &cluster, &topic, 2);
    check_load(producer, consumer, count);
    let after = sni.run(&tools, Client::Java, test, &["cluster", "--topic", &topic]);
    assert_sni_names(
        &nodes(after.get("leaders"), "leader"),
        sni.port,
        "leaders after the moves",
    );
    sni.kp.proxy.assert_healthy();
}
