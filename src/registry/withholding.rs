//! Withholding tax on coupons by the holder's residence: effective-dated tables
//! (a default rate and treaty rates by country) per series or for the whole
//! programme, amended by the treasury; residences recorded by the banks; and
//! the gross, withheld and net amount of every coupon payment.
//!
//! Invariants: a coupon pays withholding only when a table is in force on its
//! payment date; each payment's `withheld = round_half_even(gross × rate)` to
//! the currency's minor unit and `net = gross − withheld`, so the totals by
//! bank and by country are sums of the same minor-unit amounts and balance to
//! the cent. What was in force is read "as known before" an entry index, so a
//! payment's figures can be re-derived later (an undeliverable report) exactly
//! as they were decided, whatever tables or residences were recorded since.

use super::coupons::Payment;
use super::series::{Country, SeriesId, series};
use super::*;
use crate::money::{Currency, RoundingRule, round_to_minor};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The rounding of each withheld amount (to the currency's minor unit).
pub const WITHHOLDING_ROUNDING: RoundingRule = RoundingRule::HalfEven;
/// Most treaty rates one table holds (there are 249 ISO countries).
pub const TREATY_RATES_MAX: usize = 250;
/// Decimal places a withholding rate may have (0.125 = 12.5 %).
pub const RATE_DECIMALS_MAX: u32 = 6;

/// One effective-dated withholding table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    pub effective_from: NaiveDate,
    /// The index of the entry that recorded it.
    pub recorded_at_index: u64,
    pub default_rate: Decimal,
    pub treaty_rates: BTreeMap<Country, Decimal>,
}

/// One recorded change of an investor's residence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidenceEntry {
    pub effective_from: NaiveDate,
    pub recorded_at_index: u64,
    pub country: Country,
}

/// The treasury's command: a table for a series (`None`: the programme's, for
/// series without their own) in force from a date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetWithholdingTable {
    pub series_id: Option<SeriesId>,
    pub effective_from: NaiveDate,
    pub default_rate: Decimal,
    pub treaty_rates: Vec<(Country, Decimal)>,
}

/// A bank's command: its client's residence from a date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordResidence {
    pub investor_ref: InvestorRef,
    pub country: Country,
    pub effective_from: NaiveDate,
}

/// The event of [`SetWithholdingTable`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WithholdingTableSet {
    pub series_id: Option<SeriesId>,
    pub effective_from: NaiveDate,
    pub default_rate: Decimal,
    /// Sorted by country, no repeats.
    pub treaty_rates: Vec<(Country, Decimal)>,
}

/// The event of [`RecordResidence`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResidenceRecorded {
    pub bank_id: ParticipantId,
    pub investor_ref: InvestorRef,
    pub country: Country,
    pub effective_from: NaiveDate,
}

/// What was withheld from one holding's coupon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentWithholding {
    /// The holder's residence on the payment date (`None`: not known, the
    /// default rate applies).
    pub residence: Option<Country>,
    pub rate: Decimal,
    pub withheld: Decimal,
    /// gross − withheld.
    pub net: Decimal,
}

/// One bank's gross, withheld and net totals of a coupon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankWithholding {
    pub bank_id: ParticipantId,
    pub holdings: u64,
    pub gross: Decimal,
    pub withheld: Decimal,
    pub net: Decimal,
}

/// One country's totals of a coupon (`None`: residence not known).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountryWithholding {
    pub country: Option<Country>,
    pub rate: Decimal,
    pub holdings: u64,
    pub gross: Decimal,
    pub withheld: Decimal,
    pub net: Decimal,
}

/// A coupon's withholding: totals, by bank (sorted by bank id) and by country
/// (sorted, unknown first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithholdingSummary {
    pub rounding: RoundingRule,
    pub gross: Decimal,
    pub withheld: Decimal,
    pub net: Decimal,
    pub by_bank: Vec<BankWithholding>,
    pub by_country: Vec<CountryWithholding>,
}

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

