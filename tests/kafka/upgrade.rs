//! Upgrading the proxy without refusing a connection, against Apache Kafka with real clients:
//! while the Java client produces (acks=all, idempotent) and consumes in a group, and
//! confluent-kafka produces (acks=all), the proxy is replaced three times in a row by a new
//! process started with the same flags (it binds the same ports, SO_REUSEPORT), whose `/health`
//! answers 200 before the old one gets SIGTERM. No client may see a refused connection, only
//! retriable errors, and every acknowledged record must be read back.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client};
use crate::harness::{http_get, unique, Proxy, TempDir};
use crate::json;
use crate::kproxy::{KProxy, Listeners};
use crate::tools::KafkaTools;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(150);

/// What a client's log says when a connection was refused (librdkafka, the Java client).
fn assert_never_refused(who: &str, log: &str) {
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Connection refused") || l.contains("could not be established"))
        .take(5)
        .collect();
    assert!(
        refused.is_empty(),
        "{who} saw a refused connection:\n{}",
        refused.join("\n")
    );
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The status of `/health` on 127.0.0.1:`port`, `None` while nothing listens there.
fn health(port: u16) -> Option<u16> {
    // Once bound, the HTTP listener stays until the process exits.
    std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    Some(http_get(port, "/health").0)
}

/// Starts a new proxy with the flags of the running one, waits until its own `/health` says
/// 200, then stops the old one (SIGTERM, drain, exit 0).
fn upgrade(kp: &mut KProxy) {
    let mut new = kp.start_same();
    wait_for("the new proxy's /health", Duration::from_secs(20), || {
        health(new.http_port) == Some(200)
    });
    new.assert_healthy();
    let mut old: Proxy = std::mem::replace(&mut kp.proxy, new);
    assert_eq!(
        http_get(old.http_port, "/health").0,
        200,
        "the old one still serves"
    );
    old.signal("TERM");
    let status = old
        .wait_exit(Duration::from_secs(40))
        .expect("old proxy exits");
    assert!(status.success(), "{status}\n{}", old.log());
    assert!(!old.log().contains("panicked at"), "{}", old.log());
    eprintln!("upgraded: pid {} took over", kp.proxy.pid());
}

/// rolling_produce.py (confluent-kafka): produces for `seconds`, then reads the topic back.
fn confluent_produce(
    tools: &KafkaTools,
    bootstrap: &str,
    started: &Path,
    restarted: &Path,
) -> thread::JoinHandle<(String, String)> {
    let mut cmd = Command::new(&tools.python);
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/rolling_produce.py"))
        .args([
            "--bootstrap",
            bootstrap,
            "--timeout",
            &T.as_secs().to_string(),
        ])
        .args([
            "--topic",
            &unique("upgrade-ck"),
            "--group",
            &unique("upgrade-ck-group"),
        ])
        .args(["--seconds", "30", "--rate", "100"])
        .arg("--started-file")
        .arg(started)
        .arg("--restarted-file")
        .arg(restarted)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    thread::spawn(move || {
        let out = cmd.output().expect("run rolling_produce.py");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
}

#[test]
fn three_upgrades_in_a_row_refuse_no_connection_and_lose_no_acknowledged_record() {
    let test = "three_upgrades_in_a_row_refuse_no_connection_and_lose_no_acknowledged_record";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let p = Protocol::Plaintext;
    let cluster = Cluster::start(&tools, Spec::single(&[p]));
    let mut kp = KProxy::start(&cluster, p, Listeners::AllMapped, &[], &[]);
    let markers = TempDir::new("kafka-proxy-upgrade-markers");
    let (started, upgraded) = (
        markers.path().join("started"),
        markers.path().join("upgraded"),
    );

    let topic = unique("upgrade-java");
    let count = "4000";
    let produce = drivers::produce_loop(&topic, count);
    let mut producer =
        drivers::spawn(&tools, Client::Java, test, &produce, &kp.bootstrap, T).unwrap();
    assert!(
        producer.wait_stderr("progress acked=100", Duration::from_secs(60)),
        "the Java producer never got going:\n{}",
        producer.stderr()
    );
    let group = unique("upgrade-java-group");
    let consume = [
        "consume", "--topic", &topic, "--count", count, "--group", &group,
    ];
    let consumer = drivers::spawn(&tools, Client::Java, test, &consume, &kp.bootstrap, T).unwrap();
    let confluent = confluent_produce(&tools, &kp.bootstrap, &started, &upgraded);
    wait_for(
        "confluent-kafka to produce",
        Duration::from_secs(60),
        || started.exists() || confluent.is_finished(),
    );

    for _ in 0..3 {
        thread::sleep(Duration::from_secs(3));
        upgrade(&mut kp);
    }
    std::fs::write(&upgraded, "upgraded\n").unwrap();

    let (sent, producer_log) = producer.finish_with_log();
    let sent = sent.unwrap_or_else(|e| panic!("{e}"));
    let (got, consumer_log) = consumer.finish_with_log();
    let got = got.unwrap_or_else(|e| panic!("{e}"));
    let (stdout, confluent_log) = confluent.join().unwrap();
    eprintln!("java producer: {sent}\njava consumer: {got}");

    assert_eq!(sent.get("acked").as_i64(), Some(4000), "{sent}");
    assert!(sent.get("errors").as_array().is_empty(), "{sent}");
    assert_eq!(got.get("count").as_i64(), Some(4000), "{got}");
    assert_eq!(
        got.get("sha256"),
        sent.get("sha256"),
        "read {got}, sent {sent}"
    );
    assert_never_refused("the Java producer", &producer_log);
    assert_never_refused("the Java consumer", &consumer_log);

    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    let ck =
        json::parse(line.unwrap_or_else(|| panic!("no JSON:\n{stdout}\n{confluent_log}"))).unwrap();
    eprintln!("confluent-kafka: {ck}");
    assert!(ck.get("error").is_null(), "{ck}\n{confluent_log}");
    let get = |k: &str| ck.get(k).as_i64().unwrap_or(-1);
    assert_eq!(get("missing"), 0, "acknowledged records lost: {ck}");
    assert_eq!(get("failed"), 0, "deliveries failed: {ck}\n{confluent_log}");
    assert!(get("acked") > 1000, "{ck}");
    assert!(
        get("acked_after_restart") > 0,
        "nothing acked after the upgrades: {ck}"
    );
    assert_never_refused("confluent-kafka", &confluent_log);
    kp.proxy.assert_healthy();
}
