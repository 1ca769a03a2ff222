//! The state machine driven directly, with time as an argument: every refusal
//! path of series, subscriptions, allotment, settlement and issue.

use super::*;
use crate::calendar::{BusinessDayConvention, CalendarName, DayCount, Frequency};
use crate::ids::KeyId;
use crate::money::Currency;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use ed25519_dalek::SigningKey;
use rust_decimal::Decimal;
use std::str::FromStr;

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
        .single()
        .expect("valid time")
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

struct World {
    state: State,
    log: Vec<(EntryMeta, Event)>,
    now: DateTime<Utc>,
    admin: Caller,
    treasury: Caller,
    bank_a: Caller,
    bank_b: Caller,
}

fn key(seed: u8) -> (PublicKey, KeyId) {
    let k = SigningKey::from_bytes(&[seed; 32]).verifying_key();
    (PublicKey(k.to_bytes()), KeyId::of(&k))
}

impl World {
    fn new() -> World {
        let (admin_pk, admin_kid) = key(1);
        let (ledger_pk, _) = key(2);
        let mut w = World {
            state: State::new(),
            log: Vec::new(),
            now: at(2026, 10, 1),
            admin: Caller {
                participant_id: ParticipantId::parse("t", "admin").unwrap(),
                role: Role::Admin,
                key_id: admin_kid.clone(),
            },
            treasury: Caller {
                participant_id: ParticipantId::parse("t", "treasury").unwrap(),
                role: Role::Treasury,
                key_id: key(3).1,
            },
            bank_a: Caller {
                participant_id: ParticipantId::parse("t", "bank-a").unwrap(),
                role: Role::Bank,
                key_id: key(4).1,
            },
            bank_b: Caller {
                participant_id: ParticipantId::parse("t", "bank-b").unwrap(),
                role: Role::Bank,
                key_id: key(5).1,
            },
        };
        w.append(vec![Event::Genesis(GenesisRecorded {
            format_version: crate::ids::FORMAT_VERSION,
            origin: "test".into(),
            ledger_public_key: ledger_pk,
            admin_participant_id: w.admin.participant_id.clone(),
            admin_public_key: admin_pk,
            admin_key_id: admin_kid,
            simulated_clock: false,
        })]);
        for (who, seed) in [
            (w.treasury.clone(), 3),
            (w.bank_a.clone(), 4),
            (w.bank_b.clone(), 5),
        ] {
            let admin = w.admin.clone();
            w.run(
                &admin,
                Command::RegisterParticipant(RegisterParticipant {
                    participant_id: who.participant_id.clone(),
                    role: who.role,
                    public_key: key(seed).0,
                    display_name: who.participant_id.to_string(),
                }),
            )
            .expect("register");
        }
        w
    }

    fn append(&mut self, events: Vec<Event>) {
        let mut changes = Changes::default();
        for event in events {
            let meta = EntryMeta {
                index: self.state.size(),
                recorded_at: self.now,
            };
            apply(&mut self.state, &meta, &event, &mut changes).expect("decided events apply");
            self.log.push((meta, event));
        }
    }

    /// Decides and, if accepted, applies. Returns the first entry's index.
    fn run(&mut self, who: &Caller, command: Command) -> Result<u64, RegistryError> {
        let ctx = DecideCtx {
            index: self.state.size(),
            recorded_at: self.now,
        };
        match decide(&self.state, who, &ctx, &command)? {
            Decision::Append(events) => {
                self.append(events);
                Ok(ctx.index)
            }
            Decision::Existing { index } => Ok(index),
        }
    }

    fn refused(&mut self, who: &Caller, command: Command) -> RegistryError {
        let before = self.state.clone();
        let err = self.run(who, command).expect_err("must be refused");
        assert_eq!(self.state, before, "a refusal changes nothing");
        err
    }

    fn subscribe(
        &mut self,
        bank: &Caller,
        investor: &str,
        units: u64,
        key: &str,
    ) -> Result<u64, RegistryError> {
        self.subscribe_as(
            bank,
            investor,
            DiasporaCategory::CitizenAbroad,
            "DE",
            units,
            key,
        )
    }

    fn subscribe_as(
        &mut self,
        bank: &Caller,
        investor: &str,
        cat: DiasporaCategory,
        country: &str,
        units: u64,
        key: &str,
    ) -> Result<u64, RegistryError> {
        let bank = bank.clone();
        self.run(
            &bank,
            Command::SubmitSubscription(SubmitSubscription {
                series_id: sid(),
                investor_ref: InvestorRef::parse("i", investor).unwrap(),
                category: cat,
                country: Country::parse("c", country).unwrap(),
                units: units.into(),
                idempotency_key: key.into(),
                registration: Default::default(),
            }),
        )
    }

