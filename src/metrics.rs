//! Counters, gauges and histograms of the proxy, and their Prometheus text exposition (format
//! 0.0.4, with `# HELP` and `# TYPE` lines).
//!
//! Counting stays off the pass-through path: each connection counts into its own
//! [`ConnectionStats`], where every counter has exactly one writer (the request pump writes the
//! request side, the response pump the response side). A single writer needs no atomic
//! read-modify-write and no lock: an add is a plain load and store, and the cache line stays
//! with the pump's core until a scrape reads it. A scrape sums the live connections and the
//! per-broker totals of ended ones ([`BrokerMetrics`]); a connection's counts move into those
//! totals when it ends, under the same registry lock a scrape holds, so nothing is counted
//! twice or lost, and a counter never goes backwards.
//!
//! Metric names are those of grepplabs/kafka-proxy where it has them, so dashboards carry over.

use crate::codec::api::ApiKey;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Upper bounds of the `proxy_request_duration_seconds` buckets, in seconds: from half a
/// millisecond (a broker on the same host) to the default 30 s read timeout.
pub const DURATION_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The same bounds in nanoseconds, so an observation compares integers.
const BUCKET_NANOS: [u64; 15] = bucket_nanos();
const BUCKETS: usize = BUCKET_NANOS.len() + 1;

const fn bucket_nanos() -> [u64; 15] {
    let mut out = [0u64; 15];
    let mut i = 0;
    while i < DURATION_BUCKETS.len() {
        out[i] = (DURATION_BUCKETS[i] * 1e9) as u64;
        i += 1;
    }
    out
}

fn bucket_of(elapsed: Duration) -> (usize, u64) {
    let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    let bucket = BUCKET_NANOS
        .iter()
        .position(|&bound| nanos <= bound)
        .unwrap_or(BUCKET_NANOS.len());
    (bucket, nanos)
}

/// A latency histogram: one count per bucket (not cumulative; the last is above every bound),
/// the sum and the number of observations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    buckets: [u64; BUCKETS],
    sum_nanos: u64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, elapsed: Duration) {
        let (bucket, nanos) = bucket_of(elapsed);
        self.buckets[bucket] += 1;
        self.sum_nanos = self.sum_nanos.saturating_add(nanos);
        self.count += 1;
    }

    fn add(&mut self, other: &Histogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.sum_nanos = self.sum_nanos.saturating_add(other.sum_nanos);
        self.count += other.count;
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Totals by (api key, api version) and by api key.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    request_bytes: u64,
    response_bytes: u64,
    requests: BTreeMap<(i16, i16), u64>,
    durations: BTreeMap<i16, Histogram>,
}

/// The totals of one broker (label `broker="host:port"`): connections, and the counts of
/// connections that have ended (or that overflowed their own slots).
#[derive(Debug)]
pub struct BrokerMetrics {
    broker: String,
    opened_connections: AtomicI64,
    connections_total: AtomicU64,
    /// Locked when a connection ends, by a scrape, and for the rare request whose key found no
    /// free slot in its connection's stats.
    ended: Mutex<Totals>,
}

impl BrokerMetrics {
    fn new(broker: String) -> Self {
        BrokerMetrics {
            broker,
            opened_connections: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            ended: Mutex::new(Totals::default()),
        }
    }

    /// A connection to this broker is open: counts it, and un-counts it when the guard drops.
    pub fn open_connection(self: &Arc<Self>) -> OpenConnection {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.opened_connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(Arc::clone(self))
    }

    pub fn opened_connections(&self) -> i64 {
        self.opened_connections.load(Ordering::Relaxed)
    }

    pub fn connections_total(&self) -> u64 {
        self.connections_total.load(Ordering::Relaxed)
    }
}

