//! Withholding, unclaimed payments, reopenings and rounded coupons, driven
//! through `decide` and `apply` with time as an argument.

use super::*;
use crate::registry::invariants;
use crate::registry::reopening::{ReopenSeries, TrancheStatus};
use crate::registry::unclaimed::{RecordClaim, ReportUndeliverable};
use crate::registry::withholding::{self, RecordResidence, SetWithholdingTable};

fn engine() -> Caller {
    Caller {
        participant_id: ParticipantId::parse("t", "engine").unwrap(),
        role: Role::Engine,
        key_id: key(6).1,
    }
}

fn country(c: &str) -> Country {
    Country::parse("c", c).unwrap()
}

fn inv(s: &str) -> InvestorRef {
    InvestorRef::parse("i", s).unwrap()
}

/// An issued series (5 % semiannual from 2027-01-15): inv-1 (DE) and inv-2
/// (US) at bank-a, inv-3 (FR) at bank-b; an engine registered.
fn issued() -> World {
    let mut w = open_world();
    let admin = w.admin.clone();
    w.run(
        &admin,
        Command::RegisterParticipant(RegisterParticipant {
            participant_id: engine().participant_id,
            role: Role::Engine,
            public_key: key(6).0,
            display_name: "engine".into(),
        }),
    )
    .unwrap();
    let (a, b) = (w.bank_a.clone(), w.bank_b.clone());
    let s1 = w
        .subscribe_as(&a, "inv-1", DiasporaCategory::CitizenAbroad, "DE", 10, "k1")
        .unwrap();
    let s2 = w
        .subscribe_as(&a, "inv-2", DiasporaCategory::CitizenAbroad, "US", 20, "k2")
        .unwrap();
    let s3 = w
        .subscribe_as(&b, "inv-3", DiasporaCategory::CitizenAbroad, "FR", 5, "k1")
        .unwrap();
    w.now = at(2027, 1, 11);
    w.transition(SeriesTransition::Close(sid())).unwrap();
    w.transition(SeriesTransition::Allot(sid())).unwrap();
    w.run(&a, Command::ConfirmSettlement(s1)).unwrap();
    w.run(&a, Command::ConfirmSettlement(s2)).unwrap();
    w.run(&b, Command::ConfirmSettlement(s3)).unwrap();
    w.transition(SeriesTransition::Issue(sid())).unwrap();
    w
}

/// Posts every event due through the world's date, checking each decision's
/// conservation laws (withholding included).
fn post_due(w: &mut World) -> Vec<Event> {
    let mut all = Vec::new();
    loop {
        let today = w.now.date_naive();
        let Some(next) = coupons::due_limited(&w.state, &sid(), today, 1)
            .unwrap()
            .due
            .into_iter()
            .next()
        else {
            return all;
        };
        let ctx = DecideCtx {
            index: w.state.size(),
            recorded_at: w.now,
        };
        let command = Command::PostAccrual {
            series_id: sid(),
            event_id: next.id().clone(),
        };
        let Decision::Append(events) = decide(&w.state, &engine(), &ctx, &command).unwrap() else {
            panic!("a new event");
        };
        invariants::check_decision(&events).expect("the payments balance");
        all.extend(events.clone());
        w.append(events);
    }
}

fn table(series: Option<SeriesId>, from: &str, default: &str, treaty: &[(&str, &str)]) -> Command {
    Command::SetWithholdingTable(SetWithholdingTable {
        series_id: series,
        effective_from: date(from),
        default_rate: dec(default),
        treaty_rates: treaty.iter().map(|(c, r)| (country(c), dec(r))).collect(),
    })
}

fn payment<'a>(events: &'a [Event], investor: &str) -> &'a coupons::Payment {
    events
        .iter()
        .find_map(|e| match e {
            Event::CouponPayments { payments, .. }
                if payments[0].investor_ref.as_str() == investor =>
            {
                Some(&payments[0])
            }
            _ => None,
        })
        .expect("a payment")
}

