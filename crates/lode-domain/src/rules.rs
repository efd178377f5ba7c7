//! The rules: whether an event may be appended to the ledger, given its state.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use uuid::Uuid;

use crate::envelope::Envelope;
use crate::events::{
    CustodyReceived, CustodyRejected, CustodyShipped, DocumentAttached, DocumentTarget, Event, EventCorrected,
    HoldPlaced, HoldReleased, HoldTarget, LotAdjusted, LotAssayed, LotConsumed, LotExtracted, LotMoved, LotTransformed,
    PartyRegistered, SiteRegistered,
};
use crate::ids::{LotId, PartyId, ShipmentId, SiteId};
use crate::parse::MASS_G_MAX;
use crate::state::{LotState, PartyState, ShipmentState, SiteState, State};
use crate::vocab::{CorrectionReason, Form, LotStatus, Process, Role, SiteKind};

/// How far `occurred_at` may lie after `recorded_at`, to allow for clocks that differ a little.
pub const FUTURE_TOLERANCE_SECONDS: i64 = 5 * 60;

/// A transit difference is an audit finding when it exceeds this many parts per thousand of the
/// shipped mass (0.5%).
pub const TRANSIT_DIFFERENCE_PER_MILLE_MAX: u64 = 5;

/// What the ledger knows about the event being decided, beside its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// The event's id: its own `id`, or the one the ledger assigned.
    pub event_id: Uuid,
    /// Its position in the ledger.
    pub seq: u64,
    /// When the ledger records it.
    pub recorded_at: DateTime<Utc>,
}

/// Something an accepted event makes an auditor look at. Findings that need more than the one event
/// (process losses, missing shipping documents, times going backwards) are the projections' business.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// A received lot weighed more than 0.5% off its shipped mass.
    TransitDifference { shipment: ShipmentId, lot: LotId, shipped_g: u64, received_g: u64 },
    /// Every `lot.adjusted`.
    Adjustment { lot: LotId, delta_g: i64 },
    /// Every `event.corrected`.
    Correction { event: Uuid, reason: CorrectionReason },
    /// Every `hold.placed`.
    Hold { target: HoldTarget },
}

impl Finding {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Finding::TransitDifference { .. } => "transit_difference",
            Finding::Adjustment { .. } => "adjustment",
            Finding::Correction { .. } => "correction",
            Finding::Hold { .. } => "hold",
        }
    }
}

/// Whether receiving `received_g` of a lot shipped at `shipped_g` is a transit difference over 0.5%.
pub fn transit_difference_is_finding(shipped_g: u64, received_g: u64) -> bool {
    let difference = u128::from(shipped_g.abs_diff(received_g));
    difference * 1000 > u128::from(shipped_g) * u128::from(TRANSIT_DIFFERENCE_PER_MILLE_MAX)
}

/// The decision to accept an event, with what [`apply`](crate::apply) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Accepted {
    /// The lots whose version the event increments: those its `data` names, and for `custody.received`
    /// and `custody.rejected` the lots of the shipment it moves. Sorted, without duplicates.
    pub lots: Vec<LotId>,
    /// Audit findings the event raises.
    pub findings: Vec<Finding>,
}

