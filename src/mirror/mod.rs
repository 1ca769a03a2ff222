//! Verified mirrors: a complete copy of another server's ledger (or of another
//! mirror's copy), kept by following it, in an ordinary data folder. It is how
//! an auditor keeps its own copy, how a treasury keeps a disaster-recovery copy
//! at a second site, and how an online backup is made (`dbond backup`: one round
//! to the source's current checkpoint).
//!
//! One round ([`Mirror::catch_up`]): read the source's signed head; check the
//! note against the notes kept so far (signed by the ledger key; not smaller than
//! one seen, which would be a rollback; not another root for a size seen, nor a
//! consistency proof from the newest kept note that fails, which would be a
//! fork); keep it; pull the entries up to its size and verify each exactly as
//! `dbond verify` does (`audit::Verifier`); then store them with the source's
//! note, durably (`store::Follower`, or `store::Seeder` for the first copy).
//!
//! The folder (`folder.rs`): `store/` (an ordinary store: `dbond verify --data`
//! checks it, and `dbond serve --data` serves it once the ledger key is put
//! beside it), `ledger.pub`, and `checkpoints/`, a witness folder
//! (`audit::witness`) holding the pinned ledger, the note of the copy's size and
//! any newer note seen, and the evidence of a fork or rollback.
//!
//! Invariants: nothing is stored before it is verified; the copy never takes a
//! note that contradicts one it has seen, and never overwrites what it holds; a
//! mirror signs nothing (it holds the source's notes, so its copy proves exactly
//! what the source's ledger proves).

mod folder;
mod follow;
mod notes;
#[cfg(test)]
mod tests;

pub use folder::Folder;
pub use follow::{Backoff, FollowOptions, follow};

use crate::audit::source::{EntrySource, ProofSource, is_transient};
use crate::audit::witness::{Saved, WitnessDir};
use crate::audit::{Verifier, VerifyFailure};
use crate::ledger::checkpoint::Checkpoint;
use crate::ledger::keys::KeyId;
use crate::limits;
use crate::metrics::Metrics;
use crate::store::{Follower, Seeder, SledEngine, Store, StoreError, StoreOptions};
use ed25519_dalek::VerifyingKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio_stream::StreamExt;

/// What a mirror follows: signed heads, entries and consistency proofs.
pub trait Source: EntrySource + ProofSource + Sync {}

impl<T: EntrySource + ProofSource + Sync> Source for T {}

/// Why a round of following did not finish.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The source signed two histories: a fork (two roots for one size, or a
    /// note no consistency proof links to the one kept) or a rollback (a size
    /// smaller than one it signed before). `kept` are the notes kept as evidence.
    #[error("{what} (evidence kept: {})", list(.kept))]
    Evidence { what: String, kept: Vec<PathBuf> },
    /// The source could not be reached or did not answer in full; trying again
    /// later may succeed.
    #[error("the source is unreachable: {0:#}")]
    Unreachable(anyhow::Error),
    /// The source refused this mirror (its key, its role, its requests).
    #[error("the source refused: {0:#}")]
    Refused(anyhow::Error),
    /// The source sent something that does not verify: an entry, a note not
    /// signed by the ledger key, entries that disagree with the note.
    #[error("the source's ledger does not verify: {0}")]
    Unverified(String),
    /// The mirror's own folder or store failed.
    #[error("{0}")]
    Local(String),
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl MirrorError {
    /// True when the round may be tried again (the source was unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(self, MirrorError::Unreachable(_))
    }

    /// An error of the source: unreachable, or a refusal trying again will not cure.
    fn of_source(e: anyhow::Error) -> MirrorError {
        if is_transient(&e) {
            MirrorError::Unreachable(e)
        } else {
            MirrorError::Refused(e)
        }
    }
}

impl From<StoreError> for MirrorError {
    fn from(e: StoreError) -> Self {
        MirrorError::Local(format!("the mirror's store: {e}"))
    }
}

impl From<VerifyFailure> for MirrorError {
    fn from(e: VerifyFailure) -> Self {
        MirrorError::Unverified(e.to_string())
    }
}

fn local(e: impl std::fmt::Display) -> MirrorError {
    MirrorError::Local(e.to_string())
}

