//! The ledger's basic commands: append, log, verify, export.

use crate::support::*;

#[test]
fn append_then_verify_export_and_verify_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let mut input = operator();
    input.push('\n');
    for n in 1..=30 {
        input.push_str(&party(n));
        input.push('\n');
    }
    let out = lode(&data, &["append", "-"], input.as_bytes());
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let summary = json_line(&out);
    assert_eq!(summary["appended"], 31);
    assert_eq!(summary["first_seq"], 1);
    assert_eq!(summary["last_seq"], 31);
    let head = summary["head"].as_str().unwrap().to_string();

    let v = json_line(&lode(&data, &["verify"], b""));
    assert_eq!(
        (v["ok"].as_bool(), v["events"].as_u64(), v["head"].as_str()),
        (Some(true), Some(31), Some(head.as_str()))
    );

    // Retrying the same input appends nothing and returns the same head.
    let again = json_line(&lode(&data, &["append", "-"], input.as_bytes()));
    assert_eq!((again["appended"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(31)));
    assert_eq!(again["head"].as_str(), Some(head.as_str()));

    let export = dir.path().join("log.jsonl");
    let out = lode(&data, &["export", "log", "--out", export.to_str().unwrap()], b"");
    assert_eq!(code(&out), 0);
    let v = json_line(&lode(&data, &["verify", "--log", export.to_str().unwrap(), "--head", &head, "--at", "31"], b""));
    assert_eq!(v["ok"], true);

    // An exported record changed by one byte fails at its position, with exit code 1.
    let mut bytes = std::fs::read(&export).unwrap();
    let line_starts: Vec<usize> =
        std::iter::once(0).chain(bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1)).collect();
    let at = line_starts[9] + 60; // inside record 10
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    std::fs::write(&export, &bytes).unwrap();
    let out = lode(&data, &["verify", "--log", export.to_str().unwrap()], b"");
    assert_eq!(code(&out), 1);
    assert_eq!(json_line(&out)["position"], 10);

    // The log by lot-less records and by position.
    let out = lode(&data, &["log", "--from", "30", "--limit", "5"], b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

#[test]
fn a_rejected_event_names_its_line_keeps_what_came_before_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let input =
        format!("{}\n{}\n{}\n{}\n", operator(), party(1), party(1).replace("Trader 1", "Someone else"), party(2));
    let out = lode(&data, &["append"], input.as_bytes());
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let summary = json_line(&out);
    assert_eq!(summary["appended"], 2);
    assert_eq!(summary["rejected"]["line"], 3);
    assert_eq!(summary["rejected"]["code"], "id_conflict");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3"));
    assert_eq!(logged_ids(&data).len(), 2);

    // Malformed JSON, an unknown field, a float mass: each rejected, the head unchanged.
    let head = json_line(&lode(&data, &["verify"], b""))["head"].clone();
    for bad in [
        "{\"type\": \n".to_string(),
        party(3).replace("\"country\":\"VN\"", "\"country\":\"VN\",\"colour\":\"red\""),
        party(3).replace("\"actor\":\"op\"", "\"actor\":\"Op With Spaces\""),
    ] {
        let out = lode(&data, &["append"], bad.as_bytes());
        assert_eq!(code(&out), 1, "{bad}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(json_line(&out)["rejected"]["code"].is_string());
        assert_eq!(json_line(&lode(&data, &["verify"], b""))["head"], head);
    }
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    assert_eq!(code(&lode(&data, &["append", "/no/such/file"], b"")), 2);
    assert_eq!(code(&lode(&data, &["verify", "--head", "zz", "--at", "1"], b"")), 2);
    assert_eq!(code(&lode(&data, &["no-such-command"], b"")), 2);
}