    fn transition(&mut self, t: SeriesTransition) -> Result<u64, RegistryError> {
        let treasury = self.treasury.clone();
        self.run(&treasury, Command::Transition(t))
    }

    /// Replaying the log into a fresh state gives the same state.
    fn check_replay(&self) {
        let mut fresh = State::new();
        let mut changes = Changes::default();
        for (meta, event) in &self.log {
            apply(&mut fresh, meta, event, &mut changes).expect("replay");
        }
        assert_eq!(fresh.records(), self.state.records());
    }
}

fn sid() -> SeriesId {
    SeriesId::parse("t", "AZ-2032-USD").unwrap()
}

fn terms() -> SeriesTerms {
    SeriesTerms {
        series_id: sid(),
        name: "Diaspora bond 2032".into(),
        currency: Currency::USD,
        face_value: dec("1000"),
        min_units_per_investor: 2,
        max_units_per_investor: 100,
        cap_units: 300,
        coupon: CouponSpec::Fixed(Some(dec("0.05"))),
        frequency: Frequency::Semiannual,
        day_count: DayCount::from_str("ACT/ACT ICMA").unwrap(),
        business_day_convention: BusinessDayConvention::Following,
        calendar: CalendarName::from_str("weekends_only").unwrap(),
        end_of_month: false,
        first_coupon_date: None,
        record_date_lag_days: 1,
        issue_date: date("2027-01-15"),
        maturity_date: date("2032-01-15"),
        window_opens_at: at(2026, 12, 1),
        window_closes_at: at(2027, 1, 10),
        allotment_rule: AllotmentRule::ProRata,
        eligibility: Eligibility {
            categories: [
                DiasporaCategory::CitizenAbroad,
                DiasporaCategory::ChildOfCitizenAbroad,
                DiasporaCategory::FormerCitizen,
            ]
            .into_iter()
            .collect(),
            countries_allowed: Default::default(),
            countries_barred: [Country::parse("c", "IR").unwrap()].into_iter().collect(),
        },
        pricing: PricingSpec::IssuePrice(dec("99.5")),
        settlement_deadline: at(2027, 1, 13),
        unclaimed_period_days: None,
        date_generation: crate::calendar::DateGeneration::Backward,
        accrual_dates: crate::calendar::AccrualDates::Unadjusted,
        payment_lag_days: 0,
        transfers: Default::default(),
        early_redemption: None,
    }
}

fn open_world() -> World {
    let mut w = World::new();
    let t = w.treasury.clone();
    w.run(&t, Command::CreateSeries(terms())).unwrap();
    w.transition(SeriesTransition::Open(sid())).unwrap();
    w.now = at(2026, 12, 1);
    w
}

#[test]
fn a_whole_issuance_conserves_units_and_replays() {
    let mut w = open_world();
    let s1 = w.subscribe(&w.bank_a.clone(), "inv-1", 100, "k1").unwrap();
    let s2 = w.subscribe(&w.bank_a.clone(), "inv-2", 100, "k2").unwrap();
    let s3 = w.subscribe(&w.bank_b.clone(), "inv-3", 100, "k1").unwrap();
    let s4 = w.subscribe(&w.bank_b.clone(), "inv-4", 60, "k2").unwrap();
    let s5 = w.subscribe(&w.bank_b.clone(), "inv-5", 40, "k3").unwrap();
    w.run(&w.bank_b.clone(), Command::WithdrawSubscription(s5))
        .unwrap();
    w.transition(SeriesTransition::Close(sid())).unwrap();
    w.transition(SeriesTransition::Allot(sid())).unwrap();
    // 360 subscribed over a cap of 300: 100×300/360 = 83.33 (×3), 60×300/360 = 50.
    let allotted: Vec<u64> = [s1, s2, s3, s4]
        .iter()
        .map(|id| w.state.subscription(*id).unwrap().allotted_units)
        .collect();
    assert_eq!(allotted, vec![84, 83, 83, 50]);
    for id in [s1, s2, s3, s4] {
        let s = w.state.subscription(id).unwrap();
        assert_eq!(s.allotted_units + s.refunded_units, s.units);
        assert_eq!(
            s.amount_due,
            Decimal::from(s.allotted_units) * dec("995.00")
        );
    }
    // Issue is refused while allotments are unsettled.
    let err = w.refused(
        &w.treasury.clone(),
        Command::Transition(SeriesTransition::Issue(sid())),
    );
    assert!(matches!(
        err,
        RegistryError::UnsettledAllotments { count: 4, .. }
    ));
    for (bank, id) in [
        (w.bank_a.clone(), s1),
        (w.bank_a.clone(), s2),
        (w.bank_b.clone(), s3),
    ] {
        w.run(&bank, Command::ConfirmSettlement(id)).unwrap();
    }
    // Release before the deadline is refused; after it, s4 is released.
    let err = w.refused(
        &w.treasury.clone(),
        Command::Transition(SeriesTransition::ReleaseUnsettled(sid())),
    );
    assert!(matches!(
        err,
        RegistryError::BeforeSettlementDeadline { .. }
    ));
    w.now = at(2027, 1, 14);
    w.transition(SeriesTransition::ReleaseUnsettled(sid()))
        .unwrap();
    assert_eq!(
        w.state.subscription(s4).unwrap().status,
        SubscriptionStatus::Released
    );
    w.transition(SeriesTransition::Issue(sid())).unwrap();
    let s = w.state.series(&sid()).unwrap();
    assert_eq!(s.status, SeriesStatus::Issued);
    assert_eq!(s.amount_raised, Decimal::from(84 + 83 + 83) * dec("995.00"));
    let holders: Vec<(String, u64)> = w
        .state
        .series_holdings(&sid(), None)
        .map(|h| (h.investor_ref.to_string(), h.units))
        .collect();
    assert_eq!(
        holders,
        vec![
            ("inv-1".into(), 84),
            ("inv-2".into(), 83),
            ("inv-3".into(), 83)
        ]
    );
    assert_eq!(
        w.state.subscription(s1).unwrap().status,
        SubscriptionStatus::Issued
    );
    w.check_replay();
}

