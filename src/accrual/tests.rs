//! Unit and property tests of the accrual engine, through its public API.

use super::*;
use crate::calendar::{
    AccrualDates, BusinessDayConvention, CalendarName, DateGeneration, DayCount, Frequency,
    dates::add_months,
};
use crate::money::{Currency, RoundingRule, Units};
use crate::pricing::{Bond, BondTerms, CashFlowKind, CouponType, Fixings, TermsInput};
use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::HashSet;

fn d(s: &str) -> NaiveDate {
    crate::calendar::dates::parse_date(s).unwrap()
}

/// Semiannual 5% 30/360 US, 2026-03-16 (Monday) to 2029-03-16 (Friday), paid
/// following on weekends, record date two business days before payment; each
/// `(key, json)` pair replaces or adds a key (`null` removes it).
fn terms(overrides: &[(&str, &str)]) -> (BondTerms, Fixings) {
    let base = r#"{"face": "1000", "coupon_rate": "0.05", "frequency": "semiannual",
        "day_count": "30/360 US", "issue_date": "2026-03-16", "maturity_date": "2029-03-16",
        "business_day_convention": "following", "calendar": "weekends_only",
        "record_date_lag_days": 2}"#;
    let mut v: serde_json::Value = serde_json::from_str(base).unwrap();
    for (key, value) in overrides {
        let value: serde_json::Value = serde_json::from_str(value).unwrap();
        if value.is_null() {
            v.as_object_mut().unwrap().remove(*key);
        } else {
            v[*key] = value;
        }
    }
    BondTerms::from_json(&v.to_string()).unwrap()
}

fn series<'a>(terms: &'a BondTerms, rounding: RoundingRule) -> SeriesInput<'a> {
    SeriesInput {
        series_id: "AZ-2029-USD",
        currency: Currency::USD,
        terms,
        rounding,
    }
}

fn holding<'a>(investor_ref: &'a str, bank_id: &'a str, units: u64) -> HoldingInput<'a> {
    HoldingInput {
        investor_ref,
        bank_id,
        units: Units::new(units),
    }
}

fn nothing_posted(_: &EventId) -> bool {
    false
}

fn all_due(
    series: &SeriesInput,
    holdings: &[HoldingInput],
    fixings: &Fixings,
    through: NaiveDate,
) -> DueReport {
    due_events(series, holdings, fixings, &nothing_posted, through).unwrap()
}

fn ids(due: &[Due]) -> Vec<String> {
    due.iter().map(|e| e.id().to_string()).collect()
}

/// Asks day by day from `from` to `to`, posting everything returned; the
/// concatenation of what each day returned, and the waiting list of the last day.
fn day_by_day(
    series: &SeriesInput,
    holdings: &[HoldingInput],
    fixings: &Fixings,
    from: NaiveDate,
    to: NaiveDate,
) -> (Vec<Due>, Vec<Waiting>) {
    let days: Vec<NaiveDate> = from.iter_days().take_while(|day| *day <= to).collect();
    in_steps(series, holdings, fixings, &days)
}

/// Asks through each date of `steps` in turn, posting everything returned.
fn in_steps(
    series: &SeriesInput,
    holdings: &[HoldingInput],
    fixings: &Fixings,
    steps: &[NaiveDate],
) -> (Vec<Due>, Vec<Waiting>) {
    let mut posted: HashSet<EventId> = HashSet::new();
    let mut all = Vec::new();
    let mut waiting = Vec::new();
    for &through in steps {
        let report = due_events(
            series,
            holdings,
            fixings,
            &|id| posted.contains(id),
            through,
        )
        .unwrap();
        for event in report.due {
            assert!(posted.insert(event.id().clone()), "{} twice", event.id());
            all.push(event);
        }
        waiting = report.waiting;
    }
    (all, waiting)
}

/// The payment side of a coupon or redemption.
struct PaidView<'a> {
    payments: &'a [Payment],
    banks: &'a [BankTotal],
    total: Decimal,
    residue: Decimal,
    per_unit: Decimal,
}

fn payments_of(event: &Due) -> Option<PaidView<'_>> {
    match event {
        Due::RecordDate { .. } => None,
        Due::Coupon {
            payments,
            bank_totals,
            total,
            residue,
            amount_per_unit,
            ..
        }
        | Due::Redemption {
            payments,
            bank_totals,
            total,
            residue,
            amount_per_unit,
            ..
        } => Some(PaidView {
            payments,
            banks: bank_totals,
            total: *total,
            residue: *residue,
            per_unit: *amount_per_unit,
        }),
    }
}

// ---------------------------------------------------------------------------
// Event ids.

fn check_id(text: &str, expected: Option<EventId>) {
    let parsed = text.parse::<EventId>();
    match expected {
        Some(id) => {
            assert_eq!(parsed.as_ref(), Ok(&id), "{text:?}");
            assert_eq!(id.to_string(), text, "display of {id:?}");
        }
        None => {
            let err = parsed.expect_err(text).to_string();
            assert!(err.contains("invalid event id"), "{text:?}: {err}");
        }
    }
}

#[test]
fn event_ids_read_back_exactly_and_refuse_anything_else() {
    let s = |x: &str| x.to_string();
    check_id(
        "AZ-2031-USD/record/3",
        Some(EventId::RecordDate {
            series_id: s("AZ-2031-USD"),
            flow: 3,
        }),
    );
    check_id(
        "AZ-2031-USD/coupon/3",
        Some(EventId::Coupon {
            series_id: s("AZ-2031-USD"),
            flow: 3,
        }),
    );
    check_id(
        "AZ-2031-USD/redemption",
        Some(EventId::Redemption {
            series_id: s("AZ-2031-USD"),
        }),
    );
    check_id(
        "AZ/2031/coupon/0",
        Some(EventId::Coupon {
            series_id: s("AZ/2031"),
            flow: 0,
        }),
    );
    check_id(
        "x/record/redemption",
        Some(EventId::Redemption {
            series_id: s("x/record"),
        }),
    );
    check_id(
        "x/coupon/4294967295",
        Some(EventId::Coupon {
            series_id: s("x"),
            flow: u32::MAX,
        }),
    );
    // Tampered twins of the valid forms.
    for bad in [
        "",
        "AZ-2031-USD",
        "/redemption",
        "/coupon/3",
        "AZ-2031-USD/coupon/03",
        "AZ-2031-USD/coupon/+3",
        "AZ-2031-USD/coupon/-3",
        "AZ-2031-USD/coupon/",
        "AZ-2031-USD/coupon/3 ",
        "AZ-2031-USD/Coupon/3",
        "AZ-2031-USD/coupon/3/",
        "AZ-2031-USD/redemption/0",
        "AZ-2031-USD/redemption/",
        "AZ-2031-USD/interest/3",
        "AZ-2031-USD/coupon/4294967296",
        "coupon/3",
    ] {
        check_id(bad, None);
    }
    // Ids order by kind, then series, then flow (serde round trip too).
    let id = EventId::RecordDate {
        series_id: s("S"),
        flow: 7,
    };
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(serde_json::from_str::<EventId>(&json).unwrap(), id);
}

