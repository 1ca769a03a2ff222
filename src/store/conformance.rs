//! The store's conformance suite: what every engine must show under the ledger
//! logic, written once. An engine runs all of it with one line,
//! `conformance_suite!(MyPlace::new);`, given a [`Place`]: a fresh, empty
//! store that can be opened again and again and whose bytes a test can change
//! behind the ledger's back.
//!
//! Appends read back and survive a reopen; a group commit decides in order and
//! tells each request its own entry; the replay finds a gap anywhere; a group cut
//! off between its steps is rolled back whole; every planned fault stops the writer
//! and loses nothing acknowledged; changed bytes are refused at open and when read.

use super::{
    Engine, FaultPlan, FaultPoint, Genesis, RawStore, Store, StoreError, StoreOptions, WriteError,
    WriteRequest, WriterObserver,
};
use crate::clock::{Clock, ManualClock};
use crate::ledger::checkpoint;
use crate::ledger::keys::{self, KeyId, REQUEST_CONTEXT};
use crate::ledger::merkle;
use crate::proto as pb;
use crate::registry::ParticipantId;
use ed25519_dalek::SigningKey;
use prost::Message;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One place that holds one ledger, for the suite.
pub(crate) trait Place: Send + Sync {
    /// Opens the engine on this place (again: the handles of an earlier open are
    /// gone), writing a group of more than `batch_records` records in several
    /// steps if the engine does that.
    fn open(&self, batch_records: usize) -> Opened;
}

/// An engine opened on a place, and a way to change its bytes.
pub(crate) struct Opened {
    pub engine: Arc<dyn Engine>,
    pub tamper: Box<dyn Tamper>,
}

/// Changes stored bytes behind the ledger's back, durably, on an open engine.
pub(crate) trait Tamper {
    /// Stores `bytes` as entry `index`, or removes the entry.
    fn set_entry(&self, index: u64, bytes: Option<&[u8]>);
    /// Stores `value` as the state record `key` (`StateKey::to_bytes`), or removes it.
    fn set_state_record(&self, key: &[u8], value: Option<&[u8]>);
    /// Stores `note` as the checkpoint, or removes it.
    fn set_checkpoint(&self, note: Option<&[u8]>);
}

/// Runs the whole suite, one test each, on places made by `$place` (a function
/// giving a fresh `impl Place` each time it is called).
macro_rules! conformance_suite {
    ($place:expr) => {
        #[tokio::test]
        async fn appends_read_back_checked_and_survive_a_reopen() {
            $crate::store::conformance::appends_read_back_checked_and_survive_a_reopen(&$place())
                .await
        }

        #[tokio::test]
        async fn a_group_commit_tells_each_request_its_own_first_entry() {
            $crate::store::conformance::a_group_commit_tells_each_request_its_own_first_entry(
                &$place(),
            )
            .await
        }

        #[tokio::test]
        async fn the_replay_finds_a_gap_at_every_chunk_boundary() {
            $crate::store::conformance::the_replay_finds_a_gap_at_every_chunk_boundary(&$place())
                .await
        }

        #[tokio::test]
        async fn a_group_cut_off_between_its_steps_is_rolled_back_whole() {
            $crate::store::conformance::a_group_cut_off_between_its_steps_is_rolled_back_whole(
                &$place(),
            )
            .await
        }

        #[tokio::test]
        async fn every_planned_fault_stops_the_writer_and_loses_nothing_acknowledged() {
            $crate::store::conformance::every_planned_fault_stops_the_writer_and_loses_nothing_acknowledged(
                &$place,
            )
            .await
        }

        #[tokio::test]
        async fn changed_bytes_are_refused_at_open() {
            $crate::store::conformance::changed_bytes_are_refused_at_open(&$place()).await
        }

        #[tokio::test]
        async fn entries_served_are_checked_against_their_leaf_hashes() {
            $crate::store::conformance::entries_served_are_checked_against_their_leaf_hashes(
                &$place(),
            )
            .await
        }

        #[tokio::test]
        async fn a_store_is_created_once_and_opened_only_with_its_key() {
            $crate::store::conformance::a_store_is_created_once_and_opened_only_with_its_key(
                &$place(),
            )
            .await
        }
    };
}
pub(crate) use conformance_suite;

