//! Moving bytes between two plaintext TCP sockets without copying them through user space:
//! `splice(2)` from the source socket into a pipe, and from the pipe into the destination
//! socket. The kernel hands the socket buffers' pages along instead of copying them into the
//! proxy and back (issue 17: large pass-through bodies). Only plaintext sockets qualify (TLS
//! must see every byte); the pumps fall back to their copy whenever this is unavailable.
//!
//! Each thread that splices keeps one pipe (two descriptors) while it is busy; the pumps drop
//! it when they go idle ([`release`]), and at most [`MAX_PIPES`] exist at once, so pipes never
//! take the descriptors accepted connections need: past the bound a pump copies instead.

use rustix::fd::OwnedFd;
use rustix::pipe::{self, PipeFlags, SpliceFlags};
use std::cell::RefCell;
use std::io;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most pipes the process holds at once (two descriptors each). Splicing saves CPU on a
/// machine's busiest connections; more pipes than cores busy at a time buy nothing.
pub const MAX_PIPES: usize = 256;

/// What each pipe is asked to hold: as much as one bulk copy moves (see the pumps' `frame_io`),
/// so a large body takes as few system calls as with the copy. Unprivileged processes may
/// grow a pipe up to `/proc/sys/fs/pipe-max-size` (1 MiB by default); a refusal keeps the
/// kernel's default (64 KiB).
const PIPE_SIZE: usize = 256 * 1024;

static PIPES_OPEN: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static PIPE: RefCell<Option<Pipe>> = const { RefCell::new(None) };
}

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    /// A new pipe, or `None` at the bound or when the system refuses one (no descriptors left).
    fn open() -> Option<Pipe> {
        if PIPES_OPEN.fetch_add(1, Ordering::Relaxed) >= MAX_PIPES {
            PIPES_OPEN.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        match pipe::pipe_with(PipeFlags::CLOEXEC) {
            Ok((read, write)) => {
                let capacity = pipe::fcntl_setpipe_size(&write, PIPE_SIZE)
                    .or_else(|_| pipe::fcntl_getpipe_size(&write))
                    .unwrap_or(64 * 1024);
                Some(Pipe {
                    read,
                    write,
                    capacity,
                })
            }
            Err(e) => {
                PIPES_OPEN.fetch_sub(1, Ordering::Relaxed);
                log::debug!("no pipe for splice ({e}); copying instead");
                None
            }
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        PIPES_OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a splice failed: reading the source or writing the destination (the side to blame).
#[derive(Debug)]
pub enum SpliceError {
    Read(io::Error),
    Write(io::Error),
}

/// Moves up to `len` bytes (at least one) from `from` to `to` through this thread's pipe: one
/// splice in, as much as the source has ready up to the pipe's size, then splices out until the
/// pipe is empty again. Returns the bytes moved (0: the source is at its end), or `None` when
/// no pipe is available, for the caller to copy instead. While bytes of the `len` are still to
/// come, the writes say so (`SPLICE_F_MORE`, as `MSG_MORE`), which lets TCP fill whole
/// segments; the last one pushes.
///
/// Both sockets keep their timeouts: a read that times out returns that error with nothing
/// moved; after any failure the pipe is dropped, so no stray bytes stay in it.
pub fn transfer(
    from: &TcpStream,
    to: &TcpStream,
    len: usize,
) -> Option<Result<usize, SpliceError>> {
    PIPE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Pipe::open()?);
        }
        let pipe = slot.as_ref()?;
        let result = move_through(pipe, from, to, len);
        if result.is_err() {
            *slot = None;
        }
        Some(result)
    })
}

fn move_through(
    pipe: &Pipe,
    from: &TcpStream,
    to: &TcpStream,
    len: usize,
) -> Result<usize, SpliceError> {
    let want = len.min(pipe.capacity);
    let got = pipe::splice(from, None, &pipe.write, None, want, SpliceFlags::MOVE)
        .map_err(|e| SpliceError::Read(e.into()))?;
    let mut left = got;
    while left > 0 {
        let flags = if got < len {
            SpliceFlags::MOVE | SpliceFlags::MORE
        } else {
            SpliceFlags::MOVE
        };
        let sent = pipe::splice(&pipe.read, None, to, None, left, flags)
            .map_err(|e| SpliceError::Write(e.into()))?;
        if sent == 0 {
            return Err(SpliceError::Write(io::ErrorKind::WriteZero.into()));
        }
        left -= sent;
    }
    Ok(got)
}

/// Drops this thread's pipe, for a pump going idle.
pub fn release() {
    PIPE.with(|cell| cell.borrow_mut().take());
}

/// Whether this thread holds a pipe, for tests.
#[cfg(test)]
fn holds_pipe() -> bool {
    PIPE.with(|cell| cell.borrow().is_some())
}

#[cfg(test)]
mod tests;
