//! Rate fixings, and the record dates, coupon payments and redemptions the
//! accrual engine posts. The server never trusts the engine's figures: posting an
//! event re-derives it from the ledger with the pure engine (`crate::accrual`).

use super::series::{ITEMS_PER_ENTRY, SeriesStatus, bond_terms, series, series_coupon};
use super::*;
use crate::accrual::{self, Due, EventId, HoldingInput, SeriesInput};
use crate::money::{Currency, Rate, RoundingRule, Units};
use crate::pricing::{BondTerms, CashFlowKind, Fixings};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The reason a transfer still pending at maturity is refused with.
pub const LAPSED: &str = "the series matured before the transfer was confirmed";

/// Every coupon and redemption payment is rounded to the currency's minor unit by
/// this rule (banker's rounding), stated in each payment entry.
pub const PAYMENT_ROUNDING: RoundingRule = RoundingRule::HalfEven;

/// A payment to one holding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub investor_ref: InvestorRef,
    pub bank_id: ParticipantId,
    pub units: Units,
    /// The gross amount.
    pub amount: Decimal,
    /// What was withheld, when a withholding table was in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withholding: Option<super::withholding::PaymentWithholding>,
}

/// What one custodian bank pays out to its clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTotal {
    pub bank_id: ParticipantId,
    pub holdings: u64,
    pub units: Units,
    pub amount: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CouponPaid {
    pub id: EventId,
    pub series_id: SeriesId,
    pub flow: u32,
    pub accrual_start: NaiveDate,
    pub accrual_end: NaiveDate,
    pub payment_date: NaiveDate,
    pub rate: Rate,
    pub amount_per_unit: Decimal,
    pub rounding: RoundingRule,
    pub total: Decimal,
    pub residue: Decimal,
    pub holdings: u64,
    pub bank_totals: Vec<BankTotal>,
    pub currency: Currency,
    /// The coupon's withholding, when a table was in force on its payment date.
    pub withholding: Option<super::withholding::WithholdingSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeemed {
    pub id: EventId,
    pub series_id: SeriesId,
    pub payment_date: NaiveDate,
    pub amount_per_unit: Decimal,
    pub rounding: RoundingRule,
    pub total: Decimal,
    pub residue: Decimal,
    pub holdings: u64,
    pub bank_totals: Vec<BankTotal>,
    pub currency: Currency,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordDateFixed {
    pub id: EventId,
    pub series_id: SeriesId,
    pub flow: u32,
    pub record_date: NaiveDate,
    pub payment_date: NaiveDate,
    pub holders: u64,
    pub units: Units,
    pub holders_digest: [u8; 32],
}

/// A payment already made on a series (kept on the series record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidFlow {
    pub event_id: String,
    pub kind: CashFlowKind,
    pub payment_date: NaiveDate,
    pub amount_per_unit: Decimal,
    pub total: Decimal,
    /// The coupon's withholding (none for a redemption, or without a table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withholding: Option<super::withholding::WithholdingSummary>,
}

/// Everything the engine needs about one series, owned.
pub struct EngineSeries {
    pub terms: BondTerms,
    pub currency: Currency,
    pub holdings: Vec<(InvestorRef, ParticipantId, u64)>,
}

impl EngineSeries {
    pub fn of(state: &State, id: &SeriesId) -> Result<EngineSeries, RegistryError> {
        let s = series(state, id)?;
        let terms = bond_terms(&s.terms, series_coupon(s)?)?;
        let holdings = state
            .series_holdings(id, None)
            .map(|h| (h.investor_ref.clone(), h.bank_id.clone(), h.units))
            .collect();
        Ok(EngineSeries {
            terms,
            currency: s.terms.currency,
            holdings,
        })
    }

    pub fn input<'a>(&'a self, id: &'a SeriesId) -> SeriesInput<'a> {
        SeriesInput {
            series_id: id.as_str(),
            currency: self.currency,
            terms: &self.terms,
            rounding: PAYMENT_ROUNDING,
        }
    }

    pub fn holding_inputs(&self) -> Vec<HoldingInput<'_>> {
        self.holdings
            .iter()
            .map(|(i, b, u)| HoldingInput {
                investor_ref: i.as_str(),
                bank_id: b.as_str(),
                units: Units::new(*u),
            })
            .collect()
    }
}

