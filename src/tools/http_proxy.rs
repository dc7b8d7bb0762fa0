//! `tools http-proxy`: the server side of HTTP CONNECT (RFC 9110 §9.3.6), with
//! `Proxy-Authorization: Basic` (RFC 7617) required when credentials are configured. Other
//! methods are answered 405: this proxy only tunnels.
//!
//! The request head is read in chunks up to [`MAX_REQUEST_HEAD`]; bytes the client sent after
//! it (a TLS ClientHello sent without waiting for the 200, say) are kept and relayed first.

use super::{connect_target, credentials_match, read_some, write_all, Deadline};
use super::{Opened, Refusal};
use crate::config::tools::Tool;
use crate::config::value::{self, PortZero};
use crate::logging::peer_bytes;
use base64::Engine as _;
use std::io;
use std::net::TcpStream;

/// The largest request head accepted: a CONNECT request is a few hundred bytes.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// A parsed request head: method, target and the credentials of Proxy-Authorization.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    pub target: &'a str,
    /// The decoded `user:password` of a Basic `Proxy-Authorization` header, when present.
    pub basic: Option<Vec<u8>>,
    /// Whether a `Proxy-Authorization` header was present at all.
    pub authorization_present: bool,
}

/// Why a request head was not acceptable: the status to answer with and a log message.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRequest {
    pub status: u16,
    pub message: String,
}

/// Where the head ends in `buf` (after the empty line), if it does.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).enumerate().find_map(|(i, w)| match w {
        b"\n\n" => Some(i + 2),
        b"\n\r" if buf.get(i + 2) == Some(&b'\n') => Some(i + 3),
        _ => None,
    })
}

/// Parses a request head (up to and including its empty line).
pub fn parse_request_head(head: &[u8]) -> Result<RequestHead<'_>, BadRequest> {
    let bad = |message: &str| BadRequest {
        status: 400,
        message: message.to_string(),
    };
    let text = std::str::from_utf8(head).map_err(|_| bad("request head is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !(version == "HTTP/1.1" || version == "HTTP/1.0") {
        return Err(bad("not an HTTP/1.x request"));
    }
    if method.is_empty() || target.is_empty() {
        return Err(bad("malformed request line"));
    }
    let mut basic = None;
    let mut authorization_present = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("proxy-authorization") {
            authorization_present = true;
            let value = value.trim();
            if let Some((scheme, token)) = value.split_once(' ') {
                if scheme.eq_ignore_ascii_case("basic") {
                    basic = base64::engine::general_purpose::STANDARD
                        .decode(token.trim())
                        .ok();
                }
            }
        }
    }
    Ok(RequestHead {
        method,
        target,
        basic,
        authorization_present,
    })
}

/// Reads a CONNECT request, checks its credentials, connects to the target and answers 200;
/// anything else is answered with an error status and refused.
pub fn handshake(
    client: &mut TcpStream,
    tool: &Tool,
    deadline: &Deadline,
) -> Result<Opened, Refusal> {
    let credentials = tool.credentials.as_ref();
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let end = loop {
        if let Some(end) = head_end(&buf) {
            break end;
        }
        if buf.len() >= MAX_REQUEST_HEAD {
            respond(
                client,
                431,
                "Request Header Fields Too Large",
                &[],
                deadline,
            )?;
            return Err(Refusal(format!(
                "sent a request head longer than {MAX_REQUEST_HEAD} bytes"
            )));
        }
        let room = (MAX_REQUEST_HEAD - buf.len()).min(chunk.len());
        let n = read_some(client, &mut chunk[..room], deadline)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = match parse_request_head(&buf[..end]) {
        Ok(head) => head,
        Err(bad) => {
            respond(client, bad.status, "Bad Request", &[], deadline)?;
            return Err(Refusal(bad.message));
        }
    };
    if head.method != "CONNECT" {
        respond(
            client,
            405,
            "Method Not Allowed",
            &["Allow: CONNECT"],
            deadline,
        )?;
        return Err(Refusal(format!(
            "sent {} {}: only CONNECT is supported",
            peer_bytes(head.method.as_bytes()),
            peer_bytes(head.target.as_bytes())
        )));
    }
    let target = match value::parse_host_port(head.target, PortZero::Rejected) {
        Ok(target) => target,
        Err(_) => {
            respond(client, 400, "Bad Request", &[], deadline)?;
            return Err(Refusal(format!(
                "sent CONNECT {}: not host:port",
                peer_bytes(head.target.as_bytes())
            )));
        }
    };
    if let Some(expected) = credentials {
        let presented = head.basic.as_deref().and_then(|pair| {
            let colon = pair.iter().position(|&b| b == b':')?;
            Some((&pair[..colon], &pair[colon + 1..]))
        });
        let accepted =
            presented.is_some_and(|(user, pass)| credentials_match(expected, user, pass));
        if !accepted {
            respond(
                client,
                407,
                "Proxy Authentication Required",
                &["Proxy-Authenticate: Basic realm=\"kafka-proxy\""],
                deadline,
            )?;
            return Err(Refusal(match presented {
                None if head.authorization_present => format!(
                    "CONNECT {target}: refused, Proxy-Authorization is not Basic user:password"
                ),
                None => format!("CONNECT {target}: refused, no Proxy-Authorization"),
                Some((user, _)) => format!(
                    "CONNECT {target}: authentication failed for user {:?}",
                    peer_bytes(user)
                ),
            }));
        }
    }
    let upstream = match connect_target(&target, tool.allow_link_local_targets) {
        Ok(upstream) => upstream,
        Err(e) => {
            let (status, reason) = if e.kind() == io::ErrorKind::TimedOut {
                (504, "Gateway Timeout")
            } else {
                (502, "Bad Gateway")
            };
            respond(client, status, reason, &[], deadline)?;
            return Err(Refusal(format!("CONNECT {target}: {e}")));
        }
    };
    write_all(
        client,
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        deadline,
    )?;
    Ok(Opened {
        upstream,
        target,
        early: buf[end..].to_vec(),
    })
}

/// Answers with an error status and closes: the body says the same for a human.
fn respond(
    client: &mut TcpStream,
    status: u16,
    reason: &str,
    headers: &[&str],
    deadline: &Deadline,
) -> Result<(), Refusal> {
    let body = format!("{status} {reason}\n");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for header in headers {
        out.push_str(header);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    write_all(client, out.as_bytes(), deadline)
}
