//! Participants and their keys: genesis, registration, rotation and revocation.

use super::*;
use crate::ids::KeyId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterParticipant {
    pub participant_id: ParticipantId,
    pub role: Role,
    pub public_key: PublicKey,
    pub display_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotateKey {
    pub participant_id: ParticipantId,
    pub new_public_key: PublicKey,
}

/// Hand the ledger's signing over to `new_public_key` (the writer checks that
/// the server holds that key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotateLedgerKey {
    pub new_public_key: PublicKey,
}

/// Register the recovery quorum: `threshold` of `recovery_public_keys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetRecoveryQuorum {
    pub threshold: u32,
    pub recovery_public_keys: Vec<PublicKey>,
}

/// Replace the ledger key by `new_public_key` as entry `after_size`, on the
/// recovery quorum's `approvals` (the writer checks their signatures and that
/// the server holds the new key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyRotateLedgerKey {
    pub new_public_key: PublicKey,
    pub after_size: u64,
    pub approvals: Vec<RecoveryApproval>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokeParticipant {
    pub participant_id: ParticipantId,
    pub reason: String,
}

/// Public keys reach the registry already validated (the codec refuses weak or
/// malformed points), so the id is just the hash of the bytes.
fn key_id_of(key: &PublicKey) -> Result<KeyId, RegistryError> {
    Ok(KeyId::of_bytes(&key.0))
}

fn require_admin(caller: &Caller, action: &'static str) -> Result<(), RegistryError> {
    caller.require(Role::Admin, action)
}

fn active<'a>(state: &'a State, id: &ParticipantId) -> Result<&'a Participant, RegistryError> {
    let p = state
        .participant(id)
        .ok_or_else(|| RegistryError::ParticipantNotFound {
            participant: id.clone(),
        })?;
    if p.status == ParticipantStatus::Revoked {
        return Err(RegistryError::ParticipantRevoked {
            participant: id.clone(),
        });
    }
    Ok(p)
}

pub(super) fn decide_register(
    state: &State,
    caller: &Caller,
    c: &RegisterParticipant,
) -> Result<Vec<Event>, RegistryError> {
    require_admin(caller, "registering a participant")?;
    check_text(
        "display_name",
        &c.display_name,
        crate::limits::DISPLAY_NAME_CHARS_MAX,
    )?;
    let key_id = key_id_of(&c.public_key)?;
    if state.participant(&c.participant_id).is_some() {
        return Err(RegistryError::ParticipantExists {
            participant: c.participant_id.clone(),
        });
    }
    if state.key(&key_id).is_some() {
        return Err(RegistryError::KeyExists { key: key_id });
    }
    Ok(vec![Event::ParticipantRegistered(ParticipantRegistered {
        participant_id: c.participant_id.clone(),
        role: c.role,
        public_key: c.public_key,
        key_id,
        display_name: c.display_name.clone(),
    })])
}

pub(super) fn decide_rotate(
    state: &State,
    caller: &Caller,
    c: &RotateKey,
) -> Result<Vec<Event>, RegistryError> {
    if caller.role != Role::Admin && caller.participant_id != c.participant_id {
        return Err(RegistryError::NotTheOwner {
            participant: c.participant_id.clone(),
            caller: caller.participant_id.clone(),
        });
    }
    let p = active(state, &c.participant_id)?;
    let new_key_id = key_id_of(&c.new_public_key)?;
    if state.key(&new_key_id).is_some() {
        return Err(RegistryError::RotationKeyExists { key: new_key_id });
    }
    Ok(vec![Event::KeyRotated(KeyRotated {
        participant_id: c.participant_id.clone(),
        old_key_id: p.key_id.clone(),
        new_public_key: c.new_public_key,
        new_key_id,
    })])
}

/// The hand-over to `c.new_public_key` at entry `ctx.index`, without the new
/// key's signature (the writer, which holds the key, adds it).
pub(super) fn decide_rotate_ledger_key(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    c: &RotateLedgerKey,
) -> Result<Vec<Event>, RegistryError> {
    require_admin(caller, "rotating the ledger key")?;
    let terms = state.ledger_key_terms();
    let current = state
        .ledger_key_at(ctx.index)
        .ok_or_else(|| RegistryError::invalid("new_public_key", "the ledger has no genesis"))?;
    if c.new_public_key == current {
        return Err(RegistryError::LedgerKeyUnchanged {
            key: key_id_of(&current)?,
        });
    }
    if let Some(t) = terms.iter().find(|t| t.public_key == c.new_public_key) {
        return Err(RegistryError::LedgerKeyReused {
            key: key_id_of(&t.public_key)?,
            from_index: t.from_index,
        });
    }
    Ok(vec![Event::LedgerKeyRotated(LedgerKeyRotated {
        old_public_key: current,
        new_public_key: c.new_public_key,
        from_index: ctx.index.saturating_add(1),
        new_key_signature: Vec::new(),
    })])
}