/// Keeps `proxy_opened_connections` up while a connection is open.
pub struct OpenConnection(Arc<BrokerMetrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.opened_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Distinct (api key, version) pairs a connection counts in slots of its own; a consumer in a
/// group uses about a dozen. Further pairs go to the broker's totals under its lock.
const REQUEST_SLOTS: usize = 16;
/// Distinct api keys with a latency histogram of the connection's own (Produce, Fetch,
/// Metadata, OffsetCommit, Heartbeat, ...); further keys go to the broker's totals.
const DURATION_SLOTS: usize = 6;

/// Adds `n` to a counter that only the calling thread writes: no read-modify-write needed.
#[inline]
fn add(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// `(api key, version)` as a slot tag; 0 marks a free slot.
/// The `api_key`/`api_version` label value of the bucket that counts what the proxy does not
/// know: the key and version are the client's choice, so counting each pair by name would let
/// one client grow the metrics (and the proxy's memory) without bound.
const OTHER: i16 = -1;

/// `(api_key, api_version)`, or `(OTHER, OTHER)` unless a Kafka broker serves that version.
fn bucket(api_key: i16, api_version: i16) -> (i16, i16) {
    if ApiKey(api_key).is_known_version(api_version) {
        (api_key, api_version)
    } else {
        (OTHER, OTHER)
    }
}

/// A label value: the number, or `other` for the [`OTHER`] bucket.
fn label(n: i16) -> String {
    if n == OTHER {
        "other".into()
    } else {
        n.to_string()
    }
}

fn request_tag(api_key: i16, api_version: i16) -> u64 {
    (u64::from(api_key as u16) << 16 | u64::from(api_version as u16)) + 1
}

fn untag_request(tag: u64) -> (i16, i16) {
    let v = tag - 1;
    ((v >> 16) as u16 as i16, v as u16 as i16)
}

#[derive(Debug, Default)]
struct RequestSlot {
    tag: AtomicU64,
    count: AtomicU64,
}

#[derive(Debug, Default)]
struct DurationSlot {
    /// `api_key + 1`; 0 marks a free slot.
    tag: AtomicU32,
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// The counts of one live connection. The request side (`count_request`) must only be called
/// by the request pump and the response side (`count_response*`) only by the response pump:
/// each counter has one writer, which is what makes the plain adds correct.
#[derive(Debug)]
pub struct ConnectionStats {
    broker: Arc<BrokerMetrics>,
    pub bytes_to_broker: AtomicU64,
    pub bytes_to_client: AtomicU64,
    requests: [RequestSlot; REQUEST_SLOTS],
    durations: [DurationSlot; DURATION_SLOTS],
}

impl ConnectionStats {
    pub fn new(broker: Arc<BrokerMetrics>) -> Self {
        ConnectionStats {
            broker,
            bytes_to_broker: AtomicU64::new(0),
            bytes_to_client: AtomicU64::new(0),
            requests: Default::default(),
            durations: Default::default(),
        }
    }

    pub fn broker(&self) -> &Arc<BrokerMetrics> {
        &self.broker
    }

    /// Counts a request of `frame_bytes` bytes (size prefix included). Request pump only.
    #[inline]
    pub fn count_request(&self, api_key: i16, api_version: i16, frame_bytes: usize) {
        add(&self.bytes_to_broker, frame_bytes as u64);
        let (api_key, api_version) = bucket(api_key, api_version);
        let tag = request_tag(api_key, api_version);
        for slot in &self.requests {
            match slot.tag.load(Ordering::Relaxed) {
                t if t == tag => return add(&slot.count, 1),
                0 => {
                    // Claim the free slot: the count first, then the tag (Release), so a scrape
                    // that sees the tag sees the count.
                    slot.count.store(1, Ordering::Relaxed);
                    slot.tag.store(tag, Ordering::Release);
                    return;
                }
                _ => {}
            }
        }
        *lock(&self.broker.ended)
            .requests
            .entry((api_key, api_version))
            .or_insert(0) += 1;
    }

    /// Counts a response of `frame_bytes` bytes to a request of `api_key` that took `elapsed`.
    /// Response pump only.
    #[inline]
    pub fn count_response(&self, api_key: i16, frame_bytes: usize, elapsed: Duration) {
        add(&self.bytes_to_client, frame_bytes as u64);
        let api_key = if ApiKey(api_key).name().is_some() {
            api_key
        } else {
            OTHER
        };
        let tag = api_key as u16 as u32 + 1;
        let (bucket, nanos) = bucket_of(elapsed);
        for slot in &self.durations {
            let found = slot.tag.load(Ordering::Relaxed);
            if found == tag || found == 0 {
                add(&slot.buckets[bucket], 1);
                add(&slot.sum_nanos, nanos);
                add(&slot.count, 1);
                if found == 0 {
                    slot.tag.store(tag, Ordering::Release);
                }
                return;
            }
        }
        lock(&self.broker.ended)
            .durations
            .entry(api_key)
            .or_default()
            .observe(elapsed);
    }

    /// Counts the bytes of a frame that answers no Kafka request (a raw SASL token). Response
    /// pump only.
    pub fn count_response_bytes(&self, frame_bytes: usize) {
        add(&self.bytes_to_client, frame_bytes as u64);
    }

    /// Adds this connection's counts to `totals`.
    fn add_to(&self, totals: &mut Totals) {
        totals.request_bytes += self.bytes_to_broker.load(Ordering::Relaxed);
        totals.response_bytes += self.bytes_to_client.load(Ordering::Relaxed);
        for slot in &self.requests {
            let tag = slot.tag.load(Ordering::Acquire);
            if tag != 0 {
                *totals.requests.entry(untag_request(tag)).or_insert(0) +=
                    slot.count.load(Ordering::Relaxed);
            }
        }
        for slot in &self.durations {
            let tag = slot.tag.load(Ordering::Acquire);
            if tag == 0 {
                continue;
            }
            let mut h = Histogram::default();
            for (mine, live) in h.buckets.iter_mut().zip(&slot.buckets) {
                *mine = live.load(Ordering::Relaxed);
            }
            h.sum_nanos = slot.sum_nanos.load(Ordering::Relaxed);
            h.count = slot.count.load(Ordering::Relaxed);
            let api_key = (tag - 1) as u16 as i16;
            totals.durations.entry(api_key).or_default().add(&h);
        }
    }

    /// Moves this connection's counts into its broker's totals: call once, when it has ended
    /// (both pumps gone), under the lock a scrape holds while it reads the live connections.
    pub fn fold_into_broker(&self) {
        let mut ended = lock(&self.broker.ended);
        self.add_to(&mut ended);
    }
}

/// Every metric of one proxy.
#[derive(Debug)]
pub struct Metrics {
    /// Off when nothing can read the metrics (`--http-disable` without `--debug-enable`): the
    /// pumps then count nothing at all.
    enabled: bool,
    /// A handful of brokers, looked up once per connection.
    brokers: Mutex<Vec<Arc<BrokerMetrics>>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Responses whose broker addresses were rewritten, one counter per [`REWRITTEN_KEYS`].
    rewritten: [AtomicU64; REWRITTEN_KEYS.len()],
}

/// The API keys whose responses carry broker addresses, from the codec's table.
const REWRITTEN_KEYS: [i16; crate::codec::table::ADDRESS_KEYS.len()] =
    crate::codec::table::ADDRESS_KEYS;

/// Values read at scrape time from the rest of the proxy.
#[derive(Clone, Debug, Default)]
pub struct Gauges {
    pub dynamic_listeners: usize,
    /// Local SASL authentications of clients: `(mechanism, result, count)`, as
    /// [`crate::auth::local::LoginCounts::snapshot`] gives them (a bounded set of labels).
    pub local_auth: Vec<(&'static str, &'static str, u64)>,
    /// Gateway handshakes accepted by the server side: (accepted, refused).
    pub gateway_auth: (u64, u64),
    /// `--max-client-connections`, so an alert can compare the open connections with it.
    pub max_client_connections: usize,
}

impl Metrics {
    pub fn new(enabled: bool) -> Self {
        Metrics {
            enabled,
            brokers: Mutex::new(Vec::new()),
            errors: Mutex::new(BTreeMap::new()),
            rewritten: Default::default(),
        }
    }

    /// A response of `api_key` had its broker addresses rewritten (keys outside
    /// [`REWRITTEN_KEYS`] are not counted). Called at most once per response.
    pub fn count_rewrite(&self, api_key: i16) {
        if let Some(i) = REWRITTEN_KEYS.iter().position(|k| *k == api_key) {
            add(&self.rewritten[i], 1);
        }
    }

    /// Whether the pumps count requests and bytes.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The totals of `broker` (`host:port`), created on first use.
    pub fn broker(&self, broker: &str) -> Arc<BrokerMetrics> {
        let mut brokers = lock(&self.brokers);
        if let Some(found) = brokers.iter().find(|b| b.broker == broker) {
            return Arc::clone(found);
        }
        let created = Arc::new(BrokerMetrics::new(broker.to_string()));
        brokers.push(Arc::clone(&created));
        created
    }

    /// A connection ended with an error; `cause` is a short label (`ConnError::cause`).
    pub fn record_error(&self, cause: &'static str) {
        *lock(&self.errors).entry(cause).or_insert(0) += 1;
    }

    pub fn errors(&self, cause: &str) -> u64 {
        lock(&self.errors).get(cause).copied().unwrap_or(0)
    }

    /// The totals of every broker: ended connections plus `live` ones. Call it under the lock
    /// that [`ConnectionStats::fold_into_broker`] is called under (the registry's).
    pub fn totals(&self, live: &[Arc<ConnectionStats>]) -> Vec<(Arc<BrokerMetrics>, Totals)> {
        let brokers: Vec<Arc<BrokerMetrics>> = lock(&self.brokers).clone();
        brokers
            .into_iter()
            .map(|broker| {
                let mut totals = lock(&broker.ended).clone();
                for stats in live.iter().filter(|s| Arc::ptr_eq(&s.broker, &broker)) {
                    stats.add_to(&mut totals);
                }
                (broker, totals)
            })
            .collect()
    }

    /// The whole exposition: the per-broker `totals`, `gauges`, and the process metrics.
    pub fn render(
        &self,
        totals: &[(Arc<BrokerMetrics>, Totals)],
        gauges: &Gauges,
        process: &ProcessStats,
    ) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let brokers: Vec<&Arc<BrokerMetrics>> = totals.iter().map(|(b, _)| b).collect();

        header(
            &mut out,
            "proxy_opened_connections",
            "gauge",
            "Client connections open now, by broker.",
        );
        for b in &brokers {
            sample(
                &mut out,
                "proxy_opened_connections",
                &[("broker", &b.broker)],
                b.opened_connections(),
            );
        }
        header(
            &mut out,
            "proxy_connections_total",
            "counter",
            "Client connections opened since the start, by broker.",
        );
        for b in &brokers {
            sample(
                &mut out,
                "proxy_connections_total",
                &[("broker", &b.broker)],
                b.connections_total(),
            );
        }
        header(
            &mut out,
            "proxy_requests_total",
            "counter",
            "Requests forwarded to brokers, by broker, API key and API version.",
        );
        for (b, t) in totals {
            for ((key, version), n) in &t.requests {
                sample(
                    &mut out,
                    "proxy_requests_total",
                    &[
                        ("broker", &b.broker),
                        ("api_key", &label(*key)),
                        ("api_version", &label(*version)),
                    ],
                    n,
                );
            }
        }
        // grepplabs' names lack the `_total` suffix that Prometheus' linter requires of a
        // counter; the names are kept for existing dashboards and the type is left untyped, which
        // rate() and increase() accept all the same.
        header(
            &mut out,
            "proxy_requests_bytes",
            "untyped",
            "Bytes of requests forwarded to brokers (a counter), by broker.",
        );
        for (b, t) in totals {
            sample(
                &mut out,
                "proxy_requests_bytes",
                &[("broker", &b.broker)],
                t.request_bytes,
            );
        }
        header(
            &mut out,
            "proxy_responses_bytes",
            "untyped",
            "Bytes of responses received from brokers (a counter), by broker.",
        );
        for (b, t) in totals {
            sample(
                &mut out,
                "proxy_responses_bytes",
                &[("broker", &b.broker)],
                t.response_bytes,
            );
        }
        header(
            &mut out,
            "proxy_request_duration_seconds",
            "histogram",
            "Time from forwarding a request to the broker to receiving its response, by broker and API key.",
        );
        for (b, t) in totals {
            for (key, h) in &t.durations {
                let key = label(*key);
                histogram(
                    &mut out,
                    "proxy_request_duration_seconds",
                    &b.broker,
                    &key,
                    h,
                );
            }
        }
        header(
            &mut out,
            "proxy_errors_total",
            "counter",
            "Client connections that ended with an error, or were refused, by cause \
             (client_connection_limit: closed at once past --max-client-connections; \
             accept_failed, thread_spawn_failed: the host ran out of descriptors or threads).",
        );
        for (cause, n) in lock(&self.errors).iter() {
            sample(&mut out, "proxy_errors_total", &[("cause", cause)], *n);
        }
        header(
            &mut out,
            "proxy_addresses_rewritten_total",
            "counter",
            "Responses whose broker addresses were rewritten to the proxy's listeners, by API \
             key (Metadata, FindCoordinator, DescribeCluster; Produce, Fetch, ShareFetch and \
             ShareAcknowledge when they carry NodeEndpoints).",
        );
        for (key, n) in REWRITTEN_KEYS.iter().zip(&self.rewritten) {
            let key = key.to_string();
            let n = n.load(Ordering::Relaxed);
            sample(
                &mut out,
                "proxy_addresses_rewritten_total",
                &[("api_key", &key)],
                n,
            );
        }
        header(
            &mut out,
            "proxy_local_auth_total",
            "counter",
            "Local SASL authentications of clients, by mechanism (none: failed before \
             choosing one) and result.",
        );
        for &(mechanism, result, n) in &gauges.local_auth {
            let labels = [("mechanism", mechanism), ("result", result)];
            sample(&mut out, "proxy_local_auth_total", &labels, n);
        }
        header(
            &mut out,
            "proxy_gateway_auth_total",
            "counter",
            "Gateway handshakes of clients (--auth-gateway-server-*), by result.",
        );
        for (result, n) in [
            ("ok", gauges.gateway_auth.0),
            ("failed", gauges.gateway_auth.1),
        ] {
            sample(
                &mut out,
                "proxy_gateway_auth_total",
                &[("result", result)],
                n,
            );
        }
        header(
            &mut out,
            "proxy_dynamic_listeners",
            "gauge",
            "Listeners bound for brokers that responses named (dynamic listeners).",
        );
        sample(
            &mut out,
            "proxy_dynamic_listeners",
            &[],
            gauges.dynamic_listeners,
        );
        header(
            &mut out,
            "proxy_max_client_connections",
            "gauge",
            "The limit of open client connections (--max-client-connections), over all listeners.",
        );
        sample(
            &mut out,
            "proxy_max_client_connections",
            &[],
            gauges.max_client_connections,
        );
        header(
            &mut out,
            "proxy_build_info",
            "gauge",
            "Always 1; the label carries the version of this kafka-proxy.",
        );
        sample(
            &mut out,
            "proxy_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        process.render(&mut out);
        out
    }
}

/// Metrics of this process, read from `/proc/self` at scrape time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub resident_memory_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    pub threads: Option<u64>,
}

/// Clock ticks per second of the times in `/proc/<pid>/stat`. The kernel reports them in
/// USER_HZ, which is 100 on every Linux architecture (reading `sysconf(_SC_CLK_TCK)` would need
/// libc; Prometheus' own procfs library assumes 100 as well).
const USER_HZ: f64 = 100.0;

impl ProcessStats {
    /// Reads what it can; a metric that cannot be read is left out of the exposition.
    pub fn read() -> ProcessStats {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|dir| dir.count() as u64);
        ProcessStats {
            resident_memory_bytes: status_field(&status, "VmRSS:").map(|kib| kib * 1024),
            cpu_seconds: cpu_seconds(&stat),
            open_fds,
            threads: status_field(&status, "Threads:"),
        }
    }

    fn render(&self, out: &mut String) {
        if let Some(v) = self.resident_memory_bytes {
            header(
                out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            sample(out, "process_resident_memory_bytes", &[], v);
        }
        if let Some(v) = self.cpu_seconds {
            header(
                out,
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
            );
            sample(out, "process_cpu_seconds_total", &[], v);
        }
        if let Some(v) = self.open_fds {
            header(
                out,
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
            );
            sample(out, "process_open_fds", &[], v);
        }
        if let Some(v) = self.threads {
            header(out, "process_threads", "gauge", "Number of OS threads.");
            sample(out, "process_threads", &[], v);
        }
    }
}

/// The number after `name` in `/proc/self/status` (`VmRSS:   1234 kB` gives 1234).
fn status_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// utime + stime of `/proc/self/stat`, in seconds. The command name (field 2) is in parentheses
/// and may contain spaces, so fields are counted from the last `)`.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data are plain counters: a panic elsewhere cannot leave them inconsistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    write_labels(out, labels);
    let _ = writeln!(out, " {value}");
}

fn write_labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    out.push('}');
}

/// Label values escape backslash, double quote and line feed (text format 0.0.4).
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn histogram(out: &mut String, name: &str, broker: &str, api_key: &str, h: &Histogram) {
    let bucket_name = format!("{name}_bucket");
    let mut cumulative = 0;
    for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
        cumulative += h.buckets[i];
        let le = bound.to_string();
        sample(
            out,
            &bucket_name,
            &[("broker", broker), ("api_key", api_key), ("le", &le)],
            cumulative,
        );
    }
    sample(
        out,
        &bucket_name,
        &[("broker", broker), ("api_key", api_key), ("le", "+Inf")],
        h.count,
    );
    let labels = [("broker", broker), ("api_key", api_key)];
    sample(
        out,
        &format!("{name}_sum"),
        &labels,
        h.sum_nanos as f64 / 1e9,
    );
    sample(out, &format!("{name}_count"), &labels, h.count);
}

#[cfg(test)]
mod tests;
