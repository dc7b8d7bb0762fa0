//! `--sni-listen-address`: one TLS port for the bootstrap and every broker, routed by the
//! ClientHello's server name, in front of tansu. The client (confluent-kafka) resolves the
//! advertised names through a hosts file of its own: it runs in a private mount namespace
//! (`unshare -rm`) with that file bound over /etc/hosts, so nothing on the machine changes. The
//! names (`*.kafka.test`) resolve nowhere else, so an address the proxy did not rewrite fails
//! loudly. Needs `openssl`, `haproxy` and `unshare` besides tansu and the venv.

use crate::harness::{self, Broker, Proxy, TempDir, Tools};
use crate::proxy_protocol::Balancer;
use crate::tls::{self, Env, Pki};
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

const BOOTSTRAP: &str = "bootstrap.kafka.test";
const PATTERN: &str = "broker-{{.brokerId}}.kafka.test";

/// `tools` with a python that resolves the bootstrap and nodes 0..=1023 (tansu picks its node
/// id) to 127.0.0.1, from a hosts file in `dir`.
fn resolving(tools: &Tools, dir: &Path) -> Tools {
    let mut text = format!("127.0.0.1 {BOOTSTRAP}\n");
    for id in 0..1024 {
        text.push_str(&format!("127.0.0.1 broker-{id}.kafka.test\n"));
    }
    let hosts = dir.join("hosts");
    fs::write(&hosts, text).unwrap();
    Tools {
        python: harness::python_with_hosts(&tools.python, &hosts, dir),
        ..tools.clone()
    }
}

