use super::*;

fn totals_of(metrics: &Metrics, live: &[Arc<ConnectionStats>]) -> Totals {
    let all = metrics.totals(live);
    assert_eq!(all.len(), 1);
    all[0].1.clone()
}

#[test]
fn live_and_ended_connections_add_up() {
    let metrics = Metrics::new(true);
    let broker = metrics.broker("b:9092");
    let first = Arc::new(ConnectionStats::new(Arc::clone(&broker)));
    let second = Arc::new(ConnectionStats::new(Arc::clone(&broker)));
    first.count_request(0, 9, 100);
    first.count_request(0, 9, 100);
    first.count_request(3, 12, 50);
    first.count_response(0, 40, Duration::from_millis(3));
    second.count_request(0, 9, 10);
    second.count_response_bytes(7);
    let live = [Arc::clone(&first), Arc::clone(&second)];
    let t = totals_of(&metrics, &live);
    assert_eq!(t.request_bytes, 260);
    assert_eq!(t.response_bytes, 47);
    assert_eq!(t.requests[&(0, 9)], 3);
    assert_eq!(t.requests[&(3, 12)], 1);
    assert_eq!(t.durations[&0].count(), 1);
    // The first ends: its counts move to the broker, the sums stay the same.
    first.fold_into_broker();
    let after = totals_of(&metrics, &[second]);
    assert_eq!(after.request_bytes, 260);
    assert_eq!(after.requests[&(0, 9)], 3);
    assert_eq!(after.durations[&0].count(), 1);
}

#[test]
fn keys_beyond_the_slots_still_count() {
    let metrics = Metrics::new(true);
    let stats = Arc::new(ConnectionStats::new(metrics.broker("b:1")));
    // 80 real (key, version) pairs, more than a connection has slots for.
    let pairs: Vec<(i16, i16)> = (0..100i16)
        .flat_map(|key| (0..20i16).map(move |version| (key, version)))
        .filter(|&(key, version)| ApiKey(key).is_known_version(version))
        .take(80)
        .collect();
    assert_eq!(pairs.len(), 80);
    for &(key, version) in &pairs {
        stats.count_request(key, version, 1);
        stats.count_response(key, 1, Duration::from_micros(1));
    }
    let t = totals_of(&metrics, &[Arc::clone(&stats)]);
    assert_eq!(t.requests.len(), 80);
    assert!(t.requests.values().all(|&n| n == 1));
    let last = pairs[79];
    assert_eq!(t.requests[&last], 1);
    assert_eq!(t.requests[&(0, 0)], 1);
    let keys: std::collections::BTreeSet<i16> = pairs.iter().map(|p| p.0).collect();
    assert_eq!(t.durations.len(), keys.len());
    assert_eq!(t.request_bytes, 80);
}

#[test]
fn tags_round_trip() {
    for (key, version) in [(0, 0), (-1, -1), (i16::MAX, i16::MIN), (18, 3)] {
        let tag = request_tag(key, version);
        assert_ne!(tag, 0);
        assert_eq!(untag_request(tag), (key, version));
    }
}

#[test]
fn connection_gauge_goes_up_and_down() {
    let metrics = Metrics::new(true);
    let broker = metrics.broker("b:1");
    let open = broker.open_connection();
    let second = broker.open_connection();
    assert_eq!(broker.opened_connections(), 2);
    drop(open);
    drop(second);
    assert_eq!(broker.opened_connections(), 0);
    assert_eq!(broker.connections_total(), 2);
    assert!(Arc::ptr_eq(&broker, &metrics.broker("b:1")));
}

#[test]
fn histogram_buckets() {
    let mut h = Histogram::default();
    h.observe(Duration::from_micros(400));
    h.observe(Duration::from_micros(500));
    h.observe(Duration::from_millis(2));
    h.observe(Duration::from_secs(100));
    assert_eq!(h.buckets[0], 2); // <= 0.5 ms
    assert_eq!(h.buckets[2], 1); // <= 2.5 ms
    assert_eq!(h.buckets[BUCKET_NANOS.len()], 1); // +Inf
    assert_eq!(h.count(), 4);
    let mut out = String::new();
    histogram(&mut out, "d", "b:1", "0", &h);
    assert!(out.contains("d_bucket{broker=\"b:1\",api_key=\"0\",le=\"0.0005\"} 2\n"));
    assert!(out.contains("d_bucket{broker=\"b:1\",api_key=\"0\",le=\"0.0025\"} 3\n"));
    assert!(out.contains("d_bucket{broker=\"b:1\",api_key=\"0\",le=\"30\"} 3\n"));
    assert!(out.contains("d_bucket{broker=\"b:1\",api_key=\"0\",le=\"+Inf\"} 4\n"));
    assert!(out.contains("d_count{broker=\"b:1\",api_key=\"0\"} 4\n"));
    assert!(out.contains("d_sum{broker=\"b:1\",api_key=\"0\"} 100.0029\n"));
}

