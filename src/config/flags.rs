//! The flag table: one entry per flag, holding everything the program knows about it (name,
//! value name, environment variable, default, help, category, kind, and the function that
//! stores a value). The parser, `--help` and the man page are all driven from these tables;
//! nothing else lists flags.
//!
//! Flags store into a command's argument struct one value at a time, checking only that value.
//! For `server` that is [`ServerArgs`]: mostly the [`Config`] itself, so a setting is declared
//! by its table entry and its field of `Config`, nothing else. Checks across flags come after,
//! in [`ServerArgs::finish`] (`finish.rs`).

use std::path::PathBuf;
use std::time::Duration;

use super::value::{self, Reason};
use super::{
    gssapi, BrokerTlsConfig, Config, CredentialsPluginConfig, DynamicPorts, GatewayConfig,
    HostPort, HttpConfig, JsonFields, KafkaConfig, LimitsConfig, ListenerConfig, ListenerTlsConfig,
    LogFormat, PluginAuthConfig, SaslConfig, SaslMethod, SaslPluginConfig, SaslPluginMechanism,
    Secret,
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
    /// `--flag A,B`, as many times as needed; the items add up. The environment variable
    /// holds one list, passed whole (so items may contain spaces).
    List,
}

/// Groups flags under a heading in `--help` and the man page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Listeners,
    Kafka,
    BrokerTls,
    Sasl,
    Client,
    ListenerTls,
    LocalAuth,
    Gateway,
    Limits,
    Http,
    Logging,
}

impl Category {
    pub const ALL: &'static [Category] = &[
        Category::Listeners,
        Category::Kafka,
        Category::BrokerTls,
        Category::Sasl,
        Category::Client,
        Category::ListenerTls,
        Category::LocalAuth,
        Category::Gateway,
        Category::Limits,
        Category::Http,
        Category::Logging,
    ];

    /// The heading, as printed.
    pub fn heading(self) -> &'static str {
        match self {
            Category::Listeners => "Listeners and address mapping",
            Category::Kafka => "Connections to brokers",
            Category::BrokerTls => "TLS to brokers",
            Category::Sasl => "SASL authentication to brokers",
            Category::Client => "Connections from clients",
            Category::ListenerTls => "TLS on client listeners",
            Category::LocalAuth => "Authentication of clients",
            Category::Gateway => "Gateway authentication between proxies",
            Category::Limits => "Limits and shutdown",
            Category::Http => "HTTP endpoints",
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

/// Limits `--max-client-connections`. A busy client connection costs two threads and two
/// sockets, so even this is far more than one host can serve; it only has to be bounded.
pub const MAX_CLIENT_CONNECTIONS: u64 = 1_000_000;

/// Limits `--auth-failure-delay`: longer would lock an address out, not slow it down (an
/// attempt that would wait past its handshake deadline is refused without a check).
pub const MAX_AUTH_FAILURE_DELAY: Duration = Duration::from_secs(60);

/// Flags whose values are secrets. An invalid value of one of them is never shown in an error
/// (see [`shown_value`]).
pub const SECRET_FLAGS: &[&str] = &[
    "tls-client-key-password",
    "proxy-listener-key-password",
    "sasl-password",
    "gssapi-password",
    "forward-proxy",
];

/// The value of `flag` as an error message may show it: secrets hidden, and the password in
/// a `--forward-proxy` URL replaced by `***`.
pub fn shown_value(flag: &str, value: &str) -> String {
    match flag {
        "forward-proxy" => value::redact_url(value),
        f if SECRET_FLAGS.contains(&f) => "***".into(),
        _ => value.to_string(),
    }
}

/// What the flags of `server` store into, one value at a time (each checked on its own): the
/// [`Config`] itself, for every setting that a flag sets whole, and [`Pending`] for those that
/// mean something only together with other flags. [`ServerArgs::finish`] checks the flags
/// against each other and completes the config; no other place lists the settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerArgs {
    /// Complete but for the fields [`ServerArgs::finish`] fills in from `pending`:
    /// `dynamic_ports`, `tls`, `listener_tls`, `sasl`, `auth_local`, `auth_gateway_client` and
    /// `auth_gateway_server`.
    pub config: Config,
    pub pending: Pending,
}

/// The settings a flag stores before they can go into the [`Config`]: sections that exist only
/// when switched on (held whole, with their switch, in the type the config takes them in) and
/// the parts of the dynamic port mode. Text, path and secret fields that are empty are not set,
/// as in grepplabs.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub dynamic_sequential_min_port: u16,
    pub dynamic_sequential_max_ports: u16,
    pub deterministic_listeners: bool,
    pub tls_enable: bool,
    pub tls: BrokerTlsConfig,
    pub listener_tls_enable: bool,
    /// The cipher suites and curves as given, in order, duplicates included.
    pub listener_tls: ListenerTlsConfig,
    pub sasl_enable: bool,
    /// The username and password of the flags; a JAAS file replaces them.
    pub sasl: SaslConfig,
    pub sasl_plugin_enable: bool,
    pub sasl_plugin: SaslPluginConfig,
    pub sasl_credentials_file: Option<PathBuf>,
    pub sasl_credentials_plugin: CredentialsPluginConfig,
    pub auth_local_enable: bool,
    pub auth_local: PluginAuthConfig,
    pub auth_gateway_client_enable: bool,
    pub auth_gateway_client: GatewayConfig,
    pub auth_gateway_server_enable: bool,
    pub auth_gateway_server: GatewayConfig,
    /// `--sni-*`, checked together and moved into `Config::sni` by `finish`.
    pub sni_listen: Option<HostPort>,
    pub sni_bootstrap_host: Option<String>,
    pub sni_pattern: Option<crate::proxy::sni::SniPattern>,
    pub sni_advertised_port: Option<u16>,
}

