//! A lot's custody chain: every handover of the lot and of its ancestors up to its making.

use std::collections::{BTreeMap, VecDeque};

use lode_domain::{LotId, PartyId, ShipmentId, SiteId, State};
use serde::Serialize;
use uuid::Uuid;

use super::records::{DocumentInfo, Rejected};
use super::{Views, LINEAGE_LOTS_MAX};

/// Every handover in a lot's history, in ledger order: the lot's own, and its ancestors' before they
/// went into the transformations that led to it (an output's chain is its inputs' chains, then its
/// own later handovers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CustodyChain {
    pub lot: LotId,
    pub handovers: Vec<Handover>,
    /// Whether the ancestry had more than [`LINEAGE_LOTS_MAX`] lots, so that some handovers are missing.
    pub truncated: bool,
}

/// One lot going from a shipper to a receiver on a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Handover {
    pub shipment: ShipmentId,
    /// The lot shipped: the chain's lot or one of its ancestors.
    pub lot: LotId,
    pub shipper: PartyId,
    pub from_site: SiteId,
    pub receiver: PartyId,
    pub to_site: SiteId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<PartyId>,
    /// `occurred_at` of the `custody.shipped`.
    pub shipped_at: String,
    pub shipped_event: Uuid,
    /// `occurred_at` of the `custody.received` of this lot, once received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_event: Option<Uuid>,
    /// The lot's mass when shipped.
    pub shipped_g: u64,
    /// The weighed mass on receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_g: Option<u64>,
    /// Set when the receiver rejected the shipment while this lot was in transit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Rejected>,
    /// The shipment's documents: listed when shipping, then attached.
    pub documents: Vec<DocumentInfo>,
}

impl Views {
    /// The lot and its ancestors, each with the position before which its handovers belong to the
    /// lot's chain (for the lot itself, all of them), and whether [`LINEAGE_LOTS_MAX`] cut it short.
    pub(crate) fn ancestry(&self, state: &State, lot: &LotId) -> (BTreeMap<LotId, u64>, bool) {
        let mut cutoff = BTreeMap::from([(lot.clone(), u64::MAX)]);
        let mut queue = VecDeque::from([lot.clone()]);
        let mut truncated = false;
        while let Some(id) = queue.pop_front() {
            let (Some(state_lot), Some(record)) = (state.lot(id.as_str()), self.lots.get(&id)) else {
                continue;
            };
            // A parent's handovers count up to the transformation that made this lot; a parent reached
            // along several paths counts up to the latest.
            let made_at = record.created.event.seq;
            for parent in &state_lot.parents {
                let full = cutoff.len() >= LINEAGE_LOTS_MAX;
                match cutoff.get_mut(&parent.lot) {
                    Some(c) => *c = (*c).max(made_at),
                    None if full => truncated = true,
                    None => {
                        cutoff.insert(parent.lot.clone(), made_at);
                        queue.push_back(parent.lot.clone());
                    }
                }
            }
        }
        (cutoff, truncated)
    }

    /// The custody chain of a lot, or `None` if it does not exist.
    pub fn custody_chain(&self, state: &State, id: &str) -> Option<CustodyChain> {
        let (lot, _) = self.lots.get_key_value(id)?;
        state.lot(id)?;
        let (ancestry, truncated) = self.ancestry(state, lot);
        let mut handovers: Vec<(u64, Handover)> = Vec::new();
        for (ancestor, cutoff) in &ancestry {
            let Some(record) = self.lots.get(ancestor) else {
                continue;
            };
            for shipment_id in &record.shipments {
                let (Some(shipment), Some(view)) =
                    (state.shipment(shipment_id.as_str()), self.shipments.get(shipment_id))
                else {
                    continue;
                };
                if view.shipped.seq >= *cutoff {
                    continue;
                }
                let (Some(shipped), Some(passage)) = (shipment.lots.get(ancestor), view.lots.get(ancestor)) else {
                    continue;
                };
                handovers.push((
                    view.shipped.seq,
                    Handover {
                        shipment: shipment_id.clone(),
                        lot: ancestor.clone(),
                        shipper: shipment.shipper.clone(),
                        from_site: shipment.from_site.clone(),
                        receiver: shipment.to_party.clone(),
                        to_site: shipment.to_site.clone(),
                        carrier: shipment.carrier.clone(),
                        shipped_at: view.shipped.occurred_at.clone(),
                        shipped_event: view.shipped.event,
                        received_at: passage.received.as_ref().map(|r| r.occurred_at.clone()),
                        received_event: passage.received.as_ref().map(|r| r.event),
                        shipped_g: shipped.shipped_g,
                        received_g: shipped.received_g,
                        rejected: passage.rejected.clone(),
                        documents: view.documents.clone(),
                    },
                ));
            }
        }
        handovers.sort_by(|a, b| (a.0, &a.1.lot).cmp(&(b.0, &b.1.lot)));
        Some(CustodyChain { lot: lot.clone(), handovers: handovers.into_iter().map(|(_, h)| h).collect(), truncated })
    }
}
