//! The sled engine: a ledger in one sled tree in a folder (the key layout is in
//! `layout.rs`). The only module that imports sled.
//!
//! A group is one sled batch, flushed and then `fdatasync`ed. A group of more than
//! `batch_records` records goes in several batches: the first also sets the
//! pending marker (the ledger size before the group), each is flushed before the
//! next, and the last carries the checkpoint and removes the marker. sled keeps
//! every node it copies during a batch until the batch ends, so the cap bounds the
//! memory one group takes; after each batch the engine collects those copies
//! (`reclaim`), which sled's own pins would leave piling up. sled recovers
//! batches in order, so after a crash the tree holds a prefix of a group's
//! batches: none, all, or some under the marker, which the open rolls back.

mod layout;
#[cfg(test)]
pub(super) mod tests;

use super::engine::{Engine, EngineError, Entries, EntryVisitor, Group, StateVisitor, StateWrite};
use super::{FaultPlan, FaultPoint, StoreError, corrupt};
use std::path::{Path, PathBuf};

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Storage(e.to_string())
    }
}

/// A ledger store in a folder, kept by sled.
pub struct SledEngine {
    path: PathBuf,
    db: sled::Db,
    tree: sled::Tree,
    data_file: DataFile,
    /// Most records (entries, state records, the checkpoint) one sled batch holds.
    batch_records: usize,
}

/// sled 0.34's `flush` ends in `sync_file_range`, which neither flushes the drive's
/// write cache nor the file size: an acknowledged write would survive a process
/// crash but not a power cut. After each flush that ends a group the engine also
/// `fdatasync`s the data file, through this handle.
struct DataFile(std::fs::File);

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

    fn sync(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
}

impl SledEngine {
    /// Opens the store in the folder `path`, creating the folder and an empty store
    /// if there is none. Groups of more than `batch_records` records are written in
    /// several batches. sled locks the folder: one process opens it at a time.
    pub fn open(path: &Path, batch_records: usize) -> Result<SledEngine, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(256 << 20)
            .flush_every_ms(None)
            .open()?;
        let tree = db.open_tree(layout::TREE_NAME)?;
        Ok(SledEngine {
            path: path.to_path_buf(),
            data_file: DataFile::open(path)?,
            db,
            tree,
            batch_records: batch_records.max(1),
        })
    }

    /// The key range of the entries from `start` to `end` (or to the last). From
    /// entry 0 it starts at the bare prefix, so that a malformed key stored before
    /// entry 0 is seen; to the last it ends past every key with the prefix.
    fn entry_range(start: u64, end: Option<u64>) -> Option<std::ops::Range<Vec<u8>>> {
        if end.is_some_and(|end| end <= start) {
            return None;
        }
        let lower = if start == 0 {
            vec![layout::ENTRY_PREFIX]
        } else {
            layout::entry_key(start).to_vec()
        };
        let upper = match end {
            Some(end) => layout::entry_key(end).to_vec(),
            None => vec![layout::ENTRY_PREFIX + 1],
        };
        Some(lower..upper)
    }

    /// Applies `writes` in batches of `batch_records`, each flushed; the last also
    /// removes the pending marker.
    fn apply_then_clear_marker(
        &self,
        writes: impl Iterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        let mut writes = writes.peekable();
        loop {
            let mut batch = sled::Batch::default();
            let mut records = 0;
            for (key, value) in writes.by_ref().take(self.batch_records) {
                records += 1;
                match value {
                    Some(v) => batch.insert(key, v),
                    None => batch.remove(key),
                }
            }
            let last = writes.peek().is_none();
            if last {
                batch.remove(layout::PENDING_KEY);
            }
            self.tree.apply_batch(batch)?;
            reclaim(records);
            self.db.flush()?;
            if last {
                return Ok(());
            }
        }
    }

    /// The sled tree, for tests that change stored bytes behind the ledger's back.
    #[cfg(test)]
    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }
}

/// Records written per round of `reclaim`. A round frees up to 8 bags of 64
/// deferred frees (512), so one round per 16 records keeps up with 32 node copies
/// per record; a round with nothing to collect only tries to advance the epoch.
const RECORDS_PER_RECLAIM_ROUND: usize = 16;