/// How a mirror is opened.
#[derive(Clone, Default)]
pub struct MirrorOptions {
    /// The ledger key to trust from the start: a source whose notes it did not
    /// sign, or whose genesis names another key, is refused at once. Without it,
    /// the key genesis names is pinned at the first copy.
    pub ledger_key: Option<VerifyingKey>,
    /// Options of the copy's store (the metrics observer, the batch size).
    pub store: StoreOptions,
    /// Where the mirror's progress is recorded.
    pub metrics: Option<Arc<Metrics>>,
}

/// What a round of following did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Round {
    /// The size of the source's signed head read at the start of the round.
    pub source_size: u64,
    /// Entries the mirror holds, durably, after the round.
    pub size: u64,
}

/// What the mirror holds.
enum Held {
    /// Nothing yet.
    Nothing,
    /// The first copy, being written.
    Seeding(Seeder),
    /// A copy, open for readers and taking more entries.
    Copy {
        ledger: Store,
        follower: Box<Follower>,
    },
}

/// A mirror's folder, open.
pub struct Mirror {
    folder: Folder,
    notes: notes::Notes,
    held: Held,
    verifier: Verifier,
    /// The note the entries being pulled lead to, once read (kept across a round
    /// that stopped half way, which the next round finishes first).
    target: Option<Saved>,
    options: MirrorOptions,
    /// The source's last signed size read.
    source_size: u64,
}

impl Mirror {
    /// Opens (or starts) the mirror folder `path`: an unfinished first copy is
    /// removed; a copy is opened, replayed and cross-checked, and its verifier
    /// resumed from the replay. Blocking.
    pub fn open(path: &Path, options: MirrorOptions) -> Result<Mirror, MirrorError> {
        let folder = Folder::create(path)?;
        if folder.seeding() {
            tracing::warn!(
                folder = %folder.root().display(),
                "an unfinished first copy is removed; it starts again"
            );
            folder.remove_unfinished_copy()?;
        }
        let mut notes = notes::Notes::open(WitnessDir::new(&folder.checkpoints()), &options)?;
        let mut mirror = if folder.has_store() {
            let engine = SledEngine::open(&folder.store(), options.store.batch_records())?;
            let (ledger, follower, state) =
                Store::open_follower(Arc::new(engine), options.store.clone())?;
            let key = *ledger.ledger_public_key();
            notes.pin_ledger(&ledger.identity().origin, &key)?;
            notes.follow_keys(&state)?;
            folder.keep_ledger_key(&key)?;
            let nonces = held_nonces(&ledger)?;
            let mut verifier = Verifier::resume(
                state,
                follower.frontier().clone(),
                follower.last_hash(),
                nonces,
            )?;
            verifier.keep_changes();
            let note = ledger.read(|p| p.checkpoint.clone());
            notes.hold(&note)?;
            Mirror {
                folder,
                notes,
                held: Held::Copy {
                    ledger,
                    follower: Box::new(follower),
                },
                verifier,
                target: None,
                options,
                source_size: 0,
            }
        } else {
            Mirror {
                folder,
                notes,
                held: Held::Nothing,
                verifier: Verifier::new(),
                target: None,
                options,
                source_size: 0,
            }
        };
        mirror.source_size = mirror.size();
        mirror.record();
        Ok(mirror)
    }

    /// The folder.
    pub fn folder(&self) -> &Folder {
        &self.folder
    }

    /// Entries held durably.
    pub fn size(&self) -> u64 {
        match &self.held {
            Held::Copy { follower, .. } => follower.stored_size(),
            Held::Nothing | Held::Seeding(_) => 0,
        }
    }

    /// The copy, for readers, once there is one.
    pub fn ledger(&self) -> Option<&Store> {
        match &self.held {
            Held::Copy { ledger, .. } => Some(ledger),
            Held::Nothing | Held::Seeding(_) => None,
        }
    }

    /// The signed note of the copy's size.
    pub fn checkpoint(&self) -> Option<String> {
        self.ledger().map(|l| l.read(|p| p.checkpoint.clone()))
    }

    /// Stops the copy (after a fork): its readers' health turns NOT_SERVING.
    pub fn stop(&self, reason: String) {
        if let Held::Copy { follower, .. } = &self.held {
            follower.stop(reason);
        }
    }

    /// Closes the copy, flushing it and letting go of the folder. Anything pulled
    /// but not yet stored is dropped (the next round pulls it again). Other
    /// handles on the copy's ledger must be gone.
    pub fn close(self) -> Result<(), MirrorError> {
        match self.held {
            Held::Copy { ledger, follower } => {
                drop(follower);
                ledger.close()?;
            }
            // An unfinished first copy stays marked, and is removed at the next open.
            Held::Seeding(seeder) => drop(seeder),
            Held::Nothing => {}
        }
        Ok(())
    }

