//! Reopenings (taps): an issued series sold again in a tranche with its own
//! window, price and cap. The price comes from the reference yield of the day
//! less the patriotic discount; subscribers pay it plus the interest accrued
//! from the last coupon to the tranche's settlement date; allotment,
//! settlement and issue work as for the first window. The new units join the
//! holdings of the series: fungible with the old ones, paid the full next coupon.
//!
//! Invariants: a series has at most one tranche in progress; a tranche's
//! subscriptions are exactly the series' subscriptions recorded after the entry
//! that opened it (ids are entry indexes), so the first window's book and each
//! tranche's never mix; a tranche is issued only before the record date of the
//! first coupon paid after its settlement date is fixed, so the new units are
//! holders of record of that coupon and of nothing earlier.

use super::allotment;
use super::series::{
    AllotmentLine, HoldingUnits, ISSUE_PRICE_DECIMALS, ISSUE_PRICE_PERCENT_MAX, ITEMS_PER_ENTRY,
    Series, SeriesStatus, UNITS_MAX, bond_terms, series, series_coupon,
};
use super::*;
use crate::accrual::{self, EventId};
use crate::money::{Money, RoundingRule, Units};
use crate::pricing::{self, Bond, CouponType, Fixings};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a tranche is in its life. Named in snake case.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TrancheStatus {
    Open,
    Closed,
    Allotted,
    Issued,
    Cancelled,
}

impl TrancheStatus {
    /// Still selling or settling: the series has a tranche in progress.
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            TrancheStatus::Open | TrancheStatus::Closed | TrancheStatus::Allotted
        )
    }
}

/// The treasury's command: sell the series again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReopenSeries {
    pub series_id: SeriesId,
    pub window_opens_at: DateTime<Utc>,
    pub window_closes_at: DateTime<Utc>,
    /// The new units' issue date: accrued interest runs to it.
    pub settlement_date: NaiveDate,
    pub settlement_deadline: DateTime<Utc>,
    pub reference_yield: Decimal,
    pub discount_bps: Decimal,
    pub cap_units: u64,
}

/// A reopening's terms and derived figures (the `SeriesReopened` event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrancheTerms {
    pub series_id: SeriesId,
    /// 1 for the first reopening, then 2, 3, ...
    pub tranche: u32,
    pub window_opens_at: DateTime<Utc>,
    pub window_closes_at: DateTime<Utc>,
    pub settlement_date: NaiveDate,
    pub settlement_deadline: DateTime<Utc>,
    pub cap_units: u64,
    pub reference_yield: Decimal,
    pub discount_bps: Decimal,
    /// reference − discount.
    pub issue_yield: Decimal,
    /// Clean price at the issue yield on the settlement date, percent of face,
    /// 6 decimals half even.
    pub clean_price: Decimal,
    /// face × clean price / 100, half even to the minor unit.
    pub price_per_unit: Decimal,
    /// Interest accrued on one unit at the settlement date (unrounded).
    pub accrued_per_unit: Decimal,
}

/// A tranche as kept on the series record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tranche {
    pub terms: TrancheTerms,
    pub status: TrancheStatus,
    /// The index of the `SeriesReopened` entry: the tranche's subscriptions
    /// are the series' subscriptions after it.
    pub opened_at_index: u64,
    #[serde(default)]
    pub issued_at_index: Option<u64>,
    /// Units issued and money received (principal, accrued interest).
    #[serde(default)]
    pub units_issued: u64,
    #[serde(default)]
    pub principal_raised: Decimal,
    #[serde(default)]
    pub accrued_received: Decimal,
}

impl Series {
    /// The tranche a subscription of this series belongs to (`None`: the first
    /// window's).
    pub fn tranche_of(&self, subscription_id: u64) -> Option<&Tranche> {
        self.tranches
            .iter()
            .rev()
            .find(|t| t.opened_at_index < subscription_id)
    }

