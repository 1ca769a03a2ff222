//! Business days: weekend rules, holiday lists and business-day conventions.
//!
//! Invariant: a [`Calendar`] is immutable once built; every rule it holds is
//! effective-dated (a weekend change or a holiday applies from its date on), so
//! the answer for a past date never changes when an operator extends the data.

use super::CalendarError;
use super::dates::{days_in_month_of, parse_date};
use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// The built-in Azerbaijan data file (see the file's header for its sources).
pub const AZERBAIJAN_TOML: &str = include_str!("azerbaijan.toml");

/// First year for which annual (fixed-date) holidays are expanded. Dates before it
/// see only weekends and dated holidays; QuantLib's calendars start at 1901 too.
pub const HOLIDAY_YEAR_MIN: i32 = 1901;
/// Last year for which annual holidays are expanded (QuantLib stops at 2199).
pub const HOLIDAY_YEAR_MAX: i32 = 2199;
/// Longest run of consecutive non-business days an adjustment will walk before
/// it gives up: a calendar closed for more than a year is a data error.
pub const NON_BUSINESS_RUN_DAYS_MAX: u32 = 366;
/// Largest number of business days one `advance_business_days` call may move,
/// which bounds its work (about 1,000 years).
pub const ADVANCE_BUSINESS_DAYS_MAX: i64 = 260_000;

/// How a date that is not a business day is moved to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusinessDayConvention {
    /// The date is kept as it is.
    Unadjusted,
    /// The next business day.
    Following,
    /// The next business day, unless it is in the next month: then the previous one.
    ModifiedFollowing,
    /// The previous business day.
    Preceding,
    /// The previous business day, unless it is in the previous month: then the next one.
    ModifiedPreceding,
}

impl BusinessDayConvention {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unadjusted => "unadjusted",
            Self::Following => "following",
            Self::ModifiedFollowing => "modified_following",
            Self::Preceding => "preceding",
            Self::ModifiedPreceding => "modified_preceding",
        }
    }
}

impl fmt::Display for BusinessDayConvention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BusinessDayConvention {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "unadjusted" | "none" => Ok(Self::Unadjusted),
            "following" | "f" => Ok(Self::Following),
            "modified_following" | "modifiedfollowing" | "mf" => Ok(Self::ModifiedFollowing),
            "preceding" | "p" => Ok(Self::Preceding),
            "modified_preceding" | "modifiedpreceding" | "mp" => Ok(Self::ModifiedPreceding),
            _ => Err(CalendarError::Unknown {
                what: "business-day convention",
                found: s.to_string(),
                expected: "unadjusted, following, modified_following, preceding or modified_preceding",
            }),
        }
    }
}

/// The built-in calendars a bond's terms can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarName {
    /// Every day is a business day (QuantLib's `NullCalendar`).
    None,
    /// Saturdays and Sundays are holidays, nothing else (QuantLib's `WeekendsOnly`).
    WeekendsOnly,
    /// The Republic of Azerbaijan, from the embedded data file.
    Azerbaijan,
}

impl CalendarName {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::WeekendsOnly => "weekends_only",
            Self::Azerbaijan => "azerbaijan",
        }
    }

    /// The built calendar (built once per process, then shared).
    pub fn calendar(self) -> Result<Calendar, CalendarError> {
        Calendar::builtin(self)
    }
}

impl fmt::Display for CalendarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CalendarName {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "none" | "null" => Ok(Self::None),
            "weekends_only" | "weekendsonly" => Ok(Self::WeekendsOnly),
            "azerbaijan" | "az" | "aze" => Ok(Self::Azerbaijan),
            _ => Err(CalendarError::Unknown {
                what: "calendar",
                found: s.to_string(),
                expected: "none, weekends_only or azerbaijan",
            }),
        }
    }
}

/// A set of weekdays, one bit per day (Monday = bit 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct WeekendDays(u8);

impl WeekendDays {
    /// No weekend at all.
    pub const NONE: WeekendDays = WeekendDays(0);
    /// Saturday and Sunday.
    pub const SATURDAY_SUNDAY: WeekendDays = WeekendDays(0b110_0000);

    /// The set holding exactly `days`.
    pub fn of(days: &[Weekday]) -> WeekendDays {
        WeekendDays(
            days.iter()
                .fold(0u8, |bits, d| bits | (1 << d.num_days_from_monday())),
        )
    }

