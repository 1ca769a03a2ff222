//! Fixtures shared by dbond's integration tests, benches and fuzz targets: valid
//! series terms (`Terms`, a builder over `pb::SeriesTerms`), the dates a series
//! sells and lives by (`Life`), and timestamps (`ts`, `at`).
//!
//! Every fixture is valid as built: a test that is about one field changes that
//! field and nothing else, so a refusal it sees is the one it is about.
//!
//! This crate depends on `dbond`, so it serves code that links `dbond` as a
//! library (integration tests, benches, fuzz targets). Unit tests inside `src/`
//! see a second copy of dbond's types through it and cannot use it.

pub mod pg;

use chrono::{DateTime, Duration, Months, NaiveDate, TimeZone, Utc};
use dbond::proto as pb;

/// A protobuf timestamp of `t` in whole seconds (sub-second parts dropped).
pub fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// Noon UTC on the given day. Panics on a date that does not exist.
pub fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("{y}-{m}-{d} is not a date"))
}

/// A date written `YYYY-MM-DD`. Panics on anything else.
pub fn day(s: &str) -> NaiveDate {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a YYYY-MM-DD date: {e}"))
}

/// When a series sells and lives.
#[derive(Clone, Debug)]
pub struct Life {
    pub opens: DateTime<Utc>,
    pub closes: DateTime<Utc>,
    pub settlement_deadline: DateTime<Utc>,
    pub issue: NaiveDate,
    pub maturity: NaiveDate,
}

impl Life {
    /// Selling at `now`: the window opened an hour before and closes `selling`
    /// after it, settlement an hour after the close; issued ten days after
    /// `now`, maturing `months` later.
    pub fn selling_at(now: DateTime<Utc>, selling: Duration, months: u32) -> Life {
        let issue = (now + Duration::days(10)).date_naive();
        Life {
            opens: now - Duration::hours(1),
            closes: now + selling,
            settlement_deadline: now + selling + Duration::hours(1),
            issue,
            maturity: issue
                .checked_add_months(Months::new(months))
                .expect("a maturity within chrono's range"),
        }
    }

    /// Selling now on the wall clock (for tests against `dbond serve`, whose
    /// clock is the system's): `selling_at(Utc::now(), ..)`.
    pub fn selling_now(selling: Duration, months: u32) -> Life {
        Life::selling_at(Utc::now(), selling, months)
    }

    /// Sold in December 2026 (window 1 December to 10 January, settlement by
    /// 12 January), issued 2027-01-15, maturing on 15 January `years` later.
    /// For tests whose clock they set themselves.
    pub fn december_2026(years: u32) -> Life {
        Life {
            opens: at(2026, 12, 1),
            closes: at(2027, 1, 10),
            settlement_deadline: at(2027, 1, 12),
            issue: day("2027-01-15"),
            maturity: day(&format!("{}-01-15", 2027 + years as i32)),
        }
    }
}

/// Every diaspora category, in the proto's order.
pub const ALL_CATEGORIES: [pb::DiasporaCategory; 4] = [
    pb::DiasporaCategory::CitizenAbroad,
    pb::DiasporaCategory::ChildOfCitizenAbroad,
    pb::DiasporaCategory::FormerCitizen,
    pb::DiasporaCategory::Affinity,
];

/// Series terms, valid as built. `Terms::new` gives plain terms: USD 1,000 face,
/// 5 % fixed, semiannual, ACT/ACT ICMA, following on a weekends-only calendar,
/// record date five days before payment, pro rata, for citizens abroad, issued
/// at par, 1 to 100 units per investor, cap 10,000 units, named after the
/// series, no transfers and no early redemption. Each method changes one
/// thing; `build` gives the protobuf message.
#[derive(Clone, Debug)]
#[must_use]
pub struct Terms(pb::SeriesTerms);

impl Terms {
    pub fn new(series_id: &str, life: Life) -> Terms {
        Terms(pb::SeriesTerms {
            series_id: series_id.into(),
            name: series_id.into(),
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
            unclaimed_period_days: 0,
            date_generation: String::new(),
            accrual_dates: String::new(),
            payment_lag_days: 0,
            transfers: pb::Transfers::None as i32,
            early_redemption: None,
        })
    }

    pub fn name(mut self, name: impl Into<String>) -> Terms {
        self.0.name = name.into();
        self
    }

    /// An ISO 4217 code.
    pub fn currency(mut self, currency: &str) -> Terms {
        self.0.currency = currency.into();
        self
    }

    pub fn cap_units(mut self, units: u64) -> Terms {
        self.0.cap_units = units.to_string();
        self
    }