impl Default for ServerArgs {
    /// Every setting empty, zero or off, before any flag (or its default) is applied. Where the
    /// config needs a value that no flag gave (only when defaults are skipped, as some tests
    /// do), it is the flag's default.
    fn default() -> ServerArgs {
        let any = |port| HostPort {
            host: "0.0.0.0".into(),
            port,
        };
        let gateway = GatewayConfig {
            command: String::new(),
            params: Vec::new(),
            log_level: log::LevelFilter::Trace,
            timeout: Duration::ZERO,
            method: String::new(),
            magic: 0,
        };
        ServerArgs {
            config: Config {
                bootstrap_mappings: Vec::new(),
                external_mappings: Vec::new(),
                dial_mappings: Vec::new(),
                default_listener_ip: String::new(),
                dynamic_listeners_disable: false,
                dynamic_advertised_listener: None,
                dynamic_ports: DynamicPorts::Random,
                forbidden_api_keys: Vec::new(),
                producer_acks_0_disabled: false,
                kafka: KafkaConfig {
                    client_id: String::new(),
                    dial_timeout: Duration::ZERO,
                    read_timeout: Duration::ZERO,
                    write_timeout: Duration::ZERO,
                    keep_alive: Duration::ZERO,
                    max_open_requests: 0,
                    read_buffer_size: 0,
                    write_buffer_size: 0,
                },
                listener: ListenerConfig {
                    keep_alive: Duration::ZERO,
                    read_buffer_size: 0,
                    write_buffer_size: 0,
                    request_buffer_size: 0,
                    splice_threshold: 0,
                    response_buffer_size: 0,
                    proxy_protocol: crate::net::proxy_protocol::Mode::Off,
                    proxy_protocol_trusted: Vec::new(),
                },
                max_frame_size: 0,
                log_format: LogFormat::Text,
                log_json_fields: JsonFields::default(),
                log_level: log::LevelFilter::Info,
                tls: None,
                listener_tls: None,
                sni: None,
                sasl: None,
                sasl_plugin: None,
                sasl_credentials: None,
                auth_local: None,
                auth_gateway_client: None,
                auth_gateway_server: None,
                forward_proxy: None,
                http: HttpConfig {
                    disable: false,
                    listen_address: any(9080),
                    health_path: "/health".into(),
                    metrics_path: "/metrics".into(),
                    debug_enable: false,
                    debug_listen_address: any(6060),
                },
                graceful_shutdown_timeout: Duration::ZERO,
                check: false,
                limits: LimitsConfig {
                    max_client_connections: 0,
                    client_idle_timeout: Duration::ZERO,
                    handshake_timeout: Duration::ZERO,
                    auth_failure_delay: Duration::ZERO,
                    max_unauthenticated_per_address: 0,
                },
            },
            pending: Pending {
                dynamic_sequential_min_port: 0,
                dynamic_sequential_max_ports: 0,
                deterministic_listeners: false,
                tls_enable: false,
                tls: BrokerTlsConfig {
                    ca_chain_cert_file: None,
                    system_cert_pool: false,
                    client_cert_file: None,
                    client_key_file: None,
                    client_key_password: None,
                    insecure_skip_verify: false,
                    same_client_cert_enable: false,
                    refresh: Duration::ZERO,
                },
                listener_tls_enable: false,
                listener_tls: ListenerTlsConfig {
                    cert_file: PathBuf::new(),
                    key_file: PathBuf::new(),
                    key_password: None,
                    ca_chain_cert_file: None,
                    crl_file: None,
                    cipher_suites: Vec::new(),
                    curve_preferences: Vec::new(),
                    required_client_subjects: Vec::new(),
                    refresh: Duration::ZERO,
                },
                sasl_enable: false,
                sasl: SaslConfig {
                    method: SaslMethod::Plain,
                    username: String::new(),
                    password: Secret::default(),
                    jaas_config_file: None,
                    aws: Default::default(),
                    gssapi: Default::default(),
                    mapped_from: None,
                },
                sasl_plugin_enable: false,
                sasl_plugin: SaslPluginConfig {
                    command: String::new(),
                    params: Vec::new(),
                    log_level: log::LevelFilter::Trace,
                    timeout: Duration::ZERO,
                    mechanism: SaslPluginMechanism::OAuthBearer,
                },
                sasl_credentials_file: None,
                sasl_credentials_plugin: CredentialsPluginConfig {
                    command: String::new(),
                    params: Vec::new(),
                    log_level: log::LevelFilter::Trace,
                    timeout: Duration::ZERO,
                },
                auth_local_enable: false,
                auth_local: PluginAuthConfig {
                    command: String::new(),
                    params: Vec::new(),
                    log_level: log::LevelFilter::Trace,
                    timeout: Duration::ZERO,
                    mechanisms: vec!["PLAIN".into()],
                    token_command: String::new(),
                    token_params: Vec::new(),
                },
                auth_gateway_client_enable: false,
                auth_gateway_client: gateway.clone(),
                auth_gateway_server_enable: false,
                auth_gateway_server: gateway,
                sni_listen: None,
                sni_bootstrap_host: None,
                sni_pattern: None,
                sni_advertised_port: None,
            },
        }
    }
}

/// Why a set of individually valid flags cannot run together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The flag the user should look at first.
    pub flag: &'static str,
    pub reason: String,
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

/// A duration that must not be zero.
fn positive_duration(s: &str) -> Result<Duration, Reason> {
    match duration(s)? {
        d if d.is_zero() => Err("must be greater than 0".into()),
        d => Ok(d),
    }
}

/// A file path; empty means not set (as in grepplabs).
fn path(s: &str) -> Option<PathBuf> {
    (!s.is_empty()).then(|| PathBuf::from(s))
}

/// A secret; empty means not set.
fn secret(s: &str) -> Option<Secret> {
    (!s.is_empty()).then(|| Secret(s.to_string()))
}

/// `--auth-local-mechanism(s)`: the mechanisms grepplabs knows; `finish` refuses SCRAM
/// when local authentication is on.
fn mechanism(s: &str) -> Result<String, Reason> {
    let m = s.trim().to_ascii_uppercase();
    match m.as_str() {
        "PLAIN" | "SCRAM" | "OAUTHBEARER" => Ok(m),
        _ => Err("expected PLAIN or OAUTHBEARER".into()),
    }
}

