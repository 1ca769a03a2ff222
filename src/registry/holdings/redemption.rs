//! Early redemption: a bank asks for some or all of a client's holding to be
//! redeemed before maturity, as the series' terms allow: on request after a
//! lock-up and with a penalty of months of coupon forgone, or as a put on the
//! holder's death or on hardship (the latter within a quota of the series per
//! calendar year), neither with a lock-up or a penalty.
//!
//! The price of one unit, and the rounding at each step:
//!
//! 1. `A` = the accrued interest of one unit on the redemption date (the bond
//!    math's, as for statements), rounded half-even to 12 decimal places;
//! 2. `P` = face × r × m ÷ 12, with `r` the annual coupon rate of the period
//!    the date falls in and `m` the penalty months (0 for a put), rounded
//!    half-even to 12 decimal places;
//! 3. price per unit = face + `A` − `P`, exactly;
//! 4. amount = units × price per unit, rounded half-even to the currency's
//!    minor unit: one rounding, of the whole amount.
//!
//! The units are retired (the series' outstanding units, its debt service and
//! every later coupon shrink) and the amount is due to the holding's bank.

use super::{
    HoldingChangeKind, check_current, check_register_open, fail, holding_mut, own_holding,
    take_units,
};
use crate::accrual::{self, SeriesInput};
use crate::money::{Currency, RoundingRule, Units, round_to_minor};
use crate::pricing::{Bond, CashFlowKind};
use crate::registry::coupons::{self, PAYMENT_ROUNDING};
use crate::registry::series::{Series, UNITS_MAX, bond_terms, series, series_coupon};
use crate::registry::{
    ApplyError, Caller, Changes, CouponSpec, DecideCtx, EntryMeta, Event, InvestorRef,
    ParticipantId, RegistryError, Role, SeriesId, SeriesStatus, State, StateKey,
};
use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Most months of lock-up a series may set (30 years).
pub const LOCKUP_MONTHS_MAX: u32 = 360;
/// Most months of coupon a redemption on request may forgo.
pub const PENALTY_MONTHS_MAX: u32 = 24;
/// Decimal places of the accrued interest and the penalty per unit.
pub const PER_UNIT_DECIMALS: u32 = 12;

/// A series' early-redemption terms (absent: no early redemption).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlyRedemptionTerms {
    /// Redemption on the holder's request, after the lock-up, with the penalty.
    pub on_request: bool,
    /// Months after the issue date before a redemption on request.
    pub lockup_months: u32,
    /// Months of coupon a redemption on request forgoes.
    pub penalty_months: u32,
    /// A put on the holder's death: the successors may redeem what they inherited.
    pub death_put: bool,
    /// A put on hardship, within `hardship_quota`.
    pub hardship_put: bool,
    /// Fraction of the units issued that hardship puts may redeem per calendar
    /// year (the quota in units is rounded down).
    pub hardship_quota: Option<Decimal>,
}

impl EarlyRedemptionTerms {
    /// At least one way to redeem; lock-up and penalty only with redemption
    /// on request, within their bounds; a quota in (0, 1] exactly with the
    /// hardship put.
    pub fn check(&self) -> Result<(), RegistryError> {
        if !self.on_request && !self.death_put && !self.hardship_put {
            return Err(RegistryError::invalid(
                "early_redemption",
                "allow at least one of on_request, death_put and hardship_put, or leave early_redemption out",
            ));
        }
        if !self.on_request && (self.lockup_months > 0 || self.penalty_months > 0) {
            return Err(RegistryError::invalid(
                "early_redemption.lockup_months",
                "a lock-up and a penalty apply to redemption on request only",
            ));
        }
        if self.lockup_months > LOCKUP_MONTHS_MAX {
            return Err(RegistryError::invalid(
                "early_redemption.lockup_months",
                format!(
                    "must be 0 to {LOCKUP_MONTHS_MAX}, found {}",
                    self.lockup_months
                ),
            ));
        }
        if self.penalty_months > PENALTY_MONTHS_MAX {
            return Err(RegistryError::invalid(
                "early_redemption.penalty_months",
                format!(
                    "must be 0 to {PENALTY_MONTHS_MAX}, found {}",
                    self.penalty_months
                ),
            ));
        }
        match (self.hardship_put, self.hardship_quota) {
            (true, Some(q)) if q > Decimal::ZERO && q <= Decimal::ONE => Ok(()),
            (true, _) => Err(RegistryError::invalid(
                "early_redemption.hardship_quota",
                "a hardship put needs a quota in (0, 1]: the fraction of the units issued it may redeem per year",
            )),
            (false, Some(_)) => Err(RegistryError::invalid(
                "early_redemption.hardship_quota",
                "a quota goes with the hardship put only",
            )),
            (false, None) => Ok(()),
        }
    }

