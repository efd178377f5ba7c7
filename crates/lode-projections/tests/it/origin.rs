//! Origins (shares by mine, by the largest remainder rule) and the countries of stages.

use std::collections::BTreeSet;

use lode_domain::{Country, SiteId, Stage};
use lode_projections::view::{Origin, ORIGIN_PPM_TOTAL};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::book::{generated, Book};
use crate::history::{history_world, op, MINE_AU, MINE_CN};
use crate::support::*;

fn extract_at(lot: &str, mine: &str, mass_g: u64) -> Value {
    ev("lot.extracted", MINER, json!({"lot": lot, "site": mine, "material": ore(), "mass_g": mass_g}))
}

fn blend(inputs: &[(&str, u64)], output: &str, mass_g: u64) -> Value {
    transform(MINER, "blend", MINE_WH, inputs, &[(output, ore(), mass_g)])
}

/// Lots of ore from three mines (au-mine-1 < cn-mine-1 < vn-mine-1), all moved to the mine's warehouse.
fn mines() -> Vec<Value> {
    let lots = [
        ("A3", MINE_CN, 3_000_000),
        ("A5", MINE_CN, 5_000_000),
        ("B1", MINE_AU, 1_000_000),
        ("C1", MINE, 1_000_000),
        ("V2", MINE, 2_000_000),
    ];
    let mut events = history_world();
    for (lot, mine, mass) in lots {
        events.push(extract_at(lot, mine, mass));
        events.push(moved(MINER, lot, MINE_WH));
    }
    events
}

const AU: &str = "au-mine-1";
const CN: &str = "cn-mine-1";
const VN: &str = "vn-mine-1";

#[test]
fn origins_of_blends_and_splits() {
    let with_data = |event: Value, data: Value| merge(event, json!({ "data": data }));
    // (name, events after `mines()`, lot, its expected shares)
    type Case<'a> = (&'a str, Vec<Value>, &'a str, Vec<(&'a str, u32)>);
    let cases: Vec<Case<'_>> = vec![
        ("an extracted lot is all its mine", vec![], "A3", vec![(CN, 1_000_000)]),
        (
            "3 t from A and 1 t from B",
            vec![blend(&[("A3", 3_000_000), ("B1", 1_000_000)], "X", 4_000_000)],
            "X",
            vec![(AU, 250_000), (CN, 750_000)],
        ),
        (
            "weighted by the mass given, not held",
            vec![blend(&[("A5", 3_000_000), ("B1", 1_000_000)], "X", 4_000_000)],
            "X",
            vec![(AU, 250_000), (CN, 750_000)],
        ),
        (
            "untraced additions do not dilute",
            vec![with_data(
                blend(&[("A3", 3_000_000), ("B1", 1_000_000)], "X", 4_500_000),
                json!({"additions_g": 500_000}),
            )],
            "X",
            vec![(AU, 250_000), (CN, 750_000)],
        ),
        (
            "the process loss does not matter",
            vec![with_data(
                blend(&[("A3", 3_000_000), ("B1", 1_000_000)], "X", 3_000_000),
                json!({"loss_g": 1_000_000}),
            )],
            "X",
            vec![(AU, 250_000), (CN, 750_000)],
        ),
        (
            "1:1:1, the tie goes to the first mine id",
            vec![blend(&[("C1", 1_000_000), ("A3", 1_000_000), ("B1", 1_000_000)], "X", 3_000_000)],
            "X",
            vec![(AU, 333_334), (CN, 333_333), (VN, 333_333)],
        ),
        (
            "a split keeps its input's origin",
            vec![
                blend(&[("A3", 3_000_000), ("B1", 1_000_000)], "X", 4_000_000),
                transform(
                    MINER,
                    "split",
                    MINE_WH,
                    &[("X", 4_000_000)],
                    &[("Y1", ore(), 1_000_000), ("Y2", ore(), 3_000_000)],
                ),
            ],
            "Y1",
            vec![(AU, 250_000), (CN, 750_000)],
        ),
        (
            "rounded from the parents' rounded origins",
            vec![
                blend(&[("C1", 1_000_000), ("A3", 1_000_000), ("B1", 1_000_000)], "X", 3_000_000),
                blend(&[("X", 1_000_000), ("V2", 2_000_000)], "Z", 3_000_000),
            ],
            "Z",
            // Exactly 111,111.33, 111,111 and 777,777.67 ppm: the one ppm missing goes to vn.
            vec![(AU, 111_111), (CN, 111_111), (VN, 777_778)],
        ),
        ("one mine in several lots", vec![blend(&[("A3", 1), ("A5", 2)], "X", 3)], "X", vec![(CN, 1_000_000)]),
    ];
    for (name, events, lot, expected) in cases {
        let book = Book::with(plus(mines(), events));
        let expected: Vec<(String, u32)> = expected.into_iter().map(|(m, p)| (m.to_string(), p)).collect();
        assert_eq!(book.origin(lot), expected, "{name}");
    }
}

