//! Date arithmetic on `chrono::NaiveDate` with QuantLib's month rules.
//!
//! Invariant: every function here is total: dates that would leave chrono's
//! range come back as `None`, never as a panic.

use chrono::{Datelike, Months, NaiveDate};

/// Adds (or, when negative, subtracts) whole months; a day past the end of the
/// target month is clamped to its last day (31 Jan + 1 month = 28/29 Feb), as
/// QuantLib's `Date + n*Months` does.
pub fn add_months(date: NaiveDate, months: i32) -> Option<NaiveDate> {
    if months >= 0 {
        date.checked_add_months(Months::new(months.unsigned_abs()))
    } else {
        date.checked_sub_months(Months::new(months.unsigned_abs()))
    }
}

/// Number of days in the month of `date`.
pub fn days_in_month(date: NaiveDate) -> u32 {
    days_in_month_of(date.year(), date.month())
}

/// Number of days in `month` of `year`.
pub fn days_in_month_of(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap_year(year) {
                29
            } else {
                28
            }
        }
    }
}

/// Gregorian leap year rule.
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The last calendar day of the month of `date`.
pub fn end_of_month(date: NaiveDate) -> NaiveDate {
    // The last day of an existing month always exists, so `with_day` cannot fail;
    // fall back to the date itself rather than panic.
    date.with_day(days_in_month(date)).unwrap_or(date)
}

/// Whether `date` is the last calendar day of its month.
pub fn is_end_of_month(date: NaiveDate) -> bool {
    date.day() == days_in_month(date)
}

/// Whether `date` is the last day of February (28th, or 29th in a leap year).
pub fn is_last_of_february(date: NaiveDate) -> bool {
    date.month() == 2 && is_end_of_month(date)
}

/// Actual number of days from `d1` to `d2` (negative when `d2` is earlier).
pub fn days_between(d1: NaiveDate, d2: NaiveDate) -> i64 {
    (d2 - d1).num_days()
}

/// Parses an ISO 8601 calendar date (`YYYY-MM-DD`).
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|e| format!("invalid date {text:?}: expected YYYY-MM-DD ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    fn check_add(date: &str, months: i32, expected: &str) {
        assert_eq!(
            add_months(d(date), months),
            Some(d(expected)),
            "{date} + {months}M"
        );
    }

    #[test]
    fn month_arithmetic_clamps_to_month_end() {
        check_add("2026-01-31", 1, "2026-02-28");
        check_add("2028-01-31", 1, "2028-02-29");
        check_add("2026-08-31", -6, "2026-02-28");
        check_add("2028-02-29", 12, "2029-02-28");
        check_add("2026-03-15", -3, "2025-12-15");
        check_add("2026-03-15", 0, "2026-03-15");
    }

    #[test]
    fn month_ends() {
        assert!(is_end_of_month(d("2028-02-29")));
        assert!(!is_end_of_month(d("2028-02-28")));
        assert!(is_last_of_february(d("2027-02-28")));
        assert!(!is_last_of_february(d("2028-02-28")));
        assert_eq!(end_of_month(d("2026-04-17")), d("2026-04-30"));
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("yesterday").is_err());
    }
}
