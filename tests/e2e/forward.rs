//! Forward proxies (`--forward-proxy`) end to end: confluent-kafka produces and consumes through
//! kafka-proxy → a forward proxy → tansu, with the built-in `tools socks5-proxy` and
//! `tools http-proxy` (with and without credentials), Debian's dante (SOCKS5, with and without
//! username/password) and tinyproxy (HTTP CONNECT with Basic auth), and haproxy terminating TLS
//! in front of `tools http-proxy` for an `https://` forward proxy. Third-party programs run on
//! loopback ports with configuration files written by the test, never as system services.
//! Also: curl through the built-in tools to a local HTTP server, scripted fake proxies that
//! misbehave (each failure is a clear log line and fails only its own connection), and URLs
//! that are startup errors.

use crate::core::roundtrip;
use crate::harness::{self, api_versions_ok, free_port, unique, Broker, Proxy, TempDir, Tools};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const MESSAGES: &str = "2000";
pub(crate) const USER: &str = "fwd-user";
/// With characters that must be percent-encoded in a URL.
pub(crate) const PASSWORD: &str = "p@ss:w/rd%1";
pub(crate) const PASSWORD_IN_URL: &str = "p%40ss%3Aw%2Frd%251";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `None` after printing `skipping: ...`, outside CI; a failure under CI.
fn missing(test: &str, why: &str) -> Option<PathBuf> {
    if in_ci() {
        panic!("{test}: CI is set, so a missing tool is a failure: {why}");
    }
    eprintln!("skipping: {test}: {why}");
    None
}

/// A program from PATH or the sbin directories (daemons live there).
fn program(test: &str, name: &str, package: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    match found {
        Some(p) => Some(p),
        None => missing(
            test,
            &format!("{name} not found (apt-get install {package}; scripts/test.sh does)"),
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A background program on a loopback port: killed on drop, its log printed if the test fails.
pub(crate) struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with its output in `dir/<name>.log` and waits until it accepts on `port`.
    fn start(name: &str, mut cmd: Command, port: u16, dir: &Path) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        let mut daemon = Daemon {
            name: name.to_string(),
            child,
            log,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("{name} exited with {status}:\n{}", daemon.log());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return daemon;
            }
            assert!(
                Instant::now() < deadline,
                "{name} not accepting on {addr}:\n{}",
                daemon.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- {} log ---\n{}--- end {} log ---",
                self.name,
                self.log(),
                self.name
            );
        }
    }
}

/// `kafka-proxy tools <kind> --addr 127.0.0.1:PORT --verbose`, credentials (when given) from
/// the environment so they stay out of the process listing.
pub(crate) fn start_tool(kind: &str, credentials: bool, dir: &Path) -> (Daemon, u16) {
    let port = free_port();
    let prefix = kind.to_uppercase().replace('-', "_");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafka-proxy"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args([
            "tools",
            kind,
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--verbose",
        ]);
    if credentials {
        cmd.env(format!("{prefix}_USERNAME"), USER)
            .env(format!("{prefix}_PASSWORD"), PASSWORD);
    }
    (
        Daemon::start(&format!("tools-{kind}"), cmd, port, dir),
        port,
    )
}

/// Produces and consumes through `proxy` and checks every message came back.
fn produce_consume(tools: &Tools, proxy: &Proxy) -> Duration {
    let (topic, group) = (unique("fwd"), unique("g-fwd"));
    let args = [
        "--topic",
        &topic,
        "--group",
        &group,
        "--partitions",
        "2",
        "--count",
        MESSAGES,
    ];
    let started = Instant::now();
    roundtrip(tools, "roundtrip.py", &proxy.bootstrap(), &args);
    started.elapsed()
}

/// kafka-proxy in front of `broker`, through the forward proxy `url` given in the environment
/// (where its credentials belong), plus `vars`.
fn proxy_via(broker: &Broker, url: &str, vars: &[(&str, &str)]) -> Proxy {
    let mut all = vec![("FORWARD_PROXY", url)];
    all.extend_from_slice(vars);
    Proxy::start_with(broker, &["--log-level", "debug"], &all)
}

