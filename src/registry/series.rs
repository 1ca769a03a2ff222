//! Bond series: terms, the figures and schedule derived from them with the
//! bond-math library, and the lifecycle draft → open → closed → allotted → issued
//! (→ matured), with cancellation possible before issue.

use super::*;
use crate::calendar::{
    AccrualDates, BusinessDayConvention, CalendarName, DateGeneration, DayCount, Frequency,
};
use crate::money::{Currency, RoundingRule};
use crate::pricing::{self, Bond, BondTerms, CashFlowKind, CouponType, Fixings, TermsInput};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Most units in a series, an investor's bounds or a subscription: far above any
/// real programme, far below overflow of units × face.
pub const UNITS_MAX: u64 = 1_000_000_000_000;
/// Decimal places the derived par coupon is published with (0.01 bp), half even.
pub const PAR_COUPON_DECIMALS: u32 = 6;
/// Decimal places the issue price (percent of face) is published with, half even.
pub const ISSUE_PRICE_DECIMALS: u32 = 6;
/// Items per entry for allotment, refund, release, holding and payment lists: one,
/// so that each subscription's allotment, each holding and each payment is its own
/// entry, and a receipt of one (entry + inclusion proof + checkpoint) carries no
/// other investor's data. A request still writes all its entries in one atomic
/// batch.
pub const ITEMS_PER_ENTRY: usize = 1;

/// A series id: 1 to 40 of upper-case ASCII letters, digits and '-'.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeriesId(std::sync::Arc<str>);

