use super::*;
use crate::codec::api_versions;
use crate::codec::sasl::HANDSHAKE_VERSIONS;
use crate::codec::{Reader, Writer};
use crate::config::Secret;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::{digest, hmac, pbkdf2};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::thread;

fn config(method: SaslMethod, username: &str, password: &str) -> SaslConfig {
    SaslConfig {
        method,
        username: username.into(),
        password: Secret(password.into()),
        jaas_config_file: None,
        aws: Default::default(),
        gssapi: Default::default(),
        mapped_from: None,
    }
}

/// What the scripted broker does.
#[derive(Clone)]
struct BrokerScript {
    /// `(api_key, min, max)` advertised.
    apis: Vec<(i16, i16, i16)>,
    mechanisms: Vec<&'static str>,
    password: &'static str,
    lifetime_ms: i64,
    /// Mangle the SCRAM server-first or server-final message.
    tamper_first: Option<fn(String) -> String>,
    tamper_final: Option<fn(String) -> String>,
    /// Close the connection instead of answering this request number (1-based).
    close_at: Option<usize>,
    /// Answer a bad password by closing (tansu) rather than with error 58.
    close_on_failure: bool,
    iterations: u32,
}

impl Default for BrokerScript {
    fn default() -> Self {
        BrokerScript {
            apis: vec![(18, 0, 4), (17, 0, 1), (36, 0, 2)],
            mechanisms: vec!["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
            password: "secret",
            lifetime_ms: 0,
            tamper_first: None,
            tamper_final: None,
            close_at: None,
            close_on_failure: false,
            iterations: 4096,
        }
    }
}

/// The server side of SCRAM, from the RFC 5802 formulas.
struct ScramServer {
    hash: ScramHash,
    password: String,
    iterations: u32,
    auth_message: String,
    salted: Vec<u8>,
}

impl ScramServer {
    fn algorithms(
        &self,
    ) -> (
        hmac::Algorithm,
        pbkdf2::Algorithm,
        &'static digest::Algorithm,
    ) {
        match self.hash {
            ScramHash::Sha256 => (
                hmac::HMAC_SHA256,
                pbkdf2::PBKDF2_HMAC_SHA256,
                &digest::SHA256,
            ),
            _ => (
                hmac::HMAC_SHA512,
                pbkdf2::PBKDF2_HMAC_SHA512,
                &digest::SHA512,
            ),
        }
    }

    fn first(&mut self, client_first: &[u8]) -> String {
        let text = std::str::from_utf8(client_first).unwrap();
        let bare = text.strip_prefix("n,,").unwrap();
        let nonce = bare.split(",r=").nth(1).unwrap();
        let salt = b"salt-of-the-earth";
        let message = format!(
            "r={nonce}srv,s={},i={}",
            STANDARD.encode(salt),
            self.iterations
        );
        let (_, pbkdf, _) = self.algorithms();
        self.salted = vec![0; self.algorithms().2.output_len()];
        pbkdf2::derive(
            pbkdf,
            NonZeroU32::new(self.iterations).unwrap(),
            salt,
            self.password.as_bytes(),
            &mut self.salted,
        );
        self.auth_message = format!("{bare},{message}");
        message
    }

