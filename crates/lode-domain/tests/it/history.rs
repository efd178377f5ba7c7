//! A generator of (mostly valid) histories for property tests: operations drawn by proptest, each
//! turned into an event against the ledger's current state, so that most are accepted.
//!
//! The projections' tests include this file (and `support.rs`) too, so that both crates' properties run
//! over the same histories.

use lode_domain::{Accepted, LotStatus, State};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::support::*;

/// Further mines of the miner, in other countries, so that origins mix.
pub const MINE_CN: &str = "cn-mine-1";
pub const MINE_AU: &str = "au-mine-1";

const MINES: [&str; 3] = [MINE, MINE_CN, MINE_AU];
const PARTIES: [&str; 3] = [MINER, REFINER, MAKER];
const ALL_ACTORS: [&str; 7] = [OP, MINER, REFINER, MAKER, CARRIER, LAB, AUDITOR];
const ALL_SITES: [&str; 7] = [MINE, MINE_WH, REFINERY, REF_WH, PLANT, MINE_CN, MINE_AU];
const PROCESSES: [&str; 5] = ["other", "separation", "split", "blend", "repack"];

fn sites_of(party: &str) -> &'static [&'static str] {
    match party {
        MINER => &[MINE, MINE_WH, MINE_CN, MINE_AU],
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

/// [`world`] with two more mines of the miner, in China and Australia.
pub fn history_world() -> Vec<Value> {
    plus(world(), [site(OP, MINE_CN, MINER, "mine", "CN"), site(OP, MINE_AU, MINER, "mine", "AU")])
}

/// One step of a history, with indices (taken modulo what exists) instead of names.
#[derive(Debug, Clone)]
pub enum Op {
    Extract {
        mass: u64,
        mine: usize,
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
    Assay {
        lot: usize,
    },
    Attach {
        target: usize,
        shipment: bool,
    },
    Correct {
        event: usize,
    },
    Wild {
        lot: usize,
        actor: usize,
        site: usize,
        mass: u64,
        kind: usize,
    },
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1u64..=1_000_000_000, any::<usize>()).prop_map(|(mass, mine)| Op::Extract { mass, mine }),
        3 => (any::<usize>(), any::<usize>(), 1usize..=3).prop_map(|(lot, to, count)| Op::Ship { lot, to, count }),
        3 => (any::<usize>(), -20i64..=20, any::<bool>()).prop_map(|(shipment, permille, partial)| Op::Receive { shipment, permille, partial }),
        1 => any::<usize>().prop_map(|shipment| Op::Reject { shipment }),
        4 => (any::<usize>(), 0usize..=2, 1u64..=1000, 1usize..=3, 0u64..=300, 0u64..=1000, any::<usize>(), any::<usize>())
            .prop_map(|(lot, extra, give, outputs, loss, additions, form, process)| Op::Transform { lot, extra, give, outputs, loss, additions, form, process }),
        1 => any::<usize>().prop_map(|lot| Op::Move { lot }),
        2 => (any::<usize>(), 1u64..=1000).prop_map(|(lot, permille)| Op::Consume { lot, permille }),
        1 => (any::<usize>(), -1000i64..=1000).prop_map(|(lot, delta)| Op::Adjust { lot, delta: if delta == 0 { 1 } else { delta } }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(lot, place)| Op::Hold { lot, place }),
        1 => any::<usize>().prop_map(|lot| Op::Assay { lot }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(target, shipment)| Op::Attach { target, shipment }),
        1 => any::<usize>().prop_map(|event| Op::Correct { event }),
        2 => (any::<usize>(), any::<usize>(), any::<usize>(), 1u64..=2_000_000, any::<usize>())
            .prop_map(|(lot, actor, site, mass, kind)| Op::Wild { lot, actor, site, mass, kind }),
    ]
}

/// Builds the event an operation stands for, from the current state; `None` when nothing fits.
pub fn event_for(op: &Op, state: &State, counter: usize) -> Option<Value> {
    let lots: Vec<(String, lode_domain::LotState)> = state.lots().map(|(id, l)| (id.to_string(), l.clone())).collect();
    let pick = |i: usize| (!lots.is_empty()).then(|| &lots[i % lots.len()]);
    let open_shipments: Vec<(String, lode_domain::ShipmentState)> = state
        .shipments()
        .filter(|(_, s)| s.lots_in_transit().next().is_some())
        .map(|(id, s)| (id.to_string(), s.clone()))
        .collect();
    Some(match op {
        Op::Extract { mass, mine } => ev(
            "lot.extracted",
            MINER,
            json!({"lot": format!("X-{counter}"), "site": MINES[mine % MINES.len()], "material": ore(), "mass_g": mass}),
        ),
        Op::Ship { lot, to, count } => {
            let (id, first) = pick(*lot)?;
            let to_party = PARTIES[to % PARTIES.len()];
            let to_site =
                *sites_of(to_party).iter().rev().find(|s| **s != first.site.as_str()).unwrap_or(&sites_of(to_party)[0]);
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
            ship(first.custodian.as_str(), &format!("S-{counter}"), &shipped, first.site.as_str(), to_party, to_site)
        }
        Op::Receive { shipment, permille, partial } => {
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
            let received: Vec<(&str, u64)> = received.iter().map(|(l, m)| (l.as_str(), *m)).collect();
            receive(s.to_party.as_str(), id, &received)
        }
        Op::Reject { shipment } => {
            if open_shipments.is_empty() {
                return None;
            }
            let (id, s) = &open_shipments[shipment % open_shipments.len()];
            reject(s.to_party.as_str(), id)
        }
        Op::Transform { lot, extra, give, outputs, loss, additions, form, process } => {
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
            let n = if out_total < *outputs as u64 { 1 } else { *outputs as u64 };
            let mut outs = Vec::new();
            for k in 0..n {
                let mass = out_total / n + if k == 0 { out_total % n } else { 0 };
                outs.push((format!("T-{counter}-{k}"), material(*form), mass));
            }
            let inputs: Vec<(&str, u64)> = inputs.iter().map(|(l, m)| (l.as_str(), *m)).collect();
            let outs: Vec<(&str, Value, u64)> = outs.iter().map(|(l, m, g)| (l.as_str(), m.clone(), *g)).collect();
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
            let to = *sites_of(l.custodian.as_str()).iter().find(|s| **s != l.site.as_str()).unwrap_or(&MINE);
            moved(l.custodian.as_str(), id, to)
        }
        Op::Consume { lot, permille } => {
            let (id, l) = pick(*lot)?;
            consume(l.custodian.as_str(), id, (l.mass_g * permille / 1000).max(1))
        }
        Op::Adjust { lot, delta } => {
            let (id, l) = pick(*lot)?;
            adjust(l.custodian.as_str(), id, *delta)
        }
        Op::Hold { lot, place } => {
            let (id, _) = pick(*lot)?;
            hold(OP, "lot", id, *place)
        }
        Op::Assay { lot } => {
            let (id, _) = pick(*lot)?;
            assay(LAB, id, LAB)
        }
        Op::Attach { target, shipment } => {
            if *shipment {
                let shipments: Vec<&lode_domain::ShipmentId> = state.shipments().map(|(id, _)| id).collect();
                if shipments.is_empty() {
                    return None;
                }
                attach(AUDITOR, "shipment", shipments[target % shipments.len()].as_str())
            } else {
                let (id, _) = pick(*target)?;
                attach(AUDITOR, "lot", id)
            }
        }
        Op::Correct { event } => {
            // Sorted by position: the state's map of events has no stable order.
            let mut events: Vec<(u64, uuid::Uuid)> = state.events().map(|(id, r)| (r.seq, *id)).collect();
            events.sort();
            let (_, id) = events.get(event % events.len().max(1))?;
            correct(AUDITOR, *id)
        }
        Op::Wild { lot, actor, site, mass, kind } => {
            let (id, _) = pick(*lot)?;
            let actor = ALL_ACTORS[actor % ALL_ACTORS.len()];
            let site = ALL_SITES[site % ALL_SITES.len()];
            match kind % 5 {
                0 => consume(actor, id, *mass),
                1 => moved(actor, id, site),
                2 => adjust(actor, id, *mass as i64 - 1_000_000),
                3 => ship(actor, &format!("S-{counter}"), &[id], site, REFINER, REFINERY),
                _ => transform(actor, "other", site, &[(id, *mass)], &[(&format!("W-{counter}"), ore(), *mass)]),
            }
        }
    })
}

/// Runs [`history_world`] and then the events `ops` stand for through a ledger, calling `each` after
/// every accepted event with the ledger (its state after the event, its last accepted envelope and
/// context) and what was accepted. Returns the ledger.
// Used by the projections' tests, which include this file.
#[allow(dead_code)]
pub fn run_history(ops: &[Op], mut each: impl FnMut(&Ledger, &Accepted)) -> Ledger {
    let mut ledger = Ledger::new();
    for event in history_world() {
        let accepted = ledger.must(&event);
        each(&ledger, &accepted);
    }
    for (counter, op) in ops.iter().enumerate() {
        let Some(event) = event_for(op, &ledger.state, counter) else {
            continue;
        };
        if let Outcome::Accepted(accepted) = ledger.submit(&event) {
            each(&ledger, &accepted);
        }
    }
    ledger
}