    pub fn max_units_per_investor(mut self, units: u64) -> Terms {
        self.0.max_units_per_investor = units.to_string();
        self
    }

    pub fn coupon(mut self, kind: pb::coupon::Kind) -> Terms {
        self.0.coupon = Some(pb::Coupon { kind: Some(kind) });
        self
    }

    /// A fixed coupon at `rate` (a decimal string); `""` leaves the rate to be
    /// derived (the par coupon of diaspora pricing).
    pub fn fixed_rate(self, rate: &str) -> Terms {
        self.coupon(pb::coupon::Kind::Fixed(pb::FixedCoupon {
            rate: rate.into(),
        }))
    }

    pub fn day_count(mut self, day_count: &str) -> Terms {
        self.0.day_count = day_count.into();
        self
    }

    pub fn business_day_convention(mut self, convention: &str) -> Terms {
        self.0.business_day_convention = convention.into();
        self
    }

    pub fn allotment_rule(mut self, rule: pb::AllotmentRule) -> Terms {
        self.0.allotment_rule = rule as i32;
        self
    }

    /// The diaspora categories that may subscribe.
    pub fn categories(mut self, categories: &[pb::DiasporaCategory]) -> Terms {
        self.eligibility().categories = categories.iter().map(|c| *c as i32).collect();
        self
    }

    /// Countries of residence refused (ISO 3166-1 alpha-2).
    pub fn countries_barred(mut self, countries: &[&str]) -> Terms {
        self.eligibility().countries_barred = countries.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Priced at the reference yield less the patriotic discount; with
    /// `derive_par_coupon` the coupon is the par coupon at that yield (pair it
    /// with `fixed_rate("")`).
    pub fn diaspora_pricing(
        mut self,
        reference_yield: &str,
        discount_bps: &str,
        derive_par_coupon: bool,
    ) -> Terms {
        self.0.pricing = Some(pb::Pricing {
            kind: Some(pb::pricing::Kind::Diaspora(pb::DiasporaPricing {
                reference_yield: reference_yield.into(),
                discount_bps: discount_bps.into(),
                derive_par_coupon,
                coupon_step: String::new(),
            })),
        });
        self
    }

    /// With diaspora pricing and a derived par coupon: the coupon rounded
    /// down to a multiple of `step` (a decimal fraction such as "0.00125").
    pub fn coupon_step(mut self, step: &str) -> Terms {
        if let Some(pb::Pricing {
            kind: Some(pb::pricing::Kind::Diaspora(d)),
        }) = self.0.pricing.as_mut()
        {
            d.coupon_step = step.into();
        }
        self
    }

    /// Days after which an unclaimed payment is listed as overdue.
    pub fn unclaimed_period_days(mut self, days: u32) -> Terms {
        self.0.unclaimed_period_days = days;
        self
    }

    /// What may change hands between issue and maturity.
    pub fn transfers(mut self, transfers: pb::Transfers) -> Terms {
        self.0.transfers = transfers as i32;
        self
    }

    /// Early redemption terms.
    pub fn early_redemption(mut self, terms: pb::EarlyRedemption) -> Terms {
        self.0.early_redemption = Some(terms);
        self
    }

    pub fn min_units_per_investor(mut self, units: u64) -> Terms {
        self.0.min_units_per_investor = units.to_string();
        self
    }

    fn eligibility(&mut self) -> &mut pb::Eligibility {
        self.0.eligibility.get_or_insert_with(Default::default)
    }

    pub fn build(self) -> pb::SeriesTerms {
        self.0
    }
}

impl From<Terms> for pb::SeriesTerms {
    fn from(t: Terms) -> pb::SeriesTerms {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_life_selling_at_a_time_brackets_it() {
        let now = at(2030, 1, 15);
        let life = Life::selling_at(now, Duration::days(7), 60);
        assert!(life.opens < now && now < life.closes);
        assert!(life.closes < life.settlement_deadline);
        assert_eq!(life.issue, day("2030-01-25"));
        assert_eq!(life.maturity, day("2035-01-25"));
    }

    #[test]
    fn the_builder_changes_only_what_it_is_asked_to() {
        let plain = Terms::new("AZ-2031-USD", Life::december_2026(4)).build();
        let changed = Terms::new("AZ-2031-USD", Life::december_2026(4))
            .countries_barred(&["KP"])
            .build();
        assert_eq!(plain.maturity_date, "2031-01-15");
        assert_eq!(
            changed.eligibility.as_ref().unwrap().countries_barred,
            vec!["KP".to_string()]
        );
        let mut back = changed.clone();
        back.eligibility.as_mut().unwrap().countries_barred.clear();
        assert_eq!(back, plain);
    }
}
