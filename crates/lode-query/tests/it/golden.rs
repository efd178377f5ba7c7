//! Golden files: the CSV headers and tables and the origin reports of the demo's magnet lots, as
//! they must stay. `LODE_BLESS=1 cargo test -p lode-query` rewrites them after a deliberate change;
//! review the diff before committing it.

use std::path::PathBuf;

use lode_domain::Form;
use lode_query::checkpoint::{self, SecretKey};
use lode_query::csv_export::{self, Table};
use lode_query::origin::{origin_report, OriginOptions, OriginReport};
use lode_query::{AsOf, ExportError};

use crate::support::*;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

/// Compares `actual` with the golden file, or rewrites the file under `LODE_BLESS=1`.
fn golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var("LODE_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}; LODE_BLESS=1 writes it", path.display()));
    if expected != actual {
        let line = expected.lines().zip(actual.lines()).position(|(e, a)| e != a).unwrap_or(0);
        panic!(
            "{} differs from what was produced, first at line {}:\n  golden:   {:?}\n  produced: {:?}\n\
             (LODE_BLESS=1 rewrites it after a deliberate change)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}

fn csv(f: &Fixture, table: Table) -> String {
    let mut out = Vec::new();
    csv_export::write(table, &f.store.reader(), &f.ledger, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_csv_headers_and_the_demos_tables_are_as_documented() {
    let f = demo();
    let headers: String = Table::ALL.iter().map(|t| csv_export::record(t.header())).collect();
    golden("csv-headers.csv", &headers);
    for table in Table::ALL {
        let text = csv(&f, table);
        assert!(text.starts_with(&csv_export::record(table.header())), "{}", table.as_str());
        // Every record has as many fields as the header: no field leaks a separator.
        let expected = table.header().len();
        for line in text.split("\r\n").filter(|l| !l.is_empty() && !l.contains('"')) {
            assert_eq!(line.split(',').count(), expected, "{}: {line}", table.as_str());
        }
    }
    // The tables with no clock or hash in them are fixed whole.
    golden("demo-lots.csv", &csv(&f, Table::Lots));
    golden("demo-custody.csv", &csv(&f, Table::Custody));
    golden("demo-inventory.csv", &csv(&f, Table::Inventory));
    // The events table holds `recorded_at` and hashes, which change with every load: check them
    // against the log instead.
    let events = csv(&f, Table::Events);
    let reader = f.store.reader();
    let rows: Vec<&str> = events.split("\r\n").skip(1).filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 158);
    for row in rows {
        let fields: Vec<&str> = row.split(',').collect();
        let record = reader.get(fields[0].parse().unwrap()).unwrap().unwrap();
        assert_eq!(fields[1], record.header().id.to_string());
        assert_eq!(fields[4], record.header().recorded_at);
        assert_eq!(fields[7], lode_store::record::leaf_hash(&record.bytes).to_hex());
        assert_eq!(fields[8], record.hash().to_hex());
    }
    // The corrected assay names its correction.
    let corrected = events.lines().find(|l| l.contains("0197f246-8f80-7a3c-9d5e-2b7c4f8a1e63")).unwrap();
    assert!(!corrected.ends_with(','), "{corrected}");
}

#[test]
fn csv_fields_are_quoted_as_rfc_4180_says() {
    assert_eq!(csv_export::record(&["plain", "", "a,b"]), "plain,,\"a,b\"\r\n");
    assert_eq!(
        csv_export::record(&["say \"no\"", "two\nlines", "cr\r"]),
        "\"say \"\"no\"\"\",\"two\nlines\",\"cr\r\"\r\n"
    );
    assert_eq!(lode_query::render::kg(1_234_567), "1234.567");
    assert_eq!(lode_query::render::kg(0), "0.000");
    assert_eq!(lode_query::render::signed_kg(-137_940), "-137.940");
}

/// The reports of every magnet lot of the demo, with the checkpoint's hashes (which depend on when
/// the demo was loaded) checked against the log and then replaced by placeholders.
fn magnet_reports(f: &Fixture) -> Vec<OriginReport> {
    let reader = f.store.reader();
    let magnets: Vec<String> = f
        .ledger
        .read(|s, _| s.lots().filter(|(_, l)| l.material.form == Form::Magnet).map(|(id, _)| id.to_string()).collect());
    assert!(magnets.len() >= 5, "{magnets:?}");
    magnets
        .iter()
        .map(|lot| {
            let report = origin_report(&reader, &f.ledger, lot, &OriginOptions::default()).unwrap();
            assert_eq!(report.checkpoint.size, 158);
            assert_eq!(report.checkpoint.root, reader.merkle_root(158).unwrap().to_hex());
            assert_eq!(report.checkpoint.chain_head, reader.head().hash.to_hex());
            report
        })
        .collect()
}

fn mask(text: &str, report: &OriginReport) -> String {
    text.replace(&report.checkpoint.root, "<merkle-root>").replace(&report.checkpoint.chain_head, "<chain-head>")
}

#[test]
fn the_origin_reports_of_the_demos_magnet_lots_are_as_fixed() {
    let f = demo();
    let reports = magnet_reports(&f);
    let text: String = reports.iter().map(|r| mask(&r.to_text(), r)).collect::<Vec<_>>().join("\n");
    let json: String = reports.iter().map(|r| mask(&serde_json::to_string(r).unwrap(), r) + "\n").collect::<String>();
    let csv: String = reports
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let csv = mask(&r.to_csv(), r);
            // One header for all of them.
            if i == 0 {
                csv
            } else {
                csv.split_once("\r\n").unwrap().1.to_string()
            }
        })
        .collect();
    golden("origin-magnets.txt", &text);
    golden("origin-magnets.jsonl", &json);
    golden("origin-magnets.csv", &csv);
    let kr = reports.iter().find(|r| r.lot.as_str() == "KR-MAG-2025-0001").unwrap();
    assert_eq!(kr.verdict, lode_query::Verdict::Covered);
    let jp = reports.iter().find(|r| r.lot.as_str() == "JP-MAG-2025-0001").unwrap();
    assert_eq!(jp.verdict, lode_query::Verdict::Clear);
}

#[test]
fn a_signed_report_carries_a_checkpoint_note_of_the_log_it_was_built_from() {
    let f = demo();
    let reader = f.store.reader();
    let mut report = origin_report(&reader, &f.ledger, "JP-MAG-2025-0001", &OriginOptions::default()).unwrap();
    let key = SecretKey::from_seed("lode-operator", [9; 32]).unwrap();
    assert!(report.sign(&key, " bad origin").is_err());
    report.sign(&key, "lode/demo").unwrap();
    let note = report.checkpoint.note.clone().unwrap();
    let opened = checkpoint::open(&note, &key.verifier()).unwrap();
    assert_eq!((opened.origin.as_str(), opened.size), ("lode/demo", 158));
    assert_eq!(opened.root, reader.merkle_root(158).unwrap());
    assert_eq!(opened.chain_head, Some(reader.head().hash));
    assert!(report.to_text().ends_with(&note));
    assert!(report.to_csv().contains("checkpoint,note"));
    assert!(serde_json::to_string(&report).unwrap().contains("\"note\":"));
}

#[test]
fn a_report_rebuilt_from_an_earlier_log_states_that_log() {
    let f = demo();
    let reader = f.store.reader();
    let past = lode_query::ledger_as_of(&reader, AsOf::Position(40)).unwrap();
    let report = origin_report(&reader, &past.ledger, "VN-NDPR-2025-0001", &OriginOptions::default()).unwrap();
    assert_eq!(report.checkpoint.size, 40);
    assert_eq!(report.checkpoint.root, reader.merkle_root(40).unwrap().to_hex());
    assert_eq!(report.checkpoint.chain_head, reader.get(40).unwrap().unwrap().hash().to_hex());
    // The magnet lot did not exist yet.
    assert_eq!(
        origin_report(&reader, &past.ledger, "JP-MAG-2025-0001", &OriginOptions::default()).unwrap_err(),
        ExportError::LotNotFound { lot: "JP-MAG-2025-0001".into() }
    );
    let empty = Fixture::new();
    assert!(origin_report(&empty.store.reader(), &empty.ledger, "X", &OriginOptions::default()).is_err());
}
