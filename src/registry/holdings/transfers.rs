//! Moves between custodian banks and gifts. The receiving bank requests; the
//! delivering bank confirms or refuses (either bank may refuse a request still
//! pending). Until then the units stay in the delivering holding, marked
//! pending: they are paid there for any record date in between, and cannot be
//! promised twice.
//!
//! Invariants: a series' `transfers` terms decide what may happen (`none`,
//! `between_banks`, `gifts`); a gift re-checks the recipient's eligibility and
//! the per-investor bounds, at request and again at confirmation; a unit is
//! given at most once (units a holding received as a gift are not giftable;
//! a move carries that mark with them).

use super::{
    HoldingChangeKind, check_current, check_register_open, fail, give_units, holding, holding_mut,
    take_units,
};
use crate::money::Units;
use crate::registry::series::{Series, UNITS_MAX, series};
use crate::registry::subscriptions::check_eligible;
use crate::registry::{
    ApplyError, Caller, Changes, Country, DecideCtx, DiasporaCategory, EntryMeta, Event,
    InvestorRef, ParticipantId, RegistrationForm, RegistryError, Role, SeriesId, SeriesStatus,
    State, StateKey, check_text,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a series allows between issue and maturity. Named in snake case.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TransferPolicy {
    /// Units stay with the bank and investor they were issued to (successions
    /// still pass them on).
    #[default]
    None,
    /// The same investor may move units to another custodian bank.
    BetweenBanks,
    /// Moves between banks, and gifts to another eligible investor.
    Gifts,
}

impl TransferPolicy {
    pub fn is_none(&self) -> bool {
        *self == TransferPolicy::None
    }
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A move (the same investor, another bank) or a gift (another investor).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TransferKind {
    Move,
    Gift,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where a transfer is. Named in snake case.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TransferStatus {
    Pending,
    Confirmed,
    Refused,
}

impl TransferStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The receiving bank's request (the caller is the receiving bank).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTransfer {
    pub kind: TransferKind,
    pub series_id: SeriesId,
    pub from_bank: ParticipantId,
    pub from_investor: InvestorRef,
    /// The receiving bank's reference for the receiving investor.
    pub to_investor: InvestorRef,
    pub units: Units,
    /// For a gift: the recipient's diaspora category and country of residence.
    pub recipient: Option<(DiasporaCategory, Country)>,
    /// The form of the receiving holding, if the transfer opens it.
    pub registration: RegistrationForm,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRequested {
    /// The index of this entry.
    pub transfer_id: u64,
    pub kind: TransferKind,
    pub series_id: SeriesId,
    pub from_bank: ParticipantId,
    pub from_investor: InvestorRef,
    pub to_bank: ParticipantId,
    pub to_investor: InvestorRef,
    pub units: Units,
    pub recipient: Option<(DiasporaCategory, Country)>,
    pub registration: RegistrationForm,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferConfirmed {
    pub transfer_id: u64,
    pub kind: TransferKind,
    pub series_id: SeriesId,
    pub from_bank: ParticipantId,
    pub from_investor: InvestorRef,
    pub to_bank: ParticipantId,
    pub to_investor: InvestorRef,
    pub units: Units,
    /// Units that arrive marked as received by gift: all of a gift's; of a
    /// move, the marked units it carries (those leave first).
    pub gift_units: Units,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRefused {
    pub transfer_id: u64,
    pub series_id: SeriesId,
    pub from_bank: ParticipantId,
    pub to_bank: ParticipantId,
    pub reason: String,
}

/// A transfer as the registry keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub transfer_id: u64,
    pub kind: TransferKind,
    pub series_id: SeriesId,
    pub from_bank: ParticipantId,
    pub from_investor: InvestorRef,
    pub to_bank: ParticipantId,
    pub to_investor: InvestorRef,
    pub units: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<(DiasporaCategory, Country)>,
    #[serde(default, skip_serializing_if = "RegistrationForm::is_sole")]
    pub registration: RegistrationForm,
    pub requested_at: DateTime<Utc>,
    pub status: TransferStatus,
    /// The entry that confirmed or refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at_index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The series' terms allow a transfer of `kind`.
fn check_policy(s: &Series, kind: TransferKind) -> Result<(), RegistryError> {
    let policy = s.terms.transfers;
    let allowed = match kind {
        TransferKind::Move => policy != TransferPolicy::None,
        TransferKind::Gift => policy == TransferPolicy::Gifts,
    };
    if allowed {
        return Ok(());
    }
    Err(RegistryError::TransferNotAllowed {
        series: s.terms.series_id.clone(),
        kind: kind.as_str(),
        policy: policy.as_str(),
    })
}

/// The recipient of a gift would hold between the series' per-investor bounds.
fn check_recipient_bounds(
    state: &State,
    s: &Series,
    to: &(SeriesId, InvestorRef, ParticipantId),
    units: u64,
) -> Result<(), RegistryError> {
    let held = state.holdings.get(to).map_or(0, |h| h.units);
    let total = held.saturating_add(units);
    let (min, max) = (
        s.terms.min_units_per_investor,
        s.terms.max_units_per_investor,
    );
    if total < min || total > max {
        return Err(RegistryError::HoldingOutOfBounds {
            series: to.0.clone(),
            investor: to.1.clone(),
            total,
            min,
            max,
        });
    }
    Ok(())
}

pub(in crate::registry) fn decide_request(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    c: &RequestTransfer,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Bank, "requesting a transfer")?;
    if c.units.is_zero() || c.units.get() > UNITS_MAX {
        return Err(RegistryError::invalid(
            "units",
            format!("must be at least 1 whole unit, found {}", c.units),
        ));
    }
    let today = ctx.recorded_at.date_naive();
    c.registration.check(&c.to_investor, today)?;
    let to_bank = caller.participant_id.clone();
    match (c.kind, c.recipient) {
        (TransferKind::Gift, None) => {
            return Err(RegistryError::invalid(
                "recipient_category",
                "a gift names the recipient's diaspora category and country of residence",
            ));
        }
        (TransferKind::Move, Some(_)) => {
            return Err(RegistryError::invalid(
                "recipient_category",
                "a move keeps its investor: name a recipient only for a gift",
            ));
        }
        _ => {}
    }
    if c.kind == TransferKind::Move && c.from_bank == to_bank {
        return Err(RegistryError::invalid(
            "from_bank_id",
            format!("a move between banks comes from another bank than the receiving {to_bank}"),
        ));
    }
    if c.kind == TransferKind::Gift && c.from_bank == to_bank && c.from_investor == c.to_investor {
        return Err(RegistryError::invalid(
            "to_investor_ref",
            "a gift goes to another investor than the donor",
        ));
    }
    let s = series(state, &c.series_id)?;
    check_policy(s, c.kind)?;
    if s.status != SeriesStatus::Issued {
        return Err(RegistryError::SeriesNotLive {
            series: c.series_id.clone(),
            found: s.status,
        });
    }
    if let Some((category, country)) = c.recipient {
        check_eligible(s, category, country)?;
    }
    let from = holding(state, &c.series_id, &c.from_investor, &c.from_bank)?;
    let units = c.units.get();
    let free = from.units.saturating_sub(from.pending_units);
    let available = match c.kind {
        TransferKind::Move => free,
        TransferKind::Gift => free.saturating_sub(from.gift_units),
    };
    if units > available {
        return Err(RegistryError::NotEnoughUnits {
            series: c.series_id.clone(),
            investor: c.from_investor.clone(),
            bank: c.from_bank.clone(),
            asked: units,
            available,
            what: match c.kind {
                TransferKind::Move => "free (not pending)",
                TransferKind::Gift => "giftable (not pending, not received as a gift)",
            },
        });
    }
    let to = (c.series_id.clone(), c.to_investor.clone(), to_bank.clone());
    if c.kind == TransferKind::Gift {
        check_recipient_bounds(state, s, &to, units)?;
    }
    if let Some(existing) = state.holdings.get(&to) {
        if !c.registration.is_sole() && existing.registration != c.registration {
            return Err(RegistryError::RegistrationConflict {
                series: c.series_id.clone(),
                investor: c.to_investor.clone(),
                held: existing.registration.name(),
                asked: c.registration.name(),
            });
        }
    }
    let requested = TransferRequested {
        transfer_id: ctx.index,
        kind: c.kind,
        series_id: c.series_id.clone(),
        from_bank: c.from_bank.clone(),
        from_investor: c.from_investor.clone(),
        to_bank,
        to_investor: c.to_investor.clone(),
        units: c.units,
        recipient: c.recipient,
        registration: c.registration.clone(),
    };
    let mut events = vec![Event::TransferRequested(requested.clone())];
    // A gift inside one bank: its request is also the delivering bank's
    // confirmation.
    if c.from_bank == caller.participant_id {
        check_current(state, s, today)?;
        check_register_open(state, s)?;
        events.push(Event::TransferConfirmed(TransferConfirmed {
            transfer_id: requested.transfer_id,
            kind: requested.kind,
            series_id: requested.series_id,
            from_bank: requested.from_bank,
            from_investor: requested.from_investor,
            to_bank: requested.to_bank,
            to_investor: requested.to_investor,
            units: requested.units,
            gift_units: requested.units,
        }));
    }
    Ok(events)
}

/// The transfer `id`, if `caller` is a bank on one side of it (the delivering
/// side only, when `delivering_only`).
fn party<'a>(
    state: &'a State,
    caller: &Caller,
    id: u64,
    delivering_only: bool,
) -> Result<&'a Transfer, RegistryError> {
    let t = state
        .transfers
        .get(&id)
        .ok_or(RegistryError::TransferNotFound { transfer: id })?;
    let me = &caller.participant_id;
    let ok = t.from_bank == *me || (!delivering_only && t.to_bank == *me);
    if !ok {
        return Err(RegistryError::NotYourTransfer {
            transfer: id,
            delivering: t.from_bank.clone(),
            caller: me.clone(),
            needs: if delivering_only {
                "the delivering bank"
            } else {
                "the delivering or the receiving bank"
            },
        });
    }
    if t.status != TransferStatus::Pending {
        return Err(RegistryError::TransferNotPending {
            transfer: id,
            found: t.status.as_str(),
        });
    }
    Ok(t)
}

pub(in crate::registry) fn decide_confirm(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    id: u64,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Bank, "confirming a transfer")?;
    let t = party(state, caller, id, true)?;
    let s = series(state, &t.series_id)?;
    check_current(state, s, ctx.recorded_at.date_naive())?;
    check_register_open(state, s)?;
    let from = holding(state, &t.series_id, &t.from_investor, &t.from_bank)?;
    let to = (
        t.series_id.clone(),
        t.to_investor.clone(),
        t.to_bank.clone(),
    );
    let gift_units = match t.kind {
        TransferKind::Gift => {
            check_recipient_bounds(state, s, &to, t.units)?;
            t.units
        }
        TransferKind::Move => t.units.min(from.gift_units),
    };
    Ok(vec![Event::TransferConfirmed(TransferConfirmed {
        transfer_id: id,
        kind: t.kind,
        series_id: t.series_id.clone(),
        from_bank: t.from_bank.clone(),
        from_investor: t.from_investor.clone(),
        to_bank: t.to_bank.clone(),
        to_investor: t.to_investor.clone(),
        units: Units::new(t.units),
        gift_units: Units::new(gift_units),
    })])
}

pub(in crate::registry) fn decide_refuse(
    state: &State,
    caller: &Caller,
    id: u64,
    reason: &str,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Bank, "refusing a transfer")?;
    check_text("reason", reason, crate::limits::REASON_CHARS_MAX)?;
    let t = party(state, caller, id, false)?;
    Ok(vec![refusal(t, reason)])
}

