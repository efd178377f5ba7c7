//! A gate's persisted state: checkpoints, restore at open, rebuild.

use std::collections::BTreeMap;
use std::error::Error;

use lode_store::{Candidate, Gate, NewEvent, Options, Page, Record, Store};

use crate::support::*;

/// Counts records per stream; persists one page per stream.
#[derive(Debug, Default)]
struct Counter {
    position: u64,
    counts: BTreeMap<String, u64>,
    dirty: Vec<String>,
    replayed: u64,
    restored: bool,
    /// Set when the state is restored from pages, for tests to see after the gate moved into
    /// the store.
    restored_seen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Bytes of text persisted after each count, so that pages are large enough to compress;
    /// with it, the id of the stream's last event, as JSON.
    pad: usize,
    /// The id of each stream's last event.
    last: BTreeMap<String, uuid::Uuid>,
}

impl Gate for Counter {
    type Payload = Vec<String>;
    type Rejection = lode_store::Never;

    fn position(&self) -> u64 {
        self.position
    }

    fn replay(&mut self, record: &Record) -> Result<(), Box<dyn Error + Send + Sync>> {
        for s in record.header().streams {
            *self.counts.entry(s.to_string()).or_default() += 1;
            self.last.insert(s.to_string(), record.header().id);
            self.dirty.push(s.to_string());
        }
        self.position = record.seq;
        self.replayed += 1;
        Ok(())
    }

    fn admit(&mut self, c: &Candidate, streams: Vec<String>) -> Result<Vec<String>, lode_store::Never> {
        for s in &streams {
            *self.counts.entry(s.clone()).or_default() += 1;
            self.last.insert(s.clone(), c.id);
            self.dirty.push(s.clone());
        }
        self.position = c.seq;
        Ok(streams)
    }

    fn restore(
        &mut self,
        position: u64,
        pages: &mut dyn Iterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<(), Box<dyn Error + Send + Sync>> {
        for (k, v) in pages {
            let name = String::from_utf8(k)?;
            let n = u64::from_be_bytes(v.get(..8).ok_or("a page shorter than a count")?.try_into()?);
            self.counts.insert(name, n);
        }
        self.position = position;
        self.restored = true;
        self.restored_seen.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn checkpoint(&mut self, force: bool, _stored: &dyn Fn(&[u8]) -> Option<Vec<u8>>) -> Option<Vec<Page>> {
        if !force && self.dirty.len() < 50 {
            return None;
        }
        let mut keys = std::mem::take(&mut self.dirty);
        keys.sort();
        keys.dedup();
        let page = |k: &String| padded_page(self.counts[k], self.last.get(k), k, self.pad);
        Some(keys.into_iter().map(|k| (k.clone().into_bytes(), Some(page(&k)))).collect())
    }
}

/// A counter's page: its count, then, with `pad`, the last event's id and `pad` bytes of text.
fn padded_page(count: u64, last: Option<&uuid::Uuid>, key: &str, pad: usize) -> Vec<u8> {
    let mut v = count.to_be_bytes().to_vec();
    if pad > 0 {
        let last = last.map_or("null".to_string(), |id| format!("\"{id}\""));
        v.extend(format!(r#"{{"last":{last}}} "#).bytes());
        v.extend(format!("{key} was counted {count} times; ").bytes().cycle().take(pad));
    }
    v
}

fn counts_from_log(store: &Store<Counter>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in store.reader().iter_from(1) {
        for s in r.unwrap().header().streams {
            *out.entry(s.to_string()).or_default() += 1;
        }
    }
    out
}

#[test]
fn state_is_restored_at_open_and_only_the_tail_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let events = |from: u64, to: u64| -> Vec<NewEvent<Vec<String>>> {
        (from..to).map(|i| event(i, &[&format!("lot-{}", i % 13)])).collect()
    };
    let store = Store::open(dir.path(), options(), Counter::default()).unwrap();
    for chunk in events(1, 301).chunks(20) {
        store.append(chunk.to_vec()).unwrap();
    }
    drop(store); // closing persists everything
    let store = Store::open(dir.path(), options(), Counter::default()).unwrap();
    assert_eq!(store.head().seq, 300);
    let (pos, pages) = store.reader().state_pages().unwrap();
    assert_eq!(pos, Some(300));
    assert_eq!(pages.len(), 13);
    let counts = counts_from_log(&store);
    let restored: BTreeMap<String, u64> = pages
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), u64::from_be_bytes(v[..8].try_into().unwrap())))
        .collect();
    assert_eq!(restored, counts);
}

