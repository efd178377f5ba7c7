//! Running the `lode` binary and making events.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The binary under test.
pub fn lode_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lode"))
}

/// `lode --data-dir DIR ARGS…` with `stdin` as standard input.
pub fn lode(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(lode_bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("LODE_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lode binary runs");
    let mut input = child.stdin.take().expect("piped");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait for lode")
}

/// Parses the single JSON line a command printed.
pub fn json_line(out: &Output) -> Value {
    let s = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(s.trim()).unwrap_or_else(|e| {
        panic!("stdout is not one JSON line ({e}): {s:?}; stderr: {}", String::from_utf8_lossy(&out.stderr))
    })
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited with a code")
}

pub const T: &str = "2024-03-02T08:00:00Z";

/// The first event of every ledger: the operator registers itself.
pub fn operator() -> String {
    format!(
        r#"{{"id":"00000000-0000-7000-8000-000000000001","type":"party.registered","actor":"op","occurred_at":"{T}","data":{{"party":"op","name":"Ledger operator","roles":["operator"],"country":"KR"}}}}"#
    )
}

/// A valid event with a known id: the operator registers party `p-<n>`.
pub fn party(n: u64) -> String {
    format!(
        r#"{{"id":"{}","type":"party.registered","actor":"op","occurred_at":"{T}","data":{{"party":"p-{n}","name":"Trader {n}","roles":["trader"],"country":"VN"}}}}"#,
        id_of(n)
    )
}

pub fn id_of(n: u64) -> String {
    format!("00000000-0000-7000-9000-{n:012x}")
}

/// The ids of every record in the ledger, from `lode log`.
pub fn logged_ids(dir: &Path) -> Vec<String> {
    let out = lode(dir, &["log"], b"");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a record is JSON");
            v["id"].as_str().expect("id").to_string()
        })
        .collect()
}

/// A crash campaign's cycles (`LODE_CRASH_CYCLES`, else `default_cycles`) and seed
/// (`LODE_CRASH_SEED`, to replay a failing run; else from the clock).
pub fn campaign(default_cycles: u64) -> (u64, u64) {
    let cycles = std::env::var("LODE_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cycles);
    let seed = std::env::var("LODE_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::SystemTime::UNIX_EPOCH);
        now.expect("the clock is after 1970").as_nanos() as u64 | 1
    });
    (cycles, seed)
}
