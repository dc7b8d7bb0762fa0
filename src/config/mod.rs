//! Configuration: the flag table (name, environment variable, default, help), the lexopt parser
//! that reads the command line and the environment, and the validated [`Config`] the proxy runs
//! with. `--help` and the man page are generated from the same table.
//!
//! - `value`: parsers for each kind of value (durations, sizes, `host:port`, mappings).
//! - `flags`: the flag tables and the arguments they fill (for `server`, mostly the
//!   [`Config`] itself); `finish`: the checks across flags that complete the config.
//! - `parse`: subcommands, the lexopt loop, the environment, usage errors; [`parse`] is the
//!   entry point.
//! - `help`: `--help` text and the man page ([`man_page`]).
//! - `jaas`: reads the credentials of `--sasl-jaas-config-file`.
//! - `plugin_flags`: the built-in plugins, the cargo features they need, and their flags.

use std::path::PathBuf;
use std::time::Duration;

mod finish;
pub mod flags;
pub mod gssapi;
mod help;
mod jaas;
mod parse;
pub mod plugin_flags;
pub mod tools;
pub mod value;
pub mod warnings;

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

/// `--log-format`; defined with the logger, which needs it and nothing else of the config.
pub use crate::logging::{JsonFields, LogFormat};

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
    /// The least body (beyond what a pump's read buffer holds) spliced socket to socket when
    /// both sides are plaintext; 0 always copies.
    pub splice_threshold: usize,
    /// `--proxy-protocol`: the PROXY protocol header client connections must begin with.
    pub proxy_protocol: crate::net::proxy_protocol::Mode,
    /// `--proxy-protocol-trusted-cidr`: the peers that may send one; empty: any peer.
    pub proxy_protocol_trusted: Vec<crate::net::proxy_protocol::Cidr>,
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
    /// The JSON format's keys (`--log-*-fieldname`).
    pub log_json_fields: JsonFields,
    pub log_level: log::LevelFilter,
    /// TLS to brokers (`--tls-*`); `None` when `--tls-enable` is off.
    pub tls: Option<BrokerTlsConfig>,
    /// TLS on the client listeners (`--proxy-listener-tls-*`, `--proxy-listener-cert-file`, ...);
    /// `None` when `--proxy-listener-tls-enable` is off.
    pub listener_tls: Option<ListenerTlsConfig>,
    /// One TLS listener for every broker, routed by SNI (`--sni-*`); `None` without
    /// `--sni-listen-address`.
    pub sni: Option<SniConfig>,
    /// SASL login to brokers (`--sasl-*`); `None` when `--sasl-enable` is off.
    pub sasl: Option<SaslConfig>,
    /// `--sasl-plugin-*`: the upstream SASL credentials come from a token-provider plugin
    /// instead of `sasl`'s username and password; `Some` only with `sasl`.
    pub sasl_plugin: Option<SaslPluginConfig>,
    /// `--sasl-credentials-*`: per-client upstream credentials; `Some` only with `sasl`.
    pub sasl_credentials: Option<CredentialsSource>,
    /// Local SASL authentication of clients (`--auth-local-*`); `None` when off.
    pub auth_local: Option<PluginAuthConfig>,
    /// Gateway client side (`--auth-gateway-client-*`); `None` when off.
    pub auth_gateway_client: Option<GatewayConfig>,
    /// Gateway server side (`--auth-gateway-server-*`); `None` when off.
    pub auth_gateway_server: Option<GatewayConfig>,
    /// `--forward-proxy`; `None` when not set.
    pub forward_proxy: Option<ForwardProxy>,
    pub http: HttpConfig,
    /// How long a drain waits for in-flight requests (`--graceful-shutdown-timeout`).
    pub graceful_shutdown_timeout: Duration,
    pub limits: LimitsConfig,
    /// `--check`: run the preflight checks ([`crate::preflight`]) instead of serving.
    pub check: bool,
}