    /// `Ok(server-final)` or `Err(())` when the proof is wrong.
    fn last(&mut self, client_final: &[u8]) -> Result<String, ()> {
        let text = std::str::from_utf8(client_final).unwrap();
        let (without_proof, proof) = text.rsplit_once(",p=").unwrap();
        self.auth_message = format!("{},{without_proof}", self.auth_message);
        let (alg, _, dig) = self.algorithms();
        let salted = hmac::Key::new(alg, &self.salted);
        let client_key = hmac::sign(&salted, b"Client Key");
        let stored = digest::digest(dig, client_key.as_ref());
        let signature = hmac::sign(
            &hmac::Key::new(alg, stored.as_ref()),
            self.auth_message.as_bytes(),
        );
        let proof = STANDARD.decode(proof).unwrap();
        let recovered: Vec<u8> = proof
            .iter()
            .zip(signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        if digest::digest(dig, &recovered).as_ref() != stored.as_ref() {
            return Err(());
        }
        let server_key = hmac::sign(&salted, b"Server Key");
        let server_signature = hmac::sign(
            &hmac::Key::new(alg, server_key.as_ref()),
            self.auth_message.as_bytes(),
        );
        Ok(format!("v={}", STANDARD.encode(server_signature.as_ref())))
    }
}

/// Serves one connection per the script; returns what it saw (api keys, raw tokens as -1).
fn broker(script: BrokerScript) -> (std::net::SocketAddr, thread::JoinHandle<Vec<i16>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut seen = Vec::new();
        let mut scram: Option<ScramServer> = None;
        let mut legacy = false;
        let mut mechanism = String::new();
        loop {
            let mut prefix = [0u8; 4];
            if s.read_exact(&mut prefix).is_err() {
                return seen;
            }
            let mut frame = vec![0u8; i32::from_be_bytes(prefix) as usize];
            s.read_exact(&mut frame).unwrap();
            if script.close_at == Some(seen.len() + 1) {
                return seen;
            }
            if legacy {
                seen.push(-1);
                let reply = match sasl_step(&script, &mechanism, &mut scram, &frame) {
                    Ok(token) => token,
                    Err(()) => return seen,
                };
                let mut out = (reply.len() as u32).to_be_bytes().to_vec();
                out.extend_from_slice(&reply);
                s.write_all(&out).unwrap();
                continue;
            }
            let (header, offset) = header::parse_request_header(&frame).unwrap();
            let body = &frame[offset.unwrap()..];
            seen.push(header.api_key.0);
            let (key, version) = (header.api_key, header.api_version);
            let mut out = Vec::new();
            header::encode_response_header(key, version, header.correlation_id, &mut out);
            match key.0 {
                18 => api_versions::encode_response(0, 0, &script.apis, 0, &mut out).unwrap(),
                17 => {
                    mechanism = SaslHandshakeRequest::decode(version, body)
                        .unwrap()
                        .mechanism
                        .to_string();
                    let ok = script.mechanisms.contains(&mechanism.as_str());
                    SaslHandshakeResponse {
                        error_code: if ok { 0 } else { 33 },
                        mechanisms: script.mechanisms.clone(),
                    }
                    .encode(version, &mut out);
                    legacy = ok && version == 0;
                }
                36 => {
                    let request = SaslAuthenticateRequest::decode(version, body).unwrap();
                    let (code, token) =
                        match sasl_step(&script, &mechanism, &mut scram, request.auth_bytes) {
                            Ok(token) => (0, token),
                            Err(()) if script.close_on_failure => return seen,
                            Err(()) => (58, Vec::new()),
                        };
                    SaslAuthenticateResponse {
                        error_code: code,
                        error_message: (code != 0).then_some("Authentication failed"),
                        auth_bytes: &token,
                        session_lifetime_ms: script.lifetime_ms,
                        tagged: &[],
                    }
                    .encode(version, &mut out);
                }
                _ => panic!("unexpected request {key}"),
            }
            let mut framed = (out.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(&out);
            s.write_all(&framed).unwrap();
        }
    });
    (addr, handle)
}

/// One SASL step on the broker side: the token to answer with, or `Err` on bad credentials.
fn sasl_step(
    script: &BrokerScript,
    mechanism: &str,
    scram: &mut Option<ScramServer>,
    token: &[u8],
) -> Result<Vec<u8>, ()> {
    if mechanism == "PLAIN" {
        let expected = format!("\0alice\0{}", script.password);
        return if token == expected.as_bytes() {
            Ok(Vec::new())
        } else {
            Err(())
        };
    }
    match scram {
        None => {
            let mut server = ScramServer {
                hash: if mechanism == "SCRAM-SHA-256" {
                    ScramHash::Sha256
                } else {
                    ScramHash::Sha512
                },
                password: script.password.into(),
                iterations: script.iterations,
                auth_message: String::new(),
                salted: Vec::new(),
            };
            let mut first = server.first(token);
            *scram = Some(server);
            if let Some(tamper) = script.tamper_first {
                first = tamper(first);
            }
            Ok(first.into_bytes())
        }
        Some(server) => {
            let mut last = server.last(token)?;
            if let Some(tamper) = script.tamper_final {
                last = tamper(last);
            }
            *scram = None;
            Ok(last.into_bytes())
        }
    }
}

fn login_to(script: BrokerScript, config: &SaslConfig) -> (Result<Session, LoginError>, Vec<i16>) {
    let (addr, broker) = broker(script);
    let mut stream: Stream = crate::net::stream::plain(TcpStream::connect(addr).unwrap());
    let result = login(
        &mut stream,
        config,
        "kafka-proxy",
        Duration::from_secs(10),
        100 << 20,
    );
    drop(stream);
    (result, broker.join().unwrap())
}

#[test]
fn plain_and_scram_logins() {
    for method in [
        SaslMethod::Plain,
        SaslMethod::ScramSha256,
        SaslMethod::ScramSha512,
    ] {
        let (session, seen) = login_to(
            BrokerScript {
                lifetime_ms: 60_000,
                ..Default::default()
            },
            &config(method, "alice", "secret"),
        );
        let session = session.unwrap_or_else(|e| panic!("{method:?}: {e}"));
        assert_eq!(session.authenticate_version, Some(2));
        assert_eq!(session.lifetime, Some(Duration::from_secs(60)));
        let rounds = if method == SaslMethod::Plain { 1 } else { 2 };
        let mut expected = vec![18, 17];
        expected.extend(std::iter::repeat(36).take(rounds));
        assert_eq!(seen, expected, "{method:?}");
    }
}

#[test]
fn authenticate_version_is_the_highest_both_support() {
    for (broker_max, expected) in [(1, 1), (0, 0), (5, 2)] {
        let (session, _) = login_to(
            BrokerScript {
                apis: vec![(18, 0, 4), (17, 0, 1), (36, 0, broker_max)],
                ..Default::default()
            },
            &config(SaslMethod::ScramSha512, "alice", "secret"),
        );
        assert_eq!(session.unwrap().authenticate_version, Some(expected));
    }
}

#[test]
fn legacy_flow_without_sasl_authenticate() {
    for method in [SaslMethod::Plain, SaslMethod::ScramSha256] {
        let (session, seen) = login_to(
            BrokerScript {
                apis: vec![(18, 0, 1), (17, 0, 0)],
                ..Default::default()
            },
            &config(method, "alice", "secret"),
        );
        let session = session.unwrap();
        assert_eq!(session.authenticate_version, None);
        assert_eq!(session.lifetime, None);
        let rounds = if method == SaslMethod::Plain { 1 } else { 2 };
        let mut expected = vec![18, 17];
        expected.extend(std::iter::repeat(-1).take(rounds));
        assert_eq!(seen, expected);
    }
    // A wrong password: the legacy broker just closes.
    let (result, _) = login_to(
        BrokerScript {
            apis: vec![(18, 0, 1), (17, 0, 0)],
            ..Default::default()
        },
        &config(SaslMethod::Plain, "alice", "bad-pw-123"),
    );
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("closed the connection after receiving the PLAIN"),
        "{err}"
    );
    assert!(err.contains("--sasl-username (\"alice\")"), "{err}");
    assert!(!err.contains("bad-pw-123"), "{err}");
}