/// Waits (up to 10 s: the daemon logs after the client has seen its answer) for `needle`.
pub(crate) fn assert_tunnelled(daemon: &Daemon, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut log = daemon.log();
    while !log.contains(needle) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        log = daemon.log();
    }
    assert!(
        log.contains(needle),
        "{}: no {needle:?} in its log:\n{log}",
        daemon.name
    );
}

#[test]
fn builtin_socks5_proxy_with_and_without_credentials() {
    let test = "builtin_socks5_proxy_with_and_without_credentials";
    let Some(tools) = harness::tools(test) else {
        return;
    };
    let broker = Broker::start(&tools);
    let dir = TempDir::new("fwd-socks5");

    // Baseline of the same run: kafka-proxy straight to the broker.
    let mut direct = Proxy::start(&broker);
    let baseline = produce_consume(&tools, &direct);
    direct.assert_healthy();

    let (open, port) = start_tool("socks5-proxy", false, dir.path());
    let mut proxy = proxy_via(&broker, &format!("socks5://127.0.0.1:{port}"), &[]);
    let through = produce_consume(&tools, &proxy);
    proxy.assert_healthy();
    assert_tunnelled(&open, &format!("tunnel to 127.0.0.1:{} open", broker.port));
    eprintln!(
        "forward proxy figures: {MESSAGES} messages produced and consumed in {through:.2?} \
         through tools socks5-proxy, {baseline:.2?} without a forward proxy: ratio {:.2}",
        through.as_secs_f64() / baseline.as_secs_f64()
    );

    let (closed, port) = start_tool("socks5-proxy", true, dir.path());
    let url = format!("socks5://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{port}");
    let mut proxy = proxy_via(&broker, &url, &[]);
    produce_consume(&tools, &proxy);
    proxy.assert_healthy();
    assert_tunnelled(
        &closed,
        &format!("tunnel to 127.0.0.1:{} open", broker.port),
    );
    assert!(!proxy.log().contains(PASSWORD) && !proxy.log().contains(PASSWORD_IN_URL));
}

#[test]
fn builtin_http_proxy_with_and_without_credentials() {
    let Some(tools) = harness::tools("builtin_http_proxy_with_and_without_credentials") else {
        return;
    };
    let broker = Broker::start(&tools);
    let dir = TempDir::new("fwd-http");
    let (open, port) = start_tool("http-proxy", false, dir.path());
    let mut proxy = proxy_via(&broker, &format!("http://127.0.0.1:{port}"), &[]);
    produce_consume(&tools, &proxy);
    proxy.assert_healthy();
    assert_tunnelled(&open, &format!("tunnel to 127.0.0.1:{} open", broker.port));

    let (closed, port) = start_tool("http-proxy", true, dir.path());
    let url = format!("http://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{port}");
    let mut proxy = proxy_via(&broker, &url, &[]);
    produce_consume(&tools, &proxy);
    proxy.assert_healthy();
    assert_tunnelled(
        &closed,
        &format!("tunnel to 127.0.0.1:{} open", broker.port),
    );
}

/// The system user dante checks `socksmethod: username` against (its passwords are the
/// system's). Created once, password reset each run.
const DANTE_USER: &str = "kpfwdtest";
const DANTE_PASSWORD: &str = "Dante-Pa55-word";

fn ensure_dante_user() {
    let exists = Command::new("id")
        .arg(DANTE_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        let status = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                DANTE_USER,
            ])
            .status()
            .expect("run useradd");
        // Another run may have created it meanwhile (exit 9: already exists).
        assert!(
            status.success() || status.code() == Some(9),
            "useradd: {status}"
        );
    }
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("run chpasswd");
    chpasswd
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{DANTE_USER}:{DANTE_PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(chpasswd.wait().unwrap().success(), "chpasswd failed");
}

