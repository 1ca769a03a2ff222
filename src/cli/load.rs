//! `dbond load`: drives a running server like a distribution day. Many banks
//! (each with its own key) submit subscriptions across several series
//! concurrently, some are withdrawn, some read back; it reports the durable
//! subscription rate, latency percentiles and errors by status code, and finally
//! checks that every acknowledged write is on the ledger.

use super::say;
use crate::client::{Client, CommandKind, SeriesAction};
use crate::ledger::keys;
use crate::proto as pb;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Server address.
    #[arg(long, env = "DBOND_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// Subscriptions to submit.
    #[arg(long, default_value_t = 10_000)]
    pub count: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Banks, each registered with its own key.
    #[arg(long, default_value_t = 8)]
    pub banks: usize,
    /// Series the subscriptions are spread over.
    #[arg(long, default_value_t = 4)]
    pub series: usize,
    /// Percent of subscriptions withdrawn right after they are acknowledged.
    #[arg(long, default_value_t = 5)]
    pub withdraw_percent: u64,
    /// Percent of subscriptions read back after they are acknowledged.
    #[arg(long, default_value_t = 10)]
    pub read_percent: u64,
    /// Subscriptions per call: 1 sends each on its own (`SubmitSubscription`);
    /// more sends them together in one `SubmitBatch` call (each still signed by
    /// its bank and recorded on its own), at most 1000.
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// gRPC connections to open (requests are spread over them).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// The admin key, to register the load's banks and treasury.
    #[arg(long, env = "DBOND_KEY", default_value = "./dbond-data/admin.key")]
    pub admin_key: PathBuf,
    /// Skip the final check that every acknowledged write is on the ledger.
    #[arg(long)]
    pub no_check: bool,
}

/// What a load run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub subscriptions: u64,
    pub withdrawals: u64,
    pub reads: u64,
    pub elapsed: Duration,
    /// Latency of acknowledged subscriptions, microseconds, sorted.
    pub latencies_us: Vec<u64>,
    pub errors: BTreeMap<String, u64>,
    /// Acknowledged writes confirmed on the ledger by the final check.
    pub checked: Option<u64>,
}

impl LoadReport {
    pub fn percentile_us(&self, p: u64) -> u64 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let i = ((self.latencies_us.len() as u64 - 1) * p / 100) as usize;
        self.latencies_us[i]
    }

    pub fn rate_per_s(&self) -> u64 {
        let ms = self.elapsed.as_millis().max(1) as u64;
        self.subscriptions * 1000 / ms
    }

    pub fn print(&self) -> anyhow::Result<()> {
        say!("{} subscriptions/s", self.rate_per_s())?;
        say!(
            "acknowledged: {} subscriptions, {} withdrawals, {} reads in {:.2} s",
            self.subscriptions,
            self.withdrawals,
            self.reads,
            self.elapsed.as_secs_f64()
        )?;
        let ms = |us: u64| format!("{}.{:03} ms", us / 1000, us % 1000);
        say!(
            "latency: p50 {}  p90 {}  p99 {}  max {}",
            ms(self.percentile_us(50)),
            ms(self.percentile_us(90)),
            ms(self.percentile_us(99)),
            ms(self.latencies_us.last().copied().unwrap_or(0))
        )?;
        if self.errors.is_empty() {
            say!("errors: none")?;
        } else {
            let parts: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            say!("errors: {}", parts.join(", "))?;
        }
        if let Some(n) = self.checked {
            say!(
                "check: all {n} acknowledged writes are on the ledger (entry hashes match the receipts)"
            )?;
        }
        Ok(())
    }
}

