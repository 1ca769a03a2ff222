//! The store: the only module that imports sled. It appends entries and the state
//! changes derived from them in one atomic batch, makes them durable before anyone
//! hears of them (group commit: one flush for many writers), and on open replays the
//! whole ledger, checking it against the stored tree, checkpoint and state.
//!
//! Invariants: entries are immutable once written; readers only ever see durable
//! entries and the state derived from them; any disagreement between stored bytes
//! and their replay stops the open with `StoreError::Corrupt`.

mod layout;
mod replay;
mod writer;

pub use replay::{Replayed, replay};
pub use writer::{Committed, WriteError, WriteRequest, authorize};

use crate::clock::Clock;
use crate::ledger::checkpoint::{self, Checkpoint};
use crate::ledger::entry;
use crate::ledger::keys::{self, KeyId, REQUEST_CONTEXT};
use crate::ledger::merkle::{self, Frontier, Hash, MerkleError, NodeReader};
use crate::proto as pb;
use crate::registry::{self, Changes, EntryMeta, LedgerIdentity, State};
use ed25519_dalek::{SigningKey, VerifyingKey};
use prost::Message;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// Where a queued write's outcome arrives.
type Outcome = tokio::sync::oneshot::Receiver<Result<Committed, WriteError>>;

/// Why the store cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Storage(String),
    /// The stored ledger disagrees with itself: changed bytes, torn writes, a bug.
    #[error("ledger store is corrupt at entry {index}: {reason}")]
    Corrupt { index: u64, reason: String },
    #[error("no ledger in {0}: run `dbond serve` once to create one")]
    NotInitialised(String),
    #[error("a ledger already exists in {0}")]
    AlreadyInitialised(String),
    #[error(
        "the ledger key does not match this ledger (genesis names key {expected}, given {found})"
    )]
    KeyMismatch { expected: String, found: String },
    #[error("{0}")]
    Invalid(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Storage(e.to_string())
    }
}

fn corrupt(index: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        index,
        reason: reason.into(),
    }
}

/// What readers see: the durable ledger and the state derived from it.
#[derive(Debug)]
pub struct Published {
    pub state: State,
    pub frontier: Frontier,
    pub last_hash: Hash,
    /// The latest signed checkpoint note, covering every durable entry.
    pub checkpoint: String,
}

impl Published {
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }
}

/// Told of the writer's work, for metrics: the store records into nothing global.
pub trait WriterObserver: Send + Sync {
    /// A group commit of `entries` entries became durable; the write and flush took `took`.
    fn group_committed(&self, entries: u64, took: std::time::Duration);
}

/// Options of an opened store. The default is what the server runs with.
#[derive(Clone, Default)]
pub struct StoreOptions {
    /// A planned storage failure, for tests of the fail-stop path. Only the library
    /// API sets it: no configuration key, environment variable or flag reaches it.
    pub faults: Option<FaultPlan>,
    /// Records per sled batch (default `limits::STORE_BATCH_RECORDS_MAX`); tests set
    /// a small one to write ordinary groups in several batches.
    pub batch_records: Option<usize>,
    /// Told of every durable group commit.
    pub observer: Option<std::sync::Arc<dyn WriterObserver>>,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("faults", &self.faults)
            .field("batch_records", &self.batch_records)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// Where in a group commit a planned storage failure strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    /// Handing the group's batch to sled: nothing of the group is written.
    BatchWrite,
    /// Flushing sled after the batch was applied in memory.
    Flush,
    /// `fdatasync` of the data file after sled's flush succeeded.
    Sync,
    /// The second sled batch of a group written in several: the first (with the
    /// pending marker) is written and flushed, the rest of the group is not, as
    /// after a crash in the middle of a large group.
    LaterBatch,
    /// Not storage: a bug. The writer panics after deciding the group, before
    /// writing it.
    Panic,
}

/// A planned storage failure: the `commit`-th group commit that writes entries
/// after the store was opened (counting from 1) fails at `point` with an I/O error,
/// as a full disk or a failing drive would make it fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    pub commit: u64,
    pub point: FaultPoint,
}

/// Parameters of a new ledger.
pub struct Genesis<'a> {
    pub origin: String,
    pub admin_participant_id: registry::ParticipantId,
    pub admin_key: &'a SigningKey,
}

/// Reads perfect Merkle nodes, every level from memory: a leaf (level 0) is the
/// leaf hash of its entry, and every node is filled by the replay at open and by
/// the writer after each durable group, before the new size is published: 64
/// bytes per entry in all. A perfect node never changes once complete, so the copy
/// in memory is never stale, and the store holds no node that could drift from the
/// entries. (Proofs read no entry: at ten million entries a read from sled missed
/// its cache and took 150 µs.)
#[derive(Clone)]
pub struct StoredNodes {
    levels: Arc<RwLock<NodeLevels>>,
}

/// Perfect Merkle nodes, per level, at their index: the nodes a frontier's appends
/// complete, in order, the leaves included.
#[derive(Default, Debug, Clone)]
pub struct NodeLevels {
    levels: Vec<Vec<Hash>>,
}

impl NodeLevels {
    /// Records a completed node; nodes of one level arrive in index order.
    pub fn push(&mut self, level: u32, index: u64, hash: Hash) {
        let level = level as usize;
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        debug_assert_eq!(self.levels[level].len() as u64, index);
        self.levels[level].push(hash);
    }

    fn get(&self, level: u32, index: u64) -> Option<Hash> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
    }
}

impl NodeReader for NodeLevels {
    fn node(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        self.get(level, index).ok_or_else(|| {
            MerkleError::Storage(format!(
                "merkle node (level {level}, index {index}) is not complete"
            ))
        })
    }
}

impl NodeReader for StoredNodes {
    fn node(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        self.levels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .node(level, index)
    }
}

/// A handle on an open ledger store. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    identity: LedgerIdentity,
    ledger_public_key: VerifyingKey,
    published: Arc<RwLock<Published>>,
    jobs: tokio::sync::mpsc::Sender<writer::Job>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    failure: Arc<Mutex<Option<String>>>,
    stopped: Arc<tokio::sync::Notify>,
    nodes: Arc<RwLock<NodeLevels>>,
}

