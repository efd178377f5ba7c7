//! The SQLite peer's chain: appends, the checked head, and verification against tampering.

use lode_bench::chain::{ChainFailure, ChainHead};
use lode_bench::sqlite;
use lode_bench::workload::Input;

/// A chain of the tiny history, appended in batches of 25, and the head it ended at.
fn chain(dir: &std::path::Path) -> (rusqlite::Connection, ChainHead, u64) {
    let generated = super::tiny_workload(dir);
    let input = Input::load(dir).expect("load");
    let events = input.sql_events().expect("events");
    let db = dir.join("db");
    std::fs::create_dir_all(&db).expect("mkdir");
    let mut conn = sqlite::open(&db).expect("open");
    let mut head = sqlite::head(&conn).expect("head");
    assert_eq!(head, ChainHead::GENESIS);
    for batch in events.chunks(25) {
        sqlite::append(&mut conn, &mut head, batch).expect("append");
    }
    assert_eq!(head.seq, generated.events);
    (conn, head, generated.events)
}

#[test]
fn an_untouched_chain_verifies_to_its_head_and_reopens_at_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (conn, head, events) = chain(dir.path());
    assert_eq!(sqlite::verify(&conn, Some((head.seq, head.hash))).expect("read"), Ok(head));
    assert_eq!(sqlite::count(&conn).expect("count"), events);
    drop(conn);
    let conn = sqlite::open(&dir.path().join("db")).expect("reopen");
    assert_eq!(sqlite::head(&conn).expect("head"), head);
}

#[test]
fn the_append_only_triggers_refuse_updates_and_deletes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (conn, _, _) = chain(dir.path());
    for sql in ["UPDATE events SET lots = '' WHERE seq = 3", "DELETE FROM events WHERE seq = 3"] {
        let err = conn.execute(sql, []).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

/// Every kind of change someone with the file could make, and the row verification must name.
#[test]
fn any_changed_row_is_found_where_it_was_changed() {
    // (what, the tampering, the first row verification must name)
    let cases: &[(&str, &str, u64)] = &[
        (
            "one byte of an event",
            "UPDATE events SET event = CAST(replace(CAST(event AS TEXT), 'Z\"', 'Y\"') AS BLOB) WHERE seq = 40",
            40,
        ),
        ("the lots an event names", "UPDATE events SET lots = 'VN-ORE-000001' WHERE seq = 60", 60),
        ("recorded_at", "UPDATE events SET recorded_at = recorded_at + 1 WHERE seq = 20", 20),
        ("an id", "UPDATE events SET id = randomblob(16) WHERE seq = 7", 7),
        ("a stored hash", "UPDATE events SET hash = randomblob(32) WHERE seq = 50", 50),
        ("a row removed from the middle", "DELETE FROM events WHERE seq = 33", 33),
        ("the first row removed", "DELETE FROM events WHERE seq = 1", 1),
        (
            "two rows swapped",
            "UPDATE events SET seq = CASE seq WHEN 70 THEN -70 ELSE seq END WHERE seq = 70;
                               UPDATE events SET seq = 70 WHERE seq = 71;
                               UPDATE events SET seq = 71 WHERE seq = -70",
            70,
        ),
    ];
    for (what, tamper, seq) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let (conn, head, _) = chain(dir.path());
        // Someone with the file is not stopped by triggers; the chain is what catches them.
        conn.execute_batch("DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;")
            .expect("drop triggers");
        conn.execute_batch(tamper).unwrap_or_else(|e| panic!("{what}: {e}"));
        let result = sqlite::verify(&conn, Some((head.seq, head.hash))).expect("read");
        match result {
            Err(ChainFailure { seq: found, .. }) => assert_eq!(found, *seq, "{what}: {result:?}"),
            Ok(h) => panic!("{what}: the changed chain verified to {h:?}"),
        }
    }
}

#[test]
fn rows_dropped_from_the_end_are_caught_against_the_trusted_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (conn, head, events) = chain(dir.path());
    conn.execute_batch("DROP TRIGGER events_append_only_delete;").expect("drop trigger");
    conn.execute("DELETE FROM events WHERE seq > ?1", [events as i64 - 2]).expect("truncate");
    // Without a trusted head a shortened chain is still a valid chain...
    assert!(sqlite::verify(&conn, None).expect("read").is_ok());
    // ...with one, the first missing row is named.
    let failure = sqlite::verify(&conn, Some((head.seq, head.hash))).expect("read").expect_err("truncated");
    assert_eq!(failure.seq, events - 1);
}

#[test]
fn a_changed_last_row_is_refused_when_the_head_is_read_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (conn, head, _) = chain(dir.path());
    conn.execute_batch("DROP TRIGGER events_append_only_update;").expect("drop trigger");
    conn.execute("UPDATE events SET recorded_at = recorded_at + 1 WHERE seq = ?1", [head.seq as i64]).expect("tamper");
    let err = sqlite::head(&conn).expect_err("a last row that does not chain");
    assert!(err.to_string().contains("does not chain"), "{err:#}");
}

#[test]
fn a_writer_with_a_stale_head_fails_instead_of_forking_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut conn, head, events) = chain(dir.path());
    let input = Input::load(dir.path()).expect("load");
    let all = input.sql_events().expect("events");
    // A fresh event (a new id) appended on top of a head that is one row behind.
    let mut ev = all[0];
    ev.id = uuid::Uuid::from_u128(0xfeed);
    let mut stale = ChainHead { seq: head.seq - 1, ..head };
    let err = sqlite::append(&mut conn, &mut stale, &[ev]).expect_err("a stale head");
    assert!(err.to_string().contains("UNIQUE") || err.to_string().contains("constraint"), "{err:#}");
    assert_eq!(stale.seq, head.seq - 1, "a failed append leaves the in-memory head where it was");
    // An id already in the chain is refused too, and nothing of the failed appends stays.
    let mut current = head;
    assert!(sqlite::append(&mut conn, &mut current, &[all[5]]).is_err());
    assert_eq!(current, head);
    assert_eq!(sqlite::count(&conn).expect("count"), events);
    assert_eq!(sqlite::verify(&conn, Some((head.seq, head.hash))).expect("read"), Ok(head));
}
