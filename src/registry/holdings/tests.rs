//! A holding's life after issue, driven through `decide` and `apply` with time
//! as an argument: registration forms, succession by form, moves and gifts
//! with their pending units and record dates, early redemption prices to the
//! cent, and every refusal that changes nothing.

use super::succession::shares;
use crate::calendar::{BusinessDayConvention, CalendarName, DayCount, Frequency};
use crate::ids::KeyId;
use crate::money::{Currency, Units};
use crate::registry::coupons;
use crate::registry::*;
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

fn r(s: &str) -> InvestorRef {
    InvestorRef::parse("i", s).expect("reference")
}

fn sid(s: &str) -> SeriesId {
    SeriesId::parse("s", s).expect("series id")
}

fn key(seed: u8) -> (PublicKey, KeyId) {
    let k = SigningKey::from_bytes(&[seed; 32]).verifying_key();
    (PublicKey(k.to_bytes()), KeyId::of(&k))
}

fn caller(id: &str, role: Role, seed: u8) -> Caller {
    Caller {
        participant_id: ParticipantId::parse("p", id).expect("id"),
        role,
        key_id: key(seed).1,
    }
}

const LIFE: &str = "AZ-2030-LIFE";
const STILL: &str = "AZ-2030-STILL";

/// Face 1,000 USD, 6% semiannual 30/360 US, issued 2027-01-15 for three years,
/// record dates five business days before payment; gifts allowed (LIFE) or
/// nothing (STILL); early redemption on request after six months forgoing
/// three months of coupon, and the death and hardship puts (2% a year).
fn terms(id: &str) -> SeriesTerms {
    let life = id == LIFE;
    SeriesTerms {
        series_id: sid(id),
        name: id.into(),
        currency: Currency::USD,
        face_value: dec("1000"),
        min_units_per_investor: 1,
        max_units_per_investor: 120,
        cap_units: 1000,
        coupon: CouponSpec::Fixed(Some(dec("0.06"))),
        frequency: Frequency::Semiannual,
        day_count: DayCount::from_str("30/360 US").expect("day count"),
        business_day_convention: BusinessDayConvention::Following,
        calendar: CalendarName::from_str("weekends_only").expect("calendar"),
        end_of_month: false,
        first_coupon_date: None,
        record_date_lag_days: 5,
        issue_date: date("2027-01-15"),
        maturity_date: date("2030-01-15"),
        window_opens_at: at(2026, 12, 1),
        window_closes_at: at(2027, 1, 10),
        allotment_rule: AllotmentRule::ProRata,
        eligibility: Eligibility {
            categories: [
                DiasporaCategory::CitizenAbroad,
                DiasporaCategory::FormerCitizen,
            ]
            .into_iter()
            .collect(),
            countries_allowed: Default::default(),
            countries_barred: [Country::parse("c", "IR").expect("country")]
                .into_iter()
                .collect(),
        },
        pricing: PricingSpec::IssuePrice(dec("100")),
        settlement_deadline: at(2027, 1, 12),
        date_generation: crate::calendar::DateGeneration::Backward,
        accrual_dates: crate::calendar::AccrualDates::Unadjusted,
        payment_lag_days: 0,
        unclaimed_period_days: None,
        transfers: if life {
            TransferPolicy::Gifts
        } else {
            TransferPolicy::None
        },
        early_redemption: life.then_some(EarlyRedemptionTerms {
            on_request: true,
            lockup_months: 6,
            penalty_months: 3,
            death_put: true,
            hardship_put: true,
            hardship_quota: Some(dec("0.02")),
        }),
    }
}

struct World {
    state: State,
    log: Vec<(EntryMeta, Event)>,
    now: DateTime<Utc>,
    treasury: Caller,
    engine: Caller,
    a: Caller,
    b: Caller,
}