fn start_dante(danted: &Path, dir: &Path, username: bool) -> (Daemon, u16) {
    let port = free_port();
    let method = if username { "username" } else { "none" };
    let config = format!(
        "logoutput: stderr\n\
         internal: 127.0.0.1 port = {port}\n\
         external: 127.0.0.1\n\
         clientmethod: none\n\
         socksmethod: {method}\n\
         user.privileged: root\n\
         user.unprivileged: nobody\n\
         client pass {{\n    from: 127.0.0.0/8 to: 0.0.0.0/0\n    log: error\n}}\n\
         socks pass {{\n    from: 127.0.0.0/8 to: 0.0.0.0/0\n    command: connect\n    \
         log: connect error\n}}\n"
    );
    let name = format!("danted-{method}");
    let path = dir.join(format!("{name}.conf"));
    fs::write(&path, config).unwrap();
    let mut cmd = Command::new(danted);
    cmd.arg("-f")
        .arg(&path)
        .arg("-p")
        .arg(dir.join(format!("{name}.pid")));
    (Daemon::start(&name, cmd, port, dir), port)
}

#[test]
fn dante_socks5_with_and_without_username() {
    let test = "dante_socks5_with_and_without_username";
    let Some(tools) = harness::tools(test) else {
        return;
    };
    let Some(danted) = program(test, "danted", "dante-server") else {
        return;
    };
    if !is_root() {
        missing(test, "dante checks system users: run as root to create one");
        return;
    }
    ensure_dante_user();
    let broker = Broker::start(&tools);
    let dir = TempDir::new("fwd-dante");
    // dante logs the destination as address.port.
    let destination = format!("127.0.0.1.{}", broker.port);

    let (dante, port) = start_dante(&danted, dir.path(), false);
    let mut proxy = proxy_via(&broker, &format!("socks5://127.0.0.1:{port}"), &[]);
    produce_consume(&tools, &proxy);
    proxy.assert_healthy();
    assert_tunnelled(&dante, &destination);

    let (dante, port) = start_dante(&danted, dir.path(), true);
    let url = format!("socks5://{DANTE_USER}:{DANTE_PASSWORD}@127.0.0.1:{port}");
    let mut proxy = proxy_via(&broker, &url, &[]);
    produce_consume(&tools, &proxy);
    proxy.assert_healthy();
    assert_tunnelled(&dante, &destination);

    // The wrong password: dante refuses, and the proxy says so.
    let url = format!("socks5://{DANTE_USER}:wrong@127.0.0.1:{port}");
    let mut proxy = proxy_via(&broker, &url, &[]);
    assert!(api_versions_ok(proxy.addr(), Duration::from_secs(10)).is_err());
    wait_for_log(&proxy, "rejected the username or password");
    proxy.assert_healthy();
}

const TINY_USER: &str = "tinyuser";
const TINY_PASSWORD: &str = "TinyPass42";

#[test]
fn tinyproxy_http_connect_with_basic_auth() {
    let test = "tinyproxy_http_connect_with_basic_auth";
    let Some(tools) = harness::tools(test) else {
        return;
    };
    let Some(tinyproxy) = program(test, "tinyproxy", "tinyproxy") else {
        return;
    };
    let broker = Broker::start(&tools);
    let dir = TempDir::new("fwd-tinyproxy");
    let port = free_port();
    // tinyproxy's configuration syntax takes only plain words as credentials.
    let config = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 600\nMaxClients 200\nLogLevel Connect\n\
         User nobody\nGroup nogroup\nBasicAuth {TINY_USER} {TINY_PASSWORD}\n"
    );
    let path = dir.path().join("tinyproxy.conf");
    fs::write(&path, config).unwrap();
    let mut cmd = Command::new(tinyproxy);
    cmd.arg("-d").arg("-c").arg(&path);
    let daemon = Daemon::start("tinyproxy", cmd, port, dir.path());

    let url = format!("http://{TINY_USER}:{TINY_PASSWORD}@127.0.0.1:{port}");
    let mut proxy = proxy_via(&broker, &url, &[]);
    produce_consume(&tools, &proxy);
    proxy.assert_healthy();
    assert_tunnelled(
        &daemon,
        &format!("CONNECT 127.0.0.1:{} HTTP/1.1", broker.port),
    );

    // Without credentials tinyproxy answers 407, and the proxy says so.
    let mut proxy = proxy_via(&broker, &format!("http://127.0.0.1:{port}"), &[]);
    assert!(api_versions_ok(proxy.addr(), Duration::from_secs(10)).is_err());
    wait_for_log(&proxy, "with 407");
    proxy.assert_healthy();
}

