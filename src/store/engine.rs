//! The boundary to physical storage. An engine keeps, for one ledger: the entries
//! (bytes by index), the registry's state records (bytes by key, read back in key
//! order), the latest signed checkpoint note, and whatever it needs to write a
//! group of those atomically. It knows nothing of what the bytes mean: sealing,
//! replay, cross-checks and the writer are the ledger logic above it, the same for
//! every engine.
//!
//! What every engine guarantees:
//! - `write_group` returns `Ok` only once the whole group is durable. After a
//!   crash the engine holds all of a group, none of it, or (an engine that writes
//!   a large group in several steps) its first steps with a mark that
//!   `unfinished_group` reports until `finish_roll_back` clears it. A group that
//!   starts the ledger (`size_before == 0`) is always one atomic write.
//! - Stored bytes come back exactly as written; entries come back in index order.
//! - An engine several processes can open checks, inside each group's write, that
//!   this process still holds the writer role, and answers
//!   [`EngineError::LostWriterRole`] (nothing written) when it does not. Such an
//!   engine says so through [`Engine::shared`]: the ledger then follows what
//!   other processes write, and writes only while it holds the role.

use super::{FaultPlan, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// One state record write: the record's key (`StateKey::to_bytes`) and its new
/// value, or `None` to remove the record.
pub type StateWrite = (Vec<u8>, Option<Vec<u8>>);

/// One group commit as an engine stores it.
#[derive(Debug, Default)]
pub struct Group {
    /// The ledger's size before the group: the index of its first entry.
    pub size_before: u64,
    /// The group's entries in index order, exactly as sealed.
    pub entries: Vec<Vec<u8>>,
    /// The state records the group changes.
    pub records: Vec<StateWrite>,
    /// The signed checkpoint note covering the ledger after the group.
    pub checkpoint: String,
}

impl Group {
    /// Empties the group, keeping its lists' capacity.
    pub fn clear(&mut self) {
        self.size_before = 0;
        self.entries.clear();
        self.records.clear();
        self.checkpoint.clear();
    }
}

/// Why an engine did not store a group.
#[derive(Clone, Debug, thiserror::Error)]
pub enum EngineError {
    /// The storage failed. All of the group may be durable or none of it (never a
    /// part, once recovery has run): the next open tells which.
    #[error("{0}")]
    Storage(String),
    /// This process no longer holds the writer role: another writer appends now.
    /// Nothing of the group was stored.
    #[error("this server no longer holds the writer role: {0}")]
    LostWriterRole(String),
}

/// One stored state record: its key (`StateKey::to_bytes`) and value.
pub type StateRecord = (Vec<u8>, Vec<u8>);

/// Called with each stored entry's index and bytes; returns whether to go on.
pub type EntryVisitor<'a> = dyn FnMut(u64, &[u8]) -> bool + 'a;

/// Called with each stored state record's key and value.
pub type StateVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// Stored entries, each with its index, in index order.
pub type Entries = Box<dyn Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + Send>;

/// What a storage engine does. See the module notes for the guarantees.
pub trait Engine: Send + Sync {
    /// Where the ledger is kept, for messages (a folder; never a password).
    fn location(&self) -> String;

    /// True when nothing at all is stored (no ledger was ever created here).
    fn is_empty(&self) -> Result<bool, StoreError>;

    /// Stores `group` durably and atomically (see the module notes). `fault`, set
    /// by tests only, is a planned failure that strikes this group: the engine
    /// fails at its `point` as if the I/O there had failed.
    fn write_group(&self, group: &Group, fault: Option<FaultPlan>) -> Result<(), EngineError>;

    /// The stored bytes of entry `index`.
    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// The stored entries from `start` on, up to `end` (excluded) or, for `None`,
    /// all of them. Something stored where only an entry may be, that is none, is
    /// reported as corrupt at the index where it was found.
    fn entries(&self, start: u64, end: Option<u64>) -> Entries;

    /// Calls `visit(index, bytes)` for the stored entries from `start` on, as
    /// [`Engine::entries`] lists them, without copying them, until `visit`
    /// returns false. Replays read the ledger through it.
    fn scan_entries(
        &self,
        start: u64,
        end: Option<u64>,
        visit: &mut EntryVisitor<'_>,
    ) -> Result<(), StoreError>;

    /// The index of the last stored entry.
    fn last_index(&self) -> Result<Option<u64>, StoreError>;

    /// The stored checkpoint note's bytes.
    fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Calls `visit(key, value)` for every state record in key order (bytewise).
    fn scan_state(&self, visit: &mut StateVisitor<'_>) -> Result<(), StoreError>;

    /// Refuses anything stored that is no entry, state record or checkpoint (nor
    /// the engine's own bookkeeping), reporting it as corrupt at entry `at`.
    fn check_layout(&self, at: u64) -> Result<(), StoreError>;

    /// The ledger size before a group that was cut off between its steps, if
    /// one was. Never acknowledged, it is rolled back at open: its entries by
    /// `remove_entries_from`, then its state records by `finish_roll_back`.
    fn unfinished_group(&self) -> Result<Option<u64>, StoreError>;

    /// Removes every entry from index `size` on (durably), returning how many.
    /// The unfinished-group mark stays.
    fn remove_entries_from(&self, size: u64) -> Result<u64, StoreError>;

    /// Applies `records`, then clears the unfinished-group mark, durably: the last
    /// step of a roll-back, which a crash during it leaves to the next open.
    fn finish_roll_back(&self, records: Vec<StateWrite>) -> Result<(), StoreError>;

    /// Makes everything written so far durable and waits for the engine's
    /// background work.
    fn flush(&self) -> Result<(), StoreError>;

    /// The writer role and the consistent reads of an engine several processes
    /// share; `None` for an engine only this process opens (it always writes).
    fn shared(&self) -> Option<&dyn SharedStore> {
        None
    }
}

/// Who holds the writer role of a shared store, as the store says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleHolder {
    /// Raised by one at every take-over; 0 before the first.
    pub epoch: u64,
    pub holder: String,
    /// Where clients reach the holder's gRPC service.
    pub address: String,
    /// Whether the holder's term has run out (any process may take the role).
    pub expired: bool,
}

impl RoleHolder {
    /// A sentence naming the holder, for a refused write.
    pub fn describe(&self) -> String {
        let at = if self.address.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.address)
        };
        if self.epoch == 0 {
            "no server has held the writer role yet".into()
        } else if self.expired {
            format!(
                "the writer role is free (epoch {} was held by {}{at}); a server takes it within its follow interval",
                self.epoch, self.holder
            )
        } else {
            format!(
                "the writer is {}{at} (epoch {}): send writes there",
                self.holder, self.epoch
            )
        }
    }
}

/// What an attempt to take the writer role found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// This process holds the role with this epoch.
    Taken(u64),
    /// Another process holds it.
    HeldBy(RoleHolder),
}

/// What an engine that several processes share does besides storing: the writer
/// role (exactly one process appends at a time, and every group it writes checks
/// that it still does) and reads that see one moment of a ledger others append to.
pub trait SharedStore: Send + Sync {
    /// A read-only engine over the ledger as it is now: every read through it sees
    /// the same committed groups, whatever is appended meanwhile.
    fn consistent_view(&self) -> Result<Arc<dyn Engine>, StoreError>;

    /// Takes the writer role if it is free or its holder's term has run out.
    fn take_role(&self) -> Result<Taken, StoreError>;

    /// The epoch this process holds, as far as it knows (a renewal that found
    /// another epoch, or a group refused for one, ends it).
    fn role_held(&self) -> Option<u64>;

    /// The holder of the writer role, as stored now.
    fn holder(&self) -> Result<RoleHolder, StoreError>;

    /// Gives the role up at once (a clean shutdown), so another process takes it
    /// without waiting for the term to run out.
    fn release_role(&self);

    /// How often a process that does not write looks for new entries and for a
    /// free writer role.
    fn follow_interval(&self) -> Duration;
}
