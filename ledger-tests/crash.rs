//! Crash test: concurrent writers are acknowledged, the server is killed with
//! SIGKILL, restarted, and every acknowledged write must be there; the ledger must
//! verify in full. Bounded by counts, not time. `DBOND_CRASH_ROUNDS` and
//! `DBOND_CRASH_SEED` run a longer or a replayed version.

mod common;

use common::{Server, new_key};
use dbond::proto as pb;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let seed = env_u64("DBOND_CRASH_SEED").unwrap_or_else(rand::random);
    let rounds = env_u64("DBOND_CRASH_ROUNDS").unwrap_or(3);
    println!("crash test seed {seed} ({rounds} rounds); replay with DBOND_CRASH_SEED={seed}");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);

    let mut server = Server::start();
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    for round in 0..rounds {
        let admin = server.admin().await;
        let target = acked.lock().unwrap().len() + 40 + rand::Rng::gen_range(&mut rng, 0..120);
        let (reached_tx, mut reached_rx) = tokio::sync::watch::channel(false);
        let reached_tx = Arc::new(reached_tx);
        let mut writers = Vec::new();
        for w in 0..8 {
            let admin = admin.clone();
            let acked = acked.clone();
            let reached_tx = reached_tx.clone();
            writers.push(tokio::spawn(async move {
                for n in 0.. {
                    let id = format!("r{round}-w{w}-{n}");
                    match admin
                        .register(&id, pb::Role::Bank, &new_key().verifying_key(), "Bank")
                        .await
                    {
                        Ok(_) => {
                            let mut a = acked.lock().unwrap();
                            a.push(id);
                            if a.len() >= target {
                                let _ = reached_tx.send(true);
                            }
                        }
                        // The server is gone: this write was not acknowledged.
                        Err(_) => return,
                    }
                }
            }));
        }
        reached_rx.wait_for(|r| *r).await.unwrap();
        server.kill();
        for w in writers {
            w.await.unwrap();
        }
        server.restart();
        let admin = server.admin().await;
        let present: HashSet<String> = admin
            .list_participants()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.participant_id)
            .collect();
        let acked_now = acked.lock().unwrap().clone();
        let missing: Vec<&String> = acked_now
            .iter()
            .filter(|id| !present.contains(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "seed {seed} round {round}: acknowledged writes lost after SIGKILL: {missing:?}"
        );
        println!(
            "round {round}: {} acknowledged writes, all present after SIGKILL and restart",
            acked_now.len()
        );
    }
    server.stop();
    let data = server.data.to_str().unwrap().to_string();
    let (ok, out, err) = Server::dbond(&["verify", "--data", &data]);
    assert!(
        ok,
        "seed {seed}: ledger does not verify after crashes: {out} {err}"
    );
}
