//! Price and yield, accrued interest and patriotic-discount analytics.
//!
//! Invariant: pure and deterministic decimal arithmetic (no floats, no clock, no
//! storage); conventions follow QuantLib 1.44's `BondFunctions` and
//! `CashFlows::npv` as `docs/BONDMATH.md` states, and no input makes it panic:
//! bad input is an `Err` with a message saying what was expected.

mod bond;
pub mod dmath;
mod patriotic;
mod terms;

pub use bond::{
    Bond, CashFlow, CashFlowKind, Price, YIELD_ITERATIONS_MAX, YIELD_MAX, YIELD_MIN,
    YIELD_TOLERANCE,
};
pub use patriotic::{
    BPS_PER_UNIT, IssuerSavings, diaspora_yield, discount_bps_between, implied_discount_bps,
    issuer_savings, issuer_savings_at_coupon, par_coupon, par_coupon_for_discount, savings_at,
};
pub use terms::{
    BondTerms, CouponType, DecimalText, FACE_MAX, Fixings, PAYMENT_LAG_DAYS_MAX, RATE_ABS_MAX,
    RECORD_DATE_LAG_DAYS_MAX, TermsInput, TermsJson, parse_decimal, quote_json_numbers,
};

use crate::calendar::CalendarError;
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// Errors from pricing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// Terms that cannot describe a bond.
    #[error("invalid terms: {0}")]
    InvalidTerms(String),
    /// A calendar, day count or schedule problem.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// A settlement date the bond cannot be priced at.
    #[error("{0}")]
    Settlement(String),
    /// A floating coupon whose fixing has not been published.
    #[error("the floating coupon accruing from {accrual_start} is waiting for its fixing")]
    MissingFixing {
        /// Start of the coupon's accrual period (its fixing date).
        accrual_start: NaiveDate,
    },
    /// A yield outside the range prices are computed for.
    #[error("yield {0} is out of range: expected a decimal fraction between -0.5 and 10")]
    YieldOutOfRange(Decimal),
    /// The solver found no yield for a price.
    #[error("yield solver: {0}")]
    NoYield(String),
    /// A result too large for a decimal.
    #[error("overflow computing {0}")]
    Overflow(String),
}

/// The cash flows of `terms` for its face amount (floating coupons whose fixing
/// is missing have `amount: None`).
pub fn cashflows(terms: &BondTerms, fixings: &Fixings) -> Result<Vec<CashFlow>, PricingError> {
    Ok(Bond::new(terms, fixings)?.cashflows().to_vec())
}

/// Accrued interest at `settle`, in currency for the terms' face amount.
pub fn accrued(
    terms: &BondTerms,
    fixings: &Fixings,
    settle: NaiveDate,
) -> Result<Decimal, PricingError> {
    Bond::new(terms, fixings)?.accrued(settle)
}

/// Clean price (percent of face) at `settle` for yield `y`.
pub fn clean_price_from_yield(
    terms: &BondTerms,
    fixings: &Fixings,
    settle: NaiveDate,
    y: Decimal,
) -> Result<Decimal, PricingError> {
    Bond::new(terms, fixings)?.clean_price(settle, y)
}

/// Dirty price (percent of face) at `settle` for yield `y`.
pub fn dirty_price_from_yield(
    terms: &BondTerms,
    fixings: &Fixings,
    settle: NaiveDate,
    y: Decimal,
) -> Result<Decimal, PricingError> {
    Bond::new(terms, fixings)?.dirty_price(settle, y)
}

/// The yield (compounded at the coupon frequency, annually for zero coupons)
/// whose clean price at `settle` is `clean` (percent of face).
pub fn yield_from_clean_price(
    terms: &BondTerms,
    fixings: &Fixings,
    settle: NaiveDate,
    clean: Decimal,
) -> Result<Decimal, PricingError> {
    Bond::new(terms, fixings)?.yield_from_clean_price(settle, clean)
}

/// Value on `date` of a zero coupon or accumulating bond (see
/// [`Bond::accreted_value`]).
pub fn accreted_value(
    terms: &BondTerms,
    fixings: &Fixings,
    date: NaiveDate,
    issue_yield: Option<Decimal>,
) -> Result<Decimal, PricingError> {
    Bond::new(terms, fixings)?.accreted_value(date, issue_yield)
}