#[test]
fn subscription_refusals() {
    let mut w = open_world();
    let a = w.bank_a.clone();
    let sub = |investor: &str, cat, country: &str, units, key: &str| {
        Command::SubmitSubscription(SubmitSubscription {
            series_id: sid(),
            investor_ref: InvestorRef::parse("i", investor).unwrap(),
            category: cat,
            country: Country::parse("c", country).unwrap(),
            units: crate::money::Units::new(units),
            idempotency_key: key.into(),
            registration: Default::default(),
        })
    };
    use DiasporaCategory::*;
    // Ineligible category, barred country, below minimum, above maximum, zero units.
    assert!(matches!(
        w.refused(&a, sub("i1", Affinity, "DE", 10, "k")),
        RegistryError::CategoryNotEligible { .. }
    ));
    assert!(
        matches!(w.refused(&a, sub("i1", CitizenAbroad, "IR", 10, "k")), RegistryError::CountryBarred { country, .. } if country.as_str() == "IR")
    );
    assert!(matches!(
        w.refused(&a, sub("i1", CitizenAbroad, "DE", 1, "k")),
        RegistryError::UnderInvestorMinimum {
            total: 1,
            min: 2,
            ..
        }
    ));
    assert!(matches!(
        w.refused(&a, sub("i1", CitizenAbroad, "DE", 101, "k")),
        RegistryError::OverInvestorLimit {
            total: 101,
            held: 0,
            max: 100,
            ..
        }
    ));
    assert!(matches!(
        w.refused(&a, sub("i1", CitizenAbroad, "DE", 0, "k")),
        RegistryError::Invalid { .. }
    ));
    // The maximum counts all of the investor's subscriptions at this bank.
    let first = w.run(&a, sub("i1", CitizenAbroad, "DE", 60, "k1")).unwrap();
    assert!(matches!(
        w.refused(&a, sub("i1", CitizenAbroad, "DE", 41, "k2")),
        RegistryError::OverInvestorLimit {
            total: 101,
            held: 60,
            ..
        }
    ));
    // Idempotency: same key and request = the first answer; different request = ALREADY_EXISTS.
    assert_eq!(
        w.run(&a, sub("i1", CitizenAbroad, "DE", 60, "k1")).unwrap(),
        first
    );
    assert!(matches!(
        w.refused(&a, sub("i1", CitizenAbroad, "DE", 61, "k1")),
        RegistryError::IdempotencyConflict { subscription, .. } if subscription == first
    ));
    // Keys are per bank: bank-b may use "k1" too.
    let b = w.bank_b.clone();
    w.run(&b, sub("i9", CitizenAbroad, "DE", 10, "k1")).unwrap();
    // Wrong role; another bank's subscription.
    let t = w.treasury.clone();
    assert!(matches!(
        w.refused(&t, sub("i2", CitizenAbroad, "DE", 10, "k3")),
        RegistryError::RoleRequired {
            needs: Role::Bank,
            role: Role::Treasury,
            ..
        }
    ));
    assert!(matches!(
        w.refused(&b, Command::WithdrawSubscription(first)),
        RegistryError::NotYourSubscription { .. }
    ));
    assert!(matches!(
        w.refused(&b, Command::ConfirmSettlement(first)),
        RegistryError::NotYourSubscription { .. }
    ));
    assert!(matches!(
        w.refused(&a, Command::WithdrawSubscription(999)),
        RegistryError::SubscriptionNotFound { subscription: 999 }
    ));
    // Settling before allotment.
    assert!(matches!(
        w.refused(&a, Command::ConfirmSettlement(first)),
        RegistryError::NotAwaitingSettlement { .. }
    ));
    // Window: not yet open, closed by time, closed early.
    w.now = at(2027, 1, 10);
    assert!(matches!(
        w.refused(&a, sub("i3", CitizenAbroad, "DE", 10, "k4")),
        RegistryError::WindowClosed { .. }
    ));
    assert!(matches!(
        w.refused(&a, Command::WithdrawSubscription(first)),
        RegistryError::WithdrawalWindowClosed { .. }
    ));
    // ... but an idempotent repeat still gets its first answer.
    assert_eq!(
        w.run(&a, sub("i1", CitizenAbroad, "DE", 60, "k1")).unwrap(),
        first
    );
    w.check_replay();
}

