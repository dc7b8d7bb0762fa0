//! Runs the client drivers (tests/clients/DRIVERS.md has their contract): each prints one JSON
//! object as the last line of its stdout, `{"error": ...}` on failure.

use crate::json::{self, Value};
use crate::tools::KafkaTools;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A real Kafka client library, through its driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// The Java client (kafka-clients 4.x), tests/clients/java/Driver.java.
    Java,
    /// franz-go, tests/clients/franz/.
    Franz,
    /// KafkaJS 2, tests/clients/kafkajs/driver.js.
    KafkaJs,
    /// confluent-kafka (librdkafka), tests/clients/matrix.py.
    Confluent,
    /// kafka-python 3, tests/clients/matrix.py.
    KafkaPython,
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::Java => "java",
            Client::Franz => "franz-go",
            Client::KafkaJs => "kafkajs",
            Client::Confluent => "confluent-kafka",
            Client::KafkaPython => "kafka-python",
        }
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The command line that runs `client`'s driver, or `None` (after `skipping`) when it is not
/// installed outside CI.
/// `jvm` are options for the Java client's JVM (system properties); other clients have none.
fn command(tools: &KafkaTools, client: Client, test: &str, jvm: &[&str]) -> Option<Command> {
    let cmd = match client {
        Client::Java => {
            let mut c = tools.kafka_java();
            c.arg("-Xmx256m").args(jvm).arg("-cp").arg(format!(
                "{}:{}/*",
                tools.java_driver.display(),
                tools.libs.display()
            ));
            c.arg("Driver");
            c
        }
        Client::Franz => Command::new(tools.franz(test)?),
        Client::KafkaJs => {
            let mut c = Command::new("node");
            c.arg(tools.kafkajs(test)?);
            c
        }
        Client::Confluent | Client::KafkaPython => {
            let mut c = Command::new(&tools.python);
            c.arg(root().join("tests/clients/matrix.py"))
                .args([
                    "--client",
                    if client == Client::Confluent {
                        "confluent"
                    } else {
                        "kafka-python"
                    },
                ])
                .env("PYTHONUNBUFFERED", "1")
                .env("PYTHONDONTWRITEBYTECODE", "1");
            c
        }
    };
    Some(cmd)
}

/// A driver running in the background; its output is collected as it comes.
pub struct Running {
    what: String,
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    pumps: Vec<JoinHandle<()>>,
    started: Instant,
    hard: Duration,
}

fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&buf[..n]);
            into.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_str(&text);
        }
    })
}

/// Starts `driver COMMAND --bootstrap B --timeout T ARGS`; `None` when the client is not
/// installed (outside CI).
/// The Java driver's `produce-loop` arguments: `count` records to `topic`, one per 5 ms, the topic
/// created with 3 partitions of one replica (a single node's).
pub fn produce_loop<'a>(topic: &'a str, count: &'a str) -> Vec<&'a str> {
    vec![
        "produce-loop",
        "--topic",
        topic,
        "--count",
        count,
        "--interval-ms",
        "5",
        "--partitions",
        "3",
        "--replication",
        "1",
    ]
}

pub fn spawn(
    tools: &KafkaTools,
    client: Client,
    test: &str,
    args: &[&str],
    bootstrap: &str,
    timeout: Duration,
) -> Option<Running> {
    spawn_jvm(tools, client, test, args, bootstrap, timeout, &[])
}

/// [`spawn`] with `jvm` options for the Java driver's JVM (e.g. `-Djdk.net.hosts.file=F`, so
/// it resolves names from a file of the test's); other clients ignore them.
pub fn spawn_jvm(
    tools: &KafkaTools,
    client: Client,
    test: &str,
    args: &[&str],
    bootstrap: &str,
    timeout: Duration,
    jvm: &[&str],
) -> Option<Running> {
    let mut cmd = command(tools, client, test, jvm)?;
    let (verb, rest) = args.split_first().expect("a driver command");
    let secs = timeout.as_secs().to_string();
    cmd.arg(verb)
        .args(["--bootstrap", bootstrap, "--timeout", &secs])
        .args(rest)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!(
        "{} {} --bootstrap {bootstrap} {}",
        client.name(),
        verb,
        rest.join(" ")
    );
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {what}: {e}"));
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let pumps = vec![
        drain(child.stdout.take().unwrap(), Arc::clone(&stdout)),
        drain(child.stderr.take().unwrap(), Arc::clone(&stderr)),
    ];
    Some(Running {
        what,
        child,
        stdout,
        stderr,
        pumps,
        started: Instant::now(),
        // The driver has its own deadline; give it a grace period to report before killing it.
        hard: timeout + Duration::from_secs(20),
    })
}

impl Running {
    /// What the driver wrote to stderr so far (progress lines).
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until stderr contains `needle`; false if the driver ended or `timeout` passed.
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.stderr().contains(needle) {
                return true;
            }
            if self.child.try_wait().ok().flatten().is_some() {
                return self.stderr().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Waits for the driver to end and returns its JSON, or what went wrong with its output.
    pub fn finish(self) -> Result<Value, String> {
        self.finish_with_log().0
    }

    /// Like [`Running::finish`], with everything the driver wrote to stderr.
    pub fn finish_with_log(mut self) -> (Result<Value, String>, String) {
        let result = self.wait_json();
        (result, self.stderr())
    }

    fn wait_json(&mut self) -> Result<Value, String> {
        let status = loop {
            if let Some(st) = self.child.try_wait().map_err(|e| e.to_string())? {
                break Some(st);
            }
            if self.started.elapsed() > self.hard {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        for p in self.pumps.drain(..) {
            let _ = p.join();
        }
        let stdout = self
            .stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let stderr = self.stderr();
        let tail: String = {
            let lines: Vec<&str> = stderr.lines().rev().take(80).collect();
            lines.into_iter().rev().map(|l| format!("{l}\n")).collect()
        };
        let details =
            format!("--- stdout ---\n{stdout}--- stderr (last lines) ---\n{tail}--- end ---");
        let what = &self.what;
        let Some(status) = status else {
            return Err(format!("{what}: killed after {:?}\n{details}", self.hard));
        };
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'));
        let json = match line.map(json::parse) {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                return Err(format!("{what}: {status}, unreadable JSON: {e}\n{details}"))
            }
            None => return Err(format!("{what}: {status}, printed no JSON\n{details}")),
        };
        if let Some(e) = json.get("error").as_str() {
            return Err(format!("{what}: client error: {e}\n{details}"));
        }
        if !status.success() {
            return Err(format!("{what}: {status}\n{details}"));
        }
        eprintln!("{what}: {:.1?}: {json}", self.started.elapsed());
        Ok(json)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a driver to completion; `Ok(None)` when the client is not installed (outside CI).
pub fn try_run(
    tools: &KafkaTools,
    client: Client,
    test: &str,
    args: &[&str],
    bootstrap: &str,
    timeout: Duration,
) -> Option<Result<Value, String>> {
    Some(spawn(tools, client, test, args, bootstrap, timeout)?.finish())
}

/// Like [`try_run`], panicking with the driver's output when it fails.
pub fn run(
    tools: &KafkaTools,
    client: Client,
    test: &str,
    args: &[&str],
    bootstrap: &str,
    timeout: Duration,
) -> Option<Value> {
    try_run(tools, client, test, args, bootstrap, timeout)
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
}