    /// The tranche in progress, if any.
    pub fn current_tranche(&self) -> Option<&Tranche> {
        self.tranches.last().filter(|t| t.status.in_progress())
    }
}

/// What one tranche allotment line owes: its units at the price per unit plus
/// its units' accrued interest, each rounded half even to the minor unit.
pub fn amount_due(
    t: &TrancheTerms,
    currency: crate::money::Currency,
    units: Units,
) -> Option<(Decimal, Decimal)> {
    let principal = Money::new(t.price_per_unit, currency)
        .checked_mul_units(units)
        .ok()?
        .round(RoundingRule::HalfEven)
        .amount();
    let accrued = Money::new(t.accrued_per_unit, currency)
        .checked_mul_units(units)
        .ok()?
        .round(RoundingRule::HalfEven)
        .amount();
    Some((principal, accrued))
}

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

fn too_large(series: &SeriesId, what: String) -> RegistryError {
    RegistryError::TooLarge {
        series: series.clone(),
        what,
    }
}

pub(super) fn decide_reopen(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    c: &ReopenSeries,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Treasury, "reopening a series")?;
    if c.window_opens_at >= c.window_closes_at {
        return Err(invalid(
            "window_closes_at",
            "the subscription window must close after it opens",
        ));
    }
    if c.settlement_deadline < c.window_closes_at {
        return Err(invalid(
            "settlement_deadline",
            "the settlement deadline must not be before the window closes",
        ));
    }
    if c.window_closes_at.date_naive() > c.settlement_date {
        return Err(invalid(
            "window_closes_at",
            format!(
                "the window must close by the settlement date {}",
                c.settlement_date
            ),
        ));
    }
    if c.cap_units == 0 || c.cap_units > UNITS_MAX {
        return Err(invalid(
            "cap_units",
            format!("must be 1 to {UNITS_MAX} units, found {}", c.cap_units),
        ));
    }
    if c.discount_bps < Decimal::ZERO || c.discount_bps > Decimal::from(1000) {
        return Err(invalid(
            "discount_bps",
            format!("must be 0 to 1000 basis points, found {}", c.discount_bps),
        ));
    }
    let s = series(state, &c.series_id)?;
    let id = &s.terms.series_id;
    if s.status != SeriesStatus::Issued {
        return Err(RegistryError::WrongSeriesState {
            series: id.clone(),
            action: "reopen",
            needs: "issued",
            found: s.status,
        });
    }
    if let Some(t) = s.current_tranche() {
        return Err(RegistryError::TrancheInProgress {
            series: id.clone(),
            tranche: t.terms.tranche,
            found: t.status,
        });
    }
    if ctx.recorded_at >= c.window_closes_at {
        return Err(RegistryError::OpenAfterWindow {
            series: id.clone(),
            closed_at: c.window_closes_at,
        });
    }
    if c.settlement_date <= s.terms.issue_date || c.settlement_date >= s.terms.maturity_date {
        return Err(invalid(
            "settlement_date",
            format!(
                "must be after the issue date {} and before the maturity date {}",
                s.terms.issue_date, s.terms.maturity_date
            ),
        ));
    }
    if let Some(f) = s.schedule.iter().find(|f| {
        f.kind == crate::pricing::CashFlowKind::Coupon
            && f.record_date <= c.settlement_date
            && c.settlement_date < f.payment_date
    }) {
        return Err(invalid(
            "settlement_date",
            format!(
                "{} falls between the record date {} and the payment date {} of a coupon; settle before the record date or on or after the payment",
                c.settlement_date, f.record_date, f.payment_date
            ),
        ));
    }
    let held: u64 = state
        .series_holdings(id, None)
        .map(|h| h.units)
        .fold(0u64, u64::saturating_add);
    if held.saturating_add(c.cap_units) > UNITS_MAX {
        return Err(invalid(
            "cap_units",
            format!("{held} units are held; a series holds at most {UNITS_MAX}"),
        ));
    }
    let coupon = series_coupon(s)?;
    if matches!(coupon, CouponType::Floating { .. }) {
        return Err(invalid(
            "series_id",
            format!(
                "series {id} pays a floating coupon; a reopening is priced from a yield, which needs a fixed, zero, accumulating or step-up coupon"
            ),
        ));
    }
    let terms = bond_terms(&s.terms, coupon)?;
    let y = pricing::diaspora_yield(c.reference_yield, c.discount_bps);
    let bond =
        Bond::new(&terms, &Fixings::new()).map_err(|e| invalid("series_id", e.to_string()))?;
    let clean = bond
        .clean_price(c.settlement_date, y)
        .map_err(|e| invalid("reference_yield", e.to_string()))?
        .round_dp_with_strategy(ISSUE_PRICE_DECIMALS, RoundingStrategy::MidpointNearestEven);
    if clean <= Decimal::ZERO || clean > Decimal::from(ISSUE_PRICE_PERCENT_MAX) {
        return Err(invalid(
            "reference_yield",
            format!(
                "the yield {y} prices the tranche at {clean} percent of face; the price must be in (0, {ISSUE_PRICE_PERCENT_MAX}]"
            ),
        ));
    }
    let input = accrual::SeriesInput {
        series_id: id.as_str(),
        currency: s.terms.currency,
        terms: &terms,
        rounding: super::coupons::PAYMENT_ROUNDING,
    };
    let accrued = accrual::accrued_per_unit(&input, &Fixings::new(), c.settlement_date)
        .map_err(|e| RegistryError::engine(id, e))?;
    let price_per_unit = Money::new(s.terms.face_value, s.terms.currency)
        .checked_mul(clean)
        .ok()
        .and_then(|m| m.amount().checked_div(Decimal::ONE_HUNDRED))
        .map(|p| {
            Money::new(p, s.terms.currency)
                .round(RoundingRule::HalfEven)
                .amount()
        })
        .ok_or_else(|| too_large(id, "the tranche's price per unit".into()))?;
    let number = u32::try_from(s.tranches.len() + 1)
        .map_err(|_| too_large(id, "the number of tranches".into()))?;
    Ok(vec![Event::SeriesReopened(TrancheTerms {
        series_id: id.clone(),
        tranche: number,
        window_opens_at: c.window_opens_at,
        window_closes_at: c.window_closes_at,
        settlement_date: c.settlement_date,
        settlement_deadline: c.settlement_deadline,
        cap_units: c.cap_units,
        reference_yield: c.reference_yield,
        discount_bps: c.discount_bps,
        issue_yield: y,
        clean_price: clean,
        price_per_unit,
        accrued_per_unit: accrued,
    })])
}

