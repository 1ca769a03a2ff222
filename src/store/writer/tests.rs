//! The writer over an engine that takes the writer role away, as an engine shared
//! by several servers does when another server takes over.

use crate::store::conformance::{Place, open, registration, two_entries};
use crate::store::engine::{Entries, EntryVisitor, StateVisitor};
use crate::store::sled_engine::tests::SledPlace;
use crate::store::{
    Engine, EngineError, FaultPlan, Group, StateWrite, Store, StoreError, StoreOptions, WriteError,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The `Engine` methods a test engine passes to the engine it wraps (`inner`)
/// unchanged: all but `write_group`.
macro_rules! delegate_to_inner {
    () => {
        fn location(&self) -> String {
            self.inner.location()
        }
        fn is_empty(&self) -> Result<bool, StoreError> {
            self.inner.is_empty()
        }
        fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.entry(index)
        }
        fn entries(&self, start: u64, end: Option<u64>) -> Entries {
            self.inner.entries(start, end)
        }
        fn scan_entries(
            &self,
            start: u64,
            end: Option<u64>,
            visit: &mut EntryVisitor<'_>,
        ) -> Result<(), StoreError> {
            self.inner.scan_entries(start, end, visit)
        }
        fn last_index(&self) -> Result<Option<u64>, StoreError> {
            self.inner.last_index()
        }
        fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.checkpoint()
        }
        fn scan_state(&self, visit: &mut StateVisitor<'_>) -> Result<(), StoreError> {
            self.inner.scan_state(visit)
        }
        fn check_layout(&self, at: u64) -> Result<(), StoreError> {
            self.inner.check_layout(at)
        }
        fn unfinished_group(&self) -> Result<Option<u64>, StoreError> {
            self.inner.unfinished_group()
        }
        fn remove_entries_from(&self, size: u64) -> Result<u64, StoreError> {
            self.inner.remove_entries_from(size)
        }
        fn finish_roll_back(&self, records: Vec<StateWrite>) -> Result<(), StoreError> {
            self.inner.finish_roll_back(records)
        }
        fn flush(&self) -> Result<(), StoreError> {
            self.inner.flush()
        }
    };
}

/// An engine whose writer role is taken away after `groups` group writes.
struct LosesRole {
    inner: Arc<dyn Engine>,
    groups: u64,
    written: AtomicU64,
}

impl Engine for LosesRole {
    fn write_group(&self, group: &Group, fault: Option<FaultPlan>) -> Result<(), EngineError> {
        if self.written.fetch_add(1, Ordering::SeqCst) >= self.groups {
            return Err(EngineError::LostWriterRole(
                "writer epoch 7 was superseded by epoch 8".into(),
            ));
        }
        self.inner.write_group(group, fault)
    }
    delegate_to_inner!();
}

#[tokio::test]
async fn a_writer_that_lost_its_role_stops_and_records_nothing_more() {
    let place = SledPlace::new();
    let keys = two_entries(&place).await;
    let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
    let engine = Arc::new(LosesRole {
        inner: opened.engine.clone(),
        groups: 1,
        written: AtomicU64::new(0),
    });
    let ledger = Store::open_on(
        engine,
        keys.ledger.clone(),
        keys.clock.clone(),
        StoreOptions::default(),
    )
    .unwrap();
    ledger.write(registration(&keys, "bank-b")).await.unwrap();
    for (id, says) in [("bank-c", "writer role"), ("bank-d", "not recorded")] {
        match ledger.write(registration(&keys, id)).await {
            Err(WriteError::Unavailable(m)) => {
                assert!(m.contains(says) && m.contains("not recorded"), "{id}: {m}")
            }
            other => panic!("{id}: a write after the role was lost gave {other:?}"),
        }
    }
    assert!(ledger.writer_stopped().await.contains("epoch 7"));
    assert_eq!(ledger.size(), 3);
    ledger.close().unwrap();
    drop(opened);

    let ledger = open(&place, &keys, StoreOptions::default()).unwrap();
    assert_eq!(ledger.size(), 3, "nothing of the refused group is stored");
    ledger.close().unwrap();
}

/// Options whose writer waits for an arriving request far longer than any test
/// runs: a group that did not wait, or that waited on no arrival, shows.
fn patient() -> StoreOptions {
    StoreOptions {
        group_arrival_wait: Some(std::time::Duration::from_secs(600)),
        ..Default::default()
    }
}

