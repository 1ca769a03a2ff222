//! Bond math against QuantLib 1.44: every reference vector through the library
//! and through the `dbond` binary, plus property tests of the invariants.
//!
//! Tolerances (shared/vectors/README.md): dates exact; amounts and accrued
//! within 1e-9 of face; prices within 1e-8; yields within 1e-9.

use chrono::NaiveDate;
use dbond::calendar::{
    AccrualDates, BusinessDayConvention, CalendarName, DateGeneration, DayCount, Frequency,
};
use dbond::pricing::{self, Bond, BondTerms, CashFlowKind, CouponType, Fixings, TermsInput};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;
use std::process::Command;
use std::str::FromStr;

const SAMPLE: &str = include_str!("vectors/pricing-sample.json");
const EXTRA: &str = include_str!("vectors/pricing-extra.json");

fn dec(v: &Value) -> Decimal {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected a decimal string, found {v}"));
    Decimal::from_str(s).unwrap_or_else(|e| panic!("bad decimal {s}: {e}"))
}

fn date(v: &Value) -> NaiveDate {
    NaiveDate::parse_from_str(v.as_str().unwrap(), "%Y-%m-%d").unwrap()
}

fn cases() -> Vec<Value> {
    let mut all = Vec::new();
    for text in [SAMPLE, EXTRA] {
        let v: Value = serde_json::from_str(text).unwrap();
        all.extend(v.as_array().unwrap().iter().cloned());
    }
    all
}

struct Tolerances {
    amount: Decimal,
}

fn assert_close(what: &str, got: Decimal, expected: Decimal, tol: Decimal) {
    assert!(
        (got - expected).abs() <= tol,
        "{what}: expected {expected}, found {got} (tolerance {tol})"
    );
}

fn price_tol() -> Decimal {
    Decimal::new(1, 8)
}

fn yield_tol() -> Decimal {
    Decimal::new(1, 9)
}

/// The library side of one case.
fn check_case_library(case: &Value) {
    let id = case["id"].as_str().unwrap();
    let (terms, fixings) =
        BondTerms::from_json(&case["terms"].to_string()).unwrap_or_else(|e| panic!("{id}: {e}"));
    let tol = Tolerances {
        amount: terms.face() * Decimal::new(1, 9),
    };
    let bond = Bond::new(&terms, &fixings).unwrap_or_else(|e| panic!("{id}: {e}"));
    let flows = bond.cashflows();
    let expected = case["schedule"].as_array().unwrap();
    assert_eq!(flows.len(), expected.len(), "{id}: number of cash flows");
    for (i, (got, exp)) in flows.iter().zip(expected).enumerate() {
        let what = format!("{id} row {i}");
        assert_eq!(
            got.kind.as_str(),
            exp["kind"].as_str().unwrap(),
            "{what} kind"
        );
        if got.kind == CashFlowKind::Coupon {
            assert_eq!(
                got.accrual_start,
                date(&exp["accrual_start"]),
                "{what} accrual_start"
            );
            assert_eq!(
                got.accrual_end,
                date(&exp["accrual_end"]),
                "{what} accrual_end"
            );
        }
        assert_eq!(
            got.payment_date,
            date(&exp["payment_date"]),
            "{what} payment_date"
        );
        assert_close(
            &format!("{what} amount"),
            got.amount.unwrap(),
            dec(&exp["amount"]),
            tol.amount,
        );
    }
    for row in case["accrued"].as_array().unwrap() {
        let settle = date(&row["settle"]);
        let got = bond
            .accrued(settle)
            .unwrap_or_else(|e| panic!("{id} accrued {settle}: {e}"));
        assert_close(
            &format!("{id} accrued {settle}"),
            got,
            dec(&row["accrued"]),
            tol.amount,
        );
    }
    for row in case["price_from_yield"].as_array().unwrap() {
        let settle = date(&row["settle"]);
        let p = bond
            .price(settle, dec(&row["yield"]))
            .unwrap_or_else(|e| panic!("{id} price {settle}: {e}"));
        assert_close(
            &format!("{id} clean {settle}"),
            p.clean,
            dec(&row["clean"]),
            price_tol(),
        );
        assert_close(
            &format!("{id} dirty {settle}"),
            p.dirty,
            dec(&row["dirty"]),
            price_tol(),
        );
    }
    for row in case["yield_from_price"].as_array().unwrap() {
        let settle = date(&row["settle"]);
        let y = bond
            .yield_from_clean_price(settle, dec(&row["clean_price"]))
            .unwrap_or_else(|e| panic!("{id} yield {settle}: {e}"));
        assert_close(
            &format!("{id} yield {settle}"),
            y,
            dec(&row["yield"]),
            yield_tol(),
        );
    }
    if let Some(reference) = case.get("reference_yield") {
        let reference = dec(reference);
        let bps = dec(&case["patriotic_discount_bps"]);
        if let Some(par) = case.get("par_coupon") {
            let got = pricing::par_coupon_for_discount(&terms, reference, bps).unwrap();
            assert_close(&format!("{id} par coupon"), got, dec(par), yield_tol());
            let s = pricing::issuer_savings(&terms, reference, bps).unwrap();
            assert_close(
                &format!("{id} market par"),
                s.market_coupon.unwrap(),
                dec(&case["market_par_coupon"]),
                yield_tol(),
            );
            assert_close(
                &format!("{id} savings"),
                s.savings,
                dec(&case["issuer_savings"]),
                tol.amount,
            );
        }
        // The issue price at the diaspora yield and the discount it implies.
        let y = pricing::diaspora_yield(reference, bps);
        let issue = terms.issue_date();
        let clean = bond.clean_price(issue, y).unwrap();
        let implied =
            pricing::implied_discount_bps(&terms, &fixings, issue, reference, clean).unwrap();
        assert_close(
            &format!("{id} implied discount"),
            implied,
            bps,
            Decimal::new(1, 6),
        );
    }
}

