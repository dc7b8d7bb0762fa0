use super::*;
use std::net::TcpStream;
use std::sync::atomic::Ordering;

#[test]
fn plain_tokens() {
    assert_eq!(
        parse_plain(b"\0alice\0pw").unwrap(),
        PlainCredentials {
            username: "alice".into(),
            password: "pw".into()
        }
    );
    assert_eq!(parse_plain(b"alice\0alice\0pw").unwrap().username, "alice");
    let refused: &[(&[u8], &str)] = &[
        (b"alice\0pw", "two NUL"),
        (b"\0alice\0pw\0", "two NUL"),
        (b"", "two NUL"),
        (b"\0\0pw", "empty username"),
        (b"\0alice\0", "empty password"),
        (b"\0al\xffice\0pw", "UTF-8"),
        (b"\0alice\0p\xc3", "UTF-8"),
        (b"bob\0alice\0pw", "authorization identity"),
        (b"\0ali\nce\0pw", "control"),
    ];
    for (token, why) in refused {
        let err = parse_plain(token).unwrap_err();
        assert!(err.to_string().contains(why), "{token:?}: {err}");
    }
    let long_user = format!("\0{}\0pw", "u".repeat(256));
    assert!(parse_plain(long_user.as_bytes()).is_err());
    let long_password = format!("\0u\0{}", "p".repeat(1025));
    assert!(parse_plain(long_password.as_bytes()).is_err());
    assert!(parse_plain(&vec![b'x'; 10_000]).is_err());
    let ok_max = format!("\0{}\0{}", "u".repeat(255), "p".repeat(1024));
    assert!(parse_plain(ok_max.as_bytes()).is_ok());
}

/// A broker that accepts connections and never says a word, until the test ends.
fn silent_broker() -> (std::net::SocketAddr, std::sync::mpsc::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let mut held = Vec::new();
        while stopped.try_recv() == Err(std::sync::mpsc::TryRecvError::Empty) {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (addr, stop)
}

/// Probes `broker` as local SASL does, reading for up to 30 s unless the deadline is sooner.
fn probe_silent(addr: std::net::SocketAddr, deadline: Instant) -> Result<ApiEntries, ConnError> {
    let left = time_left(deadline)?;
    let socket =
        TcpStream::connect_timeout(&addr, left).map_err(|e| ConnError::Io(Side::Broker, e))?;
    let mut stream: Stream = Box::new(crate::net::stream::Socket::from(socket));
    probe_versions(
        &mut stream,
        Duration::from_secs(30).min(time_left(deadline)?),
    )
}

#[test]
fn concurrent_probes_of_a_silent_broker_are_each_bounded_by_their_own_deadline() {
    let (addr, _stop) = silent_broker();
    let cache = std::sync::Arc::new(VersionsCache::default());
    let started = Instant::now();
    let clients: Vec<_> = [400u64, 800]
        .into_iter()
        .map(|ms| {
            let cache = std::sync::Arc::clone(&cache);
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_millis(ms);
                let result = cache.get("silent:9092", deadline, || probe_silent(addr, deadline));
                (ms, result.map(|_| ()), Instant::now())
            })
        })
        .collect();
    for client in clients {
        let (ms, result, ended) = client.join().unwrap();
        let took = ended - started;
        let err = result.expect_err("a silent broker gives no versions");
        assert!(matches!(err, ConnError::Timeout(Side::Broker, _)), "{err}");
        assert!(
            took >= Duration::from_millis(ms - 50) && took < Duration::from_millis(ms + 600),
            "the client with a {ms} ms deadline waited {took:?}"
        );
    }
}

#[test]
fn waiting_clients_get_what_one_probe_learned_or_probe_themselves_after_a_failure() {
    let cache = std::sync::Arc::new(VersionsCache::default());
    let entries: ApiEntries = vec![(18, 0, 4)];
    let far = || Instant::now() + Duration::from_secs(5);
    // The first probe fails slowly; the second client waits, then takes its turn.
    let first = {
        let cache = std::sync::Arc::clone(&cache);
        std::thread::spawn(move || {
            cache.get("b:1", far(), || {
                std::thread::sleep(Duration::from_millis(200));
                Err(ConnError::Closed(Side::Broker))
            })
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let probes = std::sync::atomic::AtomicUsize::new(0);
    let got = cache.get("b:1", far(), || {
        probes.fetch_add(1, Ordering::SeqCst);
        Ok(entries.clone())
    });
    assert!(first.join().unwrap().is_err());
    assert_eq!(got.unwrap(), entries);
    assert_eq!(probes.load(Ordering::SeqCst), 1);
    // Cached now: no further probe.
    let again = cache.get("b:1", far(), || panic!("probed although cached"));
    assert_eq!(again.unwrap(), entries);
}

#[test]
fn debug_hides_the_password() {
    let c = parse_plain(b"\0alice\0hunter2").unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}
