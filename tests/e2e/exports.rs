//! `lode export epcis`, `lode export csv`, `lode report origin` and `lode trace --format svg` on the
//! demo ledger, through the real binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::*;

const MAGNET: &str = "JP-MAG-2025-0001";
const MINE: &str = "vn-laichau-mine";

fn demo_ledger(dir: &Path) -> PathBuf {
    let data = dir.join("demo");
    let out = lode(&data, &["demo"], b"");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    data
}

fn ok(data: &Path, args: &[&str]) -> Output {
    let out = lode(data, args, b"");
    assert_eq!(code(&out), 0, "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_magnet_lots_lineage_picture_names_its_mine() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_ledger(dir.path());
    let svg = String::from_utf8(ok(&data, &["trace", MAGNET, "--format", "svg"]).stdout).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the picture is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    assert!(texts.contains(&MINE), "{texts:?}");
    assert!(texts.contains(&MAGNET), "{texts:?}");
    let forward = String::from_utf8(ok(&data, &["trace", "VN-CONC-2025-0001", "--forward", "--format", "svg"]).stdout);
    roxmltree::Document::parse(&forward.unwrap()).expect("well-formed");
    let out = lode(&data, &["trace", MAGNET, "--format", "svg", "--covered", "XX"], b"");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("\"XX\" is not an ISO 3166-1 alpha-2 country code"));
}

#[test]
fn epcis_exports_validate_and_bad_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_ledger(dir.path());
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/standards/epcis/EPCIS-JSON-Schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();

    let file = dir.path().join("magnet.jsonld");
    let out = ok(&data, &["export", "epcis", "--lot", MAGNET, "--ancestry", "--out", file.to_str().unwrap()]);
    let summary = json_line(&out);
    assert_eq!(summary["size"], 158);
    let text = std::fs::read_to_string(&file).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(validator.is_valid(&doc));
    assert_eq!(summary["exported"].as_u64().unwrap() as usize, doc["epcisBody"]["eventList"].as_array().unwrap().len());
    assert!(text.contains(&format!("https://id.lode.example/site/{MINE}")));
    // No temporary file is left beside it.
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains("partial")), "{names:?}");

    let whole =
        ok(&data, &["export", "epcis", "--from", "2025-07-01T00:00:00Z", "--base-uri", "https://ids.example.org"]);
    let doc: Value = serde_json::from_slice(&whole.stdout).unwrap();
    assert!(validator.is_valid(&doc));
    assert!(String::from_utf8_lossy(&whole.stdout).contains("https://ids.example.org/lot/"));

    for (args, code_wanted, says) in [
        (vec!["export", "epcis", "--base-uri", "ftp://ids.example.org/"], 2, "must start with https://"),
        (vec!["export", "epcis", "--from", "yesterday"], 2, "--from \"yesterday\" is not an RFC 3339"),
        (vec!["export", "epcis", "--ancestry"], 2, "--lot"),
        (vec!["export", "epcis", "--lot", "NO-SUCH-LOT"], 1, "no lot \"NO-SUCH-LOT\""),
        (vec!["export", "epcis", "--out", dir.path().to_str().unwrap()], 2, "is a directory"),
        (vec!["export", "csv", "shipments"], 2, "invalid value"),
    ] {
        let out = lode(&data, &args, b"");
        assert_eq!(code(&out), code_wanted, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn csv_tables_have_their_headers_and_exact_masses() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_ledger(dir.path());
    let file = dir.path().join("lots.csv");
    let summary = json_line(&ok(&data, &["export", "csv", "lots", "--out", file.to_str().unwrap()]));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("lot,form,elements,grade,hs_code,status,mass_kg,"), "{text}");
    assert_eq!(summary["exported"].as_u64().unwrap() as usize + 1, text.lines().count());
    let custody = String::from_utf8(ok(&data, &["export", "csv", "custody"]).stdout).unwrap();
    let short = custody.lines().find(|l| l.starts_with("SHP-VN-KR-2025-0004,VN-NDPR-2025-0004,")).unwrap();
    assert!(short.contains(",22000.000,") && short.contains(",21862.060,-137.940,"), "{short}");
    assert!(custody.lines().all(|l| !l.is_empty()) && custody.ends_with("\r\n"));
    let events = String::from_utf8(ok(&data, &["export", "csv", "events"]).stdout).unwrap();
    assert_eq!(events.lines().count(), 159);
}

#[test]
fn an_origin_report_signed_with_the_operators_key_verifies_against_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_ledger(dir.path());
    let prefix = dir.path().join("op");
    ok(&data, &["keygen", "--out", prefix.to_str().unwrap()]);
    let key = format!("{}.key", prefix.display());
    let public = format!("{}.pub", prefix.display());

    let report = json_line(&ok(&data, &["report", "origin", MAGNET, "--format", "json", "--key", &key]));
    assert_eq!(report["mines"][0]["mine"], MINE);
    assert_eq!(report["verdict"], "clear");
    assert_eq!(report["checkpoint"]["size"], 158);
    let note = report["checkpoint"]["note"].as_str().unwrap();
    assert!(note.starts_with("lode/demo\n158\n"), "{note}");
    let note_file = dir.path().join("report.note");
    std::fs::write(&note_file, note).unwrap();
    let verified = ok(&data, &["verify", "--checkpoint", note_file.to_str().unwrap(), "--key", &public]);
    assert_eq!(json_line(&verified)["checkpoint_size"], 158);

    // The report of the lot with Chinese content, as text; and rebuilt at an earlier size.
    let text = String::from_utf8(ok(&data, &["report", "origin", "KR-MAG-2025-0001"]).stdout).unwrap();
    assert!(text.contains("COVERED: a stage happened in a covered country"), "{text}");
    let at = json_line(&ok(&data, &["report", "origin", "VN-NDPR-2025-0001", "--format", "json", "--at", "40"]));
    assert_eq!(at["checkpoint"]["size"], 40);
    let csv = String::from_utf8(ok(&data, &["report", "origin", MAGNET, "--format", "csv"]).stdout).unwrap();
    assert!(csv.starts_with("lot,section,name,countries,ppm,covered,verdict,value\r\n"), "{csv}");

    for (args, code_wanted) in [
        (vec!["report", "origin", "NO-SUCH-LOT"], 1),
        (vec!["report", "origin", MAGNET, "--covered", "EU"], 2),
        (vec!["report", "origin", MAGNET, "--at", "999"], 2),
        (vec!["report", "origin", MAGNET, "--key", "/no/such.key"], 2),
    ] {
        let out = lode(&data, &args, b"");
        assert_eq!(code(&out), code_wanted, "{args:?}: {}", stderr(&out));
    }
}