// ---------------------------------------------------------------------------
// Rounding.

/// Face 10 at 2.5% semiannual 30/360: exactly 0.125 a unit each period.
fn check_rounding(
    rule: RoundingRule,
    currency: Currency,
    units: &[u64],
    expected_amounts: &[Decimal],
    expected_residue: Decimal,
) {
    let (t, f) = terms(&[("face", "\"10\""), ("coupon_rate", "\"0.025\"")]);
    let s = SeriesInput {
        currency,
        ..series(&t, rule)
    };
    let names: Vec<String> = (0..units.len()).map(|i| format!("inv-{i}")).collect();
    let holdings: Vec<HoldingInput> = names
        .iter()
        .zip(units)
        .map(|(n, &u)| holding(n, "bank", u))
        .collect();
    let report = all_due(&s, &holdings, &f, d("2026-09-16"));
    let Some(Due::Coupon {
        amount_per_unit,
        payments,
        total,
        residue,
        ..
    }) = report.due.last()
    else {
        panic!("no coupon in {report:?}");
    };
    assert_eq!(*amount_per_unit, dec!(0.125));
    let amounts: Vec<Decimal> = payments.iter().map(|p| p.amount).collect();
    assert_eq!(amounts, expected_amounts, "{rule} {currency} {units:?}");
    assert_eq!(*total, amounts.iter().sum::<Decimal>());
    assert_eq!(*residue, expected_residue, "{rule} {currency} {units:?}");
}

#[test]
fn each_payment_is_rounded_once_and_the_residue_is_stated() {
    use RoundingRule::*;
    let usd = Currency::USD;
    // 1, 3 and 5 units of 0.125: 0.125, 0.375, 0.625; exact total 1.125.
    let units = [1, 3, 5];
    check_rounding(
        HalfEven,
        usd,
        &units,
        &[dec!(0.12), dec!(0.38), dec!(0.62)],
        dec!(0.005),
    );
    check_rounding(
        HalfUp,
        usd,
        &units,
        &[dec!(0.13), dec!(0.38), dec!(0.63)],
        dec!(-0.015),
    );
    check_rounding(
        Down,
        usd,
        &units,
        &[dec!(0.12), dec!(0.37), dec!(0.62)],
        dec!(0.015),
    );
    check_rounding(
        Up,
        usd,
        &units,
        &[dec!(0.13), dec!(0.38), dec!(0.63)],
        dec!(-0.015),
    );
    // Units × the unrounded per-unit amount, then one rounding: 8 × 0.125 = 1.
    check_rounding(HalfEven, usd, &[8], &[dec!(1.000)], dec!(0));
    // Yen has no minor unit: 12 × 0.125 = 1.5 rounds to 2 half-even, 1 down.
    check_rounding(
        HalfEven,
        Currency::JPY,
        &[12, 4],
        &[dec!(2), dec!(0)],
        dec!(0),
    );
    check_rounding(Down, Currency::JPY, &[12, 4], &[dec!(1), dec!(0)], dec!(1));
    // Zero-unit holdings are not paid; no holdings pay nothing.
    check_rounding(HalfEven, usd, &[0, 3, 0], &[dec!(0.38)], dec!(-0.005));
    check_rounding(HalfEven, usd, &[], &[], dec!(0));
}

#[test]
fn bank_totals_are_sorted_and_add_up_to_the_total() {
    let (t, f) = terms(&[]);
    let s = series(&t, RoundingRule::HalfEven);
    let holdings = [
        holding("a", "kapital", 3),
        holding("b", "abb", 2),
        holding("c", "kapital", 0),
        holding("d", "pasha", 1),
        holding("e", "abb", 5),
        holding("a", "pasha", 4),
        holding("f", "zero-only", 0),
    ];
    let report = all_due(&s, &holdings, &f, d("2026-09-16"));
    let PaidView {
        payments,
        banks,
        total,
        residue,
        per_unit,
    } = payments_of(&report.due[1]).unwrap();
    assert_eq!(per_unit, dec!(25));
    let named: Vec<(&str, &str, u64, Decimal)> = payments
        .iter()
        .map(|p| {
            (
                p.investor_ref.as_str(),
                p.bank_id.as_str(),
                p.units.get(),
                p.amount,
            )
        })
        .collect();
    assert_eq!(
        named,
        vec![
            ("a", "kapital", 3, dec!(75)),
            ("b", "abb", 2, dec!(50)),
            ("d", "pasha", 1, dec!(25)),
            ("e", "abb", 5, dec!(125)),
            ("a", "pasha", 4, dec!(100)),
        ]
    );
    let bank = |id: &str, holdings, units, amount| BankTotal {
        bank_id: id.to_string(),
        holdings,
        units: Units::new(units),
        amount,
    };
    assert_eq!(
        banks,
        &[
            bank("abb", 2, 7, dec!(175)),
            bank("kapital", 1, 3, dec!(75)),
            bank("pasha", 2, 5, dec!(125)),
        ]
    );
    assert_eq!(total, dec!(375));
    assert_eq!(residue, dec!(0));
    let Due::RecordDate { holders, units, .. } = &report.due[0] else {
        panic!("{:?}", report.due[0]);
    };
    assert_eq!((*holders, units.get()), (5, 15));
}

// ---------------------------------------------------------------------------
// Events: order, exactly once, record dates.

