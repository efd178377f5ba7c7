//! Any change to stored or exported records is caught at the right position.

use std::io::Cursor;

use lode_store::block::{Block, BlockBuilder, Dict, Dicts, StoredHead};
use lode_store::{verify_lines, verify_path};
use proptest::prelude::*;

use crate::support::*;

const N: u64 = 40;

/// 96 cases by default; `PROPTEST_CASES` runs more.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96)
}

/// The record verification must blame for a changed block value: the first whose bytes, as
/// the changed block decodes, differ from the original's (a block that no longer decodes at
/// all, such as a compressed one failing its checksum, yields none, so its first record).
/// `None` when the change leaves every record as it was (zstd ignores one bit of its frame
/// header): then nothing was altered and verification passes.
fn owner_of_change(original: &[u8], changed: &[u8], first: u64, dicts: &Dicts) -> Option<u64> {
    let (a, b) = (Block::decode_with(original, dicts), Block::decode_with(changed, dicts));
    if b.broken().is_none() && a.records() == b.records() {
        return None;
    }
    let i = (0..).find(|&i| a.get(i) != b.get(i)).expect("a changed block decodes differently");
    Some(first + i as u64)
}

/// Changes one byte of one stored block (both picked) and checks that verification blames the
/// record whose bytes changed, or passes when no record changed.
fn flip_a_stored_byte(
    dir: &std::path::Path,
    block_pick: prop::sample::Index,
    byte_pick: prop::sample::Index,
    xor: u8,
) -> Result<(), TestCaseError> {
    let blocks = raw_blocks(dir);
    let (first, mut value) = blocks[block_pick.index(blocks.len())].clone();
    let original = value.clone();
    let offset = byte_pick.index(value.len());
    value[offset] ^= xor;
    let expected = owner_of_change(&original, &value, first, &dicts_of(dir));
    put_block(dir, first, value);
    let verified = verify_path(dir, None, |_| {}).unwrap();
    match expected {
        Some(expected) => {
            let failure = verified.unwrap_err();
            prop_assert_eq!(failure.seq, expected, "{}", failure);
        }
        None => prop_assert!(verified.is_ok(), "records unchanged, yet {:?}", verified),
    }
    Ok(())
}

/// Rewrites every block of the store in `dir` in the first, uncompressed format.
fn to_plain_blocks(dir: &std::path::Path) {
    for (first, value) in raw_blocks(dir) {
        let mut b = BlockBuilder::new();
        for r in Block::decode(&value).records() {
            b.push(&r);
        }
        put_block(dir, first, b.finish_plain());
    }
}

/// Rewrites every block of the store in `dir` in the third format, each frame compressed with a
/// dictionary stored as id 1: the records' own bytes as raw content (zstd takes any bytes as a
/// dictionary; a log trains its own once it has enough records).
fn to_framed_blocks(dir: &std::path::Path) {
    let records = raw_records(dir);
    let content: Vec<u8> = records.iter().take(8).flatten().copied().collect();
    let dict = Dict::new(1, content).unwrap();
    put_dict(dir, 1, dict.encode());
    for (first, value) in raw_blocks(dir) {
        let mut b = BlockBuilder::new();
        for r in Block::decode(&value).records() {
            b.push(&r);
        }
        put_block(dir, first, b.finish_with(&dict).0);
    }
}

/// A store of `N` events whose blocks `rewrite` put in another format, verified as it is.
fn rewritten(rewrite: fn(&std::path::Path)) -> (tempfile::TempDir, lode_store::Head) {
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path(), N, 7).head();
    rewrite(dir.path());
    assert_eq!(verify_path(dir.path(), None, |_| {}).unwrap().unwrap().head, head);
    (dir, head)
}

fn export_of(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(r);
        out.push(b'\n');
    }
    out
}

