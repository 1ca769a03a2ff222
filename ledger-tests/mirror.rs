//! Verified mirrors and online backups, with real processes on 127.0.0.1: a
//! mirror follows a server under load, is killed with SIGKILL and restarted, and
//! ends equal to it (and so does a mirror of that mirror); it serves reads and
//! proofs and refuses writes; a source that rolls back or forks stops it with
//! the evidence kept; a backup taken under load verifies and serves.

use crate::common::{self, Server, new_key, wire};
use dbond::audit::receipt::{ReceiptFile, verify_receipt};
use dbond::audit::source::RegistrySource;
use dbond::client::{Client, CommandKind as K};
use dbond::ledger::keys;
use dbond::proto as pb;
use ed25519_dalek::SigningKey;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::Code;

/// Longest wait for something a process is doing (a safety net against a hang;
/// nothing is judged by how long it took).
const PATIENCE: Duration = Duration::from_secs(120);

/// A running `dbond mirror`.
struct MirrorProcess {
    child: Option<Child>,
    /// The read side's address, once it listens.
    addr: Option<String>,
    stderr: Arc<Mutex<String>>,
}

impl MirrorProcess {
    /// Starts `dbond mirror --from SOURCE --data DATA --key KEY` (with `--listen`
    /// on a free port when `listen`), waiting for its "listening on" line, or for
    /// its exit before it listens.
    fn start(source: &str, data: &Path, key: &Path, listen: bool, extra: &[&str]) -> MirrorProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dbond"));
        command
            .arg("mirror")
            .arg("--from")
            .arg(source)
            .arg("--data")
            .arg(data)
            .arg("--key")
            .arg(key)
            .args(extra)
            .env("DBOND_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if listen {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        let mut child = command.spawn().expect("start dbond mirror");
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let kept = stderr.clone();
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = err.read_to_string(&mut text);
                kept.lock().unwrap().push_str(&text);
            });
        }
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut addr = None;
        if listen {
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(a) = line.strip_prefix("listening on ") {
                    addr = Some(format!("http://{}", a.split_whitespace().next().unwrap()));
                    break;
                }
            }
        }
        std::thread::spawn(move || for _ in lines {});
        MirrorProcess {
            child: Some(child),
            addr,
            stderr,
        }
    }

    fn addr(&self) -> &str {
        self.addr
            .as_deref()
            .unwrap_or_else(|| panic!("the mirror never listened: {}", self.stderr()))
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the process to end by itself, with its status and stderr.
    fn wait(&mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if started.elapsed() > PATIENCE {
                let _ = child.kill();
                panic!("the mirror did not stop by itself: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The stderr reader ends with the process.
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) && !self.stderr().contains('\n') {
            std::thread::sleep(Duration::from_millis(20));
        }
        (status, self.stderr())
    }

    /// Stops the mirror with SIGTERM, expecting a clean exit.
    fn stop(&mut self) {
        let child = self.child.as_ref().expect("running");
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        let (status, err) = self.wait();
        assert!(status.success(), "the mirror did not stop cleanly: {err}");
    }
}

impl Drop for MirrorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Registers an auditor on `server` and writes its key to a file.
async fn auditor(server: &Server, dir: &Path) -> (SigningKey, PathBuf) {
    let key = new_key();
    server
        .admin()
        .await
        .register(
            "auditor",
            pb::Role::Auditor,
            &key.verifying_key(),
            "Auditor",
        )
        .await
        .unwrap();
    let path = dir.join("auditor.key");
    keys::write_private_key(&path, &key).unwrap();
    (key, path)
}

/// `dbond load` against `server`, in the background.
fn load(server: &Server, count: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dbond"))
        .args([
            "load",
            "--server",
            &server.addr,
            "--count",
            &count.to_string(),
        ])
        .args(["--concurrency", "32", "--banks", "4", "--series", "2"])
        .arg("--admin-key")
        .arg(server.data.join("admin.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dbond load")
}

fn wait_for_load(mut load: Child) {
    let status = load.wait().expect("wait for load");
    let mut err = String::new();
    if let Some(mut e) = load.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "dbond load failed: {err}");
}

/// Polls until `done` holds, or fails after `PATIENCE` saying `what`.
async fn until<F: AsyncFnMut() -> bool>(what: &str, mut done: F) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < PATIENCE, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn checkpoint(client: &Client) -> pb::GetCheckpointResponse {
    client.checkpoint().await.expect("checkpoint")
}

/// The registry as `client`'s server reports it: participants, series and every
/// series' subscriptions.
async fn registry(
    client: &Client,
) -> (Vec<pb::Participant>, Vec<pb::Series>, Vec<pb::Subscription>) {
    let participants = RegistrySource::participants(client).await.unwrap();
    let series = RegistrySource::series(client).await.unwrap();
    let mut subscriptions = Vec::new();
    for s in &series {
        let id = &s.terms.as_ref().unwrap().series_id;
        subscriptions.extend(RegistrySource::subscriptions(client, id).await.unwrap());
    }
    (participants, series, subscriptions)
}

fn verify_data(dir: &Path) -> String {
    let (ok, out, err) = Server::dbond(&["verify", "--data", dir.to_str().unwrap()]);
    assert!(ok, "dbond verify --data {}: {err}", dir.display());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_follows_a_server_under_load_through_a_sigkill_and_ends_equal() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, key_file) = auditor(&server, dir.path()).await;
    let data = dir.path().join("mirror");
    let at_server = server.client(key.clone()).await;
    let running = load(&server, 6_000);

    let mut mirror = MirrorProcess::start(&server.addr, &data, &key_file, true, &[]);
    let at_mirror = Client::connect(mirror.addr(), key.clone()).await.unwrap();
    // Killed once it holds part of the load, while banks go on subscribing.
    until("the mirror holds some of the load", async || {
        checkpoint(&at_mirror).await.tree_size > 300
    })
    .await;
    mirror.kill();
    let mut mirror = MirrorProcess::start(&server.addr, &data, &key_file, true, &[]);
    wait_for_load(running);
    let at_mirror = Client::connect(mirror.addr(), key.clone()).await.unwrap();
    let head = checkpoint(&at_server).await;
    until("the mirror holds what the server holds", async || {
        checkpoint(&at_mirror).await.tree_size == head.tree_size
    })
    .await;

    // The same size, root and signed note; the same registry through both APIs.
    let copy = checkpoint(&at_mirror).await;
    assert_eq!(copy.checkpoint, head.checkpoint);
    assert_eq!(copy.root_hash, head.root_hash);
    assert_eq!(copy.ledger_public_key, head.ledger_public_key);
    let (participants, series, subscriptions) = registry(&at_server).await;
    assert!(
        subscriptions.len() > 300,
        "the load's subscriptions are there"
    );
    assert_eq!(
        registry(&at_mirror).await,
        (participants, series, subscriptions),
        "the mirror's registry is the server's"
    );

    // A mirror of the mirror ends equal too.
    let second = dir.path().join("second");
    let mut chained = MirrorProcess::start(mirror.addr(), &second, &key_file, true, &[]);
    let at_chained = Client::connect(chained.addr(), key.clone()).await.unwrap();
    until("the mirror's mirror holds the ledger", async || {
        checkpoint(&at_chained).await.tree_size == head.tree_size
    })
    .await;
    assert_eq!(checkpoint(&at_chained).await.checkpoint, head.checkpoint);
    chained.stop();

    mirror.stop();
    let out = verify_data(&data);
    assert!(
        out.contains(&format!("verified {} entries", head.tree_size)),
        "{out}"
    );
    let out = verify_data(&second);
    assert!(
        out.contains(&format!("verified {} entries", head.tree_size)),
        "{out}"
    );
    assert_eq!(
        keys::read_public_key(&data.join("ledger.pub"))
            .unwrap()
            .to_bytes()
            .to_vec(),
        head.ledger_public_key
    );
}

