//! A small bond programme on an in-process server with a clock the test moves:
//! a treasury, two banks, an engine and an auditor; fixed-rate series terms; and
//! helpers to create, sell and issue a series. Shared by the coupon and audit tests.

use super::{InProcess, new_key};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use dbond::client::{Client, SeriesAction};
use dbond::proto as pb;
use std::collections::BTreeMap;

pub fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).single().unwrap()
}

pub fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// When a series sells and lives.
pub struct Life {
    pub opens: DateTime<Utc>,
    pub closes: DateTime<Utc>,
    pub settlement_deadline: DateTime<Utc>,
    pub issue: NaiveDate,
    pub maturity: NaiveDate,
}

impl Life {
    /// Selling now on the wall clock (for tests against `dbond serve`): the window
    /// opened an hour ago and closes after `selling`, settlement an hour later;
    /// issued ten days from now, maturing `months` later.
    pub fn selling_now(selling: chrono::Duration, months: u32) -> Life {
        let now = Utc::now();
        let issue = (now + chrono::Duration::days(10)).date_naive();
        Life {
            opens: now - chrono::Duration::hours(1),
            closes: now + selling,
            settlement_deadline: now + selling + chrono::Duration::hours(1),
            issue,
            maturity: issue
                .checked_add_months(chrono::Months::new(months))
                .unwrap(),
        }
    }
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Plain, valid terms: USD 1,000 face, 5 % fixed, semiannual, ACT/ACT ICMA,
/// following on a weekends-only calendar, record date five days before payment,
/// pro rata, for citizens abroad, issued at par, 1 to 100 units per investor, cap
/// 10,000 units. Tests change the fields they are about.
pub fn plain_terms(id: &str, life: Life) -> pb::SeriesTerms {
    pb::SeriesTerms {
        series_id: id.into(),
        name: id.into(),
        currency: "USD".into(),
        face_value: "1000".into(),
        min_units_per_investor: "1".into(),
        max_units_per_investor: "100".into(),
        cap_units: "10000".into(),
        coupon: Some(pb::Coupon {
            kind: Some(pb::coupon::Kind::Fixed(pb::FixedCoupon {
                rate: "0.05".into(),
            })),
        }),
        frequency: "semiannual".into(),
        day_count: "ACT/ACT ICMA".into(),
        business_day_convention: "following".into(),
        calendar: "weekends_only".into(),
        end_of_month: false,
        first_coupon_date: String::new(),
        record_date_lag_days: 5,
        issue_date: life.issue.to_string(),
        maturity_date: life.maturity.to_string(),
        window_opens_at: ts(life.opens),
        window_closes_at: ts(life.closes),
        allotment_rule: pb::AllotmentRule::ProRata as i32,
        retail_priority_units: String::new(),
        eligibility: Some(pb::Eligibility {
            categories: vec![pb::DiasporaCategory::CitizenAbroad as i32],
            countries_allowed: vec![],
            countries_barred: vec![],
        }),
        pricing: Some(pb::Pricing {
            kind: Some(pb::pricing::Kind::IssuePrice(pb::FixedPrice {
                price: "100".into(),
            })),
        }),
        settlement_deadline: ts(life.settlement_deadline),
    }
}

/// The programme's series: sold in December 2026, issued 2027-01-15, maturing
/// after `years`, up to 500 units per investor, modified following.
pub fn terms(id: &str, currency: &str, coupon: pb::coupon::Kind, years: u32) -> pb::SeriesTerms {
    let mut t = plain_terms(
        id,
        Life {
            opens: at(2026, 12, 1),
            closes: at(2027, 1, 10),
            settlement_deadline: at(2027, 1, 12),
            issue: day("2027-01-15"),
            maturity: day(&format!("{}-01-15", 2027 + years)),
        },
    );
    t.currency = currency.into();
    t.coupon = Some(pb::Coupon { kind: Some(coupon) });
    t.max_units_per_investor = "500".into();
    t.cap_units = "100000".into();
    t.business_day_convention = "modified_following".into();
    t
}

pub struct World {
    pub server: InProcess,
    pub treasury: Client,
    pub banks: Vec<Client>,
    pub engine: Client,
    pub auditor: Client,
}

pub async fn world() -> World {
    let server = InProcess::start(at(2026, 11, 20)).await;
    let admin = server.admin().await;
    let (t, e, au) = (new_key(), new_key(), new_key());
    admin
        .register(
            "treasury",
            pb::Role::Treasury,
            &t.verifying_key(),
            "Treasury",
        )
        .await
        .unwrap();
    admin
        .register(
            "engine",
            pb::Role::Engine,
            &e.verifying_key(),
            "Accrual engine",
        )
        .await
        .unwrap();
    admin
        .register("auditor", pb::Role::Auditor, &au.verifying_key(), "Auditor")
        .await
        .unwrap();
    let mut banks = Vec::new();
    for b in ["bank-a", "bank-b"] {
        let k = new_key();
        admin
            .register(b, pb::Role::Bank, &k.verifying_key(), b)
            .await
            .unwrap();
        banks.push(admin.as_key(k));
    }
    World {
        treasury: admin.as_key(t),
        engine: admin.as_key(e),
        auditor: admin.as_key(au),
        banks,
        server,
    }
}

/// Creates and opens a series (the clock must be before its window).
pub async fn create(w: &World, series: pb::SeriesTerms) {
    let id = series.series_id.clone();
    w.treasury.create_series(series).await.unwrap();
    w.treasury
        .series_action(SeriesAction::Open, &id)
        .await
        .unwrap();
}

/// Sells an open series to `holders` investors split over the banks and issues it
/// (the clock must be inside its window); returns units per (bank, investor).
pub async fn issue(w: &World, id: &str, holders: usize) -> BTreeMap<(String, String), u64> {
    let id = id.to_string();
    w.server.set_time(at(2026, 12, 2));
    let mut units = BTreeMap::new();
    for i in 0..holders {
        let bank = &w.banks[i % 2];
        let u = 1 + (i as u64 * 37) % 400;
        let r = bank
            .submit(pb::SubmitSubscription {
                series_id: id.clone(),
                investor_ref: format!("inv-{i}"),
                category: pb::DiasporaCategory::CitizenAbroad as i32,
                country: "DE".into(),
                units: u.to_string(),
                idempotency_key: format!("{id}-{i}"),
            })
            .await
            .unwrap();
        units.insert(
            (
                r.subscription.as_ref().unwrap().bank_id.clone(),
                format!("inv-{i}"),
            ),
            u,
        );
    }
    w.treasury
        .series_action(SeriesAction::Close, &id)
        .await
        .unwrap();
    w.treasury
        .series_action(SeriesAction::Allot, &id)
        .await
        .unwrap();
    for s in w.auditor.all_subscriptions(&id).await.unwrap() {
        let bank = if s.bank_id == "bank-a" {
            &w.banks[0]
        } else {
            &w.banks[1]
        };
        bank.settle(s.subscription_id).await.unwrap();
    }
    w.treasury
        .series_action(SeriesAction::Issue, &id)
        .await
        .unwrap();
    units
}
