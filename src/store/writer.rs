//! The single writer: takes queued write requests in groups, decides and seals
//! each against a working state, writes the group's entries, state records and a
//! fresh checkpoint in one sled batch, flushes once, then publishes and replies. A
//! group larger than one batch may hold (`limits::STORE_BATCH_RECORDS_MAX`) goes in
//! several, the first setting the pending marker and the last, with the
//! checkpoint, removing it; the reply still waits for the last. A storage failure
//! stops the writer for good (fail-stop): what is durable is decided by the next
//! open's replay, never by a guess.

use super::{Published, Write, layout, sign_checkpoint};
use crate::clock::Clock;
use crate::ledger::entry::{self, Origin};
use crate::ledger::keys::KeyId;
use crate::ledger::merkle::{Frontier, Hash};
use crate::proto as pb;
use crate::registry::{
    self, Caller, Changes, Decision, EntryMeta, Event, LedgerIdentity, ParticipantStatus,
    RegistryError, State,
};
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use std::sync::{Arc, Mutex, RwLock};
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

type Reply = oneshot::Sender<Result<Committed, WriteError>>;

pub(super) struct Job {
    pub request: WriteRequest,
    pub reply: Reply,
}

pub(super) struct WriterParts {
    pub data_file: super::DataFile,
    pub db: sled::Db,
    pub tree: sled::Tree,
    pub ledger_key: SigningKey,
    pub identity: LedgerIdentity,
    pub clock: Arc<dyn Clock>,
    pub state: State,
    pub frontier: Frontier,
    pub last_hash: Hash,
    pub published: Arc<RwLock<Published>>,
    pub failure: Arc<Mutex<Option<String>>>,
    /// Woken when the writer stops (after `failure` is set).
    pub stopped: Arc<tokio::sync::Notify>,
    pub faults: Option<super::FaultPlan>,
    /// Records per sled batch.
    pub batch_records: usize,
    /// The Merkle levels proofs read from memory; extended after each durable group.
    pub nodes: Arc<RwLock<super::NodeLevels>>,
    pub observer: Option<Arc<dyn super::WriterObserver>>,
}

pub(super) fn spawn(
    parts: WriterParts,
) -> Result<(mpsc::Sender<Job>, std::thread::JoinHandle<()>), super::StoreError> {
    let (tx, rx) = mpsc::channel(crate::limits::WRITE_QUEUE_JOBS_MAX);
    let handle = std::thread::Builder::new()
        .name("ledger-writer".into())
        .spawn(move || run(parts, rx))
        .map_err(|e| super::StoreError::Storage(format!("cannot start the writer thread: {e}")))?;
    Ok((tx, handle))
}

/// Checks that `key_id` may sign the entry at `index` in `state`.
pub fn authorize(state: &State, key_id: &KeyId, index: u64) -> Result<Caller, WriteError> {
    let key = state.key(key_id).ok_or_else(|| {
        WriteError::Unauthenticated(format!("key {key_id} is not registered on this ledger"))
    })?;
    if !key.may_sign(index) || key.retired_at_index.is_some() {
        return Err(WriteError::Unauthenticated(format!(
            "key {key_id} has been rotated out or revoked"
        )));
    }
    let participant = state.participant(&key.participant_id).ok_or_else(|| {
        WriteError::Unauthenticated(format!("key {key_id} belongs to no participant"))
    })?;
    if participant.status != ParticipantStatus::Active {
        return Err(WriteError::Unauthenticated(format!(
            "participant {} is revoked",
            participant.participant_id
        )));
    }
    Ok(Caller {
        participant_id: participant.participant_id.clone(),
        role: participant.role,
        key_id: key_id.clone(),
    })
}

struct Writer {
    parts: WriterParts,
    changes: Changes,
    /// Group commits that wrote entries since the store was opened.
    commits: u64,
    /// A group's working lists, kept between groups with their capacity: a fresh
    /// allocation of this size each group costs more in page faults than the work.
    scratch: Scratch,
}

