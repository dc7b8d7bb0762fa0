//! The subject of a client certificate, and `--proxy-listener-tls-required-client-subject`
//! rules checked against it after the TLS handshake.
//!
//! Rule syntax (grepplabs/kafka-proxy's): `s:` (exact strings) or `r:` (regular expressions),
//! then `/KEY=VALUE` for any of CN, C, L, S (or ST), O, OU. VALUE is `[v1,v2,...]` or a single
//! bare value running to the next `/`; use brackets when a value holds `/` or `,` (inside an
//! `r:` value, commas within `{...}` or nested `[...]` belong to the pattern). A key passes when
//! the certificate has exactly the listed values for that attribute: for `s:` in any order, for
//! `r:` one pattern per value in order. Unlike grepplabs, patterns match the whole value (they
//! are anchored), so `r:/CN=[client]` does not accept `client-evil`. Keys not named are not
//! checked. A certificate passes when any one of the configured rules passes.

use super::der::{self, oid, Der, DerError};

/// The attributes of a distinguished name in certificate order: (short name, value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject(pub Vec<(&'static str, String)>);

impl Subject {
    fn values(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl std::fmt::Display for Subject {
    /// `/CN=name/O=org`, as OpenSSL prints subjects; each value (the client's) made safe for a
    /// log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(empty subject)");
        }
        for (key, value) in &self.0 {
            write!(f, "/{key}={}", crate::logging::peer_text(value))?;
        }
        Ok(())
    }
}

/// A cursor over a DER certificate's TBSCertificate, placed at its subject. Works for X.509 v1
/// certificates too (no version field, no extensions), which `openssl x509 -req` makes when
/// no extensions are asked for and which Java, librdkafka and OpenSSL accept.
fn at_subject(cert: &[u8]) -> Result<Der<'_>, DerError> {
    let mut certificate = Der::new(cert).sequence("Certificate")?;
    let mut tbs = certificate.sequence("TBSCertificate")?;
    // [0] EXPLICIT version, absent for v1 certificates.
    if tbs.peek_tag() == Some(0xa0) {
        tbs.any()?;
    }
    tbs.expect(der::INTEGER, "serial number")?;
    tbs.sequence("signature algorithm")?;
    tbs.sequence("issuer")?;
    tbs.sequence("validity")?;
    Ok(tbs)
}

/// The SubjectPublicKeyInfo of a DER certificate, as its DER bytes (tag and length included).
pub fn public_key_info_of(cert: &[u8]) -> Result<&[u8], DerError> {
    let mut tbs = at_subject(cert)?;
    tbs.sequence("subject")?;
    match tbs.peek_tag() {
        Some(der::SEQUENCE) => tbs.raw(),
        _ => Err(DerError("subject public key info")),
    }
}

/// Reads the subject of a DER certificate.
pub fn subject_of(cert: &[u8]) -> Result<Subject, DerError> {
    let mut name = at_subject(cert)?.sequence("subject")?;
    let mut subject = Vec::new();
    while !name.is_empty() {
        let mut rdn = Der::new(name.expect(der::SET, "relative distinguished name")?);
        while !rdn.is_empty() {
            let mut attribute = rdn.sequence("attribute")?;
            let kind = attribute.expect(der::OID, "attribute type")?;
            let (tag, value) = attribute.any()?;
            if let Some(key) = attribute_name(kind) {
                subject.push((key, decode_string(tag, value)));
            }
        }
    }
    Ok(Subject(subject))
}

fn attribute_name(kind: &[u8]) -> Option<&'static str> {
    match kind.strip_prefix(oid::ATTRIBUTE_PREFIX)? {
        [3] => Some("CN"),
        [6] => Some("C"),
        [7] => Some("L"),
        [8] => Some("S"),
        [10] => Some("O"),
        [11] => Some("OU"),
        _ => None,
    }
}

