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
//! The world is small on purpose, so that the fuzzer's choices collide: twelve lot ids, four
//! shipment ids, a handful of parties and sites (some never registered). It starts with three
//! lots and one shipment in transit.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use lode_domain::{parse_event, replay, Context, Envelope, LotStatus, State, MASS_G_MAX};
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
const LOTS: u8 = 12;
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

/// A mass in grams, often relative to what a lot holds, so that lots are emptied and closed. Any
/// other mass is at most 10^12 g: larger ones are parse errors, which `parse_event`'s own target
/// covers.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Mass {
    Small(u8),
    All,
    Any(u64),
    Half,
    AllButOne,
    Max,
}

impl Mass {
    fn grams(self, reference: u64) -> u64 {
        match self {
            Mass::Small(n) => u64::from(n) + 1,
            Mass::All => reference,
            Mass::Half => reference / 2,
            Mass::AllButOne => reference.saturating_sub(1),
            Mass::Max => MASS_G_MAX,
            Mass::Any(n) => n % (MASS_G_MAX + 1),
        }
    }
}

/// Whether to depart from the natural choice: for one byte value in eight, away from both the
/// zeros of an input that ran out and the 0xff bytes fuzzers like to fill with.
fn rarely(u: &mut Unstructured<'_>) -> arbitrary::Result<bool> {
    Ok((0x60..0x80).contains(&u8::arbitrary(u)?))
}

/// A choice that is usually left to the natural value (the one the rules expect), so that
/// histories go deep.
#[derive(Debug, Clone, Copy)]
enum Mostly<T> {
    Natural,
    Chosen(T),
}

impl<'a, T: Arbitrary<'a>> Arbitrary<'a> for Mostly<T> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(if rarely(u)? { Mostly::Chosen(T::arbitrary(u)?) } else { Mostly::Natural })
    }
}

impl<T: Copy> Mostly<T> {
    fn chosen(self) -> Option<T> {
        match self {
            Mostly::Chosen(t) => Some(t),
            Mostly::Natural => None,
        }
    }
}

/// A lot or shipment: usually one of those that exist (for what needs one) or of those that do
/// not yet (for a new one), by index; now and then any id of the small world.
#[derive(Debug, Clone, Copy)]
struct Pick {
    index: u8,
    any: bool,
}

impl<'a> Arbitrary<'a> for Pick {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Pick { index: u8::arbitrary(u)?, any: rarely(u)? })
    }
}

/// A list with at least one entry: an empty one is a parse error, which `parse_event`'s own target
/// covers (and `Vec`'s length, which arbitrary reads from the input's end, is often 0).
#[derive(Arbitrary, Debug)]
struct NonEmpty<T>(T, Vec<T>);

impl<T> NonEmpty<T> {
    fn iter(&self) -> impl Iterator<Item = &T> {
        std::iter::once(&self.0).chain(&self.1)
    }
}

#[derive(Arbitrary, Debug)]
enum Target {
    Lot(Pick),
    Other(u8),
}

/// The kinds of event. The derived choice of a variant maps low input bytes to the first ones and
/// 0xff bytes (which fuzzers like) to the last: the ones that build histories stand at both ends.
#[derive(Arbitrary, Debug)]
enum Kind {
    Transform {
        process: u8,
        site: Mostly<u8>,
        inputs: NonEmpty<(Pick, Mass)>,
        outputs: NonEmpty<(Pick, u8, Mass)>,
        balanced: Mostly<()>,
    },
    Ship {
        shipment: Pick,
        lots: NonEmpty<Pick>,
        from_site: Mostly<u8>,
        to_site: u8,
        carrier: Option<Mostly<u8>>,
        documents: u8,
    },
    Receive {
        shipment: Pick,
        lots: NonEmpty<(Pick, Mass)>,
    },
    Reject {
        shipment: Pick,
    },
    Move {
        lot: Pick,
        site: u8,
    },
    Document {
        target: Target,
        kind: u8,
    },
    Assay {
        lot: Pick,
        lab: Mostly<u8>,
        ppm: Vec<u32>,
    },
    Consume {
        lot: Pick,
        mass: Mass,
        reason: u8,
    },
    Adjust {
        lot: Pick,
        mass: Mass,
        up: bool,
    },
    Hold {
        target: Target,
        place: bool,
    },
    Correct {
        event: u16,
        did_not_occur: bool,
    },
    RegisterParty {
        party: u8,
        roles: u16,
    },
    RegisterSite {
        site: u8,
        party: Mostly<u8>,
        kind: Mostly<u8>,
    },
    Extract {
        lot: Pick,
        site: u8,
        material: u8,
        mass: Mass,
    },
}