/// A signed request for `rpc` whose command is `kind`'s with its fields empty:
/// what the write refusal sees (it refuses before reading the command).
fn any_write(client: &Client, rpc: &str) -> pb::SignedRequest {
    let kind = match rpc {
        "RegisterParticipant" => K::RegisterParticipant(Default::default()),
        "RotateKey" => K::RotateKey(Default::default()),
        "RevokeParticipant" => K::RevokeParticipant(Default::default()),
        "RotateLedgerKey" => K::RotateLedgerKey(Default::default()),
        "SetRecoveryQuorum" => K::SetRecoveryQuorum(Default::default()),
        "EmergencyRotateLedgerKey" => K::EmergencyRotateLedgerKey(Default::default()),
        "SubmitBatch" => K::SubmitBatch(Default::default()),
        "CreateSeries" => K::CreateSeries(Default::default()),
        "AmendSeries" => K::AmendSeries(Default::default()),
        "OpenSeries" => K::OpenSeries(Default::default()),
        "CloseSeries" => K::CloseSeries(Default::default()),
        "CancelSeries" => K::CancelSeries(Default::default()),
        "AllotSeries" => K::AllotSeries(Default::default()),
        "ReleaseUnsettled" => K::ReleaseUnsettled(Default::default()),
        "IssueSeries" => K::IssueSeries(Default::default()),
        "PublishFixing" => K::PublishFixing(Default::default()),
        "PostAccrualEvent" => K::PostAccrualEvent(Default::default()),
        "SubmitSubscription" => K::SubmitSubscription(Default::default()),
        "WithdrawSubscription" => K::WithdrawSubscription(Default::default()),
        "ConfirmSettlement" => K::ConfirmSettlement(Default::default()),
        "ChangeRegistration" => K::ChangeRegistration(Default::default()),
        "RequestTransfer" => K::RequestTransfer(Default::default()),
        "ConfirmTransfer" => K::ConfirmTransfer(Default::default()),
        "RefuseTransfer" => K::RefuseTransfer(Default::default()),
        "FileDeathNotice" => K::FileDeathNotice(Default::default()),
        "RedeemEarly" => K::RedeemEarly(Default::default()),
        "SetWithholdingTable" => K::SetWithholdingTable(Default::default()),
        "RecordResidence" => K::RecordResidence(Default::default()),
        "ReportUndeliverable" => K::ReportUndeliverable(Default::default()),
        "RecordClaim" => K::RecordClaim(Default::default()),
        "ReopenSeries" => K::ReopenSeries(Default::default()),
        other => panic!("{other} is not a write"),
    };
    client.sign(kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_serves_reads_and_proofs_and_refuses_every_write() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, key_file) = auditor(&server, dir.path()).await;
    let admin = server.admin().await;
    let subscribers = dbond::cli::load::set_up_subscribers(
        &admin,
        std::slice::from_ref(admin.channel()),
        "mirror",
        2,
        1,
    )
    .await
    .unwrap();
    let series = subscribers.series[0].clone();
    let (bank_a, bank_b) = (&subscribers.banks[0], &subscribers.banks[1]);
    let subscription = |bank: &Client, investor: &str| {
        let bank = bank.clone();
        let (series, investor) = (series.clone(), investor.to_string());
        async move {
            bank.submit(pb::SubmitSubscription {
                series_id: series,
                investor_ref: investor.clone(),
                category: pb::DiasporaCategory::CitizenAbroad as i32,
                country: "DE".into(),
                units: "10".into(),
                idempotency_key: investor,
                ..Default::default()
            })
            .await
            .unwrap()
            .subscription
            .unwrap()
            .subscription_id
        }
    };
    let of_a = subscription(bank_a, "inv-a").await;
    let of_b = subscription(bank_b, "inv-b").await;
    let head = server.client(key.clone()).await.checkpoint().await.unwrap();

    let mirror = MirrorProcess::start(&server.addr, &dir.path().join("m"), &key_file, true, &[]);
    let channel = dbond::client::channel(mirror.addr()).await.unwrap();
    let at_mirror = Client::with_channel(channel.clone(), key.clone(), admin.origin().into());
    until("the mirror holds the ledger", async || {
        checkpoint(&at_mirror).await.tree_size == head.tree_size
    })
    .await;

    // Health and the ledger's identity.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let info: pb::GetLedgerInfoResponse =
        wire::one(&wire::call(&channel, "GetLedgerInfo", None).await.unwrap());
    assert_eq!(info.ledger_public_key, head.ledger_public_key);

    // A bank's receipt from the mirror verifies against the ledger key; the bank
    // sees its own subscription and not the other bank's.
    let ledger_key = keys::parse_public_key(&head.ledger_public_key).unwrap();
    let receipt: pb::GetReceiptResponse = wire::one(
        &wire::call(
            &channel,
            "GetReceipt",
            Some(bank_a.sign(K::GetReceipt(pb::GetReceipt {
                target: Some(pb::get_receipt::Target::SubscriptionId(of_a)),
            }))),
        )
        .await
        .unwrap(),
    );
    let file = ReceiptFile::from(&receipt.receipt.unwrap());
    let checked = verify_receipt(&file, Some(&ledger_key)).expect("the mirror's receipt verifies");
    assert!(
        checked.description.contains("inv-a"),
        "{}",
        checked.description
    );
    let refused = wire::call(
        &channel,
        "GetSubscription",
        Some(bank_a.sign(K::GetSubscription(pb::GetSubscription {
            subscription_id: of_b,
        }))),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let own: pb::ListSubscriptionsResponse = wire::one(
        &wire::call(
            &channel,
            "ListSubscriptions",
            Some(bank_a.sign(K::ListSubscriptions(Default::default()))),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        own.subscriptions
            .iter()
            .map(|s| s.subscription_id)
            .collect::<Vec<_>>(),
        [of_a]
    );
    let stream = wire::call(
        &channel,
        "StreamEntries",
        Some(bank_a.sign(K::StreamEntries(pb::StreamEntries { start: 0, end: 0 }))),
    )
    .await
    .unwrap_err();
    assert_eq!(stream.code(), Code::PermissionDenied, "{stream:?}");

    // Proofs from the mirror's own tree, against the source's signed note.
    let proof = at_mirror
        .consistency_proof(2, head.tree_size)
        .await
        .unwrap();
    let hash = |h: &Vec<u8>| <[u8; 32]>::try_from(h.as_slice()).unwrap();
    dbond::ledger::merkle::verify_consistency(
        2,
        head.tree_size,
        &hash(&proof.old_root_hash),
        &hash(&head.root_hash),
        &proof.proof.iter().map(hash).collect::<Vec<_>>(),
    )
    .expect("the consistency proof verifies");
    common::verify_over_the_wire(&at_mirror).await;

    // Every write, from every caller (even unsigned), is refused naming the source.
    let mut writes = 0;
    for (_, rpc) in wire::RPCS {
        if !(dbond::service::rpc::write_roles(rpc).is_some() || rpc == "SubmitBatch") {
            continue;
        }
        for signed in [
            Some(any_write(&admin, rpc)),
            Some(any_write(bank_a, rpc)),
            None,
        ] {
            let status = wire::call(&channel, rpc, signed).await.unwrap_err();
            assert_eq!(status.code(), Code::FailedPrecondition, "{rpc}: {status:?}");
            assert!(
                status.message().contains(&server.addr) && status.message().contains("mirror"),
                "{rpc}: {}",
                status.message()
            );
            writes += 1;
        }
    }
    // Every write RPC of the table and SubmitBatch, each from three callers.
    assert_eq!(writes, 3 * (dbond::service::rpc::WRITES.len() + 1));
    // Nothing of it reached the ledger.
    assert_eq!(checkpoint(&at_mirror).await.tree_size, head.tree_size);
    let after = server.client(key).await.checkpoint().await.unwrap();
    assert_eq!(after.tree_size, head.tree_size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_rolls_back_or_forks_stops_the_mirror_with_the_evidence_kept() {
    let mut server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, key_file) = auditor(&server, dir.path()).await;
    let admin = server.admin().await;
    let register = async |admin: &Client, id: &str| {
        admin
            .register(id, pb::Role::Bank, &new_key().verifying_key(), id)
            .await
            .unwrap();
    };
    for i in 0..3 {
        register(&admin, &format!("early-{i}")).await;
    }
    // An older copy of the server's folder: what a restore from it would serve.
    server.stop();
    let old = dir.path().join("old");
    copy_dir(&server.data, &old);
    server.restart();
    let admin = server.admin().await;
    for i in 0..4 {
        register(&admin, &format!("late-{i}")).await;
    }
    let held = server.client(key.clone()).await.checkpoint().await.unwrap();

    let data = dir.path().join("mirror");
    let mut mirror = MirrorProcess::start(&server.addr, &data, &key_file, true, &[]);
    let at_mirror = Client::connect(mirror.addr(), key.clone()).await.unwrap();
    until("the mirror holds the ledger", async || {
        checkpoint(&at_mirror).await.tree_size == held.tree_size
    })
    .await;
    mirror.stop();
    server.stop();
    let checkpoints = data.join("checkpoints");
    let kept_note = checkpoints.join(format!("checkpoint-{:020}.txt", held.tree_size));
    assert_eq!(
        std::fs::read_to_string(&kept_note).unwrap(),
        held.checkpoint
    );

    // The older copy serves a smaller size: a rollback.
    let restored = Server::start_on(&old);
    let mut mirror = MirrorProcess::start(&restored.addr, &data, &key_file, false, &[]);
    let (status, err) = mirror.wait();
    assert!(!status.success(), "the mirror went on: {err}");
    assert!(
        err.contains("ROLLBACK") && err.contains("evidence kept"),
        "{err}"
    );
    let evidence = files_starting(&checkpoints, "rollback-");
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    let rolled_back = restored
        .client(key.clone())
        .await
        .checkpoint()
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&evidence[0]).unwrap(),
        rolled_back.checkpoint
    );
    assert_eq!(
        std::fs::read_to_string(&kept_note).unwrap(),
        held.checkpoint
    );

    // The older copy takes other writes up to the same size: a fork.
    let admin = restored.admin().await;
    for i in 0..4 {
        register(&admin, &format!("other-{i}")).await;
    }
    let forked = restored
        .client(key.clone())
        .await
        .checkpoint()
        .await
        .unwrap();
    assert_eq!(forked.tree_size, held.tree_size);
    assert_ne!(forked.root_hash, held.root_hash);
    let mut mirror = MirrorProcess::start(&restored.addr, &data, &key_file, false, &[]);
    let (status, err) = mirror.wait();
    assert!(!status.success() && err.contains("FORK"), "{err}");
    assert_eq!(files_starting(&checkpoints, "fork-").len(), 1);

    // And beyond it: no consistency proof links it to what the mirror holds.
    register(&admin, "beyond").await;
    let mut mirror = MirrorProcess::start(&restored.addr, &data, &key_file, false, &[]);
    let (status, err) = mirror.wait();
    assert!(
        !status.success() && err.contains("FORK") && err.contains("consistency proof"),
        "{err}"
    );
    assert_eq!(files_starting(&checkpoints, "fork-").len(), 2);

    // What the mirror held is untouched, and verifies against the note it kept.
    let out = verify_data(&data);
    assert!(
        out.contains(&format!("verified {} entries", held.tree_size)),
        "{out}"
    );
    let (ok, out, err) = Server::dbond(&[
        "verify",
        "--data",
        data.to_str().unwrap(),
        "--witness",
        checkpoints.to_str().unwrap(),
    ]);
    assert!(ok && out.contains("consistent with"), "{out}{err}");
}

fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_verifies_and_serves() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, key_file) = auditor(&server, dir.path()).await;
    let out = dir.path().join("backup");
    let backup = |extra: &[&str]| {
        let mut args = vec![
            "backup",
            "--server",
            &server.addr,
            "--key",
            key_file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        let (ok, stdout, err) = Server::dbond(&args);
        (ok, stdout, err)
    };
    let running = load(&server, 3_000);
    let at_server = server.client(key.clone()).await;
    until("the load is under way", async || {
        checkpoint(&at_server).await.tree_size > 200
    })
    .await;
    let (ok, first, err) = backup(&[]);
    assert!(ok, "{err}");
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let size = first["size"].as_u64().unwrap();
    assert!(size > 200, "{first}");
    // Continued while the load goes on; it must say what it continues.
    let (ok, _, err) = backup(&["--from-size", "1"]);
    assert!(
        !ok && err.contains(&format!("holds a backup of {size} entries, not 1")),
        "{err}"
    );
    let (ok, second, err) = backup(&["--from-size", &size.to_string()]);
    assert!(ok, "{err}");
    let second: serde_json::Value = serde_json::from_str(&second).unwrap();
    let size = second["size"].as_u64().unwrap();
    assert_eq!(
        second["added"].as_u64().unwrap(),
        size - first["size"].as_u64().unwrap()
    );
    wait_for_load(running);

    let verified = verify_data(&out);
    assert!(
        verified.contains(&format!("verified {size} entries")),
        "{verified}"
    );

    // Restored: the ledger key put back, `dbond serve` opens it and serves it.
    std::fs::copy(server.data.join("ledger.key"), out.join("ledger.key")).unwrap();
    let restored = Server::start_on(&out);
    let at_restored = restored.client(key.clone()).await;
    let head = checkpoint(&at_restored).await;
    assert_eq!(head.tree_size, size);
    assert_eq!(
        hex::encode(&head.root_hash),
        second["root"].as_str().unwrap()
    );
    let participants = at_restored.list_participants().await.unwrap();
    assert!(participants.iter().any(|p| p.participant_id == "auditor"));
    common::verify_over_the_wire(&at_restored).await;
}