/// The terms of a series this load subscribes to (the appends bench uses them too):
/// USD, fixed 5 % semiannual for five years, its window open from five minutes ago
/// for a week, room for a billion units and a million per investor.
pub fn series_terms(id: &str) -> pb::SeriesTerms {
    let now = chrono::Utc::now();
    let issue = (now + chrono::Duration::days(30)).date_naive();
    let ts = |t: chrono::DateTime<chrono::Utc>| Some(crate::codec::timestamp_to_pb(t));
    pb::SeriesTerms {
        series_id: id.into(),
        name: format!("Load test {id}"),
        currency: "USD".into(),
        face_value: "1000".into(),
        min_units_per_investor: "1".into(),
        max_units_per_investor: "1000000".into(),
        cap_units: "1000000000".into(),
        coupon: Some(pb::Coupon {
            kind: Some(pb::coupon::Kind::Fixed(pb::FixedCoupon {
                rate: "0.05".into(),
            })),
        }),
        frequency: "semiannual".into(),
        day_count: "30/360 US".into(),
        business_day_convention: "following".into(),
        calendar: "weekends_only".into(),
        end_of_month: false,
        first_coupon_date: String::new(),
        record_date_lag_days: 5,
        issue_date: issue.to_string(),
        maturity_date: issue
            .checked_add_months(chrono::Months::new(60))
            .unwrap_or(issue)
            .to_string(),
        window_opens_at: ts(now - chrono::Duration::minutes(5)),
        window_closes_at: ts(now + chrono::Duration::days(7)),
        allotment_rule: pb::AllotmentRule::ProRata as i32,
        retail_priority_units: String::new(),
        eligibility: Some(pb::Eligibility {
            categories: vec![
                pb::DiasporaCategory::CitizenAbroad as i32,
                pb::DiasporaCategory::ChildOfCitizenAbroad as i32,
            ],
            countries_allowed: vec![],
            countries_barred: vec!["IR".into()],
        }),
        pricing: Some(pb::Pricing {
            kind: Some(pb::pricing::Kind::IssuePrice(pb::FixedPrice {
                price: "100".into(),
            })),
        }),
        settlement_deadline: ts(now + chrono::Duration::days(8)),
        unclaimed_period_days: 0,
        date_generation: String::new(),
        accrual_dates: String::new(),
        payment_lag_days: 0,
        ..Default::default()
    }
}

const COUNTRIES: [&str; 8] = ["DE", "US", "GB", "TR", "RU", "FR", "CA", "AE"];

/// A load's signers and where they subscribe: banks registered with keys of
/// their own, and open series.
pub struct Subscribers {
    /// One client per bank, spread over the channels it was given.
    pub banks: Vec<Client>,
    pub series: Vec<String>,
}

/// Registers a treasury (`load-{tag}-treasury`) and `banks` banks
/// (`load-{tag}-bank-{b}`) through `admin`, then has the treasury create and
/// open `series` series (`LOAD-{TAG}-{s}`, with [`series_terms`]). The banks'
/// clients take `channels` in turn. `dbond load` and the appends bench set up
/// with it.
pub async fn set_up_subscribers(
    admin: &Client,
    channels: &[tonic::transport::Channel],
    tag: &str,
    banks: usize,
    series: usize,
) -> Result<Subscribers, tonic::Status> {
    let origin = admin.origin().to_string();
    let channel = |i: usize| {
        channels
            .get(i % channels.len().max(1))
            .cloned()
            .unwrap_or_else(|| admin.channel().clone())
    };
    let treasury_key = keys::generate();
    admin
        .register(
            &format!("load-{tag}-treasury"),
            pb::Role::Treasury,
            &treasury_key.verifying_key(),
            "Load treasury",
        )
        .await?;
    let treasury = Client::with_channel(channel(0), treasury_key, origin.clone());
    let mut out = Subscribers {
        banks: Vec::new(),
        series: Vec::new(),
    };
    for b in 0..banks {
        let key = keys::generate();
        admin
            .register(
                &format!("load-{tag}-bank-{b}"),
                pb::Role::Bank,
                &key.verifying_key(),
                "Load bank",
            )
            .await?;
        out.banks
            .push(Client::with_channel(channel(b), key, origin.clone()));
    }
    for s in 0..series {
        let id = format!("LOAD-{}-{s}", tag.to_uppercase());
        treasury.create_series(series_terms(&id)).await?;
        treasury.series_action(SeriesAction::Open, &id).await?;
        out.series.push(id);
    }
    Ok(out)
}

