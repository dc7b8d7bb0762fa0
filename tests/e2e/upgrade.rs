//! Upgrading without refusing a connection: a second proxy started with the same flags binds the
//! same ports (SO_REUSEPORT) while the first runs, and SIGTERM to the first hands every new
//! connection to the second. (tests/kafka/upgrade.rs shows the same with real clients and a real
//! broker.)

use crate::fake_broker::node;
use crate::fake_broker::RawClient;
use crate::harness::{free_port, http_get, Proxy};
use crate::ops::{list_offsets, slow_broker, wait_until};
use crate::scripted::{broker_naming, free_port_block, second_broker};
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

/// Client loops, each with one connection at a time.
const CLIENTS: usize = 4;
const HANDOVERS: usize = 3;

/// Runs a connect-per-request client loop against each of `targets` while a proxy started with
/// `args` is replaced three times by a new one with the same `args`, and checks that no
/// connection was refused. `ready` tells when a new process serves (its log so far); `check`
/// runs while both serve and again once the old one has exited.
fn three_handovers(
    port: u16,
    args: &[&str],
    targets: &[SocketAddr],
    ready: &str,
    check: impl Fn(),
) {
    let mut old = Proxy::start_args(port, args, &[]);
    let outcomes = Arc::new(Outcomes::default());
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (outcomes, done) = (Arc::clone(&outcomes), Arc::clone(&done));
            let addr = targets[n % targets.len()];
            thread::spawn(move || {
                let mut correlation_id = n as i32 * 1_000_000;
                while !done.load(Ordering::Relaxed) {
                    correlation_id += 1;
                    one_round_trip(addr, correlation_id, &outcomes);
                }
            })
        })
        .collect();
    for _ in 0..HANDOVERS {
        let mut new = Proxy::start_args(port, args, &[]);
        wait_until("the new proxy to be ready", Duration::from_secs(10), || {
            new.log().contains(ready)
        });
        new.assert_healthy();
        check();
        let before = outcomes.answered.load(Ordering::Relaxed);
        old.signal("TERM");
        let status = old.wait_exit(Duration::from_secs(30)).expect("old exits");
        assert!(status.success(), "{status}\n{}", old.log());
        check();
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
    let answered = outcomes.answered.load(Ordering::Relaxed);
    let refused = outcomes.refused.load(Ordering::Relaxed);
    eprintln!(
        "answered {answered}, refused {refused}, other {}: {:?}",
        other.len(),
        other.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(refused, 0, "refused connections");
    // What a handover may cost a client is the one connection it had in flight with the old
    // process: closed by the drain before its request was read, or, queued to the old listener
    // in the instant it shut down, reset (unless net.ipv4.tcp_migrate_req=1). A Kafka client
    // retries either; neither is a refusal.
    assert!(other.len() <= CLIENTS * HANDOVERS, "{other:?}");
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
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // Either process may answer on the shared HTTP port: 200 from both while both serve, then
    // from the new one alone.
    three_handovers(port, &args, &[addr], &format!("HTTP on {http}"), || {
        assert_eq!(http_get(http_port, "/health").0, 200)
    });
}

/// With --deterministic-listeners the new process binds the dynamic listeners at startup, so
/// the ports the old one advertised for the other brokers never close either.
#[test]
fn deterministic_dynamic_listeners_are_bound_before_the_handover() {
    let second = second_broker();
    let first = broker_naming(vec![node(1, "127.0.0.1", second.port())]);
    let min = free_port_block(2);
    let port = free_port();
    let mapping = format!("127.0.0.1:{},127.0.0.1:{port}", first.port());
    let min_port = min.to_string();
    let args = [
        "--bootstrap-server-mapping",
        &mapping,
        "--deterministic-listeners",
        "--dynamic-sequential-min-port",
        &min_port,
        "--log-level",
        "debug",
    ];
    // Node 1's listener is min + 1; the loop never asks for metadata, so only the startup
    // binding can have opened it.
    let dynamic = SocketAddr::from(([127, 0, 0, 1], min + 1));
    three_handovers(
        port,
        &args,
        &[dynamic],
        "1 dynamic listeners bound at startup",
        || {},
    );
}
