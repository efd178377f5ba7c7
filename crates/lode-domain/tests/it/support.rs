//! A small ledger in memory and a builder for table-driven cases: `given` events, `when` an event,
//! `then` accepted (optionally with these lots, and state checks) or this rejection or parse error code.

use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer as _, SigningKey};
use lode_domain::{
    apply, decide, encode_base64, parse_event, parse_record, Accepted, Context, Envelope, ParseError, Rejection, State,
};
use serde_json::{json, Value};
use uuid::Uuid;

pub const T0: &str = "2024-03-02T08:00:00Z";
pub const RECORDED_AT: &str = "2024-03-02T12:00:00Z";

pub const OP: &str = "lode-op";
pub const MINER: &str = "vn-mine-co";
pub const REFINER: &str = "vn-refiner";
pub const MAKER: &str = "jp-magnets";
pub const CARRIER: &str = "sea-carrier";
pub const LAB: &str = "sgs-lab";
pub const AUDITOR: &str = "audit-co";

pub const MINE: &str = "vn-mine-1";
pub const MINE_WH: &str = "vn-mine-wh";
pub const REFINERY: &str = "vn-refinery-1";
pub const REF_WH: &str = "vn-warehouse-1";
pub const PLANT: &str = "jp-plant-1";

pub const ORE: &str = "VN-ORE-0001";
pub const ORE_G: u64 = 1_000_000;

/// The id the ledger assigns to the `when` event when it has none.
pub const WHEN_ID: Uuid = Uuid::from_u128(0xffff_0000);

pub fn recorded_at() -> DateTime<Utc> {
    RECORDED_AT.parse().expect("a valid constant")
}

/// What came of submitting one event.
#[derive(Debug)]
pub enum Outcome {
    Parse(ParseError),
    Rejected(Rejection),
    Accepted(Accepted),
}

/// A ledger in memory: parse, decide, apply, with ids and positions assigned in order.
#[derive(Debug, Default)]
pub struct Ledger {
    pub state: State,
    pub accepted: Vec<(Envelope, Context)>,
    next_id: u128,
}

impl Ledger {
    pub fn new() -> Self {
        // Assigned ids start high, away from the small explicit ids cases use.
        Ledger { state: State::default(), accepted: Vec::new(), next_id: 0x1_0000 }
    }

    fn context_for(&mut self, envelope: &mut Envelope, fallback: Option<Uuid>) -> Context {
        let id = match (envelope.id(), fallback) {
            (Some(id), _) => id,
            (None, Some(id)) => id,
            (None, None) => {
                self.next_id += 1;
                Uuid::from_u128(self.next_id)
            }
        };
        if envelope.id().is_none() {
            envelope.set_id(id);
        }
        Context { event_id: id, seq: self.accepted.len() as u64, recorded_at: recorded_at() }
    }

    /// Parses, decides and (when accepted) applies raw bytes.
    pub fn submit_bytes(&mut self, bytes: &[u8], fallback_id: Option<Uuid>, record: bool) -> Outcome {
        let parsed = if record { parse_record(bytes) } else { parse_event(bytes) };
        let mut envelope = match parsed {
            Ok(e) => e,
            Err(e) => return Outcome::Parse(e),
        };
        let ctx = self.context_for(&mut envelope, fallback_id);
        self.decide_and_apply(envelope, ctx)
    }

    pub fn decide_and_apply(&mut self, envelope: Envelope, ctx: Context) -> Outcome {
        match decide(&self.state, &envelope, &ctx) {
            Err(r) => Outcome::Rejected(r),
            Ok(accepted) => {
                apply(&mut self.state, &envelope, &accepted, &ctx);
                self.accepted.push((envelope, ctx));
                Outcome::Accepted(accepted)
            }
        }
    }

    pub fn submit(&mut self, event: &Value) -> Outcome {
        self.submit_bytes(&serde_json::to_vec(event).expect("json values serialize"), None, false)
    }

    /// Submits an event that must be accepted.
    pub fn must(&mut self, event: &Value) -> Accepted {
        match self.submit(event) {
            Outcome::Accepted(a) => a,
            other => panic!("event was not accepted: {other:?}\n{event:#}"),
        }
    }
}

