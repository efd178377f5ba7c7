//! Inventory by party, site and form, and the ledger-wide mass balance.

use std::collections::BTreeMap;

use lode_domain::{Form, LotStatus};
use lode_projections::view::InventoryFilter;
use proptest::prelude::*;
use serde_json::json;

use crate::book::{generated, Book};
use crate::history::op;
use crate::support::*;

type Row = (String, String, Form, u128, u64, u128, u64);
/// Active grams and lots, in-transit grams and lots, by party, site and form.
type Totals = BTreeMap<(String, String, Form), (u128, u64, u128, u64)>;

fn rows(book: &Book, filter: &InventoryFilter) -> Vec<Row> {
    book.views
        .inventory(filter)
        .into_iter()
        .map(|r| {
            (
                r.party.to_string(),
                r.site.to_string(),
                r.form,
                r.active_g,
                r.active_lots,
                r.in_transit_g,
                r.in_transit_lots,
            )
        })
        .collect()
}

fn row(party: &str, site: &str, form: Form, active: (u128, u64), in_transit: (u128, u64)) -> Row {
    (party.to_string(), site.to_string(), form, active.0, active.1, in_transit.0, in_transit.1)
}

#[test]
fn inventory_follows_custody_site_form_and_status() {
    let all = InventoryFilter::default();
    let mut book = Book::with(world());
    assert_eq!(rows(&book, &all), vec![row(MINER, MINE, Form::Ore, (ORE_G.into(), 1), (0, 0))]);

    book.must(&ship(MINER, "SHP-1", &[ORE], MINE, REFINER, REFINERY));
    assert_eq!(rows(&book, &all), vec![row(MINER, MINE, Form::Ore, (0, 0), (ORE_G.into(), 1))], "the shipper's");

    book.must(&receive(REFINER, "SHP-1", &[(ORE, 990_000)]));
    assert_eq!(rows(&book, &all), vec![row(REFINER, REFINERY, Form::Ore, (990_000, 1), (0, 0))], "empty rows go");

    book.must(&merge(
        transform(REFINER, "separation", REFINERY, &[(ORE, 990_000)], &[("OX", oxide(&["Nd"]), 500_000)]),
        json!({"data": {"loss_g": 490_000}}),
    ));
    book.must(&extract("X-2", 2_000_000));
    book.must(&extract("X-3", 3_000_000));
    assert_eq!(
        rows(&book, &all),
        vec![
            row(MINER, MINE, Form::Ore, (5_000_000, 2), (0, 0)),
            row(REFINER, REFINERY, Form::Oxide, (500_000, 1), (0, 0))
        ],
        "a closed lot does not count"
    );

    let refiner = InventoryFilter { party: Some(REFINER.parse().expect("a party")), ..InventoryFilter::default() };
    assert_eq!(rows(&book, &refiner).len(), 1);
    let ore_at_refinery = InventoryFilter {
        site: Some(REFINERY.parse().expect("a site")),
        form: Some(Form::Ore),
        ..InventoryFilter::default()
    };
    assert_eq!(rows(&book, &ore_at_refinery), vec![]);
    let ore = InventoryFilter { form: Some(Form::Ore), ..InventoryFilter::default() };
    assert_eq!(rows(&book, &ore)[0].0, MINER);

    let balance = book.views.mass_balance(book.state());
    assert_eq!((balance.extracted_g, balance.transit_loss_g, balance.loss_g), (6_000_000, 10_000, 490_000));
    assert_eq!((balance.active_g, balance.in_transit_g), (5_500_000, 0));
    assert!(balance.is_balanced());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Extracted + additions (+ adjustments up and transit gains) = active + in transit + consumed +
    /// losses (+ adjustments down and transit losses), and the inventory is what the lots say.
    #[test]
    fn mass_is_conserved_and_the_inventory_adds_up(ops in prop::collection::vec(op(), 1..60)) {
        let book = generated(&ops);
        let balance = book.views.mass_balance(book.state());
        prop_assert!(balance.is_balanced(), "{:?}", balance);

        let mut expected = Totals::new();
        for (_, lot) in book.state().lots() {
            let entry = expected.entry((lot.custodian.to_string(), lot.site.to_string(), lot.material.form)).or_default();
            match lot.status {
                LotStatus::Active => { entry.0 += u128::from(lot.mass_g); entry.1 += 1; }
                LotStatus::InTransit => { entry.2 += u128::from(lot.mass_g); entry.3 += 1; }
                _ => {}
            }
        }
        expected.retain(|_, v| *v != (0, 0, 0, 0));
        let got: Totals = rows(&book, &InventoryFilter::default())
            .into_iter()
            .map(|(p, s, f, a, al, t, tl)| ((p, s, f), (a, al, t, tl)))
            .collect();
        prop_assert_eq!(got, expected);
    }
}
