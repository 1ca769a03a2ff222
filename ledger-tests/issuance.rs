//! A whole issuance against a real server: two banks, a hundred investors in
//! several countries and categories, an oversubscribed book allotted pro rata,
//! settlement, issue; every query checks the numbers; a restart gives the same
//! state; the ledger verifies. Plus every refusal path over the wire.

use crate::common;

use common::{Backend, Server, new_key};
use dbond::client::{Client, SeriesAction};
use dbond::proto as pb;
use dbond_testkit::{ALL_CATEGORIES, Life, Terms};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;
use tonic::Code;

/// Terms of a 5-year series whose window is open now.
fn terms(series_id: &str, currency: &str, cap: u64) -> pb::SeriesTerms {
    Terms::new(series_id, Life::selling_now(chrono::Duration::hours(1), 60))
        .name(format!("Diaspora bond {series_id}"))
        .currency(currency)
        .cap_units(cap)
        .fixed_rate("")
        .categories(&ALL_CATEGORIES)
        .countries_barred(&["IR", "KP"])
        .diaspora_pricing("0.065", "150", true)
        .build()
}

struct Programme {
    server: Server,
    treasury: Client,
    bank_a: Client,
    bank_b: Client,
    auditor: Client,
}

async fn programme(backend: Backend) -> Programme {
    let server = Server::start_on_backend(backend);
    let admin = server.admin().await;
    let (t, a, b, au) = (new_key(), new_key(), new_key(), new_key());
    admin
        .register(
            "treasury",
            pb::Role::Treasury,
            &t.verifying_key(),
            "Ministry of Finance",
        )
        .await
        .unwrap();
    admin
        .register("bank-a", pb::Role::Bank, &a.verifying_key(), "Bank A")
        .await
        .unwrap();
    admin
        .register("bank-b", pb::Role::Bank, &b.verifying_key(), "Bank B")
        .await
        .unwrap();
    admin
        .register(
            "auditor",
            pb::Role::Auditor,
            &au.verifying_key(),
            "Chamber of Accounts",
        )
        .await
        .unwrap();
    Programme {
        treasury: admin.as_key(t),
        bank_a: admin.as_key(a),
        bank_b: admin.as_key(b),
        auditor: admin.as_key(au),
        server,
    }
}

const COUNTRIES: [&str; 7] = ["DE", "US", "GB", "TR", "RU", "FR", "CA"];

fn sub(series: &str, i: usize, units: u64) -> pb::SubmitSubscription {
    pb::SubmitSubscription {
        series_id: series.into(),
        investor_ref: format!("inv-{i:03}"),
        category: ALL_CATEGORIES[i % 4] as i32,
        country: COUNTRIES[i % COUNTRIES.len()].into(),
        units: units.to_string(),
        idempotency_key: format!("order-{i}"),
        registration: None,
    }
}

