//! The engine's pure core: a series' events planned from its cash flows, the ones
//! due and not yet posted, per-holding payments, and accrued interest.
//!
//! Invariant: the bond (schedule, cash flows, per-unit figures) is built once per
//! call, and the per-holding loop only multiplies, rounds and adds, with checked
//! arithmetic; nothing here reads the clock, touches storage or guesses a fixing.

use crate::money::{Currency, Rate, RoundingRule, Units, round_to_minor};
use crate::pricing::{Bond, BondTerms, CashFlowKind, CouponType, Fixings, PricingError};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// A series as the engine sees it: its identity, currency, terms and rounding.
#[derive(Clone, Copy, Debug)]
pub struct SeriesInput<'a> {
    /// The series identifier; the prefix of every event id (must not be empty).
    pub series_id: &'a str,
    /// The currency coupons and redemptions are paid in (its minor unit is what
    /// each payment is rounded to).
    pub currency: Currency,
    /// Terms of ONE unit (face = face value per unit).
    pub terms: &'a BondTerms,
    /// The rounding applied to each payment.
    pub rounding: RoundingRule,
}

/// One holding of the series: who holds how many units, through which bank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldingInput<'a> {
    /// The investor's pseudonymous reference (chosen by the bank).
    pub investor_ref: &'a str,
    /// The custodian bank that pays the investor.
    pub bank_id: &'a str,
    /// Units held (a holding of zero units is paid nothing and not listed).
    pub units: Units,
}

/// Path segment of record-date event ids.
const RECORD_SEGMENT: &str = "record";
/// Path segment of coupon event ids.
const COUPON_SEGMENT: &str = "coupon";
/// Last segment of redemption event ids.
const REDEMPTION_SEGMENT: &str = "redemption";

/// The deterministic identity of an event: the same series and flow always give
/// the same id, so the host can tell whether it has posted it.
///
/// Text form (`Display`, and `FromStr` its exact inverse): `SERIES/record/FLOW`,
/// `SERIES/coupon/FLOW`, `SERIES/redemption`, with `FLOW` the index of the cash
/// flow in [`Bond::cashflows`] in canonical decimal (no sign, no leading zero).
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum EventId {
    /// Holders of record fixed for the coupon (or the redemption) at `flow`.
    RecordDate {
        /// The series.
        series_id: String,
        /// Index into the bond's cash flows.
        flow: u32,
    },
    /// The coupon at `flow` paid.
    Coupon {
        /// The series.
        series_id: String,
        /// Index into the bond's cash flows.
        flow: u32,
    },
    /// The series redeemed.
    Redemption {
        /// The series.
        series_id: String,
    },
}

impl EventId {
    /// The series the event belongs to.
    pub fn series_id(&self) -> &str {
        match self {
            EventId::RecordDate { series_id, .. }
            | EventId::Coupon { series_id, .. }
            | EventId::Redemption { series_id } => series_id,
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventId::RecordDate { series_id, flow } => {
                write!(f, "{series_id}/{RECORD_SEGMENT}/{flow}")
            }
            EventId::Coupon { series_id, flow } => write!(f, "{series_id}/{COUPON_SEGMENT}/{flow}"),
            EventId::Redemption { series_id } => write!(f, "{series_id}/{REDEMPTION_SEGMENT}"),
        }
    }
}

/// A flow index in canonical decimal: digits only, no leading zero (so that
/// formatting the parsed value gives the same text back).
fn parse_flow(text: &str) -> Option<u32> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

impl FromStr for EventId {
    type Err = AccrualError;

    /// Reads the text `Display` writes, and nothing else. The last segment
    /// decides the kind, so a series id may itself contain `/`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || AccrualError::InvalidEventId {
            found: s.to_string(),
        };
        let (head, last) = s.rsplit_once('/').ok_or_else(invalid)?;
        if last == REDEMPTION_SEGMENT {
            if head.is_empty() {
                return Err(invalid());
            }
            return Ok(EventId::Redemption {
                series_id: head.to_string(),
            });
        }
        let flow = parse_flow(last).ok_or_else(invalid)?;
        let (series_id, kind) = head.rsplit_once('/').ok_or_else(invalid)?;
        if series_id.is_empty() {
            return Err(invalid());
        }
        let series_id = series_id.to_string();
        match kind {
            RECORD_SEGMENT => Ok(EventId::RecordDate { series_id, flow }),
            COUPON_SEGMENT => Ok(EventId::Coupon { series_id, flow }),
            _ => Err(invalid()),
        }
    }
}

