//! The errors of the queries.

/// Why a question about a lot could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// No lot has this id.
    #[error("no lot {lot:?} in the ledger")]
    LotNotFound { lot: String },
    /// A record of the log could not be read, or does not hold an event of the vocabulary.
    #[error("reading the log at position {seq}: {message}")]
    Log { seq: u64, message: String },
}

/// Why the ledger as of a past point could not be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AsOfError {
    /// The text is neither a log position (digits) nor an RFC 3339 date-time with offset.
    #[error("{text:?} is neither a log position nor an RFC 3339 date-time with offset")]
    Invalid { text: String },
    /// The position is past the last durable record.
    #[error("position {position} is beyond the head of the log at {head}")]
    BeyondHead { position: u64, head: u64 },
    /// A record could not be read or replayed.
    #[error("replaying the log at position {seq}: {message}")]
    Replay { seq: u64, message: String },
}
