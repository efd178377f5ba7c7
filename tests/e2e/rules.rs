//! Every rejected event, over the CLI, prints its code and reason and leaves the head unchanged.

use std::path::Path;

use crate::support::*;

fn sample_ledger(dir: &Path) {
    let sample = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample/events.jsonl")).unwrap();
    let out = lode(dir, &["append"], &sample);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
}

fn head(dir: &Path) -> String {
    let v = json_line(&lode(dir, &["verify"], b""));
    assert_eq!(v["ok"], true, "{v}");
    v["head"].as_str().unwrap().to_string()
}

#[test]
fn rejected_events_print_their_code_and_leave_the_head_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    sample_ledger(&data);
    let before = head(&data);
    let t = "2025-05-01T00:00:00Z";
    let cases: Vec<(&str, String)> = vec![
        (
            "not_custodian",
            format!(r#"{{"type":"lot.moved","actor":"song-hong-mining","occurred_at":"{t}","data":{{"lot":"KR-NDPR-2025-0001-A","to_site":"vn-sep-plant"}}}}"#),
        ),
        (
            "insufficient_mass",
            format!(r#"{{"type":"lot.consumed","actor":"han-river-materials","occurred_at":"{t}","data":{{"lot":"KR-NDPR-2025-0001-A","mass_g":9995001,"reason":"sample"}}}}"#),
        ),
        (
            "lot_not_found",
            format!(r#"{{"type":"lot.consumed","actor":"han-river-materials","occurred_at":"{t}","data":{{"lot":"NO-SUCH-LOT","mass_g":1,"reason":"sample"}}}}"#),
        ),
        (
            "party_exists",
            format!(r#"{{"type":"party.registered","actor":"lode-op","occurred_at":"{t}","data":{{"party":"daejeon-lab","name":"Again","roles":["lab"],"country":"KR"}}}}"#),
        ),
        (
            "occurred_in_future",
            r#"{"type":"lot.consumed","actor":"han-river-materials","occurred_at":"2999-01-01T00:00:00Z","data":{"lot":"KR-NDPR-2025-0001-A","mass_g":1,"reason":"sample"}}"#.to_string(),
        ),
        (
            "mass_unbalanced",
            format!(r#"{{"type":"lot.transformed","actor":"han-river-materials","occurred_at":"{t}","data":{{"process":"split","site":"kr-incheon-wh","inputs":[{{"lot":"KR-NDPR-2025-0001-A","mass_g":1000}}],"outputs":[{{"lot":"X-1","material":{{"form":"oxide","elements":["Nd","Pr"],"grade":"99.5%","hs_code":"284690"}},"mass_g":1001}}]}}}}"#),
        ),
        (
            "wrong_site_kind",
            format!(r#"{{"type":"lot.extracted","actor":"song-hong-mining","occurred_at":"{t}","data":{{"lot":"VN-ORE-9","site":"vn-sep-plant","material":{{"form":"ore"}},"mass_g":1000}}}}"#),
        ),
        (
            "unknown_field",
            format!(r#"{{"type":"lot.consumed","actor":"han-river-materials","occurred_at":"{t}","data":{{"lot":"KR-NDPR-2025-0001-A","mass_g":1,"reason":"sample","colour":"red"}}}}"#),
        ),
        (
            "version_conflict",
            format!(r#"{{"type":"lot.consumed","actor":"han-river-materials","occurred_at":"{t}","expected":{{"KR-NDPR-2025-0001-A":7}},"data":{{"lot":"KR-NDPR-2025-0001-A","mass_g":1,"reason":"sample"}}}}"#),
        ),
        (
            "not_an_integer",
            format!(r#"{{"type":"lot.consumed","actor":"han-river-materials","occurred_at":"{t}","data":{{"lot":"KR-NDPR-2025-0001-A","mass_g":1.5,"reason":"sample"}}}}"#),
        ),
        (
            "duplicate_key",
            format!(r#"{{"type":"lot.consumed","actor":"han-river-materials","actor":"lode-op","occurred_at":"{t}","data":{{"lot":"KR-NDPR-2025-0001-A","mass_g":1,"reason":"sample"}}}}"#),
        ),
        (
            "role_required",
            format!(r#"{{"type":"hold.placed","actor":"han-river-materials","occurred_at":"{t}","data":{{"lot":"VN-DY-2025-0001","reason":"investigation"}}}}"#),
        ),
    ];
    for (expected, event) in cases {
        let out = lode(&data, &["append"], event.as_bytes());
        assert_eq!(code(&out), 1, "{expected}: {}", String::from_utf8_lossy(&out.stderr));
        let summary = json_line(&out);
        let got = summary["rejected"]["code"].as_str().unwrap_or_default().to_string();
        // The store checks expected versions before the rules, so a version conflict is the
        // store's code; every other code comes from the rules.
        assert_eq!(got, expected, "{summary}");
        assert!(!summary["rejected"]["reason"].as_str().unwrap_or_default().is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected) && stderr.contains("line 1"), "{stderr}");
        assert_eq!(head(&data), before, "{expected} changed the head");
    }
    // And an accepted event does move it.
    let ok = format!(
        r#"{{"type":"lot.consumed","actor":"han-river-materials","occurred_at":"{t}","data":{{"lot":"KR-NDPR-2025-0001-A","mass_g":1000,"reason":"sample"}}}}"#
    );
    assert_eq!(code(&lode(&data, &["append"], ok.as_bytes())), 0);
    assert_ne!(head(&data), before);
    let lot = json_line(&lode(&data, &["lot", "KR-NDPR-2025-0001-A"], b""));
    assert_eq!(lot["mass_g"], 9_994_000);
}

#[test]
fn generated_histories_append_with_no_rejection_and_rebuild_to_the_same_projections() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let gen = lode(&data, &["generate", "--lots", "40", "--seed", "11"], b"");
    assert_eq!(code(&gen), 0);
    let again = lode(&data, &["generate", "--lots", "40", "--seed", "11"], b"");
    assert_eq!(gen.stdout, again.stdout, "the same seed gives the same history");
    let n = gen.stdout.iter().filter(|b| **b == b'\n').count() as u64;
    let out = lode(&data, &["append", "--batch", "97"], &gen.stdout);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_line(&out)["appended"], n);
    let v = json_line(&lode(&data, &["verify"], b""));
    assert_eq!((v["ok"].as_bool(), v["projections_match"].as_bool()), (Some(true), Some(true)), "{v}");
    let r = json_line(&lode(&data, &["rebuild"], b""));
    assert_eq!(r["projections"], v["projections"]);
    assert_eq!(r["rebuilt"], n);
}
