//! Storage failures and changed bytes.
//!
//! A planned I/O error (`store::FaultPlan`, set only through the library API) strikes
//! the Nth group commit while banks submit subscriptions concurrently: at the batch
//! write, at sled's flush, or at the `fdatasync` after it. Every writer gets an
//! answer (no hang, no panic): UNAVAILABLE for the group in flight ("may or may not
//! be on the ledger") and for every later write ("not recorded"). Nothing
//! acknowledged is lost; reopened, the store verifies and holds exactly the
//! acknowledged writes, plus the failed group whole or not at all (never part of
//! it; not at all when the batch never reached sled). Clients then resolve what
//! they did not hear back about by resubmitting with the same idempotency key.
//!
//! Then: a store whose bytes were changed on disk (a state record, the checkpoint,
//! a Merkle node, a dropped last entry) is refused by open and by verification, and
//! a bit flipped anywhere in sled's data file never opens as another ledger.
//! (`ledger_server` covers a changed entry through `dbond verify` and `dbond serve`.)

use crate::common;

use chrono::{DateTime, TimeZone, Utc};
use common::programme::{Life, Terms};
use dbond::client::{Client, SeriesAction};
use dbond::clock::ManualClock;
use dbond::ledger::keys;
use dbond::proto as pb;
use dbond::store::{FaultPlan, FaultPoint, Genesis, Store, StoreError, StoreOptions};
use dbond_testkit::day;
use ed25519_dalek::SigningKey;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tonic::Code;

const SERIES: &str = "AZ-2035-USD";
const BANKS: usize = 4;
const ORDERS_PER_BANK: usize = 12;
/// Only a guard against a hang: a write that has not returned by then fails the test.
const WRITE_RETURNS_WITHIN: Duration = Duration::from_secs(120);

/// sled releases its file lock from background threads a moment after the last
/// handle is dropped, so an open right after a close in the same process can find
/// the lock still held (sled's own tests block on the lock for this reason). Retries
/// while that is the only problem, bounded by count; any other outcome is returned.
fn when_unlocked<T, E: std::fmt::Display>(mut open: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    for _ in 0..1000 {
        match open() {
            Err(e) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(Duration::from_millis(10))
            }
            other => return other,
        }
    }
    open()
}

fn verify(store: &Path) -> anyhow::Result<dbond::audit::Verified> {
    when_unlocked(|| dbond::audit::verify_store(store, |_, _| {}))
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 15, 12, 0, 0).unwrap()
}

/// Selling from an hour before `now` for a week.
fn terms(now: DateTime<Utc>) -> pb::SeriesTerms {
    Terms::new(
        SERIES,
        Life {
            opens: now - chrono::Duration::hours(1),
            closes: now + chrono::Duration::days(7),
            settlement_deadline: now + chrono::Duration::days(10),
            issue: day("2030-02-01"),
            maturity: day("2035-02-01"),
        },
    )
    .name("Diaspora bond 2035")
    .cap_units(100_000)
    .build()
}

/// Bank `bank`'s `n`th order: its idempotency key names it.
fn order(bank: usize, n: usize) -> pb::SubmitSubscription {
    pb::SubmitSubscription {
        series_id: SERIES.into(),
        investor_ref: format!("b{bank}-inv-{n:02}"),
        category: pb::DiasporaCategory::CitizenAbroad as i32,
        country: "DE".into(),
        units: (1 + (bank * 7 + n) % 40).to_string(),
        idempotency_key: format!("b{bank}-order-{n:02}"),
        registration: None,
    }
}

/// A ledger on disk with a treasury, banks and an open series; not served.
struct Node {
    _dir: tempfile::TempDir,
    store: PathBuf,
    ledger_key: SigningKey,
    admin_key: SigningKey,
    treasury_key: SigningKey,
    bank_keys: Vec<SigningKey>,
    clock: Arc<ManualClock>,
}

