//! The performance harness: kafka-proxy against the direct path and against HAProxy in TCP mode
//! (the reference cost of a bare TCP hop), measured alternately in one run.
//!
//! `cargo bench --bench perf` (or `scripts/bench.sh`, which also raises the open-files limit the
//! memory benchmark needs). Options after `--`:
//!
//! - `--seconds S` per measurement (2), `--rounds N` (3; paths alternate within each round and
//!   the figures are medians over rounds), `--depth N` requests in flight per connection (4),
//!   `--connections 1,8,64` (a workload with connection counts of its own runs at those unless
//!   this is given), `--workloads produce8,fetch11,...` (see `wire::workloads`),
//! - `--sections throughput,latency,buffers,extras,splice,memory` (all),
//! - `--latency-samples N` (20000), `--memory-connections 1000,3000,10000`,
//! - `--haproxy-threads N` (HAProxy's default: one thread per CPU),
//! - `--profile WORKLOAD [--profile-seconds S] [--profile-connections N] [--profile-output F]
//!   [--profile-flags "FLAGS"]`: only run WORKLOAD (at 8 connections) through HAProxy and
//!   kafka-proxy (started with FLAGS), counting system
//!   calls and context switches with `perf stat`, kafka-proxy also under `perf record`, and
//!   print the top functions
//!   (`scripts/bench.sh profile` builds a proxy with symbols for it; `KAFKA_PROXY_BIN` names
//!   the binary to run).
//!
//! The scripted broker answers from pre-encoded responses, so it is never the bottleneck; the
//! load generator, the broker and the process under test share the machine's cores, so
//! throughput through a hop is bounded by the CPU the hop takes. Every figure is a ratio against
//! the direct path (or HAProxy) measured in the same run.
//!
//! `cargo test --all-targets` runs this without `--bench`: a smoke run of every section with
//! tiny durations, which also checks that kafka-proxy rewrote the NodeEndpoints it walked.

mod broker;
mod load;
mod memory;
mod report;
mod targets;
mod wire;

use broker::{FastBroker, Responses};
use report::{median, num, percentile, ratio, Table};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::thread;
use std::time::Duration;
use targets::{Haproxy, ProxyProcess};
use wire::{ProxyPath, Workload};

struct Options {
    smoke: bool,
    seconds: f64,
    rounds: usize,
    depth: usize,
    connections: Vec<usize>,
    /// Whether `--connections` was given (it then overrides a workload's own counts).
    connections_given: bool,
    workloads: Vec<String>,
    sections: Vec<String>,
    latency_samples: usize,
    memory_connections: Vec<usize>,
    haproxy_threads: Option<usize>,
    profile: Option<String>,
    profile_seconds: f64,
    profile_connections: usize,
    /// Flags for the profiled kafka-proxy, space-separated.
    profile_flags: String,
    profile_output: String,
}

/// kafka-proxy as it ships, and with the copy buffers the buffer-size section recommends.
const DEFAULT_LABEL: &str = "kafka-proxy";
const TUNED_LABEL: &str = "kafka-proxy, copy 64 KiB";
/// The static musl build (what a release ships), in the memory benchmark.
const MUSL_LABEL: &str = "kafka-proxy, static musl build";
const COPY_64K: &[&str] = &[
    "--proxy-request-buffer-size",
    "65536",
    "--proxy-response-buffer-size",
    "65536",
];

const ALL_SECTIONS: &str = "throughput,latency,buffers,extras,splice,memory";
const MAIN_WORKLOADS: &str =
    "produce8,fetch11,produce11,fetch16,fetch16-endpoints,produce8-1k-batched";

fn list<T: std::str::FromStr>(s: &str, flag: &str) -> Vec<T> {
    s.split(',')
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{flag}: cannot parse {v:?}"))
        })
        .collect()
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Without `--bench` this is `cargo test --all-targets`: a quick smoke run of everything.
    let smoke = !args.iter().any(|a| a == "--bench");
    let mut o = Options {
        smoke,
        seconds: if smoke { 0.1 } else { 2.0 },
        rounds: if smoke { 1 } else { 3 },
        depth: 4,
        connections: if smoke { vec![4] } else { vec![1, 8, 64] },
        connections_given: false,
        workloads: list(MAIN_WORKLOADS, ""),
        sections: list(ALL_SECTIONS, ""),
        latency_samples: if smoke { 200 } else { 20_000 },
        memory_connections: if smoke {
            vec![50]
        } else {
            vec![1000, 3000, 10_000]
        },
        haproxy_threads: None,
        profile: None,
        profile_seconds: 15.0,
        profile_connections: 8,
        profile_flags: String::new(),
        profile_output: "/tmp/kafka-proxy-perf.data".into(),
    };
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        let value = args.get(i + 1).cloned().unwrap_or_default();
        let number = |v: &str| -> f64 { v.parse().unwrap_or_else(|_| panic!("{flag}: {v:?}")) };
        match flag {
            "--seconds" => o.seconds = number(&value),
            "--rounds" => o.rounds = number(&value) as usize,
            "--depth" => o.depth = number(&value) as usize,
            "--connections" => {
                o.connections = list(&value, flag);
                o.connections_given = true;
            }
            "--workloads" => o.workloads = list(&value, flag),
            "--sections" => o.sections = list(&value, flag),
            "--latency-samples" => o.latency_samples = number(&value) as usize,
            "--memory-connections" => o.memory_connections = list(&value, flag),
            "--haproxy-threads" => o.haproxy_threads = Some(number(&value) as usize),
            "--profile" => o.profile = Some(value),
            "--profile-seconds" => o.profile_seconds = number(&value),
            "--profile-connections" => o.profile_connections = number(&value) as usize,
            "--profile-flags" => o.profile_flags = value,
            "--profile-output" => o.profile_output = value,
            _ => {
                i += 1; // cargo's own --bench, and anything else that is not ours
                continue;
            }
        }
        i += 2;
    }
    o.rounds = o.rounds.max(1);
    o
}

