//! Traces: a lot's ancestors down to the mines, with its origin and stages, and its descendants.

use std::collections::{BTreeMap, HashMap, VecDeque};

use lode_domain::{Country, Form, LotId, LotStatus, PartyId, Process, ShipmentId, SiteId, Stage, State};
use lode_projections::view::{LotView, Views};
use serde::Serialize;
use uuid::Uuid;

use crate::{Limits, QueryError};

/// A lot of a trace, as it is now, with how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TracedLot {
    pub lot: LotId,
    pub form: Form,
    pub status: LotStatus,
    /// Remaining mass in grams.
    pub mass_g: u64,
    /// The party holding it; while in transit, still the shipper.
    pub custodian: PartyId,
    /// Where it is; while in transit, still the shipment's `from_site`.
    pub site: SiteId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_country: Option<Country>,
    /// The shipment it is in transit on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment: Option<ShipmentId>,
    /// The receiver of that shipment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_transit_to: Option<PartyId>,
    /// For a lot extracted at a mine, the mine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mine: Option<SiteId>,
    pub made: Making,
    /// The stage its making recorded, in `made.country`: mining for a lot extracted at a mine, or
    /// the stage of a transformation whose outputs changed form (`docs/vocabulary.md`, Stages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// The most transformations between it and the traced lot (0 for the traced lot).
    pub generation: u32,
}

/// The event that made a lot: its extraction at a mine or a transformation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Making {
    /// The transformation's process; absent for a lot extracted at a mine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// The mine, or the transformation's site.
    pub site: SiteId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
    /// `occurred_at` exactly as written.
    pub occurred_at: String,
    pub event: Uuid,
    pub seq: u64,
    pub actor: PartyId,
}

/// A transformation from a parent lot into a child lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TraceEdge {
    pub parent: LotId,
    pub child: LotId,
    /// The transformation's process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    pub site: SiteId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
    /// `occurred_at` of the `lot.transformed`, exactly as written.
    pub occurred_at: String,
    /// The `lot.transformed` event.
    pub event: Uuid,
    pub seq: u64,
    /// The mass the parent gave to the transformation.
    pub input_g: u64,
    /// The child's mass when made.
    pub output_g: u64,
}

/// One mine's share of the traced lot, with the extracted lots of the trace that came from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MineOrigin {
    pub mine: SiteId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
    /// Parts per million of the lot's mass; the shares of all mines sum to 1,000,000.
    pub ppm: u32,
    /// The lots of the trace extracted at this mine.
    pub lots: Vec<LotId>,
}

/// One country's share of a lot: the sum of the shares of its mines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CountryShare {
    pub country: Country,
    pub ppm: u32,
}

/// The countries where one stage happened to a lot or its ancestors; empty when it happened nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StageCountriesRow {
    pub stage: Stage,
    pub countries: Vec<Country>,
}

/// A lot traced back to the mines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TraceBack {
    pub lot: LotId,
    /// The lot and its ancestors: by generation, then by id. The lot comes first.
    pub lots: Vec<TracedLot>,
    /// The transformations between them, in ledger order.
    pub edges: Vec<TraceEdge>,
    /// The lot's origin by mine (from the projections, rounded at every transformation), by mine id.
    pub origin: Vec<MineOrigin>,
    /// The lot's origin by country of the mines, by country code.
    pub countries: Vec<CountryShare>,
    /// The four stages, in order: mining, separation, metal, magnet.
    pub stages: Vec<StageCountriesRow>,
    /// The most transformations between the lot and a mine.
    pub generations: u32,
    /// Whether the ancestry had more than `lots_max` lots, so that some are missing.
    pub truncated: bool,
    pub lots_max: usize,
}

/// A lot traced forward: everything made from it, where it is and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TraceForward {
    pub lot: LotId,
    /// The lot and its descendants: by generation, then by id. The lot comes first.
    pub lots: Vec<TracedLot>,
    /// The transformations between them, in ledger order.
    pub edges: Vec<TraceEdge>,
    /// The most transformations between the lot and a descendant.
    pub generations: u32,
    /// Whether the descendants were more than `lots_max` lots, so that some are missing.
    pub truncated: bool,
    pub lots_max: usize,
}