    /// Whether `day` is a weekend day.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    fn count(self) -> u32 {
        self.0.count_ones()
    }
}

/// A holiday calendar: effective-dated weekend rules plus a holiday list.
///
/// Cloning is cheap (the data is shared).
#[derive(Clone, Debug)]
pub struct Calendar {
    data: Arc<CalendarData>,
}

#[derive(Debug)]
struct CalendarData {
    name: String,
    /// Weekend rules sorted by the date they take effect; the first applies to all
    /// earlier dates too.
    weekends: Vec<(NaiveDate, WeekendDays)>,
    /// Every non-working day that is not a plain weekend day: holidays, the days
    /// off they carry over to, and the rest days of transfers.
    holidays: HashSet<NaiveDate>,
    /// Weekend days declared working days (the other half of a transfer).
    working_days: HashSet<NaiveDate>,
    /// The rules the sets were expanded from, kept so an operator file can be merged.
    spec: CalendarSpec,
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
            || (self.data.name == other.data.name && self.data.spec == other.data.spec)
    }
}

impl Calendar {
    /// The built-in calendar named `name`, built once per process.
    pub fn builtin(name: CalendarName) -> Result<Calendar, CalendarError> {
        static NONE: OnceLock<Calendar> = OnceLock::new();
        static WEEKENDS: OnceLock<Calendar> = OnceLock::new();
        static AZERBAIJAN: OnceLock<Result<Calendar, CalendarError>> = OnceLock::new();
        match name {
            CalendarName::None => Ok(NONE
                .get_or_init(|| Calendar::from_spec("none", CalendarSpec::default()))
                .clone()),
            CalendarName::WeekendsOnly => Ok(WEEKENDS
                .get_or_init(|| {
                    let spec = CalendarSpec {
                        weekend: vec![WeekendRule {
                            from: None,
                            days: vec!["sat".into(), "sun".into()],
                        }],
                        ..CalendarSpec::default()
                    };
                    Calendar::from_spec("weekends_only", spec)
                })
                .clone()),
            CalendarName::Azerbaijan => AZERBAIJAN
                .get_or_init(|| Calendar::from_toml("azerbaijan", AZERBAIJAN_TOML))
                .clone(),
        }
    }

    /// The calendar with the given name (`none`, `weekends_only`, `azerbaijan`).
    pub fn by_name(name: &str) -> Result<Calendar, CalendarError> {
        Calendar::builtin(name.parse()?)
    }

    /// A calendar read from a data file in the format of `azerbaijan.toml`.
    pub fn from_toml(name: &str, text: &str) -> Result<Calendar, CalendarError> {
        let spec = CalendarSpec::parse(text)?;
        spec.validate()?;
        Ok(Calendar::from_spec(name, spec))
    }

    /// This calendar extended by an operator-supplied data file of the same
    /// format: its holidays, working days and transfers are added, its weekend
    /// rules are added (a rule with the same start date replaces the old one),
    /// and its `holiday_on_weekend` setting, when given, replaces the old one.
    pub fn merged_with_toml(&self, text: &str) -> Result<Calendar, CalendarError> {
        let extra = CalendarSpec::parse(text)?;
        let spec = self.data.spec.merged(extra);
        spec.validate()?;
        Ok(Calendar::from_spec(&self.data.name, spec))
    }

    /// The calendar's name.
    pub fn name(&self) -> &str {
        &self.data.name
    }

    fn from_spec(name: &str, spec: CalendarSpec) -> Calendar {
        let weekends = spec.weekend_rules();
        let mut data = CalendarData {
            name: name.to_string(),
            weekends,
            holidays: HashSet::new(),
            working_days: HashSet::new(),
            spec,
        };
        data.expand();
        Calendar {
            data: Arc::new(data),
        }
    }

    /// The weekend rule in force on `date`.
    pub fn weekend_on(&self, date: NaiveDate) -> WeekendDays {
        self.data.weekend_on(date)
    }

    /// Whether `date` is a weekend day under the rule in force on that date.
    pub fn is_weekend(&self, date: NaiveDate) -> bool {
        self.data.weekend_on(date).contains(date.weekday())
    }

