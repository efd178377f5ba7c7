//! The ledger state the rules read and the effects of accepted events on it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::PublicKey;
use crate::entity::{self, EntityKey};
use crate::envelope::Envelope;
use crate::events::{DocumentTarget, Event, HoldPlaced, HoldReleased, HoldTarget};
use crate::ids::{LotId, PartyId, ShipmentId, SiteId};
use crate::rules::{Accepted, Context};
use crate::vocab::{Coordinates, Country, DocumentKind, Form, LotStatus, Material, Role, SiteKind, Stage};

/// A hold on a lot or a party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// The `hold.placed` event.
    pub event: Uuid,
    pub reason: String,
}

/// A registered party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PartyState {
    pub name: String,
    pub roles: BTreeSet<Role>,
    pub country: Country,
    /// When present, the party's events must be signed.
    #[serde(with = "entity::public_key")]
    pub public_key: Option<PublicKey>,
    pub hold: Option<Hold>,
    /// The `party.registered` event.
    pub registered_by: Uuid,
}

impl PartyState {
    /// Whether the party has `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// A registered site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SiteState {
    /// The party operating the site.
    pub party: PartyId,
    pub name: String,
    pub kind: SiteKind,
    pub country: Country,
    #[serde(with = "entity::coordinates")]
    pub coordinates: Option<Coordinates>,
    /// The `site.registered` event.
    pub registered_by: Uuid,
}

/// A link between a lot and a lot it was made from or made into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotLink {
    pub lot: LotId,
    /// In [`LotState::parents`]: the mass the parent gave to the transformation. In
    /// [`LotState::children`]: the mass of the child output. An output's origin is the mix of its
    /// parents weighted by the masses they gave.
    pub mass_g: u64,
    /// The `lot.transformed` event.
    pub event: Uuid,
}

/// A processing stage a transformation recorded for its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRecord {
    pub stage: Stage,
    /// The country of the transformation's site.
    pub country: Country,
}

/// A lot of material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LotState {
    /// The party holding the lot. While in transit, still the shipper.
    pub custodian: PartyId,
    /// Where the lot is. While in transit, still the shipment's `from_site`.
    pub site: SiteId,
    #[serde(with = "entity::material")]
    pub material: Material,
    /// Remaining mass in grams; 0 exactly when closed.
    pub mass_g: u64,
    pub status: LotStatus,
    /// The number of accepted events that touched the lot, its creating event included.
    pub version: u64,
    /// The `lot.extracted` or `lot.transformed` event that made the lot.
    pub created_by: Uuid,
    /// For an extracted lot, its mine: the lot's origin is 100% this mine.
    pub mine: Option<SiteId>,
    /// The stage the lot's own making recorded: the mining stage for an extracted lot, or the stage of
    /// a transformation whose outputs changed form. A lot's stages are its own and its ancestors'.
    pub stage: Option<StageRecord>,
    /// The lots it was made from, in input order.
    pub parents: Vec<LotLink>,
    /// The lots made from it, in the order they were made.
    pub children: Vec<LotLink>,
    pub hold: Option<Hold>,
    /// The shipment the lot is in transit on.
    pub shipment: Option<ShipmentId>,
    /// `document.attached` events about the lot.
    pub documents: Vec<Uuid>,
    /// `lot.assayed` events about the lot.
    pub assays: Vec<Uuid>,
}

/// Where a lot of a shipment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ShippedLotStatus {
    InTransit,
    /// Received by the shipment's receiver.
    Received,
    /// Returned to the shipper by `custody.rejected`.
    Returned,
}

/// One lot of a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippedLot {
    /// The lot's mass when shipped.
    pub shipped_g: u64,
    /// The weighed mass on receipt.
    pub received_g: Option<u64>,
    pub status: ShippedLotStatus,
}

