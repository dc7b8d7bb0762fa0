use super::*;
use std::net::TcpListener;

#[test]
fn dn_escaping() {
    assert_eq!(escape_dn_value("alice"), "alice");
    assert_eq!(escape_dn_value("a,b+c"), "a\\,b\\+c");
    assert_eq!(escape_dn_value("x=y"), "x\\=y");
    assert_eq!(escape_dn_value("#lead"), "\\#lead");
    assert_eq!(escape_dn_value(" both "), "\\ both\\ ");
    assert_eq!(escape_dn_value("a\0b\\c\"<>;"), "a\\00b\\\\c\\\"\\<\\>\\;");
}

#[test]
fn filter_escaping_keeps_injection_literal() {
    assert_eq!(escape_filter_value("a*b(c)d\\e"), "a\\2ab\\28c\\29d\\5ce");
    assert_eq!(escape_filter_value("jürgen"), "jürgen");
    // `*)(uid=*` escaped is one equality assertion with a literal value.
    let user = "*)(uid=*";
    let filter = parse_filter(&format!("(uid={})", escape_filter_value(user))).unwrap();
    let mut want = ber::tlv(0x04, b"uid");
    want.extend(ber::tlv(0x04, user.as_bytes()));
    assert_eq!(filter, ber::tlv(0xa3, &want));
    // Unescaped, the same name would be a presence filter plus garbage: refused.
    assert!(parse_filter(&format!("(uid={user})")).is_err());
}

#[test]
fn filters() {
    let eq = |a: &str, v: &[u8]| {
        let mut b = ber::tlv(0x04, a.as_bytes());
        b.extend(ber::tlv(0x04, v));
        ber::tlv(0xa3, &b)
    };
    let mut and = eq("objectClass", b"person");
    and.extend(eq("uid", b"al(ice"));
    assert_eq!(
        parse_filter("(&(objectClass=person)(uid=al\\28ice))").unwrap(),
        ber::tlv(0xa0, &and)
    );
    assert_eq!(parse_filter("(cn=*)").unwrap(), ber::tlv(0x87, b"cn"));
    let sub = parse_filter("(cn=a*b*c)").unwrap();
    assert_eq!(sub[0], 0xa4);
    assert_eq!(parse_filter("(!(cn=x))").unwrap()[0], 0xa2);
    for bad in [
        "",
        "cn=x",
        "(cn=x",
        "(=x)",
        "(&)",
        "(cn=x))",
        "(cn=\\zz)",
        "(cn>x)",
    ] {
        assert!(parse_filter(bad).is_err(), "{bad}");
    }
    let deep = format!("{}(a=b){}", "(!".repeat(40), ")".repeat(40));
    assert!(parse_filter(&deep).is_err());
}

#[test]
fn ber_roundtrip() {
    for v in [0i64, 1, 127, 128, 255, 256, -1, -129, 1 << 40] {
        let enc = ber::integer(v);
        assert_eq!(ber::Reader::new(&enc).integer().unwrap(), v, "{v}");
    }
    let long = vec![7u8; 300];
    let enc = ber::tlv(0x04, &long);
    assert_eq!(&enc[..4], &[0x04, 0x82, 0x01, 0x2c]);
    assert_eq!(ber::Reader::new(&enc).octets(0x04).unwrap(), &long[..]);
    let msg = ber::tlv(0x30, &ber::integer(5));
    let mut slice = &msg[..];
    assert_eq!(ber::read_message(&mut slice, 100).unwrap(), msg);
    let big = [0x30u8, 0x84, 0x7f, 0xff, 0xff, 0xff];
    assert!(ber::read_message(&mut &big[..], 1 << 20).is_err());
    for cut in 0..msg.len() {
        assert!(ber::Reader::new(&msg[..cut]).any().is_err() || cut == msg.len());
    }
}

/// One operation a fake LDAP server received: its tag and the DN it names (bind: the DN,
/// search: the base), with the password of a bind.
type Op = (u8, String, String);