/// The test CA and the certificate for 127.0.0.1 it signed (tests/data/forward).
fn test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/forward")
}

/// haproxy terminating TLS (the test certificate for 127.0.0.1) on `port` and passing the
/// plaintext on to `backend`.
fn start_haproxy(haproxy: &Path, dir: &Path, port: u16, backend: u16) -> Daemon {
    let data = test_data();
    let combined = dir.join(format!("haproxy-{port}.pem"));
    let pem = fs::read_to_string(data.join("proxy.pem")).unwrap()
        + &fs::read_to_string(data.join("proxy.key")).unwrap();
    fs::write(&combined, pem).unwrap();
    let config = format!(
        "global\n    log stderr format raw local0\n\
         defaults\n    mode tcp\n    log global\n    timeout connect 5s\n    \
         timeout client 10m\n    timeout server 10m\n\
         frontend tls_in\n    bind 127.0.0.1:{port} ssl crt {}\n    default_backend plain\n\
         backend plain\n    server backend 127.0.0.1:{backend}\n",
        combined.display()
    );
    let path = dir.join(format!("haproxy-{port}.cfg"));
    fs::write(&path, config).unwrap();
    let mut cmd = Command::new(haproxy);
    cmd.arg("-f").arg(&path).arg("-db");
    Daemon::start(&format!("haproxy-{port}"), cmd, port, dir)
}

#[test]
fn https_forward_proxy_through_haproxy_tls() {
    let test = "https_forward_proxy_through_haproxy_tls";
    let Some(tools) = harness::tools(test) else {
        return;
    };
    let Some(haproxy) = program(test, "haproxy", "haproxy") else {
        return;
    };
    let broker = Broker::start(&tools);
    let dir = TempDir::new("fwd-https");
    let (http, http_port) = start_tool("http-proxy", true, dir.path());
    let port = free_port();
    let _haproxy = start_haproxy(&haproxy, dir.path(), port, http_port);
    let data = test_data();
    let url = format!("https://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{port}");
    let ca = data.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let mut proxy = proxy_via(&broker, &url, &[("SSL_CERT_FILE", ca)]);
    produce_consume(&tools, &proxy);
    proxy.assert_healthy();
    assert_tunnelled(&http, &format!("tunnel to 127.0.0.1:{} open", broker.port));

    // Without the test CA the proxy's certificate is not trusted: a clear line, no tunnel.
    let mut proxy = proxy_via(&broker, &url, &[]);
    assert!(api_versions_ok(proxy.addr(), Duration::from_secs(10)).is_err());
    wait_for_log(&proxy, "TLS handshake failed: invalid peer certificate");
    proxy.assert_healthy();
}

