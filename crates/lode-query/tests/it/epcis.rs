//! EPCIS 2.0 exports, validated against the GS1 JSON Schema: the demo ledger and generated ledgers,
//! whole and per lot; and the validator shown to refuse what breaks the schema.

use lode_query::epcis::{document, BaseUri, EpcisOptions};
use lode_query::ExportError;
use serde_json::Value;

use crate::support::*;

/// The GS1 EPCIS 2.0 JSON Schema, as copied into the repository, with formats (URIs, date-times)
/// checked too.
fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo_file("data/standards/epcis/EPCIS-JSON-Schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options().should_validate_formats(true).build(&schema).unwrap()
}

/// The export as it is written, and parsed back for the validator.
fn export(f: &Fixture, options: &EpcisOptions) -> (String, Value) {
    let doc = document(&f.store.reader(), &f.ledger, options).unwrap();
    let text = serde_json::to_string(&doc).unwrap();
    let value = serde_json::from_str(&text).unwrap();
    (text, value)
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v.iter_errors(doc).take(5).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

fn events(doc: &Value) -> &Vec<Value> {
    doc["epcisBody"]["eventList"].as_array().unwrap()
}

fn lot_ids(f: &Fixture) -> Vec<String> {
    f.ledger.read(|s, _| s.lots().map(|(id, _)| id.to_string()).collect())
}

#[test]
fn every_export_of_the_demo_ledger_validates_against_the_gs1_schema() {
    let v = validator();
    let f = demo();
    let (_, whole) = export(&f, &EpcisOptions::default());
    assert_valid(&v, &whole, "the whole demo ledger");
    // 158 records, of which 29 registrations (master data), 1 correction (an errorDeclaration) and
    // 1 hold on a party (no object to name) are not events.
    assert_eq!(events(&whole).len(), 158 - 29 - 1 - 1);
    for lot in lot_ids(&f) {
        for ancestry in [false, true] {
            let options = EpcisOptions { lot: Some(lot.clone()), ancestry, ..EpcisOptions::default() };
            let (_, doc) = export(&f, &options);
            assert_valid(&v, &doc, &format!("{lot}, ancestry {ancestry}"));
            assert!(!events(&doc).is_empty(), "{lot}");
        }
    }
}

#[test]
fn every_export_of_generated_ledgers_validates_against_the_gs1_schema() {
    let v = validator();
    let mut types = std::collections::BTreeSet::new();
    for (mine_lots, seed) in [(20, 1), (6, 7), (6, 42)] {
        let f = generated(mine_lots, seed);
        let (_, whole) = export(&f, &EpcisOptions::default());
        assert_valid(&v, &whole, &format!("seed {seed}"));
        types.extend(events(&whole).iter().map(|e| e["lode:eventType"].as_str().unwrap().to_string()));
        for lot in lot_ids(&f) {
            let options = EpcisOptions { lot: Some(lot.clone()), ancestry: true, ..EpcisOptions::default() };
            let (_, doc) = export(&f, &options);
            assert_valid(&v, &doc, &format!("seed {seed}, {lot}"));
        }
    }
    // Between them the histories hold every type that maps to an event.
    let mapped = [
        "lot.extracted",
        "lot.assayed",
        "lot.transformed",
        "custody.shipped",
        "custody.received",
        "custody.rejected",
        "lot.moved",
        "document.attached",
        "lot.consumed",
        "lot.adjusted",
        "hold.placed",
        "hold.released",
    ];
    for t in mapped {
        assert!(types.contains(t), "no {t} in {types:?}");
    }
}

#[test]
fn the_validator_refuses_documents_that_break_the_schema() {
    let v = validator();
    let f = demo();
    let (_, doc) = export(&f, &EpcisOptions { lot: Some("JP-MAG-2025-0001".into()), ..EpcisOptions::default() });
    assert_valid(&v, &doc, "the untouched document");
    type Breakage = (&'static str, fn(&mut Value));
    let breakages: [Breakage; 6] = [
        ("an unknown action", |d| d["epcisBody"]["eventList"][0]["action"] = "MOVE".into()),
        ("a quantity as a string", |d| {
            d["epcisBody"]["eventList"][0]["inputQuantityList"][0]["quantity"] = "1.000".into()
        }),
        ("no eventTime", |d| {
            d["epcisBody"]["eventList"][0].as_object_mut().unwrap().remove("eventTime");
        }),
        ("an offset beyond +14:00", |d| d["epcisBody"]["eventList"][0]["eventTimeZoneOffset"] = "+15:00".into()),
        ("an eventID that is not a URI", |d| d["epcisBody"]["eventList"][0]["eventID"] = "not a uri".into()),
        ("no schemaVersion", |d| {
            d.as_object_mut().unwrap().remove("schemaVersion");
        }),
    ];
    for (what, breaks) in breakages {
        let mut broken = doc.clone();
        breaks(&mut broken);
        assert_ne!(broken, doc, "{what} changed nothing");
        assert!(!v.is_valid(&broken), "the validator accepted {what}");
    }
}

fn find<'a>(doc: &'a Value, kind: &str, pred: impl Fn(&Value) -> bool) -> Vec<&'a Value> {
    events(doc).iter().filter(|e| e["lode:eventType"] == kind && pred(e)).collect()
}