    /// Whether `date` is a business day.
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        self.data.is_business_day(date)
    }

    /// Whether `date` is a holiday (weekend or listed holiday).
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        !self.is_business_day(date)
    }

    /// Whether `date` is the last business day of its month (QuantLib's
    /// `Calendar::isEndOfMonth`: the next business day is in another month).
    pub fn is_end_of_month(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        let next = step(date, 1)?;
        Ok(self.adjust(next, BusinessDayConvention::Following)?.month() != date.month())
    }

    /// The last business day of the month of `date`.
    pub fn end_of_month(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        self.adjust(
            super::dates::end_of_month(date),
            BusinessDayConvention::Preceding,
        )
    }

    /// Moves `date` to a business day under `convention`.
    pub fn adjust(
        &self,
        date: NaiveDate,
        convention: BusinessDayConvention,
    ) -> Result<NaiveDate, CalendarError> {
        use BusinessDayConvention::*;
        match convention {
            Unadjusted => Ok(date),
            Following | ModifiedFollowing => {
                let d = self.walk(date, 1)?;
                if convention == ModifiedFollowing && d.month() != date.month() {
                    self.walk(date, -1)
                } else {
                    Ok(d)
                }
            }
            Preceding | ModifiedPreceding => {
                let d = self.walk(date, -1)?;
                if convention == ModifiedPreceding && d.month() != date.month() {
                    self.walk(date, 1)
                } else {
                    Ok(d)
                }
            }
        }
    }

    /// Moves `n` business days from `date` (back when `n` is negative), as
    /// QuantLib's `Calendar::advance(date, n, Days)`: the start date itself is not
    /// adjusted first, and `n == 0` means "adjust with Following".
    pub fn advance_business_days(
        &self,
        date: NaiveDate,
        n: i64,
    ) -> Result<NaiveDate, CalendarError> {
        if n == 0 {
            return self.adjust(date, BusinessDayConvention::Following);
        }
        if n.abs() > ADVANCE_BUSINESS_DAYS_MAX {
            return Err(CalendarError::OutOfRange {
                what: "business days to advance",
                found: n.to_string(),
            });
        }
        let direction = if n > 0 { 1 } else { -1 };
        let mut d = date;
        for _ in 0..n.abs() {
            d = self.walk(step(d, direction)?, direction)?;
        }
        Ok(d)
    }

    /// Moves `n` business days from `date` after first adjusting it under
    /// `convention` when `n` is zero; QuantLib's `advance(d, n, Days, c)`.
    pub fn advance_days_with(
        &self,
        date: NaiveDate,
        n: i64,
        convention: BusinessDayConvention,
    ) -> Result<NaiveDate, CalendarError> {
        if n == 0 {
            self.adjust(date, convention)
        } else {
            self.advance_business_days(date, n)
        }
    }

    /// Moves whole months (back when negative) as QuantLib's
    /// `Calendar::advance(date, n, Months, convention, end_of_month)`: with the
    /// end-of-month rule, a date at the end of its month lands at the end of the
    /// target month (the last calendar day when unadjusted, else the last
    /// business day); otherwise the result is adjusted under `convention`.
    pub fn advance_months(
        &self,
        date: NaiveDate,
        months: i32,
        convention: BusinessDayConvention,
        end_of_month: bool,
    ) -> Result<NaiveDate, CalendarError> {
        if months == 0 {
            return self.adjust(date, convention);
        }
        let moved =
            super::dates::add_months(date, months).ok_or_else(|| CalendarError::OutOfRange {
                what: "date",
                found: date.to_string(),
            })?;
        if end_of_month {
            if convention == BusinessDayConvention::Unadjusted {
                if super::dates::is_end_of_month(date) {
                    return Ok(super::dates::end_of_month(moved));
                }
            } else if self.is_end_of_month(date)? {
                return self.end_of_month(moved);
            }
        }
        self.adjust(moved, convention)
    }

    /// Business days strictly after `from` up to and including `to`.
    pub fn business_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        let (a, b, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let mut count = 0i64;
        let mut d = a;
        while d < b {
            match d.succ_opt() {
                Some(next) => d = next,
                None => break,
            }
            if self.is_business_day(d) {
                count += 1;
            }
        }
        sign * count
    }

    /// The first business day from `date` on in `direction` (+1 or -1), `date`
    /// included.
    fn walk(&self, date: NaiveDate, direction: i64) -> Result<NaiveDate, CalendarError> {
        let mut d = date;
        for _ in 0..=NON_BUSINESS_RUN_DAYS_MAX {
            if self.is_business_day(d) {
                return Ok(d);
            }
            d = step(d, direction)?;
        }
        Err(CalendarError::NoBusinessDay {
            calendar: self.data.name.clone(),
            date,
        })
    }

    /// Holidays (not plain weekend days) between two dates inclusive, for reports
    /// and tests.
    pub fn holidays_between(&self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        let mut out: Vec<NaiveDate> = self
            .data
            .holidays
            .iter()
            .copied()
            .filter(|d| *d >= from && *d <= to)
            .collect();
        out.sort();
        out
    }
}

