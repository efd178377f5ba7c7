//! The event types of the custody vocabulary and their `data`.
//!
//! Values of these types only come out of [`parse_event`](crate::parse_event), so every field already
//! passed the checks that need no ledger state. Optional fields are `Option`s that remember whether the
//! field was given, so the canonical form repeats exactly what was submitted.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::crypto::PublicKey;
use crate::ids::{LotId, PartyId, ShipmentId, SiteId};
use crate::jcs::{Canon, ObjectBuilder};
use crate::vocab::{
    ConsumeReason, Coordinates, CorrectionReason, Country, Digest, DocumentKind, Element, Material, OxideFormula,
    Process, Role, SiteKind,
};

/// `party.registered`: a party joins the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartyRegistered {
    pub party: PartyId,
    pub name: String,
    /// At least one role, no duplicates, in the order given.
    pub roles: Vec<Role>,
    pub country: Country,
    /// When present, the party's later events must be signed with the matching private key.
    pub public_key: Option<PublicKey>,
}

/// `site.registered`: a site operated by a party.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SiteRegistered {
    pub site: SiteId,
    /// The party that operates the site.
    pub party: PartyId,
    pub name: String,
    pub kind: SiteKind,
    pub country: Country,
    /// `lat` and `lon`, given together or not at all.
    pub coordinates: Option<Coordinates>,
}

/// `lot.extracted`: a new lot comes out of a mine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LotExtracted {
    pub lot: LotId,
    /// A site of kind `mine`, operated by the actor.
    pub site: SiteId,
    pub material: Material,
    pub mass_g: u64,
    /// The mining permit's reference.
    pub permit: Option<String>,
}

/// `lot.assayed`: a lab's analysis of a lot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LotAssayed {
    pub lot: LotId,
    /// A party with the `lab` role.
    pub lab: PartyId,
    /// The certificate's reference.
    pub certificate: String,
    /// Oxide formula to parts per million of the lot's mass; at least one entry, summing to at most 10^6.
    pub oxides_ppm: BTreeMap<OxideFormula, u32>,
    /// Total rare-earth oxides, in parts per million.
    pub treo_ppm: Option<u32>,
}

/// One input of a transformation: a lot and the mass it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransformInput {
    pub lot: LotId,
    pub mass_g: u64,
}

/// One output of a transformation: a new lot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransformOutput {
    pub lot: LotId,
    pub material: Material,
    pub mass_g: u64,
}

/// `lot.transformed`: inputs become outputs at one site, with exact mass balance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LotTransformed {
    pub process: Process,
    pub site: SiteId,
    /// At least one; no lot twice.
    pub inputs: Vec<TransformInput>,
    /// At least one; no lot twice, and none that is also an input.
    pub outputs: Vec<TransformOutput>,
    /// Untraced inputs such as iron and boron, in grams, as given (absent means 0).
    pub additions_g: Option<u64>,
    /// Process loss in grams, as given (absent means 0).
    pub loss_g: Option<u64>,
}

impl LotTransformed {
    /// Untraced additions in grams (0 when absent).
    pub fn additions(&self) -> u64 {
        self.additions_g.unwrap_or(0)
    }

    /// Process loss in grams (0 when absent).
    pub fn loss(&self) -> u64 {
        self.loss_g.unwrap_or(0)
    }
}

/// A document that travels with a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DocumentRef {
    pub kind: DocumentKind,
    /// The document's reference (JSON field `ref`).
    pub reference: String,
    pub digest: Option<Digest>,
}

/// `custody.shipped`: lots leave their custodian on a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CustodyShipped {
    pub shipment: ShipmentId,
    /// At least one; no lot twice.
    pub lots: Vec<LotId>,
    pub from_site: SiteId,
    pub to_party: PartyId,
    /// A site operated by `to_party`.
    pub to_site: SiteId,
    /// A party with the `carrier` role.
    pub carrier: Option<PartyId>,
    pub documents: Option<Vec<DocumentRef>>,
}

/// One lot of a receipt with its weighed mass.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedLot {
    pub lot: LotId,
    pub mass_g: u64,
}

/// `custody.received`: the receiver takes custody of some or all lots of a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CustodyReceived {
    pub shipment: ShipmentId,
    /// At least one; no lot twice.
    pub lots: Vec<ReceivedLot>,
}

