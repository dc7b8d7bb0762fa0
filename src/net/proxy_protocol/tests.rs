use super::*;
use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A v2 header: signature, version/command, family, length, then `body`.
fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x20 | command);
    out.push(family);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn v2_tcp4() -> Vec<u8> {
    let mut body = vec![192, 0, 2, 7, 10, 0, 0, 1];
    body.extend_from_slice(&51234u16.to_be_bytes());
    body.extend_from_slice(&9092u16.to_be_bytes());
    v2(1, 0x11, &body)
}

#[test]
fn v1_headers() {
    let line = b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 9092\r\nKAFKA";
    let (header, len) = decode(line, Mode::Any).unwrap();
    assert_eq!(len, line.len() - 5);
    assert_eq!(
        header,
        Header::Proxied {
            source: addr("192.0.2.7:51234"),
            destination: addr("10.0.0.1:9092")
        }
    );
    let line = b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
    let (header, _) = decode(line, Mode::V1).unwrap();
    assert_eq!(
        header.client(addr("127.0.0.1:1")),
        addr("[2001:db8::1]:65535")
    );
    let (header, _) = decode(b"PROXY UNKNOWN ff ee\r\n", Mode::V1).unwrap();
    assert_eq!(header, Header::Unknown);
    assert_eq!(header.client(addr("127.0.0.1:1")), addr("127.0.0.1:1"));
}

#[test]
fn v2_headers() {
    let mut bytes = v2_tcp4();
    bytes.extend_from_slice(b"after");
    let (header, len) = decode(&bytes, Mode::V2).unwrap();
    assert_eq!(len, bytes.len() - 5);
    assert_eq!(header.client(addr("127.0.0.1:1")), addr("192.0.2.7:51234"));

    let mut body = Vec::new();
    body.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    body.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    body.extend_from_slice(&[0x12, 0x34, 0x23, 0x84]);
    body.extend_from_slice(&[0x04, 0x00, 0x01, b'x']); // a TLV, ignored
    let (header, _) = decode(&v2(1, 0x21, &body), Mode::Any).unwrap();
    assert_eq!(
        header.client(addr("127.0.0.1:1")),
        addr("[2001:db8::7]:4660")
    );

    assert_eq!(
        decode(&v2(0, 0x00, &[]), Mode::V2).unwrap().0,
        Header::Local
    );
    assert_eq!(
        decode(&v2(0, 0x11, &[1; 12]), Mode::V2).unwrap().0,
        Header::Local
    );
    assert_eq!(
        decode(&v2(1, 0x00, &[]), Mode::V2).unwrap().0,
        Header::Unknown
    );
    assert_eq!(
        decode(&v2(1, 0x31, &[0; 216]), Mode::V2).unwrap().0,
        Header::Unknown
    );
}

#[test]
fn bad_headers_are_refused_with_their_reason() {
    let cases: Vec<(Vec<u8>, Mode, &str)> = vec![
        (b"PROXY TCP4 1.2.3.4".to_vec(), Mode::V1, "cut short"),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n".to_vec(),
            Mode::V1,
            "CRLF",
        ),
        (
            b"PROXY TCP4 ::1 ::1 1 2\r\n".to_vec(),
            Mode::V1,
            "does not match",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n".to_vec(),
            Mode::V1,
            "port",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n".to_vec(),
            Mode::V1,
            "port",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n".to_vec(),
            Mode::V1,
            "four",
        ),
        (
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(),
            Mode::V1,
            "TCP4",
        ),
        (
            [b"PROXY ".as_slice(), &[b'x'; 120]].concat(),
            Mode::V1,
            "longer than 107",
        ),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), Mode::Any, "v1 or v2"),
        (b"\x00\x00\x00\x10".to_vec(), Mode::V2, "does not begin"),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(),
            Mode::V2,
            "v2 header",
        ),
        (v2_tcp4(), Mode::V1, "v1 header"),
        (v2_tcp4()[..20].to_vec(), Mode::V2, "cut short"),
        (v2(1, 0x11, &[0; 4]), Mode::V2, "longer than the header"),
        (v2(1, 0x41, &[]), Mode::V2, "family byte 0x41"),
        (v2(1, 0x13, &[]), Mode::V2, "family byte 0x13"),
        (v2(1, 0x12, &[0; 12]), Mode::V2, "UDP"),
        (v2(2, 0x11, &[0; 12]), Mode::V2, "command 0x2"),
        (v2(1, 0x11, &[0; 1100]), Mode::V2, "longer than 1040"),
    ];
    for (bytes, mode, reason) in cases {
        let err = decode(&bytes, mode).unwrap_err().to_string();
        assert!(err.contains(reason), "{bytes:?}: {err} (wanted {reason:?})");
    }
    let mut wrong_version = v2_tcp4();
    wrong_version[12] = 0x11;
    assert!(decode(&wrong_version, Mode::V2)
        .unwrap_err()
        .to_string()
        .contains("version"));
}

