//! Child-process plugins: the protocol, the supervisor that runs a plugin for the proxy, and the
//! built-in plugins (run as `kafka-proxy plugin NAME`).
//!
//! # The protocol
//!
//! A plugin is a long-lived child process started when the proxy starts. The proxy writes one
//! request per line to the plugin's standard input, a JSON object with an `id` and a `method`,
//! and the plugin answers each with one line on its standard output, a JSON object with the same
//! `id` and `ok`:
//!
//! ```text
//! -> {"id":1,"method":"check-password","mechanism":"PLAIN","username":"alice","password":"s3cret"}
//! <- {"id":1,"ok":true,"identity":"alice"}
//! -> {"id":2,"method":"get-token"}
//! <- {"id":2,"ok":true,"token":"eyJ...","expires_at":1767225600}
//! -> {"id":3,"method":"verify-token","token":"eyJ..."}
//! <- {"id":3,"ok":false,"error":"token expired"}
//! ```
//!
//! `get-token` serves the gateway client and the upstream SASL login (`--sasl-plugin-enable`).
//! For upstream OAUTHBEARER, `token` is the bearer token the proxy sends to brokers; for
//! upstream PLAIN (`--sasl-plugin-mechanism PLAIN`), `identity` is the user name and `token` the
//! password. `expires_at` (optional) says when the token expires: the proxy reuses an answer for
//! half the time left until then (60 s without it), so re-authentications (KIP-368) carry fresh
//! tokens. Built-in token providers: `unsecured-jwt-provider` (unsigned JWTs, for Kafka's
//! unsecured validator).
//!
//! Lines are at most [`MAX_LINE`] bytes. Anything the plugin writes to standard error is
//! forwarded to the proxy's log at the plugin's log level, a line at a time.
//!
//! # Failing closed
//!
//! Calls are serialized per plugin. A call first waits for its turn, at most the plugin's
//! timeout; one that does not get it fails ([`PluginError::Busy`]) without having asked the
//! plugin, and without harming it. Once it has its turn, the call has a whole timeout of its
//! own for the answer. A plugin that exits, does not answer within that timeout, or writes
//! something that is not a reply of the protocol is killed (its whole process group) and the
//! call fails, so the client is refused; the next call starts a new process, after a back-off
//! when the plugin keeps dying young. So a crowd of clients (say, many logins at once without
//! valid credentials) can make logins wait and fail as busy, but cannot get a plugin that
//! answers in time killed and everyone locked out during its back-off. The proxy never waits on
//! a plugin without a deadline and never takes a late reply as the answer to another call
//! (replies carry the request's id; the process that was late is gone anyway).
//!
//! # What a plugin is given
//!
//! Its parameters on the command line, which every local user can read (`ps`,
//! `/proc/PID/cmdline`): secrets belong in files (the built-in plugins take
//! `--password-file`, `--bind-passwd-file`, `--credentials-file`). Its environment is cleared
//! and only the variables [`PLUGIN_ENV`] names (and `LC_*`) are passed on from the proxy's, so
//! the proxy's own secrets (`SASL_PASSWORD`, `*_KEY_PASSWORD`, `FORWARD_PROXY`, ...) never reach
//! a plugin. A plugin that needs another variable can be run through `env(1)`.
//!
//! # Threads
//!
//! Each running child has three threads, owned by [`Plugin`] and joined when the child is
//! stopped: a writer (so a child that stops reading cannot block a caller), a reader (lines of
//! standard output into a bounded channel, which the caller waits on with a deadline) and a
//! stderr forwarder.

pub mod builtin;
mod protocol;

pub use protocol::{parse_reply, serve, Reply, Request};
use protocol::{preview, read_line_capped, Envelope, LineRead};

use std::fmt;
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The longest line either side may write. Limits what a plugin's output can make the proxy
/// allocate; a JWT or an LDAP error message is far shorter.
pub const MAX_LINE: usize = 1 << 20;
/// Standard error lines are cut here before they are logged.
const MAX_LOG_LINE: usize = 4096;
/// The first restart of a plugin that died young waits this long; each further one twice as
/// long, up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A child that ran at least this long before dying restarts at once and resets the back-off.
const HEALTHY_RUN: Duration = Duration::from_secs(10);
/// How long stopping a child waits for its threads to see the pipes close.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// A plugin that exits within this long of starting (bad parameters, missing interpreter) is
/// a startup error of the proxy rather than a restart loop.
const START_CHECK: Duration = Duration::from_millis(200);

