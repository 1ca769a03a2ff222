//! The deterministic state machine: command + state -> events; event + state -> state.
//!
//! Invariants: `decide` never changes state and `apply` never fails on an event that
//! `decide` produced; neither panics on any input (units and amounts use checked
//! arithmetic, and a figure beyond the bounds of `series::terms` is a refusal);
//! both are pure (no clock, no storage, no randomness: the entry's index and
//! recorded time come in as arguments). After every event the conservation laws
//! of `invariants` hold. Replaying the ledger's events from genesis through
//! `apply` gives exactly the state the server holds. The registry imports no
//! ledger code: key ids and the format version come from the leaf `ids`.

pub mod allotment;
pub mod coupons;
mod error;
pub mod holdings;
pub mod invariants;
mod participants;
pub mod reopening;
pub mod series;
mod servicing;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
mod state;
pub mod subscriptions;
mod types;
pub mod unclaimed;
pub mod withholding;

pub use allotment::AllotmentRule;
pub use error::{ApplyError, RegistryError, RegistryErrorKind};
pub use holdings::{
    ChangeRegistration, DeathNotice, DeathNoticeFiled, EarlyRedeemed, EarlyRedemptionTerms,
    FileDeathNotice, HoldingChange, HoldingChangeKind, HoldingPassed, RedeemEarly,
    RedemptionReason, RegistrationChanged, RegistrationForm, RequestTransfer, SuccessionPath,
    Transfer, TransferConfirmed, TransferKind, TransferPolicy, TransferRefused, TransferRequested,
    TransferStatus,
};
pub use series::{
    AllotmentLine, Country, CouponSpec, DiasporaCategory, Eligibility, HoldingUnits, PricingSpec,
    ScheduledFlow, Series, SeriesDefined, SeriesFigures, SeriesId, SeriesStatus, SeriesTerms,
    SeriesTransition,
};
pub use servicing::HoldingKey;
pub use state::{Changes, EntryMeta, LedgerKeyTerm, RecoveryQuorum, State, StateKey};
pub use subscriptions::{
    Holding, InvestorRef, SubmitSubscription, Subscription, SubscriptionStatus,
    SubscriptionSubmitted,
};
pub use types::*;

use chrono::{DateTime, Utc};

/// Where and when the entry a command would produce is recorded: the index the
/// first entry takes and the group commit's recorded time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecideCtx {
    pub index: u64,
    pub recorded_at: DateTime<Utc>,
}

/// Who is asking: an authenticated, active participant acting with a valid key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub participant_id: ParticipantId,
    pub role: Role,
    pub key_id: crate::ids::KeyId,
}

impl Caller {
    /// Refuses `action` unless the caller acts in `role`.
    pub fn require(&self, role: Role, action: &'static str) -> Result<(), RegistryError> {
        if self.role == role {
            return Ok(());
        }
        Err(RegistryError::RoleRequired {
            action,
            needs: role,
            caller: self.participant_id.clone(),
            role: self.role,
        })
    }
}

/// A state-changing request, already validated for shape (the edge checks fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    RegisterParticipant(participants::RegisterParticipant),
    RotateKey(participants::RotateKey),
    RevokeParticipant(participants::RevokeParticipant),
    RotateLedgerKey(participants::RotateLedgerKey),
    SetRecoveryQuorum(participants::SetRecoveryQuorum),
    EmergencyRotateLedgerKey(participants::EmergencyRotateLedgerKey),
    CreateSeries(SeriesTerms),
    AmendSeries(SeriesTerms),
    Transition(SeriesTransition),
    SubmitSubscription(SubmitSubscription),
    WithdrawSubscription(u64),
    ConfirmSettlement(u64),
    PublishFixing {
        reference: String,
        date: chrono::NaiveDate,
        rate: crate::money::Rate,
    },
    PostAccrual {
        series_id: SeriesId,
        event_id: crate::accrual::EventId,
    },
    SetWithholdingTable(withholding::SetWithholdingTable),
    RecordResidence(withholding::RecordResidence),
    ReportUndeliverable(unclaimed::ReportUndeliverable),
    RecordClaim(unclaimed::RecordClaim),
    ReopenSeries(reopening::ReopenSeries),
    ChangeRegistration(ChangeRegistration),
    RequestTransfer(RequestTransfer),
    ConfirmTransfer(u64),
    RefuseTransfer {
        transfer_id: u64,
        reason: String,
    },
    FileDeathNotice(FileDeathNotice),
    RedeemEarly(RedeemEarly),
}

pub use participants::{
    EmergencyRotateLedgerKey, RegisterParticipant, RevokeParticipant, RotateKey, RotateLedgerKey,
    SetRecoveryQuorum,
};

/// What a command decides: the events to append (first carries the request), or
/// an earlier outcome for an idempotent repeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Append(Vec<Event>),
    /// The command repeats an earlier one (same idempotency key, same request):
    /// nothing is written; the answer is the entry at `index`.
    Existing {
        index: u64,
    },
}

