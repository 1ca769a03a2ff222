//! Sealing a decided group: its entries signed back to back in index order (the
//! hash chain needs them in order; together, the ledger key's tables stay in the
//! core's caches), each checked to open as the entry meant before anything is
//! written (assert in pairs: the reader's check is `Store::entry`'s against the
//! leaf hash), the tree extended, the changed state records listed and a checkpoint
//! signed over the new tree.

use super::{Scratch, Writer};
use crate::ledger::checkpoint::{self, Checkpoint};
use crate::ledger::entry;
use crate::ledger::merkle::{Frontier, Hash};
use crate::ledger::signer::{LedgerKey, SignError};
use crate::registry::{Changes, LedgerIdentity, State};
use crate::store::StateWrite;
use chrono::{DateTime, Utc};

/// The signed checkpoint note of the tree `frontier` describes.
pub(crate) fn sign_checkpoint(
    identity: &LedgerIdentity,
    frontier: &Frontier,
    key: &LedgerKey,
) -> Result<String, SignError> {
    let cp = Checkpoint {
        origin: identity.origin.clone(),
        size: frontier.size(),
        root: frontier.root(),
        extensions: Vec::new(),
    };
    checkpoint::sign_with(&cp, super::super::checkpoint_key_name(identity), key)
}

/// Appends to `records` the stored form, in `state`, of every record `changes`
/// names (`None`: the record is gone): what a group writes besides its entries.
pub(crate) fn changed_records(state: &State, changes: &Changes, records: &mut Vec<StateWrite>) {
    for key in changes.keys() {
        records.push((key.to_bytes(), state.record(key)));
    }
}

/// Checks that sealed `bytes` open as entry `index`, linked to `prev_hash`, with
/// leaf hash `hash`: what the writer meant to write, as a reader will open it.
pub(super) fn check_sealed(
    bytes: &[u8],
    index: u64,
    prev_hash: &Hash,
    hash: &Hash,
) -> Result<(), String> {
    let opened = entry::open(bytes).map_err(|e| e.to_string())?;
    if opened.index() != index {
        return Err(format!("it opens as entry {}", opened.index()));
    }
    if opened.prev_hash() != prev_hash {
        return Err(format!(
            "its previous-entry hash is {}, the chain's is {}",
            hex::encode(opened.prev_hash()),
            hex::encode(prev_hash)
        ));
    }
    if opened.hash != *hash {
        return Err(format!(
            "its leaf hash is {}, sealing gave {}",
            hex::encode(opened.hash),
            hex::encode(hash)
        ));
    }
    Ok(())
}

impl Writer {
    /// Seals the group's decided events as entries `size_before..`, extends the
    /// tree, lists the changed state records, signs the checkpoint, and tells
    /// each appending request the hash of its first entry. `Err` says why an
    /// entry did not read back as sealed (a bug): nothing may then be written.
    pub(super) fn seal_all(
        &mut self,
        recorded_at: DateTime<Utc>,
        size_before: u64,
        scratch: &mut Scratch,
    ) -> Result<(), String> {
        let recorded_pb = crate::codec::timestamp_to_pb(recorded_at);
        let sealed_group = &mut scratch.sealed;
        sealed_group.group.size_before = size_before;
        for ((meta, event), origin) in sealed_group.applied.iter().zip(scratch.origins.drain(..)) {
            // Each entry is signed by the key in force at its index: a group
            // that carries a hand-over switches keys right after it, and a
            // replacement entry is signed by the key it brings in.
            let key = self.key_for(self.parts.state.entry_key_at(meta.index))?;
            // A key that cannot sign (a token gone away) stops the writer before
            // anything of the group is written, as a storage failure does.
            let sealed = entry::seal_with(
                meta.index,
                recorded_pb,
                &self.parts.last_hash,
                crate::codec::event_to_pb(event),
                origin,
                key,
            )
            .map_err(|e| format!("entry {} was not sealed: {e}", meta.index))?;
            let p = &mut self.parts;
            check_sealed(&sealed.bytes, meta.index, &p.last_hash, &sealed.hash).map_err(|e| {
                format!(
                    "entry {} did not read back as it was sealed ({e})",
                    meta.index
                )
            })?;
            p.last_hash = sealed.hash;
            sealed_group.group.entries.push(sealed.bytes);
            sealed_group.tree.add(&mut p.frontier, sealed.hash);
        }
        let p = &self.parts;
        changed_records(&p.state, &self.changes, &mut sealed_group.group.records);
        // The checkpoint of size n is signed by the key that signs entry n.
        let key = self.key_for(p.state.ledger_key_at(p.frontier.size()))?;
        sealed_group.group.checkpoint = sign_checkpoint(&p.identity, &p.frontier, key)
            .map_err(|e| format!("the group's checkpoint was not signed: {e}"))?;
        // A request that appended entries has its first at `first_index`, which
        // is `size_before` plus its position among the group's entries.
        for (_, outcome) in scratch.outcomes.iter_mut() {
            if let Ok(c) = outcome {
                if !c.replayed && !c.events.is_empty() {
                    c.first_hash = usize::try_from(c.first_index - size_before)
                        .ok()
                        .and_then(|at| sealed_group.tree.hashes.get(at))
                        .copied()
                        .ok_or_else(|| {
                            format!("entry {} of a request was not sealed", c.first_index)
                        })?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::entry::Origin;
    use crate::ledger::keys;
    use crate::proto as pb;

    fn sealed(index: u64, prev_hash: &Hash) -> entry::Sealed {
        entry::seal(
            index,
            prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            },
            prev_hash,
            pb::Event {
                kind: Some(pb::event::Kind::ParticipantRevoked(
                    pb::ParticipantRevoked {
                        participant_id: "bank-a".into(),
                        key_id: String::new(),
                        reason: "test".into(),
                    },
                )),
            },
            Origin::Cause(0),
            &keys::generate(),
        )
    }

    #[test]
    fn a_sealed_entry_must_open_as_the_index_link_and_hash_meant() {
        let prev = [7u8; 32];
        let good = sealed(3, &prev);
        assert_eq!(check_sealed(&good.bytes, 3, &prev, &good.hash), Ok(()));
        let refused =
            |bytes: &[u8], index: u64, prev: &Hash, hash: &Hash, says: &str| match check_sealed(
                bytes, index, prev, hash,
            ) {
                Err(e) => assert!(e.contains(says), "{says}: {e}"),
                Ok(()) => panic!("{says}: accepted"),
            };
        refused(&good.bytes, 4, &prev, &good.hash, "opens as entry 3");
        refused(&good.bytes, 3, &[8; 32], &good.hash, "previous-entry hash");
        refused(&good.bytes, 3, &prev, &[0; 32], "leaf hash");
        refused(b"\x0a\xff garbage", 3, &prev, &good.hash, "decode");
        let other = sealed(3, &prev);
        refused(&other.bytes, 3, &prev, &good.hash, "leaf hash");
    }
}