impl SeriesId {
    pub fn parse(field: &str, s: &str) -> Result<Self, RegistryError> {
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if !ok {
            return Err(RegistryError::invalid(
                field,
                format!("must be 1 to 40 upper-case letters, digits and '-', found {s:?}"),
            ));
        }
        Ok(SeriesId(s.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for SeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// An ISO 3166-1 alpha-2 country code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

/// ISO 3166-1 alpha-2 codes, officially assigned.
const ISO_3166: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `code` is in `ISO_3166` (sorted, so found by bisection: the replay
/// at open parses a country per subscription).
fn iso_3166_assigned(code: [u8; 2]) -> bool {
    let table = ISO_3166.as_bytes();
    let (mut lo, mut hi) = (0, table.len().div_ceil(3));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match [table[3 * mid], table[3 * mid + 1]].cmp(&code) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

impl Country {
    pub fn parse(field: &str, s: &str) -> Result<Self, RegistryError> {
        let b = s.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_uppercase) && iso_3166_assigned([b[0], b[1]]) {
            return Ok(Country([b[0], b[1]]));
        }
        Err(RegistryError::invalid(
            field,
            format!("expected an ISO 3166-1 alpha-2 country code such as DE, found {s:?}"),
        ))
    }
    pub fn as_str(&self) -> &str {
        // Only built from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Country::parse("country", &s).map_err(serde::de::Error::custom)
    }
}

/// The diaspora categories of Azerbaijan's diaspora law. Named in snake case
/// (serde, `Display`): "citizen_abroad", "child_of_citizen_abroad", ...
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum DiasporaCategory {
    CitizenAbroad,
    ChildOfCitizenAbroad,
    FormerCitizen,
    Affinity,
}

impl DiasporaCategory {
    pub const ALL: [DiasporaCategory; 4] = [
        DiasporaCategory::CitizenAbroad,
        DiasporaCategory::ChildOfCitizenAbroad,
        DiasporaCategory::FormerCitizen,
        DiasporaCategory::Affinity,
    ];
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eligibility {
    pub categories: BTreeSet<DiasporaCategory>,
    /// Empty: every country not barred.
    pub countries_allowed: BTreeSet<Country>,
    pub countries_barred: BTreeSet<Country>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponSpec {
    /// A fixed annual rate; `None` when diaspora pricing derives the par coupon.
    Fixed(Option<Decimal>),
    Zero,
    Accumulating(Decimal),
    StepUp(Vec<(NaiveDate, Decimal)>),
    Floating {
        reference: String,
        spread: Decimal,
        floor: Option<Decimal>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingSpec {
    /// Clean issue price, percent of face.
    IssuePrice(Decimal),
    Diaspora {
        reference_yield: Decimal,
        discount_bps: Decimal,
        derive_par_coupon: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesTerms {
    pub series_id: SeriesId,
    pub name: String,
    pub currency: Currency,
    pub face_value: Decimal,
    pub min_units_per_investor: u64,
    pub max_units_per_investor: u64,
    pub cap_units: u64,
    pub coupon: CouponSpec,
    pub frequency: Frequency,
    pub day_count: DayCount,
    pub business_day_convention: BusinessDayConvention,
    pub calendar: CalendarName,
    pub end_of_month: bool,
    pub first_coupon_date: Option<NaiveDate>,
    pub record_date_lag_days: u32,
    pub issue_date: NaiveDate,
    pub maturity_date: NaiveDate,
    pub window_opens_at: DateTime<Utc>,
    pub window_closes_at: DateTime<Utc>,
    pub allotment_rule: AllotmentRule,
    pub eligibility: Eligibility,
    pub pricing: PricingSpec,
    pub settlement_deadline: DateTime<Utc>,
}

/// The figures derived at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesFigures {
    pub issue_price: Decimal,
    pub coupon_rate: Option<Decimal>,
    pub issue_yield: Option<Decimal>,
    pub reference_yield: Option<Decimal>,
    pub discount_bps: Option<Decimal>,
    pub issuer_savings_per_unit: Option<Decimal>,
    pub price_per_unit: Decimal,
}

/// One scheduled cash flow of one unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledFlow {
    pub kind: CashFlowKind,
    pub accrual_start: NaiveDate,
    pub accrual_end: NaiveDate,
    pub payment_date: NaiveDate,
    pub record_date: NaiveDate,
    pub rate: Option<Decimal>,
    pub amount_per_unit: Option<Decimal>,
}

/// Where a series is in its life. Named in snake case (serde, `Display`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SeriesStatus {
    Draft,
    Open,
    Closed,
    Allotted,
    Issued,
    Matured,
    Cancelled,
}

impl SeriesStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A series as persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Series {
    pub terms: SeriesTerms,
    pub figures: SeriesFigures,
    pub schedule: Vec<ScheduledFlow>,
    pub status: SeriesStatus,
    pub created_at_index: u64,
    /// Money raised at issue (settled units × price per unit).
    pub amount_raised: Decimal,
    /// Coupons and the redemption paid so far, in order.
    #[serde(default)]
    pub paid: Vec<super::coupons::PaidFlow>,
    /// Index of the `SeriesIssued` entry; its holdings follow it, one per entry,
    /// in (investor, bank) order (receipts find a holding's entry from it).
    #[serde(default)]
    pub issued_at_index: Option<u64>,
}

/// Parameters of a series creation or amendment, fully derived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesDefined {
    pub terms: SeriesTerms,
    pub figures: SeriesFigures,
    pub schedule: Vec<ScheduledFlow>,
}

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

/// The bond-math terms of one unit with a given coupon.
pub fn bond_terms(t: &SeriesTerms, coupon: CouponType) -> Result<BondTerms, RegistryError> {
    BondTerms::new(TermsInput {
        face: t.face_value,
        coupon,
        frequency: t.frequency,
        day_count: t.day_count,
        issue_date: t.issue_date,
        maturity_date: t.maturity_date,
        first_coupon_date: t.first_coupon_date,
        business_day_convention: t.business_day_convention,
        calendar: t.calendar,
        end_of_month: t.end_of_month,
        date_generation: DateGeneration::Backward,
        accrual_dates: AccrualDates::Unadjusted,
        payment_lag_days: 0,
        record_date_lag_days: Some(t.record_date_lag_days),
    })
    .map_err(|e| invalid("terms", e.to_string()))
}

fn coupon_type(spec: &CouponSpec, par: Option<Decimal>) -> Result<CouponType, RegistryError> {
    Ok(match spec {
        CouponSpec::Fixed(Some(r)) => CouponType::Fixed(*r),
        CouponSpec::Fixed(None) => CouponType::Fixed(par.ok_or_else(|| {
            invalid(
                "coupon.fixed.rate",
                "a fixed coupon needs a rate unless diaspora pricing derives the par coupon",
            )
        })?),
        CouponSpec::Zero => CouponType::Zero,
        CouponSpec::Accumulating(r) => CouponType::Accumulating(*r),
        CouponSpec::StepUp(steps) => CouponType::StepUp(steps.clone()),
        CouponSpec::Floating {
            reference,
            spread,
            floor,
        } => CouponType::Floating {
            reference: reference.clone(),
            spread: *spread,
            floor: *floor,
        },
    })
}

/// The coupon type of a series as the bond-math library sees it.
pub fn series_coupon(series: &Series) -> Result<CouponType, RegistryError> {
    coupon_type(&series.terms.coupon, series.figures.coupon_rate)
}

/// Checks terms and derives figures and schedule. Pure: the same terms always
/// give the same figures (the verifier re-derives them).
pub fn define(t: SeriesTerms) -> Result<SeriesDefined, RegistryError> {
    check_text("name", &t.name, 128)?;
    if t.face_value <= Decimal::ZERO {
        return Err(invalid(
            "face_value",
            format!("must be positive, found {}", t.face_value),
        ));
    }
    if t.face_value.scale() > t.currency.minor_units() {
        return Err(invalid(
            "face_value",
            format!(
                "{} has more decimals than {} allows ({})",
                t.face_value,
                t.currency,
                t.currency.minor_units()
            ),
        ));
    }
    for (field, v) in [
        ("min_units_per_investor", t.min_units_per_investor),
        ("max_units_per_investor", t.max_units_per_investor),
        ("cap_units", t.cap_units),
    ] {
        if v == 0 || v > UNITS_MAX {
            return Err(invalid(
                field,
                format!("must be 1 to {UNITS_MAX} units, found {v}"),
            ));
        }
    }
    if t.min_units_per_investor > t.max_units_per_investor {
        return Err(invalid(
            "min_units_per_investor",
            format!(
                "minimum {} is above the maximum {}",
                t.min_units_per_investor, t.max_units_per_investor
            ),
        ));
    }
    if t.max_units_per_investor > t.cap_units {
        return Err(invalid(
            "max_units_per_investor",
            format!(
                "maximum {} is above the series cap {}",
                t.max_units_per_investor, t.cap_units
            ),
        ));
    }
    if t.window_opens_at >= t.window_closes_at {
        return Err(invalid(
            "window_closes_at",
            "the subscription window must close after it opens",
        ));
    }
    if t.settlement_deadline < t.window_closes_at {
        return Err(invalid(
            "settlement_deadline",
            "the settlement deadline must not be before the window closes",
        ));
    }
    if t.window_closes_at.date_naive() > t.issue_date {
        return Err(invalid(
            "window_closes_at",
            format!("the window must close by the issue date {}", t.issue_date),
        ));
    }
    if t.eligibility.categories.is_empty() {
        return Err(invalid(
            "eligibility.categories",
            "at least one diaspora category must be eligible",
        ));
    }
    if let Some(c) = t
        .eligibility
        .countries_allowed
        .intersection(&t.eligibility.countries_barred)
        .next()
    {
        return Err(invalid(
            "eligibility.countries_barred",
            format!("{c} is both allowed and barred"),
        ));
    }
    if let AllotmentRule::RetailPriority { units } = t.allotment_rule {
        if units == 0 || units > t.max_units_per_investor {
            return Err(invalid(
                "retail_priority_units",
                format!(
                    "must be 1 to the per-investor maximum {}, found {units}",
                    t.max_units_per_investor
                ),
            ));
        }
    }
    if let CouponSpec::Floating { reference, .. } = &t.coupon {
        check_text("coupon.floating.reference_rate", reference, 64)?;
    }

    let settle = t.issue_date;
    let (coupon_rate, issue_price, issue_yield, reference_yield, discount_bps, savings) =
        match &t.pricing {
            PricingSpec::IssuePrice(p) => {
                if *p <= Decimal::ZERO || *p > Decimal::from(1000) {
                    return Err(invalid(
                        "pricing.issue_price.price",
                        format!("must be a percent of face in (0, 1000], found {p}"),
                    ));
                }
                let coupon = coupon_type(&t.coupon, None)?;
                let y = match &coupon {
                    CouponType::Floating { .. } => None,
                    _ => {
                        let bond = Bond::new(&bond_terms(&t, coupon.clone())?, &Fixings::new())
                            .map_err(|e| invalid("terms", e.to_string()))?;
                        Some(
                            bond.yield_from_clean_price(settle, *p)
                                .map_err(|e| invalid("pricing.issue_price.price", e.to_string()))?,
                        )
                    }
                };
                let rate = if let CouponType::Fixed(r) = coupon {
                    Some(r)
                } else {
                    None
                };
                (rate, *p, y, None, None, None)
            }
            PricingSpec::Diaspora {
                reference_yield,
                discount_bps,
                derive_par_coupon,
            } => {
                if matches!(t.coupon, CouponSpec::Floating { .. }) {
                    return Err(invalid(
                        "pricing.diaspora",
                        "diaspora pricing needs a fixed, zero, accumulating or step-up coupon",
                    ));
                }
                if *discount_bps < Decimal::ZERO || *discount_bps > Decimal::from(1000) {
                    return Err(invalid(
                        "pricing.diaspora.discount_bps",
                        format!("must be 0 to 1000 basis points, found {discount_bps}"),
                    ));
                }
                let y = pricing::diaspora_yield(*reference_yield, *discount_bps);
                let placeholder = bond_terms(&t, CouponType::Fixed(Decimal::ZERO))?;
                let rate = if *derive_par_coupon {
                    if !matches!(t.coupon, CouponSpec::Fixed(None)) {
                        return Err(invalid(
                            "coupon",
                            "to derive the par coupon, give a fixed coupon without a rate",
                        ));
                    }
                    let par = pricing::par_coupon(&placeholder, y)
                        .map_err(|e| invalid("pricing.diaspora", e.to_string()))?;
                    Some(par.round_dp_with_strategy(
                        PAR_COUPON_DECIMALS,
                        rust_decimal::RoundingStrategy::MidpointNearestEven,
                    ))
                } else {
                    match &t.coupon {
                        CouponSpec::Fixed(None) => {
                            return Err(invalid(
                                "coupon.fixed.rate",
                                "give the coupon rate, or set derive_par_coupon",
                            ));
                        }
                        CouponSpec::Fixed(Some(r)) => Some(*r),
                        _ => None,
                    }
                };
                let terms = bond_terms(&t, coupon_type(&t.coupon, rate)?)?;
                let bond = Bond::new(&terms, &Fixings::new())
                    .map_err(|e| invalid("terms", e.to_string()))?;
                let price = bond
                    .clean_price(settle, y)
                    .map_err(|e| invalid("pricing.diaspora.reference_yield", e.to_string()))?
                    .round_dp_with_strategy(
                        ISSUE_PRICE_DECIMALS,
                        rust_decimal::RoundingStrategy::MidpointNearestEven,
                    );
                let savings = pricing::issuer_savings(&terms, *reference_yield, *discount_bps)
                    .map_err(|e| invalid("pricing.diaspora", e.to_string()))?;
                (
                    rate,
                    price,
                    Some(y),
                    Some(*reference_yield),
                    Some(*discount_bps),
                    Some(savings.savings),
                )
            }
        };
    let price_per_unit = crate::money::round_to_minor(
        t.face_value * issue_price / Decimal::ONE_HUNDRED,
        t.currency,
        RoundingRule::HalfEven,
    );
    let terms = bond_terms(&t, coupon_type(&t.coupon, coupon_rate)?)?;
    let bond = Bond::new(&terms, &Fixings::new()).map_err(|e| invalid("terms", e.to_string()))?;
    let schedule = bond
        .cashflows()
        .iter()
        .map(|f| ScheduledFlow {
            kind: f.kind,
            accrual_start: f.accrual_start,
            accrual_end: f.accrual_end,
            payment_date: f.payment_date,
            record_date: f.record_date.unwrap_or(f.payment_date),
            rate: f.rate,
            amount_per_unit: f.amount,
        })
        .collect();
    Ok(SeriesDefined {
        figures: SeriesFigures {
            issue_price,
            coupon_rate,
            issue_yield,
            reference_yield,
            discount_bps,
            issuer_savings_per_unit: savings,
            price_per_unit,
        },
        schedule,
        terms: t,
    })
}

fn require_treasury(caller: &Caller, action: &'static str) -> Result<(), RegistryError> {
    caller.require(Role::Treasury, action)
}

pub(super) fn series<'a>(state: &'a State, id: &SeriesId) -> Result<&'a Series, RegistryError> {
    state
        .series
        .get(id)
        .ok_or_else(|| RegistryError::SeriesNotFound { series: id.clone() })
}

fn wrong_state(s: &Series, action: &'static str, needs: &'static str) -> RegistryError {
    RegistryError::WrongSeriesState {
        series: s.terms.series_id.clone(),
        action,
        needs,
        found: s.status,
    }
}

pub(super) fn decide_create(
    state: &State,
    caller: &Caller,
    terms: &SeriesTerms,
) -> Result<Vec<Event>, RegistryError> {
    require_treasury(caller, "creating a series")?;
    // Terms before state: bad terms are refused whatever series exist.
    let defined = define(terms.clone())?;
    if state.series.contains_key(&terms.series_id) {
        return Err(RegistryError::SeriesExists {
            series: terms.series_id.clone(),
        });
    }
    Ok(vec![Event::SeriesCreated(defined)])
}

pub(super) fn decide_amend(
    state: &State,
    caller: &Caller,
    terms: &SeriesTerms,
) -> Result<Vec<Event>, RegistryError> {
    require_treasury(caller, "amending a series")?;
    let defined = define(terms.clone())?;
    let s = series(state, &terms.series_id)?;
    if s.status != SeriesStatus::Draft {
        return Err(wrong_state(s, "amend", "draft"));
    }
    Ok(vec![Event::SeriesAmended(defined)])
}

pub(super) fn decide_transition(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    t: &SeriesTransition,
) -> Result<Vec<Event>, RegistryError> {
    require_treasury(caller, "changing a series' state")?;
    // Arguments before state: a bad reason is refused whatever the series.
    if let SeriesTransition::Cancel(_, reason) = t {
        check_text("reason", reason, crate::limits::REASON_CHARS_MAX)?;
    }
    let s = series(state, t.series_id())?;
    let id = s.terms.series_id.clone();
    match t {
        SeriesTransition::Open(_) => {
            if s.status != SeriesStatus::Draft {
                return Err(wrong_state(s, "open", "draft"));
            }
            if ctx.recorded_at >= s.terms.window_closes_at {
                return Err(RegistryError::OpenAfterWindow {
                    series: id,
                    closed_at: s.terms.window_closes_at,
                });
            }
            Ok(vec![Event::SeriesOpened(id)])
        }
        SeriesTransition::Close(_) => {
            if s.status != SeriesStatus::Open {
                return Err(wrong_state(s, "close", "open"));
            }
            Ok(vec![Event::SeriesClosed {
                series_id: id,
                early: ctx.recorded_at < s.terms.window_closes_at,
            }])
        }
        SeriesTransition::Cancel(_, reason) => {
            if !matches!(
                s.status,
                SeriesStatus::Draft
                    | SeriesStatus::Open
                    | SeriesStatus::Closed
                    | SeriesStatus::Allotted
            ) {
                return Err(wrong_state(s, "cancel", "draft, open, closed or allotted"));
            }
            let live: Vec<(u64, u64)> = state
                .book(&id)
                .filter(|sub| sub.status.is_live())
                .map(|sub| (sub.subscription_id, sub.units))
                .collect();
            let mut events = vec![Event::SeriesCancelled {
                series_id: id.clone(),
                reason: reason.clone(),
                subscriptions: live.len() as u64,
            }];
            for chunk in live.chunks(ITEMS_PER_ENTRY) {
                events.push(Event::SubscriptionsRefunded {
                    series_id: id.clone(),
                    refunds: chunk.to_vec(),
                });
            }
            Ok(events)
        }
        SeriesTransition::Allot(_) => {
            if s.status != SeriesStatus::Closed {
                return Err(wrong_state(s, "allot", "closed"));
            }
            let book: Vec<&Subscription> = state
                .book(&id)
                .filter(|sub| sub.status == SubscriptionStatus::Submitted)
                .collect();
            let units: Vec<u64> = book.iter().map(|sub| sub.units).collect();
            let allotted =
                super::allotment::allot(&units, s.terms.cap_units, s.terms.allotment_rule);
            let mut lines = Vec::with_capacity(book.len());
            for (sub, a) in book.iter().zip(&allotted) {
                let due = crate::money::round_to_minor(
                    Decimal::from(*a) * s.figures.price_per_unit,
                    s.terms.currency,
                    RoundingRule::HalfEven,
                );
                lines.push(AllotmentLine {
                    subscription_id: sub.subscription_id,
                    allotted_units: *a,
                    refunded_units: sub.units - a,
                    amount_due: due,
                });
            }
            let mut events = vec![Event::AllotmentDecided {
                series_id: id.clone(),
                rule: s.terms.allotment_rule,
                cap_units: s.terms.cap_units,
                subscribed_units: units.iter().sum(),
                allotted_units: allotted.iter().sum(),
                subscriptions: book.len() as u64,
            }];
            for chunk in lines.chunks(ITEMS_PER_ENTRY) {
                events.push(Event::SubscriptionsAllotted {
                    series_id: id.clone(),
                    allotments: chunk.to_vec(),
                });
            }
            Ok(events)
        }
        SeriesTransition::ReleaseUnsettled(_) => {
            if s.status != SeriesStatus::Allotted {
                return Err(wrong_state(
                    s,
                    "release unsettled allotments of",
                    "allotted",
                ));
            }
            if ctx.recorded_at < s.terms.settlement_deadline {
                return Err(RegistryError::BeforeSettlementDeadline {
                    series: id,
                    deadline: s.terms.settlement_deadline,
                });
            }
            let unsettled: Vec<(u64, u64)> = state
                .book(&id)
                .filter(|sub| sub.status == SubscriptionStatus::Allotted && sub.allotted_units > 0)
                .map(|sub| (sub.subscription_id, sub.allotted_units))
                .collect();
            if unsettled.is_empty() {
                return Err(RegistryError::NothingToRelease { series: id });
            }
            Ok(unsettled
                .chunks(ITEMS_PER_ENTRY)
                .map(|c| Event::UnsettledReleased {
                    series_id: id.clone(),
                    released: c.to_vec(),
                })
                .collect())
        }
        SeriesTransition::Issue(_) => {
            if s.status != SeriesStatus::Allotted {
                return Err(wrong_state(s, "issue", "allotted"));
            }
            let unsettled = state
                .book(&id)
                .filter(|sub| sub.status == SubscriptionStatus::Allotted && sub.allotted_units > 0)
                .count();
            if unsettled > 0 {
                return Err(RegistryError::UnsettledAllotments {
                    series: id,
                    count: unsettled,
                });
            }
            let mut holdings: std::collections::BTreeMap<(InvestorRef, ParticipantId), u64> =
                Default::default();
            for sub in state
                .book(&id)
                .filter(|sub| sub.status == SubscriptionStatus::Settled)
            {
                *holdings
                    .entry((sub.investor_ref.clone(), sub.bank_id.clone()))
                    .or_default() += sub.allotted_units;
            }
            let units: u64 = holdings.values().sum();
            let amount_raised = crate::money::round_to_minor(
                Decimal::from(units) * s.figures.price_per_unit,
                s.terms.currency,
                RoundingRule::HalfEven,
            );
            let list: Vec<HoldingUnits> = holdings
                .into_iter()
                .map(|((investor_ref, bank_id), units)| HoldingUnits {
                    investor_ref,
                    bank_id,
                    units,
                })
                .collect();
            let mut events = vec![Event::SeriesIssued {
                series_id: id.clone(),
                units,
                holdings: list.len() as u64,
                amount_raised,
            }];
            for chunk in list.chunks(ITEMS_PER_ENTRY) {
                events.push(Event::HoldingsCreated {
                    series_id: id.clone(),
                    holdings: chunk.to_vec(),
                });
            }
            Ok(events)
        }
    }
}

/// A treasury command that moves a series along its lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeriesTransition {
    Open(SeriesId),
    Close(SeriesId),
    Cancel(SeriesId, String),
    Allot(SeriesId),
    ReleaseUnsettled(SeriesId),
    Issue(SeriesId),
}

impl SeriesTransition {
    pub fn series_id(&self) -> &SeriesId {
        match self {
            SeriesTransition::Open(s)
            | SeriesTransition::Close(s)
            | SeriesTransition::Cancel(s, _)
            | SeriesTransition::Allot(s)
            | SeriesTransition::ReleaseUnsettled(s)
            | SeriesTransition::Issue(s) => s,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllotmentLine {
    pub subscription_id: u64,
    pub allotted_units: u64,
    pub refunded_units: u64,
    pub amount_due: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldingUnits {
    pub investor_ref: InvestorRef,
    pub bank_id: ParticipantId,
    pub units: u64,
}

fn fail(meta: &EntryMeta, reason: String) -> ApplyError {
    ApplyError {
        index: meta.index,
        reason,
    }
}

fn series_mut<'a>(
    state: &'a mut State,
    meta: &EntryMeta,
    id: &SeriesId,
) -> Result<&'a mut Series, ApplyError> {
    state
        .series
        .get_mut(id)
        .ok_or_else(|| fail(meta, format!("series {id} does not exist")))
}

pub(super) fn apply(
    state: &mut State,
    meta: &EntryMeta,
    event: &Event,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    match event {
        Event::SeriesCreated(d) => {
            let id = d.terms.series_id.clone();
            if state.series.contains_key(&id) {
                return Err(fail(meta, format!("series {id} created twice")));
            }
            state.series.insert(
                id.clone(),
                Series {
                    terms: d.terms.clone(),
                    figures: d.figures.clone(),
                    schedule: d.schedule.clone(),
                    status: SeriesStatus::Draft,
                    created_at_index: meta.index,
                    issued_at_index: None,
                    amount_raised: Decimal::ZERO,
                    paid: Vec::new(),
                },
            );
            changes.touch(StateKey::Series(id));
        }
        Event::SeriesAmended(d) => {
            let id = d.terms.series_id.clone();
            let s = series_mut(state, meta, &id)?;
            if s.status != SeriesStatus::Draft {
                return Err(fail(
                    meta,
                    format!("series {id} amended while {}", s.status.as_str()),
                ));
            }
            s.terms = d.terms.clone();
            s.figures = d.figures.clone();
            s.schedule = d.schedule.clone();
            changes.touch(StateKey::Series(id));
        }
        Event::SeriesOpened(id) => set_status(
            state,
            meta,
            id,
            &[SeriesStatus::Draft],
            SeriesStatus::Open,
            changes,
        )?,
        Event::SeriesClosed { series_id, .. } => set_status(
            state,
            meta,
            series_id,
            &[SeriesStatus::Open],
            SeriesStatus::Closed,
            changes,
        )?,
        Event::SeriesCancelled { series_id, .. } => {
            let from = [
                SeriesStatus::Draft,
                SeriesStatus::Open,
                SeriesStatus::Closed,
                SeriesStatus::Allotted,
            ];
            set_status(
                state,
                meta,
                series_id,
                &from,
                SeriesStatus::Cancelled,
                changes,
            )?;
        }
        Event::AllotmentDecided { series_id, .. } => set_status(
            state,
            meta,
            series_id,
            &[SeriesStatus::Closed],
            SeriesStatus::Allotted,
            changes,
        )?,
        Event::SeriesIssued {
            series_id,
            amount_raised,
            ..
        } => {
            set_status(
                state,
                meta,
                series_id,
                &[SeriesStatus::Allotted],
                SeriesStatus::Issued,
                changes,
            )?;
            let issued = series_mut(state, meta, series_id)?;
            issued.amount_raised = *amount_raised;
            issued.issued_at_index = Some(meta.index);
            // Its settled subscriptions are now held (once, here: not per holding).
            let ids = state.books.get(series_id).cloned().unwrap_or_default();
            for id in ids {
                if let Some(sub) = state.subscriptions.get_mut(&id) {
                    if sub.status == super::SubscriptionStatus::Settled {
                        sub.status = super::SubscriptionStatus::Issued;
                        changes.touch(StateKey::Subscription(id));
                    }
                }
            }
        }
        _ => {
            return Err(fail(
                meta,
                format!("{} is not a series event", event.kind()),
            ));
        }
    }
    Ok(())
}

fn set_status(
    state: &mut State,
    meta: &EntryMeta,
    id: &SeriesId,
    from: &[SeriesStatus],
    to: SeriesStatus,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let s = series_mut(state, meta, id)?;
    if !from.contains(&s.status) {
        return Err(fail(
            meta,
            format!(
                "series {id} cannot become {} from {}",
                to.as_str(),
                s.status.as_str()
            ),
        ));
    }
    s.status = to;
    changes.touch(StateKey::Series(id.clone()));
    Ok(())
}

#[cfg(test)]
mod country_tests {
    use super::*;

    #[test]
    fn the_code_table_is_sorted_and_every_code_and_only_those_parse() {
        let codes: Vec<&str> = ISO_3166.split(' ').collect();
        assert_eq!(
            ISO_3166.len(),
            codes.len() * 3 - 1,
            "two letters and a space each"
        );
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        for c in &codes {
            assert_eq!(Country::parse("c", c).unwrap().as_str(), *c);
        }
        let mut refused = 0;
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let s = String::from_utf8(vec![a, b]).unwrap();
                if Country::parse("c", &s).is_err() {
                    assert!(!codes.contains(&s.as_str()));
                    refused += 1;
                }
            }
        }
        assert_eq!(refused, 26 * 26 - codes.len());
        for bad in ["", "D", "de", "DEU", "XX", "ZZ", "AA"] {
            assert!(Country::parse("c", bad).is_err(), "{bad:?}");
        }
    }
}