/// An LDAP server for `connections` connections: binds succeed for `cn=svc` with `svc-pw`,
/// `uid=alice,dc=x` with `right`, and (to show its answer is ignored) the decoy DN; a search
/// finds `uid=alice,dc=x` when its filter names alice, nothing otherwise. Returns its port
/// and what each connection received.
fn fake_ldap(connections: usize) -> (u16, std::thread::JoinHandle<Vec<Vec<Op>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        (0..connections)
            .map(|_| serve_fake_ldap(listener.accept().unwrap().0))
            .collect()
    });
    (port, server)
}

fn serve_fake_ldap(mut stream: TcpStream) -> Vec<Op> {
    let mut ops = Vec::new();
    let decoy = format!("{NO_SUCH_USER_RDN},dc=x");
    while let Ok(message) = ber::read_message(&mut stream, MAX_MESSAGE) {
        let mut seq = ber::Reader::new(&message).expect(0x30).unwrap();
        let id = seq.integer().unwrap();
        let (tag, op) = seq.any().unwrap();
        let mut r = ber::Reader::new(op);
        let result = |code: u8| {
            let mut body = ber::tlv(0x0a, &[code]);
            body.extend(ber::tlv(0x04, b""));
            body.extend(ber::tlv(0x04, b""));
            body
        };
        let reply = |tag: u8, body: &[u8]| {
            let mut m = ber::integer(id);
            m.extend(ber::tlv(tag, body));
            ber::tlv(0x30, &m)
        };
        match tag {
            0x60 => {
                r.integer().unwrap();
                let dn = String::from_utf8(r.octets(0x04).unwrap().to_vec()).unwrap();
                let pw = String::from_utf8(r.octets(0x80).unwrap().to_vec()).unwrap();
                let ok = matches!((dn.as_str(), pw.as_str()), ("cn=svc", "svc-pw"))
                    || (dn == "uid=alice,dc=x" && pw == "right")
                    || dn == decoy;
                stream
                    .write_all(&reply(0x61, &result(if ok { 0 } else { 49 })))
                    .unwrap();
                ops.push((tag, dn, pw));
            }
            0x63 => {
                let base = String::from_utf8(r.octets(0x04).unwrap().to_vec()).unwrap();
                if op.windows(5).any(|w| w == b"alice") {
                    let mut entry = ber::tlv(0x04, b"uid=alice,dc=x");
                    entry.extend(ber::tlv(0x30, b""));
                    stream.write_all(&reply(0x64, &entry)).unwrap();
                }
                stream.write_all(&reply(0x65, &result(0))).unwrap();
                ops.push((tag, base, String::new()));
            }
            _ => break, // unbind
        }
    }
    ops
}

