//! Custody chains: a lot's own handovers and those its ancestors had before it was made from them.

use serde_json::json;

use crate::book::Book;
use crate::support::*;

/// (shipment, lot) of each handover in a lot's chain.
fn chain(book: &Book, lot: &str) -> Vec<(String, String)> {
    let chain = book.views.custody_chain(book.state(), lot).expect("the lot exists");
    assert!(!chain.truncated);
    chain.handovers.iter().map(|h| (h.shipment.to_string(), h.lot.to_string())).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(s, l)| (s.to_string(), l.to_string())).collect()
}

#[test]
fn a_split_inherits_the_chain_of_its_input_up_to_the_split() {
    let shipped_with_papers = merge(
        ship(MINER, "SHP-1", &[ORE], MINE, REFINER, REFINERY),
        json!({"data": {"carrier": CARRIER, "documents": [{"kind": "certificate_of_origin", "ref": "CO-1"}]}}),
    );
    let book = Book::with(plus(
        world(),
        [
            shipped_with_papers,
            attach(AUDITOR, "shipment", "SHP-1"),
            receive(REFINER, "SHP-1", &[(ORE, 995_000)]),
            transform(REFINER, "split", REFINERY, &[(ORE, 600_000)], &[("P1", ore(), 400_000), ("P2", ore(), 200_000)]),
            ship(REFINER, "SHP-2", &["P1"], REFINERY, MAKER, PLANT),
            receive(MAKER, "SHP-2", &[("P1", 400_000)]),
            // After the split: part of the ore's history, not of its outputs'.
            ship(REFINER, "SHP-3", &[ORE], REFINERY, REFINER, REF_WH),
            ship(REFINER, "SHP-4", &["P2"], REFINERY, MAKER, PLANT),
            reject(MAKER, "SHP-4"),
        ],
    ));
    assert_eq!(chain(&book, "P1"), pairs(&[("SHP-1", ORE), ("SHP-2", "P1")]));
    assert_eq!(chain(&book, "P2"), pairs(&[("SHP-1", ORE), ("SHP-4", "P2")]));
    assert_eq!(chain(&book, ORE), pairs(&[("SHP-1", ORE), ("SHP-3", ORE)]));

    let p1 = book.views.custody_chain(book.state(), "P1").expect("exists");
    let first = &p1.handovers[0];
    assert_eq!(
        (first.shipper.as_str(), first.from_site.as_str(), first.receiver.as_str(), first.to_site.as_str()),
        (MINER, MINE, REFINER, REFINERY)
    );
    assert_eq!(first.carrier.as_ref().map(|c| c.as_str()), Some(CARRIER));
    assert_eq!((first.shipped_g, first.received_g), (ORE_G, Some(995_000)));
    assert_eq!((first.shipped_at.as_str(), first.received_at.as_deref()), (T0, Some(T0)));
    assert!(first.received_event.is_some() && first.rejected.is_none());
    let documents: Vec<(&str, &str)> =
        first.documents.iter().map(|d| (d.kind.as_str(), d.reference.as_str())).collect();
    assert_eq!(documents, vec![("certificate_of_origin", "CO-1"), ("bill_of_lading", "BL-1")]);
    assert_eq!(first.documents[0].event.event, first.shipped_event, "listed when shipping");

    let p2 = book.views.custody_chain(book.state(), "P2").expect("exists");
    let rejected = p2.handovers[1].rejected.as_ref().expect("rejected");
    assert_eq!((rejected.reason.as_str(), rejected.event.actor.as_str()), ("wrong grade", MAKER));
    assert_eq!((p2.handovers[1].received_g, p2.handovers[1].received_at.as_deref()), (None, None));

    let ore = book.views.custody_chain(book.state(), ORE).expect("exists");
    assert_eq!((ore.handovers[1].received_at.as_deref(), ore.handovers[1].shipped_g), (None, 395_000), "in transit");

    let json = serde_json::to_value(&p1).expect("serializes");
    assert_eq!(json["handovers"][0]["documents"][0]["ref"], "CO-1");
    assert!(book.views.custody_chain(book.state(), "NO-SUCH-LOT").is_none());
}

#[test]
fn an_ancestor_reached_along_two_paths_counts_once() {
    let book = Book::with(plus(
        ore_at_refinery(),
        [
            transform(REFINER, "split", REFINERY, &[(ORE, 600_000)], &[("P1", ore(), 400_000), ("P2", ore(), 200_000)]),
            transform(REFINER, "blend", REFINERY, &[("P1", 400_000), ("P2", 200_000)], &[("Q", ore(), 600_000)]),
            ship(REFINER, "SHP-2", &["Q"], REFINERY, MAKER, PLANT),
        ],
    ));
    assert_eq!(chain(&book, "Q"), pairs(&[("SHP-1", ORE), ("SHP-2", "Q")]));
}
