//! The wire's scalar forms, parsed once: decimal strings ("1000.00"), whole
//! units, YYYY-MM-DD dates and names of enums. Every accepted value is written
//! back in exactly the form it was read in.

use crate::money::{Currency, Units};
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

/// A decimal's wire form as recorded: exactly the form it was read in.
pub fn s(d: &Decimal) -> String {
    d.to_string()
}

/// An optional decimal's wire form as recorded (empty for none).
pub fn os(d: &Option<Decimal>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// Decimals of a rate, a yield or a price in percent of face in a response
/// (services.proto): at least this many, more only where the figure has them.
pub const RATE_DECIMALS: u32 = 6;

/// `d` written with at least `scale` decimals: zeros appended, never rounded.
/// A figure of more than `28 - scale` integer digits gets as many zeros as a
/// 96-bit decimal holds.
fn padded(d: &Decimal, scale: u32) -> String {
    if d.scale() >= scale {
        return d.to_string();
    }
    let mut p = *d;
    p.rescale(scale);
    p.to_string()
}

/// Money that is paid or due, in a response: at exactly the currency's minor
/// unit (`4000` is written `4000.00`, `12.5` is `12.50`; JPY: no decimals).
/// These figures are rounded to the minor unit where they are computed, so
/// this only pads; zeros past the minor unit are dropped. A figure with more
/// significant decimals than the minor unit is written as it is, never rounded.
pub fn money(d: &Decimal, currency: Currency) -> String {
    let minor = currency.minor_units();
    if d.scale() <= minor {
        return padded(d, minor);
    }
    let n = d.normalize();
    debug_assert!(
        n.scale() <= minor,
        "{d} {currency} has more decimals than its minor unit"
    );
    if n.scale() <= minor {
        padded(&n, minor)
    } else {
        d.to_string()
    }
}

/// A rate, a yield or a price in percent of face, in a response: at least
/// [`RATE_DECIMALS`] decimals (`0.0525` is written `0.052500`); more only where
/// the figure has them (a treasury's own figure typed with more, a yield solved
/// from a price). Never rounded.
pub fn rate(d: &Decimal) -> String {
    padded(d, RATE_DECIMALS)
}

/// An optional rate in a response (empty for none).
pub fn opt_rate(d: &Option<Decimal>) -> String {
    d.as_ref().map(rate).unwrap_or_default()
}

/// Which form a converter that serves both events and responses writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A ledger event: every decimal exactly as it was read or computed, the
    /// bytes an entry signs ([`s`]).
    Ledger,
    /// A response: money, rates and prices at the scales services.proto
    /// states ([`money`], [`rate`]).
    Response,
}

impl Form {
    pub fn money(self, d: &Decimal, currency: Currency) -> String {
        match self {
            Form::Ledger => s(d),
            Form::Response => money(d, currency),
        }
    }

    pub fn rate(self, d: &Decimal) -> String {
        match self {
            Form::Ledger => s(d),
            Form::Response => rate(d),
        }
    }

    pub fn opt_rate(self, d: &Option<Decimal>) -> String {
        match self {
            Form::Ledger => os(d),
            Form::Response => opt_rate(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Some(text)`: accepted, and written back as `text`; `None`: refused.
    fn check_date(input: &str, expected: Option<&str>) {
        let parsed = date("d", input).ok().map(|d| d.to_string());
        assert_eq!(parsed.as_deref(), expected, "date {input:?}");
    }

    fn check_money(input: &str, currency: Currency, expected: &str) {
        let d = Decimal::from_str_exact(input).unwrap();
        assert_eq!(money(&d, currency), expected, "money {input} {currency}");
        assert_eq!(
            decimal("m", expected).unwrap(),
            d,
            "{expected} changed the value"
        );
    }

    fn check_rate(input: &str, expected: &str) {
        let d = Decimal::from_str_exact(input).unwrap();
        assert_eq!(rate(&d), expected, "rate {input}");
        assert_eq!(
            decimal("r", expected).unwrap(),
            d,
            "{expected} changed the value"
        );
    }

    #[test]
    fn money_is_padded_to_the_minor_unit() {
        check_money("4000", Currency::USD, "4000.00");
        check_money("12.5", Currency::EUR, "12.50");
        check_money("12.34", Currency::GBP, "12.34");
        check_money("0", Currency::AZN, "0.00");
        check_money("-3.1", Currency::USD, "-3.10");
        check_money("4000", Currency::JPY, "4000");
        // Zeros past the minor unit are dropped: the value is the same.
        check_money("4000.000", Currency::USD, "4000.00");
        check_money("4000.0", Currency::JPY, "4000");
        // At the edge of a 96-bit decimal, as many zeros as it holds.
        check_money(
            "79228162514264337593543950335",
            Currency::USD,
            "79228162514264337593543950335",
        );
        check_money(
            "7922816251426433759354395033.5",
            Currency::USD,
            "7922816251426433759354395033.5",
        );
    }

    /// A figure that is not at its minor unit is a bug where it was computed;
    /// the formatter still writes it unrounded (debug builds stop on it).
    #[test]
    #[cfg(not(debug_assertions))]
    fn money_with_more_decimals_is_never_rounded() {
        check_money("12.345", Currency::USD, "12.345");
        check_money("7.5", Currency::JPY, "7.5");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "has more decimals than its minor unit")]
    fn money_with_more_decimals_stops_a_debug_build() {
        money(&Decimal::new(12345, 3), Currency::USD);
    }

    #[test]
    fn rates_have_at_least_six_decimals_and_are_never_rounded() {
        check_rate("0.0525", "0.052500");
        check_rate("0.05", "0.050000");
        check_rate("0", "0.000000");
        check_rate("-0.001", "-0.001000");
        check_rate("100", "100.000000");
        check_rate("0.052500", "0.052500");
        // More decimals (a treasury's own figure, a solved yield) are kept.
        check_rate("0.0512345", "0.0512345");
        check_rate("0.05250000", "0.05250000");
        check_rate(
            "0.0549999999999999999999999999",
            "0.0549999999999999999999999999",
        );
        assert_eq!(opt_rate(&None), "");
        assert_eq!(opt_rate(&Some(Decimal::new(5, 2))), "0.050000");
    }

    #[test]
    fn the_ledger_form_writes_decimals_as_they_are() {
        let d = Decimal::new(40, 1);
        assert_eq!(Form::Ledger.money(&d, Currency::USD), "4.0");
        assert_eq!(Form::Ledger.rate(&d), "4.0");
        assert_eq!(Form::Ledger.opt_rate(&Some(d)), "4.0");
        assert_eq!(Form::Response.money(&d, Currency::USD), "4.00");
        assert_eq!(Form::Response.rate(&d), "4.000000");
        assert_eq!(Form::Response.opt_rate(&Some(d)), "4.000000");
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
