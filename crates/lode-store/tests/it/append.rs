//! Appends, idempotency, optimistic concurrency, limits, reads and reopening.

use lode_store::{verify_path, AppendError, NewEvent, Options, StopReason, Store};

use crate::support::*;

#[test]
fn appends_get_gap_free_positions_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path(), 100, 13);
    let head = store.head();
    assert_eq!(head.seq, 100);
    drop(store);
    let store = Store::open_open(dir.path(), options()).unwrap();
    assert_eq!(store.head(), head);
    let all = store.reader().range(1, 1000).unwrap();
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=100).collect::<Vec<_>>());
    assert_eq!(all.last().unwrap().hash(), head.hash);
    // Reads by stream and by id agree with the full log.
    let lot3: Vec<u64> = store.reader().stream("lot-3", 0, usize::MAX).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(lot3, (1..=100).filter(|i| i % 7 == 3).collect::<Vec<_>>());
    assert_eq!(store.reader().version("all"), 100);
    let ev = event(42, &[]);
    assert_eq!(store.reader().get_by_id(&ev.id).unwrap().unwrap().seq, 42);
    assert_eq!(store.reader().range(98, 10).unwrap().len(), 3);
    assert!(store.reader().get(101).unwrap().is_none());
}

#[test]
fn the_same_id_with_the_same_content_is_a_retry_and_with_other_content_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path(), 10, 10);
    let head = store.head();
    let out = store.append(vec![event(4, &["lot-4", "all"])]).unwrap();
    assert!(out.stopped.is_none());
    assert_eq!(out.positions[0].seq, 4);
    assert!(out.positions[0].duplicate);
    assert_eq!(store.head(), head, "a retry writes nothing");

    let mut other = event(4, &["lot-4"]);
    other.event = br#"{"type":"test.happened","n":99}"#.to_vec();
    let out = store.append(vec![event(11, &["x"]), other, event(12, &["x"])]).unwrap();
    assert_eq!(out.positions.len(), 1, "the event before the conflict is appended");
    let stopped = out.stopped.unwrap();
    assert_eq!(stopped.index, 1);
    assert!(matches!(stopped.reason, StopReason::IdConflict { seq: 4, .. }));
    assert_eq!(store.head().seq, 11, "nothing from the conflict on is appended");

    // Within one batch too.
    let out = store.append(vec![event(20, &["y"]), event(20, &["y"])]).unwrap();
    assert_eq!(out.positions[0].seq, 12);
    assert_eq!(out.positions[1], lode_store::Position { duplicate: true, ..out.positions[0] });
}

#[test]
fn expected_versions_that_do_not_match_stop_the_append() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_open(dir.path(), options()).unwrap();
    let mut a = event(1, &["lot"]);
    a.expected = vec![("lot".into(), 0)];
    assert!(store.append(vec![a]).unwrap().stopped.is_none());
    let mut b = event(2, &["lot"]);
    b.expected = vec![("lot".into(), 0)];
    let out = store.append(vec![b]).unwrap();
    assert_eq!(
        out.stopped.unwrap().reason,
        StopReason::VersionConflict { stream: "lot".into(), expected: 0, actual: 1 }
    );
    assert_eq!(store.head().seq, 1);
    // Versions count events pending in the same group.
    let mut c = event(3, &["lot"]);
    c.expected = vec![("lot".into(), 1)];
    let mut d = event(4, &["lot"]);
    d.expected = vec![("lot".into(), 2)];
    let out = store.append(vec![c, d]).unwrap();
    assert!(out.stopped.is_none());
    assert_eq!(store.reader().version("lot"), 3);
}

