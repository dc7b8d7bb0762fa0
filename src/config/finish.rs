//! The checks across `server`'s flags, after each was checked on its own: [`ServerArgs::finish`]
//! refuses flags that cannot run together and moves the sections that were switched on from
//! [`Pending`] into the [`Config`]. The checks run in a fixed order, so the same command line
//! always names the same flag.

use super::flags::{Conflict, Pending, ServerArgs};
use super::jaas::{self, JaasModule};
use super::value;
use super::{
    BrokerTlsConfig, Config, CredentialsSource, DynamicPorts, GatewayConfig, HttpConfig,
    ListenerTlsConfig, PluginAuthConfig, SaslConfig, SaslMethod, SaslPluginConfig, SniConfig,
};

impl ServerArgs {
    /// Checks the flags against each other and completes the [`Config`].
    pub fn finish(self) -> Result<Config, Conflict> {
        let ServerArgs {
            mut config,
            pending,
        } = self;
        if config.bootstrap_mappings.is_empty() {
            return Err(conflict(
                "bootstrap-server-mapping",
                "at least one is required",
            ));
        }
        config.dynamic_ports = dynamic_ports(&config, &pending)?;
        config.tls = broker_tls(&pending)?;
        config.listener_tls = listener_tls(&pending)?;
        config.sni = sni(&config, &pending)?;
        config.sasl_plugin = sasl_plugin(&pending)?;
        config.sasl_credentials = sasl_credentials(&pending)?;
        config.sasl = match (&config.sasl_plugin, &config.sasl_credentials) {
            // The plugin, or each client's mapping, gives the credentials: --sasl-username and
            // friends are ignored.
            (Some(_), _) | (_, Some(_)) => Some(pending.sasl.clone()),
            (None, None) => sasl(&pending)?,
        };
        config.auth_local = auth_local(pending.auth_local_enable, &pending.auth_local)?;
        config.auth_gateway_client = gateway(
            pending.auth_gateway_client_enable,
            &pending.auth_gateway_client,
            &GATEWAY_CLIENT,
        )?;
        config.auth_gateway_server = gateway(
            pending.auth_gateway_server_enable,
            &pending.auth_gateway_server,
            &GATEWAY_SERVER,
        )?;
        http(&config.http)?;
        if let Some(reason) = config.log_json_fields.conflict() {
            return Err(conflict("log-msg-fieldname", reason));
        }
        // The flags refuse these values; a caller that skipped them must not run either.
        if config.limits.max_client_connections == 0 {
            return Err(conflict("max-client-connections", "must be at least 1"));
        }
        if config.limits.handshake_timeout.is_zero() {
            return Err(conflict("handshake-timeout", "must be greater than 0"));
        }
        Ok(config)
    }
}

fn conflict(flag: &'static str, reason: impl Into<String>) -> Conflict {
    Conflict {
        flag,
        reason: reason.into(),
    }
}

/// `--dynamic-sequential-*` and `--deterministic-listeners`. Like grepplabs, the port settings
/// only matter (and are only checked) while dynamic listeners are on.
fn dynamic_ports(config: &Config, p: &Pending) -> Result<DynamicPorts, Conflict> {
    let min = p.dynamic_sequential_min_port;
    let max = p.dynamic_sequential_max_ports;
    if config.dynamic_listeners_disable {
        return Ok(DynamicPorts::Random);
    }
    if p.deterministic_listeners {
        if min == 0 {
            return Err(conflict(
                "deterministic-listeners",
                "needs --dynamic-sequential-min-port greater than 0",
            ));
        }
        if max != 0 {
            // grepplabs wraps the port as min + id % max-ports; we bind min + id exactly,
            // so we refuse rather than silently ignore the limit.
            return Err(conflict(
                "deterministic-listeners",
                "cannot be combined with --dynamic-sequential-max-ports (the port is always min-port + broker id)",
            ));
        }
        return Ok(DynamicPorts::Deterministic { min });
    }
    if min == 0 {
        if max != 0 {
            return Err(conflict(
                "dynamic-sequential-max-ports",
                "needs --dynamic-sequential-min-port greater than 0",
            ));
        }
        return Ok(DynamicPorts::Random);
    }
    let room = 65536 - u32::from(min);
    let max_ports = if max == 0 { room } else { u32::from(max) };
    if max_ports > room {
        return Err(Conflict {
            flag: "dynamic-sequential-max-ports",
            reason: format!("{max} ports from {min} go past port 65535 (at most {room} fit)"),
        });
    }
    Ok(DynamicPorts::Sequential {
        min,
        max_ports: max_ports as u16,
    })
}