/// The environment variables a plugin gets from the proxy's environment (when set there); with
/// every `LC_*` variable, nothing else. Locale, time zone, temporary directory, home and search
/// path; the proxy variables of HTTP clients (`google-id-provider` and `google-id-info` reach
/// Google's endpoints through them, as other HTTP clients would); and the CA bundle settings of
/// OpenSSL and Go. None is a secret the proxy has; a proxy URL with a password in it is the
/// operator's choice to hand to HTTP clients.
pub const PLUGIN_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "TZ",
    "TMPDIR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Whether the variable `name` of the proxy's environment is passed on to plugins.
pub fn passed_to_plugins(name: &str) -> bool {
    PLUGIN_ENV.contains(&name) || name.starts_with("LC_")
}

/// The part of `vars` (the proxy's environment) a plugin gets.
fn plugin_env(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    vars.into_iter()
        .filter(|(name, _)| name.to_str().is_some_and(passed_to_plugins))
        .collect()
}

/// The built-in plugins of this build; a configuration fact, as the server's flags check
/// plugin commands against it.
pub use crate::config::plugin_flags::BUILTIN_PLUGINS;

/// Why a plugin call failed. Every failure refuses the client.
#[derive(Debug)]
pub enum PluginError {
    /// The process could not be started.
    Spawn(io::Error),
    /// The process died recently and is waiting out its restart back-off.
    Restarting(Duration),
    /// Other calls kept the plugin busy for this long (the timeout): this one was not made.
    /// The plugin is not at fault and is left alone.
    Busy(Duration),
    /// No answer within the timeout, counted from when the call had the plugin to itself.
    Timeout(Duration),
    /// The process exited (or closed its standard output) during the call.
    Exited(String),
    /// The process wrote something that is not a reply of the protocol.
    Protocol(String),
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::Spawn(e) => write!(f, "cannot start the plugin: {e}"),
            PluginError::Restarting(left) => write!(
                f,
                "the plugin died and is restarted in {} ms",
                left.as_millis()
            ),
            PluginError::Busy(t) => write!(
                f,
                "the plugin was busy with other calls for {t:?}; it was not asked"
            ),
            PluginError::Timeout(t) => write!(f, "the plugin did not answer within {t:?}"),
            PluginError::Exited(status) => write!(f, "the plugin exited ({status})"),
            PluginError::Protocol(why) => write!(f, "the plugin broke the protocol: {why}"),
        }
    }
}

impl std::error::Error for PluginError {}

/// What to run: a program and its arguments, plus how to treat it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginSpec {
    /// Names the plugin in log lines, e.g. `auth-local`.
    pub role: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The most verbose level of its standard error that is logged (`Off`: none).
    pub log_level: log::LevelFilter,
    pub timeout: Duration,
}

impl PluginSpec {
    /// `command` is a path, or the name of a built-in plugin, which runs as this executable
    /// with `plugin NAME` before the parameters.
    pub fn resolve(
        role: &str,
        command: &str,
        params: &[String],
        log_level: log::LevelFilter,
        timeout: Duration,
    ) -> io::Result<PluginSpec> {
        // The flags are checked for this already; a caller that skipped that still gets the
        // reason, not a missing program named like a plugin.
        if let Some(reason) = builtin::not_built(command) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, reason));
        }
        let (program, args) = if BUILTIN_PLUGINS.contains(&command) {
            let exe = std::env::current_exe().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot find the kafka-proxy executable to run built-in plugin {command}: {e}"),
                )
            })?;
            let mut args = vec!["plugin".to_string(), command.to_string()];
            args.extend(params.iter().cloned());
            (exe, args)
        } else {
            (PathBuf::from(command), params.to_vec())
        };
        Ok(PluginSpec {
            role: role.to_string(),
            program,
            args,
            log_level,
            timeout,
        })
    }
}

/// A supervised plugin process. Cheap to share (`Arc<Plugin>`); calls from many threads are
/// served one at a time.
pub struct Plugin {
    spec: PluginSpec,
    /// Whether a call is in progress; callers wait on `turn_free` with their deadline.
    busy: Mutex<bool>,
    turn_free: Condvar,
    state: Mutex<State>,
}

struct State {
    child: Option<Running>,
    next_id: u64,
    backoff: Duration,
    /// No restart before this instant (set when a child dies young).
    not_before: Option<Instant>,
}

