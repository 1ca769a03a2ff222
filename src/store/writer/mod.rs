//! The single writer. It takes queued write requests in groups and, for each group:
//! decides every request against a working state and applies its events
//! (`decide.rs`); seals the group's entries and signs a checkpoint over the new tree
//! (`seal.rs`); hands the sealed group to the appender (`append.rs`), which stores
//! it durably through the engine and publishes it to readers; and replies last.
//! Deciding and sealing are the writer's alone. Storing and publishing a sealed
//! group is the appender's, which a reader appending entries sealed elsewhere
//! drives the same way.
//!
//! A storage failure stops the writer for good (fail-stop): what is durable is
//! decided by the next open's replay, never by a guess. So does a bug (a panic, an
//! event that does not apply, an entry that does not read back as sealed), loudly,
//! before anything of its group is written.

mod append;
mod decide;
mod follow;
mod seal;
#[cfg(test)]
mod tests;

pub(crate) use append::{AppendError, Appender, SealedGroup};
pub use decide::authorize;
pub(crate) use seal::{changed_records, sign_checkpoint};

use super::{EngineError, StoreError};
use crate::clock::Clock;
use crate::ledger::entry::{self, Origin};
use crate::ledger::keys::KeyId;
use crate::ledger::merkle::{Frontier, Hash};
use crate::ledger::signer::{LedgerKey, Signer};
use crate::registry::{self, Changes, Event, LedgerIdentity, RegistryError, State};
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// An authenticated request to change the ledger: the signed bytes as received and
/// the command they carry. The writer re-checks the key against the state at the
/// index the entry will take.
#[derive(Debug)]
pub struct WriteRequest {
    pub key_id: KeyId,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
    pub command: registry::Command,
}

/// Where a request landed, once durable.
#[derive(Clone, Debug)]
pub struct Committed {
    pub first_index: u64,
    pub first_hash: Hash,
    pub recorded_at: DateTime<Utc>,
    /// Ledger size after the group commit that carried the request.
    pub tree_size: u64,
    pub events: Vec<Event>,
    /// True when the request repeated an earlier one: nothing new was written and
    /// the index, hash and time are the first entry's.
    pub replayed: bool,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Refused(#[from] RegistryError),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
}

/// What a caller hears when its group may or may not be durable.
pub(super) const MAYBE_RECORDED: &str = "this request may or may not be on the ledger (all of its group commit or none of it): check after the restart or resubmit with the same idempotency key";

/// What a caller hears when nothing of its request was written.
pub(super) const NOT_RECORDED: &str = "this request was not recorded";

type Reply = oneshot::Sender<Result<Committed, WriteError>>;

pub(super) struct Job {
    pub request: WriteRequest,
    pub reply: Reply,
}

/// What the writer starts from: the replayed ledger, its key, and the appender
/// that stores and publishes its groups.
pub(super) struct WriterParts {
    /// The ledger key in force when the writer starts.
    pub ledger_key: LedgerKey,
    /// The key a `RotateLedgerKey` hands over to, if the server was given one.
    /// The writer signs each entry and checkpoint with whichever of the two
    /// the state says is in force.
    pub next_ledger_key: Option<LedgerKey>,
    pub identity: LedgerIdentity,
    pub clock: Arc<dyn Clock>,
    /// The working state: every decided event applied, durable or not yet.
    pub state: State,
    /// The tree and the hash chain's end after every sealed entry.
    pub frontier: Frontier,
    pub last_hash: Hash,
    pub appender: Appender,
    pub failure: Arc<Mutex<Option<String>>>,
    /// Woken when the writer stops (after `failure` is set).
    pub stopped: Arc<tokio::sync::Notify>,
    /// On a shared store, why this server does not write now (it follows the
    /// writer); `None` while it writes, and always on a store only it opens.
    pub role: Arc<Mutex<Option<String>>>,
    /// Set as the server shuts down: the writer role is given up and never
    /// taken again.
    pub retiring: Arc<std::sync::atomic::AtomicBool>,
    /// Write requests being checked on their way to the queue (`Store::arrival`).
    pub arriving: Arc<std::sync::atomic::AtomicUsize>,
    /// Longest a group waits for them (`limits::GROUP_ARRIVAL_WAIT`).
    pub arrival_wait: std::time::Duration,
}

pub(super) fn spawn(
    parts: WriterParts,
) -> Result<(mpsc::Sender<Job>, std::thread::JoinHandle<()>), StoreError> {
    let (tx, rx) = mpsc::channel(crate::limits::WRITE_QUEUE_JOBS_MAX);
    let handle = std::thread::Builder::new()
        .name("ledger-writer".into())
        .spawn(move || run(parts, rx))
        .map_err(|e| StoreError::Storage(format!("cannot start the writer thread: {e}")))?;
    Ok((tx, handle))
}

struct Writer {
    parts: WriterParts,
    /// The state records the group's events changed.
    changes: Changes,
    /// A group's working lists, kept between groups with their capacity: a fresh
    /// allocation of this size each group costs more in page faults than the work.
    scratch: Scratch,
    /// The working state holds events that were never stored (a shared store's
    /// writer stepped down after its group was refused, or stopped): it must be
    /// rebuilt before this writer decides anything again.
    stale: bool,
}

#[derive(Default)]
struct Scratch {
    /// The group: its decided events, then its sealed entries, records and checkpoint.
    sealed: SealedGroup,
    /// Who caused each decided event, in the order of `sealed.applied`.
    origins: Vec<Origin>,
    /// Each request's reply and outcome (an appended request's first hash is
    /// filled in once the group is sealed).
    outcomes: Vec<(Reply, Result<Committed, WriteError>)>,
}

impl Scratch {
    /// Empties the lists, keeping their capacity unless a group far larger than
    /// a usual one left them (`WRITER_SCRATCH_ENTRIES_KEPT_MAX`): those go.
    fn clear(&mut self) {
        let room = self
            .sealed
            .applied
            .capacity()
            .max(self.sealed.group.entries.capacity())
            .max(self.sealed.group.records.capacity());
        if room > crate::limits::WRITER_SCRATCH_ENTRIES_KEPT_MAX {
            *self = Scratch::default();
            return;
        }
        self.sealed.clear();
        self.origins.clear();
        self.outcomes.clear();
    }
}

fn run(parts: WriterParts, mut rx: mpsc::Receiver<Job>) {
    let mut writer = Writer {
        parts,
        changes: Changes::default(),
        scratch: Scratch::default(),
        stale: false,
    };
    if writer.parts.appender.engine().shared().is_some() {
        return follow::run(writer, rx);
    }
    let mut jobs = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        jobs.clear();
        jobs.push(first);
        gather(
            &mut rx,
            &mut jobs,
            &writer.parts.arriving,
            writer.parts.arrival_wait,
        );
        if let Some(reason) = writer
            .parts
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            // The writer stopped before these reached it: nothing of them is written.
            let message = format!("{reason}; {NOT_RECORDED}");
            for job in jobs.drain(..) {
                let _ = job
                    .reply
                    .send(Err(WriteError::Unavailable(message.clone())));
            }
            continue;
        }
        writer.commit_group_caught(&mut jobs);
    }
}

