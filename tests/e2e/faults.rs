//! Faults of the machine under a ledger: a full disk, a read-only data directory, a missing or
//! damaged sled file, a data directory in use. Each ends with a clear error and exit code, no
//! panic, nothing acknowledged lost, and the ledger usable again once the fault is gone.
//!
//! The disk faults mount a small tmpfs, which needs the privilege to mount (the CI machine and
//! the development machines run the tests as root). Without it those two tests say so and fail,
//! rather than pass without having injected anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::serve::Server;
use crate::support::{code, json_line, lode, lode_bin};

const DEMO: &str = include_str!("../../data/demo/events.jsonl");

/// An event the demo ledger accepts.
const NEW_PARTY: &str = r#"{"type":"party.registered","actor":"lode-op","occurred_at":"2025-06-01T00:00:00Z","data":{"party":"new-party","name":"New","roles":["trader"],"country":"KR"}}"#;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A clear error: exit 1 or 2, a message, no panic.
fn assert_clear_failure(out: &Output, what: &str, mentions: &str) {
    let err = stderr(out);
    assert!(matches!(code(out), 1 | 2), "{what}: exit {} ({err})", code(out));
    assert!(!err.contains("panicked"), "{what}: a panic: {err}");
    assert!(err.to_lowercase().contains(&mentions.to_lowercase()), "{what}: {err:?} does not mention {mentions:?}");
}

/// `lode ARGS` with a short stall limit: sled can spin for ever on a damaged page, and the
/// command must then stop by itself with a clear error.
fn lode_stall_limited(dir: &Path, args: &[&str]) -> Output {
    Command::new(lode_bin()).arg("--data-dir").arg(dir).args(args).env("LODE_STALL_S", "5").output().unwrap()
}

fn verify_ok(dir: &Path) -> serde_json::Value {
    let out = lode(dir, &["verify"], b"");
    assert_eq!(code(&out), 0, "verify: {}", stderr(&out));
    json_line(&out)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_missing_or_damaged_sled_file_is_refused_never_taken_for_a_shorter_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    let out = lode(&good, &["append"], DEMO.as_bytes());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let head = verify_ok(&good)["head"].as_str().unwrap().to_string();

    // The db file gone: refused, and not replaced by a new empty ledger.
    let missing = tmp.path().join("missing");
    copy_dir(&good, &missing);
    std::fs::remove_file(missing.join("db")).unwrap();
    for args in [&["verify"][..], &["log"][..], &["append"][..]] {
        let out = lode(&missing, args, b"");
        assert_clear_failure(&out, &format!("{args:?} without db"), "missing");
    }
    assert!(!missing.join("db").exists(), "a new empty db was created in place of the lost one");
    std::fs::copy(good.join("db"), missing.join("db")).unwrap();
    assert_eq!(verify_ok(&missing)["head"], head.as_str(), "restored from the backup, it is whole again");

    // Bytes flipped anywhere in the db file: either the whole ledger is still read (sled keeps
    // several copies of what it rewrites), or it is refused. Never fewer records without an error.
    let len = std::fs::metadata(good.join("db")).unwrap().len();
    let mut refused = 0;
    for i in 0..24u64 {
        let damaged = tmp.path().join(format!("damaged-{i}"));
        copy_dir(&good, &damaged);
        let at = (len * i / 24).min(len - 16);
        let mut bytes = std::fs::read(damaged.join("db")).unwrap();
        for b in &mut bytes[at as usize..at as usize + 16] {
            *b ^= 0xff;
        }
        std::fs::write(damaged.join("db"), bytes).unwrap();
        let out = lode_stall_limited(&damaged, &["verify"]);
        if code(&out) == 0 {
            let v = json_line(&out);
            assert_eq!(
                (v["events"].as_u64(), v["head"].as_str()),
                (Some(158), Some(head.as_str())),
                "offset {at}: {v}"
            );
            let out = lode(&damaged, &["log"], b"");
            assert_eq!(code(&out), 0, "offset {at}: {}", stderr(&out));
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).lines().count(),
                158,
                "offset {at}: a shorter log was read"
            );
        } else {
            assert_clear_failure(&out, &format!("damage at offset {at}"), "");
            refused += 1;
        }
    }
    eprintln!("faults: damage at 24 offsets of the db file: {refused} refused, the rest read whole");
}