/// A lifecycle command on an issued series with a tranche in progress acts on
/// the tranche: `Some` with its events (or refusal), `None` when the command
/// is for the series itself.
pub(super) fn route_transition(
    state: &State,
    s: &Series,
    ctx: &DecideCtx,
    t: &SeriesTransition,
) -> Option<Result<Vec<Event>, RegistryError>> {
    if s.status != SeriesStatus::Issued {
        return None;
    }
    let tranche = s.current_tranche()?;
    Some(match t {
        SeriesTransition::Open(_) => return None,
        SeriesTransition::Close(_) => close(s, tranche, ctx),
        SeriesTransition::Cancel(_, reason) => cancel(state, s, tranche, reason),
        SeriesTransition::Allot(_) => allot(state, s, tranche),
        SeriesTransition::ReleaseUnsettled(_) => release(state, s, tranche, ctx),
        SeriesTransition::Issue(_) => issue(state, s, tranche),
    })
}

fn wrong(s: &Series, t: &Tranche, action: &'static str, needs: &'static str) -> RegistryError {
    RegistryError::WrongTrancheState {
        series: s.terms.series_id.clone(),
        tranche: t.terms.tranche,
        action,
        needs,
        found: t.status,
    }
}

/// The tranche's subscriptions, in ledger order.
fn book<'a>(
    state: &'a State,
    s: &Series,
    t: &Tranche,
) -> impl Iterator<Item = &'a Subscription> + 'a {
    let after = t.opened_at_index;
    state
        .book(&s.terms.series_id)
        .filter(move |sub| sub.subscription_id > after)
}