fn mine(id: &str) -> Origin {
    Origin::mine(SiteId::new(id).expect("a site id"))
}

#[test]
fn mixing_is_exact_then_largest_remainder() {
    let (a, b, c) = (mine("a"), mine("b"), mine("c"));
    let shares = |o: &Origin| o.shares().map(|(m, p)| (m.to_string(), p)).collect::<Vec<_>>();
    let s = |pairs: &[(&str, u32)]| pairs.iter().map(|(m, p)| (m.to_string(), *p)).collect::<Vec<_>>();
    assert_eq!(shares(&Origin::mix([(3, &a), (1, &b)])), s(&[("a", 750_000), ("b", 250_000)]));
    // The tie does not depend on the order of the inputs.
    assert_eq!(shares(&Origin::mix([(7, &c), (7, &b), (7, &a)])), s(&[("a", 333_334), ("b", 333_333), ("c", 333_333)]));
    // 2:2:2:1 of seven: 285,714.28… each for three mines, 142,857.14… for the fourth.
    let d = mine("d");
    assert_eq!(
        shares(&Origin::mix([(2, &a), (2, &b), (2, &c), (1, &d)])),
        s(&[("a", 285_715), ("b", 285_714), ("c", 285_714), ("d", 142_857)])
    );
    // A share that rounds to nothing is left out.
    assert_eq!(Origin::mix([(1, &a), (1_000_000_000_000, &b)]), b);
    // Masses at the limit do not overflow.
    let ab = Origin::mix([(1_000_000_000_000, &a), (1_000_000_000_000, &b)]);
    assert_eq!(Origin::mix([(1_000_000_000_000, &ab), (999_999_999_999, &c)]).total_ppm(), 1_000_000);
    assert!(Origin::mix([]).is_empty());
    assert!(Origin::mix([(5, &Origin::default())]).is_empty());
}

fn origin_strategy() -> impl Strategy<Value = Origin> {
    prop::collection::vec((0usize..6, 1u64..=1_000_000_000_000), 1..5).prop_map(|parts| {
        let mines: Vec<Origin> = parts.iter().map(|(m, _)| mine(&format!("m{m}"))).collect();
        Origin::mix(parts.iter().zip(&mines).map(|((_, g), o)| (*g, o)))
    })
}

proptest! {
    /// Every mix sums to exactly 1,000,000 ppm and no share is 1 ppm or more off its exact value.
    #[test]
    fn mixes_sum_to_a_million_within_one_ppm_of_exact(
        parts in prop::collection::vec((1u64..=1_000_000_000_000, origin_strategy()), 1..6)
    ) {
        let mixed = Origin::mix(parts.iter().map(|(g, o)| (*g, o)));
        prop_assert_eq!(mixed.total_ppm(), u64::from(ORIGIN_PPM_TOTAL));
        let weight: u128 = parts.iter().map(|(g, _)| u128::from(*g)).sum();
        let mines: BTreeSet<&SiteId> = parts.iter().flat_map(|(_, o)| o.shares().map(|(m, _)| m)).collect();
        for m in mines {
            let exact: u128 = parts.iter().map(|(g, o)| u128::from(*g) * u128::from(o.ppm(m.as_str()))).sum();
            let rounded = u128::from(mixed.ppm(m.as_str())) * weight;
            prop_assert!(rounded.abs_diff(exact) < weight, "{} is {} ppm", m, mixed.ppm(m.as_str()));
        }
    }

    /// In generated histories every lot's origin sums to 1,000,000 ppm and names known mines, and every
    /// lot was mined somewhere.
    #[test]
    fn every_lot_of_a_history_has_a_whole_origin(ops in prop::collection::vec(op(), 1..60)) {
        let book = generated(&ops);
        for (id, _) in book.state().lots() {
            let origin = book.views.origin(id.as_str()).expect("every lot has an origin");
            prop_assert_eq!(origin.total_ppm(), 1_000_000, "origin of {}: {:?}", id, origin);
            for (mine, _) in origin.shares() {
                prop_assert!([MINE, MINE_CN, MINE_AU].contains(&mine.as_str()));
            }
            let stages = book.views.stages(id.as_str()).expect("every lot has stages");
            prop_assert!(stages.countries(Stage::Mining).next().is_some(), "{} was mined somewhere", id);
        }
    }
}

