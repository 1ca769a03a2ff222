//! The commands a run's bytes describe. Most choices are ones a careful client
//! makes (the next legal transition, an eligible investor, units within the
//! series' bounds), so that runs reach every stage of a series' life; the rest
//! are values at and beyond every bound, wrong callers and unknown objects.

use super::input::Input;
use super::{Failure, Sim, caller, key};
use crate::calendar::{BusinessDayConvention, CalendarName, DayCount, Frequency};
use crate::money::{Currency, Rate, Units};
use crate::pricing::FACE_MAX;
use crate::registry::series::{ISSUE_PRICE_PERCENT_MAX, UNITS_MAX};
use crate::registry::{
    AllotmentRule, Caller, Command, Country, CouponSpec, DiasporaCategory, Eligibility,
    InvestorRef, PricingSpec, RegisterParticipant, RevokeParticipant, Role, RotateKey, SeriesId,
    SeriesStatus, SeriesTerms, SeriesTransition, SubmitSubscription, SubscriptionStatus, coupons,
    reopening, unclaimed, withholding,
};
use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Series ids runs use: a few, so that commands meet the same series often.
const SERIES: [&str; 3] = ["AZ-2030-USD", "AZ-2032-EUR", "AZ-2035-JPY"];

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("a decimal")
}

fn country(code: &str) -> Country {
    Country::parse("country", code).expect("an assigned code")
}

