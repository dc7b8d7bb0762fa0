//! Large bodies between plaintext sockets move with splice(2) (`--proxy-splice-threshold`):
//! they must arrive unchanged and in order, pipelined with small frames, in both directions,
//! with the same deadlines as the copy; and with the threshold at 0 the proxy copies.

use crate::fake_broker::{request, FakeBroker, RawClient, Reply};
use crate::harness::Proxy;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// DescribeConfigs v0: an API the proxy forwards as bytes both ways.
const PASS_THROUGH_API: i16 = 32;

/// A body of `len` bytes that differs for each `seed`.
fn body(seed: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed) as u8)
        .collect()
}

/// A broker that answers each request with its correlation id and the request's body reversed
/// (so a response is as large as its request, and not the same bytes).
fn echo_broker() -> FakeBroker {
    FakeBroker::start(|req| {
        let mut out = req.correlation_id.to_be_bytes().to_vec();
        out.extend(req.frame[8..].iter().rev());
        Reply::Frame(out)
    })
}

/// Sends requests of the given body sizes in one write, then checks every response.
fn round_trips(client: &mut RawClient, sizes: &[usize]) {
    let mut batch = Vec::new();
    let mut frames = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let frame = request(
            PASS_THROUGH_API,
            0,
            i as i32 + 1,
            false,
            &body(i as u32, len),
        );
        batch.extend_from_slice(&(frame.len() as i32).to_be_bytes());
        batch.extend_from_slice(&frame);
        frames.push(frame);
    }
    let mut writer = client.stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || writer.write_all(&batch).unwrap());
    for (i, frame) in frames.iter().enumerate() {
        let response = client.recv().expect("a response");
        assert_eq!(response[..4], (i as i32 + 1).to_be_bytes(), "correlation");
        let expected: Vec<u8> = frame[8..].iter().rev().copied().collect();
        assert!(
            response[4..] == expected[..],
            "response {i} ({} bytes) differs from what the broker sent",
            response.len()
        );
    }
    sending.join().unwrap();
}

/// Pipes the proxy process holds (each splicing thread keeps one while busy), as descriptors.
fn pipes_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("pipe:"))
                .count()
        })
        .unwrap_or(0)
}

const SIZES: [usize; 7] = [
    3 * 1024 * 1024,
    10,
    70_000,
    1024 * 1024 + 1,
    200,
    65_535,
    5 * 1024 * 1024,
];

#[test]
fn large_bodies_arrive_unchanged_spliced_and_copied() {
    let broker = echo_broker();
    for threshold in ["65536", "1", "0"] {
        let proxy = Proxy::start_for_port(
            broker.port(),
            &[
                "--proxy-splice-threshold",
                threshold,
                "--max-frame-size",
                "8MiB",
            ],
        );
        let mut client = RawClient::connect(proxy.addr());
        round_trips(&mut client, &SIZES);
        // And again on the same connection, after the pumps went idle.
        std::thread::sleep(Duration::from_millis(1200));
        round_trips(&mut client, &SIZES[..3]);
        let log = proxy.log();
        assert!(!log.contains("WARN") && !log.contains("ERROR"), "{log}");
    }
}

/// A client that stops in the middle of a large body meets a timeout while the request pump
/// waits in splice (it holds a pipe then), as on the copy path (without one); the connection
/// closes and its pipe goes with it.
#[test]
fn a_large_body_that_stalls_times_out_as_with_the_copy() {
    let broker = echo_broker();
    for (threshold, pipes) in [("65536", true), ("0", false)] {
        let proxy = Proxy::start_for_port(
            broker.port(),
            &[
                "--proxy-splice-threshold",
                threshold,
                "--kafka-read-timeout",
                "2s",
                "--max-frame-size",
                "8MiB",
            ],
        );
        // Pipes the process was started with (a test runner's job server, say).
        let inherited = pipes_of(proxy.pid());
        let frame = request(PASS_THROUGH_API, 0, 1, false, &body(9, 4 * 1024 * 1024));
        let mut stalled = TcpStream::connect(proxy.addr()).unwrap();
        stalled
            .write_all(&(frame.len() as i32).to_be_bytes())
            .unwrap();
        stalled.write_all(&frame[..300_000]).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            pipes_of(proxy.pid()) > inherited,
            pipes,
            "threshold {threshold}"
        );
        // The response pump's wait for the answer ends first (a large frame's own deadline
        // allows for its size), as it does with the copy.
        let expected = "timed out";
        let deadline = Instant::now() + Duration::from_secs(10);
        while !proxy.log().contains(expected) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = proxy.log();
        assert!(log.contains(expected), "threshold {threshold}: {log}");
        let mut stalled = RawClient { stream: stalled };
        assert!(stalled.is_closed(), "threshold {threshold}");
        // The pipe goes with the connection's thread.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pipes_of(proxy.pid()) > inherited && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(pipes_of(proxy.pid()), inherited, "threshold {threshold}");
        // Another client is served.
        let mut client = RawClient::connect(proxy.addr());
        round_trips(&mut client, &[100_000]);
    }
}