/// One way to reach the broker.
#[derive(Clone)]
struct Path {
    label: String,
    addr: SocketAddr,
    tls: bool,
    /// The process whose CPU is counted (none for the direct path).
    pid: Option<u32>,
}

/// Figures of one path over the rounds of one measurement.
#[derive(Default, Clone)]
struct Stats {
    mbps: Vec<f64>,
    rps: Vec<f64>,
    p50_ms: Vec<f64>,
    p99_ms: Vec<f64>,
    p999_ms: Vec<f64>,
    cpu_seconds: f64,
    gigabytes: f64,
    /// CPU other processes used meanwhile (cores).
    background_cores: Vec<f64>,
    /// Requests answered over the rounds whose CPU was counted.
    requests: u64,
    /// System calls of the hop's process per request, each round (not counted in the smoke run,
    /// nor without perf).
    syscalls_per_request: Vec<f64>,
    recv_per_request: Vec<f64>,
    send_per_request: Vec<f64>,
}

impl Stats {
    fn mbps(&self) -> f64 {
        median(&self.mbps)
    }

    /// CPU seconds per GB forwarded, over all rounds (NaN for the direct path).
    fn cpu_per_gb(&self) -> f64 {
        if self.gigabytes > 0.0 {
            self.cpu_seconds / self.gigabytes
        } else {
            f64::NAN
        }
    }

    /// CPU microseconds per request, over all rounds (NaN for the direct path).
    fn cpu_us_per_request(&self) -> f64 {
        if self.gigabytes > 0.0 {
            self.cpu_seconds * 1e6 / self.requests as f64
        } else {
            f64::NAN
        }
    }

    /// System calls per request: all (recv, send), medians over the rounds.
    fn syscalls(&self) -> String {
        if self.syscalls_per_request.is_empty() {
            return "–".into();
        }
        format!(
            "{} ({}, {})",
            num(median(&self.syscalls_per_request), 2),
            num(median(&self.recv_per_request), 2),
            num(median(&self.send_per_request), 2)
        )
    }
}

/// Runs `workload` on `connections` connections over every path, alternating paths within
/// each round so slow drifts of the machine's load hit them all alike.
fn measure(o: &Options, paths: &[Path], workload: &Workload, connections: usize) -> Vec<Stats> {
    let mut stats = vec![Stats::default(); paths.len()];
    for _ in 0..o.rounds {
        for (path, s) in paths.iter().zip(&mut stats) {
            let load = load::Load {
                addr: path.addr,
                tls: path.tls,
                request: &workload.request,
                payload: workload.payload,
                connections,
                depth: workload.depth.unwrap_or(o.depth),
                batched: workload.batched,
                seconds: o.seconds,
            };
            let pid = path.pid;
            let counter = pid
                .filter(|_| !o.smoke)
                .and_then(targets::SyscallCounter::start);
            let (m, background) = targets::background_cores(pid, || {
                load::run(&load, &|| pid.and_then(targets::cpu_seconds))
            });
            if let Some(calls) = counter.and_then(targets::SyscallCounter::finish) {
                let per_request = |n: u64| n as f64 / m.requests.max(1) as f64;
                s.syscalls_per_request.push(per_request(calls.all));
                s.recv_per_request.push(per_request(calls.recv));
                s.send_per_request.push(per_request(calls.send));
            }
            s.background_cores.push(background);
            assert!(
                m.requests > 0,
                "{}: no response through {} in {:.1} s",
                workload.title,
                path.label,
                m.seconds
            );
            check_endpoints(workload, path, &m.last_response);
            s.mbps.push(m.bytes as f64 / m.seconds / 1e6);
            s.rps.push(m.requests as f64 / m.seconds);
            s.p50_ms.push(percentile(&m.latencies_us, 0.5) / 1e3);
            s.p99_ms.push(percentile(&m.latencies_us, 0.99) / 1e3);
            s.p999_ms.push(percentile(&m.latencies_us, 0.999) / 1e3);
            if let Some(cpu) = m.cpu_seconds {
                s.cpu_seconds += cpu;
                s.gigabytes += m.bytes as f64 / 1e9;
                s.requests += m.requests;
            }
        }
    }
    stats
}