impl World {
    /// Genesis, a treasury, an engine and banks a and b.
    fn new() -> World {
        let admin = caller("admin", Role::Admin, 1);
        let mut w = World {
            state: State::new(),
            log: Vec::new(),
            now: at(2026, 11, 1),
            treasury: caller("treasury", Role::Treasury, 3),
            engine: caller("engine", Role::Engine, 4),
            a: caller("bank-a", Role::Bank, 5),
            b: caller("bank-b", Role::Bank, 6),
        };
        let (admin_key, admin_key_id) = key(1);
        w.append(vec![Event::Genesis(GenesisRecorded {
            format_version: crate::ids::FORMAT_VERSION,
            origin: "test".into(),
            ledger_public_key: key(2).0,
            admin_participant_id: admin.participant_id.clone(),
            admin_public_key: admin_key,
            admin_key_id,
            simulated_clock: false,
        })]);
        for (who, seed) in [
            (w.treasury.clone(), 3),
            (w.engine.clone(), 4),
            (w.a.clone(), 5),
            (w.b.clone(), 6),
        ] {
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
        invariants::check_state(&self.state).expect("the laws hold");
    }

    /// Decides and applies; the first entry's index.
    fn run(&mut self, who: &Caller, command: Command) -> Result<u64, RegistryError> {
        let ctx = DecideCtx {
            index: self.state.size(),
            recorded_at: self.now,
        };
        match decide(&self.state, who, &ctx, &command)? {
            Decision::Append(events) => {
                invariants::check_decision(&events).expect("a decision keeps the laws");
                self.append(events);
                Ok(ctx.index)
            }
            Decision::Existing { index } => Ok(index),
        }
    }

    fn ok(&mut self, who: &Caller, command: Command) -> u64 {
        self.run(who, command)
            .unwrap_or_else(|e| panic!("refused: {e}"))
    }

    fn refused(&mut self, who: &Caller, command: Command) -> RegistryError {
        let before = self.state.clone();
        let err = self.run(who, command).expect_err("must be refused");
        assert_eq!(self.state, before, "a refusal changes nothing");
        err
    }

    fn submit(
        &mut self,
        bank: &Caller,
        series: &str,
        investor: &str,
        units: u64,
        form: RegistrationForm,
    ) -> Result<u64, RegistryError> {
        let key = format!("{series}-{investor}");
        self.run(
            bank,
            Command::SubmitSubscription(SubmitSubscription {
                series_id: sid(series),
                investor_ref: r(investor),
                category: DiasporaCategory::CitizenAbroad,
                country: Country::parse("c", "DE").expect("country"),
                units: Units::new(units),
                idempotency_key: key,
                registration: form,
            }),
        )
    }

    fn transition(&mut self, t: SeriesTransition) {
        let treasury = self.treasury.clone();
        self.ok(&treasury, Command::Transition(t));
    }

    /// Posts every event due through today, as the engine does.
    fn engine_runs(&mut self) {
        let engine = self.engine.clone();
        let today = self.now.date_naive();
        for id in [sid(LIFE), sid(STILL)] {
            while let Some(next) = coupons::first_due(&self.state, &id, today).expect("engine") {
                self.ok(
                    &engine,
                    Command::PostAccrual {
                        series_id: id.clone(),
                        event_id: next,
                    },
                );
            }
        }
    }

    fn holding(&self, series: &str, investor: &str, bank: &Caller) -> Holding {
        self.state
            .investor_holdings(&bank.participant_id, &r(investor))
            .find(|h| h.series_id.as_str() == series)
            .cloned()
            .unwrap_or_else(|| panic!("{investor} holds {series} at {}", bank.participant_id))
    }

    fn units(&self, series: &str, investor: &str, bank: &Caller) -> u64 {
        self.holding(series, investor, bank).units
    }

    /// (investor, bank, units) of every holding of `series` with units.
    fn holders(&self, series: &str) -> Vec<(String, String, u64)> {
        self.state
            .series_holdings(&sid(series), None)
            .filter(|h| h.units > 0)
            .map(|h| (h.investor_ref.to_string(), h.bank_id.to_string(), h.units))
            .collect()
    }

    /// The payments of the events posted by the last engine run (investor,
    /// bank, units).
    fn paid(&self, event: &str) -> Vec<(String, String, u64)> {
        self.log
            .iter()
            .filter_map(|(_, e)| match e {
                Event::CouponPayments { id, payments, .. } if id.to_string() == event => {
                    Some(payments.clone())
                }
                _ => None,
            })
            .flatten()
            .map(|p| {
                (
                    p.investor_ref.to_string(),
                    p.bank_id.to_string(),
                    p.units.get(),
                )
            })
            .collect()
    }
}

/// Both series issued on 2027-01-14 to: at bank-a, ali (sole, 100), jnt
/// (joint ali and bab, 40), ben (payable on death to kid-1, kid-2, kid-3, 10),
/// min (a minor with custodian cus until 2035, 5); at bank-b, cem (sole, 50).
fn issued() -> World {
    let mut w = World::new();
    let t = w.treasury.clone();
    for id in [LIFE, STILL] {
        w.ok(&t, Command::CreateSeries(terms(id)));
        w.transition(SeriesTransition::Open(sid(id)));
    }
    w.now = at(2026, 12, 2);
    let (a, b) = (w.a.clone(), w.b.clone());
    for id in [LIFE, STILL] {
        w.submit(&a, id, "ali", 100, RegistrationForm::Sole)
            .unwrap();
        let joint = RegistrationForm::Joint {
            owners: vec![r("ali"), r("bab")],
        };
        w.submit(&a, id, "jnt", 40, joint).unwrap();
        let pod = RegistrationForm::Beneficiary {
            beneficiaries: vec![r("kid-1"), r("kid-2"), r("kid-3")],
        };
        w.submit(&a, id, "ben", 10, pod).unwrap();
        let minor = RegistrationForm::Minor {
            custodian: r("cus"),
            custody_ends: date("2035-06-01"),
        };
        w.submit(&a, id, "min", 5, minor).unwrap();
        w.submit(&b, id, "cem", 50, RegistrationForm::Sole).unwrap();
    }
    w.now = at(2027, 1, 11);
    for id in [LIFE, STILL] {
        w.transition(SeriesTransition::Close(sid(id)));
        w.transition(SeriesTransition::Allot(sid(id)));
    }
    let subs: Vec<(u64, ParticipantId)> = w
        .state
        .subscriptions_after(0)
        .map(|s| (s.subscription_id, s.bank_id.clone()))
        .collect();
    for (id, bank) in subs {
        let who = if bank == a.participant_id { &a } else { &b };
        w.ok(who, Command::ConfirmSettlement(id));
    }
    w.now = at(2027, 1, 14);
    for id in [LIFE, STILL] {
        w.transition(SeriesTransition::Issue(sid(id)));
    }
    w
}

fn notice(owner: &str, died: &str, estate: Option<&str>) -> Command {
    Command::FileDeathNotice(FileDeathNotice {
        owner_ref: r(owner),
        date_of_death: date(died),
        document_hash: [0xd0; 32],
        estate_ref: estate.map(r),
    })
}

fn gift(
    series: &str,
    from: &Caller,
    donor: &str,
    to: &str,
    units: u64,
    category: DiasporaCategory,
) -> Command {
    Command::RequestTransfer(RequestTransfer {
        kind: TransferKind::Gift,
        series_id: sid(series),
        from_bank: from.participant_id.clone(),
        from_investor: r(donor),
        to_investor: r(to),
        units: Units::new(units),
        recipient: Some((category, Country::parse("c", "DE").expect("country"))),
        registration: RegistrationForm::Sole,
    })
}

fn redeem(series: &str, investor: &str, units: u64, reason: RedemptionReason) -> Command {
    Command::RedeemEarly(RedeemEarly {
        series_id: sid(series),
        investor_ref: r(investor),
        bank_id: None,
        units: Units::new(units),
        reason,
        document_hash: Some([0xab; 32]),
    })
}

#[test]
fn shares_are_equal_whole_units_with_the_remainder_to_the_first_listed() {
    assert_eq!(shares(10, 3), vec![4, 3, 3]);
    assert_eq!(shares(11, 3), vec![4, 4, 3]);
    assert_eq!(shares(9, 3), vec![3, 3, 3]);
    assert_eq!(shares(2, 3), vec![1, 1, 0]);
    assert_eq!(shares(7, 1), vec![7]);
    assert!(shares(7, 0).is_empty());
    for units in 0..40u64 {
        for n in 1..9 {
            let s = shares(units, n);
            assert_eq!(s.iter().sum::<u64>(), units, "{units} over {n}");
            assert!(s.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
        }
    }
}

#[test]
fn forms_go_from_subscriptions_to_holdings_and_change_on_the_banks_request() {
    let mut w = issued();
    let a = w.a.clone();
    assert_eq!(
        w.holding(LIFE, "ali", &a).registration,
        RegistrationForm::Sole
    );
    assert!(matches!(
        w.holding(LIFE, "jnt", &a).registration,
        RegistrationForm::Joint { ref owners } if owners == &vec![r("ali"), r("bab")]
    ));
    // A holding without a life after issue keeps the record it always had.
    let cem = w.holding(LIFE, "cem", &w.b.clone());
    assert_eq!(
        serde_json::to_string(&cem).unwrap(),
        r#"{"series_id":"AZ-2030-LIFE","investor_ref":"cem","bank_id":"bank-b","units":50,"redeemed_units":0}"#
    );
    let still = w.state.series(&sid(STILL)).unwrap();
    let json = serde_json::to_string(still).unwrap();
    assert!(
        !json.contains("transfers") && !json.contains("early_re") && !json.contains("hardship")
    );

    // The bank adds a beneficiary to ali's sole holding; the change is kept.
    let pod = RegistrationForm::Beneficiary {
        beneficiaries: vec![r("kid-9")],
    };
    let change = |form: RegistrationForm, bank: Option<&Caller>| {
        Command::ChangeRegistration(ChangeRegistration {
            series_id: sid(LIFE),
            investor_ref: r("ali"),
            bank_id: bank.map(|b| b.participant_id.clone()),
            form,
        })
    };
    w.now = at(2027, 3, 1);
    let at_index = w.ok(&a, change(pod.clone(), None));
    let ali = w.holding(LIFE, "ali", &a);
    assert_eq!(ali.registration, pod);
    assert_eq!(ali.history.len(), 1);
    assert_eq!(ali.history[0].kind, HoldingChangeKind::Registration);
    assert_eq!(ali.history[0].index, at_index);
    assert!(matches!(
        w.refused(&a, change(pod.clone(), None)),
        RegistryError::RegistrationUnchanged { .. }
    ));
    // Another bank acting on bank-a's holding is refused, by name or not.
    let b = w.b.clone();
    assert!(matches!(
        w.refused(&b, change(RegistrationForm::Sole, Some(&a))),
        RegistryError::NotYourHolding { .. }
    ));
    assert!(matches!(
        w.refused(&b, change(RegistrationForm::Sole, None)),
        RegistryError::HoldingNotFound { .. }
    ));
    // A form that names the owner as its own beneficiary is malformed.
    let own = RegistrationForm::Beneficiary {
        beneficiaries: vec![r("ali")],
    };
    assert!(matches!(
        w.refused(&a, change(own, None)),
        RegistryError::Invalid { .. }
    ));
    // Ending a custody: the minor becomes sole owner.
    let end = Command::ChangeRegistration(ChangeRegistration {
        series_id: sid(LIFE),
        investor_ref: r("min"),
        bank_id: None,
        form: RegistrationForm::Sole,
    });
    w.ok(&a, end);
    assert_eq!(
        w.holding(LIFE, "min", &a).registration,
        RegistrationForm::Sole
    );
}

#[test]
fn one_investors_subscriptions_share_one_form() {
    let mut w = World::new();
    let t = w.treasury.clone();
    w.ok(&t, Command::CreateSeries(terms(LIFE)));
    w.transition(SeriesTransition::Open(sid(LIFE)));
    w.now = at(2026, 12, 2);
    let a = w.a.clone();
    w.submit(&a, LIFE, "ali", 10, RegistrationForm::Sole)
        .unwrap();
    let joint = RegistrationForm::Joint {
        owners: vec![r("ali"), r("bab")],
    };
    let before = w.state.clone();
    let err = w
        .run(
            &a,
            Command::SubmitSubscription(SubmitSubscription {
                series_id: sid(LIFE),
                investor_ref: r("ali"),
                category: DiasporaCategory::CitizenAbroad,
                country: Country::parse("c", "DE").unwrap(),
                units: Units::new(5),
                idempotency_key: "second".into(),
                registration: joint,
            }),
        )
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::RegistrationConflict { .. }),
        "{err}"
    );
    assert_eq!(w.state, before);
}