/// Traces a lot back to the extracted lots at the mines.
///
/// # Errors
/// [`QueryError::LotNotFound`] when no lot has this id.
pub fn trace_back(state: &State, views: &Views, lot: &str, limits: &Limits) -> Result<TraceBack, QueryError> {
    let graph = walk(state, views, lot, Direction::Up, limits.trace_lots_max)?;
    let root = &graph.views[0];
    let mut mine_lots: BTreeMap<&SiteId, Vec<LotId>> = BTreeMap::new();
    for view in &graph.views {
        if view.created.process.is_none() && view.parents.is_empty() {
            mine_lots.entry(&view.created.site).or_default().push(view.lot.clone());
        }
    }
    let origin: Vec<MineOrigin> = root
        .origin
        .mines
        .iter()
        .map(|m| MineOrigin {
            mine: m.mine.clone(),
            country: m.country,
            ppm: m.ppm,
            lots: mine_lots.get(&m.mine).cloned().unwrap_or_default(),
        })
        .collect();
    let mut countries: BTreeMap<Country, u32> = BTreeMap::new();
    for m in &origin {
        if let Some(country) = m.country {
            *countries.entry(country).or_default() += m.ppm;
        }
    }
    let stages = Stage::ALL
        .iter()
        .map(|&stage| StageCountriesRow { stage, countries: root.origin.stages.countries(stage).collect() })
        .collect();
    let (lots, edges, generations) = graph.finish(state);
    Ok(TraceBack {
        lot: lots[0].lot.clone(),
        lots,
        edges,
        origin,
        countries: countries.into_iter().map(|(country, ppm)| CountryShare { country, ppm }).collect(),
        stages,
        generations,
        truncated: graph.truncated,
        lots_max: limits.trace_lots_max,
    })
}

/// Traces a lot forward to everything made from it, for a recall.
///
/// # Errors
/// [`QueryError::LotNotFound`] when no lot has this id.
pub fn trace_forward(state: &State, views: &Views, lot: &str, limits: &Limits) -> Result<TraceForward, QueryError> {
    let graph = walk(state, views, lot, Direction::Down, limits.trace_lots_max)?;
    let truncated = graph.truncated;
    let (lots, edges, generations) = graph.finish(state);
    Ok(TraceForward { lot: lots[0].lot.clone(), lots, edges, generations, truncated, lots_max: limits.trace_lots_max })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Through parents.
    Up,
    /// Through children.
    Down,
}

/// The lots reached from one lot in one direction and the transformations between them.
#[derive(Debug)]
struct Graph {
    direction: Direction,
    /// In the order they were reached (breadth first); the lot itself first.
    views: Vec<LotView>,
    edges: Vec<TraceEdge>,
    truncated: bool,
}

/// Walks from `lot` through parents or children, breadth first, visiting at most `lots_max` lots.
fn walk(state: &State, views: &Views, lot: &str, direction: Direction, lots_max: usize) -> Result<Graph, QueryError> {
    let root = views.lot(state, lot).ok_or_else(|| QueryError::LotNotFound { lot: lot.to_string() })?;
    let mut index: HashMap<LotId, usize> = HashMap::from([(root.lot.clone(), 0)]);
    let mut graph = Graph { direction, views: vec![root], edges: Vec::new(), truncated: false };
    let mut queue = VecDeque::from([0usize]);
    while let Some(i) = queue.pop_front() {
        let id = graph.views[i].lot.clone();
        let Some(lot_state) = state.lot(id.as_str()) else {
            continue;
        };
        let links = match direction {
            Direction::Up => &lot_state.parents,
            Direction::Down => &lot_state.children,
        };
        for link in links {
            let j = match index.get(&link.lot) {
                Some(&j) => j,
                None if graph.views.len() >= lots_max.max(1) => {
                    graph.truncated = true;
                    continue;
                }
                None => {
                    let Some(view) = views.lot(state, link.lot.as_str()) else {
                        continue;
                    };
                    let j = graph.views.len();
                    graph.views.push(view);
                    index.insert(link.lot.clone(), j);
                    queue.push_back(j);
                    j
                }
            };
            let (parent, child) = match direction {
                Direction::Up => (j, i),
                Direction::Down => (i, j),
            };
            if let Some(edge) = edge(state, &graph.views[parent], &graph.views[child], link.event) {
                graph.edges.push(edge);
            }
        }
    }
    graph.edges.sort_by(|a, b| (a.seq, &a.parent, &a.child).cmp(&(b.seq, &b.parent, &b.child)));
    Ok(graph)
}

