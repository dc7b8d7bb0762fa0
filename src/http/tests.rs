use super::*;

struct Fixed;
impl Routes for Fixed {
    fn get(&self, path: &str) -> Option<Response> {
        match path {
            "/health" => Some(Response::text(200, "ok\n")),
            "/data" => Some(Response::text(200, "data\n")),
            "/slow" => {
                thread::sleep(Duration::from_millis(1500));
                Some(Response::text(200, "slow\n"))
            }
            _ => None,
        }
    }

    fn is_probe(&self, path: &str) -> bool {
        path == "/health"
    }
}

#[test]
fn parses_request_lines() {
    let head = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(head.method, "GET");
    assert_eq!(head.path, "/metrics");
    assert_eq!(parse_head(b"GET / HTTP/1.0\n\n").unwrap().path, "/");
    assert_eq!(parse_head(b"GET /\r\n\r\n"), Err(400));
    assert_eq!(parse_head(b"GET  / HTTP/1.1\r\n\r\n"), Err(400));
    assert_eq!(parse_head(b"GET ?x HTTP/1.1\r\n\r\n"), Err(400));
    assert_eq!(parse_head(b"G\xffT / HTTP/1.1\r\n\r\n"), Err(400));
    assert_eq!(parse_head(b"GET / HTTP/2.0\r\n\r\n"), Err(505));
    assert_eq!(parse_head(b"GET / SPDY\r\n\r\n"), Err(400));
    assert_eq!(parse_head(b"\r\n\r\n"), Err(400));
    assert_eq!(parse_head(b""), Err(400));
}

#[test]
fn methods_and_paths() {
    let head = |method: &str, path: &str| Head {
        method: method.into(),
        path: path.into(),
    };
    assert_eq!(respond(&Fixed, &head("GET", "/health")).status, 200);
    assert_eq!(respond(&Fixed, &head("HEAD", "/health")).status, 200);
    assert_eq!(respond(&Fixed, &head("POST", "/health")).status, 405);
    assert_eq!(respond(&Fixed, &head("DELETE", "/nope")).status, 404);
    assert_eq!(respond(&Fixed, &head("GET", "/health/")).status, 404);
    let encoded = respond(&Fixed, &head("POST", "/health")).encode(false);
    let text = String::from_utf8(encoded).unwrap();
    assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(text.contains("Allow: GET, HEAD\r\n"));
    let head_only = Response::text(200, "ok\n").encode(true);
    assert!(String::from_utf8(head_only)
        .unwrap()
        .ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"));
}

#[test]
fn head_reading_is_bounded() {
    let read = |mut bytes: &[u8]| {
        let mut head = Vec::new();
        (read_head(&mut bytes, &mut head), head)
    };
    let (state, head) = read(b"GET / HTTP/1.1\r\nA: b\r\n\r\nBODY");
    let HeadState::Complete(end) = state else {
        panic!("{state:?}")
    };
    assert_eq!(&head[..end], b"GET / HTTP/1.1\r\nA: b\r\n\r\n");
    let huge = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 1 << 20]].concat();
    let (state, head) = read(&huge);
    assert_eq!(state, HeadState::TooLarge);
    assert!(head.len() <= MAX_HEAD + 4, "{}", head.len());
    assert_eq!(read(b"GET / HTTP/1.1\r\n").0, HeadState::Closed);
}

