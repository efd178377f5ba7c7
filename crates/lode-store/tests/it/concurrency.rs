//! Concurrent writers and live subscribers.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use lode_store::{NewEvent, Store};
use uuid::Uuid;

use crate::support::*;

#[test]
fn of_many_writers_expecting_the_same_version_exactly_one_wins_each_round() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_open(dir.path(), options()).unwrap());
    const WRITERS: usize = 16;
    const ROUNDS: u64 = 30;
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(WRITERS));
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = store.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let ev = NewEvent {
                        id: Uuid::new_v4(),
                        event: format!(r#"{{"round":{round},"writer":{w}}}"#).into_bytes(),
                        expected: vec![("contested".into(), round)],
                        payload: vec!["contested".to_string()],
                    };
                    barrier.wait();
                    store.append(vec![ev]).unwrap().stopped.is_none()
                })
            })
            .collect();
        let wins = handles.into_iter().map(|h| h.join().unwrap()).filter(|w| *w).count();
        assert_eq!(wins, 1, "round {round}");
        assert_eq!(store.reader().version("contested"), round + 1);
    }
}

#[test]
fn a_subscriber_started_mid_load_sees_every_position_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_open(dir.path(), options()).unwrap());
    const WRITERS: u64 = 8;
    const PER_WRITER: u64 = 300;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..PER_WRITER {
                    let n = w * PER_WRITER + i + 1;
                    let batch = if i % 3 == 0 { vec![event(n, &["s"])] } else { vec![event(n, &["s", "t"])] };
                    store.append(batch).unwrap();
                }
            })
        })
        .collect();
    // Start while the writers run: catch up from the log, then follow live.
    while store.head().seq < 200 {
        std::thread::yield_now();
    }
    let mut sub = store.reader().subscribe(0, None);
    let mut slow = store.reader().subscribe(100, Some("t".to_string()));
    let mut seen = Vec::new();
    while (seen.len() as u64) < WRITERS * PER_WRITER {
        let r = sub.next_blocking(Duration::from_secs(20)).unwrap().expect("a record within 20 s");
        seen.push(r.seq);
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(seen, (1..=WRITERS * PER_WRITER).collect::<Vec<_>>());
    // The filtered subscriber that never read during the load still gets all of its stream.
    let mut t = Vec::new();
    while let Some(r) = slow.next_blocking(Duration::from_millis(200)).unwrap() {
        t.push(r.seq);
    }
    let expected: Vec<u64> = store.reader().stream_positions("t").into_iter().filter(|&s| s > 100).collect();
    assert_eq!(t, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_subscriber_follows_appends_live() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_open(dir.path(), options()).unwrap());
    let mut sub = store.reader().subscribe(0, None);
    let s2 = store.clone();
    let writer = tokio::task::spawn(async move {
        for i in 1..=50 {
            s2.append_async(vec![event(i, &["a"])]).await.unwrap();
        }
    });
    for expected in 1..=50 {
        let r = tokio::time::timeout(Duration::from_secs(10), sub.next()).await.unwrap().unwrap();
        assert_eq!(r.seq, expected);
    }
    writer.await.unwrap();
}
