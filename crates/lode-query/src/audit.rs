//! A lot's audit: origin, stage countries against a covered-country list, custody, and findings over
//! the lot and its ancestors, each with the event that caused it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use chrono::{DateTime, FixedOffset};
use lode_domain::{
    transit_difference_is_finding, CorrectionReason, Country, DocumentKind, Envelope, Event, Form, HoldTarget, LotId,
    LotStatus, PartyId, Process, ShipmentId, SiteId, Stage, State,
};
use lode_projections::view::{EventRef, LotView, MineShare, Release, StageCountries, Views};
use lode_store::{Reader, Record};
use serde::Serialize;
use uuid::Uuid;

use crate::custody::{custody, Handover};
use crate::trace::CountryShare;
use crate::{render, QueryError, TRACE_LOTS_MAX};

/// The covered countries when none are given: China, Russia, North Korea and Iran, as in DFARS
/// 252.225-7052 from 2027.
pub const DEFAULT_COVERED_COUNTRIES: [&str; 4] = ["CN", "RU", "KP", "IR"];

/// What an audit checks against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOptions {
    /// A stage that happened in one of these countries makes the verdict `covered`.
    pub covered: BTreeSet<Country>,
    /// Process losses above these are findings.
    pub loss_thresholds: LossThresholds,
    /// The most lots the audit examines, the lot itself included.
    pub trace_lots_max: usize,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            covered: DEFAULT_COVERED_COUNTRIES
                .iter()
                .map(|c| Country::parse(c).expect("the default covered countries are country codes"))
                .collect(),
            loss_thresholds: LossThresholds::default(),
            trace_lots_max: TRACE_LOTS_MAX,
        }
    }
}

/// The process loss of a transformation above which it is a finding, per process, in parts per
/// thousand of what went in (its traced inputs and untraced additions). See `docs/vocabulary.md`,
/// Findings, for the defaults and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LossThresholds(BTreeMap<Process, u64>);

impl LossThresholds {
    /// The defaults, in parts per thousand: a separation discards gangue and off-grade material; a
    /// calcination drives off carbon dioxide and water; a reduction takes the oxygen out of the oxide
    /// (NdPr oxide is about 86% metal); magnet making grinds and machines; splits, blends and repacks
    /// only handle the material.
    pub const DEFAULTS: [(Process, u64); 10] = [
        (Process::Separation, 50),
        (Process::Refining, 20),
        (Process::Calcination, 400),
        (Process::Reduction, 200),
        (Process::Alloying, 20),
        (Process::MagnetMaking, 100),
        (Process::Split, 5),
        (Process::Blend, 5),
        (Process::Repack, 5),
        (Process::Other, 20),
    ];

    /// The threshold of a process, in parts per thousand; a process without one uses `other`'s.
    pub fn per_mille(&self, process: Process) -> u64 {
        self.0.get(&process).or_else(|| self.0.get(&Process::Other)).copied().unwrap_or(20)
    }

    /// Sets the threshold of a process, in parts per thousand.
    pub fn set(&mut self, process: Process, per_mille: u64) {
        self.0.insert(process, per_mille);
    }

    /// Whether losing `loss_g` of `input_g` is over the process's threshold: `loss × 1000 > input ×
    /// threshold`, on integers.
    pub fn exceeded(&self, process: Process, input_g: u64, loss_g: u64) -> bool {
        u128::from(loss_g) * 1000 > u128::from(input_g) * u128::from(self.per_mille(process))
    }
}

impl Default for LossThresholds {
    fn default() -> Self {
        LossThresholds(Self::DEFAULTS.into_iter().collect())
    }
}

/// Whether a stage happened in a covered country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// It happened, and in no covered country.
    Clear,
    /// It happened in at least one covered country.
    Covered,
    /// It has not happened to the lot or its ancestors (an oxide lot has no metal stage).
    NotReached,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clear => "clear",
            Verdict::Covered => "covered",
            Verdict::NotReached => "not_reached",
        }
    }
}

/// One stage of a lot with its countries and those of them on the covered list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StageVerdict {
    pub stage: Stage,
    pub countries: Vec<Country>,
    pub covered: Vec<Country>,
    pub verdict: Verdict,
}

/// The target of a hold: `{"lot": …}` or `{"party": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Held {
    Lot(LotId),
    Party(PartyId),
}

