//! A bond with its schedule and cash flows computed once, answering accrued
//! interest, price and yield queries.
//!
//! Invariant: cash flows are in QuantLib's leg order (coupons by payment date,
//! the redemption after the last coupon), and every price is QuantLib's
//! `CashFlows::npv` with an `InterestRate`: discounted period by period from the
//! settlement date, each step timed with the bond's day count.

use super::PricingError;
use super::dmath::{exp, ln, powi};
use super::terms::{BondTerms, CouponType, Fixings};
use crate::calendar::{
    AccrualDates, BusinessDayConvention, Calendar, DayCount, Fractions, Frequency, IcmaPeriods,
    Schedule, ScheduleRule, act_act_icma_reference_fractions, dates::add_months,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Lowest yield the solver searches (−50%); prices from yields below it are refused.
pub const YIELD_MIN: Decimal = Decimal::from_parts(5, 0, 0, true, 1);
/// Highest yield the solver searches (1000%); prices from yields above it are refused.
pub const YIELD_MAX: Decimal = Decimal::from_parts(10, 0, 0, false, 0);
/// Most solver iterations (safeguarded Newton halves the bracket at worst, so 200
/// is far beyond what 1e-15 needs from a 10.5-wide bracket).
pub const YIELD_ITERATIONS_MAX: u32 = 200;
/// The solver stops when a step moves the yield by less than this.
pub const YIELD_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 15);

/// What a cash flow is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CashFlowKind {
    /// Interest for an accrual period.
    Coupon,
    /// Repayment of the face amount.
    Redemption,
}

impl CashFlowKind {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            CashFlowKind::Coupon => "coupon",
            CashFlowKind::Redemption => "redemption",
        }
    }
}

/// One payment of the bond, for the terms' face amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashFlow {
    /// Coupon or redemption.
    pub kind: CashFlowKind,
    /// Start of the accrual period (for a redemption: start of the bond's life).
    pub accrual_start: NaiveDate,
    /// End of the accrual period (for a redemption: end of the bond's life).
    pub accrual_end: NaiveDate,
    /// When it is paid.
    pub payment_date: NaiveDate,
    /// Holders on this date are paid, when the terms keep record dates.
    pub record_date: Option<NaiveDate>,
    /// Annual rate of a coupon (None for a redemption, or a floating coupon
    /// waiting for its fixing).
    pub rate: Option<Decimal>,
    /// Amount in currency, unrounded (None: a floating coupon waiting for its fixing).
    pub amount: Option<Decimal>,
}

/// Clean and dirty price (percent of face) and accrued interest (currency, for
/// the terms' face).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// Dirty price minus accrued interest, percent of face.
    pub clean: Decimal,
    /// Present value of the remaining cash flows, percent of face.
    pub dirty: Decimal,
    /// Accrued interest in currency for the face amount.
    pub accrued: Decimal,
}

/// How a flow accrues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accrual {
    /// Simple interest at a rate over the period (None: fixing missing).
    Simple(Option<Decimal>),
    /// Interest compounding at the bond's compounding frequency.
    Compounding(Decimal),
    /// The redemption.
    Redemption,
}

/// A bond ready for queries.
#[derive(Clone, Debug)]
pub struct Bond {
    terms: BondTerms,
    calendar: Calendar,
    schedule: Schedule,
    icma: Option<IcmaPeriods>,
    flows: Vec<CashFlow>,
    accruals: Vec<Accrual>,
    /// The distinct discounting exponents between consecutive flows.
    step_table: Vec<StepExponent>,
    /// `flow_step[i]` (i ≥ 1): index in `step_table` of the exponent from flow
    /// i-1's payment date to flow i's (QuantLib's stepwise rule).
    flow_step: Vec<usize>,
    /// The denominators the exponents' fractions use.
    denominators: Vec<i64>,
    /// Compounding periods per year, as a decimal.
    per_year: Decimal,
}

impl Bond {
    /// Builds the bond on the calendar its terms name.
    pub fn new(terms: &BondTerms, fixings: &Fixings) -> Result<Bond, PricingError> {
        let calendar = terms.calendar().calendar()?;
        Bond::with_calendar(terms, &calendar, fixings)
    }

    /// Builds the bond on a given calendar (for instance one an operator file
    /// extended).
    pub fn with_calendar(
        terms: &BondTerms,
        calendar: &Calendar,
        fixings: &Fixings,
    ) -> Result<Bond, PricingError> {
        let bdc = terms.business_day_convention();
        let accrual_convention = match terms.accrual_dates() {
            AccrualDates::Adjusted => bdc,
            AccrualDates::Unadjusted => BusinessDayConvention::Unadjusted,
        };
        let schedule = Schedule::generate(
            &ScheduleRule {
                effective: terms.issue_date(),
                termination: terms.maturity_date(),
                frequency: terms.frequency(),
                convention: accrual_convention,
                termination_convention: accrual_convention,
                generation: terms.date_generation(),
                end_of_month: terms.end_of_month(),
                first_date: terms.first_coupon_date(),
            },
            calendar,
        )?;
        let icma =
            if terms.day_count() == DayCount::ActActIcma && terms.frequency() != Frequency::Zero {
                Some(schedule.icma_periods()?)
            } else {
                None
            };
        let mut bond = Bond {
            terms: terms.clone(),
            calendar: calendar.clone(),
            schedule,
            icma,
            flows: Vec::new(),
            accruals: Vec::new(),
            step_table: Vec::new(),
            flow_step: Vec::new(),
            denominators: Vec::new(),
            per_year: Decimal::from(terms.compounding_per_year()),
        };
        bond.build_flows(fixings)?;
        bond.build_steps()?;
        Ok(bond)
    }

