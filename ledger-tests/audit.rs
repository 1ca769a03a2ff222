//! Auditors' tools end to end: export files with no unchecked byte, receipts
//! checkable offline and only by whom they concern, verification of a running
//! server against its registry, witnessed checkpoints that catch a fork, and a
//! verifier that follows key rotations and revocations on the ledger itself.

use crate::common;

use common::programme::{at, create, issue, terms, world_on};
use common::{Backend, Server, new_key};
use dbond::audit::export::{ExportWriter, verify_export};
use dbond::audit::receipt::{ReceiptFile, verify_receipt};
use dbond::audit::{Verifier, online};
use dbond::client::{CommandKind, nonce, sign_request};
use dbond::clock::Clock;
use dbond::ledger::entry::{self, Origin};
use dbond::ledger::keys::{self, KeyId};
use dbond::ledger::merkle;
use dbond::proto as pb;
use ed25519_dalek::SigningKey;
use pb::get_receipt::Target;
use prost::Message;
use rayon::prelude::*;
use std::path::Path;
use tonic::Code;

const SERIES: &str = "AZ-2029-USD";

fn fixed() -> pb::coupon::Kind {
    pb::coupon::Kind::Fixed(pb::FixedCoupon {
        rate: "0.0525".into(),
    })
}

/// The whole ledger of an in-process server as an export file.
fn export_of(ledger: &dbond::store::Store) -> Vec<u8> {
    let (note, size) = ledger.read(|p| (p.checkpoint.clone(), p.size()));
    let mut w = ExportWriter::new(Vec::new(), size).unwrap();
    for item in ledger.entries(0, size) {
        let (index, bytes) = item.unwrap();
        w.entry(index, &bytes).unwrap();
    }
    w.finish(&note, &[]).unwrap()
}

fn entries_of(ledger: &dbond::store::Store) -> Vec<Vec<u8>> {
    ledger
        .entries(0, ledger.size())
        .map(|e| e.unwrap().1)
        .collect()
}