impl ShippedLot {
    /// Received minus shipped mass, in grams (0 until received).
    pub fn transit_difference_g(&self) -> i128 {
        self.received_g.map_or(0, |r| i128::from(r) - i128::from(self.shipped_g))
    }
}

/// A shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ShipmentState {
    pub shipper: PartyId,
    pub from_site: SiteId,
    pub to_party: PartyId,
    pub to_site: SiteId,
    pub carrier: Option<PartyId>,
    pub lots: BTreeMap<LotId, ShippedLot>,
    /// Kinds of the documents listed on shipping and attached later.
    pub document_kinds: BTreeSet<DocumentKind>,
    /// The `custody.shipped` event.
    pub shipped_by: Uuid,
}

impl ShipmentState {
    /// The shipment's lots still in transit.
    pub fn lots_in_transit(&self) -> impl Iterator<Item = &LotId> {
        self.lots.iter().filter(|(_, l)| l.status == ShippedLotStatus::InTransit).map(|(id, _)| id)
    }
}

/// An accepted event, as far as the rules need to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventRecord {
    /// Its position in the ledger.
    pub seq: u64,
    pub actor: PartyId,
    pub type_name: &'static str,
    /// `event.corrected` events about it.
    pub corrections: Vec<Uuid>,
}

/// Running totals of mass entering and leaving the ledger, in grams. Mass is conserved:
/// the remaining mass of all lots equals [`sources`](MassTotals::sources) minus [`sinks`](MassTotals::sinks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MassTotals {
    pub extracted_g: u128,
    /// Untraced additions to transformations.
    pub additions_g: u128,
    /// Process losses of transformations.
    pub loss_g: u128,
    pub consumed_g: u128,
    pub adjusted_up_g: u128,
    pub adjusted_down_g: u128,
    /// Receipts that weighed more than shipped.
    pub transit_gain_g: u128,
    /// Receipts that weighed less than shipped.
    pub transit_loss_g: u128,
}

impl MassTotals {
    /// Mass that entered: extracted, added, adjusted up, gained in transit.
    pub fn sources(&self) -> u128 {
        self.extracted_g + self.additions_g + self.adjusted_up_g + self.transit_gain_g
    }

    /// Mass that left: lost in processing, consumed, adjusted down, lost in transit.
    pub fn sinks(&self) -> u128 {
        self.loss_g + self.consumed_g + self.adjusted_down_g + self.transit_loss_g
    }
}

/// The state of the ledger that the rules need and projections read: parties, sites, lots, shipments,
/// holds, and the ids of accepted events with their actor and type.
///
/// Built only by [`apply`]ing accepted events in order, starting from `State::default()`, or restored
/// entity by entity from what [`State::entity_bytes`] gave (see [`EntityKey`]).
#[derive(Clone, Default, Debug)]
pub struct State {
    pub(crate) parties: BTreeMap<PartyId, PartyState>,
    pub(crate) sites: BTreeMap<SiteId, SiteState>,
    pub(crate) lots: BTreeMap<LotId, LotState>,
    pub(crate) shipments: BTreeMap<ShipmentId, ShipmentState>,
    pub(crate) events: HashMap<Uuid, EventRecord>,
    /// Every key of `events` with its position, so that the events are persisted in chunks by position.
    pub(crate) event_index: BTreeSet<(u64, Uuid)>,
    pub(crate) totals: MassTotals,
    /// The entities [`apply`] changed since the last [`State::take_dirty`].
    /// Hashed rather than ordered: it takes an insert per change, and is sorted only when taken (so
    /// the hasher's order never shows). foldhash rather than SipHash: several inserts per event.
    pub(crate) dirty: HashSet<EntityKey, foldhash::fast::RandomState>,
    /// Whether [`apply`] leaves `dirty` alone; see [`State::track_changes`].
    pub(crate) untracked: bool,
}

