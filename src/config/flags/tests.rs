use super::*;
use crate::config::ForwardProxy;

fn flag(name: &str) -> &'static Flag<ServerArgs> {
    SERVER_FLAGS.iter().find(|f| f.name == name).unwrap()
}

#[test]
fn table_is_consistent() {
    let mut names = std::collections::HashSet::new();
    for f in SERVER_FLAGS {
        assert!(names.insert(f.name), "--{} listed twice", f.name);
        assert_eq!(
            f.env,
            f.name.to_uppercase().replace('-', "_"),
            "--{}",
            f.name
        );
        assert!(!f.help.is_empty() && f.help.ends_with('.'), "--{}", f.name);
        assert!(!f.help.contains("  "), "--{}: double space in help", f.name);
        match f.kind {
            FlagKind::Switch => {
                assert!(f.value_name.is_empty(), "--{}", f.name);
                assert_eq!(f.default, Some("false"), "--{}", f.name);
            }
            FlagKind::Value => assert!(!f.value_name.is_empty(), "--{}", f.name),
            FlagKind::Repeated | FlagKind::List => {
                assert!(!f.value_name.is_empty(), "--{}", f.name);
                assert_eq!(f.default, None, "--{}: repeated flags add up", f.name);
            }
        }
        if let Some(d) = f.default {
            let mut a = ServerArgs::default();
            (f.apply)(&mut a, d).unwrap_or_else(|e| panic!("--{} default: {e}", f.name));
        }
    }
}

/// Applies every default, then `values`, and builds the config.
fn config_with(values: &[(&str, &str)]) -> Result<Config, String> {
    let mut a = ServerArgs::default();
    for f in SERVER_FLAGS {
        if let Some(d) = f.default {
            (f.apply)(&mut a, d).unwrap();
        }
    }
    for (name, v) in values {
        (flag(name).apply)(&mut a, v).map_err(|e| format!("--{name}: {e}"))?;
    }
    a.finish()
        .map_err(|c| format!("--{}: {}", c.flag, c.reason))
}

const BOOT: (&str, &str) = ("bootstrap-server-mapping", "kafka:9092,127.0.0.1:19092");

#[test]
fn defaults_match_grepplabs() {
    let c = config_with(&[BOOT]).unwrap();
    assert_eq!(c.default_listener_ip, "127.0.0.1");
    assert!(!c.dynamic_listeners_disable);
    assert_eq!(c.dynamic_advertised_listener, None);
    assert_eq!(c.dynamic_ports, DynamicPorts::Random);
    assert!(c.forbidden_api_keys.is_empty());
    assert!(!c.producer_acks_0_disabled);
    assert_eq!(
        c.kafka,
        KafkaConfig {
            client_id: "kafka-proxy".into(),
            dial_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(60),
            max_open_requests: 256,
            read_buffer_size: 0,
            write_buffer_size: 0,
        }
    );
    assert_eq!(
        c.listener,
        ListenerConfig {
            keep_alive: Duration::from_secs(60),
            read_buffer_size: 0,
            write_buffer_size: 0,
            request_buffer_size: 4096,
            response_buffer_size: 4096,
            splice_threshold: 65536,
            proxy_protocol: crate::net::proxy_protocol::Mode::Off,
            proxy_protocol_trusted: Vec::new(),
        }
    );
    assert_eq!(c.max_frame_size, 104_857_600);
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.log_level, log::LevelFilter::Info);
    assert_eq!(c.tls, None);
    assert_eq!(c.listener_tls, None);
    assert_eq!(c.sasl, None);
    assert_eq!(c.auth_local, None);
    assert_eq!(c.auth_gateway_client, None);
    assert_eq!(c.auth_gateway_server, None);
    assert_eq!(c.forward_proxy, None);
    assert_eq!(
        c.http,
        HttpConfig {
            disable: false,
            listen_address: HostPort {
                host: "0.0.0.0".into(),
                port: 9080
            },
            health_path: "/health".into(),
            metrics_path: "/metrics".into(),
            debug_enable: false,
            debug_listen_address: HostPort {
                host: "0.0.0.0".into(),
                port: 6060
            },
        }
    );
    // Ours, not grepplabs'.
    assert_eq!(c.graceful_shutdown_timeout, Duration::from_secs(30));
    assert!(!c.check);
    assert_eq!(
        c.limits,
        LimitsConfig {
            max_client_connections: 4096,
            client_idle_timeout: Duration::from_secs(600),
            handshake_timeout: Duration::from_secs(10),
            auth_failure_delay: Duration::from_secs(1),
            max_unauthenticated_per_address: 16,
        }
    );
    // The defaults of the feature flags, once each feature is switched on.
    let c = config_with(&[
        BOOT,
        ("tls-enable", "true"),
        ("sasl-enable", "true"),
        ("sasl-username", "u"),
        ("sasl-password", "p"),
        ("auth-local-enable", "true"),
        ("auth-local-command", "auth"),
    ])
    .unwrap();
    assert_eq!(
        c.tls.unwrap(),
        BrokerTlsConfig {
            ca_chain_cert_file: None,
            system_cert_pool: false,
            client_cert_file: None,
            client_key_file: None,
            client_key_password: None,
            insecure_skip_verify: false,
            same_client_cert_enable: false,
            refresh: Duration::ZERO,
        }
    );
    assert_eq!(c.sasl.unwrap().method, SaslMethod::Plain);
    assert_eq!(
        c.auth_local.unwrap(),
        PluginAuthConfig {
            command: "auth".into(),
            params: vec![],
            log_level: log::LevelFilter::Trace,
            timeout: Duration::from_secs(10),
            mechanisms: vec!["PLAIN".into()],
            token_command: String::new(),
            token_params: vec![],
        }
    );
}

