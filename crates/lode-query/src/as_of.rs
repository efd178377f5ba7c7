//! The ledger as it stood at a past position or time, derived from the log alone.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset};
use lode_projections::view::{InventoryFilter, InventoryRow};
use lode_projections::Ledger;
use lode_store::{Gate, Reader};
use serde::Serialize;

use crate::AsOfError;

/// A past point of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AsOf {
    /// Records 1 to this position (0: none).
    Position(u64),
    /// Records the ledger recorded at or before this time (their `recorded_at`, which never
    /// decreases along the log).
    Time(DateTime<FixedOffset>),
}

impl FromStr for AsOf {
    type Err = AsOfError;

    /// Digits are a position; anything else must be an RFC 3339 date-time with offset.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || AsOfError::Invalid { text: s.to_string() };
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().map(AsOf::Position).map_err(|_| invalid());
        }
        DateTime::parse_from_rfc3339(s).map(AsOf::Time).map_err(|_| invalid())
    }
}

/// A ledger derived from a prefix of the log.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LedgerAsOf {
    /// The rules' state and the views after the last record replayed.
    pub ledger: Ledger,
    /// The last record replayed (0: none).
    pub position: u64,
    /// Its `recorded_at`.
    pub recorded_at: Option<String>,
}

/// The inventory as it stood at a past point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct InventoryAsOf {
    /// The last record counted (0: none).
    pub position: u64,
    /// Its `recorded_at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<String>,
    /// The rows the live inventory had when the log stood at `position`.
    pub rows: Vec<InventoryRow>,
}

/// Replays the log's records up to `as_of` into a fresh ledger in memory, without checking the rules
/// again (as [`Ledger::from_log`] does) and without touching the live state or the store.
///
/// # Errors
/// [`AsOfError::BeyondHead`] for a position past the durable head; [`AsOfError::Replay`] for a
/// record that cannot be read or replayed.
pub fn ledger_as_of(log: &Reader, as_of: AsOf) -> Result<LedgerAsOf, AsOfError> {
    let head = log.head().seq;
    let mut ledger = Ledger::default();
    let mut position = 0;
    let mut recorded_at = None;
    let last = match as_of {
        AsOf::Position(p) if p > head => return Err(AsOfError::BeyondHead { position: p, head }),
        AsOf::Position(p) => p,
        AsOf::Time(_) => head,
    };
    if last == 0 {
        return Ok(LedgerAsOf { ledger, position, recorded_at });
    }
    for record in log.iter_from(1) {
        let record = record.map_err(|e| AsOfError::Replay { seq: position + 1, message: e.to_string() })?;
        if record.seq > last {
            break;
        }
        let at = record.header().recorded_at.to_string();
        if let AsOf::Time(t) = as_of {
            let recorded = DateTime::parse_from_rfc3339(&at)
                .map_err(|e| AsOfError::Replay { seq: record.seq, message: format!("recorded_at {at:?}: {e}") })?;
            if recorded > t {
                break;
            }
        }
        Gate::replay(&mut ledger, &record)
            .map_err(|e| AsOfError::Replay { seq: record.seq, message: e.to_string() })?;
        position = record.seq;
        recorded_at = Some(at);
    }
    Ok(LedgerAsOf { ledger, position, recorded_at })
}

/// The inventory rows matching `filter` as they stood at `as_of`: the same rows the live inventory
/// gave when the log stood there.
///
/// # Errors
/// As [`ledger_as_of`].
pub fn inventory_as_of(log: &Reader, as_of: AsOf, filter: &InventoryFilter) -> Result<InventoryAsOf, AsOfError> {
    let past = ledger_as_of(log, as_of)?;
    let rows = past.ledger.read(|_, views| views.inventory(filter));
    Ok(InventoryAsOf { position: past.position, recorded_at: past.recorded_at, rows })
}