fn event_of(bytes: &[u8]) -> pb::event::Kind {
    entry::open(bytes)
        .unwrap()
        .body
        .event
        .unwrap()
        .kind
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_byte_of_an_export_is_checked() {
    every_byte_of_an_export_is_checked_on(Backend::Sled).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_byte_of_an_export_is_checked_on_postgres() {
    every_byte_of_an_export_is_checked_on(Backend::Postgres).await
}

async fn every_byte_of_an_export_is_checked_on(backend: Backend) {
    let w = world_on(backend).await;
    create(&w, terms(SERIES, "USD", fixed(), 2)).await;
    issue(&w, SERIES, 3).await;
    let bytes = export_of(&w.server.ledger);
    let ok = verify_export(&bytes[..], &[], |_, _| {}).expect("the export verifies");
    assert_eq!(ok.verified.size, w.server.ledger.size());
    println!(
        "export of {} entries, {} bytes",
        ok.verified.size,
        bytes.len()
    );

    // Change every byte in turn, the checkpoint note's included, three ways: its
    // lowest bit, one bit that moves along with the offset (so every bit
    // position is flipped somewhere in each part of the file), and all eight
    // bits. Each copy must be refused.
    let accepted: Vec<(usize, u8)> = (0..bytes.len())
        .into_par_iter()
        .flat_map_iter(|i| [(i, 0x01), (i, 1u8 << (i % 8)), (i, 0xff)])
        .filter(|&(i, mask)| {
            let mut bad = bytes.clone();
            bad[i] ^= mask;
            verify_export(&bad[..], &[], |_, _| {}).is_ok()
        })
        .collect();
    assert!(
        accepted.is_empty(),
        "changed bytes (offset, xor mask) {accepted:?} went unnoticed"
    );
    // Cut short anywhere, or with a byte too many: refused.
    for cut in [
        0,
        7,
        12,
        20,
        21,
        bytes.len() / 2,
        bytes.len() - 33,
        bytes.len() - 1,
    ] {
        assert!(
            verify_export(&bytes[..cut], &[], |_, _| {}).is_err(),
            "an export cut at {cut} bytes verified"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = verify_export(&longer[..], &[], |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("after the end"), "{err}");

    // The binary says the same, and names the entry.
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("ledger.dbx");
    std::fs::write(&good, &bytes).unwrap();
    let (ok, out, err) = Server::dbond(&["verify", "--export", good.to_str().unwrap()]);
    assert!(ok, "{out} {err}");
    assert!(
        out.contains(&format!("verified {} entries", w.server.ledger.size())),
        "{out}"
    );
    let step = bytes.len() / 16;
    for i in (0..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
        let mut bad = bytes.clone();
        bad[i] ^= 0x80;
        let path = dir.path().join(format!("bad-{i}.dbx"));
        std::fs::write(&path, &bad).unwrap();
        let (ok, out, err) = Server::dbond(&["verify", "--export", path.to_str().unwrap()]);
        assert!(!ok, "byte {i} flipped, yet: {out}");
        assert!(err.contains("verification FAILED"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_prove_one_entry_offline_to_whom_it_concerns() {
    receipts_prove_one_entry_offline_to_whom_it_concerns_on(Backend::Sled).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_prove_one_entry_offline_to_whom_it_concerns_on_postgres() {
    receipts_prove_one_entry_offline_to_whom_it_concerns_on(Backend::Postgres).await
}

async fn receipts_prove_one_entry_offline_to_whom_it_concerns_on(backend: Backend) {
    let w = world_on(backend).await;
    create(&w, terms(SERIES, "USD", fixed(), 2)).await;
    issue(&w, SERIES, 6).await;
    w.server.set_time(at(2029, 2, 1));
    w.engine.accrue("2029-01-31", |_, _| {}).await.unwrap();
    let ledger_key = *w.server.ledger.ledger_public_key();
    let (bank_a, bank_b) = (&w.banks[0], &w.banks[1]);
    let mine: Vec<pb::Subscription> = bank_a
        .all_subscriptions(SERIES)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.bank_id == "bank-a")
        .collect();
    let sub = &mine[0];
    let investor = sub.investor_ref.clone();
    let coupon = entries_of(&w.server.ledger)
        .iter()
        .find_map(|b| match event_of(b) {
            pb::event::Kind::CouponPaid(c) => Some(c.event_id),
            _ => None,
        })
        .expect("a coupon was paid");

    let targets = [
        (Target::SubscriptionId(sub.subscription_id), "subscription"),
        (
            Target::Holding(pb::HoldingRef {
                series_id: SERIES.into(),
                investor_ref: investor.clone(),
                bank_id: String::new(),
            }),
            "holding of",
        ),
        (
            Target::Payment(pb::PaymentRef {
                event_id: coupon.clone(),
                investor_ref: investor.clone(),
                bank_id: String::new(),
            }),
            "/coupon/",
        ),
        (
            Target::Payment(pb::PaymentRef {
                event_id: format!("{SERIES}/redemption"),
                investor_ref: investor.clone(),
                bank_id: "bank-a".into(),
            }),
            "/redemption paid",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let pinned = hex::encode(ledger_key.to_bytes());
    for (n, (target, what)) in targets.iter().enumerate() {
        let r = bank_a.receipt(target.clone()).await.unwrap();
        let file = ReceiptFile::from(&r);
        let checked = verify_receipt(&file, Some(&ledger_key)).unwrap();
        assert!(
            checked.description.contains(what),
            "{}",
            checked.description
        );
        assert!(
            checked.description.contains(&investor),
            "{}",
            checked.description
        );
        // The receipt carries one entry and hashes: no other holder is named.
        for other in ["inv-1", "inv-3", "inv-5"] {
            assert!(!checked.description.contains(other));
        }
        // The other bank may not have it; the auditor may.
        assert_eq!(
            bank_b.receipt(target.clone()).await.unwrap_err().code(),
            if matches!(target, Target::SubscriptionId(_)) || n == 3 {
                Code::PermissionDenied
            } else {
                Code::NotFound
            },
            "{target:?}"
        );
        let by_auditor = w.auditor.receipt(match target {
            Target::Holding(h) => Target::Holding(pb::HoldingRef {
                bank_id: "bank-a".into(),
                ..h.clone()
            }),
            Target::Payment(p) => Target::Payment(pb::PaymentRef {
                bank_id: "bank-a".into(),
                ..p.clone()
            }),
            t => t.clone(),
        });
        assert_eq!(by_auditor.await.unwrap().index, r.index);

        // Offline, with the binary: valid; any change to it: invalid.
        let path = dir.path().join(format!("receipt-{n}.json"));
        std::fs::write(&path, file.to_json()).unwrap();
        let p = path.to_str().unwrap();
        let (ok, out, err) =
            Server::dbond(&["verify-receipt", "--receipt", p, "--ledger-key", &pinned]);
        assert!(ok, "{out} {err}");
        assert!(
            out.contains("receipt valid") && out.contains("you trust"),
            "{out}"
        );
        let other_key = hex::encode(new_key().verifying_key().to_bytes());
        let (ok, _, err) =
            Server::dbond(&["verify-receipt", "--receipt", p, "--ledger-key", &other_key]);
        assert!(!ok && err.contains("key you trust"), "{err}");
        let mut tampered = Vec::new();
        let mut t = file.clone();
        t.index += 1;
        tampered.push(("index", t));
        let mut t = file.clone();
        t.tree_size -= 1;
        tampered.push(("tree size", t));
        let mut t = file.clone();
        let mut entry_bytes = base64_decode(&t.entry);
        let last = entry_bytes.len() - 1;
        entry_bytes[last] ^= 1;
        t.entry = base64_encode(&entry_bytes);
        tampered.push(("entry", t));
        let mut t = file.clone();
        if let Some(h) = t.inclusion_proof.first_mut() {
            let mut b = hex::decode(&*h).unwrap();
            b[0] ^= 1;
            *h = hex::encode(b);
        }
        tampered.push(("proof", t));
        let mut t = file.clone();
        t.inclusion_proof.clear();
        tampered.push(("empty proof", t));
        let mut t = file.clone();
        t.checkpoint = t
            .checkpoint
            .replacen(&format!("\n{}\n", t.tree_size), "\n1\n", 1);
        tampered.push(("checkpoint", t));
        for (what, t) in tampered {
            assert!(
                verify_receipt(&t, Some(&ledger_key)).is_err(),
                "a receipt with a changed {what} verified"
            );
            let bad = dir.path().join("tampered.json");
            std::fs::write(&bad, t.to_json()).unwrap();
            let (ok, _, err) =
                Server::dbond(&["verify-receipt", "--receipt", bad.to_str().unwrap()]);
            assert!(!ok && err.contains("receipt INVALID"), "{what}: {err}");
        }
    }

    // Refusals say why.
    for (target, code) in [
        (Target::SubscriptionId(999_999), Code::NotFound),
        (
            Target::Payment(pb::PaymentRef {
                event_id: format!("{SERIES}/record/1"),
                investor_ref: investor.clone(),
                bank_id: String::new(),
            }),
            Code::InvalidArgument,
        ),
        (
            Target::Holding(pb::HoldingRef {
                series_id: SERIES.into(),
                investor_ref: "not a ref!".into(),
                bank_id: String::new(),
            }),
            Code::InvalidArgument,
        ),
        (Target::Index(1), Code::PermissionDenied),
        (Target::Index(1 << 40), Code::NotFound),
    ] {
        assert_eq!(
            bank_a.receipt(target.clone()).await.unwrap_err().code(),
            code,
            "{target:?}"
        );
    }
    w.treasury
        .create_series(terms("AZ-2031-USD", "USD", fixed(), 4))
        .await
        .unwrap();
    let err = w
        .auditor
        .receipt(Target::Holding(pb::HoldingRef {
            series_id: "AZ-2031-USD".into(),
            investor_ref: investor.clone(),
            bank_id: "bank-a".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");

    // The auditor verifies the running server, registry included.
    let v = online::verify_server(&w.auditor, &[], |_, _| {})
        .await
        .expect("the server's ledger and registry verify");
    assert_eq!(v.verified.size, w.server.ledger.size());
    assert_eq!(v.compared.series, 2);
    assert_eq!(v.compared.holdings, 6);
    assert_eq!(v.compared.subscriptions, 6);
    assert_eq!(v.compared.participants, 6);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Seals an entry the way the server does, for a request it never accepted.
fn forge(
    ledger_key: &SigningKey,
    entries: &[Vec<u8>],
    origin: &str,
    signer: &SigningKey,
    when: chrono::DateTime<chrono::Utc>,
    command: CommandKind,
    event: pb::event::Kind,
) -> Vec<u8> {
    let signed = sign_request(signer, origin, command, when, &nonce());
    let prev = merkle::hash_leaf(entries.last().unwrap());
    entry::seal(
        entries.len() as u64,
        dbond::codec::timestamp_to_pb(when),
        &prev,
        pb::Event { kind: Some(event) },
        Origin::Actor(pb::Actor {
            key_id: signed.key_id,
            request: signed.payload,
            signature: signed.signature,
        }),
        ledger_key,
    )
    .bytes
}

fn verify_all(entries: &[Vec<u8>]) -> Result<u64, dbond::audit::VerifyFailure> {
    let mut v = Verifier::new();
    for e in entries {
        v.push(e)?;
    }
    v.finish().map(|v| v.size)
}

fn rotation(id: &str, old: &SigningKey, new: &SigningKey) -> (CommandKind, pb::event::Kind) {
    (
        CommandKind::RotateKey(pb::RotateKey {
            participant_id: id.into(),
            new_public_key: new.verifying_key().to_bytes().to_vec(),
        }),
        pb::event::Kind::KeyRotated(pb::KeyRotated {
            participant_id: id.into(),
            old_key_id: KeyId::of(&old.verifying_key()).to_string(),
            new_public_key: new.verifying_key().to_bytes().to_vec(),
            new_key_id: KeyId::of(&new.verifying_key()).to_string(),
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_follows_rotations_and_revocations() {
    the_verifier_follows_rotations_and_revocations_on(Backend::Sled).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_follows_rotations_and_revocations_on_postgres() {
    the_verifier_follows_rotations_and_revocations_on(Backend::Postgres).await
}

async fn the_verifier_follows_rotations_and_revocations_on(backend: Backend) {
    let w = world_on(backend).await;
    let origin = w.server.ledger.identity().origin.clone();
    let admin = w.server.admin().await;
    let (k1, k2, k3, k4) = (new_key(), new_key(), new_key(), new_key());
    admin
        .register("bank-c", pb::Role::Bank, &k1.verifying_key(), "Bank C")
        .await
        .unwrap();
    let c1 = admin.as_key(k1.clone());
    c1.rotate("bank-c", &k2.verifying_key()).await.unwrap();
    // Signed by the rotated-in key: valid from the entry after the rotation.
    admin
        .as_key(k2.clone())
        .rotate("bank-c", &k3.verifying_key())
        .await
        .unwrap();
    let rotated = entries_of(&w.server.ledger);
    assert_eq!(verify_all(&rotated).unwrap(), rotated.len() as u64);

    // The retired key k1 signing after its rotation: refused, naming the entry.
    let now = w.server.clock.now();
    let (cmd, ev) = rotation("bank-c", &k1, &k4);
    let mut forged = rotated.clone();
    forged.push(forge(
        &w.server.ledger_key,
        &rotated,
        &origin,
        &k1,
        now,
        cmd,
        ev,
    ));
    let err = verify_all(&forged).unwrap_err();
    assert_eq!(err.index, rotated.len() as u64, "{err}");
    assert!(err.reason.contains("participant signature"), "{err}");

    // Revoked: its current key k3 may not sign after the revocation entry.
    admin.revoke("bank-c", "licence withdrawn").await.unwrap();
    let revoked = entries_of(&w.server.ledger);
    verify_all(&revoked).unwrap();
    let (cmd, ev) = rotation("bank-c", &k3, &k4);
    let mut forged = revoked.clone();
    forged.push(forge(
        &w.server.ledger_key,
        &revoked,
        &origin,
        &k3,
        now,
        cmd,
        ev,
    ));
    let err = verify_all(&forged).unwrap_err();
    assert_eq!(err.index, revoked.len() as u64, "{err}");
    assert!(err.reason.contains("participant signature"), "{err}");
    // And a forged entry needs the ledger key: another key's seal is refused.
    let (cmd, ev) = rotation("bank-c", &k3, &k4);
    let mut forged = revoked.clone();
    forged.push(forge(&new_key(), &revoked, &origin, &k3, now, cmd, ev));
    let err = verify_all(&forged).unwrap_err();
    assert_eq!(err.index, revoked.len() as u64, "{err}");

    // Entries reordered, dropped or duplicated: refused at the first one out of place.
    let n = revoked.len();
    let mut swapped = revoked.clone();
    swapped.swap(n - 2, n - 1);
    let mut dropped = revoked.clone();
    dropped.remove(n - 2);
    let mut duplicated = revoked.clone();
    duplicated.insert(n - 1, revoked[n - 2].clone());
    for (what, list) in [
        ("swapped", swapped),
        ("dropped", dropped),
        ("duplicated", duplicated),
    ] {
        let err = verify_all(&list).unwrap_err();
        assert!(
            err.index == (n - 2) as u64 || err.index == (n - 1) as u64,
            "{what}: {err}"
        );
    }
    // The harness can fail: the untouched list verifies.
    assert_eq!(verify_all(&revoked).unwrap(), n as u64);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_verify_and_witness_through_the_binary() {
    let mut server = Server::start();
    let admin = server.admin().await;
    let dir = tempfile::tempdir().unwrap();
    let auditor_key = new_key();
    let auditor_file = dir.path().join("auditor.key");
    keys::write_private_key(&auditor_file, &auditor_key).unwrap();
    admin
        .register(
            "auditor",
            pb::Role::Auditor,
            &auditor_key.verifying_key(),
            "Auditor",
        )
        .await
        .unwrap();
    for i in 0..3 {
        admin
            .register(
                &format!("bank-{i}"),
                pb::Role::Bank,
                &new_key().verifying_key(),
                "Bank",
            )
            .await
            .unwrap();
    }
    let key = auditor_file.to_str().unwrap().to_string();
    let witness = dir.path().join("witness");
    let w = witness.to_str().unwrap().to_string();
    let run = |args: &[&str]| Server::dbond(args);

    // Witness: trust starts at the first checkpoint.
    let addr = server.addr.clone();
    let (ok, out, err) = run(&[
        "checkpoint",
        "--server",
        &addr,
        "--key",
        &key,
        "--witness",
        &w,
        "--save",
    ]);
    assert!(ok && out.contains("first checkpoint"), "{out} {err}");
    let (ok, out, _) = run(&[
        "checkpoint",
        "--server",
        &addr,
        "--key",
        &key,
        "--witness",
        &w,
    ]);
    assert!(ok && out.contains("nothing new"), "{out}");

    // Online verification and exports, whole and prefix.
    let (ok, out, err) = run(&["verify", "--server", &addr, "--key", &key, "--witness", &w]);
    assert!(ok, "{out} {err}");
    assert!(
        out.contains("verified 5 entries") && out.contains("5 participants"),
        "{out}"
    );
    let whole = dir.path().join("whole.dbx");
    let prefix = dir.path().join("prefix.dbx");
    let (ok, out, err) = run(&[
        "export",
        "--server",
        &addr,
        "--key",
        &key,
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert!(ok, "{out} {err}");
    let (ok, out, err) = run(&[
        "export",
        "--server",
        &addr,
        "--key",
        &key,
        "--to",
        "3",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    assert!(ok, "{out} {err}");
    let (ok, out, err) = run(&["verify", "--export", prefix.to_str().unwrap()]);
    assert!(
        ok && out.contains("verified 3 entries")
            && out.contains("consistent with the signed checkpoint of size 5"),
        "{out} {err}"
    );
    let (ok, out, err) = run(&[
        "verify",
        "--export",
        whole.to_str().unwrap(),
        "--witness",
        &w,
    ]);
    assert!(ok && out.contains("verified 5 entries"), "{out} {err}");
    // A prefix is older than what the witness saw.
    let (ok, _, err) = run(&[
        "verify",
        "--export",
        prefix.to_str().unwrap(),
        "--witness",
        &w,
    ]);
    assert!(!ok && err.contains("ROLLBACK"), "{err}");

    // The ledger grows: the new checkpoint is proved to extend the saved one.
    admin
        .register("bank-9", pb::Role::Bank, &new_key().verifying_key(), "Bank")
        .await
        .unwrap();
    let (ok, out, err) = run(&[
        "checkpoint",
        "--server",
        &addr,
        "--key",
        &key,
        "--witness",
        &w,
        "--save",
    ]);
    assert!(ok && out.contains("grew from 5 to 6"), "{out} {err}");

    // A fork: a copy of the store taken now, and the original, each grow by one
    // different entry under the same ledger key.
    drop(admin);
    server.stop();
    let data2 = dir.path().join("data2");
    copy_dir(&server.data, &data2);
    server.restart();
    let admin = server.admin().await;
    admin
        .register(
            "bank-x",
            pb::Role::Bank,
            &new_key().verifying_key(),
            "Bank X",
        )
        .await
        .unwrap();
    let (ok, out, err) = run(&[
        "checkpoint",
        "--server",
        &server.addr,
        "--key",
        &key,
        "--witness",
        &w,
        "--save",
    ]);
    assert!(ok && out.contains("grew from 6 to 7"), "{out} {err}");
    let mut other = Server::start_on(&data2);
    other
        .admin()
        .await
        .register(
            "bank-y",
            pb::Role::Bank,
            &new_key().verifying_key(),
            "Bank Y",
        )
        .await
        .unwrap();
    let (ok, out, err) = run(&[
        "checkpoint",
        "--server",
        &other.addr,
        "--key",
        &key,
        "--witness",
        &w,
        "--save",
    ]);
    assert!(!ok && err.contains("FORK"), "{out} {err}");
    assert!(
        std::fs::read_dir(&witness).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("fork-7-")),
        "the conflicting note is kept as evidence"
    );
    other.stop();
    let (ok, _, err) = run(&["verify", "--data", data2.to_str().unwrap(), "--witness", &w]);
    assert!(!ok && err.contains("FORK"), "{err}");
    // The original verifies against everything it witnessed.
    drop(admin);
    server.stop();
    let (ok, out, err) = run(&[
        "verify",
        "--data",
        server.data.to_str().unwrap(),
        "--witness",
        &w,
    ]);
    assert!(
        ok && out.contains("consistent with the 3 saved checkpoint(s)"),
        "{out} {err}"
    );
}

#[test]
fn receipt_files_refuse_unknown_fields() {
    let err = ReceiptFile::from_json(r#"{"format":"dbond-receipt-v1","extra":1}"#).unwrap_err();
    assert!(err.to_string().contains("not a receipt"), "{err}");
    let _ = pb::EntryReceipt::default().encode_to_vec();
}

/// `entries` sealed again from entry `at` on, entry `at`'s event changed by
/// `tamper`: each entry keeps its recorded time, event and origin (the
/// participant's signed request, or the entry it derives from) and takes the
/// new hash link, signed with the ledger key, as the server would have written
/// it. Signatures and hashes are all valid; only re-deciding each request can
/// tell.
fn resealed(
    ledger_key: &SigningKey,
    entries: &[Vec<u8>],
    at: usize,
    tamper: impl FnOnce(&mut pb::event::Kind),
) -> Vec<Vec<u8>> {
    let mut out = entries[..at].to_vec();
    let mut tamper = Some(tamper);
    for bytes in &entries[at..] {
        let opened = entry::open(bytes).unwrap();
        let body = opened.body;
        let mut event = body.event.unwrap();
        if let Some(f) = tamper.take() {
            f(event.kind.as_mut().unwrap());
        }
        let origin = match body.actor {
            Some(actor) => Origin::Actor(actor),
            None => Origin::Cause(body.cause_index),
        };
        let prev = merkle::hash_leaf(out.last().unwrap());
        out.push(
            entry::seal(
                body.index,
                body.recorded_at.unwrap(),
                &prev,
                event,
                origin,
                ledger_key,
            )
            .bytes,
        );
    }
    out
}

/// An export of `entries` with a checkpoint of all of them signed by the
/// ledger key.
fn export_signed(ledger_key: &SigningKey, origin: &str, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut tree = merkle::MemoryTree::new();
    for e in entries {
        tree.push(merkle::hash_leaf(e));
    }
    let cp = dbond::ledger::checkpoint::Checkpoint {
        origin: origin.into(),
        size: entries.len() as u64,
        root: tree.root(),
        extensions: vec![],
    };
    let note = dbond::ledger::checkpoint::sign(&cp, origin, ledger_key);
    let mut w = ExportWriter::new(Vec::new(), entries.len() as u64).unwrap();
    for (i, e) in entries.iter().enumerate() {
        w.entry(i as u64, e).unwrap();
    }
    w.finish(&note, &[]).unwrap()
}

/// `dbond verify --export` on `entries`: (accepted, stdout, stderr).
fn verify_binary(dir: &Path, name: &str, bytes: &[u8]) -> (bool, String, String) {
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    Server::dbond(&["verify", "--export", file.to_str().unwrap()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_re_decides_withholding_and_reopening_figures() {
    use dbond::client::{Reopening, SeriesAction};
    let w = world_on(Backend::Sled).await;
    create(&w, terms(SERIES, "USD", fixed(), 2)).await;
    // inv-0 (1 unit) and inv-2 (75) at bank-a, inv-1 (38) at bank-b, all DE.
    issue(&w, SERIES, 3).await;
    w.treasury
        .set_withholding_table(
            SERIES,
            "2027-01-01",
            "0.15",
            &[("DE".into(), "0.05".into())],
        )
        .await
        .unwrap();
    w.server.set_time(at(2027, 2, 1));
    w.banks[1]
        .record_residence("inv-1", "GB", "2027-03-01")
        .await
        .unwrap();
    // A tranche of 10 units at 6 % less 100 bp, settling 2027-03-15.
    let reopened = w
        .treasury
        .reopen_series(&Reopening {
            series_id: SERIES.into(),
            window_opens_at: at(2027, 2, 1),
            window_closes_at: at(2027, 2, 20),
            settlement_date: "2027-03-15".into(),
            settlement_deadline: at(2027, 3, 1),
            reference_yield: "0.06".into(),
            discount_bps: "100".into(),
            cap_units: "10".into(),
        })
        .await
        .unwrap();
    let reopened_at = reopened.receipt.unwrap().index as usize;
    w.server.set_time(at(2027, 2, 2));
    let sub = w.banks[0]
        .submit(pb::SubmitSubscription {
            series_id: SERIES.into(),
            investor_ref: "inv-9".into(),
            category: pb::DiasporaCategory::CitizenAbroad as i32,
            country: "DE".into(),
            units: "10".into(),
            idempotency_key: "tranche-inv-9".into(),
            registration: None,
        })
        .await
        .unwrap()
        .subscription
        .unwrap()
        .subscription_id;
    w.server.set_time(at(2027, 2, 21));
    for action in [SeriesAction::Close, SeriesAction::Allot] {
        w.treasury.series_action(action, SERIES).await.unwrap();
    }
    w.banks[0].settle(sub).await.unwrap();
    w.server.set_time(at(2027, 3, 15));
    w.treasury
        .series_action(SeriesAction::Issue, SERIES)
        .await
        .unwrap();
    // The first coupon (2027-07-15) withholds 15 % from inv-1, now in GB.
    w.server.set_time(at(2027, 7, 16));
    loop {
        let due = w.engine.list_due("").await.unwrap();
        let Some(next) = due.due.iter().find(|d| d.series_id == SERIES) else {
            break;
        };
        w.engine.post_accrual(SERIES, &next.event_id).await.unwrap();
    }

    let entries = entries_of(&w.server.ledger);
    let origin = w.server.ledger.identity().origin.clone();
    let key = &w.server.ledger_key;
    let (paid_at, withheld) = entries
        .iter()
        .enumerate()
        .find_map(|(i, e)| match event_of(e) {
            pb::event::Kind::CouponPayments(p) if p.payments[0].investor_ref == "inv-1" => {
                let w = p.payments[0].withholding.as_ref().unwrap();
                assert_eq!(w.residence, "GB");
                assert_eq!(w.rate, "0.15");
                Some((i, w.withheld.clone()))
            }
            _ => None,
        })
        .expect("inv-1's coupon payment");
    let pb::event::Kind::SeriesReopened(t) = event_of(&entries[reopened_at]) else {
        panic!("entry {reopened_at} is the reopening");
    };
    let price = t.price_per_unit.clone();
    assert_eq!(t.issue_yield, "0.05");

    let dir = tempfile::tempdir().unwrap();
    // The harness can fail: sealed again unchanged, the ledger verifies.
    let same = resealed(key, &entries, reopened_at, |_| {});
    assert_eq!(same, entries, "sealing again gives the same bytes");
    let (ok, out, err) = verify_binary(dir.path(), "same.dbx", &export_signed(key, &origin, &same));
    assert!(ok, "{out} {err}");

    // (a) Less tax withheld from inv-1's coupon, the net raised to match.
    let forged = resealed(key, &entries, paid_at, |k| {
        let pb::event::Kind::CouponPayments(p) = k else {
            unreachable!()
        };
        let payment = &mut p.payments[0];
        let gross = payment.amount.clone();
        let pw = payment.withholding.as_mut().unwrap();
        pw.withheld = "0.00".into();
        pw.net = gross;
    });
    assert_ne!(forged, entries);
    let (ok, out, err) = verify_binary(
        dir.path(),
        "withheld.dbx",
        &export_signed(key, &origin, &forged),
    );
    assert!(!ok, "a forged withholding verified: {out}");
    println!("{}", err.trim_end());
    for part in [
        "verification FAILED".to_string(),
        format!("entry {paid_at}:"),
        format!(
            "payments.withholding.withheld is 0.00 on the ledger, the request decides {withheld}"
        ),
    ] {
        assert!(err.contains(&part), "{part:?} not in {err}");
    }

    // (b) The tranche sold cheaper than the reference yield less the discount prices it.
    let forged = resealed(key, &entries, reopened_at, |k| {
        let pb::event::Kind::SeriesReopened(t) = k else {
            unreachable!()
        };
        t.price_per_unit = "899.00".into();
    });
    let (ok, out, err) = verify_binary(
        dir.path(),
        "tranche.dbx",
        &export_signed(key, &origin, &forged),
    );
    assert!(!ok, "a forged tranche price verified: {out}");
    for part in [
        "verification FAILED".to_string(),
        format!("entry {reopened_at}:"),
        format!("price_per_unit is 899.00 on the ledger, the request decides {price}"),
    ] {
        assert!(err.contains(&part), "{part:?} not in {err}");
    }
}
