//! Coupon schedules: accrual dates from issue to maturity.
//!
//! Invariant: the dates follow QuantLib 1.44's `Schedule` constructor for the
//! backward and forward rules (stub placement, the end-of-month rule, the
//! skipping of dates that would coincide after adjustment, the final safety
//! checks); the dates are strictly increasing and there are at least two.

use super::CalendarError;
use super::business::{BusinessDayConvention, Calendar};
use super::dates::{add_months, end_of_month, is_end_of_month};
use super::daycount::IcmaPeriods;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest bond life accepted, in years: bounds every schedule's size (a
/// 100-year monthly bond has 1,200 periods).
pub const BOND_LIFE_YEARS_MAX: i32 = 100;
/// Most periods a schedule may hold (the monthly 100-year bond plus stubs).
pub const SCHEDULE_PERIODS_MAX: usize = 1_210;

const _: () = assert!(SCHEDULE_PERIODS_MAX >= (BOND_LIFE_YEARS_MAX as usize) * 12 + 2);

/// How often coupons are paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// Once a year.
    Annual,
    /// Twice a year.
    Semiannual,
    /// Four times a year.
    Quarterly,
    /// Twelve times a year.
    Monthly,
    /// No coupons: one payment at maturity.
    Zero,
}

impl Frequency {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Annual => "annual",
            Frequency::Semiannual => "semiannual",
            Frequency::Quarterly => "quarterly",
            Frequency::Monthly => "monthly",
            Frequency::Zero => "zero",
        }
    }

    /// Coupon periods per year (`None` for zero coupon).
    pub fn per_year(self) -> Option<u32> {
        match self {
            Frequency::Annual => Some(1),
            Frequency::Semiannual => Some(2),
            Frequency::Quarterly => Some(4),
            Frequency::Monthly => Some(12),
            Frequency::Zero => None,
        }
    }

    /// Length of a regular period in months (`None` for zero coupon).
    pub fn tenor_months(self) -> Option<i32> {
        self.per_year().map(|n| 12 / n as i32)
    }

    /// Compounding periods per year of a yield quoted for this frequency: the
    /// coupon frequency, and annual for zero coupon bonds.
    pub fn compounding_per_year(self) -> u32 {
        self.per_year().unwrap_or(1)
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Frequency {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' ', '_'], "")
            .as_str()
        {
            "annual" | "yearly" | "1" => Ok(Frequency::Annual),
            "semiannual" | "2" => Ok(Frequency::Semiannual),
            "quarterly" | "4" => Ok(Frequency::Quarterly),
            "monthly" | "12" => Ok(Frequency::Monthly),
            "zero" | "once" | "0" => Ok(Frequency::Zero),
            _ => Err(CalendarError::Unknown {
                what: "frequency",
                found: s.to_string(),
                expected: "annual, semiannual, quarterly, monthly or zero",
            }),
        }
    }
}

/// Which end of the bond's life regular periods are counted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateGeneration {
    /// From maturity back to issue: any stub is at the start.
    Backward,
    /// From issue forward to maturity: any stub is at the end.
    Forward,
}

impl DateGeneration {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            DateGeneration::Backward => "backward",
            DateGeneration::Forward => "forward",
        }
    }
}

impl fmt::Display for DateGeneration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DateGeneration {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "backward" | "backwards" => Ok(DateGeneration::Backward),
            "forward" | "forwards" => Ok(DateGeneration::Forward),
            _ => Err(CalendarError::Unknown {
                what: "date generation",
                found: s.to_string(),
                expected: "backward or forward",
            }),
        }
    }
}

/// Whether accrual periods start and end on adjusted (business) dates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccrualDates {
    /// Accrual dates move with the business-day convention (as payment dates do).
    Adjusted,
    /// Accrual dates stay on the nominal dates; only payments move.
    Unadjusted,
}

impl AccrualDates {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccrualDates::Adjusted => "adjusted",
            AccrualDates::Unadjusted => "unadjusted",
        }
    }
}

impl fmt::Display for AccrualDates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccrualDates {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "adjusted" => Ok(AccrualDates::Adjusted),
            "unadjusted" => Ok(AccrualDates::Unadjusted),
            _ => Err(CalendarError::Unknown {
                what: "accrual dates",
                found: s.to_string(),
                expected: "adjusted or unadjusted",
            }),
        }
    }
}

