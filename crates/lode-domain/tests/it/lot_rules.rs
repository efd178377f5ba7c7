//! The lot lifecycle: extracted, assayed, transformed, moved, consumed, adjusted.

use lode_domain::{Finding, Form, LotStatus, Stage};
use serde_json::{json, Value};

use crate::support::*;

fn concentrate() -> Value {
    json!({"form": "concentrate"})
}

/// The ore at the refinery, split into two ore lots `A` (600 kg) and `B` (400 kg).
fn split_at_refinery() -> Vec<Value> {
    plus(
        ore_at_refinery(),
        [transform(REFINER, "split", REFINERY, &[(ORE, ORE_G)], &[("A", ore(), 600_000), ("B", ore(), 400_000)])],
    )
}

/// Separation of all the ore into two oxides, with 10% loss.
fn separation() -> Value {
    merge(
        transform(
            REFINER,
            "separation",
            REFINERY,
            &[(ORE, ORE_G)],
            &[("OX-1", oxide(&["Nd", "Pr"]), 600_000), ("OX-2", oxide(&["Ce"]), 300_000)],
        ),
        json!({"data": {"loss_g": 100_000}}),
    )
}

pub fn cases() -> Vec<Case> {
    vec![
        // lot.extracted
        case("a miner extracts at its mine").given(world()).when(extract("L-2", 5000)).accepts_lots(&["L-2"]).check(
            |s, _| {
                let lot = s.lot("L-2").expect("extracted");
                assert_eq!((lot.custodian.as_str(), lot.site.as_str()), (MINER, MINE));
                assert_eq!((lot.mass_g, lot.status, lot.version), (5000, LotStatus::Active, 1));
                assert_eq!(lot.mine.as_ref().map(|m| m.as_str()), Some(MINE));
                let stage = lot.stage.expect("mining stage");
                assert_eq!((stage.stage, stage.country.as_str()), (Stage::Mining, "VN"));
            },
        ),
        case("extraction with a permit and an oxide material")
            .given(world())
            .when(merge(extract("L-2", 5000), json!({"data": {"permit": "VN-MP-7", "material": oxide(&["Nd"])}})))
            .accepts(),
        case("an extracted lot id is used once").given(world()).when(extract(ORE, 1)).rejects("lot_exists"),
        case("extraction at an unregistered site")
            .given(world())
            .when(merge(extract("L-2", 1), json!({"data": {"site": "nowhere"}})))
            .rejects("site_not_found"),
        case("extraction at a site that is not a mine")
            .given(world())
            .when(merge(extract("L-2", 1), json!({"data": {"site": MINE_WH}})))
            .rejects("wrong_site_kind"),
        case("extraction at another party's mine")
            .given(world())
            .when(merge(extract("L-2", 1), json!({"actor": REFINER})))
            .rejects("not_site_operator"),
        // lot.assayed
        case("the custodian records a lab's assay")
            .given(world())
            .when(assay(MINER, ORE, LAB))
            .accepts_lots(&[ORE])
            .check(|s, _| assert_eq!(s.lot(ORE).expect("exists").assays.len(), 1)),
        case("the lab records its own assay").given(world()).when(assay(LAB, ORE, LAB)).accepts(),
        case("a held lot can be assayed")
            .given(plus(world(), [hold(OP, "lot", ORE, true)]))
            .when(assay(MINER, ORE, LAB))
            .accepts(),
        case("a closed lot can be assayed")
            .given(plus(world(), [consume(MINER, ORE, ORE_G)]))
            .when(assay(LAB, ORE, LAB))
            .accepts(),
        case("an assay of a lot that does not exist")
            .given(world())
            .when(assay(MINER, "GHOST", LAB))
            .rejects("lot_not_found"),
        case("an assay by an unregistered lab")
            .given(world())
            .when(assay(MINER, ORE, "ghost-lab"))
            .rejects("party_not_found"),
        case("an assay by a party without the lab role")
            .given(world())
            .when(assay(MINER, ORE, REFINER))
            .rejects("role_required"),
        case("an assay recorded by neither custodian nor lab")
            .given(world())
            .when(assay(REFINER, ORE, LAB))
            .rejects("not_authorized"),
        // lot.transformed
        case("separation of all the ore")
            .given(ore_at_refinery())
            .when(separation())
            .accepts_lots(&["OX-1", "OX-2", ORE])
            .check(|s, _| {
                let ore = s.lot(ORE).expect("input");
                assert_eq!((ore.mass_g, ore.status, ore.version), (0, LotStatus::Closed, 4));
                assert_eq!(
                    ore.children.iter().map(|c| (c.lot.as_str(), c.mass_g)).collect::<Vec<_>>(),
                    [("OX-1", 600_000), ("OX-2", 300_000)]
                );
                let ox = s.lot("OX-1").expect("output");
                assert_eq!((ox.custodian.as_str(), ox.site.as_str(), ox.mass_g), (REFINER, REFINERY, 600_000));
                assert_eq!((ox.status, ox.version, ox.material.form), (LotStatus::Active, 1, Form::Oxide));
                assert_eq!(ox.parents.iter().map(|p| (p.lot.as_str(), p.mass_g)).collect::<Vec<_>>(), [(ORE, ORE_G)]);
                let stage = ox.stage.expect("separation stage");
                assert_eq!((stage.stage, stage.country.as_str()), (Stage::Separation, "VN"));
                assert!(ox.mine.is_none());
                assert_eq!(s.totals().loss_g, 100_000);
            }),
        case("part of a lot is transformed; the rest stays active")
            .given(ore_at_refinery())
            .when(transform(REFINER, "other", REFINERY, &[(ORE, 400_000)], &[("CONC-1", concentrate(), 400_000)]))
            .accepts_lots(&["CONC-1", ORE])
            .check(|s, _| {
                let ore = s.lot(ORE).expect("input");
                assert_eq!((ore.mass_g, ore.status), (600_000, LotStatus::Active));
                assert!(s.lot("CONC-1").expect("output").stage.is_none(), "concentrate is no stage");
            }),
        case("untraced additions balance the outputs")
            .given(ore_at_refinery())
            .when(merge(
                transform(REFINER, "other", REFINERY, &[(ORE, 1000)], &[("MIX-1", ore(), 1040)]),
                json!({"data": {"additions_g": 50, "loss_g": 10}}),
            ))
            .accepts()
            .check(|s, _| assert_eq!((s.totals().additions_g, s.totals().loss_g), (50, 10))),
        case("a split into the input's material")
            .given(ore_at_refinery())
            .when(transform(REFINER, "split", REFINERY, &[(ORE, 1000)], &[("A", ore(), 500), ("B", ore(), 500)]))
            .accepts_lots(&["A", "B", ORE]),
        case("a split compares elements as sets")
            .given(plus(ore_at_refinery(), [separation()]))
            .when(transform(REFINER, "split", REFINERY, &[("OX-1", 1000)], &[("OX-1a", oxide(&["Pr", "Nd"]), 1000)]))
            .accepts()
            .check(|s, _| assert!(s.lot("OX-1a").expect("output").stage.is_none(), "oxide to oxide is no stage")),
        case("a split into another form")
            .given(ore_at_refinery())
            .when(transform(REFINER, "split", REFINERY, &[(ORE, 1000)], &[("A", concentrate(), 1000)]))
            .rejects("split_material_mismatch"),
        case("a split into other elements")
            .given(plus(ore_at_refinery(), [separation()]))
            .when(transform(REFINER, "split", REFINERY, &[("OX-1", 1000)], &[("OX-1a", oxide(&["Nd"]), 1000)]))
            .rejects("split_material_mismatch"),
        case("a split into another grade")
            .given(ore_at_refinery())
            .when(transform(
                REFINER,
                "split",
                REFINERY,
                &[(ORE, 1000)],
                &[("A", json!({"form": "ore", "grade": "high"}), 1000)],
            ))
            .rejects("split_material_mismatch"),
        case("a blend of one form into that form")
            .given(split_at_refinery())
            .when(transform(REFINER, "blend", REFINERY, &[("A", 100), ("B", 100)], &[("AB", ore(), 200)]))
            .accepts_lots(&["A", "AB", "B"]),
        case("a blend of inputs of two forms")
            .given(plus(
                split_at_refinery(),
                [transform(REFINER, "other", REFINERY, &[("B", 1000)], &[("C", concentrate(), 1000)])],
            ))
            .when(transform(REFINER, "blend", REFINERY, &[("A", 100), ("C", 100)], &[("AC", ore(), 200)]))
            .rejects("blend_form_mismatch"),
        case("a blend into another form")
            .given(split_at_refinery())
            .when(transform(REFINER, "blend", REFINERY, &[("A", 100), ("B", 100)], &[("AB", concentrate(), 200)]))
            .rejects("blend_form_mismatch"),
        case("a transformation at an unregistered site")
            .given(ore_at_refinery())
            .when(transform(REFINER, "other", "nowhere", &[(ORE, 1)], &[("X", ore(), 1)]))
            .rejects("site_not_found"),
        case("a transformation of a lot that does not exist")
            .given(ore_at_refinery())
            .when(transform(REFINER, "other", REFINERY, &[("GHOST", 1)], &[("X", ore(), 1)]))
            .rejects("lot_not_found"),
        case("a transformation of a lot in transit")
            .given(ore_in_transit())
            .when(transform(MINER, "other", MINE, &[(ORE, 1)], &[("X", ore(), 1)]))
            .rejects("lot_not_active"),
        case("a transformation of a closed lot")
            .given(plus(ore_at_refinery(), [consume(REFINER, ORE, ORE_G)]))
            .when(transform(REFINER, "other", REFINERY, &[(ORE, 1)], &[("X", ore(), 1)]))
            .rejects("lot_not_active"),
        case("a transformation of another party's lot")
            .given(world())
            .when(transform(REFINER, "other", MINE, &[(ORE, 1)], &[("X", ore(), 1)]))
            .rejects("not_custodian"),
        case("a transformation at another site than the input's")
            .given(ore_at_refinery())
            .when(transform(REFINER, "other", REF_WH, &[(ORE, 1)], &[("X", ore(), 1)]))
            .rejects("lot_not_at_site"),
        case("a transformation of a held lot")
            .given(plus(ore_at_refinery(), [hold(OP, "lot", ORE, true)]))
            .when(transform(REFINER, "other", REFINERY, &[(ORE, 1)], &[("X", ore(), 1)]))
            .rejects("lot_on_hold"),
        case("a transformation that takes more than the lot holds")
            .given(ore_at_refinery())
            .when(transform(REFINER, "other", REFINERY, &[(ORE, ORE_G + 1)], &[("X", ore(), ORE_G + 1)]))
            .rejects("insufficient_mass"),
        case("a transformation into an existing lot id")
            .given(plus(ore_at_refinery(), [extract("VN-ORE-0002", 5)]))
            .when(transform(REFINER, "other", REFINERY, &[(ORE, 1)], &[("VN-ORE-0002", ore(), 1)]))
            .rejects("lot_exists"),
        // lot.moved
        case("a custodian moves a lot to its other site")
            .given(world())
            .when(moved(MINER, ORE, MINE_WH))
            .accepts_lots(&[ORE])
            .check(|s, _| assert_eq!(s.lot(ORE).expect("exists").site.as_str(), MINE_WH)),
        case("moving to the site it is at is an observation")
            .given(world())
            .when(moved(MINER, ORE, MINE))
            .accepts_lots(&[ORE])
            .check(|s, _| assert_eq!(s.lot(ORE).expect("exists").version, 2)),
        case("moving a lot that does not exist")
            .given(world())
            .when(moved(MINER, "GHOST", MINE_WH))
            .rejects("lot_not_found"),
        case("moving a lot in transit")
            .given(ore_in_transit())
            .when(moved(MINER, ORE, MINE_WH))
            .rejects("lot_not_active"),
        case("moving another party's lot").given(world()).when(moved(REFINER, ORE, REF_WH)).rejects("not_custodian"),
        case("moving a held lot")
            .given(plus(world(), [hold(OP, "lot", ORE, true)]))
            .when(moved(MINER, ORE, MINE_WH))
            .rejects("lot_on_hold"),
        case("moving to an unregistered site")
            .given(world())
            .when(moved(MINER, ORE, "nowhere"))
            .rejects("site_not_found"),
        case("moving to another party's site")
            .given(world())
            .when(moved(MINER, ORE, REFINERY))
            .rejects("not_site_operator"),
        // lot.consumed
        case("consuming part of a lot").given(world()).when(consume(MINER, ORE, 1000)).accepts_lots(&[ORE]).check(
            |s, _| {
                let lot = s.lot(ORE).expect("exists");
                assert_eq!((lot.mass_g, lot.status), (ORE_G - 1000, LotStatus::Active));
                assert_eq!(s.totals().consumed_g, 1000);
            },
        ),
        case("consuming all of a lot closes it")
            .given(world())
            .when(merge(consume(MINER, ORE, ORE_G), json!({"data": {"reason": "sample"}})))
            .accepts()
            .check(|s, _| {
                let lot = s.lot(ORE).expect("exists");
                assert_eq!((lot.mass_g, lot.status), (0, LotStatus::Closed));
            }),
        case("consuming a lot that does not exist")
            .given(world())
            .when(consume(MINER, "GHOST", 1))
            .rejects("lot_not_found"),
        case("consuming a closed lot")
            .given(plus(world(), [consume(MINER, ORE, ORE_G)]))
            .when(consume(MINER, ORE, 1))
            .rejects("lot_not_active"),
        case("consuming another party's lot").given(world()).when(consume(REFINER, ORE, 1)).rejects("not_custodian"),
        case("consuming a held lot")
            .given(plus(world(), [hold(OP, "lot", ORE, true)]))
            .when(consume(MINER, ORE, 1))
            .rejects("lot_on_hold"),
        case("consuming more than the lot holds")
            .given(world())
            .when(consume(MINER, ORE, ORE_G + 1))
            .rejects("insufficient_mass"),
        // lot.adjusted
        case("adjusting up").given(world()).when(adjust(MINER, ORE, 250)).accepts_lots(&[ORE]).check(|s, accepted| {
            assert_eq!(s.lot(ORE).expect("exists").mass_g, ORE_G + 250);
            assert!(matches!(accepted.findings.as_slice(), [Finding::Adjustment { delta_g: 250, .. }]));
        }),
        case("adjusting down")
            .given(world())
            .when(adjust(MINER, ORE, -250))
            .accepts()
            .check(|s, _| assert_eq!(s.lot(ORE).expect("exists").mass_g, ORE_G - 250)),
        case("adjusting to 0 closes the lot")
            .given(world())
            .when(adjust(MINER, ORE, -(ORE_G as i64)))
            .accepts()
            .check(|s, _| assert_eq!(s.lot(ORE).expect("exists").status, LotStatus::Closed)),
        case("adjusting up to 10^12 exactly")
            .given(world())
            .when(adjust(MINER, ORE, 1_000_000_000_000 - ORE_G as i64))
            .accepts(),
        case("a held lot can be adjusted")
            .given(plus(world(), [hold(OP, "lot", ORE, true)]))
            .when(adjust(MINER, ORE, 1))
            .accepts(),
        case("adjusting a lot that does not exist")
            .given(world())
            .when(adjust(MINER, "GHOST", 1))
            .rejects("lot_not_found"),
        case("adjusting a lot in transit")
            .given(ore_in_transit())
            .when(adjust(MINER, ORE, 1))
            .rejects("lot_not_active"),
        case("adjusting another party's lot").given(world()).when(adjust(REFINER, ORE, 1)).rejects("not_custodian"),
        case("adjusting below 0")
            .given(world())
            .when(adjust(MINER, ORE, -(ORE_G as i64) - 1))
            .rejects("adjustment_out_of_range"),
        case("adjusting above 10^12")
            .given(world())
            .when(adjust(MINER, ORE, 1_000_000_000_000 - ORE_G as i64 + 1))
            .rejects("adjustment_out_of_range"),
    ]
}

#[test]
fn lot_table() {
    run(&cases());
}
