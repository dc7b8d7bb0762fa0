//! TLS on both sides, end to end: certificates made here with the openssl CLI; tansu behind
//! HAProxy as the TLS-speaking broker (tansu itself cannot enable TLS from its command line);
//! confluent-kafka (librdkafka) configured for SSL as the client; Python's ssl module for bare
//! handshakes that show which certificate the proxy serves.
//!
//! Needs `openssl` and `haproxy` (installed by scripts/test.sh) besides tansu and the venv.

use crate::clients;
use crate::harness::{self, Broker, Proxy, TempDir, Tools};
use crate::json::Value;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "s3cret pass";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

pub(crate) struct Env {
    pub(crate) tools: Tools,
    pub(crate) haproxy: PathBuf,
}

/// The tools these tests need, or `None` after `skipping: ...` (a failure under CI).
pub(crate) fn env(test: &str) -> Option<Env> {
    let tools = harness::tools(test)?;
    let missing: Vec<&str> = ["openssl", "haproxy"]
        .into_iter()
        .filter(|t| on_path(t).is_none())
        .collect();
    if !missing.is_empty() {
        let why = format!(
            "{} not found (scripts/test.sh installs them)",
            missing.join(", ")
        );
        if in_ci() {
            panic!("{test}: CI is set, so a missing tool is a failure: {why}");
        }
        eprintln!("skipping: {test}: {why}");
        return None;
    }
    Some(Env {
        tools,
        haproxy: on_path("haproxy").unwrap(),
    })
}

/// A throw-away PKI in a temp dir, made with the openssl CLI.
pub(crate) struct Pki {
    dir: TempDir,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let pki = Pki {
            dir: TempDir::new("kafka-proxy-e2e-pki"),
        };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=e2e test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=other CA",
            "-keyout",
            "other-ca.key",
            "-out",
            "other-ca.pem",
        ]);
        fs::write(pki.path("index.txt"), "").unwrap();
        fs::write(pki.path("serial"), "1000\n").unwrap();
        fs::write(
            pki.path("ca.cnf"),
            "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n\
             default_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n\
             organizationName=optional\n",
        )
        .unwrap();
        fs::write(
            pki.path("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        fs::write(
            pki.path("wrong-host.ext"),
            "subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        fs::write(pki.path("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        pki.issue("server", "/CN=localhost", "server.ext", "ca", None);
        pki.issue("client", "/O=team/CN=client-1", "client.ext", "ca", None);
        pki.issue("intruder", "/O=team/CN=intruder", "client.ext", "ca", None);
        pki.issue(
            "expired",
            "/CN=localhost",
            "server.ext",
            "ca",
            Some(("20200101000000Z", "20200102000000Z")),
        );
        pki.issue(
            "wrong-host",
            "/CN=wrong.example",
            "wrong-host.ext",
            "ca",
            None,
        );
        pki.issue("untrusted", "/CN=localhost", "server.ext", "other-ca", None);
        pki.issue(
            "untrusted-client",
            "/CN=client-1",
            "client.ext",
            "other-ca",
            None,
        );
        pki
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// TLS to the broker, verified against `ca.pem`, with the client certificate and its
    /// encrypted key ([`Pki::encrypt_client_key`]; the password in TLS_CLIENT_KEY_PASSWORD).
    fn client_tls_flags(&self) -> Vec<String> {
        [
            "--tls-enable",
            "--tls-ca-chain-cert-file",
            &self.p("ca.pem"),
            "--tls-client-cert-file",
            &self.p("client.pem"),
            "--tls-client-key-file",
            &self.p("client-enc.key"),
        ]
        .map(String::from)
        .to_vec()
    }

    /// `client-enc.key`: `client.key` encrypted as PKCS#8 (PBES2, AES-256-CBC) with [`PASSWORD`].
    fn encrypt_client_key(&self) {
        self.openssl(&[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "client.key",
            "-out",
            "client-enc.key",
            "-passout",
            &format!("pass:{PASSWORD}"),
        ]);
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {}: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `NAME.key` (EC P-256) and `NAME.pem` signed by `ca`, plus `NAME.combined.pem` for HAProxy.
    pub(crate) fn issue(
        &self,
        name: &str,
        subject: &str,
        ext: &str,
        ca: &str,
        dates: Option<(&str, &str)>,
    ) {
        let key = format!("{name}.key");
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &key,
            "-out",
            &format!("{name}.csr"),
        ]);
        self.sign(name, ext, ca, dates);
    }

    fn sign(&self, name: &str, ext: &str, ca: &str, dates: Option<(&str, &str)>) {
        let (start, end) = dates.unwrap_or(("20200101000000Z", "20991231000000Z"));
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            &format!("{ca}.pem"),
            "-keyfile",
            &format!("{ca}.key"),
            "-in",
            &format!("{name}.csr"),
            "-out",
            &format!("{name}.pem"),
            "-notext",
            "-startdate",
            start,
            "-enddate",
            end,
            "-extfile",
            ext,
        ]);
        let combined = [
            fs::read(self.path(&format!("{name}.pem"))).unwrap(),
            fs::read(self.path(&format!("{name}.key"))).unwrap(),
        ]
        .concat();
        fs::write(self.path(&format!("{name}.combined.pem")), combined).unwrap();
    }

    /// The serial number of a certificate, as Python's ssl module prints it (upper-case hex).
    fn serial(&self, name: &str) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in", &self.p(name)])
            .output()
            .expect("openssl x509");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .trim_start_matches("serial=")
            .to_uppercase()
    }
}

