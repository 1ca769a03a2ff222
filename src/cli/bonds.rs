//! Treasury and bank verbs: series from a JSON or TOML terms file and their
//! lifecycle, subscriptions, settlement and registry queries. Readable tables by
//! default, JSON with `--json`.

use super::{ClientArgs, status_error};
use super::{out, say};
use crate::client::SeriesAction;
use crate::proto as pb;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A series terms file (JSON or TOML). Decimals are strings; instants RFC 3339.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsFile {
    pub series_id: String,
    pub name: String,
    pub currency: String,
    pub face_value: String,
    pub min_units_per_investor: String,
    pub max_units_per_investor: String,
    pub cap_units: String,
    pub coupon: CouponFile,
    pub frequency: String,
    pub day_count: String,
    pub business_day_convention: String,
    pub calendar: String,
    #[serde(default)]
    pub end_of_month: bool,
    #[serde(default)]
    pub first_coupon_date: Option<String>,
    #[serde(default)]
    pub record_date_lag_days: u32,
    pub issue_date: String,
    pub maturity_date: String,
    pub window_opens_at: chrono::DateTime<chrono::Utc>,
    pub window_closes_at: chrono::DateTime<chrono::Utc>,
    pub settlement_deadline: chrono::DateTime<chrono::Utc>,
    /// first_come_first_served, pro_rata or retail_priority.
    pub allotment_rule: String,
    #[serde(default)]
    pub retail_priority_units: Option<String>,
    pub eligibility: EligibilityFile,
    pub pricing: PricingFile,
    /// Days after which an unclaimed payment is listed as overdue.
    #[serde(default)]
    pub unclaimed_period_days: u32,
    /// backward (default) or forward.
    #[serde(default)]
    pub date_generation: Option<String>,
    /// unadjusted (default) or adjusted.
    #[serde(default)]
    pub accrual_dates: Option<String>,
    /// Business days from an accrual end to its payment (default 0).
    #[serde(default)]
    pub payment_lag_days: u32,
    /// none (default), between_banks or gifts.
    #[serde(default)]
    pub transfers: Option<String>,
    /// Absent: no early redemption.
    #[serde(default)]
    pub early_redemption: Option<EarlyRedemptionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyRedemptionFile {
    #[serde(default)]
    pub on_request: bool,
    #[serde(default)]
    pub lockup_months: u32,
    #[serde(default)]
    pub penalty_months: u32,
    #[serde(default)]
    pub death_put: bool,
    #[serde(default)]
    pub hardship_put: bool,
    /// The fraction of the units issued hardship puts may redeem per year ("0.05").
    #[serde(default)]
    pub hardship_quota: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CouponFile {
    Fixed {
        #[serde(default)]
        rate: Option<String>,
    },
    Zero,
    Accumulating {
        rate: String,
    },
    StepUp {
        steps: Vec<StepFile>,
    },
    Floating {
        reference: String,
        spread: String,
        #[serde(default)]
        floor: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    pub from: String,
    pub rate: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EligibilityFile {
    /// citizen_abroad, child_of_citizen_abroad, former_citizen, affinity.
    pub categories: Vec<String>,
    #[serde(default)]
    pub countries_allowed: Vec<String>,
    #[serde(default)]
    pub countries_barred: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PricingFile {
    IssuePrice {
        price: String,
    },
    Diaspora {
        reference_yield: String,
        discount_bps: String,
        #[serde(default)]
        derive_par_coupon: bool,
        /// Rounds the derived par coupon down to a multiple of this step.
        #[serde(default)]
        coupon_step: Option<String>,
    },
}

pub fn category_from_name(s: &str) -> anyhow::Result<pb::DiasporaCategory> {
    Ok(match s {
        "citizen_abroad" => pb::DiasporaCategory::CitizenAbroad,
        "child_of_citizen_abroad" => pb::DiasporaCategory::ChildOfCitizenAbroad,
        "former_citizen" => pb::DiasporaCategory::FormerCitizen,
        "affinity" => pb::DiasporaCategory::Affinity,
        other => anyhow::bail!(
            "unknown diaspora category {other:?}; expected citizen_abroad, child_of_citizen_abroad, former_citizen or affinity"
        ),
    })
}

fn category_name(v: i32) -> String {
    pb::DiasporaCategory::try_from(v)
        .map(|c| {
            c.as_str_name()
                .trim_start_matches("DIASPORA_CATEGORY_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| "?".into())
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(crate::codec::timestamp_to_pb(t))
}

impl TermsFile {
    /// Reads JSON (`.json`) or TOML (anything else), refusing unknown keys.
    pub fn read(path: &Path) -> anyhow::Result<TermsFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        } else {
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
    }

    pub fn to_pb(&self) -> anyhow::Result<pb::SeriesTerms> {
        let coupon = match &self.coupon {
            CouponFile::Fixed { rate } => pb::coupon::Kind::Fixed(pb::FixedCoupon {
                rate: rate.clone().unwrap_or_default(),
            }),
            CouponFile::Zero => pb::coupon::Kind::Zero(pb::ZeroCoupon {}),
            CouponFile::Accumulating { rate } => {
                pb::coupon::Kind::Accumulating(pb::AccumulatingCoupon { rate: rate.clone() })
            }
            CouponFile::StepUp { steps } => pb::coupon::Kind::StepUp(pb::StepUpCoupon {
                steps: steps
                    .iter()
                    .map(|s| pb::RateStep {
                        from_date: s.from.clone(),
                        rate: s.rate.clone(),
                    })
                    .collect(),
            }),
            CouponFile::Floating {
                reference,
                spread,
                floor,
            } => pb::coupon::Kind::Floating(pb::FloatingCoupon {
                reference_rate: reference.clone(),
                spread: spread.clone(),
                floor: floor.clone().unwrap_or_default(),
            }),
        };
        let pricing = match &self.pricing {
            PricingFile::IssuePrice { price } => pb::pricing::Kind::IssuePrice(pb::FixedPrice {
                price: price.clone(),
            }),
            PricingFile::Diaspora {
                reference_yield,
                discount_bps,
                derive_par_coupon,
                coupon_step,
            } => pb::pricing::Kind::Diaspora(pb::DiasporaPricing {
                reference_yield: reference_yield.clone(),
                discount_bps: discount_bps.clone(),
                derive_par_coupon: *derive_par_coupon,
                coupon_step: coupon_step.clone().unwrap_or_default(),
            }),
        };
        let rule = match self.allotment_rule.as_str() {
            "first_come_first_served" => pb::AllotmentRule::FirstComeFirstServed,
            "pro_rata" => pb::AllotmentRule::ProRata,
            "retail_priority" => pb::AllotmentRule::RetailPriority,
            other => anyhow::bail!(
                "unknown allotment_rule {other:?}; expected first_come_first_served, pro_rata or retail_priority"
            ),
        };
        let transfers = match self.transfers.as_deref().unwrap_or("none") {
            "none" => pb::Transfers::None,
            "between_banks" => pb::Transfers::BetweenBanks,
            "gifts" => pb::Transfers::Gifts,
            other => {
                anyhow::bail!("unknown transfers {other:?}; expected none, between_banks or gifts")
            }
        };
        let categories = self
            .eligibility
            .categories
            .iter()
            .map(|c| category_from_name(c).map(|c| c as i32))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(pb::SeriesTerms {
            series_id: self.series_id.clone(),
            name: self.name.clone(),
            currency: self.currency.clone(),
            face_value: self.face_value.clone(),
            min_units_per_investor: self.min_units_per_investor.clone(),
            max_units_per_investor: self.max_units_per_investor.clone(),
            cap_units: self.cap_units.clone(),
            coupon: Some(pb::Coupon { kind: Some(coupon) }),
            frequency: self.frequency.clone(),
            day_count: self.day_count.clone(),
            business_day_convention: self.business_day_convention.clone(),
            calendar: self.calendar.clone(),
            end_of_month: self.end_of_month,
            first_coupon_date: self.first_coupon_date.clone().unwrap_or_default(),
            record_date_lag_days: self.record_date_lag_days,
            issue_date: self.issue_date.clone(),
            maturity_date: self.maturity_date.clone(),
            window_opens_at: ts(self.window_opens_at),
            window_closes_at: ts(self.window_closes_at),
            allotment_rule: rule as i32,
            retail_priority_units: self.retail_priority_units.clone().unwrap_or_default(),
            eligibility: Some(pb::Eligibility {
                categories,
                countries_allowed: self.eligibility.countries_allowed.clone(),
                countries_barred: self.eligibility.countries_barred.clone(),
            }),
            pricing: Some(pb::Pricing {
                kind: Some(pricing),
            }),
            settlement_deadline: ts(self.settlement_deadline),
            unclaimed_period_days: self.unclaimed_period_days,
            date_generation: self.date_generation.clone().unwrap_or_default(),
            accrual_dates: self.accrual_dates.clone().unwrap_or_default(),
            payment_lag_days: self.payment_lag_days,
            transfers: transfers as i32,
            early_redemption: self.early_redemption.as_ref().map(|e| pb::EarlyRedemption {
                on_request: e.on_request,
                lockup_months: e.lockup_months,
                penalty_months: e.penalty_months,
                death_put: e.death_put,
                hardship_put: e.hardship_put,
                hardship_quota: e.hardship_quota.clone().unwrap_or_default(),
            }),
        })
    }
}

fn series_status(v: i32) -> String {
    pb::SeriesStatus::try_from(v)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("SERIES_STATUS_")
                .to_lowercase()
        })
        .unwrap_or_default()
}

fn subscription_status(v: i32) -> String {
    pb::SubscriptionStatus::try_from(v)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("SUBSCRIPTION_STATUS_")
                .to_lowercase()
        })
        .unwrap_or_default()
}

pub fn series_json(s: &pb::Series) -> Value {
    let t = s.terms.clone().unwrap_or_default();
    let f = s.figures.clone().unwrap_or_default();
    let b = s.book.clone().unwrap_or_default();
    let buckets = |v: &[pb::BookBucket]| -> Value {
        v.iter()
            .map(|x| json!({"key": x.key, "subscriptions": x.subscriptions, "subscribed_units": x.subscribed_units, "allotted_units": x.allotted_units}))
            .collect()
    };
    json!({
        "series_id": t.series_id, "name": t.name, "status": series_status(s.status), "currency": t.currency,
        "face_value": t.face_value, "cap_units": t.cap_units, "issue_date": t.issue_date, "maturity_date": t.maturity_date,
        "frequency": t.frequency, "day_count": t.day_count,
        "figures": {"issue_price": f.issue_price, "coupon_rate": f.coupon_rate, "issue_yield": f.issue_yield,
            "reference_yield": f.reference_yield, "discount_bps": f.discount_bps,
            "issuer_savings_per_unit": f.issuer_savings_per_unit, "price_per_unit": f.price_per_unit},
        "book": {"subscriptions": b.subscriptions, "subscribed_units": b.subscribed_units, "allotted_units": b.allotted_units,
            "settled_units": b.settled_units, "issued_units": b.issued_units, "amount_raised": b.amount_raised,
            "by_category": buckets(&b.by_category), "by_country": buckets(&b.by_country)},
        "schedule": s.schedule.iter().map(|f| json!({"kind": f.kind, "accrual_start": f.accrual_start, "accrual_end": f.accrual_end,
            "payment_date": f.payment_date, "record_date": f.record_date, "rate": f.rate, "amount_per_unit": f.amount_per_unit})).collect::<Vec<_>>(),
        "created_at_index": s.created_at_index,
        "tranches": s.tranches.iter().map(|tr| {
            let mut v = tr.terms.as_ref().map(|t| super::servicing::tranche_json(t, tr.opened_at_index)).unwrap_or_default();
            v["status"] = json!(tr.status);
            v["units_issued"] = json!(tr.units_issued);
            v["principal_raised"] = json!(tr.principal_raised);
            v["accrued_received"] = json!(tr.accrued_received);
            v
        }).collect::<Vec<_>>(),
        "unclaimed_balance": s.unclaimed_balance,
    })
}

pub fn subscription_json(s: &pb::Subscription) -> Value {
    json!({
        "subscription_id": s.subscription_id, "series_id": s.series_id, "bank_id": s.bank_id, "investor_ref": s.investor_ref,
        "category": category_name(s.category), "country": s.country, "units": s.units, "status": subscription_status(s.status),
        "allotted_units": s.allotted_units, "refunded_units": s.refunded_units, "amount_due": s.amount_due,
        "idempotency_key": s.idempotency_key,
        "registration": super::holdings::registration_json(s.registration.as_ref()),
    })
}

pub fn holding_json(h: &pb::Holding) -> Value {
    json!({"series_id": h.series_id, "investor_ref": h.investor_ref, "bank_id": h.bank_id, "units": h.units,
        "redeemed_units": h.redeemed_units, "registration": super::holdings::registration_json(h.registration.as_ref()),
        "pending_units": h.pending_units, "gift_units": h.gift_units, "early_redeemed_units": h.early_redeemed_units})
}

fn print_series(
    s: &pb::Series,
    receipt: Option<&pb::Receipt>,
    json_out: bool,
) -> anyhow::Result<()> {
    if json_out {
        let mut v = series_json(s);
        if let Some(r) = receipt {
            v["receipt"] = json!({"index": r.index, "entry_hash": hex::encode(&r.entry_hash), "tree_size": r.tree_size});
        }
        say!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    let t = s.terms.clone().unwrap_or_default();
    let f = s.figures.clone().unwrap_or_default();
    let b = s.book.clone().unwrap_or_default();
    say!("series        {}  ({})", t.series_id, t.name)?;
    say!("status        {}", series_status(s.status))?;
    say!(
        "terms         {} {} per unit, cap {} units, {} to {}, {} {}",
        t.currency,
        t.face_value,
        t.cap_units,
        t.issue_date,
        t.maturity_date,
        t.frequency,
        t.day_count
    )?;
    say!(
        "pricing       issue price {}%, coupon {}, yield {}, price per unit {} {}",
        out::rounded(&f.issue_price, 4),
        out::percent(&f.coupon_rate),
        out::percent(&f.issue_yield),
        t.currency,
        f.price_per_unit
    )?;
    if !f.discount_bps.is_empty() {
        say!(
            "patriotic     {} bp below the reference yield {}: saves the issuer {} {} per unit (present value)",
            f.discount_bps,
            out::percent(&f.reference_yield),
            t.currency,
            out::amount(&f.issuer_savings_per_unit, &t.currency)
        )?;
    }
    say!(
        "book          {} subscriptions, {} units subscribed, {} allotted, {} settled, {} issued; raised {} {}",
        b.subscriptions,
        b.subscribed_units,
        b.allotted_units,
        b.settled_units,
        b.issued_units,
        t.currency,
        b.amount_raised
    )?;
    for (title, list) in [
        ("by category", &b.by_category),
        ("by country", &b.by_country),
    ] {
        let parts: Vec<String> = list
            .iter()
            .map(|x| format!("{} {}", x.key, x.subscribed_units))
            .collect();
        if !parts.is_empty() {
            say!("  {title:<12}{}", parts.join(", "))?;
        }
    }
    for tr in &s.tranches {
        let terms = tr.terms.clone().unwrap_or_default();
        say!(
            "tranche {:<5} {}: settles {}, yield {}, clean price {}%, {} {} per unit + {} accrued; {} units issued",
            terms.tranche,
            tr.status,
            terms.settlement_date,
            out::percent(&terms.issue_yield),
            out::rounded(&terms.clean_price, 4),
            t.currency,
            terms.price_per_unit,
            out::amount(&terms.accrued_per_unit, &t.currency),
            tr.units_issued
        )?;
    }
    if !s.unclaimed_balance.is_empty() && !out::is_zero(&s.unclaimed_balance) {
        say!(
            "unclaimed     {} {} reported undeliverable and not yet claimed",
            t.currency,
            out::amount(&s.unclaimed_balance, &t.currency)
        )?;
    }
    say!(
        "schedule      {} flows, first {} last {}",
        s.schedule.len(),
        s.schedule.first().map_or("-", |f| &f.payment_date),
        s.schedule.last().map_or("-", |f| &f.payment_date)
    )?;
    if let Some(r) = receipt {
        say!(
            "recorded as entry {} (entry hash {}), ledger size {}",
            r.index,
            hex::encode(&r.entry_hash),
            r.tree_size
        )?;
    }
    Ok(())
}

fn print_subscriptions(list: &[pb::Subscription], json_out: bool) -> anyhow::Result<()> {
    if json_out {
        say!(
            "{}",
            serde_json::to_string_pretty(&list.iter().map(subscription_json).collect::<Vec<_>>())?
        )?;
        return Ok(());
    }
    let mut table = out::table(
        &[
            "ID", "SERIES", "BANK", "INVESTOR", "CATEGORY", "CC", "UNITS", "STATUS", "ALLOTTED",
            "DUE",
        ],
        &[0, 6, 8, 9],
    );
    for s in list {
        table.add_row(vec![
            s.subscription_id.to_string(),
            s.series_id.clone(),
            s.bank_id.clone(),
            s.investor_ref.clone(),
            category_name(s.category),
            s.country.clone(),
            s.units.clone(),
            subscription_status(s.status),
            s.allotted_units.clone(),
            s.amount_due.clone(),
        ]);
    }
    out::print_table(&table)
}

fn print_holdings(list: &[pb::Holding], json_out: bool) -> anyhow::Result<()> {
    if json_out {
        say!(
            "{}",
            serde_json::to_string_pretty(&list.iter().map(holding_json).collect::<Vec<_>>())?
        )?;
        return Ok(());
    }
    let mut table = out::table(
        &["SERIES", "INVESTOR", "BANK", "UNITS", "REDEEMED"],
        &[3, 4],
    );
    for h in list {
        table.add_row(vec![
            h.series_id.clone(),
            h.investor_ref.clone(),
            h.bank_id.clone(),
            h.units.clone(),
            h.redeemed_units.clone(),
        ]);
    }
    out::print_table(&table)
}

#[derive(Debug, clap::Subcommand)]
pub enum SeriesCommand {
    /// Create a draft series from a terms file (JSON or TOML) (treasury).
    Create {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        file: PathBuf,
    },
    /// Replace the terms of a draft series (treasury).
    Amend {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        file: PathBuf,
    },
    /// Open the subscription window (treasury).
    Open(SeriesIdArgs),
    /// Close the subscription window now (treasury).
    Close(SeriesIdArgs),
    /// Allot the book by the series' rule (treasury).
    Allot(SeriesIdArgs),
    /// Release allotments not settled by the deadline (treasury).
    ReleaseUnsettled(SeriesIdArgs),
    /// Issue the series: create the holdings (treasury).
    Issue(SeriesIdArgs),
    /// Cancel the series before issue, refunding every subscription (treasury).
    Cancel {
        #[command(flatten)]
        args: SeriesIdArgs,
        #[arg(long)]
        reason: String,
    },
    /// Show a series: terms, pricing figures, book and schedule.
    Show(SeriesIdArgs),
    /// List every series.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Every holder of a series (treasury, auditor).
    Holders(SeriesIdArgs),
}

#[derive(Debug, clap::Args)]
pub struct SeriesIdArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Series id, e.g. AZ-2031-USD.
    #[arg(long)]
    pub id: String,
}

pub async fn run_series(command: &SeriesCommand) -> anyhow::Result<()> {
    match command {
        SeriesCommand::Create { client, file } | SeriesCommand::Amend { client, file } => {
            let terms = TermsFile::read(file)?.to_pb()?;
            let c = client.connect().await?;
            let r = if matches!(command, SeriesCommand::Create { .. }) {
                c.create_series(terms).await
            } else {
                c.amend_series(terms).await
            }
            .map_err(status_error)?;
            print_series(
                &r.series.unwrap_or_default(),
                r.receipt.as_ref(),
                client.json,
            )
        }
        SeriesCommand::Open(a)
        | SeriesCommand::Close(a)
        | SeriesCommand::Allot(a)
        | SeriesCommand::ReleaseUnsettled(a)
        | SeriesCommand::Issue(a) => {
            let act = match command {
                SeriesCommand::Open(_) => SeriesAction::Open,
                SeriesCommand::Close(_) => SeriesAction::Close,
                SeriesCommand::Allot(_) => SeriesAction::Allot,
                SeriesCommand::ReleaseUnsettled(_) => SeriesAction::ReleaseUnsettled,
                _ => SeriesAction::Issue,
            };
            let c = a.client.connect().await?;
            let r = c.series_action(act, &a.id).await.map_err(status_error)?;
            print_series(
                &r.series.unwrap_or_default(),
                r.receipt.as_ref(),
                a.client.json,
            )
        }
        SeriesCommand::Cancel { args, reason } => {
            let c = args.client.connect().await?;
            let r = c
                .series_action(SeriesAction::Cancel(reason.clone()), &args.id)
                .await
                .map_err(status_error)?;
            print_series(
                &r.series.unwrap_or_default(),
                r.receipt.as_ref(),
                args.client.json,
            )
        }
        SeriesCommand::Show(a) => {
            let c = a.client.connect().await?;
            let s = c.get_series(&a.id).await.map_err(status_error)?;
            print_series(&s, None, a.client.json)
        }
        SeriesCommand::List { client } => {
            let c = client.connect().await?;
            let list = c.list_series().await.map_err(status_error)?;
            if client.json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(
                        &list.iter().map(series_json).collect::<Vec<_>>()
                    )?
                )?;
            } else {
                let mut table = out::table(
                    &["SERIES", "STATUS", "CCY", "CAP", "SUBSCRIBED", "ALLOTTED"],
                    &[3, 4, 5],
                );
                for s in &list {
                    let t = s.terms.clone().unwrap_or_default();
                    let b = s.book.clone().unwrap_or_default();
                    table.add_row(vec![
                        t.series_id,
                        series_status(s.status),
                        t.currency,
                        t.cap_units,
                        b.subscribed_units,
                        b.allotted_units,
                    ]);
                }
                out::print_table(&table)?;
            }
            Ok(())
        }
        SeriesCommand::Holders(a) => {
            let c = a.client.connect().await?;
            let list = c
                .all_holders(&a.id, crate::limits::PAGE_SIZE_MAX)
                .await
                .map_err(status_error)?;
            print_holdings(&list, a.client.json)
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct SubscribeArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long)]
    pub series: String,
    /// The bank's pseudonymous investor reference (no names or documents).
    #[arg(long)]
    pub investor: String,
    /// citizen_abroad, child_of_citizen_abroad, former_citizen or affinity.
    #[arg(long)]
    pub category: String,
    /// ISO 3166-1 alpha-2 country of residence.
    #[arg(long)]
    pub country: String,
    /// Whole units.
    #[arg(long)]
    pub units: String,
    /// Retry-safe key: the same key and request returns the first answer. Default: random.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    #[command(flatten)]
    pub registration: super::holdings::RegistrationArgs,
}

#[derive(Debug, clap::Args)]
pub struct SubscriptionIdArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Subscription id (the ledger index that recorded it).
    #[arg(long)]
    pub subscription: u64,
}