/// What an audit found, with its details. Serialized with its code as `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// A lot weighed on receipt more than 0.5% off its shipped mass. The event is the receipt.
    TransitDifference { shipment: ShipmentId, shipped_g: u64, received_g: u64, difference_g: i64 },
    /// A transformation lost more than its process's threshold. The event is the transformation.
    ProcessLoss {
        process: Process,
        /// Traced inputs and untraced additions.
        input_g: u64,
        loss_g: u64,
        threshold_per_mille: u64,
    },
    /// A `lot.adjusted`.
    Adjustment { delta_g: i64, reason: String },
    /// An `event.corrected` of an event of the lot's history (or of such a correction).
    Correction {
        corrected_event: Uuid,
        corrected_seq: u64,
        corrected_type: String,
        reason: CorrectionReason,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A `hold.placed` on a lot of the history or on a party that took part in it (as custodian,
    /// shipper, receiver or carrier), with its release if there was one.
    Hold {
        target: Held,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        released: Option<Release>,
    },
    /// A shipment without a bill of lading or a certificate of origin, listed when shipping or
    /// attached later. The event is the shipment.
    MissingDocument { shipment: ShipmentId, missing: Vec<DocumentKind> },
    /// A custody event of a lot that happened, by its `occurred_at`, before the one recorded before it
    /// along the lot's custody chain.
    TimeBackwards { previous_event: Uuid, previous_seq: u64, previous_occurred_at: String },
}

impl FindingKind {
    /// The finding's stable code, as in `docs/vocabulary.md`.
    pub fn code(&self) -> &'static str {
        match self {
            FindingKind::TransitDifference { .. } => "transit_difference",
            FindingKind::ProcessLoss { .. } => "process_loss",
            FindingKind::Adjustment { .. } => "adjustment",
            FindingKind::Correction { .. } => "correction",
            FindingKind::Hold { .. } => "hold",
            FindingKind::MissingDocument { .. } => "missing_document",
            FindingKind::TimeBackwards { .. } => "time_backwards",
        }
    }

    /// Every code, in the order of the vocabulary's list of findings.
    pub const CODES: [&'static str; 7] = [
        "transit_difference",
        "process_loss",
        "adjustment",
        "correction",
        "hold",
        "missing_document",
        "time_backwards",
    ];

    fn rank(&self) -> usize {
        Self::CODES.iter().position(|c| *c == self.code()).unwrap_or(Self::CODES.len())
    }
}

/// A finding and the event that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    #[serde(flatten)]
    pub kind: FindingKind,
    /// The lot of the history it is about: the audited lot or an ancestor. Absent for a hold on a party.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot: Option<LotId>,
    pub event: Uuid,
    pub seq: u64,
    pub actor: PartyId,
    /// `occurred_at` of the event, exactly as written.
    pub occurred_at: String,
}

impl Finding {
    /// The finding's stable code.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// What was found, in a sentence for people.
    pub fn message(&self) -> String {
        match &self.kind {
            FindingKind::TransitDifference { shipment, shipped_g, received_g, difference_g } => format!(
                "{shipment}: shipped {}, weighed {} ({}, {})",
                render::mass(*shipped_g),
                render::mass(*received_g),
                render::signed_mass(i128::from(*difference_g)),
                render::percent(i128::from(*difference_g), u128::from(*shipped_g)),
            ),
            FindingKind::ProcessLoss { process, input_g, loss_g, threshold_per_mille } => format!(
                "{process} lost {} of {} ({}; threshold {threshold_per_mille}‰)",
                render::mass(*loss_g),
                render::mass(*input_g),
                render::percent(i128::from(*loss_g), u128::from(*input_g)),
            ),
            FindingKind::Adjustment { delta_g, reason } => {
                format!("adjusted by {}: {reason}", render::signed_mass(i128::from(*delta_g)))
            }
            FindingKind::Correction { corrected_type, corrected_seq, reason, note, .. } => {
                let mut s = format!("corrects {corrected_type} #{corrected_seq} ({reason})");
                if let Some(note) = note {
                    s.push_str(": ");
                    s.push_str(note);
                }
                s
            }
            FindingKind::Hold { target, reason, released } => {
                let target = match target {
                    Held::Lot(lot) => format!("lot {lot}"),
                    Held::Party(party) => format!("party {party}"),
                };
                match released {
                    Some(r) => format!("hold on {target}: {reason}; released #{} ({})", r.event.seq, r.reason),
                    None => format!("hold on {target}: {reason}; still in place"),
                }
            }
            FindingKind::MissingDocument { shipment, missing } => {
                let kinds: Vec<&str> = missing.iter().map(|k| k.as_str()).collect();
                format!("{shipment} has no {}", kinds.join(" and no "))
            }
            FindingKind::TimeBackwards { previous_seq, previous_occurred_at, .. } => format!(
                "occurred at {}, before #{previous_seq} recorded earlier at {previous_occurred_at}",
                self.occurred_at
            ),
        }
    }
}

