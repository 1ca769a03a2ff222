//! Patriotic-discount analytics: what a diaspora investor gives up, and what the
//! issuer saves.
//!
//! Invariant: every figure is derived from the same QuantLib-consistent pricing
//! as [`super::Bond`]; a discount is in basis points (1 bp = 0.0001 of yield)
//! and yields are decimal fractions compounded at the coupon frequency.

use super::PricingError;
use super::bond::Bond;
use super::terms::{BondTerms, CouponType, Fixings};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Basis points in one unit of yield.
pub const BPS_PER_UNIT: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// The diaspora yield: the reference (market) yield less the patriotic discount.
/// (Saturates at the decimal range for absurd inputs, which pricing then refuses
/// as out of range.)
pub fn diaspora_yield(reference_yield: Decimal, discount_bps: Decimal) -> Decimal {
    reference_yield.saturating_sub(discount_bps / BPS_PER_UNIT)
}

/// The fixed coupon rate whose clean price at issue is exactly 100 at yield `y`
/// (the clean price is linear in the coupon, so two prices give it exactly).
pub fn par_coupon(terms: &BondTerms, y: Decimal) -> Result<Decimal, PricingError> {
    if terms.frequency().per_year().is_none() {
        return Err(PricingError::InvalidTerms(
            "a par coupon needs a coupon frequency; a zero coupon bond has none".into(),
        ));
    }
    let settle = terms.issue_date();
    let price_at = |rate: Decimal| -> Result<Decimal, PricingError> {
        let t = terms.with_coupon(CouponType::Fixed(rate))?;
        Bond::new(&t, &Fixings::new())?.clean_price(settle, y)
    };
    let p0 = price_at(Decimal::ZERO)?;
    let p1 = price_at(Decimal::ONE)?;
    let slope = p1 - p0;
    if slope <= Decimal::ZERO {
        return Err(PricingError::NoYield(
            "coupons add no value at this yield".into(),
        ));
    }
    (Decimal::ONE_HUNDRED - p0)
        .checked_div(slope)
        .ok_or_else(|| PricingError::Overflow("par coupon".into()))
}

/// The par coupon at the diaspora yield for a given discount.
pub fn par_coupon_for_discount(
    terms: &BondTerms,
    reference_yield: Decimal,
    discount_bps: Decimal,
) -> Result<Decimal, PricingError> {
    par_coupon(terms, diaspora_yield(reference_yield, discount_bps))
}

/// The discount (bps) a clean price implies: the reference yield less the
/// yield the price gives, times 10,000.
pub fn implied_discount_bps(
    terms: &BondTerms,
    fixings: &Fixings,
    settle: chrono::NaiveDate,
    reference_yield: Decimal,
    clean_price: Decimal,
) -> Result<Decimal, PricingError> {
    let y = Bond::new(terms, fixings)?.yield_from_clean_price(settle, clean_price)?;
    discount_bps_between(reference_yield, y)
}

/// (reference − y) × 10,000, refusing results outside the decimal range.
pub fn discount_bps_between(reference_yield: Decimal, y: Decimal) -> Result<Decimal, PricingError> {
    reference_yield
        .checked_sub(y)
        .and_then(|d| d.checked_mul(BPS_PER_UNIT))
        .ok_or_else(|| PricingError::Overflow("implied discount".into()))
}

/// What the patriotic discount saves the issuer over the life of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerSavings {
    /// Par coupon at the reference yield (market pricing); None for zero coupons.
    pub market_coupon: Option<Decimal>,
    /// Par coupon at the diaspora yield; None for zero coupons.
    pub diaspora_coupon: Option<Decimal>,
    /// Present value at the reference yield, at issue, in currency for the face.
    pub savings: Decimal,
}