/// What a schedule is generated from (QuantLib's `Schedule` constructor arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleRule {
    /// Start of the first period (the issue or dated date).
    pub effective: NaiveDate,
    /// End of the last period (maturity).
    pub termination: NaiveDate,
    /// Coupon frequency (zero: a single period).
    pub frequency: Frequency,
    /// Convention for the schedule dates (unadjusted for unadjusted accrual).
    pub convention: BusinessDayConvention,
    /// Convention for the termination date.
    pub termination_convention: BusinessDayConvention,
    /// Backward or forward generation.
    pub generation: DateGeneration,
    /// End-of-month rule.
    pub end_of_month: bool,
    /// First coupon date, giving a short or long first stub.
    pub first_date: Option<NaiveDate>,
}

/// A generated schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    dates: Vec<NaiveDate>,
    is_regular: Vec<bool>,
    tenor_months: i32,
    convention: BusinessDayConvention,
    end_of_month: bool,
    calendar: Calendar,
}

/// QuantLib's `NullCalendar().advance(seed, n Months, c, eom)`: with no holidays
/// the end-of-month test and the adjustment are calendar-free.
fn null_advance(
    seed: NaiveDate,
    months: i32,
    end_of_month_rule: bool,
) -> Result<NaiveDate, CalendarError> {
    let d = add_months(seed, months).ok_or_else(|| CalendarError::OutOfRange {
        what: "date",
        found: seed.to_string(),
    })?;
    if end_of_month_rule && is_end_of_month(seed) {
        Ok(end_of_month(d))
    } else {
        Ok(d)
    }
}

impl Schedule {
    /// Generates the schedule of `rule` on `calendar`.
    pub fn generate(rule: &ScheduleRule, calendar: &Calendar) -> Result<Schedule, CalendarError> {
        let ScheduleRule {
            effective,
            termination,
            frequency,
            convention,
            termination_convention,
            generation,
            end_of_month: eom,
            first_date,
        } = *rule;
        if effective >= termination {
            return Err(CalendarError::Invalid(format!(
                "maturity {termination} must be after issue {effective}"
            )));
        }
        if add_months(effective, BOND_LIFE_YEARS_MAX * 12).is_none_or(|limit| termination > limit) {
            return Err(CalendarError::Invalid(format!(
                "bond life from {effective} to {termination} is longer than {BOND_LIFE_YEARS_MAX} years"
            )));
        }
        let first = first_date.filter(|f| *f != effective);
        if let Some(f) = first
            && !(f > effective && f < termination)
        {
            return Err(CalendarError::Invalid(format!(
                "first coupon date {f} must be after issue {effective} and before maturity {termination}"
            )));
        }
        let adj = |d: NaiveDate| calendar.adjust(d, convention);

        let Some(tenor) = frequency.tenor_months() else {
            // QuantLib's DateGeneration::Zero: one period.
            if first.is_some() {
                return Err(CalendarError::Invalid(
                    "a first coupon date needs a coupon frequency".into(),
                ));
            }
            let mut dates = vec![adj(effective)?, termination];
            if termination_convention != BusinessDayConvention::Unadjusted {
                dates[1] = calendar.adjust(termination, termination_convention)?;
            }
            return Schedule::finish(dates, vec![true], 0, convention, false, calendar);
        };

        let mut dates: Vec<NaiveDate> = Vec::new();
        let mut regular: Vec<bool> = Vec::new();
        let seed;
        match generation {
            DateGeneration::Backward => {
                dates.push(termination);
                seed = termination;
                let exit = first.unwrap_or(effective);
                let mut periods = 1;
                loop {
                    let temp = null_advance(seed, -periods * tenor, eom)?;
                    if temp < exit {
                        if let Some(f) = first
                            && adj(dates[0])? != adj(f)?
                        {
                            dates.insert(0, f);
                            regular.insert(0, false);
                        }
                        break;
                    }
                    // Skip dates that would coincide with their neighbour once adjusted.
                    if adj(dates[0])? != adj(temp)? {
                        dates.insert(0, temp);
                        regular.insert(0, true);
                    }
                    periods += 1;
                    if dates.len() > SCHEDULE_PERIODS_MAX {
                        return Err(too_many_periods());
                    }
                }
                if adj(dates[0])? != adj(effective)? {
                    dates.insert(0, effective);
                    regular.insert(0, false);
                }
            }
            DateGeneration::Forward => {
                dates.push(effective);
                let mut s = effective;
                if let Some(f) = first {
                    dates.push(f);
                    let temp = null_advance(s, tenor, eom)?;
                    regular.push(temp == f);
                    s = f;
                }
                seed = s;
                let mut periods = 1;
                loop {
                    let temp = null_advance(seed, periods * tenor, eom)?;
                    if temp > termination {
                        break;
                    }
                    let last = dates[dates.len() - 1];
                    if adj(last)? != adj(temp)? {
                        dates.push(temp);
                        regular.push(true);
                    }
                    periods += 1;
                    if dates.len() > SCHEDULE_PERIODS_MAX {
                        return Err(too_many_periods());
                    }
                }
                let last = dates[dates.len() - 1];
                if calendar.adjust(last, termination_convention)?
                    != calendar.adjust(termination, termination_convention)?
                {
                    dates.push(termination);
                    regular.push(false);
                }
            }
        }

        // Adjustment, as QuantLib 1.44 does it: with the end-of-month rule and a
        // seed at the end of its month (by the calendar), the inner dates go to
        // the end of their month first; the first date is adjusted under the
        // convention, the termination date only under its own convention.
        let n = dates.len();
        let to_month_end = eom && calendar.is_end_of_month(seed)?;
        for d in dates.iter_mut().take(n - 1).skip(1) {
            let base = if to_month_end { end_of_month(*d) } else { *d };
            *d = calendar.adjust(base, convention)?;
        }
        dates[0] = adj(dates[0])?;
        if termination_convention != BusinessDayConvention::Unadjusted {
            dates[n - 1] = calendar.adjust(dates[n - 1], termination_convention)?;
        }

        // QuantLib's final safety checks: drop a next-to-last date that the
        // end-of-month rule pushed onto or past the end, and likewise at the start.
        let n = dates.len();
        if n >= 2 && dates[n - 2] >= dates[n - 1] {
            if regular.len() >= 2 {
                let k = regular.len() - 2;
                regular[k] = dates[n - 2] == dates[n - 1];
            }
            dates.remove(n - 2);
            regular.pop();
        }
        if dates.len() >= 2 && dates[1] <= dates[0] {
            if regular.len() >= 2 {
                regular[1] = dates[1] == dates[0];
            }
            dates.remove(0);
            if !regular.is_empty() {
                regular.remove(0);
            }
        }
        Schedule::finish(dates, regular, tenor, convention, eom, calendar)
    }