fn close(s: &Series, t: &Tranche, ctx: &DecideCtx) -> Result<Vec<Event>, RegistryError> {
    if t.status != TrancheStatus::Open {
        return Err(wrong(s, t, "close", "open"));
    }
    Ok(vec![Event::TrancheClosed {
        series_id: s.terms.series_id.clone(),
        tranche: t.terms.tranche,
        early: ctx.recorded_at < t.terms.window_closes_at,
    }])
}

fn cancel(
    state: &State,
    s: &Series,
    t: &Tranche,
    reason: &str,
) -> Result<Vec<Event>, RegistryError> {
    let id = &s.terms.series_id;
    let live: Vec<(u64, Units)> = book(state, s, t)
        .filter(|sub| sub.status.is_live())
        .map(|sub| (sub.subscription_id, Units::new(sub.units)))
        .collect();
    let mut events = vec![Event::TrancheCancelled {
        series_id: id.clone(),
        tranche: t.terms.tranche,
        reason: reason.to_string(),
        subscriptions: live.len() as u64,
    }];
    for chunk in live.chunks(ITEMS_PER_ENTRY) {
        events.push(Event::SubscriptionsRefunded {
            series_id: id.clone(),
            refunds: chunk.to_vec(),
        });
    }
    Ok(events)
}

fn allot(state: &State, s: &Series, t: &Tranche) -> Result<Vec<Event>, RegistryError> {
    if t.status != TrancheStatus::Closed {
        return Err(wrong(s, t, "allot", "closed"));
    }
    let id = &s.terms.series_id;
    let subs: Vec<&Subscription> = book(state, s, t)
        .filter(|sub| sub.status == SubscriptionStatus::Submitted)
        .collect();
    let units: Vec<Units> = subs.iter().map(|sub| Units::new(sub.units)).collect();
    let subscribed_units = Units::checked_sum(units.iter().copied())
        .ok_or_else(|| too_large(id, "the units subscribed".into()))?;
    let cap_units = Units::new(t.terms.cap_units);
    let allotted = allotment::allot(&units, cap_units, s.terms.allotment_rule);
    let allotted_units = Units::checked_sum(allotted.iter().copied())
        .ok_or_else(|| too_large(id, "the units allotted".into()))?;
    let mut lines = Vec::with_capacity(subs.len());
    for (sub, &a) in subs.iter().zip(&allotted) {
        let refunded = Units::new(sub.units).checked_sub(a).ok_or_else(|| {
            too_large(
                id,
                format!("the allotment of subscription {}", sub.subscription_id),
            )
        })?;
        let (principal, accrued) = amount_due(&t.terms, s.terms.currency, a).ok_or_else(|| {
            too_large(
                id,
                format!("the amount due on subscription {}", sub.subscription_id),
            )
        })?;
        let due = principal.checked_add(accrued).ok_or_else(|| {
            too_large(
                id,
                format!("the amount due on subscription {}", sub.subscription_id),
            )
        })?;
        lines.push(AllotmentLine {
            subscription_id: sub.subscription_id,
            allotted_units: a,
            refunded_units: refunded,
            amount_due: due,
        });
    }
    let mut events = vec![Event::TrancheAllotted {
        series_id: id.clone(),
        tranche: t.terms.tranche,
        rule: s.terms.allotment_rule,
        cap_units,
        subscribed_units,
        allotted_units,
        subscriptions: subs.len() as u64,
    }];
    for chunk in lines.chunks(ITEMS_PER_ENTRY) {
        events.push(Event::SubscriptionsAllotted {
            series_id: id.clone(),
            allotments: chunk.to_vec(),
        });
    }
    Ok(events)
}

