//! Audit bundles: one JSON document holding a signed checkpoint, the records that a lot's trace
//! back and custody chain are derived from, exactly as stored, and each record's inclusion proof in
//! the checkpoint's tree (`docs/format.md` §8).
//!
//! An auditor verifies a bundle without the ledger: the signature pins the tree, the proofs pin
//! every record in it, and replaying the records alone re-derives the answers ([`verify`]).

use std::collections::BTreeSet;

use lode_projections::Ledger;
use lode_store::{merkle, record, Gate, Hash, Reader, Record};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Checkpoint, CheckpointError, LogAt, SecretKey, Verifier};
use crate::{Custody, Limits, QueryError, TraceBack};

/// The value of a bundle's `format` field.
pub const BUNDLE_FORMAT: &str = "lode-bundle/1";
/// The largest bundle a verifier reads.
pub const BUNDLE_BYTES_MAX: u64 = 1 << 30;
/// The most records a bundle may hold.
pub const BUNDLE_RECORDS_MAX: usize = 1_000_000;

/// The keyword of the checkpoint's extension line that names the bundle's lot and records.
const BUNDLE_LINE: &str = "lode-bundle";

/// The event types whose every record a bundle holds besides the lots' own: they give parties
/// and sites their countries.
const REGISTRATIONS: [&str; 2] = ["party.registered", "site.registered"];

/// An audit bundle as it is written (`docs/format.md` §8).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    pub lot: String,
    /// The signed checkpoint note, whose body also names the lot and the bundled positions.
    pub checkpoint: String,
    pub records: Vec<BundledRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
}

/// One record, exactly as stored, with its inclusion proof in the checkpoint's tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundledRecord {
    pub position: u64,
    pub record: String,
    pub proof: Vec<String>,
}

/// An earlier checkpoint of the auditor's and the consistency proof from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    pub checkpoint: String,
    pub proof: Vec<String>,
}

/// Why a bundle could not be built, or does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The lot cannot be bundled (absent, too large, an empty ledger) or the bundle does not
    /// verify: what the user or the auditor must hear.
    #[error("{0}")]
    Refused(String),
    /// The lot's trace or custody could not be derived.
    #[error("{context}: {source}")]
    Query {
        context: String,
        #[source]
        source: QueryError,
    },
    /// A checkpoint was refused.
    #[error("{context}: {source}")]
    Checkpoint {
        context: String,
        #[source]
        source: CheckpointError,
    },
    /// The ledger could not be read.
    #[error("{0}")]
    Store(String),
}

impl BundleError {
    /// True when the error is the ledger's (an I/O or storage fault), not the bundle's or the request's.
    pub fn is_storage(&self) -> bool {
        matches!(self, BundleError::Store(_))
    }
}

fn refused(what: impl Into<String>) -> BundleError {
    BundleError::Refused(what.into())
}

fn store_err(context: &str) -> impl FnOnce(lode_store::ReadError) -> BundleError + '_ {
    move |source| BundleError::Store(format!("{context}: {source}"))
}

fn no_nodes() -> BundleError {
    BundleError::Store("reading the tree's nodes: a node is missing".to_string())
}

fn cp_err(context: impl Into<String>) -> impl FnOnce(CheckpointError) -> BundleError {
    let context = context.into();
    move |source| BundleError::Checkpoint { context, source }
}

/// What picks the records that name no lot out of the log: the event's type and targets.
#[derive(Debug, Deserialize)]
struct EventHead<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    data: EventTargets,
}

#[derive(Debug, Default, Deserialize)]
struct EventTargets {
    /// The shipment a `document.attached` names (any JSON, so that no event's shape can fail
    /// the scan).
    shipment: Option<serde_json::Value>,
    /// The event an `event.corrected` corrects.
    event: Option<serde_json::Value>,
}

fn hexes(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(Hash::to_hex).collect()
}

/// BLAKE3("lode-bundle/1" ‖ 0x0a ‖ lot ‖ 0x0a ‖ each position as 8 bytes big-endian).
fn manifest_hash(lot: &str, positions: impl Iterator<Item = u64>) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"lode-bundle/1\n");
    h.update(lot.as_bytes());
    h.update(b"\n");
    for p in positions {
        h.update(&p.to_be_bytes());
    }
    Hash(*h.finalize().as_bytes())
}

/// The body of a note that [`checkpoint::open`] accepted: everything up to the blank line.
pub fn body_of(note: &str) -> &str {
    note.find("\n\n").map_or(note, |i| &note[..=i])
}