/// How long a test gives a write that should not wait at all.
const PROMPT: std::time::Duration = std::time::Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_waits_for_a_request_being_checked_and_carries_it() {
    let place = SledPlace::new();
    let keys = two_entries(&place).await;
    let ledger = open(&place, &keys, patient()).unwrap();
    // A second request's checks begin; meanwhile a first one reaches the queue.
    let arrival = ledger.arrival();
    let first = tokio::spawn({
        let (ledger, request) = (ledger.clone(), registration(&keys, "bank-b"));
        async move { ledger.write(request).await }
    });
    // Give the writer time to take the first one (it must not commit it alone).
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let second = ledger
        .write_arrived(registration(&keys, "bank-c"), arrival)
        .await
        .unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!(
        (first.first_index, second.first_index),
        (2, 3),
        "both recorded, in the order queued"
    );
    assert_eq!(
        (first.tree_size, second.tree_size),
        (4, 4),
        "one group commit carried both"
    );
    ledger.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arrival_that_ends_unqueued_releases_the_group() {
    let place = SledPlace::new();
    let keys = two_entries(&place).await;
    let ledger = open(&place, &keys, patient()).unwrap();
    // A request whose checks fail: it never reaches the queue.
    let refused = ledger.arrival();
    let first = tokio::spawn({
        let (ledger, request) = (ledger.clone(), registration(&keys, "bank-b"));
        async move { ledger.write(request).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(refused);
    let first = tokio::time::timeout(PROMPT, first)
        .await
        .expect("the group commits once no request is arriving")
        .unwrap()
        .unwrap();
    assert_eq!((first.first_index, first.tree_size), (2, 3));
    // A lone request, with nothing arriving, never waits.
    let lone = tokio::time::timeout(PROMPT, ledger.write(registration(&keys, "bank-c")))
        .await
        .expect("a lone request commits at once")
        .unwrap();
    assert_eq!((lone.first_index, lone.tree_size), (3, 4));
    ledger.close().unwrap();
}

/// An engine that tells the test each group it is given, then holds the write
/// until the test lets it go.
struct Gated {
    inner: Arc<dyn Engine>,
    /// (size before the group, entries in it), sent as the write begins.
    entered: tokio::sync::mpsc::UnboundedSender<(u64, usize)>,
    release: std::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<()>>,
}

impl Engine for Gated {
    fn write_group(&self, group: &Group, fault: Option<FaultPlan>) -> Result<(), EngineError> {
        let _ = self.entered.send((group.size_before, group.entries.len()));
        let released = self
            .release
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .blocking_recv();
        if released.is_none() {
            return Err(EngineError::Storage("the test went away".into()));
        }
        self.inner.write_group(group, fault)
    }
    delegate_to_inner!();
}

/// The published size, and which of the banks `ids` the published state knows.
fn visible(ledger: &Store, ids: &[&str]) -> (u64, Vec<bool>) {
    ledger.read(|p| {
        let known = ids
            .iter()
            .map(|id| {
                let id = crate::registry::ParticipantId::parse("id", id).unwrap();
                p.state.participant(&id).is_some()
            })
            .collect();
        (p.state.size(), known)
    })
}

/// Polls (generously) until the published size passes `size`.
async fn published_beyond(ledger: &Store, size: u64) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = ledger.size();
        if now > size {
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the group was never published"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn readers_see_a_group_only_once_it_is_durable_and_then_all_of_it() {
    let place = SledPlace::new();
    let keys = two_entries(&place).await;
    let opened = place.open(crate::limits::STORE_BATCH_RECORDS_DEFAULT);
    let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel();
    let (release, release_rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Arc::new(Gated {
        inner: opened.engine.clone(),
        entered: entered_tx,
        release: std::sync::Mutex::new(release_rx),
    });
    let ledger = Arc::new(
        Store::open_on(
            engine,
            keys.ledger.clone(),
            keys.clock.clone(),
            StoreOptions::default(),
        )
        .unwrap(),
    );

    // One registration, held inside the engine's write: not durable, not seen.
    let first = tokio::spawn({
        let (ledger, request) = (ledger.clone(), registration(&keys, "bank-b"));
        async move { ledger.write(request).await }
    });
    assert_eq!(entered.recv().await, Some((2, 1)));
    assert_eq!(visible(&ledger, &["bank-b"]), (2, vec![false]));
    // Three more queued together while it is written; the writer's working
    // state runs ahead of the readers' from here on.
    let ids = ["bank-c", "bank-d", "bank-e"];
    let rest = tokio::spawn({
        let ledger = ledger.clone();
        let requests = ids.iter().map(|id| registration(&keys, id)).collect();
        async move { ledger.write_many(requests).await }
    });
    release.send(()).unwrap();
    first.await.unwrap().unwrap();
    assert_eq!(visible(&ledger, &["bank-b"]), (3, vec![true]));

    // Each group they take: none of it is seen while it is written, all of it
    // (and the groups before it) once it is durable.
    let mut size = 3;
    while size < 6 {
        let (before, entries) = entered.recv().await.expect("a group is written");
        assert_eq!(before, size, "groups follow each other");
        // The banks are registered in order, after the first three entries.
        let seen = |size: u64| (size, (0..3u64).map(|i| i + 3 < size).collect::<Vec<_>>());
        assert_eq!(
            visible(&ledger, &ids),
            seen(size),
            "while group {before}.. is written"
        );
        release.send(()).unwrap();
        size = published_beyond(&ledger, size).await;
        assert_eq!(size, before + entries as u64, "the whole group at once");
        assert_eq!(visible(&ledger, &ids), seen(size), "after group {before}..");
    }
    for outcome in rest.await.unwrap() {
        outcome.unwrap();
    }
    drop(release);
    let ledger = Arc::try_unwrap(ledger).unwrap_or_else(|_| panic!("one handle left"));
    ledger.close().unwrap();
    drop(opened);
}