/// Adds to `jobs` what the queue holds, then, while a request is still being
/// checked on its way here, waits for it (up to `wait`, by default
/// `limits::GROUP_ARRIVAL_WAIT`):
/// on a busy server a group commit then carries several requests' entries instead
/// of one or two, and its fixed costs (the checkpoint's signature, the flush, the
/// wake-ups) are shared. A request alone never waits: nothing else is arriving.
fn gather(
    rx: &mut mpsc::Receiver<Job>,
    jobs: &mut Vec<Job>,
    arriving: &AtomicUsize,
    wait: std::time::Duration,
) {
    use crate::limits::GROUP_COMMIT_ENTRIES_MAX;
    let drain = |rx: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>| {
        while jobs.len() < GROUP_COMMIT_ENTRIES_MAX {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => return,
            }
        }
    };
    drain(rx, jobs);
    let started = std::time::Instant::now();
    while jobs.len() < GROUP_COMMIT_ENTRIES_MAX
        && arriving.load(Ordering::Acquire) > 0
        && started.elapsed() < wait
    {
        std::thread::sleep(ARRIVAL_POLL);
        drain(rx, jobs);
    }
}

/// How often the writer looks at its queue while it waits for arriving requests.
const ARRIVAL_POLL: std::time::Duration = std::time::Duration::from_micros(50);

impl Writer {
    /// The key the writer holds whose public key is `public`: the one the state
    /// says signs an entry or checkpoint. `Err` (a bug: the open and the
    /// rotation check the keys) says which key is missing.
    fn key_for(&self, public: Option<registry::PublicKey>) -> Result<&LedgerKey, String> {
        let public = public.ok_or("the ledger has no genesis")?;
        [
            Some(&self.parts.ledger_key),
            self.parts.next_ledger_key.as_ref(),
        ]
        .into_iter()
        .flatten()
        .find(|k| k.public_key().to_bytes() == public.0)
        .ok_or_else(|| {
            format!(
                "the ledger key in force ({}) is not one this server holds",
                KeyId::of_bytes(&public.0)
            )
        })
    }

    fn fail(&self, reason: String) {
        tracing::error!(%reason, "ledger writer stopped");
        *self.parts.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        self.parts.stopped.notify_waiters();
        // On a shared store another server takes over at once.
        if let Some(shared) = self.parts.appender.engine().shared() {
            shared.release_role();
        }
    }