/// Why an event may not be appended, given the ledger's state.
///
/// Each variant has a stable [`code`](Rejection::code). Two are conflicts rather than broken rules
/// ([`is_conflict`](Rejection::is_conflict)): the client should re-read and retry, not fix the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// `event_id_mismatch`: the envelope's `id` differs from the id in the [`Context`].
    #[error("event id {envelope} differs from the event id {context} given to decide")]
    EventIdMismatch { envelope: Uuid, context: Uuid },
    /// `event_id_exists` (conflict): an event with this id is already in the ledger.
    #[error("event id {id} is already in the ledger")]
    EventIdExists { id: Uuid },
    /// `version_conflict` (conflict): a lot in `expected` is at another version.
    #[error("lot {lot} is at version {actual}, not the expected {expected}")]
    VersionConflict { lot: LotId, expected: u64, actual: u64 },
    /// `occurred_in_future`: `occurred_at` is more than 5 minutes after `recorded_at`.
    #[error("occurred_at {occurred_at} is more than 5 minutes after recorded_at {recorded_at}")]
    OccurredInFuture { occurred_at: String, recorded_at: String },
    /// `bootstrap_required`: the first event of a ledger must be an operator registering itself.
    #[error(
        "the first event of a ledger must be party.registered of an operator by itself, not {type_name} by {actor}"
    )]
    BootstrapRequired { type_name: &'static str, actor: PartyId },
    /// `actor_not_found`: the actor is not a registered party.
    #[error("actor {actor} is not a registered party")]
    ActorNotFound { actor: PartyId },
    /// `party_on_hold`: the actor is on hold and cannot record events.
    #[error("party {party} is on hold and cannot record events")]
    PartyOnHold { party: PartyId },
    /// `signature_required`: the actor registered a public key, and the event is not signed.
    #[error("party {party} registered a public key, so its events must be signed")]
    SignatureRequired { party: PartyId },
    /// `signature_invalid`: the signature does not verify with the actor's public key.
    #[error("signature does not verify with the public key of party {party}")]
    SignatureInvalid { party: PartyId },
    /// `signature_unverifiable`: the event is signed but the actor has no public key to check it with.
    #[error("party {party} has no public key to check the signature with")]
    SignatureUnverifiable { party: PartyId },
    /// `role_required`: a party lacks the role the event needs it to have.
    #[error("party {party} needs the role {roles}")]
    RoleRequired { party: PartyId, roles: &'static str },
    /// `not_authorized`: the actor is neither the party the rule names nor has a role that stands in.
    #[error("party {actor} may not {action}")]
    NotAuthorized { actor: PartyId, action: String },
    /// `party_exists`: the party id is taken.
    #[error("party {party} is already registered")]
    PartyExists { party: PartyId },
    /// `party_not_found`: a named party is not registered.
    #[error("party {party} is not registered")]
    PartyNotFound { party: PartyId },
    /// `site_exists`: the site id is taken.
    #[error("site {site} is already registered")]
    SiteExists { site: SiteId },
    /// `site_not_found`: a named site is not registered.
    #[error("site {site} is not registered")]
    SiteNotFound { site: SiteId },
    /// `wrong_site_kind`: extraction at a site that is not a mine.
    #[error("site {site} is a {kind}, not a {expected}")]
    WrongSiteKind { site: SiteId, kind: SiteKind, expected: SiteKind },
    /// `not_site_operator`: the site is operated by another party than the actor.
    #[error("site {site} is operated by {operator}, not {actor}")]
    NotSiteOperator { site: SiteId, operator: PartyId, actor: PartyId },
    /// `site_party_mismatch`: a shipment's `to_site` is not operated by its `to_party`.
    #[error("site {site} is operated by {operator}, not by the receiving party {party}")]
    SitePartyMismatch { site: SiteId, operator: PartyId, party: PartyId },
    /// `lot_exists`: a new lot's id is taken.
    #[error("lot {lot} already exists")]
    LotExists { lot: LotId },
    /// `lot_not_found`: a named lot does not exist.
    #[error("lot {lot} does not exist")]
    LotNotFound { lot: LotId },
    /// `lot_not_active`: the lot is in transit or closed.
    #[error("lot {lot} is {status}, not active")]
    LotNotActive { lot: LotId, status: LotStatus },
    /// `not_custodian`: the lot is held by another party than the actor.
    #[error("lot {lot} is held by {custodian}, not {actor}")]
    NotCustodian { lot: LotId, custodian: PartyId, actor: PartyId },
    /// `lot_not_at_site`: the lot is at another site than the event says.
    #[error("lot {lot} is at site {at}, not {site}")]
    LotNotAtSite { lot: LotId, at: SiteId, site: SiteId },
    /// `lot_on_hold`: a held lot cannot be shipped, transformed, moved or consumed.
    #[error("lot {lot} is on hold")]
    LotOnHold { lot: LotId },
    /// `insufficient_mass`: the lot has less mass than the event takes from it.
    #[error("lot {lot} holds {remaining_g} g, cannot give {requested_g} g")]
    InsufficientMass { lot: LotId, remaining_g: u64, requested_g: u64 },
    /// `split_material_mismatch`: a split's output is not exactly its input's material.
    #[error("split output {output} is not exactly the material of input {input}")]
    SplitMaterialMismatch { output: LotId, input: LotId },
    /// `blend_form_mismatch`: a blend's inputs are of different forms, or an output of another form.
    #[error("blend lot {lot} is of form {form}, not {expected}")]
    BlendFormMismatch { lot: LotId, form: Form, expected: Form },
    /// `shipment_exists`: the shipment id is taken.
    #[error("shipment {shipment} already exists")]
    ShipmentExists { shipment: ShipmentId },
    /// `shipment_not_found`: the shipment does not exist.
    #[error("shipment {shipment} does not exist")]
    ShipmentNotFound { shipment: ShipmentId },
    /// `not_receiver`: only the shipment's `to_party` receives or rejects it.
    #[error("shipment {shipment} goes to {receiver}, not {actor}")]
    NotReceiver { shipment: ShipmentId, receiver: PartyId, actor: PartyId },
    /// `lot_not_in_transit`: a received lot is not in transit on the shipment.
    #[error("lot {lot} is not in transit on shipment {shipment}")]
    LotNotInTransit { lot: LotId, shipment: ShipmentId },
    /// `nothing_in_transit`: a rejected shipment has no lots left in transit.
    #[error("shipment {shipment} has no lots in transit")]
    NothingInTransit { shipment: ShipmentId },
    /// `adjustment_out_of_range`: the adjusted mass would fall below 0 or above 10^12 g.
    #[error("lot {lot} holds {remaining_g} g, adjusting by {delta_g} g leaves it outside 0..=1000000000000 g")]
    AdjustmentOutOfRange { lot: LotId, remaining_g: u64, delta_g: i64 },
    /// `already_on_hold`: the lot or party is already on hold.
    #[error("{target} is already on hold")]
    AlreadyOnHold { target: HoldTarget },
    /// `hold_not_found`: the lot or party is not on hold.
    #[error("{target} is not on hold")]
    HoldNotFound { target: HoldTarget },
    /// `event_not_found`: the corrected event is not in the ledger.
    #[error("event {event} is not in the ledger")]
    EventNotFound { event: Uuid },
}

impl Rejection {
    /// Every code [`Rejection::code`] can return.
    pub const CODES: &'static [&'static str] = &[
        "event_id_mismatch",
        "event_id_exists",
        "version_conflict",
        "occurred_in_future",
        "bootstrap_required",
        "actor_not_found",
        "party_on_hold",
        "signature_required",
        "signature_invalid",
        "signature_unverifiable",
        "role_required",
        "not_authorized",
        "party_exists",
        "party_not_found",
        "site_exists",
        "site_not_found",
        "wrong_site_kind",
        "not_site_operator",
        "site_party_mismatch",
        "lot_exists",
        "lot_not_found",
        "lot_not_active",
        "not_custodian",
        "lot_not_at_site",
        "lot_on_hold",
        "insufficient_mass",
        "split_material_mismatch",
        "blend_form_mismatch",
        "shipment_exists",
        "shipment_not_found",
        "not_receiver",
        "lot_not_in_transit",
        "nothing_in_transit",
        "adjustment_out_of_range",
        "already_on_hold",
        "hold_not_found",
        "event_not_found",
    ];

    /// A stable snake_case code for the rejection, for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::EventIdMismatch { .. } => "event_id_mismatch",
            Rejection::EventIdExists { .. } => "event_id_exists",
            Rejection::VersionConflict { .. } => "version_conflict",
            Rejection::OccurredInFuture { .. } => "occurred_in_future",
            Rejection::BootstrapRequired { .. } => "bootstrap_required",
            Rejection::ActorNotFound { .. } => "actor_not_found",
            Rejection::PartyOnHold { .. } => "party_on_hold",
            Rejection::SignatureRequired { .. } => "signature_required",
            Rejection::SignatureInvalid { .. } => "signature_invalid",
            Rejection::SignatureUnverifiable { .. } => "signature_unverifiable",
            Rejection::RoleRequired { .. } => "role_required",
            Rejection::NotAuthorized { .. } => "not_authorized",
            Rejection::PartyExists { .. } => "party_exists",
            Rejection::PartyNotFound { .. } => "party_not_found",
            Rejection::SiteExists { .. } => "site_exists",
            Rejection::SiteNotFound { .. } => "site_not_found",
            Rejection::WrongSiteKind { .. } => "wrong_site_kind",
            Rejection::NotSiteOperator { .. } => "not_site_operator",
            Rejection::SitePartyMismatch { .. } => "site_party_mismatch",
            Rejection::LotExists { .. } => "lot_exists",
            Rejection::LotNotFound { .. } => "lot_not_found",
            Rejection::LotNotActive { .. } => "lot_not_active",
            Rejection::NotCustodian { .. } => "not_custodian",
            Rejection::LotNotAtSite { .. } => "lot_not_at_site",
            Rejection::LotOnHold { .. } => "lot_on_hold",
            Rejection::InsufficientMass { .. } => "insufficient_mass",
            Rejection::SplitMaterialMismatch { .. } => "split_material_mismatch",
            Rejection::BlendFormMismatch { .. } => "blend_form_mismatch",
            Rejection::ShipmentExists { .. } => "shipment_exists",
            Rejection::ShipmentNotFound { .. } => "shipment_not_found",
            Rejection::NotReceiver { .. } => "not_receiver",
            Rejection::LotNotInTransit { .. } => "lot_not_in_transit",
            Rejection::NothingInTransit { .. } => "nothing_in_transit",
            Rejection::AdjustmentOutOfRange { .. } => "adjustment_out_of_range",
            Rejection::AlreadyOnHold { .. } => "already_on_hold",
            Rejection::HoldNotFound { .. } => "hold_not_found",
            Rejection::EventNotFound { .. } => "event_not_found",
        }
    }

    /// Whether this is a conflict with the ledger's current state (an event id already used, or a lot
    /// version other than expected) rather than a broken rule.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Rejection::EventIdExists { .. } | Rejection::VersionConflict { .. })
    }
}

