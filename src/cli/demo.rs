//! `dbond demo`: a whole diaspora bond programme, end to end, through the real gRPC
//! server on loopback: genesis; a treasury, two banks, an auditor and the accrual
//! engine registered; a USD and a EUR series priced with a patriotic discount; a
//! hundred subscriptions from several countries; an oversubscribed book allotted;
//! settlement; issue; a withholding table with two treaty rates; a reopening of
//! the USD series; the engine run to maturity with every coupon paid net of tax,
//! a year after issue a succession, a move between banks, a gift and an early
//! redemption, one payment reported undeliverable and claimed later; the tax
//! report; and a final verification. The server runs the rehearsal clock (a
//! simulated clock the admin moves forward with `ClockService.AdvanceClock`, as
//! `dbond serve --clock simulated` does), so years pass in seconds and the
//! ledger's genesis says it is a rehearsal; everything else is the production
//! path.

use super::say;
use crate::client::{Client, SeriesAction};
use crate::clock::SimulatedClock;
use crate::ledger::keys;
use crate::proto as pb;
use crate::registry::ParticipantId;
use crate::store::{Genesis, Store};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the store in this folder (default: a temporary folder, removed at the end).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Subscriptions to submit (over both series and both banks).
    #[arg(long, default_value_t = 100)]
    pub subscriptions: usize,
}

/// What the demo did, for the summary (and the test that checks it).
#[derive(Debug, Default, Clone)]
pub struct DemoSummary {
    /// Money raised per currency.
    pub raised: BTreeMap<String, Decimal>,
    /// Issuer savings (present value) per currency.
    pub savings: BTreeMap<String, Decimal>,
    /// Coupons paid per currency (excluding redemptions), gross.
    pub coupons_paid: BTreeMap<String, Decimal>,
    /// Tax withheld from coupons, per currency, and per country of residence
    /// (USD series).
    pub withheld: BTreeMap<String, Decimal>,
    pub withheld_by_country: BTreeMap<String, Decimal>,
    /// Units sold by reopening the USD series, and what its buyers paid
    /// (price, accrued interest).
    pub reopened_units: u64,
    pub reopening_paid: (Decimal, Decimal),
    /// The payment reported undeliverable: (event, investor, amount, claim reference).
    pub unclaimed: Option<(String, String, Decimal, String)>,
    /// Principal redeemed at maturity per currency.
    pub redeemed: BTreeMap<String, Decimal>,
    /// Paid for units redeemed early, per currency.
    pub redeemed_early: BTreeMap<String, Decimal>,
    pub discount_bps: Decimal,
    pub subscriptions: usize,
    pub holders: usize,
    pub ledger_entries: u64,
    pub verified_entries: u64,
}

fn step(n: usize, text: &str) -> anyhow::Result<()> {
    say!("[{n:>2}] {text}")
}

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(crate::codec::timestamp_to_pb(t))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

fn terms(
    id: &str,
    name: &str,
    currency: &str,
    frequency: &str,
    years: u32,
    cap: u64,
    start: DateTime<Utc>,
) -> pb::SeriesTerms {
    let issue = (start + Duration::days(21)).date_naive();
    let maturity = issue
        .checked_add_months(chrono::Months::new(12 * years))
        .unwrap_or(issue);
    pb::SeriesTerms {
        series_id: id.into(),
        name: name.into(),
        currency: currency.into(),
        face_value: "1000".into(),
        min_units_per_investor: "1".into(),
        max_units_per_investor: "250".into(),
        cap_units: cap.to_string(),
        coupon: Some(pb::Coupon {
            kind: Some(pb::coupon::Kind::Fixed(pb::FixedCoupon {
                rate: String::new(),
            })),
        }),
        frequency: frequency.into(),
        day_count: "ACT/ACT ICMA".into(),
        business_day_convention: "modified_following".into(),
        calendar: "azerbaijan".into(),
        end_of_month: false,
        first_coupon_date: String::new(),
        record_date_lag_days: 5,
        issue_date: issue.to_string(),
        maturity_date: maturity.to_string(),
        window_opens_at: ts(start + Duration::days(1)),
        window_closes_at: ts(start + Duration::days(14)),
        allotment_rule: pb::AllotmentRule::ProRata as i32,
        retail_priority_units: String::new(),
        eligibility: Some(pb::Eligibility {
            categories: vec![
                pb::DiasporaCategory::CitizenAbroad as i32,
                pb::DiasporaCategory::ChildOfCitizenAbroad as i32,
                pb::DiasporaCategory::FormerCitizen as i32,
                pb::DiasporaCategory::Affinity as i32,
            ],
            countries_allowed: vec![],
            countries_barred: vec!["IR".into(), "KP".into()],
        }),
        pricing: Some(pb::Pricing {
            kind: Some(pb::pricing::Kind::Diaspora(pb::DiasporaPricing {
                reference_yield: if currency == "USD" {
                    "0.0650".into()
                } else {
                    "0.0475".into()
                },
                discount_bps: "150".into(),
                derive_par_coupon: true,
                // The USD coupon is printed in eighths of a percent.
                coupon_step: if currency == "USD" {
                    "0.00125".into()
                } else {
                    String::new()
                },
            })),
        }),
        settlement_deadline: ts(start + Duration::days(18)),
        unclaimed_period_days: 365,
        date_generation: String::new(),
        accrual_dates: String::new(),
        payment_lag_days: 0,
        // The USD series lives after issue: moves between banks and gifts, and
        // early redemption (on request after six months, forgoing three months
        // of coupon; on death; on hardship, 2% of the series a year).
        transfers: if currency == "USD" {
            pb::Transfers::Gifts as i32
        } else {
            pb::Transfers::None as i32
        },
        early_redemption: (currency == "USD").then(|| pb::EarlyRedemption {
            on_request: true,
            lockup_months: 6,
            penalty_months: 3,
            death_put: true,
            hardship_put: true,
            hardship_quota: "0.02".into(),
        }),
    }
}

