//! Ledgers for the tests: a real store in a temporary directory, events appended through it, and
//! hand-written events.

use lode_domain::scenario::{generate, ScenarioOptions};
use lode_projections::view::{InventoryFilter, InventoryRow};
use lode_projections::{prepare_event, prepare_event_with, Ledger};
use lode_query::{Audit, AuditOptions, Limits, TraceBack, TraceForward};
use lode_store::{Options, Store};
use serde_json::{json, Value};
use uuid::Uuid;

/// A ledger on disk, appended to through the store with all its rules.
#[derive(Debug)]
pub struct Fixture {
    pub store: Store<Ledger>,
    pub ledger: Ledger,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::default();
        let store = Store::open(dir.path(), Options { fsync: false, ..Options::default() }, ledger.clone()).unwrap();
        Fixture { store, ledger, _dir: dir }
    }

    /// A ledger with these events, which must all be accepted.
    pub fn with(events: &[Value]) -> Fixture {
        let f = Fixture::new();
        f.append(events);
        f
    }

    /// Appends events, which must all be accepted.
    pub fn append(&self, events: &[Value]) {
        let lines: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        self.append_lines(&lines);
    }

    pub fn append_lines(&self, lines: &[String]) {
        let batch = lines.iter().map(|l| prepare_event(l.as_bytes()).unwrap()).collect();
        let out = self.store.append(batch).unwrap();
        if let Some(stopped) = out.stopped {
            panic!("event {} was not accepted: {:?}\n{}", stopped.index, stopped.reason, lines[stopped.index]);
        }
    }

    pub fn trace_back(&self, lot: &str) -> TraceBack {
        self.ledger.read(|s, v| lode_query::trace_back(s, v, lot, &Limits::default())).unwrap()
    }

    pub fn trace_forward(&self, lot: &str) -> TraceForward {
        self.ledger.read(|s, v| lode_query::trace_forward(s, v, lot, &Limits::default())).unwrap()
    }

    pub fn audit_with(&self, lot: &str, options: &AuditOptions) -> Audit {
        let reader = self.store.reader();
        self.ledger.read(|s, v| lode_query::audit(s, v, &reader, lot, options)).unwrap()
    }

    pub fn audit(&self, lot: &str) -> Audit {
        self.audit_with(lot, &AuditOptions::default())
    }

    pub fn inventory(&self) -> Vec<InventoryRow> {
        self.ledger.read(|_, v| v.inventory(&InventoryFilter::default()))
    }

    /// The id of the event at a position.
    pub fn event_at(&self, seq: u64) -> Uuid {
        self.store.reader().get(seq).unwrap().unwrap().header().id
    }
}

/// The demo ledger of `data/demo/events.jsonl`. An event without an id gets one derived from its line,
/// so that positions, ids and everything derived from them but `recorded_at` are the same every run.
pub fn demo() -> Fixture {
    let text = std::fs::read_to_string(repo_file("data/demo/events.jsonl")).unwrap();
    let f = Fixture::new();
    let batch = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let id = Uuid::from_u128(0xde30_0000_0000_7000_8000_0000_0000_0000 | i as u128);
            prepare_event_with(line.as_bytes(), || id).unwrap()
        })
        .collect();
    let out = f.store.append(batch).unwrap();
    assert!(out.stopped.is_none(), "{:?}", out.stopped);
    f
}

/// A ledger of the generated history of `mine_lots` mine lots.
pub fn generated(mine_lots: usize, seed: u64) -> Fixture {
    let f = Fixture::new();
    f.append_lines(&scenario(mine_lots, seed));
    f
}

