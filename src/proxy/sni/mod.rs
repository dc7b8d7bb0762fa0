//! `--sni-listen-address`: one TLS listener for the bootstrap and every broker. A connection's
//! ClientHello is read before anything else ([`crate::net::tls::hello`]); its server name picks
//! the broker: `--sni-bootstrap-host` a bootstrap broker, `--sni-broker-host-pattern` with node
//! N the broker the latest response named for N ([`routes`]). Clients of this listener are told
//! every broker's address as that pattern's name on the advertised port, so brokers found later
//! need no new listener.
//!
//! - `pattern`: parsing the pattern, naming a node and reading a name back.
//! - `routes`: the bounded node id -> broker table, filled from the responses the proxy rewrites.

mod pattern;
mod routes;

pub use pattern::{check_dns_name, SniPattern};

use super::limits::{self, LogThrottle};
use super::Proxy;
use crate::codec::rewrite::{Advertised, BrokerAddress, MapError};
use crate::config::{BootstrapMapping, HostPort, SniConfig};
use crate::net::tls::hello::{self, Hello};
use routes::Routes;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The SNI listener's routing state, shared by every connection.
pub struct Sni {
    config: SniConfig,
    routes: Routes,
    /// The port advertised with the broker names, known once the listener is bound.
    port: OnceLock<u16>,
    /// The bootstrap broker the next bootstrap connection goes to, in turn.
    next_bootstrap: AtomicUsize,
    /// Refused server names are logged at most once per interval.
    refusals_log: LogThrottle,
}

/// Where a server name leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Bootstrap,
    Node(i32),
}

impl Sni {
    pub fn new(config: &SniConfig) -> Sni {
        Sni {
            config: config.clone(),
            routes: Routes::new(routes::MAX_NODES),
            port: OnceLock::new(),
            next_bootstrap: AtomicUsize::new(0),
            refusals_log: LogThrottle::new(limits::LOG_INTERVAL),
        }
    }

    pub fn config(&self) -> &SniConfig {
        &self.config
    }

    /// The listener is bound on `local_port`: the advertised port is `--sni-advertised-port`,
    /// or that one.
    pub fn bound(&self, local_port: u16) {
        let _ = self
            .port
            .set(self.config.advertised_port.unwrap_or(local_port));
    }

    /// Records the broker a response names for its node, so the node's name leads there.
    pub fn learn(&self, broker: BrokerAddress<'_>) -> Result<(), MapError> {
        if broker.node_id < 0 {
            return Err(MapError(format!(
                "broker {}:{} has the negative node id {}, which has no SNI name",
                broker.host, broker.port, broker.node_id
            )));
        }
        super::check_advertised_host(broker)?;
        let target = super::dynamic_broker(broker)?;
        self.routes.learn(broker.node_id, &target).map_err(MapError)
    }

    /// The address advertised for `node_id` to clients of the SNI listener.
    pub fn advertised(&self, node_id: i32) -> Advertised {
        let port = self.port.get().copied().unwrap_or(self.config.listen.port);
        Advertised {
            host: self.config.pattern.name(node_id),
            port: i32::from(port),
        }
    }

    /// What a server name names: the bootstrap, a node, or nothing (`None`). Case-insensitive
    /// and exact.
    pub fn target(&self, name: &str) -> Option<Target> {
        if name.eq_ignore_ascii_case(&self.config.bootstrap_host) {
            return Some(Target::Bootstrap);
        }
        self.config.pattern.node_of(name).map(Target::Node)
    }

    /// The broker a connection asking for `name` is served by, or why there is none.
    pub fn route(
        &self,
        name: Option<&str>,
        bootstrap: &[BootstrapMapping],
    ) -> Result<HostPort, String> {
        let Some(name) = name else {
            return Err(format!(
                "the client sent no TLS server name (SNI); it must ask for {} or a \
                 {} name",
                self.config.bootstrap_host, self.config.pattern
            ));
        };
        let shown = crate::logging::peer_text(name);
        match self.target(name) {
            None => Err(format!(
                "the client asked for the TLS server name \"{shown}\", which is neither {} nor a \
                 {} name",
                self.config.bootstrap_host, self.config.pattern
            )),
            Some(Target::Bootstrap) => {
                let turn = self.next_bootstrap.fetch_add(1, Ordering::Relaxed);
                let mapping = bootstrap
                    .get(turn % bootstrap.len().max(1))
                    .ok_or("no --bootstrap-server-mapping to route the bootstrap name to")?;
                Ok(mapping.broker.clone())
            }
            Some(Target::Node(node_id)) => self.routes.get(node_id).ok_or_else(|| {
                format!(
                    "the client asked for \"{shown}\", node {node_id}, which no metadata the \
                     proxy has seen names yet (the client should fetch metadata through {} \
                     first)",
                    self.config.bootstrap_host
                )
            }),
        }
    }

    /// The routes learned so far, for the debug endpoint.
    pub fn routes(&self) -> Vec<(i32, HostPort)> {
        self.routes.snapshot()
    }
}

