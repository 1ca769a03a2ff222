//! Storing a ledger sealed elsewhere: a mirror's or a backup's copy of another
//! server's ledger. Nothing here decides, seals or signs. The caller verifies each
//! entry (the auditor's `Verifier`), applies its event to its own working state,
//! and hands the store the entry's bytes, its event, and at the end of each of the
//! source's group commits the source's signed checkpoint note for that size.
//!
//! - [`Seeder`] writes the first copy into an empty engine: the entries in groups
//!   of [`limits::MIRROR_SEED_GROUP_RECORDS`] as they arrive, then every state record
//!   and the note. Until [`Seeder::finish`] returns, the engine holds no ledger a
//!   reader may open (the caller marks it as unfinished and starts over after a
//!   crash); the groups stay small however large the source, since a group that
//!   starts a ledger is one atomic engine write.
//! - [`Follower`] appends to a copy opened with [`Store::open_follower`] (the open
//!   replays and cross-checks it like the server's): each commit is one group
//!   through the same appender the writer uses, so readers of the copy see it only
//!   once it is durable, and all of it at once.
//!
//! Invariant: a group is stored only with a note signed by the ledger key (the
//! key genesis names) whose size and root are exactly those of the entries held
//! after it, so every open of the copy finds the checkpoint the replay expects.

use super::handle::{Inner, Store};
use super::writer::{self, AppendError, Appender, SealedGroup};
use super::{Engine, EngineError, Group, StoreError, StoreOptions, corrupt};
use crate::ledger::checkpoint::{self, Checkpoint};
use crate::ledger::merkle::{self, Frontier, Hash};
use crate::limits;
use crate::registry::{Changes, EntryMeta, Event, LedgerIdentity, State};
use ed25519_dalek::VerifyingKey;
use std::sync::{Arc, Mutex};

/// Opens `note` as the checkpoint of `identity`'s ledger and checks that it covers
/// exactly the tree `frontier` describes.
fn check_note(
    note: &str,
    identity: &LedgerIdentity,
    ledger_key: &VerifyingKey,
    frontier: &Frontier,
) -> Result<Checkpoint, StoreError> {
    let cp = checkpoint::open(note, super::checkpoint_key_name(identity), ledger_key)
        .map_err(|e| StoreError::Invalid(format!("the source's checkpoint note: {e}")))?;
    if cp.origin != identity.origin {
        return Err(StoreError::Invalid(format!(
            "the checkpoint note is for ledger {:?}, this is {:?}",
            cp.origin, identity.origin
        )));
    }
    if cp.size != frontier.size() || cp.root != frontier.root() {
        return Err(StoreError::Invalid(format!(
            "the checkpoint note signs size {} with root {}, but the entries given make size {} with root {}",
            cp.size,
            hex::encode(cp.root),
            frontier.size(),
            hex::encode(frontier.root())
        )));
    }
    Ok(cp)
}

/// The ledger identity of `state` (after genesis) and the ledger key in force
/// at its size: the key that signs the checkpoint of that size.
fn identity_of(state: &State) -> Result<(LedgerIdentity, VerifyingKey), StoreError> {
    let identity = state
        .identity()
        .cloned()
        .ok_or_else(|| StoreError::Invalid("the state has no genesis".into()))?;
    let in_force = state
        .ledger_key_in_force()
        .ok_or_else(|| StoreError::Invalid("the state has no genesis".into()))?;
    let key = crate::ledger::keys::parse_public_key(&in_force.0)
        .map_err(|e| corrupt(0, e.to_string()))?;
    Ok((identity, key))
}

/// Writes the first copy of a ledger sealed elsewhere into an empty engine.
pub struct Seeder {
    engine: Arc<dyn Engine>,
    frontier: Frontier,
    /// Entries pushed and not yet written.
    group: Group,
    /// Entries written.
    written: u64,
}

impl Seeder {
    /// Starts a copy on `engine`, which must hold nothing.
    pub fn start(engine: Arc<dyn Engine>) -> Result<Seeder, StoreError> {
        if !engine.is_empty()? {
            return Err(StoreError::AlreadyInitialised(engine.location()));
        }
        Ok(Seeder {
            engine,
            frontier: Frontier::new(),
            group: Group::default(),
            written: 0,
        })
    }