/// A connected pair: what the test writes to `client` the proxy reads from the returned stream.
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    (client, listener.accept().unwrap().0)
}

#[test]
fn reading_takes_exactly_the_header() {
    for (header, mode) in [
        (
            b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 9092\r\n".to_vec(),
            Mode::V1,
        ),
        (v2_tcp4(), Mode::Any),
    ] {
        let (mut client, server) = pair();
        // In pieces, with the next protocol's bytes right behind.
        client.write_all(&header[..5]).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            client.write_all(&header[5..]).unwrap();
            client.write_all(b"\x16\x03\x01").unwrap();
            client
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let got = read(&server, mode, deadline).unwrap();
        assert_eq!(got.client(addr("127.0.0.1:1")), addr("192.0.2.7:51234"));
        let mut rest = [0u8; 3];
        (&server).read_exact(&mut rest).unwrap();
        assert_eq!(&rest, b"\x16\x03\x01");
        drop(writer.join().unwrap());
    }
}

#[test]
fn reading_ends_at_the_deadline_or_the_close() {
    let (mut client, server) = pair();
    client.write_all(b"PROXY TCP4").unwrap();
    let started = Instant::now();
    let err = read(&server, Mode::Any, started + Duration::from_millis(100)).unwrap_err();
    assert!(matches!(err, HeaderError::Timeout), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(client);
    let err = read(&server, Mode::Any, Instant::now() + Duration::from_secs(5)).unwrap_err();
    assert!(matches!(err, HeaderError::Closed), "{err}");
}

#[test]
fn cidr_blocks() {
    let block = Cidr::parse("10.1.0.0/16").unwrap();
    assert!(block.contains("10.1.200.3".parse().unwrap()));
    assert!(block.contains("::ffff:10.1.0.9".parse().unwrap()));
    assert!(!block.contains("10.2.0.1".parse().unwrap()));
    assert!(!block.contains("::1".parse().unwrap()));
    assert!(Cidr::parse("0.0.0.0/0")
        .unwrap()
        .contains("8.8.8.8".parse().unwrap()));
    let one = Cidr::parse("127.0.0.1").unwrap();
    assert!(one.contains("127.0.0.1".parse().unwrap()));
    assert!(!one.contains("127.0.0.2".parse().unwrap()));
    let v6 = Cidr::parse("2001:db8::/32").unwrap();
    assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
    assert!(!v6.contains("2001:db9::1".parse().unwrap()));
    assert_eq!(v6.to_string(), "2001:db8::/32");
    for bad in [
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/+8",
        "host/8",
        "10.0.0.0/",
        "",
    ] {
        assert!(Cidr::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn modes() {
    assert_eq!(Mode::parse("V2").unwrap(), Mode::V2);
    assert_eq!(Mode::parse("off").unwrap(), Mode::Off);
    assert!(Mode::parse("v3").is_err());
}