    fn finish(
        dates: Vec<NaiveDate>,
        is_regular: Vec<bool>,
        tenor_months: i32,
        convention: BusinessDayConvention,
        end_of_month: bool,
        calendar: &Calendar,
    ) -> Result<Schedule, CalendarError> {
        if dates.len() < 2 || is_regular.len() + 1 != dates.len() {
            return Err(CalendarError::Invalid(format!(
                "degenerate schedule: {} date(s)",
                dates.len()
            )));
        }
        if dates.windows(2).any(|w| w[0] >= w[1]) {
            return Err(CalendarError::Invalid(
                "schedule dates are not increasing after adjustment".into(),
            ));
        }
        Ok(Schedule {
            dates,
            is_regular,
            tenor_months,
            convention,
            end_of_month,
            calendar: calendar.clone(),
        })
    }

    /// The schedule dates (period boundaries), strictly increasing.
    pub fn dates(&self) -> &[NaiveDate] {
        &self.dates
    }

    /// For each period, whether it is a regular (full tenor) period.
    pub fn is_regular(&self) -> &[bool] {
        &self.is_regular
    }

    /// The accrual periods as (start, end) pairs.
    pub fn periods(&self) -> impl Iterator<Item = (NaiveDate, NaiveDate)> + '_ {
        self.dates.windows(2).map(|w| (w[0], w[1]))
    }

    /// Number of periods.
    pub fn len(&self) -> usize {
        self.dates.len() - 1
    }

    /// Always false: a schedule has at least one period.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Length of a regular period in months (0 for a zero-coupon schedule).
    pub fn tenor_months(&self) -> i32 {
        self.tenor_months
    }

    /// The calendar the dates were adjusted on.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The ACT/ACT ICMA reference periods of this schedule.
    pub fn icma_periods(&self) -> Result<IcmaPeriods, CalendarError> {
        IcmaPeriods::new(
            &self.dates,
            &self.is_regular,
            self.tenor_months,
            &self.calendar,
            self.convention,
            self.end_of_month,
        )
    }
}