/// `--tls-*`: checked only with `--tls-enable`, like grepplabs, except
/// `--tls-same-client-cert-enable`, which grepplabs checks always.
fn broker_tls(p: &Pending) -> Result<Option<BrokerTlsConfig>, Conflict> {
    let tls = &p.tls;
    if tls.same_client_cert_enable {
        // grepplabs needs the first three; without a listener CA no client presents a
        // certificate, so every client would be refused.
        let missing = [
            (!p.tls_enable, "--tls-enable"),
            (tls.client_cert_file.is_none(), "--tls-client-cert-file"),
            (!p.listener_tls_enable, "--proxy-listener-tls-enable"),
            (
                p.listener_tls.ca_chain_cert_file.is_none(),
                "--proxy-listener-ca-chain-cert-file",
            ),
        ];
        if let Some((_, flag)) = missing.iter().find(|(m, _)| *m) {
            return Err(conflict(
                "tls-same-client-cert-enable",
                format!(
                    "needs {flag}: it compares the certificate each client presents to the \
                     proxy with the proxy's own --tls-client-cert-file"
                ),
            ));
        }
    }
    if !p.tls_enable {
        return Ok(None);
    }
    match (&tls.client_cert_file, &tls.client_key_file) {
        (Some(_), None) => {
            return Err(conflict(
                "tls-client-cert-file",
                "needs --tls-client-key-file",
            ))
        }
        (None, Some(_)) => {
            return Err(conflict(
                "tls-client-key-file",
                "needs --tls-client-cert-file",
            ))
        }
        _ => {}
    }
    Ok(Some(tls.clone()))
}

