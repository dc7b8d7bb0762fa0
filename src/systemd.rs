//! systemd readiness notification (`sd_notify`): with `Type=notify`, systemd passes a datagram
//! socket in `NOTIFY_SOCKET` and waits for `READY=1` before it calls the service started; on a
//! drain the proxy sends `STOPPING=1`. Without `NOTIFY_SOCKET` nothing is sent.
//!
//! The protocol is one datagram of `KEY=value` lines to a Unix socket: a path, or an abstract
//! name when it starts with `@`. `std` covers both, so no libsystemd and no unsafe code.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (e.g. `READY=1`) to the socket in `NOTIFY_SOCKET`. `Ok(false)` when the
/// variable is not set (not started by systemd, or not `Type=notify`).
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os(NOTIFY_SOCKET) {
        Some(socket) if !socket.is_empty() => notify_to(&socket, state).map(|()| true),
        _ => Ok(false),
    }
}

/// Sends `state` to `socket`: a filesystem path, or `@name` for an abstract socket.
pub fn notify_to(socket: &OsStr, state: &str) -> io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    let bytes = socket.as_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        send_abstract(&sender, name, state)?
    } else {
        sender.send_to(state.as_bytes(), socket)?
    };
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("{NOTIFY_SOCKET}: sent {sent} of {} bytes", state.len()),
        ));
    }
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(sender: &UnixDatagram, name: &[u8], state: &str) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sender.send_to_addr(state.as_bytes(), &addr)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &str) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract NOTIFY_SOCKET names exist only on Linux",
    ))
}

/// Sends `state` if systemd asked for notifications; a failure is logged, never fatal (the
/// proxy works the same without systemd's bookkeeping).
pub fn notify_logged(state: &str) {
    match notify(state) {
        Ok(true) => log::debug!("told systemd {state}"),
        Ok(false) => {}
        Err(e) => log::warn!("cannot tell systemd {state} through {NOTIFY_SOCKET}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn path_socket() {
        let dir = std::env::temp_dir().join(format!("kp-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        notify_to(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("kafka-proxy-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        notify_to(OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn missing_socket_is_an_error() {
        let err = notify_to(OsStr::new("/nonexistent/kafka-proxy.sock"), "READY=1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
