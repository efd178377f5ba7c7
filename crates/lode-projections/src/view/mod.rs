//! The views users ask about, derived from the accepted events beside the rules' [`State`]: a lot's
//! full view ([`LotView`]), its [`Origin`] and the countries of its stages, the inventory by party,
//! site and form, a lot's custody chain and its lineage graph. Pure: no I/O.
//!
//! [`Views::apply`] is called after every event, with the state *after* the event:
//!
//! ```
//! use lode_domain::{apply, decide, parse_event, Context, State};
//! use lode_projections::view::Views;
//!
//! let mut env = parse_event(br#"{"type":"party.registered","actor":"op","occurred_at":"2024-03-02T08:00:00Z",
//!     "data":{"party":"op","name":"Operator","roles":["operator"],"country":"CH"}}"#)?;
//! let id = uuid::Uuid::from_u128(1);
//! env.set_id(id);
//! let ctx = Context { event_id: id, seq: 1, recorded_at: "2024-03-02T08:00:01Z".parse()? };
//! let (mut state, mut views) = (State::default(), Views::default());
//!
//! // In the writer: decide, apply, then the views.
//! let accepted = decide(&state, &env, &ctx)?;
//! apply(&mut state, &env, &accepted, &ctx);
//! views.apply(&state, &env, &accepted, &ctx);
//!
//! // When rebuilding from the log: replay gives what was accepted.
//! let (mut rebuilt, mut rebuilt_views) = (State::default(), Views::default());
//! let accepted = lode_domain::replay(&mut rebuilt, &env, &ctx);
//! rebuilt_views.apply(&rebuilt, &env, &accepted, &ctx);
//! assert_eq!(views.digest(&state), rebuilt_views.digest(&rebuilt));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The views are persisted like the state (see [`lode_domain::EntityKey`]): [`Views::take_dirty`] names
//! the [`ViewKey`]s changed since the last call, [`Views::entity_bytes`] gives deterministic bytes
//! (compact JSON), [`Views::restore_entity`] reads them back. [`Views::digest`] hashes the state and
//! the views, so that a live ledger and one rebuilt from the log can be compared byte for byte.
//!
//! Origins follow the rounding rule described in the [`origin`] module.

mod custody;
mod inventory;
mod lineage;
mod lot;
pub mod origin;
mod records;

use std::cmp::Ordering;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use lode_domain::{
    Accepted, Context, DocumentTarget, Envelope, Event, Form, HoldTarget, LotId, LotState, LotStatus, PartyId,
    ShipmentId, ShippedLotStatus, SiteId, State,
};
use serde::{de::DeserializeOwned, Serialize};
use uuid::Uuid;

pub use custody::{CustodyChain, Handover};
pub use inventory::{InventoryFilter, InventoryRow, MassBalance};
pub use lineage::{Lineage, LineageEdge, LineageNode};
pub use lot::{LotLinkView, LotView, MaterialView, MineShare, OriginView};
pub use origin::{Origin, StageCountries, ORIGIN_PPM_TOTAL};
pub use records::{AssayInfo, CorrectionInfo, Creation, DocumentInfo, EventRef, HoldInfo, Rejected, Release};

use records::{Counted, InventoryTotals, LotRecord, Passage, ShipmentRecord};

/// The most lots a custody chain or a lineage graph visits; beyond, the answer says it is truncated.
pub const LINEAGE_LOTS_MAX: usize = 10_000;

/// The version of the view entity encoding. A store that finds views written under another version
/// rebuilds them from the log instead of restoring them.
pub const VIEW_FORMAT_VERSION: u32 = 1;

/// The views derived from the accepted events. Updated by [`Views::apply`] after each event; see the
/// [module](self).
#[derive(Debug, Clone, Default)]
pub struct Views {
    lots: BTreeMap<LotId, LotRecord>,
    shipments: BTreeMap<ShipmentId, ShipmentRecord>,
    inventory: BTreeMap<(PartyId, SiteId, Form), InventoryTotals>,
    /// Corrections by the event they correct.
    corrections: BTreeMap<Uuid, Vec<CorrectionInfo>>,
    dirty: Dirty,
}

