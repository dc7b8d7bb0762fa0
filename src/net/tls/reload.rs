//! Hot reload of TLS material (`--tls-refresh`, `--proxy-listener-tls-refresh`): a thread reads
//! the files on every interval and, when any content changed, builds a new configuration and
//! swaps it in. New handshakes use the new one; open connections keep theirs. A bad new file is
//! logged once and the previous material kept, until the files change again.

use super::TlsError;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often the thread checks its stop flag while waiting for the next interval.
const STOP_POLL: Duration = Duration::from_millis(200);

/// Material shared with the connection threads; the inner `Arc` is cloned per handshake.
pub type Slot<T> = Arc<RwLock<Arc<T>>>;

pub fn current<T>(slot: &Slot<T>) -> Arc<T> {
    Arc::clone(&slot.read().unwrap_or_else(|p| p.into_inner()))
}

/// The contents of the watched files (`None` for one that cannot be read).
#[derive(PartialEq, Eq)]
pub struct Snapshot(Vec<Option<Vec<u8>>>);

impl Snapshot {
    pub fn take(files: &[PathBuf]) -> Snapshot {
        Snapshot(files.iter().map(|f| std::fs::read(f).ok()).collect())
    }
}

/// A running reloader thread; dropping it stops and joins the thread.
pub struct Reloader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Reloader {
    /// Watches `files` every `interval`; on a change calls `build` and stores the result in
    /// `slot`. `seen` is the snapshot taken before the first build.
    pub fn spawn<T: Send + Sync + 'static>(
        what: &'static str,
        files: Vec<PathBuf>,
        interval: Duration,
        seen: Snapshot,
        slot: Slot<T>,
        build: impl Fn() -> Result<T, TlsError> + Send + 'static,
    ) -> std::io::Result<Reloader> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(format!("tls-reload-{what}"))
            .spawn(move || {
                let mut seen = seen;
                let mut next = Instant::now() + interval;
                while !thread_stop.load(Ordering::Acquire) {
                    let now = Instant::now();
                    if now < next {
                        thread::sleep(STOP_POLL.min(next - now));
                        continue;
                    }
                    next = now + interval;
                    let snapshot = Snapshot::take(&files);
                    if snapshot == seen {
                        continue;
                    }
                    seen = snapshot;
                    match build() {
                        Ok(material) => {
                            *slot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(material);
                            log::info!(
                                "{what} TLS: files changed, new handshakes use the new material"
                            );
                        }
                        Err(e) => log::error!(
                            "{what} TLS: files changed but cannot be used, keeping the previous \
                             material: {e}"
                        ),
                    }
                }
            })?;
        Ok(Reloader {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn rebuilds_on_change_and_keeps_old_on_error() {
        let dir = std::env::temp_dir().join(format!("kafka-proxy-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("material");
        std::fs::write(&file, "1").unwrap();
        let files = vec![file.clone()];
        let slot: Slot<String> = Arc::new(RwLock::new(Arc::new("1".to_string())));
        let builds = Arc::new(AtomicUsize::new(0));
        let (build_file, build_count) = (file.clone(), Arc::clone(&builds));
        let mut reloader = Reloader::spawn(
            "test",
            files.clone(),
            Duration::from_millis(20),
            Snapshot::take(&files),
            Arc::clone(&slot),
            move || {
                build_count.fetch_add(1, Ordering::SeqCst);
                let text = std::fs::read_to_string(&build_file)
                    .map_err(|e| TlsError::new(e.to_string()))?;
                if text == "bad" {
                    return Err(TlsError::new("bad"));
                }
                Ok(text)
            },
        )
        .unwrap();
        let wait_for = |want: &str| {
            let deadline = Instant::now() + Duration::from_secs(5);
            while *current(&slot) != want && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(*current(&slot), want);
        };
        std::fs::write(&file, "2").unwrap();
        wait_for("2");
        std::fs::write(&file, "bad").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while builds.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        thread::sleep(Duration::from_millis(100));
        // Built once for "2", once for "bad" (not again while unchanged); old material kept.
        assert_eq!(builds.load(Ordering::SeqCst), 2);
        assert_eq!(*current(&slot), "2");
        std::fs::write(&file, "3").unwrap();
        wait_for("3");
        reloader.stop();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
