//! `auth-ldap`: checks `check-password` requests against an LDAP server with simple binds.
//!
//! Two ways to find the user's entry:
//! - `--user-dn ou=people,dc=example,dc=com --user-attr uid`: bind as
//!   `uid=<user>,ou=people,dc=example,dc=com`, the user name escaped as an RFC 4514 DN value.
//! - `--user-search-base` and `--user-filter` (with `%u` for the user name), after binding as
//!   `--bind-dn` and `--bind-passwd-file` (or `--bind-passwd`, which shows in process listings
//!   and draws a warning), or anonymously: search the subtree, require exactly one
//!   entry, then bind as its DN. The user name is escaped per RFC 4515 before it goes into the
//!   filter, so `*`, `(` or `)` in a name match only themselves and cannot widen the search.
//!   When the search finds no entry (or more than one), the plugin still binds, as
//!   [`NO_SUCH_USER_RDN`] under the search base with the password given, and refuses whatever
//!   the answer: an unknown user name costs the same round trips as a wrong password, so the
//!   time of a refusal does not tell which user names exist.
//!
//! `ldaps://` speaks TLS from the start; `--start-tls` upgrades an `ldap://` connection with the
//! StartTLS extended operation. Servers are verified against `--ca-cert-file`, else the
//! built-in web roots. Each check uses a fresh connection, all of it within `--timeout`.
//!
//! The LDAP client is hand-written: simple bind, search, StartTLS and unbind are a few BER
//! structures (RFC 4511), smaller than any crate that would bring its own runtime.

use super::{PluginExit, PluginFlags, AUTH_LDAP};
use crate::config::plugin_flags::AUTH_LDAP_PLUGIN;
use crate::logging::peer_text;
use crate::plugin::{serve, Reply, Request};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod ber;
mod filter;

pub use filter::{escape_dn_value, escape_filter_value, parse_filter};

/// The largest LDAP message read from the server (a search result entry with no attributes
/// requested is tiny; referrals and messages are short).
const MAX_MESSAGE: usize = 1 << 20;
/// Search entries read before giving up: more than one already means "ambiguous".
const MAX_ENTRIES: usize = 16;
const STARTTLS_OID: &str = "1.3.6.1.4.1.1466.20037";
/// The entry bound as, under `--user-search-base`, when a search finds no user: a name no
/// directory is expected to hold. Its answer is never taken as a success.
pub const NO_SUCH_USER_RDN: &str = "cn=kafka-proxy-no-such-user";

pub fn run(args: Vec<OsString>, input: impl Read, output: impl Write) -> Result<(), PluginExit> {
    let flags = PluginFlags::parse(&AUTH_LDAP_PLUGIN, args)?;
    let ldap = Ldap::from_flags(&flags)?;
    serve(input, output, |request| ldap.handle(request))
        .map_err(|e| PluginExit::Failed(format!("plugin {AUTH_LDAP}: {e}")))
}

/// How the user's DN is found.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Lookup {
    /// `attr=<user>,base`.
    Template { attr: String, base: String },
    /// Search `base` with `filter` (`%u` replaced), after binding as `bind` (DN, password).
    Search {
        bind: Option<(String, String)>,
        base: String,
        filter: String,
    },
}

struct Ldap {
    host: String,
    port: u16,
    /// `None`: plain LDAP without StartTLS.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// TLS from the first byte (`ldaps://`) rather than after StartTLS.
    implicit_tls: bool,
    lookup: Lookup,
    timeout: Duration,
}

fn usage(m: impl std::fmt::Display) -> PluginExit {
    PluginExit::Usage(format!("plugin {AUTH_LDAP}: {m}"))
}

