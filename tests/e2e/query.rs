//! The query commands on the sample ledger: `lode trace`, `lode custody`, `lode audit`, `lode lots`
//! and `lode inventory --as-of/--format`.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::*;

fn sample_ledger(dir: &Path) {
    let sample = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample/events.jsonl")).unwrap();
    let out = lode(dir, &["append"], &sample);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Runs a command that must succeed and returns what it printed.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = lode(dir, args, b"");
    assert_eq!(code(&out), 0, "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    stdout(&out)
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

const SPLIT_LOT: &str = "KR-NDPR-2025-0001-A";
const MINE_LOT: &str = "VN-ORE-2025-0001";

#[test]
fn trace_back_as_text_json_and_dot_reaches_the_mine() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    sample_ledger(&data);

    let text = ok(&data, &["trace", SPLIT_LOT]);
    assert!(text.starts_with(&format!("Trace back of {SPLIT_LOT}\n")), "{text}");
    for expected in [MINE_LOT, "vn-lc-mine-1", "100.0000%", "1,000,000 ppm", "separation", "19.990 t", "9.995 t"] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(!text.lines().any(|l| l.ends_with(' ')), "no trailing white space:\n{text}");

    let trace: Value = serde_json::from_str(&ok(&data, &["trace", SPLIT_LOT, "--format", "json"])).unwrap();
    assert_eq!(trace["lot"], SPLIT_LOT);
    assert_eq!(trace["origin"][0]["mine"], "vn-lc-mine-1");
    assert_eq!(trace["origin"][0]["ppm"], 1_000_000);
    assert_eq!(trace["origin"][0]["lots"][0], MINE_LOT);
    assert_eq!(trace["countries"][0]["country"], "VN");
    assert_eq!(trace["stages"][0]["stage"], "mining");
    assert_eq!(trace["stages"][0]["countries"][0], "VN");
    assert_eq!(trace["stages"][1]["countries"][0], "VN");
    assert_eq!(trace["stages"][2]["countries"].as_array().unwrap().len(), 0, "no metal stage yet");
    assert_eq!(trace["truncated"], false);
    let lots: Vec<&str> = trace["lots"].as_array().unwrap().iter().map(|l| l["lot"].as_str().unwrap()).collect();
    assert_eq!(lots, vec![SPLIT_LOT, "VN-NDPR-2025-0001", "VN-CONC-2025-0001", MINE_LOT]);
    let edge = trace["edges"].as_array().unwrap().iter().find(|e| e["process"] == "separation").unwrap();
    assert_eq!((edge["input_g"].as_u64(), edge["output_g"].as_u64()), (Some(59_800_000), Some(20_000_000)));
    assert_eq!(edge["occurred_at"], "2025-03-10T07:00:00Z");
    assert_eq!(edge["site"], "vn-sep-plant");

    let dot = ok(&data, &["trace", SPLIT_LOT, "--format", "dot"]);
    assert!(dot.starts_with("digraph lineage {"), "{dot}");
    assert!(dot.contains(&format!("\"mine:vn-lc-mine-1\" -> \"{MINE_LOT}\"")), "{dot}");
    assert!(dot.contains("\"VN-CONC-2025-0001\" -> \"VN-NDPR-2025-0001\" [label=\"separation at vn-sep-plant (VN)\\n2025-03-10\\n59.800 t → 20.000 t\"];"), "{dot}");
    assert!(dot.trim_end().ends_with('}'));
}

#[test]
fn trace_forward_lists_every_lot_made_from_a_mine_lot_and_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    sample_ledger(&data);
    let trace: Value = serde_json::from_str(&ok(&data, &["trace", MINE_LOT, "--forward", "--format", "json"])).unwrap();
    let lots: Vec<(&str, &str, &str, &str)> = trace["lots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["lot"].as_str().unwrap(),
                l["status"].as_str().unwrap(),
                l["custodian"].as_str().unwrap(),
                l["site"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(lots.contains(&(SPLIT_LOT, "active", "han-river-materials", "kr-incheon-wh")), "{lots:?}");
    assert!(lots.contains(&("KR-NDPR-2025-0001-B", "active", "han-river-materials", "kr-incheon-wh")), "{lots:?}");
    assert!(lots.contains(&("VN-RES-2025-0001", "active", "song-hong-mining", "vn-sep-plant")), "{lots:?}");
    assert_eq!(lots[0].0, MINE_LOT);
    let text = ok(&data, &["trace", MINE_LOT, "--forward"]);
    assert!(text.starts_with(&format!("Trace forward (recall) of {MINE_LOT}\n")), "{text}");
    assert!(text.contains("KR-NDPR-2025-0001-B"), "{text}");
    let dot = ok(&data, &["trace", MINE_LOT, "--forward", "--format", "dot"]);
    assert!(dot.contains("\"VN-NDPR-2025-0001\" -> \"KR-NDPR-2025-0001-B\""), "{dot}");

    // Usage and lots that are not there.
    let out = lode(&data, &["trace", "NO-SUCH-LOT"], b"");
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no lot \"NO-SUCH-LOT\""));
    assert_eq!(code(&lode(&data, &["trace"], b"")), 2);
    assert_eq!(code(&lode(&data, &["trace", SPLIT_LOT, "--format", "png"], b"")), 2);
}