/// The view entities changed since they were last taken, unless tracking is off.
#[derive(Debug, Clone, Default)]
struct Dirty {
    /// Hashed rather than ordered: it takes an insert per change, and is sorted only when taken (so
    /// the hasher's order never shows). foldhash rather than SipHash: several inserts per event.
    keys: HashSet<ViewKey, foldhash::fast::RandomState>,
    /// See [`Views::track_changes`].
    off: bool,
}

impl Dirty {
    /// Records the key `key` makes, unless tracking is off (then the key is not even made).
    fn insert(&mut self, key: impl FnOnce() -> ViewKey) {
        if !self.off {
            self.keys.insert(key());
        }
    }
}

/// Views are equal when they hold the same views; what changed since the last checkpoint is bookkeeping.
impl PartialEq for Views {
    fn eq(&self, other: &Self) -> bool {
        let Views { lots, shipments, inventory, corrections, dirty: _ } = self;
        lots == &other.lots
            && shipments == &other.shipments
            && inventory == &other.inventory
            && corrections == &other.corrections
    }
}

/// Moves a lot's place in the inventory to where the state has it now (`lot`, `None` when gone):
/// returns where it counted before and where it counts now, or `None` when that did not change
/// (most events leave it where it was, and cost only this comparison).
fn recount(record: &mut LotRecord, lot: Option<&LotState>) -> Option<(Option<Counted>, Option<Counted>)> {
    let lot = lot.filter(|l| l.status != LotStatus::Closed);
    let unchanged = match (&record.counted, lot) {
        (None, None) => true,
        (Some(c), Some(l)) => {
            c.party == l.custodian
                && c.site == l.site
                && c.form == l.material.form
                && c.in_transit == (l.status == LotStatus::InTransit)
                && c.mass_g == l.mass_g
        }
        _ => false,
    };
    if unchanged {
        return None;
    }
    let now = lot.map(|l| Counted {
        party: l.custodian.clone(),
        site: l.site.clone(),
        form: l.material.form,
        in_transit: l.status == LotStatus::InTransit,
        mass_g: l.mass_g,
    });
    let before = std::mem::replace(&mut record.counted, now.clone());
    Some((before, now))
}

/// One independently persisted piece of the [`Views`].
///
/// | key | bytes | value |
/// | --- | --- | --- |
/// | `Corrections(event)` | `c:` and the event's 16 UUID bytes | the corrections of that event |
/// | `Shipment(id)` | `h:` and the id | what the views keep about the shipment |
/// | `Inventory { party, site, form }` | `i:`, party, `0x00`, site, `0x00`, form | one inventory row |
/// | `Lot(id)` | `l:` and the id | what the views keep about the lot |
///
/// Ids and forms are written as their UTF-8 text (ids never contain `0x00`). Keys compare (`Ord`)
/// exactly as their bytes do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ViewKey {
    Corrections(Uuid),
    Shipment(ShipmentId),
    Inventory { party: PartyId, site: SiteId, form: Form },
    Lot(LotId),
}

impl ViewKey {
    fn rank(&self) -> u8 {
        match self {
            ViewKey::Corrections(_) => 0,
            ViewKey::Shipment(_) => 1,
            ViewKey::Inventory { .. } => 2,
            ViewKey::Lot(_) => 3,
        }
    }

