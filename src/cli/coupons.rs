//! Fixings, the accrual engine on demand, accrued interest, investor statements
//! and debt-service schedules.

use super::{ClientArgs, status_error};
use super::{out, say};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct AccrueArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Post everything due on or before this date (YYYY-MM-DD; at most the server's today).
    #[arg(long)]
    pub through: String,
}

pub async fn run_accrue(a: &AccrueArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let json_out = a.client.json;
    // Each event is told as it is posted; a closed standard output does not stop
    // the posting (it is the same whoever reads), only the telling.
    let mut unsaid = None;
    let (posted, already, waiting) = c
        .accrue(&a.through, |d, already| {
            if !json_out && unsaid.is_none() {
                let note = if already { " (already posted)" } else { "" };
                unsaid = say!(
                    "{:<10} {:<12} {:<36} {}{note}",
                    d.date,
                    d.kind,
                    d.event_id,
                    d.amount
                )
                .err();
            }
        })
        .await
        .map_err(status_error)?;
    if let Some(e) = unsaid {
        return Err(e);
    }
    if json_out {
        let w: Vec<_> = waiting
            .iter()
            .map(|w| json!({"series_id": w.series_id, "flow": w.flow, "reference_rate": w.reference_rate, "fixing_date": w.fixing_date, "payment_date": w.payment_date}))
            .collect();
        say!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"posted": posted, "already_posted": already, "waiting": w})
            )?
        )?;
    } else {
        say!("posted {posted} events ({already} were already posted)")?;
        for w in &waiting {
            say!(
                "waiting: {} coupon {} paying {} needs the {} fixing for {}",
                w.series_id,
                w.flow,
                w.payment_date,
                w.reference_rate,
                w.fixing_date
            )?;
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct FixingArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Reference rate name, e.g. SOFR-6M.
    #[arg(long)]
    pub reference: String,
    /// Fixing date (YYYY-MM-DD).
    #[arg(long)]
    pub date: String,
    /// Annual rate as a decimal fraction, e.g. 0.0375.
    #[arg(long)]
    pub rate: String,
}

pub async fn run_fixing(a: &FixingArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let r = c
        .publish_fixing(&a.reference, &a.date, &a.rate)
        .await
        .map_err(status_error)?;
    let rc = r.receipt.unwrap_or_default();
    say!(
        "{} fixed at {} for {}: entry {}",
        a.reference,
        a.rate,
        a.date,
        rc.index
    )?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct StatementArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long)]
    pub investor: String,
    /// The custodian bank (banks see their own clients).
    #[arg(long, default_value = "")]
    pub bank: String,
    /// Accrued interest as of this date (default: today).
    #[arg(long, default_value = "")]
    pub as_of: String,
}

