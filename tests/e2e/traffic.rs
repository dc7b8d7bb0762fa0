//! Heavier traffic through the proxy: large messages (big Produce and Fetch frames), compressed
//! batches, and several clients at once. Each result must match the direct path's.

use crate::core::{assert_same, roundtrip};
use crate::harness::{self, unique, Broker, Proxy};

/// roundtrip.py arguments for a fresh topic and group named after `tag`.
fn args(tag: &str, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        "--topic".to_string(),
        unique(&format!("{tag}-t")),
        "--group".to_string(),
        unique(&format!("{tag}-g")),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn large_messages_same_through_proxy() {
    let Some(tools) = harness::tools("large_messages_same_through_proxy") else {
        return;
    };
    let broker = Broker::start(&tools);
    let mut proxy = Proxy::start(&broker);
    // 40 values of 900 KB: Produce requests and Fetch responses of many megabytes.
    let extra = [
        "--count",
        "40",
        "--value-size",
        "900000",
        "--partitions",
        "2",
    ];

    let a = args("big-direct", &extra);
    let direct = roundtrip(&tools, "roundtrip.py", &broker.bootstrap(), &strs(&a));
    let a = args("big-proxy", &extra);
    let via = roundtrip(&tools, "roundtrip.py", &proxy.bootstrap(), &strs(&a));
    assert_same(
        &direct.json,
        &via.json,
        &["digest", "partition_counts"],
        "large messages",
    );
    proxy.assert_healthy();
}

#[test]
fn compressed_batches_same_through_proxy() {
    let Some(tools) = harness::tools("compressed_batches_same_through_proxy") else {
        return;
    };
    let broker = Broker::start(&tools);
    let mut proxy = Proxy::start(&broker);
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let extra = ["--count", "2000", "--compression", codec];
        let a = args(&format!("{codec}-direct"), &extra);
        let direct = roundtrip(&tools, "roundtrip.py", &broker.bootstrap(), &strs(&a));
        let a = args(&format!("{codec}-proxy"), &extra);
        let via = roundtrip(&tools, "roundtrip.py", &proxy.bootstrap(), &strs(&a));
        assert_same(
            &direct.json,
            &via.json,
            &["digest", "partition_counts"],
            codec,
        );
    }
    proxy.assert_healthy();
}

#[test]
fn concurrent_clients_through_proxy() {
    let Some(tools) = harness::tools("concurrent_clients_through_proxy") else {
        return;
    };
    let broker = Broker::start(&tools);
    let mut proxy = Proxy::start(&broker);
    let extra = ["--count", "3000"];

    let a = args("conc-direct", &extra);
    let direct = roundtrip(&tools, "roundtrip.py", &broker.bootstrap(), &strs(&a));

    // Four client processes at once, each with its own producer, consumer group and admin.
    let bootstrap = proxy.bootstrap();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (tools, bootstrap) = (&tools, &bootstrap);
                s.spawn(move || {
                    let a = args(&format!("conc-proxy{i}"), &extra);
                    roundtrip(tools, "roundtrip.py", bootstrap, &strs(&a))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    for via in &results {
        assert_same(
            &direct.json,
            &via.json,
            &["digest", "partition_counts"],
            "concurrent clients",
        );
    }
    proxy.assert_healthy();
}