const COUNTRIES: [&str; 8] = ["DE", "US", "GB", "TR", "RU", "FR", "CA", "AE"];
const CATEGORIES: [pb::DiasporaCategory; 4] = [
    pb::DiasporaCategory::CitizenAbroad,
    pb::DiasporaCategory::ChildOfCitizenAbroad,
    pb::DiasporaCategory::FormerCitizen,
    pb::DiasporaCategory::Affinity,
];

fn status(e: tonic::Status) -> anyhow::Error {
    super::status_error(e)
}

/// The participants of the programme, each a client signing with its own key.
struct Cast {
    treasury: Client,
    banks: [Client; 2],
    auditor: Client,
    engine: Client,
}

/// A series of the programme: its id and terms.
type Series = (&'static str, pb::SeriesTerms);

/// A demo under way: the ledger, its server on loopback, the simulated clock and
/// what the summary will say.
struct Demo<'a> {
    args: &'a DemoArgs,
    data: PathBuf,
    store: PathBuf,
    start: DateTime<Utc>,
    ledger: Store,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    admin: Client,
    summary: DemoSummary,
}

/// Runs the demo, narrating on stdout; returns the summary.
pub async fn run_demo(args: &DemoArgs) -> anyhow::Result<DemoSummary> {
    let mut demo = Demo::start(args).await?;
    let cast = demo.register_participants().await?;
    let series = demo.price_series(&cast).await?;
    demo.subscribe(&cast, &series).await?;
    demo.allot(&cast, &series).await?;
    demo.settle_and_issue(&cast, &series).await?;
    demo.withholding(&cast, &series).await?;
    demo.reopen(&cast, &series).await?;
    demo.run_to_maturity(&cast, &series).await?;
    demo.tax_and_unclaimed(&cast, &series).await?;
    demo.verify(cast, &series).await
}

impl<'a> Demo<'a> {
    /// Step 1: genesis in the data folder (its ledger key, public key and admin
    /// key beside the store) and a server on loopback.
    async fn start(args: &'a DemoArgs) -> anyhow::Result<Demo<'a>> {
        let data = match &args.data {
            Some(data) => data.clone(),
            None => tempdir(),
        };
        std::fs::create_dir_all(&data)?;
        let store = data.join("store");
        anyhow::ensure!(
            !store.exists(),
            "{} already holds a store; give an empty --data folder",
            data.display()
        );
        let now = Utc::now();
        let start = Utc
            .with_ymd_and_hms(now.year(), now.month(), now.day(), 9, 0, 0)
            .single()
            .unwrap_or(now);
        let clock = Arc::new(SimulatedClock::new(start));
        step(
            1,
            &format!(
                "genesis: a new ledger in {} with its ledger key and an admin key",
                data.display()
            ),
        )?;
        let paths = super::serve::DataPaths::new(&data);
        let ledger_key = keys::generate();
        let admin_key = keys::generate();
        keys::write_private_key(&paths.ledger_key, &ledger_key)?;
        keys::write_public_key(&paths.ledger_public_key, &ledger_key.verifying_key())?;
        keys::write_private_key(&paths.admin_key, &admin_key)?;
        let ledger = Store::create(
            &store,
            &ledger_key,
            Genesis {
                origin: "demo.dbond/diaspora-bonds".into(),
                admin_participant_id: ParticipantId::parse("id", "admin")?,
                admin_key: &admin_key,
            },
            clock.clone(),
        )?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::service::serve(
            ledger.clone(),
            clock.clone(),
            listener,
            Default::default(),
            async {
                let _ = stopped.await;
            },
        ));
        say!(
            "     gRPC server listening on {addr}: a rehearsal ledger, its simulated clock starting {start}"
        )?;
        let admin = Client::connect(&addr, admin_key)
            .await?
            .with_clock(clock.clone());
        Ok(Demo {
            args,
            data,
            store,
            start,
            ledger,
            stop,
            server,
            admin,
            summary: DemoSummary {
                discount_bps: Decimal::from(150),
                ..Default::default()
            },
        })
    }