/// The node's ledger served in process on 127.0.0.1.
struct Serving {
    ledger: Store,
    addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Node {
    async fn new() -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("store");
        let clock = Arc::new(ManualClock::new(start_time()));
        let node = Node {
            store,
            ledger_key: keys::generate(),
            admin_key: keys::generate(),
            treasury_key: keys::generate(),
            bank_keys: (0..BANKS).map(|_| keys::generate()).collect(),
            clock,
            _dir: dir,
        };
        Store::create(
            &node.store,
            &node.ledger_key,
            Genesis {
                origin: "faults.test/dbond".into(),
                admin_participant_id: dbond::registry::ParticipantId::parse("id", "admin").unwrap(),
                admin_key: &node.admin_key,
            },
            node.clock.clone(),
        )
        .expect("create")
        .close()
        .expect("close");
        let serving = node.serve(StoreOptions::default()).await;
        let admin = node.client(&serving, node.admin_key.clone()).await;
        admin
            .register(
                "treasury",
                pb::Role::Treasury,
                &node.treasury_key.verifying_key(),
                "Treasury",
            )
            .await
            .unwrap();
        for (b, key) in node.bank_keys.iter().enumerate() {
            admin
                .register(
                    &format!("bank-{b}"),
                    pb::Role::Bank,
                    &key.verifying_key(),
                    "Bank",
                )
                .await
                .unwrap();
        }
        let treasury = admin.as_key(node.treasury_key.clone());
        treasury.create_series(terms(start_time())).await.unwrap();
        treasury
            .series_action(SeriesAction::Open, SERIES)
            .await
            .unwrap();
        drop((admin, treasury));
        serving.stop().await;
        node
    }

    async fn serve(&self, options: StoreOptions) -> Serving {
        let ledger = when_unlocked(|| {
            Store::open_with(
                &self.store,
                self.ledger_key.clone(),
                self.clock.clone(),
                options.clone(),
            )
        })
        .expect("open");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let clock: Arc<dyn dbond::clock::Clock> = self.clock.clone();
        let task = tokio::spawn(dbond::service::serve(
            ledger.clone(),
            clock,
            listener,
            Default::default(),
            async {
                let _ = stopped.await;
            },
        ));
        Serving {
            ledger,
            addr,
            stop,
            task,
        }
    }

    async fn client(&self, serving: &Serving, key: SigningKey) -> Client {
        Client::connect(&serving.addr, key)
            .await
            .expect("connect")
            .with_clock(self.clock.clone())
    }

    fn open(&self) -> Result<Store, StoreError> {
        self.open_at(&self.store)
    }

    fn open_at(&self, store: &Path) -> Result<Store, StoreError> {
        when_unlocked(|| Store::open(store, self.ledger_key.clone(), self.clock.clone()))
    }
}

impl Serving {
    /// Stops serving and closes the store (clients must be dropped first).
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task").expect("server");
        self.ledger.close().expect("close the store");
    }
}

/// What a bank heard back about one order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Heard {
    /// Acknowledged: durable, with this subscription id.
    Acked(u64),
    /// The group commit carrying it failed: on the ledger whole or not at all.
    Unknown,
    /// Refused after the writer stopped: not on the ledger.
    NotRecorded,
}

fn heard(result: Result<pb::SubscriptionResponse, tonic::Status>) -> Heard {
    match result {
        Ok(r) => {
            assert!(!r.idempotent_replay, "a first submission is not a replay");
            Heard::Acked(r.receipt.expect("receipt").index)
        }
        Err(status) => {
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
            let m = status.message();
            assert!(
                m.contains("storage failure") && m.contains("injected"),
                "the error says why: {m}"
            );
            if m.contains("may or may not be on the ledger") {
                Heard::Unknown
            } else if m.contains("was not recorded") {
                Heard::NotRecorded
            } else {
                panic!("the error does not say whether the write was recorded: {m}");
            }
        }
    }
}

