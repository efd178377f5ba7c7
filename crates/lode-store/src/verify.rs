//! Verification: recompute every hash, in constant memory, and name the first bad position.
//!
//! The same [`ChainVerifier`] checks the store and an exported log. It hashes the bytes as
//! stored and only parses the record header; it never re-serialises anything.
//!
//! A single changed byte shows in one of two places: in the record itself (its header no longer
//! parses, or its position is wrong), or in the link to its successor, whose `prev` no longer
//! matches. In the second case the changed record could be either the earlier one (its content)
//! or the later one (its `prev` field). The verifier tells them apart by looking one record
//! further: if the later record's stated `prev`, taken as true, leads to exactly the `prev` the
//! record after it states, then only the earlier record's bytes disagree with the chain.

use std::io::BufRead;
use std::sync::mpsc;

use crate::block::{self, StoredHead, BLOCK_PREFIX, HEAD_KEY, SEGMENT_PREFIX};
use crate::record::{self, Hash, Header};
use crate::store::{Head, Reader};

/// The first problem found, at a position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position {seq}: {what}")]
pub struct Failure {
    /// The first position at which the log is not what was written.
    pub seq: u64,
    /// What is wrong there.
    pub what: String,
}

/// What a successful verification saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The head recomputed from the records.
    pub head: Head,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    seq: u64,
    prev: Hash,
    leaf: Hash,
}

/// Checks records one at a time, in order.
#[derive(Debug)]
pub struct ChainVerifier {
    next_seq: u64,
    chain: Hash,
    /// A record whose `prev` did not match, held until its successor tells which side changed.
    suspect: Option<Link>,
    expect: Option<Head>,
}

impl ChainVerifier {
    /// A verifier starting at the genesis. If `expect` is given, the chain must pass through it:
    /// that is how truncation is caught against a head saved earlier.
    pub fn new(expect: Option<Head>) -> Self {
        ChainVerifier { next_seq: 1, chain: Hash::GENESIS, suspect: None, expect }
    }

    /// Checks the next record. Returns its header for further checks by the caller.
    pub fn push<'a>(&mut self, bytes: &'a [u8], leaf: Hash) -> Result<Header<'a>, Failure> {
        self.push_parsed(record::parse(bytes), leaf)
    }

    /// Checks the next record, already parsed (perhaps on another thread) and hashed.
    pub fn push_parsed<'a>(
        &mut self,
        parsed: Result<Header<'a>, record::Malformed>,
        leaf: Hash,
    ) -> Result<Header<'a>, Failure> {
        let header = parsed.map_err(|e| Failure { seq: self.next_seq, what: e.to_string() })?;
        self.push_link(Ok((header.seq, header.prev)), leaf)?;
        Ok(header)
    }

    /// Checks the next record given only what the chain needs of it: its stated position and
    /// `prev`, or why its header does not parse.
    fn push_link(&mut self, fields: Result<(u64, Hash), record::Malformed>, leaf: Hash) -> Result<(), Failure> {
        let seq = self.next_seq;
        let (stated, prev) = fields.map_err(|e| Failure { seq, what: e.to_string() })?;
        if stated != seq {
            let what = if stated < seq {
                format!("found record {stated} again or out of order, expected record {seq}")
            } else {
                format!("record {seq} is missing (found record {stated} in its place)")
            };
            return Err(Failure { seq, what });
        }
        let link = Link { seq, prev, leaf };
        if let Some(s) = self.suspect.take() {
            return Err(blame(s, Some(link.prev)));
        }
        if prev != self.chain {
            self.suspect = Some(link);
        } else {
            self.chain = record::chain_hash(&self.chain, &leaf);
            self.check_expected(seq)?;
        }
        self.next_seq += 1;
        Ok(())
    }

    fn check_expected(&self, seq: u64) -> Result<(), Failure> {
        if let Some(e) = self.expect {
            if e.seq == seq && e.hash != self.chain {
                return Err(Failure {
                    seq,
                    what: format!("hash {} differs from the expected head {}", self.chain, e.hash),
                });
            }
        }
        Ok(())
    }

    /// Ends the walk. `stored_head` is the head the store claims, if any.
    pub fn finish(mut self, stored_head: Option<Head>) -> Result<Report, Failure> {
        let last = self.next_seq - 1;
        if let Some(s) = self.suspect.take() {
            // No successor: decide with the stored or expected head, if one names this position.
            let witness = [stored_head, self.expect].into_iter().flatten().find(|h| h.seq == s.seq);
            return Err(blame(s, witness.map(|h| h.hash)));
        }
        if let Some(h) = stored_head {
            if h.seq != last {
                return Err(Failure {
                    seq: last.min(h.seq) + 1,
                    what: format!("the stored head says {} records, the log holds {last}", h.seq),
                });
            }
            if h.hash != self.chain {
                return Err(Failure {
                    seq: last,
                    what: format!("the stored head hash {} differs from the recomputed {}", h.hash, self.chain),
                });
            }
        }
        if let Some(e) = self.expect {
            if e.seq > last {
                return Err(Failure {
                    seq: last + 1,
                    what: format!(
                        "the log ends at {last}, before the expected head at {}: records were removed",
                        e.seq
                    ),
                });
            }
        }
        Ok(Report { head: Head { seq: last, hash: self.chain } })
    }
}

