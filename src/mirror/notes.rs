//! The notes a mirror keeps and how a new one is judged, in a witness folder
//! (`audit::witness`): the pinned ledger (`ledger.json`), the note of the copy's
//! size and any newer one seen (`checkpoint-<size>.txt`), and evidence
//! (`fork-<size>-<root>.txt`, `rollback-<size>-<root>.txt`).
//!
//! A new note must be signed by the pinned ledger key, may not sign another root
//! for a size kept (a fork) nor a smaller size than the newest kept (a rollback),
//! and the source must prove it consistent with the newest kept note. Older notes
//! are let go once the copy holds a newer one: each was proved consistent with
//! the next before it was stored, and the copy's own tree gives the root at every
//! size it holds.
//!
//! Invariant: a note is kept only after those checks; a note that fails them is
//! kept beside the one it contradicts, and nothing already kept is overwritten.

use super::{MirrorError, MirrorOptions, Source, describe, local};
use crate::audit::Verifier;
use crate::audit::witness::{self, Next, Pinned, Saved, WitnessDir, WitnessError};
use crate::ledger::checkpoint::{self, Checkpoint};
use crate::ledger::keys::KeyId;
use crate::ledger::merkle;
use ed25519_dalek::VerifyingKey;
use std::path::PathBuf;

/// `note` opened as a checkpoint of ledger `origin` signed by `key`.
fn open_note(note: &str, origin: &str, key: &VerifyingKey) -> Result<Checkpoint, MirrorError> {
    checkpoint::open(note, origin, key).map_err(|e| {
        MirrorError::Unverified(format!(
            "the source's checkpoint is not signed by ledger key {} for {origin:?}: {e} (a different ledger, or its key was replaced)",
            KeyId::of(key)
        ))
    })
}

pub(super) struct Notes {
    dir: WitnessDir,
    /// The ledger followed, once known: pinned in the folder, given by the
    /// operator (the key only), or named by the first copy's genesis.
    origin: Option<String>,
    key: Option<VerifyingKey>,
    /// The ledger keys that took over from the pinned one, with the first
    /// size each signs, as far as the verified entries tell.
    handed: Vec<(u64, VerifyingKey)>,
    /// The hand-over entries verified, kept in the folder (`handovers.json`)
    /// once a ledger is pinned: the saved notes of later keys open with them.
    handovers: Vec<Vec<u8>>,
    /// Kept notes, by size.
    saved: Vec<Saved>,
}

impl Notes {
    pub fn open(dir: WitnessDir, options: &MirrorOptions) -> Result<Notes, MirrorError> {
        let pinned = dir.pinned().map_err(local)?;
        let handovers = dir.handovers().map_err(local)?;
        let (origin, key, saved) = match pinned {
            Some(pin) => {
                let key = pin.key().map_err(local)?;
                if let Some(given) = options.ledger_key.filter(|given| *given != key) {
                    return Err(local(format!(
                        "{} follows ledger key {}, not the key given ({})",
                        dir.path().display(),
                        KeyId::of(&key),
                        KeyId::of(&given)
                    )));
                }
                let saved = dir.saved(&pin).map_err(local)?;
                (Some(pin.origin), Some(key), saved)
            }
            None => (None, options.ledger_key, Vec::new()),
        };
        Ok(Notes {
            dir,
            origin,
            key,
            handed: Vec::new(),
            handovers,
            saved,
        })
    }

    /// Keeps a hand-over entry the verifier accepted (its stored bytes).
    pub fn note_handover(&mut self, bytes: Vec<u8>) -> Result<(), MirrorError> {
        self.handovers.push(bytes);
        self.keep_handovers()
    }

    fn keep_handovers(&self) -> Result<(), MirrorError> {
        if let (Some(origin), Some(key)) = (&self.origin, &self.key) {
            let pinned = Pinned {
                origin: origin.clone(),
                ledger_public_key: hex::encode(key.as_bytes()),
            };
            self.dir
                .keep_handovers(&pinned, &self.handovers)
                .map_err(local)?;
        }
        Ok(())
    }

