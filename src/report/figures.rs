//! The numbers a report shows, derived from the registry state and the book
//! timeline. Pure: no I/O, no clock, no floats; every amount is a `Decimal`.

use super::load::{BookChange, BookTimeline};
use crate::money::Currency;
use crate::pricing::{self, CashFlowKind, CouponType, Fixings};
use crate::registry::coupons::PaidFlow;
use crate::registry::reopening::{Tranche, TrancheStatus};
use crate::registry::series::{bond_terms, series_coupon};
use crate::registry::unclaimed::{self, Unclaimed};
use crate::registry::withholding::{self, TaxReport};
use crate::registry::{
    PricingSpec, Series, SeriesFigures, SeriesId, SeriesStatus, State, SubscriptionStatus,
};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Units in the book, as `BookSummary` on the wire counts them: every
/// subscription but the withdrawn ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookTotals {
    pub subscriptions: u64,
    pub subscribed_units: u64,
    pub allotted_units: u64,
    pub settled_units: u64,
    pub issued_units: u64,
}

/// One bar of the book by country or by diaspora category.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    pub key: String,
    pub subscriptions: u64,
    pub subscribed_units: u64,
    pub allotted_units: u64,
}

/// Live units in the book after a change, at its recorded time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookPoint {
    pub at: DateTime<Utc>,
    pub units: u64,
}

/// Which units the debt service is computed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitsBasis {
    /// The series is issued (or matured): the units issued.
    Issued,
    /// Not issued yet: the cap, the most the series can owe.
    Cap,
    /// Cancelled: nothing is owed.
    Cancelled,
}

impl UnitsBasis {
    pub fn describe(self) -> &'static str {
        match self {
            UnitsBasis::Issued => "issued",
            UnitsBasis::Cap => "the cap, not issued yet",
            UnitsBasis::Cancelled => "cancelled, nothing owed",
        }
    }
}

/// One payment of the series: the schedule's amount per unit times the units,
/// or the exact total of a payment already made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebtServiceLine {
    pub payment_date: NaiveDate,
    pub kind: CashFlowKind,
    /// `None`: a floating coupon waiting for its fixing.
    pub amount: Option<Decimal>,
    pub paid: bool,
}

/// The patriotic discount, in the issue figures and per coupon date.
///
/// Each sale of the series (the first issue, then each tranche issued) saves
/// `units × face × (P(y) − P(r)) / 100`: `P` the dirty price of the series'
/// cash flows with the coupon in force, on the sale's settlement date, at the
/// sale's diaspora yield `y` and at its reference yield `r`. The savings are the
/// sum over the sales.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavingsFigures {
    /// The first issue's reference yield, diaspora yield and discount.
    pub reference_yield: Decimal,
    pub diaspora_yield: Decimal,
    pub discount_bps: Decimal,
    /// Par coupons at issue at the reference and at the diaspora yield (None
    /// for zero and accumulating coupons, which pay none).
    pub market_coupon: Option<Decimal>,
    pub diaspora_coupon: Option<Decimal>,
    /// The fixed coupon the series pays: the diaspora par coupon as published,
    /// rounded down to the coupon step when the terms set one, or the rate
    /// given (None for other coupon kinds).
    pub coupon: Option<Decimal>,
    /// The first issue's saving per unit (unrounded).
    pub per_unit: Decimal,
    /// Units over every sale.
    pub units: u64,
    /// The sum over the sales of units × saving per unit.
    pub total: Decimal,
    /// The first issue, then each tranche issued.
    pub sales: Vec<SaleSavings>,
    /// Coupon saved on each coupon date, undiscounted: what the market par
    /// coupon at issue would have paid less what the series pays, on the units
    /// of every sale settled before that date.
    pub per_date: Vec<(NaiveDate, Decimal)>,
}

/// What one sale saves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleSavings {
    /// `None`: the first issue; else the tranche's number.
    pub tranche: Option<u32>,
    pub settlement_date: NaiveDate,
    pub reference_yield: Decimal,
    pub discount_bps: Decimal,
    pub units: u64,
    /// face × (P(y) − P(r)) / 100, unrounded.
    pub per_unit: Decimal,
    /// `per_unit × units`.
    pub total: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Savings {
    /// Priced at a stated issue price: no patriotic discount to report.
    NotDiaspora,
    Derived(SavingsFigures),
    /// The figures could not be re-derived (the reason says why).
    Unavailable(String),
}

