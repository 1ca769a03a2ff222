//! Exponential, logarithm and powers in `rust_decimal::Decimal`.
//!
//! Invariant: results carry about 27 significant digits (relative error below
//! 1e-26 for the arguments bond pricing uses); out-of-range arguments give
//! `None`, never a panic. `Decimal::powd` from the `maths` feature is not used:
//! its fractional powers are accurate to about 1e-16 only, which is short of the
//! 1e-12 yield tolerance after a 30-year discount and a solver on top.

use rust_decimal::Decimal;
use std::sync::OnceLock;

/// ln 2 to 28 decimal places.
const LN_2: Decimal = Decimal::from_parts(0xAA7A_65BF, 0x81F5_2F01, 0x1665_943F, false, 28);

/// Largest argument of [`exp`]: e^65 ≈ 1.7e28 still fits in a `Decimal`.
pub const EXP_ARG_MAX: i64 = 65;
/// Below this argument [`exp`] returns zero: e^-66 ≈ 2e-29 is under the
/// smallest non-zero `Decimal` (1e-28).
pub const EXP_ARG_MIN: i64 = -66;

/// Terms of the Taylor series of e^r for |r| ≤ ln2/2: 0.347^23/23! < 1e-30.
const EXP_TERMS: usize = 23;

fn inverse_factorials() -> &'static [Decimal; EXP_TERMS + 1] {
    static TABLE: OnceLock<[Decimal; EXP_TERMS + 1]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [Decimal::ONE; EXP_TERMS + 1];
        for n in 1..=EXP_TERMS {
            // 1/n! = (1/(n-1)!) / n; each value is rounded to 28 places, an
            // absolute error far below what the series needs.
            t[n] = t[n - 1] / Decimal::from(n as u64);
        }
        t
    })
}

fn pow2(k: i64) -> Option<Decimal> {
    let mut result = Decimal::ONE;
    let two = Decimal::TWO;
    for _ in 0..k.unsigned_abs() {
        result = if k >= 0 {
            result.checked_mul(two)?
        } else {
            result.checked_div(two)?
        };
    }
    Some(result)
}

/// e^x.
pub fn exp(x: Decimal) -> Option<Decimal> {
    if x > Decimal::from(EXP_ARG_MAX) {
        return None;
    }
    if x < Decimal::from(EXP_ARG_MIN) {
        return Some(Decimal::ZERO);
    }
    if x.is_zero() {
        return Some(Decimal::ONE);
    }
    // Small arguments (every discount step) need no range reduction.
    if x.abs() <= Decimal::from_parts(34, 0, 0, false, 2) {
        return Some(exp_reduced(x));
    }
    // x = k ln2 + r with |r| ≤ ln2/2, so e^x = 2^k e^r.
    let k = (x / LN_2).round();
    let r = x - k * LN_2;
    let k = i64::try_from(k).ok()?;
    let p = exp_reduced(r);
    if k == 0 {
        Some(p)
    } else {
        p.checked_mul(pow2(k)?)
    }
}

/// e^r for |r| ≤ ln2/2, with as many Taylor terms as |r| needs for a remainder
/// below 1e-30 (small arguments, the usual case in pricing, need few).
fn exp_reduced(r: Decimal) -> Decimal {
    // (|r| bound, terms): the remainder |r|^(n+1)/(n+1)! < 1e-30 for n terms.
    const TERMS_FOR: [(Decimal, usize); 13] = [
        (Decimal::from_parts(1, 0, 0, false, 8), 3),
        (Decimal::from_parts(1, 0, 0, false, 6), 4),
        (Decimal::from_parts(1, 0, 0, false, 5), 5),
        (Decimal::from_parts(1, 0, 0, false, 4), 6),
        (Decimal::from_parts(5, 0, 0, false, 4), 7),
        (Decimal::from_parts(1, 0, 0, false, 3), 8),
        (Decimal::from_parts(2, 0, 0, false, 3), 9),
        (Decimal::from_parts(5, 0, 0, false, 3), 10),
        (Decimal::from_parts(1, 0, 0, false, 2), 11),
        (Decimal::from_parts(2, 0, 0, false, 2), 12),
        (Decimal::from_parts(5, 0, 0, false, 2), 14),
        (Decimal::from_parts(1, 0, 0, false, 1), 16),
        (Decimal::from_parts(2, 0, 0, false, 1), 18),
    ];
    let a = r.abs();
    let n = TERMS_FOR
        .iter()
        .find(|(bound, _)| a <= *bound)
        .map_or(EXP_TERMS, |t| t.1);
    let c = inverse_factorials();
    // Horner: e^r = c0 + r(c1 + r(c2 + ...)).
    let mut p = c[n];
    for coefficient in c[..n].iter().rev() {
        p = p * r + coefficient;
    }
    p
}

