//! Helpers shared by the store tests.

use std::path::Path;

use lode_store::block::{self, BlockBuilder, StoredHead};
use lode_store::record::{self, Hash};
use lode_store::{Head, NewEvent, Options, Store};
use uuid::Uuid;

pub fn options() -> Options {
    // The tests run many stores; durability is exercised by the crash test of the binary.
    Options { fsync: false, ..Options::default() }
}

/// An event touching `lots`, with a body that makes it distinct.
pub fn event(n: u64, lots: &[&str]) -> NewEvent<Vec<String>> {
    NewEvent {
        id: Uuid::from_u128(0x1000_0000_0000_7000_8000_0000_0000_0000 | u128::from(n)),
        event: format!(r#"{{"type":"test.happened","n":{n},"note":"x\ny"}}"#).into_bytes(),
        expected: vec![],
        payload: lots.iter().map(|s| s.to_string()).collect(),
    }
}

/// Opens a store and appends `n` events in batches of `batch`, spread over a few streams.
pub fn filled(dir: &Path, n: u64, batch: usize) -> Store {
    let store = Store::open_open(dir, options()).expect("open");
    let events: Vec<_> = (1..=n).map(|i| event(i, &[&format!("lot-{}", i % 7), "all"])).collect();
    for chunk in events.chunks(batch) {
        let out = store.append(chunk.to_vec()).expect("append");
        assert!(out.stopped.is_none());
    }
    store
}

/// Every record's bytes, in order, read straight from sled.
pub fn raw_records(dir: &Path) -> Vec<Vec<u8>> {
    let db = sled_open(dir);
    let log = db.open_tree("log").expect("tree");
    let dicts = dicts_in(&log);
    let mut out = Vec::new();
    for kv in log.scan_prefix([block::BLOCK_PREFIX]) {
        let (_, v) = kv.expect("read");
        let b = block::Block::decode_with(&v, &dicts);
        assert!(b.broken().is_none(), "a block that does not decode");
        out.extend(b.records().into_iter().map(|r| r.into_owned()));
    }
    out
}

/// Rewrites the whole log from `records`, `per_block` records a block, with index segments
/// recomputed from the records, and the head set to `head` (or left as it was). This is what
/// someone with write access to the files and this documentation could do.
pub fn rewrite(dir: &Path, records: &[Vec<u8>], per_block: usize, head: Option<StoredHead>) {
    let db = sled_open(dir);
    let log = db.open_tree("log").expect("tree");
    for prefix in [block::BLOCK_PREFIX, block::SEGMENT_PREFIX] {
        let keys: Vec<_> = log.scan_prefix([prefix]).keys().map(|k| k.expect("key")).collect();
        for k in keys {
            log.remove(k).expect("remove");
        }
    }
    let mut seq = 1u64;
    for chunk in records.chunks(per_block) {
        let mut b = BlockBuilder::new();
        let mut entries = Vec::new();
        for r in chunk {
            b.push(r);
            match record::parse(r) {
                Ok(h) => entries.push((
                    h.id,
                    record::leaf_hash(r),
                    h.streams.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                )),
                Err(_) => entries.push((Uuid::nil(), record::leaf_hash(r), vec![])),
            }
        }
        log.insert(block::key(block::BLOCK_PREFIX, seq), b.finish().0).expect("insert");
        let seg = block::encode_segment(entries.iter().map(|(i, l, s)| (i, l, s.as_slice())));
        log.insert(block::key(block::SEGMENT_PREFIX, seq), seg).expect("insert");
        seq += chunk.len() as u64;
    }
    if let Some(h) = head {
        log.insert(block::HEAD_KEY, &h.encode()[..]).expect("insert");
    }
    db.flush().expect("flush");
}

/// Changes sled tree `tree` of the store in `dir` behind the store's back, then flushes.
pub fn edit_tree(dir: &Path, tree: &str, edit: impl FnOnce(&sled::Tree)) {
    let db = sled_open(dir);
    edit(&db.open_tree(tree).expect("tree"));
    db.flush().expect("flush");
}

/// Replaces one block value as it is, bytes and all.
pub fn put_block(dir: &Path, first: u64, value: Vec<u8>) {
    edit_tree(dir, "log", |log| {
        log.insert(block::key(block::BLOCK_PREFIX, first), value).expect("insert");
    });
}

/// The dictionaries stored in a log tree.
pub fn dicts_in(log: &sled::Tree) -> block::Dicts {
    let mut dicts = block::Dicts::default();
    for kv in log.scan_prefix([block::DICT_PREFIX]) {
        let (k, v) = kv.expect("read");
        let id = block::dict_key_id(&k).expect("a dictionary key");
        dicts.insert(std::sync::Arc::new(block::Dict::decode(id, &v).expect("a dictionary")));
    }
    dicts
}

/// The dictionaries of the store in `dir`.
pub fn dicts_of(dir: &Path) -> block::Dicts {
    let db = sled_open(dir);
    let log = db.open_tree("log").expect("tree");
    dicts_in(&log)
}

/// Stores `value` as dictionary `id`, bytes and all.
pub fn put_dict(dir: &Path, id: u32, value: Vec<u8>) {
    edit_tree(dir, "log", |log| {
        log.insert(block::dict_key(id), value).expect("insert");
    });
}

/// Every block as (first position, value).
pub fn raw_blocks(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let db = sled_open(dir);
    let log = db.open_tree("log").expect("tree");
    log.scan_prefix([block::BLOCK_PREFIX])
        .map(|kv| {
            let (k, v) = kv.expect("read");
            (block::key_seq(block::BLOCK_PREFIX, &k).expect("key"), v.to_vec())
        })
        .collect()
}

/// The head a chain of records ends at.
pub fn head_of(records: &[Vec<u8>]) -> Head {
    let mut h = Hash::GENESIS;
    for r in records {
        h = record::chain_hash(&h, &record::leaf_hash(r));
    }
    Head { seq: records.len() as u64, hash: h }
}

pub fn verify_dir(dir: &Path, expect: Option<Head>) -> Result<lode_store::Report, lode_store::Failure> {
    let store = Store::open_open(dir, options()).expect("open for verify");
    lode_store::verify_store(&store.reader(), expect, |_| {})
}

/// Opens the store's sled database directly, waiting for a store of this process that was just
/// dropped to let go of its lock.
pub fn sled_open(dir: &Path) -> sled::Db {
    for _ in 0..200 {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    sled::open(dir).expect("sled open")
}
