//! Bond terms: the validated description of a series' coupons and dates, and
//! the terms JSON the calculators read.
//!
//! Invariant: a [`BondTerms`] value has passed [`BondTerms::new`]: positive face,
//! maturity after issue within the life limit, a first coupon date inside the
//! life, rates within bounds, known names. JSON numbers are read from their text,
//! never through a float.

use crate::calendar::{
    AccrualDates, BOND_LIFE_YEARS_MAX, BusinessDayConvention, CalendarName, DateGeneration,
    DayCount, Frequency, dates::add_months, dates::parse_date,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use super::PricingError;

/// Largest coupon, spread or fixing rate accepted (1000% a year): beyond it the
/// input is a typo, and prices would leave the decimal range.
pub const RATE_ABS_MAX: Decimal = Decimal::from_parts(10, 0, 0, false, 0);
/// Largest face amount accepted (1e15): keeps every product of face, rate and
/// year fraction far inside `Decimal`'s 7.9e28.
pub const FACE_MAX: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);
/// Largest payment lag in business days (a month of business days).
pub const PAYMENT_LAG_DAYS_MAX: u32 = 31;
/// Largest record-date lag in business days.
pub const RECORD_DATE_LAG_DAYS_MAX: u32 = 60;
/// Most step-up entries a series may have.
pub const STEP_UP_ENTRIES_MAX: usize = 400;

/// How each coupon's rate is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponType {
    /// The same annual rate for every period.
    Fixed(Decimal),
    /// No coupons: the bond is sold at a discount and redeemed at face.
    Zero,
    /// No coupons paid: interest at this annual rate compounds (at the coupon
    /// frequency, annually for `zero` frequency) and is paid with the redemption.
    Accumulating(Decimal),
    /// A rate per date range: each period pays the rate in force on its accrual
    /// start date (the last entry whose date is on or before it). Sorted by date;
    /// the first entry is on or before the issue date.
    StepUp(Vec<(NaiveDate, Decimal)>),
    /// A published reference rate fixed on each period's accrual start date,
    /// plus a spread, optionally floored (the floor applies to the whole rate).
    Floating {
        /// Name of the reference rate, as the fixings name it.
        reference: String,
        /// Added to the fixing.
        spread: Decimal,
        /// Lowest rate a period can pay.
        floor: Option<Decimal>,
    },
}

impl CouponType {
    /// The JSON name of the type.
    pub fn as_str(&self) -> &'static str {
        match self {
            CouponType::Fixed(_) => "fixed",
            CouponType::Zero => "zero",
            CouponType::Accumulating(_) => "accumulating",
            CouponType::StepUp(_) => "step_up",
            CouponType::Floating { .. } => "floating",
        }
    }
}

/// Published fixings of reference rates: reference name and date to rate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fixings {
    rates: HashMap<String, BTreeMap<NaiveDate, Decimal>>,
}

impl Fixings {
    /// No fixings.
    pub fn new() -> Fixings {
        Fixings::default()
    }

    /// Records the fixing of `reference` on `date` (replacing an earlier one).
    pub fn insert(&mut self, reference: &str, date: NaiveDate, rate: Decimal) {
        self.rates
            .entry(reference.to_string())
            .or_default()
            .insert(date, rate);
    }

    /// The fixing of `reference` on exactly `date`, if published.
    pub fn get(&self, reference: &str, date: NaiveDate) -> Option<Decimal> {
        self.rates
            .get(reference)
            .and_then(|m| m.get(&date))
            .copied()
    }

    /// Number of fixings held.
    pub fn len(&self) -> usize {
        self.rates.values().map(BTreeMap::len).sum()
    }

