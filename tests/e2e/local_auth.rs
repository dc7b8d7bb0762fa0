//! Local SASL authentication (`--auth-local-*`): real clients (confluent-kafka, kafka-python 3,
//! and Debian's kafka-python 2.0.2 with the legacy SaslHandshake v0 flow) against tansu through
//! the proxy with the `auth-user` plugin; a fake broker proving that nothing an unauthenticated
//! client sends reaches a broker; the example plugin from the repository; plugins that crash,
//! hang or talk garbage; and OpenLDAP (`slapd`) with `auth-ldap`.

use crate::clients;
use crate::fake_broker::{self, FakeBroker, RawClient, Received, Reply};
use crate::harness::{self, Broker, Proxy, TempDir, Tools};
use kafka_proxy::codec::Writer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "S3cret-Pa55";

/// Flags for `auth-user` with [`USER`] and [`PASSWORD`].
pub fn auth_user_flags() -> Vec<String> {
    [
        "--auth-local-enable",
        "--auth-local-command",
        "auth-user",
        "--auth-local-param",
        "--username",
        "--auth-local-param",
        USER,
        "--auth-local-param",
        "--password",
        "--auth-local-param",
        PASSWORD,
        "--log-level",
        "debug",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The `--auth-local-*` flags that run `source` (Python, written to `name` in `dir`) as the
/// password plugin, followed by `extra`.
pub fn python_plugin(dir: &TempDir, name: &str, source: &str, extra: &[&str]) -> Vec<String> {
    let script = dir.path().join(name);
    std::fs::write(&script, source).unwrap();
    let script = script.to_str().unwrap();
    let python = [
        "--auth-local-command",
        "/usr/bin/env",
        "--auth-local-param",
        "python3",
    ];
    ["--auth-local-enable"]
        .into_iter()
        .chain(python)
        .chain(["--auth-local-param", script])
        .chain(extra.iter().copied())
        .map(String::from)
        .collect()
}

pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Panics under CI, else prints `skipping: ...`; returns `None` so the test can return.
pub fn missing<T>(test: &str, why: &str) -> Option<T> {
    if in_ci() {
        panic!("{test}: CI is set, so a missing tool is a failure: {why}");
    }
    eprintln!("skipping: {test}: {why}");
    None
}

/// Debian's `python3-kafka` (kafka-python 2.0.x) under `/usr/bin/python3`.
fn system_kafka_python(test: &str) -> Option<PathBuf> {
    let python = PathBuf::from("/usr/bin/python3");
    let ok = Command::new(&python)
        .args([
            "-c",
            "import kafka; assert kafka.__version__.startswith('2.0'), kafka.__version__",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Some(python)
    } else {
        missing(
            test,
            "/usr/bin/python3 has no kafka-python 2.0.x (apt-get install python3-kafka; scripts/test.sh does)",
        )
    }
}

// ---- a raw SASL client -------------------------------------------------------------------

/// An ApiVersions v0 request frame.
pub fn api_versions_request(correlation_id: i32) -> Vec<u8> {
    fake_broker::request(18, 0, correlation_id, false, &[])
}

pub fn handshake_request(version: i16, mechanism: &str, correlation_id: i32) -> Vec<u8> {
    let mut body = Vec::new();
    Writer::new(&mut body).string_flex(false, mechanism);
    fake_broker::request(17, version, correlation_id, false, &body)
}

/// SaslAuthenticate v1 (non-flexible) with `token`.
pub fn authenticate_request(token: &[u8], correlation_id: i32) -> Vec<u8> {
    let mut body = Vec::new();
    Writer::new(&mut body).bytes_flex(false, token);
    fake_broker::request(36, 1, correlation_id, false, &body)
}

pub fn plain(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

/// The error code of a SaslHandshake or SaslAuthenticate (v0/v1) response frame.
pub fn error_code(frame: &[u8]) -> i16 {
    i16::from_be_bytes([frame[4], frame[5]])
}

/// ApiVersions, SaslHandshake v1 and SaslAuthenticate v1 with `token`: `Ok(client)` ready for
/// Kafka requests, or `Err` with what went wrong (the error code and message, or a close).
pub fn sasl_login(addr: SocketAddr, token: &[u8]) -> Result<RawClient, String> {
    sasl_login_on(RawClient::connect(addr), token)
}

/// [`sasl_login`] on a connection already open.
pub fn sasl_login_on(mut c: RawClient, token: &[u8]) -> Result<RawClient, String> {
    c.send(&api_versions_request(1))
        .map_err(|e| e.to_string())?;
    let versions = c.recv().ok_or("closed after ApiVersions")?;
    if versions[..4] != 1i32.to_be_bytes() {
        return Err("bad ApiVersions answer".into());
    }
    c.send(&handshake_request(1, "PLAIN", 2))
        .map_err(|e| e.to_string())?;
    let handshake = c.recv().ok_or("closed after SaslHandshake")?;
    if error_code(&handshake) != 0 {
        return Err(format!("handshake error {}", error_code(&handshake)));
    }
    c.send(&authenticate_request(token, 3))
        .map_err(|e| e.to_string())?;
    let answer = c.recv().ok_or("closed after SaslAuthenticate")?;
    match error_code(&answer) {
        0 => Ok(c),
        code => {
            let len = i16::from_be_bytes([answer[6], answer[7]]).max(0) as usize;
            let message = String::from_utf8_lossy(&answer[8..8 + len]).into_owned();
            if !c.is_closed() {
                return Err(format!("error {code} but the connection stayed open"));
            }
            Err(format!("error {code}: {message}"))
        }
    }
}

// ---- a fake broker that answers ApiVersions and Metadata -----------------------------------

fn api_versions_response(correlation_id: i32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i32(correlation_id);
    w.i16(0);
    let apis: [(i16, i16, i16); 5] = [(0, 0, 9), (1, 0, 12), (3, 0, 12), (18, 0, 3), (17, 0, 1)];
    w.i32(apis.len() as i32);
    for (k, lo, hi) in apis {
        w.i16(k);
        w.i16(lo);
        w.i16(hi);
    }
    out
}

pub fn fake_broker() -> FakeBroker {
    FakeBroker::start(|r: &Received| match r.api_key {
        18 => Reply::Frame(api_versions_response(r.correlation_id)),
        3 => Reply::Frame(fake_broker::metadata_v1_response(r.correlation_id, &[], -1)),
        _ => Reply::Close,
    })
}

/// The client id in a request frame (header v1).
fn client_id(frame: &[u8]) -> String {
    let len = i16::from_be_bytes([frame[8], frame[9]]).max(0) as usize;
    String::from_utf8_lossy(&frame[10..10 + len]).into_owned()
}

/// Only the proxy's own ApiVersions probes may have reached the broker.
pub fn assert_nothing_from_clients(broker: &FakeBroker) {
    for r in broker.received() {
        assert!(
            r.api_key == 18 && client_id(&r.frame) == "kafka-proxy",
            "a client's request reached the broker: key {} from {:?}",
            r.api_key,
            client_id(&r.frame)
        );
    }
}

fn produce_request(correlation_id: i32) -> Vec<u8> {
    // Produce v3: null transactional id, acks 1, timeout, no topics.
    let mut body = Vec::new();
    let mut w = Writer::new(&mut body);
    w.i16(-1);
    w.i16(1);
    w.i32(1000);
    w.i32(0);
    fake_broker::request(0, 3, correlation_id, false, &body)
}

// ---- the tests -----------------------------------------------------------------------------

#[test]
fn real_clients_with_auth_user() {
    let test = "local_auth::real_clients_with_auth_user";
    let Some(tools) = harness::tools(test) else {
        return;
    };
    let Some(system_python) = system_kafka_python(test) else {
        return;
    };
    let broker = Broker::start(&tools);
    let flags = auth_user_flags();
    let mut proxy = Proxy::start_with(&broker, &strs(&flags), &[]);
    let bootstrap = proxy.bootstrap();
    let legacy = Tools {
        python: system_python,
        ..tools.clone()
    };
    let timeout = Duration::from_secs(60);
    for (tools, client, name) in [
        (&tools, "confluent", "confluent-kafka"),
        (&tools, "kafka-python", "kafka-python 3"),
        (&legacy, "kafka-python", "kafka-python 2.0.2"),
    ] {
        let topic = harness::unique("local-auth");
        let ok = clients::run(
            tools,
            "sasl_roundtrip.py",
            &bootstrap,
            &[
                "--client",
                client,
                "--username",
                USER,
                "--password",
                PASSWORD,
                "--topic",
                &topic,
                "--count",
                "50",
            ],
            timeout,
        );
        assert_eq!(ok.json.get("produced").as_i64(), Some(50), "{name}");
        assert_eq!(ok.json.get("consumed").as_i64(), Some(50), "{name}");
        for (user, password) in [(USER, "wrong-password"), ("mallory", PASSWORD)] {
            let refused = clients::run(
                tools,
                "sasl_roundtrip.py",
                &bootstrap,
                &[
                    "--client",
                    client,
                    "--mode",
                    "auth-check",
                    "--username",
                    user,
                    "--password",
                    password,
                ],
                Duration::from_secs(30),
            );
            assert_eq!(
                refused.json.get("authenticated").as_bool(),
                Some(false),
                "{name} with user {user:?}: {}",
                refused.json
            );
        }
    }
    proxy.assert_healthy();
    let log = proxy.log();
    assert!(log.contains("authenticated as \"alice\""), "{log}");
    assert!(log.contains("refused: user \"alice\": invalid username or password"));
    assert!(log.contains("refused: user \"mallory\""));
    assert!(
        !log.contains(PASSWORD) && !log.contains("wrong-password"),
        "a password was logged"
    );
}

#[test]
fn sasl_over_tls_listener() {
    let test = "local_auth::sasl_over_tls_listener";
    let Some(tools) = harness::tools(test) else {
        return;
    };
    if !Path::new("/usr/bin/openssl").is_file() {
        missing::<()>(test, "openssl not found (apt-get install openssl)");
        return;
    }
    let dir = TempDir::new("sasl-ssl");
    make_certs(dir.path(), "sasl-ssl-ca");
    let broker = Broker::start(&tools);
    let mut flags = auth_user_flags();
    let file = |name: &str| dir.path().join(name).display().to_string();
    flags.extend([
        "--proxy-listener-tls-enable".to_string(),
        "--proxy-listener-cert-file".to_string(),
        file("server.pem"),
        "--proxy-listener-key-file".to_string(),
        file("server.key"),
    ]);
    let mut proxy = Proxy::start_with(&broker, &strs(&flags), &[]);
    let topic = harness::unique("sasl-ssl");
    let ca = file("ca.pem");
    let base = ["--client", "confluent", "--ca", &ca, "--username", USER];
    let ok = clients::run(
        &tools,
        "sasl_roundtrip.py",
        &proxy.bootstrap(),
        &[
            &base[..],
            &["--password", PASSWORD, "--topic", &topic, "--count", "30"],
        ]
        .concat(),
        Duration::from_secs(60),
    );
    assert_eq!(ok.json.get("consumed").as_i64(), Some(30));
    let refused = clients::run(
        &tools,
        "sasl_roundtrip.py",
        &proxy.bootstrap(),
        &[&base[..], &["--password", "wrong", "--mode", "auth-check"]].concat(),
        Duration::from_secs(30),
    );
    assert_eq!(refused.json.get("authenticated").as_bool(), Some(false));
    proxy.assert_healthy();
    assert!(proxy.log().contains("authenticated as \"alice\""));
}

#[test]
fn unauthenticated_requests_never_reach_the_broker() {
    let broker = fake_broker();
    let flags = auth_user_flags();
    let mut proxy = Proxy::start_for_port(broker.port(), &strs(&flags));
    let addr = proxy.addr();

    // A Produce as the very first request, after ApiVersions, and after the handshake.
    let mut c = RawClient::connect(addr);
    c.send(&produce_request(1)).unwrap();
    assert!(
        c.recv().is_none(),
        "a Produce before SASL must close the connection"
    );
    let mut c = RawClient::connect(addr);
    c.send(&api_versions_request(1)).unwrap();
    assert!(c.recv().is_some());
    c.send(&produce_request(2)).unwrap();
    assert!(c.recv().is_none());
    let mut c = RawClient::connect(addr);
    c.send(&handshake_request(1, "PLAIN", 1)).unwrap();
    assert_eq!(error_code(&c.recv().unwrap()), 0);
    c.send(&fake_broker::metadata_request(1, 2)).unwrap();
    assert!(c.recv().is_none());
    // SaslAuthenticate without a handshake first.
    let mut c = RawClient::connect(addr);
    c.send(&authenticate_request(&plain(USER, PASSWORD), 1))
        .unwrap();
    assert!(c.recv().is_none());

    // Malformed PLAIN tokens: error 58, then closed.
    let long_user = format!("\0{}\0{PASSWORD}", "u".repeat(300));
    let long_password = format!("\0{USER}\0{}", "p".repeat(1100));
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("no NUL", format!("{USER}{PASSWORD}").into_bytes()),
        ("one NUL", format!("{USER}\0{PASSWORD}").into_bytes()),
        ("three NULs", format!("\0{USER}\0{PASSWORD}\0").into_bytes()),
        ("empty username", plain("", PASSWORD)),
        ("empty password", plain(USER, "")),
        ("non-UTF-8", b"\0al\xffice\0S3cret-Pa55".to_vec()),
        ("long username", long_user.into_bytes()),
        ("long password", long_password.into_bytes()),
        ("wrong password", plain(USER, "nope")),
        ("wrong user", plain("bob", PASSWORD)),
    ];
    for (what, token) in &bad {
        let err = sasl_login(addr, token)
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(
            err.starts_with("error 58: Authentication failed"),
            "{what}: {err}"
        );
    }
    // An oversize frame before authentication: closed without an answer.
    let mut c = RawClient::connect(addr);
    c.send(&api_versions_request(1)).unwrap();
    c.recv().unwrap();
    c.send(&handshake_request(1, "PLAIN", 2)).unwrap();
    c.recv().unwrap();
    assert!(c
        .send(&authenticate_request(&vec![b'x'; 100_000], 3))
        .is_ok());
    assert!(c.recv().is_none());
    // Another mechanism: error 33 naming PLAIN, then closed.
    let mut c = RawClient::connect(addr);
    c.send(&handshake_request(1, "SCRAM-SHA-256", 1)).unwrap();
    let answer = c.recv().unwrap();
    assert_eq!(error_code(&answer), 33);
    assert!(answer.ends_with(b"PLAIN"));
    assert!(c.recv().is_none());
    // The legacy v0 flow with a wrong password: closed, no empty token.
    let mut c = RawClient::connect(addr);
    c.send(&handshake_request(0, "PLAIN", 1)).unwrap();
    assert_eq!(error_code(&c.recv().unwrap()), 0);
    c.send(&plain(USER, "nope")).unwrap();
    assert!(c.recv().is_none());

    assert_nothing_from_clients(&broker);

    // The legacy flow with the right password: an empty token, then Kafka requests flow.
    let mut c = RawClient::connect(addr);
    c.send(&handshake_request(0, "PLAIN", 1)).unwrap();
    assert_eq!(error_code(&c.recv().unwrap()), 0);
    c.send(&plain(USER, PASSWORD)).unwrap();
    assert_eq!(c.recv(), Some(Vec::new()));
    c.send(&fake_broker::metadata_request(1, 5)).unwrap();
    assert_eq!(c.recv().unwrap()[..4], 5i32.to_be_bytes());
    // And the v1 flow.
    let mut c = sasl_login(addr, &plain(USER, PASSWORD)).unwrap();
    c.send(&fake_broker::metadata_request(1, 6)).unwrap();
    assert_eq!(c.recv().unwrap()[..4], 6i32.to_be_bytes());
    let metadata = broker.received().iter().filter(|r| r.api_key == 3).count();
    assert_eq!(metadata, 2, "authenticated requests reach the broker");

    proxy.assert_healthy();
    let log = proxy.log();
    for why in [
        "sent Produce (0) v3 before authenticating",
        "expected exactly two NUL separators",
        "empty username",
        "username is not UTF-8",
        "username longer than 255 bytes",
        "password longer than 1024 bytes",
        "asked for SASL mechanism \"SCRAM-SHA-256\"",
        "bytes before authenticating; at most 65536 are accepted",
    ] {
        assert!(log.contains(why), "log lacks {why:?}:\n{log}");
    }
    assert!(!log.contains(PASSWORD), "a password was logged");
}

#[test]
fn the_example_plugin_from_the_repository() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plugins/auth-plain.py");
    let broker = fake_broker();
    let mut proxy = Proxy::start_for_port(
        broker.port(),
        &[
            "--auth-local-enable",
            "--auth-local-command",
            script.to_str().unwrap(),
            "--auth-local-param",
            "alice=s1",
            "--auth-local-param",
            "bob=s2",
        ],
    );
    assert!(sasl_login(proxy.addr(), &plain("alice", "s1")).is_ok());
    assert!(sasl_login(proxy.addr(), &plain("bob", "s2")).is_ok());
    let err = sasl_login(proxy.addr(), &plain("bob", "s1")).err().unwrap();
    assert!(err.starts_with("error 58"), "{err}");
    proxy.assert_healthy();
    // The plugin's stderr is in the proxy's log.
    wait_for_log(&proxy, "plugin auth-local: refused user 'bob'");
}

/// Waits (up to 5 s) until the proxy's log contains `text`; panics with the log otherwise.
pub fn wait_for_log(proxy: &Proxy, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !proxy.log().contains(text) {
        assert!(
            Instant::now() < deadline,
            "log lacks {text:?}:\n{}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A plugin that crashes for user `crash`, hangs for `hang`, talks garbage for `garbage`, and
/// otherwise accepts password `pw`.
const MOODY_PLUGIN: &str = r#"import json, os, sys, time
for line in sys.stdin:
    req = json.loads(line)
    user = req.get("username")
    if user == "crash":
        os._exit(3)
    if user == "hang":
        time.sleep(3600)
    if user == "garbage":
        print("I am not JSON", flush=True)
        continue
    ok = req.get("password") == "pw"
    print(json.dumps({"id": req["id"], "ok": ok, "identity": user}), flush=True)
"#;

fn plugin_pid(log: &str) -> u32 {
    log.rsplit("(pid ")
        .next()
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no plugin pid in the log:\n{log}"))
}

#[test]
fn crashed_hung_and_garbage_plugins_fail_closed_and_recover() {
    let dir = TempDir::new("moody-plugin");
    let flags = python_plugin(
        &dir,
        "moody.py",
        MOODY_PLUGIN,
        &["--auth-local-timeout", "1s"],
    );
    let broker = fake_broker();
    let mut proxy = Proxy::start_for_port(broker.port(), &strs(&flags));
    let addr = proxy.addr();
    let good = || sasl_login(addr, &plain("u", "pw"));
    assert!(good().is_ok());
    for (user, cause) in [
        ("crash", "the plugin exited"),
        ("garbage", "the plugin broke the protocol"),
        ("hang", "the plugin did not answer within 1s"),
    ] {
        let started = Instant::now();
        let err = sasl_login(addr, &plain(user, "pw")).err().unwrap();
        assert!(
            err.contains("could not check the credentials"),
            "{user}: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{user}");
        assert!(proxy.log().contains(cause), "{user}: {}", proxy.log());
        // Restarted: the next client gets in (after the short back-off of a young death).
        let deadline = Instant::now() + Duration::from_secs(5);
        while good().is_err() {
            assert!(Instant::now() < deadline, "{user}: never recovered");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Killed from outside while idle: noticed and replaced on the next call.
    let pid = plugin_pid(&proxy.log());
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(good().is_ok());
    assert_ne!(plugin_pid(&proxy.log()), pid);
    assert_nothing_from_clients(&broker);
    proxy.assert_healthy();
}

/// A plugin that takes 50 ms over each check and accepts user `u` with password `pw`.
const SLOW_PLUGIN: &str = r#"import json, sys, time
for line in sys.stdin:
    req = json.loads(line)
    time.sleep(0.05)
    ok = req.get("username") == "u" and req.get("password") == "pw"
    print(json.dumps({"id": req["id"], "ok": ok, "identity": "u"}), flush=True)
"#;

#[test]
fn a_crowd_of_logins_does_not_lock_out_a_correct_client() {
    // 200 logins at once with a wrong password, against a plugin that answers in 50 ms with a
    // 1 s timeout: about 20 are answered within the timeout, the others give up waiting for
    // their turn. Before, a waiter whose deadline passed in the queue still took its turn,
    // timed out at once, and got the healthy plugin killed, which then sat out its back-off
    // while every login failed.
    let dir = TempDir::new("slow-plugin");
    let flags = python_plugin(
        &dir,
        "slow.py",
        SLOW_PLUGIN,
        &[
            "--auth-local-timeout",
            "1s",
            // The crowd comes from one address: without these the per-address cap and the
            // failure delay (tested on their own below) would refuse it before the plugin
            // queue this test is about.
            "--max-unauthenticated-connections-per-address",
            "0",
            "--auth-failure-delay",
            "0",
            "--log-level",
            "debug",
        ],
    );
    let broker = fake_broker();
    let mut proxy = Proxy::start_for_port(broker.port(), &strs(&flags));
    let addr = proxy.addr();
    assert!(sasl_login(addr, &plain("u", "pw")).is_ok());
    let pid = plugin_pid(&proxy.log());
    let started = Instant::now();
    let crowd: Vec<_> = (0..200)
        .map(|_| std::thread::spawn(move || sasl_login(addr, &plain("u", "wrong")).err()))
        .collect();
    for client in crowd {
        let err = client.join().unwrap();
        assert!(
            err.as_deref().is_some_and(|e| e.starts_with("error 58")),
            "{err:?}"
        );
    }
    let crowd_took = started.elapsed();
    let log = proxy.log();
    assert!(
        log.contains("the plugin was busy with other calls"),
        "{log}"
    );
    assert!(
        log.contains("user \"u\": invalid credentials"),
        "some of the crowd were answered by the plugin:\n{log}"
    );
    // A correct client gets in at once, from the same plugin process.
    let t0 = Instant::now();
    let mut c = sasl_login(addr, &plain("u", "pw"))
        .unwrap_or_else(|e| panic!("locked out after the crowd ({crowd_took:?}): {e}"));
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    c.send(&fake_broker::metadata_request(1, 7)).unwrap();
    assert!(c.recv().is_some());
    let log = proxy.log();
    assert!(
        !log.contains("stopping it"),
        "the plugin was stopped:\n{log}"
    );
    assert_eq!(plugin_pid(&log), pid, "the plugin was replaced");
    proxy.assert_healthy();
}

/// The NUL-separated entries of `/proc/PID/FILE`.
fn proc_entries(pid: u32, file: &str) -> Vec<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/{file}"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/{file}: {e}"));
    bytes
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect()
}

#[test]
fn plugin_secrets_stay_off_its_command_line_and_out_of_its_environment() {
    // The password (with a space, which AUTH_LOCAL_PARAM, split at spaces, could never carry
    // inline) in a file; the plugin's flags from AUTH_LOCAL_PARAM; and secrets of the proxy's
    // own in its environment, which the plugin must not inherit: SASL_PASSWORD, key passwords,
    // and FORWARD_PROXY with credentials (a real one, which the proxy reaches the broker
    // through).
    use crate::forward;
    const FILE_PASSWORD: &str = "correct horse battery";
    const SASL_SECRET: &str = "sasl-secret-f0r-the-broker";
    const KEY_SECRET: &str = "key-secret-0f-the-listener";
    let dir = TempDir::new("plugin-secrets");
    let (socks, socks_port) = forward::start_tool("socks5-proxy", true, dir.path());
    let forward_proxy = format!(
        "socks5://{}:{}@127.0.0.1:{socks_port}",
        forward::USER,
        forward::PASSWORD_IN_URL
    );
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{FILE_PASSWORD}\n")).unwrap();
    let params = format!(
        "--username {USER} --password-file {}",
        password_file.display()
    );
    let broker = fake_broker();
    let mut proxy = Proxy::start_for_port_with(
        broker.port(),
        &[
            "--auth-local-enable",
            "--auth-local-command",
            "auth-user",
            "--log-level",
            "debug",
        ],
        &[
            ("AUTH_LOCAL_PARAM", &params),
            ("SASL_PASSWORD", SASL_SECRET),
            ("TLS_CLIENT_KEY_PASSWORD", KEY_SECRET),
            ("PROXY_LISTENER_KEY_PASSWORD", KEY_SECRET),
            ("FORWARD_PROXY", &forward_proxy),
            ("LC_ALL", "C"),
            ("TZ", "UTC"),
        ],
    );
    let addr = proxy.addr();
    let mut c = sasl_login(addr, &plain(USER, FILE_PASSWORD))
        .unwrap_or_else(|e| panic!("refused: {e}\n{}", proxy.log()));
    c.send(&fake_broker::metadata_request(1, 3)).unwrap();
    assert!(c.recv().is_some());
    let err = sasl_login(addr, &plain(USER, "correct")).err().unwrap();
    assert!(err.starts_with("error 58"), "{err}");

    let child = plugin_pid(&proxy.log());
    let cmdline = proc_entries(child, "cmdline");
    assert_eq!(
        cmdline[1..],
        [
            "plugin",
            "auth-user",
            "--username",
            USER,
            "--password-file",
            password_file.to_str().unwrap()
        ],
        "{cmdline:?}"
    );
    let environ = proc_entries(child, "environ");
    let names: Vec<&str> = environ
        .iter()
        .map(|e| e.split('=').next().unwrap_or(""))
        .collect();
    for entry in &environ {
        for secret in [
            FILE_PASSWORD,
            SASL_SECRET,
            KEY_SECRET,
            forward::PASSWORD,
            forward::PASSWORD_IN_URL,
        ] {
            assert!(!entry.contains(secret), "the plugin got {entry:?}");
        }
    }
    for name in &names {
        assert!(
            kafka_proxy::plugin::passed_to_plugins(name),
            "the plugin got {name}: {names:?}"
        );
    }
    for expected in ["LC_ALL", "TZ"] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    if std::env::var_os("PATH").is_some() {
        assert!(names.contains(&"PATH"), "{names:?}");
    }
    // The proxy itself had them (the plugin was not given them for want of them).
    let proxy_environ = proc_entries(proxy.pid(), "environ");
    assert!(proxy_environ
        .iter()
        .any(|e| e == &format!("SASL_PASSWORD={SASL_SECRET}")));
    forward::assert_tunnelled(
        &socks,
        &format!("tunnel to 127.0.0.1:{} open", broker.port()),
    );

    let log = proxy.log();
    assert!(!log.contains(FILE_PASSWORD), "the password was logged");
    assert!(!log.contains("is visible to every local user"), "{log}");
    proxy.assert_healthy();
    assert_nothing_from_clients_except_metadata(&broker);
}

#[test]
fn an_inline_plugin_password_is_warned_about() {
    let broker = fake_broker();
    let flags = auth_user_flags();
    let proxy = Proxy::start_for_port(broker.port(), &strs(&flags));
    assert!(sasl_login(proxy.addr(), &plain(USER, PASSWORD)).is_ok());
    wait_for_log(
        &proxy,
        "--password is visible to every local user in process listings",
    );
    assert!(!proxy.log().contains(PASSWORD), "the password was logged");
}

// ---- limits per address --------------------------------------------------------------------

/// Logs in from `from` (a loopback address) and says how long it took.
fn timed_login(
    from: [u8; 4],
    addr: SocketAddr,
    token: &[u8],
) -> (Result<RawClient, String>, Duration) {
    let started = Instant::now();
    let result = sasl_login_on(RawClient::connect_from(from, addr), token);
    (result, started.elapsed())
}

#[test]
fn a_failed_login_delays_the_next_from_its_address_only() {
    let broker = fake_broker();
    // The default --auth-failure-delay, 1s.
    let flags = auth_user_flags();
    let mut proxy = Proxy::start_for_port(broker.port(), &strs(&flags));
    let addr = proxy.addr();
    let (warm, _) = timed_login([127, 0, 0, 3], addr, &plain(USER, PASSWORD));
    warm.expect("a first login (learns the broker's versions)");

    let (refused, _) = timed_login([127, 0, 0, 1], addr, &plain(USER, "guess-1"));
    let err = refused.err().expect("a wrong password is refused");
    assert!(err.starts_with("error 58: Authentication failed"), "{err}");
    // Another address is not slowed down.
    let (other, took) = timed_login([127, 0, 0, 2], addr, &plain(USER, PASSWORD));
    other.expect("the other address logs in");
    assert!(
        took < Duration::from_millis(700),
        "the other address waited {took:?}"
    );
    // The failing address waits out the delay, even with the right password on a new
    // connection.
    let (again, took) = timed_login([127, 0, 0, 1], addr, &plain(USER, PASSWORD));
    again.expect("the right password after the delay");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "the failing address waited {took:?}"
    );
    // Guesses in parallel from one address share its wait: however they are spread, three
    // refusals cost the address three delays before its next check.
    let started = Instant::now();
    let guesses: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || {
                timed_login([127, 0, 0, 1], addr, &plain(USER, &format!("guess-{i}"))).0
            })
        })
        .collect();
    for guess in guesses {
        assert!(guess.join().unwrap().is_err());
    }
    let (after, _) = timed_login([127, 0, 0, 1], addr, &plain(USER, PASSWORD));
    after.expect("the right password after the delays");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(8),
        "three parallel guesses and a login took {took:?}"
    );
    proxy.assert_healthy();
    assert!(!proxy.log().contains("guess-"), "a password was logged");
}

