//! An emergency replacement of the ledger key, through a real store and
//! writer: the quorum set, the server reopened with a fresh key alone (every
//! other write refused until the replacement), the writer's refusals of
//! approvals that do not verify or name another key, and then the verifier and
//! the chain of keys across the replacement, with a tampered approval refused
//! naming its recovery key.

use super::Verifier;
use super::handovers::KeyChain;
use super::rotation_tests::{ORIGIN, note_of, refused, register, request, reseal, verify};
use crate::clock::ManualClock;
use crate::ledger::keys::{self, KeyId};
use crate::ledger::recovery::{APPROVAL_CONTEXT, Statement};
use crate::proto as pb;
use crate::registry::{ParticipantId, RegistryError};
use crate::store::{Genesis, Store, StoreError, StoreOptions, WriteError};
use ed25519_dalek::SigningKey;
use prost::Message;
use std::sync::Arc;

fn approve(
    recovery: &SigningKey,
    origin: &str,
    new: &SigningKey,
    after_size: u64,
) -> pb::RecoveryApproval {
    let statement = Statement {
        origin,
        new: &new.verifying_key(),
        after_size,
    };
    pb::RecoveryApproval {
        recovery_public_key: recovery.verifying_key().to_bytes().to_vec(),
        signature: keys::sign(recovery, APPROVAL_CONTEXT, statement.message().as_bytes())
            .to_bytes()
            .to_vec(),
    }
}

fn replace(
    new: &SigningKey,
    after_size: u64,
    approvals: Vec<pb::RecoveryApproval>,
) -> pb::command::Kind {
    pb::command::Kind::EmergencyRotateLedgerKey(pb::EmergencyRotateLedgerKey {
        new_public_key: new.verifying_key().to_bytes().to_vec(),
        after_size,
        approvals,
    })
}