    /// Whether no fixing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The validated terms of a bond.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TermsJson", into = "TermsJson")]
pub struct BondTerms {
    face: Decimal,
    coupon: CouponType,
    frequency: Frequency,
    day_count: DayCount,
    issue_date: NaiveDate,
    maturity_date: NaiveDate,
    first_coupon_date: Option<NaiveDate>,
    business_day_convention: BusinessDayConvention,
    calendar: CalendarName,
    end_of_month: bool,
    date_generation: DateGeneration,
    accrual_dates: AccrualDates,
    payment_lag_days: u32,
    record_date_lag_days: Option<u32>,
}

/// Everything [`BondTerms::new`] needs (an options struct rather than a long
/// argument list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermsInput {
    /// Face amount the cash flows are computed for.
    pub face: Decimal,
    /// Coupon type and rates.
    pub coupon: CouponType,
    /// Coupon frequency.
    pub frequency: Frequency,
    /// Day count for coupons, accrued interest and yields.
    pub day_count: DayCount,
    /// Issue (dated) date: accrual starts here.
    pub issue_date: NaiveDate,
    /// Maturity date (unadjusted).
    pub maturity_date: NaiveDate,
    /// First coupon date, for a short or long first period.
    pub first_coupon_date: Option<NaiveDate>,
    /// Payment (and, if adjusted, accrual) date convention.
    pub business_day_convention: BusinessDayConvention,
    /// Holiday calendar.
    pub calendar: CalendarName,
    /// End-of-month rule.
    pub end_of_month: bool,
    /// Backward or forward schedule generation.
    pub date_generation: DateGeneration,
    /// Adjusted or unadjusted accrual dates.
    pub accrual_dates: AccrualDates,
    /// Business days between accrual end and payment.
    pub payment_lag_days: u32,
    /// Business days between record date and payment, when record dates are kept.
    pub record_date_lag_days: Option<u32>,
}

fn check_rate(what: &str, rate: Decimal) -> Result<(), PricingError> {
    if rate.abs() > RATE_ABS_MAX {
        return Err(PricingError::InvalidTerms(format!(
            "{what} {rate} is out of range: expected a decimal fraction such as 0.0525, at most {RATE_ABS_MAX} in size"
        )));
    }
    Ok(())
}

impl BondTerms {
    /// Validates `input` into terms.
    pub fn new(input: TermsInput) -> Result<BondTerms, PricingError> {
        let invalid = |m: String| Err(PricingError::InvalidTerms(m));
        if input.face <= Decimal::ZERO {
            return invalid(format!("face must be positive, found {}", input.face));
        }
        if input.face > FACE_MAX {
            return invalid(format!("face {} is larger than {FACE_MAX}", input.face));
        }
        if input.maturity_date <= input.issue_date {
            return invalid(format!(
                "maturity date {} must be after issue date {}",
                input.maturity_date, input.issue_date
            ));
        }
        if add_months(input.issue_date, BOND_LIFE_YEARS_MAX * 12)
            .is_none_or(|l| input.maturity_date > l)
        {
            return invalid(format!(
                "bond life from {} to {} is longer than {BOND_LIFE_YEARS_MAX} years",
                input.issue_date, input.maturity_date
            ));
        }
        if let Some(f) = input.first_coupon_date {
            if input.frequency == Frequency::Zero {
                return invalid("a first coupon date needs a coupon frequency, found zero".into());
            }
            if f <= input.issue_date || f >= input.maturity_date {
                return invalid(format!(
                    "first coupon date {f} must be after issue date {} and before maturity date {}",
                    input.issue_date, input.maturity_date
                ));
            }
        }
        if input.payment_lag_days > PAYMENT_LAG_DAYS_MAX {
            return invalid(format!(
                "payment lag of {} business days is more than {PAYMENT_LAG_DAYS_MAX}",
                input.payment_lag_days
            ));
        }
        if let Some(lag) = input.record_date_lag_days
            && lag > RECORD_DATE_LAG_DAYS_MAX
        {
            return invalid(format!(
                "record date lag of {lag} business days is more than {RECORD_DATE_LAG_DAYS_MAX}"
            ));
        }
        match &input.coupon {
            CouponType::Fixed(r) | CouponType::Accumulating(r) => check_rate("coupon rate", *r)?,
            CouponType::Zero => {}
            CouponType::StepUp(steps) => {
                if steps.is_empty() || steps.len() > STEP_UP_ENTRIES_MAX {
                    return invalid(format!(
                        "step-up needs 1 to {STEP_UP_ENTRIES_MAX} entries, found {}",
                        steps.len()
                    ));
                }
                if steps[0].0 > input.issue_date {
                    return invalid(format!(
                        "step-up: the first rate starts on {}, after issue date {}; give coupon_rate for the first periods",
                        steps[0].0, input.issue_date
                    ));
                }
                if steps.windows(2).any(|w| w[0].0 >= w[1].0) {
                    return invalid("step-up dates must be strictly increasing".into());
                }
                for (_, r) in steps {
                    check_rate("step-up rate", *r)?;
                }
            }
            CouponType::Floating {
                reference,
                spread,
                floor,
            } => {
                if reference.trim().is_empty() {
                    return invalid("floating coupon needs a reference rate name".into());
                }
                check_rate("spread", *spread)?;
                if let Some(f) = floor {
                    check_rate("floor", *f)?;
                }
            }
        }
        if input.frequency == Frequency::Zero
            && !matches!(input.coupon, CouponType::Zero | CouponType::Accumulating(_))
        {
            return invalid(format!(
                "frequency zero pays no coupons, but the coupon type is {}",
                input.coupon.as_str()
            ));
        }
        Ok(BondTerms {
            face: input.face,
            coupon: input.coupon,
            frequency: input.frequency,
            day_count: input.day_count,
            issue_date: input.issue_date,
            maturity_date: input.maturity_date,
            first_coupon_date: input.first_coupon_date,
            business_day_convention: input.business_day_convention,
            calendar: input.calendar,
            end_of_month: input.end_of_month,
            date_generation: input.date_generation,
            accrual_dates: input.accrual_dates,
            payment_lag_days: input.payment_lag_days,
            record_date_lag_days: input.record_date_lag_days,
        })
    }