#[test]
fn a_checkpoint_behind_the_log_is_caught_up_by_replay_and_a_rebuild_gives_the_same_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options(), Counter::default()).unwrap();
    for chunk in (1..=200).map(|i| event(i, &[&format!("lot-{}", i % 5)])).collect::<Vec<_>>().chunks(10) {
        store.append(chunk.to_vec()).unwrap();
    }
    store.checkpoint().unwrap();
    let live = store.reader().state_pages().unwrap();
    assert_eq!(live.0, Some(200));
    drop(store);

    // Rebuild from the log alone: the same pages, byte for byte.
    let store = Store::open(dir.path(), Options { rebuild_state: true, ..options() }, Counter::default()).unwrap();
    store.checkpoint().unwrap();
    assert_eq!(store.reader().state_pages().unwrap(), live);
}

/// Appends `events` events naming `lots` lots in turn, `per_append` at a time, and closes;
/// returns the counts from the log.
fn fill(
    dir: &std::path::Path,
    options: Options,
    gate: Counter,
    events: u64,
    lots: u64,
    per_append: usize,
) -> BTreeMap<String, u64> {
    let store = Store::open(dir, options, gate).unwrap();
    for chunk in (1..=events).map(|i| event(i, &[&format!("lot-{}", i % lots)])).collect::<Vec<_>>().chunks(per_append)
    {
        store.append(chunk.to_vec()).unwrap();
    }
    let counts = counts_from_log(&store);
    drop(store);
    counts
}

fn filled_counter(dir: &std::path::Path) -> BTreeMap<String, u64> {
    fill(dir, options(), Counter::default(), 120, 7, 10)
}

#[test]
fn pages_are_stored_compressed_and_restored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let counts = filled_counter(dir.path());
    let db = sled_open(dir.path());
    let state = db.open_tree("state").unwrap();
    assert_eq!(state.get(lode_store::STATE_CODEC_KEY).unwrap().as_deref(), Some(&b"zstd-v3"[..]));
    assert_eq!(state.get(lode_store::STATE_DICT_KEY).unwrap(), None, "too little state to train a dictionary");
    let page = state.get(b"lot-3").unwrap().expect("a page per stream");
    assert_ne!(page.len(), 8, "stored as a compressed frame, not the gate's 8 bytes");
    let raw = lode_store::block::decode_state_page_refs(&page, None, |_| None).unwrap();
    assert_eq!(raw, counts["lot-3"].to_be_bytes());
    drop((state, db));
    let store = Store::open(dir.path(), options(), Counter::default()).unwrap();
    assert_eq!(store.reader().state_pages().unwrap().1.len(), 7);
}

#[test]
fn a_state_tree_of_uncompressed_pages_is_rebuilt_from_the_log_once() {
    // Ledgers persisted before pages were compressed have no codec key: their pages are dropped
    // at open and the gate replays the whole log, then persists compressed pages.
    let dir = tempfile::tempdir().unwrap();
    let counts = filled_counter(dir.path());
    edit_tree(dir.path(), "state", |state| {
        state.remove(lode_store::STATE_CODEC_KEY).unwrap();
        for (k, n) in &counts {
            state.insert(k.as_bytes(), &n.to_be_bytes()[..]).unwrap();
        }
    });
    let (store, restored) = open_counter(dir.path());
    assert!(!restored, "an old state tree is not restored from");
    assert_eq!(persisted_counts(&store), counts);
    drop(store);
    let (store, restored) = open_counter(dir.path());
    assert!(restored, "the rebuilt state was persisted in the new form");
    assert_eq!(persisted_counts(&store), counts);
}

/// Opens the store with a fresh counter; says whether the counter was restored from pages.
fn open_counter(dir: &std::path::Path) -> (Store<Counter>, bool) {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let store = Store::open(dir, options(), Counter { restored_seen: seen.clone(), ..Counter::default() }).unwrap();
    let restored = seen.load(std::sync::atomic::Ordering::SeqCst);
    (store, restored)
}

/// The counts the gate holds, as a forced checkpoint persists them.
fn persisted_counts(store: &Store<Counter>) -> BTreeMap<String, u64> {
    store.checkpoint().unwrap();
    store
        .reader()
        .state_pages()
        .unwrap()
        .1
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), u64::from_be_bytes(v[..8].try_into().unwrap())))
        .collect()
}