#[test]
fn window_not_yet_open_and_allowed_countries() {
    let mut w = World::new();
    w.now = at(2026, 11, 1);
    let mut t = terms();
    t.eligibility.countries_allowed = [
        Country::parse("c", "DE").unwrap(),
        Country::parse("c", "US").unwrap(),
    ]
    .into_iter()
    .collect();
    let tr = w.treasury.clone();
    w.run(&tr, Command::CreateSeries(t)).unwrap();
    w.transition(SeriesTransition::Open(sid())).unwrap();
    let a = w.bank_a.clone();
    assert!(matches!(
        w.subscribe(&a, "i1", 10, "k"),
        Err(RegistryError::WindowNotYetOpen { .. })
    ));
    w.now = at(2026, 12, 2);
    w.subscribe(&a, "i1", 10, "k").unwrap();
    let err = w
        .subscribe_as(&a, "i2", DiasporaCategory::CitizenAbroad, "FR", 10, "k2")
        .unwrap_err();
    assert!(matches!(err, RegistryError::CountryNotOffered { .. }));
}

#[test]
fn illegal_transitions_are_refused() {
    let mut w = World::new();
    let tr = w.treasury.clone();
    use SeriesTransition::*;
    assert!(matches!(
        w.refused(&tr, Command::Transition(Open(sid()))),
        RegistryError::SeriesNotFound { .. }
    ));
    w.run(&tr, Command::CreateSeries(terms())).unwrap();
    assert!(matches!(
        w.refused(&tr, Command::CreateSeries(terms())),
        RegistryError::SeriesExists { .. }
    ));
    for t in [
        Close(sid()),
        Allot(sid()),
        Issue(sid()),
        ReleaseUnsettled(sid()),
    ] {
        assert!(matches!(
            w.refused(&tr, Command::Transition(t)),
            RegistryError::WrongSeriesState {
                found: SeriesStatus::Draft,
                ..
            }
        ));
    }
    // Amending a draft works; amending an open series does not.
    let mut amended = terms();
    amended.cap_units = 400;
    w.run(&tr, Command::AmendSeries(amended.clone())).unwrap();
    assert_eq!(w.state.series(&sid()).unwrap().terms.cap_units, 400);
    w.transition(Open(sid())).unwrap();
    assert!(matches!(
        w.refused(&tr, Command::AmendSeries(amended)),
        RegistryError::WrongSeriesState {
            action: "amend",
            found: SeriesStatus::Open,
            ..
        }
    ));
    assert!(matches!(
        w.refused(&tr, Command::Transition(Open(sid()))),
        RegistryError::WrongSeriesState {
            action: "open",
            needs: "draft",
            ..
        }
    ));
    assert!(matches!(
        w.refused(&tr, Command::Transition(Allot(sid()))),
        RegistryError::WrongSeriesState {
            needs: "closed",
            ..
        }
    ));
    // A bank cannot drive the lifecycle.
    let a = w.bank_a.clone();
    assert!(matches!(
        w.refused(&a, Command::Transition(Close(sid()))),
        RegistryError::RoleRequired {
            needs: Role::Treasury,
            ..
        }
    ));
    // Cancel refunds every live subscription; afterwards nothing moves.
    w.now = at(2026, 12, 2);
    let s1 = w.subscribe(&a, "i1", 10, "k1").unwrap();
    w.transition(Cancel(sid(), "market conditions".into()))
        .unwrap();
    assert_eq!(
        w.state.subscription(s1).unwrap().status,
        SubscriptionStatus::Refunded
    );
    assert!(matches!(
        w.subscribe(&a, "i2", 10, "k2"),
        Err(RegistryError::SeriesCancelled { .. })
    ));
    assert!(matches!(
        w.refused(&tr, Command::Transition(Cancel(sid(), "again".into()))),
        RegistryError::WrongSeriesState {
            found: SeriesStatus::Cancelled,
            ..
        }
    ));
    w.check_replay();
}

