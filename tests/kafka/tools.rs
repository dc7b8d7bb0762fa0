//! Finds what the Kafka tests run: the Kafka jars (`KAFKA_LIBS`), `java`, the compiled Java
//! client driver (`KAFKA_PROXY_JAVA_DRIVER`), the franz-go driver (`FRANZ_DRIVER`), KafkaJS
//! (`KAFKAJS_DRIVER`) and the Python venv (`KAFKA_PROXY_TEST_PYTHON`), as `scripts/test.sh`
//! sets them. Outside CI a missing one makes a test print `skipping: ...` and pass; under CI it
//! is a failure, so CI never passes by running nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Clone, Debug)]
pub struct KafkaTools {
    pub libs: PathBuf,
    pub java_driver: PathBuf,
    pub python: PathBuf,
    pub franz: Option<PathBuf>,
    pub kafkajs: Option<PathBuf>,
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `$VAR` if it names an existing path, else `default` under the repository if it exists.
fn path_from(var: &str, default: &str) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(p)
        } else {
            Err(format!("{var}={} does not exist", p.display()))
        };
    }
    let p = root().join(default);
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{var} is not set and {} does not exist (run scripts/test.sh, which installs it)",
            p.display()
        ))
    }
}

/// Skips (outside CI) or fails (under CI) a test that lacks a tool.
fn missing(test: &str, why: &str) {
    if in_ci() {
        panic!("{test}: CI is set, so a missing tool is a failure: {why}");
    }
    eprintln!("skipping: {test}: {why}");
}

impl KafkaTools {
    /// The tools every Kafka test needs, or `None` after `skipping: ...` (panics under CI).
    pub fn find(test: &str) -> Option<KafkaTools> {
        let found = (|| {
            let java_ok = Command::new("java")
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !java_ok {
                return Err("java not found (the Kafka tests need Java 17+)".to_string());
            }
            Ok(KafkaTools {
                libs: path_from("KAFKA_LIBS", ".test-env/kafka-4.3.1/libs")?,
                java_driver: path_from("KAFKA_PROXY_JAVA_DRIVER", ".test-env/java-driver")?,
                python: path_from("KAFKA_PROXY_TEST_PYTHON", ".test-env/venv/bin/python")?,
                franz: path_from("FRANZ_DRIVER", ".test-env/bin/franz-driver").ok(),
                kafkajs: path_from("KAFKAJS_DRIVER", "tests/clients/kafkajs/driver.js").ok(),
            })
        })();
        match found {
            Ok(t) => Some(t),
            Err(why) => {
                missing(test, &why);
                None
            }
        }
    }

    /// The franz-go driver, or `None` after `skipping` (panics under CI).
    pub fn franz(&self, test: &str) -> Option<PathBuf> {
        if self.franz.is_none() {
            missing(
                test,
                "the franz-go driver is not built (FRANZ_DRIVER; scripts/test.sh builds it)",
            );
        }
        self.franz.clone()
    }

    /// KafkaJS's driver, or `None` after `skipping` (panics under CI).
    pub fn kafkajs(&self, test: &str) -> Option<PathBuf> {
        let installed = root()
            .join("tests/clients/kafkajs/node_modules/kafkajs")
            .is_dir();
        if self.kafkajs.is_none() || !installed {
            missing(
                test,
                "KafkaJS is not installed (KAFKAJS_DRIVER; scripts/test.sh runs npm ci)",
            );
            return None;
        }
        self.kafkajs.clone()
    }

    /// `java` with a small heap, fast start-up and the Kafka jars on the class path.
    pub fn kafka_java(&self) -> Command {
        let mut cmd = Command::new("java");
        cmd.env_clear();
        for k in ["PATH", "HOME", "TMPDIR", "LANG", "JAVA_HOME"] {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        cmd.args(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k"])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                root().join("tests/kafka/log4j2.yaml").display()
            ))
            .arg("-cp")
            .arg(format!("{}/*", self.libs.display()));
        cmd
    }

    /// Runs a Kafka main class to completion and returns its stdout; panics on failure.
    pub fn kafka_class_output(&self, args: &[&str]) -> String {
        let out = self
            .kafka_java()
            .arg("-Xmx256m")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run java");
        assert!(
            out.status.success(),
            "java {}: {}\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