/// Everything one series' report shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesReport {
    pub id: SeriesId,
    pub name: String,
    pub currency: Currency,
    pub status: SeriesStatus,
    pub face_value: Decimal,
    pub cap_units: u64,
    pub issue_date: NaiveDate,
    pub maturity_date: NaiveDate,
    pub figures: SeriesFigures,
    pub book: BookTotals,
    pub by_country: Vec<Bucket>,
    pub by_category: Vec<Bucket>,
    /// Starts at zero when the window opened (or at the first change).
    pub timeline: Vec<BookPoint>,
    pub amount_raised: Decimal,
    pub holders: u64,
    pub units_outstanding: u64,
    pub units_basis: UnitsBasis,
    pub debt_service: Vec<DebtServiceLine>,
    pub coupons_paid: u64,
    pub coupons_paid_total: Decimal,
    pub savings: Savings,
    /// Tax withheld from every coupon paid, by country of residence and by bank.
    pub withholding: TaxReport,
    /// Payments reported undeliverable, claimed or not, in report order.
    pub unclaimed: Vec<Unclaimed>,
    /// What is reported and not claimed, and of that what is overdue on the
    /// ledger's last recorded day.
    pub unclaimed_balance: Decimal,
    pub unclaimed_overdue: Decimal,
    pub unclaimed_period_days: Option<u32>,
    /// The reopenings of the series, in order.
    pub tranches: Vec<Tranche>,
}

/// Adds amounts without ever panicking: a sum past `Decimal`'s range (which the
/// ledger's limits keep far away) saturates instead.
pub fn total(amounts: impl IntoIterator<Item = Decimal>) -> Decimal {
    amounts
        .into_iter()
        .fold(Decimal::ZERO, |acc, a| acc.saturating_add(a))
}

impl SeriesReport {
    /// Sum of the debt service of one kind (flows waiting for a fixing count zero).
    pub fn debt_service_total(&self, kind: CashFlowKind) -> Decimal {
        total(
            self.debt_service
                .iter()
                .filter(|l| l.kind == kind)
                .filter_map(|l| l.amount),
        )
    }

    /// Sum of what is already paid.
    pub fn paid_total(&self) -> Decimal {
        total(
            self.debt_service
                .iter()
                .filter(|l| l.paid)
                .filter_map(|l| l.amount),
        )
    }

    /// Coupons whose amount waits for a fixing.
    pub fn waiting_for_fixing(&self) -> usize {
        self.debt_service
            .iter()
            .filter(|l| l.amount.is_none())
            .count()
    }
}

pub fn category_label(key: &str) -> String {
    key.replace('_', " ")
}

fn book(state: &State, id: &SeriesId) -> (BookTotals, Vec<Bucket>, Vec<Bucket>) {
    let mut totals = BookTotals::default();
    let mut by_country: BTreeMap<String, Bucket> = BTreeMap::new();
    let mut by_category: BTreeMap<&'static str, Bucket> = BTreeMap::new();
    for sub in state.book(id) {
        if sub.status == SubscriptionStatus::Withdrawn {
            continue;
        }
        let held = matches!(
            sub.status,
            SubscriptionStatus::Allotted | SubscriptionStatus::Settled | SubscriptionStatus::Issued
        );
        let allotted = if held { sub.allotted_units } else { 0 };
        totals.subscriptions += 1;
        totals.subscribed_units = totals.subscribed_units.saturating_add(sub.units);
        totals.allotted_units = totals.allotted_units.saturating_add(allotted);
        if matches!(
            sub.status,
            SubscriptionStatus::Settled | SubscriptionStatus::Issued
        ) {
            totals.settled_units = totals.settled_units.saturating_add(sub.allotted_units);
        }
        if sub.status == SubscriptionStatus::Issued {
            totals.issued_units = totals.issued_units.saturating_add(sub.allotted_units);
        }
        let country = by_country.entry(sub.country.to_string()).or_default();
        let category = by_category.entry(sub.category.as_str()).or_default();
        for b in [country, category] {
            b.subscriptions += 1;
            b.subscribed_units = b.subscribed_units.saturating_add(sub.units);
            b.allotted_units = b.allotted_units.saturating_add(allotted);
        }
    }
    let finish = |(k, b): (String, Bucket)| Bucket { key: k, ..b };
    (
        totals,
        by_country.into_iter().map(finish).collect(),
        by_category
            .into_iter()
            .map(|(k, b)| finish((k.to_string(), b)))
            .collect(),
    )
}

