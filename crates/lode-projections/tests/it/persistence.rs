//! Views persisted like the state: checkpoints of what `take_dirty` names restore the same views, a
//! checkpoint plus the log's tail gives the same digest as the live ledger, and replaying the same
//! history gives the same digest every time.

use std::collections::{BTreeMap, BTreeSet};

use lode_domain::{EntityKey, State};
use lode_projections::view::{ViewKey, Views};
use proptest::prelude::*;

use crate::book::{generated, replayed, Book};
use crate::history::{event_for, history_world, op, Op};
use crate::support::*;

type Pages = BTreeMap<Vec<u8>, Vec<u8>>;

fn page_key(prefix: u8, key: Vec<u8>) -> Vec<u8> {
    let mut out = vec![prefix];
    out.extend(key);
    out
}

/// Every entity of the state and the views, as the ledger persists them.
fn snapshot(state: &State, views: &Views) -> Pages {
    let mut pages = Pages::new();
    for k in state.entity_keys() {
        pages.insert(page_key(b'd', k.to_bytes()), state.entity_bytes(&k).expect("a listed entity exists"));
    }
    for k in views.entity_keys() {
        pages.insert(page_key(b'v', k.to_bytes()), views.entity_bytes(state, &k).expect("a listed view exists"));
    }
    pages
}

#[derive(Default)]
struct Dirty {
    state: BTreeSet<EntityKey>,
    views: BTreeSet<ViewKey>,
}

impl Dirty {
    fn take(&mut self, book: &mut Book) {
        self.state.extend(book.ledger.state.take_dirty());
        self.views.extend(book.views.take_dirty());
    }

    fn contains(&self, page: &[u8]) -> bool {
        match page.split_first() {
            Some((b'd', key)) => self.state.contains(&EntityKey::from_bytes(key).expect("a state key")),
            Some((b'v', key)) => self.views.contains(&ViewKey::from_bytes(key).expect("a view key")),
            _ => false,
        }
    }

    /// What a checkpoint writes.
    fn flush(&mut self, book: &Book, store: &mut Pages) {
        let state = &book.ledger.state;
        for k in std::mem::take(&mut self.state) {
            let key = page_key(b'd', k.to_bytes());
            match state.entity_bytes(&k) {
                Some(v) => store.insert(key, v),
                None => store.remove(&key),
            };
        }
        for k in std::mem::take(&mut self.views) {
            let key = page_key(b'v', k.to_bytes());
            match book.views.entity_bytes(state, &k) {
                Some(v) => store.insert(key, v),
                None => store.remove(&key),
            };
        }
    }
}

/// The state, then the views, restored from pages; within each, in reverse order.
fn restore(store: &Pages) -> (State, Views) {
    let (mut state, mut views) = (State::default(), Views::default());
    for (k, v) in store.iter().rev() {
        if let Some((b'd', key)) = k.split_first() {
            state.restore_entity(&EntityKey::from_bytes(key).expect("a state key"), v).expect("restores");
        }
    }
    for (k, v) in store.iter().rev() {
        if let Some((b'v', key)) = k.split_first() {
            views.restore_entity(&state, &ViewKey::from_bytes(key).expect("a view key"), v).expect("restores");
        }
    }
    (state, views)
}

