//! The sled engine under the conformance suite, and what only its layout can show:
//! the pending marker on disk, malformed and stray keys, the state digest's blocks.

use super::super::check::StoredDigest;
use super::super::conformance::{
    self, Keys, Opened, Place, Tamper, open, refused_as_corrupt, registration, state_records,
    two_entries,
};
use super::super::engine::StateRecord;
use super::{SledEngine, layout};
use crate::store::{FaultPlan, FaultPoint, RawStore, Store, StoreError, StoreOptions, WriteError};
use std::path::Path;
use std::sync::Arc;

/// A sled store in a fresh temporary folder.
pub(crate) struct SledPlace {
    dir: tempfile::TempDir,
}

impl SledPlace {
    pub(crate) fn new() -> SledPlace {
        SledPlace {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// sled lets go of a store's file lock when the last of its threads drops the
/// store, which can be a moment after the last handle is dropped: an open right
/// after one waits for the lock (up to 5 s) instead of failing.
fn unlocked<T>(mut open: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
    for _ in 0..200 {
        match open() {
            Err(StoreError::Storage(m)) if m.contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(25))
            }
            other => return other,
        }
    }
    open()
}

impl Place for SledPlace {
    fn open(&self, batch_records: usize) -> Opened {
        let engine =
            unlocked(|| SledEngine::open(self.path(), batch_records)).expect("the store opens");
        let tamper = SledTamper {
            tree: engine.tree().clone(),
        };
        Opened {
            engine: Arc::new(engine),
            tamper: Box::new(tamper),
        }
    }
}

struct SledTamper {
    tree: sled::Tree,
}

impl SledTamper {
    fn set(&self, key: &[u8], value: Option<&[u8]>) {
        match value {
            Some(v) => self.tree.insert(key, v).map(|_| ()),
            None => self.tree.remove(key).map(|_| ()),
        }
        .and_then(|()| self.tree.flush().map(|_| ()))
        .expect("the tree takes the change");
    }
}

impl Tamper for SledTamper {
    fn set_entry(&self, index: u64, bytes: Option<&[u8]>) {
        self.set(&layout::entry_key(index), bytes)
    }

    fn set_state_record(&self, key: &[u8], value: Option<&[u8]>) {
        self.set(&layout::state_key(key), value)
    }