/// The published fixings as the bond-math library takes them.
pub fn fixings(state: &State) -> Fixings {
    let mut f = Fixings::new();
    for ((reference, date), rate) in &state.fixings {
        f.insert(reference, *date, *rate);
    }
    f
}

/// What is due for one issued series through `through`, not yet posted.
pub fn due(
    state: &State,
    id: &SeriesId,
    through: NaiveDate,
) -> Result<accrual::DueReport, RegistryError> {
    due_limited(state, id, through, usize::MAX)
}

/// The first `limit` events of [`due`].
pub fn due_limited(
    state: &State,
    id: &SeriesId,
    through: NaiveDate,
    limit: usize,
) -> Result<accrual::DueReport, RegistryError> {
    let es = EngineSeries::of(state, id)?;
    let holdings = es.holding_inputs();
    let posted = |e: &EventId| state.posted.contains_key(&e.to_string());
    accrual::due_events_limited(
        &es.input(id),
        &holdings,
        &fixings(state),
        &posted,
        through,
        limit,
    )
    .map_err(|e| RegistryError::EngineCannotRun {
        series: id.clone(),
        reason: e.to_string(),
    })
}

/// The first event due on an issued series through `through` and not yet
/// posted, if any. Which events are due does not depend on the holdings, so
/// none are read.
pub fn first_due(
    state: &State,
    id: &SeriesId,
    through: NaiveDate,
) -> Result<Option<EventId>, RegistryError> {
    let s = series(state, id)?;
    let terms = bond_terms(&s.terms, series_coupon(s)?)?;
    let input = SeriesInput {
        series_id: id.as_str(),
        currency: s.terms.currency,
        terms: &terms,
        rounding: PAYMENT_ROUNDING,
    };
    let posted = |e: &EventId| state.posted.contains_key(&e.to_string());
    let report = accrual::due_events_limited(&input, &[], &fixings(state), &posted, through, 1)
        .map_err(|e| RegistryError::engine(id, e))?;
    Ok(report.due.into_iter().next().map(|d| d.id().clone()))
}

pub(super) fn decide_fixing(
    state: &State,
    caller: &Caller,
    reference: &str,
    date: NaiveDate,
    rate: Rate,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Treasury, "publishing a rate fixing")?;
    check_text("reference_rate", reference, 64)?;
    if rate.fraction().abs() > Decimal::ONE {
        return Err(RegistryError::invalid(
            "rate",
            format!("expected a decimal fraction such as 0.0375, found {rate}"),
        ));
    }
    if state.fixings.contains_key(&(reference.to_string(), date)) {
        return Err(RegistryError::FixingExists {
            reference: reference.to_string(),
            date,
        });
    }
    Ok(vec![Event::FixingPublished {
        reference: reference.to_string(),
        date,
        rate,
    }])
}

/// The digest of the holders of record: holdings with units (a holding emptied
/// by a transfer or a succession holds nothing of record).
fn digest(holdings: &[(InvestorRef, ParticipantId, u64)]) -> [u8; 32] {
    let mut h = Sha256::new();
    for (i, b, u) in holdings.iter().filter(|(_, _, u)| *u > 0) {
        h.update(format!("{i},{b},{u}\n").as_bytes());
    }
    h.finalize().into()
}

fn payments(list: Vec<accrual::Payment>) -> Result<Vec<Payment>, RegistryError> {
    list.into_iter()
        .map(|p| {
            Ok(Payment {
                investor_ref: InvestorRef::parse("investor_ref", &p.investor_ref)?,
                bank_id: ParticipantId::parse("bank_id", &p.bank_id)?,
                units: p.units,
                amount: p.amount,
                withholding: None,
            })
        })
        .collect()
}

fn bank_totals(list: Vec<accrual::BankTotal>) -> Result<Vec<BankTotal>, RegistryError> {
    list.into_iter()
        .map(|b| {
            Ok(BankTotal {
                bank_id: ParticipantId::parse("bank_id", &b.bank_id)?,
                holdings: b.holdings,
                units: b.units,
                amount: b.amount,
            })
        })
        .collect()
}

