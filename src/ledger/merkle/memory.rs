//! A perfect-node store in memory (a vector per level), for tests, the offline
//! verifier and benches.

use super::{Frontier, Hash, MerkleError, NodeReader};

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
