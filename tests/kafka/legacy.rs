//! Scenario 9: a legacy client against Kafka 4, which removed old protocol versions (KIP-896).
//! Debian's kafka-python 2.0.2 pinned to `api_version=(0, 10)` sends requests of versions the
//! broker no longer accepts, and the broker closes the connection. Through the proxy the client
//! must get the same answer as directly, as fast (never a hang), and the proxy must log a line
//! that names the request and its version and says why.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::harness::{unique, TempDir};
use crate::json::{self, Value};
use crate::kproxy::KProxy;
use crate::tools::{in_ci, KafkaTools};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's python3 with its kafka-python 2.0.2 (package python3-kafka), or `None` after
/// `skipping` (a failure under CI).
fn debian_python(test: &str) -> Option<&'static str> {
    let python = "/usr/bin/python3";
    let ok = Command::new(python)
        .args([
            "-c",
            "import kafka, sys; sys.exit(0 if kafka.__version__ == '2.0.2' else 1)",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let why = "Debian's kafka-python 2.0.2 is not installed (apt-get install python3-kafka)";
        assert!(
            !in_ci(),
            "{test}: CI is set, so a missing tool is a failure: {why}"
        );
        eprintln!("skipping: {test}: {why}");
        return None;
    }
    Some(python)
}

fn probe(python: &str, bootstrap: &str, topic: &str) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let scratch = TempDir::new("kafka-proxy-legacy");
    let started = Instant::now();
    let out = Command::new(python)
        .arg(dir.join("legacy_probe.py"))
        .args([
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--timeout",
            "20",
        ])
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("TMPDIR", scratch.path())
        .stdin(Stdio::null())
        .output()
        .expect("run legacy_probe.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "legacy_probe.py printed no JSON:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let v = json::parse(line).expect("legacy_probe.py JSON");
    eprintln!(
        "kafka-python 2.0.2 via {bootstrap}: {:.1?}: {v}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the legacy client hung: {v}"
    );
    v
}

#[test]
fn legacy_kafka_python_gets_the_brokers_answer_and_a_log_line_naming_the_version() {
    let test = "legacy_kafka_python_gets_the_brokers_answer_and_a_log_line_naming_the_version";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let Some(python) = debian_python(test) else {
        return;
    };
    let cluster = Cluster::start(&tools, Spec::single(&[Protocol::Plaintext]));
    let mut kp = KProxy::mapped(&cluster, Protocol::Plaintext);
    let topic = unique("legacy");
    let direct = probe(
        python,
        &cluster.direct_bootstrap(Protocol::Plaintext),
        &topic,
    );
    let via = probe(python, &kp.bootstrap, &topic);
    assert_eq!(
        direct.get("outcome"),
        via.get("outcome"),
        "direct {direct} vs proxied {via}"
    );
    assert_eq!(
        direct.get("failure"),
        via.get("failure"),
        "direct {direct} vs proxied {via}"
    );
    // Kafka 4 refuses the versions this client sends: the answer is a failure, both ways.
    assert_eq!(via.get("outcome").as_str(), Some("failed"), "{via}");
    let log = kp.proxy.log();
    let line = log
        .lines()
        .find(|l| l.contains("KIP-896"))
        .unwrap_or_else(|| {
            panic!("no proxy log line says why the broker closed the connection:\n{log}")
        });
    eprintln!("the proxy logged: {line}");
    assert!(
        line.contains("Produce (0) v") && line.contains("waited for its response"),
        "{line}"
    );
    kp.proxy.assert_healthy();
}
