//! A series' life: creation and amendment of a draft, then open → closed →
//! allotted → issued, or cancelled before issue; and applying those events.
//!
//! Invariants: deciding refuses every transition the status does not allow,
//! and every figure it writes (units allotted and refunded, amounts due, money
//! raised) comes from checked arithmetic; applying an event checks the status
//! it moves from.

use super::{
    ITEMS_PER_ENTRY, Series, SeriesDefined, SeriesId, SeriesStatus, SeriesTerms, define, series,
};
use crate::money::{Money, RoundingRule, Units};
use crate::registry::allotment;
use crate::registry::{
    ApplyError, Caller, Changes, DecideCtx, EntryMeta, Event, InvestorRef, ParticipantId,
    RegistrationForm, RegistryError, Role, State, StateKey, Subscription, SubscriptionStatus,
    check_text,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn require_treasury(caller: &Caller, action: &'static str) -> Result<(), RegistryError> {
    caller.require(Role::Treasury, action)
}

fn wrong_state(s: &Series, action: &'static str, needs: &'static str) -> RegistryError {
    RegistryError::WrongSeriesState {
        series: s.terms.series_id.clone(),
        action,
        needs,
        found: s.status,
    }
}

fn too_large(series: &SeriesId, what: String) -> RegistryError {
    RegistryError::TooLarge {
        series: series.clone(),
        what,
    }
}

pub(in crate::registry) fn decide_create(
    state: &State,
    caller: &Caller,
    terms: &SeriesTerms,
) -> Result<Vec<Event>, RegistryError> {
    require_treasury(caller, "creating a series")?;
    // Terms before state: bad terms are refused whatever series exist.
    let defined = define(terms.clone())?;
    if state.series.contains_key(&terms.series_id) {
        return Err(RegistryError::SeriesExists {
            series: terms.series_id.clone(),
        });
    }
    Ok(vec![Event::SeriesCreated(defined)])
}

pub(in crate::registry) fn decide_amend(
    state: &State,
    caller: &Caller,
    terms: &SeriesTerms,
) -> Result<Vec<Event>, RegistryError> {
    require_treasury(caller, "amending a series")?;
    let defined = define(terms.clone())?;
    let s = series(state, &terms.series_id)?;
    if s.status != SeriesStatus::Draft {
        return Err(wrong_state(s, "amend", "draft"));
    }
    Ok(vec![Event::SeriesAmended(defined)])
}

pub(in crate::registry) fn decide_transition(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    t: &SeriesTransition,
) -> Result<Vec<Event>, RegistryError> {
    require_treasury(caller, "changing a series' state")?;
    // Arguments before state: a bad reason is refused whatever the series.
    if let SeriesTransition::Cancel(_, reason) = t {
        check_text("reason", reason, crate::limits::REASON_CHARS_MAX)?;
    }
    let s = series(state, t.series_id())?;
    if let Some(tranche) = crate::registry::reopening::route_transition(state, s, ctx, t) {
        return tranche;
    }
    match t {
        SeriesTransition::Open(_) => open(s, ctx),
        SeriesTransition::Close(_) => close(s, ctx),
        SeriesTransition::Cancel(_, reason) => cancel(state, s, reason),
        SeriesTransition::Allot(_) => allot(state, s),
        SeriesTransition::ReleaseUnsettled(_) => release_unsettled(state, s, ctx),
        SeriesTransition::Issue(_) => issue(state, s),
    }
}

fn open(s: &Series, ctx: &DecideCtx) -> Result<Vec<Event>, RegistryError> {
    if s.status != SeriesStatus::Draft {
        return Err(wrong_state(s, "open", "draft"));
    }
    if ctx.recorded_at >= s.terms.window_closes_at {
        return Err(RegistryError::OpenAfterWindow {
            series: s.terms.series_id.clone(),
            closed_at: s.terms.window_closes_at,
        });
    }
    Ok(vec![Event::SeriesOpened(s.terms.series_id.clone())])
}

fn close(s: &Series, ctx: &DecideCtx) -> Result<Vec<Event>, RegistryError> {
    if s.status != SeriesStatus::Open {
        return Err(wrong_state(s, "close", "open"));
    }
    Ok(vec![Event::SeriesClosed {
        series_id: s.terms.series_id.clone(),
        early: ctx.recorded_at < s.terms.window_closes_at,
    }])
}

/// Cancels the series and refunds every live subscription in full.
fn cancel(state: &State, s: &Series, reason: &str) -> Result<Vec<Event>, RegistryError> {
    if !matches!(
        s.status,
        SeriesStatus::Draft | SeriesStatus::Open | SeriesStatus::Closed | SeriesStatus::Allotted
    ) {
        return Err(wrong_state(s, "cancel", "draft, open, closed or allotted"));
    }
    let id = &s.terms.series_id;
    let live: Vec<(u64, Units)> = state
        .book(id)
        .filter(|sub| sub.status.is_live())
        .map(|sub| (sub.subscription_id, Units::new(sub.units)))
        .collect();
    let mut events = vec![Event::SeriesCancelled {
        series_id: id.clone(),
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

/// Allots the cap over the submitted book by the series' rule; each line's
/// amount due is its allotted units at the price per unit, rounded half even.
fn allot(state: &State, s: &Series) -> Result<Vec<Event>, RegistryError> {
    if s.status != SeriesStatus::Closed {
        return Err(wrong_state(s, "allot", "closed"));
    }
    let id = &s.terms.series_id;
    let book: Vec<&Subscription> = state
        .book(id)
        .filter(|sub| sub.status == SubscriptionStatus::Submitted)
        .collect();
    let units: Vec<Units> = book.iter().map(|sub| Units::new(sub.units)).collect();
    let subscribed_units = Units::checked_sum(units.iter().copied())
        .ok_or_else(|| too_large(id, "the units subscribed".into()))?;
    let cap_units = Units::new(s.terms.cap_units);
    let allotted = allotment::allot(&units, cap_units, s.terms.allotment_rule);
    let allotted_units = Units::checked_sum(allotted.iter().copied())
        .ok_or_else(|| too_large(id, "the units allotted".into()))?;
    let price = Money::new(s.figures.price_per_unit, s.terms.currency);
    let mut lines = Vec::with_capacity(book.len());
    for (sub, &a) in book.iter().zip(&allotted) {
        let refunded = Units::new(sub.units).checked_sub(a).ok_or_else(|| {
            too_large(
                id,
                format!(
                    "the allotment of subscription {} ({a} of {} units)",
                    sub.subscription_id, sub.units
                ),
            )
        })?;
        let due = price.checked_mul_units(a).map_err(|_| {
            too_large(
                id,
                format!("the amount due on subscription {}", sub.subscription_id),
            )
        })?;
        lines.push(AllotmentLine {
            subscription_id: sub.subscription_id,
            allotted_units: a,
            refunded_units: refunded,
            amount_due: due.round(RoundingRule::HalfEven).amount(),
        });
    }
    let mut events = vec![Event::AllotmentDecided {
        series_id: id.clone(),
        rule: s.terms.allotment_rule,
        cap_units,
        subscribed_units,
        allotted_units,
        subscriptions: book.len() as u64,
    }];
    for chunk in lines.chunks(ITEMS_PER_ENTRY) {
        events.push(Event::SubscriptionsAllotted {
            series_id: id.clone(),
            allotments: chunk.to_vec(),
        });
    }
    Ok(events)
}

/// Releases the allotments not settled by the settlement deadline.
fn release_unsettled(
    state: &State,
    s: &Series,
    ctx: &DecideCtx,
) -> Result<Vec<Event>, RegistryError> {
    if s.status != SeriesStatus::Allotted {
        return Err(wrong_state(
            s,
            "release unsettled allotments of",
            "allotted",
        ));
    }
    let id = &s.terms.series_id;
    if ctx.recorded_at < s.terms.settlement_deadline {
        return Err(RegistryError::BeforeSettlementDeadline {
            series: id.clone(),
            deadline: s.terms.settlement_deadline,
        });
    }
    let unsettled: Vec<(u64, Units)> = state
        .book(id)
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

/// Issues the series: one holding per (investor, bank) of its settled
/// allotments, and the money raised at the price per unit, rounded half even.
fn issue(state: &State, s: &Series) -> Result<Vec<Event>, RegistryError> {
    if s.status != SeriesStatus::Allotted {
        return Err(wrong_state(s, "issue", "allotted"));
    }
    let id = &s.terms.series_id;
    let unsettled = state
        .book(id)
        .filter(|sub| sub.status == SubscriptionStatus::Allotted && sub.allotted_units > 0)
        .count();
    if unsettled > 0 {
        return Err(RegistryError::UnsettledAllotments {
            series: id.clone(),
            count: unsettled,
        });
    }
    let mut holdings: BTreeMap<(InvestorRef, ParticipantId), (Units, &RegistrationForm)> =
        BTreeMap::new();
    for sub in state
        .book(id)
        .filter(|sub| sub.status == SubscriptionStatus::Settled)
    {
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
        held.0 = held
            .0
            .checked_add(Units::new(sub.allotted_units))
            .ok_or_else(|| {
                too_large(
                    id,
                    format!("the holding of {} at {}", sub.investor_ref, sub.bank_id),
                )
            })?;
    }
    let units = Units::checked_sum(holdings.values().map(|h| h.0))
        .ok_or_else(|| too_large(id, "the units issued".into()))?;
    let amount_raised = Money::new(s.figures.price_per_unit, s.terms.currency)
        .checked_mul_units(units)
        .map_err(|_| too_large(id, "the money raised".into()))?
        .round(RoundingRule::HalfEven)
        .amount();
    let list: Vec<HoldingUnits> = holdings
        .into_iter()
        .map(|((investor_ref, bank_id), (units, form))| HoldingUnits {
            investor_ref,
            bank_id,
            units,
            registration: form.clone(),
        })
        .collect();
    let mut events = vec![Event::SeriesIssued {
        series_id: id.clone(),
        units,
        holdings: list.len() as u64,
        amount_raised,
    }];
    for chunk in list.chunks(ITEMS_PER_ENTRY) {
        events.push(Event::HoldingsCreated {
            series_id: id.clone(),
            holdings: chunk.to_vec(),
        });
    }
    Ok(events)
}

/// A treasury command that moves a series along its lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeriesTransition {
    Open(SeriesId),
    Close(SeriesId),
    Cancel(SeriesId, String),
    Allot(SeriesId),
    ReleaseUnsettled(SeriesId),
    Issue(SeriesId),
}

impl SeriesTransition {
    pub fn series_id(&self) -> &SeriesId {
        match self {
            SeriesTransition::Open(s)
            | SeriesTransition::Close(s)
            | SeriesTransition::Cancel(s, _)
            | SeriesTransition::Allot(s)
            | SeriesTransition::ReleaseUnsettled(s)
            | SeriesTransition::Issue(s) => s,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllotmentLine {
    pub subscription_id: u64,
    pub allotted_units: Units,
    pub refunded_units: Units,
    pub amount_due: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldingUnits {
    pub investor_ref: InvestorRef,
    pub bank_id: ParticipantId,
    pub units: Units,
    /// The form of the investor's subscriptions (sole unless they named one).
    pub registration: RegistrationForm,
}

fn fail(meta: &EntryMeta, reason: String) -> ApplyError {
    ApplyError {
        index: meta.index,
        reason,
    }
}

fn series_mut<'a>(
    state: &'a mut State,
    meta: &EntryMeta,
    id: &SeriesId,
) -> Result<&'a mut Series, ApplyError> {
    state
        .series
        .get_mut(id)
        .ok_or_else(|| fail(meta, format!("series {id} does not exist")))
}

pub(in crate::registry) fn apply(
    state: &mut State,
    meta: &EntryMeta,
    event: &Event,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    use SeriesStatus::*;
    match event {
        Event::SeriesCreated(d) => apply_created(state, meta, d, changes),
        Event::SeriesAmended(d) => apply_amended(state, meta, d, changes),
        Event::SeriesOpened(id) => set_status(state, meta, id, &[Draft], Open, changes),
        Event::SeriesClosed { series_id, .. } => {
            set_status(state, meta, series_id, &[Open], Closed, changes)
        }
        Event::SeriesCancelled { series_id, .. } => {
            let from = [Draft, Open, Closed, Allotted];
            set_status(state, meta, series_id, &from, Cancelled, changes)
        }
        Event::AllotmentDecided { series_id, .. } => {
            set_status(state, meta, series_id, &[Closed], Allotted, changes)
        }
        Event::SeriesIssued {
            series_id,
            amount_raised,
            ..
        } => apply_issued(state, meta, series_id, *amount_raised, changes),
        _ => Err(fail(
            meta,
            format!("{} is not a series event", event.kind()),
        )),
    }
}

fn apply_created(
    state: &mut State,
    meta: &EntryMeta,
    d: &SeriesDefined,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let id = d.terms.series_id.clone();
    if state.series.contains_key(&id) {
        return Err(fail(meta, format!("series {id} created twice")));
    }
    state.series.insert(
        id.clone(),
        Series {
            terms: d.terms.clone(),
            figures: d.figures.clone(),
            schedule: d.schedule.clone(),
            status: SeriesStatus::Draft,
            created_at_index: meta.index,
            issued_at_index: None,
            amount_raised: Decimal::ZERO,
            paid: Vec::new(),
            tranches: Vec::new(),
            early_redeemed_units: 0,
            early_redemptions: Vec::new(),
            hardship_units: Default::default(),
        },
    );
    changes.touch(StateKey::Series(id));
    Ok(())
}

fn apply_amended(
    state: &mut State,
    meta: &EntryMeta,
    d: &SeriesDefined,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let id = d.terms.series_id.clone();
    let s = series_mut(state, meta, &id)?;
    if s.status != SeriesStatus::Draft {
        return Err(fail(
            meta,
            format!("series {id} amended while {}", s.status),
        ));
    }
    s.terms = d.terms.clone();
    s.figures = d.figures.clone();
    s.schedule = d.schedule.clone();
    changes.touch(StateKey::Series(id));
    Ok(())
}

fn apply_issued(
    state: &mut State,
    meta: &EntryMeta,
    series_id: &SeriesId,
    amount_raised: Decimal,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let from = [SeriesStatus::Allotted];
    set_status(state, meta, series_id, &from, SeriesStatus::Issued, changes)?;
    let issued = series_mut(state, meta, series_id)?;
    issued.amount_raised = amount_raised;
    issued.issued_at_index = Some(meta.index);
    // Its settled subscriptions are now held (once, here: not per holding).
    let ids = state.books.get(series_id).cloned().unwrap_or_default();
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

fn set_status(
    state: &mut State,
    meta: &EntryMeta,
    id: &SeriesId,
    from: &[SeriesStatus],
    to: SeriesStatus,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let s = series_mut(state, meta, id)?;
    if !from.contains(&s.status) {
        return Err(fail(
            meta,
            format!(
                "series {id} cannot become {} from {}",
                to.as_str(),
                s.status.as_str()
            ),
        ));
    }
    s.status = to;
    changes.touch(StateKey::Series(id.clone()));
    Ok(())
}