#[test]
fn terms_are_checked() {
    let mut w = World::new();
    let tr = w.treasury.clone();
    type Change = Box<dyn Fn(&mut SeriesTerms)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "min_units_per_investor",
            Box::new(|t| t.min_units_per_investor = 200),
        ),
        (
            "max_units_per_investor",
            Box::new(|t| t.max_units_per_investor = 500),
        ),
        ("cap_units", Box::new(|t| t.cap_units = 0)),
        ("face_value", Box::new(|t| t.face_value = dec("-5"))),
        ("face_value", Box::new(|t| t.face_value = dec("1000.001"))),
        (
            "window_closes_at",
            Box::new(|t| t.window_closes_at = t.window_opens_at),
        ),
        (
            "settlement_deadline",
            Box::new(|t| t.settlement_deadline = at(2027, 1, 1)),
        ),
        (
            "eligibility.categories",
            Box::new(|t| t.eligibility.categories.clear()),
        ),
        ("terms", Box::new(|t| t.maturity_date = date("2026-01-01"))),
        (
            "coupon.fixed.rate",
            Box::new(|t| t.coupon = CouponSpec::Fixed(None)),
        ),
        ("name", Box::new(|t| t.name = String::new())),
    ];
    for (field, change) in cases {
        let mut t = terms();
        change(&mut t);
        match w.refused(&tr, Command::CreateSeries(t)) {
            RegistryError::Invalid { field: f, .. } => assert_eq!(f, field),
            other => panic!("{field}: expected invalid, got {other:?}"),
        }
    }
}

#[test]
fn diaspora_pricing_derives_the_par_coupon_and_the_savings() {
    let mut t = terms();
    t.coupon = CouponSpec::Fixed(None);
    t.pricing = PricingSpec::Diaspora {
        reference_yield: dec("0.065"),
        discount_bps: dec("150"),
        derive_par_coupon: true,
        coupon_step: None,
    };
    let d = series::define(t).unwrap();
    let coupon = d.figures.coupon_rate.unwrap();
    // The par coupon at the 5% diaspora yield is 5% (semiannual, on coupon dates).
    assert!((coupon - dec("0.05")).abs() < dec("0.0001"), "{coupon}");
    assert!(
        (d.figures.issue_price - dec("100")).abs() < dec("0.01"),
        "{}",
        d.figures.issue_price
    );
    // 150 bp on 1000 over about 5 years: roughly 150 × 4.3 / 10 ≈ 63 per unit.
    let savings = d.figures.issuer_savings_per_unit.unwrap();
    assert!(savings > dec("55") && savings < dec("70"), "{savings}");
    assert_eq!(
        d.schedule.len(),
        11,
        "10 semiannual coupons and the redemption"
    );
    assert_eq!(d.schedule[0].record_date, date("2027-07-14"));
}

/// Terms whose figures no decimal holds are refused: `decide` runs inside the
/// ledger writer thread, where a panic would stop every later write.
#[test]
fn terms_whose_figures_overflow_a_decimal_are_refused() {
    let mut w = World::new();
    let tr = w.treasury.clone();
    // 700% accumulating for 30 years: 8^30 ≈ 1.2e27 is a decimal, 1000 times it
    // (the redemption of one unit) is not.
    let mut t = terms();
    t.coupon = CouponSpec::Accumulating(dec("7"));
    t.frequency = Frequency::Zero;
    t.maturity_date = date("2057-01-15");
    match w.refused(&tr, Command::CreateSeries(t)) {
        RegistryError::Invalid { field, reason } => {
            assert_eq!(field, "terms");
            assert!(reason.contains("overflow"), "{reason}");
        }
        other => panic!("expected invalid terms, got {other:?}"),
    }
    // 500% for 32 years fits a decimal, but solving its issue price for a yield
    // overflowed the solver's slope.
    let mut t = terms();
    t.coupon = CouponSpec::Accumulating(dec("5"));
    t.frequency = Frequency::Zero;
    t.maturity_date = date("2059-01-15");
    t.pricing = PricingSpec::IssuePrice(dec("59.8"));
    match w.refused(&tr, Command::CreateSeries(t)) {
        RegistryError::Invalid { reason, .. } => {
            assert!(reason.contains("overflow"), "{reason}")
        }
        other => panic!("expected invalid terms, got {other:?}"),
    }
}

