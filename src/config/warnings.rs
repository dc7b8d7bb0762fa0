//! Settings that work but expose something: said once at startup, as warnings, so an operator
//! sees them in the first lines of the log. Nothing here refuses to start.

use super::value::is_loopback;
use super::Config;

/// The warnings `config` deserves, in words.
pub fn startup_warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if config.sasl.is_some() && config.auth_local.is_none() && config.sasl_credentials.is_none() {
        out.push(
            "--sasl-enable without --auth-local-enable: a client's own SASL PLAIN or \
             OAUTHBEARER login is answered as a success whatever it presents (the broker \
             connection is the proxy's), so whoever reaches the listeners acts as the proxy's \
             broker user; keep the listeners private, or authenticate clients \
             (--auth-local-enable, or mutual TLS with --proxy-listener-ca-chain-cert-file)"
                .to_string(),
        );
    }
    let plaintext_beyond_loopback = config.listener_tls.is_none() && !listeners_on_loopback(config);
    if plaintext_beyond_loopback && config.auth_local.is_some() {
        out.push(
            "--auth-local-enable on plaintext listeners that are not on loopback: clients' \
             passwords and tokens cross the network in the clear; add \
             --proxy-listener-tls-enable"
                .to_string(),
        );
    }
    if plaintext_beyond_loopback && config.auth_gateway_server.is_some() {
        out.push(
            "--auth-gateway-server-enable on plaintext listeners that are not on loopback: \
             gateway tokens arrive in the clear and can be replayed while valid; add \
             --proxy-listener-tls-enable"
                .to_string(),
        );
    }
    if config.auth_gateway_client.is_some() && config.tls.is_none() {
        out.push(
            "--auth-gateway-client-enable without --tls-enable: gateway tokens are sent to the \
             next proxy in the clear and can be replayed while valid"
                .to_string(),
        );
    }
    out
}

/// Whether every listener the proxy binds (mapped and dynamic) is on a loopback address, where
/// plaintext does not leave the host (a sidecar next to its client).
fn listeners_on_loopback(config: &Config) -> bool {
    let dynamic_ok = config.dynamic_listeners_disable || is_loopback(&config.default_listener_ip);
    dynamic_ok
        && config
            .bootstrap_mappings
            .iter()
            .all(|m| is_loopback(&m.listen.host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Mode};

    fn warnings(args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.into());
        let args = ["server"].iter().chain(args).copied();
        match parse(args, lookup) {
            Ok(Mode::Server(config)) => startup_warnings(&config),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exposed_settings_are_warned_about() {
        let wide = ["--bootstrap-server-mapping", "b:9092,0.0.0.0:19092"];
        let local = ["--bootstrap-server-mapping", "b:9092,127.0.0.1:19092"];
        assert!(warnings(&wide, &[]).is_empty());
        let sasl = [&wide[..], &["--sasl-enable", "--sasl-username", "u"]].concat();
        let w = warnings(&sasl, &[("SASL_PASSWORD", "p")]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("--sasl-enable without --auth-local-enable"),
            "{w:?}"
        );
        assert!(w[0].contains("answered as a success"), "{w:?}");

        let local_auth = ["--auth-local-enable", "--auth-local-command", "auth-user"];
        let w = warnings(&[&wide[..], &local_auth].concat(), &[]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("passwords and tokens cross the network in the clear"),
            "{w:?}"
        );
        // On loopback only (dynamic listeners there too), or behind TLS: nothing to say.
        assert!(warnings(&[&local[..], &local_auth].concat(), &[]).is_empty());
    }
}
