//! Reading and writing frames for the pumps: size prefixes, whole frames within a deadline, and
//! frames copied through as bytes without holding them whole.
//!
//! Every write goes into the pump's [`Coalescer`], and every read that needs the socket (the
//! reader's buffer holds fewer bytes than it wants) first flushes it: the frames one read
//! brought leave together, and none waits for bytes that have not arrived.

use super::coalesce::Coalescer;
use crate::net::deadline::{read_exact_until, Deadline, Preset, ReadError};
use crate::net::frame::{ConnError, Side};
use crate::net::splice::{self, SpliceError};
use crate::net::stream::{ReadHalf, Socket};
use std::io::{self, BufRead, BufReader, Read};
use std::time::Duration;

/// A running response pump keeps its decode buffers up to this size between responses (the
/// common 1 MiB Fetch response is not allocated and paged in again for each); larger ones are
/// released after use, and all when the pump parks.
const KEEP_BUFFER: usize = 2 * 1024 * 1024;
/// The request pump keeps a head buffer up to this size between requests (small requests need
/// no allocation; a Produce head is read again for the next one).
pub(super) const KEEP_HEAD: usize = 1024;

pub(super) fn shrink(buf: &mut Vec<u8>) {
    if buf.capacity() > KEEP_BUFFER {
        *buf = Vec::new();
    }
}

pub(super) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The side a pump reading from `from` writes to.
fn other(from: Side) -> Side {
    match from {
        Side::Client => Side::Broker,
        Side::Broker => Side::Client,
    }
}

/// Flushes `writer` when reading `want` bytes from `reader` needs its socket.
fn flush_before_read(
    reader: &BufReader<ReadHalf>,
    writer: &mut Coalescer,
    want: usize,
    from: Side,
) -> Result<(), ConnError> {
    if reader.buffer().len() < want {
        flush(writer, other(from))?;
    }
    Ok(())
}

/// Writes out what `writer` holds, which goes to `to`.
pub(super) fn flush(writer: &mut Coalescer, to: Side) -> Result<(), ConnError> {
    writer
        .flush()
        .map_err(|e| ConnError::io(to, e, "writing a frame"))
}

/// Reads a size prefix; `writer` is the pump's writer, flushed if the socket must be read.
pub(super) fn read_prefix(
    reader: &mut BufReader<ReadHalf>,
    writer: &mut Coalescer,
    side: Side,
    timeout: Duration,
) -> Result<[u8; 4], ConnError> {
    let mut prefix = [0u8; 4];
    read_exact(reader, writer, &mut prefix, side, timeout)?;
    Ok(prefix)
}

/// Fills `buf` from `reader` within `timeout` (plus time for a large buffer's bytes, see
/// [`Deadline::for_bytes`]). The socket keeps its own short timeout, the pump's wake interval.
/// `writer` is the pump's writer, flushed first if the socket must be read.
pub(super) fn read_exact(
    reader: &mut BufReader<ReadHalf>,
    writer: &mut Coalescer,
    buf: &mut [u8],
    side: Side,
    timeout: Duration,
) -> Result<(), ConnError> {
    flush_before_read(reader, writer, buf.len(), side)?;
    let deadline = Deadline::for_bytes(timeout, buf.len());
    read_exact_until(reader, buf, &deadline, &Preset).map_err(|e| match e {
        ReadError::Closed { .. } => ConnError::ClosedMidFrame(side),
        ReadError::TimedOut { .. } => ConnError::Timeout(side, "in the middle of a frame"),
        ReadError::Io(e) => ConnError::io(side, e, "in the middle of a frame"),
    })
}

/// Holds `buf` in `writer` (or writes it, when large) for the next flush.
pub(super) fn write_all(writer: &mut Coalescer, buf: &[u8], to: Side) -> Result<(), ConnError> {
    writer
        .write_all(buf)
        .map_err(|e| ConnError::io(to, e, "writing a frame"))
}

/// The two sockets under a pump's reader and writer, when both are plaintext TCP (and the
/// writer is the pump's own): then a large body can be spliced from one to the other instead
/// of copied through the proxy (see [`splice`]).
pub(super) struct Route {
    pub(super) from: Socket,
    pub(super) to: Socket,
    /// `--proxy-splice-threshold`: the least body, beyond what the reader holds, worth a
    /// splice; 0 never splices.
    pub(super) threshold: usize,
}

impl Route {
    /// A route when both sockets are given and splicing is on.
    pub(super) fn new(from: Option<Socket>, to: Option<Socket>, threshold: usize) -> Option<Self> {
        match (from, to) {
            (Some(from), Some(to)) if threshold > 0 => Some(Route {
                from,
                to,
                threshold,
            }),
            _ => None,
        }
    }
}