/// The step points of live units over time, from zero when the window opened to
/// when it closed (or, while it is open, to `ledger_end`, the ledger's last
/// recorded time).
pub fn timeline_points(
    timeline: &BookTimeline,
    ledger_end: Option<DateTime<Utc>>,
) -> Vec<BookPoint> {
    let start = timeline
        .opened_at
        .or_else(|| timeline.changes.first().map(BookChange::at));
    let Some(start) = start else {
        return Vec::new();
    };
    let mut units = 0u64;
    let mut points = vec![BookPoint { at: start, units }];
    for change in &timeline.changes {
        units = match *change {
            BookChange::Submitted { units: u, .. } => units.saturating_add(u),
            BookChange::Withdrawn { units: u, .. } => units.saturating_sub(u),
        };
        points.push(BookPoint {
            at: change.at(),
            units,
        });
    }
    if let Some(end) = timeline.closed_at.or(ledger_end) {
        if points.last().is_some_and(|p| p.at < end) {
            points.push(BookPoint { at: end, units });
        }
    }
    points
}

fn paid_match(paid: &[PaidFlow], kind: CashFlowKind, date: NaiveDate) -> Option<&PaidFlow> {
    paid.iter()
        .find(|p| p.kind == kind && p.payment_date == date)
}

fn debt_service(series: &Series, units: u64) -> Vec<DebtServiceLine> {
    let units_d = Decimal::from(units);
    series
        .schedule
        .iter()
        .map(
            |flow| match paid_match(&series.paid, flow.kind, flow.payment_date) {
                Some(p) => DebtServiceLine {
                    payment_date: flow.payment_date,
                    kind: flow.kind,
                    amount: Some(p.total),
                    paid: true,
                },
                None => DebtServiceLine {
                    payment_date: flow.payment_date,
                    kind: flow.kind,
                    amount: flow.amount_per_unit.and_then(|a| a.checked_mul(units_d)),
                    paid: false,
                },
            },
        )
        .collect()
}

fn savings(state: &State, series: &Series) -> Savings {
    let PricingSpec::Diaspora {
        reference_yield,
        discount_bps,
        ..
    } = series.terms.pricing
    else {
        return Savings::NotDiaspora;
    };
    match derive_savings(state, series, reference_yield, discount_bps) {
        Ok(s) => Savings::Derived(s),
        Err(reason) => Savings::Unavailable(reason),
    }
}

/// The units each sale put out: (tranche, settlement date, reference yield,
/// discount, units). Before issue, the cap at the series' own figures; once
/// issued, the first window's units issued, then each issued tranche's.
fn sales(
    state: &State,
    series: &Series,
    reference_yield: Decimal,
    discount_bps: Decimal,
) -> Vec<(Option<u32>, NaiveDate, Decimal, Decimal, u64)> {
    let issue = series.terms.issue_date;
    match series.status {
        SeriesStatus::Issued | SeriesStatus::Matured => {
            let first = state
                .book(&series.terms.series_id)
                .filter(|s| s.status == SubscriptionStatus::Issued)
                .filter(|s| series.tranche_of(s.subscription_id).is_none())
                .fold(0u64, |n, s| n.saturating_add(s.allotted_units));
            let mut out = vec![(None, issue, reference_yield, discount_bps, first)];
            out.extend(
                series
                    .tranches
                    .iter()
                    .filter(|t| t.status == TrancheStatus::Issued)
                    .map(|t| {
                        (
                            Some(t.terms.tranche),
                            t.terms.settlement_date,
                            t.terms.reference_yield,
                            t.terms.discount_bps,
                            t.units_issued,
                        )
                    }),
            );
            out
        }
        SeriesStatus::Cancelled => vec![(None, issue, reference_yield, discount_bps, 0)],
        _ => vec![(
            None,
            issue,
            reference_yield,
            discount_bps,
            series.terms.cap_units,
        )],
    }
}