#[test]
fn broker_tls_through_a_socks5_forward_proxy() {
    let test = "broker_tls_through_a_socks5_forward_proxy";
    let Some(tools) = harness::tools(test) else {
        return;
    };
    let Some(haproxy) = program(test, "haproxy", "haproxy") else {
        return;
    };
    let dir = TempDir::new("fwd-broker-tls");
    // tansu behind haproxy's TLS, advertising the TLS address.
    let tls_port = free_port();
    let broker = Broker::start_advertising(&tools, Some(&format!("127.0.0.1:{tls_port}")));
    let _haproxy = start_haproxy(&haproxy, dir.path(), tls_port, broker.port);
    let (socks, socks_port) = start_tool("socks5-proxy", true, dir.path());

    let ca = test_data().join("ca.pem");
    let url = format!("socks5://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{socks_port}");
    let mut proxy = Proxy::start_for_port_with(
        tls_port,
        &[
            "--tls-enable",
            "--tls-ca-chain-cert-file",
            ca.to_str().unwrap(),
            "--log-level",
            "debug",
        ],
        &[("FORWARD_PROXY", &url)],
    );
    produce_consume(&tools, &proxy);
    proxy.assert_healthy();
    // TLS to the broker ran inside the SOCKS5 tunnel.
    assert_tunnelled(&socks, &format!("tunnel to 127.0.0.1:{tls_port} open"));
    assert!(proxy.log().contains("TLS"), "{}", proxy.log());
}

