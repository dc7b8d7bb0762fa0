//! Test harness: finds the tools (tansu, the Python venv), picks free loopback ports, and runs a
//! real tansu broker and the real proxy binary as child processes that die with the test.
//!
//! Tools are found through environment variables first, as `scripts/test.sh` sets them:
//! `TANSU_BIN` (else `tansu` on PATH, else `~/.cargo/bin/tansu`) and `KAFKA_PROXY_TEST_PYTHON`
//! (else `.test-env/venv/bin/python`). When one is missing a test prints `skipping: ...` and
//! passes, except when `CI` is set: then it fails, so CI can never pass by running nothing.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Paths of the external tools the end-to-end tests need.
#[derive(Clone, Debug)]
pub struct Tools {
    pub tansu: PathBuf,
    pub python: PathBuf,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn find_tansu() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("TANSU_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("TANSU_BIN={} is not a file", p.display()))
        };
    }
    if let Some(p) = find_on_path("tansu") {
        return Ok(p);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = Path::new(&home).join(".cargo/bin/tansu");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err("tansu not found (set TANSU_BIN, or run scripts/test.sh which installs it)".into())
}

fn find_python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("KAFKA_PROXY_TEST_PYTHON") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "KAFKA_PROXY_TEST_PYTHON={} is not a file",
                p.display()
            ))
        };
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-env/venv/bin/python");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "no Python venv at {} (set KAFKA_PROXY_TEST_PYTHON, or run scripts/test.sh which creates it)",
            p.display()
        ))
    }
}

/// The tools, or `None` after printing `skipping: ...` (outside CI). Panics in CI.
/// Use as `let Some(tools) = harness::tools("test name") else { return };`.
pub fn tools(test: &str) -> Option<Tools> {
    match (find_tansu(), find_python()) {
        (Ok(tansu), Ok(python)) => Some(Tools { tansu, python }),
        (a, b) => {
            let why: Vec<String> = [a.err(), b.err()].into_iter().flatten().collect();
            let why = why.join("; ");
            if in_ci() {
                panic!("{test}: CI is set, so a missing tool is a failure: {why}");
            }
            eprintln!("skipping: {test}: {why}");
            None
        }
    }
}

/// A free port on 127.0.0.1: the kernel picks it, and this process never hands out one twice,
/// so tests running in parallel threads do not collide.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        if given.insert(port) {
            return port;
        }
    }
}

/// A unique name for topics, groups and temp dirs: `prefix-<pid>-<n>-<millis>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{millis}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory under the system temp dir, removed on drop unless the test is failing.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let p = std::env::temp_dir().join(unique(prefix));
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keeping {} for inspection", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Waits until `addr` accepts a TCP connection, or the child exits, or the deadline passes.
fn wait_accepting(addr: SocketAddr, child: &mut Child, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status} before accepting on {addr}"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not accepting on {addr} after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends ApiVersions v0 (key 18) by hand and reads the answer's correlation id: proves the
/// listener speaks Kafka, not only that it accepts TCP.
pub fn api_versions_ok(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    let correlation_id: i32 = 0x4b50;
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes()); // api_key ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes()); // api_version 0
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&(-1i16).to_be_bytes()); // client_id null
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    s.write_all(&frame).map_err(|e| format!("write: {e}"))?;
    let mut head = [0u8; 8];
    s.read_exact(&mut head).map_err(|e| format!("read: {e}"))?;
    let size = i32::from_be_bytes(head[0..4].try_into().unwrap());
    let got = i32::from_be_bytes(head[4..8].try_into().unwrap());
    if got != correlation_id || !(4..1 << 20).contains(&size) {
        return Err(format!(
            "bad ApiVersions answer: size {size}, correlation id {got}"
        ));
    }
    Ok(())
}

fn read_log(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("<cannot read {}: {e}>", path.display()))
}

