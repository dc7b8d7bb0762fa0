//! Upstream `--sasl-method GSSAPI`: the proxy's own Kerberos client against a throwaway MIT
//! KDC (tests/kafka/kdc.rs) and Apache Kafka's GSSAPI listener (the JDK's acceptor). One
//! cluster serves every case:
//! - (a) a keytab login: a client without credentials produces and consumes through the
//!   proxy for about 15 s; the proxy logs in with GSSAPI, asks the KDC for two tickets only
//!   (the cache serves the other logins) and re-authenticates the 5 s sessions (KIP-368);
//! - (b) a password login (`--gssapi-auth-type USER`) for a principal that must
//!   pre-authenticate (PA-ENC-TIMESTAMP with the KDC's ETYPE-INFO2 salt), the same;
//! - (c) a keytab exported before the principal was re-keyed: the proxy says the key is not
//!   the principal's current one, naming the keytab and the fix; a wrong password for a
//!   principal that must pre-authenticate: KDC_ERR_PREAUTH_FAILED;
//! - (d) clock skew: a second KDC of the realm whose clock runs two hours ahead (libfaketime
//!   preloaded into krb5kdc; the proxy's and the machine's clocks are untouched): the proxy
//!   logs KRB_AP_ERR_SKEW with the difference;
//! - (e) an unknown principal: the proxy logs KDC_ERR_C_PRINCIPAL_UNKNOWN naming it.

use crate::cluster::{Cluster, Protocol, Spec};
use crate::drivers::{self, Client};
use crate::harness::unique;
use crate::kdc::{with_gssapi, Kdc, REALM};
use crate::kproxy::{KProxy, Listeners};
use crate::security::{assert_no_login_failure, refused_line};
use crate::tools::KafkaTools;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);
const P: Protocol = Protocol::SaslPlaintext;

/// The proxy's GSSAPI flags for `username` in `kdc`'s realm, every broker's SPN host mapped
/// to `localhost` (the broker's principal is kafka/localhost).
fn flags(cluster: &Cluster, krb5: &Path, username: &str, key: &[&str]) -> Vec<String> {
    let mut mapping = vec!["127.0.0.1=localhost".to_string()];
    for (_, advertised, _) in cluster.proxied(P) {
        let host = advertised.rsplit_once(':').map_or(&*advertised, |(h, _)| h);
        mapping.push(format!("{host}=localhost"));
    }
    let mut out: Vec<String> = [
        "--sasl-enable",
        "--sasl-method",
        "GSSAPI",
        "--gssapi-realm",
        REALM,
        "--gssapi-servicename",
        "kafka",
        "--gssapi-username",
        username,
        "--gssapi-krb5",
        krb5.to_str().unwrap(),
        "--gssapi-spn-host-mapping",
        &mapping.join(","),
        "--log-level",
        "debug",
    ]
    .map(String::from)
    .to_vec();
    out.extend(key.iter().map(|s| s.to_string()));
    out
}

fn start(cluster: &Cluster, flags: &[String]) -> KProxy {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    KProxy::start(cluster, P, Listeners::AllMapped, &flags, &[])
}

/// Produces (one record per 5 ms) and consumes `count` records through `kp`; the proxy
/// logged in with GSSAPI, asked the KDC for two tickets only (the TGT and the one broker's
/// service ticket: the cache serves every other login) and re-authenticated without a
/// failure. Returns the number of re-authentications.
fn round_trip(tools: &KafkaTools, test: &str, kp: &mut KProxy, count: &str) -> usize {
    let topic = unique("gssapi");
    let produce = drivers::produce_loop(&topic, count);
    let sent = drivers::run(tools, Client::Java, test, &produce, &kp.bootstrap, T).unwrap();
    assert_eq!(sent.get("acked").as_i64(), count.parse().ok(), "{sent}");
    let got = drivers::run(
        tools,
        Client::Java,
        test,
        &["consume", "--topic", &topic, "--count", count],
        &kp.bootstrap,
        T,
    )
    .unwrap();
    assert_eq!(got.get("sha256"), sent.get("sha256"), "{got} vs {sent}");
    let log = kp.proxy.log();
    assert!(log.contains("with GSSAPI"), "no GSSAPI login:\n{log}");
    let logins = log.matches("logged in to broker").count();
    let tickets = log.matches("Kerberos: KDC").count();
    let reauths = log.matches("re-authenticated to broker").count();
    eprintln!("{logins} logins, {reauths} re-authentications, {tickets} tickets from the KDC");
    assert!(
        logins >= 2 && tickets == 2,
        "{logins} logins, {tickets} tickets:\n{log}"
    );
    assert_no_login_failure(&log);
    kp.proxy.assert_healthy();
    reauths
}

