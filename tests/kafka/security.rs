//! Scenario 6: the proxy's upstream security against Apache Kafka's own listeners.
//! - SASL/PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (SCRAM users created through the Admin API):
//!   a client with no credentials of its own produces and consumes through the proxy, with the
//!   same results as a client logging in itself directly; a wrong password fails with a log
//!   line that says so.
//! - KIP-368: the broker's `connections.max.reauth.ms` expires several times under load; the
//!   proxy re-authenticates between requests and the client sees no error.
//! - TLS to the SSL listener with `ssl.client.auth=required`, the proxy presenting an X.509 v1
//!   client certificate (`openssl x509 -req`, no extensions), and SASL_SSL with SCRAM.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client};
use crate::harness::unique;
use crate::json::Value;
use crate::kproxy::{KProxy, Listeners};
use crate::tools::KafkaTools;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

/// The Java client's own settings to log in with `mechanism` as `user`.
pub fn sasl_client(protocol: Protocol, mechanism: &str, user: &str, password: &str) -> Vec<String> {
    let module = if mechanism == "PLAIN" {
        "org.apache.kafka.common.security.plain.PlainLoginModule"
    } else {
        "org.apache.kafka.common.security.scram.ScramLoginModule"
    };
    vec![
        "-X".into(),
        format!("security.protocol={}", protocol.security_protocol()),
        "-X".into(),
        format!("sasl.mechanism={mechanism}"),
        "-X".into(),
        format!("sasl.jaas.config={module} required username=\"{user}\" password=\"{password}\";"),
    ]
}

/// The Java client's settings for the SSL listeners: the test CA, and the v1 client certificate.
fn tls_client(cluster: &Cluster) -> Vec<String> {
    let pki = cluster.pki.as_ref().expect("a TLS cluster");
    [
        "security.protocol=SSL".to_string(),
        "ssl.truststore.type=PEM".into(),
        format!("ssl.truststore.location={}", pki.p("ca.pem")),
        "ssl.keystore.type=PEM".into(),
        format!("ssl.keystore.location={}", pki.p("client-keystore.pem")),
    ]
    .into_iter()
    .flat_map(|kv| ["-X".to_string(), kv])
    .collect()
}

/// The proxy's flags to reach the TLS listeners with the v1 client certificate.
fn tls_proxy(cluster: &Cluster) -> Vec<String> {
    let pki = cluster.pki.as_ref().expect("a TLS cluster");
    vec![
        "--tls-enable".into(),
        "--tls-ca-chain-cert-file".into(),
        pki.p("ca.pem"),
        "--tls-client-cert-file".into(),
        pki.p("client-v1.pem"),
        "--tls-client-key-file".into(),
        pki.p("client.key"),
    ]
}

fn sasl_proxy(mechanism: &str, user: &str) -> Vec<String> {
    [
        "--sasl-enable",
        "--sasl-method",
        mechanism,
        "--sasl-username",
        user,
    ]
    .map(String::from)
    .to_vec()
}

/// Produces and consumes `count` records with the Java client; returns both answers.
fn roundtrip(
    tools: &KafkaTools,
    test: &str,
    bootstrap: &str,
    client_args: &[String],
    count: usize,
) -> (Value, Value) {
    let topic = unique("sec");
    let n = count.to_string();
    let mut produce = vec!["produce", "--topic", &topic, "--count", &n, "--idempotent"];
    produce.extend(client_args.iter().map(String::as_str));
    let sent = drivers::run(tools, Client::Java, test, &produce, bootstrap, T).unwrap();
    let group = unique("sec-group");
    let mut consume = vec![
        "consume", "--topic", &topic, "--count", &n, "--group", &group,
    ];
    consume.extend(client_args.iter().map(String::as_str));
    let got = drivers::run(tools, Client::Java, test, &consume, bootstrap, T).unwrap();
    assert_eq!(sent.get("acked").as_i64(), Some(count as i64), "{sent}");
    assert_eq!(got.get("count").as_i64(), Some(count as i64), "{got}");
    assert_eq!(
        got.get("sha256"),
        sent.get("sha256"),
        "read {got}, sent {sent}"
    );
    (sent, got)
}

/// The tools and a cluster of `spec` with the SCRAM users `scram256` and `scram512` (password
/// `<user>-secret`) created through the Admin API; `None` when tools are missing (outside CI).
fn scram_cluster(test: &str, spec: Spec) -> Option<(KafkaTools, Cluster)> {
    let tools = KafkaTools::find(test)?;
    let cluster = Cluster::start(&tools, spec);
    for (user, mechanism) in [("scram256", "SCRAM-SHA-256"), ("scram512", "SCRAM-SHA-512")] {
        scram_user(
            &tools,
            test,
            &cluster,
            user,
            &format!("{user}-secret"),
            mechanism,
        );
    }
    Some((tools, cluster))
}

/// Creates (or updates) the SCRAM user `user` through the Admin API, on the internal listener.
pub fn scram_user(
    tools: &KafkaTools,
    test: &str,
    cluster: &Cluster,
    user: &str,
    password: &str,
    mechanism: &str,
) {
    let args = [
        "scram-user",
        "--user",
        user,
        "--password",
        password,
        "--mechanism",
        mechanism,
    ];
    let internal = cluster.internal_bootstrap();
    drivers::run(tools, Client::Java, test, &args, &internal, T).unwrap();
}

