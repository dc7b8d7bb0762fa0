use super::*;

/// Runs a whole exchange against recorded server messages; returns the client's messages.
fn exchange(
    hash: ScramHash,
    nonce: &str,
    server_first: &str,
    server_final: &str,
) -> (String, String, Result<(), ScramError>) {
    let mut client = ScramClient::with_nonce(hash, "user", "pencil", nonce);
    let first = String::from_utf8(client.client_first().unwrap()).unwrap();
    let last = String::from_utf8(client.client_final(server_first.as_bytes()).unwrap()).unwrap();
    let verdict = client.verify_server_final(server_final.as_bytes());
    (first, last, verdict)
}

const RFC7677_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const RFC7677_SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                    s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC7677_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/// RFC 7677 section 3: SCRAM-SHA-256, user "user", password "pencil".
#[test]
fn rfc7677_sha256_vector() {
    let (first, last, verdict) = exchange(
        ScramHash::Sha256,
        RFC7677_NONCE,
        RFC7677_SERVER_FIRST,
        RFC7677_SERVER_FINAL,
    );
    assert_eq!(first, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    assert_eq!(
        last,
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    assert_eq!(verdict, Ok(()));
}

/// RFC 5802 section 5: the same algorithm over SHA-1.
#[test]
fn rfc5802_sha1_vector() {
    let (first, last, verdict) = exchange(
        ScramHash::Sha1,
        "fyko+d2lbbFgONRv9qkxdawL",
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
        "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
    );
    assert_eq!(first, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    assert_eq!(
        last,
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    );
    assert_eq!(verdict, Ok(()));
}

/// SHA-512 has no RFC vector: check it against a server computed independently here,
/// from the RFC 5802 formulas.
#[test]
fn sha512_against_independent_server() {
    let salt = b"0123456789abcdef";
    let mut client = ScramClient::new(ScramHash::Sha512, "alice", "secret").unwrap();
    let first = String::from_utf8(client.client_first().unwrap()).unwrap();
    let client_nonce = first.strip_prefix("n,,n=alice,r=").unwrap();
    assert_eq!(client_nonce.len(), 32);
    let server_first = format!("r={client_nonce}SERVER,s={},i=4096", STANDARD.encode(salt));
    let last = String::from_utf8(client.client_final(server_first.as_bytes()).unwrap()).unwrap();

    // The server side of RFC 5802 section 3.
    let mut salted = [0u8; 64];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA512,
        NonZeroU32::new(4096).unwrap(),
        salt,
        b"secret",
        &mut salted,
    );
    let salted = hmac::Key::new(hmac::HMAC_SHA512, &salted);
    let client_key = hmac::sign(&salted, b"Client Key");
    let stored_key = digest::digest(&digest::SHA512, client_key.as_ref());
    let (without_proof, proof) = last.rsplit_once(",p=").unwrap();
    let auth_message = format!("n=alice,r={client_nonce},{server_first},{without_proof}");
    let signature = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA512, stored_key.as_ref()),
        auth_message.as_bytes(),
    );
    let proof = STANDARD.decode(proof).unwrap();
    let recovered: Vec<u8> = proof
        .iter()
        .zip(signature.as_ref())
        .map(|(p, s)| p ^ s)
        .collect();
    assert_eq!(
        digest::digest(&digest::SHA512, &recovered).as_ref(),
        stored_key.as_ref(),
        "the proof must prove the password"
    );
    let server_key = hmac::sign(&salted, b"Server Key");
    let server_signature = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA512, server_key.as_ref()),
        auth_message.as_bytes(),
    );
    let server_final = format!("v={}", STANDARD.encode(server_signature.as_ref()));
    assert!(!client.is_done());
    client.verify_server_final(server_final.as_bytes()).unwrap();
    assert!(client.is_done());
}