pub(super) fn decide_post(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    id: &SeriesId,
    event: &EventId,
) -> Result<Decision, RegistryError> {
    caller.require(Role::Engine, "posting accrual events")?;
    if event.series_id() != id.as_str() {
        return Err(RegistryError::invalid(
            "event_id",
            format!("event {event} is not an event of series {id}"),
        ));
    }
    if let Some(&index) = state.posted.get(&event.to_string()) {
        return Ok(Decision::Existing { index });
    }
    let s = series(state, id)?;
    if s.status != SeriesStatus::Issued {
        return Err(RegistryError::NotIssued {
            series: id.clone(),
            found: s.status,
        });
    }
    let today = ctx.recorded_at.date_naive();
    // Only the first due event is needed (the one to post).
    let report = due_limited(state, id, today, 1)?;
    let Some(first) = report.due.into_iter().next() else {
        return Err(RegistryError::NothingDue {
            series: id.clone(),
            through: today,
            event: event.clone(),
        });
    };
    if first.id() != event {
        return Err(RegistryError::NotNextEvent {
            asked: event.clone(),
            first: first.id().clone(),
        });
    }
    let es = EngineSeries::of(state, id)?;
    let events = match first {
        Due::RecordDate {
            id: eid,
            record_date,
            payment_date,
            holders,
            units,
        } => {
            let flow = match &eid {
                EventId::RecordDate { flow, .. } => *flow,
                _ => 0,
            };
            vec![Event::RecordDateFixed(RecordDateFixed {
                id: eid,
                series_id: id.clone(),
                flow,
                record_date,
                payment_date,
                holders,
                units,
                holders_digest: digest(&es.holdings),
            })]
        }
        coupon @ Due::Coupon { .. } => coupon_events(state, ctx, id, es.currency, coupon)?,
        redemption @ Due::Redemption { .. } => {
            let mut events = redemption_events(id, es.currency, redemption)?;
            // Transfers still pending lapse: the units were redeemed where they were.
            let matured = events.pop();
            events.extend(
                super::holdings::transfers::pending_of(state, id)
                    .map(|t| super::holdings::transfers::refusal(t, LAPSED)),
            );
            events.extend(matured);
            events
        }
    };
    Ok(Decision::Append(events))
}

/// A coupon's summary entry and one entry per holding's payment, with what is
/// withheld from each when a withholding table is in force.
fn coupon_events(
    state: &State,
    ctx: &DecideCtx,
    id: &SeriesId,
    currency: Currency,
    due: Due,
) -> Result<Vec<Event>, RegistryError> {
    let Due::Coupon {
        id: eid,
        accrual_start,
        accrual_end,
        payment_date,
        rate,
        amount_per_unit,
        payments: list,
        bank_totals: totals,
        total,
        residue,
    } = due
    else {
        return Ok(Vec::new());
    };
    let flow = match &eid {
        EventId::Coupon { flow, .. } => *flow,
        _ => 0,
    };
    let mut list = payments(list)?;
    let withholding =
        super::withholding::withhold(state, id, currency, payment_date, ctx.index, &mut list)?;
    let mut events = vec![Event::CouponPaid(CouponPaid {
        id: eid.clone(),
        series_id: id.clone(),
        flow,
        accrual_start,
        accrual_end,
        payment_date,
        rate,
        amount_per_unit,
        rounding: PAYMENT_ROUNDING,
        total,
        residue,
        holdings: list.len() as u64,
        bank_totals: bank_totals(totals)?,
        currency,
        withholding,
    })];
    for chunk in list.chunks(ITEMS_PER_ENTRY) {
        events.push(Event::CouponPayments {
            id: eid.clone(),
            series_id: id.clone(),
            payments: chunk.to_vec(),
        });
    }
    Ok(events)
}

/// The redemption's summary entry, one entry per holding's payment, and the
/// series' maturity.
fn redemption_events(
    id: &SeriesId,
    currency: Currency,
    due: Due,
) -> Result<Vec<Event>, RegistryError> {
    let Due::Redemption {
        id: eid,
        payment_date,
        amount_per_unit,
        payments: list,
        bank_totals: totals,
        total,
        residue,
    } = due
    else {
        return Ok(Vec::new());
    };
    let list = payments(list)?;
    let mut events = vec![Event::Redeemed(Redeemed {
        id: eid.clone(),
        series_id: id.clone(),
        payment_date,
        amount_per_unit,
        rounding: PAYMENT_ROUNDING,
        total,
        residue,
        holdings: list.len() as u64,
        bank_totals: bank_totals(totals)?,
        currency,
    })];
    for chunk in list.chunks(ITEMS_PER_ENTRY) {
        events.push(Event::RedemptionPayments {
            id: eid.clone(),
            series_id: id.clone(),
            payments: chunk.to_vec(),
        });
    }
    events.push(Event::SeriesMatured {
        series_id: id.clone(),
    });
    Ok(events)
}

