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
use crate::ledger::recovery::Statement;
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

/// The ledger keys of a ledger: the first, and each hand-over's or
/// replacement's key with the first index (and checkpoint size) it signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyChain {
    first: VerifyingKey,
    /// Each later key and the first index it signs, in index order.
    terms: Vec<(u64, VerifyingKey)>,
    /// The replacement entries: each is signed by the key it brings in.
    replacements: Vec<(u64, VerifyingKey)>,
}

/// A recovery quorum read from a `RecoveryQuorumSet` entry: its threshold, its
/// keys and the entry's index.
struct Quorum {
    threshold: u32,
    keys: Vec<Vec<u8>>,
    set_at: u64,
}

impl KeyChain {
    /// The chain from `first` through the hand-over `entries` (stored bytes, in
    /// index order) of ledger `origin`: hand-overs, replacements, and the
    /// entries that set the recovery quorum a replacement names. `Err` says
    /// which entry fails and why.
    pub fn follow(
        origin: &str,
        first: VerifyingKey,
        entries: &[Vec<u8>],
    ) -> Result<KeyChain, String> {
        let mut chain = KeyChain {
            first,
            terms: Vec::new(),
            replacements: Vec::new(),
        };
        let mut quorum: Option<Quorum> = None;
        let mut last: Option<u64> = None;
        for bytes in entries {
            let opened = entry::open(bytes).map_err(|e| format!("a hand-over entry: {e}"))?;
            let index = opened.index();
            let in_force = chain.key_at(index);
            if last.is_some_and(|l| index <= l) {
                return Err(format!(
                    "hand-over entry {index} comes before the one the chain followed last (entries in index order)"
                ));
            }
            last = Some(index);
            match opened.body.event.as_ref().and_then(|e| e.kind.as_ref()) {
                Some(pb::event::Kind::LedgerKeyRotated(h)) => {
                    chain.take_handover(origin, &opened, index, in_force, h)?
                }
                Some(pb::event::Kind::RecoveryQuorumSet(q)) => {
                    if !opened.ledger_signature_ok(&in_force) {
                        return Err(format!(
                            "recovery quorum entry {index} is not signed by ledger key {}, the key in force at that index",
                            KeyId::of(&in_force)
                        ));
                    }
                    quorum = Some(Quorum {
                        threshold: q.threshold,
                        keys: q.recovery_public_keys.clone(),
                        set_at: index,
                    });
                }
                Some(pb::event::Kind::LedgerKeyReplaced(r)) => {
                    chain.take_replacement(origin, &opened, index, in_force, r, quorum.as_ref())?
                }
                _ => return Err(format!("entry {index} is not a ledger key hand-over")),
            }
        }
        Ok(chain)
    }

    fn check_fresh(&self, index: u64, new: &VerifyingKey) -> Result<(), String> {
        if *new == self.first || self.terms.iter().any(|(_, k)| k == new) {
            return Err(format!(
                "entry {index} hands over to key {}, which already signed this ledger",
                KeyId::of(new)
            ));
        }
        Ok(())
    }

    fn take_handover(
        &mut self,
        origin: &str,
        opened: &entry::Opened,
        index: u64,
        in_force: VerifyingKey,
        h: &pb::LedgerKeyRotated,
    ) -> Result<(), String> {
        if !opened.ledger_signature_ok(&in_force) {
            return Err(format!(
                "hand-over entry {index} is not signed by ledger key {}, the key in force at that index",
                KeyId::of(&in_force)
            ));
        }
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
        self.check_fresh(index, &new)?;
        Handover {
            origin,
            old: &in_force,
            new: &new,
            from_index: h.from_index,
        }
        .verify(&new, &h.new_key_signature)
        .map_err(|e| format!("hand-over entry {index}: {e}"))?;
        self.terms.push((h.from_index, new));
        Ok(())
    }

    /// A replacement: signed by the key it brings in, approved by at least the
    /// threshold of distinct keys of the recovery quorum the chain followed
    /// last, each approval over this ledger, key and size. The admin's
    /// signature on its request is checked by a full verification alone.
    fn take_replacement(
        &mut self,
        origin: &str,
        opened: &entry::Opened,
        index: u64,
        in_force: VerifyingKey,
        r: &pb::LedgerKeyReplaced,
        quorum: Option<&Quorum>,
    ) -> Result<(), String> {
        let new = keys::parse_public_key(&r.new_public_key)
            .map_err(|e| format!("replacement entry {index}: new key: {e}"))?;
        if !opened.ledger_signature_ok(&new) {
            return Err(format!(
                "replacement entry {index} is not signed by ledger key {}, the key it brings in",
                KeyId::of(&new)
            ));
        }
        if r.old_public_key != in_force.to_bytes() {
            return Err(format!(
                "replacement entry {index} names another old key than the key in force"
            ));
        }
        if r.after_size != index {
            return Err(format!(
                "replacement entry {index} says it follows {} entries",
                r.after_size
            ));
        }
        self.check_fresh(index, &new)?;
        let quorum = quorum.ok_or_else(|| {
            format!(
                "replacement entry {index}: no recovery quorum entry before it among the hand-over entries"
            )
        })?;
        let statement = Statement {
            origin,
            new: &new,
            after_size: r.after_size,
        };
        let mut approvers: Vec<&[u8]> = Vec::new();
        for approval in &r.approvals {
            let key = keys::parse_public_key(&approval.recovery_public_key)
                .map_err(|e| format!("replacement entry {index}: recovery key: {e}"))?;
            if !quorum.keys.contains(&approval.recovery_public_key) {
                return Err(format!(
                    "replacement entry {index}: recovery key {} is not in the quorum set at entry {}",
                    KeyId::of(&key),
                    quorum.set_at
                ));
            }
            if approvers.contains(&approval.recovery_public_key.as_slice()) {
                return Err(format!(
                    "replacement entry {index}: recovery key {} approves twice",
                    KeyId::of(&key)
                ));
            }
            statement
                .verify(&key, &approval.signature)
                .map_err(|e| format!("replacement entry {index}: {e}"))?;
            approvers.push(approval.recovery_public_key.as_slice());
        }
        if approvers.len() < quorum.threshold as usize {
            return Err(format!(
                "replacement entry {index}: {} approvals, the quorum set at entry {} needs {}",
                approvers.len(),
                quorum.set_at,
                quorum.threshold
            ));
        }
        self.terms.push((index.saturating_add(1), new));
        self.replacements.push((index, new));
        Ok(())
    }

    /// The key that signs entry `index` and the checkpoint of size `index`.
    pub fn key_at(&self, index: u64) -> VerifyingKey {
        self.terms
            .iter()
            .rev()
            .find(|(from, _)| *from <= index)
            .map_or(self.first, |(_, k)| *k)
    }

    /// The key that signs entry `index`: [`KeyChain::key_at`], except for a
    /// replacement entry, which the key it brings in signs.
    pub fn entry_key_at(&self, index: u64) -> VerifyingKey {
        self.replacements
            .iter()
            .find(|(i, _)| *i == index)
            .map_or_else(|| self.key_at(index), |(_, k)| *k)
    }

    /// The last key of the chain.
    pub fn last(&self) -> VerifyingKey {
        self.key_at(u64::MAX)
    }

    /// How many hand-overs and replacements the chain followed.
    pub fn handovers(&self) -> usize {
        self.terms.len()
    }
}