#[derive(Debug, clap::Args)]
pub struct SubscriptionsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only this series.
    #[arg(long, default_value = "")]
    pub series: String,
}

#[derive(Debug, clap::Args)]
pub struct HoldingsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long)]
    pub investor: String,
    /// The custodian bank (treasury and auditors must name it; banks see their own).
    #[arg(long, default_value = "")]
    pub bank: String,
}

pub async fn run_subscribe(a: &SubscribeArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let key = a
        .idempotency_key
        .clone()
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 12]>()));
    let r = c
        .submit(pb::SubmitSubscription {
            series_id: a.series.clone(),
            investor_ref: a.investor.clone(),
            category: category_from_name(&a.category)? as i32,
            country: a.country.clone(),
            units: a.units.clone(),
            idempotency_key: key,
            registration: a.registration.to_pb()?,
        })
        .await
        .map_err(status_error)?;
    print_subscription_reply(&r, a.client.json)
}

fn print_subscription_reply(r: &pb::SubscriptionResponse, json_out: bool) -> anyhow::Result<()> {
    let sub = r.subscription.clone().unwrap_or_default();
    if json_out {
        let mut v = subscription_json(&sub);
        if let Some(rc) = &r.receipt {
            v["receipt"] = json!({"index": rc.index, "entry_hash": hex::encode(&rc.entry_hash), "tree_size": rc.tree_size});
        }
        v["idempotent_replay"] = json!(r.idempotent_replay);
        say!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    print_subscriptions(std::slice::from_ref(&sub), false)?;
    if let Some(rc) = &r.receipt {
        let note = if r.idempotent_replay {
            " (a repeat: nothing new was written)"
        } else {
            ""
        };
        say!(
            "recorded as entry {} (entry hash {}){note}",
            rc.index,
            hex::encode(&rc.entry_hash)
        )?;
    }
    Ok(())
}

pub async fn run_withdraw(a: &SubscriptionIdArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let r = c.withdraw(a.subscription).await.map_err(status_error)?;
    print_subscription_reply(&r, a.client.json)
}

pub async fn run_settle(a: &SubscriptionIdArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let r = c.settle(a.subscription).await.map_err(status_error)?;
    print_subscription_reply(&r, a.client.json)
}

pub async fn run_subscriptions(a: &SubscriptionsArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let list = c.all_subscriptions(&a.series).await.map_err(status_error)?;
    print_subscriptions(&list, a.client.json)
}

pub async fn run_holdings(a: &HoldingsArgs) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let list = c
        .investor_holdings(&a.investor, &a.bank)
        .await
        .map_err(status_error)?;
    print_holdings(&list, a.client.json)
}
