//! The ledger: entry bytes, hashes, signatures, the Merkle tree, checkpoints and
//! proofs. Knows bytes and keys; never touches storage or the registry.

pub mod checkpoint;
pub mod merkle;
