//! Deciding a group's requests, in order: each is checked against the ledger's
//! time window and its key's standing at the index its entry takes, decided by the
//! registry against the working state, and its events applied to that state, so a
//! later request of the group sees what an earlier one did.

use super::{Committed, Job, Scratch, WriteError, WriteRequest, Writer};
use crate::ledger::entry::Origin;
use crate::ledger::handover::{HANDOVER_CONTEXT, Handover};
use crate::ledger::keys::KeyId;
use crate::ledger::signer::Signer;
use crate::proto as pb;
use crate::registry::{self, Caller, Decision, EntryMeta, Event, ParticipantStatus, State};
use chrono::{DateTime, Utc};

/// Checks that `key_id` may sign the entry at `index` in `state`.
pub fn authorize(state: &State, key_id: &KeyId, index: u64) -> Result<Caller, WriteError> {
    let key = state.key(key_id).ok_or_else(|| {
        WriteError::Unauthenticated(format!("key {key_id} is not registered on this ledger"))
    })?;
    if !key.may_sign(index) || key.retired_at_index.is_some() {
        return Err(WriteError::Unauthenticated(format!(
            "key {key_id} has been rotated out or revoked"
        )));
    }
    let participant = state.participant(&key.participant_id).ok_or_else(|| {
        WriteError::Unauthenticated(format!("key {key_id} belongs to no participant"))
    })?;
    if participant.status != ParticipantStatus::Active {
        return Err(WriteError::Unauthenticated(format!(
            "participant {} is revoked",
            participant.participant_id
        )));
    }
    Ok(Caller {
        participant_id: participant.participant_id.clone(),
        role: participant.role,
        key_id: key_id.clone(),
    })
}

/// Checks the request's issue time against the time the ledger records it at (the
/// same window, to the nanosecond, that auditors check), so a server clock stepping
/// backwards can never record a request the verifier would call stale.
pub(super) fn fresh_at(payload: &[u8], recorded_at: DateTime<Utc>) -> Result<(), WriteError> {
    let issued = crate::ledger::payload::issued_at(payload).ok_or_else(|| {
        WriteError::Unauthenticated("request payload has no valid issue time".into())
    })?;
    crate::ledger::payload::check_window(issued, recorded_at).map_err(|e| {
        WriteError::Unauthenticated(format!(
            "request {e}: outside the accepted window at the ledger's time"
        ))
    })
}

impl Writer {
    /// Decides every job in order and applies the events of each to the working
    /// state, filling the group's decided events, their origins and each job's
    /// outcome. `Err` says why an event decided could not be applied (a bug):
    /// nothing of the group may then be written.
    pub(super) fn decide_all(
        &mut self,
        jobs: &mut Vec<Job>,
        recorded_at: DateTime<Utc>,
        scratch: &mut Scratch,
    ) -> Result<(), String> {
        let mut pending = jobs.drain(..);
        while let Some(job) = pending.next() {
            let index = self.parts.state.size();
            let events = match self.decide_one(&job.request, index, recorded_at) {
                Ok(Decision::Append(events)) => events,
                Ok(Decision::Existing { index }) => {
                    // Answered once the group is durable, with the first entry's hash.
                    scratch.outcomes.push((
                        job.reply,
                        Ok(Committed {
                            first_index: index,
                            first_hash: [0; 32],
                            recorded_at,
                            tree_size: 0,
                            events: Vec::new(),
                            replayed: true,
                        }),
                    ));
                    continue;
                }
                Err(e) => {
                    scratch.outcomes.push((job.reply, Err(e)));
                    continue;
                }
            };
            let applied = self.apply_events(job.request, index, &events, recorded_at, scratch);
            scratch.outcomes.push((
                job.reply,
                Ok(Committed {
                    first_index: index,
                    first_hash: [0; 32],
                    recorded_at,
                    tree_size: 0,
                    events,
                    replayed: false,
                }),
            ));
            if let Err(reason) = applied {
                // The jobs not decided yet share the group's fate: nothing written.
                for job in pending {
                    scratch
                        .outcomes
                        .push((job.reply, Err(WriteError::Unavailable(reason.clone()))));
                }
                return Err(reason);
            }
        }
        Ok(())
    }