#[test]
fn unauthenticated_connections_per_address_are_capped() {
    let broker = fake_broker();
    let mut flags = auth_user_flags();
    // The default --max-unauthenticated-connections-per-address, 16; the silent connections
    // must outlive the test's steps.
    flags.extend(["--handshake-timeout".to_string(), "60s".to_string()]);
    let mut proxy = Proxy::start_for_port(broker.port(), &strs(&flags));
    let addr = proxy.addr();
    // From 127.0.0.9: the harness's own check that the proxy accepts comes from 127.0.0.1,
    // and its slot may not be freed yet (a full run once raced it).
    let held: Vec<RawClient> = (0..16)
        .map(|_| RawClient::connect_from([127, 0, 0, 9], addr))
        .collect();
    // Accepted in order, so the 17th is the one past the limit.
    let mut past = RawClient::connect_from([127, 0, 0, 9], addr);
    past.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(
        past.is_closed(),
        "the 17th connection from one address must be closed at once"
    );
    let refusals = || {
        let (_, metrics) = harness::http_get(proxy.http_port, "/metrics");
        harness::metric(
            &metrics,
            "proxy_errors_total",
            &["cause=\"unauthenticated_connection_limit\""],
        )
    };
    assert_eq!(refusals(), 1.0);
    // Another address still gets in.
    sasl_login_on(
        RawClient::connect_from([127, 0, 0, 2], addr),
        &plain(USER, PASSWORD),
    )
    .expect("another address logs in");
    // An authenticated connection no longer counts: its slot goes to the next one.
    let mut held = held.into_iter();
    let mut authenticated = sasl_login_on(held.next().unwrap(), &plain(USER, PASSWORD))
        .expect("a held connection logs in");
    // The slot is freed just after the answer to the login is written, which the client may
    // read first (a full run once raced it): give the proxy's thread a moment.
    std::thread::sleep(Duration::from_millis(500));
    let mut next = sasl_login_on(
        RawClient::connect_from([127, 0, 0, 9], addr),
        &plain(USER, PASSWORD),
    )
    .expect("a slot freed by a login is taken by the next connection");
    for (c, id) in [(&mut authenticated, 11), (&mut next, 12)] {
        c.send(&fake_broker::metadata_request(1, id)).unwrap();
        assert_eq!(c.recv().unwrap()[..4], id.to_be_bytes());
    }
    assert_eq!(refusals(), 1.0);
    wait_for_log(
        &proxy,
        "--max-unauthenticated-connections-per-address allows",
    );
    drop(held);
    proxy.assert_healthy();
}

