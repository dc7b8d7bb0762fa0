//! Configuration: the flag table (name, environment variable, default, help), the lexopt parser
//! that reads the command line and the environment, and the validated [`Config`] the proxy runs
//! with. `--help` and the man page are generated from the same table.
//!
//! - `value`: parsers for each kind of value (durations, sizes, `host:port`, mappings).
//! - `flags`: the flag tables and the low-level arguments they fill.
//! - `parse`: subcommands, the lexopt loop, the environment, usage errors; [`parse`] is the
//!   entry point.
//! - `help`: `--help` text and the man page ([`man_page`]).

use std::time::Duration;

pub mod flags;
mod help;
mod parse;
pub mod value;

pub use help::man_page;
pub use parse::{parse, Command, Mode, Origin, UsageError, COMMANDS};

/// A `host:port` pair as given in a flag. The host is kept as written (name or IP).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// `--bootstrap-server-mapping broker:port,listen:port[,advhost:advport]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapMapping {
    pub broker: HostPort,
    pub listen: HostPort,
    /// Advertised to clients; when absent, the listen address is advertised.
    pub advertised: Option<HostPort>,
}

/// `--external-server-mapping broker:port,advhost:advport`: advertised, no listener bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalMapping {
    pub broker: HostPort,
    pub advertised: HostPort,
}

/// `--dial-address-mapping broker:port,dialhost:dialport`: where to connect for a broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialMapping {
    pub broker: HostPort,
    pub dial: HostPort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings of the connections to brokers (`--kafka-*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaConfig {
    pub client_id: String,
    pub dial_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    /// Zero disables TCP keep-alive.
    pub keep_alive: Duration,
    pub max_open_requests: usize,
    /// Zero keeps the system default.
    pub read_buffer_size: usize,
    /// Zero keeps the system default.
    pub write_buffer_size: usize,
}

/// Settings of the client-facing side (`--proxy-*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Zero disables TCP keep-alive.
    pub keep_alive: Duration,
    /// Zero keeps the system default.
    pub read_buffer_size: usize,
    /// Zero keeps the system default.
    pub write_buffer_size: usize,
    /// Copy buffer for requests (client to broker), per connection.
    pub request_buffer_size: usize,
    /// Copy buffer for responses (broker to client), per connection.
    pub response_buffer_size: usize,
}

/// How dynamic listeners pick their port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DynamicPorts {
    /// Let the OS pick (port 0).
    Random,
    /// `min, min+1, ...`, at most `max_ports` of them (0 = up to 65535).
    Sequential { min: u16, max_ports: u16 },
    /// `min + node id`.
    Deterministic { min: u16 },
}

/// The validated configuration of `kafka-proxy server`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub bootstrap_mappings: Vec<BootstrapMapping>,
    pub external_mappings: Vec<ExternalMapping>,
    pub dial_mappings: Vec<DialMapping>,
    pub default_listener_ip: String,
    pub dynamic_listeners_disable: bool,
    /// `host[:port]`, `{{.brokerId}}` replaced by the node id.
    pub dynamic_advertised_listener: Option<String>,
    pub dynamic_ports: DynamicPorts,
    pub forbidden_api_keys: Vec<i16>,
    pub producer_acks_0_disabled: bool,
    pub kafka: KafkaConfig,
    pub listener: ListenerConfig,
    /// Largest request or response frame accepted, in bytes.
    pub max_frame_size: usize,
    pub log_format: LogFormat,
    pub log_level: log::LevelFilter,
}
