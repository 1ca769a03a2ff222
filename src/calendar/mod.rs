//! Calendars, day counts, business-day conventions and coupon schedules.
//!
//! Invariant: pure date arithmetic. Nothing here reads the clock, touches
//! storage or rounds money; every rule matches QuantLib 1.44 unless
//! `docs/BONDMATH.md` says otherwise, and no input makes it panic.

mod business;
pub mod dates;
mod daycount;
mod schedule;

pub use business::{
    AZERBAIJAN_TOML, BusinessDayConvention, Calendar, CalendarName, CalendarSpec, HolidayOnWeekend,
    WeekendDays,
};
pub use daycount::{
    DayCount, Fractions, IcmaPeriods, act_act_icma_reference, act_act_icma_reference_fractions,
};
pub use schedule::{
    AccrualDates, BOND_LIFE_YEARS_MAX, DateGeneration, Frequency, SCHEDULE_PERIODS_MAX, Schedule,
    ScheduleRule,
};

use chrono::NaiveDate;

/// Errors from calendars, day counts and schedules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A name (day count, convention, calendar...) that is not known.
    #[error("unknown {what} {found:?}: expected {expected}")]
    Unknown {
        /// What kind of name.
        what: &'static str,
        /// The text given.
        found: String,
        /// The accepted names.
        expected: &'static str,
    },
    /// A value outside the supported range.
    #[error("{what} out of range: {found}")]
    OutOfRange {
        /// What was out of range.
        what: &'static str,
        /// The value.
        found: String,
    },
    /// No business day could be found near a date.
    #[error("calendar {calendar} has no business day within a year of {date}")]
    NoBusinessDay {
        /// The calendar's name.
        calendar: String,
        /// Where the search started.
        date: NaiveDate,
    },
    /// ACT/ACT ICMA was asked for without a coupon schedule.
    #[error("day count ACT/ACT ICMA needs the coupon schedule")]
    IcmaNeedsSchedule,
    /// A calendar data file that cannot be used.
    #[error("calendar data file: {0}")]
    DataFile(String),
    /// Inconsistent schedule or calendar input.
    #[error("{0}")]
    Invalid(String),
}
