//! Merkle proofs (RFC 9162 with BLAKE3), made up and real.
//!
//! - `verify_inclusion` and `verify_consistency` never panic, whatever the sizes, indices, roots
//!   and proofs (of any length).
//! - For a tree of a size the fuzzer picks, built in memory leaf by leaf: the root read from the
//!   stored nodes is the appender's, an appender rebuilt from the nodes at any smaller size has
//!   that size's root, and the proofs the nodes give (inclusion of a picked leaf, consistency
//!   from a picked smaller size) verify; with any one byte of the proof, the leaf or a root
//!   changed, they do not.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lode_store::merkle::{self, Appender, MemoryNodes};
use lode_store::record::leaf_hash;
use lode_store::Hash;

/// The largest tree built per input: building it hashes about twice as many times.
const LEAVES_MAX: u64 = 1024;

#[derive(Arbitrary, Debug)]
struct Input {
    // Made-up proofs.
    leaf: [u8; 32],
    index: u64,
    size: u64,
    old: u64,
    root: [u8; 32],
    old_root: [u8; 32],
    proof: Vec<[u8; 32]>,
    // A real tree and what to pick and change in it.
    leaves: u16,
    salt: u8,
    pick_index: u64,
    pick_old: u64,
    flip_at: u16,
    flip_xor: u8,
}

/// Changes one byte of the hashes at `at` (counted over all their bytes) by a non-zero `xor`.
fn flip(hashes: &mut [Hash], at: u16, xor: u8) {
    let at = usize::from(at) % (hashes.len() * 32);
    hashes[at / 32].0[at % 32] ^= xor.max(1);
}

fuzz_target!(|input: Input| {
    let proof: Vec<Hash> = input.proof.iter().copied().map(Hash).collect();
    let (leaf, root, old_root) = (Hash(input.leaf), Hash(input.root), Hash(input.old_root));
    let _ = merkle::verify_inclusion(&leaf, input.index, input.size, &proof, &root);
    let _ = merkle::verify_consistency(input.old, input.size, &old_root, &root, &proof);

    let n = u64::from(input.leaves) % LEAVES_MAX + 1;
    let leaf_of = |i: u64| {
        let mut bytes = vec![input.salt];
        bytes.extend_from_slice(&i.to_be_bytes());
        leaf_hash(&bytes)
    };
    let (nodes, appender) = MemoryNodes::from_leaves((0..n).map(leaf_of));
    let root = appender.root();
    assert_eq!(merkle::root(&nodes, n), Some(root));
    assert_eq!(merkle::root(&nodes, n + 1), None, "a root beyond the tree");

    let m = input.pick_index % n;
    let path = merkle::inclusion_proof(&nodes, m, n).expect("every leaf of the tree has a proof");
    merkle::verify_inclusion(&leaf_of(m), m, n, &path, &root).expect("a real inclusion proof verifies");
    // [proof…, leaf, root], one byte changed.
    let mut parts: Vec<Hash> = path.iter().copied().chain([leaf_of(m), root]).collect();
    flip(&mut parts, input.flip_at, input.flip_xor);
    let (changed_root, rest) = parts.split_last().expect("the root is there");
    let (changed_leaf, changed_path) = rest.split_last().expect("the leaf is there");
    assert!(
        merkle::verify_inclusion(changed_leaf, m, n, changed_path, changed_root).is_err(),
        "an inclusion proof of leaf {m} of {n} verified with a byte changed"
    );

    let old = input.pick_old % n + 1;
    let rebuilt = Appender::from_store(&nodes, old).expect("every smaller tree is in the nodes");
    let old_root = merkle::root(&nodes, old).expect("every smaller tree has a root");
    assert_eq!(rebuilt.root(), old_root);
    let consistency = merkle::consistency_proof(&nodes, old, n).expect("every smaller tree has a proof");
    merkle::verify_consistency(old, n, &old_root, &root, &consistency).expect("a real consistency proof verifies");
    // [proof…, old root, new root], one byte changed.
    let mut parts: Vec<Hash> = consistency.iter().copied().chain([old_root, root]).collect();
    flip(&mut parts, input.flip_at, input.flip_xor);
    let (changed_new, rest) = parts.split_last().expect("the new root is there");
    let (changed_old, changed_proof) = rest.split_last().expect("the old root is there");
    assert!(
        merkle::verify_consistency(old, n, changed_old, changed_new, changed_proof).is_err(),
        "a consistency proof from {old} to {n} verified with a byte changed"
    );
});
