//! Failover for real, on loopback: three PostgreSQL 15 clusters (a primary and
//! two standbys made with `pg_basebackup -R`; a commit waits for one standby,
//! `synchronous_standby_names = 'ANY 1 (s1, s2)'`), two `dbond serve` processes on
//! one URL naming all three hosts (`target_session_attrs=read-write`), and banks
//! subscribing from several tasks. Then the primary database is killed as a
//! machine dies (every process stopped, then SIGKILL) and the writing server is
//! frozen (SIGSTOP); the standby that received the most is promoted with
//! `pg_ctl promote` and the other is pointed at it. The banks retry each order
//! with its idempotency key on the other server until it is acknowledged.
//!
//! Then: every subscription acknowledged before and after the failure is on the
//! ledger with the id it was acknowledged with; the consistency proof from the
//! last checkpoint seen before the failure to the first seen after it verifies
//! (no fork), and so does the one to the end; the frozen writer, resumed, appends
//! nothing (its write is refused, naming the new writer, and it follows); and
//! `dbond verify --store` accepts the whole ledger. The time from the kill to the
//! first acknowledged write is printed, not asserted. Nothing waits on time:
//! every wait is on a condition, with a generous deadline.

use crate::common;

use common::programme::{Life, Terms};
use common::{Server, new_key, until};
use dbond::client::{Client, SeriesAction};
use dbond::ledger::{checkpoint, keys, merkle};
use dbond::proto as pb;
use dbond_testkit::pg::Cluster;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SERIES: &str = "FO-2031-USD";
const BANKS: usize = 3;
const TASKS_PER_BANK: usize = 2;
/// Acknowledged subscriptions before the failure, and after it.
const BEFORE: usize = 120;
const AFTER: usize = 80;
/// The writer lease's term, in seconds.
const LEASE_SECS: &str = "2";

fn terms() -> pb::SeriesTerms {
    Terms::new(SERIES, Life::selling_now(chrono::Duration::hours(12), 60))
        .cap_units(1_000_000)
        .categories(&[pb::DiasporaCategory::FormerCitizen])
        .build()
}

fn order(key: &str, investor: &str) -> pb::SubmitSubscription {
    pb::SubmitSubscription {
        series_id: SERIES.into(),
        investor_ref: investor.into(),
        category: pb::DiasporaCategory::FormerCitizen as i32,
        country: "DE".into(),
        units: "1".into(),
        idempotency_key: key.into(),
        registration: None,
    }
}

/// What the banks were told, shared by their tasks.
#[derive(Default)]
struct Told {
    /// Idempotency key → the subscription id acknowledged.
    acked: BTreeMap<String, u64>,
    /// When the first acknowledgement after the failure came.
    first_after: Option<Instant>,
}

