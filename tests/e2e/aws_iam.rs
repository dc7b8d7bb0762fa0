//! Upstream SASL AWS_MSK_IAM against a scripted broker on loopback: the broker receives
//! SaslHandshake AWS_MSK_IAM and SaslAuthenticate, recomputes the SigV4 signature of the
//! payload with the test's known secret, and answers success (then Metadata passes) or
//! failure (a clear log line, the client closed). No real AWS is reachable.

use crate::fake_broker::{
    metadata_request, metadata_v1_response, node, FakeBroker, RawClient, Received, Reply,
};
use crate::harness::Proxy;
use kafka_proxy::auth::aws::sigv4;
use kafka_proxy::codec::{Reader, Writer};
use std::time::{Duration, Instant};

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Whether `payload` is a valid AWS_MSK_IAM payload for host 127.0.0.1 signed with SECRET.
fn signature_ok(payload: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return false;
    };
    let f = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let date = f("x-amz-date");
    let day = date.get(..8).unwrap_or("").to_string();
    let region = "eu-west-1";
    let mut params = vec![
        ("Action".to_string(), f("action")),
        ("X-Amz-Algorithm".into(), f("x-amz-algorithm")),
        ("X-Amz-Credential".into(), f("x-amz-credential")),
        ("X-Amz-Date".into(), date.clone()),
        ("X-Amz-Expires".into(), f("x-amz-expires")),
        ("X-Amz-SignedHeaders".into(), f("x-amz-signedheaders")),
    ];
    if v.get("x-amz-security-token").is_some() {
        params.push(("X-Amz-Security-Token".into(), f("x-amz-security-token")));
    }
    let request = sigv4::canonical_request(
        "GET",
        "/",
        &sigv4::canonical_query(&params),
        &[("host", &f("host"))],
        sigv4::EMPTY_SHA256,
    );
    let scope = sigv4::scope(&day, region, "kafka-cluster");
    let to_sign = sigv4::string_to_sign(&date, &scope, &request);
    f("host") == "127.0.0.1"
        && f("action") == "kafka-cluster:Connect"
        && f("x-amz-credential") == format!("{KEY_ID}/{scope}")
        && f("x-amz-signature") == sigv4::signature(SECRET, &day, region, "kafka-cluster", &to_sign)
}

/// The broker's answer; a successful login's session lasts `lifetime_ms` (0: no limit).
fn answer(req: &Received, port: u16, lifetime_ms: i64) -> Reply {
    let mut r = Reader::new(&req.frame);
    let (key, version, correlation) = (
        r.i16("key").unwrap(),
        r.i16("version").unwrap(),
        r.i32("correlation").unwrap(),
    );
    r.nullable_string("client id").unwrap();
    if (key == 36 && version >= 2) || (key == 18 && version >= 3) {
        r.skip_tagged_fields("header tags").unwrap();
    }
    let body = &req.frame[r.position()..];
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i32(correlation);
    match key {
        18 => {
            let apis = [(18i16, 0i16, 3i16), (3, 0, 12), (17, 0, 1), (36, 0, 2)];
            w.i16(0);
            w.i32(apis.len() as i32);
            for (k, min, max) in apis {
                w.i16(k);
                w.i16(min);
                w.i16(max);
            }
        }
        17 => {
            let mechanism = Reader::new(body).string("mechanism").unwrap().to_string();
            w.i16(if mechanism == "AWS_MSK_IAM" { 0 } else { 33 });
            w.i32(1);
            w.string_flex(false, "AWS_MSK_IAM");
        }
        36 => {
            let flexible = version >= 2;
            let token = Reader::new(body)
                .bytes_flex(flexible, "auth")
                .unwrap()
                .to_vec();
            let ok = signature_ok(&token);
            if flexible {
                w.uvarint(0);
            }
            w.i16(if ok { 0 } else { 58 });
            w.nullable_string_flex(flexible, (!ok).then_some("Access denied"));
            let reply: &[u8] = if ok {
                br#"{"version":"2020_10_22","request-id":"e2e-1"}"#
            } else {
                b""
            };
            w.bytes_flex(flexible, reply);
            if version >= 1 {
                w.i64(if ok { lifetime_ms } else { 0 });
            }
            if flexible {
                w.uvarint(0);
            }
        }
        3 => {
            return Reply::Frame(metadata_v1_response(
                correlation,
                &[node(0, "127.0.0.1", port)],
                0,
            ))
        }
        _ => return Reply::Close,
    }
    Reply::Frame(out)
}

