//! RFC 6962 / RFC 9162 Merkle tree: hashing, the append frontier, and inclusion and
//! consistency proofs built from stored perfect subtrees and verified by recomputation.
//!
//! Invariant: only *perfect* subtrees (`node(level, index)`, covering exactly
//! `2^level` leaves) are ever stored or read. Every imperfect right-edge hash is
//! recomputed from the O(log n) perfect nodes under it, so a node, once written, never
//! changes, and no operation touches more than O(log n) nodes.
//!
//! Proof formats are exactly RFC 9162 §2.1.3 (inclusion: audit path, leaf to root)
//! and §2.1.4 (consistency). Verification follows §2.1.3.2 and §2.1.4.2 step by step;
//! it also computes the expected proof length up front so that a wrong-length proof is
//! reported with both numbers, which rejects exactly the proofs the RFC loop rejects
//! through its `sn` checks.

use sha2::digest::{OutputSizeUser, typenum::Unsigned};
use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Length of every hash in the tree.
pub const HASH_BYTES: usize = 32;

/// Domain-separation prefix of a leaf hash (RFC 6962 §2.1), so that no leaf can be
/// passed off as an interior node.
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash.
const NODE_PREFIX: u8 = 0x01;

/// Number of levels a tree of u64-counted leaves can have above its leaves: a perfect
/// subtree at level `l` holds `2^l` leaves, and sizes are below `2^64`.
const LEVELS_MAX: usize = 64;

const _: () = assert!(HASH_BYTES == <Sha256 as OutputSizeUser>::OutputSize::USIZE);

/// MTH of a one-leaf tree: SHA-256(0x00 || data).
pub fn hash_leaf(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([LEAF_PREFIX])
        .chain_update(data)
        .finalize()
        .into()
}

/// Interior node: SHA-256(0x01 || left || right).
pub fn hash_children(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([NODE_PREFIX])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// MTH of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Displays bytes as lowercase hex, for error messages.
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Failure to build a root, a frontier or a proof from stored nodes.
#[derive(Debug, thiserror::Error)]
pub enum MerkleError {
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof needs `0 < old_size <= new_size`.
    #[error(
        "consistency needs 0 < old size <= new size, found old size {old_size} and new size {new_size}"
    )]
    SizeOutOfRange { old_size: u64, new_size: u64 },
    #[error("node at level {level}, index {index} is not stored")]
    MissingNode { level: u32, index: u64 },
    #[error("node storage failed: {0}")]
    Storage(String),
}

/// Why a proof was rejected. Each message names the expected and the found value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size is 0 (new size {new_size}): an empty tree has no consistency proof")]
    OldSizeZero { new_size: u64 },
    #[error("old tree size {old_size} is greater than new tree size {new_size}")]
    OldGreaterThanNew { old_size: u64, new_size: u64 },
    #[error("proof has {found} hashes, expected {expected}")]
    WrongProofLength { expected: usize, found: usize },
    #[error("root mismatch: expected {}, calculated {}", Hex(.expected), Hex(.calculated))]
    RootMismatch { expected: Hash, calculated: Hash },
    #[error("old root mismatch: expected {}, calculated {}", Hex(.expected), Hex(.calculated))]
    OldRootMismatch { expected: Hash, calculated: Hash },
    #[error("new root mismatch: expected {}, calculated {}", Hex(.expected), Hex(.calculated))]
    NewRootMismatch { expected: Hash, calculated: Hash },
    /// Equal sizes are consistent only if the roots are the same.
    #[error("trees of equal size {size} have different roots: old {}, new {}", Hex(.old_root), Hex(.new_root))]
    EqualSizeRootsDiffer {
        size: u64,
        old_root: Hash,
        new_root: Hash,
    },
}

/// Source of perfect-subtree hashes: node(level, index) is the root of the perfect
/// subtree covering leaves [index << level, (index + 1) << level). Level 0 = leaf hashes.
pub trait NodeReader {
    fn node(&self, level: u32, index: u64) -> Result<Hash, MerkleError>;
}

/// The tree's right edge (compact range): one perfect-subtree hash per set bit of size.
///
/// `hashes` runs left to right, so the largest subtree (highest set bit of `size`)
/// comes first and the most recent leaf's subtree last.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Root of the tree; `empty_root()` when size 0. O(log n) hashes.
    pub fn root(&self) -> Hash {
        // The RFC tree splits at the largest power of two, so the root folds the
        // frontier from the right: the smallest subtree is the deepest right child.
        let mut hashes = self.hashes.iter().rev();
        let Some(last) = hashes.next() else {
            return empty_root();
        };
        hashes.fold(*last, |acc, left| hash_children(left, &acc))
    }

    /// Appends a leaf hash; calls `sink(level, index, hash)` for every perfect node that
    /// this append completes, the leaf itself (level 0) first, then its parents upward.
    ///
    /// # Panics
    /// If the tree already holds `u64::MAX` leaves: its size could not be counted.
    pub fn append(&mut self, leaf: Hash, mut sink: impl FnMut(u32, u64, &Hash)) {
        let index = self.size;
        let size = index
            .checked_add(1)
            .expect("merkle frontier is full: u64::MAX leaves");
        sink(0, index, &leaf);
        // Each trailing one bit of the old size is a perfect subtree of the same height
        // as the node we carry, sitting just to its left: merge them upward.
        let mut node = leaf;
        let mut level = 0u32;
        while (index >> level) & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("frontier holds one hash per set bit of size");
            node = hash_children(&left, &node);
            level += 1;
            sink(level, index >> level, &node);
        }
        self.hashes.push(node);
        self.size = size;
        debug_assert_eq!(self.hashes.len(), self.size.count_ones() as usize);
    }

    /// Rebuilds the frontier of a tree of `size` leaves from stored perfect nodes
    /// (O(log n) reads).
    pub fn load(size: u64, reader: &impl NodeReader) -> Result<Self, MerkleError> {
        let mut hashes = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        // Highest set bit first: the frontier's subtrees in left-to-right order.
        for level in (0..LEVELS_MAX as u32).rev() {
            if (size >> level) & 1 == 1 {
                hashes.push(reader.node(level, start >> level)?);
                start += 1 << level;
            }
        }
        debug_assert_eq!(start, size);
        Ok(Self { size, hashes })
    }
}