#[test]
fn an_unknown_user_costs_the_same_binds_as_a_wrong_password() {
    let (port, server) = fake_ldap(3);
    let url = format!("ldap://127.0.0.1:{port}");
    let args: Vec<OsString> = [
        "--url",
        &url,
        "--bind-dn",
        "cn=svc",
        "--bind-passwd",
        "svc-pw",
        "--user-search-base",
        "dc=x",
        "--timeout",
        "5s",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let flags = PluginFlags::parse(&AUTH_LDAP_PLUGIN, args).unwrap();
    let ldap = Ldap::from_flags(&flags).unwrap();
    assert!(!ldap.check("alice", "wrong").unwrap());
    assert!(!ldap.check("nobody", "wrong").unwrap());
    assert!(ldap.check("alice", "right").unwrap());
    let ops = server.join().unwrap();
    let svc = (0x60, "cn=svc".to_string(), "svc-pw".to_string());
    let search = (0x63, "dc=x".to_string(), String::new());
    let bind = |dn: &str, pw: &str| (0x60, dn.to_string(), pw.to_string());
    assert_eq!(
        ops[0],
        [svc.clone(), search.clone(), bind("uid=alice,dc=x", "wrong")]
    );
    // No entry: still a bind with the password given, to the decoy DN, whose success is
    // not taken as one.
    let decoy = format!("{NO_SUCH_USER_RDN},dc=x");
    assert_eq!(ops[1], [svc.clone(), search.clone(), bind(&decoy, "wrong")]);
    assert_eq!(ops[2], [svc, search, bind("uid=alice,dc=x", "right")]);
}

#[test]
fn flags() {
    let parse = |a: &[&str]| {
        let args: Vec<OsString> = a.iter().map(OsString::from).collect();
        PluginFlags::parse(&AUTH_LDAP_PLUGIN, args).and_then(|f| Ldap::from_flags(&f))
    };
    let l = parse(&[
        "--url",
        "ldap://127.0.0.1:3890",
        "--user-dn",
        "ou=people,dc=x",
    ])
    .unwrap();
    assert_eq!((l.host.as_str(), l.port), ("127.0.0.1", 3890));
    assert_eq!(
        l.lookup,
        Lookup::Template {
            attr: "uid".into(),
            base: "ou=people,dc=x".into()
        }
    );
    let l = parse(&[
        "--url",
        "ldaps://ldap.example.com",
        "--user-search-base",
        "dc=x",
    ])
    .unwrap();
    assert_eq!(l.port, 636);
    assert!(l.implicit_tls && l.tls.is_some());
    for bad in [
        &["--url", "http://x", "--user-dn", "d"][..],
        &["--url", "ldap://x"],
        &[
            "--url",
            "ldap://x",
            "--user-dn",
            "d",
            "--user-search-base",
            "b",
        ],
        &[
            "--url",
            "ldap://x",
            "--user-search-base",
            "b",
            "--user-filter",
            "(uid=x)",
        ],
        &[
            "--url",
            "ldap://x",
            "--user-search-base",
            "b",
            "--user-filter",
            "(uid=%u",
        ],
        &[
            "--url",
            "ldap://x",
            "--user-search-base",
            "b",
            "--bind-dn",
            "cn=a",
        ],
        &["--url", "ldaps://x", "--start-tls", "--user-dn", "d"],
        &[
            "--url",
            "ldap://x",
            "--user-search-base",
            "b",
            "--bind-dn",
            "cn=a",
            "--bind-passwd",
            "",
        ],
        &[
            "--url",
            "ldap://x",
            "--start-tls",
            "--user-dn",
            "d",
            "--ca-cert-file",
            "/nonexistent",
        ],
    ] {
        assert!(matches!(parse(bad), Err(PluginExit::Usage(_))), "{bad:?}");
    }
    let empty = [
        "--url",
        "ldap://x",
        "--user-search-base",
        "b",
        "--bind-dn",
        "cn=a",
        "--bind-passwd",
        "",
    ];
    let err = parse(&empty)
        .err()
        .expect("an empty --bind-passwd is refused");
    assert!(err.to_string().contains("--bind-passwd is empty"), "{err}");
    assert!(err.to_string().contains("unauthenticated bind"), "{err}");

    // The bind password from a file, with a space and a trailing newline.
    let dir = std::env::temp_dir().join(format!("auth-ldap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pw = dir.join("bind-pw");
    std::fs::write(&pw, "admin pass\n").unwrap();
    let pw = pw.display().to_string();
    let search = |extra: &[&str]| {
        let mut a = vec!["--url", "ldap://x", "--user-search-base", "b"];
        a.extend_from_slice(extra);
        parse(&a)
    };
    let l = search(&["--bind-dn", "cn=a", "--bind-passwd-file", &pw]).unwrap();
    assert_eq!(
        l.lookup,
        Lookup::Search {
            bind: Some(("cn=a".into(), "admin pass".into())),
            base: "b".into(),
            filter: "(uid=%u)".into(),
        }
    );
    let empty = dir.join("empty");
    std::fs::write(&empty, "").unwrap();
    let empty = empty.display().to_string();
    for bad in [
        &["--bind-dn", "cn=a", "--bind-passwd-file", &empty][..],
        &["--bind-dn", "cn=a", "--bind-passwd-file", "/nonexistent/pw"],
        &["--bind-passwd-file", &pw],
        &[
            "--bind-dn",
            "cn=a",
            "--bind-passwd-file",
            &pw,
            "--bind-passwd",
            "x",
        ],
    ] {
        assert!(matches!(search(bad), Err(PluginExit::Usage(_))), "{bad:?}");
    }
    let err = search(&["--bind-dn", "cn=a", "--bind-passwd-file", &empty])
        .err()
        .unwrap();
    assert!(err.to_string().contains("unauthenticated bind"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
