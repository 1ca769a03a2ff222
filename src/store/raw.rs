//! Read-only access to a store's raw contents, for auditors: no replay on open,
//! no writer, no key. A sled folder must be stopped; a PostgreSQL ledger is read
//! through one consistent view while servers append. It never writes, and refuses
//! a store holding an unfinished group (which only a server's open rolls back).

use super::check::{StoredDigest, check_stored};
use super::{Engine, PgEngine, PgOptions, PgUrl, SledEngine, StoreError, corrupt};
use crate::registry::State;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a ledger is kept, as a command line names it: a folder (the sled
/// engine) or a PostgreSQL database.
#[derive(Clone, Debug)]
pub enum StoreLocation {
    Folder(PathBuf),
    Postgres(Box<PgUrl>),
}

impl StoreLocation {
    /// The location for messages (a PostgreSQL URL without its password).
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Folder(path) => path.display().to_string(),
            StoreLocation::Postgres(url) => url.location().to_string(),
        }
    }
}

/// A read-only engine over the ledger at `location`, for the offline tools
/// (verify, export, report, backup): the sled folder, which sled locks while a
/// server has it open, or one consistent view of a PostgreSQL ledger, which
/// servers may go on appending to meanwhile. Nothing is written through it.
pub fn open_for_reading(location: &StoreLocation) -> Result<Arc<dyn Engine>, StoreError> {
    match location {
        StoreLocation::Folder(path) => {
            if !path.exists() {
                return Err(StoreError::NotInitialised(path.display().to_string()));
            }
            let engine = SledEngine::open(path, crate::limits::STORE_BATCH_RECORDS_DEFAULT)
                .map_err(|e| match e {
                    StoreError::Storage(m) if m.contains("WouldBlock") || m.contains("lock") => {
                        StoreError::Storage(format!(
                            "{m} (is a server running on this store? stop it, or verify with --server)"
                        ))
                    }
                    other => other,
                })?;
            Ok(Arc::new(engine))
        }
        StoreLocation::Postgres(url) => {
            let engine = PgEngine::open(
                url,
                PgOptions::default(),
                crate::limits::STORE_BATCH_RECORDS_DEFAULT,
            )?;
            Ok(Arc::new(engine.consistent_view()?))
        }
    }
}

/// The raw contents of a ledger store.
pub struct RawStore {
    engine: Arc<dyn Engine>,
}

impl RawStore {
    /// Opens the store in the folder `path`. (sled takes a lock: a running
    /// server's store cannot be opened; stop it or use `--server`.)
    pub fn open(path: &Path) -> Result<RawStore, StoreError> {
        RawStore::open_at(&StoreLocation::Folder(path.to_path_buf()))
    }

    /// Opens the ledger at `location` (see [`open_for_reading`]).
    pub fn open_at(location: &StoreLocation) -> Result<RawStore, StoreError> {
        RawStore::on(open_for_reading(location)?)
    }

    /// The raw view of the ledger `engine` holds.
    pub fn on(engine: Arc<dyn Engine>) -> Result<RawStore, StoreError> {
        if engine.is_empty()? {
            return Err(StoreError::NotInitialised(engine.location()));
        }
        if engine.unfinished_group()?.is_some() {
            return Err(StoreError::Invalid(format!(
                "the store in {} holds an unfinished group commit (the server stopped while writing it; none of it was acknowledged): start `dbond serve` on it once, which rolls it back, then try again",
                engine.location()
            )));
        }
        Ok(RawStore { engine })
    }

    /// Number of stored entries, from the last entry's index.
    pub fn len_hint(&self) -> u64 {
        self.engine.last_index().ok().flatten().map_or(0, |i| i + 1)
    }

    /// Every stored entry in index order.
    pub fn entries(&self) -> impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + use<> {
        self.engine.entries(0, None)
    }

    /// The stored signed checkpoint note.
    pub fn checkpoint(&self) -> Result<String, StoreError> {
        let bytes = self
            .engine
            .checkpoint()?
            .ok_or_else(|| corrupt(0, "the signed checkpoint is missing"))?;
        String::from_utf8(bytes).map_err(|_| corrupt(0, "the stored checkpoint is not UTF-8"))
    }

    /// Checks that the stored registry records are exactly what the entries give
    /// (the state a verifier replayed), and that nothing else is stored.
    pub fn check_state(&self, state: &State) -> Result<(), StoreError> {
        check_stored(
            &*self.engine,
            state,
            self.len_hint().saturating_sub(1),
            StoredDigest::of(&*self.engine)?,
        )
    }
}
