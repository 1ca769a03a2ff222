//! Keys, key ids and domain-separated Ed25519 signatures.
//!
//! Every signed thing is signed over `context || 0x00 || message`, with one fixed
//! context string per kind, so a signature over one kind never passes as another.

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::path::Path;

/// Context of a participant's signature over a `RequestPayload`.
pub const REQUEST_CONTEXT: &[u8] = b"diaspora.bonds.v1/request";
/// Context of the ledger key's signature over an `EntryBody`.
pub const ENTRY_CONTEXT: &[u8] = b"diaspora.bonds.v1/entry";

/// Length of an Ed25519 public key and of a signature.
pub use crate::ids::PUBLIC_KEY_BYTES;
pub const SIGNATURE_BYTES: usize = 64;

/// Key ids live in the leaf module `ids`, so that the registry can name keys
/// without importing the ledger.
pub use crate::ids::KeyId;

/// `context || 0x00 || message`: the bytes a domain-separated signature covers.
pub(crate) fn with_context(context: &[u8], message: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + 1 + message.len());
    m.extend_from_slice(context);
    m.push(0);
    m.extend_from_slice(message);
    m
}

/// Signs `message` under `context`.
pub fn sign(key: &SigningKey, context: &[u8], message: &[u8]) -> Signature {
    key.sign(&with_context(context, message))
}

/// Checks a signature made by [`sign`]. Uses strict verification (no malleable or
/// small-order keys), which is also what batch verification accepts.
pub fn verify(key: &VerifyingKey, context: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = Signature::from_slice(signature) else {
        return false;
    };
    key.verify_strict(&with_context(context, message), &sig)
        .is_ok()
}

/// Verifies many (context-prefixed) signatures at once; `false` if any is bad.
/// One signature to check in a batch: key, context, message, signature.
pub type BatchItem<'a> = (&'a VerifyingKey, &'a [u8], &'a [u8], &'a [u8]);

pub fn verify_batch(items: &[BatchItem<'_>]) -> bool {
    let mut messages = Vec::with_capacity(items.len());
    let mut signatures = Vec::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    for (key, context, message, signature) in items {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        messages.push(with_context(context, message));
        signatures.push(sig);
        keys.push(**key);
    }
    let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_slice()).collect();
    ed25519_dalek::verify_batch(&refs, &signatures, &keys).is_ok()
}

/// Parses a 32-byte public key, refusing weak (small-order) keys.
pub fn parse_public_key(bytes: &[u8]) -> Result<VerifyingKey, KeyError> {
    let arr: [u8; PUBLIC_KEY_BYTES] = bytes
        .try_into()
        .map_err(|_| KeyError::PublicKeyLength { found: bytes.len() })?;
    let key = VerifyingKey::from_bytes(&arr).map_err(|_| KeyError::PublicKeyInvalid)?;
    if key.is_weak() {
        return Err(KeyError::PublicKeyWeak);
    }
    Ok(key)
}

/// A fresh key from the operating system's random source.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

/// Writes a private key as PKCS#8 PEM, readable by the owner only (0600), refusing
/// to overwrite an existing file.
pub fn write_private_key(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    use std::io::Write;
    // PKCS#8 v1 (the private key alone): OpenSSL, Python's `cryptography` and Go
    // read it; the v2 form with the public key appended is refused by several tools.
    let pem = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
    .map_err(|e| KeyError::Encode(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| KeyError::Io(path.display().to_string(), e))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyError::Io(path.display().to_string(), e))
}

/// Writes a public key as SPKI PEM.
pub fn write_public_key(path: &Path, key: &VerifyingKey) -> Result<(), KeyError> {
    let pem = key
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    std::fs::write(path, pem).map_err(|e| KeyError::Io(path.display().to_string(), e))
}

pub fn read_private_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| KeyError::Io(path.display().to_string(), e))?;
    SigningKey::from_pkcs8_pem(&text)
        .map_err(|e| KeyError::Decode(path.display().to_string(), e.to_string()))
}

/// Reads a public key from SPKI PEM, or from 64 hex digits.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| KeyError::Io(path.display().to_string(), e))?;
    let trimmed = text.trim();
    if let Ok(bytes) = hex::decode(trimmed) {
        return parse_public_key(&bytes);
    }
    let key = VerifyingKey::from_public_key_pem(trimmed)
        .map_err(|e| KeyError::Decode(path.display().to_string(), e.to_string()))?;
    parse_public_key(key.as_bytes())
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("public key must be 32 bytes, found {found}")]
    PublicKeyLength { found: usize },
    #[error("public key is not a valid Ed25519 point")]
    PublicKeyInvalid,
    #[error("public key is weak (small order) and cannot be used")]
    PublicKeyWeak,
    #[error("cannot encode key: {0}")]
    Encode(String),
    #[error("cannot read or write key file {0}: {1}")]
    Io(String, std::io::Error),
    #[error("cannot decode key file {0}: {1}")]
    Decode(String, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_derived_and_canonical() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let id = KeyId::of(&key.verifying_key());
        assert_eq!(id.as_str().len(), 16);
        assert_eq!(KeyId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(KeyId::parse(&id.as_str().to_uppercase()), None);
        assert_eq!(KeyId::parse("abc"), None);
    }

    #[test]
    fn signatures_are_domain_separated() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let sig = sign(&key, REQUEST_CONTEXT, b"hello");
        let vk = key.verifying_key();
        assert!(verify(&vk, REQUEST_CONTEXT, b"hello", &sig.to_bytes()));
        assert!(!verify(&vk, ENTRY_CONTEXT, b"hello", &sig.to_bytes()));
        assert!(!verify(&vk, REQUEST_CONTEXT, b"hellp", &sig.to_bytes()));
        assert!(!verify(
            &vk,
            REQUEST_CONTEXT,
            b"hello",
            &sig.to_bytes()[..63]
        ));
        let items = [(&vk, REQUEST_CONTEXT, &b"hello"[..], &sig.to_bytes()[..])];
        assert!(verify_batch(&items));
        let bad = [(&vk, ENTRY_CONTEXT, &b"hello"[..], &sig.to_bytes()[..])];
        assert!(!verify_batch(&bad));
    }

    #[test]
    fn key_files_round_trip_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate();
        let path = dir.path().join("k.pem");
        write_private_key(&path, &key).unwrap();
        assert!(
            write_private_key(&path, &key).is_err(),
            "must not overwrite"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(read_private_key(&path).unwrap().to_bytes(), key.to_bytes());
        let pubpath = dir.path().join("k.pub");
        write_public_key(&pubpath, &key.verifying_key()).unwrap();
        assert_eq!(read_public_key(&pubpath).unwrap(), key.verifying_key());
    }
}