#[test]
fn clients_do_not_wait_behind_a_probe_of_a_silent_broker() {
    // A broker that accepts connections and never answers: the proxy's ApiVersions probe of
    // it gets no answer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let holder = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    };
    let mut flags = auth_user_flags();
    flags.extend(["--handshake-timeout", "2s", "--kafka-read-timeout", "30s"].map(String::from));
    let mut proxy = Proxy::start_for_port(port, &strs(&flags));
    let addr = proxy.addr();
    let started = Instant::now();
    let clients: Vec<_> = [[127, 0, 0, 1], [127, 0, 0, 2]]
        .into_iter()
        .map(|from| {
            std::thread::spawn(move || {
                let mut c = RawClient::connect_from(from, addr);
                c.send(&api_versions_request(1)).unwrap();
                let answer = c.recv();
                (answer, started.elapsed())
            })
        })
        .collect();
    for client in clients {
        let (answer, took) = client.join().unwrap();
        assert!(
            answer.is_none(),
            "no versions to advertise: the client is closed"
        );
        // Each within its own --handshake-timeout (2 s), not after the probe's 30 s read
        // timeout, and not after the other client's probe.
        assert!(
            took >= Duration::from_millis(1800) && took < Duration::from_millis(3500),
            "a client was closed after {took:?}"
        );
    }
    wait_for_log(
        &proxy,
        "broker timed out during the authentication handshake",
    );
    proxy.assert_healthy();
    stop.store(true, std::sync::atomic::Ordering::Release);
    holder.join().unwrap();
}