fn release(
    state: &State,
    s: &Series,
    t: &Tranche,
    ctx: &DecideCtx,
) -> Result<Vec<Event>, RegistryError> {
    if t.status != TrancheStatus::Allotted {
        return Err(wrong(s, t, "release unsettled allotments of", "allotted"));
    }
    let id = &s.terms.series_id;
    if ctx.recorded_at < t.terms.settlement_deadline {
        return Err(RegistryError::BeforeSettlementDeadline {
            series: id.clone(),
            deadline: t.terms.settlement_deadline,
        });
    }
    let unsettled: Vec<(u64, Units)> = book(state, s, t)
        .filter(|sub| sub.status == SubscriptionStatus::Allotted && sub.allotted_units > 0)
        .map(|sub| (sub.subscription_id, Units::new(sub.allotted_units)))
        .collect();
    if unsettled.is_empty() {
        return Err(RegistryError::NothingToRelease { series: id.clone() });
    }
    Ok(unsettled
        .chunks(ITEMS_PER_ENTRY)
        .map(|c| Event::UnsettledReleased {
            series_id: id.clone(),
            released: c.to_vec(),
        })
        .collect())
}

/// The first coupon paid after `date`: its flow index in the schedule.
fn next_coupon(s: &Series, date: NaiveDate) -> Option<(u32, NaiveDate)> {
    s.schedule
        .iter()
        .enumerate()
        .find(|(_, f)| f.kind == crate::pricing::CashFlowKind::Coupon && f.payment_date > date)
        .and_then(|(i, f)| Some((u32::try_from(i).ok()?, f.record_date)))
}

fn issue(state: &State, s: &Series, t: &Tranche) -> Result<Vec<Event>, RegistryError> {
    if t.status != TrancheStatus::Allotted {
        return Err(wrong(s, t, "issue", "allotted"));
    }
    let id = &s.terms.series_id;
    let unsettled = book(state, s, t)
        .filter(|sub| sub.status == SubscriptionStatus::Allotted && sub.allotted_units > 0)
        .count();
    if unsettled > 0 {
        return Err(RegistryError::UnsettledAllotments {
            series: id.clone(),
            count: unsettled,
        });
    }
    // The holders of record of the next coupon must include the new units.
    if let Some((flow, record_date)) = next_coupon(s, t.terms.settlement_date) {
        let record = EventId::RecordDate {
            series_id: id.to_string(),
            flow,
        };
        let coupon = EventId::Coupon {
            series_id: id.to_string(),
            flow,
        };
        if state.posted(&record.to_string()).is_some()
            || state.posted(&coupon.to_string()).is_some()
        {
            return Err(RegistryError::RecordDatePassed {
                series: id.clone(),
                tranche: t.terms.tranche,
                record_date,
            });
        }
    }
    let mut holdings: BTreeMap<(InvestorRef, ParticipantId), (Units, &RegistrationForm)> =
        BTreeMap::new();
    let (mut principal, mut accrued) = (Decimal::ZERO, Decimal::ZERO);
    for sub in book(state, s, t).filter(|sub| sub.status == SubscriptionStatus::Settled) {
        let units = Units::new(sub.allotted_units);
        let held = holdings
            .entry((sub.investor_ref.clone(), sub.bank_id.clone()))
            .or_insert((Units::default(), &sub.registration));
        // Subscriptions live together carry one form (checked at submission).
        if held.1 != &sub.registration {
            return Err(RegistryError::RegistrationConflict {
                series: id.clone(),
                investor: sub.investor_ref.clone(),
                held: held.1.name(),
                asked: sub.registration.name(),
            });
        }
        held.0 = held.0.checked_add(units).ok_or_else(|| {
            too_large(
                id,
                format!("the holding of {} at {}", sub.investor_ref, sub.bank_id),
            )
        })?;
        let (p, a) = amount_due(&t.terms, s.terms.currency, units)
            .ok_or_else(|| too_large(id, "the money raised".into()))?;
        principal = principal
            .checked_add(p)
            .ok_or_else(|| too_large(id, "the money raised".into()))?;
        accrued = accrued
            .checked_add(a)
            .ok_or_else(|| too_large(id, "the money raised".into()))?;
    }
    let units = Units::checked_sum(holdings.values().map(|h| h.0))
        .ok_or_else(|| too_large(id, "the units issued".into()))?;
    let list: Vec<HoldingUnits> = holdings
        .into_iter()
        .map(|((investor_ref, bank_id), (units, form))| HoldingUnits {
            investor_ref,
            bank_id,
            units,
            // A holding the tranche opens takes this form; one that exists
            // keeps its own.
            registration: form.clone(),
        })
        .collect();
    let mut events = vec![Event::TrancheIssued {
        series_id: id.clone(),
        tranche: t.terms.tranche,
        units,
        holdings: list.len() as u64,
        principal,
        accrued,
    }];
    for chunk in list.chunks(ITEMS_PER_ENTRY) {
        events.push(Event::TrancheHoldings {
            series_id: id.clone(),
            tranche: t.terms.tranche,
            holdings: chunk.to_vec(),
        });
    }
    Ok(events)
}

