//! Parsers for the kinds of value a flag takes: booleans, durations (Go syntax), byte sizes,
//! `host:port` pairs and the comma-separated broker mappings. Each returns the reason for a
//! rejection as plain text; the caller adds the flag's name and the offending value, so every
//! error reads `invalid value "X" for --flag: REASON`.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use super::{BootstrapMapping, DialMapping, ExternalMapping, HostPort};

/// The reason a value was rejected, without the flag name (the caller adds it).
pub type Reason = String;

/// `true`/`false`, `1`/`0`, `yes`/`no` and Go's `t`/`f`, any case.
pub fn parse_bool(s: &str) -> Result<bool, Reason> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" => Ok(true),
        "false" | "f" | "0" | "no" => Ok(false),
        _ => Err("expected true or false (also 1/0, yes/no)".into()),
    }
}

const DURATION_HINT: &str = "expected a duration like 15s, 500ms or 1m";

/// A duration in Go's `time.ParseDuration` syntax: a sequence of decimal numbers, each with an
/// optional fraction and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), e.g. `1h30m`, `1.5s`.
/// A bare `0` is zero. Negative durations are rejected: no flag here has a use for them. Like Go,
/// the total must fit in a signed 64-bit count of nanoseconds (about 292 years).
pub fn parse_duration(s: &str) -> Result<Duration, Reason> {
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(format!(
            "{DURATION_HINT}; negative durations are not allowed"
        ));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DURATION_HINT.into());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = rest.split_at(int_len);
        let (frac_digits, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(DURATION_HINT.into());
        }
        let unit_len = after
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            "" => return Err(format!("{DURATION_HINT}; a unit is missing")),
            _ => return Err(format!("{DURATION_HINT}; unknown unit {unit:?}")),
        };
        let too_large = || format!("{DURATION_HINT}; the duration is too large");
        let int: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| too_large())?
        };
        // 18 fraction digits resolve a nanosecond even in hours (1ns < 3e-13h); ignore the
        // rest like Go does. This also keeps `frac * unit_nanos` far from overflowing.
        let frac_digits = &frac_digits[..frac_digits.len().min(18)];
        let frac: u128 = if frac_digits.is_empty() {
            0
        } else {
            frac_digits.parse().map_err(|_| too_large())?
        };
        let scale = 10u128.pow(frac_digits.len() as u32);
        total = int
            .checked_mul(unit_nanos)
            .and_then(|v| v.checked_add(frac * unit_nanos / scale))
            .and_then(|v| v.checked_add(total))
            .filter(|&v| v <= i64::MAX as u128)
            .ok_or_else(too_large)?;
        rest = after;
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Formats a duration the short way it is written on the command line (`15s`, `1m`, `1h30m`,
/// `500ms`, `0`). Used for defaults in `--help`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0".into();
    }
    const S: u128 = 1_000_000_000;
    if nanos % S != 0 {
        return match nanos {
            n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{}us", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let mut secs = nanos / S;
    let mut out = String::new();
    for (unit, len) in [("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= len {
            out.push_str(&format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    out
}

const SIZE_HINT: &str = "expected a size in bytes like 4096, 64KiB or 100MiB";

/// A size in bytes: a plain number, or a number with a suffix `B`, `KB`/`MB`/`GB` (powers of
/// 1000) or `KiB`/`MiB`/`GiB` (powers of 1024), any case, optionally separated by a space.
pub fn parse_size(s: &str) -> Result<u64, Reason> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(SIZE_HINT.into());
    }
    let (number, suffix) = s.split_at(digits);
    let multiplier: u64 = match suffix.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000 * 1000,
        "gb" => 1000 * 1000 * 1000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => return Err(format!("{SIZE_HINT}; unknown suffix {other:?}")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{SIZE_HINT}; the size is too large"))
}

/// A size that must fit in `max` (and, if `min` is 1, must not be zero).
pub fn parse_size_in(s: &str, min: u64, max: u64) -> Result<usize, Reason> {
    let n = parse_size(s)?;
    if n < min {
        return Err(format!("must be at least {min}"));
    }
    if n > max {
        return Err(format!("must be at most {max}"));
    }
    usize::try_from(n).map_err(|_| format!("must be at most {}", usize::MAX))
}

/// A non-negative decimal integer no larger than `max`.
pub fn parse_uint(s: &str, max: u64) -> Result<u64, Reason> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a whole number".into());
    }
    match t.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("must be at most {max}")),
    }
}