/// The answers of a lot's audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Audit {
    pub lot: LotId,
    pub form: Form,
    pub status: LotStatus,
    pub mass_g: u64,
    pub custodian: PartyId,
    pub site: SiteId,
    /// The share of each mine, by mine id; they sum to 1,000,000 ppm.
    pub origin: Vec<MineShare>,
    /// The share of each country of the mines, by country code.
    pub countries: Vec<CountryShare>,
    /// The covered countries the stages were checked against, in code order.
    pub covered_countries: Vec<Country>,
    /// The four stages, in order: mining, separation, metal, magnet.
    pub stages: Vec<StageVerdict>,
    /// `covered` when any stage happened in a covered country, else `clear`.
    pub verdict: Verdict,
    /// Every handover of the lot and its ancestors, in ledger order.
    pub handovers: Vec<Handover>,
    /// In ledger order of the events that caused them.
    pub findings: Vec<Finding>,
    /// The lot and the ancestors examined.
    pub lots_examined: usize,
    /// Whether the ancestry had more than `lots_max` lots (or more than the custody chain's
    /// [`lode_projections::view::LINEAGE_LOTS_MAX`]), so that some were not examined.
    pub truncated: bool,
    pub lots_max: usize,
}

impl Audit {
    /// Whether the audit found nothing: no finding, no stage in a covered country, nothing left out.
    pub fn passed(&self) -> bool {
        self.findings.is_empty() && self.verdict == Verdict::Clear && !self.truncated
    }
}