#[test]
fn an_untouched_store_and_its_export_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path(), N, 7);
    let head = store.head();
    drop(store);
    let report = verify_path(dir.path(), Some(head), |_| {}).unwrap().unwrap();
    assert_eq!(report.head, head);
    let recs = raw_records(dir.path());
    assert_eq!(recs.len() as u64, N);
    let r = verify_lines(Cursor::new(export_of(&recs)), Some(head), |_| {}).unwrap();
    assert_eq!(r.head, head);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_single_byte_change_in_the_store_is_caught_at_its_record(block_pick in any::<prop::sample::Index>(), byte_pick in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let dir = tempfile::tempdir().unwrap();
        drop(filled(dir.path(), N, 7));
        flip_a_stored_byte(dir.path(), block_pick, byte_pick, xor)?;
    }

    #[test]
    fn any_single_byte_change_in_a_store_of_uncompressed_blocks_is_caught_at_its_record(block_pick in any::<prop::sample::Index>(), byte_pick in any::<prop::sample::Index>(), xor in 1u8..=255) {
        // Ledgers written before blocks were compressed are read and verified as they are.
        let (dir, _) = rewritten(to_plain_blocks);
        flip_a_stored_byte(dir.path(), block_pick, byte_pick, xor)?;
    }

    #[test]
    fn any_single_byte_change_in_a_store_of_framed_blocks_is_caught_at_its_record(block_pick in any::<prop::sample::Index>(), byte_pick in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (dir, _) = rewritten(to_framed_blocks);
        flip_a_stored_byte(dir.path(), block_pick, byte_pick, xor)?;
    }

    #[test]
    fn any_single_byte_change_in_a_dictionary_is_caught_at_the_first_record_it_changes(byte_pick in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (dir, head) = rewritten(to_framed_blocks);
        let original = dicts_of(dir.path());
        let mut value = original.get(1).unwrap().encode();
        let offset = byte_pick.index(value.len());
        value[offset] ^= xor;
        // As the store sees it: a dictionary that does not decode is no dictionary.
        let mut changed = Dicts::default();
        if let Ok(d) = Dict::decode(1, &value) {
            changed.insert(std::sync::Arc::new(d));
        }
        let expected = raw_blocks(dir.path()).iter().find_map(|(first, v)| {
            let (a, b) = (Block::decode_with(v.as_slice(), &original), Block::decode_with(v.as_slice(), &changed));
            (b.broken().is_some() || a.records() != b.records())
                .then(|| first + (0..).find(|&i| a.get(i) != b.get(i)).unwrap() as u64)
        });
        put_dict(dir.path(), 1, value);
        let verified = verify_path(dir.path(), Some(head), |_| {}).unwrap();
        match expected {
            Some(expected) => {
                let failure = verified.unwrap_err();
                prop_assert_eq!(failure.seq, expected, "{}", failure);
            }
            None => prop_assert!(verified.is_ok(), "records unchanged, yet {:?}", verified),
        }
    }

    #[test]
    fn any_single_byte_change_in_an_export_is_caught_at_its_record(rec_pick in any::<prop::sample::Index>(), byte_pick in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let dir = tempfile::tempdir().unwrap();
        let head = filled(dir.path(), N, 9).head();
        let mut recs = raw_records(dir.path());
        let i = rec_pick.index(recs.len());
        let b = byte_pick.index(recs[i].len() + 1);
        let mut export = export_of(&recs);
        // Change a byte of record i, or the line end after it.
        let start: usize = recs[..i].iter().map(|r| r.len() + 1).sum();
        export[start + b] ^= xor;
        let failure = verify_lines(Cursor::new(export), Some(head), |_| {}).unwrap_err();
        if b == recs[i].len() {
            // A line end changed: record i swallows the next line, which goes missing (or, after
            // the last record, the export looks cut).
            let expected = if i + 1 < recs.len() { i as u64 + 2 } else { i as u64 + 1 };
            prop_assert_eq!(failure.seq, expected, "{}", failure);
        } else {
            recs[i][b] ^= xor;
            prop_assert_eq!(failure.seq, i as u64 + 1, "{}", failure);
        }
    }

    #[test]
    fn deleting_duplicating_or_swapping_records_is_caught(op in 0..3u8, pick in any::<prop::sample::Index>(), per_block in 1usize..12, in_export: bool) {
        let dir = tempfile::tempdir().unwrap();
        let head = filled(dir.path(), N, 5).head();
        let mut recs = raw_records(dir.path());
        let i = pick.index(recs.len() - 1); // leaves a successor for swaps
        let expected = match op {
            0 => { recs.remove(i); i as u64 + 1 }
            1 => { let r = recs[i].clone(); recs.insert(i + 1, r); i as u64 + 2 }
            _ => { recs.swap(i, i + 1); i as u64 + 1 }
        };
        let failure = if in_export {
            verify_lines(Cursor::new(export_of(&recs)), Some(head), |_| {}).unwrap_err()
        } else {
            rewrite(dir.path(), &recs, per_block, None);
            verify_path(dir.path(), None, |_| {}).unwrap().unwrap_err()
        };
        prop_assert_eq!(failure.seq, expected, "{}", failure);
    }

    #[test]
    fn truncation_is_caught_against_a_saved_head(keep in 0u64..N, per_block in 1usize..12, in_export: bool) {
        let dir = tempfile::tempdir().unwrap();
        let saved = filled(dir.path(), N, 6).head();
        let mut recs = raw_records(dir.path());
        recs.truncate(keep as usize);
        let failure = if in_export {
            verify_lines(Cursor::new(export_of(&recs)), Some(saved), |_| {}).unwrap_err()
        } else {
            // A careful forger also rewrites the stored head to match the shortened log. Left
            // alone, the head mark catches the truncation without a saved head.
            let h = head_of(&recs);
            rewrite(dir.path(), &recs, per_block, Some(StoredHead { seq: h.seq, hash: h.hash, recorded_at_us: 0 }));
            if keep < N {
                let marked = verify_path(dir.path(), None, |_| {}).unwrap().unwrap_err();
                prop_assert_eq!(marked.seq, keep + 1, "{}", marked);
            }
            // The forger removes the mark too: only a head saved elsewhere still tells.
            std::fs::remove_file(dir.path().join(lode_store::mark::MARK_FILE)).unwrap();
            let unwitnessed = verify_path(dir.path(), None, |_| {}).unwrap();
            prop_assert!(unwitnessed.is_ok());
            verify_path(dir.path(), Some(saved), |_| {}).unwrap().unwrap_err()
        };
        prop_assert_eq!(failure.seq, keep + 1, "{}", failure);
    }
}

