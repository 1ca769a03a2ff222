//! The Merkle tree's perfect nodes, every level in memory, the leaves included.
//!
//! A leaf (level 0) is the leaf hash of its entry, and every node is filled by the
//! replay at open and by the writer after each durable group, before the new size
//! is published: 64 bytes per entry in all. A perfect node never changes once
//! complete, so the copy in memory is never stale, and the store keeps no node that
//! could drift from the entries. Proofs read no entry, and an entry read back is
//! checked against its leaf here.

use crate::ledger::merkle::{Hash, MerkleError, NodeReader};
use std::sync::{Arc, RwLock};

/// Perfect Merkle nodes, per level, at their index: the nodes a frontier's appends
/// complete, in order, the leaves included.
#[derive(Default, Debug, Clone)]
pub struct NodeLevels {
    levels: Vec<Vec<Hash>>,
}

impl NodeLevels {
    /// Records a completed node; nodes of one level arrive in index order.
    pub fn push(&mut self, level: u32, index: u64, hash: Hash) {
        let level = level as usize;
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        debug_assert_eq!(self.levels[level].len() as u64, index);
        self.levels[level].push(hash);
    }

    fn get(&self, level: u32, index: u64) -> Option<Hash> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
    }

    /// The leaf hash of entry `index`, once its group is durable.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.get(0, index)
    }
}

impl NodeReader for NodeLevels {
    fn node(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        self.get(level, index).ok_or_else(|| {
            MerkleError::Storage(format!(
                "merkle node (level {level}, index {index}) is not complete"
            ))
        })
    }
}

/// A shared handle on the tree's levels in memory: the writer extends them, proofs
/// and entry checks read them. Cheap to clone.
#[derive(Clone, Default)]
pub struct MemoryNodes {
    levels: Arc<RwLock<NodeLevels>>,
}

impl MemoryNodes {
    pub(crate) fn new(levels: NodeLevels) -> MemoryNodes {
        MemoryNodes {
            levels: Arc::new(RwLock::new(levels)),
        }
    }

    /// Adds the nodes a durable group completed, in the order its appends gave them.
    pub(crate) fn extend(&self, nodes: impl IntoIterator<Item = (u32, u64, Hash)>) {
        let mut levels = self.levels.write().unwrap_or_else(|e| e.into_inner());
        for (level, index, hash) in nodes {
            levels.push(level, index, hash);
        }
    }

    /// The leaf hash of entry `index`, once its group is durable.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .leaf(index)
    }
}

impl NodeReader for MemoryNodes {
    fn node(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        self.levels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .node(level, index)
    }
}