    /// Entries pushed so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Adds the next entry (already verified by the caller), writing the entries
    /// gathered so far once there are enough for a group.
    pub fn push(&mut self, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.frontier
            .append(merkle::hash_leaf(&bytes), |_, _, _| {});
        self.group.entries.push(bytes);
        if self.group.entries.len() >= limits::MIRROR_SEED_GROUP_RECORDS {
            self.write_entries()?;
        }
        Ok(())
    }

    fn write(&self, group: &Group) -> Result<(), StoreError> {
        self.engine.write_group(group, None).map_err(|e| match e {
            EngineError::Storage(m) => StoreError::Storage(m),
            lost @ EngineError::LostWriterRole(_) => StoreError::Storage(lost.to_string()),
        })
    }

    fn write_entries(&mut self) -> Result<(), StoreError> {
        if self.group.entries.is_empty() {
            return Ok(());
        }
        self.group.size_before = self.written;
        self.write(&self.group)?;
        self.written += self.group.entries.len() as u64;
        self.group.clear();
        Ok(())
    }

    /// Ends the copy at `note`, the source's checkpoint for exactly the entries
    /// pushed, with `state` the caller's state after them: writes the remaining
    /// entries, every state record, and the note last, durably. Hands back the
    /// engine, which then holds an ordinary ledger.
    pub fn finish(mut self, note: &str, state: &State) -> Result<Arc<dyn Engine>, StoreError> {
        let (identity, key) = identity_of(state)?;
        check_note(note, &identity, &key, &self.frontier)?;
        if state.size() != self.frontier.size() {
            return Err(StoreError::Invalid(format!(
                "the state given has {} entries applied, the copy holds {}",
                state.size(),
                self.frontier.size()
            )));
        }
        self.write_entries()?;
        // Every record after the entries, in groups that follow the ledger (none
        // starts it), the last carrying the note.
        let keys = state.record_keys();
        let mut chunks = keys.chunks(limits::MIRROR_SEED_GROUP_RECORDS).peekable();
        loop {
            let chunk = chunks.next().unwrap_or(&[]);
            let last = chunks.peek().is_none();
            let mut group = Group {
                size_before: self.written,
                ..Group::default()
            };
            for (bytes, key) in chunk {
                if let Some(value) = state.record(key) {
                    group.records.push((bytes.clone(), Some(value)));
                }
            }
            if last {
                group.checkpoint = note.to_string();
            }
            self.write(&group)?;
            if last {
                break;
            }
        }
        self.engine.flush()?;
        Ok(self.engine)
    }
}

/// Appends entries sealed elsewhere to a copy opened with
/// [`Store::open_follower`], one of the source's group commits at a time.
pub struct Follower {
    appender: Appender,
    identity: LedgerIdentity,
    /// The tree and the hash chain's end after every entry pushed.
    frontier: Frontier,
    last_hash: Hash,
    /// The entries pushed since the last commit, their events and tree nodes.
    sealed: SealedGroup,
    /// The durable size.
    stored: u64,
    failure: Arc<Mutex<Option<String>>>,
    stopped: Arc<tokio::sync::Notify>,
}

impl Store {
    /// Opens the ledger `engine` holds as a copy of a ledger sealed elsewhere:
    /// rolled back, replayed and cross-checked as [`Store::open_on`] does, with no
    /// writer and no key. The handle serves readers and refuses writes; the
    /// follower appends; the state is the replay's, the caller's working state
    /// from here on (a verifier resumes from it).
    pub fn open_follower(
        engine: Arc<dyn Engine>,
        options: StoreOptions,
    ) -> Result<(Store, Follower, State), StoreError> {
        let checked = super::lifecycle::open_checked(engine)?;
        let failure = Arc::new(Mutex::new(None));
        let stopped = Arc::new(tokio::sync::Notify::new());
        let appender = Appender::new(
            checked.engine.clone(),
            checked.published.clone(),
            checked.nodes.clone(),
            options.observer,
            options.faults,
        );
        // No writer takes jobs: a write queued here is refused at once.
        let (jobs, _) = tokio::sync::mpsc::channel(1);
        let stored = checked.frontier.size();
        let follower = Follower {
            appender,
            identity: checked.identity.clone(),
            frontier: checked.frontier,
            last_hash: checked.last_hash,
            sealed: SealedGroup::default(),
            stored,
            failure: failure.clone(),
            stopped: stopped.clone(),
        };
        let ledger = Store {
            inner: Arc::new(Inner {
                engine: checked.engine,
                identity: checked.identity,
                ledger_public_key: checked.ledger_public_key,
                published: checked.published,
                jobs,
                failure,
                stopped,
                writer: Mutex::new(None),
                nodes: checked.nodes,
                // A copy's own store: no other server shares it.
                role: Arc::new(Mutex::new(None)),
                retiring: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                arriving: Arc::default(),
            }),
        };
        Ok((ledger, follower, checked.state))
    }
}