#[test]
fn wrong_password_is_rejected_clearly() {
    for method in [
        SaslMethod::Plain,
        SaslMethod::ScramSha256,
        SaslMethod::ScramSha512,
    ] {
        let (result, _) = login_to(
            BrokerScript::default(),
            &config(method, "alice", "not-the-password"),
        );
        let err = result.unwrap_err();
        assert!(
            matches!(err, LoginError::Rejected { code: 58, .. }),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("58 SASL_AUTHENTICATION_FAILED (Authentication failed)"),
            "{text}"
        );
        assert!(!text.contains("not-the-password"), "{text}");
    }
    // A broker that closes instead (tansu does).
    let (result, _) = login_to(
        BrokerScript {
            close_on_failure: true,
            ..Default::default()
        },
        &config(SaslMethod::ScramSha512, "alice", "nope"),
    );
    assert!(matches!(
        result.unwrap_err(),
        LoginError::ClosedAfterCredentials {
            mechanism: "SCRAM-SHA-512",
            ..
        }
    ));
    // The hint names the JAAS file when the credentials came from one.
    let mut from_file = config(SaslMethod::Plain, "alice", "nope");
    from_file.jaas_config_file = Some(PathBuf::from("/etc/kafka/jaas.conf"));
    let (result, _) = login_to(BrokerScript::default(), &from_file);
    let text = result.unwrap_err().to_string();
    assert!(
        text.contains("/etc/kafka/jaas.conf (--sasl-jaas-config-file)"),
        "{text}"
    );
}

