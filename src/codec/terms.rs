//! Conversion of series terms, their derived figures and schedule between the
//! wire form and the registry's types.

use super::wire::{Form, date, decimal, opt_date, opt_decimal, os, parse_name, s, units};
use super::{timestamp_from_pb, timestamp_to_pb};
use crate::calendar::{
    AccrualDates, BusinessDayConvention, CalendarName, DateGeneration, DayCount, Frequency,
};
use crate::money::Currency;
use crate::pricing::CashFlowKind;
use crate::proto as pb;
use crate::registry::{
    AllotmentRule, Country, CouponSpec, DiasporaCategory, Eligibility, PricingSpec, RegistryError,
    ScheduledFlow, SeriesDefined, SeriesFigures, SeriesId, SeriesTerms,
};
use std::collections::BTreeSet;

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

pub fn category_from_pb(field: &str, v: i32) -> Result<DiasporaCategory, RegistryError> {
    match pb::DiasporaCategory::try_from(v) {
        Ok(pb::DiasporaCategory::CitizenAbroad) => Ok(DiasporaCategory::CitizenAbroad),
        Ok(pb::DiasporaCategory::ChildOfCitizenAbroad) => {
            Ok(DiasporaCategory::ChildOfCitizenAbroad)
        }
        Ok(pb::DiasporaCategory::FormerCitizen) => Ok(DiasporaCategory::FormerCitizen),
        Ok(pb::DiasporaCategory::Affinity) => Ok(DiasporaCategory::Affinity),
        Ok(pb::DiasporaCategory::Unspecified) => {
            Err(invalid(field, "diaspora category is required"))
        }
        Err(_) => Err(invalid(
            field,
            format!("unknown diaspora category value {v}"),
        )),
    }
}

pub fn category_to_pb(c: DiasporaCategory) -> pb::DiasporaCategory {
    match c {
        DiasporaCategory::CitizenAbroad => pb::DiasporaCategory::CitizenAbroad,
        DiasporaCategory::ChildOfCitizenAbroad => pb::DiasporaCategory::ChildOfCitizenAbroad,
        DiasporaCategory::FormerCitizen => pb::DiasporaCategory::FormerCitizen,
        DiasporaCategory::Affinity => pb::DiasporaCategory::Affinity,
    }
}

pub(super) fn rule_from_pb(v: i32, retail_units: &str) -> Result<AllotmentRule, RegistryError> {
    match pb::AllotmentRule::try_from(v) {
        Ok(pb::AllotmentRule::FirstComeFirstServed) => Ok(AllotmentRule::FirstComeFirstServed),
        Ok(pb::AllotmentRule::ProRata) => Ok(AllotmentRule::ProRata),
        Ok(pb::AllotmentRule::RetailPriority) => Ok(AllotmentRule::RetailPriority {
            units: units("terms.retail_priority_units", retail_units)?.get(),
        }),
        Ok(pb::AllotmentRule::Unspecified) => Err(invalid(
            "terms.allotment_rule",
            "allotment rule is required",
        )),
        Err(_) => Err(invalid(
            "terms.allotment_rule",
            format!("unknown allotment rule value {v}"),
        )),
    }
}

pub(super) fn rule_to_pb(r: AllotmentRule) -> (pb::AllotmentRule, String) {
    match r {
        AllotmentRule::FirstComeFirstServed => {
            (pb::AllotmentRule::FirstComeFirstServed, String::new())
        }
        AllotmentRule::ProRata => (pb::AllotmentRule::ProRata, String::new()),
        AllotmentRule::RetailPriority { units } => {
            (pb::AllotmentRule::RetailPriority, units.to_string())
        }
    }
}
fn countries(field: &str, list: &[String]) -> Result<BTreeSet<Country>, RegistryError> {
    list.iter().map(|c| Country::parse(field, c)).collect()
}

