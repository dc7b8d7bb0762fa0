//! The `--sasl-*` and `--gssapi-*` flags: JAAS files, AWS, the token-provider plugin, GSSAPI
//! and per-client credentials.

use super::*;

#[test]
fn sasl_from_jaas_file() {
    let plain = TempFile::new(
        "plain.jaas",
        "KafkaClient {\n  org.apache.kafka.common.security.plain.PlainLoginModule required\n  \
         username=\"alice\"\n  password=\"hunter2\";\n};\n",
    );
    let scram = TempFile::new(
        "scram.jaas",
        "org.apache.kafka.common.security.scram.ScramLoginModule required \
         username=\"bob\" password=\"hunter2\";",
    );
    let empty = TempFile::new("empty.jaas", "// nothing here\n");
    let sasl = ("sasl-enable", "true");
    // The file's credentials replace the flags', as in grepplabs.
    let c = with(&[
        sasl,
        ("sasl-jaas-config-file", plain.path()),
        ("sasl-username", "ignored"),
    ])
    .unwrap();
    assert_eq!(
        c.sasl.unwrap(),
        SaslConfig {
            method: SaslMethod::Plain,
            username: "alice".into(),
            password: Secret("hunter2".into()),
            jaas_config_file: Some(plain.0.clone()),
            aws: Default::default(),
            gssapi: Default::default(),
            mapped_from: None,
        }
    );
    let c = with(&[
        sasl,
        ("sasl-jaas-config-file", scram.path()),
        ("sasl-method", "SCRAM-SHA-256"),
    ])
    .unwrap();
    let s = c.sasl.unwrap();
    assert_eq!(
        (s.method, s.username.as_str()),
        (SaslMethod::ScramSha256, "bob")
    );

    for (values, want) in [
        (
            vec![sasl, ("sasl-jaas-config-file", scram.path())],
            format!(
                "--sasl-method: is PLAIN, but {} uses ScramLoginModule: set --sasl-method \
                 to SCRAM-SHA-256 or SCRAM-SHA-512",
                scram.path()
            ),
        ),
        (
            vec![
                sasl,
                ("sasl-jaas-config-file", plain.path()),
                ("sasl-method", "SCRAM-SHA-512"),
            ],
            format!(
                "--sasl-method: is SCRAM-SHA-512, but {} uses PlainLoginModule: set \
                 --sasl-method to PLAIN",
                plain.path()
            ),
        ),
        (
            vec![sasl, ("sasl-jaas-config-file", empty.path())],
            format!(
                "--sasl-jaas-config-file: {}: contains no login module",
                empty.path()
            ),
        ),
    ] {
        let err = with(&values).unwrap_err();
        assert_eq!(err, want);
    }
}

#[test]
fn sasl_aws_flags() {
    let mut a = ServerArgs::default();
    for (name, v) in [
        ("sasl-method", "AWS_MSK_IAM"),
        ("sasl-aws-region", "eu-west-1"),
        ("sasl-aws-profile", "dev"),
        ("sasl-aws-role-arn", "arn:aws:iam::123456789012:role/kafka"),
        ("sasl-aws-identity-lookup", "true"),
    ] {
        (flag(name).apply)(&mut a, v).unwrap();
    }
    assert_eq!(a.pending.sasl.method, SaslMethod::AwsMskIam);
    let aws = &a.pending.sasl.aws;
    assert_eq!(
        (aws.region.as_str(), aws.profile.as_str()),
        ("eu-west-1", "dev")
    );
    assert_eq!(aws.role_arn, "arn:aws:iam::123456789012:role/kafka");
    assert!(aws.identity_lookup);
    assert_eq!(flag("sasl-aws-role-arn").env, "SASL_AWS_ROLE_ARN");
}