/// The matrix of docs/AUTHORIZATION.md through a mirror of the authorization
/// suite's world, in this process (its clock is the world's): every read
/// answers as on the server, a bank sees only its own records, and every write
/// is refused naming the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_matrix_holds_through_a_mirror() {
    use dbond::mirror::{Mirror, MirrorOptions};
    let w = crate::authz::world(crate::common::Backend::Sled).await;
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = Mirror::open(dir.path(), MirrorOptions::default()).unwrap();
    let source = &w.by_role["auditor"];
    mirror.catch_up(source, Instant::now()).await.unwrap();
    let held = mirror.ledger().unwrap().clone();
    assert_eq!(held.size(), w.server.ledger.size());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let clock: Arc<dyn dbond::clock::Clock> = w.server.clock.clone();
    let options = dbond::service::ServeOptions {
        mirror_of: Some(w.server.addr.clone()),
        ..Default::default()
    };
    let serving = tokio::spawn(dbond::service::serve_with(
        held,
        clock,
        listener,
        options,
        async {
            let _ = stopped.await;
        },
    ));
    let channel = dbond::client::channel(&addr).await.unwrap();
    crate::authz::check_matrix(&w, crate::authz::Via::Mirror(&channel, &w.server.addr)).await;
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    drop(mirror);
}
