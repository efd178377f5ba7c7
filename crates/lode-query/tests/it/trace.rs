//! Traces back to the mines and forward to everything made from a lot.

use std::collections::{BTreeMap, BTreeSet};

use lode_domain::{Form, LotStatus, Process, Stage};
use lode_query::{Limits, QueryError, TraceBack};

use crate::support::*;

fn stage_countries(trace: &TraceBack) -> Vec<(Stage, Vec<String>)> {
    trace.stages.iter().map(|s| (s.stage, s.countries.iter().map(|c| c.to_string()).collect())).collect()
}

#[test]
fn a_magnet_is_traced_back_to_its_mine_through_every_transformation() {
    let f = Fixture::with(&story(Tweaks::default()));
    let trace = f.trace_back(MAGNET);
    let lots: Vec<(&str, u32, Form)> = trace.lots.iter().map(|l| (l.lot.as_str(), l.generation, l.form)).collect();
    assert_eq!(
        lots,
        vec![
            (MAGNET, 0, Form::Magnet),
            (ALLOY, 1, Form::Alloy),
            (METAL, 2, Form::Metal),
            (OXIDE, 3, Form::Oxide),
            (ORE, 4, Form::Ore)
        ]
    );
    assert_eq!((trace.generations, trace.truncated), (4, false));
    let edges: Vec<(&str, &str, Option<Process>, &str, &str)> = trace
        .edges
        .iter()
        .map(|e| (e.parent.as_str(), e.child.as_str(), e.process, e.site.as_str(), e.occurred_at.as_str()))
        .collect();
    let (d6, d15, d16, d18) = (day(6), day(15), day(16), day(18));
    assert_eq!(
        edges,
        vec![
            (ORE, OXIDE, Some(Process::Separation), REFINERY, d6.as_str()),
            (OXIDE, METAL, Some(Process::Reduction), METAL_PLANT, d15.as_str()),
            (METAL, ALLOY, Some(Process::Alloying), METAL_PLANT, d16.as_str()),
            (ALLOY, MAGNET, Some(Process::MagnetMaking), MAGNET_PLANT, d18.as_str()),
        ]
    );
    let separation = &trace.edges[0];
    assert_eq!(
        (separation.input_g, separation.output_g),
        (90_000_000, OXIDE_G),
        "what the ore gave, what the oxide weighed"
    );
    assert_eq!(separation.country.map(|c| c.to_string()).as_deref(), Some("VN"));
    assert!(trace.edges.windows(2).all(|w| w[0].seq < w[1].seq));

    let ore = trace.lots.iter().find(|l| l.lot.as_str() == ORE).unwrap();
    assert_eq!(ore.mine.as_ref().map(|m| m.as_str()), Some(MINE));
    assert_eq!(
        (ore.made.process, ore.made.site.as_str(), ore.made.occurred_at.as_str()),
        (None, MINE, day(2).as_str())
    );
    assert_eq!(ore.mass_g, ORE_G - 90_000_000, "what it holds now");

    assert_eq!(trace.origin.len(), 1);
    assert_eq!((trace.origin[0].mine.as_str(), trace.origin[0].ppm), (MINE, 1_000_000));
    assert_eq!(trace.origin[0].lots.iter().map(|l| l.as_str()).collect::<Vec<_>>(), vec![ORE]);
    assert_eq!(
        trace.countries.iter().map(|c| (c.country.to_string(), c.ppm)).collect::<Vec<_>>(),
        vec![("VN".to_string(), 1_000_000)]
    );
    let vn = vec!["VN".to_string()];
    let jp = vec!["JP".to_string()];
    assert_eq!(
        stage_countries(&trace),
        vec![(Stage::Mining, vn.clone()), (Stage::Separation, vn), (Stage::Metal, jp.clone()), (Stage::Magnet, jp)]
    );

    // A mine lot is its own trace.
    let ore = f.trace_back(ORE);
    assert_eq!((ore.lots.len(), ore.edges.len(), ore.generations), (1, 0, 0));
    assert_eq!(stage_countries(&ore)[1], (Stage::Separation, vec![]));
}

#[test]
fn a_mine_lot_is_traced_forward_to_every_lot_made_from_it_and_where_it_is() {
    let mut events = story(Tweaks::default());
    events.push(ship(MAKER, &day(20), "SHP-3", &[MAGNET], (MAGNET_PLANT, REFINER, REFINERY), &["bill_of_lading"]));
    let f = Fixture::with(&events);
    let trace = f.trace_forward(ORE);
    let lots: BTreeMap<&str, (u32, LotStatus, &str, &str)> = trace
        .lots
        .iter()
        .map(|l| (l.lot.as_str(), (l.generation, l.status, l.custodian.as_str(), l.site.as_str())))
        .collect();
    assert_eq!(
        lots,
        BTreeMap::from([
            (ORE, (0, LotStatus::Active, REFINER, REFINERY)),
            (OXIDE, (1, LotStatus::Closed, MAKER, METAL_PLANT)),
            (RES, (1, LotStatus::Active, REFINER, REFINERY)),
            (METAL, (2, LotStatus::Closed, MAKER, METAL_PLANT)),
            (ALLOY, (3, LotStatus::Closed, MAKER, MAGNET_PLANT)),
            (MAGNET, (4, LotStatus::InTransit, MAKER, MAGNET_PLANT)),
        ])
    );
    assert_eq!(trace.lots[0].lot.as_str(), ORE);
    let magnet = trace.lots.iter().find(|l| l.lot.as_str() == MAGNET).unwrap();
    assert_eq!(magnet.shipment.as_ref().map(|s| s.as_str()), Some("SHP-3"));
    assert_eq!(magnet.in_transit_to.as_ref().map(|p| p.as_str()), Some(REFINER));
    assert_eq!(trace.edges.len(), 5, "separation into two lots, reduction, alloying, magnet making");
    assert_eq!((trace.generations, trace.truncated), (4, false));
}

