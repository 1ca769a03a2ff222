//! The years after issue: withholding tables and residences, undeliverable
//! payments and their claims, reopenings, the tax report and the unclaimed
//! payments report. Tables by default, JSON with `--json` (and CSV for the
//! tax report with `--csv`).

use super::{ClientArgs, out, say, status_error};
use crate::client::Reopening;
use crate::proto as pb;
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct TaxReportArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long)]
    pub series: String,
    /// The year of the coupons' payment dates.
    #[arg(long)]
    pub year: i32,
    /// Print CSV (section,key,payments,gross,withheld,net) instead of a table.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

fn line_json(l: &pb::TaxLine) -> serde_json::Value {
    json!({"key": l.key, "payments": l.payments, "gross": l.gross, "withheld": l.withheld, "net": l.net})
}

/// The tax report as JSON (exact figures).
pub fn tax_report_json(r: &pb::GetTaxReportResponse) -> serde_json::Value {
    json!({
        "series_id": r.series_id, "year": r.year, "currency": r.currency, "coupons": r.coupons,
        "gross": r.gross, "withheld": r.withheld, "net": r.net,
        "by_country": r.by_country.iter().map(line_json).collect::<Vec<_>>(),
        "by_bank": r.by_bank.iter().map(line_json).collect::<Vec<_>>(),
    })
}

/// The tax report as CSV: one row per country and per bank, then the total.
pub fn tax_report_csv(r: &pb::GetTaxReportResponse) -> String {
    let mut out = String::from("section,key,payments,gross,withheld,net\n");
    for (section, lines) in [("country", &r.by_country), ("bank", &r.by_bank)] {
        for l in lines.iter() {
            out.push_str(&format!(
                "{section},{},{},{},{},{}\n",
                l.key, l.payments, l.gross, l.withheld, l.net
            ));
        }
    }
    out.push_str(&format!(
        "total,{},{},{},{},{}\n",
        r.series_id, r.coupons, r.gross, r.withheld, r.net
    ));
    out
}

pub async fn run_tax_report(a: &TaxReportArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let r = c
        .tax_report(&a.series, a.year)
        .await
        .map_err(status_error)?;
    if a.client.json {
        return say!("{}", serde_json::to_string_pretty(&tax_report_json(&r))?);
    }
    if a.csv {
        return say!("{}", tax_report_csv(&r).trim_end());
    }
    say!(
        "withholding tax of {} on coupons paid in {} ({} coupons), in {}",
        r.series_id,
        r.year,
        r.coupons,
        r.currency
    )?;
    for (title, lines) in [("COUNTRY", &r.by_country), ("BANK", &r.by_bank)] {
        let mut table = out::table(
            &[title, "PAYMENTS", "GROSS", "WITHHELD", "NET"],
            &[1, 2, 3, 4],
        );
        for l in lines.iter() {
            table.add_row(vec![
                l.key.clone(),
                l.payments.to_string(),
                out::amount(&l.gross, &r.currency),
                out::amount(&l.withheld, &r.currency),
                out::amount(&l.net, &r.currency),
            ]);
        }
        table.add_row(vec![
            "total".to_string(),
            String::new(),
            out::amount(&r.gross, &r.currency),
            out::amount(&r.withheld, &r.currency),
            out::amount(&r.net, &r.currency),
        ]);
        say!()?;
        out::print_table(&table)?;
    }
    Ok(())
}

#[derive(Debug, clap::Subcommand)]
pub enum WithholdingCommand {
    /// Set a withholding table in force from a date (treasury).
    Set(WithholdingSetArgs),
    /// Show the withholding tables of a series and the programme's.
    Show(WithholdingShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct WithholdingSetArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The series; leave out for the programme's table (series without their own).
    #[arg(long, default_value = "")]
    pub series: String,
    /// Coupons paid on or after this date (YYYY-MM-DD) use the table.
    #[arg(long)]
    pub effective: String,
    /// The rate for residences without a treaty rate (0.15 = 15 %).
    #[arg(long)]
    pub default_rate: String,
    /// A treaty rate by country of residence, as CC=RATE (repeatable): DE=0.05.
    #[arg(long = "treaty")]
    pub treaty: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct WithholdingShowArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long, default_value = "")]
    pub series: String,
}