/// Runs a load against `args.server`, with progress on stderr.
pub async fn run_load(args: &LoadArgs) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(
        args.banks > 0 && args.series > 0 && args.concurrency > 0 && args.connections > 0,
        "banks, series, concurrency and connections must be at least 1"
    );
    anyhow::ensure!(
        (1..=crate::limits::BATCH_REQUESTS_MAX as u64).contains(&args.batch),
        "--batch must be 1 to {} (subscriptions per call), found {}",
        crate::limits::BATCH_REQUESTS_MAX,
        args.batch
    );
    let admin_key = keys::read_private_key(&args.admin_key)?;
    let admin = Client::connect(&args.server, admin_key).await?;
    let tag = hex::encode(rand::random::<[u8; 3]>());
    eprintln!(
        "setting up: 1 treasury, {} banks, {} series (run {tag})",
        args.banks, args.series
    );
    let mut channels = Vec::new();
    for _ in 0..args.connections {
        channels.push(crate::client::channel(&args.server).await?);
    }
    let Subscribers { banks, series } =
        set_up_subscribers(&admin, &channels, &tag, args.banks, args.series)
            .await
            .map_err(super::status_error)?;

    let bar = indicatif::ProgressBar::new(args.count);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos}/{len} subscriptions [{bar:40}] {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let next = Arc::new(AtomicU64::new(0));
    let banks = Arc::new(banks);
    let series = Arc::new(series);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.concurrency {
        let (next, banks, series, bar, args) = (
            next.clone(),
            banks.clone(),
            series.clone(),
            bar.clone(),
            args.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut out = WorkerOut::default();
            loop {
                let first = next.fetch_add(args.batch, Ordering::Relaxed);
                if first >= args.count {
                    return out;
                }
                let last = (first + args.batch).min(args.count);
                let bank_of = |i: u64| &banks[(i as usize) % banks.len()];
                let order = |i: u64| pb::SubmitSubscription {
                    series_id: series[(i as usize / banks.len()) % series.len()].clone(),
                    investor_ref: format!("inv-{w}-{i}"),
                    category: pb::DiasporaCategory::CitizenAbroad as i32,
                    country: COUNTRIES[(i % COUNTRIES.len() as u64) as usize].into(),
                    units: (1 + i % 100).to_string(),
                    idempotency_key: format!("load-{i}"),
                    registration: None,
                };
                let t0 = Instant::now();
                // Per subscription: its receipt, or the status code it was refused with.
                let outcomes: Vec<(u64, Result<pb::Receipt, String>)> = if args.batch == 1 {
                    let outcome = match bank_of(first).submit(order(first)).await {
                        Ok(r) => r.receipt.ok_or_else(|| "no receipt".to_string()),
                        Err(e) => Err(format!("{:?}", e.code())),
                    };
                    vec![(first, outcome)]
                } else {
                    let signed = (first..last)
                        .map(|i| bank_of(i).sign(CommandKind::SubmitSubscription(order(i))))
                        .collect();
                    match bank_of(first).submit_batch(signed).await {
                        Ok(results) => (first..last)
                            .zip(results)
                            .map(|(i, r)| (i, batch_outcome(r)))
                            .collect(),
                        Err(e) => (first..last)
                            .map(|i| (i, Err(format!("{:?}", e.code()))))
                            .collect(),
                    }
                };
                let elapsed_us = t0.elapsed().as_micros() as u64;
                for (i, outcome) in outcomes {
                    match outcome {
                        Ok(rc) => {
                            out.latencies_us.push(elapsed_us);
                            // A subscription's id is the index of its entry.
                            let id = rc.index;
                            out.acked.push((rc.index, rc.entry_hash));
                            follow_up(bank_of(i), i, id, &args, &mut out).await;
                        }
                        Err(code) => {
                            *out.errors.entry(format!("subscribe {code}")).or_default() += 1
                        }
                    }
                    bar.inc(1);
                }
            }
        }));
    }
    let mut report = LoadReport::default();
    let mut acked = Vec::new();
    for w in workers {
        let out = w.await?;
        report.latencies_us.extend(out.latencies_us);
        report.withdrawals += out.withdrawals;
        report.reads += out.reads;
        for (k, v) in out.errors {
            *report.errors.entry(k).or_default() += v;
        }
        acked.extend(out.acked);
    }
    report.elapsed = started.elapsed();
    bar.finish_and_clear();
    report.subscriptions = report.latencies_us.len() as u64;
    report.latencies_us.sort_unstable();
    if !args.no_check {
        report.checked = Some(check_acknowledged(&admin, acked).await?);
    }
    Ok(report)
}

