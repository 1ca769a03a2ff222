//! The handle on an open ledger: the readers' view of what is durable, reads of
//! entries (checked against the leaf hashes in memory), proofs' nodes, and the
//! queue to the single writer.
//!
//! Invariants: readers see only durable entries and the state derived from them;
//! an entry is served only if its bytes hash to the leaf the tree holds for it.

use super::writer::{self, Committed, Job, WriteError, WriteRequest};
use super::{Engine, MemoryNodes, StoreError, corrupt};
use crate::ledger::merkle::{self, Frontier, Hash};
use crate::registry::{LedgerIdentity, State};
use ed25519_dalek::VerifyingKey;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Where a queued write's outcome arrives.
type Outcome = tokio::sync::oneshot::Receiver<Result<Committed, WriteError>>;

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

/// A handle on an open ledger store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) engine: Arc<dyn Engine>,
    pub(super) identity: LedgerIdentity,
    pub(super) ledger_public_key: VerifyingKey,
    pub(super) published: Arc<RwLock<Published>>,
    pub(super) jobs: tokio::sync::mpsc::Sender<Job>,
    pub(super) writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(super) failure: Arc<Mutex<Option<String>>>,
    pub(super) stopped: Arc<tokio::sync::Notify>,
    pub(super) nodes: MemoryNodes,
    /// On a shared store, why this server does not write now.
    pub(super) role: Arc<Mutex<Option<String>>>,
    /// Set by `release_writer_role`: the role is never taken again.
    pub(super) retiring: Arc<std::sync::atomic::AtomicBool>,
    /// Write requests on their way to the writer (see [`Arrival`]).
    pub(super) arriving: Arc<AtomicUsize>,
}

/// A write request on its way to the writer: from the start of its checks (its
/// signature above all) until it is in the writer's queue. While one exists, the
/// writer holds a small group open a little longer for it
/// (`limits::GROUP_ARRIVAL_WAIT`). Dropping it (a refused request, or one queued)
/// ends the arrival.
#[derive(Debug)]
pub struct Arrival(Arc<AtomicUsize>);

impl Drop for Arrival {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl Store {
    /// Closes the store: stops the writer (after the jobs already queued), flushes,
    /// and lets go of the engine (the sled engine's folder lock with it), so the
    /// store can be opened again (for example by an auditor). Fails if other
    /// handles to this ledger are still alive.
    pub fn close(self) -> Result<(), StoreError> {
        let inner = Arc::try_unwrap(self.inner).map_err(|_| {
            StoreError::Invalid(
                "the ledger is still in use elsewhere; drop every other handle before closing"
                    .into(),
            )
        })?;
        let Inner {
            engine,
            jobs,
            writer,
            ..
        } = inner;
        drop(jobs);
        if let Some(handle) = writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
        engine.flush()?;
        drop(engine);
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

    /// Why this server does not write now, on a store several servers share
    /// (it follows the writer the store names); `None` while it is the writer,
    /// and always on a store only it opens.
    pub fn not_writing(&self) -> Option<String> {
        self.inner
            .role
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// On a shared store, gives the writer role up now (a clean shutdown, once
    /// no more writes come), so another server takes it without waiting for the
    /// lease's term to run out. Later writes are refused. Does nothing on a store
    /// only this server opens.
    pub fn release_writer_role(&self) {
        if let Some(shared) = self.inner.engine.shared() {
            self.inner
                .retiring
                .store(true, std::sync::atomic::Ordering::SeqCst);
            *self.inner.role.lock().unwrap_or_else(|e| e.into_inner()) =
                Some("this server gave up the writer role as it shuts down".into());
            shared.release_role();
        }
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

    /// Announces a write request whose checks are starting (see [`Arrival`]).
    pub fn arrival(&self) -> Arrival {
        self.inner.arriving.fetch_add(1, Ordering::AcqRel);
        Arrival(self.inner.arriving.clone())
    }

    /// [`Self::write`] for a request announced by `arrival`, which ends once the
    /// request is queued.
    pub async fn write_arrived(
        &self,
        request: WriteRequest,
        arrival: Arrival,
    ) -> Result<Committed, WriteError> {
        let wait = self.enqueue(request).await;
        drop(arrival);
        self.outcome(wait?).await
    }

    /// Appends what each request decides, deciding them in the given order (a
    /// later one sees what an earlier one wrote), returning each outcome once the
    /// group commits carrying them are durable. They are queued together, so they
    /// share group commits.
    pub async fn write_many(
        &self,
        requests: Vec<WriteRequest>,
    ) -> Vec<Result<Committed, WriteError>> {
        self.write_many_arrived(requests, None).await
    }

    /// [`Self::write_many`] for requests announced by `arrival`, which ends once
    /// they are all queued.
    pub async fn write_many_arrived(
        &self,
        requests: Vec<WriteRequest>,
        arrival: Option<Arrival>,
    ) -> Vec<Result<Committed, WriteError>> {
        let mut waits = Vec::with_capacity(requests.len());
        for request in requests {
            waits.push(self.enqueue(request).await);
        }
        drop(arrival);
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
            .send(Job { request, reply })
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
                "{}; {}",
                self.writer_stopped().await,
                writer::MAYBE_RECORDED
            ))),
        }
    }

