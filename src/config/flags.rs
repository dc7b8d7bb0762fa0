//! The flag table: one entry per flag, holding everything the program knows about it (name,
//! value name, environment variable, default, help, category, kind, and the function that
//! stores a value). The parser, `--help` and the man page are all driven from these tables;
//! nothing else lists flags.
//!
//! Flags store into a command's low-level argument struct (for `server`, [`ServerArgs`]) one
//! value at a time, checking only that value's syntax. Checks across flags and the final
//! [`Config`] come after, in [`ServerArgs::into_config`].

use std::time::Duration;

use super::value::{self, Reason};
use super::{
    BootstrapMapping, Config, DialMapping, DynamicPorts, ExternalMapping, KafkaConfig,
    ListenerConfig, LogFormat,
};

/// How a flag takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagKind {
    /// `--flag` alone means true; `--flag=true|false` is accepted too (as Go's pflag does).
    /// From the environment: true/false, 1/0, yes/no.
    Switch,
    /// `--flag VALUE` or `--flag=VALUE`; the last one given wins.
    Value,
    /// `--flag VALUE`, as many times as needed; the values add up. In the environment the
    /// values are separated by whitespace.
    Repeated,
}

/// Groups flags under a heading in `--help` and the man page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Listeners,
    Kafka,
    Client,
    Logging,
}

impl Category {
    pub const ALL: &'static [Category] = &[
        Category::Listeners,
        Category::Kafka,
        Category::Client,
        Category::Logging,
    ];

    /// The heading, as printed.
    pub fn heading(self) -> &'static str {
        match self {
            Category::Listeners => "Listeners and address mapping",
            Category::Kafka => "Connections to brokers",
            Category::Client => "Connections from clients",
            Category::Logging => "Logging",
        }
    }
}

/// A flag of command whose low-level arguments are `T`.
pub struct Flag<T: 'static> {
    /// The long name without dashes, e.g. `kafka-dial-timeout`.
    pub name: &'static str,
    /// The value's placeholder in help, e.g. `DURATION`; empty for switches.
    pub value_name: &'static str,
    /// The environment variable read when the flag is not on the command line:
    /// the name upper-cased with `-` turned into `_`.
    pub env: &'static str,
    /// The default as written on the command line, applied (through `apply`) when neither
    /// the command line nor the environment sets the flag. `None`: no value.
    pub default: Option<&'static str>,
    /// One paragraph; `--help` wraps it, the man page fills it.
    pub help: &'static str,
    pub category: Category,
    pub kind: FlagKind,
    /// Must be given (on the command line or in the environment).
    pub required: bool,
    /// Parses one value and stores it. For a switch the value is `true` or `false` (or what
    /// followed `=`); for a repeated flag it is called once per value.
    pub apply: fn(&mut T, &str) -> Result<(), Reason>,
}

impl<T> Flag<T> {
    /// How the flag and its value are written, e.g. `--kafka-dial-timeout DURATION`.
    pub fn synopsis(&self) -> String {
        if self.value_name.is_empty() {
            format!("--{}", self.name)
        } else {
            format!("--{} {}", self.name, self.value_name)
        }
    }
}

/// The largest byte count a socket buffer or a Kafka frame can have: Kafka sizes and the
/// `SO_RCVBUF`/`SO_SNDBUF` options are signed 32-bit.
const MAX_I32: u64 = i32::MAX as u64;

/// Limits `--kafka-max-open-requests`: it sizes a channel allocated per connection.
pub const MAX_OPEN_REQUESTS: u64 = 1 << 20;

