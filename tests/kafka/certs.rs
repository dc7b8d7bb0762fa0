//! A throw-away PKI for the TLS listeners, made with the openssl CLI: an EC CA (X.509 v3), a
//! broker certificate for 127.0.0.1, localhost and every `broker-<id>.invalid`, and a client
//! certificate made the common way, `openssl x509 -req` with no extensions: an X.509 v1
//! certificate, which Java, librdkafka and OpenSSL accept (and the proxy must too).
//!
//! Files: `ca.pem`, `broker-keystore.pem` (key and certificate, Kafka's PEM keystore),
//! `client.key`, `client-v1.pem`, `client-keystore.pem` (for the Java client's direct runs).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path, brokers: usize) -> Pki {
        fs::create_dir_all(dir).expect("create pki dir");
        let pki = Pki {
            dir: dir.to_path_buf(),
        };
        for key in ["ca.key", "client.key"] {
            pki.openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                key,
            ]);
        }
        pki.openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=kafka-proxy test CA",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "ca.pem",
        ]);
        let names: String = (1..=brokers)
            .map(|id| format!(",DNS:broker-{id}.invalid"))
            .collect();
        pki.issue(
            "broker",
            "/CN=broker",
            &format!(
                "subjectAltName=IP:127.0.0.1,DNS:localhost{names}\n\
                 extendedKeyUsage=serverAuth,clientAuth\n"
            ),
        );
        pki.openssl(&[
            "req",
            "-new",
            "-key",
            "client.key",
            "-subj",
            "/CN=proxy-client",
            "-out",
            "client.csr",
        ]);
        // No -extfile: an X.509 v1 certificate.
        pki.openssl(&[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-out",
            "client-v1.pem",
        ]);
        pki.concat("broker-keystore.pem", &["broker.key", "broker.pem"]);
        pki.concat("client-keystore.pem", &["client.key", "client-v1.pem"]);
        pki
    }

    /// `NAME.key` and an X.509 v3 server certificate `NAME.pem` signed by the CA, for the
    /// subject alternative names `sans` (`DNS:*.kafka.test,IP:127.0.0.1`).
    pub fn issue_server(&self, name: &str, sans: &str) {
        self.issue(
            name,
            "/CN=proxy",
            &format!("subjectAltName={sans}\nextendedKeyUsage=serverAuth\n"),
        );
    }

    /// `NAME.key` and an X.509 v3 certificate `NAME.pem` for `subject` signed by the CA, with
    /// the extensions `ext` (an openssl extensions file's text).
    fn issue(&self, name: &str, subject: &str, ext: &str) {
        let (key, csr, ext_file) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.ext"),
        );
        fs::write(self.path(&ext_file), ext).expect("write the extensions file");
        self.openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ]);
        self.openssl(&["req", "-new", "-key", &key, "-subj", subject, "-out", &csr]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            &ext_file,
            "-out",
            &format!("{name}.pem"),
        ]);
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `path(name)` as a string, for flags.
    pub fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn concat(&self, out: &str, parts: &[&str]) {
        let text: String = parts
            .iter()
            .map(|p| fs::read_to_string(self.path(p)).expect("read pki file"))
            .collect();
        fs::write(self.path(out), text).expect("write pki file");
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
