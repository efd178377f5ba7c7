//! Arbitrary text as a checkpoint note, a checkpoint body and key files; arbitrary bytes as an
//! audit bundle.
//!
//! - `checkpoint::parse_body`, `checkpoint::open` (with a fixed verifier), `Verifier::parse` and
//!   `SecretKey::parse` never panic.
//! - What they accept they would write back byte for byte: a parsed body's checkpoint parses from
//!   its own body to the same; a parsed key file is exactly what `to_text` writes (the final line
//!   feed aside); an opened note states what its body parses to.
//! - Signing any text as a body with the fixed key and opening the note accepts exactly the
//!   bodies `parse_body` accepts, with the same checkpoint.
//! - `bundle::parse` and `bundle::verify` never panic, neither on the bundle as given (whose
//!   signature a fuzzer cannot forge) nor on the same bundle rebuilt so that its tree, proofs and
//!   signature hold, which takes verification on to replaying its records.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lode_query::bundle::{self, Bundle, BundledRecord};
use lode_query::checkpoint::{self, Checkpoint, SecretKey, Verifier};
use lode_store::merkle::{self, MemoryNodes};
use lode_store::{record, Hash};

/// The largest tree a rebuilt bundle gets: building it hashes every position up to its last one.
const REBUILT_SIZE_MAX: u64 = 4096;

fn key() -> &'static SecretKey {
    static KEY: OnceLock<SecretKey> = OnceLock::new();
    KEY.get_or_init(|| SecretKey::from_seed("lode-fuzz", [7; 32]).expect("a valid key name"))
}

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| key().verifier())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    notes(&text);
    keys(&text);
    bundles(data);
});

fn notes(text: &str) {
    let parsed = checkpoint::parse_body(text);
    if let Ok(c) = &parsed {
        assert_eq!(checkpoint::parse_body(&checkpoint::body(c)).as_ref(), Ok(c), "a parsed body does not round-trip");
    }
    if let Ok(c) = checkpoint::open(text, verifier()) {
        assert_eq!(checkpoint::parse_body(bundle::body_of(text)), Ok(c), "an opened note states another body");
    }
    let signed = key().sign_body(text);
    let opened = checkpoint::open(&signed, verifier());
    assert_eq!(opened.ok(), parsed.ok(), "opening a signed body disagrees with parsing it");
}

fn keys(text: &str) {
    if let Ok(v) = Verifier::parse(text) {
        let written = v.to_text();
        assert!(
            written == text || written == format!("{text}\n"),
            "a verifier key reads from other text than it writes"
        );
        assert_eq!(Verifier::parse(&written), Ok(v));
    }
    if let Ok(k) = SecretKey::parse(text) {
        let written = k.to_text();
        assert!(written == text || written == format!("{text}\n"), "a secret key reads from other text than it writes");
        let again = SecretKey::parse(&written).expect("a written secret key parses");
        assert_eq!(again.verifier(), k.verifier());
    }
}

fn bundles(data: &[u8]) {
    let Ok(parsed) = bundle::parse(data) else {
        return;
    };
    let _ = bundle::verify(&parsed, verifier(), None);
    if let Some(rebuilt) = rebuilt(&parsed) {
        let _ = bundle::verify(&rebuilt, verifier(), None);
    }
}

/// `docs/format.md` §8: BLAKE3("lode-bundle/1" ‖ 0x0a ‖ lot ‖ 0x0a ‖ each position, 8 bytes big-endian).
fn manifest_hash(lot: &str, positions: impl Iterator<Item = u64>) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"lode-bundle/1\n");
    h.update(lot.as_bytes());
    h.update(b"\n");
    for p in positions {
        h.update(&p.to_be_bytes());
    }
    Hash(*h.finalize().as_bytes())
}

/// The bundle with a tree built over its records (at their positions when these strictly
/// increase, else at 1, 2, …; other positions get filler leaves), their proofs in that tree, and a
/// checkpoint naming its lot and positions, signed with the fixed key: everything that a fuzzer
/// cannot forge made to hold, so that verification reaches the records' replay.
fn rebuilt(b: &Bundle) -> Option<Bundle> {
    let increasing = b.records.windows(2).all(|w| w[0].position < w[1].position)
        && b.records.first().is_some_and(|r| r.position >= 1);
    let positions: Vec<u64> = if increasing {
        b.records.iter().map(|r| r.position).collect()
    } else {
        (1..=b.records.len() as u64).collect()
    };
    let size = *positions.last()?;
    if size > REBUILT_SIZE_MAX {
        return None;
    }
    let mut leaves: Vec<Hash> = (1..=size).map(|p| record::leaf_hash(format!("filler {p}").as_bytes())).collect();
    for (r, &p) in b.records.iter().zip(&positions) {
        leaves[usize::try_from(p - 1).ok()?] = record::leaf_hash(r.record.as_bytes());
    }
    let (nodes, appender) = MemoryNodes::from_leaves(leaves);
    let records = b
        .records
        .iter()
        .zip(&positions)
        .map(|(r, &p)| {
            let proof = merkle::inclusion_proof(&nodes, p - 1, size).expect("every position has a proof");
            BundledRecord { position: p, record: r.record.clone(), proof: proof.iter().map(Hash::to_hex).collect() }
        })
        .collect::<Vec<_>>();
    let checkpoint = Checkpoint { origin: "lode/fuzz".into(), size, root: appender.root(), chain_head: None };
    let mut body = checkpoint::body(&checkpoint);
    body.push_str(&format!(
        "lode-bundle {} {} {}\n",
        b.lot,
        records.len(),
        manifest_hash(&b.lot, positions.iter().copied()).to_hex()
    ));
    Some(Bundle {
        format: b.format.clone(),
        lot: b.lot.clone(),
        checkpoint: key().sign_body(&body),
        records,
        since: None,
    })
}