#[derive(Default)]
struct Scratch {
    /// The group's writes, in order: entries, state records, the checkpoint last.
    writes: Vec<Write>,
    /// The group's new entries, in order: what each records and who caused it.
    applied: Vec<(EntryMeta, Event)>,
    origins: Vec<Origin>,
    /// The sealed entries' hashes, in the order of `applied`.
    hashes: Vec<Hash>,
    new_nodes: Vec<(u32, u64, Hash)>,
    /// Each request's reply and outcome (an appended request's first hash is
    /// filled in once the group is sealed).
    outcomes: Vec<(Reply, Result<Committed, WriteError>)>,
}

impl Scratch {
    /// Empties the lists, keeping their capacity.
    fn clear(&mut self) {
        self.writes.clear();
        self.applied.clear();
        self.origins.clear();
        self.hashes.clear();
        self.new_nodes.clear();
        self.outcomes.clear();
    }
}

fn run(parts: WriterParts, mut rx: mpsc::Receiver<Job>) {
    let mut writer = Writer {
        parts,
        changes: Changes::default(),
        commits: 0,
        scratch: Scratch::default(),
    };
    let mut jobs = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        jobs.clear();
        jobs.push(first);
        while jobs.len() < crate::limits::GROUP_COMMIT_ENTRIES_MAX {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if let Some(reason) = writer
            .parts
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            // The writer stopped before these reached it: nothing of them is written.
            let message = format!("{reason}; this request was not recorded");
            for job in jobs.drain(..) {
                let _ = job
                    .reply
                    .send(Err(WriteError::Unavailable(message.clone())));
            }
            continue;
        }
        // A panic (a bug: deciding and applying never panic on any input) stops the
        // writer like a storage failure, loudly, instead of ending the thread with
        // every later request waiting on a writer that is gone. The callers of the
        // group hear that their reply was lost: all of the group or none of it is on
        // the ledger, as after a failed flush.
        let group = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            writer.commit_group(&mut jobs)
        }));
        if let Err(panic) = group {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            writer.fail(format!(
                "the ledger writer panicked ({what}), writes stopped (restart the server to recover)"
            ));
        }
    }
}

impl Writer {
    fn fail(&self, reason: String) {
        tracing::error!(%reason, "ledger writer stopped");
        *self.parts.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        self.parts.stopped.notify_waiters();
    }

    fn commit_group(&mut self, jobs: &mut Vec<Job>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        self.commit_with(jobs, &mut scratch);
        scratch.clear();
        self.scratch = scratch;
    }