    fn offers(&self, reason: RedemptionReason) -> bool {
        match reason {
            RedemptionReason::OnRequest => self.on_request,
            RedemptionReason::Death => self.death_put,
            RedemptionReason::Hardship => self.hardship_put,
        }
    }
}

/// Why a holding is redeemed early. Named in snake case.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RedemptionReason {
    OnRequest,
    Death,
    Hardship,
}

impl RedemptionReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedeemEarly {
    pub series_id: SeriesId,
    pub investor_ref: InvestorRef,
    /// The custodian bank; `None`: the caller.
    pub bank_id: Option<ParticipantId>,
    pub units: Units,
    pub reason: RedemptionReason,
    /// SHA-256 of the supporting document (required for hardship).
    pub document_hash: Option<[u8; 32]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlyRedeemed {
    /// The index of this entry.
    pub redemption_id: u64,
    pub series_id: SeriesId,
    pub investor_ref: InvestorRef,
    pub bank_id: ParticipantId,
    pub units: Units,
    pub reason: RedemptionReason,
    pub redemption_date: NaiveDate,
    pub accrued_per_unit: Decimal,
    pub penalty_months: u32,
    pub penalty_per_unit: Decimal,
    pub price_per_unit: Decimal,
    /// Due to the holding's bank: units × price per unit, rounded.
    pub amount: Decimal,
    pub rounding: RoundingRule,
    pub currency: Currency,
    pub document_hash: Option<[u8; 32]>,
}

/// Early redemptions of a series paid on one date, summed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlyPaid {
    pub date: NaiveDate,
    pub units: u64,
    pub amount: Decimal,
}

/// The figures of an early redemption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub accrued_per_unit: Decimal,
    pub penalty_months: u32,
    pub penalty_per_unit: Decimal,
    pub price_per_unit: Decimal,
    pub amount: Decimal,
}

fn too_large(series: &SeriesId, what: &str) -> RegistryError {
    RegistryError::TooLarge {
        series: series.clone(),
        what: what.into(),
    }
}

/// The annual coupon rate of the period `date` falls in (0 for a zero coupon;
/// the period ending next when `date` falls on a period's end).
fn rate_in_force(s: &Series, state: &State, date: NaiveDate) -> Result<Decimal, RegistryError> {
    let id = &s.terms.series_id;
    if s.terms.coupon == CouponSpec::Zero {
        return Ok(Decimal::ZERO);
    }
    let terms = bond_terms(&s.terms, series_coupon(s)?)?;
    let bond =
        Bond::new(&terms, &coupons::fixings(state)).map_err(|e| RegistryError::engine(id, e))?;
    let flow = bond
        .cashflows()
        .iter()
        .filter(|f| f.kind == CashFlowKind::Coupon)
        .find(|f| f.accrual_start <= date && date < f.accrual_end)
        .or_else(|| {
            bond.cashflows()
                .iter()
                .find(|f| f.kind == CashFlowKind::Coupon && f.payment_date > date)
        });
    match flow {
        None => Ok(Decimal::ZERO),
        Some(f) => f.rate.ok_or_else(|| {
            RegistryError::engine(
                id,
                format!(
                    "the coupon rate of the period from {} is not fixed yet",
                    f.accrual_start
                ),
            )
        }),
    }
}

