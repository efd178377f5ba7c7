//! `lode log` and `lode export`: records exactly as stored.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use lode_projections::Ledger;
use lode_store::{Options, Record, Store};
use serde_json::json;

use crate::output::print_json;
use crate::Failed;

/// Opens the ledger in `dir` with its rules, to append (a new one when there is none), and hands
/// over the derived state the rules keep.
pub fn open_ledger(dir: &Path) -> anyhow::Result<(Store<Ledger>, Ledger)> {
    let ledger = Ledger::default();
    let store = Store::open(dir, Options::default(), ledger.clone())
        .with_context(|| format!("opening the ledger in {}", dir.display()))?;
    Ok((store, ledger))
}

/// Opens the log in `dir` to read records only: the rules' state is not rebuilt.
pub fn open_log(dir: &Path) -> anyhow::Result<Store> {
    if !dir.join("conf").exists() {
        anyhow::bail!("no ledger at {}", dir.display());
    }
    Store::open_open(dir, Options::default()).with_context(|| format!("opening the ledger in {}", dir.display()))
}

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// First position to print.
    #[arg(long, default_value_t = 1, value_name = "SEQ")]
    from: u64,
    /// Most records to print.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Only the records that touch this lot.
    #[arg(long, value_name = "LOT")]
    lot: Option<String>,
}

pub fn log(dir: &Path, args: LogArgs) -> Result<(), Failed> {
    let store = open_log(dir)?;
    let reader = store.reader();
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut out = BufWriter::new(std::io::stdout().lock());
    match &args.lot {
        Some(lot) => {
            let skip = reader.stream_positions(lot).partition_point(|&s| s < args.from);
            for r in reader.stream(lot, skip, limit)? {
                write_record(&mut out, &r)?;
            }
        }
        None => {
            for r in reader.iter_from(args.from).take(limit) {
                write_record(&mut out, &r?)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn write_record(out: &mut impl Write, r: &Record) -> std::io::Result<()> {
    out.write_all(&r.bytes)?;
    out.write_all(b"\n")
}

#[derive(Debug, clap::Subcommand)]
pub enum Export {
    /// Every record exactly as stored, one per line; `lode verify --log FILE` checks such a file.
    Log {
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// A GS1 EPCIS 2.0 JSON-LD document of the events (docs/epcis.md).
    Epcis(crate::export::EpcisArgs),
    /// A CSV table: lots, events, custody or inventory (docs/exports.md).
    Csv(crate::export::CsvArgs),
}

pub fn export(dir: &Path, e: Export) -> Result<(), Failed> {
    let out = match e {
        Export::Log { out } => out,
        Export::Epcis(args) => return crate::export::epcis(dir, args),
        Export::Csv(args) => return crate::export::csv(dir, args),
    };
    let store = open_log(dir)?;
    let reader = store.reader();
    let head = reader.head();
    let mut n = 0u64;
    match &out {
        Some(path) => {
            // Write beside the target and rename, so that a failed export never leaves a partial
            // file under the requested name.
            let tmp = path.with_extension("partial");
            let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let mut w = BufWriter::new(file);
            for r in reader.iter_from(1) {
                write_record(&mut w, &r?)?;
                n += 1;
            }
            let file = w.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
            print_json(&json!({ "exported": n, "head": head.hash.to_hex(), "out": path }))?;
        }
        None => {
            let mut w = BufWriter::new(std::io::stdout().lock());
            for r in reader.iter_from(1) {
                write_record(&mut w, &r?)?;
            }
            w.flush()?;
        }
    }
    Ok(())
}