fn coupon_from_pb(c: Option<&pb::Coupon>) -> Result<CouponSpec, RegistryError> {
    Ok(match c.and_then(|c| c.kind.as_ref()) {
        Some(pb::coupon::Kind::Fixed(f)) => {
            CouponSpec::Fixed(opt_decimal("terms.coupon.fixed.rate", &f.rate)?)
        }
        Some(pb::coupon::Kind::Zero(_)) => CouponSpec::Zero,
        Some(pb::coupon::Kind::Accumulating(a)) => {
            CouponSpec::Accumulating(decimal("terms.coupon.accumulating.rate", &a.rate)?)
        }
        Some(pb::coupon::Kind::StepUp(s)) => {
            if s.steps.is_empty() || s.steps.len() > 400 {
                return Err(invalid(
                    "terms.coupon.step_up.steps",
                    "a step-up coupon needs 1 to 400 steps",
                ));
            }
            CouponSpec::StepUp(
                s.steps
                    .iter()
                    .map(|st| {
                        Ok((
                            date("terms.coupon.step_up.steps.from_date", &st.from_date)?,
                            decimal("terms.coupon.step_up.steps.rate", &st.rate)?,
                        ))
                    })
                    .collect::<Result<_, RegistryError>>()?,
            )
        }
        Some(pb::coupon::Kind::Floating(f)) => CouponSpec::Floating {
            reference: f.reference_rate.clone(),
            spread: decimal("terms.coupon.floating.spread", &f.spread)?,
            floor: opt_decimal("terms.coupon.floating.floor", &f.floor)?,
        },
        None => {
            return Err(invalid(
                "terms.coupon",
                "a coupon (fixed, zero, accumulating, step_up or floating) is required",
            ));
        }
    })
}

fn pricing_from_pb(p: Option<&pb::Pricing>) -> Result<PricingSpec, RegistryError> {
    Ok(match p.and_then(|p| p.kind.as_ref()) {
        Some(pb::pricing::Kind::IssuePrice(p)) => {
            PricingSpec::IssuePrice(decimal("terms.pricing.issue_price.price", &p.price)?)
        }
        Some(pb::pricing::Kind::Diaspora(d)) => PricingSpec::Diaspora {
            reference_yield: decimal("terms.pricing.diaspora.reference_yield", &d.reference_yield)?,
            discount_bps: decimal("terms.pricing.diaspora.discount_bps", &d.discount_bps)?,
            derive_par_coupon: d.derive_par_coupon,
            coupon_step: opt_decimal("terms.pricing.diaspora.coupon_step", &d.coupon_step)?,
        },
        None => {
            return Err(invalid(
                "terms.pricing",
                "pricing (issue_price or diaspora) is required",
            ));
        }
    })
}

