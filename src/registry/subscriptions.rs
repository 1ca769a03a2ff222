//! Subscriptions from banks on behalf of investors, their allotment, settlement,
//! release and refund, and the holdings created at issue.

use super::series::{Country, DiasporaCategory, Series, SeriesStatus, UNITS_MAX, series};
use super::state::DecideIndexes;
use super::*;
use crate::money::Units;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A pseudonymous investor reference chosen by the bank (for example a keyed hash
/// of its own customer number): 1 to 64 of ASCII letters, digits, '-', '_', ':'.
/// Never a name or a document number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InvestorRef(Arc<str>);

impl InvestorRef {
    pub fn parse(field: &str, s: &str) -> Result<Self, RegistryError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_:".contains(&b));
        if !ok {
            return Err(RegistryError::invalid(
                field,
                format!(
                    "must be 1 to 64 of letters, digits, '-', '_', ':' (a pseudonymous reference, no personal data), found {s:?}"
                ),
            ));
        }
        Ok(InvestorRef(s.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Sorts before every valid reference (a range bound, never an investor).
    pub(crate) fn min() -> Self {
        InvestorRef("".into())
    }
}

impl fmt::Display for InvestorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for InvestorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Where a subscription is in its life. Named in snake case (serde, `Display`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SubscriptionStatus {
    Submitted,
    Withdrawn,
    Allotted,
    Settled,
    Released,
    Refunded,
    Issued,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Still in the book (not withdrawn, refunded or released).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Submitted
                | SubscriptionStatus::Allotted
                | SubscriptionStatus::Settled
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The index of the entry that recorded it.
    pub subscription_id: u64,
    pub series_id: SeriesId,
    pub bank_id: ParticipantId,
    pub investor_ref: InvestorRef,
    pub category: DiasporaCategory,
    pub country: Country,
    pub units: u64,
    pub idempotency_key: Arc<str>,
    pub submitted_at: DateTime<Utc>,
    pub status: SubscriptionStatus,
    pub allotted_units: u64,
    pub refunded_units: u64,
    pub amount_due: Decimal,
    /// The form the holding it becomes is registered in.
    #[serde(default, skip_serializing_if = "RegistrationForm::is_sole")]
    pub registration: RegistrationForm,
}

/// A holding: units of a series held by an investor through a custodian bank.
/// The fields after `redeemed_units` are written only when they differ from
/// their defaults, so a holding without a life after issue keeps the record
/// it always had.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    pub series_id: SeriesId,
    pub investor_ref: InvestorRef,
    pub bank_id: ParticipantId,
    /// Units held (outstanding: units redeemed early are retired).
    pub units: u64,
    /// Units redeemed at maturity (all of `units` once the series matured).
    pub redeemed_units: u64,
    #[serde(default, skip_serializing_if = "RegistrationForm::is_sole")]
    pub registration: RegistrationForm,
    /// Units promised to transfers awaiting the delivering bank's confirmation
    /// (still held, and paid here, until then).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending_units: u64,
    /// Units received as a gift (never given again).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gift_units: u64,
    /// Units redeemed early and retired.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub early_redeemed_units: u64,
    /// Every change after issue, in ledger order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<super::HoldingChange>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitSubscription {
    pub series_id: SeriesId,
    pub investor_ref: InvestorRef,
    pub category: DiasporaCategory,
    pub country: Country,
    pub units: Units,
    pub idempotency_key: String,
    pub registration: RegistrationForm,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionSubmitted {
    pub subscription_id: u64,
    pub series_id: SeriesId,
    pub bank_id: ParticipantId,
    pub investor_ref: InvestorRef,
    pub category: DiasporaCategory,
    pub country: Country,
    pub units: Units,
    pub idempotency_key: Arc<str>,
    pub registration: RegistrationForm,
}

fn require_bank(caller: &Caller, action: &'static str) -> Result<(), RegistryError> {
    caller.require(Role::Bank, action)
}

/// The subscription `id`, if `caller` may act on it (its own bank's).
fn own<'a>(state: &'a State, caller: &Caller, id: u64) -> Result<&'a Subscription, RegistryError> {
    let sub = state
        .subscriptions
        .get(&id)
        .ok_or(RegistryError::SubscriptionNotFound { subscription: id })?;
    if sub.bank_id != caller.participant_id {
        return Err(RegistryError::NotYourSubscription {
            subscription: id,
            caller: caller.participant_id.clone(),
        });
    }
    Ok(sub)
}

pub(super) fn decide_submit(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    c: &SubmitSubscription,
) -> Result<Decision, RegistryError> {
    require_bank(caller, "submitting a subscription")?;
    let key = c.idempotency_key.as_str();
    if key.is_empty() || key.len() > 128 || key.chars().any(char::is_control) {
        return Err(RegistryError::invalid(
            "idempotency_key",
            "must be 1 to 128 printable characters",
        ));
    }
    if c.units.is_zero() || c.units.get() > UNITS_MAX {
        return Err(RegistryError::invalid(
            "units",
            format!("must be at least 1 whole unit, found {}", c.units),
        ));
    }
    let Some(index) = &state.decide else {
        return Err(RegistryError::ReadersCopy);
    };
    if let Some(&first) = index
        .idempotency
        .get(&(caller.participant_id.clone(), Arc::from(key)))
    {
        return repeat(state, c, first);
    }
    c.registration
        .check(&c.investor_ref, ctx.recorded_at.date_naive())?;
    let s = series(state, &c.series_id)?;
    check_window(s, ctx)?;
    check_eligible(s, c.category, c.country)?;
    check_bounds(index, s, caller, c)?;
    check_one_form(index, caller, c)?;
    Ok(Decision::Append(vec![Event::SubscriptionSubmitted(
        SubscriptionSubmitted {
            subscription_id: ctx.index,
            series_id: c.series_id.clone(),
            bank_id: caller.participant_id.clone(),
            investor_ref: c.investor_ref.clone(),
            category: c.category,
            country: c.country,
            units: c.units,
            idempotency_key: c.idempotency_key.as_str().into(),
            registration: c.registration.clone(),
        },
    )]))
}

/// An investor's live subscriptions to a series at one bank become one
/// holding, so they carry one registration form.
fn check_one_form(
    index: &DecideIndexes,
    caller: &Caller,
    c: &SubmitSubscription,
) -> Result<(), RegistryError> {
    let key = (
        c.series_id.clone(),
        caller.participant_id.clone(),
        c.investor_ref.clone(),
    );
    if !index.investor_units.contains_key(&key) {
        return Ok(());
    }
    let held = index
        .subscription_forms
        .get(&key)
        .cloned()
        .unwrap_or_default();
    if held != c.registration {
        return Err(RegistryError::RegistrationConflict {
            series: c.series_id.clone(),
            investor: c.investor_ref.clone(),
            held: held.name(),
            asked: c.registration.name(),
        });
    }
    Ok(())
}

/// A submission whose idempotency key the bank used for subscription `first`:
/// the same request is answered with it, a different one refused.
fn repeat(state: &State, c: &SubmitSubscription, first: u64) -> Result<Decision, RegistryError> {
    let conflict = || RegistryError::IdempotencyConflict {
        key: c.idempotency_key.clone(),
        subscription: first,
    };
    // The index names only subscriptions the registry holds.
    let sub = state.subscriptions.get(&first).ok_or_else(conflict)?;
    let same = sub.series_id == c.series_id
        && sub.investor_ref == c.investor_ref
        && sub.category == c.category
        && sub.country == c.country
        && sub.units == c.units.get()
        && sub.registration == c.registration;
    if same {
        return Ok(Decision::Existing { index: first });
    }
    Err(conflict())
}

/// The series is open and its window open at the entry's recorded time (for
/// an issued series: a reopening's window).
fn check_window(s: &Series, ctx: &DecideCtx) -> Result<(), RegistryError> {
    let series = &s.terms.series_id;
    let (opens_at, closes_at) = match (s.status, super::reopening::open_window(s)) {
        (SeriesStatus::Open, _) => (s.terms.window_opens_at, s.terms.window_closes_at),
        (SeriesStatus::Issued, Some(window)) => window,
        (SeriesStatus::Cancelled, _) => {
            return Err(RegistryError::SeriesCancelled {
                series: series.clone(),
            });
        }
        (other, _) => {
            return Err(RegistryError::WindowNotOpen {
                series: series.clone(),
                found: other,
            });
        }
    };
    if ctx.recorded_at < opens_at {
        return Err(RegistryError::WindowNotYetOpen {
            series: series.clone(),
            opens_at,
        });
    }
    if ctx.recorded_at >= closes_at {
        return Err(RegistryError::WindowClosed {
            series: series.clone(),
            closed_at: closes_at,
        });
    }
    Ok(())
}

/// An investor of `category` living in `country` is eligible for the series:
/// the category is allowed and the country neither barred nor left out.
pub(super) fn check_eligible(
    s: &Series,
    category: DiasporaCategory,
    country: Country,
) -> Result<(), RegistryError> {
    let e = &s.terms.eligibility;
    let series = &s.terms.series_id;
    if !e.categories.contains(&category) {
        let allowed: Vec<&str> = e.categories.iter().map(|c| c.as_str()).collect();
        return Err(RegistryError::CategoryNotEligible {
            series: series.clone(),
            category,
            eligible: allowed.join(", "),
        });
    }
    if e.countries_barred.contains(&country) {
        return Err(RegistryError::CountryBarred {
            series: series.clone(),
            country,
        });
    }
    if !e.countries_allowed.is_empty() && !e.countries_allowed.contains(&country) {
        return Err(RegistryError::CountryNotOffered {
            series: series.clone(),
            country,
        });
    }
    Ok(())
}

/// The investor's units in the book (at this bank) stay within the series'
/// bounds, and the book within `UNITS_MAX`.
fn check_bounds(
    index: &DecideIndexes,
    s: &Series,
    caller: &Caller,
    c: &SubmitSubscription,
) -> Result<(), RegistryError> {
    let held = index
        .investor_units
        .get(&(
            c.series_id.clone(),
            caller.participant_id.clone(),
            c.investor_ref.clone(),
        ))
        .copied()
        .unwrap_or(0);
    let units = c.units.get();
    // Both terms are at most UNITS_MAX: the sum fits.
    let total = held.saturating_add(units);
    if total < s.terms.min_units_per_investor {
        return Err(RegistryError::UnderInvestorMinimum {
            investor: c.investor_ref.clone(),
            series: c.series_id.clone(),
            total,
            min: s.terms.min_units_per_investor,
        });
    }
    if total > s.terms.max_units_per_investor {
        return Err(RegistryError::OverInvestorLimit {
            investor: c.investor_ref.clone(),
            series: c.series_id.clone(),
            total,
            held,
            max: s.terms.max_units_per_investor,
        });
    }
    let subscribed = index.book_units.get(&c.series_id).copied().unwrap_or(0);
    if subscribed.saturating_add(units) > UNITS_MAX {
        return Err(RegistryError::BookFull {
            series: c.series_id.clone(),
            subscribed,
            units,
        });
    }
    Ok(())
}

pub(super) fn decide_withdraw(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    id: u64,
) -> Result<Vec<Event>, RegistryError> {
    require_bank(caller, "withdrawing a subscription")?;
    let sub = own(state, caller, id)?;
    if sub.status != SubscriptionStatus::Submitted {
        return Err(RegistryError::NotWithdrawable {
            subscription: id,
            found: sub.status,
        });
    }
    let s = series(state, &sub.series_id)?;
    // A reopening's subscription may be withdrawn while its window is open.
    let tranche_open = s.tranche_of(id).is_some()
        && super::reopening::open_window(s).is_some_and(|(_, closes)| ctx.recorded_at < closes);
    if !tranche_open
        && (s.status != SeriesStatus::Open || ctx.recorded_at >= s.terms.window_closes_at)
    {
        return Err(RegistryError::WithdrawalWindowClosed {
            series: sub.series_id.clone(),
        });
    }
    Ok(vec![Event::SubscriptionWithdrawn {
        subscription_id: id,
    }])
}

pub(super) fn decide_settle(
    state: &State,
    caller: &Caller,
    id: u64,
) -> Result<Vec<Event>, RegistryError> {
    require_bank(caller, "confirming settlement")?;
    let sub = own(state, caller, id)?;
    if sub.status != SubscriptionStatus::Allotted || sub.allotted_units == 0 {
        return Err(RegistryError::NotAwaitingSettlement {
            subscription: id,
            found: sub.status,
            allotted: sub.allotted_units,
        });
    }
    Ok(vec![Event::SettlementConfirmed {
        subscription_id: id,
        amount: sub.amount_due,
    }])
}

fn fail(meta: &EntryMeta, reason: String) -> ApplyError {
    ApplyError {
        index: meta.index,
        reason,
    }
}

fn sub_mut<'a>(
    state: &'a mut State,
    meta: &EntryMeta,
    id: u64,
) -> Result<&'a mut Subscription, ApplyError> {
    state
        .subscriptions
        .get_mut(&id)
        .ok_or_else(|| fail(meta, format!("subscription {id} does not exist")))
}

