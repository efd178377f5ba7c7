//! Lineages as SVG: well-formed XML whatever the ledger, the mines on the left, covered-country
//! stages framed in red.

use std::collections::BTreeSet;

use lode_domain::Country;
use lode_query::{AuditOptions, Limits};

use crate::support::*;

const RED: &str = "#c62828";

fn covered() -> BTreeSet<Country> {
    AuditOptions::default().covered
}

/// Parses an SVG picture, failing the test unless it is well-formed XML with an `svg` root.
fn parse(svg: &str) -> roxmltree::Document<'_> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    doc
}

fn texts<'a>(doc: &'a roxmltree::Document<'_>) -> Vec<&'a str> {
    doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect()
}

/// The frame colour of the box whose tooltip starts with `lot`.
fn frame(doc: &roxmltree::Document<'_>, lot: &str) -> String {
    let g = doc
        .descendants()
        .filter(|n| n.has_tag_name("g"))
        .find(|g| {
            g.children().any(|c| c.has_tag_name("title") && c.text().is_some_and(|t| t.starts_with(&format!("{lot}:"))))
        })
        .unwrap_or_else(|| panic!("no box for {lot}"));
    let rect = g.children().find(|c| c.has_tag_name("rect")).unwrap();
    rect.attribute("stroke").unwrap().to_string()
}

#[test]
fn every_lineage_of_the_demo_and_of_a_generated_ledger_is_well_formed_xml() {
    for f in [demo(), generated(6, 3)] {
        let lots: Vec<String> = f.ledger.read(|s, _| s.lots().map(|(id, _)| id.to_string()).collect());
        for lot in &lots {
            let back = f.trace_back(lot).to_svg(&covered());
            let doc = parse(&back);
            assert!(texts(&doc).contains(&lot.as_str()), "{lot}");
            parse(&f.trace_forward(lot).to_svg(&covered()));
            // The same trace draws the same picture.
            assert_eq!(back, f.trace_back(lot).to_svg(&covered()));
        }
    }
}

#[test]
fn the_magnet_lot_runs_from_its_mine_with_labelled_transformations() {
    let f = Fixture::with(&story(Tweaks::default()));
    let svg = f.trace_back(MAGNET).to_svg(&covered());
    let doc = parse(&svg);
    let t = texts(&doc);
    for expected in [MINE, ORE, OXIDE, METAL, ALLOY, MAGNET, "separation at vn-refinery-1 (VN)", "90.000 t → 20.000 t"]
    {
        assert!(t.contains(&expected), "{expected:?} in {t:?}");
    }
    // The mine's box is left of the ore's, which is left of the magnet's.
    let x = |label: &str| {
        let text = doc.descendants().find(|n| n.has_tag_name("text") && n.text() == Some(label)).unwrap();
        text.attribute("x").unwrap().parse::<i64>().unwrap()
    };
    assert!(x(MINE) < x(ORE) && x(ORE) < x(OXIDE) && x(OXIDE) < x(MAGNET));
    // Nothing here is in a covered country; the traced lot is framed in bold black.
    assert_ne!(frame(&doc, ORE), RED);
    assert_eq!(frame(&doc, MAGNET), "#222222");
}

#[test]
fn lots_made_in_a_covered_country_are_framed_in_red() {
    let f = demo();
    let trace = f.ledger.read(|s, v| lode_query::trace_back(s, v, "KR-MAG-2025-0001", &Limits::default())).unwrap();
    let doc_text = trace.to_svg(&covered());
    let doc = parse(&doc_text);
    // Mined and separated in China: red. Separated in Vietnam, made into metal in Korea: not.
    assert_eq!(frame(&doc, "CN-CONC-2025-0001"), RED);
    assert_eq!(frame(&doc, "CN-NDPR-2025-0001"), RED);
    assert_ne!(frame(&doc, "VN-NDPR-2025-0003"), RED);
    assert_ne!(frame(&doc, "KR-NDPRM-2025-0002"), RED);
    assert!(texts(&doc).iter().any(|t| t.contains("made in a covered country (CN, IR, KP, RU)")));
    // With no covered country, nothing is red but the legend's sample.
    let none = trace.to_svg(&BTreeSet::new());
    assert_eq!(none.matches(RED).count(), 1, "{none}");
    assert!(doc_text.matches(RED).count() > 2);
}

#[test]
fn text_is_escaped_for_xml() {
    use lode_query::render::xml_escape;
    assert_eq!(xml_escape(r#"a<b & "c" 'd'>"#), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
    assert_eq!(xml_escape("bell\u{7} ok\u{FFFF}"), "bell\u{FFFD} ok\u{FFFD}");
    assert_eq!(xml_escape("Nd → Pr, tab\tline\n"), "Nd → Pr, tab\tline\n");
}
