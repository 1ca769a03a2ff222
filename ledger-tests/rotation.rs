//! The ledger key's rotation on the ledger, end to end: a server holding a next
//! key hands over to it (`dbond ledger-key rotate`), goes on appending under the
//! new key, and every verifier follows the chain from the first key: `dbond
//! verify` on the store, an export and the running server; a receipt of a later
//! entry with the hand-over file; a restart refusing the old key. And the
//! refusals: no next key, another key than the next one, the key in force.

use crate::common::{Server, new_key};
use dbond::ledger::keys::{self, KeyId};
use dbond::proto as pb;
use tonic::Code;

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_ledger_verifies_from_its_first_key_everywhere() {
    let keys_dir = tempfile::tempdir().unwrap();
    let next = keys::generate();
    let (next_key, next_pub) = (
        keys_dir.path().join("next.key"),
        keys_dir.path().join("next.pub"),
    );
    keys::write_private_key(&next_key, &next).unwrap();
    keys::write_public_key(&next_pub, &next.verifying_key()).unwrap();
    let mut server = Server::start_with(&["--next-ledger-key", s(&next_key)]);
    let first = keys::read_public_key(&server.data.join("ledger.pub")).unwrap();
    let admin = server.admin().await;
    admin
        .register(
            "bank-a",
            pb::Role::Bank,
            &new_key().verifying_key(),
            "Bank A",
        )
        .await
        .unwrap();
    let admin_key = server.data.join("admin.key");
    let (ok, out, err) = Server::dbond(&[
        "ledger-key",
        "rotate",
        "--server",
        &server.addr,
        "--admin-key",
        s(&admin_key),
        "--new-key-file",
        s(&next_pub),
    ]);
    assert!(ok, "rotate: {out} {err}");
    assert!(out.contains("handed over at entry 2"), "{out}");
    assert!(
        out.contains(&format!(
            "key {} signs from entry 3",
            KeyId::of(&next.verifying_key())
        )),
        "{out}"
    );
    // The next entries and the checkpoint are the new key's.
    let auditor_key = new_key();
    admin
        .register(
            "auditor",
            pb::Role::Auditor,
            &auditor_key.verifying_key(),
            "Auditor",
        )
        .await
        .unwrap();
    let head = admin.checkpoint().await.unwrap();
    let (cp, _) = dbond::ledger::checkpoint::parse_unverified(&head.checkpoint).unwrap();
    assert_eq!(cp.size, 4);
    assert!(
        dbond::ledger::checkpoint::open(&head.checkpoint, &cp.origin, &next.verifying_key())
            .is_ok()
    );
    assert!(dbond::ledger::checkpoint::open(&head.checkpoint, &cp.origin, &first).is_err());
    // A second rotation to the key now in force is refused, and changes nothing.
    let again = admin
        .rotate_ledger_key(&next.verifying_key())
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::InvalidArgument, "{again:?}");
    assert!(
        again.message().contains("is the key in force"),
        "{}",
        again.message()
    );

    // verify --server while it runs, pinned to the first key through genesis.
    let auditor_file = keys_dir.path().join("auditor.key");
    keys::write_private_key(&auditor_file, &auditor_key).unwrap();
    let (ok, out, err) = Server::dbond(&[
        "verify",
        "--server",
        &server.addr,
        "--key",
        s(&auditor_file),
    ]);
    assert!(ok, "verify --server: {out} {err}");
    // A receipt of entry 3 (signed by the new key) checks with the first key and
    // the hand-over file, and says what it needs without it.
    let receipt = admin
        .receipt(pb::get_receipt::Target::Index(3))
        .await
        .unwrap();
    let receipt_file = keys_dir.path().join("receipt.json");
    std::fs::write(
        &receipt_file,
        dbond::audit::receipt::ReceiptFile::from(&receipt).to_json(),
    )
    .unwrap();
    let handovers = keys_dir.path().join("handovers.json");
    let (ok, out, err) = Server::dbond(&[
        "ledger-key",
        "handovers",
        "--server",
        &server.addr,
        "--ledger-key",
        &hex::encode(first.to_bytes()),
        "--out",
        s(&handovers),
    ]);
    assert!(ok && out.contains("1 hand-overs"), "handovers: {out} {err}");
    let first_hex = hex::encode(first.to_bytes());
    let (ok, out, err) = Server::dbond(&[
        "verify-receipt",
        "--receipt",
        s(&receipt_file),
        "--ledger-key",
        &first_hex,
        "--handovers",
        s(&handovers),
    ]);
    assert!(
        ok && out.contains("receipt valid: entry 3"),
        "verify-receipt: {out} {err}"
    );
    let (ok, out, err) = Server::dbond(&[
        "verify-receipt",
        "--receipt",
        s(&receipt_file),
        "--ledger-key",
        &first_hex,
    ]);
    assert!(!ok, "a later key's receipt without hand-overs: {out}");
    assert!(err.contains("--handovers"), "{err}");

    // Offline: the stopped store and its export.
    server.stop();
    let data = server.data.display().to_string();
    let (ok, out, err) = Server::dbond(&["verify", "--data", &data]);
    assert!(ok, "verify --data: {out} {err}");
    let export = keys_dir.path().join("ledger.export");
    let (ok, out, err) = Server::dbond(&["export", "--data", &data, "--out", s(&export)]);
    assert!(ok, "export: {out} {err}");
    let (ok, out, err) = Server::dbond(&["verify", "--export", s(&export)]);
    assert!(ok, "verify --export: {out} {err}");

    // A restart with the old key is refused, saying which key is in force.
    let (ok, out, err) = Server::dbond(&["serve", "--data", &data, "--listen", "127.0.0.1:0"]);
    assert!(!ok, "a server with the rotated-out key started: {out}");
    assert!(err.contains("rotated out"), "{err}");
    assert!(
        err.contains(KeyId::of(&next.verifying_key()).as_str()),
        "{err}"
    );
    // With the new key it opens, appends under it, and the ledger still verifies.
    let mut server = Server::start_on_with(&server.data, &["--ledger-key", s(&next_key)]);
    let admin = server.admin().await;
    admin
        .register(
            "bank-b",
            pb::Role::Bank,
            &new_key().verifying_key(),
            "Bank B",
        )
        .await
        .unwrap();
    assert_eq!(crate::common::verify_over_the_wire(&admin).await, 5);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_is_refused_without_the_next_key_or_to_the_key_in_force() {
    let server = Server::start();
    let admin = server.admin().await;
    let first = keys::read_public_key(&server.data.join("ledger.pub")).unwrap();
    let refused = admin
        .rotate_ledger_key(&new_key().verifying_key())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("--next-ledger-key"),
        "{}",
        refused.message()
    );
    let same = admin.rotate_ledger_key(&first).await.unwrap_err();
    assert_eq!(same.code(), Code::InvalidArgument, "{same:?}");
    drop(server);

    let keys_dir = tempfile::tempdir().unwrap();
    let next = keys::generate();
    let next_key = keys_dir.path().join("next.key");
    keys::write_private_key(&next_key, &next).unwrap();
    let server = Server::start_with(&["--next-ledger-key", s(&next_key)]);
    let admin = server.admin().await;
    let other = new_key().verifying_key();
    let wrong = admin.rotate_ledger_key(&other).await.unwrap_err();
    assert_eq!(wrong.code(), Code::FailedPrecondition, "{wrong:?}");
    assert!(
        wrong.message().contains(KeyId::of(&other).as_str()),
        "{}",
        wrong.message()
    );
    assert!(
        wrong
            .message()
            .contains(KeyId::of(&next.verifying_key()).as_str()),
        "{}",
        wrong.message()
    );
    // Nothing was written by the refusals: the ledger is genesis alone.
    assert_eq!(crate::common::verify_over_the_wire(&admin).await, 1);
    // The same request by a bank is not the admin's.
    let bank = new_key();
    admin
        .register("bank-a", pb::Role::Bank, &bank.verifying_key(), "Bank A")
        .await
        .unwrap();
    let by_bank = server
        .client(bank)
        .await
        .rotate_ledger_key(&next.verifying_key())
        .await
        .unwrap_err();
    assert_eq!(by_bank.code(), Code::PermissionDenied, "{by_bank:?}");
}

