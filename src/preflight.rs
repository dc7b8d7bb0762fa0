//! `kafka-proxy server --check`: everything a start would do except listening, each step timed
//! and reported on one line, through the same code a start and a client connection use: the
//! forward proxy check, the plugins' start ([`AuthPlugins::start`]), the certificates and keys
//! ([`Proxy::load_tls`]), then for every broker of `--bootstrap-server-mapping` the dial
//! (through the dial mapping and `--forward-proxy`), TLS and the gateway handshake, the SASL
//! login, and an ApiVersions request.
//!
//! ```text
//! ok      0ms  flags: 3 bootstrap mappings
//! ok     41ms  start plugins: auth-local
//! ok      9ms  TLS certificates and keys
//! ok      1ms  dial kafka-0:9092
//! FAIL   12ms  TLS to kafka-0:9092: invalid peer certificate: UnknownIssuer
//! ```
//!
//! Flags the parser refuses never reach [`run`]: with `--check` asked for, `main` reports them as
//! a failed `flags` line ([`report_usage_error`]) and exits 1.

use crate::auth::plugins::AuthPlugins;
use crate::config::{Config, HostPort};
use crate::net::frame::ConnError;
use crate::proxy::connection::{dial_broker, login_to_broker, secure_broker};
use crate::proxy::Proxy;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

/// The lines written so far and whether one failed.
struct Report<'a> {
    out: &'a mut dyn Write,
    steps: usize,
    failed: usize,
}

impl Report<'_> {
    /// Runs `step` and writes its line: `what`, and on success the detail it returns (if any),
    /// on failure why.
    fn step<T>(
        &mut self,
        what: &str,
        step: impl FnOnce() -> Result<(T, String), String>,
    ) -> Option<T> {
        let started = Instant::now();
        let result = step();
        let took = format!("{}ms", started.elapsed().as_millis());
        self.steps += 1;
        let line = match &result {
            Ok((_, detail)) if detail.is_empty() => format!("ok   {took:>6}  {what}"),
            Ok((_, detail)) => format!("ok   {took:>6}  {what}: {detail}"),
            Err(why) => {
                self.failed += 1;
                format!("FAIL {took:>6}  {what}: {why}")
            }
        };
        let _ = writeln!(self.out, "{line}");
        result.ok().map(|(value, _)| value)
    }

    fn note(&mut self, kind: &str, text: &str) {
        let _ = writeln!(self.out, "{kind:<4} {:>6}  {text}", "");
    }
}

/// Runs every check of `config`, writing one line per step to `out`; true when all passed.
pub fn run(config: Config, out: &mut dyn Write) -> bool {
    let mut report = Report {
        out,
        steps: 0,
        failed: 0,
    };
    let mappings = config.bootstrap_mappings.len();
    let plural = if mappings == 1 { "" } else { "s" };
    report.step("flags", || {
        Ok(((), format!("{mappings} bootstrap mapping{plural}")))
    });
    for warning in crate::config::warnings::startup_warnings(&config) {
        report.note("warn", &warning);
    }
    if config.forward_proxy.is_some() {
        report.step("forward proxy", || {
            crate::net::forward::check(&config)
                .map(|()| ((), String::new()))
                .map_err(|e| e.to_string())
        });
    }
    let plugins = plugin_roles(&config);
    let auth = if plugins.is_empty() {
        Some(AuthPlugins::default())
    } else {
        report.step(&format!("start plugins: {}", plugins.join(", ")), || {
            AuthPlugins::start(&config)
                .map(|auth| (auth, String::new()))
                .map_err(|e| e.to_string())
        })
    };
    let plugins_ok = auth.is_some();
    let proxy = Proxy::with_auth(config, auth.unwrap_or_default());
    let tls_ok = proxy.config.tls.is_none() && proxy.config.listener_tls.is_none()
        || report
            .step("TLS certificates and keys", || {
                proxy
                    .load_tls()
                    .map(|()| ((), String::new()))
                    .map_err(|e| e.to_string())
            })
            .is_some();
    if plugins_ok && tls_ok {
        for broker in brokers(&proxy.config) {
            check_broker(&mut report, &proxy, &broker);
        }
    } else {
        report.note("skip", "the brokers: fix the steps above first");
    }
    // Stops the TLS reloaders; the plugins stop when the proxy is dropped.
    proxy.join();
    let summary = match report.failed {
        0 => format!("all {} checks passed", report.steps),
        n => format!("{n} of {} checks failed", report.steps),
    };
    let _ = writeln!(report.out, "{summary}");
    report.failed == 0
}

/// The plugins the configuration starts, by the flags that configure them.
fn plugin_roles(config: &Config) -> Vec<&'static str> {
    [
        (config.auth_local.is_some(), "auth-local"),
        (config.auth_gateway_server.is_some(), "auth-gateway-server"),
        (config.auth_gateway_client.is_some(), "auth-gateway-client"),
        (config.sasl_plugin.is_some(), "sasl-plugin"),
    ]
    .into_iter()
    .filter_map(|(on, role)| on.then_some(role))
    .collect()
}

