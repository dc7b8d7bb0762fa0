//! Apache Kafka brokers for the tests: KRaft nodes (each a combined broker and controller) started
//! from the jars in `KAFKA_LIBS` on free loopback ports, with storage formatted in a temp dir per
//! cluster, and stopped by their pid when the cluster is dropped.
//!
//! Every client-facing listener comes twice:
//! - the *proxied* one advertises `broker-<id>.invalid:<port>`, a name no client can resolve:
//!   the proxy reaches it through `--dial-address-mapping`, so any broker address the proxy
//!   forgets to rewrite makes the client fail loudly instead of silently bypassing the proxy;
//! - the *direct* one advertises `127.0.0.1:<port>`, for running the same scenario without the
//!   proxy and comparing.
//!
//! The brokers replicate over a PLAINTEXT `INTERNAL` listener, and the test's own admin calls
//! (creating SCRAM users, moving leaders) use it too.

use crate::certs::Pki;
use crate::harness::{api_versions_ok, free_port, TempDir};
use crate::tools::KafkaTools;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A client-facing security protocol; each gets a proxied and a direct listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Plaintext,
    /// TLS; with `client_auth`, `ssl.client.auth=required` (mTLS).
    Ssl {
        client_auth: bool,
    },
    SaslPlaintext,
    SaslSsl,
}

impl Protocol {
    /// The `security.protocol` a client sets for it.
    pub fn security_protocol(self) -> &'static str {
        match self {
            Protocol::Plaintext => "PLAINTEXT",
            Protocol::Ssl { .. } => "SSL",
            Protocol::SaslPlaintext => "SASL_PLAINTEXT",
            Protocol::SaslSsl => "SASL_SSL",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Protocol::Plaintext => "PLAIN",
            Protocol::Ssl { client_auth: false } => "TLS",
            Protocol::Ssl { client_auth: true } => "MTLS",
            Protocol::SaslPlaintext => "SASL",
            Protocol::SaslSsl => "SASLTLS",
        }
    }

    fn uses_tls(self) -> bool {
        matches!(self, Protocol::Ssl { .. } | Protocol::SaslSsl)
    }

    fn uses_sasl(self) -> bool {
        matches!(self, Protocol::SaslPlaintext | Protocol::SaslSsl)
    }
}

/// The PLAIN users every SASL listener knows (SCRAM users are created through the Admin API).
pub const PLAIN_USERS: &[(&str, &str)] = &[
    ("admin", "admin-secret"),
    ("alice", "alice-secret"),
    ("bob", "bob-secret"),
];

/// The SASL mechanisms every SASL listener enables. OAUTHBEARER uses Kafka's unsecured
/// validator (the default when no server callback handler is configured).
pub const SASL_MECHANISMS: &str = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER";

/// What to start.
#[derive(Clone, Debug)]
pub struct Spec {
    pub brokers: usize,
    pub protocols: Vec<Protocol>,
    /// Extra broker properties (`connections.max.reauth.ms`, ...), for every node.
    pub props: Vec<(String, String)>,
    /// Extra JVM arguments of every node (`-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=...`).
    pub jvm_args: Vec<String>,
}

impl Spec {
    pub fn single(protocols: &[Protocol]) -> Spec {
        Spec {
            brokers: 1,
            protocols: protocols.to_vec(),
            props: Vec::new(),
            jvm_args: Vec::new(),
        }
    }

    pub fn cluster(brokers: usize, protocols: &[Protocol]) -> Spec {
        Spec {
            brokers,
            protocols: protocols.to_vec(),
            props: Vec::new(),
            jvm_args: Vec::new(),
        }
    }

    pub fn prop(mut self, key: &str, value: &str) -> Spec {
        self.props.push((key.into(), value.into()));
        self
    }

    pub fn jvm_arg(mut self, arg: &str) -> Spec {
        self.jvm_args.push(arg.into());
        self
    }
}

/// One node's ports.
#[derive(Clone, Debug)]
pub struct NodePorts {
    pub id: i32,
    pub controller: u16,
    pub internal: u16,
    /// (protocol, proxied port, direct port)
    pub client: Vec<(Protocol, u16, u16)>,
}

