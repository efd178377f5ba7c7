//! A lot's full view: what `lode lot LOT` shows.

use std::collections::BTreeSet;

use lode_domain::{Country, Element, Form, LotId, LotStatus, Material, PartyId, Process, ShipmentId, SiteId, State};
use serde::Serialize;
use uuid::Uuid;

use super::origin::StageCountries;
use super::records::{AssayInfo, CorrectionInfo, Creation, DocumentInfo, HoldInfo};
use super::Views;

/// Everything about one lot: its state, how it was made, what it was made from and into, holds,
/// documents, assays, corrections of events that touched it, and its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LotView {
    pub lot: LotId,
    /// The party holding it; while in transit, still the shipper.
    pub custodian: PartyId,
    /// Where it is; while in transit, still the shipment's `from_site`.
    pub site: SiteId,
    pub status: LotStatus,
    /// Remaining mass in grams.
    pub mass_g: u64,
    pub material: MaterialView,
    /// The number of events that touched it.
    pub version: u64,
    /// The shipment it is in transit on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment: Option<ShipmentId>,
    /// The event that made it.
    pub created: Creation,
    /// The lots it was made from, each with the mass it gave.
    pub parents: Vec<LotLinkView>,
    /// The lots made from it, each with its mass when made.
    pub children: Vec<LotLinkView>,
    /// The current hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldInfo>,
    /// Every hold, the current one included, in order.
    pub holds: Vec<HoldInfo>,
    pub documents: Vec<DocumentInfo>,
    pub assays: Vec<AssayInfo>,
    /// Corrections of the events that touched the lot, in ledger order.
    pub corrections: Vec<CorrectionInfo>,
    pub origin: OriginView,
}

/// A lot's material, as written in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MaterialView {
    pub form: Form,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elements: Option<Vec<Element>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hs_code: Option<String>,
}

impl From<&Material> for MaterialView {
    fn from(m: &Material) -> Self {
        MaterialView { form: m.form, elements: m.elements.clone(), grade: m.grade.clone(), hs_code: m.hs_code.clone() }
    }
}

/// A parent or child of a lot, with the transformation that links them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LotLinkView {
    pub lot: LotId,
    /// For a parent, the mass it gave to the transformation; for a child, its mass when made.
    pub mass_g: u64,
    /// The `lot.transformed` event.
    pub event: Uuid,
    pub process: Option<Process>,
    pub site: SiteId,
    pub occurred_at: String,
}

/// Where a lot comes from: its share from each mine with the mine's country, and the countries of
/// each stage (its own and its ancestors').
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OriginView {
    /// By mine id; the shares sum to exactly 1,000,000 ppm.
    pub mines: Vec<MineShare>,
    pub stages: StageCountries,
}

/// One mine's share of a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MineShare {
    pub mine: SiteId,
    /// The mine's country (absent only if the mine is not in the state).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
    pub ppm: u32,
}

impl Views {
    /// The full view of a lot, or `None` if it does not exist. `state` is the state the views were
    /// derived with.
    pub fn lot(&self, state: &State, id: &str) -> Option<LotView> {
        let lot = state.lot(id)?;
        let (lot_id, record) = self.lots.get_key_value(id)?;
        let link = |l: &lode_domain::LotLink, made: &Creation| LotLinkView {
            lot: l.lot.clone(),
            mass_g: l.mass_g,
            event: l.event,
            process: made.process,
            site: made.site.clone(),
            occurred_at: made.event.occurred_at.clone(),
        };
        let parents = lot.parents.iter().map(|p| link(p, &record.created)).collect();
        let children =
            lot.children.iter().filter_map(|c| self.lots.get(&c.lot).map(|child| link(c, &child.created))).collect();
        let mut seen = BTreeSet::new();
        let corrections = record
            .events
            .iter()
            .filter(|e| seen.insert(**e))
            .filter_map(|e| self.corrections.get(e))
            .flatten()
            .cloned()
            .collect();
        let mines = record
            .origin
            .shares()
            .map(|(mine, ppm)| MineShare {
                mine: mine.clone(),
                country: state.site(mine.as_str()).map(|s| s.country),
                ppm,
            })
            .collect();
        Some(LotView {
            lot: lot_id.clone(),
            custodian: lot.custodian.clone(),
            site: lot.site.clone(),
            status: lot.status,
            mass_g: lot.mass_g,
            material: MaterialView::from(&lot.material),
            version: lot.version,
            shipment: lot.shipment.clone(),
            created: record.created.clone(),
            parents,
            children,
            hold: record.holds.iter().rev().find(|h| h.released.is_none()).cloned(),
            holds: record.holds.clone(),
            documents: record.documents.clone(),
            assays: record.assays.clone(),
            corrections,
            origin: OriginView { mines, stages: record.stages.clone() },
        })
    }
}
