//! Generated histories: an empty ledger accepts every event, the same seed gives the same bytes, and
//! the story covers the vocabulary and the audit's findings.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use lode_domain::scenario::{generate, ScenarioOptions};
use lode_domain::{apply, decide, parse_event, Context, DocumentKind, Finding, LotStatus, State, EVENT_TYPES};

const START: &str = "2026-01-01T00:00:00Z";

fn options(mine_lots: usize, seed: u64) -> ScenarioOptions {
    ScenarioOptions { mine_lots, seed, start: START.parse().expect("a valid constant") }
}

/// A generated history as a ledger recording it at `start` accepted it.
#[derive(Debug)]
struct Ledger {
    state: State,
    events: usize,
    types: BTreeMap<&'static str, usize>,
    findings: Vec<Finding>,
}

/// Appends every generated event to an empty ledger, failing on the first event that does not parse or
/// is rejected, or whose id or time is not as promised.
fn append_all(opts: &ScenarioOptions) -> Ledger {
    let mut ledger = Ledger { state: State::default(), events: 0, types: BTreeMap::new(), findings: Vec::new() };
    let mut previous: Option<DateTime<Utc>> = None;
    for (seq, line) in generate(opts).enumerate() {
        let envelope = parse_event(line.as_bytes())
            .unwrap_or_else(|e| panic!("event {seq} does not parse ({}: {e}):\n{line}", e.code()));
        let id = envelope.id().unwrap_or_else(|| panic!("event {seq} has no id:\n{line}"));
        let raw: serde_json::Value = serde_json::from_str(&line).expect("parsed once already");
        assert_eq!(
            raw["id"].as_str(),
            Some(id.hyphenated().to_string().as_str()),
            "event {seq}: the id is not lowercase and hyphenated:\n{line}"
        );
        let at = envelope.occurred_at().to_utc();
        assert!(envelope.occurred_at_text().ends_with('Z'), "event {seq} not in UTC:\n{line}");
        assert!(previous.is_none_or(|p| p <= at), "event {seq} goes back in time:\n{line}");
        assert!(at < opts.start, "event {seq} is not before the start:\n{line}");
        previous = Some(at);

        let ctx = Context { event_id: id, seq: seq as u64, recorded_at: opts.start };
        match decide(&ledger.state, &envelope, &ctx) {
            Ok(accepted) => {
                ledger.findings.extend(accepted.findings.iter().cloned());
                apply(&mut ledger.state, &envelope, &accepted, &ctx);
            }
            Err(rejection) => panic!("event {seq} rejected ({}: {rejection}):\n{line}", rejection.code()),
        }
        *ledger.types.entry(envelope.type_name()).or_default() += 1;
        ledger.events += 1;
    }

    // Mass is conserved and every gram is accounted for.
    let remaining: u128 = ledger.state.lots().map(|(_, lot)| u128::from(lot.mass_g)).sum();
    let totals = ledger.state.totals();
    assert_eq!(remaining, totals.sources() - totals.sinks());
    ledger
}

#[test]
fn an_empty_ledger_accepts_every_generated_event() {
    for seed in [1, 7, 0xdead_beef] {
        for mine_lots in [0, 1, 5, 50] {
            let ledger = append_all(&options(mine_lots, seed));
            assert!(ledger.events > 30, "{mine_lots} lots, seed {seed}: {} events", ledger.events);
        }
    }
}

#[test]
fn a_start_with_a_fraction_of_a_second_is_fine() {
    let opts = ScenarioOptions { start: "2025-06-30T23:59:59.999Z".parse().expect("a valid time"), ..options(5, 3) };
    append_all(&opts);
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_another_history() {
    let first: Vec<String> = generate(&options(20, 11)).collect();
    let again: Vec<String> = generate(&options(20, 11)).collect();
    assert_eq!(first, again);
    let other: Vec<String> = generate(&options(20, 12)).collect();
    assert_ne!(first, other);
    // Another seed changes the ids and the story, not only a detail.
    let ids = |lines: &[String]| -> BTreeSet<String> { lines.iter().map(|l| l[7..43].to_string()).collect() };
    assert!(ids(&first).is_disjoint(&ids(&other)));
}

#[test]
fn twenty_mine_lots_cover_the_vocabulary_and_the_findings() {
    for seed in [1, 2, 99] {
        let ledger = append_all(&options(20, seed));
        for type_name in EVENT_TYPES {
            assert!(ledger.types.contains_key(type_name), "seed {seed}: no {type_name} in {:?}", ledger.types);
        }
        let findings: BTreeSet<&str> = ledger.findings.iter().map(|f| f.code()).collect();
        for code in ["transit_difference", "adjustment", "correction", "hold"] {
            assert!(findings.contains(code), "seed {seed}: no {code} finding in {findings:?}");
        }
        let state = &ledger.state;

        // Some shipment left without a certificate of origin, and none went without a bill of lading.
        let without_origin =
            state.shipments().filter(|(_, s)| !s.document_kinds.contains(&DocumentKind::CertificateOfOrigin)).count();
        assert!(without_origin >= 1, "seed {seed}: every shipment has a certificate of origin");
        assert!(state.shipments().all(|(_, s)| s.document_kinds.contains(&DocumentKind::BillOfLading)));

        // A lot made from ore mined in China and in Vietnam.
        let mixed = state.lots().any(|(id, _)| {
            let countries = mine_countries(state, id.as_str());
            countries.contains("CN") && countries.contains("VN")
        });
        assert!(mixed, "seed {seed}: no lot blends Chinese and Vietnamese oxide");

        // Magnets reach products, and both a lot and a party were held and released.
        assert!(state.lots().any(|(id, lot)| id.as_str().contains("-MAG-") && lot.status == LotStatus::Closed));
        assert!(state.lots().all(|(_, lot)| lot.hold.is_none()));
        assert!(state.parties().all(|(_, party)| party.hold.is_none()));
        assert!(ledger.findings.iter().any(|f| matches!(
            f,
            Finding::Hold { target } if matches!(target, lode_domain::HoldTarget::Party(_))
        )));
    }
}

/// The countries of the mines a lot's mass came from.
fn mine_countries(state: &State, lot: &str) -> BTreeSet<String> {
    let mut countries = BTreeSet::new();
    let mut pending = vec![lot.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(id) = pending.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let lot = state.lot(&id).expect("parents exist");
        if let Some(mine) = &lot.mine {
            let site = state.site(mine.as_str()).expect("mines are registered");
            countries.insert(site.country.as_str().to_string());
        }
        pending.extend(lot.parents.iter().map(|p| p.lot.as_str().to_string()));
    }
    countries
}

#[test]
fn events_per_mine_lot_stay_between_15_and_40() {
    for (mine_lots, seed) in [(20, 5), (100, 6), (300, 7)] {
        let events = generate(&options(mine_lots, seed)).count();
        let per_lot = events as f64 / mine_lots as f64;
        assert!(
            (15.0..=40.0).contains(&per_lot),
            "{mine_lots} lots, seed {seed}: {events} events, {per_lot:.1} per lot"
        );
    }
}