#[test]
fn a_death_notice_passes_each_holding_by_its_form_and_successors_are_paid() {
    let mut w = issued();
    let a = w.a.clone();
    w.now = at(2027, 3, 1);
    let issued_units: u64 = w.holders(LIFE).iter().map(|h| h.2).sum();
    // A sole holding passes to the estate the bank names; without one, refused.
    let err = w.refused(&a, notice("ali", "2027-02-20", None));
    assert!(
        matches!(err, RegistryError::Invalid { ref field, .. } if field == "estate_ref"),
        "{err}"
    );
    // A date of death after the notice is refused.
    assert!(matches!(
        w.refused(&a, notice("ali", "2027-03-02", Some("est-ali"))),
        RegistryError::Invalid { .. }
    ));
    let filed = w.ok(&a, notice("ali", "2027-02-20", Some("est-ali")));
    // ali's sole holdings (both series) go to the estate; the joint ones to bab.
    assert_eq!(w.units(LIFE, "ali", &a), 0);
    assert_eq!(w.units(LIFE, "est-ali", &a), 100);
    assert_eq!(w.units(LIFE, "jnt", &a), 0);
    assert_eq!(w.units(LIFE, "bab", &a), 40);
    assert_eq!(w.units(STILL, "est-ali", &a), 100);
    assert_eq!(w.units(STILL, "bab", &a), 40);
    let notice_record = w.state.death_notice(filed).expect("the notice is kept");
    assert_eq!(notice_record.changes, 4);
    assert_eq!(notice_record.document_hash, "d0".repeat(32));
    // The path is on both holdings.
    let from = &w.holding(LIFE, "ali", &a).history[0];
    assert_eq!(
        (from.kind, from.units, from.reference),
        (HoldingChangeKind::SuccessionOut, 100, filed)
    );
    let to = &w.holding(LIFE, "bab", &a).history[0];
    assert_eq!((to.kind, to.units), (HoldingChangeKind::SuccessionIn, 40));
    assert_eq!(to.counterpart, Some((r("jnt"), a.participant_id.clone())));
    // The same owner again, or one no holding names: NOT_FOUND, nothing changes.
    assert!(matches!(
        w.refused(&a, notice("ali", "2027-02-20", Some("est-ali"))),
        RegistryError::UnknownOwner { .. }
    ));
    assert!(matches!(
        w.refused(&a, notice("nobody", "2027-02-20", Some("est"))),
        RegistryError::UnknownOwner { .. }
    ));
    // A bank cannot file for another bank's client.
    let b = w.b.clone();
    assert!(matches!(
        w.refused(&b, notice("ben", "2027-02-20", Some("est"))),
        RegistryError::UnknownOwner { .. }
    ));
    // Payable on death: 10 units over three beneficiaries, 4, 3, 3.
    w.ok(&a, notice("ben", "2027-02-25", None));
    assert_eq!(
        ["kid-1", "kid-2", "kid-3"].map(|k| w.units(LIFE, k, &a)),
        [4, 3, 3]
    );
    // Units are conserved.
    let after: u64 = w.holders(LIFE).iter().map(|h| h.2).sum();
    assert_eq!(after, issued_units);
    // The first coupon's holders of record are the successors.
    w.now = at(2027, 7, 20);
    w.engine_runs();
    let paid = w.paid("AZ-2030-LIFE/coupon/0");
    let names: Vec<&str> = paid.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        vec!["bab", "cem", "est-ali", "kid-1", "kid-2", "kid-3", "min"]
    );
    assert!(paid.iter().all(|p| p.2 > 0));
}

