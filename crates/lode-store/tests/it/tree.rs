//! The Merkle tree the writer keeps: roots and proofs of every size, across reopening, and
//! verification of its stored nodes.

use lode_store::merkle::{self, MemoryNodes};
use lode_store::record::leaf_hash;
use lode_store::{verify_path, Store};

use crate::support::*;

#[test]
fn the_stored_tree_gives_the_roots_and_proofs_of_every_size() {
    let dir = tempfile::tempdir().unwrap();
    let n = 300u64;
    // Appended in uneven batches, and reopened midway, so that node pages are resumed.
    let store = filled(dir.path(), 130, 17);
    drop(store);
    let store = Store::open_open(dir.path(), options()).unwrap();
    let events: Vec<_> = (131..=n).map(|i| event(i, &["late"])).collect();
    for chunk in events.chunks(29) {
        store.append(chunk.to_vec()).unwrap();
    }
    let reader = store.reader();
    let leaves: Vec<_> = reader.iter_from(1).map(|r| leaf_hash(&r.unwrap().bytes)).collect();
    assert_eq!(leaves.len() as u64, n);
    let (reference, _) = MemoryNodes::from_leaves(leaves.iter().copied());
    for size in 1..=n {
        let root = reader.merkle_root(size).unwrap();
        assert_eq!(Some(root), merkle::root(&reference, size), "size {size}");
        for seq in [1, size / 2 + 1, size] {
            let proof = reader.inclusion_proof(seq, size).unwrap();
            merkle::verify_inclusion(&leaves[seq as usize - 1], seq - 1, size, &proof, &root).unwrap();
        }
        let old = size / 3 + 1;
        let proof = reader.consistency_proof(old, size).unwrap();
        merkle::verify_consistency(old, size, &reader.merkle_root(old).unwrap(), &root, &proof).unwrap();
    }
    assert!(reader.merkle_root(n + 1).is_none(), "no root beyond the durable head");
    drop(reader);
    drop(store);
    assert!(verify_path(dir.path(), None, |_| {}).unwrap().is_ok());
}

#[test]
fn a_stored_merkle_node_that_does_not_match_the_records_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), 40, 40));
    let db = sled_open(dir.path());
    let log = db.open_tree("log").unwrap();
    // Level 1, page 0 holds the parents of leaf pairs; change the one over records 9 and 10.
    let key = lode_store::block::node_page_key(1, 0);
    let mut page = log.get(key).unwrap().unwrap().to_vec();
    page[4 * 32] ^= 1;
    log.insert(key, page).unwrap();
    db.flush().unwrap();
    drop(log);
    drop(db);
    let failure = verify_path(dir.path(), None, |_| {}).unwrap().unwrap_err();
    assert_eq!(failure.seq, 10, "{failure}");
}

#[test]
fn lost_node_pages_are_built_again_from_the_index_segments_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path(), 90, 11).head();
    let root = {
        let store = Store::open_open(dir.path(), options()).unwrap();
        store.reader().merkle_root(90).unwrap()
    };
    let db = sled_open(dir.path());
    let log = db.open_tree("log").unwrap();
    let keys: Vec<_> = log.scan_prefix([lode_store::block::NODE_PAGE_PREFIX]).keys().map(|k| k.unwrap()).collect();
    assert!(!keys.is_empty());
    for k in keys {
        log.remove(k).unwrap();
    }
    db.flush().unwrap();
    drop(log);
    drop(db);
    let store = Store::open_open(dir.path(), options()).unwrap();
    assert_eq!(store.head(), head);
    assert_eq!(store.reader().merkle_root(90), Some(root));
    store.append(vec![event(91, &["x"])]).unwrap();
    drop(store);
    assert!(verify_path(dir.path(), None, |_| {}).unwrap().is_ok());
}

#[test]
fn a_log_of_the_first_layout_keeps_its_256_node_pages() {
    // Logs written before node pages shrank to 16 nodes say `lode-log-v1`: they are read,
    // verified and appended to with pages of 256 nodes, never rewritten.
    use lode_store::block::{self, node_page_key};
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path(), 600, 50).head();
    let root = Store::open_open(dir.path(), options()).unwrap().reader().merkle_root(600).unwrap();
    {
        let db = sled_open(dir.path());
        let log = db.open_tree("log").unwrap();
        assert_eq!(log.get(block::FORMAT_KEY).unwrap().as_deref(), Some(block::FORMAT_VERSION));
        assert_eq!(log.get(node_page_key(1, 0)).unwrap().unwrap().len(), 16 * 32, "the layout written now");
        let keys: Vec<_> = log.scan_prefix([block::NODE_PAGE_PREFIX]).keys().map(|k| k.unwrap()).collect();
        for k in keys {
            log.remove(k).unwrap();
        }
        log.insert(block::FORMAT_KEY, block::FORMAT_VERSION_V1).unwrap();
        db.flush().unwrap();
    }
    // Opening builds the pages again from the index segments, in the log's own layout.
    let store = Store::open_open(dir.path(), options()).unwrap();
    assert_eq!(store.head(), head);
    assert_eq!(store.reader().merkle_root(600), Some(root));
    for i in 601..=700 {
        store.append(vec![event(i, &["x"])]).unwrap();
    }
    let root = store.reader().merkle_root(700).unwrap();
    let proof = store.reader().inclusion_proof(650, 700).unwrap();
    drop(store);
    {
        let db = sled_open(dir.path());
        let log = db.open_tree("log").unwrap();
        assert_eq!(log.get(block::FORMAT_KEY).unwrap().as_deref(), Some(block::FORMAT_VERSION_V1));
        assert_eq!(log.get(node_page_key(1, 0)).unwrap().unwrap().len(), 256 * 32);
        assert_eq!(log.get(node_page_key(1, 1)).unwrap().unwrap().len(), 94 * 32, "nodes 256..350 of level 1");
    }
    assert!(verify_path(dir.path(), None, |_| {}).unwrap().is_ok());
    let store = Store::open_open(dir.path(), options()).unwrap();
    assert_eq!(store.reader().merkle_root(700), Some(root));
    assert_eq!(store.reader().inclusion_proof(650, 700), Some(proof));
}