/// Names the record to blame when `s`'s `prev` does not match, given what the next record (or a
/// head at `s`'s position) says `s` chains to.
fn blame(s: Link, witness: Option<Hash>) -> Failure {
    // Record 1 links to the genesis, which is fixed and cannot have been altered: when its `prev`
    // does not match, record 1 is to blame whatever the witness says.
    if s.seq > 1 && witness == Some(record::chain_hash(&s.prev, &s.leaf)) {
        blame_earlier(s)
    } else {
        blame_later(s)
    }
}

fn blame_earlier(s: Link) -> Failure {
    Failure {
        seq: s.seq - 1,
        what: format!(
            "record {} does not match the hash that record {} chains to: its bytes were altered",
            s.seq - 1,
            s.seq
        ),
    }
}

fn blame_later(s: Link) -> Failure {
    Failure { seq: s.seq, what: format!("prev does not match the hash of record {}", s.seq - 1) }
}

/// Verifies an exported log: one record per line, as written by an export.
///
/// `progress` is called with the number of records checked so far, every 65,536 records.
pub fn verify_lines<R: BufRead>(
    mut input: R,
    expect: Option<Head>,
    mut progress: impl FnMut(u64),
) -> Result<Report, Failure> {
    const LINES_PER_BATCH: usize = 4096;
    let mut v = ChainVerifier::new(expect);
    let mut lines: Vec<Vec<u8>> = Vec::with_capacity(LINES_PER_BATCH);
    let mut eof = false;
    let mut unterminated = false;
    while !eof {
        lines.clear();
        while lines.len() < LINES_PER_BATCH {
            let mut line = Vec::new();
            let n = input
                .read_until(b'\n', &mut line)
                .map_err(|e| Failure { seq: v.next_seq, what: format!("reading the export: {e}") })?;
            if n == 0 {
                eof = true;
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            } else {
                // Checked after the lines before it, so an earlier problem is reported first.
                eof = true;
                unterminated = true;
                lines.push(line);
                break;
            }
            lines.push(line);
        }
        let slices: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        for (parsed, leaf) in parse_and_hash(&slices) {
            v.push_parsed(parsed, leaf)?;
        }
        if unterminated {
            return Err(Failure {
                seq: v.next_seq - 1,
                what: "the last line has no line end: the export was cut".into(),
            });
        }
        progress(v.next_seq - 1);
    }
    v.finish(None)
}

/// Verifies the store: every record's hash and position, the chain, every index segment entry
/// against the record it points at, and the stored head. Reads one block at a time.
///
/// `progress` is called with the number of records checked so far, after each block.
pub fn verify_store(reader: &Reader, expect: Option<Head>, progress: impl FnMut(u64)) -> Result<Report, Failure> {
    verify_tree(&reader.shared.log, expect, progress)
}

/// Verifies the store in `dir` without opening it for writing or loading its indexes, so that a
/// store too damaged to open can still be told where it is damaged.
///
/// # Errors
/// `Err(VerifyPathError::Open)` when sled cannot open the directory (in use, or not a database);
/// otherwise the verification's own result.
pub fn verify_path(
    dir: &std::path::Path,
    expect: Option<Head>,
    progress: impl FnMut(u64),
) -> Result<Result<Report, Failure>, crate::OpenError> {
    let corrupt = crate::OpenError::Corrupt;
    crate::mark::check_db_present(dir).map_err(corrupt)?;
    // Without a head to check against, the head mark is one: a log cut short is not a valid log.
    let expect = match expect {
        Some(h) => Some(h),
        None => crate::mark::read(dir).map_err(corrupt)?,
    };
    let db = crate::store::open_sled(dir, 64 * 1024 * 1024)?;
    let log = db
        .open_tree("log")
        .map_err(|e| crate::OpenError::Storage { path: dir.to_owned(), source: crate::store::sled_to_io(e) })?;
    Ok(verify_tree(&log, expect, progress))
}