    /// The terms.
    pub fn terms(&self) -> &BondTerms {
        &self.terms
    }

    /// The accrual schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The cash flows, in payment order, for the terms' face amount.
    pub fn cashflows(&self) -> &[CashFlow] {
        &self.flows
    }

    fn payment_date(&self, accrual_end: NaiveDate) -> Result<NaiveDate, PricingError> {
        Ok(self.calendar.advance_days_with(
            accrual_end,
            i64::from(self.terms.payment_lag_days()),
            self.terms.business_day_convention(),
        )?)
    }

    fn record_date(&self, payment: NaiveDate) -> Result<Option<NaiveDate>, PricingError> {
        match self.terms.record_date_lag_days() {
            None => Ok(None),
            Some(0) => Ok(Some(payment)),
            Some(n) => Ok(Some(
                self.calendar
                    .advance_business_days(payment, -i64::from(n))?,
            )),
        }
    }

    /// The reference period a flow ending on `end` is counted in, for ACT/ACT
    /// ICMA without a coupon schedule (zero frequency): the year before it.
    fn zero_reference(end: NaiveDate) -> (NaiveDate, NaiveDate) {
        (add_months(end, -12).unwrap_or(end), end)
    }

    /// Year fraction under the terms' day count, as exact fractions; `reference`
    /// is only used by ACT/ACT ICMA when there is no coupon schedule.
    fn fractions(
        &self,
        d1: NaiveDate,
        d2: NaiveDate,
        reference: (NaiveDate, NaiveDate),
    ) -> Result<Fractions, PricingError> {
        let dc = self.terms.day_count();
        match (&self.icma, dc) {
            (Some(periods), DayCount::ActActIcma) => Ok(periods.fractions(d1, d2)?),
            (None, DayCount::ActActIcma) => Ok(act_act_icma_reference_fractions(
                d1,
                d2,
                reference.0,
                reference.1,
            )?),
            _ => Ok(dc.fractions(d1, d2, None)?),
        }
    }

    /// Year fraction under the terms' day count (see [`Bond::fractions`]).
    fn year_fraction(
        &self,
        d1: NaiveDate,
        d2: NaiveDate,
        reference: (NaiveDate, NaiveDate),
    ) -> Result<Decimal, PricingError> {
        Ok(self.fractions(d1, d2, reference)?.to_decimal())
    }

    /// (1 + r/f)^(f t) − 1: interest compounding at the bond's frequency.
    fn compounded_interest(&self, rate: Decimal, t: Decimal) -> Result<Decimal, PricingError> {
        let base = Decimal::ONE + rate / self.per_year;
        let e = self.per_year * t;
        let factor = super::dmath::pow(base, e)
            .ok_or_else(|| PricingError::Overflow("accumulated interest".into()))?;
        Ok(factor - Decimal::ONE)
    }

    fn step_up_rate(steps: &[(NaiveDate, Decimal)], start: NaiveDate) -> Decimal {
        let idx = steps.partition_point(|(from, _)| *from <= start);
        steps[idx.saturating_sub(1)].1
    }

    fn build_flows(&mut self, fixings: &Fixings) -> Result<(), PricingError> {
        let face = self.terms.face();
        let dates = self.schedule.dates().to_vec();
        let mut flows = Vec::with_capacity(dates.len() + 1);
        let mut accruals = Vec::with_capacity(dates.len() + 1);
        let life_start = dates[0];
        let life_end = dates[dates.len() - 1];
        match self.terms.coupon().clone() {
            CouponType::Zero => {}
            CouponType::Accumulating(rate) => {
                let t = self.year_fraction(life_start, life_end, Self::zero_reference(life_end))?;
                let amount = face
                    .checked_mul(self.compounded_interest(rate, t)?)
                    .ok_or_else(|| PricingError::Overflow("accumulated interest".into()))?;
                let payment = self.payment_date(life_end)?;
                flows.push(CashFlow {
                    kind: CashFlowKind::Coupon,
                    accrual_start: life_start,
                    accrual_end: life_end,
                    payment_date: payment,
                    record_date: self.record_date(payment)?,
                    rate: Some(rate),
                    amount: Some(amount),
                });
                accruals.push(Accrual::Compounding(rate));
            }
            coupon => {
                for w in dates.windows(2) {
                    let (start, end) = (w[0], w[1]);
                    let rate = match &coupon {
                        CouponType::Fixed(r) => Some(*r),
                        CouponType::StepUp(steps) => Some(Self::step_up_rate(steps, start)),
                        CouponType::Floating {
                            reference,
                            spread,
                            floor,
                        } => fixings.get(reference, start).map(|fix| {
                            let r = fix + spread;
                            match floor {
                                Some(f) if r < *f => *f,
                                _ => r,
                            }
                        }),
                        CouponType::Zero | CouponType::Accumulating(_) => None,
                    };
                    let amount = match rate {
                        Some(r) => Some(face * r * self.year_fraction(start, end, (start, end))?),
                        None => None,
                    };
                    let payment = self.payment_date(end)?;
                    flows.push(CashFlow {
                        kind: CashFlowKind::Coupon,
                        accrual_start: start,
                        accrual_end: end,
                        payment_date: payment,
                        record_date: self.record_date(payment)?,
                        rate,
                        amount,
                    });
                    accruals.push(Accrual::Simple(rate));
                }
            }
        }
        // QuantLib pays the redemption with the last coupon (a zero coupon bond
        // at maturity adjusted), and keeps the leg sorted by payment date.
        let redemption_date = match flows.last() {
            Some(last) => last.payment_date,
            None => self.payment_date(life_end)?,
        };
        flows.push(CashFlow {
            kind: CashFlowKind::Redemption,
            accrual_start: life_start,
            accrual_end: life_end,
            payment_date: redemption_date,
            record_date: self.record_date(redemption_date)?,
            rate: None,
            amount: Some(face),
        });
        accruals.push(Accrual::Redemption);
        if flows.is_sorted_by_key(|f| f.payment_date) {
            self.flows = flows;
            self.accruals = accruals;
        } else {
            // A stable sort keeps each redemption after the coupon paid with it.
            let mut order: Vec<usize> = (0..flows.len()).collect();
            order.sort_by_key(|&i| flows[i].payment_date);
            self.flows = order.iter().map(|&i| flows[i].clone()).collect();
            self.accruals = order.iter().map(|&i| accruals[i]).collect();
        }
        Ok(())
    }