/// One line from the child's standard output, as the reader thread saw it.
enum Line {
    Text(Vec<u8>),
    TooLong,
    Closed,
}

/// A running child and its threads.
struct Running {
    process: Child,
    started: Instant,
    requests: Option<SyncSender<Vec<u8>>>,
    replies: Option<Receiver<Line>>,
    threads: Vec<JoinHandle<()>>,
}

impl Plugin {
    /// Starts the plugin. Fails (for the proxy: a startup error) when it cannot be started.
    pub fn start(spec: PluginSpec) -> io::Result<Plugin> {
        let mut running = spawn(&spec)?;
        let until = Instant::now() + START_CHECK;
        while Instant::now() < until {
            if let Ok(Some(status)) = running.process.try_wait() {
                // Stopping joins the stderr thread, so what the plugin said is logged first.
                running.stop(&spec.role);
                return Err(io::Error::other(format!(
                    "plugin {} ({}) exited as it started ({status}); its standard error is \
                     logged above",
                    spec.role,
                    spec.program.display()
                )));
            }
            thread::sleep(Duration::from_millis(10));
        }
        log::info!(
            "plugin {} started: {} (pid {})",
            spec.role,
            spec.program.display(),
            running.process.id()
        );
        Ok(Plugin {
            spec,
            busy: Mutex::new(false),
            turn_free: Condvar::new(),
            state: Mutex::new(State {
                child: Some(running),
                next_id: 0,
                backoff: INITIAL_BACKOFF,
                not_before: None,
            }),
        })
    }

    pub fn spec(&self) -> &PluginSpec {
        &self.spec
    }

    /// The process id of the running child, if one runs (for tests and logs).
    pub fn pid(&self) -> Option<u32> {
        lock(&self.state).child.as_ref().map(|c| c.process.id())
    }

    /// Waits for the turn (at most the plugin's timeout), then sends `request` and waits for its
    /// reply (at most the timeout again, counted from when the turn came). Only a call that
    /// waited its whole own timeout for the reply stops the child for being late; a call that
    /// spent its time in the queue fails as [`PluginError::Busy`] and leaves the child alone.
    pub fn call(&self, request: &Request) -> Result<Reply, PluginError> {
        let _turn = self.take_turn(Instant::now() + self.spec.timeout)?;
        let deadline = Instant::now() + self.spec.timeout;
        let mut state = lock(&self.state);
        let result = self.call_locked(&mut state, request, deadline);
        match &result {
            Ok(_) => state.backoff = INITIAL_BACKOFF,
            Err(PluginError::Restarting(_))
            | Err(PluginError::Spawn(_))
            | Err(PluginError::Busy(_)) => {}
            Err(e) => {
                log::warn!(
                    "plugin {}: {e}; stopping it (restarted on the next call)",
                    self.spec.role
                );
                self.stop_child(&mut state);
            }
        }
        result
    }