/// Terms from the wire, every field parsed (semantic checks are the registry's).
pub fn terms_from_pb(t: Option<&pb::SeriesTerms>) -> Result<SeriesTerms, RegistryError> {
    let t = t.ok_or_else(|| invalid("terms", "series terms are required"))?;
    let coupon = coupon_from_pb(t.coupon.as_ref())?;
    let pricing = pricing_from_pb(t.pricing.as_ref())?;
    let e = t.eligibility.clone().unwrap_or_default();
    let categories = e
        .categories
        .iter()
        .map(|c| category_from_pb("terms.eligibility.categories", *c))
        .collect::<Result<BTreeSet<_>, _>>()?;
    if t.payment_lag_days > crate::pricing::PAYMENT_LAG_DAYS_MAX {
        return Err(invalid(
            "terms.payment_lag_days",
            format!(
                "at most {} business days, found {}",
                crate::pricing::PAYMENT_LAG_DAYS_MAX,
                t.payment_lag_days
            ),
        ));
    }
    if t.record_date_lag_days > crate::pricing::RECORD_DATE_LAG_DAYS_MAX {
        return Err(invalid(
            "terms.record_date_lag_days",
            format!(
                "at most {} business days, found {}",
                crate::pricing::RECORD_DATE_LAG_DAYS_MAX,
                t.record_date_lag_days
            ),
        ));
    }
    Ok(SeriesTerms {
        series_id: SeriesId::parse("terms.series_id", &t.series_id)?,
        name: t.name.clone(),
        currency: parse_name::<Currency>("terms.currency", &t.currency)?,
        face_value: decimal("terms.face_value", &t.face_value)?,
        min_units_per_investor: units("terms.min_units_per_investor", &t.min_units_per_investor)?
            .get(),
        max_units_per_investor: units("terms.max_units_per_investor", &t.max_units_per_investor)?
            .get(),
        cap_units: units("terms.cap_units", &t.cap_units)?.get(),
        coupon,
        frequency: parse_name::<Frequency>("terms.frequency", &t.frequency)?,
        day_count: parse_name::<DayCount>("terms.day_count", &t.day_count)?,
        business_day_convention: parse_name::<BusinessDayConvention>(
            "terms.business_day_convention",
            &t.business_day_convention,
        )?,
        calendar: parse_name::<CalendarName>("terms.calendar", &t.calendar)?,
        end_of_month: t.end_of_month,
        first_coupon_date: opt_date("terms.first_coupon_date", &t.first_coupon_date)?,
        record_date_lag_days: t.record_date_lag_days,
        issue_date: date("terms.issue_date", &t.issue_date)?,
        maturity_date: date("terms.maturity_date", &t.maturity_date)?,
        window_opens_at: timestamp_from_pb("terms.window_opens_at", t.window_opens_at.as_ref())?,
        window_closes_at: timestamp_from_pb("terms.window_closes_at", t.window_closes_at.as_ref())?,
        allotment_rule: rule_from_pb(t.allotment_rule, &t.retail_priority_units)?,
        eligibility: Eligibility {
            categories,
            countries_allowed: countries(
                "terms.eligibility.countries_allowed",
                &e.countries_allowed,
            )?,
            countries_barred: countries("terms.eligibility.countries_barred", &e.countries_barred)?,
        },
        pricing,
        settlement_deadline: timestamp_from_pb(
            "terms.settlement_deadline",
            t.settlement_deadline.as_ref(),
        )?,
        unclaimed_period_days: (t.unclaimed_period_days != 0).then_some(t.unclaimed_period_days),
        date_generation: match t.date_generation.as_str() {
            "" => DateGeneration::Backward,
            name => parse_name::<DateGeneration>("terms.date_generation", name)?,
        },
        accrual_dates: match t.accrual_dates.as_str() {
            "" => AccrualDates::Unadjusted,
            name => parse_name::<AccrualDates>("terms.accrual_dates", name)?,
        },
        payment_lag_days: t.payment_lag_days,
        transfers: super::holdings::policy_from_pb("terms.transfers", t.transfers)?,
        early_redemption: super::holdings::early_from_pb(t.early_redemption.as_ref())?,
    })
}
fn coupon_to_pb(c: &CouponSpec, form: Form) -> pb::coupon::Kind {
    match c {
        CouponSpec::Fixed(r) => pb::coupon::Kind::Fixed(pb::FixedCoupon {
            rate: form.opt_rate(r),
        }),
        CouponSpec::Zero => pb::coupon::Kind::Zero(pb::ZeroCoupon {}),
        CouponSpec::Accumulating(r) => {
            pb::coupon::Kind::Accumulating(pb::AccumulatingCoupon { rate: form.rate(r) })
        }
        CouponSpec::StepUp(steps) => pb::coupon::Kind::StepUp(pb::StepUpCoupon {
            steps: steps
                .iter()
                .map(|(d, r)| pb::RateStep {
                    from_date: d.to_string(),
                    rate: form.rate(r),
                })
                .collect(),
        }),
        CouponSpec::Floating {
            reference,
            spread,
            floor,
        } => pb::coupon::Kind::Floating(pb::FloatingCoupon {
            reference_rate: reference.clone(),
            spread: form.rate(spread),
            floor: form.opt_rate(floor),
        }),
    }
}

/// Pricing terms. The issue price (percent of face) is written like a rate;
/// the discount in basis points as given.
fn pricing_to_pb(p: &PricingSpec, form: Form) -> pb::pricing::Kind {
    match p {
        PricingSpec::IssuePrice(p) => pb::pricing::Kind::IssuePrice(pb::FixedPrice {
            price: form.rate(p),
        }),
        PricingSpec::Diaspora {
            reference_yield,
            discount_bps,
            derive_par_coupon,
            coupon_step,
        } => pb::pricing::Kind::Diaspora(pb::DiasporaPricing {
            reference_yield: form.rate(reference_yield),
            discount_bps: s(discount_bps),
            derive_par_coupon: *derive_par_coupon,
            coupon_step: form.opt_rate(coupon_step),
        }),
    }
}