    fn commit_with(&mut self, jobs: &mut Vec<Job>, scratch: &mut Scratch) {
        let Scratch {
            writes,
            applied,
            origins,
            hashes,
            new_nodes,
            outcomes,
        } = scratch;
        let p = &mut self.parts;
        // Recorded time never goes backwards, whatever the clock does.
        let now = p.clock.now();
        let recorded_at = p.state.last_recorded_at().map_or(now, |last| now.max(last));
        let recorded_pb = crate::codec::timestamp_to_pb(recorded_at);
        let size_before = p.state.size();
        self.changes.clear();
        let mut broken: Option<String> = None;

        // First every request is decided and its events applied, in order; then
        // the group's entries are sealed back to back, so the ledger key's tables
        // stay in the core's caches from one signature to the next.
        for job in jobs.drain(..) {
            let index = p.state.size();
            if let Err(e) = fresh_at(&job.request.payload, recorded_at) {
                outcomes.push((job.reply, Err(e)));
                continue;
            }
            let ctx = registry::DecideCtx { index, recorded_at };
            let outcome = authorize(&p.state, &job.request.key_id, index).and_then(|caller| {
                registry::decide(&p.state, &caller, &ctx, &job.request.command)
                    .map_err(WriteError::from)
            });
            let events = match outcome {
                Ok(Decision::Append(events)) => events,
                Ok(Decision::Existing { index }) => {
                    // Answered once the group is durable, with the first entry's hash.
                    outcomes.push((
                        job.reply,
                        Ok(Committed {
                            first_index: index,
                            first_hash: [0; 32],
                            recorded_at,
                            tree_size: 0,
                            events: Vec::new(),
                            replayed: true,
                        }),
                    ));
                    continue;
                }
                Err(e) => {
                    outcomes.push((job.reply, Err(e)));
                    continue;
                }
            };
            let WriteRequest {
                key_id,
                payload,
                signature,
                ..
            } = job.request;
            let mut actor = Some(pb::Actor {
                key_id: key_id.to_string(),
                request: payload,
                signature,
            });
            for event in &events {
                let idx = p.state.size();
                let meta = EntryMeta {
                    index: idx,
                    recorded_at,
                };
                if let Err(e) = registry::apply(&mut p.state, &meta, event, &mut self.changes) {
                    broken = Some(format!(
                        "an event decided for entry {idx} could not be applied: {e}"
                    ));
                    break;
                }
                origins.push(match actor.take() {
                    Some(a) => Origin::Actor(a),
                    None => Origin::Cause(index),
                });
                applied.push((meta, event.clone()));
            }
            if broken.is_some() {
                outcomes.push((
                    job.reply,
                    Err(WriteError::Unavailable(
                        "internal error; the ledger writer stopped".into(),
                    )),
                ));
                break;
            }
            outcomes.push((
                job.reply,
                Ok(Committed {
                    first_index: index,
                    first_hash: [0; 32],
                    recorded_at,
                    tree_size: 0,
                    events,
                    replayed: false,
                }),
            ));
        }

        if let Some(reason) = broken {
            self.fail(reason.clone());
            for (reply, _) in outcomes.drain(..) {
                let _ = reply.send(Err(WriteError::Unavailable(reason.clone())));
            }
            return;
        }

        for ((meta, event), origin) in applied.iter().zip(origins.drain(..)) {
            let sealed = entry::seal(
                meta.index,
                recorded_pb,
                &p.last_hash,
                crate::codec::event_to_pb(event),
                origin,
                &p.ledger_key,
            );
            // Check the sealed bytes read back as what was meant (assert in pairs).
            debug_assert!(entry::open(&sealed.bytes).is_ok_and(|o| o.index() == meta.index));
            // Every level of the tree, the leaves too, lives in memory.
            p.frontier.append(sealed.hash, |level, i, hash| {
                new_nodes.push((level, i, *hash));
            });
            p.last_hash = sealed.hash;
            hashes.push(sealed.hash);
            writes.push((layout::entry_key(meta.index).to_vec(), Some(sealed.bytes)));
        }
        // A request that appended entries has its first at `first_index`, which
        // is `size_before` plus its position among the group's entries.
        for (_, outcome) in outcomes.iter_mut() {
            if let Ok(c) = outcome {
                if !c.replayed && !c.events.is_empty() {
                    c.first_hash = hashes[(c.first_index - size_before) as usize];
                }
            }
        }

        if !applied.is_empty() {
            for key in self.changes.keys() {
                writes.push((layout::state_key(key), p.state.record(key)));
            }
            let note = sign_checkpoint(&p.identity, &p.frontier, &p.ledger_key);
            writes.push((
                layout::CHECKPOINT_KEY.to_vec(),
                Some(note.clone().into_bytes()),
            ));
            let flush_started = std::time::Instant::now();
            self.commits += 1;
            let durable = self.write_durably(writes, size_before);
            let p = &mut self.parts;
            if let Err(e) = durable {
                let reason =
                    format!("storage failure, writes stopped (restart the server to recover): {e}");
                self.fail(reason.clone());
                // Part of the group may have reached the disk. Batches are atomic and
                // recovered in order, and the next open rolls back a group whose last
                // batch is missing: it finds all of the group or none of it; until
                // then nobody knows.
                let message = format!(
                    "{reason}; this request may or may not be on the ledger (all of its group commit or none of it): check after the restart or resubmit with the same idempotency key"
                );
                for (reply, outcome) in outcomes.drain(..) {
                    // A refusal stays a refusal: it was never part of the batch.
                    let outcome = match outcome {
                        Err(refused) => Err(refused),
                        Ok(_) => Err(WriteError::Unavailable(message.clone())),
                    };
                    let _ = reply.send(outcome);
                }
                return;
            }
            if let Some(observer) = &p.observer {
                observer.group_committed(applied.len() as u64, flush_started.elapsed());
            }
            let mut published = p.published.write().unwrap_or_else(|e| e.into_inner());
            let mut scratch = Changes::default();
            for (meta, event) in applied.iter() {
                if let Err(e) = registry::apply(&mut published.state, meta, event, &mut scratch) {
                    // Same events, same order, same starting state: cannot differ.
                    drop(published);
                    self.fail(format!("published state diverged from the writer: {e}"));
                    return;
                }
            }
            {
                let mut levels = p.nodes.write().unwrap_or_else(|e| e.into_inner());
                for (level, i, hash) in new_nodes.drain(..) {
                    levels.push(level, i, hash);
                }
            }
            published.frontier = p.frontier.clone();
            published.last_hash = p.last_hash;
            published.checkpoint = note;
        }
        let p = &self.parts;
        let size = p.frontier.size();
        for (reply, mut outcome) in outcomes.drain(..) {
            if let Ok(c) = &mut outcome {
                c.tree_size = size;
                if c.replayed {
                    if let Err(e) = resolve_replay(&p.tree, c) {
                        outcome = Err(e);
                    }
                }
            }
            let _ = reply.send(outcome);
        }
    }
}

