//! Origin reports: a lot's mine shares, the countries of its four stages (mined, separated into
//! oxide, made into metal, made into magnets) with a verdict per stage against a covered-country
//! list, and the checkpoint of the log the report was built from, optionally signed.
//!
//! The report is a pure function of the log up to the checkpoint's size: anyone holding the log can
//! rebuild it (`lode report origin LOT --at SIZE`) and prove the log against the signed checkpoint
//! (`lode verify --checkpoint`). `docs/exports.md` describes its formats.

use std::collections::BTreeSet;

use lode_domain::{Country, Form, LotId, LotStatus, PartyId, SiteId};
use lode_projections::Ledger;
use lode_store::{Hash, Reader};
use serde::Serialize;

use crate::audit::stage_verdicts;
use crate::checkpoint::{Checkpoint, CheckpointError, SecretKey};
use crate::csv_export::record;
use crate::render::{columns, mass, ppm, share, table};
use crate::trace::{CountryShare, MineOrigin};
use crate::{AuditOptions, ExportError, Limits, StageVerdict, Verdict};

/// The format name a report carries.
pub const ORIGIN_REPORT_FORMAT: &str = "lode-origin-report/1";

/// What a report checks against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginOptions {
    /// A stage that happened in one of these countries makes its verdict `covered`.
    pub covered: BTreeSet<Country>,
    /// The most lots the trace behind the report visits; a report over a cut trace says so.
    pub trace_lots_max: usize,
}

impl Default for OriginOptions {
    fn default() -> Self {
        let audit = AuditOptions::default();
        OriginOptions { covered: audit.covered, trace_lots_max: audit.trace_lots_max }
    }
}

/// The log a report was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReportCheckpoint {
    /// The number of records.
    pub size: u64,
    /// Their Merkle root (`docs/format.md` §6), hex.
    pub root: String,
    /// The chain hash of record `size` (`docs/format.md` §2), hex.
    pub chain_head: String,
    /// The checkpoint as a C2SP signed note (`docs/format.md` §7), once [`OriginReport::sign`]ed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip)]
    root_hash: Hash,
    #[serde(skip)]
    chain_hash: Hash,
}

/// A lot's origin report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OriginReport {
    pub format: &'static str,
    pub lot: LotId,
    pub form: Form,
    pub status: LotStatus,
    pub mass_g: u64,
    pub custodian: PartyId,
    pub site: SiteId,
    /// The share of each mine, by mine id, with the extracted lots traced to it; 1,000,000 ppm in all.
    pub mines: Vec<MineOrigin>,
    /// The share of each country of the mines, by country code.
    pub countries: Vec<CountryShare>,
    /// The covered countries the stages were checked against, in code order.
    pub covered_countries: Vec<Country>,
    /// The four stages in order: mining, separation, metal, magnet.
    pub stages: Vec<StageVerdict>,
    /// `covered` when any stage happened in a covered country, else `clear`.
    pub verdict: Verdict,
    /// The lot and its ancestors traced.
    pub lots_traced: usize,
    /// Whether the ancestry had more lots than the trace visits, so that mine lots may be missing
    /// from `mines` (the shares and stages, kept by the projections, are complete regardless).
    pub truncated: bool,
    pub checkpoint: ReportCheckpoint,
}

/// The origin report of `lot`, from `ledger` and the log it was derived from, read by `reader`.
/// The ledger may be the live one or one derived as of a past position (`ledger_as_of`); either
/// way the report's checkpoint is the log at the position the ledger reflects.
///
/// # Errors
/// [`ExportError::LotNotFound`]; [`ExportError::EmptyLog`]; [`ExportError::NotDurable`] when the
/// ledger reflects records not yet durable; [`ExportError::Log`] when the tree or a record does not
/// read.
pub fn origin_report(
    reader: &Reader,
    ledger: &Ledger,
    lot: &str,
    options: &OriginOptions,
) -> Result<OriginReport, ExportError> {
    let limits = Limits { trace_lots_max: options.trace_lots_max, ..Limits::default() };
    let (size, trace) = ledger.read(|state, views| {
        (state.event_count(), crate::trace_back(state, views, lot, &limits).map_err(ExportError::from))
    });
    let trace = trace?;
    if size == 0 {
        return Err(ExportError::EmptyLog);
    }
    let head = reader.head().seq;
    if size > head {
        return Err(ExportError::NotDurable { position: size, head });
    }
    let missing = |what: &str| ExportError::Log { seq: size, message: format!("the {what} is missing") };
    let root = reader.merkle_root(size).ok_or_else(|| missing("Merkle tree's node"))?;
    let chain = reader
        .get(size)
        .map_err(|e| ExportError::from(crate::audit::log_error(size, e)))?
        .ok_or_else(|| missing("record"))?
        .hash();
    let root_lot = &trace.lots[0];
    let stage_countries = ledger.read(|state, views| views.lot(state, lot).map(|v| v.origin.stages));
    let stage_countries = stage_countries.ok_or_else(|| ExportError::LotNotFound { lot: lot.to_string() })?;
    let (stages, verdict) = stage_verdicts(&stage_countries, &options.covered);
    Ok(OriginReport {
        format: ORIGIN_REPORT_FORMAT,
        lot: trace.lot.clone(),
        form: root_lot.form,
        status: root_lot.status,
        mass_g: root_lot.mass_g,
        custodian: root_lot.custodian.clone(),
        site: root_lot.site.clone(),
        mines: trace.origin.clone(),
        countries: trace.countries.clone(),
        covered_countries: options.covered.iter().copied().collect(),
        stages,
        verdict,
        lots_traced: trace.lots.len(),
        truncated: trace.truncated,
        checkpoint: ReportCheckpoint {
            size,
            root: root.to_hex(),
            chain_head: chain.to_hex(),
            note: None,
            root_hash: root,
            chain_hash: chain,
        },
    })
}

