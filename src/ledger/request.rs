//! Signed requests: a command wrapped in a `RequestPayload` (this ledger's origin,
//! the issue time, a nonce) and signed with the caller's key under the request
//! context. The server authenticates exactly these bytes and the ledger keeps them.
//!
//! Invariant: the signature covers the encoded payload as sent; nothing here
//! re-encodes what was signed.

use super::keys::{self, KeyId, REQUEST_CONTEXT};
use crate::proto as pb;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use prost::Message;

/// Bytes in a nonce made by [`nonce`]: inside the server's accepted range
/// (`limits::NONCE_BYTES_MIN..=NONCE_BYTES_MAX`), and enough that two requests of
/// one key never share one by chance.
pub const NONCE_BYTES: usize = 16;

const _: () = assert!(crate::limits::NONCE_BYTES_MIN <= NONCE_BYTES);
const _: () = assert!(NONCE_BYTES <= crate::limits::NONCE_BYTES_MAX);

/// A fresh random nonce.
pub fn nonce() -> [u8; NONCE_BYTES] {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut nonce);
    nonce
}

/// The payload bytes of `command` for ledger `origin`, issued at `issued_at` with
/// `nonce`: what the caller signs.
pub fn payload(
    origin: &str,
    command: pb::command::Kind,
    issued_at: DateTime<Utc>,
    nonce: &[u8],
) -> Vec<u8> {
    pb::RequestPayload {
        ledger_origin: origin.to_string(),
        issued_at: Some(prost_types::Timestamp {
            seconds: issued_at.timestamp(),
            // Below 10^9, so it fits.
            nanos: issued_at.timestamp_subsec_nanos() as i32,
        }),
        nonce: nonce.to_vec(),
        command: Some(pb::Command {
            kind: Some(command),
        }),
    }
    .encode_to_vec()
}

/// Signs already encoded payload bytes with `key`.
pub fn sign_payload(key: &SigningKey, payload: Vec<u8>) -> pb::SignedRequest {
    let signature = keys::sign(key, REQUEST_CONTEXT, &payload);
    pb::SignedRequest {
        payload,
        key_id: KeyId::of(&key.verifying_key()).to_string(),
        signature: signature.to_bytes().to_vec(),
    }
}

/// A signed request: `command` for ledger `origin`, issued at `issued_at` with
/// `nonce`, signed by `key`.
pub fn sign_request(
    key: &SigningKey,
    origin: &str,
    command: pb::command::Kind,
    issued_at: DateTime<Utc>,
    nonce: &[u8],
) -> pb::SignedRequest {
    sign_payload(key, payload(origin, command, issued_at, nonce))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_under_the_request_context_and_reads_back() {
        let key = keys::generate();
        let at = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        let command = pb::command::Kind::GetEntry(pb::GetEntry { index: 7 });
        let signed = sign_request(&key, "test/origin", command.clone(), at, &[9u8; 16]);
        assert_eq!(signed.key_id, KeyId::of(&key.verifying_key()).to_string());
        assert!(keys::verify(
            &key.verifying_key(),
            REQUEST_CONTEXT,
            &signed.payload,
            &signed.signature
        ));
        let mut flipped = signed.payload.clone();
        flipped[3] ^= 1;
        assert!(!keys::verify(
            &key.verifying_key(),
            REQUEST_CONTEXT,
            &flipped,
            &signed.signature
        ));
        let read = pb::RequestPayload::decode(signed.payload.as_slice()).unwrap();
        assert_eq!(read.ledger_origin, "test/origin");
        assert_eq!(read.nonce, vec![9u8; 16]);
        let issued = read.issued_at.unwrap();
        assert_eq!((issued.seconds, issued.nanos), (1_700_000_000, 5));
        assert_eq!(read.command.and_then(|c| c.kind), Some(command));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
    }
}