    fn set_checkpoint(&self, note: Option<&[u8]>) {
        self.set(layout::CHECKPOINT_KEY, note)
    }
}

mod suite {
    super::conformance::conformance_suite!(super::SledPlace::new);
}

/// What the store holds besides entries: (pending marker?, entries, state records).
fn on_disk(place: &SledPlace) -> (bool, u64, Vec<StateRecord>) {
    let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
    let engine = &opened.engine;
    (
        // A malformed marker is still a marker.
        engine.unfinished_group().map_or(true, |m| m.is_some()),
        engine.entries(0, None).count() as u64,
        state_records(&**engine),
    )
}

/// Runs `f` on the tree of the store at `place` (nothing else may have it open).
fn with_tree<R>(place: &SledPlace, f: impl FnOnce(&sled::Tree) -> R) -> R {
    let engine = unlocked(|| SledEngine::open(place.path(), 1)).expect("the store opens");
    let out = f(engine.tree());
    engine.tree().flush().unwrap();
    out
}

fn open_ledger(place: &SledPlace, keys: &Keys) -> Result<Store, StoreError> {
    unlocked(|| open(place, keys, StoreOptions::default()))
}

#[tokio::test]
async fn an_unfinished_group_leaves_its_marker_and_batches_on_disk_until_an_open() {
    let place = SledPlace::new();
    let keys = two_entries(&place).await;
    let (_, _, records_before) = on_disk(&place);
    let ledger = open(
        &place,
        &keys,
        StoreOptions {
            faults: Some(FaultPlan {
                commit: 1,
                point: FaultPoint::LaterBatch,
            }),
            batch_records: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    let failed = ledger
        .write(registration(&keys, "bank-b"))
        .await
        .unwrap_err();
    assert!(matches!(failed, WriteError::Unavailable(_)), "{failed}");
    ledger.close().unwrap();
    let (marker, entries, records) = on_disk(&place);
    assert!(marker, "the first batch set the marker");
    assert_eq!(entries, 3, "the group's entry is on disk");
    assert_ne!(records, records_before, "and one of its state records");
    match unlocked(|| RawStore::open(place.path())) {
        Err(StoreError::Invalid(m)) => assert!(m.contains("unfinished group commit"), "{m}"),
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("an auditor's raw view opened a store with an unfinished group"),
    }
    open_ledger(&place, &keys).unwrap().close().unwrap();
    assert_eq!(on_disk(&place), (false, 2, records_before));
}

#[tokio::test]
async fn malformed_entry_keys_are_refused_wherever_they_sort() {
    let place = SledPlace::new();
    let keys = two_entries(&place).await;
    let last = with_tree(&place, |t| t.get(layout::entry_key(1)).unwrap().unwrap());
    // Before entry 0, and after the last (a short key sorts after every entry
    // index below 2^56).
    for stray in [&b"e"[..], b"e\x00\x00", b"e\x01"] {
        with_tree(&place, |t| t.insert(stray, last.clone()).unwrap());
        refused_as_corrupt(
            &format!("stray key {stray:?}"),
            open_ledger(&place, &keys),
            "malformed entry key",
        );
        with_tree(&place, |t| t.remove(stray).unwrap());
    }
    open_ledger(&place, &keys).unwrap().close().unwrap();
}

#[tokio::test]
async fn a_pending_marker_that_disagrees_with_the_checkpoint_removes_nothing() {
    let place = SledPlace::new();
    let keys = two_entries(&place).await;
    for marker in [&1u64.to_be_bytes()[..], &3u64.to_be_bytes()[..], b"x"] {
        with_tree(&place, |t| t.insert(layout::PENDING_KEY, marker).unwrap());
        refused_as_corrupt(
            &format!("a marker of {marker:?}"),
            open_ledger(&place, &keys),
            "pending-group marker",
        );
        assert_eq!(on_disk(&place).1, 2, "no entry was removed");
    }
}

#[tokio::test]
async fn a_record_of_no_known_kind_stops_the_open() {
    let place = SledPlace::new();
    let keys = two_entries(&place).await;
    // A Merkle node as older stores kept them, then keys in every gap of the layout.
    for stray in [
        &b"n\x00\x00\x00\x00\x00\x00\x00\x00\x00"[..],
        b"a",
        b"c2",
        b"d",
        b"f",
        b"z",
    ] {
        with_tree(&place, |t| t.insert(stray, b"x".as_slice()).unwrap());
        match open_ledger(&place, &keys) {
            Err(StoreError::Corrupt { index: 1, reason }) => {
                assert!(reason.contains("no known kind"), "{reason}")
            }
            Err(e) => panic!("refused, but not as corrupt: {e}"),
            Ok(_) => panic!("a store with a stray record {stray:?} opened"),
        }
        with_tree(&place, |t| t.remove(stray).unwrap());
    }
    // Without the stray records it opens again, and proofs come from the entries.
    let ledger = open_ledger(&place, &keys).unwrap();
    let root = ledger.root_at(2).unwrap();
    let proof = crate::ledger::merkle::inclusion_proof(0, 2, &ledger.nodes()).unwrap();
    let leaf = crate::ledger::merkle::hash_leaf(&ledger.entry(0).unwrap().unwrap());
    crate::ledger::merkle::verify_inclusion(&leaf, 0, 2, &proof, &root).unwrap();
    ledger.close().unwrap();
}

#[tokio::test]
async fn stored_records_are_digested_in_blocks_that_match_the_replay_block_for_block() {
    let place = SledPlace::new();
    let keys = two_entries(&place).await;
    let ledger = open_ledger(&place, &keys).unwrap();
    ledger.close().unwrap();
    let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
    let engine = &*opened.engine;
    let state = crate::store::replay(engine, |_| {}).unwrap().state;
    let keys = state.record_keys();
    assert_eq!(keys.len(), 5, "meta, two participants, two keys");
    for block in [1, 2, 5, 6] {
        let stored = StoredDigest::in_blocks(engine, block).unwrap();
        assert_eq!(stored.records, 5);
        assert_eq!(stored.blocks.len(), 5usize.div_ceil(block));
        assert_eq!(StoredDigest::expected(&state, &keys, block), Some(stored));
    }
    // One record changed: only its block differs.
    let third = &keys[2].0;
    let mut value = state.record(&keys[2].1).unwrap();
    value.push(b' ');
    opened.tamper.set_state_record(third, Some(&value));
    let stored = StoredDigest::in_blocks(engine, 2).unwrap();
    let expected = StoredDigest::expected(&state, &keys, 2).unwrap();
    let differ: Vec<bool> = (0..3)
        .map(|i| stored.blocks[i] != expected.blocks[i])
        .collect();
    assert_eq!(differ, [false, true, false]);
}
