//! Series terms as the treasury gives them, the figures derived from them, the
//! bounds on units and prices, and the bond-math view of one unit.

use crate::calendar::{
    AccrualDates, BusinessDayConvention, CalendarName, DateGeneration, DayCount, Frequency,
};
use crate::money::Currency;
use crate::pricing::{BondTerms, CashFlowKind, CouponType, TermsInput};
use crate::registry::{AllotmentRule, EarlyRedemptionTerms, RegistryError, TransferPolicy};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::{Country, Series, SeriesId};

/// Most units in a series' book, an investor's bounds or a subscription: far
/// above any real programme, far below overflow of units × face × price.
pub const UNITS_MAX: u64 = 1_000_000_000_000;
/// Highest issue price, percent of face (an issue price above it, given or
/// derived from a yield, is refused).
pub const ISSUE_PRICE_PERCENT_MAX: u64 = 1000;
/// Decimal places the derived par coupon is published with (0.01 bp), half even.
pub const PAR_COUPON_DECIMALS: u32 = 6;
/// Decimal places the issue price (percent of face) is published with, half even.
pub const ISSUE_PRICE_DECIMALS: u32 = 6;
/// Smallest coupon step (0.0001 %): a step is a decimal fraction of at most
/// `PAR_COUPON_DECIMALS` places, so a rounded coupon is published exactly.
pub const COUPON_STEP_MIN: Decimal = Decimal::from_parts(1, 0, 0, false, 6);
/// Largest coupon step (1 %).
pub const COUPON_STEP_MAX: Decimal = Decimal::from_parts(1, 0, 0, false, 2);
/// Longest unclaimed period a series may name (100 years, in days).
pub const UNCLAIMED_PERIOD_DAYS_MAX: u32 = 36_600;

/// Every amount the registry derives from units and prices is at most
/// `UNITS_MAX × FACE_MAX × ISSUE_PRICE_PERCENT_MAX / 100` (an allotment's amount
/// due, the money a series raises), so these bounds keep each one inside a
/// decimal: checked arithmetic on them never fails for terms `define` accepts.
const _: () = {
    let face = crate::pricing::FACE_MAX;
    assert!(face.scale() == 0 && face.mantissa() > 0);
    let decimal_max = Decimal::MAX.mantissa() as u128;
    let largest = UNITS_MAX as u128 * face.mantissa() as u128 * ISSUE_PRICE_PERCENT_MAX as u128;
    assert!(largest / 100 <= decimal_max);
};

/// The diaspora categories of Azerbaijan's diaspora law. Named in snake case
/// (serde, `Display`): "citizen_abroad", "child_of_citizen_abroad", ...
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum DiasporaCategory {
    CitizenAbroad,
    ChildOfCitizenAbroad,
    FormerCitizen,
    Affinity,
}