/// Drops repeated items, keeping the first of each.
fn dedup(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// `--proxy-listener-*` TLS flags: checked only with `--proxy-listener-tls-enable`.
fn listener_tls(p: &Pending) -> Result<Option<ListenerTlsConfig>, Conflict> {
    if !p.listener_tls_enable {
        return Ok(None);
    }
    let tls = &p.listener_tls;
    if tls.cert_file.as_os_str().is_empty() || tls.key_file.as_os_str().is_empty() {
        return Err(conflict(
            "proxy-listener-tls-enable",
            "needs --proxy-listener-cert-file and --proxy-listener-key-file",
        ));
    }
    let has_ca = tls.ca_chain_cert_file.is_some();
    if tls.crl_file.is_some() && !has_ca {
        return Err(conflict(
            "proxy-listener-crl-file",
            "needs --proxy-listener-ca-chain-cert-file: revocation lists apply to client \
             certificates, which are only asked for with a CA",
        ));
    }
    if !tls.required_client_subjects.is_empty() && !has_ca {
        return Err(conflict(
            "proxy-listener-tls-required-client-subject",
            "needs --proxy-listener-ca-chain-cert-file: without it clients present no \
             certificate",
        ));
    }
    let mut cipher_suites = dedup(&tls.cipher_suites);
    // Go's list only governs TLS 1.2; a list written for grepplabs must not turn TLS 1.3 off.
    let is_tls13 = |name: &String| {
        value::CIPHER_SUITES
            .iter()
            .any(|c| c.tls13 && c.name == name.as_str())
    };
    if !cipher_suites.is_empty() && !cipher_suites.iter().any(is_tls13) {
        for c in value::CIPHER_SUITES.iter().filter(|c| c.tls13) {
            cipher_suites.push(c.name.to_string());
        }
    }
    Ok(Some(ListenerTlsConfig {
        cipher_suites,
        curve_preferences: dedup(&tls.curve_preferences),
        ..tls.clone()
    }))
}

/// `--sni-*`: all of them or none; the listener speaks TLS, and the bootstrap name is not one
/// of the broker names.
fn sni(config: &Config, p: &Pending) -> Result<Option<SniConfig>, Conflict> {
    let Some(listen) = &p.sni_listen else {
        let given = [
            ("sni-bootstrap-host", p.sni_bootstrap_host.is_some()),
            ("sni-broker-host-pattern", p.sni_pattern.is_some()),
            ("sni-advertised-port", p.sni_advertised_port.is_some()),
        ];
        return match given.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(conflict(
                flag,
                "takes effect only with --sni-listen-address",
            )),
            None => Ok(None),
        };
    };
    if config.listener_tls.is_none() {
        return Err(conflict(
            "sni-listen-address",
            "needs TLS on the listeners (--proxy-listener-tls-enable with \
             --proxy-listener-cert-file and --proxy-listener-key-file, a certificate covering \
             --sni-bootstrap-host and the --sni-broker-host-pattern names): the broker is \
             chosen by the TLS server name",
        ));
    }
    let Some(bootstrap_host) = &p.sni_bootstrap_host else {
        return Err(conflict(
            "sni-bootstrap-host",
            "is required with --sni-listen-address",
        ));
    };
    let Some(pattern) = &p.sni_pattern else {
        return Err(conflict(
            "sni-broker-host-pattern",
            "is required with --sni-listen-address",
        ));
    };
    if let Some(node) = pattern.node_of(bootstrap_host) {
        return Err(conflict(
            "sni-bootstrap-host",
            format!("{bootstrap_host} is the name of node {node} under --sni-broker-host-pattern"),
        ));
    }
    Ok(Some(SniConfig {
        listen: listen.clone(),
        bootstrap_host: bootstrap_host.clone(),
        pattern: pattern.clone(),
        advertised_port: p.sni_advertised_port,
    }))
}

/// `--sasl-*`: checked only with `--sasl-enable`. The JAAS file is read here.
fn sasl(p: &Pending) -> Result<Option<SaslConfig>, Conflict> {
    if !p.sasl_enable {
        return Ok(None);
    }
    let method = p.sasl.method;
    if method == SaslMethod::AwsMskIam {
        let aws = crate::auth::aws::check_config(&p.sasl.aws)
            .map_err(|why| conflict("sasl-aws-region", why))?;
        return Ok(Some(SaslConfig {
            aws,
            ..p.sasl.clone()
        }));
    }
    if method == SaslMethod::Gssapi {
        // Kerberos takes its principal and key from the --gssapi-* flags alone.
        super::gssapi::check(&p.sasl.gssapi).map_err(|(flag, why)| conflict(flag, why))?;
        // A build without the Kerberos client refuses at startup rather than fail every login.
        if !cfg!(feature = "gssapi") {
            return Err(conflict(
                "sasl-method",
                "GSSAPI: this build has no Kerberos client (the gssapi cargo feature)",
            ));
        }
        return Ok(Some(p.sasl.clone()));
    }
    if let Some(path) = &p.sasl.jaas_config_file {
        let login = jaas::read_jaas_file(path).map_err(|why| {
            conflict(
                "sasl-jaas-config-file",
                format!("{}: {why}", path.display()),
            )
        })?;
        // The login module fixes the mechanism family; only the SCRAM hash is left to choose.
        let fits = match login.module {
            JaasModule::Plain => method == SaslMethod::Plain,
            JaasModule::Scram => {
                matches!(method, SaslMethod::ScramSha256 | SaslMethod::ScramSha512)
            }
        };
        if !fits {
            let wanted = match login.module {
                JaasModule::Plain => "PLAIN",
                JaasModule::Scram => "SCRAM-SHA-256 or SCRAM-SHA-512",
            };
            return Err(conflict(
                "sasl-method",
                format!(
                    "is {}, but {} uses {}: set --sasl-method to {wanted}",
                    value::sasl_method_name(method),
                    path.display(),
                    login.module.class_name()
                ),
            ));
        }
        return Ok(Some(SaslConfig {
            method,
            username: login.username,
            password: login.password,
            jaas_config_file: Some(path.clone()),
            aws: Default::default(),
            gssapi: Default::default(),
            mapped_from: None,
        }));
    }
    match (
        p.sasl.username.is_empty(),
        p.sasl.password.expose().is_empty(),
    ) {
        (false, false) => Ok(Some(p.sasl.clone())),
        (true, true) => Err(conflict(
            "sasl-enable",
            "needs --sasl-username and --sasl-password, or --sasl-jaas-config-file",
        )),
        (false, true) => Err(conflict(
            "sasl-enable",
            "needs --sasl-password (or SASL_PASSWORD) with --sasl-username",
        )),
        (true, false) => Err(conflict(
            "sasl-enable",
            "needs --sasl-username with --sasl-password",
        )),
    }
}

