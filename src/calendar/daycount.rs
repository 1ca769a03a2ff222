//! Day-count conventions: the fraction of a year between two dates.
//!
//! Invariant: every convention follows QuantLib 1.44's definition to the day
//! (`Thirty360` USA / BondBasis / European, `Actual360`, `Actual365Fixed`,
//! `ActualActual` ISDA, and `ActualActual` ISMA built on the bond's schedule);
//! fractions are exact decimal quotients of whole day counts, never floats.

use super::CalendarError;
use super::business::{BusinessDayConvention, Calendar};
use super::dates::{add_months, days_between, is_last_of_february, is_leap_year};
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Deepest recursion of the schedule-less ACT/ACT ICMA rule (one level per
/// notional year before the reference period): bounds its work.
pub const ICMA_NOTIONAL_PERIODS_MAX: u32 = 2_000;

/// A day-count convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DayCount {
    /// 30/360 US (NASD), with the February month-end rules (QuantLib `Thirty360::USA`).
    #[serde(rename = "30/360 US")]
    Thirty360Us,
    /// 30/360 bond basis, 30A/360 (QuantLib `Thirty360::BondBasis`).
    #[serde(rename = "30/360 BOND")]
    Thirty360Bond,
    /// 30E/360, Eurobond basis (QuantLib `Thirty360::European`).
    #[serde(rename = "30E/360")]
    Thirty360European,
    /// Actual/360.
    #[serde(rename = "ACT/360")]
    Act360,
    /// Actual/365 fixed.
    #[serde(rename = "ACT/365F")]
    Act365Fixed,
    /// Actual/actual ICMA (ISMA), on the bond's coupon schedule.
    #[serde(rename = "ACT/ACT ICMA")]
    ActActIcma,
    /// Actual/actual ISDA (split at calendar year ends).
    #[serde(rename = "ACT/ACT ISDA")]
    ActActIsda,
}

impl DayCount {
    /// Every convention.
    pub const ALL: [DayCount; 7] = [
        DayCount::Thirty360Us,
        DayCount::Thirty360Bond,
        DayCount::Thirty360European,
        DayCount::Act360,
        DayCount::Act365Fixed,
        DayCount::ActActIcma,
        DayCount::ActActIsda,
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            DayCount::Thirty360Us => "30/360 US",
            DayCount::Thirty360Bond => "30/360 BOND",
            DayCount::Thirty360European => "30E/360",
            DayCount::Act360 => "ACT/360",
            DayCount::Act365Fixed => "ACT/365F",
            DayCount::ActActIcma => "ACT/ACT ICMA",
            DayCount::ActActIsda => "ACT/ACT ISDA",
        }
    }

    /// The number of days the convention counts from `d1` to `d2`.
    pub fn day_count(self, d1: NaiveDate, d2: NaiveDate) -> i64 {
        match self {
            DayCount::Thirty360Us => thirty360_us(d1, d2),
            DayCount::Thirty360Bond => thirty360_bond(d1, d2),
            DayCount::Thirty360European => thirty360_european(d1, d2),
            _ => days_between(d1, d2),
        }
    }

    /// The year fraction from `d1` to `d2`. ACT/ACT ICMA needs the coupon periods
    /// of the bond (`icma`); the other conventions ignore them.
    pub fn year_fraction(
        self,
        d1: NaiveDate,
        d2: NaiveDate,
        icma: Option<&IcmaPeriods>,
    ) -> Result<Decimal, CalendarError> {
        Ok(self.fractions(d1, d2, icma)?.to_decimal())
    }

    /// The year fraction from `d1` to `d2` as an exact sum of whole-number
    /// fractions (what [`DayCount::year_fraction`] evaluates).
    pub fn fractions(
        self,
        d1: NaiveDate,
        d2: NaiveDate,
        icma: Option<&IcmaPeriods>,
    ) -> Result<Fractions, CalendarError> {
        match self {
            // QuantLib divides the (possibly negative) 30/360 count as it is, with
            // no swap of the dates: the month-end rules are not symmetric.
            DayCount::Thirty360Us | DayCount::Thirty360Bond | DayCount::Thirty360European => {
                Ok(Fractions::of(self.day_count(d1, d2), 360))
            }
            DayCount::Act360 => Ok(Fractions::of(days_between(d1, d2), 360)),
            DayCount::Act365Fixed => Ok(Fractions::of(days_between(d1, d2), 365)),
            DayCount::ActActIsda => Ok(act_act_isda(d1, d2)),
            DayCount::ActActIcma => match icma {
                Some(periods) => periods.fractions(d1, d2),
                None => Err(CalendarError::IcmaNeedsSchedule),
            },
        }
    }
}