fn countries(codes: &[&str]) -> BTreeSet<Country> {
    codes.iter().map(|c| Country::parse(c).expect("a country")).collect()
}

#[test]
fn stages_through_separation_metal_and_magnet() {
    let metal_plant = "cn-metal-1";
    let magnet = json!({"form": "magnet", "elements": ["Nd", "Dy"]});
    let loss = |event: Value, loss_g: u64| merge(event, json!({"data": {"loss_g": loss_g}}));
    let book = Book::with(plus(
        history_world(),
        [
            site(OP, metal_plant, REFINER, "metal_plant", "CN"),
            extract_at("CN-ORE", MINE_CN, 1_000_000),
            extract_at("AU-ORE", MINE_AU, 1_000_000),
            ship(MINER, "S1", &["CN-ORE"], MINE_CN, REFINER, REFINERY),
            ship(MINER, "S2", &["AU-ORE"], MINE_AU, REFINER, REFINERY),
            receive(REFINER, "S1", &[("CN-ORE", 1_000_000)]),
            receive(REFINER, "S2", &[("AU-ORE", 1_000_000)]),
            loss(
                transform(
                    REFINER,
                    "separation",
                    REFINERY,
                    &[("CN-ORE", 1_000_000), ("AU-ORE", 1_000_000)],
                    &[("OX", oxide(&["Nd", "Pr"]), 1_500_000)],
                ),
                500_000,
            ),
            moved(REFINER, "OX", metal_plant),
            loss(
                transform(
                    REFINER,
                    "reduction",
                    metal_plant,
                    &[("OX", 1_500_000)],
                    &[("MET", json!({"form": "metal", "elements": ["Nd"]}), 1_000_000)],
                ),
                500_000,
            ),
            ship(REFINER, "S3", &["MET"], metal_plant, MAKER, PLANT),
            receive(MAKER, "S3", &[("MET", 1_000_000)]),
            merge(
                transform(MAKER, "magnet_making", PLANT, &[("MET", 1_000_000)], &[("MAG", magnet.clone(), 1_200_000)]),
                json!({"data": {"additions_g": 200_000}}),
            ),
            transform(MAKER, "repack", PLANT, &[("MAG", 1_200_000)], &[("MAG-BOX", magnet, 1_200_000)]),
        ],
    ));
    let stages = |lot: &str| -> Vec<(Stage, BTreeSet<Country>)> {
        book.views.stages(lot).expect("a lot").iter().map(|(s, c)| (s, c.into_iter().collect())).collect()
    };
    assert_eq!(stages("CN-ORE"), vec![(Stage::Mining, countries(&["CN"]))]);
    assert_eq!(stages("OX"), vec![(Stage::Mining, countries(&["AU", "CN"])), (Stage::Separation, countries(&["VN"]))]);
    let all_four = vec![
        (Stage::Mining, countries(&["AU", "CN"])),
        (Stage::Separation, countries(&["VN"])),
        (Stage::Metal, countries(&["CN"])),
        (Stage::Magnet, countries(&["JP"])),
    ];
    assert_eq!(stages("MAG"), all_four);
    assert_eq!(stages("MAG-BOX"), all_four, "a transformation within one form records no stage");
    assert!(book.views.stages("MAG").expect("a lot").any_in(&countries(&["CN", "RU"])));
    assert!(!book.views.stages("OX").expect("a lot").any_in(&countries(&["RU", "KP", "JP"])));

    let view = serde_json::to_value(book.lot("MAG-BOX").origin).expect("serializes");
    assert_eq!(
        view,
        json!({
            "mines": [{"mine": "au-mine-1", "country": "AU", "ppm": 500_000}, {"mine": "cn-mine-1", "country": "CN", "ppm": 500_000}],
            "stages": {"mining": ["AU", "CN"], "separation": ["VN"], "metal": ["CN"], "magnet": ["JP"]}
        })
    );
}

/// The generated histories must mix mines and reach later stages, or the property above says little.
#[test]
fn generated_histories_mix_mines_and_stages() {
    use proptest::strategy::ValueTree as _;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut mixed, mut staged) = (0usize, 0usize);
    for _ in 0..20 {
        let ops = prop::collection::vec(op(), 60).new_tree(&mut runner).expect("a tree").current();
        let book = generated(&ops);
        for (id, _) in book.state().lots() {
            mixed += usize::from(book.views.origin(id.as_str()).expect("an origin").shares().count() > 1);
            staged += usize::from(book.views.stages(id.as_str()).expect("stages").iter().count() > 1);
        }
    }
    assert!(mixed >= 10, "only {mixed} generated lots mix mines");
    assert!(staged >= 10, "only {staged} generated lots went past mining");
}
