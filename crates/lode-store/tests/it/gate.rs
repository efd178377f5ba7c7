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
            self.dirty.push(s.to_string());
        }
        self.position = record.seq;
        self.replayed += 1;
        Ok(())
    }

    fn admit(&mut self, c: &Candidate, streams: Vec<String>) -> Result<Vec<String>, lode_store::Never> {
        for s in &streams {
            *self.counts.entry(s.clone()).or_default() += 1;
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
            let n = u64::from_be_bytes(v.as_slice().try_into()?);
            self.counts.insert(name, n);
        }
        self.position = position;
        self.restored = true;
        Ok(())
    }

    fn checkpoint(&mut self, force: bool, _stored: &dyn Fn(&[u8]) -> Option<Vec<u8>>) -> Option<Vec<Page>> {
        if !force && self.dirty.len() < 50 {
            return None;
        }
        let mut keys = std::mem::take(&mut self.dirty);
        keys.sort();
        keys.dedup();
        Some(keys.into_iter().map(|k| (k.clone().into_bytes(), Some(self.counts[&k].to_be_bytes().to_vec()))).collect())
    }
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
        .map(|(k, v)| (String::from_utf8(k).unwrap(), u64::from_be_bytes(v.try_into().unwrap())))
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
