//! A lot's lineage graph: the lots it was made from and made into, with the transformations between.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use lode_domain::{Form, LotId, LotStatus, PartyId, Process, SiteId, State};
use serde::Serialize;
use uuid::Uuid;

use super::{Views, LINEAGE_LOTS_MAX};

/// The ancestors and descendants of a lot, and the transformations linking them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Lineage {
    pub lot: LotId,
    /// The lot, its ancestors and its descendants, by id.
    pub lots: Vec<LineageNode>,
    /// Parent to child, in ledger order of the transformations.
    pub edges: Vec<LineageEdge>,
    /// Whether the graph had more than [`LINEAGE_LOTS_MAX`] lots and was cut short.
    pub truncated: bool,
}

/// A lot of a lineage graph, as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LineageNode {
    pub lot: LotId,
    pub form: Form,
    pub status: LotStatus,
    pub mass_g: u64,
    pub custodian: PartyId,
    pub site: SiteId,
}

/// A transformation from a parent lot into a child lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LineageEdge {
    pub parent: LotId,
    pub child: LotId,
    /// The `lot.transformed` event.
    pub event: Uuid,
    pub process: Option<Process>,
    pub site: SiteId,
    pub occurred_at: String,
    /// The mass the parent gave to the transformation.
    pub input_g: u64,
    /// The child's mass when made.
    pub output_g: u64,
}

impl Views {
    /// The lineage graph of a lot, or `None` if it does not exist.
    pub fn lineage(&self, state: &State, id: &str) -> Option<Lineage> {
        let (lot, _) = self.lots.get_key_value(id)?;
        state.lot(id)?;
        let mut nodes: BTreeSet<LotId> = BTreeSet::from([lot.clone()]);
        let mut truncated = false;
        let mut edges: BTreeMap<(u64, LotId, LotId), LineageEdge> = BTreeMap::new();
        // Upwards through parents, then downwards through children, from the lot.
        for upwards in [true, false] {
            let mut queue = VecDeque::from([lot.clone()]);
            let mut seen = BTreeSet::from([lot.clone()]);
            while let Some(x) = queue.pop_front() {
                let Some(state_lot) = state.lot(x.as_str()) else {
                    continue;
                };
                let links = if upwards { &state_lot.parents } else { &state_lot.children };
                for link in links {
                    if !nodes.contains(&link.lot) && nodes.len() >= LINEAGE_LOTS_MAX {
                        truncated = true;
                        continue;
                    }
                    let (parent, child) = if upwards { (&link.lot, &x) } else { (&x, &link.lot) };
                    if let Some(edge) = self.edge(state, parent, child, link.event) {
                        edges.insert((self.made_at(child), parent.clone(), child.clone()), edge);
                    }
                    nodes.insert(link.lot.clone());
                    if seen.insert(link.lot.clone()) {
                        queue.push_back(link.lot.clone());
                    }
                }
            }
        }
        let lots = nodes
            .iter()
            .filter_map(|id| {
                let l = state.lot(id.as_str())?;
                Some(LineageNode {
                    lot: id.clone(),
                    form: l.material.form,
                    status: l.status,
                    mass_g: l.mass_g,
                    custodian: l.custodian.clone(),
                    site: l.site.clone(),
                })
            })
            .collect();
        Some(Lineage { lot: lot.clone(), lots, edges: edges.into_values().collect(), truncated })
    }

    fn made_at(&self, lot: &LotId) -> u64 {
        self.lots.get(lot).map_or(u64::MAX, |r| r.created.event.seq)
    }

    fn edge(&self, state: &State, parent: &LotId, child: &LotId, event: Uuid) -> Option<LineageEdge> {
        let made = &self.lots.get(child)?.created;
        let input_g = state.lot(child.as_str())?.parents.iter().find(|l| &l.lot == parent && l.event == event)?.mass_g;
        let output_g =
            state.lot(parent.as_str())?.children.iter().find(|l| &l.lot == child && l.event == event)?.mass_g;
        Some(LineageEdge {
            parent: parent.clone(),
            child: child.clone(),
            event,
            process: made.process,
            site: made.site.clone(),
            occurred_at: made.event.occurred_at.clone(),
            input_g,
            output_g,
        })
    }
}
