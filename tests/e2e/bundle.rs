//! `lode bundle` and `lode verify-bundle`: an audit bundle re-derives a lot's trace back and
//! custody chain without the ledger, and any record removed, added, reordered or altered, any
//! proof altered, or a checkpoint forged fails verification with exit 1.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::*;

const LOT: &str = "JP-MAG-2025-0001";
const MORE: &str = r#"{"type":"party.registered","actor":"lode-op","occurred_at":"2025-06-01T00:00:00Z","data":{"party":"late-trader","name":"Late Trader (fictional)","roles":["trader"],"country":"VN"}}"#;

fn ok(out: &Output) -> String {
    assert_eq!(code(out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Setup {
    tmp: tempfile::TempDir,
    data: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("ledger");
        ok(&lode(&data, &["demo"], b""));
        for (prefix, name) in [("op", "lode-operator"), ("other", "lode-operator")] {
            ok(&lode(tmp.path(), &["keygen", "--out", s(&tmp.path().join(prefix)), "--name", name], b""));
        }
        Setup { tmp, data }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `lode bundle LOT` signed with `key` (`op` or `other`), read back as JSON.
    fn bundle(&self, lot: &str, key: &str, name: &str, extra: &[&str]) -> Value {
        let (out, key) = (self.path(name), self.path(&format!("{key}.key")));
        let mut args = vec!["bundle", lot, "--out", s(&out), "--key", s(&key), "--origin", "lode/e2e"];
        args.extend_from_slice(extra);
        ok(&lode(&self.data, &args, b""));
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
    }

    fn checkpoint(&self, name: &str) -> PathBuf {
        let out = lode(&self.data, &["checkpoint", "--key", s(&self.path("op.key")), "--origin", "lode/e2e"], b"");
        let path = self.path(name);
        std::fs::write(&path, ok(&out)).unwrap();
        path
    }

    /// `lode verify-bundle` of `bundle`, written to a file, with no data directory.
    fn verify(&self, bundle: &Value, extra: &[&str]) -> Output {
        let file = self.path("checked.json");
        std::fs::write(&file, serde_json::to_vec(bundle).unwrap()).unwrap();
        let key = self.path("op.pub");
        let mut args = vec!["verify-bundle", s(&file), "--key", s(&key)];
        args.extend_from_slice(extra);
        // A data directory that does not exist: the bundle alone must do.
        lode(&self.path("no-ledger-here"), &args, b"")
    }

    fn rejected(&self, bundle: &Value, what: &str) -> String {
        let out = self.verify(bundle, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(code(&out), 1, "{what}: {stderr}");
        assert!(stderr.starts_with("lode: "), "{what}: {stderr}");
        stderr
    }
}

fn records(b: &mut Value) -> &mut Vec<Value> {
    b["records"].as_array_mut().unwrap()
}

#[test]
fn a_bundle_re_derives_the_trace_and_custody_without_the_ledger() {
    let t = Setup::new();
    let bundle = t.bundle(LOT, "op", "bundle.json", &[]);
    let out = t.verify(&bundle, &[]);
    let text = ok(&out);
    assert!(text.contains("vn-laichau-mine"), "{text}");
    assert!(text.contains("1,000,000 ppm"), "{text}");
    assert!(text.contains(&format!("Custody chain of {LOT}")), "{text}");
    assert!(!t.path("no-ledger-here").exists());

    // The JSON answers are exactly those the ledger gives.
    let v = json_line(&t.verify(&bundle, &["--format", "json"]));
    assert_eq!(v["ok"], true);
    assert_eq!(v["trace_back"]["origin"][0]["mine"], "vn-laichau-mine");
    assert_eq!(v["trace_back"]["origin"][0]["ppm"], 1_000_000);
    assert_eq!(v["trace_back"], json_line(&lode(&t.data, &["trace", LOT, "--format", "json"], b"")));
    assert_eq!(v["custody"], json_line(&lode(&t.data, &["custody", LOT, "--format", "json"], b"")));

    // Each record is stored as in the log, at its position, and the positions increase.
    let log = ok(&lode(&t.data, &["log"], b""));
    let lines: Vec<&str> = log.lines().collect();
    let mut last = 0;
    for r in bundle["records"].as_array().unwrap() {
        let p = r["position"].as_u64().unwrap();
        assert!(p > last);
        last = p;
        assert_eq!(r["record"].as_str().unwrap(), lines[p as usize - 1]);
    }
    // The bundle's checkpoint is a checkpoint `lode verify --checkpoint` accepts.
    let note = t.path("note.txt");
    std::fs::write(&note, bundle["checkpoint"].as_str().unwrap()).unwrap();
    ok(&lode(&t.data, &["verify", "--checkpoint", s(&note), "--key", s(&t.path("op.pub"))], b""));

    // Unreadable files are usage errors.
    let missing = t.path("missing.json");
    let out = lode(&t.data, &["verify-bundle", s(&missing), "--key", s(&t.path("op.pub"))], b"");
    assert_eq!(code(&out), 2);
}

#[test]
fn any_change_to_a_bundle_is_rejected() {
    let t = Setup::new();
    let bundle = t.bundle(LOT, "op", "bundle.json", &[]);
    ok(&t.verify(&bundle, &[]));
    let n = bundle["records"].as_array().unwrap().len();
    assert!(n > 10);

    // Any one record removed.
    for i in 0..n {
        let mut b = bundle.clone();
        records(&mut b).remove(i);
        t.rejected(&b, &format!("record {i} removed"));
    }

    // A record of another lot's bundle of the same log added, in position order: its proof is
    // valid, but the checkpoint does not sign it as part of this bundle.
    let other = t.bundle("DE-MAG-2025-0001", "op", "other-lot.json", &[]);
    let ours: Vec<u64> =
        bundle["records"].as_array().unwrap().iter().map(|r| r["position"].as_u64().unwrap()).collect();
    let extra = other["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| !ours.contains(&r["position"].as_u64().unwrap()))
        .expect("the other lot has records of its own")
        .clone();
    let mut b = bundle.clone();
    let at = ours.partition_point(|&p| p < extra["position"].as_u64().unwrap());
    records(&mut b).insert(at, extra.clone());
    let e = t.rejected(&b, "a record added");
    assert!(e.contains("added or removed"), "{e}");
    // Or in place of one of ours.
    let mut b = bundle.clone();
    records(&mut b).insert(at, extra);
    records(&mut b).remove(if at > 0 { at - 1 } else { at + 1 });
    t.rejected(&b, "a record replaced");

    // Two records swapped, and one duplicated.
    for i in [0, n / 2, n - 2] {
        let mut b = bundle.clone();
        records(&mut b).swap(i, i + 1);
        let e = t.rejected(&b, &format!("records {i} and {} swapped", i + 1));
        assert!(e.contains("strictly increase"), "{e}");
    }
    let mut b = bundle.clone();
    let dup = records(&mut b)[3].clone();
    records(&mut b).insert(4, dup);
    t.rejected(&b, "a record duplicated");

    // One byte of a record altered, at many places in several records.
    for i in [0, n / 3, n - 1] {
        let text = bundle["records"][i]["record"].as_str().unwrap().to_string();
        for at in (0..text.len()).step_by(17) {
            let mut bytes = text.clone().into_bytes();
            bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
            let mut b = bundle.clone();
            records(&mut b)[i]["record"] = Value::String(String::from_utf8(bytes).unwrap());
            let e = t.rejected(&b, &format!("record {i} byte {at} altered"));
            let position = bundle["records"][i]["position"].as_u64().unwrap();
            assert!(e.contains(&format!("record {position}")), "{e}");
        }
    }
    // The stated position changed.
    let mut b = bundle.clone();
    let p = b["records"][5]["position"].as_u64().unwrap();
    records(&mut b)[5]["position"] = Value::from(p + 1);
    t.rejected(&b, "a position altered");

    // A proof hash altered, or one dropped.
    let mut b = bundle.clone();
    let h = b["records"][2]["proof"][0].as_str().unwrap().to_string();
    let flipped = format!("{}{}", if h.starts_with('0') { '1' } else { '0' }, &h[1..]);
    records(&mut b)[2]["proof"][0] = Value::String(flipped);
    let e = t.rejected(&b, "a proof hash altered");
    assert!(e.contains("inclusion proof"), "{e}");
    let mut b = bundle.clone();
    records(&mut b)[2]["proof"].as_array_mut().unwrap().pop();
    t.rejected(&b, "a proof hash dropped");

    // The same checkpoint signed by another key of the same name.
    let forged = t.bundle(LOT, "other", "forged.json", &[]);
    assert_eq!(forged["records"], bundle["records"]);
    let mut b = bundle.clone();
    b["checkpoint"] = forged["checkpoint"].clone();
    let e = t.rejected(&b, "the checkpoint re-signed with another key");
    assert!(e.contains("another key"), "{e}");

    // The root altered (the signature no longer verifies).
    let note = bundle["checkpoint"].as_str().unwrap();
    let root = note.lines().nth(2).unwrap();
    let other_root = format!("{}{}", if root.starts_with('A') { 'B' } else { 'A' }, &root[1..]);
    let mut b = bundle.clone();
    b["checkpoint"] = Value::String(note.replacen(root, &other_root, 1));
    let e = t.rejected(&b, "the root altered");
    assert!(e.contains("bad signature"), "{e}");

    // The bundle's lot changed: the checkpoint signs another lot's bundle.
    let mut b = bundle.clone();
    b["lot"] = Value::String("JP-MAG-2025-0002".into());
    t.rejected(&b, "the lot changed");
}

#[test]
fn a_bundle_since_an_earlier_checkpoint_proves_the_log_extends_it() {
    let t = Setup::new();
    let before = t.bundle(LOT, "op", "before.json", &[]);
    let n = before["checkpoint"].as_str().unwrap().lines().nth(1).unwrap().parse::<u64>().unwrap();
    let earlier = t.checkpoint("earlier.txt");
    ok(&lode(&t.data, &["append"], MORE.as_bytes()));
    let later = t.checkpoint("later.txt");

    let bundle = t.bundle(LOT, "op", "since.json", &["--since", s(&earlier)]);
    let text = ok(&t.verify(&bundle, &["--since", s(&earlier)]));
    assert!(text.contains(&format!("extends the earlier checkpoint of {n} records")), "{text}");
    assert!(text.contains("vn-laichau-mine"), "{text}");
    let v = json_line(&t.verify(&bundle, &["--since", s(&earlier), "--format", "json"]));
    assert_eq!(v["since_size"], n);
    assert_eq!(v["checkpoint_size"], n + 1);

    // A checkpoint larger than the bundle's tree is refused.
    let out = t.verify(&before, &["--since", s(&later)]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    // So is another earlier checkpoint than the bundle's, and one the bundle does not carry.
    let out = t.verify(&bundle, &["--since", s(&later)]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let out = t.verify(&before, &["--since", s(&earlier)]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    // And an altered consistency proof.
    let mut b = bundle.clone();
    let h = b["since"]["proof"][0].as_str().unwrap().to_string();
    b["since"]["proof"][0] = Value::String(format!("{}{}", if h.starts_with('0') { '1' } else { '0' }, &h[1..]));
    let out = t.verify(&b, &["--since", s(&earlier)]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("consistency proof"));
}
