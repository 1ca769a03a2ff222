//! Conversion between the protobuf ledger format and the registry's domain types.
//! Wire input is validated here, once; the domain never sees generated types.

use crate::ledger::keys::KeyId;
use crate::proto as pb;
use crate::registry::{self, Event, ParticipantId, PublicKey, RegistryError, Role};
use chrono::{DateTime, Utc};

pub mod bonds;
pub mod coupons;
pub mod holdings;
pub mod servicing;
pub mod terms;
pub mod wire;

pub fn role_to_pb(role: Role) -> pb::Role {
    match role {
        Role::Admin => pb::Role::Admin,
        Role::Treasury => pb::Role::Treasury,
        Role::Bank => pb::Role::Bank,
        Role::Auditor => pb::Role::Auditor,
        Role::Engine => pb::Role::Engine,
    }
}

pub fn role_from_pb(field: &str, value: i32) -> Result<Role, RegistryError> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Ok(pb::Role::Treasury) => Ok(Role::Treasury),
        Ok(pb::Role::Bank) => Ok(Role::Bank),
        Ok(pb::Role::Auditor) => Ok(Role::Auditor),
        Ok(pb::Role::Engine) => Ok(Role::Engine),
        Ok(pb::Role::Unspecified) => Err(RegistryError::invalid(field, "role is required")),
        Err(_) => Err(RegistryError::invalid(
            field,
            format!("unknown role value {value}"),
        )),
    }
}

pub fn timestamp_to_pb(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn timestamp_from_pb(
    field: &str,
    t: Option<&prost_types::Timestamp>,
) -> Result<DateTime<Utc>, RegistryError> {
    let t = t.ok_or_else(|| RegistryError::invalid(field, "timestamp is required"))?;
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(RegistryError::invalid(
            field,
            format!("nanos must be 0 to 999999999, found {}", t.nanos),
        ));
    }
    DateTime::from_timestamp(t.seconds, t.nanos as u32).ok_or_else(|| {
        RegistryError::invalid(field, format!("timestamp {}s is out of range", t.seconds))
    })
}

pub fn public_key_from_pb(field: &str, bytes: &[u8]) -> Result<PublicKey, RegistryError> {
    let vk = crate::ledger::keys::parse_public_key(bytes)
        .map_err(|e| RegistryError::invalid(field, e.to_string()))?;
    Ok(PublicKey(vk.to_bytes()))
}

/// Recovery keys: at most `RECOVERY_KEYS_MAX`, each a valid, not weak, key.
fn recovery_keys_from_pb(keys: &[Vec<u8>]) -> Result<Vec<PublicKey>, RegistryError> {
    if keys.len() > crate::limits::RECOVERY_KEYS_MAX {
        return Err(RegistryError::invalid(
            "recovery_public_keys",
            format!(
                "at most {} keys, found {}",
                crate::limits::RECOVERY_KEYS_MAX,
                keys.len()
            ),
        ));
    }
    keys.iter()
        .map(|k| public_key_from_pb("recovery_public_keys", k))
        .collect()
}

/// Approvals: at most `RECOVERY_KEYS_MAX`, each a valid key and a signature of
/// the Ed25519 length (whether it verifies is the writer's check).
fn approvals_from_pb(
    approvals: &[pb::RecoveryApproval],
) -> Result<Vec<registry::RecoveryApproval>, RegistryError> {
    if approvals.len() > crate::limits::RECOVERY_KEYS_MAX {
        return Err(RegistryError::invalid(
            "approvals",
            format!(
                "at most {} approvals, found {}",
                crate::limits::RECOVERY_KEYS_MAX,
                approvals.len()
            ),
        ));
    }
    approvals
        .iter()
        .map(|a| {
            if a.signature.len() != crate::ledger::keys::SIGNATURE_BYTES {
                return Err(RegistryError::invalid(
                    "approvals.signature",
                    format!(
                        "must be {} bytes, found {}",
                        crate::ledger::keys::SIGNATURE_BYTES,
                        a.signature.len()
                    ),
                ));
            }
            Ok(registry::RecoveryApproval {
                recovery_public_key: public_key_from_pb(
                    "approvals.recovery_public_key",
                    &a.recovery_public_key,
                )?,
                signature: a.signature.clone(),
            })
        })
        .collect()
}

