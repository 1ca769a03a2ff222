//! The chain of ledger keys, followed from the first (genesis's) key through
//! hand-over entries alone: what a reader holding only part of a ledger (a
//! receipt, a witness) needs to know which key signs an entry or a checkpoint of
//! a given size (`docs/LEDGER_FORMAT.md` section 4.1). The hand-over file
//! (`dbond ledger-key handovers`) carries those entries.
//!
//! Invariant: a hand-over is followed only if its entry is signed by the key in
//! force at its index and the new key signed the hand-over message; so nobody
//! without the key in force can add a link, and a chain given too few hand-overs
//! ends early (it refuses a later key, never accepts a wrong one).

use crate::ledger::entry;
use crate::ledger::handover::Handover;
use crate::ledger::keys::{self, KeyId};
use crate::proto as pb;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;

/// The value of the hand-over file's `format` field.
pub const HANDOVERS_FORMAT: &str = "dbond-handovers-v1";

/// The hand-over entries of a ledger, as written to a file (JSON).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverFile {
    pub format: String,
    pub origin: String,
    pub handovers: Vec<HandoverItem>,
}

/// One hand-over entry: its index and stored bytes (canonical base64).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverItem {
    pub index: u64,
    pub entry: String,
}

impl HandoverFile {
    /// The file for `origin`'s hand-over entries (stored bytes, index order).
    pub fn new(origin: &str, entries: &[Vec<u8>]) -> Result<HandoverFile, String> {
        let handovers = entries
            .iter()
            .map(|bytes| {
                let opened = entry::open(bytes).map_err(|e| e.to_string())?;
                Ok(HandoverItem {
                    index: opened.index(),
                    entry: base64::engine::general_purpose::STANDARD.encode(bytes),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(HandoverFile {
            format: HANDOVERS_FORMAT.into(),
            origin: origin.into(),
            handovers,
        })
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and integers always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    pub fn from_json(text: &str) -> Result<HandoverFile, String> {
        let file: HandoverFile =
            serde_json::from_str(text).map_err(|e| format!("not a hand-over file: {e}"))?;
        if file.format != HANDOVERS_FORMAT {
            return Err(format!(
                "hand-over file format {:?} is not {HANDOVERS_FORMAT:?}",
                file.format
            ));
        }
        Ok(file)
    }

    /// The stored entries, decoded from base64 (canonical spelling only).
    pub fn entries(&self) -> Result<Vec<Vec<u8>>, String> {
        self.handovers
            .iter()
            .map(|h| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&h.entry)
                    .map_err(|e| format!("hand-over entry {}: {e}", h.index))?;
                if base64::engine::general_purpose::STANDARD.encode(&bytes) != h.entry {
                    return Err(format!("hand-over entry {}: not canonical base64", h.index));
                }
                Ok(bytes)
            })
            .collect()
    }
}

/// The ledger keys of a ledger: the first, and each hand-over's key with the
/// first index (and checkpoint size) it signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyChain {
    first: VerifyingKey,
    /// Each hand-over's key and the first index it signs, in index order.
    terms: Vec<(u64, VerifyingKey)>,
}

impl KeyChain {
    /// The chain from `first` through the hand-over `entries` (stored bytes, in
    /// index order) of ledger `origin`. `Err` says which hand-over fails and why.
    pub fn follow(
        origin: &str,
        first: VerifyingKey,
        entries: &[Vec<u8>],
    ) -> Result<KeyChain, String> {
        let mut chain = KeyChain {
            first,
            terms: Vec::new(),
        };
        for bytes in entries {
            let opened = entry::open(bytes).map_err(|e| format!("a hand-over entry: {e}"))?;
            let index = opened.index();
            let in_force = chain.key_at(index);
            if let Some((from, _)) = chain.terms.last() {
                if index < *from {
                    return Err(format!(
                        "hand-over entry {index} comes before the one the chain followed last (entries in index order)"
                    ));
                }
            }
            if !opened.ledger_signature_ok(&in_force) {
                return Err(format!(
                    "hand-over entry {index} is not signed by ledger key {}, the key in force at that index",
                    KeyId::of(&in_force)
                ));
            }
            let Some(pb::event::Kind::LedgerKeyRotated(h)) =
                opened.body.event.as_ref().and_then(|e| e.kind.as_ref())
            else {
                return Err(format!("entry {index} is not a ledger key hand-over"));
            };
            if h.old_public_key != in_force.to_bytes() {
                return Err(format!(
                    "hand-over entry {index} names another old key than the key in force"
                ));
            }
            if h.from_index != index.saturating_add(1) {
                return Err(format!(
                    "hand-over entry {index} says the new key signs from entry {}, not {}",
                    h.from_index,
                    index.saturating_add(1)
                ));
            }
            let new = keys::parse_public_key(&h.new_public_key)
                .map_err(|e| format!("hand-over entry {index}: new key: {e}"))?;
            if new == chain.first || chain.terms.iter().any(|(_, k)| *k == new) {
                return Err(format!(
                    "hand-over entry {index} hands over to key {}, which already signed this ledger",
                    KeyId::of(&new)
                ));
            }
            Handover {
                origin,
                old: &in_force,
                new: &new,
                from_index: h.from_index,
            }
            .verify(&new, &h.new_key_signature)
            .map_err(|e| format!("hand-over entry {index}: {e}"))?;
            chain.terms.push((h.from_index, new));
        }
        Ok(chain)
    }

    /// The key that signs entry `index` and the checkpoint of size `index`.
    pub fn key_at(&self, index: u64) -> VerifyingKey {
        self.terms
            .iter()
            .rev()
            .find(|(from, _)| *from <= index)
            .map_or(self.first, |(_, k)| *k)
    }

    /// The last key of the chain.
    pub fn last(&self) -> VerifyingKey {
        self.key_at(u64::MAX)
    }

    /// How many hand-overs the chain followed.
    pub fn handovers(&self) -> usize {
        self.terms.len()
    }
}