/// The subscription window in force for a new subscription to an issued
/// series: its open tranche's (`None`: no tranche is open).
pub(super) fn open_window(s: &Series) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let t = s.current_tranche()?;
    (t.status == TrancheStatus::Open).then_some((t.terms.window_opens_at, t.terms.window_closes_at))
}

fn fail(meta: &EntryMeta, reason: String) -> ApplyError {
    ApplyError {
        index: meta.index,
        reason,
    }
}

fn tranche_mut<'a>(
    state: &'a mut State,
    meta: &EntryMeta,
    id: &SeriesId,
    number: u32,
) -> Result<&'a mut Tranche, ApplyError> {
    state
        .series
        .get_mut(id)
        .and_then(|s| s.tranches.last_mut())
        .filter(|t| t.terms.tranche == number)
        .ok_or_else(|| {
            fail(
                meta,
                format!("series {id} has no tranche {number} in progress"),
            )
        })
}

fn set_tranche(
    state: &mut State,
    meta: &EntryMeta,
    id: &SeriesId,
    number: u32,
    from: &[TrancheStatus],
    to: TrancheStatus,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let t = tranche_mut(state, meta, id, number)?;
    if !from.contains(&t.status) {
        return Err(fail(
            meta,
            format!(
                "tranche {number} of {id} cannot become {to} from {}",
                t.status
            ),
        ));
    }
    t.status = to;
    changes.touch(StateKey::Series(id.clone()));
    Ok(())
}