    /// Step 2: the treasury, two banks, an auditor and the engine.
    async fn register_participants(&self) -> anyhow::Result<Cast> {
        step(
            2,
            "register the treasury, two custodian banks, an auditor and the accrual engine",
        )?;
        let mut clients = BTreeMap::new();
        for (id, role, name) in [
            ("treasury", pb::Role::Treasury, "Ministry of Finance"),
            ("bank-baku", pb::Role::Bank, "Bank of Baku (custodian)"),
            (
                "bank-berlin",
                pb::Role::Bank,
                "Berliner Diaspora Bank (custodian)",
            ),
            ("auditor", pb::Role::Auditor, "Chamber of Accounts"),
            ("engine", pb::Role::Engine, "Coupon accrual engine"),
        ] {
            let k = keys::generate();
            if self.args.data.is_some() {
                // Kept with the store, to try the other verbs on it afterwards.
                keys::write_private_key(&self.data.join(format!("{id}.key")), &k)?;
            }
            self.admin
                .register(id, role, &k.verifying_key(), name)
                .await
                .map_err(status)?;
            clients.insert(id, self.admin.as_key(k));
            say!("     {id:<12} {name}")?;
        }
        let mut take = |id: &str| {
            clients
                .remove(id)
                .ok_or_else(|| anyhow::anyhow!("participant {id} was not registered"))
        };
        Ok(Cast {
            treasury: take("treasury")?,
            banks: [take("bank-baku")?, take("bank-berlin")?],
            auditor: take("auditor")?,
            engine: take("engine")?,
        })
    }

    /// Step 3: two series priced with a patriotic discount, opened.
    async fn price_series(&self, cast: &Cast) -> anyhow::Result<[Series; 2]> {
        step(
            3,
            "the treasury prices two series with a 150 bp patriotic discount (par coupon at the diaspora yield)",
        )?;
        let series = [
            (
                "AZ-DIASPORA-USD",
                terms(
                    "AZ-DIASPORA-USD",
                    "Diaspora Development Bond (USD)",
                    "USD",
                    "semiannual",
                    3,
                    4000,
                    self.start,
                ),
            ),
            (
                "AZ-DIASPORA-EUR",
                terms(
                    "AZ-DIASPORA-EUR",
                    "Diaspora Development Bond (EUR)",
                    "EUR",
                    "annual",
                    2,
                    3000,
                    self.start,
                ),
            ),
        ];
        for (id, t) in &series {
            let s = cast
                .treasury
                .create_series(t.clone())
                .await
                .map_err(status)?
                .series
                .unwrap_or_default();
            let f = s.figures.unwrap_or_default();
            say!(
                "     {id}: reference {} - 150 bp = diaspora yield {}; par coupon {}; issue price {}%; saves the issuer {} {} per unit",
                f.reference_yield,
                f.issue_yield,
                f.coupon_rate,
                f.issue_price,
                t.currency,
                dec(&f.issuer_savings_per_unit).round_dp(2)
            )?;
            cast.treasury
                .series_action(SeriesAction::Open, id)
                .await
                .map_err(status)?;
        }
        Ok(series)
    }

    /// Step 4: subscriptions from investors in several countries, through both banks.
    async fn subscribe(&mut self, cast: &Cast, series: &[Series; 2]) -> anyhow::Result<()> {
        let count = self.args.subscriptions;
        step(
            4,
            &format!(
                "{count} subscriptions from investors in {} countries through both banks",
                COUNTRIES.len()
            ),
        )?;
        self.advance_clock(self.start + Duration::days(2)).await?;
        for i in 0..count {
            let (id, _) = &series[i % 2];
            let units = 20 + (i as u64 * 53) % 220;
            cast.banks[i % 4 / 2]
                .submit(pb::SubmitSubscription {
                    series_id: id.to_string(),
                    investor_ref: format!("inv-{i:03}"),
                    category: CATEGORIES[i % 4] as i32,
                    country: COUNTRIES[i % COUNTRIES.len()].into(),
                    units: units.to_string(),
                    idempotency_key: format!("order-{i}"),
                    registration: None,
                })
                .await
                .map_err(status)?;
        }
        self.summary.subscriptions = count;
        for (id, _) in series {
            let s = cast.auditor.get_series(id).await.map_err(status)?;
            let b = s.book.unwrap_or_default();
            let t = s.terms.unwrap_or_default();
            say!(
                "     {id}: {} subscriptions for {} units against a cap of {}",
                b.subscriptions,
                b.subscribed_units,
                t.cap_units
            )?;
        }
        Ok(())
    }

