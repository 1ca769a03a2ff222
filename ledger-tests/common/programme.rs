//! A small bond programme on an in-process server with a clock the test moves:
//! a treasury, two banks, an engine and an auditor; fixed-rate series terms; and
//! helpers to create, sell and issue a series. Shared by the coupon and audit tests.

use super::{Backend, InProcess, new_key};
use dbond::client::{Client, SeriesAction};
use dbond::proto as pb;
use std::collections::BTreeMap;

pub use dbond_testkit::{Life, Terms, at, ts};

/// Plain, valid terms (`dbond_testkit::Terms::new`). Tests change the fields
/// they are about.
pub fn plain_terms(id: &str, life: Life) -> pb::SeriesTerms {
    Terms::new(id, life).build()
}

/// The programme's series: sold in December 2026, issued 2027-01-15, maturing
/// after `years`, up to 500 units per investor, modified following.
pub fn terms(id: &str, currency: &str, coupon: pb::coupon::Kind, years: u32) -> pb::SeriesTerms {
    Terms::new(id, Life::december_2026(years))
        .currency(currency)
        .coupon(coupon)
        .max_units_per_investor(500)
        .cap_units(100_000)
        .business_day_convention("modified_following")
        .build()
}

pub struct World {
    pub server: InProcess,
    pub treasury: Client,
    pub banks: Vec<Client>,
    pub engine: Client,
    pub auditor: Client,
}

pub async fn world() -> World {
    world_on(Backend::Sled).await
}

/// The programme on a server keeping its ledger on `backend`.
pub async fn world_on(backend: Backend) -> World {
    let server = InProcess::start_on(at(2026, 11, 20), backend).await;
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
                registration: None,
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