#[test]
fn coupons_withhold_by_residence_and_the_totals_balance_by_bank_and_country() {
    let mut w = issued();
    let t = w.treasury.clone();
    // A programme table, then the series' own with two treaty rates.
    w.run(&t, table(None, "2027-01-01", "0.2", &[])).unwrap();
    w.run(
        &t,
        table(
            Some(sid()),
            "2027-01-01",
            "0.15",
            &[("DE", "0.05"), ("US", "0.1")],
        ),
    )
    .unwrap();
    // inv-2 moves from the US to GB (no treaty) before the first coupon.
    let a = w.bank_a.clone();
    w.run(
        &a,
        Command::RecordResidence(RecordResidence {
            investor_ref: inv("inv-2"),
            country: country("GB"),
            effective_from: date("2027-06-01"),
        }),
    )
    .unwrap();
    w.now = at(2027, 7, 16);
    let events = post_due(&mut w);
    // 25.00 a unit: inv-1 10 units at 5 %, inv-2 20 at the default 15 %, inv-3 5 at 15 %.
    let check = |p: &coupons::Payment, gross: &str, withheld: &str, residence: &str| {
        let pw = p.withholding.as_ref().expect("withheld");
        assert_eq!(
            (p.amount, pw.withheld, pw.net),
            (dec(gross), dec(withheld), dec(gross) - dec(withheld))
        );
        assert_eq!(pw.residence, Some(country(residence)));
    };
    check(payment(&events, "inv-1"), "250.00", "12.50", "DE");
    check(payment(&events, "inv-2"), "500.00", "75.00", "GB");
    check(payment(&events, "inv-3"), "125.00", "18.75", "FR");
    let summary = events
        .iter()
        .find_map(|e| match e {
            Event::CouponPaid(c) => c.withholding.clone(),
            _ => None,
        })
        .expect("a summary");
    assert_eq!(
        (summary.gross, summary.withheld, summary.net),
        (dec("875.00"), dec("106.25"), dec("768.75"))
    );
    let banks: Vec<(String, Decimal)> = summary
        .by_bank
        .iter()
        .map(|b| (b.bank_id.to_string(), b.withheld))
        .collect();
    assert_eq!(
        banks,
        vec![
            ("bank-a".into(), dec("87.50")),
            ("bank-b".into(), dec("18.75"))
        ]
    );
    let report = withholding::tax_report(&w.state, &sid(), 2027).unwrap();
    assert_eq!(report.coupons, 1);
    assert_eq!(report.withheld, dec("106.25"));
    let by_country: Vec<(String, Decimal)> = report
        .by_country
        .iter()
        .map(|l| (l.key.clone(), l.withheld))
        .collect();
    assert_eq!(
        by_country,
        vec![
            ("DE".into(), dec("12.50")),
            ("FR".into(), dec("18.75")),
            ("GB".into(), dec("75.00"))
        ]
    );
    assert!(
        withholding::tax_report(&w.state, &sid(), 2028)
            .unwrap()
            .coupons
            == 0
    );
    // A table recorded later, even effective in the past, changes no payment
    // already made, and one re-derived now is as it was.
    w.run(&t, table(Some(sid()), "2027-01-01", "0.3", &[]))
        .unwrap();
    let posted = w.state.posted(&format!("{}/coupon/0", sid())).unwrap();
    let again = withholding::withheld_from(
        &w.state,
        &sid(),
        Currency::USD,
        &a.participant_id,
        &inv("inv-2"),
        date("2027-07-15"),
        posted,
        dec("500.00"),
    )
    .unwrap();
    assert_eq!(again.withheld, dec("75.00"));
    invariants::check_state(&w.state).unwrap();
    w.check_replay();
}

#[test]
fn withholding_refusals_change_nothing() {
    let mut w = issued();
    let t = w.treasury.clone();
    let a = w.bank_a.clone();
    for bad in [
        table(Some(sid()), "2027-01-01", "1.5", &[]),
        table(Some(sid()), "2027-01-01", "-0.1", &[]),
        table(Some(sid()), "2027-01-01", "0.1234567", &[]),
        table(
            Some(sid()),
            "2027-01-01",
            "0.1",
            &[("DE", "0.05"), ("DE", "0.06")],
        ),
    ] {
        assert!(matches!(w.refused(&t, bad), RegistryError::Invalid { .. }));
    }
    assert!(matches!(
        w.refused(&a, table(None, "2027-01-01", "0.1", &[])),
        RegistryError::RoleRequired { .. }
    ));
    let other = SeriesId::parse("t", "AZ-NONE").unwrap();
    assert!(matches!(
        w.refused(&t, table(Some(other), "2027-01-01", "0.1", &[])),
        RegistryError::SeriesNotFound { .. }
    ));
    // A bank records residences of its own clients only.
    let b = w.bank_b.clone();
    let move_inv1 = Command::RecordResidence(RecordResidence {
        investor_ref: inv("inv-1"),
        country: country("GB"),
        effective_from: date("2027-06-01"),
    });
    assert!(matches!(
        w.refused(&b, move_inv1.clone()),
        RegistryError::NoHoldingsAtBank { .. }
    ));
    assert!(matches!(
        w.refused(&t, move_inv1),
        RegistryError::RoleRequired { .. }
    ));
}