#[test]
fn a_truncated_store_whose_head_was_left_alone_fails_without_a_saved_head() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), N, 10));
    let mut recs = raw_records(dir.path());
    recs.truncate(25);
    rewrite(dir.path(), &recs, 10, None);
    let failure = verify_path(dir.path(), None, |_| {}).unwrap().unwrap_err();
    assert_eq!(failure.seq, 26, "{failure}");
}

#[test]
fn an_index_entry_that_points_at_the_wrong_record_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), N, 10));
    let recs = raw_records(dir.path());
    // Rewrite with consistent segments, then break one segment by swapping two ids.
    rewrite(dir.path(), &recs, 10, None);
    let db = sled_open(dir.path());
    let log = db.open_tree("log").unwrap();
    let key = lode_store::block::key(lode_store::block::SEGMENT_PREFIX, 11);
    let seg = log.get(key).unwrap().unwrap();
    let mut entries = lode_store::block::decode_segment(&seg).unwrap();
    entries.swap(2, 3);
    let v = lode_store::block::encode_segment(entries.iter().map(|e| (&e.id, &e.leaf, e.streams.as_slice())));
    log.insert(key, v).unwrap();
    db.flush().unwrap();
    drop(log);
    drop(db);
    let failure = verify_path(dir.path(), None, |_| {}).unwrap().unwrap_err();
    assert_eq!(failure.seq, 13, "{failure}");
}

/// The records chained again from `prev` instead of the genesis: every record rewritten so that
/// each links to the one before it, as a forger who changed record 1 would leave them.
fn chained_from(records: &[Vec<u8>], mut prev: lode_store::Hash) -> Vec<Vec<u8>> {
    use lode_store::record;
    let mut out = Vec::new();
    for r in records {
        let h = record::parse(r).unwrap();
        let streams: Vec<String> = h.streams.iter().map(|s| s.to_string()).collect();
        let mut bytes = Vec::new();
        record::encode(&mut bytes, h.seq, &h.id, h.recorded_at, &streams, &prev, h.event);
        prev = record::chain_hash(&prev, &record::leaf_hash(&bytes));
        out.push(bytes);
    }
    out
}

// Found by the `record` fuzz target: the verifier blamed "record 0", which does not exist.
#[test]
fn a_history_rewritten_from_its_first_record_is_blamed_on_record_1() {
    let dir = tempfile::tempdir().unwrap();
    let saved = filled(dir.path(), 6, 2).head();
    let recs = raw_records(dir.path());
    // Only record 1's `prev` betrays the rewrite, and the genesis it should link to cannot have
    // changed: whatever the witness, record 1 is to blame.
    let rewritten = chained_from(&recs, lode_store::Hash([9; 32]));
    let forged = head_of(&rewritten);
    for expect in [None, Some(saved), Some(forged)] {
        let failure = verify_lines(Cursor::new(export_of(&rewritten)), expect, |_| {}).unwrap_err();
        assert_eq!(failure.seq, 1, "{failure}");
    }
    // A forger who also rewrote the stored head.
    rewrite(dir.path(), &rewritten, 4, Some(StoredHead { seq: forged.seq, hash: forged.hash, recorded_at_us: 0 }));
    let failure = verify_path(dir.path(), None, |_| {}).unwrap().unwrap_err();
    assert_eq!(failure.seq, 1, "{failure}");
    // A log of one record: the head is the only witness.
    let one = chained_from(&recs[..1], lode_store::Hash([9; 32]));
    let failure = verify_lines(Cursor::new(export_of(&one)), Some(head_of(&one)), |_| {}).unwrap_err();
    assert_eq!(failure.seq, 1, "{failure}");
}