#[test]
fn a_succession_inside_a_closed_period_passes_the_unpaid_coupon() {
    let mut w = issued();
    let a = w.a.clone();
    // The record date (2027-07-08) is fixed with ali as holder of record.
    w.now = at(2027, 7, 9);
    w.engine_runs();
    assert!(w.state.posted("AZ-2030-LIFE/record/0").is_some());
    assert!(w.state.posted("AZ-2030-LIFE/coupon/0").is_none());
    // A gift is refused while the register is closed; a succession is not.
    let err = w.refused(
        &a,
        gift(LIFE, &a, "ali", "dan", 5, DiasporaCategory::CitizenAbroad),
    );
    assert!(matches!(err, RegistryError::RegisterClosed { .. }), "{err}");
    w.ok(&a, notice("ali", "2027-07-01", Some("est-ali")));
    w.now = at(2027, 7, 15);
    w.engine_runs();
    let paid = w.paid("AZ-2030-LIFE/coupon/0");
    assert!(paid.contains(&("est-ali".into(), "bank-a".into(), 100)));
    assert!(!paid.iter().any(|p| p.0 == "ali"));
}

#[test]
fn moves_wait_for_the_delivering_bank_and_pending_units_are_paid_where_they_are() {
    let mut w = issued();
    let (a, b) = (w.a.clone(), w.b.clone());
    w.now = at(2027, 6, 1);
    // bank-a asks for 20 of cem's 50 units at bank-b, as its client cem-a.
    let move_cem = |units: u64| {
        Command::RequestTransfer(RequestTransfer {
            kind: TransferKind::Move,
            series_id: sid(LIFE),
            from_bank: b.participant_id.clone(),
            from_investor: r("cem"),
            to_investor: r("cem-a"),
            units: Units::new(units),
            recipient: None,
            registration: RegistrationForm::Sole,
        })
    };
    let id = w.ok(&a, move_cem(20));
    let cem = w.holding(LIFE, "cem", &b);
    assert_eq!((cem.units, cem.pending_units), (50, 20));
    assert_eq!(
        w.state.transfer(id).unwrap().status,
        TransferStatus::Pending
    );
    // What is pending cannot be promised twice.
    assert!(matches!(
        w.refused(&a, move_cem(31)),
        RegistryError::NotEnoughUnits { available: 30, .. }
    ));
    // Only the delivering bank confirms; the receiving one may not.
    assert!(matches!(
        w.refused(&a, Command::ConfirmTransfer(id)),
        RegistryError::NotYourTransfer { .. }
    ));
    // A record date comes while it is pending: cem is the holder of record,
    // for all 50 units, and the register is closed until the coupon is paid.
    w.now = at(2027, 7, 9);
    w.engine_runs();
    assert!(matches!(
        w.refused(&b, Command::ConfirmTransfer(id)),
        RegistryError::RegisterClosed { .. }
    ));
    w.now = at(2027, 7, 15);
    w.engine_runs();
    assert!(
        w.paid("AZ-2030-LIFE/coupon/0")
            .contains(&("cem".into(), "bank-b".into(), 50))
    );
    w.ok(&b, Command::ConfirmTransfer(id));
    assert_eq!(w.units(LIFE, "cem", &b), 30);
    assert_eq!(w.units(LIFE, "cem-a", &a), 20);
    assert_eq!(w.holding(LIFE, "cem", &b).pending_units, 0);
    assert!(matches!(
        w.refused(&b, Command::ConfirmTransfer(id)),
        RegistryError::TransferNotPending { .. }
    ));
    // The receiving bank may withdraw a request; the delivering one refuse it.
    let again = w.ok(&a, move_cem(5));
    w.ok(
        &a,
        Command::RefuseTransfer {
            transfer_id: again,
            reason: "the client changed its mind".into(),
        },
    );
    assert_eq!(w.holding(LIFE, "cem", &b).pending_units, 0);
    assert_eq!(
        w.state.transfer(again).unwrap().status,
        TransferStatus::Refused
    );
    // A series whose terms allow no transfers refuses one, and a move from the
    // receiving bank itself is no move between banks.
    let none = Command::RequestTransfer(RequestTransfer {
        kind: TransferKind::Move,
        series_id: sid(STILL),
        from_bank: b.participant_id.clone(),
        from_investor: r("cem"),
        to_investor: r("cem-a"),
        units: Units::new(1),
        recipient: None,
        registration: RegistrationForm::Sole,
    });
    assert!(matches!(
        w.refused(&a, none),
        RegistryError::TransferNotAllowed { .. }
    ));
    // The next coupon is paid where the units are now.
    w.now = at(2028, 1, 18);
    w.engine_runs();
    let paid = w.paid("AZ-2030-LIFE/coupon/1");
    assert!(paid.contains(&("cem".into(), "bank-b".into(), 30)));
    assert!(paid.contains(&("cem-a".into(), "bank-a".into(), 20)));
}