    fn record(&self) {
        if let Some(metrics) = &self.options.metrics {
            let size = self.size();
            metrics.record_mirror(size, self.source_size.saturating_sub(size), Instant::now());
        }
    }

    fn record_behind(&self, held_all_at: Instant) {
        if let Some(metrics) = &self.options.metrics {
            let size = self.size();
            metrics.record_mirror(size, self.source_size.saturating_sub(size), held_all_at);
        }
    }

    /// One round: reads the source's signed head, checks it against the notes
    /// kept, and brings the copy to it (first finishing a round that stopped half
    /// way). `held_all_at`: when the copy last held everything the source had
    /// signed, for the lag in metrics while the round runs.
    pub async fn catch_up(
        &mut self,
        source: &impl Source,
        held_all_at: Instant,
    ) -> Result<Round, MirrorError> {
        if let Some(target) = self.target.take() {
            self.fill(source, target, held_all_at).await?;
        }
        let head = source.head().await.map_err(MirrorError::of_source)?;
        let checked = self
            .notes
            .check(&head.checkpoint, source, self.verifier.size())
            .await?;
        self.source_size = checked.checkpoint.size;
        self.record_behind(held_all_at);
        if checked.checkpoint.size > self.verifier.size() {
            self.fill(source, checked, held_all_at).await?;
        }
        Ok(Round {
            source_size: self.source_size,
            size: self.size(),
        })
    }

    /// Pulls, verifies and stores the entries up to `target`'s size, then stores
    /// `target`'s note with them. A source that stops answering half way leaves
    /// the entries verified so far pending, and `target` to finish next time.
    async fn fill(
        &mut self,
        source: &impl Source,
        target: Saved,
        held_all_at: Instant,
    ) -> Result<(), MirrorError> {
        let end = target.checkpoint.size;
        while self.verifier.size() < end {
            if let Err(e) = self.pull(source, end).await {
                if e.is_transient() {
                    self.target = Some(target);
                }
                return Err(e);
            }
            self.record_behind(held_all_at);
        }
        blocking(|| self.store_at(&target))?;
        self.notes.stored(self.size())?;
        self.record_behind(held_all_at);
        Ok(())
    }

    /// One `StreamEntries` call's worth of entries towards `end`, each verified
    /// and handed to the store.
    async fn pull(&mut self, source: &impl Source, end: u64) -> Result<(), MirrorError> {
        let start = self.verifier.size();
        let stop = end.min(start + limits::STREAM_ENTRIES_PER_CALL_MAX);
        let mut stream = source
            .entries(start, stop)
            .await
            .map_err(MirrorError::of_source)?;
        let mut chunk = Vec::with_capacity(PULL_CHUNK);
        loop {
            let item = stream.next().await.transpose();
            let done = !matches!(item, Ok(Some(_)));
            match item {
                Ok(Some(entry)) => chunk.push(entry),
                Ok(None) => {}
                Err(e) => {
                    // What arrived verifies and stays pending before the error counts.
                    self.take(&mut chunk)?;
                    return Err(MirrorError::of_source(e));
                }
            }
            if chunk.len() >= PULL_CHUNK || done {
                self.take(&mut chunk)?;
            }
            if done {
                break;
            }
        }
        if self.verifier.size() != stop {
            return Err(MirrorError::Unreachable(anyhow::anyhow!(
                "the source's stream of entries {start}..{stop} ended at entry {}",
                self.verifier.size()
            )));
        }
        Ok(())
    }

