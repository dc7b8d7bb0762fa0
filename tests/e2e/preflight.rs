//! `kafka-proxy server --check`: one line per step, exit 0 or 1, no listener. Here against tansu,
//! an unreachable broker and a plugin that dies; the wrong SASL password is in sasl.rs (a SCRAM
//! tansu), the bad certificates in tls.rs (HAProxy in front of tansu).

use crate::harness::{self, clean_env, free_port, Broker};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What `kafka-proxy server --check ARGS` printed and how it exited.
pub struct Checked {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Checked {
    /// The line of the step that starts with `what` (after the status and the time).
    pub fn line(&self, what: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.get(13..).is_some_and(|step| step.starts_with(what)))
            .unwrap_or_else(|| panic!("no line for {what:?}:\n{}{}", self.stdout, self.stderr))
    }
}

/// Runs `kafka-proxy server --check ARGS` (with `vars` as its environment) to its end.
pub fn run_check(args: &[&str], vars: &[(&str, &str)]) -> Checked {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafka-proxy"));
    let mut child = clean_env(&mut cmd)
        .envs(vars.iter().copied())
        .args(["server", "--check", "--http-disable"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kafka-proxy --check");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kafka-proxy --check {} kept running", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let checked = Checked {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !checked.stderr.contains("listening on") && !checked.stderr.contains("HTTP on"),
        "--check opened a listener:\n{}",
        checked.stderr
    );
    eprintln!(
        "--- kafka-proxy --check {} ---\n{}",
        args.join(" "),
        checked.stdout
    );
    checked
}

/// `BROKER,127.0.0.1:P` with a free P.
pub fn mapping(broker: &str) -> String {
    format!("{broker},127.0.0.1:{}", free_port())
}

#[test]
fn check_passes_against_tansu_and_opens_no_listener() {
    let Some(tools) = harness::tools("check_passes_against_tansu_and_opens_no_listener") else {
        return;
    };
    let broker = Broker::start(&tools);
    let listen = free_port();
    let map = format!("{},127.0.0.1:{listen}", broker.bootstrap());
    let checked = run_check(&["--bootstrap-server-mapping", &map], &[]);
    assert_eq!(
        checked.code,
        Some(0),
        "{}{}",
        checked.stdout,
        checked.stderr
    );
    let dial = checked.line(&format!("dial {}", broker.bootstrap()));
    assert!(dial.starts_with("ok "), "{dial}");
    let versions = checked.line(&format!("ApiVersions to {}", broker.bootstrap()));
    assert!(
        versions.starts_with("ok ") && versions.ends_with("API keys"),
        "{versions}"
    );
    assert!(
        checked.stdout.ends_with("all 3 checks passed\n"),
        "{}",
        checked.stdout
    );
    // Every ok line: `ok`, the time in ms, the step.
    for line in checked.stdout.lines().filter(|l| l.starts_with("ok")) {
        let took = line[2..].trim_start().split("ms  ").next().unwrap();
        assert!(took.parse::<u64>().is_ok(), "{line}");
    }
    // Nothing was bound: the listen port is still free.
    std::net::TcpListener::bind(("127.0.0.1", listen)).expect("the listen port is free");
}

#[test]
fn check_names_an_unreachable_broker_and_exits_1() {
    let port = free_port();
    let broker = format!("127.0.0.1:{port}");
    let checked = run_check(&["--bootstrap-server-mapping", &mapping(&broker)], &[]);
    assert_eq!(checked.code, Some(1), "{}", checked.stdout);
    let line = checked.line(&format!("dial {broker}"));
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(
        line.ends_with(&format!(
            "cannot connect to {broker}: Connection refused (os error 111)"
        )),
        "{line}"
    );
    // A name that does not resolve, through a dial mapping: both addresses in the line.
    let checked = run_check(
        &[
            "--bootstrap-server-mapping",
            &mapping("kafka-0.example:9092"),
            "--dial-address-mapping",
            "kafka-0.example:9092,no-such-host.invalid:9092",
        ],
        &[],
    );
    assert_eq!(checked.code, Some(1));
    let line = checked.line("dial kafka-0.example:9092 at no-such-host.invalid:9092");
    assert!(
        line.starts_with("FAIL ") && line.contains("cannot resolve no-such-host.invalid:9092"),
        "{line}"
    );
}

#[test]
fn check_names_a_plugin_that_dies() {
    let checked = run_check(
        &[
            "--bootstrap-server-mapping",
            &mapping(&format!("127.0.0.1:{}", free_port())),
            "--auth-local-enable",
            "--auth-local-command",
            "/bin/false",
        ],
        &[],
    );
    assert_eq!(checked.code, Some(1), "{}", checked.stdout);
    let line = checked.line("start plugins: auth-local");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(
        line.contains("plugin auth-local (/bin/false) exited as it started (exit status: 1)"),
        "{line}"
    );
    assert!(
        checked.stdout.contains("skip         the brokers"),
        "{}",
        checked.stdout
    );
}

#[test]
fn check_names_a_bad_flag_or_jaas_file_as_a_failed_line() {
    let map = mapping(&format!("127.0.0.1:{}", free_port()));
    let cases: [(&[&str], &str); 2] = [
        (&["--kafka-dial-timeout", "5x"], "--kafka-dial-timeout"),
        (
            &[
                "--sasl-enable",
                "--sasl-jaas-config-file",
                "/nonexistent/kafka_client_jaas.conf",
            ],
            "/nonexistent/kafka_client_jaas.conf",
        ),
    ];
    for (flags, named) in cases {
        let mut args = vec!["--bootstrap-server-mapping", &map];
        args.extend_from_slice(flags);
        let checked = run_check(&args, &[]);
        assert_eq!(
            checked.code,
            Some(1),
            "{}{}",
            checked.stdout,
            checked.stderr
        );
        let line = checked.line("flags");
        assert!(line.starts_with("FAIL ") && line.contains(named), "{line}");
        assert!(
            checked.stdout.ends_with("1 of 1 checks failed\n"),
            "{}",
            checked.stdout
        );
    }
}