fn n(s: &str) -> u64 {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_issuance_with_two_banks_and_a_hundred_investors() {
    a_whole_issuance_with_two_banks_and_a_hundred_investors_on(Backend::Sled).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_issuance_with_two_banks_and_a_hundred_investors_on_postgres() {
    a_whole_issuance_with_two_banks_and_a_hundred_investors_on(Backend::Postgres).await
}

async fn a_whole_issuance_with_two_banks_and_a_hundred_investors_on(backend: Backend) {
    let mut p = programme(backend).await;
    let series_id = "AZ-2031-USD";
    let created = p
        .treasury
        .create_series(terms(series_id, "USD", 3000))
        .await
        .unwrap();
    let s = created.series.unwrap();
    assert_eq!(s.status, pb::SeriesStatus::Draft as i32);
    let figures = s.figures.unwrap();
    let coupon = Decimal::from_str(&figures.coupon_rate).unwrap();
    assert!(
        (coupon - Decimal::from_str("0.05").unwrap()).abs() < Decimal::from_str("0.001").unwrap(),
        "par coupon {coupon}"
    );
    assert_eq!(
        Decimal::from_str(&figures.issue_yield).unwrap(),
        Decimal::from_str("0.05").unwrap(),
        "diaspora yield = 6.5% - 150 bp"
    );
    assert!(Decimal::from_str(&figures.issuer_savings_per_unit).unwrap() > Decimal::ZERO);
    assert_eq!(
        s.schedule.len(),
        11,
        "the schedule is computed at creation and stored"
    );
    p.treasury
        .series_action(SeriesAction::Open, series_id)
        .await
        .unwrap();

    // A hundred investors, concurrently, half at each bank.
    let mut units_of = BTreeMap::new();
    let mut tasks = Vec::new();
    for i in 0..100usize {
        let units = 10 + (i as u64 * 7) % 90;
        units_of.insert(format!("inv-{i:03}"), units);
        let bank = if i % 2 == 0 {
            p.bank_a.clone()
        } else {
            p.bank_b.clone()
        };
        tasks.push(tokio::spawn(async move {
            bank.submit(sub(series_id, i, units)).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert!(!r.idempotent_replay);
    }
    let subscribed: u64 = units_of.values().sum();
    assert!(
        subscribed > 3000,
        "the book is oversubscribed ({subscribed})"
    );

    // Banks read only their own subscriptions.
    let mine = p.bank_a.all_subscriptions(series_id).await.unwrap();
    assert_eq!(mine.len(), 50);
    assert!(mine.iter().all(|s| s.bank_id == "bank-a"));
    let theirs = p.bank_b.all_subscriptions("").await.unwrap()[0].subscription_id;
    assert_eq!(
        p.bank_a.get_subscription(theirs).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        p.auditor.all_subscriptions(series_id).await.unwrap().len(),
        100
    );

    p.treasury
        .series_action(SeriesAction::Close, series_id)
        .await
        .unwrap();
    let allotted = p
        .treasury
        .series_action(SeriesAction::Allot, series_id)
        .await
        .unwrap()
        .series
        .unwrap();
    assert_eq!(allotted.status, pb::SeriesStatus::Allotted as i32);
    let book = allotted.book.unwrap();
    assert_eq!(n(&book.subscribed_units), subscribed);
    assert_eq!(
        n(&book.allotted_units),
        3000,
        "an oversubscribed book is allotted up to the cap exactly"
    );
    assert_eq!(book.subscriptions, 100);
    let cat_sum: u64 = book.by_category.iter().map(|b| n(&b.allotted_units)).sum();
    let country_sum: u64 = book.by_country.iter().map(|b| n(&b.subscribed_units)).sum();
    assert_eq!(cat_sum, 3000);
    assert_eq!(country_sum, subscribed);
    assert_eq!(book.by_country.len(), COUNTRIES.len());
    assert_eq!(book.by_category.len(), 4);

    // Every subscription: allotted + refunded = subscribed; pro rata within one unit.
    let all = p.auditor.all_subscriptions(series_id).await.unwrap();
    let price = Decimal::from_str(&allotted.figures.as_ref().unwrap().price_per_unit).unwrap();
    for s in &all {
        assert_eq!(n(&s.allotted_units) + n(&s.refunded_units), n(&s.units));
        let exact = n(&s.units) * 3000 / subscribed;
        assert!(n(&s.allotted_units) == exact || n(&s.allotted_units) == exact + 1);
        assert_eq!(
            Decimal::from_str(&s.amount_due).unwrap(),
            Decimal::from(n(&s.allotted_units)) * price
        );
    }

    // Settlement: each bank confirms its own; not the other's.
    let b_sub = all
        .iter()
        .find(|s| s.bank_id == "bank-b")
        .unwrap()
        .subscription_id;
    assert_eq!(
        p.bank_a.settle(b_sub).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        p.treasury
            .series_action(SeriesAction::Issue, series_id)
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    for s in &all {
        let bank = if s.bank_id == "bank-a" {
            &p.bank_a
        } else {
            &p.bank_b
        };
        let r = bank.settle(s.subscription_id).await.unwrap();
        assert_eq!(
            r.subscription.unwrap().status,
            pb::SubscriptionStatus::Settled as i32
        );
    }
    let issued = p
        .treasury
        .series_action(SeriesAction::Issue, series_id)
        .await
        .unwrap()
        .series
        .unwrap();
    assert_eq!(issued.status, pb::SeriesStatus::Issued as i32);
    let book = issued.book.unwrap();
    assert_eq!(n(&book.issued_units), 3000);
    assert_eq!(
        Decimal::from_str(&book.amount_raised).unwrap(),
        Decimal::from(3000) * price
    );

    // Holdings: paginated holders sum to the cap; investors see theirs through their bank.
    let holders = p.auditor.all_holders(series_id, 7).await.unwrap();
    assert_eq!(holders.len(), 100);
    assert_eq!(holders.iter().map(|h| n(&h.units)).sum::<u64>(), 3000);
    let h = p.bank_a.investor_holdings("inv-000", "").await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(
        h[0].units,
        all.iter()
            .find(|s| s.investor_ref == "inv-000")
            .unwrap()
            .allotted_units
    );
    assert!(
        p.bank_b
            .investor_holdings("inv-000", "")
            .await
            .unwrap()
            .is_empty(),
        "bank-b has no such client"
    );
    assert_eq!(
        p.bank_b
            .investor_holdings("inv-000", "bank-a")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        p.treasury
            .investor_holdings("inv-000", "bank-a")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        p.bank_a
            .all_holders(series_id, 10)
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // A restart gives the same state; the ledger verifies.
    let before = p.auditor.get_series(series_id).await.unwrap();
    p.server.stop();
    let mut verify = vec!["verify".to_string()];
    verify.extend(p.server.store_args());
    let verify: Vec<&str> = verify.iter().map(String::as_str).collect();
    let (ok, out, err) = Server::dbond(&verify);
    assert!(ok, "verify: {out} {err}");
    p.server.restart();
    let auditor = p
        .server
        .client(dbond::ledger::keys::read_private_key(&p.server.data.join("admin.key")).unwrap())
        .await;
    assert_eq!(auditor.get_series(series_id).await.unwrap(), before);
    assert_eq!(auditor.all_holders(series_id, 1000).await.unwrap(), holders);
}

#[tokio::test]
async fn every_refusal_over_the_wire() {
    every_refusal_over_the_wire_on(Backend::Sled).await
}

#[tokio::test]
async fn every_refusal_over_the_wire_on_postgres() {
    every_refusal_over_the_wire_on(Backend::Postgres).await
}

async fn every_refusal_over_the_wire_on(backend: Backend) {
    let p = programme(backend).await;
    let sid = "AZ-2030-EUR";
    // Treasury-only and bank-only operations.
    assert_eq!(
        p.bank_a
            .create_series(terms(sid, "EUR", 1000))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    // Invalid terms name the field.
    let mut bad = terms(sid, "EUR", 1000);
    bad.face_value = "1000.5.0".into();
    let err = p.treasury.create_series(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    use tonic_types::StatusExt;
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "terms.face_value"
    );
    let mut bad = terms(sid, "XXX", 1000);
    bad.day_count = "ACT/366".into();
    assert_eq!(
        p.treasury.create_series(bad).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let mut bad = terms(sid, "EUR", 1000);
    bad.issue_date = "2027-02-30".into();
    assert_eq!(
        p.treasury.create_series(bad).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    p.treasury
        .create_series(terms(sid, "EUR", 1000))
        .await
        .unwrap();
    assert_eq!(
        p.treasury
            .create_series(terms(sid, "EUR", 1000))
            .await
            .unwrap_err()
            .code(),
        Code::AlreadyExists
    );
    // Subscribing to a draft, issuing a draft, unknown series.
    assert_eq!(
        p.bank_a.submit(sub(sid, 1, 10)).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    assert_eq!(
        p.treasury
            .series_action(SeriesAction::Issue, sid)
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    assert_eq!(
        p.treasury
            .series_action(SeriesAction::Open, "NOPE")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    p.treasury
        .series_action(SeriesAction::Open, sid)
        .await
        .unwrap();

    let refuse = |s: pb::SubmitSubscription| {
        let bank = p.bank_a.clone();
        async move { bank.submit(s).await.unwrap_err() }
    };
    let fractional = pb::SubmitSubscription {
        units: "1.5".into(),
        ..sub(sid, 1, 10)
    };
    let err = refuse(fractional).await;
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("whole"), "{}", err.message());
    for units in ["-3", "1e3", "", "99999999999999999999999999999999", "0"] {
        assert_eq!(
            refuse(pb::SubmitSubscription {
                units: units.into(),
                ..sub(sid, 1, 10)
            })
            .await
            .code(),
            Code::InvalidArgument,
            "{units}"
        );
    }
    assert_eq!(
        refuse(pb::SubmitSubscription {
            country: "XX".into(),
            ..sub(sid, 1, 10)
        })
        .await
        .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        refuse(pb::SubmitSubscription {
            country: "IR".into(),
            ..sub(sid, 1, 10)
        })
        .await
        .code(),
        Code::FailedPrecondition
    );
    assert_eq!(
        refuse(pb::SubmitSubscription {
            category: 0,
            ..sub(sid, 1, 10)
        })
        .await
        .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        refuse(pb::SubmitSubscription {
            category: 42,
            ..sub(sid, 1, 10)
        })
        .await
        .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        refuse(pb::SubmitSubscription {
            investor_ref: "John Smith".into(),
            ..sub(sid, 1, 10)
        })
        .await
        .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        refuse(sub(sid, 1, 101)).await.code(),
        Code::FailedPrecondition,
        "over the per-investor maximum"
    );
    assert_eq!(
        p.treasury.submit(sub(sid, 1, 10)).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // Idempotency over the wire.
    let first = p.bank_a.submit(sub(sid, 1, 10)).await.unwrap();
    let again = p.bank_a.submit(sub(sid, 1, 10)).await.unwrap();
    assert!(again.idempotent_replay);
    assert_eq!(
        again.receipt.as_ref().unwrap().index,
        first.receipt.as_ref().unwrap().index
    );
    assert_eq!(
        again.receipt.as_ref().unwrap().entry_hash,
        first.receipt.as_ref().unwrap().entry_hash
    );
    assert_eq!(
        p.bank_a.submit(sub(sid, 1, 11)).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    let id = first.subscription.unwrap().subscription_id;
    assert_eq!(
        p.bank_b.withdraw(id).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let w = p.bank_a.withdraw(id).await.unwrap();
    assert_eq!(
        w.subscription.unwrap().status,
        pb::SubscriptionStatus::Withdrawn as i32
    );
    assert_eq!(
        p.bank_a.withdraw(id).await.unwrap_err().code(),
        Code::FailedPrecondition
    );

    // Cancel refunds everything and stops the series.
    let s2 = p
        .bank_b
        .submit(sub(sid, 2, 20))
        .await
        .unwrap()
        .subscription
        .unwrap()
        .subscription_id;
    let c = p
        .treasury
        .series_action(SeriesAction::Cancel("market conditions".into()), sid)
        .await
        .unwrap();
    assert_eq!(c.series.unwrap().status, pb::SeriesStatus::Cancelled as i32);
    assert_eq!(
        p.bank_b.get_subscription(s2).await.unwrap().status,
        pb::SubscriptionStatus::Refunded as i32
    );
    let err = p.bank_a.submit(sub(sid, 3, 10)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("cancelled"));
}