    /// Step 5: the windows close and the books are allotted pro rata.
    async fn allot(&self, cast: &Cast, series: &[Series; 2]) -> anyhow::Result<()> {
        step(
            5,
            "the window closes; the oversubscribed books are allotted pro rata in whole units",
        )?;
        self.advance_clock(self.start + Duration::days(15)).await?;
        for (id, _) in series {
            cast.treasury
                .series_action(SeriesAction::Close, id)
                .await
                .map_err(status)?;
            let s = cast
                .treasury
                .series_action(SeriesAction::Allot, id)
                .await
                .map_err(status)?
                .series
                .unwrap_or_default();
            let b = s.book.unwrap_or_default();
            say!(
                "     {id}: {} of {} units allotted",
                b.allotted_units,
                b.subscribed_units
            )?;
        }
        Ok(())
    }

    /// Step 6: every allotment settled; both series issued.
    async fn settle_and_issue(&mut self, cast: &Cast, series: &[Series; 2]) -> anyhow::Result<()> {
        step(
            6,
            "the banks confirm settlement of every allotment; the treasury issues both series",
        )?;
        self.advance_clock(self.start + Duration::days(17)).await?;
        for bank in &cast.banks {
            for s in bank.all_subscriptions("").await.map_err(status)? {
                if s.status == pb::SubscriptionStatus::Allotted as i32 && s.allotted_units != "0" {
                    bank.settle(s.subscription_id).await.map_err(status)?;
                }
            }
        }
        for (id, t) in series {
            let s = cast
                .treasury
                .series_action(SeriesAction::Issue, id)
                .await
                .map_err(status)?
                .series
                .unwrap_or_default();
            let b = s.book.unwrap_or_default();
            let f = s.figures.unwrap_or_default();
            let raised = dec(&b.amount_raised);
            let units = dec(&b.issued_units);
            let summary = &mut self.summary;
            *summary.raised.entry(t.currency.clone()).or_default() += raised;
            *summary.savings.entry(t.currency.clone()).or_default() +=
                (dec(&f.issuer_savings_per_unit) * units).round_dp(2);
            summary.holders += cast
                .auditor
                .all_holders(id, 1000)
                .await
                .map_err(status)?
                .len();
            say!(
                "     {id}: {} units issued, {} {} raised",
                b.issued_units,
                t.currency,
                raised
            )?;
        }
        Ok(())
    }

    /// Step 7: the treasury sets the USD series' withholding table (15 %, with
    /// treaty rates for Germany and the United Kingdom) from its issue date; a
    /// bank records that one of its clients moved to Germany.
    async fn withholding(&mut self, cast: &Cast, series: &[Series; 2]) -> anyhow::Result<()> {
        step(
            7,
            "withholding tax: the USD series withholds 15 %, 5 % for residents of Germany and 10 % of the United Kingdom; a bank records a client's move",
        )?;
        let (usd, t) = &series[0];
        let treaty = [
            ("DE".to_string(), "0.05".to_string()),
            ("GB".to_string(), "0.10".to_string()),
        ];
        cast.treasury
            .set_withholding_table(usd, &t.issue_date, "0.15", &treaty)
            .await
            .map_err(status)?;
        // inv-004 subscribed to the USD series from Russia through the first bank; from the issue
        // date on, that bank records the client as resident in Germany.
        cast.banks[0]
            .record_residence("inv-004", "DE", &t.issue_date)
            .await
            .map_err(status)?;
        say!(
            "     {usd}: table in force from {}; inv-004 resident in DE from then on",
            t.issue_date
        )?;
        Ok(())
    }

