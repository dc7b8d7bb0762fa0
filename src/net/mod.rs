//! The network below the proxy: dialing brokers (directly or through a SOCKS5 or HTTP CONNECT
//! forward proxy, [`forward`]), TLS on both sides ([`tls`]), the streams the pumps hold
//! ([`stream`]), Kafka framing and the connection error shared by the proxy and authentication
//! ([`frame`]), the one deadline every reader of peer bytes uses ([`deadline`]), socket options,
//! and the listening sockets a second process can share ([`listen`]). The proxy core only ever
//! asks for "a connected stream to this broker".

pub mod deadline;
pub mod forward;
pub mod frame;
pub mod listen;
pub mod proxy_protocol;
pub mod splice;
pub mod stream;
pub mod tls;

use crate::config::HostPort;
use socket2::{SockRef, TcpKeepalive};
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The source a client is counted under by the per-address limits: its IPv4 address (also when
/// it reaches an IPv6 listener as `::ffff:a.b.c.d`), or the /64 its IPv6 address is in. A host
/// is usually given a whole /64, and could otherwise take a fresh address for every connection.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u64::MAX as u128))),
        },
    }
}

/// TCP options applied to every accepted or dialed socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketOptions {
    /// Zero disables keep-alive.
    pub keep_alive: Duration,
    /// Zero keeps the system default.
    pub recv_buffer_size: usize,
    /// Zero keeps the system default.
    pub send_buffer_size: usize,
}

impl SocketOptions {
    /// Sets TCP_NODELAY (Kafka frames are written whole, so Nagle only adds latency), keep-alive
    /// and buffer sizes.
    pub fn apply(&self, stream: &TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        let sock = SockRef::from(stream);
        if self.keep_alive.is_zero() {
            sock.set_keepalive(false)?;
        } else {
            let keepalive = TcpKeepalive::new()
                .with_time(self.keep_alive)
                .with_interval(self.keep_alive);
            sock.set_tcp_keepalive(&keepalive)?;
        }
        if self.recv_buffer_size > 0 {
            sock.set_recv_buffer_size(self.recv_buffer_size)?;
        }
        if self.send_buffer_size > 0 {
            sock.set_send_buffer_size(self.send_buffer_size)?;
        }
        Ok(())
    }
}

/// Connects to `addr`, trying each resolved address in turn, all within `timeout`.
///
/// Name resolution uses the system resolver, which std cannot bound; the connect attempts are.
pub fn dial(addr: &HostPort, timeout: Duration) -> io::Result<TcpStream> {
    dial_addrs(addr, &resolve(addr)?, timeout)
}

/// The addresses `addr` resolves to.
pub fn resolve(addr: &HostPort) -> io::Result<Vec<SocketAddr>> {
    Ok((addr.host.as_str(), addr.port)
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {addr}: {e}")))?
        .collect())
}

/// Connects to the first of `addrs` (what `addr` resolved to) that answers within `timeout`.
pub fn dial_addrs(
    addr: &HostPort,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    for &socket_addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&socket_addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) if e.kind() == io::ErrorKind::TimedOut => io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connecting to {addr} timed out after {timeout:?}"),
        ),
        Some(e) => io::Error::new(e.kind(), format!("cannot connect to {addr}: {e}")),
        None => io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connecting to {addr} timed out after {timeout:?}"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn dial_connects_and_applies_options() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = dial(
            &HostPort {
                host: "127.0.0.1".into(),
                port,
            },
            Duration::from_secs(5),
        )
        .unwrap();
        let options = SocketOptions {
            keep_alive: Duration::from_secs(60),
            recv_buffer_size: 65536,
            send_buffer_size: 65536,
        };
        options.apply(&stream).unwrap();
        assert!(stream.nodelay().unwrap());
    }

    #[test]
    fn dial_refused_names_the_address() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = dial(
            &HostPort {
                host: "127.0.0.1".into(),
                port,
            },
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }
}