/// A year fraction as an exact sum of fractions `numerator / denominator` of
/// whole numbers (denominators positive): day counts are ratios of day counts,
/// and keeping them exact lets pricing raise a discount base to them cheaply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fractions {
    terms: Vec<(i64, i64)>,
}

impl Fractions {
    /// Zero.
    pub fn zero() -> Fractions {
        Fractions { terms: Vec::new() }
    }

    /// The single fraction `numerator / denominator` (`denominator > 0`).
    pub fn of(numerator: i64, denominator: i64) -> Fractions {
        let mut f = Fractions::zero();
        f.add(numerator, denominator);
        f
    }

    /// Adds `numerator / denominator`.
    pub fn add(&mut self, numerator: i64, denominator: i64) {
        if numerator != 0 && denominator > 0 {
            self.terms.push((numerator, denominator));
        }
    }

    /// Adds all of `other`.
    pub fn add_all(&mut self, other: &Fractions) {
        self.terms.extend_from_slice(&other.terms);
    }

    /// Subtracts all of `other`.
    pub fn sub_all(&mut self, other: &Fractions) {
        self.terms.extend(other.terms.iter().map(|(n, d)| (-n, *d)));
    }

    /// The negation.
    pub fn negated(&self) -> Fractions {
        let mut f = Fractions::zero();
        f.sub_all(self);
        f
    }

    /// The terms, `(numerator, denominator)`.
    pub fn terms(&self) -> &[(i64, i64)] {
        &self.terms
    }

    /// The value as a decimal (each quotient rounded to 28 significant digits).
    pub fn to_decimal(&self) -> Decimal {
        self.terms
            .iter()
            .map(|(n, d)| Decimal::from(*n) / Decimal::from(*d))
            .sum()
    }
}

impl fmt::Display for DayCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DayCount {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String = s
            .trim()
            .to_ascii_uppercase()
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
            .collect();
        match key.as_str() {
            "30/360US" | "30/360NASD" | "30U/360" | "30/360USA" => Ok(DayCount::Thirty360Us),
            "30/360BOND" | "30A/360" | "30/360BONDBASIS" | "30/360ISMA" => {
                Ok(DayCount::Thirty360Bond)
            }
            "30E/360" | "30/360EUROPEAN" | "30/360EUROBOND" => Ok(DayCount::Thirty360European),
            "ACT/360" | "ACTUAL/360" => Ok(DayCount::Act360),
            "ACT/365F" | "ACT/365FIXED" | "ACTUAL/365FIXED" | "ACTUAL/365F" => {
                Ok(DayCount::Act365Fixed)
            }
            "ACT/ACTICMA" | "ACT/ACTISMA" | "ACTUAL/ACTUALICMA" | "ACTUAL/ACTUALISMA" => {
                Ok(DayCount::ActActIcma)
            }
            "ACT/ACTISDA" | "ACTUAL/ACTUALISDA" | "ACT/ACT" => Ok(DayCount::ActActIsda),
            _ => Err(CalendarError::Unknown {
                what: "day count",
                found: s.to_string(),
                expected: "30/360 US, 30/360 BOND, 30E/360, ACT/360, ACT/365F, ACT/ACT ICMA or ACT/ACT ISDA",
            }),
        }
    }
}

fn thirty360(d1: NaiveDate, dd1: i64, d2: NaiveDate, dd2: i64, mm2_shift: i64) -> i64 {
    360 * i64::from(d2.year() - d1.year())
        + 30 * (i64::from(d2.month()) + mm2_shift - i64::from(d1.month()))
        + (dd2 - dd1)
}

