//! `define`: terms checked against their bounds, priced with the bond-math
//! library, and given their schedule. Pure: the same terms always give the same
//! figures (the verifier re-derives them), and no terms make it panic.

use super::terms::coupon_type;
use super::{
    COUPON_STEP_MAX, COUPON_STEP_MIN, CouponSpec, ISSUE_PRICE_DECIMALS, ISSUE_PRICE_PERCENT_MAX,
    PAR_COUPON_DECIMALS, PricingSpec, ScheduledFlow, SeriesDefined, SeriesFigures, SeriesTerms,
    UNCLAIMED_PERIOD_DAYS_MAX, UNITS_MAX, bond_terms,
};
use crate::money::{Money, RoundingRule};
use crate::pricing::{self, Bond, CouponType, FACE_MAX, Fixings};
use crate::registry::{AllotmentRule, RegistryError, check_text};
use rust_decimal::{Decimal, RoundingStrategy};

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

/// Checks terms and derives figures and schedule.
pub fn define(t: SeriesTerms) -> Result<SeriesDefined, RegistryError> {
    check_amounts(&t)?;
    check_window_and_eligibility(&t)?;
    let priced = match &t.pricing {
        PricingSpec::IssuePrice(p) => at_issue_price(&t, *p)?,
        PricingSpec::Diaspora {
            reference_yield,
            discount_bps,
            derive_par_coupon,
            coupon_step,
        } => for_diaspora(
            &t,
            *reference_yield,
            *discount_bps,
            *derive_par_coupon,
            *coupon_step,
        )?,
    };
    let price_per_unit = price_per_unit(&t, priced.issue_price)?;
    let schedule = schedule(&t, priced.coupon_rate)?;
    Ok(SeriesDefined {
        figures: SeriesFigures {
            issue_price: priced.issue_price,
            coupon_rate: priced.coupon_rate,
            issue_yield: priced.issue_yield,
            reference_yield: priced.reference_yield,
            discount_bps: priced.discount_bps,
            issuer_savings_per_unit: priced.savings,
            price_per_unit,
        },
        schedule,
        terms: t,
    })
}

/// The name, the face value and the unit bounds.
fn check_amounts(t: &SeriesTerms) -> Result<(), RegistryError> {
    check_text("name", &t.name, 128)?;
    if t.face_value <= Decimal::ZERO {
        return Err(invalid(
            "face_value",
            format!("must be positive, found {}", t.face_value),
        ));
    }
    if t.face_value.scale() > t.currency.minor_units() {
        return Err(invalid(
            "face_value",
            format!(
                "{} has more decimals than {} allows ({})",
                t.face_value,
                t.currency,
                t.currency.minor_units()
            ),
        ));
    }
    if t.face_value > FACE_MAX {
        return Err(invalid(
            "face_value",
            format!("face {} is larger than {FACE_MAX}", t.face_value),
        ));
    }
    for (field, v) in [
        ("min_units_per_investor", t.min_units_per_investor),
        ("max_units_per_investor", t.max_units_per_investor),
        ("cap_units", t.cap_units),
    ] {
        if v == 0 || v > UNITS_MAX {
            return Err(invalid(
                field,
                format!("must be 1 to {UNITS_MAX} units, found {v}"),
            ));
        }
    }
    if t.min_units_per_investor > t.max_units_per_investor {
        return Err(invalid(
            "min_units_per_investor",
            format!(
                "minimum {} is above the maximum {}",
                t.min_units_per_investor, t.max_units_per_investor
            ),
        ));
    }
    if t.max_units_per_investor > t.cap_units {
        return Err(invalid(
            "max_units_per_investor",
            format!(
                "maximum {} is above the series cap {}",
                t.max_units_per_investor, t.cap_units
            ),
        ));
    }
    Ok(())
}

/// The subscription window, the settlement deadline, eligibility, the retail
/// slice and the floating reference rate's name.
fn check_window_and_eligibility(t: &SeriesTerms) -> Result<(), RegistryError> {
    if t.window_opens_at >= t.window_closes_at {
        return Err(invalid(
            "window_closes_at",
            "the subscription window must close after it opens",
        ));
    }
    if t.settlement_deadline < t.window_closes_at {
        return Err(invalid(
            "settlement_deadline",
            "the settlement deadline must not be before the window closes",
        ));
    }
    if t.window_closes_at.date_naive() > t.issue_date {
        return Err(invalid(
            "window_closes_at",
            format!("the window must close by the issue date {}", t.issue_date),
        ));
    }
    if t.eligibility.categories.is_empty() {
        return Err(invalid(
            "eligibility.categories",
            "at least one diaspora category must be eligible",
        ));
    }
    if let Some(c) = t
        .eligibility
        .countries_allowed
        .intersection(&t.eligibility.countries_barred)
        .next()
    {
        return Err(invalid(
            "eligibility.countries_barred",
            format!("{c} is both allowed and barred"),
        ));
    }
    if let AllotmentRule::RetailPriority { units } = t.allotment_rule {
        if units == 0 || units > t.max_units_per_investor {
            return Err(invalid(
                "retail_priority_units",
                format!(
                    "must be 1 to the per-investor maximum {}, found {units}",
                    t.max_units_per_investor
                ),
            ));
        }
    }
    if let CouponSpec::Floating { reference, .. } = &t.coupon {
        check_text("coupon.floating.reference_rate", reference, 64)?;
    }
    if let Some(days) = t.unclaimed_period_days {
        if days == 0 || days > UNCLAIMED_PERIOD_DAYS_MAX {
            return Err(invalid(
                "unclaimed_period_days",
                format!("must be 1 to {UNCLAIMED_PERIOD_DAYS_MAX} days, found {days}"),
            ));
        }
    }
    if let Some(early) = &t.early_redemption {
        early.check()?;
    }
    Ok(())
}