fn step(date: NaiveDate, direction: i64) -> Result<NaiveDate, CalendarError> {
    let next = if direction >= 0 {
        date.succ_opt()
    } else {
        date.pred_opt()
    };
    next.ok_or_else(|| CalendarError::OutOfRange {
        what: "date",
        found: date.to_string(),
    })
}

impl CalendarData {
    fn weekend_on(&self, date: NaiveDate) -> WeekendDays {
        // Rules are sorted by start; the one in force is the last started on or
        // before `date`, or the first rule for dates before every start.
        let idx = self.weekends.partition_point(|(from, _)| *from <= date);
        match idx {
            0 => self
                .weekends
                .first()
                .map(|r| r.1)
                .unwrap_or(WeekendDays::NONE),
            i => self.weekends[i - 1].1,
        }
    }

    fn is_business_day(&self, date: NaiveDate) -> bool {
        if self.working_days.contains(&date) {
            return true;
        }
        if self.holidays.contains(&date) {
            return false;
        }
        !self.weekend_on(date).contains(date.weekday())
    }

    fn is_weekend(&self, date: NaiveDate) -> bool {
        self.weekend_on(date).contains(date.weekday()) && !self.working_days.contains(&date)
    }

    /// Expands the rules into the holiday and working-day sets.
    fn expand(&mut self) {
        let spec = self.spec.clone();
        for t in &spec.transfer {
            if let (Ok(from), Ok(to)) = (parse_date(&t.from), parse_date(&t.to)) {
                self.working_days.insert(from);
                self.holidays.insert(to);
            }
        }
        for w in &spec.working_day {
            if let Ok(d) = parse_date(&w.date) {
                self.working_days.insert(d);
            }
        }
        // Collect every holiday with whether it carries over to a working day when
        // it falls on a weekend, then apply the carry-over in date order so that
        // a substitute day never lands on another holiday.
        let mut days: BTreeMap<NaiveDate, bool> = BTreeMap::new();
        for a in &spec.annual {
            let from = a.from.as_deref().and_then(|s| parse_date(s).ok());
            let until = a.until.as_deref().and_then(|s| parse_date(s).ok());
            for year in HOLIDAY_YEAR_MIN..=HOLIDAY_YEAR_MAX {
                if a.day > days_in_month_of(year, a.month) {
                    continue;
                }
                let Some(d) = NaiveDate::from_ymd_opt(year, a.month, a.day) else {
                    continue;
                };
                if from.is_some_and(|f| d < f) || until.is_some_and(|u| d > u) {
                    continue;
                }
                let carries = a.carry_over.unwrap_or(true);
                let e = days.entry(d).or_insert(carries);
                *e = *e || carries;
            }
        }
        for h in &spec.holiday {
            if let Ok(d) = parse_date(&h.date) {
                let carries = h.carry_over.unwrap_or(true);
                let e = days.entry(d).or_insert(carries);
                *e = *e || carries;
            }
        }
        for d in days.keys() {
            self.holidays.insert(*d);
        }
        if spec.holiday_on_weekend == Some(HolidayOnWeekend::NextWorkingDay) {
            let mut substitutes: Vec<NaiveDate> = Vec::new();
            let mut taken: HashSet<NaiveDate> = HashSet::new();
            for (&d, &carries) in &days {
                if !carries || !self.is_weekend(d) {
                    continue;
                }
                // The next day that is neither a weekend day, nor a holiday, nor
                // already a substitute for an earlier holiday.
                let mut s = d;
                for _ in 0..NON_BUSINESS_RUN_DAYS_MAX {
                    let Some(next) = s.succ_opt() else { break };
                    s = next;
                    if !self.is_weekend(s) && !days.contains_key(&s) && !taken.contains(&s) {
                        taken.insert(s);
                        substitutes.push(s);
                        break;
                    }
                }
            }
            self.holidays.extend(substitutes);
        }
        // An explicit working day wins over anything expanded above.
        for d in &self.working_days {
            self.holidays.remove(d);
        }
    }
}