/// Series terms in the given form: in a response, the face value at the
/// currency's minor unit and rates, yields and the issue price at
/// [`super::wire::RATE_DECIMALS`]; basis points, units and the hardship quota
/// as given.
pub fn terms_to_pb(t: &SeriesTerms, form: Form) -> pb::SeriesTerms {
    let coupon = coupon_to_pb(&t.coupon, form);
    let pricing = pricing_to_pb(&t.pricing, form);
    let (rule, retail) = rule_to_pb(t.allotment_rule);
    pb::SeriesTerms {
        series_id: t.series_id.to_string(),
        name: t.name.clone(),
        currency: t.currency.as_str().to_string(),
        face_value: form.money(&t.face_value, t.currency),
        min_units_per_investor: t.min_units_per_investor.to_string(),
        max_units_per_investor: t.max_units_per_investor.to_string(),
        cap_units: t.cap_units.to_string(),
        coupon: Some(pb::Coupon { kind: Some(coupon) }),
        frequency: t.frequency.as_str().to_string(),
        day_count: t.day_count.as_str().to_string(),
        business_day_convention: t.business_day_convention.as_str().to_string(),
        calendar: t.calendar.as_str().to_string(),
        end_of_month: t.end_of_month,
        first_coupon_date: t
            .first_coupon_date
            .map(|d| d.to_string())
            .unwrap_or_default(),
        record_date_lag_days: t.record_date_lag_days,
        issue_date: t.issue_date.to_string(),
        maturity_date: t.maturity_date.to_string(),
        window_opens_at: Some(timestamp_to_pb(t.window_opens_at)),
        window_closes_at: Some(timestamp_to_pb(t.window_closes_at)),
        allotment_rule: rule as i32,
        retail_priority_units: retail,
        eligibility: Some(pb::Eligibility {
            categories: t
                .eligibility
                .categories
                .iter()
                .map(|c| category_to_pb(*c) as i32)
                .collect(),
            countries_allowed: t
                .eligibility
                .countries_allowed
                .iter()
                .map(|c| c.to_string())
                .collect(),
            countries_barred: t
                .eligibility
                .countries_barred
                .iter()
                .map(|c| c.to_string())
                .collect(),
        }),
        pricing: Some(pb::Pricing {
            kind: Some(pricing),
        }),
        settlement_deadline: Some(timestamp_to_pb(t.settlement_deadline)),
        unclaimed_period_days: t.unclaimed_period_days.unwrap_or(0),
        // The defaults are written as absent, as terms without these fields read.
        date_generation: match t.date_generation {
            DateGeneration::Backward => String::new(),
            other => other.as_str().to_string(),
        },
        accrual_dates: match t.accrual_dates {
            AccrualDates::Unadjusted => String::new(),
            other => other.as_str().to_string(),
        },
        payment_lag_days: t.payment_lag_days,
        transfers: super::holdings::policy_to_pb(t.transfers) as i32,
        early_redemption: super::holdings::early_to_pb(&t.early_redemption),
    }
}

/// Derived figures in the given form: in a response, the price per unit at the
/// currency's minor unit, the issue price and rates at
/// [`super::wire::RATE_DECIMALS`]; the issuer's savings (unrounded) and basis
/// points as computed.
pub fn figures_to_pb(f: &SeriesFigures, currency: Currency, form: Form) -> pb::SeriesFigures {
    pb::SeriesFigures {
        issue_price: form.rate(&f.issue_price),
        coupon_rate: form.opt_rate(&f.coupon_rate),
        issue_yield: form.opt_rate(&f.issue_yield),
        reference_yield: form.opt_rate(&f.reference_yield),
        discount_bps: os(&f.discount_bps),
        issuer_savings_per_unit: os(&f.issuer_savings_per_unit),
        price_per_unit: form.money(&f.price_per_unit, currency),
    }
}