/// What a case submits.
#[derive(Debug, Clone)]
pub enum When {
    Json(Value),
    /// Bytes for `parse_event`.
    Raw(Vec<u8>),
    /// Bytes for `parse_record`.
    Record(Vec<u8>),
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    Accepted,
    Rejected(&'static str),
    ParseError(&'static str),
}

type Check = fn(&State, &Accepted);

/// One row of a table.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub given: Vec<Value>,
    pub when: When,
    pub then: Then,
    /// With [`Then::Accepted`]: the lots whose version the event increments.
    pub lots: Option<Vec<String>>,
    /// With [`Then::Accepted`]: checks of the state after `apply`.
    pub check: Option<Check>,
    /// Decide under this event id instead of the envelope's.
    pub context_id: Option<Uuid>,
}

pub fn case(name: impl Into<String>) -> Case {
    Case {
        name: name.into(),
        given: Vec::new(),
        when: When::Raw(Vec::new()),
        then: Then::Accepted,
        lots: None,
        check: None,
        context_id: None,
    }
}

impl Case {
    pub fn given(mut self, events: impl IntoIterator<Item = Value>) -> Self {
        self.given.extend(events);
        self
    }

    pub fn when(mut self, event: Value) -> Self {
        self.when = When::Json(event);
        self
    }

    pub fn when_raw(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.when = When::Raw(bytes.into());
        self
    }

    pub fn when_record(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.when = When::Record(bytes.into());
        self
    }

    pub fn context_id(mut self, id: Uuid) -> Self {
        self.context_id = Some(id);
        self
    }

    pub fn accepts(mut self) -> Self {
        self.then = Then::Accepted;
        self
    }

    pub fn accepts_lots(mut self, lots: &[&str]) -> Self {
        self.then = Then::Accepted;
        self.lots = Some(lots.iter().map(|l| l.to_string()).collect());
        self
    }

    pub fn check(mut self, check: Check) -> Self {
        self.check = Some(check);
        self
    }

    pub fn rejects(mut self, code: &'static str) -> Self {
        self.then = Then::Rejected(code);
        self
    }

    pub fn fails_parse(mut self, code: &'static str) -> Self {
        self.then = Then::ParseError(code);
        self
    }

    /// The event type of the `when` event, if it names one.
    pub fn when_type(&self) -> Option<String> {
        let value: Value = match &self.when {
            When::Json(v) => v.clone(),
            When::Raw(b) | When::Record(b) => serde_json::from_slice(b).ok()?,
        };
        value.get("type")?.as_str().map(str::to_string)
    }
}

fn run_case(case: &Case) -> Result<(), String> {
    let mut ledger = Ledger::new();
    for (i, event) in case.given.iter().enumerate() {
        if let outcome @ (Outcome::Parse(_) | Outcome::Rejected(_)) = ledger.submit(event) {
            return Err(format!("given[{i}] was not accepted: {outcome:?}\n{event:#}"));
        }
    }
    let outcome = match &case.when {
        When::Json(value) => {
            let bytes = serde_json::to_vec(value).expect("json values serialize");
            match case.context_id {
                None => ledger.submit_bytes(&bytes, Some(WHEN_ID), false),
                Some(event_id) => match parse_event(&bytes) {
                    Err(e) => Outcome::Parse(e),
                    Ok(envelope) => {
                        let seq = ledger.accepted.len() as u64;
                        ledger.decide_and_apply(envelope, Context { event_id, seq, recorded_at: recorded_at() })
                    }
                },
            }
        }
        When::Raw(bytes) => ledger.submit_bytes(bytes, Some(WHEN_ID), false),
        When::Record(bytes) => ledger.submit_bytes(bytes, Some(WHEN_ID), true),
    };
    match (&case.then, outcome) {
        (Then::Accepted, Outcome::Accepted(accepted)) => {
            if let Some(lots) = &case.lots {
                let got: Vec<String> = accepted.lots.iter().map(|l| l.to_string()).collect();
                if &got != lots {
                    return Err(format!("accepted with lots {got:?}, expected {lots:?}"));
                }
            }
            if let Some(check) = case.check {
                catch_unwind(AssertUnwindSafe(|| check(&ledger.state, &accepted))).map_err(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    format!("state check failed: {message}")
                })?;
            }
            Ok(())
        }
        (Then::Rejected(code), Outcome::Rejected(r)) if r.code() == *code => check_message(&r.to_string()),
        (Then::ParseError(code), Outcome::Parse(e)) if e.code() == *code => check_message(&e.to_string()),
        (then, outcome) => Err(format!("expected {then:?}, got {}", describe(&outcome))),
    }
}