/// Every bank submits its orders one after the other, all banks at once.
async fn submit_all(node: &Node, serving: &Serving) -> BTreeMap<String, Heard> {
    let mut tasks = Vec::new();
    for (b, key) in node.bank_keys.iter().enumerate() {
        let bank = node.client(serving, key.clone()).await;
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for n in 0..ORDERS_PER_BANK {
                let o = order(b, n);
                let result = tokio::time::timeout(WRITE_RETURNS_WITHIN, bank.submit(o.clone()))
                    .await
                    .expect("a write never returned");
                out.push((o.idempotency_key, heard(result)));
            }
            out
        }));
    }
    let mut all = BTreeMap::new();
    for t in tasks {
        let outcomes = t.await.expect("bank task");
        // Fail-stop: once a bank's write fails, every later one fails too.
        let first_failure = outcomes
            .iter()
            .position(|(_, h)| !matches!(h, Heard::Acked(_)));
        if let Some(i) = first_failure {
            assert!(
                outcomes[i..]
                    .iter()
                    .all(|(_, h)| !matches!(h, Heard::Acked(_))),
                "a write was acknowledged after the writer stopped: {outcomes:?}"
            );
        }
        all.extend(outcomes);
    }
    all
}

/// Subscriptions in a store's state, by idempotency key: (id, investor, units).
fn subscriptions(ledger: &Store) -> BTreeMap<String, (u64, String, u64)> {
    ledger.read(|p| {
        p.state
            .subscriptions_after(0)
            .map(|s| {
                (
                    s.idempotency_key.to_string(),
                    (s.subscription_id, s.investor_ref.to_string(), s.units),
                )
            })
            .collect()
    })
}

fn expected(key: &str) -> (String, u64) {
    let (bank, n) = key
        .strip_prefix('b')
        .and_then(|k| k.split_once("-order-"))
        .map(|(b, n)| (b.parse().unwrap(), n.parse().unwrap()))
        .unwrap();
    let o = order(bank, n);
    (o.investor_ref, o.units.parse().unwrap())
}

async fn check(point: FaultPoint, commit: u64) {
    check_in_batches_of(point, commit, None).await
}