/// `--tls-enable` and friends: the proxy's TLS client towards brokers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerTlsConfig {
    /// `--tls-ca-chain-cert-file`: trust these CAs.
    pub ca_chain_cert_file: Option<PathBuf>,
    /// `--tls-system-cert-pool`: trust the OS store as well. Without a CA file and without this,
    /// the built-in webpki roots are trusted.
    pub system_cert_pool: bool,
    /// `--tls-client-cert-file` / `--tls-client-key-file`: a client certificate for mutual TLS.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// `--tls-client-key-password` (also from its environment variable).
    pub client_key_password: Option<Secret>,
    /// `--tls-insecure-skip-verify`.
    pub insecure_skip_verify: bool,
    /// `--tls-same-client-cert-enable`: accept a client only if the certificate it presents to
    /// the proxy's listener is the same as `client_cert_file` (grepplabs' meaning). Validated:
    /// implies `client_cert_file` and a `listener_tls` with a `ca_chain_cert_file`.
    pub same_client_cert_enable: bool,
    /// `--tls-refresh`: re-read the files on this interval when they change; zero = never.
    pub refresh: Duration,
}

/// `--proxy-listener-tls-enable` and friends: TLS termination on the client listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerTlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub key_password: Option<Secret>,
    /// When set, a client certificate signed by one of these CAs is required.
    pub ca_chain_cert_file: Option<PathBuf>,
    pub crl_file: Option<PathBuf>,
    /// IANA names (`TLS_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, ...),
    /// validated against what rustls with ring supports (`value::CIPHER_SUITES`) and without
    /// duplicates; empty = rustls defaults. When the user named no TLS 1.3 suite, all three are
    /// appended (Go's list only governs TLS 1.2), so the list is always complete as given.
    pub cipher_suites: Vec<String>,
    /// `X25519`, `P256` or `P384`, in order of preference, without duplicates; empty = rustls
    /// defaults. P521 is refused at parse time (ring has no P-521).
    pub curve_preferences: Vec<String>,
    /// `--proxy-listener-tls-required-client-subject`: `s:/CN=x/O=[a,b]` or `r:/CN=regex`.
    pub required_client_subjects: Vec<String>,
    /// `--proxy-listener-tls-refresh`; zero = never.
    pub refresh: Duration,
}

/// `--sni-*`: one TLS listener for the bootstrap and every broker. Each broker is advertised as
/// `pattern(node id):advertised port`; a connection goes where its ClientHello's server name
/// leads. Validated: implies `listener_tls`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SniConfig {
    /// `--sni-listen-address`.
    pub listen: HostPort,
    /// `--sni-bootstrap-host`, lowercase: the name that reaches the bootstrap brokers.
    pub bootstrap_host: String,
    /// `--sni-broker-host-pattern`.
    pub pattern: crate::proxy::sni::SniPattern,
    /// `--sni-advertised-port`; `None`: the port the listener is bound to.
    pub advertised_port: Option<u16>,
}

/// `--sasl-*`: how the proxy logs in to brokers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslConfig {
    pub method: SaslMethod,
    pub username: String,
    pub password: Secret,
    /// `--sasl-jaas-config-file`, already read: username and password above come from it.
    pub jaas_config_file: Option<PathBuf>,
    /// `--gssapi-*`, used with [`SaslMethod::Gssapi`] only.
    pub gssapi: gssapi::GssapiConfig,
    /// `--sasl-aws-*`: used with `--sasl-method AWS_MSK_IAM` only.
    pub aws: AwsIamConfig,
    /// The principal whose `--sasl-credentials-*` mapping gave these credentials; `None` for
    /// the proxy's own (for the hint of a failed login).
    pub mapped_from: Option<String>,
}

