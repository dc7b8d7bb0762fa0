//! The server side of SASL/OAUTHBEARER (RFC 7628), for local authentication: the client's
//! first message parsed strictly and within bounds, and the error challenge a server sends
//! when it refuses the token, as Kafka's `OAuthBearerSaslServer` does.
//!
//! The exchange: the client sends `gs2-header \x01 auth=Bearer <token> \x01 [key=value \x01]*
//! \x01`. Accepted: the server answers with an empty challenge and the exchange is done.
//! Refused: the server answers with [`INVALID_TOKEN`], the client sends a single `\x01`, and the
//! server fails the exchange (Kafka: SASL_AUTHENTICATION_FAILED).

use super::MAX_TOKEN;

/// The error challenge for a refused token (RFC 7628 section 3.2.2), as Kafka words it.
pub const INVALID_TOKEN: &[u8] = br#"{"status":"invalid_token"}"#;
/// What the client answers an error challenge with.
pub const ERROR_ACK: &[u8] = b"\x01";
/// The longest first message read: the token and room for the header and a few extensions.
pub const MAX_CLIENT_FIRST: usize = MAX_TOKEN + 4096;
/// The most key-value pairs (the `auth` one and extensions) in a first message.
pub const MAX_PAIRS: usize = 16;

/// A client's first message: the authorization identity it asks for (if any) and its token.
/// Extensions (other key-value pairs) are checked for form and ignored.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientFirst {
    pub authzid: Option<String>,
    pub token: String,
}

impl std::fmt::Debug for ClientFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientFirst(authzid {:?}, token ***)", self.authzid)
    }
}

/// Whether `s` is an RFC 6750 b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
/// "/" ) *"="`.
pub fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// An RFC 5802 saslname: `=2C` and `=3D` stand for `,` and `=`; other `=` and NUL are invalid.
fn saslname(raw: &[u8]) -> Result<String, &'static str> {
    let text = std::str::from_utf8(raw).map_err(|_| "authorization identity is not UTF-8")?;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        out.push(match rest.get(i..i + 3) {
            Some("=2C") => ',',
            Some("=3D") => '=',
            _ => return Err("bad escape in the authorization identity"),
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.is_empty() || out.chars().any(char::is_control) {
        return Err("empty authorization identity, or control characters in it");
    }
    Ok(out)
}

/// The gs2 header, `n,` or `y,` then `[a=saslname],`; the authorization identity.
fn gs2_header(header: &[u8]) -> Result<Option<String>, &'static str> {
    let rest = match header {
        [b'n' | b'y', b',', rest @ ..] => rest,
        [b'p', b'=', ..] => return Err("channel binding is not supported"),
        _ => return Err("bad GS2 header (expected \"n,\" or \"y,\")"),
    };
    let Some(authzid) = rest.strip_suffix(b",") else {
        return Err("bad GS2 header (expected a comma after the authorization identity)");
    };
    match authzid {
        [] => Ok(None),
        [b'a', b'=', name @ ..] if !name.contains(&b',') => saslname(name).map(Some),
        _ => Err("bad authorization identity in the GS2 header"),
    }
}

/// One `key=value` pair: key `1*ALPHA`, value `*(VCHAR / SP / HTAB / CR / LF)`.
fn pair(raw: &[u8]) -> Result<(&str, &str), &'static str> {
    let eq = raw
        .iter()
        .position(|&b| b == b'=')
        .ok_or("a key-value pair without \"=\"")?;
    let (key, value) = (&raw[..eq], &raw[eq + 1..]);
    if key.is_empty() || !key.iter().all(u8::is_ascii_alphabetic) {
        return Err("a key that is not letters");
    }
    if !value
        .iter()
        .all(|&b| b.is_ascii_graphic() || b" \t\r\n".contains(&b))
    {
        return Err("a value with characters RFC 7628 does not allow");
    }
    // Both are ASCII by the checks above.
    let text = |b| std::str::from_utf8(b).unwrap_or_default();
    Ok((text(key), text(value)))
}

/// The bearer token of an `auth` value, `Bearer 1*SP b64token` (the scheme in any case).
fn bearer(value: &str) -> Result<&str, &'static str> {
    let (scheme, token) = value
        .split_once(' ')
        .ok_or("the auth value is not \"Bearer <token>\"")?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("the auth scheme is not Bearer");
    }
    let token = token.trim_start_matches(' ');
    if token.len() > MAX_TOKEN {
        return Err("the token is longer than 64 KiB");
    }
    if !is_b64token(token) {
        return Err("the token is not an RFC 6750 b64token");
    }
    Ok(token)
}