/// One holding's payment of a coupon or redemption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// The investor's reference, as in the holding.
    pub investor_ref: String,
    /// The custodian bank, as in the holding.
    pub bank_id: String,
    /// Units held.
    pub units: Units,
    /// `round_to_minor(units × amount_per_unit)` under the series' rule.
    pub amount: Decimal,
}

/// One bank's payment instruction: the sum of its holdings' payments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankTotal {
    /// The custodian bank.
    pub bank_id: String,
    /// Holdings paid through the bank (those with units > 0).
    pub holdings: u64,
    /// Units those holdings hold.
    pub units: Units,
    /// Sum of those holdings' (rounded) payments.
    pub amount: Decimal,
}

/// An event due for posting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// Holders of record fixed for a coupon (and for the redemption: the flow
    /// index is the redemption's).
    RecordDate {
        /// The event's identity.
        id: EventId,
        /// The record date (never before the issue date: an earlier one is taken
        /// as the issue date).
        record_date: NaiveDate,
        /// When the coupon or redemption it fixes holders for is paid.
        payment_date: NaiveDate,
        /// Holdings with units > 0.
        holders: u64,
        /// Units those holdings hold.
        units: Units,
    },
    /// A coupon paid.
    Coupon {
        /// The event's identity.
        id: EventId,
        /// Start of the accrual period.
        accrual_start: NaiveDate,
        /// End of the accrual period.
        accrual_end: NaiveDate,
        /// Payment date (business-day adjusted, after any payment lag).
        payment_date: NaiveDate,
        /// Annual rate of the period (floor and spread applied for floating).
        rate: Rate,
        /// The coupon of one unit, unrounded.
        amount_per_unit: Decimal,
        /// One per holding with units > 0, in the order of the holdings.
        payments: Vec<Payment>,
        /// One per bank, sorted by bank id.
        bank_totals: Vec<BankTotal>,
        /// Sum of the payments (exact).
        total: Decimal,
        /// Units outstanding × amount per unit − total (positive: paid less than
        /// the exact amount).
        residue: Decimal,
    },
    /// The series redeemed.
    Redemption {
        /// The event's identity.
        id: EventId,
        /// Payment date (paid with the last coupon).
        payment_date: NaiveDate,
        /// Redemption of one unit, unrounded: the face, plus the compounded
        /// interest for an accumulating series.
        amount_per_unit: Decimal,
        /// One per holding with units > 0, in the order of the holdings.
        payments: Vec<Payment>,
        /// One per bank, sorted by bank id.
        bank_totals: Vec<BankTotal>,
        /// Sum of the payments (exact).
        total: Decimal,
        /// Units outstanding × amount per unit − total (positive: paid less than
        /// the exact amount).
        residue: Decimal,
    },
}

impl Due {
    /// The event's identity.
    pub fn id(&self) -> &EventId {
        match self {
            Due::RecordDate { id, .. } | Due::Coupon { id, .. } | Due::Redemption { id, .. } => id,
        }
    }

    /// The date the event happens on: the record date or the payment date.
    pub fn date(&self) -> NaiveDate {
        match self {
            Due::RecordDate { record_date, .. } => *record_date,
            Due::Coupon { payment_date, .. } | Due::Redemption { payment_date, .. } => {
                *payment_date
            }
        }
    }

    fn set_payments(&mut self, list: Vec<Payment>) {
        match self {
            Due::RecordDate { .. } => {}
            Due::Coupon { payments, .. } | Due::Redemption { payments, .. } => *payments = list,
        }
    }
}