    /// The stored bytes of a durable entry, checked against its leaf hash.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if index >= self.size() {
            return Ok(None);
        }
        let bytes = self
            .inner
            .engine
            .entry(index)?
            .ok_or_else(|| corrupt(index, format!("durable entry {index} is not stored")))?;
        check_leaf(&self.inner.nodes, index, &bytes)?;
        Ok(Some(bytes))
    }

    /// Durable entries in `start..end` (end clamped to the size), in order, each
    /// checked against its leaf hash.
    pub fn entries(
        &self,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + use<> {
        let end = end.min(self.size());
        CheckedEntries {
            stored: self.inner.engine.entries(start, Some(end)),
            nodes: self.nodes(),
            next: start,
            end,
            done: start >= end,
        }
    }

    /// The tree's levels in memory, for proofs.
    pub fn nodes(&self) -> MemoryNodes {
        self.inner.nodes.clone()
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

    /// Makes everything written durable and waits for the engine's background work.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.engine.flush()
    }
}

/// Refuses `bytes` as entry `index` unless they hash to the leaf the tree holds.
fn check_leaf(nodes: &MemoryNodes, index: u64, bytes: &[u8]) -> Result<(), StoreError> {
    let expected = nodes
        .leaf(index)
        .ok_or_else(|| corrupt(index, format!("the tree holds no leaf for entry {index}")))?;
    let read = merkle::hash_leaf(bytes);
    if read != expected {
        return Err(corrupt(
            index,
            format!(
                "the stored bytes of entry {index} changed: their leaf hash is {}, the tree holds {}",
                hex::encode(read),
                hex::encode(expected)
            ),
        ));
    }
    Ok(())
}

/// Stored entries `next..end`, each checked: in order, none missing, each the
/// bytes its leaf hash names. Stops after the first fault.
struct CheckedEntries {
    stored: super::engine::Entries,
    nodes: MemoryNodes,
    next: u64,
    end: u64,
    done: bool,
}

impl Iterator for CheckedEntries {
    type Item = Result<(u64, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let expected = self.next;
        let checked = match self.stored.next() {
            None => Err(corrupt(
                expected,
                format!("durable entry {expected} is not stored"),
            )),
            Some(Err(e)) => Err(e),
            Some(Ok((index, _))) if index != expected => Err(corrupt(
                expected,
                format!("durable entry {expected} is not stored (next stored entry is {index})"),
            )),
            Some(Ok((index, bytes))) => {
                check_leaf(&self.nodes, index, &bytes).map(|()| (index, bytes))
            }
        };
        self.next += 1;
        self.done = checked.is_err() || self.next >= self.end;
        Some(checked)
    }
}
