//! The verifier across a ledger key hand-over: a ledger a store wrote (first
//! key, hand-over, entries under the next key) verifies, and its tampered twins
//! do not: an entry after the hand-over signed by the old key, a checkpoint
//! after it signed by the old key, a hand-over whose new-key signature is wrong,
//! and a second hand-over forged with the rotated-out key.

use super::Verifier;
use crate::clock::{Clock, ManualClock};
use crate::ledger::entry;
use crate::ledger::handover::{HANDOVER_CONTEXT, Handover};
use crate::ledger::keys::{self, ENTRY_CONTEXT, KeyId, REQUEST_CONTEXT};
use crate::ledger::{checkpoint, merkle};
use crate::proto as pb;
use crate::registry::ParticipantId;
use crate::store::{Genesis, NextLedgerKey, Store, StoreOptions, WriteRequest};
use ed25519_dalek::SigningKey;
use prost::Message;
use std::sync::Arc;

pub(super) const ORIGIN: &str = "rotation.test/dbond";

struct Rotated {
    entries: Vec<Vec<u8>>,
    note: String,
    first: SigningKey,
    next: SigningKey,
    _dir: tempfile::TempDir,
}

pub(super) fn request(
    admin: &SigningKey,
    clock: &ManualClock,
    nonce: u8,
    kind: pb::command::Kind,
) -> WriteRequest {
    let command = crate::codec::command_from_kind(&kind).unwrap();
    let payload = pb::RequestPayload {
        ledger_origin: ORIGIN.into(),
        issued_at: Some(crate::codec::timestamp_to_pb(clock.now())),
        nonce: vec![nonce; 16],
        command: Some(pb::Command { kind: Some(kind) }),
    }
    .encode_to_vec();
    WriteRequest {
        key_id: KeyId::of(&admin.verifying_key()),
        signature: keys::sign(admin, REQUEST_CONTEXT, &payload)
            .to_bytes()
            .to_vec(),
        payload,
        command,
    }
}

pub(super) fn register(
    admin: &SigningKey,
    clock: &ManualClock,
    nonce: u8,
    id: &str,
) -> WriteRequest {
    request(
        admin,
        clock,
        nonce,
        pb::command::Kind::RegisterParticipant(pb::RegisterParticipant {
            participant_id: id.into(),
            role: pb::Role::Bank as i32,
            public_key: keys::generate().verifying_key().to_bytes().to_vec(),
            display_name: "Bank".into(),
        }),
    )
}

/// Genesis, a registration, the hand-over (entry 2), two registrations under
/// the next key: five entries and the store's note of size 5.
async fn rotated() -> Rotated {
    let dir = tempfile::tempdir().unwrap();
    let (first, next, admin) = (keys::generate(), keys::generate(), keys::generate());
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let ledger = Store::create_with(
        &dir.path().join("store"),
        &first,
        Genesis {
            origin: ORIGIN.into(),
            admin_participant_id: ParticipantId::parse("id", "admin").unwrap(),
            admin_key: &admin,
        },
        clock.clone(),
        StoreOptions {
            next_ledger_key: Some(NextLedgerKey::new(next.clone())),
            ..Default::default()
        },
    )
    .unwrap();
    ledger
        .write(register(&admin, &clock, 1, "bank-a"))
        .await
        .unwrap();
    let rotate = pb::command::Kind::RotateLedgerKey(pb::RotateLedgerKey {
        new_public_key: next.verifying_key().to_bytes().to_vec(),
    });
    let handed = ledger
        .write(request(&admin, &clock, 2, rotate))
        .await
        .unwrap();
    assert_eq!(handed.first_index, 2);
    ledger
        .write(register(&admin, &clock, 3, "bank-b"))
        .await
        .unwrap();
    ledger
        .write(register(&admin, &clock, 4, "bank-c"))
        .await
        .unwrap();
    let entries = ledger
        .entries(0, 5)
        .map(|e| e.unwrap().1)
        .collect::<Vec<_>>();
    let note = ledger.read(|p| p.checkpoint.clone());
    ledger.close().unwrap();
    Rotated {
        entries,
        note,
        first,
        next,
        _dir: dir,
    }
}

/// Verifies `entries` in full, then `note` against them.
pub(super) fn verify(entries: &[Vec<u8>], note: &str) -> Result<(), super::VerifyFailure> {
    let mut verifier = Verifier::new();
    for e in entries {
        verifier.push(e)?;
    }
    verifier.finish()?.check_checkpoint(note).map(|_| ())
}