/// Reads the ClientHello of a connection to the SNI listener and picks its broker. `None`: the
/// connection is refused (no ClientHello in time, an unknown or missing name, refused with an
/// `unrecognized_name` alert), and was logged.
pub(super) fn accept(
    proxy: &Proxy,
    sni: &Sni,
    stream: &TcpStream,
    client: SocketAddr,
) -> Option<(Hello, HostPort)> {
    let hello = match hello::read(stream, proxy.config.limits.handshake_timeout) {
        Ok(hello) => hello,
        Err(e) if e.kind() == std::io::ErrorKind::NotConnected => {
            log::debug!("client {client} on the SNI listener: {e}");
            return None;
        }
        Err(e) => {
            proxy.metrics.record_error("client_io");
            log::warn!("client {client} on the SNI listener: {e}");
            return None;
        }
    };
    let name = hello.server_name();
    match sni.route(name.as_deref(), &proxy.config.bootstrap_mappings) {
        Ok(broker) => {
            log::debug!(
                "client {client} asked for {} on the SNI listener: broker {broker}",
                name.as_deref().unwrap_or("")
            );
            Some((hello, broker))
        }
        Err(why) => {
            hello::refuse_unrecognized_name(stream, &hello);
            proxy.metrics.record_error("sni_unrecognized_name");
            if let Some(held_back) = sni.refusals_log.allow() {
                log::warn!(
                    "refused client {client} on the SNI listener: {why}; sent the TLS \
                     unrecognized_name alert and closed{}",
                    limits::held_back_note(held_back)
                );
            }
            None
        }
    }
}

/// The `sni_client_hello` fuzz target: what a client sends first on the SNI listener. The bytes
/// go to rustls' ClientHello parser as [`hello::read`] feeds them, and the server name found is
/// routed; the bytes are routed as a name themselves too. A name leads to a node only when it
/// is exactly (but for case) that node's name, and to the bootstrap only when it is its name.
pub fn fuzz_client_hello(data: &[u8]) {
    let sni = Sni::new(&SniConfig {
        listen: HostPort {
            host: "127.0.0.1".into(),
            port: 9443,
        },
        bootstrap_host: "bootstrap.kafka.test".into(),
        pattern: SniPattern::parse("broker-{{.brokerId}}.kafka.test").expect("a valid pattern"),
        advertised_port: None,
    });
    let mut acceptor = rustls::server::Acceptor::default();
    if let Ok(Some((accepted, rest))) = hello::feed(&mut acceptor, data, &mut std::io::sink()) {
        assert!(rest.len() < data.len());
        if let Some(name) = accepted.client_hello().server_name() {
            check_route(&sni, name);
        }
    }
    check_route(&sni, &String::from_utf8_lossy(data));
}

fn check_route(sni: &Sni, name: &str) {
    match sni.target(name) {
        Some(Target::Node(id)) => {
            assert!(id >= 0 && sni.config.pattern.name(id).eq_ignore_ascii_case(name));
        }
        Some(Target::Bootstrap) => assert!(name.eq_ignore_ascii_case(&sni.config.bootstrap_host)),
        None => {}
    }
    // Nothing learned and no bootstrap broker: every name is refused, none panics.
    assert!(sni.route(Some(name), &[]).is_err());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    fn sni() -> Sni {
        Sni::new(&SniConfig {
            listen: hp("127.0.0.1", 0),
            bootstrap_host: "bootstrap.kafka.test".into(),
            pattern: SniPattern::parse("broker-{{.brokerId}}.kafka.test").unwrap(),
            advertised_port: None,
        })
    }

    fn mapping(broker: HostPort) -> BootstrapMapping {
        BootstrapMapping {
            broker,
            listen: hp("127.0.0.1", 0),
            advertised: None,
        }
    }

    #[test]
    fn routes_names_to_brokers() {
        let sni = sni();
        sni.bound(9443);
        let bootstrap = [mapping(hp("k1", 9092)), mapping(hp("k2", 9092))];
        assert_eq!(
            sni.route(Some("BOOTSTRAP.kafka.test"), &bootstrap),
            Ok(hp("k1", 9092))
        );
        // In turn.
        assert_eq!(
            sni.route(Some("bootstrap.kafka.test"), &bootstrap),
            Ok(hp("k2", 9092))
        );
        let err = sni
            .route(Some("broker-3.kafka.test"), &bootstrap)
            .unwrap_err();
        assert!(err.contains("node 3"), "{err}");
        sni.learn(BrokerAddress {
            node_id: 3,
            host: "k3",
            port: 9093,
        })
        .unwrap();
        assert_eq!(
            sni.route(Some("Broker-3.Kafka.Test"), &bootstrap),
            Ok(hp("k3", 9093))
        );
        for name in ["kafka.test", "broker-3.kafka.test.evil", "other"] {
            let err = sni.route(Some(name), &bootstrap).unwrap_err();
            assert!(err.contains(name), "{err}");
        }
        let err = sni.route(None, &bootstrap).unwrap_err();
        assert!(err.contains("no TLS server name"), "{err}");
        assert_eq!(
            sni.advertised(3),
            Advertised {
                host: "broker-3.kafka.test".into(),
                port: 9443
            }
        );
    }

    #[test]
    fn learning_refuses_what_has_no_route() {
        let sni = sni();
        for (node_id, host, port) in [(-1, "k", 9092), (1, "", 9092), (1, "k", 70000)] {
            let broker = BrokerAddress {
                node_id,
                host,
                port,
            };
            assert!(sni.learn(broker).is_err(), "{broker:?}");
        }
        assert!(sni.routes().is_empty());
    }

    #[test]
    fn advertised_port_overrides_the_bound_one() {
        let sni = Sni::new(&SniConfig {
            advertised_port: Some(443),
            ..sni().config
        });
        sni.bound(9443);
        assert_eq!(sni.advertised(0).port, 443);
    }
}