    /// Step 8: a tap of the USD series a month after issue, priced at the then
    /// market yield less the discount; its buyers pay the price plus the
    /// interest accrued since issue, and the new units are fungible with the old.
    async fn reopen(&mut self, cast: &Cast, series: &[Series; 2]) -> anyhow::Result<()> {
        let (usd, _) = &series[0];
        step(
            8,
            &format!(
                "the treasury reopens {usd} for 500 more units at the market yield of the day less 150 bp"
            ),
        )?;
        let opens = self.start + Duration::days(30);
        let closes = self.start + Duration::days(40);
        self.advance_clock(opens).await?;
        let reopened = cast
            .treasury
            .reopen_series(&crate::client::Reopening {
                series_id: usd.to_string(),
                window_opens_at: opens,
                window_closes_at: closes,
                settlement_date: (self.start + Duration::days(45)).date_naive().to_string(),
                settlement_deadline: self.start + Duration::days(44),
                reference_yield: "0.0625".into(),
                discount_bps: "150".into(),
                cap_units: "500".into(),
            })
            .await
            .map_err(status)?
            .series
            .unwrap_or_default();
        let tranche = reopened
            .tranches
            .last()
            .and_then(|t| t.terms.clone())
            .unwrap_or_default();
        say!(
            "     tranche {}: yield {}, clean price {}%, {} a unit plus {} accrued, settling {}",
            tranche.tranche,
            tranche.issue_yield,
            tranche.clean_price,
            tranche.price_per_unit,
            dec(&tranche.accrued_per_unit).round_dp(2),
            tranche.settlement_date
        )?;
        self.advance_clock(opens + Duration::days(1)).await?;
        for i in 0..10 {
            cast.banks[i % 2]
                .submit(pb::SubmitSubscription {
                    series_id: usd.to_string(),
                    investor_ref: format!("tap-{i:03}"),
                    category: CATEGORIES[i % 4] as i32,
                    country: COUNTRIES[i % COUNTRIES.len()].into(),
                    units: "60".into(),
                    idempotency_key: format!("tap-order-{i}"),
                    registration: None,
                })
                .await
                .map_err(status)?;
        }
        self.advance_clock(closes).await?;
        for action in [SeriesAction::Close, SeriesAction::Allot] {
            cast.treasury
                .series_action(action, usd)
                .await
                .map_err(status)?;
        }
        self.advance_clock(closes + Duration::days(2)).await?;
        for bank in &cast.banks {
            for s in bank.all_subscriptions(usd).await.map_err(status)? {
                if s.status == pb::SubscriptionStatus::Allotted as i32 && s.allotted_units != "0" {
                    bank.settle(s.subscription_id).await.map_err(status)?;
                }
            }
        }
        let issued = cast
            .treasury
            .series_action(SeriesAction::Issue, usd)
            .await
            .map_err(status)?
            .series
            .unwrap_or_default();
        let t = issued.tranches.last().cloned().unwrap_or_default();
        let units: u64 = t.units_issued.parse().unwrap_or(0);
        self.summary.reopened_units = units;
        self.summary.reopening_paid = (dec(&t.principal_raised), dec(&t.accrued_received));
        say!(
            "     tranche {} issued: {units} units (600 asked, pro rata), USD {} in price and {} in accrued interest",
            tranche.tranche,
            t.principal_raised,
            t.accrued_received
        )?;
        Ok(())
    }

    /// Step 10: what the series withheld by country, and the unclaimed payment.
    async fn tax_and_unclaimed(&mut self, cast: &Cast, series: &[Series; 2]) -> anyhow::Result<()> {
        let (usd, t) = &series[0];
        step(
            10,
            &format!(
                "the tax report of {usd} by country, for the tax authority; unclaimed payments"
            ),
        )?;
        let first = self.start.year();
        let last = chrono::NaiveDate::parse_from_str(&t.maturity_date, "%Y-%m-%d")
            .map(|d| d.year())
            .unwrap_or(first);
        for year in first..=last {
            let r = cast.auditor.tax_report(usd, year).await.map_err(status)?;
            if r.coupons == 0 {
                continue;
            }
            *self.summary.withheld.entry(r.currency.clone()).or_default() += dec(&r.withheld);
            for line in &r.by_country {
                *self
                    .summary
                    .withheld_by_country
                    .entry(line.key.clone())
                    .or_default() += dec(&line.withheld);
            }
            say!(
                "     {year}: {} coupons, gross {} {}, withheld {}, net {}",
                r.coupons,
                r.currency,
                r.gross,
                r.withheld,
                r.net
            )?;
        }
        let by_country: Vec<String> = self
            .summary
            .withheld_by_country
            .iter()
            .map(|(c, v)| format!("{c} {v}"))
            .collect();
        say!("     withheld by country: {}", by_country.join(", "))?;
        let unclaimed = cast
            .treasury
            .list_unclaimed(usd, "")
            .await
            .map_err(status)?;
        for p in &unclaimed.payments {
            say!(
                "     unclaimed: {} to {} at {}: {} {}, {}",
                p.event_id,
                p.investor_ref,
                p.bank_id,
                t.currency,
                p.amount,
                if p.claim_reference.is_empty() {
                    "not claimed".to_string()
                } else {
                    format!("claimed, paid as {}", p.claim_reference)
                }
            )?;
        }
        Ok(())
    }