/// Hash of the leaves `[start, end)`, where `start` is a multiple of every power of two
/// not above `end - start` (true for `start == 0` and for a right-edge subtree that
/// starts on its own level's boundary). The range splits into one perfect subtree per
/// set bit of its width, largest first, and those fold from the right exactly as the
/// RFC's split at the largest power of two does. `None` for an empty range.
fn range_hash(start: u64, end: u64, reader: &impl NodeReader) -> Result<Option<Hash>, MerkleError> {
    let mut rest = end - start;
    let mut acc: Option<Hash> = None;
    while rest != 0 {
        let level = rest.trailing_zeros();
        // With the lowest bit cleared, `rest` is the sum of the larger subtrees, that is
        // this subtree's offset from `start`.
        rest &= rest - 1;
        let node = reader.node(level, (start + rest) >> level)?;
        acc = Some(match acc {
            None => node,
            Some(right) => hash_children(&node, &right),
        });
    }
    Ok(acc)
}

/// Root of the tree's first `size` leaves. O(log n) reads.
pub fn root_at(size: u64, reader: &impl NodeReader) -> Result<Hash, MerkleError> {
    Ok(range_hash(0, size, reader)?.unwrap_or_else(empty_root))
}

/// Number of hashes in the audit path of the node at `index` (on its own level) in a
/// tree that has `width` nodes on that level: `inner` siblings below the level where
/// the path joins the right edge, then one left sibling per set bit above it.
fn path_len(index: u64, width: u64) -> usize {
    debug_assert!(index < width);
    let inner = 64 - (index ^ (width - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Pushes the audit path of the perfect node `(level, index)` in the tree of `size`
/// leaves: its siblings from `level` up to the root, leaf side first. Siblings that lie
/// wholly inside the tree are read; the one right-edge sibling that is cut by `size`
/// is recomputed from the perfect nodes under it.
fn push_path(
    level: u32,
    index: u64,
    size: u64,
    reader: &impl NodeReader,
    out: &mut Vec<Hash>,
) -> Result<(), MerkleError> {
    let top = 64 - (size - 1).leading_zeros();
    let mut node = index;
    for l in level..top {
        let sibling = node ^ 1;
        node >>= 1;
        // No overflow: `node <= (size - 1) >> l`, and an even `node` is below the
        // level's last possible index, so its right sibling still starts below 2^64.
        let start = sibling << l;
        // A sibling past the end does not exist: the RFC tree promotes the lone child.
        if start >= size {
            continue;
        }
        let hash = if size - start >= 1 << l {
            reader.node(l, sibling)?
        } else {
            match range_hash(start, size, reader)? {
                Some(hash) => hash,
                None => unreachable!("start < size, so the range is not empty"),
            }
        };
        out.push(hash);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.1 inclusion proof (audit path) of leaf `index` in the tree of
/// `size` leaves, built from O(log n) node reads.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    reader: &impl NodeReader,
) -> Result<Vec<Hash>, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::with_capacity(path_len(index, size));
    push_path(0, index, size, reader, &mut proof)?;
    debug_assert_eq!(proof.len(), path_len(index, size));
    Ok(proof)
}

/// The largest perfect subtree that ends at `old_size`: its level and index. It is the
/// old tree's rightmost frontier node, and the consistency proof is its audit path in
/// the new tree (plus the node itself unless it is the whole old tree).
fn consistency_seed(old_size: u64) -> (u32, u64) {
    let level = old_size.trailing_zeros();
    (level, (old_size - 1) >> level)
}

/// RFC 9162 §2.1.4.1 consistency proof from the tree of `old_size` leaves to the tree
/// of `new_size` leaves, built from O(log n) node reads. Empty when the sizes are
/// equal; an error for `old_size == 0` (the RFC defines no proof from an empty tree)
/// and for `old_size > new_size`.
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    reader: &impl NodeReader,
) -> Result<Vec<Hash>, MerkleError> {
    if old_size == 0 || old_size > new_size {
        return Err(MerkleError::SizeOutOfRange { old_size, new_size });
    }
    if old_size == new_size {
        return Ok(Vec::new());
    }
    let expected = consistency_len(old_size, new_size);
    let (level, index) = consistency_seed(old_size);
    let mut proof = Vec::with_capacity(expected);
    // When the old tree is one perfect subtree, the verifier already holds its root,
    // so the RFC leaves it out of the proof.
    if index != 0 {
        proof.push(reader.node(level, index)?);
    }
    push_path(level, index, new_size, reader, &mut proof)?;
    debug_assert_eq!(proof.len(), expected);
    Ok(proof)
}

/// Length of the consistency proof for `0 < old_size < new_size`.
fn consistency_len(old_size: u64, new_size: u64) -> usize {
    let (level, index) = consistency_seed(old_size);
    let width = ((new_size - 1) >> level) + 1;
    usize::from(index != 0) + path_len(index, width)
}

/// RFC 9162 §2.1.3.2: recomputes the root from `leaf_hash` and its audit path and
/// compares it with `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    // Step 1.
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = path_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            found: proof.len(),
        });
    }
    // Steps 2 and 3.
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf_hash;
    // Step 4.
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                found: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = hash_children(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = hash_children(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    if s_n != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            found: proof.len(),
        });
    }
    if r != *root {
        return Err(ProofError::RootMismatch {
            expected: *root,
            calculated: r,
        });
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: recomputes both roots from the consistency proof and compares
/// them with `old_root` and `new_root`. Equal sizes need an empty proof and equal
/// roots; `old_size == 0` is rejected (the RFC requires `0 < first`; trust in a first
/// tree comes from its signed checkpoint, not from a proof).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 {
        return Err(ProofError::OldSizeZero { new_size });
    }
    if old_size > new_size {
        return Err(ProofError::OldGreaterThanNew { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                expected: 0,
                found: proof.len(),
            });
        }
        if old_root != new_root {
            return Err(ProofError::EqualSizeRootsDiffer {
                size: old_size,
                old_root: *old_root,
                new_root: *new_root,
            });
        }
        return Ok(());
    }
    // Step 1 (an empty proof) is covered here: the expected length is never 0.
    let expected = consistency_len(old_size, new_size);
    let wrong_length = ProofError::WrongProofLength {
        expected,
        found: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }
    // Step 2: a perfect old tree is its own seed; prepending is done by iterating a
    // chain of `old_root` and the proof, so nothing is allocated.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some(split) => split,
            None => return Err(wrong_length),
        }
    };
    // Step 3.
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    // Step 4.
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    let mut f_r = *seed;
    let mut s_r = *seed;
    // Step 6.
    for c in rest {
        if s_n == 0 {
            return Err(wrong_length);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = hash_children(c, &f_r);
            s_r = hash_children(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = hash_children(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7.
    if s_n != 0 {
        return Err(wrong_length);
    }
    if f_r != *old_root {
        return Err(ProofError::OldRootMismatch {
            expected: *old_root,
            calculated: f_r,
        });
    }
    if s_r != *new_root {
        return Err(ProofError::NewRootMismatch {
            expected: *new_root,
            calculated: s_r,
        });
    }
    Ok(())
}

/// In-memory perfect-node store (a Vec per level) for tests, the offline verifier and
/// benches; implements NodeReader.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is `node(l, i)`; every completed perfect node, nothing else.
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash and stores every perfect node it completes.
    pub fn push(&mut self, leaf: Hash) {
        let levels = &mut self.levels;
        self.frontier.append(leaf, |level, index, hash| {
            let level = level as usize;
            if levels.len() <= level {
                levels.push(Vec::new());
            }
            debug_assert_eq!(levels[level].len() as u64, index);
            levels[level].push(*hash);
        });
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }
}

impl NodeReader for MemoryTree {
    fn node(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        usize::try_from(level)
            .ok()
            .and_then(|l| self.levels.get(l))
            .zip(usize::try_from(index).ok())
            .and_then(|(nodes, i)| nodes.get(i))
            .copied()
            .ok_or(MerkleError::MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    // ---- helpers -------------------------------------------------------------------

    fn h(hex: &str) -> Hash {
        bytes(hex).try_into().expect("test vector is 32 bytes")
    }

    fn hs(hexes: &[&str]) -> Vec<Hash> {
        hexes.iter().map(|x| h(x)).collect()
    }

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("test vector is hex"))
            .collect()
    }

    fn tree_of(leaf_hashes: &[Hash]) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for leaf in leaf_hashes {
            tree.push(*leaf);
        }
        tree
    }

    // ---- RFC 6962 / transparency-dev test vectors ------------------------------------
    //
    // From transparency-dev/merkle `testonly/constants.go` (LeafInputs, NodeHashes,
    // RootHashes, CompactTrees) and `proof/verify_test.go` (inclusionProofs,
    // consistencyProofs), which carry over google/certificate-transparency's
    // merkle_tree_test.cc vectors. The Go tables number leaves from 1; here the
    // inclusion vectors use 0-based indices.

    const LEAF_INPUTS: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// Perfect-node hashes of the 8-leaf tree, by level then index.
    const NODE_HASHES: [&[&str]; 4] = [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];

    /// Roots of the trees of the first 0..=8 leaves.
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// (index, size, audit path).
    const INCLUSION_VECTORS: [(u64, u64, &[&str]); 5] = [
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// (old size, new size, consistency proof).
    const CONSISTENCY_VECTORS: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    /// An arbitrary hash that is no node of the vector tree (transparency-dev's
    /// `sha256SomeHash`).
    const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

    fn vector_leaves() -> Vec<Hash> {
        LEAF_INPUTS.iter().map(|x| hash_leaf(&bytes(x))).collect()
    }

    fn vector_tree() -> MemoryTree {
        tree_of(&vector_leaves())
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(empty_root(), h(ROOTS[0]));
        assert_eq!(Frontier::new().root(), h(ROOTS[0]));
        assert_eq!(MemoryTree::new().root(), h(ROOTS[0]));
        assert_eq!(root_at(0, &MemoryTree::new()).unwrap(), h(ROOTS[0]));
    }

    #[test]
    fn vector_leaf_and_node_hashes() {
        let tree = vector_tree();
        for (level, nodes) in NODE_HASHES.iter().enumerate() {
            for (index, expected) in nodes.iter().enumerate() {
                assert_eq!(
                    tree.node(level as u32, index as u64).unwrap(),
                    h(expected),
                    "node level {level} index {index}"
                );
            }
            // Nothing beyond the perfect nodes is stored.
            assert!(matches!(
                tree.node(level as u32, nodes.len() as u64),
                Err(MerkleError::MissingNode { .. })
            ));
        }
        assert_eq!(hash_leaf(b""), h(NODE_HASHES[0][0]));
    }

    #[test]
    fn vector_roots_for_every_size() {
        let leaves = vector_leaves();
        let full = vector_tree();
        let mut tree = MemoryTree::new();
        for (size, expected) in ROOTS.iter().enumerate() {
            let expected = h(expected);
            assert_eq!(tree.root(), expected, "incremental root at size {size}");
            assert_eq!(
                root_at(size as u64, &full).unwrap(),
                expected,
                "root_at({size})"
            );
            assert_eq!(
                Frontier::load(size as u64, &full).unwrap().root(),
                expected,
                "loaded frontier root at size {size}"
            );
            if let Some(leaf) = leaves.get(size) {
                tree.push(*leaf);
            }
        }
    }

    #[test]
    fn vector_compact_ranges() {
        // transparency-dev's CompactTrees: the frontier hashes for each size.
        let n = |level: usize, index: usize| h(NODE_HASHES[level][index]);
        let expected: [Vec<Hash>; 9] = [
            vec![],
            vec![n(0, 0)],
            vec![n(1, 0)],
            vec![n(1, 0), n(0, 2)],
            vec![n(2, 0)],
            vec![n(2, 0), n(0, 4)],
            vec![n(2, 0), n(1, 2)],
            vec![n(2, 0), n(1, 2), n(0, 6)],
            vec![n(3, 0)],
        ];
        let mut frontier = Frontier::new();
        for (size, want) in expected.iter().enumerate() {
            assert_eq!(&frontier.hashes, want, "frontier at size {size}");
            if let Some(leaf) = vector_leaves().get(size) {
                frontier.append(*leaf, |_, _, _| {});
            }
        }
    }

    #[test]
    fn append_reports_completed_nodes_leaf_first() {
        let mut frontier = Frontier::new();
        let mut calls = Vec::new();
        for leaf in vector_leaves() {
            frontier.append(leaf, |level, index, hash| calls.push((level, index, *hash)));
        }
        let n =
            |level: u32, index: u64| (level, index, h(NODE_HASHES[level as usize][index as usize]));
        let expected = vec![
            n(0, 0),
            n(0, 1),
            n(1, 0),
            n(0, 2),
            n(0, 3),
            n(1, 1),
            n(2, 0),
            n(0, 4),
            n(0, 5),
            n(1, 2),
            n(0, 6),
            n(0, 7),
            n(1, 3),
            n(2, 1),
            n(3, 0),
        ];
        assert_eq!(calls, expected);
    }

    #[test]
    fn vector_inclusion_proofs_build_and_verify() {
        let leaves = vector_leaves();
        let tree = vector_tree();
        for (index, size, path) in INCLUSION_VECTORS {
            let expected = hs(path);
            assert_eq!(
                inclusion_proof(index, size, &tree).unwrap(),
                expected,
                "inclusion proof for index {index} size {size}"
            );
            let root = h(ROOTS[size as usize]);
            verify_inclusion(&leaves[index as usize], index, size, &expected, &root)
                .unwrap_or_else(|e| panic!("index {index} size {size}: {e}"));
        }
    }

    #[test]
    fn vector_consistency_proofs_build_and_verify() {
        let tree = vector_tree();
        for (old, new, path) in CONSISTENCY_VECTORS {
            let expected = hs(path);
            assert_eq!(
                consistency_proof(old, new, &tree).unwrap(),
                expected,
                "consistency proof {old} -> {new}"
            );
            let (old_root, new_root) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
            verify_consistency(old, new, &old_root, &new_root, &expected)
                .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
        }
    }

    // ---- tampered twins ------------------------------------------------------------

    fn flip_bit(hash: &Hash, byte: usize, bit: u8) -> Hash {
        let mut out = *hash;
        out[byte] ^= 1 << bit;
        out
    }

    /// One tampered input to `verify_inclusion`.
    #[derive(Clone)]
    struct InclusionProbe {
        name: String,
        index: u64,
        size: u64,
        proof: Vec<Hash>,
        root: Hash,
        leaf: Hash,
    }

    /// Tampered twins of a good inclusion proof, each of which must be rejected
    /// (after transparency-dev's `corruptInclusionProof`, plus an empty proof).
    fn inclusion_twins(good: &InclusionProbe) -> Vec<InclusionProbe> {
        let twin = |name: &str, tamper: &dyn Fn(&mut InclusionProbe)| {
            let mut probe = good.clone();
            probe.name = name.to_string();
            tamper(&mut probe);
            probe
        };
        let (zero, some, root) = ([0u8; 32], h(SOME_HASH), good.root);
        let mut twins = vec![
            twin("index - 1", &|p| p.index = p.index.wrapping_sub(1)),
            twin("index + 1", &|p| p.index += 1),
            twin("index ^ 2", &|p| p.index ^= 2),
            twin("size * 2", &|p| p.size *= 2),
            twin("size / 2", &|p| p.size /= 2),
            twin("wrong leaf", &|p| p.leaf = hash_leaf(b"WrongLeaf")),
            twin("empty root", &|p| p.root = empty_root()),
            twin("random root", &|p| p.root = some),
            twin("root bit flipped", &|p| p.root = flip_bit(&p.root, 31, 0)),
            twin("trailing zero hash", &|p| p.proof.push(zero)),
            twin("trailing root", &|p| p.proof.push(root)),
            twin("preceding zero hash", &|p| p.proof.insert(0, zero)),
            twin("preceding root", &|p| p.proof.insert(0, root)),
            twin("empty proof", &|p| p.proof.clear()),
            twin("truncated proof", &|p| p.proof.truncate(p.proof.len() - 1)),
        ];
        for i in 0..good.proof.len() {
            let name = format!("proof[{i}] bit 3 flipped");
            twins.push(twin(&name, &|p| p.proof[i] = flip_bit(&p.proof[i], 0, 3)));
        }
        if good.proof.len() > 1 {
            twins.push(twin("inserted hash", &|p| p.proof.insert(1, some)));
        }
        twins
    }

    #[test]
    fn vector_inclusion_tampered_twins_are_rejected() {
        let leaves = vector_leaves();
        for (index, size, path) in INCLUSION_VECTORS.into_iter().skip(1) {
            let good = InclusionProbe {
                name: "good".into(),
                index,
                size,
                proof: hs(path),
                root: h(ROOTS[size as usize]),
                leaf: leaves[index as usize],
            };
            let verify =
                |p: &InclusionProbe| verify_inclusion(&p.leaf, p.index, p.size, &p.proof, &p.root);
            assert_eq!(verify(&good), Ok(()));
            for p in inclusion_twins(&good) {
                assert!(
                    verify(&p).is_err(),
                    "accepted tampered twin '{}' of inclusion ({index}, {size})",
                    p.name
                );
            }
        }
    }

    /// One tampered input to `verify_consistency`.
    #[derive(Clone)]
    struct ConsistencyProbe {
        name: String,
        old: u64,
        new: u64,
        proof: Vec<Hash>,
        old_root: Hash,
        new_root: Hash,
    }

    /// Tampered twins of a good consistency proof, each of which must be rejected
    /// (after transparency-dev's `corruptConsistencyProof`).
    fn consistency_twins(good: &ConsistencyProbe) -> Vec<ConsistencyProbe> {
        let twin = |name: &str, tamper: &dyn Fn(&mut ConsistencyProbe)| {
            let mut probe = good.clone();
            probe.name = name.to_string();
            tamper(&mut probe);
            probe
        };
        let zero = [0u8; 32];
        let wrong = hash_leaf(b"WrongRoot");
        let (old_root, new_root, first) = (good.old_root, good.new_root, good.proof[0]);
        let mut twins = vec![
            twin("old size - 1", &|p| p.old -= 1),
            twin("old size + 1", &|p| p.old += 1),
            twin("old size ^ 2", &|p| p.old ^= 2),
            twin("new size * 2", &|p| p.new *= 2),
            twin("new size / 2", &|p| p.new /= 2),
            twin("wrong old root", &|p| p.old_root = wrong),
            twin("wrong new root", &|p| p.new_root = wrong),
            twin("swapped roots", &|p| {
                std::mem::swap(&mut p.old_root, &mut p.new_root)
            }),
            twin("empty proof", &|p| p.proof.clear()),
            twin("trailing zero hash", &|p| p.proof.push(zero)),
            twin("trailing old root", &|p| p.proof.push(old_root)),
            twin("trailing new root", &|p| p.proof.push(new_root)),
            twin("preceding zero hash", &|p| p.proof.insert(0, zero)),
            twin("preceding old root", &|p| p.proof.insert(0, old_root)),
            twin("preceding new root", &|p| p.proof.insert(0, new_root)),
            twin("preceding proof[0]", &|p| p.proof.insert(0, first)),
            twin("truncated proof", &|p| p.proof.truncate(p.proof.len() - 1)),
        ];
        for i in 0..good.proof.len() {
            let name = format!("proof[{i}] bit 4 flipped");
            twins.push(twin(&name, &|p| p.proof[i] = flip_bit(&p.proof[i], 0, 4)));
        }
        twins
    }

    #[test]
    fn vector_consistency_tampered_twins_are_rejected() {
        for (old, new, path) in CONSISTENCY_VECTORS.into_iter().skip(1) {
            let good = ConsistencyProbe {
                name: "good".into(),
                old,
                new,
                proof: hs(path),
                old_root: h(ROOTS[old as usize]),
                new_root: h(ROOTS[new as usize]),
            };
            let verify = |p: &ConsistencyProbe| {
                verify_consistency(p.old, p.new, &p.old_root, &p.new_root, &p.proof)
            };
            assert_eq!(verify(&good), Ok(()));
            for p in consistency_twins(&good) {
                assert!(
                    verify(&p).is_err(),
                    "accepted tampered twin '{}' of consistency {old} -> {new}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn inclusion_errors_say_what_was_expected_and_found() {
        let leaves = vector_leaves();
        let root = h(ROOTS[8]);
        let proof = hs(INCLUSION_VECTORS[1].2);
        let check = |index: u64, size: u64, proof: &[Hash], root: &Hash, want: ProofError| {
            assert_eq!(
                verify_inclusion(&leaves[0], index, size, proof, root),
                Err(want)
            );
        };
        check(
            8,
            8,
            &proof,
            &root,
            ProofError::IndexOutOfRange { index: 8, size: 8 },
        );
        check(
            0,
            0,
            &[],
            &root,
            ProofError::IndexOutOfRange { index: 0, size: 0 },
        );
        check(
            0,
            8,
            &proof[..2],
            &root,
            ProofError::WrongProofLength {
                expected: 3,
                found: 2,
            },
        );
        check(
            0,
            8,
            &[proof.clone(), vec![[0; 32]]].concat(),
            &root,
            ProofError::WrongProofLength {
                expected: 3,
                found: 4,
            },
        );
        check(
            0,
            8,
            &[],
            &root,
            ProofError::WrongProofLength {
                expected: 3,
                found: 0,
            },
        );
        check(
            0,
            8,
            &proof,
            &empty_root(),
            ProofError::RootMismatch {
                expected: empty_root(),
                calculated: root,
            },
        );
        let message = ProofError::RootMismatch {
            expected: empty_root(),
            calculated: root,
        }
        .to_string();
        assert_eq!(
            message,
            format!(
                "root mismatch: expected {}, calculated {}",
                ROOTS[0], ROOTS[8]
            )
        );
        assert_eq!(
            ProofError::WrongProofLength {
                expected: 3,
                found: 2
            }
            .to_string(),
            "proof has 2 hashes, expected 3"
        );
    }

    #[test]
    fn consistency_edge_cases() {
        let (a, b) = (hash_leaf(b"a"), hash_leaf(b"b"));
        let check = |old: u64,
                     new: u64,
                     old_root: &Hash,
                     new_root: &Hash,
                     proof: &[Hash],
                     want: Result<(), ProofError>| {
            assert_eq!(
                verify_consistency(old, new, old_root, new_root, proof),
                want,
                "{old} -> {new}"
            );
        };
        // Equal sizes: consistent only with an empty proof and equal roots.
        check(1, 1, &a, &a, &[], Ok(()));
        check(5, 5, &b, &b, &[], Ok(()));
        check(
            1,
            1,
            &a,
            &b,
            &[],
            Err(ProofError::EqualSizeRootsDiffer {
                size: 1,
                old_root: a,
                new_root: b,
            }),
        );
        check(
            1,
            1,
            &a,
            &a,
            &[empty_root()],
            Err(ProofError::WrongProofLength {
                expected: 0,
                found: 1,
            }),
        );
        // The RFC's verifier needs 0 < old size: an empty tree proves nothing.
        check(
            0,
            0,
            &a,
            &a,
            &[],
            Err(ProofError::OldSizeZero { new_size: 0 }),
        );
        check(
            0,
            1,
            &a,
            &b,
            &[],
            Err(ProofError::OldSizeZero { new_size: 1 }),
        );
        check(
            0,
            1,
            &empty_root(),
            &empty_root(),
            &[empty_root()],
            Err(ProofError::OldSizeZero { new_size: 1 }),
        );
        // Time travel.
        check(
            1,
            0,
            &a,
            &b,
            &[],
            Err(ProofError::OldGreaterThanNew {
                old_size: 1,
                new_size: 0,
            }),
        );
        check(
            2,
            1,
            &a,
            &b,
            &[],
            Err(ProofError::OldGreaterThanNew {
                old_size: 2,
                new_size: 1,
            }),
        );
        // A growing tree always needs a proof (RFC §2.1.4.2 step 1).
        check(
            1,
            2,
            &a,
            &b,
            &[],
            Err(ProofError::WrongProofLength {
                expected: 1,
                found: 0,
            }),
        );

        let tree = vector_tree();
        let proof = consistency_proof(6, 8, &tree).unwrap();
        let (r6, r8) = (h(ROOTS[6]), h(ROOTS[8]));
        check(
            6,
            8,
            &a,
            &r8,
            &proof,
            Err(ProofError::OldRootMismatch {
                expected: a,
                calculated: r6,
            }),
        );
        check(
            6,
            8,
            &r6,
            &a,
            &proof,
            Err(ProofError::NewRootMismatch {
                expected: a,
                calculated: r8,
            }),
        );
        assert_eq!(
            ProofError::OldGreaterThanNew {
                old_size: 2,
                new_size: 1
            }
            .to_string(),
            "old tree size 2 is greater than new tree size 1"
        );
    }

    #[test]
    fn builders_reject_out_of_range_arguments() {
        let tree = vector_tree();
        assert!(matches!(
            inclusion_proof(8, 8, &tree),
            Err(MerkleError::IndexOutOfRange { index: 8, size: 8 })
        ));
        assert!(matches!(
            inclusion_proof(0, 0, &tree),
            Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
        ));
        assert!(matches!(
            consistency_proof(0, 8, &tree),
            Err(MerkleError::SizeOutOfRange {
                old_size: 0,
                new_size: 8
            })
        ));
        assert!(matches!(
            consistency_proof(5, 4, &tree),
            Err(MerkleError::SizeOutOfRange {
                old_size: 5,
                new_size: 4
            })
        ));
        assert_eq!(consistency_proof(8, 8, &tree).unwrap(), Vec::<Hash>::new());
        // Sizes past what the store holds surface as a missing node, never a panic.
        assert!(matches!(
            inclusion_proof(0, 9, &tree),
            Err(MerkleError::MissingNode { level: 0, index: 8 })
        ));
        assert!(matches!(
            root_at(9, &tree),
            Err(MerkleError::MissingNode { .. })
        ));
        assert!(matches!(
            Frontier::load(16, &tree),
            Err(MerkleError::MissingNode { level: 4, index: 0 })
        ));
        assert_eq!(
            MerkleError::MissingNode { level: 4, index: 0 }.to_string(),
            "node at level 4, index 0 is not stored"
        );
    }

    #[test]
    fn absurd_sizes_are_errors_not_panics() {
        let tree = vector_tree();
        let x = hash_leaf(b"x");
        let max = u64::MAX;
        // Builders: the store runs out long before the arithmetic could.
        assert!(inclusion_proof(max - 1, max, &tree).is_err());
        assert!(inclusion_proof(0, max, &tree).is_err());
        assert!(consistency_proof(1, max, &tree).is_err());
        assert!(consistency_proof(max - 1, max, &tree).is_err());
        assert!(consistency_proof(1 << 63, max, &tree).is_err());
        assert!(root_at(max, &tree).is_err());
        assert!(Frontier::load(max, &tree).is_err());

        // Verifiers.
        assert_eq!(
            verify_inclusion(&x, max, max, &[], &x),
            Err(ProofError::IndexOutOfRange {
                index: max,
                size: max
            })
        );
        assert_eq!(
            verify_inclusion(&x, 0, max, &[], &x),
            Err(ProofError::WrongProofLength {
                expected: 64,
                found: 0
            })
        );
        assert_eq!(
            verify_inclusion(&x, max - 1, max, &[], &x),
            Err(ProofError::WrongProofLength {
                expected: 63,
                found: 0
            })
        );
        assert!(matches!(
            verify_inclusion(&x, max - 1, max, &[x; 63], &x),
            Err(ProofError::RootMismatch { .. })
        ));
        assert!(matches!(
            verify_inclusion(&x, 0, max, &[x; 64], &x),
            Err(ProofError::RootMismatch { .. })
        ));
        for (old, new) in [
            (1, max),
            (max - 1, max),
            (1 << 63, max),
            ((1 << 63) + 1, max),
            (3, max),
        ] {
            assert!(verify_consistency(old, new, &x, &x, &[]).is_err());
            let expected = consistency_len(old, new);
            assert!(matches!(
                verify_consistency(old, new, &x, &x, &vec![x; expected]),
                Err(ProofError::OldRootMismatch { .. } | ProofError::NewRootMismatch { .. })
            ));
        }
        assert_eq!(verify_consistency(max, max, &x, &x, &[]), Ok(()));
        assert_eq!(
            verify_consistency(max, max, &x, &x, &[x]),
            Err(ProofError::WrongProofLength {
                expected: 0,
                found: 1
            })
        );
    }

    // ---- reference implementation and property tests ---------------------------------

    /// Largest power of two strictly below `n` (`n >= 2`): the RFC's split point.
    fn split(n: usize) -> usize {
        1 << (usize::BITS - 1 - (n - 1).leading_zeros())
    }

    /// MTH straight from RFC 6962 §2.1: recursive, O(n). The yardstick.
    fn ref_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n);
                hash_children(&ref_root(&leaves[..k]), &ref_root(&leaves[k..]))
            }
        }
    }

    /// PATH(m, D[n]) from RFC 6962 §2.1.1.
    fn ref_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return vec![];
        }
        let k = split(n);
        if m < k {
            let mut p = ref_path(m, &leaves[..k]);
            p.push(ref_root(&leaves[k..]));
            p
        } else {
            let mut p = ref_path(m - k, &leaves[k..]);
            p.push(ref_root(&leaves[..k]));
            p
        }
    }

    /// SUBPROOF(m, D[n], b) from RFC 6962 §2.1.2.
    fn ref_subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if whole {
                vec![]
            } else {
                vec![ref_root(leaves)]
            };
        }
        let k = split(n);
        if m <= k {
            let mut p = ref_subproof(m, &leaves[..k], whole);
            p.push(ref_root(&leaves[k..]));
            p
        } else {
            let mut p = ref_subproof(m - k, &leaves[k..], false);
            p.push(ref_root(&leaves[..k]));
            p
        }
    }

    /// Leaf hashes derived from a seed, so a failing case replays from its seed.
    fn seeded_leaves(seed: u64, n: usize) -> Vec<Hash> {
        (0..n as u64)
            .map(|i| hash_leaf(&[seed.to_be_bytes(), i.to_be_bytes()].concat()))
            .collect()
    }

    const PROPTEST_SIZE_MAX: usize = 2000;
    const PROPTEST_CASES: u32 = 64;

    fn proptest_config() -> ProptestConfig {
        ProptestConfig {
            cases: PROPTEST_CASES,
            // Proptest prints the minimal failing input; no regression file is written
            // into the source tree.
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// Builds every inclusion proof and every consistency proof of a tree of `size`
    /// leaves from `reader` and verifies each against the given roots (`roots[k]` is
    /// the root of the first `k` leaves). The property tests run through this, and
    /// `harness_detects_a_corrupted_node` shows that it can fail.
    fn check_all_proofs(
        reader: &impl NodeReader,
        leaves: &[Hash],
        roots: &[Hash],
    ) -> Result<(), String> {
        let size = leaves.len() as u64;
        let root = roots[leaves.len()];
        for (index, leaf) in leaves.iter().enumerate() {
            let index = index as u64;
            let proof = inclusion_proof(index, size, reader).map_err(|e| e.to_string())?;
            verify_inclusion(leaf, index, size, &proof, &root)
                .map_err(|e| format!("inclusion of {index} in {size}: {e}"))?;
        }
        for old in 1..=size {
            let proof = consistency_proof(old, size, reader).map_err(|e| e.to_string())?;
            verify_consistency(old, size, &roots[old as usize], &root, &proof)
                .map_err(|e| format!("consistency {old} -> {size}: {e}"))?;
        }
        Ok(())
    }

    fn prefix_roots(leaves: &[Hash]) -> Vec<Hash> {
        let mut tree = MemoryTree::new();
        let mut roots = vec![tree.root()];
        for leaf in leaves {
            tree.push(*leaf);
            roots.push(tree.root());
        }
        roots
    }

    /// A store whose node `(level, index)` has one bit flipped.
    struct CorruptReader<'a> {
        inner: &'a MemoryTree,
        level: u32,
        index: u64,
    }

    impl NodeReader for CorruptReader<'_> {
        fn node(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
            let hash = self.inner.node(level, index)?;
            Ok(if (level, index) == (self.level, self.index) {
                flip_bit(&hash, 7, 1)
            } else {
                hash
            })
        }
    }

    #[test]
    fn harness_detects_a_corrupted_node() {
        let leaves = seeded_leaves(42, 300);
        let tree = tree_of(&leaves);
        let roots = prefix_roots(&leaves);
        assert_eq!(check_all_proofs(&tree, &leaves, &roots), Ok(()));
        for (level, index) in [(0, 0), (0, 299), (3, 17), (8, 0), (5, 8)] {
            let corrupt = CorruptReader {
                inner: &tree,
                level,
                index,
            };
            assert!(
                check_all_proofs(&corrupt, &leaves, &roots).is_err(),
                "a flipped bit in node ({level}, {index}) went unnoticed"
            );
        }
    }

    /// A long-lived 2048-leaf store: proofs for any smaller size read only its
    /// perfect nodes, which every prefix shares.
    fn big_tree() -> &'static (Vec<Hash>, MemoryTree) {
        static BIG: OnceLock<(Vec<Hash>, MemoryTree)> = OnceLock::new();
        BIG.get_or_init(|| {
            let leaves = seeded_leaves(7, 2048);
            let tree = tree_of(&leaves);
            (leaves, tree)
        })
    }

    proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn every_proof_of_a_random_tree_verifies(seed in any::<u64>(), size in 1..=PROPTEST_SIZE_MAX) {
            let leaves = seeded_leaves(seed, size);
            let tree = tree_of(&leaves);
            let roots = prefix_roots(&leaves);
            prop_assert_eq!(tree.root(), ref_root(&leaves));
            prop_assert_eq!(check_all_proofs(&tree, &leaves, &roots), Ok(()));
        }

        #[test]
        fn proofs_match_the_rfc_reference(seed in any::<u64>(), size in 1..=300usize, picks in proptest::collection::vec(any::<prop::sample::Index>(), 8)) {
            let leaves = seeded_leaves(seed, size);
            let tree = tree_of(&leaves);
            for pick in &picks {
                let m = pick.index(size);
                prop_assert_eq!(
                    inclusion_proof(m as u64, size as u64, &tree).unwrap(),
                    ref_path(m, &leaves),
                    "inclusion of {} in {}", m, size
                );
                let old = m + 1;
                let want = if old == size { vec![] } else { ref_subproof(old, &leaves, true) };
                prop_assert_eq!(
                    consistency_proof(old as u64, size as u64, &tree).unwrap(),
                    want,
                    "consistency {} -> {}", old, size
                );
            }
        }

        #[test]
        fn load_and_root_at_agree_with_appends(size in 0..=2048usize) {
            let (leaves, big) = big_tree();
            let mut fresh = MemoryTree::new();
            for (k, leaf) in leaves.iter().enumerate().take(size) {
                prop_assert_eq!(root_at(k as u64, big).unwrap(), fresh.root(), "root_at({})", k);
                prop_assert_eq!(&Frontier::load(k as u64, big).unwrap(), fresh.frontier(), "load({})", k);
                fresh.push(*leaf);
            }
            let k = size as u64;
            prop_assert_eq!(root_at(k, big).unwrap(), fresh.root(), "root_at({})", k);
            prop_assert_eq!(&Frontier::load(k, big).unwrap(), fresh.frontier(), "load({})", k);
            prop_assert_eq!(fresh.root(), ref_root(&leaves[..size]));
        }

        #[test]
        fn a_flipped_bit_in_any_proof_is_rejected(size in 2..=2048u64, pick in any::<prop::sample::Index>(), byte in 0..32usize, bit in 0..8u8, which in any::<prop::sample::Index>()) {
            let (_, big) = big_tree();
            let index = pick.index(size as usize) as u64;
            let root = root_at(size, big).unwrap();
            let leaf = big.node(0, index).unwrap();
            let mut proof = inclusion_proof(index, size, big).unwrap();
            prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
            let i = which.index(proof.len());
            proof[i] = flip_bit(&proof[i], byte, bit);
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());

            let old = index + 1;
            if old < size {
                let old_root = root_at(old, big).unwrap();
                let mut proof = consistency_proof(old, size, big).unwrap();
                prop_assert_eq!(verify_consistency(old, size, &old_root, &root, &proof), Ok(()));
                let i = which.index(proof.len());
                proof[i] = flip_bit(&proof[i], byte, bit);
                prop_assert!(verify_consistency(old, size, &old_root, &root, &proof).is_err());
            }
        }

        #[test]
        fn verifiers_never_panic(index in any::<u64>(), size in any::<u64>(), old in any::<u64>(), len in 0..70usize, fill in any::<[u8; 32]>()) {
            let proof = vec![fill; len];
            let _ = verify_inclusion(&fill, index, size, &proof, &fill);
            let _ = verify_inclusion(&fill, index % size.max(1), size, &proof, &fill);
            let _ = verify_consistency(old, size, &fill, &fill, &proof);
            let _ = verify_consistency(old % size.max(1) + 1, size, &fill, &fill, &proof);
            // Only right-length proofs reach the RFC loop, so hand it one too.
            let old = old % size.max(1) + 1;
            if old < size {
                let proof = vec![fill; consistency_len(old, size)];
                prop_assert!(verify_consistency(old, size, &fill, &[0; 32], &proof).is_err());
            }
            if size > 0 {
                let index = index % size;
                let proof = vec![fill; path_len(index, size)];
                prop_assert!(verify_inclusion(&fill, index, size, &proof, &[0; 32]).is_err());
            }
        }
    }
}
