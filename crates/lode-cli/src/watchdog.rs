//! A stall watchdog for the commands that read the whole log.
//!
//! sled 0.34 can spin for ever re-reading a page of a damaged `db` file whose checksum fails,
//! instead of returning an error. A command that makes no progress for `LODE_STALL_S` seconds
//! (default 600) therefore stops with exit code 2 and says why, rather than hang.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The stall limit unless `LODE_STALL_S` says otherwise.
pub const STALL_S_DEFAULT: u64 = 600;

/// Progress reports to a running watchdog.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Milliseconds since `start` of the last progress.
    last_ms: Arc<AtomicU64>,
    position: Arc<AtomicU64>,
    started: Instant,
}

impl Progress {
    /// Reports progress at a log position.
    pub fn tick(&self, position: u64) {
        self.position.store(position, Relaxed);
        self.last_ms.store(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(0), Relaxed);
    }
}

/// Starts watching `what`.
pub fn start(what: &'static str) -> Progress {
    let limit_s = std::env::var("LODE_STALL_S").ok().and_then(|v| v.parse().ok()).unwrap_or(STALL_S_DEFAULT).max(1);
    let p = Progress {
        last_ms: Arc::new(AtomicU64::new(0)),
        position: Arc::new(AtomicU64::new(0)),
        started: Instant::now(),
    };
    let watched = p.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(250));
        let last = watched.last_ms.load(Relaxed);
        let now = u64::try_from(watched.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) > limit_s * 1000 {
            eprintln!(
                "lode: {what}: no progress for {limit_s} s after position {}: the storage engine does not return from a \
                 read, which a damaged db file causes; restore the data directory from a backup (LODE_STALL_S sets the limit)",
                watched.position.load(Relaxed)
            );
            std::process::exit(i32::from(crate::EXIT_USAGE));
        }
    });
    p
}
