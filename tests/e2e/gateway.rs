//! Gateway authentication between two proxies (`--auth-gateway-*`) with the google-id plugins:
//! a client proxy (google-id-provider) in front of a server proxy (google-id-info) in front of
//! a broker, the test acting as Google with a local HTTP server (token endpoint and JWKS, keys
//! made with openssl). Every bad handshake is refused by the server proxy with a clear log line,
//! and no Kafka byte of a refused connection reaches the broker.

use crate::clients;
use crate::fake_broker::{self, FakeBroker, RawClient, Received, Reply};
use crate::harness::{self, Broker, Proxy, TempDir};
use crate::local_auth::{missing, wait_for_log};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kafka_proxy::auth::gateway::encode_handshake;
use kafka_proxy::plugin::builtin::google_id::{rsa_key_from_pem, sign_jwt};
use ring::signature::{self, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: &str = "0x6b61666b61677731";
const MAGIC_VALUE: u64 = 0x6b61666b61677731;
const METHOD: &str = "google-id";
const AUDIENCE: &str = "kafka-gateway.example.com";
const ROBOT: &str = "robot@project.iam.gserviceaccount.com";
const GOOGLE_KID: &str = "google-k1";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A 2048-bit RSA key in PKCS#8 PEM, made with openssl; `None` (skip, or fail in CI) without it.
fn genkey(dir: &Path, name: &str, test: &str) -> Option<(PathBuf, RsaKeyPair)> {
    let path = dir.join(name);
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&path)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        return missing(
            test,
            "openssl not found (apt-get install openssl; scripts/test.sh does)",
        );
    }
    let pem = std::fs::read_to_string(&path).unwrap();
    Some((path, rsa_key_from_pem(&pem).unwrap()))
}

fn jwk(kid: &str, key: &RsaKeyPair) -> Value {
    let c: RsaPublicKeyComponents<Vec<u8>> = key.public_key().into();
    json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
           "n": URL_SAFE_NO_PAD.encode(c.n), "e": URL_SAFE_NO_PAD.encode(c.e)})
}

/// What the fake key endpoint serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Certs {
    Keys,
    Down,
    Garbage,
}

struct State {
    google: RsaKeyPair,
    service_account: RsaKeyPair,
    certs: Certs,
}

/// Google's token endpoint and JWKS on a loopback port.
struct FakeGoogle {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    token_requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeGoogle {
    fn start(google: RsaKeyPair, service_account: RsaKeyPair) -> FakeGoogle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            google,
            service_account,
            certs: Certs::Keys,
        }));
        let token_requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, count, stop) = (state.clone(), token_requests.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((stream, _)) => serve_http(stream, &state, &count),
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        FakeGoogle {
            addr,
            state,
            token_requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn set_certs(&self, certs: Certs) {
        self.state.lock().unwrap().certs = certs;
    }

    /// An ID token as Google would issue it, with `edit` applied to the claims.
    fn id_token(&self, edit: impl Fn(&mut Value)) -> String {
        let mut claims = json!({
            "iss": "https://accounts.google.com",
            "aud": AUDIENCE,
            "azp": ROBOT,
            "email": ROBOT,
            "email_verified": true,
            "sub": "1234567890",
            "iat": now() - 5,
            "exp": now() + 3600,
        });
        edit(&mut claims);
        sign_jwt(
            &self.state.lock().unwrap().google,
            Some(GOOGLE_KID),
            &claims,
        )
        .unwrap()
    }
}

impl Drop for FakeGoogle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_http(mut stream: TcpStream, state: &Mutex<State>, token_requests: &AtomicUsize) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let (head, body) = loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..at]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while data.len() < at + 4 + length {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
            }
            break (head, String::from_utf8_lossy(&data[at + 4..]).into_owned());
        }
    };
    let request_line = head.lines().next().unwrap_or("").to_string();
    let (status, reply) = if request_line.starts_with("POST /token") {
        token_requests.fetch_add(1, Ordering::SeqCst);
        token_endpoint(&body, &state.lock().unwrap())
    } else if request_line.starts_with("GET /certs") {
        let state = state.lock().unwrap();
        match state.certs {
            Certs::Keys => (
                200,
                json!({"keys": [jwk(GOOGLE_KID, &state.google)]}).to_string(),
            ),
            Certs::Down => (503, "unavailable".to_string()),
            Certs::Garbage => (200, "<html>not json</html>".to_string()),
        }
    } else {
        (404, "not found".to_string())
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
}