impl Ldap {
    fn from_flags(flags: &PluginFlags) -> Result<Ldap, PluginExit> {
        let url = flags.required("url")?;
        let (implicit_tls, rest) = if let Some(rest) = url.strip_prefix("ldaps://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("ldap://") {
            (false, rest)
        } else {
            return Err(usage(format!(
                "--url {url:?}: expected ldap://host[:port] or ldaps://host[:port]"
            )));
        };
        let rest = rest.trim_end_matches('/');
        let default_port = if implicit_tls { 636 } else { 389 };
        let (host, port) = match crate::config::value::split_host_port(rest) {
            Ok((host, port)) => (
                host.to_string(),
                port.parse::<u16>()
                    .map_err(|_| usage(format!("--url {url:?}: bad port")))?,
            ),
            Err(_) => (
                rest.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                default_port,
            ),
        };
        if host.is_empty() {
            return Err(usage(format!("--url {url:?}: no host")));
        }
        let start_tls = flags.switch("start-tls")?;
        if start_tls && implicit_tls {
            return Err(usage(
                "--start-tls is for ldap:// URLs; ldaps:// is TLS already",
            ));
        }
        let tls = if start_tls || implicit_tls {
            Some(Arc::new(tls_config(flags.get("ca-cert-file"))?))
        } else {
            // Not refused (a directory on the same host may be reached this way), but every
            // client's password would cross the network in the clear.
            eprintln!(
                "WARN ldap {url}: plain LDAP without --start-tls: users' passwords are sent \
                 unencrypted; use ldaps:// or --start-tls"
            );
            None
        };
        let lookup =
            match (flags.get("user-dn"), flags.get("user-search-base")) {
                (Some(base), None) => Lookup::Template {
                    attr: flags.value("user-attr").unwrap_or_default().to_string(),
                    base: base.to_string(),
                },
                (None, Some(base)) => {
                    let filter = flags.value("user-filter").unwrap_or_default().to_string();
                    if !filter.contains("%u") {
                        return Err(usage("--user-filter must contain %u (the user name)"));
                    }
                    // Checked now, so a bad filter is a startup error, not a refusal per client.
                    parse_filter(&filter.replace("%u", "x"))
                        .map_err(|e| usage(format!("--user-filter {filter:?}: {e}")))?;
                    let password = flags.secret("bind-passwd")?;
                    let bind =
                        match (flags.get("bind-dn"), password) {
                            // A simple bind with a DN and no password is an unauthenticated bind
                            // (RFC 4513 5.1.2), which servers answer with success: the search
                            // would run as nobody, and the mistake would pass unseen.
                            (Some(_), Some(pw)) if pw.is_empty() => return Err(usage(
                                "--bind-passwd is empty (or --bind-passwd-file holds nothing): an \
                             LDAP bind without a password is an unauthenticated bind that \
                             servers accept as anonymous; give the bind account's password, or \
                             leave out --bind-dn and --bind-passwd to search anonymously",
                            )),
                            (Some(dn), Some(pw)) => Some((dn.to_string(), pw)),
                            (None, None) => None,
                            _ => return Err(usage(
                                "--bind-dn and --bind-passwd-file (or --bind-passwd) go together",
                            )),
                        };
                    Lookup::Search {
                        bind,
                        base: base.to_string(),
                        filter,
                    }
                }
                (Some(_), Some(_)) => return Err(usage(
                    "--user-dn (bind as attr=user,DN) and --user-search-base (search, then bind) \
                     exclude each other",
                )),
                (None, None) => return Err(usage(
                    "give --user-dn (with --user-attr) or --user-search-base (with --user-filter)",
                )),
            };
        Ok(Ldap {
            host,
            port,
            tls,
            implicit_tls,
            lookup,
            timeout: flags.duration("timeout")?,
        })
    }

    fn handle(&self, request: Request) -> Reply {
        let Request::CheckPassword {
            username, password, ..
        } = request
        else {
            return Reply::no(format!("{AUTH_LDAP} answers check-password only"));
        };
        // An empty password would be an unauthenticated bind, which LDAP servers accept.
        if username.is_empty() || password.is_empty() {
            return Reply::no("empty username or password");
        }
        match self.check(&username, &password) {
            Ok(true) => Reply::yes(username),
            Ok(false) => Reply::no("invalid username or password"),
            Err(e) => {
                eprintln!("ERROR ldap {}:{}: {e}", self.host, self.port);
                Reply::no(format!("LDAP server error: {e}"))
            }
        }
    }