pub fn approvals_to_pb(approvals: &[registry::RecoveryApproval]) -> Vec<pb::RecoveryApproval> {
    approvals
        .iter()
        .map(|a| pb::RecoveryApproval {
            recovery_public_key: a.recovery_public_key.0.to_vec(),
            signature: a.signature.clone(),
        })
        .collect()
}

fn key_id_from_pb(field: &str, s: &str) -> Result<KeyId, RegistryError> {
    KeyId::parse(s).ok_or_else(|| {
        RegistryError::invalid(
            field,
            format!("expected 16 lowercase hex digits, found {s:?}"),
        )
    })
}

/// Domain event to its ledger form.
pub fn event_to_pb(event: &Event) -> pb::Event {
    use pb::event::Kind;
    let kind = match event {
        Event::Genesis(g) => Kind::Genesis(pb::GenesisRecorded {
            format_version: g.format_version,
            origin: g.origin.clone(),
            ledger_public_key: g.ledger_public_key.0.to_vec(),
            admin_participant_id: g.admin_participant_id.to_string(),
            admin_public_key: g.admin_public_key.0.to_vec(),
            admin_key_id: g.admin_key_id.to_string(),
            simulated_clock: g.simulated_clock,
        }),
        Event::ParticipantRegistered(e) => Kind::ParticipantRegistered(pb::ParticipantRegistered {
            participant_id: e.participant_id.to_string(),
            role: role_to_pb(e.role) as i32,
            public_key: e.public_key.0.to_vec(),
            key_id: e.key_id.to_string(),
            display_name: e.display_name.clone(),
        }),
        Event::KeyRotated(e) => Kind::KeyRotated(pb::KeyRotated {
            participant_id: e.participant_id.to_string(),
            old_key_id: e.old_key_id.to_string(),
            new_public_key: e.new_public_key.0.to_vec(),
            new_key_id: e.new_key_id.to_string(),
        }),
        Event::ParticipantRevoked(e) => Kind::ParticipantRevoked(pb::ParticipantRevoked {
            participant_id: e.participant_id.to_string(),
            key_id: e.key_id.to_string(),
            reason: e.reason.clone(),
        }),
        Event::LedgerKeyRotated(e) => Kind::LedgerKeyRotated(pb::LedgerKeyRotated {
            old_public_key: e.old_public_key.0.to_vec(),
            new_public_key: e.new_public_key.0.to_vec(),
            from_index: e.from_index,
            new_key_signature: e.new_key_signature.clone(),
        }),
        Event::RecoveryQuorumSet(e) => Kind::RecoveryQuorumSet(pb::RecoveryQuorumSet {
            threshold: e.threshold,
            recovery_public_keys: e
                .recovery_public_keys
                .iter()
                .map(|k| k.0.to_vec())
                .collect(),
        }),
        Event::LedgerKeyReplaced(e) => Kind::LedgerKeyReplaced(pb::LedgerKeyReplaced {
            old_public_key: e.old_public_key.0.to_vec(),
            new_public_key: e.new_public_key.0.to_vec(),
            after_size: e.after_size,
            approvals: approvals_to_pb(&e.approvals),
        }),
        other => match holdings::event_to_pb(other)
            .or_else(|| bonds::event_to_pb(other))
            .or_else(|| coupons::event_to_pb(other))
            .or_else(|| servicing::event_to_pb(other))
        {
            Some(kind) => kind,
            None => unreachable!("every event kind has a ledger form"),
        },
    };
    pb::Event { kind: Some(kind) }
}