/// Decodes the string types a name uses; anything unexpected is shown lossily, which can only
/// make a rule fail, never pass by accident.
fn decode_string(tag: u8, value: &[u8]) -> String {
    match tag {
        // BMPString: UTF-16BE.
        0x1e => {
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // TeletexString: treated as Latin-1, as most software does.
        0x14 => value.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(value).into_owned(),
    }
}

const KEYS: [&str; 6] = ["CN", "C", "L", "S", "O", "OU"];

#[derive(Debug)]
enum Expected {
    Exact(Vec<String>),
    Patterns(Vec<(String, regex_lite::Regex)>),
}

/// One parsed `--proxy-listener-tls-required-client-subject` value.
#[derive(Debug)]
pub struct SubjectRule {
    text: String,
    fields: Vec<(&'static str, Expected)>,
}

impl SubjectRule {
    pub fn parse(text: &str) -> Result<SubjectRule, String> {
        let (patterns, mut rest) = if let Some(rest) = text.strip_prefix("s:") {
            (false, rest)
        } else if let Some(rest) = text.strip_prefix("r:") {
            (true, rest)
        } else {
            return Err(format!(
                "{text:?} must start with s: (exact) or r: (regular expressions)"
            ));
        };
        let mut fields = Vec::new();
        if rest.is_empty() {
            return Err(format!(
                "{text:?} names no subject field, e.g. s:/CN=[client]"
            ));
        }
        while !rest.is_empty() {
            let after_slash = rest
                .strip_prefix('/')
                .ok_or_else(|| format!("{text:?}: expected / before {rest:?}"))?;
            let (key, after_key) = after_slash
                .split_once('=')
                .ok_or_else(|| format!("{text:?}: expected KEY= after /"))?;
            let key = match key {
                "ST" => "S",
                k => KEYS
                    .iter()
                    .copied()
                    .find(|&known| known == k)
                    .ok_or_else(|| {
                        format!(
                            "{text:?}: unknown subject field {key:?} (valid: {})",
                            KEYS.join(", ")
                        )
                    })?,
            };
            let (values, after_values) = if after_key.starts_with('[') {
                bracketed_values(after_key, patterns)
                    .ok_or_else(|| format!("{text:?}: unbalanced [ ] in the value of {key}"))?
            } else {
                let end = after_key.find('/').unwrap_or(after_key.len());
                (vec![after_key[..end].to_string()], &after_key[end..])
            };
            let expected = if patterns {
                let compiled = values
                    .into_iter()
                    .map(|p| {
                        regex_lite::Regex::new(&format!("^(?:{p})$"))
                            .map(|re| (p.clone(), re))
                            .map_err(|e| format!("{text:?}: bad pattern {p:?} for {key}: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Expected::Patterns(compiled)
            } else {
                let mut sorted = values;
                sorted.sort();
                Expected::Exact(sorted)
            };
            fields.push((key, expected));
            rest = after_values;
        }
        Ok(SubjectRule {
            text: text.to_string(),
            fields,
        })
    }

    /// `Ok` when the subject passes, else why not.
    pub fn check(&self, subject: &Subject) -> Result<(), String> {
        for (key, expected) in &self.fields {
            let got = subject.values(key);
            let pass = match expected {
                Expected::Exact(want) => {
                    let mut sorted = got.clone();
                    sorted.sort_unstable();
                    sorted.len() == want.len() && sorted.iter().zip(want).all(|(g, w)| *g == w)
                }
                Expected::Patterns(want) => {
                    got.len() == want.len()
                        && got.iter().zip(want).all(|(g, (_, re))| re.is_match(g))
                }
            };
            if !pass {
                let want = match expected {
                    Expected::Exact(v) => v.join(","),
                    Expected::Patterns(v) => v
                        .iter()
                        .map(|(p, _)| p.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                };
                return Err(format!(
                    "{} has {key}=[{}], rule wants {key}=[{want}]",
                    self.text,
                    crate::logging::peer_text(&got.join(","))
                ));
            }
        }
        Ok(())
    }
}

/// Reads `[a,b,...]` at the start of `text`: the values and what follows the closing `]`.
fn bracketed_values(text: &str, patterns: bool) -> Option<(Vec<String>, &str)> {
    let mut values = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut in_braces = false;
    for (i, c) in text.char_indices() {
        match c {
            '[' if depth == 0 => depth = 1,
            '[' if patterns => {
                depth += 1;
                current.push(c);
            }
            ']' if depth == 1 => {
                if !current.is_empty() {
                    values.push(std::mem::take(&mut current));
                }
                return Some((values, &text[i + 1..]));
            }
            ']' if patterns && depth > 1 => {
                depth -= 1;
                current.push(c);
            }
            '{' if patterns => {
                in_braces = true;
                current.push(c);
            }
            '}' if patterns => {
                in_braces = false;
                current.push(c);
            }
            ',' if depth == 1 && !in_braces => values.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    None
}

/// The configured rules; an empty list accepts every subject.
#[derive(Debug, Default)]
pub struct SubjectRules(Vec<SubjectRule>);

impl SubjectRules {
    pub fn parse(texts: &[String]) -> Result<SubjectRules, String> {
        texts
            .iter()
            .map(|t| SubjectRule::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map(SubjectRules)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when any rule passes; else the reasons of every rule.
    pub fn check(&self, subject: &Subject) -> Result<(), String> {
        let mut reasons = Vec::new();
        for rule in &self.0 {
            match rule.check(subject) {
                Ok(()) => return Ok(()),
                Err(why) => reasons.push(why),
            }
        }
        if reasons.is_empty() {
            return Ok(());
        }
        Err(reasons.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(pairs: &[(&'static str, &str)]) -> Subject {
        Subject(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    #[test]
    fn exact_rules() {
        let s = subject(&[("CN", "client"), ("O", "b"), ("O", "a"), ("C", "DE")]);
        assert!(SubjectRule::parse("s:/CN=client")
            .unwrap()
            .check(&s)
            .is_ok());
        assert!(SubjectRule::parse("s:/CN=[client]/O=[a,b]")
            .unwrap()
            .check(&s)
            .is_ok());
        assert!(SubjectRule::parse("s:/CN=client/O=[b,a]/C=DE")
            .unwrap()
            .check(&s)
            .is_ok());
        let err = SubjectRule::parse("s:/CN=client/O=[a]")
            .unwrap()
            .check(&s)
            .unwrap_err();
        assert!(
            err.contains("O=[b,a]") && err.contains("wants O=[a]"),
            "{err}"
        );
        assert!(SubjectRule::parse("s:/OU=x").unwrap().check(&s).is_err());
        assert!(SubjectRule::parse("s:/ST=x")
            .unwrap()
            .check(&subject(&[("S", "x")]))
            .is_ok());
    }

    #[test]
    fn pattern_rules_are_anchored() {
        let s = subject(&[("CN", "client-1"), ("O", "org")]);
        let ok = |r: &str| SubjectRule::parse(r).unwrap().check(&s).is_ok();
        assert!(ok("r:/CN=client-[0-9]+"));
        assert!(ok("r:/CN=[client-[0-9]{1,3}]/O=[o.g]"));
        assert!(!ok("r:/CN=client"));
        assert!(!ok("r:/CN=[lient-1]"));
        assert!(!ok("r:/O=[org,org]"));
    }

    #[test]
    fn bad_rules() {
        for bad in [
            "",
            "x:/CN=a",
            "s:",
            "s:CN=a",
            "s:/XX=a",
            "s:/CN",
            "s:/CN=[a",
            "r:/CN=[(]",
        ] {
            assert!(SubjectRule::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn any_rule_passing_is_enough() {
        let rules = SubjectRules::parse(&["s:/CN=a".to_string(), "s:/CN=b".to_string()]).unwrap();
        assert!(rules.check(&subject(&[("CN", "b")])).is_ok());
        let err = rules.check(&subject(&[("CN", "c")])).unwrap_err();
        assert!(err.contains("s:/CN=a") && err.contains("s:/CN=b"), "{err}");
        assert!(SubjectRules::default().check(&subject(&[])).is_ok());
    }

    /// A certificate made by `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
    /// -subj "/C=DE/O=b/O=a/CN=client" -nodes -days 1`.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBwTCCAWegAwIBAgIUKo484ppwHEOXxxaekOngWxPpOE0wCgYIKoZIzj0EAwIw
NjELMAkGA1UEBhMCREUxCjAIBgNVBAoMAWIxCjAIBgNVBAoMAWExDzANBgNVBAMM
BmNsaWVudDAeFw0yNjExMjcxODQ2NTlaFw0yNjExMjgxODQ2NTlaMDYxCzAJBgNV
BAYTAkRFMQowCAYDVQQKDAFiMQowCAYDVQQKDAFhMQ8wDQYDVQQDDAZjbGllbnQw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASMo5+Wg4e2SNJr/McFaDNxGaYWf9i7
MXTO1Q3G9KFDwTq1j5zjwfNIrkz5AB2mAvzdLT7jQeVR98WjF5761LtQo1MwUTAd
BgNVHQ4EFgQUJkOHzEPvduh2PC3HsmS1xbOT8LYwHwYDVR0jBBgwFoAUJkOHzEPv
duh2PC3HsmS1xbOT8LYwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiEAgHy8I2kLoHk/wKUhwBGcDKbTNfHY/dFTeo3F2Hw1XtkCIDAsilXx4ZOVy3ZD
3TJIAiAX5dIUaLU7rvhr2LqP/Wu7
-----END CERTIFICATE-----
";

    #[test]
    fn reads_subject_from_certificate() {
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
        let subject = subject_of(&der).unwrap();
        assert_eq!(subject.to_string(), "/C=DE/O=b/O=a/CN=client");
        // Every truncation is an error, never a panic.
        for len in 0..der.len() {
            let _ = subject_of(&der[..len]);
        }
    }
}
