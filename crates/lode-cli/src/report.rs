//! `lode report origin LOT`: a lot's origin report, with the checkpoint of the log it was built
//! from, signed with the operator's key when one is given (`docs/exports.md`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use lode_query::checkpoint::{self, SecretKey};
use lode_query::origin::{origin_report, OriginOptions, OriginReport};
use lode_query::{AsOf, AsOfError, ExportError};

use crate::output::print_json;
use crate::{rejected, Failed, EXIT_USAGE};

#[derive(Debug, clap::Subcommand)]
pub enum Report {
    /// A lot's origin: mine shares, the countries of its four stages with a verdict each against
    /// the covered countries, and the checkpoint of the log it was built from.
    Origin(OriginArgs),
}

/// How an origin report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// For people.
    Text,
    /// One JSON object on one line.
    Json,
    /// One CSV table: a row per mine, per stage, for the verdict and for the checkpoint.
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct OriginArgs {
    /// The lot id.
    lot: String,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    /// Covered countries: ISO 3166-1 alpha-2 codes, comma separated.
    #[arg(long, value_name = "CN,RU,…", default_value = "CN,RU,KP,IR")]
    covered: String,
    /// Sign the report's checkpoint with the operator's secret key (from `lode keygen`).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The log's identity in the signed checkpoint (default: lode/<data directory name>).
    #[arg(long, value_name = "ORIGIN", requires = "key")]
    origin: Option<String>,
    /// Build the report from the log's first SEQ records, as it stood then: how anyone holding the
    /// log rebuilds a report they were given.
    #[arg(long, value_name = "SEQ")]
    at: Option<u64>,
    /// The most lots to trace, the lot itself included.
    #[arg(long, value_name = "N", default_value_t = lode_query::TRACE_LOTS_MAX)]
    limit: usize,
}

fn report_failed(e: ExportError) -> Failed {
    rejected(e.into())
}

pub fn run(dir: &Path, r: Report) -> Result<(), Failed> {
    let Report::Origin(args) = r;
    let covered = crate::query::parse_countries(&args.covered)?;
    let options = OriginOptions { covered, trace_lots_max: args.limit };
    // Read the key and check the origin before any work, so that a typo fails at once.
    let key = match &args.key {
        Some(path) => Some(
            SecretKey::parse(&crate::keygen::read_small(path, checkpoint::KEY_FILE_BYTES_MAX)?)
                .with_context(|| format!("reading the key in {}", path.display()))?,
        ),
        None => None,
    };
    let origin = match (&key, args.origin) {
        (Some(_), Some(o)) => Some(o),
        (Some(_), None) => Some(crate::keygen::default_origin(dir)?),
        (None, _) => None,
    };
    if let Some(o) = &origin {
        checkpoint::check_origin(o)?;
    }
    let mut report = match args.at {
        Some(at) => {
            let store = crate::read::open_log(dir)?;
            let reader = store.reader();
            let past = lode_query::ledger_as_of(&reader, AsOf::Position(at)).map_err(|e| match e {
                AsOfError::BeyondHead { .. } => Failed { code: EXIT_USAGE, error: anyhow::anyhow!("--at: {e}") },
                other => rejected(other.into()),
            });
            let report =
                past.and_then(|p| origin_report(&reader, &p.ledger, &args.lot, &options).map_err(report_failed));
            drop(reader);
            store.close().context("closing the ledger")?;
            report?
        }
        None => {
            let (store, ledger) = crate::derived::open(dir, false)?;
            let report = origin_report(&store.reader(), &ledger, &args.lot, &options);
            store.close().context("closing the ledger")?;
            report.map_err(report_failed)?
        }
    };
    if let (Some(key), Some(origin)) = (&key, &origin) {
        report.sign(key, origin)?;
    }
    print(&report, args.format)
}

fn print(report: &OriginReport, format: ReportFormat) -> Result<(), Failed> {
    match format {
        ReportFormat::Json => print_json(&serde_json::to_value(report)?)?,
        ReportFormat::Text | ReportFormat::Csv => {
            let text = if format == ReportFormat::Text { report.to_text() } else { report.to_csv() };
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}