#[test]
fn gssapi_login_through_the_proxy() {
    let test = "gssapi_login_through_the_proxy";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let Some(kdc) = Kdc::start(test) else {
        return;
    };
    let Some(skewed) = Kdc::start_skewed(test, "+2h") else {
        return;
    };
    kdc.add_random("kafka/localhost");
    let broker_keytab = kdc.keytab("kafka/localhost");
    kdc.add_random("proxy");
    let proxy_keytab = kdc.keytab("proxy");
    kdc.add_preauth_principal("alice", "alice-secret");
    // Sessions of 5 s: the proxy re-authenticates (KIP-368) with a fresh AP-REQ.
    let spec = with_gssapi(Spec::single(&[P]), &kdc, &broker_keytab)
        .prop("connections.max.reauth.ms", "5000");
    let cluster = Cluster::start(&tools, spec);
    let krb5 = kdc.krb5_conf();
    let keytab = ["--gssapi-keytab", proxy_keytab.to_str().unwrap()];

    // (a) keytab, for about 15 s of producing: re-authentications too.
    let mut kp = start(&cluster, &flags(&cluster, &krb5, "proxy", &keytab));
    let reauths = round_trip(&tools, test, &mut kp, "3000");
    assert!(
        reauths >= 2,
        "expected re-authentications:\n{}",
        kp.proxy.log()
    );
    drop(kp);

    // (b) password.
    let user = [
        "--gssapi-auth-type",
        "USER",
        "--gssapi-password",
        "alice-secret",
    ];
    let mut kp = start(&cluster, &flags(&cluster, &krb5, "alice", &user));
    round_trip(&tools, test, &mut kp, "200");
    assert!(!kp.proxy.log().contains("alice-secret"), "password logged");
    drop(kp);

    // (e) unknown principal.
    let kp = start(&cluster, &flags(&cluster, &krb5, "nobody", &user));
    let line = refused_line(&tools, test, &kp, "KDC_ERR_C_PRINCIPAL_UNKNOWN");
    assert!(line.contains(&format!("nobody@{REALM}")), "{line}");
    assert!(line.contains(&format!("127.0.0.1:{}", kdc.port)), "{line}");
    drop(kp);

    // (c) a keytab from before the principal was re-keyed: proxy@ needs no pre-authentication,
    // so the KDC answers and its reply does not decrypt under the keytab's key...
    kdc.rekey("proxy");
    let kp = start(&cluster, &flags(&cluster, &krb5, "proxy", &keytab));
    let line = refused_line(&tools, test, &kp, "current key");
    assert!(
        line.contains(proxy_keytab.to_str().unwrap()) && line.contains("ktadd"),
        "{line}"
    );
    drop(kp);
    // ... and a wrong password for alice@, who must pre-authenticate: the KDC refuses.
    let wrong = ["--gssapi-auth-type", "USER", "--gssapi-password", "wrong"];
    let kp = start(&cluster, &flags(&cluster, &krb5, "alice", &wrong));
    let line = refused_line(&tools, test, &kp, "KDC_ERR_PREAUTH_FAILED");
    assert!(
        line.contains("--gssapi-password") && line.contains("alice@"),
        "{line}"
    );
    drop(kp);

    // (d) clock skew: the same principal and password in a KDC two hours ahead.
    skewed.add_preauth_principal("alice", "alice-secret");
    let kp = start(
        &cluster,
        &flags(&cluster, &skewed.krb5_conf(), "alice", &user),
    );
    let line = refused_line(&tools, test, &kp, "KRB_AP_ERR_SKEW");
    assert!(line.contains("clocks differ by"), "{line}");
}