/// `--auth-local-mechanisms`: a comma-separated list of [`mechanism`]s, each once.
fn mechanisms(s: &str) -> Result<Vec<String>, Reason> {
    let mut list: Vec<String> = Vec::new();
    for item in s.split(',').filter(|i| !i.trim().is_empty()) {
        let m = mechanism(item)?;
        if list.contains(&m) {
            return Err(format!("{m} is listed twice"));
        }
        list.push(m);
    }
    if list.is_empty() {
        return Err("expected PLAIN, OAUTHBEARER or both".into());
    }
    Ok(list)
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
            a.config
                .bootstrap_mappings
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
            a.config
                .external_mappings
                .push(value::parse_external_mapping(s)?);
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
            a.config.dial_mappings.push(value::parse_dial_mapping(s)?);
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
            a.config.default_listener_ip = ip.to_string();
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
            a.config.dynamic_listeners_disable = value::parse_bool(s)?;
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
            a.config.dynamic_advertised_listener = Some(value::parse_advertised_listener(s)?);
            Ok(())
        },
    },
    Flag {
        name: "sni-listen-address",
        value_name: "HOST:PORT",
        env: "SNI_LISTEN_ADDRESS",
        default: None,
        help: "One TLS listener for the bootstrap and every broker, routed by the server name \
               (SNI) of the client's TLS ClientHello: --sni-bootstrap-host reaches a bootstrap \
               broker, and every broker is advertised to clients of this listener as \
               --sni-broker-host-pattern with its node id, on --sni-advertised-port. Brokers \
               found later need no new listener. Needs --proxy-listener-tls-enable with a \
               certificate covering those names (a wildcard or SAN certificate). An unknown or \
               missing server name is refused with a TLS unrecognized_name alert. The per-broker \
               listeners keep working beside it, advertising their own addresses.",
        category: Category::Listeners,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sni_listen = Some(value::parse_host_port(s, value::PortZero::Allowed)?);
            Ok(())
        },
    },
    Flag {
        name: "sni-bootstrap-host",
        value_name: "NAME",
        env: "SNI_BOOTSTRAP_HOST",
        default: None,
        help: "With --sni-listen-address: the server name that reaches the bootstrap brokers \
               (those of --bootstrap-server-mapping, in turn), e.g. bootstrap.kafka.example.com.",
        category: Category::Listeners,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            crate::proxy::sni::check_dns_name(s)?;
            a.pending.sni_bootstrap_host = Some(s.to_ascii_lowercase());
            Ok(())
        },
    },
    Flag {
        name: "sni-broker-host-pattern",
        value_name: "PATTERN",
        env: "SNI_BROKER_HOST_PATTERN",
        default: None,
        help: "With --sni-listen-address: how each broker is advertised, a DNS name with \
               {{.brokerId}} in place of the node id, e.g. broker-{{.brokerId}}.kafka.example.com. \
               A client asking for that name with node N reaches the broker the latest metadata \
               named for node N.",
        category: Category::Listeners,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sni_pattern = Some(crate::proxy::sni::SniPattern::parse(s)?);
            Ok(())
        },
    },
    Flag {
        name: "sni-advertised-port",
        value_name: "PORT",
        env: "SNI_ADVERTISED_PORT",
        default: None,
        help: "With --sni-listen-address: the port advertised with the broker names (when a \
               load balancer in front listens on another); default: the port of \
               --sni-listen-address.",
        category: Category::Listeners,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sni_advertised_port = Some(value::parse_port(s, value::PortZero::Rejected)?);
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
            a.pending.dynamic_sequential_min_port = port(s)?;
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
            a.pending.dynamic_sequential_max_ports = port(s)?;
            Ok(())
        },
    },
    Flag {
        name: "deterministic-listeners",
        value_name: "",
        env: "DETERMINISTIC_LISTENERS",
        default: FALSE,
        help: "Gives each dynamic listener the port --dynamic-sequential-min-port plus the \
               broker's node id, so a broker keeps its port across restarts of the proxy; the \
               listeners are bound at startup, before the proxy reports ready, from the first \
               bootstrap broker's metadata (so a new process of an upgrade listens on every port \
               the old one advertised; a broker it cannot reach only delays this to the first \
               client). Needs --dynamic-sequential-min-port.",
        category: Category::Listeners,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.deterministic_listeners = value::parse_bool(s)?;
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
            a.config.kafka.client_id = s.to_string();
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
            a.config.kafka.dial_timeout = duration(s)?;
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
            a.config.kafka.read_timeout = duration(s)?;
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
            a.config.kafka.write_timeout = duration(s)?;
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
            a.config.kafka.keep_alive = duration(s)?;
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
            a.config.kafka.max_open_requests = n as usize;
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
            a.config.kafka.read_buffer_size = socket_buffer(s)?;
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
            a.config.kafka.write_buffer_size = socket_buffer(s)?;
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
            a.config
                .forbidden_api_keys
                .extend(value::parse_api_keys(s)?);
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
            a.config.producer_acks_0_disabled = value::parse_bool(s)?;
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
            a.config.max_frame_size = value::parse_size_in(s, 1, MAX_I32)?;
            Ok(())
        },
    },
    Flag {
        name: "forward-proxy",
        value_name: "URL",
        env: "FORWARD_PROXY",
        default: None,
        help: "Connects to brokers through a forward proxy: socks5://host:port (SOCKS5), \
               http://host:port or https://host:port (HTTP CONNECT; https talks TLS to the \
               proxy). Credentials go before the host, percent-encoded: \
               socks5://user:password@host:port. Set the URL through the environment variable to \
               keep the password out of process listings; error messages never show it. The \
               broker's host name is sent to the proxy unresolved, and the whole negotiation \
               counts against --kafka-dial-timeout. An https proxy's certificate is checked \
               against Mozilla's roots and the system CA bundle (the file named by \
               SSL_CERT_FILE, else /etc/ssl/certs/ca-certificates.crt); TLS to brokers cannot \
               run inside it (use socks5 or http with --tls-enable).",
        category: Category::Kafka,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.forward_proxy = if s.is_empty() {
                None
            } else {
                Some(value::parse_forward_proxy(s)?)
            };
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
            a.config.listener.keep_alive = duration(s)?;
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
            a.config.listener.read_buffer_size = socket_buffer(s)?;
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
            a.config.listener.write_buffer_size = socket_buffer(s)?;
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
            a.config.listener.request_buffer_size = copy_buffer(s)?;
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
            a.config.listener.response_buffer_size = copy_buffer(s)?;
            Ok(())
        },
    },
    Flag {
        name: "proxy-splice-threshold",
        value_name: "BYTES",
        env: "PROXY_SPLICE_THRESHOLD",
        default: Some("65536"),
        help: "Request and response bodies at least this large are moved between plaintext \
               client and broker sockets with splice(2), without a copy through the proxy; \
               0 always copies. TLS connections always copy.",
        category: Category::Client,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.listener.splice_threshold = value::parse_size_in(s, 0, MAX_I32)?;
            Ok(())
        },
    },
    Flag {
        name: "proxy-protocol",
        value_name: "off|v1|v2|any",
        env: "PROXY_PROTOCOL",
        default: Some("off"),
        help: "Expect a PROXY protocol header (HAProxy's, version 1 text or version 2 binary; \
               any: either) at the start of every client connection, as an L4 load balancer \
               with send-proxy or send-proxy-v2 sends it: the address it names is then the \
               client's in logs, the debug endpoint and the per-address limits. A connection \
               without a valid header within --handshake-timeout is closed with a log line; a \
               version 2 LOCAL header (a balancer's health check) keeps the socket's address.",
        category: Category::Client,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.listener.proxy_protocol = crate::net::proxy_protocol::Mode::parse(s)?;
            Ok(())
        },
    },
    Flag {
        name: "proxy-protocol-trusted-cidr",
        value_name: "CIDR",
        env: "PROXY_PROTOCOL_TRUSTED_CIDR",
        default: None,
        help: "With --proxy-protocol: only peers in this address block (a.b.c.d/n, x::y/n, or \
               one address) may send a PROXY protocol header; a connection from any other peer \
               is closed with a log line. Repeatable; none given: any peer.",
        category: Category::Client,
        kind: FlagKind::Repeated,
        required: false,
        apply: |a, s| {
            let cidr = crate::net::proxy_protocol::Cidr::parse(s)?;
            a.config.listener.proxy_protocol_trusted.push(cidr);
            Ok(())
        },
    },
    // TLS to brokers.
    Flag {
        name: "tls-enable",
        value_name: "",
        env: "TLS_ENABLE",
        default: FALSE,
        help: "Connects to brokers over TLS. The other --tls-* flags take effect only with \
               this one (except --tls-same-client-cert-enable).",
        category: Category::BrokerTls,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.tls_enable = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "tls-refresh",
        value_name: "DURATION",
        env: "TLS_REFRESH",
        default: Some("0"),
        help: "How often to check the certificate, key and CA files of the --tls-* flags for \
               changes and reload them; 0 never reloads.",
        category: Category::BrokerTls,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.tls.refresh = duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "tls-insecure-skip-verify",
        value_name: "",
        env: "TLS_INSECURE_SKIP_VERIFY",
        default: FALSE,
        help: "Does not verify the certificates and host names of brokers. For testing only: \
               anyone between the proxy and the brokers can then read and change the traffic.",
        category: Category::BrokerTls,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.tls.insecure_skip_verify = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "tls-client-cert-file",
        value_name: "FILE",
        env: "TLS_CLIENT_CERT_FILE",
        default: None,
        help: "PEM file with the client certificate (and its intermediates) that the proxy \
               presents to brokers, for mutual TLS. Needs --tls-client-key-file.",
        category: Category::BrokerTls,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.tls.client_cert_file = path(s);
            Ok(())
        },
    },
    Flag {
        name: "tls-client-key-file",
        value_name: "FILE",
        env: "TLS_CLIENT_KEY_FILE",
        default: None,
        help: "PEM file with the private key of --tls-client-cert-file. Needs \
               --tls-client-cert-file.",
        category: Category::BrokerTls,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.tls.client_key_file = path(s);
            Ok(())
        },
    },
    Flag {
        name: "tls-client-key-password",
        value_name: "PASSWORD",
        env: "TLS_CLIENT_KEY_PASSWORD",
        default: None,
        help: "Password of an encrypted --tls-client-key-file. Prefer the environment \
               variable: it keeps the password out of process listings.",
        category: Category::BrokerTls,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.tls.client_key_password = secret(s);
            Ok(())
        },
    },
    Flag {
        name: "tls-ca-chain-cert-file",
        value_name: "FILE",
        env: "TLS_CA_CHAIN_CERT_FILE",
        default: None,
        help: "PEM file with the CA certificates that brokers' certificates are verified \
               against. Without it and without --tls-system-cert-pool, the built-in Mozilla \
               root certificates are trusted.",
        category: Category::BrokerTls,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.tls.ca_chain_cert_file = path(s);
            Ok(())
        },
    },
    Flag {
        name: "tls-system-cert-pool",
        value_name: "",
        env: "TLS_SYSTEM_CERT_POOL",
        default: FALSE,
        help: "Trusts the CA certificates of the operating system as well when verifying \
               brokers.",
        category: Category::BrokerTls,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.tls.system_cert_pool = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "tls-same-client-cert-enable",
        value_name: "",
        env: "TLS_SAME_CLIENT_CERT_ENABLE",
        default: FALSE,
        help: "Accepts a client only if the certificate it presents to the proxy is the \
               proxy's own --tls-client-cert-file, so the proxy's identity at the brokers is \
               not lent to other clients. Needs --tls-enable, --tls-client-cert-file, \
               --proxy-listener-tls-enable and --proxy-listener-ca-chain-cert-file.",
        category: Category::BrokerTls,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.tls.same_client_cert_enable = value::parse_bool(s)?;
            Ok(())
        },
    },
    // SASL authentication to brokers.
    Flag {
        name: "sasl-enable",
        value_name: "",
        env: "SASL_ENABLE",
        default: FALSE,
        help: "Logs in to brokers with SASL on every connection, on behalf of the clients. \
               Needs --sasl-username and --sasl-password, or --sasl-jaas-config-file; the \
               other --sasl-* flags take effect only with this one. Clients connect without \
               SASL; a client that still sends its own SASL/PLAIN (or OAUTHBEARER) login is \
               answered by the proxy as authenticated, its credentials ignored and never \
               forwarded, while other mechanisms (SCRAM) are refused and the connection \
               closed. A session lifetime the broker sets (KIP-368) is renewed by \
               re-authenticating before it expires, between requests.",
        category: Category::Sasl,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.sasl_enable = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "sasl-method",
        value_name: "METHOD",
        env: "SASL_METHOD",
        default: Some("PLAIN"),
        help: "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI (Kerberos V5 with \
               the proxy's own client, set up by the --gssapi-* flags: AES-CTS-HMAC-SHA1 \
               enctypes, a keytab or a password, KDCs over TCP) or AWS_MSK_IAM (AWS credentials and a SigV4-signed payload; see \
               --sasl-aws-region).",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.method = value::parse_sasl_method(s)?;
            Ok(())
        },
    },
    Flag {
        name: "sasl-username",
        value_name: "USER",
        env: "SASL_USERNAME",
        default: None,
        help: "User name the proxy logs in with.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.username = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "sasl-password",
        value_name: "PASSWORD",
        env: "SASL_PASSWORD",
        default: None,
        help: "Password the proxy logs in with. Prefer the environment variable: it keeps \
               the password out of process listings.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.password = Secret(s.to_string());
            Ok(())
        },
    },
    Flag {
        name: "sasl-jaas-config-file",
        value_name: "FILE",
        env: "SASL_JAAS_CONFIG_FILE",
        default: None,
        help: "Takes the user name and password from a Kafka JAAS file instead of \
               --sasl-username and --sasl-password (which it overrides, as in grepplabs): \
               either a sasl.jaas.config value or a file with a KafkaClient section, with \
               Kafka's PlainLoginModule or ScramLoginModule. The module must fit \
               --sasl-method: PlainLoginModule needs PLAIN, ScramLoginModule SCRAM-SHA-256 or \
               SCRAM-SHA-512. The file is read at startup.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.jaas_config_file = path(s);
            Ok(())
        },
    },
    Flag {
        name: "sasl-aws-region",
        value_name: "REGION",
        env: "SASL_AWS_REGION",
        default: None,
        help: "Region for AWS IAM Auth (--sasl-method AWS_MSK_IAM); default AWS_REGION, \
               AWS_DEFAULT_REGION or the profile's region. A region is required.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.aws.region = s.trim().to_string();
            Ok(())
        },
    },
    Flag {
        name: "sasl-aws-profile",
        value_name: "PROFILE",
        env: "SASL_AWS_PROFILE",
        default: None,
        help: "AWS profile of the shared config and credentials files (~/.aws/credentials, \
               ~/.aws/config); default AWS_PROFILE, else default. Credentials are looked for \
               as AWS SDKs do: environment variables, the profile, web identity \
               (AWS_WEB_IDENTITY_TOKEN_FILE), the EC2 instance metadata service.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.aws.profile = s.trim().to_string();
            Ok(())
        },
    },
    Flag {
        name: "sasl-aws-role-arn",
        value_name: "ARN",
        env: "SASL_AWS_ROLE_ARN",
        default: None,
        help: "AWS Role ARN to assume (STS AssumeRole) with the base credentials; the \
               temporary credentials are renewed before they expire.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.aws.role_arn = s.trim().to_string();
            Ok(())
        },
    },
    Flag {
        name: "sasl-aws-identity-lookup",
        value_name: "",
        env: "SASL_AWS_IDENTITY_LOOKUP",
        default: FALSE,
        help: "Verify AWS authentication identity: STS GetCallerIdentity checks the \
               credentials when they are first obtained, and its ARN is logged.",
        category: Category::Sasl,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.sasl.aws.identity_lookup = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "sasl-plugin-enable",
        value_name: "",
        env: "SASL_PLUGIN_ENABLE",
        default: FALSE,
        help: "Takes the credentials of the SASL login to brokers from a token-provider plugin \
               (--sasl-plugin-command) instead of --sasl-username and --sasl-password (or \
               --sasl-jaas-config-file), which are then ignored, as is --sasl-method: the \
               mechanism is --sasl-plugin-mechanism. Needs --sasl-enable and \
               --sasl-plugin-command. The proxy asks the plugin (get-token) before a login and \
               reuses the answer for half its lifetime (expires_at), so a fresh token is at hand \
               when a broker session set by connections.max.reauth.ms or by the token's expiry \
               is re-authenticated (KIP-368).",
        category: Category::Sasl,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.sasl_plugin_enable = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "sasl-plugin-command",
        value_name: "COMMAND",
        env: "SASL_PLUGIN_COMMAND",
        default: None,
        help: "The token-provider plugin of --sasl-plugin-enable: the path of a program, or the \
               name of a built-in plugin (unsecured-jwt-provider, oidc-provider).",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl_plugin.command = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "sasl-plugin-mechanism",
        value_name: "MECHANISM",
        env: "SASL_PLUGIN_MECHANISM",
        default: Some("OAUTHBEARER"),
        help: "SASL mechanism of the plugin's credentials: OAUTHBEARER (the plugin's token is \
               sent as the bearer token) or PLAIN (the plugin's reply names the user in \
               identity and carries the password in token).",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl_plugin.mechanism = match s.trim().to_ascii_uppercase().as_str() {
                "OAUTHBEARER" => SaslPluginMechanism::OAuthBearer,
                "PLAIN" => SaslPluginMechanism::Plain,
                _ => return Err("expected PLAIN or OAUTHBEARER".into()),
            };
            Ok(())
        },
    },
    Flag {
        name: "sasl-plugin-param",
        value_name: "ARG",
        env: "SASL_PLUGIN_PARAM",
        default: None,
        help: "An argument for the token-provider plugin; give the flag once per argument. \
               Arguments show in process listings, even when set through the environment: \
               give secrets in files (see PLUGINS).",
        category: Category::Sasl,
        kind: FlagKind::Repeated,
        required: false,
        apply: |a, s| {
            a.pending.sasl_plugin.params.push(s.to_string());
            Ok(())
        },
    },
    Flag {
        name: "sasl-plugin-log-level",
        value_name: "LEVEL",
        env: "SASL_PLUGIN_LOG_LEVEL",
        default: Some("trace"),
        help: "Least severe level of the token provider's own messages that are logged: \
               trace, debug, info, warning, error or off.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl_plugin.log_level = value::parse_plugin_log_level(s)?;
            Ok(())
        },
    },
    Flag {
        name: "sasl-plugin-timeout",
        value_name: "DURATION",
        env: "SASL_PLUGIN_TIMEOUT",
        default: Some("10s"),
        help: "How long the token provider may take to answer get-token.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl_plugin.timeout = positive_duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "sasl-credentials-file",
        value_name: "PATH",
        env: "SASL_CREDENTIALS_FILE",
        default: None,
        help: "Each authenticated client logs in to the brokers as itself: this file maps the \
               client's principal (its --auth-local-enable user, or else its client \
               certificate's subject as /CN=name/O=org) to upstream credentials, one line per \
               principal: PRINCIPAL MECHANISM USER SECRET, where MECHANISM is PLAIN, \
               SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (USER is then -, SECRET the token) \
               and SECRET is the password or file:PATH of a file holding it. A principal with \
               spaces is written in double quotes; # starts a comment. The file is read again \
               when it changes, for the next login; a broken file keeps the previous mapping. A \
               client without a mapping is refused; there is no fallback to --sasl-username. \
               Needs --sasl-enable, and --auth-local-enable or client certificates \
               (--proxy-listener-ca-chain-cert-file); --sasl-method and --sasl-username are \
               then not used.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl_credentials_file = path(s);
            Ok(())
        },
    },
    Flag {
        name: "sasl-credentials-plugin-command",
        value_name: "COMMAND",
        env: "SASL_CREDENTIALS_PLUGIN_COMMAND",
        default: None,
        help: "Like --sasl-credentials-file, with the credentials from a plugin (a path): \
               asked get-credentials with the client's principal for each login, it answers \
               mechanism, username and password (see PLUGINS), so a vault can be the source.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl_credentials_plugin.command = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "sasl-credentials-plugin-param",
        value_name: "ARG",
        env: "SASL_CREDENTIALS_PLUGIN_PARAM",
        default: None,
        help: "An argument for the credentials plugin; give the flag once per argument.",
        category: Category::Sasl,
        kind: FlagKind::Repeated,
        required: false,
        apply: |a, s| {
            a.pending.sasl_credentials_plugin.params.push(s.to_string());
            Ok(())
        },
    },
    Flag {
        name: "sasl-credentials-plugin-log-level",
        value_name: "LEVEL",
        env: "SASL_CREDENTIALS_PLUGIN_LOG_LEVEL",
        default: Some("trace"),
        help: "Least severe level of the credentials plugin's own messages that are logged: \
               trace, debug, info, warning, error or off.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl_credentials_plugin.log_level = value::parse_plugin_log_level(s)?;
            Ok(())
        },
    },
    Flag {
        name: "sasl-credentials-plugin-timeout",
        value_name: "DURATION",
        env: "SASL_CREDENTIALS_PLUGIN_TIMEOUT",
        default: Some("10s"),
        help: "How long the credentials plugin may take to answer get-credentials.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl_credentials_plugin.timeout = positive_duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "gssapi-auth-type",
        value_name: "TYPE",
        env: "GSSAPI_AUTH_TYPE",
        default: Some("KEYTAB"),
        help: "GSSAPI auth type: KEYTAB (the key of --gssapi-keytab) or USER \
               (--gssapi-password).",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.gssapi.auth_type = gssapi::parse_auth_type(s)?;
            Ok(())
        },
    },
    Flag {
        name: "gssapi-keytab",
        value_name: "FILE",
        env: "GSSAPI_KEYTAB",
        default: None,
        help: "krb5.keytab file location: holds the key of --gssapi-username in \
               --gssapi-realm, for --gssapi-auth-type KEYTAB.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.gssapi.keytab = path(s);
            Ok(())
        },
    },
    Flag {
        name: "gssapi-krb5",
        value_name: "FILE",
        env: "GSSAPI_KRB5",
        default: Some("/etc/krb5.conf"),
        help: "krb5.conf file path: the KDCs of --gssapi-realm (its `kdc = host:port` \
               lines, tried in order, over TCP; DNS lookup of KDCs and the enctype settings \
               are not read).",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.gssapi.krb5_conf = PathBuf::from(s);
            Ok(())
        },
    },
    Flag {
        name: "gssapi-password",
        value_name: "PASSWORD",
        env: "GSSAPI_PASSWORD",
        default: None,
        help: "Password for auth type USER. Prefer the environment variable: it keeps \
               the password out of process listings.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.gssapi.password = Secret(s.to_string());
            Ok(())
        },
    },
    Flag {
        name: "gssapi-realm",
        value_name: "REALM",
        env: "GSSAPI_REALM",
        default: None,
        help: "Kerberos realm of the client principal (and of the brokers' service \
               principals). Required with --sasl-method GSSAPI.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.gssapi.realm = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "gssapi-servicename",
        value_name: "NAME",
        env: "GSSAPI_SERVICENAME",
        default: Some("kafka"),
        help: "ServiceName: the first part of the brokers' service principal, \
               NAME/host@REALM (the brokers' sasl.kerberos.service.name).",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.gssapi.service_name = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "gssapi-username",
        value_name: "USER",
        env: "GSSAPI_USERNAME",
        default: Some("kafka"),
        help: "Username: the client principal the proxy logs in as, USER@REALM.",
        category: Category::Sasl,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.sasl.gssapi.username = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "gssapi-spn-host-mapping",
        value_name: "ADDR=HOST[,ADDR=HOST...]",
        env: "GSSAPI_SPN_HOST_MAPPING",
        default: None,
        help: "Mapping of Kafka servers address to SPN hosts: the host part of a \
               broker's service principal is the mapped host of its address (host:port, or \
               host alone), else the address's host.",
        category: Category::Sasl,
        kind: FlagKind::List,
        required: false,
        apply: |a, s| {
            a.pending
                .sasl
                .gssapi
                .spn_host_mapping
                .extend(gssapi::parse_spn_mapping(s)?);
            Ok(())
        },
    },
    Flag {
        name: "gssapi-disable-pa-fx-fast",
        value_name: "",
        env: "GSSAPI_DISABLE_PA_FX_FAST",
        default: FALSE,
        help: "Used to configure the client to not use PA_FX_FAST. Accepted for grepplabs \
               compatibility and has no effect: this proxy never arms its requests with FAST \
               (RFC 6113), so a KDC that requires FAST refuses it either way.",
        category: Category::Sasl,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.sasl.gssapi.disable_pa_fx_fast = value::parse_bool(s)?;
            Ok(())
        },
    },
    // TLS on client listeners.
    Flag {
        name: "proxy-listener-tls-enable",
        value_name: "",
        env: "PROXY_LISTENER_TLS_ENABLE",
        default: FALSE,
        help: "Clients connect to the listeners over TLS. Needs --proxy-listener-cert-file \
               and --proxy-listener-key-file; the other TLS flags of the listeners take effect \
               only with this one.",
        category: Category::ListenerTls,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.listener_tls_enable = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "proxy-listener-tls-refresh",
        value_name: "DURATION",
        env: "PROXY_LISTENER_TLS_REFRESH",
        default: Some("0"),
        help: "How often to check the listeners' certificate, key, CA and CRL files for \
               changes and reload them; 0 never reloads.",
        category: Category::ListenerTls,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.listener_tls.refresh = duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "proxy-listener-cert-file",
        value_name: "FILE",
        env: "PROXY_LISTENER_CERT_FILE",
        default: None,
        help: "PEM file with the server certificate (and its intermediates) that the \
               listeners present to clients.",
        category: Category::ListenerTls,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.listener_tls.cert_file = PathBuf::from(s);
            Ok(())
        },
    },
    Flag {
        name: "proxy-listener-key-file",
        value_name: "FILE",
        env: "PROXY_LISTENER_KEY_FILE",
        default: None,
        help: "PEM file with the private key of --proxy-listener-cert-file.",
        category: Category::ListenerTls,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.listener_tls.key_file = PathBuf::from(s);
            Ok(())
        },
    },
    Flag {
        name: "proxy-listener-key-password",
        value_name: "PASSWORD",
        env: "PROXY_LISTENER_KEY_PASSWORD",
        default: None,
        help: "Password of an encrypted --proxy-listener-key-file. Prefer the environment \
               variable: it keeps the password out of process listings.",
        category: Category::ListenerTls,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.listener_tls.key_password = secret(s);
            Ok(())
        },
    },
    Flag {
        name: "proxy-listener-ca-chain-cert-file",
        value_name: "FILE",
        env: "PROXY_LISTENER_CA_CHAIN_CERT_FILE",
        default: None,
        help: "PEM file with CA certificates. When set, every client must present a \
               certificate signed by one of them (mutual TLS), an X.509 v3 one: v1 \
               certificates (openssl x509 -req without an extensions file) are refused, \
               with a log line saying so. The proxy's own --tls-client-cert-file may be v1.",
        category: Category::ListenerTls,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.listener_tls.ca_chain_cert_file = path(s);
            Ok(())
        },
    },
    Flag {
        name: "proxy-listener-crl-file",
        value_name: "FILE",
        env: "PROXY_LISTENER_CRL_FILE",
        default: None,
        help: "PEM file with certificate revocation lists; a client certificate they revoke \
               is refused. A CRL past its nextUpdate is refused too (it would hide later \
               revocations). Needs --proxy-listener-ca-chain-cert-file.",
        category: Category::ListenerTls,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.listener_tls.crl_file = path(s);
            Ok(())
        },
    },
    Flag {
        name: "proxy-listener-cipher-suites",
        value_name: "SUITE[,SUITE...]",
        env: "PROXY_LISTENER_CIPHER_SUITES",
        default: None,
        help: "Cipher suites the listeners accept, by IANA name (the Go and rustls spellings \
               work too); all of these by default: TLS_AES_128_GCM_SHA256, \
               TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, \
               TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, \
               TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, \
               TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, \
               TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256. A list that names no TLS 1.3 suite \
               (the first three) keeps all three, as in Go, where this list only governs TLS \
               1.2.",
        category: Category::ListenerTls,
        kind: FlagKind::List,
        required: false,
        apply: |a, s| {
            a.pending
                .listener_tls
                .cipher_suites
                .extend(value::parse_cipher_suites(s)?.into_iter().map(String::from));
            Ok(())
        },
    },
    Flag {
        name: "proxy-listener-curve-preferences",
        value_name: "CURVE[,CURVE...]",
        env: "PROXY_LISTENER_CURVE_PREFERENCES",
        default: None,
        help: "Key exchange curves the listeners accept, most preferred first: X25519, P256, \
               P384 (also written CurveP256, secp256r1 and so on); all three by default. P521 is \
               refused: this build (rustls with the ring provider) does not support it.",
        category: Category::ListenerTls,
        kind: FlagKind::List,
        required: false,
        apply: |a, s| {
            a.pending
                .listener_tls
                .curve_preferences
                .extend(value::parse_curves(s)?.into_iter().map(String::from));
            Ok(())
        },
    },
    Flag {
        name: "proxy-listener-tls-required-client-subject",
        value_name: "SUBJECT[,SUBJECT...]",
        env: "PROXY_LISTENER_TLS_REQUIRED_CLIENT_SUBJECT",
        default: None,
        help: "Accepts a client certificate only if its subject matches one of these, \
               written as in grepplabs: s:/CN=[name]/O=[a,b] for exact values, \
               r:/CN=[regex] for regular expressions. Subjects are separated by commas (a \
               comma only separates where the next s:/ or r:/ begins). Needs \
               --proxy-listener-ca-chain-cert-file.",
        category: Category::ListenerTls,
        kind: FlagKind::List,
        required: false,
        apply: |a, s| {
            a.pending
                .listener_tls
                .required_client_subjects
                .extend(value::parse_client_subjects(s)?);
            Ok(())
        },
    },
    // Authentication of clients.
    Flag {
        name: "auth-local-enable",
        value_name: "",
        env: "AUTH_LOCAL_ENABLE",
        default: FALSE,
        help: "Authenticates clients at the proxy with SASL/PLAIN (checking their user name \
               and password with --auth-local-command) or OAUTHBEARER (see \
               --auth-local-mechanisms); the SASL handshake is not passed on to the brokers. \
               Needs --auth-local-command.",
        category: Category::LocalAuth,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.auth_local_enable = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-local-command",
        value_name: "COMMAND",
        env: "AUTH_LOCAL_COMMAND",
        default: None,
        help: "The authentication plugin: the path of a program, or the name of a built-in \
               plugin.",
        category: Category::LocalAuth,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_local.command = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "auth-local-param",
        value_name: "ARG",
        env: "AUTH_LOCAL_PARAM",
        default: None,
        help: "An argument for the authentication plugin; give the flag once per argument. \
               Arguments show in process listings, even when set through the environment: \
               give secrets in files (see PLUGINS).",
        category: Category::LocalAuth,
        kind: FlagKind::Repeated,
        required: false,
        apply: |a, s| {
            a.pending.auth_local.params.push(s.to_string());
            Ok(())
        },
    },
    Flag {
        name: "auth-local-log-level",
        value_name: "LEVEL",
        env: "AUTH_LOCAL_LOG_LEVEL",
        default: Some("trace"),
        help: "Least severe level of the plugin's own messages that are logged: trace, debug, \
               info, warning, error or off.",
        category: Category::LocalAuth,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_local.log_level = value::parse_plugin_log_level(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-local-timeout",
        value_name: "DURATION",
        env: "AUTH_LOCAL_TIMEOUT",
        default: Some("10s"),
        help: "How long the plugin may take to check a client's credentials, counted from \
               when the check has the plugin to itself; a check also waits at most this long \
               for the checks before it (see PLUGINS).",
        category: Category::LocalAuth,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_local.timeout = positive_duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-local-mechanisms",
        value_name: "MECHANISM[,MECHANISM]",
        env: "AUTH_LOCAL_MECHANISMS",
        default: Some("PLAIN"),
        help: "The SASL mechanisms clients may authenticate with, separated by commas: PLAIN \
               (user name and password, checked with --auth-local-command) and OAUTHBEARER \
               (a bearer token, checked with --auth-local-token-command, else \
               --auth-local-command, as a verify-token request; the built-in jwt-info checks \
               signed JWTs). The SASL handshake advertises them.",
        category: Category::LocalAuth,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_local.mechanisms = mechanisms(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-local-mechanism",
        value_name: "MECHANISM",
        env: "AUTH_LOCAL_MECHANISM",
        default: None,
        help: "One SASL mechanism clients authenticate with, PLAIN or OAUTHBEARER: the same as \
               --auth-local-mechanisms with one (grepplabs' flag; it also names SCRAM, which is \
               not supported).",
        category: Category::LocalAuth,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_local.mechanisms = vec![mechanism(s)?];
            Ok(())
        },
    },
    Flag {
        name: "auth-local-token-command",
        value_name: "COMMAND",
        env: "AUTH_LOCAL_TOKEN_COMMAND",
        default: None,
        help: "The token-info plugin that checks OAUTHBEARER tokens (verify-token): the path \
               of a program, or the name of a built-in plugin such as jwt-info. Without it \
               --auth-local-command checks them. Its messages and calls follow \
               --auth-local-log-level and --auth-local-timeout.",
        category: Category::LocalAuth,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_local.token_command = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "auth-local-token-param",
        value_name: "ARG",
        env: "AUTH_LOCAL_TOKEN_PARAM",
        default: None,
        help: "An argument for the token-info plugin; give the flag once per argument.",
        category: Category::LocalAuth,
        kind: FlagKind::Repeated,
        required: false,
        apply: |a, s| {
            a.pending.auth_local.token_params.push(s.to_string());
            Ok(())
        },
    },
    // Gateway authentication between proxies.
    Flag {
        name: "auth-gateway-client-enable",
        value_name: "",
        env: "AUTH_GATEWAY_CLIENT_ENABLE",
        default: FALSE,
        help: "Authenticates this proxy to the proxy it connects to (one with \
               --auth-gateway-server-enable) with a token from --auth-gateway-client-command, \
               before any Kafka traffic. Needs --auth-gateway-client-command, \
               --auth-gateway-client-method and --auth-gateway-client-magic.",
        category: Category::Gateway,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_client_enable = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-client-command",
        value_name: "COMMAND",
        env: "AUTH_GATEWAY_CLIENT_COMMAND",
        default: None,
        help: "The token provider plugin: the path of a program, or the name of a built-in \
               plugin.",
        category: Category::Gateway,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_client.command = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-client-method",
        value_name: "METHOD",
        env: "AUTH_GATEWAY_CLIENT_METHOD",
        default: None,
        help: "Name of the authentication method, sent in the handshake; it must equal the \
               other proxy's --auth-gateway-server-method.",
        category: Category::Gateway,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_client.method = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-client-magic",
        value_name: "N",
        env: "AUTH_GATEWAY_CLIENT_MAGIC",
        default: Some("0"),
        help: "64-bit number that opens the handshake; it must equal the other proxy's \
               --auth-gateway-server-magic, and must be set (not 0) when the gateway client is \
               enabled. Decimal, or hexadecimal with 0x.",
        category: Category::Gateway,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_client.magic = value::parse_go_u64(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-client-param",
        value_name: "ARG",
        env: "AUTH_GATEWAY_CLIENT_PARAM",
        default: None,
        help: "An argument for the token provider plugin; give the flag once per argument. \
               Arguments show in process listings, even when set through the environment: \
               give secrets in files (see PLUGINS).",
        category: Category::Gateway,
        kind: FlagKind::Repeated,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_client.params.push(s.to_string());
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-client-log-level",
        value_name: "LEVEL",
        env: "AUTH_GATEWAY_CLIENT_LOG_LEVEL",
        default: Some("trace"),
        help: "Least severe level of the token provider's own messages that are logged: \
               trace, debug, info, warning, error or off.",
        category: Category::Gateway,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_client.log_level = value::parse_plugin_log_level(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-client-timeout",
        value_name: "DURATION",
        env: "AUTH_GATEWAY_CLIENT_TIMEOUT",
        default: Some("10s"),
        help: "How long getting a token and the handshake may take.",
        category: Category::Gateway,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_client.timeout = positive_duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-server-enable",
        value_name: "",
        env: "AUTH_GATEWAY_SERVER_ENABLE",
        default: FALSE,
        help: "Requires every client to be a proxy with --auth-gateway-client-enable whose \
               token --auth-gateway-server-command accepts, before any Kafka traffic. Needs \
               --auth-gateway-server-command, --auth-gateway-server-method and \
               --auth-gateway-server-magic.",
        category: Category::Gateway,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_server_enable = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-server-command",
        value_name: "COMMAND",
        env: "AUTH_GATEWAY_SERVER_COMMAND",
        default: None,
        help: "The token verifier plugin: the path of a program, or the name of a built-in \
               plugin.",
        category: Category::Gateway,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_server.command = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-server-method",
        value_name: "METHOD",
        env: "AUTH_GATEWAY_SERVER_METHOD",
        default: None,
        help: "Name of the authentication method expected in the handshake; it must equal \
               the other proxy's --auth-gateway-client-method.",
        category: Category::Gateway,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_server.method = s.to_string();
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-server-magic",
        value_name: "N",
        env: "AUTH_GATEWAY_SERVER_MAGIC",
        default: Some("0"),
        help: "64-bit number expected at the start of the handshake; it must equal the other \
               proxy's --auth-gateway-client-magic, and must be set (not 0) when the gateway \
               server is enabled. Decimal, or hexadecimal with 0x.",
        category: Category::Gateway,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_server.magic = value::parse_go_u64(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-server-param",
        value_name: "ARG",
        env: "AUTH_GATEWAY_SERVER_PARAM",
        default: None,
        help: "An argument for the token verifier plugin; give the flag once per argument. \
               Arguments show in process listings, even when set through the environment: \
               give secrets in files (see PLUGINS).",
        category: Category::Gateway,
        kind: FlagKind::Repeated,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_server.params.push(s.to_string());
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-server-log-level",
        value_name: "LEVEL",
        env: "AUTH_GATEWAY_SERVER_LOG_LEVEL",
        default: Some("trace"),
        help: "Least severe level of the token verifier's own messages that are logged: \
               trace, debug, info, warning, error or off.",
        category: Category::Gateway,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_server.log_level = value::parse_plugin_log_level(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-gateway-server-timeout",
        value_name: "DURATION",
        env: "AUTH_GATEWAY_SERVER_TIMEOUT",
        default: Some("10s"),
        help: "How long the handshake and the check of the token may take.",
        category: Category::Gateway,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.pending.auth_gateway_server.timeout = positive_duration(s)?;
            Ok(())
        },
    },
    // Limits and shutdown.
    Flag {
        name: "max-client-connections",
        value_name: "N",
        env: "MAX_CLIENT_CONNECTIONS",
        default: Some("4096"),
        help: "Most client connections open at once, over all listeners; a connection past \
               the limit is accepted and closed at once. Each one costs two sockets (to the \
               client and to a broker) and two threads while busy, one while idle: the \
               default, at most 8192 threads, stays within the thread limits of small hosts \
               (pid_max may be 32768), so a flood of connections cannot take the host down. \
               Raise the open-files limit (ulimit -n) above twice this value; above 8000, also \
               raise vm.max_map_count above 8 times it (each thread maps its stack, a signal \
               stack and their guard pages; the common default, 65530, covers 8000 busy \
               connections). 1 to 1000000; there is no unlimited.",
        category: Category::Limits,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            let n = value::parse_uint(s, MAX_CLIENT_CONNECTIONS)?;
            if n == 0 {
                return Err("must be at least 1 (the number of connections is always \
                            bounded)"
                    .into());
            }
            a.config.limits.max_client_connections = n as usize;
            Ok(())
        },
    },
    Flag {
        name: "client-idle-timeout",
        value_name: "DURATION",
        env: "CLIENT_IDLE_TIMEOUT",
        default: Some("10m"),
        help: "Closes a client connection that has had no request in flight for this long; 0 \
               never does. The default is what brokers do (connections.max.idle.ms, 10 \
               minutes), and Kafka clients close idle connections sooner themselves (after 9 \
               minutes by default), so it seldom closes a working client's connection while it \
               reclaims those of clients that vanished without closing them.",
        category: Category::Limits,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.limits.client_idle_timeout = duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "handshake-timeout",
        value_name: "DURATION",
        env: "HANDSHAKE_TIMEOUT",
        default: Some("10s"),
        help: "How long a new client connection may take to finish its TLS, gateway and SASL \
               handshakes before it is closed. Must be greater than 0.",
        category: Category::Limits,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.limits.handshake_timeout = positive_duration(s)?;
            Ok(())
        },
    },
    Flag {
        name: "auth-failure-delay",
        value_name: "DURATION",
        env: "AUTH_FAILURE_DELAY",
        default: Some("1s"),
        help: "After a client fails to authenticate (a password the --auth-local-* plugin \
               refused, a token the --auth-gateway-server-* plugin refused), the next \
               credentials from the same address are checked this much later. Failures add up, \
               and connections in parallel share their address's wait, so reconnecting gains \
               nothing: guessing runs at about one attempt per DURATION per address. The wait \
               is on the client's own connection, outside the plugin's queue, so other \
               addresses are not slowed; an attempt whose wait would end after its handshake \
               deadline is refused at once without a check. IPv6 addresses count per /64; up to \
               10000 addresses are remembered (for a new one, the one whose wait ends first is \
               forgotten). 0 disables; at most 1m.",
        category: Category::Limits,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            let delay = duration(s)?;
            if delay > MAX_AUTH_FAILURE_DELAY {
                return Err("must be at most 1m (longer locks an address out; 0 disables)".into());
            }
            a.config.limits.auth_failure_delay = delay;
            Ok(())
        },
    },
    Flag {
        name: "max-unauthenticated-connections-per-address",
        value_name: "N",
        env: "MAX_UNAUTHENTICATED_CONNECTIONS_PER_ADDRESS",
        default: Some("16"),
        help: "While the proxy authenticates clients (--auth-local-enable or \
               --auth-gateway-server-enable), the most connections from one address (IPv6: one \
               /64) that have not authenticated yet; one past it is accepted and closed at \
               once, before any thread is spent on it, and counted as \
               proxy_errors_total{cause=\"unauthenticated_connection_limit\"}. Authenticated \
               connections do not count. Raise it when many clients share an address (a NAT, \
               a gateway client proxy) and connect at once. 0 disables (--max-client-connections \
               still bounds all connections).",
        category: Category::Limits,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.limits.max_unauthenticated_per_address =
                value::parse_uint(s, MAX_CLIENT_CONNECTIONS)? as usize;
            Ok(())
        },
    },
    Flag {
        name: "check",
        value_name: "",
        env: "CHECK",
        default: FALSE,
        help: "Checks the configuration and exits without opening a listener: the flags and the \
               files they name (certificates, keys and their passwords, CA files, JAAS and \
               credentials files), each plugin started once, and every broker of \
               --bootstrap-server-mapping dialed (through --forward-proxy when set), with TLS, \
               the SASL login and an ApiVersions request. Prints one line per step on standard \
               output, with the time it took and, for a step that failed, why; exits 0 when every \
               step passed, 1 otherwise.",
        category: Category::Limits,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.config.check = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "graceful-shutdown-timeout",
        value_name: "DURATION",
        env: "GRACEFUL_SHUTDOWN_TIMEOUT",
        default: Some("30s"),
        help: "On shutdown, how long to wait for requests already passed to brokers to be \
               answered before the remaining connections are closed; 0 closes them at once.",
        category: Category::Limits,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.graceful_shutdown_timeout = duration(s)?;
            Ok(())
        },
    },
    // HTTP endpoints.
    Flag {
        name: "http-disable",
        value_name: "",
        env: "HTTP_DISABLE",
        default: FALSE,
        help: "Does not serve the HTTP endpoints (health and metrics).",
        category: Category::Http,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.config.http.disable = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "http-listen-address",
        value_name: "HOST:PORT",
        env: "HTTP_LISTEN_ADDRESS",
        default: Some("0.0.0.0:9080"),
        help: "Address of the HTTP endpoints. An empty host (:9080) listens on every \
               interface; port 0 lets the system pick.",
        category: Category::Http,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.http.listen_address = value::parse_listen(s)?;
            Ok(())
        },
    },
    Flag {
        name: "http-health-path",
        value_name: "PATH",
        env: "HTTP_HEALTH_PATH",
        default: Some("/health"),
        help: "Path of the health check endpoint.",
        category: Category::Http,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.http.health_path = value::parse_http_path(s)?;
            Ok(())
        },
    },
    Flag {
        name: "http-metrics-path",
        value_name: "PATH",
        env: "HTTP_METRICS_PATH",
        default: Some("/metrics"),
        help: "Path of the Prometheus metrics endpoint.",
        category: Category::Http,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.http.metrics_path = value::parse_http_path(s)?;
            Ok(())
        },
    },
    Flag {
        name: "debug-enable",
        value_name: "",
        env: "DEBUG_ENABLE",
        default: FALSE,
        help: "Serves debugging endpoints on --debug-listen-address. Keep them away from \
               untrusted networks.",
        category: Category::Http,
        kind: FlagKind::Switch,
        required: false,
        apply: |a, s| {
            a.config.http.debug_enable = value::parse_bool(s)?;
            Ok(())
        },
    },
    Flag {
        name: "debug-listen-address",
        value_name: "HOST:PORT",
        env: "DEBUG_LISTEN_ADDRESS",
        default: Some("0.0.0.0:6060"),
        help: "Address of the debugging endpoints. An empty host (:6060) listens on every \
               interface; port 0 lets the system pick.",
        category: Category::Http,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.http.debug_listen_address = value::parse_listen(s)?;
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
               the keys @timestamp, @level and @message (--log-time-fieldname, \
               --log-level-fieldname and --log-msg-fieldname rename them). Logs go to \
               standard error.",
        category: Category::Logging,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.log_format = match s.trim().to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err("expected text or json".into()),
            };
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
            a.config.log_level = value::parse_log_level(s)?;
            Ok(())
        },
    },
    Flag {
        name: "log-level-fieldname",
        value_name: "NAME",
        env: "LOG_LEVEL_FIELDNAME",
        default: Some("@level"),
        help: "Log level fieldname for json format: the key of the level in each JSON log line.",
        category: Category::Logging,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.log_json_fields.level = value::parse_field_name(s)?;
            Ok(())
        },
    },
    Flag {
        name: "log-msg-fieldname",
        value_name: "NAME",
        env: "LOG_MSG_FIELDNAME",
        default: Some("@message"),
        help: "Message fieldname for json format: the key of the message in each JSON log line.",
        category: Category::Logging,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.log_json_fields.message = value::parse_field_name(s)?;
            Ok(())
        },
    },
    Flag {
        name: "log-time-fieldname",
        value_name: "NAME",
        env: "LOG_TIME_FIELDNAME",
        default: Some("@timestamp"),
        help: "Time fieldname for json format: the key of the time (RFC 3339, UTC, \
               milliseconds) in each JSON log line.",
        category: Category::Logging,
        kind: FlagKind::Value,
        required: false,
        apply: |a, s| {
            a.config.log_json_fields.time = value::parse_field_name(s)?;
            Ok(())
        },
    },
];

#[cfg(test)]
mod tests;
