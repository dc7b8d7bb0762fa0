use super::*;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;

fn credentials(url: &str) -> Credentials {
    Credentials {
        client_id: "proxy client".into(),
        client_secret: "s3cr:t&".into(),
        token_url: url.into(),
        scopes: vec!["kafka".into(), "read".into()],
        grant_type: None,
    }
}

#[test]
fn request_encoding() {
    let c = credentials("http://x/token");
    // "proxy+client:s3cr%3At%26" -> form-encoded id and secret, then base64.
    assert_eq!(
        basic_auth(&c),
        format!("Basic {}", STANDARD.encode("proxy%20client:s3cr%3At%26"))
    );
    assert_eq!(
        token_form(&c, Some("kafka-broker")),
        vec![
            ("grant_type", "client_credentials".to_string()),
            ("scope", "kafka read".to_string()),
            ("audience", "kafka-broker".to_string()),
        ]
    );
    let none = Credentials {
        scopes: vec![],
        ..credentials("u")
    };
    assert_eq!(token_form(&none, None).len(), 1);
}

#[test]
fn token_responses() {
    let ok = br#"{"access_token":"eyJ.x.y","token_type":"Bearer","expires_in":300}"#;
    assert_eq!(
        parse_token_response(200, ok),
        Ok(("eyJ.x.y".to_string(), Some(300)))
    );
    let string_expiry = br#"{"access_token":"t","expires_in":"60"}"#;
    assert_eq!(
        parse_token_response(200, string_expiry),
        Ok(("t".to_string(), Some(60)))
    );
    assert_eq!(
        parse_token_response(200, br#"{"access_token":"t"}"#),
        Ok(("t".to_string(), None))
    );
    let err = parse_token_response(
        401,
        br#"{"error":"invalid_client","error_description":"bad secret"}"#,
    )
    .unwrap_err();
    assert_eq!(err, "HTTP 401: invalid_client (bad secret)");
    let err = parse_token_response(500, b"<html>oops</html>").unwrap_err();
    assert!(err.starts_with("HTTP 500: \"<html>oops"), "{err}");
    for (body, why) in [
        (&b"{not json"[..], "not a JSON object"),
        (b"[1]", "not a JSON object"),
        (b"{}", "no access_token"),
        (br#"{"access_token":""}"#, "no access_token"),
        (br#"{"access_token":"t","token_type":"mac"}"#, "not Bearer"),
        (br#"{"access_token":"t","expires_in":-1}"#, "not positive"),
        (
            br#"{"access_token":"t","expires_in":"soon"}"#,
            "bad expires_in",
        ),
    ] {
        let err = parse_token_response(200, body).unwrap_err();
        assert!(err.contains(why), "{err}");
    }
    fuzz_token_response(b"\x00\x64{\"access_token\":\"t\"}");
    fuzz_token_response(b"");
}

/// A token endpoint answering each request with `status` and `body`; the request heads and
/// bodies go to the returned channel.
fn endpoint(status: u16, body: &'static str) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                request.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut form = vec![0u8; length];
            reader.read_exact(&mut form).unwrap();
            request.push_str(&String::from_utf8_lossy(&form));
            let _ = tx.send(request);
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (url, rx)
}

fn provider_for(url: &str) -> Provider {
    Provider {
        path: String::new(),
        watch: false,
        credentials: credentials(url),
        audience: None,
        agent: ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into(),
    }
}

#[test]
fn tokens_from_an_endpoint_and_its_errors() {
    let (url, requests) = endpoint(
        200,
        r#"{"access_token":"abc.def.ghi","token_type":"bearer","expires_in":120}"#,
    );
    let mut p = provider_for(&url);
    assert_eq!(p.token().unwrap(), ("abc.def.ghi".to_string(), Some(120)));
    let request = requests.recv().unwrap();
    assert!(request.starts_with("POST /token "), "{request}");
    assert!(request.contains(&basic_auth(&p.credentials)), "{request}");
    assert!(
        request.ends_with("grant_type=client_credentials&scope=kafka+read")
            || request.ends_with("grant_type=client_credentials&scope=kafka%20read"),
        "{request}"
    );

    let (url, _r) = endpoint(401, r#"{"error":"invalid_client"}"#);
    let err = provider_for(&url).token().unwrap_err();
    assert!(err.contains("HTTP 401: invalid_client"), "{err}");
    assert!(!err.contains("s3cr"), "{err}");

    let (url, _r) = endpoint(200, "{\"access_token\":");
    let err = provider_for(&url).token().unwrap_err();
    assert!(err.contains("not a JSON object"), "{err}");

    // Nothing listens: the endpoint is down.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = provider_for(&format!("http://127.0.0.1:{port}/token"))
        .token()
        .unwrap_err();
    assert!(err.starts_with("token endpoint http://127.0.0.1:"), "{err}");
}

#[test]
fn credentials_files() {
    let dir = std::env::temp_dir().join(format!("oidc-creds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let good = file(
        "good.json",
        r#"{"client_id":"c","client_secret":"s","token_url":"http://x","scopes":["a"]}"#,
    );
    assert_eq!(read_credentials(&good).unwrap().scopes, ["a"]);
    let pw = file(
        "pw.json",
        r#"{"grant_type":"password","client_id":"c","client_secret":"s","token_url":"u"}"#,
    );
    assert!(read_credentials(&pw)
        .unwrap_err()
        .contains("only client_credentials"));
    let bad = file("bad.json", "{");
    assert!(read_credentials(&bad)
        .unwrap_err()
        .contains("not a credentials file"));
    assert!(read_credentials("/does/not/exist").is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
