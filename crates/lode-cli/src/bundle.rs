//! `lode bundle` and `lode verify-bundle`: an audit bundle is one JSON file holding a signed
//! checkpoint, the records that a lot's trace back and custody chain are derived from, exactly as
//! stored, and each record's inclusion proof in the checkpoint's tree (`docs/format.md` §8).
//!
//! An auditor verifies a bundle without the ledger: the signature pins the tree, the proofs pin
//! every record in it, and replaying the records alone re-derives the answers.

use std::collections::BTreeSet;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use lode_projections::Ledger;
use lode_query::{Custody, Limits, TraceBack};
use lode_store::{merkle, record, Gate, Hash, Record};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::checkpoint::{self, Checkpoint, LogAt, SecretKey, Verifier};
use crate::keygen::read_small;
use crate::output::print_json;
use crate::query::Format;
use crate::{rejected, Failed};

/// The value of a bundle's `format` field.
pub const BUNDLE_FORMAT: &str = "lode-bundle/1";
/// The largest bundle file `lode verify-bundle` reads.
pub const BUNDLE_BYTES_MAX: u64 = 1 << 30;
/// The most records a bundle may hold.
pub const BUNDLE_RECORDS_MAX: usize = 1_000_000;

/// The keyword of the checkpoint's extension line that names the bundle's lot and records.
const BUNDLE_LINE: &str = "lode-bundle";

