//! The gate: the rules the writer asks before it appends an event.
//!
//! The store knows nothing of lots. It hands each candidate event to its [`Gate`] inside the
//! writer, in log order, in the same step that appends; the gate accepts it (naming the streams
//! the record will carry) or rejects it. Because only the writer calls the gate, two concurrent
//! requests can never both pass a rule against the same state.

use std::error::Error;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::Record;

/// A page of persisted gate state: its key and its bytes, or `None` to delete it.
pub type Page = (Vec<u8>, Option<Vec<u8>>);

/// What the gate is told about a candidate event.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// The position the event will take if admitted.
    pub seq: u64,
    /// The event's id.
    pub id: Uuid,
    /// The time the ledger records it at.
    pub recorded_at: DateTime<Utc>,
}

/// Rules applied by the writer, and the state they check against.
pub trait Gate: Send + 'static {
    /// What the gate needs to know of each event (for example the parsed event).
    type Payload: Send + 'static;
    /// A gate that keeps no state derived from the log is not replayed at open.
    const STATELESS: bool = false;
    /// Why an event was rejected.
    type Rejection: Error + Send + Sync + 'static;

    /// The last log position reflected in the gate's state (0 for none).
    fn position(&self) -> u64;

    /// Brings the state up to date with a committed record. Called at open, in order, for every
    /// record after [`Gate::position`].
    fn replay(&mut self, record: &Record) -> Result<(), Box<dyn Error + Send + Sync>>;

    /// Decides on a candidate and, when it is accepted, applies it to the state and returns the
    /// streams its record names.
    fn admit(&mut self, candidate: &Candidate, payload: Self::Payload) -> Result<Vec<String>, Self::Rejection>;

    /// Restores state persisted by [`Gate::checkpoint`] at `position`, at open, before the
    /// records after `position` are replayed. An error makes the store drop the persisted state
    /// and replay the whole log instead.
    fn restore(
        &mut self,
        _position: u64,
        _pages: &mut dyn Iterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<(), Box<dyn Error + Send + Sync>> {
        Err("this gate keeps no persisted state".into())
    }

    /// Pages of state changed since the last checkpoint (`None` value: delete the page), to be
    /// persisted at [`Gate::position`]; `None` when no checkpoint is due. `force` asks for one
    /// whatever is due (at close, or when asked). Page keys must not start with byte 0.
    /// `stored` reads a page as it is stored now, so a gate can rewrite a page without keeping
    /// in memory what every page holds.
    fn checkpoint(&mut self, _force: bool, _stored: &dyn Fn(&[u8]) -> Option<Vec<u8>>) -> Option<Vec<Page>> {
        None
    }

    /// Called before a checkpoint is written, once the records up to `head` were handed to the
    /// storage engine. They become durable with the next sync; after a crash, the engine
    /// recovers a prefix of its batches, so state persisted from here never runs ahead of the log
    /// it recovers.
    fn committed(&mut self, _head: u64) {}

    /// Streams named by a payload, checked for syntax before the request is queued.
    fn payload_streams(_payload: &Self::Payload) -> &[String] {
        &[]
    }
}

/// A gate with no rules: every event is admitted with the streams its payload names.
#[derive(Debug, Default, Clone)]
pub struct Open {
    position: u64,
}

/// [`Open`] never rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("never")]
pub enum Never {}

impl Gate for Open {
    type Payload = Vec<String>;
    type Rejection = Never;
    const STATELESS: bool = true;

    fn position(&self) -> u64 {
        self.position
    }

    fn replay(&mut self, record: &Record) -> Result<(), Box<dyn Error + Send + Sync>> {
        self.position = record.seq;
        Ok(())
    }

    fn admit(&mut self, candidate: &Candidate, payload: Vec<String>) -> Result<Vec<String>, Never> {
        self.position = candidate.seq;
        Ok(payload)
    }

    fn payload_streams(payload: &Vec<String>) -> &[String] {
        payload
    }
}