#[test]
fn curl_through_the_builtin_tools() {
    let test = "curl_through_the_builtin_tools";
    let Some(tools) = harness::tools(test) else {
        return;
    };
    let Some(curl) = program(test, "curl", "curl") else {
        return;
    };
    let dir = TempDir::new("fwd-curl");
    let site = dir.path().join("site");
    fs::create_dir(&site).unwrap();
    let body = "hello through a forward proxy\n".repeat(1000);
    fs::write(site.join("hello.txt"), &body).unwrap();
    let web_port = free_port();
    let mut cmd = Command::new(&tools.python);
    cmd.args([
        "-m",
        "http.server",
        &web_port.to_string(),
        "--bind",
        "127.0.0.1",
    ])
    .current_dir(&site);
    let _web = Daemon::start("http.server", cmd, web_port, dir.path());
    let url = format!("http://127.0.0.1:{web_port}/hello.txt");

    let curl_via = |proxy: &str, tunnel: bool| {
        let mut cmd = Command::new(&curl);
        cmd.args(["-sS", "-f", "--max-time", "20", "-x", proxy]);
        if tunnel {
            cmd.arg("--proxytunnel");
        }
        cmd.arg(&url).output().expect("run curl")
    };
    let (socks, socks_port) = start_tool("socks5-proxy", true, dir.path());
    let (http, http_port) = start_tool("http-proxy", true, dir.path());
    for (proxy, tunnel) in [
        (
            format!("socks5h://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{socks_port}"),
            false,
        ),
        (
            format!("http://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{http_port}"),
            true,
        ),
    ] {
        let out = curl_via(&proxy, tunnel);
        assert!(
            out.status.success(),
            "curl -x {proxy}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == body.as_bytes(), "curl -x {proxy}: wrong body");
    }
    assert_tunnelled(&socks, &format!("tunnel to 127.0.0.1:{web_port} open"));
    assert_tunnelled(&http, &format!("tunnel to 127.0.0.1:{web_port} open"));

    // Wrong credentials are refused by both, and each tool logs why.
    for proxy in [
        format!("socks5h://{USER}:wrong@127.0.0.1:{socks_port}"),
        format!("http://{USER}:wrong@127.0.0.1:{http_port}"),
    ] {
        let out = curl_via(&proxy, true);
        assert!(!out.status.success(), "curl -x {proxy} succeeded");
    }
    assert_tunnelled(
        &socks,
        &format!("authentication failed for user \"{USER}\""),
    );
    assert_tunnelled(&http, &format!("authentication failed for user \"{USER}\""));
    // A plain GET through the HTTP proxy: only CONNECT is served.
    let out = curl_via(
        &format!("http://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{http_port}"),
        false,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("405"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// --- Misbehaving forward proxies ------------------------------------------------------------

/// What a scripted fake proxy does with one connection.
#[derive(Clone, Copy, Debug)]
enum Act {
    /// A correct SOCKS5 or HTTP CONNECT proxy: connects to the target and relays.
    Good,
    Socks5RejectAuth,
    Socks5Malformed,
    Socks5Refused,
    Socks5CloseMidHandshake,
    Http407,
    Http502,
    HttpMalformed,
    HttpOversize,
    HttpCloseMidHandshake,
    HttpSilent,
}

/// A fake proxy on a free port that treats each connection as the act `next` holds when it
/// arrives. It runs until the test process ends.
fn fake_proxy(next: Arc<Mutex<Act>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            let act = *next.lock().unwrap();
            thread::spawn(move || {
                let _ = socket.set_read_timeout(Some(Duration::from_secs(30)));
                act_out(act, socket);
            });
        }
    });
    port
}

fn read_n(s: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

fn read_http_head(s: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.extend(read_n(s, 1)?);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn act_out(act: Act, mut s: TcpStream) {
    let r = (|| -> std::io::Result<()> {
        match act {
            Act::Good => {
                let first = read_n(&mut s, 1)?;
                let target = if first[0] == 5 {
                    socks5_accept(&mut s)?
                } else {
                    let head =
                        String::from_utf8_lossy(&first).into_owned() + &read_http_head(&mut s)?;
                    let target = head.split(' ').nth(1).unwrap_or_default().to_string();
                    target
                };
                let upstream = TcpStream::connect(&target)?;
                if first[0] != 5 {
                    s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
                }
                relay(s, upstream);
            }
            Act::Socks5RejectAuth => {
                read_socks5_greeting(&mut s)?;
                s.write_all(&[5, 2])?;
                let head = read_n(&mut s, 2)?;
                let user = read_n(&mut s, head[1] as usize)?;
                let plen = read_n(&mut s, 1)?;
                let _ = (user, read_n(&mut s, plen[0] as usize)?);
                s.write_all(&[1, 1])?;
            }
            Act::Socks5Malformed => {
                read_socks5_greeting(&mut s)?;
                s.write_all(&[4, 0])?;
            }
            Act::Socks5Refused => {
                read_socks5_greeting(&mut s)?;
                s.write_all(&[5, 0])?;
                let _ = s.read(&mut [0u8; 300])?;
                s.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0])?;
            }
            Act::Socks5CloseMidHandshake => {
                read_socks5_greeting(&mut s)?;
                s.write_all(&[5])?;
            }
            Act::Http407 => {
                read_http_head(&mut s)?;
                s.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")?;
            }
            Act::Http502 => {
                read_http_head(&mut s)?;
                s.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")?;
            }
            Act::HttpMalformed => {
                read_http_head(&mut s)?;
                s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n")?;
            }
            Act::HttpOversize => {
                read_http_head(&mut s)?;
                s.write_all(b"HTTP/1.1 200 OK\r\n")?;
                s.write_all(&vec![b'x'; 64 * 1024])?;
            }
            Act::HttpCloseMidHandshake => {
                read_http_head(&mut s)?;
                s.write_all(b"HTTP/1.1 200 Conn")?;
            }
            Act::HttpSilent => {
                read_http_head(&mut s)?;
                thread::sleep(Duration::from_secs(5));
            }
        }
        Ok(())
    })();
    if let Err(e) = r {
        eprintln!("fake proxy, {act:?}: {e}");
    }
}

fn read_socks5_greeting(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let head = read_n(s, 2)?;
    read_n(s, head[1] as usize)
}

/// The rest of a SOCKS5 handshake after the version byte; returns the target `host:port`.
fn socks5_accept(s: &mut TcpStream) -> std::io::Result<String> {
    let n = read_n(s, 1)?[0] as usize;
    let methods = read_n(s, n)?;
    if methods.contains(&2) {
        s.write_all(&[5, 2])?;
        let head = read_n(s, 2)?;
        read_n(s, head[1] as usize)?;
        let plen = read_n(s, 1)?[0] as usize;
        read_n(s, plen)?;
        s.write_all(&[1, 0])?;
    } else {
        s.write_all(&[5, 0])?;
    }
    let request = read_n(s, 4)?;
    let host = match request[3] {
        1 => {
            let ip = read_n(s, 4)?;
            format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
        }
        3 => {
            let len = read_n(s, 1)?[0] as usize;
            String::from_utf8_lossy(&read_n(s, len)?).into_owned()
        }
        _ => return Err(std::io::ErrorKind::InvalidData.into()),
    };
    let port = read_n(s, 2)?;
    s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    Ok(format!("{host}:{}", u16::from_be_bytes([port[0], port[1]])))
}

fn relay(client: TcpStream, upstream: TcpStream) {
    let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let (mut c1, mut u1) = (client, upstream);
    let _ = c1.set_read_timeout(None);
    let _ = u1.set_read_timeout(None);
    let back = thread::spawn(move || {
        let _ = std::io::copy(&mut u2, &mut c2);
        let _ = c2.shutdown(Shutdown::Both);
    });
    let _ = std::io::copy(&mut c1, &mut u1);
    let _ = u1.shutdown(Shutdown::Both);
    let _ = back.join();
}

fn wait_for_log(proxy: &Proxy, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the proxy log:\n{}",
            proxy.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Each misbehaviour fails one client connection with a clear line in the log; the next
/// connection, through the same proxy, works.
fn check_acts(broker: &Broker, url: &str, acts: &[(Act, &str)], extra: &[&str]) {
    let next = Arc::new(Mutex::new(Act::Good));
    let port = fake_proxy(Arc::clone(&next));
    let url = url.replace("PORT", &port.to_string());
    let mut args = vec!["--log-level", "debug"];
    args.extend_from_slice(extra);
    let mut proxy = Proxy::start_with(broker, &args, &[("FORWARD_PROXY", &url)]);
    // The harness's readiness check was a client connection too, and costs a dial through
    // the fake: let it finish before the script starts.
    api_versions_ok(proxy.addr(), Duration::from_secs(15)).expect("a good first connection");
    thread::sleep(Duration::from_millis(200));
    for (act, needle) in acts {
        *next.lock().unwrap() = *act;
        let bad = api_versions_ok(proxy.addr(), Duration::from_secs(15));
        assert!(bad.is_err(), "{act:?}: the connection worked");
        wait_for_log(&proxy, needle);
        let line = proxy
            .log()
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_default()
            .to_string();
        assert!(
            line.contains(&format!("127.0.0.1:{port}")),
            "{act:?}: the line does not name the proxy: {line}"
        );
        *next.lock().unwrap() = Act::Good;
        api_versions_ok(proxy.addr(), Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("after {act:?}, a good connection failed: {e}"));
        proxy.assert_healthy();
    }
    assert!(!proxy.log().contains("hunter2"), "password in the log");
}

#[test]
fn misbehaving_forward_proxies_fail_only_their_connection() {
    let test = "misbehaving_forward_proxies_fail_only_their_connection";
    let Some(tools) = harness::tools(test) else {
        return;
    };
    let broker = Broker::start(&tools);
    check_acts(
        &broker,
        "socks5://user:hunter2@127.0.0.1:PORT",
        &[
            (
                Act::Socks5RejectAuth,
                "rejected the username or password (RFC 1929 status 0x01)",
            ),
            (
                Act::Socks5Malformed,
                "sent a malformed SOCKS5 reply: version 0x04, expected 0x05",
            ),
            (Act::Socks5Refused, "connection refused (SOCKS5 reply 5)"),
            (
                Act::Socks5CloseMidHandshake,
                "closed the connection during the SOCKS5 greeting",
            ),
        ],
        &[],
    );
    check_acts(
        &broker,
        "http://127.0.0.1:PORT",
        &[
            (Act::Http407, "with 407 Proxy Authentication Required"),
            (Act::Http502, "with 502 Bad Gateway"),
            (Act::HttpMalformed, "not an HTTP response"),
            (Act::HttpOversize, "longer than 16384 bytes"),
            (
                Act::HttpCloseMidHandshake,
                "closed the connection in reply to HTTP CONNECT",
            ),
            (
                Act::HttpSilent,
                "no answer in reply to HTTP CONNECT within --kafka-dial-timeout (2s)",
            ),
        ],
        &["--kafka-dial-timeout", "2s"],
    );

    // A proxy that refuses the TCP connection.
    let closed = free_port();
    let mut proxy = Proxy::start_with(
        &broker,
        &["--log-level", "debug"],
        &[("FORWARD_PROXY", &format!("socks5://127.0.0.1:{closed}"))],
    );
    assert!(api_versions_ok(proxy.addr(), Duration::from_secs(10)).is_err());
    wait_for_log(
        &proxy,
        &format!("forward proxy socks5://127.0.0.1:{closed}: cannot connect"),
    );
    proxy.assert_healthy();
}

/// Runs `kafka-proxy server` with `args` and `vars` only, expecting it to exit at startup.
fn startup_failure(args: &[&str], vars: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-proxy"))
        .env_clear()
        .envs(vars.iter().copied())
        .args([
            "server",
            "--bootstrap-server-mapping",
            &format!("127.0.0.1:1,127.0.0.1:{}", free_port()),
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kafka-proxy");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_forward_proxy_urls_are_startup_errors() {
    for (url, needle) in [
        ("ftp://127.0.0.1:21", "unknown scheme"),
        ("socks5://user:hunter2@127.0.0.1", "port"),
        ("http://127.0.0.1", "port"),
        ("socks4://127.0.0.1:1080", "unknown scheme"),
    ] {
        let (code, stderr) = startup_failure(&["--forward-proxy", url], &[]);
        assert_eq!(code, 2, "{url}: {stderr}");
        assert!(
            stderr.contains("--forward-proxy") && stderr.contains(needle),
            "{url}: {stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "{url}: password shown: {stderr}"
        );
        // The same from the environment, which the message names.
        let (code, stderr) = startup_failure(&[], &[("FORWARD_PROXY", url)]);
        assert_eq!(code, 2, "{url}: {stderr}");
        assert!(stderr.contains("FORWARD_PROXY"), "{url}: {stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "{url}: password shown: {stderr}"
        );
    }
    // An https proxy whose trust store cannot be read fails at startup, naming it.
    let (code, stderr) = startup_failure(
        &["--forward-proxy", "https://127.0.0.1:3128"],
        &[("SSL_CERT_FILE", "/nonexistent/ca.pem")],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("SSL_CERT_FILE /nonexistent/ca.pem"),
        "{stderr}"
    );
}

/// `server --check` dials the broker through `--forward-proxy`: the line names the forward
/// proxy (never its credentials), the forward proxy sees the tunnel, and refused credentials
/// fail the dial line.
#[test]
fn check_dials_through_the_forward_proxy() {
    let Some(tools) = harness::tools("check_dials_through_the_forward_proxy") else {
        return;
    };
    let broker = Broker::start(&tools);
    let dir = TempDir::new("fwd-check");
    let (socks, port) = start_tool("socks5-proxy", true, dir.path());
    let map = crate::preflight::mapping(&broker.bootstrap());
    let run = |password: &str| {
        let url = format!("socks5://{USER}:{password}@127.0.0.1:{port}");
        crate::preflight::run_check(
            &["--bootstrap-server-mapping", &map],
            &[("FORWARD_PROXY", &url)],
        )
    };
    let dial = format!(
        "dial {} through socks5://127.0.0.1:{port}",
        broker.bootstrap()
    );
    let good = run(PASSWORD_IN_URL);
    assert_eq!(good.code, Some(0), "{}{}", good.stdout, good.stderr);
    assert!(good.line("forward proxy").starts_with("ok "));
    assert!(good.line(&dial).starts_with("ok "));
    assert_tunnelled(&socks, &format!("tunnel to 127.0.0.1:{} open", broker.port));

    let bad = run("wrong");
    assert_eq!(bad.code, Some(1), "{}", bad.stdout);
    let line = bad.line(&dial);
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(
        !bad.stdout.contains(PASSWORD) && !bad.stdout.contains(PASSWORD_IN_URL),
        "{}",
        bad.stdout
    );
}