/// Takes `units` of a subscription that left the book (withdrawn, refunded)
/// off the investor's and the series' running totals.
fn unbook(state: &mut State, key: (SeriesId, ParticipantId, InvestorRef), units: u64) {
    let Some(index) = state.decide.as_mut() else {
        return;
    };
    if let Some(v) = index.book_units.get_mut(&key.0) {
        *v = v.saturating_sub(units);
    }
    if let Some(v) = index.investor_units.get_mut(&key) {
        *v = v.saturating_sub(units);
        if *v == 0 {
            index.investor_units.remove(&key);
            index.subscription_forms.remove(&key);
        }
    }
}

/// The (series, bank, investor) key of a subscription's running totals.
fn book_key(sub: &Subscription) -> (SeriesId, ParticipantId, InvestorRef) {
    (
        sub.series_id.clone(),
        sub.bank_id.clone(),
        sub.investor_ref.clone(),
    )
}

pub(super) fn apply(
    state: &mut State,
    meta: &EntryMeta,
    event: &Event,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    match event {
        Event::SubscriptionSubmitted(e) => apply_submitted(state, meta, e, changes),
        Event::SubscriptionWithdrawn { subscription_id } => {
            apply_withdrawn(state, meta, *subscription_id, changes)
        }
        Event::SubscriptionsRefunded { refunds, .. } => {
            apply_refunded(state, meta, refunds, changes)
        }
        Event::SubscriptionsAllotted { allotments, .. } => {
            apply_allotted(state, meta, allotments, changes)
        }
        Event::SettlementConfirmed {
            subscription_id, ..
        } => apply_settled(state, meta, *subscription_id, changes),
        Event::UnsettledReleased { released, .. } => apply_released(state, meta, released, changes),
        Event::HoldingsCreated {
            series_id,
            holdings,
        } => apply_holdings(state, meta, series_id, holdings, changes),
        _ => Err(fail(
            meta,
            format!("{} is not a subscription event", event.kind()),
        )),
    }
}

