//! Unclaimed payments: a bank reports a coupon or redemption payment it could
//! not deliver, the amount moves to the series' unclaimed balance, and the bank
//! later records the claim (the payment made, with its reference).
//!
//! Invariants: a payment is reported once and claimed once; its amount is the
//! net amount the holding was paid (gross for a redemption or a coupon without
//! withholding), re-derived from the ledger: the holding's units when the
//! payment was posted (`units_at`), the per-unit amount on the series record
//! and the withholding as known before the payment's entry. The unclaimed
//! balance of a series is the sum of its reported, unclaimed amounts.

use super::coupons::PAYMENT_ROUNDING;
use super::series::{SeriesId, series};
use super::withholding;
use super::*;
use crate::accrual::EventId;
use crate::money::{Units, round_to_minor};
use crate::pricing::CashFlowKind;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Longest payment reference a bank records with a claim.
pub const CLAIM_REFERENCE_CHARS_MAX: usize = 64;

/// The key of an unclaimed payment: (series, event id, investor, bank).
pub type UnclaimedKey = (SeriesId, String, InvestorRef, ParticipantId);

/// A claim recorded against an unclaimed payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub reference: String,
    pub claimed_at: DateTime<Utc>,
    pub claimed_at_index: u64,
}

/// A payment reported undeliverable, and its claim once recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unclaimed {
    pub series_id: SeriesId,
    pub event_id: String,
    pub investor_ref: InvestorRef,
    pub bank_id: ParticipantId,
    pub kind: CashFlowKind,
    pub payment_date: NaiveDate,
    pub units: u64,
    pub gross: Decimal,
    pub withheld: Decimal,
    /// What the holder is owed: gross − withheld.
    pub amount: Decimal,
    pub reported_at: DateTime<Utc>,
    pub reported_at_index: u64,
    pub claim: Option<Claim>,
}

/// The bank's report: its client's payment of `event_id` was not delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportUndeliverable {
    pub event_id: EventId,
    pub investor_ref: InvestorRef,
}

/// The bank's record that an unclaimed payment was paid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordClaim {
    pub event_id: EventId,
    pub investor_ref: InvestorRef,
    pub reference: String,
}

/// The event of [`ReportUndeliverable`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentUndeliverable {
    pub series_id: SeriesId,
    pub event_id: EventId,
    pub investor_ref: InvestorRef,
    pub bank_id: ParticipantId,
    pub payment_date: NaiveDate,
    pub units: Units,
    pub gross: Decimal,
    pub withheld: Decimal,
    pub amount: Decimal,
}

/// The event of [`RecordClaim`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnclaimedPaymentClaimed {
    pub series_id: SeriesId,
    pub event_id: EventId,
    pub investor_ref: InvestorRef,
    pub bank_id: ParticipantId,
    pub amount: Decimal,
    pub reference: String,
}

fn payment_series(event: &EventId) -> Result<SeriesId, RegistryError> {
    match event {
        EventId::Coupon { .. } | EventId::Redemption { .. } => {
            SeriesId::parse("event_id", event.series_id())
        }
        EventId::RecordDate { .. } => Err(RegistryError::invalid(
            "event_id",
            format!(
                "{event} fixes holders of record and pays nothing; name a coupon or the redemption"
            ),
        )),
    }
}

fn key_of(
    series: &SeriesId,
    event: &EventId,
    investor: &InvestorRef,
    bank: &ParticipantId,
) -> UnclaimedKey {
    (
        series.clone(),
        event.to_string(),
        investor.clone(),
        bank.clone(),
    )
}

pub(super) fn decide_report(
    state: &State,
    caller: &Caller,
    c: &ReportUndeliverable,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Bank, "reporting an undeliverable payment")?;
    let id = payment_series(&c.event_id)?;
    let s = series(state, &id)?;
    let event = c.event_id.to_string();
    let posted = state
        .posted(&event)
        .ok_or_else(|| RegistryError::PaymentNotPosted {
            event: c.event_id.clone(),
        })?;
    let bank = &caller.participant_id;
    let key = key_of(&id, &c.event_id, &c.investor_ref, bank);
    if state.servicing.unclaimed.contains_key(&key) {
        return Err(RegistryError::AlreadyReported {
            event: c.event_id.clone(),
            investor: c.investor_ref.clone(),
        });
    }
    let not_paid = || RegistryError::NotPaid {
        event: c.event_id.clone(),
        investor: c.investor_ref.clone(),
        bank: bank.clone(),
    };
    let holding_key = (id.clone(), c.investor_ref.clone(), bank.clone());
    let holding = state.holdings.get(&holding_key).ok_or_else(not_paid)?;
    let units = state.units_at(&holding_key, holding.units, posted);
    if units == 0 {
        return Err(not_paid());
    }
    let flow = s
        .paid
        .iter()
        .find(|f| f.event_id == event)
        .ok_or_else(not_paid)?;
    let too_large = || RegistryError::TooLarge {
        series: id.clone(),
        what: format!("the payment of {event}"),
    };
    let exact = flow
        .amount_per_unit
        .checked_mul(Decimal::from(units))
        .ok_or_else(too_large)?;
    let gross = round_to_minor(exact, s.terms.currency, PAYMENT_ROUNDING);
    let withheld = match (&flow.kind, &flow.withholding) {
        (CashFlowKind::Coupon, Some(_)) => withholding::withheld_from(
            state,
            &id,
            s.terms.currency,
            bank,
            &c.investor_ref,
            flow.payment_date,
            posted,
            gross,
        )
        .map(|w| w.withheld)
        .ok_or_else(too_large)?,
        _ => Decimal::ZERO,
    };
    let amount = gross.checked_sub(withheld).ok_or_else(too_large)?;
    Ok(vec![Event::PaymentUndeliverable(PaymentUndeliverable {
        series_id: id,
        event_id: c.event_id.clone(),
        investor_ref: c.investor_ref.clone(),
        bank_id: bank.clone(),
        payment_date: flow.payment_date,
        units: Units::new(units),
        gross,
        withheld,
        amount,
    })])
}