fn check_rate(field: &str, rate: Decimal) -> Result<(), RegistryError> {
    if rate < Decimal::ZERO || rate > Decimal::ONE || rate.scale() > RATE_DECIMALS_MAX {
        return Err(invalid(
            field,
            format!(
                "expected a decimal fraction from 0 to 1 with at most {RATE_DECIMALS_MAX} decimals (0.15 = 15 %), found {rate}"
            ),
        ));
    }
    Ok(())
}

pub(super) fn decide_table(
    state: &State,
    caller: &Caller,
    c: &SetWithholdingTable,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Treasury, "setting a withholding table")?;
    check_rate("default_rate", c.default_rate)?;
    if c.treaty_rates.len() > TREATY_RATES_MAX {
        return Err(invalid(
            "treaty_rates",
            format!(
                "at most {TREATY_RATES_MAX} treaty rates, found {}",
                c.treaty_rates.len()
            ),
        ));
    }
    let mut sorted: BTreeMap<Country, Decimal> = BTreeMap::new();
    for (country, rate) in &c.treaty_rates {
        check_rate("treaty_rates.rate", *rate)?;
        if sorted.insert(*country, *rate).is_some() {
            return Err(invalid(
                "treaty_rates.country",
                format!("{country} is given twice"),
            ));
        }
    }
    if let Some(id) = &c.series_id {
        let s = series(state, id)?;
        if matches!(s.status, SeriesStatus::Matured | SeriesStatus::Cancelled) {
            return Err(RegistryError::WrongSeriesState {
                series: id.clone(),
                action: "set the withholding table of",
                needs: "draft, open, closed, allotted or issued",
                found: s.status,
            });
        }
    }
    Ok(vec![Event::WithholdingTableSet(WithholdingTableSet {
        series_id: c.series_id.clone(),
        effective_from: c.effective_from,
        default_rate: c.default_rate,
        treaty_rates: sorted.into_iter().collect(),
    })])
}

pub(super) fn decide_residence(
    state: &State,
    caller: &Caller,
    c: &RecordResidence,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Bank, "recording a client's residence")?;
    let known = state
        .holdings_by_investor
        .get(&(caller.participant_id.clone(), c.investor_ref.clone()))
        .is_some_and(|s| !s.is_empty());
    if !known {
        return Err(RegistryError::NoHoldingsAtBank {
            investor: c.investor_ref.clone(),
            bank: caller.participant_id.clone(),
        });
    }
    Ok(vec![Event::ResidenceRecorded(ResidenceRecorded {
        bank_id: caller.participant_id.clone(),
        investor_ref: c.investor_ref.clone(),
        country: c.country,
        effective_from: c.effective_from,
    })])
}

fn fail(meta: &EntryMeta, reason: String) -> ApplyError {
    ApplyError {
        index: meta.index,
        reason,
    }
}

pub(super) fn apply_table(
    state: &mut State,
    meta: &EntryMeta,
    e: &WithholdingTableSet,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    if let Some(id) = &e.series_id {
        if !state.series.contains_key(id) {
            return Err(fail(meta, format!("series {id} does not exist")));
        }
    }
    let entries = state
        .servicing
        .withholding
        .entry(e.series_id.clone())
        .or_default();
    // Every table is kept: a later one for the same date supersedes it only for
    // payments recorded after it, and a past payment is re-derived (reported
    // undeliverable, say) from the table in force when it was made.
    let at = entries.partition_point(|t| t.effective_from <= e.effective_from);
    entries.insert(
        at,
        TableEntry {
            effective_from: e.effective_from,
            recorded_at_index: meta.index,
            default_rate: e.default_rate,
            treaty_rates: e.treaty_rates.iter().copied().collect(),
        },
    );
    changes.touch(StateKey::Withholding(e.series_id.clone()));
    Ok(())
}

pub(super) fn apply_residence(
    state: &mut State,
    meta: &EntryMeta,
    e: &ResidenceRecorded,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let key = (e.bank_id.clone(), e.investor_ref.clone());
    let entries = state.servicing.residences.entry(key.clone()).or_default();
    entries.push(ResidenceEntry {
        effective_from: e.effective_from,
        recorded_at_index: meta.index,
        country: e.country,
    });
    changes.touch(StateKey::Residence(key));
    Ok(())
}