#[test]
fn sasl_plugin_flags() {
    use crate::config::{SaslPluginConfig, SaslPluginMechanism};
    let on = [
        ("sasl-enable", "true"),
        ("sasl-plugin-enable", "true"),
        ("sasl-plugin-command", "unsecured-jwt-provider"),
    ];
    // The defaults are grepplabs'; no --sasl-username is needed.
    let c = with(&on).unwrap();
    assert_eq!(
        c.sasl_plugin,
        Some(SaslPluginConfig {
            command: "unsecured-jwt-provider".into(),
            params: vec![],
            log_level: log::LevelFilter::Trace,
            timeout: Duration::from_secs(10),
            mechanism: SaslPluginMechanism::OAuthBearer,
        })
    );
    assert!(c.sasl.is_some());
    let mut more = on.to_vec();
    more.extend([
        ("sasl-plugin-mechanism", "plain"),
        ("sasl-plugin-param", "--claim-sub"),
        ("sasl-plugin-param", "alice"),
        ("sasl-plugin-log-level", "info"),
        ("sasl-plugin-timeout", "3s"),
    ]);
    let p = with(&more).unwrap().sasl_plugin.unwrap();
    assert_eq!(p.mechanism, SaslPluginMechanism::Plain);
    assert_eq!(p.params, ["--claim-sub", "alice"]);
    assert_eq!(p.log_level, log::LevelFilter::Info);
    assert_eq!(p.timeout, Duration::from_secs(3));
    // Off without --sasl-plugin-enable; refused without --sasl-enable or a command.
    assert_eq!(with(&[]).unwrap().sasl_plugin, None);
    assert_eq!(
        with(&on[1..]).unwrap_err(),
        "--sasl-plugin-enable: needs --sasl-enable"
    );
    assert_eq!(
        with(&on[..2]).unwrap_err(),
        "--sasl-plugin-enable: needs --sasl-plugin-command"
    );
}

#[test]
fn gssapi_flags() {
    use crate::config::gssapi::GssapiAuthType;
    let dir = std::env::temp_dir();
    let dir = dir.to_str().unwrap();
    let mut a = ServerArgs::default();
    for f in SERVER_FLAGS {
        if let Some(d) = f.default {
            (f.apply)(&mut a, d).unwrap();
        }
    }
    let g = &a.pending.sasl.gssapi;
    assert_eq!(g.auth_type, GssapiAuthType::Keytab);
    assert_eq!(g.krb5_conf, PathBuf::from("/etc/krb5.conf"));
    assert_eq!(
        (g.service_name.as_str(), g.username.as_str()),
        ("kafka", "kafka")
    );
    assert!(!g.disable_pa_fx_fast && g.spn_host_mapping.is_empty());
    let sets = [
        ("gssapi-auth-type", "user"),
        ("gssapi-keytab", dir),
        ("gssapi-krb5", dir),
        ("gssapi-password", "pw"),
        ("gssapi-realm", "EXAMPLE.TEST"),
        ("gssapi-servicename", "svc"),
        ("gssapi-username", "proxy"),
        ("gssapi-spn-host-mapping", "b1:9092=h1"),
        ("gssapi-spn-host-mapping", "b2=h2"),
        ("gssapi-disable-pa-fx-fast", "true"),
    ];
    for (name, v) in sets {
        (flag(name).apply)(&mut a, v).unwrap();
    }
    let g = &a.pending.sasl.gssapi;
    assert_eq!(g.auth_type, GssapiAuthType::User);
    assert_eq!(g.password.expose(), "pw");
    assert_eq!(g.spn("b1:9092"), "svc/h1");
    assert_eq!(g.spn("b2:9092"), "svc/h2");
    assert_eq!(g.client_principal(), "proxy@EXAMPLE.TEST");
    assert!(g.disable_pa_fx_fast);
    assert!(!format!("{a:?}").contains("\"pw\""));
    assert_eq!(shown_value("gssapi-password", "pw"), "***");

    let sasl = [BOOT, ("sasl-enable", "true"), ("sasl-method", "GSSAPI")];
    let err = |more: &[(&str, &str)]| config_with(&[&sasl[..], more].concat()).unwrap_err();
    assert!(
        err(&[]).starts_with("--gssapi-realm: is required"),
        "{}",
        err(&[])
    );
    let realm = ("gssapi-realm", "EXAMPLE.TEST");
    assert!(err(&[realm]).starts_with("--gssapi-keytab: is required"));
    let user = ("gssapi-auth-type", "USER");
    assert!(err(&[realm, user]).starts_with("--gssapi-password: is required"));
    let keytab = ("gssapi-keytab", dir);
    let krb5 = ("gssapi-krb5", "/no/such/krb5.conf");
    assert!(err(&[realm, keytab, krb5]).starts_with("--gssapi-krb5: /no/such/krb5.conf"));
    // Valid settings, no --sasl-username/--sasl-password needed; a build without the
    // Kerberos client refuses them at startup.
    let ok = [realm, keytab, ("gssapi-krb5", dir)];
    let all: Vec<(&str, &str)> = [&sasl[..], &ok[..]].concat();
    if cfg!(feature = "gssapi") {
        let c = config_with(&all).unwrap();
        let sasl = c.sasl.expect("sasl");
        assert_eq!(sasl.gssapi.realm, "EXAMPLE.TEST");
    } else {
        let e = config_with(&all).unwrap_err();
        assert!(
            e.starts_with("--sasl-method: GSSAPI:") && e.contains("no Kerberos client"),
            "{e}"
        );
    }
}