/// A floating coupon that is due but not paid: its fixing has not been
/// published. Nothing is guessed; it becomes due once the fixing is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// The series.
    pub series_id: String,
    /// Index of the coupon in the bond's cash flows.
    pub flow: u32,
    /// Name of the reference rate.
    pub reference: String,
    /// The date the missing fixing is for (the period's accrual start).
    pub fixing_date: NaiveDate,
    /// When the coupon would be paid.
    pub payment_date: NaiveDate,
}

impl Waiting {
    /// The id the coupon will be posted under once it is paid.
    pub fn coupon_id(&self) -> EventId {
        EventId::Coupon {
            series_id: self.series_id.clone(),
            flow: self.flow,
        }
    }
}

/// What [`due_events`] finds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DueReport {
    /// The events to post, in posting order.
    pub due: Vec<Due>,
    /// Coupons due but waiting for a fixing, in payment order.
    pub waiting: Vec<Waiting>,
}

/// One holding's payment, by position in the holdings given (see
/// [`due_events_indexed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldingPayment {
    /// Index of the holding in the holdings slice.
    pub holding: usize,
    /// `round_to_minor(units × amount_per_unit)` under the series' rule.
    pub amount: Decimal,
}

/// An event due, with its payments by holding index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedDue {
    /// The event as [`due_events`] gives it, except that its `payments` list is
    /// left empty.
    pub event: Due,
    /// The payments, one per holding with units > 0, in the order of the holdings.
    pub payments: Vec<HoldingPayment>,
}

/// What [`due_events_indexed`] finds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexedReport {
    /// The events to post, in posting order.
    pub due: Vec<IndexedDue>,
    /// Coupons due but waiting for a fixing, in payment order.
    pub waiting: Vec<Waiting>,
}

/// Accrued interest of a series' holdings on one date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accrued {
    /// Accrued interest of one unit, unrounded.
    pub per_unit: Decimal,
    /// `per_unit × units` for each holding, unrounded, in the order of the holdings.
    pub per_holding: Vec<Decimal>,
    /// `per_unit × units outstanding` (one product; the per-holding figures are
    /// each exact to 28 significant digits, so their sum can differ from it in
    /// the last of them).
    pub total: Decimal,
}

/// Errors from the accrual engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccrualError {
    /// The bond math refused the terms or a date.
    #[error("series {series_id}: {source}")]
    Pricing {
        /// The series.
        series_id: String,
        /// What the bond math said.
        source: PricingError,
    },
    /// Accrued interest asked for inside a floating period whose fixing has not
    /// been published.
    #[error(
        "series {series_id}: the floating coupon fixed on {fixing_date} is waiting for its {reference} fixing, and accrued interest is never guessed"
    )]
    MissingFixing {
        /// The series.
        series_id: String,
        /// Name of the reference rate.
        reference: String,
        /// The date the missing fixing is for.
        fixing_date: NaiveDate,
    },
    /// An amount or a count too large to represent.
    #[error("series {series_id}: {what} is too large to represent")]
    Overflow {
        /// The series.
        series_id: String,
        /// What overflowed.
        what: &'static str,
    },
    /// A series id that cannot prefix event ids.
    #[error("series id must not be empty")]
    EmptySeriesId,
    /// Terms whose business-day rules pay a flow before the bond exists.
    #[error(
        "series {series_id}: cash flow {flow} is paid on {payment_date}, before the issue date {issue_date}"
    )]
    PaymentBeforeIssue {
        /// The series.
        series_id: String,
        /// Index of the flow.
        flow: u32,
        /// Its payment date.
        payment_date: NaiveDate,
        /// The series' issue date.
        issue_date: NaiveDate,
    },
    /// Text that is not an event id.
    #[error(
        "invalid event id {found:?}: expected SERIES/record/FLOW, SERIES/coupon/FLOW or SERIES/redemption, with FLOW a whole number without leading zeros"
    )]
    InvalidEventId {
        /// The text given.
        found: String,
    },
}

/// Where an event sits among those of the same date: holders are fixed before
/// a coupon is paid, and the redemption comes last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    RecordDate,
    Coupon,
    Redemption,
}

/// One event of the series' life, before anyone asks whether it is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Planned {
    /// The posting date (field order is the posting order).
    date: NaiveDate,
    stage: Stage,
    flow: u32,
}