fn apply_submitted(
    state: &mut State,
    meta: &EntryMeta,
    e: &SubscriptionSubmitted,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let not_own_index = || {
        fail(
            meta,
            format!(
                "subscription id {} must be the entry's own index",
                e.subscription_id
            ),
        )
    };
    if e.subscription_id != meta.index {
        return Err(not_own_index());
    }
    // The registry's own copies of the series and bank ids, so that a
    // million subscriptions share two strings rather than hold two million.
    let series_id = state
        .series
        .get_key_value(&e.series_id)
        .map(|(id, _)| id.clone())
        .ok_or_else(|| fail(meta, format!("series {} does not exist", e.series_id)))?;
    let bank_id = state
        .participants
        .get_key_value(&e.bank_id)
        .map_or_else(|| e.bank_id.clone(), |(id, _)| id.clone());
    let units = e.units.get();
    let added = state.subscriptions.push(Subscription {
        subscription_id: e.subscription_id,
        series_id: series_id.clone(),
        bank_id: bank_id.clone(),
        investor_ref: e.investor_ref.clone(),
        category: e.category,
        country: e.country,
        units,
        idempotency_key: e.idempotency_key.clone(),
        submitted_at: meta.recorded_at,
        status: SubscriptionStatus::Submitted,
        allotted_units: 0,
        refunded_units: 0,
        amount_due: Decimal::ZERO,
        registration: e.registration.clone(),
    });
    if !added {
        return Err(not_own_index());
    }
    state
        .books
        .entry(series_id.clone())
        .or_default()
        .push_back(e.subscription_id);
    if let Some(index) = state.decide.as_mut() {
        index.idempotency.insert(
            (bank_id.clone(), e.idempotency_key.clone()),
            e.subscription_id,
        );
        // Running totals only guide decisions, which bound them by UNITS_MAX.
        let book = index.book_units.entry(series_id.clone()).or_default();
        *book = book.saturating_add(units);
        let key = (series_id, bank_id, e.investor_ref.clone());
        if !e.registration.is_sole() {
            index
                .subscription_forms
                .insert(key.clone(), e.registration.clone());
        }
        let held = index.investor_units.entry(key).or_default();
        *held = held.saturating_add(units);
    }
    changes.touch(StateKey::Subscription(e.subscription_id));
    Ok(())
}

