//! Names the ledger and the registry share: key ids and the ledger format version.
//!
//! A leaf: it depends on no other module of the crate, so that `ledger` (which
//! computes key ids and writes the format version) and `registry` (which records
//! them) can both use it without either importing the other.

use sha2::{Digest, Sha256};
use std::fmt;

/// The ledger format version this build writes and reads (recorded in genesis).
pub const FORMAT_VERSION: u32 = 1;

/// Length of an encoded Ed25519 public key.
pub const PUBLIC_KEY_BYTES: usize = 32;

/// A key id: lowercase hex of the first 8 bytes of SHA-256(public key). Derived from
/// the key, so a key id can never name two keys unnoticed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    pub fn of(key: &ed25519_dalek::VerifyingKey) -> Self {
        Self::of_bytes(key.as_bytes())
    }

    /// The key id of an encoded public key (no point decompression needed).
    pub fn of_bytes(key: &[u8; PUBLIC_KEY_BYTES]) -> Self {
        let digest = Sha256::digest(key);
        KeyId(hex::encode(&digest[..8]))
    }

    /// Accepts only the canonical form (16 lowercase hex digits).
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| KeyId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}
