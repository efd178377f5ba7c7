//! Lots by custodian, material form, status and site.

use lode_domain::{Form, LotId, LotStatus, PartyId, ShipmentId, SiteId, State};
use serde::Serialize;

/// Which lots to list: those matching every filter given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LotFilter {
    /// Held by this party (while in transit, the shipper).
    pub party: Option<PartyId>,
    pub form: Option<Form>,
    pub status: Option<LotStatus>,
    pub site: Option<SiteId>,
}

/// A lot as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LotRow {
    pub lot: LotId,
    pub form: Form,
    pub status: LotStatus,
    /// Remaining mass in grams.
    pub mass_g: u64,
    pub custodian: PartyId,
    pub site: SiteId,
    /// The shipment it is in transit on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment: Option<ShipmentId>,
    /// Whether a hold is on it.
    pub on_hold: bool,
}

/// The lots matching a filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LotList {
    /// By lot id.
    pub lots: Vec<LotRow>,
    /// Whether more than `lots_max` lots matched, so that some are missing.
    pub truncated: bool,
    pub lots_max: usize,
}

/// The lots matching `filter`, by id, at most `lots_max` of them.
pub fn lots(state: &State, filter: &LotFilter, lots_max: usize) -> LotList {
    let mut matching = state.lots().filter(|(_, l)| {
        filter.party.as_ref().is_none_or(|p| p == &l.custodian)
            && filter.form.is_none_or(|f| f == l.material.form)
            && filter.status.is_none_or(|s| s == l.status)
            && filter.site.as_ref().is_none_or(|s| s == &l.site)
    });
    let lots: Vec<LotRow> = matching
        .by_ref()
        .take(lots_max)
        .map(|(id, l)| LotRow {
            lot: id.clone(),
            form: l.material.form,
            status: l.status,
            mass_g: l.mass_g,
            custodian: l.custodian.clone(),
            site: l.site.clone(),
            shipment: l.shipment.clone(),
            on_hold: l.hold.is_some(),
        })
        .collect();
    let truncated = matching.next().is_some();
    LotList { lots, truncated, lots_max }
}
