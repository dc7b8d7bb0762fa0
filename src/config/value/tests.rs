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
        SaslMethod::Gssapi,
        SaslMethod::AwsMskIam,
    ] {
        assert_eq!(parse_sasl_method(sasl_method_name(m)), Ok(m));
    }
    assert!(parse_sasl_method("OAUTHBEARER")
        .unwrap_err()
        .contains("--sasl-plugin-enable"));
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