struct Node {
    ports: NodePorts,
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
}

/// A running cluster; dropping it stops every node.
pub struct Cluster {
    pub pki: Option<Pki>,
    nodes: Vec<Node>,
    tools: KafkaTools,
    dir: TempDir,
    jvm_args: Vec<String>,
}

impl Cluster {
    /// Formats storage and starts every node, then waits until each answers ApiVersions and
    /// the cluster's metadata lists every broker.
    pub fn start(tools: &KafkaTools, spec: Spec) -> Cluster {
        let dir = TempDir::new("kafka-proxy-kafka");
        let needs_tls = spec.protocols.iter().any(|p| p.uses_tls());
        let pki = needs_tls.then(|| Pki::new(&dir.path().join("pki"), spec.brokers));
        let ports: Vec<NodePorts> = (1..=spec.brokers as i32)
            .map(|id| NodePorts {
                id,
                controller: free_port(),
                internal: free_port(),
                client: spec
                    .protocols
                    .iter()
                    .map(|&p| (p, free_port(), free_port()))
                    .collect(),
            })
            .collect();
        let voters = ports
            .iter()
            .map(|p| format!("{}@127.0.0.1:{}", p.id, p.controller))
            .collect::<Vec<_>>()
            .join(",");
        let cluster_id = tools.kafka_class_output(&["kafka.tools.StorageTool", "random-uuid"]);
        let mut nodes = Vec::new();
        for p in &ports {
            let node_dir = dir.path().join(format!("node-{}", p.id));
            fs::create_dir_all(&node_dir).expect("create node dir");
            let config = node_dir.join("server.properties");
            let props = node_properties(&spec, p, &voters, &node_dir, pki.as_ref());
            fs::write(&config, props).expect("write server.properties");
            tools.kafka_class_output(&[
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                cluster_id.trim(),
                "--config",
                config.to_str().unwrap(),
            ]);
            nodes.push(Node {
                ports: p.clone(),
                child: None,
                config,
                log: node_dir.join("broker.log"),
            });
        }
        let mut cluster = Cluster {
            pki,
            nodes,
            tools: tools.clone(),
            dir,
            jvm_args: spec.jvm_args.clone(),
        };
        for i in 0..cluster.nodes.len() {
            cluster.spawn(i);
        }
        for i in 0..cluster.nodes.len() {
            cluster.wait_node(i);
        }
        cluster.wait_brokers(cluster.nodes.len());
        cluster
    }

    fn spawn(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        let out = File::options()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("open broker log");
        let err = out.try_clone().expect("clone log handle");
        let child = self
            .tools
            .kafka_java()
            .args(["-Xmx384m", "-Xms64m"])
            .args(&self.jvm_args)
            .arg(format!(
                "-Dkafka.logs.dir={}",
                node.log.parent().unwrap().display()
            ))
            .arg("kafka.Kafka")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start kafka.Kafka");
        node.child = Some(child);
    }