/// Checks an event against the state: whether it may be appended, and what it touches. Never mutates.
///
/// The checks run in this order, each returning the first problem it finds: the event id, the time,
/// the actor (first event of a ledger, registration, signature, hold), the expected versions, then the
/// rules of the event's type.
///
/// # Errors
/// A [`Rejection`] naming the broken rule.
pub fn decide(state: &State, envelope: &Envelope, ctx: &Context) -> Result<Accepted, Rejection> {
    if let Some(id) = envelope.id() {
        if id != ctx.event_id {
            return Err(Rejection::EventIdMismatch { envelope: id, context: ctx.event_id });
        }
    }
    if state.events.contains_key(&ctx.event_id) {
        return Err(Rejection::EventIdExists { id: ctx.event_id });
    }
    check_time(envelope, ctx)?;
    check_actor(state, envelope)?;
    for (lot, &expected) in envelope.expected() {
        let actual = state.lot_by_id(lot).map_or(0, |l| l.version);
        if actual != expected {
            return Err(Rejection::VersionConflict { lot: lot.clone(), expected, actual });
        }
    }

    let rules = Rules { state, actor: envelope.actor() };
    match envelope.event() {
        Event::PartyRegistered(e) => rules.party_registered(e)?,
        Event::SiteRegistered(e) => rules.site_registered(e)?,
        Event::LotExtracted(e) => rules.lot_extracted(e)?,
        Event::LotAssayed(e) => rules.lot_assayed(e)?,
        Event::LotTransformed(e) => rules.lot_transformed(e)?,
        Event::CustodyShipped(e) => rules.custody_shipped(e)?,
        Event::CustodyReceived(e) => rules.custody_received(e)?,
        Event::CustodyRejected(e) => rules.custody_rejected(e)?,
        Event::LotMoved(e) => rules.lot_moved(e)?,
        Event::DocumentAttached(e) => rules.document_attached(e)?,
        Event::LotConsumed(e) => rules.lot_consumed(e)?,
        Event::LotAdjusted(e) => rules.lot_adjusted(e)?,
        Event::HoldPlaced(e) => rules.hold_placed(e)?,
        Event::HoldReleased(e) => rules.hold_released(e)?,
        Event::EventCorrected(e) => rules.event_corrected(e)?,
    }
    Ok(outcome(state, envelope))
}