#[test]
fn each_flag_parses() {
    let c = config_with(&[
        BOOT,
        (
            "bootstrap-server-mapping",
            "kafka2:9092,0.0.0.0:19093,proxy:19093",
        ),
        (
            "external-server-mapping",
            "kafka3:9092,lb.example.com:29092",
        ),
        ("dial-address-mapping", "kafka3:9092,10.0.0.3:9092"),
        ("default-listener-ip", "0.0.0.0"),
        ("dynamic-advertised-listener", "b-{{.brokerId}}.example.com"),
        ("dynamic-sequential-min-port", "30000"),
        ("dynamic-sequential-max-ports", "10"),
        ("forbidden-api-keys", "20,21"),
        ("forbidden-api-keys", "22"),
        ("producer-acks-0-disabled", "true"),
        ("kafka-client-id", "me"),
        ("kafka-dial-timeout", "1s"),
        ("kafka-read-timeout", "2s"),
        ("kafka-write-timeout", "3s"),
        ("kafka-keep-alive", "0"),
        ("kafka-max-open-requests", "16"),
        ("kafka-connection-read-buffer-size", "65536"),
        ("kafka-connection-write-buffer-size", "128KiB"),
        ("proxy-listener-keep-alive", "90s"),
        ("proxy-listener-read-buffer-size", "1"),
        ("proxy-listener-write-buffer-size", "2"),
        ("proxy-request-buffer-size", "8192"),
        ("proxy-response-buffer-size", "16KiB"),
        ("max-frame-size", "1MiB"),
        ("log-format", "json"),
        ("log-level", "warning"),
        ("proxy-protocol", "any"),
        ("proxy-protocol-trusted-cidr", "10.0.0.0/8"),
        ("proxy-protocol-trusted-cidr", "::1"),
        ("log-level-fieldname", "level"),
        ("log-msg-fieldname", "msg"),
        ("log-time-fieldname", "ts"),
    ])
    .unwrap();
    assert_eq!(c.bootstrap_mappings.len(), 2);
    assert_eq!(
        c.bootstrap_mappings[1].advertised.as_ref().unwrap().host,
        "proxy"
    );
    assert_eq!(c.external_mappings[0].advertised.port, 29092);
    assert_eq!(c.dial_mappings[0].dial.host, "10.0.0.3");
    assert_eq!(c.default_listener_ip, "0.0.0.0");
    assert_eq!(
        c.dynamic_advertised_listener.as_deref(),
        Some("b-{{.brokerId}}.example.com")
    );
    assert_eq!(
        c.dynamic_ports,
        DynamicPorts::Sequential {
            min: 30000,
            max_ports: 10
        }
    );
    assert_eq!(c.forbidden_api_keys, vec![20, 21, 22]);
    assert!(c.producer_acks_0_disabled);
    assert_eq!(c.kafka.client_id, "me");
    assert_eq!(c.kafka.dial_timeout, Duration::from_secs(1));
    assert_eq!(c.kafka.read_timeout, Duration::from_secs(2));
    assert_eq!(c.kafka.write_timeout, Duration::from_secs(3));
    assert_eq!(c.kafka.keep_alive, Duration::ZERO);
    assert_eq!(c.kafka.max_open_requests, 16);
    assert_eq!(c.kafka.read_buffer_size, 65536);
    assert_eq!(c.kafka.write_buffer_size, 131072);
    assert_eq!(c.listener.keep_alive, Duration::from_secs(90));
    assert_eq!(c.listener.read_buffer_size, 1);
    assert_eq!(c.listener.write_buffer_size, 2);
    assert_eq!(c.listener.request_buffer_size, 8192);
    assert_eq!(c.listener.response_buffer_size, 16384);
    assert_eq!(c.max_frame_size, 1 << 20);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.log_level, log::LevelFilter::Warn);
    assert_eq!(
        c.listener.proxy_protocol,
        crate::net::proxy_protocol::Mode::Any
    );
    assert_eq!(c.listener.proxy_protocol_trusted.len(), 2);
    assert_eq!(
        (
            &*c.log_json_fields.level,
            &*c.log_json_fields.message,
            &*c.log_json_fields.time
        ),
        ("level", "msg", "ts")
    );

    let c = config_with(&[BOOT, ("dynamic-listeners-disable", "true")]).unwrap();
    assert!(c.dynamic_listeners_disable);
}

