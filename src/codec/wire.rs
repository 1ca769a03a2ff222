//! The wire's scalar forms, parsed once: decimal strings ("1000.00"), whole
//! units, YYYY-MM-DD dates and names of enums. Every accepted value is written
//! back in exactly the form it was read in.

use crate::money::Units;
use crate::registry::RegistryError;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

/// Longest decimal string accepted: more digits than any amount or rate needs.
const DECIMAL_CHARS_MAX: usize = 40;

/// A decimal string: optional '-', digits, optional '.' and digits. No exponent,
/// no spaces, no precision beyond what a decimal holds exactly.
pub fn decimal(field: &str, s: &str) -> Result<Decimal, RegistryError> {
    if s.is_empty() {
        return Err(invalid(
            field,
            "is required (a decimal string such as \"1000.00\")",
        ));
    }
    if s.len() > DECIMAL_CHARS_MAX {
        return Err(invalid(
            field,
            format!(
                "decimal string is {} characters; at most {DECIMAL_CHARS_MAX}",
                s.len()
            ),
        ));
    }
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (body.contains('.') && frac.is_empty()) {
        return Err(invalid(
            field,
            format!("expected a decimal string such as \"1000.00\", found {s:?}"),
        ));
    }
    Decimal::from_str_exact(s).map_err(|_| {
        invalid(
            field,
            format!("{s:?} has more precision than a decimal holds (28 digits)"),
        )
    })
}

pub fn opt_decimal(field: &str, s: &str) -> Result<Option<Decimal>, RegistryError> {
    if s.is_empty() {
        Ok(None)
    } else {
        decimal(field, s).map(Some)
    }
}

/// A whole, non-negative number of units as a decimal string ("10" or "10.0"),
/// at most `UNITS_MAX`.
pub fn units(field: &str, s: &str) -> Result<Units, RegistryError> {
    let d = decimal(field, s)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(invalid(
            field,
            format!("units cannot be negative, found {s}"),
        ));
    }
    if !d.fract().is_zero() {
        return Err(invalid(field, format!("units must be whole, found {s}")));
    }
    let max = crate::registry::series::UNITS_MAX;
    let n = u64::try_from(d.trunc().mantissa() / 10i128.pow(d.trunc().scale()))
        .ok()
        .filter(|n| *n <= max);
    n.map(Units::new)
        .ok_or_else(|| invalid(field, format!("at most {max} units, found {s}")))
}

/// A plain date, exactly YYYY-MM-DD (four-digit year: the form dates are written
/// back in, so every accepted date reads back from the ledger as itself).
pub fn date(field: &str, s: &str) -> Result<NaiveDate, RegistryError> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    // chrono's %Y alone would take "-030-02-01" (year -30), which is written back
    // as "-0030-02-01" and then refused: a ledger entry that could never be read.
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return Err(invalid(
            field,
            format!("expected a date as YYYY-MM-DD, found {s:?}"),
        ));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| invalid(field, format!("{s:?} is not a valid date")))
}

pub fn opt_date(field: &str, s: &str) -> Result<Option<NaiveDate>, RegistryError> {
    if s.is_empty() {
        Ok(None)
    } else {
        date(field, s).map(Some)
    }
}

pub fn parse_name<T: FromStr>(field: &str, s: &str) -> Result<T, RegistryError>
where
    T::Err: std::fmt::Display,
{
    T::from_str(s).map_err(|e| invalid(field, e.to_string()))
}

/// A decimal's wire form.
pub fn s(d: &Decimal) -> String {
    d.to_string()
}

/// An optional decimal's wire form (empty for none).
pub fn os(d: &Option<Decimal>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Some(text)`: accepted, and written back as `text`; `None`: refused.
    fn check_date(input: &str, expected: Option<&str>) {
        let parsed = date("d", input).ok().map(|d| d.to_string());
        assert_eq!(parsed.as_deref(), expected, "date {input:?}");
    }

    #[test]
    fn dates_are_four_digit_years_and_read_back_as_written() {
        check_date("2030-02-01", Some("2030-02-01"));
        check_date("0030-02-01", Some("0030-02-01"));
        check_date("2028-02-29", Some("2028-02-29"));
        check_date("2030-02-29", None);
        // chrono reads these, but they are not YYYY-MM-DD.
        check_date("-030-02-01", None);
        check_date("+030-02-01", None);
        check_date(" 030-02-01", None);
        check_date("2030-+2-01", None);
        check_date("2030-02-+1", None);
        check_date("2030-02-1 ", None);
        check_date("2030/02/01", None);
        check_date("", None);
    }
}
