//! RFC 6962 §2.1 hashing: leaves and interior nodes, each with its own prefix.

use super::{HASH_BYTES, Hash};
use sha2::digest::{OutputSizeUser, typenum::Unsigned};
use sha2::{Digest, Sha256};

/// Domain-separation prefix of a leaf hash (RFC 6962 §2.1), so that no leaf can be
/// passed off as an interior node.
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash.
const NODE_PREFIX: u8 = 0x01;

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