#[test]
fn bad_values_per_flag() {
    let cases = [
        ("bootstrap-server-mapping", "kafka:9092"),
        ("external-server-mapping", "kafka:9092"),
        ("dial-address-mapping", "kafka:9092,x"),
        ("default-listener-ip", "localhost"),
        ("dynamic-listeners-disable", "maybe"),
        ("dynamic-advertised-listener", "{{.nope}}"),
        ("dynamic-sequential-min-port", "65536"),
        ("dynamic-sequential-max-ports", "-1"),
        ("deterministic-listeners", "2"),
        ("forbidden-api-keys", "x"),
        ("producer-acks-0-disabled", "yesno"),
        ("kafka-dial-timeout", "abc"),
        ("kafka-read-timeout", "-1s"),
        ("kafka-write-timeout", "30"),
        ("kafka-keep-alive", "1d"),
        ("kafka-max-open-requests", "0"),
        ("kafka-connection-read-buffer-size", "-1"),
        ("kafka-connection-write-buffer-size", "3GiB"),
        ("proxy-listener-keep-alive", "x"),
        ("proxy-listener-read-buffer-size", "lots"),
        ("proxy-listener-write-buffer-size", "1.5KiB"),
        ("proxy-request-buffer-size", "0"),
        ("proxy-response-buffer-size", "0"),
        ("proxy-splice-threshold", "-1"),
        ("max-frame-size", "0"),
        ("log-format", "xml"),
        ("log-level", "loud"),
        ("proxy-protocol", "v3"),
        ("proxy-protocol-trusted-cidr", "10.0.0.0/33"),
        ("log-level-fieldname", ""),
        ("log-msg-fieldname", "a\nb"),
        ("log-time-fieldname", "\u{0}"),
        ("forward-proxy", "ftp://proxy:21"),
        ("tls-enable", "on"),
        ("tls-refresh", "5"),
        ("tls-insecure-skip-verify", "x"),
        ("tls-system-cert-pool", "x"),
        ("tls-same-client-cert-enable", "x"),
        ("sasl-enable", "x"),
        ("sasl-aws-identity-lookup", "x"),
        ("sasl-plugin-enable", "x"),
        ("sasl-plugin-mechanism", "SCRAM-SHA-256"),
        ("sasl-plugin-log-level", "x"),
        ("sasl-plugin-timeout", "0s"),
        ("sasl-credentials-plugin-log-level", "x"),
        ("sasl-credentials-plugin-timeout", "0s"),
        ("sasl-method", "KERBEROS"),
        ("gssapi-auth-type", "TICKET"),
        ("gssapi-spn-host-mapping", "broker-without-host"),
        ("gssapi-disable-pa-fx-fast", "x"),
        ("proxy-listener-tls-enable", "x"),
        ("proxy-listener-tls-refresh", "-1s"),
        (
            "proxy-listener-cipher-suites",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
        ),
        ("proxy-listener-curve-preferences", "CurveP521"),
        ("proxy-listener-tls-required-client-subject", "CN=x"),
        ("auth-local-enable", "x"),
        ("auth-local-log-level", "loud"),
        ("auth-local-timeout", "0"),
        ("auth-local-mechanism", "GSSAPI"),
        ("auth-local-mechanisms", "PLAIN,PLAIN"),
        ("auth-local-mechanisms", ","),
        ("auth-gateway-client-enable", "x"),
        ("auth-gateway-client-magic", "-1"),
        ("auth-gateway-client-log-level", "x"),
        ("auth-gateway-client-timeout", "0s"),
        ("auth-gateway-server-enable", "x"),
        ("auth-gateway-server-magic", "0123"),
        ("auth-gateway-server-log-level", "x"),
        ("auth-gateway-server-timeout", "x"),
        ("max-client-connections", "0"),
        ("client-idle-timeout", "10"),
        ("handshake-timeout", "0"),
        ("auth-failure-delay", "1"),
        ("auth-failure-delay", "61s"),
        ("max-unauthenticated-connections-per-address", "-1"),
        ("max-unauthenticated-connections-per-address", "1000001"),
        ("graceful-shutdown-timeout", "-5s"),
        ("check", "maybe"),
        ("http-disable", "x"),
        ("http-listen-address", "9080"),
        ("http-health-path", "health"),
        ("http-metrics-path", "/m etrics"),
        ("debug-enable", "x"),
        ("debug-listen-address", "0.0.0.0:70000"),
        ("sni-listen-address", "9443"),
        ("sni-bootstrap-host", "10.0.0.1"),
        ("sni-broker-host-pattern", "broker.kafka.test"),
        ("sni-advertised-port", "0"),
    ];
    for (name, bad) in cases {
        let mut a = ServerArgs::default();
        let r = (flag(name).apply)(&mut a, bad);
        assert!(r.is_err(), "--{name} accepted {bad:?}");
    }
    // These take any text: file names, names, passwords, plugin arguments. An empty
    // client id is allowed too (Kafka's client_id is nullable/empty).
    let any = [
        "kafka-client-id",
        "tls-client-cert-file",
        "tls-client-key-file",
        "tls-client-key-password",
        "tls-ca-chain-cert-file",
        "sasl-username",
        "sasl-password",
        "sasl-jaas-config-file",
        "sasl-aws-region",
        "sasl-aws-profile",
        "sasl-aws-role-arn",
        "proxy-listener-cert-file",
        "proxy-listener-key-file",
        "proxy-listener-key-password",
        "proxy-listener-ca-chain-cert-file",
        "proxy-listener-crl-file",
        "auth-local-command",
        "auth-local-token-command",
        "auth-local-token-param",
        "auth-local-param",
        "auth-gateway-client-command",
        "auth-gateway-client-method",
        "auth-gateway-client-param",
        "auth-gateway-server-command",
        "auth-gateway-server-method",
        "auth-gateway-server-param",
        "sasl-plugin-command",
        "sasl-plugin-param",
        "sasl-credentials-file",
        "sasl-credentials-plugin-command",
        "sasl-credentials-plugin-param",
        "gssapi-keytab",
        "gssapi-krb5",
        "gssapi-password",
        "gssapi-realm",
        "gssapi-servicename",
        "gssapi-username",
    ];
    for name in any {
        for v in ["", " a b ", "x=\"y\";", "--looks-like-a-flag"] {
            let mut a = ServerArgs::default();
            assert!((flag(name).apply)(&mut a, v).is_ok(), "--{name} {v:?}");
        }
    }
    let covered: std::collections::HashSet<&str> =
        cases.iter().map(|(n, _)| *n).chain(any).collect();
    for f in SERVER_FLAGS {
        assert!(covered.contains(f.name), "add --{} to this test", f.name);
    }
}

#[test]
fn required_bootstrap_mapping() {
    let err = config_with(&[]).unwrap_err();
    assert_eq!(err, "--bootstrap-server-mapping: at least one is required");
}