/// Checks the JWT-bearer assertion like Google (signed by the service account, naming the
/// target audience) and answers an ID token for it.
fn token_endpoint(body: &str, state: &State) -> (u16, String) {
    let form: Vec<(&str, &str)> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let field = |k: &str| form.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    if field("grant_type") != Some("urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer") {
        return (400, json!({"error": "unsupported_grant_type"}).to_string());
    }
    let Some(assertion) = field("assertion") else {
        return (400, json!({"error": "no assertion"}).to_string());
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let public: RsaPublicKeyComponents<Vec<u8>> = state.service_account.public_key().into();
    let signed = parts.len() == 3
        && URL_SAFE_NO_PAD.decode(parts[2]).ok().is_some_and(|sig| {
            public
                .verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    format!("{}.{}", parts[0], parts[1]).as_bytes(),
                    &sig,
                )
                .is_ok()
        });
    if !signed {
        return (
            400,
            json!({"error": "invalid_grant", "error_description": "bad signature"}).to_string(),
        );
    }
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let audience = claims["target_audience"].as_str().unwrap_or("").to_string();
    let mut id_claims = json!({
        "iss": "https://accounts.google.com",
        "aud": audience,
        "email": claims["iss"],
        "email_verified": true,
        "iat": now() - 5,
        "exp": now() + 3600,
    });
    if claims["iss"] != json!(ROBOT) {
        id_claims["email"] = json!("someone-else@example.com");
    }
    let token = sign_jwt(&state.google, Some(GOOGLE_KID), &id_claims).unwrap();
    (200, json!({"id_token": token}).to_string())
}

/// The service-account JSON file of the client proxy.
fn credentials(dir: &Path, key_pem: &Path, token_url: &str) -> PathBuf {
    let path = dir.join("service-account.json");
    let file = json!({
        "type": "service_account",
        "project_id": "project",
        "private_key_id": "sa-key-1",
        "private_key": std::fs::read_to_string(key_pem).unwrap(),
        "client_email": ROBOT,
        "client_id": "1",
        "token_uri": token_url,
    });
    std::fs::write(&path, file.to_string()).unwrap();
    path
}