fn run(ops: &[Op], checkpoint_every: usize, cut: usize) -> Result<(), TestCaseError> {
    let mut book = Book::with([]);
    let (mut store, mut dirty) = (Pages::new(), Dirty::default());
    let mut before = snapshot(&book.ledger.state, &book.views);
    let mut checkpoint: Option<(Pages, usize)> = None;
    let world = history_world();
    for step in 0..world.len() + ops.len() {
        let event = match world.get(step) {
            Some(event) => event.clone(),
            None => match event_for(&ops[step - world.len()], &book.ledger.state, step) {
                Some(event) => event,
                None => continue,
            },
        };
        let Outcome::Accepted(accepted) = book.ledger.submit(&event) else {
            continue;
        };
        let (envelope, ctx) = book.ledger.accepted.last().expect("accepted");
        book.views.apply(&book.ledger.state, envelope, &accepted, ctx);

        let mut step_dirty = Dirty::default();
        step_dirty.take(&mut book);
        let after = snapshot(&book.ledger.state, &book.views);
        let changed = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .chain(before.keys().filter(|k| !after.contains_key(*k)));
        for key in changed {
            prop_assert!(
                step_dirty.contains(key),
                "{:?} changed but is not dirty after {}",
                String::from_utf8_lossy(key),
                event
            );
        }
        dirty.state.extend(step_dirty.state);
        dirty.views.extend(step_dirty.views);
        if step % checkpoint_every == 0 {
            dirty.flush(&book, &mut store);
        }
        if book.ledger.accepted.len() == cut {
            dirty.flush(&book, &mut store);
            checkpoint = Some((store.clone(), cut));
        }
        before = after;
    }
    dirty.flush(&book, &mut store);
    prop_assert_eq!(&store, &before, "checkpoints add up to every entity");
    let live = book.views.digest(&book.ledger.state);

    let (state, views) = restore(&store);
    prop_assert_eq!(&state, &book.ledger.state);
    prop_assert_eq!(&views, &book.views);
    prop_assert_eq!(views.digest(&state), live);

    // Open at an earlier checkpoint, then replay the log's tail.
    if let Some((pages, position)) = checkpoint {
        let (mut state, mut views) = restore(&pages);
        for (envelope, ctx) in &book.ledger.accepted[position..] {
            let accepted = lode_domain::replay(&mut state, envelope, ctx);
            views.apply(&state, envelope, &accepted, ctx);
        }
        prop_assert_eq!(&views, &book.views);
        prop_assert_eq!(views.digest(&state), live);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn checkpoints_and_the_tail_give_the_live_digest(
        ops in prop::collection::vec(op(), 1..60),
        checkpoint_every in 1usize..20,
        cut in 0usize..60,
    ) {
        run(&ops, checkpoint_every, cut)?;
    }

    #[test]
    fn replaying_a_history_gives_the_same_digest_every_time(ops in prop::collection::vec(op(), 1..60)) {
        let book = generated(&ops);
        let live = book.views.digest(book.state());
        let (state_a, views_a) = replayed(&book.ledger);
        let (state_b, views_b) = replayed(&book.ledger);
        prop_assert_eq!(&views_a, &book.views);
        prop_assert_eq!(views_a.digest(&state_a), live);
        prop_assert_eq!(views_b.digest(&state_b), live);
    }
}

/// The digest is the ledger's page digest over the same pages.
#[test]
fn the_digest_is_the_ledgers_page_digest() {
    let book = generated(&[]);
    let pages = snapshot(book.state(), &book.views);
    let expected = lode_projections::digest_entities(pages.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
    assert_eq!(book.views.digest(book.state()), expected.0);
    assert_ne!(Views::default().digest(&State::default()), expected.0);
}

#[test]
fn view_keys_round_trip_and_sort_as_their_bytes() {
    let book = generated(&[]);
    let mut book = book;
    book.must(&ship(MINER, "S-1", &[ORE], MINE, REFINER, REFINERY));
    book.must(&correct(AUDITOR, book.ledger.accepted[0].1.event_id));
    let keys = book.views.entity_keys();
    assert!(keys.iter().any(|k| matches!(k, ViewKey::Corrections(_))));
    assert!(keys.iter().any(|k| matches!(k, ViewKey::Inventory { .. })));
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    let mut by_bytes = keys.clone();
    by_bytes.sort_by_key(ViewKey::to_bytes);
    assert_eq!(by_bytes, keys);
    for key in &keys {
        assert_eq!(ViewKey::from_bytes(&key.to_bytes()).as_ref(), Some(key), "{key}");
    }
    for bad in [&b""[..], b"x:", b"l:", b"i:a\0b", b"i:a\0b\0gold", b"i:a\0b\0ore\0", b"c:short"] {
        assert_eq!(ViewKey::from_bytes(bad), None, "{bad:?}");
    }
}

#[test]
fn bad_view_bytes_are_refused_naming_the_entity() {
    let book = generated(&[]);
    let lot = ViewKey::Lot(ORE.parse().expect("a lot id"));
    let good = String::from_utf8(book.views.entity_bytes(book.state(), &lot).expect("exists")).expect("UTF-8");
    let mut views = Views::default();
    for bad in [
        "[]".to_string(),
        good.replacen('{', r#"{"extra":1,"#, 1),
        good.replace(r#""vn-mine-1":1000000"#, r#""vn-mine-1":999999"#),
    ] {
        let err = views.restore_entity(book.state(), &lot, bad.as_bytes()).expect_err(&bad);
        assert!(err.to_string().starts_with("lot view VN-ORE-0001: stored bytes do not decode"), "{err}");
    }
    let err = views.restore_entity(&State::default(), &lot, good.as_bytes()).expect_err("no such lot");
    assert_eq!(err.to_string(), "lot view VN-ORE-0001: not in the ledger's state");
    views.restore_entity(book.state(), &lot, good.as_bytes()).expect("restores");
}

/// A ledger's first checkpoint writes every entity, and only then does it track which entities
/// change: a ledger closed, reopened from its pages, extended (changing entities of the first part)
/// and closed again must reopen with the projections of its whole log.
#[test]
fn a_ledger_extended_after_its_first_checkpoint_reopens_with_the_projections_of_its_log() {
    use lode_domain::scenario::{generate, ScenarioOptions};
    use lode_projections::{prepare_event, Ledger};
    use lode_store::{Options, Store};

    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
    let lines: Vec<String> = generate(&ScenarioOptions { mine_lots: 40, seed: 7, start }).collect();
    let dir = tempfile::tempdir().unwrap();
    let options = || Options { fsync: false, ..Options::default() };
    for part in lines.chunks(lines.len() / 3 + 1) {
        let ledger = Ledger::default();
        let store = Store::open(dir.path(), options(), ledger.clone()).unwrap();
        let events = part.iter().map(|l| prepare_event(l.as_bytes()).unwrap()).collect();
        assert!(store.append(events).unwrap().stopped.is_none());
        store.close().unwrap();
    }
    let restored = Ledger::default();
    let store = Store::open(dir.path(), options(), restored.clone()).unwrap();
    assert_eq!(restored.position(), lines.len() as u64);
    drop(store);
    let rebuilt = Ledger::default();
    let _store = Store::open(dir.path(), Options { rebuild_state: true, ..options() }, rebuilt.clone()).unwrap();
    assert_eq!(restored.digest(), rebuilt.digest());
}