pub async fn run_withholding(command: &WithholdingCommand) -> anyhow::Result<()> {
    match command {
        WithholdingCommand::Set(a) => {
            let treaty = a
                .treaty
                .iter()
                .map(|t| {
                    t.split_once('=')
                        .map(|(c, r)| (c.trim().to_string(), r.trim().to_string()))
                        .ok_or_else(|| {
                            anyhow::anyhow!("--treaty {t:?}: expected COUNTRY=RATE, e.g. DE=0.05")
                        })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let c = a.client.connect().await?;
            let r = c
                .set_withholding_table(&a.series, &a.effective, &a.default_rate, &treaty)
                .await
                .map_err(status_error)?;
            let index = r.receipt.map_or(0, |r| r.index);
            let whose = if a.series.is_empty() {
                "the programme".to_string()
            } else {
                a.series.clone()
            };
            say!(
                "withholding table of {whose} from {}: default {}, {} treaty rates; entry {index}",
                a.effective,
                out::percent(&a.default_rate),
                treaty.len()
            )
        }
        WithholdingCommand::Show(a) => {
            let c = a.client.connect().await?;
            let r = c
                .withholding_tables(&a.series)
                .await
                .map_err(status_error)?;
            if a.client.json {
                let v: Vec<_> = r
                    .tables
                    .iter()
                    .map(|t| {
                        json!({"series_id": t.series_id, "effective_from": t.effective_from,
                        "recorded_at_index": t.recorded_at_index, "default_rate": t.default_rate,
                        "treaty_rates": t.treaty_rates.iter().map(|x| json!({"country": x.country, "rate": x.rate})).collect::<Vec<_>>()})
                    })
                    .collect();
                return say!("{}", serde_json::to_string_pretty(&v)?);
            }
            let mut table = out::table(&["TABLE", "FROM", "DEFAULT", "TREATY RATES"], &[]);
            for t in &r.tables {
                let treaty: Vec<String> = t
                    .treaty_rates
                    .iter()
                    .map(|x| format!("{} {}", x.country, out::percent(&x.rate)))
                    .collect();
                table.add_row(vec![
                    if t.series_id.is_empty() {
                        "programme".to_string()
                    } else {
                        t.series_id.clone()
                    },
                    t.effective_from.clone(),
                    out::percent(&t.default_rate),
                    treaty.join(", "),
                ]);
            }
            out::print_table(&table)
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ResidenceArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long)]
    pub investor: String,
    /// ISO 3166-1 alpha-2 country of residence.
    #[arg(long)]
    pub country: String,
    /// From this date (YYYY-MM-DD).
    #[arg(long)]
    pub effective: String,
}

pub async fn run_residence(a: &ResidenceArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let r = c
        .record_residence(&a.investor, &a.country, &a.effective)
        .await
        .map_err(status_error)?;
    say!(
        "{} resides in {} from {}: entry {}",
        a.investor,
        a.country,
        a.effective,
        r.receipt.map_or(0, |r| r.index)
    )
}

#[derive(Debug, clap::Args)]
pub struct PaymentArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The payment's event: SERIES/coupon/FLOW or SERIES/redemption.
    #[arg(long)]
    pub event: String,
    #[arg(long)]
    pub investor: String,
}

#[derive(Debug, clap::Args)]
pub struct ClaimArgs {
    #[command(flatten)]
    pub payment: PaymentArgs,
    /// The bank's payment reference (1 to 64 characters, no personal data).
    #[arg(long)]
    pub reference: String,
}

fn unclaimed_json(u: &pb::UnclaimedPayment) -> serde_json::Value {
    json!({"series_id": u.series_id, "event_id": u.event_id, "investor_ref": u.investor_ref, "bank_id": u.bank_id,
        "kind": u.kind, "payment_date": u.payment_date, "units": u.units, "currency": u.currency,
        "gross": u.gross, "withheld": u.withheld, "amount": u.amount, "reported_at_index": u.reported_at_index,
        "claim_reference": u.claim_reference, "overdue": u.overdue})
}

fn say_payment(what: &str, r: &pb::ServicingWriteResponse, json_out: bool) -> anyhow::Result<()> {
    let index = r.receipt.as_ref().map_or(0, |r| r.index);
    let Some(u) = &r.unclaimed else {
        return say!("{what}: entry {index}");
    };
    if json_out {
        let mut v = unclaimed_json(u);
        v["entry"] = json!(index);
        return say!("{}", serde_json::to_string_pretty(&v)?);
    }
    say!(
        "{what}: {} to {} at {}, {} {} (gross {}, withheld {}); entry {index}",
        u.event_id,
        u.investor_ref,
        u.bank_id,
        u.currency,
        out::amount(&u.amount, &u.currency),
        out::amount(&u.gross, &u.currency),
        out::amount(&u.withheld, &u.currency)
    )
}

pub async fn run_undeliverable(a: &PaymentArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let r = c
        .report_undeliverable(&a.event, &a.investor)
        .await
        .map_err(status_error)?;
    say_payment("reported undeliverable", &r, a.client.json)
}

pub async fn run_claim(a: &ClaimArgs) -> anyhow::Result<()> {
    let p = &a.payment;
    let c = p.client.connect().await?;
    let r = c
        .record_claim(&p.event, &p.investor, &a.reference)
        .await
        .map_err(status_error)?;
    say_payment(&format!("claimed ({})", a.reference), &r, p.client.json)
}

#[derive(Debug, clap::Args)]
pub struct UnclaimedArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// One series (default: every series).
    #[arg(long, default_value = "")]
    pub series: String,
    /// Overdue as of this date (default: today).
    #[arg(long, default_value = "")]
    pub as_of: String,
}

