//! Building roots and RFC 9162 proofs from perfect nodes: O(log n) reads each, no
//! node recomputed except the one right-edge sibling a tree size cuts.

use super::hash::{empty_root, hash_children};
use super::{Hash, MerkleError, NodeReader};

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
pub(super) fn path_len(index: u64, width: u64) -> usize {
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
pub(super) fn consistency_len(old_size: u64, new_size: u64) -> usize {
    let (level, index) = consistency_seed(old_size);
    let width = ((new_size - 1) >> level) + 1;
    usize::from(index != 0) + path_len(index, width)
}