/// sled 0.34's `flush` ends in `sync_file_range`, which neither flushes the drive's
/// write cache nor the file size: an acknowledged write would survive a process
/// crash but not a power cut. After each flush the writer also `fdatasync`s the
/// data file, through this handle.
pub(crate) struct DataFile(std::fs::File);

impl DataFile {
    fn open(path: &Path) -> Result<DataFile, StoreError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path.join("db"))
            .map_err(|e| {
                StoreError::Storage(format!(
                    "cannot open the store's data file for syncing: {e}"
                ))
            })?;
        Ok(DataFile(file))
    }

    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
}

fn open_db(path: &Path) -> Result<(sled::Db, sled::Tree), StoreError> {
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(256 << 20)
        .flush_every_ms(None)
        .open()?;
    let tree = db.open_tree(layout::TREE_NAME)?;
    Ok((db, tree))
}

/// Key name used in checkpoint signature lines: the origin.
pub fn checkpoint_key_name(identity: &LedgerIdentity) -> &str {
    &identity.origin
}

impl Ledger {
    /// Creates a new ledger at `path`: genesis (signed by the new admin key) is
    /// written and made durable before this returns.
    pub fn create(
        path: &Path,
        ledger_key: &SigningKey,
        genesis: Genesis<'_>,
        clock: Arc<dyn Clock>,
    ) -> Result<Ledger, StoreError> {
        Ledger::create_with(path, ledger_key, genesis, clock, StoreOptions::default())
    }

    /// [`Ledger::create`] with options for the writer it starts.
    pub fn create_with(
        path: &Path,
        ledger_key: &SigningKey,
        genesis: Genesis<'_>,
        clock: Arc<dyn Clock>,
        options: StoreOptions,
    ) -> Result<Ledger, StoreError> {
        // The handles stay open into `open_opened`: dropping them and opening the
        // folder again raced sled's background threads for the file lock, and the
        // create failed now and then with "could not acquire lock".
        let (db, tree) = open_db(path)?;
        {
            if !tree.is_empty() {
                return Err(StoreError::AlreadyInitialised(path.display().to_string()));
            }
            // The origin is also the checkpoint key name: printable, no spaces, no '+'.
            checkpoint::validate_key_name(&genesis.origin).map_err(|e| {
                StoreError::Invalid(format!(
                    "origin {:?} cannot name a ledger: {e}",
                    genesis.origin
                ))
            })?;
            let now = clock.now();
            let admin_public = genesis.admin_key.verifying_key();
            let command = pb::Command {
                kind: Some(pb::command::Kind::Genesis(pb::Genesis {
                    origin: genesis.origin.clone(),
                    ledger_public_key: ledger_key.verifying_key().to_bytes().to_vec(),
                    admin_participant_id: genesis.admin_participant_id.to_string(),
                    admin_public_key: admin_public.to_bytes().to_vec(),
                })),
            };
            let mut nonce = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
            let payload = pb::RequestPayload {
                ledger_origin: genesis.origin.clone(),
                issued_at: Some(crate::codec::timestamp_to_pb(now)),
                nonce: nonce.to_vec(),
                command: Some(command),
            }
            .encode_to_vec();
            let signature = keys::sign(genesis.admin_key, REQUEST_CONTEXT, &payload);
            let admin_key_id = KeyId::of(&admin_public);
            let event = registry::Event::Genesis(registry::GenesisRecorded {
                format_version: crate::ledger::FORMAT_VERSION,
                origin: genesis.origin.clone(),
                ledger_public_key: registry::PublicKey(ledger_key.verifying_key().to_bytes()),
                admin_participant_id: genesis.admin_participant_id.clone(),
                admin_public_key: registry::PublicKey(admin_public.to_bytes()),
                admin_key_id: admin_key_id.clone(),
            });
            let sealed = entry::seal(
                0,
                crate::codec::timestamp_to_pb(now),
                &entry::GENESIS_PREV_HASH,
                crate::codec::event_to_pb(&event),
                entry::Origin::Actor(pb::Actor {
                    key_id: admin_key_id.to_string(),
                    request: payload,
                    signature: signature.to_bytes().to_vec(),
                }),
                ledger_key,
            );
            let mut state = State::new();
            let mut changes = Changes::default();
            registry::apply(
                &mut state,
                &EntryMeta {
                    index: 0,
                    recorded_at: now,
                },
                &event,
                &mut changes,
            )
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
            let mut frontier = Frontier::new();
            let mut batch = sled::Batch::default();
            batch.insert(layout::entry_key(0).to_vec(), sealed.bytes);
            frontier.append(sealed.hash, |_, _, _| {});
            for key in changes.keys() {
                if let Some(record) = state.record(key) {
                    batch.insert(layout::state_key(key), record);
                }
            }
            let identity = state
                .identity()
                .cloned()
                .ok_or_else(|| StoreError::Invalid("genesis did not set the identity".into()))?;
            batch.insert(
                layout::CHECKPOINT_KEY,
                sign_checkpoint(&identity, &frontier, ledger_key).into_bytes(),
            );
            tree.apply_batch(batch)?;
            db.flush()?;
            DataFile::open(path)?
                .sync()
                .map_err(|e| StoreError::Storage(e.to_string()))?;
        }
        Ledger::open_opened(path, db, tree, ledger_key.clone(), clock, options)
    }

