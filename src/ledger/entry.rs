//! Sealing and opening ledger entries.
//!
//! An entry is stored as the encoded `LedgerEntry { body, ledger_signature }`; its
//! hash is the RFC 6962 leaf hash of exactly those bytes. Opening never re-encodes:
//! hashes and signatures are checked over the bytes as stored.
//!
//! Invariant: every stored byte is read. Each stored message (the entry, its body,
//! and a request an actor carries) decodes to a message whose encoding is exactly
//! as long as the bytes: no unknown field, no field given twice, no field given
//! at its default value, no over-long varint (`decode_exact`).

use super::keys::{self, ENTRY_CONTEXT, SIGNATURE_BYTES};
use super::merkle::{Hash, hash_leaf};
use super::signer::{SignError, Signer};
use crate::proto as pb;
use ed25519_dalek::{SigningKey, VerifyingKey};
use prost::Message;

/// The `prev_hash` of entry 0.
pub const GENESIS_PREV_HASH: Hash = [0u8; 32];

/// Who caused an entry: a signed request, or an earlier entry of the same request.
#[derive(Clone, Debug)]
pub enum Origin {
    Actor(pb::Actor),
    Cause(u64),
}

/// A sealed entry: its stored bytes and its hash.
#[derive(Clone, Debug)]
pub struct Sealed {
    pub bytes: Vec<u8>,
    pub hash: Hash,
}

/// Builds, signs and encodes an entry.
pub fn seal(
    index: u64,
    recorded_at: prost_types::Timestamp,
    prev_hash: &Hash,
    event: pb::Event,
    origin: Origin,
    ledger_key: &SigningKey,
) -> Sealed {
    let body_bytes = body(index, recorded_at, prev_hash, event, origin);
    let signature = keys::sign(ledger_key, ENTRY_CONTEXT, &body_bytes);
    finish(body_bytes, &signature)
}

/// [`seal`] through the ledger key's [`Signer`] boundary (a key file or a token),
/// which may fail to sign.
pub fn seal_with<S: Signer + ?Sized>(
    index: u64,
    recorded_at: prost_types::Timestamp,
    prev_hash: &Hash,
    event: pb::Event,
    origin: Origin,
    ledger_key: &S,
) -> Result<Sealed, SignError> {
    let body_bytes = body(index, recorded_at, prev_hash, event, origin);
    let signature = ledger_key.sign(ENTRY_CONTEXT, &body_bytes)?;
    Ok(finish(body_bytes, &signature))
}

/// The encoded `EntryBody` the ledger key signs.
fn body(
    index: u64,
    recorded_at: prost_types::Timestamp,
    prev_hash: &Hash,
    event: pb::Event,
    origin: Origin,
) -> Vec<u8> {
    let (actor, cause_index) = match origin {
        Origin::Actor(a) => (Some(a), 0),
        Origin::Cause(i) => (None, i),
    };
    pb::EntryBody {
        index,
        recorded_at: Some(recorded_at),
        prev_hash: prev_hash.to_vec(),
        event: Some(event),
        actor,
        cause_index,
    }
    .encode_to_vec()
}

/// The stored entry: the body and its signature, and its leaf hash.
fn finish(body_bytes: Vec<u8>, signature: &ed25519_dalek::Signature) -> Sealed {
    let entry = pb::LedgerEntry {
        body: body_bytes,
        ledger_signature: signature.to_bytes().to_vec(),
    };
    let bytes = entry.encode_to_vec();
    let hash = hash_leaf(&bytes);
    Sealed { bytes, hash }
}

/// An entry decoded from its stored bytes. Shape is checked; signatures are not
/// (see [`Opened::ledger_signature_ok`]).
#[derive(Clone, Debug)]
pub struct Opened {
    pub hash: Hash,
    pub body: pb::EntryBody,
    pub body_bytes: Vec<u8>,
    pub ledger_signature: Vec<u8>,
}

impl Opened {
    pub fn index(&self) -> u64 {
        self.body.index
    }

    pub fn prev_hash(&self) -> &[u8] {
        &self.body.prev_hash
    }

    pub fn ledger_signature_ok(&self, ledger_key: &VerifyingKey) -> bool {
        keys::verify(
            ledger_key,
            ENTRY_CONTEXT,
            &self.body_bytes,
            &self.ledger_signature,
        )
    }
}

/// Decodes `bytes` as the message `M` (named `what` in errors) and requires the
/// message to hold every byte: its encoding is exactly as long as `bytes`. An
/// unknown field, a field given twice (prost keeps the last, or merges a message),
/// a field written at its default value or an over-long varint all make the
/// bytes longer than what was read, and are refused. Field order is not checked:
/// whatever the order, every byte is read.
pub fn decode_exact<M: Message + Default>(what: &str, bytes: &[u8]) -> Result<M, EntryError> {
    let message = M::decode(bytes).map_err(|e| EntryError::Decode(format!("{what}: {e}")))?;
    let read = message.encoded_len();
    if read != bytes.len() {
        return Err(EntryError::Unread {
            what: what.to_string(),
            bytes: bytes.len(),
            read,
        });
    }
    Ok(message)
}