/// Ledger event to the domain. Fails on anything a correct ledger never holds.
pub fn event_from_pb(event: &pb::Event) -> Result<Event, RegistryError> {
    use pb::event::Kind;
    let kind = event
        .kind
        .as_ref()
        .ok_or_else(|| RegistryError::invalid("event", "event kind is missing or unknown"))?;
    Ok(match kind {
        Kind::Genesis(g) => Event::Genesis(registry::GenesisRecorded {
            format_version: g.format_version,
            origin: g.origin.clone(),
            ledger_public_key: public_key_from_pb("ledger_public_key", &g.ledger_public_key)?,
            admin_participant_id: ParticipantId::parse(
                "admin_participant_id",
                &g.admin_participant_id,
            )?,
            admin_public_key: public_key_from_pb("admin_public_key", &g.admin_public_key)?,
            admin_key_id: key_id_from_pb("admin_key_id", &g.admin_key_id)?,
            simulated_clock: g.simulated_clock,
        }),
        Kind::ParticipantRegistered(e) => {
            Event::ParticipantRegistered(registry::ParticipantRegistered {
                participant_id: ParticipantId::parse("participant_id", &e.participant_id)?,
                role: role_from_pb("role", e.role)?,
                public_key: public_key_from_pb("public_key", &e.public_key)?,
                key_id: key_id_from_pb("key_id", &e.key_id)?,
                display_name: e.display_name.clone(),
            })
        }
        Kind::KeyRotated(e) => Event::KeyRotated(registry::KeyRotated {
            participant_id: ParticipantId::parse("participant_id", &e.participant_id)?,
            old_key_id: key_id_from_pb("old_key_id", &e.old_key_id)?,
            new_public_key: public_key_from_pb("new_public_key", &e.new_public_key)?,
            new_key_id: key_id_from_pb("new_key_id", &e.new_key_id)?,
        }),
        Kind::ParticipantRevoked(e) => Event::ParticipantRevoked(registry::ParticipantRevoked {
            participant_id: ParticipantId::parse("participant_id", &e.participant_id)?,
            key_id: key_id_from_pb("key_id", &e.key_id)?,
            reason: e.reason.clone(),
        }),
        Kind::LedgerKeyRotated(e) => {
            if e.new_key_signature.len() != crate::ledger::keys::SIGNATURE_BYTES {
                return Err(RegistryError::invalid(
                    "new_key_signature",
                    format!(
                        "must be {} bytes, found {}",
                        crate::ledger::keys::SIGNATURE_BYTES,
                        e.new_key_signature.len()
                    ),
                ));
            }
            Event::LedgerKeyRotated(registry::LedgerKeyRotated {
                old_public_key: public_key_from_pb("old_public_key", &e.old_public_key)?,
                new_public_key: public_key_from_pb("new_public_key", &e.new_public_key)?,
                from_index: e.from_index,
                new_key_signature: e.new_key_signature.clone(),
            })
        }
        Kind::RecoveryQuorumSet(e) => Event::RecoveryQuorumSet(registry::RecoveryQuorumSet {
            threshold: e.threshold,
            recovery_public_keys: recovery_keys_from_pb(&e.recovery_public_keys)?,
        }),
        Kind::LedgerKeyReplaced(e) => Event::LedgerKeyReplaced(registry::LedgerKeyReplaced {
            old_public_key: public_key_from_pb("old_public_key", &e.old_public_key)?,
            new_public_key: public_key_from_pb("new_public_key", &e.new_public_key)?,
            after_size: e.after_size,
            approvals: approvals_from_pb(&e.approvals)?,
        }),
        other => match servicing::event_from_pb(other)
            .or_else(|| holdings::event_from_pb(other))
            .or_else(|| coupons::event_from_pb(other))
            .or_else(|| bonds::event_from_pb(other))
        {
            Some(result) => result?,
            None => return Err(RegistryError::invalid("event", "unknown event kind")),
        },
    })
}