#[test]
fn limits_and_malformed_events_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_open(dir.path(), Options { batch_events_max: 3, event_bytes_max: 100, ..options() }).unwrap();
    let too_many = (0..4).map(|i| event(i, &[])).collect();
    assert!(matches!(store.append(too_many), Err(AppendError::BatchTooLarge { events: 4, max: 3 })));
    let mut big = event(1, &[]);
    big.event = format!(r#"{{"pad":"{}"}}"#, "x".repeat(200)).into_bytes();
    assert!(matches!(store.append(vec![event(2, &[]), big]), Err(AppendError::EventTooLarge { index: 1, .. })));
    for bad in [&b"[1]"[..], b"{\"a\":1}\n", b"{\"a\":}", b"{\"a\":1"] {
        let mut e = event(3, &[]);
        e.event = bad.to_vec();
        assert!(matches!(store.append(vec![e]), Err(AppendError::InvalidEvent { index: 0, .. })), "{bad:?}");
    }
    for name in ["", "-lot", "lot with space", "lot\"quote", &"x".repeat(129)] {
        let e = event(4, &[name]);
        assert!(matches!(store.append(vec![e]), Err(AppendError::InvalidStream { .. })), "{name:?}");
    }
    assert_eq!(store.head().seq, 0);
}

#[test]
fn a_directory_in_use_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _store = Store::open_open(dir.path(), options()).unwrap();
    let err = Store::open_open(dir.path(), options()).unwrap_err();
    assert!(matches!(err, lode_store::OpenError::InUse(_)), "{err}");
}

#[test]
fn a_large_group_spans_several_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_open(dir.path(), Options { block_bytes_max: 1024, ..options() }).unwrap();
    let events: Vec<NewEvent<Vec<String>>> = (1..=500).map(|i| event(i, &["a"])).collect();
    store.append(events).unwrap();
    let head = store.head();
    assert_eq!(head.seq, 500);
    assert_eq!(store.reader().stream("a", 490, 100).unwrap().len(), 10);
    drop(store);
    assert!(raw_blocks(dir.path()).len() > 10);
    assert_eq!(verify_dir(dir.path(), Some(head)).unwrap().head, head);
}

#[test]
fn retries_in_flight_behind_their_originals_are_answered_with_the_originals_positions() {
    // Pipelined requests are checked while earlier groups are still being written: a retry can
    // name an event the writer has checked but sled does not hold yet. It must be answered as a
    // duplicate of that event, never refused or appended again, and a conflict must be seen.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_open(dir.path(), Options { fsync: true, ..options() }).unwrap();
    let pipeline = store.pipeline();
    let rounds: Vec<Vec<NewEvent<Vec<String>>>> =
        (0..20u64).map(|r| (r * 200 + 1..=r * 200 + 200).map(|i| event(i, &["lot", "all"])).collect()).collect();
    let mut tickets = Vec::new();
    for batch in &rounds {
        tickets.push(pipeline.submit(batch.clone()).unwrap());
        tickets.push(pipeline.submit(batch.clone()).unwrap());
    }
    let mut conflicting = event(3999, &["lot"]);
    conflicting.event = br#"{"type":"test.happened","n":-1}"#.to_vec();
    let conflict = pipeline.submit(vec![conflicting]).unwrap();
    let answers: Vec<_> = tickets.into_iter().map(|t| t.wait().unwrap()).collect();
    for pair in answers.chunks(2) {
        let (first, again) = (&pair[0], &pair[1]);
        assert!(first.stopped.is_none() && again.stopped.is_none());
        assert!(first.positions.iter().all(|p| !p.duplicate));
        assert!(again.positions.iter().all(|p| p.duplicate));
        let strip = |p: &lode_store::Position| (p.seq, p.hash);
        assert_eq!(
            first.positions.iter().map(strip).collect::<Vec<_>>(),
            again.positions.iter().map(strip).collect::<Vec<_>>()
        );
    }
    let stopped = conflict.wait().unwrap().stopped.expect("another event under a logged id");
    assert!(matches!(stopped.reason, StopReason::IdConflict { seq: 3999, .. }));
    assert_eq!(store.head().seq, 4000);
    drop(pipeline);
    drop(store);
    let head = verify_path(dir.path(), None, |_| {}).unwrap().unwrap().head;
    assert_eq!(head.seq, 4000);
}
