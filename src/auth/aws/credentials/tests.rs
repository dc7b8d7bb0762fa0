use super::*;
use std::collections::HashMap;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

#[test]
fn environment_first() {
    let env = env_of(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ("AWS_SESSION_TOKEN", "TOK"),
    ]);
    let c = base(&AwsIamConfig::default(), "us-east-1", &env).unwrap();
    assert_eq!(c.access_key_id, "AKID");
    assert_eq!(c.session_token.as_deref(), Some("TOK"));
    assert_eq!(c.source, "environment variables");
    assert!(!format!("{c:?}").contains("SECRET"));
}

#[test]
fn profile_files_and_region() {
    let dir = std::env::temp_dir().join(format!("kp-aws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let creds_file = dir.join("credentials");
    let config_file = dir.join("config");
    std::fs::write(
        &creds_file,
        "[default]\naws_access_key_id=D\naws_secret_access_key=DS\n\
         [dev]\naws_access_key_id = DEV\naws_secret_access_key = DEVS\n",
    )
    .unwrap();
    std::fs::write(&config_file, "[profile dev]\nregion = eu-central-1\n").unwrap();
    let env = env_of(&[
        ("AWS_SHARED_CREDENTIALS_FILE", creds_file.to_str().unwrap()),
        ("AWS_CONFIG_FILE", config_file.to_str().unwrap()),
        ("AWS_PROFILE", "dev"),
    ]);
    let config = AwsIamConfig::default();
    let c = base(&config, "x", &env).unwrap();
    assert_eq!(
        (c.access_key_id.as_str(), c.source.as_str()),
        ("DEV", "profile dev")
    );
    assert_eq!(region(&config, &env).as_deref(), Some("eu-central-1"));
    let flagged = AwsIamConfig {
        profile: "default".into(),
        ..Default::default()
    };
    assert_eq!(base(&flagged, "x", &env).unwrap().access_key_id, "D");
    assert_eq!(region(&flagged, &env), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn metadata_disabled_is_a_clear_error() {
    let env = env_of(&[
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("HOME", "/nonexistent"),
    ]);
    let e = base(&AwsIamConfig::default(), "x", &env).unwrap_err();
    assert!(e.contains("AWS_EC2_METADATA_DISABLED"), "{e}");
}

#[test]
fn parses_sts_and_imds_answers() {
    let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials>\
        <AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>S</SecretAccessKey>\
        <SessionToken>T</SessionToken><Expiration>2015-08-30T12:36:00Z</Expiration>\
        </Credentials></AssumeRoleResult></AssumeRoleResponse>";
    let c = parse_sts_credentials(xml, "role").unwrap();
    assert_eq!(c.expiration, Some(1_440_938_160));
    assert!(parse_sts_credentials("<x/>", "role").is_err());
    let json = r#"{"Code":"Success","AccessKeyId":"ASIA2","SecretAccessKey":"S",
        "Token":"T","Expiration":"2015-08-30T12:36:00Z"}"#;
    let c = parse_imds_credentials(json).unwrap();
    assert_eq!(
        (c.access_key_id.as_str(), c.expiration),
        ("ASIA2", Some(1_440_938_160))
    );
    assert!(parse_imds_credentials("{").is_err());
    assert_eq!(host_of("http://127.0.0.1:9/x"), "127.0.0.1:9");
}