    /// Waits until no other call is in progress, or until `deadline` (then `Busy`). A waiter
    /// that gives up does so while another call holds the turn, whose release wakes the next
    /// waiter: no wake-up is lost.
    fn take_turn(&self, deadline: Instant) -> Result<Turn<'_>, PluginError> {
        let mut busy = lock(&self.busy);
        while *busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PluginError::Busy(self.spec.timeout));
            }
            busy = self
                .turn_free
                .wait_timeout(busy, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *busy = true;
        Ok(Turn(self))
    }

    fn call_locked(
        &self,
        state: &mut State,
        request: &Request,
        deadline: Instant,
    ) -> Result<Reply, PluginError> {
        self.ensure_running(state)?;
        state.next_id += 1;
        let id = state.next_id;
        let Some(child) = state.child.as_mut() else {
            return Err(PluginError::Exited("not running".into()));
        };
        let (Some(requests), Some(replies)) = (child.requests.as_ref(), child.replies.as_ref())
        else {
            return Err(PluginError::Exited("not running".into()));
        };
        // Lines written between calls answer nothing: drop them.
        while let Ok(line) = replies.try_recv() {
            if let Line::Text(text) = line {
                log::debug!(
                    "plugin {}: ignoring an unrequested line: \"{}\"",
                    self.spec.role,
                    preview(&text)
                );
            }
        }
        let mut line = serde_json::to_vec(&Envelope { id, body: request })
            .map_err(|e| PluginError::Protocol(format!("cannot encode the request: {e}")))?;
        line.push(b'\n');
        if line.len() > MAX_LINE {
            return Err(PluginError::Protocol(format!(
                "{} request of {} bytes is longer than {MAX_LINE}",
                request.method(),
                line.len()
            )));
        }
        if requests.send(line).is_err() {
            return Err(PluginError::Exited(exit_status(&mut child.process)));
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match replies.recv_timeout(left) {
                Ok(Line::Text(text)) => {
                    let (got, reply) = parse_reply(&text).map_err(PluginError::Protocol)?;
                    if got == id {
                        return Ok(reply);
                    }
                    log::debug!(
                        "plugin {}: ignoring a reply to request {got} while waiting for {id}",
                        self.spec.role
                    );
                }
                Ok(Line::TooLong) => {
                    return Err(PluginError::Protocol(format!(
                        "a line longer than {MAX_LINE} bytes"
                    )))
                }
                Ok(Line::Closed) | Err(RecvTimeoutError::Disconnected) => {
                    // Give the process a moment to finish exiting, for a useful status.
                    let status = wait_briefly(&mut child.process);
                    return Err(PluginError::Exited(status));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(PluginError::Timeout(self.spec.timeout))
                }
            }
        }
    }

    /// Makes sure a child runs: notices one that exited, restarts within the back-off rules.
    fn ensure_running(&self, state: &mut State) -> Result<(), PluginError> {
        if let Some(child) = state.child.as_mut() {
            match child.process.try_wait() {
                Ok(None) => return Ok(()),
                Ok(Some(status)) => {
                    log::warn!("plugin {} exited ({status}); restarting it", self.spec.role);
                    self.stop_child(state);
                }
                Err(e) => {
                    log::warn!("plugin {}: cannot check the process: {e}", self.spec.role);
                    self.stop_child(state);
                }
            }
        }
        if let Some(at) = state.not_before {
            let left = at.saturating_duration_since(Instant::now());
            if !left.is_zero() {
                return Err(PluginError::Restarting(left));
            }
        }
        match spawn(&self.spec) {
            Ok(running) => {
                log::info!(
                    "plugin {} restarted (pid {})",
                    self.spec.role,
                    running.process.id()
                );
                state.child = Some(running);
                state.not_before = None;
                Ok(())
            }
            Err(e) => {
                state.not_before = Some(Instant::now() + state.backoff);
                state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
                log::error!("plugin {}: cannot restart: {e}", self.spec.role);
                Err(PluginError::Spawn(e))
            }
        }
    }

    /// Kills the child (if any), reaps it, joins its threads, and sets the restart back-off.
    fn stop_child(&self, state: &mut State) {
        let Some(child) = state.child.take() else {
            return;
        };
        let lived = child.started.elapsed();
        if lived >= HEALTHY_RUN {
            state.backoff = INITIAL_BACKOFF;
            state.not_before = None;
        } else {
            state.not_before = Some(child.started + state.backoff);
            state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
        }
        child.stop(&self.spec.role);
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        if let Some(child) = lock(&self.state).child.take() {
            child.stop(&self.spec.role);
        }
    }
}

/// Holding the turn: released (and the next waiter woken) on drop.
struct Turn<'a>(&'a Plugin);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *lock(&self.0.busy) = false;
        self.0.turn_free.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn exit_status(process: &mut Child) -> String {
    match process.try_wait() {
        Ok(Some(status)) => status.to_string(),
        Ok(None) => "still running, but not reading its input".into(),
        Err(e) => format!("status unknown: {e}"),
    }
}

fn wait_briefly(process: &mut Child) -> String {
    let until = Instant::now() + Duration::from_millis(200);
    loop {
        match process.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) if Instant::now() < until => thread::sleep(Duration::from_millis(10)),
            Ok(None) => return "closed its output".into(),
            Err(e) => return format!("status unknown: {e}"),
        }
    }
}

impl Running {
    fn stop(mut self, role: &str) {
        let pid = self.process.id();
        let _ = self.process.kill();
        // A shell-script plugin may have children holding the pipes open: end the group too.
        kill_group(pid);
        let _ = self.process.wait();
        // Closing our ends wakes the writer (channel closed) and the reader (send fails).
        self.requests = None;
        self.replies = None;
        let until = Instant::now() + STOP_GRACE;
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
        for handle in self.threads.drain(..) {
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                // Something outside the process group still holds a pipe: the thread ends when
                // that process does; waiting here would hang the proxy.
                log::warn!(
                    "plugin {role}: a pipe of process {pid} is still open; not waiting for it"
                );
            }
        }
    }
}