    /// QuantLib's `getStepwiseDiscountTime` for flow `i` discounted back to
    /// `last` (the previous flow's date, or the settlement date for the first).
    fn step_time(
        &self,
        i: usize,
        last: NaiveDate,
        last_is_settlement: bool,
    ) -> Result<Fractions, PricingError> {
        let flow = &self.flows[i];
        let cf = flow.payment_date;
        match self.accruals[i] {
            Accrual::Redemption => {
                let ref_start = if last_is_settlement {
                    add_months(cf, -12).unwrap_or(cf)
                } else {
                    last
                };
                self.fractions(last, cf, (ref_start, cf))
            }
            _ => {
                let start = flow.accrual_start;
                let reference = if self.icma.is_some() || self.terms.frequency() != Frequency::Zero
                {
                    (start, flow.accrual_end)
                } else {
                    Self::zero_reference(flow.accrual_end)
                };
                if last != start {
                    let mut t = self.fractions(start, cf, reference)?;
                    t.sub_all(&self.fractions(start, last, reference)?);
                    Ok(t)
                } else {
                    self.fractions(last, cf, reference)
                }
            }
        }
    }

    fn build_steps(&mut self) -> Result<(), PricingError> {
        let f = i64::from(self.terms.compounding_per_year());
        let mut denominators = Vec::new();
        let mut table: Vec<StepExponent> = Vec::new();
        let mut flow_step = vec![0; self.flows.len()];
        for (i, slot) in flow_step.iter_mut().enumerate().skip(1) {
            let t = self.step_time(i, self.flows[i - 1].payment_date, false)?;
            let e = StepExponent::new(&t, f, &mut denominators)?;
            *slot = match table.iter().position(|x| *x == e) {
                Some(k) => k,
                None => {
                    table.push(e);
                    table.len() - 1
                }
            };
        }
        self.step_table = table;
        self.flow_step = flow_step;
        self.denominators = denominators;
        Ok(())
    }

    /// Index of the first flow paid after `settle` (QuantLib: a flow on the
    /// settlement date has occurred).
    fn first_unsettled(&self, settle: NaiveDate) -> usize {
        self.flows.partition_point(|f| f.payment_date <= settle)
    }

    fn check_settlement(&self, settle: NaiveDate) -> Result<usize, PricingError> {
        if settle < self.terms.issue_date() {
            return Err(PricingError::Settlement(format!(
                "settlement date {settle} is before issue date {}",
                self.terms.issue_date()
            )));
        }
        let idx = self.first_unsettled(settle);
        if idx >= self.flows.len() {
            return Err(PricingError::Settlement(format!(
                "settlement date {settle} is on or after the last payment ({}): nothing left to price",
                self.flows[self.flows.len() - 1].payment_date
            )));
        }
        Ok(idx)
    }

    /// Interest accrued by flow `i` at `settle` (QuantLib's `Coupon::accruedAmount`).
    fn flow_accrued(&self, i: usize, settle: NaiveDate) -> Result<Decimal, PricingError> {
        let flow = &self.flows[i];
        if settle <= flow.accrual_start || settle > flow.payment_date {
            return Ok(Decimal::ZERO);
        }
        let end = settle.min(flow.accrual_end);
        match self.accruals[i] {
            Accrual::Redemption => Ok(Decimal::ZERO),
            Accrual::Simple(None) => Err(PricingError::MissingFixing {
                accrual_start: flow.accrual_start,
            }),
            Accrual::Simple(Some(rate)) => {
                let t = self.year_fraction(
                    flow.accrual_start,
                    end,
                    (flow.accrual_start, flow.accrual_end),
                )?;
                Ok(self.terms.face() * rate * t)
            }
            Accrual::Compounding(rate) => {
                let t = self.year_fraction(
                    flow.accrual_start,
                    end,
                    Self::zero_reference(flow.accrual_end),
                )?;
                self.terms
                    .face()
                    .checked_mul(self.compounded_interest(rate, t)?)
                    .ok_or_else(|| PricingError::Overflow("accumulated interest".into()))
            }
        }
    }

    /// Accrued interest at `settle`, in currency for the terms' face amount
    /// (QuantLib's `CashFlows::accruedAmount`: the coupons paid on the next
    /// payment date after `settle`). Zero on and after the last payment.
    pub fn accrued(&self, settle: NaiveDate) -> Result<Decimal, PricingError> {
        let idx = self.first_unsettled(settle);
        let Some(next) = self.flows.get(idx) else {
            return Ok(Decimal::ZERO);
        };
        let pay = next.payment_date;
        let mut sum = Decimal::ZERO;
        for i in idx..self.flows.len() {
            if self.flows[i].payment_date != pay {
                break;
            }
            sum += self.flow_accrued(i, settle)?;
        }
        Ok(sum)
    }

