//! Following a source until stopped: rounds of [`Mirror::catch_up`] back to back
//! while the source grows, a short pause when it has nothing new, and, while it
//! cannot be reached, attempts spaced by a doubling delay (capped). The lag
//! (entries and seconds behind the source) goes to the metrics at every step and
//! to the log now and then.
//!
//! Invariant: only an unreachable source is tried again; a fork, a rollback, a
//! refusal or anything that does not verify ends the following with the reason.

use super::{Mirror, MirrorError, Source};
use crate::limits;
use crate::store::Store;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often the lag is logged while all is well.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// How a mirror follows its source.
#[derive(Clone, Debug)]
pub struct FollowOptions {
    /// The source's address, for the log.
    pub source: String,
    /// The pause between rounds when the source has nothing new.
    pub idle: Duration,
}

impl FollowOptions {
    pub fn new(source: &str) -> FollowOptions {
        FollowOptions {
            source: source.to_string(),
            idle: Duration::from_millis(limits::MIRROR_IDLE_MS),
        }
    }
}

/// The delay before the next attempt at an unreachable source: doubling from
/// `MIRROR_RETRY_MS_MIN` up to `MIRROR_RETRY_SECS_MAX`.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before the next attempt, after one more failure.
    pub fn failed(&mut self) -> Duration {
        let cap = Duration::from_secs(limits::MIRROR_RETRY_SECS_MAX);
        let delay = Duration::from_millis(limits::MIRROR_RETRY_MS_MIN)
            .saturating_mul(1u32 << self.failures.min(16))
            .min(cap);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// Failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Starts again after a success; true if anything had failed.
    pub fn reset(&mut self) -> bool {
        std::mem::take(&mut self.failures) > 0
    }
}

/// Follows `source` until `shutdown` resolves (then `Ok`) or a round fails for
/// good (then its error, after the copy is stopped so that health turns
/// NOT_SERVING). `ready` receives the copy's ledger as soon as there is one, for
/// its readers.
pub async fn follow(
    mirror: &mut Mirror,
    source: &impl Source,
    options: &FollowOptions,
    mut ready: Option<tokio::sync::oneshot::Sender<Store>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MirrorError> {
    tokio::pin!(shutdown);
    let mut backoff = Backoff::default();
    let mut held_all_at = Instant::now();
    let mut logged = Instant::now();
    let mut said_ready = false;
    loop {
        if let Some(ledger) = mirror.ledger() {
            if let Some(tx) = ready.take() {
                let _ = tx.send(ledger.clone());
            }
        }
        let polled_at = Instant::now();
        let round = tokio::select! {
            round = mirror.catch_up(source, held_all_at) => round,
            () = &mut shutdown => return Ok(()),
        };
        let pause = match round {
            Ok(round) => {
                if backoff.reset() {
                    tracing::info!(source = %options.source, "the source answers again");
                }
                // The round stored everything the source had signed when it began.
                held_all_at = polled_at;
                mirror.record_behind(held_all_at);
                if !said_ready || logged.elapsed() >= LOG_EVERY {
                    tracing::info!(
                        source = %options.source,
                        size = round.size,
                        source_size = round.source_size,
                        lag_entries = round.source_size.saturating_sub(round.size),
                        lag_seconds = polled_at.elapsed().as_secs_f64(),
                        "mirror following its source"
                    );
                    said_ready = true;
                    logged = Instant::now();
                }
                if round.size >= round.source_size {
                    options.idle
                } else {
                    Duration::ZERO
                }
            }
            Err(e) if e.is_transient() => {
                let delay = backoff.failed();
                mirror.record_behind(held_all_at);
                tracing::warn!(
                    source = %options.source,
                    attempt = backoff.failures,
                    retry_in_ms = delay.as_millis() as u64,
                    behind_s = held_all_at.elapsed().as_secs(),
                    error = %e,
                    "cannot follow the source; trying again"
                );
                delay
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(source = %options.source, %reason, "the mirror stops");
                mirror.stop(reason);
                return Err(e);
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(pause) => {},
                () = &mut shutdown => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_its_cap_and_starts_again_after_a_success() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..10).map(|_| b.failed().as_millis() as u64).collect();
        let min = limits::MIRROR_RETRY_MS_MIN;
        let cap = limits::MIRROR_RETRY_SECS_MAX * 1000;
        assert_eq!(delays[0], min);
        assert_eq!(delays[1], 2 * min);
        assert_eq!(delays[2], 4 * min);
        assert!(delays.windows(2).all(|w| w[1] >= w[0]), "{delays:?}");
        assert_eq!(*delays.last().unwrap(), cap, "{delays:?}");
        assert!(b.reset());
        assert_eq!(b.failed().as_millis() as u64, min);
        assert!(b.reset());
        assert!(!b.reset(), "nothing failed since");
    }
}