/// Low-level arguments of `server`: each flag's value, checked on its own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerArgs {
    pub bootstrap_mappings: Vec<BootstrapMapping>,
    pub external_mappings: Vec<ExternalMapping>,
    pub dial_mappings: Vec<DialMapping>,
    pub default_listener_ip: String,
    pub dynamic_listeners_disable: bool,
    pub dynamic_advertised_listener: Option<String>,
    pub dynamic_sequential_min_port: u16,
    pub dynamic_sequential_max_ports: u16,
    pub deterministic_listeners: bool,
    pub forbidden_api_keys: Vec<i16>,
    pub producer_acks_0_disabled: bool,
    pub kafka_client_id: String,
    pub kafka_dial_timeout: Duration,
    pub kafka_read_timeout: Duration,
    pub kafka_write_timeout: Duration,
    pub kafka_keep_alive: Duration,
    pub kafka_max_open_requests: usize,
    pub kafka_connection_read_buffer_size: usize,
    pub kafka_connection_write_buffer_size: usize,
    pub proxy_listener_keep_alive: Duration,
    pub proxy_listener_read_buffer_size: usize,
    pub proxy_listener_write_buffer_size: usize,
    pub proxy_request_buffer_size: usize,
    pub proxy_response_buffer_size: usize,
    pub max_frame_size: usize,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<log::LevelFilter>,
}

/// Why a set of individually valid flags cannot run together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The flag the user should look at first.
    pub flag: &'static str,
    pub reason: String,
}

impl ServerArgs {
    /// Checks the flags against each other and builds the [`Config`].
    pub fn into_config(self) -> Result<Config, Conflict> {
        let conflict = |flag, reason: &str| Conflict {
            flag,
            reason: reason.to_string(),
        };
        if self.bootstrap_mappings.is_empty() {
            return Err(conflict(
                "bootstrap-server-mapping",
                "at least one is required",
            ));
        }
        let min = self.dynamic_sequential_min_port;
        let max = self.dynamic_sequential_max_ports;
        // Like grepplabs, the port settings only matter (and are only checked) while dynamic
        // listeners are on.
        let dynamic_ports = if self.dynamic_listeners_disable {
            DynamicPorts::Random
        } else if self.deterministic_listeners {
            if min == 0 {
                return Err(conflict(
                    "deterministic-listeners",
                    "needs --dynamic-sequential-min-port greater than 0",
                ));
            }
            if max != 0 {
                // grepplabs wraps the port as min + id % max-ports; we bind min + id exactly,
                // so we refuse rather than silently ignore the limit.
                return Err(conflict(
                    "deterministic-listeners",
                    "cannot be combined with --dynamic-sequential-max-ports (the port is always min-port + broker id)",
                ));
            }
            DynamicPorts::Deterministic { min }
        } else if min == 0 {
            if max != 0 {
                return Err(conflict(
                    "dynamic-sequential-max-ports",
                    "needs --dynamic-sequential-min-port greater than 0",
                ));
            }
            DynamicPorts::Random
        } else {
            let room = 65536 - u32::from(min);
            let max_ports = if max == 0 { room } else { u32::from(max) };
            if max_ports > room {
                return Err(Conflict {
                    flag: "dynamic-sequential-max-ports",
                    reason: format!(
                        "{max} ports from {min} go past port 65535 (at most {room} fit)"
                    ),
                });
            }
            DynamicPorts::Sequential {
                min,
                max_ports: max_ports as u16,
            }
        };
        Ok(Config {
            bootstrap_mappings: self.bootstrap_mappings,
            external_mappings: self.external_mappings,
            dial_mappings: self.dial_mappings,
            default_listener_ip: self.default_listener_ip,
            dynamic_listeners_disable: self.dynamic_listeners_disable,
            dynamic_advertised_listener: self.dynamic_advertised_listener,
            dynamic_ports,
            forbidden_api_keys: self.forbidden_api_keys,
            producer_acks_0_disabled: self.producer_acks_0_disabled,
            kafka: KafkaConfig {
                client_id: self.kafka_client_id,
                dial_timeout: self.kafka_dial_timeout,
                read_timeout: self.kafka_read_timeout,
                write_timeout: self.kafka_write_timeout,
                keep_alive: self.kafka_keep_alive,
                max_open_requests: self.kafka_max_open_requests,
                read_buffer_size: self.kafka_connection_read_buffer_size,
                write_buffer_size: self.kafka_connection_write_buffer_size,
            },
            listener: ListenerConfig {
                keep_alive: self.proxy_listener_keep_alive,
                read_buffer_size: self.proxy_listener_read_buffer_size,
                write_buffer_size: self.proxy_listener_write_buffer_size,
                request_buffer_size: self.proxy_request_buffer_size,
                response_buffer_size: self.proxy_response_buffer_size,
            },
            max_frame_size: self.max_frame_size,
            log_format: self.log_format.unwrap_or(LogFormat::Text),
            log_level: self.log_level.unwrap_or(log::LevelFilter::Info),
            // TODO(flags): the flags for these land with their features.
            tls: None,
            listener_tls: None,
            sasl: None,
            auth_local: None,
            auth_gateway_client: None,
            auth_gateway_server: None,
            forward_proxy: None,
            http: super::HttpConfig {
                disable: true,
                listen_address: super::HostPort {
                    host: "0.0.0.0".into(),
                    port: 9080,
                },
                health_path: "/health".into(),
                metrics_path: "/metrics".into(),
                debug_enable: false,
                debug_listen_address: super::HostPort {
                    host: "0.0.0.0".into(),
                    port: 6060,
                },
            },
            graceful_shutdown_timeout: Duration::from_secs(30),
            limits: super::LimitsConfig {
                max_client_connections: 0,
                client_idle_timeout: Duration::ZERO,
                handshake_timeout: Duration::from_secs(10),
            },
        })
    }
}