fn figures_from_pb(f: Option<&pb::SeriesFigures>) -> Result<SeriesFigures, RegistryError> {
    let f = f.ok_or_else(|| invalid("figures", "missing"))?;
    Ok(SeriesFigures {
        issue_price: decimal("figures.issue_price", &f.issue_price)?,
        coupon_rate: opt_decimal("figures.coupon_rate", &f.coupon_rate)?,
        issue_yield: opt_decimal("figures.issue_yield", &f.issue_yield)?,
        reference_yield: opt_decimal("figures.reference_yield", &f.reference_yield)?,
        discount_bps: opt_decimal("figures.discount_bps", &f.discount_bps)?,
        issuer_savings_per_unit: opt_decimal(
            "figures.issuer_savings_per_unit",
            &f.issuer_savings_per_unit,
        )?,
        price_per_unit: decimal("figures.price_per_unit", &f.price_per_unit)?,
    })
}

/// A scheduled flow in the given form: in a response, its rate at
/// [`super::wire::RATE_DECIMALS`]; the amount per unit unrounded, as computed.
pub fn flow_to_pb(f: &ScheduledFlow, form: Form) -> pb::ScheduledFlow {
    pb::ScheduledFlow {
        kind: f.kind.as_str().to_string(),
        accrual_start: f.accrual_start.to_string(),
        accrual_end: f.accrual_end.to_string(),
        payment_date: f.payment_date.to_string(),
        record_date: f.record_date.to_string(),
        rate: form.opt_rate(&f.rate),
        amount_per_unit: os(&f.amount_per_unit),
    }
}

fn flow_from_pb(f: &pb::ScheduledFlow) -> Result<ScheduledFlow, RegistryError> {
    Ok(ScheduledFlow {
        kind: match f.kind.as_str() {
            "coupon" => CashFlowKind::Coupon,
            "redemption" => CashFlowKind::Redemption,
            other => {
                return Err(invalid(
                    "schedule.kind",
                    format!("unknown flow kind {other:?}"),
                ));
            }
        },
        accrual_start: date("schedule.accrual_start", &f.accrual_start)?,
        accrual_end: date("schedule.accrual_end", &f.accrual_end)?,
        payment_date: date("schedule.payment_date", &f.payment_date)?,
        record_date: date("schedule.record_date", &f.record_date)?,
        rate: opt_decimal("schedule.rate", &f.rate)?,
        amount_per_unit: opt_decimal("schedule.amount_per_unit", &f.amount_per_unit)?,
    })
}

pub(super) fn defined_to_pb(
    d: &SeriesDefined,
) -> (
    Option<pb::SeriesTerms>,
    Option<pb::SeriesFigures>,
    Vec<pb::ScheduledFlow>,
) {
    (
        Some(terms_to_pb(&d.terms, Form::Ledger)),
        Some(figures_to_pb(&d.figures, d.terms.currency, Form::Ledger)),
        d.schedule
            .iter()
            .map(|f| flow_to_pb(f, Form::Ledger))
            .collect(),
    )
}

pub(super) fn defined_from_pb(
    terms: Option<&pb::SeriesTerms>,
    figures: Option<&pb::SeriesFigures>,
    schedule: &[pb::ScheduledFlow],
) -> Result<SeriesDefined, RegistryError> {
    Ok(SeriesDefined {
        terms: terms_from_pb(terms)?,
        figures: figures_from_pb(figures)?,
        schedule: schedule
            .iter()
            .map(flow_from_pb)
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `BookBucket.key` for a category (services.proto) is the proto enum's
    /// name without its `DIASPORA_CATEGORY_` prefix, in lower case.
    #[test]
    fn category_keys_are_the_proto_enum_names() {
        for c in DiasporaCategory::ALL {
            let name = category_to_pb(c).as_str_name();
            let key = name
                .strip_prefix("DIASPORA_CATEGORY_")
                .unwrap()
                .to_ascii_lowercase();
            assert_eq!(c.as_str(), key);
        }
    }
}
