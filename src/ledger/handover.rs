//! The ledger key's hand-over message: what a new ledger key signs to take over
//! from the old one, naming the ledger, both keys and the first entry the new key
//! signs. A `LedgerKeyRotated` entry carries the new key's signature over it
//! (`docs/LEDGER_FORMAT.md` section 4.1).
//!
//! Invariant: the message is a fixed text (no encoder in between), signed under its
//! own context, so a hand-over signature never passes for any other signature and
//! an independent verifier rebuilds it byte for byte.

use super::keys::{self, SIGNATURE_BYTES};
use ed25519_dalek::VerifyingKey;

/// Context of the new ledger key's signature over the hand-over message.
pub const HANDOVER_CONTEXT: &[u8] = b"diaspora.bonds.v1/ledger-key-handover";

/// The first line of the hand-over message.
const HEADER: &str = "dbond ledger key hand-over";

/// A hand-over: on ledger `origin`, `new` signs every entry from `from_index`
/// on, and every checkpoint of a size at least `from_index`; `old` signed the
/// entries before (the hand-over entry, `from_index - 1`, included) and the
/// checkpoints of smaller sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover<'a> {
    pub origin: &'a str,
    pub old: &'a VerifyingKey,
    pub new: &'a VerifyingKey,
    pub from_index: u64,
}

impl Handover<'_> {
    /// The signed message: five lines, each ending in a newline:
    /// the header, the origin, the old key and the new key (64 lowercase hex
    /// digits each), and `from_index` in decimal.
    pub fn message(&self) -> String {
        format!(
            "{HEADER}\n{}\n{}\n{}\n{}\n",
            self.origin,
            hex::encode(self.old.as_bytes()),
            hex::encode(self.new.as_bytes()),
            self.from_index
        )
    }

    /// Checks `signature` as `key`'s signature over this hand-over.
    pub fn verify(&self, key: &VerifyingKey, signature: &[u8]) -> Result<(), HandoverError> {
        if signature.len() != SIGNATURE_BYTES {
            return Err(HandoverError::SignatureLength {
                found: signature.len(),
            });
        }
        if keys::verify(key, HANDOVER_CONTEXT, self.message().as_bytes(), signature) {
            Ok(())
        } else {
            Err(HandoverError::BadSignature {
                key: keys::KeyId::of(key).to_string(),
                from_index: self.from_index,
            })
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandoverError {
    #[error("the hand-over signature must be {SIGNATURE_BYTES} bytes, found {found}")]
    SignatureLength { found: usize },
    #[error(
        "the hand-over signature of key {key} does not verify over the hand-over from entry {from_index}"
    )]
    BadSignature { key: String, from_index: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::signer::Signer;
    use ed25519_dalek::SigningKey;

    #[test]
    fn a_handover_verifies_only_as_itself() {
        let (old, new) = (
            SigningKey::from_bytes(&[1u8; 32]),
            SigningKey::from_bytes(&[2u8; 32]),
        );
        let (old_public, new_public) = (old.verifying_key(), new.verifying_key());
        let handover = Handover {
            origin: "handover.test/dbond",
            old: &old_public,
            new: &new_public,
            from_index: 42,
        };
        let message = handover.message();
        assert!(message.starts_with("dbond ledger key hand-over\nhandover.test/dbond\n"));
        assert!(message.ends_with("\n42\n"));
        let signature = new
            .sign(HANDOVER_CONTEXT, message.as_bytes())
            .unwrap()
            .to_bytes();
        assert_eq!(handover.verify(&new_public, &signature), Ok(()));
        // The old key's signature, another index, another context: refused.
        assert!(handover.verify(&old_public, &signature).is_err());
        let other_index = Handover {
            from_index: 43,
            ..handover.clone()
        };
        assert!(matches!(
            other_index.verify(&new_public, &signature),
            Err(HandoverError::BadSignature { from_index: 43, .. })
        ));
        let entry_context = new
            .sign(keys::ENTRY_CONTEXT, message.as_bytes())
            .unwrap()
            .to_bytes();
        assert!(handover.verify(&new_public, &entry_context).is_err());
        assert_eq!(
            handover.verify(&new_public, &signature[..63]),
            Err(HandoverError::SignatureLength { found: 63 })
        );
    }
}
