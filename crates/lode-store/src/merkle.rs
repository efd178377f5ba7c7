//! The log as an RFC 9162 Merkle tree, hashed with BLAKE3: tree hashes, inclusion and consistency
//! proofs, and their verification.
//!
//! The tree over the first `n` records has the records' leaf hashes (`BLAKE3(0x00 ‖ record
//! bytes)`, [`leaf_hash`](crate::record::leaf_hash)) as its leaves, in log order: leaf index `i`
//! is the record with `seq` `i + 1`. An interior node is `BLAKE3(0x01 ‖ left ‖ right)`
//! ([`node_hash`]); a tree of `n > 1` leaves splits at the largest power of two smaller than `n`
//! (RFC 9162 §2.1.1). `docs/format.md` section 6 specifies it byte by byte.
//!
//! # Storable complete nodes
//!
//! A *complete node* at level `L` and index `i` is the tree hash of the `2^L` leaves
//! `[i·2^L, (i+1)·2^L)`; the leaves are the nodes of level 0. Once written, a complete node never
//! changes, so a store can keep them under `(level, index)` and answer for every tree size up to
//! its own. Every subtree in the RFC's recursive definitions whose size is a power of two is such
//! a node, so [`root`], [`inclusion_proof`] and [`consistency_proof`] read `O(log n)` stored nodes
//! through a [`NodeStore`] and hash the few incomplete subtrees on the fly.
//!
//! [`Appender`] keeps the right frontier (at most 64 hashes) and, for each appended leaf, returns
//! the leaf and the nodes it completed, which is exactly what a store has to write.
//!
//! [`verify_inclusion`] and [`verify_consistency`] are the algorithms of RFC 9162 §2.1.3.2 and
//! §2.1.4.2; they first check that the proof has exactly the length its sizes call for.
//!
//! ```
//! use lode_store::merkle::{self, Appender, MemoryNodes};
//! use lode_store::record::leaf_hash;
//!
//! let mut tree = Appender::new();
//! let mut nodes = MemoryNodes::new();
//! for record in [&b"one"[..], b"two", b"three"] {
//!     nodes.extend(tree.push(leaf_hash(record)));
//! }
//! let root = tree.root();
//! assert_eq!(merkle::root(&nodes, 3), Some(root));
//!
//! let proof = merkle::inclusion_proof(&nodes, 1, 3).unwrap();
//! merkle::verify_inclusion(&leaf_hash(b"two"), 1, 3, &proof, &root).unwrap();
//!
//! let old_root = merkle::root(&nodes, 2).unwrap();
//! let proof = merkle::consistency_proof(&nodes, 2, 3).unwrap();
//! merkle::verify_consistency(2, 3, &old_root, &root, &proof).unwrap();
//! ```

use std::collections::HashMap;

use crate::record::{Hash, NODE_PREFIX};

/// Largest tree size handled: 2^63 leaves. Sizes come from proofs and requests, so they are
/// bounded; a log can never come near it.
pub const TREE_SIZE_MAX: u64 = 1 << 63;

/// Most hashes a proof can hold: an inclusion proof holds at most 63 for a tree of
/// [`TREE_SIZE_MAX`] leaves, a consistency proof at most 64. Longer proofs are rejected before any
/// hashing.
pub const PROOF_HASHES_MAX: usize = 64;

