//! Effects over a whole chain: mine to magnet, with stages, lineage and versions.

use lode_domain::{decide, Context, LotStatus, Stage};
use serde_json::json;

use crate::support::*;

fn metal(elements: &[&str]) -> serde_json::Value {
    json!({"form": "metal", "elements": elements})
}

fn magnet() -> serde_json::Value {
    json!({"form": "magnet", "elements": ["Nd", "Pr", "Dy"], "grade": "N52"})
}

#[test]
fn a_chain_from_mine_to_magnet_records_stages_and_lineage() {
    let mut ledger = Ledger::new();
    for event in ore_at_refinery() {
        ledger.must(&event);
    }
    ledger.must(&merge(
        transform(REFINER, "separation", REFINERY, &[(ORE, ORE_G)], &[("OX", oxide(&["Nd", "Pr"]), 800_000)]),
        json!({"data": {"loss_g": 200_000}}),
    ));
    ledger.must(&merge(
        transform(REFINER, "reduction", REFINERY, &[("OX", 800_000)], &[("MET", metal(&["Nd", "Pr"]), 600_000)]),
        json!({"data": {"loss_g": 200_000}}),
    ));
    ledger.must(&ship(REFINER, "SHP-2", &["MET"], REFINERY, MAKER, PLANT));
    let received = ledger.must(&receive(MAKER, "SHP-2", &[("MET", 600_000)]));
    assert_eq!(received.lots.iter().map(|l| l.as_str()).collect::<Vec<_>>(), ["MET"]);
    let made = ledger.must(&merge(
        transform(MAKER, "magnet_making", PLANT, &[("MET", 600_000)], &[("MAG-1", magnet(), 700_000)]),
        json!({"data": {"additions_g": 150_000, "loss_g": 50_000}}),
    ));
    assert_eq!(made.lots.iter().map(|l| l.as_str()).collect::<Vec<_>>(), ["MAG-1", "MET"]);

    let s = &ledger.state;
    let stage = |lot: &str| s.lot(lot).and_then(|l| l.stage).map(|st| (st.stage, st.country.as_str()));
    assert_eq!(stage(ORE), Some((Stage::Mining, "VN")));
    assert_eq!(stage("OX"), Some((Stage::Separation, "VN")));
    assert_eq!(stage("MET"), Some((Stage::Metal, "VN")));
    assert_eq!(stage("MAG-1"), Some((Stage::Magnet, "JP")));

    let mag = s.lot("MAG-1").expect("made");
    assert_eq!((mag.custodian.as_str(), mag.site.as_str(), mag.mass_g), (MAKER, PLANT, 700_000));
    assert_eq!(mag.parents.iter().map(|p| (p.lot.as_str(), p.mass_g)).collect::<Vec<_>>(), [("MET", 600_000)]);
    // Walking the parents leads back to the mine.
    let mut at = "MAG-1".to_string();
    while let Some(parent) = s.lot(&at).and_then(|l| l.parents.first()) {
        at = parent.lot.to_string();
    }
    assert_eq!(s.lot(&at).and_then(|l| l.mine.clone()).map(|m| m.to_string()).as_deref(), Some(MINE));

    for closed in [ORE, "OX", "MET"] {
        let lot = s.lot(closed).expect("exists");
        assert_eq!((lot.status, lot.mass_g), (LotStatus::Closed, 0), "{closed}");
    }
    // ORE: extracted, shipped, received, transformed. MET: made, shipped, received, transformed.
    assert_eq!(s.lot_version(ORE), 4);
    assert_eq!(s.lot_version("MET"), 4);
    assert_eq!(s.lot_version("MAG-1"), 1);
    assert_eq!(s.lot_version("NEVER"), 0);

    let t = s.totals();
    assert_eq!((t.extracted_g, t.additions_g, t.loss_g), (1_000_000, 150_000, 450_000));
    let remaining: u128 = s.lots().map(|(_, l)| u128::from(l.mass_g)).sum();
    assert_eq!(remaining, t.sources() - t.sinks());
    assert_eq!(remaining, 700_000);
}

#[test]
fn decide_does_not_change_the_state_and_apply_is_deterministic() {
    let mut ledger = Ledger::new();
    for event in ore_in_transit() {
        ledger.must(&event);
    }
    let before = ledger.state.clone();
    let ctx = Context { event_id: WHEN_ID, seq: 99, recorded_at: recorded_at() };
    for event in [receive(MAKER, "SHP-1", &[(ORE, 1)]), receive(REFINER, "SHP-1", &[(ORE, 1)])] {
        let envelope = lode_domain::parse_event(event.to_string().as_bytes()).expect("parses");
        let _ = decide(&ledger.state, &envelope, &ctx);
        assert_eq!(ledger.state, before);
    }
    // Replaying the accepted events gives the same state.
    let mut replay = Ledger::new();
    for (envelope, ctx) in &ledger.accepted {
        assert!(matches!(replay.decide_and_apply(envelope.clone(), *ctx), Outcome::Accepted(_)));
    }
    assert_eq!(replay.state, ledger.state);
}

#[test]
fn named_lots_follow_the_version_rule() {
    let envelope = |event: serde_json::Value| lode_domain::parse_event(event.to_string().as_bytes()).expect("parses");
    let names = |event: serde_json::Value| {
        envelope(event).event().named_lots().into_iter().map(|l| l.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(
        names(transform(REFINER, "other", REFINERY, &[("B", 1), ("A", 1)], &[("C", ore(), 2)])),
        ["B", "A", "C"]
    );
    assert_eq!(names(receive(REFINER, "S", &[("X", 1)])), ["X"]);
    assert!(names(reject(REFINER, "S")).is_empty());
    assert!(names(attach(REFINER, "shipment", "S")).is_empty());
    assert!(names(hold(OP, "party", MINER, true)).is_empty());
    assert_eq!(names(hold(OP, "lot", "X", false)), ["X"]);
}