#[test]
fn dynamic_port_modes() {
    let ports = |v: &[(&str, &str)]| {
        let mut all = vec![BOOT];
        all.extend_from_slice(v);
        config_with(&all).map(|c| c.dynamic_ports)
    };
    assert_eq!(ports(&[]), Ok(DynamicPorts::Random));
    assert_eq!(
        ports(&[("dynamic-sequential-min-port", "30000")]),
        Ok(DynamicPorts::Sequential {
            min: 30000,
            max_ports: 35536
        })
    );
    assert_eq!(
        ports(&[("dynamic-sequential-min-port", "1")]),
        Ok(DynamicPorts::Sequential {
            min: 1,
            max_ports: 65535
        })
    );
    assert_eq!(
        ports(&[
            ("dynamic-sequential-min-port", "65535"),
            ("dynamic-sequential-max-ports", "1")
        ]),
        Ok(DynamicPorts::Sequential {
            min: 65535,
            max_ports: 1
        })
    );
    assert_eq!(
        ports(&[
            ("dynamic-sequential-min-port", "30000"),
            ("deterministic-listeners", "true")
        ]),
        Ok(DynamicPorts::Deterministic { min: 30000 })
    );
    let err = ports(&[("deterministic-listeners", "true")]).unwrap_err();
    assert!(err.starts_with("--deterministic-listeners: needs --dynamic-sequential-min-port"));
    let err = ports(&[("dynamic-sequential-max-ports", "5")]).unwrap_err();
    assert!(err.starts_with("--dynamic-sequential-max-ports: needs"));
    let err = ports(&[
        ("dynamic-sequential-min-port", "65000"),
        ("dynamic-sequential-max-ports", "1000"),
    ])
    .unwrap_err();
    assert!(err.contains("past port 65535"), "{err}");
    assert!(ports(&[
        ("dynamic-sequential-min-port", "30000"),
        ("dynamic-sequential-max-ports", "5"),
        ("deterministic-listeners", "true")
    ])
    .is_err());
    // With dynamic listeners off, like grepplabs, the port flags are not checked.
    assert_eq!(
        ports(&[
            ("dynamic-listeners-disable", "true"),
            ("deterministic-listeners", "true")
        ]),
        Ok(DynamicPorts::Random)
    );
}

/// A file under the temp directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("kafka-proxy-flags-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn with(values: &[(&str, &str)]) -> Result<Config, String> {
    let mut all = vec![BOOT];
    all.extend_from_slice(values);
    config_with(&all)
}