const ORIGIN: &str = "store.test/dbond";

/// A ledger's keys and clock.
pub(crate) struct Keys {
    pub ledger: SigningKey,
    pub admin: SigningKey,
    pub clock: Arc<dyn Clock>,
}

/// A new ledger on `place` with genesis and one registered bank: two entries.
pub(crate) async fn two_entries(place: &dyn Place) -> Keys {
    let keys = Keys {
        ledger: keys::generate(),
        admin: keys::generate(),
        clock: Arc::new(ManualClock::new(chrono::Utc::now())),
    };
    let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
    let ledger = Store::create_on(
        opened.engine,
        &keys.ledger,
        Genesis {
            origin: ORIGIN.into(),
            admin_participant_id: ParticipantId::parse("id", "admin").unwrap(),
            admin_key: &keys.admin,
        },
        keys.clock.clone(),
        StoreOptions::default(),
    )
    .unwrap();
    ledger.write(registration(&keys, "bank-a")).await.unwrap();
    assert_eq!(ledger.size(), 2);
    ledger.close().unwrap();
    keys
}

/// Opens the ledger on `place` with `options`.
pub(crate) fn open(
    place: &dyn Place,
    keys: &Keys,
    options: StoreOptions,
) -> Result<Store, StoreError> {
    let opened = place.open(options.batch_records());
    Store::open_on(
        opened.engine,
        keys.ledger.clone(),
        keys.clock.clone(),
        options,
    )
}

/// The admin's signed request to register bank `id`.
pub(crate) fn registration(keys: &Keys, id: &str) -> WriteRequest {
    let kind = pb::command::Kind::RegisterParticipant(pb::RegisterParticipant {
        participant_id: id.into(),
        role: pb::Role::Bank as i32,
        public_key: keys::generate().verifying_key().to_bytes().to_vec(),
        display_name: "Bank".into(),
    });
    let command = crate::codec::command_from_kind(&kind).unwrap();
    let mut nonce = vec![7; 16];
    nonce.extend_from_slice(id.as_bytes());
    let payload = pb::RequestPayload {
        ledger_origin: ORIGIN.into(),
        issued_at: Some(crate::codec::timestamp_to_pb(keys.clock.now())),
        nonce,
        command: Some(pb::Command { kind: Some(kind) }),
    }
    .encode_to_vec();
    let signature = keys::sign(&keys.admin, REQUEST_CONTEXT, &payload);
    WriteRequest {
        key_id: KeyId::of(&keys.admin.verifying_key()),
        payload,
        signature: signature.to_bytes().to_vec(),
        command,
    }
}

fn has_bank(ledger: &Store, id: &str) -> bool {
    let id = ParticipantId::parse("id", id).unwrap();
    ledger.read(|p| p.state.participant(&id).is_some())
}

/// Every stored state record, in key order.
pub(crate) fn state_records(engine: &dyn Engine) -> Vec<super::engine::StateRecord> {
    super::check::stored_records(engine).unwrap()
}

/// Counts what the writer reports.
#[derive(Default)]
struct Counted {
    groups: AtomicU64,
    entries: AtomicU64,
}

impl WriterObserver for Counted {
    fn group_committed(&self, entries: u64, _took: std::time::Duration) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.entries.fetch_add(entries, Ordering::Relaxed);
    }
}

/// Asserts that `outcome` is a refusal to open as corrupt, saying `says`.
pub(crate) fn refused_as_corrupt(what: &str, outcome: Result<Store, StoreError>, says: &str) {
    match outcome {
        Err(StoreError::Corrupt { reason, .. }) => {
            assert!(reason.contains(says), "{what}: open says {reason}")
        }
        Err(e) => panic!("{what}: refused, but not as corrupt: {e}"),
        Ok(_) => panic!("{what}: opened"),
    }
}