/// Messages are lower case at the start and do not end with a full stop.
fn check_message(message: &str) -> Result<(), String> {
    let first = message.chars().next().unwrap_or(' ');
    if first.is_uppercase() || message.ends_with('.') || message.is_empty() {
        return Err(format!("badly formed message: {message:?}"));
    }
    Ok(())
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Parse(e) => format!("parse error {} ({e})", e.code()),
        Outcome::Rejected(r) => format!("rejection {} ({r})", r.code()),
        Outcome::Accepted(a) => format!("accepted {a:?}"),
    }
}

/// Runs every case and fails once, listing every case that did not behave.
pub fn run(cases: &[Case]) {
    let failures: Vec<String> =
        cases.iter().filter_map(|c| run_case(c).err().map(|e| format!("- {}: {e}", c.name))).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

// -----------------------------------------------------------------------------------------------------
// Events

/// RFC 7396 merge patch: objects merge recursively, `null` removes a member, anything else replaces.
pub fn merge(mut base: Value, patch: Value) -> Value {
    match (base.as_object_mut(), patch) {
        (Some(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    let current = target.remove(&key).unwrap_or(Value::Null);
                    target.insert(key, merge(current, value));
                }
            }
            base
        }
        (_, patch) => patch,
    }
}

/// An event envelope.
pub fn ev(type_name: &str, actor: &str, data: Value) -> Value {
    json!({"type": type_name, "actor": actor, "occurred_at": T0, "data": data})
}

pub fn party(actor: &str, party: &str, roles: &[&str], country: &str) -> Value {
    ev(
        "party.registered",
        actor,
        json!({"party": party, "name": format!("{party} ltd"), "roles": roles, "country": country}),
    )
}

pub fn site(actor: &str, site: &str, party: &str, kind: &str, country: &str) -> Value {
    ev(
        "site.registered",
        actor,
        json!({"site": site, "party": party, "name": format!("{site} site"), "kind": kind, "country": country}),
    )
}

pub fn ore() -> Value {
    json!({"form": "ore"})
}

pub fn oxide(elements: &[&str]) -> Value {
    json!({"form": "oxide", "elements": elements})
}

pub fn extract(lot: &str, mass_g: u64) -> Value {
    ev("lot.extracted", MINER, json!({"lot": lot, "site": MINE, "material": ore(), "mass_g": mass_g}))
}

pub fn ship(actor: &str, shipment: &str, lots: &[&str], from_site: &str, to_party: &str, to_site: &str) -> Value {
    ev(
        "custody.shipped",
        actor,
        json!({"shipment": shipment, "lots": lots, "from_site": from_site, "to_party": to_party, "to_site": to_site}),
    )
}

pub fn receive(actor: &str, shipment: &str, lots: &[(&str, u64)]) -> Value {
    let lots: Vec<Value> = lots.iter().map(|(lot, mass)| json!({"lot": lot, "mass_g": mass})).collect();
    ev("custody.received", actor, json!({"shipment": shipment, "lots": lots}))
}

pub fn reject(actor: &str, shipment: &str) -> Value {
    ev("custody.rejected", actor, json!({"shipment": shipment, "reason": "wrong grade"}))
}

pub fn transform(
    actor: &str,
    process: &str,
    site: &str,
    inputs: &[(&str, u64)],
    outputs: &[(&str, Value, u64)],
) -> Value {
    let inputs: Vec<Value> = inputs.iter().map(|(lot, mass)| json!({"lot": lot, "mass_g": mass})).collect();
    let outputs: Vec<Value> =
        outputs.iter().map(|(lot, material, mass)| json!({"lot": lot, "material": material, "mass_g": mass})).collect();
    ev("lot.transformed", actor, json!({"process": process, "site": site, "inputs": inputs, "outputs": outputs}))
}