fn derive_savings(
    state: &State,
    series: &Series,
    reference_yield: Decimal,
    discount_bps: Decimal,
) -> Result<SavingsFigures, String> {
    let coupon = series_coupon(series).map_err(|e| e.to_string())?;
    let pays_coupons = !matches!(coupon, CouponType::Zero | CouponType::Accumulating(_));
    let terms = bond_terms(&series.terms, coupon).map_err(|e| e.to_string())?;
    let mut sales_savings = Vec::new();
    for (tranche, date, r, bps, units) in sales(state, series, reference_yield, discount_bps) {
        let per_unit = pricing::savings_at(&terms, date, r, bps).map_err(|e| e.to_string())?;
        sales_savings.push(SaleSavings {
            tranche,
            settlement_date: date,
            reference_yield: r,
            discount_bps: bps,
            units,
            per_unit,
            total: per_unit
                .checked_mul(Decimal::from(units))
                .ok_or("issuer savings overflow")?,
        });
    }
    let per_unit = sales_savings.first().map_or(Decimal::ZERO, |s| s.per_unit);
    let units = sales_savings
        .iter()
        .fold(0u64, |n, s| n.saturating_add(s.units));
    let diaspora_yield = pricing::diaspora_yield(reference_yield, discount_bps);
    let (market_coupon, diaspora_coupon) = if pays_coupons {
        (
            Some(pricing::par_coupon(&terms, reference_yield).map_err(|e| e.to_string())?),
            Some(pricing::par_coupon(&terms, diaspora_yield).map_err(|e| e.to_string())?),
        )
    } else {
        (None, None)
    };
    let per_date = match market_coupon {
        Some(market) => {
            let t = terms
                .with_coupon(CouponType::Fixed(market))
                .map_err(|e| e.to_string())?;
            let market_flows: Vec<_> = pricing::cashflows(&t, &Fixings::new())
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|f| f.kind == CashFlowKind::Coupon)
                .collect();
            let paid = series
                .schedule
                .iter()
                .filter(|f| f.kind == CashFlowKind::Coupon);
            market_flows
                .iter()
                .zip(paid)
                .map(|(m, p)| {
                    // Units of every sale settled before the payment: a
                    // tranche's units receive the full next coupon.
                    let entitled = sales_savings
                        .iter()
                        .filter(|s| s.tranche.is_none() || s.settlement_date < p.payment_date)
                        .fold(0u64, |n, s| n.saturating_add(s.units));
                    m.amount
                        .unwrap_or(Decimal::ZERO)
                        .saturating_sub(p.amount_per_unit.unwrap_or(Decimal::ZERO))
                        .checked_mul(Decimal::from(entitled))
                        .map(|saved| (p.payment_date, saved))
                        .ok_or_else(|| "coupon saving overflow".to_string())
                })
                .collect::<Result<Vec<_>, String>>()?
        }
        None => Vec::new(),
    };
    Ok(SavingsFigures {
        reference_yield,
        diaspora_yield: series.figures.issue_yield.unwrap_or(diaspora_yield),
        discount_bps,
        market_coupon,
        diaspora_coupon,
        coupon: series.figures.coupon_rate,
        per_unit,
        units,
        total: total(sales_savings.iter().map(|s| s.total)),
        sales: sales_savings,
        per_date,
    })
}

/// The report of one series.
pub fn series_report(state: &State, series: &Series, timeline: &BookTimeline) -> SeriesReport {
    let id = &series.terms.series_id;
    let (book, by_country, by_category) = book(state, id);
    let (units_outstanding, units_basis) = match series.status {
        SeriesStatus::Issued | SeriesStatus::Matured => (book.issued_units, UnitsBasis::Issued),
        SeriesStatus::Cancelled => (0, UnitsBasis::Cancelled),
        _ => (series.terms.cap_units, UnitsBasis::Cap),
    };
    let coupons: Vec<&PaidFlow> = series
        .paid
        .iter()
        .filter(|p| p.kind == CashFlowKind::Coupon)
        .collect();
    let mut unclaimed_payments: Vec<&Unclaimed> = unclaimed::of_series(state, id).collect();
    unclaimed_payments.sort_by_key(|u| u.reported_at_index);
    let as_of = state.last_recorded_at().map(|t| t.date_naive());
    SeriesReport {
        id: id.clone(),
        name: series.terms.name.clone(),
        currency: series.terms.currency,
        status: series.status,
        face_value: series.terms.face_value,
        cap_units: series.terms.cap_units,
        issue_date: series.terms.issue_date,
        maturity_date: series.terms.maturity_date,
        figures: series.figures.clone(),
        book,
        by_country,
        by_category,
        timeline: timeline_points(timeline, state.last_recorded_at()),
        amount_raised: series.amount_raised,
        holders: state.series_holdings(id, None).count() as u64,
        units_outstanding,
        units_basis,
        debt_service: debt_service(series, units_outstanding),
        coupons_paid: coupons.len() as u64,
        coupons_paid_total: total(coupons.iter().map(|p| p.total)),
        savings: savings(state, series),
        withholding: withholding::tax_report_all_years(state, id).unwrap_or_default(),
        unclaimed: unclaimed_payments.iter().map(|u| (*u).clone()).collect(),
        unclaimed_balance: unclaimed::balance(state, id),
        unclaimed_overdue: total(
            unclaimed_payments
                .iter()
                .filter(|u| {
                    as_of.is_some_and(|d| {
                        unclaimed::overdue(u, series.terms.unclaimed_period_days, d)
                    })
                })
                .map(|u| u.amount),
        ),
        unclaimed_period_days: series.terms.unclaimed_period_days,
        tranches: series.tranches.clone(),
    }
}