    /// `Ok(false)` for wrong credentials or an unknown or ambiguous user; `Err` when the server
    /// could not be asked.
    fn check(&self, username: &str, password: &str) -> Result<bool, LdapError> {
        let deadline = Instant::now() + self.timeout;
        let mut conn = self.connect(deadline)?;
        // `found` false: no single entry, so the bind goes to a DN no user has, as
        // the same work as a wrong password, and its answer is not looked at.
        let (user_dn, found) = match &self.lookup {
            Lookup::Template { attr, base } => {
                (format!("{attr}={},{base}", escape_dn_value(username)), true)
            }
            Lookup::Search { bind, base, filter } => {
                if let Some((dn, pw)) = bind {
                    let result = conn.bind(dn, pw, deadline)?;
                    if result.code != 0 {
                        return Err(LdapError(format!(
                            "the service account --bind-dn {dn:?} cannot bind: {result}"
                        )));
                    }
                }
                let filter = parse_filter(&filter.replace("%u", &escape_filter_value(username)))
                    .map_err(|e| LdapError(format!("filter: {e}")))?;
                let entries = conn.search(base, &filter, deadline)?;
                let decoy = || (format!("{NO_SUCH_USER_RDN},{base}"), false);
                match entries.as_slice() {
                    [dn] => (dn.clone(), true),
                    [] => {
                        eprintln!(
                            "INFO no entry for user \"{}\" under {base:?}",
                            peer_text(username)
                        );
                        decoy()
                    }
                    _ => {
                        eprintln!(
                            "WARN user \"{}\" matches {} entries under {base:?}; refused",
                            peer_text(username),
                            entries.len()
                        );
                        decoy()
                    }
                }
            }
        };
        let result = conn.bind(&user_dn, password, deadline)?;
        conn.unbind();
        if !found {
            return Ok(false);
        }
        match result.code {
            0 => Ok(true),
            // invalidCredentials, or invalidDNSyntax / noSuchObject for an odd name.
            49 | 34 | 32 => Ok(false),
            _ => Err(LdapError(format!(
                "bind as \"{}\": {result}",
                peer_text(&user_dn)
            ))),
        }
    }

    fn connect(&self, deadline: Instant) -> Result<Connection, LdapError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| LdapError(format!("cannot resolve {}: {e}", self.host)))?
            .next()
            .ok_or_else(|| LdapError(format!("{} has no address", self.host)))?;
        let tcp = TcpStream::connect_timeout(&addr, left.max(Duration::from_millis(1)))
            .map_err(|e| LdapError(format!("cannot connect to {addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut conn = Connection {
            stream: Transport::Plain(tcp),
            next_id: 1,
        };
        if let Some(tls) = &self.tls {
            if !self.implicit_tls {
                let result = conn.start_tls(deadline)?;
                if result.code != 0 {
                    return Err(LdapError(format!("StartTLS refused: {result}")));
                }
            }
            conn.upgrade(tls, &self.host)?;
        }
        Ok(conn)
    }
}

fn tls_config(ca_file: Option<&str>) -> Result<rustls::ClientConfig, PluginExit> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(Path::new(path))
                    .and_then(|it| it.collect::<Result<_, _>>())
                    .map_err(|e| usage(format!("--ca-cert-file {path}: {e}")))?;
            if certs.is_empty() {
                return Err(usage(format!(
                    "--ca-cert-file {path}: no certificate in it"
                )));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| usage(format!("--ca-cert-file {path}: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| PluginExit::Failed(format!("plugin {AUTH_LDAP}: TLS: {e}")))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

#[derive(Debug)]
struct LdapError(String);

impl std::fmt::Display for LdapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An LDAPResult: code, matched DN, diagnostic message.
#[derive(Debug, PartialEq, Eq)]
struct LdapResult {
    code: u32,
    message: String,
}

impl std::fmt::Display for LdapResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "result code {}", self.code)?;
        if !self.message.is_empty() {
            write!(f, " ({})", self.message)?;
        }
        Ok(())
    }
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    /// Between the two, while upgrading.
    Gone,
}