#[test]
fn a_damaged_compressed_page_makes_the_state_rebuild_rather_than_restore_part_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let counts = filled_counter(dir.path());
    edit_tree(dir.path(), "state", |state| {
        let mut page = state.get(b"lot-5").unwrap().unwrap().to_vec();
        let last = page.len() - 1;
        page[last] ^= 0x40; // the frame's checksum
        state.insert(b"lot-5", page).unwrap();
    });
    let (store, restored) = open_counter(dir.path());
    assert!(!restored);
    assert_eq!(persisted_counts(&store), counts);
}

/// A ledger whose state is 300 pages, more than one sled batch of a checkpoint holds, all written
/// by one checkpoint (after one group); returns the counts from the log.
fn filled_with_many_pages(dir: &std::path::Path, options: Options, gate: Counter) -> BTreeMap<String, u64> {
    fill(dir, options, gate, 600, 300, 600)
}

#[test]
fn a_checkpoint_of_more_pages_than_one_batch_holds_is_restored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let counts = filled_with_many_pages(dir.path(), options(), Counter::default());
    assert_eq!(counts.len(), 300);
    let (store, restored) = open_counter(dir.path());
    assert!(restored);
    assert_eq!(store.reader().state_pages().unwrap().0, Some(600));
    assert_eq!(persisted_counts(&store), counts);
}

#[test]
fn pages_of_a_checkpoint_cut_short_are_dropped_and_the_state_rebuilt_from_the_log() {
    // A checkpoint written in parts removes the position first and writes it last: pages without
    // a position are a mix of two checkpoints, and one of them may hold an entity since gone.
    let dir = tempfile::tempdir().unwrap();
    let counts = filled_with_many_pages(dir.path(), options(), Counter::default());
    edit_tree(dir.path(), "state", |state| {
        state.remove(lode_store::STATE_POSITION_KEY).unwrap();
        state.insert(b"lot-7", lode_store::block::encode_state_page(&999u64.to_be_bytes(), None, false)).unwrap();
        state.insert(b"gone", lode_store::block::encode_state_page(&1u64.to_be_bytes(), None, false)).unwrap();
    });
    let (store, restored) = open_counter(dir.path());
    assert!(!restored, "pages without a position are not restored from");
    assert_eq!(persisted_counts(&store), counts, "no page of the cut checkpoint is left");
}

/// Options under which 300 counters of 2,000 bytes each train the state's dictionary.
fn dict_options() -> Options {
    Options { state_dict_train_bytes: 256 << 10, ..options() }
}

fn padded_counter(seen: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>) -> Counter {
    Counter { pad: 2_000, restored_seen: seen.unwrap_or_default(), ..Counter::default() }
}

#[test]
fn a_large_state_trains_its_dictionary_once_and_its_pages_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let counts = filled_with_many_pages(dir.path(), dict_options(), padded_counter(None));

    let db = sled_open(dir.path());
    let state = db.open_tree("state").unwrap();
    let dict = state.get(lode_store::STATE_DICT_KEY).unwrap().expect("a dictionary trained at the first checkpoint");
    let dict = lode_store::block::Dict::decode_state(&dict).unwrap();
    let page = state.get(b"lot-3").unwrap().unwrap();
    assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&page[4..]).map(|id| id.get()), Some(dict.id));
    assert!(page.len() < 400, "2,008 bytes compressed with the dictionary to {}", page.len());
    let ids = |seq: u64| Some(event(seq, &[]).id);
    let raw = lode_store::block::decode_state_page_refs(&page, Some(&dict), ids).unwrap();
    assert_eq!(raw[..8], counts["lot-3"].to_be_bytes());
    assert!(lode_store::block::decode_state_page_refs(&page, None, ids).is_err(), "the page needs its dictionary");
    let mut damaged = page.to_vec();
    *damaged.last_mut().unwrap() ^= 0x40; // the frame's checksum
    assert!(lode_store::block::decode_state_page_refs(&damaged, Some(&dict), ids).is_err(), "checksummed");
    drop((state, db));

    // Restored whole with the dictionary; a later checkpoint keeps it and uses it.
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let store = Store::open(dir.path(), dict_options(), padded_counter(Some(seen.clone()))).unwrap();
    assert!(seen.load(std::sync::atomic::Ordering::SeqCst));
    store.append((601..=700).map(|i| event(i, &[&format!("lot-{}", i % 300)])).collect()).unwrap();
    let counts = counts_from_log(&store);
    assert_eq!(persisted_counts(&store), counts);
    drop(store);
    let db = sled_open(dir.path());
    let state = db.open_tree("state").unwrap();
    let again =
        lode_store::block::Dict::decode_state(&state.get(lode_store::STATE_DICT_KEY).unwrap().unwrap()).unwrap();
    assert_eq!(again.id, dict.id, "trained once");
    let page = state.get(b"lot-250").unwrap().unwrap();
    assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&page[4..]).map(|id| id.get()), Some(dict.id));
}

