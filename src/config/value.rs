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

fn parse_listen(s: &str) -> Result<HostPort, Reason> {
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
}