/// Whether a port of 0 ("let the system pick") is acceptable for this address.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PortZero {
    Allowed,
    Rejected,
}

/// `host:port`, `[ipv6]:port`. The host is a DNS name, an IPv4 address or a bracketed IPv6
/// address (a `%zone` suffix is allowed); it is kept as written, without brackets. The port is
/// decimal, 1..65535 (0 too where `port_zero` allows it). An empty host is rejected; the
/// caller decides whether to fill one in.
pub fn parse_host_port(s: &str, port_zero: PortZero) -> Result<HostPort, Reason> {
    let (host, port) = split_host_port(s)?;
    check_host(host)?;
    let port = parse_port(port, port_zero)?;
    Ok(HostPort {
        host: host.to_string(),
        port,
    })
}

/// Splits `host:port` or `[host]:port` without judging either part.
pub fn split_host_port(s: &str) -> Result<(&str, &str), Reason> {
    const FORM: &str = "expected host:port (an IPv6 address in brackets, like [::1]:9092)";
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{FORM}; missing ']'"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("{FORM}; missing :port after ']'"))?;
        if host.is_empty() {
            return Err(format!("{FORM}; the host is empty"));
        }
        if host.parse::<Ipv6Addr>().is_err() && !is_ipv6_with_zone(host) {
            return Err(format!("{host:?} in brackets is not an IPv6 address"));
        }
        return Ok((host, port));
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{FORM}; missing :port"))?;
    if host.contains(':') {
        return Err(format!("{FORM}; put an IPv6 address in brackets"));
    }
    Ok((host, port))
}

fn is_ipv6_with_zone(host: &str) -> bool {
    match host.split_once('%') {
        Some((addr, zone)) => !zone.is_empty() && addr.parse::<Ipv6Addr>().is_ok(),
        None => false,
    }
}

/// A host name or address: IP addresses, or DNS-style names of letters, digits, `-`, `_` and `.`.
pub fn check_host(host: &str) -> Result<(), Reason> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host.parse::<IpAddr>().is_ok() || is_ipv6_with_zone(host) {
        return Ok(());
    }
    if host.len() > 253 {
        return Err("the host name is longer than 253 characters".into());
    }
    match host
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
    {
        Some(c) => Err(format!("the host contains {c:?}, which a host name cannot")),
        None => Ok(()),
    }
}

/// A decimal port number, 1..65535 (or 0 where allowed).
pub fn parse_port(s: &str, port_zero: PortZero) -> Result<u16, Reason> {
    if s.is_empty() {
        return Err("the port is missing".into());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the port {s:?} is not a number"));
    }
    match s.parse::<u32>() {
        Ok(0) if port_zero == PortZero::Rejected => Err("the port must not be 0".into()),
        Ok(p) if p <= 65535 => Ok(p as u16),
        _ => Err(format!("the port {s} is out of range (0-65535)")),
    }
}

/// Splits a comma-separated mapping into its addresses, checking the count.
fn mapping_parts<'a>(
    s: &'a str,
    min: usize,
    max: usize,
    form: &str,
) -> Result<Vec<&'a str>, Reason> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() < min || parts.len() > max {
        return Err(format!("expected {form}"));
    }
    Ok(parts)
}

fn in_part(part: &str, what: &str, r: Result<HostPort, Reason>) -> Result<HostPort, Reason> {
    r.map_err(|e| format!("{what} {part:?}: {e}"))
}

/// `broker:port,listen:port[,advhost:advport]`. An empty listen host (`:9092`, as Go accepts)
/// means every interface and becomes `0.0.0.0`. The listen port may be 0 (the system picks).
pub fn parse_bootstrap_mapping(s: &str) -> Result<BootstrapMapping, Reason> {
    const FORM: &str = "broker:port,listenhost:listenport[,advertisedhost:advertisedport]";
    let parts = mapping_parts(s, 2, 3, FORM)?;
    let broker = in_part(
        parts[0],
        "broker address",
        parse_host_port(parts[0], PortZero::Rejected),
    )?;
    let listen = in_part(parts[1], "listen address", parse_listen(parts[1]))?;
    let advertised = match parts.get(2) {
        Some(p) => Some(in_part(
            p,
            "advertised address",
            parse_host_port(p, PortZero::Rejected),
        )?),
        None => None,
    };
    if advertised.is_none() && listen.port == 0 {
        return Err("a listen port of 0 (chosen by the system) needs an advertised address".into());
    }
    Ok(BootstrapMapping {
        broker,
        listen,
        advertised,
    })
}