#[test]
fn the_readers_copy_answers_queries_as_the_full_state_and_decides_nothing() {
    let mut w = open_world();
    let (a, b) = (w.bank_a.clone(), w.bank_b.clone());
    w.subscribe(&a, "inv-1", 40, "k1").unwrap();
    let mut copy = w.state.readers_copy();
    let from = w.log.len();
    let s2 = w.subscribe(&b, "inv-2", 60, "k2").unwrap();
    w.run(&b, Command::WithdrawSubscription(s2)).unwrap();
    w.subscribe(&a, "inv-1", 50, "k3").unwrap();
    // The readers' copy follows by applying the same events, as the store does.
    let mut changes = Changes::default();
    for (meta, event) in &w.log[from..] {
        apply(&mut copy, meta, event, &mut changes).expect("applies to the copy");
    }
    assert_eq!(copy.records(), w.state.records());
    let book = |s: &State| -> Vec<(u64, SubscriptionStatus)> {
        s.book(&sid())
            .map(|x| (x.subscription_id, x.status))
            .collect()
    };
    assert_eq!(book(&copy), book(&w.state));
    assert_eq!(book(&copy).len(), 3);

    let submit = Command::SubmitSubscription(SubmitSubscription {
        series_id: sid(),
        investor_ref: InvestorRef::parse("i", "inv-9").unwrap(),
        category: DiasporaCategory::CitizenAbroad,
        country: Country::parse("c", "DE").unwrap(),
        units: crate::money::Units::new(10),
        idempotency_key: "k9".into(),
        registration: Default::default(),
    });
    let ctx = DecideCtx {
        index: w.state.size(),
        recorded_at: w.now,
    };
    match decide(&copy, &a, &ctx, &submit) {
        Err(RegistryError::ReadersCopy) => {}
        other => panic!("the readers' copy decided: {other:?}"),
    }
    assert!(matches!(
        decide(&w.state, &a, &ctx, &submit),
        Ok(Decision::Append(_))
    ));
}

#[test]
fn enum_names_are_spelled_as_on_the_ledger_and_in_state_records() {
    fn serde_name<T: serde::Serialize>(v: T) -> String {
        match serde_json::to_value(v).expect("serialises") {
            serde_json::Value::String(s) => s,
            other => panic!("not a name: {other}"),
        }
    }
    assert_eq!(
        Role::ALL.map(Role::as_str),
        ["admin", "treasury", "bank", "auditor", "engine"]
    );
    for r in Role::ALL {
        assert_eq!(serde_name(r), r.as_str());
        assert_eq!(r.to_string().parse::<Role>(), Ok(r));
    }
    assert_eq!(
        "Bank".parse::<Role>(),
        Err(
            "unknown role \"Bank\"; expected one of admin, treasury, bank, auditor, engine"
                .to_string()
        )
    );
    assert_eq!(
        DiasporaCategory::ALL.map(DiasporaCategory::as_str),
        [
            "citizen_abroad",
            "child_of_citizen_abroad",
            "former_citizen",
            "affinity"
        ]
    );
    for c in DiasporaCategory::ALL {
        assert_eq!(serde_name(c), c.as_str());
        assert_eq!(c.to_string(), c.as_str());
    }
    use SeriesStatus as S;
    let series = [
        S::Draft,
        S::Open,
        S::Closed,
        S::Allotted,
        S::Issued,
        S::Matured,
        S::Cancelled,
    ];
    assert_eq!(
        series.map(S::as_str),
        [
            "draft",
            "open",
            "closed",
            "allotted",
            "issued",
            "matured",
            "cancelled"
        ]
    );
    for s in series {
        assert_eq!(serde_name(s), s.to_string());
    }
    use SubscriptionStatus as U;
    let subs = [
        U::Submitted,
        U::Withdrawn,
        U::Allotted,
        U::Settled,
        U::Released,
        U::Refunded,
        U::Issued,
    ];
    assert_eq!(
        subs.map(U::as_str),
        [
            "submitted",
            "withdrawn",
            "allotted",
            "settled",
            "released",
            "refunded",
            "issued"
        ]
    );
    for s in subs {
        assert_eq!(serde_name(s), s.to_string());
    }
    assert_eq!(serde_name(ParticipantStatus::Revoked), "revoked");
    assert_eq!(ParticipantStatus::Active.to_string(), "active");
    assert_eq!(
        [
            AllotmentRule::FirstComeFirstServed,
            AllotmentRule::ProRata,
            AllotmentRule::RetailPriority { units: 5 }
        ]
        .map(|r| r.as_str()),
        ["first_come_first_served", "pro_rata", "retail_priority"]
    );
    let fixing = Event::FixingPublished {
        reference: "SOFR".into(),
        date: date("2027-01-04"),
        rate: crate::money::Rate::new(dec("0.04")),
    };
    assert_eq!(fixing.kind(), "rate_fixing_published");
    assert_eq!(Event::SeriesOpened(sid()).kind(), "series_opened");
    assert_eq!(
        Event::SubscriptionWithdrawn { subscription_id: 1 }.kind(),
        "subscription_withdrawn"
    );
}