/// The proxy's listener certificate: every name under kafka.test, and 127.0.0.1 for the
/// per-broker listener beside it.
fn sni_certificate(pki: &Pki) {
    fs::write(
        pki.path("sni.ext"),
        "subjectAltName=DNS:*.kafka.test,DNS:localhost,IP:127.0.0.1\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    pki.issue("sni", "/CN=kafka.test", "sni.ext", "ca", None);
}

/// Starts the proxy in front of `broker` with a per-broker listener and the SNI listener on
/// `sni_port`, with `extra` flags.
fn sni_proxy(pki: &Pki, broker: &Broker, sni_port: u16, extra: &[&str]) -> Proxy {
    let port = harness::free_port();
    let mapping = format!("127.0.0.1:{},127.0.0.1:{port}", broker.port);
    let sni_listen = format!("127.0.0.1:{sni_port}");
    let (cert, key) = (pki.p("sni.pem"), pki.p("sni.key"));
    let mut args = vec![
        "--bootstrap-server-mapping",
        &mapping,
        "--log-level",
        "debug",
        "--proxy-listener-tls-enable",
        "--proxy-listener-cert-file",
        &cert,
        "--proxy-listener-key-file",
        &key,
        "--sni-listen-address",
        &sni_listen,
        "--sni-bootstrap-host",
        BOOTSTRAP,
        "--sni-broker-host-pattern",
        PATTERN,
    ];
    args.extend_from_slice(extra);
    Proxy::start_args(port, &args, &[])
}

/// What every test here starts from: the tools (`env`, and `named` whose python resolves the
/// SNI names), the PKI with the SNI certificate, tansu, and a port for the SNI listener.
struct Setup {
    env: Env,
    named: Env,
    pki: Pki,
    broker: Broker,
    sni_port: u16,
    _dir: TempDir,
}

fn setup(test: &str) -> Option<Setup> {
    let env = tls::env(test)?;
    let dir = TempDir::new("kafka-proxy-e2e-sni");
    let named = Env {
        tools: resolving(&env.tools, dir.path()),
        haproxy: env.haproxy.clone(),
    };
    let pki = Pki::new();
    sni_certificate(&pki);
    let broker = Broker::start(&env.tools);
    Some(Setup {
        env,
        named,
        pki,
        broker,
        sni_port: harness::free_port(),
        _dir: dir,
    })
}

#[test]
fn sni_one_port_serves_the_bootstrap_and_every_broker() {
    let Some(Setup {
        env,
        named,
        pki,
        broker,
        sni_port,
        _dir,
    }) = setup("sni_one_port_serves_the_bootstrap_and_every_broker")
    else {
        return;
    };
    let debug_port = harness::free_port();
    let debug_address = format!("127.0.0.1:{debug_port}");
    let proxy = sni_proxy(
        &pki,
        &broker,
        sni_port,
        &["--debug-enable", "--debug-listen-address", &debug_address],
    );

    // Through the one port: metadata names every broker broker-N.kafka.test:<that port>, and
    // the client reaches each through it (librdkafka verifies the name against the wildcard).
    let bootstrap = format!("{BOOTSTRAP}:{sni_port}");
    tls::roundtrip(&named, &bootstrap, &["--ca", &pki.p("ca.pem")]);
    let log = tls::wait_log(
        &proxy,
        &format!(
            ".kafka.test on the SNI listener: broker 127.0.0.1:{}",
            broker.port
        ),
    );
    assert!(
        log.contains(&format!(
            "asked for {BOOTSTRAP} on the SNI listener: broker 127.0.0.1:{}",
            broker.port
        )),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("asked for broker-") && l.contains("on the SNI listener")),
        "no connection asked for a broker's name:\n{log}"
    );

    // The debug endpoint shows the listener and the route it learned for tansu's node.
    let (status, body) = harness::http_get(debug_port, "/");
    assert_eq!(status, 200, "{body}");
    let state = crate::json::parse(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let sni = state.get("sni");
    assert_eq!(
        sni.get("local").as_str(),
        Some(format!("127.0.0.1:{sni_port}").as_str()),
        "{body}"
    );
    assert_eq!(sni.get("pattern").as_str(), Some(PATTERN), "{body}");
    let routes = sni.get("routes").as_array();
    assert_eq!(routes.len(), 1, "{body}");
    assert_eq!(
        routes[0].get("broker").as_str(),
        Some(broker.bootstrap().as_str()),
        "{body}"
    );

    // Side by side: the per-broker listener still advertises its own address (the client
    // without the hosts file could not resolve an SNI name).
    tls::roundtrip(&env, &proxy.bootstrap(), &["--ca", &pki.p("ca.pem")]);
    assert!(!proxy.log().contains("panicked"), "{}", proxy.log());
}

/// `openssl s_client` asking for `name` (none: `-noservername`) on `addr`: its output.
fn s_client(addr: SocketAddr, name: Option<&str>) -> String {
    let connect = addr.to_string();
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &connect]);
    match name {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run openssl s_client");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn sni_unknown_or_missing_names_get_unrecognized_name() {
    let Some(Setup {
        pki,
        broker,
        sni_port,
        ..
    }) = setup("sni_unknown_or_missing_names_get_unrecognized_name")
    else {
        return;
    };
    let proxy = sni_proxy(&pki, &broker, sni_port, &[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], sni_port));

    // A name outside the pattern (a suffix match would take it): alert 112, and a log line
    // naming it.
    let out = s_client(addr, Some("broker-1.kafka.test.evil.example"));
    assert!(
        out.contains("unrecognized name") && out.contains("alert number 112"),
        "{out}"
    );
    tls::wait_log(
        &proxy,
        "asked for the TLS server name \"broker-1.kafka.test.evil.example\"",
    );
    tls::wait_log(&proxy, "sent the TLS unrecognized_name alert");
    // No server name at all, and a node no metadata has named yet: the same alert.
    for name in [None, Some("broker-4242.kafka.test")] {
        let out = s_client(addr, name);
        assert!(
            out.contains("unrecognized name") && out.contains("alert number 112"),
            "{name:?}: {out}"
        );
    }
    let (_, metrics) = harness::http_get(proxy.http_port, "/metrics");
    let refused = harness::metric(
        &metrics,
        "proxy_errors_total",
        &["cause=\"sni_unrecognized_name\""],
    );
    assert_eq!(refused, 3.0, "{metrics}");
    // The bootstrap name completes the handshake with the wildcard certificate.
    let out = s_client(addr, Some(BOOTSTRAP));
    assert!(
        out.contains("CN=kafka.test") || out.contains("CN = kafka.test"),
        "{out}"
    );
    assert!(!out.contains("alert number 112"), "{out}");
}

