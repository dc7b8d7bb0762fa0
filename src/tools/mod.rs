//! `kafka-proxy tools socks5-proxy` and `kafka-proxy tools http-proxy`: small forward proxies
//! for testing `--forward-proxy` and for users who need one.
//!
//! Like the proxy itself: one thread per connection (small stacks), blocking sockets, and a
//! deadline on everything a peer controls. A client must finish its handshake within
//! [`HANDSHAKE_TIMEOUT`] and its request head is capped; the target must answer within
//! [`CONNECT_TIMEOUT`]; a tunnel with no traffic either way for [`IDLE_TIMEOUT`] is closed, and
//! a write blocked for [`WRITE_TIMEOUT`] ends it. At most [`MAX_CONNECTIONS`] connections are
//! served at once; more are accepted and closed at once, so a flood costs no threads.
//!
//! Threads and owners: [`Server::run`] owns the connection threads (reaped as they finish,
//! joined when it stops); each connection thread owns the thread relaying the target's bytes
//! back to the client.

pub mod http_proxy;
pub mod socks5_proxy;

use crate::config::tools::{Credentials, Tool, ToolKind};
use crate::config::HostPort;
use crate::net::deadline::{read_exact_until, write_all_until, Arm, Armed, Deadline, ReadError};
use ring::digest::{digest, SHA256};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// A client must be through its greeting, authentication and request within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting to the target the client asked for, name resolution included.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A tunnel with no byte in either direction for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// A write to either side that blocks this long (a peer that stopped reading) ends the tunnel.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a blocked relay read wakes to check the idle timeout.
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// Connection threads keep their buffers on the heap.
const STACK_SIZE: usize = 128 * 1024;
/// Copy buffer per relay direction.
const RELAY_BUFFER: usize = 32 * 1024;

/// Runs `tool` until the process is stopped.
pub fn run(tool: Tool) -> io::Result<()> {
    let server = Server::bind(tool)?;
    let never = AtomicBool::new(false);
    server.run(&never)
}

/// A bound tool, ready to serve.
pub struct Server {
    tool: Arc<Tool>,
    listener: TcpListener,
}

impl Server {
    /// Binds `--addr`; the error names the address and the flag.
    pub fn bind(tool: Tool) -> io::Result<Server> {
        let listener =
            TcpListener::bind((tool.listen.host.as_str(), tool.listen.port)).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot listen on {} (--addr): {e}", tool.listen),
                )
            })?;
        let local = listener.local_addr()?;
        log::info!(
            "tools {} listening on {local}{}",
            tool.kind.name(),
            if tool.credentials.is_some() {
                " (clients must authenticate)"
            } else {
                ""
            }
        );
        Ok(Server {
            tool: Arc::new(tool),
            listener,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts until `stop` is set (checked after each accept: wake the loop with a
    /// connection), then joins every connection thread.
    pub fn run(&self, stop: &AtomicBool) -> io::Result<()> {
        let live = Arc::new(AtomicUsize::new(0));
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        while !stop.load(Ordering::Acquire) {
            let (client, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    log::warn!("accept failed: {e}");
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if stop.load(Ordering::Acquire) {
                break;
            }
            threads.retain(|t| !t.is_finished());
            if live.load(Ordering::Acquire) >= MAX_CONNECTIONS {
                log::warn!("client {peer}: refused, {MAX_CONNECTIONS} connections already open");
                continue;
            }
            live.fetch_add(1, Ordering::AcqRel);
            let tool = Arc::clone(&self.tool);
            let count = Arc::clone(&live);
            let spawned = thread::Builder::new()
                .name("tool-conn".into())
                .stack_size(STACK_SIZE)
                .spawn(move || {
                    serve(&tool, client, peer);
                    count.fetch_sub(1, Ordering::AcqRel);
                });
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    live.fetch_sub(1, Ordering::AcqRel);
                    log::warn!("client {peer}: cannot start a thread: {e}");
                }
            }
        }
        for handle in threads {
            let _ = handle.join();
        }
        Ok(())
    }
}

/// Why a client's handshake ended without a tunnel: logged, and the connection closed.
#[derive(Debug)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tunnel the handshake opened: the target connection, its address, and client bytes that
/// arrived after the request head (they belong to the target).
pub struct Opened {
    pub upstream: TcpStream,
    pub target: HostPort,
    pub early: Vec<u8>,
}

fn serve(tool: &Tool, mut client: TcpStream, peer: SocketAddr) {
    let _ = client.set_nodelay(true);
    let deadline = Deadline::after(HANDSHAKE_TIMEOUT);
    let opened = match tool.kind {
        ToolKind::Socks5Proxy => socks5_proxy::handshake(&mut client, tool, &deadline),
        ToolKind::HttpProxy => http_proxy::handshake(&mut client, tool, &deadline),
    };
    let opened = match opened {
        Ok(opened) => opened,
        Err(refusal) => {
            log::warn!("client {peer}: {refusal}");
            return;
        }
    };
    let target = opened.target.clone();
    if tool.verbose {
        log::info!("client {peer}: tunnel to {target} open");
    } else {
        log::debug!("client {peer}: tunnel to {target} open");
    }
    let started = Instant::now();
    match relay(client, opened.upstream, &opened.early) {
        Ok((up, down)) => {
            let line = format!(
                "client {peer}: tunnel to {target} closed after {:.1?}: {up} bytes sent, {down} bytes received",
                started.elapsed()
            );
            if tool.verbose {
                log::info!("{line}");
            } else {
                log::debug!("{line}");
            }
        }
        Err(e) => log::info!("client {peer}: tunnel to {target} ended: {e}"),
    }
}

fn timed_out() -> Refusal {
    Refusal(format!(
        "handshake not finished within {}",
        crate::config::value::format_duration(HANDSHAKE_TIMEOUT)
    ))
}

fn io_refusal(e: io::Error) -> Refusal {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(),
        io::ErrorKind::UnexpectedEof => Refusal("closed the connection mid-handshake".into()),
        _ => Refusal(format!("socket error during the handshake: {e}")),
    }
}