/// The figures of redeeming `units` of series `s` on `date` for `reason`.
pub fn quote(
    state: &State,
    s: &Series,
    date: NaiveDate,
    units: Units,
    reason: RedemptionReason,
) -> Result<Quote, RegistryError> {
    let id = &s.terms.series_id;
    let terms = bond_terms(&s.terms, series_coupon(s)?)?;
    let input = SeriesInput {
        series_id: id.as_str(),
        currency: s.terms.currency,
        terms: &terms,
        rounding: PAYMENT_ROUNDING,
    };
    let round = |d: Decimal| {
        d.round_dp_with_strategy(PER_UNIT_DECIMALS, RoundingStrategy::MidpointNearestEven)
    };
    let accrued = accrual::accrued_per_unit(&input, &coupons::fixings(state), date)
        .map_err(|e| RegistryError::engine(id, e))?;
    let accrued = round(accrued);
    let months = match (reason, &s.terms.early_redemption) {
        (RedemptionReason::OnRequest, Some(t)) => t.penalty_months,
        _ => 0,
    };
    let penalty = if months == 0 {
        Decimal::ZERO
    } else {
        let rate = rate_in_force(s, state, date)?;
        s.terms
            .face_value
            .checked_mul(rate)
            .and_then(|x| x.checked_mul(Decimal::from(months)))
            .and_then(|x| x.checked_div(Decimal::from(12)))
            .map(round)
            .ok_or_else(|| too_large(id, "the penalty per unit"))?
    };
    let price = s
        .terms
        .face_value
        .checked_add(accrued)
        .and_then(|x| x.checked_sub(penalty))
        .ok_or_else(|| too_large(id, "the price per unit"))?;
    if price <= Decimal::ZERO {
        return Err(RegistryError::RedemptionPriceNotPositive {
            series: id.clone(),
            price,
        });
    }
    let amount = price
        .checked_mul(units.to_decimal())
        .map(|a| round_to_minor(a, s.terms.currency, RoundingRule::HalfEven))
        .ok_or_else(|| too_large(id, "the redemption amount"))?;
    Ok(Quote {
        accrued_per_unit: accrued,
        penalty_months: months,
        penalty_per_unit: penalty,
        price_per_unit: price,
        amount,
    })
}

/// Units of a series issued: what its holdings hold and what was redeemed early.
fn issued_units(state: &State, s: &Series) -> u128 {
    let held: u128 = state
        .series_holdings(&s.terms.series_id, None)
        .map(|h| u128::from(h.units))
        .sum();
    held + u128::from(s.early_redeemed_units)
}