#[test]
fn event_ids_are_leaf_hashes_and_masses_exact_kilograms() {
    let f = demo();
    let (text, doc) = export(&f, &EpcisOptions::default());
    let reader = f.store.reader();
    for e in events(&doc) {
        let record = reader.get(e["lode:seq"].as_u64().unwrap()).unwrap().unwrap();
        let leaf = lode_store::record::leaf_hash(&record.bytes).to_hex();
        assert_eq!(e["eventID"], format!("ni:///blake3;{leaf}"));
        assert_eq!(e["lode:eventUUID"], record.header().id.to_string());
        assert_eq!(e["recordTime"], record.header().recorded_at);
    }
    assert_eq!(doc["lode:log"]["lode:size"], 158);
    assert_eq!(doc["lode:log"]["lode:chainHead"], reader.head().hash.to_hex());
    assert_eq!(doc["lode:log"]["lode:merkleRoot"], reader.merkle_root(158).unwrap().to_hex());
    // The 0.627% short receipt, weighed 21,862,060 g: written from the grams, digit for digit.
    let lot = "https://id.lode.example/lot/VN-NDPR-2025-0004";
    assert!(text.contains(&format!(r#"{{"epcClass":"{lot}","quantity":21862.060,"uom":"KGM"}}"#)), "{text}");
    let receipt = find(&doc, "custody.received", |e| e["quantityList"][0]["epcClass"] == lot)[0];
    assert_eq!(receipt["bizStep"], "receiving");
    assert_eq!(receipt["lode:shipment"], "https://id.lode.example/shipment/SHP-VN-KR-2025-0004");
    let shipped = find(&doc, "custody.shipped", |e| e["lode:shipment"] == receipt["lode:shipment"])[0];
    assert!(text.contains(&format!(r#"{{"epcClass":"{lot}","quantity":22000.000,"uom":"KGM"}}"#)));
    assert_eq!((shipped["bizStep"].as_str(), shipped["disposition"].as_str()), (Some("shipping"), Some("in_transit")));
    let kinds: Vec<&str> =
        shipped["bizTransactionList"].as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"bol") && kinds.contains(&"inv"), "{kinds:?}");
    // The export declaration attached later is known to the shipment too, and is its own event.
    assert!(kinds.iter().any(|k| k.ends_with("/btt/export_declaration")), "{kinds:?}");
    assert!(!find(&doc, "document.attached", |e| e["lode:shipment"] == receipt["lode:shipment"]).is_empty());
    let source = |t: &str| shipped["sourceList"].as_array().unwrap().iter().find(|s| s["type"] == t).unwrap().clone();
    assert_eq!(source("owning_party")["source"], "https://id.lode.example/party/song-hong-mining");
    assert_eq!(source("location")["source"], "https://id.lode.example/site/vn-haiphong-port");
    let to = shipped["destinationList"].as_array().unwrap();
    assert!(to.iter().any(|d| d["destination"] == "https://id.lode.example/party/han-river-materials"));
}

#[test]
fn a_corrected_event_carries_its_error_declaration() {
    let f = demo();
    let (_, doc) = export(&f, &EpcisOptions { lot: Some("VN-NDPR-2025-0005".into()), ..EpcisOptions::default() });
    let assays = find(&doc, "lot.assayed", |_| true);
    let corrected: Vec<&&Value> = assays.iter().filter(|e| e.get("errorDeclaration").is_some()).collect();
    assert_eq!(corrected.len(), 1, "{assays:#?}");
    let decl = &corrected[0]["errorDeclaration"];
    assert_eq!(decl["reason"], "incorrect_data");
    assert_eq!(corrected[0]["lode:eventUUID"], "0197f246-8f80-7a3c-9d5e-2b7c4f8a1e63");
    let correction = &decl["lode:corrections"][0];
    assert_eq!(correction["lode:corrects"], corrected[0]["eventID"]);
    assert_eq!(decl["declarationTime"], correction["lode:declarationTime"]);
    // The correction's own record, proven by its own event id.
    let seq = correction["lode:seq"].as_u64().unwrap();
    let record = f.store.reader().get(seq).unwrap().unwrap();
    assert!(std::str::from_utf8(&record.bytes).unwrap().contains(r#""type":"event.corrected""#));
    assert_eq!(
        correction["lode:eventID"],
        format!("ni:///blake3;{}", lode_store::record::leaf_hash(&record.bytes).to_hex())
    );
    // The reissued assay and the Korean lab's check on receipt have none.
    assert_eq!(assays.len(), 3);
}

#[test]
fn a_lots_ancestry_reaches_the_mine_and_stops_where_the_lot_was_made() {
    let f = demo();
    let options = EpcisOptions { lot: Some("JP-MAG-2025-0001".into()), ancestry: true, ..EpcisOptions::default() };
    let (_, doc) = export(&f, &options);
    let extracted = find(&doc, "lot.extracted", |_| true);
    assert!(!extracted.is_empty());
    for e in &extracted {
        assert_eq!((e["action"].as_str(), e["bizStep"].as_str()), (Some("ADD"), Some("commissioning")));
        assert_eq!(e["readPoint"]["id"], "https://id.lode.example/site/vn-laichau-mine");
    }
    let made = find(&doc, "lot.transformed", |e| e["lode:process"] == "magnet_making");
    assert_eq!(made.len(), 1);
    assert_eq!(made[0]["type"], "TransformationEvent");
    assert_eq!(made[0]["outputQuantityList"][0]["epcClass"], "https://id.lode.example/lot/JP-MAG-2025-0001");
    // The mine's country is in the master data.
    let sites = &doc["epcisHeader"]["epcisMasterData"]["vocabularyList"][0];
    let mine = sites["vocabularyElementList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "https://id.lode.example/site/vn-laichau-mine")
        .unwrap();
    assert!(mine["attributes"].as_array().unwrap().iter().any(|a| a["attribute"] == "VN"));
    // Without the ancestry: only the magnet lot's own events.
    let (_, own) = export(&f, &EpcisOptions { ancestry: false, ..options.clone() });
    assert!(find(&own, "lot.extracted", |_| true).is_empty());
    assert!(events(&own).len() < events(&doc).len());
    // The ancestry stops at the transformations that made the lot: every event names a lot of the
    // trace at or before the last transformation that made a descendant from it.
    let trace = f.trace_back("JP-MAG-2025-0001");
    let mut cutoff: std::collections::BTreeMap<String, u64> =
        std::collections::BTreeMap::from([("JP-MAG-2025-0001".to_string(), u64::MAX)]);
    for edge in &trace.edges {
        let c = cutoff.entry(edge.parent.to_string()).or_default();
        *c = (*c).max(edge.seq);
    }
    for e in events(&doc) {
        if e["lode:eventType"] == "document.attached" {
            continue;
        }
        let seq = e["lode:seq"].as_u64().unwrap();
        let named: Vec<String> = ["quantityList", "inputQuantityList", "outputQuantityList"]
            .iter()
            .filter_map(|k| e[*k].as_array())
            .flatten()
            .map(|q| q["epcClass"].as_str().unwrap().trim_start_matches("https://id.lode.example/lot/").to_string())
            .collect();
        assert!(named.iter().any(|l| cutoff.get(l).is_some_and(|&c| seq <= c)), "#{seq} names {named:?}");
    }
}

#[test]
fn time_bounds_base_uris_and_limits() {
    let f = demo();
    let from = lode_query::epcis::parse_time("--from", "2025-06-01T00:00:00Z").unwrap();
    let to = lode_query::epcis::parse_time("--to", "2025-07-01T00:00:00+09:00").unwrap();
    let (_, doc) = export(&f, &EpcisOptions { from: Some(from), to: Some(to), ..EpcisOptions::default() });
    assert!(!events(&doc).is_empty());
    for e in events(&doc) {
        let at = chrono::DateTime::parse_from_rfc3339(e["eventTime"].as_str().unwrap()).unwrap();
        assert!(from <= at && at < to, "{at}");
    }
    assert!(matches!(
        lode_query::epcis::parse_time("--from", "2025-06-01"),
        Err(ExportError::InvalidTime { name: "--from", .. })
    ));

    let base = BaseUri::parse("https://ids.example.org/lode").unwrap();
    assert_eq!(base.as_str(), "https://ids.example.org/lode/");
    assert_eq!(base.lot("KR:NDPR/01"), "https://ids.example.org/lode/lot/KR%3ANDPR%2F01");
    assert_eq!(base.document("invoice", "INV 7/ä"), "https://ids.example.org/lode/document/invoice/INV%207%2F%C3%A4");
    let (text, _) = export(&f, &EpcisOptions { base: base.clone(), ..EpcisOptions::default() });
    assert!(!text.contains("id.lode.example"));
    for bad in ["ftp://x.example/", "https://", "https:///x", "https://x.example/?q=1", "https://x example/", "x"] {
        assert!(matches!(BaseUri::parse(bad), Err(ExportError::InvalidBaseUri { .. })), "{bad}");
    }

    let reader = f.store.reader();
    let lot = |l: &str| EpcisOptions { lot: Some(l.into()), ancestry: true, ..EpcisOptions::default() };
    assert_eq!(
        document(&reader, &f.ledger, &lot("NO-SUCH-LOT")).unwrap_err(),
        ExportError::LotNotFound { lot: "NO-SUCH-LOT".into() }
    );
    let few_lots = EpcisOptions { lots_max: 2, ..lot("JP-MAG-2025-0001") };
    assert!(matches!(document(&reader, &f.ledger, &few_lots), Err(ExportError::TooManyLots { max: 2, .. })));
    let few_events = EpcisOptions { events_max: 3, ..EpcisOptions::default() };
    assert_eq!(document(&reader, &f.ledger, &few_events).unwrap_err(), ExportError::TooManyEvents { max: 3 });
    let empty = Fixture::new();
    assert_eq!(
        document(&empty.store.reader(), &empty.ledger, &EpcisOptions::default()).unwrap_err(),
        ExportError::EmptyLog
    );
}
