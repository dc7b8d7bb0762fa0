//! The life of `kafka-proxy server`: bind the HTTP endpoints and the Kafka listeners, tell
//! systemd it is ready, serve until SIGTERM or SIGINT, then drain: stop accepting, answer 503 on
//! the health path, tell systemd it is stopping, let every request in flight get its response,
//! close what is still busy after `--graceful-shutdown-timeout`, and return (exit status 0).
//!
//! A second signal ends the process at once, as the signal's default action would (so the exit
//! status says "killed by SIGTERM"). Signal handlers only set atomics (via `signal-hook`); the
//! main thread polls them, so nothing that is not async-signal-safe runs inside a handler.

use crate::http::{self, DebugRoutes, HttpServer, MainRoutes};
use crate::proxy::Proxy;
use crate::systemd;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use signal_hook::consts::{SIGINT, SIGTERM};

/// How often the main thread looks for a signal.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The shutdown request of the process.
#[derive(Clone)]
pub struct ShutdownSignals {
    requested: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl ShutdownSignals {
    /// Installs the handlers for SIGTERM and SIGINT. Call it first thing, so a signal during
    /// startup is a drain of a proxy that has little to drain, not a kill.
    pub fn install() -> io::Result<ShutdownSignals> {
        let signals = ShutdownSignals::manual();
        for sig in [SIGTERM, SIGINT] {
            // Registered first, so it runs first: on the first signal the flag is still false
            // and it does nothing; a second signal finds the flag set and terminates.
            signal_hook::flag::register_conditional_default(sig, Arc::clone(&signals.requested))?;
            signal_hook::flag::register_usize(sig, Arc::clone(&signals.signal), sig as usize)?;
            signal_hook::flag::register(sig, Arc::clone(&signals.requested))?;
        }
        Ok(signals)
    }

    /// A shutdown request that only [`ShutdownSignals::request`] sets (tests, embedding).
    pub fn manual() -> ShutdownSignals {
        ShutdownSignals {
            requested: Arc::new(AtomicBool::new(false)),
            signal: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Whether a shutdown was asked for.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Asks for a shutdown as a signal would.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }

    /// What asked for the shutdown, for the log.
    pub fn cause(&self) -> &'static str {
        match self.signal.load(Ordering::SeqCst) {
            0 => "shutdown requested",
            n if n == SIGTERM as usize => "SIGTERM received",
            n if n == SIGINT as usize => "SIGINT received",
            _ => "signal received",
        }
    }
}

/// Raises the open-files soft limit to the hard one, as Go programs do at startup: every client
/// connection holds two descriptors (its socket and the broker's), and the usual soft limit of
/// 1,024 would refuse clients long before `--max-client-connections` (10,000 connections need
/// no `ulimit -n` by hand). An unlimited hard limit is taken as the kernel's `fs.nr_open`, the
/// most the kernel allows. A failure is logged and the proxy runs with the limit it has.
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.or_else(|| {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open").ok()?;
        nr_open.trim().parse().ok()
    })?;
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= hard {
        log::debug!("open-files limit {soft} (the hard limit)");
        return Some(soft);
    }
    let raised = Rlimit {
        current: Some(hard),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            log::info!("raised the open-files limit from {soft} to {hard} (the hard limit)");
            Some(hard)
        }
        Err(e) => {
            log::warn!("could not raise the open-files limit from {soft} to {hard}: {e}");
            Some(soft)
        }
    }
}

/// `kafka-proxy server`: binds the listeners and serves until the process is stopped.
pub fn run_server(config: crate::config::Config) -> io::Result<()> {
    // First, so a signal during startup asks for a drain instead of killing the process.
    let signals = ShutdownSignals::install()?;
    raise_open_files_limit();
    for warning in crate::config::warnings::startup_warnings(&config) {
        log::warn!("{warning}");
    }
    let auth = crate::auth::plugins::AuthPlugins::start(&config)?;
    let proxy = Proxy::with_auth(config, auth);
    serve(&proxy, &signals)
}

/// Runs the proxy until `signals` asks for a shutdown, then drains it. Startup errors (an
/// address in use, naming its flag) are returned before anything is served.
pub fn serve(proxy: &Arc<Proxy>, signals: &ShutdownSignals) -> io::Result<()> {
    let config = &proxy.config;
    // Bound before the Kafka listeners, so a taken HTTP address fails the startup before any
    // client is served.
    let http_listener = if config.http.disable {
        None
    } else {
        Some(http::bind(
            &config.http.listen_address,
            "http-listen-address",
        )?)
    };
    let debug_listener = if config.http.debug_enable {
        Some(http::bind(
            &config.http.debug_listen_address,
            "debug-listen-address",
        )?)
    } else {
        None
    };
    proxy.start()?;
    if crate::proxy::prebind::wanted(proxy) {
        match crate::proxy::prebind::bind_dynamic_listeners(proxy) {
            Ok(n) => {
                log::info!("{n} dynamic listeners bound at startup (--deterministic-listeners)")
            }
            Err(e) => log::warn!(
                "could not bind the dynamic listeners at startup ({e}); each is bound when a \
                 client first asks for metadata"
            ),
        }
    }
    let mut servers = Vec::new();
    if let Some(listener) = http_listener {
        let routes = MainRoutes {
            proxy: Arc::clone(proxy),
            health_path: config.http.health_path.clone(),
            metrics_path: config.http.metrics_path.clone(),
        };
        let server = HttpServer::spawn(listener, Arc::new(routes), "http")?;
        log::info!(
            "HTTP on {}: health {}, metrics {}",
            server.local_addr(),
            config.http.health_path,
            config.http.metrics_path
        );
        servers.push(server);
    }
    if let Some(listener) = debug_listener {
        let routes = DebugRoutes {
            proxy: Arc::clone(proxy),
        };
        let server = HttpServer::spawn(listener, Arc::new(routes), "http-debug")?;
        log::info!("debug endpoint on http://{}/", server.local_addr());
        servers.push(server);
    }
    systemd::notify_logged("READY=1");

    while !signals.requested() {
        thread::sleep(SIGNAL_POLL);
    }
    let timeout = config.graceful_shutdown_timeout;
    log::info!(
        "{}: draining {} connections (at most {timeout:?}, --graceful-shutdown-timeout); a second signal exits at once",
        signals.cause(),
        proxy.registry.len()
    );
    let started = Instant::now();
    proxy.stop();
    systemd::notify_logged("STOPPING=1");
    let closed = proxy.registry.drain(timeout);
    if closed > 0 {
        log::warn!(
            "closed {closed} connections still busy after --graceful-shutdown-timeout ({timeout:?})"
        );
    }
    proxy.join();
    // The health endpoint answers 503 until here.
    drop(servers);
    log::info!("stopped after a drain of {:?}", started.elapsed());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

    #[test]
    fn the_open_files_soft_limit_is_raised_to_the_hard_one() {
        let before = getrlimit(Resource::Nofile);
        let Some(hard) = before.maximum.filter(|&hard| hard > 256) else {
            return; // nothing to raise to on this machine
        };
        // Lowered first (which any process may do), as a service manager's default would be.
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(256),
                maximum: before.maximum,
            },
        )
        .unwrap();
        assert_eq!(raise_open_files_limit(), Some(hard));
        assert_eq!(getrlimit(Resource::Nofile).current, Some(hard));
        // Once raised, it stays.
        assert_eq!(raise_open_files_limit(), Some(hard));
    }
}