#[test]
fn sasl_credentials_flags() {
    use crate::config::CredentialsSource;
    let file = [
        ("sasl-enable", "true"),
        ("auth-local-enable", "true"),
        ("auth-local-command", "/bin/true"),
        ("sasl-credentials-file", "/etc/kafka-proxy/credentials"),
    ];
    // No --sasl-username is needed: each client brings its own.
    let c = with(&file).unwrap();
    assert_eq!(
        c.sasl_credentials,
        Some(CredentialsSource::File(
            "/etc/kafka-proxy/credentials".into()
        ))
    );
    assert!(c.sasl.is_some());
    let plugin = [
        ("sasl-enable", "true"),
        ("auth-local-enable", "true"),
        ("auth-local-command", "/bin/true"),
        (
            "sasl-credentials-plugin-command",
            "/usr/local/bin/vault-creds",
        ),
        ("sasl-credentials-plugin-param", "--role"),
        ("sasl-credentials-plugin-timeout", "2s"),
    ];
    let Some(CredentialsSource::Plugin(p)) = with(&plugin).unwrap().sasl_credentials else {
        panic!("a plugin source");
    };
    assert_eq!(p.command, "/usr/local/bin/vault-creds");
    assert_eq!(p.params, ["--role"]);
    assert_eq!(p.timeout, Duration::from_secs(2));
    assert_eq!(with(&[]).unwrap().sasl_credentials, None);

    // Each refusal names the flag and what is missing.
    let mut both = file.to_vec();
    both.push(("sasl-credentials-plugin-command", "/x"));
    assert!(with(&both)
        .unwrap_err()
        .starts_with("--sasl-credentials-file: cannot be used with --sasl-credentials-plugin"));
    assert_eq!(
        with(&file[1..]).unwrap_err(),
        "--sasl-credentials-file: needs --sasl-enable"
    );
    let no_principal = [file[0], file[3]];
    assert!(with(&no_principal)
        .unwrap_err()
        .starts_with("--sasl-credentials-file: needs clients with a principal"));
    let mut with_plugin = file.to_vec();
    with_plugin.extend([
        ("sasl-plugin-enable", "true"),
        ("sasl-plugin-command", "unsecured-jwt-provider"),
    ]);
    assert!(with(&with_plugin)
        .unwrap_err()
        .starts_with("--sasl-credentials-file: cannot be used with --sasl-plugin-enable"));
    // Client certificates are principals too.
    let certs = [
        ("sasl-enable", "true"),
        ("proxy-listener-tls-enable", "true"),
        ("proxy-listener-cert-file", "/c.pem"),
        ("proxy-listener-key-file", "/k.pem"),
        ("proxy-listener-ca-chain-cert-file", "/ca.pem"),
        ("sasl-credentials-file", "/creds"),
    ];
    assert!(with(&certs).unwrap().sasl_credentials.is_some());
}
