//! AWS Signature Version 4 (SigV4): the canonical request, the string to sign, the signing
//! key and the signature, with ring's SHA-256 and HMAC-SHA256. Used two ways: query-string
//! presigning (the AWS_MSK_IAM payload, STS calls) through [`presign_query`], and the pieces
//! themselves (tested against AWS's published examples).
//!
//! Never logged: the secret key, the signing key, the signature.

use ring::{digest, hmac};

/// SHA-256 of an empty body, the payload hash of a GET.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

/// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters kept, everything else
/// `%XX` (upper-case hex); `/` too.
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string: names and values encoded, sorted by name then value.
pub fn canonical_query(params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The scope of a signature: `date/region/service/aws4_request`.
pub fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

/// The canonical request. `headers` are (lower-case name, trimmed value), sorted by name.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    payload_hash: &str,
) -> String {
    let mut out = format!("{method}\n{path}\n{query}\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}:{}\n", value.trim()));
    }
    out.push('\n');
    out.push_str(&signed_headers(headers));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

pub fn signed_headers(headers: &[(&str, &str)]) -> String {
    headers
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(";")
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The hex signature of `string_to_sign` with the key derived from `secret`.
pub fn signature(secret: &str, date: &str, region: &str, service: &str, to_sign: &str) -> String {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex(&hmac(&k_signing, to_sign.as_bytes()))
}

/// What query-string presigning needs.
pub struct Presign<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    pub service: &'a str,
    /// The `host` header value: the host name (and port, when not the default) dialled.
    pub host: &'a str,
    /// `yyyyMMdd'T'HHmmss'Z'`.
    pub amz_date: &'a str,
    pub expires_secs: u64,
}

/// Presigns `GET /?params` (SigV4 query parameters, `host` the only signed header, empty
/// payload): returns every query parameter, the X-Amz-* ones and X-Amz-Signature included.
pub fn presign_query(p: &Presign<'_>, params: &[(&str, &str)]) -> Vec<(String, String)> {
    let date = p.amz_date.get(..8).unwrap_or(p.amz_date);
    let scope = scope(date, p.region, p.service);
    let mut all: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.push(("X-Amz-Algorithm".into(), ALGORITHM.into()));
    all.push((
        "X-Amz-Credential".into(),
        format!("{}/{scope}", p.access_key_id),
    ));
    all.push(("X-Amz-Date".into(), p.amz_date.into()));
    all.push(("X-Amz-Expires".into(), p.expires_secs.to_string()));
    if let Some(token) = p.session_token {
        all.push(("X-Amz-Security-Token".into(), token.into()));
    }
    all.push(("X-Amz-SignedHeaders".into(), "host".into()));
    let request = canonical_request(
        "GET",
        "/",
        &canonical_query(&all),
        &[("host", p.host)],
        EMPTY_SHA256,
    );
    let to_sign = string_to_sign(p.amz_date, &scope, &request);
    let sig = signature(p.secret, date, p.region, p.service, &to_sign);
    all.push(("X-Amz-Signature".into(), sig));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// AWS's published SigV4 example (IAM ListUsers; "Signature Version 4 signing process",
    /// AWS General Reference, tasks 1-4): canonical request hash, string to sign, signature.
    #[test]
    fn iam_list_users_example() {
        let query = canonical_query(&[
            ("Action".into(), "ListUsers".into()),
            ("Version".into(), "2010-05-08".into()),
        ]);
        assert_eq!(query, "Action=ListUsers&Version=2010-05-08");
        let headers = [
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("host", "iam.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ];
        let request = canonical_request("GET", "/", &query, &headers, EMPTY_SHA256);
        assert_eq!(
            sha256_hex(request.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let to_sign = string_to_sign(
            "20150830T123600Z",
            &scope("20150830", "us-east-1", "iam"),
            &request,
        );
        assert_eq!(
            to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
             f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            signature(SECRET, "20150830", "us-east-1", "iam", &to_sign),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    /// aws-sig-v4-test-suite "get-vanilla" (AKIDEXAMPLE, example.amazonaws.com, service
    /// `service`, 20150830T123600Z), from AWS's published SigV4 test suite.
    #[test]
    fn get_vanilla() {
        let headers = [
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ];
        let request = canonical_request("GET", "/", "", &headers, EMPTY_SHA256);
        assert_eq!(
            request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             host;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let to_sign = string_to_sign(
            "20150830T123600Z",
            &scope("20150830", "us-east-1", "service"),
            &request,
        );
        assert_eq!(
            signature(SECRET, "20150830", "us-east-1", "service", &to_sign),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(uri_encode("a b/c:d~e"), "a%20b%2Fc%3Ad~e");
        assert_eq!(
            canonical_query(&[("b".into(), "2".into()), ("a".into(), "1".into())]),
            "a=1&b=2"
        );
    }
}