#[test]
fn record_dates_come_first_and_the_redemption_last() {
    let (t, f) = terms(&[]);
    let s = series(&t, RoundingRule::HalfEven);
    let holdings = [holding("a", "abb", 10)];
    // Nothing before issue, nor on the issue date itself.
    assert_eq!(
        all_due(&s, &holdings, &f, d("2026-03-16")),
        DueReport::default()
    );
    // 2026-09-16 is a Wednesday: record date Monday 14th.
    assert_eq!(
        ids(&all_due(&s, &holdings, &f, d("2026-09-14")).due),
        ["AZ-2029-USD/record/0"]
    );
    let report = all_due(&s, &holdings, &f, d("2040-01-01"));
    assert!(report.waiting.is_empty());
    let expected: Vec<String> = (0..6)
        .flat_map(|i| {
            let mut v = vec![format!("AZ-2029-USD/record/{i}")];
            if i == 5 {
                v.push("AZ-2029-USD/record/6".into());
            }
            v.push(format!("AZ-2029-USD/coupon/{i}"));
            v
        })
        .chain(["AZ-2029-USD/redemption".to_string()])
        .collect();
    assert_eq!(ids(&report.due), expected);
    let dates: Vec<NaiveDate> = report.due.iter().map(Due::date).collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
    // 2028-09-16 is a Saturday: paid Monday 18th, record date Thursday 14th.
    let Due::RecordDate {
        record_date,
        payment_date,
        ..
    } = &report.due[8]
    else {
        panic!("{:?}", report.due[8]);
    };
    assert_eq!(
        (*record_date, *payment_date),
        (d("2028-09-14"), d("2028-09-18"))
    );
    assert_eq!(report.due[9].date(), d("2028-09-18"));
    let Due::Redemption {
        amount_per_unit,
        total,
        payment_date,
        ..
    } = report.due.last().unwrap()
    else {
        panic!("{report:?}");
    };
    assert_eq!((*amount_per_unit, *total), (dec!(1000), dec!(10000)));
    assert_eq!(*payment_date, d("2029-03-16"));
}

#[test]
fn posted_events_are_never_returned_again() {
    let (t, f) = terms(&[]);
    let s = series(&t, RoundingRule::HalfEven);
    let holdings = [holding("a", "abb", 10), holding("b", "pasha", 7)];
    let first = all_due(&s, &holdings, &f, d("2027-12-31"));
    let posted: HashSet<EventId> = first.due.iter().map(|e| e.id().clone()).collect();
    assert_eq!(posted.len(), 6);
    let is_posted = |id: &EventId| posted.contains(id);
    for through in ["2026-01-01", "2026-09-16", "2027-12-31"] {
        let again = due_events(&s, &holdings, &f, &is_posted, d(through)).unwrap();
        assert_eq!(again, DueReport::default(), "through {through}");
    }
    // A later call returns only what is new; with everything posted, nothing.
    let later = due_events(&s, &holdings, &f, &is_posted, d("2028-03-16")).unwrap();
    assert_eq!(
        ids(&later.due),
        ["AZ-2029-USD/record/3", "AZ-2029-USD/coupon/3"]
    );
    let everything = |_: &EventId| true;
    let after = due_events(&s, &holdings, &f, &everything, d("2100-01-01")).unwrap();
    assert_eq!(after, DueReport::default());
    // Posting out of order leaves the missed event due.
    let skipped = |id: &EventId| id.to_string() != "AZ-2029-USD/coupon/1";
    let missed = due_events(&s, &holdings, &f, &skipped, d("2100-01-01")).unwrap();
    assert_eq!(ids(&missed.due), ["AZ-2029-USD/coupon/1"]);
}

#[test]
fn a_limited_report_is_the_start_of_the_full_one() {
    let (t, f) = terms(&[]);
    let s = series(&t, RoundingRule::HalfEven);
    let holdings = [holding("a", "abb", 10), holding("b", "pasha", 7)];
    let through = d("2100-01-01");
    let all = due_events(&s, &holdings, &f, &nothing_posted, through).unwrap();
    assert!(all.due.len() > 3, "{all:?}");
    for limit in [0, 1, 2, all.due.len(), all.due.len() + 5] {
        let first = due_events_limited(&s, &holdings, &f, &nothing_posted, through, limit).unwrap();
        assert_eq!(
            first.due,
            all.due[..limit.min(all.due.len())],
            "limit {limit}"
        );
    }
    // After a missed coupon, the first due is that coupon, with its payments.
    let skipped = |id: &EventId| id.to_string().ends_with("/record/1");
    let missed = due_events(&s, &holdings, &f, &skipped, through).unwrap();
    let first = due_events_limited(&s, &holdings, &f, &skipped, through, 1).unwrap();
    assert_eq!(first.due, missed.due[..1]);
    assert_eq!(ids(&first.due), ["AZ-2029-USD/record/0"]);
}

#[test]
fn catching_up_equals_running_daily() {
    let (t, f) = terms(&[
        ("frequency", "\"quarterly\""),
        ("record_date_lag_days", "5"),
    ]);
    let s = series(&t, RoundingRule::HalfUp);
    let holdings = [holding("a", "abb", 3), holding("b", "pasha", 7)];
    let end = d("2029-04-01");
    let once = all_due(&s, &holdings, &f, end);
    let (daily, waiting) = day_by_day(&s, &holdings, &f, d("2026-01-01"), end);
    assert_eq!(once.due, daily);
    assert_eq!(once.waiting, waiting);
    assert_eq!(once.due.len(), 12 * 2 + 2);
}

#[test]
fn no_record_date_events_without_a_record_date_lag() {
    let (t, f) = terms(&[("record_date_lag_days", "null")]);
    let s = series(&t, RoundingRule::HalfEven);
    let report = all_due(&s, &[holding("a", "abb", 1)], &f, d("2040-01-01"));
    assert!(
        report
            .due
            .iter()
            .all(|e| !matches!(e, Due::RecordDate { .. }))
    );
    assert_eq!(report.due.len(), 7);
    // A lag of zero keeps record dates, on the payment date itself.
    let (t, f) = terms(&[("record_date_lag_days", "0")]);
    let s = series(&t, RoundingRule::HalfEven);
    let report = all_due(&s, &[holding("a", "abb", 1)], &f, d("2026-09-16"));
    assert_eq!(
        ids(&report.due),
        ["AZ-2029-USD/record/0", "AZ-2029-USD/coupon/0"]
    );
    assert_eq!(report.due[0].date(), report.due[1].date());
}

#[test]
fn a_record_date_before_issue_is_taken_as_the_issue_date() {
    // A 15-day first period with a 20-business-day record lag.
    let (t, f) = terms(&[
        ("first_coupon_date", "\"2026-03-31\""),
        ("record_date_lag_days", "20"),
    ]);
    let s = series(&t, RoundingRule::HalfEven);
    let report = all_due(&s, &[holding("a", "abb", 1)], &f, d("2026-03-16"));
    assert_eq!(ids(&report.due), ["AZ-2029-USD/record/0"]);
    assert_eq!(report.due[0].date(), d("2026-03-16"));
    assert_eq!(
        all_due(&s, &[holding("a", "abb", 1)], &f, d("2026-03-15")),
        DueReport::default()
    );
}