/// Starts `cmd` with only the environment variables a process needs (PATH, HOME, TMPDIR, ...),
/// so settings in the developer's environment (tansu reads LISTENER_URL, CLUSTER_ID, ...; the
/// proxy reads one variable per flag) cannot change what a test runs.
pub fn clean_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear();
    for k in ["PATH", "HOME", "TMPDIR", "LANG", "RUST_BACKTRACE"] {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    cmd
}

/// Kills and reaps a child process.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A tansu broker with in-memory storage on a free port of 127.0.0.1.
pub struct Broker {
    pub port: u16,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Broker {
    pub fn start(tools: &Tools) -> Broker {
        Broker::start_advertising(tools, None)
    }

    /// Like [`Broker::start`], advertising `advertised` (`host:port`) instead of its own
    /// address: for a broker behind a TLS terminator. Readiness is still checked directly.
    pub fn start_advertising(tools: &Tools, advertised: Option<&str>) -> Broker {
        let dir = TempDir::new("kafka-proxy-e2e-broker");
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = advertised.map_or_else(|| url.clone(), |a| format!("tcp://{a}"));
        let log = dir.path().join("tansu.log");
        let out = File::create(&log).expect("create broker log");
        let err = out.try_clone().expect("clone log handle");
        let mut cmd = Command::new(&tools.tansu);
        clean_env(&mut cmd)
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &advertised_url])
            .current_dir(dir.path())
            .env(
                "RUST_LOG",
                std::env::var("TANSU_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", tools.tansu.display()));
        let mut broker = Broker {
            port,
            child,
            log,
            _dir: dir,
        };
        broker.wait_ready();
        broker
    }

    fn wait_ready(&mut self) {
        let addr = self.addr();
        if let Err(e) = wait_accepting(addr, &mut self.child, Duration::from_secs(30)) {
            panic!("tansu {e}\n--- tansu log ---\n{}", self.log());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match api_versions_ok(addr, Duration::from_secs(5)) {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    panic!(
                        "tansu never answered ApiVersions: {e}\n--- tansu log ---\n{}",
                        self.log()
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `127.0.0.1:PORT`, as clients are given it.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        read_log(&self.log)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        stop(&mut self.child);
        if std::thread::panicking() {
            eprintln!(
                "--- tansu log (127.0.0.1:{}) ---\n{}--- end tansu log ---",
                self.port,
                self.log()
            );
        }
    }
}

/// The real kafka-proxy binary, `server --bootstrap-server-mapping 127.0.0.1:B,127.0.0.1:P`.
pub struct Proxy {
    pub port: u16,
    /// The port of its HTTP endpoints (health, metrics) on 127.0.0.1: a free one per proxy, so
    /// proxies of tests running in parallel do not fight over the default 0.0.0.0:9080.
    pub http_port: u16,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Proxy {
    /// Starts the proxy in front of `broker` with the default settings (and debug logs, which
    /// are printed when the test fails).
    pub fn start(broker: &Broker) -> Proxy {
        Proxy::start_with(broker, &["--log-level", "debug"], &[])
    }

    /// Starts the proxy in front of `broker`, with `extra` flags after the mapping and `vars`
    /// as its only environment variables besides PATH, HOME and the like.
    pub fn start_with(broker: &Broker, extra: &[&str], vars: &[(&str, &str)]) -> Proxy {
        Proxy::spawn(broker.port, extra, vars)
    }

    /// Starts the proxy in front of whatever listens on 127.0.0.1:`broker_port` (a fake broker).
    #[allow(dead_code)] // used by the fake-broker tests, which may be built without it
    pub fn start_for_port(broker_port: u16, extra: &[&str]) -> Proxy {
        Proxy::spawn(broker_port, extra, &[])
    }

    /// Like [`Proxy::start_for_port`], with environment variables (passwords, for example).
    #[allow(dead_code)] // used by the TLS tests
    pub fn start_for_port_with(broker_port: u16, extra: &[&str], vars: &[(&str, &str)]) -> Proxy {
        Proxy::spawn(broker_port, extra, vars)
    }

    fn spawn(broker_port: u16, extra: &[&str], vars: &[(&str, &str)]) -> Proxy {
        let port = free_port();
        let mapping = format!("127.0.0.1:{broker_port},127.0.0.1:{port}");
        let mut args = vec!["--bootstrap-server-mapping", &mapping];
        args.extend_from_slice(extra);
        Proxy::start_args(port, &args, vars)
    }

    /// Starts `kafka-proxy server ARGS` (the mappings included) and waits until it accepts on
    /// 127.0.0.1:`port`, the first listener the arguments name.
    #[allow(dead_code)] // used by the Kafka tests, which map several brokers
    pub fn start_args(port: u16, args: &[&str], vars: &[(&str, &str)]) -> Proxy {
        let dir = TempDir::new("kafka-proxy-e2e-proxy");
        let http_port = free_port();
        let http_address = format!("127.0.0.1:{http_port}");
        let log = dir.path().join("proxy.log");
        let out = File::create(&log).expect("create proxy log");
        let err = out.try_clone().expect("clone log handle");
        let mapping = args.join(" ");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafka-proxy"));
        clean_env(&mut cmd)
            .envs(vars.iter().copied())
            .arg("server")
            // Before the arguments, so a test's own --http-listen-address wins.
            .args(["--http-listen-address", &http_address])
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd.spawn().expect("start kafka-proxy");
        let mut proxy = Proxy {
            port,
            http_port,
            child,
            log,
            _dir: dir,
        };
        let addr = proxy.addr();
        if let Err(e) = wait_accepting(addr, &mut proxy.child, Duration::from_secs(20)) {
            panic!(
                "kafka-proxy {e}\nargs: server {mapping}\n--- proxy log ---\n{}",
                proxy.log()
            );
        }
        proxy
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `127.0.0.1:PORT`, as clients are given it.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Everything the proxy wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    /// The proxy's process id, to count its threads and descriptors in /proc.
    #[allow(dead_code)] // used by the robustness tests
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Panics (printing the log) if the proxy exited or logged a panic.
    pub fn assert_healthy(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("kafka-proxy exited during the test with {status}");
        }
        let log = self.log();
        assert!(!log.contains("panicked at"), "kafka-proxy panicked");
    }

    /// Sends `signal` (`TERM`, `INT`, ...) to the proxy process.
    #[allow(dead_code)] // used by the operations tests
    pub fn signal(&self, signal: &str) {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {}", self.child.id())])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed: {status}");
    }

    /// Waits up to `timeout` for the proxy to exit; `None` if it is still running.
    #[allow(dead_code)] // used by the operations tests
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        stop(&mut self.child);
        if std::thread::panicking() {
            eprintln!(
                "--- kafka-proxy log (127.0.0.1:{}) ---\n{}--- end kafka-proxy log ---",
                self.port,
                self.log()
            );
        }
    }
}

/// Sends `raw` to 127.0.0.1:`port` and returns the status code and body of the answer.
pub fn http_raw(port: u16, raw: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the HTTP port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(raw);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http_raw(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// The sum of the samples of `name` whose labels contain every `name="value"` in `labels`.
pub fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A wrapper script in `dir` that runs `python` with `hosts` as its /etc/hosts: in a private
/// user and mount namespace (`unshare -rm`) with the file bound over /etc/hosts, so the client
/// resolves names nothing else does and nothing on the machine changes.
#[allow(dead_code)] // used by the SNI tests
pub fn python_with_hosts(python: &Path, hosts: &Path, dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let wrapper = dir.join("python-with-hosts");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec unshare -rm sh -c 'mount --bind \"$0\" /etc/hosts && exec \"$@\"' \
             '{}' '{}' \"$@\"\n",
            hosts.display(),
            python.display()
        ),
    )
    .expect("write the python wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
        .expect("make the python wrapper executable");
    wrapper
}