#[test]
fn terms_beyond_the_amount_bounds_are_refused_not_panicked_on() {
    let mut w = World::new();
    let tr = w.treasury.clone();
    // A floating coupon sold at an issue price prices nothing before the price
    // per unit: face × price must be bounded on its own.
    let mut t = terms();
    t.coupon = CouponSpec::Floating {
        reference: "SOFR".into(),
        spread: dec("0.01"),
        floor: None,
    };
    t.face_value = Decimal::MAX;
    t.pricing = PricingSpec::IssuePrice(dec("1000"));
    match w.refused(&tr, Command::CreateSeries(t)) {
        RegistryError::Invalid { field, reason } => {
            assert_eq!(field, "face_value");
            assert!(reason.contains("larger than"), "{reason}");
        }
        other => panic!("expected invalid terms, got {other:?}"),
    }
    // A diaspora yield far below zero prices a unit at many times its face:
    // the price is bounded as a given issue price is.
    let mut t = terms();
    t.pricing = PricingSpec::Diaspora {
        reference_yield: dec("-0.45"),
        discount_bps: dec("0"),
        derive_par_coupon: false,
        coupon_step: None,
    };
    t.maturity_date = date("2056-01-15");
    match w.refused(&tr, Command::CreateSeries(t)) {
        RegistryError::Invalid { field, reason } => {
            assert_eq!(field, "pricing.diaspora.reference_yield");
            assert!(reason.contains("(0, 1000]"), "{reason}");
        }
        other => panic!("expected invalid terms, got {other:?}"),
    }
}

#[test]
fn a_book_holds_at_most_units_max() {
    let mut w = World::new();
    let tr = w.treasury.clone();
    let mut t = terms();
    t.min_units_per_investor = 1;
    t.max_units_per_investor = series::UNITS_MAX;
    t.cap_units = series::UNITS_MAX;
    w.run(&tr, Command::CreateSeries(t)).unwrap();
    w.transition(SeriesTransition::Open(sid())).unwrap();
    w.now = at(2026, 12, 2);
    let a = w.bank_a.clone();
    w.subscribe(&a, "i1", series::UNITS_MAX - 10, "k1").unwrap();
    w.subscribe(&a, "i2", 10, "k2").unwrap();
    let err = w.subscribe(&a, "i3", 1, "k3").unwrap_err();
    assert_eq!(
        err,
        RegistryError::BookFull {
            series: sid(),
            subscribed: series::UNITS_MAX,
            units: 1
        }
    );
    // Withdrawing makes room again; the allotment's sums fit its ledger form.
    let s2 = w.state.book(&sid()).nth(1).unwrap().subscription_id;
    w.run(&a, Command::WithdrawSubscription(s2)).unwrap();
    w.subscribe(&a, "i3", 10, "k3").unwrap();
    w.now = at(2027, 1, 10);
    w.transition(SeriesTransition::Close(sid())).unwrap();
    w.transition(SeriesTransition::Allot(sid())).unwrap();
    let decided = w
        .log
        .iter()
        .find_map(|(_, e)| match e {
            Event::AllotmentDecided {
                subscribed_units, ..
            } => Some(*subscribed_units),
            _ => None,
        })
        .unwrap();
    assert_eq!(decided.get(), series::UNITS_MAX);
    w.check_replay();
}

mod servicing;

/// An approval by the recovery key of `seed` (the registry does not check the
/// signature: the writer and every verifier do).
fn approval(seed: u8) -> RecoveryApproval {
    RecoveryApproval {
        recovery_public_key: key(seed).0,
        signature: vec![seed; 64],
    }
}

