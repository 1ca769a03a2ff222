//! The append frontier: the tree's right edge, one perfect subtree per set bit of
//! its size, from which the root follows and to which a leaf is appended in O(log n).

use super::hash::{empty_root, hash_children};
use super::{Hash, MerkleError, NodeReader};

/// Number of levels a tree of u64-counted leaves can have above its leaves: a perfect
/// subtree at level `l` holds `2^l` leaves, and sizes are below `2^64`.
const LEVELS_MAX: usize = 64;

/// The tree's right edge (compact range): one perfect-subtree hash per set bit of size.
///
/// `hashes` runs left to right, so the largest subtree (highest set bit of `size`)
/// comes first and the most recent leaf's subtree last.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    pub(super) hashes: Vec<Hash>,
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