impl Writer {
    /// Writes a group's `writes` (the checkpoint last) and makes them durable: one
    /// sled batch, or, for more than `batch_records` writes, several under the
    /// pending marker (the ledger size before the group), flushed as they go so
    /// that the marker is on disk before any later batch; the last batch carries
    /// the checkpoint and removes the marker. sled recovers batches in order, so
    /// after a crash the store holds a prefix of the batches: none (nothing
    /// happened), some (the marker is there: the next open rolls them back), or all.
    fn write_durably(&self, writes: &mut Vec<Write>, size_before: u64) -> Result<(), String> {
        let p = &self.parts;
        // A planned failure (tests only; see `StoreOptions`) stands in for the I/O
        // error the real call would return.
        let commit = self.commits;
        let fault = |point| {
            p.faults
                .filter(|f| f.commit == commit && f.point == point)
                .map(|_| format!("injected I/O error ({point:?}) at group commit {commit}"))
        };
        if fault(super::FaultPoint::Panic).is_some() {
            panic!("injected panic at group commit {commit}");
        }
        let batches = writes.len().div_ceil(p.batch_records).max(1);
        let mut writes = writes.drain(..);
        for n in 0..batches {
            let mut batch = sled::Batch::default();
            if n == 0 && batches > 1 {
                batch.insert(layout::PENDING_KEY, &size_before.to_be_bytes());
            }
            super::add_writes(&mut batch, writes.by_ref().take(p.batch_records));
            if n + 1 == batches && batches > 1 {
                batch.remove(layout::PENDING_KEY);
            }
            let injected = match n {
                0 => fault(super::FaultPoint::BatchWrite),
                1 => fault(super::FaultPoint::LaterBatch),
                _ => None,
            };
            if let Some(e) = injected {
                return Err(e);
            }
            p.tree.apply_batch(batch).map_err(|e| e.to_string())?;
            if n + 1 < batches {
                p.db.flush().map_err(|e| e.to_string())?;
            }
        }
        if let Some(e) = fault(super::FaultPoint::Flush) {
            return Err(e);
        }
        p.db.flush().map_err(|e| e.to_string())?;
        if let Some(e) = fault(super::FaultPoint::Sync) {
            return Err(e);
        }
        p.data_file.sync().map_err(|e| e.to_string())
    }
}

