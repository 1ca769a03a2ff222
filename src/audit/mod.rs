//! Independent verification of a ledger: every entry's shape, index and hash link;
//! every ledger signature; every participant signature against the key that was
//! valid at that index (following registrations, rotations and revocations on the
//! ledger itself); that each request's events are exactly what the state machine
//! decides for it; the Merkle root against signed checkpoints.
//!
//! Invariant: the verifier trusts nothing but the bytes it is given and the ledger
//! key named by genesis (and the keys its verified hand-overs name). Signatures are checked in batches, on every core.

#[cfg(test)]
mod emergency_tests;
pub mod export;
pub mod handovers;
pub mod online;
pub mod receipt;
#[cfg(test)]
mod rotation_tests;
pub mod source;
mod verifier;
pub mod witness;

pub use verifier::{
    Verified, Verifier, VerifyFailure, request_nonce, verify_raw, verify_store,
    verify_store_keeping,
};