pub(super) fn apply(
    state: &mut State,
    meta: &EntryMeta,
    event: &Event,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    use TrancheStatus::*;
    match event {
        Event::SeriesReopened(t) => {
            let s = state
                .series
                .get_mut(&t.series_id)
                .ok_or_else(|| fail(meta, format!("series {} does not exist", t.series_id)))?;
            let expected = s.tranches.len() as u64 + 1;
            if s.status != SeriesStatus::Issued
                || s.current_tranche().is_some()
                || u64::from(t.tranche) != expected
            {
                return Err(fail(
                    meta,
                    format!("series {} cannot open tranche {}", t.series_id, t.tranche),
                ));
            }
            s.tranches.push(Tranche {
                terms: t.clone(),
                status: Open,
                opened_at_index: meta.index,
                issued_at_index: None,
                units_issued: 0,
                principal_raised: Decimal::ZERO,
                accrued_received: Decimal::ZERO,
            });
            changes.touch(StateKey::Series(t.series_id.clone()));
            Ok(())
        }
        Event::TrancheClosed {
            series_id, tranche, ..
        } => set_tranche(state, meta, series_id, *tranche, &[Open], Closed, changes),
        Event::TrancheCancelled {
            series_id, tranche, ..
        } => set_tranche(
            state,
            meta,
            series_id,
            *tranche,
            &[Open, Closed, Allotted],
            Cancelled,
            changes,
        ),
        Event::TrancheAllotted {
            series_id, tranche, ..
        } => set_tranche(
            state,
            meta,
            series_id,
            *tranche,
            &[Closed],
            Allotted,
            changes,
        ),
        Event::TrancheIssued {
            series_id,
            tranche,
            units,
            principal,
            accrued,
            ..
        } => {
            set_tranche(
                state,
                meta,
                series_id,
                *tranche,
                &[Allotted],
                Issued,
                changes,
            )?;
            let t = tranche_mut(state, meta, series_id, *tranche)?;
            t.issued_at_index = Some(meta.index);
            t.units_issued = units.get();
            t.principal_raised = *principal;
            t.accrued_received = *accrued;
            let after = t.opened_at_index;
            let ids: Vec<u64> = state
                .books
                .get(series_id)
                .map(|b| b.iter().copied().filter(|i| *i > after).collect())
                .unwrap_or_default();
            for id in ids {
                if let Some(sub) = state.subscriptions.get_mut(&id) {
                    if sub.status == SubscriptionStatus::Settled {
                        sub.status = SubscriptionStatus::Issued;
                        changes.touch(StateKey::Subscription(id));
                    }
                }
            }
            Ok(())
        }
        Event::TrancheHoldings {
            series_id,
            tranche,
            holdings,
        } => apply_holdings(state, meta, series_id, *tranche, holdings, changes),
        _ => Err(fail(
            meta,
            format!("{} is not a tranche event", event.kind()),
        )),
    }
}

fn apply_holdings(
    state: &mut State,
    meta: &EntryMeta,
    series_id: &SeriesId,
    number: u32,
    holdings: &[HoldingUnits],
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let issued = state
        .series
        .get(series_id)
        .and_then(|s| s.tranches.iter().find(|t| t.terms.tranche == number))
        .is_some_and(|t| t.status == TrancheStatus::Issued);
    if !issued {
        return Err(fail(
            meta,
            format!("holdings of tranche {number} of {series_id} before its issue"),
        ));
    }
    for h in holdings {
        let bank_id = state
            .participants
            .get_key_value(&h.bank_id)
            .map_or_else(|| h.bank_id.clone(), |(id, _)| id.clone());
        let key = (series_id.clone(), h.investor_ref.clone(), bank_id.clone());
        let before = state.holdings.get(&key).map_or(0, |x| x.units);
        let after = before
            .checked_add(h.units.get())
            .filter(|u| *u <= UNITS_MAX)
            .ok_or_else(|| {
                fail(
                    meta,
                    format!("the holding of {} grows too large", h.investor_ref),
                )
            })?;
        state.note_units_change(&key, before, meta.index);
        if !state.holdings.contains_key(&key) {
            super::holdings::index_joint(state, &key, &RegistrationForm::Sole, &h.registration);
        }
        let holding = state
            .holdings
            .entry(key.clone())
            .or_insert_with(|| Holding {
                series_id: series_id.clone(),
                investor_ref: h.investor_ref.clone(),
                bank_id: bank_id.clone(),
                units: 0,
                redeemed_units: 0,
                registration: h.registration.clone(),
                pending_units: 0,
                gift_units: 0,
                early_redeemed_units: 0,
                history: Vec::new(),
            });
        holding.units = after;
        state
            .holdings_by_investor
            .entry((bank_id, h.investor_ref.clone()))
            .or_default()
            .insert(series_id.clone());
        changes.touch(StateKey::Holding(key));
    }
    Ok(())
}