/// Two states are equal when they hold the same ledger state. Which entities changed since the last
/// checkpoint is bookkeeping of the persistence, not state: a state restored from a checkpoint equals
/// the live state it was written from.
impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        // Destructured, so that a new field cannot be forgotten here.
        let State { parties, sites, lots, shipments, events, event_index, totals, dirty: _, untracked: _ } = self;
        parties == &other.parties
            && sites == &other.sites
            && lots == &other.lots
            && shipments == &other.shipments
            && events == &other.events
            && event_index == &other.event_index
            && totals == &other.totals
    }
}

impl State {
    /// Whether no event was applied yet.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The number of events applied.
    pub fn event_count(&self) -> u64 {
        self.events.len() as u64
    }

    pub fn party(&self, id: &str) -> Option<&PartyState> {
        self.parties.get(id)
    }

    pub fn parties(&self) -> impl Iterator<Item = (&PartyId, &PartyState)> {
        self.parties.iter()
    }

    pub fn site(&self, id: &str) -> Option<&SiteState> {
        self.sites.get(id)
    }

    pub fn sites(&self) -> impl Iterator<Item = (&SiteId, &SiteState)> {
        self.sites.iter()
    }

    pub fn lot(&self, id: &str) -> Option<&LotState> {
        self.lots.get(id)
    }

    /// [`State::lot`] by a checked id, which finds it faster: ids compare their first bytes inline
    /// (see [`LotId`]), text has to be compared byte by byte.
    pub fn lot_by_id(&self, id: &LotId) -> Option<&LotState> {
        self.lots.get(id)
    }

    /// All lots, ordered by id.
    pub fn lots(&self) -> impl Iterator<Item = (&LotId, &LotState)> {
        self.lots.iter()
    }

    /// A lot's version: the number of accepted events that touched it; 0 for a lot that does not exist.
    pub fn lot_version(&self, id: &str) -> u64 {
        self.lots.get(id).map_or(0, |l| l.version)
    }

    pub fn shipment(&self, id: &str) -> Option<&ShipmentState> {
        self.shipments.get(id)
    }

    pub fn shipments(&self) -> impl Iterator<Item = (&ShipmentId, &ShipmentState)> {
        self.shipments.iter()
    }

    /// Every accepted event by id, in no particular order.
    pub fn events(&self) -> impl Iterator<Item = (&Uuid, &EventRecord)> {
        self.events.iter()
    }

    /// An accepted event by id.
    pub fn event(&self, id: &Uuid) -> Option<&EventRecord> {
        self.events.get(id)
    }

    /// Mass that entered and left the ledger.
    pub fn totals(&self) -> &MassTotals {
        &self.totals
    }
}

/// The stage a transformation records for an output: when the output's form is none of the inputs'
/// forms and it is an oxide, metal, alloy or magnet form.
pub fn transformation_stage(input_forms: &BTreeSet<Form>, output_form: Form) -> Option<Stage> {
    if input_forms.contains(&output_form) {
        None
    } else {
        output_form.stage()
    }
}

/// Applies an event that is already in the ledger without checking the rules again, for rebuilding the
/// state from a log whose records were verified: computes what [`decide`](crate::decide) accepted and
/// applies it. Events must come in ledger order, each with the [`Context`] it was accepted under.
pub fn replay(state: &mut State, envelope: &Envelope, ctx: &Context) -> Accepted {
    let accepted = crate::rules::outcome(state, envelope);
    apply(state, envelope, &accepted, ctx);
    accepted
}