    /// These terms as the input they were built from (to change a field and
    /// validate again).
    pub fn to_input(&self) -> TermsInput {
        TermsInput {
            face: self.face,
            coupon: self.coupon.clone(),
            frequency: self.frequency,
            day_count: self.day_count,
            issue_date: self.issue_date,
            maturity_date: self.maturity_date,
            first_coupon_date: self.first_coupon_date,
            business_day_convention: self.business_day_convention,
            calendar: self.calendar,
            end_of_month: self.end_of_month,
            date_generation: self.date_generation,
            accrual_dates: self.accrual_dates,
            payment_lag_days: self.payment_lag_days,
            record_date_lag_days: self.record_date_lag_days,
        }
    }

    /// The same terms with another coupon type (validated again).
    pub fn with_coupon(&self, coupon: CouponType) -> Result<BondTerms, PricingError> {
        BondTerms::new(TermsInput {
            coupon,
            ..self.to_input()
        })
    }

    /// The same terms for another face amount (validated again).
    pub fn with_face(&self, face: Decimal) -> Result<BondTerms, PricingError> {
        BondTerms::new(TermsInput {
            face,
            ..self.to_input()
        })
    }

    /// Parses terms (and any fixings they carry) from the terms JSON. Numbers may
    /// be JSON numbers or strings; both are read exactly.
    pub fn from_json(text: &str) -> Result<(BondTerms, Fixings), PricingError> {
        let quoted = quote_json_numbers(text);
        let raw: TermsJson = serde_json::from_str(&quoted)
            .map_err(|e| PricingError::InvalidTerms(format!("terms JSON: {e}")))?;
        let fixings = raw.fixings()?;
        let terms = BondTerms::try_from(raw)?;
        Ok((terms, fixings))
    }

