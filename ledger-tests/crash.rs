//! Crash test: banks submit subscriptions to an open series from several tasks at
//! once, and the server is killed with SIGKILL after a number of acknowledgements
//! drawn from the seed. Before each restart, `dbond verify --data` checks the killed
//! store in full (hash chain, signatures, Merkle root against the signed checkpoint,
//! registry state records against the replay). After the restart:
//!
//! - every acknowledged subscription is there, with the id it was acknowledged with;
//! - nothing is half-visible: every subscription on the ledger is one submitted
//!   order, whole (same bank, investor and units); an order whose answer was lost
//!   in the crash is either all there or not at all, and resubmitting it with the
//!   same idempotency key says which (the first id again, or a new subscription).
//!
//! Correctness does not depend on timing: the kill point is a count of
//! acknowledgements, and every check compares sets. Bounded by counts:
//! `DBOND_CRASH_ROUNDS` (default 3; 50 for the full version) and `DBOND_CRASH_SEED`
//! (printed, to replay a failure).

use crate::common;

use common::programme::{Life, Terms};
use common::{Server, new_key};
use dbond::client::{Client, SeriesAction};
use dbond::proto as pb;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const SERIES: &str = "AZ-2031-USD";
const BANKS: usize = 4;
const TASKS_PER_BANK: usize = 2;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// A five-year series whose window is open for the whole test, sold now with a
/// par coupon derived from the diaspora pricing, to citizens and former citizens.
fn terms() -> pb::SeriesTerms {
    Terms::new(SERIES, Life::selling_now(chrono::Duration::hours(12), 60))
        .name("Diaspora bond 2031")
        .cap_units(50_000)
        .fixed_rate("")
        .categories(&[
            pb::DiasporaCategory::CitizenAbroad,
            pb::DiasporaCategory::FormerCitizen,
        ])
        .diaspora_pricing("0.065", "150", true)
        .build()
}

/// What an order says; its idempotency key names it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Order {
    bank_id: String,
    investor_ref: String,
    units: u64,
}

impl Order {
    fn to_pb(&self, key: &str) -> pb::SubmitSubscription {
        pb::SubmitSubscription {
            series_id: SERIES.into(),
            investor_ref: self.investor_ref.clone(),
            category: pb::DiasporaCategory::FormerCitizen as i32,
            country: "DE".into(),
            units: self.units.to_string(),
            idempotency_key: key.into(),
            registration: None,
        }
    }
}

/// A subscription as the ledger shows it: its id and what it says.
type Shown = (u64, Order);