impl Follower {
    /// Entries pushed so far, stored or not yet.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Entries stored durably.
    pub fn stored_size(&self) -> u64 {
        self.stored
    }

    /// The tree after every entry pushed.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The hash of the last entry pushed.
    pub fn last_hash(&self) -> Hash {
        self.last_hash
    }

    fn usable(&self) -> Result<(), StoreError> {
        match self
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            Some(reason) => Err(StoreError::Invalid(format!(
                "this copy stopped taking entries: {reason}"
            ))),
            None => Ok(()),
        }
    }

    /// Adds the next entry (already verified, its event applied to the caller's
    /// working state) to the group being gathered.
    pub fn push(
        &mut self,
        bytes: Vec<u8>,
        meta: EntryMeta,
        event: Event,
    ) -> Result<(), StoreError> {
        self.usable()?;
        if meta.index != self.frontier.size() {
            return Err(StoreError::Invalid(format!(
                "entry {} given where entry {} belongs",
                meta.index,
                self.frontier.size()
            )));
        }
        let hash = merkle::hash_leaf(&bytes);
        self.sealed.tree.add(&mut self.frontier, hash);
        self.last_hash = hash;
        self.sealed.group.entries.push(bytes);
        self.sealed.applied.push((meta, event));
        Ok(())
    }

    /// Stores the entries pushed since the last commit, durably, with `note`
    /// (the source's checkpoint for exactly the entries pushed), and publishes
    /// them to readers. `state` is the caller's working state after them and
    /// `changes` the records their events touched. A failure stops the copy for
    /// good (as the writer stops): what is durable is for the next open to say.
    pub fn commit(
        &mut self,
        note: &str,
        state: &State,
        changes: &Changes,
    ) -> Result<(), StoreError> {
        self.usable()?;
        if self.sealed.group.entries.is_empty() {
            return Ok(());
        }
        if state.size() != self.frontier.size() {
            return Err(StoreError::Invalid(format!(
                "the state given has {} entries applied, the copy has {}",
                state.size(),
                self.frontier.size()
            )));
        }
        // Signed by the key in force at this size: a hand-over among the
        // entries pushed names it.
        let (_, key) = identity_of(state)?;
        check_note(note, &self.identity, &key, &self.frontier)?;
        let group = &mut self.sealed.group;
        group.size_before = self.stored;
        group.checkpoint = note.to_string();
        writer::changed_records(state, changes, &mut group.records);
        match self
            .appender
            .append(&mut self.sealed, state, &self.frontier, self.last_hash)
        {
            Ok(()) => {
                self.stored = self.frontier.size();
                self.sealed.clear();
                Ok(())
            }
            Err(AppendError::Write(e)) => {
                let reason = format!("storage failure, the copy stopped: {e}");
                self.stop(reason.clone());
                Err(StoreError::Storage(reason))
            }
            Err(AppendError::Publish(reason)) => {
                self.stop(reason.clone());
                Err(corrupt(self.stored, reason))
            }
        }
    }

    /// Stops the copy: nothing more is stored, and the handle's readers (and
    /// health, which follows [`Store::writer_stopped`]) hear why.
    pub fn stop(&self, reason: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if failure.is_none() {
            *failure = Some(reason);
        }
        drop(failure);
        self.stopped.notify_waiters();
    }
}