    /// Face amount the cash flows are computed for.
    pub fn face(&self) -> Decimal {
        self.face
    }
    /// Coupon type.
    pub fn coupon(&self) -> &CouponType {
        &self.coupon
    }
    /// Coupon frequency.
    pub fn frequency(&self) -> Frequency {
        self.frequency
    }
    /// Day count.
    pub fn day_count(&self) -> DayCount {
        self.day_count
    }
    /// Issue date.
    pub fn issue_date(&self) -> NaiveDate {
        self.issue_date
    }
    /// Maturity date (unadjusted).
    pub fn maturity_date(&self) -> NaiveDate {
        self.maturity_date
    }
    /// First coupon date, if a stub was asked for.
    pub fn first_coupon_date(&self) -> Option<NaiveDate> {
        self.first_coupon_date
    }
    /// Business-day convention.
    pub fn business_day_convention(&self) -> BusinessDayConvention {
        self.business_day_convention
    }
    /// Calendar name.
    pub fn calendar(&self) -> CalendarName {
        self.calendar
    }
    /// End-of-month rule.
    pub fn end_of_month(&self) -> bool {
        self.end_of_month
    }
    /// Date generation.
    pub fn date_generation(&self) -> DateGeneration {
        self.date_generation
    }
    /// Adjusted or unadjusted accrual dates.
    pub fn accrual_dates(&self) -> AccrualDates {
        self.accrual_dates
    }
    /// Payment lag in business days.
    pub fn payment_lag_days(&self) -> u32 {
        self.payment_lag_days
    }
    /// Record-date lag in business days, if record dates are kept.
    pub fn record_date_lag_days(&self) -> Option<u32> {
        self.record_date_lag_days
    }
    /// Compounding periods per year of this bond's yields: the coupon frequency,
    /// annual for zero frequency.
    pub fn compounding_per_year(&self) -> u32 {
        self.frequency.compounding_per_year()
    }
}

/// Rewrites a JSON text so that every number outside a string becomes a string
/// holding the same characters: the exact decimal text survives parsing, where
/// serde_json would otherwise read it as binary floating point.
pub fn quote_json_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    let mut escaped = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '-' | '0'..='9' => {
                out.push('"');
                out.push(c);
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_digit() || matches!(n, '.' | 'e' | 'E' | '+' | '-') {
                        out.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push('"');
            }
            _ => out.push(c),
        }
    }
    out
}

/// A decimal read from a JSON string or integer (never from a float).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecimalText(pub Decimal);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DecimalText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                // A JSON number with a fraction reaches serde as binary floating
                // point and is refused (serde's "invalid type" error names this
                // expectation); BondTerms::from_json quotes numbers first.
                f.write_str("a decimal number as a string such as \"0.0525\" (or an integer)")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DecimalText, E> {
                parse_decimal(s).map(DecimalText).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DecimalText, E> {
                Ok(DecimalText(Decimal::from(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DecimalText, E> {
                Ok(DecimalText(Decimal::from(v)))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for DecimalText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// Parses a decimal from text, accepting exponent notation ("5.25e-2").
pub fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let t = s.trim();
    let parsed = if t.contains(['e', 'E']) {
        Decimal::from_scientific(t)
    } else {
        Decimal::from_str_exact(t)
    };
    parsed.map_err(|e| format!("invalid decimal number {s:?}: {e}"))
}

/// A whole number read from a JSON string or integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountText(pub u32);

impl<'de> Deserialize<'de> for CountText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let DecimalText(v) = DecimalText::deserialize(d)?;
        if !v.fract().is_zero() || v.is_sign_negative() && !v.is_zero() {
            return Err(serde::de::Error::custom(format!(
                "expected a whole number of days at least 0, found {v}"
            )));
        }
        u32::try_from(v)
            .map(CountText)
            .map_err(|_| serde::de::Error::custom(format!("number of days {v} is too large")))
    }
}

impl Serialize for CountText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

/// One step-up entry in the terms JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepJson {
    /// First accrual start date the rate applies to.
    pub from: String,
    /// Annual rate.
    pub rate: DecimalText,
}

/// The floating-rate block of the terms JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloatingJson {
    /// Reference rate name.
    pub reference: String,
    /// Spread over the fixing.
    #[serde(default)]
    pub spread: Option<DecimalText>,
    /// Floor on the whole rate.
    #[serde(default)]
    pub floor: Option<DecimalText>,
}

/// One fixing in the terms JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixingJson {
    /// Fixing date (the accrual start of the period it sets).
    pub date: String,
    /// The published rate.
    pub rate: DecimalText,
    /// Reference name (default: the terms' floating reference).
    #[serde(default)]
    pub reference: Option<String>,
}

