//! Upstream OAUTHBEARER with tokens from a token-provider plugin (`--sasl-plugin-enable`),
//! against Apache Kafka's SASL_PLAINTEXT listeners with the unsecured JWT validator:
//! - the built-in `unsecured-jwt-provider`: a client without credentials produces and consumes
//!   through the proxy;
//! - tokens that live 6 s with `connections.max.reauth.ms` set: the broker's session ends with
//!   each token, the proxy re-authenticates with fresh ones under ~30 s of continuous produce and
//!   consume, and the clients see no error;
//! - a token the broker refuses: the proxy logs the broker's OAUTHBEARER error status.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client};
use crate::harness::{unique, TempDir};
use crate::kproxy::{KProxy, Listeners};
use crate::security::{assert_no_login_failure, refused_line};
use crate::tools::KafkaTools;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);
const P: Protocol = Protocol::SaslPlaintext;

/// The proxy's flags for the built-in unsecured JWT provider with subject `sub`.
fn unsecured_flags(sub: &str, lifetime: &str) -> Vec<String> {
    [
        "--sasl-enable",
        "--sasl-plugin-enable",
        "--sasl-plugin-command",
        "unsecured-jwt-provider",
        "--sasl-plugin-param",
        "--claim-sub",
        "--sasl-plugin-param",
        sub,
        "--sasl-plugin-param",
        "--lifetime",
        "--sasl-plugin-param",
        lifetime,
        "--log-level",
        "debug",
    ]
    .map(String::from)
    .to_vec()
}

fn start(cluster: &Cluster, flags: &[String]) -> KProxy {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    KProxy::start(cluster, P, Listeners::AllMapped, &flags, &[])
}

#[test]
fn upstream_oauthbearer_from_the_unsecured_jwt_provider() {
    let test = "upstream_oauthbearer_from_the_unsecured_jwt_provider";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let cluster = Cluster::start(&tools, Spec::single(&[P]));
    let mut kp = start(&cluster, &unsecured_flags("alice", "1h"));
    let topic = unique("oauth");
    let sent = drivers::run(
        &tools,
        Client::Java,
        test,
        &[
            "produce",
            "--topic",
            &topic,
            "--count",
            "1000",
            "--idempotent",
        ],
        &kp.bootstrap,
        T,
    )
    .unwrap();
    assert_eq!(sent.get("acked").as_i64(), Some(1000), "{sent}");
    let got = drivers::run(
        &tools,
        Client::Java,
        test,
        &["consume", "--topic", &topic, "--count", "1000"],
        &kp.bootstrap,
        T,
    )
    .unwrap();
    assert_eq!(got.get("count").as_i64(), Some(1000), "{got}");
    assert_eq!(got.get("sha256"), sent.get("sha256"), "{got} vs {sent}");
    let log = kp.proxy.log();
    assert!(
        log.contains("with OAUTHBEARER"),
        "no OAUTHBEARER login in the proxy log:\n{log}"
    );
    // Many broker connections, few plugin calls: the token is cached.
    let logins = log.matches("logged in to broker").count();
    let tokens = log.matches("new SASL credentials").count();
    eprintln!("{logins} logins, {tokens} tokens asked for");
    assert!(
        logins >= 2 && tokens == 1,
        "{logins} logins, {tokens} tokens"
    );
    kp.proxy.assert_healthy();

    // A token the broker's validator refuses: the client fails, the proxy logs the broker's
    // error status.
    let dir = TempDir::new("oauth-bad-token");
    let script = dir.path().join("bad-token.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nwhile read -r line; do\n  id=$(echo \"$line\" | sed 's/.*\"id\":\\([0-9]*\\).*/\\1/')\n  \
         echo \"{\\\"id\\\":$id,\\\"ok\\\":true,\\\"token\\\":\\\"not.a.jwt\\\"}\"\ndone\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x", script.to_str().unwrap()])
        .status()
        .unwrap();
    let flags: Vec<String> = [
        "--sasl-enable",
        "--sasl-plugin-enable",
        "--sasl-plugin-command",
        script.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let mut kp = start(&cluster, &flags);
    let line = refused_line(&tools, test, &kp, "OAUTHBEARER error");
    assert!(line.contains("invalid_token"), "{line}");
    assert!(!line.contains("not.a.jwt"), "the token was logged: {line}");
    kp.proxy.assert_healthy();
}

#[test]
fn short_lived_tokens_are_renewed_by_reauthentication_under_load() {
    let test = "short_lived_tokens_are_renewed_by_reauthentication_under_load";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    // The session ends with the token (6 s), well before connections.max.reauth.ms.
    let spec = Spec::single(&[P]).prop("connections.max.reauth.ms", "600000");
    let cluster = Cluster::start(&tools, spec);
    let mut kp = start(&cluster, &unsecured_flags("alice", "6s"));
    let topic = unique("oauth-reauth");
    // 6,000 records at one per 5 ms: about 30 s, five token lifetimes.
    let count = "6000";
    let produce = drivers::produce_loop(&topic, count);
    let producer = drivers::spawn(&tools, Client::Java, test, &produce, &kp.bootstrap, T).unwrap();
    // The producer creates the topic; then a consumer reads along while it produces.
    std::thread::sleep(Duration::from_secs(5));
    let group = unique("oauth-reauth-group");
    let consume = [
        "consume", "--topic", &topic, "--count", count, "--group", &group,
    ];
    let consumer = drivers::spawn(&tools, Client::Java, test, &consume, &kp.bootstrap, T).unwrap();
    let sent = producer.finish().unwrap_or_else(|e| panic!("{e}"));
    let got = consumer.finish().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sent.get("acked").as_i64(), Some(6000), "{sent}");
    assert!(sent.get("errors").as_array().is_empty(), "{sent}");
    assert!(
        sent.get("retriable_seen").as_array().is_empty(),
        "the producer saw errors: {sent}"
    );
    assert_eq!(got.get("count").as_i64(), Some(6000), "{got}");
    assert_eq!(got.get("sha256"), sent.get("sha256"), "{got} vs {sent}");
    let log = kp.proxy.log();
    let reauths = log.matches("re-authenticated to broker").count();
    let tokens = log.matches("new SASL credentials").count();
    eprintln!("re-authentications: {reauths}, tokens asked for: {tokens}");
    assert!(
        reauths >= 5,
        "expected several re-authentications in the proxy log:\n{log}"
    );
    assert!(tokens >= 4, "expected fresh tokens for them:\n{log}");
    assert_no_login_failure(&log);
    kp.proxy.assert_healthy();
}