    /// Value of an accumulating (or zero coupon) bond on `date`: face plus the
    /// interest capitalised so far. For a pure discount bond (no accumulating
    /// rate) the value accretes at `issue_yield`, which must then be given: the
    /// dirty price at that yield, in currency.
    pub fn accreted_value(
        &self,
        date: NaiveDate,
        issue_yield: Option<Decimal>,
    ) -> Result<Decimal, PricingError> {
        match (self.terms.coupon(), issue_yield) {
            (CouponType::Accumulating(_), _) => self
                .terms
                .face()
                .checked_add(self.accrued(date)?)
                .ok_or_else(|| PricingError::Overflow("accreted value".into())),
            (CouponType::Zero, Some(y)) => {
                let idx = self.check_settlement(date)?;
                Ok(self.npv(idx, date, y, false)?.0)
            }
            (CouponType::Zero, None) => Err(PricingError::InvalidTerms(
                "a zero coupon bond accretes at its issue yield: give the yield".into(),
            )),
            (other, _) => Err(PricingError::InvalidTerms(format!(
                "accreted value is defined for zero and accumulating bonds, not {}",
                other.as_str()
            ))),
        }
    }

    /// Present value at `settle` (currency) of the flows from `idx`, and, when
    /// `with_slope`, the sum of amount × cumulative exponent × discount factor
    /// (what the derivative in the yield needs).
    ///
    /// Summed backwards (Horner): S_i = a_i + F_{i+1} S_{i+1}, with F the step
    /// discount factor, and T_i = F_{i+1} (T_{i+1} + e_{i+1} S_{i+1}) for the slope.
    /// A whole step divides by the short base 1 + y/f, far cheaper in `Decimal`
    /// than multiplying by its full-precision inverse.
    fn npv(
        &self,
        idx: usize,
        settle: NaiveDate,
        y: Decimal,
        with_slope: bool,
    ) -> Result<(Decimal, Decimal), PricingError> {
        if y < YIELD_MIN || y > YIELD_MAX {
            return Err(PricingError::YieldOutOfRange(y));
        }
        // Report the earliest coupon still waiting for its fixing.
        if let Some(waiting) = self.flows[idx..].iter().find(|f| f.amount.is_none()) {
            return Err(PricingError::MissingFixing {
                accrual_start: waiting.accrual_start,
            });
        }
        let base = Decimal::ONE + y / self.per_year;
        let ln_base = ln(base).ok_or(PricingError::YieldOutOfRange(y))?;
        let mut denominators = self.denominators.clone();
        let first = StepExponent::new(
            &self.step_time(idx, settle, true)?,
            i64::from(self.terms.compounding_per_year()),
            &mut denominators,
        )?;
        let mut powers = Powers {
            base,
            ln_base,
            denominators: &denominators,
            roots: vec![None; denominators.len()],
            base_powers: Vec::new(),
        };
        let out_of_range = || PricingError::YieldOutOfRange(y);
        // Flows of an accumulating bond at an extreme rate can each be near the
        // decimal limit: their sum, and the slope's products, are checked.
        let overflow = || PricingError::Overflow("present value".into());
        let mut factors: Vec<Option<StepFactor>> = vec![None; self.step_table.len()];
        let n = self.flows.len();
        let mut sum = Decimal::ZERO;
        let mut slope = Decimal::ZERO;
        for i in (idx..n).rev() {
            if i + 1 < n {
                let k = self.flow_step[i + 1];
                let factor = match factors[k] {
                    Some(f) => f,
                    None => {
                        let f = powers
                            .factor(&self.step_table[k])
                            .ok_or_else(out_of_range)?;
                        factors[k] = Some(f);
                        f
                    }
                };
                if with_slope {
                    let e = self.step_table[k].value;
                    let carried = if e == Decimal::ONE {
                        slope.checked_add(sum)
                    } else {
                        e.checked_mul(sum).and_then(|es| slope.checked_add(es))
                    }
                    .ok_or_else(overflow)?;
                    slope = factor.apply(carried).ok_or_else(out_of_range)?;
                }
                sum = factor.apply(sum).ok_or_else(out_of_range)?;
            }
            let amount = self.flows[i].amount.ok_or(PricingError::MissingFixing {
                accrual_start: self.flows[i].accrual_start,
            })?;
            sum = sum.checked_add(amount).ok_or_else(overflow)?;
        }
        let factor = powers.factor(&first).ok_or_else(out_of_range)?;
        if with_slope {
            let carried = first
                .value
                .checked_mul(sum)
                .and_then(|v| slope.checked_add(v))
                .ok_or_else(overflow)?;
            slope = factor.apply(carried).ok_or_else(out_of_range)?;
        }
        let pv = factor.apply(sum).ok_or_else(out_of_range)?;
        Ok((pv, slope))
    }

