//! Persistence of the state as entities: a state written at checkpoints (only what `take_dirty` names)
//! and restored entity by entity, in any order, equals the live state; the same state always gives
//! the same bytes; keys round-trip through their bytes and sort as their bytes do.

use std::collections::{BTreeMap, BTreeSet};

use lode_domain::{parse_event, Context, EntityKey, RestoreError, State, EVENT_CHUNK_EVENTS};
use proptest::prelude::*;
use uuid::Uuid;

use crate::history::{event_for, history_world, op, Op};
use crate::support::*;

/// Every entity of a state, by the bytes of its key.
fn snapshot(state: &State) -> BTreeMap<Vec<u8>, Vec<u8>> {
    state
        .entity_keys()
        .into_iter()
        .map(|k| {
            let bytes = state.entity_bytes(&k).expect("a listed entity exists");
            (k.to_bytes(), bytes)
        })
        .collect()
}

/// Writes what a checkpoint writes: the bytes of every dirty entity, deleting those that are gone.
fn flush(state: &State, dirty: &mut BTreeSet<EntityKey>, store: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
    for key in std::mem::take(dirty) {
        match state.entity_bytes(&key) {
            Some(bytes) => store.insert(key.to_bytes(), bytes),
            None => store.remove(&key.to_bytes()),
        };
    }
}

/// A fresh state restored from stored entities, in the order `order` shuffles them into.
fn restore(store: &BTreeMap<Vec<u8>, Vec<u8>>, order: u64) -> State {
    let mut pages: Vec<(&Vec<u8>, &Vec<u8>)> = store.iter().collect();
    // Fisher–Yates with a small linear congruential generator: any order must do.
    let mut x = order | 1;
    for i in (1..pages.len()).rev() {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        pages.swap(i, (x >> 33) as usize % (i + 1));
    }
    let mut state = State::default();
    for (key, bytes) in pages {
        let key = EntityKey::from_bytes(key).expect("stored keys decode");
        state.restore_entity(&key, bytes).expect("stored entities restore");
    }
    state
}

fn run(ops: &[Op], checkpoint_every: usize, order: u64) -> Result<(), TestCaseError> {
    let mut ledger = Ledger::new();
    let mut store = BTreeMap::new();
    let mut pending = BTreeSet::new();
    let mut before = snapshot(&ledger.state);
    let world = history_world();
    let generated = ops.len();
    for step in 0..world.len() + generated {
        let event = match world.get(step) {
            Some(event) => event.clone(),
            None => match event_for(&ops[step - world.len()], &ledger.state, step) {
                Some(event) => event,
                None => continue,
            },
        };
        if !matches!(ledger.submit(&event), Outcome::Accepted(_)) {
            prop_assert_eq!(ledger.state.take_dirty(), vec![], "a refused event marks nothing");
            continue;
        }
        let dirty: BTreeSet<EntityKey> = ledger.state.take_dirty().into_iter().collect();
        let after = snapshot(&ledger.state);
        let changed = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .chain(before.keys().filter(|k| !after.contains_key(*k)));
        for key in changed {
            let key = EntityKey::from_bytes(key).expect("keys decode");
            prop_assert!(dirty.contains(&key), "{} changed but is not dirty after {}", key, event);
        }
        pending.extend(dirty);
        if step % checkpoint_every == 0 {
            flush(&ledger.state, &mut pending, &mut store);
        }
        before = after;
    }
    flush(&ledger.state, &mut pending, &mut store);
    prop_assert_eq!(&store, &before, "checkpoints of the dirty entities add up to the whole state");

    let restored = restore(&store, order);
    prop_assert_eq!(&restored, &ledger.state);
    prop_assert_eq!(snapshot(&restored), store, "a restored state gives the same bytes");

    // Replaying the log gives the same bytes too.
    let mut replayed = State::default();
    for (envelope, ctx) in &ledger.accepted {
        lode_domain::replay(&mut replayed, envelope, ctx);
    }
    prop_assert_eq!(snapshot(&replayed), before);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn checkpoints_of_dirty_entities_restore_the_same_state(
        ops in prop::collection::vec(op(), 1..60),
        checkpoint_every in 1usize..20,
        order in any::<u64>(),
    ) {
        run(&ops, checkpoint_every, order)?;
    }
}

#[test]
fn keys_round_trip_through_bytes_and_sort_as_their_bytes() {
    let mut ledger = Ledger::new();
    for event in ore_at_refinery() {
        ledger.must(&event);
    }
    let mut keys = ledger.state.entity_keys();
    keys.extend([
        EntityKey::EventChunk(0),
        EntityKey::EventChunk(1),
        EntityKey::EventChunk(256),
        EntityKey::EventChunk(u64::MAX),
    ]);
    keys.sort();
    keys.dedup();
    for key in &keys {
        assert_eq!(EntityKey::from_bytes(&key.to_bytes()).as_ref(), Some(key), "{key}");
    }
    let mut by_bytes = keys.clone();
    by_bytes.sort_by_key(EntityKey::to_bytes);
    assert_eq!(by_bytes, keys);
    let listed = ledger.state.entity_keys();
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "entity_keys is sorted without duplicates");
    assert!(listed.contains(&EntityKey::Lot(ORE.parse().expect("a lot id"))));
    assert!(listed.contains(&EntityKey::Shipment("SHP-1".parse().expect("a shipment id"))));

    for bad in [&b""[..], b"l", b"x:1", b"l:", b"l:bad lot", b"p:UPPER", b"e:\0\0", b"t:x", b"l:\xff"] {
        assert_eq!(EntityKey::from_bytes(bad), None, "{bad:?}");
    }
}