/// What happens when a holiday falls on a weekend day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolidayOnWeekend {
    /// Nothing: the holiday is simply lost.
    None,
    /// The next working day becomes a day off (Azerbaijan Labour Code, art. 105).
    NextWorkingDay,
}

/// The data file format (TOML). See `azerbaijan.toml` and `docs/BONDMATH.md`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// What happens to a holiday that falls on a weekend day.
    #[serde(default)]
    pub holiday_on_weekend: Option<HolidayOnWeekend>,
    /// Weekend rules, each effective from its date.
    #[serde(default)]
    pub weekend: Vec<WeekendRule>,
    /// Holidays on the same day every year.
    #[serde(default)]
    pub annual: Vec<AnnualHoliday>,
    /// Holidays on one date (moving feasts, one-off days off).
    #[serde(default)]
    pub holiday: Vec<DatedHoliday>,
    /// Weekend days declared working days.
    #[serde(default)]
    pub working_day: Vec<DatedDay>,
    /// A weekend day worked (`from`) in exchange for a working day off (`to`).
    #[serde(default)]
    pub transfer: Vec<Transfer>,
}

/// A weekend rule: the weekend days in force from a date on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeekendRule {
    /// First date the rule applies (absent: since always).
    #[serde(default)]
    pub from: Option<String>,
    /// Weekday names: mon, tue, wed, thu, fri, sat, sun.
    pub days: Vec<String>,
}

/// A holiday that recurs on the same month and day every year.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnualHoliday {
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month.
    pub day: u32,
    /// What the day is.
    pub name: String,
    /// First date the holiday is observed (absent: since always).
    #[serde(default)]
    pub from: Option<String>,
    /// Last date the holiday is observed (absent: still observed).
    #[serde(default)]
    pub until: Option<String>,
    /// Whether it carries over to the next working day when it falls on a
    /// weekend (default true; only used with `holiday_on_weekend`).
    #[serde(default)]
    pub carry_over: Option<bool>,
}

/// A holiday on one date.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatedHoliday {
    /// The date, YYYY-MM-DD.
    pub date: String,
    /// What the day is.
    pub name: String,
    /// Whether it carries over when it falls on a weekend (default true).
    #[serde(default)]
    pub carry_over: Option<bool>,
}

/// A day named for a reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatedDay {
    /// The date, YYYY-MM-DD.
    pub date: String,
    /// Why.
    #[serde(default)]
    pub name: Option<String>,
}

/// A transfer of a day off: `from` (a weekend day) becomes a working day and
/// `to` becomes a day off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The weekend day that is worked.
    pub from: String,
    /// The working day that is taken off instead.
    pub to: String,
    /// Why (the decision that ordered it).
    #[serde(default)]
    pub name: Option<String>,
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    match s.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Some(Weekday::Mon),
        "tue" => Some(Weekday::Tue),
        "wed" => Some(Weekday::Wed),
        "thu" => Some(Weekday::Thu),
        "fri" => Some(Weekday::Fri),
        "sat" => Some(Weekday::Sat),
        "sun" => Some(Weekday::Sun),
        _ => None,
    }
}

impl CalendarSpec {
    /// Parses a data file; unknown keys are refused.
    pub fn parse(text: &str) -> Result<CalendarSpec, CalendarError> {
        toml::from_str(text).map_err(|e| CalendarError::DataFile(e.to_string()))
    }

    fn merged(&self, extra: CalendarSpec) -> CalendarSpec {
        let mut out = self.clone();
        if extra.holiday_on_weekend.is_some() {
            out.holiday_on_weekend = extra.holiday_on_weekend;
        }
        for rule in extra.weekend {
            out.weekend.retain(|r| r.from != rule.from);
            out.weekend.push(rule);
        }
        out.annual.extend(extra.annual);
        out.holiday.extend(extra.holiday);
        out.working_day.extend(extra.working_day);
        out.transfer.extend(extra.transfer);
        out
    }