/// What an event that passed the rules touches and raises: the lots whose version it increments (by the
/// version rule) and its findings. Reads the state as it is before the event.
pub(crate) fn outcome(state: &State, envelope: &Envelope) -> Accepted {
    let mut findings = Vec::new();
    let mut lots: Vec<LotId> = match envelope.event() {
        Event::CustodyReceived(e) => {
            let shipment = state.shipments.get(&e.shipment);
            for received in &e.lots {
                let shipped_g = shipment.and_then(|s| s.lots.get(&received.lot)).map(|l| l.shipped_g);
                if let Some(shipped_g) = shipped_g {
                    if transit_difference_is_finding(shipped_g, received.mass_g) {
                        findings.push(Finding::TransitDifference {
                            shipment: e.shipment.clone(),
                            lot: received.lot.clone(),
                            shipped_g,
                            received_g: received.mass_g,
                        });
                    }
                }
            }
            e.lots.iter().map(|l| l.lot.clone()).collect()
        }
        // The lots it moves are those still in transit.
        Event::CustodyRejected(e) => {
            state.shipments.get(&e.shipment).map(|s| s.lots_in_transit().cloned().collect()).unwrap_or_default()
        }
        Event::LotAdjusted(e) => {
            findings.push(Finding::Adjustment { lot: e.lot.clone(), delta_g: e.delta_g });
            vec![e.lot.clone()]
        }
        Event::HoldPlaced(e) => {
            findings.push(Finding::Hold { target: e.target.clone() });
            envelope.event().named_lots().into_iter().cloned().collect()
        }
        Event::EventCorrected(e) => {
            findings.push(Finding::Correction { event: e.event, reason: e.reason });
            Vec::new()
        }
        other => other.named_lots().into_iter().cloned().collect(),
    };
    lots.sort();
    lots.dedup();
    Accepted { lots, findings }
}

