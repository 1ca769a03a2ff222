//! Storing a sealed group and publishing it. The engine writes the group durably;
//! then, under the readers' lock, the readers' state becomes a copy of the
//! working state after the group (`State::readers_copy`, which shares every node
//! with it: the events are applied once, by the writer), the tree's levels in
//! memory take its nodes, and the readers' frontier, last hash and checkpoint
//! move to the new size. Nothing here decides or signs: the writer feeds it the
//! groups it sealed, and a reader that appends entries sealed elsewhere (having
//! verified them, applied their events to its own working state and kept the
//! source's checkpoint note) feeds it groups built the same way. A working state
//! that cannot be trusted (a shared store's writer whose group was refused) is
//! not given: the readers' state then takes the group's events itself.
//!
//! Invariant: readers see a group only after the engine said it is durable, and
//! then all of it at once. The working state given is exactly the state after
//! the group's last entry (its size says so, and is checked), and the writer
//! changes it only after `append` returns.

use super::super::{
    Engine, EngineError, FaultPlan, FaultPoint, Group, MemoryNodes, Published, WriterObserver,
};
use crate::ledger::merkle::{Frontier, Hash};
use crate::registry::{self, Changes, EntryMeta, Event, State};
use std::sync::{Arc, RwLock};

/// A group of sealed entries ready to be stored and published.
#[derive(Default)]
pub(crate) struct SealedGroup {
    /// What the engine stores: the entries, the state records they change, the
    /// checkpoint over the tree after them.
    pub group: Group,
    /// Each entry's index, recorded time and event, in order: what the writer
    /// seals, and what the readers' state takes when no working state is given.
    pub applied: Vec<(EntryMeta, Event)>,
    /// The entries' leaf hashes and the perfect nodes they complete.
    pub tree: GroupNodes,
}

impl SealedGroup {
    /// Empties the group, keeping its lists' capacity.
    pub fn clear(&mut self) {
        self.group.clear();
        self.applied.clear();
        self.tree.hashes.clear();
        self.tree.nodes.clear();
    }
}

/// The tree nodes a group adds.
#[derive(Default)]
pub(crate) struct GroupNodes {
    /// The group's leaf hashes, in entry order.
    pub hashes: Vec<Hash>,
    /// Every perfect node the group's entries complete, leaves included, in the
    /// order the appends completed them.
    pub nodes: Vec<(u32, u64, Hash)>,
}

impl GroupNodes {
    /// Appends the leaf `hash` to `frontier` (the tree as of the group's last
    /// entry so far), keeping the nodes it completes.
    pub fn add(&mut self, frontier: &mut Frontier, hash: Hash) {
        let nodes = &mut self.nodes;
        frontier.append(hash, |level, index, node| nodes.push((level, index, *node)));
        self.hashes.push(hash);
    }
}

/// Why a group was not stored and published.
#[derive(Debug)]
pub(crate) enum AppendError {
    /// The engine did not store the group (see `EngineError` for what that means
    /// for its durability).
    Write(EngineError),
    /// The group is durable, but the readers' state could not take it: a bug
    /// (the working state given is not the state after the group, or its events
    /// do not apply to the readers' state).
    Publish(String),
}

/// Stores sealed groups through the engine and publishes them to readers.
pub(crate) struct Appender {
    engine: Arc<dyn Engine>,
    published: Arc<RwLock<Published>>,
    nodes: MemoryNodes,
    observer: Option<Arc<dyn WriterObserver>>,
    faults: Option<FaultPlan>,
    /// Group commits that wrote entries since the store was opened.
    commits: u64,
}

impl Appender {
    pub fn new(
        engine: Arc<dyn Engine>,
        published: Arc<RwLock<Published>>,
        nodes: MemoryNodes,
        observer: Option<Arc<dyn WriterObserver>>,
        faults: Option<FaultPlan>,
    ) -> Appender {
        Appender {
            engine,
            published,
            nodes,
            observer,
            faults,
            commits: 0,
        }
    }

    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// Stores `sealed` durably, then publishes it: `state` is the working state
    /// after its last entry, `frontier` the tree after it and `last_hash` that
    /// entry's hash. The group must carry at least one entry and follow the
    /// published ledger directly.
    pub fn append(
        &mut self,
        sealed: &mut SealedGroup,
        state: &State,
        frontier: &Frontier,
        last_hash: Hash,
    ) -> Result<(), AppendError> {
        self.commits += 1;
        let fault = FaultPlan::for_commit(self.faults, self.commits);
        if fault.is_some_and(|f| f.point == FaultPoint::Panic) {
            panic!("injected panic at group commit {}", self.commits);
        }
        let started = std::time::Instant::now();
        self.engine
            .write_group(&sealed.group, fault)
            .map_err(AppendError::Write)?;
        if let Some(observer) = &self.observer {
            observer.group_committed(sealed.group.entries.len() as u64, started.elapsed());
        }
        self.publish(sealed, Some(state), frontier, last_hash)
            .map_err(AppendError::Publish)
    }

    /// Runs `f` on the published view.
    pub fn read_published<R>(&self, f: impl FnOnce(&Published) -> R) -> R {
        f(&self.published.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Publishes a group the store already holds (written by another server and
    /// checked by this one): what `append` does after the engine's write.
    /// `state` is the working state after the group, or `None` when the caller
    /// holds none it can trust (the readers' state then applies the events).
    pub fn publish_followed(
        &self,
        sealed: &mut SealedGroup,
        state: Option<&State>,
        frontier: &Frontier,
        last_hash: Hash,
    ) -> Result<(), String> {
        self.publish(sealed, state, frontier, last_hash)
    }

    fn publish(
        &self,
        sealed: &mut SealedGroup,
        state: Option<&State>,
        frontier: &Frontier,
        last_hash: Hash,
    ) -> Result<(), String> {
        // Taken before the lock: a handful of pointer copies.
        let copy = match state {
            Some(s) if s.size() != frontier.size() => {
                return Err(format!(
                    "the working state has {} entries applied, the group ends at {}",
                    s.size(),
                    frontier.size()
                ));
            }
            Some(s) => Some(s.readers_copy()),
            None => None,
        };
        let mut published = self.published.write().unwrap_or_else(|e| e.into_inner());
        let replaced = match copy {
            Some(copy) => Some(std::mem::replace(&mut published.state, copy)),
            None => {
                let mut changes = Changes::default();
                for (meta, event) in &sealed.applied {
                    registry::apply(&mut published.state, meta, event, &mut changes)
                        .map_err(|e| format!("published state diverged from the writer: {e}"))?;
                }
                None
            }
        };
        self.nodes.extend(sealed.tree.nodes.drain(..));
        published.frontier = frontier.clone();
        published.last_hash = last_hash;
        published.checkpoint = std::mem::take(&mut sealed.group.checkpoint);
        drop(published);
        // The nodes only the replaced readers' state held (those the writer
        // changed since it was taken) are freed outside the readers' lock.
        drop(replaced);
        Ok(())
    }
}
