//! Rules are checked inside the writer: concurrent requests can never both spend the same
//! kilograms or ship the same lot twice.

use std::sync::{Arc, Barrier};

use lode_projections::{prepare_event, Ledger};
use lode_store::{Options, StopReason, Store};

const SAMPLE: &str = include_str!("../../../../data/sample/events.jsonl");
const T: &str = "2025-05-01T00:00:00Z";

fn sample_store(dir: &std::path::Path) -> (Store<Ledger>, Ledger) {
    let ledger = Ledger::default();
    let store = Store::open(dir, Options { fsync: false, ..Options::default() }, ledger.clone()).unwrap();
    let events = SAMPLE.lines().map(|l| prepare_event(l.as_bytes()).unwrap()).collect();
    assert!(store.append(events).unwrap().stopped.is_none());
    (store, ledger)
}

/// Runs `attempts` at once, each in its own thread, and returns the rejection codes (None for
/// accepted) in no particular order.
fn race(store: &Arc<Store<Ledger>>, attempts: Vec<String>) -> Vec<Option<String>> {
    let barrier = Arc::new(Barrier::new(attempts.len()));
    let handles: Vec<_> = attempts
        .into_iter()
        .map(|ev| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let ev = prepare_event(ev.as_bytes()).unwrap();
                barrier.wait();
                let out = store.append(vec![ev]).unwrap();
                out.stopped.map(|s| match s.reason {
                    StopReason::Rejected(r) => r.code().to_string(),
                    other => other.to_string(),
                })
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn concurrent_consumptions_never_spend_more_than_the_lot_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ledger) = sample_store(dir.path());
    let store = Arc::new(store);
    // 9,995,000 g; 16 tasks each take 1,000,000 g: exactly 9 can.
    let attempts = (0..16)
        .map(|_| format!(r#"{{"type":"lot.consumed","actor":"han-river-materials","occurred_at":"{T}","data":{{"lot":"KR-NDPR-2025-0001-A","mass_g":1000000,"reason":"delivered_to_product"}}}}"#))
        .collect();
    let results = race(&store, attempts);
    let accepted = results.iter().filter(|r| r.is_none()).count();
    assert_eq!(accepted, 9, "{results:?}");
    assert!(results.iter().flatten().all(|c| c == "insufficient_mass"), "{results:?}");
    let left = ledger.read(|state, _| state.lot("KR-NDPR-2025-0001-A").unwrap().mass_g);
    assert_eq!(left, 995_000);
}

#[test]
fn a_lot_raced_into_several_shipments_and_a_split_goes_into_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ledger) = sample_store(dir.path());
    let store = Arc::new(store);
    let mut attempts: Vec<String> = (0..8)
        .map(|i| format!(r#"{{"type":"custody.shipped","actor":"han-river-materials","occurred_at":"{T}","data":{{"shipment":"SHP-RACE-{i}","lots":["KR-NDPR-2025-0001-B"],"from_site":"kr-incheon-wh","to_party":"song-hong-mining","to_site":"vn-sep-plant"}}}}"#))
        .collect();
    attempts.extend((0..8).map(|i| format!(r#"{{"type":"lot.transformed","actor":"han-river-materials","occurred_at":"{T}","data":{{"process":"split","site":"kr-incheon-wh","inputs":[{{"lot":"KR-NDPR-2025-0001-B","mass_g":9995000}}],"outputs":[{{"lot":"KR-RACE-{i}","material":{{"form":"oxide","elements":["Nd","Pr"],"grade":"99.5%","hs_code":"284690"}},"mass_g":9995000}}]}}}}"#)));
    let results = race(&store, attempts);
    assert_eq!(results.iter().filter(|r| r.is_none()).count(), 1, "{results:?}");
    ledger.read(|state, _| {
        let b = state.lot("KR-NDPR-2025-0001-B").unwrap();
        let raced_lots = (0..8).filter(|i| state.lot(&format!("KR-RACE-{i}")).is_some()).count();
        let shipments = (0..8).filter(|i| state.shipment(&format!("SHP-RACE-{i}")).is_some()).count();
        assert_eq!(raced_lots + shipments, 1);
        // Whichever won, the mass is where it should be and never negative.
        assert!(b.mass_g == 9_995_000 || (b.mass_g == 0 && raced_lots == 1));
    });
}
