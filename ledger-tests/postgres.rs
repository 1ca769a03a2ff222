//! Servers sharing a ledger kept in PostgreSQL, through the real binary: one
//! writes, the other refuses writes naming it and serves the same ledger; the
//! writer role passes on at once after a clean stop and within the lease's term
//! after a kill; the offline verbs read the ledger while the servers run.

use crate::common;

use common::{Server, until};
use dbond::client::Client;
use dbond::proto as pb;
use tonic::Code;

/// A second server's data folder for the ledger `first` created: every server of
/// one ledger has a copy of its ledger key.
fn second_data(first: &Server) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for key in ["ledger.key", "ledger.pub"] {
        std::fs::copy(first.data.join(key), dir.path().join(key)).unwrap();
    }
    dir
}

fn run(args: Vec<String>) -> (bool, String, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::dbond(&args)
}

/// Registers bank `id` through `client`, returning the status on failure.
async fn register(client: &Client, id: &str) -> Result<(), tonic::Status> {
    let key = common::new_key();
    client
        .register(id, pb::Role::Bank, &key.verifying_key(), id)
        .await
        .map(|_| ())
}

async fn has(client: &Client, id: &str) -> bool {
    client
        .list_participants()
        .await
        .map(|ps| ps.iter().any(|p| p.participant_id == id))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_a_ledger_and_exactly_one_writes() {
    let mut a = Server::start_postgres(&["--lease-secs", "2"]);
    let url = a.store.clone().unwrap();
    let admin_key = a.admin_key();
    let admin_a = a.admin().await;
    register(&admin_a, "bank-a").await.unwrap();

    // A server given no copy of the ledger key refuses to start.
    let keyless = tempfile::tempdir().unwrap();
    let (ok, _, err) = Server::dbond(&[
        "serve",
        "--data",
        keyless.path().to_str().unwrap(),
        "--store",
        &url,
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok && err.contains("no ledger key"), "{err}");

    let data_b = second_data(&a);
    let mut b = Server::start_on_with(data_b.path(), &["--store", &url, "--lease-secs", "2"]);
    let admin_b = Client::connect(&b.addr, admin_key.clone()).await.unwrap();
    let refused = register(&admin_b, "bank-b").await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains(&a.addr) && refused.message().contains("not recorded"),
        "the follower names the writer: {}",
        refused.message()
    );
    // The follower serves what the writer wrote.
    until("the follower to see bank-a", || async {
        has(&admin_b, "bank-a").await.then_some(())
    })
    .await;
    let head_a = admin_a.checkpoint().await.unwrap();
    let head_b = until("the follower to reach the writer's checkpoint", || async {
        let head = admin_b.checkpoint().await.ok()?;
        (head.tree_size == head_a.tree_size).then_some(head)
    })
    .await;
    assert_eq!(head_b.checkpoint, head_a.checkpoint);

    // The offline verbs read the ledger while both servers run.
    let (ok, out, err) = run(vec!["verify".into(), "--store".into(), url.clone()]);
    assert!(ok && out.contains("registry state matches"), "{out} {err}");
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("ledger.export");
    let (ok, out, err) = run(vec![
        "export".into(),
        "--store".into(),
        url.clone(),
        "--out".into(),
        export.display().to_string(),
    ]);
    assert!(ok, "{out} {err}");
    let (ok, out, err) = run(vec![
        "verify".into(),
        "--export".into(),
        export.display().to_string(),
    ]);
    assert!(ok && out.contains("verified"), "{out} {err}");
    let (ok, out, err) = run(vec![
        "report".into(),
        "--store".into(),
        url.clone(),
        "--out".into(),
        dir.path().join("report").display().to_string(),
    ]);
    assert!(ok && out.contains("report written"), "{out} {err}");

    // A clean stop gives the role up: the follower writes without waiting for
    // the lease's term.
    assert!(a.stop().success());
    until("the follower to take over", || async {
        register(&admin_b, "bank-b").await.ok()
    })
    .await;
    a.restart();
    let admin_a = Client::connect(&a.addr, admin_key.clone()).await.unwrap();
    let refused = register(&admin_a, "bank-c").await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains(&b.addr), "{}", refused.message());

    // A killed writer keeps the role until its term runs out; then the other
    // server takes it.
    b.kill();
    until("the restarted server to take over", || async {
        register(&admin_a, "bank-c").await.ok()
    })
    .await;
    assert!(has(&admin_a, "bank-b").await && has(&admin_a, "bank-c").await);
    let (ok, out, err) = run(vec!["verify".into(), "--store".into(), url.clone()]);
    assert!(ok && out.contains("verified"), "{out} {err}");
}
