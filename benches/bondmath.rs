//! Bond-math benchmarks on a 30-year semiannual ACT/ACT ICMA bond: schedule
//! generation, accrued interest, price from yield and yield from price.
//! `benches/quantlib_bench.py` times the same operations with QuantLib.

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use dbond::calendar::{
    BusinessDayConvention, Calendar, DateGeneration, Frequency, Schedule, ScheduleRule,
};
use dbond::pricing::{Bond, BondTerms};
use rust_decimal::Decimal;
use std::hint::black_box;
use std::str::FromStr;

const TERMS: &str = r#"{"face": "1000", "coupon_rate": "0.0525", "frequency": "semiannual",
    "day_count": "ACT/ACT ICMA", "issue_date": "2026-03-16", "maturity_date": "2056-03-16",
    "first_coupon_date": null, "business_day_convention": "following", "calendar": "weekends_only",
    "end_of_month": false, "date_generation": "backward", "accrual_dates": "unadjusted",
    "payment_lag_days": 0}"#;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("benchmark date")
}

fn benches(c: &mut Criterion) {
    let (terms, fixings) = BondTerms::from_json(TERMS).expect("benchmark terms");
    let calendar = Calendar::by_name("weekends_only").expect("calendar");
    let rule = ScheduleRule {
        effective: date("2026-03-16"),
        termination: date("2056-03-16"),
        frequency: Frequency::Semiannual,
        convention: BusinessDayConvention::Unadjusted,
        termination_convention: BusinessDayConvention::Unadjusted,
        generation: DateGeneration::Backward,
        end_of_month: false,
        first_date: None,
    };
    let bond = Bond::new(&terms, &fixings).expect("bond");
    let settle = date("2031-07-09");
    let y = Decimal::from_str("0.0575").expect("yield");
    let clean = bond.clean_price(settle, y).expect("price");

    c.bench_function("schedule_30y_semiannual", |b| {
        b.iter(|| Schedule::generate(black_box(&rule), &calendar).expect("schedule"))
    });
    c.bench_function("bond_build_30y_semiannual", |b| {
        b.iter(|| Bond::new(black_box(&terms), &fixings).expect("bond"))
    });
    c.bench_function("accrued_30y_semiannual", |b| {
        b.iter(|| bond.accrued(black_box(settle)).expect("accrued"))
    });
    c.bench_function("price_from_yield_30y_semiannual", |b| {
        b.iter(|| bond.price(black_box(settle), black_box(y)).expect("price"))
    });
    c.bench_function("yield_from_price_30y_semiannual", |b| {
        b.iter(|| {
            bond.yield_from_clean_price(black_box(settle), black_box(clean))
                .expect("yield")
        })
    });
}

criterion_group!(bondmath, benches);
criterion_main!(bondmath);