#[test]
fn every_vector_case_through_the_library() {
    let all = cases();
    assert!(
        all.len() >= 150,
        "expected the shared and extra vectors, found {} cases",
        all.len()
    );
    for case in &all {
        check_case_library(case);
    }
}

fn dbond(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_dbond"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dbond {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("dbond {args:?}: bad JSON ({e})"))
}

fn dbond_error(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dbond"))
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "dbond {args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one-line error expected: {err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[test]
fn every_vector_case_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    for (n, case) in cases().iter().enumerate() {
        let id = case["id"].as_str().unwrap();
        let path = dir.path().join(format!("terms-{n}.json"));
        std::fs::write(&path, case["terms"].to_string()).unwrap();
        let terms = path.to_str().unwrap();
        let face = dec(&case["terms"]["face"]);
        let amount_tol = face * Decimal::new(1, 9);
        let out = dbond(&["schedule", "--terms", terms]);
        let rows = out["cashflows"].as_array().unwrap();
        let expected = case["schedule"].as_array().unwrap();
        assert_eq!(rows.len(), expected.len(), "{id}: rows");
        for (got, exp) in rows.iter().zip(expected) {
            for key in ["kind", "accrual_start", "accrual_end", "payment_date"] {
                assert_eq!(got.get(key), exp.get(key), "{id}: {key}");
            }
            assert_close(
                &format!("{id} amount"),
                dec(&got["amount"]),
                dec(&exp["amount"]),
                amount_tol,
            );
        }
        for row in case["price_from_yield"].as_array().unwrap() {
            let settle = row["settle"].as_str().unwrap();
            let y = row["yield"].as_str().unwrap();
            let out = dbond(&["price", "--terms", terms, "--settle", settle, "--yield", y]);
            assert_close(
                &format!("{id} clean"),
                dec(&out["clean"]),
                dec(&row["clean"]),
                price_tol(),
            );
            assert_close(
                &format!("{id} dirty"),
                dec(&out["dirty"]),
                dec(&row["dirty"]),
                price_tol(),
            );
        }
        for row in case["accrued"].as_array().unwrap() {
            let settle = row["settle"].as_str().unwrap();
            let out = dbond(&[
                "price", "--terms", terms, "--settle", settle, "--yield", "0.05",
            ]);
            assert_close(
                &format!("{id} accrued {settle}"),
                dec(&out["accrued"]),
                dec(&row["accrued"]),
                amount_tol,
            );
        }
        for row in case["yield_from_price"].as_array().unwrap() {
            let settle = row["settle"].as_str().unwrap();
            let p = row["clean_price"].as_str().unwrap();
            let out = dbond(&[
                "price",
                "--terms",
                terms,
                "--settle",
                settle,
                "--clean-price",
                p,
            ]);
            assert_close(
                &format!("{id} yield"),
                dec(&out["yield"]),
                dec(&row["yield"]),
                yield_tol(),
            );
        }
        if let (Some(r), Some(bps)) = (
            case.get("reference_yield"),
            case.get("patriotic_discount_bps"),
        ) {
            let settle = case["terms"]["issue_date"].as_str().unwrap();
            let out = dbond(&[
                "price",
                "--terms",
                terms,
                "--settle",
                settle,
                "--reference-yield",
                r.as_str().unwrap(),
                "--discount-bps",
                bps.as_str().unwrap(),
            ]);
            let y = dec(r) - dec(bps) / Decimal::from(10_000);
            assert_close(
                &format!("{id} diaspora yield"),
                dec(&out["diaspora_yield"]),
                y,
                Decimal::ZERO,
            );
            for row in case["price_from_yield"].as_array().unwrap() {
                if row["settle"].as_str() == Some(settle) && dec(&row["yield"]) == y {
                    assert_close(
                        &format!("{id} patriotic clean"),
                        dec(&out["clean"]),
                        dec(&row["clean"]),
                        price_tol(),
                    );
                }
            }
            if let Some(par) = case.get("par_coupon") {
                assert_close(
                    &format!("{id} par"),
                    dec(&out["par_coupon"]),
                    dec(par),
                    yield_tol(),
                );
                assert_close(
                    &format!("{id} savings"),
                    dec(&out["issuer_savings"]),
                    dec(&case["issuer_savings"]),
                    amount_tol,
                );
            }
        }
    }
}

