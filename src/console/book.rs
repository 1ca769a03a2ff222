//! The book of every series as the console sees it on the ledger: who subscribed
//! how many units, through which bank, from which country and diaspora category,
//! and when; the rate of subscriptions; the oversubscription ratio; and the
//! allotment the series' own rule would give if the book closed now.
//!
//! Pure: decoded events go in (`Books::apply`), figures come out. No I/O and no
//! clock: a rate is taken as of a time the caller passes. Amounts are `Decimal`,
//! rounded exactly as the registry rounds them.

use crate::money::{Currency, RoundingRule, Units, round_to_minor};
use crate::registry::allotment::allot;
use crate::registry::{AllotmentRule, DiasporaCategory, Event, SeriesId};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

/// One live subscription in a book (submitted and neither withdrawn nor refunded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub subscription_id: u64,
    pub bank_id: String,
    pub country: String,
    pub category: DiasporaCategory,
    pub units: u64,
    pub submitted_at: DateTime<Utc>,
}

/// Live units in the book after a change, at the change's recorded time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookPoint {
    pub at: DateTime<Utc>,
    pub units: u64,
}

/// One row of the book grouped by bank, country or category.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Bucket {
    pub key: String,
    pub subscriptions: u64,
    pub units: u64,
}

/// What a bank would be allotted if the book closed now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BankAllotment {
    pub bank_id: String,
    pub subscribed_units: u64,
    pub allotted_units: u64,
    pub refunded_units: u64,
    /// Each line's allotted units times the price per unit, rounded to the
    /// currency's minor unit half-even (as the registry rounds `amount_due`),
    /// then summed.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount_due: Decimal,
}

/// The allotment the series' rule would give over the live book as it stands.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WouldBeAllotment {
    pub rule: &'static str,
    pub cap_units: u64,
    pub subscribed_units: u64,
    pub allotted_units: u64,
    pub refunded_units: u64,
    pub by_bank: Vec<BankAllotment>,
}

/// A coupon or redemption the ledger records as paid.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PaymentRun {
    pub event_id: String,
    /// "coupon" or "redemption".
    pub kind: &'static str,
    pub payment_date: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount_per_unit: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    pub currency: String,
    pub holdings: u64,
    pub index: u64,
}

/// The book of one series.
#[derive(Clone, Debug)]
pub struct SeriesBook {
    pub series_id: SeriesId,
    pub currency: Currency,
    pub cap_units: u64,
    pub rule: AllotmentRule,
    pub price_per_unit: Decimal,
    /// Live lines by subscription id: ledger order, the order allotment uses.
    lines: BTreeMap<u64, Line>,
    units: u64,
    /// Recorded times of every submission, in ledger order (never decreasing).
    submitted: Vec<DateTime<Utc>>,
    timeline: Vec<BookPoint>,
    runs: Vec<PaymentRun>,
}