#[test]
fn feature_flags_parse() {
    let c = with(&[
        ("tls-enable", "true"),
        ("tls-refresh", "1m"),
        ("tls-insecure-skip-verify", "true"),
        ("tls-client-cert-file", "/c.pem"),
        ("tls-client-key-file", "/k.pem"),
        ("tls-client-key-password", "kp"),
        ("tls-ca-chain-cert-file", "/ca.pem"),
        ("tls-system-cert-pool", "true"),
        ("tls-same-client-cert-enable", "true"),
        ("proxy-listener-tls-enable", "true"),
        ("proxy-listener-tls-refresh", "30s"),
        ("proxy-listener-cert-file", "/s.pem"),
        ("proxy-listener-key-file", "/sk.pem"),
        ("proxy-listener-key-password", "skp"),
        ("proxy-listener-ca-chain-cert-file", "/lca.pem"),
        ("proxy-listener-crl-file", "/crl.pem"),
        (
            "proxy-listener-cipher-suites",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384",
        ),
        (
            "proxy-listener-cipher-suites",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ),
        ("proxy-listener-curve-preferences", "CurveP384,X25519"),
        ("proxy-listener-curve-preferences", "P256"),
        (
            "proxy-listener-tls-required-client-subject",
            "s:/CN=[a]/O=[x,y],r:/CN=[^b.*$]",
        ),
        (
            "proxy-listener-tls-required-client-subject",
            "s:/OU=[ops team]",
        ),
        ("sasl-enable", "true"),
        ("sasl-method", "scram-sha-512"),
        ("sasl-username", "user"),
        ("sasl-password", "pass"),
        ("auth-local-enable", "true"),
        ("auth-local-command", "/bin/auth"),
        ("auth-local-param", "--a=1"),
        ("auth-local-param", "--b=2"),
        ("auth-local-log-level", "off"),
        ("auth-local-timeout", "5s"),
        ("auth-local-mechanism", "plain"),
        ("auth-local-mechanisms", "oauthbearer, plain"),
        ("auth-local-token-command", "/bin/token-info"),
        ("auth-local-token-param", "--issuer=x"),
        ("auth-gateway-client-enable", "true"),
        // auth-user is in every build (the google-id plugins need their feature).
        ("auth-gateway-client-command", "auth-user"),
        ("auth-gateway-client-method", "google-id"),
        ("auth-gateway-client-magic", "3285573610483682037"),
        ("auth-gateway-client-param", "--x"),
        ("auth-gateway-client-log-level", "info"),
        ("auth-gateway-client-timeout", "3s"),
        ("auth-gateway-server-enable", "true"),
        ("auth-gateway-server-command", "auth-user"),
        ("auth-gateway-server-method", "google-id"),
        ("auth-gateway-server-magic", "0x2d98b4a7c5a8e1f5"),
        ("auth-gateway-server-param", "--y"),
        ("auth-gateway-server-log-level", "warn"),
        ("auth-gateway-server-timeout", "4s"),
        ("forward-proxy", "socks5://us%40r:p%3Ass@proxy.local:1080"),
        ("max-client-connections", "100"),
        ("client-idle-timeout", "0"),
        ("handshake-timeout", "2s"),
        ("auth-failure-delay", "250ms"),
        ("max-unauthenticated-connections-per-address", "0"),
        ("graceful-shutdown-timeout", "0"),
        ("check", "true"),
        ("http-disable", "true"),
        ("http-listen-address", ":9999"),
        ("http-health-path", "/healthz"),
        ("http-metrics-path", "/prom"),
        ("debug-enable", "true"),
        ("debug-listen-address", "127.0.0.1:0"),
    ])
    .unwrap();
    let p = |s: &str| Some(std::path::PathBuf::from(s));
    assert_eq!(
        c.tls.unwrap(),
        BrokerTlsConfig {
            ca_chain_cert_file: p("/ca.pem"),
            system_cert_pool: true,
            client_cert_file: p("/c.pem"),
            client_key_file: p("/k.pem"),
            client_key_password: Some(Secret("kp".into())),
            insecure_skip_verify: true,
            same_client_cert_enable: true,
            refresh: Duration::from_secs(60),
        }
    );
    assert_eq!(
        c.listener_tls.unwrap(),
        ListenerTlsConfig {
            cert_file: "/s.pem".into(),
            key_file: "/sk.pem".into(),
            key_password: Some(Secret("skp".into())),
            ca_chain_cert_file: p("/lca.pem"),
            crl_file: p("/crl.pem"),
            // Go spelling mapped to IANA, duplicates dropped; a TLS 1.3 suite was named,
            // so no other is added.
            cipher_suites: vec![
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                "TLS_AES_256_GCM_SHA384".into(),
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256".into(),
            ],
            curve_preferences: vec!["P384".into(), "X25519".into(), "P256".into()],
            required_client_subjects: vec![
                "s:/CN=[a]/O=[x,y]".into(),
                "r:/CN=[^b.*$]".into(),
                "s:/OU=[ops team]".into(),
            ],
            refresh: Duration::from_secs(30),
        }
    );
    assert_eq!(
        c.sasl.unwrap(),
        SaslConfig {
            method: SaslMethod::ScramSha512,
            username: "user".into(),
            password: Secret("pass".into()),
            jaas_config_file: None,
            aws: Default::default(),
            gssapi: Default::default(),
            mapped_from: None,
        }
    );
    assert_eq!(
        c.auth_local.unwrap(),
        PluginAuthConfig {
            command: "/bin/auth".into(),
            params: vec!["--a=1".into(), "--b=2".into()],
            log_level: log::LevelFilter::Off,
            timeout: Duration::from_secs(5),
            mechanisms: vec!["OAUTHBEARER".into(), "PLAIN".into()],
            token_command: "/bin/token-info".into(),
            token_params: vec!["--issuer=x".into()],
        }
    );
    assert_eq!(
        c.auth_gateway_client.unwrap(),
        GatewayConfig {
            command: "auth-user".into(),
            params: vec!["--x".into()],
            log_level: log::LevelFilter::Info,
            timeout: Duration::from_secs(3),
            method: "google-id".into(),
            magic: 3285573610483682037,
        }
    );
    let server = c.auth_gateway_server.unwrap();
    assert_eq!(server.magic, 0x2d98b4a7c5a8e1f5);
    assert_eq!(server.log_level, log::LevelFilter::Warn);
    assert_eq!(server.timeout, Duration::from_secs(4));
    assert_eq!(server.params, vec!["--y".to_string()]);
    assert_eq!(
        c.forward_proxy.unwrap(),
        ForwardProxy {
            scheme: super::super::ForwardProxyScheme::Socks5,
            address: HostPort {
                host: "proxy.local".into(),
                port: 1080
            },
            username: Some("us@r".into()),
            password: Some(Secret("p:ss".into())),
        }
    );
    assert_eq!(
        c.limits,
        LimitsConfig {
            max_client_connections: 100,
            client_idle_timeout: Duration::ZERO,
            handshake_timeout: Duration::from_secs(2),
            auth_failure_delay: Duration::from_millis(250),
            max_unauthenticated_per_address: 0,
        }
    );
    assert_eq!(c.graceful_shutdown_timeout, Duration::ZERO);
    assert!(c.check);
    assert_eq!(
        c.http,
        HttpConfig {
            disable: true,
            listen_address: HostPort {
                host: "0.0.0.0".into(),
                port: 9999
            },
            health_path: "/healthz".into(),
            metrics_path: "/prom".into(),
            debug_enable: true,
            debug_listen_address: HostPort {
                host: "127.0.0.1".into(),
                port: 0
            },
        }
    );
}

#[test]
fn tls13_suites_kept_when_none_named() {
    let c = with(&[
        ("proxy-listener-tls-enable", "true"),
        ("proxy-listener-cert-file", "/s.pem"),
        ("proxy-listener-key-file", "/k.pem"),
        (
            "proxy-listener-cipher-suites",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ),
    ])
    .unwrap();
    assert_eq!(
        c.listener_tls.unwrap().cipher_suites,
        vec![
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256",
        ]
    );
    // Without the flag, the lists stay empty: rustls' defaults.
    let c = with(&[
        ("proxy-listener-tls-enable", "true"),
        ("proxy-listener-cert-file", "/s.pem"),
        ("proxy-listener-key-file", "/k.pem"),
    ])
    .unwrap();
    let tls = c.listener_tls.unwrap();
    assert!(tls.cipher_suites.is_empty() && tls.curve_preferences.is_empty());
}

#[test]
fn features_off_ignore_their_flags() {
    // Like grepplabs: settings of a feature that is off are not checked.
    let c = with(&[
        ("tls-client-cert-file", "/c.pem"),
        ("proxy-listener-crl-file", "/crl.pem"),
        ("sasl-jaas-config-file", "/does/not/exist"),
        ("auth-local-mechanism", "OAUTHBEARER"),
        ("auth-gateway-client-command", "x"),
    ])
    .unwrap();
    assert_eq!(c.tls, None);
    assert_eq!(c.listener_tls, None);
    assert_eq!(c.sasl, None);
    assert_eq!(c.auth_local, None);
    assert_eq!(c.auth_gateway_client, None);
}

