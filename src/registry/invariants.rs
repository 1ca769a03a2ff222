//! The conservation laws of the registry, checked on a whole state and on the
//! events one decision writes. Nothing is created or lost: per subscription,
//! allotted + refunded = subscribed; per issued series, the holdings hold the
//! units its issued subscriptions were allotted less those redeemed early,
//! whatever moved between holdings; per holding, pending units are those of its
//! pending transfers and never more than it holds; per coupon or redemption,
//! each bank's total is the sum of its holdings' payments.
//!
//! A violation is a string naming the object and both figures. Randomized tests
//! and the fuzz target run these after every command; a state built only by
//! `apply` from decided events satisfies them all.

use super::coupons::{BankTotal, Payment};
use super::{
    Event, InvestorRef, ParticipantId, RegistrationForm, SeriesId, SeriesStatus, State,
    SubscriptionStatus,
};
use crate::money::{Money, RoundingRule, Units};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// Checks every law on `state`.
pub fn check_state(state: &State) -> Result<(), String> {
    check_subscriptions(state)?;
    check_series(state)?;
    check_holdings(state)?;
    check_indexes(state)
}

/// Each holding's pending units are its pending transfers' and, like the units
/// it received as a gift, at most what it holds; a transfer names holdings that
/// exist; a matured series has nothing pending.
fn check_holdings(state: &State) -> Result<(), String> {
    let mut pending: BTreeMap<(SeriesId, &str, &str), u64> = BTreeMap::new();
    for t in state.transfers.values() {
        let from = (
            t.series_id.clone(),
            t.from_investor.as_str(),
            t.from_bank.as_str(),
        );
        if !state.holdings.contains_key(&(
            t.series_id.clone(),
            t.from_investor.clone(),
            t.from_bank.clone(),
        )) {
            return Err(format!("transfer {} is from no holding", t.transfer_id));
        }
        if t.status == super::TransferStatus::Pending {
            *pending.entry(from).or_default() += t.units;
        }
    }
    for h in state.holdings.values() {
        let key = (
            h.series_id.clone(),
            h.investor_ref.as_str(),
            h.bank_id.as_str(),
        );
        let want = pending.get(&key).copied().unwrap_or(0);
        if h.pending_units != want || h.pending_units > h.units || h.gift_units > h.units {
            return Err(format!(
                "the holding of {} at {} in {} holds {} units, {} pending ({} in pending transfers) and {} received as a gift",
                h.investor_ref,
                h.bank_id,
                h.series_id,
                h.units,
                h.pending_units,
                want,
                h.gift_units
            ));
        }
        let matured = state
            .series(&h.series_id)
            .is_some_and(|s| s.status == SeriesStatus::Matured);
        if matured && h.pending_units > 0 {
            return Err(format!(
                "series {} matured with units of {} at {} still pending",
                h.series_id, h.investor_ref, h.bank_id
            ));
        }
    }
    Ok(())
}

