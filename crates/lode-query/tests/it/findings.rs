//! Audits: every finding of the vocabulary is raised by a history that has it, with the event that
//! caused it, and by none that does not; stage verdicts against the covered countries.

use std::collections::BTreeSet;

use lode_domain::{Country, DocumentKind, Process, Stage};
use lode_query::{Audit, AuditOptions, FindingKind, Held, QueryError, Verdict};
use serde_json::{json, Value};

use crate::support::*;

fn codes(audit: &Audit) -> BTreeSet<&'static str> {
    audit.findings.iter().map(|f| f.code()).collect()
}

/// The `type` of the event stored at a position.
fn type_at(f: &Fixture, seq: u64) -> String {
    let record = f.store.reader().get(seq).unwrap().unwrap();
    let event: Value = serde_json::from_slice(record.header().event).unwrap();
    event["type"].as_str().unwrap().to_string()
}

fn countries(codes: &[&str]) -> BTreeSet<Country> {
    codes.iter().map(|c| Country::parse(c).unwrap()).collect()
}

#[test]
fn a_clean_history_has_no_finding_and_a_clear_verdict() {
    let f = Fixture::with(&story(Tweaks::default()));
    for lot in [MAGNET, ALLOY, METAL, OXIDE, RES, ORE] {
        let audit = f.audit(lot);
        assert!(audit.findings.is_empty(), "{lot}: {:#?}", audit.findings);
        assert!(audit.passed(), "{lot}");
    }
    let audit = f.audit(MAGNET);
    assert_eq!((audit.lots_examined, audit.truncated), (5, false));
    let stages: Vec<(Stage, Vec<&str>, Verdict)> =
        audit.stages.iter().map(|s| (s.stage, s.countries.iter().map(|c| c.as_str()).collect(), s.verdict)).collect();
    assert_eq!(
        stages,
        vec![
            (Stage::Mining, vec!["VN"], Verdict::Clear),
            (Stage::Separation, vec!["VN"], Verdict::Clear),
            (Stage::Metal, vec!["JP"], Verdict::Clear),
            (Stage::Magnet, vec!["JP"], Verdict::Clear),
        ]
    );
    assert_eq!(audit.verdict, Verdict::Clear);
    let covered: Vec<&str> = audit.covered_countries.iter().map(|c| c.as_str()).collect();
    assert_eq!(covered, vec!["CN", "IR", "KP", "RU"]);
    assert_eq!(audit.origin.len(), 1);
    assert_eq!((audit.origin[0].mine.as_str(), audit.origin[0].ppm), (MINE, 1_000_000));
    let shipments: Vec<(&str, &str)> = audit.handovers.iter().map(|h| (h.shipment.as_str(), h.lot.as_str())).collect();
    assert_eq!(shipments, vec![("SHP-1", ORE), ("SHP-2", OXIDE)]);
}

#[test]
fn every_finding_is_raised_by_its_history_with_the_event_that_caused_it() {
    // (tweak, code, lot the finding is about, type of the causing event, findings of that code)
    let table: [(Tweaks, &str, Option<&str>, &str, usize); 8] = [
        (Tweaks { short_receipt: true, ..Tweaks::default() }, "transit_difference", Some(ORE), "custody.received", 1),
        (Tweaks { heavy_loss: true, ..Tweaks::default() }, "process_loss", Some(OXIDE), "lot.transformed", 1),
        (Tweaks { adjustment: true, ..Tweaks::default() }, "adjustment", Some(OXIDE), "lot.adjusted", 1),
        // The assay's correction, and the correction of that correction.
        (Tweaks { correction: true, ..Tweaks::default() }, "correction", Some(OXIDE), "event.corrected", 2),
        (Tweaks { lot_hold: true, ..Tweaks::default() }, "hold", Some(OXIDE), "hold.placed", 1),
        (Tweaks { party_hold: true, ..Tweaks::default() }, "hold", None, "hold.placed", 1),
        (Tweaks { no_certificate: true, ..Tweaks::default() }, "missing_document", Some(OXIDE), "custody.shipped", 1),
        (Tweaks { backdated_receipt: true, ..Tweaks::default() }, "time_backwards", Some(ORE), "custody.received", 1),
    ];
    let mut raised = BTreeSet::new();
    for (tweaks, code, lot, type_name, count) in table {
        let f = Fixture::with(&story(tweaks));
        let audit = f.audit(MAGNET);
        assert_eq!(codes(&audit), BTreeSet::from([code]), "{tweaks:?}: {:#?}", audit.findings);
        assert_eq!(audit.findings.len(), count, "{tweaks:?}: {:#?}", audit.findings);
        assert!(!audit.passed());
        for finding in &audit.findings {
            assert_eq!(finding.lot.as_ref().map(|l| l.as_str()), lot, "{tweaks:?}");
            assert_eq!(f.event_at(finding.seq), finding.event, "{tweaks:?}: the seq is the event's position");
            assert_eq!(type_at(&f, finding.seq), type_name, "{tweaks:?}");
            assert!(!finding.message().is_empty());
        }
        raised.insert(code);
    }
    assert_eq!(raised, FindingKind::CODES.into_iter().collect(), "every finding of the vocabulary is tested");
}

