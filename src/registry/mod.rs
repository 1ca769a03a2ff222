//! The deterministic state machine: command + state -> events; event + state -> state.
//!
//! Invariants: `decide` never changes state and `apply` never fails on an event that
//! `decide` produced; both are pure (no clock, no storage, no randomness: the entry's
//! index and recorded time come in as arguments). Replaying the ledger's events from
//! genesis through `apply` gives exactly the state the server holds.

mod error;
mod participants;
mod state;
mod types;

pub use error::{ApplyError, RegistryError};
pub use state::{Changes, EntryMeta, State, StateKey};
pub use types::*;

/// Who is asking: an authenticated, active participant acting with a valid key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub participant_id: ParticipantId,
    pub role: Role,
    pub key_id: crate::ledger::keys::KeyId,
}

/// A state-changing request, already validated for shape (the edge checks fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    RegisterParticipant(participants::RegisterParticipant),
    RotateKey(participants::RotateKey),
    RevokeParticipant(participants::RevokeParticipant),
}

pub use participants::{RegisterParticipant, RevokeParticipant, RotateKey};

/// What a command decides: the events to append (first carries the request), or
/// an earlier outcome for an idempotent repeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Append(Vec<Event>),
}

/// Decides what `command` by `caller` does to `state`. Never mutates.
pub fn decide(
    state: &State,
    caller: &Caller,
    command: &Command,
) -> Result<Decision, RegistryError> {
    match command {
        Command::RegisterParticipant(c) => participants::decide_register(state, caller, c),
        Command::RotateKey(c) => participants::decide_rotate(state, caller, c),
        Command::RevokeParticipant(c) => participants::decide_revoke(state, caller, c),
    }
    .map(Decision::Append)
}

/// Applies one event recorded at `meta` to the state, noting what changed.
pub fn apply(
    state: &mut State,
    meta: &EntryMeta,
    event: &Event,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    state.check_next(meta)?;
    match event {
        Event::Genesis(g) => participants::apply_genesis(state, meta, g, changes)?,
        Event::ParticipantRegistered(e) => participants::apply_registered(state, meta, e, changes)?,
        Event::KeyRotated(e) => participants::apply_rotated(state, meta, e, changes)?,
        Event::ParticipantRevoked(e) => participants::apply_revoked(state, meta, e, changes)?,
    }
    state.advance(meta, changes);
    Ok(())
}
