//! The ledger key behind one small boundary: whatever signs entries and
//! checkpoints (a key file, or a key inside a PKCS#11 token) signs a message under
//! a context, tells its public key, and describes itself for logs.
//!
//! Invariant: a signer only ever returns a signature that verifies under its
//! public key (a token's answer is checked before it is used), so the writer never
//! seals an entry that would not open. The file key is matched on, not reached
//! through a vtable, and costs what signing with the `SigningKey` costs.

use super::keys::{self, KeyId};
use super::token::TokenKey;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

/// Something that signs with the ledger key.
pub trait Signer {
    /// An Ed25519 signature over exactly `message` (checkpoint notes are signed
    /// so, as C2SP requires).
    fn sign_raw(&self, message: &[u8]) -> Result<Signature, SignError>;

    /// The public key the signatures verify under.
    fn public_key(&self) -> VerifyingKey;

    /// Where the key lives, for logs and errors (never a secret).
    fn describe(&self) -> String;

    /// A domain-separated signature over `context || 0x00 || message`, as
    /// [`keys::sign`] makes and [`keys::verify`] checks.
    fn sign(&self, context: &[u8], message: &[u8]) -> Result<Signature, SignError> {
        self.sign_raw(&keys::with_context(context, message))
    }
}

impl Signer for SigningKey {
    fn sign_raw(&self, message: &[u8]) -> Result<Signature, SignError> {
        Ok(ed25519_dalek::Signer::sign(self, message))
    }

    fn public_key(&self) -> VerifyingKey {
        self.verifying_key()
    }

    fn describe(&self) -> String {
        format!("key file (key id {})", KeyId::of(&self.verifying_key()))
    }
}

/// The ledger key a server signs with: a key file (the default) or a PKCS#11
/// token's key.
// One value lives in the writer for its whole life: the file key stays inline so
// that a signature reaches it without a pointer hop.
#[allow(clippy::large_enum_variant)]
pub enum LedgerKey {
    File(SigningKey),
    Token(Box<TokenKey>),
}

impl std::fmt::Debug for LedgerKey {
    /// Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Signer for LedgerKey {
    #[inline]
    fn sign_raw(&self, message: &[u8]) -> Result<Signature, SignError> {
        match self {
            LedgerKey::File(key) => Ok(ed25519_dalek::Signer::sign(key, message)),
            LedgerKey::Token(token) => token.sign_raw(message),
        }
    }

    fn public_key(&self) -> VerifyingKey {
        match self {
            LedgerKey::File(key) => key.verifying_key(),
            LedgerKey::Token(token) => token.public_key(),
        }
    }

    fn describe(&self) -> String {
        match self {
            LedgerKey::File(key) => key.describe(),
            LedgerKey::Token(token) => token.describe(),
        }
    }
}

impl From<SigningKey> for LedgerKey {
    fn from(key: SigningKey) -> LedgerKey {
        LedgerKey::File(key)
    }
}

impl From<&SigningKey> for LedgerKey {
    fn from(key: &SigningKey) -> LedgerKey {
        LedgerKey::File(key.clone())
    }
}

impl From<TokenKey> for LedgerKey {
    fn from(key: TokenKey) -> LedgerKey {
        LedgerKey::Token(Box::new(key))
    }
}

/// A signature the signer could not make (a token that failed or answered with
/// something that is not a valid signature by its key).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the ledger key ({key}) could not sign: {reason}")]
pub struct SignError {
    pub key: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_key_signs_as_keys_sign_does_through_the_boundary() {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let ledger = LedgerKey::from(&key);
        let through = ledger.sign(keys::ENTRY_CONTEXT, b"body").unwrap();
        assert_eq!(through, keys::sign(&key, keys::ENTRY_CONTEXT, b"body"));
        assert!(keys::verify(
            &ledger.public_key(),
            keys::ENTRY_CONTEXT,
            b"body",
            &through.to_bytes()
        ));
        assert_eq!(
            ledger.sign_raw(b"note").unwrap(),
            ed25519_dalek::Signer::sign(&key, b"note")
        );
        let described = format!("{ledger:?}");
        assert!(described.contains(KeyId::of(&key.verifying_key()).as_str()));
        assert!(!described.contains(&hex::encode(key.to_bytes())));
    }
}
