//! `lode verify`: recompute every hash and name the first bad position.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use lode_store::{Hash, Head};
use serde_json::json;

use crate::output::{print_json, rate};
use crate::{rejected, Failed};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Verify this exported log (from `lode export log`) instead of the data directory.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// A head saved earlier (its hash): the log must still pass through it, which catches
    /// truncation and rewriting. Give its position with --at.
    #[arg(long, value_name = "HEX", requires = "at")]
    head: Option<String>,
    /// The position of --head (the `events` that verification printed then).
    #[arg(long, value_name = "SEQ", requires = "head")]
    at: Option<u64>,
    /// A signed checkpoint (from `lode checkpoint`): the log must extend it. Give the operator's
    /// verifier key with --key.
    #[arg(long, value_name = "FILE", requires = "key", conflicts_with = "log")]
    checkpoint: Option<PathBuf>,
    /// The verifier key (PREFIX.pub from `lode keygen`) that signed --checkpoint.
    #[arg(long, value_name = "PUBFILE", requires = "checkpoint")]
    key: Option<PathBuf>,
}

pub fn run(dir: &Path, args: Args) -> Result<(), Failed> {
    let expect = match (&args.head, args.at) {
        (Some(hex), Some(seq)) => {
            let hash = Hash::from_hex(hex)
                .with_context(|| format!("--head {hex:?} is not 64 lowercase hexadecimal digits"))?;
            Some(Head { seq, hash })
        }
        _ => None,
    };
    // The note's signature first, so that a forged checkpoint fails before the long walk.
    let checkpoint = match (&args.checkpoint, &args.key) {
        (Some(note), Some(key)) => Some(crate::keygen::open_note(note, key)?),
        _ => None,
    };
    let started = Instant::now();
    // Each phase below must make progress within the stall limit (`watchdog.rs`).
    let watch = crate::watchdog::start("verify");
    let result = match &args.log {
        Some(path) => {
            let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            lode_store::verify_lines(BufReader::with_capacity(1 << 20, f), expect, |_| {})
        }
        None => {
            if !dir.join("conf").exists() {
                return Err(anyhow::anyhow!("no ledger at {}", dir.display()).into());
            }
            lode_store::verify_path(dir, expect, |seq| watch.tick(seq))
                .with_context(|| format!("opening the ledger in {}", dir.display()))?
        }
    };
    let elapsed = started.elapsed();
    match result {
        Ok(report) => {
            let mut out = json!({
                "ok": true,
                "events": report.head.seq,
                "head": report.head.hash.to_hex(),
                "events_per_s": rate(report.head.seq, elapsed),
            });
            if args.log.is_none() {
                // The log is intact; now the projections: those the ledger keeps must equal those
                // derived afresh from the log.
                // One derived state in memory at a time: first the stored one, brought up to
                // the log's head and persisted, then one derived afresh from the log alone.
                watch.tick(report.head.seq);
                let live = {
                    let (store, _ledger) = crate::derived::open(dir, false)?;
                    let digest = crate::derived::persisted_digest(&store)?;
                    store.close().context("closing the ledger")?;
                    digest
                };
                watch.tick(report.head.seq);
                let fresh = {
                    let store = crate::read::open_log(dir)?;
                    let digest = lode_projections::Ledger::from_log(&store.reader())
                        .map_err(|e| anyhow::anyhow!("deriving the projections from the log: {e}"))?
                        .digest();
                    store.close().context("closing the ledger")?;
                    digest
                };
                out["projections"] = json!(live.to_hex());
                out["projections_match"] = json!(live == fresh);
                if live != fresh {
                    out["ok"] = json!(false);
                    print_json(&out)?;
                    return Err(rejected(anyhow::anyhow!(
                        "the stored projections ({live}) differ from those derived from the log ({fresh}): run `lode rebuild`"
                    )));
                }
                if let Some(cp) = &checkpoint {
                    let store = crate::read::open_log(dir)?;
                    let checked = crate::keygen::check_log(&store.reader(), cp, &mut out);
                    store.close().context("closing the ledger")?;
                    checked?;
                }
            }
            print_json(&out)?;
            Ok(())
        }
        Err(failure) => {
            print_json(&json!({ "ok": false, "position": failure.seq, "error": failure.what }))?;
            Err(rejected(anyhow::anyhow!("verification failed at {failure}")))
        }
    }
}
