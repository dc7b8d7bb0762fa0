//! The real kafka-proxy binary in front of a [`Cluster`]: every broker is reached through
//! `--dial-address-mapping broker-<id>.invalid:P,127.0.0.1:P`, since the names the brokers
//! advertise resolve nowhere.

use crate::cluster::{Cluster, Protocol};
use crate::harness::{free_port, Proxy};
use std::net::TcpListener;

/// How the proxy's listeners are found for the brokers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listeners {
    /// One `--bootstrap-server-mapping` per broker.
    AllMapped,
    /// Only broker 1 mapped; the others get dynamic listeners on random ports.
    DynamicRandom,
    /// Only broker 1 mapped; dynamic listeners from `--dynamic-sequential-min-port`.
    DynamicSequential,
    /// Only broker 1 mapped; `--deterministic-listeners`: min-port + broker id.
    DynamicDeterministic,
}

/// A proxy and the cluster-facing facts a test checks against.
pub struct KProxy {
    pub proxy: Proxy,
    /// `127.0.0.1:P` of the listener mapped to broker 1.
    pub bootstrap: String,
    /// The first dynamic port (sequential and deterministic modes).
    pub min_port: Option<u16>,
    /// The flags and environment it was started with, for [`KProxy::start_same`].
    args: Vec<String>,
    vars: Vec<(String, String)>,
}

/// `count` consecutive free ports on 127.0.0.1, returned as the first.
pub fn free_port_block(count: u16) -> u16 {
    for _ in 0..200 {
        let base = free_port();
        if base > 65535 - count - 1 {
            continue;
        }
        let all_free = (1..=count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no block of {count} free ports");
}

impl KProxy {
    /// A proxy with its default flags, every broker mapped.
    pub fn mapped(cluster: &Cluster, protocol: Protocol) -> KProxy {
        KProxy::start(cluster, protocol, Listeners::AllMapped, &[], &[])
    }

    /// Starts the proxy for `protocol`'s proxied listeners with `extra` flags and `vars`.
    pub fn start(
        cluster: &Cluster,
        protocol: Protocol,
        listeners: Listeners,
        extra: &[&str],
        vars: &[(&str, &str)],
    ) -> KProxy {
        let brokers = cluster.proxied(protocol);
        let mut args: Vec<String> = Vec::new();
        let mut first = None;
        for (i, (_id, advertised, dial)) in brokers.iter().enumerate() {
            if i == 0 || listeners == Listeners::AllMapped {
                let port = free_port();
                first.get_or_insert(port);
                args.push("--bootstrap-server-mapping".into());
                args.push(format!("{advertised},127.0.0.1:{port}"));
            }
            args.push("--dial-address-mapping".into());
            args.push(format!("{advertised},{dial}"));
        }
        let mut min_port = None;
        match listeners {
            Listeners::AllMapped | Listeners::DynamicRandom => {}
            Listeners::DynamicSequential => {
                let base = free_port_block(brokers.len() as u16 + 1);
                min_port = Some(base);
                args.extend(["--dynamic-sequential-min-port".into(), base.to_string()]);
            }
            Listeners::DynamicDeterministic => {
                // Ports min + id for ids 1..=n: a free block of n + 1 starting at min.
                let base = free_port_block(brokers.len() as u16 + 1);
                min_port = Some(base);
                args.extend([
                    "--dynamic-sequential-min-port".into(),
                    base.to_string(),
                    "--deterministic-listeners".into(),
                ]);
            }
        }
        args.extend(["--log-level".into(), "info".into()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let port = first.expect("at least one broker");
        let proxy = Proxy::start_args(port, &argv, vars);
        KProxy {
            proxy,
            bootstrap: format!("127.0.0.1:{port}"),
            min_port,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args,
        }
    }

    /// Another proxy process with the same flags (the same listeners, which it shares with this
    /// one through SO_REUSEPORT) and its own HTTP port, as in an upgrade.
    #[allow(dead_code)] // used by the upgrade test
    pub fn start_same(&self) -> Proxy {
        let argv: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Proxy::start_args(self.proxy.port, &argv, &vars)
    }
}

/// Asserts that a client's log never names a broker's own (`.invalid`) address: the proxy
/// rewrote every address the client was given.
pub fn assert_no_broker_address(who: &str, log: &str) {
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(".invalid"))
        .take(5)
        .collect();
    assert!(
        bad.is_empty(),
        "the {who} was given a broker address the proxy did not rewrite:\n{}",
        bad.join("\n")
    );
}