/// The table in force for `series` on `date`, as known before entry `before`:
/// the series' own (the latest effective on or before the date, recorded
/// before the index), else the programme's; `None` when neither has one.
pub fn table_in_force<'a>(
    state: &'a State,
    series: &SeriesId,
    date: NaiveDate,
    before: u64,
) -> Option<&'a TableEntry> {
    let pick = |key: Option<SeriesId>| {
        state
            .servicing
            .withholding
            .get(&key)?
            .iter()
            .filter(|t| t.recorded_at_index < before && t.effective_from <= date)
            .max_by_key(|t| (t.effective_from, t.recorded_at_index))
    };
    pick(Some(series.clone())).or_else(|| pick(None))
}

/// The countries of the first subscriptions of a series' holders, by (investor,
/// bank), from subscriptions recorded before entry `before`: a holder's
/// residence until its bank records a change.
pub fn first_countries(
    state: &State,
    series: &SeriesId,
    before: u64,
) -> BTreeMap<(InvestorRef, ParticipantId), Country> {
    let mut out = BTreeMap::new();
    for sub in state.book(series).filter(|s| s.subscription_id < before) {
        out.entry((sub.investor_ref.clone(), sub.bank_id.clone()))
            .or_insert(sub.country);
    }
    out
}

/// An investor's residence on `date`, as known before entry `before`: the
/// latest change its bank recorded effective on or before the date, else
/// `initial` (see [`initial_residence`]).
pub fn residence_on(
    state: &State,
    bank: &ParticipantId,
    investor: &InvestorRef,
    date: NaiveDate,
    before: u64,
    initial: Option<Country>,
) -> Option<Country> {
    recorded_residence(state, bank, investor, date, before).or(initial)
}

/// The latest residence change a bank recorded for its client, effective on or
/// before `date` and recorded before entry `before`.
fn recorded_residence(
    state: &State,
    bank: &ParticipantId,
    investor: &InvestorRef,
    date: NaiveDate,
    before: u64,
) -> Option<Country> {
    state
        .servicing
        .residences
        .get(&(bank.clone(), investor.clone()))
        .and_then(|list| {
            list.iter()
                .filter(|r| r.recorded_at_index < before && r.effective_from <= date)
                .max_by_key(|r| (r.effective_from, r.recorded_at_index))
        })
        .map(|r| r.country)
}

/// How many holdings back [`initial_residence`] follows moves and successions
/// (each step goes to a holding opened earlier, so a real chain ends well
/// before; the bound keeps a damaged state from looping).
const INHERITED_STEPS_MAX: usize = 64;

/// The residence a holding of `series` starts with, as known before entry
/// `before`, on `date`: the country of the investor's first subscription of the
/// series at that bank (`first`, from [`first_countries`]); else, for a holding
/// a transfer or succession opened, what its first incoming units carried: a
/// gift, the recipient's country named in the transfer; a move, the same
/// investor's residence at the delivering bank; a succession, the deceased's
/// residence at the same bank (each on `date`, recorded or itself inherited);
/// else unknown.
pub fn initial_residence(
    state: &State,
    series: &SeriesId,
    bank: &ParticipantId,
    investor: &InvestorRef,
    date: NaiveDate,
    before: u64,
    first: &BTreeMap<(InvestorRef, ParticipantId), Country>,
) -> Option<Country> {
    use super::holdings::HoldingChangeKind as K;
    let mut at = (investor.clone(), bank.clone());
    for _ in 0..INHERITED_STEPS_MAX {
        if let Some(c) = first.get(&at) {
            return Some(*c);
        }
        let h = state
            .holdings
            .get(&(series.clone(), at.0.clone(), at.1.clone()))?;
        let opened = h
            .history
            .iter()
            .find(|c| c.index < before && c.kind.sign() > 0)?;
        match opened.kind {
            K::GiftIn => {
                return state
                    .transfers
                    .get(&opened.reference)
                    .and_then(|t| t.recipient.as_ref())
                    .map(|(_, country)| *country);
            }
            K::MovedIn | K::SuccessionIn => {
                let (from_investor, from_bank) = opened.counterpart.clone()?;
                if let Some(c) = recorded_residence(state, &from_bank, &from_investor, date, before)
                {
                    return Some(c);
                }
                at = (from_investor, from_bank);
            }
            _ => return None,
        }
    }
    None
}