    /// One group commit of `jobs`. A panic (a bug: deciding and applying never
    /// panic on any input) stops the writer like a storage failure, loudly,
    /// instead of ending the thread with every later request waiting on a writer
    /// that is gone. The callers of the group hear that their reply was lost: all
    /// of the group or none of it is on the ledger, as after a failed flush.
    fn commit_group_caught(&mut self, jobs: &mut Vec<Job>) {
        let group =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.commit_group(jobs)));
        if let Err(panic) = group {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            self.stale = true;
            self.fail(format!(
                "the ledger writer panicked ({what}), writes stopped (restart the server to recover)"
            ));
        }
    }

    fn commit_group(&mut self, jobs: &mut Vec<Job>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        self.commit_with(jobs, &mut scratch);
        scratch.clear();
        self.scratch = scratch;
    }

    /// One group commit: decide, seal, store and publish, reply.
    fn commit_with(&mut self, jobs: &mut Vec<Job>, scratch: &mut Scratch) {
        // Recorded time never goes backwards, whatever the clock does.
        let now = self.parts.clock.now();
        let recorded_at = self
            .parts
            .state
            .last_recorded_at()
            .map_or(now, |last| now.max(last));
        let size_before = self.parts.state.size();
        self.changes.clear();
        if let Err(reason) = self.decide_all(jobs, recorded_at, scratch) {
            return self.stop_unwritten(reason, &mut scratch.outcomes);
        }
        if !scratch.sealed.applied.is_empty() {
            if let Err(reason) = self.seal_all(recorded_at, size_before, scratch) {
                return self.stop_unwritten(reason, &mut scratch.outcomes);
            }
            let stored = self.parts.appender.append(
                &mut scratch.sealed,
                &self.parts.state,
                &self.parts.frontier,
                self.parts.last_hash,
            );
            match stored {
                Ok(()) => {}
                Err(AppendError::Write(e)) => return self.write_failed(e, &mut scratch.outcomes),
                // The group is durable but the readers' view could not take it:
                // the callers hear that their reply was lost as the writer stops.
                Err(AppendError::Publish(reason)) => {
                    self.stale = true;
                    return self.fail(reason);
                }
            }
        }
        self.reply(&mut scratch.outcomes);
    }

    /// Stops the writer over a bug found before anything of the group was
    /// written, telling every caller of the group.
    fn stop_unwritten(
        &mut self,
        reason: String,
        outcomes: &mut Vec<(Reply, Result<Committed, WriteError>)>,
    ) {
        let reason = format!("{reason}; the ledger writer stopped");
        self.stale = true;
        self.fail(reason.clone());
        for (reply, _) in outcomes.drain(..) {
            let _ = reply.send(Err(WriteError::Unavailable(format!(
                "{reason}; {NOT_RECORDED}"
            ))));
        }
    }

    /// Stops the writer after the engine did not store the group, telling its
    /// callers what may be on the ledger.
    fn write_failed(
        &mut self,
        error: EngineError,
        outcomes: &mut Vec<(Reply, Result<Committed, WriteError>)>,
    ) {
        let shared = self.parts.appender.engine().shared().is_some();
        let (reason, unheard) = match &error {
            // Part of the group may have reached the disk. The next open finds all
            // of the group or none of it (an engine rolls back a group cut off
            // between its steps); until then nobody knows.
            EngineError::Storage(e) => (
                format!("storage failure, writes stopped (restart the server to recover): {e}"),
                MAYBE_RECORDED,
            ),
            // On a shared store a writer that lost the role follows the new one.
            EngineError::LostWriterRole(_) if shared => (error.to_string(), NOT_RECORDED),
            EngineError::LostWriterRole(_) => (format!("{error}; writes stopped"), NOT_RECORDED),
        };
        self.stale = true;
        match &error {
            EngineError::LostWriterRole(_) if shared => self.step_down(reason.clone()),
            _ => self.fail(reason.clone()),
        }
        let message = format!("{reason}; {unheard}");
        for (reply, outcome) in outcomes.drain(..) {
            // A refusal stays a refusal: it was never part of the group.
            let outcome = match outcome {
                Err(refused) => Err(refused),
                Ok(_) => Err(WriteError::Unavailable(message.clone())),
            };
            let _ = reply.send(outcome);
        }
    }

    /// Replies to every caller of a durable group (or of a group that wrote
    /// nothing: refusals and repeats).
    fn reply(&self, outcomes: &mut Vec<(Reply, Result<Committed, WriteError>)>) {
        let size = self.parts.frontier.size();
        let engine = self.parts.appender.engine();
        for (reply, mut outcome) in outcomes.drain(..) {
            if let Ok(c) = &mut outcome {
                c.tree_size = size;
                if c.replayed {
                    if let Err(e) = resolve_replay(&**engine, c) {
                        outcome = Err(e);
                    }
                }
            }
            let _ = reply.send(outcome);
        }
    }
}

/// Fills in the hash and recorded time of the entry an idempotent repeat points to.
fn resolve_replay(engine: &dyn super::Engine, c: &mut Committed) -> Result<(), WriteError> {
    let unavailable = |m: String| WriteError::Unavailable(m);
    let bytes = engine
        .entry(c.first_index)
        .map_err(|e| unavailable(e.to_string()))?
        .ok_or_else(|| unavailable(format!("entry {} vanished", c.first_index)))?;
    let opened = entry::open(&bytes).map_err(|e| unavailable(e.to_string()))?;
    c.first_hash = opened.hash;
    if let Ok(t) = crate::codec::timestamp_from_pb("recorded_at", opened.body.recorded_at.as_ref())
    {
        c.recorded_at = t;
    }
    Ok(())
}
