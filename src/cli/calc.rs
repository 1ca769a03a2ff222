//! `dbond schedule` and `dbond price`: the bond-math calculators.
//!
//! Invariant: a fixed interface used by outside checks. Input is the terms JSON
//! (numbers read exactly); output is one JSON object on stdout with every number
//! as a decimal string; any failure is an `Err` that `main` prints on one line.

use super::say;
use crate::calendar::{Calendar, dates::parse_date};
use crate::pricing::{
    self, Bond, BondTerms, CashFlowKind, Fixings, diaspora_yield, issuer_savings, par_coupon,
    parse_decimal,
};
use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Fewest decimal places printed for an amount or price; values computed to more
/// places are printed in full, unrounded.
pub const OUTPUT_DECIMALS_MIN: u32 = 12;

/// Arguments of `dbond schedule`.
#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    /// Bond terms as a JSON file.
    #[arg(long)]
    pub terms: PathBuf,
    /// Operator calendar file (TOML) merged into the terms' calendar.
    #[arg(long)]
    pub calendar_file: Option<PathBuf>,
}

/// Arguments of `dbond price`.
#[derive(Debug, clap::Args)]
pub struct PriceArgs {
    /// Bond terms as a JSON file.
    #[arg(long)]
    pub terms: PathBuf,
    /// Settlement date, YYYY-MM-DD.
    #[arg(long)]
    pub settle: String,
    /// Yield (decimal fraction, compounded at the coupon frequency): prints prices.
    #[arg(long = "yield", allow_hyphen_values = true)]
    pub yield_rate: Option<String>,
    /// Clean price (percent of face): prints the yield.
    #[arg(long, allow_hyphen_values = true)]
    pub clean_price: Option<String>,
    /// Reference (market) yield for patriotic-discount pricing.
    #[arg(long, allow_hyphen_values = true)]
    pub reference_yield: Option<String>,
    /// Patriotic discount in basis points.
    #[arg(long, allow_hyphen_values = true)]
    pub discount_bps: Option<String>,
    /// Operator calendar file (TOML) merged into the terms' calendar.
    #[arg(long)]
    pub calendar_file: Option<PathBuf>,
}

/// Formats a decimal with at least [`OUTPUT_DECIMALS_MIN`] places (padding
/// with zeros only: no rounding).
pub fn format_decimal(d: Decimal) -> String {
    let mut d = d;
    if d.scale() < OUTPUT_DECIMALS_MIN {
        d.rescale(OUTPUT_DECIMALS_MIN);
    }
    d.to_string()
}

fn dec_value(d: Decimal) -> Value {
    Value::String(format_decimal(d))
}

fn read_terms(path: &Path) -> Result<(BondTerms, Fixings)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read terms file {}", path.display()))?;
    BondTerms::from_json(&text).with_context(|| format!("terms file {}", path.display()))
}

fn build_bond(path: &Path, calendar_file: Option<&Path>) -> Result<Bond> {
    let (terms, fixings) = read_terms(path)?;
    let mut calendar: Calendar = terms.calendar().calendar()?;
    if let Some(file) = calendar_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read calendar file {}", file.display()))?;
        calendar = calendar
            .merged_with_toml(&text)
            .with_context(|| format!("calendar file {}", file.display()))?;
    }
    Ok(Bond::with_calendar(&terms, &calendar, &fixings)?)
}

fn decimal_arg(name: &str, text: &str) -> Result<Decimal> {
    parse_decimal(text).map_err(|e| anyhow::anyhow!("--{name}: {e}"))
}

fn date_arg(name: &str, text: &str) -> Result<NaiveDate> {
    parse_date(text).map_err(|e| anyhow::anyhow!("--{name}: {e}"))
}

fn print_json(value: &Value) -> Result<()> {
    say!("{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// The `dbond schedule` output for a bond.
pub fn schedule_json(bond: &Bond) -> Value {
    let rows: Vec<Value> = bond
        .cashflows()
        .iter()
        .map(|cf| {
            let mut row = Map::new();
            row.insert("kind".into(), json!(cf.kind.as_str()));
            if cf.kind == CashFlowKind::Coupon {
                row.insert("accrual_start".into(), json!(cf.accrual_start.to_string()));
                row.insert("accrual_end".into(), json!(cf.accrual_end.to_string()));
            }
            row.insert("payment_date".into(), json!(cf.payment_date.to_string()));
            if let Some(r) = cf.record_date {
                row.insert("record_date".into(), json!(r.to_string()));
            }
            if let Some(rate) = cf.rate {
                row.insert("rate".into(), json!(rate.normalize().to_string()));
            }
            // A floating coupon without its fixing is waiting: null, never a guess.
            row.insert(
                "amount".into(),
                cf.amount.map(dec_value).unwrap_or(Value::Null),
            );
            if cf.amount.is_none() {
                row.insert("status".into(), json!("waiting_for_fixing"));
            }
            Value::Object(row)
        })
        .collect();
    json!({ "cashflows": rows })
}

/// Runs `dbond schedule`, printing JSON to stdout.
pub fn run_schedule(args: &ScheduleArgs) -> Result<()> {
    let bond = build_bond(&args.terms, args.calendar_file.as_deref())?;
    print_json(&schedule_json(&bond))
}

/// Runs `dbond price`, printing JSON to stdout.
pub fn run_price(args: &PriceArgs) -> Result<()> {
    let bond = build_bond(&args.terms, args.calendar_file.as_deref())?;
    let settle = date_arg("settle", &args.settle)?;
    let value = match (
        &args.yield_rate,
        &args.clean_price,
        &args.reference_yield,
        &args.discount_bps,
    ) {
        (Some(y), None, None, None) => {
            let p = bond.price(settle, decimal_arg("yield", y)?)?;
            json!({ "clean": dec_value(p.clean), "dirty": dec_value(p.dirty), "accrued": dec_value(p.accrued) })
        }
        (None, Some(p), None, None) => {
            let y = bond.yield_from_clean_price(settle, decimal_arg("clean-price", p)?)?;
            json!({ "yield": dec_value(y) })
        }
        (None, Some(p), Some(r), None) => {
            let reference = decimal_arg("reference-yield", r)?;
            let y = bond.yield_from_clean_price(settle, decimal_arg("clean-price", p)?)?;
            json!({
                "yield": dec_value(y),
                "reference_yield": dec_value(reference),
                "implied_discount_bps": dec_value(pricing::discount_bps_between(reference, y)?),
            })
        }
        (None, None, Some(r), Some(d)) => {
            let reference = decimal_arg("reference-yield", r)?;
            let discount = decimal_arg("discount-bps", d)?;
            let y = diaspora_yield(reference, discount);
            let p = bond.price(settle, y)?;
            let terms = bond.terms();
            let savings = issuer_savings(terms, reference, discount)?;
            let par = if terms.frequency().per_year().is_some() {
                Some(par_coupon(terms, y)?)
            } else {
                None
            };
            json!({
                "reference_yield": dec_value(reference),
                "discount_bps": dec_value(discount),
                "diaspora_yield": dec_value(y),
                "clean": dec_value(p.clean),
                "dirty": dec_value(p.dirty),
                "accrued": dec_value(p.accrued),
                "par_coupon": par.map(dec_value).unwrap_or(Value::Null),
                "market_par_coupon": savings.market_coupon.map(dec_value).unwrap_or(Value::Null),
                "issuer_savings": dec_value(savings.savings),
            })
        }
        _ => bail!(
            "give exactly one of: --yield Y; --clean-price P (with --reference-yield R for the implied discount); --reference-yield R --discount-bps D"
        ),
    };
    print_json(&value)
}
