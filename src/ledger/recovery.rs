//! The recovery quorum's approval of an emergency replacement of the ledger
//! key: the statement a recovery key signs (the ledger, the replacing key and
//! the ledger size the replacement follows) and its check. A
//! `LedgerKeyReplaced` entry carries the approvals (`docs/LEDGER_FORMAT.md`
//! section 4.2).
//!
//! Invariant: the statement is a fixed text (no encoder in between), signed
//! under its own context, so an approval never passes for any other signature,
//! and one approval approves exactly one key for one ledger at one size.

use super::keys::{self, KeyId, SIGNATURE_BYTES};
use ed25519_dalek::VerifyingKey;

/// Context of a recovery key's signature over the approval statement.
pub const APPROVAL_CONTEXT: &[u8] = b"diaspora.bonds.v1/ledger-key-recovery-approval";

/// The first line of the approval statement.
const HEADER: &str = "dbond ledger key emergency replacement";

/// An emergency replacement as the recovery keys approve it: on ledger
/// `origin`, the key `new` signs the entry at index `after_size` (the
/// replacement) and everything after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement<'a> {
    pub origin: &'a str,
    pub new: &'a VerifyingKey,
    pub after_size: u64,
}

impl Statement<'_> {
    /// The signed bytes: four lines, each ending in a newline: the header, the
    /// origin, the new key (64 lowercase hex digits) and `after_size` in
    /// decimal.
    pub fn message(&self) -> String {
        format!(
            "{HEADER}\n{}\n{}\n{}\n",
            self.origin,
            hex::encode(self.new.as_bytes()),
            self.after_size
        )
    }

    /// Checks `signature` as recovery key `key`'s approval of this replacement.
    pub fn verify(&self, key: &VerifyingKey, signature: &[u8]) -> Result<(), ApprovalError> {
        if signature.len() != SIGNATURE_BYTES {
            return Err(ApprovalError::SignatureLength {
                key: KeyId::of(key).to_string(),
                found: signature.len(),
            });
        }
        if keys::verify(key, APPROVAL_CONTEXT, self.message().as_bytes(), signature) {
            Ok(())
        } else {
            Err(ApprovalError::BadSignature {
                key: KeyId::of(key).to_string(),
                new_key: KeyId::of(self.new).to_string(),
                after_size: self.after_size,
            })
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error(
        "the approval of recovery key {key} must be a {SIGNATURE_BYTES}-byte signature, found {found} bytes"
    )]
    SignatureLength { key: String, found: usize },
    #[error(
        "the approval of recovery key {key} does not verify over the replacement by ledger key {new_key} after {after_size} entries"
    )]
    BadSignature {
        key: String,
        new_key: String,
        after_size: u64,
    },
}

/// The value of an approval file's `format` field.
pub const APPROVAL_FORMAT: &str = "dbond-recovery-approval-v1";

/// One recovery key's approval, as `dbond ledger-key approve` writes it (JSON;
/// keys and the signature in lowercase hex).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalFile {
    pub format: String,
    pub origin: String,
    pub new_public_key: String,
    pub after_size: u64,
    pub recovery_public_key: String,
    pub signature: String,
}

impl ApprovalFile {
    pub fn to_json(&self) -> String {
        // A struct of strings and integers always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads an approval file; `Err` says what is wrong with it.
    pub fn from_json(text: &str) -> Result<ApprovalFile, String> {
        let file: ApprovalFile =
            serde_json::from_str(text).map_err(|e| format!("not an approval file: {e}"))?;
        if file.format != APPROVAL_FORMAT {
            return Err(format!(
                "approval file format {:?} is not {APPROVAL_FORMAT:?}",
                file.format
            ));
        }
        Ok(file)
    }

    /// The recovery key, the new key and the signature, decoded.
    pub fn decode(&self) -> Result<(VerifyingKey, VerifyingKey, Vec<u8>), String> {
        let key = |what: &str, text: &str| {
            let bytes = hex::decode(text).map_err(|e| format!("{what}: not hex: {e}"))?;
            keys::parse_public_key(&bytes).map_err(|e| format!("{what}: {e}"))
        };
        let recovery = key("recovery_public_key", &self.recovery_public_key)?;
        let new = key("new_public_key", &self.new_public_key)?;
        let signature =
            hex::decode(&self.signature).map_err(|e| format!("signature: not hex: {e}"))?;
        Ok((recovery, new, signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn an_approval_verifies_only_as_itself() {
        let recovery = SigningKey::from_bytes(&[3u8; 32]);
        let new = SigningKey::from_bytes(&[4u8; 32]).verifying_key();
        let statement = Statement {
            origin: "recovery.test/dbond",
            new: &new,
            after_size: 7,
        };
        let message = statement.message();
        assert!(
            message.starts_with("dbond ledger key emergency replacement\nrecovery.test/dbond\n")
        );
        assert!(message.ends_with("\n7\n"));
        let signature = keys::sign(&recovery, APPROVAL_CONTEXT, message.as_bytes()).to_bytes();
        let public = recovery.verifying_key();
        assert_eq!(statement.verify(&public, &signature), Ok(()));
        // Another size, another ledger, another key, another context: refused.
        for other in [
            Statement {
                after_size: 8,
                ..statement.clone()
            },
            Statement {
                origin: "other.test/dbond",
                ..statement.clone()
            },
            Statement {
                new: &public,
                ..statement.clone()
            },
        ] {
            assert!(matches!(
                other.verify(&public, &signature),
                Err(ApprovalError::BadSignature { .. })
            ));
        }
        let entry_context = keys::sign(&recovery, keys::ENTRY_CONTEXT, message.as_bytes());
        assert!(
            statement
                .verify(&public, &entry_context.to_bytes())
                .is_err()
        );
        assert!(matches!(
            statement.verify(&public, &signature[..63]),
            Err(ApprovalError::SignatureLength { found: 63, .. })
        ));
    }
}
