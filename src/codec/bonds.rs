//! Conversion of series, subscriptions, allotments and holdings between their
//! wire form (decimal strings, YYYY-MM-DD dates, enums) and the registry's types.

use super::{timestamp_from_pb, timestamp_to_pb};
use crate::calendar::{BusinessDayConvention, CalendarName, DayCount, Frequency};
use crate::money::{Currency, Units};
use crate::pricing::CashFlowKind;
use crate::proto as pb;
use crate::registry::{
    AllotmentLine, AllotmentRule, Country, CouponSpec, DiasporaCategory, Eligibility, Event,
    Holding, HoldingUnits, InvestorRef, ParticipantId, PricingSpec, RegistryError, ScheduledFlow,
    Series, SeriesDefined, SeriesFigures, SeriesId, SeriesStatus, SeriesTerms, SubmitSubscription,
    Subscription, SubscriptionStatus, SubscriptionSubmitted,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeSet;
use std::str::FromStr;

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

/// Longest decimal string accepted: more digits than any amount or rate needs.
const DECIMAL_CHARS_MAX: usize = 40;

/// A decimal string: optional '-', digits, optional '.' and digits. No exponent,
/// no spaces, no precision beyond what a decimal holds exactly.
pub fn decimal(field: &str, s: &str) -> Result<Decimal, RegistryError> {
    if s.is_empty() {
        return Err(invalid(
            field,
            "is required (a decimal string such as \"1000.00\")",
        ));
    }
    if s.len() > DECIMAL_CHARS_MAX {
        return Err(invalid(
            field,
            format!(
                "decimal string is {} characters; at most {DECIMAL_CHARS_MAX}",
                s.len()
            ),
        ));
    }
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (body.contains('.') && frac.is_empty()) {
        return Err(invalid(
            field,
            format!("expected a decimal string such as \"1000.00\", found {s:?}"),
        ));
    }
    Decimal::from_str_exact(s).map_err(|_| {
        invalid(
            field,
            format!("{s:?} has more precision than a decimal holds (28 digits)"),
        )
    })
}

pub fn opt_decimal(field: &str, s: &str) -> Result<Option<Decimal>, RegistryError> {
    if s.is_empty() {
        Ok(None)
    } else {
        decimal(field, s).map(Some)
    }
}

/// A whole, non-negative number of units as a decimal string ("10" or "10.0"),
/// at most `UNITS_MAX`.
pub fn units(field: &str, s: &str) -> Result<Units, RegistryError> {
    let d = decimal(field, s)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(invalid(
            field,
            format!("units cannot be negative, found {s}"),
        ));
    }
    if !d.fract().is_zero() {
        return Err(invalid(field, format!("units must be whole, found {s}")));
    }
    let max = crate::registry::series::UNITS_MAX;
    let n = u64::try_from(d.trunc().mantissa() / 10i128.pow(d.trunc().scale()))
        .ok()
        .filter(|n| *n <= max);
    n.map(Units::new)
        .ok_or_else(|| invalid(field, format!("at most {max} units, found {s}")))
}

/// A plain date, exactly YYYY-MM-DD (four-digit year: the form dates are written
/// back in, so every accepted date reads back from the ledger as itself).
pub fn date(field: &str, s: &str) -> Result<NaiveDate, RegistryError> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    // chrono's %Y alone would take "-030-02-01" (year -30), which is written back
    // as "-0030-02-01" and then refused: a ledger entry that could never be read.
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return Err(invalid(
            field,
            format!("expected a date as YYYY-MM-DD, found {s:?}"),
        ));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| invalid(field, format!("{s:?} is not a valid date")))
}

fn opt_date(field: &str, s: &str) -> Result<Option<NaiveDate>, RegistryError> {
    if s.is_empty() {
        Ok(None)
    } else {
        date(field, s).map(Some)
    }
}

