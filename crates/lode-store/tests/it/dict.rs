//! A log trains its compression dictionary from its own records, and reads back what it wrote.

use std::time::{Duration, Instant};

use lode_store::block;
use lode_store::{Options, Store};

use crate::support::*;

/// Appends batches until the store holds a dictionary, then `after` more events; returns how
/// many events it appended.
fn fill_until_trained(store: &Store, after: u64) -> u64 {
    fill_until_dict_bytes_over(store, 0, 0, after)
}

/// Appends batches, numbered from `from + 1`, until the store's dictionaries take more than
/// `bytes`, then `after` more events; returns how many events it appended.
fn fill_until_dict_bytes_over(store: &Store, from: u64, bytes: u64, after: u64) -> u64 {
    let started = Instant::now();
    let mut n = from;
    let mut append = |count: u64| {
        let events: Vec<_> = (n + 1..=n + count).map(|i| event(i, &[&format!("lot-{}", i % 11), "all"])).collect();
        assert!(store.append(events).unwrap().stopped.is_none());
        n += count;
    };
    while store.reader().stored_bytes().unwrap().dicts <= bytes {
        assert!(started.elapsed() < Duration::from_secs(60), "no new dictionary after {n} events");
        append(100);
        std::thread::sleep(Duration::from_millis(5));
    }
    append(after);
    n - from
}

#[test]
fn a_log_trains_its_dictionary_and_reads_back_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options { dict_train_bytes: 64 << 10, ..options() };
    let store = Store::open_open(dir.path(), options.clone()).unwrap();
    let n = fill_until_trained(&store, 600);
    let head = store.head();
    let written: Vec<Vec<u8>> = store.reader().range(1, usize::MAX).unwrap().into_iter().map(|r| r.bytes).collect();
    drop(store);

    let versions: Vec<u8> = raw_blocks(dir.path()).iter().map(|(_, v)| v[0]).collect();
    assert!(versions.contains(&2) && versions.contains(&3), "blocks of both formats: {versions:?}");
    // A binary that knows no dictionaries refuses the log at open, not at its blocks.
    assert_eq!(layout_of(dir.path()).as_deref(), Some(block::FORMAT_VERSION_DICT));
    assert_eq!(raw_records(dir.path()), written);

    // Read back after reopening, by position, by stream and in order, then verified.
    let store = Store::open_open(dir.path(), options).unwrap();
    let reader = store.reader();
    assert_eq!(reader.head(), head);
    for seq in (1..=n).step_by(37).chain([n]) {
        assert_eq!(reader.get(seq).unwrap().unwrap().bytes, written[seq as usize - 1], "record {seq}");
    }
    let lot: Vec<u64> = reader.stream("lot-4", 0, usize::MAX).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(lot, (1..=n).filter(|i| i % 11 == 4).collect::<Vec<_>>());
    let all: Vec<Vec<u8>> = reader.iter_from(1).map(|r| r.unwrap().bytes).collect();
    assert_eq!(all, written);
    drop(reader);
    drop(store);
    assert_eq!(verify_dir(dir.path(), Some(head)).unwrap().head, head);
}

