//! Ledger-entry parsing. Arbitrary bytes are opened with `ledger::entry::open` and
//! pushed into `audit::Verifier`: as the first entry of a ledger, as the next entry
//! after a small valid ledger, and (read as an `EntryBody`) with the right index and
//! hash link and sealed by the ledger key after one of the stages of the world's
//! series, so that the fuzzer reaches the checks of events and requests. Nothing may panic.
#![no_main]

#[path = "world.rs"]
mod world;

use dbond::audit::Verifier;
use dbond::codec;
use dbond::ledger::entry;
use dbond::ledger::keys::{self, ENTRY_CONTEXT};
use dbond::ledger::merkle;
use dbond::proto as pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use world::World;

fuzz_target!(|data: &[u8]| {
    if let Ok(opened) = entry::open(data) {
        assert_eq!(opened.hash, merkle::hash_leaf(data));
        let _ = opened.ledger_signature_ok(&World::get().ledger_key.verifying_key());
        let _ = codec::timestamp_from_pb("recorded_at", opened.body.recorded_at.as_ref());
        if let Some(event) = &opened.body.event {
            let _ = codec::event_from_pb(event);
        }
    }

    let mut fresh = Verifier::new();
    if fresh.push(data).is_ok() {
        let _ = fresh.finish();
    }

    let mut after = World::primed();
    if after.push(data).is_ok() {
        let _ = after.finish();
    }

    if let Ok(mut body) = pb::EntryBody::decode(data) {
        // After one of the series' stages (chosen by the input's length).
        let stages = world::stages();
        let stage = &stages[data.len() % stages.len()];
        let w = &stage.world;
        body.index = w.state.size();
        body.prev_hash = w.last_hash.to_vec();
        let body_bytes = body.encode_to_vec();
        let signature = keys::sign(&w.ledger_key, ENTRY_CONTEXT, &body_bytes);
        let bytes = pb::LedgerEntry {
            body: body_bytes,
            ledger_signature: signature.to_bytes().to_vec(),
        }
        .encode_to_vec();
        let mut sealed = stage.verifier.clone();
        if sealed.push(&bytes).is_ok() {
            if let Ok(verified) = sealed.finish() {
                // Accepted: a well-formed, correctly signed next entry.
                assert_eq!(verified.size, w.state.size() + 1);
            }
        }
    }
});