#[test]
fn custody_lists_the_handovers_with_their_masses_and_documents() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    sample_ledger(&data);
    let text = ok(&data, &["custody", SPLIT_LOT]);
    assert!(text.starts_with(&format!("Custody chain of {SPLIT_LOT}: 1 handover\n")), "{text}");
    for expected in [
        "1. SHP-2025-0001: VN-NDPR-2025-0001, received",
        "song-hong-mining at vn-haiphong-port (VN)",
        "han-river-materials at kr-incheon-wh (KR)",
        "east-sea-lines",
        "2025-03-15T07:00:00Z",
        "20.000 t",
        "19.990 t  (-10.000 kg, -0.050%)",
        "bill_of_lading ESL-HPH-ICN-250315 (listed when shipped)",
        "certificate_of_origin VN-CO-2025-00871",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let custody: Value = serde_json::from_str(&ok(&data, &["custody", SPLIT_LOT, "--format", "json"])).unwrap();
    let h = &custody["handovers"][0];
    assert_eq!(
        (h["shipment"].as_str(), h["lot"].as_str(), h["status"].as_str()),
        (Some("SHP-2025-0001"), Some("VN-NDPR-2025-0001"), Some("received"))
    );
    assert_eq!(
        (h["shipped_g"].as_u64(), h["received_g"].as_u64(), h["difference_g"].as_i64()),
        (Some(20_000_000), Some(19_990_000), Some(-10_000))
    );
    assert_eq!(
        (h["shipper"].as_str(), h["receiver"].as_str(), h["carrier"].as_str()),
        (Some("song-hong-mining"), Some("han-river-materials"), Some("east-sea-lines"))
    );
    assert!(h["shipped"]["seq"].as_u64().unwrap() < h["received"]["seq"].as_u64().unwrap());
    assert_eq!(h["documents"].as_array().unwrap().len(), 2);
    assert_eq!(code(&lode(&data, &["custody", "NO-SUCH-LOT"], b"")), 1);
}

#[test]
fn audit_exits_0_when_it_passes_1_when_it_does_not_or_the_lot_is_missing_and_2_on_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    sample_ledger(&data);

    let text = ok(&data, &["audit", SPLIT_LOT]);
    assert!(text.starts_with(&format!("Audit of {SPLIT_LOT}: passed\n")), "{text}");
    assert!(text.contains("clear: no stage in a covered country (CN, IR, KP, RU)"), "{text}");
    let audit: Value = serde_json::from_str(&ok(&data, &["audit", SPLIT_LOT, "--format", "json"])).unwrap();
    assert_eq!(audit["verdict"], "clear");
    assert_eq!(audit["findings"].as_array().unwrap().len(), 0);
    assert_eq!(audit["origin"][0]["ppm"], 1_000_000);
    let verdicts: Vec<&str> =
        audit["stages"].as_array().unwrap().iter().map(|s| s["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, vec!["clear", "clear", "not_reached", "not_reached"]);

    // Vietnam on the covered list: the audit is printed and fails.
    let out = lode(&data, &["audit", SPLIT_LOT, "--covered", "VN,CN", "--format", "json"], b"");
    assert_eq!(code(&out), 1);
    let audit: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(audit["verdict"], "covered");
    assert_eq!(audit["stages"][0]["covered"][0], "VN");
    assert!(String::from_utf8_lossy(&out.stderr).contains("covered countries at mining, separation"));

    // A finding fails it, and names its event.
    let adjust = r#"{"type":"lot.adjusted","actor":"han-river-materials","occurred_at":"2025-05-01T00:00:00Z","data":{"lot":"KR-NDPR-2025-0001-A","delta_g":-2500,"reason":"stocktake"}}"#;
    assert_eq!(code(&lode(&data, &["append"], adjust.as_bytes())), 0);
    let out = lode(&data, &["audit", SPLIT_LOT], b"");
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("Audit of KR-NDPR-2025-0001-A: did not pass"), "{text}");
    assert!(text.contains("adjustment") && text.contains("adjusted by -2.500 kg: stocktake"), "{text}");
    let audit: Value =
        serde_json::from_str(&stdout(&lode(&data, &["audit", SPLIT_LOT, "--format", "json"], b""))).unwrap();
    let finding = &audit["findings"][0];
    assert_eq!(
        (finding["kind"].as_str(), finding["seq"].as_u64(), finding["delta_g"].as_i64()),
        (Some("adjustment"), Some(19), Some(-2500))
    );
    let logged: Value = serde_json::from_str(stdout(&lode(&data, &["log", "--from", "19"], b"")).trim()).unwrap();
    assert_eq!(finding["event"], logged["id"]);
    // The sibling lot does not share the adjustment.
    assert_eq!(code(&lode(&data, &["audit", "KR-NDPR-2025-0001-B"], b"")), 0);

    let out = lode(&data, &["audit", "NO-SUCH-LOT"], b"");
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no lot \"NO-SUCH-LOT\""));
    let out = lode(&data, &["audit", SPLIT_LOT, "--covered", "CN,XX"], b"");
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"XX\" is not an ISO 3166-1 alpha-2 country code"));
    assert_eq!(code(&lode(&data, &["audit", SPLIT_LOT, "--format", "dot"], b"")), 2);
    assert_eq!(code(&lode(&dir.path().join("nothing-here"), &["audit", SPLIT_LOT], b"")), 2);
}

