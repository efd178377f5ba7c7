//! Histories of custody events, chosen by the fuzzer from templates with mutated fields (who
//! records, which lots, sites and shipments, how many grams), run through the rules in a ledger in
//! memory fed as the store's writer feeds it.
//!
//! - Nothing panics: parsing, the rules, their effects, the views.
//! - After every accepted event, mass is conserved, a lot is closed exactly when empty, and every
//!   lot's origin sums to 1,000,000 ppm (`lode_fuzz::check_invariants`).
//! - At the end the records verify as a log, replaying them into a fresh ledger without the rules
//!   gives the same projections digest, and a checkpoint of the state restores to the same.
//! - Every parsed event, accepted or not, replayed without the rules into another state (what a
//!   rebuild or a bundle's verification does with records it trusts) does not panic.
//!
//! The world is small on purpose, so that the fuzzer's choices collide: eight lot ids, four
//! shipment ids, a handful of parties and sites (some never registered).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lode_domain::{parse_event, replay, Context, Envelope, State, MASS_G_MAX};
use lode_fuzz::Book;
use lode_projections::view::Views;
use serde_json::{json, Value};

/// Parties: the first seven are registered before the history starts, the last never is unless
/// the history registers it.
const PARTIES: [&str; 8] = ["op", "miner", "maker", "trader", "carrier", "lab", "auditor", "newco"];
/// Sites: (id, operator, kind, country); the last is registered by no one unless the history does.
const SITES: [(&str, &str, &str, &str); 7] = [
    ("mine-a", "miner", "mine", "VN"),
    ("mine-b", "miner", "mine", "CN"),
    ("plant", "miner", "separation_plant", "VN"),
    ("port", "miner", "port", "VN"),
    ("wh", "trader", "warehouse", "KR"),
    ("magnets", "maker", "magnet_plant", "JP"),
    ("new-site", "newco", "refinery", "DE"),
];
const ROLES: [&str; 10] =
    ["miner", "processor", "refiner", "carrier", "trader", "importer", "magnet_maker", "lab", "auditor", "operator"];
const KINDS: [&str; 9] = [
    "mine",
    "processing_plant",
    "separation_plant",
    "refinery",
    "metal_plant",
    "magnet_plant",
    "warehouse",
    "port",
    "lab",
];
const PROCESSES: [&str; 10] = [
    "separation",
    "refining",
    "calcination",
    "reduction",
    "alloying",
    "magnet_making",
    "split",
    "blend",
    "repack",
    "other",
];
const DOCUMENT_KINDS: [&str; 4] = ["bill_of_lading", "certificate_of_origin", "invoice", "certificate_of_analysis"];
const CONSUME_REASONS: [&str; 4] = ["delivered_to_product", "destroyed", "lost", "sample"];
const FORMULAS: [&str; 3] = ["Nd2O3", "Pr6O11", "Dy2O3"];
const LOTS: u8 = 8;
const SHIPMENTS: u8 = 4;
/// Most events in one history, and most entries in one event's lists: enough to reach every rule.
const STEPS_MAX: usize = 64;
const LIST_MAX: usize = 4;

fn pick<T: Copy>(list: &[T], i: u8) -> T {
    list[usize::from(i) % list.len()]
}

fn lot(i: u8) -> String {
    format!("L{}", i % LOTS)
}

fn shipment(i: u8) -> String {
    format!("S{}", i % SHIPMENTS)
}

fn material(i: u8) -> Value {
    match i % 9 {
        0 => json!({"form": "ore"}),
        1 => json!({"form": "concentrate", "elements": ["Nd", "Pr"]}),
        2 => json!({"form": "mixed_carbonate"}),
        3 => json!({"form": "oxide", "elements": ["Nd", "Pr"], "grade": "99.5%"}),
        4 => json!({"form": "oxide", "elements": ["Dy"]}),
        5 => json!({"form": "metal", "elements": ["Nd", "Pr"]}),
        6 => json!({"form": "alloy", "elements": ["Nd", "Dy"]}),
        7 => json!({"form": "magnet", "elements": ["Nd", "Dy"]}),
        _ => json!({"form": "residue"}),
    }
}

/// A mass in grams, often relative to what a lot holds, so that lots are emptied and closed.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Mass {
    Small(u8),
    All,
    Half,
    AllButOne,
    Max,
    Raw(u64),
}