/// The issuer's savings for the terms' face amount: the present value, at the
/// reference yield and at issue, of the coupons not paid because the series
/// pays the diaspora par coupon rather than the market one. For zero coupon and
/// accumulating bonds, which pay no coupons, the saving is taken at issue as the
/// extra proceeds: face × (price at the diaspora yield − price at the reference
/// yield) / 100.
pub fn issuer_savings(
    terms: &BondTerms,
    reference_yield: Decimal,
    discount_bps: Decimal,
) -> Result<IssuerSavings, PricingError> {
    let y_diaspora = diaspora_yield(reference_yield, discount_bps);
    let settle = terms.issue_date();
    match terms.coupon() {
        CouponType::Zero | CouponType::Accumulating(_) => {
            let bond = Bond::new(terms, &Fixings::new())?;
            let p_d = bond.dirty_price(settle, y_diaspora)?;
            let p_m = bond.dirty_price(settle, reference_yield)?;
            Ok(IssuerSavings {
                market_coupon: None,
                diaspora_coupon: None,
                savings: p_d
                    .checked_sub(p_m)
                    .and_then(|d| d.checked_mul(terms.face()))
                    .map(|d| d / Decimal::ONE_HUNDRED)
                    .ok_or_else(|| PricingError::Overflow("issuer savings".into()))?,
            })
        }
        _ => {
            let market = par_coupon(terms, reference_yield)?;
            let diaspora = par_coupon(terms, y_diaspora)?;
            let fixed = terms.with_coupon(CouponType::Fixed(Decimal::ZERO))?;
            let annuity = Bond::new(&fixed, &Fixings::new())?.annuity(settle, reference_yield)?;
            Ok(IssuerSavings {
                market_coupon: Some(market),
                diaspora_coupon: Some(diaspora),
                savings: market
                    .checked_sub(diaspora)
                    .and_then(|d| d.checked_mul(annuity))
                    .ok_or_else(|| PricingError::Overflow("issuer savings".into()))?,
            })
        }
    }
}

/// The issuer's savings for the terms' face amount when the series pays the
/// coupon in its terms (a rounded one, say) rather than the diaspora par coupon:
/// the proceeds at the diaspora yield less the value of the same cash flows at
/// the reference yield, at issue: face × (P(diaspora) − P(reference)) / 100 with
/// dirty prices. For the diaspora par coupon this is exactly what
/// [`issuer_savings`] gives ((market − diaspora par coupon) × annuity), since
/// the price is linear in the coupon.
pub fn issuer_savings_at_coupon(
    terms: &BondTerms,
    reference_yield: Decimal,
    discount_bps: Decimal,
) -> Result<IssuerSavings, PricingError> {
    let savings = savings_at(terms, terms.issue_date(), reference_yield, discount_bps)?;
    let (market_coupon, diaspora_coupon) = match terms.coupon() {
        CouponType::Fixed(c) => (Some(par_coupon(terms, reference_yield)?), Some(*c)),
        _ => (None, None),
    };
    Ok(IssuerSavings {
        market_coupon,
        diaspora_coupon,
        savings,
    })
}

/// What a sale settling on `settle` at the diaspora yield saves the issuer, for
/// the terms' face amount and the coupon in its terms: the proceeds at the
/// diaspora yield less the value of the same cash flows at the reference yield,
/// `face × (P(diaspora) − P(reference)) / 100` with dirty prices on `settle`
/// (the accrued interest is the same in both, so the clean prices give the same
/// difference). At the issue date this is [`issuer_savings_at_coupon`]'s figure;
/// on a reopening's settlement date, the tranche's.
pub fn savings_at(
    terms: &BondTerms,
    settle: chrono::NaiveDate,
    reference_yield: Decimal,
    discount_bps: Decimal,
) -> Result<Decimal, PricingError> {
    let bond = Bond::new(terms, &Fixings::new())?;
    let p_d = bond.dirty_price(settle, diaspora_yield(reference_yield, discount_bps))?;
    let p_m = bond.dirty_price(settle, reference_yield)?;
    p_d.checked_sub(p_m)
        .and_then(|d| d.checked_mul(terms.face()))
        .map(|d| d / Decimal::ONE_HUNDRED)
        .ok_or_else(|| PricingError::Overflow("issuer savings".into()))
}