/// Parses a client's first OAUTHBEARER message. `Err` says why it is malformed (never with the
/// token).
pub fn parse_client_first(message: &[u8]) -> Result<ClientFirst, &'static str> {
    if message.len() > MAX_CLIENT_FIRST {
        return Err("the message is too long");
    }
    let sep = message
        .iter()
        .position(|&b| b == 1)
        .ok_or("no \\x01 after the GS2 header")?;
    let authzid = gs2_header(&message[..sep])?;
    let Some(pairs) = message[sep + 1..].strip_suffix(b"\x01\x01") else {
        return Err("the message does not end with \\x01\\x01");
    };
    let mut keys: Vec<&str> = Vec::new();
    let mut token = None;
    for raw in pairs.split(|&b| b == 1) {
        let (key, value) = pair(raw)?;
        if keys.contains(&key) {
            return Err("a key given twice");
        }
        if keys.len() == MAX_PAIRS {
            return Err("too many key-value pairs");
        }
        keys.push(key);
        if key == "auth" {
            token = Some(bearer(value)?);
        }
    }
    let token = token.ok_or("no auth key")?;
    Ok(ClientFirst {
        authzid,
        token: token.to_string(),
    })
}

/// For the fuzz target: a first message that parses has a b64token within bounds, and the
/// message Kafka's client would send for that token parses to the same token.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_client_first(data: &[u8]) {
    let Ok(first) = parse_client_first(data) else {
        return;
    };
    assert!(is_b64token(&first.token) && first.token.len() <= MAX_TOKEN);
    let again = super::client_first_message(&first.token).expect("a parsed token can be sent");
    let reparsed = parse_client_first(&again).expect("Kafka's form parses");
    assert_eq!(reparsed.token, first.token);
    assert_eq!(reparsed.authzid, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(m: &[u8]) -> ClientFirst {
        parse_client_first(m).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(m)))
    }

    #[test]
    fn what_clients_send() {
        let first = ok(b"n,,\x01auth=Bearer eyJh.eyJz.c2ln\x01\x01");
        assert_eq!(first.token, "eyJh.eyJz.c2ln");
        assert_eq!(first.authzid, None);
        // librdkafka and Kafka with an authzid and extensions; the scheme in any case.
        let first = ok(b"n,a=alice,\x01host=h\x01port=9092\x01auth=bearer  abc==\x01\x01");
        assert_eq!(first.token, "abc==");
        assert_eq!(first.authzid.as_deref(), Some("alice"));
        assert_eq!(
            ok(b"y,a=a=2Cb=3Dc,\x01auth=Bearer t\x01\x01")
                .authzid
                .as_deref(),
            Some("a,b=c")
        );
        assert!(format!("{first:?}").contains("***"));
        assert!(!format!("{first:?}").contains("abc"));
        fuzz_client_first(b"n,,\x01auth=Bearer eyJh.eyJz.c2ln\x01\x01");
    }

    #[test]
    fn malformed_messages_are_refused() {
        for (bad, why) in [
            (&b""[..], "\\x01"),
            (b"n,,", "\\x01"),
            (b"n,,\x01\x01", "end with"),
            (b"n,,\x01auth=Bearer abc\x01", "end with"),
            (b"n,,\x01\x01\x01", "without"),
            (b"x,,\x01auth=Bearer abc\x01\x01", "GS2"),
            (
                b"p=tls-unique,,\x01auth=Bearer abc\x01\x01",
                "channel binding",
            ),
            (b"n,\x01auth=Bearer abc\x01\x01", "comma"),
            (
                b"n,b=x,\x01auth=Bearer abc\x01\x01",
                "authorization identity",
            ),
            (b"n,a=,\x01auth=Bearer abc\x01\x01", "empty"),
            (b"n,a=x=41,\x01auth=Bearer abc\x01\x01", "escape"),
            (b"n,a=\xff,\x01auth=Bearer abc\x01\x01", "UTF-8"),
            (b"n,,\x01host=h\x01\x01", "no auth"),
            (b"n,,\x01auth=Basic abc\x01\x01", "not Bearer"),
            (b"n,,\x01auth=Bearerabc\x01\x01", "not \"Bearer"),
            (b"n,,\x01auth=Bearer \x01\x01", "b64token"),
            (b"n,,\x01auth=Bearer a b\x01\x01", "b64token"),
            (b"n,,\x01auth=Bearer a\x01auth=Bearer b\x01\x01", "twice"),
            (b"n,,\x01a1=x\x01auth=Bearer a\x01\x01", "letters"),
            (b"n,,\x01k=\x00\x01auth=Bearer a\x01\x01", "characters"),
        ] {
            let err = parse_client_first(bad).unwrap_err();
            assert!(
                err.contains(why),
                "{:?}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
        let extensions: String = (0..MAX_PAIRS)
            .map(|i| format!("k{}=v\x01", char::from(b'a' + i as u8)))
            .collect();
        let many = format!("n,,\x01{extensions}auth=Bearer a\x01\x01").into_bytes();
        assert_eq!(parse_client_first(&many), Err("too many key-value pairs"));
        let long = [
            &b"n,,\x01auth=Bearer "[..],
            &vec![b'a'; MAX_TOKEN + 1],
            b"\x01\x01",
        ]
        .concat();
        assert!(parse_client_first(&long).is_err());
        let huge = vec![b'a'; MAX_CLIENT_FIRST + 1];
        assert_eq!(parse_client_first(&huge), Err("the message is too long"));
    }
}
