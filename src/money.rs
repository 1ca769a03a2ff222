//! Currencies, amounts, whole units, rates and explicit rounding.
//!
//! Invariants: an amount is only ever rounded to a currency's minor unit by
//! [`round_to_minor`] (or [`Money::round`]), with a [`RoundingRule`] the caller
//! names; nothing here rounds implicitly. Arithmetic on [`Money`] and [`Units`]
//! is checked: a result that does not fit is an error, never a wrapped,
//! saturated or panicking one.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An ISO 4217 currency the registry can issue in, named by its code.
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
pub enum Currency {
    /// United States dollar.
    USD,
    /// Euro.
    EUR,
    /// Pound sterling.
    GBP,
    /// Azerbaijani manat.
    AZN,
    /// Swiss franc.
    CHF,
    /// Japanese yen (no minor unit).
    JPY,
    /// Turkish lira.
    TRY,
    /// Russian rouble.
    RUB,
    /// Georgian lari.
    GEL,
    /// Canadian dollar.
    CAD,
}

impl Currency {
    /// Every supported currency, in code order.
    pub const ALL: [Currency; 10] = [
        Currency::AZN,
        Currency::CAD,
        Currency::CHF,
        Currency::EUR,
        Currency::GBP,
        Currency::GEL,
        Currency::JPY,
        Currency::RUB,
        Currency::TRY,
        Currency::USD,
    ];

    /// The ISO 4217 alphabetic code.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Number of decimal places of the minor unit (ISO 4217 "exponent").
    pub fn minor_units(self) -> u32 {
        match self {
            Currency::JPY => 0,
            _ => 2,
        }
    }
}

/// Error returned when a currency code is not one the registry knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown currency {found:?}: expected an ISO 4217 code such as USD, EUR, GBP or AZN")]
pub struct UnknownCurrency {
    /// The text that was given.
    pub found: String,
}

impl FromStr for Currency {
    type Err = UnknownCurrency;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Codes are upper case by standard; accepting lower case costs nothing and
        // avoids a class of operator typos.
        let upper = s.trim().to_ascii_uppercase();
        Currency::ALL
            .into_iter()
            .find(|c| c.as_str() == upper)
            .ok_or_else(|| UnknownCurrency {
                found: s.to_string(),
            })
    }
}

/// How to round an amount to a currency's minor unit. Named in snake case
/// (serde, `Display`): "half_even", "half_up", "down", "up".
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RoundingRule {
    /// Round half to even ("bankers' rounding"): no upward bias over many sums.
    HalfEven,
    /// Round half away from zero, as most coupon notices state it.
    HalfUp,
    /// Truncate towards zero: never pays out more than was earned.
    Down,
    /// Round away from zero: never collects less than is due.
    Up,
}

impl RoundingRule {
    /// The name used in configuration and JSON.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn strategy(self) -> RoundingStrategy {
        match self {
            RoundingRule::HalfEven => RoundingStrategy::MidpointNearestEven,
            RoundingRule::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingRule::Down => RoundingStrategy::ToZero,
            RoundingRule::Up => RoundingStrategy::AwayFromZero,
        }
    }

    /// Rounds `amount` to `dp` decimal places under this rule.
    pub fn round_dp(self, amount: Decimal, dp: u32) -> Decimal {
        amount.round_dp_with_strategy(dp, self.strategy())
    }
}

/// Error returned for an unknown rounding rule name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rounding rule {found:?}: expected half_even, half_up, down or up")]
pub struct UnknownRoundingRule {
    /// The text that was given.
    pub found: String,
}

impl FromStr for RoundingRule {
    type Err = UnknownRoundingRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "half_even" | "bankers" | "halfeven" => Ok(RoundingRule::HalfEven),
            "half_up" | "halfup" => Ok(RoundingRule::HalfUp),
            "down" | "truncate" => Ok(RoundingRule::Down),
            "up" => Ok(RoundingRule::Up),
            _ => Err(UnknownRoundingRule {
                found: s.to_string(),
            }),
        }
    }
}

/// Rounds `amount` to the minor unit of `currency` under `rule`.
pub fn round_to_minor(amount: Decimal, currency: Currency, rule: RoundingRule) -> Decimal {
    rule.round_dp(amount, currency.minor_units())
}

/// An amount in a currency. Arithmetic between different currencies is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

/// Error for arithmetic that mixes currencies or overflows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The two amounts are in different currencies.
    #[error("currency mismatch: expected {expected}, found {found}")]
    CurrencyMismatch {
        /// Currency of the left operand.
        expected: Currency,
        /// Currency of the right operand.
        found: Currency,
    },
    /// The result does not fit in a decimal.
    #[error("amount overflow")]
    Overflow,
}

impl Money {
    /// An amount in `currency`, unrounded.
    pub fn new(amount: Decimal, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Money {
        Money::new(Decimal::ZERO, currency)
    }

    /// The amount.
    pub fn amount(self) -> Decimal {
        self.amount
    }

    /// The currency.
    pub fn currency(self) -> Currency {
        self.currency
    }

    /// This amount rounded to the currency's minor unit under `rule`.
    pub fn round(self, rule: RoundingRule) -> Money {
        Money::new(
            round_to_minor(self.amount, self.currency, rule),
            self.currency,
        )
    }

    /// Sum of two amounts in the same currency.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Difference of two amounts in the same currency.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// This amount (per unit) times a number of units, unrounded.
    pub fn checked_mul_units(self, units: Units) -> Result<Money, MoneyError> {
        self.checked_mul(units.to_decimal())
    }

    /// This amount times a dimensionless factor (units held, a rate), unrounded.
    pub fn checked_mul(self, factor: Decimal) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(factor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                expected: self.currency,
                found: other.currency,
            })
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// A number of whole bond units (of a subscription, an allotment, a holding).
/// Written as a plain number in JSON state records.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Units(u64);

impl Units {
    /// No units.
    pub const ZERO: Units = Units(0);