#[test]
fn a_transfer_waits_for_the_engine_to_post_what_is_due() {
    let mut w = issued();
    let a = w.a.clone();
    // The record date 2027-07-08 has passed and is not posted yet.
    w.now = at(2027, 7, 9);
    let err = w.refused(
        &a,
        gift(LIFE, &a, "ali", "dan", 5, DiasporaCategory::CitizenAbroad),
    );
    assert!(matches!(err, RegistryError::EventsDue { .. }), "{err}");
}

#[test]
fn gifts_recheck_the_recipient_and_give_a_unit_at_most_once() {
    let mut w = issued();
    let (a, b) = (w.a.clone(), w.b.clone());
    w.now = at(2027, 3, 1);
    // An ineligible recipient (affinity is not among the categories).
    assert!(matches!(
        w.refused(
            &a,
            gift(LIFE, &a, "ali", "dan", 10, DiasporaCategory::Affinity)
        ),
        RegistryError::CategoryNotEligible { .. }
    ));
    // Beyond the per-investor maximum of 120 (cem holds 50 at bank-b).
    assert!(matches!(
        w.refused(
            &b,
            gift(LIFE, &a, "ali", "cem", 71, DiasporaCategory::CitizenAbroad)
        ),
        RegistryError::HoldingOutOfBounds {
            total: 121,
            max: 120,
            ..
        }
    ));
    // A gift inside one bank: the request is the confirmation.
    let id = w.ok(
        &a,
        gift(LIFE, &a, "ali", "dan", 10, DiasporaCategory::CitizenAbroad),
    );
    assert_eq!(
        w.state.transfer(id).unwrap().status,
        TransferStatus::Confirmed
    );
    let dan = w.holding(LIFE, "dan", &a);
    assert_eq!((dan.units, dan.gift_units), (10, 10));
    assert_eq!(w.units(LIFE, "ali", &a), 90);
    // dan may not give the units received as a gift.
    assert!(matches!(
        w.refused(
            &a,
            gift(LIFE, &a, "dan", "eve", 1, DiasporaCategory::CitizenAbroad)
        ),
        RegistryError::NotEnoughUnits { available: 0, .. }
    ));
    // A gift to another bank's client waits for the delivering bank.
    let to_b = w.ok(
        &b,
        gift(LIFE, &a, "ali", "fay", 5, DiasporaCategory::FormerCitizen),
    );
    assert_eq!(w.holding(LIFE, "ali", &a).pending_units, 5);
    w.ok(&a, Command::ConfirmTransfer(to_b));
    let fay = w.holding(LIFE, "fay", &b);
    assert_eq!((fay.units, fay.gift_units), (5, 5));
    assert_eq!(w.units(LIFE, "ali", &a), 85);
}