/// Builds the bundle of `lot` from the ledger as it is now, signed with `key` under `origin`.
/// `since` is an earlier checkpoint note of the auditor's, already opened with the key's verifier:
/// the bundle then carries it and the consistency proof from it.
pub fn build(
    reader: &Reader,
    ledger: &Ledger,
    lot: &str,
    key: &SecretKey,
    origin: &str,
    since: Option<(String, Checkpoint)>,
) -> Result<Bundle, BundleError> {
    checkpoint::check_origin(origin).map_err(cp_err("the origin"))?;
    let (size, root, chain_head, records, since_proof) = collect(reader, ledger, lot, since.as_ref().map(|(_, c)| c))?;
    // The signed body also names the lot and the bundle's positions, so that a record removed
    // or added later breaks the signature's promise even though each record alone still proves.
    let mut body =
        checkpoint::body(&Checkpoint { origin: origin.to_string(), size, root, chain_head: Some(chain_head) });
    let positions = manifest_hash(lot, records.iter().map(|r| r.position));
    body.push_str(&format!("{BUNDLE_LINE} {lot} {} {}\n", records.len(), positions.to_hex()));
    Ok(Bundle {
        format: BUNDLE_FORMAT.to_string(),
        lot: lot.to_string(),
        checkpoint: key.sign_body(&body),
        records,
        since: since.map(|(checkpoint, _)| Since { checkpoint, proof: hexes(&since_proof) }),
    })
}

type Collected = (u64, Hash, Hash, Vec<BundledRecord>, Vec<Hash>);

/// Reads what the bundle holds from the ledger: its size, root and chain head, the records with
/// their proofs, and the consistency proof from `since`.
fn collect(reader: &Reader, ledger: &Ledger, lot: &str, since: Option<&Checkpoint>) -> Result<Collected, BundleError> {
    let head = reader.head();
    let size = head.seq;
    if size == 0 {
        return Err(refused("the ledger is empty: there is nothing to bundle"));
    }
    let root = reader.merkle_root(size).ok_or_else(no_nodes)?;
    let trace = ledger
        .read(|s, v| crate::trace_back(s, v, lot, &Limits::default()))
        .map_err(|source| BundleError::Query { context: format!("tracing lot {lot}"), source })?;
    if trace.truncated {
        return Err(refused(format!(
            "lot {lot} has more than {} lots in its ancestry: a bundle would be incomplete",
            trace.lots_max
        )));
    }
    let custody = ledger
        .read(|s, v| crate::custody(s, v, lot))
        .map_err(|source| BundleError::Query { context: format!("the custody of lot {lot}"), source })?;
    let shipments: BTreeSet<&str> = custody.handovers.iter().map(|h| h.shipment.as_str()).collect();
    let mut positions = BTreeSet::new();
    for l in &trace.lots {
        positions.extend(reader.stream_positions(l.lot.as_str()).into_iter().filter(|&p| p <= size));
    }
    // Registrations, documents attached to the lots' shipments and corrections of bundled events
    // name no lot: one pass over the log finds them. A correction follows what it corrects, so
    // the ids bundled so far are all it can name.
    let mut ids = BTreeSet::new();
    let log = "reading the log";
    for r in reader.iter_from(1).take(usize::try_from(size).unwrap_or(usize::MAX)) {
        let r = r.map_err(store_err(log))?;
        let header = record::parse(&r.bytes).map_err(|e| refused(format!("record {}: {e}", r.seq)))?;
        let event: EventHead<'_> = serde_json::from_slice(header.event)
            .map_err(|e| refused(format!("record {}: reading the event's type: {e}", r.seq)))?;
        let wanted = positions.contains(&r.seq)
            || REGISTRATIONS.contains(&event.kind)
            || (event.kind == "document.attached"
                && event.data.shipment.as_ref().and_then(|s| s.as_str()).is_some_and(|s| shipments.contains(s)))
            || (event.kind == "event.corrected"
                && event.data.event.as_ref().and_then(|e| e.as_str()).is_some_and(|e| ids.contains(e)));
        if wanted {
            positions.insert(r.seq);
            ids.insert(header.id.to_string());
        }
    }
    if positions.len() > BUNDLE_RECORDS_MAX {
        return Err(refused(format!("{} records, the limit is {BUNDLE_RECORDS_MAX}", positions.len())));
    }
    let mut records = Vec::with_capacity(positions.len());
    for seq in positions {
        let r = reader
            .get(seq)
            .map_err(store_err(log))?
            .ok_or_else(|| refused(format!("record {seq} is missing from the log")))?;
        let proof = reader.inclusion_proof(seq, size).ok_or_else(no_nodes)?;
        let text = String::from_utf8(r.bytes).map_err(|_| refused(format!("record {seq} is not UTF-8")))?;
        records.push(BundledRecord { position: seq, record: text, proof: hexes(&proof) });
    }
    let since_proof = match since {
        None => Vec::new(),
        Some(cp) => {
            let extends = "the log does not extend the earlier checkpoint";
            checkpoint::check_size(cp, size).map_err(cp_err(extends))?;
            let old_root = reader.merkle_root(cp.size).ok_or_else(no_nodes)?;
            let chain = match cp.size {
                0 => Hash::GENESIS,
                n => reader
                    .get(n)
                    .map_err(store_err(log))?
                    .ok_or_else(|| refused(format!("record {n} is missing from the log")))?
                    .hash(),
            };
            let proof = reader.consistency_proof(cp.size, size).ok_or_else(no_nodes)?;
            let consistency =
                if cp.size == 0 { Ok(()) } else { merkle::verify_consistency(cp.size, size, &old_root, &root, &proof) };
            checkpoint::check_log(cp, size, &LogAt { root: old_root, chain, consistency }).map_err(cp_err(extends))?;
            proof
        }
    };
    Ok((size, root, head.hash, records, since_proof))
}