    /// `n` whole units.
    pub const fn new(n: u64) -> Units {
        Units(n)
    }

    /// The count.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// True for no units.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The sum, or `None` if it does not fit.
    pub const fn checked_add(self, other: Units) -> Option<Units> {
        match self.0.checked_add(other.0) {
            Some(n) => Some(Units(n)),
            None => None,
        }
    }

    /// The difference, or `None` if `other` is more.
    pub const fn checked_sub(self, other: Units) -> Option<Units> {
        match self.0.checked_sub(other.0) {
            Some(n) => Some(Units(n)),
            None => None,
        }
    }

    /// The sum of `units`, or `None` if it does not fit.
    pub fn checked_sum(units: impl IntoIterator<Item = Units>) -> Option<Units> {
        units
            .into_iter()
            .try_fold(Units::ZERO, |acc, u| acc.checked_add(u))
    }

    /// The count as a decimal (exact: every `u64` is one).
    pub fn to_decimal(self) -> Decimal {
        Decimal::from(self.0)
    }
}

impl From<u64> for Units {
    fn from(n: u64) -> Units {
        Units(n)
    }
}

impl From<Units> for u64 {
    fn from(u: Units) -> u64 {
        u.0
    }
}

impl From<Units> for Decimal {
    fn from(u: Units) -> Decimal {
        u.to_decimal()
    }
}

impl PartialEq<u64> for Units {
    fn eq(&self, other: &u64) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for Units {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// An annual rate as a decimal fraction (0.0525 is 5.25%): a coupon rate, a
/// reference rate's fixing. Written as a decimal string, like every decimal.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Rate(Decimal);

impl Rate {
    /// The rate `fraction` (0.05 for 5%).
    pub const fn new(fraction: Decimal) -> Rate {
        Rate(fraction)
    }

    /// The rate as a decimal fraction.
    pub const fn fraction(self) -> Decimal {
        self.0
    }
}

impl From<Rate> for Decimal {
    fn from(r: Rate) -> Decimal {
        r.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn check(amount: Decimal, currency: Currency, rule: RoundingRule, expected: Decimal) {
        assert_eq!(
            round_to_minor(amount, currency, rule),
            expected,
            "{amount} {currency} {rule}"
        );
    }

    #[test]
    fn rounding_rules() {
        use RoundingRule::*;
        check(dec!(2.345), Currency::USD, HalfEven, dec!(2.34));
        check(dec!(2.355), Currency::USD, HalfEven, dec!(2.36));
        check(dec!(2.345), Currency::USD, HalfUp, dec!(2.35));
        check(dec!(-2.345), Currency::USD, HalfUp, dec!(-2.35));
        check(dec!(2.349), Currency::AZN, Down, dec!(2.34));
        check(dec!(-2.349), Currency::AZN, Down, dec!(-2.34));
        check(dec!(2.341), Currency::EUR, Up, dec!(2.35));
        check(dec!(1234.5), Currency::JPY, HalfEven, dec!(1234));
        check(dec!(1235.5), Currency::JPY, HalfEven, dec!(1236));
        check(dec!(27.5), Currency::GBP, HalfEven, dec!(27.50));
    }

    #[test]
    fn currency_codes_round_trip() {
        for c in Currency::ALL {
            assert_eq!(c.as_str().parse::<Currency>(), Ok(c));
            assert_eq!(c.to_string(), c.as_str());
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert_eq!(Currency::AZN.as_str(), "AZN");
        assert_eq!("azn".parse::<Currency>(), Ok(Currency::AZN));
        let err = "XYZ".parse::<Currency>().unwrap_err();
        assert!(err.to_string().starts_with("unknown currency"));
    }

    #[test]
    fn rounding_rule_names() {
        for r in [
            RoundingRule::HalfEven,
            RoundingRule::HalfUp,
            RoundingRule::Down,
            RoundingRule::Up,
        ] {
            assert_eq!(r.as_str().parse::<RoundingRule>(), Ok(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(RoundingRule::HalfEven.to_string(), "half_even");
        assert_eq!(
            "bankers".parse::<RoundingRule>(),
            Ok(RoundingRule::HalfEven)
        );
        assert!("nearest".parse::<RoundingRule>().is_err());
    }

    #[test]
    fn money_refuses_mixed_currencies() {
        let a = Money::new(dec!(1.005), Currency::USD);
        let b = Money::new(dec!(2), Currency::EUR);
        assert!(matches!(
            a.checked_add(b),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        let c = a.checked_add(Money::new(dec!(2), Currency::USD)).unwrap();
        assert_eq!(c.amount(), dec!(3.005));
        assert_eq!(c.round(RoundingRule::HalfUp).amount(), dec!(3.01));
        assert_eq!(c.round(RoundingRule::HalfEven).amount(), dec!(3.00));
    }
}