/// A file of the repository, from its root.
pub fn repo_file(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

/// The generated history of `mine_lots` mine lots, as JSON lines.
pub fn scenario(mine_lots: usize, seed: u64) -> Vec<String> {
    let start = chrono::DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z").unwrap().to_utc();
    generate(&ScenarioOptions { mine_lots, seed, start }).collect()
}

// -----------------------------------------------------------------------------------------------------
// Hand-written events

pub const OP: &str = "lode-op";
pub const MINER: &str = "vn-mine-co";
pub const REFINER: &str = "vn-refiner";
pub const MAKER: &str = "jp-magnets";
pub const CARRIER: &str = "sea-carrier";
pub const TRUCKER: &str = "road-carrier";
pub const LAB: &str = "sgs-lab";

pub const MINE: &str = "vn-mine-1";
pub const REFINERY: &str = "vn-refinery-1";
pub const METAL_PLANT: &str = "jp-metal-1";
pub const MAGNET_PLANT: &str = "jp-magnet-1";

pub const ORE: &str = "VN-ORE-1";
pub const RES: &str = "VN-RES-1";
pub const OXIDE: &str = "VN-OX-1";
pub const METAL: &str = "JP-MET-1";
pub const ALLOY: &str = "JP-ALY-1";
pub const MAGNET: &str = "JP-MAG-1";

/// Day `d` of April 2024, at 08:00 UTC.
pub fn day(d: u32) -> String {
    format!("2024-04-{d:02}T08:00:00Z")
}

pub fn ev(type_name: &str, actor: &str, at: &str, data: Value) -> Value {
    json!({"type": type_name, "actor": actor, "occurred_at": at, "data": data})
}

pub fn with_id(mut event: Value, id: Uuid) -> Value {
    event["id"] = json!(id.to_string());
    event
}

pub fn party(party: &str, roles: &[&str], country: &str) -> Value {
    ev(
        "party.registered",
        OP,
        &day(1),
        json!({"party": party, "name": format!("{party} ltd"), "roles": roles, "country": country}),
    )
}

pub fn site(site: &str, party: &str, kind: &str, country: &str) -> Value {
    ev(
        "site.registered",
        OP,
        &day(1),
        json!({"site": site, "party": party, "name": format!("{site} site"), "kind": kind, "country": country}),
    )
}

pub fn material(form: &str) -> Value {
    match form {
        "ore" | "residue" => json!({"form": form}),
        _ => json!({"form": form, "elements": ["Nd", "Pr"]}),
    }
}

pub fn ship(actor: &str, at: &str, shipment: &str, lots: &[&str], route: (&str, &str, &str), docs: &[&str]) -> Value {
    let (from_site, to_party, to_site) = route;
    let documents: Vec<Value> = docs.iter().map(|k| json!({"kind": k, "ref": format!("{shipment}-{k}")})).collect();
    ev(
        "custody.shipped",
        actor,
        at,
        json!({"shipment": shipment, "lots": lots, "from_site": from_site, "to_party": to_party,
               "to_site": to_site, "carrier": CARRIER, "documents": documents}),
    )
}

pub fn receive(actor: &str, at: &str, shipment: &str, lots: &[(&str, u64)]) -> Value {
    let lots: Vec<Value> = lots.iter().map(|(lot, mass)| json!({"lot": lot, "mass_g": mass})).collect();
    ev("custody.received", actor, at, json!({"shipment": shipment, "lots": lots}))
}

#[allow(clippy::too_many_arguments)] // the fields of the event
pub fn transform(
    actor: &str,
    at: &str,
    process: &str,
    site: &str,
    inputs: &[(&str, u64)],
    outputs: &[(&str, &str, u64)],
    additions_g: u64,
    loss_g: u64,
) -> Value {
    let inputs: Vec<Value> = inputs.iter().map(|(lot, mass)| json!({"lot": lot, "mass_g": mass})).collect();
    let outputs: Vec<Value> = outputs
        .iter()
        .map(|(lot, form, mass)| json!({"lot": lot, "material": material(form), "mass_g": mass}))
        .collect();
    ev(
        "lot.transformed",
        actor,
        at,
        json!({"process": process, "site": site, "inputs": inputs, "outputs": outputs,
               "additions_g": additions_g, "loss_g": loss_g}),
    )
}

pub fn hold(place: bool, at: &str, key: &str, target: &str) -> Value {
    let type_name = if place { "hold.placed" } else { "hold.released" };
    let reason = if place { "investigation" } else { "cleared" };
    ev(type_name, OP, at, json!({key: target, "reason": reason}))
}

/// What to change in the [`story`]: each turns one finding on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tweaks {
    /// The ore is weighed in 2% short.
    pub short_receipt: bool,
    /// The separation loses 10% of the ore.
    pub heavy_loss: bool,
    /// The oxide is adjusted down by 10 kg at the refinery.
    pub adjustment: bool,
    /// The oxide's assay is corrected, and the correction corrected.
    pub correction: bool,
    /// The oxide is put on hold at the refinery, then released.
    pub lot_hold: bool,
    /// The sea carrier is put on hold, then released.
    pub party_hold: bool,
    /// The oxide is shipped without a certificate of origin.
    pub no_certificate: bool,
    /// The ore's receipt is dated before its shipment.
    pub backdated_receipt: bool,
}

pub const ASSAY_ID: Uuid = Uuid::from_u128(0xa55a_0001);
pub const CORRECTION_ID: Uuid = Uuid::from_u128(0xc0de_0001);
pub const ORE_G: u64 = 100_000_000;
pub const OXIDE_G: u64 = 20_000_000;