    /// Checks every date and weekday name, and that no weekend covers the whole week.
    fn validate(&self) -> Result<(), CalendarError> {
        let bad = |what: &str, e: String| CalendarError::DataFile(format!("{what}: {e}"));
        for w in &self.weekend {
            if let Some(f) = &w.from {
                parse_date(f).map_err(|e| bad("weekend.from", e))?;
            }
            let mut days = Vec::new();
            for name in &w.days {
                days.push(parse_weekday(name).ok_or_else(|| {
                    bad(
                        "weekend.days",
                        format!(
                            "unknown weekday {name:?}: expected mon, tue, wed, thu, fri, sat or sun"
                        ),
                    )
                })?);
            }
            if WeekendDays::of(&days).count() >= 7 {
                return Err(bad(
                    "weekend.days",
                    "a weekend cannot cover all seven days".into(),
                ));
            }
        }
        for a in &self.annual {
            if !(1..=12).contains(&a.month) || a.day == 0 || a.day > days_in_month_of(2000, a.month)
            {
                return Err(bad(
                    "annual",
                    format!("no such day: month {} day {} ({})", a.month, a.day, a.name),
                ));
            }
            for d in [&a.from, &a.until].into_iter().flatten() {
                parse_date(d).map_err(|e| bad("annual.from/until", e))?;
            }
        }
        for h in &self.holiday {
            parse_date(&h.date).map_err(|e| bad("holiday.date", e))?;
        }
        for w in &self.working_day {
            parse_date(&w.date).map_err(|e| bad("working_day.date", e))?;
        }
        for t in &self.transfer {
            parse_date(&t.from).map_err(|e| bad("transfer.from", e))?;
            parse_date(&t.to).map_err(|e| bad("transfer.to", e))?;
        }
        Ok(())
    }

