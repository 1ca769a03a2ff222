//! Prometheus metrics of a server: request counts and latencies per RPC and
//! status code, ledger size, group-commit flush times and sizes, accrual runs;
//! and of a mirror, its size and how far behind its source it is.
//! Kept in a `prometheus_client` registry and rendered in the Prometheus text
//! format (0.0.4).
//!
//! Invariant: one `Metrics` per server, handed to whatever records into it (the
//! store's writer as its observer, the request layer, the scheduler); nothing
//! here reads or knows the domain. Durations are observed in seconds.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// Latency bucket bounds, seconds (0.1 ms .. 10 s).
const LATENCY_BUCKETS_SECS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0,
];

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The gRPC path, e.g. `/diaspora.bonds.v1.BankService/SubmitSubscription`.
    method: String,
    /// The status code's name as tonic spells it (`Ok`, `InvalidArgument`), or
    /// `Transport` for a call that ended without one.
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS_SECS)
}

/// A server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    ledger_entries: Gauge,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    flush_duration: Histogram,
    group_commit_entries: Counter,
    group_commits: Counter,
    accrual_runs: Counter,
    accrual_events_posted: Counter,
    /// Set for a mirror (`Metrics::for_mirror`).
    mirror: Option<MirrorGauges>,
}

/// How far a mirror is behind its source.
#[derive(Debug)]
struct MirrorGauges {
    size: Gauge,
    lag_entries: Gauge,
    lag_seconds: Gauge<f64, AtomicU64>,
    /// The last time the mirror is known to have held everything its source had
    /// signed; the lag in seconds is the time since, at each scrape.
    held_all_at: Mutex<Instant>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let ledger_entries = Gauge::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let request_duration =
            Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let flush_duration = latency_histogram();
        let group_commit_entries = Counter::default();
        let group_commits = Counter::default();
        let accrual_runs = Counter::default();
        let accrual_events_posted = Counter::default();
        let mut registry = Registry::default();
        // Counters are registered without `_total`: the encoder adds it.
        registry.register(
            "dbond_ledger_entries",
            "Durable entries on the ledger",
            ledger_entries.clone(),
        );
        registry.register(
            "dbond_requests",
            "gRPC requests by method and status code",
            requests.clone(),
        );
        registry.register(
            "dbond_request_duration_seconds",
            "gRPC request latency",
            request_duration.clone(),
        );
        registry.register(
            "dbond_flush_duration_seconds",
            "Time to make a group commit durable",
            flush_duration.clone(),
        );
        registry.register(
            "dbond_group_commit_entries",
            "Entries written by group commits",
            group_commit_entries.clone(),
        );
        registry.register(
            "dbond_group_commits",
            "Group commits (one flush each)",
            group_commits.clone(),
        );
        registry.register(
            "dbond_accrual_runs",
            "Runs of the in-server accrual engine",
            accrual_runs.clone(),
        );
        registry.register(
            "dbond_accrual_events_posted",
            "Record dates, coupons and redemptions posted by the engine",
            accrual_events_posted.clone(),
        );
        Metrics {
            registry,
            ledger_entries,
            requests,
            request_duration,
            flush_duration,
            group_commit_entries,
            group_commits,
            accrual_runs,
            accrual_events_posted,
            mirror: None,
        }
    }

    /// A mirror's metrics: a server's, and `dbond_mirror_size`,
    /// `dbond_mirror_lag_entries` and `dbond_mirror_lag_seconds`.
    pub fn for_mirror() -> Metrics {
        let mut metrics = Metrics::new();
        let gauges = MirrorGauges {
            size: Gauge::default(),
            lag_entries: Gauge::default(),
            lag_seconds: Gauge::default(),
            held_all_at: Mutex::new(Instant::now()),
        };
        metrics.registry.register(
            "dbond_mirror_size",
            "Entries the mirror holds, verified and durable",
            gauges.size.clone(),
        );
        metrics.registry.register(
            "dbond_mirror_lag_entries",
            "Entries the source had signed at its last reading that the mirror does not hold yet",
            gauges.lag_entries.clone(),
        );
        metrics.registry.register(
            "dbond_mirror_lag_seconds",
            "Seconds since the mirror last held everything its source had signed",
            gauges.lag_seconds.clone(),
        );
        metrics.mirror = Some(gauges);
        metrics
    }

    /// A mirror's progress: it holds `size` entries, `lag_entries` fewer than its
    /// source's last signed size, and at `held_all_at` it held every entry its
    /// source had signed. Does nothing on a server's metrics.
    pub fn record_mirror(&self, size: u64, lag_entries: u64, held_all_at: Instant) {
        if let Some(m) = &self.mirror {
            m.size.set(i64::try_from(size).unwrap_or(i64::MAX));
            m.lag_entries
                .set(i64::try_from(lag_entries).unwrap_or(i64::MAX));
            *m.held_all_at.lock().unwrap_or_else(|e| e.into_inner()) = held_all_at;
        }
    }

    /// One finished RPC: its path, gRPC status code name and duration.
    pub fn record_request(&self, method: &str, code: &str, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.request_duration
            .get_or_create(&MethodLabels {
                method: method.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// One group commit: entries written and the time to make them durable.
    pub fn record_flush(&self, entries: u64, took: Duration) {
        self.flush_duration.observe(took.as_secs_f64());
        self.group_commit_entries.inc_by(entries);
        self.group_commits.inc();
    }

    /// One accrual run of the in-server engine and the events it posted.
    pub fn record_accrual_run(&self, posted: u64) {
        self.accrual_runs.inc();
        self.accrual_events_posted.inc_by(posted);
    }

    /// The Prometheus text exposition, with the ledger's current size.
    pub fn render(&self, ledger_entries: u64) -> String {
        self.ledger_entries
            .set(i64::try_from(ledger_entries).unwrap_or(i64::MAX));
        if let Some(m) = &self.mirror {
            let held_all_at = *m.held_all_at.lock().unwrap_or_else(|e| e.into_inner());
            m.lag_seconds.set(held_all_at.elapsed().as_secs_f64());
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

impl crate::store::WriterObserver for Metrics {
    fn group_committed(&self, entries: u64, took: Duration) {
        self.record_flush(entries, took);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms_under_their_names() {
        let m = Metrics::new();
        let method = "/diaspora.bonds.v1.BankService/SubmitSubscription";
        m.record_request(method, "Ok", Duration::from_micros(1_200));
        m.record_request(method, "InvalidArgument", Duration::from_micros(90));
        crate::store::WriterObserver::group_committed(&m, 12, Duration::from_micros(800));
        m.record_accrual_run(3);
        let text = m.render(42);
        let has = |line: &str| {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        };
        has("dbond_ledger_entries 42");
        has(&format!(
            "dbond_requests_total{{method=\"{method}\",code=\"Ok\"}} 1"
        ));
        has(&format!(
            "dbond_requests_total{{method=\"{method}\",code=\"InvalidArgument\"}} 1"
        ));
        has(&format!(
            "dbond_request_duration_seconds_bucket{{method=\"{method}\",le=\"0.0025\"}} 2"
        ));
        has(&format!(
            "dbond_request_duration_seconds_bucket{{method=\"{method}\",le=\"0.001\"}} 1"
        ));
        has(&format!(
            "dbond_request_duration_seconds_count{{method=\"{method}\"}} 2"
        ));
        has("dbond_flush_duration_seconds_count 1");
        has("dbond_group_commit_entries_total 12");
        has("dbond_group_commits_total 1");
        has("dbond_accrual_runs_total 1");
        has("dbond_accrual_events_posted_total 3");
        has("# TYPE dbond_request_duration_seconds histogram");
        has("# TYPE dbond_requests_total counter");
        assert!(
            !text.contains("dbond_mirror"),
            "a server has no mirror gauges"
        );
    }

    #[test]
    fn a_mirror_renders_its_size_and_lag() {
        let m = Metrics::for_mirror();
        let a_while_ago = Instant::now()
            .checked_sub(Duration::from_secs(30))
            .expect("the monotonic clock started 30 s ago");
        m.record_mirror(40, 2, a_while_ago);
        let text = m.render(40);
        assert!(text.lines().any(|l| l == "dbond_mirror_size 40"), "{text}");
        assert!(
            text.lines().any(|l| l == "dbond_mirror_lag_entries 2"),
            "{text}"
        );
        let lag: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("dbond_mirror_lag_seconds "))
            .expect("a lag in seconds")
            .parse()
            .expect("a number");
        assert!((30.0..3600.0).contains(&lag), "{lag}");
    }
}
