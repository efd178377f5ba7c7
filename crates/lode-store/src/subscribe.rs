//! Subscriptions: catch up from the log, then follow it live.
//!
//! A subscription never holds a buffer the writer must fill. The writer only publishes the
//! durable head (a single number); each subscriber reads the records it has not seen from the
//! log itself. A slow subscriber therefore never slows the writer or another subscriber, it
//! simply reads further behind, and it can never see a gap or a record twice.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::error::ReadError;
use crate::store::{Reader, Record};

/// Records read from the log per refill.
pub const SUBSCRIPTION_CHUNK_MAX: usize = 512;

/// Why a subscription ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The store closed.
    #[error("the store is closed")]
    Closed,
    /// Reading the log failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// A gap-free, in-order stream of durable records from a given position on.
#[derive(Debug)]
pub struct Subscription {
    reader: Reader,
    next: u64,
    stream: Option<String>,
    buf: VecDeque<Record>,
    rx: watch::Receiver<u64>,
}

impl Reader {
    /// Subscribes to every record after position `after` (0 for all), optionally only those
    /// naming `stream`.
    pub fn subscribe(&self, after: u64, stream: Option<String>) -> Subscription {
        Subscription {
            reader: self.clone(),
            next: after + 1,
            stream,
            buf: VecDeque::new(),
            rx: self.shared.durable_tx.subscribe(),
        }
    }
}

impl Subscription {
    /// The position after which this subscription will deliver next.
    pub fn position(&self) -> u64 {
        self.buf.front().map_or(self.next - 1, |r| r.seq - 1)
    }

    /// Reads what is durable and not yet delivered; returns whether anything was read.
    fn refill(&mut self) -> Result<(), ReadError> {
        while self.buf.is_empty() && self.next <= self.reader.head().seq {
            if let Some(stream) = &self.stream {
                // Follow the stream index rather than scanning the whole log.
                let seqs = self.reader.stream_positions(stream);
                let start = seqs.partition_point(|&s| s < self.next);
                let head = self.reader.head().seq;
                for &seq in seqs[start..].iter().take(SUBSCRIPTION_CHUNK_MAX) {
                    if seq > head {
                        break;
                    }
                    if let Some(r) = self.reader.get(seq)? {
                        self.buf.push_back(r);
                    }
                }
                self.next = self.buf.back().map_or(head + 1, |r| r.seq + 1);
            } else {
                for r in self.reader.iter_from(self.next).take(SUBSCRIPTION_CHUNK_MAX) {
                    let r = r?;
                    self.next = r.seq + 1;
                    self.buf.push_back(r);
                }
            }
        }
        Ok(())
    }

    /// The next record, waiting at most `timeout` for one. `Ok(None)` on timeout.
    ///
    /// # Errors
    /// [`SubscribeError::Closed`] once the store has closed, [`SubscribeError::Read`] when the
    /// log cannot be read.
    pub fn next_blocking(&mut self, timeout: Duration) -> Result<Option<Record>, SubscribeError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.refill()?;
            if let Some(r) = self.buf.pop_front() {
                return Ok(Some(r));
            }
            let shared = &self.reader.shared;
            if shared.closed.load(Ordering::SeqCst) {
                return Err(SubscribeError::Closed);
            }
            let guard = shared.durable.lock().expect("durable lock");
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            if guard.seq < self.next {
                let _ = shared.durable_cv.wait_timeout(guard, deadline - now).expect("durable lock");
            }
        }
    }

    /// The next record, waiting as long as it takes.
    ///
    /// # Errors
    /// As [`Subscription::next_blocking`].
    pub async fn next(&mut self) -> Result<Record, SubscribeError> {
        loop {
            self.rx.borrow_and_update();
            self.refill()?;
            if let Some(r) = self.buf.pop_front() {
                return Ok(r);
            }
            if self.reader.shared.closed.load(Ordering::SeqCst) {
                return Err(SubscribeError::Closed);
            }
            if self.rx.changed().await.is_err() {
                return Err(SubscribeError::Closed);
            }
        }
    }
}