impl SeriesBook {
    fn new(
        series_id: SeriesId,
        currency: Currency,
        cap_units: u64,
        rule: AllotmentRule,
        price_per_unit: Decimal,
    ) -> Self {
        SeriesBook {
            series_id,
            currency,
            cap_units,
            rule,
            price_per_unit,
            lines: BTreeMap::new(),
            units: 0,
            submitted: Vec::new(),
            timeline: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub fn lines(&self) -> impl Iterator<Item = &Line> {
        self.lines.values()
    }

    /// Units in live subscriptions.
    pub fn subscribed_units(&self) -> u64 {
        self.units
    }

    pub fn subscriptions(&self) -> u64 {
        self.lines.len() as u64
    }

    /// The live units after each change, in ledger order.
    pub fn timeline(&self) -> &[BookPoint] {
        &self.timeline
    }

    /// Coupons and redemptions paid, in ledger order.
    pub fn runs(&self) -> &[PaymentRun] {
        &self.runs
    }

    fn bucket_by(&self, key: impl Fn(&Line) -> String) -> Vec<Bucket> {
        let mut out: BTreeMap<String, Bucket> = BTreeMap::new();
        for line in self.lines.values() {
            let k = key(line);
            let b = out.entry(k.clone()).or_insert_with(|| Bucket {
                key: k,
                ..Bucket::default()
            });
            b.subscriptions += 1;
            b.units += line.units;
        }
        // Largest first; equal units by key, so the order never flickers.
        let mut v: Vec<Bucket> = out.into_values().collect();
        v.sort_by(|a, b| b.units.cmp(&a.units).then_with(|| a.key.cmp(&b.key)));
        v
    }

    pub fn by_bank(&self) -> Vec<Bucket> {
        self.bucket_by(|l| l.bank_id.clone())
    }

    pub fn by_country(&self) -> Vec<Bucket> {
        self.bucket_by(|l| l.country.clone())
    }

    pub fn by_category(&self) -> Vec<Bucket> {
        self.bucket_by(|l| l.category.as_str().to_string())
    }

    /// Subscriptions recorded in the minute that ends at `as_of` (after
    /// `as_of - 60 s`, up to and including `as_of`), withdrawn ones included: the
    /// pace of the desk, not the size of the book.
    pub fn per_minute(&self, as_of: DateTime<Utc>) -> u64 {
        let from = as_of - Duration::minutes(1);
        let start = self.submitted.partition_point(|t| *t <= from);
        let end = self.submitted.partition_point(|t| *t <= as_of);
        (end - start) as u64
    }

    /// Subscriptions recorded in each whole minute (UTC) that saw any, oldest first:
    /// (start of the minute, count).
    pub fn per_minute_history(&self) -> Vec<(DateTime<Utc>, u64)> {
        let mut out: Vec<(DateTime<Utc>, u64)> = Vec::new();
        for t in &self.submitted {
            let minute = t.timestamp().div_euclid(60) * 60;
            match out.last_mut() {
                Some((m, n)) if m.timestamp() == minute => *n += 1,
                _ => out.push((DateTime::from_timestamp(minute, 0).unwrap_or(*t), 1)),
            }
        }
        out
    }

    /// Subscribed units over the cap, rounded to 2 decimal places half-even; none
    /// for a cap of zero.
    pub fn oversubscription(&self) -> Option<Decimal> {
        if self.cap_units == 0 {
            return None;
        }
        let ratio = Decimal::from(self.units) / Decimal::from(self.cap_units);
        Some(RoundingRule::HalfEven.round_dp(ratio, 2))
    }

    /// What the registry's own allotment function gives over the live book, in
    /// ledger order, with the series' cap and rule: the allotment the treasury
    /// would record if it closed and allotted now.
    pub fn would_be_allotment(&self) -> WouldBeAllotment {
        let units: Vec<Units> = self.lines.values().map(|l| Units::new(l.units)).collect();
        let allotted: Vec<u64> = allot(&units, Units::new(self.cap_units), self.rule)
            .into_iter()
            .map(Units::get)
            .collect();
        let mut by_bank: BTreeMap<&str, BankAllotment> = BTreeMap::new();
        for (line, &a) in self.lines.values().zip(&allotted) {
            let due = round_to_minor(
                Decimal::from(a) * self.price_per_unit,
                self.currency,
                RoundingRule::HalfEven,
            );
            let b = by_bank
                .entry(line.bank_id.as_str())
                .or_insert_with(|| BankAllotment {
                    bank_id: line.bank_id.clone(),
                    subscribed_units: 0,
                    allotted_units: 0,
                    refunded_units: 0,
                    amount_due: Decimal::ZERO,
                });
            b.subscribed_units += line.units;
            b.allotted_units += a;
            b.refunded_units += line.units - a;
            b.amount_due += due;
        }
        let allotted_units: u64 = allotted.iter().sum();
        WouldBeAllotment {
            rule: self.rule.as_str(),
            cap_units: self.cap_units,
            subscribed_units: self.units,
            allotted_units,
            refunded_units: self.units - allotted_units,
            by_bank: by_bank.into_values().collect(),
        }
    }

    fn add(&mut self, line: Line) {
        self.units += line.units;
        self.submitted.push(line.submitted_at);
        self.timeline.push(BookPoint {
            at: line.submitted_at,
            units: self.units,
        });
        self.lines.insert(line.subscription_id, line);
    }

    fn remove(&mut self, subscription_id: u64, at: DateTime<Utc>) {
        if let Some(line) = self.lines.remove(&subscription_id) {
            self.units -= line.units;
            self.timeline.push(BookPoint {
                at,
                units: self.units,
            });
        }
    }
}

/// Every series' book, built from the ledger's events in order.
#[derive(Clone, Debug, Default)]
pub struct Books {
    series: BTreeMap<SeriesId, SeriesBook>,
    /// Which series each live subscription is in (to find it on withdrawal).
    subscription_series: HashMap<u64, SeriesId>,
}

impl Books {
    pub fn new() -> Self {
        Books::default()
    }

    pub fn series(&self, id: &SeriesId) -> Option<&SeriesBook> {
        self.series.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &SeriesBook> {
        self.series.values()
    }

    /// Sets (or, on an amendment, updates) what a series' book needs of its terms.
    pub fn define_series(
        &mut self,
        id: &SeriesId,
        currency: Currency,
        cap_units: u64,
        rule: AllotmentRule,
        price_per_unit: Decimal,
    ) {
        let book = self.series.entry(id.clone()).or_insert_with(|| {
            SeriesBook::new(id.clone(), currency, cap_units, rule, price_per_unit)
        });
        book.currency = currency;
        book.cap_units = cap_units;
        book.rule = rule;
        book.price_per_unit = price_per_unit;
    }

    /// Takes in one decoded event, recorded at `index` and `at`. Events that do
    /// not change a book are ignored; an event naming a series or subscription the
    /// books do not know (a ledger read from the middle) is ignored too.
    pub fn apply(&mut self, index: u64, at: DateTime<Utc>, event: &Event) {
        match event {
            Event::SeriesCreated(d) | Event::SeriesAmended(d) => {
                let t = &d.terms;
                self.define_series(
                    &t.series_id,
                    t.currency,
                    t.cap_units,
                    t.allotment_rule,
                    d.figures.price_per_unit,
                );
            }
            Event::SubscriptionSubmitted(s) => {
                if let Some(book) = self.series.get_mut(&s.series_id) {
                    book.add(Line {
                        subscription_id: s.subscription_id,
                        bank_id: s.bank_id.to_string(),
                        country: s.country.to_string(),
                        category: s.category,
                        units: s.units.into(),
                        submitted_at: at,
                    });
                    self.subscription_series
                        .insert(s.subscription_id, s.series_id.clone());
                }
            }
            Event::SubscriptionWithdrawn { subscription_id } => {
                if let Some(id) = self.subscription_series.remove(subscription_id)
                    && let Some(book) = self.series.get_mut(&id)
                {
                    book.remove(*subscription_id, at);
                }
            }
            Event::SubscriptionsRefunded { series_id, refunds } => {
                if let Some(book) = self.series.get_mut(series_id) {
                    for (id, _) in refunds {
                        book.remove(*id, at);
                        self.subscription_series.remove(id);
                    }
                }
            }
            Event::CouponPaid(c) => {
                if let Some(book) = self.series.get_mut(&c.series_id) {
                    book.runs.push(PaymentRun {
                        event_id: c.id.to_string(),
                        kind: "coupon",
                        payment_date: c.payment_date.to_string(),
                        amount_per_unit: c.amount_per_unit,
                        total: c.total,
                        currency: c.currency.to_string(),
                        holdings: c.holdings,
                        index,
                    });
                }
            }
            Event::Redeemed(r) => {
                if let Some(book) = self.series.get_mut(&r.series_id) {
                    book.runs.push(PaymentRun {
                        event_id: r.id.to_string(),
                        kind: "redemption",
                        payment_date: r.payment_date.to_string(),
                        amount_per_unit: r.amount_per_unit,
                        total: r.total,
                        currency: r.currency.to_string(),
                        holdings: r.holdings,
                        index,
                    });
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Country, InvestorRef, ParticipantId, SubscriptionSubmitted};
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn sid(s: &str) -> SeriesId {
        SeriesId::parse("series_id", s).unwrap()
    }

    fn submitted(
        id: u64,
        series: &str,
        bank: &str,
        country: &str,
        c: DiasporaCategory,
        units: u64,
    ) -> Event {
        Event::SubscriptionSubmitted(SubscriptionSubmitted {
            subscription_id: id,
            series_id: sid(series),
            bank_id: ParticipantId::parse("bank_id", bank).unwrap(),
            investor_ref: InvestorRef::parse("investor_ref", &format!("inv-{id}")).unwrap(),
            category: c,
            country: Country::parse("country", country).unwrap(),
            units: units.into(),
            idempotency_key: format!("k-{id}").into(),
            registration: Default::default(),
        })
    }

    /// A series of `cap` units at 1,000.005 USD a unit (so rounding shows), with
    /// four subscriptions: bank-a DE 50 and 30, bank-b FR 40, bank-b DE 80.
    fn four(cap: u64, rule: AllotmentRule) -> Books {
        use DiasporaCategory::*;
        let mut b = Books::new();
        b.define_series(&sid("S1"), Currency::USD, cap, rule, dec!(1000.005));
        b.apply(
            10,
            t(0),
            &submitted(10, "S1", "bank-a", "DE", CitizenAbroad, 50),
        );
        b.apply(
            11,
            t(20),
            &submitted(11, "S1", "bank-b", "FR", Affinity, 40),
        );
        b.apply(
            12,
            t(61),
            &submitted(12, "S1", "bank-a", "DE", CitizenAbroad, 30),
        );
        b.apply(
            13,
            t(62),
            &submitted(13, "S1", "bank-b", "DE", FormerCitizen, 80),
        );
        b
    }

    fn buckets(v: Vec<Bucket>) -> Vec<(String, u64, u64)> {
        v.into_iter()
            .map(|b| (b.key, b.subscriptions, b.units))
            .collect()
    }

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn the_book_by_bank_country_and_category() {
        let b = four(100, AllotmentRule::ProRata);
        let book = b.series(&sid("S1")).unwrap();
        assert_eq!(book.subscribed_units(), 200);
        assert_eq!(book.subscriptions(), 4);
        assert_eq!(
            buckets(book.by_bank()),
            vec![(s("bank-b"), 2, 120), (s("bank-a"), 2, 80)]
        );
        assert_eq!(
            buckets(book.by_country()),
            vec![(s("DE"), 3, 160), (s("FR"), 1, 40)]
        );
        assert_eq!(
            buckets(book.by_category()),
            vec![
                (s("citizen_abroad"), 2, 80),
                (s("former_citizen"), 1, 80),
                (s("affinity"), 1, 40)
            ]
        );
    }

    #[test]
    fn withdrawals_and_refunds_leave_the_book() {
        let mut b = four(100, AllotmentRule::ProRata);
        b.apply(
            14,
            t(70),
            &Event::SubscriptionWithdrawn {
                subscription_id: 11,
            },
        );
        // A withdrawal of a subscription the books never saw changes nothing.
        b.apply(
            15,
            t(71),
            &Event::SubscriptionWithdrawn {
                subscription_id: 99,
            },
        );
        let book = b.series(&sid("S1")).unwrap();
        assert_eq!(book.subscribed_units(), 160);
        assert_eq!(buckets(book.by_country()), vec![(s("DE"), 3, 160)]);
        let points: Vec<u64> = book.timeline().iter().map(|p| p.units).collect();
        assert_eq!(points, vec![50, 90, 120, 200, 160]);
        b.apply(
            16,
            t(80),
            &Event::SubscriptionsRefunded {
                series_id: sid("S1"),
                refunds: vec![(10, 50.into()), (12, 30.into()), (13, 80.into())],
            },
        );
        let book = b.series(&sid("S1")).unwrap();
        assert_eq!(book.subscribed_units(), 0);
        assert!(book.by_bank().is_empty());
    }

    #[test]
    fn subscriptions_per_minute() {
        let b = four(100, AllotmentRule::ProRata);
        let book = b.series(&sid("S1")).unwrap();
        // Submissions at 0, 20, 61 and 62 s.
        assert_eq!(book.per_minute(t(0)), 1);
        assert_eq!(book.per_minute(t(59)), 2);
        // The minute ending at 60 s starts after 0 s.
        assert_eq!(book.per_minute(t(60)), 1);
        assert_eq!(book.per_minute(t(62)), 3);
        assert_eq!(book.per_minute(t(200)), 0);
        assert_eq!(book.per_minute(t(-1)), 0);
        let history: Vec<u64> = book.per_minute_history().iter().map(|h| h.1).collect();
        // 1,800,000,000 s starts a minute: 0 and 20 s fall in it, 61 and 62 s
        // in the next.
        assert_eq!(history, vec![2, 2]);
    }

    #[test]
    fn oversubscription_ratio() {
        let check = |cap: u64, expected: Option<Decimal>| {
            let b = four(cap, AllotmentRule::ProRata);
            assert_eq!(
                b.series(&sid("S1")).unwrap().oversubscription(),
                expected,
                "cap {cap}"
            );
        };
        check(100, Some(dec!(2)));
        check(300, Some(dec!(0.67)));
        // 200 / 600 = 0.3333..., and 200 / 800 = 0.25 exactly.
        check(600, Some(dec!(0.33)));
        check(800, Some(dec!(0.25)));
        check(0, None);
    }

    #[test]
    fn the_would_be_allotment_is_the_registrys_over_the_live_book() {
        let b = four(100, AllotmentRule::ProRata);
        let w = b.series(&sid("S1")).unwrap().would_be_allotment();
        // Pro rata of 100 over [50, 40, 30, 80]: 25, 20, 15, 40 exactly.
        assert_eq!(
            allot(
                &[50, 40, 30, 80].map(Units::new),
                Units::new(100),
                AllotmentRule::ProRata
            ),
            [25, 20, 15, 40].map(Units::new)
        );
        assert_eq!(
            (w.subscribed_units, w.allotted_units, w.refunded_units),
            (200, 100, 100)
        );
        assert_eq!(w.rule, "pro_rata");
        let a = &w.by_bank[0];
        assert_eq!(
            (
                a.bank_id.as_str(),
                a.subscribed_units,
                a.allotted_units,
                a.refunded_units
            ),
            ("bank-a", 80, 40, 40)
        );
        // 25 x 1000.005 = 25000.125 -> 25000.12 (half-even) and 15 x 1000.005 =
        // 15000.075 -> 15000.08: each line rounded, then summed.
        assert_eq!(a.amount_due, dec!(40000.20));
        let bb = &w.by_bank[1];
        assert_eq!((bb.allotted_units, bb.refunded_units), (60, 60));
        // 20 x 1000.005 = 20000.10, 40 x 1000.005 = 40000.20.
        assert_eq!(bb.amount_due, dec!(60000.30));

        // First come, first served fills in ledger order.
        let w = four(100, AllotmentRule::FirstComeFirstServed)
            .series(&sid("S1"))
            .unwrap()
            .would_be_allotment();
        let by: Vec<(String, u64)> = w
            .by_bank
            .iter()
            .map(|x| (x.bank_id.clone(), x.allotted_units))
            .collect();
        assert_eq!(by, vec![(s("bank-a"), 60), (s("bank-b"), 40)]);

        // Under the cap every line is filled.
        let w = four(1000, AllotmentRule::ProRata)
            .series(&sid("S1"))
            .unwrap()
            .would_be_allotment();
        assert_eq!((w.allotted_units, w.refunded_units), (200, 0));
    }

    #[test]
    fn an_amendment_changes_the_cap_and_rule_the_books_use() {
        let mut b = four(100, AllotmentRule::ProRata);
        b.define_series(
            &sid("S1"),
            Currency::USD,
            150,
            AllotmentRule::FirstComeFirstServed,
            dec!(1000),
        );
        let book = b.series(&sid("S1")).unwrap();
        assert_eq!(book.subscribed_units(), 200);
        assert_eq!(book.would_be_allotment().allotted_units, 150);
        assert_eq!(book.oversubscription(), Some(dec!(1.33)));
    }

    #[test]
    fn subscriptions_to_unknown_series_are_ignored() {
        let mut b = Books::new();
        b.apply(
            3,
            t(0),
            &submitted(3, "NOPE", "bank-a", "DE", DiasporaCategory::Affinity, 5),
        );
        assert!(b.all().next().is_none());
    }
}