/// Each subscription's units are accounted for as its status says.
fn check_subscriptions(state: &State) -> Result<(), String> {
    use SubscriptionStatus as S;
    for sub in state.subscriptions_after(0) {
        let id = sub.subscription_id;
        let (units, allotted, refunded) = (sub.units, sub.allotted_units, sub.refunded_units);
        if units == 0 || units > super::series::UNITS_MAX {
            return Err(format!("subscription {id} is for {units} units"));
        }
        let ok = match sub.status {
            S::Submitted | S::Withdrawn => allotted == 0 && refunded == 0,
            S::Allotted | S::Settled | S::Issued => allotted.checked_add(refunded) == Some(units),
            S::Refunded => refunded == units && allotted == 0,
            S::Released => refunded == units && allotted <= units,
        };
        if !ok {
            return Err(format!(
                "subscription {id} is {} with {units} units subscribed, {allotted} allotted and {refunded} refunded",
                sub.status
            ));
        }
        let Some(s) = state.series(&sub.series_id) else {
            return Err(format!(
                "subscription {id} is of series {}, which does not exist",
                sub.series_id
            ));
        };
        if sub.status == S::Refunded {
            // A refund after allotment keeps what was due as a record.
        } else if matches!(
            sub.status,
            S::Allotted | S::Settled | S::Issued | S::Released
        ) {
            let due = match s.tranche_of(id) {
                // A reopening's line owes its price and its accrued interest.
                Some(t) => {
                    super::reopening::amount_due(&t.terms, s.terms.currency, Units::new(allotted))
                        .and_then(|(p, a)| p.checked_add(a))
                        .ok_or(())
                }
                None => Money::new(s.figures.price_per_unit, s.terms.currency)
                    .checked_mul_units(Units::new(allotted))
                    .map(|m| m.round(RoundingRule::HalfEven).amount())
                    .map_err(|_| ()),
            };
            if due != Ok(sub.amount_due) {
                return Err(format!(
                    "subscription {id} owes {} for {allotted} units at {}",
                    sub.amount_due, s.figures.price_per_unit
                ));
            }
        } else if sub.amount_due != Decimal::ZERO {
            return Err(format!(
                "subscription {id} is {} and owes {}",
                sub.status, sub.amount_due
            ));
        }
    }
    Ok(())
}

/// Units of a series' subscriptions and holdings, summed without overflow.
#[derive(Default)]
struct SeriesSums {
    submitted: u128,
    allotted: u128,
    issued: u128,
    held: u128,
    early: u128,
}

/// Sums per series and per window: tranche 0 is the first window, then each
/// reopening's number. Holdings are counted on tranche 0 (they hold the units
/// of every window).
fn series_sums(state: &State) -> BTreeMap<(SeriesId, u32), SeriesSums> {
    let mut sums: BTreeMap<(SeriesId, u32), SeriesSums> = BTreeMap::new();
    for sub in state.subscriptions_after(0) {
        let tranche = state
            .series(&sub.series_id)
            .and_then(|s| s.tranche_of(sub.subscription_id))
            .map_or(0, |t| t.terms.tranche);
        let s = sums.entry((sub.series_id.clone(), tranche)).or_default();
        let allotted = u128::from(sub.allotted_units);
        match sub.status {
            SubscriptionStatus::Submitted => s.submitted += u128::from(sub.units),
            SubscriptionStatus::Allotted
            | SubscriptionStatus::Settled
            | SubscriptionStatus::Released => s.allotted += allotted,
            SubscriptionStatus::Issued => {
                s.allotted += allotted;
                s.issued += allotted;
            }
            SubscriptionStatus::Withdrawn | SubscriptionStatus::Refunded => {}
        }
    }
    for h in state.holdings.values() {
        let s = sums.entry((h.series_id.clone(), 0)).or_default();
        s.held += u128::from(h.units);
        s.early += u128::from(h.early_redeemed_units);
    }
    sums
}

/// Per series: the cap bounds what is allotted; the holdings hold exactly the
/// issued units; the money raised is the issued units at the price per unit.
fn check_series(state: &State) -> Result<(), String> {
    let sums = series_sums(state);
    let empty = SeriesSums::default();
    for s in state.all_series() {
        let id = &s.terms.series_id;
        let sum = sums.get(&(id.clone(), 0)).unwrap_or(&empty);
        let tranches = check_tranches(s, &sums)?;
        let past_allotment = matches!(
            s.status,
            SeriesStatus::Allotted | SeriesStatus::Issued | SeriesStatus::Matured
        );
        if past_allotment && sum.submitted > 0 {
            return Err(format!(
                "series {id} is {} with {} units still submitted",
                s.status, sum.submitted
            ));
        }
        if sum.allotted > u128::from(s.terms.cap_units) {
            return Err(format!(
                "series {id} allotted {} units over a cap of {}",
                sum.allotted, s.terms.cap_units
            ));
        }
        let early = u128::from(s.early_redeemed_units);
        if sum.held + early != sum.issued + tranches || sum.early != early {
            return Err(format!(
                "series {id}: its holdings hold {} units and {} were redeemed early ({} by the holdings' count), its issued subscriptions were allotted {}",
                sum.held,
                early,
                sum.early,
                sum.issued + tranches
            ));
        }
        let issued = matches!(s.status, SeriesStatus::Issued | SeriesStatus::Matured);
        if !issued && (sum.issued > 0 || s.amount_raised != Decimal::ZERO) {
            return Err(format!(
                "series {id} is {} with {} units issued and {} raised",
                s.status, sum.issued, s.amount_raised
            ));
        }
        if issued {
            check_raised(s, sum.issued)?;
        }
        if s.status == SeriesStatus::Matured {
            if let Some(h) = state
                .series_holdings(id, None)
                .find(|h| h.redeemed_units != h.units)
            {
                return Err(format!(
                    "series {id} matured, but the holding of {} at {} has {} of {} units redeemed",
                    h.investor_ref, h.bank_id, h.redeemed_units, h.units
                ));
            }
        }
    }
    Ok(())
}