/// HAProxy terminating TLS in front of `backend_port`, one frontend per certificate.
struct Haproxy {
    ports: Vec<u16>,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Haproxy {
    /// `frontends`: (combined cert+key file, client CA file to require a client certificate).
    fn start(env: &Env, frontends: &[(PathBuf, Option<PathBuf>)], backend_port: u16) -> Haproxy {
        Haproxy::start_on(env, frontends, backend_port, None)
    }

    /// Like [`Haproxy::start`], with the first frontend on `first_port` when given.
    fn start_on(
        env: &Env,
        frontends: &[(PathBuf, Option<PathBuf>)],
        backend_port: u16,
        first_port: Option<u16>,
    ) -> Haproxy {
        let dir = TempDir::new("kafka-proxy-e2e-haproxy");
        let mut config = String::from(
            "global\n  maxconn 200\ndefaults\n  mode tcp\n  timeout connect 5s\n  \
             timeout client 120s\n  timeout server 120s\n",
        );
        let mut ports = Vec::new();
        for (i, (cert, client_ca)) in frontends.iter().enumerate() {
            let port = match (i, first_port) {
                (0, Some(port)) => port,
                _ => harness::free_port(),
            };
            ports.push(port);
            let verify = client_ca
                .as_ref()
                .map(|ca| format!(" ca-file {} verify required", ca.display()))
                .unwrap_or_default();
            config.push_str(&format!(
                "frontend fe{i}\n  bind 127.0.0.1:{port} ssl crt {}{verify}\n  \
                 default_backend broker\n",
                cert.display()
            ));
        }
        config.push_str(&format!(
            "backend broker\n  server tansu 127.0.0.1:{backend_port}\n"
        ));
        let config_path = dir.path().join("haproxy.cfg");
        fs::write(&config_path, config).unwrap();
        let log = dir.path().join("haproxy.log");
        let out = fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(&env.haproxy)
            .args(["-db", "-f"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start haproxy");
        let mut haproxy = Haproxy {
            ports,
            child,
            log,
            _dir: dir,
        };
        for &port in &haproxy.ports.clone() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = haproxy.child.try_wait() {
                    panic!("haproxy exited with {status}:\n{}", haproxy.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "haproxy not accepting:\n{}",
                    haproxy.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        haproxy
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- haproxy log ---\n{}--- end haproxy log ---", self.log());
        }
    }
}

/// Waits until the proxy's log contains `needle`.
pub(crate) fn wait_log(proxy: &Proxy, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = proxy.log();
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "proxy log never showed {needle:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn roundtrip(env: &Env, bootstrap: &str, extra: &[&str]) -> Value {
    let topic = harness::unique("tls");
    let mut args = vec!["--topic", &topic, "--messages", "200"];
    args.extend_from_slice(extra);
    let out = clients::run(
        &env.tools,
        "tls_roundtrip.py",
        bootstrap,
        &args,
        Duration::from_secs(60),
    );
    assert_eq!(out.json.get("consumed").as_i64(), Some(200), "{}", out.json);
    assert_eq!(
        out.json.get("digest_ok").as_bool(),
        Some(true),
        "{}",
        out.json
    );
    out.json
}

fn probe(env: &Env, bootstrap: &str, args: &[&str]) -> Value {
    clients::run(
        &env.tools,
        "tls_probe.py",
        bootstrap,
        args,
        Duration::from_secs(10),
    )
    .json
}

/// Runs `kafka-proxy server ARGS` expecting it to exit at startup; returns its exit code and
/// output.
pub(crate) fn startup_failure(args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let port = harness::free_port();
    let mapping = format!("127.0.0.1:{},127.0.0.1:{port}", harness::free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-proxy"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(vars.iter().copied())
        .args(["server", "--bootstrap-server-mapping", &mapping])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kafka-proxy");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "kafka-proxy {} kept running; output:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn tls_to_broker_with_ca_verification_and_client_certificate() {
    let Some(env) = env("tls_to_broker_with_ca_verification_and_client_certificate") else {
        return;
    };
    let pki = Pki::new();
    // The client key encrypted; its password comes from the environment, never the command line.
    pki.encrypt_client_key();

    // Server-authenticated TLS: the proxy verifies HAProxy's certificate against the CA.
    {
        let terminator_port = harness::free_port();
        let broker =
            Broker::start_advertising(&env.tools, Some(&format!("127.0.0.1:{terminator_port}")));
        let haproxy = haproxy_on(
            &env,
            terminator_port,
            pki.path("server.combined.pem"),
            None,
            broker.port,
        );
        let proxy = Proxy::start_for_port(
            haproxy.ports[0],
            &[
                "--log-level",
                "debug",
                "--tls-enable",
                "--tls-ca-chain-cert-file",
                &pki.p("ca.pem"),
            ],
        );
        roundtrip(&env, &proxy.bootstrap(), &[]);
        wait_log(&proxy, "(TLS 1.3");
    }

    // Mutual TLS: HAProxy requires a client certificate signed by the CA.
    let terminator_port = harness::free_port();
    let broker =
        Broker::start_advertising(&env.tools, Some(&format!("127.0.0.1:{terminator_port}")));
    let haproxy = haproxy_on(
        &env,
        terminator_port,
        pki.path("server.combined.pem"),
        Some(pki.path("ca.pem")),
        broker.port,
    );
    let flags = pki.client_tls_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let proxy = Proxy::start_for_port_with(
        haproxy.ports[0],
        &flags,
        &[("TLS_CLIENT_KEY_PASSWORD", PASSWORD)],
    );
    roundtrip(&env, &proxy.bootstrap(), &[]);

    // Without the client certificate HAProxy refuses, and the proxy says why.
    let without = Proxy::start_for_port(
        haproxy.ports[0],
        &["--tls-enable", "--tls-ca-chain-cert-file", &pki.p("ca.pem")],
    );
    assert!(harness::api_versions_ok(without.addr(), Duration::from_secs(5)).is_err());
    wait_log(&without, "--tls-client-cert-file");
}

/// HAProxy with a single frontend on `port`: the address tansu advertises.
fn haproxy_on(
    env: &Env,
    port: u16,
    cert: PathBuf,
    client_ca: Option<PathBuf>,
    backend: u16,
) -> Haproxy {
    Haproxy::start_on(env, &[(cert, client_ca)], backend, Some(port))
}

#[test]
fn tls_bad_broker_certificates_are_named() {
    let Some(env) = env("tls_bad_broker_certificates_are_named") else {
        return;
    };
    let pki = Pki::new();
    // No broker behind HAProxy is needed: the handshake fails first.
    let haproxy = Haproxy::start(
        &env,
        &[
            (pki.path("expired.combined.pem"), None),
            (pki.path("wrong-host.combined.pem"), None),
            (pki.path("untrusted.combined.pem"), None),
        ],
        harness::free_port(),
    );
    let cases = [
        (haproxy.ports[0], "broker certificate has expired"),
        (
            haproxy.ports[1],
            "broker certificate is not valid for the broker host 127.0.0.1",
        ),
        (
            haproxy.ports[2],
            "broker certificate is not signed by a trusted CA",
        ),
    ];
    for (port, message) in cases {
        let proxy = Proxy::start_for_port(
            port,
            &["--tls-enable", "--tls-ca-chain-cert-file", &pki.p("ca.pem")],
        );
        assert!(harness::api_versions_ok(proxy.addr(), Duration::from_secs(5)).is_err());
        wait_log(&proxy, message);
    }
    // A plaintext broker port with --tls-enable: a closed handshake, named.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    let accept = std::thread::spawn(move || {
        // Reads the ClientHello like a Kafka broker reading an absurd frame size, then closes.
        if let Ok((mut s, _)) = plain.accept() {
            let mut buf = [0u8; 512];
            let _ = std::io::Read::read(&mut s, &mut buf);
        }
    });
    let proxy = Proxy::start_for_port(plain_port, &["--tls-enable"]);
    assert!(harness::api_versions_ok(proxy.addr(), Duration::from_secs(5)).is_err());
    wait_log(&proxy, "is the broker port plaintext?");
    accept.join().unwrap();

    // --tls-insecure-skip-verify accepts even the untrusted certificate, and warns at startup.
    let insecure = Proxy::start_for_port(
        haproxy.ports[2],
        &["--tls-enable", "--tls-insecure-skip-verify"],
    );
    wait_log(&insecure, "broker certificates are NOT verified");
    let _ = harness::api_versions_ok(insecure.addr(), Duration::from_secs(5));
    let log = insecure.log();
    assert!(
        !log.contains("TLS handshake with the broker failed"),
        "{log}"
    );
}

#[test]
fn tls_listener_with_confluent_kafka_mutual_tls_and_subjects() {
    let Some(env) = env("tls_listener_with_confluent_kafka_mutual_tls_and_subjects") else {
        return;
    };
    let pki = Pki::new();
    let broker = Broker::start(&env.tools);
    let listener = |extra: &[&str]| {
        let mut args = vec![
            "--log-level",
            "debug",
            "--proxy-listener-tls-enable",
            "--proxy-listener-cert-file",
        ];
        let cert = pki.p("server.pem");
        let key = pki.p("server.key");
        args.push(&cert);
        args.push("--proxy-listener-key-file");
        args.push(&key);
        args.extend_from_slice(extra);
        Proxy::start_with(&broker, &args, &[])
    };

    // Server-only TLS: confluent-kafka with security.protocol=SSL, verifying the proxy.
    let tls = listener(&[]);
    roundtrip(&env, &tls.bootstrap(), &["--ca", &pki.p("ca.pem")]);
    // A plaintext Kafka client on the TLS listener.
    assert!(harness::api_versions_ok(tls.addr(), Duration::from_secs(5)).is_err());
    wait_log(
        &tls,
        "client sent plaintext (looks like a Kafka request) to a TLS listener",
    );

    // A TLS client on a plaintext listener.
    let plain = Proxy::start(&broker);
    let out = probe(&env, &plain.bootstrap(), &[]);
    assert_eq!(out.get("ok").as_bool(), Some(false), "{out}");
    wait_log(
        &plain,
        "client started a TLS handshake on a plaintext listener",
    );

    // Mutual TLS with a subject rule: the right certificate passes, the others are refused.
    let ca = pki.p("ca.pem");
    let mutual = listener(&[
        "--proxy-listener-ca-chain-cert-file",
        &ca,
        "--proxy-listener-tls-required-client-subject",
        "s:/CN=[client-1]/O=[team]",
    ]);
    let client_args = [
        "--ca",
        &ca,
        "--cert",
        &pki.p("client.pem"),
        "--key",
        &pki.p("client.key"),
    ];
    roundtrip(&env, &mutual.bootstrap(), &client_args);
    // `openssl ca` orders the subject by its policy: CN first.
    wait_log(&mutual, "client certificate subject /CN=client-1/O=team");
    let out = probe(&env, &mutual.bootstrap(), &["--ca", &ca]);
    assert_ne!(out.get("answered").as_bool(), Some(true), "{out}");
    wait_log(
        &mutual,
        "client sent no certificate, but the listener requires one",
    );
    let intruder = [
        "--ca",
        &ca,
        "--cert",
        &pki.p("intruder.pem"),
        "--key",
        &pki.p("intruder.key"),
    ];
    let out = probe(&env, &mutual.bootstrap(), &intruder);
    assert_ne!(out.get("answered").as_bool(), Some(true), "{out}");
    wait_log(
        &mutual,
        "client certificate subject /CN=intruder/O=team is not allowed",
    );
    // A certificate from another CA is refused in the handshake.
    let out = probe(
        &env,
        &mutual.bootstrap(),
        &[
            "--ca",
            &ca,
            "--cert",
            &pki.p("untrusted-client.pem"),
            "--key",
            &pki.p("untrusted-client.key"),
        ],
    );
    assert_ne!(out.get("answered").as_bool(), Some(true), "{out}");
    wait_log(&mutual, "client certificate is not signed by a trusted CA");
    // A server certificate (extendedKeyUsage serverAuth) offered as a client certificate.
    let out = probe(
        &env,
        &mutual.bootstrap(),
        &[
            "--ca",
            &ca,
            "--cert",
            &pki.p("server.pem"),
            "--key",
            &pki.p("server.key"),
        ],
    );
    assert_ne!(out.get("answered").as_bool(), Some(true), "{out}");
    wait_log(&mutual, "client certificate is not meant for this use");

    // A regular-expression rule: client-1 passes, intruder does not.
    let pattern = listener(&[
        "--proxy-listener-ca-chain-cert-file",
        &ca,
        "--proxy-listener-tls-required-client-subject",
        "r:/CN=[client-[0-9]+]",
    ]);
    let out = probe(&env, &pattern.bootstrap(), &client_args);
    assert_eq!(out.get("answered").as_bool(), Some(true), "{out}");
    let out = probe(&env, &pattern.bootstrap(), &intruder);
    assert_ne!(out.get("answered").as_bool(), Some(true), "{out}");
    wait_log(&pattern, "is not allowed");
}

#[test]
fn tls_encrypted_key_formats_load() {
    let Some(env) = env("tls_encrypted_key_formats_load") else {
        return;
    };
    let pki = Pki::new();
    let pass = format!("pass:{PASSWORD}");
    let rsa = ["genrsa", "-out", "rsa.key", "2048"];
    pki.openssl(&rsa);
    let formats: Vec<(&str, Vec<&str>)> = vec![
        (
            "pkcs8-aes256-rsa",
            vec!["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "rsa.key"],
        ),
        (
            "pkcs8-aes128-sha256-ec",
            vec![
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-128-cbc",
                "-v2prf",
                "hmacWithSHA256",
                "-in",
                "server.key",
            ],
        ),
        (
            "pkcs8-des3-ec",
            vec!["pkcs8", "-topk8", "-v2", "des3", "-in", "server.key"],
        ),
        (
            "legacy-aes128-rsa",
            vec!["rsa", "-traditional", "-aes128", "-in", "rsa.key"],
        ),
        (
            "legacy-aes192-rsa",
            vec!["rsa", "-traditional", "-aes192", "-in", "rsa.key"],
        ),
        (
            "legacy-aes256-rsa",
            vec!["rsa", "-traditional", "-aes256", "-in", "rsa.key"],
        ),
        (
            "legacy-des3-rsa",
            vec!["rsa", "-traditional", "-des3", "-in", "rsa.key"],
        ),
        (
            "legacy-aes256-ec",
            vec!["ec", "-aes256", "-in", "server.key"],
        ),
        ("legacy-des3-ec", vec!["ec", "-des3", "-in", "server.key"]),
    ];
    // A certificate for the RSA key, signed by the CA.
    pki.openssl(&[
        "req",
        "-new",
        "-key",
        "rsa.key",
        "-subj",
        "/CN=localhost",
        "-out",
        "rsa.csr",
    ]);
    pki.sign("rsa", "server.ext", "ca", None);
    let ca = pki.p("ca.pem");
    for (name, mut args) in formats {
        let out = format!("{name}.key");
        args.extend(["-out", &out, "-passout", &pass]);
        pki.openssl(&args);
        let text = fs::read_to_string(pki.path(&out)).unwrap();
        assert!(text.contains("ENCRYPTED"), "{name}: {text}");
        let cert = if name.ends_with("rsa") {
            "rsa.pem"
        } else {
            "server.pem"
        };
        let (cert, key) = (pki.p(cert), pki.p(&out));
        let args = [
            "--proxy-listener-tls-enable",
            "--proxy-listener-cert-file",
            &cert,
            "--proxy-listener-key-file",
            &key,
        ];
        let proxy = Proxy::start_for_port_with(
            harness::free_port(),
            &args,
            &[("PROXY_LISTENER_KEY_PASSWORD", PASSWORD)],
        );
        let served = probe(&env, &proxy.bootstrap(), &["--ca", &ca]);
        assert_eq!(served.get("ok").as_bool(), Some(true), "{name}: {served}");
        // A wrong password is a startup error naming the key file and the flag.
        let (code, output) = startup_failure(&args, &[("PROXY_LISTENER_KEY_PASSWORD", "wrong")]);
        assert_eq!(code, Some(1), "{name}: {output}");
        assert!(
            output.contains(&key)
                && output.contains("wrong password (--proxy-listener-key-password)"),
            "{name}: {output}"
        );
    }
}

#[test]
fn tls_listener_certificate_reloads_without_restart() {
    let Some(env) = env("tls_listener_certificate_reloads_without_restart") else {
        return;
    };
    let pki = Pki::new();
    let live = TempDir::new("kafka-proxy-e2e-live-cert");
    let (cert, key) = (live.path().join("tls.pem"), live.path().join("tls.key"));
    fs::copy(pki.path("server.pem"), &cert).unwrap();
    fs::copy(pki.path("server.key"), &key).unwrap();
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let proxy = Proxy::start_for_port(
        harness::free_port(),
        &[
            "--proxy-listener-tls-enable",
            "--proxy-listener-cert-file",
            &cert_s,
            "--proxy-listener-key-file",
            &key_s,
            "--proxy-listener-tls-refresh",
            "300ms",
        ],
    );
    let ca = pki.p("ca.pem");
    let serial = |proxy: &Proxy| {
        let out = probe(&env, &proxy.bootstrap(), &["--ca", &ca]);
        out.get("serial").as_str().unwrap_or_default().to_string()
    };
    let first = serial(&proxy);
    assert_eq!(first, pki.serial("server.pem"));

    // A new certificate and key replace the files (each file atomically, by rename).
    pki.issue("server2", "/CN=localhost", "server.ext", "ca", None);
    let replace = |from: &Path, to: &Path| {
        let tmp = to.with_extension("new");
        fs::copy(from, &tmp).unwrap();
        fs::rename(&tmp, to).unwrap();
    };
    replace(&pki.path("server2.key"), &key);
    replace(&pki.path("server2.pem"), &cert);
    let want = pki.serial("server2.pem");
    let deadline = Instant::now() + Duration::from_secs(15);
    while serial(&proxy) != want {
        assert!(
            Instant::now() < deadline,
            "new certificate never served:\n{}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_log(&proxy, "new handshakes use the new material");

    // A broken file is logged and the last good material stays in use.
    fs::write(&cert, "not a certificate\n").unwrap();
    wait_log(&proxy, "keeping the previous material");
    assert_eq!(serial(&proxy), want);
}

#[test]
fn tls_bad_files_are_startup_errors() {
    let Some(_env) = env("tls_bad_files_are_startup_errors") else {
        return;
    };
    let pki = Pki::new();
    fs::write(pki.path("garbage.txt"), "hello\n").unwrap();
    let listener = |cert: &str, key: &str| -> Vec<String> {
        [
            "--proxy-listener-tls-enable",
            "--proxy-listener-cert-file",
            &pki.p(cert),
            "--proxy-listener-key-file",
            &pki.p(key),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            listener("server.pem", "server.pem"),
            "holds a certificate, not a private key",
        ),
        (listener("server.pem", "client.key"), "do not match"),
        (
            listener("server.pem", "garbage.txt"),
            "contains no PEM private key",
        ),
        (
            listener("server.key", "server.key"),
            "contains no PEM CERTIFICATE block",
        ),
        (listener("missing.pem", "server.key"), "cannot read"),
        (
            vec![
                "--tls-enable".into(),
                "--tls-ca-chain-cert-file".into(),
                pki.p("garbage.txt"),
            ],
            "contains no PEM CERTIFICATE block",
        ),
    ];
    for (args, message) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, output) = startup_failure(&args, &[]);
        assert_eq!(code, Some(1), "{args:?}: {output}");
        assert!(
            output.contains(message),
            "{args:?}: want {message:?} in:\n{output}"
        );
    }
}

/// `server --check` with TLS to the broker (HAProxy in front of tansu): the right CA and an
/// encrypted client key pass every step; a broker certificate from another CA fails the TLS
/// line, and a wrong key password the certificates line, each naming the cause.
#[test]
fn check_names_a_bad_certificate_and_a_wrong_key_password() {
    let Some(env) = env("check_names_a_bad_certificate_and_a_wrong_key_password") else {
        return;
    };
    let pki = Pki::new();
    pki.encrypt_client_key();
    let terminator = harness::free_port();
    let broker = Broker::start_advertising(&env.tools, Some(&format!("127.0.0.1:{terminator}")));
    let haproxy = haproxy_on(
        &env,
        terminator,
        pki.path("server.combined.pem"),
        None,
        broker.port,
    );
    let untrusted = Haproxy::start(
        &env,
        &[(pki.path("untrusted.combined.pem"), None)],
        broker.port,
    );
    let run = |port: u16, password: &str| {
        let target = format!("127.0.0.1:{port}");
        let map = crate::preflight::mapping(&target);
        let mut flags = vec!["--bootstrap-server-mapping".to_string(), map];
        flags.extend(pki.client_tls_flags());
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let checked = crate::preflight::run_check(&flags, &[("TLS_CLIENT_KEY_PASSWORD", password)]);
        (target, checked)
    };

    let (target, good) = run(haproxy.ports[0], PASSWORD);
    assert_eq!(good.code, Some(0), "{}{}", good.stdout, good.stderr);
    assert!(good.line("TLS certificates and keys").starts_with("ok "));
    assert!(good.line(&format!("TLS to {target}")).starts_with("ok "));
    assert!(good
        .line(&format!("ApiVersions to {target}"))
        .starts_with("ok "));

    let (target, bad_cert) = run(untrusted.ports[0], PASSWORD);
    assert_eq!(bad_cert.code, Some(1), "{}", bad_cert.stdout);
    let line = bad_cert.line(&format!("TLS to {target}"));
    assert!(
        line.starts_with("FAIL ")
            && line.contains("broker certificate is not signed by a trusted CA"),
        "{line}"
    );

    let (_, bad_password) = run(haproxy.ports[0], "wrong");
    assert_eq!(bad_password.code, Some(1), "{}", bad_password.stdout);
    let line = bad_password.line("TLS certificates and keys");
    assert!(
        line.starts_with("FAIL ")
            && line.contains(&pki.p("client-enc.key"))
            && line.contains("wrong password (--tls-client-key-password)"),
        "{line}"
    );
    assert!(!bad_password.stdout.contains(PASSWORD));
}