fn start(secret: &str) -> (FakeBroker, Proxy) {
    start_with_lifetime(secret, 0)
}

fn start_with_lifetime(secret: &str, lifetime_ms: i64) -> (FakeBroker, Proxy) {
    let port = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
    let own = std::sync::Arc::clone(&port);
    let broker = FakeBroker::start(move |req| answer(req, *own.get().unwrap_or(&0), lifetime_ms));
    port.set(broker.port()).unwrap();
    let proxy = Proxy::start_for_port_with(
        broker.port(),
        &[
            "--sasl-enable",
            "--sasl-method",
            "AWS_MSK_IAM",
            "--sasl-aws-region",
            "eu-west-1",
            "--log-level",
            "debug",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    (broker, proxy)
}

fn wait_for_log(proxy: &Proxy, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = proxy.log();
        if log.contains(needle) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn aws_msk_iam_login_to_a_scripted_broker() {
    let (broker, mut proxy) = start(SECRET);
    let mut client = RawClient::connect(proxy.addr());
    client.send(&metadata_request(1, 7)).unwrap();
    let frame = client
        .recv()
        .unwrap_or_else(|| panic!("no metadata response\n{}", proxy.log()));
    assert_eq!(Reader::new(&frame).i32("c").unwrap(), 7);
    let keys: Vec<i16> = broker.received().iter().map(|r| r.api_key).collect();
    assert!(keys.contains(&36), "{keys:?}");
    let log = proxy.log();
    assert!(log.contains("from environment variables"), "{log}");
    assert!(!log.contains(SECRET), "{log}");
    proxy.assert_healthy();
}

#[test]
fn aws_msk_iam_wrong_secret_is_refused_with_a_clear_message() {
    let (_broker, proxy) = start("not-the-secret");
    let mut client = RawClient::connect(proxy.addr());
    client.send(&metadata_request(1, 7)).unwrap();
    assert!(client.recv().is_none(), "the client must be closed");
    let log = wait_for_log(&proxy, "rejected the AWS_MSK_IAM login");
    assert!(
        log.contains("rejected the AWS_MSK_IAM login with error 58"),
        "{log}"
    );
    assert!(log.contains("Access denied"), "{log}");
    assert!(
        log.contains("check the AWS credentials from environment variables"),
        "{log}"
    );
    assert!(!log.contains("not-the-secret"), "{log}");
}

/// KIP-368 with AWS_MSK_IAM: a broker session of 1.5 s is re-authenticated between the client's
/// requests with a freshly signed payload (each checked by the broker), and the client sees
/// only its own responses.
#[test]
fn aws_msk_iam_reauthenticates_before_the_session_ends() {
    let (broker, mut proxy) = start_with_lifetime(SECRET, 1500);
    let mut client = RawClient::connect(proxy.addr());
    let started = Instant::now();
    let mut correlation = 1;
    while started.elapsed() < Duration::from_secs(5) {
        client.send(&metadata_request(1, correlation)).unwrap();
        let frame = client
            .recv()
            .unwrap_or_else(|| panic!("no metadata response\n{}", proxy.log()));
        assert_eq!(Reader::new(&frame).i32("c").unwrap(), correlation);
        correlation += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let logins = broker.received().iter().filter(|r| r.api_key == 36).count();
    assert!(
        logins >= 3,
        "expected the login and re-authentications, got {logins}"
    );
    let log = proxy.log();
    assert!(log.contains("re-authenticated to broker"), "{log}");
    assert!(!log.contains("rejected the AWS_MSK_IAM login"), "{log}");
    proxy.assert_healthy();
}