#[test]
fn pending_transfers_lapse_at_maturity() {
    let mut w = issued();
    let (a, b) = (w.a.clone(), w.b.clone());
    w.now = at(2029, 12, 1);
    w.engine_runs();
    let id = w.ok(
        &a,
        gift(LIFE, &b, "cem", "gus", 3, DiasporaCategory::CitizenAbroad),
    );
    w.now = at(2030, 1, 20);
    w.engine_runs();
    let t = w.state.transfer(id).unwrap();
    assert_eq!(t.status, TransferStatus::Refused);
    assert_eq!(t.reason.as_deref(), Some(coupons::LAPSED));
    let cem = w.holding(LIFE, "cem", &b);
    assert_eq!(
        (cem.units, cem.redeemed_units, cem.pending_units),
        (50, 50, 0)
    );
    assert_eq!(
        w.state.series(&sid(LIFE)).unwrap().status,
        SeriesStatus::Matured
    );
}

#[test]
fn early_redemption_prices_to_the_cent_and_retires_units() {
    let mut w = issued();
    let (a, b) = (w.a.clone(), w.b.clone());
    // Inside the six-month lock-up.
    w.now = at(2027, 6, 1);
    assert!(matches!(
        w.refused(&b, redeem(LIFE, "cem", 7, RedemptionReason::OnRequest)),
        RegistryError::InsideLockup { until, .. } if until == date("2027-07-15")
    ));
    // A series without early redemption.
    assert!(matches!(
        w.refused(&b, redeem(STILL, "cem", 7, RedemptionReason::OnRequest)),
        RegistryError::EarlyRedemptionNotOffered { .. }
    ));
    w.now = at(2027, 9, 20);
    w.engine_runs();
    // 30/360 from 2027-07-15: 65 days of 6% on 1,000 = 10.8333…, to 12 places;
    // three months of coupon forgone: 1,000 × 6% × 3 / 12 = 15.
    let id = w.ok(&b, redeem(LIFE, "cem", 7, RedemptionReason::OnRequest));
    let Some((_, Event::EarlyRedeemed(e))) = w.log.last() else {
        panic!("an early redemption is recorded");
    };
    assert_eq!(e.redemption_id, id);
    assert_eq!(e.accrued_per_unit, dec("10.833333333333"));
    assert_eq!(e.penalty_per_unit, dec("15"));
    assert_eq!(e.price_per_unit, dec("995.833333333333"));
    // 7 × 995.833333333333 = 6970.833333333331, half even to the cent.
    assert_eq!(e.amount, dec("6970.83"));
    assert_eq!(e.redemption_date, date("2027-09-20"));
    let cem = w.holding(LIFE, "cem", &b);
    assert_eq!((cem.units, cem.early_redeemed_units), (43, 7));
    let s = w.state.series(&sid(LIFE)).unwrap();
    assert_eq!(s.early_redeemed_units, 7);
    // The death put redeems inherited units at face plus accrued.
    assert!(matches!(
        w.refused(&b, redeem(LIFE, "cem", 1, RedemptionReason::Death)),
        RegistryError::DeathPutNeedsSuccession { .. }
    ));
    w.ok(&a, notice("ben", "2027-09-01", None));
    w.ok(&a, redeem(LIFE, "kid-1", 4, RedemptionReason::Death));
    let Some((_, Event::EarlyRedeemed(e))) = w.log.last() else {
        panic!("an early redemption is recorded");
    };
    assert_eq!(e.penalty_per_unit, Decimal::ZERO);
    assert_eq!(e.amount, dec("4043.33"));
    // Hardship: 2% of the 205 units issued is 4.1, so 4 units a year.
    w.ok(&a, redeem(LIFE, "min", 3, RedemptionReason::Hardship));
    assert!(matches!(
        w.refused(&a, redeem(LIFE, "min", 2, RedemptionReason::Hardship)),
        RegistryError::HardshipQuotaExhausted {
            quota: 4,
            used: 3,
            ..
        }
    ));
    // Units conserved: what the holdings hold plus what was retired is what
    // was issued; the next coupon is paid on the units still out.
    let held: u64 = w.holders(LIFE).iter().map(|h| h.2).sum();
    assert_eq!(
        held + w.state.series(&sid(LIFE)).unwrap().early_redeemed_units,
        205
    );
    w.now = at(2028, 1, 18);
    w.engine_runs();
    let units_paid: u64 = w.paid("AZ-2030-LIFE/coupon/1").iter().map(|p| p.2).sum();
    assert_eq!(units_paid, 205 - 7 - 4 - 3);
}

