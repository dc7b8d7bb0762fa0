use super::*;
use std::io::Read;
use std::net::TcpListener;
use std::thread;

fn config(broker_port: u16, extra: &[&str]) -> Config {
    let mapping = format!("127.0.0.1:{broker_port},127.0.0.1:0,127.0.0.1:1");
    let mut args = vec!["server", "--check", "--bootstrap-server-mapping", &mapping];
    args.extend_from_slice(&["--kafka-read-timeout", "5s", "--http-disable"]);
    args.extend_from_slice(extra);
    match crate::config::parse(args, |_| None) {
        Ok(crate::config::Mode::Server(config)) => *config,
        other => panic!("bad test config: {other:?}"),
    }
}

fn check(config: Config) -> (bool, String) {
    let mut out = Vec::new();
    let passed = run(config, &mut out);
    (passed, String::from_utf8(out).unwrap())
}

/// A broker that answers one ApiVersions v0 request with one API key.
fn api_versions_broker() -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let broker = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut size = [0u8; 4];
        s.read_exact(&mut size).unwrap();
        let mut request = vec![0u8; i32::from_be_bytes(size) as usize];
        s.read_exact(&mut request).unwrap();
        assert_eq!(&request[..4], &[0, 18, 0, 0], "ApiVersions v0");
        let mut body = request[4..8].to_vec(); // the correlation id
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&1i32.to_be_bytes());
        body.extend_from_slice(&[0, 18, 0, 0, 0, 3]);
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        s.write_all(&frame).unwrap();
    });
    (port, broker)
}

#[test]
fn every_step_passes_against_a_broker_that_answers() {
    let (port, broker) = api_versions_broker();
    let (passed, out) = check(config(port, &[]));
    broker.join().unwrap();
    assert!(passed, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ok ") && lines[0].ends_with("flags: 1 bootstrap mapping"));
    assert!(lines[1].starts_with("ok ") && lines[1].ends_with(&format!("dial 127.0.0.1:{port}")));
    assert!(lines[2].ends_with(&format!("ApiVersions to 127.0.0.1:{port}: 1 API keys")));
    assert_eq!(lines[3], "all 3 checks passed");
    // `ok`, the time right-aligned in ms, two spaces, the step.
    let took = lines[1]["ok".len()..].trim_start();
    assert!(took.split_once("ms  dial").is_some(), "{}", lines[1]);
}

#[test]
fn an_unreachable_broker_fails_its_line_in_words() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (passed, out) = check(config(port, &[]));
    assert!(!passed, "{out}");
    let line = out.lines().nth(1).unwrap();
    assert!(line.starts_with("FAIL "), "{out}");
    assert!(
        line.ends_with(&format!(
            "dial 127.0.0.1:{port}: cannot connect to 127.0.0.1:{port}: Connection refused (os error 111)"
        )),
        "{out}"
    );
    assert!(out.ends_with("1 of 2 checks failed\n"), "{out}");
}

#[test]
fn a_step_before_the_brokers_that_fails_skips_them() {
    let (passed, out) = check(config(
        1,
        &[
            "--tls-enable",
            "--tls-ca-chain-cert-file",
            "/nonexistent/ca.pem",
        ],
    ));
    assert!(!passed);
    assert!(out.contains("FAIL "), "{out}");
    assert!(out.contains("TLS certificates and keys: "), "{out}");
    assert!(out.contains("/nonexistent/ca.pem"), "{out}");
    assert!(out.contains("skip         the brokers"), "{out}");
    assert!(!out.contains("dial"), "{out}");
}

#[test]
fn check_is_recognised_for_flags_that_do_not_parse() {
    let args =
        |list: &[&str]| -> Vec<std::ffi::OsString> { list.iter().map(|a| a.into()).collect() };
    let no_env = |_: &str| None;
    assert!(requested(&args(&["server", "--check", "--bogus"]), no_env));
    assert!(requested(
        &args(&["server", "--bogus", "--check=yes"]),
        no_env
    ));
    assert!(!requested(&args(&["server", "--check=false"]), no_env));
    assert!(!requested(&args(&["plugin", "x", "--check"]), no_env));
    assert!(!requested(&args(&["server", "--bogus"]), no_env));
    let env = |name: &str| (name == "CHECK").then(|| "true".to_string());
    assert!(requested(&args(&["server", "--bogus"]), env));
    assert!(!requested(&args(&["server", "--check=false"]), env));

    let mut out = Vec::new();
    report_usage_error(&"unknown flag --bogus", &mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("FAIL "), "{out}");
    assert!(
        out.contains("ms  flags: unknown flag --bogus\n1 of 1 checks failed\n"),
        "{out}"
    );
}