fn apply_withdrawn(
    state: &mut State,
    meta: &EntryMeta,
    id: u64,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let sub = sub_mut(state, meta, id)?;
    if sub.status != SubscriptionStatus::Submitted {
        return Err(fail(
            meta,
            format!("subscription {id} withdrawn while {}", sub.status),
        ));
    }
    sub.status = SubscriptionStatus::Withdrawn;
    let (key, units) = (book_key(sub), sub.units);
    unbook(state, key, units);
    changes.touch(StateKey::Subscription(id));
    Ok(())
}

fn apply_refunded(
    state: &mut State,
    meta: &EntryMeta,
    refunds: &[(u64, Units)],
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    for &(id, units) in refunds {
        let sub = sub_mut(state, meta, id)?;
        if !sub.status.is_live() || sub.units != units.get() {
            return Err(fail(
                meta,
                format!("refund of subscription {id} does not match it"),
            ));
        }
        // Only a submitted subscription still counts in the running totals.
        let booked = sub.status == SubscriptionStatus::Submitted;
        sub.status = SubscriptionStatus::Refunded;
        sub.refunded_units = sub.units;
        sub.allotted_units = 0;
        let key = book_key(sub);
        if booked {
            unbook(state, key, units.get());
        }
        changes.touch(StateKey::Subscription(id));
    }
    Ok(())
}