/// A proof failed to verify, or its sizes make no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The proof holds more hashes than any proof can.
    #[error("the proof holds {hashes} hashes, the limit is {max}")]
    TooLong { hashes: usize, max: usize },
    /// A tree size over [`TREE_SIZE_MAX`].
    #[error("tree size {size} is over the limit of {max}")]
    SizeTooLarge { size: u64, max: u64 },
    /// An inclusion proof for a leaf the tree does not have (`index >= size`).
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("the old tree size {old} is larger than the new tree size {new}")]
    OldLargerThanNew { old: u64, new: u64 },
    /// A consistency proof from the empty tree: RFC 9162 defines none, since every tree extends
    /// the empty one; there is nothing to verify.
    #[error("the old tree is empty; RFC 9162 defines no consistency proof from it")]
    OldEmpty,
    /// The proof does not have the number of hashes that a proof for these sizes (and index) has.
    #[error("the proof holds {actual} hashes, a proof for these sizes holds {expected}")]
    WrongLength { expected: usize, actual: usize },
    /// An inclusion proof leads to another root than the one given.
    #[error("the proof leads to root {computed}, not to {expected}")]
    RootMismatch { computed: Hash, expected: Hash },
    /// A consistency proof does not lead to the old tree's root.
    #[error("the proof leads to old root {computed}, not to {expected}")]
    OldRootMismatch { computed: Hash, expected: Hash },
    /// A consistency proof does not lead to the new tree's root (for equal sizes: the two roots
    /// differ, `computed` being the old one).
    #[error("the proof leads to new root {computed}, not to {expected}")]
    NewRootMismatch { computed: Hash, expected: Hash },
}

/// Where complete nodes are kept: the node at `level` and `index` is the tree hash of leaves
/// `[index·2^level, (index+1)·2^level)`; level 0 holds the leaves.
pub trait NodeStore {
    /// The complete node, or `None` when it is not stored (for instance, not complete yet).
    fn node(&self, level: u8, index: u64) -> Option<Hash>;
}

impl<S: NodeStore + ?Sized> NodeStore for &S {
    fn node(&self, level: u8, index: u64) -> Option<Hash> {
        (**self).node(level, index)
    }
}

/// `BLAKE3(0x01 ‖ left ‖ right)`: an interior node (65 bytes hashed).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = NODE_PREFIX;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    Hash(*blake3::hash(&buf).as_bytes())
}

/// The root of the empty tree: BLAKE3 of no bytes (RFC 9162's `MTH({}) = HASH()`).
pub fn empty_root() -> Hash {
    Hash(*blake3::hash(&[]).as_bytes())
}

/// Maintains the tree as leaves are appended, in `O(log n)` time and space per leaf.
///
/// The state is the *right frontier*: the complete nodes that make up the tree of `size` leaves,
/// one for each bit set in `size`, from the most significant bit (the leftmost, largest subtree)
/// to the least. These are exactly the nodes [`root`] reads, so a store that keeps the nodes
/// [`Appender::push`] returns can rebuild the appender with [`Appender::from_store`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appender {
    size: u64,
    frontier: Vec<Hash>,
}

impl Appender {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes from a size and its frontier, as [`Appender::size`] and [`Appender::frontier`]
    /// returned them.
    ///
    /// # Panics
    ///
    /// If `frontier` does not hold one hash per bit set in `size`, or `size` is over
    /// [`TREE_SIZE_MAX`]. [`Appender::try_from_frontier`] does not panic.
    pub fn from_frontier(size: u64, frontier: Vec<Hash>) -> Self {
        let hashes = frontier.len();
        Self::try_from_frontier(size, frontier)
            .unwrap_or_else(|| panic!("a frontier of {hashes} hashes does not fit a tree of {size} leaves"))
    }

    /// Like [`Appender::from_frontier`], but `None` when the frontier does not fit the size.
    pub fn try_from_frontier(size: u64, frontier: Vec<Hash>) -> Option<Self> {
        (size <= TREE_SIZE_MAX && frontier.len() == size.count_ones() as usize).then_some(Self { size, frontier })
    }