    /// Waits until node `index` answers ApiVersions on its internal listener.
    fn wait_node(&mut self, index: usize) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.nodes[index].ports.internal));
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let node = &mut self.nodes[index];
            let id = node.ports.id;
            if let Some(Ok(Some(status))) = node.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "kafka node {id} exited with {status} while starting\n{}",
                    self.logs()
                );
            }
            if api_versions_ok(addr, Duration::from_secs(2)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "kafka node {id} not answering on {addr} after 90 s\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the metadata served by node 1 lists `count` brokers.
    pub fn wait_brokers(&self, count: usize) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.nodes[0].ports.internal));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match metadata_broker_count(addr) {
                Ok(n) if n >= count => return,
                other if Instant::now() > deadline => {
                    panic!(
                        "the cluster never listed {count} brokers: {other:?}\n{}",
                        self.logs()
                    )
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    pub fn nodes(&self) -> Vec<NodePorts> {
        self.nodes.iter().map(|n| n.ports.clone()).collect()
    }

    fn ports_of(&self, protocol: Protocol) -> impl Iterator<Item = (i32, u16, u16)> + '_ {
        self.nodes.iter().map(move |n| {
            let (_, proxied, direct) = n
                .ports
                .client
                .iter()
                .find(|(p, _, _)| *p == protocol)
                .unwrap_or_else(|| panic!("the cluster has no {protocol:?} listener"));
            (n.ports.id, *proxied, *direct)
        })
    }

    /// `127.0.0.1:PORT,...` of every node's direct `protocol` listener.
    pub fn direct_bootstrap(&self, protocol: Protocol) -> String {
        self.ports_of(protocol)
            .map(|(_, _, d)| format!("127.0.0.1:{d}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `127.0.0.1:PORT,...` of every node's internal listener (PLAINTEXT, advertising
    /// 127.0.0.1), for the test's own admin calls.
    pub fn internal_bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.ports.internal))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The advertised (unresolvable) address of each node's proxied `protocol` listener, with
    /// the loopback address it is reachable at: `(id, "broker-<id>.invalid:P", "127.0.0.1:P")`.
    pub fn proxied(&self, protocol: Protocol) -> Vec<(i32, String, String)> {
        self.ports_of(protocol)
            .map(|(id, p, _)| {
                (
                    id,
                    format!("broker-{id}.invalid:{p}"),
                    format!("127.0.0.1:{p}"),
                )
            })
            .collect()
    }

    /// Stops node `id` (SIGTERM, a controlled shutdown, SIGKILL after 60 s) and waits for it.
    pub fn stop_node(&mut self, id: i32) {
        let node = self.node_mut(id);
        if let Some(mut child) = node.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.wait();
        }
    }

    /// Kills node `id` at once (SIGKILL): a crash, no controlled shutdown.
    pub fn kill_node(&mut self, id: i32) {
        if let Some(mut child) = self.node_mut(id).child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `id` again and waits until it answers.
    pub fn restart_node(&mut self, id: i32) {
        let index = self.index_of(id);
        self.spawn(index);
        self.wait_node(index);
    }

    fn index_of(&self, id: i32) -> usize {
        self.nodes
            .iter()
            .position(|n| n.ports.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    fn node_mut(&mut self, id: i32) -> &mut Node {
        let i = self.index_of(id);
        &mut self.nodes[i]
    }

    /// The temp dir of the cluster (certificates, configs, logs), for files a test writes.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The last lines of every node's log.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let text = fs::read_to_string(&n.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            let _ = writeln!(out, "--- kafka node {} log (last lines) ---", n.ports.id);
            for line in tail.into_iter().rev() {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

/// The server.properties of one node.
fn node_properties(
    spec: &Spec,
    p: &NodePorts,
    voters: &str,
    dir: &std::path::Path,
    pki: Option<&Pki>,
) -> String {
    let mut listeners = vec![
        format!("CONTROLLER://127.0.0.1:{}", p.controller),
        format!("INTERNAL://127.0.0.1:{}", p.internal),
    ];
    let mut advertised = vec![format!("INTERNAL://127.0.0.1:{}", p.internal)];
    let mut map = vec![
        "CONTROLLER:PLAINTEXT".to_string(),
        "INTERNAL:PLAINTEXT".into(),
    ];
    let mut extra = String::new();
    for &(protocol, proxied, direct) in &p.client {
        for (name, port, host) in [
            (
                format!("PX_{}", protocol.tag()),
                proxied,
                format!("broker-{}.invalid", p.id),
            ),
            (
                format!("DX_{}", protocol.tag()),
                direct,
                "127.0.0.1".to_string(),
            ),
        ] {
            listeners.push(format!("{name}://127.0.0.1:{port}"));
            advertised.push(format!("{name}://{host}:{port}"));
            map.push(format!("{name}:{}", protocol.security_protocol()));
            extra.push_str(&listener_properties(&name, protocol, pki));
        }
    }
    let n = spec.brokers.min(3);
    let mut s = format!(
        "process.roles=broker,controller\n\
         node.id={id}\n\
         controller.quorum.voters={voters}\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=INTERNAL\n\
         listeners={listeners}\n\
         advertised.listeners={advertised}\n\
         listener.security.protocol.map={map}\n\
         log.dirs={dir}/data\n\
         offsets.topic.replication.factor={n}\n\
         offsets.topic.num.partitions=5\n\
         transaction.state.log.replication.factor={n}\n\
         transaction.state.log.min.isr=1\n\
         transaction.state.log.num.partitions=5\n\
         share.coordinator.state.topic.replication.factor={n}\n\
         share.coordinator.state.topic.min.isr=1\n\
         share.coordinator.state.topic.num.partitions=3\n\
         group.initial.rebalance.delay.ms=0\n\
         auto.create.topics.enable=true\n\
         num.partitions=1\n\
         default.replication.factor=1\n\
         sasl.enabled.mechanisms={SASL_MECHANISMS}\n\
         {extra}",
        id = p.id,
        listeners = listeners.join(","),
        advertised = advertised.join(","),
        map = map.join(","),
        dir = dir.display(),
    );
    for (k, v) in &spec.props {
        let _ = writeln!(s, "{k}={v}");
    }
    s
}

/// The per-listener settings: TLS keystore and truststore, client auth, SASL JAAS configs.
fn listener_properties(name: &str, protocol: Protocol, pki: Option<&Pki>) -> String {
    let l = name.to_lowercase();
    let mut s = String::new();
    if protocol.uses_tls() {
        let pki = pki.expect("a TLS listener needs the PKI");
        let _ = writeln!(s, "listener.name.{l}.ssl.keystore.type=PEM");
        let _ = writeln!(
            s,
            "listener.name.{l}.ssl.keystore.location={}",
            pki.path("broker-keystore.pem").display()
        );
        let _ = writeln!(s, "listener.name.{l}.ssl.truststore.type=PEM");
        let _ = writeln!(
            s,
            "listener.name.{l}.ssl.truststore.location={}",
            pki.path("ca.pem").display()
        );
        if protocol == (Protocol::Ssl { client_auth: true }) {
            let _ = writeln!(s, "listener.name.{l}.ssl.client.auth=required");
        }
    }
    if protocol.uses_sasl() {
        let users: String = PLAIN_USERS
            .iter()
            .map(|(u, p)| format!(" user_{u}=\"{p}\""))
            .collect();
        let _ = writeln!(
            s,
            "listener.name.{l}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required{users};"
        );
        for m in ["scram-sha-256", "scram-sha-512"] {
            let _ = writeln!(
                s,
                "listener.name.{l}.{m}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
            );
        }
        let _ = writeln!(
            s,
            "listener.name.{l}.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"admin\";"
        );
    }
    s
}

/// Sends Metadata v4 (all topics) by hand and returns how many brokers the answer lists.
fn metadata_broker_count(addr: SocketAddr) -> Result<usize, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.set_write_timeout(Some(Duration::from_secs(5))).ok();
    let mut body = Vec::new();
    body.extend_from_slice(&3i16.to_be_bytes()); // Metadata
    body.extend_from_slice(&4i16.to_be_bytes()); // v4
    body.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    body.extend_from_slice(&(-1i16).to_be_bytes()); // client id null
    body.extend_from_slice(&(-1i32).to_be_bytes()); // topics null: all
    body.push(0); // allow_auto_topic_creation false
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    s.write_all(&frame).map_err(|e| e.to_string())?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).map_err(|e| e.to_string())?;
    let size = i32::from_be_bytes(head);
    if !(12..1 << 24).contains(&size) {
        return Err(format!("bad Metadata size {size}"));
    }
    let mut resp = vec![0u8; size as usize];
    s.read_exact(&mut resp).map_err(|e| e.to_string())?;
    // correlation id (4), throttle time (4), brokers array length (4)
    let n = i32::from_be_bytes(resp[8..12].try_into().unwrap());
    usize::try_from(n).map_err(|_| format!("bad broker count {n}"))
}