impl Planned {
    fn id(&self, series_id: &str) -> EventId {
        let series_id = series_id.to_string();
        match self.stage {
            Stage::RecordDate => EventId::RecordDate {
                series_id,
                flow: self.flow,
            },
            Stage::Coupon => EventId::Coupon {
                series_id,
                flow: self.flow,
            },
            Stage::Redemption => EventId::Redemption { series_id },
        }
    }
}

/// A series' bond and every event of its life, in posting order.
struct Plan {
    bond: Bond,
    events: Vec<Planned>,
    /// Redemption of one unit: the face, plus the accumulated interest of an
    /// accumulating series (which the bond math lists as a coupon row).
    redemption_per_unit: Decimal,
}

fn pricing_error(series: &SeriesInput, source: PricingError) -> AccrualError {
    match (source, series.terms.coupon()) {
        (PricingError::MissingFixing { accrual_start }, CouponType::Floating { reference, .. }) => {
            AccrualError::MissingFixing {
                series_id: series.series_id.to_string(),
                reference: reference.clone(),
                fixing_date: accrual_start,
            }
        }
        (source, _) => AccrualError::Pricing {
            series_id: series.series_id.to_string(),
            source,
        },
    }
}

fn overflow(series: &SeriesInput, what: &'static str) -> AccrualError {
    AccrualError::Overflow {
        series_id: series.series_id.to_string(),
        what,
    }
}

fn build_bond(series: &SeriesInput, fixings: &Fixings) -> Result<Bond, AccrualError> {
    if series.series_id.is_empty() {
        return Err(AccrualError::EmptySeriesId);
    }
    Bond::new(series.terms, fixings).map_err(|e| pricing_error(series, e))
}

fn plan(series: &SeriesInput, fixings: &Fixings) -> Result<Plan, AccrualError> {
    let bond = build_bond(series, fixings)?;
    let issue = series.terms.issue_date();
    // The bond math lists an accumulating series' compounded interest as a
    // coupon row paid with the redemption; holders receive it as part of the
    // redemption, so it is folded in there rather than posted on its own.
    let accumulating = matches!(series.terms.coupon(), CouponType::Accumulating(_));
    let flows = bond.cashflows();
    let mut events = Vec::with_capacity(flows.len() * 2);
    let mut folded = Decimal::ZERO;
    let mut redemption = Decimal::ZERO;
    for (i, cf) in flows.iter().enumerate() {
        let flow = u32::try_from(i).map_err(|_| overflow(series, "cash flow index"))?;
        if cf.payment_date < issue {
            return Err(AccrualError::PaymentBeforeIssue {
                series_id: series.series_id.to_string(),
                flow,
                payment_date: cf.payment_date,
                issue_date: issue,
            });
        }
        let stage = match cf.kind {
            CashFlowKind::Coupon if accumulating => {
                let amount = cf.amount.ok_or_else(|| {
                    pricing_error(
                        series,
                        PricingError::MissingFixing {
                            accrual_start: cf.accrual_start,
                        },
                    )
                })?;
                folded = folded
                    .checked_add(amount)
                    .ok_or_else(|| overflow(series, "accumulated interest"))?;
                continue;
            }
            CashFlowKind::Coupon => Stage::Coupon,
            CashFlowKind::Redemption => {
                redemption = cf.amount.unwrap_or(series.terms.face());
                Stage::Redemption
            }
        };
        if let Some(record_date) = cf.record_date {
            // A short first period with a long record lag can put the record
            // date before issue: the first holders are then the holders of record.
            events.push(Planned {
                date: record_date.max(issue),
                stage: Stage::RecordDate,
                flow,
            });
        }
        events.push(Planned {
            date: cf.payment_date,
            stage,
            flow,
        });
    }
    events.sort_unstable();
    let redemption_per_unit = redemption
        .checked_add(folded)
        .ok_or_else(|| overflow(series, "redemption amount"))?;
    Ok(Plan {
        bond,
        events,
        redemption_per_unit,
    })
}

/// Payments of one event, before they are turned into the caller's type.
struct Paid<P> {
    payments: Vec<P>,
    bank_totals: Vec<BankTotal>,
    total: Decimal,
    residue: Decimal,
}

