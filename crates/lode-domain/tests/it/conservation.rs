//! Property: any sequence of (mostly valid) events keeps `apply` from panicking, conserves mass, and
//! counts versions by the vocabulary's rule. The test keeps its own model of masses, versions and
//! shipments from the events it submits, and compares the ledger's state with it after every step.

use std::collections::{BTreeMap, BTreeSet};

use lode_domain::{parse_record, LotStatus, State};
use proptest::prelude::*;
use serde_json::Value;

use crate::history::{event_for, history_world, op, Op};
use crate::support::*;

/// The test's own account of what the accepted events did.
#[derive(Debug, Default)]
struct Model {
    mass: BTreeMap<String, u64>,
    version: BTreeMap<String, u64>,
    /// Shipment to lot to (shipped mass, still in transit).
    shipments: BTreeMap<String, BTreeMap<String, (u64, bool)>>,
    sources: u128,
    sinks: u128,
}

fn str_of(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().expect("an unsigned integer")
}

impl Model {
    /// Updates the model for an accepted event; returns the lots whose version it should increment.
    fn observe(&mut self, event: &Value) -> BTreeSet<String> {
        let data = &event["data"];
        let mut touched = BTreeSet::new();
        match event["type"].as_str().expect("a type") {
            "lot.extracted" => {
                let lot = str_of(&data["lot"]);
                let mass = u64_of(&data["mass_g"]);
                self.sources += u128::from(mass);
                self.mass.insert(lot.clone(), mass);
                touched.insert(lot);
            }
            "lot.transformed" => {
                for input in data["inputs"].as_array().expect("inputs") {
                    let lot = str_of(&input["lot"]);
                    *self.mass.get_mut(&lot).expect("known input") -= u64_of(&input["mass_g"]);
                    touched.insert(lot);
                }
                for output in data["outputs"].as_array().expect("outputs") {
                    let lot = str_of(&output["lot"]);
                    self.mass.insert(lot.clone(), u64_of(&output["mass_g"]));
                    touched.insert(lot);
                }
                self.sources += u128::from(data["additions_g"].as_u64().unwrap_or(0));
                self.sinks += u128::from(data["loss_g"].as_u64().unwrap_or(0));
            }
            "custody.shipped" => {
                let mut lots = BTreeMap::new();
                for lot in data["lots"].as_array().expect("lots") {
                    let lot = str_of(lot);
                    lots.insert(lot.clone(), (self.mass[&lot], true));
                    touched.insert(lot);
                }
                self.shipments.insert(str_of(&data["shipment"]), lots);
            }
            "custody.received" => {
                let shipment = self.shipments.get_mut(&str_of(&data["shipment"])).expect("known shipment");
                for received in data["lots"].as_array().expect("lots") {
                    let lot = str_of(&received["lot"]);
                    let weighed = u64_of(&received["mass_g"]);
                    let entry = shipment.get_mut(&lot).expect("on the shipment");
                    assert!(entry.1, "received lot {lot} was in transit");
                    entry.1 = false;
                    if weighed >= entry.0 {
                        self.sources += u128::from(weighed - entry.0);
                    } else {
                        self.sinks += u128::from(entry.0 - weighed);
                    }
                    self.mass.insert(lot.clone(), weighed);
                    touched.insert(lot);
                }
            }
            "custody.rejected" => {
                let shipment = self.shipments.get_mut(&str_of(&data["shipment"])).expect("known shipment");
                for (lot, entry) in shipment.iter_mut().filter(|(_, e)| e.1) {
                    entry.1 = false;
                    touched.insert(lot.clone());
                }
            }
            "lot.consumed" => {
                let lot = str_of(&data["lot"]);
                let mass = u64_of(&data["mass_g"]);
                *self.mass.get_mut(&lot).expect("known lot") -= mass;
                self.sinks += u128::from(mass);
                touched.insert(lot);
            }
            "lot.adjusted" => {
                let lot = str_of(&data["lot"]);
                let delta = data["delta_g"].as_i64().expect("an integer");
                let mass = self.mass.get_mut(&lot).expect("known lot");
                if delta > 0 {
                    *mass += delta.unsigned_abs();
                    self.sources += u128::from(delta.unsigned_abs());
                } else {
                    *mass -= delta.unsigned_abs();
                    self.sinks += u128::from(delta.unsigned_abs());
                }
                touched.insert(lot);
            }
            "lot.moved" | "hold.placed" | "hold.released" | "lot.assayed" | "document.attached" => {
                if let Some(lot) = data.get("lot") {
                    touched.insert(str_of(lot));
                }
            }
            _ => {}
        }
        for lot in &touched {
            *self.version.entry(lot.clone()).or_default() += 1;
        }
        touched
    }