/// Refuses a hand-over or replacement (`what`) whose old key is not the key in
/// force at its entry.
fn old_key_in_force(
    state: &State,
    meta: &EntryMeta,
    named: &PublicKey,
    what: &str,
) -> Result<(), ApplyError> {
    let current = state
        .ledger_key_at(meta.index)
        .ok_or_else(|| fail(meta, format!("a ledger key {what} before genesis")))?;
    if *named != current {
        return Err(fail(
            meta,
            format!(
                "the {what} names old ledger key {}, but the key in force is {}",
                KeyId::of_bytes(&named.0),
                KeyId::of_bytes(&current.0)
            ),
        ));
    }
    Ok(())
}

/// Refuses a new ledger key that already was one: a key signs one term only.
fn never_a_ledger_key(state: &State, meta: &EntryMeta, key: &PublicKey) -> Result<(), ApplyError> {
    if state
        .ledger_key_terms()
        .iter()
        .any(|t| t.public_key == *key)
    {
        return Err(fail(
            meta,
            format!(
                "ledger key {} was already a ledger key",
                KeyId::of_bytes(&key.0)
            ),
        ));
    }
    Ok(())
}

pub(super) fn apply_ledger_key_rotated(
    state: &mut State,
    meta: &EntryMeta,
    e: &LedgerKeyRotated,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    old_key_in_force(state, meta, &e.old_public_key, "hand-over")?;
    if e.from_index != meta.next_index() {
        return Err(fail(
            meta,
            format!(
                "the hand-over's new key must sign from entry {}, it says {}",
                meta.next_index(),
                e.from_index
            ),
        ));
    }
    never_a_ledger_key(state, meta, &e.new_public_key)?;
    state.meta.ledger_keys.push(LedgerKeyTerm {
        from_index: e.from_index,
        public_key: e.new_public_key,
        quorum_entry: None,
    });
    changes.touch(StateKey::Meta);
    Ok(())
}

pub(super) fn decide_set_recovery_quorum(
    state: &State,
    caller: &Caller,
    c: &SetRecoveryQuorum,
) -> Result<Vec<Event>, RegistryError> {
    require_admin(caller, "setting the recovery quorum")?;
    let n = c.recovery_public_keys.len();
    if n == 0 || n > crate::limits::RECOVERY_KEYS_MAX {
        return Err(RegistryError::invalid(
            "recovery_public_keys",
            format!(
                "must name 1 to {} keys, found {n}",
                crate::limits::RECOVERY_KEYS_MAX
            ),
        ));
    }
    for (i, key) in c.recovery_public_keys.iter().enumerate() {
        if c.recovery_public_keys[..i].contains(key) {
            return Err(RegistryError::invalid(
                "recovery_public_keys",
                format!("key {} is named twice", key_id_of(key)?),
            ));
        }
        if state
            .ledger_key_terms()
            .iter()
            .any(|t| t.public_key == *key)
        {
            return Err(RegistryError::invalid(
                "recovery_public_keys",
                format!(
                    "key {} is a ledger key of this ledger; a recovery key must be another",
                    key_id_of(key)?
                ),
            ));
        }
    }
    if c.threshold == 0 || c.threshold as usize > n {
        return Err(RegistryError::invalid(
            "threshold",
            format!(
                "must be 1 to {n} (the number of keys), found {}",
                c.threshold
            ),
        ));
    }
    Ok(vec![Event::RecoveryQuorumSet(RecoveryQuorumSet {
        threshold: c.threshold,
        recovery_public_keys: c.recovery_public_keys.clone(),
    })])
}

pub(super) fn apply_recovery_quorum_set(
    state: &mut State,
    meta: &EntryMeta,
    e: &RecoveryQuorumSet,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let n = e.recovery_public_keys.len();
    if n == 0 || e.threshold == 0 || e.threshold as usize > n {
        return Err(fail(
            meta,
            format!("a recovery quorum of {} of {n} keys", e.threshold),
        ));
    }
    state.meta.recovery_quorum = Some(RecoveryQuorum {
        threshold: e.threshold,
        keys: e.recovery_public_keys.clone(),
        set_at: meta.index,
    });
    changes.touch(StateKey::Meta);
    Ok(())
}