pub(super) fn decide_claim(
    state: &State,
    caller: &Caller,
    c: &RecordClaim,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Bank, "recording the claim of an unclaimed payment")?;
    check_text("reference", &c.reference, CLAIM_REFERENCE_CHARS_MAX)?;
    let id = payment_series(&c.event_id)?;
    let bank = &caller.participant_id;
    let key = key_of(&id, &c.event_id, &c.investor_ref, bank);
    let u = state
        .servicing
        .unclaimed
        .get(&key)
        .ok_or_else(|| RegistryError::NotUnclaimed {
            event: c.event_id.clone(),
            investor: c.investor_ref.clone(),
        })?;
    if let Some(claim) = &u.claim {
        return Err(RegistryError::AlreadyClaimed {
            event: c.event_id.clone(),
            investor: c.investor_ref.clone(),
            reference: claim.reference.clone(),
        });
    }
    Ok(vec![Event::UnclaimedPaymentClaimed(
        UnclaimedPaymentClaimed {
            series_id: id,
            event_id: c.event_id.clone(),
            investor_ref: c.investor_ref.clone(),
            bank_id: bank.clone(),
            amount: u.amount,
            reference: c.reference.clone(),
        },
    )])
}

fn fail(meta: &EntryMeta, reason: String) -> ApplyError {
    ApplyError {
        index: meta.index,
        reason,
    }
}

pub(super) fn apply_report(
    state: &mut State,
    meta: &EntryMeta,
    e: &PaymentUndeliverable,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let key = key_of(&e.series_id, &e.event_id, &e.investor_ref, &e.bank_id);
    if state.servicing.unclaimed.contains_key(&key) {
        return Err(fail(
            meta,
            format!(
                "payment of {} to {} reported twice",
                e.event_id, e.investor_ref
            ),
        ));
    }
    let kind = match e.event_id {
        EventId::Redemption { .. } => CashFlowKind::Redemption,
        _ => CashFlowKind::Coupon,
    };
    state.servicing.unclaimed.insert(
        key.clone(),
        Unclaimed {
            series_id: e.series_id.clone(),
            event_id: e.event_id.to_string(),
            investor_ref: e.investor_ref.clone(),
            bank_id: e.bank_id.clone(),
            kind,
            payment_date: e.payment_date,
            units: e.units.get(),
            gross: e.gross,
            withheld: e.withheld,
            amount: e.amount,
            reported_at: meta.recorded_at,
            reported_at_index: meta.index,
            claim: None,
        },
    );
    changes.touch(StateKey::Unclaimed(key));
    Ok(())
}

pub(super) fn apply_claim(
    state: &mut State,
    meta: &EntryMeta,
    e: &UnclaimedPaymentClaimed,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let key = key_of(&e.series_id, &e.event_id, &e.investor_ref, &e.bank_id);
    let u = state
        .servicing
        .unclaimed
        .get_mut(&key)
        .ok_or_else(|| fail(meta, format!("claim of {} without its report", e.event_id)))?;
    if u.claim.is_some() || u.amount != e.amount {
        return Err(fail(
            meta,
            format!("claim of {} does not match its report", e.event_id),
        ));
    }
    u.claim = Some(Claim {
        reference: e.reference.clone(),
        claimed_at: meta.recorded_at,
        claimed_at_index: meta.index,
    });
    changes.touch(StateKey::Unclaimed(key));
    Ok(())
}

/// Payments of a series reported undeliverable, in (event, investor, bank) order.
pub fn of_series<'a>(state: &'a State, id: &SeriesId) -> impl Iterator<Item = &'a Unclaimed> + 'a {
    let id = id.clone();
    state
        .servicing
        .unclaimed
        .iter()
        .filter(move |(k, _)| k.0 == id)
        .map(|(_, u)| u)
}

/// Every payment reported undeliverable.
pub fn all(state: &State) -> impl Iterator<Item = &Unclaimed> {
    state.servicing.unclaimed.values()
}

/// The series' unclaimed balance: reported amounts not yet claimed.
pub fn balance(state: &State, id: &SeriesId) -> Decimal {
    of_series(state, id)
        .filter(|u| u.claim.is_none())
        .fold(Decimal::ZERO, |acc, u| acc.saturating_add(u.amount))
}

/// Whether an unclaimed payment is overdue on `as_of`: not claimed, and more
/// than the series' unclaimed period has passed since its payment date.
pub fn overdue(u: &Unclaimed, period_days: Option<u32>, as_of: NaiveDate) -> bool {
    match period_days {
        Some(days) if u.claim.is_none() => (as_of - u.payment_date).num_days() > i64::from(days),
        _ => false,
    }
}