/// `--sasl-plugin-*`: checked only with `--sasl-plugin-enable`, which needs `--sasl-enable`
/// (as in grepplabs).
fn sasl_plugin(p: &Pending) -> Result<Option<SaslPluginConfig>, Conflict> {
    if !p.sasl_plugin_enable {
        return Ok(None);
    }
    if !p.sasl_enable {
        return Err(conflict("sasl-plugin-enable", "needs --sasl-enable"));
    }
    if p.sasl_plugin.command.is_empty() {
        return Err(conflict(
            "sasl-plugin-enable",
            "needs --sasl-plugin-command",
        ));
    }
    builtin_in_build("sasl-plugin-command", &p.sasl_plugin.command)?;
    if p.sasl_plugin.timeout.is_zero() {
        return Err(conflict("sasl-plugin-timeout", "must be greater than 0"));
    }
    Ok(Some(p.sasl_plugin.clone()))
}

/// `--sasl-credentials-*`: checked only when a source is given. Each client then needs a
/// principal of its own: a local SASL login or a client certificate.
fn sasl_credentials(p: &Pending) -> Result<Option<CredentialsSource>, Conflict> {
    let plugin = &p.sasl_credentials_plugin;
    let (flag, source) = match (&p.sasl_credentials_file, plugin.command.is_empty()) {
        (None, true) => return Ok(None),
        (Some(_), false) => {
            return Err(conflict(
                "sasl-credentials-file",
                "cannot be used with --sasl-credentials-plugin-command: give one source",
            ))
        }
        (Some(path), true) => (
            "sasl-credentials-file",
            CredentialsSource::File(path.clone()),
        ),
        (None, false) => {
            builtin_in_build("sasl-credentials-plugin-command", &plugin.command)?;
            if plugin.timeout.is_zero() {
                return Err(conflict(
                    "sasl-credentials-plugin-timeout",
                    "must be greater than 0",
                ));
            }
            (
                "sasl-credentials-plugin-command",
                CredentialsSource::Plugin(plugin.clone()),
            )
        }
    };
    if !p.sasl_enable {
        return Err(conflict(flag, "needs --sasl-enable"));
    }
    if p.sasl_plugin_enable {
        return Err(conflict(
            flag,
            "cannot be used with --sasl-plugin-enable: the proxy logs in either as each client \
             or as the plugin's one identity",
        ));
    }
    let client_certs = p.listener_tls_enable && p.listener_tls.ca_chain_cert_file.is_some();
    if !p.auth_local_enable && !client_certs {
        return Err(conflict(
            flag,
            "needs clients with a principal: --auth-local-enable, or client certificates \
             (--proxy-listener-tls-enable with --proxy-listener-ca-chain-cert-file)",
        ));
    }
    Ok(Some(source))
}