/// The refusal of a pending transfer.
pub(in crate::registry) fn refusal(t: &Transfer, reason: &str) -> Event {
    Event::TransferRefused(TransferRefused {
        transfer_id: t.transfer_id,
        series_id: t.series_id.clone(),
        from_bank: t.from_bank.clone(),
        to_bank: t.to_bank.clone(),
        reason: reason.to_string(),
    })
}

pub(in crate::registry) fn apply_requested(
    state: &mut State,
    meta: &EntryMeta,
    e: &TransferRequested,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    if e.transfer_id != meta.index || state.transfers.contains_key(&e.transfer_id) {
        return Err(fail(
            meta,
            format!(
                "transfer id {} must be the entry's own index",
                e.transfer_id
            ),
        ));
    }
    let key = (
        e.series_id.clone(),
        e.from_investor.clone(),
        e.from_bank.clone(),
    );
    let h = holding_mut(state, meta, &key)?;
    let pending = h.pending_units.saturating_add(e.units.get());
    if pending > h.units {
        return Err(fail(
            meta,
            format!(
                "{} units of {} at {} cannot be pending: it holds {}",
                pending, e.from_investor, e.from_bank, h.units
            ),
        ));
    }
    h.pending_units = pending;
    changes.touch(StateKey::Holding(key));
    state.transfers.insert(
        e.transfer_id,
        Transfer {
            transfer_id: e.transfer_id,
            kind: e.kind,
            series_id: e.series_id.clone(),
            from_bank: e.from_bank.clone(),
            from_investor: e.from_investor.clone(),
            to_bank: e.to_bank.clone(),
            to_investor: e.to_investor.clone(),
            units: e.units.get(),
            recipient: e.recipient,
            registration: e.registration.clone(),
            requested_at: meta.recorded_at,
            status: TransferStatus::Pending,
            closed_at_index: None,
            reason: None,
        },
    );
    changes.touch(StateKey::Transfer(e.transfer_id));
    Ok(())
}