fn server_flags(google: &FakeGoogle, method: &str) -> Vec<String> {
    [
        "--auth-gateway-server-enable",
        "--auth-gateway-server-command",
        "google-id-info",
        "--auth-gateway-server-method",
        method,
        "--auth-gateway-server-magic",
        MAGIC,
        "--auth-gateway-server-param",
        &format!("--audience={AUDIENCE}"),
        "--auth-gateway-server-param",
        &format!("--certs-url={}", google.url("/certs")),
        "--auth-gateway-server-param",
        "--email-regex=[a-z]+@project\\.iam\\.gserviceaccount\\.com",
        "--auth-gateway-server-param",
        "--refresh-interval=1s",
        "--auth-gateway-server-timeout",
        "2s",
        "--log-level",
        "debug",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn client_flags(credentials: &Path, google: &FakeGoogle, method: &str) -> Vec<String> {
    [
        "--auth-gateway-client-enable",
        "--auth-gateway-client-command",
        "google-id-provider",
        "--auth-gateway-client-method",
        method,
        "--auth-gateway-client-magic",
        MAGIC,
        "--auth-gateway-client-param",
        &format!("--credentials-file={}", credentials.display()),
        "--auth-gateway-client-param",
        &format!("--target-audience={AUDIENCE}"),
        "--auth-gateway-client-param",
        &format!("--token-url={}", google.url("/token")),
        "--log-level",
        "debug",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn chained_proxies_with_google_id_tokens() {
    let test = "gateway::chained_proxies_with_google_id_tokens";
    let Some(tools) = harness::tools(test) else {
        return;
    };
    let dir = TempDir::new("gateway");
    let Some((_, google_key)) = genkey(dir.path(), "google.pem", test) else {
        return;
    };
    let Some((sa_pem, sa_key)) = genkey(dir.path(), "sa.pem", test) else {
        return;
    };
    let google = FakeGoogle::start(google_key, sa_key);
    let creds = credentials(dir.path(), &sa_pem, &google.url("/token"));
    let broker = Broker::start(&tools);
    let mut server = Proxy::start_for_port(broker.port, &strs(&server_flags(&google, METHOD)));
    let mut client =
        Proxy::start_for_port(server.port, &strs(&client_flags(&creds, &google, METHOD)));

    let topic = harness::unique("gateway");
    let out = clients::run(
        &tools,
        "roundtrip.py",
        &client.bootstrap(),
        &[
            "--topic",
            &topic,
            "--count",
            "200",
            "--partitions",
            "2",
            "--group",
            &topic,
        ],
        Duration::from_secs(90),
    );
    assert_eq!(out.json.get("produced").as_i64(), Some(200));
    assert_eq!(out.json.get("consumed").as_i64(), Some(200));
    client.assert_healthy();
    server.assert_healthy();
    let server_log = server.log();
    assert!(
        server_log.contains("gateway client 127.0.0.1")
            && server_log.contains(&format!("authenticated as \"{ROBOT}\"")),
        "{server_log}"
    );
    // Many broker connections, one token: cached by the proxy (and by the plugin).
    let connections = server_log.matches("authenticated as").count();
    assert!(connections >= 2, "{connections} gateway connections");
    assert_eq!(google.token_requests.load(Ordering::SeqCst), 1);
    // No token in either log.
    let token = google.id_token(|_| {});
    let signature_part = token.rsplit('.').next().unwrap();
    for log in [client.log(), server_log] {
        assert!(!log.contains("eyJ"), "a JWT was logged:\n{log}");
        assert!(!log.contains(signature_part));
    }
}

/// Sends `bytes` (a handshake, then a Kafka Metadata request) and reports whether the server
/// proxy answered the four zero bytes and then relayed the request (`true`), or closed the
/// connection (`false`).
fn try_handshake(addr: SocketAddr, bytes: &[u8]) -> bool {
    try_handshake_from([127, 0, 0, 1], addr, bytes)
}

/// [`try_handshake`] from `from`, a loopback address.
fn try_handshake_from(from: [u8; 4], addr: SocketAddr, bytes: &[u8]) -> bool {
    let mut s = fake_broker::connect_from(from, addr);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut all = bytes.to_vec();
    let request = fake_broker::metadata_request(1, 77);
    all.extend_from_slice(&(request.len() as i32).to_be_bytes());
    all.extend_from_slice(&request);
    let _ = s.write_all(&all);
    let mut answer = [0u8; 4];
    if s.read_exact(&mut answer).is_err() {
        return false;
    }
    assert_eq!(answer, [0, 0, 0, 0]);
    // The broker's answer to the request behind the handshake.
    let mut head = [0u8; 8];
    s.read_exact(&mut head)
        .expect("the Metadata response after the handshake");
    assert_eq!(head[4..], 77i32.to_be_bytes());
    true
}

#[test]
fn bad_handshakes_and_tokens_are_refused() {
    let test = "gateway::bad_handshakes_and_tokens_are_refused";
    let dir = TempDir::new("gateway-bad");
    let Some((_, google_key)) = genkey(dir.path(), "google.pem", test) else {
        return;
    };
    let Some((sa_pem, sa_key)) = genkey(dir.path(), "sa.pem", test) else {
        return;
    };
    let sa_for_forgery = rsa_key_from_pem(&std::fs::read_to_string(&sa_pem).unwrap()).unwrap();
    let google = FakeGoogle::start(google_key, sa_key);
    let broker = FakeBroker::start(|r: &Received| {
        Reply::Frame(fake_broker::metadata_v1_response(r.correlation_id, &[], -1))
    });
    let mut server = Proxy::start_for_port(broker.port(), &strs(&server_flags(&google, METHOD)));
    let addr = server.addr();
    let hello = |token: &str| encode_handshake(MAGIC_VALUE, METHOD, token);

    let good = google.id_token(|_| {});
    let header_of = |alg: &str| {
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"{alg}","kid":"{GOOGLE_KID}","typ":"JWT"}}"#
        ))
    };
    let claims_part = good.split('.').nth(1).unwrap().to_string();
    let mut truncated = hello(&good);
    truncated.truncate(40);
    let mut oversize = MAGIC_VALUE.to_be_bytes().to_vec();
    oversize.extend_from_slice(&(10u32 << 20).to_be_bytes());
    oversize.extend_from_slice(b"google-id\0x");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "wrong magic",
            encode_handshake(0x1234, METHOD, &good),
            "wrong magic 0x1234",
        ),
        (
            "wrong method",
            encode_handshake(MAGIC_VALUE, "other-method", &good),
            "method \"other-method\"",
        ),
        (
            "oversize length",
            oversize,
            "is more than the 65536 bytes accepted",
        ),
        ("truncated payload", truncated, "-byte handshake payload"),
        (
            "no NUL",
            {
                let mut b = MAGIC_VALUE.to_be_bytes().to_vec();
                b.extend_from_slice(&9u32.to_be_bytes());
                b.extend_from_slice(b"google-id");
                b
            },
            "expected exactly one NUL",
        ),
        (
            "bad signature",
            hello(
                &sign_jwt(
                    &sa_for_forgery,
                    Some(GOOGLE_KID),
                    &serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&claims_part).unwrap())
                        .unwrap(),
                )
                .unwrap(),
            ),
            "bad signature",
        ),
        (
            "unknown kid",
            hello(&{
                let c: Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&claims_part).unwrap()).unwrap();
                sign_jwt(&sa_for_forgery, Some("kid-nobody-published"), &c).unwrap()
            }),
            "unknown key id",
        ),
        (
            "wrong audience",
            hello(&google.id_token(|c| c["aud"] = json!("someone-else"))),
            "audience (aud) is not one of",
        ),
        (
            "expired",
            hello(&google.id_token(|c| c["exp"] = json!(now() - 3600))),
            "expired",
        ),
        (
            "wrong issuer",
            hello(&google.id_token(|c| c["iss"] = json!("https://evil.example.com"))),
            "issuer \"https://evil.example.com\"",
        ),
        (
            "email not matching",
            hello(&google.id_token(|c| c["email"] = json!("mallory@evil.example.com"))),
            "does not match --email-regex",
        ),
        (
            "alg none",
            hello(&format!("{}.{claims_part}.", header_of("none"))),
            "algorithm \"none\" refused",
        ),
        (
            "HS256",
            hello(&format!(
                "{}.{claims_part}.{}",
                header_of("HS256"),
                URL_SAFE_NO_PAD.encode(b"forged-mac")
            )),
            "algorithm \"HS256\" refused",
        ),
        ("not a JWT", hello("hello"), "not a JWT"),
    ];
    for (what, bytes, why) in &cases {
        assert!(!try_handshake(addr, bytes), "{what}: accepted");
        wait_for_log(&server, why);
    }
    // A silent client: closed after --auth-gateway-server-timeout.
    let mut silent = RawClient::connect(addr);
    assert!(silent.recv().is_none());
    wait_for_log(&server, "no complete handshake within 2s");
    assert!(
        broker.received().is_empty(),
        "a refused connection reached the broker"
    );

    // The good token passes, and the Kafka request behind it reaches the broker.
    assert!(try_handshake(addr, &hello(&good)));
    wait_for_log(&server, &format!("authenticated as \"{ROBOT}\""));

    // The key endpoint goes down, then serves garbage: the last good keys stay in use, and an
    // unknown key id is still refused.
    for mode in [Certs::Down, Certs::Garbage] {
        google.set_certs(mode);
        thread::sleep(Duration::from_millis(1100));
        assert!(try_handshake(addr, &hello(&google.id_token(|_| {}))));
        let (_, cases_unknown, _) = &cases[6];
        assert!(!try_handshake(addr, cases_unknown));
    }
    wait_for_log(&server, "cannot refresh the keys (1 kept)");
    server.assert_healthy();
    assert!(!server.log().contains("eyJ"), "a token was logged");
    let reached = broker.received().len();
    assert!(reached >= 3, "{reached} requests reached the broker");
}