/// One bank's orders from one task: each is sent to the server that answered
/// last, and on any failure (an error, or no answer within a second: a frozen
/// server answers nothing) sent again with the same idempotency key to the
/// other, until it is acknowledged or the test is over.
async fn bank_task(
    name: String,
    servers: [Client; 2],
    told: Arc<Mutex<Told>>,
    failed_at: Arc<Mutex<Option<Instant>>>,
    over: Arc<AtomicBool>,
) {
    let mut at = 0;
    for n in 0.. {
        if over.load(Ordering::SeqCst) {
            return;
        }
        let key = format!("{name}-{n}");
        loop {
            let sent = servers[at].submit(order(&key, &format!("inv-{key}")));
            match tokio::time::timeout(Duration::from_secs(1), sent).await {
                Ok(Ok(r)) => {
                    let id = r.receipt.expect("a receipt").index;
                    let mut t = told.lock().unwrap();
                    t.acked.insert(key, id);
                    if t.first_after.is_none() && failed_at.lock().unwrap().is_some() {
                        t.first_after = Some(Instant::now());
                    }
                    break;
                }
                Ok(Err(status)) => assert!(
                    matches!(
                        status.code(),
                        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                    ),
                    "{key} refused: {status:?}"
                ),
                Err(_) => {}
            }
            if over.load(Ordering::SeqCst) {
                return;
            }
            at = 1 - at;
            // A pause between tries, so that retries do not spin while no
            // server can write; nothing waits on it.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The (size, root) a signed checkpoint note names, checked with the ledger key.
fn opened(note: &str, origin: &str, key: &ed25519_dalek::VerifyingKey) -> (u64, merkle::Hash) {
    let cp = checkpoint::open(note, origin, key).expect("a checkpoint signed by the ledger key");
    (cp.size, cp.root)
}

fn consistent(
    client_proof: &pb::GetConsistencyProofResponse,
    old: (u64, merkle::Hash),
    new: (u64, merkle::Hash),
) {
    let proof: Vec<merkle::Hash> = client_proof
        .proof
        .iter()
        .map(|h| h.as_slice().try_into().expect("32-byte hashes"))
        .collect();
    merkle::verify_consistency(old.0, new.0, &old.1, &new.1, &proof).unwrap_or_else(|e| {
        panic!(
            "the checkpoint of size {} is not a prefix of the one of size {}: {e}",
            old.0, new.0
        )
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_loses_no_acknowledged_write_and_forks_nothing() {
    // The database: a primary and two standbys; a commit returns once one
    // standby has it too.
    let primary = Cluster::start("primary", &["fsync=off"]);
    primary.psql("postgres", "CREATE DATABASE dbond");
    primary.psql(
        "postgres",
        "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (s1, s2)'",
    );
    let standbys = [
        primary.standby("s1", &["fsync=off"]),
        primary.standby("s2", &["fsync=off"]),
    ];
    primary.psql("postgres", "SELECT pg_reload_conf()");
    until("both standbys to stream synchronously", || async {
        let quorum = primary.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'quorum'",
        );
        (quorum == "2").then_some(())
    })
    .await;
    let url = format!(
        "postgres://postgres@{},{},{}/dbond?target_session_attrs=read-write",
        primary.host(),
        standbys[0].host(),
        standbys[1].host()
    );
    let (ok, out, err) = Server::dbond(&["store", "init", "--store", &url]);
    assert!(ok, "store init: {out} {err}");

    // Two servers: the first creates the ledger and writes; the second, given a
    // copy of its ledger key, follows.
    let mut a = Server::start_with(&["--store", &url, "--lease-secs", LEASE_SECS]);
    let data_b = tempfile::tempdir().unwrap();
    for file in ["ledger.key", "ledger.pub"] {
        std::fs::copy(a.data.join(file), data_b.path().join(file)).unwrap();
    }
    let mut b = Server::start_on_with(
        data_b.path(),
        &["--store", &url, "--lease-secs", LEASE_SECS],
    );
    let ledger_key = keys::read_private_key(&a.data.join("ledger.key"))
        .unwrap()
        .verifying_key();
    let admin_key = a.admin_key();
    let admin = a.admin().await;
    let origin = admin.origin().to_string();
    let treasury_key = new_key();
    admin
        .register(
            "treasury",
            pb::Role::Treasury,
            &treasury_key.verifying_key(),
            "Treasury",
        )
        .await
        .unwrap();
    let bank_keys: Vec<_> = (0..BANKS).map(|_| new_key()).collect();
    for (i, key) in bank_keys.iter().enumerate() {
        admin
            .register(
                &format!("bank-{i}"),
                pb::Role::Bank,
                &key.verifying_key(),
                "Bank",
            )
            .await
            .unwrap();
    }
    let treasury = admin.as_key(treasury_key.clone());
    treasury.create_series(terms()).await.unwrap();
    treasury
        .series_action(SeriesAction::Open, SERIES)
        .await
        .unwrap();
    let admin_b = Client::connect(&b.addr, admin_key.clone()).await.unwrap();

    // Banks subscribe from several tasks, through either server.
    let told: Arc<Mutex<Told>> = Default::default();
    let failed_at: Arc<Mutex<Option<Instant>>> = Default::default();
    let over = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, key) in bank_keys.iter().enumerate() {
        for t in 0..TASKS_PER_BANK {
            let servers = [admin.as_key(key.clone()), admin_b.as_key(key.clone())];
            tasks.push(tokio::spawn(bank_task(
                format!("b{i}-t{t}"),
                servers,
                told.clone(),
                failed_at.clone(),
                over.clone(),
            )));
        }
    }
    let acked = || told.lock().unwrap().acked.len();
    until("acknowledgements before the failure", || async {
        (acked() >= BEFORE).then_some(())
    })
    .await;
    let seen_before = admin.checkpoint().await.unwrap();

    // The failure: the primary database dies as a machine does, and the writing
    // server freezes.
    a.pause();
    primary.kill_9();
    let killed = Instant::now();
    *failed_at.lock().unwrap() = Some(killed);
    let acked_at_failure = acked();
    // The standby that received the most is promoted, the other follows it.
    let (winner, loser) = if standbys[0].received_wal_bytes() >= standbys[1].received_wal_bytes() {
        (&standbys[0], &standbys[1])
    } else {
        (&standbys[1], &standbys[0])
    };
    winner.promote();
    loser.follow(winner);
    let first_after = until("the first acknowledgement after the failure", || async {
        told.lock().unwrap().first_after
    })
    .await;
    let seen_after = admin_b.checkpoint().await.unwrap();
    println!(
        "failover: {:.2?} from the kill of the primary database and the writer to the first acknowledged write ({} promoted, lease {LEASE_SECS} s)",
        first_after - killed,
        winner.name
    );
    until("acknowledgements after the failure", || async {
        (acked() >= acked_at_failure + AFTER).then_some(())
    })
    .await;
    over.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.expect("a bank task");
    }

    // No fork: the last checkpoint seen before the failure is a prefix of the
    // first seen after it, and that of the last.
    let before = opened(&seen_before.checkpoint, &origin, &ledger_key);
    let after = opened(&seen_after.checkpoint, &origin, &ledger_key);
    let end = admin_b.checkpoint().await.unwrap();
    let last = opened(&end.checkpoint, &origin, &ledger_key);
    assert!(before.0 <= after.0 && after.0 <= last.0);
    if before.0 < after.0 {
        consistent(
            &admin_b.consistency_proof(before.0, after.0).await.unwrap(),
            before,
            after,
        );
    }
    consistent(
        &admin_b.consistency_proof(before.0, last.0).await.unwrap(),
        before,
        last,
    );

    // Every acknowledged subscription is on the ledger, with its id.
    let shown: BTreeMap<String, u64> = admin_b
        .as_key(treasury_key.clone())
        .all_subscriptions(SERIES)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.idempotency_key, s.subscription_id))
        .collect();
    let acked_all = told.lock().unwrap().acked.clone();
    for (key, id) in &acked_all {
        assert_eq!(shown.get(key), Some(id), "acknowledged {key} (id {id})");
    }

    // The frozen writer, resumed, appends nothing: its write is refused naming
    // the new writer, and it follows the ledger.
    a.resume();
    let resumed = admin.as_key(bank_keys[0].clone());
    let refused = loop {
        let sent = resumed.submit(order("after-resume", "inv-after-resume"));
        match tokio::time::timeout(Duration::from_secs(10), sent).await {
            Ok(Err(status)) => break status,
            Ok(Ok(r)) => panic!("the superseded writer wrote: {r:?}"),
            Err(_) => continue,
        }
    };
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("not recorded") || refused.message().contains("may or may not"),
        "{}",
        refused.message()
    );
    let head = until("the resumed server to follow the new writer", || async {
        let head = admin.checkpoint().await.ok()?;
        (head.checkpoint == end.checkpoint).then_some(head)
    })
    .await;
    assert_eq!(head.tree_size, last.0);
    assert_eq!(
        admin_b.checkpoint().await.unwrap().checkpoint,
        end.checkpoint,
        "nothing was appended after the resume"
    );
    let stale = admin.as_key(bank_keys[1].clone());
    let refused = stale
        .submit(order("after-resume-2", "inv-after-resume-2"))
        .await
        .unwrap_err();
    assert!(
        refused.message().contains(&b.addr),
        "the old writer names the new one: {}",
        refused.message()
    );

    // The whole ledger verifies from the promoted database.
    let (ok, out, err) = Server::dbond(&["verify", "--store", &url]);
    assert!(
        ok && out.contains(&format!("verified {} entries", last.0)),
        "{out} {err}"
    );
    a.kill();
    b.kill();
}
