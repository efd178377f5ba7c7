//! `lode-projections`: the ledger's state derived from the log.
//!
//! [`Ledger`] is the [`lode_store::Gate`] of a Lode ledger: inside the store's writer it checks
//! each event against the custody rules of `lode-domain` (`decide`) and applies it (`apply`), so
//! that rules and appends are one atomic step.

use std::error::Error;

use chrono::{DateTime, Utc};
use lode_domain::{apply, decide, parse_record, replay, Context, Envelope, Rejection, State};
use lode_store::{Candidate, Gate, Record};

/// The custody rules and the state they check against, as a gate of the store.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    state: State,
    position: u64,
}

impl Ledger {
    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }
}

impl Gate for Ledger {
    type Payload = Envelope;
    type Rejection = Rejection;

    fn position(&self) -> u64 {
        self.position
    }

    fn replay(&mut self, record: &Record) -> Result<(), Box<dyn Error + Send + Sync>> {
        let header = record.header();
        // Records were checked when they were appended: rebuild without checking the rules again.
        let env = parse_record(header.event)?;
        let recorded_at: DateTime<Utc> = DateTime::parse_from_rfc3339(header.recorded_at)?.with_timezone(&Utc);
        let ctx = Context { event_id: header.id, seq: header.seq, recorded_at };
        replay(&mut self.state, &env, &ctx);
        self.position = record.seq;
        Ok(())
    }

    fn admit(&mut self, candidate: &Candidate, env: Envelope) -> Result<Vec<String>, Rejection> {
        let ctx = Context { event_id: candidate.id, seq: candidate.seq, recorded_at: candidate.recorded_at };
        let accepted = decide(&self.state, &env, &ctx)?;
        apply(&mut self.state, &env, &accepted, &ctx);
        self.position = candidate.seq;
        Ok(accepted.lots.iter().map(|l| l.to_string()).collect())
    }
}
