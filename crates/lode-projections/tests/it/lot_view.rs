//! The lot view and the lineage graph.

use lode_domain::{LotStatus, Process};
use serde_json::json;
use uuid::Uuid;

use crate::book::Book;
use crate::support::*;

#[test]
fn a_lot_view_has_its_whole_history() {
    let assay_id = Uuid::from_u128(0xa55a);
    let shipment_doc = Uuid::from_u128(0xd0c);
    let book = Book::with(plus(
        world(),
        [
            with_id(assay(LAB, ORE, LAB), assay_id),
            merge(attach(MINER, "lot", ORE), json!({"data": {"digest": "ab".repeat(32), "issuer": "Mine authority"}})),
            hold(OP, "lot", ORE, true),
            hold(OP, "lot", ORE, false),
            ship(MINER, "SHP-1", &[ORE], MINE, REFINER, REFINERY),
            with_id(attach(MINER, "shipment", "SHP-1"), shipment_doc),
            // A lot in transit can be put on hold.
            hold(OP, "lot", ORE, true),
            correct(AUDITOR, assay_id),
            // A correction of an event that did not touch the lot is not shown with it.
            correct(AUDITOR, shipment_doc),
        ],
    ));
    let view = book.lot(ORE);
    assert_eq!((view.custodian.as_str(), view.site.as_str(), view.status), (MINER, MINE, LotStatus::InTransit));
    assert_eq!((view.mass_g, view.version), (ORE_G, 7));
    assert_eq!(view.shipment.as_ref().map(|s| s.as_str()), Some("SHP-1"));
    assert_eq!((view.created.process, view.created.site.as_str()), (None, MINE));
    assert_eq!(view.created.event.event, book.state().lot(ORE).expect("exists").created_by);

    assert_eq!(view.assays.len(), 1);
    let assay = &view.assays[0];
    assert_eq!((assay.lab.as_str(), assay.certificate.as_str(), assay.event.event), (LAB, "COA-1", assay_id));
    assert_eq!(assay.oxides_ppm.get("Nd2O3"), Some(&745_000));

    assert_eq!(view.documents.len(), 1);
    let document = &view.documents[0];
    assert_eq!((document.kind.as_str(), document.reference.as_str()), ("bill_of_lading", "BL-1"));
    assert_eq!((document.digest.clone(), document.issuer.as_deref()), (Some("ab".repeat(32)), Some("Mine authority")));

    assert_eq!(view.holds.len(), 2);
    assert!(view.holds[0].released.is_some());
    assert_eq!(view.hold.as_ref(), Some(&view.holds[1]));

    assert_eq!(view.corrections.len(), 1);
    assert_eq!((view.corrections[0].corrects, view.corrections[0].event.actor.as_str()), (assay_id, AUDITOR));

    assert_eq!(view.origin.mines.len(), 1);
    assert_eq!((view.origin.mines[0].mine.as_str(), view.origin.mines[0].ppm), (MINE, 1_000_000));
    assert_eq!(view.origin.mines[0].country.map(|c| c.as_str()), Some("VN"));

    let json = serde_json::to_value(&view).expect("serializes");
    assert_eq!(json["material"], json!({"form": "ore"}));
    assert_eq!(json["documents"][0]["ref"], "BL-1");
    assert_eq!(json["status"], "in_transit");
    assert!(book.views.lot(book.state(), "NO-SUCH-LOT").is_none());
}

#[test]
fn parents_children_and_the_lineage_graph() {
    let book = Book::with(plus(
        ore_at_refinery(),
        [
            transform(REFINER, "split", REFINERY, &[(ORE, 600_000)], &[("P1", ore(), 400_000), ("P2", ore(), 200_000)]),
            merge(
                transform(REFINER, "separation", REFINERY, &[("P1", 400_000)], &[("OX", oxide(&["Nd"]), 100_000)]),
                json!({"data": {"loss_g": 300_000}}),
            ),
        ],
    ));
    let ore_view = book.lot(ORE);
    let children: Vec<(&str, u64, Option<Process>)> =
        ore_view.children.iter().map(|c| (c.lot.as_str(), c.mass_g, c.process)).collect();
    assert_eq!(children, vec![("P1", 400_000, Some(Process::Split)), ("P2", 200_000, Some(Process::Split))]);
    let p1 = book.lot("P1");
    let parents: Vec<(&str, u64, Option<Process>)> =
        p1.parents.iter().map(|c| (c.lot.as_str(), c.mass_g, c.process)).collect();
    assert_eq!(parents, vec![(ORE, 600_000, Some(Process::Split))]);
    assert_eq!(p1.children[0].process, Some(Process::Separation));

    let lineage = book.views.lineage(book.state(), "P1").expect("exists");
    let lots: Vec<&str> = lineage.lots.iter().map(|l| l.lot.as_str()).collect();
    assert_eq!(lots, vec!["OX", "P1", ORE], "ancestors and descendants, not the sibling");
    let edges: Vec<(&str, &str, u64, u64, Option<Process>)> =
        lineage.edges.iter().map(|e| (e.parent.as_str(), e.child.as_str(), e.input_g, e.output_g, e.process)).collect();
    assert_eq!(
        edges,
        vec![
            (ORE, "P1", 600_000, 400_000, Some(Process::Split)),
            ("P1", "OX", 400_000, 100_000, Some(Process::Separation))
        ]
    );
    assert_eq!((lineage.edges[0].site.as_str(), lineage.edges[0].occurred_at.as_str()), (REFINERY, T0));
    assert!(!lineage.truncated);

    let whole = book.views.lineage(book.state(), ORE).expect("exists");
    assert_eq!(whole.lots.len(), 4);
    assert_eq!(whole.edges.len(), 3);
}