/// No broker login or re-authentication failed in the proxy's `log` (the startup warning
/// about --sasl-enable without --auth-local-enable aside).
pub fn assert_no_login_failure(log: &str) {
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("authenticat"))
        .filter(|l| !l.contains("--sasl-enable without --auth-local-enable"))
        .collect();
    assert!(failures.is_empty(), "a login failed: {failures:#?}");
}

/// A client through `kp` fails (the proxy's broker login is refused); the proxy's log line
/// containing `needle`, which must come within 10 s.
pub fn refused_line(tools: &KafkaTools, test: &str, kp: &KProxy, needle: &str) -> String {
    let failed = drivers::try_run(
        tools,
        Client::Java,
        test,
        &["cluster", "--timeout", "15"],
        &kp.bootstrap,
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(failed.is_err(), "the client got in: {failed:?}");
    let log = wait_log(kp, needle, Duration::from_secs(10));
    let line = log
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no log line with {needle}:\n{log}"))
        .to_string();
    eprintln!("the proxy logged: {line}");
    line
}

/// Waits until `proxy`'s log holds `needle`.
pub fn wait_log(kp: &KProxy, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let log = kp.proxy.log();
        if log.contains(needle) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn upstream_sasl_plain_and_scram_against_kafka() {
    let test = "upstream_sasl_plain_and_scram_against_kafka";
    let p = Protocol::SaslPlaintext;
    let Some((tools, cluster)) = scram_cluster(test, Spec::single(&[p])) else {
        return;
    };
    for (mechanism, user) in [
        ("PLAIN", "alice"),
        ("SCRAM-SHA-256", "scram256"),
        ("SCRAM-SHA-512", "scram512"),
    ] {
        let password = format!("{user}-secret");
        let direct = roundtrip(
            &tools,
            test,
            &cluster.direct_bootstrap(p),
            &sasl_client(p, mechanism, user, &password),
            2000,
        );
        let flags = sasl_proxy(mechanism, user);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let mut kp = KProxy::start(
            &cluster,
            p,
            Listeners::AllMapped,
            &flags,
            &[("SASL_PASSWORD", &password)],
        );
        let via = roundtrip(&tools, test, &kp.bootstrap, &[], 2000);
        assert_eq!(direct, via, "{mechanism}: direct vs proxied");
        kp.proxy.assert_healthy();
    }

    // A wrong password: the client fails, and the proxy says why.
    let flags = sasl_proxy("SCRAM-SHA-512", "scram512");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut kp = KProxy::start(
        &cluster,
        p,
        Listeners::AllMapped,
        &flags,
        &[("SASL_PASSWORD", "wrong")],
    );
    let failed = drivers::try_run(
        &tools,
        Client::Java,
        test,
        &["cluster", "--timeout", "15"],
        &kp.bootstrap,
        Duration::from_secs(15),
    )
    .unwrap();
    assert!(
        failed.is_err(),
        "a wrong password let the client in: {failed:?}"
    );
    let log = wait_log(&kp, "SCRAM-SHA-512", Duration::from_secs(10));
    let line = log
        .lines()
        .find(|l| l.contains("SCRAM-SHA-512") && l.contains("WARN"))
        .unwrap_or_else(|| {
            panic!("no log line names the failed SCRAM-SHA-512 login:\n{log}");
        });
    eprintln!("the proxy logged: {line}");
    assert!(
        line.contains("Authentication failed")
            || line.contains("password is wrong")
            || line.contains("invalid credentials"),
        "the log line does not say the credentials were refused: {line}"
    );
    kp.proxy.assert_healthy();
}

#[test]
fn reauthentication_across_several_expiries_under_load() {
    let test = "reauthentication_across_several_expiries_under_load";
    let p = Protocol::SaslPlaintext;
    let spec = Spec::single(&[p]).prop("connections.max.reauth.ms", "3000");
    let Some((tools, cluster)) = scram_cluster(test, spec) else {
        return;
    };
    let mut flags = sasl_proxy("SCRAM-SHA-256", "scram256");
    flags.extend(["--log-level".into(), "debug".into()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut kp = KProxy::start(
        &cluster,
        p,
        Listeners::AllMapped,
        &flags,
        &[("SASL_PASSWORD", "scram256-secret")],
    );
    let topic = unique("reauth");
    let count = "3000";
    // 3,000 records at one per 5 ms: about 15 s, five expiries of the 3 s session.
    let produce = drivers::produce_loop(&topic, count);
    let producer = drivers::spawn(&tools, Client::Java, test, &produce, &kp.bootstrap, T).unwrap();
    let sent = producer.finish().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sent.get("acked").as_i64(), Some(3000), "{sent}");
    assert!(sent.get("errors").as_array().is_empty(), "{sent}");
    assert!(
        sent.get("retriable_seen").as_array().is_empty(),
        "the client saw errors: {sent}"
    );
    let group = unique("reauth-group");
    let consume = [
        "consume", "--topic", &topic, "--count", count, "--group", &group,
    ];
    let got = drivers::run(&tools, Client::Java, test, &consume, &kp.bootstrap, T).unwrap();
    assert_eq!(
        got.get("sha256"),
        sent.get("sha256"),
        "read {got}, sent {sent}"
    );
    let log = kp.proxy.log();
    let reauths = log.lines().filter(|l| l.contains("re-authenticat")).count();
    eprintln!("proxy log lines on re-authentication: {reauths}");
    assert!(
        reauths >= 4,
        "expected several re-authentications in the proxy log:\n{log}"
    );
    kp.proxy.assert_healthy();
}

#[test]
fn tls_to_kafka_with_an_x509_v1_client_certificate_and_sasl_ssl() {
    let test = "tls_to_kafka_with_an_x509_v1_client_certificate_and_sasl_ssl";
    let mtls = Protocol::Ssl { client_auth: true };
    let Some((tools, cluster)) = scram_cluster(test, Spec::single(&[mtls, Protocol::SaslSsl]))
    else {
        return;
    };

    let direct = roundtrip(
        &tools,
        test,
        &cluster.direct_bootstrap(mtls),
        &tls_client(&cluster),
        2000,
    );
    let flags = tls_proxy(&cluster);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut kp = KProxy::start(&cluster, mtls, Listeners::AllMapped, &flags, &[]);
    let via = roundtrip(&tools, test, &kp.bootstrap, &[], 2000);
    assert_eq!(direct, via, "mTLS: direct vs proxied");
    kp.proxy.assert_healthy();

    let ss = Protocol::SaslSsl;
    // The TLS settings first: the SASL ones after them set security.protocol=SASL_SSL.
    let mut client = tls_client(&cluster);
    client.extend(sasl_client(
        ss,
        "SCRAM-SHA-512",
        "scram512",
        "scram512-secret",
    ));
    let direct = roundtrip(&tools, test, &cluster.direct_bootstrap(ss), &client, 2000);
    let mut flags = tls_proxy(&cluster);
    flags.extend(sasl_proxy("SCRAM-SHA-512", "scram512"));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut kp = KProxy::start(
        &cluster,
        ss,
        Listeners::AllMapped,
        &flags,
        &[("SASL_PASSWORD", "scram512-secret")],
    );
    let via = roundtrip(&tools, test, &kp.bootstrap, &[], 2000);
    assert_eq!(direct, via, "SASL_SSL: direct vs proxied");
    kp.proxy.assert_healthy();
}

/// The Java client's own OAUTHBEARER login with Kafka's unsecured tokens (subject `user`).
fn oauthbearer_client(user: &str) -> Vec<String> {
    [
        "security.protocol=SASL_PLAINTEXT".to_string(),
        "sasl.mechanism=OAUTHBEARER".into(),
        format!(
            "sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule \
             required unsecuredLoginStringClaim_sub=\"{user}\";"
        ),
    ]
    .into_iter()
    .flat_map(|kv| ["-X".to_string(), kv])
    .collect()
}

/// Without `--sasl-enable` the proxy carries a client's own SASL exchange to the broker:
/// PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER (Kafka's unsecured validator), including the
/// client's KIP-368 re-authentications when the broker's session expires every 3 s.
#[test]
fn client_sasl_passes_through_the_proxy_with_reauthentication() {
    let test = "client_sasl_passes_through_the_proxy_with_reauthentication";
    let p = Protocol::SaslPlaintext;
    let spec = Spec::single(&[p]).prop("connections.max.reauth.ms", "3000");
    let Some((tools, cluster)) = scram_cluster(test, spec) else {
        return;
    };
    let mut kp = KProxy::mapped(&cluster, p);
    let logins = [
        sasl_client(p, "PLAIN", "alice", "alice-secret"),
        sasl_client(p, "SCRAM-SHA-256", "scram256", "scram256-secret"),
        sasl_client(p, "SCRAM-SHA-512", "scram512", "scram512-secret"),
        oauthbearer_client("alice"),
    ];
    for client in &logins {
        let direct = roundtrip(&tools, test, &cluster.direct_bootstrap(p), client, 1000);
        let via = roundtrip(&tools, test, &kp.bootstrap, client, 1000);
        assert_eq!(direct, via, "{client:?}: direct vs proxied");
    }
    // A producer that outlives several sessions re-authenticates through the proxy.
    let topic = unique("passthrough-reauth");
    let mut produce = vec![
        "produce-loop",
        "--topic",
        &topic,
        "--count",
        "2000",
        "--interval-ms",
        "5",
        "--replication",
        "1",
    ];
    let oauth = &logins[3];
    produce.extend(oauth.iter().map(String::as_str));
    let sent = drivers::run(&tools, Client::Java, test, &produce, &kp.bootstrap, T).unwrap();
    assert_eq!(sent.get("acked").as_i64(), Some(2000), "{sent}");
    assert!(
        sent.get("retriable_seen").as_array().is_empty(),
        "the client saw errors: {sent}"
    );
    kp.proxy.assert_healthy();
}