/// Every broker of a bootstrap mapping, once each, in the order given.
fn brokers(config: &Config) -> Vec<HostPort> {
    let mut out: Vec<HostPort> = Vec::new();
    for mapping in &config.bootstrap_mappings {
        if !out.contains(&mapping.broker) {
            out.push(mapping.broker.clone());
        }
    }
    out
}

/// Why a broker step failed, in words: the I/O error itself rather than its wrapper.
fn reason(e: ConnError) -> String {
    match e {
        ConnError::Io(_, e) => e.to_string(),
        e => e.to_string(),
    }
}

/// Dial, TLS and gateway, SASL login, ApiVersions: each a line, until one fails.
fn check_broker(report: &mut Report<'_>, proxy: &Arc<Proxy>, broker: &HostPort) {
    let config = &proxy.config;
    let mut dial = format!("dial {broker}");
    let dial_addr = proxy.addresses.dial_address(broker);
    if dial_addr != *broker {
        dial.push_str(&format!(" at {dial_addr}"));
    }
    if let Some(forward) = &config.forward_proxy {
        dial.push_str(&format!(
            " through {}",
            crate::net::forward::describe(forward)
        ));
    }
    let Some(tunnel) = report.step(&dial, || {
        dial_broker(proxy, broker, config.kafka.dial_timeout)
            .map(|t| (t, String::new()))
            .map_err(reason)
    }) else {
        return;
    };
    let secured = match (config.tls.is_some(), proxy.auth.gateway_client.is_some()) {
        (false, false) => Some(tunnel.into_stream()),
        (tls, gateway) => {
            let what = match (tls, gateway) {
                (true, true) => format!("TLS and gateway handshake with {broker}"),
                (true, false) => format!("TLS to {broker}"),
                _ => format!("gateway handshake with {broker}"),
            };
            report.step(&what, || {
                secure_broker(proxy, tunnel, broker)
                    .map(|s| {
                        let detail = s.describe();
                        (s, detail)
                    })
                    .map_err(reason)
            })
        }
    };
    let Some(mut stream) = secured else {
        return;
    };
    if proxy.auth.credentials.is_some() {
        report.note(
            "skip",
            &format!(
                "SASL login to {broker}: each client logs in with its own credentials \
                 (--sasl-credentials-*)"
            ),
        );
    } else if let Some(sasl) = &config.sasl {
        let mut what = format!("SASL login to {broker}");
        if proxy.auth.sasl_plugin.is_none() && !sasl.username.is_empty() {
            what.push_str(&format!(" as {:?}", sasl.username));
        }
        let logged_in = report.step(&what, || {
            login_to_broker(proxy, &mut stream, broker, None)
                .map(|_| ((), String::new()))
                .map_err(reason)
        });
        if logged_in.is_none() {
            return;
        }
    }
    report.step(&format!("ApiVersions to {broker}"), || {
        crate::auth::upstream::api_versions(
            &mut stream,
            &config.kafka.client_id,
            config.kafka.read_timeout,
        )
        .map(|keys| ((), format!("{keys} API keys")))
        .map_err(|e| e.to_string())
    });
}

/// Whether `args` (after the program name) and the environment ask for `server --check`, for
/// when the flags could not be parsed: `server` with `--check`, `--check=true` (or another
/// true value), or CHECK set to a true value and no `--check=false`.
pub fn requested(args: &[std::ffi::OsString], env: impl Fn(&str) -> Option<String>) -> bool {
    let truthy = |v: &str| crate::config::value::parse_bool(v).unwrap_or(false);
    if args.first().and_then(|a| a.to_str()) != Some("server") {
        return false;
    }
    let mut asked = env("CHECK").is_some_and(|v| truthy(&v));
    for arg in args.iter().filter_map(|a| a.to_str()) {
        if arg == "--check" {
            asked = true;
        } else if let Some(value) = arg.strip_prefix("--check=") {
            asked = truthy(value);
        }
    }
    asked
}

/// The failed `flags` line and the summary, for flags the parser refused under `--check`.
pub fn report_usage_error(error: &dyn std::fmt::Display, out: &mut dyn Write) {
    let mut report = Report {
        out,
        steps: 0,
        failed: 0,
    };
    // The first line: the error itself, without the hint to --help that follows it.
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default().to_string();
    report.step::<()>("flags", || Err(first));
    let _ = writeln!(report.out, "1 of 1 checks failed");
}

/// [`run`] on standard output (line-buffered: each line shows as its step ends).
pub fn run_to_stdout(config: Config) -> bool {
    run(config, &mut io::stdout().lock())
}

#[cfg(test)]
mod tests;