/// The replacement of the ledger key at entry `ctx.index`, decided on
/// everything but the approvals' signatures (checked by the writer and every
/// verifier with `ledger::recovery`, which the registry does not import).
pub(super) fn decide_emergency_rotate_ledger_key(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    c: &EmergencyRotateLedgerKey,
) -> Result<Vec<Event>, RegistryError> {
    require_admin(caller, "replacing the ledger key")?;
    let quorum = state
        .recovery_quorum()
        .ok_or(RegistryError::NoRecoveryQuorum)?;
    if c.after_size != ctx.index {
        return Err(RegistryError::RecoverySizeMismatch {
            approved: c.after_size,
            size: ctx.index,
        });
    }
    let current = state
        .ledger_key_at(ctx.index)
        .ok_or_else(|| RegistryError::invalid("new_public_key", "the ledger has no genesis"))?;
    if c.new_public_key == current {
        return Err(RegistryError::LedgerKeyUnchanged {
            key: key_id_of(&current)?,
        });
    }
    if let Some(t) = state
        .ledger_key_terms()
        .iter()
        .find(|t| t.public_key == c.new_public_key)
    {
        return Err(RegistryError::LedgerKeyReused {
            key: key_id_of(&t.public_key)?,
            from_index: t.from_index,
        });
    }
    if c.approvals.len() > crate::limits::RECOVERY_KEYS_MAX {
        return Err(RegistryError::invalid(
            "approvals",
            format!(
                "at most {} approvals, found {}",
                crate::limits::RECOVERY_KEYS_MAX,
                c.approvals.len()
            ),
        ));
    }
    for (i, a) in c.approvals.iter().enumerate() {
        if !quorum.keys.contains(&a.recovery_public_key) {
            return Err(RegistryError::NotARecoveryKey {
                key: key_id_of(&a.recovery_public_key)?,
                set_at: quorum.set_at,
            });
        }
        if c.approvals[..i]
            .iter()
            .any(|b| b.recovery_public_key == a.recovery_public_key)
        {
            return Err(RegistryError::DuplicateApproval {
                key: key_id_of(&a.recovery_public_key)?,
            });
        }
    }
    if c.approvals.len() < quorum.threshold as usize {
        return Err(RegistryError::TooFewApprovals {
            given: c.approvals.len(),
            threshold: quorum.threshold,
            keys: quorum.keys.len(),
        });
    }
    Ok(vec![Event::LedgerKeyReplaced(LedgerKeyReplaced {
        old_public_key: current,
        new_public_key: c.new_public_key,
        after_size: c.after_size,
        approvals: c.approvals.clone(),
    })])
}

pub(super) fn apply_ledger_key_replaced(
    state: &mut State,
    meta: &EntryMeta,
    e: &LedgerKeyReplaced,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    old_key_in_force(state, meta, &e.old_public_key, "replacement")?;
    if e.after_size != meta.index {
        return Err(fail(
            meta,
            format!(
                "the replacement is entry {}, it says it follows {} entries",
                meta.index, e.after_size
            ),
        ));
    }
    never_a_ledger_key(state, meta, &e.new_public_key)?;
    let quorum_entry = state.recovery_quorum().map(|q| q.set_at).ok_or_else(|| {
        fail(
            meta,
            "a ledger key replacement with no recovery quorum".into(),
        )
    })?;
    state.meta.ledger_keys.push(LedgerKeyTerm {
        from_index: meta.next_index(),
        public_key: e.new_public_key,
        quorum_entry: Some(quorum_entry),
    });
    changes.touch(StateKey::Meta);
    Ok(())
}

pub(super) fn decide_revoke(
    state: &State,
    caller: &Caller,
    c: &RevokeParticipant,
) -> Result<Vec<Event>, RegistryError> {
    require_admin(caller, "revoking a participant")?;
    check_text("reason", &c.reason, crate::limits::REASON_CHARS_MAX)?;
    let p = active(state, &c.participant_id)?;
    if p.role == Role::Admin {
        let admins = state
            .participants()
            .filter(|q| q.role == Role::Admin && q.status == ParticipantStatus::Active)
            .count();
        if admins <= 1 {
            return Err(RegistryError::LastAdmin {
                participant: c.participant_id.clone(),
            });
        }
    }
    Ok(vec![Event::ParticipantRevoked(ParticipantRevoked {
        participant_id: c.participant_id.clone(),
        key_id: p.key_id.clone(),
        reason: c.reason.clone(),
    })])
}

fn fail(meta: &EntryMeta, reason: String) -> ApplyError {
    ApplyError {
        index: meta.index,
        reason,
    }
}

fn insert_participant(
    state: &mut State,
    meta: &EntryMeta,
    r: &ParticipantRegistered,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let (id, key_id) = (&r.participant_id, &r.key_id);
    if state.participants.contains_key(id) {
        return Err(fail(meta, format!("participant {id} registered twice")));
    }
    if state.keys.contains_key(key_id) {
        return Err(fail(meta, format!("key {key_id} registered twice")));
    }
    state.participants.insert(
        id.clone(),
        Participant {
            participant_id: id.clone(),
            role: r.role,
            status: ParticipantStatus::Active,
            key_id: key_id.clone(),
            public_key: r.public_key,
            display_name: r.display_name.clone(),
            registered_at_index: meta.index,
        },
    );
    state.keys.insert(
        key_id.clone(),
        KeyRecord {
            key_id: key_id.clone(),
            participant_id: id.clone(),
            public_key: r.public_key,
            valid_from_index: meta.next_index(),
            retired_at_index: None,
        },
    );
    changes.touch(StateKey::Participant(id.clone()));
    changes.touch(StateKey::Key(key_id.clone()));
    Ok(())
}