#[test]
fn validation_errors_name_the_flag() {
    let tls = ("tls-enable", "true");
    let ltls = ("proxy-listener-tls-enable", "true");
    let lcert = ("proxy-listener-cert-file", "/s.pem");
    let lkey = ("proxy-listener-key-file", "/k.pem");
    let sasl = ("sasl-enable", "true");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[tls, ("tls-client-cert-file", "/c.pem")],
            "--tls-client-cert-file: needs --tls-client-key-file",
        ),
        (
            &[tls, ("tls-client-key-file", "/k.pem")],
            "--tls-client-key-file: needs --tls-client-cert-file",
        ),
        (
            &[("tls-same-client-cert-enable", "true")],
            "--tls-same-client-cert-enable: needs --tls-enable",
        ),
        (
            &[tls, ("tls-same-client-cert-enable", "true")],
            "--tls-same-client-cert-enable: needs --tls-client-cert-file",
        ),
        (
            &[
                tls,
                ("tls-client-cert-file", "/c.pem"),
                ("tls-client-key-file", "/k.pem"),
                ("tls-same-client-cert-enable", "true"),
            ],
            "--tls-same-client-cert-enable: needs --proxy-listener-tls-enable",
        ),
        (
            &[
                tls,
                ("tls-client-cert-file", "/c.pem"),
                ("tls-client-key-file", "/k.pem"),
                ("tls-same-client-cert-enable", "true"),
                ltls,
                lcert,
                lkey,
            ],
            "--tls-same-client-cert-enable: needs --proxy-listener-ca-chain-cert-file",
        ),
        (
            &[ltls],
            "--proxy-listener-tls-enable: needs --proxy-listener-cert-file and \
             --proxy-listener-key-file",
        ),
        (
            &[ltls, lcert],
            "--proxy-listener-tls-enable: needs --proxy-listener-cert-file and \
             --proxy-listener-key-file",
        ),
        (
            &[ltls, lkey],
            "--proxy-listener-tls-enable: needs --proxy-listener-cert-file and \
             --proxy-listener-key-file",
        ),
        (
            &[ltls, lcert, lkey, ("proxy-listener-crl-file", "/crl.pem")],
            "--proxy-listener-crl-file: needs --proxy-listener-ca-chain-cert-file",
        ),
        (
            &[
                ltls,
                lcert,
                lkey,
                ("proxy-listener-tls-required-client-subject", "s:/CN=[x]"),
            ],
            "--proxy-listener-tls-required-client-subject: needs \
             --proxy-listener-ca-chain-cert-file",
        ),
        (
            &[sasl],
            "--sasl-enable: needs --sasl-username and --sasl-password, or \
             --sasl-jaas-config-file",
        ),
        (
            &[sasl, ("sasl-username", "u")],
            "--sasl-enable: needs --sasl-password",
        ),
        (
            &[sasl, ("sasl-password", "hunter2")],
            "--sasl-enable: needs --sasl-username with --sasl-password",
        ),
        (
            &[sasl, ("sasl-jaas-config-file", "/does/not/exist.jaas")],
            "--sasl-jaas-config-file: /does/not/exist.jaas: cannot be read: ",
        ),
        (
            &[("auth-local-enable", "true")],
            "--auth-local-enable: needs --auth-local-command",
        ),
        (
            &[
                ("auth-local-enable", "true"),
                ("auth-local-command", "x"),
                ("auth-local-mechanism", "SCRAM"),
            ],
            "--auth-local-mechanisms: SCRAM is not supported; PLAIN and OAUTHBEARER are",
        ),
        (
            &[
                ("auth-local-enable", "true"),
                ("auth-local-command", "x"),
                ("auth-local-token-command", "/usr/local/bin/token-check"),
            ],
            "--auth-local-token-command: checks OAUTHBEARER tokens, which \
             --auth-local-mechanisms does not enable",
        ),
        (
            &[("auth-gateway-client-enable", "true")],
            "--auth-gateway-client-enable: needs --auth-gateway-client-command",
        ),
        (
            &[
                ("auth-gateway-client-enable", "true"),
                ("auth-gateway-client-command", "x"),
            ],
            "--auth-gateway-client-enable: needs --auth-gateway-client-method",
        ),
        (
            &[
                ("auth-gateway-client-enable", "true"),
                ("auth-gateway-client-command", "x"),
                ("auth-gateway-client-method", "m"),
            ],
            "--auth-gateway-client-enable: needs --auth-gateway-client-magic (not 0)",
        ),
        (
            &[("auth-gateway-server-enable", "true")],
            "--auth-gateway-server-enable: needs --auth-gateway-server-command",
        ),
        (
            &[
                ("auth-gateway-server-enable", "true"),
                ("auth-gateway-server-command", "x"),
            ],
            "--auth-gateway-server-enable: needs --auth-gateway-server-method",
        ),
        (
            &[
                ("auth-gateway-server-enable", "true"),
                ("auth-gateway-server-command", "x"),
                ("auth-gateway-server-method", "m"),
            ],
            "--auth-gateway-server-enable: needs --auth-gateway-server-magic (not 0)",
        ),
        (
            &[("http-metrics-path", "/health")],
            "--http-metrics-path: must differ from --http-health-path",
        ),
        (
            &[
                ("debug-enable", "true"),
                ("debug-listen-address", "0.0.0.0:9080"),
            ],
            "--debug-listen-address: must differ from --http-listen-address",
        ),
    ];
    for (values, want) in cases {
        let err = with(values).unwrap_err();
        assert!(
            err.starts_with(want),
            "{values:?}:\n  got  {err}\n  want {want}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
    // Not conflicts: HTTP off, or the debug endpoint on a port of its own.
    assert!(with(&[("http-disable", "true"), ("http-metrics-path", "/health")]).is_ok());
    assert!(with(&[
        ("http-disable", "true"),
        ("debug-enable", "true"),
        ("debug-listen-address", "0.0.0.0:9080")
    ])
    .is_ok());
    assert!(with(&[
        ("http-listen-address", "127.0.0.1:0"),
        ("debug-enable", "true"),
        ("debug-listen-address", "127.0.0.1:0")
    ])
    .is_ok());
}

/// A plugin command naming a built-in plugin left out of the build is a usage error that
/// names the flag and the feature.
#[cfg(not(all(feature = "ldap", feature = "google-id")))]
#[test]
fn builtin_plugins_left_out_are_refused() {
    let mut cases: Vec<(&[(&str, &str)], &str)> = Vec::new();
    #[cfg(not(feature = "ldap"))]
    cases.push((
        &[
            ("auth-local-enable", "true"),
            ("auth-local-command", "auth-ldap"),
        ],
        "--auth-local-command: built-in plugin auth-ldap is not in this build (built \
         without the `ldap` feature",
    ));
    #[cfg(not(feature = "google-id"))]
    cases.extend([
        (
            &[
                ("auth-gateway-client-enable", "true"),
                ("auth-gateway-client-command", "google-id-provider"),
                ("auth-gateway-client-method", "google-id"),
                ("auth-gateway-client-magic", "1"),
            ][..],
            "--auth-gateway-client-command: built-in plugin google-id-provider is not in \
             this build (built without the `google-id` feature",
        ),
        (
            &[
                ("auth-gateway-server-enable", "true"),
                ("auth-gateway-server-command", "google-id-info"),
                ("auth-gateway-server-method", "google-id"),
                ("auth-gateway-server-magic", "1"),
            ][..],
            "--auth-gateway-server-command: built-in plugin google-id-info is not in this \
             build (built without the `google-id` feature",
        ),
    ]);
    for (values, expected) in cases {
        let err = with(values).unwrap_err();
        assert!(err.starts_with(expected), "{err}");
    }
}

#[test]
fn limits_are_bounded() {
    let mut a = ServerArgs::default();
    let f = flag("max-client-connections");
    assert!((f.apply)(&mut a, "0").unwrap_err().contains("bounded"));
    assert!((f.apply)(&mut a, "1000001").is_err());
    assert!((f.apply)(&mut a, "1000000").is_ok());
    assert!((flag("handshake-timeout").apply)(&mut a, "0s").is_err());
    assert!((flag("auth-failure-delay").apply)(&mut a, "1m").is_ok());
    assert!((flag("auth-failure-delay").apply)(&mut a, "61s").is_err());
    let same = config_with(&[BOOT, ("log-msg-fieldname", "@level")]).unwrap_err();
    assert_eq!(
        same,
        "--log-msg-fieldname: the level and message fields of JSON logs have the same name \"@level\""
    );
    // Unreachable through the parser, but finish does not trust it.
    let mut a = ServerArgs::default();
    a.config.bootstrap_mappings = config_with(&[BOOT]).unwrap().bootstrap_mappings;
    a.config.limits.handshake_timeout = Duration::from_secs(1);
    assert_eq!(
        a.clone().finish().unwrap_err().flag,
        "max-client-connections"
    );
    a.config.limits.max_client_connections = 1;
    a.config.limits.handshake_timeout = Duration::ZERO;
    assert_eq!(a.finish().unwrap_err().flag, "handshake-timeout");
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let jaas = TempFile::new(
        "debug.jaas",
        "x.PlainLoginModule required username=\"u\" password=\"jaas-secret\";",
    );
    let values = [
        ("tls-enable", "true"),
        ("tls-client-key-password", "key-secret"),
        ("proxy-listener-tls-enable", "true"),
        ("proxy-listener-cert-file", "/s.pem"),
        ("proxy-listener-key-file", "/k.pem"),
        ("proxy-listener-key-password", "listener-secret"),
        ("sasl-enable", "true"),
        ("sasl-jaas-config-file", jaas.path()),
        ("forward-proxy", "http://u:proxy-secret@proxy:3128"),
    ];
    let mut a = ServerArgs::default();
    for (name, v) in values {
        (flag(name).apply)(&mut a, v).unwrap();
    }
    let args = format!("{a:?}");
    let config = format!("{:?}", with(&values).unwrap());
    for secret in [
        "key-secret",
        "listener-secret",
        "jaas-secret",
        "proxy-secret",
    ] {
        assert!(!args.contains(secret), "{secret} in {args}");
        assert!(!config.contains(secret), "{secret} in {config}");
    }
    assert!(config.contains("Secret(***)"));
}

#[test]
fn shown_values_hide_secrets() {
    assert_eq!(shown_value("sasl-password", "hunter2"), "***");
    assert_eq!(shown_value("tls-client-key-password", "hunter2"), "***");
    assert_eq!(shown_value("proxy-listener-key-password", "hunter2"), "***");
    assert_eq!(
        shown_value("forward-proxy", "socks5://u:hunter2@h:1"),
        "socks5://u:***@h:1"
    );
    assert_eq!(shown_value("kafka-client-id", "me"), "me");
}

/// Every flag of grepplabs/kafka-proxy 0.4.3's `server` command (its cmd/kafka-proxy/server.go,
/// the `--help` the issues quote), so a user switching binaries finds each one here.
const GREPPLABS_0_4_3_FLAGS: &[&str] = &[
    "auth-gateway-client-command",
    "auth-gateway-client-enable",
    "auth-gateway-client-log-level",
    "auth-gateway-client-magic",
    "auth-gateway-client-method",
    "auth-gateway-client-param",
    "auth-gateway-client-timeout",
    "auth-gateway-server-command",
    "auth-gateway-server-enable",
    "auth-gateway-server-log-level",
    "auth-gateway-server-magic",
    "auth-gateway-server-method",
    "auth-gateway-server-param",
    "auth-gateway-server-timeout",
    "auth-local-command",
    "auth-local-enable",
    "auth-local-log-level",
    "auth-local-mechanism",
    "auth-local-param",
    "auth-local-timeout",
    "bootstrap-server-mapping",
    "debug-enable",
    "debug-listen-address",
    "default-listener-ip",
    "deterministic-listeners",
    "dial-address-mapping",
    "dynamic-advertised-listener",
    "dynamic-listeners-disable",
    "dynamic-sequential-max-ports",
    "dynamic-sequential-min-port",
    "external-server-mapping",
    "forbidden-api-keys",
    "forward-proxy",
    "gssapi-auth-type",
    "gssapi-disable-pa-fx-fast",
    "gssapi-keytab",
    "gssapi-krb5",
    "gssapi-password",
    "gssapi-realm",
    "gssapi-servicename",
    "gssapi-spn-host-mapping",
    "gssapi-username",
    "http-disable",
    "http-health-path",
    "http-listen-address",
    "http-metrics-path",
    "kafka-client-id",
    "kafka-connection-read-buffer-size",
    "kafka-connection-write-buffer-size",
    "kafka-dial-timeout",
    "kafka-keep-alive",
    "kafka-max-open-requests",
    "kafka-read-timeout",
    "kafka-write-timeout",
    "log-format",
    "log-level",
    "log-level-fieldname",
    "log-msg-fieldname",
    "log-time-fieldname",
    "producer-acks-0-disabled",
    "proxy-listener-ca-chain-cert-file",
    "proxy-listener-cert-file",
    "proxy-listener-cipher-suites",
    "proxy-listener-crl-file",
    "proxy-listener-curve-preferences",
    "proxy-listener-keep-alive",
    "proxy-listener-key-file",
    "proxy-listener-key-password",
    "proxy-listener-read-buffer-size",
    "proxy-listener-tls-enable",
    "proxy-listener-tls-refresh",
    "proxy-listener-tls-required-client-subject",
    "proxy-listener-write-buffer-size",
    "proxy-request-buffer-size",
    "proxy-response-buffer-size",
    "sasl-aws-identity-lookup",
    "sasl-aws-profile",
    "sasl-aws-region",
    "sasl-aws-role-arn",
    "sasl-enable",
    "sasl-jaas-config-file",
    "sasl-method",
    "sasl-password",
    "sasl-plugin-command",
    "sasl-plugin-enable",
    "sasl-plugin-log-level",
    "sasl-plugin-mechanism",
    "sasl-plugin-param",
    "sasl-plugin-timeout",
    "sasl-username",
    "tls-ca-chain-cert-file",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-client-key-password",
    "tls-enable",
    "tls-insecure-skip-verify",
    "tls-refresh",
    "tls-same-client-cert-enable",
    "tls-system-cert-pool",
];

#[test]
fn has_every_grepplabs_flag() {
    assert_eq!(GREPPLABS_0_4_3_FLAGS.len(), 99);
    let missing: Vec<&str> = GREPPLABS_0_4_3_FLAGS
        .iter()
        .copied()
        .filter(|name| !SERVER_FLAGS.iter().any(|f| f.name == *name))
        .collect();
    assert!(missing.is_empty(), "grepplabs flags missing: {missing:?}");
}

#[test]
fn sni_flags_go_together() {
    const TLS: [(&str, &str); 3] = [
        ("proxy-listener-tls-enable", "true"),
        ("proxy-listener-cert-file", "/s.pem"),
        ("proxy-listener-key-file", "/s.key"),
    ];
    const LISTEN: (&str, &str) = ("sni-listen-address", "127.0.0.1:9443");
    const BOOTSTRAP: (&str, &str) = ("sni-bootstrap-host", "Bootstrap.Kafka.Test");
    const PATTERN: (&str, &str) = ("sni-broker-host-pattern", "broker-{{.brokerId}}.kafka.test");
    let with = |extra: &[(&str, &str)]| {
        let mut all = vec![BOOT];
        all.extend_from_slice(extra);
        config_with(&all)
    };
    assert_eq!(with(&[]).unwrap().sni, None);
    let err = with(&[LISTEN, BOOTSTRAP, PATTERN]).unwrap_err();
    assert!(
        err.starts_with("--sni-listen-address: needs TLS on the listeners"),
        "{err}"
    );
    let err = with(&[BOOTSTRAP]).unwrap_err();
    assert_eq!(
        err,
        "--sni-bootstrap-host: takes effect only with --sni-listen-address"
    );
    let mut all = TLS.to_vec();
    all.push(LISTEN);
    let err = with(&all).unwrap_err();
    assert_eq!(
        err,
        "--sni-bootstrap-host: is required with --sni-listen-address"
    );
    all.push(BOOTSTRAP);
    let err = with(&all).unwrap_err();
    assert_eq!(
        err,
        "--sni-broker-host-pattern: is required with --sni-listen-address"
    );
    let mut clash = all.clone();
    clash.push((
        "sni-broker-host-pattern",
        "bootstrap{{.brokerId}}.kafka.test",
    ));
    clash.push(("sni-bootstrap-host", "bootstrap0.kafka.test"));
    let err = with(&clash).unwrap_err();
    assert!(err.contains("is the name of node 0"), "{err}");
    all.push(PATTERN);
    let sni = with(&all).unwrap().sni.unwrap();
    assert_eq!(sni.bootstrap_host, "bootstrap.kafka.test");
    assert_eq!(sni.listen.port, 9443);
    assert_eq!(sni.advertised_port, None);
    assert_eq!(sni.pattern.name(2), "broker-2.kafka.test");
    all.push(("sni-advertised-port", "443"));
    assert_eq!(with(&all).unwrap().sni.unwrap().advertised_port, Some(443));
}

mod sasl;