#[test]
fn a_trace_stops_at_its_limit_and_says_so() {
    let f = Fixture::with(&story(Tweaks::default()));
    let limits = Limits { trace_lots_max: 3, ..Limits::default() };
    let back = f.ledger.read(|s, v| lode_query::trace_back(s, v, MAGNET, &limits)).unwrap();
    assert_eq!((back.lots.len(), back.truncated, back.lots_max), (3, true, 3));
    assert!(back.edges.iter().all(|e| back.lots.iter().any(|l| l.lot == e.parent)), "no edge to a lot left out");
    let forward = f.ledger.read(|s, v| lode_query::trace_forward(s, v, ORE, &limits)).unwrap();
    assert_eq!((forward.lots.len(), forward.truncated), (3, true));
    let whole =
        f.ledger.read(|s, v| lode_query::trace_back(s, v, MAGNET, &Limits { trace_lots_max: 5, ..Limits::default() }));
    assert!(!whole.unwrap().truncated, "exactly the lots there are");
}

#[test]
fn an_unknown_lot_is_not_found() {
    let f = Fixture::with(&story(Tweaks::default()));
    let limits = Limits::default();
    let not_found = Err(QueryError::LotNotFound { lot: "NOPE".into() });
    assert_eq!(f.ledger.read(|s, v| lode_query::trace_back(s, v, "NOPE", &limits)), not_found);
    let not_found = Err(QueryError::LotNotFound { lot: "NOPE".into() });
    assert_eq!(f.ledger.read(|s, v| lode_query::trace_forward(s, v, "NOPE", &limits)), not_found);
}

/// The countries of the makers, by the prefix of their lots in the generated history.
fn maker_country(lot: &str) -> &'static str {
    match &lot[..3] {
        "KR-" => "KR",
        "JP-" => "JP",
        "DE-" => "DE",
        "US-" => "US",
        other => panic!("not a maker's lot: {other}"),
    }
}

#[test]
fn generated_magnets_trace_back_to_their_mines_and_mines_forward_to_the_magnets() {
    let f = Fixture::new();
    for chunk in scenario(40, 7).chunks(500) {
        f.append_lines(chunk);
    }
    let magnets: Vec<String> = f
        .ledger
        .read(|s, _| s.lots().filter(|(_, l)| l.material.form == Form::Magnet).map(|(id, _)| id.to_string()).collect());
    assert!(magnets.len() >= 20, "{} magnet lots", magnets.len());
    let mut reached_from_mines: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for magnet in &magnets {
        let trace = f.trace_back(magnet);
        assert!(!trace.truncated);
        let total: u32 = trace.origin.iter().map(|m| m.ppm).sum();
        assert_eq!(total, 1_000_000, "{magnet}");
        assert_eq!(trace.countries.iter().map(|c| c.ppm).sum::<u32>(), 1_000_000, "{magnet}");
        assert!(trace.generations >= 5, "{magnet}: {} generations", trace.generations);
        // Every lot without parents is a mine lot, and the mines of the origin are theirs.
        let parents: BTreeSet<&str> = trace.edges.iter().map(|e| e.child.as_str()).collect();
        let roots: Vec<_> = trace.lots.iter().filter(|l| !parents.contains(l.lot.as_str())).collect();
        assert!(roots.iter().all(|l| l.mine.is_some() && l.form == Form::Ore), "{magnet}");
        let root_mines: BTreeSet<&str> = roots.iter().map(|l| l.mine.as_ref().unwrap().as_str()).collect();
        let origin_mines: BTreeSet<&str> = trace.origin.iter().map(|m| m.mine.as_str()).collect();
        assert_eq!(origin_mines, root_mines, "{magnet}");
        for root in &roots {
            reached_from_mines.entry(root.lot.to_string()).or_default().insert(magnet.clone());
        }
        // Vietnamese ore always; Chinese ore and separation when blended with Chinese oxide; the
        // metal and the magnets at the maker.
        let chinese = trace.lots.iter().any(|l| l.lot.as_str().starts_with("CN-"));
        let mut mined = vec!["VN".to_string()];
        if chinese {
            mined.insert(0, "CN".to_string());
        }
        let maker = vec![maker_country(magnet).to_string()];
        assert_eq!(
            stage_countries(&trace),
            vec![
                (Stage::Mining, mined.clone()),
                (Stage::Separation, mined),
                (Stage::Metal, maker.clone()),
                (Stage::Magnet, maker)
            ],
            "{magnet}"
        );
    }
    // Forward from each mine lot reaches exactly the magnets that trace back to it.
    assert!(reached_from_mines.len() >= 10);
    for (mine_lot, expected) in &reached_from_mines {
        let forward = f.trace_forward(mine_lot);
        assert!(!forward.truncated);
        let magnets: BTreeSet<String> =
            forward.lots.iter().filter(|l| l.form == Form::Magnet).map(|l| l.lot.to_string()).collect();
        assert_eq!(&magnets, expected, "{mine_lot}");
        assert!(forward.lots.iter().all(|l| !l.custodian.as_str().is_empty() && !l.site.as_str().is_empty()));
    }
}