    /// The key as bytes; see the table on [`ViewKey`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            ViewKey::Corrections(id) => {
                out.extend_from_slice(b"c:");
                out.extend_from_slice(id.as_bytes());
            }
            ViewKey::Shipment(id) => {
                out.extend_from_slice(b"h:");
                out.extend_from_slice(id.as_str().as_bytes());
            }
            ViewKey::Inventory { party, site, form } => {
                out.extend_from_slice(b"i:");
                out.extend_from_slice(party.as_str().as_bytes());
                out.push(0);
                out.extend_from_slice(site.as_str().as_bytes());
                out.push(0);
                out.extend_from_slice(form.as_str().as_bytes());
            }
            ViewKey::Lot(id) => {
                out.extend_from_slice(b"l:");
                out.extend_from_slice(id.as_str().as_bytes());
            }
        }
        out
    }

    /// The key these bytes encode, or `None` when they encode none.
    pub fn from_bytes(bytes: &[u8]) -> Option<ViewKey> {
        let (prefix, rest) = (bytes.get(..2)?, &bytes[2..]);
        let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
        Some(match prefix {
            b"c:" => ViewKey::Corrections(Uuid::from_slice(rest).ok()?),
            b"h:" => ViewKey::Shipment(ShipmentId::new(text(rest)?).ok()?),
            b"i:" => {
                let mut parts = rest.split(|&b| b == 0);
                let party = PartyId::new(text(parts.next()?)?).ok()?;
                let site = SiteId::new(text(parts.next()?)?).ok()?;
                let form = Form::parse(&text(parts.next()?)?)?;
                if parts.next().is_some() {
                    return None;
                }
                ViewKey::Inventory { party, site, form }
            }
            b"l:" => ViewKey::Lot(LotId::new(text(rest)?).ok()?),
            _ => return None,
        })
    }
}