/// Rewrites a store's blocks with `rewrite`, checks they are of format `version`, then reads
/// every record back by position, in order and by stream, and verifies the store.
fn reads_as_it_was_written(rewrite: fn(&std::path::Path), version: u8) {
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path(), N, 7).head();
    let recs = raw_records(dir.path());
    rewrite(dir.path());
    assert!(raw_blocks(dir.path()).iter().all(|(_, v)| v[0] == version), "blocks of format {version}");
    let store = lode_store::Store::open_open(dir.path(), options()).unwrap();
    assert_eq!(store.head(), head);
    let reader = store.reader();
    let read: Vec<Vec<u8>> = reader.range(1, usize::MAX).unwrap().into_iter().map(|r| r.bytes).collect();
    assert_eq!(read, recs);
    for seq in 1..=N {
        assert_eq!(reader.get(seq).unwrap().unwrap().bytes, recs[seq as usize - 1], "record {seq}");
    }
    let lot: Vec<u64> = reader.stream("lot-3", 0, usize::MAX).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(lot, (1..=N).filter(|i| i % 7 == 3).collect::<Vec<_>>());
    drop(reader);
    drop(store);
    assert_eq!(verify_dir(dir.path(), Some(head)).unwrap().head, head);
}

#[test]
fn a_store_of_uncompressed_blocks_reads_as_it_was_written() {
    reads_as_it_was_written(to_plain_blocks, 1);
}

#[test]
fn a_store_of_framed_blocks_reads_as_it_was_written() {
    reads_as_it_was_written(to_framed_blocks, 3);
}

#[test]
fn a_block_naming_a_dictionary_the_log_lacks_fails_verification_there() {
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path(), N, 7).head();
    to_framed_blocks(dir.path());
    edit_tree(dir.path(), "log", |log| {
        log.remove(lode_store::block::dict_key(1)).unwrap();
    });
    let failure = verify_path(dir.path(), Some(head), |_| {}).unwrap().unwrap_err();
    assert_eq!(failure.seq, 1, "{failure}");
    assert!(failure.what.contains("dictionary"), "{failure}");
}

#[test]
fn verification_across_many_blocks_names_the_changed_record() {
    // One record a block: verification checks blocks in batches, in parallel; blame must still
    // fall on the right record, in a later batch as in the first.
    let dir = tempfile::tempdir().unwrap();
    let store =
        lode_store::Store::open_open(dir.path(), lode_store::Options { block_bytes_max: 1, ..options() }).unwrap();
    for i in 1..=150 {
        store.append(vec![event(i, &["all"])]).unwrap();
    }
    let head = store.head();
    drop(store);
    assert_eq!(verify_path(dir.path(), Some(head), |_| {}).unwrap().unwrap().head, head);
    let blocks = raw_blocks(dir.path());
    assert_eq!(blocks.len(), 150);
    for target in [5u64, 97, 150] {
        let copy = tempfile::tempdir().unwrap();
        copy_tree(dir.path(), copy.path());
        let (first, value) = blocks[target as usize - 1].clone();
        let mut b = BlockBuilder::new();
        let mut rec = Block::decode(&value).records()[0].to_vec();
        let at = rec.len() - 3;
        rec[at] ^= 1;
        b.push(&rec);
        put_block(copy.path(), first, b.finish().0);
        let failure = verify_path(copy.path(), Some(head), |_| {}).unwrap().unwrap_err();
        assert_eq!(failure.seq, target, "{failure}");
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_flip_in_the_bit_zstd_ignores_changes_no_record_and_verifies() {
    // Byte 9 of a version-2 block is zstd's frame header descriptor; its bit 4 is "unused" and
    // decoders ignore it (RFC 8878, 3.1.1.1.1). Tamper evidence is about content: the records
    // are the same bytes, so the chain holds. Any other bit of that byte breaks the block.
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path(), N, 7).head();
    let (first, original) = raw_blocks(dir.path())[0].clone();
    assert_eq!(original[0], 2, "a compressed block");
    let mut value = original.clone();
    value[9] ^= 0x10;
    assert_eq!(Block::decode(&value).records(), Block::decode(&original).records());
    put_block(dir.path(), first, value);
    assert_eq!(verify_path(dir.path(), Some(head), |_| {}).unwrap().unwrap().head, head);
    for bit in [0x01u8, 0x02, 0x04, 0x08, 0x20, 0x40, 0x80] {
        let mut value = original.clone();
        value[9] ^= bit;
        put_block(dir.path(), first, value);
        let failure = verify_path(dir.path(), Some(head), |_| {}).unwrap().unwrap_err();
        assert_eq!(failure.seq, first, "bit {bit:#04x}: {failure}");
    }
}