/// `--sasl-aws-*`: how the proxy finds AWS credentials for AWS_MSK_IAM (src/auth/aws).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsIamConfig {
    /// `--sasl-aws-region`; empty = AWS_REGION, AWS_DEFAULT_REGION or the profile's region.
    pub region: String,
    /// `--sasl-aws-profile`; empty = AWS_PROFILE or `default`.
    pub profile: String,
    /// `--sasl-aws-role-arn`: assumed (STS AssumeRole) on top of the base credentials.
    pub role_arn: String,
    /// `--sasl-aws-identity-lookup`: STS GetCallerIdentity verifies the credentials.
    pub identity_lookup: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMethod {
    Plain,
    ScramSha256,
    ScramSha512,
    /// Kerberos (RFC 4752), configured by [`SaslConfig::gssapi`].
    Gssapi,
    /// AWS_MSK_IAM: a SigV4-signed JSON payload (src/auth/aws).
    AwsMskIam,
    /// A bearer token (RFC 7628) given as the password: only from `--sasl-credentials-*`
    /// (`--sasl-method` does not take it; `--sasl-plugin-*` is the proxy-wide way).
    OAuthBearer,
}

/// `--sasl-credentials-*`: each authenticated client logs in to the brokers with credentials
/// of its own, looked up by its principal (src/auth/credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialsSource {
    /// `--sasl-credentials-file`.
    File(PathBuf),
    /// `--sasl-credentials-plugin-*`.
    Plugin(CredentialsPluginConfig),
}

/// `--sasl-credentials-plugin-*`: a plugin answering `get-credentials` for a principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialsPluginConfig {
    pub command: String,
    pub params: Vec<String>,
    pub log_level: log::LevelFilter,
    pub timeout: Duration,
}

/// `--sasl-plugin-*`: a token-provider plugin supplies the upstream SASL credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslPluginConfig {
    pub command: String,
    pub params: Vec<String>,
    pub log_level: log::LevelFilter,
    pub timeout: Duration,
    pub mechanism: SaslPluginMechanism,
}

/// `--sasl-plugin-mechanism`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslPluginMechanism {
    /// The plugin's `token` is the bearer token (RFC 7628).
    OAuthBearer,
    /// The plugin's `identity` is the user name and its `token` the password.
    Plain,
}

/// A child-process plugin: `--auth-local-command` (a path or a built-in name) and its params.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginAuthConfig {
    pub command: String,
    pub params: Vec<String>,
    pub log_level: log::LevelFilter,
    pub timeout: Duration,
    /// `--auth-local-mechanisms` (or the singular `--auth-local-mechanism`): PLAIN and/or
    /// OAUTHBEARER, upper case, each once.
    pub mechanisms: Vec<String>,
    /// `--auth-local-token-command` and `--auth-local-token-param`: the token-info plugin that
    /// checks OAUTHBEARER tokens; empty: `command` checks them too.
    pub token_command: String,
    pub token_params: Vec<String>,
}

/// `--auth-gateway-client-*` or `--auth-gateway-server-*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayConfig {
    pub command: String,
    pub params: Vec<String>,
    pub log_level: log::LevelFilter,
    pub timeout: Duration,
    pub method: String,
    pub magic: u64,
}

/// `--forward-proxy`: `socks5://`, `http://` or `https://`, with optional credentials
/// (percent-decoded; both or neither are set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardProxy {
    pub scheme: ForwardProxyScheme,
    pub address: HostPort,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardProxyScheme {
    Socks5,
    Http,
    Https,
}

/// `--http-*` and `--debug-*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    pub disable: bool,
    pub listen_address: HostPort,
    pub health_path: String,
    pub metrics_path: String,
    pub debug_enable: bool,
    pub debug_listen_address: HostPort,
}

/// Resource limits (issue: robustness).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitsConfig {
    /// `--max-client-connections`; excess connections are accepted and closed at once.
    pub max_client_connections: usize,
    /// `--client-idle-timeout`: a client with no request in flight for this long is closed;
    /// zero = never.
    pub client_idle_timeout: Duration,
    /// `--handshake-timeout`: TLS, gateway and SASL handshakes must finish within it.
    pub handshake_timeout: Duration,
    /// `--auth-failure-delay`: how far each failed authentication from an address pushes back
    /// the next check from it; zero = no delay.
    pub auth_failure_delay: Duration,
    /// `--max-unauthenticated-connections-per-address`: connections from one address still
    /// authenticating (local SASL or the gateway server); zero = no per-address limit.
    pub max_unauthenticated_per_address: usize,
}

/// A secret string (password, token). `Debug` never shows it, so it cannot reach a log line.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}