/// One event of the history: its kind, and sometimes another actor than the natural one (the
/// party the rules expect), an `expected` version, or a time in the future.
#[derive(Arbitrary, Debug)]
struct Step {
    kind: Kind,
    actor: Mostly<u8>,
    expected: Option<(Pick, bool)>,
    future: Mostly<()>,
}

#[derive(Arbitrary, Debug)]
struct History {
    steps: Vec<Step>,
    /// Replay every parsed event, refused ones too, without the rules (a slower, separate check).
    replay_all: bool,
}

/// Turns picks into ids against the state as it is before the event.
struct World<'s> {
    state: &'s State,
}

impl World<'_> {
    fn nth(ids: &[String], p: Pick, or: String) -> String {
        if p.any || ids.is_empty() {
            or
        } else {
            ids[usize::from(p.index) % ids.len()].clone()
        }
    }

    /// A lot that exists, active ones first.
    fn lot(&self, p: Pick) -> String {
        let active: Vec<String> =
            self.state.lots().filter(|(_, l)| l.status == LotStatus::Active).map(|(id, _)| id.to_string()).collect();
        let all: Vec<String> = self.state.lots().map(|(id, _)| id.to_string()).collect();
        Self::nth(if active.is_empty() { &all } else { &active }, p, lot(p.index))
    }

    /// A lot id not used yet.
    fn new_lot(&self, p: Pick) -> String {
        let free: Vec<String> = (0..LOTS).map(lot).filter(|id| self.state.lot(id).is_none()).collect();
        Self::nth(&free, p, lot(p.index))
    }

    fn shipment(&self, p: Pick) -> String {
        let all: Vec<String> = self.state.shipments().map(|(id, _)| id.to_string()).collect();
        Self::nth(&all, p, shipment(p.index))
    }

    fn new_shipment(&self, p: Pick) -> String {
        let free: Vec<String> = (0..SHIPMENTS).map(shipment).filter(|id| self.state.shipment(id).is_none()).collect();
        Self::nth(&free, p, shipment(p.index))
    }

    /// A lot of the shipment, those still in transit first.
    fn shipped_lot(&self, shipment: &str, p: Pick) -> String {
        let lots: Vec<String> = self.state.shipment(shipment).map_or(Vec::new(), |s| {
            let moving: Vec<String> = s.lots_in_transit().map(|id| id.to_string()).collect();
            if moving.is_empty() {
                s.lots.keys().map(|id| id.to_string()).collect()
            } else {
                moving
            }
        });
        Self::nth(&lots, p, lot(p.index))
    }

    fn custodian(&self, lot: &str) -> String {
        self.state.lot(lot).map_or("miner".to_string(), |x| x.custodian.to_string())
    }

    fn held(&self, lot: &str) -> u64 {
        self.state.lot(lot).map_or(1000, |x| x.mass_g)
    }
}

/// Drops repeated ids from a list, and those in `taken`: a repeat is a parse error, which
/// `parse_event`'s own target covers, and would keep most transformations and shipments from ever
/// passing.
fn distinct(ids: impl Iterator<Item = String>, taken: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        if !taken.contains(&id) {
            taken.push(id.clone());
            out.push(id);
        }
    }
    out
}

