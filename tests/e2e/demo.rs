//! `lode demo`, the README's first command: it loads the demo ledger and tells its story.

use crate::support::*;

#[test]
fn the_demo_traces_its_magnet_lot_back_to_the_vietnamese_mine_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = lode(&data, &["demo"], b"");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Loaded 158 events"), "{text}");
    assert!(text.contains("Trace back of JP-MAG-2025-0001"), "{text}");
    // The origin: all of it from the Vietnamese mine, and the four stages' countries.
    let origin_line = text.lines().find(|l| l.trim_start().starts_with("vn-laichau-mine")).unwrap();
    assert!(origin_line.contains("VN") && origin_line.contains("1,000,000 ppm"), "{origin_line}");
    for (stage, country) in [("mining", "VN"), ("separation", "VN"), ("metal", "KR"), ("magnet", "JP")] {
        assert!(
            text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == [stage, country]),
            "stage {stage} in {country}: {text}"
        );
    }
    assert!(text.contains("Audit of JP-MAG-2025-0001: passed"), "{text}");
    assert!(text.contains("Stages in a covered country (CN, RU, KP, IR): mining, separation"), "{text}");
    assert!(text.contains("ok: 158 records"), "{text}");

    // The trace the demo printed is what `lode trace` answers, as JSON, on the same ledger.
    let trace = json_line(&lode(&data, &["trace", "JP-MAG-2025-0001", "--format", "json"], b""));
    let mines: Vec<(String, u64)> = trace["origin"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["mine"].as_str().unwrap().to_string(), m["ppm"].as_u64().unwrap()))
        .collect();
    assert_eq!(mines, vec![("vn-laichau-mine".to_string(), 1_000_000)]);

    // Running it again is an idempotent retry: nothing appended twice.
    let again = lode(&data, &["demo"], b"");
    assert_eq!(code(&again), 0);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already held the demo's 158 events"));
    let v = json_line(&lode(&data, &["verify"], b""));
    assert_eq!((v["ok"].as_bool(), v["events"].as_u64()), (Some(true), Some(158)));
}