/// The transformation `event` from `parent` into `child`, with the masses the two lots' links record.
fn edge(state: &State, parent: &LotView, child: &LotView, event: Uuid) -> Option<TraceEdge> {
    let input_g = child.parents.iter().find(|l| l.lot == parent.lot && l.event == event)?.mass_g;
    let output_g =
        state.lot(parent.lot.as_str())?.children.iter().find(|l| l.lot == child.lot && l.event == event)?.mass_g;
    let made = &child.created;
    Some(TraceEdge {
        parent: parent.lot.clone(),
        child: child.lot.clone(),
        process: made.process,
        site: made.site.clone(),
        country: state.site(made.site.as_str()).map(|s| s.country),
        occurred_at: made.event.occurred_at.clone(),
        event,
        seq: made.event.seq,
        input_g,
        output_g,
    })
}

impl Graph {
    /// The lots with their generations, by generation then id, the edges, and the most generations.
    fn finish(&self, state: &State) -> (Vec<TracedLot>, Vec<TraceEdge>, u32) {
        let generations = self.generations();
        let mut lots: Vec<TracedLot> =
            self.views.iter().zip(&generations).map(|(view, &generation)| traced(state, view, generation)).collect();
        // The lot itself stays first.
        lots[1..].sort_by(|a, b| (a.generation, &a.lot).cmp(&(b.generation, &b.lot)));
        let most = generations.iter().copied().max().unwrap_or(0);
        (lots, self.edges.clone(), most)
    }

    /// For each lot, the most transformations between it and the lot the walk started from.
    fn generations(&self) -> Vec<u32> {
        let index: HashMap<&LotId, usize> = self.views.iter().enumerate().map(|(i, v)| (&v.lot, i)).collect();
        let mut generation = vec![0u32; self.views.len()];
        // A child is always made after its parents: going through the edges from the walk's start
        // outwards (newest first upwards, oldest first downwards), each lot's generation is final
        // before it is passed on.
        let mut edges: Vec<&TraceEdge> = self.edges.iter().collect();
        if self.direction == Direction::Up {
            edges.reverse();
        }
        for e in edges {
            let (Some(&p), Some(&c)) = (index.get(&e.parent), index.get(&e.child)) else {
                continue;
            };
            let (from, to) = match self.direction {
                Direction::Up => (c, p),
                Direction::Down => (p, c),
            };
            generation[to] = generation[to].max(generation[from] + 1);
        }
        generation
    }
}

fn traced(state: &State, view: &LotView, generation: u32) -> TracedLot {
    let made = &view.created;
    TracedLot {
        lot: view.lot.clone(),
        form: view.material.form,
        status: view.status,
        mass_g: view.mass_g,
        custodian: view.custodian.clone(),
        site: view.site.clone(),
        site_country: state.site(view.site.as_str()).map(|s| s.country),
        shipment: view.shipment.clone(),
        in_transit_to: view
            .shipment
            .as_ref()
            .filter(|_| view.status == LotStatus::InTransit)
            .and_then(|s| state.shipment(s.as_str()))
            .map(|s| s.to_party.clone()),
        mine: state.lot(view.lot.as_str()).and_then(|l| l.mine.clone()),
        made: Making {
            process: made.process,
            site: made.site.clone(),
            country: state.site(made.site.as_str()).map(|s| s.country),
            occurred_at: made.event.occurred_at.clone(),
            event: made.event.event,
            seq: made.event.seq,
            actor: made.event.actor.clone(),
        },
        stage: state.lot(view.lot.as_str()).and_then(|l| l.stage).map(|s| s.stage),
        generation,
    }
}