#[test]
fn step_up_coupons_pay_the_rate_in_force_at_period_start() {
    let (t, f) = terms(&[
        ("coupon_type", "\"step_up\""),
        ("step_up", r#"[{"from": "2027-03-16", "rate": "0.06"}]"#),
    ]);
    let s = series(&t, RoundingRule::HalfEven);
    let report = all_due(&s, &[holding("a", "abb", 2)], &f, d("2040-01-01"));
    let coupons: Vec<(Decimal, Decimal)> = report
        .due
        .iter()
        .filter_map(|e| match e {
            Due::Coupon {
                rate,
                amount_per_unit,
                ..
            } => Some((rate.fraction(), *amount_per_unit)),
            _ => None,
        })
        .collect();
    let (a, b) = ((dec!(0.05), dec!(25)), (dec!(0.06), dec!(30)));
    assert_eq!(coupons, [a, a, b, b, b, b]);
}

// ---------------------------------------------------------------------------
// Floating coupons.

#[test]
fn a_floating_coupon_waits_for_its_fixing_then_pays_with_floor_and_spread() {
    let floating = r#"{"reference": "SOFR", "spread": "0.01", "floor": "0.02"}"#;
    let (t, _) = terms(&[
        ("coupon_rate", "null"),
        ("coupon_type", "\"floating\""),
        ("floating", floating),
    ]);
    let s = series(&t, RoundingRule::HalfEven);
    let holdings = [holding("a", "abb", 3)];
    let mut fixings = Fixings::new();
    fixings.insert("SOFR", d("2026-03-16"), dec!(0.043));
    fixings.insert("SOFR", d("2026-09-16"), dec!(0.001));
    let report = all_due(&s, &holdings, &fixings, d("2027-09-16"));
    // 4.3% + 1% = 5.3%; 0.1% + 1% floored at 2%; the third period is waiting,
    // but its record date is fixed.
    let coupons: Vec<(String, Decimal, Decimal, Decimal)> = report
        .due
        .iter()
        .filter_map(|e| match e {
            Due::Coupon {
                id,
                rate,
                amount_per_unit,
                total,
                ..
            } => Some((id.to_string(), rate.fraction(), *amount_per_unit, *total)),
            _ => None,
        })
        .collect();
    let coupon = |flow: u32, rate, per_unit, total| {
        (format!("AZ-2029-USD/coupon/{flow}"), rate, per_unit, total)
    };
    assert_eq!(
        coupons,
        [
            coupon(0, dec!(0.053), dec!(26.5), dec!(79.5)),
            coupon(1, dec!(0.02), dec!(10), dec!(30)),
        ]
    );
    assert_eq!(
        ids(&report.due).last().map(String::as_str),
        Some("AZ-2029-USD/record/2")
    );
    assert_eq!(
        report.waiting,
        [Waiting {
            series_id: "AZ-2029-USD".into(),
            flow: 2,
            reference: "SOFR".into(),
            fixing_date: d("2027-03-16"),
            payment_date: d("2027-09-16"),
        }]
    );
    assert_eq!(
        report.waiting[0].coupon_id().to_string(),
        "AZ-2029-USD/coupon/2"
    );
    // Waiting is reported once the payment is due, not before.
    let early = all_due(&s, &holdings, &fixings, d("2027-09-15"));
    assert!(early.waiting.is_empty());
    // A waiting coupon blocks nothing else: the redemption is paid at maturity.
    let end = all_due(&s, &holdings, &fixings, d("2040-01-01"));
    assert_eq!(end.waiting.len(), 4);
    assert_eq!(
        ids(&end.due).last().map(String::as_str),
        Some("AZ-2029-USD/redemption")
    );
    // Accrued interest inside the waiting period is an error, never a guess.
    let err = accrued_per_unit(&s, &fixings, d("2027-04-01")).unwrap_err();
    assert_eq!(
        err,
        AccrualError::MissingFixing {
            series_id: "AZ-2029-USD".into(),
            reference: "SOFR".into(),
            fixing_date: d("2027-03-16"),
        }
    );
    assert!(err.to_string().contains("never guessed"), "{err}");
    // Once the fixing is published, the coupon becomes due (4% + 1%).
    let posted: HashSet<EventId> = report.due.iter().map(|e| e.id().clone()).collect();
    fixings.insert("SOFR", d("2027-03-16"), dec!(0.04));
    let now = due_events(
        &s,
        &holdings,
        &fixings,
        &|id| posted.contains(id),
        d("2027-09-16"),
    )
    .unwrap();
    assert!(now.waiting.is_empty());
    let [
        Due::Coupon {
            id,
            rate,
            amount_per_unit,
            total,
            ..
        },
    ] = now.due.as_slice()
    else {
        panic!("{now:?}");
    };
    assert_eq!(id.to_string(), "AZ-2029-USD/coupon/2");
    assert_eq!(
        (rate.fraction(), *amount_per_unit, *total),
        (dec!(0.05), dec!(25), dec!(75))
    );
}

// ---------------------------------------------------------------------------
// Accumulating and zero coupon series.

#[test]
fn an_accumulating_redemption_pays_face_plus_compounded_interest() {
    let (t, f) = terms(&[
        ("coupon_rate", "\"0.06\""),
        ("coupon_type", "\"accumulating\""),
        ("day_count", "\"ACT/ACT ICMA\""),
    ]);
    let s = series(&t, RoundingRule::HalfEven);
    let holdings = [holding("a", "abb", 3)];
    let report = all_due(&s, &holdings, &f, d("2040-01-01"));
    // The bond math lists the interest as a coupon row (flow 0) beside the
    // redemption (flow 1); holders get both in the redemption.
    assert_eq!(
        ids(&report.due),
        ["AZ-2029-USD/record/1", "AZ-2029-USD/redemption"]
    );
    let Due::Redemption {
        amount_per_unit,
        payments,
        residue,
        ..
    } = &report.due[1]
    else {
        panic!("{report:?}");
    };
    let growth = dec!(1.03) * dec!(1.03) * dec!(1.03) * dec!(1.03) * dec!(1.03) * dec!(1.03);
    assert!((*amount_per_unit - dec!(1000) * growth).abs() < dec!(1e-20));
    assert_eq!(payments[0].amount, dec!(3582.16));
    assert!(residue.abs() <= dec!(0.005));
    // Accrued is the accreted interest: accreted value − face.
    let bond = Bond::new(&t, &f).unwrap();
    for day in ["2026-03-16", "2027-09-16", "2028-01-01", "2029-03-15"] {
        let a = accrued_per_unit(&s, &f, d(day)).unwrap();
        let accreted = bond.accreted_value(d(day), None).unwrap();
        assert!((a - (accreted - dec!(1000))).abs() < dec!(1e-20), "{day}");
    }
    let half = accrued_per_unit(&s, &f, d("2027-09-16")).unwrap();
    assert!((half - dec!(92.727)).abs() < dec!(1e-20), "{half}");
    assert_eq!(
        accrued_per_unit(&s, &f, d("2029-03-16")).unwrap(),
        Decimal::ZERO
    );
}

#[test]
fn a_zero_coupon_series_redeems_at_face_and_accrues_nothing() {
    let (t, f) = terms(&[("coupon_rate", "\"0\""), ("frequency", "\"zero\"")]);
    assert_eq!(t.coupon(), &CouponType::Zero);
    let s = series(&t, RoundingRule::HalfEven);
    let report = all_due(&s, &[holding("a", "abb", 2)], &f, d("2040-01-01"));
    assert_eq!(
        ids(&report.due),
        ["AZ-2029-USD/record/0", "AZ-2029-USD/redemption"]
    );
    let PaidView {
        total,
        residue,
        per_unit,
        ..
    } = payments_of(&report.due[1]).unwrap();
    assert_eq!(
        (per_unit, total, residue),
        (dec!(1000), dec!(2000), dec!(0))
    );
    assert_eq!(
        accrued_per_unit(&s, &f, d("2027-01-01")).unwrap(),
        Decimal::ZERO
    );
}

// ---------------------------------------------------------------------------
// Accrued interest.

#[test]
fn accrued_is_zero_on_a_coupon_date_and_grows_daily() {
    let (t, f) = terms(&[("day_count", "\"ACT/365F\"")]);
    let s = series(&t, RoundingRule::HalfEven);
    let bond = Bond::new(&t, &f).unwrap();
    let names = ["a", "b", "c"];
    let holdings = [
        holding(names[0], "abb", 1),
        holding(names[1], "abb", 1234),
        holding(names[2], "pasha", 0),
    ];
    // 2026-09-16 and 2027-03-16 are business days: coupon dates paid on the day.
    for day in ["2026-03-16", "2026-09-16", "2027-03-16"] {
        assert_eq!(
            accrued_per_unit(&s, &f, d(day)).unwrap(),
            Decimal::ZERO,
            "{day}"
        );
    }
    let mut previous = Decimal::ZERO;
    for day in d("2026-09-17")
        .iter_days()
        .take_while(|x| *x < d("2027-03-16"))
    {
        let a = accrued(&s, &holdings, &f, day).unwrap();
        assert!(
            a.per_unit > previous,
            "{day}: {} after {previous}",
            a.per_unit
        );
        previous = a.per_unit;
        assert_eq!(a.per_unit, bond.accrued(day).unwrap());
        assert_eq!(a.per_holding[0], a.per_unit);
        assert_eq!(a.per_holding[1], a.per_unit * dec!(1234));
        assert_eq!(a.per_holding[2], Decimal::ZERO);
        assert_eq!(a.total, a.per_unit * dec!(1235));
    }
    // The same as one bond of face 1234 units × 1000, to decimal precision.
    let big = Bond::new(&t.with_face(dec!(1234000)).unwrap(), &f).unwrap();
    let day = d("2026-12-01");
    let a = accrued(&s, &holdings, &f, day).unwrap();
    assert!((a.per_holding[1] - big.accrued(day).unwrap()).abs() < dec!(1e-20));
    // 30/360 by hand: 75 days of 180 of a 25 coupon.
    let (t, f) = terms(&[]);
    let s = series(&t, RoundingRule::HalfEven);
    let a = accrued_per_unit(&s, &f, d("2026-12-01")).unwrap();
    assert!(
        (a - dec!(25) * dec!(75) / dec!(180)).abs() < dec!(1e-24),
        "{a}"
    );
}

#[test]
fn accrued_is_zero_before_issue_and_after_the_last_payment() {
    let (t, f) = terms(&[]);
    let s = series(&t, RoundingRule::HalfEven);
    let holdings = [holding("a", "abb", 5)];
    for day in ["1990-01-01", "2026-03-15", "2029-03-16", "2100-01-01"] {
        let a = accrued(&s, &holdings, &f, d(day)).unwrap();
        assert_eq!(
            a,
            Accrued {
                per_unit: Decimal::ZERO,
                per_holding: vec![Decimal::ZERO],
                total: Decimal::ZERO
            },
            "{day}"
        );
    }
    assert!(accrued_per_unit(&s, &f, d("2029-03-15")).unwrap() > dec!(24));
}

// ---------------------------------------------------------------------------
// Bad input.

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let (t, f) = terms(&[("face", "\"1000000000000000\""), ("coupon_rate", "\"9\"")]);
    let s = series(&t, RoundingRule::HalfEven);
    let huge = [holding("a", "abb", u64::MAX), holding("b", "abb", u64::MAX)];
    let err = due_events(&s, &huge, &f, &nothing_posted, d("2040-01-01")).unwrap_err();
    assert!(matches!(err, AccrualError::Overflow { .. }), "{err}");
    assert!(err.to_string().contains("too large"), "{err}");
    let err = accrued(&s, &huge, &f, d("2027-01-01")).unwrap_err();
    assert!(matches!(err, AccrualError::Overflow { .. }), "{err}");
    // Units alone overflow a record date's count.
    let (t, f) = terms(&[]);
    let s = series(&t, RoundingRule::HalfEven);
    let err = due_events(&s, &huge, &f, &nothing_posted, d("2026-09-14")).unwrap_err();
    assert!(matches!(err, AccrualError::Overflow { .. }), "{err}");
    let no_id = SeriesInput { series_id: "", ..s };
    assert_eq!(
        due_events(&no_id, &[], &f, &nothing_posted, d("2040-01-01")),
        Err(AccrualError::EmptySeriesId)
    );
    assert_eq!(
        accrued(&no_id, &[], &f, d("2027-01-01")),
        Err(AccrualError::EmptySeriesId)
    );
}

