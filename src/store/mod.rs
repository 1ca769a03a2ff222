//! The store: appends entries and the state changes derived from them atomically,
//! makes them durable before anyone hears of them (group commit: one flush for many
//! writers), and on open replays the whole ledger, checking it against the stored
//! checkpoint and state.
//!
//! Physical storage sits behind one boundary, [`Engine`] (`engine.rs`): entries by
//! index, state records by key, the latest checkpoint note, groups written
//! atomically. The sled engine (`sled_engine/`, the only module that imports sled)
//! implements it. Everything else here is ledger logic on top of the boundary, the
//! same for every engine: `lifecycle` (create with genesis, open with recovery,
//! replay and cross-check), `recovery` (rolling back an interrupted group),
//! `replay`, `check` (stored state against the replay), `writer` (deciding and
//! sealing a group, then storing and publishing it), `handle` (the [`Store`]
//! handle and its readers' view), `nodes` (the tree's levels in memory), `raw`
//! (the auditors' read-only view) and `faults` (planned failures for tests).
//!
//! Invariants: entries are immutable once written; readers only ever see durable
//! entries and the state derived from them; any disagreement between stored bytes
//! and their replay stops the open with `StoreError::Corrupt`, and bytes read back
//! that differ from the leaf hash held in memory are reported the same way.

mod check;
mod engine;
mod faults;
mod follow;
mod handle;
mod lifecycle;
mod nodes;
mod postgres;
mod raw;
mod recovery;
mod replay;
mod sled_engine;
mod writer;

#[cfg(test)]
mod conformance;

pub use engine::{
    Engine, EngineError, Entries, EntryVisitor, Group, RoleHolder, SharedStore, StateRecord,
    StateVisitor, StateWrite, Taken,
};
pub use faults::{FaultPlan, FaultPoint};
pub use follow::{Follower, Seeder};
pub use handle::{Arrival, Published, Store};
pub use lifecycle::Genesis;
pub use nodes::{MemoryNodes, NodeLevels};
pub use postgres::{DEFAULT_LEASE, Migrated, PgEngine, PgOptions, PgUrl, SCHEMA_VERSION};
pub use raw::{RawStore, StoreLocation, open_for_reading};
pub use replay::{Replayed, replay};
pub use sled_engine::SledEngine;
pub use writer::{Committed, WriteError, WriteRequest, authorize};

use crate::ledger::signer::LedgerKey;
use crate::registry::LedgerIdentity;
use std::sync::Arc;

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
    #[error(
        "ledger key {given} was rotated out: ledger key {in_force} signs this ledger from entry {from_index}; start the server with that key as --ledger-key"
    )]
    RotatedOut {
        given: String,
        in_force: String,
        from_index: u64,
    },
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn corrupt(index: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        index,
        reason: reason.into(),
    }
}

/// Told of the writer's work, for metrics. Called on the writer's thread: an
/// implementation returns at once.
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
    /// Records per sled batch (default `limits::STORE_BATCH_RECORDS_DEFAULT`), for
    /// the sled engine that `Store::create_with` and `Store::open_with` open;
    /// tests set a small one to write ordinary groups in several batches.
    pub batch_records: Option<usize>,
    /// Told of every durable group commit.
    pub observer: Option<Arc<dyn WriterObserver>>,
    /// Longest the writer holds a group open for a request being checked
    /// (default `limits::GROUP_ARRIVAL_WAIT`); tests set a long one.
    pub group_arrival_wait: Option<std::time::Duration>,
    /// The key a `RotateLedgerKey` hands the ledger over to (`dbond serve
    /// --next-ledger-key`); the writer takes it at open.
    pub next_ledger_key: Option<NextLedgerKey>,
    /// The ledger key given may be a fresh key that is not the one in force
    /// (`dbond serve --emergency-rotation`): the open accepts it when the
    /// ledger has a recovery quorum, and the writer then takes no write but
    /// the `EmergencyRotateLedgerKey` that brings it in.
    pub emergency_rotation: bool,
}

/// The next ledger key, handed to the writer once: options are cloned, the key
/// (a token session, perhaps) is not.
#[derive(Clone)]
pub struct NextLedgerKey(Arc<std::sync::Mutex<Option<LedgerKey>>>);

impl NextLedgerKey {
    pub fn new(key: impl Into<LedgerKey>) -> NextLedgerKey {
        NextLedgerKey(Arc::new(std::sync::Mutex::new(Some(key.into()))))
    }

    /// Its public key, while the key was not taken.
    pub fn public_key(&self) -> Option<ed25519_dalek::VerifyingKey> {
        use crate::ledger::signer::Signer;
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|k| k.public_key())
    }

    fn take(&self) -> Option<LedgerKey> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("faults", &self.faults)
            .field("batch_records", &self.batch_records)
            .field("observer", &self.observer.as_ref().map(|_| "set"))
            .field("group_arrival_wait", &self.group_arrival_wait)
            .field("emergency_rotation", &self.emergency_rotation)
            .field(
                "next_ledger_key",
                &self
                    .next_ledger_key
                    .as_ref()
                    .and_then(|k| k.public_key())
                    .map(|k| crate::ledger::keys::KeyId::of(&k).to_string()),
            )
            .finish()
    }
}

impl StoreOptions {
    /// Records per sled batch these options give (at least one).
    pub(crate) fn batch_records(&self) -> usize {
        self.batch_records
            .unwrap_or(crate::limits::STORE_BATCH_RECORDS_DEFAULT)
            .max(1)
    }
}

/// The ledger key that signs entry `index` and the checkpoint of size `index`,
/// given the key terms of a state and the events read beyond it (whose
/// hand-overs add terms). All zeros when `terms` is empty (no genesis): no
/// signature verifies under it.
pub fn ledger_key_after(
    terms: &[crate::registry::LedgerKeyTerm],
    events: &[(crate::registry::EntryMeta, crate::registry::Event)],
    index: u64,
) -> crate::registry::PublicKey {
    let later = events.iter().filter_map(|(meta, e)| match e {
        crate::registry::Event::LedgerKeyRotated(h) => Some((h.from_index, h.new_public_key)),
        crate::registry::Event::LedgerKeyReplaced(r) => Some((meta.next_index(), r.new_public_key)),
        _ => None,
    });
    terms
        .iter()
        .map(|t| (t.from_index, t.public_key))
        .chain(later)
        .rfind(|(from, _)| *from <= index)
        .map_or(crate::registry::PublicKey([0; 32]), |(_, k)| k)
}

/// Key name used in checkpoint signature lines: the origin.
pub fn checkpoint_key_name(identity: &LedgerIdentity) -> &str {
    &identity.origin
}

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
