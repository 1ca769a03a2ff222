//! A mirror's folder: an ordinary data folder (`store/`, `ledger.pub`, as
//! `dbond serve` lays one out) with the notes it has seen in `checkpoints/`.
//! While the first copy is written, `store.unfinished` marks `store/` as not yet
//! a ledger; an open that finds the mark removes both and starts again.

use super::{MirrorError, local};
use crate::ledger::keys::{self, KeyId};
use ed25519_dalek::VerifyingKey;
use std::path::{Path, PathBuf};

/// The paths of a mirror's folder.
#[derive(Clone, Debug)]
pub struct Folder {
    root: PathBuf,
}

/// Makes a directory entry's creation or removal durable.
fn sync_dir(dir: &Path) -> Result<(), MirrorError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| local(format!("cannot sync {}: {e}", dir.display())))
}

impl Folder {
    /// The folder at `path`, created (owner only) if there is none.
    pub fn create(path: &Path) -> Result<Folder, MirrorError> {
        std::fs::create_dir_all(path)
            .map_err(|e| local(format!("cannot create {}: {e}", path.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
        }
        Ok(Folder {
            root: path.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The copy's store, an ordinary sled store.
    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// The ledger's public key, written once the first copy is verified.
    pub fn ledger_public_key(&self) -> PathBuf {
        self.root.join("ledger.pub")
    }

    /// The witness folder of the notes seen (`audit::witness`).
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    fn unfinished_mark(&self) -> PathBuf {
        self.root.join("store.unfinished")
    }

    /// True when the folder holds a store with anything in it.
    pub fn has_store(&self) -> bool {
        std::fs::read_dir(self.store()).is_ok_and(|mut d| d.next().is_some())
    }

    /// True while a first copy is being written (or was cut off).
    pub fn seeding(&self) -> bool {
        self.unfinished_mark().exists()
    }

    /// Marks the store as an unfinished first copy, durably, before it is created.
    pub(super) fn mark_seeding(&self) -> Result<(), MirrorError> {
        let mark = self.unfinished_mark();
        std::fs::write(
            &mark,
            "the first copy of the ledger in store/ is not finished: the mirror removes it and starts again\n",
        )
        .map_err(|e| local(format!("cannot write {}: {e}", mark.display())))?;
        sync_dir(&self.root)
    }

    /// Clears the mark once the first copy is durable.
    pub(super) fn unmark_seeding(&self) -> Result<(), MirrorError> {
        let mark = self.unfinished_mark();
        std::fs::remove_file(&mark)
            .map_err(|e| local(format!("cannot remove {}: {e}", mark.display())))?;
        sync_dir(&self.root)
    }

    /// Removes a first copy that was cut off, then its mark.
    pub(super) fn remove_unfinished_copy(&self) -> Result<(), MirrorError> {
        let store = self.store();
        if store.exists() {
            std::fs::remove_dir_all(&store)
                .map_err(|e| local(format!("cannot remove {}: {e}", store.display())))?;
        }
        self.unmark_seeding()
    }

    /// Writes `ledger.pub`, or checks that the one there is `key`.
    pub(super) fn keep_ledger_key(&self, key: &VerifyingKey) -> Result<(), MirrorError> {
        let path = self.ledger_public_key();
        if path.exists() {
            let there = keys::read_public_key(&path).map_err(local)?;
            if there != *key {
                return Err(local(format!(
                    "{} is key {}, but the copy's ledger key is {}",
                    path.display(),
                    KeyId::of(&there),
                    KeyId::of(key)
                )));
            }
            return Ok(());
        }
        keys::write_public_key(&path, key).map_err(local)
    }
}