impl Ord for ViewKey {
    fn cmp(&self, other: &Self) -> Ordering {
        // The order of the bytes: prefixes, then ids as text (a `0x00` separator sorts first), forms as
        // text, UUIDs as bytes.
        match (self, other) {
            (ViewKey::Corrections(a), ViewKey::Corrections(b)) => a.as_bytes().cmp(b.as_bytes()),
            (ViewKey::Shipment(a), ViewKey::Shipment(b)) => a.cmp(b),
            (
                ViewKey::Inventory { party: p1, site: s1, form: f1 },
                ViewKey::Inventory { party: p2, site: s2, form: f2 },
            ) => (p1.as_str(), s1.as_str(), f1.as_str()).cmp(&(p2.as_str(), s2.as_str(), f2.as_str())),
            (ViewKey::Lot(a), ViewKey::Lot(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for ViewKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ViewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViewKey::Corrections(id) => write!(f, "corrections of event {id}"),
            ViewKey::Shipment(id) => write!(f, "shipment view {id}"),
            ViewKey::Inventory { party, site, form } => write!(f, "inventory of {party} at {site} in {form}"),
            ViewKey::Lot(id) => write!(f, "lot view {id}"),
        }
    }
}

/// Why a view entity could not be restored from its bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ViewRestoreError {
    /// The bytes are not the encoding of the entity the key names.
    #[error("{key}: stored bytes do not decode: {message}")]
    Decode { key: ViewKey, message: String },
    /// The entity is about a lot, shipment or event that the restored state does not have.
    #[error("{key}: not in the ledger's state")]
    NotInState { key: ViewKey },
}

/// Appends `value` as compact JSON; false (and nothing written) when there is none.
fn write_json<T: Serialize>(out: &mut Vec<u8>, value: Option<&T>) -> bool {
    let Some(value) = value else {
        return false;
    };
    // Plain structs of strings, integers and maps with string keys: serializing cannot fail.
    serde_json::to_writer(out, value).expect("view entities serialize to JSON");
    true
}

fn from_json<T: DeserializeOwned>(key: &ViewKey, bytes: &[u8]) -> Result<T, ViewRestoreError> {
    serde_json::from_slice(bytes).map_err(|e| ViewRestoreError::Decode { key: key.clone(), message: e.to_string() })
}

impl Views {
    /// Updates the views for one accepted event. Call it right after [`lode_domain::apply`] (in the
    /// writer) or [`lode_domain::replay`] (when rebuilding), with the state *after* the event, the
    /// event, what was accepted (`decide`'s or `replay`'s answer) and the event's context. Events must
    /// come in ledger order, each exactly once. Cannot fail; a view whose lot or shipment is missing is
    /// left as it is.
    pub fn apply(&mut self, state: &State, env: &Envelope, accepted: &Accepted, ctx: &Context) {
        // Made only for the events that keep a reference to themselves: most events only move or
        // count lots.
        let stamp = || EventRef {
            event: ctx.event_id,
            seq: ctx.seq,
            actor: env.actor().clone(),
            occurred_at: env.occurred_at_text().to_string(),
        };
        match env.event() {
            Event::LotExtracted(e) if !self.lots.contains_key(&e.lot) => {
                let mut stages = StageCountries::default();
                if let Some(stage) = state.lot_by_id(&e.lot).and_then(|l| l.stage) {
                    stages.insert(stage.stage, stage.country);
                }
                let created = Creation {
                    event: stamp(),
                    process: None,
                    site: e.site.clone(),
                    permit: e.permit.clone(),
                    additions_g: 0,
                    loss_g: 0,
                };
                self.insert_lot(e.lot.clone(), created, Origin::mine(e.site.clone()), stages);
            }
            Event::LotTransformed(e) => {
                let origin =
                    Origin::mix(e.inputs.iter().filter_map(|i| self.lots.get(&i.lot).map(|r| (i.mass_g, &r.origin))));
                let mut inherited = StageCountries::default();
                for input in &e.inputs {
                    if let Some(record) = self.lots.get(&input.lot) {
                        inherited.extend(&record.stages);
                    }
                }
                for output in &e.outputs {
                    if self.lots.contains_key(&output.lot) {
                        continue;
                    }
                    let mut stages = inherited.clone();
                    if let Some(stage) = state.lot_by_id(&output.lot).and_then(|l| l.stage) {
                        stages.insert(stage.stage, stage.country);
                    }
                    let created = Creation {
                        event: stamp(),
                        process: Some(e.process),
                        site: e.site.clone(),
                        permit: None,
                        additions_g: e.additions(),
                        loss_g: e.loss(),
                    };
                    self.insert_lot(output.lot.clone(), created, origin.clone(), stages);
                }
            }
            Event::LotAssayed(e) => {
                let assay = AssayInfo {
                    lab: e.lab.clone(),
                    certificate: e.certificate.clone(),
                    oxides_ppm: e.oxides_ppm.iter().map(|(f, ppm)| (f.as_str().to_string(), *ppm)).collect(),
                    treo_ppm: e.treo_ppm,
                    event: stamp(),
                };
                self.with_lot(&e.lot, |r| r.assays.push(assay));
            }
            Event::CustodyShipped(e) => {
                if let (false, Some(shipment)) =
                    (self.shipments.contains_key(&e.shipment), state.shipment(e.shipment.as_str()))
                {
                    let documents = e
                        .documents
                        .iter()
                        .flatten()
                        .map(|d| DocumentInfo {
                            kind: d.kind,
                            reference: d.reference.clone(),
                            digest: d.digest.as_ref().map(|d| d.as_str().to_string()),
                            issuer: None,
                            event: stamp(),
                        })
                        .collect();
                    let lots = shipment.lots.keys().map(|id| (id.clone(), Passage::default())).collect();
                    for id in shipment.lots.keys() {
                        self.with_lot(id, |r| r.shipments.push(e.shipment.clone()));
                    }
                    self.shipments.insert(e.shipment.clone(), ShipmentRecord { shipped: stamp(), documents, lots });
                    self.dirty.insert(|| ViewKey::Shipment(e.shipment.clone()));
                }
            }
            Event::CustodyReceived(e) => {
                let shipment = state.shipment(e.shipment.as_str());
                if let Some(record) = self.shipments.get_mut(&e.shipment) {
                    for received in &e.lots {
                        let now_received = shipment
                            .and_then(|s| s.lots.get(&received.lot))
                            .is_some_and(|l| l.status == ShippedLotStatus::Received);
                        if let Some(passage) = record.lots.get_mut(&received.lot) {
                            if now_received && passage.received.is_none() && passage.rejected.is_none() {
                                passage.received = Some(stamp());
                            }
                        }
                    }
                    self.dirty.insert(|| ViewKey::Shipment(e.shipment.clone()));
                }
            }
            Event::CustodyRejected(e) => {
                if let Some(record) = self.shipments.get_mut(&e.shipment) {
                    // The lots it returns are those it counts for: the ones still in transit.
                    for lot in &accepted.lots {
                        if let Some(passage) = record.lots.get_mut(lot) {
                            if passage.received.is_none() && passage.rejected.is_none() {
                                passage.rejected = Some(Rejected { reason: e.reason.clone(), event: stamp() });
                            }
                        }
                    }
                    self.dirty.insert(|| ViewKey::Shipment(e.shipment.clone()));
                }
            }
            Event::DocumentAttached(e) => {
                let document = DocumentInfo {
                    kind: e.kind,
                    reference: e.reference.clone(),
                    digest: e.digest.as_ref().map(|d| d.as_str().to_string()),
                    issuer: e.issuer.clone(),
                    event: stamp(),
                };
                match &e.target {
                    DocumentTarget::Lot(id) => self.with_lot(id, |r| r.documents.push(document)),
                    DocumentTarget::Shipment(id) => {
                        if let Some(record) = self.shipments.get_mut(id) {
                            record.documents.push(document);
                            self.dirty.insert(|| ViewKey::Shipment(id.clone()));
                        }
                    }
                    _ => {}
                }
            }
            Event::HoldPlaced(e) => {
                if let HoldTarget::Lot(id) = &e.target {
                    let hold = HoldInfo { reason: e.reason.clone(), placed: stamp(), released: None };
                    self.with_lot(id, |r| r.holds.push(hold));
                }
            }
            Event::HoldReleased(e) => {
                if let HoldTarget::Lot(id) = &e.target {
                    let release = Release { reason: e.reason.clone(), event: stamp() };
                    self.with_lot(id, |r| {
                        if let Some(open) = r.holds.iter_mut().rev().find(|h| h.released.is_none()) {
                            open.released = Some(release);
                        }
                    });
                }
            }
            Event::EventCorrected(e) if state.event(&e.event).is_some() => {
                self.corrections.entry(e.event).or_default().push(CorrectionInfo {
                    corrects: e.event,
                    reason: e.reason,
                    note: e.note.clone(),
                    event: stamp(),
                });
                self.dirty.insert(|| ViewKey::Corrections(e.event));
            }
            _ => {}
        }
        for id in &accepted.lots {
            // One lookup for both: the event is the lot's, and it may have moved where the lot counts.
            let Some(record) = self.lots.get_mut(id) else {
                continue;
            };
            record.events.push(ctx.event_id);
            self.dirty.insert(|| ViewKey::Lot(id.clone()));
            if let Some((before, now)) = recount(record, state.lot_by_id(id)) {
                if let Some(c) = before {
                    self.count(c, false);
                }
                if let Some(c) = now {
                    self.count(c, true);
                }
            }
        }
    }