pub fn moved(actor: &str, lot: &str, to_site: &str) -> Value {
    ev("lot.moved", actor, json!({"lot": lot, "to_site": to_site}))
}

pub fn consume(actor: &str, lot: &str, mass_g: u64) -> Value {
    ev("lot.consumed", actor, json!({"lot": lot, "mass_g": mass_g, "reason": "delivered_to_product"}))
}

pub fn adjust(actor: &str, lot: &str, delta_g: i64) -> Value {
    ev("lot.adjusted", actor, json!({"lot": lot, "delta_g": delta_g, "reason": "recount"}))
}

/// `hold.placed` (or `hold.released` when `place` is false) on `{key: target}`, key `lot` or `party`.
pub fn hold(actor: &str, key: &str, target: &str, place: bool) -> Value {
    let type_name = if place { "hold.placed" } else { "hold.released" };
    ev(type_name, actor, json!({key: target, "reason": "investigation"}))
}

pub fn attach(actor: &str, key: &str, target: &str) -> Value {
    ev("document.attached", actor, json!({key: target, "kind": "bill_of_lading", "ref": "BL-1"}))
}

pub fn assay(actor: &str, lot: &str, lab: &str) -> Value {
    ev(
        "lot.assayed",
        actor,
        json!({"lot": lot, "lab": lab, "certificate": "COA-1", "oxides_ppm": {"Nd2O3": 745000, "Pr6O11": 200000}}),
    )
}

pub fn correct(actor: &str, event: Uuid) -> Value {
    ev("event.corrected", actor, json!({"event": event.to_string(), "reason": "incorrect_data"}))
}

/// The same event with an explicit id.
pub fn with_id(event: Value, id: Uuid) -> Value {
    merge(event, json!({"id": id.to_string()}))
}

/// A deterministic key pair for tests.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn public_key_b64(seed: u8) -> String {
    encode_base64(key(seed).verifying_key().as_bytes())
}

/// Signs an event (which must carry an id) with `key` over its signing bytes.
pub fn signed(event: Value, key: &SigningKey) -> Value {
    let envelope = parse_event(&serde_json::to_vec(&event).expect("serializes")).expect("a signable event parses");
    let signature = key.sign(&envelope.signing_bytes());
    merge(event, json!({"signature": encode_base64(&signature.to_bytes())}))
}

// -----------------------------------------------------------------------------------------------------
// Worlds

/// The operator registering itself: the first event of every ledger here.
pub fn bootstrap() -> Value {
    party(OP, OP, &["operator"], "CH")
}

/// Parties, sites, and one ore lot of [`ORE_G`] at the mine, held by the miner (version 1).
pub fn world() -> Vec<Value> {
    vec![
        bootstrap(),
        party(OP, MINER, &["miner"], "VN"),
        party(OP, REFINER, &["processor", "refiner"], "VN"),
        party(OP, MAKER, &["magnet_maker", "importer"], "JP"),
        party(OP, CARRIER, &["carrier"], "SG"),
        party(OP, LAB, &["lab"], "CH"),
        party(OP, AUDITOR, &["auditor"], "DE"),
        site(OP, MINE, MINER, "mine", "VN"),
        site(MINER, MINE_WH, MINER, "warehouse", "VN"),
        site(OP, REFINERY, REFINER, "refinery", "VN"),
        site(REFINER, REF_WH, REFINER, "warehouse", "VN"),
        site(OP, PLANT, MAKER, "magnet_plant", "JP"),
        extract(ORE, ORE_G),
    ]
}

/// [`world`] with the ore shipped to the refinery on `SHP-1`, not yet received.
pub fn ore_in_transit() -> Vec<Value> {
    let mut events = world();
    events.push(ship(MINER, "SHP-1", &[ORE], MINE, REFINER, REFINERY));
    events
}

/// [`world`] with the ore received at the refinery, held by the refiner with its full mass.
pub fn ore_at_refinery() -> Vec<Value> {
    let mut events = ore_in_transit();
    events.push(receive(REFINER, "SHP-1", &[(ORE, ORE_G)]));
    events
}

/// Appends events to a world.
pub fn plus(mut events: Vec<Value>, more: impl IntoIterator<Item = Value>) -> Vec<Value> {
    events.extend(more);
    events
}
