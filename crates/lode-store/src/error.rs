//! Errors of the store, one enum per family of operations.

use std::path::PathBuf;

use uuid::Uuid;

/// Opening a store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another process holds the data directory.
    #[error("data directory {} is in use by another process", .0.display())]
    InUse(PathBuf),
    /// The directory holds something other than a ledger of this format.
    #[error("data directory {} holds format {found:?}, expected {expected:?}", .path.display())]
    Format { path: PathBuf, found: String, expected: String },
    /// The stored log or its indexes are not consistent; `lode verify` says where.
    #[error("the ledger is corrupt: {0}")]
    Corrupt(String),
    /// The gate could not be brought up to date with the log.
    #[error("replaying record {seq} into the rules failed: {reason}")]
    Replay { seq: u64, reason: String },
    /// The gate's state is ahead of the log: it belongs to another ledger.
    #[error("the derived state is at position {gate}, ahead of the log's head {head}")]
    GateAhead { gate: u64, head: u64 },
    /// The data directory's file system has less free space than the store keeps in reserve.
    #[error("only {free} bytes are free on the file system of {}, under the {min} the ledger keeps in reserve: free some space (LODE_DISK_FREE_MIN_BYTES sets the reserve)", .path.display())]
    DiskFull { path: PathBuf, free: u64, min: u64 },
    /// The disk or sled failed.
    #[error("storage failure opening {}: {source}", .path.display())]
    Storage { path: PathBuf, source: std::io::Error },
}

/// An append request was refused as a whole; nothing of it was appended.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// More events than `batch_events_max` in one request.
    #[error("batch holds {events} events, the limit is {max}")]
    BatchTooLarge { events: usize, max: usize },
    /// An event over `event_bytes_max`.
    #[error("event {index} is {bytes} bytes, the limit is {max}")]
    EventTooLarge { index: usize, bytes: usize, max: usize },
    /// An event that is not one JSON object on one line.
    #[error("event {index} is not a single-line JSON object: {why}")]
    InvalidEvent { index: usize, why: String },
    /// A stream name that breaks the stream syntax.
    #[error("event {index} names an invalid stream {name:?}")]
    InvalidStream { index: usize, name: String },
    /// The writer's queue is full; retry later.
    #[error("the writer's queue is full ({queue_depth} requests waiting)")]
    Overloaded { queue_depth: usize },
    /// An earlier request of the same pipeline stopped, so this one was not attempted.
    #[error("an earlier request of this pipeline stopped; nothing of this one was appended")]
    PipelineStopped,
    /// The disk is nearly full: nothing of the request was written, and the store takes appends
    /// again once space is freed.
    #[error("the disk is nearly full: {free} bytes free, under the {min} kept in reserve; nothing was appended")]
    DiskFull { free: u64, min: u64 },
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
    /// An earlier write failed; the store refuses writes until it is reopened.
    #[error("the store stopped accepting writes after a storage failure: {0}")]
    Poisoned(String),
    /// Writing or syncing the batch failed; it may or may not be on disk, and the store is now
    /// poisoned. Reopening recovers to the last durable group.
    #[error("storage failure: {0}")]
    Storage(String),
}

/// Why an append stopped at one event. Events before it in the same request were appended;
/// neither it nor any after it were.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StopReason<R> {
    /// The id is already in the log with other content.
    #[error("event id {id} is already at position {seq} with other content")]
    IdConflict { id: Uuid, seq: u64 },
    /// An `expected` stream version did not match.
    #[error("{stream} is at version {actual}, the event expected {expected}")]
    VersionConflict { stream: String, expected: u64, actual: u64 },
    /// The gate (the ledger's rules) rejected the event.
    #[error("{0}")]
    Rejected(R),
}

/// Reading the log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// sled or the disk failed.
    #[error("storage failure: {0}")]
    Storage(#[from] sled::Error),
    /// A stored value could not be decoded.
    #[error("corrupt log at position {seq}: {why}")]
    Corrupt { seq: u64, why: String },
}