impl OriginReport {
    /// Signs the report's checkpoint as `lode checkpoint` does, under the log's identity `origin`.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] for an origin that a note cannot carry.
    pub fn sign(&mut self, key: &SecretKey, origin: &str) -> Result<(), CheckpointError> {
        crate::checkpoint::check_origin(origin)?;
        let c = &self.checkpoint;
        let checkpoint =
            Checkpoint { origin: origin.to_string(), size: c.size, root: c.root_hash, chain_head: Some(c.chain_hash) };
        self.checkpoint.note = Some(key.sign(&checkpoint));
        Ok(())
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let list = |cs: &[Country]| {
            if cs.is_empty() {
                "-".to_string()
            } else {
                cs.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
            }
        };
        let mut out = format!("Origin report of {}\n", self.lot);
        let status = match self.status {
            LotStatus::InTransit => "in transit",
            other => other.as_str(),
        };
        out.push_str(&format!(
            "  {}, {status}, {} at {}, held by {}\n",
            self.form,
            mass(self.mass_g),
            self.site,
            self.custodian
        ));
        let covered = list(&self.covered_countries);
        out.push_str(&match self.verdict {
            Verdict::Covered => format!("  COVERED: a stage happened in a covered country ({covered})\n"),
            _ => format!("  clear: no stage in a covered country ({covered})\n"),
        });
        out.push_str(&format!(
            "  built from the log's first {} records; {} traced\n",
            self.checkpoint.size,
            if self.lots_traced == 1 { "1 lot".to_string() } else { format!("{} lots", self.lots_traced) }
        ));
        if self.truncated {
            out.push_str("  truncated: some ancestors were not traced; the mine lots listed may be incomplete\n");
        }
        out.push_str("\nMine shares\n");
        let rows = self
            .mines
            .iter()
            .map(|m| {
                let lots: Vec<&str> = m.lots.iter().map(|l| l.as_str()).collect();
                let country = m.country.map_or("-".to_string(), |c| c.to_string());
                vec![m.mine.to_string(), country, share(m.ppm), ppm(m.ppm), lots.join(", ")]
            })
            .collect();
        out.push_str(&table(
            &["mine", "country", "share", "ppm", "mine lots traced"],
            &[false, false, true, true, false],
            rows,
        ));
        out.push_str("\nBy country\n");
        let rows = self.countries.iter().map(|c| vec![c.country.to_string(), share(c.ppm), ppm(c.ppm)]).collect();
        out.push_str(&table(&["country", "share", "ppm"], &[false, true, true], rows));
        out.push_str("\nStages\n");
        let rows = self
            .stages
            .iter()
            .map(|s| {
                vec![s.stage.to_string(), list(&s.countries), list(&s.covered), s.verdict.as_str().replace('_', " ")]
            })
            .collect();
        out.push_str(&table(&["stage", "countries", "covered", "verdict"], &[false; 4], rows));
        let c = &self.checkpoint;
        out.push_str("\nCheckpoint of the log\n");
        let rows = vec![
            vec!["  size".to_string(), c.size.to_string()],
            vec!["  Merkle root".to_string(), c.root.clone()],
            vec!["  chain head".to_string(), c.chain_head.clone()],
        ];
        out.push_str(&columns(&[false, false], &rows));
        if let Some(note) = &c.note {
            out.push_str("\nSigned checkpoint (check it with lode verify --checkpoint FILE --key PUBFILE)\n");
            out.push_str(note);
        }
        out
    }

    /// The report as one CSV table (`docs/exports.md`): a record per mine, per stage, for the
    /// verdict and for each part of the checkpoint.
    pub fn to_csv(&self) -> String {
        let spaced = |cs: &[Country]| cs.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" ");
        let lot = self.lot.as_str();
        let mut out = record(&ORIGIN_CSV_HEADER);
        for m in &self.mines {
            let country = m.country.map(|c| c.to_string()).unwrap_or_default();
            let lots: Vec<&str> = m.lots.iter().map(|l| l.as_str()).collect();
            out.push_str(&record(&[
                lot,
                "mine",
                m.mine.as_str(),
                &country,
                &m.ppm.to_string(),
                "",
                "",
                &lots.join(" "),
            ]));
        }
        for s in &self.stages {
            out.push_str(&record(&[
                lot,
                "stage",
                s.stage.as_str(),
                &spaced(&s.countries),
                "",
                &spaced(&s.covered),
                s.verdict.as_str(),
                "",
            ]));
        }
        out.push_str(&record(&[
            lot,
            "verdict",
            "",
            "",
            "",
            &spaced(&self.covered_countries),
            self.verdict.as_str(),
            "",
        ]));
        let c = &self.checkpoint;
        for (name, value) in
            [("size", c.size.to_string()), ("root", c.root.clone()), ("chain_head", c.chain_head.clone())]
        {
            out.push_str(&record(&[lot, "checkpoint", name, "", "", "", "", &value]));
        }
        if let Some(note) = &c.note {
            out.push_str(&record(&[lot, "checkpoint", "note", "", "", "", "", note.as_str()]));
        }
        out
    }
}

/// The header of [`OriginReport::to_csv`].
pub const ORIGIN_CSV_HEADER: [&str; 8] = ["lot", "section", "name", "countries", "ppm", "covered", "verdict", "value"];