/// A bank's running sums while the payments are computed.
struct BankSums<'h> {
    bank_id: &'h str,
    holdings: u64,
    units: Units,
    amount: Decimal,
}

fn decimal_from_u128(
    series: &SeriesInput,
    n: u128,
    what: &'static str,
) -> Result<Decimal, AccrualError> {
    i128::try_from(n)
        .ok()
        .and_then(|n| Decimal::try_from_i128_with_scale(n, 0).ok())
        .ok_or_else(|| overflow(series, what))
}

/// Pays `per_unit` on every holding with units > 0: each amount rounded once by
/// the series' rule, bank totals summed from the rounded amounts.
fn pay<'h, P>(
    series: &SeriesInput,
    holdings: &'h [HoldingInput<'h>],
    per_unit: Decimal,
    make: &mut impl FnMut(usize, &HoldingInput<'h>, Decimal) -> P,
) -> Result<Paid<P>, AccrualError> {
    let mut payments = Vec::with_capacity(holdings.len());
    let mut bank_index: HashMap<&'h str, usize> = HashMap::new();
    let mut banks: Vec<BankSums<'h>> = Vec::new();
    // Holdings usually come grouped by bank: remember the last one to skip the map.
    let mut last: Option<(&'h str, usize)> = None;
    let mut total = Decimal::ZERO;
    let mut units_total: u128 = 0;
    for (i, h) in holdings.iter().enumerate() {
        if h.units.is_zero() {
            continue;
        }
        let exact = per_unit
            .checked_mul(h.units.to_decimal())
            .ok_or_else(|| overflow(series, "a holding's payment"))?;
        let amount = round_to_minor(exact, series.currency, series.rounding);
        total = total
            .checked_add(amount)
            .ok_or_else(|| overflow(series, "the total payment"))?;
        units_total = units_total.saturating_add(u128::from(h.units.get()));
        let b = match last {
            Some((id, b)) if id == h.bank_id => b,
            _ => {
                let next = banks.len();
                let b = *bank_index.entry(h.bank_id).or_insert(next);
                if b == next {
                    banks.push(BankSums {
                        bank_id: h.bank_id,
                        holdings: 0,
                        units: Units::ZERO,
                        amount: Decimal::ZERO,
                    });
                }
                last = Some((h.bank_id, b));
                b
            }
        };
        let sums = &mut banks[b];
        sums.holdings += 1;
        sums.units = sums
            .units
            .checked_add(h.units)
            .ok_or_else(|| overflow(series, "a bank's units"))?;
        sums.amount = sums
            .amount
            .checked_add(amount)
            .ok_or_else(|| overflow(series, "a bank's total"))?;
        payments.push(make(i, h, amount));
    }
    banks.sort_unstable_by(|a, b| a.bank_id.cmp(b.bank_id));
    // Both sums add the same minor-unit amounts; a decimal that had to drop
    // digits on the way would show here, and is refused rather than reported.
    let banks_total = banks
        .iter()
        .try_fold(Decimal::ZERO, |acc, b| acc.checked_add(b.amount));
    if banks_total != Some(total) {
        return Err(overflow(series, "the total payment"));
    }
    let exact_total = decimal_from_u128(series, units_total, "units outstanding")?
        .checked_mul(per_unit)
        .ok_or_else(|| overflow(series, "units outstanding × amount per unit"))?;
    let residue = exact_total
        .checked_sub(total)
        .ok_or_else(|| overflow(series, "the rounding residue"))?;
    Ok(Paid {
        payments,
        bank_totals: banks
            .into_iter()
            .map(|b| BankTotal {
                bank_id: b.bank_id.to_string(),
                holdings: b.holdings,
                units: b.units,
                amount: b.amount,
            })
            .collect(),
        total,
        residue,
    })
}

/// Holdings with units > 0 and the units they hold.
fn holders_of_record(
    series: &SeriesInput,
    holdings: &[HoldingInput],
) -> Result<(u64, Units), AccrualError> {
    let mut holders = 0u64;
    let mut units = Units::ZERO;
    for h in holdings.iter().filter(|h| !h.units.is_zero()) {
        holders += 1;
        units = units
            .checked_add(h.units)
            .ok_or_else(|| overflow(series, "units outstanding"))?;
    }
    Ok((holders, units))
}

type Found<P> = (Vec<(Due, Vec<P>)>, Vec<Waiting>);

/// The events of `series` dated on or before `through` that `posted` does not
/// know, with their payments made by `make`; the `payments` field of each
/// [`Due`] is left empty.
fn find_due<'h, P>(
    series: &SeriesInput,
    holdings: &'h [HoldingInput<'h>],
    fixings: &Fixings,
    posted: &dyn Fn(&EventId) -> bool,
    through: NaiveDate,
    limit: usize,
    mut make: impl FnMut(usize, &HoldingInput<'h>, Decimal) -> P,
) -> Result<Found<P>, AccrualError> {
    let plan = plan(series, fixings)?;
    let flows = plan.bond.cashflows();
    let mut due = Vec::new();
    let mut waiting = Vec::new();
    let mut record: Option<(u64, Units)> = None;
    for event in plan.events.iter().take_while(|e| e.date <= through) {
        if due.len() >= limit {
            break;
        }
        let Some(cf) = flows.get(event.flow as usize) else {
            continue;
        };
        let id = event.id(series.series_id);
        if posted(&id) {
            continue;
        }
        match event.stage {
            Stage::RecordDate => {
                let (holders, units) = match record {
                    Some(r) => r,
                    None => *record.insert(holders_of_record(series, holdings)?),
                };
                due.push((
                    Due::RecordDate {
                        id,
                        record_date: event.date,
                        payment_date: cf.payment_date,
                        holders,
                        units,
                    },
                    Vec::new(),
                ));
            }
            Stage::Coupon => match (cf.rate, cf.amount) {
                (Some(rate), Some(amount_per_unit)) => {
                    let paid = pay(series, holdings, amount_per_unit, &mut make)?;
                    due.push((
                        Due::Coupon {
                            id,
                            accrual_start: cf.accrual_start,
                            accrual_end: cf.accrual_end,
                            payment_date: cf.payment_date,
                            rate: Rate::new(rate),
                            amount_per_unit,
                            payments: Vec::new(),
                            bank_totals: paid.bank_totals,
                            total: paid.total,
                            residue: paid.residue,
                        },
                        paid.payments,
                    ));
                }
                _ => waiting.push(Waiting {
                    series_id: series.series_id.to_string(),
                    flow: event.flow,
                    reference: match series.terms.coupon() {
                        CouponType::Floating { reference, .. } => reference.clone(),
                        _ => String::new(),
                    },
                    fixing_date: cf.accrual_start,
                    payment_date: cf.payment_date,
                }),
            },
            Stage::Redemption => {
                let amount_per_unit = plan.redemption_per_unit;
                let paid = pay(series, holdings, amount_per_unit, &mut make)?;
                due.push((
                    Due::Redemption {
                        id,
                        payment_date: cf.payment_date,
                        amount_per_unit,
                        payments: Vec::new(),
                        bank_totals: paid.bank_totals,
                        total: paid.total,
                        residue: paid.residue,
                    },
                    paid.payments,
                ));
            }
        }
    }
    Ok((due, waiting))
}