    /// Opens an existing ledger, replaying and checking it in full, and starts the
    /// writer. Refuses a store that disagrees with itself.
    pub fn open(
        path: &Path,
        ledger_key: SigningKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Ledger, StoreError> {
        Ledger::open_with(path, ledger_key, clock, StoreOptions::default())
    }

    /// [`Ledger::open`] with options (tests use it to plan a storage failure).
    pub fn open_with(
        path: &Path,
        ledger_key: SigningKey,
        clock: Arc<dyn Clock>,
        options: StoreOptions,
    ) -> Result<Ledger, StoreError> {
        let (db, tree) = open_db(path)?;
        Ledger::open_opened(path, db, tree, ledger_key, clock, options)
    }

    /// Replays, checks and starts the writer on a database already open.
    fn open_opened(
        path: &Path,
        db: sled::Db,
        tree: sled::Tree,
        ledger_key: SigningKey,
        clock: Arc<dyn Clock>,
        options: StoreOptions,
    ) -> Result<Ledger, StoreError> {
        if tree.is_empty() {
            return Err(StoreError::NotInitialised(path.display().to_string()));
        }
        let started = std::time::Instant::now();
        let batch_records = options
            .batch_records
            .unwrap_or(crate::limits::STORE_BATCH_RECORDS_MAX)
            .max(1);
        // A group commit interrupted between its batches is rolled back first: its
        // entries now, the state records it changed once the replay gives them.
        let unfinished = roll_back_unfinished_entries(&db, &tree, batch_records)?;
        // The registry records are read and digested on their own thread while
        // the entries replay, then compared with what the replay gives.
        let (replayed, mut stored_state) = std::thread::scope(|scope| {
            let state = named(scope, "state-read", || StoredDigest::of(&tree));
            let replayed = replay(&tree, |_| {});
            let stored = state.and_then(|s| {
                s.join()
                    .unwrap_or_else(|_| Err(StoreError::Storage("a store reader panicked".into())))
            });
            (replayed, stored)
        });
        let mut replayed = replayed?;
        let replay_took = started.elapsed();
        let last = replayed.frontier.size().saturating_sub(1);
        if let Some(removed) = unfinished {
            stored_state?;
            restore_state_records(&db, &tree, &replayed.state, batch_records)?;
            DataFile::open(path)?
                .sync()
                .map_err(|e| StoreError::Storage(e.to_string()))?;
            tracing::warn!(
                removed_entries = removed,
                size = replayed.frontier.size(),
                "an unfinished group commit (never acknowledged) was rolled back"
            );
            stored_state = StoredDigest::of(&tree);
        }
        // Readers get their own copy of the state; it is made while the checks run.
        let (checked, published_state) = std::thread::scope(|scope| {
            let copy = named(scope, "state-copy", || {
                let started = std::time::Instant::now();
                (replayed.state.readers_copy(), started.elapsed())
            });
            let check_started = std::time::Instant::now();
            let checked = stored_state
                .and_then(|stored| check_stored(&tree, &replayed.state, last, stored))
                .map(|()| check_started.elapsed());
            let copied = copy.and_then(|c| {
                c.join()
                    .map_err(|_| StoreError::Storage("copying the replayed state panicked".into()))
            });
            (checked, copied)
        });
        let compare_took = checked?;
        let (published_state, copy_took) = published_state?;
        tracing::info!(
            entries = replayed.frontier.size(),
            replay_ms = replay_took.as_millis() as u64,
            check_ms = (started.elapsed() - replay_took).as_millis() as u64,
            compare_ms = compare_took.as_millis() as u64,
            copy_ms = copy_took.as_millis() as u64,
            "ledger replayed and cross-checked"
        );
        // The tree's levels stay in memory for proofs; the writer adds to them.
        let nodes = Arc::new(RwLock::new(std::mem::take(&mut replayed.nodes)));
        let identity = replayed
            .state
            .identity()
            .cloned()
            .ok_or_else(|| corrupt(0, "no ledger identity after replay"))?;
        let ledger_public_key = keys::parse_public_key(&identity.ledger_public_key.0)
            .map_err(|e| corrupt(0, e.to_string()))?;
        if ledger_public_key != ledger_key.verifying_key() {
            return Err(StoreError::KeyMismatch {
                expected: KeyId::of(&ledger_public_key).to_string(),
                found: KeyId::of(&ledger_key.verifying_key()).to_string(),
            });
        }
        let published = Arc::new(RwLock::new(Published {
            state: published_state,
            frontier: replayed.frontier.clone(),
            last_hash: replayed.last_hash,
            checkpoint: replayed.checkpoint.clone(),
        }));
        let failure = Arc::new(Mutex::new(None));
        let stopped = Arc::new(tokio::sync::Notify::new());
        let (jobs, writer) = writer::spawn(writer::WriterParts {
            data_file: DataFile::open(path)?,
            db: db.clone(),
            tree: tree.clone(),
            ledger_key,
            identity: identity.clone(),
            clock,
            state: replayed.state,
            frontier: replayed.frontier,
            last_hash: replayed.last_hash,
            published: published.clone(),
            failure: failure.clone(),
            stopped: stopped.clone(),
            faults: options.faults,
            batch_records,
            nodes: nodes.clone(),
            observer: options.observer,
        })?;
        Ok(Ledger {
            inner: Arc::new(Inner {
                db,
                tree,
                identity,
                ledger_public_key,
                published,
                jobs,
                failure,
                stopped,
                writer: Mutex::new(Some(writer)),
                nodes,
            }),
        })
    }

    /// Closes the store: stops the writer (after the jobs already queued), flushes,
    /// and releases sled's lock, so the folder can be opened again (for example by
    /// an auditor). Fails if other handles to this ledger are still alive.
    pub fn close(self) -> Result<(), StoreError> {
        let inner = Arc::try_unwrap(self.inner).map_err(|_| {
            StoreError::Invalid(
                "the ledger is still in use elsewhere; drop every other handle before closing"
                    .into(),
            )
        })?;
        let Inner {
            db,
            tree,
            jobs,
            writer,
            ..
        } = inner;
        drop(jobs);
        if let Some(handle) = writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
        db.flush()?;
        drop(tree);
        drop(db);
        Ok(())
    }

    pub fn identity(&self) -> &LedgerIdentity {
        &self.inner.identity
    }

    pub fn ledger_public_key(&self) -> &VerifyingKey {
        &self.inner.ledger_public_key
    }

    /// Runs `f` on the published (durable) view.
    pub fn read<R>(&self, f: impl FnOnce(&Published) -> R) -> R {
        let guard = self
            .inner
            .published
            .read()
            .unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }

    /// Number of durable entries.
    pub fn size(&self) -> u64 {
        self.read(|p| p.size())
    }

    /// Why the writer stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.inner
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Resolves when the writer has stopped (a storage failure or a bug), with why;
    /// at once if it already has. Reads go on; every write is refused from then on.
    pub async fn writer_stopped(&self) -> String {
        loop {
            let notified = self.inner.stopped.notified();
            tokio::pin!(notified);
            // Registered before the check, so a stop between the two is not missed.
            notified.as_mut().enable();
            if let Some(reason) = self.failure() {
                return reason;
            }
            notified.await;
        }
    }

    /// Appends what `request` decides, returning once it is durable.
    pub async fn write(&self, request: WriteRequest) -> Result<Committed, WriteError> {
        let wait = self.enqueue(request).await?;
        self.outcome(wait).await
    }

    /// Appends what each request decides, deciding them in the given order (a
    /// later one sees what an earlier one wrote), returning each outcome once the
    /// group commits carrying them are durable. They are queued together, so they
    /// share group commits.
    pub async fn write_many(
        &self,
        requests: Vec<WriteRequest>,
    ) -> Vec<Result<Committed, WriteError>> {
        let mut waits = Vec::with_capacity(requests.len());
        for request in requests {
            waits.push(self.enqueue(request).await);
        }
        let mut outcomes = Vec::with_capacity(waits.len());
        for wait in waits {
            outcomes.push(match wait {
                Ok(wait) => self.outcome(wait).await,
                Err(e) => Err(e),
            });
        }
        outcomes
    }

    /// Queues `request` for the writer (waiting while the queue is full).
    async fn enqueue(&self, request: WriteRequest) -> Result<Outcome, WriteError> {
        let (reply, wait) = tokio::sync::oneshot::channel();
        self.inner
            .jobs
            .send(writer::Job { request, reply })
            .await
            .map_err(|_| {
                WriteError::Unavailable(
                    self.failure()
                        .unwrap_or_else(|| "the ledger writer has stopped".into()),
                )
            })?;
        Ok(wait)
    }

    async fn outcome(&self, wait: Outcome) -> Result<Committed, WriteError> {
        match wait.await {
            Ok(outcome) => outcome,
            // The writer dropped the reply: it panicked on this request's group and
            // records why as it stops.
            Err(_) => Err(WriteError::Unavailable(format!(
                "{}; this request may or may not be on the ledger (all of its group commit or none of it): check after the restart or resubmit with the same idempotency key",
                self.writer_stopped().await
            ))),
        }
    }

    /// The stored bytes of a durable entry.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if index >= self.size() {
            return Ok(None);
        }
        Ok(self
            .inner
            .tree
            .get(layout::entry_key(index))?
            .map(|v| v.to_vec()))
    }

    /// Durable entries in `start..end` (end clamped to the size), in order.
    pub fn entries(
        &self,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + use<> {
        let end = end.min(self.size());
        let range = layout::entry_key(start)..layout::entry_key(end.max(start));
        self.inner.tree.range(range).map(|item| {
            let (k, v) = item?;
            Ok((
                layout::entry_index(&k).ok_or_else(|| corrupt(0, "bad entry key"))?,
                v.to_vec(),
            ))
        })
    }

    pub fn nodes(&self) -> StoredNodes {
        StoredNodes {
            levels: self.inner.nodes.clone(),
        }
    }

    /// Root hash of the tree of the first `size` entries (`size` ≤ current size).
    pub fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        if size > self.size() {
            return Err(StoreError::Invalid(format!(
                "tree size {size} is beyond the ledger size {}",
                self.size()
            )));
        }
        merkle::root_at(size, &self.nodes()).map_err(|e| StoreError::Storage(e.to_string()))
    }

    /// Removes the database handle's background threads' work: flushes and waits.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.db.flush()?;
        Ok(())
    }
}