/// Reads a bundle from its bytes, refusing more than [`BUNDLE_BYTES_MAX`].
pub fn parse(bytes: &[u8]) -> Result<Bundle, BundleError> {
    if bytes.len() as u64 > BUNDLE_BYTES_MAX {
        return Err(refused(format!("the bundle is over {BUNDLE_BYTES_MAX} bytes")));
    }
    serde_json::from_slice(bytes).map_err(|e| refused(format!("not a bundle: {e}")))
}

/// A bundle that verified, with what it proves.
#[derive(Debug)]
pub struct Verified {
    /// The checkpoint the bundle is signed under.
    pub checkpoint: Checkpoint,
    /// The earlier checkpoint the bundle proves its tree extends, when it carries one.
    pub since: Option<Checkpoint>,
    /// The lot's trace back, derived from the bundled records alone.
    pub trace: TraceBack,
    /// The lot's custody chain, derived from the bundled records alone.
    pub custody: Custody,
}

/// Checks every part of a bundle against the operator's key (and, when given, the auditor's
/// earlier checkpoint), then re-derives the lot's trace back and custody from its records alone.
pub fn verify(bundle: &Bundle, verifier: &Verifier, since_given: Option<&Checkpoint>) -> Result<Verified, BundleError> {
    let (checkpoint, since) = check(bundle, verifier, since_given)?;
    let (trace, custody) = derive(bundle)?;
    Ok(Verified { checkpoint, since, trace, custody })
}

/// Checks the `lode-bundle` line of a checkpoint whose signature verified against the bundle.
fn check_manifest(bundle: &Bundle) -> Result<(), BundleError> {
    let lines: Vec<&str> =
        body_of(&bundle.checkpoint).lines().filter(|l| l.split(' ').next() == Some(BUNDLE_LINE)).collect();
    let [line] = lines[..] else {
        return Err(refused(format!(
            "the bundle's checkpoint has {} {BUNDLE_LINE} lines, not one: it does not sign the bundle's records",
            lines.len()
        )));
    };
    let parts: Vec<&str> = line.split(' ').collect();
    let [_, lot, count, hash] = parts[..] else {
        return Err(refused(format!("{line:?} is not `{BUNDLE_LINE} <lot> <count> <64 hex digits>`")));
    };
    if lot != bundle.lot {
        return Err(refused(format!("the checkpoint signs a bundle of lot {lot}, not of {}", bundle.lot)));
    }
    if count != bundle.records.len().to_string() {
        return Err(refused(format!(
            "the checkpoint signs {count} records, the bundle holds {}: records were added or removed",
            bundle.records.len()
        )));
    }
    let actual = manifest_hash(&bundle.lot, bundle.records.iter().map(|r| r.position));
    if Hash::from_hex(hash) != Some(actual) {
        return Err(refused(
            "the bundle's positions are not those the checkpoint signs: records were added, removed or replaced",
        ));
    }
    Ok(())
}

fn parse_hexes(hexes: &[String], what: &str) -> Result<Vec<Hash>, BundleError> {
    hexes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            Hash::from_hex(h)
                .ok_or_else(|| refused(format!("{what}: hash {i} {h:?} is not 64 lowercase hexadecimal digits")))
        })
        .collect()
}

