//! Issue 20: each authenticated client logs in to the broker as itself
//! (`--sasl-credentials-file`, `--sasl-credentials-plugin-command`), against Apache Kafka with
//! `StandardAuthorizer` and ACLs: alice may write topic A only, bob may read topic B only.
//! Through the proxy, a client authenticated locally as alice (with a local password the broker
//! does not know) gets exactly the outcomes of a direct alice login, and the same for bob, with
//! PLAIN and with SCRAM upstream; a client certificate whose subject maps to alice gets alice's;
//! an unmapped principal is refused with a log line; a changed credentials file is used by the
//! next connection, and a broken one keeps the previous mapping.

use crate::certs::Pki;
use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client};
use crate::harness::{unique, TempDir};
use crate::json::Value;
use crate::kproxy::{KProxy, Listeners};
use crate::security::{sasl_client, scram_user, wait_log};
use crate::tools::KafkaTools;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(90);
const P: Protocol = Protocol::SaslPlaintext;

/// The outcome of writing and reading each topic, as one principal.
type Outcomes = Vec<(String, String, String)>;

fn probe(
    tools: &KafkaTools,
    test: &str,
    bootstrap: &str,
    client: &[String],
    topics: &[&str],
) -> Outcomes {
    topics
        .iter()
        .map(|topic| {
            let mut args = vec!["acl-probe", "--topic", topic, "--timeout", "40"];
            args.extend(client.iter().map(String::as_str));
            let got = drivers::run(tools, Client::Java, test, &args, bootstrap, T).unwrap();
            let text = |k: &str| got.get(k).as_str().unwrap_or("?").to_string();
            (topic.to_string(), text("write"), text("read"))
        })
        .collect()
}

fn run_ok(tools: &KafkaTools, test: &str, bootstrap: &str, args: &[&str]) -> Value {
    drivers::run(tools, Client::Java, test, args, bootstrap, T).unwrap()
}

/// A single broker with StandardAuthorizer (the internal listener's ANONYMOUS and `admin` are
/// super users), SCRAM users alice and bob, topic A writable by alice and B readable by bob, B
/// holding records.
fn acl_cluster(test: &str) -> Option<(KafkaTools, Cluster, [String; 2])> {
    let tools = KafkaTools::find(test)?;
    let spec = Spec::single(&[P])
        .prop(
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        )
        .prop("super.users", "User:ANONYMOUS;User:admin")
        // Broker sessions end every 3 s: the proxy re-authenticates each client's connection
        // with that client's own credentials.
        .prop("connections.max.reauth.ms", "3000");
    let cluster = Cluster::start(&tools, spec);
    let internal = cluster.internal_bootstrap();
    for user in ["alice", "bob"] {
        let password = format!("{user}-scram");
        scram_user(&tools, test, &cluster, user, &password, "SCRAM-SHA-512");
    }
    let (a, b) = (unique("topic-a"), unique("topic-b"));
    let grant = |topic: &str, principal: &str, operations: &str| {
        let args = [
            "acl",
            "--topic",
            topic,
            "--principal",
            principal,
            "--operations",
            operations,
        ];
        run_ok(&tools, test, &internal, &args);
    };
    // CREATE too, so the driver's create-if-missing of A is answered "exists".
    grant(&a, "User:alice", "WRITE,DESCRIBE,CREATE");
    grant(&b, "User:bob", "READ,DESCRIBE");
    let produce = [
        "produce",
        "--topic",
        &b,
        "--count",
        "5",
        "--partitions",
        "1",
    ];
    run_ok(&tools, test, &internal, &produce);
    Some((tools, cluster, [a, b]))
}

/// The local-auth plugin (examples/plugins/auth-plain.py) with local passwords the broker does
/// not know, and upstream SASL with the credentials of `credentials` (flag and value).
fn identity_flags(credentials: [&str; 2]) -> Vec<String> {
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plugins/auth-plain.py");
    let mut flags: Vec<String> = vec![
        "--auth-local-enable".into(),
        "--auth-local-command".into(),
        plugin.display().to_string(),
    ];
    for user in ["alice=alice-local", "bob=bob-local", "carol=carol-local"] {
        flags.extend(["--auth-local-param".into(), user.into()]);
    }
    flags.extend([
        "--sasl-enable".into(),
        credentials[0].into(),
        credentials[1].into(),
        // The re-authentications are logged at debug.
        "--log-level".into(),
        "debug".into(),
    ]);
    flags
}

fn start_proxy(cluster: &Cluster, flags: &[String]) -> KProxy {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    KProxy::start(cluster, P, Listeners::AllMapped, &flags, &[])
}

