//! `--sasl-credentials-file`: one line per principal,
//!
//! ```text
//! # principal          mechanism      upstream user  password, token or file:PATH
//! alice                SCRAM-SHA-512  alice          file:/etc/kafka-proxy/alice.pass
//! "/CN=bob/O=Example"  PLAIN          bob            s3cret
//! carol                OAUTHBEARER    -              file:/run/tokens/carol
//! ```
//!
//! A `file:` secret is read at each login (so a rotated password or token is used at once).
//! The file itself is checked for a change (size, modification time, inode) at each lookup and
//! parsed again when it changed; a file that no longer parses, or cannot be read, keeps the
//! previous mapping, with one warning per change.

use super::{LookupError, UpstreamCredentials};
use crate::config::{SaslMethod, Secret};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The largest credentials file read, and the most principals it may map.
pub const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;
pub const MAX_ENTRIES: usize = 100_000;

/// Where a mapping's secret is.
#[derive(Clone, PartialEq, Eq)]
enum SecretSource {
    Inline(Secret),
    File(PathBuf),
}

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    method: SaslMethod,
    username: String,
    secret: SecretSource,
}

/// A parsed credentials file.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Mapping(HashMap<String, Entry>);

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mapping({} principals)", self.0.len())
    }
}

impl Mapping {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The credentials of `principal`, its `file:` secret read now.
    pub fn lookup(&self, principal: &str) -> Result<UpstreamCredentials, LookupError> {
        let entry = self.0.get(principal).ok_or(LookupError::Unmapped)?;
        let secret = match &entry.secret {
            SecretSource::Inline(secret) => secret.clone(),
            SecretSource::File(path) => {
                crate::plugin::builtin::read_secret_file(&path.to_string_lossy())
                    .map(Secret)
                    .map_err(|why| {
                        LookupError::Failed(format!(
                            "cannot read its secret file {}: {why}",
                            path.display()
                        ))
                    })?
            }
        };
        if secret.expose().is_empty() {
            return Err(LookupError::Failed("its secret is empty".into()));
        }
        Ok(UpstreamCredentials {
            method: entry.method,
            username: entry.username.clone(),
            secret,
        })
    }
}

/// The upstream mechanisms a mapping may name.
pub fn parse_mechanism(s: &str) -> Result<SaslMethod, String> {
    match s.to_ascii_uppercase().as_str() {
        "PLAIN" => Ok(SaslMethod::Plain),
        "SCRAM-SHA-256" => Ok(SaslMethod::ScramSha256),
        "SCRAM-SHA-512" => Ok(SaslMethod::ScramSha512),
        "OAUTHBEARER" => Ok(SaslMethod::OAuthBearer),
        _ => Err(format!(
            "\"{}\": expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
            crate::logging::peer_text(s)
        )),
    }
}

/// Parses a credentials file. `Err` names the line and what is wrong with it, never a secret.
pub fn parse(text: &str) -> Result<Mapping, String> {
    let mut map = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |why: String| format!("line {}: {why}", n + 1);
        let (principal, entry) = parse_line(line).map_err(at)?;
        if map.len() >= MAX_ENTRIES {
            return Err(at(format!("more than {MAX_ENTRIES} principals")));
        }
        if map.insert(principal.clone(), entry).is_some() {
            return Err(at(format!(
                "principal \"{}\" is mapped twice",
                crate::logging::peer_text(&principal)
            )));
        }
    }
    Ok(Mapping(map))
}

fn parse_line(line: &str) -> Result<(String, Entry), String> {
    let (principal, rest) = split_principal(line)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let [mechanism, username, secret] = fields[..] else {
        return Err(format!(
            "expected PRINCIPAL MECHANISM USER SECRET, found {} fields after the principal",
            fields.len()
        ));
    };
    let method = parse_mechanism(mechanism)?;
    let username = match (method, username) {
        (SaslMethod::OAuthBearer, "-") => String::new(),
        (_, "-") => return Err(format!("{mechanism} needs an upstream user, not -")),
        (_, user) => user.to_string(),
    };
    let secret = match secret.strip_prefix("file:") {
        Some("") => return Err("file: without a path".into()),
        Some(path) => SecretSource::File(PathBuf::from(path)),
        None => SecretSource::Inline(Secret(secret.to_string())),
    };
    let entry = Entry {
        method,
        username,
        secret,
    };
    Ok((principal, entry))
}

/// The principal (a word, or a double-quoted text that may hold spaces) and the rest.
fn split_principal(line: &str) -> Result<(String, &str), String> {
    if let Some(quoted) = line.strip_prefix('"') {
        let end = quoted
            .find('"')
            .ok_or("the principal's closing double quote is missing")?;
        let principal = &quoted[..end];
        if principal.is_empty() {
            return Err("empty principal".into());
        }
        return Ok((principal.to_string(), &quoted[end + 1..]));
    }
    let end = line.find(char::is_whitespace).unwrap_or(line.len());
    Ok((line[..end].to_string(), &line[end..]))
}

/// What identifies a version of the file on disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    Ok(Stamp {
        len: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
        ino: m.ino(),
    })
}

/// Reads and parses the file, within [`MAX_FILE_SIZE`].
fn load(path: &Path) -> Result<Mapping, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(format!("larger than {MAX_FILE_SIZE} bytes"));
    }
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    parse(&text)
}

struct Loaded {
    /// The version parsed into `mapping`, or the last one that failed (so it is not parsed and
    /// warned about again until it changes).
    seen: Option<Stamp>,
    mapping: Arc<Mapping>,
}

/// The credentials file, read again when it changes.
pub struct CredentialsFile {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl CredentialsFile {
    /// Reads the file; it must parse.
    pub fn open(path: &Path) -> Result<CredentialsFile, String> {
        let seen = stamp(path).ok();
        let mapping = load(path).map_err(|why| format!("{}: {why}", path.display()))?;
        log::info!(
            "--sasl-credentials-file {}: {} principals mapped",
            path.display(),
            mapping.len()
        );
        Ok(CredentialsFile {
            path: path.to_path_buf(),
            loaded: Mutex::new(Loaded {
                seen,
                mapping: Arc::new(mapping),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credentials of `principal` from the current mapping.
    pub fn lookup(&self, principal: &str) -> Result<UpstreamCredentials, LookupError> {
        self.current().lookup(principal)
    }

    /// The mapping, parsed again first if the file changed since it was last read.
    pub fn current(&self) -> Arc<Mapping> {
        let mut loaded = self.lock();
        let now = stamp(&self.path).ok();
        if now != loaded.seen {
            loaded.seen = now;
            match load(&self.path) {
                Ok(mapping) => {
                    log::info!(
                        "--sasl-credentials-file {} changed: {} principals mapped",
                        self.path.display(),
                        mapping.len()
                    );
                    loaded.mapping = Arc::new(mapping);
                }
                Err(why) => log::warn!(
                    "--sasl-credentials-file {} changed but cannot be used ({why}); keeping the \
                     previous mapping of {} principals",
                    self.path.display(),
                    loaded.mapping.len()
                ),
            }
        }
        Arc::clone(&loaded.mapping)
    }

    fn lock(&self) -> MutexGuard<'_, Loaded> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests;
