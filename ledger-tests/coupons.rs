//! The accrual engine end to end, on a server with a clock the test moves: fixed
//! and floating series issued to many holders run from issue to maturity; fixings
//! published, a missing one reported as waiting and never guessed; catch-up after
//! downtime posts each event once, in order; re-runs post nothing; every holder
//! receives exactly the schedule; the ledger verifies. Responses state money at
//! the currency's minor unit and rates at six decimals.

use crate::common;

use common::Backend;
use common::programme::{World, at, create, issue, terms, world_on};
use common::verify_over_the_wire;
use dbond::proto as pb;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;
use std::str::FromStr;
use tonic::Code;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// What each holder should receive over the life: every scheduled flow's amount
/// per unit × units, rounded half-even to cents per payment.
fn expected_total(schedule: &[pb::ScheduledFlow], units: u64) -> Decimal {
    schedule
        .iter()
        .map(|f| {
            (d(&f.amount_per_unit) * Decimal::from(units))
                .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_and_floating_series_run_from_issue_to_maturity() {
    fixed_and_floating_series_run_from_issue_to_maturity_on(Backend::Sled).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_and_floating_series_run_from_issue_to_maturity_on_postgres() {
    fixed_and_floating_series_run_from_issue_to_maturity_on(Backend::Postgres).await
}

async fn fixed_and_floating_series_run_from_issue_to_maturity_on(backend: Backend) {
    let w = world_on(backend).await;
    create(
        &w,
        terms(
            "AZ-2030-USD",
            "USD",
            pb::coupon::Kind::Fixed(pb::FixedCoupon {
                rate: "0.0525".into(),
            }),
            3,
        ),
    )
    .await;
    let floating_coupon = pb::coupon::Kind::Floating(pb::FloatingCoupon {
        reference_rate: "EURIBOR-6M".into(),
        spread: "0.0125".into(),
        floor: "0.02".into(),
    });
    create(&w, terms("AZ-2029-EUR", "EUR", floating_coupon, 2)).await;
    let fixed = issue(&w, "AZ-2030-USD", 60).await;
    let floating = issue(&w, "AZ-2029-EUR", 30).await;

    // Only the treasury publishes fixings; the engine alone posts.
    w.server.set_time(at(2027, 1, 20));
    for (date, rate) in [
        ("2027-01-15", "0.031"),
        ("2028-01-15", "0.004"),
        ("2028-07-15", "0.029"),
    ] {
        w.treasury
            .publish_fixing("EURIBOR-6M", date, rate)
            .await
            .unwrap();
    }
    assert_eq!(
        w.treasury
            .publish_fixing("EURIBOR-6M", "2027-01-15", "0.05")
            .await
            .unwrap_err()
            .code(),
        Code::AlreadyExists
    );
    assert_eq!(
        w.banks[0]
            .publish_fixing("EURIBOR-6M", "2027-07-15", "0.05")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        w.treasury
            .post_accrual("AZ-2030-USD", "AZ-2030-USD/record/0")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // Nothing is due before the first record date; a future event cannot be posted.
    let (posted, _, _) = w.engine.accrue("2027-06-30", |_, _| {}).await.unwrap();
    assert_eq!(
        posted, 0,
        "the engine never posts ahead of the server's date"
    );
    assert_eq!(
        w.engine
            .post_accrual("AZ-2030-USD", "AZ-2030-USD/coupon/0")
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );

    // Downtime: the engine comes back after 20 months and catches up in date order.
    w.server.set_time(at(2028, 9, 1));
    let mut seen = Vec::new();
    let (posted, already, waiting) = w
        .engine
        .accrue("2028-09-01", |d, _| {
            seen.push((d.date.clone(), d.event_id.clone()))
        })
        .await
        .unwrap();
    assert!(posted > 0 && already == 0);
    let dates: Vec<&String> = seen.iter().map(|(d, _)| d).collect();
    let mut sorted = dates.clone();
    sorted.sort();
    // Per series the order is by date; the two series interleave by series.
    for series in ["AZ-2030-USD", "AZ-2029-EUR"] {
        let ds: Vec<&String> = seen
            .iter()
            .filter(|(_, id)| id.starts_with(series))
            .map(|(d, _)| d)
            .collect();
        assert!(
            ds.windows(2).all(|p| p[0] <= p[1]),
            "{series} events in date order: {ds:?}"
        );
    }
    // The floating coupon fixing on 2027-07-15 is missing: waiting, never guessed.
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0].fixing_date, "2027-07-15");
    let debt = w.treasury.debt_service("AZ-2029-EUR").await.unwrap();
    assert_eq!(
        debt.lines.iter().filter(|l| l.status == "waiting").count(),
        1
    );
    // Re-running posts nothing new.
    let (posted_again, _, _) = w.engine.accrue("2028-09-01", |_, _| {}).await.unwrap();
    assert_eq!(posted_again, 0);
    // Posting an already posted event again is an idempotent no-op.
    let r = w
        .engine
        .post_accrual("AZ-2030-USD", "AZ-2030-USD/record/0")
        .await
        .unwrap();
    assert!(r.already_posted);

    // The fixing arrives late; the coupon is paid, with the floor applied to 2028-01.
    w.treasury
        .publish_fixing("EURIBOR-6M", "2027-07-15", "0.0335")
        .await
        .unwrap();
    let (posted, _, waiting) = w.engine.accrue("2028-09-01", |_, _| {}).await.unwrap();
    assert!(
        posted >= 1 && waiting.is_empty(),
        "the coupon of the late fixing (its record date was fixed on time)"
    );
    let series = w.auditor.get_series("AZ-2029-EUR").await.unwrap();
    let _ = series;

    // Run to maturity and beyond; both series mature.
    w.server.set_time(at(2030, 3, 1));
    w.engine.accrue("2030-03-01", |_, _| {}).await.unwrap();
    for (id, units) in [("AZ-2030-USD", &fixed), ("AZ-2029-EUR", &floating)] {
        let s = w.auditor.get_series(id).await.unwrap();
        assert_eq!(s.status, pb::SeriesStatus::Matured as i32, "{id}");
        let debt = w.treasury.debt_service(id).await.unwrap();
        assert!(
            debt.lines.iter().all(|l| l.status == "paid"),
            "{id}: {:?}",
            debt.lines
        );
        // Recompute the schedule with the fixings (the stored one has no floating amounts).
        let schedule = flows_with_fixings(&w, id).await;
        let mut total_paid = Decimal::ZERO;
        for ((bank, investor), u) in units {
            let st = w.banks[if bank == "bank-a" { 0 } else { 1 }]
                .statement(investor, "", "2030-03-01")
                .await
                .unwrap();
            let line = st
                .holdings
                .iter()
                .find(|l| l.holding.as_ref().unwrap().series_id == id)
                .expect("holding of this series");
            let h = line.holding.as_ref().unwrap();
            assert_eq!(h.redeemed_units, h.units, "holding closed at maturity");
            assert!(line.upcoming.is_empty());
            let received: Decimal = line.received.iter().map(|p| d(&p.amount)).sum();
            assert_eq!(
                received,
                expected_total(&schedule, *u),
                "{id} {investor}: received vs schedule"
            );
            total_paid += received;
        }
        let debt_total: Decimal = debt.lines.iter().map(|l| d(&l.amount)).sum();
        assert_eq!(
            debt_total, total_paid,
            "{id}: debt service paid = sum received by holders"
        );
    }
    let n = verify_over_the_wire(&w.auditor).await;
    assert!(n > 100, "{n} entries verified");
}

/// The series' cash flows per unit, with the published fixings.
async fn flows_with_fixings(w: &World, id: &str) -> Vec<pb::ScheduledFlow> {
    let s = w.auditor.get_series(id).await.unwrap();
    if s.schedule.iter().all(|f| !f.amount_per_unit.is_empty()) {
        return s.schedule;
    }
    let t = s.terms.unwrap();
    let Some(pb::coupon::Kind::Floating(f)) = t.coupon.and_then(|c| c.kind) else {
        panic!("floating expected")
    };
    let fixings: Vec<serde_json::Value> = w
        .auditor
        .fixings(&f.reference_rate)
        .await
        .unwrap()
        .into_iter()
        .map(|x| serde_json::json!({"reference": x.reference_rate, "date": x.fixing_date, "rate": x.rate}))
        .collect();
    let terms = serde_json::json!({
        "face": t.face_value, "frequency": t.frequency, "day_count": t.day_count, "issue_date": t.issue_date,
        "maturity_date": t.maturity_date, "first_coupon_date": null, "business_day_convention": t.business_day_convention,
        "calendar": t.calendar, "end_of_month": t.end_of_month, "date_generation": "backward", "accrual_dates": "unadjusted",
        "payment_lag_days": 0, "coupon_type": "floating",
        "floating": {"reference": f.reference_rate, "spread": f.spread, "floor": f.floor},
        "fixings": fixings,
    });
    w.auditor.price_schedule(&terms.to_string()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accrued_interest_and_statements() {
    accrued_interest_and_statements_on(Backend::Sled).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accrued_interest_and_statements_on_postgres() {
    accrued_interest_and_statements_on(Backend::Postgres).await
}

async fn accrued_interest_and_statements_on(backend: Backend) {
    let w = world_on(backend).await;
    create(
        &w,
        terms(
            "AZ-2032-USD",
            "USD",
            pb::coupon::Kind::Fixed(pb::FixedCoupon {
                rate: "0.06".into(),
            }),
            5,
        ),
    )
    .await;
    let units = issue(&w, "AZ-2032-USD", 10).await;
    w.server.set_time(at(2027, 4, 15));
    // Zero on the issue date; positive inside the first period; per unit × units.
    let a0 = w
        .treasury
        .accrued("AZ-2032-USD", "2027-01-15")
        .await
        .unwrap();
    assert_eq!(d(&a0.per_unit), Decimal::ZERO);
    let a = w
        .treasury
        .accrued("AZ-2032-USD", "2027-04-15")
        .await
        .unwrap();
    let total_units: u64 = units.values().sum();
    assert_eq!(a.units, total_units.to_string());
    assert_eq!(d(&a.total), d(&a.per_unit) * Decimal::from(total_units));
    // 90 of 181 days of a 30.00 coupon.
    assert_eq!(
        d(&a.per_unit).round_dp(6),
        (Decimal::from(30) * Decimal::from(90) / Decimal::from(181)).round_dp(6)
    );
    let st = w.banks[0]
        .statement("inv-0", "", "2027-04-15")
        .await
        .unwrap();
    assert_eq!(st.holdings.len(), 1);
    assert_eq!(
        st.holdings[0].upcoming.len(),
        11,
        "10 coupons and the redemption ahead"
    );
    assert_eq!(
        w.banks[1]
            .statement("inv-0", "bank-a", "")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        w.banks[0]
            .debt_service("AZ-2032-USD")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
}

/// Responses write money that is paid or due at the currency's minor unit and
/// rates at six decimals (services.proto), for a USD and a JPY series from
/// sale through a coupon with tax withheld and a payment reported
/// undeliverable; the ledger's own entries keep their figures as recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_state_money_at_the_minor_unit_and_rates_at_six_decimals() {
    use dbond::client::SeriesAction;
    let w = world_on(Backend::Sled).await;
    let fixed = |rate: &str| pb::coupon::Kind::Fixed(pb::FixedCoupon { rate: rate.into() });
    create(&w, terms("AZ-2030-USD", "USD", fixed("0.0525"), 3)).await;
    let mut yen = terms("AZ-2030-JPY", "JPY", fixed("0.0525"), 3);
    yen.face_value = "100000".into();
    create(&w, yen).await;
    w.treasury
        .set_withholding_table("", "2027-01-01", "0.1", &[("GB".into(), "0.05".into())])
        .await
        .unwrap();
    w.treasury
        .publish_fixing("EURIBOR-6M", "2027-01-15", "0.031")
        .await
        .unwrap();

    // Four units of each, allotted, settled and issued.
    w.server.set_time(at(2026, 12, 2));
    let mut subscriptions = Vec::new();
    for id in ["AZ-2030-USD", "AZ-2030-JPY"] {
        let sub = w.banks[0]
            .submit(pb::SubmitSubscription {
                series_id: id.into(),
                investor_ref: "inv-s".into(),
                category: pb::DiasporaCategory::CitizenAbroad as i32,
                country: "DE".into(),
                units: "4".into(),
                idempotency_key: format!("{id}-s"),
                registration: None,
            })
            .await
            .unwrap()
            .subscription
            .unwrap();
        w.treasury
            .series_action(SeriesAction::Close, id)
            .await
            .unwrap();
        let allotted = w
            .treasury
            .series_action(SeriesAction::Allot, id)
            .await
            .unwrap();
        // The allotment as the ledger records it: the amount due unpadded.
        let index = allotted.receipt.unwrap().index + 1;
        let entry = w.auditor.entry(index).await.unwrap().entry;
        let event = dbond::ledger::entry::open(&entry)
            .unwrap()
            .body
            .event
            .and_then(|e| e.kind);
        let Some(pb::event::Kind::SubscriptionsAllotted(a)) = event else {
            panic!("entry {index}: {event:?}")
        };
        let recorded = if id.ends_with("USD") {
            "4000"
        } else {
            "400000"
        };
        assert_eq!(a.allotments[0].amount_due, recorded, "{id}: as recorded");
        w.banks[0].settle(sub.subscription_id).await.unwrap();
        w.treasury
            .series_action(SeriesAction::Issue, id)
            .await
            .unwrap();
        subscriptions.push(sub.subscription_id);
    }

    // The series, its terms, figures, schedule and book.
    let usd = w.auditor.get_series("AZ-2030-USD").await.unwrap();
    let t = usd.terms.as_ref().unwrap();
    assert_eq!(t.face_value, "1000.00");
    assert_eq!(
        t.coupon,
        Some(pb::Coupon {
            kind: Some(fixed("0.052500"))
        })
    );
    let Some(pb::pricing::Kind::IssuePrice(price)) =
        t.pricing.as_ref().and_then(|p| p.kind.clone())
    else {
        panic!("{:?}", t.pricing)
    };
    assert_eq!(price.price, "100.000000");
    let f = usd.figures.as_ref().unwrap();
    assert_eq!(
        (
            f.issue_price.as_str(),
            f.coupon_rate.as_str(),
            f.price_per_unit.as_str()
        ),
        ("100.000000", "0.052500", "1000.00")
    );
    assert_eq!(usd.book.as_ref().unwrap().amount_raised, "4000.00");
    assert_eq!(usd.schedule[0].rate, "0.052500");
    assert_eq!(
        d(&usd.schedule[0].amount_per_unit),
        d("26.25"),
        "unrounded, by value"
    );
    assert_eq!(usd.unclaimed_balance, "0.00");
    let jpy = w.auditor.get_series("AZ-2030-JPY").await.unwrap();
    assert_eq!(jpy.terms.as_ref().unwrap().face_value, "100000");
    let f = jpy.figures.as_ref().unwrap();
    assert_eq!(
        (f.coupon_rate.as_str(), f.price_per_unit.as_str()),
        ("0.052500", "100000")
    );
    assert_eq!(jpy.book.as_ref().unwrap().amount_raised, "400000");
    assert_eq!(jpy.unclaimed_balance, "0");

    // Subscriptions, withholding tables and fixings.
    let due: Vec<String> = [
        w.banks[0].get_subscription(subscriptions[0]).await.unwrap(),
        w.banks[0].get_subscription(subscriptions[1]).await.unwrap(),
    ]
    .into_iter()
    .map(|s| s.amount_due)
    .collect();
    assert_eq!(due, ["4000.00", "400000"]);
    let tables = w.auditor.withholding_tables("").await.unwrap().tables;
    assert_eq!(tables[0].default_rate, "0.100000");
    assert_eq!(tables[0].treaty_rates[0].rate, "0.050000");
    let fixings = w.auditor.fixings("EURIBOR-6M").await.unwrap();
    assert_eq!(fixings[0].rate, "0.031000");

    // The first coupon: 26.25 a unit (2,625 yen), 10 % withheld.
    w.server.set_time(at(2027, 7, 20));
    let mut totals = BTreeMap::new();
    w.engine
        .accrue("2027-07-20", |d, _| {
            if d.kind == "coupon" {
                totals.insert(d.series_id.clone(), d.amount.clone());
            }
        })
        .await
        .unwrap();
    assert_eq!(totals["AZ-2030-USD"], "105.00");
    assert_eq!(totals["AZ-2030-JPY"], "10500");
    let st = w.banks[0]
        .statement("inv-s", "", "2027-07-20")
        .await
        .unwrap();
    let paid: BTreeMap<String, [String; 4]> = st
        .holdings
        .iter()
        .map(|l| {
            let p = &l.received[0];
            let figures = [&p.amount, &p.gross, &p.withheld, &p.net].map(|s| s.to_string());
            (l.holding.as_ref().unwrap().series_id.clone(), figures)
        })
        .collect();
    assert_eq!(paid["AZ-2030-USD"], ["105.00", "105.00", "10.50", "94.50"]);
    assert_eq!(paid["AZ-2030-JPY"], ["10500", "10500", "1050", "9450"]);
    let report = w.treasury.tax_report("AZ-2030-USD", 2027).await.unwrap();
    assert_eq!(
        [report.gross, report.withheld, report.net],
        ["105.00", "10.50", "94.50"]
    );
    let ds = w.treasury.debt_service("AZ-2030-USD").await.unwrap();
    assert_eq!(
        (ds.lines[0].status.as_str(), ds.lines[0].amount.as_str()),
        ("paid", "105.00")
    );

    // The coupon reported undeliverable: owed net, in the unclaimed balance.
    let event_id = st
        .holdings
        .iter()
        .find(|l| l.currency == "USD")
        .unwrap()
        .received[0]
        .event_id
        .clone();
    let u = w.banks[0]
        .report_undeliverable(&event_id, "inv-s")
        .await
        .unwrap()
        .unclaimed
        .unwrap();
    assert_eq!(
        [u.gross, u.withheld, u.amount],
        ["105.00", "10.50", "94.50"]
    );
    let list = w.banks[0]
        .list_unclaimed("AZ-2030-USD", "2027-07-20")
        .await
        .unwrap();
    assert_eq!(
        (
            list.balances[0].balance.as_str(),
            list.balances[0].overdue.as_str()
        ),
        ("94.50", "0.00")
    );
    let usd = w.auditor.get_series("AZ-2030-USD").await.unwrap();
    assert_eq!(usd.unclaimed_balance, "94.50");
}