/// Frees the node copies a batch of `records` writes left behind.
///
/// sled 0.34 frees a node it replaced (each insert copies the leaf it changes)
/// through crossbeam-epoch's reclamation: the old copy goes into a bag of
/// deferred frees, and the global queue of bags is collected only when a
/// thread pins, 8 bags every 128 pins. A batch pins once for all its records, so
/// the writer defers far more than its pins collect: the bags pile up, some KB
/// per record written, and were held until the process ended (docs/BENCHMARKS.md,
/// section 5). Once the batch's own pin is dropped, each round here pins and
/// flushes: it advances the epoch when no other thread holds an older one, and
/// collects up to 8 expired bags. sled pins crossbeam's default collector, which
/// `crossbeam_epoch::pin` drives (one crossbeam-epoch 0.9 in Cargo.lock).
fn reclaim(records: usize) {
    for _ in 0..records / RECORDS_PER_RECLAIM_ROUND + 4 {
        crossbeam_epoch::pin().flush();
    }
}

/// One write of a group, in the order the group's batches carry them: entries,
/// state records, the checkpoint last.
enum Write<'a> {
    Entry(u64, &'a [u8]),
    Record(&'a [u8], Option<&'a [u8]>),
    Checkpoint(&'a str),
}

fn writes_of(group: &Group) -> impl Iterator<Item = Write<'_>> {
    let entries = (group.size_before..)
        .zip(&group.entries)
        .map(|(index, bytes)| Write::Entry(index, bytes));
    let records = group
        .records
        .iter()
        .map(|(key, value)| Write::Record(key, value.as_deref()));
    entries
        .chain(records)
        .chain(std::iter::once(Write::Checkpoint(&group.checkpoint)))
}