#[test]
fn findings_carry_their_details() {
    let f = Fixture::with(&story(Tweaks {
        short_receipt: true,
        heavy_loss: true,
        adjustment: true,
        correction: true,
        lot_hold: true,
        party_hold: true,
        no_certificate: true,
        backdated_receipt: true,
    }));
    let audit = f.audit(MAGNET);
    assert_eq!(codes(&audit).len(), FindingKind::CODES.len(), "{:#?}", audit.findings);
    let seqs: Vec<u64> = audit.findings.iter().map(|f| f.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "in ledger order: {seqs:?}");
    for finding in &audit.findings {
        match &finding.kind {
            FindingKind::TransitDifference { shipment, shipped_g, received_g, difference_g } => {
                assert_eq!(
                    (shipment.as_str(), *shipped_g, *received_g, *difference_g),
                    ("SHP-1", ORE_G, ORE_G - 2_000_000, -2_000_000)
                );
                assert_eq!(finding.message(), "SHP-1: shipped 100.000 t, weighed 98.000 t (-2.000 t, -2.000%)");
            }
            FindingKind::ProcessLoss { process, input_g, loss_g, threshold_per_mille } => {
                assert_eq!(
                    (*process, *input_g, *loss_g, *threshold_per_mille),
                    (Process::Separation, 90_000_000, 9_000_000, 50)
                );
            }
            FindingKind::Adjustment { delta_g, reason } => {
                assert_eq!((*delta_g, reason.as_str()), (-10_000, "recount"))
            }
            FindingKind::Correction { corrected_event, corrected_type, note, .. } => {
                if *corrected_event == ASSAY_ID {
                    assert_eq!(finding.event, CORRECTION_ID);
                    assert_eq!(
                        (corrected_type.as_str(), note.as_deref()),
                        ("lot.assayed", Some("Nd and Pr transposed"))
                    );
                } else {
                    assert_eq!((*corrected_event, corrected_type.as_str()), (CORRECTION_ID, "event.corrected"));
                }
            }
            FindingKind::Hold { target, released, .. } => {
                let released = released.as_ref().expect("every hold of the story is released");
                assert_eq!(type_at(&f, released.event.seq), "hold.released");
                match target {
                    Held::Lot(lot) => assert_eq!(lot.as_str(), OXIDE),
                    Held::Party(party) => assert_eq!(party.as_str(), CARRIER),
                    other => panic!("unexpected target {other:?}"),
                }
            }
            FindingKind::MissingDocument { shipment, missing } => {
                assert_eq!(
                    (shipment.as_str(), missing.as_slice()),
                    ("SHP-2", &[DocumentKind::CertificateOfOrigin][..])
                );
            }
            FindingKind::TimeBackwards { previous_seq, previous_occurred_at, .. } => {
                assert_eq!(type_at(&f, *previous_seq), "custody.shipped");
                assert_eq!(previous_occurred_at, &day(3));
                assert_eq!(finding.occurred_at, "2024-04-02T20:00:00Z");
            }
            other => panic!("unexpected finding {other:?}"),
        }
    }
    // Programs read the findings by stable names.
    let json = serde_json::to_value(&audit).unwrap();
    let difference = json["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "transit_difference").unwrap();
    assert_eq!(difference["lot"], ORE);
    assert_eq!(difference["difference_g"], -2_000_000);
    for key in ["event", "seq", "actor", "occurred_at", "shipment", "shipped_g", "received_g"] {
        assert!(difference.get(key).is_some(), "{key} in {difference}");
    }
    let party_hold =
        json["findings"].as_array().unwrap().iter().find(|f| f["target"] == json!({"party": CARRIER})).unwrap();
    assert!(party_hold.get("lot").is_none());
    assert_eq!(party_hold["released"]["reason"], "cleared");
}

#[test]
fn an_ancestor_counts_with_its_history_before_the_lot_was_made_from_it() {
    let mut events = story(Tweaks::default());
    // After the separation the ore still holds 10 t at the refinery: what happens to it then is the
    // ore's history, not the oxide's.
    events.extend([
        ev("lot.adjusted", REFINER, &day(20), json!({"lot": ORE, "delta_g": -5_000, "reason": "recount"})),
        hold(true, &day(21), "lot", ORE),
        // A hold on a party that never touched the oxide's history.
        hold(true, &day(21), "party", TRUCKER),
    ]);
    let f = Fixture::with(&events);
    assert!(f.audit(MAGNET).findings.is_empty(), "{:#?}", f.audit(MAGNET).findings);
    assert!(f.audit(OXIDE).findings.is_empty());
    let ore = f.audit(ORE);
    assert_eq!(codes(&ore), BTreeSet::from(["adjustment", "hold"]));
    let hold = ore.findings.iter().find(|f| f.code() == "hold").unwrap();
    assert!(matches!(&hold.kind, FindingKind::Hold { released: None, .. }), "still in place");
    assert!(hold.message().ends_with("still in place"), "{}", hold.message());
}

#[test]
fn stages_are_judged_against_the_covered_countries_given() {
    let f = Fixture::with(&story(Tweaks::default()));
    let verdicts = |audit: &Audit| -> Vec<Verdict> { audit.stages.iter().map(|s| s.verdict).collect() };

    let vietnam = f.audit_with(MAGNET, &AuditOptions { covered: countries(&["VN"]), ..AuditOptions::default() });
    assert_eq!(verdicts(&vietnam), vec![Verdict::Covered, Verdict::Covered, Verdict::Clear, Verdict::Clear]);
    assert_eq!(vietnam.verdict, Verdict::Covered);
    assert_eq!(vietnam.stages[0].covered, vec![Country::parse("VN").unwrap()]);
    assert!(vietnam.findings.is_empty() && !vietnam.passed());

    let japan = f.audit_with(MAGNET, &AuditOptions { covered: countries(&["JP", "CN"]), ..AuditOptions::default() });
    assert_eq!(verdicts(&japan), vec![Verdict::Clear, Verdict::Clear, Verdict::Covered, Verdict::Covered]);

    // An oxide has not been made into metal or magnets yet.
    let oxide = f.audit(OXIDE);
    assert_eq!(verdicts(&oxide), vec![Verdict::Clear, Verdict::Clear, Verdict::NotReached, Verdict::NotReached]);
    assert_eq!(oxide.verdict, Verdict::Clear);
    assert!(oxide.passed());
}

#[test]
fn loss_thresholds_can_be_changed_per_call() {
    let f = Fixture::with(&story(Tweaks::default()));
    let mut options = AuditOptions::default();
    // The reduction loses 15% of the oxide: over 100‰, not over the default 200‰.
    assert_eq!(options.loss_thresholds.per_mille(Process::Reduction), 200);
    options.loss_thresholds.set(Process::Reduction, 100);
    let audit = f.audit_with(MAGNET, &options);
    assert_eq!(codes(&audit), BTreeSet::from(["process_loss"]));
    assert_eq!(audit.findings[0].lot.as_ref().map(|l| l.as_str()), Some(METAL));
    assert!(f.audit_with(OXIDE, &options).findings.is_empty(), "the reduction is not in the oxide's history");
}

#[test]
fn a_limited_audit_says_it_is_truncated() {
    let f = Fixture::with(&story(Tweaks { short_receipt: true, ..Tweaks::default() }));
    let audit = f.audit_with(MAGNET, &AuditOptions { trace_lots_max: 2, ..AuditOptions::default() });
    assert_eq!((audit.lots_examined, audit.truncated), (2, true));
    assert!(!audit.passed());
}

#[test]
fn an_unknown_lot_is_not_found() {
    let f = Fixture::with(&story(Tweaks::default()));
    let reader = f.store.reader();
    let err = f.ledger.read(|s, v| lode_query::audit(s, v, &reader, "NO-SUCH-LOT", &AuditOptions::default()));
    assert_eq!(err, Err(QueryError::LotNotFound { lot: "NO-SUCH-LOT".into() }));
    assert_eq!(err.unwrap_err().to_string(), "no lot \"NO-SUCH-LOT\" in the ledger");
}