/// A mine-to-magnet history: ore extracted in Vietnam, shipped to a Vietnamese refinery, separated
/// into oxide, shipped to Japan, reduced, alloyed and made into magnets. With no tweaks it raises no
/// finding at all.
pub fn story(t: Tweaks) -> Vec<Value> {
    let mut events = vec![
        party(OP, &["operator"], "CH"),
        party(MINER, &["miner"], "VN"),
        party(REFINER, &["processor", "refiner"], "VN"),
        party(MAKER, &["magnet_maker", "importer", "processor"], "JP"),
        party(CARRIER, &["carrier"], "SG"),
        party(TRUCKER, &["carrier"], "VN"),
        party(LAB, &["lab"], "CH"),
        site(MINE, MINER, "mine", "VN"),
        site(REFINERY, REFINER, "refinery", "VN"),
        site(METAL_PLANT, MAKER, "metal_plant", "JP"),
        site(MAGNET_PLANT, MAKER, "magnet_plant", "JP"),
        ev(
            "lot.extracted",
            MINER,
            &day(2),
            json!({"lot": ORE, "site": MINE, "material": material("ore"), "mass_g": ORE_G}),
        ),
        ship(MINER, &day(3), "SHP-1", &[ORE], (MINE, REFINER, REFINERY), &["bill_of_lading", "certificate_of_origin"]),
    ];
    let ore_in = if t.short_receipt { ORE_G - 2_000_000 } else { ORE_G };
    let received_at = if t.backdated_receipt { "2024-04-02T20:00:00Z".to_string() } else { day(5) };
    events.push(receive(REFINER, &received_at, "SHP-1", &[(ORE, ore_in)]));
    // The separation takes 90 t of the ore; the rest stays behind.
    let used = 90_000_000;
    let loss = if t.heavy_loss { 9_000_000 } else { 1_000_000 };
    events.push(transform(
        REFINER,
        &day(6),
        "separation",
        REFINERY,
        &[(ORE, used)],
        &[(OXIDE, "oxide", OXIDE_G), (RES, "residue", used - OXIDE_G - loss)],
        0,
        loss,
    ));
    events.push(with_id(
        ev(
            "lot.assayed",
            REFINER,
            &day(7),
            json!({"lot": OXIDE, "lab": LAB, "certificate": "COA-1", "oxides_ppm": {"Nd2O3": 745000, "Pr6O11": 250000}}),
        ),
        ASSAY_ID,
    ));
    if t.correction {
        events.push(with_id(
            ev(
                "event.corrected",
                REFINER,
                &day(7),
                json!({"event": ASSAY_ID.to_string(), "reason": "incorrect_data", "note": "Nd and Pr transposed"}),
            ),
            CORRECTION_ID,
        ));
        events.push(ev(
            "event.corrected",
            OP,
            &day(7),
            json!({"event": CORRECTION_ID.to_string(), "reason": "did_not_occur"}),
        ));
    }
    let mut oxide = OXIDE_G;
    if t.adjustment {
        events.push(ev(
            "lot.adjusted",
            REFINER,
            &day(8),
            json!({"lot": OXIDE, "delta_g": -10_000, "reason": "recount"}),
        ));
        oxide -= 10_000;
    }
    if t.lot_hold {
        events.push(hold(true, &day(8), "lot", OXIDE));
        events.push(hold(false, &day(9), "lot", OXIDE));
    }
    let docs: &[&str] =
        if t.no_certificate { &["bill_of_lading", "invoice"] } else { &["bill_of_lading", "certificate_of_origin"] };
    events.push(ship(REFINER, &day(10), "SHP-2", &[OXIDE], (REFINERY, MAKER, METAL_PLANT), docs));
    events.push(receive(MAKER, &day(14), "SHP-2", &[(OXIDE, oxide)]));
    // NdPr oxide is about 85% metal.
    let metal = oxide / 100 * 85;
    events.push(transform(
        MAKER,
        &day(15),
        "reduction",
        METAL_PLANT,
        &[(OXIDE, oxide)],
        &[(METAL, "metal", metal)],
        0,
        oxide - metal,
    ));
    let additions = 2 * metal;
    let alloy = (metal + additions) / 100 * 99;
    events.push(transform(
        MAKER,
        &day(16),
        "alloying",
        METAL_PLANT,
        &[(METAL, metal)],
        &[(ALLOY, "alloy", alloy)],
        additions,
        metal + additions - alloy,
    ));
    events.push(ev("lot.moved", MAKER, &day(17), json!({"lot": ALLOY, "to_site": MAGNET_PLANT})));
    let magnet = alloy / 100 * 97;
    events.push(transform(
        MAKER,
        &day(18),
        "magnet_making",
        MAGNET_PLANT,
        &[(ALLOY, alloy)],
        &[(MAGNET, "magnet", magnet)],
        0,
        alloy - magnet,
    ));
    if t.party_hold {
        events.push(hold(true, &day(19), "party", CARRIER));
        events.push(hold(false, &day(20), "party", CARRIER));
    }
    events
}