/// What a client logged in as `user` directly, and the same user logged in locally at the
/// proxy, may do: the same, for each user.
fn assert_same_outcomes(
    tools: &KafkaTools,
    test: &str,
    cluster: &Cluster,
    kp: &KProxy,
    mechanism: &str,
    topics: &[&str],
) -> Vec<Outcomes> {
    let mut all = Vec::new();
    for user in ["alice", "bob"] {
        let upstream_password = match mechanism {
            "PLAIN" => format!("{user}-secret"),
            _ => format!("{user}-scram"),
        };
        let direct_client = sasl_client(P, mechanism, user, &upstream_password);
        let direct = probe(
            tools,
            test,
            &cluster.direct_bootstrap(P),
            &direct_client,
            topics,
        );
        let local = sasl_client(P, "PLAIN", user, &format!("{user}-local"));
        let via = probe(tools, test, &kp.bootstrap, &local, topics);
        eprintln!("{mechanism} {user}: direct {direct:?}, through the proxy {via:?}");
        assert_eq!(
            direct, via,
            "{mechanism} {user}: direct vs through the proxy"
        );
        all.push(via);
    }
    all
}

fn assert_alice_and_bob(outcomes: &[Outcomes]) {
    let denied = "TopicAuthorizationException";
    let [alice, bob] = outcomes else {
        panic!("two users");
    };
    // alice: write A, nothing on B.
    assert_eq!(alice[0].1, "ok", "alice writes A: {alice:?}");
    assert_eq!(
        (alice[1].1.as_str(), alice[1].2.as_str()),
        (denied, denied),
        "{alice:?}"
    );
    // bob: read B, write nothing.
    assert_eq!(bob[1].2, "ok", "bob reads B: {bob:?}");
    assert_eq!(
        (bob[0].1.as_str(), bob[1].1.as_str()),
        (denied, denied),
        "{bob:?}"
    );
}

#[test]
fn each_client_reaches_the_broker_as_its_own_user() {
    let test = "each_client_reaches_the_broker_as_its_own_user";
    let Some((tools, cluster, [a, b])) = acl_cluster(test) else {
        return;
    };
    let topics = [a.as_str(), b.as_str()];
    let dir = TempDir::new("identity");
    let file = dir.path().join("credentials");
    let bob_password = dir.path().join("bob.pass");
    std::fs::write(&bob_password, "bob-secret\n").unwrap();
    std::fs::write(
        &file,
        format!(
            "# principal mechanism user secret\nalice PLAIN alice alice-secret\nbob PLAIN bob file:{}\n",
            bob_password.display()
        ),
    )
    .unwrap();
    let flags = identity_flags(["--sasl-credentials-file", &file.display().to_string()]);
    let mut kp = start_proxy(&cluster, &flags);

    // PLAIN upstream.
    let plain = assert_same_outcomes(&tools, test, &cluster, &kp, "PLAIN", &topics);
    assert_alice_and_bob(&plain);
    let log = wait_log(
        &kp,
        "the upstream user of principal \"bob\"",
        Duration::from_secs(5),
    );
    assert!(
        log.contains("as \"alice\", the upstream user of principal \"alice\""),
        "{log}"
    );

    // The file changes to SCRAM: the next connections use it, without a restart.
    std::fs::write(
        &file,
        "alice SCRAM-SHA-512 alice alice-scram\nbob SCRAM-SHA-512 bob bob-scram\n",
    )
    .unwrap();
    let scram = assert_same_outcomes(&tools, test, &cluster, &kp, "SCRAM-SHA-512", &topics);
    assert_alice_and_bob(&scram);
    let log = kp.proxy.log();
    assert!(log.contains("changed: 2 principals mapped"), "{log}");
    assert!(log.contains("with SCRAM-SHA-512"), "{log}");

    // Under load, across several 3 s broker sessions, alice's connections re-authenticate as
    // alice (SCRAM): every record acknowledged, no error.
    let mut produce = drivers::produce_loop(&a, "2000");
    let alice_local = sasl_client(P, "PLAIN", "alice", "alice-local");
    produce.extend(alice_local.iter().map(String::as_str));
    let sent = drivers::run(&tools, Client::Java, test, &produce, &kp.bootstrap, T).unwrap();
    assert_eq!(sent.get("acked").as_i64(), Some(2000), "{sent}");
    assert!(sent.get("errors").as_array().is_empty(), "{sent}");
    let reauths = kp
        .proxy
        .log()
        .lines()
        .filter(|l| l.contains("re-authenticated to broker"))
        .count();
    eprintln!("re-authentications with the clients' own credentials: {reauths}");
    let log = kp.proxy.log();
    let lifetimes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("session lifetime"))
        .collect();
    assert!(
        reauths >= 3,
        "expected several re-authentications: {lifetimes:#?}"
    );

    // A broken file keeps the previous mapping, with a log line.
    std::fs::write(&file, "alice SCRAM-SHA-512 alice\n").unwrap();
    let alice = sasl_client(P, "PLAIN", "alice", "alice-local");
    let kept = probe(&tools, test, &kp.bootstrap, &alice, &topics[..1]);
    assert_eq!(
        kept[0].1, "ok",
        "the previous mapping still lets alice write: {kept:?}"
    );
    let log = wait_log(&kp, "keeping the previous mapping", Duration::from_secs(5));
    assert!(
        log.contains("cannot be used (line 1: expected PRINCIPAL"),
        "{log}"
    );

    // carol's password is right, but she has no upstream identity: refused, never the proxy's
    // own.
    let carol = sasl_client(P, "PLAIN", "carol", "carol-local");
    let mut args = vec!["cluster", "--timeout", "10"];
    args.extend(carol.iter().map(String::as_str));
    let refused = drivers::try_run(&tools, Client::Java, test, &args, &kp.bootstrap, T).unwrap();
    // Refused in its SASL answer (before any broker connection), not by a closed connection.
    let why = refused.expect_err("an unmapped principal got in");
    assert!(why.contains("SaslAuthenticationException"), "{why}");
    let log = wait_log(&kp, "principal \"carol\"", Duration::from_secs(5));
    assert!(
        log.contains("principal \"carol\": no upstream credentials are mapped to it"),
        "{log}"
    );
    assert!(
        !log.contains("alice-secret") && !log.contains("bob-secret") && !log.contains("scram\"")
    );
    kp.proxy.assert_healthy();

    // The broker's own audit log names the mapped users: bob was denied writing A.
    let broker_log = cluster.logs();
    assert!(
        broker_log.contains("Principal = User:bob is Denied"),
        "the broker's authorizer log does not name bob:\n{}",
        &broker_log[broker_log.len().saturating_sub(4000)..]
    );
}