/// A client choosing its API keys and versions cannot grow the metrics: 10,000 made-up
/// pairs land in one `other` series (requests) and one histogram (durations).
#[test]
fn made_up_keys_and_versions_share_one_bucket() {
    let metrics = Metrics::new(true);
    let stats = Arc::new(ConnectionStats::new(metrics.broker("b:9092")));
    stats.count_request(3, 12, 10); // Metadata v12: counted by name
    for i in 0..10_000i32 {
        let (key, version) = if i % 2 == 0 {
            (1000 + (i % 20_000) as i16, 0) // no such API
        } else {
            (0, 100 + (i % 30_000) as i16) // Produce, a version nobody serves
        };
        stats.count_request(key, version, 10);
        stats.count_response(key, 10, Duration::from_millis(1));
    }
    let totals = metrics.totals(&[Arc::clone(&stats)]);
    let text = metrics.render(&totals, &Gauges::default(), &ProcessStats::read());
    let series = |name: &str| text.lines().filter(|l| l.starts_with(name)).count();
    assert_eq!(series("proxy_requests_total{"), 2, "{text}");
    assert!(text.contains(
        "proxy_requests_total{broker=\"b:9092\",api_key=\"other\",api_version=\"other\"} 10000\n"
    ));
    assert!(text.contains("api_key=\"3\",api_version=\"12\"} 1\n"));
    // One histogram for the made-up keys and one for Produce: buckets plus sum and count.
    let histograms = text
        .lines()
        .filter(|l| l.starts_with("proxy_request_duration_seconds_count{"))
        .count();
    assert_eq!(histograms, 2, "{text}");
    assert!(text.contains("api_key=\"other\"}"), "{text}");
}

#[test]
fn exposition_has_help_and_type_for_every_metric() {
    let metrics = Metrics::new(true);
    let stats = Arc::new(ConnectionStats::new(metrics.broker("b:9092")));
    stats.count_request(0, 9, 10);
    stats.count_response(0, 10, Duration::from_millis(1));
    metrics.record_error("client_timeout");
    metrics.count_rewrite(1);
    metrics.count_rewrite(1);
    metrics.count_rewrite(18); // ApiVersions: capped, not rewritten; not counted
    let totals = metrics.totals(&[stats]);
    let gauges = Gauges {
        dynamic_listeners: 2,
        local_auth: vec![("PLAIN", "failed", 1), ("OAUTHBEARER", "ok", 2)],
        gateway_auth: (3, 0),
        max_client_connections: 4096,
    };
    let text = metrics.render(&totals, &gauges, &ProcessStats::read());
    for name in [
        "proxy_opened_connections",
        "proxy_connections_total",
        "proxy_requests_total",
        "proxy_requests_bytes",
        "proxy_responses_bytes",
        "proxy_request_duration_seconds",
        "proxy_errors_total",
        "proxy_addresses_rewritten_total",
        "proxy_local_auth_total",
        "proxy_gateway_auth_total",
        "proxy_dynamic_listeners",
        "proxy_max_client_connections",
        "proxy_build_info",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_threads",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
    }
    assert!(text
        .contains("proxy_requests_total{broker=\"b:9092\",api_key=\"0\",api_version=\"9\"} 1\n"));
    assert!(text.contains("proxy_requests_bytes{broker=\"b:9092\"} 10\n"));
    assert!(text.contains("proxy_errors_total{cause=\"client_timeout\"} 1\n"));
    assert!(text.contains("proxy_local_auth_total{mechanism=\"PLAIN\",result=\"failed\"} 1\n"));
    assert!(text.contains("proxy_local_auth_total{mechanism=\"OAUTHBEARER\",result=\"ok\"} 2\n"));
    assert!(text.contains("proxy_gateway_auth_total{result=\"ok\"} 3\n"));
    assert!(text.contains("proxy_dynamic_listeners 2\n"));
    assert!(text.contains("proxy_max_client_connections 4096\n"));
    assert!(text.contains("proxy_addresses_rewritten_total{api_key=\"1\"} 2\n"));
    assert!(text.contains("proxy_addresses_rewritten_total{api_key=\"3\"} 0\n"));
    assert!(!text.contains("api_key=\"18\"} 1"));
    // Every sample line is `name[{labels}] value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn label_values_are_escaped() {
    let mut out = String::new();
    write_labels(&mut out, &[("broker", "a\"b\\c\nd")]);
    assert_eq!(out, r#"{broker="a\"b\\c\nd"}"#);
}

#[test]
fn proc_parsing() {
    let status = "Name:\tkafka-proxy\nVmRSS:\t    2048 kB\nThreads:\t7\n";
    assert_eq!(status_field(status, "VmRSS:"), Some(2048));
    assert_eq!(status_field(status, "Threads:"), Some(7));
    assert_eq!(status_field(status, "VmSwap:"), None);
    let stat = "42 (kafka (proxy) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0";
    assert_eq!(cpu_seconds(stat), Some(3.0));
    assert_eq!(cpu_seconds("garbage"), None);
    let live = ProcessStats::read();
    assert!(live.resident_memory_bytes.unwrap_or(0) > 0);
    assert!(live.threads.unwrap_or(0) >= 1);
    assert!(live.open_fds.unwrap_or(0) >= 3);
}