#[test]
fn indexed_events_match_named_events() {
    let (t, f) = terms(&[("face", "\"100\""), ("coupon_rate", "\"0.0333\"")]);
    let s = series(&t, RoundingRule::HalfUp);
    let holdings = [
        holding("a", "abb", 7),
        holding("b", "pasha", 0),
        holding("c", "abb", 11),
    ];
    let named = all_due(&s, &holdings, &f, d("2040-01-01"));
    let indexed = due_events_indexed(&s, &holdings, &f, &nothing_posted, d("2040-01-01")).unwrap();
    assert_eq!(named.waiting, indexed.waiting);
    assert_eq!(named.due.len(), indexed.due.len());
    for (n, i) in named.due.iter().zip(&indexed.due) {
        let mut event = i.event.clone();
        let payments: Vec<Payment> = i
            .payments
            .iter()
            .map(|p| Payment {
                investor_ref: holdings[p.holding].investor_ref.into(),
                bank_id: holdings[p.holding].bank_id.into(),
                units: holdings[p.holding].units,
                amount: p.amount,
            })
            .collect();
        if let Due::Coupon { payments: slot, .. } | Due::Redemption { payments: slot, .. } =
            &mut event
        {
            assert!(slot.is_empty());
            *slot = payments;
        }
        assert_eq!(n, &event);
    }
}