/// Applies an event that [`decide`](crate::decide) accepted against this same state.
///
/// Cannot fail and never panics: it trusts the decision, and where state does not match (which a correct
/// caller never causes) it leaves that part unchanged and uses saturating arithmetic.
pub fn apply(state: &mut State, envelope: &Envelope, accepted: &Accepted, ctx: &Context) {
    let actor = envelope.actor();
    let event_id = ctx.event_id;
    match envelope.event() {
        Event::PartyRegistered(e) => {
            state.parties.entry(e.party.clone()).or_insert_with(|| PartyState {
                name: e.name.clone(),
                roles: e.roles.iter().copied().collect(),
                country: e.country,
                public_key: e.public_key.clone(),
                hold: None,
                registered_by: event_id,
            });
        }
        Event::SiteRegistered(e) => {
            state.sites.entry(e.site.clone()).or_insert_with(|| SiteState {
                party: e.party.clone(),
                name: e.name.clone(),
                kind: e.kind,
                country: e.country,
                coordinates: e.coordinates.clone(),
                registered_by: event_id,
            });
        }
        Event::LotExtracted(e) => {
            let country = state.sites.get(&e.site).map(|s| s.country);
            if !state.lots.contains_key(&e.lot) {
                state.lots.insert(
                    e.lot.clone(),
                    LotState {
                        custodian: actor.clone(),
                        site: e.site.clone(),
                        material: e.material.clone(),
                        mass_g: e.mass_g,
                        status: LotStatus::Active,
                        version: 0,
                        created_by: event_id,
                        mine: Some(e.site.clone()),
                        stage: country.map(|country| StageRecord { stage: Stage::Mining, country }),
                        parents: Vec::new(),
                        children: Vec::new(),
                        hold: None,
                        shipment: None,
                        documents: Vec::new(),
                        assays: Vec::new(),
                    },
                );
                state.totals.extracted_g += u128::from(e.mass_g);
            }
        }
        Event::LotAssayed(e) => {
            if let Some(lot) = state.lots.get_mut(&e.lot) {
                lot.assays.push(event_id);
            }
        }
        Event::LotTransformed(e) => {
            let input_forms: BTreeSet<Form> =
                e.inputs.iter().filter_map(|i| state.lots.get(&i.lot)).map(|l| l.material.form).collect();
            let country = state.sites.get(&e.site).map(|s| s.country);
            for input in &e.inputs {
                if let Some(lot) = state.lots.get_mut(&input.lot) {
                    lot.mass_g = lot.mass_g.saturating_sub(input.mass_g);
                    if lot.mass_g == 0 {
                        lot.status = LotStatus::Closed;
                    }
                    lot.children.extend(e.outputs.iter().map(|o| LotLink {
                        lot: o.lot.clone(),
                        mass_g: o.mass_g,
                        event: event_id,
                    }));
                }
            }
            let parents: Vec<LotLink> =
                e.inputs.iter().map(|i| LotLink { lot: i.lot.clone(), mass_g: i.mass_g, event: event_id }).collect();
            for output in &e.outputs {
                if state.lots.contains_key(&output.lot) {
                    continue;
                }
                let stage = transformation_stage(&input_forms, output.material.form)
                    .zip(country)
                    .map(|(stage, country)| StageRecord { stage, country });
                state.lots.insert(
                    output.lot.clone(),
                    LotState {
                        custodian: actor.clone(),
                        site: e.site.clone(),
                        material: output.material.clone(),
                        mass_g: output.mass_g,
                        status: LotStatus::Active,
                        version: 0,
                        created_by: event_id,
                        mine: None,
                        stage,
                        parents: parents.clone(),
                        children: Vec::new(),
                        hold: None,
                        shipment: None,
                        documents: Vec::new(),
                        assays: Vec::new(),
                    },
                );
            }
            state.totals.additions_g += u128::from(e.additions());
            state.totals.loss_g += u128::from(e.loss());
        }
        Event::CustodyShipped(e) => {
            let mut lots = BTreeMap::new();
            for id in &e.lots {
                if let Some(lot) = state.lots.get_mut(id) {
                    lot.status = LotStatus::InTransit;
                    lot.shipment = Some(e.shipment.clone());
                    lots.insert(
                        id.clone(),
                        ShippedLot { shipped_g: lot.mass_g, received_g: None, status: ShippedLotStatus::InTransit },
                    );
                }
            }
            let document_kinds = e.documents.iter().flatten().map(|d| d.kind).collect();
            state.shipments.entry(e.shipment.clone()).or_insert_with(|| ShipmentState {
                shipper: actor.clone(),
                from_site: e.from_site.clone(),
                to_party: e.to_party.clone(),
                to_site: e.to_site.clone(),
                carrier: e.carrier.clone(),
                lots,
                document_kinds,
                shipped_by: event_id,
            });
        }
        Event::CustodyReceived(e) => {
            if let Some(shipment) = state.shipments.get_mut(&e.shipment) {
                for received in &e.lots {
                    let Some(shipped) = shipment.lots.get_mut(&received.lot) else {
                        continue;
                    };
                    if shipped.status != ShippedLotStatus::InTransit {
                        continue;
                    }
                    let Some(lot) = state.lots.get_mut(&received.lot) else {
                        continue;
                    };
                    shipped.status = ShippedLotStatus::Received;
                    shipped.received_g = Some(received.mass_g);
                    // The lot carries the shipped mass in transit; the weighed mass replaces it.
                    let before = lot.mass_g;
                    if received.mass_g >= before {
                        state.totals.transit_gain_g += u128::from(received.mass_g - before);
                    } else {
                        state.totals.transit_loss_g += u128::from(before - received.mass_g);
                    }
                    lot.mass_g = received.mass_g;
                    lot.custodian = actor.clone();
                    lot.site = shipment.to_site.clone();
                    lot.status = LotStatus::Active;
                    lot.shipment = None;
                }
            }
        }
        Event::CustodyRejected(e) => {
            if let Some(shipment) = state.shipments.get_mut(&e.shipment) {
                for (id, shipped) in shipment.lots.iter_mut() {
                    if shipped.status != ShippedLotStatus::InTransit {
                        continue;
                    }
                    shipped.status = ShippedLotStatus::Returned;
                    if let Some(lot) = state.lots.get_mut(id) {
                        lot.status = LotStatus::Active;
                        lot.shipment = None;
                        lot.custodian = shipment.shipper.clone();
                        lot.site = shipment.from_site.clone();
                    }
                }
            }
        }
        Event::LotMoved(e) => {
            if let Some(lot) = state.lots.get_mut(&e.lot) {
                lot.site = e.to_site.clone();
            }
        }
        Event::DocumentAttached(e) => match &e.target {
            DocumentTarget::Lot(id) => {
                if let Some(lot) = state.lots.get_mut(id) {
                    lot.documents.push(event_id);
                }
            }
            DocumentTarget::Shipment(id) => {
                if let Some(shipment) = state.shipments.get_mut(id) {
                    shipment.document_kinds.insert(e.kind);
                }
            }
        },
        Event::LotConsumed(e) => {
            if let Some(lot) = state.lots.get_mut(&e.lot) {
                let taken = e.mass_g.min(lot.mass_g);
                lot.mass_g -= taken;
                state.totals.consumed_g += u128::from(taken);
                if lot.mass_g == 0 {
                    lot.status = LotStatus::Closed;
                }
            }
        }
        Event::LotAdjusted(e) => {
            if let Some(lot) = state.lots.get_mut(&e.lot) {
                let magnitude = e.delta_g.unsigned_abs();
                if e.delta_g > 0 {
                    lot.mass_g = lot.mass_g.saturating_add(magnitude);
                    state.totals.adjusted_up_g += u128::from(magnitude);
                } else {
                    let taken = magnitude.min(lot.mass_g);
                    lot.mass_g -= taken;
                    state.totals.adjusted_down_g += u128::from(taken);
                }
                if lot.mass_g == 0 {
                    lot.status = LotStatus::Closed;
                }
            }
        }
        Event::HoldPlaced(HoldPlaced { target, reason }) => {
            let hold = Some(Hold { event: event_id, reason: reason.clone() });
            match target {
                HoldTarget::Lot(id) => {
                    if let Some(lot) = state.lots.get_mut(id) {
                        lot.hold = hold;
                    }
                }
                HoldTarget::Party(id) => {
                    if let Some(party) = state.parties.get_mut(id) {
                        party.hold = hold;
                    }
                }
            }
        }
        Event::HoldReleased(HoldReleased { target, .. }) => match target {
            HoldTarget::Lot(id) => {
                if let Some(lot) = state.lots.get_mut(id) {
                    lot.hold = None;
                }
            }
            HoldTarget::Party(id) => {
                if let Some(party) = state.parties.get_mut(id) {
                    party.hold = None;
                }
            }
        },
        Event::EventCorrected(e) => {
            if let Some(record) = state.events.get_mut(&e.event) {
                record.corrections.push(event_id);
            }
        }
    }
    for id in &accepted.lots {
        if let Some(lot) = state.lots.get_mut(id) {
            lot.version = lot.version.saturating_add(1);
        }
    }
    mark_changed(state, envelope.event(), accepted);
    let record =
        EventRecord { seq: ctx.seq, actor: actor.clone(), type_name: envelope.type_name(), corrections: Vec::new() };
    // The rules never accept an id twice; should it happen, the later record replaces the earlier one in
    // the index as well as in the map, so that the two stay one to one.
    if let Some(earlier) = state.events.insert(event_id, record) {
        state.event_index.remove(&(earlier.seq, event_id));
        if !state.untracked {
            state.dirty.insert(EntityKey::event_chunk_of(earlier.seq));
        }
    }
    state.event_index.insert((ctx.seq, event_id));
    if !state.untracked {
        state.dirty.insert(EntityKey::event_chunk_of(ctx.seq));
    }
}