#[test]
fn inventory_as_of_a_past_position_or_time_and_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    sample_ledger(&data);
    let now = json_lines(&ok(&data, &["inventory"]));
    assert_eq!(json_lines(&ok(&data, &["inventory", "--format", "json"])), now, "JSON lines stay the default");
    assert_eq!(json_lines(&ok(&data, &["inventory", "--as-of", "18"])), now);

    // After the separation (position 12) and before the shipment: the concentrate is gone, the
    // oxides are at the separation plant.
    let at_13 = json_lines(&ok(&data, &["inventory", "--as-of", "13"]));
    let forms: Vec<(&str, &str, u64)> = at_13
        .iter()
        .map(|r| (r["site"].as_str().unwrap(), r["form"].as_str().unwrap(), r["active_g"].as_u64().unwrap()))
        .collect();
    assert_eq!(forms, vec![("vn-sep-plant", "oxide", 21_000_000), ("vn-sep-plant", "residue", 38_000_000)]);
    assert_eq!(json_lines(&ok(&data, &["inventory", "--as-of", "0"])).len(), 0);
    assert_eq!(json_lines(&ok(&data, &["inventory", "--as-of", "2020-01-01T00:00:00Z"])).len(), 0);
    assert_eq!(json_lines(&ok(&data, &["inventory", "--as-of", "2999-01-01T00:00:00+09:00"])), now);
    let party = json_lines(&ok(&data, &["inventory", "--as-of", "13", "--party", "han-river-materials"]));
    assert_eq!(party.len(), 0);

    let text = ok(&data, &["inventory", "--as-of", "13", "--format", "text"]);
    assert!(text.starts_with("Inventory as of position 13, recorded at "), "{text}");
    assert!(text.contains("song-hong-mining  vn-sep-plant  oxide    21.000 t"), "{text}");
    assert!(text.contains("total: 59.000 t active, 0.000 kg in transit"), "{text}");
    let text = ok(&data, &["inventory", "--format", "text"]);
    assert!(text.starts_with("Inventory now\n"), "{text}");

    let out = lode(&data, &["inventory", "--as-of", "19"], b"");
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("position 19 is beyond the head of the log at 18"));
    assert_eq!(code(&lode(&data, &["inventory", "--as-of", "last tuesday"], b"")), 2);
}

#[test]
fn lots_are_listed_by_party_material_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    sample_ledger(&data);
    let all = json_lines(&ok(&data, &["lots", "--format", "json"]));
    assert_eq!(all.len(), 7);
    let ids = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["lots", "--format", "json"];
        full.extend_from_slice(args);
        json_lines(&ok(&data, &full)).iter().map(|l| l["lot"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&["--party", "han-river-materials", "--status", "active"]), vec![SPLIT_LOT, "KR-NDPR-2025-0001-B"]);
    assert_eq!(ids(&["--material", "residue"]), vec!["VN-RES-2025-0001"]);
    assert_eq!(ids(&["--status", "closed", "--party", "song-hong-mining"]), vec!["VN-CONC-2025-0001", MINE_LOT]);
    let text = ok(&data, &["lots", "--material", "oxide", "--status", "active"]);
    assert!(text.lines().next().unwrap().starts_with("  lot "), "{text}");
    assert!(text.contains("KR-NDPR-2025-0001-A  oxide  active  9.995 t  han-river-materials  kr-incheon-wh"), "{text}");
    assert!(text.ends_with("3 lots\n"), "{text}");
    assert_eq!(code(&lode(&data, &["lots", "--status", "lost"], b"")), 2);
    assert_eq!(code(&lode(&data, &["lots", "--material", "gold"], b"")), 2);
    assert_eq!(code(&lode(&data, &["lots", "--party", "Not A Party"], b"")), 2);
}