/// One subscription's outcome in a batch reply: its receipt, or its status code.
fn batch_outcome(r: pb::BatchResult) -> Result<pb::Receipt, String> {
    match r.outcome {
        Some(pb::batch_result::Outcome::Receipt(rc)) => Ok(rc),
        Some(pb::batch_result::Outcome::Error(e)) => {
            Err(format!("{:?}", tonic::Code::from_i32(e.code)))
        }
        None => Err("no outcome".into()),
    }
}

/// What a distribution day does after a subscription is acknowledged: some are
/// withdrawn at once, some read back (the same ones in every run).
async fn follow_up(bank: &Client, i: u64, id: u64, args: &LoadArgs, out: &mut WorkerOut) {
    if i % 100 < args.withdraw_percent {
        match bank.withdraw(id).await {
            Ok(r) => {
                out.withdrawals += 1;
                if let Some(rc) = r.receipt {
                    out.acked.push((rc.index, rc.entry_hash));
                }
            }
            Err(e) => {
                *out.errors
                    .entry(format!("withdraw {:?}", e.code()))
                    .or_default() += 1
            }
        }
    } else if (i / 7) % 100 < args.read_percent {
        match bank.get_subscription(id).await {
            Ok(_) => out.reads += 1,
            Err(e) => {
                *out.errors
                    .entry(format!("read {:?}", e.code()))
                    .or_default() += 1
            }
        }
    }
}

#[derive(Default)]
struct WorkerOut {
    latencies_us: Vec<u64>,
    acked: Vec<(u64, Vec<u8>)>,
    withdrawals: u64,
    reads: u64,
    errors: BTreeMap<String, u64>,
}

/// Streams the ledger over the acknowledged range and checks every receipt's entry
/// hash; returns how many were checked.
async fn check_acknowledged(admin: &Client, mut acked: Vec<(u64, Vec<u8>)>) -> anyhow::Result<u64> {
    if acked.is_empty() {
        return Ok(0);
    }
    acked.sort();
    let (first, last) = (acked[0].0, acked[acked.len() - 1].0);
    let mut stream = admin
        .stream_entries(first, last + 1)
        .await
        .map_err(super::status_error)?;
    let mut want = acked.iter().peekable();
    let mut checked = 0u64;
    while let Some(m) = stream.message().await.map_err(super::status_error)? {
        while let Some((index, hash)) = want.peek() {
            if *index != m.index {
                break;
            }
            let actual = crate::ledger::merkle::hash_leaf(&m.entry);
            anyhow::ensure!(
                actual.as_slice() == hash.as_slice(),
                "entry {index} on the ledger does not match its receipt"
            );
            checked += 1;
            want.next();
        }
    }
    anyhow::ensure!(
        want.peek().is_none(),
        "{} acknowledged writes are missing from the ledger",
        acked.len() as u64 - checked
    );
    Ok(checked)
}

pub async fn run(args: &LoadArgs) -> anyhow::Result<()> {
    run_load(args).await?.print()
}