#[test]
fn mechanism_not_offered_lists_the_offer() {
    let (result, seen) = login_to(
        BrokerScript {
            mechanisms: vec!["SCRAM-SHA-512", "OAUTHBEARER"],
            ..Default::default()
        },
        &config(SaslMethod::Plain, "alice", "secret"),
    );
    assert_eq!(
        result.unwrap_err().to_string(),
        "broker does not enable SASL mechanism PLAIN (--sasl-method); it offers \
         SCRAM-SHA-512, OAUTHBEARER"
    );
    assert_eq!(seen, [18, 17]);
}

#[test]
fn broker_without_sasl() {
    let (result, _) = login_to(
        BrokerScript {
            apis: vec![(18, 0, 4), (3, 0, 12)],
            ..Default::default()
        },
        &config(SaslMethod::Plain, "alice", "secret"),
    );
    assert!(matches!(result.unwrap_err(), LoginError::NoSasl));
    let (result, _) = login_to(
        BrokerScript {
            apis: vec![(18, 0, 4), (17, 0, 1), (36, 3, 4)],
            ..Default::default()
        },
        &config(SaslMethod::Plain, "alice", "secret"),
    );
    assert!(matches!(
        result.unwrap_err(),
        LoginError::NoCommonVersion(ApiKey::SASL_AUTHENTICATE, 3, 4)
    ));
}

#[test]
fn broker_closing_mid_exchange() {
    for (at, expected) in [
        (1, "during ApiVersions"),
        (
            2,
            "instead of answering SaslHandshake for SCRAM-SHA-256: it probably does not \
             enable that mechanism (--sasl-method)",
        ),
        (3, "after receiving the SCRAM-SHA-256 credentials"),
        (4, "after receiving the SCRAM-SHA-256 credentials"),
    ] {
        let (result, _) = login_to(
            BrokerScript {
                close_at: Some(at),
                ..Default::default()
            },
            &config(SaslMethod::ScramSha256, "alice", "secret"),
        );
        let text = result.unwrap_err().to_string();
        let expected = if at == 1 {
            "waiting for the ApiVersions response"
        } else {
            expected
        };
        assert!(text.contains(expected), "close at {at}: {text}");
    }
}

#[test]
fn malformed_and_tampered_scram_messages() {
    let tampered_final: fn(String) -> String = |s| {
        // Flip one character of the base64 signature.
        let mut b = s.into_bytes();
        b[3] = if b[3] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let (result, _) = login_to(
        BrokerScript {
            tamper_final: Some(tampered_final),
            ..Default::default()
        },
        &config(SaslMethod::ScramSha512, "alice", "secret"),
    );
    let err = result.unwrap_err();
    assert!(
        matches!(err, LoginError::Scram(ScramError::BadServerSignature)),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("could not prove it knows the password"));

    // tansu answers a wrong proof with SaslAuthenticate success carrying `e=invalid-proof`.
    let refused: fn(String) -> String = |_| "e=invalid-proof".to_string();
    let (result, _) = login_to(
        BrokerScript {
            tamper_final: Some(refused),
            ..Default::default()
        },
        &config(SaslMethod::ScramSha512, "alice", "secret"),
    );
    assert_eq!(
        result.unwrap_err().to_string(),
        "broker refused the SCRAM-SHA-512 login (its server-final message says \
         \"invalid-proof\"): check --sasl-username (\"alice\") and --sasl-password (or \
         SASL_PASSWORD)"
    );

    let no_salt: fn(String) -> String = |s| s.replace(",s=", ",x=");
    let (result, _) = login_to(
        BrokerScript {
            tamper_first: Some(no_salt),
            ..Default::default()
        },
        &config(SaslMethod::ScramSha256, "alice", "secret"),
    );
    assert_eq!(
        result.unwrap_err().to_string(),
        "the broker sent a malformed SCRAM server-first message: the second attribute is \
         not s= (the salt)"
    );

    let other_nonce: fn(String) -> String = |s| s.replacen("r=", "r=X", 1);
    let (result, _) = login_to(
        BrokerScript {
            tamper_first: Some(other_nonce),
            ..Default::default()
        },
        &config(SaslMethod::ScramSha256, "alice", "secret"),
    );
    assert!(matches!(
        result.unwrap_err(),
        LoginError::Scram(ScramError::NonceMismatch)
    ));

    let (result, _) = login_to(
        BrokerScript {
            iterations: 1000,
            ..Default::default()
        },
        &config(SaslMethod::ScramSha256, "alice", "secret"),
    );
    assert!(matches!(
        result.unwrap_err(),
        LoginError::Scram(ScramError::Iterations(1000))
    ));
}

#[test]
fn login_times_out_on_a_silent_broker() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut stream: Stream =
        crate::net::stream::plain(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
    let started = Instant::now();
    let result = login(
        &mut stream,
        &config(SaslMethod::Plain, "alice", "secret"),
        "kafka-proxy",
        Duration::from_millis(300),
        1 << 20,
    );
    assert!(matches!(result, Err(LoginError::Timeout(_))));
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(listener);
}

#[test]
fn oversized_or_garbage_frames_are_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        // 2 GiB announced.
        s.write_all(&[0x7f, 0xff, 0xff, 0xff]).unwrap();
        thread::sleep(Duration::from_millis(200));
    });
    let mut stream: Stream = crate::net::stream::plain(TcpStream::connect(addr).unwrap());
    let result = login(
        &mut stream,
        &config(SaslMethod::Plain, "alice", "secret"),
        "kafka-proxy",
        Duration::from_secs(5),
        100 << 20,
    );
    assert!(matches!(result, Err(LoginError::BadFrameSize(0x7fff_ffff))));
    server.join().unwrap();
}