    fn weekend_rules(&self) -> Vec<(NaiveDate, WeekendDays)> {
        let mut rules: Vec<(NaiveDate, WeekendDays)> = self
            .weekend
            .iter()
            .map(|w| {
                let from = w
                    .from
                    .as_deref()
                    .and_then(|s| parse_date(s).ok())
                    .unwrap_or(NaiveDate::MIN);
                let days: Vec<Weekday> = w.days.iter().filter_map(|d| parse_weekday(d)).collect();
                (from, WeekendDays::of(&days))
            })
            .collect();
        rules.sort_by_key(|r| r.0);
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BusinessDayConvention::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    fn check_adjust(cal: &Calendar, date: &str, conv: BusinessDayConvention, expected: &str) {
        assert_eq!(
            cal.adjust(d(date), conv).unwrap(),
            d(expected),
            "{date} {conv}"
        );
    }

    fn check_business(cal: &Calendar, date: &str, expected: bool) {
        assert_eq!(
            cal.is_business_day(d(date)),
            expected,
            "{} {date}",
            cal.name()
        );
    }

    #[test]
    fn conventions_on_weekends_only() {
        let cal = Calendar::by_name("weekends_only").unwrap();
        // 2026-10-31 is a Saturday at a month end.
        check_adjust(&cal, "2026-10-31", Unadjusted, "2026-10-31");
        check_adjust(&cal, "2026-10-31", Following, "2026-11-02");
        check_adjust(&cal, "2026-10-31", ModifiedFollowing, "2026-10-30");
        check_adjust(&cal, "2026-10-31", Preceding, "2026-10-30");
        // 2026-11-01 is a Sunday at a month start.
        check_adjust(&cal, "2026-11-01", ModifiedPreceding, "2026-11-02");
        check_adjust(&cal, "2026-11-01", Preceding, "2026-10-30");
        check_adjust(&cal, "2026-11-03", Following, "2026-11-03");
    }

    #[test]
    fn null_calendar_has_no_holidays() {
        let cal = Calendar::by_name("none").unwrap();
        check_business(&cal, "2026-10-31", true);
        check_business(&cal, "2026-01-01", true);
        check_adjust(&cal, "2026-10-31", Following, "2026-10-31");
    }

    #[test]
    fn advance_business_days_both_ways() {
        let cal = Calendar::by_name("weekends_only").unwrap();
        let check = |from: &str, n: i64, expected: &str| {
            assert_eq!(
                cal.advance_business_days(d(from), n).unwrap(),
                d(expected),
                "{from} {n}"
            );
        };
        check("2026-10-30", 1, "2026-11-02");
        check("2026-11-02", -1, "2026-10-30");
        check("2026-10-31", 1, "2026-11-02"); // a Saturday start is not adjusted first
        check("2026-11-02", -5, "2026-10-26");
        check("2026-10-31", 0, "2026-11-02");
        assert!(
            cal.advance_business_days(d("2026-10-31"), 10_000_000)
                .is_err()
        );
    }

    #[test]
    fn azerbaijan_fixed_and_moving_holidays() {
        let cal = Calendar::by_name("azerbaijan").unwrap();
        for (date, business) in [
            ("2026-01-01", false), // New Year
            ("2026-01-02", false),
            ("2026-01-05", true),
            ("2026-03-09", false), // Women's Day on a Sunday, carried over to Monday
            ("2026-03-20", false), // Novruz, also Ramadan Bayram (best known date)
            ("2026-03-24", false),
            ("2026-05-28", false), // Independence Day
            ("2026-05-27", false), // Gurban Bayram (best known date)
            ("2026-06-15", false), // National Salvation Day
            ("2026-06-26", false), // Armed Forces Day
            ("2026-11-09", false), // Flag Day
            ("2026-11-10", false), // Victory Day (8 Nov, a Sunday) carried over
            ("2026-12-31", false), // Solidarity of World Azerbaijanis
            ("2024-04-10", false), // Ramadan Bayram 2024 (published)
            ("2024-06-17", false), // Gurban Bayram 2024 (published)
            ("2024-06-18", false), // ... its first day was a Sunday
            ("2026-07-01", true),
            ("2026-07-04", false), // a Saturday
        ] {
            check_business(&cal, date, business);
        }
        // Victory Day (8 November) is a holiday only from 2021.
        check_business(&cal, "2019-11-08", true);
    }

    #[test]
    fn effective_dated_weekend_change_and_operator_merge() {
        let base = Calendar::by_name("azerbaijan").unwrap();
        let extra = r#"
            [[weekend]]
            from = "2030-01-01"
            days = ["fri", "sat"]

            [[holiday]]
            date = "2027-07-01"
            name = "one-off day off"

            [[transfer]]
            from = "2027-07-03"
            to = "2027-07-02"
            name = "decision of the cabinet"
        "#;
        let cal = base.merged_with_toml(extra).unwrap();
        // Before the change: Saturday and Sunday.
        check_business(&cal, "2029-12-28", true); // Friday
        check_business(&cal, "2029-12-30", false); // Sunday
        // After the change: Friday and Saturday.
        check_business(&cal, "2030-01-04", false); // Friday
        check_business(&cal, "2030-01-06", true); // Sunday
        check_business(&cal, "2027-07-01", false);
        check_business(&cal, "2027-07-02", false);
        check_business(&cal, "2027-07-03", true); // a Saturday worked
        // The base calendar is unchanged.
        check_business(&base, "2030-01-04", true);
        check_business(&base, "2027-07-01", true);
    }

    #[test]
    fn bad_data_files_are_refused() {
        let base = Calendar::by_name("weekends_only").unwrap();
        for text in [
            "[[holiday]]\ndate = \"2027-02-30\"\nname = \"x\"",
            "[[weekend]]\ndays = [\"sat\", \"caturday\"]",
            "[[weekend]]\ndays = [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\",\"sat\",\"sun\"]",
            "unknown_key = 1",
            "[[annual]]\nmonth = 2\nday = 30\nname = \"x\"",
        ] {
            assert!(base.merged_with_toml(text).is_err(), "{text}");
        }
    }

    #[test]
    fn names_round_trip() {
        for c in [
            Unadjusted,
            Following,
            ModifiedFollowing,
            Preceding,
            ModifiedPreceding,
        ] {
            assert_eq!(c.as_str().parse::<BusinessDayConvention>().unwrap(), c);
        }
        for n in [
            CalendarName::None,
            CalendarName::WeekendsOnly,
            CalendarName::Azerbaijan,
        ] {
            assert_eq!(n.as_str().parse::<CalendarName>().unwrap(), n);
            assert_eq!(n.calendar().unwrap().name(), n.as_str());
        }
        assert!("target".parse::<CalendarName>().is_err());
    }
}
