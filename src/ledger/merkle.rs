//! RFC 6962/9162 Merkle tree hashing and proofs. (placeholder)