fn apply_allotted(
    state: &mut State,
    meta: &EntryMeta,
    allotments: &[AllotmentLine],
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    for line in allotments {
        let sub = sub_mut(state, meta, line.subscription_id)?;
        let whole = line.allotted_units.checked_add(line.refunded_units);
        if sub.status != SubscriptionStatus::Submitted || whole != Some(Units::new(sub.units)) {
            return Err(fail(
                meta,
                format!(
                    "allotment of subscription {} does not match it",
                    line.subscription_id
                ),
            ));
        }
        sub.status = SubscriptionStatus::Allotted;
        sub.allotted_units = line.allotted_units.get();
        sub.refunded_units = line.refunded_units.get();
        sub.amount_due = line.amount_due;
        let (key, units) = (book_key(sub), sub.units);
        unbook(state, key, units);
        changes.touch(StateKey::Subscription(line.subscription_id));
    }
    Ok(())
}

fn apply_settled(
    state: &mut State,
    meta: &EntryMeta,
    id: u64,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let sub = sub_mut(state, meta, id)?;
    if sub.status != SubscriptionStatus::Allotted {
        return Err(fail(
            meta,
            format!("settlement of subscription {id} while {}", sub.status),
        ));
    }
    sub.status = SubscriptionStatus::Settled;
    changes.touch(StateKey::Subscription(id));
    Ok(())
}

fn apply_released(
    state: &mut State,
    meta: &EntryMeta,
    released: &[(u64, Units)],
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    for &(id, units) in released {
        let sub = sub_mut(state, meta, id)?;
        if sub.status != SubscriptionStatus::Allotted || sub.allotted_units != units.get() {
            return Err(fail(
                meta,
                format!("release of subscription {id} does not match it"),
            ));
        }
        sub.status = SubscriptionStatus::Released;
        sub.refunded_units = sub.units;
        changes.touch(StateKey::Subscription(id));
    }
    Ok(())
}

fn apply_holdings(
    state: &mut State,
    meta: &EntryMeta,
    series_id: &SeriesId,
    holdings: &[HoldingUnits],
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    // The registry's own copies of the ids, shared by every holding.
    let series_id = state
        .series
        .get_key_value(series_id)
        .map_or_else(|| series_id.clone(), |(id, _)| id.clone());
    for h in holdings {
        let bank_id = state
            .participants
            .get_key_value(&h.bank_id)
            .map_or_else(|| h.bank_id.clone(), |(id, _)| id.clone());
        let key = (series_id.clone(), h.investor_ref.clone(), bank_id.clone());
        if state.holdings.contains_key(&key) {
            return Err(fail(
                meta,
                format!(
                    "holding of {} at {} created twice",
                    h.investor_ref, h.bank_id
                ),
            ));
        }
        state.holdings.insert(
            key.clone(),
            Holding {
                series_id: series_id.clone(),
                investor_ref: h.investor_ref.clone(),
                bank_id: bank_id.clone(),
                units: h.units.get(),
                redeemed_units: 0,
                registration: h.registration.clone(),
                pending_units: 0,
                gift_units: 0,
                early_redeemed_units: 0,
                history: Vec::new(),
            },
        );
        state
            .holdings_by_investor
            .entry((bank_id, h.investor_ref.clone()))
            .or_default()
            .insert(series_id.clone());
        super::holdings::index_joint(state, &key, &RegistrationForm::Sole, &h.registration);
        changes.touch(StateKey::Holding(key));
    }
    Ok(())
}