/// `custody.rejected`: the receiver refuses the lots of a shipment still in transit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CustodyRejected {
    pub shipment: ShipmentId,
    pub reason: String,
}

/// `lot.moved`: a custodian moves a lot between its own sites.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LotMoved {
    pub lot: LotId,
    pub to_site: SiteId,
}

/// What a document is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DocumentTarget {
    Lot(LotId),
    Shipment(ShipmentId),
}

/// `document.attached`: a document about a lot or a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DocumentAttached {
    pub target: DocumentTarget,
    pub kind: DocumentKind,
    /// The document's reference (JSON field `ref`).
    pub reference: String,
    /// BLAKE3 of the document's bytes.
    pub digest: Option<Digest>,
    /// Who issued the document, as free text.
    pub issuer: Option<String>,
}

/// `lot.consumed`: mass leaves the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LotConsumed {
    pub lot: LotId,
    pub mass_g: u64,
    pub reason: ConsumeReason,
}

/// `lot.adjusted`: a correction of a lot's remaining mass; always an audit finding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LotAdjusted {
    pub lot: LotId,
    /// Signed and non-zero, magnitude at most 10^12.
    pub delta_g: i64,
    pub reason: String,
}

/// What a hold is on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HoldTarget {
    Lot(LotId),
    Party(PartyId),
}

impl std::fmt::Display for HoldTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldTarget::Lot(lot) => write!(f, "lot {lot}"),
            HoldTarget::Party(party) => write!(f, "party {party}"),
        }
    }
}

/// `hold.placed`: a lot or party is stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HoldPlaced {
    pub target: HoldTarget,
    pub reason: String,
}

/// `hold.released`: a hold ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HoldReleased {
    pub target: HoldTarget,
    pub reason: String,
}

/// `event.corrected`: an earlier event is marked as wrong. Nothing is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventCorrected {
    /// The corrected event's id.
    pub event: Uuid,
    pub reason: CorrectionReason,
    pub note: Option<String>,
}

/// One event of the vocabulary, with its `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    PartyRegistered(PartyRegistered),
    SiteRegistered(SiteRegistered),
    LotExtracted(LotExtracted),
    LotAssayed(LotAssayed),
    LotTransformed(LotTransformed),
    CustodyShipped(CustodyShipped),
    CustodyReceived(CustodyReceived),
    CustodyRejected(CustodyRejected),
    LotMoved(LotMoved),
    DocumentAttached(DocumentAttached),
    LotConsumed(LotConsumed),
    LotAdjusted(LotAdjusted),
    HoldPlaced(HoldPlaced),
    HoldReleased(HoldReleased),
    EventCorrected(EventCorrected),
}

/// Every event type name of the vocabulary, in the order the vocabulary lists them.
pub const EVENT_TYPES: [&str; 15] = [
    "party.registered",
    "site.registered",
    "lot.extracted",
    "lot.assayed",
    "lot.transformed",
    "custody.shipped",
    "custody.received",
    "custody.rejected",
    "lot.moved",
    "document.attached",
    "lot.consumed",
    "lot.adjusted",
    "hold.placed",
    "hold.released",
    "event.corrected",
];

