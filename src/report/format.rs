//! How numbers read in a report: thousands separators, money rounded to the
//! currency's minor unit (half even, as payments are), rates in percent. Text
//! only; these never feed back into a figure.

use crate::money::{Currency, RoundingRule, round_to_minor};
use rust_decimal::Decimal;

/// Groups the integer digits of a plain decimal string in threes: "1234567.5" ->
/// "1,234,567.5".
fn group(plain: &str) -> String {
    let (sign, rest) = match plain.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", plain),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let mut out = String::with_capacity(plain.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Whole units: "5,420".
pub fn units(n: u64) -> String {
    group(&n.to_string())
}

/// An amount rounded to the currency's minor unit, grouped: "3,000,000.00".
pub fn money(amount: Decimal, currency: Currency) -> String {
    let rounded = round_to_minor(amount, currency, RoundingRule::HalfEven);
    let dp = currency.minor_units();
    let text = format!("{:.*}", dp as usize, rounded);
    group(&text)
}

/// A per-unit figure to `dp` decimals (half even), grouped. Per-unit amounts are
/// shown finer than the minor unit, so that the figure times the units visibly
/// gives the total shown beside it.
pub fn fine(amount: Decimal, dp: u32) -> String {
    let rounded =
        amount.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointNearestEven);
    group(&format!("{:.*}", dp as usize, rounded))
}

/// An amount with its currency: "3,000,000.00 USD".
pub fn money_cur(amount: Decimal, currency: Currency) -> String {
    format!("{} {}", money(amount, currency), currency)
}

/// A rate as a percent with at most `dp` decimals, trailing zeros dropped:
/// 0.065 -> "6.5%".
pub fn percent(rate: Decimal, dp: u32) -> String {
    let p = rate
        .checked_mul(Decimal::ONE_HUNDRED)
        .map(|p| {
            p.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointNearestEven)
                .normalize()
        })
        .map_or_else(|| "?".to_string(), |p| p.to_string());
    format!("{p}%")
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn grouping() {
        for (input, expected) in [
            ("0", "0"),
            ("999", "999"),
            ("1000", "1,000"),
            ("1234567.5", "1,234,567.5"),
            ("-1234.00", "-1,234.00"),
            ("100000", "100,000"),
        ] {
            assert_eq!(group(input), expected, "{input}");
        }
        assert_eq!(units(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn money_rounds_half_even_to_the_minor_unit() {
        assert_eq!(money(d("3000000"), Currency::USD), "3,000,000.00");
        assert_eq!(money(d("0.125"), Currency::EUR), "0.12");
        assert_eq!(money(d("0.135"), Currency::EUR), "0.14");
        assert_eq!(money(d("1234.5"), Currency::JPY), "1,234");
        assert_eq!(money_cur(d("-5.5"), Currency::GBP), "-5.50 GBP");
        assert_eq!(fine(d("63.171105"), 4), "63.1711");
        assert_eq!(fine(d("1234.5"), 4), "1,234.5000");
    }

    #[test]
    fn percents() {
        assert_eq!(percent(d("0.065"), 4), "6.5%");
        assert_eq!(percent(d("0.05"), 4), "5%");
        assert_eq!(percent(d("0.0498766"), 4), "4.9877%");
        assert_eq!(percent(d("0.0498765"), 4), "4.9876%", "half even");
        assert_eq!(percent(Decimal::MAX, 2), "?%");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
    }
}
