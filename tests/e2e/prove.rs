//! `lode prove`: proofs an auditor checks with nothing but BLAKE3 and RFC 9162's algorithm.

use crate::support::*;

fn h(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for p in parts {
        hasher.update(p);
    }
    *hasher.finalize().as_bytes()
}

fn unhex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// RFC 9162 §2.1.3.2, written from the RFC for this test.
fn verify_inclusion(leaf: [u8; 32], index: u64, size: u64, proof: &[[u8; 32]], root: [u8; 32]) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = h(&[&[1], p, &r]);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = h(&[&[1], &r, p]);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == root
}

#[test]
fn an_inclusion_proof_checks_out_with_blake3_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let sample = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample/events.jsonl")).unwrap();
    assert_eq!(code(&lode(&data, &["append"], &sample)), 0);
    for seq in [1u64, 7, 18] {
        let p = json_line(&lode(&data, &["prove", "inclusion", &seq.to_string()], b""));
        let record = lode(&data, &["log", "--from", &seq.to_string(), "--limit", "1"], b"").stdout;
        let leaf = h(&[&[0], record.strip_suffix(b"\n").unwrap()]);
        assert_eq!(p["leaf"].as_str().unwrap(), blake3::Hash::from(leaf).to_hex().as_str());
        let proof: Vec<[u8; 32]> = p["proof"].as_array().unwrap().iter().map(|x| unhex(x.as_str().unwrap())).collect();
        let root = unhex(p["root"].as_str().unwrap());
        assert!(verify_inclusion(leaf, seq - 1, 18, &proof, root), "record {seq}: {p}");
        // The same proof for another record, or a proof with a hash altered, does not.
        assert!(!verify_inclusion(leaf, seq % 18, 18, &proof, root));
        let mut bad = proof.clone();
        bad[0][0] ^= 1;
        assert!(!verify_inclusion(leaf, seq - 1, 18, &bad, root));
    }
    let c = json_line(&lode(&data, &["prove", "consistency", "5", "18"], b""));
    assert_eq!(c["new_root"], json_line(&lode(&data, &["prove", "inclusion", "1"], b""))["root"]);
    assert_eq!(code(&lode(&data, &["prove", "inclusion", "19"], b"")), 1);
    assert_eq!(code(&lode(&data, &["prove", "consistency", "9", "5"], b"")), 1);
}