/// A [`BrokerExchange`] over an in-memory list of scripted answers.
struct Recorded {
    sent: Vec<(ApiKey, i16, Vec<u8>)>,
    answers: Vec<Vec<u8>>,
}

impl BrokerExchange for Recorded {
    fn round_trip(
        &mut self,
        api_key: ApiKey,
        api_version: i16,
        body: &[u8],
    ) -> Result<Vec<u8>, LoginError> {
        self.sent.push((api_key, api_version, body.to_vec()));
        if self.answers.is_empty() {
            return Err(LoginError::Closed("in the test"));
        }
        Ok(self.answers.remove(0))
    }
}

#[test]
fn reauthentication_repeats_handshake_and_authenticate() {
    let mut handshake_ok = Vec::new();
    SaslHandshakeResponse {
        error_code: 0,
        mechanisms: vec!["PLAIN"],
    }
    .encode(1, &mut handshake_ok);
    let mut authenticated = Vec::new();
    SaslAuthenticateResponse {
        error_code: 0,
        error_message: None,
        auth_bytes: &[],
        session_lifetime_ms: 1500,
        tagged: &[],
    }
    .encode(1, &mut authenticated);
    let mut exchange = Recorded {
        sent: Vec::new(),
        answers: vec![handshake_ok, authenticated],
    };
    let old = Session {
        mechanism: "PLAIN",
        authenticate_version: Some(1),
        lifetime: Some(Duration::from_millis(1000)),
        authenticated_at: Instant::now(),
    };
    let config = config(SaslMethod::Plain, "alice", "secret");
    let new = reauthenticate(&mut exchange, &config, &old).unwrap();
    assert_eq!(new.lifetime, Some(Duration::from_millis(1500)));
    assert_eq!(new.authenticate_version, Some(1));
    assert_eq!(exchange.sent.len(), 2);
    assert_eq!(exchange.sent[0].0, ApiKey::SASL_HANDSHAKE);
    assert_eq!(exchange.sent[0].1, 1);
    assert_eq!(exchange.sent[1].0, ApiKey::SASL_AUTHENTICATE);
    let request = SaslAuthenticateRequest::decode(1, &exchange.sent[1].2).unwrap();
    assert_eq!(request.auth_bytes, b"\0alice\0secret");

    // tansu 0.6 answers a second SaslHandshake so.
    let mut refusing = Vec::new();
    SaslHandshakeResponse {
        error_code: UNSUPPORTED_SASL_MECHANISM,
        mechanisms: vec!["PLAIN"],
    }
    .encode(1, &mut refusing);
    exchange.answers = vec![refusing];
    assert_eq!(
        reauthenticate(&mut exchange, &config, &old)
            .unwrap_err()
            .to_string(),
        "broker answered SaslHandshake with 33 UNSUPPORTED_SASL_MECHANISM although it lists \
         PLAIN as enabled, as brokers that cannot re-authenticate a session (KIP-368) do"
    );

    let legacy = Session {
        authenticate_version: None,
        ..old
    };
    assert!(matches!(
        reauthenticate(&mut exchange, &config, &legacy),
        Err(LoginError::CannotReauthenticate)
    ));
}

