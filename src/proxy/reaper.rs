//! Joins threads whose owner cannot wait for them: a connection's response pump parks (its
//! thread ends) while the request pump is blocked on the client socket. Until a thread is
//! joined its stack stays mapped, so an idle connection would keep the stack of every response
//! pump it parked; the reaper joins each within [`REAP_INTERVAL`] of its end.
//!
//! The owner still learns how the thread ended through a channel of its own; the reaper only
//! frees what the thread leaves behind. It starts with the first thread handed to it and is
//! stopped (every thread it holds joined) by [`Reaper::stop`].

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the reaper looks for ended threads while it holds any.
const REAP_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Default)]
pub struct Reaper {
    state: Mutex<State>,
}

#[derive(Default)]
enum State {
    #[default]
    Idle,
    Running {
        handles: mpsc::Sender<JoinHandle<()>>,
        thread: JoinHandle<()>,
    },
    Stopped,
}

impl Reaper {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands over `handle`, to be joined once its thread ends. After [`Reaper::stop`] (or when
    /// no reaper thread can start) the thread is detached instead: it has already reported to
    /// its owner, and nothing is left to wait for.
    pub fn adopt(&self, handle: JoinHandle<()>) {
        let mut state = self.lock();
        if matches!(*state, State::Idle) {
            let (handles, receiver) = mpsc::channel();
            match thread::Builder::new()
                .name("reaper".into())
                .spawn(move || reap(receiver))
            {
                Ok(thread) => *state = State::Running { handles, thread },
                Err(e) => log::debug!("no reaper thread ({e}); pump threads are detached"),
            }
        }
        if let State::Running { handles, .. } = &*state {
            // The reaper ends only after `stop`, which replaces this state first.
            let _ = handles.send(handle);
        }
    }

    /// Joins every thread handed over, then the reaper itself.
    pub fn stop(&self) {
        let state = std::mem::replace(&mut *self.lock(), State::Stopped);
        if let State::Running { handles, thread } = state {
            drop(handles);
            let _ = thread.join();
        }
    }
}

fn reap(receiver: mpsc::Receiver<JoinHandle<()>>) {
    let mut live: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let next = if live.is_empty() {
            receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            receiver.recv_timeout(REAP_INTERVAL)
        };
        match next {
            Ok(handle) => live.push(handle),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let (ended, running): (Vec<_>, Vec<_>) = live.into_iter().partition(|h| h.is_finished());
        for handle in ended {
            let _ = handle.join();
        }
        live = running;
    }
    for handle in live {
        let _ = handle.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn joins_threads_soon_after_they_end_and_all_at_stop() {
        let reaper = Reaper::default();
        let ended = Arc::new(AtomicUsize::new(0));
        for pause in [0, 300] {
            let ended = Arc::clone(&ended);
            reaper.adopt(thread::spawn(move || {
                thread::sleep(Duration::from_millis(pause));
                ended.fetch_add(1, Ordering::SeqCst);
            }));
        }
        let started = Instant::now();
        reaper.stop();
        assert_eq!(ended.load(Ordering::SeqCst), 2, "stop joins every thread");
        assert!(started.elapsed() >= Duration::from_millis(250));
        // After stop, threads are detached rather than lost or blocking the caller.
        reaper.adopt(thread::spawn(|| {}));
    }
}