/// Each reopening allots at most its cap, keeps no submitted subscription once
/// allotted, and issued the units its settled subscriptions were allotted, for
/// the money its figures say. Returns the units all reopenings issued.
fn check_tranches(
    s: &super::Series,
    sums: &BTreeMap<(SeriesId, u32), SeriesSums>,
) -> Result<u128, String> {
    use super::reopening::TrancheStatus as T;
    let id = &s.terms.series_id;
    let empty = SeriesSums::default();
    let mut issued = 0u128;
    for t in &s.tranches {
        let n = t.terms.tranche;
        let sum = sums.get(&(id.clone(), n)).unwrap_or(&empty);
        if sum.allotted > u128::from(t.terms.cap_units) {
            return Err(format!(
                "tranche {n} of {id} allotted {} units over a cap of {}",
                sum.allotted, t.terms.cap_units
            ));
        }
        if matches!(t.status, T::Allotted | T::Issued) && sum.submitted > 0 {
            return Err(format!(
                "tranche {n} of {id} is {} with {} units still submitted",
                t.status, sum.submitted
            ));
        }
        let units = if t.status == T::Issued {
            u128::from(t.units_issued)
        } else {
            0
        };
        if sum.issued != units {
            return Err(format!(
                "tranche {n} of {id} issued {units} units; its issued subscriptions were allotted {}",
                sum.issued
            ));
        }
        issued += sum.issued;
    }
    Ok(issued)
}

fn check_raised(s: &super::Series, issued: u128) -> Result<(), String> {
    let id = &s.terms.series_id;
    let units = u64::try_from(issued).map_err(|_| format!("series {id} issued {issued} units"))?;
    let raised = Money::new(s.figures.price_per_unit, s.terms.currency)
        .checked_mul_units(Units::new(units))
        .map(|m| m.round(RoundingRule::HalfEven).amount());
    if raised != Ok(s.amount_raised) {
        return Err(format!(
            "series {id} raised {} for {units} units at {}",
            s.amount_raised, s.figures.price_per_unit
        ));
    }
    Ok(())
}