/// QuantLib `Thirty360::US_Impl::dayCount` (the order of the checks matters).
fn thirty360_us(d1: NaiveDate, d2: NaiveDate) -> i64 {
    let mut dd1 = i64::from(d1.day());
    let mut dd2 = i64::from(d2.day());
    if is_last_of_february(d1) {
        if is_last_of_february(d2) {
            dd2 = 30;
        }
        dd1 = 30;
    }
    if dd2 == 31 && dd1 >= 30 {
        dd2 = 30;
    }
    if dd1 == 31 {
        dd1 = 30;
    }
    thirty360(d1, dd1, d2, dd2, 0)
}

/// QuantLib `Thirty360::ISMA_Impl::dayCount` (bond basis, 30A/360).
fn thirty360_bond(d1: NaiveDate, d2: NaiveDate) -> i64 {
    let mut dd1 = i64::from(d1.day());
    let mut dd2 = i64::from(d2.day());
    if dd1 == 31 {
        dd1 = 30;
    }
    if dd2 == 31 && dd1 == 30 {
        dd2 = 30;
    }
    thirty360(d1, dd1, d2, dd2, 0)
}

/// QuantLib `Thirty360::EU_Impl::dayCount` (30E/360).
fn thirty360_european(d1: NaiveDate, d2: NaiveDate) -> i64 {
    let dd1 = i64::from(d1.day()).min(30);
    let dd2 = i64::from(d2.day()).min(30);
    thirty360(d1, dd1, d2, dd2, 0)
}

fn days_in_year(year: i32) -> i64 {
    if is_leap_year(year) { 366 } else { 365 }
}

/// QuantLib `ActualActual::ISDA_Impl::yearFraction`.
fn act_act_isda(d1: NaiveDate, d2: NaiveDate) -> Fractions {
    if d1 == d2 {
        return Fractions::zero();
    }
    if d1 > d2 {
        return act_act_isda(d2, d1).negated();
    }
    let (y1, y2) = (d1.year(), d2.year());
    let jan1 = |y: i32| NaiveDate::from_ymd_opt(y, 1, 1);
    match (jan1(y1 + 1), jan1(y2)) {
        (Some(next), Some(last)) => {
            let mut f = Fractions::of(i64::from(y2 - y1 - 1), 1);
            f.add(days_between(d1, next), days_in_year(y1));
            f.add(days_between(last, d2), days_in_year(y2));
            f
        }
        // Only at the very end of chrono's range; count actual/365 there.
        _ => Fractions::of(days_between(d1, d2), 365),
    }
}

/// The reference (coupon and quasi-coupon) periods ACT/ACT ICMA counts in:
/// QuantLib's `getListOfPeriodDatesIncludingQuasiPayments` on the bond schedule,
/// extended with further notional periods when a date falls outside it.
#[derive(Clone, Debug)]
pub struct IcmaPeriods {
    dates: Vec<NaiveDate>,
    tenor_months: i32,
    calendar: Calendar,
    convention: BusinessDayConvention,
    end_of_month: bool,
}

impl IcmaPeriods {
    /// Builds the reference periods from a schedule's dates and regularity flags.
    pub fn new(
        schedule_dates: &[NaiveDate],
        is_regular: &[bool],
        tenor_months: i32,
        calendar: &Calendar,
        convention: BusinessDayConvention,
        end_of_month: bool,
    ) -> Result<IcmaPeriods, CalendarError> {
        let mut out = IcmaPeriods {
            dates: schedule_dates.to_vec(),
            tenor_months,
            calendar: calendar.clone(),
            convention,
            end_of_month,
        };
        let n = schedule_dates.len();
        if n < 2 || is_regular.len() + 1 != n {
            return Err(CalendarError::Invalid(
                "ACT/ACT ICMA needs a schedule of at least one period".into(),
            ));
        }
        if !is_regular[0] {
            let issue = schedule_dates[0];
            let notional = out.step(schedule_dates[1], -1)?;
            out.dates[0] = notional;
            if notional > issue {
                let prior = out.step(notional, -1)?;
                out.dates.insert(0, prior);
            }
        }
        if !is_regular[n - 2] {
            let end = schedule_dates[n - 1];
            let notional = out.step(schedule_dates[n - 2], 1)?;
            let last = out.dates.len() - 1;
            out.dates[last] = notional;
            if notional < end {
                let next = out.step(notional, 1)?;
                out.dates.push(next);
            }
        }
        // QuantLib takes the minimum and maximum of this list as its range; the
        // list is sorted in every case a valid schedule produces, and sorting
        // keeps the period search sound if it ever were not.
        out.dates.sort();
        out.dates.dedup();
        Ok(out)
    }

