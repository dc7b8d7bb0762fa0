//! Scenario 8: Kafka Connect through the proxy. A standalone worker (connect-runtime, with the
//! file connectors) whose only way to the brokers is the proxy copies a file into a topic
//! (FileStreamSource) and back out of it into another file (FileStreamSink); the copy equals
//! the original, as it does with the worker connected directly.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::harness::{free_port, unique};
use crate::kproxy::KProxy;
use crate::tools::KafkaTools;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const LINES: usize = 2000;

/// Runs a standalone worker against `bootstrap` in `dir` until the sink file holds every line
/// of the source file (or 120 s pass), and returns the sink file's text.
fn copy_through_connect(tools: &KafkaTools, dir: &Path, bootstrap: &str, input: &str) -> String {
    fs::create_dir_all(dir).unwrap();
    let source_file = dir.join("in.txt");
    let sink_file = dir.join("out.txt");
    fs::write(&source_file, input).unwrap();
    let topic = unique("connect");
    let worker = format!(
        "bootstrap.servers={bootstrap}\n\
         key.converter=org.apache.kafka.connect.storage.StringConverter\n\
         value.converter=org.apache.kafka.connect.storage.StringConverter\n\
         offset.storage.file.filename={}\n\
         offset.flush.interval.ms=1000\n\
         listeners=http://127.0.0.1:{}\n\
         plugin.discovery=only_scan\n",
        dir.join("offsets").display(),
        free_port()
    );
    let source = format!(
        "name=file-source\nconnector.class=org.apache.kafka.connect.file.FileStreamSourceConnector\n\
         tasks.max=1\nfile={}\ntopic={topic}\n",
        source_file.display()
    );
    let sink = format!(
        "name=file-sink\nconnector.class=org.apache.kafka.connect.file.FileStreamSinkConnector\n\
         tasks.max=1\nfile={}\ntopics={topic}\nconsumer.override.auto.offset.reset=earliest\n",
        sink_file.display()
    );
    for (name, text) in [
        ("worker.properties", &worker),
        ("source.properties", &source),
        ("sink.properties", &sink),
    ] {
        fs::write(dir.join(name), text).unwrap();
    }
    let log = File::create(dir.join("connect.log")).unwrap();
    let mut child = tools
        .kafka_java()
        .args(["-Xmx384m", "org.apache.kafka.connect.cli.ConnectStandalone"])
        .args(["worker.properties", "source.properties", "sink.properties"].map(|f| dir.join(f)))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start ConnectStandalone");
    let deadline = Instant::now() + Duration::from_secs(120);
    let got = loop {
        let got = fs::read_to_string(&sink_file).unwrap_or_default();
        if got.lines().count() >= LINES || Instant::now() > deadline {
            break got;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = fs::read_to_string(dir.join("connect.log")).unwrap_or_default();
            panic!("the Connect worker exited with {status}:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    if got != input {
        let log = fs::read_to_string(dir.join("connect.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(80).collect();
        panic!(
            "via {bootstrap}: the sink file has {} lines of {LINES}, or other text\n--- connect log (last lines, newest first) ---\n{}",
            got.lines().count(),
            tail.join("\n")
        );
    }
    got
}

#[test]
fn kafka_connect_file_source_and_sink_through_the_proxy() {
    let test = "kafka_connect_file_source_and_sink_through_the_proxy";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let cluster = Cluster::start(&tools, Spec::single(&[Protocol::Plaintext]));
    let mut kp = KProxy::mapped(&cluster, Protocol::Plaintext);
    let mut input = String::new();
    for i in 0..LINES {
        let _ = writeln!(
            input,
            "line {i:05}: the quick brown fox jumps over the lazy dog"
        );
    }
    let direct = copy_through_connect(
        &tools,
        &cluster.dir().join("connect-direct"),
        &cluster.direct_bootstrap(Protocol::Plaintext),
        &input,
    );
    let via = copy_through_connect(
        &tools,
        &cluster.dir().join("connect-proxied"),
        &kp.bootstrap,
        &input,
    );
    assert_eq!(direct, via, "the copies differ");
    kp.proxy.assert_healthy();
}