    /// `amount` (currency) in percent of face. An accumulating bond at an extreme
    /// rate can be worth more than 1e26 times its face, which no percentage holds.
    fn percent(&self, amount: Decimal) -> Result<Decimal, PricingError> {
        amount
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|a| a.checked_div(self.terms.face()))
            .ok_or_else(|| PricingError::Overflow(format!("{amount} in percent of face")))
    }

    /// Dirty price (percent of face) at `settle` for yield `y`, compounded at the
    /// bond's frequency (annually for zero frequency).
    pub fn dirty_price(&self, settle: NaiveDate, y: Decimal) -> Result<Decimal, PricingError> {
        let idx = self.check_settlement(settle)?;
        self.percent(self.npv(idx, settle, y, false)?.0)
    }

    /// Clean price, dirty price and accrued at `settle` for yield `y`.
    pub fn price(&self, settle: NaiveDate, y: Decimal) -> Result<Price, PricingError> {
        let dirty = self.dirty_price(settle, y)?;
        let accrued = self.accrued(settle)?;
        let clean = dirty
            .checked_sub(self.percent(accrued)?)
            .ok_or_else(|| PricingError::Overflow("clean price".into()))?;
        Ok(Price {
            clean,
            dirty,
            accrued,
        })
    }

    /// Clean price (percent of face) at `settle` for yield `y`.
    pub fn clean_price(&self, settle: NaiveDate, y: Decimal) -> Result<Decimal, PricingError> {
        Ok(self.price(settle, y)?.clean)
    }

    /// The yield whose clean price at `settle` is `clean` (percent of face).
    pub fn yield_from_clean_price(
        &self,
        settle: NaiveDate,
        clean: Decimal,
    ) -> Result<Decimal, PricingError> {
        let accrued = self.accrued(settle)?;
        let dirty = clean
            .checked_add(self.percent(accrued)?)
            .ok_or_else(|| PricingError::Overflow("dirty price".into()))?;
        self.yield_from_dirty_price(settle, dirty)
    }

    /// The yield whose dirty price at `settle` is `dirty` (percent of face),
    /// solved by safeguarded Newton iteration to [`YIELD_TOLERANCE`].
    pub fn yield_from_dirty_price(
        &self,
        settle: NaiveDate,
        dirty: Decimal,
    ) -> Result<Decimal, PricingError> {
        let idx = self.check_settlement(settle)?;
        if dirty <= Decimal::ZERO {
            return Err(PricingError::NoYield(format!(
                "price must be positive, found {dirty}"
            )));
        }
        let target = dirty
            .checked_mul(self.terms.face())
            .map(|t| t / Decimal::ONE_HUNDRED)
            .ok_or_else(|| PricingError::Overflow(format!("a dirty price of {dirty}")))?;
        let f = self.per_year;
        let (mut lo, mut hi) = (YIELD_MIN, YIELD_MAX);
        // Start from the textbook approximation (coupon + pull to par per year)
        // over the average of price and par: one or two Newton steps fewer.
        let coupon = match self.terms.coupon() {
            CouponType::Fixed(r) => *r,
            _ => Decimal::ZERO,
        };
        let last = self.flows[self.flows.len() - 1].payment_date;
        let years = Decimal::from((last - settle).num_days().max(1)) / Decimal::from(365);
        let guess = (coupon + (Decimal::ONE - dirty / Decimal::ONE_HUNDRED) / years)
            / ((Decimal::ONE + dirty / Decimal::ONE_HUNDRED) / Decimal::TWO);
        let mut y = guess.clamp(Decimal::new(-4, 1), Decimal::new(5, 0));
        for _ in 0..YIELD_ITERATIONS_MAX {
            let (pv, weighted) = self.npv(idx, settle, y, true)?;
            let g = pv - target;
            if g.is_zero() {
                return Ok(y);
            }
            // Price falls as the yield rises: keep the bracket around the root.
            if g > Decimal::ZERO {
                lo = y;
            } else {
                hi = y;
            }
            // Newton step when the slope is usable; bisection of the bracket when
            // the step would leave it (or the slope underflowed to nothing).
            let newton = (-weighted)
                .checked_div(f + y)
                .filter(|slope| *slope < Decimal::ZERO)
                .and_then(|slope| g.checked_div(slope))
                .and_then(|step| y.checked_sub(step))
                .filter(|next| *next > lo && *next < hi);
            let next = newton.unwrap_or((lo + hi) / Decimal::TWO);
            let step = (next - y).abs();
            y = next;
            if step < YIELD_TOLERANCE {
                if (y - YIELD_MIN).abs() < Decimal::new(1, 9)
                    || (YIELD_MAX - y).abs() < Decimal::new(1, 9)
                {
                    break;
                }
                return Ok(y);
            }
        }
        Err(PricingError::NoYield(format!(
            "no yield between {YIELD_MIN} and {YIELD_MAX} gives a dirty price of {dirty} at {settle}"
        )))
    }

    /// Sum over coupon flows paid after `settle` of face × year fraction ×
    /// discount factor at yield `y` (the value of a 100% coupon), in currency.
    pub(crate) fn annuity(&self, settle: NaiveDate, y: Decimal) -> Result<Decimal, PricingError> {
        let rate_one = self
            .terms
            .with_coupon(CouponType::Fixed(Decimal::ONE))
            .and_then(|t| Bond::with_calendar(&t, &self.calendar, &Fixings::new()))?;
        let zero = self
            .terms
            .with_coupon(CouponType::Fixed(Decimal::ZERO))
            .and_then(|t| Bond::with_calendar(&t, &self.calendar, &Fixings::new()))?;
        let idx = rate_one.check_settlement(settle)?;
        Ok(rate_one.npv(idx, settle, y, false)?.0 - zero.npv(idx, settle, y, false)?.0)
    }

    /// The calendar payment dates are adjusted on.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }
}

