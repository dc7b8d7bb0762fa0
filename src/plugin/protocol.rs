//! The plugin protocol: the requests and replies, one JSON object a line (see the module
//! documentation of `plugin`), and [`serve`], its plugin side.

use super::MAX_LINE;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};

/// A request from the proxy to a plugin. `Debug` never shows a password or a token.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Request {
    /// Local SASL: are these credentials valid?
    CheckPassword {
        #[serde(default)]
        mechanism: String,
        username: String,
        password: String,
    },
    /// Gateway client: a token to present to the gateway server.
    GetToken {},
    /// Gateway server: is this token valid, and whose is it?
    VerifyToken { token: String },
    /// `--sasl-credentials-plugin-*`: the upstream credentials of this client principal.
    GetCredentials { principal: String },
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::CheckPassword {
                mechanism,
                username,
                ..
            } => write!(
                f,
                "check-password(mechanism {mechanism:?}, username {username:?})"
            ),
            Request::GetToken {} => f.write_str("get-token"),
            Request::VerifyToken { .. } => f.write_str("verify-token"),
            Request::GetCredentials { principal } => {
                write!(f, "get-credentials(principal {principal:?})")
            }
        }
    }
}

impl Request {
    pub(super) fn method(&self) -> &'static str {
        match self {
            Request::CheckPassword { .. } => "check-password",
            Request::GetToken {} => "get-token",
            Request::VerifyToken { .. } => "verify-token",
            Request::GetCredentials { .. } => "get-credentials",
        }
    }
}

/// A plugin's answer. `Debug` never shows the token.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reply {
    pub ok: bool,
    /// Who was authenticated (user name, email); logged by the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// `get-token`: the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `get-credentials`: the SASL mechanism of the upstream credentials (PLAIN,
    /// SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER); `identity` is the user, `token` the
    /// password or bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<String>,
    /// `get-token`: when the token expires, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Why the answer is no (or what went wrong); logged by the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("ok", &self.ok)
            .field("identity", &self.identity)
            .field("mechanism", &self.mechanism)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .field("error", &self.error)
            .finish()
    }
}

impl Reply {
    pub fn yes(identity: impl Into<String>) -> Reply {
        Reply {
            ok: true,
            identity: Some(identity.into()),
            ..Reply::default()
        }
    }

    pub fn no(error: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(error.into()),
            ..Reply::default()
        }
    }

    /// Why the plugin said no, made safe for a log line (`default` when it gave no reason).
    pub fn reason_or(&self, default: &str) -> String {
        crate::logging::peer_text(self.error.as_deref().unwrap_or(default))
    }
}

/// A request or reply with its id, as written on the wire.
#[derive(Serialize, Deserialize)]
pub(super) struct Envelope<T> {
    pub(super) id: u64,
    #[serde(flatten)]
    pub(super) body: T,
}

/// Parses one reply line. `Err` says why the line is not a reply of the protocol.
pub fn parse_reply(line: &[u8]) -> Result<(u64, Reply), String> {
    let envelope: Envelope<Reply> = serde_json::from_slice(line).map_err(|e| {
        format!(
            "not a JSON reply of the plugin protocol ({}): \"{}\"",
            crate::logging::peer_text(&e.to_string()),
            preview(line)
        )
    })?;
    Ok((envelope.id, envelope.body))
}

/// The first bytes of a line, for an error message.
pub(super) fn preview(line: &[u8]) -> String {
    crate::logging::peer_bytes(&line[..line.len().min(80)])
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum LineRead {
    Line,
    /// The line exceeded the cap; `line` holds its first `cap` bytes and the rest was skipped.
    TooLong,
    Eof,
}

/// Reads one `\n`-terminated line (without the `\n`) into `line`, holding at most `cap` bytes.
/// A longer line is reported as [`LineRead::TooLong`] after skipping to its end.
pub(super) fn read_line_capped<R: BufRead>(
    reader: &mut R,
    line: &mut Vec<u8>,
    cap: usize,
) -> io::Result<LineRead> {
    line.clear();
    let mut too_long = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(if line.is_empty() && !too_long {
                LineRead::Eof
            } else if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = cap.saturating_sub(line.len());
        if chunk.len() > room {
            too_long = true;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
    }
}

/// The plugin side of the protocol, for the built-in plugins (and any Rust plugin): reads
/// requests from `input`, answers each with `handle`, until `input` ends.
pub fn serve(
    input: impl Read,
    mut output: impl Write,
    mut handle: impl FnMut(Request) -> Reply,
) -> io::Result<()> {
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        let (id, reply) = match read_line_capped(&mut reader, &mut line, MAX_LINE)? {
            LineRead::Eof => return Ok(()),
            LineRead::TooLong => (0, Reply::no("request line too long")),
            LineRead::Line if line.iter().all(u8::is_ascii_whitespace) => continue,
            LineRead::Line => match serde_json::from_slice::<serde_json::Value>(&line) {
                Err(e) => (0, Reply::no(format!("request is not JSON: {e}"))),
                Ok(value) => {
                    let id = value.get("id").and_then(|v| v.as_u64()).unwrap_or(0);
                    match serde_json::from_value::<Envelope<Request>>(value) {
                        Ok(envelope) => (envelope.id, handle(envelope.body)),
                        Err(e) => (id, Reply::no(format!("unsupported request: {e}"))),
                    }
                }
            },
        };
        let mut out = serde_json::to_vec(&Envelope { id, body: reply })
            .map_err(|e| io::Error::other(e.to_string()))?;
        out.push(b'\n');
        output.write_all(&out)?;
        output.flush()?;
    }
}