/// Fills in the hash and recorded time of the entry an idempotent repeat points to.
fn resolve_replay(tree: &sled::Tree, c: &mut Committed) -> Result<(), WriteError> {
    let unavailable = |m: String| WriteError::Unavailable(m);
    let bytes = tree
        .get(layout::entry_key(c.first_index))
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

/// A `RequestPayload` read for its issue time alone: the other fields (the command
/// above all) are skipped, not decoded, on the writer's thread.
#[derive(Clone, PartialEq, prost::Message)]
struct IssueTime {
    /// `RequestPayload.issued_at`'s tag.
    #[prost(message, optional, tag = "2")]
    issued_at: Option<prost_types::Timestamp>,
}

/// Checks the request's issue time against the time the ledger records it at (the
/// same window auditors check), so a server clock stepping backwards can never
/// record a request the verifier would call stale.
fn fresh_at(payload: &[u8], recorded_at: DateTime<Utc>) -> Result<(), WriteError> {
    use prost::Message;
    let issued = IssueTime::decode(payload)
        .ok()
        .and_then(|p| p.issued_at)
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32))
        .ok_or_else(|| {
            WriteError::Unauthenticated("request payload has no valid issue time".into())
        })?;
    let age = (recorded_at - issued).num_seconds();
    if age > crate::limits::REQUEST_AGE_SECS_MAX
        || -age > crate::limits::REQUEST_FUTURE_SKEW_SECS_MAX
    {
        return Err(WriteError::Unauthenticated(format!(
            "request issued {age} s before the ledger's time {recorded_at}; outside the accepted window"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn payload(issued_at: Option<DateTime<Utc>>) -> Vec<u8> {
        pb::RequestPayload {
            ledger_origin: "writer.test/dbond".into(),
            issued_at: issued_at.map(crate::codec::timestamp_to_pb),
            nonce: vec![9; 16],
            command: Some(pb::Command {
                kind: Some(pb::command::Kind::RevokeParticipant(
                    pb::RevokeParticipant {
                        participant_id: "bank-a".into(),
                        reason: "test".into(),
                    },
                )),
            }),
        }
        .encode_to_vec()
    }

    #[test]
    fn the_issue_time_is_read_past_the_other_fields_and_checked_against_the_window() {
        let now = DateTime::from_timestamp(1_800_000_000, 123_000_000).unwrap();
        let bytes = payload(Some(now));
        assert_eq!(
            IssueTime::decode(bytes.as_slice()).unwrap().issued_at,
            pb::RequestPayload::decode(bytes.as_slice())
                .unwrap()
                .issued_at,
            "the issue time alone reads what the whole payload says"
        );
        assert!(fresh_at(&bytes, now).is_ok());
        let oldest = now - chrono::Duration::seconds(crate::limits::REQUEST_AGE_SECS_MAX);
        assert!(fresh_at(&payload(Some(oldest)), now).is_ok());
        let stale = oldest - chrono::Duration::seconds(1);
        match fresh_at(&payload(Some(stale)), now) {
            Err(WriteError::Unauthenticated(m)) => assert!(m.contains("outside"), "{m}"),
            other => panic!("a stale request was {other:?}"),
        }
        let ahead =
            now + chrono::Duration::seconds(crate::limits::REQUEST_FUTURE_SKEW_SECS_MAX + 1);
        assert!(matches!(
            fresh_at(&payload(Some(ahead)), now),
            Err(WriteError::Unauthenticated(_))
        ));
        match fresh_at(&payload(None), now) {
            Err(WriteError::Unauthenticated(m)) => {
                assert!(m.contains("no valid issue time"), "{m}")
            }
            other => panic!("a request without an issue time was {other:?}"),
        }
    }
}
