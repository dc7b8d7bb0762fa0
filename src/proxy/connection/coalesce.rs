//! The pumps' coalescing writer: the frames one read brought leave in one write.
//!
//! Writing each frame on its own costs a system call per frame, in each direction; with small
//! pipelined requests (a client that writes several in one go, as librdkafka does) that made
//! the proxy spend most of its time in `sendto` (issue 17). A pump therefore writes frames into
//! a [`Coalescer`] and flushes it whenever it is about to read from its socket, so a frame never
//! waits for bytes that have not arrived yet and latency does not grow; see `frame_io` for
//! where the pumps flush.

use crate::net::stream::WriteHalf;
use std::io::{self, Write};

/// The most bytes a coalescer holds. A write at least this large bypasses the buffer (after
/// what it holds): copying a large body costs more than the system call it would save.
pub(super) const COALESCE_CAPACITY: usize = 64 * 1024;

/// A write half with a buffer in front, like `BufWriter`, but with its buffer allocated only
/// when a frame is held (and released by the pump when it idles), so an idle connection keeps
/// none, and with a way to write straight through when the pump knows more reads must follow.
pub(super) struct Coalescer {
    inner: WriteHalf,
    buf: Vec<u8>,
    capacity: usize,
    /// What the buffer grows to once it holds a second frame: about what one read of the
    /// pump's reader can bring, so the frames of one read fit without growing further.
    initial: usize,
}

impl Coalescer {
    pub(super) fn new(inner: WriteHalf, initial: usize) -> Self {
        Self::with_capacity(inner, initial, COALESCE_CAPACITY)
    }

    fn with_capacity(inner: WriteHalf, initial: usize, capacity: usize) -> Self {
        Coalescer {
            inner,
            buf: Vec::new(),
            capacity,
            initial: initial.min(capacity),
        }
    }

    /// Holds `bytes` for the next flush; what is held goes first when they do not fit, and
    /// bytes as large as the buffer are written at once, without a copy.
    pub(super) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() > self.capacity - self.buf.len() {
            self.flush_buf()?;
        }
        if bytes.len() >= self.capacity {
            return self.inner.write_all(bytes);
        }
        let needed = self.buf.len() + bytes.len();
        if needed > self.buf.capacity() {
            // A lone frame (the common case on a quiet connection, which frees the buffer
            // between requests) takes only its own size: a larger block would stay resident
            // in the allocator after it is freed. A second frame means a batch: one read's
            // worth at once, then doubling up to the capacity.
            let target = if self.buf.capacity() == 0 {
                needed
            } else {
                (self.buf.capacity() * 2).max(self.initial).max(needed)
            }
            .min(self.capacity);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Writes what is held, then `bytes`, without copying them: for a piece of a frame whose
    /// rest must still be read, which flushing would write out before that read anyway.
    pub(super) fn write_through(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.flush_buf()?;
        self.inner.write_all(bytes)
    }

    /// Writes out everything held.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        self.inner.flush()
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.inner.write_all(&self.buf);
        // After a failed write the connection ends; what was held is not written again (part
        // of it may have gone out).
        self.buf.clear();
        result
    }

    /// Whether nothing is held.
    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Gives the buffer back, for a pump that goes idle. Only called after a flush.
    pub(super) fn release(&mut self) {
        debug_assert!(self.buf.is_empty());
        self.buf = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records each `write` call it gets, and fails them all once told to.
    #[derive(Clone, Default)]
    struct Recorder {
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        failing: Arc<Mutex<bool>>,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if *self.failing.lock().unwrap() {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "peer gone"));
            }
            self.writes.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn coalescer(capacity: usize) -> (Coalescer, Recorder) {
        let recorder = Recorder::default();
        let writer = Coalescer::with_capacity(Box::new(recorder.clone()), 8, capacity);
        (writer, recorder)
    }

    fn writes(recorder: &Recorder) -> Vec<Vec<u8>> {
        recorder.writes.lock().unwrap().clone()
    }

    #[test]
    fn holds_frames_until_flushed_then_writes_them_at_once() {
        let (mut writer, recorder) = coalescer(64);
        writer.write_all(b"one").unwrap();
        writer.write_all(b"two").unwrap();
        assert!(
            writes(&recorder).is_empty(),
            "nothing written before the flush"
        );
        assert!(!writer.is_empty());
        writer.flush().unwrap();
        assert_eq!(writes(&recorder), vec![b"onetwo".to_vec()]);
        assert!(writer.is_empty());
        writer.flush().unwrap();
        assert_eq!(writes(&recorder).len(), 1, "an empty flush writes nothing");
    }

    #[test]
    fn large_writes_bypass_the_buffer_after_what_it_holds() {
        let (mut writer, recorder) = coalescer(16);
        writer.write_all(b"head").unwrap();
        let large = [7u8; 16];
        writer.write_all(&large).unwrap();
        assert_eq!(writes(&recorder), vec![b"head".to_vec(), large.to_vec()]);
        assert!(writer.is_empty(), "the large write was not copied");
    }

    #[test]
    fn a_write_that_does_not_fit_pushes_out_what_is_held() {
        let (mut writer, recorder) = coalescer(16);
        writer.write_all(&[1u8; 10]).unwrap();
        writer.write_all(&[2u8; 10]).unwrap();
        assert_eq!(writes(&recorder), vec![vec![1u8; 10]]);
        writer.flush().unwrap();
        assert_eq!(writes(&recorder)[1], vec![2u8; 10]);
    }

    #[test]
    fn the_buffer_never_grows_past_its_capacity_and_is_released() {
        let (mut writer, _recorder) = coalescer(16);
        writer.write_all(&[0u8; 3]).unwrap();
        assert_eq!(writer.buf.capacity(), 3, "a lone frame takes its own size");
        writer.write_all(&[0u8; 2]).unwrap();
        assert_eq!(writer.buf.capacity(), 8, "a batch takes one read's worth");
        for _ in 0..5 {
            writer.write_all(&[0u8; 5]).unwrap();
            assert!(writer.buf.capacity() <= 16);
        }
        writer.flush().unwrap();
        writer.release();
        assert_eq!(writer.buf.capacity(), 0, "an idle pump keeps no buffer");
    }

    #[test]
    fn write_through_keeps_the_order() {
        let (mut writer, recorder) = coalescer(64);
        writer.write_all(b"held").unwrap();
        writer.write_through(b"piece").unwrap();
        assert_eq!(writes(&recorder), vec![b"held".to_vec(), b"piece".to_vec()]);
        assert!(writer.is_empty());
    }

    #[test]
    fn errors_propagate_and_what_failed_is_not_written_again() {
        let (mut writer, recorder) = coalescer(64);
        writer.write_all(b"lost").unwrap();
        *recorder.failing.lock().unwrap() = true;
        let err = writer.flush().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(writer.is_empty());
        assert_eq!(
            writer.write_all(&[0u8; 64]).unwrap_err().kind(),
            io::ErrorKind::BrokenPipe,
            "a bypassing write fails at once"
        );
        assert_eq!(
            writer.write_through(b"x").unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        *recorder.failing.lock().unwrap() = false;
        writer.flush().unwrap();
        assert!(writes(&recorder).is_empty(), "nothing failed is retried");
    }
}