/// Records which entities an applied event may have changed, for [`State::take_dirty`]: every lot it
/// names or moves, and the parties, sites, shipments, event chunks and totals its type changes. It may
/// name more than changed, never less.
fn mark_changed(state: &mut State, event: &Event, accepted: &Accepted) {
    if state.untracked {
        return;
    }
    let mut keys: Vec<EntityKey> = accepted.lots.iter().map(|l| EntityKey::Lot(l.clone())).collect();
    keys.extend(event.named_lots().into_iter().map(|l| EntityKey::Lot(l.clone())));
    match event {
        Event::PartyRegistered(e) => keys.push(EntityKey::Party(e.party.clone())),
        Event::SiteRegistered(e) => keys.push(EntityKey::Site(e.site.clone())),
        Event::LotExtracted(_) | Event::LotTransformed(_) | Event::LotConsumed(_) | Event::LotAdjusted(_) => {
            keys.push(EntityKey::Totals)
        }
        Event::CustodyShipped(e) => keys.push(EntityKey::Shipment(e.shipment.clone())),
        Event::CustodyReceived(e) => {
            keys.push(EntityKey::Shipment(e.shipment.clone()));
            keys.push(EntityKey::Totals);
        }
        Event::CustodyRejected(e) => keys.push(EntityKey::Shipment(e.shipment.clone())),
        Event::DocumentAttached(e) => {
            if let DocumentTarget::Shipment(id) = &e.target {
                keys.push(EntityKey::Shipment(id.clone()));
            }
        }
        Event::HoldPlaced(HoldPlaced { target: HoldTarget::Party(id), .. })
        | Event::HoldReleased(HoldReleased { target: HoldTarget::Party(id), .. }) => {
            keys.push(EntityKey::Party(id.clone()))
        }
        Event::EventCorrected(e) => {
            if let Some(record) = state.events.get(&e.event) {
                keys.push(EntityKey::event_chunk_of(record.seq));
            }
        }
        Event::LotAssayed(_) | Event::LotMoved(_) | Event::HoldPlaced(_) | Event::HoldReleased(_) => {}
    }
    state.dirty.extend(keys);
}