fn check_time(envelope: &Envelope, ctx: &Context) -> Result<(), Rejection> {
    // Near the end of chrono's range there is no later time to compare with; nothing is then too late.
    let Some(latest) = ctx.recorded_at.checked_add_signed(TimeDelta::seconds(FUTURE_TOLERANCE_SECONDS)) else {
        return Ok(());
    };
    if envelope.occurred_at() > latest {
        return Err(Rejection::OccurredInFuture {
            occurred_at: envelope.occurred_at_text().to_string(),
            recorded_at: ctx.recorded_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        });
    }
    Ok(())
}

/// The first event of a ledger, registration, signature and hold of the actor.
fn check_actor(state: &State, envelope: &Envelope) -> Result<(), Rejection> {
    let actor = envelope.actor();
    // An operator registering itself is the one event whose actor need not be registered yet.
    let self_registration = match envelope.event() {
        Event::PartyRegistered(p) if &p.party == actor => Some(p),
        _ => None,
    };
    if state.is_empty() {
        let bootstrap = self_registration.is_some_and(|p| p.roles.contains(&Role::Operator));
        if !bootstrap {
            return Err(Rejection::BootstrapRequired { type_name: envelope.type_name(), actor: actor.clone() });
        }
    }
    let party = state.parties.get(actor);
    if party.is_none() && !state.is_empty() {
        return Err(Rejection::ActorNotFound { actor: actor.clone() });
    }

    // A party that registered a key signs every later event; a party registering itself with a key may
    // sign that registration with it.
    let key = party.and_then(|p| p.public_key.as_ref());
    match (key, envelope.signature()) {
        (Some(_), None) => return Err(Rejection::SignatureRequired { party: actor.clone() }),
        (Some(key), Some(signature)) => {
            if !key.verify(&envelope.signing_bytes(), signature) {
                return Err(Rejection::SignatureInvalid { party: actor.clone() });
            }
        }
        (None, Some(signature)) => match self_registration.and_then(|p| p.public_key.as_ref()) {
            Some(new_key) if party.is_none() => {
                if !new_key.verify(&envelope.signing_bytes(), signature) {
                    return Err(Rejection::SignatureInvalid { party: actor.clone() });
                }
            }
            _ => return Err(Rejection::SignatureUnverifiable { party: actor.clone() }),
        },
        (None, None) => {}
    }

    if party.is_some_and(|p| p.hold.is_some()) {
        return Err(Rejection::PartyOnHold { party: actor.clone() });
    }
    Ok(())
}

/// The rules of each event type, reading the state on behalf of one actor.
struct Rules<'s> {
    state: &'s State,
    actor: &'s PartyId,
}