/// The RPC a command belongs to, for matching payloads to endpoints.
pub fn command_name(command: &pb::command::Kind) -> &'static str {
    use pb::command::Kind;
    match command {
        Kind::Genesis(_) => "Genesis",
        Kind::RegisterParticipant(_) => "RegisterParticipant",
        Kind::RotateKey(_) => "RotateKey",
        Kind::RevokeParticipant(_) => "RevokeParticipant",
        Kind::ListParticipants(_) => "ListParticipants",
        Kind::RotateLedgerKey(_) => "RotateLedgerKey",
        Kind::SetRecoveryQuorum(_) => "SetRecoveryQuorum",
        Kind::EmergencyRotateLedgerKey(_) => "EmergencyRotateLedgerKey",
        Kind::GetEntry(_) => "GetEntry",
        Kind::StreamEntries(_) => "StreamEntries",
        Kind::GetCheckpoint(_) => "GetCheckpoint",
        Kind::GetInclusionProof(_) => "GetInclusionProof",
        Kind::GetConsistencyProof(_) => "GetConsistencyProof",
        Kind::GetReceipt(_) => "GetReceipt",
        Kind::CreateSeries(_) => "CreateSeries",
        Kind::AmendSeries(_) => "AmendSeries",
        Kind::OpenSeries(_) => "OpenSeries",
        Kind::CloseSeries(_) => "CloseSeries",
        Kind::CancelSeries(_) => "CancelSeries",
        Kind::AllotSeries(_) => "AllotSeries",
        Kind::ReleaseUnsettled(_) => "ReleaseUnsettled",
        Kind::IssueSeries(_) => "IssueSeries",
        Kind::SubmitSubscription(_) => "SubmitSubscription",
        Kind::WithdrawSubscription(_) => "WithdrawSubscription",
        Kind::ConfirmSettlement(_) => "ConfirmSettlement",
        Kind::GetSeries(_) => "GetSeries",
        Kind::ListSeries(_) => "ListSeries",
        Kind::GetSubscription(_) => "GetSubscription",
        Kind::ListSubscriptions(_) => "ListSubscriptions",
        Kind::GetInvestorHoldings(_) => "GetInvestorHoldings",
        Kind::ListHolders(_) => "ListHolders",
        Kind::PriceSchedule(_) => "Schedule",
        Kind::PriceFromYield(_) => "PriceFromYield",
        Kind::YieldFromPrice(_) => "YieldFromPrice",
        Kind::PatrioticPricing(_) => "PatrioticPricing",
        Kind::PublishFixing(_) => "PublishFixing",
        Kind::PostAccrualEvent(_) => "PostAccrualEvent",
        Kind::ListDueEvents(_) => "ListDueEvents",
        Kind::GetAccrued(_) => "GetAccrued",
        Kind::GetInvestorStatement(_) => "GetInvestorStatement",
        Kind::GetDebtService(_) => "GetDebtService",
        Kind::ListFixings(_) => "ListFixings",
        Kind::SubmitBatch(_) => "SubmitBatch",
        Kind::SetWithholdingTable(_) => "SetWithholdingTable",
        Kind::RecordResidence(_) => "RecordResidence",
        Kind::ReportUndeliverable(_) => "ReportUndeliverable",
        Kind::RecordClaim(_) => "RecordClaim",
        Kind::ReopenSeries(_) => "ReopenSeries",
        Kind::GetTaxReport(_) => "GetTaxReport",
        Kind::ListUnclaimed(_) => "ListUnclaimed",
        Kind::GetWithholdingTables(_) => "GetWithholdingTables",
        Kind::AdvanceClock(_) => "AdvanceClock",
        Kind::ChangeRegistration(_) => "ChangeRegistration",
        Kind::RequestTransfer(_) => "RequestTransfer",
        Kind::ConfirmTransfer(_) => "ConfirmTransfer",
        Kind::RefuseTransfer(_) => "RefuseTransfer",
        Kind::FileDeathNotice(_) => "FileDeathNotice",
        Kind::RedeemEarly(_) => "RedeemEarly",
        Kind::ListTransfers(_) => "ListTransfers",
    }
}

pub fn register_from_pb(c: &pb::RegisterParticipant) -> Result<registry::Command, RegistryError> {
    Ok(registry::Command::RegisterParticipant(
        registry::RegisterParticipant {
            participant_id: ParticipantId::parse("participant_id", &c.participant_id)?,
            role: role_from_pb("role", c.role)?,
            public_key: public_key_from_pb("public_key", &c.public_key)?,
            display_name: c.display_name.clone(),
        },
    ))
}

pub fn rotate_from_pb(c: &pb::RotateKey) -> Result<registry::Command, RegistryError> {
    Ok(registry::Command::RotateKey(registry::RotateKey {
        participant_id: ParticipantId::parse("participant_id", &c.participant_id)?,
        new_public_key: public_key_from_pb("new_public_key", &c.new_public_key)?,
    }))
}

pub fn revoke_from_pb(c: &pb::RevokeParticipant) -> Result<registry::Command, RegistryError> {
    Ok(registry::Command::RevokeParticipant(
        registry::RevokeParticipant {
            participant_id: ParticipantId::parse("participant_id", &c.participant_id)?,
            reason: c.reason.clone(),
        },
    ))
}

pub fn participant_to_pb(p: &registry::Participant) -> pb::Participant {
    pb::Participant {
        participant_id: p.participant_id.to_string(),
        role: role_to_pb(p.role) as i32,
        status: match p.status {
            registry::ParticipantStatus::Active => pb::ParticipantStatus::Active,
            registry::ParticipantStatus::Revoked => pb::ParticipantStatus::Revoked,
        } as i32,
        key_id: p.key_id.to_string(),
        public_key: p.public_key.0.to_vec(),
        display_name: p.display_name.clone(),
        registered_at_index: p.registered_at_index,
    }
}