/// The terms JSON as written, before validation. Unknown keys are refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsJson {
    /// Face amount.
    pub face: DecimalText,
    /// Annual coupon rate (the rate before the first step for step-up).
    #[serde(default)]
    pub coupon_rate: Option<DecimalText>,
    /// annual, semiannual, quarterly, monthly or zero.
    pub frequency: String,
    /// Day count name.
    pub day_count: String,
    /// Issue date.
    pub issue_date: String,
    /// Maturity date.
    pub maturity_date: String,
    /// First coupon date.
    #[serde(default)]
    pub first_coupon_date: Option<String>,
    /// Business-day convention.
    pub business_day_convention: String,
    /// Calendar name.
    pub calendar: String,
    /// End-of-month rule (default false).
    #[serde(default)]
    pub end_of_month: Option<bool>,
    /// backward (default) or forward.
    #[serde(default)]
    pub date_generation: Option<String>,
    /// adjusted or unadjusted (default).
    #[serde(default)]
    pub accrual_dates: Option<String>,
    /// Payment lag in business days (default 0).
    #[serde(default)]
    pub payment_lag_days: Option<CountText>,
    /// fixed, zero, accumulating, step_up or floating (default: fixed, or zero for
    /// zero frequency).
    #[serde(default)]
    pub coupon_type: Option<String>,
    /// Step-up rates.
    #[serde(default)]
    pub step_up: Option<Vec<StepJson>>,
    /// Floating-rate terms.
    #[serde(default)]
    pub floating: Option<FloatingJson>,
    /// Published fixings.
    #[serde(default)]
    pub fixings: Option<Vec<FixingJson>>,
    /// Record-date lag in business days.
    #[serde(default)]
    pub record_date_lag_days: Option<CountText>,
}

fn date_field(what: &str, s: &str) -> Result<NaiveDate, PricingError> {
    parse_date(s).map_err(|e| PricingError::InvalidTerms(format!("{what}: {e}")))
}

fn name_field<T: FromStr>(s: &str) -> Result<T, PricingError>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>()
        .map_err(|e| PricingError::InvalidTerms(e.to_string()))
}

impl TermsJson {
    fn fixings(&self) -> Result<Fixings, PricingError> {
        let mut out = Fixings::new();
        let default_reference = self.floating.as_ref().map(|f| f.reference.clone());
        for f in self.fixings.iter().flatten() {
            let reference = f
                .reference
                .clone()
                .or_else(|| default_reference.clone())
                .ok_or_else(|| {
                    PricingError::InvalidTerms(
                        "a fixing needs a reference (no floating block names one)".into(),
                    )
                })?;
            check_rate("fixing", f.rate.0)?;
            out.insert(&reference, date_field("fixings.date", &f.date)?, f.rate.0);
        }
        Ok(out)
    }
}

impl TryFrom<TermsJson> for BondTerms {
    type Error = PricingError;

