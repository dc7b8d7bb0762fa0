//! Text a peer chooses (a client's SASL mechanism, a broker's host name, a plugin's standard
//! error) cannot forge a log line or flood the log: the real binary's log, read back, keeps each
//! such string on its line, escaped, and cut to a bounded length.

use crate::fake_broker::{self, metadata_request, node, FakeBroker, RawClient, Received, Reply};
use crate::harness::{Proxy, TempDir};
use crate::local_auth::{
    api_versions_request, auth_user_flags, fake_broker, handshake_request, plain, python_plugin,
    sasl_login, strs, wait_for_log, PASSWORD, USER,
};

/// A line that, unescaped, would look like the proxy's own.
const FORGED: &str = "2026-12-02T00:00:00.000Z ERROR forged by a peer";

/// A peer string: a newline, a forged line, an escape sequence, and 64 KiB more.
fn evil(prefix: &str) -> String {
    format!("{prefix}\n{FORGED}\r\u{1b}[2K{}", "M".repeat(64 * 1024))
}

/// No line of the log is the forged one or starts like it, and none is longer than a few KiB.
fn assert_log_safe(log: &str) {
    for line in log.lines() {
        assert!(
            !line.starts_with(FORGED) && !line.contains("\u{1b}") && !line.contains('\r'),
            "a peer's text broke a log line: {line:?}"
        );
        assert!(line.len() < 4096, "a log line of {} bytes", line.len());
    }
}

#[test]
fn a_clients_sasl_mechanism_is_escaped_and_cut() {
    let broker = fake_broker();
    // Local authentication: the proxy answers the handshake and logs the refusal.
    let local = Proxy::start_for_port(broker.port(), &strs(&auth_user_flags()));
    let mut c = RawClient::connect(local.addr());
    c.send(&api_versions_request(1)).unwrap();
    c.recv().expect("ApiVersions answer");
    c.send(&handshake_request(1, &evil("LOCAL"), 2)).unwrap();
    c.recv();
    wait_for_log(&local, r#"SASL mechanism "LOCAL\n2026"#);
    assert!(sasl_login(local.addr(), &plain(USER, PASSWORD)).is_ok());
    let log = local.log();
    assert_log_safe(&log);
    assert!(log.contains(r"\r\u{1b}[2KMMMM"), "{log}");

    // Pass-through: the legacy v0 flow with a mechanism the proxy cannot frame.
    let plain_proxy = Proxy::start_for_port(broker.port(), &["--log-level", "debug"]);
    let mut c = RawClient::connect(plain_proxy.addr());
    c.send(&handshake_request(0, &evil("LEGACY"), 1)).unwrap();
    c.recv();
    wait_for_log(&plain_proxy, r#"mechanism "LEGACY\n2026"#);
    assert_log_safe(&plain_proxy.log());
}

#[test]
fn a_brokers_host_that_is_no_host_name_is_refused_escaped() {
    let host = evil("broker-9");
    let broker = FakeBroker::start(move |r: &Received| match r.api_key {
        3 => Reply::Frame(fake_broker::metadata_v1_response(
            r.correlation_id,
            &[node(9, &host, 9092)],
            9,
        )),
        _ => Reply::Close,
    });
    let proxy = Proxy::start_for_port(broker.port(), &[]);
    let mut c = RawClient::connect(proxy.addr());
    c.send(&metadata_request(1, 1)).unwrap();
    // The connection is closed: the client never receives the host.
    assert!(c.recv().is_none());
    wait_for_log(&proxy, r#"advertises the host "broker-9\n2026"#);
    let log = proxy.log();
    assert_log_safe(&log);
    assert!(log.contains("which is not a host name"), "{log}");
}

/// A plugin that writes an escape sequence, a carriage return and a very long line to its
/// standard error, then accepts password `pw`.
const NOISY_PLUGIN: &str = r#"import json, sys
sys.stderr.write("WARN about to log\r2026-12-02T00:00:00.000Z ERROR forged by a peer\x1b[2K\n")
sys.stderr.write("INFO " + "N" * 100000 + "\n")
sys.stderr.flush()
for line in sys.stdin:
    req = json.loads(line)
    ok = req.get("password") == "pw"
    print(json.dumps({"id": req["id"], "ok": ok, "identity": req.get("username")}), flush=True)
"#;

#[test]
fn a_plugins_standard_error_is_escaped_and_cut() {
    let dir = TempDir::new("noisy-plugin");
    let flags = python_plugin(&dir, "noisy.py", NOISY_PLUGIN, &[]);
    let broker = fake_broker();
    let proxy = Proxy::start_for_port(broker.port(), &strs(&flags));
    assert!(sasl_login(proxy.addr(), &plain("u", "pw")).is_ok());
    wait_for_log(&proxy, r"about to log\r2026");
    wait_for_log(&proxy, "NNNN…");
    assert_log_safe(&proxy.log());
}