impl Sim<'_> {
    /// Decides and applies the next command (or commands) the input describes.
    pub(super) fn next(&mut self, input: &mut Input) -> Result<(), Failure> {
        match input.byte() % 26 {
            0 | 1 => self.create(input, false),
            2 => self.create(input, true),
            3 | 4 => self.transition(input),
            5 | 14 => self.drive(input),
            6..=8 => self.submit(input),
            9 => self.withdraw_or_settle(input, false),
            10 => self.withdraw_or_settle(input, true),
            11 => {
                let step = input.pick(&[
                    Duration::hours(1),
                    Duration::days(1),
                    Duration::days(3),
                    Duration::days(10),
                    Duration::days(40),
                    Duration::days(183),
                    Duration::days(3 * 365),
                ]);
                self.now += step;
                Ok(())
            }
            12 => self.fixing(input),
            13 => self.post(input),
            15 => self.participants(input),
            16..=19 => self.servicing(input),
            _ => self.life(input),
        }
    }

    /// Withholding tables, residences, undeliverable payments and their claims,
    /// and reopenings taken through their tranche's life.
    fn servicing(&mut self, input: &mut Input) -> Result<(), Failure> {
        let id = self.series_id(input);
        let treasury = self.treasury.clone();
        let holdings: Vec<(InvestorRef, Caller)> = self
            .state
            .series_holdings(&id, None)
            .map(|h| (h.investor_ref.clone(), self.bank(h.bank_id.as_str())))
            .collect();
        let holding = (!holdings.is_empty()).then(|| holdings[input.below(holdings.len())].clone());
        let today = self.now.date_naive();
        match input.byte() % 6 {
            0 => {
                let rate =
                    input.usual_or(dec("0.15"), &[dec("1.5"), dec("-0.1"), dec("0.1234567")]);
                let treaty = input.usual_or(
                    vec![(country("DE"), dec("0.05")), (country("US"), dec("0.1"))],
                    &[vec![
                        (country("DE"), dec("0.05")),
                        (country("DE"), dec("0.06")),
                    ]],
                );
                let command = Command::SetWithholdingTable(withholding::SetWithholdingTable {
                    series_id: input.pick(&[Some(id.clone()), Some(id.clone()), None]),
                    effective_from: today - Duration::days(input.pick(&[0, 30, 400])),
                    default_rate: rate,
                    treaty_rates: treaty,
                });
                let who = self.who(input, &treasury);
                self.execute(&who, command)
            }
            1 => {
                let Some((investor, bank)) = holding else {
                    return Ok(());
                };
                let command = Command::RecordResidence(withholding::RecordResidence {
                    investor_ref: investor,
                    country: input.pick(&[country("GB"), country("DE"), country("US")]),
                    effective_from: today + Duration::days(input.pick(&[-200, 0, 30])),
                });
                let who = self.who(input, &bank);
                self.execute(&who, command)
            }
            2 => {
                let paid: Vec<String> = self
                    .state
                    .series(&id)
                    .map(|s| s.paid.iter().map(|p| p.event_id.clone()).collect())
                    .unwrap_or_default();
                let (Some((investor, bank)), false) = (holding, paid.is_empty()) else {
                    return Ok(());
                };
                let one = paid[input.below(paid.len())].clone();
                let text =
                    input.usual_or(one, &[format!("{id}/record/0"), format!("{id}/coupon/99")]);
                let Ok(event_id) = text.parse() else {
                    return Ok(());
                };
                let command = Command::ReportUndeliverable(unclaimed::ReportUndeliverable {
                    event_id,
                    investor_ref: investor,
                });
                let who = self.who(input, &bank);
                self.execute(&who, command)?;
                // Often claimed at once: reports are too rare to wait for.
                if input.chance(128) {
                    self.claim(input)?;
                }
                Ok(())
            }
            3 => self.claim(input),
            4 => {
                let closes = self.now + Duration::days(input.pick(&[3, 10]));
                let cap = input.pick(&[50, 500]);
                let command = Command::ReopenSeries(reopening::ReopenSeries {
                    series_id: id.clone(),
                    window_opens_at: self.now,
                    window_closes_at: input.usual_or(closes, &[self.now]),
                    settlement_date: closes.date_naive() + Duration::days(input.pick(&[1, 5, 40])),
                    settlement_deadline: closes + Duration::days(2),
                    reference_yield: input.pick(&[dec("0.06"), dec("0.045")]),
                    discount_bps: input.usual_or(dec("100"), &[dec("1001"), dec("-1")]),
                    cap_units: input.usual_or(cap, &[0, UNITS_MAX + 1]),
                });
                let who = self.who(input, &treasury);
                self.execute(&who, command)?;
                // A reopening is mostly taken some way through its life at
                // once: a run meets any one series too seldom otherwise.
                for _ in 0..input.below(5) {
                    self.drive_tranche(input, id.clone())?;
                }
                Ok(())
            }
            _ => self.drive_tranche(input, id),
        }
    }

    /// A bank records the claim of a payment reported undeliverable.
    fn claim(&mut self, input: &mut Input) -> Result<(), Failure> {
        let reported: Vec<(String, InvestorRef, String)> = self
            .state
            .servicing
            .unclaimed
            .values()
            .map(|u| {
                (
                    u.event_id.clone(),
                    u.investor_ref.clone(),
                    u.bank_id.to_string(),
                )
            })
            .collect();
        if reported.is_empty() {
            return Ok(());
        }
        let (event, investor, bank) = reported[input.below(reported.len())].clone();
        let Ok(event_id) = event.parse() else {
            return Ok(());
        };
        let command = Command::RecordClaim(unclaimed::RecordClaim {
            event_id,
            investor_ref: investor,
            reference: input.usual_or("PAY-1".to_string(), &[String::new(), "X".repeat(65)]),
        });
        let own = self.bank(&bank);
        let who = self.who(input, &own);
        self.execute(&who, command)
    }

    /// Takes a series' tranche in progress one stage further.
    fn drive_tranche(&mut self, input: &mut Input, id: SeriesId) -> Result<(), Failure> {
        let Some(status) = self
            .state
            .series(&id)
            .and_then(|s| s.current_tranche())
            .map(|t| t.status)
        else {
            return Ok(());
        };
        let treasury = self.treasury.clone();
        let t = |t: fn(SeriesId) -> SeriesTransition| Command::Transition(t(id.clone()));
        match status {
            reopening::TrancheStatus::Open => {
                for _ in 0..1 + input.below(3) {
                    self.submit_to(input, id.clone())?;
                }
                if input.chance(160) {
                    self.execute(&treasury, t(SeriesTransition::Close))?;
                }
                Ok(())
            }
            reopening::TrancheStatus::Closed => self.execute(&treasury, t(SeriesTransition::Allot)),
            reopening::TrancheStatus::Allotted => {
                let allotted: Vec<(u64, String)> = self
                    .state
                    .book(&id)
                    .filter(|s| s.status == SubscriptionStatus::Allotted && s.allotted_units > 0)
                    .map(|s| (s.subscription_id, s.bank_id.to_string()))
                    .collect();
                for (sub, bank) in allotted {
                    let own = self.bank(&bank);
                    self.execute(&own, Command::ConfirmSettlement(sub))?;
                }
                let last = if input.chance(32) {
                    SeriesTransition::Cancel(id.clone(), "tap withdrawn".into())
                } else {
                    SeriesTransition::Issue(id.clone())
                };
                self.execute(&treasury, Command::Transition(last))
            }
            _ => Ok(()),
        }
    }

    /// `usual`, or now and then another participant (a wrong role, a bank
    /// acting on another bank's subscription).
    pub(super) fn who(&self, input: &mut Input, usual: &Caller) -> Caller {
        if input.chance(240) {
            return usual.clone();
        }
        let mut all = vec![
            self.admin.clone(),
            self.treasury.clone(),
            self.engine.clone(),
            self.auditor.clone(),
        ];
        all.extend(self.banks.iter().cloned());
        input.pick(&all)
    }

    fn series_id(&self, input: &mut Input) -> SeriesId {
        SeriesId::parse("series_id", input.pick(&SERIES)).expect("a valid id")
    }

    fn create(&mut self, input: &mut Input, amend: bool) -> Result<(), Failure> {
        let id = self.series_id(input);
        // Most terms are sound; the rest have any field at or beyond a bound.
        let edges = if input.chance(64) { 32 } else { 0 };
        let terms = input.with_edges(edges, |input| self.terms(input, id));
        let who = self.who(input, &self.treasury.clone());
        let command = if amend {
            Command::AmendSeries(terms)
        } else {
            Command::CreateSeries(terms)
        };
        self.execute(&who, command)
    }

    /// Terms whose window is open now (most of the time), with every field
    /// now and then at or beyond its bound.
    fn terms(&self, input: &mut Input, series_id: SeriesId) -> SeriesTerms {
        let currency = input.pick(&[Currency::USD, Currency::EUR, Currency::JPY, Currency::AZN]);
        let face = input.pick(&[dec("1000"), dec("100"), dec("5000")]);
        let face = input.usual_or(
            face,
            &[
                Decimal::ZERO,
                dec("-5"),
                dec("1000.001"),
                FACE_MAX,
                FACE_MAX + Decimal::ONE,
                Decimal::MAX,
            ],
        );
        let cap = input.pick(&[300, 1000, 10_000]);
        let cap = input.usual_or(cap, &[0, UNITS_MAX, UNITS_MAX + 1, u64::MAX]);
        let max = input.pick(&[cap, cap / 2, 100]);
        let max = input.usual_or(max, &[0, cap.saturating_add(1), UNITS_MAX]);
        let min = input.pick(&[1, 2, 10]);
        let min = input.usual_or(min, &[0, max.saturating_add(1)]);
        let opens = self.now - input.pick(&[Duration::hours(1), Duration::zero()]);
        let opens = input.usual_or(opens, &[self.now + Duration::days(2)]);
        let closes =
            opens + input.pick(&[Duration::days(2), Duration::days(7), Duration::days(30)]);
        let closes = input.usual_or(closes, &[opens, opens - Duration::days(1)]);
        let issue_date = closes.date_naive() + Duration::days(input.pick(&[0, 5, 20]));
        let years = input.pick(&[1, 2, 5]);
        let maturity_date = input.usual_or(
            issue_date + Duration::days(365 * years + years / 4),
            &[
                issue_date - Duration::days(1),
                issue_date + Duration::days(365 * 40),
            ],
        );
        let deadline = closes + input.pick(&[Duration::days(1), Duration::days(3)]);
        let deadline = input.usual_or(deadline, &[closes - Duration::hours(1)]);
        let coupon = self.coupon(input, issue_date);
        let frequency = match coupon {
            CouponSpec::Zero | CouponSpec::Accumulating(_) => {
                input.usual_or(Frequency::Zero, &[Frequency::Annual])
            }
            _ => input.pick(&[
                Frequency::Annual,
                Frequency::Semiannual,
                Frequency::Quarterly,
            ]),
        };
        let pricing = self.pricing(input, &coupon);
        let lag = input.pick(&[0, 1, 5]);
        let lag = input.usual_or(lag, &[60, 61]);
        let unclaimed = input.pick(&[None, Some(30), Some(365)]);
        SeriesTerms {
            series_id,
            name: input.usual_or("Diaspora bond".to_string(), &[String::new(), "a\nb".into()]),
            currency,
            face_value: face,
            min_units_per_investor: min,
            max_units_per_investor: max,
            cap_units: cap,
            coupon,
            frequency,
            day_count: input.pick(&[
                DayCount::from_str("ACT/ACT ICMA").expect("a day count"),
                DayCount::from_str("30/360 US").expect("a day count"),
                DayCount::from_str("ACT/365F").expect("a day count"),
            ]),
            business_day_convention: input.pick(&[
                BusinessDayConvention::Following,
                BusinessDayConvention::ModifiedFollowing,
            ]),
            calendar: CalendarName::from_str("weekends_only").expect("a calendar"),
            end_of_month: false,
            first_coupon_date: None,
            record_date_lag_days: lag,
            issue_date,
            maturity_date,
            window_opens_at: opens,
            window_closes_at: closes,
            allotment_rule: input.pick(&[
                AllotmentRule::ProRata,
                AllotmentRule::FirstComeFirstServed,
                AllotmentRule::RetailPriority { units: 5 },
                AllotmentRule::RetailPriority { units: 0 },
            ]),
            eligibility: eligibility(input),
            pricing,
            settlement_deadline: deadline,
            unclaimed_period_days: input.usual_or(unclaimed, &[Some(0), Some(36_601)]),
            date_generation: input.pick(&[
                crate::calendar::DateGeneration::Backward,
                crate::calendar::DateGeneration::Forward,
            ]),
            accrual_dates: input.pick(&[
                crate::calendar::AccrualDates::Unadjusted,
                crate::calendar::AccrualDates::Adjusted,
            ]),
            payment_lag_days: input.pick(&[0, 2]),
            transfers: self.transfer_policy(input),
            early_redemption: self.early_terms(input),
        }
    }

    fn coupon(&self, input: &mut Input, issue_date: NaiveDate) -> CouponSpec {
        let usual = input.pick(&[
            CouponSpec::Fixed(Some(dec("0.05"))),
            CouponSpec::Fixed(Some(dec("0.03"))),
            CouponSpec::Fixed(None),
            CouponSpec::Zero,
            CouponSpec::Accumulating(dec("0.04")),
            CouponSpec::StepUp(vec![(issue_date + Duration::days(400), dec("0.06"))]),
            CouponSpec::Floating {
                reference: "SOFR".into(),
                spread: dec("0.01"),
                floor: Some(dec("0.02")),
            },
        ]);
        input.usual_or(
            usual,
            &[
                CouponSpec::Fixed(Some(dec("11"))),
                CouponSpec::Accumulating(dec("7")),
                CouponSpec::StepUp(Vec::new()),
                CouponSpec::Floating {
                    reference: String::new(),
                    spread: Decimal::MAX,
                    floor: None,
                },
            ],
        )
    }

    fn pricing(&self, input: &mut Input, coupon: &CouponSpec) -> PricingSpec {
        let usual = if input.chance(96) {
            PricingSpec::Diaspora {
                reference_yield: input.pick(&[dec("0.065"), dec("0.05")]),
                discount_bps: input.pick(&[dec("150"), dec("0"), dec("50")]),
                derive_par_coupon: matches!(coupon, CouponSpec::Fixed(None)),
                coupon_step: input.pick(&[None, None, Some(dec("0.00125")), Some(dec("0.0001"))]),
            }
        } else {
            PricingSpec::IssuePrice(input.pick(&[dec("100"), dec("99.5"), dec("101.25")]))
        };
        input.usual_or(
            usual,
            &[
                PricingSpec::IssuePrice(Decimal::ZERO),
                PricingSpec::IssuePrice(Decimal::from(ISSUE_PRICE_PERCENT_MAX)),
                PricingSpec::IssuePrice(dec("1000.000001")),
                PricingSpec::IssuePrice(Decimal::MAX),
                PricingSpec::Diaspora {
                    reference_yield: dec("-0.45"),
                    discount_bps: Decimal::ZERO,
                    derive_par_coupon: false,
                    coupon_step: Some(dec("0.00125")),
                },
                PricingSpec::Diaspora {
                    reference_yield: Decimal::MIN,
                    discount_bps: dec("1001"),
                    derive_par_coupon: true,
                    coupon_step: None,
                },
                PricingSpec::Diaspora {
                    reference_yield: dec("0.065"),
                    discount_bps: dec("150"),
                    derive_par_coupon: true,
                    coupon_step: Some(dec("0.0000001")),
                },
            ],
        )
    }

    /// The next legal transition of a series (most of the time), or any.
    fn transition(&mut self, input: &mut Input) -> Result<(), Failure> {
        let id = self.series_id(input);
        let natural = self.state.series(&id).map(|s| {
            let unsettled = self
                .state
                .book(&id)
                .any(|sub| sub.status == SubscriptionStatus::Allotted && sub.allotted_units > 0);
            match s.status {
                SeriesStatus::Draft => SeriesTransition::Open(id.clone()),
                SeriesStatus::Open => SeriesTransition::Close(id.clone()),
                SeriesStatus::Closed => SeriesTransition::Allot(id.clone()),
                SeriesStatus::Allotted if unsettled => {
                    SeriesTransition::ReleaseUnsettled(id.clone())
                }
                _ => SeriesTransition::Issue(id.clone()),
            }
        });
        let any = input.pick(&[
            SeriesTransition::Open(id.clone()),
            SeriesTransition::Close(id.clone()),
            SeriesTransition::Cancel(id.clone(), "market conditions".into()),
            SeriesTransition::Cancel(id.clone(), String::new()),
            SeriesTransition::Allot(id.clone()),
            SeriesTransition::ReleaseUnsettled(id.clone()),
            SeriesTransition::Issue(id.clone()),
        ]);
        // An open series stays open a while, for subscriptions to come in.
        let natural =
            natural.filter(|t| !matches!(t, SeriesTransition::Close(_)) || input.chance(64));
        let t = match natural {
            Some(t) if input.chance(208) => t,
            _ => any,
        };
        let who = self.who(input, &self.treasury.clone());
        self.execute(&who, Command::Transition(t))
    }

    fn submit(&mut self, input: &mut Input) -> Result<(), Failure> {
        let series_id = self.series_id(input);
        self.submit_to(input, series_id)
    }

    /// A subscription to `series_id` by one of the banks for one of a few
    /// investors, mostly within the series' bounds.
    fn submit_to(&mut self, input: &mut Input, series_id: SeriesId) -> Result<(), Failure> {
        let bank = input.pick(&self.banks);
        let (min, max) = self.state.series(&series_id).map_or((1, 100), |s| {
            (
                s.terms.min_units_per_investor,
                s.terms.max_units_per_investor,
            )
        });
        let span = max.saturating_sub(min).min(200);
        let units = min.max(1) + input.below(usize::try_from(span).unwrap_or(0) + 1) as u64;
        let units = input.usual_or(units, &[0, UNITS_MAX, UNITS_MAX + 1, u64::MAX]);
        let investor = format!("inv-{}", input.below(6));
        let key = format!("k-{}", input.below(12));
        let key = input.usual_or(key, &[String::new(), "\u{7}".into()]);
        let command = Command::SubmitSubscription(SubmitSubscription {
            series_id,
            investor_ref: InvestorRef::parse("investor_ref", &investor).expect("a valid ref"),
            category: input.usual_or(DiasporaCategory::CitizenAbroad, &DiasporaCategory::ALL),
            country: input.usual_or(country("DE"), &[country("IR"), country("US")]),
            units: Units::new(units),
            idempotency_key: key,
            registration: self.form(input, &investor),
        });
        let who = self.who(input, &bank);
        self.execute(&who, command)
    }

    /// Withdraws (or settles) a subscription: mostly one that can be, by its
    /// own bank.
    fn withdraw_or_settle(&mut self, input: &mut Input, settle: bool) -> Result<(), Failure> {
        let wanted = if settle {
            SubscriptionStatus::Allotted
        } else {
            SubscriptionStatus::Submitted
        };
        let candidates: Vec<(u64, String)> = self
            .state
            .subscriptions_after(0)
            .filter(|s| s.status == wanted || input.chance(16))
            .map(|s| (s.subscription_id, s.bank_id.to_string()))
            .collect();
        let (id, bank) = if candidates.is_empty() || input.chance(16) {
            (input.pick(&[0, 1, 999_999, u64::MAX]), "bank-a".to_string())
        } else {
            candidates[input.below(candidates.len())].clone()
        };
        let own = self.bank(&bank);
        let who = self.who(input, &own);
        let command = if settle {
            Command::ConfirmSettlement(id)
        } else {
            Command::WithdrawSubscription(id)
        };
        self.execute(&who, command)
    }

    /// Takes a series one stage further as its treasury and banks would: opens
    /// a draft, closes an open series, allots a closed one, settles (most of)
    /// an allotment, releases what is left after the deadline and issues, and
    /// pays an issued series' coupons a year on (publishing its fixings).
    pub(super) fn drive(&mut self, input: &mut Input) -> Result<(), Failure> {
        let id = self.series_id(input);
        let Some(status) = self.state.series(&id).map(|s| s.status) else {
            return self.create(input, false);
        };
        let treasury = self.treasury.clone();
        let t = |t: fn(SeriesId) -> SeriesTransition| Command::Transition(t(id.clone()));
        match status {
            SeriesStatus::Draft => self.execute(&treasury, t(SeriesTransition::Open)),
            SeriesStatus::Open => {
                for _ in 0..1 + input.below(4) {
                    self.submit_to(input, id.clone())?;
                }
                if input.chance(160) {
                    self.execute(&treasury, t(SeriesTransition::Close))?;
                }
                Ok(())
            }
            SeriesStatus::Closed => self.execute(&treasury, t(SeriesTransition::Allot)),
            SeriesStatus::Allotted => {
                let allotted: Vec<(u64, String)> = self
                    .state
                    .book(&id)
                    .filter(|s| s.status == SubscriptionStatus::Allotted && s.allotted_units > 0)
                    .map(|s| (s.subscription_id, s.bank_id.to_string()))
                    .collect();
                for (sub, bank) in allotted {
                    if input.chance(224) {
                        let own = self.bank(&bank);
                        self.execute(&own, Command::ConfirmSettlement(sub))?;
                    }
                }
                let deadline = self.state.series(&id).map(|s| s.terms.settlement_deadline);
                if let Some(deadline) = deadline.filter(|d| *d > self.now) {
                    if input.chance(128) {
                        self.now = deadline;
                    }
                }
                self.execute(&treasury, t(SeriesTransition::ReleaseUnsettled))?;
                self.execute(&treasury, t(SeriesTransition::Issue))
            }
            SeriesStatus::Issued => {
                self.now += Duration::days(input.pick(&[200, 365, 3 * 365]));
                self.publish_fixings(&id)?;
                self.catch_up(input, &id)
            }
            SeriesStatus::Matured | SeriesStatus::Cancelled => self.create(input, false),
        }
    }

    /// The bank `id` as a caller (the first bank if it is not one of them).
    pub(super) fn bank(&self, id: &str) -> Caller {
        self.banks
            .iter()
            .find(|b| b.participant_id.as_str() == id)
            .cloned()
            .unwrap_or_else(|| self.banks[0].clone())
    }

    /// Publishes a fixing for each floating period of `id` that has started.
    fn publish_fixings(&mut self, id: &SeriesId) -> Result<(), Failure> {
        let Some(s) = self.state.series(id) else {
            return Ok(());
        };
        let CouponSpec::Floating { reference, .. } = &s.terms.coupon else {
            return Ok(());
        };
        let today = self.now.date_naive();
        let missing: Vec<(String, NaiveDate)> = s
            .schedule
            .iter()
            .map(|f| (reference.clone(), f.accrual_start))
            .filter(|(r, d)| *d <= today && !self.state.fixings().contains_key(&(r.clone(), *d)))
            .collect();
        let treasury = self.treasury.clone();
        for (reference, date) in missing {
            let command = Command::PublishFixing {
                reference,
                date,
                rate: Rate::new(dec("0.043")),
            };
            self.execute(&treasury, command)?;
        }
        Ok(())
    }

    /// Posts every event due on `id`, in order (at most 64).
    pub(super) fn catch_up(&mut self, input: &mut Input, id: &SeriesId) -> Result<(), Failure> {
        let engine = self.engine.clone();
        for _ in 0..64 {
            let today = self.now.date_naive();
            let Some(next) = coupons::due_limited(&self.state, id, today, 1)
                .ok()
                .and_then(|r| r.due.into_iter().next())
            else {
                return Ok(());
            };
            let who = self.who(input, &engine);
            let before = self.report.appended;
            self.execute(
                &who,
                Command::PostAccrual {
                    series_id: id.clone(),
                    event_id: next.id().clone(),
                },
            )?;
            if self.report.appended == before {
                return Ok(());
            }
        }
        Ok(())
    }

    /// A fixing for a floating series' period (mostly), or any.
    fn fixing(&mut self, input: &mut Input) -> Result<(), Failure> {
        let starts: Vec<NaiveDate> = self
            .state
            .all_series()
            .filter(|s| matches!(s.terms.coupon, CouponSpec::Floating { .. }))
            .flat_map(|s| s.schedule.iter().map(|f| f.accrual_start))
            .collect();
        let date = if starts.is_empty() {
            self.now.date_naive()
        } else {
            starts[input.below(starts.len())]
        };
        let rate = input.pick(&[dec("0.043"), dec("0.001"), dec("0.05")]);
        let rate = input.usual_or(rate, &[dec("1.5"), dec("-2"), Decimal::MAX]);
        let command = Command::PublishFixing {
            reference: input.usual_or("SOFR".to_string(), &[String::new(), "X".repeat(65)]),
            date,
            rate: Rate::new(rate),
        };
        let who = self.who(input, &self.treasury.clone());
        self.execute(&who, command)
    }

    /// Posts what is due on an issued series: the next event, or every event
    /// due (a catch-up), or now and then one that is not next.
    fn post(&mut self, input: &mut Input) -> Result<(), Failure> {
        let issued: Vec<SeriesId> = self
            .state
            .all_series()
            .filter(|s| s.status == SeriesStatus::Issued)
            .map(|s| s.terms.series_id.clone())
            .collect();
        let id = if issued.is_empty() {
            self.series_id(input)
        } else {
            issued[input.below(issued.len())].clone()
        };
        let catch_up = input.chance(128);
        for _ in 0..if catch_up { 64 } else { 1 } {
            let today = self.now.date_naive();
            let next = coupons::due_limited(&self.state, &id, today, 1)
                .ok()
                .and_then(|r| r.due.into_iter().next())
                .map(|d| d.id().clone());
            let event_id = match next {
                Some(e) if input.chance(240) => e,
                _ => {
                    let text = input.pick(&[
                        format!("{id}/coupon/1"),
                        format!("{id}/record/0"),
                        format!("{id}/redemption"),
                        "OTHER/coupon/1".to_string(),
                    ]);
                    match text.parse() {
                        Ok(e) => e,
                        Err(_) => return Ok(()),
                    }
                }
            };
            let who = self.who(input, &self.engine.clone());
            let before = self.report.appended;
            self.execute(
                &who,
                Command::PostAccrual {
                    series_id: id.clone(),
                    event_id,
                },
            )?;
            if self.report.appended == before {
                break;
            }
        }
        Ok(())
    }

    /// Registers, rotates or revokes a participant.
    fn participants(&mut self, input: &mut Input) -> Result<(), Failure> {
        let admin = self.admin.clone();
        let who = self.who(input, &admin);
        let seed = self.keys;
        self.keys = self.keys.wrapping_add(1);
        let command = match input.byte() % 4 {
            0 => {
                let id = input.usual_or(format!("bank-{seed}"), &["bank-a".to_string()]);
                let role = input.pick(&Role::ALL);
                let new = caller(&id, role, seed);
                if role == Role::Bank && self.banks.len() < 6 {
                    self.banks.push(new.clone());
                }
                Command::RegisterParticipant(RegisterParticipant {
                    participant_id: new.participant_id,
                    role,
                    public_key: input.usual_or(key(seed).0, &[key(6).0]),
                    display_name: input.usual_or(id, &[String::new()]),
                })
            }
            1 => {
                let target = input.pick(&self.banks).participant_id;
                Command::RotateKey(RotateKey {
                    participant_id: target,
                    new_public_key: input.usual_or(key(seed).0, &[key(3).0]),
                })
            }
            2 => Command::RevokeParticipant(RevokeParticipant {
                participant_id: input.pick(&self.banks).participant_id,
                reason: input.usual_or("closed".to_string(), &[String::new()]),
            }),
            _ => Command::RevokeParticipant(RevokeParticipant {
                participant_id: admin.participant_id.clone(),
                reason: "last admin".into(),
            }),
        };
        self.execute(&who, command)
    }
}

fn eligibility(input: &mut Input) -> Eligibility {
    let categories = input.usual_or(
        DiasporaCategory::ALL.into_iter().collect(),
        &[
            Default::default(),
            [DiasporaCategory::Affinity].into_iter().collect(),
        ],
    );
    let (allowed, barred) = input.usual_or(
        (vec![], vec![country("IR")]),
        &[
            (vec![country("DE"), country("US")], vec![]),
            (vec![country("IR")], vec![country("IR")]),
        ],
    );
    Eligibility {
        categories,
        countries_allowed: allowed.into_iter().collect(),
        countries_barred: barred.into_iter().collect(),
    }
}
