//! Commands over the derived state: `lode rebuild`, `lode lot`, `lode inventory`.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use lode_projections::{digest_stored_pages, Ledger};
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
    digest_stored_pages(&pages).map_err(|e| anyhow::anyhow!("the stored projections do not decode: {e}"))
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

#[derive(Debug, clap::Args)]
pub struct LotArgs {
    /// The lot id.
    lot: String,
}

/// `lode lot LOT`: the lot's state as JSON.
pub fn lot(dir: &Path, args: LotArgs) -> Result<(), Failed> {
    let (store, ledger) = open(dir, false)?;
    let view = ledger.read(|state, views| views.lot(state, &args.lot));
    store.close().context("closing the ledger")?;
    match view {
        Some(v) => {
            print_json(&serde_json::to_value(v)?)?;
            Ok(())
        }
        None => Err(rejected(anyhow::anyhow!("no lot {:?} in the ledger", args.lot))),
    }
}

#[derive(Debug, clap::Args)]
pub struct InventoryArgs {
    /// Only lots held by this party.
    #[arg(long, value_name = "PARTY")]
    party: Option<String>,
    /// Only lots at this site.
    #[arg(long, value_name = "SITE")]
    site: Option<String>,
    /// Only lots of this material form (ore, concentrate, oxide, metal, alloy, magnet, …).
    #[arg(long, value_name = "FORM")]
    material: Option<String>,
    /// As it stood at a past point: a log position, or an RFC 3339 time (the events recorded until then).
    #[arg(long, value_name = "TIME|SEQ")]
    as_of: Option<String>,
    /// JSON lines (one row per line), or text for people.
    #[arg(long, value_enum, default_value_t = crate::query::Format::Json)]
    format: crate::query::Format,
}

/// `lode inventory`: active and in-transit mass by party, site and material form, as JSON lines.
pub fn inventory(dir: &Path, args: InventoryArgs) -> Result<(), Failed> {
    let filter = lode_projections::view::InventoryFilter {
        party: args.party.as_deref().map(str::parse).transpose().map_err(|e| anyhow::anyhow!("--party: {e}"))?,
        site: args.site.as_deref().map(str::parse).transpose().map_err(|e| anyhow::anyhow!("--site: {e}"))?,
        form: args.material.as_deref().map(parse_form).transpose()?,
    };
    let (rows, as_of) = match &args.as_of {
        Some(as_of) => crate::query::inventory_as_of(dir, as_of, &filter)?,
        None => {
            let (store, ledger) = open(dir, false)?;
            let rows = ledger.read(|_, views| views.inventory(&filter));
            store.close().context("closing the ledger")?;
            (rows, None)
        }
    };
    crate::query::print_inventory(&rows, args.format, as_of)
}

fn parse_form(s: &str) -> anyhow::Result<lode_domain::Form> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| anyhow::anyhow!("--material {s:?} is not a material form (ore, concentrate, mixed_carbonate, mixed_oxide, oxide, metal, alloy, magnet, residue)"))
}