pub async fn run_unclaimed(a: &UnclaimedArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let r = c
        .list_unclaimed(&a.series, &a.as_of)
        .await
        .map_err(status_error)?;
    if a.client.json {
        let balances: Vec<_> = r
            .balances
            .iter()
            .map(|b| json!({"series_id": b.series_id, "currency": b.currency, "balance": b.balance, "overdue": b.overdue, "period_days": b.period_days}))
            .collect();
        let payments: Vec<_> = r.payments.iter().map(unclaimed_json).collect();
        return say!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"as_of": r.as_of, "balances": balances, "payments": payments})
            )?
        );
    }
    say!("unclaimed payments as of {}", r.as_of)?;
    let mut balances = out::table(
        &["SERIES", "BALANCE", "OVERDUE", "PERIOD (DAYS)"],
        &[1, 2, 3],
    );
    for b in &r.balances {
        balances.add_row(vec![
            b.series_id.clone(),
            format!("{} {}", b.currency, out::amount(&b.balance, &b.currency)),
            format!("{} {}", b.currency, out::amount(&b.overdue, &b.currency)),
            if b.period_days == 0 {
                "-".into()
            } else {
                b.period_days.to_string()
            },
        ]);
    }
    out::print_table(&balances)?;
    let mut table = out::table(
        &["EVENT", "INVESTOR", "BANK", "PAID", "AMOUNT", "STATUS"],
        &[4],
    );
    for u in &r.payments {
        let status = if !u.claim_reference.is_empty() {
            format!("claimed ({})", u.claim_reference)
        } else if u.overdue {
            "overdue".to_string()
        } else {
            "unclaimed".to_string()
        };
        table.add_row(vec![
            u.event_id.clone(),
            u.investor_ref.clone(),
            u.bank_id.clone(),
            u.payment_date.clone(),
            out::amount(&u.amount, &u.currency),
            status,
        ]);
    }
    say!()?;
    out::print_table(&table)
}

#[derive(Debug, clap::Args)]
pub struct ReopenArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long)]
    pub series: String,
    /// When the tranche's window opens (RFC 3339).
    #[arg(long)]
    pub window_opens: chrono::DateTime<chrono::Utc>,
    /// When it closes (RFC 3339).
    #[arg(long)]
    pub window_closes: chrono::DateTime<chrono::Utc>,
    /// The new units' issue date (YYYY-MM-DD): accrued interest runs to it.
    #[arg(long)]
    pub settlement_date: String,
    /// Allotments not settled by then may be released (RFC 3339).
    #[arg(long)]
    pub settlement_deadline: chrono::DateTime<chrono::Utc>,
    /// The market reference yield of the day (0.061 = 6.1 %).
    #[arg(long)]
    pub reference_yield: String,
    /// The patriotic discount in basis points.
    #[arg(long)]
    pub discount_bps: String,
    /// The most units the tranche sells.
    #[arg(long)]
    pub cap: String,
}

pub async fn run_reopen(a: &ReopenArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let r = c
        .reopen_series(&Reopening {
            series_id: a.series.clone(),
            window_opens_at: a.window_opens,
            window_closes_at: a.window_closes,
            settlement_date: a.settlement_date.clone(),
            settlement_deadline: a.settlement_deadline,
            reference_yield: a.reference_yield.clone(),
            discount_bps: a.discount_bps.clone(),
            cap_units: a.cap.clone(),
        })
        .await
        .map_err(status_error)?;
    let s = r.series.unwrap_or_default();
    let currency = s
        .terms
        .as_ref()
        .map_or("", |t| t.currency.as_str())
        .to_string();
    let Some(t) = s.tranches.last().and_then(|t| t.terms.clone()) else {
        return say!("reopened: entry {}", r.receipt.map_or(0, |r| r.index));
    };
    if a.client.json {
        return say!(
            "{}",
            serde_json::to_string_pretty(&tranche_json(&t, r.receipt.map_or(0, |r| r.index)))?
        );
    }
    say!(
        "{} tranche {}: yield {} ({} less {} bp), clean price {}%, {} {} per unit plus {} {} accrued to {}; cap {} units; entry {}",
        t.series_id,
        t.tranche,
        out::percent(&t.issue_yield),
        out::percent(&t.reference_yield),
        t.discount_bps,
        out::rounded(&t.clean_price, 4),
        currency,
        t.price_per_unit,
        currency,
        out::amount(&t.accrued_per_unit, &currency),
        t.settlement_date,
        t.cap_units,
        r.receipt.map_or(0, |r| r.index)
    )
}

/// A tranche's terms and figures as JSON (exact figures).
pub fn tranche_json(t: &pb::SeriesReopened, entry: u64) -> serde_json::Value {
    json!({"series_id": t.series_id, "tranche": t.tranche, "settlement_date": t.settlement_date,
        "cap_units": t.cap_units, "reference_yield": t.reference_yield, "discount_bps": t.discount_bps,
        "issue_yield": t.issue_yield, "clean_price": t.clean_price, "price_per_unit": t.price_per_unit,
        "accrued_per_unit": t.accrued_per_unit, "entry": entry})
}