    /// QuantLib's `schedule.calendar().advance(d, ±tenor, convention, endOfMonth)`.
    fn step(&self, date: NaiveDate, direction: i32) -> Result<NaiveDate, CalendarError> {
        self.calendar.advance_months(
            date,
            direction * self.tenor_months,
            self.convention,
            self.end_of_month,
        )
    }

    /// The reference dates (for tests and reports).
    pub fn dates(&self) -> &[NaiveDate] {
        &self.dates
    }

    /// ACT/ACT ICMA year fraction from `d1` to `d2`.
    pub fn year_fraction(&self, d1: NaiveDate, d2: NaiveDate) -> Result<Decimal, CalendarError> {
        Ok(self.fractions(d1, d2)?.to_decimal())
    }

    /// ACT/ACT ICMA year fraction from `d1` to `d2`, as exact fractions.
    pub fn fractions(&self, d1: NaiveDate, d2: NaiveDate) -> Result<Fractions, CalendarError> {
        if d1 == d2 {
            return Ok(Fractions::zero());
        }
        if d2 < d1 {
            return Ok(self.fractions(d2, d1)?.negated());
        }
        let first = self.dates[0];
        let last = self.dates[self.dates.len() - 1];
        let mut sum = Fractions::zero();
        // QuantLib refuses dates outside the schedule ("Dates out of range of
        // schedule"); a payment made a few days after an unadjusted maturity, or a
        // settlement before an adjusted first accrual date, needs one more
        // notional period on either side, counted the same way.
        if d1 < first {
            let mut end = first;
            for _ in 0..ICMA_NOTIONAL_PERIODS_MAX {
                let start = self.step(end, -1)?;
                if d2 > start {
                    period_fraction(&mut sum, d1.max(start), d2.min(end), start, end);
                }
                if start <= d1 {
                    break;
                }
                end = start;
            }
        }
        if d2 > last {
            let mut start = last;
            for _ in 0..ICMA_NOTIONAL_PERIODS_MAX {
                let end = self.step(start, 1)?;
                if d1 < end {
                    period_fraction(&mut sum, d1.max(start), d2.min(end), start, end);
                }
                if end >= d2 {
                    break;
                }
                start = end;
            }
        }
        if d2 > first && d1 < last {
            // Periods [dates[i], dates[i+1]] overlapping (d1, d2).
            let lo = self.dates.partition_point(|d| *d <= d1).saturating_sub(1);
            for w in self.dates[lo..].windows(2) {
                let (start, end) = (w[0], w[1]);
                if start >= d2 {
                    break;
                }
                if d1 < end && d2 > start {
                    period_fraction(&mut sum, d1.max(start), d2.min(end), start, end);
                }
            }
        }
        Ok(sum)
    }
}

/// QuantLib's `yearFractionWithReferenceDates`: days / (reference days × coupons
/// per year), where coupons per year is guessed from the reference length.
fn period_fraction(
    sum: &mut Fractions,
    d1: NaiveDate,
    d2: NaiveDate,
    ref_start: NaiveDate,
    ref_end: NaiveDate,
) {
    let mut ref_days = days_between(ref_start, ref_end);
    let coupons_per_year;
    if ref_days < 16 {
        coupons_per_year = 1;
        ref_days = add_months(d1, 12)
            .map(|e| days_between(d1, e))
            .unwrap_or(365);
    } else {
        // lround(12 * days / 365) and lround(12 / months) in integers; neither
        // quotient can be exactly a half for whole day counts of these sizes.
        let months = ((24 * ref_days + 365) / 730).max(1);
        coupons_per_year = ((24 + months) / (2 * months)).max(1);
    }
    sum.add(days_between(d1, d2), ref_days * coupons_per_year);
}