#[test]
fn a_client_certificate_and_a_credentials_plugin_map_to_alice() {
    let test = "a_client_certificate_and_a_credentials_plugin_map_to_alice";
    let Some((tools, cluster, [a, b])) = acl_cluster(test) else {
        return;
    };
    let topics = [a.as_str(), b.as_str()];
    let dir = TempDir::new("identity-cert");
    let pki = Pki::new(&dir.path().join("pki"), 1);
    let keystore = v3_client_certificate(&pki, dir.path(), "/CN=alice-app/O=Example");
    let password = dir.path().join("alice.pass");
    std::fs::write(&password, "alice-scram\n").unwrap();
    let plugin =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plugins/upstream-credentials.py");
    // No local SASL: the principal is the certificate's subject, /CN=alice-app/O=Example.
    let flags: Vec<String> = [
        "--proxy-listener-tls-enable",
        "--proxy-listener-cert-file",
        &pki.p("broker.pem"),
        "--proxy-listener-key-file",
        &pki.p("broker.key"),
        "--proxy-listener-ca-chain-cert-file",
        &pki.p("ca.pem"),
        "--sasl-enable",
        "--sasl-credentials-plugin-command",
        &plugin.display().to_string(),
        "--sasl-credentials-plugin-param",
        &format!(
            "/CN=alice-app/O=Example=SCRAM-SHA-512:alice:{}",
            password.display()
        ),
    ]
    .map(String::from)
    .to_vec();
    let mut kp = start_proxy(&cluster, &flags);
    let client: Vec<String> = [
        "security.protocol=SSL".to_string(),
        "ssl.truststore.type=PEM".into(),
        format!("ssl.truststore.location={}", pki.p("ca.pem")),
        "ssl.keystore.type=PEM".into(),
        format!("ssl.keystore.location={}", keystore.display()),
        "ssl.endpoint.identification.algorithm=".into(),
    ]
    .into_iter()
    .flat_map(|kv| ["-X".to_string(), kv])
    .collect();
    let via = probe(&tools, test, &kp.bootstrap, &client, &topics);
    let direct = probe(
        &tools,
        test,
        &cluster.direct_bootstrap(P),
        &sasl_client(P, "SCRAM-SHA-512", "alice", "alice-scram"),
        &topics,
    );
    eprintln!("certificate: direct alice {direct:?}, through the proxy {via:?}");
    assert_eq!(
        direct, via,
        "the certificate's principal gets alice's outcomes"
    );
    assert_eq!(via[0].1, "ok", "{via:?}");
    let log = wait_log(
        &kp,
        "principal \"/CN=alice-app/O=Example\"",
        Duration::from_secs(5),
    );
    assert!(
        log.contains("as \"alice\", the upstream user of principal \"/CN=alice-app/O=Example\""),
        "{log}"
    );
    kp.proxy.assert_healthy();
}

/// A v3 client certificate with `subject`, signed by the test CA, as a PEM keystore (key and
/// certificate) for the Java client. (The PKI's own client certificate is X.509 v1, which the
/// proxy's TLS listener refuses.)
fn v3_client_certificate(pki: &Pki, dir: &Path, subject: &str) -> std::path::PathBuf {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let p = |name: &str| dir.join(name).display().to_string();
    std::fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-new",
        "-key",
        &pki.p("client.key"),
        "-subj",
        subject,
        "-out",
        &p("app.csr"),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("app.csr"),
        "-CA",
        &pki.p("ca.pem"),
        "-CAkey",
        &pki.p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("client.ext"),
        "-out",
        &p("app.pem"),
    ]);
    let key = std::fs::read_to_string(pki.p("client.key")).unwrap();
    let cert = std::fs::read_to_string(p("app.pem")).unwrap();
    let keystore = dir.join("app-keystore.pem");
    std::fs::write(&keystore, key + &cert).unwrap();
    keystore
}