#[test]
fn binary_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let base: Value = serde_json::from_str(SAMPLE).unwrap();
    let terms = base[0]["terms"].clone();
    let write = |name: &str, v: &Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = write("good.json", &terms);
    let mut t = terms.clone();
    t["maturity_date"] = "2020-01-01".into();
    let before = write("before.json", &t);
    let mut t = terms.clone();
    t["day_count"] = "ACT/366".into();
    let unknown_dc = write("dc.json", &t);
    let mut t = terms.clone();
    t["face"] = "-1000".into();
    let negative = write("neg.json", &t);
    let mut t = terms.clone();
    t["surprise"] = true.into();
    let unknown_key = write("key.json", &t);
    let mut t = terms.clone();
    t["issue_date"] = "2027-02-30".into();
    let bad_date = write("date.json", &t);

    for (args, fragment) in [
        (
            vec!["schedule", "--terms", before.as_str()],
            "must be after issue date",
        ),
        (
            vec!["schedule", "--terms", unknown_dc.as_str()],
            "unknown day count",
        ),
        (
            vec!["schedule", "--terms", negative.as_str()],
            "face must be positive",
        ),
        (
            vec!["schedule", "--terms", unknown_key.as_str()],
            "unknown field `surprise`",
        ),
        (
            vec!["schedule", "--terms", bad_date.as_str()],
            "invalid date",
        ),
        (
            vec!["schedule", "--terms", "/nonexistent/terms.json"],
            "cannot read terms file",
        ),
        (
            vec![
                "price",
                "--terms",
                good.as_str(),
                "--settle",
                "2027-13-01",
                "--yield",
                "0.05",
            ],
            "--settle",
        ),
        (
            vec![
                "price",
                "--terms",
                good.as_str(),
                "--settle",
                "2027-12-18",
                "--yield",
                "abc",
            ],
            "--yield",
        ),
        (
            vec![
                "price",
                "--terms",
                good.as_str(),
                "--settle",
                "2027-12-18",
                "--yield",
                "1e9",
            ],
            "out of range",
        ),
        (
            vec![
                "price",
                "--terms",
                good.as_str(),
                "--settle",
                "2027-12-18",
                "--clean-price",
                "1e-20",
            ],
            "yield solver",
        ),
        (
            vec![
                "price",
                "--terms",
                good.as_str(),
                "--settle",
                "2027-12-18",
                "--clean-price",
                "-5",
            ],
            "yield solver",
        ),
        (
            vec![
                "price",
                "--terms",
                good.as_str(),
                "--settle",
                "2027-12-18",
                "--clean-price",
                "1000000",
            ],
            "yield solver",
        ),
        (
            vec![
                "price",
                "--terms",
                good.as_str(),
                "--settle",
                "2040-01-01",
                "--yield",
                "0.05",
            ],
            "nothing left to price",
        ),
        (
            vec![
                "price",
                "--terms",
                good.as_str(),
                "--settle",
                "2020-01-01",
                "--yield",
                "0.05",
            ],
            "before issue date",
        ),
        (
            vec!["price", "--terms", good.as_str(), "--settle", "2027-12-18"],
            "give exactly one of",
        ),
    ] {
        let err = dbond_error(&args);
        assert!(
            err.contains(fragment),
            "{args:?}: {err:?} should mention {fragment:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Property tests.

fn arb_terms() -> impl Strategy<Value = BondTerms> {
    (
        (2000i32..2060, 1u32..=12, 1u32..=31),
        1i32..=40,
        0usize..4,
        0usize..7,
        0usize..5,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        (1u32..=1200, 0u32..=4),
    )
        .prop_filter_map(
            "valid terms",
            |((y, m, d), years, f, dc, bdc, eom, fwd, adj, cal, (rate_bp, stub))| {
                let issue = NaiveDate::from_ymd_opt(y, m, d.min(28 + (d % 4)))?;
                let maturity = dbond::calendar::dates::add_months(issue, years * 12)?;
                let frequency = [
                    Frequency::Annual,
                    Frequency::Semiannual,
                    Frequency::Quarterly,
                    Frequency::Monthly,
                ][f];
                let first_coupon_date = match stub {
                    0 | 1 => None,
                    k => dbond::calendar::dates::add_months(issue, k as i32 * 2 + 1)
                        .filter(|f| *f < maturity),
                };
                BondTerms::new(TermsInput {
                    face: Decimal::from(1000),
                    coupon: CouponType::Fixed(Decimal::new(i64::from(rate_bp), 4)),
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
                    date_generation: if fwd {
                        DateGeneration::Forward
                    } else {
                        DateGeneration::Backward
                    },
                    accrual_dates: if adj {
                        AccrualDates::Adjusted
                    } else {
                        AccrualDates::Unadjusted
                    },
                    payment_lag_days: 0,
                    record_date_lag_days: Some(1),
                })
                .ok()
            },
        )
        // Some end-of-month stubs collapse two schedule dates into one (QuantLib
        // gives a duplicate date there); the library refuses those terms, which
        // `degenerate_end_of_month_stub_is_refused` checks. Properties hold for
        // the bonds that build.
        .prop_filter("the schedule builds", |t| {
            Bond::new(t, &Fixings::new()).is_ok()
        })
}

/// QuantLib 1.44 builds `[2000-06-30, 2001-03-31, 2001-03-31, 2001-06-30]` for
/// these terms: the end-of-month rule moves the first coupon date onto the next
/// date. A period of zero days is no coupon: the library refuses the terms with a
/// message instead.
#[test]
fn degenerate_end_of_month_stub_is_refused() {
    let terms = BondTerms::new(TermsInput {
        face: Decimal::from(1000),
        coupon: CouponType::Fixed(Decimal::new(5, 2)),
        frequency: Frequency::Quarterly,
        day_count: DayCount::Thirty360Us,
        issue_date: NaiveDate::from_ymd_opt(2000, 6, 30).unwrap(),
        maturity_date: NaiveDate::from_ymd_opt(2001, 6, 30).unwrap(),
        first_coupon_date: NaiveDate::from_ymd_opt(2001, 3, 30),
        business_day_convention: BusinessDayConvention::Unadjusted,
        calendar: CalendarName::None,
        end_of_month: true,
        date_generation: DateGeneration::Backward,
        accrual_dates: AccrualDates::Unadjusted,
        payment_lag_days: 0,
        record_date_lag_days: Some(1),
    })
    .unwrap();
    let err = Bond::new(&terms, &Fixings::new()).unwrap_err().to_string();
    assert!(err.contains("not increasing"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn periods_tile_the_life_of_the_bond(terms in arb_terms()) {
        let bond = Bond::new(&terms, &Fixings::new()).unwrap();
        let coupons: Vec<_> = bond.cashflows().iter().filter(|c| c.kind == CashFlowKind::Coupon).collect();
        let dates = bond.schedule().dates();
        prop_assert_eq!(coupons.len(), dates.len() - 1);
        prop_assert_eq!(coupons[0].accrual_start, dates[0]);
        prop_assert_eq!(coupons[coupons.len() - 1].accrual_end, dates[dates.len() - 1]);
        for w in coupons.windows(2) {
            // No gap and no overlap: each period starts where the previous ended.
            prop_assert_eq!(w[0].accrual_end, w[1].accrual_start);
        }
        for c in &coupons {
            prop_assert!(c.accrual_start < c.accrual_end);
            prop_assert!(c.record_date.unwrap() < c.payment_date);
        }
        // The life starts at the issue date (adjusted, when accrual dates are).
        let cal = terms.calendar().calendar().unwrap();
        let start = match terms.accrual_dates() {
            AccrualDates::Adjusted => cal.adjust(terms.issue_date(), terms.business_day_convention()).unwrap(),
            AccrualDates::Unadjusted => terms.issue_date(),
        };
        prop_assert_eq!(dates[0], start);
        let total: Decimal = coupons.iter().map(|c| c.amount.unwrap()).sum();
        prop_assert!(total > Decimal::ZERO);
    }

    #[test]
    fn price_falls_as_yield_rises_and_yield_inverts_price(
        terms in arb_terms(),
        y_bp in 0i64..1500,
        dy_bp in 1i64..300,
        settle_frac in 0u32..100,
    ) {
        let bond = Bond::new(&terms, &Fixings::new()).unwrap();
        let last = bond.cashflows().last().unwrap().payment_date;
        let span = (last - terms.issue_date()).num_days().max(2);
        let settle = terms.issue_date() + chrono::Duration::days(span * i64::from(settle_frac) / 100);
        prop_assume!(settle < last);
        let y = Decimal::new(y_bp, 4);
        let y2 = y + Decimal::new(dy_bp, 4);
        let p1 = bond.dirty_price(settle, y).unwrap();
        let p2 = bond.dirty_price(settle, y2).unwrap();
        prop_assert!(p1 > p2, "price({y}) = {p1} should exceed price({y2}) = {p2}");
        let clean = bond.clean_price(settle, y).unwrap();
        let back = bond.yield_from_clean_price(settle, clean).unwrap();
        prop_assert!((back - y).abs() < Decimal::new(1, 12), "yield {y} -> price {clean} -> yield {back}");
    }

    #[test]
    fn accrued_is_zero_on_coupon_dates_and_grows_within_a_period(terms in arb_terms(), pick in 0usize..1000) {
        // Where payments fall on the accrual dates (adjusted accrual, no lag),
        // a coupon date starts the next period with nothing accrued.
        let terms = BondTerms::new(TermsInput { accrual_dates: AccrualDates::Adjusted, ..terms.to_input() }).unwrap();
        let bond = Bond::new(&terms, &Fixings::new());
        prop_assume!(bond.is_ok(), "adjusting collapses two dates");
        let bond = bond.unwrap();
        let coupons: Vec<_> = bond.cashflows().iter().filter(|c| c.kind == CashFlowKind::Coupon).collect();
        let c = coupons[pick % coupons.len()];
        prop_assert_eq!(bond.accrued(c.accrual_start).unwrap(), Decimal::ZERO);
        let mut previous = Decimal::ZERO;
        let mut d = c.accrual_start;
        let mut steps = 0;
        while d < c.accrual_end && steps < 40 {
            d = d.succ_opt().unwrap();
            steps += 1;
            let a = bond.accrued(d).unwrap();
            if d == c.payment_date {
                break;
            }
            // 30/360 counts may stand still over a 31st; never fall back.
            prop_assert!(a >= previous, "accrued fell from {previous} to {a} on {d}");
            previous = a;
        }
        prop_assert!(previous > Decimal::ZERO || steps <= 1);
    }
}

/// The harness itself can fail: a vector with one amount, one date or one
/// yield tampered with is rejected.
#[test]
fn tampered_vectors_are_rejected() {
    let base: Value = serde_json::from_str(SAMPLE).unwrap();
    let case = base[7].clone(); // stub-02: a long first stub
    check_case_library(&case);
    type Tamper = (&'static str, fn(&mut Value));
    let tamper: [Tamper; 3] = [
        ("amount", |c| c["schedule"][0]["amount"] = "43.6142".into()),
        ("payment date", |c| {
            c["schedule"][5]["payment_date"] = "2029-09-01".into()
        }),
        ("yield", |c| {
            c["yield_from_price"][0]["yield"] = "0.0573109".into()
        }),
    ];
    for (what, f) in tamper {
        let mut bad = case.clone();
        f(&mut bad);
        let result = std::panic::catch_unwind(|| check_case_library(&bad));
        assert!(result.is_err(), "a tampered {what} was not detected");
    }
}

fn wild_decimal() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), 0u32..=28).prop_map(|(m, scale)| Decimal::new(m, scale))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Nothing panics on absurd numbers: every call returns a value or an error.
    #[test]
    fn no_panic_on_wild_numbers(
        terms in arb_terms(),
        y in wild_decimal(),
        clean in wild_decimal(),
        bps in wild_decimal(),
        days in -40_000i64..40_000,
    ) {
        let bond = Bond::new(&terms, &Fixings::new()).unwrap();
        let settle = terms.issue_date() + chrono::Duration::days(days);
        let _ = bond.price(settle, y);
        let _ = bond.yield_from_clean_price(settle, clean);
        let _ = bond.accrued(settle);
        let _ = pricing::implied_discount_bps(&terms, &Fixings::new(), settle, y, clean);
        let _ = pricing::par_coupon_for_discount(&terms, y, bps);
        let _ = pricing::issuer_savings(&terms, y, bps);
        let _ = terms.with_face(clean);
    }

    /// Nothing panics on arbitrary terms JSON either.
    #[test]
    fn no_panic_on_wild_terms(
        key in prop::sample::select(vec![
            "face", "coupon_rate", "frequency", "day_count", "issue_date", "maturity_date",
            "first_coupon_date", "business_day_convention", "calendar", "end_of_month",
            "date_generation", "accrual_dates", "payment_lag_days", "record_date_lag_days",
        ]),
        value in prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            "[0-9.eE+-]{1,30}",
            "\"[0-9a-zA-Z /:.-]{0,20}\"",
            Just("null".to_string()),
            Just("true".to_string()),
            Just("\"9999-12-31\"".to_string()),
            Just("\"0001-01-01\"".to_string()),
        ],
    ) {
        let base: Value = serde_json::from_str(SAMPLE).unwrap();
        let mut text = base[7]["terms"].to_string();
        let needle = format!("\"{key}\":");
        if let Some(at) = text.find(&needle) {
            let start = at + needle.len();
            let end = text[start..].find([',', '}']).map(|e| start + e).unwrap_or(text.len());
            text.replace_range(start..end, &value);
        }
        if let Ok((terms, fixings)) = BondTerms::from_json(&text)
            && let Ok(bond) = Bond::new(&terms, &fixings)
        {
            let _ = bond.price(terms.issue_date(), Decimal::new(5, 2));
        }
    }
}

#[test]
fn binary_floating_coupons_and_operator_calendar() {
    let dir = tempfile::tempdir().unwrap();
    let terms = r#"{"face": 1000, "frequency": "quarterly", "day_count": "ACT/360",
        "issue_date": "2027-01-04", "maturity_date": "2028-01-04", "business_day_convention": "modified_following",
        "calendar": "azerbaijan", "coupon_type": "floating",
        "floating": {"reference": "AZN-BAKU-3M", "spread": 0.0125, "floor": 0.05},
        "fixings": [{"date": "2027-01-04", "rate": "0.072"}, {"date": "2027-04-04", "rate": 0.031}],
        "record_date_lag_days": 2}"#;
    let path = dir.path().join("floating.json");
    std::fs::write(&path, terms).unwrap();
    let out = dbond(&["schedule", "--terms", path.to_str().unwrap()]);
    let rows = out["cashflows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    // 7.2% + 1.25% over 90 days; then 3.1% + 1.25% floored at 5% over 91 days.
    assert_close(
        "floating coupon 1",
        dec(&rows[0]["amount"]),
        Decimal::from(1000) * Decimal::new(845, 4) * Decimal::from(90) / Decimal::from(360),
        Decimal::new(1, 20),
    );
    assert_close(
        "floating coupon 2",
        dec(&rows[1]["amount"]),
        Decimal::from(1000) * Decimal::new(5, 2) * Decimal::from(91) / Decimal::from(360),
        Decimal::new(1, 20),
    );
    // No fixing yet: waiting, never guessed.
    assert!(rows[2]["amount"].is_null());
    assert_eq!(rows[2]["status"], "waiting_for_fixing");
    assert_eq!(rows[0]["record_date"], "2027-04-01");
    // Pricing needs every amount: a clear error naming the fixing date.
    let err = dbond_error(&[
        "price",
        "--terms",
        path.to_str().unwrap(),
        "--settle",
        "2027-02-01",
        "--yield",
        "0.05",
    ]);
    assert!(
        err.contains("2027-07-04") && err.contains("waiting for its fixing"),
        "{err}"
    );

    // An operator calendar file moves a payment date off a new holiday.
    let fixed = path.with_file_name("fixed.json");
    std::fs::write(&fixed, terms.replace("\"coupon_type\": \"floating\"", "\"coupon_rate\": \"0.06\", \"coupon_type\": \"fixed\"").replace(
        "\"floating\": {\"reference\": \"AZN-BAKU-3M\", \"spread\": 0.0125, \"floor\": 0.05},",
        "",
    ).replace(
        "\"fixings\": [{\"date\": \"2027-01-04\", \"rate\": \"0.072\"}, {\"date\": \"2027-04-04\", \"rate\": 0.031}],",
        "",
    ))
    .unwrap();
    let base = dbond(&["schedule", "--terms", fixed.to_str().unwrap()]);
    assert_eq!(base["cashflows"][0]["payment_date"], "2027-04-05");
    let cal = dir.path().join("extra.toml");
    std::fs::write(
        &cal,
        "[[holiday]]\ndate = \"2027-04-05\"\nname = \"one-off day off\"\n",
    )
    .unwrap();
    let moved = dbond(&[
        "schedule",
        "--terms",
        fixed.to_str().unwrap(),
        "--calendar-file",
        cal.to_str().unwrap(),
    ]);
    assert_eq!(moved["cashflows"][0]["payment_date"], "2027-04-06");
}

// ---------------------------------------------------------------------------
// Servicing vectors: a reopening's price and accrued interest, and the price at
// a rounded coupon, through the registry's own decisions.
//
// `vectors/pricing-servicing.json` (same generator, its own seed) holds
// QuantLib's unrounded figures. The registry publishes some of them rounded, so
// each comparison below names its tolerance: unrounded figures get the
// tolerances above (accrued within 1e-9 of face, prices within 1e-8); a price
// published to 6 decimals (half even) is QuantLib's within half a unit of its
// sixth decimal plus 1e-8; an amount rounded to the cent is within half a cent
// plus what the price's tolerance is worth at face.

const SERVICING: &str = include_str!("vectors/pricing-servicing.json");

fn servicing_cases(kind: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(SERVICING).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .cloned()
        .collect()
}

/// The registry alone: a state, its clock, and decide-then-apply as the server
/// does (without the ledger's bytes, which bond math does not need).
struct Registry {
    state: dbond::registry::State,
    now: chrono::DateTime<chrono::Utc>,
    admin: dbond::registry::Caller,
    treasury: dbond::registry::Caller,
    bank: dbond::registry::Caller,
}

fn caller(id: &str, role: dbond::registry::Role, seed: u8) -> dbond::registry::Caller {
    dbond::registry::Caller {
        participant_id: dbond::registry::ParticipantId::parse("id", id).unwrap(),
        role,
        key_id: dbond::ids::KeyId::of(
            &ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key(),
        ),
    }
}

fn public_key(seed: u8) -> dbond::registry::PublicKey {
    dbond::registry::PublicKey(
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes(),
    )
}

impl Registry {
    fn new(now: chrono::DateTime<chrono::Utc>) -> Registry {
        use dbond::registry::Role;
        let mut r = Registry {
            state: dbond::registry::State::new(),
            now,
            admin: caller("admin", Role::Admin, 1),
            treasury: caller("treasury", Role::Treasury, 3),
            bank: caller("bank-a", Role::Bank, 4),
        };
        let genesis = dbond::registry::Event::Genesis(dbond::registry::GenesisRecorded {
            format_version: dbond::ids::FORMAT_VERSION,
            origin: "bondmath.example/servicing".into(),
            ledger_public_key: public_key(2),
            admin_participant_id: r.admin.participant_id.clone(),
            admin_public_key: public_key(1),
            admin_key_id: r.admin.key_id.clone(),
            simulated_clock: false,
        });
        r.append(vec![genesis]);
        for (who, seed) in [(r.treasury.clone(), 3), (r.bank.clone(), 4)] {
            let admin = r.admin.clone();
            r.run(
                &admin,
                dbond::registry::Command::RegisterParticipant(
                    dbond::registry::RegisterParticipant {
                        participant_id: who.participant_id.clone(),
                        role: who.role,
                        public_key: public_key(seed),
                        display_name: who.participant_id.to_string(),
                    },
                ),
            );
        }
        r
    }

    fn append(&mut self, events: Vec<dbond::registry::Event>) {
        let mut changes = dbond::registry::Changes::default();
        for event in events {
            let meta = dbond::registry::EntryMeta {
                index: self.state.size(),
                recorded_at: self.now,
            };
            dbond::registry::apply(&mut self.state, &meta, &event, &mut changes)
                .unwrap_or_else(|e| panic!("a decided event does not apply: {e}"));
        }
    }

    /// What `command` decides now, without recording it.
    fn decide(
        &self,
        who: &dbond::registry::Caller,
        command: &dbond::registry::Command,
    ) -> Vec<dbond::registry::Event> {
        let ctx = dbond::registry::DecideCtx {
            index: self.state.size(),
            recorded_at: self.now,
        };
        match dbond::registry::decide(&self.state, who, &ctx, command) {
            Ok(dbond::registry::Decision::Append(events)) => events,
            other => panic!("{command:?} at {}: {other:?}", self.now),
        }
    }

    /// Decides and records `command`; returns its events.
    fn run(
        &mut self,
        who: &dbond::registry::Caller,
        command: dbond::registry::Command,
    ) -> Vec<dbond::registry::Event> {
        let events = self.decide(who, &command);
        self.append(events.clone());
        events
    }

    fn transition(&mut self, t: dbond::registry::SeriesTransition) -> Vec<dbond::registry::Event> {
        let treasury = self.treasury.clone();
        self.run(&treasury, dbond::registry::Command::Transition(t))
    }

    /// The bank subscribes `units` for `investor`; returns the subscription id.
    fn subscribe(&mut self, series: &dbond::registry::SeriesId, investor: &str, units: u64) -> u64 {
        let bank = self.bank.clone();
        let events = self.run(
            &bank,
            dbond::registry::Command::SubmitSubscription(dbond::registry::SubmitSubscription {
                series_id: series.clone(),
                investor_ref: dbond::registry::InvestorRef::parse("investor", investor).unwrap(),
                category: dbond::registry::DiasporaCategory::CitizenAbroad,
                country: dbond::registry::Country::parse("country", "DE").unwrap(),
                units: dbond::money::Units::new(units),
                idempotency_key: format!("{investor}-{}", self.state.size()),
                registration: dbond::registry::RegistrationForm::Sole,
            }),
        );
        match &events[0] {
            dbond::registry::Event::SubscriptionSubmitted(s) => s.subscription_id,
            other => panic!("a subscription, found {other:?}"),
        }
    }
}

/// Series terms for a vector case's bond terms: sold in the 20 days before
/// issue, 1 to 1,000 units per investor, USD, the given coupon and pricing.
fn series_terms(
    id: &str,
    bond: &BondTerms,
    coupon: dbond::registry::CouponSpec,
    pricing: dbond::registry::PricingSpec,
) -> dbond::registry::SeriesTerms {
    use chrono::{Duration, TimeZone, Utc};
    let issue = Utc.from_utc_datetime(&bond.issue_date().and_hms_opt(0, 0, 0).unwrap());
    dbond::registry::SeriesTerms {
        series_id: dbond::registry::SeriesId::parse("series_id", id).unwrap(),
        name: id.into(),
        currency: "USD".parse().unwrap(),
        face_value: bond.face(),
        min_units_per_investor: 1,
        max_units_per_investor: 1000,
        cap_units: 1000,
        coupon,
        frequency: bond.frequency(),
        day_count: bond.day_count(),
        business_day_convention: bond.business_day_convention(),
        calendar: bond.calendar(),
        end_of_month: bond.end_of_month(),
        first_coupon_date: bond.first_coupon_date(),
        record_date_lag_days: bond.record_date_lag_days().unwrap_or(0),
        issue_date: bond.issue_date(),
        maturity_date: bond.maturity_date(),
        window_opens_at: issue - Duration::days(20),
        window_closes_at: issue - Duration::days(5),
        allotment_rule: dbond::registry::AllotmentRule::FirstComeFirstServed,
        eligibility: dbond::registry::Eligibility {
            categories: [dbond::registry::DiasporaCategory::CitizenAbroad].into(),
            countries_allowed: Default::default(),
            countries_barred: Default::default(),
        },
        pricing,
        settlement_deadline: issue - Duration::days(3),
        unclaimed_period_days: None,
        transfers: Default::default(),
        early_redemption: None,
        date_generation: bond.date_generation(),
        accrual_dates: bond.accrual_dates(),
        payment_lag_days: bond.payment_lag_days(),
    }
}

fn coupon_spec(coupon: &CouponType) -> dbond::registry::CouponSpec {
    use dbond::registry::CouponSpec;
    match coupon {
        CouponType::Fixed(r) => CouponSpec::Fixed(Some(*r)),
        CouponType::Zero => CouponSpec::Zero,
        CouponType::StepUp(steps) => CouponSpec::StepUp(steps.clone()),
        other => panic!("no servicing vectors for {other:?}"),
    }
}

/// A decimal rounded half even to `dp` places.
fn round_half_even(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointNearestEven)
}