#[test]
fn tampered_server_signature_is_refused() {
    // One character changed in the RFC 7677 signature.
    let tampered = "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    let (_, _, verdict) = exchange(
        ScramHash::Sha256,
        RFC7677_NONCE,
        RFC7677_SERVER_FIRST,
        tampered,
    );
    assert_eq!(verdict, Err(ScramError::BadServerSignature));
    // A signature of the wrong length.
    let (_, _, verdict) = exchange(
        ScramHash::Sha256,
        RFC7677_NONCE,
        RFC7677_SERVER_FIRST,
        "v=AAAA",
    );
    assert_eq!(verdict, Err(ScramError::BadServerSignature));
    // The right signature for another password: the client used "pencil".
    let mut client = ScramClient::with_nonce(ScramHash::Sha256, "user", "pen", RFC7677_NONCE);
    client.client_first().unwrap();
    client
        .client_final(RFC7677_SERVER_FIRST.as_bytes())
        .unwrap();
    assert_eq!(
        client.verify_server_final(RFC7677_SERVER_FINAL.as_bytes()),
        Err(ScramError::BadServerSignature)
    );
    assert!(!client.is_done());
}

#[test]
fn server_final_errors() {
    for (server_final, expected) in [
        (
            "e=invalid-proof",
            ScramError::ServerError(ServerMessage::Final, "invalid-proof".into()),
        ),
        (
            "x=1",
            ScramError::Malformed(
                ServerMessage::Final,
                "it does not start with v= (the server signature)",
            ),
        ),
        (
            "v=***",
            ScramError::Malformed(ServerMessage::Final, "the server signature is not base64"),
        ),
        (
            "",
            ScramError::Malformed(
                ServerMessage::Final,
                "it does not start with v= (the server signature)",
            ),
        ),
    ] {
        let (_, _, verdict) = exchange(
            ScramHash::Sha256,
            RFC7677_NONCE,
            RFC7677_SERVER_FIRST,
            server_final,
        );
        assert_eq!(verdict, Err(expected), "{server_final:?}");
    }
}

fn first_error(server_first: &[u8]) -> ScramError {
    let mut client = ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "abc");
    client.client_first().unwrap();
    let err = client.client_final(server_first).unwrap_err();
    // A failed exchange accepts nothing more.
    assert!(client.verify_server_final(b"v=AAAA").is_err());
    err
}

#[test]
fn malformed_server_first() {
    use ScramError::*;
    use ServerMessage::First;
    let cases: &[(&[u8], ScramError)] = &[
        (
            b"",
            Malformed(First, "it does not start with r= (the nonce)"),
        ),
        (
            b"s=AAAA,i=4096",
            Malformed(First, "it does not start with r= (the nonce)"),
        ),
        (b"r=xyz1,s=AAAA,i=4096", NonceMismatch),
        (b"r=abc,s=AAAA,i=4096", NonceMismatch),
        (b"r=ab,s=AAAA,i=4096", NonceMismatch),
        (
            b"r=abc1",
            Malformed(First, "the second attribute is not s= (the salt)"),
        ),
        (
            b"r=abc1,i=4096,s=AAAA",
            Malformed(First, "the second attribute is not s= (the salt)"),
        ),
        (
            b"r=abc1,s=!!!,i=4096",
            Malformed(First, "the salt is not base64"),
        ),
        (b"r=abc1,s=,i=4096", Malformed(First, "the salt is empty")),
        (
            b"r=abc1,s=AAAA",
            Malformed(First, "the third attribute is not i= (the iteration count)"),
        ),
        (
            b"r=abc1,s=AAAA,i=",
            Malformed(First, "the iteration count is not a number"),
        ),
        (
            b"r=abc1,s=AAAA,i=-4096",
            Malformed(First, "the iteration count is not a number"),
        ),
        (
            b"r=abc1,s=AAAA,i=40x",
            Malformed(First, "the iteration count is not a number"),
        ),
        (b"r=abc1,s=AAAA,i=4095", Iterations(4095)),
        (b"r=abc1,s=AAAA,i=0", Iterations(0)),
        (b"r=abc1,s=AAAA,i=1000001", Iterations(1_000_001)),
        (
            b"r=abc1,s=AAAA,i=99999999999999999999999",
            Iterations(u64::MAX),
        ),
        (
            b"r=abc1,s=AAAA,i=4096,,",
            Malformed(First, "an attribute after i= is not of the form x=value"),
        ),
        (
            b"r=abc\x01,s=AAAA,i=4096",
            Malformed(First, "the nonce has characters outside printable ASCII"),
        ),
        (b"m=ext,r=abc1,s=AAAA,i=4096", MandatoryExtension),
        (
            b"e=unknown-user\n",
            ServerError(First, "unknown-user\\n".into()),
        ),
        (b"r=abc1,s=\xff,i=4096", NotUtf8(First)),
    ];
    for (message, expected) in cases {
        assert_eq!(
            &first_error(message),
            expected,
            "{:?}",
            String::from_utf8_lossy(message)
        );
    }
    let long = vec![b'r'; MAX_SERVER_MESSAGE + 1];
    assert_eq!(first_error(&long), TooLong(First, MAX_SERVER_MESSAGE + 1));
    // Extensions after i= are ignored.
    let mut client = ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "abc");
    client.client_first().unwrap();
    client
        .client_final(b"r=abc1,s=AAAA,i=4096,x=future")
        .unwrap();
}

