//! Unit tests of the report figures and charts on hand-built series (the
//! end-to-end test against a real server is `ledger-tests/report.rs`).

use super::figures::{Savings, UnitsBasis, series_report, timeline_points};
use super::load::{BookChange, BookTimeline};
use super::{chart, format};
use crate::calendar::{BusinessDayConvention, CalendarName, DayCount, Frequency};
use crate::money::Currency;
use crate::pricing::CashFlowKind;
use crate::registry::coupons::PaidFlow;
use crate::registry::series::define;
use crate::registry::{
    AllotmentRule, Country, CouponSpec, DiasporaCategory, Eligibility, PricingSpec, Series,
    SeriesId, SeriesStatus, SeriesTerms, State,
};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).expect("date")
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 0)
        .single()
        .expect("time")
}

fn terms(coupon: CouponSpec, pricing: PricingSpec) -> SeriesTerms {
    SeriesTerms {
        series_id: SeriesId::parse("id", "AZ-2032-USD").expect("id"),
        name: "Diaspora bond <2032> & co".into(),
        currency: Currency::USD,
        face_value: dec("1000"),
        min_units_per_investor: 1,
        max_units_per_investor: 100,
        cap_units: 300,
        coupon,
        frequency: Frequency::Semiannual,
        day_count: DayCount::from_str("ACT/ACT ICMA").expect("day count"),
        business_day_convention: BusinessDayConvention::Following,
        calendar: CalendarName::from_str("weekends_only").expect("calendar"),
        end_of_month: false,
        first_coupon_date: None,
        record_date_lag_days: 1,
        issue_date: date("2027-01-15"),
        maturity_date: date("2032-01-15"),
        window_opens_at: at(0),
        window_closes_at: at(86_400),
        allotment_rule: AllotmentRule::ProRata,
        eligibility: Eligibility {
            categories: [DiasporaCategory::CitizenAbroad].into_iter().collect(),
            countries_allowed: Default::default(),
            countries_barred: [Country::parse("c", "IR").expect("country")]
                .into_iter()
                .collect(),
        },
        pricing,
        settlement_deadline: at(2 * 86_400),
        unclaimed_period_days: None,
        date_generation: crate::calendar::DateGeneration::Backward,
        accrual_dates: crate::calendar::AccrualDates::Unadjusted,
        payment_lag_days: 0,
        transfers: Default::default(),
        early_redemption: None,
    }
}

fn diaspora() -> PricingSpec {
    PricingSpec::Diaspora {
        reference_yield: dec("0.065"),
        discount_bps: dec("150"),
        derive_par_coupon: true,
        coupon_step: None,
    }
}

/// Diaspora pricing for a coupon that is given (zero coupon: the price is derived).
fn diaspora_given(coupon: &CouponSpec) -> PricingSpec {
    PricingSpec::Diaspora {
        reference_yield: dec("0.065"),
        discount_bps: dec("150"),
        derive_par_coupon: matches!(coupon, CouponSpec::Fixed(None)),
        coupon_step: None,
    }
}

fn series(t: SeriesTerms, status: SeriesStatus) -> Series {
    let d = define(t).expect("terms define a series");
    Series {
        terms: d.terms,
        figures: d.figures,
        schedule: d.schedule,
        status,
        created_at_index: 1,
        issued_at_index: None,
        tranches: Vec::new(),
        amount_raised: Decimal::ZERO,
        paid: Vec::new(),
        early_redeemed_units: 0,
        early_redemptions: Vec::new(),
        hardship_units: Default::default(),
    }
}

#[test]
fn the_timeline_steps_through_submissions_and_withdrawals() {
    let t = BookTimeline {
        opened_at: Some(at(0)),
        closed_at: Some(at(100)),
        changes: vec![
            BookChange::Submitted {
                at: at(10),
                units: 30,
            },
            BookChange::Submitted {
                at: at(20),
                units: 50,
            },
            BookChange::Withdrawn {
                at: at(30),
                units: 30,
            },
        ],
    };
    let units = |t: &BookTimeline, end: Option<DateTime<Utc>>| -> Vec<(i64, u64)> {
        timeline_points(t, end)
            .iter()
            .map(|p| (p.at.timestamp() - 1_795_000_000, p.units))
            .collect()
    };
    assert_eq!(
        units(&t, Some(at(500))),
        vec![(0, 0), (10, 30), (20, 80), (30, 50), (100, 50)],
        "a closed window ends the line"
    );
    let open = BookTimeline {
        closed_at: None,
        ..t.clone()
    };
    assert_eq!(
        units(&open, Some(at(500))),
        vec![(0, 0), (10, 30), (20, 80), (30, 50), (500, 50)],
        "an open window runs to the end of the ledger"
    );
    assert_eq!(units(&open, None).len(), 4);
    assert!(timeline_points(&BookTimeline::default(), Some(at(5))).is_empty());
    // A withdrawal the builder could not attribute never takes the book below zero.
    let odd = BookTimeline {
        changes: vec![BookChange::Withdrawn {
            at: at(5),
            units: 7,
        }],
        ..Default::default()
    };
    assert_eq!(timeline_points(&odd, None).last().map(|p| p.units), Some(0));
}