/// Audits a lot: see the [crate documentation](crate) and "What a lot's audit must answer" in
/// `docs/vocabulary.md`. Reads the records of the lot and of its ancestors from `log`; records not
/// yet durable are left out.
///
/// Each ancestor counts with the events before the transformation that made the lot from it (up to
/// the latest, when reached along several paths); the lot itself with all of its events.
///
/// # Errors
/// [`QueryError::LotNotFound`] when no lot has this id, [`QueryError::Log`] when a record cannot be
/// read.
pub fn audit(
    state: &State,
    views: &Views,
    log: &Reader,
    lot: &str,
    options: &AuditOptions,
) -> Result<Audit, QueryError> {
    let root = views.lot(state, lot).ok_or_else(|| QueryError::LotNotFound { lot: lot.to_string() })?;
    let ancestry = Ancestry::of(state, &root.lot, options.trace_lots_max);
    let lot_views: Vec<LotView> = ancestry.order.iter().filter_map(|id| views.lot(state, id.as_str())).collect();
    let custody = custody(state, views, lot)?;
    let handovers = custody.handovers;
    let head = log.head().seq;
    let mut found = Found::default();
    // The events whose corrections are findings, with the lot they concern.
    let mut corrigible: Vec<(Option<LotId>, Uuid)> = Vec::new();
    // The parties that took part in the history.
    let mut parties: BTreeSet<PartyId> = BTreeSet::new();

    for id in &ancestry.order {
        let last = ancestry.cutoff.get(id).copied().unwrap_or(u64::MAX);
        let count = log.stream_positions(id.as_str()).partition_point(|&s| s <= last);
        let records = log.stream(id.as_str(), 0, count).map_err(|e| log_error(0, e))?;
        let mut previous: Option<(u64, Uuid, DateTime<FixedOffset>, String)> = None;
        for record in &records {
            let (event_id, env) = parse(record)?;
            corrigible.push((Some(id.clone()), event_id));
            if let Event::LotAdjusted(e) = env.event() {
                if &e.lot == id {
                    found.push(finding(
                        FindingKind::Adjustment { delta_g: e.delta_g, reason: e.reason.clone() },
                        Some(id),
                        event_id,
                        record.seq,
                        &env,
                    ));
                }
            }
            if !is_custody(env.event()) {
                continue;
            }
            parties.insert(env.actor().clone());
            let at = env.occurred_at();
            if let Some((previous_seq, previous_event, previous_at, previous_text)) = &previous {
                if at < *previous_at {
                    found.push(finding(
                        FindingKind::TimeBackwards {
                            previous_event: *previous_event,
                            previous_seq: *previous_seq,
                            previous_occurred_at: previous_text.clone(),
                        },
                        Some(id),
                        event_id,
                        record.seq,
                        &env,
                    ));
                }
            }
            previous = Some((record.seq, event_id, at, env.occurred_at_text().to_string()));
        }
    }

    for view in &lot_views {
        let last = ancestry.cutoff.get(&view.lot).copied().unwrap_or(u64::MAX);
        for hold in view.holds.iter().filter(|h| h.placed.seq <= last) {
            found.push(Finding {
                kind: FindingKind::Hold {
                    target: Held::Lot(view.lot.clone()),
                    reason: hold.reason.clone(),
                    released: hold.released.clone(),
                },
                lot: Some(view.lot.clone()),
                event: hold.placed.event,
                seq: hold.placed.seq,
                actor: hold.placed.actor.clone(),
                occurred_at: hold.placed.occurred_at.clone(),
            });
        }
        let made = &view.created;
        if let Some(process) = made.process {
            let traced: u64 = state
                .lot(view.lot.as_str())
                .map_or(0, |l| l.parents.iter().map(|p| p.mass_g).fold(0, u64::saturating_add));
            let input_g = traced.saturating_add(made.additions_g);
            if options.loss_thresholds.exceeded(process, input_g, made.loss_g) {
                found.push(Finding {
                    kind: FindingKind::ProcessLoss {
                        process,
                        input_g,
                        loss_g: made.loss_g,
                        threshold_per_mille: options.loss_thresholds.per_mille(process),
                    },
                    lot: Some(view.lot.clone()),
                    event: made.event.event,
                    seq: made.event.seq,
                    actor: made.event.actor.clone(),
                    occurred_at: made.event.occurred_at.clone(),
                });
            }
        }
    }

    let mut shipments = HashSet::new();
    for h in &handovers {
        parties.extend([h.shipper.clone(), h.receiver.clone()]);
        parties.extend(h.carrier.clone());
        if let (Some(received_g), Some(received)) = (h.received_g, &h.received) {
            if transit_difference_is_finding(h.shipped_g, received_g) {
                found.push(Finding {
                    kind: FindingKind::TransitDifference {
                        shipment: h.shipment.clone(),
                        shipped_g: h.shipped_g,
                        received_g,
                        difference_g: h.difference_g.unwrap_or(0),
                    },
                    lot: Some(h.lot.clone()),
                    event: received.event,
                    seq: received.seq,
                    actor: received.actor.clone(),
                    occurred_at: received.occurred_at.clone(),
                });
            }
        }
        if !shipments.insert(h.shipment.clone()) {
            continue;
        }
        let kinds: BTreeSet<DocumentKind> = h.documents.iter().map(|d| d.kind).collect();
        let missing: Vec<DocumentKind> = [DocumentKind::BillOfLading, DocumentKind::CertificateOfOrigin]
            .into_iter()
            .filter(|k| !kinds.contains(k))
            .collect();
        if !missing.is_empty() {
            found.push(Finding {
                kind: FindingKind::MissingDocument { shipment: h.shipment.clone(), missing },
                lot: Some(h.lot.clone()),
                event: h.shipped.event,
                seq: h.shipped.seq,
                actor: h.shipped.actor.clone(),
                occurred_at: h.shipped.occurred_at.clone(),
            });
        }
        // Documents attached to the shipment later are events of the history too.
        corrigible.extend(
            h.documents
                .iter()
                .filter(|d| d.event.event != h.shipped.event)
                .map(|d| (Some(h.lot.clone()), d.event.event)),
        );
    }

    party_holds(state, log, head, &parties, &mut found, &mut corrigible)?;
    corrections(state, log, head, corrigible, &mut found)?;

    let covered_countries: Vec<Country> = options.covered.iter().copied().collect();
    let (stages, verdict) = stage_verdicts(&root.origin.stages, &options.covered);
    let mut countries: BTreeMap<Country, u32> = BTreeMap::new();
    for m in &root.origin.mines {
        if let Some(country) = m.country {
            *countries.entry(country).or_default() += m.ppm;
        }
    }
    let mut findings = found.list;
    findings.sort_by(|a, b| (a.seq, a.kind.rank(), &a.lot).cmp(&(b.seq, b.kind.rank(), &b.lot)));
    Ok(Audit {
        lot: root.lot.clone(),
        form: root.material.form,
        status: root.status,
        mass_g: root.mass_g,
        custodian: root.custodian.clone(),
        site: root.site.clone(),
        origin: root.origin.mines.clone(),
        countries: countries.into_iter().map(|(country, ppm)| CountryShare { country, ppm }).collect(),
        covered_countries,
        stages,
        verdict,
        handovers,
        findings,
        lots_examined: ancestry.order.len(),
        truncated: ancestry.truncated || custody.truncated,
        lots_max: options.trace_lots_max,
    })
}

