//! Witnessing: an auditor keeps the signed checkpoints it has seen (a witness
//! folder) and later checks that the ledger only grew: every newer checkpoint is
//! consistent with every older one, and no two signed checkpoints of one size
//! differ (a fork).
//!
//! A witness folder holds `ledger.json` (the origin and ledger key, pinned on first
//! use) and one `checkpoint-<size, 20 digits>.txt` per saved note. Evidence of a
//! fork is kept as `fork-<size>-<root hex>.txt`.
//!
//! Invariant: a note enters the folder only after its signature verifies under the
//! pinned key and it is consistent with everything already there.

use super::handovers::{HandoverFile, KeyChain};
use super::verifier::{Verified, VerifyFailure};
use crate::ledger::checkpoint::{self, Checkpoint};
use crate::ledger::keys::{self, KeyId};
use ed25519_dalek::VerifyingKey;
use std::path::{Path, PathBuf};

/// Why a new checkpoint cannot be accepted next to the saved ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    #[error(
        "FORK: two different checkpoints of size {size} are both signed by the ledger key: saved root {saved}, new root {new}"
    )]
    Fork {
        size: u64,
        saved: String,
        new: String,
    },
    #[error(
        "ROLLBACK: the ledger now signs size {new}, but it signed size {saved} before; a log never shrinks"
    )]
    Rollback { saved: u64, new: u64 },
    #[error("{0}")]
    Other(String),
}

/// Sizes of saved notes, read without verification (to keep their roots while
/// verifying entries).
pub fn sizes_of(notes: &[String]) -> anyhow::Result<Vec<u64>> {
    notes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            checkpoint::parse_unverified(n)
                .map(|(cp, _)| cp.size)
                .map_err(|e| anyhow::anyhow!("saved checkpoint {}: {e}", i + 1))
        })
        .collect()
}

/// Checks each saved note against a verified ledger: signed by its ledger key, and
/// its root equal to the root the entries give at its size. A saved note of a
/// size the entries reach, with another root, is a fork.
pub fn check_saved(verified: &Verified, notes: &[String]) -> Result<(), VerifyFailure> {
    let last = verified.size.saturating_sub(1);
    let fail = |reason: String| VerifyFailure {
        index: last,
        reason,
    };
    let identity = verified
        .state
        .identity()
        .ok_or_else(|| fail("no genesis".into()))?;
    for note in notes {
        let (unverified, _) = checkpoint::parse_unverified(note)
            .map_err(|e| fail(format!("saved checkpoint: {e}")))?;
        let in_force = verified
            .state
            .ledger_key_at(unverified.size)
            .ok_or_else(|| fail("no genesis".into()))?;
        let key =
            keys::parse_public_key(&in_force.0).map_err(|e| fail(format!("ledger key: {e}")))?;
        let cp = checkpoint::open(note, crate::store::checkpoint_key_name(identity), &key)
            .map_err(|e| {
                fail(format!(
                    "saved checkpoint is not signed by this ledger's key: {e}"
                ))
            })?;
        if cp.size > verified.size {
            return Err(fail(format!(
                "ROLLBACK: a saved checkpoint signs size {}, but only {} entries are here (the ledger was truncated, or this copy is older than what was witnessed)",
                cp.size, verified.size
            )));
        }
        let root = if cp.size == verified.size {
            Some(verified.root)
        } else {
            verified.roots.get(&cp.size).copied()
        };
        let root = root.ok_or_else(|| fail(format!("no root kept for size {}", cp.size)))?;
        if root != cp.root {
            return Err(VerifyFailure {
                index: cp.size.saturating_sub(1),
                reason: format!(
                    "FORK: the saved checkpoint of size {} is signed by the ledger key with root {}, but the entries give {}",
                    cp.size,
                    hex::encode(cp.root),
                    hex::encode(root)
                ),
            });
        }
    }
    Ok(())
}

/// The ledger a witness folder follows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pinned {
    pub origin: String,
    /// 32-byte Ed25519 ledger key, hex.
    pub ledger_public_key: String,
}

impl Pinned {
    pub fn key(&self) -> anyhow::Result<VerifyingKey> {
        let bytes = hex::decode(&self.ledger_public_key)
            .map_err(|e| anyhow::anyhow!("ledger.json: ledger_public_key: {e}"))?;
        Ok(keys::parse_public_key(&bytes)?)
    }
}

/// A witness folder.
pub struct WitnessDir {
    path: PathBuf,
}

/// A saved note and what it says.
#[derive(Debug, Clone)]
pub struct Saved {
    pub note: String,
    pub checkpoint: Checkpoint,
}