/// Behind an L4 balancer on another port: the PROXY protocol header comes before the
/// ClientHello, the balancer's port is advertised (`--sni-advertised-port`), and the listener
/// requires a client certificate (mutual TLS) as the per-broker listeners do.
#[test]
fn sni_behind_a_balancer_with_proxy_protocol_and_mutual_tls() {
    let test = "sni_behind_a_balancer_with_proxy_protocol_and_mutual_tls";
    let Some(haproxy) = crate::proxy_protocol::haproxy_bin(test) else {
        return;
    };
    let Some(Setup {
        named,
        pki,
        broker,
        sni_port,
        _dir,
        ..
    }) = setup(test)
    else {
        return;
    };
    let balancer = Balancer::start(
        &haproxy,
        "send-proxy-v2",
        SocketAddr::from(([127, 0, 0, 1], sni_port)),
    );
    let advertised = balancer.port.to_string();
    let ca = pki.p("ca.pem");
    let proxy = sni_proxy(
        &pki,
        &broker,
        sni_port,
        &[
            "--sni-advertised-port",
            &advertised,
            "--proxy-protocol",
            "v2",
            "--proxy-listener-ca-chain-cert-file",
            &ca,
        ],
    );
    let bootstrap = format!("{BOOTSTRAP}:{}", balancer.port);
    let (cert, key) = (pki.p("client.pem"), pki.p("client.key"));
    tls::roundtrip(
        &named,
        &bootstrap,
        &["--ca", &ca, "--cert", &cert, "--key", &key],
    );
    let log = tls::wait_log(&proxy, "asked for broker-");
    assert!(log.contains("through 127.0.0.1:"), "{log}");
    // Without a client certificate the handshake fails after routing, as on any listener.
    let err = crate::clients::try_run(
        &named.tools,
        "tls_roundtrip.py",
        &bootstrap,
        &[
            "--topic",
            &harness::unique("sni"),
            "--messages",
            "1",
            "--ca",
            &ca,
        ],
        std::time::Duration::from_secs(15),
    );
    assert!(err.is_err(), "a client without a certificate got through");
    tls::wait_log(&proxy, "client sent no certificate");
}

#[test]
fn sni_needs_the_tls_listener() {
    let sni = format!("127.0.0.1:{}", harness::free_port());
    let (code, out) = tls::startup_failure(
        &[
            "--sni-listen-address",
            &sni,
            "--sni-bootstrap-host",
            BOOTSTRAP,
            "--sni-broker-host-pattern",
            PATTERN,
        ],
        &[],
    );
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("--sni-listen-address needs TLS on the listeners"),
        "{out}"
    );
    let (code, out) =
        tls::startup_failure(&["--sni-broker-host-pattern", "broker.kafka.test"], &[]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("exactly one {{.brokerId}}"), "{out}");
}

/// Local SASL (`--auth-local-*`) on the SNI listener: the client authenticates to the proxy on
/// every connection, the bootstrap's and each broker's, as on a per-broker listener; a wrong
/// password is refused.
#[test]
fn sni_with_local_sasl() {
    use crate::local_auth::{auth_user_flags, strs, PASSWORD, USER};
    let Some(Setup {
        named,
        pki,
        broker,
        sni_port,
        _dir,
        ..
    }) = setup("sni_with_local_sasl")
    else {
        return;
    };
    let flags = auth_user_flags();
    let proxy = sni_proxy(&pki, &broker, sni_port, &strs(&flags));
    let bootstrap = format!("{BOOTSTRAP}:{sni_port}");
    let topic = harness::unique("sni-sasl");
    let ca = pki.p("ca.pem");
    let base = ["--client", "confluent", "--ca", &ca, "--username", USER];
    let ok = crate::clients::run(
        &named.tools,
        "sasl_roundtrip.py",
        &bootstrap,
        &[
            &base[..],
            &["--password", PASSWORD, "--topic", &topic, "--count", "30"],
        ]
        .concat(),
        std::time::Duration::from_secs(60),
    );
    assert_eq!(ok.json.get("consumed").as_i64(), Some(30), "{}", ok.json);
    let refused = crate::clients::run(
        &named.tools,
        "sasl_roundtrip.py",
        &bootstrap,
        &[&base[..], &["--password", "wrong", "--mode", "auth-check"]].concat(),
        std::time::Duration::from_secs(30),
    );
    assert_eq!(refused.json.get("authenticated").as_bool(), Some(false));
    let log = tls::wait_log(&proxy, "asked for broker-");
    assert!(log.contains("authenticated as \"alice\""), "{log}");
}