/// Kills the process group `pid` leads (plugins are started as group leaders), with the
/// system's `kill`, since std has no call for it and the crate forbids `unsafe`.
fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn spawn(spec: &PluginSpec) -> io::Result<Running> {
    use std::os::unix::process::CommandExt;
    let mut process = Command::new(&spec.program)
        .args(&spec.args)
        // Only what PLUGIN_ENV allows: never the proxy's passwords (SASL_PASSWORD, ...).
        .env_clear()
        .envs(plugin_env(std::env::vars_os()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so stopping it also stops what it started.
        .process_group(0)
        .spawn()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot start plugin {} ({}): {e}",
                    spec.role,
                    spec.program.display()
                ),
            )
        })?;
    let started = Instant::now();
    let (Some(stdin), Some(stdout), Some(stderr)) = (
        process.stdin.take(),
        process.stdout.take(),
        process.stderr.take(),
    ) else {
        let _ = process.kill();
        let _ = process.wait();
        return Err(io::Error::other("plugin pipes missing"));
    };
    let (request_tx, request_rx) = mpsc::sync_channel::<Vec<u8>>(1);
    let (reply_tx, reply_rx) = mpsc::sync_channel::<Line>(8);
    let mut threads = Vec::with_capacity(3);
    let name = |what: &str| format!("plugin-{what}");
    let spawned = (|| -> io::Result<()> {
        threads.push(
            thread::Builder::new()
                .name(name("in"))
                .spawn(move || write_requests(stdin, request_rx))?,
        );
        threads.push(
            thread::Builder::new()
                .name(name("out"))
                .spawn(move || read_replies(stdout, reply_tx))?,
        );
        let role = spec.role.clone();
        let filter = spec.log_level;
        threads.push(
            thread::Builder::new()
                .name(name("err"))
                .spawn(move || forward_stderr(stderr, &role, filter))?,
        );
        Ok(())
    })();
    let running = Running {
        process,
        started,
        requests: Some(request_tx),
        replies: Some(reply_rx),
        threads,
    };
    if let Err(e) = spawned {
        running.stop(&spec.role);
        return Err(e);
    }
    Ok(running)
}

fn write_requests(mut stdin: std::process::ChildStdin, requests: Receiver<Vec<u8>>) {
    for line in requests {
        if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
            return;
        }
    }
}

fn read_replies(stdout: std::process::ChildStdout, replies: SyncSender<Line>) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        let message = match read_line_capped(&mut reader, &mut line, MAX_LINE) {
            Ok(LineRead::Line) => Line::Text(std::mem::take(&mut line)),
            Ok(LineRead::TooLong) => Line::TooLong,
            Ok(LineRead::Eof) | Err(_) => Line::Closed,
        };
        let stop = !matches!(message, Line::Text(_));
        if replies.send(message).is_err() || stop {
            return;
        }
    }
}

/// Logs each line of the plugin's standard error: at the level the line starts with
/// (`ERROR`, `[WARN]`, `info:` ...), else at info; lines more verbose than `filter` (the
/// plugin's `--auth-*-log-level`) are dropped.
fn forward_stderr(stderr: std::process::ChildStderr, role: &str, filter: log::LevelFilter) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        match read_line_capped(&mut reader, &mut line, MAX_LOG_LINE) {
            Ok(LineRead::Line) | Ok(LineRead::TooLong) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end();
                let level = line_level(text).unwrap_or(log::Level::Info);
                if !text.is_empty() && level <= filter {
                    log::log!(level, "plugin {role}: {}", crate::logging::peer_text(text));
                }
                line.clear();
            }
            Ok(LineRead::Eof) | Err(_) => return,
        }
    }
}

/// The level a log line names in its first word, if any.
fn line_level(text: &str) -> Option<log::Level> {
    let word: String = text
        .trim_start()
        .trim_start_matches('[')
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    match word.to_ascii_uppercase().as_str() {
        "TRACE" => Some(log::Level::Trace),
        "DEBUG" => Some(log::Level::Debug),
        "INFO" => Some(log::Level::Info),
        "WARN" | "WARNING" => Some(log::Level::Warn),
        "ERROR" | "FATAL" | "PANIC" => Some(log::Level::Error),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
