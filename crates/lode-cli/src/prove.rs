//! `lode prove`: Merkle inclusion and consistency proofs (RFC 9162, BLAKE3), as JSON.

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use crate::output::print_json;
use crate::{rejected, Failed};

#[derive(Debug, clap::Subcommand)]
pub enum Prove {
    /// That record SEQ is in the tree of the first SIZE records (default: all of them).
    Inclusion {
        /// The record's position.
        seq: u64,
        /// The tree size (default: the head).
        #[arg(long, value_name = "N")]
        size: Option<u64>,
    },
    /// That the tree of the first NEW records extends the tree of the first OLD.
    Consistency { old: u64, new: u64 },
}

fn hexes(proof: &[lode_store::Hash]) -> Vec<String> {
    proof.iter().map(lode_store::Hash::to_hex).collect()
}

pub fn run(dir: &Path, p: Prove) -> Result<(), Failed> {
    let store = crate::read::open_log(dir)?;
    let reader = store.reader();
    let head = reader.head().seq;
    let out = match p {
        Prove::Inclusion { seq, size } => {
            let size = size.unwrap_or(head);
            if seq == 0 || seq > size || size > head {
                return Err(rejected(anyhow::anyhow!(
                    "no record {seq} in a tree of {size} records (the log holds {head})"
                )));
            }
            let proof = reader.inclusion_proof(seq, size).context("reading the tree's nodes")?;
            let record = reader.get(seq)?.context("reading the record")?;
            json!({
                "seq": seq,
                "size": size,
                "leaf": record.leaf().to_hex(),
                "root": reader.merkle_root(size).context("reading the tree's nodes")?.to_hex(),
                "proof": hexes(&proof),
            })
        }
        Prove::Consistency { old, new } => {
            if old == 0 || old > new || new > head {
                return Err(rejected(anyhow::anyhow!(
                    "no consistency proof from {old} to {new} records (sizes from 1, old ≤ new ≤ {head})"
                )));
            }
            let proof = reader.consistency_proof(old, new).context("reading the tree's nodes")?;
            json!({
                "old": old,
                "new": new,
                "old_root": reader.merkle_root(old).context("reading the tree's nodes")?.to_hex(),
                "new_root": reader.merkle_root(new).context("reading the tree's nodes")?.to_hex(),
                "proof": hexes(&proof),
            })
        }
    };
    drop(reader);
    store.close().context("closing the ledger")?;
    print_json(&out)?;
    Ok(())
}