impl WitnessDir {
    pub fn new(path: &Path) -> WitnessDir {
        WitnessDir {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn pin_file(&self) -> PathBuf {
        self.path.join("ledger.json")
    }

    /// The pinned ledger, if the folder has one.
    pub fn pinned(&self) -> anyhow::Result<Option<Pinned>> {
        match std::fs::read_to_string(self.pin_file()) {
            Ok(text) => {
                Ok(Some(serde_json::from_str(&text).map_err(|e| {
                    anyhow::anyhow!("{}: {e}", self.pin_file().display())
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", self.pin_file().display())),
        }
    }

    /// Pins the ledger (first use).
    pub fn pin(&self, pinned: &Pinned) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", self.path.display()))?;
        let text = serde_json::to_string_pretty(pinned)? + "\n";
        std::fs::write(self.pin_file(), text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.pin_file().display()))
    }

    fn handovers_file(&self) -> PathBuf {
        self.path.join("handovers.json")
    }

    /// The ledger key hand-over entries kept (`handovers.json`), in index order.
    pub fn handovers(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        match std::fs::read_to_string(self.handovers_file()) {
            Ok(text) => HandoverFile::from_json(&text)
                .and_then(|f| f.entries())
                .map_err(|e| anyhow::anyhow!("{}: {e}", self.handovers_file().display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", self.handovers_file().display())),
        }
    }

    /// Keeps `entries` (every hand-over entry known, in index order) once they
    /// lead from the pinned key; returns the chain they make.
    pub fn keep_handovers(&self, pinned: &Pinned, entries: &[Vec<u8>]) -> anyhow::Result<KeyChain> {
        let chain = KeyChain::follow(&pinned.origin, pinned.key()?, entries)
            .map_err(|e| anyhow::anyhow!("the ledger key's hand-overs: {e}"))?;
        if entries.len() > self.handovers()?.len() {
            std::fs::create_dir_all(&self.path)?;
            let file =
                HandoverFile::new(&pinned.origin, entries).map_err(|e| anyhow::anyhow!(e))?;
            std::fs::write(self.handovers_file(), file.to_json()).map_err(|e| {
                anyhow::anyhow!("cannot write {}: {e}", self.handovers_file().display())
            })?;
        }
        Ok(chain)
    }

    /// The chain of ledger keys from the pinned one through the hand-overs kept.
    pub fn chain(&self, pinned: &Pinned) -> anyhow::Result<KeyChain> {
        KeyChain::follow(&pinned.origin, pinned.key()?, &self.handovers()?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.handovers_file().display()))
    }

    /// Every saved note, verified under the ledger key in force for its size
    /// (the pinned key, or one the kept hand-overs lead to), by size.
    pub fn saved(&self, pinned: &Pinned) -> anyhow::Result<Vec<Saved>> {
        let chain = self.chain(pinned)?;
        let mut out = Vec::new();
        let dir = match std::fs::read_dir(&self.path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", self.path.display())),
        };
        for item in dir {
            let path = item?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !(name.starts_with("checkpoint-") && name.ends_with(".txt")) {
                continue;
            }
            let note = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let (unverified, _) = checkpoint::parse_unverified(&note)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let key = chain.key_at(unverified.size);
            let checkpoint = checkpoint::open(&note, &pinned.origin, &key).map_err(|e| {
                anyhow::anyhow!(
                    "{}: not signed by the pinned ledger key: {e}",
                    path.display()
                )
            })?;
            out.push(Saved { note, checkpoint });
        }
        out.sort_by_key(|s| s.checkpoint.size);
        Ok(out)
    }

    /// Saves a note (already checked with [`compare`]).
    pub fn save(&self, saved: &Saved) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(&self.path)?;
        let path = self
            .path
            .join(format!("checkpoint-{:020}.txt", saved.checkpoint.size));
        std::fs::write(&path, &saved.note)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }

    /// Keeps a note that contradicts a saved one, as evidence.
    pub fn save_evidence(&self, note: &str, cp: &Checkpoint) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(&self.path)?;
        let path = self
            .path
            .join(format!("fork-{}-{}.txt", cp.size, hex::encode(cp.root)));
        std::fs::write(&path, note)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }
}

/// What a new checkpoint needs next to the saved ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing saved yet: trust starts here.
    First,
    /// The same checkpoint as one already saved.
    Same,
    /// A consistency proof from `old_size` (the largest saved size) to the new size.
    ProveFrom { old_size: u64 },
}

/// Compares a new (signature-checked) checkpoint with the saved ones.
pub fn compare(saved: &[Saved], new: &Checkpoint) -> Result<Next, WitnessError> {
    for s in saved {
        if s.checkpoint.size == new.size && s.checkpoint.root != new.root {
            return Err(WitnessError::Fork {
                size: new.size,
                saved: hex::encode(s.checkpoint.root),
                new: hex::encode(new.root),
            });
        }
    }
    let Some(latest) = saved.last() else {
        return Ok(Next::First);
    };
    if latest.checkpoint.size > new.size {
        return Err(WitnessError::Rollback {
            saved: latest.checkpoint.size,
            new: new.size,
        });
    }
    if latest.checkpoint.size == new.size {
        return Ok(Next::Same);
    }
    Ok(Next::ProveFrom {
        old_size: latest.checkpoint.size,
    })
}

/// Describes a key for people: its id.
pub fn key_id(key: &VerifyingKey) -> KeyId {
    KeyId::of(key)
}
