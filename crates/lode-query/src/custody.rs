//! A lot's custody chain: every handover of the lot and of its ancestors, in order.

use lode_domain::{Country, LotId, PartyId, ShipmentId, ShippedLotStatus, SiteId, State};
use lode_projections::view::{DocumentInfo, EventRef, Rejected, Views};
use serde::Serialize;
use uuid::Uuid;

use crate::QueryError;

/// Every handover in a lot's history, in ledger order: its ancestors' before they went into the
/// transformations that led to it, then its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Custody {
    pub lot: LotId,
    pub handovers: Vec<Handover>,
    /// Whether the ancestry had more than [`lode_projections::view::LINEAGE_LOTS_MAX`] lots, so that
    /// some handovers are missing.
    pub truncated: bool,
}

/// One lot going from a shipper to a receiver on a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Handover {
    pub shipment: ShipmentId,
    /// The lot shipped: the chain's lot or one of its ancestors.
    pub lot: LotId,
    /// Where the lot is on this shipment now: in transit, received, or returned to the shipper.
    pub status: ShippedLotStatus,
    pub shipper: PartyId,
    pub from_site: SiteId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_country: Option<Country>,
    pub receiver: PartyId,
    pub to_site: SiteId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_country: Option<Country>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<PartyId>,
    /// The `custody.shipped`.
    pub shipped: EventRef,
    /// The `custody.received` of this lot, once received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<EventRef>,
    /// The `custody.rejected` that returned this lot to its shipper.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Rejected>,
    /// The lot's mass when shipped.
    pub shipped_g: u64,
    /// The weighed mass on receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_g: Option<u64>,
    /// Weighed minus shipped mass, once received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference_g: Option<i64>,
    /// The shipment's documents: listed when shipping, then attached, in ledger order.
    pub documents: Vec<DocumentInfo>,
}

/// The custody chain of a lot.
///
/// # Errors
/// [`QueryError::LotNotFound`] when no lot has this id.
pub fn custody(state: &State, views: &Views, lot: &str) -> Result<Custody, QueryError> {
    let chain = views.custody_chain(state, lot).ok_or_else(|| QueryError::LotNotFound { lot: lot.to_string() })?;
    let seq_of = |id: &Uuid| state.event(id).map_or(0, |e| e.seq);
    let country_of = |site: &SiteId| state.site(site.as_str()).map(|s| s.country);
    let handovers = chain
        .handovers
        .into_iter()
        .map(|h| {
            let status = state
                .shipment(h.shipment.as_str())
                .and_then(|s| s.lots.get(&h.lot))
                .map_or(ShippedLotStatus::InTransit, |l| l.status);
            let received = match (h.received_event, h.received_at) {
                (Some(event), Some(occurred_at)) => {
                    Some(EventRef { event, seq: seq_of(&event), actor: h.receiver.clone(), occurred_at })
                }
                _ => None,
            };
            Handover {
                status,
                from_country: country_of(&h.from_site),
                to_country: country_of(&h.to_site),
                shipped: EventRef {
                    event: h.shipped_event,
                    seq: seq_of(&h.shipped_event),
                    actor: h.shipper.clone(),
                    occurred_at: h.shipped_at,
                },
                received,
                difference_g: h.received_g.map(|r| difference(h.shipped_g, r)),
                shipment: h.shipment,
                lot: h.lot,
                shipper: h.shipper,
                from_site: h.from_site,
                receiver: h.receiver,
                to_site: h.to_site,
                carrier: h.carrier,
                rejected: h.rejected,
                shipped_g: h.shipped_g,
                received_g: h.received_g,
                documents: h.documents,
            }
        })
        .collect();
    Ok(Custody { lot: chain.lot, handovers, truncated: chain.truncated })
}

/// `received - shipped`; masses are at most 10^12 g, so the difference fits.
fn difference(shipped_g: u64, received_g: u64) -> i64 {
    let d = i128::from(received_g) - i128::from(shipped_g);
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}
