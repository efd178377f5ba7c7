//! Custody: shipped, received, rejected; and documents.

use lode_domain::{DocumentKind, Finding, LotStatus, ShippedLotStatus};
use serde_json::{json, Value};

use crate::support::*;

/// The world with a second lot `L-2` at the mine.
fn two_lots() -> Vec<Value> {
    plus(world(), [extract("L-2", 2000)])
}

/// Both lots shipped to the refinery on `SHP-2`.
fn two_in_transit() -> Vec<Value> {
    plus(two_lots(), [ship(MINER, "SHP-2", &[ORE, "L-2"], MINE, REFINER, REFINERY)])
}

fn ship_ore() -> Value {
    ship(MINER, "SHP-1", &[ORE], MINE, REFINER, REFINERY)
}

pub fn cases() -> Vec<Case> {
    vec![
        // custody.shipped
        case("a custodian ships lots")
            .given(two_lots())
            .when(ship(MINER, "SHP-2", &["L-2", ORE], MINE, REFINER, REFINERY))
            .accepts_lots(&["L-2", ORE])
            .check(|s, _| {
                let lot = s.lot(ORE).expect("exists");
                assert_eq!(lot.status, LotStatus::InTransit);
                assert_eq!(lot.shipment.as_ref().map(|x| x.as_str()), Some("SHP-2"));
                assert_eq!((lot.custodian.as_str(), lot.site.as_str()), (MINER, MINE), "custody has not passed");
                let shipment = s.shipment("SHP-2").expect("recorded");
                assert_eq!((shipment.shipper.as_str(), shipment.to_party.as_str()), (MINER, REFINER));
                assert_eq!(shipment.lots_in_transit().count(), 2);
                assert_eq!(shipment.lots.get(ORE).map(|l| l.shipped_g), Some(ORE_G));
            }),
        case("a shipment with a carrier and documents")
            .given(world())
            .when(merge(
                ship_ore(),
                json!({"data": {"carrier": CARRIER, "documents": [
                    {"kind": "bill_of_lading", "ref": "BL-9", "digest": "ab".repeat(32)},
                    {"kind": "certificate_of_origin", "ref": "CO-9"}
                ]}}),
            ))
            .accepts()
            .check(|s, _| {
                let kinds = &s.shipment("SHP-1").expect("recorded").document_kinds;
                assert!(
                    kinds.contains(&DocumentKind::BillOfLading) && kinds.contains(&DocumentKind::CertificateOfOrigin)
                );
            }),
        case("a party ships to its own other site")
            .given(world())
            .when(ship(MINER, "SHP-1", &[ORE], MINE, MINER, MINE_WH))
            .accepts(),
        case("a shipment id is used once")
            .given(plus(ore_in_transit(), [extract("L-2", 5)]))
            .when(ship(MINER, "SHP-1", &["L-2"], MINE, REFINER, REFINERY))
            .rejects("shipment_exists"),
        case("shipping from an unregistered site")
            .given(world())
            .when(ship(MINER, "SHP-1", &[ORE], "nowhere", REFINER, REFINERY))
            .rejects("site_not_found"),
        case("shipping to an unregistered site")
            .given(world())
            .when(ship(MINER, "SHP-1", &[ORE], MINE, REFINER, "nowhere"))
            .rejects("site_not_found"),
        case("shipping to an unregistered party")
            .given(world())
            .when(ship(MINER, "SHP-1", &[ORE], MINE, "ghost", REFINERY))
            .rejects("party_not_found"),
        case("shipping to a site of another party than the receiver")
            .given(world())
            .when(ship(MINER, "SHP-1", &[ORE], MINE, REFINER, PLANT))
            .rejects("site_party_mismatch"),
        case("shipping with an unregistered carrier")
            .given(world())
            .when(merge(ship_ore(), json!({"data": {"carrier": "ghost"}})))
            .rejects("party_not_found"),
        case("shipping with a carrier that is not a carrier")
            .given(world())
            .when(merge(ship_ore(), json!({"data": {"carrier": LAB}})))
            .rejects("role_required"),
        case("shipping a lot that does not exist")
            .given(world())
            .when(ship(MINER, "SHP-1", &[ORE, "GHOST"], MINE, REFINER, REFINERY))
            .rejects("lot_not_found"),
        case("shipping a lot already in transit")
            .given(ore_in_transit())
            .when(ship(MINER, "SHP-2", &[ORE], MINE, REFINER, REFINERY))
            .rejects("lot_not_active"),
        case("shipping a closed lot")
            .given(plus(world(), [consume(MINER, ORE, ORE_G)]))
            .when(ship_ore())
            .rejects("lot_not_active"),
        case("shipping another party's lot")
            .given(world())
            .when(ship(REFINER, "SHP-1", &[ORE], MINE, MAKER, PLANT))
            .rejects("not_custodian"),
        case("shipping from another site than the lot's")
            .given(world())
            .when(ship(MINER, "SHP-1", &[ORE], MINE_WH, REFINER, REFINERY))
            .rejects("lot_not_at_site"),
        case("shipping a held lot")
            .given(plus(world(), [hold(AUDITOR, "lot", ORE, true)]))
            .when(ship_ore())
            .rejects("lot_on_hold"),
        case("a released lot ships again")
            .given(plus(world(), [hold(AUDITOR, "lot", ORE, true), hold(OP, "lot", ORE, false)]))
            .when(ship_ore())
            .accepts(),
        // custody.received
        case("the receiver takes custody at the weighed mass")
            .given(ore_in_transit())
            .when(receive(REFINER, "SHP-1", &[(ORE, 999_000)]))
            .accepts_lots(&[ORE])
            .check(|s, accepted| {
                let lot = s.lot(ORE).expect("exists");
                assert_eq!((lot.custodian.as_str(), lot.site.as_str()), (REFINER, REFINERY));
                assert_eq!((lot.mass_g, lot.status, lot.shipment.clone()), (999_000, LotStatus::Active, None));
                let shipped = s.shipment("SHP-1").and_then(|x| x.lots.get(ORE)).expect("on the shipment");
                assert_eq!((shipped.shipped_g, shipped.received_g), (ORE_G, Some(999_000)));
                assert_eq!((shipped.status, shipped.transit_difference_g()), (ShippedLotStatus::Received, -1000));
                assert_eq!(s.totals().transit_loss_g, 1000);
                assert!(accepted.findings.is_empty(), "0.1% is no finding");
            }),
        case("a transit difference of exactly 0.5% is no finding")
            .given(ore_in_transit())
            .when(receive(REFINER, "SHP-1", &[(ORE, 995_000)]))
            .accepts()
            .check(|_, accepted| assert!(accepted.findings.is_empty())),
        case("a transit loss over 0.5% is a finding")
            .given(ore_in_transit())
            .when(receive(REFINER, "SHP-1", &[(ORE, 994_999)]))
            .accepts()
            .check(|_, accepted| {
                assert!(matches!(
                    accepted.findings.as_slice(),
                    [Finding::TransitDifference { shipped_g: 1_000_000, received_g: 994_999, .. }]
                ));
            }),
        case("a transit gain over 0.5% is a finding")
            .given(ore_in_transit())
            .when(receive(REFINER, "SHP-1", &[(ORE, 1_005_001)]))
            .accepts()
            .check(|s, accepted| {
                assert_eq!(accepted.findings.len(), 1);
                assert_eq!(s.totals().transit_gain_g, 5001);
            }),
        case("a partial receipt leaves the other lots in transit")
            .given(two_in_transit())
            .when(receive(REFINER, "SHP-2", &[("L-2", 2000)]))
            .accepts_lots(&["L-2"])
            .check(|s, _| {
                assert_eq!(s.lot(ORE).expect("exists").status, LotStatus::InTransit);
                assert_eq!(s.lot("L-2").expect("exists").custodian.as_str(), REFINER);
            }),
        case("the rest of a shipment is received later")
            .given(plus(two_in_transit(), [receive(REFINER, "SHP-2", &[("L-2", 2000)])]))
            .when(receive(REFINER, "SHP-2", &[(ORE, ORE_G)]))
            .accepts_lots(&[ORE]),
        case("a lot held in transit can be received")
            .given(plus(ore_in_transit(), [hold(OP, "lot", ORE, true)]))
            .when(receive(REFINER, "SHP-1", &[(ORE, ORE_G)]))
            .accepts(),
        case("receiving a shipment that does not exist")
            .given(ore_in_transit())
            .when(receive(REFINER, "SHP-9", &[(ORE, ORE_G)]))
            .rejects("shipment_not_found"),
        case("receiving a shipment meant for another party")
            .given(ore_in_transit())
            .when(receive(MAKER, "SHP-1", &[(ORE, ORE_G)]))
            .rejects("not_receiver"),
        case("the shipper cannot receive its own shipment")
            .given(ore_in_transit())
            .when(receive(MINER, "SHP-1", &[(ORE, ORE_G)]))
            .rejects("not_receiver"),
        case("receiving a lot that is not on the shipment")
            .given(plus(ore_in_transit(), [extract("L-2", 5)]))
            .when(receive(REFINER, "SHP-1", &[(ORE, ORE_G), ("L-2", 5)]))
            .rejects("lot_not_in_transit"),
        case("receiving a lot twice")
            .given(ore_at_refinery())
            .when(receive(REFINER, "SHP-1", &[(ORE, ORE_G)]))
            .rejects("lot_not_in_transit"),
        case("receiving a returned lot")
            .given(plus(ore_in_transit(), [reject(REFINER, "SHP-1")]))
            .when(receive(REFINER, "SHP-1", &[(ORE, ORE_G)]))
            .rejects("lot_not_in_transit"),
        // custody.rejected
        case("the receiver rejects a shipment")
            .given(ore_in_transit())
            .when(reject(REFINER, "SHP-1"))
            .accepts_lots(&[ORE])
            .check(|s, _| {
                let lot = s.lot(ORE).expect("exists");
                assert_eq!((lot.custodian.as_str(), lot.site.as_str()), (MINER, MINE));
                assert_eq!((lot.status, lot.shipment.clone(), lot.mass_g), (LotStatus::Active, None, ORE_G));
                let shipped = s.shipment("SHP-1").and_then(|x| x.lots.get(ORE)).expect("on the shipment");
                assert_eq!(shipped.status, ShippedLotStatus::Returned);
            }),
        case("a rejection after a partial receipt returns the rest")
            .given(plus(two_in_transit(), [receive(REFINER, "SHP-2", &[("L-2", 2000)])]))
            .when(reject(REFINER, "SHP-2"))
            .accepts_lots(&[ORE])
            .check(|s, _| assert_eq!(s.lot("L-2").expect("exists").custodian.as_str(), REFINER)),
        case("returned lots can be shipped again")
            .given(plus(ore_in_transit(), [reject(REFINER, "SHP-1")]))
            .when(ship(MINER, "SHP-2", &[ORE], MINE, MAKER, PLANT))
            .accepts(),
        case("rejecting a shipment that does not exist")
            .given(ore_in_transit())
            .when(reject(REFINER, "SHP-9"))
            .rejects("shipment_not_found"),
        case("rejecting a shipment meant for another party")
            .given(ore_in_transit())
            .when(reject(MINER, "SHP-1"))
            .rejects("not_receiver"),
        case("rejecting a shipment already received")
            .given(ore_at_refinery())
            .when(reject(REFINER, "SHP-1"))
            .rejects("nothing_in_transit"),
        case("rejecting a shipment twice")
            .given(plus(ore_in_transit(), [reject(REFINER, "SHP-1")]))
            .when(reject(REFINER, "SHP-1"))
            .rejects("nothing_in_transit"),
        // document.attached
        case("the custodian documents a lot")
            .given(world())
            .when(merge(
                attach(MINER, "lot", ORE),
                json!({"data": {"digest": "0f".repeat(32), "issuer": "VN customs"}}),
            ))
            .accepts_lots(&[ORE])
            .check(|s, _| assert_eq!(s.lot(ORE).expect("exists").documents.len(), 1)),
        case("an auditor documents a lot").given(world()).when(attach(AUDITOR, "lot", ORE)).accepts(),
        case("an operator documents a lot").given(world()).when(attach(OP, "lot", ORE)).accepts(),
        case("a closed lot can be documented")
            .given(plus(world(), [consume(MINER, ORE, ORE_G)]))
            .when(attach(MINER, "lot", ORE))
            .accepts(),
        case("the shipper documents a shipment")
            .given(ore_in_transit())
            .when(merge(attach(MINER, "shipment", "SHP-1"), json!({"data": {"kind": "certificate_of_origin"}})))
            .accepts_lots(&[])
            .check(|s, _| {
                let kinds = &s.shipment("SHP-1").expect("exists").document_kinds;
                assert!(kinds.contains(&DocumentKind::CertificateOfOrigin));
            }),
        case("the receiver documents a shipment")
            .given(ore_in_transit())
            .when(attach(REFINER, "shipment", "SHP-1"))
            .accepts(),
        case("an auditor documents a shipment")
            .given(ore_at_refinery())
            .when(attach(AUDITOR, "shipment", "SHP-1"))
            .accepts(),
        case("documenting a lot that does not exist")
            .given(world())
            .when(attach(MINER, "lot", "GHOST"))
            .rejects("lot_not_found"),
        case("documenting a shipment that does not exist")
            .given(world())
            .when(attach(MINER, "shipment", "SHP-9"))
            .rejects("shipment_not_found"),
        case("documenting another party's lot")
            .given(world())
            .when(attach(REFINER, "lot", ORE))
            .rejects("not_authorized"),
        case("documenting a shipment of others")
            .given(ore_in_transit())
            .when(attach(LAB, "shipment", "SHP-1"))
            .rejects("not_authorized"),
    ]
}

#[test]
fn custody_table() {
    run(&cases());
}
