//! Lode's phases: they append every event through the rules and verify against the head.

use lode_bench::lode;
use lode_bench::workload::{load_lots, Input};

#[test]
fn import_then_verify_against_the_head_and_read_every_sampled_lot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = super::tiny_workload(dir.path());
    let input = Input::load(dir.path()).expect("load");
    let ledger = dir.path().join("ledger");
    let imported = lode::import(&ledger, &input.lines()).expect("import");
    assert_eq!(imported.head.seq, generated.events);

    let (events, _) = lode::verify(&ledger, Some((imported.head.seq, imported.head.hash.0))).expect("verify");
    assert_eq!(events, generated.events);
    // A head the ledger never reached must fail verification.
    let mut wrong = imported.head.hash.0;
    wrong[0] ^= 1;
    assert!(lode::verify(&ledger, Some((imported.head.seq, wrong))).is_err());

    let lots = load_lots(dir.path()).expect("lots");
    assert_eq!(lots.len(), generated.sampled);
    let (records, latencies) = lode::reads(&ledger, &lots).expect("reads");
    assert_eq!(latencies.len(), lots.len());
    assert!(records >= lots.len() as u64, "every sampled lot has at least one record");
}

#[test]
fn single_event_appends_from_many_writers_keep_the_history_in_order() {
    // Out of order, the rules would refuse a lot's shipment before its extraction: every event
    // being accepted shows that submissions follow the history.
    let dir = tempfile::tempdir().expect("tempdir");
    super::tiny_workload(dir.path());
    let input = Input::load(dir.path()).expect("load");
    let lines = input.lines();
    for writers in [1, 8] {
        let ledger = dir.path().join(format!("single-{writers}"));
        lode::single(&ledger, &lines, writers, 60).expect("single-event appends");
    }
}
