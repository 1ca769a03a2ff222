//! Benchmarks of the accrual engine over one million holdings: accrued interest
//! as of one date, and the due events of one coupon (its record date and its
//! payments with per-holding rounding and bank totals), by name and by index.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dbond::accrual::{
    Due, EventId, HoldingInput, SeriesInput, accrued, due_events, due_events_indexed,
};
use dbond::money::{Currency, RoundingRule};
use dbond::pricing::BondTerms;
use std::hint::black_box;
use std::time::Duration;

/// Holdings in every benchmark.
const HOLDINGS: usize = 1_000_000;
/// Custodian banks the holdings are spread over.
const BANKS: u64 = 100;

/// 5.25% semiannual ACT/ACT ICMA over ten years, Azerbaijan calendar, record
/// date five business days before payment.
const TERMS: &str = r#"{"face": "1000", "coupon_rate": "0.0525", "frequency": "semiannual",
    "day_count": "ACT/ACT ICMA", "issue_date": "2026-03-16", "maturity_date": "2036-03-16",
    "business_day_convention": "following", "calendar": "azerbaijan", "record_date_lag_days": 5}"#;

/// A deterministic spread of numbers, so runs compare; no randomness in the figures.
fn spread(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20
}

struct Book {
    investors: Vec<String>,
    banks: Vec<String>,
    /// (investor index, bank index, units) per holding.
    rows: Vec<(usize, usize, u64)>,
}

impl Book {
    fn new() -> Book {
        let investors = (0..HOLDINGS).map(|i| format!("inv-{i:07}")).collect();
        let banks = (0..BANKS).map(|b| format!("bank-{b:03}")).collect();
        let rows = (0..HOLDINGS as u64)
            .map(|i| {
                let h = spread(i);
                (i as usize, (h % BANKS) as usize, 1 + (h >> 8) % 1000)
            })
            .collect();
        Book {
            investors,
            banks,
            rows,
        }
    }

    fn holdings(&self) -> Vec<HoldingInput<'_>> {
        self.rows
            .iter()
            .map(|&(i, b, units)| HoldingInput {
                investor_ref: &self.investors[i],
                bank_id: &self.banks[b],
                units: units.into(),
            })
            .collect()
    }
}

fn date(s: &str) -> chrono::NaiveDate {
    dbond::calendar::dates::parse_date(s).expect("benchmark date")
}

fn engine(c: &mut Criterion) {
    let (terms, fixings) = BondTerms::from_json(TERMS).expect("benchmark terms");
    let series = SeriesInput {
        series_id: "AZ-2036-USD",
        currency: Currency::USD,
        terms: &terms,
        rounding: RoundingRule::HalfEven,
    };
    let book = Book::new();
    let holdings = book.holdings();
    let nothing_posted = |_: &EventId| false;
    // Through the first payment date: its record date and its coupon.
    let first_payment = date("2026-09-16");
    let report = due_events(&series, &holdings, &fixings, &nothing_posted, first_payment)
        .expect("benchmark events");
    assert!(matches!(
        report.due.as_slice(),
        [Due::RecordDate { .. }, Due::Coupon { .. }]
    ));

    let mut group = c.benchmark_group("accrual_1m_holdings");
    group.throughput(Throughput::Elements(HOLDINGS as u64));
    group.bench_function("accrued_as_of_one_date", |b| {
        b.iter(|| accrued(&series, black_box(&holdings), &fixings, date("2026-12-01")))
    });
    group.bench_function("due_events_one_coupon", |b| {
        b.iter(|| {
            due_events(
                &series,
                black_box(&holdings),
                &fixings,
                &nothing_posted,
                first_payment,
            )
        })
    });
    group.bench_function("due_events_indexed_one_coupon", |b| {
        b.iter(|| {
            due_events_indexed(
                &series,
                black_box(&holdings),
                &fixings,
                &nothing_posted,
                first_payment,
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Two shared cores: few samples of a long operation.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    targets = engine
}
criterion_main!(benches);