    /// What `request` decides at `index`: its issue time checked against the
    /// recorded time, its key against the state, then the registry's decision.
    fn decide_one(
        &self,
        request: &WriteRequest,
        index: u64,
        recorded_at: DateTime<Utc>,
    ) -> Result<Decision, WriteError> {
        fresh_at(&request.payload, recorded_at)?;
        let state = &self.parts.state;
        self.check_awaiting(request, index)?;
        let caller = authorize(state, &request.key_id, index)?;
        let ctx = registry::DecideCtx { index, recorded_at };
        let mut decision =
            registry::decide(state, &caller, &ctx, &request.command).map_err(WriteError::from)?;
        if let Decision::Append(events) = &mut decision {
            for event in events.iter_mut() {
                match event {
                    Event::LedgerKeyRotated(handover) => self.sign_handover(handover)?,
                    Event::LedgerKeyReplaced(replaced) => self.check_replacement(replaced)?,
                    _ => {}
                }
            }
        }
        Ok(decision)
    }

    /// A server started with a key that is not the one in force (`dbond serve
    /// --emergency-rotation`) takes no write but the replacement that brings
    /// its key in: the key in force may be in a thief's hands, and the held
    /// key may sign nothing before the quorum approved it.
    fn check_awaiting(&self, request: &WriteRequest, index: u64) -> Result<(), WriteError> {
        let held = self.parts.ledger_key.public_key();
        let Some(in_force) = self.parts.state.ledger_key_at(index) else {
            return Ok(());
        };
        let emergency = matches!(
            request.command,
            registry::Command::EmergencyRotateLedgerKey(_)
        );
        // After a hand-over the key in force is the next key the writer holds.
        match (self.key_for(Some(in_force)).is_ok(), emergency) {
            (true, false) | (false, true) => Ok(()),
            (true, true) => Err(registry::RegistryError::NoEmergencyRotation {
                in_force: KeyId::of_bytes(&in_force.0),
            }
            .into()),
            (false, false) => Err(registry::RegistryError::AwaitingEmergencyRotation {
                held: KeyId::of(&held),
                in_force: KeyId::of_bytes(&in_force.0),
            }
            .into()),
        }
    }

    /// Checks a decided replacement's approvals, each over the statement the
    /// recovery keys sign (the registry decided everything else), and that the
    /// server holds the key it brings in: the key it will sign the entry with.
    fn check_replacement(&self, replaced: &registry::LedgerKeyReplaced) -> Result<(), WriteError> {
        let held = self.parts.ledger_key.public_key();
        if held.to_bytes() != replaced.new_public_key.0 {
            return Err(registry::RegistryError::ReplacementKeyNotHeld {
                named: KeyId::of_bytes(&replaced.new_public_key.0),
                held: KeyId::of(&held),
            }
            .into());
        }
        let statement = crate::ledger::recovery::Statement {
            origin: &self.parts.identity.origin,
            new: &held,
            after_size: replaced.after_size,
        };
        for approval in &replaced.approvals {
            let bad = || registry::RegistryError::ApprovalSignatureBad {
                key: KeyId::of_bytes(&approval.recovery_public_key.0),
                new_key: KeyId::of(&held),
                after_size: replaced.after_size,
            };
            let key = crate::ledger::keys::parse_public_key(&approval.recovery_public_key.0)
                .map_err(|_| bad())?;
            statement
                .verify(&key, &approval.signature)
                .map_err(|_| bad())?;
        }
        Ok(())
    }