impl Event {
    /// The event's `type`, e.g. `custody.shipped`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::PartyRegistered(_) => "party.registered",
            Event::SiteRegistered(_) => "site.registered",
            Event::LotExtracted(_) => "lot.extracted",
            Event::LotAssayed(_) => "lot.assayed",
            Event::LotTransformed(_) => "lot.transformed",
            Event::CustodyShipped(_) => "custody.shipped",
            Event::CustodyReceived(_) => "custody.received",
            Event::CustodyRejected(_) => "custody.rejected",
            Event::LotMoved(_) => "lot.moved",
            Event::DocumentAttached(_) => "document.attached",
            Event::LotConsumed(_) => "lot.consumed",
            Event::LotAdjusted(_) => "lot.adjusted",
            Event::HoldPlaced(_) => "hold.placed",
            Event::HoldReleased(_) => "hold.released",
            Event::EventCorrected(_) => "event.corrected",
        }
    }

    /// The lots the event's `data` names (as `lot`, in `lots`, in `inputs` or in `outputs`), in the order
    /// written. A `custody.rejected` names none here: which lots it moves depends on the ledger, and
    /// [`Accepted::lots`](crate::Accepted::lots) tells.
    pub fn named_lots(&self) -> Vec<&LotId> {
        match self {
            Event::PartyRegistered(_)
            | Event::SiteRegistered(_)
            | Event::CustodyRejected(_)
            | Event::EventCorrected(_) => Vec::new(),
            Event::LotExtracted(e) => vec![&e.lot],
            Event::LotAssayed(e) => vec![&e.lot],
            Event::LotTransformed(e) => {
                e.inputs.iter().map(|i| &i.lot).chain(e.outputs.iter().map(|o| &o.lot)).collect()
            }
            Event::CustodyShipped(e) => e.lots.iter().collect(),
            Event::CustodyReceived(e) => e.lots.iter().map(|l| &l.lot).collect(),
            Event::LotMoved(e) => vec![&e.lot],
            Event::DocumentAttached(e) => match &e.target {
                DocumentTarget::Lot(lot) => vec![lot],
                DocumentTarget::Shipment(_) => Vec::new(),
            },
            Event::LotConsumed(e) => vec![&e.lot],
            Event::LotAdjusted(e) => vec![&e.lot],
            Event::HoldPlaced(HoldPlaced { target, .. }) | Event::HoldReleased(HoldReleased { target, .. }) => {
                match target {
                    HoldTarget::Lot(lot) => vec![lot],
                    HoldTarget::Party(_) => Vec::new(),
                }
            }
        }
    }

    /// The `data` object in canonical-form terms.
    pub(crate) fn data_canon(&self) -> Canon<'_> {
        let s = Canon::str;
        let int = |n: u64| Canon::Int(i128::from(n));
        match self {
            Event::PartyRegistered(e) => ObjectBuilder::new()
                .put("party", s(e.party.as_str()))
                .put("name", s(&e.name))
                .put("roles", Canon::Array(e.roles.iter().map(|r| s(r.as_str())).collect()))
                .put("country", s(e.country.as_str()))
                .put_opt("public_key", e.public_key.as_ref().map(|k| Canon::owned(k.to_base64())))
                .build(),
            Event::SiteRegistered(e) => {
                let mut b = ObjectBuilder::new()
                    .put("site", s(e.site.as_str()))
                    .put("party", s(e.party.as_str()))
                    .put("name", s(&e.name))
                    .put("kind", s(e.kind.as_str()))
                    .put("country", s(e.country.as_str()));
                if let Some(c) = &e.coordinates {
                    b = b.put("lat", s(&c.lat)).put("lon", s(&c.lon));
                }
                b.build()
            }
            Event::LotExtracted(e) => ObjectBuilder::new()
                .put("lot", s(e.lot.as_str()))
                .put("site", s(e.site.as_str()))
                .put("material", material_canon(&e.material))
                .put("mass_g", int(e.mass_g))
                .put_opt("permit", e.permit.as_deref().map(s))
                .build(),
            Event::LotAssayed(e) => {
                let mut oxides = ObjectBuilder::new();
                for (formula, ppm) in &e.oxides_ppm {
                    oxides = oxides.put_owned_key(formula.as_str().into(), int(u64::from(*ppm)));
                }
                ObjectBuilder::new()
                    .put("lot", s(e.lot.as_str()))
                    .put("lab", s(e.lab.as_str()))
                    .put("certificate", s(&e.certificate))
                    .put("oxides_ppm", oxides.build())
                    .put_opt("treo_ppm", e.treo_ppm.map(|p| int(u64::from(p))))
                    .build()
            }
            Event::LotTransformed(e) => ObjectBuilder::new()
                .put("process", s(e.process.as_str()))
                .put("site", s(e.site.as_str()))
                .put(
                    "inputs",
                    Canon::Array(
                        e.inputs
                            .iter()
                            .map(|i| {
                                ObjectBuilder::new().put("lot", s(i.lot.as_str())).put("mass_g", int(i.mass_g)).build()
                            })
                            .collect(),
                    ),
                )
                .put(
                    "outputs",
                    Canon::Array(
                        e.outputs
                            .iter()
                            .map(|o| {
                                ObjectBuilder::new()
                                    .put("lot", s(o.lot.as_str()))
                                    .put("material", material_canon(&o.material))
                                    .put("mass_g", int(o.mass_g))
                                    .build()
                            })
                            .collect(),
                    ),
                )
                .put_opt("additions_g", e.additions_g.map(int))
                .put_opt("loss_g", e.loss_g.map(int))
                .build(),
            Event::CustodyShipped(e) => ObjectBuilder::new()
                .put("shipment", s(e.shipment.as_str()))
                .put("lots", Canon::Array(e.lots.iter().map(|l| s(l.as_str())).collect()))
                .put("from_site", s(e.from_site.as_str()))
                .put("to_party", s(e.to_party.as_str()))
                .put("to_site", s(e.to_site.as_str()))
                .put_opt("carrier", e.carrier.as_ref().map(|c| s(c.as_str())))
                .put_opt(
                    "documents",
                    e.documents.as_ref().map(|docs| {
                        Canon::Array(
                            docs.iter()
                                .map(|d| {
                                    ObjectBuilder::new()
                                        .put("kind", s(d.kind.as_str()))
                                        .put("ref", s(&d.reference))
                                        .put_opt("digest", d.digest.as_ref().map(|g| s(g.as_str())))
                                        .build()
                                })
                                .collect(),
                        )
                    }),
                )
                .build(),
            Event::CustodyReceived(e) => ObjectBuilder::new()
                .put("shipment", s(e.shipment.as_str()))
                .put(
                    "lots",
                    Canon::Array(
                        e.lots
                            .iter()
                            .map(|l| {
                                ObjectBuilder::new().put("lot", s(l.lot.as_str())).put("mass_g", int(l.mass_g)).build()
                            })
                            .collect(),
                    ),
                )
                .build(),
            Event::CustodyRejected(e) => {
                ObjectBuilder::new().put("shipment", s(e.shipment.as_str())).put("reason", s(&e.reason)).build()
            }
            Event::LotMoved(e) => {
                ObjectBuilder::new().put("lot", s(e.lot.as_str())).put("to_site", s(e.to_site.as_str())).build()
            }
            Event::DocumentAttached(e) => {
                let b = match &e.target {
                    DocumentTarget::Lot(lot) => ObjectBuilder::new().put("lot", s(lot.as_str())),
                    DocumentTarget::Shipment(shipment) => ObjectBuilder::new().put("shipment", s(shipment.as_str())),
                };
                b.put("kind", s(e.kind.as_str()))
                    .put("ref", s(&e.reference))
                    .put_opt("digest", e.digest.as_ref().map(|g| s(g.as_str())))
                    .put_opt("issuer", e.issuer.as_deref().map(s))
                    .build()
            }
            Event::LotConsumed(e) => ObjectBuilder::new()
                .put("lot", s(e.lot.as_str()))
                .put("mass_g", int(e.mass_g))
                .put("reason", s(e.reason.as_str()))
                .build(),
            Event::LotAdjusted(e) => ObjectBuilder::new()
                .put("lot", s(e.lot.as_str()))
                .put("delta_g", Canon::Int(i128::from(e.delta_g)))
                .put("reason", s(&e.reason))
                .build(),
            Event::HoldPlaced(HoldPlaced { target, reason }) | Event::HoldReleased(HoldReleased { target, reason }) => {
                let b = match target {
                    HoldTarget::Lot(lot) => ObjectBuilder::new().put("lot", s(lot.as_str())),
                    HoldTarget::Party(party) => ObjectBuilder::new().put("party", s(party.as_str())),
                };
                b.put("reason", s(reason)).build()
            }
            Event::EventCorrected(e) => ObjectBuilder::new()
                .put("event", Canon::owned(e.event.hyphenated().to_string()))
                .put("reason", s(e.reason.as_str()))
                .put_opt("note", e.note.as_deref().map(s))
                .build(),
        }
    }
}

fn material_canon(m: &Material) -> Canon<'_> {
    ObjectBuilder::new()
        .put("form", Canon::str(m.form.as_str()))
        .put_opt(
            "elements",
            m.elements.as_ref().map(|els| Canon::Array(els.iter().map(|e: &Element| Canon::str(e.as_str())).collect())),
        )
        .put_opt("grade", m.grade.as_deref().map(Canon::str))
        .put_opt("hs_code", m.hs_code.as_deref().map(Canon::str))
        .build()
}