/// Natural logarithm; `None` unless `x > 0`.
pub fn ln(x: Decimal) -> Option<Decimal> {
    if x <= Decimal::ZERO {
        return None;
    }
    if x == Decimal::ONE {
        return Some(Decimal::ZERO);
    }
    // x = m 2^k with m in [0.75, 1.5); at most ~95 halvings or doublings.
    let lower = Decimal::new(75, 2);
    let upper = Decimal::new(15, 1);
    let mut m = x;
    let mut k: i64 = 0;
    while m >= upper {
        m /= Decimal::TWO;
        k += 1;
    }
    while m < lower {
        m = m.checked_mul(Decimal::TWO)?;
        k -= 1;
    }
    // ln m = 2 atanh(z), z = (m-1)/(m+1), |z| ≤ 0.2: z^2 ≤ 0.04, so 20 terms
    // bring the remainder under 1e-29.
    let z = (m - Decimal::ONE) / (m + Decimal::ONE);
    let z2 = z * z;
    let mut term = z;
    let mut sum = z;
    let mut n: u64 = 1;
    while n < 121 {
        term *= z2;
        if term.is_zero() {
            break;
        }
        n += 2;
        sum += term / Decimal::from(n);
    }
    Some(Decimal::TWO * sum + Decimal::from(k) * LN_2)
}

/// `base` to an integer power by repeated squaring (exact up to rounding of
/// each product).
pub fn powi(base: Decimal, exponent: i64) -> Option<Decimal> {
    match exponent {
        0 => return Some(Decimal::ONE),
        1 => return Some(base),
        -1 => return Decimal::ONE.checked_div(base),
        _ => {}
    }
    let mut result = Decimal::ONE;
    let mut b = base;
    let mut e = exponent.unsigned_abs();
    while e > 0 {
        if e & 1 == 1 {
            result = result.checked_mul(b)?;
        }
        e >>= 1;
        if e > 0 {
            b = b.checked_mul(b)?;
        }
    }
    if exponent < 0 {
        Decimal::ONE.checked_div(result)
    } else {
        Some(result)
    }
}

/// `base` to a real power; `None` unless `base > 0` (or the exponent is a
/// whole number) and the result fits.
pub fn pow(base: Decimal, exponent: Decimal) -> Option<Decimal> {
    if exponent.fract().is_zero()
        && let Ok(e) = i64::try_from(exponent)
        && e.abs() <= 4096
    {
        return powi(base, e);
    }
    exp(exponent.checked_mul(ln(base)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use std::str::FromStr;

    fn close(a: Decimal, b: Decimal, tol: Decimal) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn constants_and_identities() {
        assert_eq!(LN_2.to_string(), "0.6931471805599453094172321215");
        let e = exp(Decimal::ONE).unwrap();
        let e_ref = Decimal::from_str("2.7182818284590452353602874714").unwrap();
        assert!(close(e, e_ref, dec!(1e-26)), "{e}");
        assert!(close(ln(e_ref).unwrap(), Decimal::ONE, dec!(1e-26)));
        assert!(close(ln(dec!(2)).unwrap(), LN_2, dec!(1e-27)));
        // ln(1.025) = 0.02469261259037150101430767543669...
        let l = ln(dec!(1.025)).unwrap();
        assert!(
            close(
                l,
                Decimal::from_str("0.0246926125903715010143076754").unwrap(),
                dec!(1e-26)
            ),
            "{l}"
        );
    }

    #[test]
    fn round_trips_over_a_wide_range() {
        for s in [
            "0.0001",
            "0.5",
            "0.97",
            "1.0000001",
            "1.03",
            "7",
            "123.456",
            "1e20",
        ] {
            let x = Decimal::from_str(s).unwrap_or_else(|_| Decimal::from_scientific(s).unwrap());
            let back = exp(ln(x).unwrap()).unwrap();
            assert!(close(back / x, Decimal::ONE, dec!(1e-25)), "{s}: {back}");
        }
    }

    #[test]
    fn powers() {
        assert_eq!(powi(dec!(1.5), 3), Some(dec!(3.375)));
        assert_eq!(powi(dec!(2), -2), Some(dec!(0.25)));
        // 1.025^-60.5 = 0.22449472657542447864277533257... (Python decimal, 50 digits).
        let p = pow(dec!(1.025), dec!(-60.5)).unwrap();
        assert!(
            close(
                p,
                Decimal::from_str("0.2244947265754244786427753326").unwrap(),
                dec!(1e-24)
            ),
            "{p}"
        );
        assert!(pow(dec!(-1), dec!(0.5)).is_none());
        assert!(exp(dec!(100)).is_none());
        assert_eq!(exp(dec!(-100)), Some(Decimal::ZERO));
    }
}
