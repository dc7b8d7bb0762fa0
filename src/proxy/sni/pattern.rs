//! `--sni-broker-host-pattern`: the host name each broker is advertised as, with the node id in
//! place of `{{.brokerId}}`, and the reverse, from a client's SNI name back to the node id.

use crate::config::value::{normal_placeholders, BROKER_ID_PLACEHOLDER};
use std::fmt;

/// A DNS name with one node-id placeholder, held as the lowercase text either side of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SniPattern {
    prefix: String,
    suffix: String,
}

impl SniPattern {
    /// `broker-{{.brokerId}}.kafka.example.com`: exactly one placeholder (`{{.brokerId}}`,
    /// `{{.BrokerId}}` or `{{.brokerID}}`, spaces allowed inside the braces), no port, and a
    /// valid DNS name whatever the node id.
    pub fn parse(s: &str) -> Result<SniPattern, String> {
        let normal = normal_placeholders(s)?;
        let mut parts = normal.split(BROKER_ID_PLACEHOLDER);
        let (Some(prefix), Some(suffix), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "expected exactly one {BROKER_ID_PLACEHOLDER} placeholder, e.g. \
                 broker-{BROKER_ID_PLACEHOLDER}.kafka.example.com"
            ));
        };
        let pattern = SniPattern {
            prefix: prefix.to_ascii_lowercase(),
            suffix: suffix.to_ascii_lowercase(),
        };
        // The shortest and the longest node id give the shortest and longest name.
        for node_id in [0, i32::MAX] {
            check_dns_name(&pattern.name(node_id))
                .map_err(|why| format!("not a DNS name with a node id in place: {why}"))?;
        }
        Ok(pattern)
    }

    /// The name advertised for `node_id` (not negative).
    pub fn name(&self, node_id: i32) -> String {
        format!("{}{node_id}{}", self.prefix, self.suffix)
    }

    /// The node id whose name `name` is, compared without regard to case; the whole name must
    /// match (not a suffix), with the id written as [`SniPattern::name`] writes it.
    pub fn node_of(&self, name: &str) -> Option<i32> {
        let name = name.to_ascii_lowercase();
        let id = name
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?;
        let node_id: i32 = id.parse().ok()?;
        // Canonical digits only: no sign, no leading zeros.
        (node_id >= 0 && node_id.to_string() == id).then_some(node_id)
    }
}

impl fmt::Display for SniPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{BROKER_ID_PLACEHOLDER}{}", self.prefix, self.suffix)
    }
}

/// A host name a TLS client can send as its server name: dot-separated labels of letters,
/// digits and inner hyphens, each 1 to 63 characters, 253 at most in all, and not an IP
/// address (clients send no SNI for those).
pub fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 253 {
        return Err(format!("{name:?} is longer than 253 characters"));
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!(
            "{name:?} is an IP address, which clients do not send as a TLS server name"
        ));
    }
    for label in name.split('.') {
        let valid = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err(format!(
                "{name:?} has the label {label:?}: a label is 1 to 63 letters, digits or \
                 hyphens, not starting or ending with a hyphen"
            ));
        }
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("{name:?} is all digits"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_placeholder_spellings() {
        for text in [
            "broker-{{.brokerId}}.kafka.test",
            "broker-{{.BrokerId}}.kafka.test",
            "broker-{{ .brokerID }}.kafka.test",
            "BROKER-{{.brokerId}}.Kafka.Test",
        ] {
            let p = SniPattern::parse(text).unwrap();
            assert_eq!(p.to_string(), "broker-{{.brokerId}}.kafka.test", "{text}");
            assert_eq!(p.name(7), "broker-7.kafka.test");
        }
        let p = SniPattern::parse("{{.brokerId}}.b.test").unwrap();
        assert_eq!(p.name(12), "12.b.test");
    }

    #[test]
    fn refuses_bad_patterns() {
        for (text, why) in [
            ("broker.kafka.test", "exactly one"),
            ("b-{{.brokerId}}-{{.brokerId}}.test", "exactly one"),
            ("b-{{.host}}.test", "unknown placeholder"),
            ("b-{{.brokerId.test", "no closing"),
            ("b-}}.brokerId.test", "no opening"),
            ("b-{{.brokerId}}.test:9092", "not a DNS name"),
            ("b_{{.brokerId}}.test", "not a DNS name"),
            ("-{{.brokerId}}.test", "not a DNS name"),
            ("b-{{.brokerId}}..test", "not a DNS name"),
            ("*.{{.brokerId}}.test", "not a DNS name"),
            ("10.0.0.{{.brokerId}}", "not a DNS name"),
            ("", "exactly one"),
        ] {
            let err = SniPattern::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        let long = format!("b{{{{.brokerId}}}}.{}", "a".repeat(63));
        assert!(SniPattern::parse(&long).is_ok());
        let too_long = format!("b{{{{.brokerId}}}}{}", "a".repeat(60));
        assert!(SniPattern::parse(&too_long).is_err());
    }

    #[test]
    fn matches_whole_names_without_case() {
        let p = SniPattern::parse("broker-{{.brokerId}}.kafka.test").unwrap();
        assert_eq!(p.node_of("broker-0.kafka.test"), Some(0));
        assert_eq!(p.node_of("BROKER-42.Kafka.TEST"), Some(42));
        assert_eq!(p.node_of("broker-2147483647.kafka.test"), Some(i32::MAX));
        for name in [
            "broker-.kafka.test",
            "broker-01.kafka.test",
            "broker-+1.kafka.test",
            "broker--1.kafka.test",
            "broker-2147483648.kafka.test",
            "broker-1.kafka.test.evil",
            "x.broker-1.kafka.test",
            "broker-1a.kafka.test",
            "broker-1.kafka.tes",
            "",
        ] {
            assert_eq!(p.node_of(name), None, "{name}");
        }
        for id in [0, 1, 9, 10, 1000, i32::MAX] {
            assert_eq!(p.node_of(&p.name(id)), Some(id));
        }
    }

    #[test]
    fn dns_names() {
        assert!(check_dns_name("bootstrap.kafka.test").is_ok());
        assert!(check_dns_name("localhost").is_ok());
        assert!(check_dns_name("127.0.0.1").is_err());
        assert!(check_dns_name("::1").is_err());
        assert!(check_dns_name("a..b").is_err());
        assert!(check_dns_name("a.b.").is_err());
        assert!(check_dns_name(&"a".repeat(64)).is_err());
    }
}
