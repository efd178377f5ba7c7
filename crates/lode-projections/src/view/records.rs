//! What the views keep per lot, shipment, inventory row and corrected event, beside the rules' state.
//! The public parts are shown as they are in the views' answers.

use std::collections::BTreeMap;

use lode_domain::{CorrectionReason, DocumentKind, Form, LotId, PartyId, Process, ShipmentId, SiteId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::origin::{Origin, StageCountries};

/// An accepted event as the views refer to it: its id, its position in the ledger, who recorded it and
/// when it happened (`occurred_at` exactly as written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRef {
    pub event: Uuid,
    pub seq: u64,
    pub actor: PartyId,
    pub occurred_at: String,
}

/// How a lot was made: extracted at a mine (`process` absent) or made by a transformation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Creation {
    /// The `lot.extracted` or `lot.transformed` event.
    pub event: EventRef,
    /// The transformation's process; absent for an extracted lot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// The mine, or the transformation's site.
    pub site: SiteId,
    /// The extraction permit, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permit: Option<String>,
    /// The transformation's untraced additions, in grams (0 for an extracted lot).
    pub additions_g: u64,
    /// The transformation's process loss, in grams (0 for an extracted lot).
    pub loss_g: u64,
}

/// A document about a lot or a shipment: attached by `document.attached`, or listed when shipping
/// (then `event` is the `custody.shipped` and there is no issuer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentInfo {
    pub kind: DocumentKind,
    #[serde(rename = "ref")]
    pub reference: String,
    /// BLAKE3 hex of the document's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    pub event: EventRef,
}

/// A `lot.assayed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssayInfo {
    pub lab: PartyId,
    pub certificate: String,
    /// Oxide formula to parts per million of the lot's mass.
    pub oxides_ppm: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treo_ppm: Option<u32>,
    pub event: EventRef,
}

/// A hold on a lot: placed, and released unless it is the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldInfo {
    pub reason: String,
    pub placed: EventRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<Release>,
}

/// The end of a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub reason: String,
    pub event: EventRef,
}

/// An `event.corrected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrectionInfo {
    /// The corrected event.
    pub corrects: Uuid,
    pub reason: CorrectionReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The correction itself.
    pub event: EventRef,
}

/// The return of a lot to its shipper by `custody.rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejected {
    pub reason: String,
    pub event: EventRef,
}

/// What the views keep about a lot beside its [`lode_domain::LotState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LotRecord {
    pub(crate) created: Creation,
    pub(crate) origin: Origin,
    pub(crate) stages: StageCountries,
    /// The events that touched the lot (those that counted for its version), in ledger order.
    pub(crate) events: Vec<Uuid>,
    /// The shipments the lot went on, in ledger order.
    pub(crate) shipments: Vec<ShipmentId>,
    pub(crate) documents: Vec<DocumentInfo>,
    pub(crate) assays: Vec<AssayInfo>,
    pub(crate) holds: Vec<HoldInfo>,
    /// Where the lot counts in the inventory now: absent when closed.
    pub(crate) counted: Option<Counted>,
}

/// A lot's place in the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Counted {
    pub(crate) party: PartyId,
    pub(crate) site: SiteId,
    pub(crate) form: Form,
    pub(crate) in_transit: bool,
    pub(crate) mass_g: u64,
}

/// What the views keep about a shipment beside its [`lode_domain::ShipmentState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShipmentRecord {
    pub(crate) shipped: EventRef,
    /// Listed when shipping, then attached, in ledger order.
    pub(crate) documents: Vec<DocumentInfo>,
    pub(crate) lots: BTreeMap<LotId, Passage>,
}

/// How one lot of a shipment ended its journey.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Passage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) received: Option<EventRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rejected: Option<Rejected>,
}

/// The totals of one inventory row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InventoryTotals {
    pub(crate) active_g: u128,
    pub(crate) active_lots: u64,
    pub(crate) in_transit_g: u128,
    pub(crate) in_transit_lots: u64,
}

impl InventoryTotals {
    pub(crate) fn is_zero(&self) -> bool {
        *self == InventoryTotals::default()
    }
}