/// The pending transfer an entry confirms or refuses, matching it.
fn pending_transfer(
    state: &State,
    meta: &EntryMeta,
    id: u64,
    series_id: &SeriesId,
    from_bank: &ParticipantId,
    to_bank: &ParticipantId,
) -> Result<Transfer, ApplyError> {
    match state.transfers.get(&id) {
        Some(t)
            if t.status == TransferStatus::Pending
                && &t.series_id == series_id
                && &t.from_bank == from_bank
                && &t.to_bank == to_bank =>
        {
            Ok(t.clone())
        }
        _ => Err(fail(
            meta,
            format!("transfer {id} is not a pending transfer the entry matches"),
        )),
    }
}

pub(in crate::registry) fn apply_confirmed(
    state: &mut State,
    meta: &EntryMeta,
    e: &TransferConfirmed,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let t = pending_transfer(
        state,
        meta,
        e.transfer_id,
        &e.series_id,
        &e.from_bank,
        &e.to_bank,
    )?;
    if t.kind != e.kind
        || t.from_investor != e.from_investor
        || t.to_investor != e.to_investor
        || t.units != e.units.get()
        || e.gift_units > e.units
    {
        return Err(fail(
            meta,
            format!(
                "the confirmation of transfer {} does not match it",
                t.transfer_id
            ),
        ));
    }
    let from = (
        t.series_id.clone(),
        t.from_investor.clone(),
        t.from_bank.clone(),
    );
    let to = (
        t.series_id.clone(),
        t.to_investor.clone(),
        t.to_bank.clone(),
    );
    let (out_kind, in_kind) = match t.kind {
        TransferKind::Move => (HoldingChangeKind::MovedOut, HoldingChangeKind::MovedIn),
        TransferKind::Gift => (HoldingChangeKind::GiftOut, HoldingChangeKind::GiftIn),
    };
    let carried = take_units(
        state,
        meta,
        &from,
        t.units,
        true,
        t.kind == TransferKind::Move,
        (out_kind, Some((to.1.clone(), to.2.clone())), t.transfer_id),
        changes,
    )?;
    let expected = match t.kind {
        TransferKind::Move => carried,
        TransferKind::Gift => t.units,
    };
    if e.gift_units.get() != expected {
        return Err(fail(
            meta,
            format!(
                "transfer {} carries {expected} units received as a gift, the entry says {}",
                t.transfer_id, e.gift_units
            ),
        ));
    }
    give_units(
        state,
        meta,
        &to,
        t.units,
        expected,
        &t.registration,
        (
            in_kind,
            Some((from.1.clone(), from.2.clone())),
            t.transfer_id,
        ),
        changes,
    )?;
    close(
        state,
        meta,
        t.transfer_id,
        TransferStatus::Confirmed,
        None,
        changes,
    );
    Ok(())
}