/// The indexes deciding reads agree with the subscriptions they summarise.
fn check_indexes(state: &State) -> Result<(), String> {
    for (series, ids) in &state.books {
        let mut last = None;
        for id in ids {
            let sub = state
                .subscription(*id)
                .ok_or_else(|| format!("the book of series {series} names subscription {id}"))?;
            if &sub.series_id != series || last.is_some_and(|l| l >= *id) {
                return Err(format!(
                    "the book of series {series} is out of order at {id}"
                ));
            }
            last = Some(*id);
        }
    }
    let Some(index) = &state.decide else {
        return Ok(());
    };
    let mut joint: BTreeMap<(ParticipantId, InvestorRef), BTreeSet<(SeriesId, InvestorRef)>> =
        BTreeMap::new();
    for h in state.holdings.values() {
        if let RegistrationForm::Joint { owners } = &h.registration {
            for o in owners {
                joint
                    .entry((h.bank_id.clone(), o.clone()))
                    .or_default()
                    .insert((h.series_id.clone(), h.investor_ref.clone()));
            }
        }
    }
    let indexed: BTreeMap<_, _> = index
        .joint_owners
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if indexed != joint {
        return Err("the index of joint owners differs from the holdings' forms".into());
    }
    let mut investor: BTreeMap<_, u64> = BTreeMap::new();
    let mut book: BTreeMap<SeriesId, u64> = BTreeMap::new();
    for sub in state.subscriptions_after(0) {
        let key = (sub.bank_id.clone(), sub.idempotency_key.clone());
        if index.idempotency.get(&key) != Some(&sub.subscription_id) {
            return Err(format!(
                "the idempotency key {:?} of {} does not name subscription {}",
                sub.idempotency_key, sub.bank_id, sub.subscription_id
            ));
        }
        if sub.status == SubscriptionStatus::Submitted {
            let k = (
                sub.series_id.clone(),
                sub.bank_id.clone(),
                sub.investor_ref.clone(),
            );
            let form = index
                .subscription_forms
                .get(&k)
                .cloned()
                .unwrap_or_default();
            if form != sub.registration {
                return Err(format!(
                    "subscription {} is registered {}, its investor's index says {}",
                    sub.subscription_id,
                    sub.registration.name(),
                    form.name()
                ));
            }
            *investor.entry(k).or_default() += sub.units;
            *book.entry(sub.series_id.clone()).or_default() += sub.units;
        }
    }
    if index
        .subscription_forms
        .keys()
        .any(|k| !investor.contains_key(k))
    {
        return Err("a registration form is indexed for an investor with nothing submitted".into());
    }
    let held: BTreeMap<_, u64> = index
        .investor_units
        .iter()
        .filter(|(_, u)| **u > 0)
        .map(|(k, u)| (k.clone(), *u))
        .collect();
    if held != investor {
        return Err("investors' running totals differ from their submitted units".into());
    }
    let booked: BTreeMap<SeriesId, u64> = index
        .book_units
        .iter()
        .filter(|(_, u)| **u > 0)
        .map(|(k, u)| (k.clone(), *u))
        .collect();
    if booked != book {
        return Err("series' running totals differ from their submitted units".into());
    }
    Ok(())
}

/// Checks the events one decision writes: each coupon or redemption summary is
/// followed by its payments, whose amounts and units sum to the summary's total
/// and to each bank's total.
pub fn check_decision(events: &[Event]) -> Result<(), String> {
    let mut i = 0;
    while i < events.len() {
        let (id, bank_totals, total, holdings, withholding) = match &events[i] {
            Event::CouponPaid(c) => (
                c.id.to_string(),
                &c.bank_totals,
                c.total,
                c.holdings,
                c.withholding.as_ref(),
            ),
            Event::Redeemed(r) => (r.id.to_string(), &r.bank_totals, r.total, r.holdings, None),
            _ => {
                i += 1;
                continue;
            }
        };
        let mut payments: Vec<&Payment> = Vec::new();
        i += 1;
        while let Some(e) = events.get(i) {
            match e {
                Event::CouponPayments {
                    id: p,
                    payments: list,
                    ..
                }
                | Event::RedemptionPayments {
                    id: p,
                    payments: list,
                    ..
                } if p.to_string() == id => {
                    payments.extend(list);
                    i += 1;
                }
                _ => break,
            }
        }
        check_payments(&id, bank_totals, total, holdings, &payments)?;
        check_withholding(&id, total, withholding, &payments)?;
    }
    Ok(())
}