/// The figures pricing derives.
struct Priced {
    coupon_rate: Option<Decimal>,
    issue_price: Decimal,
    issue_yield: Option<Decimal>,
    reference_yield: Option<Decimal>,
    discount_bps: Option<Decimal>,
    savings: Option<Decimal>,
}

/// An issue price, percent of face, in (0, `ISSUE_PRICE_PERCENT_MAX`].
fn price_in_range(price: Decimal) -> bool {
    price > Decimal::ZERO && price <= Decimal::from(ISSUE_PRICE_PERCENT_MAX)
}

/// A series sold at a given clean price: its yield (none for a floating coupon).
fn at_issue_price(t: &SeriesTerms, price: Decimal) -> Result<Priced, RegistryError> {
    if !price_in_range(price) {
        return Err(invalid(
            "pricing.issue_price.price",
            format!("must be a percent of face in (0, {ISSUE_PRICE_PERCENT_MAX}], found {price}"),
        ));
    }
    let coupon = coupon_type(&t.coupon, None)?;
    let issue_yield = match &coupon {
        CouponType::Floating { .. } => None,
        _ => {
            let bond = Bond::new(&bond_terms(t, coupon.clone())?, &Fixings::new())
                .map_err(|e| invalid("terms", e.to_string()))?;
            Some(
                bond.yield_from_clean_price(t.issue_date, price)
                    .map_err(|e| invalid("pricing.issue_price.price", e.to_string()))?,
            )
        }
    };
    let coupon_rate = match coupon {
        CouponType::Fixed(r) => Some(r),
        _ => None,
    };
    Ok(Priced {
        coupon_rate,
        issue_price: price,
        issue_yield,
        reference_yield: None,
        discount_bps: None,
        savings: None,
    })
}

/// A series priced at the diaspora yield (the reference yield less the
/// patriotic discount), with the par coupon derived if asked; the price is
/// bounded as a given issue price is.
fn for_diaspora(
    t: &SeriesTerms,
    reference_yield: Decimal,
    discount_bps: Decimal,
    derive_par_coupon: bool,
    coupon_step: Option<Decimal>,
) -> Result<Priced, RegistryError> {
    if matches!(t.coupon, CouponSpec::Floating { .. }) {
        return Err(invalid(
            "pricing.diaspora",
            "diaspora pricing needs a fixed, zero, accumulating or step-up coupon",
        ));
    }
    if discount_bps < Decimal::ZERO || discount_bps > Decimal::from(1000) {
        return Err(invalid(
            "pricing.diaspora.discount_bps",
            format!("must be 0 to 1000 basis points, found {discount_bps}"),
        ));
    }
    let y = pricing::diaspora_yield(reference_yield, discount_bps);
    let coupon_rate = match coupon_step {
        None => diaspora_coupon(t, y, derive_par_coupon)?,
        Some(step) => Some(stepped_coupon(t, y, derive_par_coupon, step)?),
    };
    let terms = bond_terms(t, coupon_type(&t.coupon, coupon_rate)?)?;
    let bond = Bond::new(&terms, &Fixings::new()).map_err(|e| invalid("terms", e.to_string()))?;
    let price = bond
        .clean_price(t.issue_date, y)
        .map_err(|e| invalid("pricing.diaspora.reference_yield", e.to_string()))?
        .round_dp_with_strategy(ISSUE_PRICE_DECIMALS, RoundingStrategy::MidpointNearestEven);
    if !price_in_range(price) {
        return Err(invalid(
            "pricing.diaspora.reference_yield",
            format!(
                "the diaspora yield {y} prices the series at {price} percent of face; the price must be in (0, {ISSUE_PRICE_PERCENT_MAX}]"
            ),
        ));
    }
    // A rounded coupon prices off par: the savings are those of the coupon in
    // force (the unrounded par coupon's savings, as before, otherwise).
    let savings = match coupon_step {
        None => pricing::issuer_savings(&terms, reference_yield, discount_bps),
        Some(_) => pricing::issuer_savings_at_coupon(&terms, reference_yield, discount_bps),
    }
    .map_err(|e| invalid("pricing.diaspora", e.to_string()))?;
    Ok(Priced {
        coupon_rate,
        issue_price: price,
        issue_yield: Some(y),
        reference_yield: Some(reference_yield),
        discount_bps: Some(discount_bps),
        savings: Some(savings.savings),
    })
}