impl Mass {
    fn grams(self, reference: u64) -> u64 {
        match self {
            Mass::Small(n) => u64::from(n),
            Mass::All => reference,
            Mass::Half => reference / 2,
            Mass::AllButOne => reference.saturating_sub(1),
            Mass::Max => MASS_G_MAX,
            Mass::Raw(n) => n,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Target {
    Lot(u8),
    Other(u8),
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Extract { lot: u8, site: u8, material: u8, mass: Mass },
    Transform { process: u8, site: Option<u8>, inputs: Vec<(u8, Mass)>, outputs: Vec<(u8, u8, Mass)>, balanced: bool },
    Ship { shipment: u8, lots: Vec<u8>, from_site: Option<u8>, to_site: u8, carrier: Option<u8>, documents: u8 },
    Receive { shipment: u8, lots: Vec<(u8, Mass)> },
    Reject { shipment: u8 },
    Move { lot: u8, site: u8 },
    Document { target: Target, kind: u8 },
    Assay { lot: u8, lab: u8, ppm: Vec<u32> },
    Consume { lot: u8, mass: Mass, reason: u8 },
    Adjust { lot: u8, mass: Mass, up: bool },
    Hold { target: Target, place: bool },
    Correct { event: u16, did_not_occur: bool },
    RegisterParty { party: u8, roles: u16 },
    RegisterSite { site: u8, party: Option<u8>, kind: Option<u8> },
}

/// One event of the history: its kind, and optionally another actor than the natural one (the
/// party the rules expect), an `expected` version, or a time in the future.
#[derive(Arbitrary, Debug)]
struct Step {
    kind: Kind,
    actor: Option<u8>,
    expected: Option<(u8, bool)>,
    future: bool,
}

#[derive(Arbitrary, Debug)]
struct History {
    steps: Vec<Step>,
    /// Replay every parsed event, refused ones too, without the rules (a slower, separate check).
    replay_all: bool,
}

/// Writes a step as the JSON a client would submit, reading the book's state to fill in natural
/// actors, sites and masses.
fn event_json(step: &Step, state: &State, ids: &[uuid::Uuid], n: usize) -> Value {
    let custodian = |l: &str| state.lot(l).map_or("miner".to_string(), |x| x.custodian.to_string());
    let held = |l: &str| state.lot(l).map_or(1000, |x| x.mass_g);
    let (kind, natural, data) = match &step.kind {
        Kind::Extract { lot: l, site, material: m, mass } => {
            let (site, operator, _, _) = pick(&SITES, *site);
            let data = json!({"lot": lot(*l), "site": site, "material": material(*m), "mass_g": mass.grams(1_000_000)});
            ("lot.extracted", operator.to_string(), data)
        }
        Kind::Transform { process, site, inputs, outputs, balanced } => {
            let inputs: Vec<(String, u64)> =
                inputs.iter().take(LIST_MAX).map(|(l, m)| (lot(*l), m.grams(held(&lot(*l))))).collect();
            let total_in: u64 = inputs.iter().map(|(_, g)| *g).fold(0, u64::saturating_add);
            let outputs: Vec<(String, u8, u64)> =
                outputs.iter().take(LIST_MAX).map(|(l, m, g)| (lot(*l), *m, g.grams(total_in))).collect();
            let total_out: u64 = outputs.iter().map(|(_, _, g)| *g).fold(0, u64::saturating_add);
            let first = inputs.first().map(|(l, _)| l.clone()).unwrap_or_else(|| lot(0));
            let site = match site {
                Some(s) => pick(&SITES, *s).0.to_string(),
                None => state.lot(&first).map_or("plant".to_string(), |x| x.site.to_string()),
            };
            let mut data = json!({
                "process": pick(&PROCESSES, *process),
                "site": site,
                "inputs": inputs.iter().map(|(l, g)| json!({"lot": l, "mass_g": g})).collect::<Vec<_>>(),
                "outputs": outputs.iter().map(|(l, m, g)| json!({"lot": l, "material": material(*m), "mass_g": g})).collect::<Vec<_>>(),
            });
            // Balanced: what the inputs give beyond the outputs is the loss; what they lack, untraced additions.
            if *balanced {
                if total_in >= total_out {
                    data["loss_g"] = json!(total_in - total_out);
                } else {
                    data["additions_g"] = json!(total_out - total_in);
                }
            }
            ("lot.transformed", custodian(&first), data)
        }
        Kind::Ship { shipment: s, lots, from_site, to_site, carrier, documents } => {
            let lots: Vec<String> = lots.iter().take(LIST_MAX).map(|l| lot(*l)).collect();
            let first = lots.first().cloned().unwrap_or_else(|| lot(0));
            let from_site = match from_site {
                Some(s) => pick(&SITES, *s).0.to_string(),
                None => state.lot(&first).map_or("port".to_string(), |x| x.site.to_string()),
            };
            let (to_site, to_party, _, _) = pick(&SITES, *to_site);
            let mut data = json!({"shipment": shipment(*s), "lots": lots, "from_site": from_site, "to_party": to_party, "to_site": to_site});
            if let Some(c) = carrier {
                data["carrier"] = json!(pick(&PARTIES, *c));
            }
            let docs: Vec<Value> = DOCUMENT_KINDS
                .iter()
                .enumerate()
                .filter(|(i, _)| documents & (1 << i) != 0)
                .map(|(i, k)| json!({"kind": k, "ref": format!("DOC-{n}-{i}")}))
                .collect();
            if documents & 0x80 != 0 {
                data["documents"] = json!(docs);
            }
            ("custody.shipped", custodian(&first), data)
        }
        Kind::Receive { shipment: s, lots } => {
            let shipped = state.shipment(&shipment(*s));
            let lots: Vec<Value> = lots
                .iter()
                .take(LIST_MAX)
                .map(|(l, m)| {
                    let sent = shipped.and_then(|x| x.lots.get(lot(*l).as_str())).map_or(1000, |x| x.shipped_g);
                    json!({"lot": lot(*l), "mass_g": m.grams(sent)})
                })
                .collect();
            let receiver = shipped.map_or("trader".to_string(), |x| x.to_party.to_string());
            ("custody.received", receiver, json!({"shipment": shipment(*s), "lots": lots}))
        }
        Kind::Reject { shipment: s } => {
            let receiver = state.shipment(&shipment(*s)).map_or("trader".to_string(), |x| x.to_party.to_string());
            ("custody.rejected", receiver, json!({"shipment": shipment(*s), "reason": "damaged drums"}))
        }
        Kind::Move { lot: l, site } => {
            ("lot.moved", custodian(&lot(*l)), json!({"lot": lot(*l), "to_site": pick(&SITES, *site).0}))
        }
        Kind::Document { target, kind } => {
            let kind = pick(&DOCUMENT_KINDS, *kind);
            match target {
                Target::Lot(l) => {
                    ("document.attached", custodian(&lot(*l)), json!({"lot": lot(*l), "kind": kind, "ref": "R-1"}))
                }
                Target::Other(s) => {
                    let shipper = state.shipment(&shipment(*s)).map_or("miner".to_string(), |x| x.shipper.to_string());
                    (
                        "document.attached",
                        shipper,
                        json!({"shipment": shipment(*s), "kind": kind, "ref": "R-2", "digest": "ab".repeat(32)}),
                    )
                }
            }
        }
        Kind::Assay { lot: l, lab, ppm } => {
            let oxides: serde_json::Map<String, Value> = ppm
                .iter()
                .take(FORMULAS.len())
                .zip(FORMULAS)
                .map(|(p, f)| (f.to_string(), json!(p % 1_100_000)))
                .collect();
            let lab = pick(&PARTIES, *lab);
            (
                "lot.assayed",
                lab.to_string(),
                json!({"lot": lot(*l), "lab": lab, "certificate": "C-1", "oxides_ppm": oxides}),
            )
        }
        Kind::Consume { lot: l, mass, reason } => {
            let data = json!({"lot": lot(*l), "mass_g": mass.grams(held(&lot(*l))), "reason": pick(&CONSUME_REASONS, *reason)});
            ("lot.consumed", custodian(&lot(*l)), data)
        }
        Kind::Adjust { lot: l, mass, up } => {
            let g = i64::try_from(mass.grams(held(&lot(*l)))).unwrap_or(i64::MAX);
            let delta = if *up { g } else { -g };
            ("lot.adjusted", custodian(&lot(*l)), json!({"lot": lot(*l), "delta_g": delta, "reason": "stocktake"}))
        }
        Kind::Hold { target, place } => {
            let kind = if *place { "hold.placed" } else { "hold.released" };
            let data = match target {
                Target::Lot(l) => json!({"lot": lot(*l), "reason": "inquiry"}),
                Target::Other(p) => json!({"party": pick(&PARTIES, *p), "reason": "inquiry"}),
            };
            (kind, "auditor".to_string(), data)
        }
        Kind::Correct { event, did_not_occur } => {
            let id = if ids.is_empty() { uuid::Uuid::from_u128(7) } else { ids[usize::from(*event) % ids.len()] };
            let reason = if *did_not_occur { "did_not_occur" } else { "incorrect_data" };
            ("event.corrected", "op".to_string(), json!({"event": id.to_string(), "reason": reason}))
        }
        Kind::RegisterParty { party, roles } => {
            let roles: Vec<&str> =
                ROLES.iter().enumerate().filter(|(i, _)| roles & (1 << i) != 0).map(|(_, r)| *r).collect();
            let data = json!({"party": pick(&PARTIES, *party), "name": "A party", "roles": roles, "country": "SG"});
            ("party.registered", "op".to_string(), data)
        }
        Kind::RegisterSite { site, party, kind } => {
            let (id, operator, natural_kind, country) = pick(&SITES, *site);
            let party = party.map_or(operator, |p| pick(&PARTIES, p));
            let kind = kind.map_or(natural_kind, |k| pick(&KINDS, k));
            (
                "site.registered",
                party.to_string(),
                json!({"site": id, "party": party, "name": "A site", "kind": kind, "country": country}),
            )
        }
    };
    let actor = step.actor.map_or(natural, |a| pick(&PARTIES, a).to_string());
    let occurred_at = if step.future {
        "2027-01-01T00:00:00Z".to_string()
    } else {
        format!("2025-06-{:02}T{:02}:{:02}:00Z", 1 + n / 60 / 24 % 28, n / 60 % 24, n % 60)
    };
    let mut event = json!({"type": kind, "actor": actor, "occurred_at": occurred_at, "data": data});
    if let Some((l, exact)) = step.expected {
        let version = state.lot_version(&lot(l));
        event["expected"] = json!({ lot(l): if exact { version } else { version + 1 } });
    }
    event
}

/// The parties and sites every history starts from, as their operators would register them.
fn world() -> Vec<Value> {
    let roles: [(&str, &[&str]); 7] = [
        ("op", &["operator"]),
        ("miner", &["miner", "processor", "refiner"]),
        ("maker", &["processor", "magnet_maker"]),
        ("trader", &["trader", "importer"]),
        ("carrier", &["carrier"]),
        ("lab", &["lab"]),
        ("auditor", &["auditor"]),
    ];
    let mut out: Vec<Value> = roles
        .iter()
        .map(|(p, r)| {
            json!({"type": "party.registered", "actor": "op", "occurred_at": "2025-01-01T00:00:00Z",
            "data": {"party": p, "name": format!("Party {p}"), "roles": r, "country": "KR"}})
        })
        .collect();
    for (site, party, kind, country) in &SITES[..SITES.len() - 1] {
        out.push(json!({"type": "site.registered", "actor": party, "occurred_at": "2025-01-01T00:00:00Z",
            "data": {"site": site, "party": party, "name": format!("Site {site}"), "kind": kind, "country": country}}));
    }
    out
}

fn parse(value: &Value) -> Option<Envelope> {
    let bytes = serde_json::to_vec(value).expect("json values serialize");
    parse_event(&bytes).ok()
}

fuzz_target!(|history: History| {
    let mut book = Book::default();
    for event in world() {
        let envelope = parse(&event).expect("the world's events parse");
        book.submit(envelope).expect("the world's events pass the rules");
    }
    let mut parsed = Vec::new();
    for (n, step) in history.steps.iter().take(STEPS_MAX).enumerate() {
        let event = book.ledger.read(|state, _| event_json(step, state, &book.ids, n));
        let Some(envelope) = parse(&event) else {
            continue;
        };
        if history.replay_all {
            parsed.push(envelope.clone());
        }
        if book.submit(envelope).is_ok() {
            book.check_invariants();
        }
    }
    book.check_replay_and_restore();

    // Without the rules, on events the rules may well have refused: nothing may panic.
    let (mut state, mut views) = (State::default(), Views::default());
    for (i, mut envelope) in parsed.into_iter().enumerate() {
        let seq = i as u64 + 1;
        let event_id = envelope.id().unwrap_or_else(|| uuid::Uuid::from_u128(u128::from(seq)));
        envelope.set_id(event_id);
        let ctx = Context { event_id, seq, recorded_at: lode_fuzz::recorded_at(seq) };
        let accepted = replay(&mut state, &envelope, &ctx);
        views.apply(&state, &envelope, &accepted, &ctx);
    }
});
