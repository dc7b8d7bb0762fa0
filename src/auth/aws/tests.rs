use super::*;

fn creds(token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: token.map(str::to_string),
        expiration: None,
        source: "test".into(),
    }
}

/// The payload layout aws-msk-iam-auth documents; the signature recomputed independently
/// from the other fields.
#[test]
fn payload_fields_and_signature() {
    let bytes = payload(
        &creds(Some("TOKEN/+=")),
        "us-east-1",
        "b-1.example.com",
        1_440_938_160,
    );
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let f = |k: &str| v[k].as_str().unwrap().to_string();
    assert_eq!(f("version"), "2020_10_22");
    assert_eq!(f("host"), "b-1.example.com");
    assert_eq!(f("action"), "kafka-cluster:Connect");
    assert_eq!(f("x-amz-algorithm"), "AWS4-HMAC-SHA256");
    assert_eq!(
        f("x-amz-credential"),
        "AKIDEXAMPLE/20150830/us-east-1/kafka-cluster/aws4_request"
    );
    assert_eq!(f("x-amz-date"), "20150830T123600Z");
    assert_eq!(f("x-amz-expires"), "900");
    assert_eq!(f("x-amz-security-token"), "TOKEN/+=");
    assert_eq!(f("x-amz-signedheaders"), "host");
    assert!(f("user-agent").starts_with("kafka-proxy/"));
    let query = sigv4::canonical_query(&[
        ("Action".into(), f("action")),
        ("X-Amz-Algorithm".into(), f("x-amz-algorithm")),
        ("X-Amz-Credential".into(), f("x-amz-credential")),
        ("X-Amz-Date".into(), f("x-amz-date")),
        ("X-Amz-Expires".into(), f("x-amz-expires")),
        ("X-Amz-Security-Token".into(), f("x-amz-security-token")),
        ("X-Amz-SignedHeaders".into(), "host".into()),
    ]);
    let request = sigv4::canonical_request(
        "GET",
        "/",
        &query,
        &[("host", "b-1.example.com")],
        sigv4::EMPTY_SHA256,
    );
    let scope = sigv4::scope("20150830", "us-east-1", "kafka-cluster");
    let to_sign = sigv4::string_to_sign("20150830T123600Z", &scope, &request);
    let expected = sigv4::signature(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "20150830",
        "us-east-1",
        "kafka-cluster",
        &to_sign,
    );
    assert_eq!(f("x-amz-signature"), expected);
    assert_eq!(v.as_object().unwrap().len(), 11);
}

#[test]
fn long_lived_keys_send_no_token() {
    let bytes = payload(&creds(None), "eu-west-1", "h", 0);
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(v.get("x-amz-security-token").is_none());
    assert_eq!(v.as_object().unwrap().len(), 10);
}

#[test]
fn broker_answers() {
    assert!(check_answer(br#"{"version":"2020_10_22","request-id":"abc"}"#).is_ok());
    assert!(check_answer(b"{}").is_err());
    assert!(check_answer(b"\xff").is_err());
    assert!(check_answer(&[b' '; 5000]).is_err());
}