    fn insert_lot(&mut self, id: LotId, created: Creation, origin: Origin, stages: StageCountries) {
        let record = LotRecord {
            created,
            origin,
            stages,
            events: Vec::new(),
            shipments: Vec::new(),
            documents: Vec::new(),
            assays: Vec::new(),
            holds: Vec::new(),
            counted: None,
        };
        self.dirty.insert(|| ViewKey::Lot(id.clone()));
        self.lots.insert(id, record);
    }

    /// Changes a lot's record, if it has one, and marks it dirty.
    fn with_lot(&mut self, id: &LotId, change: impl FnOnce(&mut LotRecord)) {
        if let Some(record) = self.lots.get_mut(id) {
            change(record);
            self.dirty.insert(|| ViewKey::Lot(id.clone()));
        }
    }

    /// Takes a lot's place out of the inventory row it counted in (`add` false), or puts it in its
    /// row (`add` true). A row that becomes empty is removed.
    fn count(&mut self, c: Counted, add: bool) {
        let Counted { party, site, form, in_transit, mass_g } = c;
        self.dirty.insert(|| ViewKey::Inventory { party: party.clone(), site: site.clone(), form });
        let change = |totals: &mut InventoryTotals| {
            let mass = u128::from(mass_g);
            let (grams, lots) = if in_transit {
                (&mut totals.in_transit_g, &mut totals.in_transit_lots)
            } else {
                (&mut totals.active_g, &mut totals.active_lots)
            };
            if add {
                *grams += mass;
                *lots += 1;
            } else {
                *grams = grams.saturating_sub(mass);
                *lots = lots.saturating_sub(1);
            }
        };
        match self.inventory.entry((party, site, form)) {
            Entry::Occupied(mut row) => {
                change(row.get_mut());
                if row.get().is_zero() {
                    row.remove();
                }
            }
            // Adding counts a lot, so the new row is not empty; there is nothing to take from a row
            // that does not exist.
            Entry::Vacant(row) if add => change(row.insert(InventoryTotals::default())),
            Entry::Vacant(_) => {}
        }
    }