fn fail(meta: &EntryMeta, reason: String) -> ApplyError {
    ApplyError {
        index: meta.index,
        reason,
    }
}

fn mark_posted(
    state: &mut State,
    meta: &EntryMeta,
    id: &EventId,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let key = id.to_string();
    if state.posted.contains_key(&key) {
        return Err(fail(meta, format!("event {key} posted twice")));
    }
    state.posted.insert(key.clone(), meta.index);
    changes.touch(StateKey::Posted(key));
    Ok(())
}

/// Marks a coupon or the redemption posted and keeps it on the series record.
fn record_paid(
    state: &mut State,
    meta: &EntryMeta,
    id: &EventId,
    series_id: &SeriesId,
    flow: PaidFlow,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    mark_posted(state, meta, id, changes)?;
    let s = state
        .series
        .get_mut(series_id)
        .ok_or_else(|| fail(meta, format!("series {series_id} does not exist")))?;
    s.paid.push(flow);
    changes.touch(StateKey::Series(series_id.clone()));
    Ok(())
}

/// Closes the holdings a redemption paid.
fn apply_redemption_payments(
    state: &mut State,
    meta: &EntryMeta,
    id: &EventId,
    series_id: &SeriesId,
    payments: &[Payment],
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    if !state.posted.contains_key(&id.to_string()) {
        return Err(fail(meta, format!("payments of {id} without its summary")));
    }
    for p in payments {
        let key = (series_id.clone(), p.investor_ref.clone(), p.bank_id.clone());
        let h = state.holdings.get_mut(&key).ok_or_else(|| {
            fail(
                meta,
                format!(
                    "redemption of unknown holding {} at {}",
                    p.investor_ref, p.bank_id
                ),
            )
        })?;
        h.redeemed_units = h.units;
        changes.touch(StateKey::Holding(key));
    }
    Ok(())
}

pub(super) fn apply(
    state: &mut State,
    meta: &EntryMeta,
    event: &Event,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    match event {
        Event::FixingPublished {
            reference,
            date,
            rate,
        } => {
            let key = (reference.clone(), *date);
            if state.fixings.contains_key(&key) {
                return Err(fail(meta, format!("{reference} fixed twice for {date}")));
            }
            state.fixings.insert(key.clone(), rate.fraction());
            changes.touch(StateKey::Fixing(key));
        }
        Event::RecordDateFixed(e) => mark_posted(state, meta, &e.id, changes)?,
        Event::CouponPaid(e) => {
            let flow = PaidFlow {
                event_id: e.id.to_string(),
                kind: CashFlowKind::Coupon,
                payment_date: e.payment_date,
                amount_per_unit: e.amount_per_unit,
                total: e.total,
                withholding: e.withholding.clone(),
            };
            record_paid(state, meta, &e.id, &e.series_id, flow, changes)?;
        }
        Event::Redeemed(e) => {
            let flow = PaidFlow {
                event_id: e.id.to_string(),
                kind: CashFlowKind::Redemption,
                payment_date: e.payment_date,
                amount_per_unit: e.amount_per_unit,
                total: e.total,
                withholding: None,
            };
            record_paid(state, meta, &e.id, &e.series_id, flow, changes)?;
        }
        Event::CouponPayments { id, .. } => {
            if !state.posted.contains_key(&id.to_string()) {
                return Err(fail(meta, format!("payments of {id} without its summary")));
            }
        }
        Event::RedemptionPayments {
            id,
            series_id,
            payments,
        } => apply_redemption_payments(state, meta, id, series_id, payments, changes)?,
        Event::SeriesMatured { series_id } => {
            let s = state
                .series
                .get_mut(series_id)
                .ok_or_else(|| fail(meta, format!("series {series_id} does not exist")))?;
            if s.status != SeriesStatus::Issued {
                return Err(fail(
                    meta,
                    format!("series {series_id} matured while {}", s.status.as_str()),
                ));
            }
            s.status = SeriesStatus::Matured;
            changes.touch(StateKey::Series(series_id.clone()));
        }
        _ => {
            return Err(fail(
                meta,
                format!("{} is not a coupon event", event.kind()),
            ));
        }
    }
    Ok(())
}
