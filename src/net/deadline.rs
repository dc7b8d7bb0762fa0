//! One bound on a whole socket operation, however many reads or writes it takes: a peer that
//! trickles a byte at a time cannot stretch it, as a timeout on each system call would let it.
//! Every reader of a peer's bytes before a deadline (the pumps, the SASL and gateway handshakes,
//! the proxy's own broker login, the forward-proxy negotiation, the tools, the HTTP server) uses
//! [`read_exact_until`] and [`write_all_until`] here, and maps [`ReadError`] to its own error.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The slowest transfer of a large frame that is not cut short: a frame of `n` bytes may take
/// the read timeout plus `n` / this rate (see [`Deadline::for_bytes`]).
pub const MIN_TRANSFER_RATE: u64 = 32 * 1024;

/// The instant by which an operation must be done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    pub fn after(timeout: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + timeout,
        }
    }

    pub fn at(at: Instant) -> Deadline {
        Deadline { at }
    }

    /// For reading a frame body of `bytes`: `timeout` plus time for the bytes at
    /// [`MIN_TRANSFER_RATE`]. Small frames get the timeout alone, so a client trickling a request
    /// a byte a second (slowloris) is closed when it expires; a 100 MiB frame gets almost an
    /// hour, so a slow but honest link still delivers it.
    pub fn for_bytes(timeout: Duration, bytes: usize) -> Deadline {
        let transfer = Duration::from_millis(bytes as u64 * 1000 / MIN_TRANSFER_RATE);
        Deadline::after(timeout.saturating_add(transfer))
    }

    pub fn instant(&self) -> Instant {
        self.at
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The time left, `None` once it has passed.
    pub fn left(&self) -> Option<Duration> {
        Some(self.at.saturating_duration_since(Instant::now())).filter(|left| !left.is_zero())
    }
}

/// Why [`read_exact_until`] or [`write_all_until`] stopped short.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection after `got` bytes of the buffer.
    Closed { got: usize },
    /// The deadline passed after `got` bytes.
    TimedOut { got: usize },
    /// Any other socket error.
    Io(io::Error),
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        match e {
            ReadError::Closed { .. } => io::ErrorKind::UnexpectedEof.into(),
            ReadError::TimedOut { .. } => {
                io::Error::new(io::ErrorKind::TimedOut, "the deadline passed")
            }
            ReadError::Io(e) => e,
        }
    }
}

/// How a socket is bounded before each read or write.
pub trait Arm<S: ?Sized> {
    /// Called with the time left before every system call.
    fn arm(&self, stream: &S, left: Duration) -> io::Result<()>;
}

/// The stream's socket already has a short timeout (the pumps' wake interval): nothing to set,
/// the deadline is checked between reads.
pub struct Preset;

impl<S: ?Sized> Arm<S> for Preset {
    fn arm(&self, _: &S, _: Duration) -> io::Result<()> {
        Ok(())
    }
}

/// A stream over a TCP socket whose timeouts bound each system call.
pub trait Timed {
    fn tcp(&self) -> &TcpStream;
}

impl Timed for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl<T: Timed + ?Sized> Timed for &T {
    fn tcp(&self) -> &TcpStream {
        (**self).tcp()
    }
}

/// Sets the socket's read and write timeouts to the time left before each call.
pub struct Armed;