/// The exponent f·t of one discounting step, split exactly into a whole number
/// and fractions m/d with |m| ≤ d/2: the discount factor is then
/// v^whole · Π (v^(1/d))^m with v = 1/(1 + y/f), which needs one exponential per
/// distinct denominator (a handful per bond) rather than one per step.
#[derive(Clone, Debug, PartialEq, Eq)]
struct StepExponent {
    whole: i64,
    /// (m, index of d in the bond's denominators).
    parts: Vec<(i64, usize)>,
    /// The exponent as a decimal (for the derivative).
    value: Decimal,
}

/// Largest whole power of the discount base a step may take.
const STEP_WHOLE_MAX: i64 = 4096;

impl StepExponent {
    fn new(
        t: &Fractions,
        per_year: i64,
        denominators: &mut Vec<i64>,
    ) -> Result<StepExponent, PricingError> {
        let overflow = || PricingError::Overflow("discount exponent".into());
        // Sum the numerators per denominator, exactly.
        let mut by_den: Vec<(i64, i128)> = Vec::with_capacity(4);
        for &(n, d) in t.terms() {
            let n = i128::from(n) * i128::from(per_year);
            match by_den.iter_mut().find(|(den, _)| *den == d) {
                Some((_, sum)) => *sum += n,
                None => by_den.push((d, n)),
            }
        }
        let mut whole: i128 = 0;
        let mut parts = Vec::with_capacity(by_den.len());
        let mut value = Decimal::ZERO;
        for (d, num) in by_den {
            let d128 = i128::from(d);
            // Nearest whole number, so the remaining fraction is at most a half.
            let w = (2 * num + d128).div_euclid(2 * d128);
            let m = num - w * d128;
            whole += w;
            if m != 0 {
                let m = i64::try_from(m).map_err(|_| overflow())?;
                let idx = match denominators.iter().position(|x| *x == d) {
                    Some(k) => k,
                    None => {
                        denominators.push(d);
                        denominators.len() - 1
                    }
                };
                parts.push((m, idx));
                value += Decimal::from(m) / Decimal::from(d);
            }
        }
        let whole = i64::try_from(whole)
            .ok()
            .filter(|w| w.abs() <= STEP_WHOLE_MAX)
            .ok_or_else(overflow)?;
        parts.sort_unstable();
        Ok(StepExponent {
            whole,
            parts,
            value: value + Decimal::from(whole),
        })
    }
}

/// A step's discount factor (1 + y/f)^(−whole) · correction, kept in two parts
/// so that applying it divides by a short power of the base.
#[derive(Clone, Copy, Debug)]
struct StepFactor {
    whole: i64,
    /// (1 + y/f)^|whole|.
    base_power: Decimal,
    /// Π (v^(1/d))^m, if the exponent has fractional parts.
    correction: Option<Decimal>,
}

impl StepFactor {
    fn apply(&self, x: Decimal) -> Option<Decimal> {
        let mut r = match self.whole {
            0 => x,
            w if w > 0 => x.checked_div(self.base_power)?,
            _ => x.checked_mul(self.base_power)?,
        };
        if let Some(c) = self.correction {
            r = r.checked_mul(c)?;
        }
        Some(r)
    }
}

/// Powers of the discount base 1 + y/f for one yield.
struct Powers<'a> {
    base: Decimal,
    ln_base: Decimal,
    denominators: &'a [i64],
    /// v^(1/d) = (1 + y/f)^(−1/d) for each denominator, computed on first use.
    roots: Vec<Option<Decimal>>,
    /// (1 + y/f)^k for the whole parts met so far.
    base_powers: Vec<(i64, Decimal)>,
}