/// A measurement of a proxy that did not rewrite what it walked would be meaningless: the
/// NodeEndpoints must name kafka-proxy's listener through it, and the broker elsewhere.
fn check_endpoints(workload: &Workload, path: &Path, response: &[u8]) {
    let (api_key, version) = (
        i16::from_be_bytes([workload.request[4], workload.request[5]]),
        i16::from_be_bytes([workload.request[6], workload.request[7]]),
    );
    let Some(broker_port) = wire::node_endpoint_port(api_key, version, &workload.response) else {
        return;
    };
    let got = wire::node_endpoint_port(api_key, version, response);
    let through_proxy = path.label.starts_with("kafka-proxy");
    let expected = if through_proxy {
        i32::from(path.addr.port())
    } else {
        broker_port
    };
    assert_eq!(
        got,
        Some(expected),
        "{}: NodeEndpoints port through {}",
        workload.title,
        path.label
    );
}

/// Everything the final target table needs.
#[derive(Default)]
struct Results {
    /// The main paths: direct, HAProxy (when found), the kafka-proxy configurations.
    labels: Vec<String>,
    /// (workload, connections) -> stats of each main path.
    throughput: HashMap<(String, usize), Vec<Stats>>,
    /// Sorted latencies in µs of each main path.
    latency: Vec<Vec<f64>>,
    memory: Vec<(&'static str, Result<memory::MemoryResult, String>)>,
}

fn main() {
    if std::env::args().any(|a| a == broker::IDLE_BROKER_ARG) {
        broker::serve_idle_broker_process();
        return;
    }
    let o = options();
    if o.smoke {
        println!("perf harness smoke run (cargo bench --bench perf for the real one)");
    }
    let broker = FastBroker::start(|addr| {
        Responses::new(
            wire::workloads(addr)
                .into_iter()
                .map(|w| (w.key.as_bytes().to_vec(), w.response))
                .collect(),
        )
    });
    let workloads = wire::workloads(broker.addr);
    if let Some(key) = &o.profile {
        profile(&o, &broker, find(&workloads, key));
        return;
    }
    println!("## kafka-proxy performance\n");
    println!("Machine: {}", targets::machine());
    println!(
        "Settings: {} s per measurement, {} rounds (paths alternate within each round; medians), \
         {} requests in flight per connection (unless a workload fixes its own); HAProxy {}; \
         load average {} at start.\n",
        o.seconds,
        o.rounds,
        o.depth,
        o.haproxy_threads.map_or(
            "with its default threads (one per CPU)".into(),
            |n| format!("with nbthread {n}")
        ),
        targets::load_average()
    );

    let haproxy = Haproxy::start(broker.addr, o.haproxy_threads, 1000);
    let proxy = ProxyProcess::start(broker.addr, &[]);
    let tuned = ProxyProcess::start(broker.addr, COPY_64K);
    let mut main_paths = vec![Path {
        label: "direct".into(),
        addr: broker.addr,
        tls: false,
        pid: None,
    }];
    if let Some(h) = &haproxy {
        main_paths.push(Path {
            label: "HAProxy".into(),
            addr: h.addr,
            tls: false,
            pid: Some(h.pid()),
        });
    }
    for (label, p) in [(DEFAULT_LABEL, &proxy), (TUNED_LABEL, &tuned)] {
        main_paths.push(Path {
            label: label.into(),
            addr: p.addr,
            tls: false,
            pid: Some(p.pid()),
        });
    }
    let mut results = Results {
        labels: main_paths.iter().map(|p| p.label.clone()).collect(),
        ..Results::default()
    };
    let section = |name: &str| o.sections.iter().any(|s| s == name);

    // Latency first, on a machine the throughput runs have not just left busy: how long a
    // wake-up takes depends on whether the cores were idle.
    if section("latency") {
        latency(&o, &main_paths, &mut results);
    }
    if section("throughput") {
        throughput(&o, &main_paths, &workloads, &mut results);
    }
    if section("buffers") {
        buffers(&o, &broker, &main_paths[0], &workloads);
    }
    if section("extras") {
        extras(&o, &broker, &main_paths, &workloads);
    }
    if section("splice") {
        splice(&o, &broker, &main_paths, &workloads);
    }
    drop((proxy, tuned, haproxy));
    if section("memory") {
        memory_section(&o, &mut results);
    }
    target_table(&results);
    println!("Load average at the end: {}.", targets::load_average());
}

fn find<'w>(workloads: &'w [Workload], key: &str) -> &'w Workload {
    workloads.iter().find(|w| w.key == key).unwrap_or_else(|| {
        let keys: Vec<&str> = workloads.iter().map(|w| w.key).collect();
        panic!("unknown workload {key:?}; known: {}", keys.join(", "))
    })
}