// Small helpers so each table entry's `apply` is a one-liner.

fn port(s: &str) -> Result<u16, Reason> {
    value::parse_uint(s, 65535).map(|n| n as u16)
}

fn duration(s: &str) -> Result<Duration, Reason> {
    value::parse_duration(s)
}

/// A socket buffer size: 0 (system default) up to 2 GiB - 1.
fn socket_buffer(s: &str) -> Result<usize, Reason> {
    value::parse_size_in(s, 0, MAX_I32)
}

/// A copy buffer size: at least 1 byte.
fn copy_buffer(s: &str) -> Result<usize, Reason> {
    value::parse_size_in(s, 1, MAX_I32)
}

const FALSE: Option<&str> = Some("false");

/// The flags of `kafka-proxy server`, in the order `--help` lists them within a category.
pub static SERVER_FLAGS: &[Flag<ServerArgs>] = &[
    // Listeners and address mapping.
    Flag {
        name: "bootstrap-server-mapping",
        value_name: "BROKER,LISTEN[,ADVERTISED]",
        env: "BOOTSTRAP_SERVER_MAPPING",
        default: None,
        help: "Maps a Kafka broker (host:port) to a local listener (host:port) that the proxy \
               binds, optionally followed by the host:port advertised to clients in its place \
               (the listen address when omitted). Give it once per bootstrap broker; at least \
               one is required. An empty listen host (:port) listens on all interfaces.",
        category: Category::Listeners,
        kind: FlagKind::Repeated,
        required: true,
        apply: |a, s| {
            a.bootstrap_mappings
                .push(value::parse_bootstrap_mapping(s)?);
            Ok(())
        },
    },
    Flag {
        name: "external-server-mapping",
        value_name: "BROKER,ADVERTISED",
        env: "EXTERNAL_SERVER_MAPPING",
        default: None,
        help: "Advertises a Kafka broker (host:port) to clients as another host:port without \
               binding a listener for it, for a listener that another proxy or a load balancer \
               provides.",
        category: Category::Listeners,
        kind: FlagKind::Repeated,
        required: false,
        apply: |a, s| {
            a.external_mappings.push(value::parse_external_mapping(s)?);
            Ok(())
        },
    },
    Flag {
        name: "dial-address-mapping",
        value_name: "BROKER,DIAL",
        env: "DIAL_ADDRESS_MAPPING",
        default: None,
        help: "Connects to DIAL (host:port) whenever the proxy would connect to the broker \
               BROKER (host:port). Addresses advertised to clients are not affected.",
        category: Category::Listeners,
        kind: FlagKind::Repeated,
        required: false,
        apply: |a, s| {
            a.dial_mappings.push(value::parse_dial_mapping(s)?);
            Ok(())
        },
    },
    Flag {
        name: "default-listener-ip",
        value_name: "IP",
        env: "DEFAULT_LISTENER_IP",
        default: Some("127.0.0.1"),
        help: "IP address that dynamic listeners bind to, and advertise unless \
               --dynamic-advertised-listener is set.",
        category: Category::Listeners,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            let ip: std::net::IpAddr = s
                .trim()
                .parse()
                .map_err(|_| "expected an IPv4 or IPv6 address like 0.0.0.0 or ::")?;
            a.default_listener_ip = ip.to_string();
            Ok(())
        },
    },
    Flag {
        name: "dynamic-listeners-disable",
        value_name: "",
        env: "DYNAMIC_LISTENERS_DISABLE",
        default: FALSE,
        help: "Does not start listeners for brokers that are not mapped by \
               --bootstrap-server-mapping or --external-server-mapping; such a broker is then \
               advertised through --dynamic-advertised-listener if set, and is an error \
               otherwise.",
        category: Category::Listeners,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.dynamic_listeners_disable = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "dynamic-advertised-listener",
        value_name: "HOST[:PORT]",
        env: "DYNAMIC_ADVERTISED_LISTENER",
        default: None,
        help: "Address advertised for dynamic listeners instead of --default-listener-ip. \
               Without a port, the listener's own port is advertised. {{.brokerId}} is \
               replaced by the broker's node id, e.g. broker-{{.brokerId}}.example.com.",
        category: Category::Listeners,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.dynamic_advertised_listener = Some(value::parse_advertised_listener(s)?);
            Ok(())
        },
    },
    Flag {
        name: "dynamic-sequential-min-port",
        value_name: "PORT",
        env: "DYNAMIC_SEQUENTIAL_MIN_PORT",
        default: Some("0"),
        help: "When not 0, dynamic listeners take ports one after the other starting at this \
               port, instead of a random port chosen by the system.",
        category: Category::Listeners,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.dynamic_sequential_min_port = port(s)?;
            Ok(())
        },
    },
    Flag {
        name: "dynamic-sequential-max-ports",
        value_name: "N",
        env: "DYNAMIC_SEQUENTIAL_MAX_PORTS",
        default: Some("0"),
        help: "How many sequential ports dynamic listeners may use, starting at \
               --dynamic-sequential-min-port; 0 means every port up to 65535.",
        category: Category::Listeners,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.dynamic_sequential_max_ports = port(s)?;
            Ok(())
        },
    },
    Flag {
        name: "deterministic-listeners",
        value_name: "",
        env: "DETERMINISTIC_LISTENERS",
        default: FALSE,
        help: "Gives each dynamic listener the port --dynamic-sequential-min-port plus the \
               broker's node id, so a broker keeps its port across restarts of the proxy. \
               Needs --dynamic-sequential-min-port.",
        category: Category::Listeners,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.deterministic_listeners = value::parse_bool(s)?;
            Ok(())
        },
    },
    // Connections to brokers.
    Flag {
        name: "kafka-client-id",
        value_name: "ID",
        env: "KAFKA_CLIENT_ID",
        default: Some("kafka-proxy"),
        help: "Client id the proxy sends in the requests it makes itself (such as SASL \
               authentication to brokers).",
        category: Category::Kafka,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.kafka_client_id = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "kafka-dial-timeout",
        value_name: "DURATION",
        env: "KAFKA_DIAL_TIMEOUT",
        default: Some("15s"),
        help: "How long to wait for a connection to a broker to be established.",
        category: Category::Kafka,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.kafka_dial_timeout = duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "kafka-read-timeout",
        value_name: "DURATION",
        env: "KAFKA_READ_TIMEOUT",
        default: Some("30s"),
        help: "How long to wait for a response from a broker.",
        category: Category::Kafka,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.kafka_read_timeout = duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "kafka-write-timeout",
        value_name: "DURATION",
        env: "KAFKA_WRITE_TIMEOUT",
        default: Some("30s"),
        help: "How long to wait for a request to be sent to a broker.",
        category: Category::Kafka,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.kafka_write_timeout = duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "kafka-keep-alive",
        value_name: "DURATION",
        env: "KAFKA_KEEP_ALIVE",
        default: Some("1m"),
        help: "TCP keep-alive period of connections to brokers; 0 turns keep-alive off.",
        category: Category::Kafka,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.kafka_keep_alive = duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "kafka-max-open-requests",
        value_name: "N",
        env: "KAFKA_MAX_OPEN_REQUESTS",
        default: Some("256"),
        help: "How many requests a client connection may have waiting for a response before \
               the proxy stops reading more from it.",
        category: Category::Kafka,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            let n = value::parse_uint(s, MAX_OPEN_REQUESTS)?;
            if n == 0 {
                return Err("must be at least 1".into());
            }
            a.kafka_max_open_requests = n as usize;
            Ok(())
        },
    },
    Flag {
        name: "kafka-connection-read-buffer-size",
        value_name: "BYTES",
        env: "KAFKA_CONNECTION_READ_BUFFER_SIZE",
        default: Some("0"),
        help: "Receive buffer (SO_RCVBUF) of connections to brokers; 0 keeps the system \
               default.",
        category: Category::Kafka,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.kafka_connection_read_buffer_size = socket_buffer(s)?;
            Ok(())
        },
    },
    Flag {
        name: "kafka-connection-write-buffer-size",
        value_name: "BYTES",
        env: "KAFKA_CONNECTION_WRITE_BUFFER_SIZE",
        default: Some("0"),
        help: "Send buffer (SO_SNDBUF) of connections to brokers; 0 keeps the system default.",
        category: Category::Kafka,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.kafka_connection_write_buffer_size = socket_buffer(s)?;
            Ok(())
        },
    },
    Flag {
        name: "forbidden-api-keys",
        value_name: "KEY[,KEY...]",
        env: "FORBIDDEN_API_KEYS",
        default: None,
        help: "Kafka API keys whose requests the proxy refuses, closing the client's \
               connection; e.g. 20 forbids DeleteTopics. Comma-separated, and may be given \
               more than once.",
        category: Category::Kafka,
        kind: FlagKind::Repeated,
        required: false,
        apply: |a, s| {
            a.forbidden_api_keys.extend(value::parse_api_keys(s)?);
            Ok(())
        },
    },
    Flag {
        name: "producer-acks-0-disabled",
        value_name: "",
        env: "PRODUCER_ACKS_0_DISABLED",
        default: FALSE,
        help: "Assumes no producer sends with acks=0 (fire and forget), so every request \
               expects a response; this saves reading the acks field of each produce request.",
        category: Category::Kafka,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.producer_acks_0_disabled = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "max-frame-size",
        value_name: "BYTES",
        env: "MAX_FRAME_SIZE",
        default: Some("100MiB"),
        help: "Largest request or response the proxy passes on; a larger one closes the \
               connection. Accepts suffixes KiB, MiB, GiB, KB, MB and GB.",
        category: Category::Kafka,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.max_frame_size = value::parse_size_in(s, 1, MAX_I32)?;
            Ok(())
        },
    },
    // Connections from clients.
    Flag {
        name: "proxy-listener-keep-alive",
        value_name: "DURATION",
        env: "PROXY_LISTENER_KEEP_ALIVE",
        default: Some("1m"),
        help: "TCP keep-alive period of client connections; 0 turns keep-alive off.",
        category: Category::Client,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.proxy_listener_keep_alive = duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "proxy-listener-read-buffer-size",
        value_name: "BYTES",
        env: "PROXY_LISTENER_READ_BUFFER_SIZE",
        default: Some("0"),
        help: "Receive buffer (SO_RCVBUF) of client connections; 0 keeps the system default.",
        category: Category::Client,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.proxy_listener_read_buffer_size = socket_buffer(s)?;
            Ok(())
        },
    },
    Flag {
        name: "proxy-listener-write-buffer-size",
        value_name: "BYTES",
        env: "PROXY_LISTENER_WRITE_BUFFER_SIZE",
        default: Some("0"),
        help: "Send buffer (SO_SNDBUF) of client connections; 0 keeps the system default.",
        category: Category::Client,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.proxy_listener_write_buffer_size = socket_buffer(s)?;
            Ok(())
        },
    },
    Flag {
        name: "proxy-request-buffer-size",
        value_name: "BYTES",
        env: "PROXY_REQUEST_BUFFER_SIZE",
        default: Some("4096"),
        help: "Size of the buffer each connection copies requests through.",
        category: Category::Client,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.proxy_request_buffer_size = copy_buffer(s)?;
            Ok(())
        },
    },
    Flag {
        name: "proxy-response-buffer-size",
        value_name: "BYTES",
        env: "PROXY_RESPONSE_BUFFER_SIZE",
        default: Some("4096"),
        help: "Size of the buffer each connection copies responses through.",
        category: Category::Client,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.proxy_response_buffer_size = copy_buffer(s)?;
            Ok(())
        },
    },
    // Logging.
    Flag {
        name: "log-format",
        value_name: "FORMAT",
        env: "LOG_FORMAT",
        default: Some("text"),
        help: "text: one human-readable line per event; json: one JSON object per line with \
               the keys @timestamp, @level and @message. Logs go to standard error.",
        category: Category::Logging,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.log_format = Some(match s.trim().to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err("expected text or json".into()),
            });
            Ok(())
        },
    },
    Flag {
        name: "log-level",
        value_name: "LEVEL",
        env: "LOG_LEVEL",
        default: Some("info"),
        help: "Least severe level logged: trace, debug, info, warning (or warn), error. fatal \
               and panic are accepted and mean error.",
        category: Category::Logging,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.log_level = Some(value::parse_log_level(s)?);
            Ok(())
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(name: &str) -> &'static Flag<ServerArgs> {
        SERVER_FLAGS.iter().find(|f| f.name == name).unwrap()
    }

    #[test]
    fn table_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for f in SERVER_FLAGS {
            assert!(names.insert(f.name), "--{} listed twice", f.name);
            assert_eq!(
                f.env,
                f.name.to_uppercase().replace('-', "_"),
                "--{}",
                f.name
            );
            assert!(!f.help.is_empty() && f.help.ends_with('.'), "--{}", f.name);
            assert!(!f.help.contains("  "), "--{}: double space in help", f.name);
            match f.kind {
                FlagKind::Switch => {
                    assert!(f.value_name.is_empty(), "--{}", f.name);
                    assert_eq!(f.default, Some("false"), "--{}", f.name);
                }
                FlagKind::Value => assert!(!f.value_name.is_empty(), "--{}", f.name),
                FlagKind::Repeated => {
                    assert!(!f.value_name.is_empty(), "--{}", f.name);
                    assert_eq!(f.default, None, "--{}: repeated flags add up", f.name);
                }
            }
            if let Some(d) = f.default {
                let mut a = ServerArgs::default();
                (f.apply)(&mut a, d).unwrap_or_else(|e| panic!("--{} default: {e}", f.name));
            }
        }
    }

    /// Applies every default, then `values`, and builds the config.
    fn config_with(values: &[(&str, &str)]) -> Result<Config, String> {
        let mut a = ServerArgs::default();
        for f in SERVER_FLAGS {
            if let Some(d) = f.default {
                (f.apply)(&mut a, d).unwrap();
            }
        }
        for (name, v) in values {
            (flag(name).apply)(&mut a, v).map_err(|e| format!("--{name}: {e}"))?;
        }
        a.into_config()
            .map_err(|c| format!("--{}: {}", c.flag, c.reason))
    }

    const BOOT: (&str, &str) = ("bootstrap-server-mapping", "kafka:9092,127.0.0.1:19092");

    #[test]
    fn defaults_match_grepplabs() {
        let c = config_with(&[BOOT]).unwrap();
        assert_eq!(c.default_listener_ip, "127.0.0.1");
        assert!(!c.dynamic_listeners_disable);
        assert_eq!(c.dynamic_advertised_listener, None);
        assert_eq!(c.dynamic_ports, DynamicPorts::Random);
        assert!(c.forbidden_api_keys.is_empty());
        assert!(!c.producer_acks_0_disabled);
        assert_eq!(
            c.kafka,
            KafkaConfig {
                client_id: "kafka-proxy".into(),
                dial_timeout: Duration::from_secs(15),
                read_timeout: Duration::from_secs(30),
                write_timeout: Duration::from_secs(30),
                keep_alive: Duration::from_secs(60),
                max_open_requests: 256,
                read_buffer_size: 0,
                write_buffer_size: 0,
            }
        );
        assert_eq!(
            c.listener,
            ListenerConfig {
                keep_alive: Duration::from_secs(60),
                read_buffer_size: 0,
                write_buffer_size: 0,
                request_buffer_size: 4096,
                response_buffer_size: 4096,
            }
        );
        assert_eq!(c.max_frame_size, 104_857_600);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.log_level, log::LevelFilter::Info);
    }

    #[test]
    fn each_flag_parses() {
        let c = config_with(&[
            BOOT,
            (
                "bootstrap-server-mapping",
                "kafka2:9092,0.0.0.0:19093,proxy:19093",
            ),
            (
                "external-server-mapping",
                "kafka3:9092,lb.example.com:29092",
            ),
            ("dial-address-mapping", "kafka3:9092,10.0.0.3:9092"),
            ("default-listener-ip", "0.0.0.0"),
            ("dynamic-advertised-listener", "b-{{.brokerId}}.example.com"),
            ("dynamic-sequential-min-port", "30000"),
            ("dynamic-sequential-max-ports", "10"),
            ("forbidden-api-keys", "20,21"),
            ("forbidden-api-keys", "22"),
            ("producer-acks-0-disabled", "true"),
            ("kafka-client-id", "me"),
            ("kafka-dial-timeout", "1s"),
            ("kafka-read-timeout", "2s"),
            ("kafka-write-timeout", "3s"),
            ("kafka-keep-alive", "0"),
            ("kafka-max-open-requests", "16"),
            ("kafka-connection-read-buffer-size", "65536"),
            ("kafka-connection-write-buffer-size", "128KiB"),
            ("proxy-listener-keep-alive", "90s"),
            ("proxy-listener-read-buffer-size", "1"),
            ("proxy-listener-write-buffer-size", "2"),
            ("proxy-request-buffer-size", "8192"),
            ("proxy-response-buffer-size", "16KiB"),
            ("max-frame-size", "1MiB"),
            ("log-format", "json"),
            ("log-level", "warning"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_mappings.len(), 2);
        assert_eq!(
            c.bootstrap_mappings[1].advertised.as_ref().unwrap().host,
            "proxy"
        );
        assert_eq!(c.external_mappings[0].advertised.port, 29092);
        assert_eq!(c.dial_mappings[0].dial.host, "10.0.0.3");
        assert_eq!(c.default_listener_ip, "0.0.0.0");
        assert_eq!(
            c.dynamic_advertised_listener.as_deref(),
            Some("b-{{.brokerId}}.example.com")
        );
        assert_eq!(
            c.dynamic_ports,
            DynamicPorts::Sequential {
                min: 30000,
                max_ports: 10
            }
        );
        assert_eq!(c.forbidden_api_keys, vec![20, 21, 22]);
        assert!(c.producer_acks_0_disabled);
        assert_eq!(c.kafka.client_id, "me");
        assert_eq!(c.kafka.dial_timeout, Duration::from_secs(1));
        assert_eq!(c.kafka.read_timeout, Duration::from_secs(2));
        assert_eq!(c.kafka.write_timeout, Duration::from_secs(3));
        assert_eq!(c.kafka.keep_alive, Duration::ZERO);
        assert_eq!(c.kafka.max_open_requests, 16);
        assert_eq!(c.kafka.read_buffer_size, 65536);
        assert_eq!(c.kafka.write_buffer_size, 131072);
        assert_eq!(c.listener.keep_alive, Duration::from_secs(90));
        assert_eq!(c.listener.read_buffer_size, 1);
        assert_eq!(c.listener.write_buffer_size, 2);
        assert_eq!(c.listener.request_buffer_size, 8192);
        assert_eq!(c.listener.response_buffer_size, 16384);
        assert_eq!(c.max_frame_size, 1 << 20);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.log_level, log::LevelFilter::Warn);

        let c = config_with(&[BOOT, ("dynamic-listeners-disable", "true")]).unwrap();
        assert!(c.dynamic_listeners_disable);
    }

    #[test]
    fn bad_values_per_flag() {
        let cases = [
            ("bootstrap-server-mapping", "kafka:9092"),
            ("external-server-mapping", "kafka:9092"),
            ("dial-address-mapping", "kafka:9092,x"),
            ("default-listener-ip", "localhost"),
            ("dynamic-listeners-disable", "maybe"),
            ("dynamic-advertised-listener", "{{.nope}}"),
            ("dynamic-sequential-min-port", "65536"),
            ("dynamic-sequential-max-ports", "-1"),
            ("deterministic-listeners", "2"),
            ("forbidden-api-keys", "x"),
            ("producer-acks-0-disabled", "yesno"),
            ("kafka-client-id", ""),
            ("kafka-dial-timeout", "abc"),
            ("kafka-read-timeout", "-1s"),
            ("kafka-write-timeout", "30"),
            ("kafka-keep-alive", "1d"),
            ("kafka-max-open-requests", "0"),
            ("kafka-connection-read-buffer-size", "-1"),
            ("kafka-connection-write-buffer-size", "3GiB"),
            ("proxy-listener-keep-alive", "x"),
            ("proxy-listener-read-buffer-size", "lots"),
            ("proxy-listener-write-buffer-size", "1.5KiB"),
            ("proxy-request-buffer-size", "0"),
            ("proxy-response-buffer-size", "0"),
            ("max-frame-size", "0"),
            ("log-format", "xml"),
            ("log-level", "loud"),
        ];
        for (name, bad) in cases {
            let mut a = ServerArgs::default();
            let r = (flag(name).apply)(&mut a, bad);
            // An empty client id is allowed (Kafka's client_id is nullable/empty).
            if name == "kafka-client-id" {
                assert!(r.is_ok());
            } else {
                assert!(r.is_err(), "--{name} accepted {bad:?}");
            }
        }
        let covered: std::collections::HashSet<&str> = cases.iter().map(|(n, _)| *n).collect();
        for f in SERVER_FLAGS {
            assert!(covered.contains(f.name), "add --{} to this test", f.name);
        }
    }

    #[test]
    fn required_bootstrap_mapping() {
        let err = config_with(&[]).unwrap_err();
        assert_eq!(err, "--bootstrap-server-mapping: at least one is required");
    }

    #[test]
    fn dynamic_port_modes() {
        let ports = |v: &[(&str, &str)]| {
            let mut all = vec![BOOT];
            all.extend_from_slice(v);
            config_with(&all).map(|c| c.dynamic_ports)
        };
        assert_eq!(ports(&[]), Ok(DynamicPorts::Random));
        assert_eq!(
            ports(&[("dynamic-sequential-min-port", "30000")]),
            Ok(DynamicPorts::Sequential {
                min: 30000,
                max_ports: 35536
            })
        );
        assert_eq!(
            ports(&[("dynamic-sequential-min-port", "1")]),
            Ok(DynamicPorts::Sequential {
                min: 1,
                max_ports: 65535
            })
        );
        assert_eq!(
            ports(&[
                ("dynamic-sequential-min-port", "65535"),
                ("dynamic-sequential-max-ports", "1")
            ]),
            Ok(DynamicPorts::Sequential {
                min: 65535,
                max_ports: 1
            })
        );
        assert_eq!(
            ports(&[
                ("dynamic-sequential-min-port", "30000"),
                ("deterministic-listeners", "true")
            ]),
            Ok(DynamicPorts::Deterministic { min: 30000 })
        );
        let err = ports(&[("deterministic-listeners", "true")]).unwrap_err();
        assert!(err.starts_with("--deterministic-listeners: needs --dynamic-sequential-min-port"));
        let err = ports(&[("dynamic-sequential-max-ports", "5")]).unwrap_err();
        assert!(err.starts_with("--dynamic-sequential-max-ports: needs"));
        let err = ports(&[
            ("dynamic-sequential-min-port", "65000"),
            ("dynamic-sequential-max-ports", "1000"),
        ])
        .unwrap_err();
        assert!(err.contains("past port 65535"), "{err}");
        assert!(ports(&[
            ("dynamic-sequential-min-port", "30000"),
            ("dynamic-sequential-max-ports", "5"),
            ("deterministic-listeners", "true")
        ])
        .is_err());
        // With dynamic listeners off, like grepplabs, the port flags are not checked.
        assert_eq!(
            ports(&[
                ("dynamic-listeners-disable", "true"),
                ("deterministic-listeners", "true")
            ]),
            Ok(DynamicPorts::Random)
        );
    }
}
