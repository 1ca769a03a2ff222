//! Prometheus metrics: request counts and latencies per RPC and status code,
//! ledger size, group-commit flush times and sizes, accrual runs. Integers only
//! (microseconds), rendered in the Prometheus text format.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency bucket bounds, microseconds (0.1 ms .. 10 s).
const LATENCY_BUCKETS_US: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    2_500_000, 10_000_000,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; LATENCY_BUCKETS_US.len()],
    sum_us: u64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, us: u64) {
        for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            if us <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum_us = self.sum_us.saturating_add(us);
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            out.push_str(&format!(
                "{name}_bucket{{{labels}{sep}le=\"{}\"}} {}\n",
                seconds(*bound),
                self.counts[i]
            ));
        }
        out.push_str(&format!(
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}\n",
            self.count
        ));
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        out.push_str(&format!("{name}_sum{braces} {}\n", seconds(self.sum_us)));
        out.push_str(&format!("{name}_count{braces} {}\n", self.count));
    }
}

/// Microseconds as decimal seconds, without floating point.
fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The process's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    flush: Mutex<Histogram>,
    group_entries: AtomicU64,
    groups: AtomicU64,
    accrual_runs: AtomicU64,
    accrual_posted: AtomicU64,
}

static METRICS: std::sync::LazyLock<Metrics> = std::sync::LazyLock::new(Metrics::default);

/// The metrics of this process.
pub fn global() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    /// One finished RPC: its path, gRPC status code name and duration.
    pub fn record_request(&self, rpc: &str, code: &str, took: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((rpc.to_string(), code.to_string()))
            .or_default() += 1;
        self.latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(rpc.to_string())
            .or_default()
            .observe(micros(took));
    }

    /// One group commit: entries written and the time to make them durable.
    pub fn record_flush(&self, entries: u64, took: Duration) {
        self.flush
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(micros(took));
        self.group_entries.fetch_add(entries, Ordering::Relaxed);
        self.groups.fetch_add(1, Ordering::Relaxed);
    }

    /// One accrual run of the in-server engine and the events it posted.
    pub fn record_accrual_run(&self, posted: u64) {
        self.accrual_runs.fetch_add(1, Ordering::Relaxed);
        self.accrual_posted.fetch_add(posted, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, ledger_entries: u64) -> String {
        let mut out = String::new();
        out.push_str("# HELP dbond_ledger_entries Durable entries on the ledger.\n# TYPE dbond_ledger_entries gauge\n");
        out.push_str(&format!("dbond_ledger_entries {ledger_entries}\n"));
        out.push_str("# HELP dbond_requests_total gRPC requests by method and status code.\n# TYPE dbond_requests_total counter\n");
        for ((rpc, code), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "dbond_requests_total{{method=\"{rpc}\",code=\"{code}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP dbond_request_duration_seconds gRPC request latency.\n# TYPE dbond_request_duration_seconds histogram\n");
        for (rpc, h) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            h.render(
                &mut out,
                "dbond_request_duration_seconds",
                &format!("method=\"{rpc}\""),
            );
        }
        out.push_str("# HELP dbond_flush_duration_seconds Time to make a group commit durable.\n# TYPE dbond_flush_duration_seconds histogram\n");
        self.flush.lock().unwrap_or_else(|e| e.into_inner()).render(
            &mut out,
            "dbond_flush_duration_seconds",
            "",
        );
        out.push_str("# HELP dbond_group_commit_entries_total Entries written by group commits.\n# TYPE dbond_group_commit_entries_total counter\n");
        out.push_str(&format!(
            "dbond_group_commit_entries_total {}\n",
            self.group_entries.load(Ordering::Relaxed)
        ));
        out.push_str("# HELP dbond_group_commits_total Group commits (one flush each).\n# TYPE dbond_group_commits_total counter\n");
        out.push_str(&format!(
            "dbond_group_commits_total {}\n",
            self.groups.load(Ordering::Relaxed)
        ));
        out.push_str("# HELP dbond_accrual_runs_total Runs of the in-server accrual engine.\n# TYPE dbond_accrual_runs_total counter\n");
        out.push_str(&format!(
            "dbond_accrual_runs_total {}\n",
            self.accrual_runs.load(Ordering::Relaxed)
        ));
        out.push_str("# HELP dbond_accrual_events_posted_total Record dates, coupons and redemptions posted by the engine.\n# TYPE dbond_accrual_events_posted_total counter\n");
        out.push_str(&format!(
            "dbond_accrual_events_posted_total {}\n",
            self.accrual_posted.load(Ordering::Relaxed)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.record_request(
            "/diaspora.bonds.v1.BankService/SubmitSubscription",
            "Ok",
            Duration::from_micros(1_200),
        );
        m.record_request(
            "/diaspora.bonds.v1.BankService/SubmitSubscription",
            "InvalidArgument",
            Duration::from_micros(90),
        );
        m.record_flush(12, Duration::from_micros(800));
        let text = m.render(42);
        assert!(text.contains("dbond_ledger_entries 42"));
        assert!(text.contains("dbond_requests_total{method=\"/diaspora.bonds.v1.BankService/SubmitSubscription\",code=\"Ok\"} 1"));
        assert!(text.contains("le=\"0.002500\"} 2"), "{text}");
        assert!(text.contains("le=\"0.001000\"} 1"), "{text}");
        assert!(text.contains("dbond_request_duration_seconds_sum{method=\"/diaspora.bonds.v1.BankService/SubmitSubscription\"} 0.001290"));
        assert!(text.contains("dbond_group_commit_entries_total 12"));
        assert_eq!(seconds(1_500_000), "1.500000");
    }
}
