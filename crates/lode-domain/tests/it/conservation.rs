//! Property: any sequence of (mostly valid) events keeps `apply` from panicking, conserves mass, and
//! counts versions by the vocabulary's rule. The test keeps its own model of masses, versions and
//! shipments from the events it submits, and compares the ledger's state with it after every step.

use std::collections::{BTreeMap, BTreeSet};

use lode_domain::{parse_record, LotStatus, State};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::support::*;

const PARTIES: [&str; 3] = [MINER, REFINER, MAKER];
const ALL_ACTORS: [&str; 7] = [OP, MINER, REFINER, MAKER, CARRIER, LAB, AUDITOR];
const ALL_SITES: [&str; 5] = [MINE, MINE_WH, REFINERY, REF_WH, PLANT];
const PROCESSES: [&str; 5] = ["other", "separation", "split", "blend", "repack"];

fn sites_of(party: &str) -> &'static [&'static str] {
    match party {
        MINER => &[MINE, MINE_WH],
        REFINER => &[REFINERY, REF_WH],
        MAKER => &[PLANT],
        _ => &[],
    }
}

fn material(index: usize) -> Value {
    match index % 5 {
        0 => ore(),
        1 => json!({"form": "concentrate"}),
        2 => oxide(&["Nd", "Pr"]),
        3 => json!({"form": "metal", "elements": ["Nd"]}),
        _ => json!({"form": "magnet", "elements": ["Nd", "Dy"]}),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Extract {
        mass: u64,
    },
    Ship {
        lot: usize,
        to: usize,
        count: usize,
    },
    Receive {
        shipment: usize,
        permille: i64,
        partial: bool,
    },
    Reject {
        shipment: usize,
    },
    Transform {
        lot: usize,
        extra: usize,
        give: u64,
        outputs: usize,
        loss: u64,
        additions: u64,
        form: usize,
        process: usize,
    },
    Move {
        lot: usize,
    },
    Consume {
        lot: usize,
        permille: u64,
    },
    Adjust {
        lot: usize,
        delta: i64,
    },
    Hold {
        lot: usize,
        place: bool,
    },
    Wild {
        lot: usize,
        actor: usize,
        site: usize,
        mass: u64,
        kind: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1u64..=1_000_000_000).prop_map(|mass| Op::Extract { mass }),
        3 => (any::<usize>(), any::<usize>(), 1usize..=3).prop_map(|(lot, to, count)| Op::Ship { lot, to, count }),
        3 => (any::<usize>(), -20i64..=20, any::<bool>()).prop_map(|(shipment, permille, partial)| Op::Receive { shipment, permille, partial }),
        1 => any::<usize>().prop_map(|shipment| Op::Reject { shipment }),
        4 => (any::<usize>(), 0usize..=2, 1u64..=1000, 1usize..=3, 0u64..=300, 0u64..=1000, any::<usize>(), any::<usize>())
            .prop_map(|(lot, extra, give, outputs, loss, additions, form, process)| Op::Transform { lot, extra, give, outputs, loss, additions, form, process }),
        1 => any::<usize>().prop_map(|lot| Op::Move { lot }),
        2 => (any::<usize>(), 1u64..=1000).prop_map(|(lot, permille)| Op::Consume { lot, permille }),
        1 => (any::<usize>(), -1000i64..=1000).prop_map(|(lot, delta)| Op::Adjust { lot, delta: if delta == 0 { 1 } else { delta } }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(lot, place)| Op::Hold { lot, place }),
        2 => (any::<usize>(), any::<usize>(), any::<usize>(), 1u64..=2_000_000, any::<usize>())
            .prop_map(|(lot, actor, site, mass, kind)| Op::Wild { lot, actor, site, mass, kind }),
    ]
}

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
                let shipment = self
                    .shipments
                    .get_mut(&str_of(&data["shipment"]))
                    .expect("known shipment");
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
                let shipment = self
                    .shipments
                    .get_mut(&str_of(&data["shipment"]))
                    .expect("known shipment");
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
            assert_eq!(
                lot.status == LotStatus::Closed,
                lot.mass_g == 0,
                "closed exactly at 0: {id} {lot:?}"
            );
            assert_eq!(
                lot.status == LotStatus::InTransit,
                lot.shipment.is_some(),
                "in transit on a shipment: {id}"
            );
            total += u128::from(lot.mass_g);
        }
        assert_eq!(state.lots().count(), self.mass.len());
        assert_eq!(total + self.sinks, self.sources, "mass is conserved");
        assert_eq!(
            (state.totals().sources(), state.totals().sinks()),
            (self.sources, self.sinks)
        );
    }
}