/// QuantLib's ACT/ACT ISMA without a schedule (`Old_ISMA_Impl`), used for a
/// single cash flow with only a reference period: the notional periods are
/// counted back from the reference period in steps of its length.
pub fn act_act_icma_reference(
    d1: NaiveDate,
    d2: NaiveDate,
    ref_start: NaiveDate,
    ref_end: NaiveDate,
) -> Result<Decimal, CalendarError> {
    Ok(act_act_icma_reference_fractions(d1, d2, ref_start, ref_end)?.to_decimal())
}

/// [`act_act_icma_reference`] as exact fractions.
pub fn act_act_icma_reference_fractions(
    d1: NaiveDate,
    d2: NaiveDate,
    ref_start: NaiveDate,
    ref_end: NaiveDate,
) -> Result<Fractions, CalendarError> {
    let mut sum = Fractions::zero();
    old_isma(&mut sum, 1, d1, d2, ref_start, ref_end, 0)?;
    Ok(sum)
}

fn too_deep() -> CalendarError {
    CalendarError::Invalid("ACT/ACT ICMA: too many notional periods".into())
}

/// Adds `sign` × the schedule-less ICMA fraction from `d1` to `d2` to `sum`.
fn old_isma(
    sum: &mut Fractions,
    sign: i64,
    d1: NaiveDate,
    d2: NaiveDate,
    ref_start: NaiveDate,
    ref_end: NaiveDate,
    depth: u32,
) -> Result<(), CalendarError> {
    if depth > ICMA_NOTIONAL_PERIODS_MAX {
        return Err(too_deep());
    }
    if d1 == d2 {
        return Ok(());
    }
    if d1 > d2 {
        return old_isma(sum, -sign, d2, d1, ref_start, ref_end, depth + 1);
    }
    let (mut rs, mut re) = (ref_start, ref_end);
    if !(re > rs && re > d1) {
        return Err(CalendarError::Invalid(format!(
            "invalid ACT/ACT ICMA reference period {rs} to {re} for {d1}"
        )));
    }
    let mut months = (24 * days_between(rs, re) + 365) / 730;
    if months == 0 {
        rs = d1;
        re = add_months(d1, 12).ok_or_else(|| out_of_range(d1))?;
        months = 12;
    }
    let months_i32 = i32::try_from(months).map_err(|_| out_of_range(d1))?;
    if d2 <= re {
        if d1 >= rs {
            // period × days / reference days, period = months / 12.
            sum.add(
                sign * months * days_between(d1, d2),
                12 * days_between(rs, re),
            );
            Ok(())
        } else {
            let previous = add_months(rs, -months_i32).ok_or_else(|| out_of_range(rs))?;
            if d2 > rs {
                old_isma(sum, sign, d1, rs, previous, rs, depth + 1)?;
                old_isma(sum, sign, rs, d2, rs, re, depth + 1)
            } else {
                old_isma(sum, sign, d1, d2, previous, rs, depth + 1)
            }
        }
    } else {
        if rs > d1 {
            return Err(CalendarError::Invalid(format!(
                "invalid ACT/ACT ICMA dates: {d1} before reference start {rs}"
            )));
        }
        old_isma(sum, sign, d1, re, rs, re, depth + 1)?;
        let mut i: i32 = 0;
        loop {
            let new_start = add_months(re, months_i32 * i).ok_or_else(|| out_of_range(re))?;
            let new_end = add_months(re, months_i32 * (i + 1)).ok_or_else(|| out_of_range(re))?;
            if d2 < new_end {
                return old_isma(sum, sign, new_start, d2, new_start, new_end, depth + 1);
            }
            sum.add(sign * months, 12);
            i += 1;
            if i as u32 > ICMA_NOTIONAL_PERIODS_MAX {
                return Err(too_deep());
            }
        }
    }
}