/// Every check on the bundle's bytes: the signature, the positions, the proofs, `since`.
fn check(
    bundle: &Bundle,
    verifier: &Verifier,
    since_given: Option<&Checkpoint>,
) -> Result<(Checkpoint, Option<Checkpoint>), BundleError> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(refused(format!("bundle format {:?}, expected {BUNDLE_FORMAT:?}", bundle.format)));
    }
    let cp = checkpoint::open(&bundle.checkpoint, verifier).map_err(cp_err("the bundle's checkpoint"))?;
    let size = cp.size;
    if bundle.records.len() > BUNDLE_RECORDS_MAX {
        return Err(refused(format!("{} records, the limit is {BUNDLE_RECORDS_MAX}", bundle.records.len())));
    }
    let mut last = 0u64;
    for (i, r) in bundle.records.iter().enumerate() {
        let at = format!("record {} (entry {i} of the bundle)", r.position);
        if r.position <= last {
            return Err(refused(format!(
                "{at}: positions must strictly increase, and it follows position {last}: records reordered or duplicated"
            )));
        }
        if r.position > size {
            return Err(refused(format!("{at}: beyond the checkpoint's {size} records")));
        }
        last = r.position;
        let header = record::parse(r.record.as_bytes()).map_err(|e| refused(format!("{at}: {e}")))?;
        if header.seq != r.position {
            return Err(refused(format!("{at}: its seq field is {}, not its position", header.seq)));
        }
        let proof = parse_hexes(&r.proof, &format!("{at}: inclusion proof"))?;
        let leaf = record::leaf_hash(r.record.as_bytes());
        merkle::verify_inclusion(&leaf, r.position - 1, size, &proof, &cp.root).map_err(|e| {
            refused(format!(
                "{at}: the inclusion proof does not lead to the checkpoint's root: {e}: the record or its proof was altered"
            ))
        })?;
    }
    check_manifest(bundle)?;
    let since = match (&bundle.since, since_given) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(refused("an earlier checkpoint was given but the bundle carries none"));
        }
        (Some(s), given) => {
            let old = checkpoint::open(&s.checkpoint, verifier).map_err(cp_err("the bundle's earlier checkpoint"))?;
            if let Some(given) = given {
                if *given != old {
                    return Err(refused(format!(
                        "the bundle's earlier checkpoint (size {}) is not the one given (size {})",
                        old.size, given.size
                    )));
                }
            }
            checkpoint::check_size(&old, size).map_err(|e| {
                refused(format!("the earlier checkpoint of {} records is beyond the bundle's {size}: {e}", old.size))
            })?;
            let proof = parse_hexes(&s.proof, "the consistency proof")?;
            if old.size > 0 {
                merkle::verify_consistency(old.size, size, &old.root, &cp.root, &proof).map_err(|e| {
                    refused(format!("the consistency proof from {} to {size} records does not verify: {e}", old.size))
                })?;
            }
            Some(old)
        }
    };
    Ok((cp, since))
}

/// Replays the bundle's records alone into a fresh ledger and derives the lot's trace back and
/// custody chain; refuses answers that lack what the bundle should have held.
fn derive(bundle: &Bundle) -> Result<(TraceBack, Custody), BundleError> {
    let mut ledger = Ledger::default();
    for r in &bundle.records {
        let rec = Record::from_bytes(r.record.as_bytes().to_vec())
            .map_err(|e| refused(format!("record {}: {e}", r.position)))?;
        Gate::replay(&mut ledger, &rec)
            .map_err(|e| refused(format!("record {}: replaying it failed: {e}", r.position)))?;
    }
    let lot = bundle.lot.as_str();
    let (trace, custody, missing) = ledger.read(|s, v| {
        let trace = crate::trace_back(s, v, lot, &Limits::default());
        let custody = crate::custody(s, v, lot);
        let mut missing = BTreeSet::new();
        if let (Ok(t), Ok(c)) = (&trace, &custody) {
            for l in &t.lots {
                if s.site(l.site.as_str()).is_none() {
                    missing.insert(format!("site {}", l.site));
                }
                if s.party(l.custodian.as_str()).is_none() {
                    missing.insert(format!("party {}", l.custodian));
                }
            }
            for m in &t.origin {
                if m.country.is_none() {
                    missing.insert(format!("site {}", m.mine));
                }
            }
            for h in &c.handovers {
                for site in [&h.from_site, &h.to_site] {
                    if s.site(site.as_str()).is_none() {
                        missing.insert(format!("site {site}"));
                    }
                }
                for party in [&h.shipper, &h.receiver] {
                    if s.party(party.as_str()).is_none() {
                        missing.insert(format!("party {party}"));
                    }
                }
            }
        }
        (trace, custody, missing)
    });
    let trace = trace.map_err(|e| {
        refused(format!("the bundled records do not derive lot {lot}'s trace: {e}: a record is missing"))
    })?;
    let custody = custody.map_err(|e| {
        refused(format!("the bundled records do not derive lot {lot}'s custody: {e}: a record is missing"))
    })?;
    if trace.truncated || custody.truncated {
        return Err(refused(format!("lot {lot}'s ancestry is too large to derive from a bundle")));
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing.into_iter().collect();
        return Err(refused(format!("the bundle lacks the registration of {}: a record is missing", list.join(", "))));
    }
    Ok((trace, custody))
}
