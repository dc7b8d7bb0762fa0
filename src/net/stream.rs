//! A connected byte stream the proxy can hand to its pumps: plain TCP, or TLS over TCP. Before
//! the pumps start, a stream is used whole for handshakes (TLS, gateway, SASL); then it is split
//! into a read half and a write half, each driven by its own thread.

use std::io::{self, Read, Write};
use std::net::TcpStream;

/// The read half of a split stream.
pub type ReadHalf = Box<dyn Read + Send>;
/// The write half of a split stream.
pub type WriteHalf = Box<dyn Write + Send>;

/// A byte stream over one TCP socket.
pub trait Transport: Read + Write + Send {
    /// The TCP socket underneath: timeouts, shutdown and addresses are set on it.
    fn socket(&self) -> &TcpStream;

    /// Splits into halves usable from two threads at once.
    fn split(self: Box<Self>) -> io::Result<(ReadHalf, WriteHalf)>;

    /// A short description for logs: "plaintext", "TLS 1.3", ...
    fn describe(&self) -> String {
        "plaintext".to_string()
    }
}

/// A boxed [`Transport`], what connection code passes around.
pub type Stream = Box<dyn Transport>;

impl Transport for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }

    fn split(self: Box<Self>) -> io::Result<(ReadHalf, WriteHalf)> {
        let reader = self.try_clone()?;
        Ok((Box::new(reader), self))
    }
}