impl Transport {
    fn socket(&self) -> Option<&TcpStream> {
        match self {
            Transport::Plain(s) => Some(s),
            Transport::Tls(s) => Some(s.get_ref()),
            Transport::Gone => None,
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
            Transport::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
            Transport::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
            Transport::Gone => Ok(()),
        }
    }
}

struct Connection {
    stream: Transport,
    next_id: i64,
}

impl Connection {
    fn set_deadline(&self, deadline: Instant) -> Result<(), LdapError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LdapError("timed out (--timeout)".into()));
        }
        if let Some(s) = self.stream.socket() {
            s.set_read_timeout(Some(left))
                .and_then(|()| s.set_write_timeout(Some(left)))
                .map_err(|e| LdapError(e.to_string()))?;
        }
        Ok(())
    }

    /// Sends `op` in an LDAPMessage; returns the message id.
    fn send(&mut self, op: Vec<u8>, deadline: Instant) -> Result<i64, LdapError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut body = ber::integer(id);
        body.extend(op);
        let message = ber::tlv(0x30, &body);
        self.set_deadline(deadline)?;
        self.stream
            .write_all(&message)
            .and_then(|()| self.stream.flush())
            .map_err(|e| LdapError(format!("sending: {}", io_reason(&e))))?;
        Ok(id)
    }

    /// Reads the next LDAPMessage for `id`: its protocolOp tag and contents.
    fn receive(&mut self, id: i64, deadline: Instant) -> Result<(u8, Vec<u8>), LdapError> {
        loop {
            self.set_deadline(deadline)?;
            let message = ber::read_message(&mut self.stream, MAX_MESSAGE)
                .map_err(|e| LdapError(format!("reading: {}", io_reason(&e))))?;
            let mut r = ber::Reader::new(&message);
            let mut seq = r.expect(0x30).map_err(LdapError)?;
            let got = seq.integer().map_err(LdapError)?;
            let (tag, op) = seq.any().map_err(LdapError)?;
            if got == id {
                return Ok((tag, op.to_vec()));
            }
            if got == 0 {
                // An unsolicited notification (notice of disconnection).
                return Err(LdapError("the server ended the session".into()));
            }
        }
    }

    fn bind(
        &mut self,
        dn: &str,
        password: &str,
        deadline: Instant,
    ) -> Result<LdapResult, LdapError> {
        let mut body = ber::integer(3);
        body.extend(ber::tlv(0x04, dn.as_bytes()));
        body.extend(ber::tlv(0x80, password.as_bytes()));
        let id = self.send(ber::tlv(0x60, &body), deadline)?;
        let (tag, op) = self.receive(id, deadline)?;
        if tag != 0x61 {
            return Err(LdapError(format!(
                "expected a BindResponse, got tag {tag:#x}"
            )));
        }
        ldap_result(&op)
    }

    fn start_tls(&mut self, deadline: Instant) -> Result<LdapResult, LdapError> {
        let id = self.send(
            ber::tlv(0x77, &ber::tlv(0x80, STARTTLS_OID.as_bytes())),
            deadline,
        )?;
        let (tag, op) = self.receive(id, deadline)?;
        if tag != 0x78 {
            return Err(LdapError(format!(
                "expected an ExtendedResponse, got tag {tag:#x}"
            )));
        }
        ldap_result(&op)
    }

    fn upgrade(&mut self, tls: &Arc<rustls::ClientConfig>, host: &str) -> Result<(), LdapError> {
        let Transport::Plain(tcp) = std::mem::replace(&mut self.stream, Transport::Gone) else {
            return Err(LdapError("TLS on a connection that is not plain".into()));
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| LdapError(format!("{host:?} is not a valid TLS server name: {e}")))?;
        let conn = rustls::ClientConnection::new(Arc::clone(tls), name)
            .map_err(|e| LdapError(format!("TLS: {e}")))?;
        self.stream = Transport::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)));
        Ok(())
    }

    /// The DNs of the entries `filter` matches under `base` (at most [`MAX_ENTRIES`]).
    fn search(
        &mut self,
        base: &str,
        filter: &[u8],
        deadline: Instant,
    ) -> Result<Vec<String>, LdapError> {
        let mut body = ber::tlv(0x04, base.as_bytes());
        body.extend(ber::tlv(0x0a, &[2])); // scope: wholeSubtree
        body.extend(ber::tlv(0x0a, &[0])); // derefAliases: never
        body.extend(ber::integer(2)); // sizeLimit: two tell "ambiguous" from "one"
        body.extend(ber::integer(self_seconds(deadline)));
        body.extend(ber::tlv(0x01, &[0])); // typesOnly: false
        body.extend_from_slice(filter);
        body.extend(ber::tlv(0x30, &ber::tlv(0x04, b"1.1"))); // no attributes
        let id = self.send(ber::tlv(0x63, &body), deadline)?;
        let mut dns = Vec::new();
        loop {
            let (tag, op) = self.receive(id, deadline)?;
            match tag {
                0x64 => {
                    let mut r = ber::Reader::new(&op);
                    let dn = r.octets(0x04).map_err(LdapError)?;
                    dns.push(String::from_utf8_lossy(dn).into_owned());
                    if dns.len() > MAX_ENTRIES {
                        return Ok(dns);
                    }
                }
                0x73 => {} // a continuation reference: not followed
                0x65 => {
                    let result = ldap_result(&op)?;
                    // sizeLimitExceeded (4) still answers "more than one".
                    return match result.code {
                        0 | 4 => Ok(dns),
                        32 => Ok(Vec::new()), // noSuchObject: the base does not exist
                        _ => Err(LdapError(format!("search under {base:?}: {result}"))),
                    };
                }
                other => {
                    return Err(LdapError(format!(
                        "unexpected tag {other:#x} in search results"
                    )))
                }
            }
        }
    }

    fn unbind(&mut self) {
        let far = Instant::now() + Duration::from_millis(200);
        let _ = self.send(vec![0x42, 0x00], far);
    }
}