fn refusal(result: Result<crate::store::Committed, WriteError>) -> RegistryError {
    match result {
        Err(WriteError::Refused(e)) => e,
        other => panic!("expected a refusal, got {:?}", other.map(|c| c.first_index)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_replacement_is_decided_by_the_quorum_and_verified_across() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let (first, new, admin) = (keys::generate(), keys::generate(), keys::generate());
    let recovery: Vec<SigningKey> = (0..3).map(|_| keys::generate()).collect();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let ledger = Store::create_with(
        &path,
        &first,
        Genesis {
            origin: ORIGIN.into(),
            admin_participant_id: ParticipantId::parse("id", "admin").unwrap(),
            admin_key: &admin,
        },
        clock.clone(),
        StoreOptions::default(),
    )
    .unwrap();
    ledger
        .write(register(&admin, &clock, 1, "bank-a"))
        .await
        .unwrap();
    let quorum = pb::command::Kind::SetRecoveryQuorum(pb::SetRecoveryQuorum {
        threshold: 2,
        recovery_public_keys: recovery
            .iter()
            .map(|k| k.verifying_key().to_bytes().to_vec())
            .collect(),
    });
    let set = ledger
        .write(request(&admin, &clock, 2, quorum))
        .await
        .unwrap();
    assert_eq!(set.first_index, 2);
    ledger
        .write(register(&admin, &clock, 3, "bank-b"))
        .await
        .unwrap();
    ledger.close().unwrap();

    // Without --emergency-rotation the fresh key is refused, as any key not in force.
    let plain = Store::open_with(&path, &new, clock.clone(), StoreOptions::default());
    assert!(
        matches!(plain, Err(StoreError::KeyMismatch { .. })),
        "{:?}",
        plain.err()
    );
    let ledger = Store::open_with(
        &path,
        &new,
        clock.clone(),
        StoreOptions {
            emergency_rotation: true,
            ..Default::default()
        },
    )
    .unwrap();
    // Waiting: any other write is refused, naming what it waits for.
    let err = refusal(ledger.write(register(&admin, &clock, 4, "bank-c")).await);
    assert!(
        matches!(err, RegistryError::AwaitingEmergencyRotation { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("EmergencyRotateLedgerKey"),
        "{err}"
    );
    // Approvals for another ledger, or tampered: refused naming the key.
    let wrong_ledger = vec![
        approve(&recovery[0], ORIGIN, &new, 4),
        approve(&recovery[1], "other.test/dbond", &new, 4),
    ];
    let err = refusal(
        ledger
            .write(request(&admin, &clock, 5, replace(&new, 4, wrong_ledger)))
            .await,
    );
    assert_eq!(
        err,
        RegistryError::ApprovalSignatureBad {
            key: KeyId::of(&recovery[1].verifying_key()),
            new_key: KeyId::of(&new.verifying_key()),
            after_size: 4
        }
    );
    // Approvals of a key the server does not hold.
    let other = keys::generate();
    let for_other = vec![
        approve(&recovery[0], ORIGIN, &other, 4),
        approve(&recovery[1], ORIGIN, &other, 4),
    ];
    let err = refusal(
        ledger
            .write(request(&admin, &clock, 6, replace(&other, 4, for_other)))
            .await,
    );
    assert!(
        matches!(err, RegistryError::ReplacementKeyNotHeld { .. }),
        "{err}"
    );
    assert_eq!(ledger.size(), 4, "the refusals changed nothing");

    // Two of three: the replacement is entry 4, signed by the new key.
    let approvals = vec![
        approve(&recovery[2], ORIGIN, &new, 4),
        approve(&recovery[0], ORIGIN, &new, 4),
    ];
    let replaced = ledger
        .write(request(&admin, &clock, 7, replace(&new, 4, approvals)))
        .await
        .unwrap();
    assert_eq!(replaced.first_index, 4);
    ledger
        .write(register(&admin, &clock, 8, "bank-c"))
        .await
        .unwrap();
    let entries = ledger
        .entries(0, 6)
        .map(|e| e.unwrap().1)
        .collect::<Vec<_>>();
    let note = ledger.read(|p| p.checkpoint.clone());
    ledger.close().unwrap();
    // The old key is refused from now on, the new one alone opens the ledger.
    let old = Store::open_with(&path, &first, clock.clone(), StoreOptions::default());
    assert!(
        matches!(old, Err(StoreError::RotatedOut { .. })),
        "{:?}",
        old.err()
    );
    Store::open_with(&path, &new, clock.clone(), StoreOptions::default())
        .unwrap()
        .close()
        .unwrap();

    // The whole ledger verifies; the checkpoint of the size the quorum approved
    // is the old key's, every later one the new key's.
    verify(&entries, &note).unwrap();
    let mut upto = Verifier::new();
    upto.want_root_at(4);
    for e in &entries {
        upto.push(e).unwrap();
    }
    let verified = upto.finish().unwrap();
    assert!(
        verified
            .check_checkpoint(&note_of(&entries[..4], &first))
            .is_ok()
    );
    assert!(
        verified
            .check_checkpoint(&note_of(&entries[..4], &new))
            .is_err()
    );
    refused(
        verify(&entries, &note_of(&entries, &first)),
        5,
        "ledger key in force",
    );

    // The chain of keys from the quorum entry and the replacement alone.
    let chain = KeyChain::follow(
        ORIGIN,
        first.verifying_key(),
        &[entries[2].clone(), entries[4].clone()],
    )
    .unwrap();
    assert_eq!(chain.key_at(4), first.verifying_key());
    assert_eq!(chain.entry_key_at(4), new.verifying_key());
    assert_eq!(chain.key_at(5), new.verifying_key());
    assert_eq!(chain.last(), new.verifying_key());
    // Without the quorum entry, the replacement cannot be judged.
    let err = KeyChain::follow(ORIGIN, first.verifying_key(), &[entries[4].clone()]).unwrap_err();
    assert!(err.contains("no recovery quorum"), "{err}");

    // A tampered approval, in the event and in the request (which the admin
    // signs again): the verifier and the chain refuse it, naming the recovery
    // key. In the event alone, the re-decision already refuses it.
    let by_key = |i: usize| if i < 4 { first.clone() } else { new.clone() };
    let mut event_only = entries.clone();
    reseal(
        &mut event_only,
        4,
        |body| {
            if let Some(pb::event::Kind::LedgerKeyReplaced(r)) =
                body.event.as_mut().and_then(|e| e.kind.as_mut())
            {
                r.approvals[1].signature[0] ^= 1;
            }
        },
        by_key,
    );
    refused(
        verify(&event_only, &note_of(&event_only, &new)),
        4,
        "differs from what its request decides",
    );
    let mut tampered = entries.clone();
    reseal(
        &mut tampered,
        4,
        |body| {
            if let Some(pb::event::Kind::LedgerKeyReplaced(r)) =
                body.event.as_mut().and_then(|e| e.kind.as_mut())
            {
                r.approvals[1].signature[0] ^= 1;
            }
            let actor = body.actor.as_mut().unwrap();
            let mut payload = pb::RequestPayload::decode(actor.request.as_slice()).unwrap();
            if let Some(pb::command::Kind::EmergencyRotateLedgerKey(c)) =
                payload.command.as_mut().and_then(|c| c.kind.as_mut())
            {
                c.approvals[1].signature[0] ^= 1;
            }
            actor.request = payload.encode_to_vec();
            actor.signature = keys::sign(&admin, keys::REQUEST_CONTEXT, &actor.request)
                .to_bytes()
                .to_vec();
        },
        by_key,
    );
    let named = KeyId::of(&recovery[0].verifying_key()).to_string();
    refused(verify(&tampered, &note_of(&tampered, &new)), 4, &named);
    let err = KeyChain::follow(
        ORIGIN,
        first.verifying_key(),
        &[tampered[2].clone(), tampered[4].clone()],
    )
    .unwrap_err();
    assert!(err.contains(&named), "{err}");
    // A replacement signed by the old key (a thief's), not the key it brings in.
    let mut thief = entries.clone();
    reseal(
        &mut thief,
        4,
        |_| {},
        |i| if i == 4 { first.clone() } else { by_key(i) },
    );
    refused(
        verify(&thief, &note_of(&thief, &new)),
        4,
        "ledger signature",
    );
}