pub async fn run_statement(a: &StatementArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let s = c
        .statement(&a.investor, &a.bank, &a.as_of)
        .await
        .map_err(status_error)?;
    if a.client.json {
        let lines: Vec<_> = s
            .holdings
            .iter()
            .map(|l| {
                let h = l.holding.clone().unwrap_or_default();
                let pay = |v: &[crate::proto::StatementPayment]| -> Vec<serde_json::Value> {
                    v.iter().map(|p| json!({"kind": p.kind, "payment_date": p.payment_date, "amount": p.amount, "event_id": p.event_id,
                        "gross": p.gross, "withheld": p.withheld, "net": p.net, "residence": p.residence})).collect()
                };
                let unclaimed: Vec<_> = l.unclaimed.iter().map(|u| json!({"event_id": u.event_id, "kind": u.kind, "payment_date": u.payment_date,
                    "gross": u.gross, "withheld": u.withheld, "amount": u.amount, "claim_reference": u.claim_reference, "overdue": u.overdue})).collect();
                json!({"series_id": h.series_id, "units": h.units, "redeemed_units": h.redeemed_units, "currency": l.currency,
                       "registration": super::holdings::registration_json(h.registration.as_ref()),
                       "pending_units": h.pending_units, "early_redeemed_units": h.early_redeemed_units,
                       "accrued": l.accrued, "received": pay(&l.received), "upcoming": pay(&l.upcoming), "unclaimed": unclaimed,
                       "history": l.history.iter().map(super::holdings::change_json).collect::<Vec<_>>()})
            })
            .collect();
        say!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"investor_ref": s.investor_ref, "bank_id": s.bank_id, "as_of": s.as_of, "holdings": lines})
            )?
        )?;
        return Ok(());
    }
    say!(
        "statement for {} at {} as of {}",
        s.investor_ref,
        s.bank_id,
        s.as_of
    )?;
    for l in &s.holdings {
        let h = l.holding.clone().unwrap_or_default();
        say!(
            "  {}: {} units ({} redeemed), accrued {} {}",
            h.series_id,
            h.units,
            h.redeemed_units,
            l.currency,
            out::amount(&l.accrued, &l.currency)
        )?;
        let received: String = l
            .received
            .iter()
            .map(|p| {
                let withheld = if p.withheld.is_empty() || out::is_zero(&p.withheld) {
                    String::new()
                } else {
                    format!(
                        " gross, {} withheld ({}), {} net",
                        out::amount(&p.withheld, &l.currency),
                        if p.residence.is_empty() {
                            "residence unknown"
                        } else {
                            &p.residence
                        },
                        out::amount(&p.net, &l.currency)
                    )
                };
                format!(
                    "\n      {} {:<10} {} {}{withheld}",
                    p.payment_date,
                    p.kind,
                    l.currency,
                    out::amount(&p.amount, &l.currency)
                )
            })
            .collect();
        say!(
            "    received:{}",
            if received.is_empty() {
                " none".into()
            } else {
                received
            }
        )?;
        for c in &l.history {
            say!("    {}", super::holdings::change_line(c))?;
        }
        for p in l.upcoming.iter().take(3) {
            let amount = if p.amount.is_empty() {
                "waiting for a fixing".to_string()
            } else {
                format!("{} {}", l.currency, out::amount(&p.amount, &l.currency))
            };
            say!("    upcoming: {} {:<10} {amount}", p.payment_date, p.kind)?;
        }
        for u in &l.unclaimed {
            let state = if u.claim_reference.is_empty() {
                if u.overdue {
                    "unclaimed, overdue".to_string()
                } else {
                    "unclaimed".to_string()
                }
            } else {
                format!("claimed, reference {}", u.claim_reference)
            };
            say!(
                "    undeliverable: {} {:<10} {} {} ({state})",
                u.payment_date,
                u.kind,
                l.currency,
                out::amount(&u.amount, &l.currency)
            )?;
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct SeriesDateArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long)]
    pub series: String,
    /// As of this date (default: today).
    #[arg(long, default_value = "")]
    pub as_of: String,
}

pub async fn run_debt_service(a: &SeriesDateArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let d = c.debt_service(&a.series).await.map_err(status_error)?;
    if a.client.json {
        let lines: Vec<_> = d.lines.iter().map(|l| json!({"payment_date": l.payment_date, "kind": l.kind, "amount": l.amount, "status": l.status})).collect();
        say!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"series_id": d.series_id, "currency": d.currency, "units_outstanding": d.units_outstanding, "lines": lines, "unclaimed_balance": d.unclaimed_balance})
            )?
        )?;
        return Ok(());
    }
    say!(
        "debt service of {} ({} units outstanding), in {}",
        d.series_id,
        d.units_outstanding,
        d.currency
    )?;
    let mut table = out::table(&["DATE", "KIND", "AMOUNT", "STATUS"], &[2]);
    for l in &d.lines {
        table.add_row(vec![
            l.payment_date.clone(),
            l.kind.clone(),
            out::amount(&l.amount, &d.currency),
            l.status.clone(),
        ]);
    }
    out::print_table(&table)?;
    say!(
        "unclaimed balance: {} {}",
        d.currency,
        out::amount(&d.unclaimed_balance, &d.currency)
    )
}

pub async fn run_accrued(a: &SeriesDateArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let r = c.accrued(&a.series, &a.as_of).await.map_err(status_error)?;
    if a.client.json {
        say!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"series_id": r.series_id, "as_of": r.as_of, "currency": r.currency, "per_unit": r.per_unit,
                "units": r.units, "total": r.total, "holdings": r.holdings})
            )?
        )?;
    } else {
        say!(
            "{} as of {}: accrued {} {} per unit; {} {} over {} units in {} holdings",
            r.series_id,
            r.as_of,
            r.currency,
            out::rounded(&r.per_unit, 6),
            r.currency,
            out::amount(&r.total, &r.currency),
            r.units,
            r.holdings
        )?;
    }
    Ok(())
}