fn self_seconds(deadline: Instant) -> i64 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_secs()
        .max(1) as i64
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timed out (--timeout)".into(),
        io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        _ => e.to_string(),
    }
}

fn ldap_result(op: &[u8]) -> Result<LdapResult, LdapError> {
    let mut r = ber::Reader::new(op);
    let code = r.enumerated().map_err(LdapError)?;
    let _matched = r.octets(0x04).map_err(LdapError)?;
    let message = r.octets(0x04).map_err(LdapError)?;
    Ok(LdapResult {
        code,
        message: crate::logging::peer_bytes(message),
    })
}

/// Entry point of the `ldap_replies` fuzz target: bytes from an LDAP server as the plugin reads
/// them, one LDAPMessage framed by its BER length, then its message id, protocol op, and an
/// LDAPResult or a search entry's DN. Elements that decode re-encode (with minimal lengths) to
/// elements that decode to the same tag and value, and message ids round-trip.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_replies(data: &[u8]) {
    let Ok(message) = ber::read_message(&mut &data[..], MAX_MESSAGE) else {
        return;
    };
    assert!(message.len() <= data.len() && data.starts_with(&message));
    let mut r = ber::Reader::new(&message);
    let Ok((tag, value)) = r.any() else {
        return;
    };
    let reencoded = ber::tlv(tag, value);
    assert_eq!(ber::Reader::new(&reencoded).any(), Ok((tag, value)));
    if tag != 0x30 {
        return;
    }
    let mut seq = ber::Reader::new(value);
    let Ok(id) = seq.integer() else {
        return;
    };
    assert_eq!(ber::Reader::new(&ber::integer(id)).integer(), Ok(id));
    let Ok((op_tag, op)) = seq.any() else {
        return;
    };
    match op_tag {
        // BindResponse, SearchResultDone, ExtendedResponse (StartTLS).
        0x61 | 0x65 | 0x78 => {
            if let Ok(result) = ldap_result(op) {
                assert!(result.message.chars().count() <= 200);
            }
        }
        // SearchResultEntry: the DN.
        0x64 => {
            let _ = ber::Reader::new(op).octets(0x04);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