    fn check(&self, state: &State) {
        let mut total: u128 = 0;
        for (id, lot) in state.lots() {
            let id = id.as_str();
            assert_eq!(Some(&lot.mass_g), self.mass.get(id), "mass of {id}");
            assert_eq!(Some(&lot.version), self.version.get(id), "version of {id}");
            assert_eq!(lot.status == LotStatus::Closed, lot.mass_g == 0, "closed exactly at 0: {id} {lot:?}");
            assert_eq!(lot.status == LotStatus::InTransit, lot.shipment.is_some(), "in transit on a shipment: {id}");
            total += u128::from(lot.mass_g);
        }
        assert_eq!(state.lots().count(), self.mass.len());
        assert_eq!(total + self.sinks, self.sources, "mass is conserved");
        assert_eq!((state.totals().sources(), state.totals().sinks()), (self.sources, self.sinks));
    }
}

fn run_ops(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut ledger = Ledger::new();
    let mut model = Model::default();
    for event in history_world() {
        ledger.must(&event);
        model.observe(&event);
    }
    model.check(&ledger.state);
    let mut accepted_count = 0;
    for (counter, op) in ops.iter().enumerate() {
        let Some(event) = event_for(op, &ledger.state, counter) else {
            continue;
        };
        let before = ledger.state.clone();
        match ledger.submit(&event) {
            Outcome::Accepted(accepted) => {
                accepted_count += 1;
                let touched = model.observe(&event);
                let lots: Vec<String> = accepted.lots.iter().map(|l| l.to_string()).collect();
                prop_assert_eq!(lots, touched.into_iter().collect::<Vec<_>>(), "version rule for {}", event);
            }
            Outcome::Rejected(_) | Outcome::Parse(_) => {
                prop_assert_eq!(&ledger.state, &before, "refused events change nothing")
            }
        }
        model.check(&ledger.state);
    }
    // Replaying gives the same state, with the rules and without; every stored form reads back as
    // what was accepted.
    let mut replay = Ledger::new();
    let mut unchecked = State::default();
    for (envelope, ctx) in &ledger.accepted {
        let stored = envelope.canonical_json();
        let read = parse_record(&stored).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&read, envelope);
        let replayed = lode_domain::replay(&mut unchecked, &read, ctx);
        match replay.decide_and_apply(read, *ctx) {
            Outcome::Accepted(accepted) => prop_assert_eq!(accepted, replayed),
            other => prop_assert!(false, "replay refused an accepted event: {:?}", other),
        }
    }
    prop_assert_eq!(&replay.state, &ledger.state);
    prop_assert_eq!(&unchecked, &ledger.state);
    prop_assert!(accepted_count <= ops.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn mass_is_conserved_and_apply_never_panics(ops in prop::collection::vec(op(), 1..60)) {
        run_ops(&ops)?;
    }
}

/// The generator must mostly produce valid events, or the property says little.
#[test]
fn generated_histories_are_mostly_accepted() {
    use proptest::strategy::ValueTree as _;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut submitted, mut accepted) = (0usize, 0usize);
    let mut types = BTreeSet::new();
    for _ in 0..20 {
        let ops = prop::collection::vec(op(), 40).new_tree(&mut runner).expect("a tree").current();
        let mut ledger = Ledger::new();
        for event in history_world() {
            ledger.must(&event);
        }
        for (counter, op) in ops.iter().enumerate() {
            let Some(event) = event_for(op, &ledger.state, counter) else {
                continue;
            };
            submitted += 1;
            if let Outcome::Accepted(_) = ledger.submit(&event) {
                accepted += 1;
                types.insert(event["type"].as_str().expect("type").to_string());
            }
        }
    }
    assert!(accepted * 2 > submitted, "only {accepted} of {submitted} generated events were accepted");
    for t in [
        "lot.extracted",
        "lot.transformed",
        "custody.shipped",
        "custody.received",
        "custody.rejected",
        "lot.consumed",
        "lot.adjusted",
        "lot.assayed",
        "document.attached",
        "event.corrected",
    ] {
        assert!(types.contains(t), "no accepted {t} in generated histories: {types:?}");
    }
}
