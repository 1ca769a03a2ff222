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