impl Powers<'_> {
    fn root(&mut self, idx: usize) -> Option<Decimal> {
        if let Some(r) = self.roots[idx] {
            return Some(r);
        }
        // e^(−ln(1+y/f)/d): a small argument, so few series terms.
        let r = exp(-self.ln_base / Decimal::from(self.denominators[idx]))?;
        self.roots[idx] = Some(r);
        Some(r)
    }

    fn base_power(&mut self, k: i64) -> Option<Decimal> {
        if k == 1 {
            return Some(self.base);
        }
        if let Some((_, p)) = self.base_powers.iter().find(|(kk, _)| *kk == k) {
            return Some(*p);
        }
        let p = powi(self.base, k)?;
        self.base_powers.push((k, p));
        Some(p)
    }

    fn factor(&mut self, e: &StepExponent) -> Option<StepFactor> {
        let base_power = match e.whole {
            0 => Decimal::ONE,
            k => self.base_power(k.abs())?,
        };
        let mut correction: Option<Decimal> = None;
        for &(m, idx) in &e.parts {
            let p = powi(self.root(idx)?, m)?;
            correction = Some(match correction {
                Some(c) => c.checked_mul(p)?,
                None => p,
            });
        }
        Some(StepFactor {
            whole: e.whole,
            base_power,
            correction,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{PricingError, diaspora_yield, par_coupon};
    use rust_decimal_macros::dec;

    fn d(s: &str) -> NaiveDate {
        crate::calendar::dates::parse_date(s).unwrap()
    }

    /// Semiannual 5.25% ACT/ACT ICMA, 2026-03-16 to 2029-03-16, weekends only;
    /// `extra` is spliced into the JSON object.
    fn bond_with(extra: &str, fixings_json: &str) -> Result<Bond, PricingError> {
        let text = format!(
            r#"{{"face": "1000", "frequency": "semiannual", "day_count": "ACT/ACT ICMA",
            "issue_date": "2026-03-16", "maturity_date": "2029-03-16", "business_day_convention": "following",
            "calendar": "weekends_only" {extra} {fixings_json}}}"#
        );
        let (terms, fixings) = BondTerms::from_json(&text)?;
        Bond::new(&terms, &fixings)
    }

    fn check_amounts(bond: &Bond, expected: &[Option<Decimal>]) {
        let got: Vec<Option<Decimal>> = bond.cashflows().iter().map(|c| c.amount).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn floating_coupons_wait_for_their_fixings() {
        let floating = r#", "coupon_type": "floating", "floating": {"reference": "SOFR", "spread": "0.01", "floor": "0.02"}"#;
        let bond = bond_with(
            floating,
            r#", "fixings": [{"date": "2026-03-16", "rate": "0.043"}, {"date": "2026-09-16", "rate": "0.001"}]"#,
        )
        .unwrap();
        let h = Some(dec!(1000) * dec!(0.5));
        // 4.3% + 1%; then 0.1% + 1% floored at 2%; then waiting.
        check_amounts(
            &bond,
            &[
                h.map(|x| x * dec!(0.053)),
                h.map(|x| x * dec!(0.02)),
                None,
                None,
                None,
                None,
                Some(dec!(1000)),
            ],
        );
        assert_eq!(bond.cashflows()[2].rate, None);
        let a = bond.accrued(d("2026-10-16")).unwrap();
        assert!(
            (a - dec!(10) * dec!(30) / dec!(181)).abs() < dec!(1e-24),
            "{a}"
        );
        assert!(matches!(
            bond.accrued(d("2027-04-01")),
            Err(PricingError::MissingFixing { accrual_start }) if accrual_start == d("2027-03-16")
        ));
        assert!(matches!(
            bond.dirty_price(d("2026-04-01"), dec!(0.05)),
            Err(PricingError::MissingFixing { .. })
        ));
    }

    #[test]
    fn step_up_rates_follow_accrual_start() {
        let bond = bond_with(
            r#", "coupon_rate": "0.04", "coupon_type": "step_up", "step_up": [{"from": "2027-03-16", "rate": "0.05"}, {"from": "2028-06-01", "rate": "0.06"}]"#,
            "",
        )
        .unwrap();
        let rates: Vec<Option<Decimal>> = bond.cashflows().iter().map(|c| c.rate).collect();
        let (a, b, c) = (Some(dec!(0.04)), Some(dec!(0.05)), Some(dec!(0.06)));
        assert_eq!(rates, vec![a, a, b, b, b, c, None]);
    }

    #[test]
    fn accumulating_interest_compounds_to_maturity() {
        let bond = bond_with(
            r#", "coupon_rate": "0.06", "coupon_type": "accumulating""#,
            "",
        )
        .unwrap();
        let flows = bond.cashflows();
        assert_eq!(flows.len(), 2);
        // Six regular ICMA periods: 1000 × (1.03^6 − 1).
        let expected = dec!(1000)
            * (dec!(1.03) * dec!(1.03) * dec!(1.03) * dec!(1.03) * dec!(1.03) * dec!(1.03)
                - dec!(1));
        let got = flows[0].amount.unwrap();
        assert!((got - expected).abs() < dec!(1e-20), "{got} vs {expected}");
        // Half-way through the life: 1000 × 1.03^3.
        let value = bond.accreted_value(d("2027-09-16"), None).unwrap();
        assert!((value - dec!(1092.727)).abs() < dec!(1e-20), "{value}");
        assert_eq!(bond.accrued(d("2026-03-16")).unwrap(), Decimal::ZERO);
    }

    #[test]
    fn zero_coupon_accretes_at_its_issue_yield() {
        let text = r#"{"face": "1000", "coupon_rate": "0", "frequency": "zero", "day_count": "30/360 BOND",
            "issue_date": "2026-03-16", "maturity_date": "2031-03-17", "business_day_convention": "following",
            "calendar": "none"}"#;
        let (terms, fixings) = BondTerms::from_json(text).unwrap();
        let bond = Bond::new(&terms, &fixings).unwrap();
        assert_eq!(bond.accrued(d("2028-01-01")).unwrap(), Decimal::ZERO);
        // 5 years and one 30/360 day at 4% annual.
        let v = bond
            .accreted_value(d("2026-03-16"), Some(dec!(0.04)))
            .unwrap();
        let expected = dec!(1000)
            / crate::pricing::dmath::pow(dec!(1.04), dec!(5) + dec!(1) / dec!(360)).unwrap();
        assert!((v - expected).abs() < dec!(1e-18), "{v} vs {expected}");
        assert!(bond.accreted_value(d("2026-03-16"), None).is_err());
    }

    #[test]
    fn record_dates_and_payment_lag() {
        let bond = bond_with(
            r#", "coupon_rate": "0.05", "payment_lag_days": 2, "record_date_lag_days": 3"#,
            "",
        )
        .unwrap();
        let first = &bond.cashflows()[0];
        // 2026-09-16 is a Wednesday: paid Friday 18th, record date Tuesday 15th.
        assert_eq!(first.payment_date, d("2026-09-18"));
        assert_eq!(first.record_date, Some(d("2026-09-15")));
        let last = bond.cashflows().last().unwrap();
        assert_eq!(last.kind, CashFlowKind::Redemption);
        assert_eq!(last.payment_date, bond.cashflows()[5].payment_date);
    }

    #[test]
    fn settlement_and_yield_limits() {
        let bond = bond_with(r#", "coupon_rate": "0.05""#, "").unwrap();
        let check_err = |r: Result<Decimal, PricingError>, fragment: &str| {
            let e = r.unwrap_err().to_string();
            assert!(e.contains(fragment), "{e:?} should mention {fragment:?}");
        };
        check_err(
            bond.dirty_price(d("2026-01-01"), dec!(0.05)),
            "before issue date",
        );
        check_err(
            bond.dirty_price(d("2029-03-16"), dec!(0.05)),
            "nothing left to price",
        );
        check_err(
            bond.dirty_price(d("2027-01-01"), dec!(-0.9)),
            "out of range",
        );
        check_err(bond.dirty_price(d("2027-01-01"), dec!(11)), "out of range");
        check_err(
            bond.yield_from_clean_price(d("2027-01-01"), dec!(-5)),
            "price must be positive",
        );
        check_err(
            bond.yield_from_clean_price(d("2027-01-01"), dec!(1e-9)),
            "no yield",
        );
        // The largest decimal as a price overflows the dirty price: an error, no panic.
        check_err(
            bond.yield_from_clean_price(d("2027-01-01"), Decimal::MAX),
            "overflow",
        );
        check_err(
            bond.yield_from_dirty_price(d("2027-01-01"), Decimal::MAX),
            "overflow",
        );
        assert_eq!(bond.accrued(d("2030-01-01")).unwrap(), Decimal::ZERO);
        // Par on a coupon date gives about the coupon (payments moved off weekends shift it).
        let y = bond
            .yield_from_clean_price(d("2027-03-16"), dec!(100))
            .unwrap();
        assert!((y - dec!(0.05)).abs() < dec!(1e-5), "{y}");
    }

    #[test]
    fn par_coupon_prices_at_par() {
        let bond = bond_with(r#", "coupon_rate": "0.05""#, "").unwrap();
        let y = diaspora_yield(dec!(0.065), dec!(150));
        assert_eq!(y, dec!(0.05));
        let c = par_coupon(bond.terms(), y).unwrap();
        let at_par = bond.terms().with_coupon(CouponType::Fixed(c)).unwrap();
        let p = Bond::new(&at_par, &Fixings::new())
            .unwrap()
            .clean_price(d("2026-03-16"), y)
            .unwrap();
        assert!((p - dec!(100)).abs() < dec!(1e-20), "{p}");
    }

    /// Found by fuzzing: accumulated interest that no decimal holds is an error,
    /// never an arithmetic panic.
    #[test]
    fn accumulated_interest_too_large_for_a_decimal_is_an_error() {
        // 500% accumulating for 33 years: about 6^33 ≈ 5e25 times a face of 1000.
        let text = r#"{"face":"1000","coupon_rate":"5","frequency":"zero","day_count":"ACT/ACT ISDA",
            "issue_date":"4039-03-15","maturity_date":"4072-06-30","business_day_convention":"following",
            "calendar":"weekends_only"}"#;
        let (terms, fixings) = BondTerms::from_json(text).unwrap();
        let e = Bond::new(&terms, &fixings).unwrap_err();
        assert_eq!(e, PricingError::Overflow("accumulated interest".into()));
    }

    /// Found by fuzzing: a price or yield that no decimal holds is an error, never
    /// an arithmetic panic.
    #[test]
    fn prices_too_large_for_a_decimal_are_errors() {
        fn check_err<T: std::fmt::Debug>(r: Result<T, PricingError>, fragment: &str) {
            let e = r.unwrap_err().to_string();
            assert!(e.contains(fragment), "{e:?} should mention {fragment:?}");
        }
        // 900% accumulating for 24 years: the redemption is about 1e27 times face.
        let text = r#"{"face":"1000","coupon_rate":"9","frequency":"zero","day_count":"ACT/ACT ISDA",
            "issue_date":"2012-03-07","maturity_date":"2036-06-30","business_day_convention":"following",
            "calendar":"weekends_only"}"#;
        let (terms, fixings) = BondTerms::from_json(text).unwrap();
        let bond = Bond::new(&terms, &fixings).unwrap();
        check_err(bond.price(d("2026-12-01"), dec!(0.045)), "overflow");
        check_err(bond.dirty_price(d("2026-12-01"), dec!(0.045)), "overflow");
        // A clean price that, times the face, no decimal holds.
        let bond = bond_with(r#", "coupon_rate": "0.05""#, "").unwrap();
        check_err(
            bond.yield_from_clean_price(d("2027-01-01"), dec!(7e27)),
            "overflow",
        );
        check_err(
            bond.yield_from_clean_price(d("2027-01-01"), Decimal::MAX),
            "overflow",
        );
    }

    /// Found by fuzzing: the yield solver's slope over flows near the decimal
    /// limit is an error, never an arithmetic panic.
    #[test]
    fn solving_for_a_yield_over_huge_flows_is_an_error() {
        // 500% accumulating for 32 years: the redemption is about 7e27.
        let text = r#"{"face":"1000","coupon_rate":"5","frequency":"zero","day_count":"ACT/ACT ISDA",
            "issue_date":"4040-03-15","maturity_date":"4072-06-30","business_day_convention":"following",
            "calendar":"weekends_only","payment_lag_days":5}"#;
        let (terms, fixings) = BondTerms::from_json(text).unwrap();
        let bond = Bond::new(&terms, &fixings).unwrap();
        let e = bond
            .yield_from_clean_price(d("4040-03-15"), dec!(59.8099))
            .unwrap_err();
        assert!(matches!(e, PricingError::Overflow(_)), "{e}");
    }
}