#[test]
fn debt_service_is_schedule_times_the_cap_before_issue_and_marks_what_is_paid() {
    let mut s = series(
        terms(CouponSpec::Fixed(None), diaspora()),
        SeriesStatus::Open,
    );
    let first = s.schedule[0].clone();
    let paid_total = dec("12345.67");
    s.paid.push(PaidFlow {
        event_id: "AZ-2032-USD/coupon/0".into(),
        kind: CashFlowKind::Coupon,
        payment_date: first.payment_date,
        amount_per_unit: first.amount_per_unit.expect("fixed coupon"),
        total: paid_total,
        withholding: None,
    });
    let r = series_report(&State::new(), &s, &BookTimeline::default());
    assert_eq!(r.units_basis, UnitsBasis::Cap);
    assert_eq!(r.units_outstanding, 300);
    assert_eq!(r.debt_service.len(), s.schedule.len());
    assert!(r.debt_service[0].paid);
    assert_eq!(r.debt_service[0].amount, Some(paid_total));
    assert!(r.debt_service[1..].iter().all(|l| !l.paid));
    for (line, flow) in r.debt_service.iter().zip(&s.schedule).skip(1) {
        assert_eq!(
            line.amount,
            flow.amount_per_unit.map(|a| a * Decimal::from(300))
        );
    }
    assert_eq!(
        r.debt_service_total(CashFlowKind::Redemption),
        dec("300000"),
        "the principal is face times the units"
    );
    assert_eq!(r.paid_total(), paid_total);
    assert_eq!(r.coupons_paid, 1);
    assert_eq!(r.coupons_paid_total, paid_total);

    let cancelled = series(
        terms(CouponSpec::Fixed(None), diaspora()),
        SeriesStatus::Cancelled,
    );
    let r = series_report(&State::new(), &cancelled, &BookTimeline::default());
    assert_eq!(
        (r.units_basis, r.units_outstanding),
        (UnitsBasis::Cancelled, 0)
    );
    assert_eq!(
        r.debt_service_total(CashFlowKind::Redemption),
        Decimal::ZERO
    );
}