impl<'s> Rules<'s> {
    fn party(&self, id: &PartyId) -> Result<&'s PartyState, Rejection> {
        self.state.parties.get(id).ok_or_else(|| Rejection::PartyNotFound { party: id.clone() })
    }

    fn site(&self, id: &SiteId) -> Result<&'s SiteState, Rejection> {
        self.state.sites.get(id).ok_or_else(|| Rejection::SiteNotFound { site: id.clone() })
    }

    fn lot(&self, id: &LotId) -> Result<&'s LotState, Rejection> {
        self.state.lots.get(id).ok_or_else(|| Rejection::LotNotFound { lot: id.clone() })
    }

    fn shipment(&self, id: &ShipmentId) -> Result<&'s ShipmentState, Rejection> {
        self.state.shipments.get(id).ok_or_else(|| Rejection::ShipmentNotFound { shipment: id.clone() })
    }

    /// Whether the actor has any of `roles`. The actor was checked to be registered, except while the
    /// first event of a ledger is decided, when it has no roles yet.
    fn actor_has_any(&self, roles: &[Role]) -> bool {
        self.state.parties.get(self.actor).is_some_and(|p| roles.iter().any(|&r| p.has_role(r)))
    }

    fn require_actor_role(&self, roles: &[Role], names: &'static str) -> Result<(), Rejection> {
        if self.actor_has_any(roles) {
            Ok(())
        } else {
            Err(Rejection::RoleRequired { party: self.actor.clone(), roles: names })
        }
    }

    fn new_lot(&self, id: &LotId) -> Result<(), Rejection> {
        if self.state.lots.contains_key(id) {
            return Err(Rejection::LotExists { lot: id.clone() });
        }
        Ok(())
    }

    /// A lot the actor may work on: it exists, is active and is held by the actor. With `movable`, it is
    /// also not on hold (shipping, transforming, moving and consuming need that).
    fn own_active_lot(&self, id: &LotId, movable: bool) -> Result<&'s LotState, Rejection> {
        let lot = self.lot(id)?;
        if lot.status != LotStatus::Active {
            return Err(Rejection::LotNotActive { lot: id.clone(), status: lot.status });
        }
        if &lot.custodian != self.actor {
            return Err(Rejection::NotCustodian {
                lot: id.clone(),
                custodian: lot.custodian.clone(),
                actor: self.actor.clone(),
            });
        }
        if movable && lot.hold.is_some() {
            return Err(Rejection::LotOnHold { lot: id.clone() });
        }
        Ok(lot)
    }

    fn at_site(id: &LotId, lot: &LotState, site: &SiteId) -> Result<(), Rejection> {
        if &lot.site != site {
            return Err(Rejection::LotNotAtSite { lot: id.clone(), at: lot.site.clone(), site: site.clone() });
        }
        Ok(())
    }

    fn enough_mass(id: &LotId, lot: &LotState, requested_g: u64) -> Result<(), Rejection> {
        if lot.mass_g < requested_g {
            return Err(Rejection::InsufficientMass { lot: id.clone(), remaining_g: lot.mass_g, requested_g });
        }
        Ok(())
    }

    fn party_registered(&self, e: &PartyRegistered) -> Result<(), Rejection> {
        if !self.state.is_empty() {
            self.require_actor_role(&[Role::Operator], "operator")?;
        }
        if self.state.parties.contains_key(&e.party) {
            return Err(Rejection::PartyExists { party: e.party.clone() });
        }
        Ok(())
    }

    fn site_registered(&self, e: &SiteRegistered) -> Result<(), Rejection> {
        if self.state.sites.contains_key(&e.site) {
            return Err(Rejection::SiteExists { site: e.site.clone() });
        }
        self.party(&e.party)?;
        if &e.party != self.actor && !self.actor_has_any(&[Role::Operator]) {
            return Err(Rejection::NotAuthorized {
                actor: self.actor.clone(),
                action: format!("register a site for party {} (it is neither that party nor an operator)", e.party),
            });
        }
        Ok(())
    }

    fn lot_extracted(&self, e: &LotExtracted) -> Result<(), Rejection> {
        self.new_lot(&e.lot)?;
        let site = self.site(&e.site)?;
        if site.kind != SiteKind::Mine {
            return Err(Rejection::WrongSiteKind { site: e.site.clone(), kind: site.kind, expected: SiteKind::Mine });
        }
        if &site.party != self.actor {
            return Err(Rejection::NotSiteOperator {
                site: e.site.clone(),
                operator: site.party.clone(),
                actor: self.actor.clone(),
            });
        }
        Ok(())
    }

    fn lot_assayed(&self, e: &LotAssayed) -> Result<(), Rejection> {
        let lot = self.lot(&e.lot)?;
        let lab = self.party(&e.lab)?;
        if !lab.has_role(Role::Lab) {
            return Err(Rejection::RoleRequired { party: e.lab.clone(), roles: "lab" });
        }
        if &lot.custodian != self.actor && &e.lab != self.actor {
            return Err(Rejection::NotAuthorized {
                actor: self.actor.clone(),
                action: format!("record an assay of lot {} (it is neither its custodian nor the lab)", e.lot),
            });
        }
        Ok(())
    }

    fn lot_transformed(&self, e: &LotTransformed) -> Result<(), Rejection> {
        self.site(&e.site)?;
        let mut inputs = Vec::with_capacity(e.inputs.len());
        for input in &e.inputs {
            let lot = self.own_active_lot(&input.lot, true)?;
            Self::at_site(&input.lot, lot, &e.site)?;
            Self::enough_mass(&input.lot, lot, input.mass_g)?;
            inputs.push((&input.lot, lot));
        }
        for output in &e.outputs {
            self.new_lot(&output.lot)?;
        }
        match e.process {
            Process::Split => {
                // Parsing guarantees exactly one input.
                if let Some((input_id, input)) = inputs.first() {
                    for output in &e.outputs {
                        if !output.material.same_material(&input.material) {
                            return Err(Rejection::SplitMaterialMismatch {
                                output: output.lot.clone(),
                                input: (*input_id).clone(),
                            });
                        }
                    }
                }
            }
            Process::Blend => {
                if let Some((_, first)) = inputs.first() {
                    let expected = first.material.form;
                    for (id, lot) in &inputs {
                        if lot.material.form != expected {
                            return Err(Rejection::BlendFormMismatch {
                                lot: (*id).clone(),
                                form: lot.material.form,
                                expected,
                            });
                        }
                    }
                    for output in &e.outputs {
                        if output.material.form != expected {
                            return Err(Rejection::BlendFormMismatch {
                                lot: output.lot.clone(),
                                form: output.material.form,
                                expected,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn custody_shipped(&self, e: &CustodyShipped) -> Result<(), Rejection> {
        if self.state.shipments.contains_key(&e.shipment) {
            return Err(Rejection::ShipmentExists { shipment: e.shipment.clone() });
        }
        self.site(&e.from_site)?;
        self.party(&e.to_party)?;
        let to_site = self.site(&e.to_site)?;
        if to_site.party != e.to_party {
            return Err(Rejection::SitePartyMismatch {
                site: e.to_site.clone(),
                operator: to_site.party.clone(),
                party: e.to_party.clone(),
            });
        }
        if let Some(carrier) = &e.carrier {
            if !self.party(carrier)?.has_role(Role::Carrier) {
                return Err(Rejection::RoleRequired { party: carrier.clone(), roles: "carrier" });
            }
        }
        for id in &e.lots {
            let lot = self.own_active_lot(id, true)?;
            Self::at_site(id, lot, &e.from_site)?;
        }
        Ok(())
    }

    fn receiver<'a>(&self, id: &ShipmentId, shipment: &'a ShipmentState) -> Result<&'a ShipmentState, Rejection> {
        if &shipment.to_party != self.actor {
            return Err(Rejection::NotReceiver {
                shipment: id.clone(),
                receiver: shipment.to_party.clone(),
                actor: self.actor.clone(),
            });
        }
        Ok(shipment)
    }

    fn custody_received(&self, e: &CustodyReceived) -> Result<(), Rejection> {
        let shipment = self.receiver(&e.shipment, self.shipment(&e.shipment)?)?;
        for received in &e.lots {
            shipment
                .lots
                .get(&received.lot)
                .filter(|l| l.status == crate::state::ShippedLotStatus::InTransit)
                .ok_or_else(|| Rejection::LotNotInTransit {
                    lot: received.lot.clone(),
                    shipment: e.shipment.clone(),
                })?;
        }
        Ok(())
    }

    fn custody_rejected(&self, e: &CustodyRejected) -> Result<(), Rejection> {
        let shipment = self.receiver(&e.shipment, self.shipment(&e.shipment)?)?;
        if shipment.lots_in_transit().next().is_none() {
            return Err(Rejection::NothingInTransit { shipment: e.shipment.clone() });
        }
        Ok(())
    }

    fn lot_moved(&self, e: &LotMoved) -> Result<(), Rejection> {
        self.own_active_lot(&e.lot, true)?;
        let site = self.site(&e.to_site)?;
        if &site.party != self.actor {
            return Err(Rejection::NotSiteOperator {
                site: e.to_site.clone(),
                operator: site.party.clone(),
                actor: self.actor.clone(),
            });
        }
        Ok(())
    }

    fn document_attached(&self, e: &DocumentAttached) -> Result<(), Rejection> {
        let overseer = self.actor_has_any(&[Role::Auditor, Role::Operator]);
        match &e.target {
            DocumentTarget::Lot(id) => {
                let lot = self.lot(id)?;
                if &lot.custodian != self.actor && !overseer {
                    return Err(Rejection::NotAuthorized {
                        actor: self.actor.clone(),
                        action: format!(
                            "attach a document to lot {id} (it is not its custodian, an auditor or an operator)"
                        ),
                    });
                }
                Ok(())
            }
            DocumentTarget::Shipment(id) => {
                let shipment = self.shipment(id)?;
                if &shipment.shipper != self.actor && &shipment.to_party != self.actor && !overseer {
                    return Err(Rejection::NotAuthorized {
                        actor: self.actor.clone(),
                        action: format!(
                            "attach a document to shipment {id} (it is not its shipper, its receiver, an auditor or an operator)"
                        ),
                    });
                }
                Ok(())
            }
        }
    }

    fn lot_consumed(&self, e: &LotConsumed) -> Result<(), Rejection> {
        let lot = self.own_active_lot(&e.lot, true)?;
        Self::enough_mass(&e.lot, lot, e.mass_g)?;
        Ok(())
    }

    fn lot_adjusted(&self, e: &LotAdjusted) -> Result<(), Rejection> {
        let lot = self.own_active_lot(&e.lot, false)?;
        let result = i128::from(lot.mass_g) + i128::from(e.delta_g);
        if result < 0 || result > i128::from(MASS_G_MAX) {
            return Err(Rejection::AdjustmentOutOfRange {
                lot: e.lot.clone(),
                remaining_g: lot.mass_g,
                delta_g: e.delta_g,
            });
        }
        Ok(())
    }

    /// Whether the hold target exists and is on hold.
    fn target_held(&self, target: &HoldTarget) -> Result<bool, Rejection> {
        Ok(match target {
            HoldTarget::Lot(id) => self.lot(id)?.hold.is_some(),
            HoldTarget::Party(id) => self.party(id)?.hold.is_some(),
        })
    }

    fn hold_placed(&self, e: &HoldPlaced) -> Result<(), Rejection> {
        self.require_actor_role(&[Role::Operator, Role::Auditor], "operator or auditor")?;
        if self.target_held(&e.target)? {
            return Err(Rejection::AlreadyOnHold { target: e.target.clone() });
        }
        Ok(())
    }

    fn hold_released(&self, e: &HoldReleased) -> Result<(), Rejection> {
        self.require_actor_role(&[Role::Operator, Role::Auditor], "operator or auditor")?;
        if !self.target_held(&e.target)? {
            return Err(Rejection::HoldNotFound { target: e.target.clone() });
        }
        Ok(())
    }

    fn event_corrected(&self, e: &EventCorrected) -> Result<(), Rejection> {
        let record = self.state.events.get(&e.event).ok_or(Rejection::EventNotFound { event: e.event })?;
        if &record.actor != self.actor && !self.actor_has_any(&[Role::Operator, Role::Auditor]) {
            return Err(Rejection::NotAuthorized {
                actor: self.actor.clone(),
                action: format!("correct event {} (it did not record it and is not an operator or auditor)", e.event),
            });
        }
        Ok(())
    }
}