fn sign_checkpoint(identity: &LedgerIdentity, frontier: &Frontier, key: &SigningKey) -> String {
    let cp = Checkpoint {
        origin: identity.origin.clone(),
        size: frontier.size(),
        root: frontier.root(),
        extensions: Vec::new(),
    };
    checkpoint::sign(&cp, checkpoint_key_name(identity), key)
}

/// One write to the store: a key and its new value (`None` removes it).
pub(crate) type Write = (Vec<u8>, Option<Vec<u8>>);

/// Adds `writes` to `batch`, in order.
fn add_writes(batch: &mut sled::Batch, writes: impl Iterator<Item = Write>) {
    for (key, value) in writes {
        match value {
            Some(v) => batch.insert(key, v),
            None => batch.remove(key),
        }
    }
}

/// If the pending marker is there (a group commit written in several batches was
/// interrupted before its last), removes the entries beyond the signed checkpoint,
/// which that group wrote and nobody was told of, and returns how many. The marker
/// stays until the state records are restored (`restore_state_records`), so a crash
/// during the roll-back leaves it to the next open.
fn roll_back_unfinished_entries(
    db: &sled::Db,
    tree: &sled::Tree,
    batch_records: usize,
) -> Result<Option<u64>, StoreError> {
    let Some(marker) = tree.get(layout::PENDING_KEY)? else {
        return Ok(None);
    };
    let before = <[u8; 8]>::try_from(marker.as_ref())
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt(0, "the pending-group marker is malformed"))?;
    let note = tree
        .get(layout::CHECKPOINT_KEY)?
        .ok_or_else(|| corrupt(before, "the signed checkpoint is missing"))?;
    let size = std::str::from_utf8(&note)
        .ok()
        .and_then(|n| checkpoint::parse_unverified(n).ok())
        .map(|(cp, _)| cp.size)
        .ok_or_else(|| corrupt(before, "the stored checkpoint cannot be read"))?;
    // The replay checks the checkpoint's signature; nothing it covers is removed.
    if size != before {
        return Err(corrupt(
            before,
            format!(
                "the pending-group marker says the ledger had {before} entries before an unfinished group, the checkpoint says {size}"
            ),
        ));
    }
    let mut removed = 0u64;
    loop {
        let keys: Vec<sled::IVec> = tree
            .range(layout::entry_key(size)..=layout::entry_key(u64::MAX))
            .keys()
            .take(batch_records)
            .collect::<Result<_, _>>()?;
        if keys.is_empty() {
            break;
        }
        let mut batch = sled::Batch::default();
        for key in &keys {
            batch.remove(key);
        }
        tree.apply_batch(batch)?;
        db.flush()?;
        removed += keys.len() as u64;
    }
    Ok(Some(removed))
}