/// Builds the event an operation stands for, from the current state; `None` when nothing fits.
fn event_for(op: &Op, state: &State, counter: usize) -> Option<Value> {
    let lots: Vec<(String, lode_domain::LotState)> = state
        .lots()
        .map(|(id, l)| (id.to_string(), l.clone()))
        .collect();
    let pick = |i: usize| (!lots.is_empty()).then(|| &lots[i % lots.len()]);
    let open_shipments: Vec<(String, lode_domain::ShipmentState)> = state
        .shipments()
        .filter(|(_, s)| s.lots_in_transit().next().is_some())
        .map(|(id, s)| (id.to_string(), s.clone()))
        .collect();
    Some(match op {
        Op::Extract { mass } => extract(&format!("X-{counter}"), *mass),
        Op::Ship { lot, to, count } => {
            let (id, first) = pick(*lot)?;
            let to_party = PARTIES[to % PARTIES.len()];
            let to_site = *sites_of(to_party)
                .iter()
                .rev()
                .find(|s| **s != first.site.as_str())
                .unwrap_or(&sites_of(to_party)[0]);
            let mut shipped = vec![id.clone()];
            for (other, l) in &lots {
                if shipped.len() < *count
                    && other != id
                    && l.custodian == first.custodian
                    && l.site == first.site
                    && l.status == LotStatus::Active
                {
                    shipped.push(other.clone());
                }
            }
            let shipped: Vec<&str> = shipped.iter().map(String::as_str).collect();
            ship(
                first.custodian.as_str(),
                &format!("S-{counter}"),
                &shipped,
                first.site.as_str(),
                to_party,
                to_site,
            )
        }
        Op::Receive {
            shipment,
            permille,
            partial,
        } => {
            if open_shipments.is_empty() {
                return None;
            }
            let (id, s) = &open_shipments[shipment % open_shipments.len()];
            let mut received = Vec::new();
            for lot in s.lots_in_transit() {
                let shipped = s.lots[lot].shipped_g;
                let delta = i128::from(shipped) * i128::from(*permille) / 1000;
                let weighed = (i128::from(shipped) + delta).clamp(1, 1_000_000_000_000) as u64;
                received.push((lot.to_string(), weighed));
                if *partial {
                    break;
                }
            }
            let received: Vec<(&str, u64)> =
                received.iter().map(|(l, m)| (l.as_str(), *m)).collect();
            receive(s.to_party.as_str(), id, &received)
        }
        Op::Reject { shipment } => {
            if open_shipments.is_empty() {
                return None;
            }
            let (id, s) = &open_shipments[shipment % open_shipments.len()];
            reject(s.to_party.as_str(), id)
        }
        Op::Transform {
            lot,
            extra,
            give,
            outputs,
            loss,
            additions,
            form,
            process,
        } => {
            let (id, first) = pick(*lot)?;
            let mut inputs = vec![(id.clone(), (first.mass_g * give / 1000).max(1))];
            for (other, l) in &lots {
                if inputs.len() <= *extra
                    && other != id
                    && l.custodian == first.custodian
                    && l.site == first.site
                    && l.status == LotStatus::Active
                {
                    inputs.push((other.clone(), (l.mass_g * give / 1000).max(1)));
                }
            }
            let total_in: u64 = inputs.iter().map(|(_, m)| m).sum();
            let loss = (total_in * loss / 1000).min(total_in - 1);
            let out_total = total_in + additions - loss;
            let n = if out_total < *outputs as u64 {
                1
            } else {
                *outputs as u64
            };
            let mut outs = Vec::new();
            for k in 0..n {
                let mass = out_total / n + if k == 0 { out_total % n } else { 0 };
                outs.push((format!("T-{counter}-{k}"), material(*form), mass));
            }
            let inputs: Vec<(&str, u64)> = inputs.iter().map(|(l, m)| (l.as_str(), *m)).collect();
            let outs: Vec<(&str, Value, u64)> = outs
                .iter()
                .map(|(l, m, g)| (l.as_str(), m.clone(), *g))
                .collect();
            merge(
                transform(
                    first.custodian.as_str(),
                    PROCESSES[process % PROCESSES.len()],
                    first.site.as_str(),
                    &inputs,
                    &outs,
                ),
                json!({"data": {"loss_g": loss, "additions_g": additions}}),
            )
        }
        Op::Move { lot } => {
            let (id, l) = pick(*lot)?;
            let to = *sites_of(l.custodian.as_str())
                .iter()
                .find(|s| **s != l.site.as_str())
                .unwrap_or(&MINE);
            moved(l.custodian.as_str(), id, to)
        }
        Op::Consume { lot, permille } => {
            let (id, l) = pick(*lot)?;
            consume(
                l.custodian.as_str(),
                id,
                (l.mass_g * permille / 1000).max(1),
            )
        }
        Op::Adjust { lot, delta } => {
            let (id, l) = pick(*lot)?;
            adjust(l.custodian.as_str(), id, *delta)
        }
        Op::Hold { lot, place } => {
            let (id, _) = pick(*lot)?;
            hold(OP, "lot", id, *place)
        }
        Op::Wild {
            lot,
            actor,
            site,
            mass,
            kind,
        } => {
            let (id, _) = pick(*lot)?;
            let actor = ALL_ACTORS[actor % ALL_ACTORS.len()];
            let site = ALL_SITES[site % ALL_SITES.len()];
            match kind % 5 {
                0 => consume(actor, id, *mass),
                1 => moved(actor, id, site),
                2 => adjust(actor, id, *mass as i64 - 1_000_000),
                3 => ship(
                    actor,
                    &format!("S-{counter}"),
                    &[id],
                    site,
                    REFINER,
                    REFINERY,
                ),
                _ => transform(
                    actor,
                    "other",
                    site,
                    &[(id, *mass)],
                    &[(&format!("W-{counter}"), ore(), *mass)],
                ),
            }
        }
    })
}

fn run_ops(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut ledger = Ledger::new();
    let mut model = Model::default();
    for event in world() {
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
                prop_assert_eq!(
                    lots,
                    touched.into_iter().collect::<Vec<_>>(),
                    "version rule for {}",
                    event
                );
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
        let ops = prop::collection::vec(op(), 40)
            .new_tree(&mut runner)
            .expect("a tree")
            .current();
        let mut ledger = Ledger::new();
        for event in world() {
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
    assert!(
        accepted * 2 > submitted,
        "only {accepted} of {submitted} generated events were accepted"
    );
    for t in [
        "lot.extracted",
        "lot.transformed",
        "custody.shipped",
        "custody.received",
        "custody.rejected",
        "lot.consumed",
        "lot.adjusted",
    ] {
        assert!(
            types.contains(t),
            "no accepted {t} in generated histories: {types:?}"
        );
    }
}