/// The emergency replacement of a lost ledger key, end to end with the real
/// binary: a quorum of 2 of 3 recovery keys set while the key is in hand,
/// entries, the server stopped and restarted with a fresh key alone and
/// `--emergency-rotation` (every other write refused until the replacement),
/// two recovery keys' approvals made offline, a tampered approval refused
/// naming its key, the replacement, more entries, and every verifier across it:
/// `dbond verify --server` and `--data`, a receipt with the hand-over file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_replacement_on_a_quorum_of_two_of_three_verifies_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let recovery: Vec<_> = (0..3).map(|_| keys::generate()).collect();
    for (i, k) in recovery.iter().enumerate() {
        keys::write_private_key(&path(&format!("r{i}.key")), k).unwrap();
        keys::write_public_key(&path(&format!("r{i}.pub")), &k.verifying_key()).unwrap();
    }
    let new = keys::generate();
    keys::write_private_key(&path("new.key"), &new).unwrap();
    keys::write_public_key(&path("new.pub"), &new.verifying_key()).unwrap();

    let mut server = Server::start();
    let first = keys::read_public_key(&server.data.join("ledger.pub")).unwrap();
    let admin_key = server.data.join("admin.key");
    let admin = server.admin().await;
    admin
        .register(
            "bank-a",
            pb::Role::Bank,
            &new_key().verifying_key(),
            "Bank A",
        )
        .await
        .unwrap();
    let (ok, out, err) = Server::dbond(&[
        "ledger-key",
        "recovery-quorum",
        "--server",
        &server.addr,
        "--admin-key",
        s(&admin_key),
        "--threshold",
        "2",
        "--recovery-key",
        s(&path("r0.pub")),
        "--recovery-key",
        s(&path("r1.pub")),
        "--recovery-key",
        s(&path("r2.pub")),
    ]);
    assert!(ok, "recovery-quorum: {out} {err}");
    assert!(
        out.contains("recovery quorum set at entry 2: 2 of 3"),
        "{out}"
    );
    let auditor_key = new_key();
    keys::write_private_key(&path("auditor.key"), &auditor_key).unwrap();
    admin
        .register(
            "auditor",
            pb::Role::Auditor,
            &auditor_key.verifying_key(),
            "Auditor",
        )
        .await
        .unwrap();
    let head = admin.checkpoint().await.unwrap();
    let (cp, _) = dbond::ledger::checkpoint::parse_unverified(&head.checkpoint).unwrap();
    let (origin, size) = (cp.origin.clone(), cp.size);
    assert_eq!(size, 4);
    // The key is lost: the server stops.
    server.stop();
    let data = server.data.display().to_string();

    // The fresh key alone is refused without the flag.
    let (ok, out, err) = Server::dbond(&[
        "serve",
        "--data",
        &data,
        "--listen",
        "127.0.0.1:0",
        "--ledger-key",
        s(&path("new.key")),
    ]);
    assert!(!ok, "a server with a key not in force started: {out}");
    assert!(err.contains("does not match"), "{err}");
    let mut server = Server::start_on_with(
        &server.data,
        &["--ledger-key", s(&path("new.key")), "--emergency-rotation"],
    );
    let admin = server.admin().await;
    let waiting = admin
        .register(
            "bank-b",
            pb::Role::Bank,
            &new_key().verifying_key(),
            "Bank B",
        )
        .await
        .unwrap_err();
    assert_eq!(waiting.code(), Code::FailedPrecondition, "{waiting:?}");
    assert!(
        waiting.message().contains("EmergencyRotateLedgerKey"),
        "{}",
        waiting.message()
    );

    // Two recovery key holders approve offline.
    let after = size.to_string();
    for i in [0, 2] {
        let (ok, out, err) = Server::dbond(&[
            "ledger-key",
            "approve",
            "--recovery-key",
            s(&path(&format!("r{i}.key"))),
            "--ledger-id",
            &origin,
            "--new-key",
            s(&path("new.pub")),
            "--after-size",
            &after,
            "--out",
            s(&path(&format!("a{i}.json"))),
        ]);
        assert!(ok, "approve: {out} {err}");
    }
    // A tampered approval: the command refuses it naming the file and key, and
    // the server, sent it all the same, refuses it naming the key.
    let text = std::fs::read_to_string(path("a2.json")).unwrap();
    let mut tampered: serde_json::Value = serde_json::from_str(&text).unwrap();
    let signature = tampered["signature"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if signature.starts_with('0') { "1" } else { "0" },
        &signature[1..]
    );
    tampered["signature"] = serde_json::Value::String(flipped.clone());
    std::fs::write(path("bad.json"), tampered.to_string()).unwrap();
    let r2 = KeyId::of(&recovery[2].verifying_key()).to_string();
    let emergency = |approvals: &[&str]| {
        let mut args = vec![
            "ledger-key".to_string(),
            "emergency-rotate".into(),
            "--server".into(),
            server.addr.clone(),
            "--admin-key".into(),
            s(&admin_key).into(),
            "--approvals".into(),
        ];
        args.extend(approvals.iter().map(|a| s(&path(a)).to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Server::dbond(&args)
    };
    let (ok, out, err) = emergency(&["a0.json", "bad.json"]);
    assert!(!ok, "a tampered approval was sent: {out}");
    assert!(err.contains("bad.json") && err.contains(&r2), "{err}");
    let approval = |i: usize, signature: Vec<u8>| pb::RecoveryApproval {
        recovery_public_key: recovery[i].verifying_key().to_bytes().to_vec(),
        signature,
    };
    let good0 = {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path("a0.json")).unwrap()).unwrap();
        hex::decode(v["signature"].as_str().unwrap()).unwrap()
    };
    let refused = admin
        .emergency_rotate_ledger_key(
            &new.verifying_key(),
            size,
            vec![
                approval(0, good0.clone()),
                approval(2, hex::decode(&flipped).unwrap()),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains(&r2), "{}", refused.message());
    // One approval is not a quorum.
    let one = admin
        .emergency_rotate_ledger_key(&new.verifying_key(), size, vec![approval(0, good0)])
        .await
        .unwrap_err();
    assert_eq!(one.code(), Code::PermissionDenied, "{one:?}");
    assert!(one.message().contains("needs 2 of 3"), "{}", one.message());

    // Two of three: the replacement is entry 4, the new key signs from it on.
    let (ok, out, err) = emergency(&["a0.json", "a2.json"]);
    assert!(ok, "emergency-rotate: {out} {err}");
    assert!(out.contains("replaced at entry 4"), "{out}");
    admin
        .register(
            "bank-b",
            pb::Role::Bank,
            &new_key().verifying_key(),
            "Bank B",
        )
        .await
        .unwrap();
    let head = admin.checkpoint().await.unwrap();
    assert!(
        dbond::ledger::checkpoint::open(&head.checkpoint, &origin, &new.verifying_key()).is_ok()
    );
    assert!(dbond::ledger::checkpoint::open(&head.checkpoint, &origin, &first).is_err());
    let (ok, out, err) = Server::dbond(&[
        "verify",
        "--server",
        &server.addr,
        "--key",
        s(&path("auditor.key")),
    ]);
    assert!(ok, "verify --server: {out} {err}");
    // A receipt of entry 5 checks from the first key with the hand-over file,
    // which carries the quorum's entry and the replacement.
    let receipt = admin
        .receipt(pb::get_receipt::Target::Index(5))
        .await
        .unwrap();
    std::fs::write(
        path("receipt.json"),
        dbond::audit::receipt::ReceiptFile::from(&receipt).to_json(),
    )
    .unwrap();
    let first_hex = hex::encode(first.to_bytes());
    let (ok, out, err) = Server::dbond(&[
        "ledger-key",
        "handovers",
        "--server",
        &server.addr,
        "--ledger-key",
        &first_hex,
        "--out",
        s(&path("handovers.json")),
    ]);
    assert!(ok, "handovers: {out} {err}");
    let (ok, out, err) = Server::dbond(&[
        "verify-receipt",
        "--receipt",
        s(&path("receipt.json")),
        "--ledger-key",
        &first_hex,
        "--handovers",
        s(&path("handovers.json")),
    ]);
    assert!(
        ok && out.contains("receipt valid: entry 5"),
        "verify-receipt: {out} {err}"
    );
    server.stop();
    let (ok, out, err) = Server::dbond(&["verify", "--data", &data]);
    assert!(ok, "verify --data: {out} {err}");
    // The lost key is refused for good; the new key opens without the flag.
    let (ok, out, err) = Server::dbond(&["serve", "--data", &data, "--listen", "127.0.0.1:0"]);
    assert!(!ok && err.contains("rotated out"), "{out} {err}");
    let mut server = Server::start_on_with(&server.data, &["--ledger-key", s(&path("new.key"))]);
    let admin = server.admin().await;
    assert_eq!(crate::common::verify_over_the_wire(&admin).await, 6);
    server.stop();
}