#[test]
fn an_undeliverable_payment_moves_to_the_unclaimed_balance_until_claimed() {
    let mut w = issued();
    let t = w.treasury.clone();
    w.run(
        &t,
        table(Some(sid()), "2027-01-01", "0.15", &[("DE", "0.05")]),
    )
    .unwrap();
    w.now = at(2027, 7, 16);
    post_due(&mut w);
    let a = w.bank_a.clone();
    let b = w.bank_b.clone();
    let coupon: crate::accrual::EventId = format!("{}/coupon/0", sid()).parse().unwrap();
    let report = |investor: &str| {
        Command::ReportUndeliverable(ReportUndeliverable {
            event_id: coupon.clone(),
            investor_ref: inv(investor),
        })
    };
    // Not yet paid, a record date, another bank's client: refused.
    let later: crate::accrual::EventId = format!("{}/coupon/1", sid()).parse().unwrap();
    assert!(matches!(
        w.refused(
            &a,
            Command::ReportUndeliverable(ReportUndeliverable {
                event_id: later,
                investor_ref: inv("inv-1")
            })
        ),
        RegistryError::PaymentNotPosted { .. }
    ));
    let record: crate::accrual::EventId = format!("{}/record/0", sid()).parse().unwrap();
    assert!(matches!(
        w.refused(
            &a,
            Command::ReportUndeliverable(ReportUndeliverable {
                event_id: record,
                investor_ref: inv("inv-1")
            })
        ),
        RegistryError::Invalid { .. }
    ));
    assert!(matches!(
        w.refused(&b, report("inv-1")),
        RegistryError::NotPaid { .. }
    ));
    w.run(&a, report("inv-1")).unwrap();
    assert!(matches!(
        w.refused(&a, report("inv-1")),
        RegistryError::AlreadyReported { .. }
    ));
    // 250.00 gross, 12.50 withheld: 237.50 owed.
    assert_eq!(unclaimed::balance(&w.state, &sid()), dec("237.50"));
    let u = unclaimed::of_series(&w.state, &sid())
        .next()
        .unwrap()
        .clone();
    assert_eq!(
        (u.gross, u.withheld, u.amount),
        (dec("250.00"), dec("12.50"), dec("237.50"))
    );
    assert!(!unclaimed::overdue(&u, Some(30), date("2027-08-14")));
    assert!(unclaimed::overdue(&u, Some(30), date("2027-08-15")));
    assert!(!unclaimed::overdue(&u, None, date("2030-01-01")));
    let claim = |reference: &str| {
        Command::RecordClaim(RecordClaim {
            event_id: coupon.clone(),
            investor_ref: inv("inv-1"),
            reference: reference.into(),
        })
    };
    assert!(matches!(
        w.refused(&a, claim("")),
        RegistryError::Invalid { .. }
    ));
    assert!(matches!(
        w.refused(&b, claim("PAY-1")),
        RegistryError::NotUnclaimed { .. }
    ));
    w.run(&a, claim("PAY-2027-0042")).unwrap();
    assert!(matches!(
        w.refused(&a, claim("PAY-2")),
        RegistryError::AlreadyClaimed { .. }
    ));
    assert_eq!(unclaimed::balance(&w.state, &sid()), Decimal::ZERO);
    let u = unclaimed::of_series(&w.state, &sid()).next().unwrap();
    assert_eq!(u.claim.as_ref().unwrap().reference, "PAY-2027-0042");
    assert!(
        !unclaimed::overdue(u, Some(30), date("2030-01-01")),
        "a claimed payment is never overdue"
    );
    invariants::check_state(&w.state).unwrap();
    w.check_replay();
}

fn reopen(settlement: &str, cap: u64) -> Command {
    Command::ReopenSeries(ReopenSeries {
        series_id: sid(),
        window_opens_at: at(2027, 8, 1),
        window_closes_at: at(2027, 8, 20),
        settlement_date: date(settlement),
        settlement_deadline: at(2027, 9, 1),
        reference_yield: dec("0.06"),
        discount_bps: dec("100"),
        cap_units: cap,
    })
}

