//! Key layout of the one sled tree. One tree, so one `Batch` covers an entry, the
//! state it changed and the new checkpoint atomically. Merkle nodes are not
//! stored: leaves are the entries' leaf hashes, the levels above are rebuilt in
//! memory by the replay at open. Nothing else may be stored.
//!
//! - `c` -> latest signed checkpoint note
//! - `e` + index (u64 big-endian) -> encoded LedgerEntry
//! - `p` -> only while a group commit too large for one sled batch is being
//!   written: the ledger size before that group (u64 big-endian). Present at open,
//!   it marks an unfinished group, never acknowledged, which the open rolls back.
//! - `s` + record key -> registry state record (JSON)

pub const TREE_NAME: &str = "ledger-v1";
pub const CHECKPOINT_KEY: &[u8] = b"c";
pub const PENDING_KEY: &[u8] = b"p";
pub const STATE_PREFIX: &[u8] = b"s";
pub const ENTRY_PREFIX: u8 = b'e';

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

/// The sled key of the state record `key` (`StateKey::to_bytes`), written into
/// `out` (cleared first), so one buffer serves a whole group.
pub fn state_key_into(out: &mut Vec<u8>, key: &[u8]) {
    out.clear();
    out.extend_from_slice(STATE_PREFIX);
    out.extend_from_slice(key);
}

/// The sled key of the state record `key`.
pub fn state_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(STATE_PREFIX.len() + key.len());
    state_key_into(&mut out, key);
    out
}
