//! The Merkle tree against an independent transcription of RFC 9162 §2.1: every tree size up to
//! 70, every leaf, every pair of sizes, proofs tampered with in every way, and trees near the
//! 2^63 limit.

use std::cell::Cell;
use std::collections::BTreeMap;

use lode_store::merkle::{self, Appender, MemoryNodes, NodeStore, ProofError, PROOF_HASHES_MAX, TREE_SIZE_MAX};
use lode_store::record::{self, Hash};

/// The largest tree tested exhaustively.
const N: usize = 70;

/// RFC 9162 §2.1 with BLAKE3, transcribed from the RFC's text without using `merkle`: the
/// recursive definitions of §2.1.1 (MTH), §2.1.3.1 (PATH), §2.1.4.1 (PROOF, SUBPROOF) and the
/// verification algorithms of §2.1.3.2 and §2.1.4.2.
mod rfc {
    use lode_store::record::Hash;

    pub fn hash(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }

    /// `MTH({d(0)}) = HASH(0x00 || d(0))`.
    pub fn leaf(data: &[u8]) -> Hash {
        hash(&[&[0x00][..], data].concat())
    }

    /// `HASH(0x01 || left || right)`.
    pub fn node(left: &Hash, right: &Hash) -> Hash {
        hash(&[&[0x01][..], &left.0[..], &right.0[..]].concat())
    }

    /// "k is the largest power of two smaller than n (i.e., k < n <= 2k)".
    fn k(n: usize) -> usize {
        let mut k = 1;
        while 2 * k < n {
            k *= 2;
        }
        assert!(k < n && n <= 2 * k);
        k
    }

