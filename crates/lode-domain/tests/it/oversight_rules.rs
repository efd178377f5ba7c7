//! Holds and corrections.

use lode_domain::{Finding, HoldTarget};
use uuid::Uuid;

use crate::support::*;

const EXTRACTION: Uuid = Uuid::from_u128(0xe0);

/// The world with a second lot whose extraction has a known id.
fn with_extraction() -> Vec<serde_json::Value> {
    plus(world(), [with_id(extract("L-2", 5), EXTRACTION)])
}

pub fn cases() -> Vec<Case> {
    vec![
        // hold.placed
        case("an operator holds a lot").given(world()).when(hold(OP, "lot", ORE, true)).accepts_lots(&[ORE]).check(
            |s, accepted| {
                let hold = s.lot(ORE).and_then(|l| l.hold.as_ref()).expect("held");
                assert_eq!((hold.event, hold.reason.as_str()), (WHEN_ID, "investigation"));
                assert!(matches!(accepted.findings.as_slice(), [Finding::Hold { target: HoldTarget::Lot(_) }]));
            },
        ),
        case("an auditor holds a party")
            .given(world())
            .when(hold(AUDITOR, "party", MINER, true))
            .accepts_lots(&[])
            .check(|s, _| assert!(s.party(MINER).expect("exists").hold.is_some())),
        case("a closed lot can be held")
            .given(plus(world(), [consume(MINER, ORE, ORE_G)]))
            .when(hold(OP, "lot", ORE, true))
            .accepts(),
        case("a miner cannot place holds").given(world()).when(hold(MINER, "lot", ORE, true)).rejects("role_required"),
        case("holding a lot that does not exist")
            .given(world())
            .when(hold(OP, "lot", "GHOST", true))
            .rejects("lot_not_found"),
        case("holding a party that does not exist")
            .given(world())
            .when(hold(OP, "party", "ghost", true))
            .rejects("party_not_found"),
        case("holding a held lot")
            .given(plus(world(), [hold(OP, "lot", ORE, true)]))
            .when(hold(AUDITOR, "lot", ORE, true))
            .rejects("already_on_hold"),
        case("holding a held party")
            .given(plus(world(), [hold(OP, "party", REFINER, true)]))
            .when(hold(AUDITOR, "party", REFINER, true))
            .rejects("already_on_hold"),
        // hold.released
        case("an operator releases a lot")
            .given(plus(world(), [hold(AUDITOR, "lot", ORE, true)]))
            .when(hold(OP, "lot", ORE, false))
            .accepts_lots(&[ORE])
            .check(|s, _| assert!(s.lot(ORE).expect("exists").hold.is_none())),
        case("an auditor releases a party")
            .given(plus(world(), [hold(OP, "party", REFINER, true)]))
            .when(hold(AUDITOR, "party", REFINER, false))
            .accepts_lots(&[])
            .check(|s, _| assert!(s.party(REFINER).expect("exists").hold.is_none())),
        case("a miner cannot release holds")
            .given(plus(world(), [hold(OP, "lot", ORE, true)]))
            .when(hold(MINER, "lot", ORE, false))
            .rejects("role_required"),
        case("releasing a lot that is not held")
            .given(world())
            .when(hold(OP, "lot", ORE, false))
            .rejects("hold_not_found"),
        case("releasing a party that is not held")
            .given(world())
            .when(hold(OP, "party", MINER, false))
            .rejects("hold_not_found"),
        case("releasing a lot that does not exist")
            .given(world())
            .when(hold(OP, "lot", "GHOST", false))
            .rejects("lot_not_found"),
        case("releasing a party that does not exist")
            .given(world())
            .when(hold(OP, "party", "ghost", false))
            .rejects("party_not_found"),
        // event.corrected
        case("the recorder corrects its event")
            .given(with_extraction())
            .when(correct(MINER, EXTRACTION))
            .accepts_lots(&[])
            .check(|s, accepted| {
                assert_eq!(s.event(&EXTRACTION).expect("recorded").corrections, [WHEN_ID]);
                assert!(
                    matches!(accepted.findings.as_slice(), [Finding::Correction { event, .. }] if *event == EXTRACTION)
                );
                assert_eq!(s.lot("L-2").expect("nothing is undone").mass_g, 5);
            }),
        case("an auditor corrects an event").given(with_extraction()).when(correct(AUDITOR, EXTRACTION)).accepts(),
        case("an operator corrects an event").given(with_extraction()).when(correct(OP, EXTRACTION)).accepts(),
        case("a correction can be corrected")
            .given(plus(with_extraction(), [with_id(correct(MINER, EXTRACTION), Uuid::from_u128(0xc0))]))
            .when(correct(MINER, Uuid::from_u128(0xc0)))
            .accepts(),
        case("correcting an event that does not exist")
            .given(with_extraction())
            .when(correct(OP, Uuid::from_u128(0xdead)))
            .rejects("event_not_found"),
        case("correcting another party's event")
            .given(with_extraction())
            .when(correct(REFINER, EXTRACTION))
            .rejects("not_authorized"),
    ]
}

#[test]
fn oversight_table() {
    run(&cases());
}