#[test]
fn reauthentication_schedule() {
    let at = Instant::now();
    let session = Session {
        mechanism: "PLAIN",
        authenticate_version: Some(2),
        lifetime: Some(Duration::from_millis(1500)),
        authenticated_at: at,
    };
    let wake = session.wake_interval().unwrap();
    assert_eq!(wake, Duration::from_millis(75));
    assert_eq!(
        session.reauthenticate_at(wake),
        Some(at + Duration::from_millis(1275))
    );
    // A pump that wakes rarely re-authenticates earlier.
    assert_eq!(
        session.reauthenticate_at(Duration::from_millis(500)),
        Some(at + Duration::from_millis(500))
    );
    let never = Session {
        lifetime: None,
        ..session.clone()
    };
    assert_eq!(never.reauthenticate_at(wake), None);
    assert_eq!(never.wake_interval(), None);
    let tiny = Session {
        lifetime: Some(Duration::from_millis(20)),
        ..session
    };
    assert_eq!(tiny.wake_interval(), Some(MIN_WAKE_INTERVAL));
}

#[test]
fn request_frames() {
    let mut out = Vec::new();
    encode_request(ApiKey::SASL_AUTHENTICATE, 2, 7, "kp", &[1, 2], &mut out);
    // size, key 36, v2, correlation 7, client id "kp", header tags, body.
    assert_eq!(
        out,
        [0, 0, 0, 15, 0, 36, 0, 2, 0, 0, 0, 7, 0, 2, b'k', b'p', 0, 1, 2]
    );
    let mut frame = vec![0, 0, 0, 7, 0, 9, 9];
    assert_eq!(
        response_body(ApiKey::SASL_AUTHENTICATE, 2, 7, frame.clone()).unwrap(),
        [9, 9]
    );
    frame[3] = 8;
    assert!(matches!(
        response_body(ApiKey::SASL_AUTHENTICATE, 2, 7, frame),
        Err(LoginError::CorrelationMismatch {
            expected: 7,
            got: 8
        })
    ));
    assert!(response_body(ApiKey::SASL_AUTHENTICATE, 2, 7, vec![0, 0]).is_err());
}

/// Decodes a synthesized response frame: (correlation id, body after the header).
fn split_response(api_key: ApiKey, version: i16, frame: &[u8]) -> (i32, Vec<u8>) {
    let size = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    assert_eq!(size, frame.len() - 4);
    let correlation = Reader::new(&frame[4..]).i32("c").unwrap();
    let offset = header::response_body_offset(api_key, version, &frame[4..]).unwrap();
    (correlation, frame[4 + offset..].to_vec())
}

#[test]
fn client_sasl_plain_is_accepted_without_checking() {
    for version in HANDSHAKE_VERSIONS {
        let mut body = Vec::new();
        Writer::new(&mut body).string_flex(false, "PLAIN");
        let answer = answer_client_sasl(ApiKey::SASL_HANDSHAKE, version, 42, &body, false).unwrap();
        let ClientSaslAnswer::Accept {
            response,
            legacy_token,
            claimed,
        } = answer
        else {
            panic!("refused")
        };
        assert_eq!(legacy_token, version == 0);
        assert_eq!(claimed, None);
        let (correlation, body) = split_response(ApiKey::SASL_HANDSHAKE, version, &response);
        assert_eq!(correlation, 42);
        let decoded = SaslHandshakeResponse::decode(version, &body).unwrap();
        assert_eq!(decoded.error_code, 0);
    }
    for version in AUTHENTICATE_VERSIONS {
        let mut body = Vec::new();
        SaslAuthenticateRequest {
            auth_bytes: b"\0anyone\0anything",
            tagged: &[],
        }
        .encode(version, &mut body);
        let answer =
            answer_client_sasl(ApiKey::SASL_AUTHENTICATE, version, 43, &body, true).unwrap();
        let ClientSaslAnswer::Accept {
            response, claimed, ..
        } = answer
        else {
            panic!("refused")
        };
        assert_eq!(claimed.as_deref(), Some("anyone"));
        let (correlation, body) = split_response(ApiKey::SASL_AUTHENTICATE, version, &response);
        assert_eq!(correlation, 43);
        let decoded = SaslAuthenticateResponse::decode(version, &body).unwrap();
        assert_eq!(decoded.error_code, 0);
        assert_eq!(decoded.auth_bytes, b"");
        assert_eq!(decoded.session_lifetime_ms, 0);
    }
}