    /// Rebuilds the appender of the tree of `size` leaves from its stored complete nodes, or
    /// `None` when one is missing or `size` is over [`TREE_SIZE_MAX`].
    pub fn from_store(store: &impl NodeStore, size: u64) -> Option<Self> {
        if size > TREE_SIZE_MAX {
            return None;
        }
        let frontier = decompose(0, size).map(|(level, index)| store.node(level, index)).collect::<Option<_>>()?;
        Some(Self { size, frontier })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The complete nodes that make up the tree, largest (leftmost) first.
    pub fn frontier(&self) -> &[Hash] {
        &self.frontier
    }

    /// Adds a leaf; returns the complete nodes newly formed as (level, index, hash), leaf first:
    /// the leaf at (0, old size), then each parent it completed, up to the last one formed.
    ///
    /// # Panics
    ///
    /// If the tree already has [`TREE_SIZE_MAX`] leaves.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        assert!(self.size < TREE_SIZE_MAX, "a tree holds at most {TREE_SIZE_MAX} leaves");
        let mut index = self.size;
        let mut level = 0u8;
        let mut hash = leaf;
        let mut formed = Vec::with_capacity(1 + index.trailing_ones() as usize);
        formed.push((level, index, hash));
        // Each low bit set in the old size is a complete node on the frontier that the new node
        // completes, smallest first.
        while index & 1 == 1 {
            let left = self.frontier.pop().expect("every bit set in the size has its node on the frontier");
            hash = node_hash(&left, &hash);
            index >>= 1;
            level += 1;
            formed.push((level, index, hash));
        }
        self.frontier.push(hash);
        self.size += 1;
        formed
    }

    /// The tree hash of all leaves pushed so far.
    pub fn root(&self) -> Hash {
        fold_right(&self.frontier)
    }
}

/// Complete nodes in memory, fed from [`Appender::push`]: for tests and for verifiers that
/// rebuild a tree from records.
#[derive(Debug, Clone, Default)]
pub struct MemoryNodes {
    nodes: HashMap<(u8, u64), Hash>,
}

impl MemoryNodes {
    /// No nodes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The nodes of the tree over `leaves`, and the appender at its end.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> (Self, Appender) {
        let mut nodes = Self::new();
        let mut tree = Appender::new();
        for leaf in leaves {
            nodes.extend(tree.push(leaf));
        }
        (nodes, tree)
    }

    /// Stores one node, replacing any node at the same place.
    pub fn insert(&mut self, level: u8, index: u64, hash: Hash) {
        self.nodes.insert((level, index), hash);
    }

    /// The number of nodes stored.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is stored.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl Extend<(u8, u64, Hash)> for MemoryNodes {
    fn extend<I: IntoIterator<Item = (u8, u64, Hash)>>(&mut self, nodes: I) {
        for (level, index, hash) in nodes {
            self.insert(level, index, hash);
        }
    }
}

impl NodeStore for MemoryNodes {
    fn node(&self, level: u8, index: u64) -> Option<Hash> {
        self.nodes.get(&(level, index)).copied()
    }
}

/// The root of the tree of the first `size` leaves, from stored complete nodes only: one node
/// per bit set in `size`. `None` when `size` is over [`TREE_SIZE_MAX`] or a node is missing
/// (as it is for a size beyond the stored tree).
pub fn root(store: &impl NodeStore, size: u64) -> Option<Hash> {
    if size > TREE_SIZE_MAX {
        return None;
    }
    subtree(store, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves: RFC 9162 §2.1.3.1's
/// `PATH(index, D[size])`, the sibling nearest the leaf first. `None` when `index >= size`,
/// `size` is over [`TREE_SIZE_MAX`] or a node is missing.
pub fn inclusion_proof(store: &impl NodeStore, index: u64, size: u64) -> Option<Vec<Hash>> {
    if size > TREE_SIZE_MAX || index >= size {
        return None;
    }
    inclusion_ranges(index, size).into_iter().map(|(lo, hi)| subtree(store, lo, hi)).collect()
}

/// The consistency proof from the tree of `old` leaves to the tree of `new` leaves: RFC 9162
/// §2.1.4.1's `PROOF(old, D[new])` (empty when `old == new`). `None` when `old` is 0 (the RFC
/// defines no proof from the empty tree), `old > new`, `new` is over [`TREE_SIZE_MAX`] or a node
/// is missing.
pub fn consistency_proof(store: &impl NodeStore, old: u64, new: u64) -> Option<Vec<Hash>> {
    if new > TREE_SIZE_MAX || old > new || old == 0 {
        return None;
    }
    consistency_ranges(old, new).into_iter().map(|(lo, hi)| subtree(store, lo, hi)).collect()
}

/// Checks that `proof` shows `leaf` at `index` in the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2).
///
/// # Errors
///
/// [`ProofError::TooLong`], [`ProofError::SizeTooLarge`] or [`ProofError::IndexOutOfRange`]
/// for impossible inputs, [`ProofError::WrongLength`] when the proof does not hold exactly the
/// hashes `PATH(index, D[size])` holds, [`ProofError::RootMismatch`] when it leads elsewhere.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    check_len_max(proof)?;
    check_size(size)?;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_ranges(index, size).len();
    if proof.len() != expected {
        return Err(ProofError::WrongLength { expected, actual: proof.len() });
    }
    // RFC 9162 §2.1.3.2, step by step.
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength { expected, actual: proof.len() });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength { expected, actual: proof.len() });
    }
    if r != *root {
        return Err(ProofError::RootMismatch { computed: r, expected: *root });
    }
    Ok(())
}