#[test]
fn a_refused_token_delays_the_next_handshake_from_its_address_only() {
    let test = "gateway::a_refused_token_delays_the_next_handshake_from_its_address_only";
    let dir = TempDir::new("gateway-delay");
    let Some((_, google_key)) = genkey(dir.path(), "google.pem", test) else {
        return;
    };
    let Some((_, sa_key)) = genkey(dir.path(), "sa.pem", test) else {
        return;
    };
    let google = FakeGoogle::start(google_key, sa_key);
    let broker = FakeBroker::start(|r: &Received| {
        Reply::Frame(fake_broker::metadata_v1_response(r.correlation_id, &[], -1))
    });
    // The default --auth-failure-delay (1s), within --auth-gateway-server-timeout (2s).
    let mut server = Proxy::start_for_port(broker.port(), &strs(&server_flags(&google, METHOD)));
    let addr = server.addr();
    let good = encode_handshake(MAGIC_VALUE, METHOD, &google.id_token(|_| {}));
    let expired = encode_handshake(
        MAGIC_VALUE,
        METHOD,
        &google.id_token(|c| c["exp"] = json!(now() - 3600)),
    );
    let timed = |from: [u8; 4], bytes: &[u8]| {
        let started = std::time::Instant::now();
        (try_handshake_from(from, addr, bytes), started.elapsed())
    };
    assert!(timed([127, 0, 0, 3], &good).0, "a first handshake");
    assert!(
        !timed([127, 0, 0, 1], &expired).0,
        "an expired token is refused"
    );
    let (other, took) = timed([127, 0, 0, 2], &good);
    assert!(other, "another address is accepted");
    assert!(
        took < Duration::from_millis(700),
        "another address waited {took:?}"
    );
    let (again, took) = timed([127, 0, 0, 1], &good);
    assert!(again, "the refused address is accepted after the delay");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(2),
        "the refused address waited {took:?}"
    );
    // Refusals in parallel add up: five from one address (however the proxy interleaves
    // them) leave the address at least two delays to wait, so parallel connections gain
    // nothing; those whose wait would pass their 2 s handshake deadline are refused at once,
    // without a check. Only lower bounds are asserted: a loaded machine may take longer.
    let parallel_started = std::time::Instant::now();
    let parallel: Vec<_> = (0..5)
        .map(|_| {
            let expired = expired.clone();
            thread::spawn(move || try_handshake_from([127, 0, 0, 1], addr, &expired))
        })
        .collect();
    for handshake in parallel {
        assert!(!handshake.join().unwrap());
    }
    let (next, took) = timed([127, 0, 0, 1], &good);
    if next {
        let since = parallel_started.elapsed();
        assert!(
            since >= Duration::from_millis(1800),
            "a good token was accepted {since:?} after five parallel refusals"
        );
    } else {
        // Refused at once (its wait would end past its deadline), or, when its wait ended just
        // before its 2 s deadline, by that deadline while it was being checked: never later.
        assert!(took < Duration::from_millis(2500), "refused after {took:?}");
    }
    wait_for_log(&server, "refused without a check (--auth-failure-delay)");
    server.assert_healthy();
}

