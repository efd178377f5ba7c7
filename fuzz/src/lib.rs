//! What Lode's fuzz targets share: a ledger in memory that is fed exactly as the store's writer
//! feeds it ([`Book`]), the demo's history as a starting state, and the invariants every history
//! accepted by the rules keeps ([`check_invariants`]).
//!
//! The targets are in `fuzz_targets/`; `docs/fuzzing.md` says how to run them and what each checks.

use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};
use lode_domain::{parse_event, Envelope, LotStatus, Rejection, State};
use lode_projections::view::{Views, ORIGIN_PPM_TOTAL};
use lode_projections::Ledger;
use lode_store::{record, Candidate, Gate, Hash, Record};
use uuid::Uuid;

/// The demo's events, one JSON object a line.
pub const DEMO_EVENTS: &str = include_str!("../../data/demo/events.jsonl");

/// When the ledger records the event at position `seq`: one second apart from 2026-01-01, after
/// every `occurred_at` of the demo and of the targets' templates, so that only an event dated on
/// purpose in the future is refused for its time.
pub fn recorded_at(seq: u64) -> DateTime<Utc> {
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("a valid constant");
    start + TimeDelta::seconds(i64::try_from(seq).unwrap_or(i64::MAX / 2).min(1 << 40))
}

/// Checks what must hold after any history the rules accepted.
///
/// - Mass is conserved: the lots hold exactly what entered minus what left (the state's running
///   totals), and the views' inventory agrees ([`Views::mass_balance`]).
/// - A lot is closed exactly when it holds 0 g.
/// - Every lot has a view, and its origin's shares sum to exactly 1,000,000 ppm.
///
/// # Panics
///
/// When one of them does not hold: that is the finding.
pub fn check_invariants(state: &State, views: &Views) {
    let held: u128 = state.lots().map(|(_, lot)| u128::from(lot.mass_g)).sum();
    let totals = state.totals();
    assert!(totals.sources() >= totals.sinks(), "more mass left than entered: {totals:?}");
    assert_eq!(held, totals.sources() - totals.sinks(), "the lots hold other than what entered minus what left");
    let balance = views.mass_balance(state);
    assert!(balance.is_balanced(), "the inventory does not balance: {balance:?}");
    assert_eq!(balance.active_g + balance.in_transit_g, held, "the inventory holds other than the lots");
    for (id, lot) in state.lots() {
        assert_eq!(
            lot.mass_g == 0,
            lot.status == LotStatus::Closed,
            "lot {id} holds {} g as {:?}",
            lot.mass_g,
            lot.status
        );
        let origin = views.origin(id.as_str()).unwrap_or_else(|| panic!("lot {id} has no view"));
        assert_eq!(origin.total_ppm(), u64::from(ORIGIN_PPM_TOTAL), "lot {id}'s origin: {origin:?}");
    }
}

/// A ledger in memory, fed as the store's writer feeds one: each event goes through the
/// [`Ledger`]'s [`Gate::admit`] (the rules, then their effects on the state and the views), and an
/// accepted one becomes a record chained to the previous one, exactly as the store composes it.
#[derive(Debug)]
pub struct Book {
    pub ledger: Ledger,
    /// The records of the accepted events, in order.
    pub records: Vec<Vec<u8>>,
    /// Their event ids, in the same order.
    pub ids: Vec<Uuid>,
    chain: Hash,
    next_id: u128,
}

impl Default for Book {
    fn default() -> Self {
        // Assigned ids start far from the small ones a target may write itself.
        Book {
            ledger: Ledger::default(),
            records: Vec::new(),
            ids: Vec::new(),
            chain: Hash::GENESIS,
            next_id: 1 << 100,
        }
    }
}

impl Book {
    /// Submits one event at the next position, giving it an id when it has none. Returns the lots
    /// it touches, or why the rules refused it (the book is then unchanged).
    pub fn submit(&mut self, mut envelope: Envelope) -> Result<Vec<String>, Rejection> {
        let seq = self.records.len() as u64 + 1;
        let id = match envelope.id() {
            Some(id) => id,
            None => {
                self.next_id += 1;
                let id = Uuid::from_u128(self.next_id);
                envelope.set_id(id);
                id
            }
        };
        let candidate = Candidate { seq, id, recorded_at: recorded_at(seq) };
        let event = envelope.canonical_json();
        let streams = Gate::admit(&mut self.ledger, &candidate, envelope)?;
        let mut bytes = Vec::new();
        let time = record::format_time(&candidate.recorded_at);
        record::encode(&mut bytes, seq, &id, &time, &streams, &self.chain, &event);
        self.chain = record::chain_hash(&self.chain, &record::leaf_hash(&bytes));
        self.records.push(bytes);
        self.ids.push(id);
        Ok(streams)
    }

    /// [`check_invariants`] on the book's state and views.
    pub fn check_invariants(&self) {
        self.ledger.read(check_invariants);
    }

    /// Checks that the records are a log that verifies, that replaying them into a fresh ledger
    /// (without the rules, as a rebuild does) derives the same state and views, and that a
    /// checkpoint of the state restores to the same.
    ///
    /// # Panics
    ///
    /// When one of them does not hold.
    pub fn check_replay_and_restore(&mut self) {
        let mut export = Vec::new();
        for r in &self.records {
            export.extend_from_slice(r);
            export.push(b'\n');
        }
        let report = lode_store::verify_lines(&export[..], None, |_| {}).expect("the composed log verifies");
        assert_eq!((report.head.seq, report.head.hash), (self.records.len() as u64, self.chain));

        let live = self.ledger.digest();
        let mut rebuilt = Ledger::default();
        for bytes in &self.records {
            let record = Record::from_bytes(bytes.clone()).expect("a composed record parses");
            Gate::replay(&mut rebuilt, &record).expect("an accepted record replays");
        }
        assert_eq!(rebuilt.digest(), live, "replaying the log derives another state than the rules built");

        let position = Gate::position(&self.ledger);
        let pages = Gate::checkpoint(&mut self.ledger, true, &|_| None).expect("a forced checkpoint writes pages");
        let mut restored = Ledger::default();
        let mut stored = pages.into_iter().filter_map(|(key, value)| value.map(|v| (key, v)));
        Gate::restore(&mut restored, position, &mut stored).expect("a checkpoint restores");
        assert_eq!(restored.digest(), live, "a restored checkpoint differs from the state it was taken of");
    }
}

/// The rules' state and the views after the demo's events that the rules accept (all but the
/// demo's correction, which names an id that the `lode demo` command derives and this does not),
/// and the position of the last one.
pub fn demo_state() -> &'static (State, Views, u64) {
    static DEMO: OnceLock<(State, Views, u64)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let mut book = Book::default();
        for line in DEMO_EVENTS.lines().filter(|l| !l.trim().is_empty()) {
            let envelope = parse_event(line.as_bytes()).expect("the demo's events parse");
            let _ = book.submit(envelope);
        }
        book.check_invariants();
        let position = book.records.len() as u64;
        book.ledger.read(|state, views| (state.clone(), views.clone(), position))
    })
}