#[test]
fn messages_out_of_order() {
    let mut client = ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "abc");
    assert!(matches!(
        client.client_final(b"r=abc1,s=AAAA,i=4096"),
        Err(ScramError::OutOfOrder(_))
    ));
    let mut client = ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "abc");
    assert!(matches!(
        client.verify_server_final(b"v=AAAA"),
        Err(ScramError::OutOfOrder(_))
    ));
    let mut client = ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "abc");
    client.client_first().unwrap();
    assert!(client.client_first().is_err());
}

#[test]
fn fuzz_entry_point_on_samples() {
    let right = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, b"fuzz server key"),
        b"fuzz auth message",
    );
    let samples: Vec<Vec<u8>> = vec![
        b"r=fuzz-nonce1,s=AAAA,i=4096".to_vec(),
        b"r=fuzz-nonce1,s=AAAA,i=4096,x=1".to_vec(),
        b"m=x,r=fuzz-nonce1".to_vec(),
        b"e=other-error".to_vec(),
        format!("v={}", STANDARD.encode(right.as_ref())).into_bytes(),
        format!("v={},x=1", STANDARD.encode(right.as_ref())).into_bytes(),
        b"v=".to_vec(),
        vec![0xff; 10],
        Vec::new(),
    ];
    for sample in &samples {
        fuzz_server_messages(sample);
        for cut in 0..sample.len() {
            fuzz_server_messages(&sample[..cut]);
        }
    }
}

#[test]
fn saslname_escaping() {
    assert_eq!(sasl_name("plain"), "plain");
    assert_eq!(sasl_name("a=b,c"), "a=3Db=2Cc");
    assert_eq!(sasl_name("=2C"), "=3D2C");
    let mut client = ScramClient::with_nonce(ScramHash::Sha512, "x,y=z", "p", "n0");
    assert_eq!(client.client_first().unwrap(), b"n,,n=x=2Cy=3Dz,r=n0");
}

#[test]
fn random_nonces_differ_and_are_safe() {
    let mut a = ScramClient::new(ScramHash::Sha256, "u", "p").unwrap();
    let mut b = ScramClient::new(ScramHash::Sha256, "u", "p").unwrap();
    let (a, b) = (a.client_first().unwrap(), b.client_first().unwrap());
    assert_ne!(a, b);
    let nonce = &a[b"n,,n=u,r=".len()..];
    assert!(nonce
        .iter()
        .all(|&c| c != b',' && (0x21..=0x7e).contains(&c)));
}

#[test]
fn debug_and_errors_never_show_the_password() {
    let mut client = ScramClient::with_nonce(ScramHash::Sha256, "user", "hunter2", RFC7677_NONCE);
    assert!(!format!("{client:?}").contains("hunter2"));
    client.client_first().unwrap();
    let last = client
        .client_final(RFC7677_SERVER_FIRST.as_bytes())
        .unwrap();
    let proof = String::from_utf8(last).unwrap();
    let proof = proof.rsplit_once("p=").unwrap().1.to_string();
    let err = client
        .verify_server_final(b"v=AAAA")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2") && !err.contains(&proof), "{err}");
}
