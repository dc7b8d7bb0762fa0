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

/// The `{{.brokerId}}` placeholder of `--dynamic-advertised-listener`, in its one normal form.
pub const BROKER_ID_PLACEHOLDER: &str = "{{.brokerId}}";

/// `host[:port]` where the host may contain Go-template placeholders for the broker id:
/// `{{.brokerId}}` or `{{.brokerID}}`, with optional spaces inside the braces. Returns the
/// value with every placeholder written as [`BROKER_ID_PLACEHOLDER`], so the proxy has one
/// string to replace.
pub fn parse_advertised_listener(s: &str) -> Result<String, Reason> {
    let mut normal = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        normal.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or("an opening '{{' has no closing '}}'")?;
        match after[..end].trim() {
            ".brokerId" | ".brokerID" => normal.push_str(BROKER_ID_PLACEHOLDER),
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

/// `--sasl-method`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, any case.
pub fn parse_sasl_method(s: &str) -> Result<super::SaslMethod, Reason> {
    use super::SaslMethod;
    match s.trim().to_ascii_uppercase().as_str() {
        "PLAIN" => Ok(SaslMethod::Plain),
        "SCRAM-SHA-256" => Ok(SaslMethod::ScramSha256),
        "SCRAM-SHA-512" => Ok(SaslMethod::ScramSha512),
        "GSSAPI" | "AWS_MSK_IAM" | "OAUTHBEARER" => Err(format!(
            "{} is not supported; expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
            s.trim()
        )),
        _ => Err("expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512".into()),
    }
}

/// The name `--sasl-method` takes for a method.
pub fn sasl_method_name(m: super::SaslMethod) -> &'static str {
    use super::SaslMethod;
    match m {
        SaslMethod::Plain => "PLAIN",
        SaslMethod::ScramSha256 => "SCRAM-SHA-256",
        SaslMethod::ScramSha512 => "SCRAM-SHA-512",
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
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn bools() {
        for t in ["true", "TRUE", "True", "1", "yes", "YES", "t"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["false", "FALSE", "0", "no", "No", "f"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        for bad in ["", "2", "on", "maybe", "truee"] {
            assert!(parse_bool(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_go_syntax() {
        let ms = Duration::from_millis;
        let cases = [
            ("0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("15s", ms(15_000)),
            ("1m", ms(60_000)),
            ("500ms", ms(500)),
            ("1h30m", ms(5_400_000)),
            ("1.5s", ms(1_500)),
            (".5s", ms(500)),
            ("1.s", ms(1_000)),
            ("1m30.25s", ms(90_250)),
            ("2h", ms(7_200_000)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("10μs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("1.1s", ms(1_100)),
            ("0.000000001s", Duration::from_nanos(1)),
            ("1h1m1s1ms1us1ns", Duration::from_nanos(3_661_001_001_001)),
            ("1.0000000000000000000000000009h", ms(3_600_000)),
            (
                "0.99999999999999999999999999s",
                Duration::from_nanos(999_999_999),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn durations_rejected() {
        for bad in [
            "",
            "-1s",
            "-0",
            "15",
            "abc",
            "s",
            "1x",
            "1.5",
            ".s",
            "1s2",
            "1 s",
            " 1s",
            "1S",
            "1d",
            "3000000h",
            "9223372036854775808ns",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.starts_with(DURATION_HINT), "{bad}: {err}");
        }
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert!(parse_duration("15").unwrap_err().contains("unit"));
        assert_eq!(
            parse_duration("2562047h47m16.854775807s"),
            Ok(Duration::from_nanos(i64::MAX as u64))
        );
    }

    #[test]
    fn durations_format_round_trip() {
        for (d, text) in [
            (Duration::ZERO, "0"),
            (Duration::from_secs(15), "15s"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(3661), "1h1m1s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(3), "3us"),
            (Duration::from_nanos(3), "3ns"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d));
        }
    }

    #[test]
    fn sizes() {
        for (text, want) in [
            ("0", 0),
            ("4096", 4096),
            ("104857600", 104_857_600),
            ("100MiB", 104_857_600),
            ("100 MiB", 104_857_600),
            ("100mib", 104_857_600),
            ("64KiB", 65_536),
            ("1GiB", 1 << 30),
            ("2KB", 2000),
            ("3MB", 3_000_000),
            ("1GB", 1_000_000_000),
            ("12B", 12),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "MiB",
            "-1",
            "1.5MiB",
            "10XB",
            "abc",
            "99999999999999999999",
            "18446744073709551615GiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_size_in("0", 1, 10), Err("must be at least 1".into()));
        assert_eq!(parse_size_in("11", 0, 10), Err("must be at most 10".into()));
        assert_eq!(parse_size_in("1KiB", 0, 1 << 20), Ok(1024));
    }

    #[test]
    fn uints() {
        assert_eq!(parse_uint("256", 1000), Ok(256));
        assert!(parse_uint("-1", 1000).is_err());
        assert!(parse_uint("+1", 1000).is_err());
        assert!(parse_uint("1001", 1000).is_err());
        assert!(parse_uint("", 1000).is_err());
        assert!(parse_uint("1e3", 1000).is_err());
    }

    #[test]
    fn host_ports() {
        let ok = |s: &str| parse_host_port(s, PortZero::Rejected);
        assert_eq!(ok("127.0.0.1:9092"), Ok(hp("127.0.0.1", 9092)));
        assert_eq!(
            ok("kafka-0.kafka.svc:9092"),
            Ok(hp("kafka-0.kafka.svc", 9092))
        );
        assert_eq!(ok("[::1]:9092"), Ok(hp("::1", 9092)));
        assert_eq!(ok("[fe80::1%eth0]:9092"), Ok(hp("fe80::1%eth0", 9092)));
        assert_eq!(ok("[2001:db8::7]:65535"), Ok(hp("2001:db8::7", 65535)));
        assert_eq!(ok("h:1"), Ok(hp("h", 1)));
        assert_eq!(ok("[::1]:9092").unwrap().to_string(), "[::1]:9092");
        for bad in [
            "",
            "localhost",
            "localhost:",
            ":9092",
            "::1:9092",
            "[::1]",
            "[::1]9092",
            "[]:9092",
            "[nothost]:9092",
            "[::1:9092",
            "host:abc",
            "host:-1",
            "host:+1",
            "host:65536",
            "host:99999999999",
            "host:0",
            "ho st:9092",
            "host/x:9092",
        ] {
            assert!(ok(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_host_port("0.0.0.0:0", PortZero::Allowed),
            Ok(hp("0.0.0.0", 0))
        );
        assert!(ok("host:65536").unwrap_err().contains("out of range"));
        assert!(ok("host:abc").unwrap_err().contains("not a number"));
        assert!(ok("::1:9092").unwrap_err().contains("brackets"));
    }

    #[test]
    fn bootstrap_mappings() {
        assert_eq!(
            parse_bootstrap_mapping("kafka:9092,127.0.0.1:19092"),
            Ok(BootstrapMapping {
                broker: hp("kafka", 9092),
                listen: hp("127.0.0.1", 19092),
                advertised: None,
            })
        );
        assert_eq!(
            parse_bootstrap_mapping("[::1]:9092,[::]:19092,proxy.example.com:9092"),
            Ok(BootstrapMapping {
                broker: hp("::1", 9092),
                listen: hp("::", 19092),
                advertised: Some(hp("proxy.example.com", 9092)),
            })
        );
        assert_eq!(
            parse_bootstrap_mapping("kafka:9092,:19092").unwrap().listen,
            hp("0.0.0.0", 19092)
        );
        assert_eq!(
            parse_bootstrap_mapping("kafka:9092,127.0.0.1:0,adv:1")
                .unwrap()
                .listen,
            hp("127.0.0.1", 0)
        );
        for bad in [
            "kafka:9092",
            "kafka:9092,127.0.0.1:19092,a:1,b:2",
            "kafka,127.0.0.1:19092",
            "kafka:9092,127.0.0.1:70000",
            "kafka:9092,127.0.0.1:0",
            "kafka:0,127.0.0.1:1",
            "kafka:9092,127.0.0.1:1,adv",
        ] {
            assert!(parse_bootstrap_mapping(bad).is_err(), "{bad}");
        }
        let err = parse_bootstrap_mapping("kafka:9092,127.0.0.1:x").unwrap_err();
        assert!(err.starts_with("listen address \"127.0.0.1:x\""), "{err}");
    }

    #[test]
    fn external_and_dial_mappings() {
        assert_eq!(
            parse_external_mapping("b:9092,adv:19092"),
            Ok(ExternalMapping {
                broker: hp("b", 9092),
                advertised: hp("adv", 19092)
            })
        );
        assert_eq!(
            parse_dial_mapping("b:9092,[::1]:9093"),
            Ok(DialMapping {
                broker: hp("b", 9092),
                dial: hp("::1", 9093)
            })
        );
        for bad in ["b:9092", "b:9092,a:1,c:2", "b:9092,a", "b:9092,a:0"] {
            assert!(parse_external_mapping(bad).is_err(), "{bad}");
            assert!(parse_dial_mapping(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_keys() {
        assert_eq!(parse_api_keys("20"), Ok(vec![20]));
        assert_eq!(parse_api_keys("20,21, 0"), Ok(vec![20, 21, 0]));
        for bad in ["", "a", "20,", "-1", "32768", "1;2"] {
            assert!(parse_api_keys(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn log_levels() {
        use log::LevelFilter as L;
        for (t, l) in [
            ("trace", L::Trace),
            ("debug", L::Debug),
            ("info", L::Info),
            ("INFO", L::Info),
            ("warn", L::Warn),
            ("warning", L::Warn),
            ("error", L::Error),
            ("fatal", L::Error),
            ("panic", L::Error),
        ] {
            assert_eq!(parse_log_level(t), Ok(l), "{t}");
        }
        assert!(parse_log_level("verbose").is_err());
    }

    #[test]
    fn advertised_listeners() {
        for (input, want) in [
            ("proxy.example.com", "proxy.example.com"),
            ("proxy.example.com:9092", "proxy.example.com:9092"),
            ("10.0.0.1", "10.0.0.1"),
            ("[::1]:30000", "[::1]:30000"),
            ("b-{{.brokerId}}.example.com", "b-{{.brokerId}}.example.com"),
            (
                "b-{{ .brokerID }}.example.com:9092",
                "b-{{.brokerId}}.example.com:9092",
            ),
        ] {
            assert_eq!(
                parse_advertised_listener(input).as_deref(),
                Ok(want),
                "{input}"
            );
        }
        for bad in [
            "",
            "b-{{.other}}.x",
            "b-{{.brokerId.x",
            "b-}}.x",
            "host:port",
            "host:70000",
            "ho st",
        ] {
            assert!(parse_advertised_listener(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plugin_log_levels() {
        assert_eq!(parse_plugin_log_level("off"), Ok(log::LevelFilter::Off));
        assert_eq!(parse_plugin_log_level("TRACE"), Ok(log::LevelFilter::Trace));
        assert!(parse_plugin_log_level("loud").unwrap_err().contains("off"));
    }

    #[test]
    fn go_u64() {
        for (text, want) in [
            ("0", 0),
            ("42", 42),
            (" 7 ", 7),
            ("0x2A", 42),
            ("0X2a", 42),
            ("0o52", 42),
            ("0b101010", 42),
            ("18446744073709551615", u64::MAX),
            ("0xffffffffffffffff", u64::MAX),
        ] {
            assert_eq!(parse_go_u64(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "-1",
            "+1",
            "0x",
            "0xg",
            "1_000",
            "18446744073709551616",
            "0b2",
            "1.5",
        ] {
            assert!(parse_go_u64(bad).is_err(), "{bad}");
        }
        assert!(parse_go_u64("0123").unwrap_err().contains("ambiguous"));
    }

    #[test]
    fn sasl_methods() {
        use crate::config::SaslMethod;
        assert_eq!(parse_sasl_method("PLAIN"), Ok(SaslMethod::Plain));
        assert_eq!(parse_sasl_method("plain"), Ok(SaslMethod::Plain));
        assert_eq!(
            parse_sasl_method("SCRAM-SHA-256"),
            Ok(SaslMethod::ScramSha256)
        );
        assert_eq!(
            parse_sasl_method("scram-sha-512"),
            Ok(SaslMethod::ScramSha512)
        );
        for m in [
            SaslMethod::Plain,
            SaslMethod::ScramSha256,
            SaslMethod::ScramSha512,
        ] {
            assert_eq!(parse_sasl_method(sasl_method_name(m)), Ok(m));
        }
        assert!(parse_sasl_method("GSSAPI")
            .unwrap_err()
            .contains("not supported"));
        assert!(parse_sasl_method("SCRAM").is_err());
    }

    #[test]
    fn cipher_suites() {
        assert_eq!(
            parse_cipher_suites(
                "TLS_AES_128_GCM_SHA256, tls13_aes_256_gcm_sha384,TLS_CHACHA20_POLY1305_SHA256"
            ),
            Ok(vec![
                "TLS_AES_128_GCM_SHA256",
                "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256"
            ])
        );
        assert_eq!(
            parse_cipher_suites(
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305 \
                 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
            ),
            Ok(vec![
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
            ])
        );
        // Every supported suite by its own name.
        let all: Vec<&str> = CIPHER_SUITES.iter().map(|c| c.name).collect();
        assert_eq!(parse_cipher_suites(&all.join(",")), Ok(all.clone()));
        assert_eq!(CIPHER_SUITES.iter().filter(|c| c.tls13).count(), 3);
        // Go knows these; rustls does not do CBC or RSA key exchange.
        let err =
            parse_cipher_suites("TLS_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_128_CBC_SHA").unwrap_err();
        assert!(err.contains("\"TLS_RSA_WITH_AES_128_CBC_SHA\""), "{err}");
        for name in all {
            assert!(err.contains(name), "{err} lacks {name}");
        }
        assert!(parse_cipher_suites("").is_err());
        assert!(parse_cipher_suites(" , ").is_err());
    }

    #[test]
    fn curves() {
        assert_eq!(
            parse_curves("X25519,CurveP256, secp384r1"),
            Ok(vec!["X25519", "P256", "P384"])
        );
        assert_eq!(parse_curves("p-256 x25519"), Ok(vec!["P256", "X25519"]));
        for p521 in ["P521", "CurveP521", "secp521r1"] {
            let err = parse_curves(&format!("X25519,{p521}")).unwrap_err();
            assert!(err.contains("P521 is not supported by this build"), "{err}");
        }
        assert!(parse_curves("X448").unwrap_err().contains("unknown curve"));
        assert!(parse_curves("").is_err());
    }

    #[test]
    fn client_subjects() {
        assert_eq!(
            parse_client_subjects("s:/CN=[a]/O=[x,y]"),
            Ok(vec!["s:/CN=[a]/O=[x,y]".to_string()])
        );
        assert_eq!(
            parse_client_subjects("s:/CN=a/O=[x,y], r:/CN=[^b{1,3}$],s:/OU=[my team]"),
            Ok(vec![
                "s:/CN=a/O=[x,y]".to_string(),
                "r:/CN=[^b{1,3}$]".to_string(),
                "s:/OU=[my team]".to_string()
            ])
        );
        for bad in [
            "",
            "CN=x",
            "s:",
            "s:/",
            "s:CN=x",
            "x:/CN=y",
            "r:/",
            "s:/CN",
            "s:/CN=x,r:/",
        ] {
            assert!(parse_client_subjects(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn http_paths() {
        assert_eq!(parse_http_path("/health"), Ok("/health".into()));
        assert_eq!(parse_http_path("/"), Ok("/".into()));
        assert_eq!(parse_http_path("/a/b-c_d.e"), Ok("/a/b-c_d.e".into()));
        for bad in ["", "health", "/a b", "/a?b", "/a#b", " /a"] {
            assert!(parse_http_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen(":9080"), Ok(hp("0.0.0.0", 9080)));
        assert_eq!(parse_listen("127.0.0.1:0"), Ok(hp("127.0.0.1", 0)));
        assert_eq!(parse_listen("[::]:6060"), Ok(hp("::", 6060)));
        for bad in ["9080", "host", "h:70000", "h:x"] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forward_proxies() {
        use crate::config::{ForwardProxy, ForwardProxyScheme, Secret};
        assert_eq!(
            parse_forward_proxy("socks5://proxy:1080"),
            Ok(ForwardProxy {
                scheme: ForwardProxyScheme::Socks5,
                address: hp("proxy", 1080),
                username: None,
                password: None,
            })
        );
        assert_eq!(
            parse_forward_proxy("HTTP://user:p%40ss%3Aw%2Fd@10.0.0.1:3128/"),
            Ok(ForwardProxy {
                scheme: ForwardProxyScheme::Http,
                address: hp("10.0.0.1", 3128),
                username: Some("user".into()),
                password: Some(Secret("p@ss:w/d".into())),
            })
        );
        let p = parse_forward_proxy("https://%C3%A9t%C3%A9:x@[::1]:8443").unwrap();
        assert_eq!(p.scheme, ForwardProxyScheme::Https);
        assert_eq!(p.address, hp("::1", 8443));
        assert_eq!(p.username.as_deref(), Some("été"));
        // An unencoded @ in the password: the last @ ends the credentials.
        let p = parse_forward_proxy("socks5://u:a@b@h:1").unwrap();
        assert_eq!(p.password, Some(Secret("a@b".into())));

        for (bad, want) in [
            ("proxy:1080", "expected scheme://"),
            ("ftp://proxy:21", "unknown scheme \"ftp\""),
            ("socks4://proxy:1080", "unknown scheme"),
            ("socks5://proxy", "the port is required"),
            ("http://proxy:", "the port is missing"),
            ("http://proxy:0", "the port is missing"),
            ("http://proxy:70000", "out of range"),
            ("http://:3128", "the host is empty"),
            ("http://proxy:3128/path", "cannot have a path"),
            ("http://proxy:3128?x=1", "cannot have a path"),
            (
                "socks5://user@proxy:1080",
                "both a user name and a password",
            ),
            (
                "socks5://:hunter2@proxy:1080",
                "both a user name and a password",
            ),
            (
                "socks5://user:@proxy:1080",
                "both a user name and a password",
            ),
            (
                "socks5://user:hunter2%zz@proxy:1080",
                "the password: a % is not",
            ),
            ("socks5://user:%ff%fe@proxy:1080", "not UTF-8"),
            ("socks5://user:hunter2", "the port is missing"),
        ] {
            let err = parse_forward_proxy(bad).unwrap_err();
            assert!(err.contains(want), "{bad}: {err}");
            assert!(!err.contains("hunter2"), "{bad}: {err}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2fc"), Ok("a b/c".into()));
        assert_eq!(percent_decode("plain"), Ok("plain".into()));
        assert!(percent_decode("%2").is_err());
        assert!(percent_decode("%g0").is_err());
        assert!(percent_decode("%c3").is_err());
    }

    #[test]
    fn redacted_urls() {
        for (url, shown) in [
            ("socks5://u:hunter2@h:1080", "socks5://u:***@h:1080"),
            ("http://u:hun@ter2@h:1/", "http://u:***@h:1/"),
            ("http://u:hunter2/x@h:1", "http://u:***@h:1"),
            ("http://u@h:1", "http://u:***@h:1"),
            ("socks5://h:1080", "socks5://h:1080"),
            ("socks5://[::1]", "socks5://[::1]"),
            ("socks5://h:abc/x", "socks5://***"),
            ("socks5://u:hunter2", "socks5://***"),
            ("u:hunter2@h:1", "***"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