    /// Verifies `chunk`'s entries in order and hands each to the store.
    fn take(
        &mut self,
        chunk: &mut Vec<crate::audit::source::SourcedEntry>,
    ) -> Result<(), MirrorError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let entries = std::mem::take(chunk);
        blocking(|| {
            for entry in entries {
                let expected = self.verifier.size();
                if entry.index != expected {
                    return Err(MirrorError::Unverified(format!(
                        "the source sent entry {} where entry {expected} belongs",
                        entry.index
                    )));
                }
                let (meta, event) = self.verifier.push_applied(&entry.bytes)?;
                if expected == 0 {
                    self.notes.check_genesis_key(&self.verifier)?;
                }
                // Hand-overs, replacements and the quorums a replacement may
                // name: what a reader of the folder's notes needs to follow
                // the ledger's keys.
                if matches!(
                    event,
                    crate::registry::Event::LedgerKeyRotated(_)
                        | crate::registry::Event::RecoveryQuorumSet(_)
                        | crate::registry::Event::LedgerKeyReplaced(_)
                ) {
                    self.notes.note_handover(entry.bytes.clone())?;
                }
                self.hold(entry.bytes, meta, event)?;
            }
            Ok(())
        })
    }

    /// Hands a verified entry to the store: the first starts the first copy.
    fn hold(
        &mut self,
        bytes: Vec<u8>,
        meta: crate::registry::EntryMeta,
        event: crate::registry::Event,
    ) -> Result<(), MirrorError> {
        match &mut self.held {
            Held::Copy { follower, .. } => Ok(follower.push(bytes, meta, event)?),
            Held::Seeding(seeder) => Ok(seeder.push(bytes)?),
            Held::Nothing => {
                self.folder.mark_seeding()?;
                let engine =
                    SledEngine::open(&self.folder.store(), self.options.store.batch_records())?;
                let mut seeder = Seeder::start(Arc::new(engine))?;
                seeder.push(bytes)?;
                self.held = Held::Seeding(seeder);
                Ok(())
            }
        }
    }

    /// Checks that every entry pulled is verified and makes `target`'s root, then
    /// stores them with its note.
    fn store_at(&mut self, target: &Saved) -> Result<(), MirrorError> {
        self.verifier.settle()?;
        // A note read before genesis named the key is checked now, and pins it.
        self.notes.confirm(target, &self.verifier)?;
        let size = self.verifier.size();
        let root = self.verifier.root();
        if size != target.checkpoint.size || root != target.checkpoint.root {
            return Err(MirrorError::Unverified(format!(
                "the source's entries make size {size} with root {}, but its signed checkpoint says size {} with root {}",
                hex::encode(root),
                target.checkpoint.size,
                hex::encode(target.checkpoint.root)
            )));
        }
        match &mut self.held {
            Held::Copy { follower, .. } => {
                let changes = self.verifier.take_changes();
                follower.commit(&target.note, self.verifier.state(), &changes)?;
                Ok(())
            }
            Held::Seeding(_) => {
                let Held::Seeding(seeder) = std::mem::replace(&mut self.held, Held::Nothing) else {
                    return Err(local("the first copy vanished"));
                };
                let engine = seeder.finish(&target.note, self.verifier.state())?;
                self.folder.unmark_seeding()?;
                let (ledger, follower, _replayed) =
                    Store::open_follower(engine, self.options.store.clone())?;
                self.folder.keep_ledger_key(ledger.ledger_public_key())?;
                self.verifier.keep_changes();
                tracing::info!(
                    entries = follower.stored_size(),
                    folder = %self.folder.root().display(),
                    "first copy written, replayed and cross-checked"
                );
                self.held = Held::Copy {
                    ledger,
                    follower: Box::new(follower),
                };
                Ok(())
            }
            Held::Nothing => Err(local("no entry was pulled for the first copy")),
        }
    }
}

/// Entries verified in one go between reads of the stream.
const PULL_CHUNK: usize = 4096;

/// Runs `f`, which may block on CPU or disk work, without holding up the other
/// tasks of a multi-threaded runtime.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The (key, nonce) pairs of every request `ledger` holds, read in chunks and
/// decoded on every core.
fn held_nonces(ledger: &Store) -> Result<Vec<(KeyId, Vec<u8>)>, MirrorError> {
    use rayon::prelude::*;
    const CHUNK: u64 = 8192;
    let size = ledger.size();
    let mut nonces = Vec::new();
    let mut start = 0;
    while start < size {
        let end = (start + CHUNK).min(size);
        let entries = ledger
            .entries(start, end)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let found = entries
            .par_iter()
            .map(|(index, bytes)| crate::audit::request_nonce(*index, bytes))
            .collect::<Result<Vec<_>, VerifyFailure>>()?;
        nonces.extend(found.into_iter().flatten());
        start = end;
    }
    Ok(nonces)
}

/// The checkpoint a note says, for messages.
fn describe(cp: &Checkpoint) -> String {
    format!("size {} root {}", cp.size, hex::encode(cp.root))
}
