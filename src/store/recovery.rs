//! Rolling back a group commit that was cut off between its steps (an engine that
//! writes a large group in several; see `Engine::unfinished_group`). Nobody was told
//! of such a group, so the open removes it: first its entries, beyond the signed
//! checkpoint, then (once the replay of what remains gives them) the state records
//! it changed, and the engine's mark last, so a crash during the roll-back repeats
//! it at the next open. An engine that writes every group atomically never has one.

use super::check::stored_records;
use super::engine::{StateRecord, StateWrite};
use super::{Engine, StoreError, corrupt};
use crate::ledger::checkpoint;
use crate::registry::State;

/// If a group was cut off, removes its entries (those beyond the signed checkpoint,
/// which must cover exactly the ledger before the group) and returns how many.
/// Nothing the checkpoint covers is removed; the replay then checks the
/// checkpoint's signature.
pub(super) fn roll_back_entries(engine: &dyn Engine) -> Result<Option<u64>, StoreError> {
    let Some(before) = engine.unfinished_group()? else {
        return Ok(None);
    };
    let note = engine
        .checkpoint()?
        .ok_or_else(|| corrupt(before, "the signed checkpoint is missing"))?;
    let size = std::str::from_utf8(&note)
        .ok()
        .and_then(|n| checkpoint::parse_unverified(n).ok())
        .map(|(cp, _)| cp.size)
        .ok_or_else(|| corrupt(before, "the stored checkpoint cannot be read"))?;
    if size != before {
        return Err(corrupt(
            before,
            format!(
                "the pending-group marker says the ledger had {before} entries before an unfinished group, the checkpoint says {size}"
            ),
        ));
    }
    engine.remove_entries_from(size).map(Some)
}

/// The second half of a roll-back: rewrites the state records that differ from
/// `state` (the replay's), removes those it does not have, and clears the mark.
pub(super) fn restore_state_records(engine: &dyn Engine, state: &State) -> Result<(), StoreError> {
    engine.finish_roll_back(state_repairs(state, stored_records(engine)?))
}

/// The writes that turn `stored` (every stored record, in key order) into the
/// records of `state`.
fn state_repairs(state: &State, stored: Vec<StateRecord>) -> Vec<StateWrite> {
    let mut writes: Vec<StateWrite> = Vec::new();
    let mut stored = stored.into_iter().peekable();
    let mut buf = Vec::new();
    for (key_bytes, key) in &state.record_keys() {
        // Stored records before this key are not in the state: remove them.
        while let Some((k, _)) = stored.next_if(|(k, _)| k < key_bytes) {
            writes.push((k, None));
        }
        if !state.record_into(key, &mut buf) {
            continue;
        }
        match stored.next_if(|(k, _)| k == key_bytes) {
            Some((_, v)) if v == buf => {}
            _ => writes.push((key_bytes.clone(), Some(buf.clone()))),
        }
    }
    writes.extend(stored.map(|(k, _)| (k, None)));
    writes
}