/// Checks that `proof` shows the tree of `old` leaves with root `old_root` to be a prefix of the
/// tree of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2). For `old == new` the proof must
/// be empty and the roots equal.
///
/// # Errors
///
/// [`ProofError::TooLong`], [`ProofError::SizeTooLarge`], [`ProofError::OldLargerThanNew`] or
/// [`ProofError::OldEmpty`] for impossible inputs, [`ProofError::WrongLength`] when the proof
/// does not hold exactly the hashes `PROOF(old, D[new])` holds, and
/// [`ProofError::OldRootMismatch`] or [`ProofError::NewRootMismatch`] when it leads elsewhere.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    check_len_max(proof)?;
    check_size(new)?;
    if old > new {
        return Err(ProofError::OldLargerThanNew { old, new });
    }
    if old == 0 {
        return Err(ProofError::OldEmpty);
    }
    let expected = consistency_ranges(old, new).len();
    if proof.len() != expected {
        return Err(ProofError::WrongLength { expected, actual: proof.len() });
    }
    if old == new {
        // PROOF(m, D[m]) is empty: the trees are the same one.
        if old_root != new_root {
            return Err(ProofError::NewRootMismatch { computed: *old_root, expected: *new_root });
        }
        return Ok(());
    }
    // RFC 9162 §2.1.4.2, step by step. Step 1 (an empty proof fails) is covered by the length
    // check: for old < new the proof holds at least one hash.
    let (seed, rest) = if old.is_power_of_two() {
        (*old_root, proof)
    } else {
        let (first, rest) = proof.split_first().expect("the length check leaves at least one hash");
        (*first, rest)
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongLength { expected, actual: proof.len() });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength { expected, actual: proof.len() });
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch { computed: fr, expected: *old_root });
    }
    if sr != *new_root {
        return Err(ProofError::NewRootMismatch { computed: sr, expected: *new_root });
    }
    Ok(())
}

fn check_len_max(proof: &[Hash]) -> Result<(), ProofError> {
    if proof.len() > PROOF_HASHES_MAX {
        return Err(ProofError::TooLong { hashes: proof.len(), max: PROOF_HASHES_MAX });
    }
    Ok(())
}

fn check_size(size: u64) -> Result<(), ProofError> {
    if size > TREE_SIZE_MAX {
        return Err(ProofError::SizeTooLarge { size, max: TREE_SIZE_MAX });
    }
    Ok(())
}

