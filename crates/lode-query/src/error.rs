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

/// Why an export (EPCIS, CSV) or a report could not be made. A lot that is not there and a record
/// that does not read are the ledger's answer (HTTP 404, 500); the others are the caller's input
/// (HTTP 422) or a limit (HTTP 413).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// No lot has this id.
    #[error("no lot {lot:?} in the ledger")]
    LotNotFound { lot: String },
    /// The lot's ancestry has more lots than the export may visit.
    #[error("the ancestry of {lot} has more than {max} lots; an export is never cut short")]
    TooManyLots { lot: String, max: usize },
    /// The export would hold more events than its limit.
    #[error("the export would hold more than {max} events; export one lot or a shorter time range")]
    TooManyEvents { max: usize },
    /// The base URI under which ids become URIs is not usable.
    #[error("base URI {uri:?}: {why}")]
    InvalidBaseUri { uri: String, why: &'static str },
    /// A time bound is not an RFC 3339 date-time with offset.
    #[error("{name} {text:?} is not an RFC 3339 date-time with offset (e.g. 2025-03-01T00:00:00Z)")]
    InvalidTime { name: &'static str, text: String },
    /// The log holds no record: there is no checkpoint to build from.
    #[error("the ledger is empty: there is nothing to export")]
    EmptyLog,
    /// The derived state includes records that are not durable yet, so no checkpoint covers it.
    #[error("the ledger's state at position {position} is ahead of the durable log at {head}; retry")]
    NotDurable { position: u64, head: u64 },
    /// A record of the log could not be read, or does not hold an event of the vocabulary.
    #[error("reading the log at position {seq}: {message}")]
    Log { seq: u64, message: String },
}

impl From<QueryError> for ExportError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::LotNotFound { lot } => ExportError::LotNotFound { lot },
            QueryError::Log { seq, message } => ExportError::Log { seq, message },
        }
    }
}