    /// Fills in the new key's signature over a decided hand-over: the server
    /// must hold the key the hand-over names as its next key. Deciding needs no
    /// private key; this is the one step of a hand-over that does.
    fn sign_handover(&self, handover: &mut registry::LedgerKeyRotated) -> Result<(), WriteError> {
        let next = self
            .parts
            .next_ledger_key
            .as_ref()
            .ok_or(registry::RegistryError::NoNextLedgerKey)?;
        let next_public = next.public_key();
        if next_public.to_bytes() != handover.new_public_key.0 {
            return Err(registry::RegistryError::NextLedgerKeyDiffers {
                named: KeyId::of_bytes(&handover.new_public_key.0),
                held: KeyId::of(&next_public),
            }
            .into());
        }
        let old = crate::ledger::keys::parse_public_key(&handover.old_public_key.0)
            .map_err(|e| WriteError::Unavailable(format!("the ledger key in force: {e}")))?;
        let message = Handover {
            origin: &self.parts.identity.origin,
            old: &old,
            new: &next_public,
            from_index: handover.from_index,
        }
        .message();
        let signature = next
            .sign(HANDOVER_CONTEXT, message.as_bytes())
            .map_err(|e| {
                WriteError::Unavailable(format!(
                    "the next ledger key did not sign the hand-over: {e}; {}",
                    super::NOT_RECORDED
                ))
            })?;
        handover.new_key_signature = signature.to_bytes().to_vec();
        Ok(())
    }

    /// Applies the events `request` decided at `index` to the working state, in
    /// order, recording each with its origin: the first carries the signed
    /// request, the others name the first as their cause.
    fn apply_events(
        &mut self,
        request: WriteRequest,
        index: u64,
        events: &[Event],
        recorded_at: DateTime<Utc>,
        scratch: &mut Scratch,
    ) -> Result<(), String> {
        let WriteRequest {
            key_id,
            payload,
            signature,
            ..
        } = request;
        let mut actor = Some(pb::Actor {
            key_id: key_id.to_string(),
            request: payload,
            signature,
        });
        for event in events {
            let meta = EntryMeta {
                index: self.parts.state.size(),
                recorded_at,
            };
            registry::apply(&mut self.parts.state, &meta, event, &mut self.changes).map_err(
                |e| {
                    format!(
                        "an event decided for entry {} could not be applied: {e}",
                        meta.index
                    )
                },
            )?;
            scratch.origins.push(match actor.take() {
                Some(a) => Origin::Actor(a),
                None => Origin::Cause(index),
            });
            scratch.sealed.applied.push((meta, event.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn payload(issued_at: Option<DateTime<Utc>>) -> Vec<u8> {
        pb::RequestPayload {
            ledger_origin: "writer.test/dbond".into(),
            issued_at: issued_at.map(crate::codec::timestamp_to_pb),
            nonce: vec![9; 16],
            command: Some(pb::Command {
                kind: Some(pb::command::Kind::RevokeParticipant(
                    pb::RevokeParticipant {
                        participant_id: "bank-a".into(),
                        reason: "test".into(),
                    },
                )),
            }),
        }
        .encode_to_vec()
    }

    #[test]
    fn the_issue_time_is_checked_against_the_window_at_the_recorded_time() {
        let now = DateTime::from_timestamp(1_800_000_000, 123_000_000).unwrap();
        assert!(fresh_at(&payload(Some(now)), now).is_ok());
        let oldest = now - chrono::Duration::seconds(crate::limits::REQUEST_AGE_SECS_MAX);
        assert!(fresh_at(&payload(Some(oldest)), now).is_ok());
        let stale = oldest - chrono::Duration::nanoseconds(1);
        match fresh_at(&payload(Some(stale)), now) {
            Err(WriteError::Unauthenticated(m)) => assert!(m.contains("outside"), "{m}"),
            other => panic!("a stale request was {other:?}"),
        }
        let latest = now + chrono::Duration::seconds(crate::limits::REQUEST_FUTURE_SKEW_SECS_MAX);
        assert!(fresh_at(&payload(Some(latest)), now).is_ok());
        let ahead = latest + chrono::Duration::nanoseconds(1);
        assert!(matches!(
            fresh_at(&payload(Some(ahead)), now),
            Err(WriteError::Unauthenticated(_))
        ));
        match fresh_at(&payload(None), now) {
            Err(WriteError::Unauthenticated(m)) => {
                assert!(m.contains("no valid issue time"), "{m}")
            }
            other => panic!("a request without an issue time was {other:?}"),
        }
    }
}
