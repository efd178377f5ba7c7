//! A ledger in memory with its views: every accepted event is applied to both.

use lode_domain::State;
use lode_projections::view::{LotView, Views};
use serde_json::Value;

use crate::history::{run_history, Op};
use crate::support::Ledger;

/// The domain's test ledger, and the views kept beside it.
#[derive(Debug)]
pub struct Book {
    pub ledger: Ledger,
    pub views: Views,
}

impl Book {
    /// A book with these events, which must all be accepted.
    pub fn with(events: impl IntoIterator<Item = Value>) -> Book {
        let mut book = Book { ledger: Ledger::new(), views: Views::default() };
        for event in events {
            book.must(&event);
        }
        book
    }

    /// Submits an event that must be accepted, and updates the views.
    pub fn must(&mut self, event: &Value) {
        let accepted = self.ledger.must(event);
        let (envelope, ctx) = self.ledger.accepted.last().expect("an accepted event");
        self.views.apply(&self.ledger.state, envelope, &accepted, ctx);
    }

    pub fn state(&self) -> &State {
        &self.ledger.state
    }

    /// The view of a lot that must exist.
    pub fn lot(&self, id: &str) -> LotView {
        self.views.lot(&self.ledger.state, id).unwrap_or_else(|| panic!("lot {id} has a view"))
    }

    /// The origin of a lot as (mine, ppm) pairs.
    pub fn origin(&self, id: &str) -> Vec<(String, u32)> {
        self.views
            .origin(id)
            .unwrap_or_else(|| panic!("lot {id} has an origin"))
            .shares()
            .map(|(mine, ppm)| (mine.to_string(), ppm))
            .collect()
    }
}

/// The ledger and views of a generated history.
pub fn generated(ops: &[Op]) -> Book {
    let mut views = Views::default();
    let ledger = run_history(ops, |ledger, accepted| {
        let (envelope, ctx) = ledger.accepted.last().expect("an accepted event");
        views.apply(&ledger.state, envelope, accepted, ctx);
    });
    Book { ledger, views }
}

/// The state and views rebuilt from a book's log with `replay`, as at open without a checkpoint.
pub fn replayed(ledger: &Ledger) -> (State, Views) {
    let (mut state, mut views) = (State::default(), Views::default());
    for (envelope, ctx) in &ledger.accepted {
        let accepted = lode_domain::replay(&mut state, envelope, ctx);
        views.apply(&state, envelope, &accepted, ctx);
    }
    (state, views)
}