/// A listen address: `host:port` where an empty host (`:9092`) means every interface
/// (`0.0.0.0`) and port 0 lets the system pick.
pub fn parse_listen(s: &str) -> Result<HostPort, Reason> {
    let (host, port) = split_host_port(s)?;
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    check_host(host)?;
    Ok(HostPort {
        host: host.to_string(),
        port: parse_port(port, PortZero::Allowed)?,
    })
}

/// `broker:port,advhost:advport`.
pub fn parse_external_mapping(s: &str) -> Result<ExternalMapping, Reason> {
    let parts = mapping_parts(s, 2, 2, "broker:port,advertisedhost:advertisedport")?;
    Ok(ExternalMapping {
        broker: in_part(
            parts[0],
            "broker address",
            parse_host_port(parts[0], PortZero::Rejected),
        )?,
        advertised: in_part(
            parts[1],
            "advertised address",
            parse_host_port(parts[1], PortZero::Rejected),
        )?,
    })
}

/// `broker:port,dialhost:dialport`.
pub fn parse_dial_mapping(s: &str) -> Result<DialMapping, Reason> {
    let parts = mapping_parts(s, 2, 2, "broker:port,dialhost:dialport")?;
    Ok(DialMapping {
        broker: in_part(
            parts[0],
            "broker address",
            parse_host_port(parts[0], PortZero::Rejected),
        )?,
        dial: in_part(
            parts[1],
            "dial address",
            parse_host_port(parts[1], PortZero::Rejected),
        )?,
    })
}

/// A comma-separated list of Kafka API keys (0..32767).
pub fn parse_api_keys(s: &str) -> Result<Vec<i16>, Reason> {
    s.split(',')
        .map(str::trim)
        .map(|k| {
            parse_uint(k, i16::MAX as u64)
                .map(|n| n as i16)
                .map_err(|e| format!("API key {k:?}: {e}"))
        })
        .collect()
}

/// grepplabs' (logrus) level names, plus `warn`; `fatal` and `panic` log errors only.
pub fn parse_log_level(s: &str) -> Result<log::LevelFilter, Reason> {
    use log::LevelFilter as L;
    match s.trim().to_ascii_lowercase().as_str() {
        "trace" => Ok(L::Trace),
        "debug" => Ok(L::Debug),
        "info" => Ok(L::Info),
        "warn" | "warning" => Ok(L::Warn),
        "error" | "fatal" | "panic" => Ok(L::Error),
        _ => Err("expected one of trace, debug, info, warning, error, fatal, panic".into()),
    }
}

