use super::*;

#[test]
fn auth_type() {
    assert_eq!(parse_auth_type("KEYTAB"), Ok(GssapiAuthType::Keytab));
    assert_eq!(parse_auth_type("user"), Ok(GssapiAuthType::User));
    assert!(parse_auth_type("TICKET").is_err());
}

#[test]
fn spn_mapping_parses_string_to_string() {
    assert_eq!(
        parse_spn_mapping("b1:9092=kafka1.example, b2=kafka2").unwrap(),
        vec![
            ("b1:9092".to_string(), "kafka1.example".to_string()),
            ("b2".to_string(), "kafka2".to_string())
        ]
    );
    assert_eq!(parse_spn_mapping("").unwrap(), vec![]);
    for bad in ["b1", "=h", "b1=", "b1=kafka/h", "b1=h@R"] {
        assert!(parse_spn_mapping(bad).is_err(), "{bad}");
    }
}

#[test]
fn spn_uses_mapping_then_host() {
    let mut c = GssapiConfig {
        service_name: "kafka".into(),
        ..GssapiConfig::default()
    };
    assert_eq!(c.spn("broker1:9092"), "kafka/broker1");
    assert_eq!(c.spn("[::1]:9092"), "kafka/::1");
    assert_eq!(c.spn("localhost"), "kafka/localhost");
    c.spn_host_mapping = parse_spn_mapping("broker1:9092=b1.internal,broker2=b2.internal").unwrap();
    assert_eq!(c.spn("broker1:9092"), "kafka/b1.internal");
    assert_eq!(c.spn("broker1:9093"), "kafka/broker1");
    assert_eq!(c.spn("broker2:9092"), "kafka/b2.internal");
}

#[test]
fn check_needs_realm_and_key_source() {
    let dir = std::env::temp_dir();
    let good = GssapiConfig {
        realm: "EXAMPLE.TEST".into(),
        keytab: Some(dir.clone()),
        krb5_conf: dir.clone(),
        ..GssapiConfig::default()
    };
    assert_eq!(check(&good), Ok(()));
    assert_eq!(good.client_principal(), "kafka@EXAMPLE.TEST");
    let no_realm = GssapiConfig {
        realm: String::new(),
        ..good.clone()
    };
    assert_eq!(check(&no_realm).unwrap_err().0, "gssapi-realm");
    let no_keytab = GssapiConfig {
        keytab: None,
        ..good.clone()
    };
    assert_eq!(check(&no_keytab).unwrap_err().0, "gssapi-keytab");
    let missing_keytab = GssapiConfig {
        keytab: Some(dir.join("no-such-keytab-here")),
        ..good.clone()
    };
    assert_eq!(check(&missing_keytab).unwrap_err().0, "gssapi-keytab");
    let user = GssapiConfig {
        auth_type: GssapiAuthType::User,
        keytab: None,
        ..good.clone()
    };
    assert_eq!(check(&user).unwrap_err().0, "gssapi-password");
    let user = GssapiConfig {
        password: Secret("pw".into()),
        ..user
    };
    assert_eq!(check(&user), Ok(()));
    let no_conf = GssapiConfig {
        krb5_conf: dir.join("no-such-krb5.conf"),
        ..good
    };
    assert_eq!(check(&no_conf).unwrap_err().0, "gssapi-krb5");
}