#[test]
fn a_data_directory_in_use_by_a_server_is_refused_and_usable_once_it_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let out = lode(&dir, &["append"], DEMO.as_bytes());
    assert_eq!(code(&out), 0);
    let mut s = Server::start(&dir, &[]);
    for args in [&["append"][..], &["verify"][..], &["rebuild"][..]] {
        let out = lode(&dir, args, DEMO.as_bytes());
        assert_clear_failure(&out, &format!("{args:?} while served"), "in use by another process");
    }
    let second = Command::new(lode_bin())
        .args(["--data-dir", dir.to_str().unwrap(), "serve", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_clear_failure(&second, "a second server", "in use by another process");
    assert!(s.stop().success());
    assert_eq!(verify_ok(&dir)["events"], 158);
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(at).output();
        match out {
            Ok(o) if o.status.success() => Tmpfs { at: at.to_path_buf() },
            Ok(o) => panic!("cannot mount a tmpfs to inject the fault (run as root): {}", stderr(&o)),
            Err(e) => panic!("cannot run mount to inject the fault: {e}"),
        }
    }

    fn remount(&self, options: &str) {
        let o = Command::new("mount").args(["-o", &format!("remount,{options}")]).arg(&self.at).output().unwrap();
        assert!(o.status.success(), "remount {options}: {}", stderr(&o));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

#[test]
fn a_full_disk_ends_with_a_clear_error_and_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    // The default reserve (64 MiB) leaves 8 MiB of this disk to the ledgers.
    let fs = Tmpfs::mount(&tmp.path().join("small"), "72m");
    let dir = fs.at.join("ledger");
    let out = lode(&dir, &["append"], DEMO.as_bytes());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let acknowledged = verify_ok(&dir)["head"].as_str().unwrap().to_string();

    // Far more than fits: a generated history of about 33,000 events (about 30 MB of ledger).
    let generated = lode(tmp.path(), &["generate", "--lots", "1000", "--seed", "7"], b"");
    assert_eq!(code(&generated), 0);
    let events: Vec<&str> = std::str::from_utf8(&generated.stdout).unwrap().lines().collect();
    // The generated history starts with its own operator: give it a ledger of its own.
    let dir2 = fs.at.join("second");
    let out = lode(&dir2, &["append"], events.join("\n").as_bytes());
    assert_clear_failure(&out, "append to a full disk", "");
    assert_clear_failure(&out, "append to a nearly full disk", "nearly full");

    // While the disk is full even opening a ledger fails (opening writes), clearly.
    let out = lode(&dir, &["verify"], b"");
    assert_clear_failure(&out, "verify on a full disk", "free some space");
    // Once there is room, the first ledger, acknowledged before the disk filled, is whole, and the
    // second opens, verifies, and takes the rest.
    fs.remount("size=256m");
    assert_eq!(verify_ok(&dir)["head"], acknowledged.as_str());
    let v = verify_ok(&dir2);
    let kept = v["events"].as_u64().unwrap();
    let out = lode(&dir2, &["append"], events.join("\n").as_bytes());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary = json_line(&out);
    assert_eq!(summary["duplicates"].as_u64(), Some(kept), "what was appended before the disk filled is kept");
    assert_eq!(verify_ok(&dir2)["events"].as_u64(), Some(events.len() as u64));
}

#[test]
fn a_read_only_data_directory_ends_with_a_clear_error_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&tmp.path().join("ro"), "256m");
    let dir = fs.at.join("ledger");
    let out = lode(&dir, &["append"], DEMO.as_bytes());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let head = verify_ok(&dir)["head"].as_str().unwrap().to_string();
    fs.remount("ro");
    let out = lode(&dir, &["append"], NEW_PARTY.as_bytes());
    assert_clear_failure(&out, "append to a read-only directory", "read-only");
    let served = Command::new(lode_bin())
        .args(["--data-dir", dir.to_str().unwrap(), "serve", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_clear_failure(&served, "serve a read-only directory", "read-only");
    fs.remount("rw");
    assert_eq!(verify_ok(&dir)["head"], head.as_str());
    let out = lode(&dir, &["append"], NEW_PARTY.as_bytes());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
