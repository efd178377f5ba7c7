//! Commands over the derived state: `lode rebuild`, `lode lot`, `lode inventory`.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use lode_projections::{digest_pages, Ledger};
use lode_store::{Options, Store};
use serde_json::json;

use crate::output::{print_json, rate};
use crate::{rejected, Failed};

/// Opens the ledger, restoring the derived state and replaying the log's tail.
pub fn open(dir: &Path, rebuild: bool) -> anyhow::Result<(Store<Ledger>, Ledger)> {
    if !dir.join("conf").exists() {
        anyhow::bail!("no ledger at {}", dir.display());
    }
    let ledger = Ledger::default();
    let store = Store::open(dir, Options { rebuild_state: rebuild, ..Options::default() }, ledger.clone())
        .with_context(|| format!("opening the ledger in {}", dir.display()))?;
    Ok((store, ledger))
}

/// The digest of the derived state as persisted, after persisting everything.
pub fn persisted_digest(store: &Store<Ledger>) -> anyhow::Result<lode_store::Hash> {
    store.checkpoint().context("persisting the derived state")?;
    let (_, pages) = store.reader().state_pages().context("reading the derived state")?;
    Ok(digest_pages(pages.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))))
}

/// `lode rebuild`: regenerates every projection from the log alone.
pub fn rebuild(dir: &Path) -> Result<(), Failed> {
    let started = Instant::now();
    let (store, ledger) = open(dir, true)?;
    let digest = persisted_digest(&store)?;
    let events = store.head().seq;
    let elapsed = started.elapsed();
    if digest != ledger.digest() {
        return Err(rejected(anyhow::anyhow!("the persisted projections differ from those in memory")));
    }
    store.close().context("closing the ledger")?;
    print_json(&json!({
        "rebuilt": events,
        "projections": digest.to_hex(),
        "events_per_s": rate(events, elapsed),
    }))?;
    Ok(())
}