    /// The first posted coupon of the USD series that one of the first bank's
    /// clients could not receive: reported undeliverable, then claimed a year on.
    async fn undeliverable(&mut self, cast: &Cast, usd: &str) -> anyhow::Result<()> {
        let event = format!("{usd}/coupon/0");
        match &self.summary.unclaimed {
            None => {
                let bank = &cast.banks[0];
                let holders = cast.auditor.all_holders(usd, 1000).await.map_err(status)?;
                // The first of the bank's clients the coupon paid (a holding
                // a succession or transfer opened since was not paid it).
                let mut reported = None;
                for h in holders.iter().filter(|h| h.bank_id == "bank-baku") {
                    match bank.report_undeliverable(&event, &h.investor_ref).await {
                        Ok(r) => {
                            reported = Some((h, r));
                            break;
                        }
                        // Not paid yet: the next run reports it.
                        Err(e) if e.code() == tonic::Code::FailedPrecondition => return Ok(()),
                        Err(e) if e.code() == tonic::Code::NotFound => continue,
                        Err(e) => return Err(status(e)),
                    }
                }
                let Some((h, r)) = reported else {
                    return Ok(());
                };
                let amount = r
                    .unclaimed
                    .as_ref()
                    .map(|u| dec(&u.amount))
                    .unwrap_or_default();
                say!(
                    "     bank-baku cannot deliver {event} to {}: USD {amount} moves to the unclaimed balance",
                    h.investor_ref
                )?;
                self.summary.unclaimed =
                    Some((event, h.investor_ref.clone(), amount, String::new()));
            }
            Some((event, investor, amount, reference)) if reference.is_empty() => {
                let reference = "BAKU-PAY-000417".to_string();
                cast.banks[0]
                    .record_claim(event, investor, &reference)
                    .await
                    .map_err(status)?;
                say!("     {investor} claims {event}: bank-baku pays USD {amount} as {reference}")?;
                let (event, investor, amount) = (event.clone(), investor.clone(), *amount);
                self.summary.unclaimed = Some((event, investor, amount, reference));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Step 9: the engine runs once a year until past the last maturity.
    async fn run_to_maturity(&mut self, cast: &Cast, series: &[Series; 2]) -> anyhow::Result<()> {
        step(
            9,
            "the accrual engine runs to maturity: record dates, coupons (net of tax withheld) and redemptions, posted once each; a year after issue, a succession, a move between banks, a gift and an early redemption",
        )?;
        let last_maturity = series
            .iter()
            .filter_map(|(_, t)| {
                chrono::NaiveDate::parse_from_str(&t.maturity_date, "%Y-%m-%d").ok()
            })
            .max();
        let mut year = self.start.year();
        let end = last_maturity.map(|d| d.year() + 1).unwrap_or(year + 4);
        // A year and a fortnight after issue (after the first anniversary's
        // coupon, outside any record-date period): the USD series' holdings
        // change.
        let (usd, usd_terms) = &series[0];
        let life_at = chrono::NaiveDate::parse_from_str(&usd_terms.issue_date, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.checked_add_months(chrono::Months::new(12)))
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .map(|d| d.and_utc() + Duration::days(15));
        let mut life_done = false;
        while year < end {
            year += 1;
            let at = Utc
                .with_ymd_and_hms(year, 1, 31, 9, 0, 0)
                .single()
                .unwrap_or(self.start);
            if let Some(t) = life_at.filter(|t| !life_done && *t < at) {
                self.advance_clock(t).await?;
                cast.engine
                    .accrue(&t.date_naive().to_string(), |_, _| {})
                    .await
                    .map_err(status)?;
                self.life_after_issue(cast, usd, t.date_naive()).await?;
                life_done = true;
            }
            self.advance_clock(at).await?;
            let (posted, _, waiting) = cast
                .engine
                .accrue(&at.date_naive().to_string(), |_, _| {})
                .await
                .map_err(status)?;
            say!(
                "     through {}: {posted} events posted{}",
                at.date_naive(),
                if waiting.is_empty() {
                    String::new()
                } else {
                    format!(", {} waiting for fixings", waiting.len())
                }
            )?;
            self.undeliverable(cast, series[0].0).await?;
        }
        for (id, t) in series {
            let d = cast.treasury.debt_service(id).await.map_err(status)?;
            for l in d.lines.iter().filter(|l| l.status == "paid") {
                let paid = match l.kind.as_str() {
                    "coupon" => &mut self.summary.coupons_paid,
                    "early_redemption" => &mut self.summary.redeemed_early,
                    _ => &mut self.summary.redeemed,
                };
                *paid.entry(t.currency.clone()).or_default() += dec(&l.amount);
            }
            let s = cast.auditor.get_series(id).await.map_err(status)?;
            say!(
                "     {id}: {}",
                if s.status == pb::SeriesStatus::Matured as i32 {
                    "matured, every holding redeemed"
                } else {
                    "not matured yet"
                }
            )?;
        }
        Ok(())
    }

    /// A holding's life after issue, at the banks' first clients of the series:
    /// a death notice passes a sole holding to the estate the bank names,
    /// bank-berlin takes 5 units of a bank-baku client moving to it, a
    /// bank-baku client gives 3 units to a new investor, and a bank-berlin
    /// client redeems 2 units early (face + accrued - 3 months of coupon).
    async fn life_after_issue(
        &mut self,
        cast: &Cast,
        id: &str,
        today: chrono::NaiveDate,
    ) -> anyhow::Result<()> {
        let holders = cast.auditor.all_holders(id, 1000).await.map_err(status)?;
        let at = |bank: &str| -> Vec<String> {
            holders
                .iter()
                .filter(|h| h.bank_id == bank && h.units.parse::<u64>().is_ok_and(|u| u >= 5))
                .map(|h| h.investor_ref.clone())
                .collect()
        };
        let (a, b) = (at("bank-baku"), at("bank-berlin"));
        anyhow::ensure!(
            a.len() >= 3 && !b.is_empty(),
            "{id} has too few holders for the demo"
        );
        let (bank_a, bank_b) = (&cast.banks[0], &cast.banks[1]);
        let estate = format!("estate-{}", a[0]);
        bank_a
            .file_death_notice(pb::FileDeathNotice {
                owner_ref: a[0].clone(),
                date_of_death: (today - Duration::days(10)).to_string(),
                document_hash: <sha2::Sha256 as sha2::Digest>::digest(
                    b"death certificate (kept by bank-baku)",
                )
                .to_vec(),
                estate_ref: estate.clone(),
            })
            .await
            .map_err(status)?;
        say!(
            "     {id}: bank-baku files a death notice for {}; the holding passes to {estate}",
            a[0]
        )?;
        let t = bank_b
            .request_transfer(pb::RequestTransfer {
                kind: pb::TransferKind::Move as i32,
                series_id: id.into(),
                from_bank_id: "bank-baku".into(),
                from_investor_ref: a[1].clone(),
                to_investor_ref: a[1].clone(),
                units: "5".into(),
                ..Default::default()
            })
            .await
            .map_err(status)?;
        let transfer_id = t.transfer.unwrap_or_default().transfer_id;
        bank_a.confirm_transfer(transfer_id).await.map_err(status)?;
        say!(
            "     {id}: bank-berlin asks for 5 units of {} moving to it; bank-baku confirms",
            a[1]
        )?;
        bank_a
            .request_transfer(pb::RequestTransfer {
                kind: pb::TransferKind::Gift as i32,
                series_id: id.into(),
                from_bank_id: "bank-baku".into(),
                from_investor_ref: a[2].clone(),
                to_investor_ref: "gift-001".into(),
                units: "3".into(),
                recipient_category: pb::DiasporaCategory::ChildOfCitizenAbroad as i32,
                recipient_country: "DE".into(),
                registration: None,
            })
            .await
            .map_err(status)?;
        say!(
            "     {id}: {} gives 3 units to gift-001 (eligibility and limits re-checked)",
            a[2]
        )?;
        let r = bank_b
            .redeem_early(pb::RedeemEarly {
                series_id: id.into(),
                investor_ref: b[0].clone(),
                bank_id: String::new(),
                units: "2".into(),
                reason: pb::RedemptionReason::OnRequest as i32,
                document_hash: vec![],
            })
            .await
            .map_err(status)?;
        let e = r.redemption.unwrap_or_default();
        say!(
            "     {id}: {} redeems 2 units early at {} a unit (face + accrued {} - penalty {}): {} {} due to bank-berlin",
            b[0],
            e.price_per_unit,
            e.accrued_per_unit,
            e.penalty_per_unit,
            e.currency,
            e.amount
        )?;
        Ok(())
    }

    /// Step 11: the auditor verifies online against the registry, a bank checks a
    /// receipt offline, and once the server has stopped the store verifies from
    /// disk. Then the summary.
    async fn verify(mut self, cast: Cast, series: &[Series; 2]) -> anyhow::Result<DemoSummary> {
        step(
            11,
            "verify: the auditor streams the whole ledger, checks every signature, link, event and the signed checkpoint, and compares the replayed registry with what the server reports",
        )?;
        let online = crate::audit::online::verify_server(&cast.auditor, &[], |_, _| {}).await?;
        let verified = online.verified;
        say!(
            "     online: {} entries verified; replay equals the server's {} participants, {} series, {} subscriptions, {} holdings",
            verified.size,
            online.compared.participants,
            online.compared.series,
            online.compared.subscriptions,
            online.compared.holdings
        )?;
        self.check_a_receipt(&cast.banks[0], series[0].0).await?;
        self.summary.ledger_entries = online.checkpoint.size;
        self.summary.verified_entries = verified.size;
        let _ = self.stop.send(());
        let _ = self.server.await;
        drop(cast);
        drop(self.admin);
        self.ledger.close()?;
        // And once more offline, from the bytes on disk, as `dbond verify --data` does.
        let offline = crate::audit::verify_store(&self.store, |_, _| {})?;
        anyhow::ensure!(
            offline.size == verified.size,
            "offline verification saw {} entries, online {}",
            offline.size,
            verified.size
        );
        print_summary(&self.summary)?;
        if self.args.data.is_some() {
            say!(
                "  store kept in           {d} with the participants' keys and a receipt\n                          check it again:  dbond verify --data {d}\n                          export it:       dbond export --data {d} --out ledger.dbx && dbond verify --export ledger.dbx\n                          check a receipt: dbond verify-receipt --receipt {d}/receipt.json --ledger-key {d}/ledger.pub",
                d = self.data.display()
            )?;
        } else {
            let _ = std::fs::remove_dir_all(&self.data);
        }
        Ok(self.summary)
    }

    /// Moves the rehearsal clock forward as its admin does, through the server.
    async fn advance_clock(&self, to: DateTime<Utc>) -> anyhow::Result<()> {
        self.admin.advance_clock(to).await.map_err(status)?;
        Ok(())
    }

    /// A bank's receipt for one investor's first coupon, checked offline against
    /// the ledger key alone (and kept with a kept store).
    async fn check_a_receipt(&self, bank: &Client, series_id: &str) -> anyhow::Result<()> {
        let mine = bank.all_subscriptions(series_id).await.map_err(status)?;
        let Some(first) = mine.iter().find(|s| s.bank_id == "bank-baku") else {
            return Ok(());
        };
        let receipt = bank
            .receipt(pb::get_receipt::Target::Payment(pb::PaymentRef {
                event_id: format!("{series_id}/coupon/1"),
                investor_ref: first.investor_ref.clone(),
                bank_id: String::new(),
            }))
            .await
            .map_err(status)?;
        let file = crate::audit::receipt::ReceiptFile::from(&receipt);
        let checked =
            crate::audit::receipt::verify_receipt(&file, Some(self.ledger.ledger_public_key()))?;
        say!(
            "     receipt: {} (entry {}, proved in the checkpoint of size {})",
            checked.description,
            checked.index,
            checked.checkpoint.size
        )?;
        if self.args.data.is_some() {
            std::fs::write(self.data.join("receipt.json"), file.to_json())?;
        }
        Ok(())
    }
}

fn print_summary(summary: &DemoSummary) -> anyhow::Result<()> {
    say!()?;
    say!("Summary")?;
    for (ccy, v) in &summary.raised {
        say!("  money raised            {ccy} {v}")?;
    }
    say!(
        "  patriotic discount      {} bp below the market yield",
        summary.discount_bps
    )?;
    for (ccy, v) in &summary.savings {
        say!("  saved the issuer        {ccy} {v} (present value of the coupons not paid)")?;
    }
    for (ccy, v) in &summary.coupons_paid {
        say!("  coupons paid            {ccy} {v}")?;
    }
    for (ccy, v) in &summary.withheld {
        say!("  tax withheld            {ccy} {v} (from the coupons above)")?;
    }
    if summary.reopened_units > 0 {
        say!(
            "  reopening               {} units sold, USD {} in price and {} in accrued interest",
            summary.reopened_units,
            summary.reopening_paid.0,
            summary.reopening_paid.1
        )?;
    }
    if let Some((event, investor, amount, reference)) = &summary.unclaimed {
        say!(
            "  unclaimed payment       USD {amount} of {event} to {investor}, claimed as {reference}"
        )?;
    }
    for (ccy, v) in &summary.redeemed {
        say!("  principal redeemed      {ccy} {v}")?;
    }
    for (ccy, v) in &summary.redeemed_early {
        say!("  redeemed early          {ccy} {v}")?;
    }
    say!(
        "  investors               {} subscriptions, {} holdings",
        summary.subscriptions,
        summary.holders
    )?;
    say!(
        "  ledger                  {} entries",
        summary.ledger_entries
    )?;
    say!(
        "  verification            OK: {} entries, every signature, link and event, and the signed checkpoint (online, then offline from disk)",
        summary.verified_entries
    )
}

/// A fresh folder name under the system's temporary folder.
fn tempdir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "dbond-demo-{}",
        hex::encode(rand::random::<[u8; 6]>())
    ))
}

pub async fn run(args: &DemoArgs) -> anyhow::Result<()> {
    run_demo(args).await.map(|_| ())
}