/// The fixed coupon of a diaspora-priced series: the par coupon at yield `y`
/// when derived, else the rate given (none for other coupon kinds).
fn diaspora_coupon(
    t: &SeriesTerms,
    y: Decimal,
    derive_par_coupon: bool,
) -> Result<Option<Decimal>, RegistryError> {
    let placeholder = bond_terms(t, CouponType::Fixed(Decimal::ZERO))?;
    if derive_par_coupon {
        if !matches!(t.coupon, CouponSpec::Fixed(None)) {
            return Err(invalid(
                "coupon",
                "to derive the par coupon, give a fixed coupon without a rate",
            ));
        }
        let par = pricing::par_coupon(&placeholder, y)
            .map_err(|e| invalid("pricing.diaspora", e.to_string()))?;
        return Ok(Some(par.round_dp_with_strategy(
            PAR_COUPON_DECIMALS,
            RoundingStrategy::MidpointNearestEven,
        )));
    }
    match &t.coupon {
        CouponSpec::Fixed(None) => Err(invalid(
            "coupon.fixed.rate",
            "give the coupon rate, or set derive_par_coupon",
        )),
        CouponSpec::Fixed(Some(r)) => Ok(Some(*r)),
        _ => Ok(None),
    }
}

/// The par coupon at yield `y` rounded down (toward minus infinity) to a
/// multiple of `step`: the coupon a prospectus prints, at or below the par
/// coupon, so the series issues at or below par.
fn stepped_coupon(
    t: &SeriesTerms,
    y: Decimal,
    derive_par_coupon: bool,
    step: Decimal,
) -> Result<Decimal, RegistryError> {
    if !derive_par_coupon {
        return Err(invalid(
            "pricing.diaspora.coupon_step",
            "a coupon step rounds the derived par coupon; set derive_par_coupon",
        ));
    }
    if step < COUPON_STEP_MIN || step > COUPON_STEP_MAX || step.scale() > PAR_COUPON_DECIMALS {
        return Err(invalid(
            "pricing.diaspora.coupon_step",
            format!(
                "must be a decimal fraction from {COUPON_STEP_MIN} to {COUPON_STEP_MAX} with at most {PAR_COUPON_DECIMALS} decimals, found {step}"
            ),
        ));
    }
    let par = diaspora_coupon(t, y, true)?;
    let par = par.ok_or_else(|| invalid("coupon", "no par coupon was derived"))?;
    let rounded = round_down_to_step(par, step)
        .ok_or_else(|| invalid("pricing.diaspora.coupon_step", "the coupon is out of range"))?;
    if rounded < Decimal::ZERO {
        return Err(invalid(
            "pricing.diaspora.coupon_step",
            format!("the par coupon {par} rounds down to {rounded}, below zero"),
        ));
    }
    Ok(rounded.normalize())
}

/// `value` rounded down (toward minus infinity) to a multiple of `step` (> 0).
pub fn round_down_to_step(value: Decimal, step: Decimal) -> Option<Decimal> {
    value.checked_div(step)?.floor().checked_mul(step)
}

/// Face × issue price / 100, rounded half even to the currency's minor unit.
fn price_per_unit(t: &SeriesTerms, issue_price: Decimal) -> Result<Decimal, RegistryError> {
    let too_large = || {
        invalid(
            "pricing",
            format!(
                "face {} at {issue_price} percent is too large for a decimal",
                t.face_value
            ),
        )
    };
    let price = Money::new(t.face_value, t.currency)
        .checked_mul(issue_price)
        .map_err(|_| too_large())?
        .amount()
        .checked_div(Decimal::ONE_HUNDRED)
        .ok_or_else(too_large)?;
    Ok(Money::new(price, t.currency)
        .round(RoundingRule::HalfEven)
        .amount())
}

/// The cash flows of one unit.
fn schedule(
    t: &SeriesTerms,
    coupon_rate: Option<Decimal>,
) -> Result<Vec<ScheduledFlow>, RegistryError> {
    let terms = bond_terms(t, coupon_type(&t.coupon, coupon_rate)?)?;
    let bond = Bond::new(&terms, &Fixings::new()).map_err(|e| invalid("terms", e.to_string()))?;
    Ok(bond
        .cashflows()
        .iter()
        .map(|f| ScheduledFlow {
            kind: f.kind,
            accrual_start: f.accrual_start,
            accrual_end: f.accrual_end,
            payment_date: f.payment_date,
            record_date: f.record_date.unwrap_or(f.payment_date),
            rate: f.rate,
            amount_per_unit: f.amount,
        })
        .collect())
}