fn verify_tree(log: &sled::Tree, expect: Option<Head>, mut progress: impl FnMut(u64)) -> Result<Report, Failure> {
    let storage = |seq: u64, e: sled::Error| Failure { seq, what: format!("storage failure: {e}") };
    let stored_head = match log.get(HEAD_KEY).map_err(|e| storage(0, e))? {
        Some(v) => {
            let h = StoredHead::decode(&v).ok_or(Failure { seq: 0, what: "the head key does not decode".into() })?;
            Some(Head { seq: h.seq, hash: h.hash })
        }
        None => None,
    };
    // A log without a format key holds no records (opening refuses one that does): its
    // layout is the one written now.
    let nodes_per_page = match log.get(block::FORMAT_KEY).map_err(|e| storage(0, e))? {
        None => block::NODES_PER_PAGE,
        Some(f) => block::nodes_per_page(&f)
            .ok_or_else(|| Failure { seq: 0, what: format!("unknown layout {:?}", String::from_utf8_lossy(&f)) })?,
    };
    // Blocks of the third format need the log's dictionaries.
    let (dicts, _) = crate::store::load_dicts(log).map_err(|e| storage(0, e))?;
    let dicts = &dicts;
    let mut v = ChainVerifier::new(expect);
    let mut tree = MerkleCheck { nodes_per_page, ..MerkleCheck::default() };
    // A pipeline: one thread reads blocks and their index segments from sled in batches, two
    // decompress them and hash their records, and this thread checks, in order, what only one
    // thread can: the chain, the index entries and the Merkle tree.
    std::thread::scope(|s| -> Result<(), Failure> {
        let (raw_tx, raw_rx): (Vec<_>, Vec<_>) = (0..WORKERS).map(|_| mpsc::sync_channel::<Raw>(2)).unzip();
        let (done_tx, done_rx): (Vec<_>, Vec<_>) = (0..WORKERS).map(|_| mpsc::sync_channel::<Decoded>(2)).unzip();
        let named = |name: &str| std::thread::Builder::new().name(name.to_owned());
        named("lode-verify-read")
            .spawn_scoped(s, move || read_batches(log, &raw_tx))
            .map_err(|e| Failure { seq: 0, what: format!("starting a thread: {e}") })?;
        for (rx, tx) in raw_rx.into_iter().zip(done_tx) {
            named("lode-verify-hash")
                .spawn_scoped(s, move || {
                    for raw in rx {
                        if tx.send(decode_batch(raw, dicts)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| Failure { seq: 0, what: format!("starting a thread: {e}") })?;
        }
        // Batches come back in the order they were read: worker 0, 1, 0, 1...
        for w in (0..WORKERS).cycle() {
            let Ok(batch) = done_rx[w].recv() else { break };
            let items = match batch {
                Decoded::Blocks(items) => items,
                Decoded::Failed(e) => return Err(storage(v.next_seq, e)),
                Decoded::ExtraSegment(k) => {
                    let at = block::key_seq(SEGMENT_PREFIX, &k).unwrap_or(v.next_seq);
                    return Err(Failure { seq: at, what: "an index segment points past the last block".into() });
                }
                Decoded::End => break,
            };
            for item in items {
                check_block(&mut v, &mut tree, log, item)?;
                progress(v.next_seq - 1);
            }
        }
        Ok(())
    })?;
    v.finish(stored_head)
}

/// Threads decompressing and hashing blocks during verification.
const WORKERS: usize = 2;
/// Blocks read, decompressed and hashed together.
const BLOCKS_PER_BATCH: usize = 32;

/// A block as read from sled, with the index segment read beside it.
struct RawBlock {
    key: sled::IVec,
    value: sled::IVec,
    segment: Option<Result<(sled::IVec, sled::IVec), sled::Error>>,
}

enum Raw {
    Blocks(Vec<RawBlock>),
    Failed(sled::Error),
    ExtraSegment(sled::IVec),
    End,
}

/// A block checked as far as it can be without the records before it: decompressed, each
/// record parsed, hashed and compared with its index entry.
struct DecodedBlock {
    key: sled::IVec,
    /// The index segment's entries, or what is wrong with the segment.
    segment: Result<usize, SegmentProblem>,
    records: Vec<RecordCheck>,
    /// Where the block's framing broke, if it did.
    broken: Option<(usize, block::Corrupt)>,
}

enum SegmentProblem {
    Missing,
    Undecodable(String),
    Storage(sled::Error),
}

struct RecordCheck {
    /// The record's stated position and `prev`, or why its header does not parse.
    fields: Result<(u64, Hash), record::Malformed>,
    leaf: Hash,
    entry: EntryCheck,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EntryCheck {
    Matches,
    /// The segment has no entry at this record's place.
    Missing,
    /// The entry's id, leaf or streams differ from the record's.
    Differs,
    /// The segment did not decode: the block fails before its records are looked at.
    NotChecked,
}

enum Decoded {
    Blocks(Vec<DecodedBlock>),
    Failed(sled::Error),
    ExtraSegment(sled::IVec),
    End,
}

/// Reads blocks and segments in key order and deals them out to the workers in turn; then
/// reports an index segment past the last block, if any, and the end.
fn read_batches(log: &sled::Tree, workers: &[mpsc::SyncSender<Raw>]) {
    let mut segments = log.scan_prefix([SEGMENT_PREFIX]);
    let mut blocks = log.scan_prefix([BLOCK_PREFIX]).peekable();
    let mut w = 0;
    let mut send = |msg: Raw| {
        let ok = workers[w].send(msg).is_ok();
        w = (w + 1) % workers.len();
        ok
    };
    while blocks.peek().is_some() {
        let mut batch = Vec::with_capacity(BLOCKS_PER_BATCH);
        for kv in blocks.by_ref().take(BLOCKS_PER_BATCH) {
            match kv {
                Ok((key, value)) => batch.push(RawBlock { key, value, segment: segments.next() }),
                Err(e) => {
                    // What was read before the failure is checked first.
                    if !batch.is_empty() && !send(Raw::Blocks(std::mem::take(&mut batch))) {
                        return;
                    }
                    send(Raw::Failed(e));
                    return;
                }
            }
        }
        if !send(Raw::Blocks(batch)) {
            return;
        }
    }
    match segments.next() {
        Some(Ok((k, _))) => {
            send(Raw::ExtraSegment(k));
        }
        Some(Err(e)) => {
            send(Raw::Failed(e));
        }
        None => {
            send(Raw::End);
        }
    }
}

fn decode_batch(raw: Raw, dicts: &block::Dicts) -> Decoded {
    match raw {
        Raw::Blocks(items) => Decoded::Blocks(items.into_iter().map(|b| check_alone(b, dicts)).collect()),
        Raw::Failed(e) => Decoded::Failed(e),
        Raw::ExtraSegment(k) => Decoded::ExtraSegment(k),
        Raw::End => Decoded::End,
    }
}

/// Everything about one block that does not need the records before it.
fn check_alone(raw: RawBlock, dicts: &block::Dicts) -> DecodedBlock {
    let decoded = block::Block::decode_with(&raw.value, dicts);
    let entries = match raw.segment {
        Some(Ok((sk, sv))) if block::key_seq(SEGMENT_PREFIX, &sk) == block::key_seq(BLOCK_PREFIX, &raw.key) => Ok(sv),
        Some(Ok(_)) | None => Err(SegmentProblem::Missing),
        Some(Err(e)) => Err(SegmentProblem::Storage(e)),
    };
    let entries = match &entries {
        Ok(sv) => block::decode_segment_ref(sv).map_err(|e| SegmentProblem::Undecodable(e.to_string())),
        // The problem stays in `entries`, with no entries to compare.
        Err(_) => entries.map(|_| Vec::new()),
    };
    let records = decoded
        .records()
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let leaf = record::leaf_hash(&bytes);
            let parsed = record::parse(&bytes);
            let entry = match (&entries, &parsed) {
                (Err(_), _) => EntryCheck::NotChecked,
                (Ok(entries), Ok(h)) => match entries.get(i) {
                    None => EntryCheck::Missing,
                    Some(e) => {
                        let streams_match = h.streams == e.streams;
                        if e.id == h.id && e.leaf == leaf && streams_match {
                            EntryCheck::Matches
                        } else {
                            EntryCheck::Differs
                        }
                    }
                },
                // A header that does not parse fails the chain check first.
                (Ok(_), Err(_)) => EntryCheck::NotChecked,
            };
            RecordCheck { fields: parsed.map(|h| (h.seq, h.prev)), leaf, entry }
        })
        .collect();
    DecodedBlock { key: raw.key, segment: entries.map(|e| e.len()), records, broken: decoded.broken().cloned() }
}

/// Checks one block in order: its key, its records against the chain, its index segment
/// entry by entry, and the Merkle nodes its records complete.
fn check_block(
    v: &mut ChainVerifier,
    tree: &mut MerkleCheck,
    log: &sled::Tree,
    item: DecodedBlock,
) -> Result<(), Failure> {
    let seq = v.next_seq;
    let first =
        block::key_seq(BLOCK_PREFIX, &item.key).ok_or(Failure { seq, what: "a block key does not decode".into() })?;
    if first != seq {
        return Err(Failure { seq, what: format!("the next block starts at {first}, expected {seq}") });
    }
    let entries = match item.segment {
        Ok(n) => n,
        Err(SegmentProblem::Missing) => {
            return Err(Failure { seq, what: "the index segment for this block is missing".into() })
        }
        Err(SegmentProblem::Undecodable(what)) => return Err(Failure { seq, what }),
        Err(SegmentProblem::Storage(e)) => return Err(Failure { seq, what: format!("storage failure: {e}") }),
    };
    let held = item.records.len();
    for r in item.records {
        let at = v.next_seq;
        v.push_link(r.fields, r.leaf)?;
        match r.entry {
            EntryCheck::Matches => {}
            EntryCheck::Missing => {
                return Err(Failure { seq: at, what: "the index segment has no entry for this record".into() })
            }
            EntryCheck::Differs | EntryCheck::NotChecked => {
                return Err(Failure { seq: at, what: "the index entry does not match the record it points at".into() })
            }
        }
        tree.push(log, at, r.leaf)?;
    }
    if let Some((i, e)) = item.broken {
        return Err(Failure { seq: first + i as u64, what: e.to_string() });
    }
    if entries != held {
        return Err(Failure {
            seq: first + held as u64,
            what: format!("the index segment lists {entries} records, the block holds {held}"),
        });
    }
    Ok(())
}

/// Recomputes the Merkle tree along the walk and compares every stored node, holding only the
/// tree's frontier and one node page per level.
#[derive(Default)]
struct MerkleCheck {
    appender: crate::merkle::Appender,
    pages: std::collections::HashMap<u8, (u64, sled::IVec)>,
    nodes_per_page: u64,
}

impl MerkleCheck {
    fn push(&mut self, log: &sled::Tree, seq: u64, leaf: Hash) -> Result<(), Failure> {
        for (level, index, hash) in self.appender.push(leaf) {
            if level == 0 {
                continue;
            }
            let page_no = index / self.nodes_per_page;
            if self.pages.get(&level).is_none_or(|(p, _)| *p != page_no) {
                let page = log
                    .get(block::node_page_key(level, page_no))
                    .map_err(|e| Failure { seq, what: format!("storage failure: {e}") })?
                    .ok_or_else(|| Failure {
                        seq,
                        what: format!("the Merkle node page {level}/{page_no} is missing"),
                    })?;
                self.pages.insert(level, (page_no, page));
            }
            let (_, page) = &self.pages[&level];
            let at = (index % self.nodes_per_page) as usize * 32;
            if page.get(at..at + 32) != Some(&hash.0[..]) {
                return Err(Failure {
                    seq,
                    what: format!("the stored Merkle node {index} at level {level} does not match the records"),
                });
            }
        }
        Ok(())
    }
}

type Parsed<'a> = (Result<Header<'a>, record::Malformed>, Hash);

/// Parses and leaf-hashes records, on two threads when there are enough to pay for one. Only
/// the chain step after this is sequential.
fn parse_and_hash<'a>(recs: &[&'a [u8]]) -> Vec<Parsed<'a>> {
    const PARALLEL_MIN: usize = 128;
    let one = |r: &&'a [u8]| (record::parse(r), record::leaf_hash(r));
    if recs.len() < PARALLEL_MIN {
        return recs.iter().map(one).collect();
    }
    let (a, b) = recs.split_at(recs.len() / 2);
    std::thread::scope(|s| {
        let h = s.spawn(|| b.iter().map(one).collect::<Vec<_>>());
        let mut out: Vec<Parsed<'a>> = a.iter().map(one).collect();
        out.extend(h.join().expect("parsing and hashing do not panic"));
        out
    })
}