    /// A lot's origin, if the lot exists.
    pub fn origin(&self, lot: &str) -> Option<&Origin> {
        self.lots.get(lot).map(|r| &r.origin)
    }

    /// The countries of a lot's stages and its ancestors', if the lot exists.
    pub fn stages(&self, lot: &str) -> Option<&StageCountries> {
        self.lots.get(lot).map(|r| &r.stages)
    }

    // ---------------------------------------------------------------------------------------------
    // Persistence

    /// Keys of the view entities changed by [`Views::apply`] since the last call, sorted, without
    /// duplicates. A key whose [`Views::entity_bytes`] is `None` was deleted (an inventory row that
    /// became empty) and is to be removed from storage.
    pub fn take_dirty(&mut self) -> Vec<ViewKey> {
        let mut keys: Vec<ViewKey> = std::mem::take(&mut self.dirty.keys).into_iter().collect();
        keys.sort();
        keys
    }

    /// Whether [`Views::apply`] records the entities it changes for [`Views::take_dirty`]; it does
    /// unless told otherwise. A store whose next checkpoint writes every entity anyway (its first)
    /// turns it off until then. Turning it off forgets what was recorded.
    pub fn track_changes(&mut self, on: bool) {
        self.dirty.off = !on;
        if !on {
            self.dirty.keys = Default::default();
        }
    }

    /// Every existing view entity's key, sorted (which is also the order of their bytes).
    pub fn entity_keys(&self) -> Vec<ViewKey> {
        let mut keys: Vec<ViewKey> = Vec::new();
        keys.extend(self.corrections.keys().map(|id| ViewKey::Corrections(*id)));
        keys.extend(self.shipments.keys().map(|id| ViewKey::Shipment(id.clone())));
        keys.extend(self.inventory.keys().map(|(party, site, form)| ViewKey::Inventory {
            party: party.clone(),
            site: site.clone(),
            form: *form,
        }));
        keys.extend(self.lots.keys().map(|id| ViewKey::Lot(id.clone())));
        // Inventory rows are held in form declaration order, keys sort forms as text.
        keys.sort();
        keys
    }

    /// The deterministic bytes (compact JSON) of one view entity, or `None` if it does not exist. The
    /// state is the one the views were derived with; the bytes do not depend on it today.
    pub fn entity_bytes(&self, state: &State, key: &ViewKey) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.write_entity(state, key, &mut out).then_some(out)
    }

