//! Random command sequences through the registry's state machine, as the
//! ledger writer runs it (`registry::sim`): bytes become commands of every
//! kind, with fields within and beyond their bounds, from several banks on
//! several series through their whole life. Nothing may panic; after every
//! command the conservation laws hold (allotted + refunded = subscribed,
//! holdings = units issued, bank totals = the sums of the payments); every
//! event `decide` returns applies, and reads back from its ledger form as
//! itself; replaying the events gives the same state.
#![no_main]

use dbond::codec;
use dbond::registry::Event;
use dbond::registry::sim::{self, Options};
use libfuzzer_sys::fuzz_target;

fn reads_back(event: &Event) -> Result<(), String> {
    match codec::event_from_pb(&codec::event_to_pb(event)) {
        Ok(back) if &back == event => Ok(()),
        Ok(back) => Err(format!("{} reads back as {back:?}", event.kind())),
        Err(e) => Err(format!("{} does not read back: {e}", event.kind())),
    }
}

fuzz_target!(|data: &[u8]| {
    let options = Options {
        on_event: Some(&reads_back),
        drop_last_event: false,
    };
    if let Err(failure) = sim::run(data, &options) {
        panic!("{failure}");
    }
});