#[test]
fn a_reopening_sells_fungible_units_at_price_plus_accrued_that_receive_the_full_next_coupon() {
    let mut w = issued();
    w.now = at(2027, 7, 16);
    post_due(&mut w);
    let t = w.treasury.clone();
    let (a, b) = (w.bank_a.clone(), w.bank_b.clone());
    // Settling inside the next coupon's record period is refused.
    assert!(matches!(
        w.refused(&t, reopen("2028-01-14", 50)),
        RegistryError::Invalid { .. }
    ));
    w.run(&t, reopen("2027-09-15", 50)).unwrap();
    assert!(matches!(
        w.refused(&t, reopen("2027-09-15", 50)),
        RegistryError::TrancheInProgress { .. }
    ));
    let s = w.state.series(&sid()).unwrap();
    let tranche = s.tranches[0].terms.clone();
    // 5 % coupon at a 5 % yield: about par; accrued 62 of 184 days of 25.00.
    assert_eq!(tranche.issue_yield, dec("0.05"));
    assert!(
        (tranche.clean_price - dec("100")).abs() < dec("0.01"),
        "{}",
        tranche.clean_price
    );
    assert_eq!(tranche.accrued_per_unit.round_dp(6), dec("8.423913"));
    // Subscriptions to the tranche, within its window.
    w.now = at(2027, 8, 2);
    let s1 = w
        .subscribe_as(&a, "inv-1", DiasporaCategory::CitizenAbroad, "DE", 30, "t1")
        .unwrap();
    let s4 = w
        .subscribe_as(&b, "inv-4", DiasporaCategory::CitizenAbroad, "TR", 40, "t1")
        .unwrap();
    w.now = at(2027, 8, 21);
    assert!(matches!(
        w.subscribe(&a, "inv-9", 5, "late"),
        Err(RegistryError::WindowClosed { .. })
    ));
    w.transition(SeriesTransition::Close(sid())).unwrap();
    w.transition(SeriesTransition::Allot(sid())).unwrap();
    // 70 over a cap of 50, pro rata: 30×50/70 = 21.4, 40×50/70 = 28.6; the
    // unit left goes to the larger remainder: 21 and 29.
    let sub = w.state.subscription(s1).unwrap().clone();
    assert_eq!(sub.allotted_units, 21);
    let price = tranche.price_per_unit * Decimal::from(21);
    let accrued = (tranche.accrued_per_unit * Decimal::from(21)).round_dp(2);
    assert_eq!(sub.amount_due, price + accrued);
    assert!(matches!(
        w.transition(SeriesTransition::Issue(sid())),
        Err(RegistryError::UnsettledAllotments { .. })
    ));
    w.run(&a, Command::ConfirmSettlement(s1)).unwrap();
    w.run(&b, Command::ConfirmSettlement(s4)).unwrap();
    w.transition(SeriesTransition::Issue(sid())).unwrap();
    let s = w.state.series(&sid()).unwrap();
    assert_eq!(s.tranches[0].status, TrancheStatus::Issued);
    assert_eq!(s.tranches[0].units_issued, 50);
    assert_eq!(s.status, SeriesStatus::Issued);
    let key = (sid(), inv("inv-1"), a.participant_id.clone());
    assert_eq!(w.state.holdings.get(&key).unwrap().units, 31);
    // The payment of the first coupon stays that of 10 units.
    let posted = w.state.posted(&format!("{}/coupon/0", sid())).unwrap();
    assert_eq!(w.state.units_at(&key, 31, posted), 10);
    // The next coupon pays the new units in full: 31 × 25.00.
    w.now = at(2028, 1, 18);
    let events = post_due(&mut w);
    assert_eq!(payment(&events, "inv-1").amount, dec("775.00"));
    assert_eq!(payment(&events, "inv-4").amount, dec("725.00"));
    // Reporting the first coupon undeliverable now still owes 10 units' worth.
    w.run(
        &a,
        Command::ReportUndeliverable(ReportUndeliverable {
            event_id: format!("{}/coupon/0", sid()).parse().unwrap(),
            investor_ref: inv("inv-1"),
        }),
    )
    .unwrap();
    assert_eq!(unclaimed::balance(&w.state, &sid()), dec("250.00"));
    invariants::check_state(&w.state).unwrap();
    w.check_replay();
}