/// A key of the JSON log format (`--log-*-fieldname`): not empty, at most
/// [`crate::logging::FIELD_NAME_MAX`] characters, no control characters (it is written
/// JSON-escaped, but a key is a name a collector matches on).
pub fn parse_field_name(s: &str) -> Result<String, Reason> {
    let max = crate::logging::FIELD_NAME_MAX;
    if s.is_empty() {
        return Err("a field name cannot be empty".into());
    }
    if s.chars().count() > max {
        return Err(format!("a field name has at most {max} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err("a field name cannot contain control characters".into());
    }
    Ok(s.to_string())
}

/// The `{{.brokerId}}` placeholder of `--dynamic-advertised-listener`, in its one normal form.
pub const BROKER_ID_PLACEHOLDER: &str = "{{.brokerId}}";

/// `s` with every Go-template placeholder for the broker id (`{{.brokerId}}`, `{{.brokerID}}`
/// or `{{.BrokerId}}`, with optional spaces inside the braces) written as
/// [`BROKER_ID_PLACEHOLDER`]; any other `{{ ... }}` is refused.
pub fn normal_placeholders(s: &str) -> Result<String, Reason> {
    let mut normal = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        normal.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or("an opening '{{' has no closing '}}'")?;
        match after[..end].trim() {
            ".brokerId" | ".brokerID" | ".BrokerId" => normal.push_str(BROKER_ID_PLACEHOLDER),
            other => {
                return Err(format!(
                    "unknown placeholder {{{{{other}}}}}; only {BROKER_ID_PLACEHOLDER} is supported"
                ))
            }
        }
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err("a closing '}}' has no opening '{{'".into());
    }
    normal.push_str(rest);
    Ok(normal)
}

/// `host[:port]` where the host may contain Go-template placeholders for the broker id:
/// `{{.brokerId}}` and its other spellings ([`normal_placeholders`]). Returns the
/// value with every placeholder written as [`BROKER_ID_PLACEHOLDER`], so the proxy has one
/// string to replace.
pub fn parse_advertised_listener(s: &str) -> Result<String, Reason> {
    let normal = normal_placeholders(s)?;
    // Check the shape with a sample id in place of the placeholder.
    let sample = normal.replace(BROKER_ID_PLACEHOLDER, "0");
    if sample.is_empty() {
        return Err("expected host or host:port".into());
    }
    match split_host_port(&sample) {
        Ok((host, port)) => {
            check_host(host)?;
            parse_port(port, PortZero::Rejected)?;
        }
        Err(_) => check_host(sample.trim_start_matches('[').trim_end_matches(']'))?,
    }
    Ok(normal)
}

/// A log level for a plugin's own log (`--auth-*-log-level`): the levels of `--log-level`,
/// plus `off`.
pub fn parse_plugin_log_level(s: &str) -> Result<log::LevelFilter, Reason> {
    if s.trim().eq_ignore_ascii_case("off") {
        return Ok(log::LevelFilter::Off);
    }
    parse_log_level(s).map_err(|_| {
        "expected one of trace, debug, info, warning, error, fatal, panic, off".to_string()
    })
}

/// An unsigned 64-bit number as Go's `strconv.ParseUint(s, 0, 64)` reads it (what grepplabs'
/// `Uint64Var` flags use): decimal, or `0x` hexadecimal, `0o` octal, `0b` binary. Go also
/// reads a bare leading `0` as octal (`0123` is 83); that is too easy to get wrong on one side
/// of a gateway pair, so such a value is rejected instead of read either way.
pub fn parse_go_u64(s: &str) -> Result<u64, Reason> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (digits, radix) = if let Some(d) = lower.strip_prefix("0x") {
        (d, 16)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d, 8)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        return Err(
            "a leading 0 is ambiguous (Go reads it as octal); write the number \
                    without it, or with 0o for octal"
                .into(),
        );
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err("expected a whole number: decimal, or hexadecimal with 0x".into());
    }
    u64::from_str_radix(digits, radix).map_err(|_| format!("must be at most {}", u64::MAX))
}

/// `--sasl-method`: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI, any case.
pub fn parse_sasl_method(s: &str) -> Result<super::SaslMethod, Reason> {
    use super::SaslMethod;
    match s.trim().to_ascii_uppercase().as_str() {
        "PLAIN" => Ok(SaslMethod::Plain),
        "SCRAM-SHA-256" => Ok(SaslMethod::ScramSha256),
        "SCRAM-SHA-512" => Ok(SaslMethod::ScramSha512),
        "AWS_MSK_IAM" => Ok(SaslMethod::AwsMskIam),
        "GSSAPI" => Ok(SaslMethod::Gssapi),
        "OAUTHBEARER" => Err("OAUTHBEARER to brokers comes from a token-provider plugin \
                              (--sasl-plugin-enable); expected PLAIN, SCRAM-SHA-256, \
                              SCRAM-SHA-512, GSSAPI or AWS_MSK_IAM"
            .into()),
        _ => Err("expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI or AWS_MSK_IAM".into()),
    }
}

/// The name `--sasl-method` takes for a method.
pub fn sasl_method_name(m: super::SaslMethod) -> &'static str {
    use super::SaslMethod;
    match m {
        SaslMethod::Plain => "PLAIN",
        SaslMethod::ScramSha256 => "SCRAM-SHA-256",
        SaslMethod::ScramSha512 => "SCRAM-SHA-512",
        SaslMethod::AwsMskIam => "AWS_MSK_IAM",
        SaslMethod::Gssapi => "GSSAPI",
        SaslMethod::OAuthBearer => "OAUTHBEARER",
    }
}