fn check_key_id(meta: &EntryMeta, key: &PublicKey, claimed: &KeyId) -> Result<(), ApplyError> {
    let actual = KeyId::of_bytes(&key.0);
    if &actual != claimed {
        return Err(fail(
            meta,
            format!("key id {claimed} does not match its key (expected {actual})"),
        ));
    }
    Ok(())
}

pub(super) fn apply_genesis(
    state: &mut State,
    meta: &EntryMeta,
    g: &GenesisRecorded,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    if meta.index != 0 || state.meta.identity.is_some() {
        return Err(fail(meta, "genesis is only allowed as entry 0".into()));
    }
    if g.format_version != crate::ids::FORMAT_VERSION {
        return Err(fail(
            meta,
            format!(
                "ledger format version {} is not supported (this build reads {})",
                g.format_version,
                crate::ids::FORMAT_VERSION
            ),
        ));
    }
    check_key_id(meta, &g.admin_public_key, &g.admin_key_id)?;
    state.meta.identity = Some(LedgerIdentity {
        format_version: g.format_version,
        origin: g.origin.clone(),
        ledger_public_key: g.ledger_public_key,
        simulated_clock: g.simulated_clock,
    });
    let admin = ParticipantRegistered {
        participant_id: g.admin_participant_id.clone(),
        role: Role::Admin,
        public_key: g.admin_public_key,
        key_id: g.admin_key_id.clone(),
        display_name: "ledger administrator".into(),
    };
    insert_participant(state, meta, &admin, changes)?;
    // The genesis entry is signed by the admin key itself (proof of possession).
    if let Some(k) = state.keys.get_mut(&g.admin_key_id) {
        k.valid_from_index = meta.index;
    }
    Ok(())
}

pub(super) fn apply_registered(
    state: &mut State,
    meta: &EntryMeta,
    e: &ParticipantRegistered,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    check_key_id(meta, &e.public_key, &e.key_id)?;
    insert_participant(state, meta, e, changes)
}

pub(super) fn apply_rotated(
    state: &mut State,
    meta: &EntryMeta,
    e: &KeyRotated,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    check_key_id(meta, &e.new_public_key, &e.new_key_id)?;
    if state.keys.contains_key(&e.new_key_id) {
        return Err(fail(meta, format!("key {} registered twice", e.new_key_id)));
    }
    let p = state
        .participants
        .get_mut(&e.participant_id)
        .ok_or_else(|| {
            fail(
                meta,
                format!("rotation for unknown participant {}", e.participant_id),
            )
        })?;
    if p.key_id != e.old_key_id || p.status != ParticipantStatus::Active {
        return Err(fail(
            meta,
            format!(
                "rotation of {} does not match its current key {}",
                e.participant_id, p.key_id
            ),
        ));
    }
    p.key_id = e.new_key_id.clone();
    p.public_key = e.new_public_key;
    if let Some(old) = state.keys.get_mut(&e.old_key_id) {
        old.retired_at_index = Some(meta.index);
    }
    state.keys.insert(
        e.new_key_id.clone(),
        KeyRecord {
            key_id: e.new_key_id.clone(),
            participant_id: e.participant_id.clone(),
            public_key: e.new_public_key,
            valid_from_index: meta.next_index(),
            retired_at_index: None,
        },
    );
    changes.touch(StateKey::Participant(e.participant_id.clone()));
    changes.touch(StateKey::Key(e.old_key_id.clone()));
    changes.touch(StateKey::Key(e.new_key_id.clone()));
    Ok(())
}

pub(super) fn apply_revoked(
    state: &mut State,
    meta: &EntryMeta,
    e: &ParticipantRevoked,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let p = state
        .participants
        .get_mut(&e.participant_id)
        .ok_or_else(|| {
            fail(
                meta,
                format!("revocation of unknown participant {}", e.participant_id),
            )
        })?;
    if p.key_id != e.key_id || p.status != ParticipantStatus::Active {
        return Err(fail(
            meta,
            format!(
                "revocation of {} does not match its state",
                e.participant_id
            ),
        ));
    }
    p.status = ParticipantStatus::Revoked;
    if let Some(k) = state.keys.get_mut(&e.key_id) {
        k.retired_at_index = Some(meta.index);
    }
    changes.touch(StateKey::Participant(e.participant_id.clone()));
    changes.touch(StateKey::Key(e.key_id.clone()));
    Ok(())
}
