//! Upgrading without refusing a connection: a second proxy started with the same flags binds the
//! same ports (SO_REUSEPORT) while the first runs, and SIGTERM to the first hands every new
//! connection to the second. (tests/kafka/upgrade.rs shows the same with real clients and a real
//! broker.)

use crate::fake_broker::RawClient;
use crate::harness::{free_port, http_get, Proxy};
use crate::ops::{list_offsets, slow_broker, wait_until};
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the client loop saw: answers, refused connects, and other failures (a reset or a close
/// before the answer, which a Kafka client retries).
#[derive(Default)]
struct Outcomes {
    answered: AtomicU64,
    refused: AtomicU64,
    other: Mutex<Vec<String>>,
}

/// One connection, one ListOffsets request, its answer.
fn one_round_trip(addr: SocketAddr, correlation_id: i32, outcomes: &Outcomes) {
    let stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(stream) => stream,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            outcomes.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(e) => return outcomes.other.lock().unwrap().push(format!("connect: {e}")),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut client = RawClient { stream };
    let answer = client
        .send(&list_offsets(correlation_id))
        .ok()
        .and_then(|()| client.recv());
    match answer {
        Some(frame) if frame[..4] == correlation_id.to_be_bytes() => {
            outcomes.answered.fetch_add(1, Ordering::Relaxed);
        }
        other => outcomes
            .other
            .lock()
            .unwrap()
            .push(format!("request {correlation_id}: {other:?}")),
    }
}

#[test]
fn a_second_process_on_the_same_ports_takes_over_without_a_refused_connection() {
    let broker = slow_broker(Duration::ZERO, b"answer");
    let port = free_port();
    let http_port = free_port();
    let mapping = format!("127.0.0.1:{},127.0.0.1:{port}", broker.port());
    let http = format!("127.0.0.1:{http_port}");
    // The same flags for every process, the HTTP address included.
    let args = [
        "--bootstrap-server-mapping",
        &mapping,
        "--http-listen-address",
        &http,
        "--log-level",
        "debug",
    ];
    let mut old = Proxy::start_args(port, &args, &[]);
    let addr = old.addr();

    let outcomes = Arc::new(Outcomes::default());
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|n| {
            let (outcomes, done) = (Arc::clone(&outcomes), Arc::clone(&done));
            thread::spawn(move || {
                let mut correlation_id = n * 1_000_000;
                while !done.load(Ordering::Relaxed) {
                    correlation_id += 1;
                    one_round_trip(addr, correlation_id, &outcomes);
                }
            })
        })
        .collect();

    for _ in 0..3 {
        let mut new = Proxy::start_args(port, &args, &[]);
        wait_until(
            "the new proxy to serve HTTP",
            Duration::from_secs(10),
            || new.log().contains(&format!("HTTP on {http}")),
        );
        new.assert_healthy();
        // Either process may answer on the shared port; both are serving, so both say 200.
        assert_eq!(http_get(http_port, "/health").0, 200);
        let before = outcomes.answered.load(Ordering::Relaxed);
        old.signal("TERM");
        let status = old.wait_exit(Duration::from_secs(30)).expect("old exits");
        assert!(status.success(), "{status}\n{}", old.log());
        // Served by the new process alone now.
        assert_eq!(http_get(http_port, "/health").0, 200);
        wait_until(
            "answers from the new process",
            Duration::from_secs(10),
            || outcomes.answered.load(Ordering::Relaxed) > before + 20,
        );
        old = new;
    }
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    old.assert_healthy();
    let other = outcomes.other.lock().unwrap();
    eprintln!(
        "answered {}, refused {}, other {}: {:?}",
        outcomes.answered.load(Ordering::Relaxed),
        outcomes.refused.load(Ordering::Relaxed),
        other.len(),
        other.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(outcomes.refused.load(Ordering::Relaxed), 0, "refused");
    // A connection the kernel queued to the old listener in the instant it shut down is reset
    // (unless net.ipv4.tcp_migrate_req=1): rare, and retried by any client.
    let answered = outcomes.answered.load(Ordering::Relaxed);
    assert!(other.len() as u64 * 100 <= answered, "{other:?}");
}
