//! Writing answers for people: exact masses and shares, and lineages as Graphviz DOT.

use lode_query::render::{mass, percent, ppm, share, signed_mass, thousands};

use crate::support::*;

#[test]
fn masses_are_written_exactly_in_kilograms_or_tonnes() {
    let cases: [(u64, &str); 9] = [
        (0, "0.000 kg"),
        (1, "0.001 kg"),
        (999_999, "999.999 kg"),
        (1_000_000, "1.000 t"),
        (19_990_000, "19.990 t"),
        (19_990_001, "19.990001 t"),
        (1_234_567_000_000, "1,234,567.000 t"),
        (1_000_000_000_000, "1,000,000.000 t"),
        (u64::MAX, "18,446,744,073,709.551615 t"),
    ];
    for (g, text) in cases {
        assert_eq!(mass(g), text, "{g} g");
    }
    assert_eq!(signed_mass(-10_000), "-10.000 kg");
    assert_eq!(signed_mass(2_000_000), "+2.000 t");
    assert_eq!(signed_mass(0), "0.000 kg");
    assert_eq!(percent(-10_000, 20_000_000), "-0.050%");
    assert_eq!(percent(1, 3), "33.333%");
    assert_eq!(percent(-1, 1_000_000), "0.000%");
    assert_eq!(percent(5, 0), "0.000%");
    assert_eq!((share(1_000_000), share(333_334), share(1)), ("100.0000%".into(), "33.3334%".into(), "0.0001%".into()));
    assert_eq!(ppm(750_000), "750,000 ppm");
    assert_eq!((thousands(0), thousands(999), thousands(1_000)), ("0".into(), "999".into(), "1,000".into()));
}

#[test]
fn a_lineage_as_dot_runs_from_the_mines_to_the_lot() {
    let f = Fixture::with(&story(Tweaks::default()));
    let dot = f.trace_back(MAGNET).to_dot();
    assert!(dot.starts_with("digraph lineage {\n") && dot.ends_with("}\n"), "{dot}");
    assert!(dot.contains("rankdir=LR;"));
    assert!(dot.contains(&format!("\"mine:{MINE}\" [label=\"mine {MINE} (VN)\", shape=invhouse];")), "{dot}");
    assert!(dot.contains(&format!("\"mine:{MINE}\" -> \"{ORE}\" [label=\"extracted 2024-04-02\"];")), "{dot}");
    assert!(
        dot.contains(&format!(
            "\"{ORE}\" -> \"{OXIDE}\" [label=\"separation at {REFINERY} (VN)\\n2024-04-06\\n90.000 t → 20.000 t\"];"
        )),
        "{dot}"
    );
    for lot in [MAGNET, ALLOY, METAL, OXIDE, ORE] {
        assert!(dot.contains(&format!("  \"{lot}\" [label=\"{lot}\\n")), "{lot}: {dot}");
    }
    assert_eq!(dot.matches(" -> ").count(), 5, "four transformations and one extraction");
    let forward = f.trace_forward(ORE).to_dot();
    assert_eq!(forward.matches(" -> ").count(), 6, "the extraction, and five transformations: {forward}");
}
