//! The address map: which proxy address is advertised for each broker address, and where to dial
//! for it. Static entries come from the bootstrap and external mappings; dynamic ones are added
//! when a response names a broker nobody mapped. Lookups on the response path take a read lock.

use crate::codec::rewrite::Advertised;
use crate::config::{Config, DynamicPorts, HostPort};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

/// A broker address as responses name it. Host names compare case-insensitively, as DNS does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerKey {
    host: String,
    port: i32,
}

impl BrokerKey {
    pub fn new(host: &str, port: i32) -> Self {
        BrokerKey {
            host: host.to_ascii_lowercase(),
            port,
        }
    }

    pub fn from_host_port(hp: &HostPort) -> Self {
        BrokerKey::new(&hp.host, i32::from(hp.port))
    }
}

/// What a broker address maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The address clients are told to use.
    pub advertised: Advertised,
    /// Whether this proxy serves that address (false for external mappings).
    pub local: bool,
}

pub struct AddressMap {
    entries: RwLock<HashMap<BrokerKey, Mapping>>,
    dial: HashMap<BrokerKey, HostPort>,
    /// Held while a dynamic listener is being bound, so two connections naming the same new broker
    /// at once bind one listener, and sequential ports are handed out in order.
    dynamic: Mutex<DynamicState>,
}

#[derive(Debug, Default)]
pub struct DynamicState {
    /// Sequential mode: how many ports from the minimum have been tried.
    pub next_offset: u32,
}

impl AddressMap {
    /// The static part of the map, from the configuration.
    pub fn new(config: &Config) -> Self {
        let mut entries = HashMap::new();
        for mapping in &config.bootstrap_mappings {
            let advertised = mapping.advertised.as_ref().unwrap_or(&mapping.listen);
            entries.insert(
                BrokerKey::from_host_port(&mapping.broker),
                Mapping {
                    advertised: Advertised {
                        host: advertised.host.clone(),
                        port: i32::from(advertised.port),
                    },
                    local: true,
                },
            );
        }
        for mapping in &config.external_mappings {
            entries.insert(
                BrokerKey::from_host_port(&mapping.broker),
                Mapping {
                    advertised: Advertised {
                        host: mapping.advertised.host.clone(),
                        port: i32::from(mapping.advertised.port),
                    },
                    local: false,
                },
            );
        }
        let dial = config
            .dial_mappings
            .iter()
            .map(|m| (BrokerKey::from_host_port(&m.broker), m.dial.clone()))
            .collect();
        AddressMap {
            entries: RwLock::new(entries),
            dial,
            dynamic: Mutex::new(DynamicState::default()),
        }
    }

    pub fn lookup(&self, key: &BrokerKey) -> Option<Mapping> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(key).cloned()
    }

    pub fn insert(&self, key: BrokerKey, mapping: Mapping) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(key, mapping);
    }

    /// Where to connect for `broker`: its dial mapping, or the broker address itself.
    pub fn dial_address(&self, broker: &HostPort) -> HostPort {
        self.dial
            .get(&BrokerKey::from_host_port(broker))
            .cloned()
            .unwrap_or_else(|| broker.clone())
    }

    /// Locks the dynamic-listener state; the caller re-checks the map while holding it.
    pub fn lock_dynamic(&self) -> std::sync::MutexGuard<'_, DynamicState> {
        self.dynamic
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every mapping, for logs and the debug endpoint.
    pub fn snapshot(&self) -> Vec<(BrokerKey, Mapping)> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut all: Vec<_> = entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_by(|a, b| (&a.0.host, a.0.port).cmp(&(&b.0.host, b.0.port)));
        all
    }
}

impl std::fmt::Display for BrokerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The port a new dynamic listener for `node_id` should try, or why there is none.
/// `offset` is the number of sequential ports already used or tried.
pub fn dynamic_port(ports: DynamicPorts, node_id: i32, offset: u32) -> Result<u16, String> {
    match ports {
        DynamicPorts::Random => Ok(0),
        DynamicPorts::Sequential { min, max_ports } => {
            if max_ports > 0 && offset >= u32::from(max_ports) {
                return Err(format!(
                    "all {max_ports} sequential dynamic listener ports from {min} are in use \
                     (--dynamic-sequential-max-ports)"
                ));
            }
            u16::try_from(u32::from(min) + offset)
                .map_err(|_| format!("sequential dynamic listener ports from {min} ran past 65535"))
        }
        DynamicPorts::Deterministic { min } => {
            if node_id < 0 {
                return Err(format!(
                    "broker node id {node_id} is negative: no deterministic listener port"
                ));
            }
            u16::try_from(i64::from(min) + i64::from(node_id)).map_err(|_| {
                format!(
                    "deterministic listener port {min} + node id {node_id} is larger than 65535"
                )
            })
        }
    }
}

/// The host and port to advertise for a dynamic listener bound on `bound_port` for `node_id`.
pub fn dynamic_advertised(config: &Config, node_id: i32, bound_port: u16) -> Advertised {
    let Some(template) = &config.dynamic_advertised_listener else {
        return Advertised {
            host: config.default_listener_ip.clone(),
            port: i32::from(bound_port),
        };
    };
    let text = template.replace("{{.brokerId}}", &node_id.to_string());
    // host[:port]; an IPv6 literal must be bracketed to carry a port.
    let (host, port) = split_optional_port(&text);
    Advertised {
        host: host.to_string(),
        port: port.map_or(i32::from(bound_port), i32::from),
    }
}

fn split_optional_port(text: &str) -> (&str, Option<u16>) {
    if let Some(rest) = text.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host, port);
        }
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (text, None),
        },
        _ => (text, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sequential_ports() {
        let det = DynamicPorts::Deterministic { min: 30000 };
        assert_eq!(dynamic_port(det, 3, 0), Ok(30003));
        assert!(dynamic_port(det, -1, 0).is_err());
        assert!(dynamic_port(det, 40000, 0).is_err());
        let seq = DynamicPorts::Sequential {
            min: 30000,
            max_ports: 2,
        };
        assert_eq!(dynamic_port(seq, 7, 0), Ok(30000));
        assert_eq!(dynamic_port(seq, 7, 1), Ok(30001));
        assert!(dynamic_port(seq, 7, 2).unwrap_err().contains("in use"));
        assert_eq!(dynamic_port(DynamicPorts::Random, 7, 0), Ok(0));
    }

    #[test]
    fn optional_ports() {
        assert_eq!(split_optional_port("host"), ("host", None));
        assert_eq!(split_optional_port("host:9"), ("host", Some(9)));
        assert_eq!(split_optional_port("[::1]:9"), ("::1", Some(9)));
        assert_eq!(split_optional_port("[::1]"), ("::1", None));
        assert_eq!(
            split_optional_port("b-{{.brokerId}}.example"),
            ("b-{{.brokerId}}.example", None)
        );
    }
}
