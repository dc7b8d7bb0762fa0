//! `tools socks5-proxy`: the server side of SOCKS5 (RFC 1928), CONNECT only, with the
//! username/password method (RFC 1929) required when credentials are configured. Every
//! length in a client message is one byte, so no read here can exceed 255 bytes.

use super::{connect_target, credentials_match, read_exact, write_all, Deadline};
use super::{Opened, Refusal};
use crate::config::tools::Tool;
use crate::config::HostPort;
use crate::logging::peer_bytes;
use crate::net::forward::{METHOD_NONE_ACCEPTABLE, METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};

/// RFC 1928 reply codes this server sends.
const REP_SUCCEEDED: u8 = 0x00;
const REP_GENERAL_FAILURE: u8 = 0x01;
const REP_HOST_UNREACHABLE: u8 = 0x04;
const REP_CONNECTION_REFUSED: u8 = 0x05;
const REP_COMMAND_NOT_SUPPORTED: u8 = 0x07;
const REP_ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;

const CMD_CONNECT: u8 = 0x01;

/// Greets, authenticates and reads the CONNECT request of a SOCKS5 client, connects to its
/// target and answers. On refusal the client has been told why where the protocol allows.
pub fn handshake(
    client: &mut TcpStream,
    tool: &Tool,
    deadline: &Deadline,
) -> Result<Opened, Refusal> {
    let credentials = tool.credentials.as_ref();
    // Greeting: VER NMETHODS METHODS...
    let mut head = [0u8; 2];
    read_exact(client, &mut head, deadline)?;
    if head[0] != 5 {
        return Err(Refusal(format!(
            "not a SOCKS5 client (version byte {:#04x}{})",
            head[0],
            if head[0] == 4 {
                ", SOCKS4 is not supported"
            } else {
                ""
            }
        )));
    }
    let mut methods = vec![0u8; usize::from(head[1])];
    read_exact(client, &mut methods, deadline)?;
    let wanted = match credentials {
        Some(_) => METHOD_USERNAME_PASSWORD,
        None => METHOD_NO_AUTH,
    };
    if !methods.contains(&wanted) {
        write_all(client, &[5, METHOD_NONE_ACCEPTABLE], deadline)?;
        return Err(Refusal(match credentials {
            Some(_) => "refused: did not offer username/password authentication, which is \
                        required"
                .into(),
            None => "refused: did not offer the no-authentication method".into(),
        }));
    }
    write_all(client, &[5, wanted], deadline)?;

    if let Some(expected) = credentials {
        // RFC 1929: VER ULEN UNAME PLEN PASSWD
        let mut ver_len = [0u8; 2];
        read_exact(client, &mut ver_len, deadline)?;
        if ver_len[0] != 1 {
            write_all(client, &[1, 1], deadline)?;
            return Err(Refusal(format!(
                "sent username/password authentication version {:#04x}, expected 0x01",
                ver_len[0]
            )));
        }
        let mut username = vec![0u8; usize::from(ver_len[1])];
        read_exact(client, &mut username, deadline)?;
        let mut plen = [0u8; 1];
        read_exact(client, &mut plen, deadline)?;
        let mut password = vec![0u8; usize::from(plen[0])];
        read_exact(client, &mut password, deadline)?;
        if !credentials_match(expected, &username, &password) {
            write_all(client, &[1, 1], deadline)?;
            return Err(Refusal(format!(
                "authentication failed for user {:?}",
                peer_bytes(&username)
            )));
        }
        write_all(client, &[1, 0], deadline)?;
    }

    // Request: VER CMD RSV ATYP DST.ADDR DST.PORT
    let mut request = [0u8; 4];
    read_exact(client, &mut request, deadline)?;
    if request[0] != 5 {
        return Err(Refusal(format!(
            "sent a request with version byte {:#04x}, expected 0x05",
            request[0]
        )));
    }
    let host = match request[3] {
        0x01 => {
            let mut ip = [0u8; 4];
            read_exact(client, &mut ip, deadline)?;
            Ipv4Addr::from(ip).to_string()
        }
        0x04 => {
            let mut ip = [0u8; 16];
            read_exact(client, &mut ip, deadline)?;
            Ipv6Addr::from(ip).to_string()
        }
        0x03 => {
            let mut len = [0u8; 1];
            read_exact(client, &mut len, deadline)?;
            let mut name = vec![0u8; usize::from(len[0])];
            read_exact(client, &mut name, deadline)?;
            match String::from_utf8(name) {
                Ok(name) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()) => name,
                _ => {
                    reply(client, REP_HOST_UNREACHABLE, None, deadline)?;
                    return Err(Refusal("sent an unusable host name".into()));
                }
            }
        }
        other => {
            reply(client, REP_ADDRESS_TYPE_NOT_SUPPORTED, None, deadline)?;
            return Err(Refusal(format!("sent address type {other:#04x}")));
        }
    };
    let mut port = [0u8; 2];
    read_exact(client, &mut port, deadline)?;
    let target = HostPort {
        host,
        port: u16::from_be_bytes(port),
    };
    if request[1] != CMD_CONNECT {
        reply(client, REP_COMMAND_NOT_SUPPORTED, None, deadline)?;
        return Err(Refusal(format!(
            "asked for command {:#04x} to {target}; only CONNECT (0x01) is supported",
            request[1]
        )));
    }
    let upstream = match connect_target(&target, tool.allow_link_local_targets) {
        Ok(upstream) => upstream,
        Err(e) => {
            reply(client, reply_code(&e), None, deadline)?;
            return Err(Refusal(format!("cannot connect to {target}: {e}")));
        }
    };
    reply(client, REP_SUCCEEDED, upstream.local_addr().ok(), deadline)?;
    Ok(Opened {
        upstream,
        target,
        early: Vec::new(),
    })
}

/// The reply code for a failed connect to a target.
fn reply_code(e: &io::Error) -> u8 {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => REP_CONNECTION_REFUSED,
        io::ErrorKind::TimedOut => REP_HOST_UNREACHABLE,
        // Name resolution failures come as other kinds, with the name in the message.
        _ if e.to_string().contains("cannot resolve") => REP_HOST_UNREACHABLE,
        _ => REP_GENERAL_FAILURE,
    }
}

/// `VER REP RSV ATYP BND.ADDR BND.PORT`; the bound address is this server's side of the
/// target connection, or zeros on failure.
fn reply(
    client: &mut TcpStream,
    code: u8,
    bound: Option<SocketAddr>,
    deadline: &Deadline,
) -> Result<(), Refusal> {
    let bound = bound.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut out = vec![5, code, 0];
    match bound.ip() {
        IpAddr::V4(ip) => {
            out.push(0x01);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(0x04);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&bound.port().to_be_bytes());
    write_all(client, &out, deadline)
}
