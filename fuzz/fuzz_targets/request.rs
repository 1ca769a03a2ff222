//! Request decoding and validation. Arbitrary bytes are read as the service reads
//! them (a `SignedRequest`, its `RequestPayload`, the command), converted with
//! `codec::command_from_kind`, and every command that converts is taken through
//! the writer's steps (authorize, decide, seal, apply) for every signer of a
//! small world, at every stage of its series' life (open, closed, allotted,
//! issued, coupon due). Nothing may panic; whatever the writer would
//! record must round-trip through its ledger form and be accepted by the
//! auditor's verifier, checkpoint included.
#![no_main]

#[path = "world.rs"]
mod world;

use dbond::codec;
use dbond::ledger::keys::KeyId;
use dbond::proto as pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use world::{Outcome, World};

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = pb::SignedRequest::decode(data) {
        let _ = KeyId::parse(&signed.key_id);
        if let Ok(payload) = pb::RequestPayload::decode(signed.payload.as_slice()) {
            check_payload(payload);
        }
    }
    if let Ok(payload) = pb::RequestPayload::decode(data) {
        check_payload(payload);
    }
});

fn check_payload(payload: pb::RequestPayload) {
    let _ = codec::timestamp_from_pb("issued_at", payload.issued_at.as_ref());
    let Some(kind) = payload.command.and_then(|c| c.kind) else {
        return;
    };
    let _ = codec::command_name(&kind);
    if let Err(e) = codec::command_from_kind(&kind) {
        // Every refusal maps to a status.
        let _ = dbond::service::status::registry(&e);
        return;
    }
    for stage in world::stages() {
        let base = &stage.world;
        for who in 0..base.signers.len() {
            let mut w = base.clone();
            match w.request(who, kind.clone()) {
                Ok(Outcome::Appended(events)) => check_recorded(stage, &w, &events),
                Ok(Outcome::Existing(index)) => assert!(index < base.state.size()),
                Err(_) => {}
            }
        }
    }
}

/// What the writer would record reads back as what was meant.
fn check_recorded(stage: &world::Stage, w: &World, events: &[dbond::registry::Event]) {
    for event in events {
        let bytes = codec::event_to_pb(event).encode_to_vec();
        let decoded = pb::Event::decode(bytes.as_slice()).expect("an encoded event decodes");
        match codec::event_from_pb(&decoded) {
            Ok(back) => assert_eq!(&back, event, "event changed through its ledger form"),
            Err(e) => panic!("a decided event does not read back: {e}\nevent: {event:?}"),
        }
    }
    let mut verifier = stage.verifier.clone();
    let known = stage.world.entries.len();
    for (i, bytes) in w.entries.iter().enumerate().skip(known) {
        if let Err(e) = verifier.push(bytes) {
            panic!(
                "the verifier refuses entry {i} the writer would record: {e}\nevents: {events:?}"
            );
        }
    }
    let verified = verifier
        .finish()
        .unwrap_or_else(|e| panic!("the verifier refuses what the writer would record: {e}"));
    verified
        .check_checkpoint(&w.checkpoint())
        .unwrap_or_else(|e| panic!("checkpoint: {e}"));
}