/// Re-signs entries `from..` of `entries` after `edit` changes the body of entry
/// `from`, relinking every later one; entry `i` is signed by `key(i)`.
pub(super) fn reseal(
    entries: &mut [Vec<u8>],
    from: usize,
    edit: impl Fn(&mut pb::EntryBody),
    key: impl Fn(usize) -> SigningKey,
) {
    for i in from..entries.len() {
        let stored = pb::LedgerEntry::decode(entries[i].as_slice()).unwrap();
        let mut body = pb::EntryBody::decode(stored.body.as_slice()).unwrap();
        if i > 0 {
            body.prev_hash = entry::open(&entries[i - 1]).unwrap().hash.to_vec();
        }
        if i == from {
            edit(&mut body);
        }
        let body = body.encode_to_vec();
        let signature = keys::sign(&key(i), ENTRY_CONTEXT, &body);
        entries[i] = pb::LedgerEntry {
            body,
            ledger_signature: signature.to_bytes().to_vec(),
        }
        .encode_to_vec();
    }
}

/// The note of `entries`' tree, signed by `key`.
pub(super) fn note_of(entries: &[Vec<u8>], key: &SigningKey) -> String {
    let mut tree = merkle::MemoryTree::new();
    for e in entries {
        tree.push(entry::open(e).unwrap().hash);
    }
    let cp = checkpoint::Checkpoint {
        origin: ORIGIN.into(),
        size: entries.len() as u64,
        root: tree.root(),
        extensions: vec![],
    };
    checkpoint::sign(&cp, ORIGIN, key)
}

pub(super) fn refused(result: Result<(), super::VerifyFailure>, index: u64, says: &str) {
    match result {
        Err(e) => {
            assert_eq!(e.index, index, "{e}");
            assert!(e.reason.contains(says), "{says}: {e}");
        }
        Ok(()) => panic!("{says}: accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_ledger_verifies_and_its_tampered_twins_do_not() {
    let r = rotated().await;
    let by_key = |i: usize| {
        if i < 3 {
            r.first.clone()
        } else {
            r.next.clone()
        }
    };
    verify(&r.entries, &r.note).unwrap();
    // The twins' own resealing, unchanged, verifies: what follows fails for the
    // change alone.
    let mut same = r.entries.clone();
    reseal(&mut same, 1, |_| {}, by_key);
    assert_eq!(same, r.entries);

    // An entry after the hand-over signed by the old key.
    let mut old_signed = r.entries.clone();
    reseal(
        &mut old_signed,
        3,
        |_| {},
        |i| if i == 3 { r.first.clone() } else { by_key(i) },
    );
    refused(
        verify(&old_signed, &note_of(&old_signed, &r.next)),
        3,
        "ledger signature",
    );

    // A checkpoint after the hand-over signed by the old key; the checkpoint of
    // the hand-over's own group (size 3) is the new key's too.
    refused(
        verify(&r.entries, &note_of(&r.entries, &r.first)),
        4,
        "ledger key in force",
    );
    let mut upto = Verifier::new();
    upto.want_root_at(3);
    for e in &r.entries {
        upto.push(e).unwrap();
    }
    let verified = upto.finish().unwrap();
    assert!(
        verified
            .check_checkpoint(&note_of(&r.entries[..3], &r.next))
            .is_ok()
    );
    assert!(
        verified
            .check_checkpoint(&note_of(&r.entries[..3], &r.first))
            .is_err()
    );
    assert!(
        verified
            .check_checkpoint(&note_of(&r.entries[..2], &r.first))
            .is_err(),
        "no root kept at 2"
    );

    // A hand-over whose new-key signature is wrong.
    let mut bad_signature = r.entries.clone();
    reseal(
        &mut bad_signature,
        2,
        |body| {
            if let Some(pb::event::Kind::LedgerKeyRotated(h)) =
                body.event.as_mut().and_then(|e| e.kind.as_mut())
            {
                h.new_key_signature[0] ^= 1;
            }
        },
        by_key,
    );
    refused(
        verify(&bad_signature, &note_of(&bad_signature, &r.next)),
        2,
        "hand-over signature",
    );

    // A second hand-over, to a third key, forged with the rotated-out key.
    let third = keys::generate();
    let mut forged = r.entries.clone();
    forged.push(r.entries[2].clone());
    let message = Handover {
        origin: ORIGIN,
        old: &r.next.verifying_key(),
        new: &third.verifying_key(),
        from_index: 6,
    }
    .message();
    let third_signature = keys::sign(&third, HANDOVER_CONTEXT, message.as_bytes());
    reseal(
        &mut forged,
        5,
        |body| {
            body.index = 5;
            body.event = Some(pb::Event {
                kind: Some(pb::event::Kind::LedgerKeyRotated(pb::LedgerKeyRotated {
                    old_public_key: r.next.verifying_key().to_bytes().to_vec(),
                    new_public_key: third.verifying_key().to_bytes().to_vec(),
                    from_index: 6,
                    new_key_signature: third_signature.to_bytes().to_vec(),
                })),
            });
        },
        |_| r.first.clone(),
    );
    refused(
        verify(&forged, &note_of(&forged, &third)),
        5,
        "ledger signature",
    );
}