impl DiasporaCategory {
    pub const ALL: [DiasporaCategory; 4] = [
        DiasporaCategory::CitizenAbroad,
        DiasporaCategory::ChildOfCitizenAbroad,
        DiasporaCategory::FormerCitizen,
        DiasporaCategory::Affinity,
    ];
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eligibility {
    pub categories: BTreeSet<DiasporaCategory>,
    /// Empty: every country not barred.
    pub countries_allowed: BTreeSet<Country>,
    pub countries_barred: BTreeSet<Country>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponSpec {
    /// A fixed annual rate; `None` when diaspora pricing derives the par coupon.
    Fixed(Option<Decimal>),
    Zero,
    Accumulating(Decimal),
    StepUp(Vec<(NaiveDate, Decimal)>),
    Floating {
        reference: String,
        spread: Decimal,
        floor: Option<Decimal>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingSpec {
    /// Clean issue price, percent of face.
    IssuePrice(Decimal),
    Diaspora {
        reference_yield: Decimal,
        discount_bps: Decimal,
        derive_par_coupon: bool,
        /// With `derive_par_coupon`: the par coupon is rounded down to a
        /// multiple of this step (for example 0.00125, an eighth of a percent)
        /// and the issue price solved at the diaspora yield. `None`: the par
        /// coupon is published unrounded (6 decimals) and the series issues at
        /// par.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        coupon_step: Option<Decimal>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesTerms {
    pub series_id: SeriesId,
    pub name: String,
    pub currency: Currency,
    pub face_value: Decimal,
    pub min_units_per_investor: u64,
    pub max_units_per_investor: u64,
    pub cap_units: u64,
    pub coupon: CouponSpec,
    pub frequency: Frequency,
    pub day_count: DayCount,
    pub business_day_convention: BusinessDayConvention,
    pub calendar: CalendarName,
    pub end_of_month: bool,
    pub first_coupon_date: Option<NaiveDate>,
    pub record_date_lag_days: u32,
    pub issue_date: NaiveDate,
    pub maturity_date: NaiveDate,
    pub window_opens_at: DateTime<Utc>,
    pub window_closes_at: DateTime<Utc>,
    pub allotment_rule: AllotmentRule,
    pub eligibility: Eligibility,
    pub pricing: PricingSpec,
    pub settlement_deadline: DateTime<Utc>,
    /// Days after which a payment reported undeliverable and not yet claimed
    /// is listed as overdue; `None`: the series names no period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unclaimed_period_days: Option<u32>,
    /// What may move between issue and maturity: nothing (default), moves
    /// between banks, or moves and gifts.
    #[serde(default, skip_serializing_if = "TransferPolicy::is_none")]
    pub transfers: TransferPolicy,
    /// Early redemption before maturity; `None`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_redemption: Option<EarlyRedemptionTerms>,
    /// Backward (the default: any stub at the start) or forward.
    #[serde(default = "backward")]
    pub date_generation: DateGeneration,
    /// Unadjusted (the default: periods on the nominal dates) or adjusted.
    #[serde(default = "unadjusted")]
    pub accrual_dates: AccrualDates,
    /// Business days from an accrual end to its payment (default 0).
    #[serde(default)]
    pub payment_lag_days: u32,
}

fn backward() -> DateGeneration {
    DateGeneration::Backward
}

fn unadjusted() -> AccrualDates {
    AccrualDates::Unadjusted
}

/// The figures derived at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesFigures {
    pub issue_price: Decimal,
    pub coupon_rate: Option<Decimal>,
    pub issue_yield: Option<Decimal>,
    pub reference_yield: Option<Decimal>,
    pub discount_bps: Option<Decimal>,
    pub issuer_savings_per_unit: Option<Decimal>,
    pub price_per_unit: Decimal,
}

/// One scheduled cash flow of one unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledFlow {
    pub kind: CashFlowKind,
    pub accrual_start: NaiveDate,
    pub accrual_end: NaiveDate,
    pub payment_date: NaiveDate,
    pub record_date: NaiveDate,
    pub rate: Option<Decimal>,
    pub amount_per_unit: Option<Decimal>,
}

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

/// The bond-math terms of one unit with a given coupon.
pub fn bond_terms(t: &SeriesTerms, coupon: CouponType) -> Result<BondTerms, RegistryError> {
    BondTerms::new(TermsInput {
        face: t.face_value,
        coupon,
        frequency: t.frequency,
        day_count: t.day_count,
        issue_date: t.issue_date,
        maturity_date: t.maturity_date,
        first_coupon_date: t.first_coupon_date,
        business_day_convention: t.business_day_convention,
        calendar: t.calendar,
        end_of_month: t.end_of_month,
        date_generation: t.date_generation,
        accrual_dates: t.accrual_dates,
        payment_lag_days: t.payment_lag_days,
        record_date_lag_days: Some(t.record_date_lag_days),
    })
    .map_err(|e| invalid("terms", e.to_string()))
}

pub(super) fn coupon_type(
    spec: &CouponSpec,
    par: Option<Decimal>,
) -> Result<CouponType, RegistryError> {
    Ok(match spec {
        CouponSpec::Fixed(Some(r)) => CouponType::Fixed(*r),
        CouponSpec::Fixed(None) => CouponType::Fixed(par.ok_or_else(|| {
            invalid(
                "coupon.fixed.rate",
                "a fixed coupon needs a rate unless diaspora pricing derives the par coupon",
            )
        })?),
        CouponSpec::Zero => CouponType::Zero,
        CouponSpec::Accumulating(r) => CouponType::Accumulating(*r),
        CouponSpec::StepUp(steps) => CouponType::StepUp(steps.clone()),
        CouponSpec::Floating {
            reference,
            spread,
            floor,
        } => CouponType::Floating {
            reference: reference.clone(),
            spread: *spread,
            floor: *floor,
        },
    })
}

/// The coupon type of a series as the bond-math library sees it.
pub fn series_coupon(series: &Series) -> Result<CouponType, RegistryError> {
    coupon_type(&series.terms.coupon, series.figures.coupon_rate)
}