/// The largest power of two smaller than `n`, for `n >= 2`: where RFC 9162 splits a tree.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The complete nodes, as (level, index), whose hashes make up the tree hash of the leaves
/// `[lo, hi)`, left to right: the largest power of two that fits first, then the rest. This is
/// RFC 9162's split applied again and again to the right part.
///
/// Every range the RFC's recursions reach is aligned: `lo` is a multiple of the smallest power of
/// two `>= hi - lo`, because a right part is never larger than its left sibling, a power of two.
fn decompose(lo: u64, hi: u64) -> impl Iterator<Item = (u8, u64)> {
    let mut at = lo;
    std::iter::from_fn(move || {
        if at >= hi {
            return None;
        }
        let level = 63 - (hi - at).leading_zeros();
        assert!(at.trailing_zeros() >= level, "the leaves [{lo}, {hi}) are not an RFC 9162 subtree");
        let node = (level as u8, at >> level);
        at += 1 << level;
        Some(node)
    })
}

/// `MTH(D[lo:hi])` from stored complete nodes.
fn subtree(store: &impl NodeStore, lo: u64, hi: u64) -> Option<Hash> {
    let parts = decompose(lo, hi).map(|(level, index)| store.node(level, index)).collect::<Option<Vec<_>>>()?;
    Some(fold_right(&parts))
}

/// The tree hash of consecutive subtrees, each at least twice as large as the next: they hang
/// off the right edge, so the last two join first.
fn fold_right(parts: &[Hash]) -> Hash {
    match parts.split_last() {
        None => empty_root(),
        Some((last, rest)) => rest.iter().rev().fold(*last, |acc, left| node_hash(left, &acc)),
    }
}

/// The leaf ranges whose tree hashes make up `PATH(index, D[size])`, in proof order (nearest the
/// leaf first). Requires `index < size`.
fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi) = (0, size);
    let mut ranges = Vec::with_capacity(64);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
        }
    }
    ranges.reverse();
    ranges
}

/// The leaf ranges whose tree hashes make up `PROOF(old, D[new])`, in proof order. Requires
/// `0 < old <= new`.
fn consistency_ranges(old: u64, new: u64) -> Vec<(u64, u64)> {
    // SUBPROOF(old - lo, D[lo:hi], whole): `old` stays inside (lo, hi].
    let (mut lo, mut hi, mut whole) = (0, new, true);
    let mut siblings = Vec::with_capacity(64);
    let mut own = None;
    while old != hi {
        let k = split(hi - lo);
        if old <= lo + k {
            siblings.push((lo + k, hi));
            hi = lo + k;
        } else {
            siblings.push((lo, lo + k));
            lo += k;
            whole = false;
        }
    }
    if !whole {
        // The old tree's part in this subtree is a whole subtree the verifier cannot know.
        own = Some((lo, hi));
    }
    own.into_iter().chain(siblings.into_iter().rev()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        for n in 2..=4096u64 {
            let k = split(n);
            assert!(k.is_power_of_two() && k < n && n <= 2 * k, "n = {n}, k = {k}");
        }
        assert_eq!(split(TREE_SIZE_MAX), 1 << 62);
        assert_eq!(split(TREE_SIZE_MAX - 1), 1 << 62);
        assert_eq!(split((1 << 62) + 1), 1 << 62);
    }

    #[test]
    fn proof_lengths_stay_within_the_limit() {
        let sizes = [1, 2, 3, (1 << 62) + 1, TREE_SIZE_MAX - 1, TREE_SIZE_MAX];
        for &size in &sizes {
            for index in [0, size / 2, size - 1] {
                assert!(inclusion_ranges(index, size).len() < PROOF_HASHES_MAX);
            }
            for &old in sizes.iter().filter(|&&old| old <= size) {
                assert!(consistency_ranges(old, size).len() <= PROOF_HASHES_MAX);
            }
        }
        assert_eq!(inclusion_ranges(TREE_SIZE_MAX - 1, TREE_SIZE_MAX).len(), 63);
        assert_eq!(consistency_ranges(TREE_SIZE_MAX - 1, TREE_SIZE_MAX).len(), 64);
        assert_eq!(consistency_ranges(3, TREE_SIZE_MAX).len(), 64);
    }

    #[test]
    fn empty_root_is_blake3_of_nothing() {
        assert_eq!(empty_root().to_hex(), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
    }
}
