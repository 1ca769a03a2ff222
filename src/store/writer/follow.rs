//! The writer thread over a store several servers share (`Engine::shared`): the
//! same thread is either the ledger's writer or a follower, and moves between the
//! two.
//!
//! - A follower refuses every write, naming the writer the store names. Every
//!   follow interval it reads the store's signed checkpoint and the entries it
//!   does not hold yet, checks each (index, hash link, event) and the checkpoint
//!   (signature, size and root over what it holds), and only then applies them to
//!   its working state and publishes them to its readers. It then tries to take
//!   the writer role, which it gets when the holder's term has run out.
//! - A process that takes the role first catches up to the store's last entry,
//!   then writes as the single writer does.
//! - A writer whose group is refused because another epoch holds the role, or
//!   whose renewal found another epoch, steps down: it becomes a follower, its
//!   callers hear UNAVAILABLE naming the writer, and nothing of the refused group
//!   was stored. Its working state had the refused group applied, so it is
//!   rebuilt from a replay of the store before it writes again.
//! - A fail-stop (a storage failure, a bug, a store that went back on what this
//!   server published: a fork) lets the role go and never writes again; reads go
//!   on following where they can.

use super::{Job, NOT_RECORDED, Writer};
use crate::ledger::checkpoint;
use crate::ledger::keys;
use crate::registry::{self, Changes, EntryMeta};
use crate::store::engine::Taken;
use crate::store::replay::decode_one;
use crate::store::writer::{Committed, SealedGroup, WriteError};
use tokio::sync::mpsc;