#[test]
fn a_tranche_is_not_issued_once_the_next_record_date_is_fixed_and_can_be_cancelled() {
    let mut w = issued();
    w.now = at(2027, 7, 16);
    post_due(&mut w);
    let t = w.treasury.clone();
    w.run(&t, reopen("2027-09-15", 50)).unwrap();
    w.now = at(2027, 8, 2);
    let s1 = w.subscribe(&w.bank_a.clone(), "inv-1", 30, "t1").unwrap();
    w.now = at(2027, 8, 21);
    w.transition(SeriesTransition::Close(sid())).unwrap();
    w.transition(SeriesTransition::Allot(sid())).unwrap();
    w.run(&w.bank_a.clone(), Command::ConfirmSettlement(s1))
        .unwrap();
    // The engine fixes the holders of record of the January coupon first.
    w.now = at(2028, 1, 14);
    post_due(&mut w);
    assert!(matches!(
        w.transition(SeriesTransition::Issue(sid())),
        Err(RegistryError::RecordDatePassed { .. })
    ));
    w.transition(SeriesTransition::Cancel(sid(), "too late".into()))
        .unwrap();
    let s = w.state.series(&sid()).unwrap();
    assert_eq!(s.tranches[0].status, TrancheStatus::Cancelled);
    assert_eq!(
        w.state.subscription(s1).unwrap().status,
        SubscriptionStatus::Refunded
    );
    // A second reopening may follow.
    w.now = at(2028, 2, 1);
    let mut second = reopen("2028-03-15", 10);
    if let Command::ReopenSeries(r) = &mut second {
        r.window_opens_at = at(2028, 2, 1);
        r.window_closes_at = at(2028, 2, 20);
        r.settlement_deadline = at(2028, 3, 1);
    }
    w.run(&t, second).unwrap();
    assert_eq!(w.state.series(&sid()).unwrap().tranches[1].terms.tranche, 2);
    invariants::check_state(&w.state).unwrap();
    w.check_replay();
}

#[test]
fn a_coupon_step_rounds_the_par_coupon_down_and_prices_at_the_diaspora_yield() {
    let mut t = terms();
    t.coupon = CouponSpec::Fixed(None);
    let pricing = |step: Option<&str>| PricingSpec::Diaspora {
        reference_yield: dec("0.0650"),
        discount_bps: dec("148"),
        derive_par_coupon: true,
        coupon_step: step.map(dec),
    };
    t.pricing = pricing(None);
    let par = series::define(t.clone()).unwrap().figures;
    t.pricing = pricing(Some("0.00125"));
    let stepped = series::define(t.clone()).unwrap().figures;
    let coupon = stepped.coupon_rate.unwrap();
    let par_coupon = par.coupon_rate.unwrap();
    assert_eq!(coupon % dec("0.00125"), Decimal::ZERO, "{coupon}");
    assert!(coupon <= par_coupon && par_coupon - coupon < dec("0.00125"));
    assert_eq!(stepped.issue_yield, Some(dec("0.0502")));
    assert!(
        stepped.issue_price < dec("100"),
        "rounded down: issued below par"
    );
    // The price's yield is the diaspora yield.
    let bond_terms = series::bond_terms(&t, crate::pricing::CouponType::Fixed(coupon)).unwrap();
    let bond = crate::pricing::Bond::new(&bond_terms, &crate::pricing::Fixings::new()).unwrap();
    let y = bond
        .yield_from_clean_price(t.issue_date, stepped.issue_price)
        .unwrap();
    assert!((y - dec("0.0502")).abs() < dec("0.0000001"), "{y}");
    // The savings are those of the coupon in force: less coupon, more saved
    // per coupon, less raised at issue; at the par coupon both agree.
    assert_ne!(stepped.issuer_savings_per_unit, par.issuer_savings_per_unit);
    for bad in ["0", "0.0000001", "0.02", "-0.00125"] {
        t.pricing = pricing(Some(bad));
        assert!(
            matches!(
                series::define(t.clone()),
                Err(RegistryError::Invalid { .. })
            ),
            "{bad}"
        );
    }
    t.pricing = PricingSpec::Diaspora {
        reference_yield: dec("0.065"),
        discount_bps: dec("150"),
        derive_par_coupon: false,
        coupon_step: Some(dec("0.00125")),
    };
    t.coupon = CouponSpec::Fixed(Some(dec("0.05")));
    assert!(matches!(
        series::define(t),
        Err(RegistryError::Invalid { .. })
    ));
}