/// Rewrites the state records that differ from `state` (the replay's) and removes
/// those it does not have, then the pending marker, in batches: the second half of
/// rolling back an unfinished group. `stored` is every stored state record, in key
/// order.
fn restore_state_records(
    db: &sled::Db,
    tree: &sled::Tree,
    state: &State,
    batch_records: usize,
) -> Result<(), StoreError> {
    let mut writes: Vec<Write> = Vec::new();
    let expected = state.record_keys();
    let mut stored = read_prefix(tree, layout::STATE_PREFIX)?
        .into_iter()
        .peekable();
    let mut buf = Vec::new();
    for (key_bytes, key) in &expected {
        let full = [layout::STATE_PREFIX, key_bytes.as_slice()].concat();
        // Stored records before this key are not in the state: remove them.
        while let Some((k, _)) = stored.next_if(|(k, _)| k.as_ref() < full.as_slice()) {
            writes.push((k.to_vec(), None));
        }
        buf.clear();
        if !state.record_into(key, &mut buf) {
            continue;
        }
        match stored.next_if(|(k, _)| k.as_ref() == full.as_slice()) {
            Some((_, v)) if v.as_ref() == buf.as_slice() => {}
            _ => writes.push((full, Some(buf.clone()))),
        }
    }
    writes.extend(stored.map(|(k, _)| (k.to_vec(), None)));
    let mut writes = writes.into_iter().peekable();
    loop {
        let mut batch = sled::Batch::default();
        add_writes(&mut batch, writes.by_ref().take(batch_records));
        let last = writes.peek().is_none();
        if last {
            batch.remove(layout::PENDING_KEY);
        }
        tree.apply_batch(batch)?;
        db.flush()?;
        if last {
            return Ok(());
        }
    }
}

/// Refuses keys outside the layout (`c`, `e` + index, `s` + record): one lookup per
/// gap between the known prefixes. Entry keys of the wrong length are the replay's.
fn check_no_stray_records(tree: &sled::Tree, last: u64) -> Result<(), StoreError> {
    use std::ops::Bound::{self, Excluded, Included, Unbounded};
    type Gap<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);
    let gaps: [Gap<'_>; 4] = [
        (Unbounded, Excluded(layout::CHECKPOINT_KEY)),
        (
            Excluded(layout::CHECKPOINT_KEY),
            Excluded(&[layout::ENTRY_PREFIX]),
        ),
        (
            Included(&[layout::ENTRY_PREFIX + 1]),
            Excluded(layout::STATE_PREFIX),
        ),
        (Included(&[layout::STATE_PREFIX[0] + 1]), Unbounded),
    ];
    for gap in gaps {
        if let Some(item) = tree.range::<&[u8], _>(gap).next() {
            let (key, _) = item?;
            return Err(corrupt(
                last,
                format!(
                    "the store holds a record of no known kind (key {})",
                    hex::encode(&key[..key.len().min(16)])
                ),
            ));
        }
    }
    Ok(())
}

/// Every (key, value) under `prefix`, in key order.
/// Spawns a named scoped thread (the name shows in `top -H` and profiles).
pub(crate) fn named<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, T>, StoreError> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn_scoped(scope, f)
        .map_err(|e| StoreError::Storage(format!("starting the {name} thread: {e}")))
}

fn read_prefix(
    tree: &sled::Tree,
    prefix: &[u8],
) -> Result<Vec<(sled::IVec, sled::IVec)>, StoreError> {
    tree.scan_prefix(prefix)
        .map(|item| item.map_err(StoreError::from))
        .collect()
}

/// State records per digest block: the stored records are digested in blocks
/// while the entries replay, and the replayed state's blocks are digested in
/// parallel, then the two lists compared.
const RECORDS_PER_DIGEST: usize = 65_536;

/// Digests of a sequence of state records in blocks of `RECORDS_PER_DIGEST`
/// (each record's key without the state prefix, then its value, each
/// length-prefixed), and how many records there were.
#[derive(Debug, Default, PartialEq, Eq)]
struct StoredDigest {
    records: u64,
    blocks: Vec<[u8; 32]>,
}

impl StoredDigest {
    /// Digests the stored records without keeping a million of them in memory.
    fn of(tree: &sled::Tree) -> Result<StoredDigest, StoreError> {
        Self::in_blocks(tree, RECORDS_PER_DIGEST)
    }

    fn in_blocks(tree: &sled::Tree, block: usize) -> Result<StoredDigest, StoreError> {
        use sha2::Digest;
        let mut out = StoredDigest::default();
        let mut hasher = sha2::Sha256::new();
        for item in tree.scan_prefix(layout::STATE_PREFIX) {
            let (k, v) = item?;
            digest_record(&mut hasher, &k[layout::STATE_PREFIX.len()..], &v);
            out.records += 1;
            if out.records % block as u64 == 0 {
                out.blocks.push(hasher.finalize_reset().into());
            }
        }
        if out.records % block as u64 != 0 {
            out.blocks.push(hasher.finalize().into());
        }
        Ok(out)
    }

    /// The digest the replayed `state`'s records give (`None` if a listed record
    /// is missing, which cannot match either).
    fn expected(
        state: &State,
        keys: &[(Vec<u8>, crate::registry::StateKey)],
        block: usize,
    ) -> Option<Self> {
        use rayon::prelude::*;
        use sha2::Digest;
        let blocks = keys
            .par_chunks(block)
            .map(|chunk| {
                let mut hasher = sha2::Sha256::new();
                let mut buf = Vec::new();
                for (key_bytes, key) in chunk {
                    if !state.record_into(key, &mut buf) {
                        return None;
                    }
                    digest_record(&mut hasher, key_bytes, &buf);
                }
                Some(hasher.finalize().into())
            })
            .collect::<Option<Vec<[u8; 32]>>>()?;
        Some(StoredDigest {
            records: keys.len() as u64,
            blocks,
        })
    }
}

fn digest_record(hasher: &mut sha2::Sha256, key: &[u8], value: &[u8]) {
    use sha2::Digest;
    for part in [key, value] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
}