pub(crate) async fn appends_read_back_checked_and_survive_a_reopen(place: &dyn Place) {
    let keys = two_entries(place).await;
    let counted = Arc::new(Counted::default());
    let ledger = open(
        place,
        &keys,
        StoreOptions {
            observer: Some(counted.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    for (n, id) in ["bank-b", "bank-c", "bank-d"].into_iter().enumerate() {
        let c = ledger.write(registration(&keys, id)).await.unwrap();
        let index = 2 + n as u64;
        assert_eq!((c.first_index, c.tree_size), (index, index + 1));
        let stored = ledger.entry(index).unwrap().unwrap();
        assert_eq!(merkle::hash_leaf(&stored), c.first_hash);
    }
    assert_eq!(ledger.entry(5).unwrap(), None, "nothing past the end");
    assert_eq!(counted.entries.load(Ordering::Relaxed), 3);
    assert_eq!(counted.groups.load(Ordering::Relaxed), 3);
    let listed: Vec<u64> = ledger
        .entries(0, 10)
        .map(|e| e.map(|(i, _)| i))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(listed, [0, 1, 2, 3, 4]);
    let (note, size) = ledger.read(|p| (p.checkpoint.clone(), p.size()));
    let (cp, _) = checkpoint::parse_unverified(&note).unwrap();
    let root = ledger.root_at(size).unwrap();
    assert_eq!((cp.size, cp.root), (5, root));
    let proof = merkle::inclusion_proof(3, 5, &ledger.nodes()).unwrap();
    let leaf = merkle::hash_leaf(&ledger.entry(3).unwrap().unwrap());
    merkle::verify_inclusion(&leaf, 3, 5, &proof, &root).unwrap();
    ledger.close().unwrap();

    let ledger = open(place, &keys, StoreOptions::default()).unwrap();
    assert_eq!(ledger.size(), 5);
    assert_eq!(ledger.root_at(5).unwrap(), root);
    assert!(has_bank(&ledger, "bank-d"));
    ledger.close().unwrap();

    // The auditors' raw view holds the same ledger.
    let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
    let raw = RawStore::on(opened.engine.clone()).unwrap();
    assert_eq!(raw.len_hint(), 5);
    assert_eq!(raw.checkpoint().unwrap(), note);
    assert_eq!(raw.entries().count(), 5);
    let replayed = super::replay(&*opened.engine, |_| {}).unwrap();
    raw.check_state(&replayed.state).unwrap();
}

pub(crate) async fn a_group_commit_tells_each_request_its_own_first_entry(place: &dyn Place) {
    let keys = two_entries(place).await;
    let counted = Arc::new(Counted::default());
    let ledger = open(
        place,
        &keys,
        StoreOptions {
            observer: Some(counted.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    // Queued together, so decided in one group (or a few): the refused second
    // request has a reply but no entry, which shifts the others' entries.
    let outcomes = ledger
        .write_many(vec![
            registration(&keys, "bank-b"),
            registration(&keys, "bank-b"),
            registration(&keys, "bank-c"),
            registration(&keys, "bank-d"),
        ])
        .await;
    assert!(
        matches!(&outcomes[1], Err(WriteError::Refused(e)) if e.to_string().contains("already")),
        "{:?}",
        outcomes[1]
    );
    let mut told = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate().filter(|(i, _)| *i != 1) {
        let c = outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        let stored = ledger.entry(c.first_index).unwrap().unwrap();
        assert_eq!(
            c.first_hash,
            merkle::hash_leaf(&stored),
            "request {i}'s receipt names its own entry"
        );
        told.push(c.first_index);
    }
    assert_eq!(told, [2, 3, 4]);
    assert_eq!(counted.entries.load(Ordering::Relaxed), 3);
    assert!((1..=3).contains(&counted.groups.load(Ordering::Relaxed)));
    ledger.close().unwrap();
}

pub(crate) async fn the_replay_finds_a_gap_at_every_chunk_boundary(place: &dyn Place) {
    // Genesis and registrations past two decoding chunks: chunk 2 is short.
    let chunk = super::replay::DECODE_CHUNK;
    let n = 2 * chunk + 300;
    let keys = two_entries(place).await;
    let ledger = open(place, &keys, StoreOptions::default()).unwrap();
    let ids: Vec<String> = (2..n).map(|i| format!("bank-{i}")).collect();
    for group in ids.chunks(256) {
        let writes = group.iter().map(|id| ledger.write(registration(&keys, id)));
        for written in futures::future::join_all(writes).await {
            written.unwrap();
        }
    }
    let root = ledger.root_at(n).unwrap();
    ledger.close().unwrap();

    let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
    let reopen = || {
        Store::open_on(
            opened.engine.clone(),
            keys.ledger.clone(),
            keys.clock.clone(),
            StoreOptions::default(),
        )
    };
    let check_opens = || {
        let ledger = reopen().unwrap();
        assert_eq!((ledger.size(), ledger.root_at(n).unwrap()), (n, root));
        assert!(has_bank(&ledger, &format!("bank-{}", n - 1)));
        ledger.close().unwrap();
    };
    check_opens();
    // An entry removed at the end of a chunk, at the start of one, inside one.
    for gone in [chunk - 1, chunk, 2 * chunk - 1, 2 * chunk, 2 * chunk + 7] {
        let bytes = opened.engine.entry(gone).unwrap().unwrap();
        opened.tamper.set_entry(gone, None);
        refused_as_corrupt(
            &format!("entry {gone} removed"),
            reopen(),
            &format!(
                "entry {gone} is missing (next stored entry is {})",
                gone + 1
            ),
        );
        opened.tamper.set_entry(gone, Some(&bytes));
    }
    // An entry stored past the end.
    let last = opened.engine.entry(n - 1).unwrap().unwrap();
    opened.tamper.set_entry(n + 5, Some(&last));
    refused_as_corrupt(
        "an entry past the end",
        reopen(),
        &format!("entry {n} is missing (next stored entry is {})", n + 5),
    );
    opened.tamper.set_entry(n + 5, None);
    check_opens();
}

pub(crate) async fn a_group_cut_off_between_its_steps_is_rolled_back_whole(place: &dyn Place) {
    let keys = two_entries(place).await;
    let records_before = {
        let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
        state_records(&*opened.engine)
    };
    // Two records per step: the registration's entry, state records and
    // checkpoint take three; the second fails.
    let ledger = open(
        place,
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
    {
        // An auditor's raw view refuses the store until a server rolls the group
        // back, or (an engine that writes a group at once) sees none of it.
        let opened = place.open(2);
        match RawStore::on(opened.engine.clone()) {
            Err(StoreError::Invalid(m)) => assert!(m.contains("unfinished group commit"), "{m}"),
            Err(e) => panic!("refused for another reason: {e}"),
            Ok(raw) => assert_eq!(raw.len_hint(), 2, "the raw view shows part of a group"),
        }
    }

    let ledger = open(place, &keys, StoreOptions::default()).unwrap();
    assert_eq!(ledger.size(), 2);
    assert!(!has_bank(&ledger, "bank-b"));
    ledger.close().unwrap();
    {
        let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
        assert_eq!(opened.engine.unfinished_group().unwrap(), None);
        assert_eq!(opened.engine.last_index().unwrap(), Some(1));
        assert_eq!(state_records(&*opened.engine), records_before);
    }

    // And the ledger goes on from there.
    let ledger = open(place, &keys, StoreOptions::default()).unwrap();
    ledger.write(registration(&keys, "bank-c")).await.unwrap();
    assert_eq!(ledger.size(), 3);
    ledger.close().unwrap();
}

pub(crate) async fn every_planned_fault_stops_the_writer_and_loses_nothing_acknowledged<
    P: Place,
>(
    new_place: &dyn Fn() -> P,
) {
    for (point, batch_records) in [
        (FaultPoint::BatchWrite, None),
        (FaultPoint::Flush, None),
        (FaultPoint::Sync, None),
        (FaultPoint::LaterBatch, Some(2)),
        (FaultPoint::Panic, None),
    ] {
        let place = new_place();
        let keys = two_entries(&place).await;
        let ledger = open(
            &place,
            &keys,
            StoreOptions {
                faults: Some(FaultPlan { commit: 2, point }),
                batch_records,
                ..Default::default()
            },
        )
        .unwrap();
        ledger
            .write(registration(&keys, "bank-b"))
            .await
            .unwrap_or_else(|e| panic!("{point:?}: the first group failed: {e}"));
        match ledger.write(registration(&keys, "bank-c")).await {
            Err(WriteError::Unavailable(m)) => assert!(
                m.contains("may or may not be on the ledger"),
                "{point:?}: {m}"
            ),
            other => panic!("{point:?}: the faulty group gave {other:?}"),
        }
        match ledger.write(registration(&keys, "bank-d")).await {
            Err(WriteError::Unavailable(m)) => {
                assert!(m.contains("not recorded"), "{point:?}: {m}")
            }
            other => panic!("{point:?}: a write after the fault gave {other:?}"),
        }
        let reason = ledger.writer_stopped().await;
        assert!(
            reason.contains("injected"),
            "{point:?}: the writer stopped because {reason}"
        );
        // Reads go on, from what was published before the fault.
        assert_eq!(ledger.size(), 3, "{point:?}");
        assert!(ledger.entry(2).unwrap().is_some());
        ledger.close().unwrap();

        let ledger = open(&place, &keys, StoreOptions::default()).unwrap();
        let size = ledger.size();
        assert!(
            has_bank(&ledger, "bank-b"),
            "{point:?}: an acknowledged write was lost"
        );
        assert!(!has_bank(&ledger, "bank-d"), "{point:?}");
        let whole = has_bank(&ledger, "bank-c");
        assert_eq!(size, if whole { 4 } else { 3 }, "{point:?}: all or nothing");
        if matches!(
            point,
            FaultPoint::BatchWrite | FaultPoint::LaterBatch | FaultPoint::Panic
        ) {
            assert!(!whole, "{point:?}: the group never reached the store whole");
        }
        ledger.close().unwrap();
    }
}

pub(crate) async fn changed_bytes_are_refused_at_open(place: &dyn Place) {
    let keys = two_entries(place).await;
    let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
    let engine = &opened.engine;
    let tamper = &opened.tamper;
    let reopen = || {
        Store::open_on(
            engine.clone(),
            keys.ledger.clone(),
            keys.clock.clone(),
            StoreOptions::default(),
        )
    };
    let entry_0 = engine.entry(0).unwrap().unwrap();
    let entry_1 = engine.entry(1).unwrap().unwrap();
    let note = engine.checkpoint().unwrap().unwrap();
    let records = state_records(&**engine);
    let (record_key, record) = records[1].clone();
    let flipped = |bytes: &[u8]| {
        let mut b = bytes.to_vec();
        let last = b.len() - 1;
        b[last] ^= 1;
        b
    };
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>, Box<dyn Fn() + 'a>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "a bit of entry 0 flipped",
            Box::new(|| tamper.set_entry(0, Some(&flipped(&entry_0)))),
            Box::new(|| tamper.set_entry(0, Some(&entry_0))),
            "previous-hash link is broken",
        ),
        (
            "a bit of the last entry flipped",
            Box::new(|| tamper.set_entry(1, Some(&flipped(&entry_1)))),
            Box::new(|| tamper.set_entry(1, Some(&entry_1))),
            "merkle root mismatch",
        ),
        (
            "the last entry dropped",
            Box::new(|| tamper.set_entry(1, None)),
            Box::new(|| tamper.set_entry(1, Some(&entry_1))),
            "covers 2 entries but the store holds 1",
        ),
        (
            "the checkpoint changed",
            Box::new(|| tamper.set_checkpoint(Some(&flipped(&note)))),
            Box::new(|| tamper.set_checkpoint(Some(&note))),
            "stored checkpoint",
        ),
        (
            "the checkpoint dropped",
            Box::new(|| tamper.set_checkpoint(None)),
            Box::new(|| tamper.set_checkpoint(Some(&note))),
            "the signed checkpoint is missing",
        ),
        (
            "a state record changed",
            Box::new(|| tamper.set_state_record(&record_key, Some(&flipped(&record)))),
            Box::new(|| tamper.set_state_record(&record_key, Some(&record))),
            "stored registry state disagrees",
        ),
        (
            "a state record dropped",
            Box::new(|| tamper.set_state_record(&record_key, None)),
            Box::new(|| tamper.set_state_record(&record_key, Some(&record))),
            "stored registry state disagrees",
        ),
        (
            "a state record added",
            Box::new(|| tamper.set_state_record(b"p/bank-z", Some(b"{}"))),
            Box::new(|| tamper.set_state_record(b"p/bank-z", None)),
            "stored registry state disagrees",
        ),
    ];
    for (what, change, undo, says) in &cases {
        change();
        refused_as_corrupt(what, reopen(), says);
        undo();
    }
    let ledger = reopen().unwrap();
    assert_eq!(ledger.size(), 2, "and the repaired store opens");
    ledger.close().unwrap();
}

pub(crate) async fn entries_served_are_checked_against_their_leaf_hashes(place: &dyn Place) {
    let keys = two_entries(place).await;
    let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
    let ledger = Store::open_on(
        opened.engine.clone(),
        keys.ledger.clone(),
        keys.clock.clone(),
        StoreOptions::default(),
    )
    .unwrap();
    let good = ledger.entry(1).unwrap().unwrap();
    let mut changed = good.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 0x10;
    let listed = |ledger: &Store| -> Vec<Result<u64, String>> {
        ledger
            .entries(0, 2)
            .map(|e| e.map(|(i, _)| i).map_err(|e| e.to_string()))
            .collect()
    };
    opened.tamper.set_entry(1, Some(&changed));
    match ledger.entry(1) {
        Err(StoreError::Corrupt { index: 1, reason }) => {
            assert!(reason.contains("changed"), "{reason}")
        }
        other => panic!("changed bytes were served: {other:?}"),
    }
    let seen = listed(&ledger);
    assert_eq!(seen[0], Ok(0));
    assert!(
        matches!(&seen[1], Err(m) if m.contains("changed")),
        "{seen:?}"
    );
    opened.tamper.set_entry(1, None);
    match ledger.entry(1) {
        Err(StoreError::Corrupt { index: 1, reason }) => {
            assert!(reason.contains("not stored"), "{reason}")
        }
        other => panic!("a missing durable entry read as {other:?}"),
    }
    let seen = listed(&ledger);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        matches!(&seen[1], Err(m) if m.contains("not stored")),
        "{seen:?}"
    );
    opened.tamper.set_entry(1, Some(&good));
    assert_eq!(ledger.entry(1).unwrap(), Some(good));
    assert_eq!(listed(&ledger), [Ok(0), Ok(1)]);
    ledger.close().unwrap();
}

pub(crate) async fn a_store_is_created_once_and_opened_only_with_its_key(place: &dyn Place) {
    let keys = Keys {
        ledger: keys::generate(),
        admin: keys::generate(),
        clock: Arc::new(ManualClock::new(chrono::Utc::now())),
    };
    match open(place, &keys, StoreOptions::default()) {
        Err(StoreError::NotInitialised(_)) => {}
        Err(e) => panic!("an empty store was refused for another reason: {e}"),
        Ok(_) => panic!("an empty store opened as a ledger"),
    }
    let keys = two_entries(place).await;
    let genesis = Genesis {
        origin: ORIGIN.into(),
        admin_participant_id: ParticipantId::parse("id", "admin").unwrap(),
        admin_key: &keys.admin,
    };
    let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
    match Store::create_on(
        opened.engine.clone(),
        &keys.ledger,
        genesis,
        keys.clock.clone(),
        StoreOptions::default(),
    ) {
        Err(StoreError::AlreadyInitialised(_)) => {}
        Err(e) => panic!("creating over a ledger was refused for another reason: {e}"),
        Ok(_) => panic!("a second genesis was written over a ledger"),
    }
    match Store::open_on(
        opened.engine.clone(),
        keys::generate(),
        keys.clock.clone(),
        StoreOptions::default(),
    ) {
        Err(StoreError::KeyMismatch { expected, .. }) => {
            assert_eq!(
                expected,
                KeyId::of(&keys.ledger.verifying_key()).to_string()
            )
        }
        Err(e) => panic!("a stranger's key was refused for another reason: {e}"),
        Ok(_) => panic!("the ledger opened with a stranger's key"),
    }
    assert_eq!(
        opened.engine.last_index().unwrap(),
        Some(1),
        "nothing was written"
    );
}