fn parse_name<T: FromStr>(field: &str, s: &str) -> Result<T, RegistryError>
where
    T::Err: std::fmt::Display,
{
    T::from_str(s).map_err(|e| invalid(field, e.to_string()))
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

fn rule_from_pb(v: i32, retail_units: &str) -> Result<AllotmentRule, RegistryError> {
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

fn rule_to_pb(r: AllotmentRule) -> (pb::AllotmentRule, String) {
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

pub fn series_status_to_pb(s: SeriesStatus) -> pb::SeriesStatus {
    match s {
        SeriesStatus::Draft => pb::SeriesStatus::Draft,
        SeriesStatus::Open => pb::SeriesStatus::Open,
        SeriesStatus::Closed => pb::SeriesStatus::Closed,
        SeriesStatus::Allotted => pb::SeriesStatus::Allotted,
        SeriesStatus::Issued => pb::SeriesStatus::Issued,
        SeriesStatus::Matured => pb::SeriesStatus::Matured,
        SeriesStatus::Cancelled => pb::SeriesStatus::Cancelled,
    }
}

pub fn subscription_status_to_pb(s: SubscriptionStatus) -> pb::SubscriptionStatus {
    match s {
        SubscriptionStatus::Submitted => pb::SubscriptionStatus::Submitted,
        SubscriptionStatus::Withdrawn => pb::SubscriptionStatus::Withdrawn,
        SubscriptionStatus::Allotted => pb::SubscriptionStatus::Allotted,
        SubscriptionStatus::Settled => pb::SubscriptionStatus::Settled,
        SubscriptionStatus::Released => pb::SubscriptionStatus::Released,
        SubscriptionStatus::Refunded => pb::SubscriptionStatus::Refunded,
        SubscriptionStatus::Issued => pb::SubscriptionStatus::Issued,
    }
}

fn countries(field: &str, list: &[String]) -> Result<BTreeSet<Country>, RegistryError> {
    list.iter().map(|c| Country::parse(field, c)).collect()
}

/// Terms from the wire, every field parsed (semantic checks are the registry's).
pub fn terms_from_pb(t: Option<&pb::SeriesTerms>) -> Result<SeriesTerms, RegistryError> {
    let t = t.ok_or_else(|| invalid("terms", "series terms are required"))?;
    let coupon = match t.coupon.as_ref().and_then(|c| c.kind.as_ref()) {
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
    };
    let pricing = match t.pricing.as_ref().and_then(|p| p.kind.as_ref()) {
        Some(pb::pricing::Kind::IssuePrice(p)) => {
            PricingSpec::IssuePrice(decimal("terms.pricing.issue_price.price", &p.price)?)
        }
        Some(pb::pricing::Kind::Diaspora(d)) => PricingSpec::Diaspora {
            reference_yield: decimal("terms.pricing.diaspora.reference_yield", &d.reference_yield)?,
            discount_bps: decimal("terms.pricing.diaspora.discount_bps", &d.discount_bps)?,
            derive_par_coupon: d.derive_par_coupon,
        },
        None => {
            return Err(invalid(
                "terms.pricing",
                "pricing (issue_price or diaspora) is required",
            ));
        }
    };
    let e = t.eligibility.clone().unwrap_or_default();
    let categories = e
        .categories
        .iter()
        .map(|c| category_from_pb("terms.eligibility.categories", *c))
        .collect::<Result<BTreeSet<_>, _>>()?;
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
    })
}

fn s(d: &Decimal) -> String {
    d.to_string()
}

fn os(d: &Option<Decimal>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

pub fn terms_to_pb(t: &SeriesTerms) -> pb::SeriesTerms {
    let coupon = match &t.coupon {
        CouponSpec::Fixed(r) => pb::coupon::Kind::Fixed(pb::FixedCoupon { rate: os(r) }),
        CouponSpec::Zero => pb::coupon::Kind::Zero(pb::ZeroCoupon {}),
        CouponSpec::Accumulating(r) => {
            pb::coupon::Kind::Accumulating(pb::AccumulatingCoupon { rate: s(r) })
        }
        CouponSpec::StepUp(steps) => pb::coupon::Kind::StepUp(pb::StepUpCoupon {
            steps: steps
                .iter()
                .map(|(d, r)| pb::RateStep {
                    from_date: d.to_string(),
                    rate: s(r),
                })
                .collect(),
        }),
        CouponSpec::Floating {
            reference,
            spread,
            floor,
        } => pb::coupon::Kind::Floating(pb::FloatingCoupon {
            reference_rate: reference.clone(),
            spread: s(spread),
            floor: os(floor),
        }),
    };
    let pricing = match &t.pricing {
        PricingSpec::IssuePrice(p) => pb::pricing::Kind::IssuePrice(pb::FixedPrice { price: s(p) }),
        PricingSpec::Diaspora {
            reference_yield,
            discount_bps,
            derive_par_coupon,
        } => pb::pricing::Kind::Diaspora(pb::DiasporaPricing {
            reference_yield: s(reference_yield),
            discount_bps: s(discount_bps),
            derive_par_coupon: *derive_par_coupon,
        }),
    };
    let (rule, retail) = rule_to_pb(t.allotment_rule);
    pb::SeriesTerms {
        series_id: t.series_id.to_string(),
        name: t.name.clone(),
        currency: t.currency.as_str().to_string(),
        face_value: s(&t.face_value),
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
    }
}

pub fn figures_to_pb(f: &SeriesFigures) -> pb::SeriesFigures {
    pb::SeriesFigures {
        issue_price: s(&f.issue_price),
        coupon_rate: os(&f.coupon_rate),
        issue_yield: os(&f.issue_yield),
        reference_yield: os(&f.reference_yield),
        discount_bps: os(&f.discount_bps),
        issuer_savings_per_unit: os(&f.issuer_savings_per_unit),
        price_per_unit: s(&f.price_per_unit),
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

pub fn flow_to_pb(f: &ScheduledFlow) -> pb::ScheduledFlow {
    pb::ScheduledFlow {
        kind: f.kind.as_str().to_string(),
        accrual_start: f.accrual_start.to_string(),
        accrual_end: f.accrual_end.to_string(),
        payment_date: f.payment_date.to_string(),
        record_date: f.record_date.to_string(),
        rate: os(&f.rate),
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

fn defined_to_pb(
    d: &SeriesDefined,
) -> (
    Option<pb::SeriesTerms>,
    Option<pb::SeriesFigures>,
    Vec<pb::ScheduledFlow>,
) {
    (
        Some(terms_to_pb(&d.terms)),
        Some(figures_to_pb(&d.figures)),
        d.schedule.iter().map(flow_to_pb).collect(),
    )
}

fn defined_from_pb(
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

fn pairs_to_pb(list: &[(u64, Units)]) -> Vec<pb::Refund> {
    list.iter()
        .map(|(id, u)| pb::Refund {
            subscription_id: *id,
            units: u.to_string(),
        })
        .collect()
}

fn pairs_from_pb(list: &[pb::Refund]) -> Result<Vec<(u64, Units)>, RegistryError> {
    list.iter()
        .map(|r| Ok((r.subscription_id, units("units", &r.units)?)))
        .collect()
}

/// Bond-domain events to their ledger form; `None` for other events.
pub fn event_to_pb(event: &Event) -> Option<pb::event::Kind> {
    use pb::event::Kind;
    Some(match event {
        Event::SeriesCreated(d) => {
            let (terms, figures, schedule) = defined_to_pb(d);
            Kind::SeriesCreated(pb::SeriesCreated {
                terms,
                figures,
                schedule,
            })
        }
        Event::SeriesAmended(d) => {
            let (terms, figures, schedule) = defined_to_pb(d);
            Kind::SeriesAmended(pb::SeriesAmended {
                terms,
                figures,
                schedule,
            })
        }
        Event::SeriesOpened(id) => Kind::SeriesOpened(pb::SeriesOpened {
            series_id: id.to_string(),
        }),
        Event::SeriesClosed { series_id, early } => Kind::SeriesClosed(pb::SeriesClosed {
            series_id: series_id.to_string(),
            early: *early,
        }),
        Event::SeriesCancelled {
            series_id,
            reason,
            subscriptions,
        } => Kind::SeriesCancelled(pb::SeriesCancelled {
            series_id: series_id.to_string(),
            reason: reason.clone(),
            subscriptions: *subscriptions,
        }),
        Event::SubscriptionsRefunded { series_id, refunds } => {
            Kind::SubscriptionsRefunded(pb::SubscriptionsRefunded {
                series_id: series_id.to_string(),
                refunds: pairs_to_pb(refunds),
            })
        }
        Event::AllotmentDecided {
            series_id,
            rule,
            cap_units,
            subscribed_units,
            allotted_units,
            subscriptions,
        } => {
            let (rule, retail_priority_units) = rule_to_pb(*rule);
            Kind::AllotmentDecided(pb::AllotmentDecided {
                series_id: series_id.to_string(),
                rule: rule as i32,
                retail_priority_units,
                cap_units: cap_units.to_string(),
                subscribed_units: subscribed_units.to_string(),
                allotted_units: allotted_units.to_string(),
                subscriptions: *subscriptions,
            })
        }
        Event::SubscriptionsAllotted {
            series_id,
            allotments,
        } => Kind::SubscriptionsAllotted(pb::SubscriptionsAllotted {
            series_id: series_id.to_string(),
            allotments: allotments
                .iter()
                .map(|a| pb::Allotment {
                    subscription_id: a.subscription_id,
                    allotted_units: a.allotted_units.to_string(),
                    refunded_units: a.refunded_units.to_string(),
                    amount_due: s(&a.amount_due),
                })
                .collect(),
        }),
        Event::UnsettledReleased {
            series_id,
            released,
        } => Kind::UnsettledReleased(pb::UnsettledReleased {
            series_id: series_id.to_string(),
            released: pairs_to_pb(released),
        }),
        Event::SeriesIssued {
            series_id,
            units,
            holdings,
            amount_raised,
        } => Kind::SeriesIssued(pb::SeriesIssued {
            series_id: series_id.to_string(),
            units: units.to_string(),
            holdings: *holdings,
            amount_raised: s(amount_raised),
        }),
        Event::HoldingsCreated {
            series_id,
            holdings,
        } => Kind::HoldingsCreated(pb::HoldingsCreated {
            series_id: series_id.to_string(),
            holdings: holdings
                .iter()
                .map(|h| pb::HoldingUnits {
                    investor_ref: h.investor_ref.to_string(),
                    bank_id: h.bank_id.to_string(),
                    units: h.units.to_string(),
                })
                .collect(),
        }),
        Event::SubscriptionSubmitted(e) => Kind::SubscriptionSubmitted(pb::SubscriptionSubmitted {
            subscription_id: e.subscription_id,
            series_id: e.series_id.to_string(),
            bank_id: e.bank_id.to_string(),
            investor_ref: e.investor_ref.to_string(),
            category: category_to_pb(e.category) as i32,
            country: e.country.to_string(),
            units: e.units.to_string(),
            idempotency_key: e.idempotency_key.to_string(),
        }),
        Event::SubscriptionWithdrawn { subscription_id } => {
            Kind::SubscriptionWithdrawn(pb::SubscriptionWithdrawn {
                subscription_id: *subscription_id,
            })
        }
        Event::SettlementConfirmed {
            subscription_id,
            amount,
        } => Kind::SettlementConfirmed(pb::SettlementConfirmed {
            subscription_id: *subscription_id,
            amount: s(amount),
        }),
        _ => return None,
    })
}

fn sid(s: &str) -> Result<SeriesId, RegistryError> {
    SeriesId::parse("series_id", s)
}

/// Bond-domain events from their ledger form; `None` for other kinds.
pub fn event_from_pb(kind: &pb::event::Kind) -> Option<Result<Event, RegistryError>> {
    use pb::event::Kind;
    let result = (|| {
        Ok(match kind {
            Kind::SeriesCreated(e) => Event::SeriesCreated(defined_from_pb(
                e.terms.as_ref(),
                e.figures.as_ref(),
                &e.schedule,
            )?),
            Kind::SeriesAmended(e) => Event::SeriesAmended(defined_from_pb(
                e.terms.as_ref(),
                e.figures.as_ref(),
                &e.schedule,
            )?),
            Kind::SeriesOpened(e) => Event::SeriesOpened(sid(&e.series_id)?),
            Kind::SeriesClosed(e) => Event::SeriesClosed {
                series_id: sid(&e.series_id)?,
                early: e.early,
            },
            Kind::SeriesCancelled(e) => Event::SeriesCancelled {
                series_id: sid(&e.series_id)?,
                reason: e.reason.clone(),
                subscriptions: e.subscriptions,
            },
            Kind::SubscriptionsRefunded(e) => Event::SubscriptionsRefunded {
                series_id: sid(&e.series_id)?,
                refunds: pairs_from_pb(&e.refunds)?,
            },
            Kind::AllotmentDecided(e) => {
                let rule = rule_from_pb(e.rule, &e.retail_priority_units)?;
                Event::AllotmentDecided {
                    series_id: sid(&e.series_id)?,
                    rule,
                    cap_units: units("cap_units", &e.cap_units)?,
                    subscribed_units: units("subscribed_units", &e.subscribed_units)?,
                    allotted_units: units("allotted_units", &e.allotted_units)?,
                    subscriptions: e.subscriptions,
                }
            }
            Kind::SubscriptionsAllotted(e) => Event::SubscriptionsAllotted {
                series_id: sid(&e.series_id)?,
                allotments: e
                    .allotments
                    .iter()
                    .map(|a| {
                        Ok(AllotmentLine {
                            subscription_id: a.subscription_id,
                            allotted_units: units("allotted_units", &a.allotted_units)?,
                            refunded_units: units("refunded_units", &a.refunded_units)?,
                            amount_due: decimal("amount_due", &a.amount_due)?,
                        })
                    })
                    .collect::<Result<_, RegistryError>>()?,
            },
            Kind::UnsettledReleased(e) => Event::UnsettledReleased {
                series_id: sid(&e.series_id)?,
                released: pairs_from_pb(&e.released)?,
            },
            Kind::SeriesIssued(e) => Event::SeriesIssued {
                series_id: sid(&e.series_id)?,
                units: units("units", &e.units)?,
                holdings: e.holdings,
                amount_raised: decimal("amount_raised", &e.amount_raised)?,
            },
            Kind::HoldingsCreated(e) => Event::HoldingsCreated {
                series_id: sid(&e.series_id)?,
                holdings: e
                    .holdings
                    .iter()
                    .map(|h| {
                        Ok(HoldingUnits {
                            investor_ref: InvestorRef::parse("investor_ref", &h.investor_ref)?,
                            bank_id: ParticipantId::parse("bank_id", &h.bank_id)?,
                            units: units("units", &h.units)?,
                        })
                    })
                    .collect::<Result<_, RegistryError>>()?,
            },
            Kind::SubscriptionSubmitted(e) => Event::SubscriptionSubmitted(SubscriptionSubmitted {
                subscription_id: e.subscription_id,
                series_id: sid(&e.series_id)?,
                bank_id: ParticipantId::parse("bank_id", &e.bank_id)?,
                investor_ref: InvestorRef::parse("investor_ref", &e.investor_ref)?,
                category: category_from_pb("category", e.category)?,
                country: Country::parse("country", &e.country)?,
                units: units("units", &e.units)?,
                idempotency_key: e.idempotency_key.as_str().into(),
            }),
            Kind::SubscriptionWithdrawn(e) => Event::SubscriptionWithdrawn {
                subscription_id: e.subscription_id,
            },
            Kind::SettlementConfirmed(e) => Event::SettlementConfirmed {
                subscription_id: e.subscription_id,
                amount: decimal("amount", &e.amount)?,
            },
            _ => return Err(invalid("event", "not a bond event")),
        })
    })();
    match kind {
        Kind::Genesis(_)
        | Kind::ParticipantRegistered(_)
        | Kind::KeyRotated(_)
        | Kind::ParticipantRevoked(_) => None,
        _ => Some(result),
    }
}

pub fn submit_from_pb(c: &pb::SubmitSubscription) -> Result<SubmitSubscription, RegistryError> {
    Ok(SubmitSubscription {
        series_id: sid(&c.series_id)?,
        investor_ref: InvestorRef::parse("investor_ref", &c.investor_ref)?,
        category: category_from_pb("category", c.category)?,
        country: Country::parse("country", &c.country)?,
        units: units("units", &c.units)?,
        idempotency_key: c.idempotency_key.clone(),
    })
}

pub fn series_id_from_pb(s: &str) -> Result<SeriesId, RegistryError> {
    sid(s)
}

pub fn subscription_to_pb(s: &Subscription) -> pb::Subscription {
    pb::Subscription {
        subscription_id: s.subscription_id,
        series_id: s.series_id.to_string(),
        bank_id: s.bank_id.to_string(),
        investor_ref: s.investor_ref.to_string(),
        category: category_to_pb(s.category) as i32,
        country: s.country.to_string(),
        units: s.units.to_string(),
        status: subscription_status_to_pb(s.status) as i32,
        allotted_units: s.allotted_units.to_string(),
        refunded_units: s.refunded_units.to_string(),
        amount_due: s.amount_due.to_string(),
        idempotency_key: s.idempotency_key.to_string(),
        submitted_at: Some(timestamp_to_pb(s.submitted_at)),
    }
}

pub fn holding_to_pb(h: &Holding) -> pb::Holding {
    pb::Holding {
        series_id: h.series_id.to_string(),
        investor_ref: h.investor_ref.to_string(),
        bank_id: h.bank_id.to_string(),
        units: h.units.to_string(),
        redeemed_units: h.redeemed_units.to_string(),
    }
}

/// The series with its book summary computed from its subscriptions.
pub fn series_to_pb<'a>(s: &Series, book: impl Iterator<Item = &'a Subscription>) -> pb::Series {
    use std::collections::BTreeMap;
    #[derive(Default)]
    struct B {
        subs: u64,
        subscribed: u64,
        allotted: u64,
    }
    let mut total = pb::BookSummary::default();
    let (mut subscribed, mut allotted, mut settled, mut issued) = (0u64, 0u64, 0u64, 0u64);
    let mut by_cat: BTreeMap<&'static str, B> = BTreeMap::new();
    let mut by_country: BTreeMap<String, B> = BTreeMap::new();
    for sub in book {
        if matches!(sub.status, SubscriptionStatus::Withdrawn) {
            continue;
        }
        total.subscriptions = total.subscriptions.saturating_add(1);
        let held = matches!(
            sub.status,
            SubscriptionStatus::Allotted | SubscriptionStatus::Settled | SubscriptionStatus::Issued
        );
        let a = if held { sub.allotted_units } else { 0 };
        subscribed = subscribed.saturating_add(sub.units);
        allotted = allotted.saturating_add(a);
        if matches!(
            sub.status,
            SubscriptionStatus::Settled | SubscriptionStatus::Issued
        ) {
            settled = settled.saturating_add(sub.allotted_units);
        }
        if sub.status == SubscriptionStatus::Issued {
            issued = issued.saturating_add(sub.allotted_units);
        }
        for b in [
            by_cat.entry(sub.category.as_str()).or_default(),
            by_country.entry(sub.country.to_string()).or_default(),
        ] {
            b.subs = b.subs.saturating_add(1);
            b.subscribed = b.subscribed.saturating_add(sub.units);
            b.allotted = b.allotted.saturating_add(a);
        }
    }
    let bucket = |(k, b): (String, B)| pb::BookBucket {
        key: k,
        subscriptions: b.subs,
        subscribed_units: b.subscribed.to_string(),
        allotted_units: b.allotted.to_string(),
    };
    total.subscribed_units = subscribed.to_string();
    total.allotted_units = allotted.to_string();
    total.settled_units = settled.to_string();
    total.issued_units = issued.to_string();
    total.amount_raised = s.amount_raised.to_string();
    total.by_category = by_cat
        .into_iter()
        .map(|(k, b)| bucket((k.to_string(), b)))
        .collect();
    total.by_country = by_country.into_iter().map(bucket).collect();
    pb::Series {
        terms: Some(terms_to_pb(&s.terms)),
        figures: Some(figures_to_pb(&s.figures)),
        status: series_status_to_pb(s.status) as i32,
        schedule: s.schedule.iter().map(flow_to_pb).collect(),
        book: Some(total),
        created_at_index: s.created_at_index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Some(text)`: accepted, and written back as `text`; `None`: refused.
    fn check_date(input: &str, expected: Option<&str>) {
        let parsed = date("d", input).ok().map(|d| d.to_string());
        assert_eq!(parsed.as_deref(), expected, "date {input:?}");
    }

    #[test]
    fn dates_are_four_digit_years_and_read_back_as_written() {
        check_date("2030-02-01", Some("2030-02-01"));
        check_date("0030-02-01", Some("0030-02-01"));
        check_date("2028-02-29", Some("2028-02-29"));
        check_date("2030-02-29", None);
        // Found by fuzzing: chrono reads these, but they are not YYYY-MM-DD.
        check_date("-030-02-01", None);
        check_date("+030-02-01", None);
        check_date(" 030-02-01", None);
        check_date("2030-+2-01", None);
        check_date("2030-02-+1", None);
        check_date("2030-02-1 ", None);
        check_date("2030/02/01", None);
        check_date("", None);
    }
}