#[test]
fn a_log_trains_a_second_dictionary_on_later_records_and_stops_there() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options { dict_train_bytes: 32 << 10, dict_retrain_bytes: 128 << 10, ..options() };
    let store = Store::open_open(dir.path(), options.clone()).unwrap();
    let first = fill_until_trained(&store, 0);
    let one = store.reader().stored_bytes().unwrap().dicts;
    let n = first + fill_until_dict_bytes_over(&store, first, one, 600);
    let head = store.head();
    let written: Vec<Vec<u8>> = store.reader().range(1, usize::MAX).unwrap().into_iter().map(|r| r.bytes).collect();
    drop(store);

    // Blocks before the first dictionary, then blocks naming the first, then the second.
    let named: Vec<Option<u32>> = raw_blocks(dir.path())
        .iter()
        .map(|(_, v)| (v[0] == 3).then(|| u32::from_le_bytes(v[1..5].try_into().unwrap())))
        .collect();
    let firsts: Vec<Option<u32>> = named.iter().fold(Vec::new(), |mut runs, id| {
        if runs.last() != Some(id) {
            runs.push(*id);
        }
        runs
    });
    assert_eq!(firsts, vec![None, Some(1), Some(2)], "the blocks' dictionaries, in order");
    assert_eq!(raw_records(dir.path()), written);

    // It stops at two, also across processes; everything reads back and verifies.
    let store = Store::open_open(dir.path(), options.clone()).unwrap();
    let more: Vec<_> = (n + 1..=n + 2000).map(|i| event(i, &["all"])).collect();
    for chunk in more.chunks(200) {
        store.append(chunk.to_vec()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    store.append(vec![event(n + 2001, &["all"])]).unwrap();
    let two = store.reader().stored_bytes().unwrap().dicts;
    drop(store);
    assert_eq!(dicts_of(dir.path()).len(), 2, "a third dictionary");
    let store = Store::open_open(dir.path(), options).unwrap();
    assert_eq!(store.reader().stored_bytes().unwrap().dicts, two);
    let all: Vec<Vec<u8>> = store.reader().iter_from(1).map(|r| r.unwrap().bytes).collect();
    assert_eq!(&all[..written.len()], &written[..]);
    let head_after = store.head();
    drop(store);
    assert!(head_after.seq > head.seq);
    assert_eq!(verify_dir(dir.path(), Some(head_after)).unwrap().head, head_after);
}

#[test]
fn a_log_told_not_to_train_keeps_the_second_block_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_open(dir.path(), Options { dict_train_bytes: 0, ..options() }).unwrap();
    let events: Vec<_> = (1..=3000).map(|i| event(i, &["all"])).collect();
    for chunk in events.chunks(500) {
        store.append(chunk.to_vec()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    store.append(vec![event(3001, &["all"])]).unwrap();
    assert_eq!(store.reader().stored_bytes().unwrap().dicts, 0);
    drop(store);
    assert!(raw_blocks(dir.path()).iter().all(|(_, v)| v[0] == 2));
}

#[test]
fn a_log_grown_by_short_lived_processes_trains_on_what_earlier_ones_wrote() {
    // Like one `lode append` after another: no process alone writes enough to train on.
    let dir = tempfile::tempdir().unwrap();
    let options = Options { dict_train_bytes: 64 << 10, ..options() };
    let mut n = 0u64;
    for _ in 0..2 {
        let store = Store::open_open(dir.path(), options.clone()).unwrap();
        let events: Vec<_> = (n + 1..=n + 150).map(|i| event(i, &["all"])).collect();
        n += 150;
        store.append(events).unwrap();
        assert_eq!(store.reader().stored_bytes().unwrap().dicts, 0, "trained too early");
        drop(store);
    }
    // Fewer new events than it takes to train on (about 260): the samples come from the log.
    let store = Store::open_open(dir.path(), options).unwrap();
    let started = Instant::now();
    while store.reader().stored_bytes().unwrap().dicts == 0 {
        assert!(n < 300 + 200, "no dictionary after {n} events");
        if n >= 300 + 150 {
            // Training runs at the lowest priority: on a loaded machine, give it time.
            assert!(started.elapsed() < Duration::from_secs(60), "no dictionary after {n} events");
            std::thread::sleep(Duration::from_millis(200));
        }
        n += 1;
        store.append(vec![event(n, &["all"])]).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    let head = store.head();
    drop(store);
    assert_eq!(verify_dir(dir.path(), Some(head)).unwrap().head, head);
}

#[test]
fn a_dictionary_trained_after_the_last_group_is_kept_at_close() {
    // One `lode append` of a file: its groups are written before training ends.
    let dir = tempfile::tempdir().unwrap();
    let options = Options { dict_train_bytes: 64 << 10, ..options() };
    let store = Store::open_open(dir.path(), options.clone()).unwrap();
    let events: Vec<_> = (1..=400).map(|i| event(i, &["all"])).collect();
    store.append(events).unwrap();
    let head = store.head();
    store.close().unwrap();
    let store = Store::open_open(dir.path(), options).unwrap();
    assert!(store.reader().stored_bytes().unwrap().dicts > 0, "the dictionary was dropped at close");
    // The next group uses it.
    store.append(vec![event(401, &["all"])]).unwrap();
    drop(store);
    assert_eq!(raw_blocks(dir.path()).last().unwrap().1[0], 3);
    assert_eq!(verify_dir(dir.path(), None).unwrap().head.seq, head.seq + 1);
}

fn layout_of(dir: &std::path::Path) -> Option<Vec<u8>> {
    let db = sled_open(dir);
    let log = db.open_tree("log").unwrap();
    log.get(block::FORMAT_KEY).unwrap().map(|v| v.to_vec())
}

#[test]
fn a_log_of_the_first_layout_keeps_the_second_block_format() {
    // Marked `lode-log-v1` (256-node Merkle pages): it stays readable by the binaries that made it.
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open_open(dir.path(), options()).unwrap());
    edit_tree(dir.path(), "log", |log| {
        log.insert(block::FORMAT_KEY, block::FORMAT_VERSION_V1).unwrap();
    });
    let store = Store::open_open(dir.path(), Options { dict_train_bytes: 64 << 10, ..options() }).unwrap();
    let events: Vec<_> = (1..=1000).map(|i| event(i, &["all"])).collect();
    for chunk in events.chunks(100) {
        store.append(chunk.to_vec()).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    store.close().unwrap();
    assert_eq!(layout_of(dir.path()).as_deref(), Some(block::FORMAT_VERSION_V1));
    assert!(raw_blocks(dir.path()).iter().all(|(_, v)| v[0] == 2));
    assert!(dicts_of(dir.path()).is_empty());
}
