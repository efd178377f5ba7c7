//! The `lode-bench` command end to end, on a tiny history: every figure it promises is there,
//! and PostgreSQL without a server is skipped with the reason.

use std::process::Command;

#[test]
fn a_tiny_comparison_prints_every_figure_and_says_why_postgres_was_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json_path = dir.path().join("summary.json");
    let out = Command::new(env!("CARGO_BIN_EXE_lode-bench"))
        .args(["--lots", "2", "--runs", "1", "--single-events", "30", "--writers", "1,4", "--reads", "5"])
        .arg("--work")
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&json_path)
        .env_remove("LODE_BENCH_PG")
        .output()
        .expect("run lode-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("PostgreSQL skipped: no server given"), "{stdout}");
    assert!(stdout.contains("not Lode's custody rules"), "{stdout}");

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("the JSON file")).expect("JSON");
    assert_eq!(summary["systems"]["postgres"]["status"], "skipped");
    let events = summary["workload"]["events"].as_u64().expect("events");
    assert!(events > 50, "{events} events");
    let metrics = summary["metrics"].as_array().expect("metrics");
    for key in [
        "import_events_per_s",
        "single_1_events_per_s",
        "single_4_events_per_s",
        "verify_events_per_s",
        "reads_lots_per_s",
        "reads_p50_us",
        "reads_p99_us",
        "disk_bytes_per_event",
        "import_peak_mib",
    ] {
        let m = metrics.iter().find(|m| m["key"] == key).unwrap_or_else(|| panic!("no {key}"));
        for system in ["lode", "sqlite"] {
            let v = m["values"][system].as_f64().unwrap_or_else(|| panic!("{key}: no figure for {system}"));
            assert!(v > 0.0, "{key} {system}: {v}");
        }
        assert!(m["lode_vs_best_peer"].as_f64().is_some(), "{key}: no ratio");
    }
    // Lode's ceilings, measured on its own work alone, compared with the best peer.
    for key in [
        "import_ceiling_events_per_s",
        "verify_ceiling_events_per_s",
        "verify_work_ceiling_events_per_s",
        "verify_format_ceiling_events_per_s",
        "reads_ceiling_lots_per_s",
        "reads_sled_ceiling_lots_per_s",
    ] {
        let m = metrics.iter().find(|m| m["key"] == key).unwrap_or_else(|| panic!("no {key}"));
        let v = m["values"]["lode"].as_f64().unwrap_or_else(|| panic!("{key}: no figure"));
        assert!(v > 0.0, "{key}: {v}");
    }
    // Both systems imported and verified every event.
    for system in ["lode", "sqlite"] {
        assert_eq!(summary["runs"][system]["import"][0]["events"].as_u64(), Some(events), "{system}");
        assert_eq!(summary["runs"][system]["verify"][0]["events"].as_u64(), Some(events), "{system}");
    }
}