impl Writer {
    fn role_message(&self) -> Option<String> {
        self.parts
            .role
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_role_message(&self, message: Option<String>) {
        *self.parts.role.lock().unwrap_or_else(|e| e.into_inner()) = message;
    }

    /// Stops writing because another server holds the role: the working state
    /// may hold events that were never stored.
    pub(super) fn step_down(&mut self, reason: String) {
        tracing::warn!(%reason, "stepping down: this server follows the ledger's writer now");
        self.stale = true;
        self.set_role_message(Some(reason));
    }

    /// What a refused caller hears while this server does not write.
    fn refusal(&self) -> String {
        let engine = self.parts.appender.engine().clone();
        let holder = engine
            .shared()
            .and_then(|s| s.holder().ok())
            .map(|h| h.describe());
        let failure = self
            .parts
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let why = failure
            .or_else(|| self.role_message())
            .unwrap_or_else(|| "this server does not hold the writer role".into());
        match holder {
            Some(h) if !why.contains(&h) => format!("{why}; {h}; {NOT_RECORDED}"),
            _ => format!("{why}; {NOT_RECORDED}"),
        }
    }

    /// Reads what the store holds beyond what this server published, checks it
    /// and publishes it. Returns how many entries it took.
    fn follow(&mut self) -> Result<u64, String> {
        let engine = self.parts.appender.engine().clone();
        let Some(note) = engine.checkpoint().map_err(|e| e.to_string())? else {
            return Ok(0);
        };
        let note = String::from_utf8(note).map_err(|_| {
            "the store's checkpoint is not UTF-8 (a fork or corruption)".to_string()
        })?;
        let (frontier, last_hash, published_note) = self
            .parts
            .appender
            .read_published(|p| (p.frontier.clone(), p.last_hash, p.checkpoint.clone()));
        let size = frontier.size();
        if note == published_note {
            return Ok(0);
        }
        // The note is read for its size first and opened once the entries up to
        // it are read: a hand-over among them names the key that signs it.
        let (cp, _) = checkpoint::parse_unverified(&note)
            .map_err(|e| format!("the store's checkpoint does not verify: {e}"))?;
        let terms = self
            .parts
            .appender
            .read_published(|p| p.state.ledger_key_terms());
        if cp.size <= size {
            return Err(format!(
                "the store's signed checkpoint covers {} entries with root {}, but this server published {size} entries with root {}: the store went back on what was published (a fork, or a restore to an older point); writes stopped",
                cp.size,
                hex::encode(cp.root),
                hex::encode(frontier.root())
            ));
        }
        let mut sealed = SealedGroup::default();
        let mut frontier = frontier;
        let mut last_hash = last_hash;
        let mut expected = size;
        let mut fault = None;
        engine
            .scan_entries(size, Some(cp.size), &mut |index, bytes| {
                let checked = if index != expected {
                    Err(format!(
                        "entry {expected} is missing from the store (next stored entry is {index})"
                    ))
                } else {
                    decode_one(index, bytes).map_err(|e| e.to_string())
                };
                match checked {
                    Ok(d) if d.prev_hash != last_hash => {
                        fault = Some(format!(
                            "entry {index} does not link to entry {}: the store holds a fork",
                            index.wrapping_sub(1)
                        ));
                        false
                    }
                    Ok(d) => {
                        sealed.tree.add(&mut frontier, d.hash);
                        last_hash = d.hash;
                        sealed.applied.push((
                            EntryMeta {
                                index,
                                recorded_at: d.recorded_at,
                            },
                            d.event,
                        ));
                        expected += 1;
                        true
                    }
                    Err(e) => {
                        fault = Some(e);
                        false
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        if let Some(fault) = fault {
            return Err(fault);
        }
        let key = crate::store::ledger_key_after(&terms, &sealed.applied, cp.size);
        let ledger_key = keys::parse_public_key(&key.0).map_err(|e| e.to_string())?;
        let cp = checkpoint::open(
            &note,
            crate::store::checkpoint_key_name(&self.parts.identity),
            &ledger_key,
        )
        .map_err(|e| format!("the store's checkpoint does not verify: {e}"))?;
        if frontier.size() != cp.size || frontier.root() != cp.root {
            return Err(format!(
                "the store's entries up to {} do not give the root its signed checkpoint names ({} found, {} signed)",
                frontier.size(),
                hex::encode(frontier.root()),
                hex::encode(cp.root)
            ));
        }
        if !self.stale {
            let mut changes = Changes::default();
            for (meta, event) in &sealed.applied {
                registry::apply(&mut self.parts.state, meta, event, &mut changes)
                    .map_err(|e| format!("entry {} does not apply: {}", meta.index, e.reason))?;
            }
            self.parts.frontier = frontier.clone();
            self.parts.last_hash = last_hash;
        }
        let taken = sealed.applied.len() as u64;
        sealed.group.checkpoint = note;
        // A stale working state did not take the events: the readers' state
        // applies them itself.
        let state = (!self.stale).then_some(&self.parts.state);
        self.parts
            .appender
            .publish_followed(&mut sealed, state, &frontier, last_hash)?;
        Ok(taken)
    }

    /// Having taken the role: catches up to the store's last entry and, if the
    /// working state is stale, rebuilds it from a replay of the store.
    fn become_writer(&mut self, epoch: u64) -> Result<(), String> {
        self.follow()?;
        if self.stale {
            let engine = self.parts.appender.engine().clone();
            let shared = engine
                .shared()
                .ok_or_else(|| "the store is not shared".to_string())?;
            let view = shared.consistent_view().map_err(|e| e.to_string())?;
            let replayed = crate::store::replay(&*view, |_| {}).map_err(|e| e.to_string())?;
            let (size, last_hash) = self
                .parts
                .appender
                .read_published(|p| (p.size(), p.last_hash));
            if replayed.frontier.size() != size || replayed.last_hash != last_hash {
                return Err(format!(
                    "the store changed while this server took the writer role ({} entries replayed, {size} published)",
                    replayed.frontier.size()
                ));
            }
            self.parts.state = replayed.state;
            self.parts.frontier = replayed.frontier;
            self.parts.last_hash = replayed.last_hash;
            self.stale = false;
        }
        self.set_role_message(None);
        tracing::info!(
            epoch,
            size = self.parts.frontier.size(),
            "this server is the ledger's writer"
        );
        Ok(())
    }

    /// A follower's look at the store: new entries, then the role if it is free.
    fn follower_tick(&mut self) {
        if let Err(reason) = self.follow() {
            if reason.contains("fork") || reason.contains("went back") {
                return self.fail_shared(reason);
            }
            tracing::warn!(%reason, "following the ledger failed; trying again");
            return;
        }
        if self.failed()
            || self
                .parts
                .retiring
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let engine = self.parts.appender.engine().clone();
        let Some(shared) = engine.shared() else {
            return;
        };
        match shared.take_role() {
            Ok(Taken::Taken(epoch)) => {
                if let Err(reason) = self.become_writer(epoch) {
                    if reason.contains("fork") || reason.contains("went back") {
                        return self.fail_shared(reason);
                    }
                    tracing::warn!(%reason, "could not catch up after taking the writer role; giving it up");
                    shared.release_role();
                }
            }
            Ok(Taken::HeldBy(holder)) => {
                let message = format!(
                    "this server is not the ledger's writer; {}",
                    holder.describe()
                );
                self.set_role_message(Some(message));
            }
            Err(e) => tracing::warn!(error = %e, "could not read the writer role"),
        }
    }

    fn failed(&self) -> bool {
        self.parts
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Fail-stop on a shared store: the role is let go (by `fail`) so another
    /// server takes it at once, and this one never writes again.
    pub(super) fn fail_shared(&mut self, reason: String) {
        self.stale = true;
        self.fail(reason);
    }
}

/// The writer thread's loop over a shared store.
pub(super) fn run(mut writer: Writer, mut rx: mpsc::Receiver<Job>) {
    let engine = writer.parts.appender.engine().clone();
    let Some(shared) = engine.shared() else {
        return;
    };
    let interval = shared.follow_interval();
    let timer = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return writer.fail(format!("cannot start the writer's timer: {e}")),
    };
    match shared.role_held() {
        Some(epoch) => {
            if let Err(reason) = writer.become_writer(epoch) {
                writer.stale = true;
                writer.set_role_message(Some(format!(
                    "this server could not catch up after taking the writer role: {reason}"
                )));
                shared.release_role();
            }
        }
        None => writer.set_role_message(Some("this server is not the ledger's writer".into())),
    }
    let mut jobs = Vec::new();
    let mut next_tick = std::time::Instant::now() + interval;
    loop {
        let wait = next_tick.saturating_duration_since(std::time::Instant::now());
        let first = timer.block_on(async { tokio::time::timeout(wait, rx.recv()).await });
        match first {
            Ok(None) => break,
            Ok(Some(job)) => {
                jobs.clear();
                jobs.push(job);
                while jobs.len() < crate::limits::GROUP_COMMIT_ENTRIES_MAX {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                let writing = !writer.failed()
                    && writer.role_message().is_none()
                    && shared.role_held().is_some();
                if writing {
                    writer.commit_group_caught(&mut jobs);
                } else {
                    let message = writer.refusal();
                    for job in jobs.drain(..) {
                        let _ = job.reply.send(Err::<Committed, _>(WriteError::Unavailable(
                            message.clone(),
                        )));
                    }
                }
            }
            Err(_) => {}
        }
        if std::time::Instant::now() < next_tick {
            continue;
        }
        next_tick = std::time::Instant::now() + interval;
        let writing = writer.role_message().is_none() && !writer.failed();
        if writing {
            if shared.role_held().is_none() {
                writer.step_down(
                    "this server's writer role was taken over (its renewal found another epoch)"
                        .into(),
                );
            }
        } else {
            writer.follower_tick();
        }
    }
    shared.release_role();
}