/// Decodes stored entry bytes and checks their shape.
pub fn open(bytes: &[u8]) -> Result<Opened, EntryError> {
    let entry: pb::LedgerEntry = decode_exact("ledger entry", bytes)?;
    let body: pb::EntryBody = decode_exact("entry body", &entry.body)?;
    if entry.ledger_signature.len() != SIGNATURE_BYTES {
        return Err(EntryError::Shape(format!(
            "ledger signature must be {SIGNATURE_BYTES} bytes, found {}",
            entry.ledger_signature.len()
        )));
    }
    if body.prev_hash.len() != 32 {
        return Err(EntryError::Shape(format!(
            "prev_hash must be 32 bytes, found {}",
            body.prev_hash.len()
        )));
    }
    if body.recorded_at.is_none() {
        return Err(EntryError::Shape("recorded_at is missing".into()));
    }
    if body.event.as_ref().and_then(|e| e.kind.as_ref()).is_none() {
        return Err(EntryError::Shape(
            "event is missing or of an unknown kind".into(),
        ));
    }
    match &body.actor {
        Some(a) => {
            if body.cause_index != 0 {
                return Err(EntryError::Shape(
                    "an entry with an actor must not name a cause".into(),
                ));
            }
            if a.signature.len() != SIGNATURE_BYTES {
                return Err(EntryError::Shape(format!(
                    "actor signature must be {SIGNATURE_BYTES} bytes, found {}",
                    a.signature.len()
                )));
            }
        }
        None => {
            if body.cause_index >= body.index {
                return Err(EntryError::Shape(format!(
                    "cause index {} must be before the entry's own index {}",
                    body.cause_index, body.index
                )));
            }
        }
    }
    Ok(Opened {
        hash: hash_leaf(bytes),
        body,
        body_bytes: entry.body,
        ledger_signature: entry.ledger_signature,
    })
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("cannot decode {0}")]
    Decode(String),
    #[error("malformed entry: {0}")]
    Shape(String),
    #[error(
        "{what} is {bytes} bytes but its fields take {read}: unknown or repeated fields, or fields at their default value, are not part of the format"
    )]
    Unread {
        what: String,
        bytes: usize,
        read: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed() -> Sealed {
        let key = SigningKey::from_bytes(&[5u8; 32]);
        let event = pb::Event {
            kind: Some(pb::event::Kind::SeriesOpened(pb::SeriesOpened {
                series_id: "AZ-2030-USD".into(),
            })),
        };
        let at = prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        };
        seal(7, at, &[3u8; 32], event, Origin::Cause(5), &key)
    }

    /// The entry's body re-sealed with `extra` bytes appended to it.
    fn with_body_suffix(extra: &[u8]) -> Vec<u8> {
        let entry = pb::LedgerEntry::decode(sealed().bytes.as_slice()).unwrap();
        let mut body = entry.body.clone();
        body.extend_from_slice(extra);
        pb::LedgerEntry {
            body,
            ledger_signature: entry.ledger_signature,
        }
        .encode_to_vec()
    }

    #[test]
    fn an_entry_opens_only_if_every_byte_is_read() {
        let good = sealed();
        assert_eq!(open(&good.bytes).unwrap().index(), 7);
        // An unknown field (number 15, varint 1) in the body.
        let unknown = with_body_suffix(&[0x78, 0x01]);
        match open(&unknown) {
            Err(EntryError::Unread { what, .. }) => assert_eq!(what, "entry body"),
            other => panic!("an unknown field was {other:?}"),
        }
        // The index given a second time: prost keeps the last, the first is unread.
        let twice = with_body_suffix(&[0x08, 0x07]);
        assert!(matches!(open(&twice), Err(EntryError::Unread { .. })));
        // cause_index written at its default value 0.
        let zero = with_body_suffix(&[0x30, 0x00]);
        assert!(matches!(open(&zero), Err(EntryError::Unread { .. })));
        // An unknown field after the entry itself.
        let mut outer = good.bytes.clone();
        outer.extend_from_slice(&[0x18, 0x01]);
        match open(&outer) {
            Err(EntryError::Unread { what, bytes, read }) => {
                assert_eq!(
                    (what.as_str(), bytes, read),
                    ("ledger entry", read + 2, read)
                )
            }
            other => panic!("an unknown field was {other:?}"),
        }
        // An over-long varint for the index (7 as two bytes).
        let entry = pb::LedgerEntry::decode(good.bytes.as_slice()).unwrap();
        let mut body = entry.body.clone();
        assert_eq!(&body[..2], &[0x08, 0x07]);
        body.splice(0..2, [0x08, 0x87, 0x00]);
        let long = pb::LedgerEntry {
            body,
            ledger_signature: entry.ledger_signature,
        }
        .encode_to_vec();
        assert!(matches!(open(&long), Err(EntryError::Unread { .. })));
    }
}
