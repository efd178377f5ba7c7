//! `lode-query`: the questions users ask of a Lode ledger, answered from its projections and its log.
//!
//! - [`trace_back`] follows a lot up to the extracted lots at the mines: every ancestor and every
//!   transformation between them, the lot's origin by mine and by country, and the countries of its
//!   four stages ([`TraceBack`]). [`trace_forward`] follows it down for a recall: every descendant with
//!   its custodian, status and site now ([`TraceForward`]). Both stop at [`Limits::trace_lots_max`] lots
//!   and say so.
//! - [`custody`] lists every handover of a lot and of its ancestors, in order ([`Custody`]).
//! - [`audit`] answers "What a lot's audit must answer" of `docs/vocabulary.md`: origin, stage
//!   countries against a covered-country list, custody, and every [`Finding`] over the lot and its
//!   ancestors, each with the event that caused it ([`Audit`]).
//! - [`inventory_as_of`] replays the log up to a past position or time into a fresh in-memory
//!   [`lode_projections::Ledger`] ([`ledger_as_of`]) and answers with the live inventory's rows.
//! - [`lots`] lists lots by custodian, material form, status and site ([`LotList`]).
//! - [`checkpoint`] formats, signs and checks C2SP checkpoints of the log; [`bundle`] builds and
//!   verifies a lot's audit bundle: its records, their inclusion proofs and a signed checkpoint.
//! - [`render`] writes masses and shares for people (integers only) and lineages as Graphviz DOT;
//!   [`TraceBack::to_svg`] and [`TraceForward::to_svg`] draw them as SVG.
//! - Exports for compliance tools: [`epcis`] (a GS1 EPCIS 2.0 document of the ledger, a lot or its
//!   ancestry), [`csv_export`] (lots, events, custody, inventory) and [`origin`] (a lot's origin
//!   report with the checkpoint of the log it was built from). They fail with [`ExportError`].
//!
//! Every answer is a plain struct with stable, serializable field names. The functions over the
//! projections take the rules' state and the views, as [`lode_projections::Ledger::read`] hands them
//! out; those that need the log take a [`lode_store::Reader`] too.
//!
//! ```
//! use lode_projections::{prepare_event, Ledger};
//! use lode_store::{Options, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let ledger = Ledger::default();
//! let store = Store::open(dir.path(), Options { fsync: false, ..Options::default() }, ledger.clone())?;
//! let events = [
//!     r#"{"type":"party.registered","actor":"op","occurred_at":"2024-03-02T08:00:00Z","data":{"party":"op","name":"Operator","roles":["operator","miner"],"country":"KR"}}"#,
//!     r#"{"type":"site.registered","actor":"op","occurred_at":"2024-03-02T08:00:00Z","data":{"site":"mine-1","party":"op","name":"Pit","kind":"mine","country":"VN"}}"#,
//!     r#"{"type":"lot.extracted","actor":"op","occurred_at":"2024-03-02T09:00:00Z","data":{"lot":"ORE-1","site":"mine-1","material":{"form":"ore"},"mass_g":5000000}}"#,
//! ];
//! let batch = events.iter().map(|e| prepare_event(e.as_bytes())).collect::<Result<Vec<_>, _>>()?;
//! assert!(store.append(batch)?.stopped.is_none());
//!
//! let trace = ledger.read(|state, views| lode_query::trace_back(state, views, "ORE-1", &Default::default()))?;
//! assert_eq!(trace.origin[0].ppm, 1_000_000);
//! assert_eq!(lode_query::render::mass(trace.lots[0].mass_g), "5.000 t");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod as_of;
mod audit;
pub mod bundle;
pub mod checkpoint;
pub mod csv_export;
mod custody;
pub mod epcis;
mod error;
mod lots;
pub mod origin;
pub mod render;
mod svg;

mod trace;

pub use as_of::{inventory_as_of, ledger_as_of, AsOf, InventoryAsOf, LedgerAsOf};
pub use audit::{
    audit, Audit, AuditOptions, Finding, FindingKind, Held, LossThresholds, StageVerdict, Verdict,
    DEFAULT_COVERED_COUNTRIES,
};
pub use custody::{custody, Custody, Handover};
pub use error::{AsOfError, ExportError, QueryError};
pub use lots::{lots, LotFilter, LotList, LotRow};
pub use trace::{
    trace_back, trace_forward, CountryShare, Making, MineOrigin, StageCountriesRow, TraceBack, TraceEdge, TraceForward,
    TracedLot,
};

/// The most lots a trace or an audit visits, the lot itself included, unless told otherwise.
pub const TRACE_LOTS_MAX: usize = 10_000;

/// The most lots a list answers with, unless told otherwise.
pub const LIST_LOTS_MAX: usize = 100_000;

/// Bounds on what a query visits or returns. Answers that hit one say they are truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most lots a trace or an audit visits, the lot itself included.
    pub trace_lots_max: usize,
    /// The most lots [`lots`] returns.
    pub list_lots_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { trace_lots_max: TRACE_LOTS_MAX, list_lots_max: LIST_LOTS_MAX }
    }
}