/// Everything due for one series on or before `through` that is not yet posted, in the
/// order it must be posted (date, then record date before coupon before redemption,
/// then flow), plus coupons waiting for a fixing (not paid, never guessed; a waiting
/// coupon blocks nothing else, but its own record date may be posted).
///
/// `holdings` are taken as the holders of record of every event returned: a host
/// whose holdings changed between two record dates asks through each record date
/// in turn. `posted` is asked once for each event dated on or before `through`.
pub fn due_events(
    series: &SeriesInput,
    holdings: &[HoldingInput],
    fixings: &Fixings,
    posted: &dyn Fn(&EventId) -> bool,
    through: NaiveDate,
) -> Result<DueReport, AccrualError> {
    due_events_limited(series, holdings, fixings, posted, through, usize::MAX)
}

/// The first `limit` events of [`due_events`] (and what waits before the last of
/// them): posting one event needs only the first, not every later coupon's
/// payments, which a catch-up after a long stop would otherwise recompute for
/// each event it posts.
pub fn due_events_limited(
    series: &SeriesInput,
    holdings: &[HoldingInput],
    fixings: &Fixings,
    posted: &dyn Fn(&EventId) -> bool,
    through: NaiveDate,
    limit: usize,
) -> Result<DueReport, AccrualError> {
    let (found, waiting) = find_due(
        series,
        holdings,
        fixings,
        posted,
        through,
        limit,
        |_, h, amount| Payment {
            investor_ref: h.investor_ref.to_string(),
            bank_id: h.bank_id.to_string(),
            units: h.units,
            amount,
        },
    )?;
    let due = found
        .into_iter()
        .map(|(mut event, payments)| {
            event.set_payments(payments);
            event
        })
        .collect();
    Ok(DueReport { due, waiting })
}

