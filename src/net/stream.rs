//! A connected byte stream the proxy can hand to its pumps: plain TCP, or TLS over TCP. Before
//! the pumps start, a stream is used whole for handshakes (TLS, gateway, SASL); then it is split
//! into a read half and a write half, each driven by its own thread.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::Deref;
use std::sync::Arc;

/// The read half of a split stream.
pub type ReadHalf = Box<dyn Read + Send>;
/// The write half of a split stream.
pub type WriteHalf = Box<dyn Write + Send>;

/// A TCP socket that several owners use at once: the two halves of a split stream, and the
/// connection registry that shuts it down. Sharing one handle costs no descriptor, where
/// `TcpStream::try_clone` costs one per copy (the proxy holds two sockets per connection and
/// must fit 10,000 connections in a 20,000-descriptor limit).
#[derive(Clone, Debug)]
pub struct Socket(Arc<TcpStream>);

impl From<TcpStream> for Socket {
    fn from(socket: TcpStream) -> Self {
        Socket(Arc::new(socket))
    }
}

impl Deref for Socket {
    type Target = TcpStream;

    fn deref(&self) -> &TcpStream {
        &self.0
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self.0).write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A byte stream over one TCP socket.
pub trait Transport: Read + Write + Send {
    /// The TCP socket underneath: timeouts, shutdown and addresses are set on it.
    fn socket(&self) -> &Socket;

    /// Splits into halves usable from two threads at once.
    fn split(self: Box<Self>) -> io::Result<(ReadHalf, WriteHalf)>;

    /// A short description for logs: "plaintext", "TLS 1.3", ...
    fn describe(&self) -> String {
        "plaintext".to_string()
    }

    /// The subject of the certificate the client presented (TLS listeners with client
    /// certificates), as the proxy logs it: `/CN=name/O=org`.
    fn peer_subject(&self) -> Option<&str> {
        None
    }

    /// Whether a read may take more from the socket than it returns (TLS decrypts whole
    /// records): then an empty socket does not mean nothing is left to read.
    fn buffers_reads(&self) -> bool {
        true
    }
}

/// A boxed [`Transport`], what connection code passes around.
pub type Stream = Box<dyn Transport>;

impl Transport for Socket {
    fn socket(&self) -> &Socket {
        self
    }

    fn split(self: Box<Self>) -> io::Result<(ReadHalf, WriteHalf)> {
        Ok((Box::new(self.clone()), self))
    }

    fn buffers_reads(&self) -> bool {
        false
    }
}

/// A plaintext stream over `socket`.
pub fn plain(socket: TcpStream) -> Stream {
    Box::new(Socket::from(socket))
}

impl crate::net::deadline::Timed for Stream {
    fn tcp(&self) -> &TcpStream {
        self.socket()
    }
}