/// Half a unit of the published price's sixth decimal, plus the price tolerance.
fn published_price_tol() -> Decimal {
    Decimal::new(5, 7) + price_tol()
}

/// Units each tranche sells in the check of what its subscribers owe.
const TRANCHE_UNITS: u64 = 7;

/// One reopening case: the series issued in full at par, then, for each
/// settlement date in turn, a tranche reopened at the case's reference yield
/// less its discount, subscribed, closed and allotted (the registry's figures
/// compared with QuantLib's), and cancelled so the next one may open.
fn check_reopening_case(case: &Value) -> usize {
    use chrono::{Duration, TimeZone, Utc};
    use dbond::registry::{Command, Event, PricingSpec, SeriesTransition as T};
    let id = case["id"].as_str().unwrap();
    let (bond, _) =
        BondTerms::from_json(&case["terms"].to_string()).unwrap_or_else(|e| panic!("{id}: {e}"));
    let face = bond.face();
    let terms = series_terms(
        "AZ-REOPEN",
        &bond,
        coupon_spec(bond.coupon()),
        PricingSpec::IssuePrice(Decimal::ONE_HUNDRED),
    );
    let series = terms.series_id.clone();
    let issue = terms.window_opens_at + Duration::days(20);
    let mut r = Registry::new(terms.window_opens_at - Duration::days(1));
    let treasury = r.treasury.clone();
    r.run(&treasury, Command::CreateSeries(terms));
    r.transition(T::Open(series.clone()));
    r.now = issue - Duration::days(15);
    let first = r.subscribe(&series, "first", 10);
    r.now = issue - Duration::days(4);
    r.transition(T::Close(series.clone()));
    r.transition(T::Allot(series.clone()));
    let bank = r.bank.clone();
    r.run(&bank, Command::ConfirmSettlement(first));
    r.now = issue - Duration::days(2);
    r.transition(T::Issue(series.clone()));

    let reference = dec(&case["reference_yield"]);
    let bps = dec(&case["discount_bps"]);
    let rows = case["tranches"].as_array().unwrap();
    for row in rows {
        let settle = date(&row["settle"]);
        let what = format!("{id} tranche settling {settle}");
        let midnight = Utc.from_utc_datetime(&settle.and_hms_opt(0, 0, 0).unwrap());
        // The window: the day before settlement; subscribers settle by then.
        r.now = r.now.max(midnight - Duration::days(1));
        let reopened = r.run(
            &treasury,
            Command::ReopenSeries(dbond::registry::reopening::ReopenSeries {
                series_id: series.clone(),
                window_opens_at: r.now,
                window_closes_at: midnight,
                settlement_date: settle,
                settlement_deadline: midnight,
                reference_yield: reference,
                discount_bps: bps,
                cap_units: 1000,
            }),
        );
        let [Event::SeriesReopened(t)] = reopened.as_slice() else {
            panic!("{what}: one SeriesReopened, found {reopened:?}");
        };
        assert_eq!(
            t.issue_yield,
            dec(&case["issue_yield"]),
            "{what}: issue yield"
        );
        // The clean price (6 decimals) and price per unit (the cent), half even.
        let clean = dec(&row["clean"]);
        assert_close(
            &format!("{what}: clean price"),
            t.clean_price,
            clean,
            published_price_tol(),
        );
        assert_eq!(
            t.clean_price,
            round_half_even(t.clean_price, 6),
            "{what}: 6 decimals"
        );
        assert_eq!(
            t.price_per_unit,
            round_half_even(face * t.clean_price / Decimal::ONE_HUNDRED, 2),
            "{what}: price per unit = face x clean price / 100, to the cent"
        );
        let cent = Decimal::new(5, 3);
        let at_face = face * published_price_tol() / Decimal::ONE_HUNDRED;
        assert_close(
            &format!("{what}: price per unit"),
            t.price_per_unit,
            face * clean / Decimal::ONE_HUNDRED,
            cent + at_face,
        );
        // Accrued interest of one unit, unrounded.
        assert_close(
            &format!("{what}: accrued per unit"),
            t.accrued_per_unit,
            dec(&row["accrued"]),
            face * Decimal::new(1, 9),
        );
        // What a subscriber of the tranche owes: the units at the price per
        // unit plus their accrued interest, each rounded to the cent.
        r.now += Duration::hours(1);
        let sub = r.subscribe(&series, "tap", TRANCHE_UNITS);
        r.now += Duration::hours(1);
        r.transition(T::Close(series.clone()));
        let allotted = r.transition(T::Allot(series.clone()));
        let due = allotted
            .iter()
            .find_map(|e| match e {
                Event::SubscriptionsAllotted { allotments, .. } => allotments
                    .iter()
                    .find(|a| a.subscription_id == sub)
                    .map(|a| a.amount_due),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{what}: the subscription is allotted"));
        let units = Decimal::from(TRANCHE_UNITS);
        assert_eq!(
            due,
            units * t.price_per_unit + round_half_even(units * t.accrued_per_unit, 2),
            "{what}: amount due"
        );
        assert_close(
            &format!("{what}: amount due against QuantLib's price plus accrued"),
            due,
            units * dec(&row["amount_per_unit"]),
            units * (cent + at_face + face * Decimal::new(1, 9)) + cent,
        );
        r.transition(T::Cancel(series.clone(), "next settlement date".into()));
    }
    rows.len()
}

#[test]
fn reopenings_price_and_accrue_as_quantlib_does() {
    let cases = servicing_cases("reopening");
    assert!(cases.len() >= 30, "{} reopening cases", cases.len());
    let mut tranches = 0;
    for case in &cases {
        tranches += check_reopening_case(case);
    }
    assert!(tranches >= 150, "{tranches} tranche settlements");
}

/// One rounded-coupon case: the series defined by the registry with the par
/// coupon rounded down to the step, compared with QuantLib's.
fn check_rounded_coupon_case(case: &Value) {
    use dbond::registry::{CouponSpec, PricingSpec};
    let id = case["id"].as_str().unwrap();
    let mut bond_json = case["terms"].clone();
    bond_json["coupon_rate"] = "0".into();
    let (bond, _) =
        BondTerms::from_json(&bond_json.to_string()).unwrap_or_else(|e| panic!("{id}: {e}"));
    let face = bond.face();
    let step = dec(&case["coupon_step"]);
    let terms = series_terms(
        "AZ-ROUNDED",
        &bond,
        CouponSpec::Fixed(None),
        PricingSpec::Diaspora {
            reference_yield: dec(&case["reference_yield"]),
            discount_bps: dec(&case["discount_bps"]),
            derive_par_coupon: true,
            coupon_step: Some(step),
        },
    );
    let defined = dbond::registry::series::define(terms).unwrap_or_else(|e| panic!("{id}: {e}"));
    let f = &defined.figures;
    let coupon = f.coupon_rate.expect("a derived coupon");
    // The published par coupon (6 decimals, half even) rounded down to the step.
    assert_eq!(coupon, dec(&case["coupon"]), "{id}: coupon");
    assert_eq!(coupon % step, Decimal::ZERO, "{id}: a multiple of the step");
    let par = dec(&case["par_coupon"]);
    assert!(
        coupon <= round_half_even(par, 6) && round_half_even(par, 6) - coupon < step,
        "{id}: {coupon} is the 6-decimal par coupon {par} rounded down to {step}"
    );
    assert_eq!(
        f.issue_yield,
        Some(dec(&case["issue_yield"])),
        "{id}: yield"
    );
    assert_close(
        &format!("{id}: issue price"),
        f.issue_price,
        dec(&case["clean"]),
        published_price_tol(),
    );
    assert_eq!(f.issue_price, round_half_even(f.issue_price, 6), "{id}");
    assert_eq!(
        f.price_per_unit,
        round_half_even(face * f.issue_price / Decimal::ONE_HUNDRED, 2),
        "{id}: price per unit"
    );
    assert_close(
        &format!("{id}: savings per unit"),
        f.issuer_savings_per_unit.expect("savings"),
        dec(&case["savings_per_unit"]),
        face * Decimal::new(1, 9),
    );
    // The schedule pays the rounded coupon.
    let paid = defined
        .schedule
        .iter()
        .filter(|flow| flow.kind == CashFlowKind::Coupon)
        .all(|flow| flow.rate == Some(coupon));
    assert!(paid, "{id}: every coupon at {coupon}");
}

#[test]
fn rounded_coupons_price_as_quantlib_does() {
    let cases = servicing_cases("rounded_coupon");
    assert!(cases.len() >= 30, "{} rounded-coupon cases", cases.len());
    for case in &cases {
        check_rounded_coupon_case(case);
    }
}

/// The servicing checks can fail: a tranche's accrued interest, its clean
/// price, a rounded coupon and an issue price, each changed, are caught.
#[test]
fn tampered_servicing_vectors_are_rejected() {
    let reopen = servicing_cases("reopening")[0].clone();
    let rounded = servicing_cases("rounded_coupon")[0].clone();
    check_reopening_case(&reopen);
    check_rounded_coupon_case(&rounded);
    type Tamper = (&'static str, fn(&mut Value));
    let on_reopen: [Tamper; 2] = [
        ("accrued", |c| {
            let a = dec(&c["tranches"][1]["accrued"]) + Decimal::new(1, 4);
            c["tranches"][1]["accrued"] = a.to_string().into();
        }),
        ("clean price", |c| {
            let p = dec(&c["tranches"][0]["clean"]) + Decimal::new(2, 6);
            c["tranches"][0]["clean"] = p.to_string().into();
        }),
    ];
    for (what, f) in on_reopen {
        let mut bad = reopen.clone();
        f(&mut bad);
        let result = std::panic::catch_unwind(|| check_reopening_case(&bad));
        assert!(result.is_err(), "a tampered {what} was not detected");
    }
    let on_rounded: [Tamper; 2] = [
        ("coupon", |c| {
            let s = dec(&c["coupon"]) - dec(&c["coupon_step"]);
            c["coupon"] = s.to_string().into();
        }),
        ("issue price", |c| {
            let p = dec(&c["clean"]) - Decimal::new(2, 6);
            c["clean"] = p.to_string().into();
        }),
    ];
    for (what, f) in on_rounded {
        let mut bad = rounded.clone();
        f(&mut bad);
        let result = std::panic::catch_unwind(|| check_rounded_coupon_case(&bad));
        assert!(result.is_err(), "a tampered {what} was not detected");
    }
}