fn out_of_range(d: NaiveDate) -> CalendarError {
    CalendarError::OutOfRange {
        what: "date",
        found: d.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::dates::parse_date;
    use rust_decimal_macros::dec;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    fn check_days(dc: DayCount, d1: &str, d2: &str, expected: i64) {
        assert_eq!(dc.day_count(d(d1), d(d2)), expected, "{dc} {d1} {d2}");
    }

    #[test]
    fn thirty_360_month_end_rules() {
        use DayCount::*;
        // US: last of February counts as the 30th at the start, and at the end
        // too when the start is also the last of February.
        check_days(Thirty360Us, "2027-02-28", "2027-03-31", 30);
        check_days(Thirty360Us, "2027-02-28", "2028-02-29", 360);
        check_days(Thirty360Us, "2027-01-31", "2027-02-28", 28);
        check_days(Thirty360Us, "2027-01-15", "2027-03-31", 76);
        check_days(Thirty360Us, "2027-03-30", "2027-03-31", 0);
        // Bond basis: d2 = 31 becomes 30 only if d1 is 30 or 31.
        check_days(Thirty360Bond, "2027-02-28", "2027-03-31", 33);
        check_days(Thirty360Bond, "2027-03-30", "2027-03-31", 0);
        check_days(Thirty360Bond, "2027-03-15", "2027-03-31", 16);
        // European: every 31st is the 30th.
        check_days(Thirty360European, "2027-03-15", "2027-03-31", 15);
        check_days(Thirty360European, "2027-02-28", "2027-03-31", 32);
        check_days(Act360, "2027-02-28", "2027-03-31", 31);
    }

    #[test]
    fn isda_splits_at_year_end() {
        let yf = DayCount::ActActIsda
            .year_fraction(d("2027-11-01"), d("2028-05-01"), None)
            .unwrap();
        assert_eq!(yf, dec!(61) / dec!(365) + dec!(121) / dec!(366));
        let back = DayCount::ActActIsda
            .year_fraction(d("2028-05-01"), d("2027-11-01"), None)
            .unwrap();
        assert_eq!(back, -yf);
    }

    #[test]
    fn icma_needs_a_schedule() {
        assert!(
            DayCount::ActActIcma
                .year_fraction(d("2027-01-01"), d("2027-07-01"), None)
                .is_err()
        );
    }

    #[test]
    fn icma_long_first_stub() {
        // stub-02 of the shared vectors: 2026-04-17 to 2027-03-01, semiannual.
        let cal = Calendar::by_name("weekends_only").unwrap();
        let dates = [d("2026-04-17"), d("2027-03-01"), d("2027-09-01")];
        let p = IcmaPeriods::new(
            &dates,
            &[false, true],
            6,
            &cal,
            BusinessDayConvention::Unadjusted,
            false,
        )
        .unwrap();
        assert_eq!(
            p.dates(),
            &[
                d("2026-03-01"),
                d("2026-09-01"),
                d("2027-03-01"),
                d("2027-09-01")
            ]
        );
        let yf = p.year_fraction(d("2026-04-17"), d("2027-03-01")).unwrap();
        assert_eq!(yf, dec!(137) / dec!(368) + dec!(181) / dec!(362));
    }

    #[test]
    fn icma_without_schedule_counts_notional_years_back() {
        let yf = act_act_icma_reference(
            d("2026-06-01"),
            d("2036-06-30"),
            d("2035-06-30"),
            d("2036-06-30"),
        )
        .unwrap();
        // 10 whole notional years plus 29 days of the year 2026-06-30 .. back.
        let expected =
            dec!(10) + dec!(29) / Decimal::from(days_between(d("2025-06-30"), d("2026-06-30")));
        assert_eq!(yf, expected);
    }

    #[test]
    fn names_round_trip() {
        for dc in DayCount::ALL {
            assert_eq!(dc.as_str().parse::<DayCount>().unwrap(), dc);
            let json = serde_json::to_string(&dc).unwrap();
            assert_eq!(json, format!("\"{}\"", dc.as_str()));
        }
        assert!("ACT/366".parse::<DayCount>().is_err());
    }
}