/// Each payment's net is its gross less what was withheld; the summary's totals,
/// by bank and by country, are the sums of the payments' (to the cent: they are
/// sums of minor-unit amounts); a coupon without a summary withholds nothing.
pub fn check_withholding(
    id: &str,
    total: Decimal,
    summary: Option<&super::withholding::WithholdingSummary>,
    payments: &[&Payment],
) -> Result<(), String> {
    let Some(w) = summary else {
        return match payments.iter().find(|p| p.withholding.is_some()) {
            Some(p) => Err(format!(
                "{id}: the payment to {} withholds, the summary does not",
                p.investor_ref
            )),
            None => Ok(()),
        };
    };
    type Sums = (u64, Decimal, Decimal, Decimal);
    let mut banks: BTreeMap<String, Sums> = BTreeMap::new();
    let mut countries: BTreeMap<Option<String>, Sums> = BTreeMap::new();
    let (mut withheld, mut net) = (Decimal::ZERO, Decimal::ZERO);
    let add = |s: &mut Sums, p: &Payment, w: Decimal, n: Decimal| {
        s.0 += 1;
        s.1 += p.amount;
        s.2 += w;
        s.3 += n;
    };
    for p in payments {
        let Some(pw) = &p.withholding else {
            return Err(format!(
                "{id}: the payment to {} withholds nothing",
                p.investor_ref
            ));
        };
        if pw.withheld.checked_add(pw.net) != Some(p.amount) || pw.withheld < Decimal::ZERO {
            return Err(format!(
                "{id}: {} gross is not {} withheld + {} net",
                p.amount, pw.withheld, pw.net
            ));
        }
        add(
            banks.entry(p.bank_id.to_string()).or_default(),
            p,
            pw.withheld,
            pw.net,
        );
        add(
            countries
                .entry(pw.residence.map(|c| c.to_string()))
                .or_default(),
            p,
            pw.withheld,
            pw.net,
        );
        withheld += pw.withheld;
        net += pw.net;
    }
    if w.gross != total || w.withheld != withheld || w.net != net {
        return Err(format!(
            "{id}: totals gross {} withheld {} net {} are not the payments' {total}, {withheld}, {net}",
            w.gross, w.withheld, w.net
        ));
    }
    let stated_banks: BTreeMap<String, Sums> = w
        .by_bank
        .iter()
        .map(|b| {
            (
                b.bank_id.to_string(),
                (b.holdings, b.gross, b.withheld, b.net),
            )
        })
        .collect();
    let stated_countries: BTreeMap<Option<String>, Sums> = w
        .by_country
        .iter()
        .map(|c| {
            (
                c.country.map(|c| c.to_string()),
                (c.holdings, c.gross, c.withheld, c.net),
            )
        })
        .collect();
    if stated_banks != banks || stated_banks.len() != w.by_bank.len() {
        return Err(format!(
            "{id}: withholding by bank {stated_banks:?} is not the payments' {banks:?}"
        ));
    }
    if stated_countries != countries || stated_countries.len() != w.by_country.len() {
        return Err(format!(
            "{id}: withholding by country {stated_countries:?} is not the payments' {countries:?}"
        ));
    }
    Ok(())
}

fn check_payments(
    id: &str,
    bank_totals: &[BankTotal],
    total: Decimal,
    holdings: u64,
    payments: &[&Payment],
) -> Result<(), String> {
    if payments.len() as u64 != holdings {
        return Err(format!(
            "{id} pays {holdings} holdings in its summary and {} in its payments",
            payments.len()
        ));
    }
    let mut banks: BTreeMap<&str, (u64, u128, Decimal)> = BTreeMap::new();
    let mut sum = Decimal::ZERO;
    for p in payments {
        let b = banks.entry(p.bank_id.as_str()).or_default();
        b.0 += 1;
        b.1 += u128::from(p.units.get());
        b.2 =
            b.2.checked_add(p.amount)
                .ok_or_else(|| format!("{id}: a bank's payments overflow"))?;
        sum = sum
            .checked_add(p.amount)
            .ok_or_else(|| format!("{id}: the payments overflow"))?;
    }
    if sum != total {
        return Err(format!(
            "{id}: payments sum to {sum}, the summary says {total}"
        ));
    }
    let stated: BTreeMap<&str, (u64, u128, Decimal)> = bank_totals
        .iter()
        .map(|b| {
            (
                b.bank_id.as_str(),
                (b.holdings, u128::from(b.units.get()), b.amount),
            )
        })
        .collect();
    if stated != banks || stated.len() != bank_totals.len() {
        return Err(format!(
            "{id}: bank totals {stated:?} are not the sums of the payments {banks:?}"
        ));
    }
    Ok(())
}