#[test]
fn the_harness_can_fail() {
    // A deliberately wrong expectation must be caught by the rounding check.
    let caught = std::panic::catch_unwind(|| {
        check_rounding(
            RoundingRule::HalfEven,
            Currency::USD,
            &[1],
            &[dec!(0.13)],
            dec!(-0.005),
        )
    });
    assert!(caught.is_err());
    // And the catch-up comparison notices a missing event.
    let (t, f) = terms(&[]);
    let s = series(&t, RoundingRule::HalfEven);
    let once = all_due(&s, &[holding("a", "abb", 1)], &f, d("2027-01-01"));
    let (mut daily, _) = day_by_day(
        &s,
        &[holding("a", "abb", 1)],
        &f,
        d("2026-03-01"),
        d("2027-01-01"),
    );
    daily.pop();
    assert_ne!(once.due, daily);
}

// ---------------------------------------------------------------------------
// Property tests.

/// Random terms, fixings (some missing), currency, rounding and holdings.
#[derive(Clone, Debug)]
struct Case {
    terms: BondTerms,
    fixings: Fixings,
    currency: Currency,
    rounding: RoundingRule,
    holdings: Vec<(String, String, u64)>,
    /// A spread of dates to probe, as fractions (0..1000) of the life plus margins.
    probes: Vec<u32>,
}