/// Compares what the store holds besides entries and the checkpoint (the state
/// records) with the replay of the entries, and refuses records of no known kind.
/// `last` is the index a difference is reported at. The records are compared
/// by digest; only when the digests differ are they read again to name the
/// first difference.
fn check_stored(
    tree: &sled::Tree,
    state: &State,
    last: u64,
    stored: StoredDigest,
) -> Result<(), StoreError> {
    check_no_stray_records(tree, last)?;
    let expected = state.record_keys();
    if StoredDigest::expected(state, &expected, RECORDS_PER_DIGEST).as_ref() == Some(&stored) {
        return Ok(());
    }
    let mut buf = Vec::new();
    let stored = read_prefix(tree, layout::STATE_PREFIX)?;
    let differs = |(k, v): &(sled::IVec, sled::IVec),
                   (ek, key): &(Vec<u8>, crate::registry::StateKey),
                   buf: &mut Vec<u8>| {
        &k[layout::STATE_PREFIX.len()..] != ek.as_slice()
            || !state.record_into(key, buf)
            || v.as_ref() != buf.as_slice()
    };
    let first_diff = stored
        .iter()
        .zip(&expected)
        .find(|(a, b)| differs(a, b, &mut buf))
        .map(|(_, b)| String::from_utf8_lossy(&b.0).into_owned())
        .or_else(|| {
            (stored.len() != expected.len()).then(|| {
                format!(
                    "{} records expected, {} stored",
                    expected.len(),
                    stored.len()
                )
            })
        });
    if let Some(first_diff) = first_diff {
        return Err(corrupt(
            last,
            format!(
                "stored registry state disagrees with the replay of the ledger (first difference: {first_diff})"
            ),
        ));
    }
    Ok(())
}

/// Read-only access to a stopped store's raw contents, for auditors: no replay on
/// open, no writer, no key. (sled takes a lock: a running server's store cannot be
/// opened; stop it or use `--server`.)
pub struct RawStore {
    tree: sled::Tree,
    _db: sled::Db,
}