/// Checks what the restarted server shows against what was sent and acknowledged:
/// every acknowledged order there with its id, every subscription a whole submitted
/// order, ids unique. Returns the orders sent but never answered that are there.
fn compare(
    sent: &BTreeMap<String, Order>,
    acked: &BTreeMap<String, u64>,
    shown: &BTreeMap<String, Shown>,
) -> Result<Vec<String>, String> {
    for (key, id) in acked {
        match shown.get(key) {
            None => return Err(format!("acknowledged {key} (id {id}) was lost")),
            Some((found, _)) if found != id => {
                return Err(format!("{key} was acknowledged as {id} but is now {found}"));
            }
            Some(_) => {}
        }
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut unanswered_present = Vec::new();
    for (key, (id, order)) in shown {
        let Some(sent_order) = sent.get(key) else {
            return Err(format!("subscription {id} ({key}) was never sent"));
        };
        if sent_order != order {
            return Err(format!(
                "subscription {id} ({key}) is not the order sent: {order:?} vs {sent_order:?}"
            ));
        }
        if !ids.insert(*id) {
            return Err(format!("id {id} is shown twice"));
        }
        if !acked.contains_key(key) {
            unanswered_present.push(key.clone());
        }
    }
    Ok(unanswered_present)
}

async fn shown(treasury: &Client) -> BTreeMap<String, Shown> {
    treasury
        .all_subscriptions(SERIES)
        .await
        .expect("list subscriptions")
        .into_iter()
        .map(|s| {
            (
                s.idempotency_key,
                (
                    s.subscription_id,
                    Order {
                        bank_id: s.bank_id,
                        investor_ref: s.investor_ref,
                        units: s.units.parse().expect("whole units"),
                    },
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_subscriptions_survive_sigkill() {
    crash_rounds(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_subscriptions_survive_sigkill_between_the_batches_of_a_group() {
    // Three records per sled batch: every group commit (a subscription is an entry
    // and three state records) goes in several batches, as a large allotment does,
    // so a kill can fall between them. The killed store then holds an unfinished
    // group, which `verify --data` refuses and the restart rolls back.
    crash_rounds(&["--store-batch-records-max", "3"]).await;
}

/// Rounds of concurrent subscriptions, each ended by SIGKILL, on a server started
/// with `extra` arguments.
async fn crash_rounds(extra: &[&str]) {
    let seed = env_u64("DBOND_CRASH_SEED").unwrap_or_else(rand::random);
    let rounds = env_u64("DBOND_CRASH_ROUNDS").unwrap_or(3);
    println!(
        "crash test {extra:?} seed {seed} ({rounds} rounds); replay with DBOND_CRASH_SEED={seed}"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let mut server = Server::start_with(extra);
    let mut unfinished_groups = 0;
    let admin = server.admin().await;
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
    for (b, key) in bank_keys.iter().enumerate() {
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
    let treasury = admin.as_key(treasury_key.clone());
    treasury.create_series(terms()).await.unwrap();
    treasury
        .series_action(SeriesAction::Open, SERIES)
        .await
        .unwrap();
    drop((admin, treasury));

    let sent: Arc<Mutex<BTreeMap<String, Order>>> = Default::default();
    let acked: Arc<Mutex<BTreeMap<String, u64>>> = Default::default();
    for round in 0..rounds {
        let banks_active = rng.gen_range(1..=BANKS);
        let kill_after = acked.lock().unwrap().len() + rng.gen_range(1..80);
        let task_seed: u64 = rng.r#gen();
        let killed = Arc::new(AtomicBool::new(false));
        let (reached_tx, mut reached_rx) = tokio::sync::watch::channel(false);
        let reached_tx = Arc::new(reached_tx);
        let mut writers = Vec::new();
        let admin = server.admin().await;
        for (b, bank_key) in bank_keys.iter().enumerate().take(banks_active) {
            for w in 0..TASKS_PER_BANK {
                let bank = admin.as_key(bank_key.clone());
                let (sent, acked, killed, reached_tx) = (
                    sent.clone(),
                    acked.clone(),
                    killed.clone(),
                    reached_tx.clone(),
                );
                let mut units = rand::rngs::StdRng::seed_from_u64(task_seed ^ (b * 16 + w) as u64);
                writers.push(tokio::spawn(async move {
                    for n in 0.. {
                        let key = format!("r{round}-b{b}-w{w}-{n}");
                        let order = Order {
                            bank_id: format!("bank-{b}"),
                            investor_ref: format!("inv-r{round}-b{b}-w{w}-{n}"),
                            units: units.gen_range(1..=100),
                        };
                        sent.lock().unwrap().insert(key.clone(), order.clone());
                        match bank.submit(order.to_pb(&key)).await {
                            Ok(r) => {
                                let id = r.receipt.expect("receipt").index;
                                let mut a = acked.lock().unwrap();
                                a.insert(key, id);
                                if a.len() >= kill_after {
                                    let _ = reached_tx.send(true);
                                }
                            }
                            // Only the kill may stop a write; before it, an error is a refusal.
                            Err(status) => {
                                assert!(
                                    killed.load(Ordering::SeqCst),
                                    "seed {seed} round {round}: {key} refused by a live server: {status:?}"
                                );
                                return;
                            }
                        }
                    }
                }));
            }
        }
        drop(admin);
        reached_rx.wait_for(|r| *r).await.unwrap();
        killed.store(true, Ordering::SeqCst);
        server.kill();
        for w in writers {
            w.await.expect("writer task");
        }

        // The killed store, before anything touches it again: it verifies, or it
        // holds a group cut off between its batches, which the restart rolls back.
        let data = server.data.to_str().unwrap().to_string();
        let (ok, out, err) = Server::dbond(&["verify", "--data", &data]);
        if !ok && err.contains("unfinished group commit") && !extra.is_empty() {
            unfinished_groups += 1;
        } else {
            assert!(
                ok,
                "seed {seed} round {round}: the killed store does not verify: {out} {err}"
            );
        }

        server.restart();
        let admin = server.admin().await;
        let treasury = admin.as_key(treasury_key.clone());
        let sent_now = sent.lock().unwrap().clone();
        let acked_now = acked.lock().unwrap().clone();
        let before = shown(&treasury).await;
        let unanswered_present = compare(&sent_now, &acked_now, &before)
            .unwrap_or_else(|e| panic!("seed {seed} round {round}: {e}"));

        // What the crash left unanswered is settled by resubmitting it with the same
        // idempotency key: the first id if it was recorded, else a new subscription.
        let unanswered: Vec<String> = sent_now
            .keys()
            .filter(|k| !acked_now.contains_key(*k))
            .cloned()
            .collect();
        for key in &unanswered {
            let order = &sent_now[key];
            let b: usize = order.bank_id["bank-".len()..].parse().unwrap();
            let bank = admin.as_key(bank_keys[b].clone());
            let r = bank
                .submit(order.to_pb(key))
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: resubmitting {key}: {e:?}"));
            let id = r.receipt.expect("receipt").index;
            match before.get(key) {
                Some((was, _)) => {
                    assert!(r.idempotent_replay, "seed {seed}: {key} is a replay");
                    assert_eq!(id, *was, "seed {seed}: {key} keeps its id");
                }
                None => assert!(!r.idempotent_replay, "seed {seed}: {key} is new"),
            }
            acked.lock().unwrap().insert(key.clone(), id);
        }
        let acked_now = acked.lock().unwrap().clone();
        let after = shown(&treasury).await;
        assert_eq!(
            compare(&sent_now, &acked_now, &after),
            Ok(Vec::new()),
            "seed {seed} round {round}: after resubmitting"
        );
        assert_eq!(after.len(), sent_now.len(), "seed {seed}: every order once");
        println!(
            "round {round}: killed once {kill_after} writes were acknowledged ({banks_active} of {BANKS} banks \
             writing); {} acknowledged, all present with their ids; {} unanswered, {} of them recorded",
            acked_now.len() - unanswered.len(),
            unanswered.len(),
            unanswered_present.len()
        );
    }
    server.stop();
    let data = server.data.to_str().unwrap().to_string();
    let (ok, out, err) = Server::dbond(&["verify", "--data", &data]);
    assert!(
        ok,
        "seed {seed}: ledger does not verify after crashes: {out} {err}"
    );
    println!("{unfinished_groups} of {rounds} kills fell between the batches of a group");
}

/// The checks above can fail: each kind of damage is caught.
#[test]
fn compare_catches_lost_changed_and_foreign_subscriptions() {
    let order = |units| Order {
        bank_id: "bank-0".into(),
        investor_ref: "inv-1".into(),
        units,
    };
    let sent: BTreeMap<String, Order> = [("a".to_string(), order(5)), ("b".into(), order(7))]
        .into_iter()
        .collect();
    let acked: BTreeMap<String, u64> = [("a".to_string(), 10)].into_iter().collect();
    let shown = |rows: &[(&str, u64, u64)]| -> BTreeMap<String, Shown> {
        rows.iter()
            .map(|(k, id, units)| (k.to_string(), (*id, order(*units))))
            .collect()
    };
    assert_eq!(compare(&sent, &acked, &shown(&[("a", 10, 5)])), Ok(vec![]));
    assert_eq!(
        compare(&sent, &acked, &shown(&[("a", 10, 5), ("b", 11, 7)])),
        Ok(vec!["b".to_string()])
    );
    for (what, rows) in [
        ("lost", vec![("b", 11, 7)]),
        ("id changed", vec![("a", 12, 5)]),
        ("units changed", vec![("a", 10, 6)]),
        ("never sent", vec![("a", 10, 5), ("c", 11, 5)]),
        ("id twice", vec![("a", 10, 5), ("b", 10, 7)]),
    ] {
        assert!(compare(&sent, &acked, &shown(&rows)).is_err(), "{what}");
    }
}