/// Hands out its bytes a few at a time, then says "would block" once, like a slow socket.
struct Trickle<'a>(&'a [u8], bool);
impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.1 = !self.1;
        if self.1 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(3).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_head_read_over_many_polls_is_found_across_their_seams() {
    let sent = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut stream = Trickle(sent, false);
    let mut head = Vec::new();
    let mut polls = 0;
    let end = loop {
        polls += 1;
        match read_head(&mut stream, &mut head) {
            HeadState::Partial => continue,
            HeadState::Complete(end) => break end,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(&head[..end], sent);
    assert!(polls > 10, "{polls}");
    let mut lenient = Trickle(b"GET / HTTP/1.0\n\nrest", false);
    let mut head = Vec::new();
    while read_head(&mut lenient, &mut head) == HeadState::Partial {}
    assert!(head.starts_with(b"GET / HTTP/1.0\n\n"));
}

#[test]
fn per_address_caps_count_hosts() {
    let key = |s: &str| source_of(s.parse().unwrap()).to_string();
    assert_eq!(key("10.1.2.3"), "10.1.2.3");
    assert_eq!(key("::ffff:10.1.2.3"), "10.1.2.3");
    assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
    assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
    assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
}

fn get(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn serves_over_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut server = HttpServer::spawn(listener, Arc::new(Fixed), "http-test").unwrap();
    let addr = server.local_addr();
    let ok = get(addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.ends_with("\r\n\r\nok\n"), "{ok}");
    let post = get(
        addr,
        b"POST /health HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    let huge = [b"GET /health HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 100_000]].concat();
    let too_large = get(addr, &huge);
    assert!(too_large.starts_with("HTTP/1.1 431 "), "{too_large}");
    let garbage = get(addr, b"\x16\x03\x01\x00\x05hello\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
    // Still serving after all that.
    let again = get(addr, b"GET /health HTTP/1.0\r\n\r\n");
    assert!(again.starts_with("HTTP/1.1 200 OK\r\n"), "{again}");
    server.stop();
    assert!(TcpStream::connect(addr).is_err(), "closed after stop");
}

/// `n` connections to `addr` that never send a byte.
fn hold_idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| TcpStream::connect(addr).unwrap()).collect()
}

/// Whether the server has closed `stream` (its answer, if any, read and dropped).
fn is_closed(mut stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut sink = Vec::new();
    !matches!(stream.read_to_end(&mut sink), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

#[test]
fn held_idle_connections_do_not_starve_health() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = HttpServer::spawn(listener, Arc::new(Fixed), "http-test").unwrap();
    let addr = server.local_addr();
    let _idle = hold_idle(addr, 64);
    thread::sleep(Duration::from_millis(200));
    let asked = Instant::now();
    let health = get(addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    let data = get(addr, b"GET /data HTTP/1.1\r\n\r\n");
    assert!(data.starts_with("HTTP/1.1 200 OK\r\n"), "{data}");
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
}

#[test]
fn idle_connections_are_closed_after_the_first_byte_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = HttpServer::spawn(listener, Arc::new(Fixed), "http-test").unwrap();
    let addr = server.local_addr();
    let opened = Instant::now();
    let idle = hold_idle(addr, 64);
    // All but the newest few from one address are closed at once, the rest at the deadline.
    thread::sleep(Duration::from_millis(500));
    let closed = idle.iter().filter(|s| is_closed(s)).count();
    assert!(closed >= 64 - MAX_PER_ADDRESS, "{closed} closed");
    thread::sleep((opened + Duration::from_millis(2500)).saturating_duration_since(Instant::now()));
    let open = idle.iter().filter(|s| !is_closed(s)).count();
    assert_eq!(open, 0, "still open {:?} after opening", opened.elapsed());
}

#[test]
fn slow_but_valid_client_is_answered_while_idle_ones_are_held() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = HttpServer::spawn(listener, Arc::new(Fixed), "http-test").unwrap();
    let addr = server.local_addr();
    let _idle = hold_idle(addr, 64);
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // First byte well within the deadline, the whole head after it but within HEAD_DEADLINE.
    for part in ["GET /he", "alth HTTP/1.1\r\nHost: x\r\n", "\r\n"] {
        thread::sleep(Duration::from_millis(700));
        let _ = slow.write_all(part.as_bytes());
    }
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
}

#[test]
fn probe_is_answered_while_one_address_fills_its_threads() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = HttpServer::spawn(listener, Arc::new(Fixed), "http-test").unwrap();
    let addr = server.local_addr();
    let slow: Vec<_> = (0..MAX_PER_ADDRESS)
        .map(|_| thread::spawn(move || get(addr, b"GET /slow HTTP/1.1\r\n\r\n")))
        .collect();
    thread::sleep(Duration::from_millis(400));
    let refused = get(addr, b"GET /data HTTP/1.1\r\n\r\n");
    assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
    let asked = Instant::now();
    let health = get(addr, b"HEAD /health HTTP/1.1\r\n\r\n");
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    assert!(health.ends_with("\r\n\r\n"), "HEAD has no body: {health}");
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "{:?}",
        asked.elapsed()
    );
    for answer in slow {
        let answer = answer.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    }
}

#[test]
fn bind_error_names_the_flag() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let address = HostPort {
        host: "127.0.0.1".into(),
        port,
    };
    let err = bind(&address, "http-listen-address").unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "cannot listen on 127.0.0.1:{port} (--http-listen-address): "
        )),
        "{err}"
    );
}