/// Withholding and unclaimed payments meet a holding's life after issue: a
/// holding a gift, move or succession opens starts with the recipient's, the
/// mover's or the deceased's residence; and an earlier payment reported
/// undeliverable after the holding's units changed re-derives from the units it
/// held when paid.
#[test]
fn holdings_after_issue_carry_a_residence_and_re_derive_earlier_payments() {
    use crate::registry::unclaimed::ReportUndeliverable;
    use crate::registry::withholding::{RecordResidence, SetWithholdingTable};
    let country = |c: &str| Country::parse("c", c).expect("country");
    let mut w = issued();
    let (a, b, t) = (w.a.clone(), w.b.clone(), w.treasury.clone());
    w.now = at(2027, 2, 1);
    // 15 %; FR 10 %, GB 20 %, US 5 %. Every subscriber named DE.
    w.ok(
        &t,
        Command::SetWithholdingTable(SetWithholdingTable {
            series_id: Some(sid(LIFE)),
            effective_from: date("2027-01-14"),
            default_rate: dec("0.15"),
            treaty_rates: vec![
                (country("FR"), dec("0.10")),
                (country("GB"), dec("0.20")),
                (country("US"), dec("0.05")),
            ],
        }),
    );
    let residence = |investor: &str, c: &str| {
        Command::RecordResidence(RecordResidence {
            investor_ref: r(investor),
            country: country(c),
            effective_from: date("2027-01-14"),
        })
    };
    w.ok(&a, residence("ben", "GB"));
    w.ok(&b, residence("cem", "US"));
    w.now = at(2027, 3, 1);
    // A gift to dan, resident in FR.
    w.ok(
        &a,
        Command::RequestTransfer(RequestTransfer {
            kind: TransferKind::Gift,
            series_id: sid(LIFE),
            from_bank: a.participant_id.clone(),
            from_investor: r("ali"),
            to_investor: r("dan"),
            units: Units::new(10),
            recipient: Some((DiasporaCategory::CitizenAbroad, country("FR"))),
            registration: RegistrationForm::Sole,
        }),
    );
    // cem moves 20 units to bank-a.
    let moved = w.ok(
        &a,
        Command::RequestTransfer(RequestTransfer {
            kind: TransferKind::Move,
            series_id: sid(LIFE),
            from_bank: b.participant_id.clone(),
            from_investor: r("cem"),
            to_investor: r("cem"),
            units: Units::new(20),
            recipient: None,
            registration: RegistrationForm::Sole,
        }),
    );
    w.ok(&b, Command::ConfirmTransfer(moved));
    // ben dies: kid-1, kid-2 and kid-3 inherit 4, 3 and 3 units.
    w.ok(&a, notice("ben", "2027-02-25", None));
    w.now = at(2027, 7, 20);
    w.engine_runs();
    let withheld: Vec<(String, String, u64, Option<String>, Decimal)> = w
        .log
        .iter()
        .filter_map(|(_, e)| match e {
            Event::CouponPayments { id, payments, .. }
                if id.to_string() == "AZ-2030-LIFE/coupon/0" =>
            {
                Some(payments.clone())
            }
            _ => None,
        })
        .flatten()
        .map(|p| {
            let wh = p.withholding.expect("a table is in force");
            (
                p.investor_ref.to_string(),
                p.bank_id.to_string(),
                p.units.get(),
                wh.residence.map(|c| c.to_string()),
                wh.withheld,
            )
        })
        .collect();
    let of = |investor: &str, bank: &str| {
        withheld
            .iter()
            .find(|p| p.0 == investor && p.1 == bank)
            .unwrap_or_else(|| panic!("{investor} at {bank} paid: {withheld:?}"))
            .clone()
    };
    // A coupon of 30.00 a unit (6 % semiannual on 1,000).
    assert_eq!(
        of("dan", "bank-a"),
        (
            "dan".into(),
            "bank-a".into(),
            10,
            Some("FR".into()),
            dec("30.00")
        )
    );
    assert_eq!(
        of("cem", "bank-a"),
        (
            "cem".into(),
            "bank-a".into(),
            20,
            Some("US".into()),
            dec("30.00")
        )
    );
    assert_eq!(of("cem", "bank-b").3, Some("US".into()));
    assert_eq!(
        of("kid-1", "bank-a"),
        (
            "kid-1".into(),
            "bank-a".into(),
            4,
            Some("GB".into()),
            dec("24.00")
        )
    );
    assert_eq!(
        of("ali", "bank-a"),
        (
            "ali".into(),
            "bank-a".into(),
            90,
            Some("DE".into()),
            dec("405.00")
        )
    );
    // After the coupon ali gives 30 more units and redeems 5 early; the
    // coupon reported undeliverable is still the one paid on 90 units.
    w.now = at(2027, 8, 2);
    w.ok(
        &a,
        gift(LIFE, &a, "ali", "eve", 30, DiasporaCategory::CitizenAbroad),
    );
    w.ok(&a, redeem(LIFE, "ali", 5, RedemptionReason::OnRequest));
    assert_eq!(w.units(LIFE, "ali", &a), 55);
    w.ok(
        &a,
        Command::ReportUndeliverable(ReportUndeliverable {
            event_id: "AZ-2030-LIFE/coupon/0".parse().expect("event id"),
            investor_ref: r("ali"),
        }),
    );
    let reported = w.log.iter().rev().find_map(|(_, e)| match e {
        Event::PaymentUndeliverable(p) => Some(p.clone()),
        _ => None,
    });
    let p = reported.expect("reported");
    assert_eq!(
        (p.units.get(), p.gross, p.withheld, p.amount),
        (90, dec("2700.00"), dec("405.00"), dec("2295.00"))
    );
    // eve, who held nothing when the coupon was paid, was not paid it.
    assert!(matches!(
        w.refused(
            &a,
            Command::ReportUndeliverable(ReportUndeliverable {
                event_id: "AZ-2030-LIFE/coupon/0".parse().expect("event id"),
                investor_ref: r("eve"),
            })
        ),
        RegistryError::NotPaid { .. }
    ));
}