/// The user a client claims is named in the log (cut, control characters replaced); its
/// password or token never is.
#[test]
fn claimed_user_names_the_user_only() {
    assert_eq!(claimed_user(b"\0alice\0secret").as_deref(), Some("alice"));
    assert_eq!(
        claimed_user(b"admin\0alice\0secret").as_deref(),
        Some("alice")
    );
    assert_eq!(
        claimed_user(b"n,a=bob,\x01auth=Bearer eyJ\x01\x01").as_deref(),
        Some("bob")
    );
    assert_eq!(claimed_user(b"n,,\x01auth=Bearer eyJ\x01\x01"), None);
    assert_eq!(claimed_user(b"\0\0secret"), None);
    assert_eq!(claimed_user(b"no separators"), None);
    assert_eq!(claimed_user(b"\0ev\nil\0pw").as_deref(), Some("ev\\nil"));
    let long = [&b"\0"[..], &[b'x'; 1000], b"\0pw"].concat();
    assert_eq!(
        claimed_user(&long).map(|u| u.chars().count()),
        Some(crate::logging::PEER_TEXT_MAX + 1)
    );
    assert!(!claimed_user(b"\0alice\0secret").unwrap().contains("secret"));
}

#[test]
fn fuzz_entry_point_on_samples() {
    let mut handshake = vec![0, 0];
    Writer::new(&mut handshake).string_flex(false, "PLAIN");
    let mut authenticate = vec![5, 1];
    SaslAuthenticateRequest {
        auth_bytes: b"\0u\0p",
        tagged: &[],
    }
    .encode(2, &mut authenticate);
    for sample in [handshake, authenticate, vec![9, 0, 0xff, 0xff], vec![1]] {
        for pick in 0..=u8::MAX {
            let mut data = sample.clone();
            data[0] = pick;
            for cut in 0..=data.len() {
                fuzz_client_sasl(&data[..cut]);
            }
        }
    }
}

#[test]
fn client_sasl_scram_is_refused_clearly() {
    let mut body = Vec::new();
    Writer::new(&mut body).string_flex(false, "SCRAM-SHA-512");
    let answer = answer_client_sasl(ApiKey::SASL_HANDSHAKE, 1, 5, &body, false).unwrap();
    let ClientSaslAnswer::Refuse { response, reason } = answer else {
        panic!("accepted")
    };
    let (_, body) = split_response(ApiKey::SASL_HANDSHAKE, 1, &response);
    let decoded = SaslHandshakeResponse::decode(1, &body).unwrap();
    assert_eq!(decoded.error_code, UNSUPPORTED_SASL_MECHANISM);
    assert_eq!(decoded.mechanisms, CLIENT_MECHANISMS);
    assert!(reason.contains("\"SCRAM-SHA-512\""), "{reason}");
    assert!(reason.contains("--sasl-enable"), "{reason}");

    // SaslAuthenticate before any handshake.
    let mut body = Vec::new();
    SaslAuthenticateRequest {
        auth_bytes: b"x",
        tagged: &[],
    }
    .encode(2, &mut body);
    let answer = answer_client_sasl(ApiKey::SASL_AUTHENTICATE, 2, 6, &body, false).unwrap();
    assert!(matches!(answer, ClientSaslAnswer::Refuse { .. }));
    // Malformed requests and versions the codec does not know are errors, not panics.
    assert!(answer_client_sasl(ApiKey::SASL_HANDSHAKE, 1, 5, &[0, 9], false).is_err());
    assert!(answer_client_sasl(ApiKey::SASL_AUTHENTICATE, 3, 5, &[1, 0], true).is_err());
}
