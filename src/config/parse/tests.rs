use super::*;
use crate::config::{DynamicPorts, LogFormat};
use std::collections::HashMap;
use std::time::Duration;

const BOOT: &str = "--bootstrap-server-mapping=kafka:9092,127.0.0.1:19092";

fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Mode, UsageError> {
    let env: HashMap<String, OsString> = env
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    parse(args.iter().copied(), |k| env.get(k).cloned())
}

fn server(args: &[&str], env: &[(&str, &str)]) -> Config {
    let mut all = vec!["server"];
    all.extend_from_slice(args);
    match run(&all, env) {
        Ok(Mode::Server(c)) => *c,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn server_err(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["server"];
    all.extend_from_slice(args);
    match run(&all, env) {
        Err(e) => e.to_string(),
        other => panic!("{args:?} accepted: {other:?}"),
    }
}

#[test]
fn top_level() {
    assert!(matches!(run(&["--help"], &[]), Ok(Mode::Help(t)) if t.contains("COMMANDS")));
    assert!(matches!(run(&["-h"], &[]), Ok(Mode::Help(_))));
    assert!(matches!(run(&["help"], &[]), Ok(Mode::Help(_))));
    assert_eq!(run(&["--version"], &[]), Ok(Mode::Version));
    assert_eq!(run(&["version"], &[]), Ok(Mode::Version));
    assert_eq!(run(&[], &[]), Err(UsageError::MissingCommand));
    assert_eq!(
        run(&["serve"], &[]),
        Err(UsageError::UnknownCommand("serve".into()))
    );
    let e = run(&["--bogus"], &[]).unwrap_err().to_string();
    assert_eq!(
        e,
        "unknown flag --bogus\nRun 'kafka-proxy --help' for usage."
    );
    assert!(run(&["version", "extra"], &[]).is_err());
    assert!(run(&["version", "--bogus"], &[]).is_err());
    assert!(run(&["--version=1"], &[]).is_err());
}

#[test]
fn help_for_commands() {
    for args in [
        &["server", "--help"][..],
        &["server", "-h"],
        &["help", "server"],
        &["server", "--kafka-dial-timeout", "bad", "--help"],
        &["server", "--help", "--bogus"],
    ] {
        match run(args, &[]) {
            Ok(Mode::Help(t)) => assert!(t.contains("--kafka-dial-timeout"), "{args:?}"),
            other => panic!("{args:?}: {other:?}"),
        }
    }
    assert!(matches!(
        run(&["version", "--help"], &[]),
        Ok(Mode::Help(_))
    ));
    assert!(matches!(run(&["help", "version"], &[]), Ok(Mode::Help(_))));
    assert!(run(&["help", "nope"], &[]).is_err());
    assert!(run(&["help", "server", "x"], &[]).is_err());
}

#[test]
fn flag_forms() {
    let c = server(
        &[
            "--bootstrap-server-mapping",
            "kafka:9092,127.0.0.1:19092",
            "--kafka-dial-timeout=5s",
            "--kafka-read-timeout",
            "7s",
            "--dynamic-listeners-disable",
            "--producer-acks-0-disabled=false",
        ],
        &[],
    );
    assert_eq!(c.kafka.dial_timeout, Duration::from_secs(5));
    assert_eq!(c.kafka.read_timeout, Duration::from_secs(7));
    assert!(c.dynamic_listeners_disable);
    assert!(!c.producer_acks_0_disabled);
    // The last value of a single-valued flag wins, as with pflag.
    let c = server(&[BOOT, "--log-level", "debug", "--log-level=error"], &[]);
    assert_eq!(c.log_level, log::LevelFilter::Error);
    // A switch never takes the next argument as its value.
    assert_eq!(
        server_err(&[BOOT, "--dynamic-listeners-disable", "false"], &[]),
        "unexpected argument \"false\"\nRun 'kafka-proxy server --help' for its flags."
    );
}

#[test]
fn env_fallback() {
    let c = server(
        &[],
        &[
            (
                "BOOTSTRAP_SERVER_MAPPING",
                "a:1,127.0.0.1:2  b:1,127.0.0.1:3,adv:3",
            ),
            ("KAFKA_DIAL_TIMEOUT", "2s"),
            ("DYNAMIC_LISTENERS_DISABLE", "yes"),
            ("FORBIDDEN_API_KEYS", "20,21 22"),
            ("LOG_FORMAT", "json"),
            ("MAX_FRAME_SIZE", "1MiB"),
            ("DYNAMIC_SEQUENTIAL_MIN_PORT", "40000"),
        ],
    );
    assert_eq!(c.bootstrap_mappings.len(), 2);
    assert_eq!(c.bootstrap_mappings[1].broker.host, "b");
    assert_eq!(c.kafka.dial_timeout, Duration::from_secs(2));
    assert!(c.dynamic_listeners_disable);
    assert_eq!(c.forbidden_api_keys, vec![20, 21, 22]);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.max_frame_size, 1 << 20);
    // Disabled dynamic listeners: the port mode does not apply.
    assert_eq!(c.dynamic_ports, DynamicPorts::Random);
    // Empty means unset.
    let c = server(&[BOOT], &[("KAFKA_CLIENT_ID", ""), ("LOG_LEVEL", "")]);
    assert_eq!(c.kafka.client_id, "kafka-proxy");
    assert_eq!(c.log_level, log::LevelFilter::Info);
    for (var, value, check) in [
        ("DETERMINISTIC_LISTENERS", "1", "deterministic"),
        ("PRODUCER_ACKS_0_DISABLED", "true", "acks"),
    ] {
        let c = server(
            &[BOOT, "--dynamic-sequential-min-port=30000"],
            &[(var, value)],
        );
        match check {
            "deterministic" => {
                assert_eq!(c.dynamic_ports, DynamicPorts::Deterministic { min: 30000 })
            }
            _ => assert!(c.producer_acks_0_disabled),
        }
    }
}

#[test]
fn command_line_beats_env() {
    let env = [
        ("KAFKA_DIAL_TIMEOUT", "2s"),
        ("BOOTSTRAP_SERVER_MAPPING", "env:1,127.0.0.1:2"),
        ("FORBIDDEN_API_KEYS", "1 2"),
        ("DYNAMIC_LISTENERS_DISABLE", "true"),
    ];
    let c = server(
        &[
            "--kafka-dial-timeout=9s",
            BOOT,
            "--forbidden-api-keys=3",
            "--dynamic-listeners-disable=false",
        ],
        &env,
    );
    assert_eq!(c.kafka.dial_timeout, Duration::from_secs(9));
    assert_eq!(c.bootstrap_mappings.len(), 1);
    assert_eq!(c.bootstrap_mappings[0].broker.host, "kafka");
    assert_eq!(c.forbidden_api_keys, vec![3]);
    assert!(!c.dynamic_listeners_disable);
    // An invalid env value is not even looked at when the flag is on the command line.
    let c = server(&[BOOT, "--log-level=debug"], &[("LOG_LEVEL", "loud")]);
    assert_eq!(c.log_level, log::LevelFilter::Debug);
}

#[test]
fn repeated_flags_add_up() {
    let c = server(
        &[
            BOOT,
            "--bootstrap-server-mapping=k2:9092,127.0.0.1:19093",
            "--external-server-mapping=k3:9092,ext:9092",
            "--external-server-mapping=k4:9092,ext:9093",
            "--dial-address-mapping=k3:9092,10.0.0.3:9092",
            "--dial-address-mapping=k4:9092,10.0.0.4:9092",
            "--forbidden-api-keys=20,21",
            "--forbidden-api-keys",
            "22",
        ],
        &[],
    );
    assert_eq!(c.bootstrap_mappings.len(), 2);
    assert_eq!(c.external_mappings.len(), 2);
    assert_eq!(c.dial_mappings.len(), 2);
    assert_eq!(c.dial_mappings[1].dial.host, "10.0.0.4");
    assert_eq!(c.forbidden_api_keys, vec![20, 21, 22]);
}

#[test]
fn errors_name_flag_value_and_reason() {
    assert_eq!(
        server_err(&[BOOT, "--kafka-dial-timeout", "abc"], &[]),
        "invalid value \"abc\" for --kafka-dial-timeout: expected a duration like 15s, 500ms or 1m"
    );
    assert_eq!(
        server_err(&[BOOT], &[("KAFKA_DIAL_TIMEOUT", "abc")]),
        "invalid value \"abc\" for --kafka-dial-timeout (from environment variable \
         KAFKA_DIAL_TIMEOUT): expected a duration like 15s, 500ms or 1m"
    );
    assert_eq!(
        server_err(&[BOOT, "--dynamic-listeners-disable=maybe"], &[]),
        "invalid value \"maybe\" for --dynamic-listeners-disable: expected true or false \
         (also 1/0, yes/no)"
    );
    assert_eq!(
        server_err(&[], &[]),
        "--bootstrap-server-mapping is required (or set BOOTSTRAP_SERVER_MAPPING)\n\
         Run 'kafka-proxy server --help' for its flags."
    );
    assert_eq!(
        server_err(&[BOOT, "--nope"], &[]),
        "unknown flag --nope\nRun 'kafka-proxy server --help' for its flags."
    );
    assert_eq!(
        server_err(&[BOOT, "-x"], &[]),
        "unknown flag -x\nRun 'kafka-proxy server --help' for its flags."
    );
    assert_eq!(
        server_err(&[BOOT, "--kafka-dial-timeout"], &[]),
        "--kafka-dial-timeout needs a value"
    );
    let e = server_err(
        &["--bootstrap-server-mapping=kafka:9092,127.0.0.1:99999"],
        &[],
    );
    assert!(
        e.starts_with(
            "invalid value \"kafka:9092,127.0.0.1:99999\" for --bootstrap-server-mapping: \
             listen address"
        ),
        "{e}"
    );
    let e = server_err(&[BOOT, "--deterministic-listeners"], &[]);
    assert!(e.starts_with("--deterministic-listeners needs --dynamic-sequential-min-port"));
    let e = server_err(&[], &[("BOOTSTRAP_SERVER_MAPPING", "a:1,b:2 oops")]);
    assert!(
        e.contains("\"oops\"") && e.contains("BOOTSTRAP_SERVER_MAPPING"),
        "{e}"
    );
}

#[test]
fn bad_value_of_every_kind_names_the_flag() {
    for (flag, bad) in [
        ("--bootstrap-server-mapping", "x"),
        ("--forbidden-api-keys", "DeleteTopics"),
        ("--kafka-max-open-requests", "many"),
        ("--max-frame-size", "big"),
        ("--kafka-keep-alive", "-1s"),
        ("--dynamic-sequential-min-port", "70000"),
        ("--default-listener-ip", "not-an-ip"),
        ("--log-format", "yaml"),
        ("--dynamic-listeners-disable", "perhaps"),
    ] {
        let arg = format!("{flag}={bad}");
        let e = server_err(&[BOOT, &arg], &[]);
        assert!(
            e.starts_with(&format!("invalid value \"{bad}\" for {flag}: ")),
            "{e}"
        );
    }
}

#[test]
fn non_unicode_is_an_error() {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![0x66, 0xff]);
        let r = parse(
            vec![
                OsString::from("server"),
                OsString::from("--kafka-client-id"),
                bad.clone(),
            ],
            |_| None,
        );
        assert!(matches!(r, Err(UsageError::NotUnicode { .. })));
        let r = parse(vec![OsString::from("server"), OsString::from(BOOT)], |k| {
            (k == "KAFKA_CLIENT_ID").then(|| bad.clone())
        });
        assert!(matches!(r, Err(UsageError::NotUnicode { .. })));
    }
}