/// Decides what `command` by `caller` does to `state`, were its first entry
/// recorded at `ctx`. Never mutates.
pub fn decide(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    command: &Command,
) -> Result<Decision, RegistryError> {
    let events = match command {
        Command::RegisterParticipant(c) => participants::decide_register(state, caller, c),
        Command::RotateKey(c) => participants::decide_rotate(state, caller, c),
        Command::RevokeParticipant(c) => participants::decide_revoke(state, caller, c),
        Command::RotateLedgerKey(c) => {
            participants::decide_rotate_ledger_key(state, caller, ctx, c)
        }
        Command::SetRecoveryQuorum(c) => participants::decide_set_recovery_quorum(state, caller, c),
        Command::EmergencyRotateLedgerKey(c) => {
            participants::decide_emergency_rotate_ledger_key(state, caller, ctx, c)
        }
        Command::CreateSeries(t) => series::decide_create(state, caller, t),
        Command::AmendSeries(t) => series::decide_amend(state, caller, t),
        Command::Transition(t) => series::decide_transition(state, caller, ctx, t),
        Command::SubmitSubscription(c) => {
            return subscriptions::decide_submit(state, caller, ctx, c);
        }
        Command::WithdrawSubscription(id) => {
            subscriptions::decide_withdraw(state, caller, ctx, *id)
        }
        Command::ConfirmSettlement(id) => subscriptions::decide_settle(state, caller, *id),
        Command::PostAccrual {
            series_id,
            event_id,
        } => return coupons::decide_post(state, caller, ctx, series_id, event_id),
        Command::PublishFixing {
            reference,
            date,
            rate,
        } => coupons::decide_fixing(state, caller, reference, *date, *rate),
        Command::SetWithholdingTable(c) => withholding::decide_table(state, caller, c),
        Command::RecordResidence(c) => withholding::decide_residence(state, caller, c),
        Command::ReportUndeliverable(c) => unclaimed::decide_report(state, caller, c),
        Command::RecordClaim(c) => unclaimed::decide_claim(state, caller, c),
        Command::ReopenSeries(c) => reopening::decide_reopen(state, caller, ctx, c),
        Command::ChangeRegistration(c) => {
            holdings::registration::decide_change(state, caller, ctx, c)
        }
        Command::RequestTransfer(c) => holdings::transfers::decide_request(state, caller, ctx, c),
        Command::ConfirmTransfer(id) => {
            holdings::transfers::decide_confirm(state, caller, ctx, *id)
        }
        Command::RefuseTransfer {
            transfer_id,
            reason,
        } => holdings::transfers::decide_refuse(state, caller, *transfer_id, reason),
        Command::FileDeathNotice(c) => holdings::succession::decide(state, caller, ctx, c),
        Command::RedeemEarly(c) => holdings::redemption::decide(state, caller, ctx, c),
    }?;
    Ok(Decision::Append(events))
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
        Event::LedgerKeyRotated(e) => {
            participants::apply_ledger_key_rotated(state, meta, e, changes)?
        }
        Event::RecoveryQuorumSet(e) => {
            participants::apply_recovery_quorum_set(state, meta, e, changes)?
        }
        Event::LedgerKeyReplaced(e) => {
            participants::apply_ledger_key_replaced(state, meta, e, changes)?
        }
        Event::SeriesCreated(_)
        | Event::SeriesAmended(_)
        | Event::SeriesOpened(_)
        | Event::SeriesClosed { .. }
        | Event::SeriesCancelled { .. }
        | Event::AllotmentDecided { .. }
        | Event::SeriesIssued { .. } => series::apply(state, meta, event, changes)?,
        Event::SubscriptionSubmitted(_)
        | Event::SubscriptionWithdrawn { .. }
        | Event::SubscriptionsRefunded { .. }
        | Event::SubscriptionsAllotted { .. }
        | Event::SettlementConfirmed { .. }
        | Event::UnsettledReleased { .. }
        | Event::HoldingsCreated { .. } => subscriptions::apply(state, meta, event, changes)?,
        Event::FixingPublished { .. }
        | Event::RecordDateFixed(_)
        | Event::CouponPaid(_)
        | Event::CouponPayments { .. }
        | Event::Redeemed(_)
        | Event::RedemptionPayments { .. }
        | Event::SeriesMatured { .. } => coupons::apply(state, meta, event, changes)?,
        Event::WithholdingTableSet(e) => withholding::apply_table(state, meta, e, changes)?,
        Event::ResidenceRecorded(e) => withholding::apply_residence(state, meta, e, changes)?,
        Event::PaymentUndeliverable(e) => unclaimed::apply_report(state, meta, e, changes)?,
        Event::UnclaimedPaymentClaimed(e) => unclaimed::apply_claim(state, meta, e, changes)?,
        Event::SeriesReopened(_)
        | Event::TrancheClosed { .. }
        | Event::TrancheCancelled { .. }
        | Event::TrancheAllotted { .. }
        | Event::TrancheIssued { .. }
        | Event::TrancheHoldings { .. } => reopening::apply(state, meta, event, changes)?,
        Event::RegistrationChanged(e) => {
            holdings::registration::apply_changed(state, meta, e, changes)?
        }
        Event::TransferRequested(e) => {
            holdings::transfers::apply_requested(state, meta, e, changes)?
        }
        Event::TransferConfirmed(e) => {
            holdings::transfers::apply_confirmed(state, meta, e, changes)?
        }
        Event::TransferRefused(e) => holdings::transfers::apply_refused(state, meta, e, changes)?,
        Event::DeathNoticeFiled(e) => holdings::succession::apply_filed(state, meta, e, changes)?,
        Event::HoldingPassed(e) => holdings::succession::apply_passed(state, meta, e, changes)?,
        Event::EarlyRedeemed(e) => holdings::redemption::apply(state, meta, e, changes)?,
    }
    state.advance(meta, changes);
    Ok(())
}

#[cfg(test)]
mod tests;