/// A plugin command that names a built-in plugin left out of this build (its cargo feature
/// off) is a usage error now, not a program that is missing when the proxy starts it.
fn builtin_in_build(flag: &'static str, command: &str) -> Result<(), Conflict> {
    match super::plugin_flags::not_built(command) {
        Some(reason) => Err(conflict(flag, reason)),
        None => Ok(()),
    }
}

/// `--auth-local-*`: checked only with `--auth-local-enable`.
fn auth_local(enable: bool, p: &PluginAuthConfig) -> Result<Option<PluginAuthConfig>, Conflict> {
    if !enable {
        return Ok(None);
    }
    if p.command.is_empty() {
        return Err(conflict("auth-local-enable", "needs --auth-local-command"));
    }
    builtin_in_build("auth-local-command", &p.command)?;
    builtin_in_build("auth-local-token-command", &p.token_command)?;
    if let Some(m) = p
        .mechanisms
        .iter()
        .find(|m| *m != "PLAIN" && *m != "OAUTHBEARER")
    {
        return Err(conflict(
            "auth-local-mechanisms",
            format!("{m} is not supported; PLAIN and OAUTHBEARER are"),
        ));
    }
    if !p.token_command.is_empty() && !p.mechanisms.iter().any(|m| m == "OAUTHBEARER") {
        return Err(conflict(
            "auth-local-token-command",
            "checks OAUTHBEARER tokens, which --auth-local-mechanisms does not enable",
        ));
    }
    if p.timeout.is_zero() {
        return Err(conflict("auth-local-timeout", "must be greater than 0"));
    }
    Ok(Some(p.clone()))
}

/// The flag names of one side of the gateway, for error messages.
struct GatewayFlags {
    enable: &'static str,
    command: &'static str,
    method: &'static str,
    magic: &'static str,
    timeout: &'static str,
}

const GATEWAY_CLIENT: GatewayFlags = GatewayFlags {
    enable: "auth-gateway-client-enable",
    command: "--auth-gateway-client-command",
    method: "--auth-gateway-client-method",
    magic: "--auth-gateway-client-magic",
    timeout: "auth-gateway-client-timeout",
};

const GATEWAY_SERVER: GatewayFlags = GatewayFlags {
    enable: "auth-gateway-server-enable",
    command: "--auth-gateway-server-command",
    method: "--auth-gateway-server-method",
    magic: "--auth-gateway-server-magic",
    timeout: "auth-gateway-server-timeout",
};

/// `--auth-gateway-client-*` or `--auth-gateway-server-*`: checked only when enabled. Like
/// grepplabs, an enabled side needs a command, a method and a magic other than 0.
fn gateway(
    enable: bool,
    p: &GatewayConfig,
    names: &GatewayFlags,
) -> Result<Option<GatewayConfig>, Conflict> {
    if !enable {
        return Ok(None);
    }
    if p.command.is_empty() {
        return Err(conflict(names.enable, format!("needs {}", names.command)));
    }
    builtin_in_build(names.command.trim_start_matches("--"), &p.command)?;
    if p.method.is_empty() {
        return Err(conflict(names.enable, format!("needs {}", names.method)));
    }
    if p.magic == 0 {
        return Err(conflict(
            names.enable,
            format!("needs {} (not 0)", names.magic),
        ));
    }
    if p.timeout.is_zero() {
        return Err(conflict(names.timeout, "must be greater than 0"));
    }
    Ok(Some(p.clone()))
}

/// `--http-*` and `--debug-*`.
fn http(http: &HttpConfig) -> Result<(), Conflict> {
    if !http.disable && http.health_path == http.metrics_path {
        return Err(conflict(
            "http-metrics-path",
            "must differ from --http-health-path",
        ));
    }
    if !http.disable
        && http.debug_enable
        && http.listen_address.port != 0
        && http.listen_address == http.debug_listen_address
    {
        return Err(conflict(
            "debug-listen-address",
            "must differ from --http-listen-address",
        ));
    }
    Ok(())
}