#[test]
fn a_refused_client_proxy_says_why() {
    let test = "gateway::a_refused_client_proxy_says_why";
    let dir = TempDir::new("gateway-client");
    let Some((_, google_key)) = genkey(dir.path(), "google.pem", test) else {
        return;
    };
    let Some((sa_pem, sa_key)) = genkey(dir.path(), "sa.pem", test) else {
        return;
    };
    let google = FakeGoogle::start(google_key, sa_key);
    let creds = credentials(dir.path(), &sa_pem, &google.url("/token"));
    let broker = FakeBroker::start(|r: &Received| {
        Reply::Frame(fake_broker::metadata_v1_response(r.correlation_id, &[], -1))
    });
    // The server expects another method: it refuses, and the client proxy reports it.
    let server = Proxy::start_for_port(broker.port(), &strs(&server_flags(&google, "other")));
    let client = Proxy::start_for_port(server.port, &strs(&client_flags(&creds, &google, METHOD)));
    let mut c = RawClient::connect(client.addr());
    c.send(&fake_broker::metadata_request(1, 1)).unwrap();
    assert!(c.recv().is_none());
    wait_for_log(&client, "refused the handshake");
    wait_for_log(&server, "method \"google-id\", expected \"other\"");
    assert!(broker.received().is_empty());
}
