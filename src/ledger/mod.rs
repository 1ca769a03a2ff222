//! The ledger: entry bytes, hashes, signatures, the Merkle tree, checkpoints and
//! proofs. Knows bytes and keys; never touches storage or registry state.

pub mod checkpoint;
pub mod entry;
pub mod genesis;
pub mod handover;
pub mod keys;
pub mod merkle;
pub mod payload;
pub mod recovery;
pub mod request;
pub mod signer;
pub mod token;

/// The ledger format version this build writes and reads (recorded in genesis).
pub use crate::ids::FORMAT_VERSION;