pub(in crate::registry) fn apply_refused(
    state: &mut State,
    meta: &EntryMeta,
    e: &TransferRefused,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let t = pending_transfer(
        state,
        meta,
        e.transfer_id,
        &e.series_id,
        &e.from_bank,
        &e.to_bank,
    )?;
    let from = (
        t.series_id.clone(),
        t.from_investor.clone(),
        t.from_bank.clone(),
    );
    let h = holding_mut(state, meta, &from)?;
    h.pending_units = h.pending_units.checked_sub(t.units).ok_or_else(|| {
        fail(
            meta,
            format!("transfer {} is not pending on its holding", t.transfer_id),
        )
    })?;
    changes.touch(StateKey::Holding(from));
    close(
        state,
        meta,
        t.transfer_id,
        TransferStatus::Refused,
        Some(e.reason.clone()),
        changes,
    );
    Ok(())
}

fn close(
    state: &mut State,
    meta: &EntryMeta,
    id: u64,
    status: TransferStatus,
    reason: Option<String>,
    changes: &mut Changes,
) {
    if let Some(t) = state.transfers.get_mut(&id) {
        t.status = status;
        t.closed_at_index = Some(meta.index);
        t.reason = reason;
        changes.touch(StateKey::Transfer(id));
    }
}

/// The pending transfers of a series, in id order.
pub fn pending_of<'a>(state: &'a State, id: &'a SeriesId) -> impl Iterator<Item = &'a Transfer> {
    state
        .transfers
        .values()
        .filter(move |t| &t.series_id == id && t.status == TransferStatus::Pending)
}