    /// Follows the hand-overs of the ledger key that the verified `state`
    /// holds: notes of a size from each hand-over's first index on are opened
    /// under its key.
    pub fn follow_keys(&mut self, state: &crate::registry::State) -> Result<(), MirrorError> {
        self.handed = state
            .ledger_key_terms()
            .into_iter()
            .skip(1)
            .map(|t| {
                crate::ledger::keys::parse_public_key(&t.public_key.0)
                    .map(|k| (t.from_index, k))
                    .map_err(|e| MirrorError::Unverified(format!("a handed-over ledger key: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// The key that signs the note of `size`, as far as the entries verified
    /// tell.
    fn key_at(&self, size: u64) -> Option<VerifyingKey> {
        self.handed
            .iter()
            .rev()
            .find(|(from, _)| *from <= size)
            .map(|(_, k)| *k)
            .or(self.key)
    }

    fn note_path(&self, size: u64) -> PathBuf {
        self.dir.path().join(format!("checkpoint-{size:020}.txt"))
    }

    /// Pins the ledger `origin` and `key` name (that of a copy opened, or of a
    /// verified genesis), refusing another than the one pinned or given.
    pub fn pin_ledger(&mut self, origin: &str, key: &VerifyingKey) -> Result<(), MirrorError> {
        if let Some(pinned) = self.key.filter(|k| k != key) {
            return Err(local(format!(
                "the copy's ledger key is {}, but this mirror follows key {}",
                KeyId::of(key),
                KeyId::of(&pinned)
            )));
        }
        if let Some(pinned) = self.origin.as_deref().filter(|o| *o != origin) {
            return Err(local(format!(
                "the copy is ledger {origin:?}, but this mirror follows {pinned:?}"
            )));
        }
        if self.dir.pinned().map_err(local)?.is_none() {
            self.dir
                .pin(&Pinned {
                    origin: origin.to_string(),
                    ledger_public_key: hex::encode(key.as_bytes()),
                })
                .map_err(local)?;
        }
        self.origin = Some(origin.to_string());
        self.key = Some(*key);
        self.keep_handovers()
    }

    fn opened(&self, note: &str) -> Result<Checkpoint, MirrorError> {
        let (unverified, _) = checkpoint::parse_unverified(note)
            .map_err(|e| MirrorError::Unverified(format!("the source's checkpoint note: {e}")))?;
        let (Some(origin), Some(key)) = (&self.origin, self.key_at(unverified.size)) else {
            return Err(local("no ledger is pinned yet"));
        };
        open_note(note, origin, &key)
    }

    fn keep(&mut self, saved: Saved) -> Result<(), MirrorError> {
        self.dir.save(&saved).map_err(local)?;
        let at = self
            .saved
            .partition_point(|s| s.checkpoint.size < saved.checkpoint.size);
        self.saved.insert(at, saved);
        Ok(())
    }

    /// Makes sure the note of the copy opened (`note`) is kept: a note of its
    /// size with another root is a fork seen before.
    pub fn hold(&mut self, note: &str) -> Result<(), MirrorError> {
        let cp = self.opened(note)?;
        match self.saved.iter().find(|s| s.checkpoint.size == cp.size) {
            Some(s) if s.checkpoint.root == cp.root => Ok(()),
            Some(s) => Err(MirrorError::Evidence {
                what: format!(
                    "FORK: the copy holds {}, but a note kept says {}",
                    describe(&cp),
                    describe(&s.checkpoint)
                ),
                kept: vec![self.note_path(cp.size)],
            }),
            None => self.keep(Saved {
                note: note.to_string(),
                checkpoint: cp,
            }),
        }
    }

    /// Judges the source's new signed `note` against the kept notes (asking
    /// `source` for a consistency proof from the newest), keeps it, and returns
    /// it. Before any ledger is pinned (a first copy without a given key) the
    /// note is returned unchecked: [`Notes::confirm`] checks it once genesis has
    /// named the key.
    pub async fn check(
        &mut self,
        note: &str,
        source: &impl Source,
        verified_size: u64,
    ) -> Result<Saved, MirrorError> {
        let (unverified, _) = checkpoint::parse_unverified(note)
            .map_err(|e| MirrorError::Unverified(format!("the source's checkpoint note: {e}")))?;
        // A note beyond the entries verified that the key in force does not
        // sign may be signed by a key a hand-over among those entries names:
        // it is judged once they are verified (`confirm`), where the entries,
        // which extend the copy, must make its root.
        let handed_over =
            unverified.size > verified_size && self.origin.is_some() && self.opened(note).is_err();
        if self.key.is_none() || handed_over {
            return Ok(Saved {
                note: note.to_string(),
                checkpoint: unverified,
            });
        }
        let cp = match (&self.origin, self.key) {
            (Some(_), Some(_)) => self.opened(note)?,
            // The key was given without the origin: the note names it, and it
            // is pinned once the note's signature under the key checks out.
            (None, Some(key)) => {
                let cp = open_note(note, &unverified.origin, &key)?;
                self.pin_ledger(&cp.origin, &key)?;
                cp
            }
            (_, None) => return Err(local("no ledger is pinned yet")),
        };
        let new = Saved {
            note: note.to_string(),
            checkpoint: cp,
        };
        match witness::compare(&self.saved, &new.checkpoint) {
            Err(e @ WitnessError::Fork { .. }) => {
                let evidence = self
                    .dir
                    .save_evidence(note, &new.checkpoint)
                    .map_err(local)?;
                Err(MirrorError::Evidence {
                    what: e.to_string(),
                    kept: vec![self.note_path(new.checkpoint.size), evidence],
                })
            }
            Err(e @ WitnessError::Rollback { saved, .. }) => {
                let evidence = self.save_rollback(note, &new.checkpoint)?;
                Err(MirrorError::Evidence {
                    what: e.to_string(),
                    kept: vec![self.note_path(saved), evidence],
                })
            }
            Err(WitnessError::Other(e)) => Err(local(e)),
            Ok(Next::First) => {
                self.keep(new.clone())?;
                Ok(new)
            }
            Ok(Next::Same) => Ok(new),
            Ok(Next::ProveFrom { old_size }) => {
                let old = self
                    .saved
                    .iter()
                    .find(|s| s.checkpoint.size == old_size)
                    .map(|s| s.checkpoint.clone())
                    .ok_or_else(|| local(format!("the kept note of size {old_size} vanished")))?;
                let proof = source
                    .consistency_proof(old_size, new.checkpoint.size)
                    .await
                    .map_err(MirrorError::of_source)?;
                if let Err(e) = merkle::verify_consistency(
                    old_size,
                    new.checkpoint.size,
                    &old.root,
                    &new.checkpoint.root,
                    &proof,
                ) {
                    let evidence = self
                        .dir
                        .save_evidence(note, &new.checkpoint)
                        .map_err(local)?;
                    return Err(MirrorError::Evidence {
                        what: format!(
                            "FORK: the source signs {}, and its consistency proof does not show it extends {}, which it signed before: {e}",
                            describe(&new.checkpoint),
                            describe(&old)
                        ),
                        kept: vec![self.note_path(old_size), evidence],
                    });
                }
                self.keep(new.clone())?;
                Ok(new)
            }
        }
    }

    /// Keeps a note that signs a smaller size than one kept, as evidence.
    fn save_rollback(&self, note: &str, cp: &Checkpoint) -> Result<PathBuf, MirrorError> {
        let path =
            self.dir
                .path()
                .join(format!("rollback-{}-{}.txt", cp.size, hex::encode(cp.root)));
        std::fs::write(&path, note)
            .map_err(|e| local(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }

    /// Refuses a genesis that names another ledger key than the one pinned or
    /// given.
    pub fn check_genesis_key(&self, verifier: &Verifier) -> Result<(), MirrorError> {
        match (self.key, verifier.ledger_key()) {
            (Some(pinned), Some(named)) if pinned != named => {
                Err(MirrorError::Unverified(format!(
                    "genesis names ledger key {}, but this mirror follows key {}",
                    KeyId::of(&named),
                    KeyId::of(&pinned)
                )))
            }
            _ => Ok(()),
        }
    }

    /// Checks and keeps `target` (the note the entries were pulled to) if it was
    /// read before any key was pinned: now genesis is verified, its key and origin
    /// are pinned, and the note must be signed by that key.
    pub fn confirm(&mut self, target: &Saved, verifier: &Verifier) -> Result<(), MirrorError> {
        if self
            .saved
            .iter()
            .any(|s| s.checkpoint.size == target.checkpoint.size)
        {
            return Ok(());
        }
        self.follow_keys(verifier.state())?;
        if self.key.is_none() {
            let key = verifier
                .ledger_key()
                .ok_or_else(|| MirrorError::Unverified("the ledger has no genesis".into()))?;
            let origin = verifier
                .state()
                .identity()
                .map(|i| i.origin.clone())
                .ok_or_else(|| MirrorError::Unverified("the ledger has no genesis".into()))?;
            self.pin_ledger(&origin, &key)?;
        }
        let cp = self.opened(&target.note)?;
        self.keep(Saved {
            note: target.note.clone(),
            checkpoint: cp,
        })
    }

    /// The copy now holds `size` entries: notes of smaller sizes are let go.
    pub fn stored(&mut self, size: u64) -> Result<(), MirrorError> {
        let (old, kept): (Vec<Saved>, Vec<Saved>) = std::mem::take(&mut self.saved)
            .into_iter()
            .partition(|s| s.checkpoint.size < size);
        self.saved = kept;
        for s in old {
            let path = self.note_path(s.checkpoint.size);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(local(format!("cannot remove {}: {e}", path.display()))),
            }
        }
        Ok(())
    }
}