/// The event types whose every record a bundle holds besides the lots' own: they give parties
/// and sites their countries.
const REGISTRATIONS: [&str; 2] = ["party.registered", "site.registered"];

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bundle {
    format: String,
    lot: String,
    checkpoint: String,
    records: Vec<BundledRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<Since>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundledRecord {
    position: u64,
    record: String,
    proof: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Since {
    checkpoint: String,
    proof: Vec<String>,
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

fn hexes(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(Hash::to_hex).collect()
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
    let result = collect(&store.reader(), &ledger, &args.lot, since_note.as_ref().map(|(_, cp)| cp));
    store.close().context("closing the ledger")?;
    let (size, root, chain_head, records, since_proof) = result?;

    // The signed body also names the lot and the bundle's positions, so that a record removed
    // or added later breaks the signature's promise even though each record alone still proves.
    let mut body = checkpoint::body(&Checkpoint { origin, size, root, chain_head: Some(chain_head) });
    let positions = manifest_hash(&args.lot, records.iter().map(|r| r.position));
    body.push_str(&format!("{BUNDLE_LINE} {} {} {}\n", args.lot, records.len(), positions.to_hex()));
    let note = key.sign_body(&body);
    let bundle = Bundle {
        format: BUNDLE_FORMAT.to_string(),
        lot: args.lot.clone(),
        checkpoint: note,
        records,
        since: since_note.map(|(checkpoint, _)| Since { checkpoint, proof: hexes(&since_proof) }),
    };
    write_file(&args.out, &bundle)?;
    print_json(&json!({
        "lot": args.lot,
        "out": args.out,
        "checkpoint_size": size,
        "checkpoint_root": root.to_hex(),
        "records": bundle.records.len(),
        "since_size": bundle.since.as_ref().and_then(|s| checkpoint::parse_body(body_of(&s.checkpoint)).ok()).map(|c| c.size),
    }))?;
    Ok(())
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

/// Checks the `lode-bundle` line of a checkpoint whose signature verified against the bundle.
fn check_manifest(bundle: &Bundle) -> Result<(), Failed> {
    let lines: Vec<&str> =
        body_of(&bundle.checkpoint).lines().filter(|l| l.split(' ').next() == Some(BUNDLE_LINE)).collect();
    let [line] = lines[..] else {
        return Err(fail(format!(
            "the bundle's checkpoint has {} {BUNDLE_LINE} lines, not one: it does not sign the bundle's records",
            lines.len()
        )));
    };
    let parts: Vec<&str> = line.split(' ').collect();
    let [_, lot, count, hash] = parts[..] else {
        return Err(fail(format!("{line:?} is not `{BUNDLE_LINE} <lot> <count> <64 hex digits>`")));
    };
    if lot != bundle.lot {
        return Err(fail(format!("the checkpoint signs a bundle of lot {lot}, not of {}", bundle.lot)));
    }
    if count != bundle.records.len().to_string() {
        return Err(fail(format!(
            "the checkpoint signs {count} records, the bundle holds {}: records were added or removed",
            bundle.records.len()
        )));
    }
    let actual = manifest_hash(&bundle.lot, bundle.records.iter().map(|r| r.position));
    if Hash::from_hex(hash) != Some(actual) {
        return Err(fail(
            "the bundle's positions are not those the checkpoint signs: records were added, removed or replaced"
                .to_string(),
        ));
    }
    Ok(())
}

/// The body of a note that [`checkpoint::open`] accepted: everything up to the blank line.
fn body_of(note: &str) -> &str {
    note.find("\n\n").map_or(note, |i| &note[..=i])
}

type Collected = (u64, Hash, Hash, Vec<BundledRecord>, Vec<Hash>);

/// Reads what the bundle holds from the ledger: its size, root and chain head, the records with
/// their proofs, and the consistency proof from `since`.
fn collect(
    reader: &lode_store::Reader,
    ledger: &Ledger,
    lot: &str,
    since: Option<&Checkpoint>,
) -> Result<Collected, Failed> {
    let head = reader.head();
    let size = head.seq;
    if size == 0 {
        return Err(rejected(anyhow::anyhow!("the ledger is empty: there is nothing to bundle")));
    }
    let root = reader.merkle_root(size).context("reading the tree's nodes")?;
    let trace = ledger
        .read(|s, v| lode_query::trace_back(s, v, lot, &Limits::default()))
        .map_err(|e| rejected(anyhow::Error::new(e).context(format!("tracing lot {lot}"))))?;
    if trace.truncated {
        return Err(rejected(anyhow::anyhow!(
            "lot {lot} has more than {} lots in its ancestry: a bundle would be incomplete",
            trace.lots_max
        )));
    }
    let custody = ledger
        .read(|s, v| lode_query::custody(s, v, lot))
        .map_err(|e| rejected(anyhow::Error::new(e).context(format!("the custody of lot {lot}"))))?;
    let shipments: BTreeSet<&str> = custody.handovers.iter().map(|h| h.shipment.as_str()).collect();
    let mut positions = BTreeSet::new();
    for l in &trace.lots {
        positions.extend(reader.stream_positions(l.lot.as_str()).into_iter().filter(|&p| p <= size));
    }
    // Registrations, documents attached to the lots' shipments and corrections of bundled events
    // name no lot: one pass over the log finds them. A correction follows what it corrects, so
    // the ids bundled so far are all it can name.
    let mut ids = BTreeSet::new();
    for r in reader.iter_from(1).take(usize::try_from(size).unwrap_or(usize::MAX)) {
        let r = r.context("reading the log")?;
        let header = record::parse(&r.bytes).context("reading the log")?;
        let event: EventHead<'_> = serde_json::from_slice(header.event).context("reading an event's type")?;
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
        return Err(rejected(anyhow::anyhow!("{} records, the limit is {BUNDLE_RECORDS_MAX}", positions.len())));
    }
    let mut records = Vec::with_capacity(positions.len());
    for seq in positions {
        let r = reader.get(seq)?.with_context(|| format!("reading record {seq}"))?;
        let proof = reader.inclusion_proof(seq, size).context("reading the tree's nodes")?;
        let text = String::from_utf8(r.bytes).with_context(|| format!("record {seq} is not UTF-8"))?;
        records.push(BundledRecord { position: seq, record: text, proof: hexes(&proof) });
    }
    let since_proof = match since {
        None => Vec::new(),
        Some(cp) => {
            checkpoint::check_size(cp, size).map_err(|e| rejected(e.into()))?;
            let old_root = reader.merkle_root(cp.size).context("reading the tree's nodes")?;
            let chain = match cp.size {
                0 => Hash::GENESIS,
                n => reader.get(n)?.context("reading the record at the checkpoint")?.hash,
            };
            let proof = reader.consistency_proof(cp.size, size).context("reading the tree's nodes")?;
            let consistency =
                if cp.size == 0 { Ok(()) } else { merkle::verify_consistency(cp.size, size, &old_root, &root, &proof) };
            checkpoint::check_log(cp, size, &LogAt { root: old_root, chain, consistency }).map_err(|e| {
                rejected(anyhow::Error::new(e).context("the log does not extend the --since checkpoint"))
            })?;
            proof
        }
    };
    Ok((size, root, head.hash, records, since_proof))
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

/// A verification failure: exit 1 with `what`.
fn fail(what: String) -> Failed {
    rejected(anyhow::anyhow!(what))
}

fn parse_hexes(hexes: &[String], what: &str) -> Result<Vec<Hash>, Failed> {
    hexes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            Hash::from_hex(h)
                .ok_or_else(|| fail(format!("{what}: hash {i} {h:?} is not 64 lowercase hexadecimal digits")))
        })
        .collect()
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
    if bytes.len() as u64 > BUNDLE_BYTES_MAX {
        return Err(fail(format!("{} is over {BUNDLE_BYTES_MAX} bytes", args.file.display())));
    }
    let bundle: Bundle =
        serde_json::from_slice(&bytes).map_err(|e| fail(format!("{} is not a bundle: {e}", args.file.display())))?;
    let verified = check(&bundle, &verifier, since_given.as_ref())?;
    let (trace, custody) = derive(&bundle)?;

    match args.format {
        Format::Json => print_json(&json!({
            "ok": true,
            "lot": bundle.lot,
            "records": bundle.records.len(),
            "checkpoint_origin": verified.checkpoint.origin,
            "checkpoint_size": verified.checkpoint.size,
            "checkpoint_root": verified.checkpoint.root.to_hex(),
            "since_size": verified.since.map(|c| c.size),
            "trace_back": serde_json::to_value(&trace)?,
            "custody": serde_json::to_value(&custody)?,
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
            crate::query::write_trace_back(&mut out, &trace)?;
            writeln!(out)?;
            crate::query::write_custody(&mut out, &custody)?;
            out.flush()?;
        }
    }
    Ok(())
}

#[derive(Debug)]
struct Verified {
    checkpoint: Checkpoint,
    since: Option<Checkpoint>,
}

/// Every check on the bundle's bytes: the signature, the positions, the proofs, `since`.
fn check(bundle: &Bundle, verifier: &Verifier, since_given: Option<&Checkpoint>) -> Result<Verified, Failed> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(fail(format!("bundle format {:?}, expected {BUNDLE_FORMAT:?}", bundle.format)));
    }
    let cp = checkpoint::open(&bundle.checkpoint, verifier)
        .map_err(|e| rejected(anyhow::Error::new(e).context("the bundle's checkpoint")))?;
    let size = cp.size;
    if bundle.records.len() > BUNDLE_RECORDS_MAX {
        return Err(fail(format!("{} records, the limit is {BUNDLE_RECORDS_MAX}", bundle.records.len())));
    }
    let mut last = 0u64;
    for (i, r) in bundle.records.iter().enumerate() {
        let at = format!("record {} (entry {i} of the bundle)", r.position);
        if r.position <= last {
            return Err(fail(format!(
                "{at}: positions must strictly increase, and it follows position {last}: records reordered or duplicated"
            )));
        }
        if r.position > size {
            return Err(fail(format!("{at}: beyond the checkpoint's {size} records")));
        }
        last = r.position;
        let header = record::parse(r.record.as_bytes()).map_err(|e| fail(format!("{at}: {e}")))?;
        if header.seq != r.position {
            return Err(fail(format!("{at}: its seq field is {}, not its position", header.seq)));
        }
        let proof = parse_hexes(&r.proof, &format!("{at}: inclusion proof"))?;
        let leaf = record::leaf_hash(r.record.as_bytes());
        merkle::verify_inclusion(&leaf, r.position - 1, size, &proof, &cp.root).map_err(|e| {
            fail(format!(
                "{at}: the inclusion proof does not lead to the checkpoint's root: {e}: the record or its proof was altered"
            ))
        })?;
    }
    check_manifest(bundle)?;
    let since = match (&bundle.since, since_given) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(fail("--since was given but the bundle carries no earlier checkpoint".to_string()));
        }
        (Some(s), given) => {
            let old = checkpoint::open(&s.checkpoint, verifier)
                .map_err(|e| rejected(anyhow::Error::new(e).context("the bundle's earlier checkpoint")))?;
            if let Some(given) = given {
                if *given != old {
                    return Err(fail(format!(
                        "the bundle's earlier checkpoint (size {}) is not the one given with --since (size {})",
                        old.size, given.size
                    )));
                }
            }
            checkpoint::check_size(&old, size).map_err(|e| {
                fail(format!("the earlier checkpoint of {} records is beyond the bundle's {size}: {e}", old.size))
            })?;
            let proof = parse_hexes(&s.proof, "the consistency proof")?;
            if old.size > 0 {
                merkle::verify_consistency(old.size, size, &old.root, &cp.root, &proof).map_err(|e| {
                    fail(format!("the consistency proof from {} to {size} records does not verify: {e}", old.size))
                })?;
            }
            Some(old)
        }
    };
    Ok(Verified { checkpoint: cp, since })
}

/// Replays the bundle's records alone into a fresh ledger and derives the lot's trace back and
/// custody chain; refuses answers that lack what the bundle should have held.
fn derive(bundle: &Bundle) -> Result<(TraceBack, Custody), Failed> {
    let mut ledger = Ledger::default();
    for r in &bundle.records {
        let rec = Record::from_bytes(r.record.as_bytes().to_vec())
            .map_err(|e| fail(format!("record {}: {e}", r.position)))?;
        Gate::replay(&mut ledger, &rec)
            .map_err(|e| fail(format!("record {}: replaying it failed: {e}", r.position)))?;
    }
    let lot = bundle.lot.as_str();
    let (trace, custody, missing) = ledger.read(|s, v| {
        let trace = lode_query::trace_back(s, v, lot, &Limits::default());
        let custody = lode_query::custody(s, v, lot);
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
    let trace = trace
        .map_err(|e| fail(format!("the bundled records do not derive lot {lot}'s trace: {e}: a record is missing")))?;
    let custody = custody.map_err(|e| {
        fail(format!("the bundled records do not derive lot {lot}'s custody: {e}: a record is missing"))
    })?;
    if trace.truncated || custody.truncated {
        return Err(fail(format!("lot {lot}'s ancestry is too large to derive from a bundle")));
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing.into_iter().collect();
        return Err(fail(format!("the bundle lacks the registration of {}: a record is missing", list.join(", "))));
    }
    Ok((trace, custody))
}
