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
//!
//! One file per layer: `hash` (leaf and node hashing), `frontier` (the append
//! frontier), `proof` (building proofs and roots from perfect nodes), `verify`
//! (checking proofs by recomputation) and `memory` (a node store in memory).

mod frontier;
mod hash;
mod memory;
mod proof;
#[cfg(test)]
mod tests;
mod verify;

pub use frontier::Frontier;
pub use hash::{empty_root, hash_children, hash_leaf};
pub use memory::MemoryTree;
pub use proof::{consistency_proof, inclusion_proof, root_at};
pub use verify::{verify_consistency, verify_inclusion};

use std::fmt;

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Length of every hash in the tree.
pub const HASH_BYTES: usize = 32;

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
