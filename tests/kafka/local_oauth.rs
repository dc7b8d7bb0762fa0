//! Local OAUTHBEARER against Apache Kafka: the proxy authenticates clients itself with
//! `--auth-local-mechanisms PLAIN,OAUTHBEARER`, PLAIN with `auth-user` and OAUTHBEARER tokens
//! with the built-in `jwt-info` against the JWKS of the test's identity provider
//! (`oauth_idp.rs`). The Java client logs in with Kafka's own `OAuthBearerLoginCallbackHandler`,
//! fetching its tokens from the provider's token endpoint:
//! - a good token (RS256, right issuer and audience): produces and consumes through the proxy,
//!   the debug endpoint shows the connection's principal (the token's `sub`) and the metrics
//!   count the login under OAUTHBEARER;
//! - expired, wrong-audience, wrong-issuer, unsigned (alg none) and HMAC-signed (HS256) tokens:
//!   each refused by the proxy, which says why, with no connection to the broker for it;
//! - PLAIN still works beside it.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client};
use crate::harness::{free_port, http_get, unique, TempDir};
use crate::kproxy::{KProxy, Listeners};
use crate::oauth_idp::{Idp, AUDIENCE_OF_TOKENS, CLIENT};
use crate::security::wait_log;
use crate::tools::KafkaTools;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

/// The Java client's settings to log in with OAUTHBEARER, its tokens from `token_url`.
fn oauth_client(token_url: &str) -> Vec<String> {
    [
        "security.protocol=SASL_PLAINTEXT".to_string(),
        "sasl.mechanism=OAUTHBEARER".into(),
        "sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.\
         OAuthBearerLoginCallbackHandler"
            .into(),
        format!("sasl.oauthbearer.token.endpoint.url={token_url}"),
        format!(
            "sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule \
             required clientId=\"{}\" clientSecret=\"{}\";",
            CLIENT.0, CLIENT.1
        ),
    ]
    .into_iter()
    .flat_map(|kv| ["-X".to_string(), kv])
    .collect()
}

/// Runs the Java driver with `args` and the OAUTHBEARER settings for `token_url`.
fn run_oauth(
    tools: &KafkaTools,
    test: &str,
    token_url: &str,
    args: &[&str],
    bootstrap: &str,
    timeout: Duration,
) -> drivers::Running {
    let allowed = format!("-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={token_url}");
    let client = oauth_client(token_url);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(client.iter().map(String::as_str));
    drivers::spawn_jvm(
        tools,
        Client::Java,
        test,
        &all,
        bootstrap,
        timeout,
        &[&allowed],
    )
    .expect("the Java client")
}