fn too_many_periods() -> CalendarError {
    CalendarError::Invalid(format!(
        "schedule has more than {SCHEDULE_PERIODS_MAX} periods"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::dates::parse_date;
    use BusinessDayConvention::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    struct Case<'a> {
        effective: &'a str,
        termination: &'a str,
        frequency: Frequency,
        convention: BusinessDayConvention,
        generation: DateGeneration,
        eom: bool,
        first: Option<&'a str>,
    }

    fn check(case: Case, expected: &[&str]) {
        let cal = Calendar::by_name("weekends_only").unwrap();
        let rule = ScheduleRule {
            effective: d(case.effective),
            termination: d(case.termination),
            frequency: case.frequency,
            convention: case.convention,
            termination_convention: case.convention,
            generation: case.generation,
            end_of_month: case.eom,
            first_date: case.first.map(d),
        };
        let s = Schedule::generate(&rule, &cal).unwrap();
        let got: Vec<String> = s.dates().iter().map(|d| d.to_string()).collect();
        assert_eq!(got, expected, "{rule:?}");
    }

    // Expected dates below were produced by QuantLib 1.44's Schedule.
    #[test]
    fn end_of_month_seed_on_last_business_day() {
        check(
            Case {
                effective: "2026-03-10",
                termination: "2028-04-28",
                frequency: Frequency::Quarterly,
                convention: Unadjusted,
                generation: DateGeneration::Backward,
                eom: true,
                first: None,
            },
            &[
                "2026-03-10",
                "2026-04-30",
                "2026-07-31",
                "2026-10-31",
                "2027-01-31",
                "2027-04-30",
                "2027-07-31",
                "2027-10-31",
                "2028-01-31",
                "2028-04-28",
            ],
        );
        check(
            Case {
                effective: "2026-03-10",
                termination: "2028-04-28",
                frequency: Frequency::Quarterly,
                convention: Following,
                generation: DateGeneration::Backward,
                eom: true,
                first: None,
            },
            &[
                "2026-03-10",
                "2026-04-30",
                "2026-07-31",
                "2026-11-02",
                "2027-02-01",
                "2027-04-30",
                "2027-08-02",
                "2027-11-01",
                "2028-01-31",
                "2028-04-28",
            ],
        );
    }

    #[test]
    fn first_date_with_end_of_month() {
        let cal = Calendar::by_name("weekends_only").unwrap();
        let rule = ScheduleRule {
            effective: d("2026-03-10"),
            termination: d("2031-06-30"),
            frequency: Frequency::Semiannual,
            convention: Unadjusted,
            termination_convention: Unadjusted,
            generation: DateGeneration::Backward,
            end_of_month: true,
            first_date: Some(d("2026-09-15")),
        };
        let s = Schedule::generate(&rule, &cal).unwrap();
        assert_eq!(
            &s.dates()[..4],
            &[
                d("2026-03-10"),
                d("2026-09-30"),
                d("2026-12-31"),
                d("2027-06-30")
            ]
        );
        assert_eq!(&s.is_regular()[..3], &[false, false, true]);
    }

    #[test]
    fn forward_with_first_date_keeps_issue_date() {
        check(
            Case {
                effective: "2026-04-17",
                termination: "2027-12-31",
                frequency: Frequency::Semiannual,
                convention: Unadjusted,
                generation: DateGeneration::Forward,
                eom: true,
                first: Some("2026-09-30"),
            },
            &[
                "2026-04-17",
                "2026-09-30",
                "2027-03-31",
                "2027-09-30",
                "2027-12-31",
            ],
        );
    }

    #[test]
    fn bad_rules_are_refused() {
        let cal = Calendar::by_name("none").unwrap();
        let mut rule = ScheduleRule {
            effective: d("2030-01-01"),
            termination: d("2026-01-01"),
            frequency: Frequency::Annual,
            convention: Unadjusted,
            termination_convention: Unadjusted,
            generation: DateGeneration::Backward,
            end_of_month: false,
            first_date: None,
        };
        assert!(Schedule::generate(&rule, &cal).is_err());
        rule.termination = d("2200-01-01");
        assert!(Schedule::generate(&rule, &cal).is_err());
        rule.termination = d("2035-01-01");
        rule.first_date = Some(d("2036-01-01"));
        assert!(Schedule::generate(&rule, &cal).is_err());
    }
}