/// The four stages of a lot, in order, each with its countries, those of them on the covered list
/// and its verdict; and the lot's verdict: `covered` when any stage happened in a covered country,
/// else `clear`. Shared by the audit and the origin report, so that they never disagree.
pub(crate) fn stage_verdicts(stages: &StageCountries, covered: &BTreeSet<Country>) -> (Vec<StageVerdict>, Verdict) {
    let rows: Vec<StageVerdict> = Stage::ALL
        .iter()
        .map(|&stage| {
            let countries: Vec<Country> = stages.countries(stage).collect();
            let on_list: Vec<Country> = countries.iter().copied().filter(|c| covered.contains(c)).collect();
            let verdict = match (countries.is_empty(), on_list.is_empty()) {
                (true, _) => Verdict::NotReached,
                (false, true) => Verdict::Clear,
                (false, false) => Verdict::Covered,
            };
            StageVerdict { stage, countries, covered: on_list, verdict }
        })
        .collect();
    let verdict = if rows.iter().any(|s| s.verdict == Verdict::Covered) { Verdict::Covered } else { Verdict::Clear };
    (rows, verdict)
}

/// The lot and its ancestors, breadth first, each with the last position of its history that
/// counts for the lot.
#[derive(Debug)]
pub(crate) struct Ancestry {
    pub(crate) order: Vec<LotId>,
    pub(crate) cutoff: HashMap<LotId, u64>,
    pub(crate) truncated: bool,
}

impl Ancestry {
    pub(crate) fn of(state: &State, lot: &LotId, lots_max: usize) -> Ancestry {
        let mut a =
            Ancestry { order: vec![lot.clone()], cutoff: HashMap::from([(lot.clone(), u64::MAX)]), truncated: false };
        let mut next = 0;
        while let Some(id) = a.order.get(next).cloned() {
            next += 1;
            let Some(l) = state.lot(id.as_str()) else {
                continue;
            };
            // A parent's history counts up to the transformation that made this lot from it.
            let made_at = state.event(&l.created_by).map_or(0, |e| e.seq);
            for parent in &l.parents {
                match a.cutoff.get_mut(&parent.lot) {
                    Some(c) => *c = (*c).max(made_at),
                    None if a.order.len() >= lots_max.max(1) => a.truncated = true,
                    None => {
                        a.cutoff.insert(parent.lot.clone(), made_at);
                        a.order.push(parent.lot.clone());
                    }
                }
            }
        }
        a
    }
}