    /// Here `d` holds the leaves' hashes `MTH({d(i)})`, not the inputs themselves.
    pub fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => hash(&[]),
            1 => d[0],
            n => {
                let k = k(n);
                node(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    /// `PATH(m, D[n])`.
    pub fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
        let n = d.len();
        assert!(m < n);
        if n == 1 {
            return vec![];
        }
        let k = k(n);
        if m < k {
            let mut p = path(m, &d[..k]);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// `PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`.
    pub fn proof(m: usize, d: &[Hash]) -> Vec<Hash> {
        subproof(m, d, true)
    }

    fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        assert!(0 < m && m <= n);
        if m == n {
            return if b { vec![] } else { vec![mth(d)] };
        }
        let k = k(n);
        if m <= k {
            let mut p = subproof(m, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = subproof(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }

    fn lsb(x: u64) -> bool {
        x & 1 == 1
    }

    /// §2.1.3.2, step by step.
    pub fn verify_inclusion(
        hash: &Hash,
        leaf_index: u64,
        tree_size: u64,
        inclusion_path: &[Hash],
        root_hash: &Hash,
    ) -> bool {
        // 1.
        if leaf_index >= tree_size {
            return false;
        }
        // 2.
        let mut fn_ = leaf_index;
        let mut sn = tree_size - 1;
        // 3.
        let mut r = *hash;
        // 4.
        for p in inclusion_path {
            // a.
            if sn == 0 {
                return false;
            }
            // b.
            if lsb(fn_) || fn_ == sn {
                r = node(p, &r);
                if !lsb(fn_) {
                    while !(lsb(fn_) || fn_ == 0) {
                        fn_ >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                r = node(&r, p);
            }
            // c.
            fn_ >>= 1;
            sn >>= 1;
        }
        // 5.
        sn == 0 && r == *root_hash
    }

    /// §2.1.4.2, step by step, for `0 < first < second`. Outside that range the RFC gives no
    /// algorithm: `PROOF(m, D[m])` is empty and proves that two equal roots are one tree; a
    /// proof from the empty tree or to a smaller tree does not exist.
    pub fn verify_consistency(
        first: u64,
        second: u64,
        first_hash: &Hash,
        second_hash: &Hash,
        consistency_path: &[Hash],
    ) -> bool {
        if first == 0 || first > second {
            return false;
        }
        if first == second {
            return consistency_path.is_empty() && first_hash == second_hash;
        }
        // 1.
        if consistency_path.is_empty() {
            return false;
        }
        // 2.
        let mut path = consistency_path.to_vec();
        if first.is_power_of_two() {
            path.insert(0, *first_hash);
        }
        // 3.
        let mut fn_ = first - 1;
        let mut sn = second - 1;
        // 4.
        if lsb(fn_) {
            while lsb(fn_) {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        // 5.
        let mut fr = path[0];
        let mut sr = path[0];
        // 6.
        for c in &path[1..] {
            // a.
            if sn == 0 {
                return false;
            }
            // b.
            if lsb(fn_) || fn_ == sn {
                fr = node(c, &fr);
                sr = node(c, &sr);
                if !lsb(fn_) {
                    while !(lsb(fn_) || fn_ == 0) {
                        fn_ >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                sr = node(&sr, c);
            }
            // c.
            fn_ >>= 1;
            sn >>= 1;
        }
        // 7.
        fr == *first_hash && sr == *second_hash && sn == 0
    }
}

/// A node store that counts its lookups.
struct Counting<S> {
    inner: S,
    lookups: Cell<usize>,
}

impl<S: NodeStore> Counting<S> {
    fn new(inner: S) -> Self {
        Self { inner, lookups: Cell::new(0) }
    }

    fn take(&self) -> usize {
        self.lookups.replace(0)
    }
}

impl<S: NodeStore> NodeStore for Counting<S> {
    fn node(&self, level: u8, index: u64) -> Option<Hash> {
        self.lookups.set(self.lookups.get() + 1);
        self.inner.node(level, index)
    }
}

/// Bits needed to write `n`: a tree of `n` leaves is that many levels deep, at most.
fn bits(n: u64) -> usize {
    (64 - n.leading_zeros()) as usize
}

/// Distinct leaves: the leaf hashes of distinct records.
fn leaves(n: usize) -> Vec<Hash> {
    (0..n).map(|i| rfc::leaf(format!("record {}", i + 1).as_bytes())).collect()
}

/// For each size 0..=n, the stored nodes of exactly that tree (no node that only a larger tree
/// completes).
fn stores(d: &[Hash]) -> Vec<MemoryNodes> {
    let mut tree = Appender::new();
    let mut nodes = MemoryNodes::new();
    let mut out = vec![nodes.clone()];
    for leaf in d {
        nodes.extend(tree.push(*leaf));
        out.push(nodes.clone());
    }
    out
}

fn junk() -> Hash {
    rfc::hash(b"not a node of this tree")
}

#[test]
fn hashes_are_the_rfc_ones_with_blake3() {
    assert_eq!(record::leaf_hash(b"a record"), rfc::leaf(b"a record"));
    let (a, b) = (rfc::leaf(b"a"), rfc::leaf(b"b"));
    assert_eq!(merkle::node_hash(&a, &b), rfc::node(&a, &b));
    assert_ne!(merkle::node_hash(&a, &b), merkle::node_hash(&b, &a));
    assert_eq!(merkle::empty_root(), rfc::hash(b""));
    assert_eq!(Appender::new().root(), rfc::hash(b""));
    assert_eq!(merkle::root(&MemoryNodes::new(), 0), Some(rfc::hash(b"")));
}

#[test]
fn roots_match_the_rfc_for_every_size() {
    let d = leaves(N);
    let stores = stores(&d);
    let mut cases = 0;
    for (n, nodes) in stores.iter().enumerate() {
        let store = Counting::new(nodes);
        for m in 0..=n {
            // The root of every earlier size, from the nodes of the size-n tree.
            assert_eq!(merkle::root(&store, m as u64), Some(rfc::mth(&d[..m])), "root of {m} in a tree of {n}");
            assert_eq!(store.take(), (m as u64).count_ones() as usize, "lookups for the root of {m}");
            cases += 1;
        }
        // A size the store does not hold yet.
        assert_eq!(merkle::root(nodes, n as u64 + 1), None);
    }
    assert_eq!(cases, (N + 1) * (N + 2) / 2);
}

#[test]
fn inclusion_proofs_match_the_rfc_and_verify() {
    let d = leaves(N);
    let stores = stores(&d);
    let mut cases = 0;
    for n in 1..=N {
        let store = Counting::new(&stores[n]);
        let root = rfc::mth(&d[..n]);
        for i in 0..n {
            let (index, size) = (i as u64, n as u64);
            let proof = merkle::inclusion_proof(&store, index, size).expect("every node is stored");
            assert!(store.take() <= 2 * bits(size), "lookups for leaf {i} of {n}");
            assert_eq!(proof, rfc::path(i, &d[..n]), "PATH({i}, D[{n}])");
            assert_eq!(merkle::verify_inclusion(&d[i], index, size, &proof, &root), Ok(()));
            assert!(rfc::verify_inclusion(&d[i], index, size, &proof, &root));
            cases += 1;
        }
        assert_eq!(merkle::inclusion_proof(&stores[n], n as u64, n as u64), None);
        assert_eq!(merkle::inclusion_proof(&stores[n], 0, n as u64 + 1), None, "a size beyond the store");
    }
    assert_eq!(cases, N * (N + 1) / 2);
}

#[test]
fn consistency_proofs_match_the_rfc_and_verify() {
    let d = leaves(N);
    let stores = stores(&d);
    let mut cases = 0;
    for n in 1..=N {
        let store = Counting::new(&stores[n]);
        let new_root = rfc::mth(&d[..n]);
        for m in 1..=n {
            let (old, new) = (m as u64, n as u64);
            let old_root = rfc::mth(&d[..m]);
            let proof = merkle::consistency_proof(&store, old, new).expect("every node is stored");
            assert!(store.take() <= 2 * bits(new) + 1, "lookups for {m} to {n}");
            assert_eq!(proof, rfc::proof(m, &d[..n]), "PROOF({m}, D[{n}])");
            assert_eq!(merkle::verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()));
            assert!(rfc::verify_consistency(old, new, &old_root, &new_root, &proof));
            cases += 1;
        }
        assert_eq!(merkle::consistency_proof(&stores[n], 1, n as u64 + 1), None, "a size beyond the store");
    }
    assert_eq!(cases, N * (N + 1) / 2);
}

/// Every way to spoil a proof with one change: each hash altered, each removed, one added at each
/// place (a junk hash, or a copy of its neighbour), each pair of hashes swapped.
fn spoiled(proof: &[Hash]) -> Vec<(String, Vec<Hash>)> {
    let mut out = Vec::new();
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i].0[i % 32] ^= 0x01;
        out.push((format!("hash {i} altered"), p));
        let mut p = proof.to_vec();
        p.remove(i);
        out.push((format!("hash {i} removed"), p));
    }
    for i in 0..=proof.len() {
        let mut p = proof.to_vec();
        p.insert(i, junk());
        out.push((format!("junk added at {i}"), p));
        if let Some(&copy) = proof.get(i).or(proof.last()) {
            let mut p = proof.to_vec();
            p.insert(i, copy);
            out.push((format!("a copy added at {i}"), p));
        }
    }
    for i in 0..proof.len() {
        for j in i + 1..proof.len() {
            assert_ne!(proof[i], proof[j], "a proof's hashes are distinct");
            let mut p = proof.to_vec();
            p.swap(i, j);
            out.push((format!("hashes {i} and {j} swapped"), p));
        }
    }
    out
}

#[test]
fn spoiled_inclusion_proofs_are_rejected() {
    let d = leaves(N + 1);
    let store = stores(&d).pop().expect("the full tree");
    let roots: Vec<Hash> = (0..=N + 1).map(|n| rfc::mth(&d[..n])).collect();
    let mut rejected = 0usize;
    let mut reject = |what: &str, leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash| {
        let verdict = merkle::verify_inclusion(leaf, index, size, proof, root);
        assert!(verdict.is_err(), "accepted {what}");
        assert!(!rfc::verify_inclusion(leaf, index, size, proof, root), "the RFC's algorithm accepted {what}");
        rejected += 1;
    };
    for n in 1..=N as u64 {
        let root = &roots[n as usize];
        for i in 0..n {
            let proof = merkle::inclusion_proof(&store, i, n).expect("stored");
            let leaf = &d[i as usize];
            for (how, p) in spoiled(&proof) {
                reject(&format!("leaf {i} of {n} with {how}"), leaf, i, n, &p, root);
            }
            // The right proof, put to another use.
            for other in 1..=N as u64 + 1 {
                if other != n && i < other {
                    let what = format!("leaf {i} of {n} as a proof in a tree of {other}");
                    reject(&what, leaf, i, other, &proof, &roots[other as usize]);
                }
                if other != n {
                    let what = format!("leaf {i} of {n} against the root of {other}");
                    reject(&what, leaf, i, n, &proof, &roots[other as usize]);
                }
            }
            for j in (0..n).filter(|&j| j != i) {
                reject(&format!("leaf {i} of {n} as leaf {j}"), leaf, j, n, &proof, root);
                reject(&format!("leaf {j} with the proof of leaf {i} of {n}"), &d[j as usize], i, n, &proof, root);
            }
            reject(&format!("leaf {i} of {n} against a junk root"), leaf, i, n, &proof, &junk());
            reject(&format!("leaf {i} of {n} as leaf {n}"), leaf, n, n, &proof, root);
        }
    }
    // 620,216 when written; the bound guards against loops that silently stopped running.
    assert!(rejected > 600_000, "only {rejected} spoiled proofs");
}

#[test]
fn spoiled_consistency_proofs_are_rejected() {
    let d = leaves(N + 1);
    let store = stores(&d).pop().expect("the full tree");
    let roots: Vec<Hash> = (0..=N + 1).map(|n| rfc::mth(&d[..n])).collect();
    let mut rejected = 0usize;
    let mut reject = |what: &str, old: u64, new: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]| {
        let verdict = merkle::verify_consistency(old, new, old_root, new_root, proof);
        assert!(verdict.is_err(), "accepted {what}");
        assert!(!rfc::verify_consistency(old, new, old_root, new_root, proof), "the RFC's algorithm accepted {what}");
        rejected += 1;
    };
    for n in 1..=N as u64 {
        let new_root = &roots[n as usize];
        for m in 1..=n {
            let old_root = &roots[m as usize];
            let proof = merkle::consistency_proof(&store, m, n).expect("stored");
            for (how, p) in spoiled(&proof) {
                reject(&format!("{m} to {n} with {how}"), m, n, old_root, new_root, &p);
            }
            for other in 1..=N as u64 + 1 {
                if other != n && m <= other {
                    let what = format!("{m} to {n} used as {m} to {other}");
                    reject(&what, m, other, old_root, &roots[other as usize], &proof);
                }
                if other != m && other <= n {
                    let what = format!("{m} to {n} used as {other} to {n}");
                    reject(&what, other, n, &roots[other as usize], new_root, &proof);
                }
                if other != n {
                    let what = format!("{m} to {n} against the new root of {other}");
                    reject(&what, m, n, old_root, &roots[other as usize], &proof);
                }
                if other != m {
                    let what = format!("{m} to {n} against the old root of {other}");
                    reject(&what, m, n, &roots[other as usize], new_root, &proof);
                }
            }
            reject(&format!("{m} to {n} against a junk old root"), m, n, &junk(), new_root, &proof);
            reject(&format!("{m} to {n} against a junk new root"), m, n, old_root, &junk(), &proof);
            if m != n {
                reject(&format!("{m} to {n} with the roots swapped"), m, n, new_root, old_root, &proof);
                reject(&format!("{m} to {n} as {n} to {m}"), n, m, new_root, old_root, &proof);
            }
            reject(&format!("{m} to {n} from the empty tree"), 0, n, &roots[0], new_root, &proof);
        }
    }
    // 686,874 when written; the bound guards against loops that silently stopped running.
    assert!(rejected > 650_000, "only {rejected} spoiled proofs");
}

#[test]
fn impossible_inputs_are_named() {
    let d = leaves(8);
    let (store, tree) = MemoryNodes::from_leaves(d.iter().copied());
    let root = tree.root();
    let proof = merkle::inclusion_proof(&store, 7, 8).expect("stored");

    // Inclusion.
    for (index, size) in [(8, 8), (9, 8), (0, 0), (u64::MAX, 8)] {
        assert_eq!(
            merkle::verify_inclusion(&d[7], index, size, &proof, &root),
            Err(ProofError::IndexOutOfRange { index, size })
        );
        assert_eq!(merkle::inclusion_proof(&store, index, size), None);
    }
    assert_eq!(
        merkle::verify_inclusion(&d[7], 7, 8, &proof[..2], &root),
        Err(ProofError::WrongLength { expected: 3, actual: 2 })
    );
    assert!(matches!(
        merkle::verify_inclusion(&d[6], 7, 8, &proof, &root),
        Err(ProofError::RootMismatch { expected, .. }) if expected == root
    ));
    assert_eq!(
        merkle::verify_inclusion(&d[7], 7, TREE_SIZE_MAX + 1, &proof, &root),
        Err(ProofError::SizeTooLarge { size: TREE_SIZE_MAX + 1, max: TREE_SIZE_MAX })
    );
    let long = vec![junk(); PROOF_HASHES_MAX + 1];
    assert_eq!(
        merkle::verify_inclusion(&d[7], 7, 8, &long, &root),
        Err(ProofError::TooLong { hashes: PROOF_HASHES_MAX + 1, max: PROOF_HASHES_MAX })
    );

    // Consistency.
    let old_root = merkle::root(&store, 3).expect("stored");
    let proof = merkle::consistency_proof(&store, 3, 8).expect("stored");
    assert_eq!(
        merkle::verify_consistency(8, 3, &root, &old_root, &proof),
        Err(ProofError::OldLargerThanNew { old: 8, new: 3 })
    );
    assert_eq!(merkle::consistency_proof(&store, 8, 3), None);
    for new in [0, 1, 8] {
        assert_eq!(merkle::verify_consistency(0, new, &merkle::empty_root(), &root, &[]), Err(ProofError::OldEmpty));
        assert_eq!(merkle::consistency_proof(&store, 0, new), None);
    }
    assert_eq!(merkle::verify_consistency(8, 8, &root, &root, &[]), Ok(()));
    assert_eq!(
        merkle::verify_consistency(8, 8, &root, &root, &proof[..1]),
        Err(ProofError::WrongLength { expected: 0, actual: 1 })
    );
    assert_eq!(
        merkle::verify_consistency(8, 8, &old_root, &root, &[]),
        Err(ProofError::NewRootMismatch { computed: old_root, expected: root })
    );
    assert_eq!(
        merkle::verify_consistency(3, 8, &old_root, &root, &[]),
        Err(ProofError::WrongLength { expected: proof.len(), actual: 0 })
    );
    assert!(matches!(
        merkle::verify_consistency(3, 8, &root, &root, &proof),
        Err(ProofError::OldRootMismatch { expected, .. }) if expected == root
    ));
    assert!(matches!(
        merkle::verify_consistency(3, 8, &old_root, &old_root, &proof),
        Err(ProofError::NewRootMismatch { expected, .. }) if expected == old_root
    ));
    assert_eq!(
        merkle::verify_consistency(3, TREE_SIZE_MAX + 1, &old_root, &root, &proof),
        Err(ProofError::SizeTooLarge { size: TREE_SIZE_MAX + 1, max: TREE_SIZE_MAX })
    );
    assert_eq!(
        merkle::verify_consistency(3, 8, &old_root, &root, &long),
        Err(ProofError::TooLong { hashes: PROOF_HASHES_MAX + 1, max: PROOF_HASHES_MAX })
    );
    assert_eq!(merkle::root(&store, TREE_SIZE_MAX + 1), None);
    assert_eq!(merkle::consistency_proof(&store, 3, TREE_SIZE_MAX + 1), None);
}

#[test]
fn appender_forms_every_complete_node_once() {
    let d = leaves(N);
    let mut tree = Appender::new();
    let mut formed: BTreeMap<(u8, u64), Hash> = BTreeMap::new();
    for (n, leaf) in d.iter().enumerate() {
        let out = tree.push(*leaf);
        assert_eq!(out[0], (0, n as u64, *leaf), "the leaf comes first");
        for (k, &(level, index, hash)) in out.iter().enumerate() {
            assert_eq!(level as usize, k, "then each parent, one level up");
            let (lo, hi) = ((index as usize) << level, ((index as usize) + 1) << level);
            assert_eq!(hi, n + 1, "a node completed by leaf {n} ends with it");
            assert_eq!(hash, rfc::mth(&d[lo..hi]), "node ({level}, {index})");
            assert!(formed.insert((level, index), hash).is_none(), "node ({level}, {index}) formed twice");
        }
        let size = n + 1;
        assert_eq!(tree.size(), size as u64);
        assert_eq!(tree.root(), rfc::mth(&d[..size]), "root of {size}");
        assert_eq!(tree.frontier().len(), size.count_ones() as usize);
        // Exactly the complete nodes of the tree so far: ⌊size / 2^L⌋ at each level L.
        let complete: usize = (0..7).map(|level| size >> level).sum();
        assert_eq!(formed.len(), complete);
    }
}

#[test]
fn appender_resumes_from_its_frontier_or_the_store() {
    let d = leaves(N);
    let mut whole = Appender::new();
    let whole_out: Vec<_> = d.iter().map(|leaf| (whole.push(*leaf), whole.root())).collect();
    let mut tree = Appender::new();
    let mut nodes = MemoryNodes::new();
    for at in 0..=N {
        let mut resumed = Appender::from_frontier(tree.size(), tree.frontier().to_vec());
        assert_eq!(resumed, tree);
        assert_eq!(Appender::from_store(&nodes, at as u64).as_ref(), Some(&tree), "from the store at {at}");
        for (leaf, expected) in d[at..].iter().zip(&whole_out[at..]) {
            let out = resumed.push(*leaf);
            assert_eq!((out, resumed.root()), *expected, "resumed at {at}");
        }
        assert_eq!(resumed, whole);
        if let Some(leaf) = d.get(at) {
            nodes.extend(tree.push(*leaf));
        }
    }
    assert_eq!(Appender::from_store(&nodes, N as u64 + 1), None, "a size beyond the store");
}

#[test]
fn a_frontier_that_does_not_fit_its_size_is_refused() {
    let h = junk();
    assert_eq!(Appender::try_from_frontier(0, vec![]), Some(Appender::new()));
    assert!(Appender::try_from_frontier(0, vec![h]).is_none());
    assert!(Appender::try_from_frontier(3, vec![h]).is_none());
    assert!(Appender::try_from_frontier(3, vec![h, h, h]).is_none());
    assert!(Appender::try_from_frontier(3, vec![h, h]).is_some());
    assert!(Appender::try_from_frontier(TREE_SIZE_MAX, vec![h]).is_some());
    assert!(Appender::try_from_frontier(TREE_SIZE_MAX + 1, vec![h, h]).is_none());
    assert!(Appender::from_store(&MemoryNodes::new(), TREE_SIZE_MAX + 1).is_none());
}

#[test]
#[should_panic(expected = "does not fit")]
fn from_frontier_panics_on_a_frontier_that_does_not_fit() {
    let _ = Appender::from_frontier(2, vec![]);
}

#[test]
#[should_panic(expected = "at most")]
fn a_full_tree_takes_no_more_leaves() {
    let mut tree = Appender::from_frontier(TREE_SIZE_MAX, vec![junk()]);
    let _ = tree.push(junk());
}

/// A consistent tree of up to 2^63 leaves, computed on demand: the leaves of each eighth of the
/// 2^63 are equal, so a node inside an eighth depends only on its level and eighth.
struct Huge;

impl Huge {
    const CLASS_BITS: u32 = 60;

    fn leaf(index: u64) -> Hash {
        rfc::leaf(format!("eighth {}", index >> Self::CLASS_BITS).as_bytes())
    }
}

impl NodeStore for Huge {
    fn node(&self, level: u8, index: u64) -> Option<Hash> {
        let level = u32::from(level);
        // 2^63 leaves have 2^(63 - L) nodes at level L.
        if level > 63 || index >= TREE_SIZE_MAX >> level {
            return None;
        }
        if level <= Self::CLASS_BITS {
            let mut h = Self::leaf(index << level);
            for _ in 0..level {
                h = rfc::node(&h, &h);
            }
            Some(h)
        } else {
            let left = self.node(level as u8 - 1, 2 * index)?;
            let right = self.node(level as u8 - 1, 2 * index + 1)?;
            Some(rfc::node(&left, &right))
        }
    }
}

#[test]
fn trees_near_the_size_limit() {
    let store = Counting::new(Huge);
    let sizes = [TREE_SIZE_MAX, TREE_SIZE_MAX - 1, (1 << 62) + 12_345, 1 << 62, (3 << 60) + 5, 1 << 61, 7];
    let mut roots = BTreeMap::new();
    for &size in &sizes {
        let root = merkle::root(&store, size).expect("a complete store");
        assert_eq!(store.take(), size.count_ones() as usize);
        let tree = Appender::from_store(&store, size).expect("a complete store");
        assert_eq!(store.take(), size.count_ones() as usize);
        assert_eq!(tree.root(), root);
        roots.insert(size, root);
        for index in [0, 1, size / 3, size - 2, size - 1] {
            let proof = merkle::inclusion_proof(&store, index, size).expect("a complete store");
            assert!(store.take() <= 2 * bits(size));
            assert!(proof.len() < PROOF_HASHES_MAX);
            let leaf = Huge::leaf(index);
            assert_eq!(merkle::verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
            assert!(rfc::verify_inclusion(&leaf, index, size, &proof, &root));
            let mut bad = proof.clone();
            bad[0].0[0] ^= 1;
            assert!(merkle::verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            assert!(!rfc::verify_inclusion(&leaf, index, size, &bad, &root));
        }
    }
    for (&old, old_root) in &roots {
        for (&new, new_root) in roots.range(old..) {
            let proof = merkle::consistency_proof(&store, old, new).expect("a complete store");
            assert!(store.take() <= 2 * bits(new) + 1);
            assert!(proof.len() <= PROOF_HASHES_MAX);
            assert_eq!(merkle::verify_consistency(old, new, old_root, new_root, &proof), Ok(()), "{old} to {new}");
            assert!(rfc::verify_consistency(old, new, old_root, new_root, &proof), "{old} to {new}");
            if let Some(last) = proof.len().checked_sub(1) {
                let mut bad = proof.clone();
                bad[last].0[31] ^= 1;
                assert!(merkle::verify_consistency(old, new, old_root, new_root, &bad).is_err());
                assert!(!rfc::verify_consistency(old, new, old_root, new_root, &bad));
            }
        }
    }
    // The last leaf a tree can take completes a node at every level.
    let mut tree = Appender::from_store(&store, TREE_SIZE_MAX - 1).expect("a complete store");
    let formed = tree.push(Huge::leaf(TREE_SIZE_MAX - 1));
    assert_eq!(formed.len(), 64);
    for (level, index, hash) in formed {
        assert_eq!(Some(hash), Huge.node(level, index), "node ({level}, {index})");
    }
    assert_eq!(tree.root(), roots[&TREE_SIZE_MAX]);
}

/// The worked example of `docs/format.md` section 6, checked with both implementations.
#[test]
fn the_documented_example_holds() {
    let hex = |h: &str| Hash::from_hex(h).expect("64 lowercase hex digits");
    let d = [
        hex("1ff621ee3430890e869728995a6cee4f2b0b61271bfc19b0092b06d778750ae8"),
        hex("3acbabc85b6b9ceff22334abe02e3752f93875f0c2fcdc7ef48ded6117df4170"),
        hex("732874dc36c7e6c2cb61920dc5740c9bd14b0495c6933217631c0191559e3fa1"),
    ];
    let root2 = hex("6564e87d8619ea09c801c567c641d47fe817ae3b2cf80685cde2eb6557247eca");
    let root3 = hex("6c62dd52a0971b7d00a7cead004e0c3f3c0766e3f5359a0f8297768d2b02d03c");
    assert_eq!(merkle::empty_root(), hex("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"));
    for (leaf, record) in d.iter().zip([&b"a"[..], b"b", b"c"]) {
        assert_eq!(*leaf, rfc::leaf(record));
    }
    assert_eq!(rfc::mth(&d[..2]), root2);
    assert_eq!(rfc::mth(&d), root3);
    let (store, tree) = MemoryNodes::from_leaves(d);
    assert_eq!(tree.root(), root3);
    assert_eq!(merkle::root(&store, 2), Some(root2));
    assert_eq!(merkle::inclusion_proof(&store, 1, 3), Some(vec![d[0], d[2]]));
    assert_eq!(merkle::inclusion_proof(&store, 2, 3), Some(vec![root2]));
    assert_eq!(merkle::consistency_proof(&store, 2, 3), Some(vec![d[2]]));
    assert_eq!(merkle::consistency_proof(&store, 1, 3), Some(vec![d[1], d[2]]));
    assert_eq!(merkle::verify_inclusion(&d[1], 1, 3, &[d[0], d[2]], &root3), Ok(()));
    assert_eq!(merkle::verify_consistency(1, 3, &d[0], &root3, &[d[1], d[2]]), Ok(()));
}
