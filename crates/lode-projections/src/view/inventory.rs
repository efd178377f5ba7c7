//! Inventory by party, site and form, and the ledger's mass balance.

use lode_domain::{Form, PartyId, SiteId, State};
use serde::Serialize;

use super::Views;

/// Which inventory rows to return: those matching every filter given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryFilter {
    pub party: Option<PartyId>,
    pub site: Option<SiteId>,
    pub form: Option<Form>,
}

/// The lots one party holds at one site in one form. Lots in transit count for their shipper and the
/// shipment's `from_site`, as the state has them; closed lots do not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct InventoryRow {
    pub party: PartyId,
    pub site: SiteId,
    pub form: Form,
    pub active_g: u128,
    pub active_lots: u64,
    pub in_transit_g: u128,
    pub in_transit_lots: u64,
}

/// Where all the mass that entered the ledger is, in grams: what entered (extracted, added, adjusted
/// up, gained in transit) equals what is held (active, in transit) plus what left (consumed, lost in
/// processing, adjusted down, lost in transit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MassBalance {
    pub extracted_g: u128,
    pub additions_g: u128,
    pub adjusted_up_g: u128,
    pub transit_gain_g: u128,
    pub active_g: u128,
    pub in_transit_g: u128,
    pub consumed_g: u128,
    pub loss_g: u128,
    pub adjusted_down_g: u128,
    pub transit_loss_g: u128,
}

impl MassBalance {
    /// Everything that entered the ledger.
    pub fn entered_g(&self) -> u128 {
        self.extracted_g + self.additions_g + self.adjusted_up_g + self.transit_gain_g
    }

    /// Everything held or gone.
    pub fn accounted_g(&self) -> u128 {
        self.active_g + self.in_transit_g + self.consumed_g + self.loss_g + self.adjusted_down_g + self.transit_loss_g
    }

    /// Whether mass is conserved.
    pub fn is_balanced(&self) -> bool {
        self.entered_g() == self.accounted_g()
    }
}

impl Views {
    /// The inventory rows matching `filter`, ordered by party, site and form (in the vocabulary's order).
    pub fn inventory(&self, filter: &InventoryFilter) -> Vec<InventoryRow> {
        self.inventory
            .iter()
            .filter(|((party, site, form), _)| {
                filter.party.as_ref().is_none_or(|p| p == party)
                    && filter.site.as_ref().is_none_or(|s| s == site)
                    && filter.form.is_none_or(|f| f == *form)
            })
            .map(|((party, site, form), t)| InventoryRow {
                party: party.clone(),
                site: site.clone(),
                form: *form,
                active_g: t.active_g,
                active_lots: t.active_lots,
                in_transit_g: t.in_transit_g,
                in_transit_lots: t.in_transit_lots,
            })
            .collect()
    }

    /// The ledger's mass balance: the state's running totals beside the inventory's holdings.
    pub fn mass_balance(&self, state: &State) -> MassBalance {
        let totals = state.totals();
        let (active_g, in_transit_g) =
            self.inventory.values().fold((0, 0), |(a, t), row| (a + row.active_g, t + row.in_transit_g));
        MassBalance {
            extracted_g: totals.extracted_g,
            additions_g: totals.additions_g,
            adjusted_up_g: totals.adjusted_up_g,
            transit_gain_g: totals.transit_gain_g,
            active_g,
            in_transit_g,
            consumed_g: totals.consumed_g,
            loss_g: totals.loss_g,
            adjusted_down_g: totals.adjusted_down_g,
            transit_loss_g: totals.transit_loss_g,
        }
    }
}