fn refusal(e: ReadError) -> Refusal {
    match e {
        ReadError::Closed { .. } => io_refusal(io::ErrorKind::UnexpectedEof.into()),
        ReadError::TimedOut { .. } => timed_out(),
        ReadError::Io(e) => io_refusal(e),
    }
}

/// Fills `buf` from the client before the deadline.
pub fn read_exact(
    client: &mut TcpStream,
    buf: &mut [u8],
    deadline: &Deadline,
) -> Result<(), Refusal> {
    read_exact_until(client, buf, deadline, &Armed).map_err(refusal)
}

/// Reads what the client has sent, at most `buf.len()` bytes, before the deadline.
pub fn read_some(
    client: &mut TcpStream,
    buf: &mut [u8],
    deadline: &Deadline,
) -> Result<usize, Refusal> {
    loop {
        let left = deadline.left().ok_or_else(timed_out)?;
        Armed.arm(client, left).map_err(io_refusal)?;
        match client.read(buf) {
            Ok(0) => return Err(io_refusal(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_refusal(e)),
        }
    }
}

/// Writes to the client before the deadline.
pub fn write_all(client: &mut TcpStream, bytes: &[u8], deadline: &Deadline) -> Result<(), Refusal> {
    write_all_until(client, bytes, deadline, &Armed).map_err(refusal)
}

/// Whether the client presented the configured credentials. Compared in time independent of
/// where they differ and of their lengths, so timing tells an attacker nothing about a
/// password's prefix or its length.
pub fn credentials_match(expected: &Credentials, username: &[u8], password: &[u8]) -> bool {
    let user_ok = same_secret(expected.username.as_bytes(), username);
    let pass_ok = same_secret(expected.password.expose().as_bytes(), password);
    user_ok & pass_ok
}

/// Compares the SHA-256 digests of `a` and `b`: always 32 bytes, every byte looked at, so
/// neither a differing length nor the position of the first difference returns early.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (digest(&SHA256, a), digest(&SHA256, b));
    digests_equal(a.as_ref(), b.as_ref())
}