/// [`due_events`] with each payment given by the index of its holding instead of
/// copies of the investor and bank strings (the same events, order and amounts).
pub fn due_events_indexed(
    series: &SeriesInput,
    holdings: &[HoldingInput],
    fixings: &Fixings,
    posted: &dyn Fn(&EventId) -> bool,
    through: NaiveDate,
) -> Result<IndexedReport, AccrualError> {
    let (found, waiting) = find_due(
        series,
        holdings,
        fixings,
        posted,
        through,
        usize::MAX,
        |i, _, amount| HoldingPayment { holding: i, amount },
    )?;
    let due = found
        .into_iter()
        .map(|(event, payments)| IndexedDue { event, payments })
        .collect();
    Ok(IndexedReport { due, waiting })
}

fn per_unit_accrued(
    series: &SeriesInput,
    bond: &Bond,
    as_of: NaiveDate,
) -> Result<Decimal, AccrualError> {
    if as_of < series.terms.issue_date() {
        return Ok(Decimal::ZERO);
    }
    match series.terms.coupon() {
        // A pure discount bond accretes at its issue yield, which the terms do
        // not carry: no coupon accrues.
        CouponType::Zero => Ok(Decimal::ZERO),
        _ => bond.accrued(as_of).map_err(|e| pricing_error(series, e)),
    }
}

/// Accrued interest of one unit at `as_of` (0 before issue and on/after maturity; for
/// zero/accumulating coupons the accreted interest, i.e. accreted value − face).
///
/// As the bond math has it (QuantLib's accrued amount): the coupon paid next
/// after `as_of` accrued from its period start to `as_of`, so zero on a coupon
/// payment date and from the last payment date on (maturity adjusted). For a
/// pure discount (`zero`) series it is zero: the terms carry no issue yield to
/// accrete at. Inside a floating period whose fixing is missing it is
/// [`AccrualError::MissingFixing`].
pub fn accrued_per_unit(
    series: &SeriesInput,
    fixings: &Fixings,
    as_of: NaiveDate,
) -> Result<Decimal, AccrualError> {
    let bond = build_bond(series, fixings)?;
    per_unit_accrued(series, &bond, as_of)
}

/// Accrued per holding (unrounded, same order as `holdings`) and the series total.
pub fn accrued(
    series: &SeriesInput,
    holdings: &[HoldingInput],
    fixings: &Fixings,
    as_of: NaiveDate,
) -> Result<Accrued, AccrualError> {
    let per_unit = accrued_per_unit(series, fixings, as_of)?;
    let units_total = holdings.iter().fold(0u128, |acc, h| {
        acc.saturating_add(u128::from(h.units.get()))
    });
    let per_holding = if per_unit.is_zero() {
        vec![Decimal::ZERO; holdings.len()]
    } else {
        let mut out = Vec::with_capacity(holdings.len());
        for h in holdings {
            out.push(
                per_unit
                    .checked_mul(h.units.to_decimal())
                    .ok_or_else(|| overflow(series, "a holding's accrued interest"))?,
            );
        }
        out
    };
    let total = decimal_from_u128(series, units_total, "units outstanding")?
        .checked_mul(per_unit)
        .ok_or_else(|| overflow(series, "the series' accrued interest"))?;
    Ok(Accrued {
        per_unit,
        per_holding,
        total,
    })
}