fn throughput(o: &Options, paths: &[Path], workloads: &[Workload], results: &mut Results) {
    println!("### Throughput\n");
    println!(
        "MB/s of payload (Produce: request bytes, Fetch: response bytes); latency of each \
         pipelined request; CPU of the hop's process per GB of payload and per request; system \
         calls of the hop's process per request, all of them (recvfrom, sendto), counted by perf \
         stat; ratios of MB/s; others' CPU: cores used meanwhile by processes other than the \
         harness and the hop (other work on the machine, and the kernel's network threads).\n"
    );
    let mut table = Table::new(&[
        "workload",
        "conns",
        "path",
        "MB/s",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "CPU s/GB",
        "CPU µs/req",
        "syscalls/req (recv, send)",
        "vs direct",
        "vs HAProxy",
        "others' CPU",
    ]);
    for key in &o.workloads {
        let w = find(workloads, key);
        let connections = match w.connections {
            Some(own) if !o.connections_given && !o.smoke => own,
            _ => &o.connections[..],
        };
        for &conns in connections {
            let stats = measure(o, paths, w, conns);
            let direct = stats[0].mbps();
            let haproxy = paths
                .iter()
                .position(|p| p.label == "HAProxy")
                .map_or(f64::NAN, |i| stats[i].mbps());
            for (path, s) in paths.iter().zip(&stats) {
                table.row(vec![
                    w.title.into(),
                    conns.to_string(),
                    path.label.clone(),
                    num(s.mbps(), 0),
                    num(median(&s.rps), 0),
                    num(median(&s.p50_ms), 2),
                    num(median(&s.p99_ms), 2),
                    num(median(&s.p999_ms), 2),
                    num(s.cpu_per_gb(), 2),
                    num(s.cpu_us_per_request(), 1),
                    s.syscalls(),
                    ratio(s.mbps(), direct),
                    if path.label == "HAProxy" || path.label == "direct" {
                        "".into()
                    } else {
                        ratio(s.mbps(), haproxy)
                    },
                    num(median(&s.background_cores), 2),
                ]);
            }
            eprintln!(
                "  measured {} at {conns} connections (load average {})",
                w.key,
                targets::load_average()
            );
            results.throughput.insert((w.key.into(), conns), stats);
        }
    }
    table.print();
}

fn latency(o: &Options, paths: &[Path], results: &mut Results) {
    // Alternate paths in many short rounds, so every path sees the same machine.
    let rounds = if o.smoke { 1 } else { 10 };
    let per_round = (o.latency_samples / rounds).max(1);
    println!("### Added latency\n");
    println!(
        "ApiVersions round trips with one request in flight, {} per path in {rounds} \
         alternating rounds (kafka-proxy decodes ApiVersions responses to cap versions).\n",
        per_round * rounds
    );
    let mut probers: Vec<load::Prober> = paths
        .iter()
        .map(|p| load::Prober::connect(p.addr))
        .collect();
    let mut samples = vec![Vec::new(); paths.len()];
    let ((), background) = targets::background_cores(None, || {
        for _ in 0..rounds {
            for (prober, s) in probers.iter_mut().zip(&mut samples) {
                s.extend(prober.sample(per_round));
            }
        }
    });
    let mut table = Table::new(&[
        "path",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "added p50 µs",
        "added p99 µs",
        "added p99.9 µs",
    ]);
    for s in &mut samples {
        s.sort_by(f64::total_cmp);
    }
    let at = |i: usize, p: f64| percentile(&samples[i], p);
    for (i, path) in paths.iter().enumerate() {
        let added = |p| {
            if i == 0 {
                "".into()
            } else {
                num(at(i, p) - at(0, p), 1)
            }
        };
        table.row(vec![
            path.label.clone(),
            num(at(i, 0.5), 1),
            num(at(i, 0.99), 1),
            num(at(i, 0.999), 1),
            added(0.5),
            added(0.99),
            added(0.999),
        ]);
    }
    table.print();
    println!(
        "Other processes used {background:.2} cores meanwhile (the hops' own CPU included: \
         with one request in flight it is small).\n"
    );
    results.latency = samples;
}

/// Socket and copy buffer sizes: their effect on the pass-through workloads.
fn buffers(o: &Options, broker: &FastBroker, direct: &Path, workloads: &[Workload]) {
    let copy = |n: &'static str| {
        vec![
            "--proxy-request-buffer-size",
            n,
            "--proxy-response-buffer-size",
            n,
        ]
    };
    let sockets = |n: &'static str| {
        let mut args = copy("65536");
        for flag in [
            "--kafka-connection-read-buffer-size",
            "--kafka-connection-write-buffer-size",
            "--proxy-listener-read-buffer-size",
            "--proxy-listener-write-buffer-size",
        ] {
            args.extend([flag, n]);
        }
        args
    };
    let configs: Vec<(&str, Vec<&str>)> = vec![
        ("defaults: 4 KiB copy, kernel socket buffers", vec![]),
        ("copy 16 KiB", copy("16384")),
        ("copy 64 KiB", copy("65536")),
        ("copy 256 KiB", copy("262144")),
        ("copy 64 KiB, sockets 128 KiB", sockets("131072")),
        ("copy 64 KiB, sockets 1 MiB", sockets("1048576")),
        ("copy 64 KiB, sockets 4 MiB", sockets("4194304")),
    ];
    let proxies: Vec<ProxyProcess> = configs
        .iter()
        .map(|(_, args)| ProxyProcess::start(broker.addr, args))
        .collect();
    let mut paths = vec![direct.clone()];
    paths.extend(configs.iter().zip(&proxies).map(|((label, _), p)| Path {
        label: format!("kafka-proxy, {label}"),
        addr: p.addr,
        tls: false,
        pid: Some(p.pid()),
    }));
    let conns = if o.smoke { 4 } else { 8 };
    println!("### Buffer sizes\n");
    println!(
        "kafka-proxy at {conns} connections with its copy buffers (--proxy-request-buffer-size, \
         --proxy-response-buffer-size) and socket buffers (SO_RCVBUF/SO_SNDBUF: \
         --kafka-connection-read/write-buffer-size and --proxy-listener-read/write-buffer-size, \
         all four set alike; a set size turns off the kernel's autotuning) changed.\n"
    );
    let mut table = Table::new(&[
        "configuration",
        "workload",
        "MB/s",
        "vs direct",
        "CPU s/GB",
        "others' CPU",
    ]);
    for key in ["produce8", "fetch11"] {
        let w = find(workloads, key);
        let stats = measure(o, &paths, w, conns);
        for (path, s) in paths.iter().zip(&stats) {
            table.row(vec![
                path.label.clone(),
                w.title.into(),
                num(s.mbps(), 0),
                ratio(s.mbps(), stats[0].mbps()),
                num(s.cpu_per_gb(), 2),
                num(median(&s.background_cores), 2),
            ]);
        }
    }
    table.print();
}