impl Engine for SledEngine {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.tree.is_empty())
    }

    fn write_group(&self, group: &Group, fault: Option<FaultPlan>) -> Result<(), EngineError> {
        let storage = |e: sled::Error| EngineError::Storage(e.to_string());
        let writes = group.entries.len() + group.records.len() + 1;
        // The group that starts the ledger is one batch: until it lands, the
        // folder holds no ledger at all.
        let per_batch = if group.size_before == 0 {
            writes
        } else {
            self.batch_records
        };
        let batches = writes.div_ceil(per_batch);
        let mut writes = writes_of(group);
        let mut key = Vec::new();
        for n in 0..batches {
            let mut batch = sled::Batch::default();
            if n == 0 && batches > 1 {
                batch.insert(layout::PENDING_KEY, &group.size_before.to_be_bytes());
            }
            let mut records = 0;
            for write in writes.by_ref().take(per_batch) {
                records += 1;
                match write {
                    Write::Entry(index, bytes) => {
                        batch.insert(&layout::entry_key(index)[..], bytes)
                    }
                    Write::Record(k, value) => {
                        layout::state_key_into(&mut key, k);
                        match value {
                            Some(v) => batch.insert(key.as_slice(), v),
                            None => batch.remove(key.as_slice()),
                        }
                    }
                    Write::Checkpoint(note) => {
                        batch.insert(layout::CHECKPOINT_KEY, note.as_bytes())
                    }
                }
            }
            if n + 1 == batches && batches > 1 {
                batch.remove(layout::PENDING_KEY);
            }
            let injected = match n {
                0 => FaultPlan::strikes(fault, FaultPoint::BatchWrite),
                1 => FaultPlan::strikes(fault, FaultPoint::LaterBatch),
                _ => None,
            };
            if let Some(e) = injected {
                return Err(EngineError::Storage(e));
            }
            self.tree.apply_batch(batch).map_err(storage)?;
            reclaim(records);
            if n + 1 < batches {
                self.db.flush().map_err(storage)?;
            }
        }
        if let Some(e) = FaultPlan::strikes(fault, FaultPoint::Flush) {
            return Err(EngineError::Storage(e));
        }
        self.db.flush().map_err(storage)?;
        if let Some(e) = FaultPlan::strikes(fault, FaultPoint::Sync) {
            return Err(EngineError::Storage(e));
        }
        self.data_file
            .sync()
            .map_err(|e| EngineError::Storage(e.to_string()))
    }

    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(layout::entry_key(index))?.map(|v| v.to_vec()))
    }

    fn entries(&self, start: u64, end: Option<u64>) -> Entries {
        let Some(range) = Self::entry_range(start, end) else {
            return Box::new(std::iter::empty());
        };
        let mut at = start;
        Box::new(self.tree.range(range).map(move |item| {
            let (key, bytes) = item?;
            let index =
                layout::entry_index(&key).ok_or_else(|| corrupt(at, "malformed entry key"))?;
            at = index.saturating_add(1);
            Ok((index, bytes.to_vec()))
        }))
    }

    fn scan_entries(
        &self,
        start: u64,
        end: Option<u64>,
        visit: &mut EntryVisitor<'_>,
    ) -> Result<(), StoreError> {
        let Some(range) = Self::entry_range(start, end) else {
            return Ok(());
        };
        let mut at = start;
        for item in self.tree.range(range) {
            let (key, bytes) = item?;
            let index =
                layout::entry_index(&key).ok_or_else(|| corrupt(at, "malformed entry key"))?;
            if !visit(index, &bytes) {
                break;
            }
            at = index.saturating_add(1);
        }
        Ok(())
    }

    fn last_index(&self) -> Result<Option<u64>, StoreError> {
        match self.tree.scan_prefix([layout::ENTRY_PREFIX]).next_back() {
            None => Ok(None),
            Some(item) => {
                let (key, _) = item?;
                layout::entry_index(&key)
                    .map(Some)
                    .ok_or_else(|| corrupt(0, "malformed entry key"))
            }
        }
    }

    fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(layout::CHECKPOINT_KEY)?.map(|v| v.to_vec()))
    }

    fn scan_state(&self, visit: &mut StateVisitor<'_>) -> Result<(), StoreError> {
        for item in self.tree.scan_prefix(layout::STATE_PREFIX) {
            let (key, value) = item?;
            visit(&key[layout::STATE_PREFIX.len()..], &value)?;
        }
        Ok(())
    }

    /// Refuses keys outside the layout (`c`, `e` + index, `s` + record; `p` is the
    /// pending marker, which recovery has removed by then): one lookup per gap
    /// between the known prefixes. Entry keys of the wrong length are the replay's.
    fn check_layout(&self, at: u64) -> Result<(), StoreError> {
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
            if let Some(item) = self.tree.range::<&[u8], _>(gap).next() {
                let (key, _) = item?;
                return Err(corrupt(
                    at,
                    format!(
                        "the store holds a record of no known kind (key {})",
                        hex::encode(&key[..key.len().min(16)])
                    ),
                ));
            }
        }
        Ok(())
    }

    fn unfinished_group(&self) -> Result<Option<u64>, StoreError> {
        let Some(marker) = self.tree.get(layout::PENDING_KEY)? else {
            return Ok(None);
        };
        <[u8; 8]>::try_from(marker.as_ref())
            .map(|b| Some(u64::from_be_bytes(b)))
            .map_err(|_| corrupt(0, "the pending-group marker is malformed"))
    }

    fn remove_entries_from(&self, size: u64) -> Result<u64, StoreError> {
        let mut removed = 0u64;
        loop {
            let keys: Vec<sled::IVec> = self
                .tree
                .range(layout::entry_key(size)..=layout::entry_key(u64::MAX))
                .keys()
                .take(self.batch_records)
                .collect::<Result<_, _>>()?;
            if keys.is_empty() {
                return Ok(removed);
            }
            let mut batch = sled::Batch::default();
            for key in &keys {
                batch.remove(key);
            }
            self.tree.apply_batch(batch)?;
            reclaim(keys.len());
            self.db.flush()?;
            removed += keys.len() as u64;
        }
    }

    fn finish_roll_back(&self, records: Vec<StateWrite>) -> Result<(), StoreError> {
        let writes = records
            .into_iter()
            .map(|(key, value)| (layout::state_key(&key), value));
        self.apply_then_clear_marker(writes)?;
        self.data_file
            .sync()
            .map_err(|e| StoreError::Storage(e.to_string()))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}