impl Case {
    fn series(&self) -> SeriesInput<'_> {
        SeriesInput {
            series_id: "P-1",
            currency: self.currency,
            terms: &self.terms,
            rounding: self.rounding,
        }
    }

    fn holdings(&self) -> Vec<HoldingInput<'_>> {
        self.holdings
            .iter()
            .map(|(i, b, u)| holding(i, b, *u))
            .collect()
    }

    /// From ten days before issue to ten days after the last payment.
    fn span(&self) -> (NaiveDate, NaiveDate) {
        let bond = Bond::new(&self.terms, &self.fixings).unwrap();
        let last = bond.cashflows().last().unwrap().payment_date;
        (
            self.terms.issue_date() - Duration::days(10),
            last + Duration::days(10),
        )
    }

    fn probe(&self, k: usize) -> NaiveDate {
        let (from, to) = self.span();
        let days = (to - from).num_days();
        let f = i64::from(self.probes[k % self.probes.len()]);
        from + Duration::days(days * f / 1000)
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn arb_case(life_months_max: i32) -> impl Strategy<Value = Case> {
    (
        (2020i32..2040, 1u32..=12, 1u32..=31),
        1i32..=life_months_max,
        (0usize..5, 0usize..7, 0usize..5, 0usize..3),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (0u32..3, prop::option::of(0u32..12), 0i32..8),
        (0usize..5, 1i64..1200, any::<u64>()),
        (0usize..4, 0usize..4, 0usize..3),
        prop::collection::vec((0usize..6, 0usize..4, 0u64..2000), 0..10),
        prop::collection::vec(0u32..=1000, 1..6),
    )
        .prop_filter_map(
            "valid terms",
            |(
                (y, m, day),
                life,
                (freq, dc, bdc, cal),
                (eom, forward, adjusted),
                (payment_lag, record_lag, stub),
                (kind, rate_bp, seed),
                (face, rounding, currency),
                holdings,
                probes,
            )| {
                let issue = NaiveDate::from_ymd_opt(y, m, day.min(28 + (day % 4)))?;
                let frequency = [
                    Frequency::Annual,
                    Frequency::Semiannual,
                    Frequency::Quarterly,
                    Frequency::Monthly,
                    Frequency::Zero,
                ][freq];
                let months = match frequency {
                    Frequency::Monthly | Frequency::Zero => life,
                    _ => life.max(6),
                };
                let maturity = add_months(issue, months)?;
                let rate = Decimal::new(rate_bp, 4);
                let coupon = match (frequency, kind) {
                    (Frequency::Zero, k) if k % 2 == 0 => CouponType::Zero,
                    (Frequency::Zero, _) => CouponType::Accumulating(rate),
                    (_, 0) => CouponType::Fixed(rate),
                    (_, 1) => CouponType::StepUp(vec![
                        (issue, rate),
                        (add_months(issue, months / 2)?, rate + Decimal::new(1, 2)),
                    ]),
                    (_, 2) => CouponType::Floating {
                        reference: "SOFR".into(),
                        spread: Decimal::new(5, 3),
                        floor: (seed % 2 == 0).then(|| Decimal::new(1, 2)),
                    },
                    (_, 3) => CouponType::Zero,
                    _ => CouponType::Accumulating(rate),
                };
                let frequency = match coupon {
                    CouponType::Zero if seed % 3 == 0 => Frequency::Zero,
                    _ => frequency,
                };
                let first_coupon_date = match (frequency, stub) {
                    (Frequency::Zero, _) | (_, 0..=3) => None,
                    (_, k) => {
                        Some(issue + Duration::days(i64::from(k) * 23)).filter(|f| *f < maturity)
                    }
                };
                let terms = BondTerms::new(TermsInput {
                    face: [dec!(1000), dec!(100), dec!(1), dec!(25.55)][face],
                    coupon,
                    frequency,
                    day_count: DayCount::ALL[dc],
                    issue_date: issue,
                    maturity_date: maturity,
                    first_coupon_date,
                    business_day_convention: [
                        BusinessDayConvention::Unadjusted,
                        BusinessDayConvention::Following,
                        BusinessDayConvention::ModifiedFollowing,
                        BusinessDayConvention::Preceding,
                        BusinessDayConvention::ModifiedPreceding,
                    ][bdc],
                    calendar: [
                        CalendarName::None,
                        CalendarName::WeekendsOnly,
                        CalendarName::Azerbaijan,
                    ][cal],
                    end_of_month: eom,
                    date_generation: if forward {
                        DateGeneration::Forward
                    } else {
                        DateGeneration::Backward
                    },
                    accrual_dates: if adjusted {
                        AccrualDates::Adjusted
                    } else {
                        AccrualDates::Unadjusted
                    },
                    payment_lag_days: payment_lag,
                    record_date_lag_days: record_lag,
                })
                .ok()?;
                // Fixings for about three periods in four, some negative.
                let bond = Bond::new(&terms, &Fixings::new()).ok()?;
                let mut fixings = Fixings::new();
                for (i, cf) in bond.cashflows().iter().enumerate() {
                    let h = splitmix(seed ^ i as u64);
                    if cf.kind == CashFlowKind::Coupon && h % 4 != 0 {
                        let bp = (h >> 8) % 900;
                        fixings.insert("SOFR", cf.accrual_start, Decimal::new(bp as i64 - 100, 4));
                    }
                }
                let case = Case {
                    terms,
                    fixings,
                    currency: [Currency::USD, Currency::JPY, Currency::EUR][currency],
                    rounding: [
                        RoundingRule::HalfEven,
                        RoundingRule::HalfUp,
                        RoundingRule::Down,
                        RoundingRule::Up,
                    ][rounding],
                    holdings: holdings
                        .into_iter()
                        .map(|(i, b, u)| (format!("inv-{i}"), format!("bank-{b}"), u))
                        .collect(),
                    probes,
                };
                // Terms whose conventions pay a flow before issue are refused
                // by the engine (a test of its own below); skip them here.
                let s = case.series();
                match due_events(&s, &[], &case.fixings, &nothing_posted, NaiveDate::MIN) {
                    Err(AccrualError::PaymentBeforeIssue { .. }) => return None,
                    r => {
                        r.ok()?;
                    }
                }
                Some(case)
            },
        )
}

fn minor_unit(currency: Currency) -> Decimal {
    Decimal::new(1, currency.minor_units())
}

/// The rounding laws for every payment event.
fn check_payments(case: &Case, due: &[Due]) -> Result<(), TestCaseError> {
    let holdings = case.holdings();
    let paid: Vec<&HoldingInput> = holdings.iter().filter(|h| !h.units.is_zero()).collect();
    let minor = minor_unit(case.currency);
    for event in due {
        let Some(PaidView {
            payments,
            banks,
            total,
            residue,
            per_unit,
        }) = payments_of(event)
        else {
            continue;
        };
        prop_assert_eq!(payments.len(), paid.len());
        for (p, h) in payments.iter().zip(&paid) {
            prop_assert_eq!(
                (p.investor_ref.as_str(), p.bank_id.as_str()),
                (h.investor_ref, h.bank_id)
            );
            prop_assert_eq!(p.units, h.units);
            let exact = per_unit * h.units.to_decimal();
            prop_assert_eq!(p.amount.round_dp(case.currency.minor_units()), p.amount);
            let error = (exact - p.amount).abs();
            match case.rounding {
                RoundingRule::HalfEven | RoundingRule::HalfUp => {
                    prop_assert!(error <= minor / dec!(2))
                }
                _ => prop_assert!(error < minor),
            }
        }
        prop_assert_eq!(total, payments.iter().map(|p| p.amount).sum::<Decimal>());
        prop_assert_eq!(total, banks.iter().map(|b| b.amount).sum::<Decimal>());
        prop_assert!(banks.windows(2).all(|w| w[0].bank_id < w[1].bank_id));
        let units: u64 = paid.iter().map(|h| h.units.get()).sum();
        prop_assert_eq!(banks.iter().map(|b| b.units.get()).sum::<u64>(), units);
        prop_assert_eq!(residue, per_unit * Decimal::from(units) - total);
        let n = Decimal::from(paid.len() as u64);
        let epsilon = dec!(1e-18);
        match case.rounding {
            RoundingRule::HalfEven | RoundingRule::HalfUp => {
                prop_assert!(residue.abs() <= n * minor / dec!(2) + epsilon, "{residue}")
            }
            _ => prop_assert!(residue.abs() < n * minor + epsilon, "{residue}"),
        }
    }
    Ok(())
}

/// Order, record dates, redemption last, nothing before issue, waiting coupons.
fn check_sequence(case: &Case, report: &DueReport) -> Result<(), TestCaseError> {
    let issue = case.terms.issue_date();
    let bond = Bond::new(&case.terms, &case.fixings).unwrap();
    let due = &report.due;
    let mut seen = HashSet::new();
    for (k, event) in due.iter().enumerate() {
        prop_assert!(event.date() >= issue, "{} before issue", event.id());
        prop_assert!(seen.insert(event.id().clone()), "{} twice", event.id());
        if k > 0 {
            prop_assert!(due[k - 1].date() <= event.date());
        }
        let flow = match event.id() {
            EventId::Coupon { flow, .. } => Some(*flow),
            EventId::Redemption { .. } => Some(bond.cashflows().len() as u32 - 1),
            EventId::RecordDate { .. } => None,
        };
        if let (Some(flow), Some(_)) = (flow, case.terms.record_date_lag_days()) {
            let record = EventId::RecordDate {
                series_id: "P-1".into(),
                flow,
            };
            let at = due.iter().position(|e| e.id() == &record);
            prop_assert!(
                at.is_some_and(|at| at < k),
                "{record} not before {}",
                event.id()
            );
        }
        if matches!(event, Due::Redemption { .. }) {
            prop_assert_eq!(k, due.len() - 1, "redemption is not last");
        }
    }
    for w in &report.waiting {
        prop_assert!(bond.cashflows()[w.flow as usize].amount.is_none());
        prop_assert!(!seen.contains(&w.coupon_id()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One call through D equals asking day by day, and asking in random steps,
    /// from before issue to D; after posting, asking again returns nothing.
    #[test]
    fn catch_up_equals_day_by_day(case in arb_case(30), steps in prop::collection::vec(1i64..120, 1..40)) {
        let s = case.series();
        let holdings = case.holdings();
        let (start, _) = case.span();
        let through = case.probe(0);
        let once = due_events(&s, &holdings, &case.fixings, &nothing_posted, through).unwrap();
        let (daily, waiting) = day_by_day(&s, &holdings, &case.fixings, start, through);
        prop_assert_eq!(&once.due, &daily);
        prop_assert_eq!(&once.waiting, &waiting);
        let mut dates = Vec::new();
        let mut day = start;
        for step in steps.iter().cycle() {
            if day >= through {
                break;
            }
            day = (day + Duration::days(*step)).min(through);
            dates.push(day);
        }
        let (stepped, _) = in_steps(&s, &holdings, &case.fixings, &dates);
        prop_assert_eq!(&once.due, &stepped);
        // Re-running any date range after posting is a no-op.
        let posted: HashSet<EventId> = once.due.iter().map(|e| e.id().clone()).collect();
        for k in 0..case.probes.len() {
            let again_through = case.probe(k).min(through);
            let again = due_events(&s, &holdings, &case.fixings, &|id| posted.contains(id), again_through).unwrap();
            prop_assert!(again.due.is_empty(), "{:?}", again.due);
        }
        check_sequence(&case, &once)?;
        check_payments(&case, &once.due)?;
    }

    /// Over whole lives up to 40 years: order, exactly once, rounding laws, and
    /// catch-up in random steps.
    #[test]
    fn whole_lives(case in arb_case(480), steps in prop::collection::vec(1i64..2000, 1..20)) {
        let s = case.series();
        let holdings = case.holdings();
        let (start, end) = case.span();
        let all = due_events(&s, &holdings, &case.fixings, &nothing_posted, end).unwrap();
        check_sequence(&case, &all)?;
        check_payments(&case, &all.due)?;
        prop_assert!(matches!(all.due.last(), Some(Due::Redemption { .. })), "the last event is not the redemption");
        prop_assert_eq!(
            due_events(&s, &holdings, &case.fixings, &nothing_posted, start).unwrap(),
            DueReport::default()
        );
        let mut dates = Vec::new();
        let mut day = start;
        for step in steps.iter().cycle() {
            if day >= end {
                break;
            }
            day = (day + Duration::days(*step)).min(end);
            dates.push(day);
        }
        let (stepped, waiting) = in_steps(&s, &holdings, &case.fixings, &dates);
        prop_assert_eq!(&all.due, &stepped);
        prop_assert_eq!(&all.waiting, &waiting);
        let posted: HashSet<EventId> = all.due.iter().map(|e| e.id().clone()).collect();
        let after = due_events(&s, &holdings, &case.fixings, &|id| posted.contains(id), end + Duration::days(5000)).unwrap();
        prop_assert!(after.due.is_empty());
        // Every floating coupon without a fixing is waiting, and nothing else.
        let bond = Bond::new(&case.terms, &case.fixings).unwrap();
        let missing: Vec<u32> = bond.cashflows().iter().enumerate()
            .filter(|(_, c)| c.kind == CashFlowKind::Coupon && c.amount.is_none())
            .map(|(i, _)| i as u32)
            .collect();
        prop_assert_eq!(all.waiting.iter().map(|w| w.flow).collect::<Vec<_>>(), missing);
        // Accrued per unit matches the bond math, times units per holding.
        for k in 0..case.probes.len() {
            let day = case.probe(k);
            match (accrued(&s, &holdings, &case.fixings, day), bond.accrued(day)) {
                (Ok(a), Ok(expected)) => {
                    let expected = if matches!(case.terms.coupon(), CouponType::Zero) || day < case.terms.issue_date() {
                        Decimal::ZERO
                    } else {
                        expected
                    };
                    prop_assert_eq!(a.per_unit, expected);
                    for (x, h) in a.per_holding.iter().zip(&holdings) {
                        prop_assert_eq!(*x, expected * Decimal::from(h.units));
                    }
                }
                (Err(AccrualError::MissingFixing { fixing_date, .. }), Err(crate::pricing::PricingError::MissingFixing { accrual_start })) => {
                    prop_assert_eq!(fixing_date, accrual_start);
                }
                (a, b) => prop_assert!(false, "engine {:?} vs bond math {:?}", a, b),
            }
        }
    }

    /// Every id reads back to itself, and any text that parses prints back
    /// exactly as it was.
    #[test]
    fn event_id_text_is_an_exact_inverse(
        series_id in "[A-Za-z0-9/ -]{1,16}",
        flow in any::<u32>(),
        kind in 0usize..3,
        text in "[a-z0/]{0,6}(/(record|coupon|redemption)(/[0-9+-]{0,4})?)?",
    ) {
        let series_id = series_id.to_string();
        let id = match kind {
            0 => EventId::RecordDate { series_id, flow },
            1 => EventId::Coupon { series_id, flow },
            _ => EventId::Redemption { series_id },
        };
        prop_assert_eq!(id.to_string().parse::<EventId>(), Ok(id.clone()));
        if let Ok(parsed) = text.parse::<EventId>() {
            prop_assert_eq!(parsed.to_string(), text);
        }
    }

    /// The rounding laws with many holdings and awkward per-unit amounts.
    #[test]
    fn rounding_laws(
        face_cents in 1i64..100_000_000,
        rate_bp in 1i64..2000,
        rounding in 0usize..4,
        currency in 0usize..3,
        units in prop::collection::vec((0u64..1_000_000, 0usize..7), 0..200),
    ) {
        let (t, f) = terms(&[
            ("face", &format!("\"{}\"", Decimal::new(face_cents, 2))),
            ("coupon_rate", &format!("\"{}\"", Decimal::new(rate_bp, 4))),
            ("day_count", "\"ACT/365F\""),
        ]);
        let case = Case {
            terms: t,
            fixings: f,
            currency: [Currency::USD, Currency::JPY, Currency::GBP][currency],
            rounding: [RoundingRule::HalfEven, RoundingRule::HalfUp, RoundingRule::Down, RoundingRule::Up][rounding],
            holdings: units.iter().enumerate().map(|(i, (u, b))| (format!("inv-{i}"), format!("bank-{b}"), *u)).collect(),
            probes: vec![0],
        };
        let all = due_events(&case.series(), &case.holdings(), &case.fixings, &nothing_posted, d("2040-01-01")).unwrap();
        check_payments(&case, &all.due)?;
    }
}

#[test]
fn terms_paying_before_issue_are_refused() {
    // Issued on a Saturday with a first coupon the next day, paid on the
    // preceding business day: Friday, before the bond exists.
    let (t, f) = terms(&[
        ("issue_date", "\"2026-03-14\""),
        ("first_coupon_date", "\"2026-03-15\""),
        ("business_day_convention", "\"preceding\""),
    ]);
    let s = series(&t, RoundingRule::HalfEven);
    let err = due_events(&s, &[], &f, &nothing_posted, d("2040-01-01")).unwrap_err();
    assert_eq!(
        err,
        AccrualError::PaymentBeforeIssue {
            series_id: "AZ-2029-USD".into(),
            flow: 0,
            payment_date: d("2026-03-13"),
            issue_date: d("2026-03-14"),
        }
    );
}
