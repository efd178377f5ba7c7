//! Custody chains: every handover of a lot and of its ancestors, in order, completed with positions,
//! countries, statuses and transit differences.

use lode_domain::ShippedLotStatus;
use lode_query::QueryError;

use crate::support::*;

#[test]
fn a_magnet_s_custody_chain_lists_its_ancestors_handovers_in_order() {
    let mut events = story(Tweaks { short_receipt: true, ..Tweaks::default() });
    events.push(ship(MAKER, &day(20), "SHP-3", &[MAGNET], (MAGNET_PLANT, REFINER, REFINERY), &["bill_of_lading"]));
    let f = Fixture::with(&events);
    let custody = f.ledger.read(|s, v| lode_query::custody(s, v, MAGNET)).unwrap();
    assert!(!custody.truncated);
    let summary: Vec<(&str, &str, ShippedLotStatus)> =
        custody.handovers.iter().map(|h| (h.shipment.as_str(), h.lot.as_str(), h.status)).collect();
    assert_eq!(
        summary,
        vec![
            ("SHP-1", ORE, ShippedLotStatus::Received),
            ("SHP-2", OXIDE, ShippedLotStatus::Received),
            ("SHP-3", MAGNET, ShippedLotStatus::InTransit),
        ]
    );
    let first = &custody.handovers[0];
    assert_eq!(
        (first.shipper.as_str(), first.from_site.as_str(), first.receiver.as_str(), first.to_site.as_str()),
        (MINER, MINE, REFINER, REFINERY)
    );
    assert_eq!(first.carrier.as_ref().map(|c| c.as_str()), Some(CARRIER));
    assert_eq!(
        (first.from_country.map(|c| c.as_str()), first.to_country.map(|c| c.as_str())),
        (Some("VN"), Some("VN"))
    );
    assert_eq!(
        (first.shipped_g, first.received_g, first.difference_g),
        (ORE_G, Some(ORE_G - 2_000_000), Some(-2_000_000))
    );
    assert_eq!(first.shipped.occurred_at, day(3));
    let received = first.received.as_ref().unwrap();
    assert_eq!((received.occurred_at.as_str(), received.actor.as_str()), (day(5).as_str(), REFINER));
    assert_eq!(f.event_at(first.shipped.seq), first.shipped.event);
    assert_eq!(f.event_at(received.seq), received.event);
    let documents: Vec<(&str, &str)> =
        first.documents.iter().map(|d| (d.kind.as_str(), d.reference.as_str())).collect();
    assert_eq!(
        documents,
        vec![("bill_of_lading", "SHP-1-bill_of_lading"), ("certificate_of_origin", "SHP-1-certificate_of_origin")]
    );
    let last = &custody.handovers[2];
    assert_eq!((last.received.is_none(), last.received_g, last.difference_g), (true, None, None));
    let seqs: Vec<u64> = custody.handovers.iter().map(|h| h.shipped.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));

    let json = serde_json::to_value(&custody).unwrap();
    assert_eq!(json["handovers"][0]["shipped"]["seq"], first.shipped.seq);
    assert_eq!(json["handovers"][0]["status"], "received");
    assert_eq!(json["handovers"][2]["status"], "in_transit");
    assert!(json["handovers"][2].get("received").is_none());

    // The oxide's chain stops where the oxide was made into metal: the magnet's shipment is not in it.
    let oxide = f.ledger.read(|s, v| lode_query::custody(s, v, OXIDE)).unwrap();
    assert_eq!(oxide.handovers.len(), 2);
    assert_eq!(
        f.ledger.read(|s, v| lode_query::custody(s, v, "NOPE")),
        Err(QueryError::LotNotFound { lot: "NOPE".into() })
    );
}