/// Writes a step as the JSON a client would submit, reading the book's state to fill in natural
/// actors, lots, sites and masses.
fn event_json(step: &Step, state: &State, ids: &[uuid::Uuid], n: usize) -> Value {
    let w = World { state };
    let (kind, natural, data) = match &step.kind {
        Kind::Extract { lot, site, material: m, mass } => {
            let (site, operator, _, _) = pick(&SITES, *site);
            let data = json!({"lot": w.new_lot(*lot), "site": site, "material": material(*m), "mass_g": mass.grams(1_000_000)});
            ("lot.extracted", operator.to_string(), data)
        }
        Kind::Transform { process, site, inputs, outputs, balanced } => {
            let mut taken = Vec::new();
            let input_lots = distinct(inputs.iter().take(LIST_MAX).map(|(p, _)| w.lot(*p)), &mut taken);
            let output_lots = distinct(outputs.iter().take(LIST_MAX).map(|(p, _, _)| w.new_lot(*p)), &mut taken);
            let inputs: Vec<(String, u64)> =
                inputs.iter().zip(input_lots).map(|((_, m), l)| (l.clone(), m.grams(w.held(&l)))).collect();
            let total_in: u64 = inputs.iter().map(|(_, g)| *g).fold(0, u64::saturating_add);
            let outputs: Vec<(String, u8, u64)> =
                outputs.iter().zip(output_lots).map(|((_, m, g), l)| (l, *m, g.grams(total_in))).collect();
            let total_out: u64 = outputs.iter().map(|(_, _, g)| *g).fold(0, u64::saturating_add);
            let first = inputs.first().map(|(l, _)| l.clone()).unwrap_or_else(|| lot(0));
            let site = match site.chosen() {
                Some(s) => pick(&SITES, s).0.to_string(),
                None => state.lot(&first).map_or("plant".to_string(), |x| x.site.to_string()),
            };
            let mut data = json!({
                "process": pick(&PROCESSES, *process),
                "site": site,
                "inputs": inputs.iter().map(|(l, g)| json!({"lot": l, "mass_g": g})).collect::<Vec<_>>(),
                "outputs": outputs.iter().map(|(l, m, g)| json!({"lot": l, "material": material(*m), "mass_g": g})).collect::<Vec<_>>(),
            });
            // Balanced unless chosen otherwise: what the inputs give beyond the outputs is the loss;
            // what they lack, untraced additions.
            if balanced.chosen().is_none() {
                if total_in >= total_out {
                    data["loss_g"] = json!(total_in - total_out);
                } else {
                    data["additions_g"] = json!(total_out - total_in);
                }
            }
            ("lot.transformed", w.custodian(&first), data)
        }
        Kind::Ship { shipment, lots, from_site, to_site, carrier, documents } => {
            let lots = distinct(lots.iter().take(LIST_MAX).map(|p| w.lot(*p)), &mut Vec::new());
            let first = lots.first().cloned().unwrap_or_else(|| lot(0));
            let from_site = match from_site.chosen() {
                Some(s) => pick(&SITES, s).0.to_string(),
                None => state.lot(&first).map_or("port".to_string(), |x| x.site.to_string()),
            };
            let (to_site, to_party, _, _) = pick(&SITES, *to_site);
            let mut data = json!({"shipment": w.new_shipment(*shipment), "lots": lots, "from_site": from_site,
                "to_party": to_party, "to_site": to_site});
            if let Some(c) = carrier {
                data["carrier"] = json!(c.chosen().map_or("carrier", |c| pick(&PARTIES, c)));
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
            ("custody.shipped", w.custodian(&first), data)
        }
        Kind::Receive { shipment, lots } => {
            let id = w.shipment(*shipment);
            let shipped = state.shipment(&id);
            let ids = distinct(lots.iter().take(LIST_MAX).map(|(p, _)| w.shipped_lot(&id, *p)), &mut Vec::new());
            let lots: Vec<Value> = lots
                .iter()
                .zip(ids)
                .map(|((_, m), l)| {
                    let sent = shipped.and_then(|x| x.lots.get(l.as_str())).map_or(1000, |x| x.shipped_g);
                    json!({"lot": l, "mass_g": m.grams(sent)})
                })
                .collect();
            let receiver = shipped.map_or("trader".to_string(), |x| x.to_party.to_string());
            ("custody.received", receiver, json!({"shipment": id, "lots": lots}))
        }
        Kind::Reject { shipment } => {
            let id = w.shipment(*shipment);
            let receiver = state.shipment(&id).map_or("trader".to_string(), |x| x.to_party.to_string());
            ("custody.rejected", receiver, json!({"shipment": id, "reason": "damaged drums"}))
        }
        Kind::Move { lot, site } => {
            let lot = w.lot(*lot);
            ("lot.moved", w.custodian(&lot), json!({"lot": lot, "to_site": pick(&SITES, *site).0}))
        }
        Kind::Document { target, kind } => {
            let kind = pick(&DOCUMENT_KINDS, *kind);
            match target {
                Target::Lot(p) => {
                    let lot = w.lot(*p);
                    ("document.attached", w.custodian(&lot), json!({"lot": lot, "kind": kind, "ref": "R-1"}))
                }
                Target::Other(s) => {
                    let id = w.shipment(Pick { index: *s, any: false });
                    let shipper = state.shipment(&id).map_or("miner".to_string(), |x| x.shipper.to_string());
                    let data = json!({"shipment": id, "kind": kind, "ref": "R-2", "digest": "ab".repeat(32)});
                    ("document.attached", shipper, data)
                }
            }
        }
        Kind::Assay { lot, lab, ppm } => {
            let oxides: serde_json::Map<String, Value> = ppm
                .iter()
                .take(FORMULAS.len())
                .zip(FORMULAS)
                .map(|(p, f)| (f.to_string(), json!(p % 1_100_000)))
                .collect();
            let lab = lab.chosen().map_or("lab", |l| pick(&PARTIES, l));
            let data = json!({"lot": w.lot(*lot), "lab": lab, "certificate": "C-1", "oxides_ppm": oxides});
            ("lot.assayed", lab.to_string(), data)
        }
        Kind::Consume { lot, mass, reason } => {
            let lot = w.lot(*lot);
            let data =
                json!({"lot": lot, "mass_g": mass.grams(w.held(&lot)), "reason": pick(&CONSUME_REASONS, *reason)});
            ("lot.consumed", w.custodian(&lot), data)
        }
        Kind::Adjust { lot, mass, up } => {
            let lot = w.lot(*lot);
            let g = i64::try_from(mass.grams(w.held(&lot))).unwrap_or(i64::MAX);
            let delta = if *up { g } else { -g };
            ("lot.adjusted", w.custodian(&lot), json!({"lot": lot, "delta_g": delta, "reason": "stocktake"}))
        }
        Kind::Hold { target, place } => {
            let kind = if *place { "hold.placed" } else { "hold.released" };
            let data = match target {
                Target::Lot(p) => json!({"lot": w.lot(*p), "reason": "inquiry"}),
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
            let party = party.chosen().map_or(operator, |p| pick(&PARTIES, p));
            let kind = kind.chosen().map_or(natural_kind, |k| pick(&KINDS, k));
            let data = json!({"site": id, "party": party, "name": "A site", "kind": kind, "country": country});
            ("site.registered", party.to_string(), data)
        }
    };
    let actor = step.actor.chosen().map_or(natural, |a| pick(&PARTIES, a).to_string());
    let occurred_at = if step.future.chosen().is_some() {
        "2027-01-01T00:00:00Z".to_string()
    } else {
        format!("2025-06-{:02}T{:02}:{:02}:00Z", 1 + n / 60 / 24 % 28, n / 60 % 24, n % 60)
    };
    let mut event = json!({"type": kind, "actor": actor, "occurred_at": occurred_at, "data": data});
    if let Some((p, exact)) = step.expected {
        let lot = w.lot(p);
        let version = state.lot_version(&lot);
        event["expected"] = json!({ lot: if exact { version } else { version + 1 } });
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
    // A few lots, at a mine, at the plant and in transit, so that a history has something to work
    // on from its first event.
    let at = "2025-01-02T00:00:00Z";
    for (lot, site, m, g) in
        [("L0", "mine-a", 0, 1_000_000), ("L1", "mine-b", 1, 2_000_000), ("L2", "mine-a", 1, 500_000)]
    {
        out.push(json!({"type": "lot.extracted", "actor": "miner", "occurred_at": at,
            "data": {"lot": lot, "site": site, "material": material(m), "mass_g": g}}));
    }
    out.push(
        json!({"type": "lot.moved", "actor": "miner", "occurred_at": at, "data": {"lot": "L1", "to_site": "plant"}}),
    );
    out.push(
        json!({"type": "lot.moved", "actor": "miner", "occurred_at": at, "data": {"lot": "L2", "to_site": "port"}}),
    );
    out.push(json!({"type": "custody.shipped", "actor": "miner", "occurred_at": at,
        "data": {"shipment": "S0", "lots": ["L2"], "from_site": "port", "to_party": "trader", "to_site": "wh", "carrier": "carrier"}}));
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
