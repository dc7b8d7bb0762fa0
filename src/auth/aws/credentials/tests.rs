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

/// A loopback HTTP server answering `n` requests with `answer(request line)`; returns its
/// base URL and the thread (joined by the test) that yields the request lines.
#[cfg(feature = "aws-msk-iam")]
fn fake_http(
    n: usize,
    answer: fn(&str) -> (u16, String),
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..n {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap() > 2 {
                if header
                    .to_ascii_lowercase()
                    .starts_with("x-aws-ec2-metadata-token:")
                {
                    line.push_str(" token-header");
                }
                header.clear();
            }
            let (status, body) = answer(&line);
            let mut stream = reader.into_inner();
            write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            seen.push(line);
        }
        seen
    });
    (url, thread)
}

#[cfg(feature = "aws-msk-iam")]
fn sts_xml(id: &str) -> String {
    format!(
        "<R><Credentials><AccessKeyId>{id}</AccessKeyId><SecretAccessKey>S</SecretAccessKey>\
         <SessionToken>T</SessionToken><Expiration>2999-01-01T00:00:00Z</Expiration>\
         </Credentials><Arn>arn:aws:sts::1:assumed-role/r/s</Arn></R>"
    )
}

#[cfg(feature = "aws-msk-iam")] // the fake servers are reached over HTTP
#[test]
fn web_identity_then_role_then_identity_lookup() {
    let (url, server) = fake_http(3, |line| {
        if line.contains("Action=AssumeRoleWithWebIdentity") {
            (200, sts_xml("WEBID"))
        } else if line.contains("Action=AssumeRole&") && line.contains("X-Amz-Credential=WEBID") {
            (200, sts_xml("ROLE"))
        } else if line.contains("Action=GetCallerIdentity") && line.contains("X-Amz-Signature=") {
            (200, sts_xml("unused"))
        } else {
            (
                400,
                "<Error><Code>Nope</Code><Message>bad</Message></Error>".into(),
            )
        }
    });
    let token = std::env::temp_dir().join(format!("kp-aws-token-{}", std::process::id()));
    std::fs::write(&token, "jwt\n").unwrap();
    let env = env_of(&[
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/web"),
        ("AWS_ENDPOINT_URL_STS", &url),
        ("HOME", "/nonexistent"),
    ]);
    let config = AwsIamConfig {
        region: "us-east-1".into(),
        role_arn: "arn:aws:iam::1:role/kafka".into(),
        identity_lookup: true,
        ..Default::default()
    };
    let c = super::super::lookup(&config, &env).unwrap();
    assert_eq!(c.access_key_id, "ROLE");
    assert_eq!(
        c.source,
        "role arn:aws:iam::1:role/kafka assumed with web identity credentials"
    );
    assert!(c.expiration.is_some());
    assert_eq!(server.join().unwrap().len(), 3);
    std::fs::remove_file(&token).unwrap();
}

#[cfg(feature = "aws-msk-iam")] // the fake servers are reached over HTTP
#[test]
fn sts_refusal_names_the_source() {
    let (url, server) = fake_http(1, |_| {
        (
            403,
            "<Error><Code>ExpiredToken</Code><Message>expired</Message></Error>".into(),
        )
    });
    let env = env_of(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ("AWS_ENDPOINT_URL", &url),
    ]);
    let config = AwsIamConfig {
        region: "us-east-1".into(),
        role_arn: "arn:aws:iam::1:role/kafka".into(),
        ..Default::default()
    };
    let e = super::super::lookup(&config, &env).unwrap_err();
    assert!(
        e.contains("role assumption") && e.contains("ExpiredToken"),
        "{e}"
    );
    assert!(!e.contains("SECRET") && !e.contains("Signature"), "{e}");
    server.join().unwrap();
}

#[cfg(feature = "aws-msk-iam")] // the fake servers are reached over HTTP
#[test]
fn instance_metadata_v2() {
    let (url, server) = fake_http(3, |line| {
        if line.starts_with("PUT /latest/api/token") {
            (200, "imds-token".into())
        } else if !line.contains("token-header") {
            (401, String::new())
        } else if line.contains("/security-credentials/ ") {
            (200, "my-role\n".into())
        } else if line.contains("/security-credentials/my-role ") {
            (
                200,
                r#"{"AccessKeyId":"IMDS","SecretAccessKey":"S","Token":"T","Expiration":"2999-01-01T00:00:00Z"}"#
                    .into(),
            )
        } else {
            (404, String::new())
        }
    });
    let env = env_of(&[
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url),
        ("HOME", "/nonexistent"),
    ]);
    let c = base(&AwsIamConfig::default(), "us-east-1", &env).unwrap();
    assert_eq!(
        (c.access_key_id.as_str(), c.source.as_str()),
        ("IMDS", "instance metadata")
    );
    assert_eq!(c.session_token.as_deref(), Some("T"));
    server.join().unwrap();
}