/// A cipher suite the listener can offer: rustls with the ring provider supports exactly
/// these. `name` is the IANA name, which is what [`ListenerTlsConfig::cipher_suites`] holds;
/// `aliases` are other spellings accepted (rustls' constant names, Go's names).
///
/// [`ListenerTlsConfig::cipher_suites`]: super::ListenerTlsConfig::cipher_suites
pub struct CipherSuite {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub tls13: bool,
}

pub const CIPHER_SUITES: &[CipherSuite] = &[
    CipherSuite {
        name: "TLS_AES_128_GCM_SHA256",
        aliases: &["TLS13_AES_128_GCM_SHA256"],
        tls13: true,
    },
    CipherSuite {
        name: "TLS_AES_256_GCM_SHA384",
        aliases: &["TLS13_AES_256_GCM_SHA384"],
        tls13: true,
    },
    CipherSuite {
        name: "TLS_CHACHA20_POLY1305_SHA256",
        aliases: &["TLS13_CHACHA20_POLY1305_SHA256"],
        tls13: true,
    },
    CipherSuite {
        name: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        aliases: &[],
        tls13: false,
    },
    CipherSuite {
        name: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        aliases: &[],
        tls13: false,
    },
    CipherSuite {
        name: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        aliases: &["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"],
        tls13: false,
    },
    CipherSuite {
        name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        aliases: &[],
        tls13: false,
    },
    CipherSuite {
        name: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        aliases: &[],
        tls13: false,
    },
    CipherSuite {
        name: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        aliases: &["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"],
        tls13: false,
    },
];

/// Splits a list on commas and whitespace, dropping empty items.
fn list_items(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
}

/// A comma-separated list of cipher suite names (IANA, rustls or Go spelling, any case),
/// each returned as its IANA name.
pub fn parse_cipher_suites(s: &str) -> Result<Vec<&'static str>, Reason> {
    let mut out = Vec::new();
    for item in list_items(s) {
        let upper = item.to_ascii_uppercase();
        let suite = CIPHER_SUITES
            .iter()
            .find(|c| c.name == upper || c.aliases.contains(&upper.as_str()))
            .ok_or_else(|| {
                let names: Vec<&str> = CIPHER_SUITES.iter().map(|c| c.name).collect();
                format!(
                    "unknown or unsupported cipher suite {item:?}; this build supports {}",
                    names.join(", ")
                )
            })?;
        out.push(suite.name);
    }
    if out.is_empty() {
        return Err("expected one or more cipher suite names".into());
    }
    Ok(out)
}

/// A comma-separated list of curves (key exchange groups): X25519, P256, P384, in Go's
/// spelling (CurveP256) or the SEC one (secp256r1) too, any case. Returned as X25519, P256,
/// P384. P-521 is rejected: rustls' ring provider has no P-521 key exchange.
pub fn parse_curves(s: &str) -> Result<Vec<&'static str>, Reason> {
    let mut out = Vec::new();
    for item in list_items(s) {
        let curve = match item.to_ascii_uppercase().as_str() {
            "X25519" => "X25519",
            "P256" | "P-256" | "CURVEP256" | "SECP256R1" => "P256",
            "P384" | "P-384" | "CURVEP384" | "SECP384R1" => "P384",
            "P521" | "P-521" | "CURVEP521" | "SECP521R1" => {
                return Err("P521 is not supported by this build (rustls with the ring \
                            provider has no P-521); use X25519, P256 or P384"
                    .into())
            }
            _ => {
                return Err(format!(
                    "unknown curve {item:?}; expected X25519, P256 or P384"
                ))
            }
        };
        out.push(curve);
    }
    if out.is_empty() {
        return Err("expected one or more curve names".into());
    }
    Ok(out)
}