/// Small requests (per-request costs), the metrics' cost, and the TLS listener.
fn extras(o: &Options, broker: &FastBroker, main_paths: &[Path], workloads: &[Workload]) {
    let uncounted = ProxyProcess::start(broker.addr, &["--http-disable"]);
    let (cert, key) = (load::testdata("server.pem"), load::testdata("server.key"));
    let mut tls_args = COPY_64K.to_vec();
    tls_args.extend([
        "--proxy-listener-tls-enable",
        "--proxy-listener-cert-file",
        &cert,
        "--proxy-listener-key-file",
        &key,
    ]);
    let tls = ProxyProcess::start(broker.addr, &tls_args);
    let mut paths = main_paths.to_vec();
    for (label, p, is_tls) in [
        (
            "kafka-proxy, metrics off (--http-disable)",
            &uncounted,
            false,
        ),
        ("kafka-proxy, copy 64 KiB, TLS listener", &tls, true),
    ] {
        paths.push(Path {
            label: label.into(),
            addr: p.addr,
            tls: is_tls,
            pid: Some(p.pid()),
        });
    }
    let conns = if o.smoke { 4 } else { 8 };
    println!("### Small requests, metrics, TLS\n");
    println!(
        "{conns} connections. With --http-disable (and no debug listener) nothing can read the \
         counts, so the pumps skip counting. The TLS client is rustls (ring).\n"
    );
    let mut table = Table::new(&[
        "workload",
        "path",
        "MB/s",
        "req/s",
        "p99 ms",
        "CPU s/GB",
        "vs direct",
        "others' CPU",
    ]);
    for key in ["produce8-small", "produce8", "fetch11"] {
        let w = find(workloads, key);
        let stats = measure(o, &paths, w, conns);
        for (path, s) in paths.iter().zip(&stats) {
            table.row(vec![
                w.title.into(),
                path.label.clone(),
                num(s.mbps(), 1),
                num(median(&s.rps), 0),
                num(median(&s.p99_ms), 2),
                num(s.cpu_per_gb(), 2),
                ratio(s.mbps(), stats[0].mbps()),
                num(median(&s.background_cores), 2),
            ]);
        }
    }
    table.print();
}

/// Large pass-through bodies spliced socket to socket against copied (issue 17): kafka-proxy
/// as it ships (splice from 64 KiB) beside the same proxy with splice off and with other
/// thresholds, on the large workloads, at 1 and 8 connections.
fn splice(o: &Options, broker: &FastBroker, main_paths: &[Path], workloads: &[Workload]) {
    let variants = [
        ("kafka-proxy, splice off (threshold 0)", "0"),
        ("kafka-proxy, splice from 8 KiB", "8192"),
        ("kafka-proxy, splice from 256 KiB", "262144"),
    ];
    let processes: Vec<ProxyProcess> = variants
        .iter()
        .map(|(_, t)| ProxyProcess::start(broker.addr, &["--proxy-splice-threshold", t]))
        .collect();
    // direct, HAProxy (when installed) and kafka-proxy as it ships, then the variants.
    let mut paths: Vec<Path> = main_paths
        .iter()
        .filter(|p| p.label != TUNED_LABEL)
        .cloned()
        .collect();
    for ((label, _), p) in variants.iter().zip(&processes) {
        paths.push(Path {
            label: (*label).into(),
            addr: p.addr,
            tls: false,
            pid: Some(p.pid()),
        });
    }
    println!("### Splice against copy\n");
    println!(
        "kafka-proxy as it ships splices pass-through bodies of 64 KiB and more between \
         plaintext sockets (--proxy-splice-threshold 65536); the variants change only that \
         flag. \"vs copy\" compares with splice off, in the same round.\n"
    );
    let mut table = Table::new(&[
        "workload",
        "connections",
        "path",
        "MB/s",
        "p99 ms",
        "CPU s/GB",
        "vs direct",
        "vs HAProxy",
        "vs copy",
    ]);
    let conns: &[usize] = if o.smoke { &[2] } else { &[1, 8] };
    let haproxy = paths.iter().position(|p| p.label == "HAProxy");
    let copy = paths.len() - variants.len();
    for key in ["produce8", "produce8-1m", "fetch11"] {
        let w = find(workloads, key);
        for &n in conns {
            let stats = measure(o, &paths, w, n);
            for (path, s) in paths.iter().zip(&stats) {
                let vs =
                    |i: Option<usize>| i.map_or("-".into(), |i| ratio(s.mbps(), stats[i].mbps()));
                table.row(vec![
                    w.title.into(),
                    n.to_string(),
                    path.label.clone(),
                    num(s.mbps(), 1),
                    num(median(&s.p99_ms), 2),
                    num(s.cpu_per_gb(), 2),
                    ratio(s.mbps(), stats[0].mbps()),
                    vs(haproxy),
                    vs(Some(copy)),
                ]);
            }
        }
    }
    table.print();
}