/// The rate a table withholds for a residence.
pub fn rate_for(table: &TableEntry, residence: Option<Country>) -> Decimal {
    residence
        .and_then(|c| table.treaty_rates.get(&c).copied())
        .unwrap_or(table.default_rate)
}

/// `round_half_even(gross × rate)` to the minor unit, and `gross − withheld`.
pub fn split(gross: Decimal, rate: Decimal, currency: Currency) -> Option<(Decimal, Decimal)> {
    let withheld = round_to_minor(gross.checked_mul(rate)?, currency, WITHHOLDING_ROUNDING);
    Some((withheld, gross.checked_sub(withheld)?))
}

/// Withholds from each payment of a coupon of `series` paid on `date`, the
/// entry at `index` being its summary; `None` (and the payments untouched) when
/// no table is in force.
pub fn withhold(
    state: &State,
    series: &SeriesId,
    currency: Currency,
    date: NaiveDate,
    index: u64,
    payments: &mut [Payment],
) -> Result<Option<WithholdingSummary>, RegistryError> {
    let Some(table) = table_in_force(state, series, date, index) else {
        return Ok(None);
    };
    let first = first_countries(state, series, index);
    let too_large = || RegistryError::TooLarge {
        series: series.clone(),
        what: "the coupon's withholding".into(),
    };
    let mut banks: BTreeMap<ParticipantId, (u64, Decimal, Decimal, Decimal)> = BTreeMap::new();
    let mut countries: BTreeMap<Option<Country>, (Decimal, u64, Decimal, Decimal, Decimal)> =
        BTreeMap::new();
    let (mut gross, mut withheld, mut net) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for p in payments.iter_mut() {
        let initial = initial_residence(
            state,
            series,
            &p.bank_id,
            &p.investor_ref,
            date,
            index,
            &first,
        );
        let residence = residence_on(state, &p.bank_id, &p.investor_ref, date, index, initial);
        let rate = rate_for(table, residence);
        let (w, n) = split(p.amount, rate, currency).ok_or_else(too_large)?;
        let add = |a: Decimal, b: Decimal| a.checked_add(b).ok_or_else(too_large);
        let b = banks.entry(p.bank_id.clone()).or_default();
        *b = (b.0 + 1, add(b.1, p.amount)?, add(b.2, w)?, add(b.3, n)?);
        let c = countries.entry(residence).or_insert((
            rate,
            0,
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::ZERO,
        ));
        *c = (
            rate,
            c.1 + 1,
            add(c.2, p.amount)?,
            add(c.3, w)?,
            add(c.4, n)?,
        );
        gross = add(gross, p.amount)?;
        withheld = add(withheld, w)?;
        net = add(net, n)?;
        p.withholding = Some(PaymentWithholding {
            residence,
            rate,
            withheld: w,
            net: n,
        });
    }
    Ok(Some(WithholdingSummary {
        rounding: WITHHOLDING_ROUNDING,
        gross,
        withheld,
        net,
        by_bank: banks
            .into_iter()
            .map(
                |(bank_id, (holdings, gross, withheld, net))| BankWithholding {
                    bank_id,
                    holdings,
                    gross,
                    withheld,
                    net,
                },
            )
            .collect(),
        by_country: countries
            .into_iter()
            .map(
                |(country, (rate, holdings, gross, withheld, net))| CountryWithholding {
                    country,
                    rate,
                    holdings,
                    gross,
                    withheld,
                    net,
                },
            )
            .collect(),
    }))
}