/// Polls the debug endpoint until a connection shows `principal`; the JSON seen last.
fn wait_principal(port: u16, principal: &str, timeout: Duration) -> (bool, String) {
    let needle = format!("\"principal\": \"{principal}\"");
    let deadline = Instant::now() + timeout;
    loop {
        let (_, body) = http_get(port, "/");
        if body.contains(&needle) || Instant::now() > deadline {
            return (body.contains(&needle), body);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn local_oauthbearer_with_jwt_info() {
    let test = "local_oauthbearer_with_jwt_info";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let dir = TempDir::new("local-oauth");
    let idp = Idp::start(dir.path());
    let cluster = Cluster::start(&tools, Spec::single(&[Protocol::Plaintext]));
    let (jwks, debug_port) = (idp.jwks_url(), free_port());
    let debug = format!("127.0.0.1:{debug_port}");
    #[rustfmt::skip]
    let flags = [
        "--auth-local-enable",
        "--auth-local-mechanisms", "PLAIN,OAUTHBEARER",
        "--auth-local-command", "auth-user",
        "--auth-local-param", "--username", "--auth-local-param", "alice",
        "--auth-local-param", "--password", "--auth-local-param", "alice-secret",
        "--auth-local-token-command", "jwt-info",
        "--auth-local-token-param", "--jwks-url", "--auth-local-token-param", &jwks,
        "--auth-local-token-param", "--issuer", "--auth-local-token-param", &idp.base,
        "--auth-local-token-param", "--audience",
        "--auth-local-token-param", AUDIENCE_OF_TOKENS,
        "--debug-enable", "--debug-listen-address", &debug,
        "--log-level", "debug",
    ];
    let mut kp = KProxy::start(
        &cluster,
        Protocol::Plaintext,
        Listeners::AllMapped,
        &flags,
        &[],
    );

    // A good token: produce, consume, and the principal on the debug endpoint.
    let good = idp.token_url("ok");
    let topic = unique("local-oauth");
    let produce = ["produce", "--topic", &topic, "--count", "500"];
    let sent = run_oauth(&tools, test, &good, &produce, &kp.bootstrap, T)
        .finish()
        .unwrap_or_else(|e| panic!("{e}\n--- proxy log ---\n{}", kp.proxy.log()));
    assert_eq!(sent.get("acked").as_i64(), Some(500), "{sent}");
    // Asks for one record more than there are: the consumer stays connected until killed.
    let consume = ["consume", "--topic", &topic, "--count", "501"];
    let consumer = run_oauth(&tools, test, &good, &consume, &kp.bootstrap, T);
    let (shown, state) = wait_principal(debug_port, CLIENT.0, Duration::from_secs(60));
    assert!(shown, "no connection with principal {}:\n{state}", CLIENT.0);
    drop(consumer);
    let log = kp.proxy.log();
    assert!(
        log.contains(&format!("authenticated as \"{}\" (OAUTHBEARER)", CLIENT.0)),
        "{log}"
    );

    // PLAIN beside it.
    let plain = [
        "cluster",
        "-X",
        "security.protocol=SASL_PLAINTEXT",
        "-X",
        "sasl.mechanism=PLAIN",
        "-X",
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
         username=\"alice\" password=\"alice-secret\";",
    ];
    drivers::run(&tools, Client::Java, test, &plain, &kp.bootstrap, T).unwrap();
    assert!(kp
        .proxy
        .log()
        .contains("authenticated as \"alice\" (PLAIN)"));

    // Bad tokens: each refused by the proxy with its reason, and no broker connection for it.
    for (kind, why) in [
        ("expired", "expired"),
        ("wrong-audience", "audience (aud) does not hold --audience"),
        (
            "wrong-issuer",
            "issuer \"https://evil.example\" is not --issuer",
        ),
        ("unsigned", "algorithm \"none\" refused"),
        ("hmac", "algorithm \"HS256\" refused"),
    ] {
        let before = kp.proxy.log();
        let connected = before.matches("connected to broker").count();
        let url = idp.token_url(kind);
        let args = ["cluster", "--timeout", "20"];
        let result = run_oauth(
            &tools,
            test,
            &url,
            &args,
            &kp.bootstrap,
            Duration::from_secs(20),
        )
        .finish();
        // The client went through Kafka's error challenge and was told why by the proxy.
        let error = result.expect_err(&format!("a {kind} token let the client in"));
        assert!(
            error.contains("Authentication failed: invalid token"),
            "{kind}: {error}"
        );
        let needle = format!("an OAUTHBEARER token: {why}");
        let log = wait_log(&kp, &needle, Duration::from_secs(10));
        let new = &log[before.len().min(log.len())..];
        let refusal = new.lines().find(|l| l.contains(&needle));
        let refusal =
            refusal.unwrap_or_else(|| panic!("{kind}: no refusal saying {why:?}:\n{new}"));
        eprintln!("{kind}: {refusal}");
        assert_eq!(
            log.matches("connected to broker").count(),
            connected,
            "{kind}: a refused client reached the broker:\n{new}"
        );
        assert!(!new.contains("eyJ"), "{kind}: a token was logged:\n{new}");
    }

    let (_, metrics) = http_get(kp.proxy.http_port, "/metrics");
    let line = |m: &str, r: &str| {
        let prefix = format!("proxy_local_auth_total{{mechanism=\"{m}\",result=\"{r}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
    };
    assert!(line("OAUTHBEARER", "ok") >= 2, "{metrics}");
    assert!(line("OAUTHBEARER", "failed") >= 5, "{metrics}");
    assert!(line("PLAIN", "ok") >= 1, "{metrics}");
    kp.proxy.assert_healthy();
}
