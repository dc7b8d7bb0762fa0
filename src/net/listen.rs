//! Listening sockets that a second kafka-proxy process can share: every listener of the proxy
//! (bootstrap, dynamic, HTTP, debug) binds with `SO_REUSEPORT`, so a new process started with
//! the same flags binds the same ports while the old one still runs, and clients never find a
//! port closed during an upgrade (README, "Upgrading without refusing a connection"). The
//! kernel spreads new connections over the processes on a port; the old one, on SIGTERM, shuts
//! its listeners down ([`stop_listening`]), which takes it out of the spread at once.
//!
//! Only sockets of the same user that also set `SO_REUSEPORT` can share a port: a port held by
//! another program is still "address in use".

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, ToSocketAddrs};

/// The accept queue length, as std's `TcpListener::bind` uses.
const BACKLOG: i32 = 128;

/// Binds `host:port` (the first of its addresses that can be bound) with `SO_REUSEADDR`, as std
/// sets it, and `SO_REUSEPORT`. The socket is close-on-exec, so plugin processes do not inherit
/// it.
pub fn listen(host: &str, port: u16) -> io::Result<TcpListener> {
    let mut last_error = None;
    for addr in (host, port).to_socket_addrs()? {
        match listen_on(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Stops `listener` listening: the kernel sends new connections to the other processes on its
/// port (or refuses them if there are none), and a thread blocked in `accept` on it (or on a
/// clone of it) returns an error at once. Connections already waiting in its accept queue are
/// reset, unless `net.ipv4.tcp_migrate_req` is 1 (Linux 5.14+): then the kernel moves them to
/// another listener of the port.
pub fn stop_listening(listener: &TcpListener) -> io::Result<()> {
    SockRef::from(listener).shutdown(Shutdown::Read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn two_listeners_share_a_port_and_one_stops_alone() {
        let first = listen("127.0.0.1", 0).unwrap();
        let port = first.local_addr().unwrap().port();
        let second = listen("127.0.0.1", port).unwrap();
        assert_eq!(second.local_addr().unwrap().port(), port);

        let blocked = first.try_clone().unwrap();
        let waiter = thread::spawn(move || blocked.accept().map(|_| ()));
        thread::sleep(Duration::from_millis(50));
        stop_listening(&first).unwrap();
        assert!(
            waiter.join().unwrap().is_err(),
            "accept returns once stopped"
        );

        // Every new connection now goes to the second listener.
        for _ in 0..20 {
            let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
            second.accept().unwrap();
        }
        drop(second);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn a_port_held_without_reuseport_is_in_use() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let err = listen("127.0.0.1", port).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    }

    #[test]
    fn an_unresolvable_host_is_an_error() {
        assert!(listen("no such host.invalid", 9092).is_err());
    }
}
