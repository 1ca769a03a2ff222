//! Key layout of the one sled tree. One tree, so one `Batch` covers an entry, its
//! Merkle nodes, the state it changed and the new checkpoint atomically.
//!
//! - `e` + index (u64 big-endian) -> encoded LedgerEntry
//! - `n` + level (u8) + index (u64 big-endian) -> 32-byte perfect-subtree hash
//! - `s` + record key -> registry state record (JSON)
//! - `c` -> latest signed checkpoint note

use crate::registry::StateKey;

pub const TREE_NAME: &str = "ledger-v1";
pub const CHECKPOINT_KEY: &[u8] = b"c";
pub const STATE_PREFIX: &[u8] = b"s";
pub const ENTRY_PREFIX: u8 = b'e';
pub const NODE_PREFIX: u8 = b'n';

pub fn entry_key(index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = ENTRY_PREFIX;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

pub fn entry_index(key: &[u8]) -> Option<u64> {
    if key.len() != 9 || key[0] != ENTRY_PREFIX {
        return None;
    }
    Some(u64::from_be_bytes(key[1..].try_into().ok()?))
}

pub fn node_key(level: u32, index: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = NODE_PREFIX;
    k[1] = level as u8;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

/// (level, index) of a node key.
pub fn node_of(key: &[u8]) -> Option<(u32, u64)> {
    if key.len() != 10 || key[0] != NODE_PREFIX {
        return None;
    }
    Some((
        u32::from(key[1]),
        u64::from_be_bytes(key[2..].try_into().ok()?),
    ))
}

pub fn state_key(key: &StateKey) -> Vec<u8> {
    [STATE_PREFIX, key.to_bytes().as_slice()].concat()
}