fn memory_section(o: &Options, results: &mut Results) {
    println!("### Memory per idle connection\n");
    println!(
        "RSS of the process before and after N client connections are opened (each sent one \
         request, ApiVersions or a 64 KiB Produce, and read its response) and have idled for \
         3 s, then one more ApiVersions round trip on all N at once. kafka-proxy runs with \
         --max-client-connections above N; socket buffers are kernel memory, not in RSS. An \
         idle kafka-proxy connection has one thread (its response pump parks after 1 s with \
         nothing in flight) and no read buffer. The glibc build's allocator keeps memory freed \
         while the connections were busy; the static musl build (a release's binary) returns \
         it. Open-files limit of this run: {}; vm.max_map_count: {}.\n",
        targets::open_files_limit().map_or("?".into(), |l| l.to_string()),
        std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .map_or("?".into(), |s| s.trim().to_string())
    );
    let mut table = Table::new(&[
        "process",
        "first request",
        "connections",
        "held",
        "served",
        "RSS before MiB",
        "RSS after MiB",
        "KiB per connection",
        "threads",
        "descriptors per connection",
    ]);
    let musl = targets::musl_binary().is_some();
    let mut builds = vec![(DEFAULT_LABEL, memory::Target::Proxy(&[]))];
    if musl {
        builds.push((MUSL_LABEL, memory::Target::ProxyMusl));
    }
    let mut cases = Vec::new();
    for &n in &o.memory_connections {
        let configurations = builds.iter().copied().chain([
            (TUNED_LABEL, memory::Target::Proxy(COPY_64K)),
            ("HAProxy", memory::Target::Haproxy),
        ]);
        for (name, target) in configurations {
            cases.push((name, target, n, memory::First::ApiVersions));
        }
    }
    // Connections that carried a large frame before idling: buffers kept for large frames.
    let n = o.memory_connections[0];
    for (name, target) in builds
        .iter()
        .copied()
        .chain([("HAProxy", memory::Target::Haproxy)])
    {
        cases.push((name, target, n, memory::First::Produce64K));
    }
    for (name, target, n, first) in cases {
        let settle = Duration::from_millis(if o.smoke { 100 } else { 3000 });
        let result = memory::measure(target, n, first, settle);
        let first_request = match first {
            memory::First::ApiVersions => "ApiVersions",
            memory::First::Produce64K => "Produce, 64 KiB",
        };
        match &result {
            Ok(m) => table.row(vec![
                name.into(),
                first_request.into(),
                n.to_string(),
                m.held.to_string(),
                m.served.to_string(),
                num(m.rss_before_kib as f64 / 1024.0, 1),
                num(m.rss_after_kib as f64 / 1024.0, 1),
                num(m.kib_per_connection(), 1),
                m.threads.to_string(),
                num(m.descriptors_per_connection, 1),
            ]),
            Err(why) => table.row(vec![
                name.into(),
                first_request.into(),
                n.to_string(),
                why.clone(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
            ]),
        }
        // Let the closed connections' threads and sockets go before the next target.
        thread::sleep(Duration::from_millis(if o.smoke { 100 } else { 2000 }));
        if first == memory::First::ApiVersions {
            results.memory.push((name, result));
        }
    }
    table.print();
}

/// "yes", or by how much `figure` misses `bound`.
fn verdict(figure: f64, bound: f64, higher_is_better: bool) -> String {
    if !figure.is_finite() || !bound.is_finite() {
        return "–".into();
    }
    let met = if higher_is_better {
        figure >= bound
    } else {
        figure <= bound
    };
    if met {
        "yes".into()
    } else {
        format!("no, misses by {:.0}%", (figure / bound - 1.0).abs() * 100.0)
    }
}

/// The targets, each judged from figures of this run, for each kafka-proxy
/// configuration of the main paths.
fn target_table(results: &Results) {
    let mut table = Table::new(&["target", "kafka-proxy", "case", "figure", "met"]);
    let index = |label: &str| results.labels.iter().position(|l| l == label);
    let haproxy = index("HAProxy");
    let proxies: Vec<(usize, &str)> = [DEFAULT_LABEL, TUNED_LABEL]
        .into_iter()
        .filter_map(|l| Some((index(l)?, l)))
        .collect();
    let config = |label: &str| {
        if label == DEFAULT_LABEL {
            "defaults".to_string()
        } else {
            label.trim_start_matches("kafka-proxy, ").to_string()
        }
    };
    let mut keys: Vec<&(String, usize)> = results.throughput.keys().collect();
    keys.sort_by_key(|(w, c)| (MAIN_WORKLOADS.find(w.as_str()), *c));
    let all = wire::workloads(SocketAddr::from(([127, 0, 0, 1], 1)));
    for &(p, label) in &proxies {
        let mut row = |target: &str, case: String, figure: String, met: String| {
            table.row(vec![target.into(), config(label), case, figure, met]);
        };
        for key @ (w, conns) in &keys {
            let s = &results.throughput[key];
            let Some(workload) = all.iter().find(|x| x.key == w) else {
                continue;
            };
            if workload.path == ProxyPath::Pass {
                if let Some(h) = haproxy {
                    let r = s[p].mbps() / s[h].mbps();
                    row(
                        "pass-through ≥ HAProxy",
                        format!("{w}, {conns} conns"),
                        format!("{r:.2}× HAProxy"),
                        verdict(r, 1.0, true),
                    );
                }
                if *conns == 8 {
                    let r = s[p].mbps() / s[0].mbps();
                    row(
                        "pass-through ≥ 95% of direct at 8 conns",
                        format!("{w}, {conns} conns"),
                        format!("{r:.2}× direct"),
                        verdict(r, 0.95, true),
                    );
                }
            } else {
                let pass = if w.starts_with("produce") {
                    "produce8"
                } else {
                    "fetch11"
                };
                if let Some(ps) = results.throughput.get(&(pass.to_string(), *conns)) {
                    let r = s[p].mbps() / ps[p].mbps();
                    row(
                        "walk ≥ 90% of pass-through",
                        format!("{w} / {pass}, {conns} conns"),
                        format!("{r:.2} (direct: {:.2})", s[0].mbps() / ps[0].mbps()),
                        verdict(r, 0.9, true),
                    );
                }
            }
        }
        if let Some(h) = haproxy {
            for key @ (w, conns) in &keys {
                let s = &results.throughput[key];
                let (mine, theirs) = (s[p].cpu_per_gb(), s[h].cpu_per_gb());
                row(
                    "CPU per GB ≤ 1.5× HAProxy",
                    format!("{w}, {conns} conns"),
                    format!("{:.2}× ({mine:.2} vs {theirs:.2} s/GB)", mine / theirs),
                    verdict(mine / theirs, 1.5, false),
                );
            }
        }
        if let (Some(h), true) = (haproxy, results.latency.len() == results.labels.len()) {
            let at = |i: usize, q: f64| percentile(&results.latency[i], q);
            let (mine, theirs) = (at(p, 0.5) - at(0, 0.5), at(h, 0.5) - at(0, 0.5));
            row(
                "added p50 ≤ HAProxy's",
                "ApiVersions, 1 in flight".into(),
                format!("{mine:.1} µs vs {theirs:.1} µs"),
                verdict(mine, theirs, false),
            );
            let r = at(p, 0.999) / at(h, 0.999);
            row(
                "p99.9 ≤ 2× HAProxy's",
                "ApiVersions, 1 in flight".into(),
                format!("{:.0} µs vs {:.0} µs ({r:.2}×)", at(p, 0.999), at(h, 0.999)),
                verdict(r, 2.0, false),
            );
        }
    }
    // Memory: every kafka-proxy build and configuration measured.
    let limit = targets::open_files_limit().unwrap_or(0);
    for (name, result) in &results.memory {
        let Ok(m) = result else {
            continue;
        };
        if *name == "HAProxy" {
            continue;
        }
        let kib = m.kib_per_connection();
        let mut row = |target: &str, case: String, figure: String, met: String| {
            table.row(vec![target.into(), config(name), case, figure, met]);
        };
        row(
            "≤ 20 KiB RSS per idle connection",
            format!("{} connections", m.connections),
            format!("{kib:.1} KiB"),
            verdict(kib, 20.0, false),
        );
        if m.connections >= 10_000 {
            // Two descriptors per connection, and a few the process holds anyway.
            let fits = (limit.saturating_sub(memory::BASE_DESCRIPTORS) / 2) as usize;
            let met = if m.served >= 10_000 {
                "yes".to_string()
            } else if m.served == m.held && m.held >= fits {
                format!(
                    "no: every connection the open-files limit ({limit}) allows was held and \
                     served"
                )
            } else {
                "no".to_string()
            };
            row(
                "10,000 connections held and served",
                format!("{} connections", m.connections),
                format!(
                    "{} held, {} served ({:.0} descriptors each)",
                    m.held, m.served, m.descriptors_per_connection
                ),
                met,
            );
        }
    }
    if !table.is_empty() {
        println!("### Targets (issue 9)\n");
        table.print();
    }
}

/// The kernel events `perf stat` counts during a profile, per request.
const PERF_EVENTS: [(&str, &str); 5] = [
    ("raw_syscalls:sys_enter", "syscalls"),
    ("syscalls:sys_enter_recvfrom", "recv"),
    ("syscalls:sys_enter_sendto", "send"),
    ("syscalls:sys_enter_futex", "futex"),
    ("context-switches", "context switches"),
];

/// `--profile WORKLOAD`: the workload through HAProxy and through kafka-proxy,
/// each with `perf stat` counting system calls and context switches per request, and
/// kafka-proxy also under `perf record`; then where its CPU time goes (kernel, libc, its own
/// code) and its top functions.
fn profile(o: &Options, broker: &FastBroker, workload: &Workload) {
    let flags: Vec<&str> = o.profile_flags.split_whitespace().collect();
    let proxy = ProxyProcess::start(broker.addr, &flags);
    let haproxy = Haproxy::start(broker.addr, o.haproxy_threads, 1000);
    let mut targets: Vec<(&str, SocketAddr, u32)> = Vec::new();
    if let Some(h) = &haproxy {
        targets.push(("HAProxy", h.addr, h.pid()));
    }
    targets.push(("kafka-proxy", proxy.addr, proxy.pid()));
    let seconds = o.profile_seconds;
    println!(
        "{}, {} connections, {} in flight each, {seconds} s per target; kafka-proxy flags: {}; \
         load average {}\n",
        workload.title,
        o.profile_connections,
        o.depth,
        if flags.is_empty() {
            "defaults".into()
        } else {
            flags.join(" ")
        },
        targets::load_average()
    );
    let mut header = vec!["path", "MB/s", "req/s", "CPU µs per request", "CPU s/GB"];
    header.extend(PERF_EVENTS.iter().map(|(_, name)| *name));
    let mut table = Table::new(&header);
    for (label, addr, pid) in targets {
        let stat_file = format!("{}.stat", o.profile_output);
        let events: Vec<&str> = PERF_EVENTS.iter().map(|(e, _)| *e).collect();
        let mut stat = Command::new("perf")
            .args([
                "stat",
                "-x",
                ",",
                "-o",
                &stat_file,
                "-e",
                &events.join(","),
                "-p",
            ])
            .arg(pid.to_string())
            .args(["--", "sleep"])
            .arg(seconds.to_string())
            .spawn()
            .expect("start perf (Debian package linux-perf)");
        let mut record = (label == "kafka-proxy").then(|| {
            Command::new("perf")
                .args(["record", "-F", "999", "-g", "-o", &o.profile_output, "-p"])
                .arg(pid.to_string())
                .args(["--", "sleep"])
                .arg(seconds.to_string())
                .spawn()
                .expect("start perf record")
        });
        let load = load::Load {
            addr,
            tls: false,
            request: &workload.request,
            payload: workload.payload,
            connections: o.profile_connections,
            depth: workload.depth.unwrap_or(o.depth),
            batched: workload.batched,
            // perf starts its clock a little later: the load covers all of it.
            seconds: seconds + 1.0,
        };
        let m = load::run(&load, &|| targets::cpu_seconds(pid));
        for child in std::iter::once(&mut stat).chain(record.as_mut()) {
            let status = child.wait().expect("perf");
            assert!(status.success(), "perf failed: {status}");
        }
        let counts = std::fs::read_to_string(&stat_file).unwrap_or_default();
        let requests_in_window = m.requests as f64 * seconds / m.seconds;
        let mut row = vec![
            label.to_string(),
            num(m.bytes as f64 / m.seconds / 1e6, 0),
            num(m.requests as f64 / m.seconds, 0),
            num(
                m.cpu_seconds.unwrap_or(f64::NAN) * 1e6 / m.requests as f64,
                1,
            ),
            num(
                m.cpu_seconds.unwrap_or(f64::NAN) / (m.bytes as f64 / 1e9),
                2,
            ),
        ];
        for (event, _) in PERF_EVENTS {
            let count = counts
                .lines()
                .find(|l| l.split(',').nth(2) == Some(event))
                .and_then(|l| l.split(',').next()?.parse::<f64>().ok());
            row.push(count.map_or("–".into(), |c| num(c / requests_in_window, 1)));
        }
        table.row(row);
    }
    println!("Per request, counted by perf stat over the {seconds} s window:\n");
    table.print();
    let report = |sort: &str, extra: &[&str]| {
        let out = Command::new("perf")
            .args([
                "report",
                "--no-children",
                "--stdio",
                "-g",
                "none",
                "--sort",
                sort,
            ])
            .args(extra)
            .arg("-i")
            .arg(&o.profile_output)
            .output()
            .expect("perf report");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    println!(
        "kafka-proxy's samples by object (perf record -F 999, {}):\n",
        o.profile_output
    );
    for line in report("dso", &[]) {
        println!("    {}", line.trim());
    }
    println!("\nTop functions (self time, ≥ 0.5% of samples):\n");
    for line in report("dso,sym", &["--percent-limit", "0.5"]) {
        println!("    {}", line.trim());
    }
    println!("\nkafka-proxy's own code, top functions:\n");
    for line in report("sym", &["--dso", "kafka-proxy"])
        .into_iter()
        .take(15)
    {
        println!("    {}", line.trim());
    }
}