fn digests_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Relays bytes both ways until both directions have ended, starting with `early` towards the
/// target. A side that closes its sending half has that passed on (half-close), so protocols
/// that end with a shutdown still work; an error ends both directions. Returns the bytes sent
/// to the target and the bytes received from it.
pub fn relay(client: TcpStream, upstream: TcpStream, early: &[u8]) -> io::Result<(u64, u64)> {
    let _ = upstream.set_nodelay(true);
    for s in [&client, &upstream] {
        s.set_read_timeout(Some(IDLE_CHECK))?;
        s.set_write_timeout(Some(WRITE_TIMEOUT))?;
    }
    let started = Instant::now();
    let last_activity = Arc::new(AtomicU64::new(0));
    let mut upstream_writer = upstream.try_clone()?;
    upstream_writer.write_all(early)?;
    let down = Direction {
        from: upstream.try_clone()?,
        to: client.try_clone()?,
        started,
        last_activity: Arc::clone(&last_activity),
    };
    let back = thread::Builder::new()
        .name("tool-relay".into())
        .stack_size(STACK_SIZE)
        .spawn(move || down.copy())?;
    let up = Direction {
        from: client,
        to: upstream_writer,
        started,
        last_activity,
    }
    .copy();
    let down = back
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("relay thread panicked")));
    let sent = up? + early.len() as u64;
    Ok((sent, down?))
}

/// One direction of a tunnel.
struct Direction {
    from: TcpStream,
    to: TcpStream,
    started: Instant,
    /// Milliseconds since `started` of the last byte relayed either way.
    last_activity: Arc<AtomicU64>,
}

impl Direction {
    fn copy(mut self) -> io::Result<u64> {
        let result = self.pump();
        match &result {
            // End of stream: pass the half-close on; the other direction goes on.
            Ok(_) => {
                let _ = self.to.shutdown(Shutdown::Write);
            }
            // Anything else ends the whole tunnel, which wakes the other direction.
            Err(_) => {
                let _ = self.from.shutdown(Shutdown::Both);
                let _ = self.to.shutdown(Shutdown::Both);
            }
        }
        result
    }

    fn pump(&mut self) -> io::Result<u64> {
        let mut buf = vec![0u8; RELAY_BUFFER];
        let mut total = 0u64;
        loop {
            match self.from.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    self.to.write_all(&buf[..n])?;
                    total += n as u64;
                    let now = self.started.elapsed().as_millis() as u64;
                    self.last_activity.store(now, Ordering::Relaxed);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    let last = Duration::from_millis(self.last_activity.load(Ordering::Relaxed));
                    if self.started.elapsed().saturating_sub(last) >= IDLE_TIMEOUT {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "no traffic for {}",
                                crate::config::value::format_duration(IDLE_TIMEOUT)
                            ),
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Connects to what a client asked for, within [`CONNECT_TIMEOUT`].
pub fn connect_target(target: &HostPort, allow_link_local: bool) -> io::Result<TcpStream> {
    let addrs = allowed_addrs(target, crate::net::resolve(target)?, allow_link_local)?;
    crate::net::dial_addrs(target, &addrs, CONNECT_TIMEOUT)
}

/// The addresses of `target` a tunnel may go to: link-local ones only when allowed; an error
/// when that leaves none.
fn allowed_addrs(
    target: &HostPort,
    addrs: Vec<SocketAddr>,
    allow_link_local: bool,
) -> io::Result<Vec<SocketAddr>> {
    let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs
        .into_iter()
        .partition(|a| allow_link_local || !is_link_local(a.ip()));
    match refused.first() {
        Some(first) if allowed.is_empty() => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{target} is link-local ({}), where cloud metadata services answer: refused \
                 (--allow-link-local-targets allows it)",
                first.ip()
            ),
        )),
        _ => Ok(allowed),
    }
}

/// 169.254.0.0/16 and fe80::/10, and IPv4-mapped forms of the former: where cloud metadata
/// services (169.254.169.254, fd00:ec2::254 aside) hand out credentials.
fn is_link_local(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_link_local(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => v6.segments()[0] & 0xffc0 == 0xfe80,
        },
    }
}

#[cfg(test)]
mod tests;