/// Findings, without the same one twice.
#[derive(Debug, Default)]
struct Found {
    list: Vec<Finding>,
    seen: HashSet<(&'static str, Uuid, Option<Uuid>)>,
}

impl Found {
    /// Adds a finding unless one of the same kind was already found for the same event (and, for
    /// times going backwards, the same previous event).
    fn push(&mut self, f: Finding) -> Option<usize> {
        let other = match &f.kind {
            FindingKind::TimeBackwards { previous_event, .. } => Some(*previous_event),
            _ => None,
        };
        if !self.seen.insert((f.code(), f.event, other)) {
            return None;
        }
        self.list.push(f);
        Some(self.list.len() - 1)
    }
}

fn finding(kind: FindingKind, lot: Option<&LotId>, event: Uuid, seq: u64, env: &Envelope) -> Finding {
    Finding {
        kind,
        lot: lot.cloned(),
        event,
        seq,
        actor: env.actor().clone(),
        occurred_at: env.occurred_at_text().to_string(),
    }
}

/// Events that move a lot along its custody chain: made, moved, shipped, received, returned, used.
/// Oversight events (assays, documents, holds, adjustments, corrections) may be dated when what they
/// record happened and are left out.
fn is_custody(event: &Event) -> bool {
    matches!(
        event,
        Event::LotExtracted(_)
            | Event::LotTransformed(_)
            | Event::CustodyShipped(_)
            | Event::CustodyReceived(_)
            | Event::CustodyRejected(_)
            | Event::LotMoved(_)
            | Event::LotConsumed(_)
    )
}

/// Holds placed on the parties of the history, whenever they were placed, with their releases.
fn party_holds(
    state: &State,
    log: &Reader,
    head: u64,
    parties: &BTreeSet<PartyId>,
    found: &mut Found,
    corrigible: &mut Vec<(Option<LotId>, Uuid)>,
) -> Result<(), QueryError> {
    // Neither the views nor the state keep past holds on parties: find them in the log, from the
    // positions of the hold events the state indexes.
    let mut positions: Vec<u64> = state
        .events()
        .filter(|(_, r)| matches!(r.type_name, "hold.placed" | "hold.released") && r.seq <= head)
        .map(|(_, r)| r.seq)
        .collect();
    positions.sort_unstable();
    let mut open: HashMap<PartyId, usize> = HashMap::new();
    for seq in positions {
        let Some(record) = log.get(seq).map_err(|e| log_error(seq, e))? else {
            continue;
        };
        let (event_id, env) = parse(&record)?;
        match env.event() {
            Event::HoldPlaced(e) => {
                if let HoldTarget::Party(party) = &e.target {
                    if parties.contains(party) {
                        let kind = FindingKind::Hold {
                            target: Held::Party(party.clone()),
                            reason: e.reason.clone(),
                            released: None,
                        };
                        if let Some(i) = found.push(finding(kind, None, event_id, seq, &env)) {
                            open.insert(party.clone(), i);
                        }
                        corrigible.push((None, event_id));
                    }
                }
            }
            Event::HoldReleased(e) => {
                if let HoldTarget::Party(party) = &e.target {
                    if let Some(i) = open.remove(party) {
                        if let FindingKind::Hold { released, .. } = &mut found.list[i].kind {
                            *released = Some(Release {
                                reason: e.reason.clone(),
                                event: EventRef {
                                    event: event_id,
                                    seq,
                                    actor: env.actor().clone(),
                                    occurred_at: env.occurred_at_text().to_string(),
                                },
                            });
                        }
                        corrigible.push((None, event_id));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The corrections of the given events, and of those corrections, transitively.
fn corrections(
    state: &State,
    log: &Reader,
    head: u64,
    corrigible: Vec<(Option<LotId>, Uuid)>,
    found: &mut Found,
) -> Result<(), QueryError> {
    let mut queue: VecDeque<(Option<LotId>, Uuid)> = corrigible.into();
    let mut seen: HashSet<Uuid> = HashSet::new();
    while let Some((lot, id)) = queue.pop_front() {
        let Some(corrected) = state.event(&id) else {
            continue;
        };
        for correction in &corrected.corrections {
            let Some(seq) = state.event(correction).map(|r| r.seq).filter(|&s| s <= head) else {
                continue;
            };
            if !seen.insert(*correction) {
                continue;
            }
            let Some(record) = log.get(seq).map_err(|e| log_error(seq, e))? else {
                continue;
            };
            let (event_id, env) = parse(&record)?;
            if let Event::EventCorrected(e) = env.event() {
                let kind = FindingKind::Correction {
                    corrected_event: id,
                    corrected_seq: corrected.seq,
                    corrected_type: corrected.type_name.to_string(),
                    reason: e.reason,
                    note: e.note.clone(),
                };
                found.push(finding(kind, lot.as_ref(), event_id, seq, &env));
                queue.push_back((lot.clone(), event_id));
            }
        }
    }
    Ok(())
}

/// A record's event id and envelope.
pub(crate) fn parse(record: &Record) -> Result<(Uuid, Envelope), QueryError> {
    let header = record.header();
    let env = lode_domain::parse_record(header.event)
        .map_err(|e| QueryError::Log { seq: record.seq, message: e.to_string() })?;
    Ok((header.id, env))
}

pub(crate) fn log_error(seq: u64, e: lode_store::ReadError) -> QueryError {
    QueryError::Log { seq, message: e.to_string() }
}