#[test]
fn feature_flags_from_env() {
    let c = server(
        &[
            BOOT,
            "--sasl-enable",
            "--sasl-username=u",
            "--proxy-listener-tls-enable",
            "--proxy-listener-cert-file=/s.pem",
            "--proxy-listener-key-file=/k.pem",
            "--proxy-listener-ca-chain-cert-file=/ca.pem",
            "--auth-local-enable",
            "--auth-local-command=auth",
        ],
        &[
            ("SASL_PASSWORD", "from-env"),
            ("PROXY_LISTENER_KEY_PASSWORD", "key-from-env"),
            // A list variable is one list, taken whole: the space stays in the subject.
            (
                "PROXY_LISTENER_TLS_REQUIRED_CLIENT_SUBJECT",
                "s:/O=[Acme Inc,Other],r:/CN=[^svc-.*$]",
            ),
            (
                "PROXY_LISTENER_CIPHER_SUITES",
                "TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            ),
            ("AUTH_LOCAL_PARAM", "--a --b"),
            (
                "FORWARD_PROXY",
                "http://user:pw%20env@proxy.example.com:3128",
            ),
            ("MAX_CLIENT_CONNECTIONS", "10"),
        ],
    );
    let sasl = c.sasl.unwrap();
    assert_eq!(sasl.password.expose(), "from-env");
    let tls = c.listener_tls.unwrap();
    assert_eq!(tls.key_password.unwrap().expose(), "key-from-env");
    assert_eq!(
        tls.required_client_subjects,
        vec!["s:/O=[Acme Inc,Other]", "r:/CN=[^svc-.*$]"]
    );
    assert_eq!(
        tls.cipher_suites,
        vec![
            "TLS_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        ]
    );
    assert_eq!(c.auth_local.unwrap().params, vec!["--a", "--b"]);
    let proxy = c.forward_proxy.unwrap();
    assert_eq!(proxy.password.unwrap().expose(), "pw env");
    assert_eq!(c.limits.max_client_connections, 10);
}

#[test]
fn list_flags_add_up_and_beat_env() {
    let c = server(
        &[
            BOOT,
            "--proxy-listener-tls-enable",
            "--proxy-listener-cert-file=/s.pem",
            "--proxy-listener-key-file=/k.pem",
            "--proxy-listener-curve-preferences=P384",
            "--proxy-listener-curve-preferences",
            "X25519,P256",
        ],
        &[("PROXY_LISTENER_CURVE_PREFERENCES", "P256")],
    );
    assert_eq!(
        c.listener_tls.unwrap().curve_preferences,
        vec!["P384", "X25519", "P256"]
    );
}

#[test]
fn secrets_never_in_usage_errors() {
    let e = server_err(&[BOOT, "--forward-proxy=ftp://user:hunter2@proxy:21"], &[]);
    assert_eq!(
        e,
        "invalid value \"ftp://user:***@proxy:21\" for --forward-proxy: unknown scheme \
         \"ftp\": expected socks5, http or https"
    );
    let e = server_err(&[BOOT], &[("FORWARD_PROXY", "socks5://user:hunter2")]);
    assert_eq!(
        e,
        "invalid value \"socks5://***\" for --forward-proxy (from environment variable \
         FORWARD_PROXY): the port is missing, not a number or out of range (1-65535)"
    );
    let e = server_err(&[BOOT, "--sasl-enable", "--sasl-password=hunter2"], &[]);
    assert!(e.starts_with("--sasl-enable needs --sasl-username"), "{e}");
    assert!(!e.contains("hunter2"));
    // A conflict is a usage error too (exit status 2), naming the flag.
    let e = server_err(
        &[
            BOOT,
            "--sasl-enable",
            "--sasl-jaas-config-file=/nonexistent/kafka_client_jaas.conf",
        ],
        &[("SASL_PASSWORD", "hunter2")],
    );
    assert!(
        e.starts_with(
            "--sasl-jaas-config-file /nonexistent/kafka_client_jaas.conf: cannot be read: "
        ),
        "{e}"
    );
    assert!(
        e.ends_with("Run 'kafka-proxy server --help' for its flags."),
        "{e}"
    );
}

#[test]
fn switches_of_features() {
    let c = server(
        &[
            BOOT,
            "--tls-enable",
            "--tls-insecure-skip-verify=true",
            "--http-disable",
            "--debug-enable=false",
        ],
        &[("TLS_SYSTEM_CERT_POOL", "yes")],
    );
    let tls = c.tls.unwrap();
    assert!(tls.insecure_skip_verify && tls.system_cert_pool);
    assert!(c.http.disable && !c.http.debug_enable);
}

#[test]
fn plugin_help_and_plugin_args() {
    for p in plugin_flags::ALL {
        for help in [&["--help"][..], &["-h"], &[p.flags[0].name, "--help"]] {
            let mut args = vec!["plugin", p.name];
            let flag;
            if help.len() == 2 {
                // A flag with its value (or a switch), then --help.
                flag = format!("--{}", help[0]);
                args.push(&flag);
                if p.flags[0].kind != flags::FlagKind::Switch {
                    args.push("value");
                }
                args.push(help[1]);
            } else {
                args.extend_from_slice(help);
            }
            let Ok(Mode::Help(h)) = run(&args, &[]) else {
                panic!("{args:?}");
            };
            assert!(h.starts_with(&format!("kafka-proxy plugin {}: ", p.name)));
        }
    }
    // Anything else goes to the plugin as it is, to be judged there.
    let args = ["plugin", "auth-user", "--username", "--help", "--nope"];
    assert_eq!(
        run(&args, &[]),
        Ok(Mode::Plugin {
            name: "auth-user".into(),
            args: args[2..].iter().map(OsString::from).collect(),
        })
    );
    let args = ["plugin", "my-plugin", "--help"];
    assert!(matches!(run(&args, &[]), Ok(Mode::Plugin { .. })));
}