#[test]
fn a_damaged_state_dictionary_makes_the_state_rebuild_and_train_again() {
    let dir = tempfile::tempdir().unwrap();
    let counts = filled_with_many_pages(dir.path(), dict_options(), padded_counter(None));
    edit_tree(dir.path(), "state", |state| {
        let mut dict = state.get(lode_store::STATE_DICT_KEY).unwrap().unwrap().to_vec();
        dict.truncate(9); // its version and zstd's header only
        state.insert(lode_store::STATE_DICT_KEY, dict).unwrap();
    });
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let store = Store::open(dir.path(), dict_options(), padded_counter(Some(seen.clone()))).unwrap();
    assert!(!seen.load(std::sync::atomic::Ordering::SeqCst), "pages that name a lost dictionary are not restored from");
    assert_eq!(persisted_counts(&store), counts);
    drop(store);
    let (db, restored) = {
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let store = Store::open(dir.path(), dict_options(), padded_counter(Some(seen.clone()))).unwrap();
        drop(store);
        (sled_open(dir.path()), seen.load(std::sync::atomic::Ordering::SeqCst))
    };
    assert!(restored, "the rebuilt state was persisted with a new dictionary");
    let state = db.open_tree("state").unwrap();
    assert!(lode_store::block::Dict::decode_state(&state.get(lode_store::STATE_DICT_KEY).unwrap().unwrap()).is_ok());
}

#[test]
fn pages_written_before_the_state_had_a_dictionary_are_still_restored() {
    // A ledger of the previous codec: pages without a dictionary, codec `zstd-v1`.
    let dir = tempfile::tempdir().unwrap();
    let counts = filled_counter(dir.path());
    edit_tree(dir.path(), "state", |state| {
        state.insert(lode_store::STATE_CODEC_KEY, &b"zstd-v1"[..]).unwrap();
    });
    let (store, restored) = open_counter(dir.path());
    assert!(restored, "an earlier codec's pages are read as they are");
    assert_eq!(persisted_counts(&store), counts);
}

#[test]
fn event_ids_in_pages_are_stored_as_references_to_their_positions_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options { state_dict_train_bytes: 0, ..options() };
    let counts = filled_with_many_pages(dir.path(), options.clone(), Counter { pad: 100, ..Counter::default() });
    // Events n = 1..=600 name lot-(n mod 300): the last to name lot-3 is at position 303.
    let expected = padded_page(counts["lot-3"], Some(&event(303, &[]).id), "lot-3", 100);
    assert!(expected.windows(36).any(|w| w == event(303, &[]).id.to_string().as_bytes()));

    let db = sled_open(dir.path());
    let page = db.open_tree("state").unwrap().get(b"lot-3").unwrap().unwrap();
    assert!(lode_store::block::decode_state_page(&page, None).is_err(), "it holds a reference, not the id");
    let as_stored = lode_store::block::decode_state_page_refs(&page, None, |seq| Some(event(seq, &[]).id)).unwrap();
    assert_eq!(as_stored, expected);
    // The reference names a position, whatever id the caller says is there.
    let other = lode_store::block::decode_state_page_refs(&page, None, |seq| Some(event(seq + 1, &[]).id)).unwrap();
    assert!(other.windows(36).any(|w| w == event(304, &[]).id.to_string().as_bytes()));
    assert!(lode_store::block::decode_state_page_refs(&page, None, |_| None).is_err(), "a position the log lacks");
    drop(db);

    // The store resolves them from its log.
    let store = Store::open(dir.path(), options, Counter { pad: 100, ..Counter::default() }).unwrap();
    let pages = store.reader().state_pages().unwrap().1;
    assert_eq!(pages.iter().find(|(k, _)| k == b"lot-3").unwrap().1, expected);
}
