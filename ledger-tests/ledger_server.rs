//! End-to-end tests of the signed ledger server: participants and keys, every
//! authentication failure, proofs (and tampered proofs), restart and tamper
//! detection. Each test runs the real `dbond serve` on 127.0.0.1.

use crate::common;

use common::{Server, new_key};
use dbond::client::CommandKind;
use dbond::ledger::{checkpoint, keys, merkle};
use dbond::proto as pb;
use tonic::Code;

async fn size(c: &dbond::client::Client) -> u64 {
    dbond::client::ledger_info(c.channel())
        .await
        .unwrap()
        .tree_size
}

#[tokio::test]
async fn participants_register_rotate_revoke_and_list() {
    let server = Server::start();
    let admin = server.admin().await;
    assert_eq!(size(&admin).await, 1, "a new ledger holds only genesis");

    let treasury_key = new_key();
    let bank_key = new_key();
    let r = admin
        .register(
            "treasury",
            pb::Role::Treasury,
            &treasury_key.verifying_key(),
            "Ministry of Finance",
        )
        .await
        .unwrap();
    assert_eq!(r.receipt.as_ref().unwrap().index, 1);
    assert_eq!(
        r.participant.as_ref().unwrap().key_id,
        keys::KeyId::of(&treasury_key.verifying_key()).as_str()
    );
    let r = admin
        .register(
            "bank-a",
            pb::Role::Bank,
            &bank_key.verifying_key(),
            "Bank A",
        )
        .await
        .unwrap();
    assert_eq!(r.receipt.as_ref().unwrap().index, 2);
    assert_eq!(r.receipt.as_ref().unwrap().tree_size, 3);

    let list = admin.list_participants().await.unwrap();
    let ids: Vec<&str> = list.iter().map(|p| p.participant_id.as_str()).collect();
    assert_eq!(ids, vec!["admin", "bank-a", "treasury"]);

    // The bank can act, then rotates its own key: the old key stops working.
    let bank = server.client(bank_key.clone()).await;
    assert!(bank.list_participants().await.is_ok());
    let bank_key2 = new_key();
    let r = bank
        .rotate("bank-a", &bank_key2.verifying_key())
        .await
        .unwrap();
    assert_eq!(
        r.participant.unwrap().key_id,
        keys::KeyId::of(&bank_key2.verifying_key()).as_str()
    );
    let err = bank.list_participants().await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(
        err.message().contains("rotated out or revoked"),
        "{}",
        err.message()
    );
    let bank2 = bank.as_key(bank_key2.clone());
    assert!(bank2.list_participants().await.is_ok());

    // A bank cannot rotate another participant's key.
    let err = bank2
        .rotate("treasury", &new_key().verifying_key())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Admin rotates the treasury key.
    let treasury_key2 = new_key();
    admin
        .rotate("treasury", &treasury_key2.verifying_key())
        .await
        .unwrap();
    let err = server
        .client(treasury_key)
        .await
        .list_participants()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    // Revocation: the bank is locked out.
    let r = admin.revoke("bank-a", "licence withdrawn").await.unwrap();
    assert_eq!(
        r.participant.unwrap().status,
        pb::ParticipantStatus::Revoked as i32
    );
    let err = bank2.list_participants().await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // Revoking twice, or rotating a revoked participant, is refused.
    assert_eq!(
        admin.revoke("bank-a", "again").await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    assert_eq!(
        admin
            .rotate("bank-a", &new_key().verifying_key())
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    // The last admin cannot be revoked.
    let err = admin.revoke("admin", "oops").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("last active admin"));
    assert_eq!(
        size(&admin).await,
        6,
        "genesis, 2 registrations, 2 rotations, 1 revocation"
    );
}

#[tokio::test]
async fn registration_input_is_validated() {
    let server = Server::start();
    let admin = server.admin().await;
    let key = new_key();
    let before = size(&admin).await;

    let err = admin
        .register("Bank A", pb::Role::Bank, &key.verifying_key(), "Bank A")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    use tonic_types::StatusExt;
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "participant_id"
    );

    let err = admin
        .register(
            "bank-a",
            pb::Role::Unspecified,
            &key.verifying_key(),
            "Bank A",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = admin
        .register("bank-a", pb::Role::Bank, &key.verifying_key(), "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = admin
        .register(
            "bank-a",
            pb::Role::Bank,
            &key.verifying_key(),
            &"x".repeat(1000),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // A malformed public key and an unknown role value.
    let signed = admin.sign(CommandKind::RegisterParticipant(pb::RegisterParticipant {
        participant_id: "bank-b".into(),
        role: 99,
        public_key: vec![1, 2, 3],
        display_name: "B".into(),
    }));
    let err = admin
        .participants()
        .register_participant(pb::RegisterParticipantRequest {
            signed: Some(signed),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(size(&admin).await, before, "refusals write nothing");

    admin
        .register("bank-a", pb::Role::Bank, &key.verifying_key(), "Bank A")
        .await
        .unwrap();
    let err = admin
        .register(
            "bank-a",
            pb::Role::Bank,
            &new_key().verifying_key(),
            "Bank A",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let err = admin
        .register("bank-b", pb::Role::Bank, &key.verifying_key(), "Bank B")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "one key, one participant");
    assert_eq!(size(&admin).await, before + 1);
}

#[tokio::test]
async fn every_authentication_failure_is_refused_and_writes_nothing() {
    let server = Server::start();
    let admin = server.admin().await;
    let bank_key = new_key();
    admin
        .register(
            "bank-a",
            pb::Role::Bank,
            &bank_key.verifying_key(),
            "Bank A",
        )
        .await
        .unwrap();
    let before = size(&admin).await;
    let new_pk = new_key().verifying_key().to_bytes().to_vec();
    let register = |id: &str| {
        CommandKind::RegisterParticipant(pb::RegisterParticipant {
            participant_id: id.into(),
            role: pb::Role::Auditor as i32,
            public_key: new_pk.clone(),
            display_name: "Auditor".into(),
        })
    };
    let send = |signed: Option<pb::SignedRequest>| {
        let mut svc = admin.participants();
        async move {
            svc.register_participant(pb::RegisterParticipantRequest { signed })
                .await
        }
    };

    // Not signed at all.
    let err = send(None).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    // Unknown key.
    let stranger = admin.as_key(new_key());
    let err = send(Some(stranger.sign(register("aud-1"))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("not registered"));

    // Wrong key: the admin's key id with another key's signature.
    let mut forged = stranger.sign(register("aud-1"));
    forged.key_id = admin.key_id().to_string();
    let err = send(Some(forged)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("signature does not verify"));

    // Tampered payload after signing.
    let mut tampered = admin.sign(register("aud-1"));
    let last = tampered.payload.len() - 1;
    tampered.payload[last] ^= 1;
    assert_eq!(
        send(Some(tampered)).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // Malformed key id and truncated signature.
    let mut bad = admin.sign(register("aud-1"));
    bad.key_id = "ADMIN".into();
    assert_eq!(
        send(Some(bad)).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut bad = admin.sign(register("aud-1"));
    bad.signature.truncate(10);
    assert_eq!(
        send(Some(bad)).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // Stale and future requests.
    let now = chrono::Utc::now();
    let stale = admin.sign_with(
        register("aud-1"),
        now - chrono::Duration::minutes(10),
        &[1u8; 16],
    );
    let err = send(Some(stale)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("stale"));
    let future = admin.sign_with(
        register("aud-1"),
        now + chrono::Duration::minutes(10),
        &[2u8; 16],
    );
    assert_eq!(
        send(Some(future)).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // Signed for another ledger.
    let elsewhere = dbond::client::Client::with_channel(
        admin.channel().clone(),
        server.admin_key(),
        "another-ledger".into(),
    );
    let err = send(Some(elsewhere.sign(register("aud-1"))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("another-ledger"));

    // Nonce too short.
    let short = admin.sign_with(register("aud-1"), now, &[3u8; 4]);
    assert_eq!(
        send(Some(short)).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    // A payload for another RPC.
    let wrong_rpc = admin.sign(CommandKind::ListParticipants(pb::ListParticipants {}));
    let err = send(Some(wrong_rpc)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("ListParticipants"));

    // Wrong role.
    let bank = admin.as_key(bank_key);
    let err = send(Some(bank.sign(register("aud-1")))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Reads are authenticated too.
    let err = admin
        .ledger()
        .get_checkpoint(pb::GetCheckpointRequest { signed: None })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = stranger.checkpoint().await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = bank.stream_entries(0, 0).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "banks do not stream the whole ledger"
    );

    assert_eq!(size(&admin).await, before, "no refusal wrote anything");

    // Replay: the first use succeeds, the captured copy is refused.
    let signed = admin.sign(register("aud-1"));
    send(Some(signed.clone())).await.unwrap();
    let err = send(Some(signed)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("replayed"));
    assert_eq!(size(&admin).await, before + 1);
}

#[tokio::test]
async fn replay_is_refused_after_a_restart() {
    let mut server = Server::start();
    let admin = server.admin().await;
    let signed = admin.sign(CommandKind::RegisterParticipant(pb::RegisterParticipant {
        participant_id: "aud-1".into(),
        role: pb::Role::Auditor as i32,
        public_key: new_key().verifying_key().to_bytes().to_vec(),
        display_name: "Auditor".into(),
    }));
    admin
        .participants()
        .register_participant(pb::RegisterParticipantRequest {
            signed: Some(signed.clone()),
        })
        .await
        .unwrap();
    server.stop();
    server.restart();
    let admin = server.admin().await;
    let err = admin
        .participants()
        .register_participant(pb::RegisterParticipantRequest {
            signed: Some(signed),
        })
        .await
        .unwrap_err();
    // The participant exists, but the replay is caught first, by its nonce.
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
}

#[tokio::test]
async fn checkpoints_and_proofs_verify_and_tampered_ones_do_not() {
    let server = Server::start();
    let admin = server.admin().await;
    for i in 0..12 {
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
    let info = dbond::client::ledger_info(admin.channel()).await.unwrap();
    let ledger_key = keys::parse_public_key(&info.ledger_public_key).unwrap();
    let cp_resp = admin.checkpoint().await.unwrap();
    let cp = checkpoint::open(&cp_resp.checkpoint, &info.checkpoint_key_name, &ledger_key)
        .expect("checkpoint verifies");
    assert_eq!(cp.size, 13);
    assert_eq!(cp.origin, info.origin);
    assert_eq!(cp.root.to_vec(), cp_resp.root_hash);
    // Another key does not open it.
    assert!(
        checkpoint::open(
            &cp_resp.checkpoint,
            &info.checkpoint_key_name,
            &new_key().verifying_key()
        )
        .is_err()
    );

    let to_hashes = |v: &[Vec<u8>]| {
        v.iter()
            .map(|h| <[u8; 32]>::try_from(h.as_slice()).unwrap())
            .collect::<Vec<_>>()
    };
    for index in 0..cp.size {
        let entry = admin.entry(index).await.unwrap();
        let leaf = merkle::hash_leaf(&entry.entry);
        assert_eq!(leaf.to_vec(), entry.entry_hash);
        let p = admin.inclusion_proof(index, cp.size).await.unwrap();
        assert_eq!(p.leaf_hash, entry.entry_hash);
        let proof = to_hashes(&p.proof);
        merkle::verify_inclusion(&leaf, index, cp.size, &proof, &cp.root)
            .expect("inclusion proof verifies");
        // Tampered twins.
        if !proof.is_empty() {
            let mut flipped = proof.clone();
            flipped[0][0] ^= 1;
            assert!(merkle::verify_inclusion(&leaf, index, cp.size, &flipped, &cp.root).is_err());
            assert!(merkle::verify_inclusion(&leaf, index, cp.size, &[], &cp.root).is_err());
        }
        let other = (index + 1) % cp.size;
        assert!(
            merkle::verify_inclusion(&leaf, other, cp.size, &proof, &cp.root).is_err(),
            "wrong index"
        );
        assert!(
            merkle::verify_inclusion(&leaf, index, cp.size, &proof, &merkle::hash_leaf(b"x"))
                .is_err(),
            "wrong root"
        );
    }
    for old in 1..cp.size {
        let p = admin.consistency_proof(old, cp.size).await.unwrap();
        let proof = to_hashes(&p.proof);
        let old_root: [u8; 32] = p.old_root_hash.as_slice().try_into().unwrap();
        merkle::verify_consistency(old, cp.size, &old_root, &cp.root, &proof)
            .expect("consistency proof verifies");
        let mut wrong_old = old_root;
        wrong_old[5] ^= 0x80;
        assert!(merkle::verify_consistency(old, cp.size, &wrong_old, &cp.root, &proof).is_err());
        if !proof.is_empty() {
            assert!(
                merkle::verify_consistency(old, cp.size, &old_root, &cp.root, &proof[1..]).is_err()
            );
        }
    }
    // Out of range requests are refused precisely.
    assert_eq!(
        admin.inclusion_proof(13, 13).await.unwrap_err().code(),
        Code::OutOfRange
    );
    assert_eq!(
        admin.inclusion_proof(0, 99).await.unwrap_err().code(),
        Code::OutOfRange
    );
    assert_eq!(
        admin.consistency_proof(0, 5).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(admin.entry(1000).await.unwrap_err().code(), Code::NotFound);

    // Streaming returns exactly the stored entries, in order.
    let mut stream = admin.stream_entries(3, 9).await.unwrap();
    let mut got = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        got.push(m.index);
        assert_eq!(m.entry, admin.entry(m.index).await.unwrap().entry);
    }
    assert_eq!(got, (3..9).collect::<Vec<_>>());
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    let server = Server::start();
    let admin = server.admin().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(admin.channel().clone());
    let resp = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "diaspora.bonds.v1.LedgerService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        resp.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(admin.channel().clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let first = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("unexpected reflection reply")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"diaspora.bonds.v1.LedgerService".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"diaspora.bonds.v1.ParticipantService".to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn restart_keeps_state_and_verify_checks_the_store() {
    let mut server = Server::start();
    let admin = server.admin().await;
    for i in 0..5 {
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
    admin.revoke("bank-3", "test").await.unwrap();
    let before = admin.list_participants().await.unwrap();
    let cp_before = admin.checkpoint().await.unwrap();
    let status = server.stop();
    assert!(status.success(), "SIGTERM gives a clean exit: {status}");

    let data = server.data.to_str().unwrap().to_string();
    let (ok, out, err) = Server::dbond(&["verify", "--data", &data]);
    assert!(ok, "verify failed: {out} {err}");
    assert!(out.contains("verified 7 entries"), "{out}");

    server.restart();
    let admin = server.admin().await;
    assert_eq!(admin.list_participants().await.unwrap(), before);
    let cp_after = admin.checkpoint().await.unwrap();
    assert_eq!(cp_after.root_hash, cp_before.root_hash);
    let p = admin.consistency_proof(3, 7).await.unwrap();
    assert_eq!(p.new_root_hash, cp_before.root_hash);
}

#[tokio::test]
async fn a_changed_byte_on_disk_is_detected_by_verify_and_by_open() {
    let mut server = Server::start();
    let admin = server.admin().await;
    for i in 0..4 {
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
    server.stop();
    // Change one byte of entry 2's display name inside the store.
    {
        let db = sled::open(server.data.join("store")).unwrap();
        let tree = db.open_tree("ledger-v1").unwrap();
        let mut key = vec![b'e'];
        key.extend_from_slice(&2u64.to_be_bytes());
        let mut bytes = tree.get(&key).unwrap().unwrap().to_vec();
        let pos = bytes
            .windows(4)
            .position(|w| w == b"Bank")
            .expect("display name in entry");
        bytes[pos] = b'b';
        tree.insert(&key, bytes).unwrap();
        db.flush().unwrap();
    }
    let data = server.data.to_str().unwrap().to_string();
    let (ok, out, err) = Server::dbond(&["verify", "--data", &data]);
    assert!(!ok, "verify must fail: {out}");
    assert!(err.contains("entry 2"), "names the entry: {err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbond"))
        .args(["serve", "--data", &data, "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve must refuse a corrupt store");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt"), "{err}");
}

/// One request's outcome in a batch reply: Ok(receipt) or Err((code, message)).
fn batch_outcome(r: &pb::BatchResult) -> Result<pb::Receipt, (Code, String)> {
    match r.outcome.as_ref().expect("every result has an outcome") {
        pb::batch_result::Outcome::Receipt(rc) => Ok(rc.clone()),
        pb::batch_result::Outcome::Error(e) => {
            assert_eq!(
                e.code_name,
                format!("{:?}", Code::from(e.code))
                    .chars()
                    .fold(String::new(), |mut s, c| {
                        if c.is_uppercase() && !s.is_empty() {
                            s.push('_');
                        }
                        s.push(c.to_ascii_uppercase());
                        s
                    }),
                "the code's name matches its number"
            );
            Err((Code::from(e.code), e.message.clone()))
        }
    }
}

fn register(id: &str, key: &ed25519_dalek::SigningKey) -> CommandKind {
    CommandKind::RegisterParticipant(pb::RegisterParticipant {
        participant_id: id.into(),
        role: pb::Role::Bank as i32,
        public_key: key.verifying_key().to_bytes().to_vec(),
        display_name: "Batch bank".into(),
    })
}

#[tokio::test]
async fn a_batch_records_each_request_on_its_own_and_refuses_the_rest_precisely() {
    let server = Server::start();
    let admin = server.admin().await;
    let bank_key = new_key();
    admin
        .register("bank", pb::Role::Bank, &bank_key.verifying_key(), "Bank")
        .await
        .unwrap();
    let bank = server.client(bank_key).await;
    let stranger = server.client(new_key()).await;
    let before = size(&admin).await;

    let first = admin.sign(register("b-1", &new_key()));
    let mut flipped = admin.sign(register("b-2", &new_key()));
    flipped.signature[5] ^= 1;
    let rotated_to = new_key();
    let requests = vec![
        first.clone(),
        flipped,
        // A bank may not register participants, batched or not.
        bank.sign(register("b-3", &new_key())),
        // Decided after the first: b-1 exists by then.
        admin.sign(register("b-1", &new_key())),
        // The first request again, byte for byte.
        first,
        admin.sign(CommandKind::ListParticipants(pb::ListParticipants {})),
        // Builds on the first request of the same batch.
        admin.sign(CommandKind::RotateKey(pb::RotateKey {
            participant_id: "b-1".into(),
            new_public_key: rotated_to.verifying_key().to_bytes().to_vec(),
        })),
        stranger.sign(register("b-4", &new_key())),
    ];
    // Any participant may send a batch; each request is judged by its own signer.
    let results = bank.submit_batch(requests).await.unwrap();
    assert_eq!(results.len(), 8, "one result per request");
    let outcomes: Vec<_> = results.iter().map(batch_outcome).collect();
    let refused = |i: usize, code: Code, says: &str| match &outcomes[i] {
        Err((c, m)) => {
            assert_eq!(*c, code, "request {i}: {m}");
            assert!(m.contains(says), "request {i}: {m:?} should say {says:?}");
        }
        Ok(rc) => panic!(
            "request {i} should be refused, was recorded at {}",
            rc.index
        ),
    };
    refused(1, Code::Unauthenticated, "signature does not verify");
    refused(
        2,
        Code::PermissionDenied,
        "RegisterParticipant is for admin",
    );
    refused(
        3,
        Code::AlreadyExists,
        "participant b-1 is already registered",
    );
    refused(4, Code::Unauthenticated, "replayed request");
    refused(
        5,
        Code::InvalidArgument,
        "ListParticipants command, which is not a write",
    );
    refused(7, Code::Unauthenticated, "not registered on this ledger");
    let (r0, r6) = (
        outcomes[0]
            .clone()
            .expect("the first registration is recorded"),
        outcomes[6].clone().expect("the rotation is recorded"),
    );
    assert_eq!(
        (r0.index, r6.index),
        (before, before + 1),
        "in the batch's order"
    );
    assert_eq!(size(&admin).await, before + 2, "only the two are written");
    for rc in [&r0, &r6] {
        let entry = admin.entry(rc.index).await.unwrap();
        assert_eq!(
            merkle::hash_leaf(&entry.entry).to_vec(),
            rc.entry_hash,
            "receipt {} names the stored entry",
            rc.index
        );
    }
    let b1 = admin
        .list_participants()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.participant_id == "b-1")
        .expect("b-1 is registered");
    assert_eq!(
        b1.key_id,
        keys::KeyId::of(&rotated_to.verifying_key()).as_str(),
        "the rotation decided after the registration took effect"
    );
    assert_eq!(
        common::verify_over_the_wire(&admin).await,
        before + 2,
        "the ledger verifies"
    );
}

#[tokio::test]
async fn a_batch_that_is_too_big_miscounted_or_unsigned_changes_nothing() {
    let server = Server::start();
    let admin = server.admin().await;
    let before = size(&admin).await;
    let one = admin.sign(register("b-1", &new_key()));
    let send = |signed: Option<pb::SignedRequest>, requests: Vec<pb::SignedRequest>| {
        let mut batches = admin.batches();
        async move {
            batches
                .submit_batch(pb::SubmitBatchRequest { signed, requests })
                .await
        }
    };
    let envelope = |n: u32| {
        Some(admin.sign(CommandKind::SubmitBatch(pb::SubmitBatch {
            request_count: n,
        })))
    };
    let limit = dbond::limits::BATCH_REQUESTS_MAX;

    let e = send(envelope(limit as u32 + 1), vec![one.clone(); limit + 1])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains(&format!("the limit is {limit}")),
        "{e:?}"
    );

    let e = send(envelope(2), vec![one.clone()]).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("says 2 requests, the batch carries 1"),
        "{e:?}"
    );

    let e = send(None, vec![one.clone()]).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");

    // The envelope is checked like any request: a stranger's is refused before any
    // request inside is looked at.
    let stranger = server.client(new_key()).await;
    let e = stranger.submit_batch(vec![one.clone()]).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("not registered"), "{e:?}");

    let empty = admin.submit_batch(Vec::new()).await.unwrap();
    assert!(empty.is_empty(), "an empty batch has no results");
    assert_eq!(size(&admin).await, before, "nothing was written");

    // The refused batches burned nothing: the request inside is still good.
    let results = admin.submit_batch(vec![one]).await.unwrap();
    let rc = batch_outcome(&results[0]).expect("recorded");
    assert_eq!(rc.index, before);
}