pub(in crate::registry) fn decide(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    c: &RedeemEarly,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Bank, "redeeming a holding early")?;
    if c.units.is_zero() || c.units.get() > UNITS_MAX {
        return Err(RegistryError::invalid(
            "units",
            format!("must be at least 1 whole unit, found {}", c.units),
        ));
    }
    if c.reason == RedemptionReason::Hardship && c.document_hash.is_none() {
        return Err(RegistryError::invalid(
            "document_hash",
            "a hardship redemption carries the SHA-256 of its supporting document",
        ));
    }
    let h = own_holding(
        state,
        caller,
        &c.series_id,
        &c.investor_ref,
        c.bank_id.as_ref(),
    )?;
    let s = series(state, &c.series_id)?;
    if s.status != SeriesStatus::Issued {
        return Err(RegistryError::SeriesNotLive {
            series: c.series_id.clone(),
            found: s.status,
        });
    }
    let not_offered = |reason: Option<RedemptionReason>| RegistryError::EarlyRedemptionNotOffered {
        series: c.series_id.clone(),
        reason: reason.map(RedemptionReason::as_str),
    };
    let terms = s.terms.early_redemption.as_ref().ok_or(not_offered(None))?;
    if !terms.offers(c.reason) {
        return Err(not_offered(Some(c.reason)));
    }
    let date = ctx.recorded_at.date_naive();
    // The lock-up runs from before issue to its end, so a request on a series
    // with one is refused as inside it; without one, as before the issue date.
    match c.reason {
        RedemptionReason::OnRequest => {
            let until = s
                .terms
                .issue_date
                .checked_add_months(Months::new(terms.lockup_months))
                .ok_or_else(|| too_large(&c.series_id, "the end of the lock-up"))?;
            if terms.lockup_months > 0 && date < until {
                return Err(RegistryError::InsideLockup {
                    series: c.series_id.clone(),
                    until,
                });
            }
        }
        RedemptionReason::Death => {
            let inherited = h
                .history
                .iter()
                .any(|x| x.kind == HoldingChangeKind::SuccessionIn);
            if !inherited {
                return Err(RegistryError::DeathPutNeedsSuccession {
                    series: c.series_id.clone(),
                    investor: c.investor_ref.clone(),
                });
            }
        }
        RedemptionReason::Hardship => {}
    }
    if date < s.terms.issue_date {
        return Err(RegistryError::BeforeIssueDate {
            series: c.series_id.clone(),
            issue_date: s.terms.issue_date,
        });
    }
    let units = c.units.get();
    let free = h.units.saturating_sub(h.pending_units);
    if units > free {
        return Err(RegistryError::NotEnoughUnits {
            series: c.series_id.clone(),
            investor: c.investor_ref.clone(),
            bank: h.bank_id.clone(),
            asked: units,
            available: free,
            what: "free (not pending)",
        });
    }
    if c.reason == RedemptionReason::Hardship {
        let quota = terms.hardship_quota.unwrap_or_default();
        let issued = Decimal::from(issued_units(state, s));
        let allowed = issued
            .checked_mul(quota)
            .map(|q| q.floor())
            .and_then(|q| u64::try_from(q).ok())
            .ok_or_else(|| too_large(&c.series_id, "the hardship quota"))?;
        let year = date.year();
        let used = s.hardship_units.get(&year).copied().unwrap_or(0);
        if used.saturating_add(units) > allowed {
            return Err(RegistryError::HardshipQuotaExhausted {
                series: c.series_id.clone(),
                year,
                used,
                quota: allowed,
                asked: units,
            });
        }
    }
    check_current(state, s, date)?;
    check_register_open(state, s)?;
    let q = quote(state, s, date, c.units, c.reason)?;
    Ok(vec![Event::EarlyRedeemed(EarlyRedeemed {
        redemption_id: ctx.index,
        series_id: c.series_id.clone(),
        investor_ref: c.investor_ref.clone(),
        bank_id: h.bank_id.clone(),
        units: c.units,
        reason: c.reason,
        redemption_date: date,
        accrued_per_unit: q.accrued_per_unit,
        penalty_months: q.penalty_months,
        penalty_per_unit: q.penalty_per_unit,
        price_per_unit: q.price_per_unit,
        amount: q.amount,
        rounding: RoundingRule::HalfEven,
        currency: s.terms.currency,
        document_hash: c.document_hash,
    })])
}

pub(in crate::registry) fn apply(
    state: &mut State,
    meta: &EntryMeta,
    e: &EarlyRedeemed,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    if e.redemption_id != meta.index {
        return Err(fail(
            meta,
            format!(
                "redemption id {} must be the entry's own index",
                e.redemption_id
            ),
        ));
    }
    let key = (
        e.series_id.clone(),
        e.investor_ref.clone(),
        e.bank_id.clone(),
    );
    let units = e.units.get();
    take_units(
        state,
        meta,
        &key,
        units,
        false,
        true,
        (HoldingChangeKind::EarlyRedeemed, None, e.redemption_id),
        changes,
    )?;
    let h = holding_mut(state, meta, &key)?;
    h.early_redeemed_units = h.early_redeemed_units.saturating_add(units);
    let s = state
        .series
        .get_mut(&e.series_id)
        .ok_or_else(|| fail(meta, format!("series {} does not exist", e.series_id)))?;
    s.early_redeemed_units = s.early_redeemed_units.saturating_add(units);
    if e.reason == RedemptionReason::Hardship {
        let used = s
            .hardship_units
            .entry(e.redemption_date.year())
            .or_default();
        *used = used.saturating_add(units);
    }
    match s.early_redemptions.last_mut() {
        Some(last) if last.date == e.redemption_date => {
            last.units = last.units.saturating_add(units);
            last.amount = last
                .amount
                .checked_add(e.amount)
                .ok_or_else(|| fail(meta, "the early redemptions of a day overflow".to_string()))?;
        }
        _ => s.early_redemptions.push(EarlyPaid {
            date: e.redemption_date,
            units,
            amount: e.amount,
        }),
    }
    changes.touch(StateKey::Series(e.series_id.clone()));
    Ok(())
}