impl RawStore {
    pub fn open(path: &Path) -> Result<RawStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotInitialised(path.display().to_string()));
        }
        let (db, tree) = open_db(path).map_err(|e| match e {
            StoreError::Storage(m) if m.contains("WouldBlock") || m.contains("lock") => {
                StoreError::Storage(format!(
                    "{m} (is a server running on this store? stop it, or verify with --server)"
                ))
            }
            other => other,
        })?;
        if tree.is_empty() {
            return Err(StoreError::NotInitialised(path.display().to_string()));
        }
        if tree.contains_key(layout::PENDING_KEY)? {
            return Err(StoreError::Invalid(format!(
                "the store in {} holds an unfinished group commit (the server stopped while writing it; none of it was acknowledged): start `dbond serve` on it once, which rolls it back, then try again",
                path.display()
            )));
        }
        Ok(RawStore { tree, _db: db })
    }

    /// Number of stored entries, from the last entry key.
    pub fn len_hint(&self) -> u64 {
        self.tree
            .scan_prefix([layout::ENTRY_PREFIX])
            .next_back()
            .and_then(|r| r.ok())
            .and_then(|(k, _)| layout::entry_index(&k))
            .map_or(0, |i| i + 1)
    }

    /// Every stored entry in key order.
    pub fn entries(&self) -> impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + use<> {
        self.tree.scan_prefix([layout::ENTRY_PREFIX]).map(|item| {
            let (k, v) = item?;
            Ok((
                layout::entry_index(&k).ok_or_else(|| corrupt(0, "malformed entry key"))?,
                v.to_vec(),
            ))
        })
    }

    /// The stored signed checkpoint note.
    pub fn checkpoint(&self) -> Result<String, StoreError> {
        let bytes = self
            .tree
            .get(layout::CHECKPOINT_KEY)?
            .ok_or_else(|| corrupt(0, "the signed checkpoint is missing"))?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| corrupt(0, "the stored checkpoint is not UTF-8"))
    }

    /// Checks that the stored registry records are exactly what the entries give
    /// (the state a verifier replayed), and that nothing else is stored.
    pub fn check_state(&self, state: &State) -> Result<(), StoreError> {
        check_stored(
            &self.tree,
            state,
            self.len_hint().saturating_sub(1),
            StoredDigest::of(&self.tree)?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const ORIGIN: &str = "store.test/dbond";

    /// A new ledger in `dir` with genesis and one registered bank: two entries, so
    /// the leaf node of entry 0 is stored but not on the frontier.
    async fn two_entries(dir: &Path) -> (SigningKey, Arc<dyn Clock>) {
        let (key, _, clock) = two_entries_and_admin(dir).await;
        (key, clock)
    }

    /// [`two_entries`], also giving the admin's key.
    async fn two_entries_and_admin(dir: &Path) -> (SigningKey, SigningKey, Arc<dyn Clock>) {
        let key = keys::generate();
        let admin = keys::generate();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(chrono::Utc::now()));
        let ledger = Ledger::create(
            dir,
            &key,
            Genesis {
                origin: ORIGIN.into(),
                admin_participant_id: registry::ParticipantId::parse("id", "admin").unwrap(),
                admin_key: &admin,
            },
            clock.clone(),
        )
        .unwrap();
        ledger
            .write(registration(&admin, &clock, "bank-a"))
            .await
            .unwrap();
        assert_eq!(ledger.size(), 2);
        ledger.close().unwrap();
        (key, admin, clock)
    }

    /// The admin's signed request to register bank `id`.
    fn registration(admin: &SigningKey, clock: &Arc<dyn Clock>, id: &str) -> WriteRequest {
        let kind = pb::command::Kind::RegisterParticipant(pb::RegisterParticipant {
            participant_id: id.into(),
            role: pb::Role::Bank as i32,
            public_key: keys::generate().verifying_key().to_bytes().to_vec(),
            display_name: "Bank".into(),
        });
        let command = crate::codec::command_from_kind(&kind).unwrap();
        let mut nonce = vec![7; 16];
        nonce.extend_from_slice(id.as_bytes());
        let payload = pb::RequestPayload {
            ledger_origin: ORIGIN.into(),
            issued_at: Some(crate::codec::timestamp_to_pb(clock.now())),
            nonce,
            command: Some(pb::Command { kind: Some(kind) }),
        }
        .encode_to_vec();
        let signature = keys::sign(admin, REQUEST_CONTEXT, &payload);
        WriteRequest {
            key_id: KeyId::of(&admin.verifying_key()),
            payload,
            signature: signature.to_bytes().to_vec(),
            command,
        }
    }

    #[tokio::test]
    async fn each_request_of_a_group_is_told_the_hash_of_its_own_first_entry() {
        let dir = tempfile::tempdir().unwrap();
        let (key, admin, clock) = two_entries_and_admin(dir.path()).await;
        let ledger = Ledger::open(dir.path(), key, clock.clone()).unwrap();
        // Queued together, so decided in one group (or a few): the refused second
        // request has a reply but no entry, which shifts the others' entries.
        let outcomes = ledger
            .write_many(vec![
                registration(&admin, &clock, "bank-b"),
                registration(&admin, &clock, "bank-b"),
                registration(&admin, &clock, "bank-c"),
                registration(&admin, &clock, "bank-d"),
            ])
            .await;
        assert!(
            matches!(&outcomes[1], Err(WriteError::Refused(e)) if e.to_string().contains("already")),
            "{:?}",
            outcomes[1]
        );
        let mut told = Vec::new();
        for (i, outcome) in outcomes.iter().enumerate().filter(|(i, _)| *i != 1) {
            let c = outcome
                .as_ref()
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            let stored = ledger.entry(c.first_index).unwrap().unwrap();
            assert_eq!(
                c.first_hash,
                merkle::hash_leaf(&stored),
                "request {i}'s receipt names its own entry"
            );
            told.push(c.first_index);
        }
        assert_eq!(told, [2, 3, 4]);
        ledger.close().unwrap();
    }

    /// What the store holds besides entries: (pending marker?, entries, state records).
    fn on_disk(dir: &Path) -> (bool, u64, Vec<(sled::IVec, sled::IVec)>) {
        with_tree(dir, |tree| {
            (
                tree.contains_key(layout::PENDING_KEY).unwrap(),
                tree.scan_prefix([layout::ENTRY_PREFIX]).count() as u64,
                read_prefix(tree, layout::STATE_PREFIX).unwrap(),
            )
        })
    }

    #[tokio::test]
    async fn an_unfinished_group_is_rolled_back_with_the_state_records_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let (key, admin, clock) = two_entries_and_admin(dir.path()).await;
        let (_, _, records_before) = on_disk(dir.path());
        // Two records per batch: the registration's entry, state records and
        // checkpoint take three batches; the second fails.
        let ledger = Ledger::open_with(
            dir.path(),
            key.clone(),
            clock.clone(),
            StoreOptions {
                faults: Some(FaultPlan {
                    commit: 1,
                    point: FaultPoint::LaterBatch,
                }),
                batch_records: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        let failed = ledger
            .write(registration(&admin, &clock, "bank-b"))
            .await
            .unwrap_err();
        assert!(matches!(failed, WriteError::Unavailable(_)), "{failed}");
        ledger.close().unwrap();
        let (marker, entries, records) = on_disk(dir.path());
        assert!(marker, "the first batch set the marker");
        assert_eq!(entries, 3, "the group's entry is on disk");
        assert_ne!(records, records_before, "and one of its state records");
        match RawStore::open(dir.path()) {
            Err(StoreError::Invalid(m)) => assert!(m.contains("unfinished group commit"), "{m}"),
            Err(e) => panic!("refused for another reason: {e}"),
            Ok(_) => panic!("an auditor's raw view opened a store with an unfinished group"),
        }

        let ledger = Ledger::open(dir.path(), key.clone(), clock.clone()).unwrap();
        assert_eq!(ledger.size(), 2);
        let id = registry::ParticipantId::parse("id", "bank-b").unwrap();
        assert!(ledger.read(|p| p.state.participant(&id).is_none()));
        ledger.close().unwrap();
        assert_eq!(on_disk(dir.path()), (false, 2, records_before));

        // And the ledger goes on from there.
        let ledger = Ledger::open(dir.path(), key, clock.clone()).unwrap();
        ledger
            .write(registration(&admin, &clock, "bank-c"))
            .await
            .unwrap();
        assert_eq!(ledger.size(), 3);
        ledger.close().unwrap();
    }

    /// sled lets go of a store's file lock when the last of its threads drops the
    /// store, which after a refused open can be a moment after the call returns:
    /// an open right after one waits for the lock (up to 5 s) instead of failing.
    fn unlocked<T>(mut open: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
        for _ in 0..200 {
            match open() {
                Err(StoreError::Storage(m)) if m.contains("could not acquire lock") => {
                    std::thread::sleep(std::time::Duration::from_millis(25))
                }
                other => return other,
            }
        }
        open()
    }

    /// Runs `f` on the stopped store's tree (sled may hold its file lock a
    /// moment after a close returns), flushing after.
    fn with_tree<R>(dir: &Path, f: impl FnOnce(&sled::Tree) -> R) -> R {
        let (db, tree) = unlocked(|| open_db(dir)).expect("the store opens");
        let out = f(&tree);
        db.flush().unwrap();
        out
    }

    #[tokio::test]
    async fn stored_records_are_digested_in_blocks_that_match_the_replay_block_for_block() {
        let dir = tempfile::tempdir().unwrap();
        let (key, clock) = two_entries(dir.path()).await;
        let state = Ledger::open(dir.path(), key, clock)
            .map(|l| {
                let s = l.read(|p| p.state.clone());
                l.close().unwrap();
                s
            })
            .unwrap();
        let keys = state.record_keys();
        assert_eq!(keys.len(), 5, "meta, two participants, two keys");
        for block in [1, 2, 5, 6] {
            let stored = with_tree(dir.path(), |t| StoredDigest::in_blocks(t, block)).unwrap();
            assert_eq!(stored.records, 5);
            assert_eq!(stored.blocks.len(), 5usize.div_ceil(block));
            assert_eq!(StoredDigest::expected(&state, &keys, block), Some(stored));
        }
        // One record changed: only its block differs.
        let third = layout::state_key(&keys[2].1);
        with_tree(dir.path(), |t| {
            let mut v = t.get(&third).unwrap().unwrap().to_vec();
            v.push(b' ');
            t.insert(&third, v).unwrap();
        });
        let stored = with_tree(dir.path(), |t| StoredDigest::in_blocks(t, 2)).unwrap();
        let expected = StoredDigest::expected(&state, &keys, 2).unwrap();
        let differ: Vec<bool> = (0..3)
            .map(|i| stored.blocks[i] != expected.blocks[i])
            .collect();
        assert_eq!(differ, [false, true, false]);
    }

    #[tokio::test]
    async fn the_replay_reads_chunks_in_turn_and_finds_a_gap_at_every_boundary() {
        // Genesis and registrations past two decoding chunks: chunk 2 is short.
        let n = 2 * replay::DECODE_CHUNK + 300;
        let dir = tempfile::tempdir().unwrap();
        let (key, admin, clock) = two_entries_and_admin(dir.path()).await;
        let ledger = Ledger::open(dir.path(), key.clone(), clock.clone()).unwrap();
        let ids: Vec<String> = (2..n).map(|i| format!("bank-{i}")).collect();
        for group in ids.chunks(256) {
            let writes = group
                .iter()
                .map(|id| ledger.write(registration(&admin, &clock, id)));
            for written in futures::future::join_all(writes).await {
                written.unwrap();
            }
        }
        let root = ledger.root_at(n).unwrap();
        ledger.close().unwrap();
        let reopened = || {
            let ledger = unlocked(|| Ledger::open(dir.path(), key.clone(), clock.clone()))?;
            let seen = (ledger.size(), ledger.root_at(ledger.size()).unwrap());
            let last = registry::ParticipantId::parse("id", &format!("bank-{}", n - 1)).unwrap();
            assert!(ledger.read(|p| p.state.participant(&last).is_some()));
            ledger.close().unwrap();
            Ok::<_, StoreError>(seen)
        };
        assert_eq!(reopened().unwrap(), (n, root));

        let chunk = replay::DECODE_CHUNK;
        let refused = |what: &str, says: &str| match reopened() {
            Err(StoreError::Corrupt { reason, .. }) => {
                assert!(reason.contains(says), "{what}: open says {reason}")
            }
            Err(e) => panic!("{what}: refused, but not as corrupt: {e}"),
            Ok(_) => panic!("{what}: opened"),
        };
        // An entry removed at the end of a chunk, at the start of one, inside one.
        for gone in [chunk - 1, chunk, 2 * chunk - 1, 2 * chunk, 2 * chunk + 7] {
            let k = layout::entry_key(gone);
            let bytes = with_tree(dir.path(), |t| t.remove(k).unwrap().unwrap());
            refused(
                &format!("entry {gone} removed"),
                &format!(
                    "entry {gone} is missing (next stored entry is {})",
                    gone + 1
                ),
            );
            with_tree(dir.path(), |t| t.insert(k, bytes).unwrap());
        }
        // Entry keys stored past the end, or malformed before entry 0 and after
        // the last.
        let past = layout::entry_key(n + 5);
        let last = with_tree(dir.path(), |t| {
            t.get(layout::entry_key(n - 1)).unwrap().unwrap()
        });
        for (stray, says) in [
            (
                &past[..],
                format!("entry {n} is missing (next stored entry is {})", n + 5),
            ),
            (b"e", "malformed entry key".to_string()),
            (b"e\x01", "malformed entry key".to_string()),
        ] {
            with_tree(dir.path(), |t| t.insert(stray, last.clone()).unwrap());
            refused(&format!("stray key {stray:?}"), &says);
            with_tree(dir.path(), |t| t.remove(stray).unwrap());
        }
        assert_eq!(
            reopened().unwrap(),
            (n, root),
            "and the repaired store opens"
        );
    }

    #[tokio::test]
    async fn a_pending_marker_that_disagrees_with_the_checkpoint_removes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (key, clock) = two_entries(dir.path()).await;
        for marker in [&1u64.to_be_bytes()[..], &3u64.to_be_bytes()[..], b"x"] {
            {
                let (db, tree) = unlocked(|| open_db(dir.path())).unwrap();
                tree.insert(layout::PENDING_KEY, marker).unwrap();
                db.flush().unwrap();
            }
            match unlocked(|| Ledger::open(dir.path(), key.clone(), clock.clone())) {
                Err(StoreError::Corrupt { reason, .. }) => {
                    assert!(reason.contains("pending-group marker"), "{reason}")
                }
                Err(e) => panic!("refused, but not as corrupt: {e}"),
                Ok(_) => panic!("opened with a marker of {marker:?}"),
            }
            assert_eq!(on_disk(dir.path()).1, 2, "no entry was removed");
        }
    }

    #[tokio::test]
    async fn a_record_of_no_known_kind_stops_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let (key, clock) = two_entries(dir.path()).await;
        // A Merkle node as older stores kept them, then keys in every gap of the layout.
        for stray in [
            &b"n\x00\x00\x00\x00\x00\x00\x00\x00\x00"[..],
            b"a",
            b"c2",
            b"d",
            b"f",
            b"z",
        ] {
            {
                let (db, tree) = unlocked(|| open_db(dir.path())).unwrap();
                tree.insert(stray, b"x".as_slice()).unwrap();
                db.flush().unwrap();
            }
            match unlocked(|| Ledger::open(dir.path(), key.clone(), clock.clone())) {
                Err(StoreError::Corrupt { index: 1, reason }) => {
                    assert!(reason.contains("no known kind"), "{reason}")
                }
                Err(e) => panic!("refused, but not as corrupt: {e}"),
                Ok(_) => panic!("a store with a stray record {stray:?} opened"),
            }
            let (db, tree) = unlocked(|| open_db(dir.path())).unwrap();
            tree.remove(stray).unwrap();
            db.flush().unwrap();
        }
        // Without the stray records it opens again, and proofs come from the entries.
        let ledger = unlocked(|| Ledger::open(dir.path(), key.clone(), clock.clone())).unwrap();
        let root = ledger.root_at(2).unwrap();
        let proof = merkle::inclusion_proof(0, 2, &ledger.nodes()).unwrap();
        let leaf = merkle::hash_leaf(&ledger.entry(0).unwrap().unwrap());
        merkle::verify_inclusion(&leaf, 0, 2, &proof, &root).unwrap();
        ledger.close().unwrap();
    }
}