#[test]
fn savings_are_taken_at_the_coupon_in_force() {
    let s = series(
        terms(CouponSpec::Fixed(None), diaspora()),
        SeriesStatus::Open,
    );
    let r = series_report(&State::new(), &s, &BookTimeline::default());
    let Savings::Derived(sv) = &r.savings else {
        panic!("diaspora pricing has savings: {:?}", r.savings);
    };
    // The par coupon as published (6 decimals) is the coupon in force; the
    // figure recorded at creation is taken at the unrounded par coupon, so the
    // two differ by far less than a cent a unit.
    let recorded = s.figures.issuer_savings_per_unit.expect("recorded");
    assert!((sv.per_unit - recorded).abs() < dec("0.001"), "{sv:?}");
    assert_eq!(sv.coupon, s.figures.coupon_rate);
    assert_eq!(sv.total, sv.per_unit * Decimal::from(300), "the cap");
    assert_eq!(sv.sales.len(), 1);
    assert_eq!(sv.diaspora_yield, dec("0.05"));
    let (m, d) = (
        sv.market_coupon.expect("market"),
        sv.diaspora_coupon.expect("diaspora"),
    );
    assert!(
        m > d,
        "the market par coupon {m} is above the diaspora one {d}"
    );
    assert_eq!(sv.per_date.len(), 10, "ten semiannual coupons");
    assert!(sv.per_date.iter().all(|(_, v)| *v > Decimal::ZERO));
    // Undiscounted coupon savings exceed their present value.
    let undiscounted: Decimal = sv.per_date.iter().map(|(_, v)| *v).sum();
    assert!(undiscounted > sv.total, "{undiscounted} > {}", sv.total);

    // A coupon step: at 6.5 % less 110 bp the par coupon is about 5.4 %; the
    // coupon paid is that rounded down to 5 %, the series issues below par, and
    // the saving per unit is the one recorded at creation (both at the coupon
    // in force), smaller than at the par coupon with the same discount.
    let at_110 = |coupon_step| PricingSpec::Diaspora {
        reference_yield: dec("0.065"),
        discount_bps: dec("110"),
        derive_par_coupon: true,
        coupon_step,
    };
    let stepped = series(
        terms(CouponSpec::Fixed(None), at_110(Some(dec("0.01")))),
        SeriesStatus::Open,
    );
    let par = series(
        terms(CouponSpec::Fixed(None), at_110(None)),
        SeriesStatus::Open,
    );
    let coupon = stepped.figures.coupon_rate.expect("a coupon");
    assert_eq!(coupon, dec("0.05"), "{:?}", par.figures.coupon_rate);
    assert!(stepped.figures.issue_price < dec("100"));
    let r = series_report(&State::new(), &stepped, &BookTimeline::default());
    let Savings::Derived(st) = &r.savings else {
        panic!("stepped savings: {:?}", r.savings);
    };
    let r = series_report(&State::new(), &par, &BookTimeline::default());
    let Savings::Derived(at_par) = &r.savings else {
        panic!("par savings: {:?}", r.savings);
    };
    assert_eq!(st.coupon, Some(coupon));
    assert_eq!(
        Some(st.per_unit),
        stepped.figures.issuer_savings_per_unit,
        "the recorded figure is at the coupon in force"
    );
    assert!(
        st.per_unit < at_par.per_unit,
        "{} < {}",
        st.per_unit,
        at_par.per_unit
    );
    // Each coupon date saves what the market par coupon (about 6.5 %) pays
    // above 5 %: about 32.50 - 25.00 a unit for a half year.
    let paid = stepped.schedule[1].amount_per_unit.expect("fixed");
    assert_eq!(paid, dec("25"), "5 % of 1,000 for a half year");
    let saved = st.per_date[1].1 / Decimal::from(300);
    assert!(saved > dec("7") && saved < dec("8"), "{saved}");

    let zero = series(
        terms(CouponSpec::Zero, diaspora_given(&CouponSpec::Zero)),
        SeriesStatus::Open,
    );
    let r = series_report(&State::new(), &zero, &BookTimeline::default());
    let Savings::Derived(sv) = &r.savings else {
        panic!("zero coupon savings: {:?}", r.savings);
    };
    assert!(sv.per_date.is_empty() && sv.market_coupon.is_none());
    assert!(sv.total > Decimal::ZERO);

    let stated = series(
        terms(
            CouponSpec::Fixed(Some(dec("0.05"))),
            PricingSpec::IssuePrice(dec("100")),
        ),
        SeriesStatus::Open,
    );
    let r = series_report(&State::new(), &stated, &BookTimeline::default());
    assert_eq!(r.savings, Savings::NotDiaspora);
    assert!(chart::savings(&r).expect("draws").is_none());
}

/// Checks that a chart is one `<svg>` element whose tags nest and close.
fn assert_well_formed_svg(svg: &str) {
    assert!(svg.trim_start().starts_with("<svg"), "{svg:.80}");
    assert!(svg.trim_end().ends_with("</svg>"));
    let mut open: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("tag closes");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if let Some(closing) = tag.strip_prefix('/') {
            assert_eq!(open.pop().as_deref(), Some(closing.trim()), "tag nesting");
        } else if !tag.ends_with('/') {
            open.push(name);
        }
    }
    assert!(open.is_empty(), "unclosed tags: {open:?}");
}

#[test]
fn every_chart_draws_for_empty_and_busy_series_and_writes_no_raw_markup() {
    for status in [
        SeriesStatus::Draft,
        SeriesStatus::Open,
        SeriesStatus::Cancelled,
    ] {
        for coupon in [CouponSpec::Fixed(None), CouponSpec::Zero] {
            let s = series(terms(coupon.clone(), diaspora_given(&coupon)), status);
            let timeline = BookTimeline {
                opened_at: Some(at(0)),
                closed_at: None,
                changes: (0..40)
                    .map(|i| BookChange::Submitted {
                        at: at(i * 37),
                        units: 1 + i as u64,
                    })
                    .collect(),
            };
            for t in [BookTimeline::default(), timeline] {
                let r = series_report(&State::new(), &s, &t);
                let charts = [
                    chart::book_timeline(&r).expect("timeline"),
                    chart::book_breakdown(&r, chart::Breakdown::Country).expect("country"),
                    chart::book_breakdown(&r, chart::Breakdown::Category).expect("category"),
                    chart::debt_service(&r).expect("debt service"),
                    chart::savings(&r).expect("savings").expect("diaspora"),
                ];
                for svg in &charts {
                    assert_well_formed_svg(svg);
                    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
                }
                assert!(charts[3].contains(&format::money(
                    r.debt_service_total(CashFlowKind::Redemption),
                    Currency::USD
                )));
            }
        }
    }
}

#[test]
fn the_harness_can_fail() {
    let bad = std::panic::catch_unwind(|| assert_well_formed_svg("<svg><g></svg>"));
    assert!(bad.is_err(), "a mis-nested svg must be refused");
    let unclosed = std::panic::catch_unwind(|| assert_well_formed_svg("<svg><g>"));
    assert!(unclosed.is_err());
}
