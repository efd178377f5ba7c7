//! `lode bundle` and `lode verify-bundle`: an audit bundle is one JSON file holding a signed
//! checkpoint, the records that a lot's trace back and custody chain are derived from, exactly as
//! stored, and each record's inclusion proof in the checkpoint's tree (`docs/format.md` §8). What a
//! bundle holds and how it is checked is `lode_query::bundle`; this is the command around it.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use lode_query::bundle::{self, Bundle, BundleError, BUNDLE_BYTES_MAX};
use lode_query::checkpoint::{self, SecretKey, Verifier};
use serde_json::json;

use crate::keygen::read_small;
use crate::output::print_json;
use crate::query::Format;
use crate::{rejected, Failed, EXIT_USAGE};

#[derive(Debug, clap::Args)]
pub struct BundleArgs {
    /// The lot id.
    lot: String,
    /// The bundle file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The operator's secret key (from `lode keygen`), which signs the bundle's checkpoint.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The log's identity, the checkpoint's first line (default: lode/<data directory name>).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// An earlier checkpoint of the auditor's: the bundle adds it and the consistency proof from it.
    #[arg(long, value_name = "CHECKPOINT_FILE")]
    since: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyBundleArgs {
    /// The bundle (from `lode bundle`).
    file: PathBuf,
    /// The operator's verifier key (PREFIX.pub from `lode keygen`).
    #[arg(long, value_name = "PUBFILE")]
    key: PathBuf,
    /// The auditor's earlier checkpoint: the bundle must carry it and prove that its tree extends it.
    #[arg(long, value_name = "CHECKPOINT_FILE")]
    since: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// `lode bundle LOT --out FILE --key PREFIX.key [--since CHECKPOINT_FILE]`.
pub fn bundle(dir: &Path, args: BundleArgs) -> Result<(), Failed> {
    let key = SecretKey::parse(&read_small(&args.key, checkpoint::KEY_FILE_BYTES_MAX)?)
        .with_context(|| format!("reading the key in {}", args.key.display()))?;
    let origin = match args.origin {
        Some(o) => o,
        None => crate::keygen::default_origin(dir)?,
    };
    checkpoint::check_origin(&origin)?;
    let since_note = match &args.since {
        Some(path) => {
            let note = read_small(path, checkpoint::NOTE_BYTES_MAX)?;
            let cp = checkpoint::open(&note, &key.verifier())
                .map_err(|e| rejected(anyhow::Error::new(e).context(format!("checkpoint {}", path.display()))))?;
            Some((note, cp))
        }
        None => None,
    };

    let (store, ledger) = crate::derived::open(dir, false)?;
    let result = bundle::build(&store.reader(), &ledger, &args.lot, &key, &origin, since_note);
    store.close().context("closing the ledger")?;
    let bundle = result.map_err(failed)?;
    write_file(&args.out, &bundle)?;
    let cp = checkpoint::parse_body(bundle::body_of(&bundle.checkpoint))?;
    print_json(&json!({
        "lot": args.lot,
        "out": args.out,
        "checkpoint_size": cp.size,
        "checkpoint_root": cp.root.to_hex(),
        "records": bundle.records.len(),
        "since_size": bundle.since.as_ref().and_then(|s| checkpoint::parse_body(bundle::body_of(&s.checkpoint)).ok()).map(|c| c.size),
    }))?;
    Ok(())
}

/// Exit 2 for a ledger that could not be read, 1 for a bundle refused or failing verification.
fn failed(e: BundleError) -> Failed {
    if e.is_storage() {
        Failed { code: EXIT_USAGE, error: e.into() }
    } else {
        rejected(e.into())
    }
}

/// Writes beside the target and renames, so that a failure never leaves a partial bundle.
fn write_file(path: &Path, bundle: &Bundle) -> anyhow::Result<()> {
    let tmp = path.with_extension("partial");
    let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = BufWriter::new(file);
    serde_json::to_writer(&mut w, bundle)?;
    w.write_all(b"\n")?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// `lode verify-bundle FILE --key PUBFILE [--since CHECKPOINT_FILE]`.
pub fn verify_bundle(args: VerifyBundleArgs) -> Result<(), Failed> {
    let verifier = Verifier::parse(&read_small(&args.key, checkpoint::KEY_FILE_BYTES_MAX)?)
        .with_context(|| format!("reading the key in {}", args.key.display()))?;
    let since_given = match &args.since {
        Some(path) => {
            let note = read_small(path, checkpoint::NOTE_BYTES_MAX)?;
            Some(
                checkpoint::open(&note, &verifier)
                    .map_err(|e| rejected(anyhow::Error::new(e).context(format!("checkpoint {}", path.display()))))?,
            )
        }
        None => None,
    };
    let file = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let mut bytes = Vec::new();
    file.take(BUNDLE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let bundle: Bundle =
        bundle::parse(&bytes).map_err(|e| rejected(anyhow::Error::new(e).context(args.file.display().to_string())))?;
    let verified = bundle::verify(&bundle, &verifier, since_given.as_ref()).map_err(failed)?;
    let (trace, custody) = (&verified.trace, &verified.custody);

    match args.format {
        Format::Json => print_json(&json!({
            "ok": true,
            "lot": bundle.lot,
            "records": bundle.records.len(),
            "checkpoint_origin": verified.checkpoint.origin,
            "checkpoint_size": verified.checkpoint.size,
            "checkpoint_root": verified.checkpoint.root.to_hex(),
            "since_size": verified.since.map(|c| c.size),
            "trace_back": serde_json::to_value(trace)?,
            "custody": serde_json::to_value(custody)?,
        }))?,
        Format::Text => {
            let mut out = BufWriter::new(std::io::stdout().lock());
            let cp = &verified.checkpoint;
            writeln!(
                out,
                "Bundle of {}: {} records, each proven in the tree of {} records signed by {} ({})",
                bundle.lot,
                bundle.records.len(),
                cp.size,
                verifier.name,
                cp.origin
            )?;
            if let Some(old) = &verified.since {
                writeln!(out, "  extends the earlier checkpoint of {} records", old.size)?;
            }
            writeln!(out)?;
            crate::query::write_trace_back(&mut out, trace)?;
            writeln!(out)?;
            crate::query::write_custody(&mut out, custody)?;
            out.flush()?;
        }
    }
    Ok(())
}