// ---- OpenLDAP ------------------------------------------------------------------------------

/// Runs `program args` in `dir`, panicking with its output on failure.
fn run_tool(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a certificate it signed for 127.0.0.1 and localhost, made with the openssl CLI:
/// `ca.pem`, `server.pem`, `server.key` in `dir`.
pub fn make_certs(dir: &Path, ca_name: &str) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let subject = format!("/CN={ca_name}");
    run_tool(
        dir,
        "openssl",
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", &subject,
        ],
    );
    run_tool(
        dir,
        "openssl",
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    run_tool(
        dir,
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

const LDAP_BASE: &str = "dc=example,dc=com";
const LDAP_ADMIN: &str = "cn=admin,dc=example,dc=com";
const LDAP_ADMIN_PW: &str = "admin-pw";
const ALICE_LDAP_PW: &str = "alice-ldap-pw";

/// A throwaway slapd: an mdb database in a temp dir, `ldap://` and `ldaps://` on loopback
/// ports, StartTLS with a certificate from a CA made for the test.
struct Slapd {
    port: u16,
    tls_port: u16,
    dir: TempDir,
    child: std::process::Child,
}

impl Slapd {
    fn start(test: &str) -> Option<Slapd> {
        for tool in ["/usr/sbin/slapd", "/usr/sbin/slapadd", "/usr/bin/openssl"] {
            if !Path::new(tool).is_file() {
                return missing(
                    test,
                    &format!("{tool} not found (apt-get install slapd ldap-utils openssl; scripts/test.sh does)"),
                );
            }
        }
        let dir = TempDir::new("slapd");
        let d = dir.path();
        make_certs(d, "ldap-test-ca");
        std::fs::create_dir(d.join("db")).unwrap();
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             pidfile {d}/slapd.pid\n\
             argsfile {d}/slapd.args\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             TLSCACertificateFile {d}/ca.pem\n\
             TLSCertificateFile {d}/server.pem\n\
             TLSCertificateKeyFile {d}/server.key\n\
             database mdb\n\
             maxsize 10485760\n\
             suffix \"{LDAP_BASE}\"\n\
             rootdn \"{LDAP_ADMIN}\"\n\
             rootpw {LDAP_ADMIN_PW}\n\
             directory {d}/db\n",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        let person = |uid: &str, pw: &str| {
            format!(
                "dn: uid={uid},ou=people,{LDAP_BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\n\
                 cn: {uid}\nsn: {uid}\nuserPassword: {pw}\n\n"
            )
        };
        let ldif = format!(
            "dn: {LDAP_BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
             dn: ou=people,{LDAP_BASE}\nobjectClass: organizationalUnit\nou: people\n\n{}{}",
            person("alice", ALICE_LDAP_PW),
            person("bob", "bob-ldap-pw"),
        );
        std::fs::write(d.join("data.ldif"), ldif).unwrap();
        run_tool(
            d,
            "/usr/sbin/slapadd",
            &["-f", "slapd.conf", "-l", "data.ldif"],
        );
        let port = harness::free_port();
        let tls_port = harness::free_port();
        let urls = format!("ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/");
        let log = std::fs::File::create(d.join("slapd.log")).unwrap();
        // -d keeps slapd in the foreground (a child this test can kill); the distro's service
        // is neither needed nor touched.
        let child = Command::new("/usr/sbin/slapd")
            .args(["-f", "slapd.conf", "-h", &urls, "-d", "0"])
            .current_dir(d)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start slapd");
        let slapd = Slapd {
            port,
            tls_port,
            dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "slapd did not start:\n{}",
                std::fs::read_to_string(slapd.dir.path().join("slapd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(slapd)
    }

    fn ca(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ldap_proxy(broker: &FakeBroker, plugin_params: &[String]) -> Proxy {
    let mut args: Vec<String> = vec![
        "--auth-local-enable".into(),
        "--auth-local-command".into(),
        "auth-ldap".into(),
        "--log-level".into(),
        "debug".into(),
    ];
    for p in plugin_params {
        args.push("--auth-local-param".into());
        args.push(p.clone());
    }
    Proxy::start_for_port(broker.port(), &strs(&args))
}

#[test]
fn openldap_in_both_bind_modes_plain_and_tls() {
    let test = "local_auth::openldap_in_both_bind_modes_plain_and_tls";
    let Some(slapd) = Slapd::start(test) else {
        return;
    };
    let broker = fake_broker();
    let ldap = format!("ldap://127.0.0.1:{}", slapd.port);
    let ldaps = format!("ldaps://127.0.0.1:{}", slapd.tls_port);
    let ca = slapd.ca();
    let template = [
        "--user-dn",
        "ou=people,dc=example,dc=com",
        "--user-attr",
        "uid",
    ];
    // The service account's password from a file, off the plugin's command line.
    let secrets = TempDir::new("ldap-bind-passwd");
    let bind_passwd_file = secrets.path().join("bind-passwd");
    std::fs::write(&bind_passwd_file, format!("{LDAP_ADMIN_PW}\n")).unwrap();
    let bind_passwd_file = bind_passwd_file.display().to_string();
    let search = [
        "--bind-dn",
        LDAP_ADMIN,
        "--bind-passwd-file",
        &bind_passwd_file,
        "--user-search-base",
        LDAP_BASE,
        "--user-filter",
        "(&(objectClass=inetOrgPerson)(uid=%u))",
    ];
    let setups: Vec<(&str, Vec<String>)> = vec![
        (
            "bind as DN, plain LDAP",
            [&["--url", &ldap][..], &template]
                .concat()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
        (
            "bind as DN, StartTLS",
            [
                &["--url", &ldap, "--start-tls", "--ca-cert-file", &ca][..],
                &template,
            ]
            .concat()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ),
        (
            "search, plain LDAP",
            [&["--url", &ldap][..], &search]
                .concat()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
        (
            "search, StartTLS",
            [
                &["--url", &ldap, "--start-tls", "--ca-cert-file", &ca][..],
                &search,
            ]
            .concat()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ),
        (
            "search, ldaps://",
            [&["--url", &ldaps, "--ca-cert-file", &ca][..], &search]
                .concat()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
    ];
    for (what, plugin) in &setups {
        let mut proxy = ldap_proxy(&broker, plugin);
        let addr = proxy.addr();
        let mut c = sasl_login(addr, &plain("alice", ALICE_LDAP_PW))
            .unwrap_or_else(|e| panic!("{what}: alice refused: {e}\n{}", proxy.log()));
        c.send(&fake_broker::metadata_request(1, 9)).unwrap();
        assert!(c.recv().is_some(), "{what}");
        for (user, password) in [
            ("alice", "wrong"),
            ("bob", ALICE_LDAP_PW),
            ("nobody", ALICE_LDAP_PW),
            // Injection attempts: with escaping they match no entry (or no DN).
            ("ali*", ALICE_LDAP_PW),
            ("*", ALICE_LDAP_PW),
            ("alice)(uid=*", ALICE_LDAP_PW),
            ("alice,ou=people", ALICE_LDAP_PW),
        ] {
            let err = sasl_login(addr, &plain(user, password)).err();
            assert!(
                err.as_deref().is_some_and(|e| e.starts_with("error 58")),
                "{what}: {user:?} got {err:?}\n{}",
                proxy.log()
            );
        }
        proxy.assert_healthy();
        let log = proxy.log();
        assert!(!log.contains(ALICE_LDAP_PW), "{what}: password logged");
        assert!(!log.contains(LDAP_ADMIN_PW), "{what}: bind password logged");
        assert!(
            !log.contains("is visible to every local user"),
            "{what}: {log}"
        );
    }
    // StartTLS against a CA that did not sign the server's certificate: refused, with the
    // reason in the log.
    let other = TempDir::new("other-ca");
    make_certs(other.path(), "some-other-ca");
    let other_ca = other.path().join("ca.pem").display().to_string();
    let plugin: Vec<String> = [
        &["--url", &ldap, "--start-tls", "--ca-cert-file", &other_ca][..],
        &template,
    ]
    .concat()
    .iter()
    .map(|s| s.to_string())
    .collect();
    let proxy = ldap_proxy(&broker, &plugin);
    assert!(sasl_login(proxy.addr(), &plain("alice", ALICE_LDAP_PW)).is_err());
    wait_for_log(&proxy, "UnknownIssuer");
    assert_nothing_from_clients_except_metadata(&broker);
}

fn assert_nothing_from_clients_except_metadata(broker: &FakeBroker) {
    for r in broker.received() {
        let probe = r.api_key == 18 && client_id(&r.frame) == "kafka-proxy";
        assert!(
            probe || r.api_key == 3,
            "unexpected request {} at the broker",
            r.api_key
        );
    }
}
