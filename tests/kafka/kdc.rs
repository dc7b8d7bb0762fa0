//! A throwaway MIT Kerberos realm for the GSSAPI tests: a database made with `kdb5_util
//! create -s` in a temp directory (KRB5_CONFIG and KRB5_KDC_PROFILE point at the temp
//! krb5.conf and kdc.conf), principals and keytabs made with `kadmin.local`, and `krb5kdc -n`
//! (foreground) on a loopback port the test picks, stopped and reaped on drop. Only the
//! AES-CTS-HMAC-SHA1 enctypes (17 and 18) are enabled: the ones a proxy's Kerberos client
//! has to support against a modern KDC and the JDK's defaults.

use crate::cluster::{Cluster, Protocol, Spec, SASL_MECHANISMS};
use crate::harness::{free_port, TempDir};
use crate::tools::{in_ci, KafkaTools};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const REALM: &str = "KAFKA-PROXY.TEST";
const ENCTYPES: &str = "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96";
const SBIN: &str = "/usr/sbin";

pub struct Kdc {
    dir: TempDir,
    child: Child,
    pub port: u16,
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Kdc {
    /// A running KDC, or `None` when MIT Kerberos is not installed (a failure under CI).
    pub fn start(test: &str) -> Option<Kdc> {
        Kdc::start_at(test, None)
    }

    /// A KDC whose clock runs `offset` (faketime's syntax, e.g. `+2h`) from the machine's:
    /// libfaketime preloaded into krb5kdc (a dynamically linked Debian binary), so the
    /// client's clock and the machine's stay untouched.
    pub fn start_skewed(test: &str, offset: &str) -> Option<Kdc> {
        if !Path::new("/usr/bin/faketime").exists() {
            let why = "faketime is not installed (apt-get install faketime)";
            assert!(
                !in_ci(),
                "{test}: CI is set, so a missing tool is a failure: {why}"
            );
            eprintln!("skipping: {test}: {why}");
            return None;
        }
        Kdc::start_at(test, Some(offset))
    }

    fn start_at(test: &str, offset: Option<&str>) -> Option<Kdc> {
        if !Path::new(SBIN).join("krb5kdc").exists() {
            let why = "MIT Kerberos is not installed (apt-get install krb5-kdc krb5-admin-server)";
            assert!(
                !in_ci(),
                "{test}: CI is set, so a missing tool is a failure: {why}"
            );
            eprintln!("skipping: {test}: {why}");
            return None;
        }
        let dir = TempDir::new("kafka-proxy-kdc");
        let port = free_port();
        write_config(dir.path(), port);
        let mut kdc = Kdc {
            child: Command::new("true").spawn().expect("spawn true"),
            dir,
            port,
        };
        kdc.run(
            "kdb5_util",
            &["create", "-s", "-P", "master-password-for-tests"],
        );
        let krb5kdc = Path::new(SBIN).join("krb5kdc");
        let mut command = match offset {
            Some(offset) => {
                let mut c = kdc.command("/usr/bin/faketime");
                c.arg("-f").arg(offset).arg(&krb5kdc);
                c
            }
            None => kdc.command(&krb5kdc),
        };
        kdc.child = command
            .arg("-n")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start krb5kdc");
        kdc.wait_listening();
        Some(kdc)
    }

    /// krb5.conf for clients (the proxy's --gssapi-krb5, the JVM's java.security.krb5.conf).
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// Adds `name@REALM` with `password`.
    pub fn add_principal(&self, name: &str, password: &str) {
        self.kadmin(&format!("addprinc -pw {password} {name}"));
    }

    /// A keytab holding the current keys of `name@REALM` (without changing them).
    pub fn keytab(&self, name: &str) -> PathBuf {
        let path = self
            .dir
            .path()
            .join(format!("{}.keytab", name.replace('/', "_")));
        self.kadmin(&format!("ktadd -norandkey -k {} {name}", path.display()));
        path
    }

    /// Runs a client tool (kinit, klist) against this realm, with its own credential cache.
    pub fn client(&self, tool: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .command(tool)
            .env("KRB5CCNAME", self.dir.path().join("ccache"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        if let Some(text) = stdin {
            let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("wait client")
    }

    /// Adds `name@REALM` with `password`, requiring pre-authentication (PA-ENC-TIMESTAMP),
    /// as production realms do; the plain `add_principal` lets the KDC answer without.
    pub fn add_preauth_principal(&self, name: &str, password: &str) {
        self.kadmin(&format!("addprinc +requires_preauth -pw {password} {name}"));
    }

    /// Gives `name@REALM` a new random key: keytabs exported before no longer work.
    pub fn rekey(&self, name: &str) {
        self.kadmin(&format!("cpw -randkey {name}"));
    }

    /// Adds `name@REALM` with a random key (a service, or a client that logs in by keytab).
    pub fn add_random(&self, name: &str) {
        self.kadmin(&format!("addprinc -randkey {name}"));
    }

    fn kadmin(&self, query: &str) {
        self.run("kadmin.local", &["-q", query]);
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(Path::new(SBIN).join(tool))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !err.contains("error"),
            "{tool} {args:?}: {err}"
        );
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("KRB5_CONFIG", self.krb5_conf())
            .env("KRB5_KDC_PROFILE", self.dir.path().join("kdc.conf"));
        c
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("krb5kdc exited: {status}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("krb5kdc did not listen on port {}", self.port);
    }
}

fn write_config(dir: &Path, port: u16) {
    let d = dir.display();
    let krb5 = format!(
        "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n \
         dns_lookup_realm = false\n rdns = false\n udp_preference_limit = 1\n \
         default_tkt_enctypes = {ENCTYPES}\n default_tgs_enctypes = {ENCTYPES}\n \
         permitted_enctypes = {ENCTYPES}\n\n[realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"
    );
    let kdc = format!(
        "[kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n\n[realms]\n \
         {REALM} = {{\n  database_name = {d}/principal\n  key_stash_file = {d}/stash\n  \
         acl_file = {d}/kadm5.acl\n  supported_enctypes = aes256-cts-hmac-sha1-96:normal \
         aes128-cts-hmac-sha1-96:normal\n  master_key_type = aes256-cts-hmac-sha1-96\n }}\n\n\
         [logging]\n kdc = FILE:{d}/kdc.log\n"
    );
    std::fs::write(dir.join("krb5.conf"), krb5).expect("write krb5.conf");
    std::fs::write(dir.join("kdc.conf"), kdc).expect("write kdc.conf");
    std::fs::write(dir.join("kadm5.acl"), "").expect("write kadm5.acl");
}

/// The realm works: the broker's service principal and the proxy's client principal get
/// tickets from the keytab and from the password, and a wrong password or an unknown
/// principal is refused, with MIT's own tools (the proxy's client is tested in gssapi.rs).
#[test]
fn kdc_issues_tickets_for_keytab_and_password() {
    let Some(kdc) = Kdc::start("kdc_issues_tickets_for_keytab_and_password") else {
        return;
    };
    kdc.add_principal("kafka/localhost", "broker-secret");
    kdc.add_principal("proxy", "proxy-secret");
    let keytab = kdc.keytab("kafka/localhost");
    let keytab = keytab.to_str().unwrap();
    let ok = |o: &Output| o.status.success();
    let text = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let by_keytab = kdc.client("kinit", &["-k", "-t", keytab, "kafka/localhost"], None);
    assert!(ok(&by_keytab), "kinit -kt: {}", text(&by_keytab));
    let list = kdc.client("klist", &["-e"], None);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains(&format!("krbtgt/{REALM}@{REALM}")),
        "{listed}"
    );
    assert!(listed.contains("aes256-cts-hmac-sha1-96"), "{listed}");

    let by_password = kdc.client("kinit", &["proxy"], Some("proxy-secret\n"));
    assert!(ok(&by_password), "kinit proxy: {}", text(&by_password));
    // The TGS exchange for the broker's SPN, as the proxy will do it.
    let service = kdc.client("kvno", &["kafka/localhost"], None);
    assert!(ok(&service), "kvno: {}", text(&service));
    let wrong = kdc.client("kinit", &["proxy"], Some("wrong\n"));
    assert!(
        !ok(&wrong) && text(&wrong).contains("ncorrect"),
        "{}",
        text(&wrong)
    );
    let unknown = kdc.client("kinit", &["nobody"], Some("x\n"));
    assert!(
        !ok(&unknown) && text(&unknown).contains("not found"),
        "{}",
        text(&unknown)
    );
}

/// `spec` with GSSAPI enabled on its SASL listeners: the broker principal
/// `kafka/localhost@REALM` from `keytab`, the realm of `kdc`.
pub fn with_gssapi(mut spec: Spec, kdc: &Kdc, keytab: &Path) -> Spec {
    let jaas = format!(
        "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true \
         keyTab=\"{}\" principal=\"kafka/localhost@{REALM}\";",
        keytab.display()
    );
    spec = spec
        .prop(
            "sasl.enabled.mechanisms",
            &format!("{SASL_MECHANISMS},GSSAPI"),
        )
        .prop("sasl.kerberos.service.name", "kafka")
        .jvm_arg(&format!(
            "-Djava.security.krb5.conf={}",
            kdc.krb5_conf().display()
        ));
    for l in ["px_sasl", "dx_sasl"] {
        spec = spec.prop(&format!("listener.name.{l}.gssapi.sasl.jaas.config"), &jaas);
    }
    spec
}

/// SaslHandshake v1 for `mechanism` on a fresh connection: the error code and the
/// mechanisms the broker lists.
fn sasl_handshake(addr: &str, mechanism: &str) -> (i16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect broker");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut body = vec![0, 17, 0, 1, 0, 0, 0, 7, 0, 4];
    body.extend_from_slice(b"test");
    body.extend_from_slice(&(mechanism.len() as u16).to_be_bytes());
    body.extend_from_slice(mechanism.as_bytes());
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    s.write_all(&frame).expect("send SaslHandshake");
    let mut size = [0u8; 4];
    s.read_exact(&mut size).expect("read size");
    let size = u32::from_be_bytes(size) as usize;
    assert!((6..65536).contains(&size), "response size {size}");
    let mut resp = vec![0u8; size];
    s.read_exact(&mut resp).expect("read response");
    let code = i16::from_be_bytes([resp[4], resp[5]]);
    (code, String::from_utf8_lossy(&resp[6..]).into_owned())
}

/// Apache Kafka's SASL_PLAINTEXT listeners with GSSAPI on, against the test realm: the broker
/// logs in with its keytab at startup (so the realm, keytab and krb5.conf fit) and accepts the
/// GSSAPI mechanism. The proxy logging in to it is tests/kafka/gssapi.rs.
#[test]
fn kafka_broker_enables_gssapi() {
    let test = "kafka_broker_enables_gssapi";
    let Some(tools) = KafkaTools::find(test) else {
        return;
    };
    let Some(kdc) = Kdc::start(test) else {
        return;
    };
    kdc.kadmin("addprinc -randkey kafka/localhost");
    let keytab = kdc.keytab("kafka/localhost");
    let spec = with_gssapi(Spec::single(&[Protocol::SaslPlaintext]), &kdc, &keytab);
    let cluster = Cluster::start(&tools, spec);
    let addr = cluster.direct_bootstrap(Protocol::SaslPlaintext);
    let (code, mechanisms) = sasl_handshake(&addr, "GSSAPI");
    assert_eq!(code, 0, "GSSAPI refused; broker lists {mechanisms}");
    assert!(mechanisms.contains("GSSAPI"), "{mechanisms}");
}