/// One or more required client subjects, `s:/CN=name/O=[a,b]` (exact) or `r:/CN=regex`
/// (regular expressions), separated by commas. Values may contain commas, so a comma only
/// separates subjects where the next one starts (`,s:/` or `,r:/`). Only the shape is checked
/// here; the TLS code parses the fields.
pub fn parse_client_subjects(s: &str) -> Result<Vec<String>, Reason> {
    const FORM: &str = "expected s:/FIELD=VALUE/... (exact) or r:/FIELD=REGEX/... (regular \
                        expression), e.g. s:/CN=client/O=[a,b]";
    let mut starts: Vec<usize> = vec![0];
    for (i, _) in s.match_indices(',') {
        let next = s[i + 1..].trim_start();
        if next.starts_with("s:/") || next.starts_with("r:/") {
            starts.push(i + 1);
        }
    }
    starts.push(s.len() + 1);
    let mut out = Vec::new();
    for pair in starts.windows(2) {
        let subject = s[pair[0]..pair[1] - 1].trim();
        let body = subject
            .strip_prefix("s:")
            .or_else(|| subject.strip_prefix("r:"))
            .ok_or_else(|| FORM.to_string())?;
        if !body.starts_with('/') || body.len() < 2 || !body[1..].contains('=') {
            return Err(FORM.into());
        }
        out.push(subject.to_string());
    }
    Ok(out)
}

/// An HTTP path for an endpoint: starts with `/`, no spaces, no query or fragment.
pub fn parse_http_path(s: &str) -> Result<String, Reason> {
    if !s.starts_with('/') {
        return Err("expected a path starting with /".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c == '?' || c == '#') {
        return Err("a path cannot contain spaces, ? or #".into());
    }
    Ok(s.to_string())
}

/// `--forward-proxy`: `socks5://`, `http://` or `https://`, optional `user:password@`
/// (percent-encoded), a host and a port, and nothing after but an optional `/`. No reason
/// returned quotes the URL, so the password cannot reach an error message.
pub fn parse_forward_proxy(s: &str) -> Result<super::ForwardProxy, Reason> {
    use super::{ForwardProxy, ForwardProxyScheme, Secret};
    const FORM: &str = "expected scheme://[user:password@]host:port with scheme socks5, http \
                        or https";
    let (scheme, rest) = s.split_once("://").ok_or_else(|| FORM.to_string())?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "socks5" => ForwardProxyScheme::Socks5,
        "http" => ForwardProxyScheme::Http,
        "https" => ForwardProxyScheme::Https,
        _ => {
            return Err(format!(
                "unknown scheme {scheme:?}: expected socks5, http or https"
            ))
        }
    };
    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if !(tail.is_empty() || tail == "/") {
        return Err("the URL cannot have a path, query or fragment".into());
    }
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = split_host_port(host_port).map_err(|_| {
        "expected host:port after the scheme (the port is required; IPv6 in brackets)".to_string()
    })?;
    check_host(host)?;
    // parse_port quotes the port in its reasons; this one must not (it could be a password
    // typed without a host).
    let port = parse_port(port, PortZero::Rejected)
        .map_err(|_| "the port is missing, not a number or out of range (1-65535)".to_string())?;
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (user, pass) = u
                .split_once(':')
                .ok_or("the credentials need both a user name and a password (user:password@)")?;
            let user = percent_decode(user).map_err(|e| format!("the user name: {e}"))?;
            let pass = percent_decode(pass).map_err(|e| format!("the password: {e}"))?;
            if user.is_empty() || pass.is_empty() {
                return Err(
                    "the credentials need both a user name and a password (user:password@)".into(),
                );
            }
            (Some(user), Some(Secret(pass)))
        }
    };
    Ok(ForwardProxy {
        scheme,
        address: HostPort {
            host: host.to_string(),
            port,
        },
        username,
        password,
    })
}

/// Decodes `%XX` escapes; the result must be UTF-8. Errors never quote the input.
pub fn percent_decode(s: &str) -> Result<String, Reason> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a % is not followed by two hexadecimal digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the percent-decoded text is not UTF-8".into())
}

/// The URL with the password of its credentials (if any) replaced by `***`, for messages.
/// Anything that might be a password is hidden, even in a malformed URL.
pub fn redact_url(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        // Not URL-shaped: there is no telling which part is secret.
        return "***".into();
    };
    match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => {
            // No credentials, unless `user:password` was given without `@host`: then what
            // follows the last ':' of the authority is not a port number.
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = &rest[..end];
            match authority.rsplit_once(':') {
                Some((_, port))
                    if !port.bytes().all(|b| b.is_ascii_digit()) && !authority.ends_with(']') =>
                {
                    format!("{scheme}://***")
                }
                _ => s.to_string(),
            }
        }
    }
}

/// Whether a host reaches this machine only: `localhost` or a loopback address (brackets of
/// an IPv6 literal allowed).
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests;