/// A ledger-changing command from its wire form. Read commands are not commands
/// the ledger records.
pub fn command_from_kind(kind: &pb::command::Kind) -> Result<registry::Command, RegistryError> {
    use pb::command::Kind;
    if let Some(command) = holdings::command_from_kind(kind) {
        return command;
    }
    match kind {
        Kind::RegisterParticipant(c) => register_from_pb(c),
        Kind::RotateKey(c) => rotate_from_pb(c),
        Kind::RevokeParticipant(c) => revoke_from_pb(c),
        Kind::RotateLedgerKey(c) => Ok(registry::Command::RotateLedgerKey(
            registry::RotateLedgerKey {
                new_public_key: public_key_from_pb("new_public_key", &c.new_public_key)?,
            },
        )),
        Kind::SetRecoveryQuorum(c) => Ok(registry::Command::SetRecoveryQuorum(
            registry::SetRecoveryQuorum {
                threshold: c.threshold,
                recovery_public_keys: recovery_keys_from_pb(&c.recovery_public_keys)?,
            },
        )),
        Kind::EmergencyRotateLedgerKey(c) => Ok(registry::Command::EmergencyRotateLedgerKey(
            registry::EmergencyRotateLedgerKey {
                new_public_key: public_key_from_pb("new_public_key", &c.new_public_key)?,
                after_size: c.after_size,
                approvals: approvals_from_pb(&c.approvals)?,
            },
        )),
        Kind::CreateSeries(c) => Ok(registry::Command::CreateSeries(bonds::terms_from_pb(
            c.terms.as_ref(),
        )?)),
        Kind::AmendSeries(c) => Ok(registry::Command::AmendSeries(bonds::terms_from_pb(
            c.terms.as_ref(),
        )?)),
        Kind::OpenSeries(c) => Ok(transition(registry::SeriesTransition::Open(
            bonds::series_id_from_pb(&c.series_id)?,
        ))),
        Kind::CloseSeries(c) => Ok(transition(registry::SeriesTransition::Close(
            bonds::series_id_from_pb(&c.series_id)?,
        ))),
        Kind::CancelSeries(c) => Ok(transition(registry::SeriesTransition::Cancel(
            bonds::series_id_from_pb(&c.series_id)?,
            c.reason.clone(),
        ))),
        Kind::AllotSeries(c) => Ok(transition(registry::SeriesTransition::Allot(
            bonds::series_id_from_pb(&c.series_id)?,
        ))),
        Kind::ReleaseUnsettled(c) => Ok(transition(registry::SeriesTransition::ReleaseUnsettled(
            bonds::series_id_from_pb(&c.series_id)?,
        ))),
        Kind::IssueSeries(c) => Ok(transition(registry::SeriesTransition::Issue(
            bonds::series_id_from_pb(&c.series_id)?,
        ))),
        Kind::SubmitSubscription(c) => Ok(registry::Command::SubmitSubscription(
            bonds::submit_from_pb(c)?,
        )),
        Kind::WithdrawSubscription(c) => {
            Ok(registry::Command::WithdrawSubscription(c.subscription_id))
        }
        Kind::ConfirmSettlement(c) => Ok(registry::Command::ConfirmSettlement(c.subscription_id)),
        Kind::PublishFixing(c) => Ok(registry::Command::PublishFixing {
            reference: c.reference_rate.clone(),
            date: wire::date("fixing_date", &c.fixing_date)?,
            rate: crate::money::Rate::new(wire::decimal("rate", &c.rate)?),
        }),
        Kind::PostAccrualEvent(c) => Ok(registry::Command::PostAccrual {
            series_id: bonds::series_id_from_pb(&c.series_id)?,
            event_id: coupons::event_id("event_id", &c.event_id)?,
        }),
        Kind::SetWithholdingTable(c) => servicing::set_table_from_pb(c),
        Kind::RecordResidence(c) => servicing::residence_from_pb(c),
        Kind::ReportUndeliverable(c) => servicing::report_from_pb(c),
        Kind::RecordClaim(c) => servicing::claim_from_pb(c),
        Kind::ReopenSeries(c) => servicing::reopen_from_pb(c),
        other => Err(RegistryError::invalid(
            "command",
            format!("{} does not change the ledger", command_name(other)),
        )),
    }
}

fn transition(t: registry::SeriesTransition) -> registry::Command {
    registry::Command::Transition(t)
}