#[test]
fn a_recovery_quorum_and_an_emergency_replacement_are_decided_with_every_refusal() {
    let mut w = World::new();
    let ledger_key = w.state.ledger_key_in_force().unwrap();
    let (new_key, new_id) = key(40);
    let replace = |after_size: u64, new_public_key: PublicKey, approvals: Vec<RecoveryApproval>| {
        Command::EmergencyRotateLedgerKey(EmergencyRotateLedgerKey {
            new_public_key,
            after_size,
            approvals,
        })
    };
    // No quorum set: refused.
    let size = w.state.size();
    let admin = w.admin.clone();
    assert_eq!(
        w.refused(
            &admin,
            replace(size, new_key, vec![approval(31), approval(32)])
        ),
        RegistryError::NoRecoveryQuorum
    );
    // Quorums that cannot be set.
    let quorum = |threshold: u32, seeds: &[u8]| {
        Command::SetRecoveryQuorum(SetRecoveryQuorum {
            threshold,
            recovery_public_keys: seeds.iter().map(|s| key(*s).0).collect(),
        })
    };
    for (threshold, seeds, field) in [
        (0, &[31u8, 32, 33][..], "threshold"),
        (4, &[31, 32, 33], "threshold"),
        (1, &[], "recovery_public_keys"),
        (2, &[31, 31, 33], "recovery_public_keys"),
        (1, &[2], "recovery_public_keys"),
    ] {
        assert!(
            matches!(w.refused(&admin, quorum(threshold, seeds)), RegistryError::Invalid { field: f, .. } if f == field),
            "{threshold} of {seeds:?}"
        );
    }
    let too_many: Vec<u8> = (100..100 + crate::limits::RECOVERY_KEYS_MAX as u8 + 1).collect();
    assert!(matches!(
        w.refused(&admin, quorum(1, &too_many)),
        RegistryError::Invalid { .. }
    ));
    let bank = w.bank_a.clone();
    assert!(matches!(
        w.refused(&bank, quorum(2, &[31, 32, 33])),
        RegistryError::RoleRequired { .. }
    ));
    // A first quorum, replaced by 2 of 3.
    w.run(&admin, quorum(1, &[50])).unwrap();
    let set_at = w.run(&admin, quorum(2, &[31, 32, 33])).unwrap();
    let q = w.state.recovery_quorum().unwrap().clone();
    assert_eq!((q.threshold, q.keys.len(), q.set_at), (2, 3, set_at));

    let size = w.state.size();
    // Too few approvals; a duplicate approver; a key outside the quorum (the
    // replaced quorum's key included); the wrong size; the key in force; a
    // key of another role: each refused, nothing changes.
    assert_eq!(
        w.refused(&admin, replace(size, new_key, vec![approval(31)])),
        RegistryError::TooFewApprovals {
            given: 1,
            threshold: 2,
            keys: 3
        }
    );
    assert_eq!(
        w.refused(
            &admin,
            replace(size, new_key, vec![approval(31), approval(31)])
        ),
        RegistryError::DuplicateApproval { key: key(31).1 }
    );
    assert_eq!(
        w.refused(
            &admin,
            replace(size, new_key, vec![approval(31), approval(50)])
        ),
        RegistryError::NotARecoveryKey {
            key: key(50).1,
            set_at
        }
    );
    assert_eq!(
        w.refused(
            &admin,
            replace(size - 1, new_key, vec![approval(31), approval(32)])
        ),
        RegistryError::RecoverySizeMismatch {
            approved: size - 1,
            size
        }
    );
    assert!(matches!(
        w.refused(
            &admin,
            replace(size, ledger_key, vec![approval(31), approval(32)])
        ),
        RegistryError::LedgerKeyUnchanged { .. }
    ));
    let treasury = w.treasury.clone();
    assert!(matches!(
        w.refused(
            &treasury,
            replace(size, new_key, vec![approval(31), approval(32)])
        ),
        RegistryError::RoleRequired { .. }
    ));
    // Two distinct approvals of the quorum: the replacement, entry `size`.
    let at = w
        .run(
            &admin,
            replace(size, new_key, vec![approval(33), approval(31)]),
        )
        .unwrap();
    assert_eq!(at, size);
    assert_eq!(w.state.ledger_key_in_force(), Some(new_key));
    // The replacement entry and later entries: the new key; the checkpoint of
    // the size the quorum approved: the old key.
    assert_eq!(w.state.entry_key_at(size), Some(new_key));
    assert_eq!(w.state.ledger_key_at(size), Some(ledger_key));
    assert_eq!(w.state.entry_key_at(size - 1), Some(ledger_key));
    assert_eq!(w.state.ledger_key_at(size + 1), Some(new_key));
    let term = w.state.ledger_key_terms().last().cloned().unwrap();
    assert_eq!(
        (term.from_index, term.quorum_entry),
        (size + 1, Some(set_at))
    );
    // A reused key: genesis's key, the replaced one, refused for good.
    let size = w.state.size();
    for reused in [ledger_key, new_key] {
        let err = w.refused(
            &admin,
            replace(size, reused, vec![approval(31), approval(32)]),
        );
        assert!(
            matches!(
                err,
                RegistryError::LedgerKeyReused { .. } | RegistryError::LedgerKeyUnchanged { .. }
            ),
            "{err:?}"
        );
    }
    assert!(matches!(
        w.refused(
            &admin,
            replace(size, ledger_key, vec![approval(31), approval(32)])
        ),
        RegistryError::LedgerKeyReused { from_index: 0, .. }
    ));
    let _ = new_id;
    w.check_replay();
}