    /// Appends the bytes [`Views::entity_bytes`] gives for `key` to `out`, and returns whether the
    /// entity exists (when it does not, `out` is left as it was): a checkpoint writes many entities
    /// into one page without an allocation and a copy per entity.
    pub fn write_entity(&self, _state: &State, key: &ViewKey, out: &mut Vec<u8>) -> bool {
        match key {
            ViewKey::Corrections(id) => write_json(out, self.corrections.get(id)),
            ViewKey::Shipment(id) => write_json(out, self.shipments.get(id)),
            ViewKey::Inventory { party, site, form } => {
                write_json(out, self.inventory.get(&(party.clone(), site.clone(), *form)))
            }
            ViewKey::Lot(id) => write_json(out, self.lots.get(id)),
        }
    }

    /// Restores one view entity from its bytes, on fresh views, after the state was restored
    /// completely; entities in any order. Marks nothing dirty.
    ///
    /// # Errors
    /// [`ViewRestoreError`] naming the key: bytes that do not decode, or a lot, shipment or corrected
    /// event that `state` does not have.
    pub fn restore_entity(&mut self, state: &State, key: &ViewKey, bytes: &[u8]) -> Result<(), ViewRestoreError> {
        let missing = || ViewRestoreError::NotInState { key: key.clone() };
        match key {
            ViewKey::Corrections(id) => {
                state.event(id).ok_or_else(missing)?;
                self.corrections.insert(*id, from_json(key, bytes)?);
            }
            ViewKey::Shipment(id) => {
                state.shipment(id.as_str()).ok_or_else(missing)?;
                self.shipments.insert(id.clone(), from_json(key, bytes)?);
            }
            ViewKey::Inventory { party, site, form } => {
                self.inventory.insert((party.clone(), site.clone(), *form), from_json(key, bytes)?);
            }
            ViewKey::Lot(id) => {
                state.lot(id.as_str()).ok_or_else(missing)?;
                self.lots.insert(id.clone(), from_json(key, bytes)?);
            }
        }
        Ok(())
    }

    /// BLAKE3 over every entity of the state and of the views, so that a live ledger and one rebuilt
    /// from its log can be compared byte for byte.
    ///
    /// The pages hashed are, in order of their keys: `b'd'` followed by [`lode_domain::EntityKey::to_bytes`]
    /// for each state entity, then `b'v'` followed by [`ViewKey::to_bytes`] for each view entity, each
    /// with its entity bytes. The hash starts with `lode projections v1\0`, then for each page the key's
    /// length (u32 big-endian), the key, the value's length (u32 big-endian) and the value: the same as
    /// [`crate::digest_entities`] over the pages the ledger persists.
    pub fn digest(&self, state: &State) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"lode projections v1\0");
        let mut page = |prefix: u8, key: Vec<u8>, value: Vec<u8>| {
            // Keys and entities are far below 4 GiB: ids are at most 128 bytes, events at most 64 KiB.
            let key_len = u32::try_from(key.len() + 1).expect("a key is below 4 GiB");
            let value_len = u32::try_from(value.len()).expect("an entity is below 4 GiB");
            hasher.update(&key_len.to_be_bytes());
            hasher.update(&[prefix]);
            hasher.update(&key);
            hasher.update(&value_len.to_be_bytes());
            hasher.update(&value);
        };
        // State keys sort as their bytes, view keys likewise, and `d` sorts before `v`.
        for key in state.entity_keys() {
            if let Some(value) = state.entity_bytes(&key) {
                page(b'd', key.to_bytes(), value);
            }
        }
        for key in self.entity_keys() {
            if let Some(value) = self.entity_bytes(state, &key) {
                page(b'v', key.to_bytes(), value);
            }
        }
        *hasher.finalize().as_bytes()
    }
}