    fn try_from(raw: TermsJson) -> Result<BondTerms, PricingError> {
        let frequency: Frequency = name_field(&raw.frequency)?;
        let coupon_rate = raw.coupon_rate.map(|d| d.0);
        let kind = raw
            .coupon_type
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase());
        let kind = kind.as_deref().unwrap_or(if frequency == Frequency::Zero {
            "zero"
        } else {
            "fixed"
        });
        let missing =
            |what: &str| PricingError::InvalidTerms(format!("coupon type {kind} needs {what}"));
        let unexpected = |what: &str| {
            PricingError::InvalidTerms(format!("{what} is given but the coupon type is {kind}"))
        };
        if raw.step_up.is_some() && kind != "step_up" {
            return Err(unexpected("step_up"));
        }
        if raw.floating.is_some() && kind != "floating" {
            return Err(unexpected("floating"));
        }
        let coupon = match kind {
            "fixed" => CouponType::Fixed(coupon_rate.ok_or_else(|| missing("coupon_rate"))?),
            "zero" | "accumulating" => match coupon_rate {
                Some(r) if !r.is_zero() => CouponType::Accumulating(r),
                _ if kind == "accumulating" => return Err(missing("a non-zero coupon_rate")),
                _ => CouponType::Zero,
            },
            "step_up" => {
                let entries = raw
                    .step_up
                    .as_ref()
                    .ok_or_else(|| missing("step_up entries"))?;
                let issue = date_field("issue_date", &raw.issue_date)?;
                let mut steps = Vec::with_capacity(entries.len() + 1);
                for e in entries {
                    steps.push((date_field("step_up.from", &e.from)?, e.rate.0));
                }
                steps.sort_by_key(|s| s.0);
                if let Some(r) = coupon_rate
                    && steps.first().is_none_or(|s| s.0 > issue)
                {
                    steps.insert(0, (issue, r));
                }
                CouponType::StepUp(steps)
            }
            "floating" => {
                let f = raw
                    .floating
                    .as_ref()
                    .ok_or_else(|| missing("a floating block"))?;
                if coupon_rate.is_some_and(|r| !r.is_zero()) {
                    return Err(unexpected("a non-zero coupon_rate"));
                }
                CouponType::Floating {
                    reference: f.reference.clone(),
                    spread: f.spread.map(|d| d.0).unwrap_or(Decimal::ZERO),
                    floor: f.floor.map(|d| d.0),
                }
            }
            other => {
                return Err(PricingError::InvalidTerms(format!(
                    "unknown coupon type {other:?}: expected fixed, zero, accumulating, step_up or floating"
                )));
            }
        };
        BondTerms::new(TermsInput {
            face: raw.face.0,
            coupon,
            frequency,
            day_count: name_field(&raw.day_count)?,
            issue_date: date_field("issue_date", &raw.issue_date)?,
            maturity_date: date_field("maturity_date", &raw.maturity_date)?,
            first_coupon_date: raw
                .first_coupon_date
                .as_deref()
                .map(|s| date_field("first_coupon_date", s))
                .transpose()?,
            business_day_convention: name_field(&raw.business_day_convention)?,
            calendar: name_field(&raw.calendar)?,
            end_of_month: raw.end_of_month.unwrap_or(false),
            date_generation: name_field(raw.date_generation.as_deref().unwrap_or("backward"))?,
            accrual_dates: name_field(raw.accrual_dates.as_deref().unwrap_or("unadjusted"))?,
            payment_lag_days: raw.payment_lag_days.map(|c| c.0).unwrap_or(0),
            record_date_lag_days: raw.record_date_lag_days.map(|c| c.0),
        })
    }
}

impl From<BondTerms> for TermsJson {
    fn from(t: BondTerms) -> TermsJson {
        let mut json = TermsJson {
            face: DecimalText(t.face),
            coupon_rate: None,
            frequency: t.frequency.as_str().into(),
            day_count: t.day_count.as_str().into(),
            issue_date: t.issue_date.to_string(),
            maturity_date: t.maturity_date.to_string(),
            first_coupon_date: t.first_coupon_date.map(|d| d.to_string()),
            business_day_convention: t.business_day_convention.as_str().into(),
            calendar: t.calendar.as_str().into(),
            end_of_month: Some(t.end_of_month),
            date_generation: Some(t.date_generation.as_str().into()),
            accrual_dates: Some(t.accrual_dates.as_str().into()),
            payment_lag_days: Some(CountText(t.payment_lag_days)),
            coupon_type: Some(t.coupon.as_str().into()),
            step_up: None,
            floating: None,
            fixings: None,
            record_date_lag_days: t.record_date_lag_days.map(CountText),
        };
        match t.coupon {
            CouponType::Fixed(r) | CouponType::Accumulating(r) => {
                json.coupon_rate = Some(DecimalText(r))
            }
            CouponType::Zero => json.coupon_rate = Some(DecimalText(Decimal::ZERO)),
            CouponType::StepUp(steps) => {
                json.step_up = Some(
                    steps
                        .into_iter()
                        .map(|(from, rate)| StepJson {
                            from: from.to_string(),
                            rate: DecimalText(rate),
                        })
                        .collect(),
                )
            }
            CouponType::Floating {
                reference,
                spread,
                floor,
            } => {
                json.floating = Some(FloatingJson {
                    reference,
                    spread: Some(DecimalText(spread)),
                    floor: floor.map(DecimalText),
                })
            }
        }
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const BASE: &str = r#"{"face": "1000", "coupon_rate": "0.0525", "frequency": "semiannual",
        "day_count": "ACT/ACT ICMA", "issue_date": "2026-03-15", "maturity_date": "2031-03-15",
        "first_coupon_date": null, "business_day_convention": "following", "calendar": "weekends_only",
        "end_of_month": false, "date_generation": "backward", "accrual_dates": "unadjusted",
        "payment_lag_days": 0}"#;

