//! `lode keygen`, `lode checkpoint` and `lode verify --checkpoint`: a signed note pins the log,
//! and a log that was rewritten or truncated since, or a note that was altered or signed by
//! another key, fails verification with exit 1.

use std::path::Path;

use crate::support::*;

fn sample() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample/events.jsonl")).unwrap()
}

const MORE: &str = r#"{"type":"party.registered","actor":"lode-op","occurred_at":"2025-06-01T00:00:00Z","data":{"party":"late-trader","name":"Late Trader (fictional)","roles":["trader"],"country":"VN"}}"#;

fn keygen(dir: &Path, prefix: &Path, name: &str) {
    let out = lode(dir, &["keygen", "--out", prefix.to_str().unwrap(), "--name", name], b"");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
}

fn checkpoint(data: &Path, key: &Path) -> String {
    let out = lode(data, &["checkpoint", "--key", key.to_str().unwrap(), "--origin", "lode/e2e"], b"");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn verify(data: &Path, note: &Path, key: &Path) -> std::process::Output {
    lode(data, &["verify", "--checkpoint", note.to_str().unwrap(), "--key", key.to_str().unwrap()], b"")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_checkpoint_pins_the_log_against_rewriting_truncation_and_forgery() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, op, other) = (tmp.path().join("ledger"), tmp.path().join("op"), tmp.path().join("other"));
    keygen(tmp.path(), &op, "lode-operator");
    keygen(tmp.path(), &other, "lode-operator");
    // The secret is the owner's alone, and keygen never overwrites a key.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tmp.path().join("op.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let before = std::fs::read(tmp.path().join("op.key")).unwrap();
    assert_eq!(code(&lode(tmp.path(), &["keygen", "--out", op.to_str().unwrap()], b"")), 2);
    assert_eq!(std::fs::read(tmp.path().join("op.key")).unwrap(), before);
    let (key, public, other_public) =
        (tmp.path().join("op.key"), tmp.path().join("op.pub"), tmp.path().join("other.pub"));

    // An empty ledger has nothing to checkpoint.
    assert_eq!(code(&lode(&data, &["append"], b"")), 0);
    let empty = lode(&data, &["checkpoint", "--key", key.to_str().unwrap()], b"");
    assert_ne!(code(&empty), 0);

    assert_eq!(code(&lode(&data, &["append"], &sample())), 0);
    let note = checkpoint(&data, &key);
    assert!(note.starts_with("lode/e2e\n18\n"), "{note}");
    assert!(note.contains("\n\n\u{2014} lode-operator "), "{note}");
    let at18 = json_line(&lode(&data, &["verify"], b""));
    assert!(note.contains(&format!("lode-chain-head 18 {}\n", at18["head"].as_str().unwrap())), "{note}");
    let saved = tmp.path().join("checkpoint-18.txt");
    std::fs::write(&saved, &note).unwrap();

    // The log grows; it still extends the checkpoint.
    assert_eq!(code(&lode(&data, &["append"], MORE.as_bytes())), 0);
    let out = verify(&data, &saved, &public);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json_line(&out);
    assert_eq!(v["ok"], true);
    assert_eq!(v["checkpoint_size"], 18);
    assert_eq!(v["events"], 19);
    let later = tmp.path().join("checkpoint-19.txt");
    std::fs::write(&later, checkpoint(&data, &key)).unwrap();
    assert_eq!(code(&verify(&data, &later, &public)), 0);

    // A ledger rebuilt from the sample with one event changed: its records differ.
    let rewritten = tmp.path().join("rewritten");
    let changed = String::from_utf8(sample()).unwrap().replacen("Song Hong Mining Group", "Song Hong Mining Grp", 1);
    assert_ne!(changed.as_bytes(), sample().as_slice());
    assert_eq!(code(&lode(&rewritten, &["append"], changed.as_bytes())), 0);
    let out = verify(&rewritten, &saved, &public);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(json_line(&out)["ok"], false);
    assert!(stderr(&out).contains("rewritten"), "{}", stderr(&out));
    // ... and it is shorter than the later checkpoint: truncated.
    let out = verify(&rewritten, &later, &public);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("truncated"), "{}", stderr(&out));

    // Another key, even under the same name, did not sign it.
    let out = verify(&data, &saved, &other_public);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("another key"), "{}", stderr(&out));

    // A size altered in the note: alone, the note no longer agrees with its chain head line;
    // altered in both places, the signature breaks.
    let altered = tmp.path().join("altered.txt");
    std::fs::write(&altered, note.replacen("\n18\n", "\n17\n", 1)).unwrap();
    let out = verify(&data, &altered, &public);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("malformed checkpoint"), "{}", stderr(&out));
    let both = note.replacen("\n18\n", "\n17\n", 1).replacen("lode-chain-head 18 ", "lode-chain-head 17 ", 1);
    std::fs::write(&altered, both).unwrap();
    let out = verify(&data, &altered, &public);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("bad signature"), "{}", stderr(&out));

    // A key file that is not a verifier key is a usage error.
    assert_eq!(code(&verify(&data, &saved, &key)), 2);
}