/// [`check`] with the writer writing at most `batch_records` records per sled batch.
async fn check_in_batches_of(point: FaultPoint, commit: u64, batch_records: Option<usize>) {
    let node = Node::new().await;
    let entries_before = {
        let ledger = node.open().expect("open");
        let size = ledger.size();
        ledger.close().unwrap();
        size
    };
    let serving = node
        .serve(StoreOptions {
            faults: Some(FaultPlan { commit, point }),
            batch_records,
            ..Default::default()
        })
        .await;
    let outcomes = submit_all(&node, &serving).await;
    let keys_with = |want: fn(&Heard) -> bool| -> BTreeSet<String> {
        outcomes
            .iter()
            .filter(|(_, h)| want(h))
            .map(|(k, _)| k.clone())
            .collect()
    };
    let acked: BTreeMap<String, u64> = outcomes
        .iter()
        .filter_map(|(k, h)| match h {
            Heard::Acked(id) => Some((k.clone(), *id)),
            _ => None,
        })
        .collect();
    let unknown = keys_with(|h| *h == Heard::Unknown);
    let not_recorded = keys_with(|h| *h == Heard::NotRecorded);
    println!(
        "{point:?} at group commit {commit}: {} acknowledged, {} unknown, {} not recorded",
        acked.len(),
        unknown.len(),
        not_recorded.len()
    );
    assert!(!acked.is_empty(), "commits before the fault succeed");
    assert!(!unknown.is_empty(), "the fault struck a group in flight");
    assert!(
        !not_recorded.is_empty(),
        "writes after the fault are refused"
    );
    let failure = serving.ledger.failure().expect("the writer stopped");
    assert!(failure.contains(&format!("{point:?}")), "{failure}");
    // Health says so: the server and its write services NOT_SERVING, reads SERVING.
    let _ = serving.ledger.writer_stopped().await;
    let channel = tonic::transport::Endpoint::from_shared(serving.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    // The server's health task runs beside this one: watch until it has seen the stop.
    let mut watch = health
        .watch(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    loop {
        let update = watch.message().await.unwrap().expect("health updates");
        if update.status == not_serving {
            break;
        }
    }
    for (service, serving_now) in [
        ("diaspora.bonds.v1.BankService", false),
        ("diaspora.bonds.v1.TreasuryService", false),
        ("diaspora.bonds.v1.LedgerService", true),
        ("diaspora.bonds.v1.RegistryService", true),
    ] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        let want = if serving_now {
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        } else {
            not_serving
        };
        assert_eq!(status, want, "{service}");
    }
    drop(watch);
    drop(health);

    // Readers still see exactly the acknowledged writes, and only durable ones.
    let treasury = node.client(&serving, node.treasury_key.clone()).await;
    let listed: BTreeMap<String, u64> = treasury
        .all_subscriptions(SERIES)
        .await
        .expect("reads still work")
        .into_iter()
        .map(|s| (s.idempotency_key, s.subscription_id))
        .collect();
    assert_eq!(listed, acked, "readers see exactly the acknowledged writes");
    // Any other write is refused too, and says so.
    let admin = treasury.as_key(node.admin_key.clone());
    let refused = admin
        .register(
            "bank-late",
            pb::Role::Bank,
            &keys::generate().verifying_key(),
            "Bank",
        )
        .await
        .expect_err("the writer has stopped");
    assert_eq!(refused.code(), Code::Unavailable);
    assert!(
        refused.message().contains("was not recorded"),
        "{refused:?}"
    );
    drop((treasury, admin));
    serving.stop().await;

    if point == FaultPoint::LaterBatch {
        // The first batch of the failed group reached the disk: its marker and
        // entries beyond the signed checkpoint are there, and verification refuses
        // the store as it stands.
        let mut on_disk = (false, 0u64, 0u64);
        tamper(&node.store, |t| {
            let note = t.get(b"c").unwrap().unwrap();
            let note = std::str::from_utf8(&note).unwrap();
            let (cp, _) = dbond::ledger::checkpoint::parse_unverified(note).unwrap();
            on_disk = (
                t.contains_key(b"p").unwrap(),
                cp.size,
                t.scan_prefix(b"e").count() as u64,
            );
        });
        let (marker, signed, stored) = on_disk;
        assert!(marker, "the pending marker is on disk");
        assert!(
            stored > signed,
            "entries of the unfinished group are on disk ({stored} stored, {signed} signed)"
        );
        let refused = verify(&node.store).expect_err("an unfinished group is not verified as is");
        assert!(
            refused.to_string().contains("unfinished group commit"),
            "{refused}"
        );
        // Opening rolls it back (twice: the second open finds nothing to do).
        node.open()
            .expect("the open rolls it back")
            .close()
            .unwrap();
        tamper(&node.store, |t| {
            assert!(!t.contains_key(b"p").unwrap(), "the marker is gone");
            assert_eq!(t.scan_prefix(b"e").count() as u64, signed);
        });
    }
    // Reopened: the store verifies in full and holds what it should.
    let verified =
        verify(&node.store).unwrap_or_else(|e| panic!("{point:?}: the store does not verify: {e}"));
    let ledger = node.open().expect("the store opens");
    assert_eq!(verified.size, ledger.size());
    let present = subscriptions(&ledger);
    for (key, id) in &acked {
        let (found, investor, units) = present
            .get(key)
            .unwrap_or_else(|| panic!("{point:?}: acknowledged {key} was lost"));
        assert_eq!(found, id, "{key} keeps its id");
        assert_eq!((investor.clone(), *units), expected(key), "{key}");
    }
    for key in &not_recorded {
        assert!(
            !present.contains_key(key),
            "{point:?}: {key} was refused as not recorded, yet it is there"
        );
    }
    let unknown_present: BTreeSet<&String> = unknown
        .iter()
        .filter(|k| present.contains_key(*k))
        .collect();
    assert!(
        unknown_present.is_empty() || unknown_present.len() == unknown.len(),
        "{point:?}: part of a failed group commit is visible: {unknown_present:?} of {unknown:?}"
    );
    if point == FaultPoint::BatchWrite || point == FaultPoint::LaterBatch {
        assert!(
            unknown_present.is_empty(),
            "a group whose last batch never reached sled left entries"
        );
    }
    assert_eq!(present.len(), acked.len() + unknown_present.len());
    // One entry per subscription after the setup's.
    assert_eq!(ledger.size(), entries_before + present.len() as u64);
    println!(
        "{point:?}: after reopening, the failed group is {}",
        if unknown_present.is_empty() {
            "absent"
        } else {
            "present in full"
        }
    );
    ledger.close().unwrap();

    // Clients resubmit, with the same idempotency key, what they did not hear back
    // about: what is there is answered as a replay with its id, the rest is new.
    let serving = node.serve(StoreOptions::default()).await;
    let mut final_ids = acked.clone();
    for key in unknown.iter().chain(&not_recorded) {
        let (b, n) = key
            .strip_prefix('b')
            .and_then(|k| k.split_once("-order-"))
            .map(|(b, n)| (b.parse::<usize>().unwrap(), n.parse::<usize>().unwrap()))
            .unwrap();
        let bank = node.client(&serving, node.bank_keys[b].clone()).await;
        let r = bank.submit(order(b, n)).await.expect("resubmitted");
        let id = r.receipt.unwrap().index;
        match present.get(key) {
            Some((was, _, _)) => {
                assert!(r.idempotent_replay, "{key} is answered as a replay");
                assert_eq!(id, *was);
            }
            None => assert!(!r.idempotent_replay, "{key} is new"),
        }
        final_ids.insert(key.clone(), id);
    }
    serving.stop().await;
    verify(&node.store).expect("verifies after recovery");
    let ledger = node.open().unwrap();
    let present = subscriptions(&ledger);
    assert_eq!(present.len(), BANKS * ORDERS_PER_BANK, "each order once");
    for (key, (id, _, _)) in &present {
        assert_eq!(final_ids.get(key), Some(id), "{key}");
    }
    ledger.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_write_stops_writes_cleanly_and_loses_nothing() {
    check(FaultPoint::BatchWrite, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_cut_off_between_its_batches_is_rolled_back_whole() {
    // Two records per sled batch: every group is written in several batches, as
    // an allotment for many holders is; the third group's first batch (with the
    // pending marker) reaches the disk, the rest never does.
    check_in_batches_of(FaultPoint::LaterBatch, 3, Some(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_written_in_many_batches_verify_and_reopen() {
    // Nothing fails: with two records per batch every group goes in several, and
    // the store verifies and reopens with nothing left pending.
    let node = Node::new().await;
    let serving = node
        .serve(StoreOptions {
            batch_records: Some(2),
            ..Default::default()
        })
        .await;
    let outcomes = submit_all(&node, &serving).await;
    assert!(outcomes.values().all(|h| matches!(h, Heard::Acked(_))));
    serving.stop().await;
    tamper(&node.store, |t| {
        assert!(
            !t.contains_key(b"p").unwrap(),
            "no marker after the last batch"
        );
    });
    let verified = verify(&node.store).expect("verifies");
    let ledger = node.open().expect("opens");
    assert_eq!(verified.size, ledger.size());
    assert_eq!(subscriptions(&ledger).len(), BANKS * ORDERS_PER_BANK);
    ledger.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_stops_writes_cleanly_and_loses_nothing() {
    check(FaultPoint::Flush, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fdatasync_stops_writes_cleanly_and_loses_nothing() {
    check(FaultPoint::Sync, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_writer_stops_writes_loudly_and_loses_nothing() {
    // A bug, not the disk: the writer panics on its third group commit. It must
    // stop like a failed flush (every later write refused, saying why; health
    // NOT_SERVING), never leave callers waiting on a writer that is gone.
    let node = Node::new().await;
    let serving = node
        .serve(StoreOptions {
            faults: Some(FaultPlan {
                commit: 3,
                point: FaultPoint::Panic,
            }),
            ..Default::default()
        })
        .await;
    let bank = node.client(&serving, node.bank_keys[0].clone()).await;
    let mut acked = Vec::new();
    let mut refusals = Vec::new();
    for n in 0..5 {
        // Bounded only so that a writer that died without saying so fails this test
        // instead of hanging it; a healthy run answers in milliseconds.
        let answer = tokio::time::timeout(WRITE_RETURNS_WITHIN, bank.submit(order(0, n)))
            .await
            .expect("every write is answered, even after the writer panicked");
        match answer {
            Ok(r) => acked.push(r.receipt.unwrap().index),
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                refusals.push(status.message().to_string());
            }
        }
    }
    assert_eq!(acked.len(), 2, "the two commits before the panic succeed");
    assert_eq!(refusals.len(), 3);
    assert!(
        refusals[0].contains("panicked") && refusals[0].contains("may or may not be on the ledger"),
        "the write in the panicking group hears why: {}",
        refusals[0]
    );
    for later in &refusals[1..] {
        assert!(
            later.contains("panicked") && later.contains("was not recorded"),
            "{later}"
        );
    }
    let reason = serving.ledger.writer_stopped().await;
    assert!(
        reason.contains("injected panic at group commit 3"),
        "{reason}"
    );
    drop(bank);
    serving.stop().await;
    // The panic struck before the batch was written: exactly the acknowledged
    // writes are on the reopened ledger, and it verifies.
    verify(&node.store).expect("verifies after the panic");
    let ledger = node.open().unwrap();
    let present = subscriptions(&ledger);
    assert_eq!(present.len(), 2, "{present:?}");
    ledger.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_plan_for_a_later_commit_changes_nothing() {
    // The harness itself can tell a healthy store from a failed one.
    let node = Node::new().await;
    let serving = node
        .serve(StoreOptions {
            faults: Some(FaultPlan {
                commit: 1_000_000,
                point: FaultPoint::Flush,
            }),
            ..Default::default()
        })
        .await;
    let outcomes = submit_all(&node, &serving).await;
    assert!(outcomes.values().all(|h| matches!(h, Heard::Acked(_))));
    assert_eq!(serving.ledger.failure(), None);
    serving.stop().await;
    let ledger = node.open().unwrap();
    assert_eq!(subscriptions(&ledger).len(), BANKS * ORDERS_PER_BANK);
    ledger.close().unwrap();
}

/// Copies a stopped store's folder.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).unwrap();
        }
    }
}

/// Changes the store's one sled tree directly, as an attacker with the disk would.
fn tamper(store: &Path, change: impl FnOnce(&sled::Tree)) {
    let db = when_unlocked(|| sled::open(store)).unwrap();
    let tree = db.open_tree("ledger-v1").unwrap();
    change(&tree);
    db.flush().unwrap();
}

fn flip_last_byte(tree: &sled::Tree, key: &[u8]) {
    let mut value = tree.get(key).unwrap().expect("key present").to_vec();
    *value.last_mut().unwrap() ^= 1;
    tree.insert(key, value).unwrap();
}

/// The key of a Merkle node in the store layout before nodes moved to memory.
fn node_key(level: u8, index: u64) -> Vec<u8> {
    let mut k = vec![b'n', level];
    k.extend_from_slice(&index.to_be_bytes());
    k
}

fn first_key_with_prefix(tree: &sled::Tree, prefix: &[u8]) -> Vec<u8> {
    tree.scan_prefix(prefix).next().unwrap().unwrap().0.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_changed_on_disk_are_refused_by_open_and_by_verify() {
    let node = Node::new().await;
    let size = {
        let ledger = node.open().unwrap();
        let size = ledger.size();
        ledger.close().unwrap();
        size
    };
    let last_entry = {
        let mut k = vec![b'e'];
        k.extend_from_slice(&(size - 1).to_be_bytes());
        k
    };
    type Change = Box<dyn FnOnce(&sled::Tree)>;
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "a state record",
            Box::new(|t| {
                let key = first_key_with_prefix(t, b"s");
                let mut value = t.get(&key).unwrap().unwrap().to_vec();
                // A JSON record: change a digit or letter, keep it JSON.
                let i = value.iter().position(|b| b.is_ascii_digit()).unwrap();
                value[i] = if value[i] == b'9' { b'8' } else { value[i] + 1 };
                t.insert(key, value).unwrap();
            }),
            "registry state",
        ),
        (
            "a state record removed",
            Box::new(|t| {
                let key = first_key_with_prefix(t, b"s");
                t.remove(key).unwrap();
            }),
            "registry state",
        ),
        (
            "the checkpoint's root hash",
            Box::new(|t| {
                let note = String::from_utf8(t.get(b"c").unwrap().unwrap().to_vec()).unwrap();
                let mut lines: Vec<String> = note.split('\n').map(str::to_string).collect();
                let first = if lines[2].starts_with('A') { "B" } else { "A" };
                lines[2].replace_range(0..1, first);
                t.insert(b"c", lines.join("\n").into_bytes()).unwrap();
            }),
            "checkpoint",
        ),
        (
            "a Merkle node record, as older stores kept them",
            Box::new(|t| {
                t.insert(node_key(0, 0), vec![0u8; 32]).unwrap();
            }),
            "no known kind",
        ),
        (
            "a record outside the layout",
            Box::new(|t| {
                t.insert(b"x-extra", b"1".as_slice()).unwrap();
            }),
            "no known kind",
        ),
        (
            "a byte of entry 1",
            Box::new(|t| {
                let mut k = vec![b'e'];
                k.extend_from_slice(&1u64.to_be_bytes());
                flip_last_byte(t, &k);
            }),
            "previous-hash link is broken",
        ),
        (
            "the last entry dropped",
            Box::new(move |t| {
                t.remove(&last_entry).unwrap();
            }),
            "checkpoint",
        ),
    ];
    for (what, change, says) in cases {
        let copy = tempfile::tempdir().unwrap();
        let store = copy.path().join("store");
        copy_dir(&node.store, &store);
        // The untouched copy opens: the tampering below is what is refused.
        node.open_at(&store)
            .expect("the copy opens")
            .close()
            .unwrap();
        tamper(&store, change);
        match node.open_at(&store) {
            Err(StoreError::Corrupt { reason, .. }) => {
                assert!(reason.contains(says), "{what}: open says {reason}")
            }
            Err(e) => panic!("{what}: open fails, but not as corrupt: {e}"),
            Ok(_) => panic!("{what}: a tampered store opened"),
        }
        let err = verify(&store).map(|v| v.size).expect_err(what);
        println!("{what}: open and verify refuse it ({err})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_in_the_data_file_never_opens_as_a_different_ledger() {
    // Below the tree: bits flipped in sled's own data file, at offsets spread over
    // the part of the file that holds data. sled's checksums refuse most; a bit in
    // unused space changes nothing. What must never happen is an open that
    // succeeds with a ledger other than the one written.
    let node = Node::new().await;
    let serving = node.serve(StoreOptions::default()).await;
    let outcomes = submit_all(&node, &serving).await;
    assert!(outcomes.values().all(|h| matches!(h, Heard::Acked(_))));
    serving.stop().await;
    let (size, root) = {
        let ledger = node.open().unwrap();
        let size = ledger.size();
        let root = ledger.root_at(size).unwrap();
        ledger.close().unwrap();
        (size, root)
    };
    let data = std::fs::read(node.store.join("db")).unwrap();
    let used = data.iter().rposition(|b| *b != 0).unwrap() + 1;
    const FLIPS: usize = 64;
    let (mut refused, mut unchanged) = (0, 0);
    for k in 0..FLIPS {
        let at = k * used / FLIPS + (k * 37) % 29;
        let copy = tempfile::tempdir().unwrap();
        let store = copy.path().join("store");
        copy_dir(&node.store, &store);
        let mut bytes = data.clone();
        bytes[at] ^= 1 << (k % 8);
        std::fs::write(store.join("db"), bytes).unwrap();
        match node.open_at(&store) {
            Err(_) => {
                refused += 1;
                assert!(
                    verify(&store).is_err(),
                    "byte {at}: open refuses the store but verify accepts it"
                );
            }
            Ok(ledger) => {
                assert_eq!(ledger.size(), size, "byte {at}: opened with another size");
                assert_eq!(ledger.root_at(size).unwrap(), root, "byte {at}");
                ledger.close().unwrap();
                let verified = verify(&store)
                    .unwrap_or_else(|e| panic!("byte {at}: opens but does not verify: {e}"));
                assert_eq!(verified.root, root);
                unchanged += 1;
            }
        }
    }
    println!("{used} bytes in use: {refused} flips refused, {unchanged} in unused space");
    assert!(
        refused > 0,
        "no flip reached the data: the test proves nothing"
    );
}
