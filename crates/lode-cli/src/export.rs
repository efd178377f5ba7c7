//! `lode export epcis` and `lode export csv`: the ledger for compliance tools, as GS1 EPCIS 2.0
//! JSON-LD or as CSV tables (`docs/epcis.md`, `docs/exports.md`). The documents themselves are made
//! by `lode_query::epcis` and `lode_query::csv_export`; this module reads the arguments and writes.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use lode_query::csv_export::{self, CsvError, Table};
use lode_query::epcis::{self, BaseUri, EpcisOptions};
use lode_query::ExportError;
use serde_json::json;

use crate::output::print_json;
use crate::{rejected, Failed, EXIT_USAGE};

#[derive(Debug, clap::Args)]
pub struct EpcisArgs {
    /// Only this lot's events.
    #[arg(long, value_name = "LOT")]
    lot: Option<String>,
    /// With --lot: its ancestors' events too, down to the mines.
    #[arg(long, requires = "lot")]
    ancestry: bool,
    /// Only events that occurred at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Only events that occurred before this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Lot, party, site and document ids become URIs under this base.
    #[arg(long, value_name = "URI", default_value = epcis::DEFAULT_BASE_URI)]
    base_uri: String,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The tables of `lode export csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CsvTable {
    /// One row per lot: material, status, mass, custody, how it was made, origin and stages.
    Lots,
    /// One row per record of the log, with its hashes.
    Events,
    /// One row per lot per shipment: shipper, receiver, dates, masses, documents.
    Custody,
    /// Active and in-transit mass by custodian, site and material form.
    Inventory,
}

#[derive(Debug, clap::Args)]
pub struct CsvArgs {
    #[arg(value_enum)]
    table: CsvTable,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Exit code 2 for what the user gave, 1 for what the ledger answered.
fn export_failed(e: ExportError) -> Failed {
    match e {
        ExportError::InvalidBaseUri { .. } | ExportError::InvalidTime { .. } => {
            Failed { code: EXIT_USAGE, error: e.into() }
        }
        other => rejected(other.into()),
    }
}

/// Refuses an `--out` that cannot name a file to write.
pub(crate) fn check_out(path: &Path) -> anyhow::Result<()> {
    let text = path.as_os_str();
    if text.is_empty() {
        anyhow::bail!("--out: an empty path");
    }
    if path.file_name().is_none() || text.to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) {
        anyhow::bail!("--out {}: not a file name", path.display());
    }
    if path.is_dir() {
        anyhow::bail!("--out {}: is a directory", path.display());
    }
    Ok(())
}

/// Writes `path` through a temporary file beside it, synced and renamed into place, so that a failed
/// export never leaves a partial file under the requested name.
pub(crate) fn write_file(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<(), Failed>) -> Result<(), Failed> {
    check_out(path)?;
    let name = path.file_name().context("--out names no file")?.to_string_lossy().into_owned();
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{name}.partial.{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let result = (|| -> Result<(), Failed> {
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes to `--out` or standard output.
fn emit(out: Option<&Path>, write: impl FnOnce(&mut dyn Write) -> Result<(), Failed>) -> Result<(), Failed> {
    match out {
        Some(path) => write_file(path, write),
        None => {
            let mut w = BufWriter::new(std::io::stdout().lock());
            write(&mut w)?;
            w.flush()?;
            Ok(())
        }
    }
}

/// `lode export epcis`: a GS1 EPCIS 2.0 JSON-LD document of the ledger's events, one lot's, or one
/// lot's and its ancestors'.
pub fn epcis(dir: &Path, args: EpcisArgs) -> Result<(), Failed> {
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    let options = EpcisOptions {
        lot: args.lot,
        ancestry: args.ancestry,
        from: args.from.as_deref().map(|t| epcis::parse_time("--from", t)).transpose().map_err(export_failed)?,
        to: args.to.as_deref().map(|t| epcis::parse_time("--to", t)).transpose().map_err(export_failed)?,
        base: BaseUri::parse(&args.base_uri).map_err(export_failed)?,
        ..EpcisOptions::default()
    };
    let (store, ledger) = crate::derived::open(dir, false)?;
    let doc = epcis::document(&store.reader(), &ledger, &options);
    store.close().context("closing the ledger")?;
    let doc = doc.map_err(export_failed)?;
    emit(args.out.as_deref(), |w| {
        serde_json::to_writer(&mut *w, &doc).context("writing the EPCIS document")?;
        w.write_all(b"\n")?;
        Ok(())
    })?;
    if let Some(out) = &args.out {
        print_json(&json!({
            "exported": doc.body.events.len(),
            "format": "epcis-2.0",
            "size": doc.log.size,
            "head": doc.log.chain_head,
            "out": out,
        }))?;
    }
    Ok(())
}

/// `lode export csv TABLE`: one of the CSV tables.
pub fn csv(dir: &Path, args: CsvArgs) -> Result<(), Failed> {
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    let table = match args.table {
        CsvTable::Lots => Table::Lots,
        CsvTable::Events => Table::Events,
        CsvTable::Custody => Table::Custody,
        CsvTable::Inventory => Table::Inventory,
    };
    let (store, ledger) = crate::derived::open(dir, false)?;
    let reader = store.reader();
    let mut rows = 0;
    let written = emit(args.out.as_deref(), |w| {
        rows = csv_export::write(table, &reader, &ledger, w).map_err(|e| match e {
            CsvError::Export(e) => export_failed(e),
            other => Failed::from(anyhow::Error::new(other)),
        })?;
        Ok(())
    });
    drop(reader);
    store.close().context("closing the ledger")?;
    written?;
    if let Some(out) = &args.out {
        print_json(&json!({ "exported": rows, "table": table.as_str(), "out": out }))?;
    }
    Ok(())
}