/// Writes `staged` followed by the next `remaining` bytes of `reader` to `writer`. A frame
/// whose bytes are all buffered is copied into the writer once and leaves with the frames read
/// with it; a longer one flushes the writer and streams through the reader's buffer without
/// further copies, its last piece held for the frames that follow. On a `route`, what is left
/// of a large body once the reader's buffer is empty is spliced, socket to socket.
pub(super) fn copy_frame(
    reader: &mut BufReader<ReadHalf>,
    writer: &mut Coalescer,
    staged: &[u8],
    mut remaining: usize,
    from: Side,
    timeout: Duration,
    route: Option<&Route>,
) -> Result<(), ConnError> {
    let to = other(from);
    let available = reader.buffer();
    let take = available.len().min(remaining);
    write_all(writer, staged, to)?;
    write_all(writer, &available[..take], to)?;
    reader.consume(take);
    remaining -= take;
    if remaining == 0 {
        return Ok(());
    }
    // The rest must be read: what is held goes first, and from here on the writer holds
    // nothing at the top of the loop, so pieces can be written straight through.
    flush(writer, to)?;
    let deadline = Deadline::for_bytes(timeout, remaining);
    while remaining > 0 {
        if reader.buffer().is_empty() && remaining > reader.capacity() {
            let spliced = route
                .filter(|route| remaining >= route.threshold)
                .and_then(|route| splice_bulk(route, remaining, from, to, &deadline));
            remaining -= match spliced {
                Some(moved) => moved?,
                None => copy_bulk(reader, writer, remaining, from, to, &deadline)?,
            };
            continue;
        }
        let chunk = match reader.fill_buf() {
            Ok([]) => return Err(ConnError::ClosedMidFrame(from)),
            // As in `read_exact`: a trickle of bytes does not extend the deadline.
            Ok(chunk) if chunk.len() < remaining && deadline.expired() => {
                return Err(ConnError::Timeout(from, "in the middle of a frame"))
            }
            Ok(chunk) => chunk,
            Err(e) if is_timeout(&e) && !deadline.expired() => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ConnError::io(from, e, "in the middle of a frame")),
        };
        let take = chunk.len().min(remaining);
        // Only a last piece with further bytes behind it in the reader's buffer has frames to
        // leave with.
        write_piece(writer, &chunk[..take], take < chunk.len(), to)?;
        reader.consume(take);
        remaining -= take;
    }
    Ok(())
}

/// Large frame bodies are copied through a per-thread buffer of up to this size. With
/// grepplabs' default 4 KiB copy buffers a 64 KiB batch would otherwise take 16 reads and 16
/// writes. Each read and write of a pass-through body may sleep (and wake) the pump, so fewer,
/// larger ones matter: for 1 MiB Fetch responses on one connection, 256 KiB reached HAProxy's
/// throughput where 64 KiB gave 0.72 of it and 128 KiB 0.89 (benches/perf). The buffer grows
/// to the largest body copied (a 64 KiB batch takes 64 KiB), only on a pump's first large
/// frame, and goes when the response pump parks or the request pump has idled for a wake
/// interval, so idle connections do not pay for it.
const BULK_COPY: usize = 256 * 1024;

thread_local! {
    pub(super) static BULK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes a piece of a frame being streamed: held when the frames behind it in the reader's
/// buffer (`more`) can leave with it, otherwise straight through without a copy, as the next
/// read would flush it anyway.
fn write_piece(
    writer: &mut Coalescer,
    piece: &[u8],
    more: bool,
    to: Side,
) -> Result<(), ConnError> {
    let written = if more {
        writer.write_all(piece)
    } else {
        writer.write_through(piece)
    };
    written.map_err(|e| ConnError::io(to, e, "writing a frame"))
}

/// One splice of up to a pipe's worth of bytes, socket to socket: the counterpart of
/// [`copy_bulk`] (same deadline, same errors), or `None` when no pipe is available. The
/// reader's buffer is empty and the writer holds nothing (see `copy_frame`), so the bytes go
/// out in order.
fn splice_bulk(
    route: &Route,
    remaining: usize,
    from: Side,
    to: Side,
    deadline: &Deadline,
) -> Option<Result<usize, ConnError>> {
    let moved = match splice::transfer(&route.from, &route.to, remaining)? {
        Ok(0) => Err(ConnError::ClosedMidFrame(from)),
        Ok(n) if n < remaining && deadline.expired() => {
            Err(ConnError::Timeout(from, "in the middle of a frame"))
        }
        Ok(n) => Ok(n),
        Err(SpliceError::Read(e)) if is_timeout(&e) && !deadline.expired() => Ok(0),
        Err(SpliceError::Read(e)) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(SpliceError::Read(e)) => Err(ConnError::io(from, e, "in the middle of a frame")),
        Err(SpliceError::Write(e)) => Err(ConnError::io(to, e, "writing a frame")),
    };
    Some(moved)
}

/// One read of up to [`BULK_COPY`] bytes straight from the socket (the reader's own buffer is
/// empty and bypassed) and its write. Returns the bytes copied; 0 after a socket timeout that
/// left time before the deadline.
fn copy_bulk(
    reader: &mut BufReader<ReadHalf>,
    writer: &mut Coalescer,
    remaining: usize,
    from: Side,
    to: Side,
    deadline: &Deadline,
) -> Result<usize, ConnError> {
    BULK.with(|bulk| {
        let mut bulk = bulk.borrow_mut();
        let want = remaining.min(BULK_COPY);
        if bulk.len() < want {
            bulk.resize(want, 0);
        }
        match reader.read(&mut bulk[..want]) {
            Ok(0) => Err(ConnError::ClosedMidFrame(from)),
            // As in `read_exact`: a trickle of bytes does not extend the deadline.
            Ok(n) if n < remaining && deadline.expired() => {
                Err(ConnError::Timeout(from, "in the middle of a frame"))
            }
            // Read past the reader's buffer, which stays empty: nothing follows to leave with.
            Ok(n) => write_piece(writer, &bulk[..n], false, to).map(|()| n),
            Err(e) if is_timeout(&e) && !deadline.expired() => Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(ConnError::io(from, e, "in the middle of a frame")),
        }
    })
}