/// The payment's withholding as it was decided for the coupon whose summary is
/// entry `index` (re-derived from what was known before it).
// Each argument names one fact the re-derivation needs; bundling them into a
// struct used once would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn withheld_from(
    state: &State,
    series: &SeriesId,
    currency: Currency,
    bank: &ParticipantId,
    investor: &InvestorRef,
    date: NaiveDate,
    index: u64,
    gross: Decimal,
) -> Option<PaymentWithholding> {
    let table = table_in_force(state, series, date, index)?;
    let first = first_countries(state, series, index);
    let initial = initial_residence(state, series, bank, investor, date, index, &first);
    let residence = residence_on(state, bank, investor, date, index, initial);
    let rate = rate_for(table, residence);
    let (withheld, net) = split(gross, rate, currency)?;
    Some(PaymentWithholding {
        residence,
        rate,
        withheld,
        net,
    })
}

/// The withholding of one coupon by country and bank, as a tax report sums it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TaxReport {
    pub series_id: String,
    pub year: i32,
    pub currency: String,
    pub coupons: u64,
    pub gross: Decimal,
    pub withheld: Decimal,
    pub net: Decimal,
    /// (country code or "unknown", holdings paid, gross, withheld, net).
    pub by_country: Vec<TaxLine>,
    pub by_bank: Vec<TaxLine>,
}

/// One row of a tax report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TaxLine {
    pub key: String,
    pub payments: u64,
    pub gross: Decimal,
    pub withheld: Decimal,
    pub net: Decimal,
}

/// What a series withheld from the coupons it paid in `year` (by payment date),
/// by country of residence and by custodian bank.
pub fn tax_report(state: &State, id: &SeriesId, year: i32) -> Result<TaxReport, RegistryError> {
    tax_report_of(state, id, Some(year))
}

/// What a series withheld from every coupon it paid, by country and by bank
/// (`year` is 0).
pub fn tax_report_all_years(state: &State, id: &SeriesId) -> Result<TaxReport, RegistryError> {
    tax_report_of(state, id, None)
}

fn tax_report_of(
    state: &State,
    id: &SeriesId,
    year: Option<i32>,
) -> Result<TaxReport, RegistryError> {
    use chrono::Datelike;
    let year_filter = year;
    let year = year.unwrap_or(0);
    let s = series(state, id)?;
    let mut report = TaxReport {
        series_id: id.to_string(),
        year,
        currency: s.terms.currency.as_str().to_string(),
        ..TaxReport::default()
    };
    let mut countries: BTreeMap<String, TaxLine> = BTreeMap::new();
    let mut banks: BTreeMap<String, TaxLine> = BTreeMap::new();
    for flow in s
        .paid
        .iter()
        .filter(|f| year_filter.is_none_or(|y| f.payment_date.year() == y))
    {
        let Some(w) = &flow.withholding else {
            continue;
        };
        report.coupons += 1;
        report.gross = report.gross.saturating_add(w.gross);
        report.withheld = report.withheld.saturating_add(w.withheld);
        report.net = report.net.saturating_add(w.net);
        for c in &w.by_country {
            let key = c.country.map_or("unknown".to_string(), |c| c.to_string());
            add_line(&mut countries, key, c.holdings, c.gross, c.withheld, c.net);
        }
        for b in &w.by_bank {
            add_line(
                &mut banks,
                b.bank_id.to_string(),
                b.holdings,
                b.gross,
                b.withheld,
                b.net,
            );
        }
    }
    report.by_country = countries.into_values().collect();
    report.by_bank = banks.into_values().collect();
    Ok(report)
}

fn add_line(
    lines: &mut BTreeMap<String, TaxLine>,
    key: String,
    payments: u64,
    gross: Decimal,
    withheld: Decimal,
    net: Decimal,
) {
    let line = lines.entry(key.clone()).or_default();
    line.key = key;
    line.payments = line.payments.saturating_add(payments);
    line.gross = line.gross.saturating_add(gross);
    line.withheld = line.withheld.saturating_add(withheld);
    line.net = line.net.saturating_add(net);
}