    /// The key paths of a JSON value: `a`, `a.b` for an object inside, `a[].b`
    /// for objects in a list.
    fn key_paths(
        prefix: &str,
        v: &serde_json::Value,
        out: &mut std::collections::BTreeSet<String>,
    ) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.insert(path.clone());
                    key_paths(&path, v, out);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    key_paths(&format!("{prefix}[]"), item, out);
                }
            }
            _ => {}
        }
    }

    /// docs/BONDMATH.md's table of the terms JSON names every key the JSON takes,
    /// nested ones included, and no other: a field added to [`TermsJson`] (which
    /// this literal must then name) fails here until the page documents it.
    #[test]
    fn the_terms_json_table_in_bondmath_md_names_every_key() {
        let d = |x: Decimal| Some(DecimalText(x));
        let every = TermsJson {
            face: DecimalText(dec!(1000)),
            coupon_rate: d(dec!(0.05)),
            frequency: "annual".into(),
            day_count: "ACT/360".into(),
            issue_date: "2027-01-01".into(),
            maturity_date: "2030-01-01".into(),
            first_coupon_date: Some("2027-06-01".into()),
            business_day_convention: "following".into(),
            calendar: "none".into(),
            end_of_month: Some(false),
            date_generation: Some("backward".into()),
            accrual_dates: Some("unadjusted".into()),
            payment_lag_days: Some(CountText(0)),
            coupon_type: Some("floating".into()),
            step_up: Some(vec![StepJson {
                from: "2027-01-01".into(),
                rate: DecimalText(dec!(0.05)),
            }]),
            floating: Some(FloatingJson {
                reference: "R".into(),
                spread: d(dec!(0.01)),
                floor: d(dec!(0)),
            }),
            fixings: Some(vec![FixingJson {
                date: "2027-01-01".into(),
                rate: DecimalText(dec!(0.02)),
                reference: Some("R".into()),
            }]),
            record_date_lag_days: Some(CountText(1)),
        };
        let mut keys = std::collections::BTreeSet::new();
        key_paths("", &serde_json::to_value(&every).unwrap(), &mut keys);
        let doc = include_str!("../../docs/BONDMATH.md");
        let section = doc
            .split("\n## The terms JSON\n")
            .nth(1)
            .expect("BONDMATH.md has a section \"The terms JSON\"");
        let section = section.split("\n## ").next().unwrap();
        let documented: std::collections::BTreeSet<String> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once('`'))
            .map(|(k, _)| k.to_string())
            .collect();
        assert_eq!(
            documented, keys,
            "BONDMATH.md's terms JSON table and TermsJson differ"
        );
    }

    fn with(key: &str, value: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(&quote_json_numbers(BASE)).unwrap();
        if value == "DELETE" {
            v.as_object_mut().unwrap().remove(key);
        } else {
            let parsed: serde_json::Value =
                serde_json::from_str(&quote_json_numbers(value)).unwrap();
            v[key] = parsed;
        }
        v.to_string()
    }

    fn check_err(text: &str, expected_fragment: &str) {
        let err = BondTerms::from_json(text).unwrap_err().to_string();
        assert!(
            err.contains(expected_fragment),
            "{err:?} should mention {expected_fragment:?}"
        );
    }

    #[test]
    fn parses_the_documented_terms() {
        let (t, fixings) = BondTerms::from_json(BASE).unwrap();
        assert_eq!(t.face(), dec!(1000));
        assert_eq!(t.coupon(), &CouponType::Fixed(dec!(0.0525)));
        assert_eq!(t.day_count(), DayCount::ActActIcma);
        assert!(fixings.is_empty());
        // JSON numbers are read exactly.
        let (t, _) = BondTerms::from_json(
            &BASE
                .replace("\"0.0525\"", "0.0525")
                .replace("\"1000\"", "1000"),
        )
        .unwrap();
        assert_eq!(t.coupon(), &CouponType::Fixed(dec!(0.0525)));
        let (t, _) =
            BondTerms::from_json(&BASE.replace("\"0.0525\"", "0.123456789012345678901234567"))
                .unwrap();
        assert_eq!(
            t.coupon(),
            &CouponType::Fixed(dec!(0.123456789012345678901234567))
        );
    }

    #[test]
    fn refuses_bad_terms_with_clear_errors() {
        check_err(&with("colour", "\"blue\""), "unknown field `colour`");
        check_err(&with("face", "\"-5\""), "face must be positive");
        check_err(&with("day_count", "\"ACT/366\""), "unknown day count");
        check_err(
            &with("maturity_date", "\"2020-01-01\""),
            "must be after issue date",
        );
        check_err(
            &with("maturity_date", "\"2031-02-30\""),
            "maturity_date: invalid date",
        );
        check_err(
            &with("first_coupon_date", "\"2040-01-01\""),
            "first coupon date",
        );
        check_err(&with("frequency", "\"weekly\""), "unknown frequency");
        check_err(&with("coupon_rate", "\"abc\""), "invalid decimal");
        check_err(&with("coupon_rate", "DELETE"), "needs coupon_rate");
        check_err(&with("payment_lag_days", "1.5"), "whole number");
        check_err(&with("calendar", "\"target\""), "unknown calendar");
        check_err("{", "terms JSON");
    }

    #[test]
    fn other_coupon_types() {
        let text = with("coupon_type", "\"step_up\"").replace(
            "\"coupon_type\"",
            "\"step_up\": [{\"from\": \"2028-03-15\", \"rate\": \"0.06\"}], \"coupon_type\"",
        );
        let (t, _) = BondTerms::from_json(&text).unwrap();
        assert_eq!(
            t.coupon(),
            &CouponType::StepUp(vec![
                (NaiveDate::from_ymd_opt(2026, 3, 15).unwrap(), dec!(0.0525)),
                (NaiveDate::from_ymd_opt(2028, 3, 15).unwrap(), dec!(0.06)),
            ])
        );
        let text = with("coupon_rate", "DELETE").replace(
            "\"face\"",
            "\"coupon_type\": \"floating\", \"floating\": {\"reference\": \"SOFR\", \"spread\": 0.01, \"floor\": null}, \"fixings\": [{\"date\": \"2026-03-15\", \"rate\": \"0.043\"}], \"face\"",
        );
        let (t, fixings) = BondTerms::from_json(&text).unwrap();
        assert!(matches!(t.coupon(), CouponType::Floating { .. }));
        assert_eq!(
            fixings.get("SOFR", NaiveDate::from_ymd_opt(2026, 3, 15).unwrap()),
            Some(dec!(0.043))
        );
        // Terms survive a serde round trip.
        let json = serde_json::to_string(&t).unwrap();
        let back: BondTerms = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn plain_serde_refuses_float_numbers() {
        // Without BondTerms::from_json's quoting, a fractional JSON number would
        // arrive as binary floating point: refused, never rounded through it.
        let text = BASE.replace("\"0.0525\"", "0.0525");
        let err = serde_json::from_str::<BondTerms>(&text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid type: floating point"), "{err}");
        // Integers are exact and accepted.
        let text = BASE.replace("\"1000\"", "1000");
        assert_eq!(
            serde_json::from_str::<BondTerms>(&text).unwrap().face(),
            dec!(1000)
        );
    }

    #[test]
    fn quoting_leaves_strings_alone() {
        assert_eq!(
            quote_json_numbers(r#"{"a": -1.5e-3, "b": "x 12 \" 3", "c": [1,2]}"#),
            r#"{"a": "-1.5e-3", "b": "x 12 \" 3", "c": ["1","2"]}"#
        );
    }
}