#[test]
fn the_same_state_gives_the_same_bytes() {
    let build = || {
        let mut ledger = Ledger::new();
        for event in plus(ore_at_refinery(), [assay(LAB, ORE, LAB), hold(OP, "lot", ORE, true)]) {
            ledger.must(&event);
        }
        ledger.state
    };
    let (a, b) = (build(), build());
    assert_eq!(snapshot(&a), snapshot(&b));
    let lot = EntityKey::Lot(ORE.parse().expect("a lot id"));
    let text = String::from_utf8(a.entity_bytes(&lot).expect("the lot exists")).expect("JSON is UTF-8");
    assert!(
        text.starts_with(r#"{"custodian":"vn-refiner","site":"vn-refinery-1","material":{"form":"ore"}"#),
        "{text}"
    );
    assert_eq!(a.entity_bytes(&EntityKey::Lot("NO-SUCH-LOT".parse().expect("a lot id"))), None);
}

/// Events at positions far apart land in different chunks; a correction rewrites only its target's
/// chunk and its own.
#[test]
fn events_are_kept_in_chunks_by_position() {
    let mut ledger = Ledger::new();
    let events = world();
    for (i, event) in events.iter().enumerate() {
        let mut envelope = parse_event(&serde_json::to_vec(event).expect("serializes")).expect("parses");
        let id = Uuid::from_u128(0x1000 + i as u128);
        envelope.set_id(id);
        let ctx = Context { event_id: id, seq: i as u64 * 1000, recorded_at: recorded_at() };
        assert!(matches!(ledger.decide_and_apply(envelope, ctx), Outcome::Accepted(_)));
    }
    let chunks: Vec<EntityKey> =
        ledger.state.entity_keys().into_iter().filter(|k| matches!(k, EntityKey::EventChunk(_))).collect();
    let expected: BTreeSet<u64> = (0..events.len() as u64).map(|i| i * 1000 / EVENT_CHUNK_EVENTS).collect();
    assert_eq!(chunks, expected.into_iter().map(EntityKey::EventChunk).collect::<Vec<_>>());
    ledger.state.take_dirty();

    let seq = 50_000;
    let mut envelope =
        parse_event(&serde_json::to_vec(&correct(OP, Uuid::from_u128(0x1001))).expect("serializes")).expect("parses");
    let id = Uuid::from_u128(0x9999);
    envelope.set_id(id);
    let ctx = Context { event_id: id, seq, recorded_at: recorded_at() };
    assert!(matches!(ledger.decide_and_apply(envelope, ctx), Outcome::Accepted(_)));
    assert_eq!(
        ledger.state.take_dirty(),
        vec![EntityKey::event_chunk_of(1000), EntityKey::event_chunk_of(seq)],
        "the corrected event's chunk and the correction's"
    );
    assert_eq!(ledger.state.take_dirty(), vec![], "taken once");

    // Restoring a chunk again replaces it rather than adding to it.
    let mut restored = restore(&snapshot(&ledger.state), 7);
    let key = EntityKey::event_chunk_of(seq);
    let bytes = ledger.state.entity_bytes(&key).expect("the chunk exists");
    restored.restore_entity(&key, &bytes).expect("restores again");
    assert_eq!(restored, ledger.state);
}

#[test]
fn bad_bytes_are_refused_naming_the_entity() {
    let mut ledger = Ledger::new();
    for event in world() {
        ledger.must(&event);
    }
    let lot = EntityKey::Lot(ORE.parse().expect("a lot id"));
    let good = String::from_utf8(ledger.state.entity_bytes(&lot).expect("exists")).expect("UTF-8");
    let chunk = EntityKey::EventChunk(0);
    let events = String::from_utf8(ledger.state.entity_bytes(&chunk).expect("exists")).expect("UTF-8");

    let cases: Vec<(EntityKey, String, &str)> = vec![
        (lot.clone(), "not json".into(), "decode"),
        (lot.clone(), good.replacen('{', r#"{"colour":"red","#, 1), "decode"),
        (lot.clone(), good.replace(r#""status":"active""#, r#""status":"lost""#), "decode"),
        (EntityKey::Totals, "{}".into(), "decode"),
        (chunk.clone(), events.replace("lot.extracted", "lot.stolen"), "decode"),
        (EntityKey::EventChunk(1), events.clone(), "wrong_chunk"),
    ];
    for (key, bytes, expected) in cases {
        let err = State::default().restore_entity(&key, bytes.as_bytes()).expect_err(&bytes);
        let kind = match &err {
            RestoreError::Decode { key: k, .. } | RestoreError::WrongChunk { key: k, .. } => {
                assert_eq!(k, &key);
                if matches!(err, RestoreError::Decode { .. }) {
                    "decode"
                } else {
                    "wrong_chunk"
                }
            }
            other => panic!("unexpected {other}"),
        };
        assert_eq!(kind, expected, "{err}");
        assert!(err.to_string().starts_with(&key.to_string()), "the message names the entity: {err}");
    }

    // The same event in two chunks.
    let mut state = State::default();
    state.restore_entity(&chunk, events.as_bytes()).expect("restores");
    let mut first: serde_json::Value =
        serde_json::from_str::<Vec<serde_json::Value>>(&events).expect("a list")[0].clone();
    first["seq"] = EVENT_CHUNK_EVENTS.into();
    let moved = serde_json::to_string(&[first]).expect("serializes");
    let err = state.restore_entity(&EntityKey::EventChunk(1), moved.as_bytes()).expect_err("a duplicate");
    assert!(matches!(err, RestoreError::DuplicateEvent { .. }), "{err}");
}