impl<S: Timed + ?Sized> Arm<S> for Armed {
    fn arm(&self, stream: &S, left: Duration) -> io::Result<()> {
        let socket = stream.tcp();
        socket.set_read_timeout(Some(left))?;
        socket.set_write_timeout(Some(left))
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Fills `buf` from `stream` before `deadline`. The deadline is checked before every read, so
/// bytes arriving just before each socket timeout cannot hold the operation open.
pub fn read_exact_until<S: Read + ?Sized>(
    stream: &mut S,
    buf: &mut [u8],
    deadline: &Deadline,
    arm: &impl Arm<S>,
) -> Result<(), ReadError> {
    let mut got = 0;
    while got < buf.len() {
        let left = deadline.left().ok_or(ReadError::TimedOut { got })?;
        arm.arm(stream, left).map_err(ReadError::Io)?;
        match stream.read(&mut buf[got..]) {
            Ok(0) => return Err(ReadError::Closed { got }),
            Ok(n) => got += n,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    Ok(())
}

/// Writes all of `bytes` to `stream` before `deadline`, then flushes it.
pub fn write_all_until<S: Write + ?Sized>(
    stream: &mut S,
    bytes: &[u8],
    deadline: &Deadline,
    arm: &impl Arm<S>,
) -> Result<(), ReadError> {
    let mut sent = 0;
    while sent < bytes.len() {
        let left = deadline.left().ok_or(ReadError::TimedOut { got: sent })?;
        arm.arm(stream, left).map_err(ReadError::Io)?;
        match stream.write(&bytes[sent..]) {
            Ok(0) => return Err(ReadError::Closed { got: sent }),
            Ok(n) => sent += n,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    stream.flush().map_err(ReadError::Io)
}

/// Why [`read_frame`] stopped short; `E` is the size check's error.
#[derive(Debug)]
pub enum FrameError<E> {
    /// Reading the 4-byte size prefix (`Closed { got: 0 }` is a close between frames).
    Prefix(ReadError),
    /// The size check refused the prefix.
    Size(E),
    /// Reading the frame body.
    Body(ReadError),
}

/// Reads one size-prefixed frame before `deadline`. `size` checks the prefix (see
/// [`size_within`]) and gives the body's length, which is allocated only after that check.
pub fn read_frame<S: Read + ?Sized, E>(
    stream: &mut S,
    deadline: &Deadline,
    arm: &impl Arm<S>,
    size: impl FnOnce([u8; 4]) -> Result<usize, E>,
) -> Result<Vec<u8>, FrameError<E>> {
    let mut prefix = [0u8; 4];
    read_exact_until(stream, &mut prefix, deadline, arm).map_err(FrameError::Prefix)?;
    let mut frame = vec![0u8; size(prefix).map_err(FrameError::Size)?];
    read_exact_until(stream, &mut frame, deadline, arm).map_err(FrameError::Body)?;
    Ok(frame)
}

/// The plain size check: the prefix as a length in `min..=max`, or the refused value.
pub fn size_within(min: usize, max: usize) -> impl FnOnce([u8; 4]) -> Result<usize, i32> {
    move |prefix| {
        let size = i32::from_be_bytes(prefix);
        usize::try_from(size)
            .ok()
            .filter(|size| (min..=max).contains(size))
            .ok_or(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A stream that yields scripted reads: bytes, a timeout, or an error.
    struct Script(VecDeque<io::Result<Vec<u8>>>);

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.pop_front() {
                None => Ok(0),
                Some(Err(e)) => Err(e),
                Some(Ok(bytes)) => {
                    let n = bytes.len().min(buf.len());
                    buf[..n].copy_from_slice(&bytes[..n]);
                    if n < bytes.len() {
                        self.0.push_front(Ok(bytes[n..].to_vec()));
                    }
                    Ok(n)
                }
            }
        }
    }

    fn script(steps: Vec<io::Result<Vec<u8>>>) -> Script {
        Script(steps.into())
    }

    fn timeout() -> io::Result<Vec<u8>> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    #[test]
    fn reads_across_timeouts_and_short_reads() {
        let mut s = script(vec![Ok(vec![1]), timeout(), Ok(vec![2, 3]), Ok(vec![4])]);
        let mut buf = [0u8; 4];
        let deadline = Deadline::after(Duration::from_secs(5));
        read_exact_until(&mut s, &mut buf, &deadline, &Preset).unwrap();
        assert_eq!(buf, [1, 2, 3, 4]);
    }

    #[test]
    fn a_close_says_how_much_arrived() {
        let mut s = script(vec![Ok(vec![1, 2])]);
        let deadline = Deadline::after(Duration::from_secs(5));
        let e = read_exact_until(&mut s, &mut [0u8; 4], &deadline, &Preset).unwrap_err();
        assert!(matches!(e, ReadError::Closed { got: 2 }), "{e:?}");
    }

    #[test]
    fn a_passed_deadline_stops_a_trickle() {
        let mut s = script(vec![Ok(vec![1]), Ok(vec![2])]);
        let deadline = Deadline::at(Instant::now());
        let e = read_exact_until(&mut s, &mut [0u8; 4], &deadline, &Preset).unwrap_err();
        assert!(matches!(e, ReadError::TimedOut { got: 0 }), "{e:?}");
        // Nothing to read needs no time.
        read_exact_until(&mut s, &mut [], &deadline, &Preset).unwrap();
    }

    #[test]
    fn other_errors_end_the_read() {
        let mut s = script(vec![Err(io::ErrorKind::ConnectionReset.into())]);
        let deadline = Deadline::after(Duration::from_secs(5));
        let e = read_exact_until(&mut s, &mut [0u8; 1], &deadline, &Preset).unwrap_err();
        assert!(matches!(e, ReadError::Io(ref e) if e.kind() == io::ErrorKind::ConnectionReset));
    }

    #[test]
    fn frames_are_size_checked_before_allocating() {
        let deadline = Deadline::after(Duration::from_secs(5));
        let read = |s: &mut Script| read_frame(s, &deadline, &Preset, size_within(1, 10));
        let mut s = script(vec![Ok(vec![0, 0, 0, 3, 7, 8, 9])]);
        assert_eq!(read(&mut s).unwrap(), [7, 8, 9]);
        for (prefix, size) in [([0xff; 4], -1), ([0, 0, 0, 11], 11), ([0, 0, 0, 0], 0)] {
            let mut s = script(vec![Ok(prefix.to_vec())]);
            let e = read(&mut s).unwrap_err();
            assert!(matches!(e, FrameError::Size(got) if got == size), "{e:?}");
        }
        let mut s = script(vec![]);
        let e = read(&mut s).unwrap_err();
        assert!(matches!(
            e,
            FrameError::Prefix(ReadError::Closed { got: 0 })
        ));
        let mut s = script(vec![Ok(vec![0, 0, 0, 2, 1])]);
        let e = read(&mut s).unwrap_err();
        assert!(matches!(e, FrameError::Body(ReadError::Closed { got: 1 })));
    }

    #[test]
    fn large_frames_get_time_for_their_bytes() {
        let timeout = Duration::from_secs(1);
        let small = Deadline::for_bytes(timeout, 1000).instant();
        let large = Deadline::for_bytes(timeout, 100 << 20).instant();
        // 1000 bytes at 32 KiB/s: 30 ms more.
        assert!(small <= Instant::now() + timeout + Duration::from_millis(31));
        assert!(large >= Instant::now() + Duration::from_secs(3000));
    }

    #[test]
    fn writes_are_bounded_too() {
        let mut out = Vec::new();
        let deadline = Deadline::after(Duration::from_secs(5));
        write_all_until(&mut out, b"abc", &deadline, &Preset).unwrap();
        assert_eq!(out, b"abc");
        let e = write_all_until(&mut out, b"x", &Deadline::at(Instant::now()), &Preset);
        assert!(matches!(e, Err(ReadError::TimedOut { got: 0 })));
    }
}
